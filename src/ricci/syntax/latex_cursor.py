"""The LaTeX parser's state and its moves over the tokens, shared by the parser's parts.

:class:`LatexCursor` holds what one parse of a LaTeX text knows: its tokens and the
position, the levels of nesting open (checked against the ``nesting`` limit at every
:meth:`~LatexCursor.enter`), how many ``|...|`` are open, the products and brace groups
that need care later, and the function spellings of the primitive table. Its methods only
look at, take and expect tokens; the grammar is in three parts, each a subclass of the one
before: :class:`~.latex_names.LatexNames` (names and their scripts),
:class:`~.latex_commands.LatexCommands` (commands: functions, fractions, sums, sizes) and
:class:`~.latex.LatexParser` (statements, expressions, atoms). The levels of the grammar
the earlier parts call before they are defined are declared here, for the type checker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..bounds import current
from ..errors import RicciError, Span
from ..primitives.functions import latex_reading
from .latex_lexer import Tok, describe, tokenize_latex
from .text import nesting_error
from .tree import Node

__all__ = ["LatexCursor"]


class LatexCursor:
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
        raise self.err(f"expected {want!r} to close {shown} {what}, found {describe(t)}", t)

    def expect_rbrace(self, open_: Tok, what: str) -> Tok:
        if self.at("RBRACE"):
            return self.take()
        what = f" {what}" if what else ""
        raise self.err(f"expected '}}' to close the '{{'{what}, found {describe(self.tok)}",
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

    if TYPE_CHECKING:  # the levels of the grammar the parts call, defined by LatexParser (latex.py)
        def expr(self) -> Node: ...

        def product(self, first: Node) -> Node: ...

        def unary(self) -> Node: ...

        def power(self) -> Node: ...

        def atom(self, lhs: bool = False) -> Node: ...
