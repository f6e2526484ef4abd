"""Stage 1: program text -> syntax tree (with source spans).

The grammar (one statement per line, or separated by ``;``; ``#`` starts a comment;
newlines inside brackets or parentheses are ignored)::

    statement := NAME ['[' names ']'] '=' expr
               | NAME '[' names ']' ':' WORD+       # a declaration: S[i,j] : symmetric
    expr      := term (('+' | '-') term)*
    term      := unary (('*' | '/') unary)*
    unary     := ('-' | '+') unary | power
    power     := atom [('^' | '**') unary]          # right-associative: x^-1, a^b^c
    atom      := NUMBER | '(' expr ')'
               | 'sum' '[' names ']' '(' expr ')' | 'delta' '[' names ']' | 'size' '(' NAME ')'
               | NAME '(' expr ')'                   # an elementwise function
               | NAME '[' names ']' | NAME            # a tensor or a scalar

Lexical rules (docs/language.md): a leading byte order mark is ignored; lines end with
``\\n``, ``\\r\\n`` or ``\\r``; spaces, tabs and other Unicode spaces separate tokens; any
other control character is an error. A NUMBER is ASCII digits (``2``, ``0.5``, ``.5``,
``1e-5``); a NAME is a Python identifier in NFKC normal form (``x``, ``W2``, ``σ``), so
that every name is also a distinct name in generated code.

Limits (:mod:`ricci.bounds`), each an error with a caret where it is crossed: the text's
length (``text_chars``), the number of statements (``statements``), the nesting of one
expression (``nesting``) and the digits of a number (``literal_digits``); numbers must also
be representable in float64. What counts as a level of nesting: a parenthesis, a function
call, ``sum[...](``, an exponent and a unary sign each open one; a parenthesis right after
``^`` and a sign right after an opening parenthesis share the level that is already open;
and ``sum[k](x[k])``, a sum of one reference (how implicit reductions print), opens none.
So the text ricci prints for a program never nests deeper than the text it was read from.

This module only builds the tree: the node classes are in :mod:`.tree`, the checks of
characters, names and numbers both readers share in :mod:`.text`. What the indices mean
(which are free, which are summed where) is decided by :mod:`.resolve`.
"""

from __future__ import annotations

import re
import unicodedata
from itertools import accumulate
from typing import NamedTuple

from ..bounds import current, guarded, tick
from ..errors import RicciError, Span
from ..ir.program import FACTS
from ..primitives.functions import FUNCTIONS, MATRIX_FUNCTIONS
from .text import (
    character_error,
    check_name,
    is_name_char,
    nesting_error,
    number_value,
    prepare_text,
    statements_error,
)
from .tree import (
    AddA,
    CallA,
    DeclA,
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
)

__all__ = ["KEYWORDS", "RESERVED", "Parser"]

KEYWORDS = ("sum", "delta", "size")
#: the Kronecker delta's spellings: δ is how ricci prints it in Unicode and LaTeX reads \delta
DELTA_NAMES = ("delta", "δ")
#: names that do not simply name a tensor (see Parser.atom)
RESERVED = frozenset(KEYWORDS) | frozenset(DELTA_NAMES) | frozenset(FUNCTIONS) | frozenset(MATRIX_FUNCTIONS)
_SPECIAL = RESERVED
_DELTA_HINT = "δ is the Kronecker delta (as \\delta in LaTeX); for a tensor, use another name"


# ---------------------------------------------------------------- tokens


class Token(NamedTuple):
    """A token and where it is; its :class:`Span` is built on demand (most are never
    needed, and a program can have millions of tokens)."""

    kind: str  # NAME NUMBER OP NEWLINE EOF
    text: str
    line: int
    column: int
    length: int = 1

    @property
    def span(self) -> Span:
        return Span(self.line, self.column, self.length)


_TOKEN = re.compile(r"""[ \t]*(?:
    (?P<NAME>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<OP>\*\*|[-+*/^()\[\],=:])
  | (?P<NUMBER>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
  | (?P<NEWLINE>\r\n?|\n|;)
  | (?P<comment>\#[^\r\n]*)
  | (?P<end>\Z)
  | (?P<other>.))""", re.VERBOSE | re.DOTALL)


#: the pieces of a line: every character belongs to exactly one
_PIECE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?"
                    r"|\*\*|[ \t]+|\#.*|.", re.DOTALL)
#: the kind of a piece by its first character (None: a space or a comment, skipped)
_KIND: dict[str, str | None] = {**{c: "NAME" for c in "_abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"},
                                **{c: "NUMBER" for c in "0123456789."}, **{c: "OP" for c in "+-*/^()[],=:"},
                                ";": "NEWLINE", " ": None, "\t": None, "#": None}
#: what the simple tokenizer cannot take (outside comments): it leaves them to the exact one
_UNUSUAL = re.compile(r"[^A-Za-z0-9_ \t\r\n;()\[\],=:+\-*/^.#]|\.(?![0-9])")
_COMMENT = re.compile(r"\#[^\r\n]*")


def tokenize(text: str) -> list[Token]:
    """Tokens of ``text`` (already through :func:`prepare_text`), ending with EOF. A
    newline inside brackets or parentheses is no token (the statement goes on).

    Plain ASCII text whose every line balances its brackets (the usual program) is split
    line by line with :data:`_PIECE`; anything else goes through :func:`_tokenize_exact`.
    """
    code = _COMMENT.sub("", text) if "#" in text else text
    if _UNUSUAL.search(code):
        return _tokenize_exact(text)
    toks: list[Token] = []
    extend, new = toks.extend, tuple.__new__
    kinds, findall = _KIND, _PIECE.findall
    lines = text.splitlines()
    for number, line in enumerate(lines, 1):
        code = line.partition("#")[0] if "#" in line else line
        if code.count("(") != code.count(")") or code.count("[") != code.count("]"):
            return _tokenize_exact(text)  # a statement continued on the next line
        pieces = findall(line)
        extend([new(Token, (kind, "^" if piece == "**" else piece, number, column, len(piece)))
                for piece, column in zip(pieces, accumulate(map(len, pieces), initial=1))
                if (kind := kinds[piece[0]]) is not None])
        toks.append(new(Token, ("NEWLINE", "\n", number, len(line) + 1, 1)))
    if lines and not text.endswith(("\n", "\r")):
        toks.pop()  # the last line has no line break
        toks.append(Token("EOF", "", len(lines), len(lines[-1]) + 1))
    else:
        toks.append(Token("EOF", "", len(lines) + 1, 1))
    return toks


def _tokenize_exact(text: str) -> list[Token]:
    """:func:`tokenize` for any text: characters beyond ASCII (Unicode spaces, names in
    other scripts, checked by :func:`check_name`), newlines inside brackets, and the
    errors for characters that start no token."""
    toks: list[Token] = []
    append = toks.append
    line, line_start, depth, n = 1, 0, 0, len(text)
    pos = 0
    match = _TOKEN.match
    while True:
        m = match(text, pos)
        assert m is not None
        kind = m.lastgroup
        tok = m[kind]  # type: ignore[index]
        end = m.end()
        start = end - len(tok)
        pos = end
        col = start - line_start + 1
        if kind == "NAME" or (kind == "other" and unicodedata.category(tok)[0] == "L"):
            end = pos = _name_end(text, end)
            if not text[start:end].isascii():
                check_name(text[start:end], line, col, text)
            append(Token("NAME", text[start:end], line, col, end - start))
        elif kind == "OP":
            if tok in "([":
                depth += 1
            elif tok in ")]":
                depth = depth - 1 if depth else 0
            append(Token("OP", "^" if tok == "**" else tok, line, col, end - start))
        elif kind == "NUMBER":
            append(Token("NUMBER", tok, line, col, end - start))
        elif kind == "NEWLINE":
            if tok == ";":
                append(Token("NEWLINE", ";", line, col))
                continue
            if depth == 0:
                append(Token("NEWLINE", "\n", line, col))
            line, line_start = line + 1, end
        elif kind == "end":
            break
        elif kind == "other":
            if unicodedata.category(tok) == "Zs":  # a no-break space, a thin space, ...
                continue
            last = toks[-1] if toks else None
            before = last.text if last is not None and last.kind in ("NAME", "NUMBER") and \
                last.line == line and last.column + last.length == col else ""
            raise character_error(text, start, line, col, before=before)
    append(Token("EOF", "", line, n - line_start + 1))
    return toks


def _name_end(text: str, i: int) -> int:
    n = len(text)
    while i < n and is_name_char(text[i]):
        i += 1
    return i


# ---------------------------------------------------------------- parser


def _describe(t: Token) -> str:
    if t.kind == "EOF":
        return "the end of the program"
    if t.kind == "NEWLINE":
        return "the end of the line" if t.text == "\n" else "';'"
    return repr(t.text)


class Parser:
    """Recursive descent over the tokens. ``depth`` counts the levels of nesting open at
    the current token (see the module docstring); the Python recursion is a few frames
    per level, so it is bounded by the ``nesting`` limit."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.toks = tokenize(text)
        self.pos = 0
        self.calls = 0  # matrix-function calls so far (their placeholder slots are unique)
        self.depth = 0
        self.max_depth = current().nesting
        #: (token position, texts): the token there shares the level opened just before it
        self.shared: tuple[int, str] = (-1, "")
        #: the declarations read (``S[i,j] : symmetric``), in order
        self.declarations: list[DeclA] = []

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
        t = self.toks[self.pos]
        return t.kind == kind and (text is None or t.text == text)

    def expect(self, text: str, what: str) -> Token:
        if not self.at("OP", text):
            raise self.error(f"expected {text!r} {what}, found {_describe(self.tok)}")
        return self.take()

    def nest(self, t: Token, then: str = "") -> int:
        """Open a level at ``t``, the token just taken (0 if it shares the level open
        before it); the token after it shares the new level if its text is in ``then``."""
        where, texts = self.shared
        self.shared = (self.pos, then)
        if where == self.pos - 1 and t.text in texts:
            return 0
        self.depth += 1
        if self.depth > self.max_depth:
            raise nesting_error(self.depth, t.span, self.text)
        return 1

    # -- grammar
    def program(self) -> list[StmtA]:
        out: list[StmtA] = []
        lines = self.text.splitlines()
        bound = current().statements
        toks = self.toks
        while True:
            while toks[self.pos].kind == "NEWLINE":
                self.pos += 1
            if toks[self.pos].kind == "EOF":
                return out
            if len(out) == bound:
                raise statements_error(bound + 1, self.tok.span, self.text)
            tick()
            st = self.statement()
            if isinstance(st, DeclA):
                self.declarations.append(st)
                continue
            st.text = lines[st.span.line - 1] if st.span.line - 1 < len(lines) else ""
            out.append(st)
            if toks[self.pos].kind not in ("NEWLINE", "EOF"):
                hint = None
                prev = toks[self.pos - 1]
                if self.tok.kind in ("NAME", "NUMBER") and prev.kind in ("NAME", "NUMBER") or (
                        self.tok.kind == "NAME" and prev.text in (")", "]")):
                    hint = (f"products are written with *: {prev.text} * {self.tok.text}; for a matrix "
                            f"product write the indices (X[i,k] * A[k,j]) or use matrix notation (X @ A)")
                raise self.error(
                    f"expected an operator or the end of the statement, found {_describe(self.tok)}", hint=hint)

    def statement(self) -> StmtA | DeclA:
        t = self.toks[self.pos]
        if t.kind != "NAME":
            raise self.error(f"expected a statement such as 'Y[i,j] = ...', found {_describe(t)}")
        self.pos += 1
        if t.text in _SPECIAL:
            raise self.error(f"'{t.text}' is reserved and cannot be defined", t,
                             hint=_DELTA_HINT if t.text == "δ" else None)
        indices = None
        if self.toks[self.pos].text == "[":
            indices = self.names(t.text)
        if self.toks[self.pos].text == ":" and self.toks[self.pos].kind == "OP":
            return self.declaration(t, indices)
        if self.toks[self.pos].text != "=":
            raise self.error(f"expected '=' after {t.text}{'[...]' if indices else ''}, "
                             f"found {_describe(self.tok)}")
        self.pos += 1
        rhs = self.expr()
        return StmtA(t.text, indices, rhs, t.span)

    def declaration(self, t: Token, indices: list[Name] | None) -> DeclA:
        """``S[i,j] : symmetric`` (``t`` is the name, the ``:`` is the current token): the
        words up to the end of the statement name one of :data:`FACTS`."""
        colon = self.take()
        if indices is None:
            raise self.error("a declaration names the matrix with its indices", colon,
                             hint=f"write {t.text}[i,j] : symmetric")
        words: list[Name] = []
        while self.tok.kind == "NAME":
            w = self.take()
            words.append(Name(w.text, w.span))
            if self.at("OP", "-") and self.toks[self.pos + 1].kind == "NAME":  # one-hot
                self.take()
                w2 = self.take()
                words[-1] = Name(f"{w.text}-{w2.text}", Span(w.span.line, w.span.column,
                                                             w2.span.column + w2.span.length - w.span.column))
        if self.tok.kind not in ("NEWLINE", "EOF"):
            raise self.error(f"expected a property such as 'symmetric' after ':', found {_describe(self.tok)}",
                             hint="a declaration is one line: S[i,j] : symmetric")
        if not words:
            raise self.error(f"expected a property after ':', found {_describe(self.tok)}",
                             hint=f"known properties: {', '.join(FACTS)}")
        said = " ".join(w.name for w in words)
        fact = FACTS.get(said)
        if fact is None:
            first, last = words[0].span, words[-1].span
            span = Span(first.line, first.column,
                        last.column + last.length - first.column if last.line == first.line else first.length)
            close = _close_matches(said, FACTS)
            raise RicciError(f"unknown property '{said}' in the declaration of {t.text}", span=span,
                             source=self.text,
                             hint=(f"did you mean {close}? " if close else "") + f"known properties: {', '.join(FACTS)}")
        return DeclA(t.text, indices, fact, words, t.span)

    def names(self, owner: str) -> list[Name]:
        """``[i,j,...]``, the indices of ``owner``."""
        toks, pos = self.toks, self.pos
        if toks[pos].text != "[":
            raise self.error(f"expected '[' before the indices of {owner}, found {_describe(toks[pos])}")
        if toks[pos + 1].text == "]":
            raise self.error(f"empty index list of {owner}; write a scalar without brackets", toks[pos])
        pos += 1
        out: list[Name] = []
        while True:
            t = toks[pos]
            if t.kind != "NAME":
                self.pos = pos
                raise self.error(f"expected an index name of {owner}, found {_describe(t)}")
            out.append(Name(t.text, Span(t.line, t.column, t.length)))
            sep = toks[pos + 1].text
            pos += 2
            if sep == ",":
                continue
            if sep != "]":
                self.pos = pos - 1
                raise self.error(f"expected ']' after the indices of {owner}, found {_describe(toks[pos - 1])}")
            self.pos = pos
            return out

    # Operators are recognised by their text alone: no NAME, NUMBER, NEWLINE or EOF token
    # has the text of an operator.

    def expr(self) -> Node:
        first = self.term()
        op = self.toks[self.pos].text
        if op != "+" and op != "-":
            return first
        terms: list[tuple[int, Node]] = [(1, first)]
        while op == "+" or op == "-":
            self.pos += 1
            terms.append((1 if op == "+" else -1, self.term()))
            op = self.toks[self.pos].text
        return AddA(terms)

    def term(self) -> Node:
        first = self.unary()
        op = self.toks[self.pos].text
        if op != "*" and op != "/":
            return first
        factors: list[tuple[bool, Node]] = [(False, first)]
        while op == "*" or op == "/":
            self.pos += 1
            factors.append((op == "/", self.unary()))
            op = self.toks[self.pos].text
        return ProdA(factors)

    def unary(self) -> Node:
        """``unary`` and ``power`` of the grammar."""
        t = self.toks[self.pos]
        if t.text == "-" or t.text == "+":
            self.pos += 1
            d = self.nest(t)
            inner = self.unary()
            self.depth -= d
            return NegA(inner, t.span) if t.text == "-" else inner
        base = self.atom()
        if self.toks[self.pos].text == "^":
            t = self.take()
            d = self.nest(t, then="(")
            exp = self.unary()
            self.depth -= d
            return PowA(base, exp, t.span)
        return base

    def matrix_call(self, t: Token) -> MatCallA:
        """``inv(A)[i,j]`` or ``det(A)``, the name already read."""
        fn = MATRIX_FUNCTIONS[t.text]
        self.take()  # (
        op = self.tok
        if op.kind != "NAME" or op.text in _SPECIAL:
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
            idx = self.names(f"{t.text}({op.text})")  # how many: checked where every notation's is
            return MatCallA(t.text, Name(op.text, op.span), idx, t.span, slots)
        if self.at("OP", "["):
            raise self.error(f"{t.text}({op.text}) is a number: it takes no indices")
        return MatCallA(t.text, Name(op.text, op.span), [], t.span, slots)

    def lone_reference(self) -> bool:
        """At ``(``: whether one reference and ``)`` follow (``x[k]``, ``delta[i,j]``,
        ``inv(A)[i,j]``): a sum of it opens no level of nesting."""
        toks, k = self.toks, self.pos + 1
        if toks[k].kind != "NAME" or toks[k].text in ("sum", "size") or toks[k].text in FUNCTIONS:
            return False
        if toks[k].text in MATRIX_FUNCTIONS and toks[k + 1].text == "(":
            if toks[k + 2].kind != "NAME" or toks[k + 3].text != ")":
                return False
            k += 3
        k += 1
        if toks[k].kind == "OP" and toks[k].text == "[":
            k += 1
            while toks[k].kind == "NAME" and toks[k + 1].kind == "OP" and toks[k + 1].text == ",":
                k += 2
            if toks[k].kind != "NAME" or toks[k + 1].text != "]":
                return False
            k += 2
        return toks[k].kind == "OP" and toks[k].text == ")"

    def atom(self) -> Node:
        t = self.toks[self.pos]
        if t.kind == "NAME" and t.text not in _SPECIAL:  # a tensor or a scalar
            self.pos += 1
            after = self.toks[self.pos].text
            if after == "[":
                return Ref(t.text, self.names(t.text), t.span, True)
            if after != "(":
                return Ref(t.text, [], t.span, False)
            self.pos -= 1
        if t.kind == "NUMBER":
            self.take()
            return Num(number_value(t.text, t.span, self.text), t.span)
        if t.text == "(":
            self.take()
            d = self.nest(t, then="-+")
            inner = self.expr()
            self.depth -= d
            self.expect(")", "to close '('")
            return Group(inner, t.span)
        if t.kind != "NAME":
            raise self.error(f"expected a tensor, a number, a function or '(', found {_describe(t)}")
        self.take()
        name = t.text
        if name == "sum":
            if not self.at("OP", "["):
                raise self.error("sum needs its indices: sum[k](...)", t)
            idx = self.names("sum")
            if not self.at("OP", "("):
                raise self.error(f"expected '(' after sum[{','.join(i.name for i in idx)}], "
                                 f"found {_describe(self.tok)}",
                                 hint="write the summand in parentheses: sum[k](A[i,k])")
            lone = self.lone_reference()
            self.take()
            d = 0 if lone else self.nest(t, then="-+")
            body = self.expr()
            self.depth -= d
            self.expect(")", "to close sum[...](")
            return SumA(idx, body, t.span)
        if name in DELTA_NAMES:
            if not self.at("OP", "["):
                raise self.error(f"{name} needs its indices: {name}[i,j]", t,
                                 hint=_DELTA_HINT if name == "δ" else None)
            return DeltaA(self.names(name), t.span)
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
            d = self.nest(t, then="-+")
            arg = self.expr()
            self.depth -= d
            if self.at("OP", ","):
                raise self.error(f"{name} takes one argument")
            self.expect(")", f"to close {name}(")
            return CallA(name, arg, t.span)
        if name in FUNCTIONS or name in MATRIX_FUNCTIONS:  # reserved: never a tensor's name
            raise self.error(f"'{name}' is a function: call it with parentheses, {name}(...)", t)
        if self.at("OP", "["):
            return Ref(name, self.names(name), t.span, True)
        return Ref(name, [], t.span, False)


def _close_matches(name: str, options) -> str | None:
    import difflib

    m = difflib.get_close_matches(name, list(options), n=1)
    return f"'{m[0]}'" if m else None


@guarded("parsing")
def parse_statements(text: str) -> list[StmtA]:
    """Parse program text into statement syntax trees (raises :class:`RicciError`)."""
    return Parser(prepare_text(text)).program()
