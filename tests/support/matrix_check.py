"""Evaluate every matrix form of a derivation with NumPy and compare it with the index form."""

from __future__ import annotations

import numpy as np

from ricci.codegen.binding import all_dims
from ricci.ir.traversal import index_occurrences
from ricci.verify.evaluate import evaluate


def values(d, rng, size=None):
    """Random inputs and the value of every statement of ``d.program`` (reference interpreter)."""
    dp = d.program
    labels = dict.fromkeys(all_dims(dp) + all_dims(d.forward))
    dims = {lab: (size or {}).get(lab, 2 + k % 4) for k, lab in enumerate(labels)}
    inputs = {n: rng.standard_normal(tuple(dims[x] for x in dp.dims[n])) for n in d.inputs}
    with np.errstate(all="ignore"):
        env = {**inputs, **evaluate(d.forward, {k: inputs[k] for k in d.forward.inputs}, dim_sizes=dims),
               **evaluate(dp, {k: inputs[k] for k in dp.inputs}, dim_sizes=dims)}
    return env, dims


def check_matrix_forms(d, seed: int = 0, tol: float = 1e-9) -> int:
    """Assert that each matrix form equals the statement's value; returns how many were checked."""
    view = d.matrix()
    env, dims = values(d, np.random.default_rng(seed))
    checked = 0
    for ln in view.lines:
        st = ln.statement
        sizes = {i.name: dims[i.dim] for i in list(st.indices) + list(index_occurrences(st.rhs))}
        code = view.code(ln)
        if code is None:
            continue
        with np.errstate(all="ignore"):
            got = eval(code, view.namespace(sizes), _py_env(env))
        if ln.helper:
            env[ln.name] = got
            continue
        want = env[ln.name]
        got = np.asarray(got, dtype=float)  # exactly the statement's shape: no broadcasting
        mask = np.isfinite(want)
        scale = max(1.0, float(np.max(np.abs(want[mask]))) if mask.any() else 1.0)
        assert np.shape(got) == np.shape(want), (ln.name, code, np.shape(got), np.shape(want))
        assert np.all(np.abs(got[mask] - want[mask]) <= tol * scale), \
            f"{view.line_text(ln)}\n  code: {code}\n  index form: {ln.index_text}"
        checked += 1
    return checked


def _py_env(env):
    """Values by the names the matrix code uses (``lambda`` as ``lambda_``)."""
    from ricci.display.matrix_render import py_name

    return {py_name(k): v for k, v in env.items()}
