"""Stage 3b, reverse mode: :func:`grad`, the chain rule over a whole program.

One loop over the statements in reverse (topological) order accumulates, for every
tensor on a path from the inputs to the output, the list of its adjoint contributions
``sum[I](dY[I] * dY[I]/dX[P])`` (each simplified, with the deltas eating the fresh indices
``P``). A tensor's adjoint becomes a named statement ``dX[...] = ...`` once all its
contributions are in, so forward values and adjoints are shared and the work is linear in
the length of the program: gradients are never expanded into a sum over paths.

The result is a :class:`~ricci.calculus.record.DerivationRecord` whose program is an
ordinary :class:`~ricci.ir.program.Program`: it can be printed, compiled and
differentiated again.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence

from ..bounds import check_size, gc_paused, guarded, tick
from ..ir.expr import ONE, ZERO, Add, Const, Expr, Mul, Pow, Sum, Tensor
from ..ir.indices import rename_bound, substitute
from ..ir.program import Program, Statement, ancestors, depends_on
from ..ir.traversal import contains, distinct, index_names, map_bottom_up, tensor_refs
from ..simplify.factor import expand_if_smaller, node_count
from ..simplify.rewrite import shared_memo, simplify
from .differentiate import derivative_terms
from .prepare import (
    Names,
    as_program,
    closure,
    first_use_indices,
    fresh_indices,
    input_indices,
    known_answers,
    lift,
    output_of,
    parse_wrt,
    prepared,
    reuse_forward,
)
from .record import DerivationRecord, Reverse

__all__ = ["grad", "reverse_mode"]


@guarded("differentiating")
def grad(program: Program | str, wrt: str | Sequence[str], of: str | None = None) -> DerivationRecord:
    """Gradients of ``of`` (default: the last statement) w.r.t. the inputs ``wrt``.

    For a scalar output the result is its gradient; otherwise the upstream gradient is an
    extra input named ``d`` + the output's name (``dY``). ``wrt`` items may fix the names
    of the gradient's indices: ``"W[a,b]"``.
    """
    with gc_paused(), shared_memo():
        return reverse_mode(as_program(program), wrt, of)


def reverse_mode(prog: Program, wrt: str | Sequence[str], of: str | None) -> DerivationRecord:
    targets = parse_wrt(prog, wrt)
    out = output_of(prog, of)
    names = Names(prog)
    full = prog
    prog = prepared(prog.upto(out))  # the program's own identities applied
    wrt_names = [n for n, _ in targets]
    lifted_prog, lifted = lift(prog, wrt_names, names)
    stmts = lifted_prog.statements
    needs = depends_on(lifted_prog, wrt_names) & ancestors(lifted_prog, out)
    out_stmt = lifted_prog.defined[out]
    dims = dict(lifted_prog.dims)

    seed_name = None
    if out_stmt.indices:
        seed_name = names.adjoint(out)
        seed: Expr = Tensor(seed_name, out_stmt.indices)
        dims[seed_name] = dims[out]
    else:
        seed = ONE

    first_uses = first_use_indices(full)
    grad_idx = {n: input_indices(full, n, chosen, first_uses) for n, chosen in targets}
    contributions: dict[str, list[Expr]] = {}
    derived: list[Statement] = []
    adjoint_names: dict[str, str] = {}
    inline: dict[str, Expr] = {}

    tensor_names_of = set(dims)  # an index is never named like a tensor (r[n,s] * inv(S)[r,i])
    for s in reversed(stmts):
        if s.name not in needs:
            continue
        tick()
        if s.name == out:
            dY = seed
        else:
            rhs = simplify(Add(contributions.pop(s.name, [])))
            check_size(rhs.nodes, f"the adjoint of {s.name}")
            if isinstance(rhs, Add) and node_count(rhs) <= _INLINE_NODES and not contains(rhs, Sum):
                rhs = expand_if_smaller(rhs)  # s*(1-y) - y*(1-s) = s - y
            if isinstance(rhs, Const) or (isinstance(rhs, Tensor) and rhs.indices == s.indices):
                dY = inline[s.name] = rhs  # used where it is needed, not given a statement
            else:
                an = names.adjoint(s.name)
                adjoint_names[s.name] = an
                dims[an] = dims[s.name]
                derived.append(Statement(an, s.indices, rhs, derived=True))
                dY = Tensor(an, s.indices)
        if dY == ZERO:
            continue
        answers = known_answers(s)
        stmt_names = {i.name for i in s.indices} | index_names(s.rhs)
        own_of: dict[str, list[str]] = {}  # the index names of each tensor's references
        for r in tensor_refs(s.rhs):
            own_of.setdefault(r.name, []).extend(i.name for i in r.indices)
        for x, own in own_of.items():
            if x not in needs:
                continue
            target = grad_idx[x] if x in grad_idx else lifted_prog.defined[x].indices
            fresh = fresh_indices(dims[x], stmt_names | {i.name for i in target}, tensor_names_of)
            terms = derivative_terms(s.rhs, x, fresh, answers)
            if not terms:
                continue
            tick()
            c = simplify(Add([Sum(s.indices, Mul((dY, t))) for t in terms]))
            check_size(c.nodes, f"the adjoint of {x}")
            eaten = own + sorted(stmt_names - index_names(c))
            c = substitute(c, dict(zip(fresh, target)), prefer=eaten)
            contributions.setdefault(x, []).append(c)

    outputs: dict[str, str] = {}
    for name, _ in targets:
        gname = names.adjoint(name)
        dims[gname] = dims[name]
        rhs = simplify(Add(contributions.pop(name, [])))
        check_size(rhs.nodes, f"the gradient of {name}")
        derived.append(Statement(gname, grad_idx[name], rhs, derived=True))
        outputs[name] = gname

    derived = reuse_forward(lifted_prog, derived)
    # substitute elementwise adjoints where terms then cancel (dz = p - y); an adjoint no
    # statement reads any more is dropped (and kept as an inline value, for the steps)
    done: list[Statement] = []
    done_by_name: dict[str, Statement] = {}
    for st in derived:
        tick()
        st = st.replace(_inline_adjoints(st.rhs, done_by_name))
        done.append(st)
        done_by_name[st.name] = st
    used = {r.name for st in done for r in tensor_refs(st.rhs)} | set(outputs.values())
    derived = [st for st in done if st.name in used]
    derived = reuse_forward(lifted_prog, derived)
    final = {d.name: d for d in derived}
    replay = [final[st.name] if st.name in used else st
              for st in done]  # every adjoint, the substituted ones too (for the steps)
    forward = closure(lifted_prog, derived)
    result = Program(forward + derived, dims, dim_names=prog.dim_names, source=prog.source)
    lifted_names = {s.name for s in lifted}
    shown = [s for s in forward if s.name in lifted_names] + derived
    adjoint_of = {an: x for x, an in adjoint_names.items()}
    adjoint_of.update({g: x for x, g in outputs.items()})
    if seed_name is not None:
        adjoint_of[seed_name] = out
    return DerivationRecord("grad", result, full, tuple(wrt_names), out, outputs, tuple(shown),
                            forward=lifted_prog, code_program=result, seed=seed_name, inline=inline,
                            reverse=Reverse(adjoint_of, tuple(replay)))


#: the largest adjoint expression that is multiplied out to find cancelling terms
_INLINE_NODES = 48


def _inline_adjoints(rhs: Expr, by_name: Mapping[str, Statement]) -> Expr:
    """``rhs`` with an elementwise adjoint it reads substituted, where the (expanded) result
    is no bigger (terms cancel): ``dz = dp * p * (1 - p)`` with ``dp = -y/p + (1-y)/(1-p)``
    is ``p - y``. An adjoint substituted everywhere is dropped by the caller.

    Only a small ``rhs`` is tried (at most ``_INLINE_NODES`` nodes), so the cost per
    statement is bounded and reverse mode stays linear in the length of the program (the
    ``db = dz1 + dz2 + ... + dzT`` of a T-step RNN is not expanded T times)."""
    if node_count(rhs) > _INLINE_NODES:
        return rhs
    for ref in dict.fromkeys(r for r in tensor_refs(rhs) if r.name in by_name):
        st = by_name[ref.name]
        # terms cancel against a division in the adjoint (-y/p + (1-y)/(1-p)); nothing to
        # gain from an adjoint with no division, or with a sum
        if contains(st.rhs, Sum) or not any(
                isinstance(n, Pow) and isinstance(n.exp, Const) and n.exp.value < 0 for n in distinct(st.rhs)):
            continue
        body = substitute(rename_bound(st.rhs, index_names(rhs)), dict(zip(st.indices, ref.indices)))
        cand = expand_if_smaller(simplify(map_bottom_up(rhs, functools.partial(_put, ref, body))))
        if node_count(cand) <= node_count(rhs):  # no bigger, and one adjoint fewer to read
            rhs = cand
    return rhs


def _put(ref: Expr, body: Expr, n: Expr) -> Expr:
    return body if n == ref else n


# ---------------------------------------------------------------- forward mode
