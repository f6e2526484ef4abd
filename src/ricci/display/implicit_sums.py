"""Which sums of an expression print implicitly, and the renaming of bound indices that
makes the implicit convention read back as meant.

:func:`prepare` is run by the printer (:mod:`.render`) before it prints: a sum over an
index shared by two or more factors is left implicit (``dY[i,j] * A[k,j]``), a reduction
of a single factor is written out (``sum[n](dZ[n,h])``), and bound indices are renamed
where the convention would otherwise mis-read them (a binder shadowing a free index, two
implicit sums of the same name meeting in one product, one index name denoting two
different sizes: :func:`dim_collisions`, also used by the matrix view).

Invariant: renaming changes only bound names, never the value; with ``strict`` (programs
printed as written) a sum prints implicitly only where the parser would rebuild the very
same node from the text.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeGuard

from ..ir.expr import Add, Call, Const, Delta, Deriv, Expr, Index, MatFn, Mul, Pow, Size, Sum, Tensor, Transposed
from ..ir.indices import fresh_name, rename_bound, substitute, successors
from ..ir.traversal import index_names, walk

__all__ = ["dim_collisions", "is_reciprocal_factor", "prepare"]


def dim_collisions(e: Expr, fixed: Sequence[Index]) -> Expr:
    """Rename binders whose name is shared with an index of another dim."""
    owner: dict[str, str] = {i.name: i.dim for i in fixed}
    bad: list[Index] = []
    for n in walk(e):
        idx: Sequence[Index] = ()
        if isinstance(n, (Tensor, Delta, Transposed, Sum)):
            idx = n.indices
        elif isinstance(n, Size):
            idx = (n.index,)
        for i in idx:
            d = owner.setdefault(i.name, i.dim)
            if d != i.dim and i not in bad:
                bad.append(i)
    if not bad:
        return e
    used = index_names(e) | {i.name for i in fixed}
    bad_set = set(bad)

    def go(n: Expr) -> Expr:
        if isinstance(n, Sum):
            ren = {}
            for b in n.indices:
                if b in bad_set:
                    nm = fresh_name(used, successors(b.name))
                    used.add(nm)
                    ren[b] = Index(nm, b.dim)
            body = go(n.body)
            if ren:
                body = substitute(body, ren)
            return Sum([ren.get(b, b) for b in n.indices], body)
        kids = n.children
        return n.rebuild([go(k) for k in kids]) if kids else n

    return go(e)


def _direct(n: Expr) -> set[str]:
    """Index names that print outside any nested scope (function argument, power, the
    parenthesised numerator of a derivative)."""
    if isinstance(n, (Tensor, Delta, Transposed)):
        return {i.name for i in n.indices}
    if isinstance(n, MatFn):
        return {i.name for i in n.out}
    if isinstance(n, Deriv):
        return (_direct(n.num) if isinstance(n.num, Tensor) else set()) | _direct(n.wrt)
    if isinstance(n, Mul):
        out: set[str] = set()
        for f in n.factors:
            out |= _direct(f)
        return out
    if isinstance(n, Pow):
        return _direct(n.base) if _is_reciprocal(n) else set()
    if isinstance(n, Add):
        out = set()
        for t in n.terms:
            out |= _direct(t)
        return out
    if isinstance(n, Sum):
        return _direct(n.body) - {i.name for i in n.indices}
    return set()


def _nested(n: Expr) -> set[str]:
    """Index names that occur inside a nested scope somewhere in ``n``."""
    out: set[str] = set()
    for m in walk(n):
        if isinstance(m, Call):
            for a in m.args:
                out |= index_names(a)
        elif isinstance(m, Pow) and not _is_reciprocal(m):
            out |= index_names(m.base) | index_names(m.exp)
        elif _is_compound_deriv(m):
            out |= index_names(m.num)
    return out


def _is_compound_deriv(n: Expr) -> TypeGuard[Deriv]:
    """``d(x[i,k] * a[k,j])/dx[p,q]``: a derivative whose numerator is a nested scope."""
    return isinstance(n, Deriv) and not isinstance(n.num, Tensor)


def is_reciprocal_factor(f: Expr) -> TypeGuard[Pow]:
    return isinstance(f, Pow) and _is_reciprocal(f)


def _is_reciprocal(p: Pow) -> bool:
    return isinstance(p.exp, Const) and p.exp.value == -1


def _direct_ordered(n: Expr) -> list[str]:
    """:func:`_direct` in the order the parser meets the names (left to right)."""
    if isinstance(n, (Tensor, Delta, Transposed)):
        return list(dict.fromkeys(i.name for i in n.indices))
    if isinstance(n, MatFn):
        return list(dict.fromkeys(i.name for i in n.out))
    if isinstance(n, Deriv):
        num = _direct_ordered(n.num) if isinstance(n.num, Tensor) else []
        return list(dict.fromkeys(num + _direct_ordered(n.wrt)))
    if isinstance(n, (Mul, Add)):
        return list(dict.fromkeys(k for c in n.children for k in _direct_ordered(c)))
    if isinstance(n, Pow):
        return _direct_ordered(n.base) if _is_reciprocal(n) else []
    if isinstance(n, Sum):
        bound = {i.name for i in n.indices}
        return [k for k in _direct_ordered(n.body) if k not in bound]
    return []


def _eligible(s: Sum, strict: bool = False) -> set[str]:
    """Indices of ``s`` that may print implicitly: shared by two factors, not nested.

    With ``strict`` (programs printed as written) the answer is all of ``s``'s indices or
    none, and all only when the parser would rebuild this very node from the implicit
    text: the same indices, in the order it meets them.
    """
    b = s.body
    names = {i.name for i in s.indices}
    if isinstance(b, (Tensor, Delta, Transposed, MatFn)):
        counts = [i.name for i in (b.out if isinstance(b, MatFn) else b.indices)]
        out = {k for k in names if counts.count(k) >= 2}
        order = [k for k in dict.fromkeys(counts) if k in names]
    elif isinstance(b, Mul):
        nested = _nested(b)
        per_factor = [_direct_ordered(f) for f in b.factors]
        out = {k for k in names if k not in nested and sum(k in d for d in per_factor) >= 2}
        seen = list(dict.fromkeys(k for d in per_factor for k in d))
        order = [k for k in seen if k in names and sum(k in d for d in per_factor) >= 2]
    else:
        return set()
    if strict and (out != names or order != [i.name for i in s.indices]):
        return set()
    return out


class _Planner:
    """One pass deciding which sums print implicitly.

    Two implicit sums of the same name clash when they are in different scopes or meet in
    one product (the parser would merge them); the first clash found is reported.

    The sums accepted for a name are pairwise compatible (same scope, and any two meet in a
    sum of terms), so a new one is compatible with all of them exactly when it is with the
    last one visited: in pre-order, that one meets it deepest (the others meet it there or
    where they meet the last one). So each check is one comparison, not one per sum.
    """

    def __init__(self, strict: bool = False) -> None:
        self.strict = strict
        self.accepted: dict[str, tuple[tuple, tuple]] = {}  # name -> (path, scope) of the last one
        self.kinds: dict[tuple, str] = {}  # path -> "add" | "mul" | "other"
        self.plan: dict[tuple, frozenset[str]] = {}
        self.clash: tuple[tuple, str] | None = None

    def visit(self, n: Expr, path: tuple, scope: tuple) -> None:
        if self.clash is not None:
            return
        self.kinds[path] = "add" if isinstance(n, Add) else "mul" if isinstance(n, Mul) else "other"
        if isinstance(n, Sum):
            implicit = set()
            eligible = sorted(_eligible(n, self.strict))
            clashing = [k for k in eligible if k in self.accepted
                        and not self._compatible(path, scope, *self.accepted[k])]
            if clashing and self.strict and not self._enclosed(path, {i.name for i in n.indices}):
                # as written: the user's own name, summed explicitly, `(x[i]*u[i]) * sum[i](..)`
                eligible = []
            elif clashing:
                self.clash = (path, clashing[0])
                return
            for k in eligible:
                implicit.add(k)
                self.accepted[k] = (path, scope)
            self.plan[path] = frozenset(implicit)
        nested = (isinstance(n, Call) or (isinstance(n, Pow) and not _is_reciprocal(n))
                  or _is_compound_deriv(n))
        for i, c in enumerate(n.children):
            self.visit(c, path + (i,), scope + (path + (i,),) if nested else scope)

    def _enclosed(self, path: tuple, names: set[str]) -> bool:
        """Whether an enclosing sum prints one of ``names`` implicitly (then an explicit sum
        of that name inside it would be refused by the parser)."""
        return any(self.plan.get(path[:d], frozenset()) & names for d in range(len(path)))

    def _compatible(self, path: tuple, scope: tuple, other: tuple, other_scope: tuple) -> bool:
        """Same scope, and they meet in a sum of terms (each summed on its own)."""
        if scope != other_scope:
            return False
        common = 0
        while common < min(len(path), len(other)) and path[common] == other[common]:
            common += 1
        return self.kinds.get(path[:common]) == "add"


def _plan(e: Expr, strict: bool = False) -> tuple[Expr, dict[tuple, frozenset[str]]]:
    """Decide which sums print implicitly, renaming binders where two would clash.

    ``strict``: only where the parser would rebuild the same node (see :func:`_eligible`).

    Returns the (possibly renamed) expression and, per path of a Sum node, the names it
    prints implicitly.
    """
    for _ in range(64):
        planner = _Planner(strict)
        planner.visit(e, (), ())
        if planner.clash is None:
            return e, planner.plan
        e = _rename_at(e, *planner.clash)
    return e, {}  # pragma: no cover - every rename removes a clash


def _rename_at(e: Expr, path: tuple, name: str) -> Expr:
    """Rename the binder ``name`` of the Sum at ``path`` to a name unused anywhere in ``e``."""
    used = index_names(e)

    def go(n: Expr, p: tuple) -> Expr:
        if not p:
            assert isinstance(n, Sum)
            b = next(i for i in n.indices if i.name == name)
            new = Index(fresh_name(used, successors(name)), b.dim)
            return Sum([new if i == b else i for i in n.indices], substitute(n.body, {b: new}))
        kids = list(n.children)
        kids[p[0]] = go(kids[p[0]], p[1:])
        return n.rebuild(kids)

    return go(e, path)


def prepare(e: Expr, lhs: Sequence[Index], strict: bool = False) -> tuple[Expr, dict[tuple, frozenset[str]]]:
    # a summed index named like the left-hand side's, or like a tensor (r[n,s] * x[r]), is renamed
    tensors = {n.name for n in walk(e) if isinstance(n, Tensor)} if not strict else set()
    e = rename_bound(e, {i.name for i in lhs} | tensors)
    e = dim_collisions(e, lhs)
    e, plan = _plan(e, strict)
    if not strict:
        pulled = _pull_out(e, plan)
        if pulled is not e:
            e, plan = _plan(pulled, strict)
    return e, plan


def _pull_out(e: Expr, plan: Mapping[tuple, frozenset[str]]) -> Expr:
    """Factors of an explicitly printed sum that do not involve its indices, moved in front
    of it: ``sum[n](2 * X[n,d]^2)`` prints ``2 * sum[n](X[n,d]^2)`` (same value)."""

    def go(n: Expr, path: tuple) -> Expr:
        kids = n.children
        if not kids:
            return n
        new = [go(k, path + (i,)) for i, k in enumerate(kids)]
        if any(a is not b for a, b in zip(new, kids)):
            n = n.rebuild(new)
        if isinstance(n, Sum) and isinstance(n.body, Mul):
            bound = set(n.indices)
            if any(i.name not in plan.get(path, frozenset()) for i in bound):  # explicit
                outer = [f for f in n.body.factors if not (f.free & bound)]
                inner = [f for f in n.body.factors if f.free & bound]
                if outer and inner:
                    body = inner[0] if len(inner) == 1 else Mul(inner)
                    return Mul(outer + [Sum(n.indices, body)])
        return n

    return go(e, ())

