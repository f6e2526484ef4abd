"""The sections of a step-by-step derivation: one per derived statement, for each mode.

:func:`derivation_steps` builds the :class:`~.steps_print.Steps` of a derivation record:
for a gradient (reverse mode) the chain rule through the intermediate tensors, summed over
every use, then each local derivative (:func:`~.steps.expand_steps`,
:func:`~.steps.simplify_steps`); for a Jacobian the chain rule through the intermediate
Jacobians; for a directional derivative (``jvp``) the chain rule along the tangent; for a
Hessian (or its diagonal, or a Hessian-vector product) the gradient's sections, those of
the forward-mode derivative of the gradient program, then the result with the
intermediate Jacobians substituted. Each section ends with the renaming to the statement's
own indices, the transpose that puts the summed index inside, and the matrix form.

Invariant: the last index-notation step of each section is the statement the engine
derived (a step says why when the replay ended in another form of it: a forward value
reused, a dummy index renamed, terms multiplied out).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from ..calculus.record import DerivationRecord
from ..calculus.symmetry import one_hot_sums, orient_statement
from ..errors import RicciError
from ..ir.expr import ONE, ZERO, Add, Deriv, Expr, Index, Mul, Sum, Tensor, Transposed
from ..ir.indices import fresh_name, rename_bound, substitute
from ..ir.program import Statement, ancestors, depends_on, one_hot_inputs, symmetric_inputs
from ..ir.traversal import index_names, map_bottom_up, tensor_names, tensor_refs
from ..simplify.canonical import alpha_key
from ..simplify.factor import expand, factor_common
from ..simplify.rewrite import simplify
from .matrix import MatrixLine, matrix_view
from .matrix_algebra import MatMul, T, Var
from .steps import (
    CHAIN_TENSOR,
    DEFINITION,
    DIAGONAL,
    DISTRIBUTE,
    EXPAND,
    HESSIAN,
    HVP,
    MATRIX,
    NAMING,
    ONE_HOT_RULE,
    REARRANGE,
    RENAME,
    RENAME_FREE,
    REUSE,
    SUBSTITUTE_JACOBIANS,
    SUBSTITUTION,
    SYMMETRY,
    TANGENT,
    TRANSPOSE,
    Section,
    Step,
    depends,
    expand_steps,
    extend_steps,
    flatten,
    product_of,
    simplify_steps,
    sum_of,
)
from .steps_print import Steps

__all__ = ["derivation_steps"]



def _expand_and_simplify(sec: Section, lhs: Expr, start: Expr, answers: Mapping[Expr, Expr]) -> Expr:
    """The steps from ``lhs = start`` (a derivative to take) to its simplified result,
    appended to ``sec``; returns the result."""
    ex, expanded = expand_steps(lhs, start, answers)
    sec.steps += ex
    s_steps, total = simplify_steps(lhs, expanded)
    extend_steps(sec.steps, s_steps, total)
    return total

class _Builder:
    def __init__(self, d: DerivationRecord) -> None:
        self.d = d
        self.sections: list[Section] = []
        self.defined_shown: set[str] = set()

    def definition(self, sec: Section, name: str) -> None:
        """Show the definition of ``name`` the first time it is needed."""
        if name in self.defined_shown:
            return
        st = self.d.forward.defined.get(name)
        if st is None:
            return
        self.defined_shown.add(name)
        src = {s.name for s in self.d.source_program.statements}
        for r in dict.fromkeys(r.name for r in tensor_refs(st.rhs)):  # a name is defined before its use
            if r not in src:
                self.definition(sec, r)
        rule = DEFINITION if name in src else NAMING
        note = () if name in src else ("the argument of a function, named so that its gradient is computed once",)
        sec.steps.append(Step(rule, st.lhs, st.rhs, note))

    def local(self, sec: Section, st, x: str, X: Tensor) -> Expr:
        """Steps of the local derivative d st / d X; returns the simplified result."""
        self.definition(sec, st.name)
        rhs = rename_bound(st.rhs, {i.name for i in X.indices} | {i.name for i in st.indices})
        lhs = Deriv(st.lhs, X)
        answers = {rhs: st.lhs}
        return _expand_and_simplify(sec, lhs, Deriv(rhs, X), answers)


def _fresh_indices(dims: Sequence[str], avoid: set[str]) -> tuple[Index, ...]:
    out = []
    used = set(avoid)
    for dm in dims:
        n = fresh_name(used)
        used.add(n)
        out.append(Index(n, dm))
    return tuple(out)


def _grad_sections(d: DerivationRecord, matrix_lines: Mapping[str, MatrixLine],
                   only: set[str] | None = None) -> list[Section]:

    b = _Builder(d)
    fwd = d.forward
    needs = depends_on(fwd, d.wrt) & ancestors(fwd, d.of)
    adjoint = {p: a for a, p in d.reverse.adjoint_of.items()}
    derived = [s for s in d.reverse.replay if s.name in d.reverse.adjoint_of]
    sections: list[Section] = []
    for ds in derived:
        x = d.reverse.adjoint_of[ds.name]
        if x == d.of or (only is not None and ds.name not in only):
            continue
        sec = Section(f"d{d.loss}/d{x}")
        consumers = [s for s in fwd.statements if s.name in needs
                     and any(r.name == x for r in tensor_refs(s.rhs))]
        names: set[str] = set(index_names(ds.rhs)) | {i.name for i in ds.indices} | set(fwd.dims)
        for s in consumers:
            names |= index_names(s.rhs) | {i.name for i in s.indices}
        P = _fresh_indices(fwd.dims[x], names)
        X = Tensor(x, P)
        lhs = Tensor(ds.name, P)
        # the chain rule, summed over every statement that uses x
        chain_terms: list[Expr] = []
        seeds: list[Expr] = []
        for s in consumers:
            if s.name == d.of and d.seed is None:
                seed: Expr = ONE
            elif s.name in d.inline:  # an adjoint ricci did not name (a constant, say)
                seed = d.inline[s.name]
            else:
                seed = Tensor(adjoint[s.name], s.indices)
            seeds.append(seed)
            local = Deriv(s.lhs, X)
            term = product_of([f for f in (seed, local) if f != ONE])
            chain_terms.append(Sum(s.indices, term) if s.indices else term)
        chain = sum_of(chain_terms)
        # dL/dx is the local derivative itself: one use, by the scalar output
        trivial = len(consumers) == 1 and seeds[0] == ONE and not consumers[0].indices
        if not trivial:
            sec.steps.append(Step(CHAIN_TENSOR, lhs, chain,
                                      (f"summed over every use of {x}",) if len(consumers) > 1 else (),
                                  as_written=True))
        results: list[Expr] = []
        for s in consumers:
            if trivial:
                local_steps_start = len(sec.steps)
                res = b.local(sec, s, x, X)
                for st_ in sec.steps[local_steps_start:]:
                    if st_.rule not in (DEFINITION, NAMING):
                        st_.lhs = lhs
            else:
                res = b.local(sec, s, x, X)
            results.append(res)
        if trivial:
            total = results[0]
        else:
            subst = sum_of([Sum(s.indices, product_of([f for f in (seed, r) if f != ONE])) if s.indices
                          else product_of([f for f in (seed, r) if f != ONE])
                          for s, seed, r in zip(consumers, seeds, results)])
            sec.steps.append(Step(SUBSTITUTION, lhs, flatten(subst)))
            s_steps, total = simplify_steps(lhs, flatten(subst))
            extend_steps(sec.steps, s_steps, total)
        _finish(sec, lhs, total, ds, P, matrix_lines.get(ds.name), d.forward.statements, d.program.declared)
        sections.append(sec)
    b.sections = sections
    return sections


def _finish(sec: Section, lhs: Tensor, total: Expr, ds, P: Sequence[Index],
            mline: MatrixLine | None, forward: Sequence = (), declared: Mapping[str, str] | None = None) -> None:
    """Rename to the statement's own indices, end at the engine's statement (through the
    declared symmetry of inputs, where the engine used it), then the transpose and the
    matrix form."""
    target = ds.indices
    final_lhs = Tensor(lhs.name, target)
    if tuple(P) != tuple(target):
        renamed = substitute(total, dict(zip(P, target)))
        sec.steps.append(Step(RENAME_FREE, final_lhs, renamed,
                              (", ".join(f"{p.name} -> {t.name}" for p, t in zip(P, target) if p != t),)))
        total = renamed
    if declared and alpha_key(total) != alpha_key(ds.rhs):
        total = _facts(sec, final_lhs, total, declared)
    if alpha_key(total) != alpha_key(ds.rhs):
        gone = sorted(tensor_names(total) - tensor_names(ds.rhs) - {f.name for f in forward})
        if gone:  # an adjoint substituted, and the terms multiplied out
            sec.steps.append(Step(EXPAND, final_lhs, ds.rhs,
                                  (f"substituting {', '.join(gone)}",)))
        elif _reuses(total, ds.rhs):
            sec.steps.append(Step(REUSE, final_lhs, ds.rhs))
        else:  # the engine's form is another arrangement: named for what it does
            rule, why = _rearranged(total, ds.rhs)
            sec.steps.append(Step(rule, final_lhs, ds.rhs, why))
    elif total != ds.rhs:
        sec.steps.append(Step(RENAME, final_lhs, ds.rhs))
    end = _facts(sec, final_lhs, ds.rhs, declared) if declared else ds.rhs  # used after substituting
    if mline is not None and mline.node is not None:
        t = transposed_form(end, mline)
        if t is not None:
            sec.steps.append(Step(TRANSPOSE, final_lhs, t, ("to put the summed index inside",)))
        sec.steps.append(Step(MATRIX, final_lhs, None, matrix=mline))
    elif mline is not None:
        fixed = [i.name for dl in mline.slice[0] for i in dl.indices] if mline.slice else []
        note = f"no matrix form: {mline.reason}" + (
            f"; for each {', '.join(fixed)} the slice is a matrix" if fixed else "; the einsum form")
        sec.steps.append(Step(MATRIX, final_lhs, None, (note,), matrix=mline))


def _facts(sec: Section, lhs: Tensor, e: Expr, declared: Mapping[str, str]) -> Expr:
    """``e`` written under the declared facts (:func:`~ricci.calculus.symmetry.assume_facts`),
    a step for each fact used: a symmetric input in the result's orientation, the sum of a
    row of a one-hot input."""
    st = Statement(lhs.name, lhs.indices, e)
    oriented = orient_statement(st, symmetric_inputs(declared)).rhs
    if oriented != e:
        sym = sorted(n for n in symmetric_inputs(declared) if n in tensor_names(e))
        sec.steps.append(Step(SYMMETRY, lhs, oriented, (", ".join(f"{n}[j,i] = {n}[i,j]" for n in sym),)))
        e = oriented
    one_hot = sorted(n for n in one_hot_inputs(declared) if n in tensor_names(e))
    summed = simplify(one_hot_sums(e, frozenset(one_hot)))
    if summed != e:
        sec.steps.append(Step(ONE_HOT_RULE, lhs, summed, (", ".join(f"a row of {n} sums to 1" for n in one_hot),)))
        e = summed
        common = factor_common(e)
        if common != e:
            sec.steps.append(Step(DISTRIBUTE, lhs, common, ("taking out the common factor",)))
            e = common
    return e


def _rearranged(mine: Expr, engine: Expr) -> tuple[str, tuple]:
    """The rule that takes ``mine`` to the engine's ``engine`` (equal in value, not equal up
    to the names of bound indices): the distributive law when one is the other multiplied
    out (or factored), else a rearrangement (sums merged or split, signs moved in)."""
    if sorted(map(repr, _term_keys(mine))) == sorted(map(repr, _term_keys(engine))):
        if len(_top_terms(mine)) == len(_top_terms(engine)):  # only bound indices renamed
            return RENAME, ()
        return REARRANGE, ("the same terms, each sum written over every term it spans",)
    mk, ek = alpha_key(mine), alpha_key(engine)
    em, ee = expand(mine), expand(engine)
    if em is not None and alpha_key(em) == ek:
        return DISTRIBUTE, ("multiplying out",)
    if ee is not None and alpha_key(ee) == mk:
        return DISTRIBUTE, ("taking out the common factor",)
    if em is not None and ee is not None and alpha_key(em) == alpha_key(ee):
        return DISTRIBUTE, ("the same terms multiplied out, grouped as the result writes them",)
    return REARRANGE, ("the same terms and factors, as the result writes them",)


def _top_terms(e: Expr) -> tuple[Expr, ...]:
    return e.terms if isinstance(e, Add) else (e,)


def _term_keys(e: Expr) -> list[Expr]:
    """The terms of ``e``, a sum over a sum of terms split into one sum per term, each up
    to the names of its bound indices."""
    if isinstance(e, Add):
        return [k for t in e.terms for k in _term_keys(t)]
    if isinstance(e, Sum) and isinstance(e.body, Add):
        return [k for t in e.body.terms for k in _term_keys(Sum(e.indices, t))]
    return [alpha_key(e)]


def _reuses(mine: Expr, engine: Expr) -> bool:
    return bool(tensor_names(engine) - tensor_names(mine))


def transposed_form(rhs: Expr, mline: MatrixLine) -> Expr | None:
    """``dl/dy[p,j] * (a^T)[j,q]``: the factors of a matrix-product chain in chain order,
    each written transposed where the matrix form transposes it; None unless the matrix
    form is a plain chain of (transposed) tensors with a transpose in it."""

    leaves: list[tuple[str, bool]] = []

    def chain(n) -> bool:
        if isinstance(n, MatMul):
            return chain(n.a) and chain(n.b)
        if isinstance(n, T) and isinstance(n.x, Var):
            leaves.append((n.x.name, True))
            return True
        if isinstance(n, Var):
            leaves.append((n.name, False))
            return True
        return False

    if not chain(mline.node) or not any(t for _, t in leaves):
        return None
    body = rhs.body if isinstance(rhs, Sum) else rhs
    fs = list(body.factors) if isinstance(body, Mul) else [body]
    refs = {f.name: f for f in fs if isinstance(f, Tensor)}
    if len(refs) != len(fs) or len(leaves) != len(fs) or {n for n, _ in leaves} != set(refs):
        return None
    out: list[Expr] = []
    for name, tr in leaves:
        r = refs[name]
        if tr:
            if len(r.indices) != 2:
                return None
            out.append(Transposed(name, r.indices[::-1]))
        else:
            out.append(r)
    new = Mul(out)
    return Sum(rhs.indices, new) if isinstance(rhs, Sum) else new


def _jacobian_sections(d: DerivationRecord, matrix_lines: Mapping[str, MatrixLine],
                       only: set[str] | None = None) -> list[Section]:
    b = _Builder(d)
    sections: list[Section] = []
    fwd = d.forward
    for ds in d.program.statements:
        if ds.name not in d.refs or (only is not None and ds.name not in only):
            continue
        y, rank, x = d.refs[ds.name]
        st = fwd.defined[y]
        I, P = ds.indices[:rank], ds.indices[rank:]
        X = Tensor(x, P)
        lhs = Tensor(ds.name, ds.indices)  # the Jacobian tensor, printed dY[I]/dX[P]
        sec = Section(d.display.get(ds.name, ds.name))
        b.definition(sec, y)
        rhs = rename_bound(st.rhs, {i.name for i in P} | {i.name for i in I})
        rhs = substitute(rhs, dict(zip(st.indices, I)))
        answers = {rhs: Tensor(y, I)}
        used = {i.name for i in ds.indices} | index_names(rhs)
        start: list[Expr] = [Deriv(rhs, X)] if depends(rhs, x) else []
        for z in dict.fromkeys(r.name for r in tensor_refs(rhs)):
            jz = next((n for n, (num, _, den) in d.refs.items() if num == z and den == x), None)
            if jz is None and f"{z}/{x}" not in d.inline:
                continue
            Q = _fresh_indices(fwd.dims[z], used)
            used |= {q.name for q in Q}
            jval = Tensor(jz, Q + P) if jz is not None else d.inline[f"{z}/{x}"]
            if jval == ZERO:
                continue
            start.append(Sum(Q, Mul((Deriv(rhs, Tensor(z, Q)), jval))))
        begin = sum_of(start)
        if len(start) > 1 or (start and not isinstance(start[0], Deriv)):
            sec.steps.append(Step(CHAIN_TENSOR, lhs, begin))
        total = _expand_and_simplify(sec, lhs, begin, answers)
        _finish(sec, lhs, total, ds, ds.indices, matrix_lines.get(ds.name), declared=d.program.declared)
        sections.append(sec)
    return sections


def _tangent_sections(d: DerivationRecord, matrix_lines: Mapping[str, MatrixLine]) -> list[Section]:
    """Forward mode along a tangent ``v``: ``tY[I] = dY[I]/dX[P] * v[P] + dY[I]/dZ[Q] * tZ[Q]``."""
    b = _Builder(d)
    sections: list[Section] = []
    fwd = d.forward
    (x,) = d.wrt
    tangent = {p: t for t, p in d.tangent.tangent_of.items()}
    for ds in d.program.statements:
        if ds.name not in d.tangent.tangent_of:
            continue
        y = d.tangent.tangent_of[ds.name]
        st = fwd.defined[y]
        I = ds.indices
        lhs = Tensor(ds.name, I)
        sec = Section(f"{ds.name} (the change of {y} along {d.seed})")
        b.definition(sec, y)
        rhs = rename_bound(st.rhs, {i.name for i in I})
        rhs = substitute(rhs, dict(zip(st.indices, I)))
        answers = {rhs: Tensor(y, I)}
        used = {i.name for i in I} | index_names(rhs) | set(fwd.dims)
        start: list[Expr] = []
        if depends(rhs, x):
            assert d.seed is not None  # forward mode: the tangent of the input is the seed
            P = _fresh_indices(fwd.dims[x], used)
            used |= {p.name for p in P}
            start.append(Sum(P, Mul((Deriv(rhs, Tensor(x, P)), Tensor(d.seed, P)))))
        for z in dict.fromkeys(r.name for r in tensor_refs(rhs)):
            tz = tangent.get(z)
            if tz is None:
                continue
            Q = _fresh_indices(fwd.dims[z], used)
            used |= {q.name for q in Q}
            start.append(Sum(Q, Mul((Deriv(rhs, Tensor(z, Q)), Tensor(tz, Q)))))
        begin = sum_of(start)
        sec.steps.append(Step(TANGENT, lhs, begin))
        total = _expand_and_simplify(sec, lhs, begin, answers)
        _finish(sec, lhs, total, ds, ds.indices, matrix_lines.get(ds.name), declared=d.program.declared)
        sections.append(sec)
    return sections


def _second_sections(d: DerivationRecord, matrix_lines: Mapping[str, MatrixLine]) -> list[Section]:
    """A Hessian (or Hessian-vector product): the gradient's sections, then those of the
    forward-mode derivative of the gradient program, then the result with the
    intermediate Jacobians (tangents) substituted."""
    assert d.second is not None  # a second derivative (the caller checks)
    g, j = d.second.gradient, d.second.jacobian
    inlined = d.second.inlined
    x = d.wrt[0]
    need = {g.outputs[x]}
    # the adjoints the chain rule of each tensor's adjoint starts from: those of the
    # statements reading the tensor (substituted since, or never formed)
    adjoint = {v: a for a, v in g.reverse.adjoint_of.items()}
    seeds: dict[str, set[str]] = {}
    for f in g.forward.statements:
        if f.name in adjoint:
            for r in tensor_refs(f.rhs):
                seeds.setdefault(r.name, set()).add(adjoint[f.name])
    for s in reversed(g.reverse.replay):
        if s.name in need:
            need.update(r.name for r in tensor_refs(s.rhs))
            need.update(seeds.get(g.reverse.adjoint_of.get(s.name, ""), ()))
    sections = _grad_sections(g, {ln.name: ln for ln in matrix_view(g).lines if not ln.helper}, need)
    jlines = {ln.name: ln for ln in matrix_view(j).lines if not ln.helper}
    if d.kind == "hvp":
        sections += _tangent_sections(j, jlines)
    else:
        for sec in _jacobian_sections(j, jlines):
            last = sec.steps[-1].lhs
            assert isinstance(last, Tensor)  # every step of a Jacobian's section is about its tensor
            num, rank, den = j.refs[last.name]
            if num in g.reverse.adjoint_of:  # the Jacobian of an adjoint: d(dL/dh[n,k])/dW[p,q]
                idx = [i.name for i in last.indices]
                a = f"[{','.join(idx[:rank])}]" if rank else ""
                b = f"[{','.join(idx[rank:])}]" if len(idx) > rank else ""
                sec.title = f"d(d{d.loss}/d{g.reverse.adjoint_of[num]}{a})/d{den}{b}"
            sections.append(sec)
    (out,) = d.outputs.values()
    ds = d.program.defined[out]
    final = next(iter(j.outputs.values()))
    jst = j.program.defined[final]
    info = d.hessians.get(out)
    title = out
    if info is not None:
        loss, xx, rank, yy, diagonal = info
        ix = [i.name for i in ds.indices]
        title = f"d2{loss}/d{xx}[{','.join(ix[:rank])}]" + (
            "^2" if diagonal else f"d{yy}[{','.join(ix[rank:])}]")
    sec = Section(title)
    lhs = Tensor(out, ds.indices)
    if d.kind == "hvp":
        first = Tensor(final, ds.indices)
        sec.steps.append(Step(HVP, lhs, first, (f"along {d.seed}",)))
    elif info is not None and info[4]:  # the diagonal: the second group of indices is the first
        first = Tensor(final, ds.indices + ds.indices)
        sec.steps.append(Step(DIAGONAL, lhs, first))
    else:
        first = Tensor(final, ds.indices)
        sec.steps.append(Step(HESSIAN, lhs, first))
    body = substitute(jst.rhs, dict(zip(jst.indices, first.indices)))
    if inlined and any(r.name in inlined for r in tensor_refs(body)):
        def expand(n: Expr) -> Expr:
            if isinstance(n, Tensor) and n.name in inlined:
                bst = inlined[n.name]
                return substitute(bst.rhs, dict(zip(bst.indices, n.indices)))
            return n

        used = [r for r in dict.fromkeys(tensor_refs(body)) if r.name in inlined]
        body = map_bottom_up(body, expand)
        note: list = []
        for r in used:
            note += [", "] if note else []
            note.append(r)
        sec.steps.append(Step(SUBSTITUTE_JACOBIANS if d.kind != "hvp" else SUBSTITUTION, lhs,
                              body, tuple(note)))
    else:
        sec.steps.append(Step(SUBSTITUTION, lhs, body))
    s_steps, total = simplify_steps(lhs, body)
    extend_steps(sec.steps, s_steps, total)
    _finish(sec, lhs, total, ds, ds.indices, matrix_lines.get(out), declared=d.program.declared)
    sections.append(sec)
    return sections


def derivation_steps(d: DerivationRecord, wrt: str | None = None) -> Steps:
    """The step-by-step derivation of ``d`` (of every result, or of the one for ``wrt``)."""
    out = Steps(d)
    shown: set[int] = set()
    for sec in _sections(d, wrt):
        for st in _with_helpers(out, sec.steps, shown):
            st.section = sec.title
            if out and out[-1].section == st.section and out[-1].lhs == st.lhs \
                    and st.rhs is not None and out[-1].rhs is not None and st.aside is None \
                    and _text(out, out[-1]) == _text(out, st):
                out[-1].rhs = st.rhs  # a rewrite that does not show (say -1 * x -> -x)
                continue
            out.append(st)
    return out


def _uses(text: str, name: str) -> bool:
    return re.search(r"(?<![\w./])" + re.escape(name) + r"(?![\w/])", text) is not None


def _with_helpers(out: Steps, steps: Sequence[Step], shown: set[int]) -> list[Step]:
    """``steps`` with, before each matrix form, the lines of the matrix view it uses that the
    steps have not printed (a helper, ``G = y / p``; a quantity of the Hessian's view,
    ``d(dL/dz1)/db = ...``), and a note naming the result as the view names it (``dW holds
    dL/dW[d,h]``): the matrix forms the steps print are the matrix view's lines, names
    included, and every name a line uses is printed above it. ``shown``: the ids of the
    view's lines printed so far."""
    res: list[Step] = []
    for st in steps:
        ln = st.matrix
        if ln is None or id(ln) in shown:
            res.append(st)
            continue
        view = out.view_of(ln)
        before = view.lines[:next(k for k, m in enumerate(view.lines) if m is ln)]
        needed = [view.line_text(ln)]
        extra: list = []
        for h in reversed(before):
            if id(h) in shown or h.node is None and h.slice:
                continue
            name = view.spelling.text(h.name)
            if any(_uses(t, name) for t in needed):
                extra.insert(0, h)
                needed.append(view.line_text(h))
        for h in extra:
            shown.add(id(h))
            note = "a helper of the matrix form" if h.helper else "a quantity the matrix form uses"
            res.append(Step(MATRIX, st.lhs, None, (note,), matrix=h))
        shown.add(id(ln))
        name = view.spelling.text(ln.name)
        indexed = out.equation(Step(RENAME, st.lhs, st.lhs), "text")[0]
        if ln.node is not None or not ln.slice:
            if indexed.partition("[")[0] != name:  # dW for dL/dW[d,h], dp/dw for dp[n]/dw[e]
                st.note = (f"{name} holds ", st.lhs) + ((", " if st.note else "",) + st.note if st.note else ())
        res.append(st)
        if ln.node is None and ln.slice and ln.einsum:  # the slices, then the whole: its einsum form
            res.append(Step(MATRIX, st.lhs, None, (f"the einsum form: {name} holds ", st.lhs), matrix=ln,
                            einsum=True))
    return res


def _text(steps: Steps, st: Step) -> str:
    return steps.equation(st, "text")[1]


def _sections(d: DerivationRecord, wrt: str | None = None) -> list[Section]:
    """The sections of ``d``'s step-by-step derivation (all, or those ``wrt`` needs)."""
    view = matrix_view(d)
    lines = {ln.name: ln for ln in view.lines if not ln.helper}
    need: set[str] | None = None
    if wrt is not None:
        if wrt not in d.outputs:

            raise RicciError(f"no result for '{wrt}': this derivation is w.r.t. {', '.join(d.wrt)}")
        # the derived statements the result for wrt reads
        need = {d.outputs[wrt]}
        for s in reversed(d.program.statements):
            if s.name in need:
                need.update(r.name for r in tensor_refs(s.rhs))
    if d.kind == "grad":
        return _grad_sections(d, lines, need)
    if d.second is not None:
        return _second_sections(d, lines)
    if d.kind == "jvp":
        return _tangent_sections(d, lines)
    return _jacobian_sections(d, lines, need)

