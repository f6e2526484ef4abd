"""LaTeX text -> tokens (:func:`tokenize_latex`), for the LaTeX reader (:mod:`.latex`).

A token (:class:`Tok`) keeps its text normalised (an operator, a command name without its
backslash, a letter, a number, a bracket) and as written (``src``), with its span and its
offsets into the text. Invariants of the token list: it ends with one EOF token; braces
balance (an unmatched or unclosed brace is an error here, with its caret); what only
spaces or styles the formula (spaces, ``&``, ``~``, ``%`` comments, ``\\quad``,
``\\displaystyle``, ``\\label{...}``) makes no token; statement ends (a line break outside
brackets, ``;``, ``\\\\``, ``$``, ``\\[``, ``\\begin{aligned}``, ...) are SEP tokens; a
sized delimiter (``\\left(``, ``\\bigr]``) is one OPEN or CLOSE token with ``sized`` set.
Characters that start no token get the errors of :func:`.text.character_error`.
"""

from __future__ import annotations

import re
import unicodedata
from typing import NamedTuple

from ..errors import RicciError, Span
from ..primitives.greek import GREEK
from .latex_tables import (
    ENVIRONMENTS,
    IGNORED,
    IGNORED_WITH_ARGUMENT,
    OPERATOR_COMMANDS,
    SIZES_LEFT,
    SIZES_PLAIN,
    SIZES_RIGHT,
    WORD_COMMANDS,
)
from .text import character_error, check_name, is_name_char

__all__ = ["Tok", "describe", "tokenize_latex"]

#: Unicode characters read as LaTeX: Greek letters as their commands (α is \alpha), a few
#: operators, and ∑ as \sum
_UNICODE: dict[str, str] = {}
for _name, _ch in GREEK.items():
    _UNICODE.setdefault(_ch, _name)
_UNICODE_OPS = {"·": "*", "×": "*", "⋅": "*", "−": "-", "∑": "sum"}


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


def describe(t: Tok) -> str:
    """How messages name the token ``t``: ``'x'``, ``the end of the line``, ..."""
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
        if j >= len(t) or t[j] in "\r\n":  # the end of the text or of the line
            raise self.err(f"\\{size_cmd} needs a delimiter such as ( or |", start, start + 1 + len(size_cmd))
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
        like a name of ricci syntax (:func:`.text.check_name`)."""
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
