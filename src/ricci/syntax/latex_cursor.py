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
from ..primitives.functions import FUNCTIONS, MATRIX_FUNCTIONS, latex_reading
from .latex_lexer import Tok, describe, tokenize_latex
from .text import nesting_error
from .tree import Node

__all__ = ["LatexCursor", "function_words", "spelled_function"]

#: words of ricci's syntax and of other tools' that name no function of the tables
_OTHER_WORDS = frozenset({"sum", "size", "max", "min", "softmax", "mean", "norm", "diag", "argmax"})


def function_words() -> dict[str, str]:
    """Each word that names a function -> the LaTeX to write for it. Written in plain
    letters in LaTeX such a word would read as a product of one-letter names (``sin(x)``
    as s * i * n * x), which no one means."""
    r = latex_reading()
    out = {w: f"\\operatorname{{{w}}}" for w in _OTHER_WORDS | set(FUNCTIONS) | set(MATRIX_FUNCTIONS)}
    out.update({w: f"\\operatorname{{{w}}}" for w in r.words})
    out.update({c[0]: "\\" + c[0] for c in r.commands if len(c) == 1 and len(c[0]) > 1})
    return out


def spelled_function(toks: list[Tok]) -> tuple[Tok, str] | None:
    """The first run of touching letters that spells a function (``det(``, ``sin x``), and
    the word; not inside the braces of a command (``\\mathit{batch\\_norm}``) or of a sub- or
    superscript. A run of two letters counts only before ``(`` (``tr(A)``; ``in`` and
    ``ab`` are products)."""
    words = function_words()
    groups: list[bool] = []  # open brace groups: whether each holds a word or a script
    k = 0
    while k < len(toks):
        t = toks[k]
        if t.kind == "LBRACE":
            before = toks[k - 1] if k else None
            groups.append(bool(groups and groups[-1]) or (before is not None and (
                (before.kind == "CMD" and before.text in _WORD_COMMANDS)
                or (before.kind == "OP" and before.text in "_^"))))
            k += 1
            continue
        if t.kind == "RBRACE":
            if groups:
                groups.pop()
            k += 1
            continue
        if t.kind != "LETTER":
            k += 1
            continue
        end = k + 1
        while end < len(toks) and toks[end].kind == "LETTER" and toks[end].pos == toks[end - 1].end:
            end += 1
        word = "".join(x.text for x in toks[k:end])
        script = k > 0 and toks[k - 1].kind == "OP" and toks[k - 1].text in "_^"
        after = toks[end] if end < len(toks) else None
        call = after is not None and after.kind == "OPEN" and after.text == "("
        if not script and not (groups and groups[-1]) and word in words and (len(word) >= 3 or call):
            return toks[k], word
        k = end
    return None


#: commands whose braces hold a name or a word, not math (``\\mathit{batch\\_norm}``)
_WORD_COMMANDS = frozenset({"mathrm", "mathit", "text", "textrm", "textit", "textbf", "textsf", "texttt",
                            "operatorname", "mathbf", "mathsf", "mathtt", "mathcal", "mathbb", "mbox",
                            "begin", "end", "hat", "bar", "tilde", "vec", "dot", "ddot", "boldsymbol", "bm"})

class LatexCursor:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = tokenize_latex(text)
        spelled = spelled_function(self.toks)
        if spelled is not None:
            tok, word = spelled
            command = function_words()[word]
            raise RicciError(f"'{word}' in LaTeX is the product {' '.join(word)} of one-letter names, "
                             f"not the function {word}", span=Span(tok.span.line, tok.span.column, len(word)),
                             source=text, hint=f"write {command}(...) for the function, or put spaces "
                                               f"between the letters for a product")
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
