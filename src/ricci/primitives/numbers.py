"""How ricci spells a number, exactly and at any size (``2``, ``0.5``, ``1e-05``, ``1e+300``,
``p/q``): one speller for every notation and for the constants of generated code's comments
and errors. Never builds a string of more digits than the number has (a ``1e-999999`` prints
in constant time)."""

from __future__ import annotations

import math
import sys
from fractions import Fraction

from ..bounds import current

__all__ = ["integer_text", "number_text"]


def number_text(v: Fraction) -> str:
    """Exact text of ``v``, for any size: ``2``, ``0.5``, ``1e-05``, ``1e+300``,
    ``0.107032224408900379083``, else ``p/q``.

    Numbers that float64 spells exactly print as Python's ``repr`` does; other integers and
    terminating decimals print exactly, in scientific notation when they have many leading
    or trailing zeros (``1.5e+400``); integers of any length print (never a ``str`` of a
    huge integer, which Python refuses). Every number the parser accepts prints as a
    literal it accepts back, with no more significant digits (so within ``literal_digits``).
    """
    if v < 0:
        return "-" + number_text(-v)
    if v.denominator == 1:
        return integer_text(v.numerator)
    d = v.denominator
    twos = (d & -d).bit_length() - 1
    fives = _power_of(5, d >> twos)
    if fives is None:
        return f"{integer_text(v.numerator)}/{integer_text(d)}"
    if v <= _FLOAT_MAX:
        f = repr(float(v))
        if Fraction(f) == v:
            return f
    scale = max(twos, fives)  # v * 10^scale is an integer
    return _scientific_text(v.numerator * 2 ** (scale - twos) * 5 ** (scale - fives), -scale)



_FLOAT_MAX = Fraction(sys.float_info.max)
#: integers below this convert with ``str`` (Python refuses more than 4300 digits, and a
#: program may lower that limit to 640)
_SHORT = 10 ** 500


def _digits(n: int) -> str:
    """``str(n)`` for ``n >= 0`` of any length, in chunks ``str`` accepts."""
    if n < _SHORT:
        return str(n)
    half = int(n.bit_length() * 0.30103) // 2
    hi, lo = divmod(n, 10 ** half)
    return _digits(hi) + _digits(lo).rjust(half, "0")


def _power_of(base: int, n: int) -> int | None:
    """``k`` with ``base ** k == n``, or None (found from the bit length, not by division)."""
    if n == 1:
        return 0
    k = round(n.bit_length() / math.log2(base))
    for c in (k - 1, k, k + 1):
        if c > 0 and base ** c == n:
            return c
    return None


def integer_text(n: int) -> str:
    """A non-negative integer: its digits; ``repr`` of its float when that is exact and
    shorter (``1e+30``); exact scientific notation when it has many trailing zeros."""
    if n < 10 ** 16:
        return str(n)
    if n <= _FLOAT_MAX:
        f = repr(float(n))
        if Fraction(f) == n:
            return f
    return _scientific_text(n, 0)


def _scientific_text(m: int, e: int) -> str:
    """``m * 10^e`` (``m > 0``) exactly: ``d.ddde+N`` when it has six or more leading or
    trailing zeros and its digits and exponent digits are within ``literal_digits`` (so that
    it parses back), else plain."""
    zeros = 0
    if m % 10 == 0:
        zeros = min((m & -m).bit_length() - 1, _multiplicity(5, m))
        m //= 10 ** zeros
    e += zeros
    digits = _digits(m)
    adjusted = e + len(digits) - 1
    many_zeros = adjusted < -6 or (adjusted >= 21 and e > 5)
    if many_zeros and len(digits) + len(str(abs(adjusted))) <= current().literal_digits:
        mantissa = digits[0] + ("." + digits[1:] if len(digits) > 1 else "")
        return f"{mantissa}e{adjusted:+03d}"
    if e >= 0:
        return digits + "0" * e
    digits = digits.rjust(-e + 1, "0")
    return f"{digits[:e]}.{digits[e:]}"


def _multiplicity(base: int, n: int) -> int:
    """The largest ``k`` with ``base ** k`` dividing ``n > 0`` (by repeated squaring)."""
    k, powers = 0, [base]
    while n % powers[-1] == 0:
        powers.append(powers[-1] ** 2)
    for i in range(len(powers) - 2, -1, -1):
        if n % powers[i] == 0:
            n //= powers[i]
            k += 2 ** i
    return k
