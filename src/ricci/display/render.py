"""Render expressions and programs in index notation: ricci's own text, Unicode or LaTeX.

One printer, three notations. The planning is shared, and reads like the articles:

* a sum over an index shared by two or more factors is left implicit, as in
  ``dY[i,j] * A[k,j]``; a reduction of a single factor is written out, as in
  ``sum[n](dZ[n,h])``;
* factors are ordered like a chain of matrix products: by the position, on the left-hand
  side, of the first free index they carry; constants first, deltas last;
* before printing, bound indices are renamed where the implicit convention would
  otherwise mis-read them (a binder shadowing a free index, two implicit sums of the
  same name meeting in one product, one index name denoting two different sizes).

Only the spelling differs, and a :class:`Notation` object owns all of it: ``"text"``
(``dY[i,j] * A[k,j]``, which parses back to the same meaning; a property test checks it),
``"unicode"`` (``dY_ij A_kj``) and ``"latex"`` (``\\mathit{dY}_{ij} A_{kj}``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import TypeGuard

from ..bounds import tick
from ..errors import RicciError
from ..ir import printing
from ..ir.expr import Add, Call, Const, Delta, Deriv, Expr, Index, MatFn, Max, Mul, Pow, Size, Sum, Tensor, Transposed
from ..ir.indices import fresh_name, rename_bound, substitute, successors
from ..ir.traversal import index_names, walk
from ..primitives.functions import FUNCTIONS, MATRIX_FUNCTIONS, latex_reading
from ..primitives.greek import GREEK
from ..primitives.numbers import integer_text, number_text

#: Precedences, loosest first. ``OPEN`` is a big operator with a bare body (``Σ_n x_n``):
#: it extends to the right, so it stays bare only as the last term or factor. ``QUOT`` is
#: a Unicode quotient ``a / b`` (a summation body in parentheses). ``FRAC`` is a derivative
#: (``dl/dY[i,j]``) or a LaTeX ``\\frac``: bare as a factor, parenthesised as a base or divisor.
ADD, OPEN, QUOT, MUL, FRAC, UNARY, POW, ATOM = 10, 15, 18, 20, 25, 30, 40, 50


#: the function a power 1/2 prints as, in Unicode and LaTeX (``√(x)``, ``\\sqrt{x}``)
SQRT = "sqrt"


# ---------------------------------------------------------------- LaTeX blocks and text


def latex_aligned(rows: Sequence[str]) -> str:
    """Rows (each with its ``&`` alignment marks) as one ``aligned`` block."""
    return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"


def latex_equations(rows: Sequence[str]) -> str:
    """Equations in LaTeX: one as it is, several as an ``aligned`` block aligned at the
    first `` = `` of each row that has no ``&`` of its own."""
    rows = [r if "&" in r else r.replace(" = ", " &= ", 1) for r in rows]
    if len(rows) == 1 and not rows[0].startswith("&"):
        return rows[0].replace(" &= ", " = ", 1)
    return latex_aligned(rows)


def latex_text(s: str) -> str:
    """Plain text safe inside ``\\text{...}`` (KaTeX and LaTeX alike)."""
    for a, b in (("\\", ""), ("{", "("), ("}", ")"), ("_", r"\_"), ("^", ""), ("#", r"\#"),
                 ("&", r"\&"), ("%", r"\%"), ("$", r"\$")):
        s = s.replace(a, b)
    return s


# ---------------------------------------------------------------- preparation


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


def _is_reciprocal_factor(f: Expr) -> TypeGuard[Pow]:
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


# ---------------------------------------------------------------- notations


_SUPERSCRIPT = str.maketrans("0123456789-", "⁰¹²³⁴⁵⁶⁷⁸⁹⁻")
_GREEK_COMMAND = {ch: name for name, ch in reversed(list(GREEK.items()))}


class Notation:
    """The spelling of every piece of printed text, for ricci's own text (this class).

    The printer decides structure (which sums are implicit, factor order, signs) and asks
    its notation only how to spell a piece, given the pieces' own text and precedence.
    Invariants: a method returning ``(text, precedence)`` gives the loosest precedence at
    which the text may stand bare (see :data:`ATOM` and the others); a notation changes
    how factors are grouped, never which ones print (LaTeX moves derivative factors ahead
    of a ``\\frac`` and writes rational coefficients as fractions, :meth:`splits`); this
    text notation is ricci's parseable language, byte for byte as before the other
    notations existed.
    """

    name = "text"
    #: what separates the factors of a product
    times = " * "

    def paren(self, s: str) -> str:
        return f"({s})"

    # -- atoms
    def number(self, v: Fraction) -> tuple[str, int]:
        """A non-negative constant."""
        s = number_text(v)
        return s, (ATOM if "/" not in s else MUL)

    def index(self, name: str) -> str:
        return name

    def index_list(self, names: Sequence[str]) -> str:
        return ",".join(names)

    def tensor(self, name: str, indices: Sequence[str]) -> str:
        return f"{name}[{','.join(indices)}]" if indices else name

    def delta(self, indices: Sequence[str]) -> str:
        return f"delta[{','.join(indices)}]"

    def size(self, index: str) -> str:
        return f"size({index})"

    def transposed(self, name: str, indices: Sequence[str]) -> str:
        return f"({name}^T)[{','.join(indices)}]"

    def matfn(self, fn: str, operand: str, indices: Sequence[str]) -> str:
        """A function of a whole matrix: ``inv(A)[i,j]``, ``det(A)``."""
        return f"{fn}({operand})" + (f"[{','.join(indices)}]" if indices else "")

    def maximum(self, indices: Sequence[str], body: str) -> str:
        """``max[k](z[n,k])`` (only in code generation's stable forms)."""
        return f"max[{self.index_list(indices) if self.name != 'text' else ','.join(indices)}]({body})" \
            if self.name != "latex" else rf"\max_{{{self.index_list(indices)}}}{self.paren(body)}"

    def call(self, fn: str, args: Sequence[str]) -> str:
        return f"{fn}({', '.join(args)})"

    def derivative(self, num: str, den: str, compound: bool = False) -> tuple[str, int]:
        """d num / d den; ``compound``: ``num`` is an expression, not a tensor."""
        return (f"d({num})/d{den}" if compound else f"d{num}/d{den}"), FRAC

    def ref(self, num: str, den: str) -> tuple[str, int]:
        """A Jacobian tensor used inside an expression."""
        return f"(d{num}/d{den})", ATOM

    def second(self, num: str, den: str, den2: str | None) -> str:
        """d2 num / d den d den2; ``den2`` None: the second derivative w.r.t. den twice
        (a Hessian's diagonal)."""
        return f"d2{num}/d{den}d{den2}" if den2 is not None else f"d2{num}/d{den}^2"

    # -- operators
    def power(self, b: str, bp: int, x: str, xp: int, value: Fraction | None) -> tuple[str, int]:
        """``b ^ x``; ``value`` is the exponent when it is a constant."""
        return f"{b if bp >= ATOM else self.paren(b)}^{x if xp >= ATOM else self.paren(x)}", POW

    def divisor(self, b: str, bp: int, ex: Fraction) -> tuple[str, int]:
        """``b ^ ex`` (``ex > 0``) as a divisor of a simplified product."""
        if ex == 1:
            return b, bp
        return f"{b if bp >= POW else self.paren(b)}^{number_text(ex)}", POW

    def big_sum(self, indices: Sequence[str], body: str, bp: int) -> tuple[str, int]:
        """An explicit summation (one the implicit convention does not cover)."""
        return f"sum[{','.join(indices)}]({body})", ATOM

    def factor(self, s: str, p: int, last: bool, frac_bare: bool = True) -> str:
        """``s`` as a factor of a product."""
        bare = p >= POW or (p == FRAC and frac_bare) or (p == OPEN and last)
        return s if bare else self.paren(s)

    def term(self, s: str, p: int, last: bool) -> str:
        """``s`` as a term of a sum."""
        return s if p > ADD and (p != OPEN or last) else self.paren(s)

    def divisor_text(self, s: str, p: int) -> str:
        return s if p >= POW else self.paren(s)

    def joined(self, factors: Sequence[tuple[str, int]], frac_bare: bool = True) -> str:
        """Factors (text, precedence) multiplied together, each parenthesised as needed."""
        out = ""
        for k, (s, p) in enumerate(factors):
            out = self.juxtapose(out, self.factor(s, p, k == len(factors) - 1, frac_bare))
        return out

    def juxtapose(self, left: str, right: str) -> str:
        return right if not left else left + self.times + right

    def splits(self, c: Fraction) -> bool:
        """Whether a coefficient ``c`` prints as numerator and divisor (``x / 3``)."""
        return "/" in number_text(c)

    def product(self, parts: Sequence[tuple[str, int]], dens: Sequence[tuple[str, int]],
                coef: bool = False) -> tuple[str, int]:
        """A simplified product: ``parts`` in chain order, then divisors; ``coef``: the
        first part is the numeric coefficient."""
        body = self.joined(parts) or "1"
        return body + "".join(f" / {self.divisor_text(*d)}" for d in dens), MUL

    def written_product(self, items: Sequence[tuple[bool, str, int]]) -> tuple[str, int]:
        """A product as written: ``(is_divisor, text, precedence)`` items, left to right."""
        out = ""
        for k, (div, s, p) in enumerate(items):
            if div:
                out += ("1" if k == 0 else "") + " / " + self.divisor_text(s, p)
                continue
            first_unary = k == 0 and p == UNARY  # `-x * y` parses as (-x) * y
            out += (self.times if out else "") + (s if first_unary else self.factor(s, p, False))
        return out, MUL


def _superscript(v: Fraction) -> str | None:
    """An integer as superscript digits (``⁻²``), None for anything else."""
    t = number_text(v)
    return t.translate(_SUPERSCRIPT) if v.denominator == 1 and t.lstrip("-").isdigit() else None


def _scientific(s: str) -> tuple[str, int] | None:
    """``("2.5", -6)`` for ``2.5e-06``."""
    if "e" not in s:
        return None
    m, e = s.split("e")
    return m, int(e)


class UnicodeNotation(Notation):
    """Unicode: ``∂l/∂X_ik = ∂l/∂Y_ij A_kj``, ``δ_ip``, ``Σ_n dZ_nh``, ``σ(z_i)``, ``x²``.

    Products are juxtaposed (``·`` before a number); a quotient ``a / b`` comes last in a
    product and takes one divisor, in parentheses when it is a product itself.
    """

    name = "unicode"
    times = " "

    def number(self, v: Fraction) -> tuple[str, int]:
        s = number_text(v)
        sci = _scientific(s)
        if sci is None:
            return s, (ATOM if "/" not in s else MUL)
        m, e = sci
        ten = "10" + str(e).translate(_SUPERSCRIPT)
        return (ten, POW) if m == "1" else (f"{m}·{ten}", MUL)

    def index(self, name: str) -> str:
        return GREEK.get(name, name)

    def index_list(self, names: Sequence[str]) -> str:
        spelled = [self.index(n) for n in names]
        return ("" if all(len(s) == 1 for s in spelled) else ",").join(spelled)

    def symbol(self, name: str) -> str:
        return GREEK.get(name, name)

    def tensor(self, name: str, indices: Sequence[str]) -> str:
        return f"{self.symbol(name)}_{self.index_list(indices)}" if indices else self.symbol(name)

    def delta(self, indices: Sequence[str]) -> str:
        return f"δ_{self.index_list(indices)}"

    def size(self, index: str) -> str:
        return f"size({self.index(index)})"

    def transposed(self, name: str, indices: Sequence[str]) -> str:
        return f"({self.symbol(name)}ᵀ)_{self.index_list(indices)}"

    def matfn(self, fn: str, operand: str, indices: Sequence[str]) -> str:
        s = MATRIX_FUNCTIONS[fn].unicode.format(self.symbol(operand))
        return f"({s})_{self.index_list(indices)}" if indices else s

    def call(self, fn: str, args: Sequence[str]) -> str:
        f = FUNCTIONS.get(fn)
        return _spell_call(f.unicode if f else fn, ", ".join(args), self.paren)

    def derivative(self, num: str, den: str, compound: bool = False) -> tuple[str, int]:
        return (f"∂({num})/∂{den}" if compound else f"∂{num}/∂{den}"), FRAC

    def ref(self, num: str, den: str) -> tuple[str, int]:
        return self.derivative(num, den)

    def second(self, num: str, den: str, den2: str | None) -> str:
        return f"∂²{num}/∂{den}∂{den2}" if den2 is not None else f"∂²{num}/∂{den}²"

    def power(self, b: str, bp: int, x: str, xp: int, value: Fraction | None) -> tuple[str, int]:
        if value == Fraction(1, 2):
            return self.call(SQRT, [b]), ATOM
        base = b if bp >= ATOM else self.paren(b)
        sup = _superscript(value) if value is not None else None
        if sup is not None:
            return base + sup, POW
        simple = xp >= ATOM and re.fullmatch(r"[^\W_]+|[0-9.]+", x) is not None
        return f"{base}^{x if simple else self.paren(x)}", POW

    def divisor(self, b: str, bp: int, ex: Fraction) -> tuple[str, int]:
        return (b, bp) if ex == 1 else self.power(b, bp, *self.number(ex), ex)

    def big_sum(self, indices: Sequence[str], body: str, bp: int) -> tuple[str, int]:
        bare = bp in (OPEN, MUL, FRAC, POW, ATOM)
        return f"Σ_{','.join(self.index(i) for i in indices)} {body if bare else self.paren(body)}", OPEN

    def juxtapose(self, left: str, right: str) -> str:
        if not left:
            return right
        return left + (" · " if right[:1].isdigit() else " ") + right

    def product(self, parts: Sequence[tuple[str, int]], dens: Sequence[tuple[str, int]],
                coef: bool = False) -> tuple[str, int]:
        if not dens:
            return self.joined(parts), MUL
        num = self.joined(parts, frac_bare=False) or "1"
        den = self.divisor_text(*dens[0]) if len(dens) == 1 else self.paren(self.joined(dens))
        return f"{num} / {den}", QUOT

    def written_product(self, items: Sequence[tuple[bool, str, int]]) -> tuple[str, int]:
        out, quot = "", False
        for k, (div, s, p) in enumerate(items):
            if div:
                out = (out or "1") + " / " + self.divisor_text(s, p)
                quot = True
                continue
            if quot:  # (a / b) c: juxtaposition would read as a / (b c)
                out, quot = self.paren(out), False
            first_unary = k == 0 and p == UNARY
            out = self.juxtapose(out, s if first_unary else self.factor(s, p, k == len(items) - 1))
        return out, (QUOT if quot else MUL)


def _spell_call(spelling: str, args: str, paren) -> str:
    """A function's spelling applied to its argument text: ``#1`` marks where the argument
    goes (``\\sqrt{#1}``); without it the argument follows in parentheses."""
    return spelling.replace("#1", args) if "#1" in spelling else spelling + paren(args)


_ENDS_WITH_COMMAND = re.compile(r"\\[A-Za-z]+$")

#: LaTeX commands of Greek letters that read as a function before a parenthesis (``\sigma``)
_GREEK_CALLS = tuple("\\" + c[0] for c in latex_reading().commands if len(c) == 1 and c[0] in GREEK)


class LatexNotation(Notation):
    """LaTeX (KaTeX's subset): ``\\frac{\\partial l}{\\partial X_{ik}} = \\frac{\\partial l}{\\partial Y_{ij}} A_{kj}``.

    Names of one letter print as they are, Greek names as their letter, any other name as
    ``\\mathit{W2}`` (one symbol, not a product of letters). Division and negative powers
    of simplified products become one ``\\frac``; products are juxtaposed, with ``\\cdot``
    before a number and between a number and a numeric fraction (never ``2\\frac{1}{3}``).
    """

    name = "latex"
    times = " "

    def paren(self, s: str) -> str:
        return rf"\left({s}\right)"

    def number(self, v: Fraction) -> tuple[str, int]:
        s = number_text(v)
        if "/" in s:
            return rf"\frac{{{integer_text(v.numerator)}}}{{{integer_text(v.denominator)}}}", FRAC
        sci = _scientific(s)
        if sci is None:
            return s, ATOM
        m, e = sci
        return (f"10^{{{e}}}", POW) if m == "1" else (rf"{m} \cdot 10^{{{e}}}", MUL)

    def symbol(self, name: str) -> str:
        """One symbol for a name: ``x``, ``\\mu``, ``\\mathit{W2}``."""
        if name in GREEK:
            return "\\" + name
        if name in _GREEK_COMMAND:
            return "\\" + _GREEK_COMMAND[name]
        if len(name) == 1 and name.isascii() and name.isalnum():
            return name
        if not name.isascii():  # KaTeX's strict mode allows other letters only as text
            return r"\text{" + name.replace("_", r"\_") + "}"
        return r"\mathit{" + name.replace("_", r"\_") + "}"

    def index(self, name: str) -> str:
        return self.symbol(name)

    def index_list(self, names: Sequence[str]) -> str:
        """``ij``, ``\\mu\\nu``, ``\\alpha i`` (a space ends a command before a letter);
        with commas when an index has a longer name (``\\mathit{batch},k``)."""
        single = all(len(n) == 1 or n in GREEK for n in names)
        if not single:
            return ",".join(self.symbol(n) for n in names)
        out = ""
        for n in names:
            s = self.symbol(n)
            out += (" " if _ENDS_WITH_COMMAND.search(out) and s[:1].isalpha() else "") + s
        return out

    def tensor(self, name: str, indices: Sequence[str]) -> str:
        return f"{self.symbol(name)}_{{{self.index_list(indices)}}}" if indices else self.symbol(name)

    def delta(self, indices: Sequence[str]) -> str:
        return rf"\delta_{{{self.index_list(indices)}}}"

    def size(self, index: str) -> str:
        return rf"\operatorname{{size}}({self.index(index)})"

    @staticmethod
    def base(sym: str) -> str:
        """``sym`` as the base of a power: a tensor named e is ``\\mathit{e}``, since
        ``e^{x}`` reads as Euler's number (``exp(x)``)."""
        return r"\mathit{e}" if sym == "e" else sym

    def transposed(self, name: str, indices: Sequence[str]) -> str:
        return f"({self.base(self.symbol(name))}^{{T}})_{{{self.index_list(indices)}}}"

    def matfn(self, fn: str, operand: str, indices: Sequence[str]) -> str:
        spelling = MATRIX_FUNCTIONS[fn].latex
        sym = self.symbol(operand)
        s = spelling.format(self.base(sym) if "^" in spelling else sym)
        return f"({s})_{{{self.index_list(indices)}}}" if indices else s

    def call(self, fn: str, args: Sequence[str]) -> str:
        f = FUNCTIONS.get(fn)
        spelling = f.latex if f else rf"\operatorname{{{fn}}}"
        return _spell_call(spelling, ", ".join(args), self.paren)

    def derivative(self, num: str, den: str, compound: bool = False) -> tuple[str, int]:
        if compound:
            return rf"\frac{{\partial}}{{\partial {den}}}{self.paren(num)}", FRAC
        return rf"\frac{{\partial {num}}}{{\partial {den}}}", FRAC

    def ref(self, num: str, den: str) -> tuple[str, int]:
        return self.derivative(num, den)

    def second(self, num: str, den: str, den2: str | None) -> str:
        bottom = rf"\partial {den} \partial {den2}" if den2 is not None else rf"\partial {den}^{{2}}"
        return rf"\frac{{\partial^{{2}} {num}}}{{{bottom}}}"

    def power(self, b: str, bp: int, x: str, xp: int, value: Fraction | None) -> tuple[str, int]:
        if value == Fraction(1, 2):
            return self.call(SQRT, [b]), ATOM
        if value is not None and "/" in number_text(abs(value)):  # x^{1/3}, not x^{\frac13}
            x = ("-" if value < 0 else "") + number_text(abs(value))
        if x == "T":  # the power of a scalar named T, not a transpose (as x^{T} reads)
            x = r"\mathit{T}"
        b = self.base(b)
        return f"{b if bp >= ATOM else self.paren(b)}^{{{x}}}", POW

    def divisor(self, b: str, bp: int, ex: Fraction) -> tuple[str, int]:
        return (b, bp) if ex == 1 else self.power(b, bp, *self.number(ex), ex)

    def big_sum(self, indices: Sequence[str], body: str, bp: int) -> tuple[str, int]:
        bare = bp in (OPEN, MUL, FRAC, POW, ATOM)
        subs = ",".join(self.index(i) for i in indices)
        return rf"\sum_{{{subs}}} {body if bare else self.paren(body)}", OPEN

    def juxtapose(self, left: str, right: str) -> str:
        if not left:
            return right
        number_meets = right[:1].isdigit() or (left[-1:].isdigit() and re.match(r"\\frac\{\d", right))
        # a tensor named sigma before a parenthesis would read back as the function: \sigma(x)
        call_like = left.endswith(_GREEK_CALLS) and right.startswith(("(", "\\left("))
        return left + (r" \cdot " if number_meets or call_like else " ") + right

    def splits(self, c: Fraction) -> bool:
        return c.denominator != 1 and "e" not in number_text(c)  # x/2, not 0.5 x

    def product(self, parts: Sequence[tuple[str, int]], dens: Sequence[tuple[str, int]],
                coef: bool = False) -> tuple[str, int]:
        """With divisors, one ``\\frac``; the coefficient and any derivative factors lead
        (``2 \\frac{\\partial l}{\\partial y} \\frac{x}{n}``), so fractions never nest."""
        if not dens:
            return self.joined(parts), MUL
        leads = [(coef and k == 0) or p == FRAC for k, (_, p) in enumerate(parts)]
        lead = [pt for pt, is_lead in zip(parts, leads) if is_lead]
        rest = [pt for pt, is_lead in zip(parts, leads) if not is_lead]
        den = dens[0][0] if len(dens) == 1 else self.joined(dens)
        num = self.numerator(rest, den)
        frac = rf"\frac{{{num}}}{{{den}}}"
        return (self.juxtapose(self.joined(lead), frac), MUL) if lead else (frac, FRAC)

    def numerator(self, parts: Sequence[tuple[str, int]], den: str, written: bool = False) -> str:
        """The numerator of a ``\\frac``: a product factor in parentheses when the divisor
        has a sum of its own, since an implicit sum in a numerator reaches over the divisor
        (``\\frac{\\left(A_{n} l_{n}\\right)}{\\sum_{n} s_{n}}``)."""
        # as written, a product in a numerator is one the source parenthesised: its implicit
        # sums stop there, and in a \frac they would reach over the divisor
        if written or "\\sum_" in den:
            parts = [(self.paren(t), ATOM) if p == MUL else (t, p) for t, p in parts]
        return parts[0][0] if len(parts) == 1 else self.joined(parts) or "1"

    def written_product(self, items: Sequence[tuple[bool, str, int]]) -> tuple[str, int]:
        """Left to right, each divisor making a ``\\frac`` of everything before it."""
        acc: list[tuple[str, int]] = []
        for k, (div, s, p) in enumerate(items):
            if div:
                acc = [(rf"\frac{{{self.numerator(acc, s, written=True)}}}{{{s}}}", FRAC)]
            else:
                acc.append((s, ATOM if k == 0 and p == UNARY else p))  # -x y: (-x) y
        return acc[0] if len(acc) == 1 else (self.joined(acc), MUL)


TEXT, UNICODE, LATEX = Notation(), UnicodeNotation(), LatexNotation()
#: the notations by name, for the ``notation=`` keyword
NOTATIONS: dict[str, Notation] = {n.name: n for n in (TEXT, UNICODE, LATEX)}


def notation_of(notation: str | Notation) -> Notation:
    """The notation named ``notation`` (``"text"``, ``"unicode"``, ``"latex"``), or itself."""
    if isinstance(notation, Notation):
        return notation
    try:
        return NOTATIONS[notation]
    except KeyError:
        raise RicciError(f"unknown notation {notation!r}: choose one of {', '.join(NOTATIONS)}") from None


# ---------------------------------------------------------------- printing


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
                return nt.derivative(inner, nt.tensor(den, b), compound=True)[0], ATOM
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
        if len(factors) == 1 and not _is_reciprocal_factor(factors[0][0]):
            s, p, n = self.text(*factors[0])
            if neg and n:  # -(-b): both signs kept, as written
                return self.nt.paren(self.minus(s, p)), ATOM, True
            return s, p, neg != n
        items: list[tuple[bool, str, int]] = []
        for f, fpath in factors:
            if _is_reciprocal_factor(f):
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


def lhs_text(name: str, indices: Sequence[Index | str], *, notation: str | Notation = "text",
             adjoints: Adjoints | None = None) -> str:
    """``name[indices]`` in ``notation``; an adjoint tensor as the loss's derivative."""
    nt = notation_of(notation)
    if adjoints and name in adjoints:
        loss, primal = adjoints[name]
        return nt.derivative(nt.tensor(loss, ()), nt.tensor(primal, _names(indices)))[0]
    return nt.tensor(name, _names(indices))


_DISPLAY = re.compile(r"d(\w+)(?:\[([\w,]*)\])?/d(\w+)(?:\[([\w,]*)\])?")


def _head(st, lhs: str | None, refs: Mapping | None, nt: Notation,
          adjoints: Adjoints | None, second: Mapping | None = None) -> str:
    """The left-hand side of ``st``. In text a given ``lhs`` is printed verbatim; in the
    other notations a Jacobian is spelled from ``refs`` (or from ``lhs`` when it is the
    ``dY[i,j]/dX[p,q]`` form jacobian() displays), a Hessian from ``second`` (name ->
    (loss, x, rank of x, y, diagonal)): ``∂²L/∂x_i∂x_j``."""
    if nt is TEXT:  # as before the other notations existed: refs are not consulted
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
    the left-hand side; ``second`` spells Hessians (see :func:`_head`)."""
    nt = notation_of(notation)
    rhs = expr_text(st.rhs, st.indices, reorder, refs, notation=nt, adjoints=adjoints)
    return f"{_head(st, lhs, refs, nt, adjoints, second)} = {rhs}"


def program_text(p) -> str:
    """The program as source text that parses back (see :func:`parseable`)."""
    lines = []
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


printing.install(_IRPrinter())
