"""Index notation -> matrix notation, where it exists: the lines of a derivation's matrix view.

:func:`matrix_lines` gives each statement its matrix form (a tree of
:mod:`.matrix_algebra`, built by :mod:`.matrix_convert`) in the "gradient has the shape of
its input" convention: ``dX[i,k] = dY[i,j] * A[k,j]`` becomes ``dX = dY @ A.T``.
:class:`MatrixView` prints the lines (plain text, NumPy code and LaTeX, by
:mod:`.matrix_render`) and :func:`matrix_view` gives a derivation's view, computed once.

Invariants:

* a form is produced only if it is exact: when a contraction needs a general tensor
  product (``tensordot``/``einsum``), or the result is an outer product into three or
  more axes (a raw Jacobian ``A[q,j] * delta[i,p]``), the line has no form, its reason,
  the einsum form instead (:func:`einsum_text`) and, for a delta times a matrix, the
  matrix form of each slice;
* operands of ``@`` that are not plain variables are named first (``G = dY * (1 - Y^2)``,
  then ``dW = X.T @ G``: helper lines), so no line is one giant expression.
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from fractions import Fraction
from functools import partial
from typing import Any, Callable, Mapping, Sequence

import opt_einsum as oe

from ..calculus.record import DerivationRecord
from ..ir.expr import Add, Const, Delta, Expr, Index, Mul, Size, Sum, Tensor
from ..ir.indices import fresh_name, rename_bound, successors
from ..ir.program import Statement
from ..ir.traversal import map_bottom_up, walk
from ..primitives.functions import runtime
from ..primitives.numbers import number_text
from .implicit_sums import dim_collisions
from .matrix_algebra import M, NoMatrixForm, Var
from .matrix_convert import no_matrix_form, statement_node
from .matrix_render import NP, SIZES, Spelling, py_name, render_latex, render_numpy, render_text
from .notation import LATEX, latex_equations, latex_symbol, latex_text
from .render import statement_text

__all__ = ["MatrixLine", "MatrixView", "matrix_view"]


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



def matrix_lines(statements: Sequence, taken: set[str], *, display: Mapping[str, str] | None = None,
                 like: Mapping[str, str] | None = None,
                 dim_names: Mapping[str, Sequence[str]] | None = None,
                 name: Callable[[str], str] = lambda s: s) -> list[MatrixLine]:
    """Matrix forms of ``statements`` in order, with named helpers where needed.

    ``like`` names, for a statement, a tensor of the same shape (a gradient's input), for
    a result that is a constant broadcast to that shape (``zeros_like(D)``); ``dim_names``
    the names the program gives each dim, for the sizes of a result no tensor has the
    shape of (``zeros((size(n), size(n)))``: a reader knows the program's index names)."""
    out: list[MatrixLine] = []
    names = set(taken)
    counter = [0]

    def bind(node: M, ndim: int) -> M:
        for ln in out:  # the same operand again (G = c + X @ b twice): the name it has
            if ln.helper and ln.node == node:
                return Var(ln.name, ndim)
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
            node = statement_node(st, bind, (like or {}).get(st.name, st.name),
                                  _size_names(st, dim_names or {}))
            for helper in out[mark:]:
                helper.statement = st
            out.append(MatrixLine(st.name, node, statement=st))
        except NoMatrixForm as e:
            del out[mark:]  # helpers of a failed line are not needed
            rank = len(st.indices)
            reason = (f"a {rank}-index tensor: " if rank > 2 else "") + e.reason
            size_of = _size_names(st, dim_names or {}, every=True)
            line = MatrixLine(st.name, None, reason=reason, statement=st,
                              einsum=einsum_text(st, display or {}, name, partial(_size_call, size_of)))
            line.slice = _slices(st)
            out.append(line)
        out[-1].index_text = statement_text(st, (display or {}).get(st.name), reorder=True)
    return out


def _size_call(size_of: Mapping[str, str], i: Index) -> str:
    return f"size({size_of[i.dim]})"


def _size_names(st: Statement, dim_names: Mapping[str, Sequence[str]], every: bool = False) -> dict[str, str]:
    """Each dim of ``st``'s left-hand side (``every``: of every index in ``st``) -> the
    name ``size()`` calls it by: the first name the program gives the dim, unless an
    index of another dim in ``st`` has it."""
    indices = [i for n in [Tensor("", st.indices)] + [n for n in walk(st.rhs)
               if isinstance(n, (Tensor, Delta, Sum))] for i in n.indices]
    taken = {i.name: i.dim for i in indices}
    out: dict[str, str] = {}
    for i in (indices if every else st.indices):
        if i.dim in out:
            continue
        # a name the program gives this dim only (not also to another dim elsewhere)
        names = [n for n in dim_names.get(i.dim, ()) if not n.startswith("#")
                 and all(d == i.dim for d, ns in dim_names.items() if n in ns)]
        out[i.dim] = next((n for n in names if taken.get(n, i.dim) == i.dim), i.name)
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



def _operand_text(f: Expr, order: Sequence[Index], name: Callable[[str], str]) -> tuple[str, tuple[Index, ...]] | None:
    """A factor of an einsum that is not a tensor (``1 - y[i]``, ``exp(z[n,k])``): its
    matrix form, in parentheses, with its indices in the order of ``order`` then the
    others; None where it has none (three or more indices, a contraction needing a name)."""
    free = [i for i in order if i in f.free] + sorted((i for i in f.free if i not in order), key=lambda i: i.name)
    if len(free) > 2 or len({i.name for i in free}) < len(free):
        return None
    try:
        node = statement_node(Statement("_", tuple(free), f), lambda n, d: no_matrix_form("nested"))
    except NoMatrixForm:
        return None
    return f"({render_text(node, name)})", tuple(free)


def einsum_text(st, display: Mapping[str, str], name: Callable[[str], str] = lambda s: s,
                size_name: Callable[[Index], str] = lambda i: i.name) -> str | None:
    """``einsum('qj,ip->ijpq', A, eye(size(i)))`` for a right-hand side that is a sum of
    products of tensors and deltas (each term one einsum), else None. Every operand is
    defined where it is printed: a tensor by ``name``, a delta as the identity of its
    size, and an index no operand carries as ``ones((size(n),))``."""
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
            if not isinstance(f, (Tensor, Delta)):  # (1 - y[i]): its own matrix form, if it has one
                operand = _operand_text(f, st.indices, name)
                if operand is None:
                    return None
                ops.append(operand[0])
                specs.append(operand[1])
                continue
            ops.append(name(f.name) if isinstance(f, Tensor) else f"eye({size_name(f.indices[0])})")
            specs.append(f.indices)
        for i in st.indices:  # einsum('ip->nip', ...) is refused: n must come from an operand
            if not any(i in ax for ax in specs):
                ops.append(f"ones(({size_name(i)},))")
                specs.append((i,))
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
        node = statement_node(sub, lambda n, d: no_matrix_form("nested"))
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
    if notation == "latex":  # names as the index view spells them
        where = ", ".join(LATEX.index(i.name) for dl in deltas for i in dl.indices)
        sl = ",".join(":" if i in inner else LATEX.index(i.name) for i in st.indices)
        dt = " ".join(LATEX.delta([a.name, b.name]) for a, b in (dl.indices for dl in deltas))
        return rf"\text{{for each }} {where}:\ [{sl}] = {dt}\, {render_latex(node, Spelling())}"
    dt = " * ".join(f"delta[{a.name},{b.name}]" for a, b in (dl.indices for dl in deltas))
    return f"for each {where}: [{sl}] = {dt} * {render_text(node)}"


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
            return f"{name} = {render_text(ln.node, self.spelling.text)}"
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
            lhs = self.spelling.latex(ln.name) if not ln.helper else latex_symbol(ln.name)
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
        sp = Spelling(d.display, d.reverse.adjoint_of, d.loss, jac)
        lines = matrix_lines(d.shown, set(d.program.dims), display=d.display, like=d.reverse.adjoint_of,
                             dim_names=d.source_program.dim_names, name=sp.text)
        view = _VIEWS[d] = MatrixView(lines, sp)
    return view
