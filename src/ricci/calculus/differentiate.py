"""Stage 3a: the symbolic derivative of one expression, with Kronecker deltas.

``derivative_terms(e, X, P)`` is d e / d X[P] for fresh indices ``P``, returned as a
list of terms (their sum is the derivative). Each structural rule is one entry of
:data:`RULES`; elementwise functions take their derivative from the primitive table in
:mod:`ricci.functions`:

* input by itself:     d X[a,b] / d X[p,q] = delta[a,p] * delta[b,q]
* independent tensor:  d A[..] / d X[p,q] = 0      (constants, sizes, deltas too)
* sum rule:            d (f + g) = df + dg
* product rule:        d (f * g) = df * g + f * dg
* summation:           d sum[k](f) = sum[k](df)
* power rule:          d f^c = c * f^(c-1) * df;   d f^g = f^g * (dg * log(f) + g * df / f)
* chain rule:          d fn(u) = fn'(u) * du      (fn' from the function table)
* matrix functions:    d inv(A)[i,j] / d A[p,q] = -inv(A)[i,p] * inv(A)[q,j], and so on
                       (from the matrix-function table)

Returning terms rather than one ``Add`` keeps every delta at the top level of its term,
where the simplifier can let it eat a summed index; factors that do not contain ``X``
stay as they are (never expanded). The number of terms is the number of occurrences of
``X``, so the work is linear in the size of the expression.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from ..bounds import tick
from ..ir.expr import (
    ONE,
    Add,
    Call,
    Const,
    Delta,
    Expr,
    Index,
    MatFn,
    Mul,
    Pow,
    Size,
    Sum,
    Tensor,
    contains,
    where,
)
from ..primitives.functions import FUNCTIONS, MATRIX_FUNCTIONS

Terms = list[Expr]
DRule = Callable[[Expr, "_Ctx"], Terms]

RULES: dict[type, DRule] = {}


def drule(node_type: type):
    """Register the derivative rule of one node type."""

    def deco(fn: DRule) -> DRule:
        RULES[node_type] = fn
        return fn

    return deco


class _Ctx:
    """One derivative, memoised per node (a shared subtree is differentiated once). Only
    the children that mention ``wrt`` are visited (:func:`~ricci.expr.where`, cached in the
    nodes): the derivatives of one statement w.r.t. each of the n tensors it reads cost
    O(n) together, not O(n) each."""

    def __init__(self, wrt: str, fresh: Sequence[Index], answers: Mapping[Expr, Expr]) -> None:
        self.wrt = wrt
        self.fresh = tuple(fresh)
        self.answers = answers
        self.memo: dict[Expr, Terms] = {}

    def has(self, e: Expr) -> bool:
        """Does ``e`` mention the tensor ``wrt`` (a matrix function's operand included)?"""
        if isinstance(e, Tensor):
            return e.name == self.wrt
        return contains(e, Tensor) and self.wrt in where(e)

    def positions(self, e: Expr) -> tuple[int, ...]:
        """The positions of the children of ``e`` that mention ``wrt``, in order."""
        return where(e).get(self.wrt, ())

    def d(self, e: Expr) -> Terms:
        hit = self.memo.get(e)
        if hit is None:
            tick()
            hit = RULES[type(e)](e, self) if self.has(e) else []
            self.memo[e] = hit
        return hit


def derivative_terms(e: Expr, wrt: str, fresh: Sequence[Index],
                     answers: Mapping[Expr, Expr] | None = None) -> Terms:
    """d e / d wrt[fresh] as a list of terms.

    ``answers`` maps a function call to an expression that already holds its value (the
    left-hand side that defines it), so derivatives such as ``1 - tanh(z)^2`` reuse it.
    """
    return _Ctx(wrt, fresh, answers or {}).d(e)


def _factors(t: Expr) -> tuple[Expr, ...]:
    """The factors of a derivative term, to splice into the product that holds it: a term
    of a nested chain (``exp(exp(x))``, ``x^x^x``) is one flat product, built once, rather
    than products nested as deep as the chain, each of which the simplifier would
    flatten and sort again (cubic in the depth). A term holding a sum stays one factor:
    the simplifier hoists its sums out of the inner product first, and that order
    decides the names of the summed indices printed."""
    return t.factors if isinstance(t, Mul) and not contains(t, Sum) else (t,)


# ---------------------------------------------------------------- rules


@drule(Tensor)
def _d_tensor(e: Tensor, c: _Ctx) -> Terms:
    # d X[a,b] / d X[p,q] = delta[a,p] * delta[b,q]
    if e.name != c.wrt:
        return []
    if not e.indices:
        return [ONE]
    return [Mul([Delta((a, p)) for a, p in zip(e.indices, c.fresh)])]


@drule(Const)
@drule(Size)
@drule(Delta)
def _d_constant(e: Expr, c: _Ctx) -> Terms:
    return []


@drule(Add)
def _d_add(e: Add, c: _Ctx) -> Terms:
    # d (f + g) = df + dg
    return [t for k in c.positions(e) for t in c.d(e.terms[k])]


@drule(Mul)
def _d_mul(e: Mul, c: _Ctx) -> Terms:
    # d (f * g) = df * g + f * dg; a factor repeated m times (x * x * ... * x) gives one
    # term m * (the term of its first occurrence), not m alike terms of the whole product
    out: Terms = []
    fs = e.factors
    at = c.positions(e)  # (the other factors' derivatives are 0)
    seen: dict[Expr, int] = {}
    for k in at:
        seen[fs[k]] = seen.get(fs[k], 0) + 1
    done: set[Expr] = set()
    for k in at:
        f = fs[k]
        if f in done:
            continue
        done.add(f)
        m = seen[f]
        for t in c.d(f):
            tick()
            term: Expr = Mul(fs[:k] + _factors(t) + fs[k + 1:])
            out.append(term if m == 1 else Mul((Const(m), term)))
    return out


@drule(Sum)
def _d_sum(e: Sum, c: _Ctx) -> Terms:
    # d sum[k](f) = sum[k](df)
    return [Sum(e.indices, t) for t in c.d(e.body)]


@drule(Pow)
def _d_pow(e: Pow, c: _Ctx) -> Terms:
    b, x = e.base, e.exp
    out: Terms = []
    if isinstance(x, Const):
        # d f^c = c * f^(c-1) * df
        lower = Pow(b, Const(x.value - 1))
        out += [Mul((x, lower) + _factors(t)) for t in c.d(b)]
        return out
    # d f^g = g * f^(g-1) * df + f^g * log(f) * dg
    out += [Mul((x, Pow(b, Add((x, Const(-1))))) + _factors(t)) for t in c.d(b)]
    out += [Mul((c.answers.get(e, e), Call("log", (b,))) + _factors(t)) for t in c.d(x)]
    return out


@drule(MatFn)
def _d_matfn(e: MatFn, c: _Ctx) -> Terms:
    # d fn(A) / d A[p,q] from the table: -inv(A)[i,p] inv(A)[q,j], det(A) inv(A)[q,p], ...
    # (the operand is a tensor by name: an intermediate is chained by the caller)
    if e.arg.name != c.wrt:
        return []
    return [MATRIX_FUNCTIONS[e.fn].deriv(e, c.fresh, c.answers.get(e, e))]


@drule(Call)
def _d_call(e: Call, c: _Ctx) -> Terms:
    # d fn(u) = fn'(u) * du
    (u,) = e.args
    inner = c.d(u)
    if not inner:
        return []
    ans = c.answers.get(e, e)
    slope = FUNCTIONS[e.fn].deriv(u, ans)
    return [Mul((slope,) + _factors(t)) for t in inner]
