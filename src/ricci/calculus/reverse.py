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
from collections import Counter
from collections.abc import Mapping, Sequence

from ..bounds import check_size, gc_paused, guarded, tick
from ..ir.expr import ONE, ZERO, Add, Call, Const, Delta, Expr, Index, Mul, Pow, Sum, Tensor
from ..ir.indices import rename_bound, substitute
from ..ir.program import Program, Statement, ancestors, depends_on
from ..ir.traversal import contains, distinct, index_names, map_bottom_up, tensor_refs
from ..simplify.factor import expand, expand_if_smaller, node_count
from ..simplify.rewrite import known_normal, renaming_memo, shared_memo, simplify
from .differentiate import derivative_terms
from .prepare import (
    ForwardReuse,
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
)
from .record import DerivationRecord, Reverse
from .symmetry import assume_facts

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


def reverse_mode(prog: Program, wrt: str | Sequence[str], of: str | None, fold: bool = True) -> DerivationRecord:
    """The gradient program. ``fold``: substitute an adjoint into its one reader where that
    folds (see :func:`_inline_adjoints`); second derivatives differentiate the unfolded
    gradient, whose products of adjoints and forward values stay small when differentiated
    again (an HVP never forms ``Hd[:, :, None] * tz[:, :, None]``)."""
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
    seeds_shown: list[tuple[int, Statement]] = []  # (where in ``derived``, the adjoint used inline)

    tensor_names_of = set(dims)  # an index is never named like a tensor (r[n,s] * inv(S)[r,i])
    for s in reversed(stmts):
        if s.name not in needs:
            continue
        tick()
        if s.name == out:
            dY = seed
        else:
            rhs = _summed(contributions.pop(s.name, []))
            check_size(rhs.nodes, f"the adjoint of {s.name}")
            if isinstance(rhs, Add) and node_count(rhs) <= _INLINE_NODES and not contains(rhs, Sum):
                rhs = expand_if_smaller(rhs)  # s*(1-y) - y*(1-s) = s - y
            if _broadcast(rhs, s.indices):
                # used where it is needed, not given a statement: a number (1 / size(n) of a
                # mean) or a smaller tensor (b[j] of sum[i,j](Z[i,j] * b[j])) is never spread
                # into an array for a matrix product to read
                dY = rhs
                if isinstance(rhs, Const):
                    inline[s.name] = rhs
                else:  # the steps derive it as an adjoint of its own, then substitute it
                    an = adjoint_names[s.name] = names.adjoint(s.name)
                    dims[an] = dims[s.name]
                    seeds_shown.append((len(derived), Statement(an, s.indices, rhs, derived=True)))
            else:
                an = names.adjoint(s.name)
                adjoint_names[s.name] = an
                dims[an] = dims[s.name]
                derived.append(Statement(an, s.indices, rhs, derived=True))
                dY = Tensor(an, s.indices)
        if dY == ZERO:
            continue
        stmt_names = {i.name for i in s.indices} | index_names(s.rhs)
        own_of: dict[str, list[str]] = {}  # the index names of each tensor's references
        for r in tensor_refs(s.rhs):
            own_of.setdefault(r.name, []).extend(i.name for i in r.indices)
        wanted = []  # (x, the index names of its references, fresh indices, target indices)
        for x, own in own_of.items():
            if x not in needs:
                continue
            target = grad_idx[x] if x in grad_idx else lifted_prog.defined[x].indices
            fresh = fresh_indices(dims[x], stmt_names | {i.name for i in target}, tensor_names_of)
            wanted.append((x, own, fresh, target))
        # (the same work as for the previous layer, up to names, is that one's renamed)
        got = renaming_memo(
            ("contributions", tuple(tuple(w[1]) for w in wanted), tuple(sorted(stmt_names))),
            Call("", (s.rhs, s.lhs, dY, *(Tensor(x, ix) for x, _, f, t in wanted for ix in (f, t)))),
            functools.partial(_contributions, s, dY, wanted, stmt_names))
        for (x, *_), c in zip(wanted, got.children):
            if not (isinstance(c, Add) and not c.terms):
                contributions.setdefault(x, []).append(known_normal(c))

    outputs: dict[str, str] = {}
    for name, _ in targets:
        gname = names.adjoint(name)
        dims[gname] = dims[name]
        rhs = _summed(contributions.pop(name, []))
        check_size(rhs.nodes, f"the gradient of {name}")
        derived.append(Statement(gname, grad_idx[name], rhs, derived=True))
        outputs[name] = gname

    if fold and full.declared:
        # a finished result (never differentiated again): written under the declared
        # symmetry before substituting, so 2 * (W @ r) folds where W @ r + W.T @ r would not
        derived = [assume_facts(st, full.declared) for st in derived]
    reusing = ForwardReuse(lifted_prog)  # its tables built once: tried for every adjoint
    derived = reusing(derived)
    reused = {id(st.rhs): st.rhs for st in derived}  # (the values keep the ids valid)
    # substitute elementwise adjoints where terms then cancel (dz = p - y); an adjoint no
    # statement reads any more is dropped (and kept as an inline value, for the steps)
    done: list[Statement] = []
    done_by_name: dict[str, Statement] = {}
    # the adjoints one statement reads (and no output is): substituted where that folds
    readers = Counter(n for st in derived for n in _names(st.rhs))
    readers.update(outputs.values())  # an output is read by the caller
    if not fold:
        readers.clear()
    for st in derived:
        tick()
        new = st.replace(_inline_adjoints(st, done_by_name, readers, reusing))
        _moved(readers, _names(st.rhs), _names(new.rhs), done_by_name)
        done.append(new)
        done_by_name[new.name] = new
    used = set(outputs.values())  # the adjoints the outputs read, through the others they read
    for st in reversed(done):
        if st.name in used:
            used.update(r.name for r in tensor_refs(st.rhs))
    derived = [st for st in done if st.name in used]
    # reused again where an adjoint was substituted (a right-hand side the first pass gave
    # is left as it is: the pass is per statement, and that one has had it)
    again = [st for st in derived if reused.get(id(st.rhs)) is not st.rhs]
    redone = dict(zip((st.name for st in again), reusing(again)))
    derived = [redone.get(st.name, st) for st in derived]
    final = {d.name: d for d in derived}
    replay = [final[st.name] if st.name in used else st
              for st in done]  # every adjoint, the substituted ones too (for the steps)
    for at, st in reversed(seeds_shown):  # and those never formed, where they were derived
        replay.insert(at, st)
    forward = closure(lifted_prog, derived)
    result = Program(forward + derived, dims, dim_names=prog.dim_names, source=prog.text,
                     declared=prog.declared)
    lifted_names = {s.name for s in lifted}
    # the named subexpressions a derived line reads (directly or through another one): a
    # reader knows the program's own statements, not the names ricci gave its parts
    need = {n for st in derived for n in _names(st.rhs)}
    for s in reversed(forward):
        if s.name in lifted_names and s.name in need:
            need |= _names(s.rhs)
    shown = [s for s in forward if s.name in lifted_names and s.name in need] + derived
    adjoint_of = {an: x for x, an in adjoint_names.items()}
    adjoint_of.update({g: x for x, g in outputs.items()})
    if seed_name is not None:
        adjoint_of[seed_name] = out
    return DerivationRecord("grad", result, full, tuple(wrt_names), out, outputs, tuple(shown),
                            forward=lifted_prog, code_program=result, seed=seed_name, inline=inline,
                            reverse=Reverse(adjoint_of, tuple(replay)))


def _contributions(s: Statement, dY: Expr, wanted: list[tuple[str, list[str], tuple[Index, ...], tuple[Index, ...]]],
                   stmt_names: set[str]) -> Expr:
    """For each ``(x, own, fresh, target)`` of ``wanted``, ``sum[I](dY[I] * ds[I]/dx[P])``
    with ``P`` (``fresh``) eaten by the deltas or renamed ``target``, simplified; all in
    one node (its children, in order), an empty sum where ``s`` does not depend on ``x``."""
    out: list[Expr] = []
    for x, own, fresh, target in wanted:
        terms = derivative_terms(s.rhs, x, fresh, known_answers(s))
        if not terms:
            out.append(Add(()))  # (simplify never gives an empty sum)
            continue
        tick()
        c = simplify(Add([Sum(s.indices, Mul((dY, t))) for t in terms]))
        check_size(c.nodes, f"the adjoint of {x}")
        eaten = own + sorted(stmt_names - index_names(c))
        # simplified again after renaming its indices (their names order its terms): a
        # normal form, so the adjoint of a tensor read once is this, at once (_summed)
        out.append(simplify(substitute(c, dict(zip(fresh, target)), prefer=eaten)))
    return Call("", out)


def _number(e: Expr) -> bool:
    """``e`` is a number: constants and sizes, no tensor and no free index."""
    return isinstance(e, Const) or (not e.free and not tensor_refs(e) and not contains(e, Sum))


def _broadcast(e: Expr, indices: tuple[Index, ...]) -> bool:
    """``e``, an adjoint over ``indices``, costs nothing to use in place of its name: a
    number, the tensor itself, or numbers times deltas and references to tensors each over
    fewer of the indices (``b[j]``, ``c[i] * b[j] / size(n)``, ``delta[i,j]``: an array of
    them would be bigger than what it is made of, and a product reading it would sum over
    what is constant, or multiply by an identity matrix)."""
    def small(f: Expr) -> bool:
        if isinstance(f, Delta):  # eye(n): a sum against it eats an index
            return set(f.indices) <= set(indices)
        return (isinstance(f, Tensor) and len(set(f.indices)) == len(f.indices) < len(indices)
                and set(f.indices) <= set(indices))
    if _number(e) or small(e) or (isinstance(e, Tensor) and e.indices == indices):
        return True
    return isinstance(e, Mul) and all(_number(f) or small(f) for f in e.factors)


def _summed(terms: list[Expr]) -> Expr:
    """The simplified sum of an adjoint's contributions (normal forms each): one term is
    its own sum, found in the memo without a walk over it."""
    return simplify(terms[0]) if len(terms) == 1 else simplify(Add(terms))


#: the largest adjoint expression that is multiplied out to find cancelling terms
_INLINE_NODES = 48


def _inline_adjoints(st: Statement, by_name: Mapping[str, Statement], readers: Mapping[str, int] | None = None,
                     forward: ForwardReuse | None = None) -> Expr:
    """``st``'s right-hand side with an adjoint it reads substituted, where that pays:

    * an elementwise adjoint with a division, where the (expanded) result is no bigger
      (terms cancel): ``dz = dp * p * (1 - p)`` with ``dp = -y/p + (1-y)/(1-p)`` is ``p - y``;
    * an adjoint only this statement reads (``readers``: how many statements read each
      name; an output counts as read), read once here, where the result is smaller than
      the two statements together by more than substituting saves (the reference, and a
      product merged into a product: 2 nodes), so something folded: constants fold
      and forward values cancel (``dz1 = 0.5 / L; dX = 2 * dz1 * X`` is ``dX = X / L``;
      the forward values of ``forward`` are reused first, so ``z1[n,k] = E[n,k] / s[n]``
      cancels against ``E[n,k] / s[n]``); or where this statement only renames it
      (``dx = dr`` with ``dr = 2 * (W @ r)`` is ``dx = 2 * (W @ r)``), or scales it by a
      constant (``dm = -dr``).

    An adjoint substituted everywhere is dropped by the caller. Only a small right-hand side
    is tried (at most ``_INLINE_NODES`` nodes, before and after), so the cost per statement
    is bounded and reverse mode stays linear in the length of the program (the
    ``db = dz1 + dz2 + ... + dzT`` of a T-step RNN is not expanded T times)."""
    rhs = st.rhs
    if node_count(rhs) > _INLINE_NODES:
        return rhs
    tried: set[Expr] = set()
    for _ in range(_INLINE_NODES):  # one reference tried a pass: the work per statement is bounded
        ref = next((r for r in tensor_refs(rhs) if r.name in by_name and r not in tried), None)
        if ref is None:
            break
        tried.add(ref)
        adj = by_name[ref.name]
        single = (readers or {}).get(ref.name) == 1 and sum(r.name == ref.name for r in tensor_refs(rhs)) == 1
        # terms cancel against a division in the adjoint (-y/p + (1-y)/(1-p)); nothing to
        # gain from an adjoint with no division, or with a sum
        division = not contains(adj.rhs, Sum) and any(
            isinstance(n, Pow) and isinstance(n.exp, Const) and n.exp.value < 0 for n in distinct(adj.rhs))
        if not (single or division):
            continue
        attempt = functools.partial(_attempt, st, rhs, ref, adj, single, division, forward)
        context = None if forward is None else forward.context(_names(rhs) | _names(adj.rhs))
        if context is None:
            rhs = attempt()
        else:  # (what is tried for each layer of a deep network is the previous one's renamed)
            rhs = renaming_memo(("inline", single, division), Call("", (
                rhs, ref, Tensor(adj.name, adj.indices), adj.rhs, *(x for c in context for x in (c.lhs, c.rhs)))),
                attempt)
    return rhs


def _attempt(st: Statement, rhs: Expr, ref: Tensor, adj: Statement, single: bool, division: bool,
             forward: ForwardReuse | None) -> Expr:
    """``rhs`` with the adjoint ``adj`` substituted for ``ref``, where that pays (see
    :func:`_inline_adjoints`), else ``rhs``. A function of its arguments and of the forward
    statements :meth:`ForwardReuse.context` names (``st`` is read for its right-hand side
    only, where no identity applies)."""
    body = substitute(rename_bound(adj.rhs, index_names(rhs)), dict(zip(adj.indices, ref.indices)))
    put = simplify(map_bottom_up(rhs, functools.partial(_put, ref, body)))
    if division:
        cand = expand_if_smaller(put)
        if node_count(cand) <= min(node_count(rhs) + 1, _INLINE_NODES):
            # about as big (never above the bound), one adjoint fewer to read
            return cand
    if not single or node_count(put) > _INLINE_NODES:
        return rhs
    # the forward values reused (sum(t) / m * exp(z) is sum(t) * p); a sum of terms
    # (E * (ds + dP / s)) is multiplied out first too (P * dP)
    forms = [put, expand(put)] if isinstance(adj.rhs, Add) else [put]
    forms = [f if forward is None else forward([st.replace(f)])[0].rhs for f in forms if f is not None]
    best = min((expand_if_smaller(f) for f in forms), key=node_count)
    # dx = dr, dm = -dr: the line says nothing but a constant the adjoint does not
    alias = rhs == ref or (isinstance(rhs, Mul) and all(f == ref or isinstance(f, Const) for f in rhs.factors))
    if node_count(best) <= _INLINE_NODES and (
            alias or node_count(best) + 3 <= node_count(rhs) + node_count(adj.rhs)):
        return best
    return rhs


def _names(e: Expr) -> set[str]:
    return {r.name for r in tensor_refs(e)}


def _moved(readers: Counter, before: set[str], after: set[str], by_name: Mapping[str, Statement]) -> None:
    """Update the count of statements reading each name when a right-hand side reading
    ``before`` now reads ``after``; an adjoint no statement reads any more no longer counts
    as a reader of what it reads (it was substituted)."""
    readers.update(after - before)
    dead = []
    for n in before - after:
        readers[n] -= 1
        if readers[n] == 0 and n in by_name:
            dead.append(n)
    while dead:
        n = dead.pop()
        for m in _names(by_name[n].rhs):
            readers[m] -= 1
            if readers[m] == 0 and m in by_name:
                dead.append(m)


def _put(ref: Expr, body: Expr, n: Expr) -> Expr:
    return body if n == ref else n


# ---------------------------------------------------------------- forward mode
