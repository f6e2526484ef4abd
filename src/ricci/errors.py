"""The one exception of ricci, and source spans for pointing at the offending text.

Every error a user can trigger is a :class:`RicciError`. When the problem is in
program text, the message ends with the line, the column and a caret under the
offending token, the way einops and opt_einsum point into an equation::

    index 'q' on the left of Y does not appear on the right
      --> line 1, column 6
         |
       1 | Y[i,q] = X[i,k] * A[k,j]
         |      ^
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

__all__ = ["RicciError", "RicciWarning", "Span"]


@dataclass(frozen=True)
class Span:
    """A place in program text: 1-based line and column, and the length to underline."""

    line: int
    column: int
    length: int = 1


class RicciWarning(UserWarning):
    """A reading of the input that is valid but could surprise (``p = v_i * u_i`` in ricci
    syntax: ``v_i`` is a scalar's name; capitals with no index anywhere: scalars, not
    matrices). Issued with :func:`warnings.warn`, so it can be filtered or made an error
    (``warnings.simplefilter("error", RicciWarning)``)."""


class RicciError(Exception):
    """Raised for every user-facing error: bad syntax, bad indices, bad sizes, bad calls.

    ``message`` is the bare sentence; ``str(err)`` adds the source excerpt with a caret
    when ``span`` and ``source`` are known, and a ``hint`` line when there is one.
    """

    def __init__(
        self,
        message: str,
        *,
        span: Span | None = None,
        source: str | None = None,
        hint: str | None = None,
    ) -> None:
        self.message = message
        self.span = span
        self.source = source
        self.hint = hint
        super().__init__(self._render())

    @property
    def line(self) -> int | None:
        return self.span.line if self.span else None

    @property
    def column(self) -> int | None:
        return self.span.column if self.span else None

    def with_source(self, source: str) -> "RicciError":
        """The same error, rendered against ``source`` if it had none yet."""
        if self.source is not None or source is None:
            return self
        return RicciError(self.message, span=self.span, source=source, hint=self.hint)

    def _render(self) -> str:
        out = [self.message]
        if self.span is not None:
            sp = self.span
            out.append(f"  --> line {sp.line}, column {sp.column}")
            lines = (self.source or "").splitlines()
            if 1 <= sp.line <= len(lines):
                text = lines[sp.line - 1]
                pad = " " * len(str(sp.line))
                out.append(f"   {pad} |")
                out.append(f"   {sp.line} | {text}")
                out.append(f"   {pad} | " + _pad(text[:sp.column - 1]) +
                           "^" * max(1, _width(text[sp.column - 1:sp.column - 1 + sp.length])))
        if self.hint:
            out.append(f"hint: {self.hint}")
        return "\n".join(out)

    def __str__(self) -> str:  # pragma: no cover - Exception.__str__ already does this
        return self._render()


def _pad(before: str) -> str:
    """Blanks as wide on a terminal as ``before``: its tabs kept, a wide character (``ｘ``,
    CJK) two columns, a combining mark none, so the caret lands under its token."""
    return "".join("\t" if c == "\t" else " " * _width(c) for c in before)


def _width(text: str) -> int:
    """Terminal columns of ``text`` (at least 1 for the caret's sake)."""
    w = 0
    for c in text:
        if unicodedata.combining(c) or unicodedata.category(c) in ("Mn", "Me", "Cf"):
            continue
        w += 2 if unicodedata.east_asian_width(c) in ("W", "F") else 1
    return max(1, w)
