"""How each piece of printed index notation is spelled: the three notations (ricci's text,
Unicode, LaTeX) and what every printer of ``display`` shares.

:class:`Notation` (ricci's parseable text), :class:`UnicodeNotation` and
:class:`LatexNotation` spell atoms (numbers, names, tensors, deltas, functions),
operators and derivatives; :data:`NOTATIONS` holds them by name. The printer
(:mod:`.render`) decides structure and asks a notation only how to spell a piece.
Also here: the precedences printers return (:data:`ATOM` and the others, loosest first)
and the LaTeX blocks (:func:`latex_equations`, :func:`latex_aligned`, :func:`latex_text`).

Invariants: a notation spells, it never decides which pieces print; numbers are read
from :mod:`ricci.primitives.numbers` (the one place their digits are spelled) and functions
from the primitive table (:mod:`ricci.primitives.functions`), never listed here. In LaTeX
one name and one number have one spelling in every view: :func:`latex_symbol` spells
names, :func:`latex_number` numbers (with :func:`latex_base` and :func:`latex_exponent`
for superscripts), for the index notation (:class:`LatexNotation`) and the matrix notation
(:mod:`.matrix_render`) alike, hence for the steps and the Markdown report.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from fractions import Fraction

from ..errors import RicciError
from ..primitives.functions import FUNCTIONS, MATRIX_FUNCTIONS, latex_reading
from ..primitives.greek import GREEK
from ..primitives.numbers import integer_text, number_text
from ..syntax.latex_tables import DECORATIONS

__all__ = [
    "ADD", "ATOM", "FRAC", "LATEX", "MUL", "Notation", "OPEN", "POW", "SQRT", "TEXT", "UNARY",
    "latex_aligned", "latex_base", "latex_equations", "latex_exponent", "latex_number", "latex_symbol",
    "latex_text", "notation_of",
]

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


#: a name ending a factor that, before a parenthesis, the reader takes for a function (σ:
#: sigmoid; σ_i: ambiguous): the product is written σ · (a + b)
_CALLING_END = re.compile(r"(?<![^\W_])(?:" + "|".join(
    re.escape(f.unicode) for f in FUNCTIONS.values() if f.unicode.isalpha() and not f.unicode.isascii())
    + r")(?:_\S*)?$")


def _plain(spelled: str) -> bool:
    """Whether a name stands bare in the Unicode notation: ASCII letters and digits, or a
    Greek letter (the reader reads any other, ``x_in``, ``ı``, in braces or parentheses)."""
    return re.fullmatch(r"[A-Za-z][A-Za-z0-9]*", spelled) is not None or spelled in _GREEK_LETTERS


_GREEK_LETTERS = frozenset(GREEK.values())


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
        """``ij`` (one character each), ``batch,k`` (several, one longer), else in
        parentheses: ``(bt)`` is the one index ``bt`` (``_bt`` reads back as ``b`` and
        ``t``), ``(i_1,j)`` holds an index with ``_``; the Unicode reader reads each back."""
        spelled = [self.index(n) for n in names]
        if all(_plain(s) for s in spelled):
            if all(len(s) == 1 for s in spelled):
                return "".join(spelled)
            if len(spelled) > 1:
                return ",".join(spelled)
        return "(" + ",".join(spelled) + ")"

    def symbol(self, name: str) -> str:
        """A Greek name is its letter (but ``Sigma``: ``Σ`` is a sum); a name with ``_`` or
        another letter than ASCII's and Greek's is in braces (``{x_in}_j``: bare, ``x_in_j``
        would be ``x`` subscripted twice)."""
        spelled = GREEK.get(name, name)
        if spelled == "Σ":  # the sum's sign: the name Sigma stays a word, the letter is braced
            return name if name != "Σ" else "{Σ}"
        return spelled if _plain(spelled) else "{" + spelled + "}"

    def tensor(self, name: str, indices: Sequence[str]) -> str:
        return f"{self.symbol(name)}_{self.index_list(indices)}" if indices else self.symbol(name)

    def delta(self, indices: Sequence[str]) -> str:
        return f"δ_{self.index_list(indices)}"

    def size(self, index: str) -> str:
        return f"size({self.index(index)})"

    def transposed(self, name: str, indices: Sequence[str]) -> str:
        return f"({self.symbol(name)}ᵀ)_{self.index_list(indices)}"

    def matfn(self, fn: str, operand: str, indices: Sequence[str]) -> str:
        spelling, sym = MATRIX_FUNCTIONS[fn].unicode, self.symbol(operand)
        raised = spelling.split("{0}", 1)[1][:1] not in ("", ")")  # {e}⁻¹: bare, e⁻¹ is exp(-1)
        s = spelling.format("{e}" if sym == "e" and raised else sym)
        return f"({s})_{self.index_list(indices)}" if indices else s

    def call(self, fn: str, args: Sequence[str]) -> str:
        f = FUNCTIONS.get(fn)
        arg = ", ".join(args)
        if f and f.unicode.startswith("|") and "|" in arg:  # |a |b| + c| reads as |a| b |+ c|
            return f"{fn}({arg})"
        return _spell_call(f.unicode if f else fn, arg, self.paren)

    def derivative(self, num: str, den: str, compound: bool = False) -> tuple[str, int]:
        return (f"∂({num})/∂{den}" if compound else f"∂{num}/∂{den}"), FRAC

    def ref(self, num: str, den: str) -> tuple[str, int]:
        return self.derivative(num, den)

    def second(self, num: str, den: str, den2: str | None) -> str:
        return f"∂²{num}/∂{den}∂{den2}" if den2 is not None else f"∂²{num}/∂{den}²"

    def power(self, b: str, bp: int, x: str, xp: int, value: Fraction | None) -> tuple[str, int]:
        if value == Fraction(1, 2):
            return self.call(SQRT, [b]), ATOM
        base = b if bp >= ATOM and b != "e" else self.paren(b)  # e^x is exp(x): (e)^x, the name e
        sup = _superscript(value) if value is not None else None
        if sup is not None:
            return base + sup, POW
        simple = xp >= ATOM and re.fullmatch(r"[^\W_]+|[0-9.]+", x) is not None and x != "T"
        return f"{base}^{x if simple else self.paren(x)}", POW  # x^T is a transpose: x^(T), the name T

    def divisor(self, b: str, bp: int, ex: Fraction) -> tuple[str, int]:
        return (b, bp) if ex == 1 else self.power(b, bp, *self.number(ex), ex)

    def big_sum(self, indices: Sequence[str], body: str, bp: int) -> tuple[str, int]:
        bare = bp in (OPEN, MUL, FRAC, POW, ATOM)
        spelled = [self.index(i) for i in indices]  # Σ_i,j; Σ_(bt) as for a tensor
        plain = all(_plain(i) for i in spelled) and (len(spelled) > 1 or len(spelled[0]) == 1)
        run = ",".join(spelled) if plain else self.index_list(spelled)
        return f"Σ_{run} {body if bare else self.paren(body)}", OPEN

    def juxtapose(self, left: str, right: str) -> str:
        if not left:
            return right
        a, b = _BARE_END.search(left), _BARE_START.match(right)
        capitals = a is not None and b is not None and (a.group(1).isupper() or b.group(1).isupper())
        call = right.startswith("(") and _CALLING_END.search(left) is not None  # σ (a + b) is sigmoid
        return left + (" · " if right[:1].isdigit() or capitals or call else " ") + right  # X · A: scalars

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


#: the accents the LaTeX reader writes as a suffix of a name (``\hat{y}`` is ``yhat``)
_ACCENTS = tuple(dict.fromkeys(DECORATIONS.values()))
#: a one-letter name without indices at the end / the start of a factor's text: bare, or a
#: letter neither ASCII nor Greek as the notations spell it (``\text{Ƞ}``, ``{Ƞ}``)
_BARE_END = re.compile(r"(?:^|[\s({])(?:\\text\{|\{)?([^\W\d_])\}?$")
_BARE_START = re.compile(r"(?:\\text\{|\{)?([^\W\d_])\}?(?:$|\s)")


def latex_symbol(name: str) -> str:
    """A name (a tensor's, an index's, the loss's) as one LaTeX symbol, in every view: ``x``,
    ``\\mu``, ``\\mathit{W2}``, ``\\mathit{x\\_1}`` (never ``W_{2}``: a subscript is an index).

    Names of one letter print as they are, Greek names as their letter, any other name
    as one italic symbol (not a product of letters), non-ASCII letters as text.
    """
    if name in GREEK:
        return "\\" + name
    if name in _GREEK_COMMAND:
        return "\\" + _GREEK_COMMAND[name]
    if len(name) == 1 and name.isascii() and name.isalnum():
        return name
    for accent in _ACCENTS:  # yhat is \hat{y}, as the LaTeX reader reads it
        base = name[:-len(accent)]
        if name.endswith(accent) and (len(base) == 1 and base.isascii() and base.isalpha() or base in GREEK):
            return rf"\{accent}{{{latex_symbol(base)}}}"
    if not name.isascii():  # KaTeX's strict mode allows other letters only as text
        return r"\text{" + name.replace("_", r"\_") + "}"
    return r"\mathit{" + name.replace("_", r"\_") + "}"


def latex_number(v: Fraction) -> tuple[str, int]:
    """A non-negative number in LaTeX, in every view, and the loosest precedence at which it
    stands bare: ``2``, ``0.5``, ``\\frac{1}{3}``, ``10^{-5}``, ``2.5 \\cdot 10^{-6}``
    (the digits are :func:`~ricci.primitives.numbers.number_text`'s)."""
    s = number_text(v)
    if "/" in s:
        return rf"\frac{{{integer_text(v.numerator)}}}{{{integer_text(v.denominator)}}}", FRAC
    sci = _scientific(s)
    if sci is None:
        return s, ATOM
    m, e = sci
    return (f"10^{{{e}}}", POW) if m == "1" else (rf"{m} \cdot 10^{{{e}}}", MUL)


def latex_base(sym: str) -> str:
    """A symbol as the base of a superscript (a power, an inverse, a transpose): a tensor
    named e is ``\\mathit{e}``, since ``e^{x}`` reads as Euler's number (``exp(x)``)."""
    return r"\mathit{e}" if sym == "e" else sym


def latex_exponent(x: str, value: Fraction | None) -> str:
    """The text ``x`` of an exponent, as a superscript says it (``value``: the exponent when
    it is a constant): a fraction inline, ``x^{1/3}`` (not ``x^{\\frac13}``); a scalar named
    T as ``\\mathit{T}``, not a transpose (as ``x^{T}`` reads)."""
    if value is not None and "/" in number_text(abs(value)):
        return ("-" if value < 0 else "") + number_text(abs(value))
    return r"\mathit{T}" if x == "T" else x


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
        return latex_number(v)

    def symbol(self, name: str) -> str:
        """One symbol for a name: ``x``, ``\\mu``, ``\\mathit{W2}`` (:func:`latex_symbol`)."""
        return latex_symbol(name)

    def index(self, name: str) -> str:
        """As :meth:`symbol`, but never an accent (``\\hat{y}`` is no index in a subscript):
        ``\\mathit{yhat}``."""
        s = self.symbol(name)
        if any(s.startswith(f"\\{a}{{") for a in _ACCENTS):
            return r"\mathit{" + name.replace("_", r"\_") + "}"
        return s

    def index_list(self, names: Sequence[str]) -> str:
        """``ij``, ``\\mu\\nu``, ``\\alpha i`` (a space ends a command before a letter);
        with commas when an index has a longer name (``\\mathit{batch},k``)."""
        single = all(len(n) == 1 or n in GREEK for n in names)
        if not single:
            return ",".join(self.index(n) for n in names)
        out = ""
        for n in names:
            s = self.index(n)
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
        """``sym`` as the base of a power (:func:`latex_base`)."""
        return latex_base(sym)

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
        x = latex_exponent(x, value)
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
        # two one-letter names, one a capital, would read back as a matrix product (refused)
        a, b = _BARE_END.search(left), _BARE_START.match(right)
        capitals = a is not None and b is not None and (a.group(1).isupper() or b.group(1).isupper())
        return left + (r" \cdot " if number_meets or call_like or capitals else " ") + right

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

