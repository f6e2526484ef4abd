"""Reading ricci's own Unicode notation back: ``y_i = σ(W_ij x_j)``, ``L = Σ_i,j (S⁻¹)_ij``.

:meth:`Program.unicode` prints a program the way the articles typeset it, with plain
characters. This module reads that text by rewriting it into the LaTeX the LaTeX reader
takes (:func:`to_latex`), one token at a time, keeping for every character written the
place of the character it came from, so that an error points into the text as the user
wrote it (:func:`parse_unicode_statements`). The rewriting is local, and total but for a
name subscripted twice:

* a subscript run (``_ij``, ``_i,j``) is braced (``_{ij}``): in LaTeX ``W_ij`` is
  ``W_i`` times ``j``; a parenthesised one holds whole index names (``_(bt)`` is
  ``_{\\mathit{bt}}``); a braced one is copied (``W_{ij}`` is ``W[i,j]``, as in LaTeX); a
  second run (``x_in_j``) is an error: the name ``x_in`` is written ``{x_in}``
  (``\\mathit{x\\_in}``); superscript digits and signs (``²``, ``⁻¹``) are ``^{2}``,
  ``^{-1}``; ``^(...)`` is ``^{...}``;
* ``Σ`` is ``\\sum``, ``√(...)`` is ``\\sqrt{...}``, ``·`` is ``\\cdot``, a Greek letter
  is its command (``σ(`` stays the function: the LaTeX reader reads ``\\sigma(`` so);
* a word before ``(`` is a function: its Unicode spelling in the primitive table
  (``tr``, ``log det``, ``σ``) gives the function's name, written ``\\operatorname{name}``;
  ``size(k)`` is ``\\mathrm{size}(k)``; any other word is one name (``\\mathit{yhat}``).

Everything else (numbers, operators, parentheses, bars) is copied.
"""

from __future__ import annotations

import bisect
import dataclasses
import re

from ..errors import RicciError, Span
from ..primitives.functions import FUNCTIONS, MATRIX_FUNCTIONS
from ..primitives.greek import GREEK
from .latex import LatexParser
from .text import text_position
from .tree import DeclA, StmtA

__all__ = ["UNICODE_MARKS", "looks_like_unicode", "pair_only", "parse_unicode", "parse_unicode_statements", "to_latex"]

_SUPERSCRIPTS = {"⁰": "0", "¹": "1", "²": "2", "³": "3", "⁴": "4", "⁵": "5", "⁶": "6", "⁷": "7",
                 "⁸": "8", "⁹": "9", "⁻": "-", "⁺": "+"}
_COMMAND_OF = {ch: name for name, ch in reversed(list(GREEK.items()))}  # ε -> epsilon, not varepsilon
#: characters only the Unicode notation uses (ricci's syntax and LaTeX have none of them)
UNICODE_MARKS = frozenset("Σ√·") | frozenset(_SUPERSCRIPTS)


def _spellings() -> tuple[dict[str, str], dict[str, str]]:
    """From the primitive table: the Unicode spelling of each function before its
    parenthesis -> the function's name (``tr`` -> ``trace``, ``log det`` -> ``logdet``,
    ``σ`` -> ``sigmoid``), and each symbol that opens a call (``√(``) -> its LaTeX (``\\sqrt{``)."""
    words: dict[str, str] = {}
    symbols: dict[str, str] = {}
    for name, f in FUNCTIONS.items():
        head = f.unicode.split("#")[0]
        if head.endswith("(") and not head[:-1].isalpha() and "#1" in f.latex and f.latex.startswith("\\"):
            symbols[head] = f.latex.split("#1")[0]  # √( -> \sqrt{
        word = head.split("(")[0]
        if word and word.replace(" ", "").isalpha():
            words.setdefault(word, name)
    for name, m in MATRIX_FUNCTIONS.items():
        word = m.unicode.split("(")[0].split("{")[0]
        if word and word.replace(" ", "").isalpha():
            words.setdefault(word, name)
    return words, symbols


_WORD = re.compile(r"[A-Za-z][A-Za-z0-9]*")
_EXPONENT = re.compile(r"[A-Za-z][A-Za-z0-9]*(?![A-Za-z0-9_(])|[0-9]+(?:\.[0-9]+)?")
_SUB = re.compile(r"[A-Za-z0-9" + "".join(GREEK.values()) + r",]+")


#: a name with ``_`` in braces, ``{x_in}`` (how the printer writes it: bare, ``x_in_j`` would
#: be ``x`` subscripted twice)
_BRACED_NAME = re.compile(r"\{([^{}\s]*(?:_|[^\x00-\x7f])[^{}\s]*)\}")
#: any name in braces, ``{e}`` (the name, where bare ``e⁻¹`` would be ``exp(-1)``)
_BRACED = re.compile(r"\{([^{}\s]+)\}")
#: a parenthesised subscript, ``x_(bt)``, ``x_(i_1,j)``: index names, whole, comma-separated
_GROUP = re.compile(r"\(([^()]*)\)")
#: a two-letter subscript run, ``W_ij``: Unicode's two indices (LaTeX reads W_i times j)
_PAIR = re.compile(r"(?<![A-Za-z0-9_])[A-Za-z" + "".join(GREEK.values()) + r"][A-Za-z0-9]*_[a-z]{2}(?![A-Za-z0-9_])")


def looks_like_unicode(code: str) -> bool:
    """Whether text (comments removed) is in ricci's Unicode notation: none of ricci's
    brackets or LaTeX's backslash and braces (but for a braced name, ``{x_in}``), and a
    character only that notation uses (``Σ``, ``√``, ``·``, a superscript digit), a braced
    name or a parenthesised subscript (``x_(bt)``), a Greek letter beside subscripted names,
    or a two-letter subscript (``W_ij``; :func:`pair_only` says when that is all)."""
    unbraced = _BRACED.sub(lambda m: "x" if m.group(1).isidentifier() else m.group(), code)
    if any(c in unbraced for c in "[]\\{}"):
        return False
    if _BRACED_NAME.search(code) or re.search(r"[A-Za-z0-9]_\(", code):  # {x_in}, x_(bt): printed names
        return True
    return any(c in UNICODE_MARKS for c in code) or _PAIR.search(code) is not None or (
        any(c in _COMMAND_OF for c in code) and re.search("_[a-z" + "".join(_COMMAND_OF) + "]", code) is not None)


def pair_only(code: str) -> str | None:
    """The first two-letter subscript (``x_in``) when it is the only sign of the Unicode
    notation in ``code``: ricci syntax reads such text too, as scalars named ``x_in``."""
    if any(c in UNICODE_MARKS or c in _COMMAND_OF for c in code) or _BRACED_NAME.search(code) \
            or re.search(r"[A-Za-z0-9]_\(", code):
        return None
    m = _PAIR.search(code)
    return m.group() if m else None


def to_latex(text: str) -> tuple[str, list[int]]:
    """``text`` rewritten as LaTeX, and for each character written the offset in ``text``
    of the character it stands for."""
    spell, symbols = _spellings()
    several = sorted((w for w in spell if " " in w), key=len, reverse=True)  # log det
    out: list[str] = []
    src: list[int] = []
    closers: list[str] = []  # what each open parenthesis closes with: ')' or '}'

    def put(s: str, at: int) -> None:
        out.append(s)
        src.extend([at] * len(s))

    p, n = 0, len(text)
    while p < n:
        c = text[p]
        if c == "Σ":
            put("\\sum", p)
            p += 1
            if p < n and text[p] == "_":
                m = _SUB.match(text, p + 1)
                if m:
                    put("_{", p)
                    _greek_run(m.group(), m.start(), put)
                    put("}", m.end() - 1)
                    p = m.end()
            put(" ", p - 1)
        elif (sym := next((h for h in symbols if text.startswith(h, p)), None)) is not None:
            put(symbols[sym], p)  # √(...) is \sqrt{...}
            closers.append("}")
            p += len(sym)
        elif text.startswith("^(T)", p):  # x^(T): a power by the name T (x^T is a transpose)
            put("^{\\mathit{T}}", p)
            p += 4
        elif c == "^" and text.startswith("(", p + 1):
            put("^{", p)
            closers.append("}")
            p += 2
        elif c == "^" and (m := _EXPONENT.match(text, p + 1)) is not None:  # 2^T1, x^k
            word = m.group()
            put("^{" + (word if len(word) == 1 or not word[0].isalpha() else "\\mathit{" + word + "}") + "}", p)
            p = m.end()
        elif c == "(":
            put("(", p)
            closers.append(")")
            p += 1
        elif c == ")":
            put(closers.pop() if closers else ")", p)
            p += 1
        elif c in _SUPERSCRIPTS:
            start = p
            digits = []
            while p < n and text[p] in _SUPERSCRIPTS:
                digits.append(_SUPERSCRIPTS[text[p]])
                p += 1
            put("^{" + "".join(digits) + "}", start)
        elif c == "·":
            put(" \\cdot ", p)
            p += 1
        elif out[-2:] == ["\\mathrm{size}", "("] and (name := _identifier_at(text, p)) and text.startswith(")", p + len(name)):
            put(_name_tex(name), p)  # size(i_1), size(ı): the index's whole name
            p += len(name)
        elif c == "_" and text.startswith("(", p + 1) and (g := _GROUP.match(text, p + 1)) is not None:
            put("_{", p)  # x_(bt): the one index bt; x_(i_1,j)
            at = g.start(1)
            for k, item in enumerate(g.group(1).split(",")):
                if k:
                    put(",", at - 1)
                word = item.strip()
                spot = at + len(item) - len(item.lstrip())
                put(_name_tex(word), spot)
                at += len(item) + 1
            put("}", g.end() - 1)
            p = g.end()
        elif c == "_" and text.startswith("{", p + 1):
            close = text.find("}", p + 2)  # x_{ij}: as in LaTeX, i and j (letters copied, not words)
            end = n if close < 0 else close
            put("_{", p)
            _greek_run(text[p + 2:end], p + 2, put)
            if close >= 0:
                put("}", close)
            p = end + 1 if close >= 0 else n
        elif c == "{" and (b := _BRACED.match(text, p)) is not None and b.group(1).isidentifier():
            put(_name_tex(b.group(1), braced=True), p)  # {x_in}: the name x_in; {e}: the name e
            p = b.end()
        elif c == "_":
            m = _SUB.match(text, p + 1)
            if m is None:
                put("_", p)
                p += 1
            else:
                if text.startswith("_", m.end()) and _SUB.match(text, m.end() + 1):
                    head = re.findall(r"[A-Za-z0-9]*$", text[:p])[0]
                    raise RicciError(f"double subscript: {head}_{m.group()}_...", span=Span(*text_position(text, m.end()), 1),
                                     source=text, hint=f"for the name {head}_{m.group()} write "
                                     f"{{{head}_{m.group()}}} followed by its indices ({{x_in}}_j)")
                put("_{", p)
                _greek_run(m.group(), m.start(), put)
                put("}", m.end() - 1)
                p = m.end()
        elif c == ":":  # a declaration, S_ij : symmetric: the property is words, as in \\text{...}
            end = min((k for k in (text.find("\n", p), text.find("#", p)) if k >= 0), default=n)
            put(": \\text{", p)
            for k in range(p + 1, end):
                put(text[k], k)
            put("}", end - 1)
            p = end
        elif c == "#":  # a comment, as in ricci's syntax
            put("%", p)
            p += 1
        elif c in _COMMAND_OF:
            put("\\" + _COMMAND_OF[c] + " ", p)
            p += 1
        elif c.isascii() and c.isalpha():
            m = _WORD.match(text, p)
            assert m is not None
            word, end = m.group(), m.end()
            rest = text[end:]
            long = next((w for w in several if text.startswith(w + "(", p)), None)
            if long is not None:  # log det(S)
                put("\\operatorname{" + spell[long] + "}", p)
                end = p + len(long)
            elif rest.startswith("("):
                name = "size" if word == "size" else spell.get(word, word)
                put(("\\mathrm{size}" if name == "size" else "\\operatorname{" + name + "}"), p)
            elif len(word) == 1:
                put(word, p)
            else:
                put("\\mathit{" + word + "}", p)
            p = end
        else:
            put(c, p)
            p += 1
    return "".join(out), src


def _identifier_at(text: str, p: int) -> str:
    """The longest identifier at ``text[p]`` (``i_1``, ``ı``), or ``""`` (a character at a
    time, as :func:`.text.check_name` reads names: linear in its length)."""
    end = p
    while end < len(text) and (text[end].isidentifier() if end == p else ("a" + text[end]).isidentifier()):
        end += 1
    return text[p:end]


def _name_tex(name: str, braced: bool = False) -> str:
    """A whole name (``{x_in}``, an index of ``x_(bt)``) as the LaTeX reader's one symbol:
    a Greek letter as its command, a letter as it is (braced, ``\\mathit{e}``: the name,
    never Euler's number), ``\\mathit{x\\_in}``, ``\\text{ı}`` (not ASCII)."""
    if name in _COMMAND_OF:
        return "\\" + _COMMAND_OF[name] + " "
    if len(name) == 1 and name.isascii() and name.isalpha() and not braced:
        return name
    escaped = name.replace("_", "\\_")
    return ("\\mathit{" if name.isascii() else "\\text{") + escaped + "}"


def _greek_run(run: str, at: int, put) -> None:
    for k, ch in enumerate(run):
        put(("\\" + _COMMAND_OF[ch] + " ") if ch in _COMMAND_OF else ch, at + k)


def parse_unicode_statements(text: str) -> list[StmtA]:
    """The syntax trees of Unicode text (through :func:`to_latex` and the LaTeX reader); an
    error points into ``text`` itself."""
    return parse_unicode(text)[0]


def parse_unicode(text: str) -> tuple[list[StmtA], list[DeclA]]:
    """The syntax trees and the declarations of Unicode text (through :func:`to_latex` and
    the LaTeX reader); every place in them, and an error, points into ``text`` itself."""
    tex, src = to_latex(text)
    place = _Places(tex, src, text)
    try:
        reader = LatexParser(tex)
        stmts, decls = reader.program(), reader.declarations
    except RicciError as e:
        raise _moved(e, place, text) from None
    _places_in_text(stmts, decls, place, text)
    return stmts, decls


class _Places:
    """A place in the LaTeX rewriting (``tex``) as the place in ``text`` its characters
    came from (``src``: the offset in ``text`` of each character of ``tex``); the line
    starts of both are found once, so moving a place costs a bisection."""

    def __init__(self, tex: str, src: list[int], text: str) -> None:
        self.src = src
        self.tex_starts = [0] + [k + 1 for k, c in enumerate(tex) if c == "\n"]
        self.text_newlines = [k for k, c in enumerate(text) if c == "\n"]

    def __call__(self, span: Span) -> Span:
        if not self.src:
            return span
        off = self.tex_starts[min(max(span.line, 1), len(self.tex_starts)) - 1] + span.column - 1
        first = self.src[min(max(off, 0), len(self.src) - 1)]
        last = self.src[min(max(off + span.length - 1, 0), len(self.src) - 1)]
        line = bisect.bisect_left(self.text_newlines, first)  # newlines before: the line - 1
        col = first - (self.text_newlines[line - 1] + 1 if line else 0) + 1
        one_line = bisect.bisect_left(self.text_newlines, last) == line
        return Span(line + 1, col, max(1, last - first + 1) if one_line else 1)


def _places_in_text(stmts: list[StmtA], decls: list[DeclA], place: _Places, text: str) -> None:
    """Move every place of the syntax trees (read from the LaTeX rewriting) into ``text``,
    so that the errors and warnings of the index rule and of later checks point where the
    user wrote."""
    lines = text.split("\n")
    stack: list[object] = [*stmts, *decls]
    seen: set[int] = set()
    while stack:
        o = stack.pop()
        if id(o) in seen:
            continue
        seen.add(id(o))
        if isinstance(o, (list, tuple)):
            stack.extend(o)
        elif dataclasses.is_dataclass(o) and not isinstance(o, type):
            for f in dataclasses.fields(o):
                v = getattr(o, f.name)
                if isinstance(v, Span):
                    setattr(o, f.name, place(v))
                elif isinstance(v, (list, tuple, dict)) or dataclasses.is_dataclass(v):
                    stack.append(list(v.values()) if isinstance(v, dict) else v)
    for st in stmts:
        st.text = lines[st.span.line - 1] if 0 < st.span.line <= len(lines) else st.text


def _moved(e: RicciError, place: _Places, text: str) -> RicciError:
    """``e`` (about the LaTeX rewriting) with its place moved to the character of ``text``
    it came from."""
    if e.span is None or not place.src:
        return RicciError(e.message, hint=e.hint)
    return RicciError(e.message, span=place(e.span), source=text, hint=e.hint)
