"""Stage 3c: second derivatives — Hessians, their diagonals, Hessian-vector products.

All three are forward mode over reverse mode, on programs:

1. :func:`~ricci.calculus.reverse.grad` writes the gradient ``dx[I] = dL/dx[I]`` as a program
   (its adjoints are statements, shared, linear in the length of the program);
2. forward mode (:func:`~ricci.calculus.forward.jacobian`) differentiates that program w.r.t.
   ``y[J]``: every statement on the way gets its Jacobian ``dZ[K]/dy[J]``, or for
   :func:`hvp` its directional derivative ``tZ[K] = dZ[K]/dy[J] * v[J]``;
3. an intermediate Jacobian without a summation that is not a sum of terms (a product
   such as ``X[n,j] * p[n] * (1 - p[n])``, or one with a delta, ``delta[h,q] * X[n,p]``)
   is substituted into its uses and the result simplified, so the deltas eat their
   indices and the Hessian is one closed form: ``H[d,e] = X[n,d] * X[n,e] * p[n] *
   (1 - p[n])`` for logistic regression, ``H[i,j] = A[i,j] + A[j,i]`` for ``x^T A x``.
   Nothing sparse (a delta) is ever materialised, and the Hessian of a program costs what
   its closed form costs, not one reverse pass per entry.

The substitution terminates: each step removes one statement, and a statement only reads
statements before it.
"""

from __future__ import annotations

from collections.abc import Sequence

from .. import validate
from ..bounds import check_size, gc_paused, guarded, tick
from ..errors import RicciError
from ..ir.expr import Expr, Index, Sum, Tensor
from ..ir.indices import fresh_name, substitute, successors
from ..ir.program import Program, Statement
from ..ir.traversal import contains, index_names, replace_tensors, tensor_refs
from ..simplify.factor import factor_common, node_count
from ..simplify.rewrite import shared_memo, simplify
from .forward import forward_mode, inline_statements
from .prepare import Names, as_program, closure, output_of, parse_wrt, program_error, reuse_forward
from .record import DerivationRecord, Reverse, Second
from .reverse import reverse_mode
from .symmetry import assume_facts

__all__ = ["hessian", "hvp"]


@guarded("computing a Hessian")
def hessian(program: Program | str, wrt: str | Sequence[str], of: str | None = None, *,
            diagonal: bool = False) -> DerivationRecord:
    """The Hessian ``H[I,J] = d2L/dx[I]dx[J]`` of the scalar ``of`` (default: the last
    statement) w.r.t. the input ``wrt="x"``; ``wrt=("x", "y")`` gives the mixed second
    derivative ``d2L/dx[I]dy[J]``. Names may fix the indices: ``wrt=("x[i]", "x[j]")``.

    Compiled, the result has shape ``x.shape + y.shape`` (the dict key is ``"x"``, or
    ``"x,y"`` for a mixed one). With ``diagonal=True`` (``x`` only) the result is the
    diagonal ``H[I,I]``, shape ``x.shape``, computed without forming the Hessian.
    """
    with gc_paused(), shared_memo():
        return _hessian(as_program(program), wrt, of, diagonal)


@guarded("computing a Hessian-vector product")
def hvp(program: Program | str, wrt: str, of: str | None = None) -> DerivationRecord:
    """The Hessian-vector product ``Hv[I] = d2L/dx[I]dx[J] * v[J]`` of the scalar ``of``
    w.r.t. ``wrt``, without forming the Hessian: the directional derivative of the
    gradient along an extra input ``v`` of x's shape (``d.seed`` is its name: ``v``, or
    another name if the program uses ``v``). Compiled, the result has x's shape."""
    with gc_paused(), shared_memo():
        return _hvp(as_program(program), wrt, of)


def _pair(prog: Program, wrt: str | Sequence[str]) -> tuple[str, str]:
    if not (isinstance(wrt, str) or (isinstance(wrt, (list, tuple)) and wrt and
                                     all(isinstance(w, str) for w in wrt))):
        raise RicciError(f"wrt must be an input's name, or a pair of names for a mixed second "
                         f"derivative, got {wrt!r}")
    if isinstance(wrt, str):
        return wrt, wrt.split("[")[0].strip()
    items = list(wrt)
    if len(items) == 1:
        return items[0], items[0].split("[")[0].strip()
    if len(items) != 2 or not all(isinstance(w, str) for w in items):
        raise RicciError(f"wrt must be an input's name, or a pair of names for a mixed second "
                         f"derivative, got {wrt!r}")
    return items[0], items[1]


def _scalar(prog: Program, of: str | None, what: str) -> str:
    out = output_of(prog, of)
    if prog.dims[out]:
        idx = ",".join(prog.defined[out].indices[k].name for k in range(len(prog.dims[out])))
        raise program_error(prog, f"{what} needs a scalar output, but '{out}' has indices [{idx}]", out,
                   hint=f"sum it to a scalar first, e.g. L = sum[{idx}]({out}[{idx}])")
    return out


def _hessian(prog: Program, wrt: str | Sequence[str], of: str | None, diagonal: bool) -> DerivationRecord:
    validate.flag(diagonal, "diagonal")
    xspec, yspec = _pair(prog, wrt)
    out = _scalar(prog, of, "a Hessian")
    (x, _), = parse_wrt(prog, xspec)
    (y, ychosen), = parse_wrt(prog, yspec)
    if diagonal and x != y:
        raise RicciError(f"diagonal=True needs one input (the diagonal of d2L/dx dx); "
                         f"got the mixed pair ('{x}', '{y}')")
    g = reverse_mode(prog, [xspec], out, fold=False)
    gout = g.outputs[x]
    gidx = g.program.defined[gout].indices
    if ychosen is None:
        ychosen = _second_names(g.program, x, y, gidx)
    elif set(ychosen) & {i.name for i in gidx}:
        raise RicciError(f"wrt {list(wrt)!r}: the two groups of indices must have different names")
    j = forward_mode(g.program, f"{y}[{','.join(ychosen)}]" if ychosen else y, gout)
    names = Names(j.program)
    hname = names.claim("H", f"H_{x}") if x == y else names.claim("H", f"H_{x}_{y}")
    derived = [s for s in j.program.statements if s.name in j.refs or s.name == j.outputs[y]]
    final = j.outputs[y]
    bodies: dict[str, Statement] = {}
    if prog.declared:  # finished results: written under the declared facts before substituting
        derived = [assume_facts(s, prog.declared) for s in derived]
    derived = inline_statements(derived, {n for n in j.refs if n != final}, bodies=bodies, forward=g.forward)
    last = derived[-1]
    rhs = last.rhs
    idx = last.indices
    if diagonal:
        hname = names.claim("diagH", f"diagH_{x}")
        idx = last.indices[:len(gidx)]
        rhs = simplify(substitute(rhs, dict(zip(last.indices[len(gidx):], idx))))
    derived[-1] = Statement(hname, idx, rhs, derived=True)
    key = x if x == y else f"{x},{y}"
    kind = "hessian"
    return _result(kind, prog, g, j, derived, {key: hname}, (x,) if x == y else (x, y), out,
                   seed=None, second={hname: (out, x, len(gidx), y, diagonal)}, inlined=bodies)


def _hvp(prog: Program, wrt: str, of: str | None) -> DerivationRecord:
    if not isinstance(wrt, str):
        raise RicciError(f"hvp is w.r.t. one input, got wrt={wrt!r}")
    out = _scalar(prog, of, "a Hessian-vector product")
    (x, _), = parse_wrt(prog, wrt)
    g = reverse_mode(prog, [wrt], out, fold=False)
    v = Names(g.program).claim("v", f"v_{x}", f"t_{x}")
    j = forward_mode(g.program, x, g.outputs[x], tangent=v)
    names = Names(j.program)
    hname = names.claim("Hv", f"Hv_{x}")
    final = j.outputs[x]
    tangents = [s for s in j.program.statements if s in j.shown]
    bodies: dict[str, Statement] = {}
    derived = inline_statements(tangents, {s.name for s in tangents if s.name != final}, bodies=bodies,
                                forward=g.forward)
    last = derived[-1]
    derived[-1] = Statement(hname, last.indices, last.rhs, derived=True)
    return _result("hvp", prog, g, j, derived, {x: hname}, (x,), out, seed=v, second={},
                   inlined=bodies)


def _second_names(gprog: Program, x: str, y: str, gidx: tuple[Index, ...]) -> list[str]:
    """Names for the indices of ``y`` in ``d2L/dx[I]dy[J]``: the letters after I's for the
    Hessian (``H[i,j]``, ``H[i,r,j,s]``), distinct from every left-hand index and tensor."""
    avoid = set(gprog.dims) | {i.name for i in gidx}
    for s in gprog.statements:
        avoid |= {i.name for i in s.indices}
    dims = gprog.dims[y]
    out: list[str] = []
    for k, d in enumerate(dims):
        # not a name the program gives another dim (j of V[j,r] is not U's row index)
        other = {n for dd, ns in gprog.dim_names.items() if dd != d for n in ns}
        prefer = successors(gidx[k].name) if x == y else list(gprog.dim_names.get(d, ()))
        n = fresh_name(avoid | other, prefer)
        avoid.add(n)
        out.append(n)
    return out


def _tidy(st: Statement, dim_names: dict[str, tuple[str, ...]], tensors: set[str]) -> Statement:
    """``st`` with each summed index named as the user wrote its dim where that name is
    free there (``X[n,d] * X[n,e]``, not the ``q`` a substitution left)."""
    rhs = _tidy_names(st.rhs, {i.name for i in st.indices}, dim_names, tensors)
    return st if rhs == st.rhs else st.replace(simplify(rhs))


def _tidy_names(n: Expr, taken: set[str], dim_names: dict[str, tuple[str, ...]],
                tensors: set[str]) -> Expr:
    if isinstance(n, Sum):
        ren: dict[Index, Index] = {}
        used = taken | index_names(n) | tensors
        for b in n.indices:
            wants = dim_names.get(b.dim, ())
            wants = tuple(wants) + tuple(successors(wants[0]) if wants else ())
            for w in wants:  # the first free one; b's own name if it comes first
                if w == b.name and w not in tensors:  # (never a tensor's name: sum[m](t[n,m]) * m[n])
                    break
                if w not in used:
                    ren[b] = Index(w, b.dim)
                    used.add(w)
                    break
        body = substitute(n.body, ren) if ren else n.body
        idx = [ren.get(b, b) for b in n.indices]
        return Sum(idx, _tidy_names(body, taken | {i.name for i in idx}, dim_names, tensors))
    kids = n.children
    if not kids or not contains(n, Sum):
        return n
    new = tuple([_tidy_names(k, taken, dim_names, tensors) for k in kids])
    return n if all(a is b for a, b in zip(new, kids)) else n.rebuild(new)


def _polish(derived: list[Statement], g: DerivationRecord, dim_names: dict[str, tuple[str, ...]],
            tensors: set[str]) -> list[Statement]:
    """The statements as a textbook writes them: a small elementwise gradient value they
    read substituted (``dz1 = sigmoid(z1)``: ``sigmoid(z1) * (1 - sigmoid(z1))``, not
    ``dz1 * (1 - dz1)``), summed indices named as the user wrote them, factors common to
    all terms taken out where that is shorter (``s * (1-s) * (1-y) + s * (1-s) * y`` is
    ``s * (1-s)``)."""
    small = {s.name: s for s in g.program.statements
             if s.derived and node_count(s.rhs) <= 12 and not contains(s.rhs, Sum)}

    # a small reduction (dm[n] = sum[k](t[n,k]) / m[n]) too, where that is no longer:
    # then the forward values come back (dm[n] * exp(z[n,k]) is sum[j](t[n,j]) * p[n,k])
    sums = {s.name: s for s in g.program.statements
            if s.derived and s.name not in small and node_count(s.rhs) <= 12 and contains(s.rhs, Sum)}
    out = []
    for st in derived:
        tick()
        if any(r.name in small for r in tensor_refs(st.rhs)):
            st = st.replace(_expanded(st.rhs, small))
        if st is derived[-1] and any(r.name in sums for r in tensor_refs(st.rhs)):
            st = _substitute_reductions(st, sums, g.forward)
        st = _tidy(st, dim_names, tensors)
        rhs = factor_common(st.rhs)
        check_size(rhs.nodes, f"the derivative {st.name}")
        out.append(st if rhs is st.rhs else st.replace(rhs))
    return out


def _expanded(rhs: Expr, defs: dict[str, Statement]) -> Expr:
    """``rhs`` with every reference to a statement of ``defs`` replaced by its right-hand
    side (indices renamed to the reference's), simplified."""

    def expand(n: Tensor) -> Expr:
        b = defs[n.name]
        return substitute(b.rhs, dict(zip(b.indices, n.indices)))

    return simplify(replace_tensors(rhs, defs, expand))


def _substitute_reductions(st: Statement, sums: dict[str, Statement], forward: Program) -> Statement:
    """``st`` with the reductions in ``sums`` substituted and forward values reused,
    if that gives no more nodes than ``st`` and the reductions' statements together."""
    used = {r.name for r in tensor_refs(st.rhs) if r.name in sums}
    cand = st.replace(_expanded(st.rhs, sums))
    (cand,) = reuse_forward(forward, [cand])
    before = node_count(st.rhs) + sum(node_count(sums[n].rhs) for n in used)
    return cand if node_count(cand.rhs) <= before else st


def _result(kind: str, prog: Program, g: DerivationRecord, j: DerivationRecord, derived: list[Statement],
            outputs: dict[str, str], wrt: tuple[str, ...], out: str, seed: str | None,
            second: dict, inlined: dict[str, Statement]) -> DerivationRecord:
    """The Derivation of a second derivative: the forward and gradient statements the
    result reads (from ``g.program``), then ``derived``."""
    derived = _polish(derived, g, prog.dim_names, set(j.program.dims) | set(prog.dims) | set(g.forward.dims))
    # forward values polishing brought back (p of a softmax) may not be in g.program
    defs = {s.name: s for s in g.program.statements}
    fwd = {s.name for s in g.forward.statements}
    merged = [defs.get(s.name, s) for s in g.forward.statements] + \
        [s for s in g.program.statements if s.name not in fwd]
    need = closure(Program(merged, {**g.forward.dims, **g.program.dims}), derived)
    dims = {**g.forward.dims, **j.program.dims}
    for s in derived:
        dims[s.name] = tuple(i.dim for i in s.indices)
    program = Program(need + derived, dims, dim_names=prog.dim_names, source=prog.text,
                     declared=prog.declared)
    # the gradient's statements the result reads, and the names ricci introduced that
    # those read (z1 of a logistic regression is not shown when only p is read)
    gshown = {s.name for s in g.shown}
    shown = [s for s in need if s.name in gshown and s.derived] + derived
    # every intermediate Jacobian is spelled as one (the steps derive them all)
    refs, display = dict(j.refs), dict(j.display)
    adjoint_of = dict(g.reverse.adjoint_of)  # also spells the Jacobians of adjoints: d(dL/dh)/dW
    read = {r.name for s in shown for r in tensor_refs(s.rhs)}
    read |= {refs[r][0] for r in list(read) if r in refs}
    read |= {adjoint_of[r] for r in list(read) if r in adjoint_of}
    # named by ricci (z1 = X @ W1) and read, if only as dL/dz1: its definition is shown
    lifted = [s for s in g.forward.statements if s.name in gshown and not s.derived and s.name in read]
    shown = lifted + shown
    replay = list(g.reverse.replay) + [s for s in j.program.statements if s.derived
                                        and s.name not in g.program.defined] + derived
    return DerivationRecord(kind, program, prog, wrt, out, outputs, tuple(shown), forward=g.forward,
                            code_program=program, seed=seed, display=display, refs=refs,
                            inline=dict(g.inline), reverse=Reverse(adjoint_of, tuple(replay)),
                            tangent=j.tangent, second=Second(g, j, second, inlined))
