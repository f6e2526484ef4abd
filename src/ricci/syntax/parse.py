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

This module only builds the tree. What the indices mean (which are free, which are summed
where) is decided by :mod:`ricci.resolve`.
"""

from __future__ import annotations

import re
import sys
import unicodedata
from dataclasses import dataclass, field
from fractions import Fraction
from itertools import accumulate
from typing import NamedTuple

from ..bounds import current, guarded, tick
from ..errors import RicciError, Span
from ..primitives.functions import FUNCTIONS, MATRIX_FUNCTIONS

KEYWORDS = ("sum", "delta", "size")
#: the Kronecker delta's spellings: δ is how ricci prints it in Unicode and LaTeX reads \delta
DELTA_NAMES = ("delta", "δ")
#: names that do not simply name a tensor (see Parser.atom)
_SPECIAL = frozenset(KEYWORDS) | frozenset(DELTA_NAMES) | frozenset(FUNCTIONS) | frozenset(MATRIX_FUNCTIONS)
_DELTA_HINT = "δ is the Kronecker delta (as \\delta in LaTeX); for a tensor, use another name"


def limit_hint(limit: str, advice: str) -> str:
    """The hint of an error that crosses a limit: what to do, or how to raise it."""
    return f"{advice}, or raise the limit: with ricci.limits({limit}=...): ..."


# ---------------------------------------------------------------- text

#: characters that break lines for ``str.splitlines`` (which error messages use to show
#: the line) or control the terminal: never allowed, not even in comments
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_NAMES = {0: "NUL", 0x0B: "vertical tab", 0x0C: "form feed", 0x1B: "escape", 0x7F: "delete",
                  0x85: "next line", 0x2028: "line separator", 0x2029: "paragraph separator"}


def text_position(text: str, offset: int) -> tuple[int, int]:
    """The 1-based (line, column) of ``text[offset]``, counting lines as ``str.splitlines``
    does for the text ricci accepts (``\\n``, ``\\r\\n`` and ``\\r`` end a line)."""
    head = text[:offset]
    lines = head.splitlines(keepends=True)
    if not lines:
        return 1, 1
    if lines[-1].endswith(("\n", "\r")):
        return len(lines) + 1, 1
    return len(lines), len(lines[-1]) + 1


def _char_name(c: str) -> str:
    name = _CONTROL_NAMES.get(ord(c)) or unicodedata.name(c, "").lower()
    return f"U+{ord(c):04X} ({name})" if name else f"U+{ord(c):04X}"


def prepare_text(text: str) -> str:
    """``text`` without its byte order mark, checked against the ``text_chars`` limit and
    for control characters (raises :class:`RicciError` at the offending character)."""
    text = text.removeprefix("\ufeff")
    bound = current().text_chars
    if len(text) > bound:
        line, col = text_position(text, bound)
        raise RicciError(f"the program text has {len(text)} characters, more than the limit of {bound}",
                         span=Span(line, col), source=text,
                         hint=limit_hint("text_chars", "split it into several programs"))
    m = _CONTROL.search(text)
    if m is not None:
        line, col = text_position(text, m.start())
        raise RicciError(f"control character {_char_name(m.group())} in the program text",
                         span=Span(line, col), source=text,
                         hint="delete it: only spaces, tabs and line breaks may separate tokens")
    return text


# ---------------------------------------------------------------- numbers

_NUMBER = re.compile(r"([0-9]*)(?:\.([0-9]*))?(?:[eE]([+-]?)([0-9]+))?\Z")
_FLOAT_MAX, _FLOAT_MIN = Fraction(sys.float_info.max), Fraction(sys.float_info.min)
_FLOAT_RANGE = "float64, which the generated code computes in, holds magnitudes from about " \
               "2.2e-308 to 1.8e308 (and 0)"


def number_value(text: str, span: Span | None, source: str) -> Fraction:
    """The exact value of a number literal (``2``, ``0.5``, ``.5``, ``1.5e-3``).

    Raises :class:`RicciError` when the literal has more than ``literal_digits``
    significant digits (those of the mantissa from its first to its last nonzero digit,
    and those of the exponent without leading zeros), or when its value is nonzero and
    outside float64's range. Never builds an integer of more than about 750 digits.
    """
    m = _NUMBER.match(text)
    if m is None:  # pragma: no cover - the tokenizers only produce such literals
        raise RicciError(f"malformed number {text!r}", span=span, source=source)
    whole, frac, sign, exp = m.group(1), m.group(2) or "", m.group(3), m.group(4) or ""
    digits = (whole + frac).lstrip("0")
    sig = digits.rstrip("0")
    exp = exp.lstrip("0")
    bound = current().literal_digits
    shown = text if len(text) <= 30 else text[:12] + "..." + text[-12:]
    if len(sig) + len(exp) > bound:
        raise RicciError(f"the number {shown} has {len(sig) + len(exp)} digits, more than the limit of {bound}",
                         span=span, source=source,
                         hint=limit_hint("literal_digits", "float64 keeps about 17 significant digits: "
                                         "round the number"))
    if not sig:
        return Fraction(0)
    scale = (int(exp) if exp else 0) * (-1 if sign == "-" else 1) + len(digits) - len(sig) - len(frac)
    adjusted = scale + len(sig) - 1  # 10^adjusted <= value < 10^(adjusted + 1)
    value = None
    if -330 <= adjusted <= 310:
        value = Fraction(int(sig)) * Fraction(10) ** scale
    if adjusted > 310 or (value is not None and value > _FLOAT_MAX):
        raise RicciError(f"the number {shown} is too large for float64", span=span, source=source,
                         hint=_FLOAT_RANGE)
    if value is None or value < _FLOAT_MIN:
        raise RicciError(f"the number {shown} is too small for float64", span=span, source=source,
                         hint=_FLOAT_RANGE + "; write 0 for zero")
    return value


# ---------------------------------------------------------------- characters and names

#: Unicode operators pasted from typeset text, and what ricci writes instead
UNICODE_OPERATORS = {"·": "*", "×": "*", "⋅": "*", "∗": "*", "−": "-", "–": "-", "÷": "/", "∕": "/"}


def is_name_char(c: str) -> bool:
    """Whether ``c`` continues a name as written (letters, marks, digits, ``_``); whether
    the name is valid is decided by :func:`check_name`."""
    return c.isalnum() or c == "_" or unicodedata.category(c)[0] in "LMN" or unicodedata.category(c) == "Pc"


def _script(c: str) -> str | None:
    """``"super"`` or ``"sub"`` for a superscript or subscript character, else None."""
    d = unicodedata.decomposition(c)
    return "super" if d.startswith("<super>") else "sub" if d.startswith("<sub>") else None


def _plain(run: str) -> str:
    return unicodedata.normalize("NFKC", run).replace("−", "-")


def script_error(name: str, k: int, line: int, col: int, source: str, latex: bool = False) -> RicciError:
    """The error for the superscript or subscript characters at ``name[k]``: what to write."""
    kind = _script(name[k])
    j = k
    while j < len(name) and _script(name[j]) == kind:
        j += 1
    run, base = name[k:j], name[:k]
    plain = _plain(run)
    span = Span(line, col + k, j - k)
    if kind == "super":
        power = (f"{base}^{{{plain}}}" if len(plain) > 1 else f"{base}^{plain}") if latex else f"{base}^{plain}"
        return RicciError(f"superscript '{run}' after '{base}'" if base else f"unexpected superscript '{run}'",
                          span=span, source=source,
                          hint=f"write powers with ^: {power}" if base else "write powers with ^, as in x^2")
    if not base:
        return RicciError(f"unexpected subscript '{run}'", span=span, source=source,
                          hint="write indices in brackets: x[i]" if not latex else "write x_{i}")
    if latex:
        return RicciError(f"subscript '{run}' after '{base}'", span=span, source=source,
                          hint=f"write {base}_{{{plain}}}")
    if plain.isdigit():
        hint = f"write {base}{plain} for a name, or {base}[i] for a tensor indexed by i"
    else:
        hint = f"write the indices in brackets: {base}[{','.join(plain)}]"
    return RicciError(f"subscript '{run}' after '{base}'", span=span, source=source, hint=hint)


def _number_hint(c: str) -> str:
    """``write numbers with the digits 0-9: 3`` for ``٣`` (``1/2`` for ``½``)."""
    value = unicodedata.numeric(c, None)
    if value is None:
        return "write numbers with the digits 0-9"
    return f"write numbers with the digits 0-9: {Fraction(value).limit_denominator(1000)}"


#: combining accents and the LaTeX command that writes them
_ACCENTS = {"\u0302": "hat", "\u0304": "bar", "\u0303": "tilde", "\u0305": "bar"}


def character_error(source: str, i: int, line: int, col: int, latex: bool = False,
                    before: str = "") -> RicciError:
    """The error for ``source[i]``, a character that starts no token; ``before`` is the
    name or number right before it (for superscripts: ``x²`` -> ``x^2``)."""
    c = source[i]
    span = Span(line, col)
    if _script(c):
        j = i
        while j < len(source) and _script(source[j]) == _script(c):
            j += 1
        return script_error(before + source[i:j], len(before), line, col - len(before), source, latex)
    if c in UNICODE_OPERATORS:
        return RicciError(f"unexpected character {c!r}", span=span, source=source,
                          hint=f"write '{UNICODE_OPERATORS[c]}'")
    category = unicodedata.category(c)
    if category[0] == "N":
        return RicciError(f"unexpected character {c!r}", span=span, source=source, hint=_number_hint(c))
    if category == "Cf":
        return RicciError(f"invisible character {_char_name(c)}", span=span, source=source,
                          hint="delete it")
    plain = unicodedata.normalize("NFKC", c)
    if plain != c and plain.strip():
        return RicciError(f"unexpected character {c!r}", span=span, source=source,
                          hint=f"'{c}' is written '{plain}'")
    if latex and category[0] == "M" and before and c in _ACCENTS:
        return RicciError(f"unexpected combining accent {_char_name(c)}", span=span, source=source,
                          hint=f"write \\{_ACCENTS[c]}{{{before}}}")
    if latex and category[0] == "L":
        base = unicodedata.normalize("NFD", c)
        if len(base) == 2 and base[1] in _ACCENTS and base[0].isascii():
            return RicciError(f"unexpected character {c!r}", span=span, source=source,
                              hint=f"write \\{_ACCENTS[base[1]]}{{{base[0]}}}")
        return RicciError(f"unexpected character {c!r}", span=span, source=source,
                          hint="LaTeX input takes ASCII letters and Greek letters (\\alpha or α); "
                               "write other names as \\mathrm{...}")
    return RicciError(f"unexpected character {c!r}", span=span, source=source)


def check_name(name: str, line: int, col: int, source: str) -> None:
    """Raise unless ``name`` is a Python identifier in NFKC normal form (``x``, ``W2``,
    ``σ``, ``ŷ``): what Python would read as another name (``ｘ`` is ``x``) or what is not
    a name at all (``x²``, ``x₄``, ``t½``) is an error with the spelling to use."""
    if name.isidentifier() and unicodedata.is_normalized("NFKC", name):
        return
    for k, c in enumerate(name):
        if _script(c):
            raise script_error(name, k, line, col, source)
        ok = c.isidentifier() if k == 0 else ("a" + c).isidentifier()
        if not ok and unicodedata.category(c)[0] == "N":
            raise RicciError(f"'{c}' cannot be part of the name '{name}'", span=Span(line, col + k),
                             source=source, hint=_number_hint(c) + ", as a factor of its own")
        if not ok:
            raise RicciError(f"'{c}' cannot be part of the name '{name}'", span=Span(line, col + k),
                             source=source, hint="names are letters, digits and _")
        plain = unicodedata.normalize("NFKC", c)
        if plain != c:
            raise RicciError(f"'{c}' in the name '{name}' is a compatibility character: Python reads it "
                             f"as '{plain}'", span=Span(line, col + k), source=source,
                             hint=_normal_hint(name, c, plain))
    plain = unicodedata.normalize("NFKC", name)
    raise RicciError(f"the name '{name}' ({_code_points(name)}) is not in NFKC normal form: Python reads "
                     f"it as '{plain}' ({_code_points(plain)})", span=Span(line, col, len(name)),
                     source=source, hint=f"write '{plain}' with its composed characters")


def _code_points(s: str) -> str:
    return " ".join(f"U+{ord(c):04X}" for c in s)


def _normal_hint(name: str, c: str, plain: str) -> str:
    whole = unicodedata.normalize("NFKC", name)
    hint = f"'{c}' is written '{plain}'"
    return hint + (f": write '{whole}'" if whole.isidentifier() and whole != plain else "")


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
  | (?P<OP>\*\*|[-+*/^()\[\],=])
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
                                **{c: "NUMBER" for c in "0123456789."}, **{c: "OP" for c in "+-*/^()[],="},
                                ";": "NEWLINE", " ": None, "\t": None, "#": None}
#: what the simple tokenizer cannot take (outside comments): it leaves them to the exact one
_UNUSUAL = re.compile(r"[^A-Za-z0-9_ \t\r\n;()\[\],=+\-*/^.#]|\.(?![0-9])")
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

    def kids(self) -> tuple[Node, ...]:
        return ()


@dataclass
class Ref:
    name: str
    indices: list[Name]
    span: Span
    bracketed: bool

    def kids(self) -> tuple[Node, ...]:
        return ()


@dataclass
class CallA:
    fn: str
    arg: Node
    span: Span

    def kids(self) -> tuple[Node, ...]:
        return (self.arg,)


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

    def kids(self) -> tuple[Node, ...]:
        return ()


@dataclass
class SumA:
    indices: list[Name]
    body: Node
    span: Span

    def kids(self) -> tuple[Node, ...]:
        return (self.body,)


@dataclass
class DeltaA:
    indices: list[Name]
    span: Span

    def kids(self) -> tuple[Node, ...]:
        return ()


@dataclass
class SizeA:
    index: Name
    span: Span

    def kids(self) -> tuple[Node, ...]:
        return ()


@dataclass
class AddA:
    terms: list[tuple[int, Node]]  # (sign, term)

    def kids(self) -> tuple[Node, ...]:
        return tuple(t for _, t in self.terms)


@dataclass
class ProdA:
    factors: list[tuple[bool, Node]]  # (divides, factor)

    def kids(self) -> tuple[Node, ...]:
        return tuple(f for _, f in self.factors)


@dataclass
class NegA:
    node: Node
    span: Span

    def kids(self) -> tuple[Node, ...]:
        return (self.node,)


@dataclass
class PowA:
    base: Node
    exp: Node
    span: Span

    def kids(self) -> tuple[Node, ...]:
        return (self.base, self.exp)


@dataclass
class Group:
    node: Node
    span: Span

    def kids(self) -> tuple[Node, ...]:
        return (self.node,)


Node = Num | Ref | CallA | MatCallA | SumA | DeltaA | SizeA | AddA | ProdA | NegA | PowA | Group


@dataclass
class StmtA:
    name: str
    indices: list[Name] | None  # None: a scalar, written without brackets
    rhs: Node
    span: Span
    text: str = field(default="")  # the source line


def nodes(root: Node) -> list[Node]:
    """Every node under ``root`` (itself included) in source order, without recursion."""
    out: list[Node] = []
    stack = [root]
    while stack:
        n = stack.pop()
        out.append(n)
        kids = n.kids()
        if kids:
            stack.extend(reversed(kids))
    return out


def nesting_error(depth: int, span: Span, source: str) -> RicciError:
    """The error for an expression nested ``depth`` levels deep (one past the limit)."""
    return RicciError(f"expression nested {depth} levels deep, more than the limit of {current().nesting}",
                      span=span, source=source,
                      hint=limit_hint("nesting", "define an inner part as a statement of its own "
                                      "(t[i] = ...; then use t[i])"))


def statements_error(count: int, span: Span, source: str) -> RicciError:
    """The error for statement number ``count``, one past the limit."""
    return RicciError(f"statement {count} is one more than the limit of {current().statements} statements "
                      f"in a program", span=span, source=source,
                      hint=limit_hint("statements", "split the program"))


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
            st.text = lines[st.span.line - 1] if st.span.line - 1 < len(lines) else ""
            out.append(st)
            if toks[self.pos].kind not in ("NEWLINE", "EOF"):
                raise self.error(
                    f"expected an operator or the end of the statement, found {_describe(self.tok)}")

    def statement(self) -> StmtA:
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
        if self.toks[self.pos].text != "=":
            raise self.error(f"expected '=' after {t.text}{'[...]' if indices else ''}, "
                             f"found {_describe(self.tok)}")
        self.pos += 1
        rhs = self.expr()
        return StmtA(t.text, indices, rhs, t.span)

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
            idx = self.names(f"{t.text}({op.text})")
            if len(idx) != 2:
                raise self.error(f"{t.text}({op.text}) is a matrix: it takes 2 indices, not {len(idx)}", t)
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
