"""ricci's compiled NumPy gradient against PyTorch autograd, on the same inputs.

What is timed, per case and size n:

* ricci: one call of ``ricci.grad(...).compile("numpy")``, which computes the forward
  values the gradients need and then the gradients (input checks included);
* torch: the forward pass on leaf tensors with ``requires_grad`` and ``.backward()``
  (the ``.grad`` fields are reset to ``None`` first, so nothing accumulates).

Both get the same arrays (torch tensors share the NumPy memory). Before any timing each
case's ricci gradients are checked against torch's: the largest difference, relative to
the largest gradient entry, must be below 1e-9 (float64) or 1e-3 (float32).

Cases (every dimension has size n):

* matmul: ``Y = X @ A`` with an upstream gradient dY, w.r.t. X and A;
* mlp3: three tanh layers with batch n and width n + squared loss, w.r.t. all W_l, b_l;
* rnn16: a batched 16-step RNN ``s_t = tanh(x_t W + s_{t-1} U + bias)`` (batch n,
  hidden and input size n), output s_16 with an upstream gradient, w.r.t. U, W, bias.

Single-threaded on purpose: ``OMP/OPENBLAS/MKL_NUM_THREADS=1`` are set before NumPy is
imported and ``torch.set_num_threads(1)`` is called.

How it is timed: back-to-back calls, as in a training loop, after two warm-up calls;
the median is reported with the number of repeats and the minor page faults per call.
Each side of each case runs in a fresh interpreter, because the result depends on the
state of the process heap: glibc malloc returns freed memory at the top of its heap to
the kernel (and maps large blocks afresh) until earlier large frees have raised its
thresholds, so a function that frees many arrays at once can pay page faults on every
call in a fresh process and none after other work. ``--same-process`` times both sides
in this process instead, one after the other, after the earlier cases.

Usage::

    python benchmarks/grad_vs_torch.py                    # n = 256, 1024, float64
    python benchmarks/grad_vs_torch.py --dtype float32
    python benchmarks/grad_vs_torch.py --quick            # n = 64, 128, fewer repeats
    python benchmarks/grad_vs_torch.py --same-process     # no fresh interpreters
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import multiprocessing  # noqa: E402
import platform  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402

import ricci  # noqa: E402

torch.set_num_threads(1)

RNN_STEPS = 16
MLP_LAYERS = 3
TOLERANCE = {"float64": 1e-9, "float32": 1e-3}


@dataclass
class Case:
    name: str
    text: str
    wrt: list[str]
    #: inputs drawn with standard deviation 1/sqrt(n) (weights), the rest with 1
    weights: set[str]
    #: forward pass and .backward() on a dict of torch tensors named as ricci's inputs
    torch_step: Callable[[dict[str, torch.Tensor]], None]


def torch_matmul(v: dict[str, torch.Tensor]) -> None:
    (v["X"] @ v["A"]).backward(v["dY"])


def torch_mlp(v: dict[str, torch.Tensor]) -> None:
    h = v["x"]
    for l in range(1, MLP_LAYERS + 1):
        h = torch.tanh(h @ v[f"W{l}"] + v[f"b{l}"])
    ((h - v["t"]) ** 2).sum().backward()


def torch_rnn(v: dict[str, torch.Tensor]) -> None:
    s = torch.tanh(v["x1"] @ v["W"] + v["bias"])
    for t in range(2, RNN_STEPS + 1):
        s = torch.tanh(v[f"x{t}"] @ v["W"] + s @ v["U"] + v["bias"])
    s.backward(v[f"ds{RNN_STEPS}"])


def mlp_text() -> str:
    lines = [f"h{l}[n,j] = tanh({'x' if l == 1 else f'h{l - 1}'}[n,i]*W{l}[i,j] + b{l}[j])"
             for l in range(1, MLP_LAYERS + 1)]
    lines.append(f"L = sum[n,j]((h{MLP_LAYERS}[n,j] - t[n,j])^2)")
    return "\n".join(lines)


def rnn_text() -> str:
    lines = ["s1[b,h] = tanh(x1[b,d]*W[d,h] + bias[h])"]
    lines += [f"s{t}[b,h] = tanh(x{t}[b,d]*W[d,h] + s{t - 1}[b,g]*U[g,h] + bias[h])"
              for t in range(2, RNN_STEPS + 1)]
    return "\n".join(lines)


CASES = [
    Case("matmul", "Y[i,j] = X[i,k] * A[k,j]", ["X", "A"], set(), torch_matmul),
    Case(f"mlp{MLP_LAYERS}", mlp_text(),
         [f"{p}{l}" for l in range(1, MLP_LAYERS + 1) for p in ("W", "b")],
         {f"W{l}" for l in range(1, MLP_LAYERS + 1)}, torch_mlp),
    Case(f"rnn{RNN_STEPS}", rnn_text(), ["U", "W", "bias"], {"U", "W"}, torch_rnn),
]
CASES_BY_NAME = {c.name: c for c in CASES}


def make_inputs(d: ricci.Derivation, case: Case, n: int, dtype: str) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    out = {}
    for name in d.inputs:
        shape = (n,) * len(d.program.dims[name])
        scale = 1 / np.sqrt(n) if name in case.weights else 1.0
        out[name] = (scale * rng.standard_normal(shape)).astype(dtype)
    return out


def torch_runner(case: Case, arrays: dict[str, np.ndarray]) -> tuple[Callable[[], None], dict]:
    """A no-argument forward+backward call, and the leaf tensors it leaves gradients in."""
    tensors = {k: torch.from_numpy(a) for k, a in arrays.items()}
    leaves = {k: tensors[k].requires_grad_() for k in case.wrt}

    def step() -> None:
        for p in leaves.values():
            p.grad = None
        case.torch_step(tensors)

    return step, leaves


def check(case: Case, n: int, dtype: str, ours: dict[str, np.ndarray], leaves: dict) -> float:
    """Largest |ricci - torch| relative to the largest |torch| entry, over all gradients."""
    worst = 0.0
    for name in case.wrt:
        ref = leaves[name].grad.numpy()
        got = ours[name]
        if got.shape != ref.shape or got.dtype != ref.dtype:
            raise SystemExit(f"{case.name} n={n}: d{name} is {got.dtype}{got.shape}, "
                             f"torch gives {ref.dtype}{ref.shape}")
        worst = max(worst, float(np.abs(got - ref).max() / np.abs(ref).max()))
    if not worst <= TOLERANCE[dtype]:
        raise SystemExit(f"{case.name} n={n}: ricci and torch gradients differ "
                         f"(relative error {worst:.2e} > {TOLERANCE[dtype]:g}); not timing")
    return worst


def time_calls(call: Callable[[], object], budget: float, min_reps: int,
               max_reps: int) -> tuple[float, float, int]:
    """(median seconds, minor page faults per call, repeats) of back-to-back ``call()``s,
    after two warm-up calls; the repeat count is fitted to ``budget`` seconds."""
    for _ in range(2):
        t0 = time.perf_counter()
        call()
        first = time.perf_counter() - t0
    reps = max(min_reps, min(max_reps, int(budget / first)))
    faults0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - faults0
    return statistics.median(times), faults / reps, reps


def setup(case: Case, n: int, dtype: str) -> tuple[Callable[[], object], Callable[[], None], dict]:
    """The ricci call and the torch call on the same inputs, and torch's leaf tensors."""
    d = ricci.grad(case.text, wrt=case.wrt)
    f = d.compile("numpy")
    arrays = make_inputs(d, case, n, dtype)
    torch_step, leaves = torch_runner(case, arrays)
    return (lambda: f(**arrays)), torch_step, leaves


def time_side(case_name: str, n: int, dtype: str, side: str, timing: dict) -> tuple[float, float, int]:
    """:func:`time_calls` for one side ("ricci" or "torch") of one case."""
    ricci_call, torch_step, _ = setup(CASES_BY_NAME[case_name], n, dtype)
    return time_calls(ricci_call if side == "ricci" else torch_step, **timing)


def time_side_fresh(*args: object) -> tuple[float, float, int]:
    """:func:`time_side` in a new interpreter, so no earlier case has shaped its heap."""
    with multiprocessing.get_context("spawn").Pool(1) as pool:
        return pool.apply(time_side, args)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dtype", choices=sorted(TOLERANCE), default="float64")
    ap.add_argument("--quick", action="store_true", help="n = 64, 128 and fewer repeats")
    ap.add_argument("--same-process", action="store_true",
                    help="time both sides in this process, after the earlier cases "
                         "(hides the heap effect described at the top of this file)")
    args = ap.parse_args()
    if args.quick:
        sizes, timing = [64, 128], dict(budget=0.5, min_reps=3, max_reps=50)
    else:
        sizes, timing = [256, 1024], dict(budget=5.0, min_reps=5, max_reps=200)
    timer = time_side if args.same_process else time_side_fresh

    print(f"python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}, "
          f"ricci {ricci.__version__}; dtype {args.dtype}; torch threads {torch.get_num_threads()}; "
          f"timed in {'this process' if args.same_process else 'a fresh process per case and side'}")
    try:
        from threadpoolctl import threadpool_info
        print("BLAS thread pools:", [(p["internal_api"], p["num_threads"]) for p in threadpool_info()])
    except ImportError:
        print("threadpoolctl not installed: relying on *_NUM_THREADS=1 set before importing numpy")
    print("reps and faults/call (minor page faults per call) are given as ricci/torch\n")
    print(f"{'case':<8} {'n':>5} {'ricci ms':>10} {'torch ms':>10} {'ricci/torch':>11} "
          f"{'reps':>9} {'faults/call':>15} {'rel.err':>8}")
    for case in CASES:
        for n in sizes:
            ricci_call, torch_step, leaves = setup(case, n, args.dtype)
            torch_step()
            err = check(case, n, args.dtype, ricci_call(), leaves)
            del ricci_call, torch_step, leaves  # free the arrays before timing elsewhere
            ours, our_faults, our_reps = timer(case.name, n, args.dtype, "ricci", timing)
            theirs, their_faults, their_reps = timer(case.name, n, args.dtype, "torch", timing)
            print(f"{case.name:<8} {n:>5} {ours * 1e3:10.2f} {theirs * 1e3:10.2f} "
                  f"{ours / theirs:11.2f} {our_reps:>4}/{their_reps:<4} "
                  f"{our_faults:>7.0f}/{their_faults:<7.0f} {err:8.1e}", flush=True)


if __name__ == "__main__":
    main()
