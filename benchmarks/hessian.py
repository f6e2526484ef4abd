"""ricci's compiled Hessians against torch.func.hessian (and jax.hessian), in one run.

Problems (d = the number of entries of the variable, so every Hessian is d x d entries):

* ``quadratic``: ``L = x[i]*A[i,j]*x[j]``, x of size d, A d x d; ricci: ``H = A + A.T``;
* ``logistic``: logistic regression (examples/logistic_regression.ricci) with n = 2d
  samples of d features, w.r.t. w; ricci: ``H = X.T @ diag(p * (1 - p)) @ X``;
* ``matfact``: matrix factorisation ``sum[i,j]((U[i,r]*V[j,r] - R[i,j])^2)`` w.r.t. U of
  m x 10 (d = 10 m), V of m x 10, R of m x m; ricci: ``H[i,r,k,s] = 2 (V^T V)[r,s]
  delta[i,k]``.

What is timed, per problem and d:

* ``derive``: ``ricci.hessian(text, wrt)`` (parse, gradient, forward mode over it,
  substitution, simplification; median of 7), and ``source``: ``d.source("numpy")``;
* ``ricci/numpy``, ``ricci/torch``: one call of the compiled Hessian (forward values it
  needs, then the Hessian; input checks included);
* ``torch.func``: ``torch.func.hessian(f)(x)`` of the same function written in torch
  (forward-over-reverse, vmapped over the d basis vectors) — the peer the ratios are
  taken against;
* ``jax``: ``jax.jit(jax.hessian(f))(x)`` (compiled once before timing), when jax is
  installed.

Before timing, every result is compared with torch.func's (relative error below 1e-9 in
float64). Single-threaded: ``OMP/OPENBLAS/MKL_NUM_THREADS=1``, XLA's CPU thread pool off,
``torch.set_num_threads(1)``. Each time is the median of back-to-back calls after a
warm-up call (3 to 15 calls, about 2 s per side at most).

Usage::

    python benchmarks/hessian.py                  # d = 100, 300, 1000, 2000
    python benchmarks/hessian.py --quick          # d = 100, 300
    python benchmarks/hessian.py --sizes 1000 --problems logistic
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"
os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")

import argparse  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import ricci  # noqa: E402

torch.set_num_threads(1)

try:
    import jax  # noqa: E402

    jax.config.update("jax_enable_x64", True)
    import jax.numpy as jnp  # noqa: E402
except ImportError:  # pragma: no cover - jax is an optional extra
    jax = None

ROOT = Path(__file__).resolve().parent.parent
LOGISTIC = "\n".join(ln for ln in (ROOT / "examples" / "logistic_regression.ricci").read_text().splitlines()
                     if not ln.startswith("#"))
PROBLEMS = {
    "quadratic": ("L = x[i]*A[i,j]*x[j]", "x"),
    "logistic": (LOGISTIC, "w"),
    "matfact": ("L = sum[i,j]((U[i,r]*V[j,r] - R[i,j])^2)", "U"),
}
RANK = 10  # the inner dimension r of the factorisation


def inputs(problem: str, d: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    if problem == "quadratic":
        return {"x": rng.standard_normal(d), "A": rng.standard_normal((d, d))}
    if problem == "logistic":
        n = 2 * d
        return {"X": rng.standard_normal((n, d)) / np.sqrt(d), "w": rng.standard_normal(d),
                "y": (rng.uniform(size=n) > 0.5).astype(np.float64)}
    m = d // RANK
    return {"U": rng.standard_normal((m, RANK)), "V": rng.standard_normal((m, RANK)),
            "R": rng.standard_normal((m, m))}


def torch_loss(problem: str, args: dict[str, torch.Tensor]) -> Callable:
    """The loss as a function of the variable only, the other inputs closed over."""
    if problem == "quadratic":
        A = args["A"]
        return lambda x: x @ A @ x
    if problem == "logistic":
        X, y = args["X"], args["y"]

        def f(w):
            p = torch.sigmoid(X @ w)
            return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).sum()
        return f
    V, R = args["V"], args["R"]
    return lambda U: ((U @ V.T - R) ** 2).sum()


def jax_loss(problem: str, args: dict) -> Callable:
    if problem == "quadratic":
        A = args["A"]
        return lambda x: x @ A @ x
    if problem == "logistic":
        X, y = args["X"], args["y"]

        def f(w):
            p = jax.nn.sigmoid(X @ w)
            return -(y * jnp.log(p) + (1 - y) * jnp.log(1 - p)).sum()
        return f
    V, R = args["V"], args["R"]
    return lambda U: ((U @ V.T - R) ** 2).sum()


def median_time(fn: Callable[[], object], budget: float = 2.0, lo: int = 3, hi: int = 15) -> float:
    fn()  # warm-up
    times: list[float] = []
    start = time.perf_counter()
    while len(times) < hi and (len(times) < lo or time.perf_counter() - start < budget):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def derive_time(text: str, wrt: str) -> tuple[float, float]:
    times, src = [], []
    for _ in range(7):
        t0 = time.perf_counter()
        d = ricci.hessian(text, wrt)
        times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        d.source("numpy")
        src.append(time.perf_counter() - t0)
    return statistics.median(times), statistics.median(src)


def rel_err(got, want) -> float:
    got = np.asarray(got.detach().numpy() if hasattr(got, "detach") else got)
    want = np.asarray(want)
    return float(np.max(np.abs(got - want)) / max(1.0, float(np.max(np.abs(want)))))


def run(problem: str, d: int, use_jax: bool) -> dict[str, float]:
    text, x = PROBLEMS[problem]
    rng = np.random.default_rng(0)
    arrs = inputs(problem, d, rng)
    deriv = ricci.hessian(text, x)
    row: dict[str, float] = {}
    row["derive"], row["source"] = derive_time(text, x)

    targs = {k: torch.from_numpy(v) for k, v in arrs.items()}
    hf = torch.func.hessian(torch_loss(problem, targs))
    want = hf(targs[x]).numpy()
    row["torch.func"] = median_time(lambda: hf(targs[x]))

    fn_np = deriv.compile("numpy")
    fn_t = deriv.compile("torch")
    got_np = fn_np(**arrs)[x]
    got_t = fn_t(**targs)[x]
    for side, got in (("ricci/numpy", got_np), ("ricci/torch", got_t)):
        err = rel_err(got, want)
        if not err < 1e-9:
            raise SystemExit(f"{problem} d={d}: {side} differs from torch.func.hessian by {err:.2e}")
    del got_np, got_t
    row["ricci/numpy"] = median_time(lambda: fn_np(**arrs))
    row["ricci/torch"] = median_time(lambda: fn_t(**targs))
    if use_jax:
        jargs = {k: jnp.asarray(v) for k, v in arrs.items()}
        jf = jax.jit(jax.hessian(jax_loss(problem, jargs)))
        err = rel_err(np.asarray(jf(jargs[x])), want)
        if not err < 1e-9:
            raise SystemExit(f"{problem} d={d}: jax.hessian differs from torch.func.hessian by {err:.2e}")
        row["jax"] = median_time(lambda: jf(jargs[x]).block_until_ready())
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="d = 100, 300 only")
    ap.add_argument("--sizes", type=int, nargs="*", help="the values of d (default 100 300 1000 2000)")
    ap.add_argument("--problems", nargs="*", choices=list(PROBLEMS), default=list(PROBLEMS))
    ap.add_argument("--no-jax", action="store_true", help="leave jax out even when installed")
    a = ap.parse_args()
    sizes = a.sizes or ([100, 300] if a.quick else [100, 300, 1000, 2000])
    use_jax = jax is not None and not a.no_jax
    print(f"ricci {ricci.__version__}; torch {torch.__version__}"
          + (f"; jax {jax.__version__}" if use_jax else "; jax not installed")
          + f"; numpy {np.__version__}; python {platform.python_version()}; single-threaded, float64")
    print("times in ms (median); 'x' columns = time(torch.func.hessian) / time(side): higher is faster")
    cols = ["ricci/numpy", "ricci/torch"] + (["jax"] if use_jax else [])
    head = f"{'problem':<10} {'d':>5} {'derive':>7} {'source':>7} {'torch.func':>11}" + "".join(
        f" {c:>12} {'x':>7}" for c in cols)
    print(head)
    worst: dict[int, float] = {}
    for problem in a.problems:
        for d in sizes:
            r = run(problem, d, use_jax)
            line = (f"{problem:<10} {d:>5} {r['derive'] * 1e3:>7.1f} {r['source'] * 1e3:>7.1f}"
                    f" {r['torch.func'] * 1e3:>11.2f}")
            for c in cols:
                ratio = r["torch.func"] / r[c]
                line += f" {r[c] * 1e3:>12.3f} {ratio:>6.1f}x"
                if c.startswith("ricci"):
                    worst[d] = min(worst.get(d, float("inf")), ratio)
            print(line, flush=True)
    print()
    for d, w in worst.items():
        print(f"d = {d}: ricci's slowest side is {w:.1f}x faster than torch.func.hessian")
    if 1000 in worst:
        print(f"target at d = 1000: >= 20x on every problem -> {'met' if worst[1000] >= 20 else 'NOT met'}")


if __name__ == "__main__":
    main()
