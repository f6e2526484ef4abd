"""Rational coefficients of terms, shared by the rewrite rules (:mod:`.arithmetic`), the
transforms of :mod:`.factor` and the pattern language (:mod:`.patterns`).

A term is ``c * rest`` with ``c`` an exact rational: :func:`split_coef` takes it apart,
:func:`with_coef` puts it back, so that ``with_coef(*split_coef(t))`` is ``t`` for a term
in normal form (the coefficient leading a product, inside the body of a sum). Constants
are folded only while they stay :func:`small`.
"""

from __future__ import annotations

from fractions import Fraction

from ..ir.expr import ONE, ZERO, Const, Expr, Mul, Sum

__all__ = ["FOLD_LIMIT", "small", "split_coef", "with_coef"]

#: constants are folded only while their numerators and denominators stay below this
#: bound (checked before any big power is computed); a bigger value stays a symbolic
#: power (``2^10000000000``) or an unfolded product, so folding never builds a gigantic
#: integer whatever the input
FOLD_LIMIT = 10 ** 400

_ONE = Fraction(1)  # (Fractions are immutable: one object serves every use)


def small(v: Fraction) -> bool:
    """Is ``v`` a constant the simplifier folds (numerator and denominator below
    :data:`FOLD_LIMIT`)?"""
    return abs(v.numerator) < FOLD_LIMIT and v.denominator < FOLD_LIMIT


def split_coef(t: Expr) -> tuple[Fraction, Expr]:
    """``t = c * rest`` with ``c`` a rational; the coefficient sits inside a sum's body."""
    if isinstance(t, Const):
        return t.value, ONE
    if isinstance(t, Mul) and isinstance(t.factors[0], Const):
        rest = t.factors[1:]
        return t.factors[0].value, ONE if not rest else rest[0] if len(rest) == 1 else Mul(rest)
    if isinstance(t, Sum):
        c, body = split_coef(t.body)
        if c != 1:
            return c, Sum(t.indices, body)
    return _ONE, t


def with_coef(c: Fraction, rest: Expr) -> Expr:
    """``c * rest``, the coefficient leading a product or inside a sum's body."""
    if c == 0:
        return ZERO
    if c == 1:
        return rest
    if isinstance(rest, Const) and small(c) and small(rest.value) and small(c * rest.value):
        return Const(c * rest.value)
    if isinstance(rest, Sum):
        return Sum(rest.indices, with_coef(c, rest.body))
    if isinstance(rest, Mul):
        return Mul((Const(c),) + rest.factors)
    return Mul((Const(c), rest))
