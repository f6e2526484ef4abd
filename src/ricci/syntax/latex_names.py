"""The LaTeX parser's names and their scripts: ``y``, ``y_{ij}``, ``W_1``, ``W^{(2)}_{ij}``,
``x^2``, ``\\mathrm{W2}``, and the argument of ``^``.

A subscript is indices (one per letter, ``_{ij}``, or names between commas,
``_{batch,k}``) or, when it is a number, part of the name (``W_1`` is ``W1``); a
parenthesised numeric superscript is part of the name too (``W^{(1)}`` is ``W1``); any
other superscript is an exponent, one token or a braced expression as in TeX. What LaTeX
typesets otherwise than it would read (``x_ij``, ``x^12``, ``W_12``) is an error with the
spelling to use, not a guess.
"""

from __future__ import annotations

import re
import warnings
from itertools import pairwise

from ..errors import RicciWarning, Span
from ..primitives.greek import GREEK
from .latex_cursor import LatexCursor
from .latex_lexer import Tok, describe
from .latex_tables import UNSUPPORTED, WORD_COMMANDS
from .text import number_value
from .tree import Name, Node, Num, PowA, Ref

__all__ = ["LatexNames"]

_SCRIPT_HINT = "in LaTeX '{op}' takes one token: group more with braces, {ex}"


class LatexNames(LatexCursor):
    # -- scripts
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
            raise self.err(f"expected the exponent after '{op.src}', found {describe(t)}", t,
                           hint=_SCRIPT_HINT.format(op="^", ex="x^{-1}"))
        raise self.err(f"expected the exponent after '{op.src}', found {describe(t)}", t,
                       hint=_SCRIPT_HINT.format(op="^", ex="x^{...}"))

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
        """At ``^``: for ``^{(12)}`` return ("12", number of tokens inside the parentheses);
        a step label ``^{(t)}``, ``^{(t+1)}``, ``^{(t-1)}`` is part of the name too (``ht``,
        ``wtp1``, ``htm1``: the articles' iterates and time steps)."""
        if not self.at("OP", "^"):
            return None
        a, b = self.peek(1), self.peek(2)
        if a.kind != "LBRACE" or b.kind != "OPEN" or b.text != "(" or b.sized:
            return None
        k = 3
        parts: list[Tok] = []
        while self.peek(k).kind in ("NUMBER", "LETTER") or (
                parts and self.peek(k).kind == "OP" and self.peek(k).text in "+-"
                and self.peek(k + 1).kind in ("NUMBER", "LETTER")):
            parts.append(self.peek(k))
            k += 1
        close, rb = self.peek(k), self.peek(k + 1)
        if not parts or close.kind != "CLOSE" or close.text != ")" or rb.kind != "RBRACE":
            return None
        text = "".join(p.text for p in parts)
        if not (text.isdigit() or re.fullmatch(r"[A-Za-z][A-Za-z0-9]*(?:[+-][0-9]+)?", text)):
            raise self.err(f"'^{{({text})}}': a superscript in parentheses numbers a layer or a "
                           f"step, such as W^{{(2)}}, w^{{(t)}} or w^{{(t+1)}}", parts[0],
                           hint="write indices as a subscript: x_{ij}")
        return text.replace("+", "p").replace("-", "m"), len(parts)

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
                                   f"{describe(self.tok)}", open_)
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
        raise self.err(f"expected an index after '_', found {describe(t)}", t,
                       hint="indices are letters: x_i, x_{ij}, x_{batch,k}")

    def index_list(self, items: list[Tok], open_: Tok, close: Tok, owner: str,
                   digits: bool) -> tuple[list[Name], str | None]:
        if not items:
            raise self.err(f"empty subscript of {owner}", open_)
        if items[0].kind == "OP" and items[0].text == ",":  # f_{,i}, f_{,(gh)}: the articles' comma derivative
            rest = "".join(t.text for t in items[1:] if t.text not in "()") or "i"
            raise self.err(f"'{owner}_{{,{rest}}}' is a comma derivative (d{owner}/dx_{rest}): a "
                           f"program defines values, and ricci computes the derivatives", items[0],
                           hint=f"define {owner} and call ricci.grad(program, wrt=...) (ricci grad "
                                f"--wrt); to check a derivative by hand, ricci verify "
                                f"'\\frac{{\\partial {owner}}}{{\\partial x_{{{rest}}}}} = ...'")
        for it in items:
            ok = it.kind in ("LETTER", "NUMBER", "WORD") or (it.kind == "CMD" and it.text in GREEK) \
                or (it.kind == "OP" and it.text == ",")
            if not ok:
                hint = "indices are letters: x_{ij}, or names separated by commas: x_{batch,k}"
                if it.kind == "OP" and it.text in "+-":
                    hint = ("ricci indexes whole axes, not shifted positions; to unroll steps, "
                            "number the tensors: s_1, s_2 (names s1, s2)")
                raise self.err(f"unexpected {describe(it)} in the subscript of {owner}", it,
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
                                       f"{describe(b)}", b,
                                       hint="an index name has no spaces: x_{batch,k}")
                text = "".join(x.text for x in g)
                if not (text[0].isalpha() or text[0] == "_"):
                    raise self.err(f"index '{text}' of {owner} is not a name", g[0],
                                   hint="indices are names that start with a letter")
                out.append(Name(text, Span(g[0].span.line, g[0].span.column,
                                           g[-1].end - g[0].pos)))
            if len(groups[0]) == 1 and groups[0][0].kind == "LETTER":  # f_{k,ij}: the articles' comma derivative?
                for g in groups[1:]:
                    if len(g) >= 2 and all(x.kind == "LETTER" and len(x.text) == 1 and x.text.islower()
                                           and x.text.isascii() for x in g):
                        name = "".join(x.text for x in g)
                        warnings.warn(RicciWarning(
                            f"line {g[0].span.line}, column {g[0].span.column}: {owner}_{{{groups[0][0].text},{name}}} "
                            f"is read as {owner} with the indices {groups[0][0].text} and '{name}' (one index "
                            f"named {name}); the comma derivative of the articles (d^{len(g)} {owner}_"
                            f"{groups[0][0].text} / {' '.join('dx_' + x.text for x in g)}) is not notation "
                            f"ricci reads: define {owner} and call ricci.hessian or ricci.jacobian"), stacklevel=2)
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
            raise self.err(f"expected '{{' after \\{cmd.text}, found {describe(t)}", t)
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
                raise self.err(f"unexpected {describe(it)} in \\{cmd.text}{{...}}", it,
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
