"""Stage 1: program text -> syntax tree (with source spans).

The grammar (one statement per line, or separated by ``;``; ``#`` starts a comment;
newlines inside brackets or parentheses are ignored)::

    statement := NAME ['[' names ']'] '=' expr
    expr      := term (('+' | '-') term)*
    term      := unary (('*' | '/') unary)*
    unary     := ('-' | '+') unary | power
    power     := atom [('^' | '**') unary]          # right-associative: x^-1, a^b^c
    atom      := NUMBER | '(' expr ')'
               | 'sum' '[' names ']' '(' expr ')' | 'delta' '[' names ']' | 'size' '(' NAME ')'
               | NAME '(' expr ')'                   # an elementwise function
               | NAME '[' names ']' | NAME            # a tensor or a scalar

This module only builds the tree. What the indices mean (which are free, which are summed
where) is decided by :mod:`ricci.resolve`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Union

from .errors import RicciError, Span
from .functions import FUNCTIONS, MATRIX_FUNCTIONS

KEYWORDS = ("sum", "delta", "size")


# ---------------------------------------------------------------- tokens


@dataclass(frozen=True)
class Token:
    kind: str  # NAME NUMBER OP NEWLINE EOF
    text: str
    span: Span


def tokenize(text: str) -> list[Token]:
    toks: list[Token] = []
    line, col, i, depth = 1, 1, 0, 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            if depth == 0:
                toks.append(Token("NEWLINE", "\n", Span(line, col)))
            i, line, col = i + 1, line + 1, 1
            continue
        if c in " \t\r":
            i, col = i + 1, col + 1
            continue
        if c == "#":
            while i < n and text[i] != "\n":
                i += 1
            continue
        if c == ";":
            toks.append(Token("NEWLINE", ";", Span(line, col)))
            i, col = i + 1, col + 1
            continue
        if c.isalpha() or c == "_":
            j = i
            while j < n and (text[j].isalnum() or text[j] == "_"):
                j += 1
            toks.append(Token("NAME", text[i:j], Span(line, col, j - i)))
            col += j - i
            i = j
            continue
        if c.isdigit() or (c == "." and i + 1 < n and text[i + 1].isdigit()):
            j = i
            while j < n and text[j].isdigit():
                j += 1
            if j < n and text[j] == ".":
                j += 1
                while j < n and text[j].isdigit():
                    j += 1
            if j < n and text[j] in "eE":
                k = j + 1
                if k < n and text[k] in "+-":
                    k += 1
                if k < n and text[k].isdigit():
                    while k < n and text[k].isdigit():
                        k += 1
                    j = k
            toks.append(Token("NUMBER", text[i:j], Span(line, col, j - i)))
            col += j - i
            i = j
            continue
        if text.startswith("**", i):
            toks.append(Token("OP", "^", Span(line, col, 2)))
            i, col = i + 2, col + 2
            continue
        if c in "+-*/^()[],=":
            if c in "([":
                depth += 1
            elif c in ")]":
                depth = max(0, depth - 1)
            toks.append(Token("OP", c, Span(line, col)))
            i, col = i + 1, col + 1
            continue
        raise RicciError(f"unexpected character {c!r}", span=Span(line, col), source=text)
    toks.append(Token("EOF", "", Span(line, col)))
    return toks


# ---------------------------------------------------------------- syntax tree


@dataclass
class Name:
    """An index name as written, with its place."""

    name: str
    span: Span


@dataclass
class Num:
    value: Fraction
    span: Span


@dataclass
class Ref:
    name: str
    indices: list[Name]
    span: Span
    bracketed: bool


@dataclass
class CallA:
    fn: str
    arg: "Node"
    span: Span


@dataclass
class MatCallA:
    """``inv(A)[i,j]``, ``det(A)``: a function of the whole matrix ``operand``.

    ``slots`` are two placeholder index names, unique in the program, that stand for the
    operand's rows and columns while sizes are worked out."""

    fn: str
    operand: Name
    indices: list[Name]
    span: Span
    slots: tuple[str, str] = ("", "")


@dataclass
class SumA:
    indices: list[Name]
    body: "Node"
    span: Span


@dataclass
class DeltaA:
    indices: list[Name]
    span: Span


@dataclass
class SizeA:
    index: Name
    span: Span


@dataclass
class AddA:
    terms: list[tuple[int, "Node"]]  # (sign, term)


@dataclass
class ProdA:
    factors: list[tuple[bool, "Node"]]  # (divides, factor)


@dataclass
class NegA:
    node: "Node"
    span: Span


@dataclass
class PowA:
    base: "Node"
    exp: "Node"
    span: Span


@dataclass
class Group:
    node: "Node"
    span: Span


Node = Union[Num, Ref, CallA, MatCallA, SumA, DeltaA, SizeA, AddA, ProdA, NegA, PowA, Group]


@dataclass
class StmtA:
    name: str
    indices: list[Name] | None  # None: a scalar, written without brackets
    rhs: Node
    span: Span
    text: str = field(default="")  # the source line


# ---------------------------------------------------------------- parser


def _describe(t: Token) -> str:
    if t.kind == "EOF":
        return "the end of the program"
    if t.kind == "NEWLINE":
        return "the end of the line" if t.text == "\n" else "';'"
    return repr(t.text)


class Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.pos = 0
        self.calls = 0  # matrix-function calls so far (their placeholder slots are unique)

    # -- helpers
    @property
    def tok(self) -> Token:
        return self.toks[self.pos]

    def error(self, msg: str, tok: Token | None = None, hint: str | None = None) -> RicciError:
        tok = tok or self.tok
        return RicciError(msg, span=tok.span, source=self.text, hint=hint)

    def take(self) -> Token:
        t = self.toks[self.pos]
        self.pos += 1
        return t

    def at(self, kind: str, text: str | None = None) -> bool:
        t = self.tok
        return t.kind == kind and (text is None or t.text == text)

    def expect(self, text: str, what: str) -> Token:
        if not self.at("OP", text):
            raise self.error(f"expected {text!r} {what}, found {_describe(self.tok)}")
        return self.take()

    # -- grammar
    def program(self) -> list[StmtA]:
        out: list[StmtA] = []
        lines = self.text.splitlines()
        while True:
            while self.at("NEWLINE"):
                self.take()
            if self.at("EOF"):
                return out
            st = self.statement()
            st.text = lines[st.span.line - 1] if st.span.line - 1 < len(lines) else ""
            out.append(st)
            if not (self.at("NEWLINE") or self.at("EOF")):
                raise self.error(
                    f"expected an operator or the end of the statement, found {_describe(self.tok)}")

    def statement(self) -> StmtA:
        t = self.tok
        if t.kind != "NAME":
            raise self.error(f"expected a statement such as 'Y[i,j] = ...', found {_describe(t)}")
        self.take()
        if t.text in KEYWORDS or t.text in FUNCTIONS or t.text in MATRIX_FUNCTIONS:
            raise self.error(f"'{t.text}' is reserved and cannot be defined", t)
        indices = None
        if self.at("OP", "["):
            indices = self.names(f"of {t.text}")
        if not self.at("OP", "="):
            raise self.error(f"expected '=' after {t.text}{'[...]' if indices else ''}, "
                             f"found {_describe(self.tok)}")
        self.take()
        rhs = self.expr()
        return StmtA(t.text, indices, rhs, t.span)

    def names(self, what: str) -> list[Name]:
        open_ = self.expect("[", f"before the indices {what}")
        out: list[Name] = []
        if self.at("OP", "]"):
            raise self.error(f"empty index list {what}; write a scalar without brackets", open_)
        while True:
            t = self.tok
            if t.kind != "NAME":
                raise self.error(f"expected an index name {what}, found {_describe(t)}")
            self.take()
            out.append(Name(t.text, t.span))
            if self.at("OP", ","):
                self.take()
                continue
            self.expect("]", f"after the indices {what}")
            return out

    def expr(self) -> Node:
        first = self.term()
        terms: list[tuple[int, Node]] = [(1, first)]
        while self.at("OP", "+") or self.at("OP", "-"):
            sign = 1 if self.take().text == "+" else -1
            terms.append((sign, self.term()))
        return first if len(terms) == 1 else AddA(terms)

    def term(self) -> Node:
        first = self.unary()
        factors: list[tuple[bool, Node]] = [(False, first)]
        while self.at("OP", "*") or self.at("OP", "/"):
            divides = self.take().text == "/"
            factors.append((divides, self.unary()))
        return first if len(factors) == 1 else ProdA(factors)

    def unary(self) -> Node:
        if self.at("OP", "-"):
            t = self.take()
            return NegA(self.unary(), t.span)
        if self.at("OP", "+"):
            self.take()
            return self.unary()
        return self.power()

    def power(self) -> Node:
        base = self.atom()
        if self.at("OP", "^"):
            t = self.take()
            return PowA(base, self.unary(), t.span)
        return base

    def matrix_call(self, t: Token) -> MatCallA:
        """``inv(A)[i,j]`` or ``det(A)``, the name already read."""
        fn = MATRIX_FUNCTIONS[t.text]
        self.take()  # (
        op = self.tok
        if op.kind != "NAME" or op.text in KEYWORDS or op.text in FUNCTIONS or op.text in MATRIX_FUNCTIONS:
            raise self.error(f"{t.text} takes a square matrix named by its tensor, such as {t.text}(A)",
                             op, hint=f"for an expression, define it first: C[i,j] = ...; then {t.text}(C)")
        self.take()
        if self.at("OP", "["):
            raise self.error(f"write {t.text}({op.text}) without indices: the whole matrix is the operand",
                             hint=f"index the result instead: {t.text}({op.text})[i,j]" if fn.rank else None)
        if not self.at("OP", ")"):
            raise self.error(f"{t.text} takes a square matrix named by its tensor, such as {t.text}(A)",
                             hint=f"for an expression, define it first: C[i,j] = ...; then {t.text}(C)")
        self.take()
        self.calls += 1
        slots = (f"#r{self.calls}", f"#c{self.calls}")
        if fn.rank:
            if not self.at("OP", "["):
                raise self.error(f"{t.text}({op.text}) is a matrix: index it, as in {t.text}({op.text})[i,j]")
            idx = self.names(f"of {t.text}({op.text})")
            if len(idx) != 2:
                raise self.error(f"{t.text}({op.text}) is a matrix: it takes 2 indices, not {len(idx)}", t)
            return MatCallA(t.text, Name(op.text, op.span), idx, t.span, slots)
        if self.at("OP", "["):
            raise self.error(f"{t.text}({op.text}) is a number: it takes no indices")
        return MatCallA(t.text, Name(op.text, op.span), [], t.span, slots)

    def atom(self) -> Node:
        t = self.tok
        if t.kind == "NUMBER":
            self.take()
            return Num(Fraction(t.text), t.span)
        if self.at("OP", "("):
            self.take()
            inner = self.expr()
            self.expect(")", "to close '('")
            return Group(inner, t.span)
        if t.kind != "NAME":
            raise self.error(f"expected a tensor, a number, a function or '(', found {_describe(t)}")
        self.take()
        name = t.text
        if name == "sum":
            if not self.at("OP", "["):
                raise self.error("sum needs its indices: sum[k](...)", t)
            idx = self.names("of sum")
            if not self.at("OP", "("):
                raise self.error(f"expected '(' after sum[{','.join(i.name for i in idx)}], "
                                 f"found {_describe(self.tok)}",
                                 hint="write the summand in parentheses: sum[k](A[i,k])")
            self.take()
            body = self.expr()
            self.expect(")", "to close sum[...](")
            return SumA(idx, body, t.span)
        if name == "delta":
            if not self.at("OP", "["):
                raise self.error("delta needs its indices: delta[i,j]", t)
            return DeltaA(self.names("of delta"), t.span)
        if name == "size":
            self.expect("(", "after size")
            it = self.tok
            if it.kind != "NAME":
                raise self.error(f"expected an index name in size(...), found {_describe(it)}")
            self.take()
            self.expect(")", "to close size(")
            return SizeA(Name(it.text, it.span), t.span)
        if name in MATRIX_FUNCTIONS and self.at("OP", "("):
            return self.matrix_call(t)
        if self.at("OP", "("):
            if name not in FUNCTIONS:
                close = _close_matches(name, FUNCTIONS)
                hint = (f"did you mean {close}? " if close else "") + \
                    "known functions: " + ", ".join(sorted(FUNCTIONS))
                raise self.error(f"unknown function '{name}'", t, hint=hint)
            self.take()
            arg = self.expr()
            if self.at("OP", ","):
                raise self.error(f"{name} takes one argument")
            self.expect(")", f"to close {name}(")
            return CallA(name, arg, t.span)
        if (name in FUNCTIONS or name in MATRIX_FUNCTIONS) and self.at("OP", "["):
            raise self.error(f"'{name}' is a function: call it with parentheses, {name}(...)", t)
        if self.at("OP", "["):
            return Ref(name, self.names(f"of {name}"), t.span, True)
        return Ref(name, [], t.span, False)


def _close_matches(name: str, options) -> str | None:
    import difflib

    m = difflib.get_close_matches(name, list(options), n=1)
    return f"'{m[0]}'" if m else None


def parse_statements(text: str) -> list[StmtA]:
    """Parse program text into statement syntax trees (raises :class:`RicciError`)."""
    return Parser(text).program()
