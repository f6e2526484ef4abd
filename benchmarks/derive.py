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
The matmul derivation is checked against a 5 ms target, the 32-layer MLP against 20 ms
and the 64-step RNN against 1 s.

(e) the Hessian of the 64-step RNN with a scalar loss ``L = sum[h](s64[h]^2)`` w.r.t. U
(target 1 s; not in ``--quick``).

(d) scale: inputs far larger than anyone writes, where a superlinear step would show,
each at size N and N/2 (the ratio time(N)/time(N/2) is about 2 when the derivation is
linear, 4 when quadratic):

* ``exp(exp(...(x)...))`` nested N deep, ``grad`` w.r.t. x (N = 100);
* the power tower ``x^x^...^x`` (right-associative), N high, ``grad`` (N = 100);
* a product of N factors, ``grad``: ``x*x*...*x``, ``sum[i](x[i]*x[i]*...)``,
  ``x0*x1*...`` w.r.t. x0 and ``sum[i](a0[i]*a1[i]*...)`` w.r.t. a0 (N = 10,000);
* the Hessian of an N-statement chain ``z0[i] = tanh(x[i]); z1[i] = tanh(z0[i]); ...;
  L = sum[i](z{N-1}[i])`` w.r.t. x (N = 200), with the peak memory the derivation
  allocates (tracemalloc, measured in a separate run);
* ``grad`` of the same chain, N = 2,000 statements.

Each is timed once per size, in this process, parse included, as CPU time (the wall
time is printed too; ``--quick``: a quarter of the sizes, median of 3, no verdict); the
targets are printed (met / not met), never asserted.

Usage::

    python benchmarks/derive.py            # full run
    python benchmarks/derive.py --quick    # smoke run: fewer repeats, sizes up to 16
    python benchmarks/derive.py --scale    # only (d), the scale cases
    python benchmarks/derive.py --layers   # only (b), (c) and (e), with their verdicts
"""

from __future__ import annotations

import argparse
import functools
import statistics
import time
from collections.abc import Callable

import ricci

MATMUL_TARGET_S = 0.005
MLP32_TARGET_S = 0.020
RNN64_TARGET_S = 1.0
RNN64_HESSIAN_TARGET_S = 1.0

SEEDS: dict[str, tuple[str, list[str]]] = {
    "matmul": ("Y[i,j] = X[i,k] * A[k,j]", ["X", "A"]),
    "affine+tanh+sq.loss": (
        ("z[n,j] = x[n,i]*W[i,j] + b[j]\n"
         "y[n,j] = tanh(z[n,j])\n"
         "L = sum[n,j]((y[n,j] - t[n,j])^2)"),
        ["W", "b"]),
    "neuron+sq.loss": (
        ("y[i] = sigmoid(W[i,j]*x[j] + b[i])\n"
         "L = sum[i]((y[i] - t[i])^2)"),
        ["W", "b"]),
    "layer norm": (
        ("mu[n] = sum[d](x[n,d]) / size(d)\n"
         "xc[n,d] = x[n,d] - mu[n]\n"
         "var[n] = sum[d](xc[n,d]^2) / size(d)\n"
         "y[n,d] = xc[n,d] / sqrt(var[n] + 0.00001)"),
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


def rnn_loss_program(steps: int) -> tuple[str, str]:
    """:func:`rnn_program` with a scalar loss on its last state, and U to differentiate by."""
    return rnn_program(steps)[0] + f"\nL = sum[h](s{steps}[h]^2)", "U"


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


def nested_exp(n: int) -> tuple[str, str]:
    return "L = " + "exp(" * n + "x" + ")" * n, "x"


def power_tower(n: int) -> tuple[str, str]:
    return "L = " + "^".join(["x"] * n), "x"


def product_same(n: int) -> tuple[str, str]:
    return "L = " + "*".join(["x"] * n), "x"


def product_same_indexed(n: int) -> tuple[str, str]:
    return "L = sum[i](" + "*".join(["x[i]"] * n) + ")", "x"


def product_distinct(n: int) -> tuple[str, str]:
    return "L = " + "*".join(f"x{k}" for k in range(n)), "x0"


def product_distinct_indexed(n: int) -> tuple[str, str]:
    return "L = sum[i](" + "*".join(f"a{k}[i]" for k in range(n)) + ")", "a0"


def tanh_chain(n: int) -> tuple[str, str]:
    lines = ["z0[i] = tanh(x[i])"] + [f"z{k}[i] = tanh(z{k - 1}[i])" for k in range(1, n)]
    return "\n".join(lines + [f"L = sum[i](z{n - 1}[i])"]), "x"


#: (d): name, program maker, the operation, the full size, the target at that size (s)
SCALE: list[tuple[str, Callable[[int], tuple[str, str]], str, int, float]] = [
    ("nested exp", nested_exp, "grad", 100, 1.0),
    ("power tower", power_tower, "grad", 100, 1.5),
    ("x*x*...*x", product_same, "grad", 10_000, 3.0),
    ("sum x[i]*x[i]*...", product_same_indexed, "grad", 10_000, 3.0),
    ("x0*x1*... (wrt x0)", product_distinct, "grad", 10_000, 3.0),
    ("sum a0[i]*a1[i]*...", product_distinct_indexed, "grad", 10_000, 3.0),
    ("tanh chain Hessian", tanh_chain, "hessian", 200, 2.0),
    ("tanh chain grad", tanh_chain, "grad", 2_000, 2.0),
]


def peak_memory_mb(fn: Callable[[], object]) -> float:
    """The peak of memory allocated while ``fn()`` runs (tracemalloc), in MB."""
    import tracemalloc

    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()


def scale_table(quick: bool) -> list[tuple[str, float, float]]:
    """(d): time at N and N/2 for each case; returns (case, seconds at N, target).

    The time is the CPU time of the process (``time.process_time``: the derivation is
    single-threaded, and on a shared machine the wall time also counts the waits for a
    core); the wall time at N is printed next to it."""
    print("(d) scale: derivation time (CPU s) at size N and N/2, parse included")
    print(f"{'case':<22} {'op':<8} {'N':>6} {'s at N/2':>9} {'s at N':>9} {'ratio':>6} {'wall s':>7}")
    out = []
    for name, make, op, full, target in SCALE:
        n = full // 4 if quick else full
        fn = getattr(ricci, op)
        times: dict[int, tuple[float, float]] = {}
        for size in (n // 2, n):
            text, wrt = make(size)
            times[size] = _once(functools.partial(fn, text, wrt=wrt), 3 if quick else 1)
        ratio = times[n][0] / times[n // 2][0]
        print(f"{name:<22} {op:<8} {n:>6} {times[n // 2][0]:9.3f} {times[n][0]:9.3f} {ratio:6.2f} "
              f"{times[n][1]:7.3f}")
        if not quick:  # the targets are for the full sizes
            out.append((name, times[n][0], target))
    text, wrt = tanh_chain(50 if quick else 200)
    mb = peak_memory_mb(lambda: ricci.hessian(text, wrt=wrt))
    print(f"peak memory allocated by the Hessian of the {50 if quick else 200}-statement chain: "
          f"{mb:.0f} MB")
    print()
    return out


def _once(fn: Callable[[], object], reps: int) -> tuple[float, float]:
    """(CPU seconds, wall seconds) of ``fn()``: the median of ``reps`` runs."""
    runs = []
    for _ in range(reps):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        runs.append((time.process_time() - c0, time.perf_counter() - t0))
    return sorted(runs)[len(runs) // 2]


def verdict(what: str, seconds: float | None, target: float) -> None:
    if seconds is None:
        print(f"{what}: not measured (size not in this run)")
        return
    status = "met" if seconds <= target else "not met"
    print(f"{what}: {seconds * 1e3:.3f} ms vs target {target * 1e3:g} ms -> {status}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="fewer repeats, sizes up to 16")
    ap.add_argument("--scale", action="store_true", help="only the scale cases (d)")
    ap.add_argument("--layers", action="store_true", help="only the MLP, the RNN and its Hessian: (b), (c), (e)")
    args = ap.parse_args()
    if args.scale:
        print(f"ricci {ricci.__version__}; {'median of 3 runs' if args.quick else 'one run'} per size\n")
        scale = scale_table(args.quick)
        print("targets (scale, at N)")
        for name, seconds, target in scale:
            verdict(name, seconds, target)
        return
    if args.quick:
        timing = {"budget": 0.05, "min_reps": 3, "max_reps": 20}
        sizes = [1, 2, 4, 8, 16]
    else:
        timing = {"budget": 1.0, "min_reps": 7, "max_reps": 500}
        sizes = [1, 2, 4, 8, 16, 32, 64]
    print(f"ricci {ricci.__version__}; median of repeats "
          f"({timing['min_reps']}..{timing['max_reps']}, ~{timing['budget']} s per case)\n")

    seeds = {} if args.layers else seed_table(timing)
    mlp = scaling_table("(b) L-layer tanh MLP + squared loss, w.r.t. all W_l, b_l", "L", mlp_program,
                        sizes, timing)
    rnn = scaling_table("(c) T-step RNN, output s_T, w.r.t. U, W, b", "T", rnn_program, sizes, timing)
    hessian = None
    if not args.quick:
        text, wrt = rnn_loss_program(64)
        hessian = median_time(lambda: ricci.hessian(text, wrt=wrt), budget=3.0, min_reps=3, max_reps=7)
        print(f"(e) Hessian of the 64-step RNN + loss, w.r.t. U: {ms(hessian)} ms\n")
    scale = [] if args.layers else scale_table(args.quick)

    print("targets (derivation only)")
    if not args.layers:
        verdict("matmul", seeds["matmul"], MATMUL_TARGET_S)
    verdict("MLP, 32 layers", mlp.get(32), MLP32_TARGET_S)
    verdict("RNN, 64 steps", rnn.get(64), RNN64_TARGET_S)
    verdict("RNN Hessian, 64 steps, w.r.t. U", hessian, RNN64_HESSIAN_TARGET_S)
    for name, seconds, target in scale:
        verdict(name, seconds, target)


if __name__ == "__main__":
    main()
