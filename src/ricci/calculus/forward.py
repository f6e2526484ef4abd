"""Stage 3b, forward mode: :func:`jacobian`, the derivative tensor of every statement
w.r.t. one input (``dY[i,j]/dX[p,q]``), chained through intermediates one statement each;
along a tangent, the directional derivative of every statement (a JVP, which Hessian-vector
products use). Intermediate Jacobians that hold a delta are substituted into their uses
(:func:`inline_statements`), so a Jacobian that is mostly zeros is never materialised.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..bounds import check_size, gc_paused, guarded, tick
from ..errors import RicciError
from ..ir.expr import ZERO, Add, Const, Delta, Expr, Index, Mul, Sum, Tensor
from ..ir.indices import rename_bound, substitute
from ..ir.program import Program, Statement, depends_on
from ..ir.traversal import contains, index_names, replace_tensors, tensor_refs
from ..simplify.rewrite import shared_memo, simplify
from .differentiate import derivative_terms
from .prepare import (
    ForwardReuse,
    Names,
    as_program,
    closure,
    fresh_indices,
    lhs_text,
    output_of,
    parse_wrt,
    prepared,
    reuse_forward,
)
from .record import DerivationRecord, Tangent

__all__ = ["forward_mode", "inline_statements", "jacobian"]


@guarded("differentiating")
def jacobian(program: Program | str, wrt: str | Sequence[str], of: str | None = None) -> DerivationRecord:
    """The derivative tensor ``dY[i,j]/dX[p,q]`` of ``of`` w.r.t. each input in ``wrt``.

    Fresh indices are chosen for the denominator (``p, q, ...``) unless given, as in
    ``wrt="X[k,l]"``. Intermediates are chained in forward mode, one statement each.
    """
    with gc_paused(), shared_memo():
        return forward_mode(as_program(program), wrt, of)


def forward_mode(prog: Program, wrt: str | Sequence[str], of: str | None,
              tangent: str | None = None) -> DerivationRecord:
    """Forward mode. With ``tangent`` (the name of an extra input of the one ``wrt``
    input's shape), each statement gets its directional derivative along the tangent,
    ``tY[I] = sum[P](dY[I]/dX[P] * v[P])``, instead of its Jacobian (a JVP)."""
    targets = parse_wrt(prog, wrt)
    if tangent is not None and len(targets) != 1:
        raise RicciError("a directional derivative is taken w.r.t. one input")
    out = output_of(prog, of)
    full = prog
    prog = prepared(prog.upto(out))  # the program's own identities applied
    names = Names(prog)
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
            P = fresh_indices(dims[x], all_names | set(prog.dims))  # not a tensor name either
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
                Pf = fresh_indices(dims[x], used, dims)
                used |= {p.name for p in Pf}
                terms = [Sum(Pf, Mul((t, Tensor(tangent, Pf))))
                         for t in derivative_terms(rhs, x, Pf, answers)]
            for z in dict.fromkeys(r.name for r in tensor_refs(rhs)):
                if z not in jac:
                    continue
                Q = fresh_indices(dims[z], used)
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
                display[jname] = f"d{lhs_text(s.name, s.indices)}/d{lhs_text(x, P)}"
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
                display[jname] = f"d{lhs_text(out, out_stmt.indices)}/d{lhs_text(x, P)}"
            else:
                tangent_of[jname] = out
            outputs[x] = jname
    derived = reuse_forward(prog, derived)
    forward = closure(prog, derived)
    result = Program(forward + derived, dims, dim_names=prog.dim_names, source=prog.text,
                     declared=prog.declared)
    # the code does not materialise an intermediate Jacobian with a delta in it
    lean = inline_statements(derived, set(refs) - set(outputs.values()), sparse_only=True)
    code = None if len(lean) == len(derived) else Program(
        closure(prog, lean) + lean, dims, dim_names=prog.dim_names, source=prog.text,
                     declared=prog.declared)
    return DerivationRecord("jacobian" if tangent is None else "jvp", result, full,
                            tuple(n for n, _ in targets), out, outputs, tuple(derived), forward=prog,
                            code_program=code if code is not None else result, seed=tangent,
                            display=display, refs=refs, inline=inline, tangent=Tangent(tangent_of))


def inline_statements(stmts: Sequence[Statement], candidates: set[str],
                      sparse_only: bool = False,
                      bodies: dict[str, Statement] | None = None,
                      forward: Program | None = None) -> list[Statement]:
    """``stmts`` with each candidate substituted into the statements after it (and
    dropped) where its right-hand side has no summation and is not a sum of terms (a
    product such as ``X[n,p] * (1 - H[n,k]^2) * delta[k,q]``); with ``sparse_only``, only
    where it also holds a delta. The uses are simplified, so the deltas eat indices: a
    Jacobian that is mostly zeros is never materialised. Terminates: each substitution
    removes a statement, and statements only read earlier ones. ``bodies`` receives the
    substituted statements (each with the earlier ones substituted into it). With
    ``forward``, its values are reused in a statement something was substituted into
    (``exp(z[n,l]) / m[n]`` is ``p[n,l]`` once ``dm_dz = exp(z[n,l]) * delta[n,o]`` is in)."""
    bodies = {} if bodies is None else bodies

    def expand(n: Tensor) -> Expr:
        b = bodies[n.name]
        return substitute(b.rhs, dict(zip(b.indices, n.indices)))

    reusing = None if forward is None else ForwardReuse(forward)  # (its tables built once: linear)
    out: list[Statement] = []
    for st in stmts:
        if bodies and any(r.name in bodies for r in tensor_refs(st.rhs)):
            tick()
            st = st.replace(simplify(replace_tensors(st.rhs, bodies, expand)))
            if reusing is not None:
                (st,) = reusing([st])
            check_size(st.rhs.nodes, f"the derivative {st.name}")
        if st.name in candidates and not isinstance(st.rhs, Add) and not contains(st.rhs, Sum) \
                and (not sparse_only or contains(st.rhs, Delta)):
            bodies[st.name] = st
            continue
        out.append(st)
    return out
