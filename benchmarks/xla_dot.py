"""XLA's CPU matrix product by operand layout: why ricci's JAX code copies a transposed left
operand in float64 (``_lhs_t`` in :mod:`ricci.codegen.backends`).

``C[i,j] = sum[n] A[n,i] B[n,j]`` (a weight gradient, ``X.T @ dZ``) at 512 x 1024, one
thread, in one process, the variants called in turn (median ms):

* ``a.T @ b``: XLA folds the transpose into the ``dot`` (left operand contracted over its
  leading axis);
* ``a @ w``: a product of row-major operands of the same size (the reference);
* ``barrier(a.T) @ b``: the transpose copied first (``jax.lax.optimization_barrier`` keeps XLA
  from folding it back), then a row-major product;
* ``dot_general(b, a).T``: the operands swapped.

Usage::

    XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1" \\
        taskset -c 0 python benchmarks/xla_dot.py float64
"""

from __future__ import annotations

import sys
import time


def main() -> None:
    import jax

    dt = sys.argv[1] if len(sys.argv) > 1 else "float64"
    if dt == "float64":
        jax.config.update("jax_enable_x64", True)
    import numpy as np
    from jax import lax

    rng = np.random.default_rng(0)
    a, b = (jax.numpy.asarray(rng.standard_normal((512, 1024)).astype(dt)) for _ in range(2))
    w = jax.numpy.asarray(rng.standard_normal((1024, 1024)).astype(dt))
    fs = {
        "a.T @ b": lambda a, b, w: a.T @ b,
        "a @ w": lambda a, b, w: a @ w,
        "barrier(a.T) @ b": lambda a, b, w: lax.optimization_barrier(a.T) @ b,
        "dot_general(b, a).T": lambda a, b, w: lax.dot_general(b, a, (((0,), (0,)), ((), ()))).T,
    }
    compiled = {n: jax.jit(f).lower(a, b, w).compile() for n, f in fs.items()}
    times: dict[str, list[float]] = {n: [] for n in fs}
    for _ in range(int(sys.argv[2]) if len(sys.argv) > 2 else 15):
        for n, c in compiled.items():
            jax.block_until_ready(c(a, b, w))
            t = time.perf_counter()
            jax.block_until_ready(c(a, b, w))
            times[n].append(time.perf_counter() - t)
    print(f"{jax.__version__}, {dt}, 512 x 1024, median ms per product")
    for n in fs:
        ts = sorted(times[n])
        kind = "YNNPACK fusion" if "ynn" in compiled[n].as_text() else "dot (Eigen)"
        print(f"{n:22s} {1e3 * ts[len(ts) // 2]:8.2f}   {kind}")


if __name__ == "__main__":
    main()
