"""Subexpressions computed once: which nodes of some expressions repeat up to the names of
their free indices (:class:`Repeats`), and their keys (:func:`canonical`, :func:`whole`).

Invariants: nodes with one key are equal up to the names of their indices (the dims
kept), and the map :func:`canonical` returns renames the key's free indices back to the
node's, so a value computed for one serves the other. Finding the repeats is linear in
the size of the expressions (see :class:`Repeats`).
"""

from __future__ import annotations

from itertools import combinations
from typing import Callable, Iterator, Sequence

from ..ir.expr import Add, Call, Const, Delta, Expr, Index, MatFn, Max, Mul, Pow, Size, Sum, Tensor
from ..ir.indices import substitute
from ..ir.traversal import walk
from ..simplify.canonical import alpha_key

__all__ = ["Repeats", "pair_node", "whole"]


class Repeats:
    """The subexpressions of some expressions worth computing once: an ``inv(A)`` read more
    than once (with any indices), and a function call, power, sum, sum of terms or product
    with free indices that occurs more than once up to the names of its indices, outside
    another repeat's later occurrences (``key in repeats`` for a :func:`canonical` key).

    A canonical key costs a substitution, linear in the node's size; it is computed only
    for nodes whose *shape* (the structure with index names dropped, one memoised pass)
    occurs twice, so finding repeats in a deep expression is linear, not quadratic."""

    def __init__(self, exprs: Sequence[Expr]) -> None:
        self._ids: dict[tuple, int] = {}
        self._shape: dict[Expr, int] = {}
        self._canonical: dict[Expr, tuple[Expr, dict[Index, Index]]] = {}
        nodes = [n for e in exprs for n in walk(e) if _eligible(n)]
        count: dict[int, int] = {}
        for n in nodes:
            sh = self.shape(n)
            count[sh] = count.get(sh, 0) + 1
        self._twice = {sh for sh, c in count.items() if c > 1}
        # pre-order, as the lowering meets them: a second occurrence reuses the value, so
        # what is inside it is not computed again and does not count as a repeat (else
        # ``exp(a - b)`` read twice would also put ``a - b`` in a temporary of its own)
        seen: set = set()
        self.keys: set = set()
        self._pair_nodes: dict = {}  # a pair's key -> a product of that pair
        self._pair_memo: dict = {}  # (a, b) -> the key of their pair
        self._pair_shapes: set = set()  # the shapes of pairs that occur twice
        self.pairs = self._shared_pairs(exprs)
        self.keys |= self.pairs
        stack = list(reversed(exprs))
        while stack:
            n = stack.pop()
            if _eligible(n) and self.shape(n) in self._twice:
                key = whole(n) if isinstance(n, MatFn) else self.canonical(n)[0]
                if key in seen:
                    self.keys.add(key)
                    continue
                seen.add(key)
            stack.extend(reversed(n.children))

    def _shared_pairs(self, exprs: Sequence[Expr]) -> set:
        """Keys of the products of two factors that two different products hold (layer
        norm's ``dy[n,d] * g[d]`` in ``dy * g / s`` and in ``sum[d](xc * dy * g)``): the
        pair is computed once and both products read it. A product takes its first pair
        (in the order of its factors) that is shared (:meth:`pair`, as the lowering does),
        so a pair counts only where it is taken: the shared pairs are found by taking them
        until no pair is taken by fewer than two products (each round keeps a subset of
        the last; after :data:`_PAIR_ROUNDS` rounds a pair taken once more is only a
        temporary more, never another value). Factors are tensors or functions of them,
        in products of at most :data:`_PAIR_FACTORS` such factors."""
        products: dict = {}  # the shape of each product -> its factors
        for n in (n for e in exprs for n in walk(e) if isinstance(n, Mul) and n.free):
            products.setdefault(self.shape(n), list(n.factors))  # the same product counts once
        # a pair's key (a substitution) is made only for pairs whose shapes meet twice
        shapes: dict = {}
        for factors in products.values():
            for a, b in combinations(_pairable(factors), 2):
                sp = self._shape_pair(a, b)
                shapes[sp] = shapes.get(sp, 0) + 1
        self._pair_shapes = {sp for sp, c in shapes.items() if c > 1}
        shared = None
        for _ in range(_PAIR_ROUNDS):
            counts: dict = {}
            for factors in products.values():
                keys = [k for _, _, k in self._candidates(factors)] if shared is None else \
                    [k for _, _, k in self._candidates(factors) if k in shared][:1]
                for key in keys:
                    counts[key] = counts.get(key, 0) + 1
            taken = {k for k, c in counts.items() if c > 1}
            if taken == shared:
                break
            shared = taken
        shared = shared or set()
        self._twice |= {self.shape(self._pair_nodes[k]) for k in shared}
        return shared

    def pair(self, factors: list[Expr]) -> tuple[Expr, Expr] | None:
        """The two factors of the first shared pair of ``factors`` (:attr:`pairs`)."""
        return next(((a, b) for a, b, k in self._candidates(factors) if k in self.pairs), None)

    def _candidates(self, factors: list[Expr]) -> Iterator[tuple[Expr, Expr, object]]:
        """Every pair of ``factors`` that may be shared (its shapes meet elsewhere), in
        order, with its key."""
        for a, b in combinations(_pairable(factors), 2):
            if self._shape_pair(a, b) in self._pair_shapes:
                yield a, b, self._pair_key(a, b)

    def _shape_pair(self, a: Expr, b: Expr) -> tuple[int, int]:
        x, y = self.shape(a), self.shape(b)
        return (x, y) if x <= y else (y, x)

    def _pair_key(self, a: Expr, b: Expr) -> object:
        hit = self._pair_memo.get((a, b))
        if hit is None:
            node = pair_node(a, b, self.shape)
            hit = self._pair_memo[(a, b)] = self.canonical(node)[0]
            self._pair_nodes.setdefault(hit, node)
        return hit

    def __contains__(self, key: object) -> bool:
        return key in self.keys

    def canonical(self, e: Expr) -> tuple[Expr, dict[Index, Index]]:
        """:func:`canonical`, computed once per node."""
        hit = self._canonical.get(e)
        if hit is None:
            hit = self._canonical[e] = canonical(e)
        return hit

    def may_repeat(self, e: Expr) -> bool:
        """False when no other node has ``e``'s shape: then it is no repeat."""
        return self.shape(e) in self._twice

    def shape(self, e: Expr) -> int:
        """A number for ``e``'s structure with its index names dropped (dims kept), equal for
        nodes equal up to index names."""
        hit = self._shape.get(e)
        if hit is not None:
            return hit
        if isinstance(e, (Tensor, Delta)):
            own: tuple = (type(e).__name__, getattr(e, "name", ""), tuple(i.dim for i in e.indices))
        elif isinstance(e, MatFn):
            own = ("MatFn", e.fn, e.arg.name, tuple(i.dim for i in e.out))
        elif isinstance(e, Size):
            own = ("Size", e.index.dim)
        elif isinstance(e, Const):
            own = ("Const", e.value)
        elif isinstance(e, (Sum, Max)):
            own = (type(e).__name__, tuple(i.dim for i in e.indices), self.shape(e.body))
        else:
            own = (type(e).__name__, getattr(e, "fn", ""), tuple(self.shape(k) for k in e.children))
        out = self._ids.setdefault(own, len(self._ids))
        self._shape[e] = out
        return out


#: rounds of taking pairs (two or three settle every program seen)
_PAIR_ROUNDS = 8
#: products with more factors than this are not searched for shared pairs (the pairs of a
#: product are quadratic in its factors)
_PAIR_FACTORS = 8


def pair_node(a: Expr, b: Expr, shape: Callable[[Expr], int]) -> Mul:
    """The product of two factors in an order that does not depend on where they stand
    (by their shapes), so that the same pair in two products has one key."""
    return Mul((a, b) if shape(a) <= shape(b) else (b, a))


def _pairable(factors: Sequence[Expr]) -> list[Expr]:
    """The factors a shared pair may be made of: tensors and functions of them, in a
    product of at most :data:`_PAIR_FACTORS` of them (else none)."""
    fs: list[Expr] = [f for f in factors if isinstance(f, (Tensor, Call, Pow)) and f.free]
    return fs if len(fs) <= _PAIR_FACTORS else []


def _eligible(n: Expr) -> bool:
    """Nodes worth computing once when they repeat: an ``inv(A)``, and calls, powers,
    sums, sums of terms and products with free indices (a repeated scalar is cheap)."""
    return isinstance(n, MatFn) or (isinstance(n, (Call, Pow, Sum, Add, Mul)) and bool(n.free))


def canonical(e: Expr) -> tuple[Expr, dict[Index, Index]]:
    """``e`` with its free indices renamed ``~0, ~1, ...`` in order of appearance (dims
    kept), and the map back: ``exp(z[n,k])`` and ``exp(z[p,q])`` have one key, so a value
    computed for one serves the other (its axes renamed)."""
    order: list[Index] = []
    for n in walk(e):
        for i in getattr(n, "indices", ()) if isinstance(n, (Tensor, Delta)) else ():
            if i in e.free and i not in order:
                order.append(i)
    for i in sorted(e.free - set(order)):
        order.append(i)
    ren = {i: Index(f"~{k}", i.dim) for k, i in enumerate(order)}
    key = alpha_key(substitute(e, ren))
    return key, {v: k for k, v in ren.items()}


def whole(e: MatFn) -> MatFn:
    """The call with canonical result indices: the same key for ``inv(A)[i,j]`` and
    ``inv(A)[q,p]`` (both read the one matrix ``inv(A)``)."""
    return e.with_out(e.arg.indices[:len(e.out)])
