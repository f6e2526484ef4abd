"""Every resource a user's input can exhaust has a bound here, and going past one raises
:class:`~ricci.errors.RicciError` naming it (never a ``RecursionError``, never minutes of
silence).

========================  ==========  ====================================================
limit                     default     what it bounds
========================  ==========  ====================================================
``nesting``               128         parentheses, function calls, powers and signs nested
                                      in one expression of the program text
``literal_digits``        400         digits of one number literal (its exponent included)
``statements``            100000      statements in one program
``indices``               32          distinct index names in one statement (and so the
                                      rank of any tensor)
``text_chars``            10000000    characters of program text
``expression_nodes``      2000000     nodes of one derived expression
``seconds``               60.0        wall time of one derivation (``grad``, ``jacobian``,
                                      ``hessian``, ``hvp``, and the code generation of
                                      ``source``/``compile``)
``check_elements``        10000000    elements of the random arrays ``ricci.check`` builds
========================  ==========  ====================================================

Change them for a block of code with the :func:`limits` context manager (exported as
``ricci.limits``, the table of defaults as ``ricci.Limits``)::

    with ricci.limits(seconds=5, nesting=64):
        d = ricci.grad(text, wrt="x")

Below the limits, parsing, printing and differentiating are linear or near-linear in the
size of the program (``benchmarks/derive.py`` measures it).
"""

from __future__ import annotations

import functools
import gc
import sys
import time
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, fields, replace
from typing import Any, Callable, Iterator, TypeVar

from .errors import RicciError

__all__ = ["Limits", "check_size", "current", "gc_paused", "guarded", "limits", "tick"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Limits:
    """The bounds in force (see the module docstring for what each one bounds)."""

    nesting: int = 128
    literal_digits: int = 400
    statements: int = 100_000
    indices: int = 32
    text_chars: int = 10_000_000
    expression_nodes: int = 2_000_000
    seconds: float = 60.0
    check_elements: int = 10_000_000


#: the limits in force, and the deadline of the running guarded operation (per thread and
#: per task, so a server can derive in several threads)
_limits: ContextVar[Limits] = ContextVar("ricci_limits", default=Limits())  # noqa: B039 - frozen
_deadline: ContextVar[tuple[float, str] | None] = ContextVar("ricci_deadline", default=None)


def current() -> Limits:
    """The limits in force."""
    return _limits.get()


@contextmanager
def limits(**changes: Any) -> Iterator[Limits]:
    """Change some limits inside a ``with`` block: ``with ricci.limits(seconds=5): ...``."""
    names = {f.name for f in fields(Limits)}
    for k, v in changes.items():
        if k not in names:
            raise RicciError(f"unknown limit {k!r}", hint="the limits are: " + ", ".join(sorted(names)))
        if isinstance(v, bool) or not isinstance(v, (int, float)) or v <= 0:
            raise RicciError(f"limit {k} must be a positive number, got {v!r}")
    token = _limits.set(replace(_limits.get(), **changes))
    try:
        yield _limits.get()
    finally:
        _limits.reset(token)


# ---------------------------------------------------------------- time


_ticks = 0


def tick() -> None:
    """Called in the inner loops of derivation and code generation: raises
    :class:`RicciError` once the time limit of the running operation has passed. Cheap:
    the clock is read every 256 calls."""
    global _ticks
    _ticks += 1
    if _ticks & 255:
        return
    running = _deadline.get()
    if running is not None and time.monotonic() > running[0]:
        raise RicciError(f"{running[1]} took longer than the time limit of {current().seconds:g} s",
                         hint="simplify the program, or raise the limit: "
                              "with ricci.limits(seconds=...): ...")


def check_size(nodes: int, what: str = "a derived expression") -> None:
    """Raise when an expression of ``nodes`` nodes exceeds ``expression_nodes``."""
    bound = current().expression_nodes
    if nodes > bound:
        raise RicciError(f"{what} has {nodes} nodes, more than the limit of {bound}",
                         hint="split the program into smaller statements, or raise the limit: "
                              "with ricci.limits(expression_nodes=...): ...")


#: Python frames allowed while a guarded operation runs: deep expressions (up to the
#: nesting limit, and the derivatives of such) recurse that deep in the tree walkers
_RECURSION = 30_000


def guarded(what: str) -> Callable[[F], F]:
    """Decorate a public entry point: it runs under the time limit (the outermost guarded
    call sets the deadline), with room for deep recursion, and a recursion that still runs
    out becomes a :class:`RicciError` naming the nesting limit."""

    def deco(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = None
            if _deadline.get() is None:  # the outermost guarded call sets the deadline
                token = _deadline.set((time.monotonic() + current().seconds, what))
            old_limit = sys.getrecursionlimit()
            if old_limit < _RECURSION:
                sys.setrecursionlimit(_RECURSION)
            try:
                return fn(*args, **kwargs)
            except RecursionError:
                raise RicciError(
                    f"{what} ran out of room: the expressions are nested too deeply",
                    hint=f"nest less than {current().nesting} levels deep, or split the "
                         f"expression into statements") from None
            finally:
                if old_limit < _RECURSION:
                    sys.setrecursionlimit(old_limit)
                if token is not None:
                    _deadline.reset(token)

        return wrapper  # type: ignore[return-value]

    return deco


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cycle collector while parsing or printing: they build millions of
    objects and no reference cycles (syntax trees, expressions and text are trees), so its
    runs would find nothing and take half the time. Re-enabled afterwards if it was."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()
