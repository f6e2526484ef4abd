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
from ..ir.expr import Add, Call, Const, Delta, Expr, Index, MatFn, Mul, Pow, Size, Sum, Tensor
from ..ir.indices import fresh_name, rename_bound, successors
from ..ir.program import Program, Statement, symmetric_inputs
from ..ir.traversal import map_bottom_up, walk
from ..primitives.functions import runtime
from ..primitives.numbers import number_text
from .implicit_sums import dim_collisions
from .matrix_algebra import Eye, M, MatFunc, NoMatrixForm, T, Var, map_children, nodes
from .matrix_convert import no_matrix_form, statement_node
from .matrix_render import MATRIX_WORDS, NP, SIZES, Spelling, py_name, render_latex, render_numpy, render_text
from .notation import LATEX, latex_equations, latex_symbol, latex_text
from .render import statement_text, text_adjoints

__all__ = ["MatrixLine", "MatrixView", "matrix_view", "program_matrix_view"]


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
                 axes: Mapping[str, str] | None = None,
                 symmetric: frozenset[str] = frozenset(),
                 name: Callable[[str], str] = lambda s: s) -> list[MatrixLine]:
    """Matrix forms of ``statements`` in order, with named helpers where needed.

    ``like`` names, for a statement, a tensor of the same shape (a gradient's input), for
    a result that is a constant broadcast to that shape (``zeros_like(D)``); ``dim_names``
    the names the program gives each dim, for the sizes of a result no tensor has the
    shape of (``zeros((size(n), size(n)))``: a reader knows the program's index names),
    ``axes`` a tensor axis of each dim for a dim the program has no name of its own for
    (:func:`dim_axes`); ``symmetric`` the inputs declared symmetric, whose transposes (and
    their inverses') are written as the matrix itself."""
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
                                  _size_names(st, dim_names or {}, axes))
            for helper in out[mark:]:
                helper.statement = st
                assert helper.node is not None  # a helper is a matrix form
                helper.node = _untransposed(helper.node, symmetric)
            out.append(MatrixLine(st.name, _untransposed(node, symmetric), statement=st))
        except NoMatrixForm as e:
            del out[mark:]  # helpers of a failed line are not needed
            rank = len(st.indices)
            reason = (f"a {rank}-index tensor: " if rank > 2 else "") + e.reason
            size_of = _size_names(st, dim_names or {}, axes)
            line = MatrixLine(st.name, None, reason=reason, statement=st,
                              einsum=einsum_text(st, display or {}, name, size_of))
            line.slice = _slices(st)
            out.append(line)
        out[-1].index_text = statement_text(st, (display or {}).get(st.name), reorder=True)
    return out


def _untransposed(n: M, symmetric: frozenset[str]) -> M:
    """``n`` with ``S.T`` and ``inv(S).T`` written ``S`` and ``inv(S)`` for ``S`` symmetric."""
    if not symmetric:
        return n
    if isinstance(n, T):
        x = n.x.x if isinstance(n.x, MatFunc) else n.x
        if isinstance(x, Var) and x.name in symmetric and n.x.ndim == 2:
            return n.x
    return map_children(n, partial(_untransposed, symmetric=symmetric))


def _size_call(size_of: Mapping[str, str], i: Index) -> str:
    return size_of.get(i.dim) or f"size({i.name})"


def _size_names(st: Statement, dim_names: Mapping[str, Sequence[str]],
                axes: Mapping[str, str] | None = None) -> dict[str, str]:
    """Each dim of an index in ``st`` -> the printed text of its size: ``size(k)`` by the
    first name the program gives the dim only (not another dim too), unless an index of
    another dim in ``st`` has that name; else by the statement's name of it if the program
    gives the dim that name; else ``X.shape[0]`` by ``axes`` (a tensor axis of the dim);
    else by a name the program gives the dim (and others); else by the statement's name."""
    indices = [i for n in [Tensor("", st.indices)] + [n for n in walk(st.rhs)
               if isinstance(n, (Tensor, Delta, Sum))] for i in n.indices]
    indices += [n.index for n in walk(st.rhs) if isinstance(n, Size)]
    taken: dict[str, set[str]] = {}
    for i in indices:
        taken.setdefault(i.name, set()).add(i.dim)
    out: dict[str, str] = {}
    for i in indices:
        if i.dim in out:
            continue
        # a name the program gives this dim only (not also to another dim elsewhere)
        given = [n for n in dim_names.get(i.dim, ()) if not n.startswith("#") and taken.get(n, {i.dim}) == {i.dim}]
        name = next((n for n in given if all(d == i.dim for d, ns in dim_names.items() if n in ns)), None)
        if name is None and i.name in given:
            name = i.name  # the statement's name, which the program gives this dim (and others)
        text = f"size({name})" if name else (axes or {}).get(i.dim)
        out[i.dim] = text or (f"size({given[0]})" if given else f"size({i.name})")
    return out


def dim_axes(dims: Mapping[str, Sequence[str]], inputs: Sequence[str],
             name: Callable[[str], str] = lambda s: s) -> dict[str, str]:
    """Each dim -> ``X.shape[a]``: an axis of an input that has the dim, for a size the
    program has no name of its own for."""
    out: dict[str, str] = {}
    for t in inputs:
        if not name(t).isidentifier():
            continue
        for a, dim in enumerate(dims[t]):
            out.setdefault(dim, f"{name(t)}.shape[{a}]")
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



def _atom(s: str) -> str:
    """``s`` as one operand: unchanged if it is a name or one call, else in parentheses."""
    if s.replace("_", "a").replace(".", "a").isalnum():
        return s
    k = s.find("(")
    if k > 0 and s.endswith(")") and s[:k].replace("_", "a").replace(".", "a").isalnum():
        depth = 0
        for pos, c in enumerate(s[k:], k):
            depth += (c == "(") - (c == ")")
            if depth == 0:
                return s if pos == len(s) - 1 else f"({s})"
    return f"({s})"


class _Einsum:
    """The einsum form of any right-hand side: a NumPy expression of ``einsum``, the
    elementwise functions and the sizes whose axes are the given indices in order.

    Each product (a term, or the body of a sum) is one ``einsum`` over its factors; a
    factor that is not a tensor or a delta is an operand of its own: its matrix form when
    it has one (two indices at most, no identity whose size only the context gives), else
    its einsum form, recursively. A delta is ``eye(size(i))``, an output index no operand
    carries is ``ones((size(n),))``, so nothing relies on NumPy broadcasting but adding a
    number."""

    def __init__(self, name: Callable[[str], str], size_of: Mapping[str, str]) -> None:
        self.name, self.size_of = name, size_of

    def size_name(self, i: Index) -> str:
        return _size_call(self.size_of, i)

    def form(self, e: Expr, order: Sequence[Index]) -> str | None:
        """``e`` (free indices: exactly ``order``) with its axes in ``order``."""
        if isinstance(e, Const):
            return number_text(e.value)
        if isinstance(e, Size):
            return self.size_name(e.index)
        if isinstance(e, MatFn) and not e.out:
            return f"{e.fn}({self.name(e.arg.name)})"
        if isinstance(e, Add):
            parts = []
            for k, t in enumerate(e.terms):
                s = self.lift(t, order)
                if s is None:
                    return None
                parts.append(s if k == 0 else f" - {s[1:]}" if s.startswith("-") else f" + {s}")
            return "".join(parts)  # a term is a product: -4 * x is -(4 * x)
        if isinstance(e, Call) and len(e.args) == 1:
            a = self.form(e.args[0], order)
            return None if a is None else f"{e.fn}({a})"
        if isinstance(e, Pow):
            b, x = self.lift(e.base, order), self.lift(e.exp, order)
            if b is None or x is None:
                return None
            if x == "-1":
                return f"1 / {_atom(b)}"
            return f"{_atom(b)}^{_atom(x)}"
        if isinstance(e, (Tensor, Delta, Mul, Sum, MatFn)):
            return self.product(e, order)
        return None

    def lift(self, e: Expr, order: Sequence[Index]) -> str | None:
        """``e`` as an operand of an elementwise operation over ``order``: a number as it
        is (NumPy broadcasts it exactly), else with every index of ``order``, in order."""
        if not e.free or e.free == set(order):
            return self.form(e, order if e.free else ())
        return self.product(e, order)

    def operand(self, f: Expr, order: Sequence[Index]) -> tuple[str, tuple[Index, ...]] | None:
        """A factor that is not a tensor, a delta or a number, with its own axis order."""
        free = tuple([i for i in order if i in f.free] + sorted((i for i in f.free if i not in order),
                                                               key=lambda i: i.name))
        if isinstance(f, MatFn):
            if len(f.out) != len(free) or len({i.name for i in f.out}) < len(f.out):
                return None
            return f"{f.fn}({self.name(f.arg.name)})", tuple(f.out)
        if len(free) <= 2 and len({i.name for i in free}) == len(free):
            try:
                node = statement_node(Statement("_", free, f), lambda n, d: no_matrix_form("nested"),
                                      size_names=self.size_of)
                if not any(isinstance(x, Eye) for x in nodes(node)):
                    return f"({render_text(node, self.name)})", free
            except NoMatrixForm:
                pass
        s = self.form(f, free)
        return None if s is None else (_atom(s), free)

    def product(self, t: Expr, order: Sequence[Index]) -> str | None:
        """One einsum for a product of factors (or a sum of one), axes in ``order``."""
        coef = Fraction(1)
        body = t.body if isinstance(t, Sum) else t
        fs = body.factors if isinstance(body, Mul) else (body,)
        ops: list[str] = []
        specs: list[tuple[Index, ...]] = []
        for f in fs:
            if isinstance(f, Const):
                coef *= f.value
            elif isinstance(f, Tensor):
                ops.append(self.name(f.name))
                specs.append(tuple(f.indices))
            elif isinstance(f, Delta):  # delta[i,j,k] = delta[i,j] * delta[j,k]
                for a, b in zip(f.indices, f.indices[1:]):
                    ops.append(f"eye({self.size_name(a)})")
                    specs.append((a, b))
            elif not f.free:
                s = self.form(f, ())
                if s is None:
                    return None
                ops.append(_atom(s))
                specs.append(())
            else:
                operand = self.operand(f, order)
                if operand is None:
                    return None
                ops.append(operand[0])
                specs.append(operand[1])
        for i in order:  # einsum('ip->nip', ...) is refused: n must come from an operand
            if not any(i in ax for ax in specs):
                ops.append(f"ones(({self.size_name(i)},))")
                specs.append((i,))
        scalars = [o for o, ax in zip(ops, specs) if not ax]
        ops = [o for o, ax in zip(ops, specs) if ax]
        specs = [ax for ax in specs if ax]
        if len(ops) == 1 and specs[0] == tuple(order):
            txt = ops[0]  # no einsum('ij->ij', X)
        elif ops:
            txt = f"einsum('{self.spec(specs, order)}', {', '.join(ops)})"
        else:
            txt = ""
        factors = ([number_text(coef)] if coef != 1 or not (txt or scalars) else []) + scalars + ([txt] if txt else [])
        out = " * ".join(factors)
        return out.replace("-1 * ", "-", 1) if out.startswith("-1 * ") else out

    @staticmethod
    def spec(specs: Sequence[Sequence[Index]], order: Sequence[Index]) -> str:
        """Letters: one per index, the index's own name where it is one free character."""
        used: dict[str, Index] = {}
        sym: dict[Index, str] = {}
        for ax in list(specs) + [order]:
            for i in ax:
                if i in sym:
                    continue
                c = i.name if len(i.name) == 1 and i.name not in used else next(
                    oe.get_symbol(k) for k in range(200) if oe.get_symbol(k) not in used)
                used[c] = i
                sym[i] = c
        return ",".join("".join(sym[i] for i in ax) for ax in specs) + "->" + "".join(sym[i] for i in order)


def einsum_text(st, display: Mapping[str, str], name: Callable[[str], str] = lambda s: s,
                size_of: Mapping[str, str] | None = None) -> str | None:
    """``einsum('qj,ip->ijpq', A, eye(size(i)))``: the right-hand side as NumPy code of
    einsums (:class:`_Einsum`), or None where an operand has no form. Every operand is
    defined where it is printed: a tensor by ``name``, a delta as the identity of its
    size, and an index no operand carries as ``ones((size(n),))``."""
    e = _Einsum(name, size_of or {})
    if st.rhs.free == set(st.indices):
        return e.form(st.rhs, st.indices)
    return e.product(st.rhs, st.indices)  # a right-hand side broadcast to the statement's shape


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

    def __init__(self, lines: list[MatrixLine], spelling: Spelling, renamed: Sequence[str] = ()) -> None:
        self.lines = lines
        self.spelling = spelling
        #: tensors named like a word of the notation, written with a trailing _ (I_)
        self.renamed = tuple(renamed)

    def notes(self) -> list[str]:
        """``# I_ is the tensor I (I alone is the identity)``: one line per renamed tensor."""
        return [f"# {n}_ is the tensor {n} ({n} alone is the {'identity' if n == 'I' else 'function'})"
                for n in self.renamed]

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
        return "\n".join(self.notes() + [self.line_text(ln) for ln in self.lines])

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
        # ones_like(X) names a tensor the reader has: an input, a statement of the program or
        # a printed line (not a name ricci gave a part it does not print)
        visible = set(d.source_program.dims) | {s.name for s in d.shown}
        like = {a: x for a, x in d.reverse.adjoint_of.items() if x in visible}
        lines = matrix_lines(d.shown, set(d.program.dims), display=d.display, like=like,
                             dim_names=d.source_program.dim_names,
                             axes=dim_axes(d.source_program.dims, d.source_program.inputs),
                             symmetric=symmetric_inputs(d.source_program.declared), name=sp.text)
        adjoints = text_adjoints(d.adjoints(), d.refs)
        for ln in lines:  # the index form as the derivation's text writes it
            if not ln.helper and ln.statement is not None:
                ln.index_text = statement_text(ln.statement, d.display.get(ln.name), reorder=True,
                                               refs=d.refs, adjoints=adjoints, second=d.hessians)
        words = sorted(n for n in d.program.dims if sp.display.get(n, n) in MATRIX_WORDS)
        view = _VIEWS[d] = MatrixView(lines, sp, words)
    return view


def program_matrix_view(prog: Program) -> MatrixView:
    """The matrix-notation view of the statements of ``prog`` themselves (no derivative):
    ``C[i,k] = A[i,j] * B[j,k]`` is ``C = A @ B``."""
    sp = Spelling()
    lines = matrix_lines(prog.statements, set(prog.dims), dim_names=prog.dim_names,
                         axes=dim_axes(prog.dims, prog.inputs),
                         symmetric=symmetric_inputs(prog.declared), name=sp.text)
    words = sorted(n for n in prog.dims if n in MATRIX_WORDS)
    return MatrixView(lines, sp, words)
