"""Canonical forms: the order of terms, factors and delta indices, and a key for an
expression up to the names of its summed indices.

:func:`alpha_key` renames every summed index canonically (by the position of its first
occurrence among the sum's factors sorted with the summed indices masked), so two
expressions with one key are equal up to the names of their summed indices, and those
that differ only in such names get one key: like terms are found by a dictionary lookup
(``add-like-terms`` in :mod:`.terms`), and code generation computes a repeated
subexpression once. The order is that of :class:`~ricci.ir.expr.Expr` (``<``, the order
of the structural keys; a comparison stops at the first child whose hash differs).

The rules (``add-sort``, ``mul-sort``, ``delta-sort``) are the last rules written as code
tried on their node type. Why they terminate: each sorts children into canonical order,
which is idempotent (a node already in order is left as it is).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

from ..ir.expr import Add, Delta, Expr, Index, Mul, Size, Sum, Tensor
from ..ir.indices import substitute
from ..ir.traversal import contains, distinct
from .rules import Rule, registrar

__all__ = ["ORDER_RULES", "alpha_key"]

#: the rules of this module, in the order they are tried on a node of their type
ORDER_RULES: list[Rule] = []
rule = registrar(ORDER_RULES)


def _sorted(items: Iterable[Expr]) -> list[Expr]:
    return sorted(items)  # (Expr.__lt__: the order of the keys)


@lru_cache(maxsize=65536)
def alpha_key(e: Expr) -> Expr:
    """A key equal for expressions that differ only in the names of summed indices: ``e``
    with its summed indices renamed canonically (an expression, so hashing it is O(1))."""
    return _canon(e, {}, {})


def _height(e: Expr, memo: dict[Expr, int]) -> int:
    """The depth of nested sums in ``e``."""
    if not contains(e, Sum):
        return 0
    hit = memo.get(e)
    if hit is None:
        if isinstance(e, Sum):
            hit = 1 + _height(e.body, memo)
        else:
            hit = max((_height(c, memo) for c in e.children), default=0)
        memo[e] = hit
    return hit


def _canon(e: Expr, heights: dict[Expr, int], memo: dict[Expr, Expr]) -> Expr:
    if not contains(e, Sum):
        return e
    hit = memo.get(e)
    if hit is None:
        hit = memo[e] = _canon_node(e, heights, memo)
    return hit


def _canon_node(e: Expr, heights: dict[Expr, int], memo: dict[Expr, Expr]) -> Expr:
    if isinstance(e, Sum):
        body = _canon(e.body, heights, memo)
        h = _height(e, heights)
        bound = set(e.indices)
        masked = substitute(body, {b: Index("*", b.dim) for b in bound}) if bound else body
        factors = list(body.factors) if isinstance(body, Mul) else [body]
        mfactors = list(masked.factors) if isinstance(masked, Mul) else [masked]
        order = sorted(range(len(factors)), key=lambda k: mfactors[k])
        names: dict[Index, Index] = {}
        for k in order:
            for n in distinct(factors[k]):  # (first occurrences: as in walk's order)
                idx = n.indices if isinstance(n, (Tensor, Delta)) else (
                    (n.index,) if isinstance(n, Size) else ())
                for i in idx:
                    if i in bound and i not in names:
                        names[i] = Index(f"\x00{h}.{len(names)}", i.dim)
        for b in e.indices:
            if b not in names:
                names[b] = Index(f"\x00{h}.{len(names)}", b.dim)
        body2 = substitute(body, names)
        if isinstance(body2, Mul):
            body2 = Mul(_sorted(body2.factors))
        return Sum(sorted(names[b] for b in e.indices), body2)
    kids = e.children
    return e.rebuild([_canon(k, heights, memo) for k in kids]) if kids else e


# ---------------------------------------------------------------- sorting


@rule("add-sort", Add, "b + a -> a + b")
def _add_sort(e: Add) -> Expr | None:
    s = _sorted(e.terms)
    return None if all(a is b for a, b in zip(s, e.terms)) else Add(s)


@rule("mul-sort", Mul, "b * 2 * a -> 2 * a * b")
def _mul_sort(e: Mul) -> Expr | None:
    s = _sorted(e.factors)
    return None if all(a is b for a, b in zip(s, e.factors)) else Mul(s)


@rule("delta-sort", Delta, "delta[p,i] -> delta[i,p]")
def _delta_sort(e: Delta) -> Expr | None:
    s = tuple(sorted(e.indices))
    return None if s == e.indices else Delta(s)
