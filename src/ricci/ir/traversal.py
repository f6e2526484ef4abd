"""Walking expression trees: visiting every node (:func:`walk`), asking what a tree holds
(:func:`contains`, :func:`tensor_refs`, :func:`index_occurrences`, :func:`where`), and
rebuilding it bottom-up (:func:`map_bottom_up`, :func:`replace_tensors`).

The walkers are objects with explicit stacks, not recursive closures: they go as deep as
the ``nesting`` limit allows without Python's recursion limit, and create no reference
cycle. Rebuilding shares every unchanged subtree (a node is rebuilt only when a child
changed).
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterator, Mapping

from .expr import Add, Call, Const, Delta, Expr, Index, MatFn, Max, Mul, Pow, Size, Sum, Tensor, Transposed

__all__ = [
    "contains", "distinct", "index_names", "index_occurrences", "map_bottom_up", "rename",
    "replace_tensors", "shape", "tensor_names", "tensor_refs", "walk", "where",
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


def rename(e: Expr, names: Mapping[str, str], dims: Mapping[str, str],
           known: dict[int, Expr] | None = None) -> Expr:
    """``e`` with every tensor ``x`` named in ``names`` renamed ``names[x]``, and every index
    (free, bound, in a delta, a size, an operand) of a dim in ``dims`` given dim ``dims[d]``.
    ``known``: ``id(node) -> its renamed node``, for nodes whose renaming is at hand (the
    caller keeps those nodes alive); these are used, not rebuilt."""
    return _Rename(names, dims, {} if known is None else known).go(e)


class _Rename:
    __slots__ = ("dims", "memo", "names")

    def __init__(self, names: Mapping[str, str], dims: Mapping[str, str], memo: dict[int, Expr]) -> None:
        self.names = names
        self.dims = dims
        self.memo = memo  # by node object (all alive in the tree renamed)

    def idx(self, ix: tuple[Index, ...]) -> tuple[Index, ...]:
        d = self.dims
        return tuple([Index(i.name, d.get(i.dim, i.dim)) for i in ix])

    def go(self, n: Expr) -> Expr:
        hit = self.memo.get(id(n))
        if hit is not None:
            return hit
        out: Expr
        t = type(n)
        if t is Tensor:
            out = Tensor(self.names.get(n.name, n.name), self.idx(n.indices))  # type: ignore[attr-defined]
        elif t is Const:
            return n
        elif t is Sum:
            out = Sum(self.idx(n.indices), self.go(n.body))  # type: ignore[attr-defined]
        elif t is Delta:
            out = Delta(self.idx(n.indices))  # type: ignore[attr-defined]
        elif t is Transposed:
            out = Transposed(self.names.get(n.name, n.name), self.idx(n.indices))  # type: ignore[attr-defined]
        elif t is Size:
            out = Size(self.idx((n.index,))[0])  # type: ignore[attr-defined]
        elif t is Max:
            out = Max(self.idx(n.indices), self.go(n.body))  # type: ignore[attr-defined]
        elif t is MatFn:
            arg = self.go(n.arg)  # type: ignore[attr-defined]
            assert isinstance(arg, Tensor)
            out = MatFn(n.fn, arg, self.idx(n.out))  # type: ignore[attr-defined]
        else:
            kids = n.children
            out = n.rebuild([self.go(k) for k in kids]) if kids else n
        self.memo[id(n)] = out
        return out


def shape(e: Expr) -> tuple[tuple, tuple[str, ...], tuple[str, ...], list[Expr]]:
    """``e`` up to the names of its tensors and dims: ``(key, names, dims, nodes)``,
    ``names`` and ``dims`` the distinct tensor names and dims of ``e`` in order of first
    occurrence, ``nodes`` its distinct node objects in the order the key numbers them.

    Two trees have equal keys exactly when one is the other with ``names[k]`` renamed to
    the other's ``names[k]`` and ``dims[k]`` to its ``dims[k]`` (:func:`rename`), with
    subtrees shared the same way (a node object met again is referred to by its number:
    the key is linear in the size of the DAG, and ``nodes[k]`` of one is the renamed
    ``nodes[k]`` of the other; constants are not among the nodes), and that renaming
    keeps the order of the names and of the dims (the key holds their ranks), so it
    keeps every comparison of nodes. Index names are kept as they are."""
    s = _Shaper()
    root = s.go(e)  # (the root's number, or a constant's key)
    names, dims = tuple(s.names), tuple(s.dims)
    return (root, tuple(s.out), _ranks(names), _ranks(dims)), names, dims, s.nodes


def _ranks(xs: tuple[str, ...]) -> tuple[int, ...]:
    return tuple(sorted(range(len(xs)), key=xs.__getitem__))


class _Shaper:
    """Post-order over the distinct node objects: each gets a number, its description (its
    key with children replaced by their numbers, a tensor's name and an index's dim by
    their slots) appended. A constant is not numbered: it stands for itself."""

    __slots__ = ("dim_slots", "dims", "ids", "indices", "name_slots", "names", "nodes", "out")

    def __init__(self) -> None:
        self.ids: dict[int, int] = {}
        self.out: list[tuple] = []
        self.nodes: list[Expr] = []
        self.name_slots: dict[str, int] = {}
        self.names: list[str] = []
        self.indices: dict[Index, tuple[str, int]] = {}
        self.dim_slots: dict[str, int] = {}
        self.dims: list[str] = []

    def index(self, i: Index) -> tuple[str, int]:
        hit = self.indices.get(i)
        if hit is None:
            slot = self.dim_slots.get(i.dim)
            if slot is None:
                slot = self.dim_slots[i.dim] = len(self.dims)
                self.dims.append(i.dim)
            hit = self.indices[i] = (i.name, slot)
        return hit

    def idx(self, ix: tuple[Index, ...]) -> tuple[tuple[str, int], ...]:
        return tuple([self.index(i) for i in ix])

    def part(self, x: object) -> object:
        if isinstance(x, Expr):
            return self.go(x)
        if isinstance(x, Index):
            return self.index(x)
        if type(x) is tuple and x:
            return tuple([self.part(y) for y in x])
        return x

    def go(self, n: Expr) -> int | tuple | Expr:
        t = type(n)
        if t is Const:  # (described in place: a constant is renamed to itself; the node,
            return n  # not its key, whose hash is the value's: 2^k and 2^(k+61) collide)
        hit = self.ids.get(id(n))
        if hit is not None:
            return hit
        d: tuple
        if t is Tensor or t is Transposed:
            slot = self.name_slots.get(n.name)  # type: ignore[attr-defined]
            if slot is None:
                slot = self.name_slots[n.name] = len(self.names)  # type: ignore[attr-defined]
                self.names.append(n.name)  # type: ignore[attr-defined]
            d = (n.RANK, slot, self.idx(n.indices))  # type: ignore[attr-defined]
        elif t is Mul or t is Add:
            d = (n.RANK, tuple([self.go(k) for k in n.children]))
        elif t is Pow:
            d = (4, self.go(n.base), self.go(n.exp))  # type: ignore[attr-defined]
        elif t is Call:
            d = (3, n.fn, tuple([self.go(k) for k in n.args]))  # type: ignore[attr-defined]
        elif t is Sum:
            d = (7, self.idx(n.indices), self.go(n.body))  # type: ignore[attr-defined]
        elif t is Delta:
            d = (8, self.idx(n.indices))  # type: ignore[attr-defined]
        else:
            d = tuple([self.part(x) for x in n._key])
        k = self.ids[id(n)] = len(self.out)
        self.out.append(d)
        self.nodes.append(n)
        return k


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
