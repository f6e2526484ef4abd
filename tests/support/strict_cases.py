"""The derivations whose printed forms the strict harnesses prove (tests/display/
test_strict_matrix.py, test_strict_steps.py): every example's gradients, Hessians and
Jacobians, and random derivations worth proving."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any, Callable

import numpy as np

import ricci

from .strict_matrix import values

__all__ = ["EXAMPLES", "example_cases", "header", "random_derivation"]

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.ricci"))


def header(path: Path) -> tuple[str, list[str]]:
    """An example's text and the inputs its ``# wrt:`` line names."""
    text = path.read_text()
    return text, text.splitlines()[1].split(":", 1)[1].split()


def example_cases() -> dict[str, Callable[[], Any]]:
    """Case id -> a function giving its derivation: each example's gradient w.r.t. its
    ``wrt`` (and all its inputs), the Hessian w.r.t. each vector input of a scalar one, and
    small Jacobians of short ones."""
    out: dict[str, Callable[[], Any]] = {}
    for path in EXAMPLES:
        name = path.stem
        text, wrt = header(path)
        program = ricci.parse(text)
        of = program.statements[-1].name
        inputs = list(program.upto(of).inputs)
        out[f"grad-{name}"] = partial(ricci.grad, text, wrt)
        if set(inputs) != set(wrt):
            out[f"grad-all-{name}"] = partial(ricci.grad, text, inputs)
        if not program.dims[of]:
            for x in inputs:
                if len(program.dims[x]) == 1:
                    out[f"hessian-{name}-{x}"] = partial(ricci.hessian, text, x)
        if len(program.statements) <= 2:
            for x in inputs:
                if len(program.dims[x]) + len(program.dims[of]) <= 4:
                    out[f"jacobian-{name}-{x}"] = partial(ricci.jacobian, text, x)
    return out


def _nameless_dim(d) -> bool:
    """Whether a dim of the program is on no input (``sum[l,x](delta[l,x])``): its size has
    only index names, which a random program also gives other dims and a derivation reuses
    for its own bound indices, so a printed ``size(l)`` may be ambiguous (as ``sizes=`` is)."""
    prog = d.source_program
    on_inputs = {dim for t in prog.inputs for dim in prog.dims[t]}
    return any(dim not in on_inputs for dim in prog.dim_names)


def _ill_conditioned(d) -> bool:
    """cos(exp(exp(...))): values beyond 1e8, where the argument's last bits decide the value."""
    _reader, expected, _dims = values(d)
    return any(np.max(np.abs(np.asarray(v, dtype=float)), initial=0) > 1e8 for v in expected.values())


def random_derivation(m, mode: int):
    """The gradient w.r.t. every input (``mode`` 0), the Jacobian (1) or the gradient (2)
    w.r.t. the first input of the random program ``m``; None where ricci refuses it or its
    printed forms cannot be proven (an ambiguous size, ill-conditioned values)."""
    try:
        if mode == 0:
            d = ricci.grad(m.text, wrt=list(m.inputs))
        else:
            d = (ricci.jacobian if mode == 1 else ricci.grad)(m.text, wrt=list(m.inputs)[:1])
    except ricci.RicciError:
        return None
    return None if _nameless_dim(d) or _ill_conditioned(d) else d
