"""Stage 1, LaTeX flavour: formulas as the articles typeset them -> the ricci syntax tree.

``y_{ij} = x_{ik} a_{kj}`` reads as ``y[i,j] = x[i,k] * a[k,j]``: this module builds the
*same* syntax tree as :mod:`ricci.parse` (``StmtA``, ``Ref``, ``ProdA``, ...), with spans
pointing into the LaTeX text, so :mod:`ricci.resolve` applies the index rule, works out
sizes and reports errors exactly as for ricci syntax, with carets under LaTeX tokens.
docs/latex-input.md describes the accepted subset; in short::

    program   := statement ((newline | ';' | '\\\\') statement)*   # '%' comments, '&', $..$ ignored
    statement := name '=' expr                     # name: y, y_{ij}, \\hat{y}_i, \\mathrm{W2}_{ij}, W^{(2)}_{ij}
    expr      := term (('+' | '-') term)*
    term      := unary (('*' | '/' | \\cdot | \\times) unary | power)*   # juxtaposition multiplies
    unary     := ('-' | '+') unary | power
    power     := atom ['^' script]                 # '^' takes one token or a {group}, as in TeX
    atom      := number | name [_script] [^script] | ( expr ) | { expr } | |expr|
               | \\frac{a}{b} | \\sqrt{a} | \\tanh(a) | \\sigma(a) | \\operatorname{relu}(a) | e^{a}
               | \\sum_{k} term-rest               # the sum reaches to the end of its product term
               | \\delta_{ij} | \\operatorname{size}(k)

Names: a letter is a name (``ab`` is ``a`` times ``b``); ``\\mu`` is ``mu``;
``\\hat{y}`` is ``yhat`` (``\\bar`` -> ``xbar``, ``\\tilde`` -> ``xtilde``); ``\\mathrm{W2}``
is ``W2``; a numeric subscript or a parenthesised numeric superscript is part of the name
(``W_1`` and ``W^{(1)}`` are ``W1``). Subscript letters are indices, one per character
(``_{ij}`` is ``i, j``) unless commas separate them (``_{batch,k}``); ``\\mathit{batch}``
is one index too, so what :mod:`ricci.render` prints as LaTeX reads back.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from itertools import pairwise
from typing import NamedTuple

from ..bounds import current, guarded, tick
from ..errors import RicciError, Span
from ..primitives.functions import (
    FUNCTIONS,
    MATRIX_FUNCTIONS,
    LatexReading,
    latex_reading,
)
from ..primitives.greek import GREEK
from .parse import (
    KEYWORDS,
    AddA,
    CallA,
    DeltaA,
    Group,
    MatCallA,
    Name,
    NegA,
    Node,
    Num,
    PowA,
    ProdA,
    Ref,
    SizeA,
    StmtA,
    SumA,
    character_error,
    check_name,
    is_name_char,
    nesting_error,
    number_value,
    prepare_text,
    statements_error,
)

__all__ = ["looks_like_latex", "parse_latex_statements", "tokenize_latex"]

# ---------------------------------------------------------------- vocabulary

#: commands whose braced argument is a word: a name, a function or ``size``
WORD_COMMANDS = ("mathrm", "mathit", "mathbf", "mathsf", "mathtt", "boldsymbol", "bm",
                 "operatorname", "text", "textrm", "textit", "textbf")
#: accents that become a suffix of the name: ``\hat{y}`` -> ``yhat``
DECORATIONS = {"hat": "hat", "widehat": "hat", "bar": "bar", "overline": "bar",
               "tilde": "tilde", "widetilde": "tilde"}
FRACTIONS = ("frac", "dfrac", "tfrac")
#: commands that only space or style the formula
IGNORED = {"quad", "qquad", "displaystyle", "textstyle", "limits", "nolimits", "nonumber",
           "notag"}
IGNORED_WITH_ARGUMENT = {"label", "tag"}
ENVIRONMENTS = {"aligned", "align", "align*", "equation", "equation*", "gather", "gather*",
                "gathered", "split", "multline", "multline*", "alignat", "alignat*", "alignedat",
                "eqnarray", "eqnarray*", "displaymath", "math"}
SIZES_LEFT = {"left", "bigl", "Bigl", "biggl", "Biggl"}
SIZES_RIGHT = {"right", "bigr", "Bigr", "biggr", "Biggr"}
SIZES_PLAIN = {"big", "Big", "bigg", "Bigg"}
#: commands that are operators
OPERATOR_COMMANDS = {"cdot": "*", "times": "*", "ast": "*", "div": "/", "coloneqq": "=",
                     "vert": "|", "lvert": "lvert", "rvert": "rvert"}
#: commands ricci understands but does not accept here, with what to do instead
UNSUPPORTED = {
    "partial": "derivatives are what ricci computes: write the function itself and call "
               "ricci.grad (or `ricci grad`) on it",
    "nabla": "derivatives are what ricci computes: write the function itself and call ricci.grad",
    "prod": "products over an index are not supported; a sum of logs is: \\sum_{k} \\log x_k",
    "max": "max is not a ricci function; relu(x) is max(x, 0)",
    "min": "min is not a ricci function",
    "top": "transposes are not needed in index notation: swap the indices (A_{ji})",
    "intercal": "transposes are not needed in index notation: swap the indices (A_{ji})",
    "infty": "sums run over the whole index; sizes come from the arrays",
    "int": "integrals are not supported",
    "lim": "limits are not supported",
    "sinh": "sinh is not a ricci function",
    "cosh": "cosh is not a ricci function",
    "tan": "tan is not a ricci function (sin(x) / cos(x) is)",
    "mathbb": "sets such as \\mathbb{R} are not part of a program",
    "in": "write only the definitions; sizes come from the arrays",
    "langle": "inner products are written with a repeated index: x_i y_i",
    "dot": "write \\mathrm{xdot} for a name", "vec": "write x for a vector x_i (indices say the rank)",
    "prime": "name the other tensor: \\mathrm{yp}, \\hat{y} or y_2",
}
#: optional arguments LaTeX allows a command and ricci does not: message and hint
OPTIONAL_ARGUMENTS = {"sqrt": ("only square roots are supported",
                               "only square roots: write x^{1/n} for an n-th root")}
_KNOWN = (set(GREEK) | set(WORD_COMMANDS) | set(DECORATIONS) | set(FRACTIONS) | set(IGNORED) |
          set(OPERATOR_COMMANDS) | SIZES_LEFT | SIZES_RIGHT | SIZES_PLAIN |
          {"sum", "delta", "begin", "end"})


def _known(reading: LatexReading) -> set[str]:
    """Every command the reader knows, for "did you mean" (the functions' from the tables)."""
    return _KNOWN | {c for cs in reading.commands for c in cs} | set(reading.macros)

_UNICODE: dict[str, str] = {}
for _name, _ch in GREEK.items():
    _UNICODE.setdefault(_ch, _name)
_UNICODE_OPS = {"·": "*", "×": "*", "⋅": "*", "−": "-", "∑": "sum"}


# ---------------------------------------------------------------- tokens


class Tok(NamedTuple):
    """A LaTeX token. ``text`` is normalised (an operator, a command name without its
    backslash, a letter, a number, a bracket); ``src`` is as written; ``pos`` / ``end`` are
    offsets into the text (two tokens touch when one's ``end`` is the other's ``pos``)."""

    kind: str  # LETTER NUMBER CMD OP OPEN CLOSE LBRACE RBRACE BAR LVERT RVERT SEP EOF
    text: str
    span: Span
    pos: int
    end: int
    src: str
    sized: bool = False  # an OPEN / CLOSE written with \left, \right, \bigl, ...


def _describe(t: Tok) -> str:
    if t.kind == "EOF":
        return "the end of the program"
    if t.kind == "SEP":
        if t.src in ("\n", "\r"):
            return "the end of the line"
        return "';'" if t.src == ";" else f"the end of the statement ('{t.src}')"
    return repr(t.src)


class _Lexer:
    def __init__(self, text: str) -> None:
        self.text = text
        self.i = 0
        self.line = 1
        self.line_start = 0
        self.toks: list[Tok] = []
        self.depth = 0  # (, [, {, \left( ... : a newline inside continues the statement
        self.braces: list[Tok] = []

    def span(self, start: int, end: int) -> Span:
        return Span(self.line, start - self.line_start + 1, end - start if end > start else 1)

    def err(self, msg: str, start: int, end: int | None = None, hint: str | None = None) -> RicciError:
        return RicciError(msg, span=self.span(start, end if end is not None else start + 1),
                          source=self.text, hint=hint)

    def emit(self, kind: str, text: str, start: int, end: int, sized: bool = False) -> None:
        span = Span(self.line, start - self.line_start + 1, end - start if end > start else 1)
        self.toks.append(_new(Tok, (kind, text, span, start, end, self.text[start:end], sized)))

    def skip_space(self) -> None:
        """Skip spaces and tabs (not a line break: lines are counted in :meth:`run`)."""
        t = self.text
        while self.i < len(t) and (t[self.i] in " \t" or t.startswith("\r\n", self.i)):
            self.i += 1

    def command_name(self, start: int) -> tuple[str, int]:
        """The command starting with the backslash at ``start``: (name, end offset)."""
        t, j = self.text, start + 1
        if j >= len(t):
            raise self.err("a lone '\\' at the end of the text", start)
        if t[j].isalpha():
            while j < len(t) and t[j].isalpha():
                j += 1
            return t[start + 1:j], j
        return t[j], j + 1

    def braced_word(self, what: str, at: int) -> str:
        """``{name}`` right after \\begin, \\end, \\label ...: the name (skipped)."""
        t = self.text
        self.skip_space()
        if self.i >= len(t) or t[self.i] != "{":
            raise self.err(f"expected '{{' after {what}", at, self.i)
        j = t.find("}", self.i)
        if j < 0 or "\n" in t[self.i:j]:
            raise self.err(f"unclosed '{{' after {what}", self.i)
        word = t[self.i + 1:j].strip()
        self.i = j + 1
        return word

    def delimiter(self, start: int, size_cmd: str) -> None:
        """The delimiter after \\left, \\right, \\bigl, ...: one token covering both."""
        t = self.text
        self.skip_space()
        j = self.i
        if j >= len(t):
            raise self.err(f"\\{size_cmd} needs a delimiter such as ( or |", start, j)
        if t[j] == "\\":
            d, end = self.command_name(j)
        else:
            d, end = t[j], j + 1
        if t[j:end] == "\\|" or d in ("Vert", "lVert", "rVert"):
            raise self.err("norms are not supported", start, end,
                           hint="write the sum of squares: \\sum_{i} x_i^2")
        side = "L" if size_cmd in SIZES_LEFT else "R" if size_cmd in SIZES_RIGHT else "N"
        self.i = end
        if d in ("(", "[", "{", "lbrack", "lbrace"):
            if side == "R":
                raise self.err(f"\\{size_cmd} with an opening delimiter", start, end)
            self.depth += 1
            self.emit("OPEN", {"lbrack": "[", "lbrace": "{"}.get(d, d), start, end, sized=True)
        elif d in (")", "]", "}", "rbrack", "rbrace"):
            if side == "L":
                raise self.err(f"\\{size_cmd} with a closing delimiter", start, end)
            self.depth = max(0, self.depth - 1)
            self.emit("CLOSE", {"rbrack": "]", "rbrace": "}"}.get(d, d), start, end, sized=True)
        elif d in ("|", "vert", "lvert", "rvert"):
            if side == "L" or (side == "N" and d == "lvert"):
                self.depth += 1
                self.emit("LVERT", "|", start, end)
            elif side == "R" or (side == "N" and d == "rvert"):
                self.depth = max(0, self.depth - 1)
                self.emit("RVERT", "|", start, end)
            else:
                self.emit("BAR", "|", start, end)
        elif d == ".":
            raise self.err(f"the empty delimiter \\{size_cmd}. is not supported", start, end,
                           hint="write matching delimiters, such as \\left( ... \\right)")
        else:
            raise self.err(f"unsupported delimiter {t[j:end]!r} after \\{size_cmd}", j, end,
                           hint="use ( ), [ ], \\{ \\} or |")

    def run(self) -> list[Tok]:
        t, n = self.text, len(self.text)
        append, single = self.toks.append, _SINGLE
        while self.i < n:
            i = self.i
            c = t[i]
            one = single.get(c)
            if one is not None:  # a letter, an operator, a bracket: one character, one token
                kind, change = one
                if change > 0:
                    self.depth += 1
                elif change < 0 and self.depth:
                    self.depth -= 1
                append(_new(Tok, (kind, c, Span(self.line, i - self.line_start + 1, 1), i, i + 1, c, False)))
                self.i = i + 1
                continue
            if c == "\n" or c == "\r":  # a line break: \n, \r\n or \r, at the end of its line
                j = i + (2 if t.startswith("\r\n", i) else 1)
                if self.depth == 0:
                    self.emit("SEP", "\n", i, i + 1)
                self.i, self.line, self.line_start = j, self.line + 1, j
                continue
            if c in " \t&~":
                self.i += 1
                continue
            if c == "%":
                while self.i < n and t[self.i] not in "\r\n":
                    self.i += 1
                continue
            if c == "$":  # math delimiters end a statement
                self.emit("SEP", "$", i, i + 1)
                self.i += 1
                continue
            if c == ";":
                self.emit("SEP", ";", i, i + 1)
                self.i += 1
                continue
            if c == "\\":
                if t[i + 1:i + 2] in ("\n", "\r"):  # a control space ending the line: the statement goes on
                    j = i + (3 if t.startswith("\r\n", i + 1) else 2)
                    self.i, self.line, self.line_start = j, self.line + 1, j
                    continue
                self.command(i)
                continue
            if c.isascii() and c.isalpha():
                self.emit("LETTER", c, i, i + 1)
                self.i += 1
                continue
            if c in _UNICODE:
                self.toks.append(Tok("CMD", _UNICODE[c], self.span(i, i + 1), i, i + 1, c))
                self.i += 1
                continue
            if c in _UNICODE_OPS:
                op = _UNICODE_OPS[c]
                self.toks.append(Tok("CMD" if op == "sum" else "OP", op, self.span(i, i + 1),
                                     i, i + 1, c))
                self.i += 1
                continue
            if "0" <= c <= "9" or (c == "." and i + 1 < n and "0" <= t[i + 1] <= "9"):
                self.number(i)
                continue
            if c == "{":
                self.depth += 1
                self.emit("LBRACE", "{", i, i + 1)
                self.braces.append(self.toks[-1])
                self.i += 1
                continue
            if c == "}":
                if not self.braces:
                    raise self.err("unmatched '}'", i, hint="every '}' closes an earlier '{'")
                self.braces.pop()
                self.depth = max(0, self.depth - 1)
                self.emit("RBRACE", "}", i, i + 1)
                self.i += 1
                continue
            if c in "([":
                self.depth += 1
                self.emit("OPEN", c, i, i + 1)
                self.i += 1
                continue
            if c in ")]":
                self.depth = max(0, self.depth - 1)
                self.emit("CLOSE", c, i, i + 1)
                self.i += 1
                continue
            if c == "|":
                self.emit("BAR", "|", i, i + 1)
                self.i += 1
                continue
            if c == ":" and t.startswith(":=", i):
                self.emit("OP", "=", i, i + 2)
                self.i += 2
                continue
            if c in "+-*/^_=,.'!<>:":
                self.emit("OP", c, i, i + 1)
                self.i += 1
                continue
            if unicodedata.category(c) == "Zs":  # a no-break space, a thin space, ...
                self.i += 1
                continue
            last = self.toks[-1] if self.toks else None
            before = last.src if last is not None and last.end == i and last.kind in ("LETTER", "NUMBER") else ""
            raise character_error(t, i, self.line, i - self.line_start + 1, latex=True, before=before)
        if self.braces:
            b = self.braces[-1]
            raise RicciError("unclosed '{'", span=b.span, source=t,
                             hint="every '{' needs a matching '}'")
        self.toks.append(Tok("EOF", "", self.span(n, n + 1), n, n, ""))
        return self.toks

    def number(self, i: int) -> None:
        t = self.text
        m = _NUMBER.match(t, i)
        assert m is not None
        j = m.end()
        self.emit("NUMBER", t[i:j], i, j)
        self.i = j

    def command(self, i: int) -> None:
        t = self.text
        name, end = self.command_name(i)
        self.i = end
        if name == "\\":
            self.emit("SEP", "\\\\", i, end)
            if end < len(t) and t[end] == "[":  # \\[2pt]
                close = t.find("]", end)
                if close >= 0 and "\n" not in t[end:close]:
                    self.i = close + 1
            return
        if name in ",;:! " or name in IGNORED:
            return  # spacing
        if name in ("[", "]", "(", ")"):  # the wrappers of display and inline math
            self.emit("SEP", name, i, end)
            return
        if name in IGNORED_WITH_ARGUMENT:
            self.braced_word(f"\\{name}", i)
            return
        if name in ("begin", "end"):
            env = self.braced_word(f"\\{name}", i)
            if env not in ENVIRONMENTS:
                raise self.err(f"unsupported environment '{env}'", i, self.i,
                               hint="write statements one per line, optionally inside "
                               "\\begin{aligned} ... \\end{aligned}")
            if name == "begin" and env.startswith("alignat"):
                self.braced_word(f"\\begin{{{env}}}", i)
            self.emit("SEP", name, i, self.i)
            return
        if name in SIZES_LEFT or name in SIZES_RIGHT or name in SIZES_PLAIN:
            self.delimiter(i, name)
            return
        if name in ("{", "}"):
            if name == "{":
                self.depth += 1
                self.emit("OPEN", "{", i, end)
            else:
                self.depth = max(0, self.depth - 1)
                self.emit("CLOSE", "}", i, end)
            return
        if name == "|":
            raise self.err("norms are not supported", i, end,
                           hint="write the sum of squares: \\sum_{i} x_i^2")
        if name in OPERATOR_COMMANDS:
            op = OPERATOR_COMMANDS[name]
            if op == "|":
                self.emit("BAR", "|", i, end)
            elif op == "lvert":
                self.emit("LVERT", "|", i, end)
            elif op == "rvert":
                self.emit("RVERT", "|", i, end)
            else:
                self.emit("OP", op, i, end)
            return
        self.emit("CMD", name, i, end)
        if name in WORD_COMMANDS:
            self.unicode_word()

    def unicode_word(self) -> None:
        """After ``\\text``, ``\\mathrm``, ...: a braced word with letters beyond ASCII
        (``\\text{ı}``, how ricci prints such a name) is one LETTER token, its name checked
        like a name of ricci syntax (:func:`ricci.parse.check_name`)."""
        t, j = self.text, self.i
        while j < len(t) and t[j] in " \t":
            j += 1
        close = t.find("}", j)
        if j >= len(t) or t[j] != "{" or close < 0:
            return
        word = t[j + 1:close]
        if word.isascii() or not word or "{" in word:
            return
        plain = word.replace("\\_", "_")
        if "\\" in plain or not all(is_name_char(c) for c in plain):
            return
        self.emit("LBRACE", "{", j, j + 1)
        self.braces.append(self.toks[-1])
        self.depth += 1
        check_name(plain, self.line, j + 2 - self.line_start, t)
        self.emit("LETTER", plain, j + 1, close)
        self.braces.pop()
        self.depth -= 1
        self.emit("RBRACE", "}", close, close + 1)
        self.i = close + 1


_new = tuple.__new__
#: the tokens of one character: (kind, change of bracket depth)
_SINGLE: dict[str, tuple[str, int]] = {
    **{c: ("LETTER", 0) for c in "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"},
    **{c: ("OP", 0) for c in "+-*/^_=,'!<>"}, "(": ("OPEN", 1), "[": ("OPEN", 1), ")": ("CLOSE", -1),
    "]": ("CLOSE", -1), "|": ("BAR", 0)}
#: a number: ASCII digits, a decimal point only before a digit, an exponent only with digits
_NUMBER = re.compile(r"[0-9]*(?:\.[0-9]+|[0-9])(?:[eE][+-]?[0-9]+)?")


def tokenize_latex(text: str) -> list[Tok]:
    """LaTeX text -> tokens (raises :class:`RicciError` for unbalanced braces and the like)."""
    return _Lexer(text).run()


# ---------------------------------------------------------------- parser


_SCRIPT_HINT = "in LaTeX '{op}' takes one token: group more with braces, {ex}"


def _inverse_of(node: Node) -> tuple[str, Span] | None:
    """``(A^{-1})``: the name of A and where it is, else None."""
    if not isinstance(node, Group) or not isinstance(node.node, PowA):
        return None
    base, exp = node.node.base, node.node.exp
    minus_one = (isinstance(exp, NegA) and isinstance(exp.node, Num) and exp.node.value == 1) or \
        (isinstance(exp, Num) and exp.value == -1)
    if isinstance(base, Ref) and not base.indices and minus_one:
        return base.name, base.span
    return None


def _spelled(reading: LatexReading, fn: str) -> str:
    """How the function ``fn`` is written in LaTeX, for messages: ``\\exp``, ``\\log\\det``,
    ``\\operatorname{tr}``."""
    cmds = [k for k, v in reading.commands.items() if v == fn]
    if cmds:
        return "".join("\\" + c for c in cmds[0])
    word = next((k for k, v in reading.words.items() if v == fn and k != fn), fn)
    return rf"\operatorname{{{word}}}"


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = tokenize_latex(text)
        self.pos = 0
        self.abs_depth = 0
        self.calls = 0  # matrix-function calls so far (their placeholder slots are unique)
        self.reading = latex_reading()  # which function each spelling reads as
        self.flat: set[int] = set()       # ids of products that merge into an enclosing product
        self.additive: set[int] = set()   # ids of {a + b} groups (braces do not show when typeset)
        self.depth = 0  # levels of nesting open (see enter)
        self.max_depth = current().nesting

    # -- helpers
    @property
    def tok(self) -> Tok:
        return self.toks[self.pos]

    def peek(self, k: int = 1) -> Tok:
        return self.toks[min(self.pos + k, len(self.toks) - 1)]

    def take(self) -> Tok:
        t = self.toks[self.pos]
        self.pos += 1
        return t

    def at(self, kind: str, text: str | None = None) -> bool:
        t = self.tok
        return t.kind == kind and (text is None or t.text == text)

    def err(self, msg: str, tok: Tok | Span | None = None, hint: str | None = None) -> RicciError:
        tok = tok or self.tok
        span = tok if isinstance(tok, Span) else tok.span
        return RicciError(msg, span=span, source=self.text, hint=hint)

    def span_from(self, start: Tok, last: Tok | None = None) -> Span:
        """From ``start`` to the end of ``last`` (default: the last token taken)."""
        last = last or self.toks[self.pos - 1]
        if last.span.line != start.span.line or last.end <= start.pos:
            return start.span
        return Span(start.span.line, start.span.column, last.end - start.pos)

    def enter(self, t: Tok) -> None:
        """Open a level of nesting at ``t``: a bracket, a brace group, an absolute value, a
        function, ``\\frac``, ``\\sqrt``, ``\\sum``, an accent, an exponent or a unary
        sign (each one level, with its brackets or braces); :meth:`leave` closes it."""
        self.depth += 1
        if self.depth > self.max_depth:
            raise nesting_error(self.depth, t.span, self.text)

    def leave(self) -> None:
        self.depth -= 1

    def touching(self, a: Tok, b: Tok) -> bool:
        return a.end == b.pos

    def expect_close(self, open_: Tok, what: str) -> Tok:
        t = self.tok
        want = {"(": ")", "[": "]", "{": "}"}[open_.text]
        if t.kind == "CLOSE" and (t.text == want or open_.sized or t.sized):
            return self.take()
        shown = {"(": "'('", "[": "'['", "{": "'\\{'"}[open_.text]
        raise self.err(f"expected {want!r} to close {shown} {what}, found {_describe(t)}", t)

    def expect_rbrace(self, open_: Tok, what: str) -> Tok:
        if self.at("RBRACE"):
            return self.take()
        what = f" {what}" if what else ""
        raise self.err(f"expected '}}' to close the '{{'{what}, found {_describe(self.tok)}",
                       hint=f"the '{{' is on line {open_.span.line}, column {open_.span.column}")

    def continues(self, ops: str) -> bool:
        """At an operator in ``ops``, possibly on the next line (a line that starts with
        ``+`` or ``-`` continues the statement before it)."""
        t = self.tok
        if t.kind == "OP" and t.text in ops:
            return True
        if t.kind != "SEP":
            return False
        k = self.pos
        while self.toks[k].kind == "SEP":
            k += 1
        nxt = self.toks[k]
        if nxt.kind == "OP" and nxt.text in ops and nxt.text in "+-*/":
            self.pos = k
            return True
        return False

    def starts_operand(self) -> bool:
        t = self.tok
        if t.kind in ("LETTER", "NUMBER", "OPEN", "LBRACE", "LVERT", "CMD"):
            return True
        return t.kind == "BAR" and self.abs_depth == 0

    # -- program and statements
    def program(self) -> list[StmtA]:
        out: list[StmtA] = []
        lines = self.text.splitlines()
        bound = current().statements
        while True:
            while self.at("SEP"):
                self.take()
            if self.at("EOF"):
                return out
            if len(out) == bound:
                raise statements_error(bound + 1, self.tok.span, self.text)
            tick()
            st = self.statement()
            st.text = lines[st.span.line - 1] if st.span.line - 1 < len(lines) else ""
            out.append(st)
            # punctuation ending a displayed formula
            if (self.at("OP", ".") or self.at("OP", ",")) and self.peek().kind in ("SEP", "EOF"):
                self.take()
            if self.at("OP", "="):
                raise self.err("a statement has one '='", hint="ricci reads one definition per "
                               "statement: write y = a, not y = a = b")
            if not (self.at("SEP") or self.at("EOF")):
                raise self.err(f"expected an operator or the end of the statement, found "
                               f"{_describe(self.tok)}")

    def statement(self) -> StmtA:
        t = self.tok
        if t.kind == "OP" and t.text == "=":
            raise self.err("expected a statement such as 'y_{ij} = ...', found '='",
                           hint="ricci reads one definition per statement: chains such as "
                           "y = a = b are not supported")
        if t.kind not in ("LETTER", "CMD", "LBRACE"):
            raise self.err(f"expected a statement such as 'y_{{ij}} = ...', found {_describe(t)}")
        if t.kind == "CMD" and t.text in ("sum", "delta"):
            raise self.err(f"\\{t.text} cannot be defined: it is reserved", t)
        lhs = self.atom(lhs=True)
        if not isinstance(lhs, Ref):
            raise self.err("the left-hand side must be a name with its indices, such as y_{ij}",
                           t)
        if not self.at("OP", "="):
            hint = None
            if self.at("OPEN", "["):
                hint = "this looks like ricci syntax (y[i,j] = ...): parse it with syntax='ricci'"
            elif self.starts_operand():
                hint = ("the left-hand side is one name; write \\mathrm{name} for a "
                        "multi-letter name")
            raise self.err(f"expected '=' after {self.text[t.pos:self.toks[self.pos - 1].end]}, "
                           f"found {_describe(self.tok)}", hint=hint)
        self.take()
        rhs = self.expr()
        return StmtA(lhs.name, lhs.indices if lhs.bracketed else None, rhs, lhs.span)

    # -- expressions
    def expr(self) -> Node:
        first = self.term()
        terms: list[tuple[int, Node]] = [(1, first)]
        while self.continues("+-"):
            op = self.take()
            sign = 1 if op.text == "+" else -1
            term = self.term()
            if sign < 0 and id(term) in self.additive:
                raise self._braces_error(term)
            terms.append((sign, term))
        return first if len(terms) == 1 else AddA(terms)

    def _braces_error(self, group: Node) -> RicciError:
        assert isinstance(group, Group)
        return self.err("braces do not show in the typeset formula, so this {a + b} would be "
                        "read differently from how it looks", group.span,
                        hint="write parentheses: (a + b), or \\left( a + b \\right)")

    def term(self) -> Node:
        return self.product(self.unary())

    def product(self, first: Node) -> Node:
        factors: list[tuple[bool, Node]] = []

        def add(divides: bool, f: Node, where: Tok) -> None:
            if id(f) in self.additive and (factors or divides or self.starts_operand()
                                           or self.at("OP", "*") or self.at("OP", "/")):
                raise self._braces_error(f)
            if not divides and id(f) in self.flat and isinstance(f, ProdA):
                factors.extend(f.factors)
            elif divides and isinstance(f, (ProdA, AddA, NegA)):
                factors.append((True, Group(f, where.span)))
            else:
                factors.append((divides, f))

        add(False, first, self.toks[self.pos - 1])
        while True:
            if self.continues("*/"):
                op = self.take()
                add(op.text == "/", self.unary(), op)
            elif self.starts_operand():
                t = self.tok
                add(False, self.power(), t)
            else:
                break
        if len(factors) == 1 and not factors[0][0]:
            return factors[0][1]
        node = ProdA(factors)
        return node

    def unary(self) -> Node:
        if self.at("OP", "-"):
            t = self.take()
            self.enter(t)
            inner = self.unary()
            self.leave()
            if id(inner) in self.additive:
                raise self._braces_error(inner)
            return NegA(inner, t.span)
        if self.at("OP", "+"):
            self.enter(self.take())
            inner = self.unary()
            self.leave()
            return inner
        return self.power()

    def power(self) -> Node:
        start = self.tok
        base = self.atom()
        if self.at("OP", "_") and self.reading.inverse and (inv := _inverse_of(base)) is not None:  # (A^{-1})_{ij}
            name, op = inv
            base = self._matrix_node(self.reading.inverse, name, op, start)
        if self.at("OP", "^"):
            caret = self.take()
            if id(base) in self.additive:
                raise self._braces_error(base)
            if id(base) in self.flat:
                base = Group(base, caret.span)
            exp = self.script(caret)
            if self.at("OP", "^"):
                raise self.err("double superscript", hint="group the exponent with braces: x^{a b}")
            return PowA(base, exp, caret.span)
        if self.at("OP", "_"):
            raise self.err("a subscript needs a tensor name before it", self.tok,
                           hint="write the indices on the name: x_{ij}, \\hat{y}_i, "
                           "{W_1}_{ij}")
        return base

    def script(self, op: Tok) -> Node:
        """The argument of ``^``: one token, or an expression in braces (one level)."""
        self.enter(op)
        node = self._script(op)
        self.leave()
        return node

    def _script(self, op: Tok) -> Node:
        t = self.tok
        if t.kind == "LBRACE":
            self.take()
            saved, self.abs_depth = self.abs_depth, 0
            if self.at("LETTER", "T") and self.peek().kind == "RBRACE":
                raise self.err("a transpose is not needed in index notation", self.tok,
                               hint=UNSUPPORTED["top"])
            inner = self.expr()
            self.abs_depth = saved
            self.expect_rbrace(t, "of the exponent")
            return inner
        if t.kind == "NUMBER":
            self.take()
            if len(t.text) > 1:
                raise self.err(f"'^{t.text}' is ambiguous: LaTeX sets only '{t.text[0]}' as "
                               f"the exponent", t, hint=f"write ^{{{t.text}}}")
            return Num(number_value(t.text, t.span, self.text), t.span)
        if t.kind == "LETTER":
            if t.text == "T":
                raise self.err("a transpose is not needed in index notation", t,
                               hint=UNSUPPORTED["top"])
            self.take()
            return Ref(t.text, [], t.span, False)
        if t.kind == "CMD" and t.text in GREEK and t.text != "delta":
            self.take()
            return Ref(t.text, [], t.span, False)
        if t.kind == "CMD" and t.text in UNSUPPORTED:
            raise self.err(f"\\{t.text} is not supported here", t, hint=UNSUPPORTED[t.text])
        if t.kind == "OP" and t.text in "-+":
            raise self.err(f"expected the exponent after '{op.src}', found {_describe(t)}", t,
                           hint=_SCRIPT_HINT.format(op="^", ex="x^{-1}"))
        raise self.err(f"expected the exponent after '{op.src}', found {_describe(t)}", t,
                       hint=_SCRIPT_HINT.format(op="^", ex="x^{...}"))

    # -- atoms
    def atom(self, lhs: bool = False) -> Node:
        t = self.tok
        if t.kind == "NUMBER":
            self.take()
            return Num(number_value(t.text, t.span, self.text), t.span)
        if t.kind == "OPEN":
            return self.group()
        if t.kind == "LBRACE":
            return self.braces(lhs)
        if t.kind in ("LVERT", "BAR") and not lhs and self.reading.bars:
            return self.absolute()
        if t.kind == "LETTER":
            self.take()
            if t.text == "e" and self.reading.exponential and self.at("OP", "^") and not lhs \
                    and self.layer_label() is None:
                return self.exponential(t)
            node = self.name(t.text, t, lhs=lhs)
            nxt = self.tok
            if isinstance(node, Ref) and not node.indices and nxt.kind == "NUMBER" \
                    and self.touching(self.toks[self.pos - 1], nxt):
                raise self.err(f"'{t.text}{nxt.text}' is '{t.text}' times {nxt.text} in LaTeX",
                               nxt, hint=f"write \\mathrm{{{t.text}{nxt.text}}} for a name, "
                               f"{t.text}_{{{nxt.text}}} for a numbered name, or "
                               f"{nxt.text} {t.text} for a product")
            return node
        if t.kind == "CMD":
            return self.command(t, lhs)
        if t.kind == "OP" and t.text == "'":
            raise self.err("primes are not supported", t, hint=UNSUPPORTED["prime"])
        if t.kind == "RBRACE":
            raise self.err("expected a tensor, a number, a function or '(', found '}'", t)
        raise self.err(f"expected a tensor, a number, a function or '(', found {_describe(t)}", t)

    def exponential(self, e: Tok) -> Node:
        """``e^{x}`` (or ``\\mathrm{e}^{x}``) is ``exp(x)`` (the function whose spelling it is)."""
        fn = self.reading.exponential
        assert fn is not None  # the callers read e^{...} this way only when a function has that spelling
        caret = self.take()
        arg = self.script(caret)
        if self.at("OP", "^") or self.at("OP", "_"):
            raise self.err("e^{...} is the exponential: it takes no more scripts",
                           hint=f"write {_spelled(self.reading, fn)}(...) "
                                "and group the rest in parentheses")
        return CallA(fn, arg, e.span)

    def group(self) -> Node:
        open_ = self.take()
        self.enter(open_)
        saved, self.abs_depth = self.abs_depth, 0
        inner = self.expr()
        self.abs_depth = saved
        self.leave()
        self.expect_close(open_, f"on line {open_.span.line}, column {open_.span.column}")
        return Group(inner, open_.span)

    def braces(self, lhs: bool = False) -> Node:
        """``{...}``: groups like invisible parentheses; ``{W_1}_{ij}`` names a tensor."""
        open_ = self.take()
        self.enter(open_)
        saved, self.abs_depth = self.abs_depth, 0
        if self.at("RBRACE"):
            raise self.err("empty braces", open_)
        inner = self.expr()
        self.abs_depth = saved
        self.leave()
        self.expect_rbrace(open_, "")
        if self.at("OP", "_") or (self.at("OP", "^") and self.layer_label() is not None):
            if isinstance(inner, Ref) and not inner.bracketed:
                return self.name(inner.name, open_, lhs=lhs, first=open_)
            raise self.err("a subscript needs a tensor name before it", self.tok,
                           hint="write the indices on the name: x_{ij}, {W_1}_{ij}")
        if lhs:
            return inner
        if isinstance(inner, (AddA, NegA)):
            g = Group(inner, open_.span)
            self.additive.add(id(g))
            return g
        if isinstance(inner, ProdA):
            self.flat.add(id(inner))
        return inner

    def absolute(self) -> Node:
        fn = self.reading.bars
        assert fn is not None  # the caller reads |...| this way only when a function has that spelling
        open_ = self.take()
        self.enter(open_)
        self.abs_depth += 1
        inner = self.expr()
        self.abs_depth -= 1
        self.leave()
        if self.at("RVERT") or self.at("BAR"):
            self.take()
            return CallA(fn, inner, open_.span)
        raise self.err(f"expected '|' to close the '|' on line {open_.span.line}, column "
                       f"{open_.span.column}, found {_describe(self.tok)}")

    # -- names
    def name(self, base: str, start: Tok, lhs: bool = False, indices: list[Name] | None = None,
             first: Tok | None = None, powers: bool = True) -> Node:
        """``base`` followed by its scripts: ``_{ij}`` (indices), ``_1`` or ``^{(1)}`` (part
        of the name), ``^2`` (a power)."""
        span = self.span_from(first or start)
        sub = indices is not None
        sup = False
        exp: Node | None = None
        caret: Tok | None = None
        while self.at("OP", "_") or (self.at("OP", "^") and powers) or self.at("OP", "'"):
            op = self.tok
            if op.text == "'":
                raise self.err("primes are not supported", op, hint=UNSUPPORTED["prime"])
            if op.text == "_":
                if sub:
                    raise self.err("double subscript", op,
                                   hint="write all indices in one subscript: x_{ij}, or "
                                   "{W_1}_{ij} for a numbered tensor")
                sub = True
                self.take()
                got, suffix = self.subscript(op, base)
                if suffix is not None:
                    if indices is not None:
                        raise self.err("a number after the indices", op)
                    base += suffix
                    span = self.span_from(first or start)
                else:
                    indices = got
            else:
                if sup:
                    raise self.err("double superscript", op,
                                   hint="group the exponent with braces: x^{a b}")
                sup = True
                label = self.layer_label()
                if label is not None:
                    self.pos += 5 + label[1]
                    base += label[0]
                    span = self.span_from(first or start)
                    continue
                if lhs:
                    raise self.err("the left-hand side cannot have a power", op)
                caret = self.take()
                exp = self.script(caret)
        name_ok = base.isidentifier()
        if not name_ok:  # pragma: no cover - names are built from letters and digits
            raise self.err(f"'{base}' is not a valid name", span)
        ref = Ref(base, list(indices or []), span, indices is not None)
        if exp is not None:
            assert caret is not None
            return PowA(ref, exp, caret.span)
        return ref

    def layer_label(self) -> tuple[str, int] | None:
        """At ``^``: for ``^{(12)}`` return ("12", number of tokens inside the parentheses)."""
        if not self.at("OP", "^"):
            return None
        a, b = self.peek(1), self.peek(2)
        if a.kind != "LBRACE" or b.kind != "OPEN" or b.text != "(" or b.sized:
            return None
        k, parts = 3, []
        while self.peek(k).kind in ("NUMBER", "LETTER"):
            parts.append(self.peek(k))
            k += 1
        close, rb = self.peek(k), self.peek(k + 1)
        if not parts or close.kind != "CLOSE" or close.text != ")" or rb.kind != "RBRACE":
            return None
        label = "".join(p.text for p in parts)
        if not label.isdigit():
            raise self.err(f"'^{{({label})}}': a superscript in parentheses numbers a layer or a "
                           f"step, such as W^{{(2)}}", parts[0],
                           hint="write indices as a subscript: x_{ij}")
        return label, len(parts)

    def subscript(self, op: Tok, owner: str, digits: bool = True,
                  stop_at_equals: bool = False) -> tuple[list[Name], str | None]:
        """After ``_``: (indices, None), or ([], "12") for a numeric subscript that is part
        of the name (``W_1``, ``W_{12}``)."""
        t = self.tok
        if t.kind == "LBRACE":
            open_ = self.take()
            items: list[Tok] = []
            while not self.at("RBRACE"):
                if self.at("EOF") or self.at("SEP"):
                    raise self.err(f"expected '}}' to close the subscript of {owner}, found "
                                   f"{_describe(self.tok)}", open_)
                if self.tok.kind == "CMD" and self.tok.text in WORD_COMMANDS:
                    cmd = self.take()  # x_{\mathit{batch},k}: a named index
                    word = self.word(cmd)
                    last = self.toks[self.pos - 1]
                    items.append(Tok("WORD", word, self.span_from(cmd), cmd.pos, last.end,
                                     self.text[cmd.pos:last.end]))
                    continue
                items.append(self.take())
            close = self.take()
            if stop_at_equals:
                for k, it in enumerate(items):
                    if it.kind == "OP" and it.text == "=":
                        items = items[:k]
                        break
            return self.index_list(items, open_, close, owner, digits)
        if t.kind == "LETTER":
            self.take()
            nxt = self.tok
            if nxt.kind in ("LETTER", "NUMBER") and self.touching(t, nxt) and not (
                    nxt.kind == "LETTER" and self.peek().kind == "OP" and self.peek().text in "_^"):
                raise self.err(f"'{op.src}{t.text}{nxt.text}' reads as {owner}_{t.text} times "
                               f"{nxt.text} in LaTeX", nxt,
                               hint=f"write {op.src}{{{t.text}{nxt.text}}} for two indices, or "
                               f"{owner}_{t.text} {nxt.text} for a product")
            return [Name(t.text, t.span)], None
        if t.kind == "CMD" and t.text in GREEK and t.text != "delta":
            self.take()
            return [Name(t.text, t.span)], None
        if t.kind == "NUMBER" and digits:
            self.take()
            if len(t.text) > 1:
                raise self.err(f"'_{t.text}' is ambiguous: LaTeX sets only '{t.text[0]}' as the "
                               f"subscript", t, hint=f"write _{{{t.text}}}")
            return [], t.text
        raise self.err(f"expected an index after '_', found {_describe(t)}", t,
                       hint="indices are letters: x_i, x_{ij}, x_{batch,k}")

    def index_list(self, items: list[Tok], open_: Tok, close: Tok, owner: str,
                   digits: bool) -> tuple[list[Name], str | None]:
        if not items:
            raise self.err(f"empty subscript of {owner}", open_)
        for it in items:
            ok = it.kind in ("LETTER", "NUMBER", "WORD") or (it.kind == "CMD" and it.text in GREEK) \
                or (it.kind == "OP" and it.text == ",")
            if not ok:
                hint = "indices are letters: x_{ij}, or names separated by commas: x_{batch,k}"
                if it.kind == "OP" and it.text in "+-":
                    hint = ("ricci indexes whole axes, not shifted positions; to unroll steps, "
                            "number the tensors: s_1, s_2 (names s1, s2)")
                raise self.err(f"unexpected {_describe(it)} in the subscript of {owner}", it,
                               hint=hint)
        if any(it.kind == "OP" for it in items):
            groups: list[list[Tok]] = [[]]
            for it in items:
                if it.kind == "OP":
                    groups.append([])
                else:
                    groups[-1].append(it)
            out = []
            for g, comma in zip(groups, [it for it in items if it.kind == "OP"] + [close]):
                if not g:
                    raise self.err(f"empty index in the subscript of {owner}", comma)
                for a, b in pairwise(g):
                    if not self.touching(a, b) or {a.kind, b.kind} & {"CMD", "WORD"}:
                        raise self.err(f"expected ',' between indices of {owner}, found "
                                       f"{_describe(b)}", b,
                                       hint="an index name has no spaces: x_{batch,k}")
                text = "".join(x.text for x in g)
                if not (text[0].isalpha() or text[0] == "_"):
                    raise self.err(f"index '{text}' of {owner} is not a name", g[0],
                                   hint="indices are names that start with a letter")
                out.append(Name(text, Span(g[0].span.line, g[0].span.column,
                                           g[-1].end - g[0].pos)))
            return out, None
        if all(it.kind == "NUMBER" for it in items):
            if not digits:
                raise self.err(f"expected indices, found the number {items[0].text}", items[0],
                               hint="sums run over a whole index: \\sum_{k}")
            text = "".join(it.text for it in items)
            if not text.isdigit():
                raise self.err(f"'{text}' cannot be part of a name", items[0])
            return [], text
        for it in items:
            if it.kind == "NUMBER":
                raise self.err(f"a number in the subscript of {owner}", it,
                               hint="indices are letters; for a numbered tensor with indices "
                               "write {W_1}_{ij} or W^{(1)}_{ij}; for multi-letter index "
                               "names use commas: x_{t1,k}")
        return [Name(it.text, it.span) for it in items], None

    def word(self, cmd: Tok) -> str:
        """The ``{word}`` (or single letter) after \\mathrm, \\operatorname, ..."""
        if not self.at("LBRACE"):
            t = self.tok
            if t.kind == "LETTER":
                self.take()
                return t.text
            if t.kind == "CMD" and t.text in GREEK:
                self.take()
                return t.text
            raise self.err(f"expected '{{' after \\{cmd.text}, found {_describe(t)}", t)
        open_ = self.take()
        parts: list[Tok] = []
        while not self.at("RBRACE"):
            it = self.tok
            if it.kind == "CMD" and it.text in GREEK and not parts:
                parts.append(self.take())
                if not self.at("RBRACE"):
                    raise self.err(f"expected '}}' after \\{it.text}", self.tok)
                break
            if it.kind not in ("LETTER", "NUMBER") and not (it.kind == "CMD" and it.text == "_"):
                raise self.err(f"unexpected {_describe(it)} in \\{cmd.text}{{...}}", it,
                               hint="a name is letters, digits and \\_, such as \\mathrm{W2}")
            if parts and not self.touching(parts[-1], it):
                raise self.err(f"a name has no spaces: \\{cmd.text}{{...}}", it)
            parts.append(self.take())
        if not parts:
            raise self.err(f"empty \\{cmd.text}{{}}", open_)
        self.take()
        text = "".join(p.text for p in parts)
        if not (text[0].isalpha() or text[0] == "_"):
            raise self.err(f"'{text}' is not a name: it must start with a letter", parts[0])
        return text

    # -- commands
    def command(self, t: Tok, lhs: bool = False) -> Node:
        name = t.text
        if name in GREEK:
            self.take()
            if name == "delta":
                if lhs:
                    raise self.err("\\delta cannot be defined: it is the Kronecker delta", t)
                if not self.at("OP", "_"):
                    raise self.err("\\delta is the Kronecker delta: it needs indices, such as "
                                   "\\delta_{ij}", t,
                                   hint="for a variable, use another letter (\\Delta, "
                                   "\\varepsilon) or \\mathrm{d}")
                op = self.take()
                idx, _ = self.subscript(op, "\\delta", digits=False)
                return DeltaA(idx, t.span)
            fn = self.reading.commands.get((name,))
            if fn is not None and self.at("OPEN", "(") and not lhs:  # \sigma(x): the function
                return self.function(fn, t)
            return self.name(name, t, lhs=lhs)
        nxt = self.peek()
        pair = self.reading.commands.get((name, nxt.text)) if nxt.kind == "CMD" else None
        if pair is not None and not lhs:  # \log\det A
            self.take()
            self.take()
            return self.function(pair, t)
        fn = self.reading.commands.get((name,))
        if fn in MATRIX_FUNCTIONS and not lhs:  # \det A
            self.take()
            return self.function(fn, t)
        if fn in FUNCTIONS:
            self.take()
            if lhs:
                raise self.err(f"\\{name} is a function: it cannot be defined", t)
            return self.function(fn, t)
        if name in WORD_COMMANDS:
            self.take()
            word = self.word(t)
            fn = self.reading.words.get(word)
            if fn is not None:
                if lhs:
                    raise self.err(f"'{word}' is reserved and cannot be defined", t)
                return self.function(fn, t)
            # \mathrm{e}^{x} is exp(x); \mathit{e} is a tensor named e (as ricci prints it)
            if word == "e" and name != "mathit" and self.reading.exponential and self.at("OP", "^") \
                    and not lhs and self.layer_label() is None:
                return self.exponential(t)
            if word == "size":
                if lhs:
                    raise self.err("'size' is reserved and cannot be defined", t)
                return self.size(t)
            if word in KEYWORDS:
                raise self.err(f"'{word}' is reserved", t,
                               hint="write \\sum_{k} for a sum and \\delta_{ij} for the "
                               "Kronecker delta")
            return self.name(word, t, lhs=lhs, first=t)
        if name in DECORATIONS:
            self.take()
            base, indices = self.decorated(t)
            return self.name(base + DECORATIONS[name], t, lhs=lhs, indices=indices, first=t)
        if lhs:
            raise self.err(f"expected a name on the left-hand side, found '\\{name}'", t)
        if name in FRACTIONS:
            return self.fraction(t)
        if name in self.reading.macros:  # \sqrt{x}
            self.take()
            if self.at("OPEN", "["):
                message, hint = OPTIONAL_ARGUMENTS.get(name, (f"\\{name} takes no optional argument", None))
                raise self.err(message, self.tok, hint=hint)
            self.enter(t)
            arg = self.argument(t, f"\\{name}{{x}}")
            self.leave()
            return CallA(self.reading.macros[name], arg, t.span)
        if name == "sum":
            return self.summation(t)
        if name in UNSUPPORTED:
            raise self.err(f"\\{name} is not supported", t, hint=UNSUPPORTED[name])
        if name in ("begin", "end"):  # pragma: no cover - handled by the lexer
            raise self.err(f"unexpected \\{name}", t)
        close = difflib.get_close_matches(name, sorted(_known(self.reading)), n=1)
        hint = (f"did you mean \\{close[0]}? " if close else "") + \
            f"write \\mathrm{{{name}}} for a multi-letter name"
        if name in FUNCTIONS:
            hint = f"write \\operatorname{{{name}}}(...) for the function {name}"
        raise self.err(f"unknown LaTeX command '\\{name}'", t, hint=hint)

    def function(self, fn: str, t: Tok) -> Node:
        """The function ``fn`` (of either table), its spelling ``t`` already read."""
        return self.call(fn, t) if fn in FUNCTIONS else self.matrix_call(fn, t)

    def matrix_call(self, fn: str, t: Tok) -> Node:
        r"""``\det A``, ``\log\det(\Sigma)``, ``\operatorname{inv}(A)_{ij}``: the operand is
        a matrix named by its tensor; an inverse takes its indices as a subscript."""
        close = None
        if self.at("OPEN", "(") or self.at("LBRACE"):
            close = self.take()
        op = self.tok
        if op.kind == "LETTER" or (op.kind == "CMD" and op.text in GREEK and op.text != "delta"):
            self.take()
            name = op.text
        elif op.kind == "CMD" and op.text in WORD_COMMANDS:
            self.take()
            name = self.word(op)
        else:
            raise self.err(f"{fn} takes a square matrix named by its tensor, such as "
                           f"{_spelled(self.reading, fn)} A", op,
                           hint="for an expression, define it first: C_{ij} = ...")
        if close is not None:
            if close.kind == "LBRACE":
                self.expect_rbrace(close, f"after {t.src}")
            else:
                self.expect_close(close, f"after {t.src}")
        return self._matrix_node(fn, name, op.span, t)

    def _matrix_node(self, fn: str, name: str, where: Span, t: Tok) -> Node:
        self.calls += 1
        slots = (f"#r{self.calls}", f"#c{self.calls}")
        indices: list[Name] = []
        if MATRIX_FUNCTIONS[fn].rank:
            if not self.at("OP", "_"):
                raise self.err(f"{fn}({name}) is a matrix: give its indices, as in "
                               f"({name}^{{-1}})_{{ij}}", self.tok)
            indices, _ = self.subscript(self.take(), f"{fn}({name})", digits=False)
        return MatCallA(fn, Name(name, where), indices, t.span, slots)

    def call(self, fn: str, t: Tok) -> Node:
        """A function and its argument: ``\\tanh(x)``, ``\\tanh{x}``, ``\\log p_{nk}``,
        ``\\sin^2(x)`` (the square of the sine). One level of nesting."""
        self.enter(t)
        node = self._call(fn, t)
        self.leave()
        return node

    def _call(self, fn: str, t: Tok) -> Node:
        exp = caret = None
        if self.at("OP", "^"):
            caret = self.take()
            exp = self.script(caret)
        if self.at("OPEN", "("):
            open_ = self.take()
            saved, self.abs_depth = self.abs_depth, 0
            arg = self.expr()
            self.abs_depth = saved
            if self.at("OP", ","):
                raise self.err(f"{fn} takes one argument")
            self.expect_close(open_, f"after {t.src}")
        elif self.at("LBRACE"):
            open_ = self.take()
            saved, self.abs_depth = self.abs_depth, 0
            arg = self.expr()
            self.abs_depth = saved
            self.expect_rbrace(open_, f"after {t.src}")
        elif self.starts_operand():
            arg = self.power()
        else:
            raise self.err(f"{t.src} needs an argument, found {_describe(self.tok)}", t,
                           hint=f"write {t.src}(x)")
        node: Node = CallA(fn, arg, t.span)
        if exp is not None:
            assert caret is not None
            node = PowA(node, exp, caret.span)
        return node

    def argument(self, cmd: Tok, example: str) -> Node:
        """A macro argument: ``{expr}`` or a single token (\\frac12, \\sqrt x)."""
        t = self.tok
        if t.kind == "LBRACE":
            self.take()
            saved, self.abs_depth = self.abs_depth, 0
            if self.at("RBRACE"):
                raise self.err(f"empty argument of {cmd.src}", t)
            inner = self.expr()
            self.abs_depth = saved
            self.expect_rbrace(t, f"of {cmd.src}")
            return inner
        if t.kind == "NUMBER":
            self.take()
            if len(t.text) > 1:  # \frac12: one digit per argument
                first, rest = t.text[0], t.text[1:]
                if not (first.isdigit() and rest.isdigit()):  # \frac.5 2, \frac{1}.5
                    raise self.err(f"write {cmd.src}{{...}}{{...}} with braces", t)
                sp = Span(t.span.line, t.span.column + 1, len(rest))
                self.pos -= 1
                self.toks[self.pos] = Tok("NUMBER", rest, sp, t.pos + 1, t.end, rest)
                first_span = Span(t.span.line, t.span.column, 1)
                return Num(number_value(first, first_span, self.text), first_span)
            return Num(number_value(t.text, t.span, self.text), t.span)
        if t.kind == "LETTER" or (t.kind == "CMD" and t.text in GREEK and t.text != "delta"):
            self.take()  # \sqrt x_i: the argument keeps its subscript, a power stays outside
            return self.name(t.text, t, powers=False)
        raise self.err(f"{cmd.src} needs {'two arguments' if cmd.text in FRACTIONS else 'an argument'}"
                       f": {example}, found {_describe(t)}", cmd)

    def fraction(self, t: Tok) -> Node:
        """``\\frac{a}{b}`` is ``a / b`` with each part grouped: one factor ``a`` (or the
        factors of a product ``a``) divided by ``(b)``."""
        self.take()
        self.enter(t)
        num = self.argument(t, "\\frac{a}{b}")
        den = self.argument(t, "\\frac{a}{b}")
        self.leave()
        factors: list[tuple[bool, Node]] = []
        if isinstance(num, ProdA):
            factors.extend(num.factors)
        elif isinstance(num, (AddA, NegA)):
            factors.append((False, Group(num, t.span)))
        else:
            factors.append((False, num))
        if isinstance(den, (ProdA, AddA, NegA)):
            factors.append((True, Group(den, t.span)))
        else:
            factors.append((True, den))
        node = ProdA(factors)
        self.flat.add(id(node))
        return node

    def summation(self, t: Tok) -> Node:
        """``\\sum_{k} ...``: sums the rest of its product term (up to the next ``+`` or
        ``-`` outside brackets, or the end of the enclosing group)."""
        self.take()
        indices: list[Name] | None = None
        seen_sup = False
        while self.at("OP", "_") or self.at("OP", "^"):
            op = self.take()
            if op.text == "_":
                if indices is not None:
                    raise self.err("double subscript on \\sum", op)
                indices, _ = self.subscript(op, "\\sum", digits=False, stop_at_equals=True)
            else:
                if seen_sup:
                    raise self.err("double superscript on \\sum", op)
                seen_sup = True
                self.skip_script(op)
        if indices is None:
            raise self.err("\\sum needs the indices it sums over: \\sum_{k}", t,
                           hint="write \\sum_{k} x_k, or rely on the repeated index: x_k y_k")
        if not (self.starts_operand() or self.at("OP", "-")):
            raise self.err(f"\\sum needs a summand, found {_describe(self.tok)}", self.tok)
        self.enter(t)
        body = self.product(self.unary())
        self.leave()
        return SumA(indices, body, t.span)

    def skip_script(self, op: Tok) -> None:
        """Skip the upper limit of a sum (sizes come from the arrays)."""
        t = self.tok
        if t.kind == "LBRACE":
            depth = 0
            while True:
                x = self.take()
                depth += {"LBRACE": 1, "RBRACE": -1}.get(x.kind, 0)
                if depth == 0:
                    return
        if t.kind in ("LETTER", "NUMBER", "CMD"):
            self.take()
            return
        raise self.err(f"expected the upper limit after '{op.src}', found {_describe(t)}", t)

    def decorated(self, cmd: Tok) -> tuple[str, list[Name] | None]:
        """The argument of \\hat, \\bar, \\tilde: a letter or a name, maybe with indices."""
        t = self.tok
        if t.kind == "LETTER":
            self.take()
            return t.text, None
        if t.kind == "CMD" and t.text in GREEK and t.text != "delta":
            self.take()
            return t.text, None
        if t.kind != "LBRACE":
            raise self.err(f"expected a name after {cmd.src}, found {_describe(t)}", t)
        open_ = self.take()
        inner = self.tok
        if inner.kind == "LETTER" or (inner.kind == "CMD" and (
                (inner.text in GREEK and inner.text != "delta") or inner.text in WORD_COMMANDS
                or inner.text in DECORATIONS)):
            self.enter(cmd)
            node = self.atom(lhs=True)
            self.leave()
        else:
            raise self.err(f"expected a name in {cmd.src}{{...}}, found {_describe(inner)}", inner)
        if not self.at("RBRACE"):
            raise self.err(f"{cmd.src}{{...}} takes one name, found {_describe(self.tok)}",
                           hint="write \\mathrm{name} for a multi-letter name")
        self.expect_rbrace(open_, f"of {cmd.src}")
        assert isinstance(node, Ref)
        return node.name, (list(node.indices) if node.bracketed else None)

    def size(self, t: Tok) -> Node:
        open_ = self.tok
        if open_.kind == "LBRACE" or (open_.kind == "OPEN" and open_.text == "("):
            self.take()
        else:
            raise self.err(f"expected '(' after {self.text[t.pos:self.toks[self.pos - 1].end]}, "
                           f"found {_describe(open_)}", hint="write \\operatorname{size}(k)")
        parts: list[Tok] = []
        if self.tok.kind == "CMD" and self.tok.text in WORD_COMMANDS:  # size(\mathit{batch})
            cmd = self.take()
            word = self.word(cmd)
            parts.append(Tok("WORD", word, self.span_from(cmd), cmd.pos, self.toks[self.pos - 1].end, word))
        while self.tok.kind in ("LETTER", "NUMBER") or (
                self.tok.kind == "CMD" and self.tok.text in GREEK and not parts):
            if parts and not self.touching(parts[-1], self.tok):
                break
            parts.append(self.take())
            if parts[-1].kind == "CMD":
                break
        if not parts or not (parts[0].text[0].isalpha() or parts[0].kind == "WORD"):  # \mathit{\_}
            raise self.err(f"expected an index name in size(...), found {_describe(self.tok)}")
        if open_.kind == "LBRACE":
            self.expect_rbrace(open_, "of size")
        else:
            self.expect_close(open_, "of size(")
        name = "".join(p.text for p in parts)
        sp = Span(parts[0].span.line, parts[0].span.column, parts[-1].end - parts[0].pos)
        return SizeA(Name(name, sp), t.span)


# ---------------------------------------------------------------- entry points


@guarded("parsing")
def parse_latex_statements(text: str) -> list[StmtA]:
    """Parse LaTeX-like program text into the statement syntax trees :mod:`ricci.parse`
    builds (raises :class:`RicciError` with a caret into ``text``)."""
    return _Parser(prepare_text(text)).program()


_RICCI_INDEXING = re.compile(r"(?<![\\A-Za-z0-9_])[A-Za-z_][A-Za-z0-9_]*\[")


@guarded("parsing")
def looks_like_latex(text: str) -> bool:
    """Whether ``text`` is meant as LaTeX rather than ricci syntax (for ``syntax="auto"``).

    * Outside ``#`` comments, a backslash or a brace means LaTeX: ricci's syntax has
      neither. So does ``$`` or ``&``, unless the text also indexes like ricci (``X[i]``).
    * Otherwise text with ``[`` or ``]`` is ricci, and so is any text ricci's parser
      accepts (``y_i = x_i`` stays the ricci assignment of the scalar ``x_i``).
    * Otherwise it is LaTeX if it parses as LaTeX (``p = v_i u_i``, ``L = 2 x``).

    Every valid ricci program therefore gives False.
    """
    if not isinstance(text, str):
        return False
    try:
        text = prepare_text(text)
    except RicciError:
        return False
    return detect(text)[0] == "latex"


def detect(text: str) -> tuple[str, list[StmtA] | None, RicciError | None]:
    """:func:`looks_like_latex` for prepared text: ``(syntax, statements, error)``, with the
    statements (or the error) of that syntax when deciding parsed the text already, so
    that ``syntax="auto"`` parses a program once (``None, None`` when it did not)."""
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    if any(c in code for c in "\\{}"):
        return "latex", None, None
    if any(c in code for c in "$&") and not _RICCI_INDEXING.search(code):
        return "latex", None, None
    without_comments = "\n".join(line.split("%", 1)[0] for line in code.splitlines())
    if "[" in without_comments or "]" in without_comments:
        return "ricci", None, None
    from .parse import Parser

    try:
        return "ricci", Parser(text).program(), None
    except RicciError as e:
        ricci_error = e
    try:
        stmts = _Parser(text).program()
    except RicciError:
        return "ricci", None, ricci_error
    return ("latex", stmts, None) if stmts else ("ricci", None, ricci_error)
