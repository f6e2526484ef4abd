"""The program text as both readers see it: its preparation, numbers, names and the errors
they share.

Both readers (:mod:`.parse` for ricci's notation, :mod:`.latex` for LaTeX) call
:func:`prepare_text` first (the byte order mark dropped, the ``text_chars`` limit, no
control characters), read every number literal with :func:`number_value` (exact, bounded
by ``literal_digits`` and float64's range) and check every name beyond ASCII with
:func:`check_name`; a character that starts no token gets its error, with the spelling to
use, from :func:`character_error`. The errors for crossing the ``nesting`` and
``statements`` limits are built here too, so both readers word them alike. Every error
points at the offending character (a :class:`~ricci.errors.Span` into the text as written).
"""

from __future__ import annotations

import re
import sys
import unicodedata
from fractions import Fraction

from ..bounds import current
from ..errors import RicciError, Span

__all__ = [
    "character_error", "check_name", "is_name_char", "limit_hint", "nesting_error", "number_value",
    "prepare_text", "statements_error",
]


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


# ---------------------------------------------------------------- limits of a program


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
