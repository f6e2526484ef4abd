"""The strict proof of the matrix forms the steps print: every matrix-notation line of
``str(d.steps())`` run as NumPy code, as printed, and compared with the value of its
statement (the harness of :mod:`support.strict_matrix`, applied to the steps' text).

:func:`strict_step_problems` returns the problems of the printed steps (empty: every
matrix formula the steps print is proven as printed):

* **The text as printed.** ``str(steps)`` is read line by line: a heading (``dL/dW:``),
  then per step its numbered rule line (``  7. conversion to matrix form (...)``) and its
  equation line (``     dW = X.T @ dZ``). Step ``k`` of the printed text is ``steps[k-1]``;
  it is a matrix-notation line when that step carries a matrix form (``st.matrix``): a
  matrix form (``dW = X.T @ dZ``), a helper of one (``G = y / p``) or an einsum form
  (``dZ/dW = einsum(...)``, printed after the slices). A slice (``dZ[:,h]/dW[:,q] = delta[h,q] * X``) is a statement
  about a part, prose: skipped, as strict_matrix skips ``slices:``. The index-notation
  steps are proven by :mod:`support.steps_check` (both sides of every step).
* **The namespace holds only** what a reader of the steps has: the inputs and the
  statements of the user's program (as :mod:`support.strict_matrix`), the tensors whose
  definition the steps printed above (``z1[n] = X[n,d] * w[d]``, a named subexpression)
  and the names the matrix-notation lines printed above (``dY = 2 * (Y - T)``), with the
  vocabulary of the matrix text and its placeholders for spellings that are not
  identifiers (``dZ/dW``). A name the matrix view prints differently (``dL/dZ`` where the
  view prints ``dZ``) is undefined: the steps and the matrix view use one naming scheme.
* **One naming scheme.** Each matrix-notation line is the line the matrix view prints for
  the same result (``str(d.matrix())``, or for a Hessian the views of its parts): the same
  names, the same formula; a line that differs is a problem of kind ``view``.
* **The comparison** is exact in shape and equal in value (:func:`support.strict_matrix.compare`)
  with the line's statement (``ln.statement``) evaluated by the reference evaluator on the
  values of the derivation (for a Hessian: of its gradient and of the Jacobian of the
  gradient too, whose matrix lines the steps print). A helper line is run, not compared.
"""

from __future__ import annotations

import re
from typing import Any

import numpy as np

from ricci.codegen.binding import all_dims
from ricci.display.steps import DEFINITION, NAMING
from ricci.ir.expr import Tensor
from ricci.ir.program import Program
from ricci.verify.evaluate import evaluate

from support.strict_matrix import Problem, _Reader

__all__ = ["matrix_steps", "strict_step_problems"]

_NUMBERED = re.compile(r"^\s*(\d+)\. ")
_EQUATION = "     "


def printed_equations(text: str) -> dict[int, str]:
    """Step number -> its printed equation line (without its indentation)."""
    lines = text.split("\n")
    out: dict[int, str] = {}
    for k, line in enumerate(lines):
        m = _NUMBERED.match(line)
        if m and k + 1 < len(lines) and lines[k + 1].startswith(_EQUATION):
            out[int(m.group(1))] = lines[k + 1][len(_EQUATION):]
    return out


def matrix_steps(steps) -> list[int]:
    """The numbers (from 1) of the steps whose printed equation is matrix notation (a
    matrix form, a helper or an einsum form; not a slice)."""
    return [k for k, st in enumerate(steps, 1)
            if st.matrix is not None and (st.matrix.node is not None or not st.matrix.slice or st.einsum)]


def _values(d, r: _Reader) -> dict[str, Any]:
    """Every value the steps can print a formula of: the forward statements, the derived
    statements (and for a second derivative those of its gradient and of the Jacobian of
    the gradient), on the reader's inputs."""
    env: dict[str, Any] = {k: v for k, v in r.reader.items() if k in d.inputs}
    parts = [d.second.gradient, d.second.jacobian] if d.second is not None else []
    progs = [d.forward] + [q for pt in parts for q in (pt.forward, pt.program)] + [d.program]
    for p in progs:
        for lab in all_dims(p):
            r.dims.setdefault(lab, 2 + len(r.dims))
    with np.errstate(all="ignore"):
        for p in progs:
            env.update(evaluate(p, {k: env[k] for k in p.inputs}, dim_sizes=r.dims))
    return env


def _expected(st, env: dict[str, Any], dims: dict[str, Any], progs) -> Any:
    """The value of the statement ``st`` (a matrix line's) on ``env``."""
    known: dict[str, tuple[str, ...]] = {}
    for p in progs:
        known.update(p.dims)
    prog = Program([st], {**known, st.name: tuple(i.dim for i in st.indices)})
    with np.errstate(all="ignore"):
        return evaluate(prog, {k: env[k] for k in prog.inputs}, dim_sizes=dims)[st.name]


def strict_step_problems(d, wrt: str | None = None, seed: int = 0, steps=None) -> list[Problem]:
    """The problems of the matrix-notation lines of the printed steps of ``d`` (all its
    results, or the one for ``wrt``); see the module docstring."""
    steps = steps if steps is not None else (d.steps() if wrt is None else d.steps(wrt))
    text = str(steps)
    printed = printed_equations(text)
    r = _Reader(d, seed)
    env = _values(d, r)
    parts = [d.second.gradient, d.second.jacobian] if d.second is not None else []
    progs = [d.forward, d.program, d.source_program] + [q for pt in parts for q in (pt.forward, pt.program)]
    problems: list[Problem] = []
    if sorted(printed) != list(range(1, len(steps) + 1)):
        problems.append(Problem("layout", text.split("\n")[0], f"{len(printed)} equations printed for "
                                                               f"{len(steps)} steps"))
    want_matrix = set(matrix_steps(steps))
    views = [d.matrix()] + [pt.matrix() for pt in parts]
    for k, st in enumerate(steps, 1):
        line = printed.get(k)
        if line is None:
            continue
        if st.rule in (DEFINITION, NAMING) and isinstance(st.lhs, Tensor) and st.lhs.name in env:
            # a definition printed in index notation defines its tensor for what follows
            if line.partition("[")[0].partition(" ")[0] == st.lhs.name:
                r.define(st.lhs.name, env[st.lhs.name])
            continue
        if k not in want_matrix:
            continue
        ln = st.matrix
        view = next((v for v in views if any(m is ln for m in v.lines)), None)
        if view is not None:
            mine = view.line_text(ln) if ln.node is not None else f"{view.spelling.text(ln.name)} = {ln.einsum}"
            if line != mine:
                problems.append(Problem("view", line, f"the matrix view prints `{mine}`"))
        r.expected = {} if ln.helper else {ln.name: _expected(ln.statement, env, r.dims, progs)}
        problems += r.run(line, line, ln, ln.helper)
        r.printed_as.setdefault(ln.name, line.partition(" = ")[0])
    return problems
