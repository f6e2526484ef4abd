"""Long fuzzing runs: ``python -m tests.fuzz --inputs 200000 --programs 100000``.

Runs the parser fuzzers (``--inputs N``) and the differential fuzzer (``--programs N``) on
``--jobs`` worker processes (default: every core), prints progress and a summary with the
reduced reproducer of every distinct failure, and writes the summary as JSON to
``--report`` (resumable with ``--resume``: the items already done are skipped, same
``--seed``). ``--coverage`` measures which of ricci's rules and code paths the run
reached; ``--mutants`` runs the mutation check of the fast tier instead. Exit status 1
when anything failed (or a mutant survived).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__.split("\n\n")[0])
    ap.add_argument("--inputs", type=int, default=0, help="parser fuzzing: this many input texts")
    ap.add_argument("--programs", type=int, default=0, help="differential testing: this many programs")
    ap.add_argument("--seed", default="0", help="the run's seed (items are pure functions of seed and index)")
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="worker processes")
    ap.add_argument("--report", help="write the summary as JSON here (and resume from it)")
    ap.add_argument("--resume", action="store_true", help="continue the run saved in --report")
    ap.add_argument("--timeout", type=float, help="seconds before an item counts as a hang")
    ap.add_argument("--no-reduce", action="store_true", help="do not shrink failures")
    ap.add_argument("--coverage", action="store_true", help="measure the rules and code paths reached")
    ap.add_argument("--mutants", nargs="*", metavar="NAME",
                    help="run the mutation check (all mutants, or these) on the fast tier")
    ap.add_argument("--mutant-target", nargs="+", default=["tests/test_fuzz.py"],
                    help="the tests the mutation check runs (default: the fast tier)")
    ap.add_argument("--backends", nargs="+", metavar="NAME",
                    help="differential testing: rotate through these backends (default: numpy, torch, jax)")
    ap.add_argument("--quiet", action="store_true", help="summary without messages and reproducers")
    args = ap.parse_args(argv)

    from . import coverage_map, mutants
    from .runner import run_mode

    if args.mutants is not None:
        res = mutants.run_mutants(args.mutants or None, args.mutant_target)
        if args.report:
            Path(args.report).write_text(json.dumps({"mutants": res}, indent=1))
        survived = [n for n, r in res["mutants"].items() if not r["caught"]]
        print(f"{len(res['mutants']) - len(survived)} of {len(res['mutants'])} mutants caught" +
              (f"; not caught: {', '.join(survived)}" if survived else ""))
        return 1 if survived else 0
    if not args.inputs and not args.programs:
        ap.error("give --inputs N and/or --programs N (or --mutants)")
    failed = False
    cov_parts: list[dict] = []
    for mode, n in (("parse", args.inputs), ("diff", args.programs)):
        if not n:
            continue
        summary, cov = run_mode(mode, n, seed=args.seed, jobs=args.jobs, report=args.report,
                                resume=args.resume, timeout=args.timeout, reduce=not args.no_reduce,
                                coverage=args.coverage, backends=tuple(args.backends) if args.backends else None)
        cov_parts += cov
        print(summary.text(verbose=not args.quiet), flush=True)
        failed |= bool(summary.failures)
    if cov_parts:
        report = coverage_map.analyse(coverage_map.merge(cov_parts))
        print("\n== coverage\n" + coverage_map.table(report))
        if args.report:
            data = json.loads(Path(args.report).read_text()) if Path(args.report).exists() else {}
            data["coverage"] = report
            Path(args.report).write_text(json.dumps(data, indent=1))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
