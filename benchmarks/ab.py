"""The generated code of two ricci trees, in one process, called alternately.

A change to code generation is judged on its own code: the gallery cases of ``peers.py``
(512 x 1024; attention 4 x 8 heads x 128 x 64) are derived by the base tree (``--base
DIR``, another checkout, read in a child process) and by this tree, both functions are
compiled in this process, checked against each other, then called alternately for a few
seconds; the medians and their ratio (this / base) are printed. Alternating in one
process cancels what moves a fresh-process table on a shared machine (the heap's history,
a neighbour's load), so differences of a few percent show. One thread, pinned to one
core, the steady-state malloc of ``grad_vs_torch.py``.

Usage::

    git worktree add /tmp/base <rev>
    python benchmarks/ab.py --base /tmp/base [--dtype float32] [--backend torch] [--case softmax_ce]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CASES = ["layernorm", "softmax_ce", "mlp3", "attention", "rnn5"]
BACKENDS = ["numpy", "torch"]


def sources(tree: Path) -> dict[str, dict[str, str]]:
    """case -> backend -> the generated source, as ``tree``'s ricci writes it."""
    code = ("import json, sys\nimport grad_vs_torch as g, ricci\n"
            "out = {}\n"
            f"for name in {CASES!r}:\n"
            "    c = g.CASES_BY_NAME[name]\n"
            "    d = ricci.grad(c.text, wrt=c.wrt)\n"
            f"    out[name] = {{b: d.source(b) for b in {BACKENDS!r}}}\n"
            "print(json.dumps(out))\n")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE), str(tree / "src")]))
    p = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(p.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--base", required=True, type=Path, help="a checkout of the base tree")
    ap.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    ap.add_argument("--backend", choices=BACKENDS, default="numpy")
    ap.add_argument("--case", nargs="*", choices=CASES, default=CASES)
    ap.add_argument("--seconds", type=float, default=6.0, help="per case")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if not args.child:  # again, with the allocator and the threads set before NumPy loads
        from grad_vs_torch import TUNED
        env = dict(os.environ, **TUNED, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1")
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), str(ROOT / "src"), env.get("PYTHONPATH")]))
        cmd = [sys.executable, __file__, *sys.argv[1:], "--child"]
        cpu = sorted(os.sched_getaffinity(0))[0] if hasattr(os, "sched_getaffinity") else None
        if cpu is not None and shutil.which("taskset"):
            cmd = ["taskset", "-c", str(cpu)] + cmd
        sys.exit(subprocess.run(cmd, env=env).returncode)
    run(args)


def run(args: argparse.Namespace) -> None:
    import inspect
    import statistics

    import numpy as np
    import torch

    torch.set_num_threads(1)
    import grad_vs_torch as g
    import peers

    import ricci

    base, this = sources(args.base.resolve()), sources(ROOT)
    print(f"base {args.base}, this tree {ROOT}; {args.backend}, {args.dtype}; medians of alternate calls")
    for name in args.case:
        c = g.CASES_BY_NAME[name]
        case = g.Case(c.name, c.group, c.text, c.wrt, {"this": peers.sizes(name, False)}, c.autograd,
                      weights=c.weights, special=c.special)
        arrays = g.make_inputs(ricci.grad(case.text, wrt=case.wrt), case, "this", args.dtype)
        if args.backend == "torch":
            arrays = {k: torch.from_numpy(a) for k, a in arrays.items()}
        fns = []
        for src in (base[name][args.backend], this[name][args.backend]):
            ns: dict = {}
            exec(compile(src, f"<{name}>", "exec"), ns)
            fns.append(next(v for k, v in ns.items() if k.startswith("grad_")))
        kw = {k: arrays[k] for k in inspect.signature(fns[0]).parameters if k in arrays}
        a, b = fns[0](**kw), fns[1](**kw)
        tol = 1e-9 if args.dtype == "float64" else 1e-4
        for k in a:
            x, y = np.asarray(a[k], np.float64), np.asarray(b[k], np.float64)
            assert np.abs(x - y).max() <= tol * max(1.0, np.abs(x).max()), f"{name}: {k} differs"
        times: list[list[float]] = [[], []]
        end = time.perf_counter() + args.seconds
        while time.perf_counter() < end or len(times[0]) < 5:
            for i in (0, 1):
                t0 = time.perf_counter()
                fns[i](**kw)
                times[i].append(time.perf_counter() - t0)
        mb, mt = (statistics.median(t) * 1e3 for t in times)
        print(f"{name:12s} base {mb:8.2f} ms   this {mt:8.2f} ms   this / base {mt / mb:.2f}   "
              f"({len(times[0])} calls each)", flush=True)


if __name__ == "__main__":
    main()
