"""Stage 3a: the symbolic derivative of one expression, with Kronecker deltas.

``derivative_terms(e, X, P)`` is d e / d X[P] for fresh indices ``P``, returned as a
list of terms (their sum is the derivative).

:data:`RULES` is the one table of derivative rules, read by the engine and by the
step-by-step view (:mod:`ricci.display.steps`) alike. A :class:`Rule` is written as
*terms with holes*, the way jax writes ``primitive_jvps`` and tinygrad its gradient
patterns: it builds d e from the derivatives of ``e``'s children, asking its
:class:`Holes` for each (``h.d(child)``). The engine fills a hole with the child's
derivative, computed recursively as terms; the steps fill it with an unevaluated
``Deriv(child, X)``, rewritten by a later step. Each node type has an ordered tuple of
rules, the first whose condition holds applies (``Mul``: the quotient rule, else the
product rule); an expression that does not mention ``X`` takes :data:`INDEPENDENT`.

* input by itself:     d X[a,b] / d X[p,q] = delta[a,p] * delta[b,q]
* independent:         d A[..] / d X[p,q] = 0      (constants, sizes, deltas too)
* sum rule:            d (f + g) = df + dg
* quotient rule:       d (f / g) = df / g - f dg / g^2   (one factor g^-1 mentions X)
* product rule:        d (f * g) = df * g + f * dg
* summation:           d sum[k](f) = sum[k](df)
* power rule:          d f^c = c * f^(c-1) * df;   d f^g = g f^(g-1) df + f^g log(f) dg
* chain rule:          d fn(u) = fn'(u) * du      (fn' from the function table)
* matrix functions:    d inv(A)[i,j] / d A[p,q] = -inv(A)[i,p] * inv(A)[q,j], and so on
                       (from the matrix-function table)

Division is a product with a power (``f / g`` is ``f * g^-1``). The quotient rule is the
product rule with the reciprocal's derivative written out by the power rule at once,
``f d(g^-1) = -f g^-2 dg``: the engine gets exactly the terms of the product and power
rules, and the steps show ``d(f / g)`` in one step.

Returning terms rather than one ``Add`` keeps every delta at the top level of its term,
where the simplifier can let it eat a summed index; factors that do not contain ``X``
stay as they are (never expanded). The number of terms is the number of occurrences of
``X``, so the work is linear in the size of the expression.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..bounds import tick
from ..ir.expr import ONE, Add, Call, Const, Delta, Expr, Index, MatFn, Mul, Pow, Size, Sum, Tensor
from ..ir.traversal import contains, where
from ..primitives.functions import FUNCTIONS, MATRIX_FUNCTIONS

__all__ = [
    "CHAIN", "GENERAL_POWER", "Holes", "INDEPENDENT", "MATRIX", "POWER", "PRODUCT", "QUOTIENT", "Rule",
    "SELF", "SUM", "SUMMATION", "chain_slope", "derivative_terms", "rule_for",
]

Terms = list[Expr]


class Holes:
    """How a rule's sub-derivatives are represented, for derivatives d e / d X[P].

    ``wrt`` is X's name, ``fresh`` the indices P, ``answers`` maps an expression to a
    tensor that already holds its value (a statement's left-hand side). A subclass
    defines :meth:`d`, the terms that fill the hole of one child's derivative.

    Invariants: a rule calls :meth:`d` only on a child that mentions ``wrt`` or one
    :meth:`positions` lists, and splices the terms it gets without looking into them;
    the sum of a rule's terms, each hole standing for the derivative of its child, is
    d e / d X[P] whatever fills the holes.
    """

    def __init__(self, wrt: str, fresh: Sequence[Index], answers: Mapping[Expr, Expr]) -> None:
        self.wrt = wrt
        self.fresh = tuple(fresh)
        self.answers = answers

    def has(self, e: Expr) -> bool:
        """Does ``e`` mention the tensor ``wrt`` (a matrix function's operand included)?"""
        if isinstance(e, Tensor):
            return e.name == self.wrt
        return contains(e, Tensor) and self.wrt in where(e)

    def positions(self, e: Expr) -> tuple[int, ...]:
        """The positions of the children of ``e`` that a sum or product rule
        differentiates, in order: those that mention ``wrt`` (cached in the nodes). A
        subclass may list more (their holes then stand for zeros)."""
        return where(e).get(self.wrt, ())

    def answer(self, e: Expr) -> Expr:
        """The tensor that holds ``e``'s value, or ``e``."""
        return self.answers.get(e, e)

    def d(self, e: Expr) -> Terms:  # pragma: no cover - abstract
        raise NotImplementedError


@dataclass(frozen=True, eq=False)
class Rule:
    """One derivative rule: ``apply(e, h)`` is d e as terms, its sub-derivatives taken
    from the holes ``h``; it applies to ``e`` when ``when(e, h)`` does (None: always).
    ``name`` is how the steps print it, ``formula`` what it says."""

    name: str
    formula: str
    #: takes the node type the rule is filed under in RULES (a Mul for the product rule)
    apply: Callable[[Any, Holes], Terms]
    when: Callable[[Any, Holes], bool] | None = None


def rule_for(e: Expr, h: Holes) -> Rule:
    """The rule that differentiates ``e``: :data:`INDEPENDENT` when ``e`` does not mention
    ``h.wrt``, else the first entry of ``RULES[type(e)]`` whose condition holds."""
    if not h.has(e):
        return INDEPENDENT
    for r in RULES[type(e)]:
        if r.when is None or r.when(e, h):
            return r
    raise AssertionError(f"no derivative rule applies to {type(e).__name__}")  # pragma: no cover


class _Engine(Holes):
    """The engine's holes: a child's derivative, computed recursively and memoised per
    node (a shared subtree is differentiated once). Only the children that mention
    ``wrt`` are visited (:func:`~ricci.ir.traversal.where`, cached in the nodes): the derivatives
    of one statement w.r.t. each of the n tensors it reads cost O(n) together, not O(n)
    each."""

    def __init__(self, wrt: str, fresh: Sequence[Index], answers: Mapping[Expr, Expr]) -> None:
        super().__init__(wrt, fresh, answers)
        self.memo: dict[Expr, Terms] = {}

    def d(self, e: Expr) -> Terms:
        hit = self.memo.get(e)
        if hit is None:
            tick()
            hit = rule_for(e, self).apply(e, self)
            self.memo[e] = hit
        return hit


def derivative_terms(e: Expr, wrt: str, fresh: Sequence[Index],
                     answers: Mapping[Expr, Expr] | None = None) -> Terms:
    """d e / d wrt[fresh] as a list of terms.

    ``answers`` maps a function call to an expression that already holds its value (the
    left-hand side that defines it), so derivatives such as ``1 - tanh(z)^2`` reuse it.
    """
    return _Engine(wrt, fresh, answers or {}).d(e)


def chain_slope(e: Call, h: Holes) -> Expr:
    """``fn'(u)`` of ``e = fn(u)``, from the function table (it may use the call's value)."""
    (u,) = e.args
    return FUNCTIONS[e.fn].deriv(u, h.answer(e))


def _factors(t: Expr) -> tuple[Expr, ...]:
    """The factors of a derivative term, to splice into the product that holds it: a term
    of a nested chain (``exp(exp(x))``, ``x^x^x``) is one flat product, built once, rather
    than products nested as deep as the chain, each of which the simplifier would
    flatten and sort again (cubic in the depth). A term holding a sum stays one factor:
    the simplifier hoists its sums out of the inner product first, and that order
    decides the names of the summed indices printed."""
    return t.factors if isinstance(t, Mul) and not contains(t, Sum) else (t,)


def _mul(fs: Sequence[Expr]) -> Expr:
    """The product of ``fs`` (one factor is itself, none is 1)."""
    return ONE if not fs else fs[0] if len(fs) == 1 else Mul(fs)


# ---------------------------------------------------------------- rules


def _d_tensor(e: Tensor, h: Holes) -> Terms:
    # d X[a,b] / d X[p,q] = delta[a,p] * delta[b,q]  (another tensor is INDEPENDENT)
    return [_mul([Delta((a, p)) for a, p in zip(e.indices, h.fresh)])]


def _d_zero(e: Expr, h: Holes) -> Terms:
    return []


def _d_add(e: Add, h: Holes) -> Terms:
    # d (f + g) = df + dg
    return [t for k in h.positions(e) for t in h.d(e.terms[k])]


def _reciprocal(e: Mul, h: Holes) -> int | None:
    """The position of the one factor ``g^-1`` whose ``g`` mentions X, else None."""
    at = [k for k in h.positions(e) if isinstance(f := e.factors[k], Pow)
          and f.exp == Const(-1) and h.has(f.base)]
    return at[0] if len(at) == 1 else None


def _product(e: Mul, h: Holes, d: Callable[[Expr], Terms]) -> Terms:
    """d (f * g) = df * g + f * dg, with ``d`` giving each factor's derivative; a factor
    repeated m times (x * x * ... * x) gives one term m * (the term of its first
    occurrence), not m alike terms of the whole product."""
    out: Terms = []
    fs = e.factors
    at = h.positions(e)  # (the other factors' derivatives are 0)
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
        for t in d(f):
            tick()
            term: Expr = Mul(fs[:k] + _factors(t) + fs[k + 1:])
            out.append(term if m == 1 else Mul((Const(m), term)))
    return out


def _d_mul(e: Mul, h: Holes) -> Terms:
    return _product(e, h, h.d)


def _d_quotient(e: Mul, h: Holes) -> Terms:
    # d (f / g) = df / g + f d(g^-1) = df / g - f dg / g^2: the product rule, with the
    # reciprocal's derivative written out at once by the power rule (so the engine's
    # terms are the product rule's, and the steps show one step, not two)
    k = _reciprocal(e, h)
    assert k is not None
    r = e.factors[k]
    return _product(e, h, lambda f: POWER.apply(f, h) if f == r else h.d(f))


def _d_sum(e: Sum, h: Holes) -> Terms:
    # d sum[k](f) = sum[k](df)
    return [Sum(e.indices, t) for t in h.d(e.body)]


def _d_pow(e: Pow, h: Holes) -> Terms:
    # d f^c = c * f^(c-1) * df  (f^1 written f)
    b, c = e.base, e.exp
    assert isinstance(c, Const)
    lower = b if c.value == 2 else Pow(b, Const(c.value - 1))
    return [Mul((c, lower) + _factors(t)) for t in h.d(b)]


def _d_general_pow(e: Pow, h: Holes) -> Terms:
    # d f^g = g * f^(g-1) * df + f^g * log(f) * dg
    b, x = e.base, e.exp
    out: Terms = []
    if h.has(b):
        out += [Mul((x, Pow(b, Add((x, Const(-1))))) + _factors(t)) for t in h.d(b)]
    if h.has(x):
        out += [Mul((h.answer(e), Call("log", (b,))) + _factors(t)) for t in h.d(x)]
    return out


def _d_matfn(e: MatFn, h: Holes) -> Terms:
    # d fn(A) / d A[p,q] from the table: -inv(A)[i,p] inv(A)[q,j], det(A) inv(A)[q,p], ...
    # (the operand is a tensor by name: an intermediate is chained by the caller)
    return [MATRIX_FUNCTIONS[e.fn].deriv(e, h.fresh, h.answer(e))]


def _d_call(e: Call, h: Holes) -> Terms:
    # d fn(u) = fn'(u) * du
    inner = h.d(e.args[0])
    if not inner:
        return []
    slope = chain_slope(e, h)
    return [Mul((slope,) + _factors(t)) for t in inner]


# ---------------------------------------------------------------- the table

SELF = Rule("derivative of a tensor by itself", "d X[a,b] / d X[p,q] = delta[a,p] delta[b,q]",
            _d_tensor)
INDEPENDENT = Rule("derivative of an independent tensor (zero)",
                   "d A / d X = 0 when A does not mention X (constants, sizes, deltas too)",
                   _d_zero)
SUM = Rule("sum rule", "d (f + g) = df + dg", _d_add)
QUOTIENT = Rule("quotient rule", "d (f / g) = df / g - f dg / g^2", _d_quotient,
                when=lambda e, h: _reciprocal(e, h) is not None)
PRODUCT = Rule("product rule", "d (f g) = df g + f dg", _d_mul)
SUMMATION = Rule("summation", "d sum[k](f) = sum[k](df)", _d_sum)
POWER = Rule("power rule", "d f^c = c f^(c-1) df", _d_pow,
             when=lambda e, h: isinstance(e.exp, Const))
GENERAL_POWER = Rule("power rule", "d f^g = g f^(g-1) df + f^g log(f) dg", _d_general_pow)
CHAIN = Rule("chain rule (elementwise function)", "d fn(u) = fn'(u) du", _d_call)
MATRIX = Rule("derivative of a matrix function", "d inv(A) = -inv(A) dA inv(A), ...", _d_matfn)

#: node type -> its rules, tried in order (the first whose ``when`` holds applies)
RULES: dict[type, tuple[Rule, ...]] = {
    Tensor: (SELF,),
    Const: (INDEPENDENT,),
    Size: (INDEPENDENT,),
    Delta: (INDEPENDENT,),
    Add: (SUM,),
    Mul: (QUOTIENT, PRODUCT),
    Sum: (SUMMATION,),
    Pow: (POWER, GENERAL_POWER),
    Call: (CHAIN,),
    MatFn: (MATRIX,),
}
