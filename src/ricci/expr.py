"""The expression IR: immutable nodes with structural equality, named indices, explicit sums.

Invariants (every stage relies on them):

* Nodes are immutable. Equality and hashing are structural and computed once, at
  construction, from ``_key`` (a tuple of the node's rank, fields and children's keys),
  so comparing or hashing a subtree is O(1) after it is built.
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

from fractions import Fraction
from typing import Callable, Iterable, Iterator, Mapping, NamedTuple, Sequence


class Index(NamedTuple):
    """A named index; ``dim`` is its size class."""

    name: str
    dim: str

    def __repr__(self) -> str:
        return self.name


def _frac(v: int | float | str | Fraction) -> Fraction:
    if isinstance(v, Fraction):
        return v
    if isinstance(v, float):
        return Fraction(repr(v))
    return Fraction(v)


class Expr:
    """Base class of all expression nodes."""

    __slots__ = ("_key", "_hash", "free")
    RANK = -1

    _key: tuple
    _hash: int
    free: frozenset[Index]

    def _seal(self, key: tuple, free: frozenset[Index]) -> None:
        self._key = key
        self._hash = hash(key)
        self.free = free

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

    @property
    def children(self) -> tuple["Expr", ...]:
        return ()

    def rebuild(self, children: Sequence["Expr"]) -> "Expr":
        """The same node with new children (in the order of :attr:`children`)."""
        return self

    def __repr__(self) -> str:
        from .render import expr_text

        return expr_text(self)


class Const(Expr):
    """An exact rational constant."""

    __slots__ = ("value",)
    RANK = 0

    def __init__(self, value: int | float | str | Fraction) -> None:
        self.value = _frac(value)
        self._seal((0, self.value), frozenset())


class Size(Expr):
    """The size of an index's dim, as a number."""

    __slots__ = ("index",)
    RANK = 1

    def __init__(self, index: Index) -> None:
        self.index = index
        self._seal((1, index), frozenset())


class Tensor(Expr):
    """A reference ``name[indices]`` to an input or a defined tensor (``()`` for a scalar)."""

    __slots__ = ("name", "indices")
    RANK = 2

    def __init__(self, name: str, indices: Sequence[Index] = ()) -> None:
        self.name = name
        self.indices = tuple(indices)
        self._seal((2, name, self.indices), frozenset(self.indices))


class Call(Expr):
    """An elementwise function ``fn(args...)`` from the table in :mod:`ricci.functions`."""

    __slots__ = ("fn", "args")
    RANK = 3

    def __init__(self, fn: str, args: Sequence[Expr]) -> None:
        self.fn = fn
        self.args = tuple(args)
        free = frozenset().union(*(a.free for a in self.args))
        self._seal((3, fn, tuple(a._key for a in self.args)), free)

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
        self._seal((4, base._key, exp._key), base.free | exp.free)

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
        self._seal((5, tuple(f._key for f in self.factors)), free)

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
        self._seal((6, tuple(t._key for t in self.terms)), free)

    @property
    def children(self) -> tuple[Expr, ...]:
        return self.terms

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        return Add(children)


class Sum(Expr):
    """``sum[indices](body)``: the only node that sums."""

    __slots__ = ("indices", "body")
    RANK = 7

    def __init__(self, indices: Sequence[Index], body: Expr) -> None:
        self.indices = tuple(indices)
        self.body = body
        self._seal((7, self.indices, body._key), body.free - frozenset(self.indices))

    @property
    def children(self) -> tuple[Expr, ...]:
        return (self.body,)

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        return Sum(self.indices, children[0])


class Max(Expr):
    """``max[indices](body)``: the largest value over the indices. Only code generation
    builds it (the stable form of a softmax subtracts a row maximum); it has no
    derivative and never appears in a derivation."""

    __slots__ = ("indices", "body")
    RANK = 12

    def __init__(self, indices: Sequence[Index], body: Expr) -> None:
        self.indices = tuple(indices)
        self.body = body
        self._seal((12, self.indices, body._key), body.free - frozenset(self.indices))

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
    """A function of a whole square matrix, from the table in :mod:`ricci.functions`:
    ``inv(A)[i,j]`` (``out = (i,j)``: an element of the inverse), ``det(A)``, ``logdet(A)``
    (``out = ()``: a number).

    ``arg`` is the operand, always a tensor named by itself: ``Tensor(A, (#r, #c))``, whose
    two indices are the operand's own rows and columns, bound inside the node (never free,
    always named ``#r`` and ``#c``, so equal calls are equal nodes). It is the node's child,
    so traversals see the tensor ``A``. The free indices are ``out``.
    """

    __slots__ = ("fn", "arg", "out")
    RANK = 11

    def __init__(self, fn: str, arg: Tensor, out: Sequence[Index] = ()) -> None:
        self.fn = fn
        self.arg = arg
        self.out = tuple(out)
        self._seal((11, fn, arg._key, self.out), frozenset(self.out))

    @property
    def children(self) -> tuple[Expr, ...]:
        return (self.arg,)

    def rebuild(self, children: Sequence[Expr]) -> Expr:
        arg = children[0]
        assert isinstance(arg, Tensor)
        return MatFn(self.fn, arg, self.out)

    def with_out(self, out: Sequence[Index]) -> "MatFn":
        return MatFn(self.fn, self.arg, out)


def operand(name: str, dim: str) -> Tensor:
    """The operand of a matrix function: ``name[#r,#c]``, a square matrix of size class ``dim``."""
    return Tensor(name, (Index("#r", dim), Index("#c", dim)))


class Deriv(Expr):
    """``d num / d wrt[P]``: an unevaluated derivative, as a person writes it mid-derivation.

    Only step-by-step derivations (:mod:`ricci.steps`) build it; it never reaches the
    simplifier's output, code generation or the reference interpreter. ``num`` is any
    expression (``y[i,j]`` or ``x[i,k] * a[k,j]``), ``wrt`` a tensor reference whose
    indices are the denominator's own. Its free indices are those of both.
    """

    __slots__ = ("num", "wrt")
    RANK = 9

    def __init__(self, num: Expr, wrt: Tensor) -> None:
        self.num = num
        self.wrt = wrt
        self._seal((9, num._key, wrt._key), num.free | wrt.free)

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

    __slots__ = ("name", "indices")
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


# ---------------------------------------------------------------- traversal


def walk(e: Expr) -> Iterator[Expr]:
    """Pre-order traversal of every node (shared subtrees are visited each time)."""
    stack = [e]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.children))


def map_bottom_up(e: Expr, fn: Callable[[Expr], Expr], memo: dict | None = None) -> Expr:
    """Rebuild ``e`` applying ``fn`` to every node after its children (memoised per call)."""
    memo = {} if memo is None else memo

    def go(n: Expr) -> Expr:
        hit = memo.get(n)
        if hit is not None:
            return hit
        kids = n.children
        if kids:
            new = tuple(go(k) for k in kids)
            if any(a is not b for a, b in zip(new, kids)):
                n2 = n.rebuild(new)
            else:
                n2 = n
        else:
            n2 = n
        out = fn(n2)
        memo[n] = out
        return out

    return go(e)


def index_occurrences(e: Expr) -> set[Index]:
    """Every index mentioned anywhere in ``e``: free, bound, in deltas and in sizes."""
    out: set[Index] = set()
    for n in walk(e):
        if isinstance(n, (Tensor, Delta, Transposed)):
            out.update(n.indices)
        elif isinstance(n, MatFn):
            out.update(n.out)
        elif isinstance(n, Size):
            out.add(n.index)
        elif isinstance(n, Sum):
            out.update(n.indices)
    return out


def index_names(e: Expr) -> set[str]:
    return {i.name for i in index_occurrences(e)}


def tensor_names(e: Expr) -> set[str]:
    return {n.name for n in walk(e) if isinstance(n, Tensor)}


def tensor_refs(e: Expr) -> list[Tensor]:
    """All tensor references in ``e``, in pre-order (duplicates kept)."""
    return [n for n in walk(e) if isinstance(n, Tensor)]


# ---------------------------------------------------------------- names


#: The order in which fresh index names are tried: the letters the articles use for
#: a derivative's own indices first (``dY[i,j]/dX[p,q]``), then the rest of the alphabet.
FRESH_NAMES: tuple[str, ...] = tuple("pqrstuvwijklmnoabcdefghxyz")


_ALPHABET = "ijklmnopqrstuvwxyzabcdefgh"


def successors(name: str) -> list[str]:
    """Names to try when renaming index ``name``: the letters after it (``j, k, ...`` for ``i``)."""
    base = name.rstrip("0123456789")
    if len(base) == 1 and base in _ALPHABET:
        k = _ALPHABET.index(base)
        return list(_ALPHABET[k + 1:] + _ALPHABET[:k])
    return [f"{base}{n}" for n in range(2, 10)]


def fresh_name(used: set[str], prefer: Iterable[str] = ()) -> str:
    """The first name of ``prefer`` + :data:`FRESH_NAMES` + ``i1, j1, ...`` not in ``used``."""
    for name in list(prefer) + list(FRESH_NAMES):
        if name not in used:
            return name
    n = 1
    while True:
        for base in "ijklmnpqrs":
            if f"{base}{n}" not in used:
                return f"{base}{n}"
        n += 1


# ---------------------------------------------------------------- substitution


def substitute(e: Expr, mapping: Mapping[Index, Index], prefer: Sequence[str] = ()) -> Expr:
    """Rename free occurrences of indices by ``mapping``, avoiding capture.

    A bound index that equals a mapping target (and would capture a renamed occurrence)
    is alpha-renamed first, to a fresh name of the same dim; ``prefer`` lists names to try
    first for that. ``Size(k)`` nodes are renamed with ``k``.
    """
    if not mapping:
        return e
    targets = set(mapping.values())

    def go(n: Expr, m: Mapping[Index, Index]) -> Expr:
        if not m:
            return n
        if isinstance(n, Tensor):
            if any(i in m for i in n.indices):
                return Tensor(n.name, [m.get(i, i) for i in n.indices])
            return n
        if isinstance(n, Delta):
            if any(i in m for i in n.indices):
                return Delta([m.get(i, i) for i in n.indices])
            return n
        if isinstance(n, Transposed):
            if any(i in m for i in n.indices):
                return Transposed(n.name, [m.get(i, i) for i in n.indices])
            return n
        if isinstance(n, MatFn):  # the operand's indices are its own: only ``out`` renames
            if any(i in m for i in n.out):
                return n.with_out([m.get(i, i) for i in n.out])
            return n
        if isinstance(n, Size):
            return Size(m[n.index]) if n.index in m else n
        if isinstance(n, Const):
            return n
        if isinstance(n, Sum):
            inner = {k: v for k, v in m.items() if k not in n.indices}
            if not inner:
                return n
            live = {k: v for k, v in inner.items() if k in n.body.free or _mentions_size(n.body, k)}
            clash = [b for b in n.indices if b in set(live.values())]
            new_idx = list(n.indices)
            body = n.body
            if clash:
                used = index_names(n.body) | {t.name for t in targets} | {k.name for k in m}
                ren: dict[Index, Index] = {}
                for b in clash:
                    nm = fresh_name(used, prefer)
                    used.add(nm)
                    ren[b] = Index(nm, b.dim)
                body = go(body, ren)
                new_idx = [ren.get(b, b) for b in n.indices]
            return Sum(new_idx, go(body, inner))
        kids = n.children
        new = tuple(go(k, m) for k in kids)
        if all(a is b for a, b in zip(new, kids)):
            return n
        return n.rebuild(new)

    return go(e, mapping)


def _mentions_size(e: Expr, k: Index) -> bool:
    return any(isinstance(n, Size) and n.index == k for n in walk(e))


def rename_bound(e: Expr, avoid: set[str], prefer: Sequence[str] = ()) -> Expr:
    """Alpha-rename bound indices whose names are in ``avoid`` (or repeat an enclosing binder)."""

    everywhere = index_names(e)  # fresh names avoid every index name of e, even in size()

    def go(n: Expr, taken: set[str]) -> Expr:
        if isinstance(n, Sum):
            ren: dict[Index, Index] = {}
            used = taken | everywhere
            for b in n.indices:
                if b.name in taken:
                    nm = fresh_name(used, prefer)
                    used.add(nm)
                    ren[b] = Index(nm, b.dim)
            body = substitute(n.body, ren) if ren else n.body
            idx = [ren.get(b, b) for b in n.indices]
            inner_taken = taken | {i.name for i in idx}
            return Sum(idx, go(body, inner_taken))
        kids = n.children
        if not kids:
            return n
        new = tuple(go(k, taken) for k in kids)
        if all(a is b for a, b in zip(new, kids)):
            return n
        return n.rebuild(new)

    return go(e, set(avoid) | {i.name for i in e.free})
