"""The LaTeX parser's commands: ``\\tanh(x)``, ``\\log\\det A``, ``e^{x}``, ``\\frac{a}{b}``,
``\\sqrt{x}``, ``\\sum_{k}``, ``\\delta_{ij}``, ``\\hat{y}``, ``\\mathrm{W2}``,
``\\operatorname{size}(k)``.

:meth:`LatexCommands.command` reads the command at the cursor. Which function a spelling
means comes from the primitive table (``self.reading``, built by
:func:`ricci.primitives.functions.latex_reading`); the other commands from
:mod:`.latex_tables`. Each command builds the same nodes the ricci reader builds for the
same formula (``\\frac{a}{b}`` is the product ``a / (b)``, ``\\sum_{k}`` a ``SumA`` over the
rest of its product term); a command that cannot be defined is refused on a left-hand side.
"""

from __future__ import annotations

import difflib

from ..errors import Span
from ..primitives.functions import FUNCTIONS, MATRIX_FUNCTIONS, LatexReading
from ..primitives.greek import GREEK
from .latex_lexer import Tok, describe
from .latex_names import LatexNames
from .latex_tables import (
    DECORATIONS,
    FRACTIONS,
    OPTIONAL_ARGUMENTS,
    UNSUPPORTED,
    WORD_COMMANDS,
    known_commands,
)
from .parse import KEYWORDS, RESERVED
from .text import number_value
from .tree import (
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
    SumA,
)

__all__ = ["LatexCommands"]


def _spelled(reading: LatexReading, fn: str) -> str:
    """How the function ``fn`` is written in LaTeX, for messages: ``\\exp``, ``\\log\\det``,
    ``\\operatorname{tr}``."""
    cmds = [k for k, v in reading.commands.items() if v == fn]
    if cmds:
        return "".join("\\" + c for c in cmds[0])
    word = next((k for k, v in reading.words.items() if v == fn and k != fn), fn)
    return rf"\operatorname{{{word}}}"


class LatexCommands(LatexNames):
    # -- functions
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
            node = self.name(name, t, lhs=lhs)
            if fn is not None and not lhs and self.at("OPEN", "("):  # (spaces do not show in LaTeX)
                # \sigma_i(z): the articles' i-th component of sigma applied, not sigma[i] * (z)
                raise self.err(f"\\{name} with a subscript before '(' is ambiguous: the function "
                               f"{fn} applied (its i-th component) or a tensor {name} times a parenthesis", t,
                               hint=f"for the function write the index on its argument, \\{name}(z_i); "
                                    f"for a product write \\{name}_i \\cdot (...)")
            return node
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
            # \mathit{tr} is a tensor named tr, as ricci prints one (tr is trace's word in
            # LaTeX, not a reserved name of ricci's syntax); \mathrm{tr} A is the trace
            if fn is not None and (name != "mathit" or word in RESERVED):
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
        close = difflib.get_close_matches(name, sorted(known_commands(self.reading)), n=1)
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
            raise self.err(f"{t.src} needs an argument, found {describe(self.tok)}", t,
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
                       f": {example}, found {describe(t)}", cmd)

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
            raise self.err(f"\\sum needs a summand, found {describe(self.tok)}", self.tok)
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
        raise self.err(f"expected the upper limit after '{op.src}', found {describe(t)}", t)

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
            raise self.err(f"expected a name after {cmd.src}, found {describe(t)}", t)
        open_ = self.take()
        inner = self.tok
        if inner.kind == "LETTER" or (inner.kind == "CMD" and (
                (inner.text in GREEK and inner.text != "delta") or inner.text in WORD_COMMANDS
                or inner.text in DECORATIONS)):
            self.enter(cmd)
            node = self.atom(lhs=True)
            self.leave()
        else:
            raise self.err(f"expected a name in {cmd.src}{{...}}, found {describe(inner)}", inner)
        if not self.at("RBRACE"):
            raise self.err(f"{cmd.src}{{...}} takes one name, found {describe(self.tok)}",
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
                           f"found {describe(open_)}", hint="write \\operatorname{size}(k)")
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
            raise self.err(f"expected an index name in size(...), found {describe(self.tok)}")
        if open_.kind == "LBRACE":
            self.expect_rbrace(open_, "of size")
        else:
            self.expect_close(open_, "of size(")
        name = "".join(p.text for p in parts)
        sp = Span(parts[0].span.line, parts[0].span.column, parts[-1].end - parts[0].pos)
        return SizeA(Name(name, sp), t.span)
