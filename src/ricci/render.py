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


def _is_reciprocal_factor(f: Expr) -> bool:
    return isinstance(f, Pow) and _is_reciprocal(f)


def _is_reciprocal(p: Pow) -> bool:
    return isinstance(p.exp, Const) and p.exp.value == -1


def _direct_ordered(n: Expr) -> list[str]:
    """:func:`_direct` in the order the parser meets the names (left to right)."""
    if isinstance(n, (Tensor, Delta)):
        return list(dict.fromkeys(i.name for i in n.indices))
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
    if isinstance(b, (Tensor, Delta)):
        counts = [i.name for i in b.indices]
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
    """

    def __init__(self, strict: bool = False) -> None:
        self.strict = strict
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
            for k in sorted(_eligible(n, self.strict)):
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
    e = rename_bound(e, {i.name for i in lhs})
    e = _dim_collisions(e, lhs)
    return _plan(e, strict)


# ---------------------------------------------------------------- printing


class _Printer:
    """Prints an expression; ``text`` returns ``(text, precedence, negative)``.

    ``negative`` means the value is minus the text: the caller writes ``a - text`` or
    ``-text``. With ``pretty`` (derived, simplified expressions) products are put in chain
    order with the coefficient first and divisors last, a positive term leads a sum, and
    ``-sum[k](x)`` is preferred to ``sum[k](-x)``. Without it (programs as written) the
    structure is printed faithfully, so that it parses back to the same expression.
    """

    def __init__(self, lhs: Sequence[Index], plan: dict[tuple, frozenset[str]], pretty: bool,
                 refs: dict | None, size_names: dict[str, str], present: set[Index]) -> None:
        #: indices occurring in the statement, and a name for each dim (for ``size(...)``)
        self.present = present
        #: tensors printed as derivatives: name -> (numerator, its rank, denominator)
        self.refs = refs or {}
        self.pos = {i: n for n, i in enumerate(lhs)}
        self.plan = plan
        self.pretty = pretty
        self.size_names = size_names

    def order(self, factors: Sequence[Expr]) -> list[Expr]:
        """Chain order: constants, then by first left-hand index, then deltas.

        Factors that carry no left-hand index are chained through the indices they share
        (``x[i] * A[i,j] * x[j]``), starting from one that shares the fewest.
        """
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

    def full(self, e: Expr, path: tuple = ()) -> tuple[str, int]:
        """Text with its sign folded in (``-x`` has precedence UNARY)."""
        s, p, neg = self.text(e, path)
        return (self.minus(s, p), UNARY) if neg else (s, p)

    def minus(self, s: str, p: int) -> str:
        """``-s``. In pretty mode ``-2 * x`` (same value); as written, only ``-atom``."""
        return "-" + (s if p >= (MUL if self.pretty else POW) else f"({s})")

    def text(self, e: Expr, path: tuple = ()) -> tuple[str, int, bool]:
        if isinstance(e, Const):
            v = e.value
            s = number_text(abs(v))
            return s, (ATOM if "/" not in s else MUL), v < 0
        if isinstance(e, Tensor):
            if e.name in self.refs:
                num, rank, den = self.refs[e.name]
                a, b = e.indices[:rank], e.indices[rank:]
                return f"(d{lhs_text(num, a)}/d{lhs_text(den, b)})", ATOM, False
            return lhs_text(e.name, e.indices), ATOM, False
        if isinstance(e, Delta):
            return f"delta[{','.join(i.name for i in e.indices)}]", ATOM, False
        if isinstance(e, Size):
            i = e.index
            name = i.name if i in self.present else self.size_names.get(i.dim, i.name)
            return f"size({name})", ATOM, False
        if isinstance(e, Call):
            args = ", ".join(self.full(a, path + (k,))[0] for k, a in enumerate(e.args))
            return f"{e.fn}({args})", ATOM, False
        if isinstance(e, Pow):
            if isinstance(e.exp, Const) and e.exp.value < 0 and (self.pretty or e.exp.value == -1):
                return self.product([(e, path)])
            b, bp = self.full(e.base, path + (0,))
            x, xp = self.full(e.exp, path + (1,))
            return f"{b if bp >= ATOM else f'({b})'}^{x if xp >= ATOM else f'({x})'}", POW, False
        if isinstance(e, Mul):
            return self.product([(f, path + (k,)) for k, f in enumerate(e.factors)])
        if isinstance(e, Add):
            return self.sum_of_terms(e, path)
        if isinstance(e, Sum):
            implicit = self.plan.get(path, frozenset())
            explicit = [i.name for i in e.indices if i.name not in implicit]
            if not explicit:
                return self.text(e.body, path + (0,))
            if self.pretty:  # -sum[k](x) reads better than sum[k](-x)
                body, bp, neg = self.text(e.body, path + (0,))
                return f"sum[{','.join(explicit)}]({body})", ATOM, neg
            return f"sum[{','.join(explicit)}]({self.full(e.body, path + (0,))[0]})", ATOM, False
        raise AssertionError(f"cannot print {type(e).__name__}")  # pragma: no cover

    def factor_text(self, f: Expr, fpath: tuple) -> str:
        s, p = self.full(f, fpath)
        return s if p >= POW else f"({s})"

    def product(self, factors: list[tuple[Expr, tuple]]) -> tuple[str, int, bool]:
        if not self.pretty:
            return self.product_as_written(factors)
        coef = Fraction(1)
        nums: list[tuple[Expr, tuple]] = []
        dens: list[str] = []
        for f, fpath in factors:
            if isinstance(f, Const):
                coef *= f.value
            elif isinstance(f, Pow) and isinstance(f.exp, Const) and f.exp.value < 0:
                ex = -f.exp.value
                base = self.factor_text(f.base, fpath + (0,))
                dens.append(base if ex == 1 else f"{base}^{number_text(ex)}")
            else:
                nums.append((f, fpath))
        paths: dict[int, list[tuple]] = {}
        for f, fp in nums:
            paths.setdefault(id(f), []).append(fp)
        paths_of = {k: list(v) for k, v in paths.items()}
        ordered = self.order([f for f, _ in nums])
        parts = [self.factor_text(f, paths[id(f)].pop(0)) for f in ordered]
        neg, c = coef < 0, abs(coef)
        if c != 1:
            ct = number_text(c)
            if "/" in ct:
                if c.numerator != 1:
                    parts.insert(0, str(c.numerator))
                dens.insert(0, str(c.denominator))
            else:
                parts.insert(0, ct)
        if len(parts) == 1 and not dens:
            if ordered:  # a single factor: its own text, sign combined
                s, p, n = self.text(ordered[0], paths_of[id(ordered[0])][0])
                return s, p, neg != n
            return parts[0], ATOM, neg
        body = " * ".join(parts) or "1"
        body += "".join(f" / {d}" for d in dens)
        return body, MUL, neg

    def product_as_written(self, factors: list[tuple[Expr, tuple]]) -> tuple[str, int, bool]:
        neg = False
        if isinstance(factors[0][0], Const) and factors[0][0].value < 0:
            neg = True  # a leading -1 (unary minus) or negative number is the sign
            if factors[0][0].value == -1 and len(factors) > 1:
                factors = factors[1:]
            else:
                factors = [(Const(-factors[0][0].value), factors[0][1])] + factors[1:]
        if len(factors) == 1 and not _is_reciprocal_factor(factors[0][0]):
            s, p, n = self.text(*factors[0])
            if neg and n:  # -(-b): both signs kept, as written
                return f"({self.minus(s, p)})", ATOM, True
            return s, p, neg != n
        out = ""
        for k, (f, fpath) in enumerate(factors):
            if _is_reciprocal_factor(f):
                out += ("1" if k == 0 else "") + " / " + self.factor_text(f.base, fpath + (0,))
                continue
            s, p = self.full(f, fpath)
            first_unary = k == 0 and p == UNARY  # `-x * y` parses as (-x) * y
            out += (" * " if out else "") + (s if p >= POW or first_unary else f"({s})")
        return out, MUL, neg

    def sum_of_terms(self, e: Add, path: tuple) -> tuple[str, int, bool]:
        items = [self.text(t, path + (k,)) for k, t in enumerate(e.terms)]
        order = list(range(len(items)))
        if self.pretty:  # a positive term first, when there is one
            first = next((k for k, it in enumerate(items) if not it[2]), 0)
            order = [first] + [k for k in order if k != first]
        out = ""
        for n, k in enumerate(order):
            s, p, neg = items[k]
            if n == 0:
                out = self.minus(s, p) if neg else (s if p > ADD else f"({s})")
            else:
                out += (" - " if neg else " + ") + (s if p > ADD else f"({s})")
        return out, ADD, False


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

    ``lhs`` fixes the free indices. With ``reorder`` (derived, simplified expressions)
    products are put in chain order and signs tidied; otherwise the structure is printed
    as written.
    """
    e2, plan = prepare(e, lhs, strict=not reorder)
    present = set(lhs)
    for n in walk(e2):
        if isinstance(n, (Tensor, Delta, Sum)):
            present.update(n.indices)
    names = {i.dim: i.name for i in reversed(list(lhs))}
    for i in sorted(present - set(lhs)):
        names.setdefault(i.dim, i.name)
    return _Printer(lhs, plan, reorder, refs, names, present).full(e2)[0]


def lhs_text(name: str, indices: Sequence[Index]) -> str:
    return f"{name}[{','.join(i.name for i in indices)}]" if indices else name


def statement_text(st, lhs: str | None = None, reorder: bool = False,
                   refs: dict | None = None) -> str:
    return f"{lhs or lhs_text(st.name, st.indices)} = {expr_text(st.rhs, st.indices, reorder, refs)}"


def program_text(p) -> str:
    """The program as source text that parses back (see :func:`parseable`)."""
    return "\n".join(statement_text(parseable(s), reorder=getattr(s, "derived", False))
                     for s in p.statements)


def parseable(st):
    """``st`` with every left-hand index its right-hand side lacks made explicit.

    A derived statement may broadcast over an index its right-hand side does not mention
    (``dx[i] = 1`` for ``L = sum[i](x[i])``); the language asks every left-hand index to
    appear on the right, so it is written ``dx[i] = delta[i,i]`` (which is 1 for every i).
    """
    missing = [i for i in st.indices if i not in st.rhs.free]
    if not missing:
        return st
    deltas = [Delta((i, i)) for i in missing]
    if isinstance(st.rhs, Const) and st.rhs.value == 1:
        rhs = deltas[0] if len(deltas) == 1 else Mul(deltas)
    else:
        rhs = Mul([st.rhs] + deltas)
    return st.replace(rhs)
