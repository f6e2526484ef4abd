"""Checks of the arguments of ricci's public functions: a wrong type or value is a
:class:`~ricci.errors.RicciError` saying what was expected, never a ``TypeError`` from
deep inside."""

from __future__ import annotations

import difflib
import math
from typing import Any, Sequence

from .errors import RicciError

__all__ = ["choice", "flag", "name", "names", "positive"]


def choice(value: Any, choices: Sequence[str], what: str) -> str:
    """``value``, one of the strings ``choices``."""
    if isinstance(value, str) and value in choices:
        return value
    listed = " or ".join(filter(None, [", ".join(repr(c) for c in choices[:-1]), repr(choices[-1])]))
    if isinstance(value, str):
        close = difflib.get_close_matches(value, list(choices), n=1)
        raise RicciError(f"unknown {what} {value!r}: choose {listed}",
                         hint=f"did you mean {close[0]!r}?" if close else None)
    raise RicciError(f"{what} must be one of {listed}, not {_describe(value)}")


def name(value: Any, what: str, *, optional: bool = False) -> str | None:
    """``value``, a str (or None when ``optional``)."""
    if value is None and optional:
        return None
    if not isinstance(value, str):
        raise RicciError(f"{what} must be a name (a str){' or None' if optional else ''}, "
                         f"not {_describe(value)}")
    return value


def names(value: Any, what: str) -> list[str]:
    """``value``, a str or a sequence of str, as a list."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        return list(value)
    raise RicciError(f"{what} must be a name or a list of names (str), not {_describe(value)}")


def flag(value: Any, what: str) -> bool:
    """``value``, a bool."""
    if not isinstance(value, bool):
        raise RicciError(f"{what} must be True or False, not {_describe(value)}")
    return value


def positive(value: Any, what: str) -> float:
    """``value``, a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
            or value <= 0:
        raise RicciError(f"{what} must be a positive number, not {_describe(value)}")
    return float(value)


def _describe(value: Any) -> str:
    text = repr(value)
    return f"{type(value).__name__} {text if len(text) <= 40 else text[:37] + '...'}"
