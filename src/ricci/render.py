"""Render expressions and programs back into ricci's index notation.

The printed text parses back to the same meaning (a property test checks it), and reads
like the articles:

* a sum over an index shared by two or more factors is left implicit, as in
  ``dY[i,j] * A[k,j]``; a reduction of a single factor is written out, as in
  ``sum[n](dZ[n,h])``;
* factors are ordered like a chain of matrix products: by the position, on the left-hand
  side, of the first free index they carry; constants first, deltas last;
* before printing, bound indices are renamed where the implicit convention would
  otherwise mis-read them (a binder shadowing a free index, two implicit sums of the
  same name meeting in one product, one index name denoting two different sizes).
"""

from __future__ import annotations

from fractions import Fraction
from typing import Sequence

from .expr import (Add, Call, Const, Delta, Expr, Index, Mul, Pow, Size, Sum, Tensor, fresh_name,
                   index_names, rename_bound, substitute, successors, walk)

ADD, MUL, UNARY, POW, ATOM = 1, 2, 3, 4, 5


def number_text(v: Fraction) -> str:
    """Exact decimal text when the fraction has one (``0.5``, ``1e-05``), else ``p/q``."""
    if v.denominator == 1:
        return str(v.numerator)
    d = v.denominator
    while d % 2 == 0:
        d //= 2
    while d % 5 == 0:
        d //= 5
    if d == 1:
        f = float(v)
        if Fraction(repr(f)) == v:
            return repr(f)
    return f"{v.numerator}/{v.denominator}"


# ---------------------------------------------------------------- preparation


def _dim_collisions(e: Expr, fixed: Sequence[Index]) -> Expr:
    """Rename binders whose name is shared with an index of another dim."""
    owner: dict[str, str] = {i.name: i.dim for i in fixed}
    bad: list[Index] = []
    for n in walk(e):
        idx: Sequence[Index] = ()
        if isinstance(n, (Tensor, Delta)):
            idx = n.indices
        elif isinstance(n, Sum):
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
    """Index names that print outside any nested scope (function argument, power)."""
    if isinstance(n, (Tensor, Delta)):
        return {i.name for i in n.indices}
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
    return out


def _is_reciprocal(p: Pow) -> bool:
    return isinstance(p.exp, Const) and p.exp.value == -1


def _eligible(s: Sum) -> set[str]:
    """Indices of ``s`` that may print implicitly: shared by two factors, not nested."""
    b = s.body
    names = {i.name for i in s.indices}
    if isinstance(b, (Tensor, Delta)):
        counts = [i.name for i in b.indices]
        return {k for k in names if counts.count(k) >= 2}
    if not isinstance(b, Mul):
        return set()
    nested = _nested(b)
    out = set()
    for k in names:
        if k in nested:
            continue
        if sum(1 for f in b.factors if k in _direct(f)) >= 2:
            out.add(k)
    return out


class _Planner:
    """One pass deciding which sums print implicitly.

    Two implicit sums of the same name clash when they are in different scopes or meet in
    one product (the parser would merge them); the first clash found is reported.
    """

    def __init__(self) -> None:
        self.accepted: dict[str, list[tuple[tuple, tuple]]] = {}  # name -> (path, scope)
        self.kinds: dict[tuple, str] = {}  # path -> "add" | "mul" | "other"
        self.plan: dict[tuple, frozenset[str]] = {}
        self.clash: tuple[tuple, str] | None = None

    def visit(self, n: Expr, path: tuple, scope: tuple) -> None:
        if self.clash is not None:
            return
        self.kinds[path] = "add" if isinstance(n, Add) else "mul" if isinstance(n, Mul) else "other"
        if isinstance(n, Sum):
            implicit = set()
            for k in sorted(_eligible(n)):
                if any(not self._compatible(path, scope, p2, sc2) for p2, sc2 in self.accepted.get(k, [])):
                    self.clash = (path, k)
                    return
                implicit.add(k)
                self.accepted.setdefault(k, []).append((path, scope))
            self.plan[path] = frozenset(implicit)
        nested = isinstance(n, Call) or (isinstance(n, Pow) and not _is_reciprocal(n))
        for i, c in enumerate(n.children):
            self.visit(c, path + (i,), scope + (path + (i,),) if nested else scope)

    def _compatible(self, path: tuple, scope: tuple, other: tuple, other_scope: tuple) -> bool:
        """Same scope, and they meet in a sum of terms (each summed on its own)."""
        if scope != other_scope:
            return False
        common = 0
        while common < min(len(path), len(other)) and path[common] == other[common]:
            common += 1
        return self.kinds.get(path[:common]) == "add"


def _plan(e: Expr) -> tuple[Expr, dict[tuple, frozenset[str]]]:
    """Decide which sums print implicitly, renaming binders where two would clash.

    Returns the (possibly renamed) expression and, per path of a Sum node, the names it
    prints implicitly.
    """
    for _ in range(64):
        planner = _Planner()
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


def prepare(e: Expr, lhs: Sequence[Index]) -> tuple[Expr, dict[tuple, frozenset[str]]]:
    e = rename_bound(e, {i.name for i in lhs})
    e = _dim_collisions(e, lhs)
    return _plan(e)


# ---------------------------------------------------------------- printing


class _Printer:
    def __init__(self, lhs: Sequence[Index], plan: dict[tuple, frozenset[str]],
                 reorder: bool = True, refs: dict | None = None) -> None:
        #: tensors printed as derivatives: name -> (numerator, its rank, denominator)
        self.refs = refs or {}
        self.pos = {i: n for n, i in enumerate(lhs)}
        self.plan = plan
        self.reorder = reorder

    def order(self, factors: Sequence[Expr]) -> list[Expr]:
        """Chain order: constants, then by first left-hand index, then deltas.

        Factors that carry no left-hand index are chained through the indices they share
        (``x[i] * A[i,j] * x[j]``), starting from one that shares the fewest.
        """
        if not self.reorder:
            return list(factors)
        big = len(self.pos) + 1

        def key(item: tuple[int, Expr]) -> tuple:
            n, f = item
            if isinstance(f, Delta):
                return (2, 0, n)
            if not f.free and not isinstance(f, Sum):
                return (0, 0, n)
            ps = [self.pos[i] for i in f.free if i in self.pos]
            return (1, min(ps) if ps else big, n)

        items = sorted(enumerate(factors), key=key)
        head = [f for k, f in items if key((k, f))[:2] != (1, big)]
        rest = [f for k, f in items if key((k, f))[:2] == (1, big)]
        deltas = [f for f in head if isinstance(f, Delta)]
        head = [f for f in head if not isinstance(f, Delta)]
        return head + _chain(rest, head) + deltas

    def text(self, e: Expr, path: tuple = ()) -> tuple[str, int]:
        if isinstance(e, Const):
            v = e.value
            s = number_text(abs(v))
            if v < 0:
                return "-" + s, UNARY
            return s, (ATOM if v.denominator == 1 or "/" not in s else MUL)
        if isinstance(e, Tensor):
            if e.name in self.refs:
                num, rank, den = self.refs[e.name]
                a, b = e.indices[:rank], e.indices[rank:]
                return f"(d{lhs_text(num, a)}/d{lhs_text(den, b)})", ATOM
            if not e.indices:
                return e.name, ATOM
            return f"{e.name}[{','.join(i.name for i in e.indices)}]", ATOM
        if isinstance(e, Delta):
            return f"delta[{','.join(i.name for i in e.indices)}]", ATOM
        if isinstance(e, Size):
            return f"size({e.index.name})", ATOM
        if isinstance(e, Call):
            args = ", ".join(self.text(a, path + (k,))[0] for k, a in enumerate(e.args))
            return f"{e.fn}({args})", ATOM
        if isinstance(e, Pow):
            if isinstance(e.exp, Const) and e.exp.value < 0:
                return self.mul_text([(e, path)])
            b, bp = self.text(e.base, path + (0,))
            if bp < ATOM:
                b = f"({b})"
            x, xp = self.text(e.exp, path + (1,))
            if xp < ATOM or x.startswith("-"):
                x = f"({x})"
            return f"{b}^{x}", POW
        if isinstance(e, Mul):
            return self.mul_text([(f, path + (k,)) for k, f in enumerate(e.factors)])
        if isinstance(e, Add):
            return self.add_text(e, path)
        if isinstance(e, Sum):
            implicit = self.plan.get(path, frozenset())
            explicit = [i.name for i in e.indices if i.name not in implicit]
            b, neg = e.body, False
            if explicit and isinstance(b, Mul):
                k = next((k for k, f in enumerate(b.factors)
                          if isinstance(f, Const) and f.value < 0), None)
                if k is not None:  # -sum[k](x) reads better than sum[k](-x)
                    fs = list(b.factors)
                    fs[k] = Const(-fs[k].value)
                    b, neg = Mul(fs), True
            body, bp = self.text(b, path + (0,))
            if explicit:
                return ("-" if neg else "") + f"sum[{','.join(explicit)}]({body})", UNARY if neg else ATOM
            return body, bp
        raise AssertionError(f"cannot print {type(e).__name__}")  # pragma: no cover

    def mul_text(self, factors: list[tuple[Expr, tuple]]) -> tuple[str, int]:
        """A product: coefficient, numerator factors in chain order, then ``/ divisors``."""
        coef = Fraction(1)
        nums: list[tuple[Expr, tuple]] = []
        dens: list[tuple[str, int]] = []
        for f, fpath in factors:
            if isinstance(f, Const):
                coef *= f.value
            elif isinstance(f, Pow) and isinstance(f.exp, Const) and f.exp.value < 0:
                s, p = self.text(f.base, fpath + (0,))
                ex = -f.exp.value
                if ex != 1:
                    s, p = (s if p >= ATOM else f"({s})") + "^" + number_text(ex), POW
                dens.append((s, p))
            else:
                nums.append((f, fpath))
        rank = {id(f): n for n, (f, _) in enumerate(nums)}
        ordered = self.order([f for f, _ in nums])
        paths = {}
        for f, fp in nums:
            paths.setdefault(id(f), []).append(fp)
        parts: list[tuple[str, int]] = []
        for f in ordered:
            s, p = self.text(f, paths[id(f)].pop(0))
            parts.append((s, p))
        del rank
        neg, c = coef < 0, abs(coef)
        if c != 1:
            ct = number_text(c)
            if "/" in ct:
                if c.numerator != 1:
                    parts.insert(0, (str(c.numerator), ATOM))
                dens.insert(0, (str(c.denominator), ATOM))
            else:
                parts.insert(0, (ct, ATOM))
        if len(parts) == 1 and not dens:
            s, p = parts[0]
            if neg:
                return "-" + (s if p >= POW else f"({s})"), UNARY
            return s, p
        body = " * ".join(s if p >= POW else f"({s})" for s, p in parts) or "1"
        body += "".join(" / " + (s if p >= POW else f"({s})") for s, p in dens)
        return ("-" + body, UNARY) if neg else (body, MUL)

    def add_text(self, e: Add, path: tuple) -> tuple[str, int]:
        items = []
        for k, t in enumerate(e.terms):
            s, p = self.text(t, path + (k,))
            items.append((s, p))
        # put a positive term first when there is one
        first = next((k for k, (s, _) in enumerate(items) if not s.startswith("-")), 0)
        order = [first] + [k for k in range(len(items)) if k != first]
        out = ""
        for n, k in enumerate(order):
            s, p = items[k]
            if n == 0:
                out = s if p > ADD else f"({s})"
            elif s.startswith("-"):
                rest = s[1:]
                out += " - " + (rest if p > ADD and not _needs_paren_after_minus(rest) else f"({rest})")
            else:
                out += " + " + (s if p > ADD else f"({s})")
        return out, ADD


def _chain(factors: list[Expr], before: list[Expr]) -> list[Expr]:
    """Order factors so that each shares an index with the previous one where possible."""
    if len(factors) <= 1:
        return factors
    left = list(factors)
    out: list[Expr] = []
    prev = before[-1].free if before else frozenset()

    def degree(f: Expr) -> int:
        return sum(1 for g in left if g is not f and f.free & g.free)

    while left:
        linked = [f for f in left if f.free & prev]
        pool = linked or left
        f = min(pool, key=lambda g: (degree(g) if not linked else 0, left.index(g)))
        left.remove(f)
        out.append(f)
        prev = f.free
    return out


def _needs_paren_after_minus(rest: str) -> bool:
    depth = 0
    for ch in rest:
        if ch in "([":
            depth += 1
        elif ch in ")]":
            depth -= 1
        elif depth == 0 and ch in "+-":
            return True
    return False


def expr_text(e: Expr, lhs: Sequence[Index] = (), reorder: bool = True,
              refs: dict | None = None) -> str:
    """Index-notation text of an expression.

    ``lhs`` fixes the free indices; with ``reorder`` the factors of each product are put
    in chain order (for derived, simplified expressions), otherwise kept as written.
    """
    e2, plan = prepare(e, lhs)
    return _Printer(lhs, plan, reorder, refs).text(e2)[0]


def lhs_text(name: str, indices: Sequence[Index]) -> str:
    return f"{name}[{','.join(i.name for i in indices)}]" if indices else name


def statement_text(st, lhs: str | None = None, reorder: bool = False,
                   refs: dict | None = None) -> str:
    return f"{lhs or lhs_text(st.name, st.indices)} = {expr_text(st.rhs, st.indices, reorder, refs)}"


def program_text(p) -> str:
    return "\n".join(statement_text(s, reorder=getattr(s, "derived", False)) for s in p.statements)
