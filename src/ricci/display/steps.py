"""Step-by-step derivations: the steps themselves, and the chain rule one named rule at a time.

A derivation is replayed the way the articles do it by hand (:mod:`.steps_sections`
assembles the sections, :mod:`.steps_print` prints them). This module holds what a step
is (:class:`Step`, :class:`Section`, the names of the rules as the steps print them) and
the two replays every section is made of:

* :func:`expand_steps`: the local derivative, one rule per step; the differentiation
  steps apply the engine's own rule objects (:data:`ricci.calculus.differentiate.RULES`,
  named as the table names them) one at a time to an unevaluated derivative
  (:class:`~ricci.ir.expr.Deriv`), their holes filled with unevaluated derivatives of
  the children (the notes a rule gets are in :func:`_one_rule`);
* :func:`simplify_steps`: the simplifications that follow (the delta eats an index, delta
  traces, like terms, zeros and ones, constants), each a rewrite the simplifier performed
  (its trace, replayed on the whole expression); :data:`_SHOWN` says which rewrites start
  a step of their own.

Invariant: every step is an equation ``lhs = rhs`` that holds for all values of its
inputs; the test suite evaluates both sides of every step numerically (derivatives
through torch autograd).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ..bounds import tick
from ..calculus import differentiate as D
from ..ir.expr import ONE, ZERO, Add, Call, Const, Delta, Deriv, Expr, MatFn, Mul, Size, Sum, Tensor
from ..ir.traversal import contains, map_bottom_up, tensor_names
from ..primitives.functions import MATRIX_FUNCTIONS
from ..simplify.canonical import alpha_key
from ..simplify.coefficients import split_coef
from ..simplify.rewrite import simplify
from .matrix import MatrixLine

__all__ = [
    "CHAIN_TENSOR", "DEFINITION", "DIAGONAL", "DISTRIBUTE", "EXPAND", "HESSIAN", "HVP", "MATRIX", "NAMING", "ONE_HOT_RULE", "REARRANGE", "RENAME",
    "RENAME_FREE", "REUSE", "Section", "Step", "SUBSTITUTE_JACOBIANS", "SUBSTITUTION", "SYMMETRY", "TANGENT",
    "TRANSPOSE", "depends", "expand_steps", "extend_steps", "flatten", "product_of", "simplify_steps",
    "sum_of",
]

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
REARRANGE = "rearranging"
POWERS = "collecting powers"
POWER_ALGEBRA = "rules of powers"
REUSE = "reusing a forward value"
SYMMETRY = "symmetric input (declared)"
ONE_HOT_RULE = "one-hot input (declared)"
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
    factors in the order the step built them (the chain rule reads ``dl/dy * dy/dx``);
    ``einsum`` prints the einsum form of a result whose matrix-form step shows its slices.
    """

    rule: str
    lhs: Expr
    rhs: Expr | None
    note: tuple = ()  # parts: strings and expressions, printed in the step's notation
    aside: tuple[Expr, Expr] | None = None
    matrix: MatrixLine | None = None
    section: str = ""
    as_written: bool = False
    #: a result with no matrix form and a slice form: this step prints its einsum form
    einsum: bool = False


@dataclass
class Section:
    """The steps that derive one statement (``title`` says which)."""

    title: str
    steps: list[Step] = field(default_factory=list)


# ---------------------------------------------------------------- differentiation, one rule at a time


def depends(e: Expr, name: str) -> bool:
    return name in tensor_names(e)


def _first_deriv(e: Expr, path: tuple = (), zero: bool = False) -> tuple | None:
    """The path to the first unevaluated derivative (pre-order), or None; with ``zero``
    only one whose numerator does not depend on the denominator (a zero)."""
    if isinstance(e, Deriv):
        return path if not zero or not depends(e.num, e.wrt.name) else None
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


def product_of(fs: Sequence[Expr]) -> Expr:
    fs = list(fs)
    if not fs:
        return ONE
    return fs[0] if len(fs) == 1 else Mul(fs)


def sum_of(ts: Sequence[Expr]) -> Expr:
    ts = list(ts)
    if not ts:
        return ZERO
    return ts[0] if len(ts) == 1 else Add(ts)


def flatten(e: Expr) -> Expr:
    """Nested products and sums of terms flattened (the only tidying between rule steps)."""

    def fn(n: Expr) -> Expr:
        tick()  # the steps of a long derivation rewrite large expressions: the time limit applies
        if isinstance(n, Mul) and any(isinstance(f, Mul) for f in n.factors):
            return Mul([g for f in n.factors for g in (f.factors if isinstance(f, Mul) else (f,))])
        if isinstance(n, Add) and any(isinstance(t, Add) for t in n.terms):
            return Add([u for t in n.terms for u in (t.terms if isinstance(t, Add) else (t,))])
        return n

    return map_bottom_up(e, fn)


def _drop_zeros(e: Expr) -> Expr:
    """``a + 0 -> a``, ``a * 0 -> 0``, ``sum[k](0) -> 0``: a zero derivative vanishes."""

    def fn(n: Expr) -> Expr:
        tick()
        if isinstance(n, Add):
            return sum_of([t for t in n.terms if t != ZERO])
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
    res = flatten(sum_of(rule.apply(num, h)))
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
        cur = flatten(_replace_at(cur, path, res))
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


def extend_steps(steps: list[Step], more: list[Step], result: Expr) -> None:
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


