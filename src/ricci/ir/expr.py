"""The expression IR: immutable nodes with structural equality, named indices, explicit sums.

Invariants (every stage relies on them):

* Nodes are immutable. Equality, hashing and order are structural, defined by ``_key``:
  a tuple of the node's rank, its fields and its children (the nodes themselves). Two
  nodes are equal when their keys are; ``a < b`` compares keys lexicographically (the
  canonical order of factors and terms). ``_hash`` is computed once, at construction,
  from the key, whose children hash in O(1) (their own cached hash): building a node
  costs O(number of children) however deep it is. Comparing two nodes stops at the
  first child whose hash differs, so it costs O(depth) for unequal trees, never
  O(depth^2) as nested tuples of keys would; the outcomes for pairs of larger trees are
  memoised (bounded, cleared after each derivation). Small constants are interned
  (``Const(2) is Const(2)``).
* ``nodes`` is the number of nodes of the tree, shared subtrees counted each time (as
  :func:`walk` visits them): ``1 + sum(c.nodes for c in children)``, computed at
  construction, so the size of an expression (and the ``expression_nodes`` limit) is
  known in O(1). It can grow exponentially with sharing: it is a Python int.
* ``kinds`` is a bit mask of the node types in the tree (bit ``RANK`` of each), so
  :func:`contains` (is there a ``Sum``, a ``Delta``, ...) is O(1).
* ``_refs`` caches :func:`tensor_refs` of an inner node once asked, and ``_where``
  :func:`where` (``None`` before; a tensor's own refs are never stored, which would make
  a reference cycle).
* No node refers to itself, directly or not, and the tree walkers here are objects, not
  recursive closures: nothing creates a reference cycle, so every intermediate
  expression is freed as soon as it is unused (reverse mode pauses the cyclic collector).
* An :class:`Index` is a ``(name, dim)`` pair. ``name`` is what a person reads; ``dim``
  labels the size class (two indices with the same ``dim`` always have the same size).
  Positional axis numbers never appear in an expression.
* ``Mul`` is an elementwise product over the union of its factors' free indices: it
  never sums. Summation happens only in ``Sum`` nodes, so the pseudo-Einstein convention
  of the surface language is resolved before anything reaches this module.
* ``Add`` broadcasts: each term is broadcast over the free indices it lacks.
* ``free`` is the frozenset of free indices of a node. ``Size(k)`` has no free index:
  it is a number (the size of ``k``'s dim), but renaming ``k`` renames it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction
from typing import NamedTuple

from . import printing

__all__ = [
    "Add", "Call", "Const", "Delta", "Deriv", "Expr", "Index", "MatFn", "Max", "MINUS_ONE", "Mul",
    "ONE", "Pow", "Size", "Sum", "Tensor", "Transposed", "ZERO", "clear_order_memo", "neg", "operand",
    "sub",
]


class Index(NamedTuple):
    """A named index; ``dim`` is its size class."""

    name: str
    dim: str

    def __repr__(self) -> str:
        return self.name


def _frac(v: float | str | Fraction) -> Fraction:
    if isinstance(v, Fraction):
        return v
    if isinstance(v, float):
        return Fraction(repr(v))
    return Fraction(v)


class Expr:
    """Base class of all expression nodes."""

    __slots__ = ("_hash", "_key", "_refs", "_where", "free", "kinds", "nodes")
    RANK = -1

    _key: tuple
    _hash: int
    free: frozenset[Index]
    nodes: int
    kinds: int
    _refs: tuple[Tensor, ...] | None
    _where: dict[str, tuple[int, ...]] | None

    def _seal(self, key: tuple, free: frozenset[Index], kids: tuple[Expr, ...] = ()) -> None:
        """Set the key, the free indices, the hash, the node count and the kinds."""
        self._key = key
        self._hash = hash(key)
        self.free = free
        n = 1
        kinds = 1 << self.RANK
        for k in kids:
            n += k.nodes
            kinds |= k.kinds
        self.nodes = n
        self.kinds = kinds
        self._refs = None
        self._where = None

    def __eq__(self, other: object) -> bool:
        if self is other:
            return True
        if not isinstance(other, Expr):
            return NotImplemented
        return self._hash == other._hash and self._key == other._key

    def __ne__(self, other: object) -> bool:
        r = self.__eq__(other)
        return r if r is NotImplemented else not r

    def __hash__(self) -> int:
        return self._hash

    def __lt__(self, other: Expr) -> bool:
        if self is other:
            return False
        if self.nodes < _DEEP or other.nodes < _DEEP:
            return _key_lt(self._key, other._key)
        pair = (self, other)
        hit = _ORDER.get(pair)
        if hit is None:
            hit = _key_lt(self._key, other._key)
            if len(_ORDER) >= _ORDER_SIZE:
                _ORDER.clear()
            _ORDER[pair] = hit
        return hit

    def __gt__(self, other: Expr) -> bool:
        return other.__lt__(self)

    @property
    def children(self) -> tuple[Expr, ...]:
        return ()

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        """The same node with new children (in the order of :attr:`children`)."""
        return self

    def __repr__(self) -> str:
        p = printing.printer()
        return p.expr(self) if p is not None else f"<{type(self).__name__}>"


#: comparisons of big trees are memoised (by the pair of nodes, a bounded cache): sorting
#: the factors of many products of deep expressions (x^x^...^x) compares the same pairs
#: again and again, and each comparison walks down the common prefix of the two trees
_DEEP = 4
_ORDER_SIZE = 1 << 18
_ORDER: dict[tuple[Expr, Expr], bool] = {}


def _key_lt(a: tuple, b: tuple) -> bool:
    """``a < b`` for two keys, as tuple comparison decides it (the first unequal element
    decides; a proper prefix is smaller), in one pass: an element is skipped when it is
    the same object, and two nodes are told unequal by their hashes, so each level of
    the trees costs one call."""
    for x, y in zip(a, b):
        if x is y:
            continue
        if isinstance(x, Expr):
            if x._hash == y._hash and x._key == y._key:
                continue
            return x.__lt__(y)
        if type(x) is tuple:  # children (a tuple of nodes), or indices (a tuple of Index)
            if x == y:
                continue
            return _key_lt(x, y)
        if x == y:
            continue
        return bool(x < y)
    return len(a) < len(b)


def clear_order_memo() -> None:
    """Forget the memoised comparisons (at the end of a derivation)."""
    _ORDER.clear()


#: the constants with a small numerator and denominator, one node per value (``Const(2)``
#: is always the same object, so comparing keys that hold it stops at identity)
_CONSTS: dict[Fraction, Const] = {}


class Const(Expr):
    """An exact rational constant. Small values (numerator and denominator at most 1024)
    are interned: one node per value."""

    __slots__ = ("value",)
    RANK = 0
    value: Fraction

    def __new__(cls, value: float | str | Fraction) -> Const:  # noqa: PYI034 (never subclassed)
        v = _frac(value)
        small = abs(v.numerator) <= 1024 and v.denominator <= 1024
        if small:
            hit = _CONSTS.get(v)
            if hit is not None:
                return hit
        self = super().__new__(cls)
        self.value = v
        self._seal((0, v), frozenset())
        # a number's hash is its value modulo 2^61 - 1, so 2^k and 2^(k+61) collide: the
        # size of the numerator goes into the hash (a chain of doublings makes thousands)
        self._hash = hash((0, v, v.numerator.bit_length()))
        if small and len(_CONSTS) < 65536:
            _CONSTS[v] = self
        return self

    def __init__(self, value: float | str | Fraction) -> None:
        pass  # (sealed by __new__)

    def __reduce__(self) -> tuple:
        return (Const, (self.value,))


class Size(Expr):
    """The size of an index's dim, as a number."""

    __slots__ = ("index",)
    RANK = 1

    def __init__(self, index: Index) -> None:
        self.index = index
        self._seal((1, index), frozenset())


class Tensor(Expr):
    """A reference ``name[indices]`` to an input or a defined tensor (``()`` for a scalar)."""

    __slots__ = ("indices", "name")
    RANK = 2

    def __init__(self, name: str, indices: Sequence[Index] = ()) -> None:
        self.name = name
        self.indices = tuple(indices)
        self._seal((2, name, self.indices), frozenset(self.indices))


class Call(Expr):
    """An elementwise function ``fn(args...)`` from the table in :mod:`ricci.primitives.functions`."""

    __slots__ = ("args", "fn")
    RANK = 3

    def __init__(self, fn: str, args: Sequence[Expr]) -> None:
        self.fn = fn
        self.args = tuple(args)
        free = frozenset().union(*(a.free for a in self.args))
        self._seal((3, fn, self.args), free, self.args)

    @property
    def children(self) -> tuple[Expr, ...]:
        return self.args

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        return Call(self.fn, children)


class Pow(Expr):
    """``base ^ exponent``, elementwise."""

    __slots__ = ("base", "exp")
    RANK = 4

    def __init__(self, base: Expr, exp: Expr) -> None:
        self.base = base
        self.exp = exp
        self._seal((4, base, exp), base.free | exp.free, (base, exp))

    @property
    def children(self) -> tuple[Expr, ...]:
        return (self.base, self.exp)

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        return Pow(children[0], children[1])


class Mul(Expr):
    """Elementwise product of its factors (never sums)."""

    __slots__ = ("factors",)
    RANK = 5

    def __init__(self, factors: Sequence[Expr]) -> None:
        self.factors = tuple(factors)
        free = frozenset().union(*(f.free for f in self.factors))
        self._seal((5, self.factors), free, self.factors)

    @property
    def children(self) -> tuple[Expr, ...]:
        return self.factors

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        return Mul(children)


class Add(Expr):
    """Sum of terms, each broadcast over the free indices it lacks."""

    __slots__ = ("terms",)
    RANK = 6

    def __init__(self, terms: Sequence[Expr]) -> None:
        self.terms = tuple(terms)
        free = frozenset().union(*(t.free for t in self.terms))
        self._seal((6, self.terms), free, self.terms)

    @property
    def children(self) -> tuple[Expr, ...]:
        return self.terms

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        return Add(children)


class Sum(Expr):
    """``sum[indices](body)``: the only node that sums."""

    __slots__ = ("body", "indices")
    RANK = 7

    def __init__(self, indices: Sequence[Index], body: Expr) -> None:
        self.indices = tuple(indices)
        self.body = body
        self._seal((7, self.indices, body), body.free - frozenset(self.indices), (body,))

    @property
    def children(self) -> tuple[Expr, ...]:
        return (self.body,)

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        return Sum(self.indices, children[0])


class Max(Expr):
    """``max[indices](body)``: the largest value over the indices. Only code generation
    builds it (the stable form of a softmax subtracts a row maximum); it has no
    derivative and never appears in a derivation."""

    __slots__ = ("body", "indices")
    RANK = 12

    def __init__(self, indices: Sequence[Index], body: Expr) -> None:
        self.indices = tuple(indices)
        self.body = body
        self._seal((12, self.indices, body), body.free - frozenset(self.indices), (body,))

    @property
    def children(self) -> tuple[Expr, ...]:
        return (self.body,)

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        return Max(self.indices, children[0])


class Delta(Expr):
    """The Kronecker delta: 1 where all its indices are equal, else 0."""

    __slots__ = ("indices",)
    RANK = 8

    def __init__(self, indices: Sequence[Index]) -> None:
        self.indices = tuple(indices)
        self._seal((8, self.indices), frozenset(self.indices))


class MatFn(Expr):
    """A function of a whole square matrix, from the table in :mod:`ricci.primitives.functions`:
    ``inv(A)[i,j]`` (``out = (i,j)``: an element of the inverse), ``det(A)``, ``logdet(A)``
    (``out = ()``: a number).

    ``arg`` is the operand, always a tensor named by itself: ``Tensor(A, (#r, #c))``, whose
    two indices are the operand's own rows and columns, bound inside the node (never free,
    always named ``#r`` and ``#c``, so equal calls are equal nodes). It is the node's child,
    so traversals see the tensor ``A``. The free indices are ``out``.
    """

    __slots__ = ("arg", "fn", "out")
    RANK = 11

    def __init__(self, fn: str, arg: Tensor, out: Sequence[Index] = ()) -> None:
        self.fn = fn
        self.arg = arg
        self.out = tuple(out)
        self._seal((11, fn, arg, self.out), frozenset(self.out), (arg,))

    @property
    def children(self) -> tuple[Expr, ...]:
        return (self.arg,)

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        arg = children[0]
        assert isinstance(arg, Tensor)
        return MatFn(self.fn, arg, self.out)

    def with_out(self, out: Sequence[Index]) -> MatFn:
        return MatFn(self.fn, self.arg, out)


def operand(name: str, dim: str) -> Tensor:
    """The operand of a matrix function: ``name[#r,#c]``, a square matrix of size class ``dim``."""
    return Tensor(name, (Index("#r", dim), Index("#c", dim)))


class Deriv(Expr):
    """``d num / d wrt[P]``: an unevaluated derivative, as a person writes it mid-derivation.

    Only step-by-step derivations (:mod:`ricci.display.steps`) build it; it never reaches the
    simplifier's output, code generation or the reference interpreter. ``num`` is any
    expression (``y[i,j]`` or ``x[i,k] * a[k,j]``), ``wrt`` a tensor reference whose
    indices are the denominator's own. Its free indices are those of both.
    """

    __slots__ = ("num", "wrt")
    RANK = 9

    def __init__(self, num: Expr, wrt: Tensor) -> None:
        self.num = num
        self.wrt = wrt
        self._seal((9, num, wrt), num.free | wrt.free, (num, wrt))

    @property
    def children(self) -> tuple[Expr, ...]:
        return (self.num, self.wrt)

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        wrt = children[1]
        assert isinstance(wrt, Tensor)
        return Deriv(children[0], wrt)


class Transposed(Expr):
    """``(A^T)[j,q]``, which is ``A[q,j]``: a matrix written transposed so that a summed
    index sits inside a product, the last step before matrix notation. Display only,
    like :class:`Deriv`."""

    __slots__ = ("indices", "name")
    RANK = 10

    def __init__(self, name: str, indices: Sequence[Index]) -> None:
        self.name = name
        self.indices = tuple(indices)
        assert len(self.indices) == 2
        self._seal((10, name, self.indices), frozenset(self.indices))

    @property
    def plain(self) -> Tensor:
        """The same value as an ordinary reference: ``A[q,j]``."""
        return Tensor(self.name, self.indices[::-1])


ZERO = Const(0)
ONE = Const(1)
MINUS_ONE = Const(-1)


# ---------------------------------------------------------------- small constructors


def neg(x: Expr) -> Expr:
    return Mul((MINUS_ONE, x))


def sub(a: Expr, b: Expr) -> Expr:
    return Add((a, neg(b)))


def div(a: Expr, b: Expr) -> Expr:
    return Mul((a, Pow(b, MINUS_ONE)))


def is_const(e: Expr, value: int | Fraction | None = None) -> bool:
    return isinstance(e, Const) and (value is None or e.value == value)
