"""The matrix-expression tree of matrix notation: small immutable node classes.

:class:`M` is the base: variables (:class:`Var`), numbers, sizes, the identity,
transposes (:class:`T`), ``@`` (:class:`MatMul`), elementwise products, sums, functions
and powers (:class:`Prod`, :class:`Plus`, :class:`Fn`, :class:`PowM`), matrix functions,
row and column sums (:class:`Reduce`), traces, diagonals, outer products and broadcasts.
:mod:`.matrix_convert` builds trees from index notation, :mod:`.matrix_render` prints them.

Invariants: every node has a definite number of axes (``ndim``); a vector is neither a
row nor a column (``A @ x`` and ``x @ A`` are both plain ``@``), as in NumPy; nodes are
frozen dataclasses, compared by structure.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields, is_dataclass, replace
from fractions import Fraction
from typing import Any, Callable

from ..ir.expr import Index

__all__ = [
    "Axes", "Bcast", "Diag", "DiagOf", "Eye", "Fn", "FULL", "Like", "M", "MatFunc", "MatMul",
    "NoMatrixForm", "Num", "Outer", "Plus", "PowM", "Prod", "Reduce", "SizeOf", "T", "Trace", "TRACE",
    "Var", "map_children", "nodes", "numpy_shape", "size_text", "transpose",
]

Axes = tuple[Index, ...]

#: the matrix function a trace of any matrix expression prints as (``A[i,j] * B[j,i]``:
#: ``trace(A @ B)``)
TRACE = "trace"


class NoMatrixForm(Exception):
    """The expression has no exact matrix form; ``reason`` says why, for the user."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# ---------------------------------------------------------------- the matrix-expression tree


class M:
    """A matrix-expression node; ``ndim`` is its number of axes."""

    ndim: int = 0


@dataclass(frozen=True)
class Var(M):
    name: str
    ndim: int


@dataclass(frozen=True)
class Num(M):
    value: Fraction
    ndim: int = 0


@dataclass(frozen=True)
class SizeOf(M):
    """The size of ``index`` (the statement's name); ``label`` is its printed text, as
    :func:`size_text` says."""

    index: str
    ndim: int = 0
    label: str = ""


def size_text(index: str, label: str = "") -> str:
    """How the text prints a size: ``label`` (``size(n)`` by a name the program gives the
    dim, or ``X.shape[0]``) where one was given, else ``size(index)``."""
    return label or f"size({index})"


@dataclass(frozen=True)
class Eye(M):
    """The identity; its size is that of ``index``. Written ``I`` where an operand beside
    it gives the size, ``eye(size(k))`` (``sized``) where nothing does (``dA = I``)."""

    index: str
    ndim: int = 2
    sized: bool = False
    #: the printed text of its size (:func:`size_text`); ``index`` is the statement's
    #: name, which the NumPy code looks sizes up by
    label: str = ""


@dataclass(frozen=True)
class T(M):
    """Transpose (of the last two axes, for more than two)."""

    x: M

    @property
    def ndim(self) -> int:  # type: ignore[override]
        return self.x.ndim


@dataclass(frozen=True)
class MatMul(M):
    a: M
    b: M

    @property
    def ndim(self) -> int:  # type: ignore[override]
        na, nb = self.a.ndim, self.b.ndim
        if na == 1 and nb == 1:
            return 0
        if na == 1 or nb == 1:
            return max(na, nb) - 1
        return max(na, nb)


@dataclass(frozen=True)
class Prod(M):
    """``coef * f1 * f2 ... / d1 / d2`` elementwise (operands already aligned)."""

    coef: Fraction
    factors: tuple[M, ...]
    divisors: tuple[M, ...]
    ndim: int


@dataclass(frozen=True)
class Plus(M):
    """``t1 + t2 - t3 ...``: terms with their signs (+1 / -1)."""

    terms: tuple[tuple[int, M], ...]
    ndim: int


@dataclass(frozen=True)
class Fn(M):
    fn: str
    x: M

    @property
    def ndim(self) -> int:  # type: ignore[override]
        return self.x.ndim


@dataclass(frozen=True)
class PowM(M):
    x: M
    exp: M
    ndim: int


@dataclass(frozen=True)
class MatFunc(M):
    """``inv(A)``, ``det(A)``, ``logdet(A)`` (from the matrix-function table)."""

    fn: str
    x: M
    ndim: int


@dataclass(frozen=True)
class Reduce(M):
    """Sum over ``axes`` of ``x`` (all of them: the sum of every element)."""

    x: M
    axes: tuple[int, ...]

    @property
    def ndim(self) -> int:  # type: ignore[override]
        return self.x.ndim - len(self.axes)


@dataclass(frozen=True)
class Trace(M):
    """The trace of a matrix expression, printed as the matrix function :data:`TRACE`."""

    x: M
    ndim: int = 0


@dataclass(frozen=True)
class DiagOf(M):
    """The diagonal of a matrix, as a vector."""

    x: M
    ndim: int = 1


@dataclass(frozen=True)
class Diag(M):
    """The diagonal matrix with a vector on its diagonal (``diag(w)`` in ``X.T @ diag(w) @ X``)."""

    x: M
    ndim: int = 2


@dataclass(frozen=True)
class Outer(M):
    u: M
    v: M
    ndim: int = 2


@dataclass(frozen=True)
class Bcast(M):
    """``x[None, :]`` style: ``slots`` has ``":"`` for each axis of x and ``None`` for new ones."""

    x: M
    slots: tuple[str | None, ...]

    @property
    def ndim(self) -> int:  # type: ignore[override]
        return len(self.slots)


@dataclass(frozen=True)
class Like(M):
    """A value broadcast to the shape of the variable ``like`` (``ones_like(x)`` etc.), or,
    with ``like`` None, to the sizes of the indices ``sizes`` (``ones((size(n), size(o)))``)."""

    x: M
    like: str | None
    ndim: int
    sizes: tuple[str, ...] = ()  # the statement's index names (NumPy looks sizes up by them)
    labels: tuple[str, ...] = ()  # the printed texts of the sizes (size_text)


def map_children(n: M, f: Callable[[M], M]) -> M:
    """``n`` with ``f`` applied to each child node (in fields and tuples of fields)."""
    def go(v: Any) -> Any:
        return f(v) if isinstance(v, M) else tuple(go(x) for x in v) if isinstance(v, tuple) else v
    if not is_dataclass(n):
        return n
    return replace(n, **{fl.name: go(getattr(n, fl.name)) for fl in fields(n)})  # type: ignore[type-var]


def nodes(n: M) -> Iterator[M]:
    """``n`` and every node below it."""
    def below(v: Any) -> Iterator[M]:
        if isinstance(v, M):
            yield from nodes(v)
        elif isinstance(v, tuple):
            for x in v:
                yield from below(x)
    yield n
    if is_dataclass(n):
        for fl in fields(n):
            yield from below(getattr(n, fl.name))


def transpose(n: M) -> M:
    """Transpose, pushed into products: ``(A @ B).T = B.T @ A.T``."""
    if isinstance(n, T):
        return n.x
    if isinstance(n, MatMul) and n.a.ndim == 2 and n.b.ndim == 2:
        return MatMul(transpose(n.b), transpose(n.a))
    return T(n)



#: an axis of a NumPy value: full size, or a size-1 axis that broadcasting stretches
FULL, ONE_WIDE = True, False


def numpy_shape(n: M) -> tuple[bool, ...] | None:
    """The shape the NumPy value of ``n`` has, axis by axis (``FULL`` or ``ONE_WIDE``),
    leading axes that broadcasting would add left out; None if NumPy would refuse it.

    ``sum(A, axis=1)`` is ``(FULL,)`` though the statement it stands for may be a matrix:
    a form whose shape is not all ``FULL`` over the statement's axes must say how it is
    broadcast (:class:`Like`), or it prints a formula of the wrong shape."""
    full = (FULL,) * n.ndim
    if isinstance(n, (Var, Eye, MatMul, MatFunc, DiagOf, Diag, Outer, Like, Trace)):
        return full
    if isinstance(n, (Num, SizeOf)):
        return ()
    if isinstance(n, T):
        s = numpy_shape(n.x)
        return None if s is None else (s[:-2] + (s[-1], s[-2]) if len(s) >= 2 else s)
    if isinstance(n, Fn):
        return numpy_shape(n.x)
    if isinstance(n, (Prod, Plus, PowM)):
        parts = (list(n.factors) + list(n.divisors) if isinstance(n, Prod) else
                 [t for _, t in n.terms] if isinstance(n, Plus) else [n.x, n.exp])
        shapes = [numpy_shape(p) for p in parts]
        if any(s is None for s in shapes):
            return None
        width = max((len(s) for s in shapes if s is not None), default=0)
        out = [ONE_WIDE] * width
        for s in shapes:
            assert s is not None
            for k, flag in enumerate(s):
                out[width - len(s) + k] = out[width - len(s) + k] or flag
        return tuple(out)
    if isinstance(n, Reduce):
        s = numpy_shape(n.x)
        if s is None or len(s) != n.x.ndim:
            return None  # sum(v, axis=1) of a value with fewer axes than it stands for
        return tuple(f for k, f in enumerate(s) if k not in n.axes)
    if isinstance(n, Bcast):
        s = numpy_shape(n.x)
        if s is None:
            return None
        inner = list(s)
        if len(inner) < sum(1 for x in n.slots if x):
            inner = [ONE_WIDE] * (sum(1 for x in n.slots if x) - len(inner)) + inner
        it = iter(inner)
        return tuple(next(it) if slot else ONE_WIDE for slot in n.slots)
    return full
