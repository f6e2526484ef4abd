"""Wall time of ricci's symbolic derivation, and of generating NumPy source from it.

What is timed:

* ``derive``: one call of ``ricci.grad(text, wrt=...)`` -- parse, differentiate,
  simplify. Printing and compiling are not included.
* ``source``: one call of ``d.source("numpy")`` on the finished derivation, timed
  separately (it is not part of ``derive``).

Each figure is the median of several repeats, after one warm-up call; fast cases get
more repeats (the repeat count is chosen so that each case takes about a fixed budget).

Cases:

(a) the seed examples: matmul, affine + tanh + squared loss, a sigmoid neuron layer +
    squared loss, layer norm, and a 3-step RNN;
(b) an L-layer tanh MLP with a squared loss, w.r.t. every weight and bias,
    L = 1, 2, 4, ..., 64;
(c) a T-step RNN ``s_t[h] = tanh(x_t[d]*W[d,h] + s_{t-1}[g]*U[g,h] + b[h])`` w.r.t.
    U, W, b, output s_T (non-scalar, so the upstream gradient ``ds_T`` is an input),
    T = 1, 2, 4, ..., 64.

For (b) and (c) the tables give the time per layer/step and the ratio
time(N)/time(N/2): about 2 means the derivation grows linearly with program length.
The matmul derivation is checked against a 5 ms target and the 64-step RNN against 1 s.

Usage::

    python benchmarks/derive.py            # full run
    python benchmarks/derive.py --quick    # smoke run: fewer repeats, sizes up to 16
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Callable

import ricci

MATMUL_TARGET_S = 0.005
RNN64_TARGET_S = 1.0

SEEDS: dict[str, tuple[str, list[str]]] = {
    "matmul": ("Y[i,j] = X[i,k] * A[k,j]", ["X", "A"]),
    "affine+tanh+sq.loss": (
        "z[n,j] = x[n,i]*W[i,j] + b[j]\n"
        "y[n,j] = tanh(z[n,j])\n"
        "L = sum[n,j]((y[n,j] - t[n,j])^2)",
        ["W", "b"]),
    "neuron+sq.loss": (
        "y[i] = sigmoid(W[i,j]*x[j] + b[i])\n"
        "L = sum[i]((y[i] - t[i])^2)",
        ["W", "b"]),
    "layer norm": (
        "mu[n] = sum[d](x[n,d]) / size(d)\n"
        "xc[n,d] = x[n,d] - mu[n]\n"
        "var[n] = sum[d](xc[n,d]^2) / size(d)\n"
        "y[n,d] = xc[n,d] / sqrt(var[n] + 0.00001)",
        ["x"]),
}


def mlp_program(layers: int) -> tuple[str, list[str]]:
    """``layers`` tanh layers ``h_l = tanh(h_{l-1} W_l + b_l)`` (h_0 = x) + squared loss."""
    lines = []
    for l in range(1, layers + 1):
        prev = "x" if l == 1 else f"h{l - 1}"
        lines.append(f"h{l}[n,j] = tanh({prev}[n,i]*W{l}[i,j] + b{l}[j])")
    lines.append(f"L = sum[n,j]((h{layers}[n,j] - t[n,j])^2)")
    wrt = [f"{p}{l}" for l in range(1, layers + 1) for p in ("W", "b")]
    return "\n".join(lines), wrt


def rnn_program(steps: int) -> tuple[str, list[str]]:
    """A ``steps``-step RNN on vectors; the first step has no recurrent term."""
    lines = ["s1[h] = tanh(x1[d]*W[d,h] + b[h])"]
    for t in range(2, steps + 1):
        lines.append(f"s{t}[h] = tanh(x{t}[d]*W[d,h] + s{t - 1}[g]*U[g,h] + b[h])")
    # With one step U does not occur, so it cannot be differentiated against.
    wrt = ["U", "W", "b"] if steps > 1 else ["W", "b"]
    return "\n".join(lines), wrt


SEEDS["RNN, 3 steps"] = rnn_program(3)


def median_time(fn: Callable[[], object], budget: float, min_reps: int, max_reps: int) -> float:
    """Median wall time of ``fn()`` in seconds, over a repeat count fitted to ``budget``."""
    t0 = time.perf_counter()
    fn()  # warm-up, also sizes the repeat count
    first = time.perf_counter() - t0
    reps = max(min_reps, min(max_reps, int(budget / max(first, 1e-9))))
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def measure(text: str, wrt: list[str], timing: dict) -> tuple[float, float, int]:
    """(derive seconds, source seconds, statements in the derived program)."""
    derive = median_time(lambda: ricci.grad(text, wrt=wrt), **timing)
    d = ricci.grad(text, wrt=wrt)
    source = median_time(lambda: d.source("numpy"), **timing)
    return derive, source, len(d.program.statements)


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:9.3f}"


def seed_table(timing: dict) -> dict[str, float]:
    print("(a) seed examples")
    print(f"{'case':<22} {'stmts':>5} {'derive ms':>9} {'source ms':>9}")
    derive_times = {}
    for name, (text, wrt) in SEEDS.items():
        derive, source, n = measure(text, wrt, timing)
        derive_times[name] = derive
        print(f"{name:<22} {n:>5} {ms(derive)} {ms(source)}")
    print()
    return derive_times


def scaling_table(title: str, unit: str, make: Callable[[int], tuple[str, list[str]]],
                  sizes: list[int], timing: dict) -> dict[int, float]:
    print(title)
    print(f"{unit:>3} {'stmts':>5} {'derive ms':>9} {'ms/' + unit:>9} {'ratio':>6} "
          f"{'source ms':>9} {'ms/' + unit:>9}")
    derive_times: dict[int, float] = {}
    for n in sizes:
        derive, source, stmts = measure(*make(n), timing)
        derive_times[n] = derive
        half = derive_times.get(n // 2)
        ratio = f"{derive / half:6.2f}" if half else f"{'-':>6}"
        print(f"{n:>3} {stmts:>5} {ms(derive)} {ms(derive / n)} {ratio} {ms(source)} {ms(source / n)}")
    print()
    return derive_times


def verdict(what: str, seconds: float | None, target: float) -> None:
    if seconds is None:
        print(f"{what}: not measured (size not in this run)")
        return
    status = "met" if seconds <= target else "MISSED"
    print(f"{what}: {seconds * 1e3:.3f} ms vs target {target * 1e3:g} ms -> {status}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats, sizes up to 16")
    args = ap.parse_args()
    if args.quick:
        timing = dict(budget=0.05, min_reps=3, max_reps=20)
        sizes = [1, 2, 4, 8, 16]
    else:
        timing = dict(budget=1.0, min_reps=7, max_reps=500)
        sizes = [1, 2, 4, 8, 16, 32, 64]
    print(f"ricci {ricci.__version__}; median of repeats "
          f"({timing['min_reps']}..{timing['max_reps']}, ~{timing['budget']} s per case)\n")

    seeds = seed_table(timing)
    scaling_table("(b) L-layer tanh MLP + squared loss, w.r.t. all W_l, b_l", "L", mlp_program,
                  sizes, timing)
    rnn = scaling_table("(c) T-step RNN, output s_T, w.r.t. U, W, b", "T", rnn_program, sizes, timing)

    print("targets (derivation only)")
    verdict("matmul", seeds["matmul"], MATMUL_TARGET_S)
    verdict("RNN, 64 steps", rnn.get(64), RNN64_TARGET_S)


if __name__ == "__main__":
    main()
