"""ricci's compiled gradients against PyTorch autograd, on the same inputs, in one run.

What is timed, per case and size:

* ``ricci/numpy``, ``ricci/torch``: one call of ``ricci.grad(...).compile(backend)``, which
  computes the forward values the gradients need and then the gradients (input checks
  included);
* ``autograd``: the same model written op by op in PyTorch, forward pass on leaf tensors
  with ``requires_grad`` and ``.backward()`` (``.grad`` reset to ``None`` first) — the peer
  the ratios are taken against;
* ``fused`` (information only, where torch has one): torch's own fused kernel for the
  layer (``F.layer_norm``, ``F.cross_entropy``, ``F.scaled_dot_product_attention``) with
  ``.backward()``; hand-written C++ kernels, not autograd of the model.

Every side gets the same arrays (torch tensors share the NumPy memory). Before timing,
each case's ricci gradients (both backends) are checked against autograd's: the largest
difference relative to the largest gradient entry must be below 1e-9 (float64) or 2e-3
(float32).

Cases:

* core (issue 2; every dimension of size n = 256 and 1024): ``matmul`` (``Y = X @ A`` with
  an upstream gradient), ``mlp3core`` (three tanh layers, squared loss), ``rnn16`` (a
  batched 16-step RNN ``s_t = tanh(x_t W + s_{t-1} U + bias)``, upstream gradient on s_16);
* gallery (issue 4; the programs of examples/, at batch x width 64 x 256 and 512 x 1024):
  ``layernorm`` (examples/layernorm.ricci), ``softmax_ce`` (softmax_cross_entropy.ricci,
  width = classes, one-hot targets), ``attention`` (attention_multihead.ricci: batch/8
  sequences of width/8 tokens, 8 heads of dimension width/8... see ``SIZES``), ``mlp3``
  (mlp3.ricci: tanh / relu / sigmoid, MSE), ``rnn5`` (rnn5.ricci: 5 steps, loss on every
  state).

Single-threaded on purpose (two threads make small ops erratic on this 2-core machine):
``OMP/OPENBLAS/MKL_NUM_THREADS=1`` before NumPy is imported, ``torch.set_num_threads(1)``.

How it is timed: back-to-back calls, as in a training loop, after two warm-up calls; the
median is reported. Each side of each case runs in a fresh interpreter, because the result
depends on the state of the process heap: glibc malloc returns freed memory at the top of
its heap to the kernel (and maps large blocks afresh) until earlier large frees raise its
thresholds, so the same code can pay thousands of page faults per call in one process and
none in another (measured here: ricci's torch layer norm at 512 x 1024 took 1.1 to 6.6 ms
in one process depending on what ran before, autograd's 3.2 to 4.6 ms). ``--malloc tuned``
(the default) gives every side the same steady-state allocator, as in a long training run:
``MALLOC_TOP_PAD_`` = 256 MB and ``MALLOC_MMAP_THRESHOLD_`` = ``MALLOC_TRIM_THRESHOLD_`` =
1 GB, so freed memory is kept for reuse; ``--malloc default`` leaves glibc's defaults, so
each fresh process pays its page faults. ``--same-process`` times everything in this
process instead.

Usage::

    python benchmarks/grad_vs_torch.py                     # all cases, float64
    python benchmarks/grad_vs_torch.py --dtype float32
    python benchmarks/grad_vs_torch.py --group gallery     # only the issue-4 cases
    python benchmarks/grad_vs_torch.py --quick             # smaller sizes, fewer repeats
    python benchmarks/grad_vs_torch.py --malloc default    # glibc's default allocator settings
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import multiprocessing  # noqa: E402
import platform  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from dataclasses import dataclass, field  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Callable  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

import ricci  # noqa: E402

torch.set_num_threads(1)

ROOT = Path(__file__).resolve().parent.parent
TOLERANCE = {"float64": 1e-9, "float32": 2e-3}
Arrays = dict[str, np.ndarray]
Tensors = dict[str, torch.Tensor]


def example(name: str) -> str:
    return (ROOT / "examples" / f"{name}.ricci").read_text()


@dataclass
class Case:
    name: str
    group: str
    text: str
    wrt: list[str]
    #: size label -> index name -> size
    sizes: dict[str, dict[str, int]]
    #: op-by-op autograd of the same model: forward and .backward() on the inputs
    autograd: Callable[[Tensors], None]
    #: torch's fused kernel for the layer, if it has one (information only)
    fused: Callable[[Tensors], None] | None = None
    #: inputs drawn with standard deviation 1/sqrt(fan-in)
    weights: set[str] = field(default_factory=set)
    #: fix up special inputs (one-hot targets, eps) after the normal draw
    special: Callable[[Arrays, np.random.Generator], None] | None = None


# ---------------------------------------------------------------- the torch models


def t_matmul(v: Tensors) -> None:
    (v["X"] @ v["A"]).backward(v["dY"])


def t_mlp3core(v: Tensors) -> None:
    h = v["x"]
    for k in (1, 2, 3):
        h = torch.tanh(h @ v[f"W{k}"] + v[f"b{k}"])
    ((h - v["t"]) ** 2).sum().backward()


def t_rnn16(v: Tensors) -> None:
    s = torch.tanh(v["x1"] @ v["W"] + v["bias"])
    for k in range(2, 17):
        s = torch.tanh(v[f"x{k}"] @ v["W"] + s @ v["U"] + v["bias"])
    s.backward(v["ds16"])


def t_layernorm(v: Tensors) -> None:
    x = v["x"]
    mu = x.sum(1, keepdim=True) / x.shape[1]
    xc = x - mu
    var = (xc ** 2).sum(1, keepdim=True) / x.shape[1]
    y = xc / torch.sqrt(var + v["eps"]) * v["g"] + v["b"]
    y.backward(v["dy"])


def f_layernorm(v: Tensors) -> None:
    F.layer_norm(v["x"], v["x"].shape[1:], v["g"], v["b"], float(v["eps"])).backward(v["dy"])


def t_softmax_ce(v: Tensors) -> None:
    z = v["z"]
    e = torch.exp(z)
    p = e / e.sum(1, keepdim=True)
    (-(v["t"] * torch.log(p)).sum()).backward()


def f_softmax_ce(v: Tensors) -> None:
    F.cross_entropy(v["z"], v["t"].argmax(1), reduction="sum").backward()


def t_attention(v: Tensors) -> None:
    Q, K, V = v["Q"], v["K"], v["V"]
    S = Q @ K.transpose(-1, -2) / Q.shape[-1] ** 0.5
    e = torch.exp(S)
    A = e / e.sum(-1, keepdim=True)
    (A @ V).backward(v["dO"])


def f_attention(v: Tensors) -> None:
    F.scaled_dot_product_attention(v["Q"], v["K"], v["V"]).backward(v["dO"])


def t_mlp3(v: Tensors) -> None:
    h1 = torch.tanh(v["x"] @ v["W1"] + v["b1"])
    h2 = torch.relu(h1 @ v["W2"] + v["b2"])
    y = torch.sigmoid(h2 @ v["W3"] + v["b3"])
    (((y - v["t"]) ** 2).sum() / y.shape[0]).backward()


def rnn5_loss(v, tanh):
    """The 5-step RNN's loss (examples/rnn5.ricci) for any array library with ``@``:
    ``tanh`` is the library's (the torch side here, the JAX side of ``peers.py``)."""
    loss = 0
    s = None
    for k in range(1, 6):
        z = v[f"x{k}"] @ v["W"] + v["b"] + (0 if s is None else s @ v["U"])
        s = tanh(z)
        loss = loss + ((s - v[f"y{k}"]) ** 2).sum()
    return loss


def t_rnn5(v: Tensors) -> None:
    rnn5_loss(v, torch.tanh).backward()


# ---------------------------------------------------------------- the cases


def rnn16_text() -> str:
    lines = ["s1[b,h] = tanh(x1[b,d]*W[d,h] + bias[h])"]
    lines += [f"s{t}[b,h] = tanh(x{t}[b,d]*W[d,h] + s{t - 1}[b,g]*U[g,h] + bias[h])" for t in range(2, 17)]
    return "\n".join(lines)


def mlp3core_text() -> str:
    lines = [f"h{k}[n,j] = tanh({'x' if k == 1 else f'h{k - 1}'}[n,i]*W{k}[i,j] + b{k}[j])" for k in (1, 2, 3)]
    return "\n".join(lines + ["L = sum[n,j]((h3[n,j] - t[n,j])^2)"])


def one_hot(arrays: Arrays, rng: np.random.Generator) -> None:
    n, k = arrays["t"].shape
    t = np.zeros((n, k), dtype=arrays["t"].dtype)
    t[np.arange(n), rng.integers(0, k, n)] = 1
    arrays["t"] = t


def positive_eps(arrays: Arrays, rng: np.random.Generator) -> None:
    arrays["eps"] = np.asarray(1e-5, dtype=arrays["x"].dtype)


def uniform(n: int) -> dict[str, dict[str, int]]:
    return {f"n={n}": {}}


CORE = {"n=256": 256, "n=1024": 1024}
GALLERY = {"64x256": (64, 256), "512x1024": (512, 1024)}


def gallery_sizes(kind: str) -> dict[str, dict[str, int]]:
    out = {}
    for label, (batch, width) in GALLERY.items():
        if kind == "layernorm":
            out[label] = {"n": batch, "d": width}
        elif kind == "softmax_ce":
            out[label] = {"n": batch, "k": width}
        elif kind == "attention":  # batch/8 sequences of width/8 tokens, 8 heads of width/8
            out[label] = {"b": max(1, batch // 16), "h": 8, "i": width // 8, "j": width // 8,
                          "d": width // 8, "e": width // 8}
        elif kind == "mlp3":
            out[label] = {"n": batch, "i": width, "j": width, "k": width, "c": width}
        elif kind == "rnn5":
            out[label] = {"n": batch, "d": width, "h": width, "g": width}
    return out


CASES = [
    Case("matmul", "core", "Y[i,j] = X[i,k] * A[k,j]", ["X", "A"],
         {k: {"*": v} for k, v in CORE.items()}, t_matmul),
    Case("mlp3core", "core", mlp3core_text(), ["W1", "b1", "W2", "b2", "W3", "b3"],
         {k: {"*": v} for k, v in CORE.items()}, t_mlp3core, weights={"W1", "W2", "W3"}),
    Case("rnn16", "core", rnn16_text(), ["U", "W", "bias"], {k: {"*": v} for k, v in CORE.items()},
         t_rnn16, weights={"U", "W"}),
    Case("layernorm", "gallery", example("layernorm"), ["x", "g", "b"], gallery_sizes("layernorm"),
         t_layernorm, f_layernorm, special=positive_eps),
    Case("softmax_ce", "gallery", example("softmax_cross_entropy"), ["z"],
         gallery_sizes("softmax_ce"), t_softmax_ce, f_softmax_ce, special=one_hot),
    Case("attention", "gallery", example("attention_multihead"), ["Q", "K", "V"],
         gallery_sizes("attention"), t_attention, f_attention),
    Case("mlp3", "gallery", example("mlp3"), ["W1", "b1", "W2", "b2", "W3", "b3"],
         gallery_sizes("mlp3"), t_mlp3, weights={"W1", "W2", "W3"}),
    Case("rnn5", "gallery", example("rnn5"), ["U", "W", "b"], gallery_sizes("rnn5"), t_rnn5,
         weights={"U", "W"}),
]
CASES_BY_NAME = {c.name: c for c in CASES}


# ---------------------------------------------------------------- running


def make_inputs(d: ricci.Derivation, case: Case, label: str, dtype: str) -> Arrays:
    rng = np.random.default_rng(0)
    sizes = case.sizes[label]
    prog = d.program
    out = {}
    for name in d.inputs:
        shape = []
        for lab in prog.dims[name]:
            names = prog.names_for_dim(lab)
            shape.append(sizes.get("*") or next(sizes[n] for n in names if n in sizes))
        scale = 1 / np.sqrt(shape[0]) if name in case.weights else 1.0
        out[name] = (scale * rng.standard_normal(tuple(shape))).astype(dtype)
    if case.special is not None:
        case.special(out, rng)
    return out


def torch_runner(step: Callable[[Tensors], None], arrays: Arrays, wrt: list[str]):
    """A no-argument forward+backward call, and the leaf tensors it leaves gradients in."""
    tensors = {k: torch.from_numpy(a) for k, a in arrays.items()}
    leaves = {k: tensors[k].requires_grad_() for k in wrt}

    def call() -> None:
        for p in leaves.values():
            p.grad = None
        step(tensors)

    return call, leaves


def calls(case: Case, label: str, dtype: str) -> dict[str, Callable[[], object]]:
    """The calls of every side on the same inputs (and the autograd leaves, for checking)."""
    d = ricci.grad(case.text, wrt=case.wrt)
    arrays = make_inputs(d, case, label, dtype)
    f_np = d.compile("numpy")
    f_t = d.compile("torch")
    tensors = {k: torch.from_numpy(a) for k, a in arrays.items()}
    out: dict[str, Callable[[], object]] = {
        "ricci/numpy": lambda: f_np(**arrays),
        "ricci/torch": lambda: f_t(**tensors),
    }
    out["autograd"], leaves = torch_runner(case.autograd, arrays, case.wrt)
    if case.fused is not None:
        out["fused"], _ = torch_runner(case.fused, arrays, case.wrt)
    out["_leaves"] = leaves  # type: ignore[assignment]
    return out


def check(case: Case, label: str, dtype: str) -> float:
    c = calls(case, label, dtype)
    c["autograd"]()
    leaves = c["_leaves"]
    worst = 0.0
    for side in ("ricci/numpy", "ricci/torch"):
        got = c[side]()
        for name in case.wrt:
            ref = leaves[name].grad.numpy()
            g = got[name]
            g = g.numpy() if hasattr(g, "numpy") else np.asarray(g)
            if g.shape != ref.shape or g.dtype != ref.dtype:
                raise SystemExit(f"{case.name} {label}: d{name} is {g.dtype}{g.shape}, "
                                 f"torch gives {ref.dtype}{ref.shape}")
            worst = max(worst, float(np.abs(g - ref).max() / max(np.abs(ref).max(), 1e-30)))
    if not worst <= TOLERANCE[dtype]:
        raise SystemExit(f"{case.name} {label}: ricci and autograd differ (relative {worst:.2e}); not timing")
    return worst


def time_calls(call: Callable[[], object], budget: float, min_reps: int, max_reps: int) -> float:
    """Median seconds of back-to-back ``call()``s after two warm-up calls; the repeat count
    is fitted to ``budget`` seconds."""
    for _ in range(2):
        t0 = time.perf_counter()
        call()
        first = time.perf_counter() - t0
    reps = max(min_reps, min(max_reps, int(budget / max(first, 1e-9))))
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        call()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def time_side(case_name: str, label: str, dtype: str, side: str, timing: dict) -> float:
    return time_calls(calls(CASES_BY_NAME[case_name], label, dtype)[side], **timing)


TUNED = {"MALLOC_TOP_PAD_": str(256 << 20), "MALLOC_MMAP_THRESHOLD_": str(1 << 30),
         "MALLOC_TRIM_THRESHOLD_": str(1 << 30)}
MALLOC = "tuned"


def time_side_fresh(*args: object) -> float:
    """:func:`time_side` in a new interpreter, so no earlier case has shaped its heap; glibc
    reads the ``MALLOC_*`` variables when the new process starts."""
    saved = {k: os.environ.get(k) for k in TUNED}
    if MALLOC == "tuned":
        os.environ.update(TUNED)
    else:
        for k in TUNED:
            os.environ.pop(k, None)
    try:
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            return pool.apply(time_side, args)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dtype", choices=sorted(TOLERANCE), default="float64")
    ap.add_argument("--group", choices=["all", "core", "gallery"], default="all")
    ap.add_argument("--case", nargs="*", help="only these cases")
    ap.add_argument("--quick", action="store_true", help="the smaller size only, fewer repeats")
    ap.add_argument("--same-process", action="store_true",
                    help="time every side in this process (hides the heap effect above)")
    ap.add_argument("--malloc", choices=["tuned", "default"], default="tuned",
                    help="the allocator settings of the fresh processes (see above)")
    args = ap.parse_args()
    global MALLOC
    MALLOC = args.malloc
    timing = dict(budget=0.5, min_reps=3, max_reps=30) if args.quick else \
        dict(budget=4.0, min_reps=5, max_reps=200)
    timer = time_side if args.same_process else time_side_fresh
    print(f"python {platform.python_version()}, numpy {np.__version__}, torch {torch.__version__}, "
          f"ricci {ricci.__version__}; {args.dtype}; 1 thread; each side timed in "
          f"{'this process' if args.same_process else f'a fresh process, {args.malloc} malloc'}; median ms per "
          f"forward+backward; ratio = ricci / autograd (below 1: ricci is faster)\n")
    print(f"{'case':<11} {'size':>9} {'numpy':>9} {'torch':>9} {'autograd':>9} {'fused':>9} "
          f"{'np/ag':>6} {'tch/ag':>6} {'rel.err':>8}")
    for case in CASES:
        if args.group != "all" and case.group != args.group:
            continue
        if args.case and case.name not in args.case:
            continue
        labels = list(case.sizes)[:1] if args.quick else list(case.sizes)
        for label in labels:
            err = check(case, label, args.dtype)
            t = {side: timer(case.name, label, args.dtype, side, timing)
                 for side in ("ricci/numpy", "ricci/torch", "autograd")}
            fused = timer(case.name, label, args.dtype, "fused", timing) if case.fused else None
            fs = f"{fused * 1e3:9.2f}" if fused is not None else f"{'-':>9}"
            print(f"{case.name:<11} {label:>9} {t['ricci/numpy'] * 1e3:9.2f} {t['ricci/torch'] * 1e3:9.2f} "
                  f"{t['autograd'] * 1e3:9.2f} {fs} {t['ricci/numpy'] / t['autograd']:6.2f} "
                  f"{t['ricci/torch'] / t['autograd']:6.2f} {err:8.1e}", flush=True)


if __name__ == "__main__":
    main()
