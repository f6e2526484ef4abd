"""Declared facts used for simplification: a symmetric input read in one orientation, and
the rows of a one-hot input summing to one.

A one-hot input (``Y[n,k] : one-hot``, the labels of a classifier) has one 1 along its
last axis, so ``sum[k](Y[n,k])`` is 1 (:func:`one_hot_sums`): the softmax cross-entropy
gradient ``P * sum(Y, axis=1)[:, None] / N - Y / N`` is the textbook's ``(P - Y) / N``.

A program may declare an input matrix symmetric (``S[i,j] : symmetric``, see
docs/language.md). Its values are symmetric, so ``S[j,i]`` is ``S[i,j]``, and so is
``f(S)[j,i]`` for a matrix function of rank 2 (the inverse of a symmetric matrix is
symmetric: a primary matrix function commutes with the transpose). This pass writes every
such reference in one *canonical orientation*, so that terms the simplifier could not
collect (``A[i,j] * x[j] + A[j,i] * x[j]``) become like terms (``2 * A[i,j] * x[j]``).

The orientation of a reference with two distinct indices depends only on those indices
and on the statement's left-hand side, so it is deterministic and the pass is idempotent
(it terminates: one rebuild, then one simplification per changed statement). An index of
the left-hand side comes first, except the last of a left-hand side of rank 2 or more,
which comes last (``dx[i] = 2 * A[i,j] * x[j]`` is ``A @ x``; ``dr[n,i] = r[n,j] *
inv(S)[j,i]`` is ``r @ inv(S)``); other indices sort by name in between. Any orientation
has the same value at a symmetric input, so the pass never changes a value there.

The pass runs on finished results only (:func:`assume_symmetry`, called once by
``ricci.Derivation``), never on a program that is differentiated afterwards: the gradient
w.r.t. a symmetric ``S`` is that of the same function of a general matrix, and
``x[i] * S[j,i] * y[j]`` and ``x[i] * S[i,j] * y[j]`` have different gradients.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from ..ir.expr import ONE, Expr, Index, MatFn, Mul, Sum, Tensor
from ..ir.program import Program, Statement, one_hot_inputs, symmetric_inputs
from ..ir.traversal import map_bottom_up
from ..primitives.functions import MATRIX_FUNCTIONS
from ..simplify.factor import factor_common
from ..simplify.rewrite import simplify
from .record import DerivationRecord

__all__ = ["assume_facts", "assume_symmetry", "one_hot_sums", "orient_program", "orient_statement"]


def _orientation(lhs: tuple[Index, ...]):
    """The sort key of an index in a statement whose left-hand side is ``lhs``."""
    pos = {ix.name: k for k, ix in enumerate(lhs)}
    last = lhs[-1].name if len(lhs) >= 2 else None

    def key(ix: Index) -> tuple[int, int, str]:
        k = pos.get(ix.name)
        if k is None:
            return (1, 0, ix.name)
        if ix.name == last:
            return (2, 0, "")
        return (0, k, "")
    return key


def _oriented(pair: tuple[Index, ...], key) -> tuple[Index, ...] | None:
    """``pair`` in canonical order, or None when it already is (or is no pair)."""
    if len(pair) != 2 or pair[0] == pair[1] or pair[0].name.startswith("#"):
        return None
    a, b = pair
    return (b, a) if key(b) < key(a) else None


def orient_statement(st: Statement, symmetric: frozenset[str]) -> Statement:
    """``st`` with every reference to a symmetric input (and to a matrix function of one)
    in canonical orientation, simplified again if that changed anything."""
    if not symmetric:
        return st
    key = _orientation(st.indices)

    def fn(n: Expr) -> Expr:
        if isinstance(n, Tensor) and n.name in symmetric:
            swapped = _oriented(n.indices, key)
            if swapped is not None:
                return Tensor(n.name, swapped)
        elif isinstance(n, MatFn) and n.arg.name in symmetric and MATRIX_FUNCTIONS[n.fn].rank == 2:
            swapped = _oriented(n.out, key)
            if swapped is not None:
                return n.with_out(swapped)
        return n

    rhs = map_bottom_up(st.rhs, fn)
    if rhs == st.rhs:
        return st
    return st.replace(simplify(rhs))


def one_hot_sums(e: Expr, one_hot: frozenset[str]) -> Expr:
    """``e`` with each sum over the last index of a one-hot input dropped where nothing else
    in the summand reads that index: ``sum[l](Y[n,l]) * P[n,k]`` is ``P[n,k]``, and
    ``sum[l](Y[n,l] * a[n])`` is ``a[n]`` (a row of a one-hot ``Y`` sums to 1). Shrinks the
    tree, so applying it is one pass."""
    def fn(n: Expr) -> Expr:
        if not isinstance(n, Sum):
            return n
        factors = list(n.body.factors) if isinstance(n.body, Mul) else [n.body]
        idx = list(n.indices)
        for ix in n.indices:
            hits = [k for k, f in enumerate(factors) if isinstance(f, Tensor) and f.name in one_hot
                    and f.indices and f.indices[-1] == ix and ix not in f.indices[:-1]]
            if len(hits) != 1:
                continue
            rest = factors[:hits[0]] + factors[hits[0] + 1:]
            if any(ix in f.free for f in rest):
                continue
            factors, idx = rest, [i for i in idx if i != ix]
        if len(idx) == len(n.indices):
            return n
        body = Mul(factors) if len(factors) > 1 else factors[0] if factors else ONE
        return Sum(idx, body) if idx else body
    return map_bottom_up(e, fn)


def assume_facts(st: Statement, declared: Mapping[str, str]) -> Statement:
    """``st`` written under the declared facts: symmetric inputs in canonical orientation
    (:func:`orient_statement`), sums over a one-hot axis dropped (:func:`one_hot_sums`),
    simplified again if that changed anything (and, after a sum was dropped, the factors
    the terms share taken out: ``(P - Y) / N``)."""
    st = orient_statement(st, symmetric_inputs(declared))
    one_hot = one_hot_inputs(declared)
    if one_hot:
        rhs = one_hot_sums(st.rhs, one_hot)
        if rhs != st.rhs:  # P / N - Y / N: the factor the terms now share taken out
            st = st.replace(factor_common(simplify(rhs)))
    return st


def orient_program(prog: Program) -> Program:
    """``prog`` with :func:`assume_facts` applied to each statement (itself when it
    declares nothing)."""
    if not prog.declared:
        return prog
    out = [assume_facts(s, prog.declared) for s in prog.statements]
    if all(a is b for a, b in zip(out, prog.statements)):
        return prog
    return Program(out, prog.dims, dim_names=prog.dim_names, source=prog.text, inputs=prog.inputs,
                   declared=prog.declared)


def assume_symmetry(rec: DerivationRecord) -> DerivationRecord:
    """A finished derivation with its results written under the declared facts (the
    result shown, the program and the program the code computes); ``rec`` itself when its
    program declares nothing."""
    if not rec.program.declared:
        return rec
    program = orient_program(rec.program)
    code = program if rec.code_program is rec.program else orient_program(rec.code_program)
    if program is rec.program and code is rec.code_program:
        return rec
    shown = tuple(program.defined.get(s.name, s) if s == rec.program.defined.get(s.name) else s
                  for s in rec.shown)
    return replace(rec, program=program, code_program=code, shown=shown)
