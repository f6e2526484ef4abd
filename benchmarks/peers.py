"""ricci's compiled gradients against the compilers (torch eager, torch.compile, jax.jit(grad)).

Sides, each one forward+backward on the same inputs (ms per call):

* ``torch eager``: the model written op by op in PyTorch (the models of
  ``grad_vs_torch.py``), forward on leaf tensors with ``requires_grad`` and ``.backward()``;
* ``torch.compile``: ``torch.compile`` (inductor) of the same forward+backward step; the
  backward is compiled by AOTAutograd. If compiling fails here, the table shows why;
* ``jax.jit(grad)``: ``jax.jit(jax.grad(loss))`` of the same model written in ``jax.numpy``
  (an upstream gradient ``dy`` is folded in as ``loss = sum(y * dy)``);
* ``ricci numpy`` / ``ricci torch``: ``ricci.grad(prog, wrt).compile("numpy" / "torch")``;
* ``ricci numba``: ``ricci.grad(prog, wrt).compile("numba")``, the NumPy code with its
  elementwise runs fused into numba loop kernels; numba compiles them at the first call,
  which the worker makes before measuring (compilation is neither timed nor in ``MB``);
* ``jit(ricci jax)``: ``jax.jit(ricci.grad(prog, wrt).compile("jax"))``;
* ``ricci torch.compile``: ``ricci.grad(prog, wrt).compile("torch", jit=True)``, ricci's
  torch code compiled by ``torch.compile`` (inductor, one graph; the input checks stay
  eager around it); its first call compiles, as for ``torch.compile``.

Every side runs in a fresh process (this script with ``--worker``), one thread:
``OMP/OPENBLAS/MKL_NUM_THREADS=1`` in the child's environment before NumPy loads,
``torch.set_num_threads(1)``, ``XLA_FLAGS=--xla_cpu_multi_thread_eigen=false
intra_op_parallelism_threads=1``, pinned to one core (``taskset`` / ``sched_setaffinity``),
and with the steady-state malloc settings of ``grad_vs_torch.py`` (``TUNED``).

In the worker: the inputs are built, the side is set up (the JAX sides are compiled ahead
of time with ``.lower(...).compile()``) and called once (``torch.compile`` and
ricci's compiled torch code compile there, numba compiles the kernels, every side makes
what it keeps between calls), the heap's free memory is given back (``malloc_trim``) and
the peak RSS reset (``/proc/self/clear_refs``), the process's resident set size is read,
the side is called again, and the peak RSS growth (``VmHWM`` minus that baseline) is the
``MB`` figure: the memory one call needs on top of its inputs and of what the side keeps
(compilers' working memory is not in it). Then the result is checked against torch eager autograd
(largest difference relative to the largest gradient entry: float64 1e-9, float32 2e-3); a
mismatch is printed loudly and the side is not timed. Then two warm-up calls and
back-to-back calls for ~1 s (``--quick``: ~0.3 s); the median is reported. With
``--rounds K`` every side runs in K fresh processes, interleaved (each round starts at the
next side, so a slow minute of the machine hits every side); the table shows the median
over the rounds and the range of the best-ricci / best-peer ratio across rounds (on the
matmul-bound cases the process-to-process spread is ~10-15 %).

Cases: the gallery programs of examples/ at batch 512 x width 1024 (``--quick``: 64 x 256):
layer norm, softmax cross-entropy (width = classes, one-hot targets), a 3-layer MLP,
multi-head attention (4 sequences x 8 heads x 128 tokens x 64; ``--quick``: 1 x 8 x 32 x 32)
and a 5-step RNN. Not run by default, ``--case mean_matmul weighted_matmul``: the mean and
a vector-weighted sum of a matrix product (512 x 1024 times 1024 x 1024), where ricci's
gradient needs no matrix product (a number or a vector adjoint is never spread into an array).

Usage::

    python benchmarks/peers.py [--dtype float32] [--quick] [--case layernorm rnn5] [--side ...]
                               [--rounds 5]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
TOLERANCE = {"float64": 1e-9, "float32": 2e-3}
SIDES = ["torch eager", "torch.compile", "jax.jit(grad)", "ricci numpy", "ricci numba", "ricci torch",
         "jit(ricci jax)", "ricci torch.compile"]
PEERS = SIDES[:3]
RICCI = SIDES[3:]
#: (ricci side, peer): ricci's code under a compiler against the same compiler on the model
PAIRS = [("jit(ricci jax)", "jax.jit(grad)"), ("ricci torch.compile", "torch.compile")]
CASES = ["layernorm", "softmax_ce", "mlp3", "attention", "rnn5"]
#: losses that reduce a matrix product with a number or a vector (not gallery cases; ``--case``
#: runs them): autograd's backward spreads the seed into an array and multiplies it by the
#: other factor (a whole matrix product); ricci's gradient is a row sum or ``A @ b``
REDUCTIONS = {
    "mean_matmul": ("Z[n,j] = X[n,k] * A[k,j]\nL = sum[n,j](Z[n,j]) / size(n)", ["X", "A"]),
    "weighted_matmul": ("Z[n,j] = X[n,k] * A[k,j]\nL = sum[n,j](Z[n,j] * b[j])", ["X", "A"]),
}


def reduction_case(name: str):
    """A :class:`grad_vs_torch.Case` of :data:`REDUCTIONS` (batch 512, width 1024)."""

    import grad_vs_torch as g

    text, wrt = REDUCTIONS[name]

    def autograd(v):
        z = v["X"] @ v["A"]
        loss = z.sum() / z.shape[0] if name == "mean_matmul" else (z * v["b"]).sum()
        loss.backward()

    sizes = {"512x1024": {"n": 512, "k": 1024, "j": 1024}, "64x256": {"n": 64, "k": 256, "j": 256}}
    return g.Case(name, "reductions", text, wrt, sizes, autograd, weights={"A"})


def sizes(case: str, quick: bool) -> dict[str, int]:
    if case == "attention":
        b, t, d = (1, 32, 32) if quick else (4, 128, 64)
        return {"b": b, "h": 8, "i": t, "j": t, "d": d, "e": d}
    from grad_vs_torch import gallery_sizes
    return gallery_sizes(case)["64x256" if quick else "512x1024"]


# ---------------------------------------------------------------- the JAX models


def jax_models():
    import jax
    import jax.numpy as jnp

    def layernorm(v):
        x = v["x"]
        mu = x.sum(1, keepdims=True) / x.shape[1]
        xc = x - mu
        var = (xc ** 2).sum(1, keepdims=True) / x.shape[1]
        y = xc / jnp.sqrt(var + v["eps"]) * v["g"] + v["b"]
        return (y * v["dy"]).sum()

    def softmax_ce(v):
        e = jnp.exp(v["z"])
        p = e / e.sum(1, keepdims=True)
        return -(v["t"] * jnp.log(p)).sum()

    def attention(v):
        Q, K, V = v["Q"], v["K"], v["V"]
        S = Q @ jnp.swapaxes(K, -1, -2) / Q.shape[-1] ** 0.5
        e = jnp.exp(S)
        A = e / e.sum(-1, keepdims=True)
        return ((A @ V) * v["dO"]).sum()

    def mlp3(v):
        h1 = jnp.tanh(v["x"] @ v["W1"] + v["b1"])
        h2 = jnp.maximum(h1 @ v["W2"] + v["b2"], 0)
        y = jax.nn.sigmoid(h2 @ v["W3"] + v["b3"])
        return ((y - v["t"]) ** 2).sum() / y.shape[0]

    def rnn5(v):
        from grad_vs_torch import rnn5_loss
        return rnn5_loss(v, jnp.tanh)

    def mean_matmul(v):
        z = v["X"] @ v["A"]
        return z.sum() / z.shape[0]

    def weighted_matmul(v):
        return ((v["X"] @ v["A"]) * v["b"]).sum()

    return {"layernorm": layernorm, "softmax_ce": softmax_ce, "attention": attention,
            "mlp3": mlp3, "rnn5": rnn5, "mean_matmul": mean_matmul, "weighted_matmul": weighted_matmul}


# ---------------------------------------------------------------- the worker


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2 ** 20


def maxrss_mb() -> float:
    """The peak resident set size (VmHWM: ru_maxrss, but reset by :func:`reset_peak`)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    import resource
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # pragma: no cover - not Linux


def reset_peak() -> None:
    """Give the heap's free memory back to the system (what compiling freed would
    otherwise serve the next allocations without the RSS growing) and make the peak RSS
    the current RSS (Linux: ``malloc_trim``, then ``5`` to ``/proc/self/clear_refs``)."""
    import ctypes
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def worker(case_name: str, side: str, dtype: str, quick: bool) -> dict:
    import numpy as np
    import torch

    torch.set_num_threads(1)
    import grad_vs_torch as g

    import ricci

    if case_name in REDUCTIONS:
        base = reduction_case(case_name)
        case = g.Case(base.name, base.group, base.text, base.wrt, {"this": base.sizes["64x256" if quick else "512x1024"]},
                      base.autograd, weights=base.weights)
    else:
        base = g.CASES_BY_NAME[case_name]
        case = g.Case(base.name, base.group, base.text, base.wrt, {"this": sizes(case_name, quick)},
                      base.autograd, weights=base.weights, special=base.special)
    d = ricci.grad(case.text, wrt=case.wrt)
    arrays = g.make_inputs(d, case, "this", dtype)
    wrt = case.wrt

    def as_numpy(grads: dict) -> dict:
        out = {}
        for k in wrt:
            a = grads[k]
            out[k] = a.detach().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
        return out

    def release() -> None:  # a call's results are the caller's: dropped when it drops them
        pass

    if side in ("torch eager", "torch.compile"):
        tensors = {k: torch.from_numpy(a) for k, a in arrays.items()}
        leaves = {k: tensors[k].requires_grad_() for k in wrt}
        step = case.autograd if side == "torch eager" else torch.compile(case.autograd)

        def release():  # the gradients of a call are held by the leaves, not the caller
            for p in leaves.values():
                p.grad = None

        def call():
            release()
            step(tensors)
            return {k: p.grad for k, p in leaves.items()}
    elif side == "ricci numpy":
        f_np = d.compile("numpy")

        def call():
            return f_np(**arrays)
    elif side == "ricci numba":
        f_nb = d.compile("numba")
        def call():  # the worker's first call compiles the kernels (neither timed nor in MB)
            return f_nb(**arrays)
    elif side in ("ricci torch", "ricci torch.compile"):
        f_t = d.compile("torch", jit=side == "ricci torch.compile")
        tensors = {k: torch.from_numpy(a) for k, a in arrays.items()}

        def call():
            return f_t(**tensors)
    else:
        import jax
        import jax.numpy as jnp

        jv = {k: jnp.asarray(a) for k, a in arrays.items()}
        if side == "jax.jit(grad)":
            model = jax_models()[case_name]

            def loss(w, rest):
                return model({**w, **rest})

            w = {k: jv[k] for k in wrt}
            rest = {k: a for k, a in jv.items() if k not in wrt}
            compiled = jax.jit(jax.grad(loss)).lower(w, rest).compile()

            def call():
                return jax.block_until_ready(compiled(w, rest))
        else:
            compiled = jax.jit(d.compile("jax")).lower(**jv).compile()

            def call():
                return jax.block_until_ready(compiled(**jv))

    out: dict = {}
    try:  # the first call: torch.compile compiles here, every side makes what it keeps
        call()
        release()
        reset_peak()  # what setting up allocated and freed is not what a call needs
        before = rss_mb()
        got = as_numpy(call())
    except Exception as e:  # noqa: BLE001 - a compiler failing here is a result
        return {"error": f"{type(e).__name__}: {str(e).strip().splitlines()[0][:200]}"}
    out["mb"] = maxrss_mb() - before

    # the reference: torch eager autograd on the same arrays
    ref_t = {k: torch.from_numpy(a.copy()) for k, a in arrays.items()}
    for k in wrt:
        ref_t[k].requires_grad_()
    case.autograd(ref_t)
    worst = 0.0
    for k in wrt:
        ref = ref_t[k].grad.numpy()
        a = got[k]
        if a.shape != ref.shape or a.dtype != ref.dtype:
            return {"error": f"MISMATCH: d{k} is {a.dtype}{a.shape}, torch gives {ref.dtype}{ref.shape}"}
        worst = max(worst, float(np.abs(a - ref).max() / max(np.abs(ref).max(), 1e-30)))
    out["err"] = worst
    if not worst <= TOLERANCE[dtype]:
        out["error"] = f"MISMATCH: relative {worst:.1e} > {TOLERANCE[dtype]:.0e}"
        return out
    budget, max_reps = (0.3, 30) if quick else (1.0, 500)
    out["ms"] = 1e3 * g.time_calls(call, budget=budget, min_reps=5, max_reps=max_reps)
    return out


# ---------------------------------------------------------------- the parent


def run_fresh(case: str, side: str, dtype: str, quick: bool) -> dict:
    from grad_vs_torch import TUNED

    env = dict(os.environ)
    env.update(TUNED)
    env.update({"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
                "JAX_PLATFORMS": "cpu"})
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(HERE), str(ROOT / "src"), env.get("PYTHONPATH")]))
    cmd = [sys.executable, str(Path(__file__).resolve()), "--worker", case, side, "--dtype", dtype]
    if quick:
        cmd.append("--quick")
    cpu = sorted(os.sched_getaffinity(0))[0] if hasattr(os, "sched_getaffinity") else None
    if cpu is not None and shutil.which("taskset"):
        cmd = ["taskset", "-c", str(cpu)] + cmd
    p = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=ROOT)
    lines = [ln for ln in p.stdout.splitlines() if ln.startswith("RESULT ")]
    if p.returncode != 0 or not lines:
        tail = (p.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"error": f"worker failed ({p.returncode}): {tail[:200]}"}
    return json.loads(lines[-1][len("RESULT "):])


def _median_run(runs: list[dict]) -> dict:
    """One side's result over its rounds: the median ms and MB of the rounds that ran (an
    error when one failed: a failure is never averaged away)."""
    bad = [r for r in runs if "ms" not in r]
    if bad:
        return bad[0]
    mid = sorted(runs, key=lambda r: r["ms"])[(len(runs) - 1) // 2]
    mbs = sorted(r["mb"] for r in runs if "mb" in r)
    return {**mid, **({"mb": mbs[(len(mbs) - 1) // 2]} if mbs else {})}


def versions() -> str:
    import importlib.metadata as md
    out = [f"python {platform.python_version()}"]
    for pkg in ("numpy", "torch", "jax", "jaxlib", "ricci"):
        try:
            out.append(f"{pkg} {md.version(pkg)}")
        except md.PackageNotFoundError:
            out.append(f"{pkg} ?")
    return ", ".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dtype", choices=sorted(TOLERANCE), default="float64")
    ap.add_argument("--quick", action="store_true", help="64 x 256, shorter timing")
    ap.add_argument("--case", nargs="*", choices=CASES + list(REDUCTIONS),
                    help="only these cases (" + ", ".join(REDUCTIONS) + ": not in the default set)")
    ap.add_argument("--side", nargs="*", choices=SIDES, help="only these sides")
    ap.add_argument("--rounds", type=int, default=1,
                    help="fresh processes per side, interleaved (each round starts at another side); "
                         "the table shows the median over rounds and the range of the ratio")
    ap.add_argument("--worker", nargs=2, metavar=("CASE", "SIDE"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        if hasattr(os, "sched_setaffinity"):
            os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
        if args.dtype == "float64":
            import jax
            jax.config.update("jax_enable_x64", True)
        res = worker(args.worker[0], args.worker[1], args.dtype, args.quick)
        print("RESULT " + json.dumps(res), flush=True)
        return

    cases = args.case or CASES
    sides = args.side or SIDES
    print("$ " + " ".join([Path(sys.executable).name, *sys.argv]))
    print(f"{versions()}; {args.dtype}; {'64 x 256 (quick)' if args.quick else '512 x 1024'}; one thread, "
          "one core, each side in a fresh process")
    print("ms = median ms per forward+backward; MB = the process's peak RSS growth over a call "
          "after the first (compiling) one; ratio = best ricci side / best peer (below 1: ricci is faster), "
          "then each compiled ricci side / the same compiler on the model\n")
    short = {"torch eager": "eager", "torch.compile": "compile", "jax.jit(grad)": "jax.grad",
             "ricci numpy": "r.numpy", "ricci numba": "r.numba", "ricci torch": "r.torch", "jit(ricci jax)": "r.jax",
             "ricci torch.compile": "r.compile"}
    head = f"{'case':<11}" + "".join(f"{short[s] + ' ms':>13}" for s in sides) + \
        "".join(f"{short[s] + ' MB':>13}" for s in sides) + f"{'ratio':>7}  best ricci / best peer"
    print(head)
    failures = []
    t_start = time.perf_counter()
    for case in cases:
        runs: dict[str, list[dict]] = {s: [] for s in sides}
        for r in range(max(1, args.rounds)):  # interleaved: a slow minute hits every side
            for s in sides[r % len(sides):] + sides[:r % len(sides)]:
                runs[s].append(run_fresh(case, s, args.dtype, args.quick))
        res = {s: _median_run(runs[s]) for s in sides}
        row = f"{case:<11}"
        for s in sides:
            r = res[s]
            row += f"{r['ms']:13.2f}" if "ms" in r else f"{'FAILED' if 'error' in r else '-':>13}"
            if "error" in r:
                failures.append(f"{case} / {s}: {r['error']}")
                if r["error"].startswith("MISMATCH"):
                    print(f"!!! {case} / {s}: gradients differ from torch eager: {r['error']} — not timed",
                          flush=True)
        for s in sides:
            r = res[s]
            row += f"{r['mb']:13.1f}" if "mb" in r else f"{'-':>13}"
        peer = {s: res[s]["ms"] for s in sides if s in PEERS and "ms" in res[s]}
        mine = {s: res[s]["ms"] for s in sides if s in RICCI and "ms" in res[s]}
        if peer and mine:
            bp, bm = min(peer, key=peer.get), min(mine, key=mine.get)
            row += f"{mine[bm] / peer[bp]:7.2f}  {short[bm]} / {short[bp]}"
            if args.rounds > 1:  # the ratio in each round: its spread says what is significant
                per = [min(runs[s][k]["ms"] for s in mine) / min(runs[s][k]["ms"] for s in peer)
                       for k in range(args.rounds)
                       if all("ms" in runs[s][k] for s in list(mine) + list(peer))]
                if per:
                    row += f" (rounds {min(per):.2f}-{max(per):.2f})"
        for m, p in PAIRS:  # each ricci side against the compiler it runs under
            if "ms" in res.get(m, {}) and "ms" in res.get(p, {}):
                row += f"; {short[m]} / {short[p]} {res[m]['ms'] / res[p]['ms']:.2f}"
        print(row, flush=True)
    if failures:
        print("\nnot timed:")
        for f in failures:
            print("  " + f)
    print(f"\n(total {time.perf_counter() - t_start:.0f} s)")


if __name__ == "__main__":
    main()
