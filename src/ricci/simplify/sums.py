"""The index-aware rules: summations and Kronecker deltas.

Invariants: a rewrite never captures an index (a summed index moved into a scope where
its name is taken is renamed apart first, :func:`rename_apart`); a delta eats a summed
index by substituting another of its own indices for it, preferring a free one. The
normal form they reach: every sum outermost in its term (an einsum: ``sum[K](c * f1 *
... * fn)``), no nested, empty or unused summation, and every delta whose index is summed
eaten.

Why they terminate: every rule but three strictly shrinks the tree (removes a node, a
delta, a bound index or an index occurrence). The three others move structure one way
only and never back: ``mul-hoist-sum`` moves a sum outward past a product, ``sum-split``
and ``delta-distribute`` move a sum of terms outward past a summation or a product (as in
computing a disjunctive normal form, which terminates). No rule moves a sum inward or
re-factors a sum of terms, so no sequence of rewrites can cycle.
"""

from __future__ import annotations

from collections import Counter

from ..ir.expr import ONE, ZERO, Add, Const, Delta, Expr, Index, MatFn, Mul, Pow, Size, Sum, Tensor
from ..ir.indices import fresh_name, substitute, successors
from ..ir.traversal import contains, distinct, index_names
from ..primitives.functions import INVERSE
from .rules import Rule, product_of, registrar

__all__ = ["SUM_RULES"]

#: the rules of this module, in the order they are tried on a node of their type
SUM_RULES: list[Rule] = []
rule = registrar(SUM_RULES)


def rename_apart(binders: tuple[Index, ...], body: Expr, avoid: set[Index],
                 avoid_names: set[str]) -> tuple[tuple[Index, ...], Expr]:
    """Rename the binders that are in ``avoid`` to fresh names (same dims)."""
    clash = [b for b in binders if b in avoid]
    if not clash:
        return binders, body
    used = set(avoid_names) | index_names(body) | {b.name for b in binders}
    ren: dict[Index, Index] = {}
    for b in clash:
        nm = fresh_name(used, successors(b.name))
        used.add(nm)
        ren[b] = Index(nm, b.dim)
    return tuple(ren.get(b, b) for b in binders), substitute(body, ren)


def _bound_in(e: Expr) -> set[Index]:
    out: set[Index] = set()
    if contains(e, Sum):
        for n in distinct(e):
            if isinstance(n, Sum):
                out.update(n.indices)
    return out


# ---------------------------------------------------------------- Mul, Pow, Delta


@rule("mul-hoist-sum", Mul, "sum[k](a[k]) * sum[l](b[l]) -> sum[k,l](a[k] * b[l])")
def _mul_hoist(e: Mul) -> Expr | None:
    k = next((n for n, f in enumerate(e.factors) if isinstance(f, Sum)), None)
    if k is None:
        return None
    s = e.factors[k]
    assert isinstance(s, Sum)
    others = list(e.factors[:k]) + list(e.factors[k + 1:])
    avoid: set[Index] = set()
    names: set[str] = set()
    for o in others:
        avoid |= o.free | _bound_in(o)
        names |= index_names(o)
    binders, body = rename_apart(s.indices, s.body, avoid, names)
    return Sum(binders, Mul(others[:k] + [body] + others[k:]))


@rule("pow-of-delta", Pow, "delta[i,j]^2 -> delta[i,j]")
def _pow_delta(e: Pow) -> Expr | None:
    if isinstance(e.base, Delta) and isinstance(e.exp, Const) and e.exp.value > 0:
        return e.base
    return None


@rule("delta-repeat", Delta, "delta[i,i,j] -> delta[i,j];  delta[i,i] -> 1")
def _delta_repeat(e: Delta) -> Expr | None:
    uniq = list(dict.fromkeys(e.indices))
    if len(uniq) == len(e.indices):
        return None
    return ONE if len(uniq) == 1 else Delta(uniq)


# ---------------------------------------------------------------- Sum


@rule("sum-empty", Sum, "sum[](x) -> x")
def _sum_empty(e: Sum) -> Expr | None:
    return e.body if not e.indices else None


@rule("sum-zero", Sum, "sum[k](0 * x[k]) -> 0")
def _sum_zero(e: Sum) -> Expr | None:
    return ZERO if isinstance(e.body, Const) and e.body.value == 0 else None


@rule("sum-nested", Sum, "sum[k](sum[l](A[k,l])) -> sum[k,l](A[k,l])")
def _sum_nested(e: Sum) -> Expr | None:
    if not isinstance(e.body, Sum):
        return None
    inner = e.body
    binders, body = rename_apart(inner.indices, inner.body, set(e.indices), {i.name for i in e.indices})
    return Sum(e.indices + binders, body)


@rule("sum-split", Sum, "sum[k](a[k] + b[k]) -> sum[k](a[k]) + sum[k](b[k])")
def _sum_split(e: Sum) -> Expr | None:
    if not isinstance(e.body, Add):
        return None
    return Add([Sum(e.indices, t) for t in e.body.terms])


@rule("delta-eat", Sum, "sum[j](A[i,j] * delta[j,k]) -> A[i,k]")
def _delta_eat(e: Sum) -> Expr | None:
    factors = list(e.body.factors) if isinstance(e.body, Mul) else [e.body]
    bound = set(e.indices)
    for n, f in enumerate(factors):
        if not isinstance(f, Delta):
            continue
        for k in f.indices:
            if k not in bound:
                continue
            others = [i for i in f.indices if i != k]
            if not others:
                continue
            q = next((i for i in others if i not in bound), others[0])
            rest = factors[:n] + factors[n + 1:]
            if len(set(others)) >= 2:
                rest.append(Delta(others))
            body = substitute(product_of(rest), {k: q})
            left = tuple(i for i in e.indices if i != k)
            return Sum(left, body) if left else body
    return None


def _has_eatable_delta(t: Expr, bound: set[Index]) -> bool:
    fs = t.factors if isinstance(t, Mul) else (t,)
    return any(isinstance(f, Delta) and any(i in bound for i in f.indices) for f in fs)


def _occurrences(factors: list[Expr]) -> Counter[Index]:
    """How many times each index is written in ``factors`` (a bound index inside a
    factor counts too, so a match never reaches into a nested scope)."""
    out: Counter[Index] = Counter()
    for f in factors:
        if isinstance(f, (Tensor, Delta)):
            out.update(f.indices)
        elif isinstance(f, MatFn):
            out.update(f.out)
        else:  # counted twice: an index met here is never one of a matched pair
            for i in f.free | _bound_in(f):
                out[i] += 2
    return out


@rule("inverse-cancel", Sum,
      "sum[k](inv(A)[i,k] * A[k,j]) -> delta[i,j];  "
      "sum[k](A[i,k] * inv(A)[k,j]) -> delta[i,j];  "
      "sum[i,k](B[p,i] * inv(A)[i,k] * A[k,j]) -> B[p,j]")
def _inverse_cancel(e: Sum) -> Expr | None:
    """``sum[k](inv(A)[i,k] * A[k,j])`` and ``sum[k](A[i,k] * inv(A)[k,j])`` are
    ``delta[i,j]``: a matrix times its inverse, on either side (wherever ``inv(A)`` is
    defined, ``A`` is invertible and the identity holds). The summed index ``k`` must
    occur exactly in these two places; the other factors stay. Shrinks the tree: two
    factors and a bound index become one delta (which ``delta-eat`` then eats)."""
    factors = list(e.body.factors) if isinstance(e.body, Mul) else [e.body]
    invs = [(n, f) for n, f in enumerate(factors)
            if isinstance(f, MatFn) and f.fn == INVERSE and len(f.out) == 2]
    if not invs:
        return None
    bound = set(e.indices)
    count = _occurrences(factors)
    for n, f in invs:
        assert isinstance(f, MatFn)
        a, b = f.out
        for m, g in enumerate(factors):
            if not (isinstance(g, Tensor) and g.name == f.arg.name and len(g.indices) == 2):
                continue
            c, d = g.indices
            if b == c and b in bound and count[b] == 2 and a != b and d != b:
                k, pair = b, (a, d)  # inv(A)[a,k] * A[k,d]
            elif a == d and a in bound and count[a] == 2 and b != a and c != a:
                k, pair = a, (c, b)  # A[c,k] * inv(A)[k,b]
            else:
                continue
            rest = [x for q, x in enumerate(factors) if q not in (n, m)]
            rest.append(Delta(pair))
            left = tuple(i for i in e.indices if i != k)
            body = product_of(rest)
            return Sum(left, body) if left else body
    return None


@rule("delta-distribute", Sum,
      "sum[j](A[j] * (delta[j,k] + B[j])) -> A[k] + A[j] * B[j]")
def _delta_distribute(e: Sum) -> Expr | None:
    if not isinstance(e.body, Mul):
        return None
    bound = set(e.indices)
    fs = e.body.factors
    for n, f in enumerate(fs):
        if isinstance(f, Add) and any(_has_eatable_delta(t, bound) for t in f.terms):
            rest = list(fs[:n]) + list(fs[n + 1:])
            return Sum(e.indices, Add([Mul(rest + [t]) for t in f.terms]))
    return None


@rule("sum-unused", Sum, "sum[k](x[i]) -> size(k) * x[i]")
def _sum_unused(e: Sum) -> Expr | None:
    unused = [k for k in e.indices if k not in e.body.free]
    if not unused:
        return None
    used = tuple(k for k in e.indices if k in e.body.free)
    inner = Sum(used, e.body) if used else e.body
    return Mul([Size(k) for k in unused] + [inner])
