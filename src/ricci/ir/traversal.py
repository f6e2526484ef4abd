"""Walking expression trees: visiting every node (:func:`walk`), asking what a tree holds
(:func:`contains`, :func:`tensor_refs`, :func:`index_occurrences`, :func:`where`), and
rebuilding it bottom-up (:func:`map_bottom_up`, :func:`replace_tensors`).

The walkers are objects with explicit stacks, not recursive closures: they go as deep as
the ``nesting`` limit allows without Python's recursion limit, and create no reference
cycle. Rebuilding shares every unchanged subtree (a node is rebuilt only when a child
changed).
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterator

from .expr import Delta, Expr, Index, MatFn, Size, Sum, Tensor, Transposed

__all__ = [
    "contains", "distinct", "index_names", "index_occurrences", "map_bottom_up", "replace_tensors",
    "tensor_names", "tensor_refs", "walk", "where",
]

# ---------------------------------------------------------------- traversal


def walk(e: Expr) -> Iterator[Expr]:
    """Pre-order traversal of every node (shared subtrees are visited each time)."""
    stack = [e]
    while stack:
        n = stack.pop()
        yield n
        stack.extend(reversed(n.children))


_TENSOR = 1 << Tensor.RANK


def contains(e: Expr, *types: type[Expr]) -> bool:
    """Does the tree ``e`` hold a node of one of ``types``? O(1) (see ``kinds``)."""
    mask = 0
    for t in types:
        mask |= 1 << t.RANK
    return bool(e.kinds & mask)


def distinct(e: Expr) -> Iterator[Expr]:
    """Pre-order traversal entering each inner node object once (a subtree shared by
    reference is visited the first time only; a leaf may be yielded more than once):
    linear in the size of the DAG, where :func:`walk` is linear in the size of the tree,
    which sharing can make exponential. For questions whose answer is a set or a first
    occurrence (which tensors, which indices, is there a sum)."""
    seen: set[int] = set()
    stack = [e]
    while stack:
        n = stack.pop()
        kids = n.children
        if kids:  # (a leaf met twice is yielded twice: cheaper than remembering it)
            if id(n) in seen:
                continue
            seen.add(id(n))
            stack.extend(reversed(kids))
        yield n


def map_bottom_up(e: Expr, fn: Callable[[Expr], Expr], memo: dict | None = None) -> Expr:
    """Rebuild ``e`` applying ``fn`` to every node after its children (memoised per call)."""
    return _Mapper(fn, {} if memo is None else memo).go(e)


class _Mapper:
    # (the walkers below are objects, not closures: a recursive closure refers to itself
    # through its cell, a reference cycle that keeps its memo alive until the cyclic
    # garbage collector runs, which reverse mode pauses)
    __slots__ = ("fn", "memo")

    def __init__(self, fn: Callable[[Expr], Expr], memo: dict) -> None:
        self.fn = fn
        self.memo = memo

    def go(self, n: Expr) -> Expr:
        hit = self.memo.get(n)
        if hit is not None:
            return hit
        kids = n.children
        n2 = n
        if kids:
            new = tuple([self.go(k) for k in kids])
            if any(a is not b for a, b in zip(new, kids)):
                n2 = n.rebuild(new)
        out = self.fn(n2)
        self.memo[n] = out
        return out


def replace_tensors(e: Expr, names: Container[str], fn: Callable[[Tensor], Expr]) -> Expr:
    """``e`` with every reference ``t`` to a tensor named in ``names`` replaced by
    ``fn(t)`` (what :func:`map_bottom_up` does with such an ``fn``), descending only into
    the subtrees that hold such a reference (found through the cached :func:`tensor_refs`):
    substituting a statement into a large expression costs the path to its uses."""
    return _Replacer(names, fn).go(e)


class _Replacer:
    __slots__ = ("fn", "memo", "names")

    def __init__(self, names: Container[str], fn: Callable[[Tensor], Expr]) -> None:
        self.names = names
        self.fn = fn
        self.memo: dict[Expr, Expr] = {}

    def go(self, n: Expr) -> Expr:
        if isinstance(n, Tensor):
            return self.fn(n) if n.name in self.names else n
        if not any(r.name in self.names for r in _refs(n)):
            return n
        hit = self.memo.get(n)
        if hit is None:
            kids = n.children
            new = tuple([self.go(k) for k in kids])
            hit = n if all(a is b for a, b in zip(new, kids)) else n.rebuild(new)
            self.memo[n] = hit
        return hit


def index_occurrences(e: Expr) -> set[Index]:
    """Every index mentioned anywhere in ``e``: free, bound, in deltas and in sizes."""
    out: set[Index] = set()
    for n in distinct(e):
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
    return {n.name for n in distinct(e) if isinstance(n, Tensor)}


def tensor_refs(e: Expr) -> list[Tensor]:
    """The distinct tensor references in ``e`` (``x[i]`` once however often it occurs), in
    order of first occurrence in pre-order. Linear in the size of the DAG."""
    return list(_refs(e))


def where(e: Expr) -> dict[str, tuple[int, ...]]:
    """Each tensor name referenced in ``e`` -> the positions of the children of ``e`` that
    reference it (cached in the node): differentiating a sum of n terms w.r.t. one of
    them visits that term, not all n."""
    hit = e._where
    if hit is None:
        out: dict[str, list[int]] = {}
        for k, c in enumerate(e.children):
            for r in _refs(c):
                at = out.setdefault(r.name, [])
                if not at or at[-1] != k:
                    at.append(k)
        hit = e._where = {name: tuple(at) for name, at in out.items()}
    return hit


def _refs(e: Expr) -> tuple[Tensor, ...]:
    """:func:`tensor_refs` as a tuple, cached in each inner node (post-order, iterative)."""
    if isinstance(e, Tensor):
        return (e,)
    if e._refs is not None:
        return e._refs
    stack: list[tuple[Expr, bool]] = [(e, False)]
    while stack:
        n, ready = stack.pop()
        if n._refs is not None:
            continue
        if not n.kinds & _TENSOR:
            n._refs = ()
            continue
        kids = n.children
        if ready:
            parts = [(k,) if isinstance(k, Tensor) else k._refs for k in kids]
            n._refs = parts[0] if len(parts) == 1 else tuple(  # type: ignore[assignment]
                dict.fromkeys(r for p in parts for r in p))  # type: ignore[union-attr]
        else:
            stack.append((n, True))
            stack.extend((k, False) for k in reversed(kids) if not isinstance(k, Tensor))
    assert e._refs is not None
    return e._refs
