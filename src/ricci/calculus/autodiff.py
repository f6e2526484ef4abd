"""Stage 3b: the chain rule over whole programs.

* :func:`grad` is reverse mode: one loop over the statements in reverse order that
  accumulates, for every tensor on a path from the inputs to the output, the list of
  its adjoint contributions ``sum[I](dY[I] * dY[I]/dX[P])`` (each simplified, with the
  deltas eating the fresh indices ``P``). A tensor's adjoint becomes a named statement
  ``dX[...] = ...`` once all its contributions are in, so forward values and adjoints
  are shared and the work is linear in the length of the program: gradients are never
  expanded into a sum over paths.
* :func:`jacobian` is forward mode: the derivative tensor of every statement w.r.t. one
  input, ``dY[i,j]/dX[p,q]``, chained through intermediates the same way.

Before reverse mode, a function argument that is a contraction or mixes several
differentiated tensors is lifted into a statement of its own (``z1[n,h] = X[n,d] *
W[d,h] + b[h]``), so its adjoint ``dz1 = dY * (1 - Y^2)`` is computed once and shared by
every gradient that flows through it, as a person would write it.

Both return a :class:`~ricci.derivation.Derivation` whose program is an ordinary
:class:`~ricci.program.Program`: it can be printed, compiled and differentiated again.
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Container, Iterable, Mapping, Sequence
from contextlib import contextmanager

from .. import validate
from ..bounds import check_size, guarded, tick
from ..errors import RicciError
from ..ir.expr import (
    ONE,
    ZERO,
    Add,
    Call,
    Const,
    Delta,
    Expr,
    Index,
    Mul,
    Pow,
    Size,
    Sum,
    Tensor,
    contains,
    distinct,
    fresh_name,
    index_names,
    map_bottom_up,
    rename_bound,
    replace_tensors,
    substitute,
    successors,
    tensor_refs,
    walk,
)
from ..ir.program import Program, Statement, ancestors, depends_on
from ..simplify.canonical import alpha_key
from ..simplify.factor import expand_if_smaller, node_count
from ..simplify.rewrite import shared_memo, simplify
from ..syntax.resolve import parse
from .derivation import Derivation
from .differentiate import derivative_terms
from .reuse import reuse


def _read_wrt(item: str) -> tuple[str, list[str] | None] | None:
    """``"X"`` -> ``("X", None)``, ``"X[k, l]"`` -> ``("X", ["k", "l"])``, or ``None`` when
    the text is not of that form. A name is what the parser accepts: a Python identifier
    (``str.isidentifier``: ``W``, ``α``, ``σ2``); spaces around names are allowed."""
    text = item.strip()
    if not text.endswith("]"):
        return (text, None) if text.isidentifier() else None
    name, bracket, inner = text[:-1].partition("[")
    name = name.strip()
    names = [n.strip() for n in inner.split(",")]
    if not bracket or not name.isidentifier() or not all(n.isidentifier() for n in names):
        return None
    return name, names



def as_program(program: Program | str) -> Program:
    """A Program, or text in ricci's notation or in LaTeX (detected) parsed into one."""
    if isinstance(program, Program):
        return program
    if isinstance(program, str):
        return parse(program, syntax="auto")
    raise RicciError(f"expected a Program or program text, got {type(program).__name__}")


def _err(prog: Program, msg: str, name: str | None = None, hint: str | None = None) -> RicciError:
    span = None
    if name is not None:
        st = prog.defined.get(name)
        if st is not None and st.span is not None:
            span = st.span
        else:
            for s in prog.statements:
                if name in s.ref_spans:
                    span = s.ref_spans[name]
                    break
    return RicciError(msg, span=span, source=prog.source, hint=hint)


def _did_you_mean(name: str, options: Iterable[str]) -> str | None:
    import difflib

    m = difflib.get_close_matches(name, list(options), n=1)
    return f"did you mean '{m[0]}'?" if m else None


def _parse_wrt(prog: Program, wrt: str | Sequence[str]) -> list[tuple[str, list[str] | None]]:
    if not isinstance(wrt, (str, list, tuple)):
        raise RicciError(f"wrt must name inputs: a str or a list of str, not {type(wrt).__name__}")
    items = [wrt] if isinstance(wrt, str) else list(wrt)
    if not items:
        raise RicciError("wrt is empty: name at least one input to differentiate with respect to")
    out: list[tuple[str, list[str] | None]] = []
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, str):
            raise RicciError(f"wrt must name inputs as strings, got {item!r}")
        read = _read_wrt(item)
        if read is None:
            raise RicciError(f"cannot read wrt={item!r}: write a name such as 'X', or 'X[k,l]' "
                             f"to choose the names of its indices")
        name, names = read
        if name in prog.defined:
            raise _err(prog, f"wrt names '{name}', which the program computes; gradients are "
                       f"taken with respect to inputs", name,
                       hint="inputs are the names used but never defined: " + ", ".join(prog.inputs))
        if name not in prog.dims:
            hint = _did_you_mean(name, prog.inputs)
            raise RicciError(f"wrt names '{name}', which is not an input of the program "
                             f"(inputs: {', '.join(prog.inputs)})", hint=hint)
        if names is not None:
            if len(names) != prog.rank(name):
                raise RicciError(f"wrt={item!r} gives {len(names)} indices but '{name}' has "
                                 f"{prog.rank(name)}")
            if len(set(names)) != len(names):
                raise RicciError(f"wrt={item!r} repeats an index name")
        if name in seen:
            raise RicciError(f"wrt names '{name}' twice")
        seen.add(name)
        out.append((name, names))
    return out


def _output(prog: Program, of: str | None) -> str:
    if of is None:
        return prog.statements[-1].name
    validate.name(of, "of", optional=True)
    if of in prog.defined:
        return of
    if of in prog.dims:
        raise RicciError(f"of='{of}' names an input; name a statement of the program")
    raise RicciError(f"of='{of}' names no statement of the program",
                     hint=_did_you_mean(of, prog.defined) or
                     "statements: " + ", ".join(prog.defined))


class _Names:
    """Fresh tensor names for adjoints (``dY``), lifted arguments (``z1``) and Jacobians."""

    def __init__(self, prog: Program) -> None:
        self.taken = set(prog.dims) | set(prog.defined)

    def claim(self, *candidates: str) -> str:
        for c in candidates:
            if c not in self.taken:
                self.taken.add(c)
                return c
        base = candidates[0]
        n = 2
        while f"{base}{n}" in self.taken:
            n += 1
        self.taken.add(f"{base}{n}")
        return f"{base}{n}"

    def adjoint(self, name: str) -> str:
        return self.claim("d" + name, "d_" + name, "grad_" + name)


def _ordered_free(e: Expr, prefer: Sequence[Index]) -> list[Index]:
    out = [i for i in prefer if i in e.free]
    for n in distinct(e):
        if isinstance(n, Tensor):
            for i in n.indices:
                if i in e.free and i not in out:
                    out.append(i)
    out.extend(sorted(e.free - set(out)))
    return out


def lift(prog: Program, wrt: Iterable[str], names: _Names) -> tuple[Program, list[Statement]]:
    """Lift function arguments that contract or mix several differentiated tensors.

    ``y[i] = sigmoid(W[i,j]*x[j] + b[i])`` becomes ``z1[i] = W[i,j]*x[j] + b[i]`` and
    ``y[i] = sigmoid(z1[i])``, so the adjoint ``dz1`` is computed once. Returns the new
    program and the lifted statements.
    """
    dep = depends_on(prog, wrt)
    dims = dict(prog.dims)
    out: list[Statement] = []
    lifted: list[Statement] = []

    def qualifies(arg: Expr) -> bool:
        if isinstance(arg, (Tensor, Const, Size)):
            return False
        refs = [n for n in walk(arg) if isinstance(n, Tensor) and n.name in dep]  # x[i] * x[i]: 2
        return len(refs) >= 2 or (bool(refs) and contains(arg, Sum))

    seen: dict[Expr, Statement] = {}  # an argument met again (up to index names) is reused

    def lift_call(n: Expr, s: Statement) -> Expr:
        if not (isinstance(n, Call) and qualifies(n.args[0])):
            return n
        arg = n.args[0]
        idx = _ordered_free(arg, s.indices)
        key = alpha_key(substitute(arg, {i: Index(f"#{k}", i.dim) for k, i in enumerate(idx)}))
        if key in seen:
            return Call(n.fn, (Tensor(seen[key].name, idx),))
        name = names.claim(*(f"z{k}" for k in range(len(lifted) + 1, len(lifted) + 100)))
        st = Statement(name, idx, arg, span=s.span, ref_spans=s.ref_spans, index_spans=s.index_spans)
        dims[name] = tuple(i.dim for i in idx)
        out.append(st)
        lifted.append(st)
        seen[key] = st
        dep.add(name)
        return Call(n.fn, (Tensor(name, idx),))

    for s in prog.statements:
        rhs = s.rhs
        if any(r.name in dep for r in tensor_refs(rhs)):
            rhs = map_bottom_up(rhs, functools.partial(lift_call, s=s))
        out.append(s.replace(rhs) if rhs is not s.rhs else s)
    return Program(out, dims, dim_names=prog.dim_names, source=prog.source), lifted


def _first_uses(prog: Program) -> dict[str, tuple[Index, ...]]:
    """The indices of each tensor at its first use, in one pass over the program."""
    out: dict[str, tuple[Index, ...]] = {}
    for s in prog.statements:
        for r in tensor_refs(s.rhs):
            if not any(i.name.startswith("#") for i in r.indices):  # not inv(A)'s own
                out.setdefault(r.name, r.indices)
    return out


class _Union:
    """The union of several collections of names, for ``in`` only."""

    def __init__(self, parts: Sequence[Container[str]]) -> None:
        self.parts = parts

    def __contains__(self, name: object) -> bool:
        return any(name in p for p in self.parts)


def _input_indices(prog: Program, name: str, chosen: list[str] | None,
                   first_uses: dict[str, tuple[Index, ...]]) -> tuple[Index, ...]:
    """The indices a gradient of input ``name`` is written with: its first use's, made distinct."""
    dims = prog.dims[name]
    if chosen is not None:
        return tuple(Index(n, d) for n, d in zip(chosen, dims))
    first = first_uses.get(name)
    if first is None:  # never used: the gradient is zero, any distinct names do
        return _fresh(dims, prefer="ijklmn")
    names: list[str] = []
    for i in first:
        names.append(i.name if i.name not in names else
                     fresh_name(set(names) | {j.name for j in first}, successors(i.name)))
    return tuple(Index(n, d) for n, d in zip(names, dims))


def _fresh(dims: Sequence[str], *avoid: Container[str], prefer: Sequence[str] = ()) -> tuple[Index, ...]:
    """Distinct new indices of ``dims``, named unlike anything in the ``avoid`` collections
    (read in place, never copied: a statement's fresh names cost O(1), not O(program))."""
    out = []
    mine: set[str] = set()
    taken = _Union((mine, *avoid))
    for d in dims:
        n = fresh_name(taken, prefer)
        mine.add(n)
        out.append(Index(n, d))
    return tuple(out)


def _answers(s: Statement) -> dict[Expr, Expr]:
    return {s.rhs: s.lhs}


def _reuse_forward(prog: Program, stmts: list[Statement]) -> list[Statement]:
    """Replace subexpressions equal to a forward right-hand side by its left-hand side, then
    products of its factors (up to index names, see :mod:`ricci.reuse`)."""
    known = {s.rhs: s.lhs for s in prog.statements
             if not isinstance(s.rhs, (Tensor, Const)) and len(set(s.indices)) == len(s.indices)}
    if known:
        memo: dict = {}

        def fn(n: Expr) -> Expr:
            hit = known.get(n)
            return hit if hit is not None else n

        stmts = [s.replace(map_bottom_up(s.rhs, fn, memo)) for s in stmts]
    return [s.replace(simplify(s.rhs)) for s in reuse(prog.statements, stmts)]


def _closure(prog: Program, stmts: Sequence[Statement]) -> list[Statement]:
    """The forward statements of ``prog`` that ``stmts`` reference, with their dependencies."""
    need = {r.name for s in stmts for r in tensor_refs(s.rhs)}
    keep = []
    for s in reversed(prog.statements):
        if s.name in need:
            keep.append(s)
            need.update(r.name for r in tensor_refs(s.rhs))
    return list(reversed(keep))


# ---------------------------------------------------------------- reverse mode


@contextmanager
def _no_gc():
    """Expression trees hold no reference cycles: pausing the cyclic collector while
    deriving saves its repeated scans of the many new nodes."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@guarded("differentiating")
def grad(program: Program | str, wrt: str | Sequence[str], of: str | None = None) -> Derivation:
    """Gradients of ``of`` (default: the last statement) w.r.t. the inputs ``wrt``.

    For a scalar output the result is its gradient; otherwise the upstream gradient is an
    extra input named ``d`` + the output's name (``dY``). ``wrt`` items may fix the names
    of the gradient's indices: ``"W[a,b]"``.
    """
    with _no_gc(), shared_memo():
        return _grad(as_program(program), wrt, of)


def _grad(prog: Program, wrt: str | Sequence[str], of: str | None) -> Derivation:
    targets = _parse_wrt(prog, wrt)
    out = _output(prog, of)
    names = _Names(prog)
    full = prog
    prog = prog.upto(out)
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

    first_uses = _first_uses(full)
    grad_idx = {n: _input_indices(full, n, chosen, first_uses) for n, chosen in targets}
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
        answers = _answers(s)
        stmt_names = {i.name for i in s.indices} | index_names(s.rhs)
        own_of: dict[str, list[str]] = {}  # the index names of each tensor's references
        for r in tensor_refs(s.rhs):
            own_of.setdefault(r.name, []).extend(i.name for i in r.indices)
        for x, own in own_of.items():
            if x not in needs:
                continue
            target = grad_idx[x] if x in grad_idx else lifted_prog.defined[x].indices
            fresh = _fresh(dims[x], stmt_names | {i.name for i in target}, tensor_names_of)
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

    derived = _reuse_forward(lifted_prog, derived)
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
    derived = _reuse_forward(lifted_prog, derived)
    final = {d.name: d for d in derived}
    replay = [final[st.name] if st.name in used else st
              for st in done]  # every adjoint, the substituted ones too (for the steps)
    forward = _closure(lifted_prog, derived)
    result = Program(forward + derived, dims, dim_names=prog.dim_names, source=prog.source)
    lifted_names = {s.name for s in lifted}
    shown = [s for s in forward if s.name in lifted_names] + derived
    adjoint_of = {an: x for x, an in adjoint_names.items()}
    adjoint_of.update({g: x for x, g in outputs.items()})
    if seed_name is not None:
        adjoint_of[seed_name] = out
    return Derivation("grad", result, source_program=full, wrt=tuple(wrt_names), of=out,
                      outputs=outputs, shown=shown, seed=seed_name, adjoint_of=adjoint_of,
                      forward=lifted_prog, inline=inline, replay=replay)


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


@guarded("differentiating")
def jacobian(program: Program | str, wrt: str | Sequence[str], of: str | None = None) -> Derivation:
    """The derivative tensor ``dY[i,j]/dX[p,q]`` of ``of`` w.r.t. each input in ``wrt``.

    Fresh indices are chosen for the denominator (``p, q, ...``) unless given, as in
    ``wrt="X[k,l]"``. Intermediates are chained in forward mode, one statement each.
    """
    with _no_gc(), shared_memo():
        return _jacobian(as_program(program), wrt, of)


def _jacobian(prog: Program, wrt: str | Sequence[str], of: str | None,
              tangent: str | None = None) -> Derivation:
    """Forward mode. With ``tangent`` (the name of an extra input of the one ``wrt``
    input's shape), each statement gets its directional derivative along the tangent,
    ``tY[I] = sum[P](dY[I]/dX[P] * v[P])``, instead of its Jacobian (a JVP)."""
    targets = _parse_wrt(prog, wrt)
    if tangent is not None and len(targets) != 1:
        raise RicciError("a directional derivative is taken w.r.t. one input")
    out = _output(prog, of)
    full = prog
    prog = prog.upto(out)
    names = _Names(prog)
    out_stmt = prog.defined[out]
    all_names = set().union(*({i.name for i in s.indices} | index_names(s.rhs) for s in prog.statements))
    dims = dict(prog.dims)
    derived: list[Statement] = []
    outputs: dict[str, str] = {}
    display: dict[str, str] = {}
    inline: dict[str, Expr] = {}
    refs: dict[str, tuple[str, int, str]] = {}
    tangent_of: dict[str, str] = {}
    for x, chosen in targets:
        if chosen is not None:
            clash = [n for n in chosen if n in {i.name for i in out_stmt.indices}]
            if clash:
                raise RicciError(f"wrt index '{clash[0]}' is already an index of {out}; "
                                 f"choose other names for the indices of {x}")
            P = tuple(Index(n, d) for n, d in zip(chosen, dims[x]))
        else:
            P = _fresh(dims[x], all_names | set(prog.dims))  # not a tensor name either
        if tangent is not None:
            dims[tangent] = dims[x]
            names.taken.add(tangent)
            P = ()  # a tangent has the statement's own shape
        pnames = {p.name for p in P}
        dep = depends_on(prog, [x])
        jac: dict[str, Expr] = {}
        for s in prog.statements:
            if s.name not in dep:
                continue
            tick()
            rhs = rename_bound(s.rhs, pnames | {i.name for i in s.indices})
            answers = {rhs: s.lhs}
            used = {i.name for i in s.indices} | index_names(rhs) | pnames
            if tangent is None:
                terms = list(derivative_terms(rhs, x, P, answers))
            else:  # sum[P](dY/dX[P] * v[P]): the deltas eat P
                Pf = _fresh(dims[x], used, dims)
                used |= {p.name for p in Pf}
                terms = [Sum(Pf, Mul((t, Tensor(tangent, Pf))))
                         for t in derivative_terms(rhs, x, Pf, answers)]
            for z in dict.fromkeys(r.name for r in tensor_refs(rhs)):
                if z not in jac:
                    continue
                Q = _fresh(dims[z], used)
                used |= {q.name for q in Q}
                zdef = prog.defined[z]
                jz = substitute(jac[z], dict(zip(zdef.indices, Q)))
                for t in derivative_terms(rhs, z, Q, answers):
                    terms.append(Sum(Q, Mul((t, jz))))
            e = simplify(Add(terms))
            check_size(e.nodes, f"the derivative of {s.name}")
            if s.name != out and isinstance(e, Const):
                jac[s.name] = inline[f"{s.name}/{x}"] = e  # a constant Jacobian: used inline
                continue
            jname = names.claim(f"t{s.name}" if tangent else f"d{s.name}_d{x}")
            dims[jname] = tuple(i.dim for i in s.indices + P)
            derived.append(Statement(jname, s.indices + P, e, derived=True))
            if tangent is None:
                display[jname] = f"d{_lhs(s.name, s.indices)}/d{_lhs(x, P)}"
                refs[jname] = (s.name, len(s.indices), x)
            else:
                tangent_of[jname] = s.name
            jac[s.name] = Tensor(jname, s.indices + P)
            if s.name == out:
                outputs[x] = jname
        if out not in dep:
            jname = names.claim(f"t{out}" if tangent else f"d{out}_d{x}")
            dims[jname] = tuple(i.dim for i in out_stmt.indices + P)
            derived.append(Statement(jname, out_stmt.indices + P, ZERO, derived=True))
            if tangent is None:
                display[jname] = f"d{_lhs(out, out_stmt.indices)}/d{_lhs(x, P)}"
            else:
                tangent_of[jname] = out
            outputs[x] = jname
    derived = _reuse_forward(prog, derived)
    forward = _closure(prog, derived)
    result = Program(forward + derived, dims, dim_names=prog.dim_names, source=prog.source)
    # the code does not materialise an intermediate Jacobian with a delta in it
    lean = inline_statements(derived, set(refs) - set(outputs.values()), sparse_only=True)
    code = None if len(lean) == len(derived) else Program(
        _closure(prog, lean) + lean, dims, dim_names=prog.dim_names, source=prog.source)
    return Derivation("jacobian" if tangent is None else "jvp", result, source_program=full,
                      wrt=tuple(n for n, _ in targets), of=out, outputs=outputs, shown=derived,
                      display=display, refs=refs, forward=prog, inline=inline, seed=tangent,
                      code=code, tangent_of=tangent_of)


def inline_statements(stmts: Sequence[Statement], candidates: set[str],
                      sparse_only: bool = False,
                      bodies: dict[str, Statement] | None = None) -> list[Statement]:
    """``stmts`` with each candidate substituted into the statements after it (and
    dropped) where its right-hand side has no summation and is not a sum of terms (a
    product such as ``X[n,p] * (1 - H[n,k]^2) * delta[k,q]``); with ``sparse_only``, only
    where it also holds a delta. The uses are simplified, so the deltas eat indices: a
    Jacobian that is mostly zeros is never materialised. Terminates: each substitution
    removes a statement, and statements only read earlier ones. ``bodies`` receives the
    substituted statements (each with the earlier ones substituted into it)."""
    bodies = {} if bodies is None else bodies

    def expand(n: Tensor) -> Expr:
        b = bodies[n.name]
        return substitute(b.rhs, dict(zip(b.indices, n.indices)))

    out: list[Statement] = []
    for st in stmts:
        if bodies and any(r.name in bodies for r in tensor_refs(st.rhs)):
            tick()
            st = st.replace(simplify(replace_tensors(st.rhs, bodies, expand)))
            check_size(st.rhs.nodes, f"the derivative {st.name}")
        if st.name in candidates and not isinstance(st.rhs, Add) and not contains(st.rhs, Sum) \
                and (not sparse_only or contains(st.rhs, Delta)):
            bodies[st.name] = st
            continue
        out.append(st)
    return out


def _lhs(name: str, idx: Sequence[Index]) -> str:
    return f"{name}[{','.join(i.name for i in idx)}]" if idx else name
