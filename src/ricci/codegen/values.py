"""What the lowering produces: a value of generated code (:class:`Val`: its code, its axes
in order, the precedence of its code), and the spelling of a constant
(:func:`float_literal`).

Invariants: a value's code, parenthesised as :meth:`Val.wrapped` says, is a Python
expression of the array of its axes (a plain Python number when ``number`` is set); a
constant's literal is exact when it has a short decimal form, else the nearest float64,
and a constant float64 cannot hold is a :class:`~ricci.errors.RicciError`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

from ..errors import RicciError
from ..ir.expr import Index
from ..primitives.numbers import number_text

__all__ = ["ADD", "ATOM", "Axes", "MUL", "POW", "UNARY", "Val", "float_literal", "positive_first", "signed_sum"]

Axes = tuple[Index, ...]

#: the precedences of generated code, loosest first
ADD, MUL, UNARY, POW, ATOM = 1, 2, 3, 4, 5


@dataclass
class Val:
    """A lowered value: code, its axes in order, and the precedence of the code."""

    code: str
    axes: Axes
    prec: int = ATOM
    #: a plain Python number (constants and sizes only): backends may need to wrap it
    number: bool = False
    #: ``inv(A)`` not yet computed: the code of ``A``, so a product with it can be a solve
    inverse_of: str | None = None
    #: with ``inverse_of``: the template that solves with it (``{0}`` A, ``{1}`` the rest)
    solve: str = ""
    #: the code is ``a @ b`` of two matrices: their codes ``(a, b)``, so that a backend
    #: can fold the product into a sum it is added to (``torch.addmm``)
    matmul: tuple[str, str] | None = None

    @property
    def atomic(self) -> bool:
        return self.prec == ATOM

    def wrapped(self, above: int = POW) -> str:
        """The code, parenthesised unless it binds tighter than ``above``."""
        return self.code if self.prec > above else f"({self.code})"


def positive_first(terms: list[tuple[bool, Val]]) -> list[tuple[bool, Val]]:
    """(negated, value) terms of a sum with a positive one first when there is one:
    ``a - t``, not ``-t + a`` (a negation is one more pass over the array)."""
    k = next((k for k, (neg, _) in enumerate(terms) if not neg), 0)
    return [terms[k]] + terms[:k] + terms[k + 1:]


def signed_sum(terms: list[tuple[bool, Val]]) -> str:
    """``a - b + c`` from (negated, value) pairs, a positive term first, each value
    parenthesised as its precedence needs (``t1 - (a + b)``, ``-(a + b) + c``)."""
    out = ""
    for k, (neg, v) in enumerate(positive_first(terms)):
        if k == 0:
            out = "-" + v.wrapped(UNARY) if neg else v.wrapped(ADD - 1)
        else:
            out += (" - " if neg else " + ") + v.wrapped(ADD)
    return out


def float_literal(v: Fraction) -> str:
    """A constant as a float literal of the generated code: exact when it has a short
    decimal form (``0.5``, ``1e-05``), else the nearest float64. A constant float64
    cannot hold (beyond about 1.8e308, or so small it would be 0) is an error, not a
    silent ``inf`` or ``0.0``."""
    if v.denominator == 1 and abs(v.numerator) < 10**15:
        return f"{v.numerator}.0"
    try:
        f = float(v)
    except OverflowError:
        f = math.inf
    if math.isinf(f) or (f == 0 and v != 0):
        raise RicciError(f"the constant {_magnitude(v)} is out of the range of float64, which the "
                         f"generated code computes in",
                         hint="rescale the program so that its constants lie between about "
                              "1e-308 and 1e308")
    if v.denominator != 1 and len(str(v.denominator)) < 30:
        t = number_text(v)
        if "/" not in t and len(t) <= 40:
            return t
    return repr(f)


def _magnitude(v: Fraction) -> str:
    """``v`` for a message, whatever its size: ``about 1e400`` (from the lengths of its
    numerator and denominator, never a conversion of a huge number)."""
    e = round((abs(v.numerator).bit_length() - v.denominator.bit_length()) * math.log10(2))
    return f"about {'-' if v < 0 else ''}1e{e}"
