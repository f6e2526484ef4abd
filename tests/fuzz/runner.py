"""Running fuzz items in worker processes, with a watchdog, reduction and a JSON summary.

An *item* is an index: ``parse`` item ``i`` is one input text (:func:`parse_input`),
``diff`` item ``i`` one generated program and case (:func:`diff_model`), both pure
functions of ``(seed, i)``, so a run is reproducible and resumable. Workers (spawned
processes, one per core) run items and send a record per item; the parent counts them,
groups failures by signature, and kills and restarts a worker whose item takes longer than
the timeout (a hang: ``faulthandler`` writes where it was stuck). A worker shrinks the
first failure of each signature it sees (:mod:`tests.fuzz.reduce`).
"""

from __future__ import annotations

import collections
import json
import multiprocessing as mp
import os
import re
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from .programs import KINDS

FAMILIES = ("ricci-grammar", "latex-grammar", "mutation", "mutation", "typed-ricci", "typed-latex")


# ---------------------------------------------------------------- items


def parse_input(seed: object, idx: int) -> tuple[str, str]:
    """(family, text) of parse item ``idx``: the edge cases first, then the families in
    rotation (grammars, mutants, generated programs in both syntaxes)."""
    from .textgen import edge_cases

    edges = edge_cases()
    if idx < len(edges):
        return "edge", edges[idx][1]
    fam = FAMILIES[idx % len(FAMILIES)]
    key = f"{seed}:{idx}"
    if fam == "ricci-grammar":
        from .textgen import ricci_text

        return fam, ricci_text(key)
    if fam == "latex-grammar":
        from .textgen import latex_text

        return fam, latex_text(key)
    if fam == "mutation":
        from .mutate import mutant

        return fam, mutant(key)
    from .programs import generate

    m = generate(key)
    tex = m.latex() if fam == "typed-latex" else None
    return fam, tex if tex is not None else m.text()


#: the backends in rotation (JAX's op-by-op dispatch costs more per program: a quarter)
BACKEND_CYCLE = ("numpy", "torch", "jax", "numpy", "torch", "numpy", "torch", "jax")


def diff_model(seed: object, idx: int, backends: tuple[str, ...] | None = None):
    """The generated program of diff item ``idx``: the kinds (a cycle of 5) and the
    backends (a cycle of 8, or of ``backends``) in rotation, so every pair comes up."""
    from .programs import generate

    cycle = backends or BACKEND_CYCLE
    return generate(f"{seed}:{idx}", kind=KINDS[idx % len(KINDS)], backend=cycle[idx % len(cycle)])


@dataclass
class Options:
    mode: str  # "parse" or "diff"
    seed: str = "0"
    timeout: float = 60.0
    reduce: bool = True
    reduce_calls: int = 300
    reduce_seconds: float = 60.0
    coverage: bool = False
    #: differentiate accepted programs only up to this many characters (None: all)
    grad_max_chars: int | None = None
    #: the backends the differential items rotate through (None: :data:`BACKEND_CYCLE`)
    backends: tuple[str, ...] | None = None


def run_parse_item(opt: Options, idx: int, known: set[str]) -> dict[str, Any]:
    from . import parsecheck
    from .reduce import reduce_text

    fam, text = parse_input(opt.seed, idx)
    grad = opt.grad_max_chars is None or len(text) <= opt.grad_max_chars
    o = parsecheck.check(text, seed=idx, grad=grad)
    rec: dict[str, Any] = {"idx": idx, "family": fam, "results": o.results, "seconds": o.seconds,
                           "chars": len(text), "findings": []}
    for f in o.findings:
        sig = f.signature()
        item = {"signature": sig, "invariant": f.invariant, "syntax": f.syntax, "message": f.message[:3000],
                "where": f.where, "input": text if len(text) <= 20000 else text[:20000] + "...",
                "seconds": f.seconds}
        if opt.reduce and sig not in known and f.invariant not in ("slow",):
            known.add(sig)

            def fails(t: str, sig: str = sig) -> bool:
                return any(g.signature() == sig for g in parsecheck.check(t, seed=idx, grad=grad).findings)

            item["reduced"] = reduce_text(text, fails, calls=opt.reduce_calls, seconds=opt.reduce_seconds)
        rec["findings"].append(item)
    return rec


def run_diff_item(opt: Options, idx: int, known: set[str]) -> dict[str, Any]:
    from . import differential
    from .reduce import node_count, reduce_model

    m = diff_model(opt.seed, idx, opt.backends)
    r = differential.run(m)
    rec: dict[str, Any] = {"idx": idx, "kind": m.kind, "backend": m.backend, "status": r.status,
                           "seconds": r.seconds, "tags": sorted(m.tags), "findings": []}
    if r.failed:
        sig = r.signature(m)
        item = {"signature": sig, "invariant": r.status, "message": r.message[:3000], "where": r.where,
                "input": m.describe(), "nodes": node_count(m)}
        if opt.reduce and sig not in known:
            known.add(sig)
            def fails(c) -> bool:
                r2 = differential.run(c, check_latex=r.status == "latex")
                return r2.failed and r2.signature(c) == sig

            small = reduce_model(m, fails, calls=opt.reduce_calls, seconds=opt.reduce_seconds)
            item["reduced"] = small.describe()
            item["reproducer"] = reproducer(small)
            item["reduced_message"] = differential.run(small, check_latex=r.status == "latex").message[:2000]
        rec["findings"].append(item)
    return rec


def reproducer(m) -> str:
    """A standalone Python snippet that shows a differential failure."""
    from .programs import CLASS_SIZES

    text = m.text().replace("\r\n", "\n")
    call = {"grad": "grad", "jacobian": "jacobian", "hessian": "hessian", "diagonal": "hessian", "hvp": "hvp"}[m.kind]
    wrt = repr(list(m.wrt)) if m.kind == "grad" else repr(m.wrt[0] if len(m.wrt) == 1 else tuple(m.wrt))
    extra = ", diagonal=True" if m.kind == "diagonal" else ""
    lines = ["import numpy as np, ricci", f"p = {text!r}",
             f"d = ricci.{call}(p, wrt={wrt}, of={m.of!r}{extra})",
             "rng = np.random.default_rng(0)"]
    args = []
    for name, how in m.inputs.items():
        shape = tuple(CLASS_SIZES[c] for c in m.tensors[name])
        expr = f"rng.standard_normal({shape})"
        if how == "spd":
            expr = f"3 * np.eye({shape[0]}) + 0.3 * {expr}"
        elif how == "logits":
            expr = f"{m.logit_center:g} + 2 * {expr}"
        args.append(f"{name!r}: {expr}")
    lines.append("x = {" + ", ".join(args) + "}")
    lines.append("x = {k: v for k, v in x.items() if k in d.inputs}")
    seed_of = m.wrt[0] if m.kind == "hvp" else m.of
    if m.kind == "hvp" or (m.kind == "grad" and m.output.lhs):
        shape = tuple(CLASS_SIZES[c] for c in m.tensors[seed_of])
        lines.append(f"x[d.seed] = rng.standard_normal({shape})")
    conv = {"numpy": "", "torch": "import torch; x = {k: torch.tensor(v) for k, v in x.items()}",
            "jax": "import jax; jax.config.update('jax_enable_x64', True); x = {k: jax.numpy.asarray(v) "
                   "for k, v in x.items()}"}[m.backend]
    if conv:
        lines.append(conv)
    lines.append(f"print(d.compile({m.backend!r})(**x))")
    return "\n".join(lines)


RUNNERS: dict[str, Callable[[Options, int, set[str]], dict[str, Any]]] = {
    "parse": run_parse_item, "diff": run_diff_item}


# ---------------------------------------------------------------- workers


def setup_process(mode: str) -> None:
    """Per-process setup: the mutant under test (``RICCI_MUTANT``), JAX in float64."""
    from . import mutants

    mutants.apply_from_env()
    if mode == "diff":
        import jax

        jax.config.update("jax_enable_x64", True)


def _worker(conn: Connection, opt: Options, tb_path: str) -> None:  # pragma: no cover - subprocess
    """A worker process: set up, then serve items (under coverage when asked)."""
    import warnings

    warnings.simplefilter("ignore")
    setup_process(opt.mode)
    cov = None
    if opt.coverage:
        from .coverage_map import start

        cov = start()
    run = RUNNERS[opt.mode]
    known: set[str] = set()
    with open(tb_path, "w") as tb:
        _serve(conn, opt, run, known, tb)
    if cov is not None:
        from .coverage_map import stop

        conn.send(("coverage", stop(cov)))
    conn.send(("bye", None))


def _serve(conn: Connection, opt: Options, run: Callable[[Options, int, set[str]], dict[str, Any]],
           known: set[str], tb: Any) -> None:  # pragma: no cover - subprocess
    """The worker's loop: run the items the parent sends until it sends None."""
    import faulthandler

    while True:
        msg = conn.recv()
        if msg is None:
            break
        what, payload = msg
        if what == "known":
            known |= payload
            continue
        for idx in payload:
            conn.send(("start", idx))
            tb.seek(0)
            tb.truncate()
            faulthandler.dump_traceback_later(max(1.0, opt.timeout - 2.0), file=tb)
            try:
                rec = run(opt, idx, known)
            except BaseException as e:  # noqa: BLE001 - a bug of the fuzzer itself: reported
                rec = {"idx": idx, "status": "fuzzer-error", "results": {}, "findings": [{
                    "signature": f"fuzzer-error|{type(e).__name__}", "invariant": "fuzzer-error",
                    "message": f"{type(e).__name__}: {e}", "where": "", "input": str(idx)}]}
            faulthandler.cancel_dump_traceback_later()
            conn.send(("done", idx, rec))


@dataclass
class _W:
    proc: Any
    conn: Connection
    tb_path: str
    pending: list[int] = field(default_factory=list)
    current: int | None = None
    started: float = 0.0


def _hang_where(tb_path: str) -> tuple[str, str]:
    try:
        text = Path(tb_path).read_text(errors="replace")
    except OSError:
        return "", ""
    frames = re.findall(r'File "([^"]+)", line (\d+) in (\S+)', text)
    for f, _line, fn in frames:  # faulthandler lists the innermost frame first
        if "/ricci/" in f:
            return f"{f.rsplit('/', 1)[-1]}:{fn}", text[-3000:]
    return (frames[0][2] if frames else ""), text[-3000:]


class Pool:
    """``jobs`` worker processes running items, with a watchdog."""

    def __init__(self, opt: Options, jobs: int = 2, chunk: int = 10) -> None:
        self.opt = opt
        self.jobs = max(1, jobs)
        self.chunk = chunk
        self.ctx = mp.get_context("spawn")
        #: where the workers' faulthandler writes the stack of a hanging item
        self.tmp = tempfile.mkdtemp(prefix="ricci-fuzz-")
        self.coverage: list[dict] = []
        self.known: set[str] = set()

    def _spawn(self, k: int) -> _W:
        a, b = self.ctx.Pipe()
        tb = os.path.join(self.tmp, f"tb{k}-{time.monotonic_ns()}.txt")
        p = self.ctx.Process(target=_worker, args=(b, self.opt, tb), daemon=True)
        p.start()
        b.close()
        w = _W(p, a, tb)
        if self.known:
            a.send(("known", set(self.known)))
        return w

    def run(self, indices: Iterable[int], on_record: Callable[[dict[str, Any]], None]) -> None:
        """Run the items, calling ``on_record`` with each record as it comes (any order)."""
        try:
            self._run(indices, on_record)
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)

    def _run(self, indices: Iterable[int], on_record: Callable[[dict[str, Any]], None]) -> None:
        queue = collections.deque(indices)
        workers = [self._spawn(k) for k in range(self.jobs)]
        live = list(workers)

        def feed(w: _W) -> None:
            batch = [queue.popleft() for _ in range(min(self.chunk, len(queue)))]
            if batch:
                w.pending = list(batch)
                w.conn.send(("items", batch))
            else:
                w.conn.send(None)

        for w in workers:
            feed(w)
        deaths = 0
        while live:
            ready = wait([w.conn for w in live], timeout=0.5)
            for w in list(live):
                if w.conn not in ready:
                    continue
                try:
                    msg = w.conn.recv()
                except (EOFError, OSError):
                    # the worker died (a segfault, the OOM killer): the item it was on is a finding
                    deaths = deaths + 1 if w.current is None else 0
                    if deaths > 3 * self.jobs:
                        raise RuntimeError("the fuzz workers die before running anything") from None
                    self._lost(w, "died", on_record)
                    live.remove(w)
                    nw = self._spawn(len(workers))
                    queue.extendleft(reversed([i for i in w.pending if i != w.current]))
                    live.append(nw)
                    feed(nw)
                    continue
                kind = msg[0]
                if kind == "start":
                    w.current, w.started = msg[1], time.monotonic()
                elif kind == "done":
                    rec = msg[2]
                    for f in rec.get("findings", ()):
                        self.known.add(f["signature"])
                    on_record(rec)
                    w.pending.remove(msg[1])
                    w.current = None
                    if not w.pending:
                        for o in live:
                            if o is not w:
                                o.conn.send(("known", set(self.known)))
                        feed(w)
                elif kind == "coverage":
                    self.coverage.append(msg[1])
                elif kind == "bye":
                    live.remove(w)
                    w.proc.join(5)
            now = time.monotonic()
            for w in list(live):
                if w.current is not None and now - w.started > self.opt.timeout:
                    w.proc.kill()
                    w.proc.join(5)
                    self._lost(w, "hang", on_record)
                    live.remove(w)
                    queue.extendleft(reversed([i for i in w.pending if i != w.current]))
                    nw = self._spawn(len(workers))
                    live.append(nw)
                    feed(nw)

    def _lost(self, w: _W, what: str, on_record: Callable[[dict[str, Any]], None]) -> None:
        idx = w.current
        if idx is None:
            return
        loc, tb = _hang_where(w.tb_path)
        if self.opt.mode == "parse":
            fam, text = parse_input(self.opt.seed, idx)
            head = {"family": fam, "results": {}, "chars": len(text)}
        else:
            m = diff_model(self.opt.seed, idx, self.opt.backends)
            text = m.describe()
            head = {"kind": m.kind, "backend": m.backend, "status": what, "tags": sorted(m.tags)}
        rec = {"idx": idx, **head, "seconds": self.opt.timeout, "findings": [{
            "signature": f"{what}|{loc}", "invariant": what, "where": loc,
            "message": (f"the item took longer than {self.opt.timeout} s" if what == "hang" else
                        "the item killed its process") + f"\n{tb}", "input": text if len(text) <= 20000 else text[:20000] + "..."}]}
        on_record(rec)


# ---------------------------------------------------------------- the summary


class Summary:
    """Counts, failures by signature, progress; saved as JSON (and resumed from it)."""

    def __init__(self, mode: str, seed: str, target: int) -> None:
        self.mode, self.seed, self.target = mode, seed, target
        self.counts: collections.Counter[str] = collections.Counter()
        self.failures: dict[str, dict[str, Any]] = {}
        self.done: set[int] = set()
        self.frontier = 0
        self.elapsed = 0.0
        self.slowest: list[tuple[float, int, int]] = []
        self._t0 = time.monotonic()

    def add(self, rec: dict[str, Any]) -> None:
        idx = rec["idx"]
        self.done.add(idx)
        while self.frontier in self.done:
            self.done.discard(self.frontier)
            self.frontier += 1
        if self.mode == "parse":
            fam = rec.get("family", "?")
            self.counts[f"family {fam}"] += 1
            for syn, res in rec.get("results", {}).items():
                self.counts[f"{syn} {res}"] += 1
            self.slowest.append((rec.get("seconds", 0.0), rec.get("chars", 0), idx))
            self.slowest = sorted(self.slowest, reverse=True)[:10]
        else:
            self.counts[f"status {rec.get('status')}"] += 1
            self.counts[f"kind {rec.get('kind')} {rec.get('status')}"] += 1
            self.counts[f"backend {rec.get('backend')} {rec.get('status')}"] += 1
            for t in rec.get("tags", ()):
                self.counts[f"tag {t}"] += 1
        for f in rec.get("findings", ()):
            self.counts[f"finding {f['invariant']}"] += 1
            sig = f["signature"]
            hit = self.failures.get(sig)
            if hit is None:
                self.failures[sig] = {**f, "count": 1, "first": idx}
            else:
                hit["count"] += 1
                if "reduced" in f and "reduced" not in hit:
                    hit.update({k: v for k, v in f.items() if k not in ("count",)})

    @property
    def processed(self) -> int:
        return self.frontier + len(self.done)

    def to_json(self) -> dict[str, Any]:
        return {"mode": self.mode, "seed": self.seed, "target": self.target, "processed": self.processed,
                "frontier": self.frontier, "done_beyond": sorted(self.done),
                "elapsed": self.elapsed + time.monotonic() - self._t0,
                "counts": dict(sorted(self.counts.items())), "failures": self.failures,
                "slowest": [{"seconds": s, "chars": c, "idx": i} for s, c, i in self.slowest]}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Summary:
        s = cls(d["mode"], d["seed"], d["target"])
        s.counts.update(d.get("counts", {}))
        s.failures = d.get("failures", {})
        s.frontier = d.get("frontier", 0)
        s.done = set(d.get("done_beyond", ()))
        s.elapsed = d.get("elapsed", 0.0)
        s.slowest = [(x["seconds"], x["chars"], x["idx"]) for x in d.get("slowest", ())]
        return s

    def remaining(self, target: int) -> list[int]:
        return [i for i in range(self.frontier, target) if i not in self.done]

    def text(self, verbose: bool = True) -> str:
        d = self.to_json()
        out = [(f"== {self.mode}: {d['processed']} of {self.target} items, seed {self.seed}, "
                f"{d['elapsed']:.0f} s")]
        for k, v in d["counts"].items():
            if not k.startswith("tag "):
                out.append(f"  {k:<40} {v}")
        tags = {k[4:]: v for k, v in d["counts"].items() if k.startswith("tag ")}
        if tags:
            out.append("  features: " + ", ".join(f"{k} {v}" for k, v in sorted(tags.items())))
        out.append(f"  failures: {len(self.failures)} distinct")
        for sig, f in sorted(self.failures.items(), key=lambda kv: -kv[1]["count"]):
            out.append(f"\n-- {sig}  ({f['count']}x, first item {f['first']})")
            if verbose:
                out.append(_indent(f.get("message", "")[:1500]))
                shown = f.get("reduced", f.get("input", ""))
                out.append("   reproducer" + (" (reduced)" if "reduced" in f else "") + ":")
                out.append(_indent(ascii(shown) if self.mode == "parse" else shown))
                if "reproducer" in f:
                    out.append(_indent(f["reproducer"]))
        return "\n".join(out)


def _indent(s: str) -> str:
    return "\n".join("     " + line for line in s.splitlines())


def run_mode(mode: str, n: int, *, seed: str = "0", jobs: int = 2, report: str | None = None,
             resume: bool = False, timeout: float | None = None, reduce: bool = True,
             progress: float = 10.0, coverage: bool = False, backends: tuple[str, ...] | None = None,
             out=sys.stderr) -> tuple[Summary, list[dict]]:
    """Run ``n`` items of ``mode``; returns the summary and the coverage data of the workers."""
    summary = Summary(mode, seed, n)
    path = Path(report) if report else None
    if resume and path and path.exists():
        saved = json.loads(path.read_text()).get(mode)
        if saved and saved.get("seed") == seed:
            summary = Summary.from_json(saved)
            summary.target = n
    opt = Options(mode, seed=seed, timeout=timeout or (60.0 if mode == "parse" else 240.0), reduce=reduce,
                  coverage=coverage, backends=backends)
    pool = Pool(opt, jobs=jobs, chunk=20 if mode == "parse" else 5)
    last = [time.monotonic()]
    rate_t0, rate_n0 = time.monotonic(), summary.processed

    def save() -> None:
        if path:
            data = json.loads(path.read_text()) if path.exists() else {}
            data[mode] = summary.to_json()
            path.write_text(json.dumps(data, indent=1))

    def on_record(rec: dict[str, Any]) -> None:
        summary.add(rec)
        now = time.monotonic()
        if now - last[0] >= progress:
            last[0] = now
            rate = (summary.processed - rate_n0) / max(1e-9, now - rate_t0)
            eta = (n - summary.processed) / rate if rate else float("inf")
            print(f"[{mode}] {summary.processed}/{n}  {rate:.1f}/s  eta {eta / 60:.0f} min  "
                  f"failures {sum(f['count'] for f in summary.failures.values())} "
                  f"({len(summary.failures)} distinct)", file=out, flush=True)
            save()

    pool.run(summary.remaining(n), on_record)
    save()
    return summary, pool.coverage
