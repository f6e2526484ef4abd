"""Step-by-step derivations: the chain rule one named rule at a time, as a person writes it.

:func:`derivation_steps` replays a derivation the way the articles do it by hand: the
definition, the local derivative of each statement rule by rule (sum, product, quotient,
power and chain rules, a tensor by itself, independent tensors), the simplifications
that follow (the delta eats an index, delta traces, like terms, zeros and ones,
constants), the chain rule through the intermediate tensors, and at the end the transpose
that puts the summed index inside and the matrix form.

The replay is faithful: the differentiation steps apply the engine's own rule objects
(:data:`ricci.differentiate.RULES`, named as the table names them) one at a time to an
unevaluated derivative (:class:`~ricci.expr.Deriv`), their holes filled with unevaluated
derivatives of the children; each simplification step is a rewrite the simplifier
performed (its trace, replayed on the whole expression), and the last index-notation
step of each section is the statement the engine derived. Every step is an equation
``lhs = rhs`` that holds for all values of its inputs; the test suite evaluates both
sides of every step numerically (derivatives through torch autograd).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..calculus import differentiate as D
from ..calculus.record import DerivationRecord
from ..errors import RicciError
from ..ir.expr import ONE, ZERO, Add, Call, Const, Delta, Deriv, Expr, Index, MatFn, Mul, Size, Sum, Tensor, Transposed
from ..ir.indices import fresh_name, rename_bound, substitute
from ..ir.program import Statement, ancestors, depends_on
from ..ir.traversal import contains, index_names, map_bottom_up, tensor_names, tensor_refs
from ..primitives.functions import MATRIX_FUNCTIONS
from ..simplify.canonical import alpha_key
from ..simplify.coefficients import split_coef
from ..simplify.rewrite import simplify
from .matrix import MatMul, MatrixLine, T, Var, matrix_view, render_latex, render_text
from .render import _head, expr_text, latex_aligned, latex_text, notation_of

# the names of the rules, as the steps print them
DEFINITION = "definition"
NAMING = "naming a subexpression"
# the differentiation steps are named by the shared rule table (calculus.differentiate); a
# test checks these names are the table's (MATRIX_RULE's too)
SUM_RULE = D.SUM.name
PRODUCT_RULE = D.PRODUCT.name
QUOTIENT_RULE = D.QUOTIENT.name
POWER_RULE = D.POWER.name
CHAIN_FUNCTION = D.CHAIN.name
CHAIN_TENSOR = "chain rule (through an intermediate tensor)"
SUBSTITUTION = "substituting the derivative"
SELF = D.SELF.name
INDEPENDENT = D.INDEPENDENT.name
DELTA = "delta elimination"
DELTA_TRACE = "delta trace"
RENAME = "renaming a dummy index"
RENAME_FREE = "renaming the free indices"
LIKE_TERMS = "collecting like terms"
ZEROS = "zero elimination"
ONES = "one elimination"
CONSTANTS = "constant folding"
DISTRIBUTE = "distributive law"
POWERS = "collecting powers"
POWER_ALGEBRA = "rules of powers"
REUSE = "reusing a forward value"
EXPAND = "multiplying out"
TRANSPOSE = "transpose"
MATRIX_RULE = "derivative of a matrix function"
MATRIX = "conversion to matrix form"
HESSIAN = "the Hessian is the Jacobian of the gradient"
DIAGONAL = "the diagonal of the Hessian"
HVP = "the Hessian-vector product is the directional derivative of the gradient"
TANGENT = "directional derivative along v (chain rule through the intermediate tensors)"
SUBSTITUTE_JACOBIANS = "substituting the intermediate Jacobians"


@dataclass
class Step:
    """One step: the rule applied and the equation ``lhs = rhs`` after it.

    ``aside`` is a side equation the step used (``dx[i,k]/dx[p,q] = delta[i,p] *
    delta[k,q]``); ``note`` a short explanation (``the delta eats k``). The matrix-form
    step has ``matrix`` (its :class:`~ricci.matrix.MatrixLine`) instead of ``rhs``.
    ``section`` names the result being derived (``dl/dx``); ``as_written`` keeps the
    factors in the order the step built them (the chain rule reads ``dl/dy * dy/dx``).
    """

    rule: str
    lhs: Expr
    rhs: Expr | None
    note: tuple = ()  # parts: strings and expressions, printed in the step's notation
    aside: tuple[Expr, Expr] | None = None
    matrix: MatrixLine | None = None
    section: str = ""
    as_written: bool = False


@dataclass
class Section:
    """The steps that derive one statement (``title`` says which)."""

    title: str
    steps: list[Step] = field(default_factory=list)


# ---------------------------------------------------------------- differentiation, one rule at a time


def _depends(e: Expr, name: str) -> bool:
    return name in tensor_names(e)


def _first_deriv(e: Expr, path: tuple = (), zero: bool = False) -> tuple | None:
    """The path to the first unevaluated derivative (pre-order), or None; with ``zero``
    only one whose numerator does not depend on the denominator (a zero)."""
    if isinstance(e, Deriv):
        return path if not zero or not _depends(e.num, e.wrt.name) else None
    for k, c in enumerate(e.children):
        p = _first_deriv(c, path + (k,), zero)
        if p is not None:
            return p
    return None


def _at(e: Expr, path: tuple) -> Expr:
    for k in path:
        e = e.children[k]
    return e


def _replace_at(e: Expr, path: tuple, new: Expr) -> Expr:
    if not path:
        return new
    kids = list(e.children)
    kids[path[0]] = _replace_at(kids[path[0]], path[1:], new)
    return e.rebuild(kids)


def _mul(fs: Sequence[Expr]) -> Expr:
    fs = list(fs)
    if not fs:
        return ONE
    return fs[0] if len(fs) == 1 else Mul(fs)


def _add(ts: Sequence[Expr]) -> Expr:
    ts = list(ts)
    if not ts:
        return ZERO
    return ts[0] if len(ts) == 1 else Add(ts)


def _flat(e: Expr) -> Expr:
    """Nested products and sums of terms flattened (the only tidying between rule steps)."""

    def fn(n: Expr) -> Expr:
        if isinstance(n, Mul) and any(isinstance(f, Mul) for f in n.factors):
            return Mul([g for f in n.factors for g in (f.factors if isinstance(f, Mul) else (f,))])
        if isinstance(n, Add) and any(isinstance(t, Add) for t in n.terms):
            return Add([u for t in n.terms for u in (t.terms if isinstance(t, Add) else (t,))])
        return n

    return map_bottom_up(e, fn)


def _drop_zeros(e: Expr) -> Expr:
    """``a + 0 -> a``, ``a * 0 -> 0``, ``sum[k](0) -> 0``: a zero derivative vanishes."""

    def fn(n: Expr) -> Expr:
        if isinstance(n, Add):
            return _add([t for t in n.terms if t != ZERO])
        if isinstance(n, Mul) and ZERO in n.factors:
            return ZERO
        if isinstance(n, Sum) and n.body == ZERO:
            return ZERO
        return n

    return map_bottom_up(e, fn)


class _Unevaluated(D.Holes):
    """The step view's holes: a sub-derivative stays unevaluated, ``Deriv(child, X)``,
    for a later step. Every term of a sum is a hole: one that does not mention X is
    shown, then zeroed by its own step, as by hand (the other rules skip such children,
    and the product rule's note names them)."""

    def __init__(self, x: Tensor, answers: Mapping[Expr, Expr]) -> None:
        super().__init__(x.name, x.indices, answers)
        self.x = x

    def positions(self, e: Expr) -> tuple[int, ...]:
        return tuple(range(len(e.terms))) if isinstance(e, Add) else super().positions(e)

    def d(self, e: Expr) -> list[Expr]:
        return [Deriv(e, self.x)]


def _one_rule(d: Deriv, answers: Mapping[Expr, Expr]) -> tuple[D.Rule, Expr, tuple, tuple | None]:
    """Apply the engine's rule for ``d``'s numerator (:func:`~ricci.differentiate.rule_for`),
    its sub-derivatives left unevaluated: (rule, result, note, aside). A rule that leaves
    no derivative to take shows its result as an aside too."""
    h = _Unevaluated(d.wrt, answers)
    num, w = d.num, d.wrt.name
    rule = D.rule_for(num, h)
    res = _flat(_add(rule.apply(num, h)))
    note: tuple = ()
    if rule is D.INDEPENDENT:
        names = sorted(tensor_names(num))
        who = ", ".join(names[:-1]) + f" and {names[-1]} do" if len(names) > 1 else \
            "".join(names) + " does"
        note = (f"{who} not depend on {w}",) if names else ("a constant",)
    elif rule is D.PRODUCT and len(h.positions(num)) == 1:  # one factor mentions X
        assert isinstance(num, Mul)  # D.RULES: the product rule differentiates products
        indep = [f for f in num.factors if not h.has(f) and not isinstance(f, Const)]
        note = tuple(p for k, f in enumerate(indep) for p in ((", " if k else ""), f)) + \
            (f" {'does' if len(indep) == 1 else 'do'} not depend on {w}",) if indep \
            else ("a constant factor stays",)
    elif rule is D.GENERAL_POWER:
        note = ("general exponent",)
    elif rule is D.MATRIX:
        assert isinstance(num, MatFn)  # D.RULES: the matrix rule differentiates matrix functions
        note = (MATRIX_FUNCTIONS[num.fn].note,)
    elif rule is D.CHAIN:
        assert isinstance(num, Call)  # D.RULES: the chain rule differentiates calls
        note = (f"{num.fn}'(u) = ", D.chain_slope(num, h))
    return rule, res, note, (d, res) if not contains(res, Deriv) else None


def expand_steps(lhs: Expr, start: Expr, answers: Mapping[Expr, Expr]) -> tuple[list[Step], Expr]:
    """Differentiate every :class:`Deriv` in ``start``, one rule per step (zeros first,
    several at once; the summation rule folded into the step before)."""
    steps: list[Step] = []
    cur = start
    while True:
        path = _first_deriv(cur, zero=True)  # zeros first: dz/dW = d(W x)/dW + db/dW, db/dW = 0
        if path is None:
            path = _first_deriv(cur)
        if path is None:
            break
        d = _at(cur, path)
        assert isinstance(d, Deriv)
        rule, res, note, aside = _one_rule(d, answers)
        cur = _flat(_replace_at(cur, path, res))
        if rule is D.INDEPENDENT:
            cur = _drop_zeros(cur)
            if steps and steps[-1].rule == INDEPENDENT:
                steps[-1].rhs = cur  # several zeros at once
                if note[0] not in steps[-1].note:  # (each reason once)
                    steps[-1].note += ("; ",) + note
                continue
        if rule is D.SUMMATION:  # d sum[k](f) = sum[k](df): not worth a step of its own
            if steps:
                steps[-1].rhs = cur
            continue
        steps.append(Step(rule.name, lhs, cur, note, aside))
    return steps, cur


# ---------------------------------------------------------------- simplification, replayed


_SHOWN: dict[str, str] = {
    "delta-eat": DELTA, "delta-repeat": DELTA_TRACE, "delta-distribute": DISTRIBUTE,
    "add-like-terms": LIKE_TERMS, "mul-zero": ZEROS, "add-zero": ZEROS, "sum-zero": ZEROS,
    "mul-constants": CONSTANTS, "pow-constants": CONSTANTS, "call-constant": CONSTANTS,
    "pow-one": ONES, "pow-zero": ONES, "pow-of-one": ONES, "mul-powers": POWERS,
    "pow-of-pow": POWER_ALGEBRA, "pow-of-product": POWER_ALGEBRA, "pow-of-delta": DELTA,
}


def _replace(e: Expr, old: Expr, new: Expr) -> Expr:
    return map_bottom_up(e, lambda n: new if n == old else n)


def _eaten(before: Expr, after: Expr) -> list[str]:
    if not isinstance(before, Sum):
        return []
    left = set(after.indices) if isinstance(after, Sum) else set()
    return [i.name for i in before.indices if i not in left]


def simplify_steps(lhs: Expr, e: Expr) -> tuple[list[Step], Expr]:
    """The simplifier's rewrites of ``e`` as steps; returns (steps, simplified ``e``)."""
    events: list = []
    result = simplify(e, trace=lambda r, b, a: events.append((r, b, a)))
    steps: list[Step] = []
    cur = e
    for rule, before, after in events:
        name = _SHOWN.get(rule.name)
        if name == LIKE_TERMS:
            renamed = _renamed_like_terms(before)
            if renamed is not None and renamed != before:
                cur = _replace(cur, before, renamed)
                steps.append(Step(RENAME, lhs, cur, ("so that like terms look alike",)))
                before = renamed
        if name == CONSTANTS and rule.name == "mul-constants" and _only_drops_ones(before):
            name = ONES
        nxt = _replace(cur, before, after)
        if nxt == cur and name is not None:
            continue
        cur = nxt
        if name is None:
            if steps:
                steps[-1].rhs = cur
            continue
        note: tuple = ()
        if name == DELTA:
            eaten = _eaten(before, after)
            note = (f"the delta eats {', '.join(eaten)}",) if eaten else ()
        elif name == DELTA_TRACE and isinstance(before, Delta):
            k = before.indices[0]
            note = (before, f" = 1; summed over {k.name} it gives ", Size(k))
        steps.append(Step(name, lhs, cur, note))
    if steps:
        steps[-1].rhs = result
    return steps, result


def _extend(steps: list[Step], more: list[Step], result: Expr) -> None:
    """Append simplification steps; when there are none (only factors reordered or
    products flattened), the previous step shows the tidied expression."""
    if more:
        steps += more
    elif steps and steps[-1].rhs is not None and steps[-1].rhs != result and \
            steps[-1].rule not in (DEFINITION, NAMING):
        steps[-1].rhs = result


def _only_drops_ones(e: Expr) -> bool:
    return isinstance(e, Mul) and all(f.value == 1 for f in e.factors if isinstance(f, Const))


def _renamed_like_terms(e: Expr) -> Expr | None:
    """``e`` (an Add) with each term written with the summed indices of the first term it is
    like (alpha-equal to), or None when no two terms are alike."""
    if not isinstance(e, Add):
        return None
    first: dict[Expr, Expr] = {}
    out = []
    changed = False
    for t in e.terms:
        c, rest = split_coef(t)
        k = alpha_key(rest)
        if k in first and first[k] != rest:
            rep = first[k]
            out.append(rep if c == 1 else (Mul((Const(c), rep)) if not isinstance(rep, Sum)
                                            else Sum(rep.indices, Mul((Const(c), rep.body)))))
            changed = True
        else:
            first.setdefault(k, rest)
            out.append(t)
    return Add(out) if changed else None


# ---------------------------------------------------------------- derivations


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
        rule = DEFINITION if name in src else NAMING
        note = () if name in src else ("the argument of a function, named so that its gradient is computed once",)
        sec.steps.append(Step(rule, st.lhs, st.rhs, note))

    def local(self, sec: Section, st, x: str, X: Tensor) -> Expr:
        """Steps of the local derivative d st / d X; returns the simplified result."""
        self.definition(sec, st.name)
        rhs = rename_bound(st.rhs, {i.name for i in X.indices} | {i.name for i in st.indices})
        lhs = Deriv(st.lhs, X)
        answers = {rhs: st.lhs}
        ex_steps, expanded = expand_steps(lhs, Deriv(rhs, X), answers)
        sec.steps += ex_steps
        s_steps, res = simplify_steps(lhs, expanded)
        _extend(sec.steps, s_steps, res)
        return res


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
            term = _mul([f for f in (seed, local) if f != ONE])
            chain_terms.append(Sum(s.indices, term) if s.indices else term)
        chain = _add(chain_terms)
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
            subst = _add([Sum(s.indices, _mul([f for f in (seed, r) if f != ONE])) if s.indices
                          else _mul([f for f in (seed, r) if f != ONE])
                          for s, seed, r in zip(consumers, seeds, results)])
            sec.steps.append(Step(SUBSTITUTION, lhs, _flat(subst)))
            s_steps, total = simplify_steps(lhs, _flat(subst))
            _extend(sec.steps, s_steps, total)
        _finish(sec, lhs, total, ds, P, matrix_lines.get(ds.name), d.forward.statements)
        sections.append(sec)
    b.sections = sections
    return sections


def _finish(sec: Section, lhs: Tensor, total: Expr, ds, P: Sequence[Index],
            mline: MatrixLine | None, forward: Sequence = ()) -> None:
    """Rename to the statement's own indices, end at the engine's statement, then the
    transpose and the matrix form."""
    target = ds.indices
    final_lhs = Tensor(lhs.name, target)
    if tuple(P) != tuple(target):
        renamed = substitute(total, dict(zip(P, target)))
        sec.steps.append(Step(RENAME_FREE, final_lhs, renamed,
                              (", ".join(f"{p.name} -> {t.name}" for p, t in zip(P, target) if p != t),)))
        total = renamed
    if alpha_key(total) != alpha_key(ds.rhs):
        gone = sorted(tensor_names(total) - tensor_names(ds.rhs) - {f.name for f in forward})
        if gone:  # an adjoint substituted, and the terms multiplied out
            sec.steps.append(Step(EXPAND, final_lhs, ds.rhs,
                                  (f"substituting {', '.join(gone)}; the terms cancel",)))
        else:
            rule = REUSE if _reuses(total, ds.rhs) else RENAME
            sec.steps.append(Step(rule, final_lhs, ds.rhs))
    elif total != ds.rhs:
        sec.steps.append(Step(RENAME, final_lhs, ds.rhs))
    if mline is not None and mline.node is not None:
        t = transposed_form(ds.rhs, mline)
        if t is not None:
            sec.steps.append(Step(TRANSPOSE, final_lhs, t, ("to put the summed index inside",)))
        sec.steps.append(Step(MATRIX, final_lhs, None, matrix=mline))
    elif mline is not None:
        fixed = [i.name for dl in mline.slice[0] for i in dl.indices] if mline.slice else []
        note = f"no matrix form: {mline.reason}" + (
            f"; for each {', '.join(fixed)} the slice is a matrix" if fixed else "; the einsum form")
        sec.steps.append(Step(MATRIX, final_lhs, None, (note,), matrix=mline))


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
        start: list[Expr] = [Deriv(rhs, X)] if _depends(rhs, x) else []
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
        begin = _add(start)
        if len(start) > 1 or (start and not isinstance(start[0], Deriv)):
            sec.steps.append(Step(CHAIN_TENSOR, lhs, begin))
        ex, expanded = expand_steps(lhs, begin, answers)
        sec.steps += ex
        s_steps, total = simplify_steps(lhs, expanded)
        _extend(sec.steps, s_steps, total)
        _finish(sec, lhs, total, ds, ds.indices, matrix_lines.get(ds.name))
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
        if _depends(rhs, x):
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
        begin = _add(start)
        sec.steps.append(Step(TANGENT, lhs, begin))
        ex, expanded = expand_steps(lhs, begin, answers)
        sec.steps += ex
        s_steps, total = simplify_steps(lhs, expanded)
        _extend(sec.steps, s_steps, total)
        _finish(sec, lhs, total, ds, ds.indices, matrix_lines.get(ds.name))
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
    for s in reversed(g.reverse.replay):
        if s.name in need:
            need.update(r.name for r in tensor_refs(s.rhs))
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
    _extend(sec.steps, s_steps, total)
    _finish(sec, lhs, total, ds, ds.indices, matrix_lines.get(out))
    sections.append(sec)
    return sections


def derivation_steps(d: DerivationRecord, wrt: str | None = None) -> Steps:
    """The step-by-step derivation of ``d`` (of every result, or of the one for ``wrt``)."""
    out = Steps(d)
    for sec in _sections(d, wrt):
        for st in sec.steps:
            st.section = sec.title
            if out and out[-1].section == st.section and out[-1].lhs == st.lhs \
                    and st.rhs is not None and out[-1].rhs is not None and st.aside is None \
                    and _text(out, out[-1]) == _text(out, st):
                out[-1].rhs = st.rhs  # a rewrite that does not show (say -1 * x -> -x)
                continue
            out.append(st)
    return out


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


# ---------------------------------------------------------------- printing


class Steps(list):
    """A list of :class:`Step`; ``str()`` numbers them under a heading per result.

    :meth:`text` takes ``notation`` (``"text"``, ``"unicode"``), :meth:`latex` gives an
    ``aligned`` block, :meth:`markdown` a Markdown section with the math in ``$$``.
    """

    def __init__(self, d: DerivationRecord) -> None:
        super().__init__()
        self.derivation = d
        self.adjoints = {a: (d.loss, p) for a, p in d.reverse.adjoint_of.items()}

    # -- one step
    def equation(self, st: Step, notation: str = "text") -> tuple[str, str]:
        """The two sides of ``st`` in ``notation``."""

        d = self.derivation
        lhs_idx = _lhs_indices(st.lhs)
        if isinstance(st.lhs, Tensor) and st.lhs.name in d.hessians and notation != "text":

            lhs = _head(Statement(st.lhs.name, st.lhs.indices, ZERO), None, None,
                        notation_of(notation), None, d.hessians)
        else:
            lhs = _expr(self._shown(st.lhs), lhs_idx, notation, self.adjoints, d.refs)
        if st.matrix is not None:
            ln = st.matrix
            if ln.node is None:  # no matrix form: each slice's, or the einsum form
                if ln.slice is not None:
                    deltas, inner, node = ln.slice
                    colon = {i: Index(":", i.dim) for i in inner}
                    lhs = _expr(substitute(self._shown(st.lhs), colon), (), notation, self.adjoints, d.refs)
                    rhs = _expr(_mul(deltas), (), notation, self.adjoints, d.refs)
                    if notation == "latex":
                        return lhs, rhs + r"\, " + render_latex(node, matrix_view(d).spelling)
                    return lhs, f"{rhs} * {render_text(node)}"
                return lhs, (ln.einsum or "")
            sp = matrix_view(d).spelling
            if notation == "latex":
                return sp.latex(ln.name), render_latex(ln.node, sp)
            text_name = (lambda n: self._matrix_name(n, notation))
            return text_name(ln.name), render_text(ln.node, text_name)
        assert st.rhs is not None  # only the matrix-form step has no right-hand side
        rhs = _expr(st.rhs, lhs_idx, notation, self.adjoints, d.refs, not st.as_written)
        return lhs, rhs

    def _shown(self, lhs: Expr) -> Expr:
        """A Jacobian tensor on the left is written as the derivative it is."""
        refs = self.derivation.refs
        if isinstance(lhs, Tensor) and lhs.name in refs:
            num, rank, den = refs[lhs.name]
            return Deriv(Tensor(num, lhs.indices[:rank]), Tensor(den, lhs.indices[rank:]))
        return lhs

    def _matrix_name(self, name: str, notation: str) -> str:
        d = self.derivation
        if name in d.reverse.adjoint_of:
            p = d.reverse.adjoint_of[name]
            return f"∂{d.loss}/∂{p}" if notation == "unicode" else f"d{d.loss}/d{p}"
        if name in d.refs:
            num, _, den = d.refs[name]
            if num in d.reverse.adjoint_of:  # the Jacobian of an adjoint
                num = f"(∂{d.loss}/∂{d.reverse.adjoint_of[num]})" if notation == "unicode" else \
                    f"(d{d.loss}/d{d.reverse.adjoint_of[num]})"
            return f"∂{num}/∂{den}" if notation == "unicode" else f"d{num}/d{den}"
        return name

    def note_text(self, st: Step, notation: str = "text") -> str:
        """The note of ``st``; in LaTeX, words in ``\\text{}`` and expressions as math."""
        out = []
        for part in st.note:
            if isinstance(part, Expr):
                out.append(_expr(part, sorted(part.free), notation, self.adjoints, self.derivation.refs))
            elif notation == "latex":
                out.append(rf"\text{{{latex_text(part)}}}" if part else "")
            else:
                out.append(part)
        return "".join(out)

    def aside_text(self, st: Step, notation: str = "text") -> str:
        if st.aside is None:
            return ""
        a, b = st.aside
        idx = _lhs_indices(a)
        return f"{_expr(a, idx, notation, self.adjoints, self.derivation.refs)} = " \
               f"{_expr(b, idx, notation, self.adjoints, self.derivation.refs)}"

    # -- the whole list
    def text(self, notation: str = "text") -> str:
        out: list[str] = []
        section = None
        for k, st in enumerate(self, 1):
            if st.section != section:
                section = st.section
                head = self._section_title(section, notation)
                out.append(("" if not out else "\n") + f"{head}:")
            lhs, rhs = self.equation(st, notation)
            line = f"{k:>3}. {st.rule}"
            extra = []
            if st.aside is not None:
                extra.append(self.aside_text(st, notation))
            if st.note:
                extra.append(self.note_text(st, notation))
            if extra:
                line += f" ({'; '.join(extra)})"
            out.append(line)
            out.append(f"     {lhs} = {rhs}")
        return "\n".join(out)

    def _section_title(self, title: str, notation: str) -> str:
        if notation == "unicode" and title.startswith("d2"):
            return "∂²" + title[2:].replace("/d", "/∂").replace("]d", "]∂")
        if notation == "unicode" and title.startswith("d"):
            return "∂" + title[1:].replace("(d", "(∂").replace("/d", "/∂")
        return title

    def __str__(self) -> str:
        return self.text("text")

    def __repr__(self) -> str:
        return f"<Steps: {len(self)} steps>\n{self}"

    def latex(self) -> str:
        """An ``aligned`` block: ``lhs &= rhs && \\text{rule}`` per step."""
        rows = []
        for k, st in enumerate(self, 1):
            lhs, rhs = self.equation(st, "latex")
            label = rf"\text{{{latex_text(f'{k}. {st.rule}')}{': ' if st.note else ''}}}"
            rows.append(f"{lhs} &= {rhs} && {label}{self.note_text(st, 'latex')}")
        return latex_aligned(rows)

    def markdown(self) -> str:
        """Numbered steps, each with its rule and its equation as display math."""
        out = []
        section = None
        for k, st in enumerate(self, 1):
            if st.section != section:
                section = st.section
                out.append(f"\n#### {section}\n")
            lhs, rhs = self.equation(st, "latex")
            note = f" ({self.note_text(st, 'unicode')})" if st.note else ""
            out.append(f"{k}. **{st.rule}**{note}\n\n   $$ {lhs} = {rhs} $$\n")
        return "\n".join(out).strip() + "\n"

    def _repr_markdown_(self) -> str:
        return self.markdown()


def _lhs_indices(e: Expr) -> tuple[Index, ...]:
    """The free indices of a step's left-hand side, in reading order (each once)."""
    if isinstance(e, (Tensor, Transposed)):
        return tuple(dict.fromkeys(e.indices))
    if isinstance(e, Deriv):
        return tuple(dict.fromkeys(_lhs_indices(e.num) + tuple(e.wrt.indices)))
    return tuple(sorted(e.free))


def _expr(e: Expr, lhs: Sequence[Index], notation: str, adjoints, refs, reorder: bool = True) -> str:

    if isinstance(e, Tensor) and not reorder:
        reorder = True
    return expr_text(e, lhs, reorder, refs, notation=notation, adjoints=adjoints)
