"""Stage 1, LaTeX flavour: formulas as the articles typeset them -> the ricci syntax tree.

``y_{ij} = x_{ik} a_{kj}`` reads as ``y[i,j] = x[i,k] * a[k,j]``: this module builds the
*same* syntax tree as :mod:`.parse` (``StmtA``, ``Ref``, ``ProdA``, ...), with spans
pointing into the LaTeX text, so :mod:`.resolve` applies the index rule, works out
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
is one index too, so what :mod:`ricci.display.render` prints as LaTeX reads back.

The reader is in parts, each module one job: :mod:`.latex_lexer` (text -> tokens),
:mod:`.latex_tables` (the commands it knows), :mod:`.latex_cursor` (the parser's state and
its moves over the tokens), :mod:`.latex_names` (names and their scripts) and
:mod:`.latex_commands` (functions, fractions, sums, sizes, accents); this module holds the
grammar's statements, expressions and atoms (:class:`LatexParser`) and the entry points:
:func:`parse_latex_statements`, and :func:`looks_like_latex` / :func:`detect`, which tell
LaTeX from ricci syntax for ``syntax="auto"``.
"""

from __future__ import annotations

import difflib
import re
from typing import TypeGuard

from ..bounds import current, guarded, tick
from ..errors import RicciError, Span
from ..ir.program import FACTS
from .latex_commands import LatexCommands
from .latex_lexer import Tok, describe
from .latex_tables import UNSUPPORTED
from .parse import Parser
from .text import number_value, prepare_text, statements_error
from .tree import (
    AddA,
    CallA,
    DeclA,
    Group,
    Name,
    NegA,
    Node,
    Num,
    PowA,
    ProdA,
    Ref,
    StmtA,
)

__all__ = ["SUBSCRIPTED", "LatexParser", "detect", "looks_like_latex", "parse_latex_statements"]


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


class LatexParser(LatexCommands):
    """The LaTeX reader: statements, expressions and atoms (the grammar of the module
    docstring); names and commands are read by the parts it inherits."""

    #: the declarations read by :meth:`program` (``S_{ij} : \\text{symmetric}``)
    declarations: list[DeclA]

    # -- program and statements
    def program(self) -> list[StmtA]:
        out: list[StmtA] = []
        self.declarations = []
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
            if isinstance(st, DeclA):
                self.declarations.append(st)
                continue
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
                               f"{describe(self.tok)}")

    def statement(self) -> StmtA | DeclA:
        t = self.tok
        if t.kind == "OP" and t.text == "=":
            raise self.err("expected a statement such as 'y_{ij} = ...', found '='",
                           hint="ricci reads one definition per statement: chains such as "
                           "y = a = b are not supported")
        if t.kind not in ("LETTER", "CMD", "LBRACE"):
            raise self.err(f"expected a statement such as 'y_{{ij}} = ...', found {describe(t)}")
        if t.kind == "CMD" and t.text in ("sum", "delta"):
            raise self.err(f"\\{t.text} cannot be defined: it is reserved", t)
        lhs = self.atom(lhs=True)
        if not isinstance(lhs, Ref):
            raise self.err("the left-hand side must be a name with its indices, such as y_{ij}",
                           t)
        if self.at("OP", ":"):
            return self.declaration(lhs)
        if not self.at("OP", "="):
            hint = None
            if self.at("OPEN", "["):
                hint = "this looks like ricci syntax (y[i,j] = ...): parse it with syntax='ricci'"
            elif self.starts_operand() and lhs.name == "d" and not lhs.indices:
                hint = ("a differential (d\\text{loss} = ...) is what ricci derives: define the "
                        "function itself (\\text{loss} = ...) and call ricci.grad, or check a "
                        "derivative with ricci verify '\\frac{\\partial L}{\\partial w_{i}} = ...'")
            elif self.at("OPEN", "("):
                hint = (f"a left-hand side is the name it defines, not a function of arguments: write "
                        f"{self.text[t.pos:self.toks[self.pos - 1].end]} = ... (what it reads are the "
                        f"names on the right)")
            elif self.starts_operand() and (lhs.indices or not self.at("LETTER")):
                hint = ("ricci reads definitions: the defined name alone on the left (y_{i} = m_{ij} x_{j}, "
                        "not m_{ij} x_{j} = y_{i})")
            elif self.starts_operand():
                hint = ("the left-hand side is one name; write \\mathrm{name} for a "
                        "multi-letter name, and the defined name alone on the left")
            raise self.err(f"expected '=' after {self.text[t.pos:self.toks[self.pos - 1].end]}, "
                           f"found {describe(self.tok)}", hint=hint)
        self.take()
        rhs = self.expr()
        return StmtA(lhs.name, lhs.indices if lhs.bracketed else None, rhs, lhs.span)

    def declaration(self, lhs: Ref) -> DeclA:
        """``S_{ij} : \\text{symmetric}`` (the ``:`` is the current token), as in ricci syntax:
        the words in one ``\\text{...}`` (or ``\\mathrm``) name one of :data:`FACTS`."""
        colon = self.take()
        if not lhs.indices:
            raise self.err("a declaration names the matrix with its indices", colon,
                           hint=f"write {lhs.name}_{{ij}} : \\text{{symmetric}}")
        t = self.tok
        if not (t.kind == "CMD" and t.text in ("text", "mathrm", "textrm", "operatorname")):
            raise self.err(f"expected a property such as \\text{{symmetric}} after ':', found {describe(t)}",
                           t, hint=f"known properties: {', '.join(FACTS)}")
        self.take()
        if not self.at("LBRACE"):
            raise self.err(f"expected '{{' after \\{t.text}, found {describe(self.tok)}")
        open_ = self.take()
        while not self.at("RBRACE") and not self.at("EOF"):
            self.take()
        close = self.take()
        said = " ".join(self.text[open_.end:close.pos].replace("~", " ").split())
        fact = FACTS.get(said)
        span = Span(open_.span.line, open_.span.column + 1, max(1, close.pos - open_.end))
        if fact is None:
            near = difflib.get_close_matches(said, list(FACTS), n=1)
            raise RicciError(f"unknown property '{said}' in the declaration of {lhs.name}", span=span,
                             source=self.text, hint=(f"did you mean {near[0]}? " if near else "")
                             + f"known properties: {', '.join(FACTS)}")
        if not (self.at("SEP") or self.at("EOF")):
            raise self.err(f"expected the end of the declaration, found {describe(self.tok)}",
                           hint="a declaration is one line: S_{ij} : \\text{symmetric}")
        return DeclA(lhs.name, list(lhs.indices), fact, [Name(said, span)], lhs.span)

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
        closed = [False]  # the last factor ends a group: \frac{y}{T}, (y / T)

        def add(divides: bool, f: Node, where: Tok) -> None:
            if id(f) in self.additive and (factors or divides or self.starts_operand()
                                           or self.at("OP", "*") or self.at("OP", "/")):
                raise self._braces_error(f)
            closed[0] = False
            if not divides and id(f) in self.flat and isinstance(f, ProdA):
                factors.extend(f.factors)
                closed[0] = True
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
                prev = factors[-1][1]
                after_group = closed[0]  # \frac{y}{T} x: the fraction beside x, not T
                nxt = self.power()
                if not after_group and _one_letter(prev) and _one_letter(nxt) and \
                        (prev.name.isupper() or nxt.name.isupper()):
                    raise self.err(
                        f"'{prev.name} {nxt.name}' juxtaposes two names without indices, one of them a "
                        f"capital (a matrix?): ricci would read a product of scalars", t,
                        hint=f"for matrices write the indices, {prev.name}_{{ik}} {nxt.name}_{{kj}}, or "
                             f"matrix notation ({prev.name} @ {nxt.name}, docs/matrix-input.md); for "
                             f"scalars write {prev.name} \\cdot {nxt.name}")
                add(False, nxt, t)
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
        raise self.err(f"expected a tensor, a number, a function or '(', found {describe(t)}", t)

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
            bar, before, after = self.tok, self.toks[self.pos - 1], self.peek()
            if bar.kind == "BAR" and not self.touching(before, bar) and self.touching(bar, after) \
                    and after.kind in ("LETTER", "NUMBER", "OPEN", "CMD"):
                # |x |z| + 1|: this bar closes |x (a bar after a factor does), but it is spaced
                # as one opening |z| inside: the reading most likely not the one meant
                raise self.err("ambiguous '|': after a factor a bar closes the absolute value, but "
                               "this one is written as if it opened another", bar,
                               hint="write a nested absolute value as abs(...), or \\left| ... \\right| "
                                    "in LaTeX; or write the closing bar against its operand: |x| z")
            self.take()
            return CallA(fn, inner, open_.span)
        raise self.err(f"expected '|' to close the '|' on line {open_.span.line}, column "
                       f"{open_.span.column}, found {describe(self.tok)}")


# ---------------------------------------------------------------- entry points


@guarded("parsing")
def parse_latex_statements(text: str) -> list[StmtA]:
    """Parse LaTeX-like program text into the statement syntax trees :mod:`.parse`
    builds (raises :class:`RicciError` with a caret into ``text``)."""
    return LatexParser(prepare_text(text)).program()


def _one_letter(n: Node) -> TypeGuard[Ref]:
    """A one-letter name without indices. Two side by side, one a capital, are a matrix
    product in the articles' and the textbooks' convention (``X A``, ``XW``), a product of
    scalars in ricci's reading: refused (the printer writes ``X \\cdot A``)."""
    return isinstance(n, Ref) and not n.indices and len(n.name) == 1


#: a name with an index-like subscript, ``v_i``, ``W_ij`` (one or two lowercase letters),
#: not followed by ricci's brackets: LaTeX's ``v_{i}``, which ricci's syntax would read as a
#: scalar named ``v_i``
SUBSCRIPTED = re.compile(r"(?<![\\A-Za-z0-9_])[A-Za-z][A-Za-z0-9]*_[a-z]{1,2}(?![A-Za-z0-9_\[])")
_WORD_CALL = re.compile(r"(?<![\\A-Za-z0-9_])[A-Za-z][A-Za-z0-9]+\(")
_RICCI_INDEXING = re.compile(r"(?<![\\A-Za-z0-9_])[A-Za-z_][A-Za-z0-9_]*\[")


@guarded("parsing")
def looks_like_latex(text: str) -> bool:
    """Whether ``text`` is meant as LaTeX rather than ricci syntax (for ``syntax="auto"``).

    * Outside ``#`` comments, a backslash or a brace means LaTeX: ricci's syntax has
      neither. So does ``$`` or ``&``, unless the text also indexes like ricci (``X[i]``).
    * Otherwise text with ``[`` or ``]`` is ricci.
    * Otherwise text with a name subscripted by one or two lowercase letters (``v_i``,
      ``W_ij``) is LaTeX if it parses as LaTeX: ``p = v_i * u_i`` is ``p = v[i] * u[i]``.
    * Otherwise any text ricci's parser accepts is ricci.
    * Otherwise text that calls a function by a word (``abc(X)``, ``det(inv(X))``) is
      ricci (with ricci's error): in LaTeX it would be a product of letters.
    * Otherwise it is LaTeX if it parses as LaTeX (``p = v_i u_i``, ``L = 2 x``).

    Every valid ricci program without such subscripted names therefore gives False.
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
    if SUBSCRIPTED.search(without_comments):  # p = v_i * u_i: v indexed by i, as in LaTeX
        try:
            stmts = LatexParser(text).program()
        except RicciError:
            stmts = []
        if stmts:
            return "latex", stmts, None
    try:
        return "ricci", Parser(text).program(), None
    except RicciError as e:
        ricci_error = e
    if _WORD_CALL.search(without_comments):  # abc(X): a function call, never a product a*b*c*X
        return "ricci", None, ricci_error
    try:
        stmts = LatexParser(text).program()
    except RicciError:
        return "ricci", None, ricci_error
    return ("latex", stmts, None) if stmts else ("ricci", None, ricci_error)
