"""Index names: fresh names in the articles' order (:func:`fresh_name`), renaming indices
(:func:`substitute`, which renames a bound index out of the way instead of capturing a
free one), and bound indices renamed apart from free ones (:func:`rename_bound`).

Invariant: renaming never changes what an expression means: a bound index is renamed
only to a name free nowhere in its scope, and ``Size(k)`` is renamed with ``k``.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping, Sequence

from .expr import Const, Delta, Expr, Index, MatFn, Size, Sum, Tensor, Transposed
from .traversal import contains, distinct, index_names

__all__ = ["fresh_name", "rename_bound", "substitute", "successors"]

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


def fresh_name(used: Container[str], prefer: Iterable[str] = ()) -> str:
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
    first for that. ``Size(k)`` nodes are renamed with ``k``. Memoised per node, so a
    subtree shared by reference is renamed once.
    """
    targets = {t.name for t in mapping.values()}
    mapping = {k: v for k, v in mapping.items() if k != v}  # i -> i renames nothing
    if not mapping:
        return e
    return _Renamer(targets, prefer).go(e, mapping)


class _Renamer:
    __slots__ = ("maps", "memo", "prefer", "targets")

    def __init__(self, targets: set[str], prefer: Sequence[str]) -> None:
        self.targets = targets
        self.prefer = prefer
        self.memo: dict[tuple[int, Expr], Expr] = {}  # per mapping object, kept alive in maps
        self.maps: list[Mapping[Index, Index]] = []

    def go(self, n: Expr, m: Mapping[Index, Index]) -> Expr:
        if not m:
            return n
        key = (id(m), n)
        hit = self.memo.get(key)
        if hit is None:
            hit = self.memo[key] = self.rename(n, m)
            self.maps.append(m)
        return hit

    def rename(self, n: Expr, m: Mapping[Index, Index]) -> Expr:
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
                used = index_names(n.body) | self.targets | {k.name for k in m}
                ren: dict[Index, Index] = {}
                for b in clash:
                    nm = fresh_name(used, self.prefer)
                    used.add(nm)
                    ren[b] = Index(nm, b.dim)
                body = self.go(body, ren)
                new_idx = [ren.get(b, b) for b in n.indices]
            return Sum(new_idx, self.go(body, inner))
        kids = n.children
        new = tuple([self.go(k, m) for k in kids])
        if all(a is b for a, b in zip(new, kids)):
            return n
        return n.rebuild(new)


def _mentions_size(e: Expr, k: Index) -> bool:
    return any(isinstance(n, Size) and n.index == k for n in distinct(e))


def rename_bound(e: Expr, avoid: set[str], prefer: Sequence[str] = ()) -> Expr:
    """Alpha-rename bound indices whose names are in ``avoid`` (or repeat an enclosing binder)."""
    if not contains(e, Sum):
        return e
    # fresh names avoid every index name of e, even in size()
    return _Unshadower(index_names(e), prefer).go(e, set(avoid) | {i.name for i in e.free})


class _Unshadower:
    __slots__ = ("everywhere", "prefer")

    def __init__(self, everywhere: set[str], prefer: Sequence[str]) -> None:
        self.everywhere = everywhere
        self.prefer = prefer

    def go(self, n: Expr, taken: set[str]) -> Expr:
        if isinstance(n, Sum):
            ren: dict[Index, Index] = {}
            used = taken | self.everywhere
            for b in n.indices:
                if b.name in taken:
                    nm = fresh_name(used, self.prefer)
                    used.add(nm)
                    ren[b] = Index(nm, b.dim)
            body = substitute(n.body, ren) if ren else n.body
            idx = [ren.get(b, b) for b in n.indices]
            inner_taken = taken | {i.name for i in idx}
            inner = self.go(body, inner_taken)
            return n if not ren and inner is n.body else Sum(idx, inner)
        kids = n.children
        if not kids or not contains(n, Sum):  # only a sum renames
            return n
        new = tuple([self.go(k, taken) for k in kids])
        if all(a is b for a, b in zip(new, kids)):
            return n
        return n.rebuild(new)
