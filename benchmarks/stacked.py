"""Would one matrix product over the stacked time steps make the RNN's gradient faster?

The 5-step RNN's weight gradient is a sum of products, ``dW = x1.T @ dz1 + ... + x5.T @ dz5``
(ricci's torch code: one product, then ``addmm_`` into it), and its forward pass five
products by the same ``W``. Over the stacked steps each is one product with a five times
longer contraction (``cat(xs).T @ cat(dzs)``) or a five times taller left operand
(``cat(xs) @ W``): the same arithmetic in one BLAS call, plus the copies ``cat`` makes.
This measures whether that pays, at the gallery's size (batch 512, width 1024), torch's
BLAS, one thread, each variant in a fresh process pinned to one core (median ms of 15
calls after a warm-up):

* ``dW: sum of 5``: ``dW = x5.T @ dz5``, then ``dW.addmm_(x_t.T, dz_t)`` for the others;
* ``dW: stacked``: ``torch.cat(xs).T @ torch.cat(dzs)``;
* ``xW: 5 products``: ``[x @ W for x in xs]``;
* ``xW: stacked``: ``torch.cat(xs) @ W``.

Usage::

    python benchmarks/stacked.py [--dtype float32|float64]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

VARIANTS = ["dW: sum of 5", "dW: stacked", "xW: 5 products", "xW: stacked"]


def worker(variant: str, dtype: str) -> float:
    import time

    import torch

    torch.set_num_threads(1)
    dt = getattr(torch, dtype)
    g = torch.Generator().manual_seed(0)
    xs = [torch.randn(512, 1024, dtype=dt, generator=g) for _ in range(5)]
    dzs = [torch.randn(512, 1024, dtype=dt, generator=g) for _ in range(5)]
    w = torch.randn(1024, 1024, dtype=dt, generator=g)

    def sum_of_5():
        dw = xs[4].T @ dzs[4]
        for t in range(4):
            dw.addmm_(xs[t].T, dzs[t])
        return dw

    fs = {
        "dW: sum of 5": sum_of_5,
        "dW: stacked": lambda: torch.cat(xs).T @ torch.cat(dzs),
        "xW: 5 products": lambda: [x @ w for x in xs],
        "xW: stacked": lambda: torch.cat(xs) @ w,
    }
    if variant.startswith("dW"):  # both compute the same gradient
        a, b = sum_of_5(), fs["dW: stacked"]()
        assert float((a - b).abs().max() / a.abs().max()) < (1e-5 if dtype == "float32" else 1e-12)
    f = fs[variant]
    f()
    times = []
    for _ in range(15):
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return 1e3 * sorted(times)[len(times) // 2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    ap.add_argument("--worker", nargs=1, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print("RESULT " + json.dumps(worker(args.worker[0], args.dtype)))
        return
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}
    cpu = sorted(os.sched_getaffinity(0))[0]
    ms = {}
    for v in VARIANTS:
        cmd = [sys.executable, str(Path(__file__).resolve()), "--dtype", args.dtype, "--worker", v]
        if shutil.which("taskset"):
            cmd = ["taskset", "-c", str(cpu)] + cmd
        out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
        ms[v] = json.loads(next(ln for ln in out.splitlines() if ln.startswith("RESULT "))[7:])
    print(f"{args.dtype}, batch 512, width 1024, 5 steps, torch {__import__('torch').__version__}, one thread, "
          "each variant in a fresh process (median ms)")
    for v in VARIANTS:
        print(f"{v:16} {ms[v]:8.2f}")
    print(f"dW stacked / sum of 5: {ms['dW: stacked'] / ms['dW: sum of 5']:.3f}; "
          f"xW stacked / 5 products: {ms['xW: stacked'] / ms['xW: 5 products']:.3f}")


if __name__ == "__main__":
    main()
