"""How IR objects print, without ir depending on the stage that spells them.

The one printer of every notation (text, Unicode, LaTeX) lives in
:mod:`ricci.display.render`, above ir in the pipeline; it installs itself here when it
is imported (``import ricci`` imports it), so ``str(expr)``, ``str(statement)``,
``str(program)`` and :meth:`~ricci.ir.program.Program.latex` print through it. Until then
(only while ricci itself is being imported) a node prints as its class name.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, Sequence

if TYPE_CHECKING:  # pragma: no cover
    from .expr import Expr
    from .program import Program, Statement

__all__ = ["Printer", "install", "printer"]


class Printer(Protocol):
    def expr(self, e: "Expr") -> str:
        """``e`` in ricci's text notation."""
        ...

    def statement(self, st: "Statement", notation: str) -> str:
        """``st`` in ``notation`` (``"text"``, ``"unicode"``, ``"latex"``), derived
        statements with their factors in reading order."""
        ...

    def program(self, p: "Program") -> str:
        """``p`` in ricci's text notation, one statement a line."""
        ...

    def equations(self, rows: Sequence[str]) -> str:
        """LaTeX rows as one equation, or an ``aligned`` block."""
        ...

    def declaration(self, name: str, indices: Sequence[str], fact: str, notation: str) -> str:
        """A declaration (``S[i,j] : symmetric``) in ``notation``, as its reader reads it."""
        ...


_PRINTER: list[Printer] = []


def install(p: Printer) -> None:
    """Make ``p`` the printer of every IR object (the last one installed wins)."""
    _PRINTER[:] = [p]


def printer() -> Printer | None:
    """The installed printer, or None while ricci is being imported."""
    return _PRINTER[0] if _PRINTER else None
