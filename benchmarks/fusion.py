"""Does a fused-elementwise backend pay for ricci's NumPy code? (issue 15, item 4)

Layer norm and softmax cross-entropy (the elementwise- and reduction-bound gallery
cases, batch 512 x width 1024) forward+backward, written five ways, each side in a fresh
process, one thread, pinned to one core, with the steady-state malloc of
``grad_vs_torch.py``:

* ``jax.jit(grad)``: XLA's fused code for ``jax.grad`` of the model (the peer);
* ``ricci numpy``: ``ricci.grad(...).compile("numpy")``, the generated code as shipped;
* ``ricci numba``: ``ricci.grad(...).compile("numba")``, the same code with its elementwise
  runs as generated numba loop kernels (compiled by the first call, before timing);
* ``hand numpy``: the best NumPy code a person writes for the same closed form
  (algebraically tidy, in-place ``out=`` updates, every buffer reused): the floor of any
  NumPy code generator without fusion;
* ``numexpr``: the same closed form with its elementwise chains and row reductions in
  ``numexpr.evaluate`` (one thread);
* ``hand numba``: one ``@numba.njit`` loop nest per case (a row at a time: every pass fused),
  what a fusing code generator targeting numba would emit.

Every side's gradients are compared with torch autograd's (float64: 1e-9, float32: 2e-3
relative to the largest entry) before timing; the median of back-to-back calls over
about a second is printed, with its ratio to ``jax.jit(grad)``. Sides whose library is
missing are skipped (numexpr and numba are not dependencies of ricci).

Usage::

    python benchmarks/fusion.py [--dtype float32]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
SIDES = ["jax.jit(grad)", "ricci numpy", "ricci numba", "hand numpy", "numexpr", "hand numba"]
CASES = ["layernorm", "softmax_ce"]
N, D = 512, 1024


def inputs(case: str, dtype: str) -> dict:
    import numpy as np
    rng = np.random.default_rng(0)
    dt = np.dtype(dtype)
    if case == "layernorm":
        return {"x": rng.standard_normal((N, D)).astype(dt), "g": rng.standard_normal(D).astype(dt),
                "b": rng.standard_normal(D).astype(dt), "dy": rng.standard_normal((N, D)).astype(dt),
                "eps": dt.type(1e-5)}
    t = np.zeros((N, D), dt)
    t[np.arange(N), rng.integers(0, D, N)] = 1
    return {"z": (3 * rng.standard_normal((N, D))).astype(dt), "t": t}


def reference(case: str, v: dict) -> dict:
    import torch
    tv = {k: torch.tensor(a, dtype=torch.float64, requires_grad=k in ("x", "g", "b", "z"))
          for k, a in v.items()}
    if case == "layernorm":
        x = tv["x"]
        mu = x.mean(1, keepdim=True)
        xc = x - mu
        y = xc / torch.sqrt((xc * xc).mean(1, keepdim=True) + tv["eps"]) * tv["g"] + tv["b"]
        (y * tv["dy"]).sum().backward()
        return {k: tv[k].grad.numpy() for k in ("x", "g", "b")}
    z = tv["z"]
    (-(tv["t"] * torch.log_softmax(z, 1)).sum()).backward()
    return {"z": z.grad.numpy()}


def side_fn(case: str, side: str, v: dict):
    """The function of no arguments computing the gradients (a dict) for ``side``."""
    import numpy as np
    if side == "jax.jit(grad)":
        import jax
        jax.config.update("jax_enable_x64", True)
        import jax.numpy as jnp
        jv = {k: jnp.asarray(a) for k, a in v.items()}
        if case == "layernorm":
            def loss(x, g, b):
                xc = x - x.mean(1, keepdims=True)
                y = xc / jnp.sqrt((xc * xc).mean(1, keepdims=True) + jv["eps"]) * g + b
                return (y * jv["dy"]).sum()
            f = jax.jit(jax.grad(loss, argnums=(0, 1, 2)))
            return lambda: dict(zip("xgb", (o.block_until_ready() for o in f(jv["x"], jv["g"], jv["b"]))))
        f = jax.jit(jax.grad(lambda z: -(jv["t"] * jax.nn.log_softmax(z, 1)).sum()))
        return lambda: {"z": f(jv["z"]).block_until_ready()}
    if side in ("ricci numpy", "ricci numba"):
        import ricci
        name = "layernorm" if case == "layernorm" else "softmax_cross_entropy"
        text = (ROOT / "examples" / f"{name}.ricci").read_text()
        wrt = text.splitlines()[1].split(":", 1)[1].split()
        code = ricci.grad(text, wrt=wrt).compile("numpy" if side == "ricci numpy" else "numba")
        if case == "layernorm":
            return lambda: code(x=v["x"], eps=v["eps"], g=v["g"], b=v["b"], dy=v["dy"])
        return lambda: code(z=v["z"], t=v["t"])
    if side == "hand numpy":
        return _hand(case, v)
    if side == "numexpr":
        import numexpr as ne
        ne.set_num_threads(1)
        return _numexpr(case, v, ne)
    if side == "hand numba":
        import numba
        return _numba(case, v, numba)
    raise ValueError(side)  # pragma: no cover
    del np


def _hand(case: str, v: dict):
    import numpy as np
    if case == "layernorm":
        x, g, dy, eps = v["x"], v["g"], v["dy"], v["eps"]

        def f():
            d = x.shape[1]
            mu = x.sum(axis=1)
            mu /= d
            xc = x - mu[:, None]
            buf = np.square(xc)
            var = buf.sum(axis=1)
            var /= d
            var += eps
            r = 1.0 / np.sqrt(var)
            t2 = np.multiply(dy, g, out=buf)
            c = np.einsum("ab,ab->a", xc, t2)
            s = t2.sum(axis=1)
            dx = xc * ((c * r * r) / d)[:, None]
            dx += (s / d)[:, None]
            np.subtract(t2, dx, out=dx)
            dx *= r[:, None]
            np.multiply(dy, xc, out=t2)
            t2 *= r[:, None]
            return {"x": dx, "g": t2.sum(axis=0), "b": dy.sum(axis=0)}
        return f
    z, t = v["z"], v["t"]

    def g_():
        e = z - z.max(axis=1)[:, None]
        np.exp(e, out=e)
        e *= (t.sum(axis=1) / e.sum(axis=1))[:, None]
        e -= t
        return {"z": e}
    return g_


def _numexpr(case: str, v: dict, ne):
    import numpy as np
    if case == "layernorm":
        x, g, dy, eps = v["x"], v["g"], v["dy"], v["eps"]

        def f():
            d = x.shape[1]
            mu = (x.sum(axis=1) / d)[:, None]
            xc = ne.evaluate("x - mu", local_dict={"x": x, "mu": mu})
            r = 1.0 / np.sqrt(ne.evaluate("sum(xc * xc, axis=1)", local_dict={"xc": xc}) / d + eps)
            c = ne.evaluate("sum(xc * dy * g, axis=1)", local_dict={"xc": xc, "dy": dy, "g": g})
            names = {"xc": xc, "dy": dy, "g": g, "k": ((c * r * r) / d)[:, None],
                     "s": ((dy @ g) / d)[:, None], "r": r[:, None]}
            return {"x": ne.evaluate("r * (dy * g - xc * k - s)", local_dict=names),
                    "g": ne.evaluate("sum(dy * xc * r, axis=0)", local_dict=names), "b": dy.sum(axis=0)}
        return f
    z, t = v["z"], v["t"]

    def g_():
        e = ne.evaluate("exp(z - m)", local_dict={"z": z, "m": z.max(axis=1)[:, None]})
        k = (t.sum(axis=1) / e.sum(axis=1))[:, None]
        return {"z": ne.evaluate("e * k - t", local_dict={"e": e, "k": k, "t": t})}
    return g_


def _numba(case: str, v: dict, numba):
    import numpy as np
    if case == "layernorm":
        @numba.njit(cache=False)
        def kernel(x, eps, g, dy, dx, dg, db):  # pragma: no cover - compiled
            n_, d_ = x.shape
            for n in range(n_):
                mu = 0.0
                for d in range(d_):
                    mu += x[n, d]
                mu /= d_
                var = 0.0
                for d in range(d_):
                    u = x[n, d] - mu
                    var += u * u
                r = 1.0 / np.sqrt(var / d_ + eps)
                c = 0.0
                s = 0.0
                for d in range(d_):
                    u = dy[n, d] * g[d]
                    c += (x[n, d] - mu) * u
                    s += u
                k = c * r * r / d_
                s /= d_
                for d in range(d_):
                    xc = x[n, d] - mu
                    dx[n, d] = r * (dy[n, d] * g[d] - xc * k - s)
                    dg[d] += dy[n, d] * xc * r
                    db[d] += dy[n, d]

        x, g, dy, eps = v["x"], v["g"], v["dy"], v["eps"]

        def f():
            dx, dg, db = np.empty_like(x), np.zeros_like(g), np.zeros_like(g)
            kernel(x, eps, g, dy, dx, dg, db)
            return {"x": dx, "g": dg, "b": db}
        return f

    @numba.njit(cache=False)
    def kernel2(z, t, dz):  # pragma: no cover - compiled
        n_, d_ = z.shape
        for n in range(n_):
            m = z[n, 0]
            for d in range(d_):
                m = max(m, z[n, d])
            se = 0.0
            st = 0.0
            for d in range(d_):
                e = np.exp(z[n, d] - m)
                dz[n, d] = e
                se += e
                st += t[n, d]
            k = st / se
            for d in range(d_):
                dz[n, d] = dz[n, d] * k - t[n, d]

    z, t = v["z"], v["t"]

    def g_():
        dz = np.empty_like(z)
        kernel2(z, t, dz)
        return {"z": dz}
    return g_


def worker(case: str, side: str, dtype: str) -> dict:
    import statistics
    import time

    import numpy as np
    v = inputs(case, dtype)
    try:
        f = side_fn(case, side, v)
    except ImportError as e:
        return {"skip": f"{e.name} is not installed"}
    out = f()
    ref = reference(case, v)
    tol = 1e-9 if dtype == "float64" else 2e-3
    err = max(float(np.abs(np.asarray(out[k], np.float64) - r).max() / np.abs(r).max()) for k, r in ref.items())
    if not err < tol:
        return {"error": f"gradient differs from autograd: {err:.2e}"}
    f()
    times = []
    end = time.perf_counter() + 1.0
    while time.perf_counter() < end or len(times) < 5:
        t0 = time.perf_counter()
        f()
        times.append(time.perf_counter() - t0)
    return {"ms": statistics.median(times) * 1e3}


def run(case: str, side: str, dtype: str) -> dict:
    sys.path.insert(0, str(HERE))
    from grad_vs_torch import TUNED
    env = dict(os.environ, **TUNED, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", MKL_NUM_THREADS="1",
               NUMEXPR_NUM_THREADS="1", NUMBA_NUM_THREADS="1",
               XLA_FLAGS="--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
               PYTHONPATH=os.pathsep.join([str(ROOT / "src"), str(HERE), os.environ.get("PYTHONPATH", "")]))
    cmd = [sys.executable, __file__, "--worker", case, side, "--dtype", dtype]
    if shutil.which("taskset"):
        cmd = ["taskset", "-c", str(sorted(os.sched_getaffinity(0))[-1])] + cmd
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dtype", choices=["float64", "float32"], default="float64")
    ap.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.worker:
        import torch
        torch.set_num_threads(1)
        print(json.dumps(worker(*a.worker, a.dtype)))
        return
    print(f"{a.dtype}, {N} x {D}, one thread, one core, each side in a fresh process; ms per "
          f"forward+backward (x = / jax.jit(grad))")
    print(f"{'case':12s}" + "".join(f"{s:>22s}" for s in SIDES))
    for case in CASES:
        res = {s: run(case, s, a.dtype) for s in SIDES}
        peer = res["jax.jit(grad)"].get("ms")
        cells = []
        for s in SIDES:
            r = res[s]
            if "ms" in r:
                ratio = f" ({r['ms'] / peer:.2f}x)" if peer else ""
                cells.append(f"{r['ms']:.2f}{ratio}")
            else:
                cells.append(r.get("skip") or r.get("error", "?"))
        print(f"{case:12s}" + "".join(f"{c:>22s}" for c in cells), flush=True)
        for s in SIDES:
            if "error" in res[s]:
                print(f"  {s}: {res[s]['error']}")


if __name__ == "__main__":
    main()
