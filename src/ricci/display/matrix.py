"""Stage 5b: index notation -> matrix notation, where it exists.

:func:`matrix_form` turns a statement's right-hand side into a small matrix-expression tree
(:class:`M` nodes: variables, transposes, ``@``, elementwise arithmetic, row and column
sums, traces, outer products, broadcasts), in the "gradient has the shape of its input"
convention: ``dX[i,k] = dY[i,j] * A[k,j]`` becomes ``dX = dY @ A.T``. The tree is printed
three ways from one structure: plain text (NumPy-like, ``dY @ A.T``, ``sum(dZ, axis=0)``),
NumPy code (evaluated by the tests against the einsum result) and LaTeX
(``\\frac{\\partial l}{\\partial Y} A^{T}``, ``\\mathbf{1}^{T} G``, ``\\odot``).

Invariants:

* every node has a definite number of axes; a vector is neither a row nor a column (a
  matrix-vector product ``A @ x`` and ``x @ A`` are both plain ``@``), as in NumPy;
* a form is produced only if it is exact: when a contraction needs a general tensor
  product (``tensordot``/``einsum``), or the result is an outer product into three or
  more axes (a raw Jacobian ``A[q,j] * delta[i,p]``), :class:`NoMatrixForm` is raised
  and the caller prints the einsum form instead (and, for a delta times a matrix, the
  matrix form of each slice);
* operands of ``@`` that are not plain variables are named first (``G = dY * (1 - Y^2)``,
  then ``dW = X.T @ G``), so no line is one giant expression.
"""

from __future__ import annotations

import keyword
import weakref
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Callable, Mapping, Sequence, TypeGuard

import opt_einsum as oe

from ..calculus.record import DerivationRecord
from ..codegen.contract import contract_pairwise
from ..codegen.values import float_literal
from ..ir.expr import Add, Call, Const, Delta, Expr, Index, MatFn, Mul, Pow, Size, Sum, Tensor, Transposed
from ..ir.indices import fresh_name, rename_bound, successors
from ..ir.program import Statement
from ..ir.traversal import map_bottom_up, walk
from ..primitives.functions import FUNCTIONS, MATRIX_FUNCTIONS, one_call, runtime
from ..primitives.greek import GREEK
from ..simplify.coefficients import split_coef, with_coef
from .render import SQRT, dim_collisions, integer_text, latex_equations, latex_text, number_text

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
    index: str
    ndim: int = 0


@dataclass(frozen=True)
class Eye(M):
    index: str  # the size is that of this index
    ndim: int = 2


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
    """A value broadcast to the shape of the variable ``like`` (``ones_like(x)`` etc.)."""

    x: M
    like: str
    ndim: int


# ---------------------------------------------------------------- conversion


@dataclass
class MVal:
    node: M
    axes: Axes


def _union(axes_list: Sequence[Axes]) -> Axes:
    out: list[Index] = []
    for ax in sorted(axes_list, key=lambda a: -len(a)):
        for a in ax:
            if a not in out:
                out.append(a)
    return tuple(out)


def _simple(n: M) -> bool:
    """Plain enough to be an operand of ``@`` without a name of its own: variables,
    their transposes, and chains of ``@`` of those."""
    if isinstance(n, T):
        return _simple(n.x)
    if isinstance(n, MatMul):
        return _simple(n.a) and _simple(n.b)
    if isinstance(n, MatFunc):
        return _simple(n.x)
    return isinstance(n, (Var, Eye, Num, SizeOf))


class _Converter:
    """Converts one right-hand side; ``bind`` names compound operands of ``@``."""

    def __init__(self, want: Axes, bind: Callable[[M, int], M]) -> None:
        self.want = want
        self.bind = bind

    def order(self, axes: Axes) -> Axes:
        wanted = [a for a in self.want if a in axes]
        return tuple(wanted) + tuple(a for a in axes if a not in wanted)

    # -- alignment
    def permute(self, v: MVal, target: Axes) -> MVal:
        """``v`` with its axes in ``target``'s relative order (a transpose at most)."""
        present = tuple(a for a in target if a in v.axes)
        if present == v.axes:
            return v
        n = len(v.axes)
        if n >= 2 and present == v.axes[:-2] + (v.axes[-1], v.axes[-2]):
            return MVal(_t(v.node) if n == 2 else (v.node.x if isinstance(v.node, T) else T(v.node)),
                        present)
        raise NoMatrixForm("it needs a permutation of more than two axes")

    def align(self, v: MVal, target: Axes) -> MVal:
        """``v`` permuted and broadcast (``[None, :]``) to ``target``."""
        p = self.permute(v, target)
        if not p.axes or p.axes == tuple(target):
            return p
        first = target.index(p.axes[0])
        slots: list[str | None] = [":" if a in p.axes else None for a in target[first:]]
        while slots and slots[-1] == ":":
            slots.pop()
        if not slots:
            return MVal(p.node, tuple(target))
        return MVal(Bcast(p.node, tuple(slots)), tuple(target))

    # -- expressions
    def conv(self, e: Expr) -> MVal:
        if isinstance(e, Const):
            return MVal(Num(e.value), ())
        if isinstance(e, Size):
            return MVal(SizeOf(e.index.name), ())
        if isinstance(e, Tensor):
            return self.tensor(e)
        if isinstance(e, Transposed):
            return self.tensor(e.plain)
        if isinstance(e, MatFn):
            rank = MATRIX_FUNCTIONS[e.fn].rank
            node = MatFunc(e.fn, Var(e.arg.name, 2), rank)
            uniq = tuple(dict.fromkeys(e.out))
            if len(uniq) < len(e.out):
                return MVal(DiagOf(node), uniq)
            return MVal(node, uniq)
        if isinstance(e, Delta):
            uniq = tuple(dict.fromkeys(e.indices))
            if len(uniq) == 1:
                return MVal(Num(Fraction(1)), ())
            if len(uniq) == 2:
                return MVal(Eye(uniq[0].name), uniq)
            raise NoMatrixForm(f"a {len(uniq)}-index Kronecker delta has no matrix form")
        if isinstance(e, Call):
            v = self.conv(e.args[0])
            return MVal(Fn(e.fn, v.node), v.axes)
        if isinstance(e, Pow):
            if isinstance(e.exp, Const) and e.exp.value < 0:
                return self.product([e])  # 1 / x
            b, x = self.conv(e.base), self.conv(e.exp)
            t = self.order(_union([b.axes, x.axes]))
            if len(t) > max(len(b.axes), len(x.axes)) and len(t) > 2:
                raise NoMatrixForm("a power that broadcasts into three or more axes")
            return MVal(PowM(self.align(b, t).node, self.align(x, t).node, len(t)), t)
        if isinstance(e, Mul):
            return self.product(list(e.factors))
        if isinstance(e, Add):
            vals = []
            for term in e.terms:
                c, rest = split_coef(term)  # the coefficient, also inside a sum
                sign = -1 if c < 0 else 1
                vals.append((sign, self.conv(with_coef(abs(c), rest))))
            vals.sort(key=lambda sv: sv[0] < 0)  # a positive term first: a - b, not -b + a
            target = self.order(_union([v.axes for _, v in vals]))
            if len(target) > 2 and all(len(v.axes) < len(target) for _, v in vals):
                raise NoMatrixForm("a sum that broadcasts into three or more axes")
            return MVal(Plus(tuple((s, self.align(v, target).node) for s, v in vals), len(target)),
                        target)
        if isinstance(e, Sum):
            return self.summation(e)
        raise NoMatrixForm(f"{type(e).__name__} has no matrix form")

    def tensor(self, e: Tensor) -> MVal:
        idx = e.indices
        if len(set(idx)) == len(idx):
            return MVal(Var(e.name, len(idx)), idx)
        if len(idx) == 2:
            return MVal(DiagOf(Var(e.name, 2)), (idx[0],))
        raise NoMatrixForm(f"{e.name} with a repeated index has no matrix form")

    def product(self, factors: Sequence[Expr | MVal], natural: bool = False) -> MVal:
        """Elementwise product; axes in the wanted order, or with ``natural`` in the order
        of the operand with the most axes (for a product that is then summed)."""
        coef = Fraction(1)
        nums: list[MVal] = []
        dens: list[MVal] = []
        for f in factors:
            if isinstance(f, MVal):
                nums.append(f)
            elif isinstance(f, Const):
                coef *= f.value
            elif isinstance(f, Pow) and isinstance(f.exp, Const) and f.exp.value < 0:
                b = self.conv(f.base)
                if f.exp.value != -1:
                    b = MVal(PowM(b.node, Num(-f.exp.value), len(b.axes)), b.axes)
                dens.append(b)
            else:
                nums.append(self.conv(f))
        eyes = [v for v in nums if isinstance(v.node, Eye)]
        if len(eyes) == 1 and any(v.axes and v is not eyes[0] for v in nums + dens) and all(
                v is eyes[0] or (len(v.axes) == 1 and v.axes[0] in eyes[0].axes) or not v.axes
                for v in nums + dens):
            # v[i] * u[j] * delta[i,j] = diag(v * u)[i,j]: the delta makes i = j
            scal = [v.node for v in nums if not v.axes]
            vec = [v.node for v in nums if v.axes and v is not eyes[0]]
            vdens = tuple(v.node for v in dens if v.axes)
            w = vec[0] if len(vec) == 1 and not vdens else Prod(Fraction(1), tuple(vec), vdens, 1)
            sdens = tuple(v.node for v in dens if not v.axes)
            node: M = Diag(w)
            if coef != 1 or scal or sdens:
                node = Prod(coef, tuple(scal) + (node,), sdens, 2)
            return MVal(node, self.order(eyes[0].axes))
        vecs = [v for v in nums if v.axes]
        if len(vecs) == 2 and all(len(v.axes) == 1 for v in vecs) and vecs[0].axes != vecs[1].axes \
                and not any(v.axes for v in dens):  # c * outer(u, v) / s
            u, v = sorted(vecs, key=lambda x: self.order(vecs[0].axes + vecs[1].axes).index(x.axes[0]))
            out = MVal(Outer(u.node, v.node), u.axes + v.axes)
            snodes = tuple(x.node for x in nums if not x.axes)
            if coef == 1 and not snodes and not dens:
                return out
            return MVal(Prod(coef, snodes + (out.node,), tuple(x.node for x in dens), 2), out.axes)
        target = _union([v.axes for v in nums + dens])
        target = target if natural else self.order(target)
        if len(target) > 2 and all(len(v.axes) < len(target) for v in nums + dens):
            raise NoMatrixForm(f"an outer product into {len(target)} axes")
        fs: list[M] = []
        ds = [self.align(v, target).node for v in dens]
        for v in nums:
            n = self.align(v, target).node
            if isinstance(n, Prod):  # (c * a / b) * d -> c * a * d / b
                coef *= n.coef
                fs.extend(n.factors)
                ds.extend(n.divisors)
            else:
                fs.append(n)
        return MVal(Prod(coef, _arrange(tuple(fs)), tuple(ds), len(target)), target)

    # -- contractions
    def summation(self, e: Sum) -> MVal:
        body = e.body
        factors = list(body.factors) if isinstance(body, Mul) else [body]
        bound = set(e.indices)
        outside = [f for f in factors if not (f.free & bound) and not isinstance(f, Const)]
        if outside:  # c * sum[k](f * g[k]) reads better than sum[k](c * f * g[k])
            inside = [f for f in factors if f not in outside]
            inner = Sum(e.indices, inside[0] if len(inside) == 1 else Mul(inside)) if inside \
                else Sum(e.indices, Const(1))
            return self.product(outside + [inner])
        full = _union([tuple(f.free) for f in factors])  # (a constant's free set is empty)
        if sum(1 for f in factors if f.free and set(f.free) == set(full)) >= 2:
            # every factor broadcasts into one of them: an elementwise product, then a sum
            consts = [f for f in factors if isinstance(f, Const)]
            v = self.product([f for f in factors if not isinstance(f, Const)], natural=True)
            v = self.reduce(v, tuple(a for a in v.axes if a not in bound))
            return self.product(consts + [v]) if consts else v
        coef = Fraction(1)
        scalars: list[MVal] = []
        ops: list[MVal] = []
        groups: dict[frozenset, list[Expr]] = {}  # p[n] * (1 - p[n]): one operand
        for f in factors:
            if isinstance(f, Const):
                coef *= f.value
                continue
            groups.setdefault(frozenset(f.free), []).append(f)
        for group in groups.values():
            v = self.conv(group[0]) if len(group) == 1 else self.product(group, natural=True)
            (ops if v.axes else scalars).append(v)
        keep = tuple(i for i in _union([v.axes for v in ops]) if i not in e.indices)
        sandwich = self.sandwich(ops, e.indices, keep)
        missing = [k for k in e.indices if not any(k in v.axes for v in ops)]
        if sandwich is not None:
            res = sandwich
        elif ops:
            res = self.contract(ops, keep)
        else:
            res = MVal(Num(Fraction(1)), ())
        extra = [s.node for s in scalars] + [SizeOf(k.name) for k in missing]
        if coef == 1 and not extra:
            return res
        return MVal(Prod(coef, tuple(extra) + (res.node,), (), len(res.axes)), res.axes)

    def sandwich(self, ops: list[MVal], bound: Axes, keep: Axes) -> MVal | None:
        """``A[c,i] * w[c] * B[c,j]`` summed over c as ``A.T @ diag(w) @ B`` (a weighted
        Gram matrix such as ``X.T @ diag(p * (1 - p)) @ X``), or None."""
        if len(bound) != 1 or len(ops) != 3:
            return None
        (c,) = bound
        ws = [v for v in ops if v.axes == (c,)]
        mats = [v for v in ops if len(v.axes) == 2 and c in v.axes]
        if len(ws) != 1 or len(mats) != 2:
            return None
        a, b = mats
        (i,) = [x for x in a.axes if x != c]
        (j,) = [x for x in b.axes if x != c]
        if i == j or {i, j} != set(keep):
            return None
        if not self._in_order([i, j]):
            a, b, i, j = b, a, j, i
        a, b = self.operand(a), self.operand(b)
        an = a.node if a.axes[1] == c else _t(a.node)
        bn = b.node if b.axes[0] == c else _t(b.node)
        return MVal(MatMul(MatMul(an, Diag(ws[0].node)), bn), (i, j))

    def contract(self, ops: list[MVal], keep: Axes) -> MVal:
        if len(ops) == 1:
            return self.reduce(ops[0], keep)
        return contract_pairwise(ops, keep, lambda a: 8, 5, self.reduce, self.binary)

    def reduce(self, v: MVal, keep: Axes) -> MVal:
        drop = tuple(k for k, a in enumerate(v.axes) if a not in keep)
        if not drop:
            return v
        if isinstance(v.node, DiagOf) and len(drop) == 1:
            return MVal(Trace(v.node.x), ())
        return MVal(Reduce(v.node, drop), tuple(a for a in v.axes if a in keep))

    def _in_order(self, axes: Sequence[Index]) -> bool:
        pos = [self.want.index(x) for x in axes if x in self.want]
        return pos == sorted(pos)

    def operand(self, v: MVal) -> MVal:
        return v if _simple(v.node) else MVal(self.bind(v.node, len(v.axes)), v.axes)

    def binary(self, a: MVal, b: MVal, keep: set[Index]) -> MVal:
        a = self.reduce(a, tuple(x for x in a.axes if x in keep or x in b.axes))
        b = self.reduce(b, tuple(x for x in b.axes if x in keep or x in a.axes))
        A, B = a.axes, b.axes
        batch = [x for x in A if x in B and x in keep]
        con = [x for x in A if x in B and x not in keep]
        a_only = [x for x in A if x not in B]
        b_only = [x for x in B if x not in A]
        if con and self._in_order(b_only + a_only) and not self._in_order(a_only + b_only):
            return self.binary(b, a, keep)
        if not con:
            if len(A) == 1 and len(B) == 1 and A != B:
                u, v = (a, b) if self._in_order([A[0], B[0]]) else (b, a)
                return MVal(Outer(u.node, v.node), u.axes + v.axes)
            target = tuple(A) + tuple(b_only) if len(A) >= len(B) else tuple(B) + tuple(a_only)
            if len(target) > max(len(A), len(B)) and len(target) > 2:
                raise NoMatrixForm(f"an outer product into {len(target)} axes")
            return MVal(Prod(Fraction(1), _arrange((self.align(a, target).node,
                                                     self.align(b, target).node)), (), len(target)),
                        target)
        if not batch and len(con) == 1 and len(A) <= 2 and len(B) <= 2:
            (c,) = con
            a, b = self.operand(a), self.operand(b)
            an = a.node if len(A) < 2 or A[1] == c else _t(a.node)
            bn = b.node if len(B) < 2 or B[0] == c else _t(b.node)
            return MVal(MatMul(an, bn), tuple(a_only) + tuple(b_only))
        if batch and len(con) == 1 and len(a_only) == 1 and len(b_only) == 1:
            a, b = self.operand(a), self.operand(b)
            aa = self.permute(a, tuple(batch) + tuple(a_only) + tuple(con))
            bb = self.permute(b, tuple(batch) + tuple(con) + tuple(b_only))
            return MVal(MatMul(aa.node, bb.node), tuple(batch) + tuple(a_only) + tuple(b_only))
        # an elementwise product then a sum, when one operand's axes are the other's
        if set(A) <= set(B) or set(B) <= set(A):
            big, small = (a, b) if len(A) >= len(B) else (b, a)
            prod = MVal(Prod(Fraction(1), (big.node, self.align(small, big.axes).node), (),
                             len(big.axes)), big.axes)
            return self.reduce(prod, tuple(x for x in big.axes if x in keep))
        raise NoMatrixForm("it needs a general tensor contraction (einsum)")


def _arrange(factors: tuple[M, ...]) -> tuple[M, ...]:
    """Factors in reading order: scalars, then columns broadcast along rows (``v[:, None]``,
    i.e. ``diag(v) @``), the rest, and rows broadcast down columns (``v[None, :]``)."""
    def rank(f: M) -> int:
        if not f.ndim:
            return 0
        if isinstance(f, Bcast) and f.slots and f.slots[-1] is None:
            return 1
        if isinstance(f, Bcast) and f.slots and f.slots[0] is None:
            return 3
        return 2
    return tuple(sorted(factors, key=rank))


def _t(n: M) -> M:
    """Transpose, pushed into products: ``(A @ B).T = B.T @ A.T``."""
    if isinstance(n, T):
        return n.x
    if isinstance(n, MatMul) and n.a.ndim == 2 and n.b.ndim == 2:
        return MatMul(_t(n.b), _t(n.a))
    return T(n)


# ---------------------------------------------------------------- statements


@dataclass
class MatrixLine:
    """One line of a matrix-notation result.

    ``node`` is the matrix form (None when there is none: then ``reason`` says why,
    ``einsum`` gives the einsum form, and ``slices`` the matrix form of each slice when
    the result is a Kronecker delta times a matrix).
    """

    name: str
    node: M | None
    index_text: str = ""
    reason: str | None = None
    einsum: str | None = None
    #: for a Kronecker delta times a matrix: (the deltas, the matrix's two indices, its form)
    slice: "tuple[list[Delta], tuple[Index, ...], M] | None" = None
    #: an intermediate ricci named to keep lines short (``G = dY * (1 - Y^2)``)
    helper: bool = False
    #: the statement this line writes (for a helper: the statement it serves)
    statement: Statement | None = None


@dataclass
class Spelling:
    """How names print: ``display`` gives the text name of a tensor, ``latex`` its LaTeX."""

    display: Mapping[str, str] = field(default_factory=dict)
    adjoint_of: Mapping[str, str] = field(default_factory=dict)
    loss: str = "l"
    #: Jacobian tensors: name -> (numerator, denominator)
    jacobians: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def text(self, name: str) -> str:
        if name in self.jacobians:
            num, den = self.jacobians[name]
            if num in self.adjoint_of:  # the Jacobian of an adjoint
                return f"d(d{self.loss}/d{self.adjoint_of[num]})/d{den}"
            return f"d{num}/d{den}"
        return self.display.get(name, name)

    def latex(self, name: str) -> str:
        if name in self.jacobians:
            num, den = self.jacobians[name]
            if num in self.adjoint_of:
                inner = rf"\frac{{\partial {latex_name(self.loss)}}}{{\partial {latex_name(self.adjoint_of[num])}}}"
                return rf"\frac{{\partial}}{{\partial {latex_name(den)}}}\left({inner}\right)"
            return rf"\frac{{\partial {latex_name(num)}}}{{\partial {latex_name(den)}}}"
        if name in self.adjoint_of:
            return rf"\frac{{\partial {latex_name(self.loss)}}}{{\partial {latex_name(self.adjoint_of[name])}}}"
        return latex_name(name)


def latex_name(name: str) -> str:
    """A tensor name in LaTeX: ``X``, ``\\mu``, ``W_{2}``, ``\\mathit{dZ}``."""
    if name in GREEK:
        return "\\" + name
    if len(name) == 1:
        return name
    head = name.rstrip("0123456789")
    if len(head) == 1 and head != name:
        return f"{head}_{{{name[1:]}}}"
    if head in GREEK and head != name:
        return f"\\{head}_{{{name[len(head):]}}}"
    return r"\mathit{" + name.replace("_", r"\_") + "}"


def matrix_lines(statements: Sequence, taken: set[str], *, display: Mapping[str, str] | None = None,
                 like: Mapping[str, str] | None = None) -> list[MatrixLine]:
    """Matrix forms of ``statements`` in order, with named helpers where needed.

    ``like`` names, for a statement, a tensor of the same shape (a gradient's input), for
    a result that is a constant broadcast to that shape (``zeros_like(D)``)."""
    from .render import statement_text

    out: list[MatrixLine] = []
    names = set(taken)
    counter = [0]

    def bind(node: M, ndim: int) -> M:
        while True:
            counter[0] += 1
            nm = "G" if counter[0] == 1 else f"G{counter[0]}"
            if nm not in names:
                break
        names.add(nm)
        out.append(MatrixLine(nm, node, helper=True))
        return Var(nm, ndim)

    for st in statements:
        # a summed index never shares its name with a free one (einsum letters), and
        # size(k) names an index of its own dim (sizes are looked up by name)
        st = st.replace(_own_size_names(dim_collisions(
            rename_bound(st.rhs, {i.name for i in st.indices}), st.indices), st.indices))
        mark = len(out)
        try:
            node = _statement_node(st, bind, (like or {}).get(st.name, st.name))
            for helper in out[mark:]:
                helper.statement = st
            out.append(MatrixLine(st.name, node, statement=st))
        except NoMatrixForm as e:
            del out[mark:]  # helpers of a failed line are not needed
            rank = len(st.indices)
            reason = (f"a {rank}-index tensor: " if rank > 2 else "") + e.reason
            line = MatrixLine(st.name, None, reason=reason, einsum=einsum_text(st, display or {}),
                              statement=st)
            line.slice = _slices(st)
            out.append(line)
        out[-1].index_text = statement_text(st, (display or {}).get(st.name), reorder=True)
    return out


def _own_size_names(e: Expr, lhs: Sequence[Index]) -> Expr:
    """``e`` with each ``size(k)`` renamed, where the name k also denotes an index of
    another dim in the statement, to a name of its own dim (or a fresh one)."""
    dims_of: dict[str, set[str]] = {}
    by_dim: dict[str, str] = {}
    for n in [Tensor("", lhs)] + [n for n in walk(e) if isinstance(n, (Tensor, Delta, Sum))]:
        for i in n.indices:
            dims_of.setdefault(i.name, set()).add(i.dim)
            by_dim.setdefault(i.dim, i.name)
    sizes = [n.index for n in walk(e) if isinstance(n, Size)]
    ren: dict[Index, Index] = {}
    used = set(dims_of) | {k.name for k in sizes}
    for k in sizes:
        if k in ren or dims_of.get(k.name, {k.dim}) == {k.dim}:
            continue
        name = by_dim.get(k.dim) or fresh_name(used, successors(k.name))
        used.add(name)
        ren[k] = Index(name, k.dim)
    if not ren:
        return e
    return map_bottom_up(e, lambda n: Size(ren[n.index]) if isinstance(n, Size) and n.index in ren else n)


def _statement_node(st, bind, like: str | None = None) -> M:
    conv = _Converter(st.indices, bind)
    v = conv.conv(st.rhs)
    target = tuple(st.indices)
    missing = [i for i in target if i not in v.axes]
    if missing:
        present = tuple(i for i in target if i in v.axes)
        v = conv.permute(v, present) if v.axes else v
        if v.axes:
            v = conv.align(v, target) if len(target) <= 2 else _fail("a broadcast into three or more axes")
            return v.node
        return Like(v.node, like or st.name, len(target))
    return conv.permute(v, target).node


def _fail(reason: str):
    raise NoMatrixForm(reason)


def einsum_text(st, display: Mapping[str, str]) -> str | None:
    """``einsum('qj,ip->ijpq', A, I)`` for a right-hand side that is a sum of products of
    tensors and deltas (each term one einsum), else None."""
    terms = st.rhs.terms if isinstance(st.rhs, Add) else (st.rhs,)
    out = []
    for t in terms:
        coef = Fraction(1)
        body = t
        if isinstance(body, Sum):
            _idx, body = body.indices, body.body
        fs = body.factors if isinstance(body, Mul) else (body,)
        ops, specs = [], []
        for f in fs:
            if isinstance(f, Const):
                coef *= f.value
                continue
            if not isinstance(f, (Tensor, Delta)):
                return None
            ops.append(f.name if isinstance(f, Tensor) else "I")
            specs.append(f.indices)
        # letters: one per index; prefer the index's own name when it is one character
        used: dict[str, Index] = {}
        sym: dict[Index, str] = {}
        for ax in list(specs) + [st.indices]:
            for i in ax:
                if i in sym:
                    continue
                c = i.name if len(i.name) == 1 and i.name not in used else next(
                    oe.get_symbol(k) for k in range(200) if oe.get_symbol(k) not in used)
                used[c] = i
                sym[i] = c
        spec = ",".join("".join(sym[i] for i in ax) for ax in specs) + "->" + \
            "".join(sym[i] for i in st.indices)
        txt = f"einsum('{spec}', {', '.join(ops)})"
        if coef != 1:
            txt = f"{number_text(coef)} * {txt}"
        out.append(txt)
    return " + ".join(out).replace("+ -", "- ")


def _slices(st) -> "tuple[list[Delta], tuple[Index, ...], M] | None":
    """For ``delta[i,p] * E`` with E of at most two free indices: the deltas, E's indices
    and E's matrix form (each slice at fixed i, p is the delta times that matrix)."""
    rhs = st.rhs
    bound = set(rhs.indices) if isinstance(rhs, Sum) else set()
    body = rhs.body if isinstance(rhs, Sum) else rhs  # sum[j](2 * V[j,r] * V[j,s]) * delta[i,k]
    fs = body.factors if isinstance(body, Mul) else (body,)
    deltas = [f for f in fs if isinstance(f, Delta) and len(set(f.indices)) == 2
              and not set(f.indices) & bound]
    rest = [f for f in fs if f not in deltas]
    if not deltas or not rest:
        return None
    if bound:
        rest = [Sum(rhs.indices, rest[0] if len(rest) == 1 else Mul(rest))]
    fixed = [i for dl in deltas for i in dl.indices]
    inner = tuple(i for i in st.indices if i not in fixed)
    if len(inner) > 2 or any(i not in st.indices for i in fixed):
        return None
    sub = type(st)(st.name, inner, rest[0] if len(rest) == 1 else Mul(rest))
    try:
        node = _statement_node(sub, lambda n, d: _fail("nested"))
    except NoMatrixForm:
        return None
    return deltas, inner, node


def slice_text(ln: MatrixLine, name: str, notation: str = "text") -> str | None:
    """``for each j, l: [:,j,:,l] = delta[j,l] * X`` (``notation`` text or latex)."""
    if ln.slice is None:
        return None
    deltas, inner, node = ln.slice
    st = ln.statement
    assert st is not None  # matrix_lines gives a line with slices its statement
    where = ", ".join(i.name for dl in deltas for i in dl.indices)
    sl = ",".join(":" if i in inner else i.name for i in st.indices)
    if notation == "latex":
        dt = " ".join(rf"\delta_{{{a.name}{b.name}}}" for a, b in (dl.indices for dl in deltas))
        return rf"\text{{for each }} {where}:\ [{sl}] = {dt}\, {render_latex(node, Spelling())}"
    dt = " * ".join(f"delta[{a.name},{b.name}]" for a, b in (dl.indices for dl in deltas))
    return f"for each {where}: [{sl}] = {dt} * {render_text(node)}"


# ---------------------------------------------------------------- printing

ADD, MUL, UNARY, POW, ATOM = 1, 2, 3, 4, 5


NP, SIZES = "__np", "__sizes"  # reserved names in evaluable code


def py_name(name: str) -> str:
    """A tensor name as a Python identifier (``lambda`` -> ``lambda_``)."""
    return name + "_" if keyword.iskeyword(name) else name


class _Text:
    """Plain text (``numpy=False``) or NumPy code (``numpy=True``) of a node."""

    def __init__(self, numpy: bool, name: Callable[[str], str]) -> None:
        self.numpy = numpy
        self.name = name

    def fn(self, f: str) -> str:
        return (NP + "." + f) if self.numpy else f

    def go(self, n: M) -> tuple[str, int]:
        np_ = self.numpy
        if isinstance(n, Var):
            return self.name(n.name), ATOM
        if isinstance(n, Num):
            v = n.value
            s = (float_literal(abs(v)) if np_ else number_text(abs(v)))
            s = s if "/" not in s else f"({s})"
            return (f"-{s}", UNARY) if v < 0 else (s, ATOM)
        if isinstance(n, SizeOf):
            return (f"{SIZES}[{n.index!r}]" if np_ else f"size({n.index})"), ATOM
        if isinstance(n, Eye):
            return (f"{NP}.eye({SIZES}[{n.index!r}])" if np_ else "I"), ATOM
        if isinstance(n, T):
            s, p = self.go(n.x)
            s = s if p == ATOM else f"({s})"
            return (f"{s}.T" if n.x.ndim <= 2 else f"{s}.mT"), ATOM
        if isinstance(n, MatMul) and np_ and (isinstance(n.a, Diag) or isinstance(n.b, Diag)):
            # diag(w) @ B is w[:, None] * B and A @ diag(w) is A * w: no n x n matrix
            if isinstance(n.a, Diag):
                w, pw = self.go(n.a.x)
                b, pb = self.go(n.b)
                wb = f"{w if pw == ATOM else f'({w})'}[:, None]" if n.b.ndim == 2 else w
                return f"({wb} * {b if pb >= POW else f'({b})'})", ATOM
            assert isinstance(n.b, Diag)  # n.a is not diag(w), so n.b is (the condition above)
            a, pa = self.go(n.a)
            w, pw = self.go(n.b.x)
            return f"({a if pa >= POW else f'({a})'} * {w if pw >= POW else f'({w})'})", ATOM
        if isinstance(n, MatMul):
            a, pa = self.go(n.a)
            b, pb = self.go(n.b)
            # a chain A @ (B @ C) is written A @ B @ C when B is a matrix (associativity)
            a = a if pa >= POW or (pa == MUL and isinstance(n.a, MatMul)) else f"({a})"
            b = b if pb >= POW or (pb == MUL and _chains(n.b)) else f"({b})"
            return f"{a} @ {b}", MUL
        if isinstance(n, Prod):
            return self.prod(n)
        if isinstance(n, Plus):
            out = ""
            for k, (sign, t) in enumerate(n.terms):
                s, p = self.go(t)
                if p == UNARY and k > 0:
                    s, p = f"({s})", ATOM
                if k == 0:
                    out = (f"-{s}" if p > ADD else f"-({s})") if sign < 0 else s
                else:
                    out += (" - " if sign < 0 else " + ") + (s if p > ADD else f"({s})")
            return out, ADD
        if isinstance(n, Fn):
            s, _ = self.go(n.x)
            if np_:
                template = FUNCTIONS[n.fn].code["numpy"]
                code = template.replace("np.", NP + ".").format(f"({s})")
                return (code if one_call(template) else f"({code})"), ATOM
            return f"{n.fn}({s})", ATOM
        if isinstance(n, PowM):
            b, pb = self.go(n.x)
            x, px = self.go(n.exp)
            b = b if pb == ATOM else f"({b})"
            x = x if px == ATOM else f"({x})"
            return f"{b} {'**' if np_ else '^'} {x}" if np_ else f"{b}^{x}", POW
        if isinstance(n, Reduce):
            s, _ = self.go(n.x)
            if len(n.axes) == n.x.ndim:
                return f"{self.fn('sum')}({s})", ATOM
            ax = str(n.axes[0]) if len(n.axes) == 1 else str(tuple(n.axes))
            return f"{self.fn('sum')}({s}, axis={ax})", ATOM
        if isinstance(n, Trace):
            return self.matfunc(TRACE, self.go(n.x)[0]), ATOM
        if isinstance(n, MatFunc):
            return self.matfunc(n.fn, self.go(n.x)[0]), ATOM
        if isinstance(n, (DiagOf, Diag)):
            return f"{self.fn('diag')}({self.go(n.x)[0]})", ATOM
        if isinstance(n, Outer):
            return f"{self.fn('outer')}({self.go(n.u)[0]}, {self.go(n.v)[0]})", ATOM
        if isinstance(n, Bcast):
            s, p = self.go(n.x)
            s = s if p == ATOM else f"({s})"
            return f"{s}[{', '.join(':' if x else 'None' for x in n.slots)}]", ATOM
        if isinstance(n, Like):
            s, p = self.go(n.x)
            like = self.name(n.like)
            if np_:
                return f"{NP}.broadcast_to({s}, {like}.shape)", ATOM
            if isinstance(n.x, Num) and n.x.value in (0, 1):
                return f"{'zeros' if n.x.value == 0 else 'ones'}_like({like})", ATOM
            return f"{s if p >= MUL else f'({s})'} * ones_like({like})", MUL
        raise AssertionError(type(n).__name__)  # pragma: no cover

    def matfunc(self, fn: str, operand: str) -> str:
        """A matrix function of an operand's text: ``inv(A)``, ``np.linalg.inv(A)``."""
        if self.numpy:
            return MATRIX_FUNCTIONS[fn].code["numpy"].replace("np.", NP + ".").format(operand)
        return f"{fn}({operand})"

    def prod(self, n: Prod) -> tuple[str, int]:
        parts = []
        for f in n.factors:
            s, p = self.go(f)
            parts.append(s if p >= POW else f"({s})")
        c = abs(n.coef)
        if c != 1 or not parts:
            cs = float_literal(c) if self.numpy else number_text(c)
            parts.insert(0, cs if "/" not in cs else f"({cs})")
        out = " * ".join(parts)
        for d in n.divisors:
            s, p = self.go(d)
            out += " / " + (s if p >= POW else f"({s})")
        if n.coef < 0:  # -(a * b) is (-a) * b: no parentheses needed
            return "-" + out, UNARY
        return out, (MUL if len(parts) > 1 or n.divisors else ATOM)


def render_text(n: M, name: Callable[[str], str] = lambda s: s) -> str:
    """``dY @ A.T``, ``sum(dZ, axis=0)``, ``A * v[None, :]``."""
    return _Text(False, name).go(n)[0]


def render_numpy(n: M, name: Callable[[str], str] = lambda s: s) -> str:
    """The same as NumPy code: the module is ``__np``, sizes come from ``__sizes[index]``
    (names no program can use for a tensor)."""
    return _Text(True, name).go(n)[0]


# -- LaTeX


def _latex_num(v: Fraction) -> str:
    v = abs(v)
    if v.denominator == 1:
        return integer_text(v.numerator)
    s = number_text(v)
    return s if "/" not in s else rf"\frac{{{integer_text(v.numerator)}}}{{{integer_text(v.denominator)}}}"


class _Latex:
    def __init__(self, sp: Spelling) -> None:
        self.sp = sp

    def paren(self, s: str, p: int, above: int) -> str:
        return s if p > above else rf"\left({s}\right)"

    def base(self, n: M) -> str:
        """``n`` as the base of a superscript: parenthesised unless atomic (a fraction
        such as dl/dY is atomic in a product, but not under ``^T``)."""
        s, p = self.go(n)
        return s if p >= ATOM and not s.startswith(r"\frac") else rf"\left({s}\right)"

    def go(self, n: M) -> tuple[str, int]:
        if isinstance(n, Var):
            return self.sp.latex(n.name), ATOM
        if isinstance(n, Num):
            s = _latex_num(n.value)
            return (f"-{s}", UNARY) if n.value < 0 else (s, ATOM)
        if isinstance(n, SizeOf):
            return rf"\operatorname{{size}}({n.index})", ATOM
        if isinstance(n, Eye):
            return "I", ATOM
        if isinstance(n, T):
            if isinstance(n.x, MatFunc) and MATRIX_FUNCTIONS[n.x.fn].latex_transposed:  # A^{-T}
                return MATRIX_FUNCTIONS[n.x.fn].latex_transposed.format(self.base(n.x.x)), POW
            return f"{self.base(n.x)}^{{T}}", POW
        if isinstance(n, MatFunc):
            spelled = MATRIX_FUNCTIONS[n.fn].latex.format(self.base(n.x))
            return spelled, (POW if n.ndim else ATOM)
        if isinstance(n, MatMul):
            a, pa = self.go(n.a)
            b, pb = self.go(n.b)
            if n.a.ndim == 1 and n.b.ndim >= 2:  # x @ A = A^T x
                bt, pt = self.go(_t(n.b))
                return f"{self.paren(bt, pt, MUL - 1)} {self.paren(a, pa, MUL)}", MUL
            if n.a.ndim == 1 and n.b.ndim == 1:
                return f"{self.base(n.a)}^{{T}} {self.paren(b, pb, MUL)}", MUL
            # a chain A (B C) is written A B C when B is a matrix
            b = b if _chains(n.b) else self.paren(b, pb, MUL)
            return f"{self.paren(a, pa, MUL - 1)} {b}", MUL
        if isinstance(n, Prod):
            return self.prod(n)
        if isinstance(n, Plus):
            out = ""
            for k, (sign, t) in enumerate(n.terms):
                s, p = self.go(t)
                if k == 0:
                    out = ("-" + self.paren(s, p, ADD)) if sign < 0 else s
                else:
                    out += (" - " if sign < 0 else " + ") + self.paren(s, p, ADD)
            return out, ADD
        if isinstance(n, Fn):
            s, _ = self.go(n.x)
            return self.function(n.fn, s), ATOM
        if isinstance(n, PowM):
            b, pb = self.go(n.x)
            x, _ = self.go(n.exp)
            circ = r"\circ " if n.ndim else ""
            if isinstance(n.exp, Num) and n.exp.value == Fraction(1, 2):
                return (self.function(SQRT, b) if not n.ndim else rf"{self.base(n.x)}^{{\circ 1/2}}"), ATOM
            return f"{self.base(n.x)}^{{{circ}{x}}}", POW
        if isinstance(n, Reduce):
            s, p = self.go(n.x)
            one = r"\mathbf{1}"
            if n.x.ndim == 1:
                return f"{one}^{{T}} {self.paren(s, p, MUL)}", MUL
            if n.x.ndim == 2 and n.axes == (0,):
                return f"{one}^{{T}} {self.paren(s, p, MUL)}", MUL
            if n.x.ndim == 2 and n.axes == (1,):
                return f"{self.paren(s, p, MUL)} {one}", MUL
            if n.x.ndim == 2:
                return f"{one}^{{T}} {self.paren(s, p, MUL)} {one}", MUL
            ax = ",".join(str(a) for a in n.axes)
            return rf"\textstyle\sum_{{\text{{axis }} {ax}}} {self.paren(s, p, MUL)}", MUL
        if isinstance(n, Trace):
            return MATRIX_FUNCTIONS[TRACE].latex.format(self.go(n.x)[0]), ATOM
        if isinstance(n, (DiagOf, Diag)):
            return rf"\operatorname{{diag}}\left({self.go(n.x)[0]}\right)", ATOM
        if isinstance(n, Outer):
            u, pu = self.go(n.u)
            return f"{self.paren(u, pu, MUL)} {self.base(n.v)}^{{T}}", MUL
        if isinstance(n, Bcast):
            s, p = self.go(n.x)
            if n.x.ndim == 1 and len(n.slots) == 2:
                one = r"\mathbf{1}"
                if n.slots[0] == ":":  # v[:, None]: v 1^T
                    return f"{self.paren(s, p, MUL)} {one}^{{T}}", MUL
                return f"{one} {self.base(n.x)}^{{T}}", MUL
            return s, p  # broadcasting over leading axes: implied, as in NumPy
        if isinstance(n, Like):
            s, p = self.go(n.x)
            one = r"\mathbf{1}"
            if isinstance(n.x, Num) and n.x.value in (0, 1):
                return rf"\mathbf{{{n.x.value}}}", ATOM
            return f"{self.paren(s, p, MUL)} {one}", MUL
        raise AssertionError(type(n).__name__)  # pragma: no cover

    def function(self, fn: str, arg: str) -> str:
        """``fn(arg)`` in the function's matrix-notation spelling (``#1``: a template)."""
        spelled = FUNCTIONS[fn].matrix_latex
        return spelled.replace("#1", arg) if "#1" in spelled else rf"{spelled}\left({arg}\right)"

    def prod(self, n: Prod) -> tuple[str, int]:
        r"""``c s A``; a vector broadcast along the rows (columns) of a matrix is written
        ``diag(v) A`` (``A diag(v)``), other elementwise products with ``\odot``."""
        mats = [f for f in n.factors if f.ndim]
        scal = [f for f in n.factors if not f.ndim]
        plain = [f for f in mats if not _vec_bcast(f)]
        use_diag = n.ndim == 2 and len(plain) >= 1
        left: list[str] = []
        right: list[str] = []
        had: list[str] = []
        for f in mats:
            if use_diag and _vec_bcast(f):
                d = rf"\operatorname{{diag}}\left({self.go(f.x)[0]}\right)"
                (left if f.slots[0] == ":" else right).append(d)
            else:
                s, p = self.go(f)
                had.append(self.paren(s, p, MUL))
        core = r" \odot ".join(had)
        if len(had) > 1 and (left or right or scal or n.coef != 1):
            core = rf"\left({core}\right)"
        parts = ([_latex_num(n.coef)] if abs(n.coef) != 1 else [])
        parts += [self.paren(*self.go(f), MUL) for f in scal] + left + ([core] if core else []) + right
        num = " ".join(parts) or "1"
        if n.divisors:
            dens = [self.paren(*self.go(d), MUL) for d in n.divisors]
            if any(d.ndim for d in n.divisors):
                out = num + "".join(rf" \oslash {d}" for d in dens)
            else:
                out = rf"\frac{{{num}}}{{{' '.join(dens)}}}"
        else:
            out = num
        if n.coef < 0:
            return "-" + out, UNARY
        return out, MUL


def _chains(n: M) -> bool:
    """``A @ (B @ C)`` may drop its parentheses: B @ C is a product whose left operand is
    a matrix (with a vector there the grouping decides the shapes)."""
    return isinstance(n, MatMul) and n.a.ndim >= 2


def _vec_bcast(f: M) -> TypeGuard[Bcast]:
    return isinstance(f, Bcast) and f.x.ndim == 1 and len(f.slots) == 2


def render_latex(n: M, sp: Spelling) -> str:
    return _Latex(sp).go(n)[0]


# ---------------------------------------------------------------- the view


class MatrixView:
    """The matrix-notation view of a derivation: ``str()`` is plain text, :meth:`latex`
    the LaTeX (an ``aligned`` block), :attr:`lines` the parts."""

    def __init__(self, lines: list[MatrixLine], spelling: Spelling) -> None:
        self.lines = lines
        self.spelling = spelling

    def line_text(self, ln: MatrixLine) -> str:
        name = self.spelling.text(ln.name)
        if ln.node is not None:
            return f"{name} = {render_text(ln.node)}"
        out = [ln.index_text, f"  no matrix form ({ln.reason})"]
        if ln.einsum:
            out.append(f"  einsum form: {name} = {ln.einsum}")
        if ln.slice:
            out.append(f"  slices: {slice_text(ln, name)}")
        return "\n".join(out)

    def __str__(self) -> str:
        return "\n".join(self.line_text(ln) for ln in self.lines)

    def code(self, ln: MatrixLine) -> str | None:
        """NumPy code of a line's matrix form (a tensor named like a Python keyword gets a
        trailing ``_``: ``lambda_``; the module is ``__np``, sizes come from
        ``__sizes[index]``, helpers of the function table keep their names: see
        :meth:`namespace`)."""
        return None if ln.node is None else render_numpy(ln.node, py_name)

    @staticmethod
    def namespace(sizes: Mapping[str, int]) -> dict[str, Any]:
        """The globals the code of :meth:`code` reads, for index sizes ``sizes``."""
        ns = runtime("numpy")
        return {**ns, NP: ns["np"], SIZES: dict(sizes)}

    def latex_lines(self) -> list[str]:
        out = []
        for ln in self.lines:
            lhs = self.spelling.latex(ln.name) if not ln.helper else latex_name(ln.name)
            if ln.node is not None:
                out.append(f"{lhs} &= {render_latex(ln.node, self.spelling)}")
            elif ln.slice:
                out.append(rf"&\text{{(no matrix form: {latex_text(ln.reason or '')})}}\ "
                           f"{slice_text(ln, ln.name, 'latex')}")
            else:
                out.append(rf"&\text{{(no matrix form: {latex_text(ln.reason or '')})}}")
        return out

    def latex(self) -> str:
        return latex_equations(self.latex_lines())

    def __repr__(self) -> str:
        return str(self)

    def _repr_latex_(self) -> str:
        return "$$" + self.latex() + "$$"


#: a derivation does not change: its matrix view is computed once (records compare and
#: hash by identity, and the cache does not keep a dropped derivation alive)
_VIEWS: "weakref.WeakKeyDictionary[DerivationRecord, MatrixView]" = weakref.WeakKeyDictionary()


def matrix_view(d: DerivationRecord) -> MatrixView:
    """The matrix-notation view of the derivation ``d``."""
    view = _VIEWS.get(d)
    if view is None:
        jac = {name: (num, den) for name, (num, _, den) in d.refs.items()}
        lines = matrix_lines(d.shown, set(d.program.dims), display=d.display, like=d.reverse.adjoint_of)
        view = _VIEWS[d] = MatrixView(lines, Spelling(d.display, d.reverse.adjoint_of, d.loss, jac))
    return view
