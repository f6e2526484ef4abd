"""Matrix notation as input: NumPy / PyTorch-style text read into ricci's syntax tree.

::

    X: [n, d]                 # declarations: the shape of every input, by dim names
    w: [d]
    lam: scalar
    L = sum((X @ w - y)**2) / n + lam * sum(w**2)

is read as the index program ``L = sum[n]((sum[d](X[n,d] * w[d]) - y[n])^2) / size(n) +
lam * sum[d1](w[d1]^2)`` (printed ``L = sum[n]((X[n,d] * w[d] - y[n])^2) / size(n) + ...``
with ricci's implicit sums; the articles' method: matrix -> indices -> differentiate ->
matrix). :func:`parse_matrix` reads the text into a small tree of immutable nodes
(:class:`MExpr`), checking every shape; :func:`read_matrix` translates it into the
:mod:`.tree` nodes the ricci and LaTeX readers build, so :mod:`.resolve` applies the same
checks, and every error points into the matrix text as written.

Invariants of the translation: every axis of a subexpression gets an index named after its
dim (``d``, then ``d1``, ``d2``, ... when the name is taken in the statement), so within a
statement an index name always has one dim; every contraction and reduction is an explicit
``sum[k](...)`` over a fresh index, so no index is implicit and the index rule never has
to guess; broadcasting pairs axes from the right only when their dims have the same name;
a matrix function of an expression (``inv(X.T @ X)``) gets a helper statement, since
ricci's matrix functions take a tensor by name.
"""

from __future__ import annotations

import re
import unicodedata
import warnings
from bisect import bisect_right
from dataclasses import dataclass, field, replace
from fractions import Fraction

from ..bounds import current
from ..errors import RicciError, RicciWarning, Span
from ..ir.program import FACTS, SYMMETRIC_FACTS
from ..primitives.functions import FUNCTIONS, MATRIX_FUNCTIONS
from .parse import DELTA_NAMES, KEYWORDS
from .text import character_error, check_name, nesting_error, number_value, statements_error
from .tree import AddA, CallA, DeclA, DeltaA, MatCallA, Name, NegA, Node, Num, PowA, ProdA, Ref, SizeA, StmtA, SumA

__all__ = ["MATRIX_FORMS", "MCall", "MExpr", "MName", "MNum", "MOp", "MT", "MUnary", "MatrixProgram",
           "looks_like_matrix", "parse_matrix", "read_matrix"]

#: the constructs of matrix notation beyond the primitive tables (an elementwise function of
#: ``FUNCTIONS`` and a matrix function of ``MATRIX_FUNCTIONS`` are read by their table names)
MATRIX_FORMS = ("sum", "mean", "outer", "diag", "norm", "softmax", "log_softmax")
#: prefixes of library calls that are read as the bare function (``np.exp`` is ``exp``)
_PREFIXES = ("np", "numpy", "torch", "jnp", "F")
_SOFTMAX, _LOG_SOFTMAX = "softmax", "log_softmax"
#: the functions softmax is written with (rules about these functions, not their facts)
_EXP, _LOG = "exp", "log"
_DECLARE_HINT = "declare every input's shape first, e.g. X: [n, d] (a matrix), w: [d] (a vector), lam: scalar"

_TOKEN = re.compile(r"""(?P<space>[ \t]+)|(?P<comment>\#[^\r\n]*)|(?P<newline>\r\n?|\n|;)
  |(?P<number>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?(?![A-Za-z_]))
  |(?P<name>[^\W\d]\w*)|(?P<op>\*\*|[-+*/^@()\[\],=:.])|(?P<other>.)""", re.VERBOSE | re.DOTALL)
_SHAPE_LINE = re.compile(r"^[ \t]*[^\W\d]\w*[ \t]*:[ \t]*(\[|scalar\b)", re.MULTILINE)
_TRANSPOSE = re.compile(r"\.T\b")


def looks_like_matrix(text: str) -> bool:
    """Whether ``text`` is matrix notation: it has a shape declaration (``X: [n, d]``,
    ``c: scalar``), ``@`` or ``.T`` outside comments, and nothing of LaTeX (``\\``, braces).
    ricci's own declarations (``S[i,j] : symmetric``) have brackets before the colon."""
    code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
    if any(c in code for c in "\\{}"):
        return False
    return bool(_SHAPE_LINE.search(code) or "@" in code or _TRANSPOSE.search(code))


# ---------------------------------------------------------------- the matrix syntax tree


@dataclass(frozen=True)
class MNum:
    value: Fraction
    lo: int
    hi: int


@dataclass(frozen=True)
class MName:
    """A tensor, a scalar, an earlier statement, or a dim name used as its size."""

    name: str
    lo: int
    hi: int


@dataclass(frozen=True)
class MUnary:
    x: MExpr
    lo: int
    hi: int


@dataclass(frozen=True)
class MOp:
    """``a op b`` for ``op`` one of ``+ - * / ^ @`` (``**`` is read as ``^``); ``at`` is the
    operator's offset."""

    op: str
    a: MExpr
    b: MExpr
    at: int
    lo: int
    hi: int


@dataclass(frozen=True)
class MT:
    """``x.T``: the axes reversed (a no-op on a vector, as in NumPy); ``x.mT`` (``last``):
    the last two swapped (PyTorch's batched matrix transpose)."""

    x: MExpr
    lo: int
    hi: int
    last: bool = False


@dataclass(frozen=True)
class MCall:
    """``fn(args..., axis=...)``; ``axes`` is None when no axis was given."""

    fn: str
    args: tuple[MExpr, ...]
    axes: tuple[int, ...] | None
    lo: int
    hi: int


MExpr = MNum | MName | MUnary | MOp | MT | MCall


@dataclass(frozen=True)
class MDecl:
    name: str
    dims: tuple[str, ...]
    fact: str | None
    words: tuple[tuple[str, int, int], ...]
    lo: int
    hi: int


@dataclass(frozen=True)
class MStmt:
    name: str
    rhs: MExpr
    lo: int
    hi: int


@dataclass(frozen=True)
class MatrixProgram:
    """The declarations (name -> :class:`MDecl`) and statements of matrix text, in order;
    ``shapes`` maps every input and statement to its dims (``()`` a scalar)."""

    source: str
    decls: dict[str, MDecl]
    stmts: tuple[MStmt, ...]
    shapes: dict[str, tuple[str, ...]]
    dims: frozenset[str]
    #: ``id`` of every subexpression of ``stmts`` -> its dims
    shape_of: dict[int, tuple[str, ...]] = field(repr=False, compare=False, default_factory=dict)


# ---------------------------------------------------------------- tokens and positions


class _Text:
    """The source and its line starts, to turn offsets into :class:`Span` s."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.starts = [0] + [m.end() for m in re.finditer(r"\r\n?|\n", source)]

    def span(self, lo: int, hi: int) -> Span:
        line = bisect_right(self.starts, lo)
        col = lo - self.starts[line - 1] + 1
        end_of_line = self.starts[line] if line < len(self.starts) else len(self.source)
        return Span(line, col, max(1, min(hi, end_of_line) - lo))

    def error(self, msg: str, lo: int, hi: int, hint: str | None = None) -> RicciError:
        return RicciError(msg, span=self.span(lo, max(hi, lo + 1)), source=self.source, hint=hint)

    def words(self, lo: int, hi: int) -> str:
        return " ".join(self.source[lo:hi].split())


class _Tok:
    __slots__ = ("hi", "kind", "lo", "text")

    def __init__(self, kind: str, text: str, lo: int, hi: int) -> None:
        self.kind, self.text, self.lo, self.hi = kind, text, lo, hi


def _tokenize(t: _Text) -> list[_Tok]:
    src = t.source
    out: list[_Tok] = []
    depth = pos = 0
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        assert m is not None
        kind, text, lo, pos = m.lastgroup or "", m.group(), m.start(), m.end()
        if kind in ("space", "comment"):
            continue
        if kind == "newline":
            if depth == 0 or text == ";":
                out.append(_Tok("NEWLINE", text, lo, pos))
            continue
        if kind == "name":
            if not text.isascii():
                sp = t.span(lo, pos)
                check_name(text, sp.line, sp.column, src)
            out.append(_Tok("NAME", text, lo, pos))
        elif kind == "number":
            out.append(_Tok("NUMBER", text, lo, pos))
        elif kind == "op":
            depth += text in "(["
            depth -= depth > 0 and text in ")]"
            out.append(_Tok("OP", "^" if text == "**" else text, lo, pos))
        else:
            if unicodedata.category(text) == "Zs":
                continue
            sp = t.span(lo, pos)
            raise character_error(src, lo, sp.line, sp.column)
    out.append(_Tok("EOF", "", len(src), len(src)))
    return out


def _describe(tok: _Tok) -> str:
    return {"NEWLINE": "the end of the line", "EOF": "the end of the text"}.get(tok.kind, f"'{tok.text}'")


def _shape_text(shape: tuple[str, ...]) -> str:
    return "a scalar" if not shape else "[" + ", ".join(shape) + "]"


# ---------------------------------------------------------------- the parser


class _Parser:
    """Recursive descent over the tokens, with Python's precedences: ``+ -`` < ``* / @`` <
    unary ``-`` < ``**`` (right-associative, ``-x**2 = -(x**2)``) < ``.T`` and calls."""

    def __init__(self, t: _Text) -> None:
        self.t = t
        self.toks = _tokenize(t)
        self.pos = 0
        self.depth = 0

    @property
    def tok(self) -> _Tok:
        return self.toks[self.pos]

    def take(self) -> _Tok:
        tok = self.toks[self.pos]
        self.pos += 1
        return tok

    def at(self, text: str) -> bool:
        return self.tok.kind == "OP" and self.tok.text == text

    def error(self, msg: str, tok: _Tok | None = None, hint: str | None = None) -> RicciError:
        tok = tok or self.tok
        return self.t.error(msg, tok.lo, tok.hi, hint)

    def expect(self, text: str, what: str) -> _Tok:
        if not self.at(text):
            raise self.error(f"expected '{text}' {what}, found {_describe(self.tok)}")
        return self.take()

    def nest(self, tok: _Tok) -> None:
        self.depth += 1
        if self.depth > current().nesting:
            raise nesting_error(self.depth, self.t.span(tok.lo, tok.hi), self.t.source)

    def program(self) -> tuple[list[MDecl], list[MStmt]]:
        decls: list[MDecl] = []
        stmts: list[MStmt] = []
        bound = current().statements
        while self.tok.kind != "EOF":
            if self.tok.kind == "NEWLINE":
                self.take()
                continue
            first = self.tok
            if first.kind != "NAME":
                raise self.error(f"expected a declaration 'X: [n, d]' or a statement 'Y = ...', "
                                 f"found {_describe(first)}")
            nxt = self.toks[self.pos + 1]
            if nxt.kind == "OP" and nxt.text == ":":
                decls.append(self.declaration())
            elif nxt.kind == "OP" and nxt.text == "=":
                self.pos += 2
                self.depth = 0
                rhs = self.expr()
                stmts.append(MStmt(first.text, rhs, first.lo, first.hi))
                if len(stmts) > bound:
                    raise statements_error(len(stmts), self.t.span(first.lo, first.hi), self.t.source)
            elif nxt.kind == "OP" and nxt.text == "[":
                raise self.error("indexing is not matrix notation", nxt,
                                 hint="a matrix statement names its whole result: Y = X @ W; for index "
                                      "notation write the program in ricci syntax, Y[i,j] = X[i,k] * W[k,j]")
            else:
                raise self.error(f"expected ':' (a declaration) or '=' (a statement) after {first.text}, "
                                 f"found {_describe(nxt)}", nxt)
            if self.tok.kind not in ("NEWLINE", "EOF"):
                raise self.error(f"expected an operator or the end of the statement, found {_describe(self.tok)}")
        return decls, stmts

    def declaration(self) -> MDecl:
        name = self.take()
        self.take()  # :
        dims: list[str] = []
        if self.tok.kind == "NAME" and self.tok.text == "scalar":
            self.take()
        elif self.at("["):
            self.take()
            while not self.at("]"):
                d = self.tok
                if d.kind == "NUMBER":
                    raise self.error(f"dims are names, not sizes: write a name such as n for {d.text}", d,
                                     hint="sizes come from the arrays at call time; a name ties the axes "
                                          "that share it")
                if d.kind != "NAME":
                    raise self.error(f"expected a dim name in the shape of {name.text}, found {_describe(d)}")
                dims.append(self.take().text)
                if not self.at("]"):
                    self.expect(",", f"between the dims of {name.text}")
            self.take()
        else:
            raise self.error(f"expected a shape such as [n, d] or 'scalar' after '{name.text}:', "
                             f"found {_describe(self.tok)}", hint=_DECLARE_HINT)
        words: list[tuple[str, int, int]] = []
        while self.tok.kind == "NAME":
            w = self.take()
            text, hi = w.text, w.hi
            while self.at("-") and self.toks[self.pos + 1].kind == "NAME":  # one-hot
                self.take()
                w2 = self.take()
                text, hi = f"{text}-{w2.text}", w2.hi
            words.append((text, w.lo, hi))
        if self.tok.kind not in ("NEWLINE", "EOF"):
            raise self.error(f"expected a property such as 'symmetric' or the end of the declaration, "
                             f"found {_describe(self.tok)}", hint="a declaration is one line: S: [d, d] symmetric")
        fact = None
        if words:
            said = " ".join(w[0] for w in words)
            fact = FACTS.get(said)
            if fact is None:
                raise self.t.error(f"unknown property '{said}' in the declaration of {name.text}",
                                   words[0][1], words[-1][2], hint=f"known properties: {', '.join(FACTS)}")
        return MDecl(name.text, tuple(dims), fact, tuple(words), name.lo, self.toks[self.pos - 1].hi)

    def expr(self) -> MExpr:
        a = self.term()
        while self.at("+") or self.at("-"):
            op = self.take()
            b = self.term()
            a = MOp(op.text, a, b, op.lo, a.lo, b.hi)
        return a

    def term(self) -> MExpr:
        a = self.unary()
        while self.at("*") or self.at("/") or self.at("@"):
            op = self.take()
            b = self.unary()
            a = MOp(op.text, a, b, op.lo, a.lo, b.hi)
        return a

    def unary(self) -> MExpr:
        if self.at("-") or self.at("+"):
            op = self.take()
            self.nest(op)
            x = self.unary()
            self.depth -= 1
            return MUnary(x, op.lo, x.hi) if op.text == "-" else x
        base = self.postfix()
        if self.at("^"):
            op = self.take()
            self.nest(op)
            e = self.unary()
            self.depth -= 1
            return MOp("^", base, e, op.lo, base.lo, e.hi)
        return base

    def postfix(self) -> MExpr:
        x = self.atom()
        while True:
            if self.at("."):
                dot = self.take()
                attr = self.tok
                if attr.kind == "NAME" and attr.text in ("T", "mT"):
                    if isinstance(x, MNum):
                        raise self.t.error(f"'.{attr.text}' of the number {self.t.source[x.lo:x.hi]}", x.lo, attr.hi,
                                           hint="a number has no axes; to transpose a power, write (x ** 2).T")
                    self.take()
                    x = MT(x, x.lo, attr.hi, attr.text == "mT")
                    continue
                what = f"'.{attr.text}'" if attr.kind == "NAME" else "'.'"
                hint = (f"write {attr.text}(...) as a function: {attr.text}(X, axis=0)"
                        if attr.text in MATRIX_FORMS or attr.text in FUNCTIONS else
                        "only .T (the transpose) and .mT (of the last two axes) are read after an operand")
                raise self.t.error(f"{what} is not supported in matrix notation", dot.lo, attr.hi, hint)
            if self.at("["):
                raise self.error("indexing and slicing (X[0], X[:, None]) are not supported in matrix notation",
                                 hint="broadcasting pairs axes by dim name from the right, so X - mean(X, "
                                      "axis=0) needs no [None, :]; for other indexing write ricci's index "
                                      "notation")
            if self.at("("):
                raise self.error("a call of an expression is not supported",
                                 hint="write * for a product: (a)(b) is (a) * (b)")
            return x

    def atom(self) -> MExpr:
        tok = self.tok
        if tok.kind == "NUMBER":
            self.take()
            sp = self.t.span(tok.lo, tok.hi)
            return MNum(number_value(tok.text, sp, self.t.source), tok.lo, tok.hi)
        if self.at("("):
            self.take()
            self.nest(tok)
            x = self.expr()
            self.depth -= 1
            end = self.expect(")", "to close '('")
            return _regroup(x, tok.lo, end.hi)
        if tok.kind != "NAME":
            raise self.error(f"expected an operand (a name, a number, a call or '('), found {_describe(tok)}")
        self.take()
        name, lo = tok.text, tok.lo
        while name in _PREFIXES and self.at("."):  # np.exp, torch.linalg.inv
            self.take()
            nxt = self.tok
            if nxt.kind != "NAME":
                raise self.error(f"expected a function name after '{name}.', found {_describe(nxt)}")
            self.take()
            name = nxt.text
            if name == "linalg" and self.at("."):
                self.take()
                name = self.expect_name()
            if not self.at("("):
                raise self.t.error(f"'{self.t.source[lo:nxt.hi]}' is read only as a function call", lo, nxt.hi)
        if self.at("("):
            return self.call(name, lo, tok)
        return MName(name, tok.lo, tok.hi)

    def expect_name(self) -> str:
        if self.tok.kind != "NAME":
            raise self.error(f"expected a function name, found {_describe(self.tok)}")
        return self.take().text

    def call(self, fn: str, lo: int, tok: _Tok) -> MCall:
        if fn not in FUNCTIONS and fn not in MATRIX_FUNCTIONS and fn not in MATRIX_FORMS:
            known = sorted({*FUNCTIONS, *MATRIX_FUNCTIONS, *MATRIX_FORMS})
            raise self.t.error(f"unknown function '{fn}'", lo, self.tok.lo,
                               hint="known functions: " + ", ".join(known))
        open_ = self.take()
        self.nest(open_)
        args: list[MExpr] = []
        axes: tuple[int, ...] | None = None
        while not self.at(")"):
            if self.tok.kind == "NAME" and self.toks[self.pos + 1].text == "=":
                kw = self.take()
                self.take()
                if kw.text not in ("axis", "dim"):
                    raise self.error(f"{fn}(..., {kw.text}=...) is not supported", kw,
                                     hint="only axis= (or dim=) is read; keepdims is not needed: "
                                          "broadcasting pairs axes by dim name")
                if axes is not None:
                    raise self.error(f"the axis of {fn} is given twice", kw)
                axes = self.axes()
            else:
                if axes is not None:
                    raise self.error("a positional argument after axis=")
                args.append(self.expr())
            if not self.at(")"):
                self.expect(",", f"between the arguments of {fn}")
        end = self.take()
        self.depth -= 1
        return MCall(fn, tuple(args), axes, lo, end.hi)

    def axes(self) -> tuple[int, ...]:
        if self.at("("):
            self.take()
            out: list[int] = []
            while not self.at(")"):
                out.append(self.integer())
                if not self.at(")"):
                    self.expect(",", "between axes")
            self.take()
            return tuple(out)
        return (self.integer(),)

    def integer(self) -> int:
        sign = 1
        if self.at("-"):
            self.take()
            sign = -1
        tok = self.tok
        if tok.kind != "NUMBER" or not tok.text.isdigit():
            raise self.error(f"expected an axis number, found {_describe(tok)}")
        self.take()
        return sign * int(tok.text)


def _regroup(x: MExpr, lo: int, hi: int) -> MExpr:
    """``x`` with its text widened to its parentheses (for messages that quote it)."""
    return replace(x, lo=lo, hi=hi)


# ---------------------------------------------------------------- shapes


class _Shapes:
    """The shape of every subexpression (``id`` -> dims), checked as it is computed."""

    def __init__(self, t: _Text, names: dict[str, tuple[str, ...]], dims: frozenset[str],
                 later: dict[str, int]) -> None:
        self.t, self.names, self.dims, self.later = t, names, dims, later
        self.of: dict[int, tuple[str, ...]] = {}

    def q(self, e: MExpr) -> str:
        return self.t.words(e.lo, e.hi)

    def shape(self, e: MExpr) -> tuple[str, ...]:
        s = self._shape(e)
        self.of[id(e)] = s
        return s

    def _shape(self, e: MExpr) -> tuple[str, ...]:
        if isinstance(e, MNum):
            return ()
        if isinstance(e, MName):
            if e.name in self.names:
                return self.names[e.name]
            if e.name in self.dims:
                return ()
            if e.name in self.later:
                raise self.t.error(f"'{e.name}' is used before its definition", e.lo, e.hi,
                                   hint="define a name before the statements that use it (and never in its own)")
            if e.name in FUNCTIONS or e.name in MATRIX_FUNCTIONS or e.name in MATRIX_FORMS:
                raise self.t.error(f"'{e.name}' is a function: call it, {e.name}(...)", e.lo, e.hi)
            raise self.t.error(f"'{e.name}' is not declared", e.lo, e.hi,
                               hint=f"declare its shape: {e.name}: [n, d] (a matrix), {e.name}: [d] (a vector) "
                                    f"or {e.name}: scalar; a dim name of a shape stands for its size")
        if isinstance(e, MUnary):
            return self.shape(e.x)
        if isinstance(e, MT):
            s = self.shape(e.x)
            if not e.last:
                return s[::-1]
            if len(s) < 2:
                raise self.t.error(f"{self.q(e.x)}.mT: {self.q(e.x)} is {_shape_text(s)}; .mT swaps the last two "
                                   f"axes of a matrix", e.lo, e.hi)
            return s[:-2] + (s[-1], s[-2])
        if isinstance(e, MOp):
            return self.op(e)
        return self.call(e)

    def op(self, e: MOp) -> tuple[str, ...]:
        a, b = self.shape(e.a), self.shape(e.b)
        qa, qb = self.q(e.a), self.q(e.b)
        whole = f"{qa} {'**' if e.op == '^' else e.op} {qb}"
        if e.op != "@":
            short, long_ = (a, b) if len(a) <= len(b) else (b, a)
            for x, y in zip(reversed(short), reversed(long_)):
                if x != y:
                    why = "axes pair from the right by dim name, as NumPy's broadcasting does"
                    if short and long_[:len(short)] == short:
                        why += (f"; to pair {_shape_text(short)} with the leading axes, transpose: "
                                 f"({qa if a == long_ else qb}.T {e.op} {qb if a == long_ else qa}).T")
                    raise self.t.error(f"{whole}: {qa} is {_shape_text(a)} but {qb} is {_shape_text(b)}; "
                                       f"the dims {_pair(x, y, a, b)} would be paired", e.lo, e.hi, why)
            return long_
        for s, q in ((a, qa), (b, qb)):
            if not s:
                raise self.t.error(f"{whole}: {q} is a scalar; @ takes vectors and matrices", e.lo, e.hi,
                                   hint=f"scale with *: {qa} * {qb}")
        ba, row, ka = _matmul_left(a)
        bb, kb, col = _matmul_right(b)
        if ka != kb:
            hint = None
            if len(a) == 2 and a[0] == kb:
                hint = f"did you mean {qa}.T @ {qb}?"
            elif len(b) == 2 and ka == b[1]:
                hint = f"did you mean {qa} @ {qb}.T?"
            raise self.t.error(f"{whole}: {qa} is {_shape_text(a)} but {qb} is {_shape_text(b)}; "
                               f"the inner dims {ka} and {kb} differ", e.lo, e.hi, hint)
        short, long_ = (ba, bb) if len(ba) <= len(bb) else (bb, ba)
        for x, y in zip(reversed(short), reversed(long_)):
            if x != y:
                raise self.t.error(f"{whole}: {qa} is {_shape_text(a)} but {qb} is {_shape_text(b)}; the batch "
                                   f"dims {_pair(x, y, ba, bb)} would be paired", e.lo, e.hi,
                                   hint="batch axes pair from the right by dim name, as NumPy's matmul does")
        return long_ + row + col

    def call(self, e: MCall) -> tuple[str, ...]:
        fn = e.fn
        arity = 2 if fn == "outer" else 1
        if len(e.args) != arity:
            hint = None
            if fn in ("sum", "mean", _SOFTMAX, _LOG_SOFTMAX) and len(e.args) == 2 and isinstance(e.args[1], MNum):
                hint = f"write the axis by name: {fn}({self.q(e.args[0])}, axis={self.q(e.args[1])})"
            raise self.t.error(f"{fn} takes {arity} argument{'s' if arity > 1 else ''}, "
                               f"not {len(e.args)}", e.lo, e.hi, hint)
        shapes = [self.shape(a) for a in e.args]
        s = shapes[0]
        q = self.q(e.args[0])
        if e.axes is not None and fn not in ("sum", "mean", _SOFTMAX, _LOG_SOFTMAX):
            raise self.t.error(f"{fn} takes no axis", e.lo, e.hi)
        if fn in FUNCTIONS:
            return s
        if fn in MATRIX_FUNCTIONS:
            if len(s) != 2 or s[0] != s[1]:
                raise self.t.error(f"{fn}({q}): {q} is {_shape_text(s)}, not a square matrix", e.lo, e.hi,
                                   hint=f"{fn} takes a matrix whose two dims are the same name, such as [d, d]")
            return s if MATRIX_FUNCTIONS[fn].rank == 2 else ()
        if fn in ("sum", "mean"):
            axes = self.axes(e, s)
            return tuple(d for k, d in enumerate(s) if k not in axes)
        if fn == "outer":
            for sh, a in zip(shapes, e.args):
                if len(sh) != 1:
                    raise self.t.error(f"outer takes two vectors, but {self.q(a)} is {_shape_text(sh)}",
                                       e.lo, e.hi)
            return (shapes[0][0], shapes[1][0])
        if fn == "diag":
            if len(s) == 1:
                return (s[0], s[0])
            if len(s) == 2 and s[0] == s[1]:
                return (s[0],)
            raise self.t.error(f"diag({q}): {q} is {_shape_text(s)}; diag takes a vector or a square matrix",
                               e.lo, e.hi)
        if fn == "norm":
            return ()
        # softmax, log_softmax
        if not s:
            raise self.t.error(f"{fn}({q}): {q} is a scalar", e.lo, e.hi)
        if e.axes is None and len(s) > 1:
            raise self.t.error(f"{fn}({q}) needs an axis: {q} is {_shape_text(s)}", e.lo, e.hi,
                               hint=f"write {fn}({q}, axis={len(s) - 1}) for the last axis (NumPy's "
                                    f"softmax over all entries is not read)")
        if e.axes is not None and len(e.axes) != 1:
            raise self.t.error(f"{fn} takes one axis", e.lo, e.hi)
        self.axes(e, s)
        return s

    def axes(self, e: MCall, s: tuple[str, ...]) -> tuple[int, ...]:
        if e.axes is None:
            return tuple(range(len(s)))
        out: list[int] = []
        for k in e.axes:
            if not -len(s) <= k < len(s):
                raise self.t.error(f"axis {k} is out of range for {self.q(e.args[0])}, which is "
                                   f"{_shape_text(s)}", e.lo, e.hi)
            out.append(k % len(s))
        if len(set(out)) != len(out):
            raise self.t.error("an axis is given twice", e.lo, e.hi)
        return tuple(out)


def _pair(x: str, y: str, a: tuple[str, ...], b: tuple[str, ...]) -> str:
    """``x and y``, dims of the shorter and the longer of ``a`` and ``b``, in the order of ``a``, ``b``."""
    return f"{x} and {y}" if len(a) <= len(b) else f"{y} and {x}"


def _matmul_left(a: tuple[str, ...]) -> tuple[tuple[str, ...], tuple[str, ...], str]:
    """The batch dims, the row dim (none for a vector) and the inner dim of ``a`` in ``a @ b``."""
    return a[:-2], a[-2:-1], a[-1]


def _matmul_right(b: tuple[str, ...]) -> tuple[tuple[str, ...], str, tuple[str, ...]]:
    """The batch dims, the inner dim and the column dim (none for a vector) of ``b`` in ``a @ b``."""
    return (b[:-2], b[-2], b[-1:]) if len(b) >= 2 else ((), b[0], ())


def parse_matrix(text: str) -> MatrixProgram:
    """Read matrix text (already through :func:`~.text.prepare_text`) and check every
    shape. Raises :class:`RicciError` pointing into ``text``."""
    t = _Text(text)
    decl_list, stmts = _Parser(t).program()
    decls: dict[str, MDecl] = {}
    dims: set[str] = set()
    for d in decl_list:
        if d.name in decls and decls[d.name] != d:
            old = decls[d.name]
            if old.dims != d.dims or old.fact != d.fact:
                raise t.error(f"{d.name} is declared twice, differently", d.lo, d.hi)
        if d.fact in SYMMETRIC_FACTS and (len(d.dims) != 2 or d.dims[0] != d.dims[1]):
            raise t.error(f"{d.name}: {_shape_text(d.dims)} {d.fact}: a {d.fact} matrix is square", d.lo, d.hi,
                          hint=f"declare it with one dim twice: {d.name}: [d, d] {d.fact}")
        if d.fact is not None and not d.dims:
            raise t.error(f"a scalar cannot be declared {d.fact}", d.lo, d.hi)
        decls[d.name] = d
        dims.update(d.dims)
    reserved = {*KEYWORDS, *DELTA_NAMES, *FUNCTIONS, *MATRIX_FUNCTIONS, *MATRIX_FORMS, *_PREFIXES}
    for d in decl_list:
        if d.name in reserved:
            raise t.error(f"'{d.name}' is reserved and cannot name a tensor", d.lo, d.lo + len(d.name))
        if d.name in dims:
            raise t.error(f"'{d.name}' is both a dim and a tensor", d.lo, d.lo + len(d.name),
                          hint="a dim name used in an expression stands for its size; give the tensor "
                               "another name")
    names: dict[str, tuple[str, ...]] = {n: d.dims for n, d in decls.items()}
    later = {s.name: k for k, s in enumerate(stmts)}
    sh = _Shapes(t, names, frozenset(dims), later)
    for s in stmts:
        where = (s.lo, s.hi)
        if s.name in reserved:
            raise t.error(f"'{s.name}' is reserved and cannot be defined", *where)
        if s.name in decls:
            raise t.error(f"{s.name} is declared as an input and cannot also be defined", *where,
                          hint="a declaration gives an input's shape; a statement's shape comes from its "
                               "right-hand side")
        if s.name in dims:
            raise t.error(f"'{s.name}' is a dim name and cannot be defined", *where)
        if s.name in names:
            raise t.error(f"{s.name} is defined twice", *where, hint="give the second one another name")
        del later[s.name]
        names[s.name] = sh.shape(s.rhs)
    return MatrixProgram(text, decls, tuple(stmts), names, frozenset(dims), sh.of)


# ---------------------------------------------------------------- translation


class _Translator:
    """Matrix statements -> :mod:`.tree` statements (see the module docstring)."""

    def __init__(self, p: MatrixProgram) -> None:
        self.p = p
        self.t = _Text(p.source)
        self.of = p.shape_of
        self.taken = {*p.shapes, *KEYWORDS, *DELTA_NAMES, *FUNCTIONS, *MATRIX_FUNCTIONS}
        self.out: list[StmtA] = []
        self.calls = 0
        # per statement:
        self.used: set[str] = set()
        self.by_dim: dict[str, list[str]] = {}
        self.sizes: list[tuple[Name, str, MName]] = []

    def sp(self, e: MExpr) -> Span:
        return self.t.span(e.lo, e.hi)

    def fresh(self, dim: str) -> str:
        base = dim if dim not in self.taken else f"{dim}_"
        k, name = 0, base
        while name in self.used or name in self.taken:
            k += 1
            name = f"{base}{k}"
        self.used.add(name)
        self.by_dim.setdefault(dim, []).append(name)
        return name

    def statement(self, name: str, rhs: MExpr, span: Span) -> None:
        saved = self.used, self.by_dim, self.sizes
        self.used, self.by_dim, self.sizes = set(), {}, []
        out = tuple(self.fresh(d) for d in self.of[id(rhs)])
        node = self.emit(rhs, out)
        for slot, dim, e in self.sizes:
            if dim not in self.by_dim:
                raise self.t.error(f"'{dim}' stands for the size of dim {dim}, but nothing in this statement "
                                   f"has an axis of dim {dim}", e.lo, e.hi,
                                   hint=f"use {dim} in a statement with an operand of dim {dim}, or declare a "
                                        f"scalar for it ({dim}_value: scalar)")
            slot.name = self.by_dim[dim][0]
        idx = [Name(i, span) for i in out] if out else None
        self.out.append(StmtA(name, idx, node, span))
        self.used, self.by_dim, self.sizes = saved

    def emit(self, e: MExpr, out: tuple[str, ...]) -> Node:
        sp = self.sp(e)
        if isinstance(e, MNum):
            return Num(e.value, sp)
        if isinstance(e, MName):
            if e.name in self.p.shapes:
                return Ref(e.name, [Name(i, sp) for i in out], sp, bool(out))
            slot = Name("", sp)
            self.sizes.append((slot, e.name, e))
            return SizeA(slot, sp)
        if isinstance(e, MUnary):
            return NegA(self.emit(e.x, out), sp)
        if isinstance(e, MT):
            return self.emit(e.x, out[:-2] + (out[-1], out[-2]) if e.last else out[::-1])
        if isinstance(e, MOp):
            return self.op(e, out)
        return self.call(e, out)

    def part(self, e: MExpr, out: tuple[str, ...]) -> Node:
        """``e`` broadcast into ``out``: its axes are the trailing ones."""
        r = len(self.of[id(e)])
        return self.emit(e, out[len(out) - r:] if r else ())

    def op(self, e: MOp, out: tuple[str, ...]) -> Node:
        sp = self.t.span(e.at, e.at + 1)
        if e.op in "+-":
            return AddA([(1, self.part(e.a, out)), (1 if e.op == "+" else -1, self.part(e.b, out))])
        if e.op in "*/":
            return ProdA([(False, self.part(e.a, out)), (e.op == "/", self.part(e.b, out))])
        if e.op == "^":
            return PowA(self.part(e.a, out), self.part(e.b, out), sp)
        ba, row, ka = _matmul_left(self.of[id(e.a)])
        bb, _, col = _matmul_right(self.of[id(e.b)])
        nb = len(out) - len(row) - len(col)
        k = self.fresh(ka)
        left = out[nb - len(ba):nb] + out[nb:nb + len(row)] + (k,)
        right = out[nb - len(bb):nb] + (k,) + out[nb + len(row):]
        return self.sum([k], ProdA([(False, self.emit(e.a, left)), (False, self.emit(e.b, right))]), sp)

    def sum(self, idx: list[str], body: Node, sp: Span) -> Node:
        return SumA([Name(i, sp) for i in idx], body, sp) if idx else body

    def call(self, e: MCall, out: tuple[str, ...]) -> Node:
        fn, sp = e.fn, self.t.span(e.lo, e.lo + len(e.fn))
        x = e.args[0]
        s = self.of[id(x)]
        if fn in FUNCTIONS:
            return CallA(fn, self.emit(x, out), sp)
        if fn in MATRIX_FUNCTIONS:
            operand = x.name if isinstance(x, MName) else self.helper(x)
            self.calls += 1
            slots = (f"#r{self.calls}", f"#c{self.calls}")
            idx = [Name(i, sp) for i in out]
            return MatCallA(fn, Name(operand, self.sp(x)), idx, sp, slots)
        if fn in ("sum", "mean", "norm"):
            axes = range(len(s)) if e.axes is None else [k % len(s) for k in e.axes]
            inner, it, summed = [], iter(out), []
            for k, d in enumerate(s):
                if k in axes:
                    inner.append(self.fresh(d))
                    summed.append(inner[-1])
                else:
                    inner.append(next(it))
            body = self.emit(x, tuple(inner))
            if fn == "norm":
                return PowA(self.sum(summed, PowA(body, Num(Fraction(2), sp), sp), sp), Num(Fraction(1, 2), sp), sp)
            total = self.sum(summed, body, sp)
            if fn == "sum" or not summed:
                return total
            return ProdA([(False, total)] + [(True, SizeA(Name(i, sp), sp)) for i in summed])
        if fn == "outer":
            return ProdA([(False, self.emit(x, out[:1])), (False, self.emit(e.args[1], out[1:]))])
        if fn == "diag":
            if len(s) == 2:
                return self.emit(x, (out[0], out[0]))
            return ProdA([(False, self.emit(x, out[:1])), (False, DeltaA([Name(i, sp) for i in out], sp))])
        # softmax / log_softmax along one axis: exp(x) / sum over that axis of exp(x)
        axis = (e.axes or (len(s) - 1,))[0] % len(s)
        value = self.emit(x, out)  # first, so the indices read in source order
        j = self.fresh(s[axis])
        across = out[:axis] + (j,) + out[axis + 1:]
        total = SumA([Name(j, sp)], CallA(_EXP, self.emit(x, across), sp), sp)
        if fn == _SOFTMAX:
            return ProdA([(False, CallA(_EXP, value, sp)), (True, total)])
        return AddA([(1, value), (-1, CallA(_LOG, total, sp))])

    def helper(self, x: MExpr) -> str:
        """A statement for the matrix ``x`` (the operand of a matrix function); its name."""
        k = 1
        while f"M{k}" in self.taken:
            k += 1
        name = f"M{k}"
        self.taken.add(name)
        self.statement(name, x, self.sp(x))
        return name

    def program(self) -> tuple[list[StmtA], list[DeclA]]:
        for s in self.p.stmts:
            self.statement(s.name, s.rhs, self.t.span(s.lo, s.hi))
        decls: list[DeclA] = []
        for d in self.p.decls.values():
            if d.fact is None or not any(d.name in _refs(s.rhs) for s in self.p.stmts):
                continue
            self.used, self.by_dim = set(), {}
            sp = self.t.span(d.lo, d.lo + len(d.name))
            words = [Name(w, self.t.span(lo, hi)) for w, lo, hi in d.words]
            decls.append(DeclA(d.name, [Name(self.fresh(x), sp) for x in d.dims], d.fact, words, sp))
        return self.out, decls


def _refs(e: MExpr) -> set[str]:
    out: set[str] = set()
    stack = [e]
    while stack:
        n = stack.pop()
        if isinstance(n, MName):
            out.add(n.name)
        elif isinstance(n, (MUnary, MT)):
            stack.append(n.x)
        elif isinstance(n, MOp):
            stack += [n.a, n.b]
        elif isinstance(n, MCall):
            stack += n.args
    return out


def read_matrix(text: str) -> tuple[list[StmtA], list[DeclA]]:
    """The statements and declarations of matrix ``text`` as :mod:`.tree` nodes, ready for
    :mod:`.resolve` (``text`` already through :func:`~.text.prepare_text`)."""
    p = parse_matrix(text)
    if not p.stmts:
        raise RicciError("the program has no statement: after the declarations, write one such as "
                         "'Y = X @ W'")
    out = _Translator(p).program()
    used = {n.name for st in p.stmts for n in _names_in(st.rhs)}
    for d in p.decls.values():
        if d.name not in used:
            line = p.source.count("\n", 0, d.lo) + 1
            col = d.lo - (p.source.rfind("\n", 0, d.lo) + 1) + 1
            warnings.warn(RicciWarning(f"line {line}, column {col}: {d.name} is declared but no statement uses "
                                       f"it, so it is not an input of the program"), stacklevel=4)
    return out


def _names_in(e: object) -> list[MName]:
    """Every name under a matrix expression (no recursion: a work list)."""
    out: list[MName] = []
    todo = [e]
    while todo:
        n = todo.pop()
        if isinstance(n, MName):
            out.append(n)
        elif isinstance(n, (list, tuple)):
            todo.extend(n)
        elif hasattr(n, "__dataclass_fields__"):
            todo.extend(getattr(n, f) for f in n.__dataclass_fields__)
    return out
