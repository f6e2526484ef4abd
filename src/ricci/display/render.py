"""The printer of index notation: expressions, statements and programs in ricci's own text,
Unicode or LaTeX.

One printer, three notations. The planning is shared, and reads like the articles:

* a sum over an index shared by two or more factors is left implicit, as in
  ``dY[i,j] * A[k,j]``; a reduction of a single factor is written out, as in
  ``sum[n](dZ[n,h])`` (which sums, and the renaming of bound indices that keeps the
  convention unambiguous, are decided by :mod:`.implicit_sums`);
* factors are ordered like a chain of matrix products: by the position, on the left-hand
  side, of the first free index they carry; constants first, deltas last.

Only the spelling differs, and a :class:`~.notation.Notation` object (:mod:`.notation`)
owns all of it: ``"text"`` (``dY[i,j] * A[k,j]``, which parses back to the same meaning;
a property test checks it), ``"unicode"`` (``dY_ij A_kj``) and ``"latex"``
(``\\mathit{dY}_{ij} A_{kj}``).

Importing this module installs it as the printer of IR objects (:mod:`ricci.ir.printing`),
so ``str(expr)`` prints ricci notation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from fractions import Fraction

from ..bounds import tick
from ..ir import printing
from ..ir.expr import Add, Call, Const, Delta, Deriv, Expr, Index, MatFn, Max, Mul, Pow, Size, Sum, Tensor, Transposed
from ..ir.program import declaration_lines
from ..ir.traversal import walk
from .implicit_sums import is_reciprocal_factor, prepare
from .notation import ADD, ATOM, FRAC, MUL, OPEN, POW, TEXT, UNARY, Notation, latex_equations, notation_of

__all__ = ["expr_text", "head_text", "statement_text", "text_adjoints"]


def _names(indices: Sequence[Index | str]) -> list[str]:
    return [i if isinstance(i, str) else i.name for i in indices]


class _Printer:
    """Prints an expression; ``text`` returns ``(text, precedence, negative)``.

    ``negative`` means the value is minus the text: the caller writes ``a - text`` or
    ``-text``. With ``pretty`` (derived, simplified expressions) products are put in chain
    order with the coefficient first and divisors last, a positive term leads a sum, and
    ``-sum[k](x)`` is preferred to ``sum[k](-x)``. Without it (programs as written) the
    structure is printed faithfully, so that it parses back to the same expression.
    Every decision is the same in every notation; ``nt`` only spells.
    """

    def __init__(self, lhs: Sequence[Index], plan: dict[tuple, frozenset[str]], pretty: bool,
                 refs: Mapping | None, size_names: dict[str, str], present: set[Index],
                 nt: Notation = TEXT, adjoints: Mapping[str, tuple[str, str]] | None = None) -> None:
        #: indices occurring in the statement, and a name for each dim (for ``size(...)``)
        self.present = present
        #: tensors printed as derivatives: name -> (numerator, its rank, denominator)
        self.refs = refs or {}
        #: adjoint tensors printed as the loss's derivative: name -> (loss, primal)
        self.adjoints = adjoints or {}
        self.pos = {i: n for n, i in enumerate(lhs)}
        self.plan = plan
        self.pretty = pretty
        self.size_names = size_names
        self.nt = nt

    def order(self, factors: Sequence[Expr]) -> list[Expr]:
        """Chain order: constants, then by first left-hand index, then derivatives (as in
        ``a[k,j] * dx[i,k]/dx[p,q]``), then deltas.

        Factors that carry no left-hand index are chained through the indices they share
        (``x[i] * A[i,j] * x[j]``), starting from one that shares the fewest.
        """
        big = len(self.pos) + 1

        def key(item: tuple[int, Expr]) -> tuple:
            n, f = item
            if isinstance(f, (Delta, Deriv)):
                return (2, 0, n)
            if not f.free and not isinstance(f, Sum):
                return (0, 0, n)
            ps = [self.pos[i] for i in f.free if i in self.pos]
            return (1, min(ps) if ps else big, n)

        items = sorted(enumerate(factors), key=key)
        head = [f for k, f in items if key((k, f))[:2] != (1, big)]
        rest = [f for k, f in items if key((k, f))[:2] == (1, big)]
        derivs = [f for f in head if isinstance(f, Deriv)]
        deltas = [f for f in head if isinstance(f, Delta)]
        head = [f for f in head if not isinstance(f, (Delta, Deriv))]
        return head + _chain(rest, head) + derivs + deltas

    def full(self, e: Expr, path: tuple = ()) -> tuple[str, int]:
        """Text with its sign folded in (``-x`` has precedence UNARY)."""
        s, p, neg = self.text(e, path)
        return (self.minus(s, p), UNARY) if neg else (s, p)

    def minus(self, s: str, p: int) -> str:
        """``-s``. In pretty mode ``-2 * x`` (same value); as written, only ``-atom``."""
        return "-" + (s if p >= (ADD + 1 if self.pretty else POW) else self.nt.paren(s))

    def tensor(self, name: str, indices: Sequence[Index]) -> tuple[str, int]:
        """A reference, as a derivative where ``refs`` or ``adjoints`` say it is one."""
        nt = self.nt
        if name in self.refs:
            num, rank, den = self.refs[name]
            a, b = _names(indices[:rank]), _names(indices[rank:])
            if self.adjoints and num in self.adjoints:  # d(dl/dh)/dW
                loss, primal = self.adjoints[num]
                inner = nt.derivative(nt.tensor(loss, ()), nt.tensor(primal, a))[0]
                text = nt.derivative(inner, nt.tensor(den, b), compound=True)[0]
                return (f"({text})" if nt is TEXT else text), ATOM
            return nt.ref(nt.tensor(num, a), nt.tensor(den, b))
        if name in self.adjoints:
            loss, primal = self.adjoints[name]
            return nt.derivative(nt.tensor(loss, ()), nt.tensor(primal, _names(indices)))
        return nt.tensor(name, _names(indices)), ATOM

    def text(self, e: Expr, path: tuple = ()) -> tuple[str, int, bool]:
        nt = self.nt
        if type(e) is Tensor:
            if not self.refs and not self.adjoints:
                return nt.tensor(e.name, [i.name for i in e.indices]), ATOM, False
            return (*self.tensor(e.name, e.indices), False)
        if type(e) is Mul:
            return self.product([(f, path + (k,)) for k, f in enumerate(e.factors)])
        if isinstance(e, Const):
            v = e.value
            s, p = nt.number(abs(v))
            return s, p, v.numerator < 0
        if isinstance(e, Delta):
            return nt.delta(_names(e.indices)), ATOM, False
        if isinstance(e, Size):
            i = e.index
            name = i.name if i in self.present else self.size_names.get(i.dim, i.name)
            return nt.size(name), ATOM, False
        if isinstance(e, Call):
            args = [self.full(a, path + (k,))[0] for k, a in enumerate(e.args)]
            return nt.call(e.fn, args), ATOM, False
        if isinstance(e, Pow):
            if isinstance(e.exp, Const) and e.exp.value < 0 and (self.pretty or e.exp.value == -1):
                return self.product([(e, path)])
            b, bp = self.full(e.base, path + (0,))
            x, xp = self.full(e.exp, path + (1,))
            value = e.exp.value if isinstance(e.exp, Const) else None
            return (*nt.power(b, bp, x, xp, value), False)
        if isinstance(e, Add):
            return self.sum_of_terms(e, path)
        if isinstance(e, Sum):
            implicit = self.plan.get(path, frozenset())
            explicit = [i.name for i in e.indices if i.name not in implicit]
            if not explicit:
                body, bp, neg = self.text(e.body, path + (0,))
                # an implicit sum printed as a fraction (\frac{b_{n}}{c_{n}}) reaches over a
                # whole product: as a factor it needs its parentheses, like a product
                return body, MUL if bp == FRAC else bp, neg
            if self.pretty:  # -sum[k](x) reads better than sum[k](-x)
                body, bp, neg = self.text(e.body, path + (0,))
                return (*nt.big_sum(explicit, body, bp), neg)
            return (*nt.big_sum(explicit, *self.full(e.body, path + (0,))), False)
        if isinstance(e, Deriv):
            den = nt.tensor(e.wrt.name, _names(e.wrt.indices))
            if self.adjoints and e.wrt.name in self.adjoints:  # d(..)/d(dl/dh)
                den = nt.paren(self.tensor(e.wrt.name, e.wrt.indices)[0])
            if isinstance(e.num, Tensor) and self.adjoints and e.num.name in self.adjoints:
                # d(dl/dh[n,k])/dW[p,q]
                return (*nt.derivative(self.tensor(e.num.name, e.num.indices)[0], den, compound=True),
                        False)
            if isinstance(e.num, Tensor):
                return (*nt.derivative(nt.tensor(e.num.name, _names(e.num.indices)), den), False)
            return (*nt.derivative(self.full(e.num, path + (0,))[0], den, compound=True), False)
        if isinstance(e, Transposed):
            return nt.transposed(e.name, _names(e.indices)), ATOM, False
        if isinstance(e, MatFn):
            return nt.matfn(e.fn, e.arg.name, _names(e.out)), ATOM, False
        if isinstance(e, Max):
            return nt.maximum(_names(e.indices), self.full(e.body, path + (0,))[0]), ATOM, False
        raise AssertionError(f"cannot print {type(e).__name__}")  # pragma: no cover

    def product(self, factors: list[tuple[Expr, tuple]]) -> tuple[str, int, bool]:
        if not self.pretty:
            return self.product_as_written(factors)
        nt = self.nt
        coef = Fraction(1)
        nums: list[tuple[Expr, tuple]] = []
        dens: list[tuple[str, int]] = []
        for f, fpath in factors:
            if isinstance(f, Const):
                coef *= f.value
            elif isinstance(f, Pow) and isinstance(f.exp, Const) and f.exp.value < 0:
                dens.append(nt.divisor(*self.full(f.base, fpath + (0,)), -f.exp.value))
            else:
                nums.append((f, fpath))
        paths: dict[int, list[tuple]] = {}
        for f, fp in nums:
            paths.setdefault(id(f), []).append(fp)
        paths_of = {k: list(v) for k, v in paths.items()}
        ordered = self.order([f for f, _ in nums])
        parts = [self.full(f, paths[id(f)].pop(0)) for f in ordered]
        neg, c = coef < 0, abs(coef)
        if c != 1:
            if nt.splits(c):
                if c.numerator != 1:
                    parts.insert(0, nt.number(Fraction(c.numerator)))
                dens.insert(0, nt.number(Fraction(c.denominator)))
            else:
                parts.insert(0, nt.number(c))
        has_coef = len(parts) > len(ordered)
        if len(parts) == 1 and not dens:
            if ordered:  # a single factor: its own text, sign combined
                s, p, n = self.text(ordered[0], paths_of[id(ordered[0])][0])
                return s, p, neg != n
            return parts[0][0], parts[0][1], neg
        return (*nt.product(parts, dens, has_coef), neg)

    def product_as_written(self, factors: list[tuple[Expr, tuple]]) -> tuple[str, int, bool]:
        neg = False
        first = factors[0][0]
        if type(first) is Const and first.value.numerator < 0:  # type: ignore[attr-defined]
            neg = True  # a leading -1 (unary minus) or negative number is the sign
            v = first.value  # type: ignore[attr-defined]
            if v.numerator == -1 and v.denominator == 1 and len(factors) > 1:
                factors = factors[1:]
            else:
                factors = [(Const(-v), factors[0][1])] + factors[1:]
        if len(factors) == 1 and not is_reciprocal_factor(factors[0][0]):
            s, p, n = self.text(*factors[0])
            if neg and n:  # -(-b): both signs kept, as written
                return self.nt.paren(self.minus(s, p)), ATOM, True
            return s, p, neg != n
        items: list[tuple[bool, str, int]] = []
        for f, fpath in factors:
            if is_reciprocal_factor(f):
                items.append((True, *self.full(f.base, fpath + (0,))))
            else:
                items.append((False, *self.full(f, fpath)))
        return (*self.nt.written_product(items), neg)

    def sum_of_terms(self, e: Add, path: tuple) -> tuple[str, int, bool]:
        items = [self.text(t, path + (k,)) for k, t in enumerate(e.terms)]
        order = list(range(len(items)))
        if self.pretty:  # a positive term first, when there is one
            first = next((k for k, it in enumerate(items) if not it[2]), 0)
            order = [first] + [k for k in order if k != first]
        out = ""
        for n, k in enumerate(order):
            s, p, neg = items[k]
            last = n == len(order) - 1
            if n == 0 and neg:
                if p == OPEN and not last:  # -(Σ_n x_n) + y
                    s, p = self.nt.paren(s), ATOM
                out = self.minus(s, p)
            elif n == 0:
                out = self.nt.term(s, p, last)
            else:
                out += (" - " if neg else " + ") + self.nt.term(s, p, last)
        return out, ADD, False


class _NoPath(tuple):
    """The path of every node when there is no plan to look paths up in: extending it
    gives itself, so printing a deep expression builds no paths (O(depth) each)."""

    def __add__(self, other: object) -> _NoPath:  # type: ignore[override]
        return self


_NO_PATH = _NoPath()


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


Adjoints = Mapping[str, tuple[str, str]]


def expr_text(e: Expr, lhs: Sequence[Index] = (), reorder: bool = True,
              refs: Mapping | None = None, *, notation: str | Notation = "text",
              adjoints: Adjoints | None = None) -> str:
    """An expression in index notation (``notation``: ``"text"``, ``"unicode"``, ``"latex"``).

    ``lhs`` fixes the free indices. With ``reorder`` (derived, simplified expressions)
    products are put in chain order and signs tidied; otherwise the structure is printed
    as written. ``refs`` (name -> (numerator, its rank, denominator)) prints Jacobian
    tensors as derivatives, ``adjoints`` (name -> (loss, primal)) prints adjoint tensors
    as the loss's derivative: ``dY[p,j]`` as ``dl/dY[p,j]``.
    """
    present, sizes, summed = set(lhs), False, False
    for n in walk(e):
        t = type(n)
        if t is Tensor or t is Delta or t is Transposed:
            present.update(n.indices)  # type: ignore[attr-defined]
        elif t is MatFn:
            present.update(n.out)  # type: ignore[attr-defined]
        elif t is Sum:
            summed = True
        elif t is Size:
            sizes = True
    plan: dict[tuple, frozenset[str]] = {}
    e2 = e
    if summed:  # bound indices: rename and plan them (prepare is the identity without)
        e2, plan = prepare(e, lhs, strict=not reorder)
        present = set(lhs)
        for n in walk(e2):
            if isinstance(n, (Tensor, Delta, Sum, Transposed)):
                present.update(n.indices)
            elif isinstance(n, MatFn):
                present.update(n.out)
    names: dict[str, str] = {}  # a name for each dim, for size(...) of an index not present
    if sizes:
        names = {i.dim: i.name for i in reversed(list(lhs))}
        for i in sorted(present - set(lhs)):
            names.setdefault(i.dim, i.name)
    printer = _Printer(lhs, plan, reorder, refs, names, present, notation_of(notation), adjoints)
    return printer.full(e2, () if plan else _NO_PATH)[0]


def text_adjoints(adjoints: Adjoints, refs: Mapping) -> dict:
    """The adjoints text spells as derivatives: the numerators of Jacobians (``d(dl/dh[i])/dW[p,q]``);
    every other adjoint keeps ricci's name (``dh``)."""
    nums = {r[0] for r in refs.values()}
    return {n: a for n, a in adjoints.items() if n in nums}


def lhs_text(name: str, indices: Sequence[Index | str], *, notation: str | Notation = "text",
             adjoints: Adjoints | None = None) -> str:
    """``name[indices]`` in ``notation``; an adjoint tensor as the loss's derivative."""
    nt = notation_of(notation)
    if adjoints and name in adjoints:
        loss, primal = adjoints[name]
        return nt.derivative(nt.tensor(loss, ()), nt.tensor(primal, _names(indices)))[0]
    return nt.tensor(name, _names(indices))


_DISPLAY = re.compile(r"d(\w+)(?:\[([\w,]*)\])?/d(\w+)(?:\[([\w,]*)\])?")


def head_text(st, lhs: str | None, refs: Mapping | None, nt: Notation,
          adjoints: Adjoints | None, second: Mapping | None = None) -> str:
    """The left-hand side of ``st``. In text a given ``lhs`` is printed verbatim; in the
    other notations a Jacobian is spelled from ``refs`` (or from ``lhs`` when it is the
    ``dY[i,j]/dX[p,q]`` form jacobian() displays), a Hessian from ``second`` (name ->
    (loss, x, rank of x, y, diagonal)): ``∂²L/∂x_i∂x_j``."""
    jac_of_adjoint = bool(refs and adjoints and st.name in refs and refs[st.name][0] in adjoints)
    if nt is TEXT and not jac_of_adjoint:  # refs are not consulted, but d(dl/dh)/dW is one spelling
        return lhs if lhs is not None else lhs_text(st.name, st.indices, adjoints=adjoints)
    if second and st.name in second:
        loss, x, rank, y, diagonal = second[st.name]
        xt = nt.tensor(x, _names(st.indices[:rank]))
        if diagonal:
            return nt.second(nt.tensor(loss, ()), xt, None)
        return nt.second(nt.tensor(loss, ()), xt, nt.tensor(y, _names(st.indices[rank:])))
    if refs and st.name in refs:
        num, rank, den = refs[st.name]
        num_ix, den_ix = _names(st.indices[:rank]), _names(st.indices[rank:])
        if adjoints and num in adjoints:  # the Jacobian of an adjoint: d(dl/dh)/dW
            loss, primal = adjoints[num]
            inner = nt.derivative(nt.tensor(loss, ()), nt.tensor(primal, num_ix))[0]
            return nt.derivative(inner, nt.tensor(den, den_ix), compound=True)[0]
        return nt.derivative(nt.tensor(num, num_ix), nt.tensor(den, den_ix))[0]
    m = _DISPLAY.fullmatch(lhs) if lhs is not None else None
    if m is not None:
        num, a, den, b = m.groups()
        return nt.derivative(nt.tensor(num, a.split(",") if a else ()),
                             nt.tensor(den, b.split(",") if b else ()))[0]
    return lhs_text(st.name, st.indices, notation=nt, adjoints=adjoints)


def statement_text(st, lhs: str | None = None, reorder: bool = False,
                   refs: Mapping | None = None, *, notation: str | Notation = "text",
                   adjoints: Adjoints | None = None, second: Mapping | None = None) -> str:
    """``lhs = rhs`` in ``notation``; ``lhs`` (text, as jacobian() displays it) overrides
    the left-hand side; ``second`` spells Hessians (see :func:`head_text`)."""
    nt = notation_of(notation)
    rhs = expr_text(st.rhs, st.indices, reorder, refs, notation=nt, adjoints=adjoints)
    return f"{head_text(st, lhs, refs, nt, adjoints, second)} = {rhs}"


def program_text(p) -> str:
    """The program as source text that parses back (see :func:`parseable`)."""
    lines = declaration_lines(p)
    for s in p.statements:
        tick()
        lines.append(statement_text(parseable(s), reorder=getattr(s, "derived", False)))
    return "\n".join(lines)


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


class _IRPrinter:
    """This module as the printer of IR objects (see :mod:`ricci.ir.printing`)."""

    def expr(self, e: Expr) -> str:
        return expr_text(e)

    def statement(self, st, notation: str) -> str:
        return statement_text(st, reorder=st.derived, notation=notation)

    def program(self, p) -> str:
        return program_text(p)

    def equations(self, rows: Sequence[str]) -> str:
        return latex_equations(rows)

    def declaration(self, name: str, indices: Sequence[str], fact: str, notation: str) -> str:
        nt = notation_of(notation)
        head = nt.tensor(name, indices)
        return f"{head} &: \\text{{{fact}}}" if nt.name == "latex" else f"{head} : {fact}"


printing.install(_IRPrinter())
