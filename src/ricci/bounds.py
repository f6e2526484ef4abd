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

import contextvars
import functools
import gc
import os
import queue
import sys
import threading
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

#: C stack of the threads guarded operations run in. A Python frame costs C stack whenever
#: a call is not inlined by the interpreter: through C code (``sorted(key=)``, ``__eq__``)
#: and, for every frame, once a frame-evaluation hook is installed (torch 2.13 leaves
#: dynamo's installed for the rest of the process after a failed ``torch.compile``: ~500
#: bytes a frame, so 30,000 frames overflowed the 8 MB main thread and crashed it). 256 MB is 8 KB a frame; it is reserved
#: address space, and only the pages a deep recursion touches are ever committed.
_STACK_BYTES = 256 << 20


class _Worker:
    """A daemon thread with a deep stack running one guarded call at a time."""

    def __init__(self, pool: _Pool) -> None:
        self._pool = pool
        self._jobs: queue.SimpleQueue[tuple[Callable[[], Any], list[Any], threading.Lock]] = queue.SimpleQueue()
        with _STACK_SIZE_LOCK:  # threading.stack_size is process-wide: set, start, restore
            old = threading.stack_size(_STACK_BYTES)
            try:
                threading.Thread(target=self._loop, name="ricci-deep-stack", daemon=True).start()
            finally:
                threading.stack_size(old)

    def _loop(self) -> None:
        _local.deep = True
        while True:
            job, box, done = self._jobs.get()
            try:
                box.append((True, job()))
            except BaseException as e:  # handed to the caller, which re-raises it
                box.append((False, e))
            del job
            self._pool.give_back(self)
            done.release()

    def call(self, job: Callable[[], Any]) -> Any:
        box: list[Any] = []
        done = threading.Lock()
        done.acquire()
        self._jobs.put((job, box, done))
        done.acquire()  # interruptible: Ctrl-C reaches the caller, the worker finishes alone
        ok, value = box[0]
        if ok:
            return value
        raise value


class _Pool:
    """Idle workers, reused (a hand-over costs ~25 µs, a new thread ~100 µs); one more is
    started when every worker is busy (threads calling ricci at once). Emptied in a forked
    child, whose copies of the workers do not run."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._active = 0
        self._saved_limit = 0

    def run(self, job: Callable[[], Any]) -> Any:
        with self._lock:
            worker = self._idle.pop() if self._idle else None
            if self._active == 0:  # the first running call raises the recursion limit
                self._saved_limit = sys.getrecursionlimit()
                if self._saved_limit < _RECURSION:
                    sys.setrecursionlimit(_RECURSION)
            self._active += 1
        try:
            if worker is None:
                try:
                    worker = _Worker(self)
                except (RuntimeError, ValueError, MemoryError):  # no thread can start here
                    return _inline(job)
            return worker.call(job)
        finally:
            with self._lock:
                self._active -= 1
                if self._active == 0 and self._saved_limit < _RECURSION:
                    sys.setrecursionlimit(self._saved_limit)  # the last one restores it

    def give_back(self, worker: _Worker) -> None:
        with self._lock:
            self._idle.append(worker)

    def forget(self) -> None:
        self._lock = threading.Lock()
        self._idle = []
        self._active = 0


def _inline(job: Callable[[], Any]) -> Any:
    """Run ``job`` in this thread (where no worker can start): the room is this thread's."""
    _local.deep = True
    try:
        return job()
    finally:
        _local.deep = False


_STACK_SIZE_LOCK = threading.Lock()
_local = threading.local()
_pool = _Pool()
if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_pool.forget)


def guarded(what: str) -> Callable[[F], F]:
    """Decorate a public entry point: it runs under the time limit (the outermost guarded
    call sets the deadline), in a thread with room for deep recursion (the outermost call
    hands the work to one, with the caller's context: limits, deadline), and a recursion
    that still runs out becomes a :class:`RicciError` naming the nesting limit.

    Invariant: every guarded operation runs on a deep-stack worker with the recursion limit
    at least ``_RECURSION``, whatever thread (and stack size) called it."""

    def deco(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not getattr(_local, "deep", False):
                context = contextvars.copy_context()
                return _pool.run(lambda: context.run(wrapper, *args, **kwargs))
            token = None
            if _deadline.get() is None:  # the outermost guarded call sets the deadline
                token = _deadline.set((time.monotonic() + current().seconds, what))
            try:
                return fn(*args, **kwargs)
            except RecursionError:
                raise RicciError(
                    f"{what} ran out of room: the expressions are nested too deeply",
                    hint=f"nest less than {current().nesting} levels deep, or split the "
                         f"expression into statements") from None
            finally:
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
