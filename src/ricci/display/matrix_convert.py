"""Index notation -> the matrix-expression tree (:mod:`.matrix_algebra`), where it exists.

:func:`statement_node` converts a statement's right-hand side, in the "gradient has the
shape of its input" convention: ``dX[i,k] = dY[i,j] * A[k,j]`` becomes ``dY @ A.T``. The
converter tracks the index of each axis, as the lowering does for code: contractions are
paired in opt_einsum's order (:func:`ricci.codegen.lower.contract_pairwise`) and each
pair must be a (batched) matrix product, an elementwise product, or an elementwise
product then a sum.

Invariants: a form is produced only if it is exact; anything else (a general tensor
contraction, a permutation of more than two axes, an outer product or broadcast into
three or more axes) raises :class:`~.matrix_algebra.NoMatrixForm` with the reason.
Operands of ``@`` that are not plain variables are handed to ``bind``, which names them.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Callable, Mapping, Sequence

from ..codegen.contract import contract_pairwise, split_axes
from ..ir.expr import (
    Add,
    Call,
    Const,
    Delta,
    Expr,
    Index,
    MatFn,
    Mul,
    Pow,
    Size,
    Sum,
    Tensor,
    Transposed,
)
from ..ir.traversal import index_occurrences, walk
from ..primitives.functions import MATRIX_FUNCTIONS
from ..simplify.coefficients import split_coef, with_coef
from .matrix_algebra import (
    FULL,
    Axes,
    Bcast,
    Diag,
    DiagOf,
    Eye,
    Fn,
    Like,
    M,
    MatFunc,
    MatMul,
    NoMatrixForm,
    Num,
    Outer,
    Plus,
    PowM,
    Prod,
    Reduce,
    SizeOf,
    T,
    Trace,
    Var,
    map_children,
    numpy_shape,
    transpose,
)

__all__ = ["no_matrix_form", "statement_node"]


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

    def __init__(self, want: Axes, bind: Callable[[M, int], M], size_names: Mapping[str, str]) -> None:
        self.want = want
        self.bind = bind
        self.size_names = size_names  # dim -> printed text of its size
        self.eye_names: dict[str, str] = {}  # index name -> printed text of its size

    def size_of(self, k: Index) -> SizeOf:
        return SizeOf(k.name, label=self.size_names.get(k.dim, ""))

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
            return MVal(transpose(v.node) if n == 2 else (v.node.x if isinstance(v.node, T) else T(v.node)),
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
            return MVal(self.size_of(e.index), ())
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
            axes = _union([v.axes for _, v in vals])
            target = self.order(axes)
            if len(axes) == 2 and not set(axes) <= set(self.want):
                # an operand of a contraction (the residual X @ W - Y of a least-squares
                # gradient): in the order its tensors have (Y[n,k]), not the result's
                first, second = axes
                votes = sum((1 if t.indices.index(first) < t.indices.index(second) else -1)
                            for t in walk(e) if isinstance(t, Tensor) and first in t.indices and second in t.indices)
                target = (first, second) if votes > 0 else (second, first) if votes < 0 else target
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
        extra = [s.node for s in scalars] + [self.size_of(k) for k in missing]
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
        an = a.node if a.axes[1] == c else transpose(a.node)
        bn = b.node if b.axes[0] == c else transpose(b.node)
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
        return v if _simple(v.node) else MVal(self.bind(sized_identity(v.node, self.eye_names), len(v.axes)),
                                              v.axes)

    def binary(self, a: MVal, b: MVal, keep: set[Index]) -> MVal:
        a = self.reduce(a, tuple(x for x in a.axes if x in keep or x in b.axes))
        b = self.reduce(b, tuple(x for x in b.axes if x in keep or x in a.axes))
        A, B = a.axes, b.axes
        batch, con, a_only, b_only = split_axes(A, B, keep)
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
            an = a.node if len(A) < 2 or A[1] == c else transpose(a.node)
            bn = b.node if len(B) < 2 or B[0] == c else transpose(b.node)
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


def statement_node(st, bind, like: str | None = None, size_names: Mapping[str, str] | None = None) -> M:
    """The matrix form of ``st``'s right-hand side, with exactly the statement's shape:
    where NumPy would give fewer or size-1 axes (``sum(A, axis=1)`` for an I x K
    gradient), the form says how it is broadcast (:class:`Like`: ``* ones_like(X)``)."""
    conv = _Converter(st.indices, bind, size_names or {})
    conv.eye_names = {i.name: (size_names or {}).get(i.dim, "")
                      for i in list(st.indices) + list(index_occurrences(st.rhs))}
    v = conv.conv(st.rhs)
    target = tuple(st.indices)
    missing = [i for i in target if i not in v.axes]
    if missing:
        present = tuple(i for i in target if i in v.axes)
        v = conv.permute(v, present) if v.axes else v
        if v.axes:
            v = conv.align(v, target) if len(target) <= 2 else no_matrix_form("a broadcast into three or more axes")
    else:
        v = conv.permute(v, target)
    shape = numpy_shape(v.node)
    if shape is None:
        no_matrix_form("its matrix form would not have the statement's shape")
    if shape != (FULL,) * len(target):
        if like is None or like == st.name:  # no tensor of its shape to name: its sizes
            return Like(sized_identity(v.node, conv.eye_names), None, len(target), tuple(i.name for i in target),
                        tuple((size_names or {}).get(i.dim, "") for i in target))
        return Like(sized_identity(v.node, conv.eye_names), like, len(target))
    return sized_identity(v.node, conv.eye_names)


def _eyeish(n: M) -> bool:
    """``I``, ``I.T`` or a number times one (``2 * I``): an identity of a size not its own."""
    if isinstance(n, T):
        return isinstance(n.x, Eye)
    if isinstance(n, Prod):
        eyes = [f for f in n.factors if _eyeish(f)]
        return len(eyes) == 1 and all(not f.ndim for f in n.factors + n.divisors if f is not eyes[0])
    return isinstance(n, Eye)


def _sizes(n: M) -> bool:
    """Whether ``n``, beside an identity, gives it its size (a whole matrix)."""
    return not _eyeish(n) and numpy_shape(n) == (FULL, FULL)


def sized_identity(n: M, names: Mapping[str, str], given: bool = False) -> M:
    """``n`` with each identity nothing beside it gives the size of written with its size
    (``names``: index -> printed size): ``dA = eye(size(i))``, ``2 * eye(size(i))``,
    ``exp(eye(size(i)))``, while ``A + I``, ``A + 2 * I``, ``I @ v`` and ``A * I`` keep ``I``
    (a term of a sum only where the terms NumPy adds it to first make a whole matrix).
    ``given``: the context gives the size (``n`` is a term, factor or operand beside one)."""
    def rec(c: M, ctx: bool = False) -> M:
        return sized_identity(c, names, ctx)
    if isinstance(n, Eye):
        return n if given else Eye(n.index, sized=True, label=names.get(n.index, ""))
    if isinstance(n, T) and isinstance(n.x, Eye):
        return n if given else rec(n.x)  # the identity is its own transpose
    if isinstance(n, Plus):
        # NumPy adds left to right: a term is sized by the whole matrix the terms before it
        # add up to (the first by the second term); -I - s[:, None] - X would add I to a
        # column first
        terms = n.terms
        alone = given and all(_eyeish(t) for _, t in terms)  # (I + 2 * I) beside a matrix
        out = []
        for k, (sg, t) in enumerate(terms):
            ctx = alone or (any(_sizes(u) for _, u in terms[:k]) if k else len(terms) > 1 and _sizes(terms[1][1]))
            out.append((sg, rec(t, ctx and _eyeish(t))))
        return Plus(tuple(out), n.ndim)
    if isinstance(n, Prod):  # multiplied left to right too
        fs = n.factors
        alone = given and all(_eyeish(f) or f.ndim == 0 for f in fs)  # 4 * s * I beside a matrix
        return Prod(n.coef, tuple(rec(f, _eyeish(f) and (alone or (
            any(_sizes(u) for u in fs[:k]) if k else len(fs) > 1 and _sizes(fs[1])))) for k, f in enumerate(fs)),
                    tuple(rec(f) for f in n.divisors), n.ndim)
    if isinstance(n, MatMul):
        return MatMul(rec(n.a, n.b.ndim >= 1 and not _eyeish(n.b)), rec(n.b, n.a.ndim >= 1 and not _eyeish(n.a)))
    return map_children(n, rec)


def no_matrix_form(reason: str):
    raise NoMatrixForm(reason)

