"""Numerically stable code for softmax, log-softmax, logsumexp and cross-entropy.

A program written the textbook way, ``m[n] = sum[k](exp(z[n,k]))`` and
``p[n,k] = exp(z[n,k]) / m[n]``, overflows for logits near 1000. :func:`stabilize`
rewrites such a program, for code generation only (the derivation shown to the user is
untouched), so that it never does:

* every ``exp(z[n,k])`` that is summed over ``k`` somewhere is written
  ``exp(z[n,k] - c[n]) * E[n]`` with ``c[n] = max[k](z[n,k])`` and ``E[n] = exp(c[n])`` a
  *symbolic* scale that is never computed;
* each statement is stored as a mantissa times a power of the scales: ``m = m' * E``,
  ``p = p' * E^0``, the adjoint ``dm = dm' * E^-1``. Products add the powers, sums of terms
  need equal powers, a sum over an index of the scale materialises it, and
  ``log(x' * E^k) = log(x') + k * c`` removes it exactly;
* statements that are products of factors (``p' = exp(z - c) / m'``, ``dp = -t / p``) are
  substituted into their uses and simplified, so that ``exp(a) / exp(a)`` and ``m / m``
  cancel and a probability that underflows to 0 is never divided by; the log of a product
  of positive factors is split (``log(exp(a) / m) = a - log(m)``).

What is left of a scale where a value is needed (an output, the argument of another
function) is materialised as ``exp(k * c)``: the value itself, which is then genuinely out
of range or not. The rewritten program is an ordinary program over the IR (with one
codegen-only node, :class:`~ricci.ir.expr.Max`), so the rest of code generation is unchanged.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Mapping, TypeGuard

from ..ir.expr import ONE, ZERO, Add, Call, Const, Delta, Expr, Index, MatFn, Max, Mul, Pow, Size, Sum, Tensor
from ..ir.indices import rename_bound, substitute
from ..ir.program import Program, Statement
from ..ir.traversal import map_bottom_up, walk
from ..primitives.functions import FUNCTIONS
from ..simplify.factor import expand, node_count
from ..simplify.rewrite import simplify

__all__ = ["claim", "stabilize"]

Scale = dict[tuple[str, tuple[Index, ...]], Fraction]  # (scale tensor, its indices) -> power


def _groups(program: Program) -> dict[str, tuple[int, ...]]:
    """Tensors whose exponential is summed over some of their axes: name -> those axes.

    A normaliser, a sum of the exponentials alone (``sum[k](exp(z[n,k]))``), decides the
    axes; without one, any sum holding the exponential does (a contraction such as
    ``sum[m](exp(s[n,m]) * v[m,e])``). A tensor summed over two different sets of axes
    that way is left alone (no single maximum)."""
    pure: dict[str, set[tuple[int, ...]]] = {}
    found: dict[str, set[tuple[int, ...]]] = {}
    for st in program.statements:
        for n in walk(st.rhs):
            if not isinstance(n, Sum):
                continue
            bound = set(n.indices)
            factors = n.body.factors if isinstance(n.body, Mul) else (n.body,)
            alone = all(not (f.free & bound) or _is_exp_of_tensor(f) for f in factors)
            for m in walk(n.body):
                if _is_exp_of_tensor(m):
                    z = m.args[0]
                    assert isinstance(z, Tensor)  # _is_exp_of_tensor: an exponential of a tensor
                    axes = tuple(k for k, i in enumerate(z.indices) if i in bound)
                    if axes:
                        found.setdefault(z.name, set()).add(axes)
                        if alone and m in factors:
                            pure.setdefault(z.name, set()).add(axes)
    out: dict[str, tuple[int, ...]] = {}
    for name, sets in found.items():
        choice = pure.get(name, sets)
        if len(choice) == 1:
            out[name] = next(iter(choice))
    return out


def _is_exp_of_tensor(e: Expr) -> TypeGuard[Call]:
    """``exp(z[...])`` of a tensor with distinct indices."""
    return isinstance(e, Call) and e.fn == "exp" and isinstance(e.args[0], Tensor) \
        and len(set(e.args[0].indices)) == len(e.args[0].indices)


class _Stabilizer:
    def __init__(self, program: Program, groups: dict[str, tuple[int, ...]],
                 outputs: set[str]) -> None:
        self.p = program
        self.groups = groups
        self.outputs = outputs
        taken = set(program.dims) | set(program.defined)
        self.c_name: dict[str, str] = {}
        self.e_name: dict[str, str] = {}
        for z in groups:
            self.c_name[z] = claim(f"{z}_max", taken)
            self.e_name[z] = f"__E_{z}"
        self.by_e = {e: z for z, e in self.e_name.items()}
        self.dims = dict(program.dims)
        #: statements stored as mantissas: name -> its scale, by positions of its indices
        self.scale: dict[str, dict[tuple[str, tuple[int, ...]], Fraction]] = {}
        #: mantissas that are products of factors, substituted into their uses
        self.monomial: dict[str, Statement] = {}
        #: of those, values that hold an exponential but are no product (a softmax's
        #: adjoint): substituted only where a use can cancel them (see :meth:`prepare`)
        self.lazy: set[str] = set()
        self.positive: set[str] = set()
        self.out: list[Statement] = []
        # statements used as the operand of a matrix function must be stored plainly
        self.plain = {n.arg.name for st in program.statements for n in walk(st.rhs)
                      if isinstance(n, MatFn)}

    # -- the scales
    def c_ref(self, z: str, idx: tuple[Index, ...]) -> Tensor:
        return Tensor(self.c_name[z], idx)

    def rest(self, z: str, idx: tuple[Index, ...]) -> tuple[Index, ...]:
        axes = self.groups[z]
        return tuple(i for k, i in enumerate(idx) if k not in axes)

    def exponent(self, s: Scale) -> Expr:
        """``sum k * c``: the log of a scale."""
        terms = [Mul((Const(k), self.c_ref(self.by_e[e], idx))) for (e, idx), k in s.items() if k]
        return Add(terms) if terms else ZERO

    def materialise(self, m: Expr, s: Scale) -> Expr:
        s = {k: v for k, v in s.items() if v}
        return m if not s else Mul((m, Call("exp", (self.exponent(s),))))

    # -- rewriting a right-hand side
    def prepare(self, e: Expr) -> Expr:
        """``exp(z)`` -> ``exp(z - c) * E``; references to stored statements -> mantissa
        times scale, products of factors substituted."""

        cancel = self._cancelling(e) if self.lazy else set()

        def fn(n: Expr) -> Expr:
            # (a diagonal exp(z[q,q]) too: exp(z[n,k]) = exp(z[n,k] - c[n]) E[n] for every n, k)
            if isinstance(n, Call) and n.fn == "exp" and isinstance(n.args[0], Tensor) \
                    and n.args[0].name in self.groups:
                z = n.args[0]
                r = self.rest(z.name, z.indices)
                shifted = Call("exp", (Add((z, Mul((Const(-1), self.c_ref(z.name, r))))),))
                return Mul((shifted, Tensor(self.e_name[z.name], r)))
            if isinstance(n, Tensor) and n.name in self.scale:
                st = self.monomial.get(n.name)
                if n.name in self.lazy and n not in cancel:
                    st = None  # read where it is used as a factor: computed once, not per use
                base: Expr = n
                if st is not None:
                    rhs = rename_bound(st.rhs, {i.name for i in n.indices})
                    base = substitute(rhs, dict(zip(st.indices, n.indices)))
                sc = self.scale[n.name]
                factors: list[Expr] = [Pow(Tensor(e, tuple(n.indices[k] for k in pos)), Const(k))
                                       for (e, pos), k in sc.items() if k]
                return Mul([base] + factors) if factors else base
            return n

        return map_bottom_up(e, fn)

    def _cancelling(self, e: Expr) -> set[Expr]:
        """The references to :attr:`lazy` values in ``e`` that a substitution can cancel:
        those divided by (under a negative power) or under a log."""
        out: set[Expr] = set()
        for n in walk(e):
            if (isinstance(n, Pow) and isinstance(n.exp, Const) and n.exp.value < 0) or \
                    (isinstance(n, Call) and n.fn == "log"):
                out.update(r for r in walk(n) if isinstance(r, Tensor) and r.name in self.lazy)
        return out

    def split(self, e: Expr) -> tuple[Expr, Scale]:
        """``e`` as (mantissa, scale): ``e = mantissa * prod E^k``."""
        if isinstance(e, Tensor) and e.name in self.by_e:
            return ONE, {(e.name, e.indices): Fraction(1)}
        if isinstance(e, (Const, Size, Delta, Tensor, MatFn, Max)):
            return e, {}
        if isinstance(e, Mul):
            ms: list[Expr] = []
            sc: Scale = {}
            for f in e.factors:
                m, s = self.split(f)
                ms.append(m)
                for k, v in s.items():
                    sc[k] = sc.get(k, Fraction(0)) + v
            return Mul(ms), {k: v for k, v in sc.items() if v}
        if isinstance(e, Pow):
            if isinstance(e.exp, Const):
                m, s = self.split(e.base)
                return Pow(m, e.exp), {k: v * e.exp.value for k, v in s.items()}
            return Pow(self.plain_value(e.base), self.plain_value(e.exp)), {}
        if isinstance(e, Add):
            parts = [self.split(t) for t in e.terms]
            if all(s == parts[0][1] for _, s in parts):
                return Add([m for m, _ in parts]), parts[0][1]
            # the scales every term has to the same power stay symbolic, factored out; only
            # the rest is materialised (dS E^-1 + dp E'/S E^-1 = (dS + dp E'/S) E^-1)
            common = {k: v for k, v in parts[0][1].items() if all(s.get(k) == v for _, s in parts)}
            return Add([self.materialise(m, {k: v for k, v in s.items() if k not in common})
                        for m, s in parts]), common
        if isinstance(e, Sum):
            m, s = self.split(e.body)
            bound = set(e.indices)
            inside = {k: v for k, v in s.items() if set(k[1]) & bound}
            outside = {k: v for k, v in s.items() if k not in inside}
            return Sum(e.indices, self.materialise(m, inside)), outside
        if isinstance(e, Call) and e.fn == "log":
            m, s = self.split(e.args[0])
            log = self.log(m)
            return (Add((log, self.exponent(s))) if s else log), {}
        if isinstance(e, Call):
            return Call(e.fn, tuple(self.plain_value(a) for a in e.args)), {}
        return e, {}  # pragma: no cover - Deriv and the like never reach code generation

    def plain_value(self, e: Expr) -> Expr:
        return self.materialise(*self.split(e))

    def log(self, m: Expr) -> Expr:
        """``log(m)``, split over positive factors: ``log(exp(a) / b) = a - log(b)``."""
        fs = list(m.factors) if isinstance(m, Mul) else [m]
        if len(fs) > 1 and all(self.is_positive(f) for f in fs):
            return Add([self.log(f) for f in fs])
        if isinstance(m, Call) and m.fn == "exp":
            return m.args[0]
        if isinstance(m, Pow) and isinstance(m.exp, Const) and self.is_positive(m.base):
            return Mul((m.exp, self.log(m.base)))
        return Call("log", (m,))

    def is_positive(self, e: Expr) -> bool:
        if isinstance(e, Const):
            return e.value > 0
        if isinstance(e, Size):
            return True
        if isinstance(e, Call):
            return FUNCTIONS[e.fn].positive
        if isinstance(e, Tensor):
            return e.name in self.positive
        if isinstance(e, Pow):
            return self.is_positive(e.base)
        if isinstance(e, (Mul, Add)):
            return all(self.is_positive(c) for c in e.children)
        if isinstance(e, Sum):
            return self.is_positive(e.body)
        return False

    # -- the program
    def run(self) -> Program:
        inputs = set(self.p.inputs)
        for z in self.groups:
            if z in inputs:
                self.add_max(z)
        for st in self.p.statements:
            self.statement(st)
            if st.name in self.groups:
                self.add_max(st.name)
        return Program(self.out, self.dims, dim_names=self.p.dim_names, source=self.p.text,
                       declared=self.p.declared)

    def add_max(self, z: str) -> None:
        dims = self.dims[z]
        idx = tuple(Index(f"_{k}", d) for k, d in enumerate(dims))
        axes = self.groups[z]
        rest = tuple(i for k, i in enumerate(idx) if k not in axes)
        name = self.c_name[z]
        self.dims[name] = tuple(i.dim for i in rest)
        body = self.prepare(Tensor(z, idx))
        self.out.append(Statement(name, rest, Max(tuple(idx[k] for k in axes),
                                                   self.plain_value(simplify(body)))))

    def statement(self, st: Statement) -> None:
        rhs = _cancel(_normal(self.prepare(st.rhs)))
        m, s = self.split(rhs)
        lhs = list(st.indices)
        if st.name in self.outputs or st.name in self.plain or \
                any(not set(idx) <= set(lhs) for _, idx in s):
            m, s = self.materialise(m, s), {}
        m = _cancel(_normal(m))
        self.scale[st.name] = {(e, tuple(lhs.index(i) for i in idx)): k for (e, idx), k in s.items()}
        if self.is_positive(m):
            self.positive.add(st.name)
        if st.name not in self.outputs and st.name not in self.plain and (_is_monomial(m) or (
                (_divides_by_exp(m) or _holds_exp(m)) and node_count(m) <= _SUBSTITUTE_NODES)):
            # a product is cheap to recompute where it is used; a value that holds an
            # exponential (which may underflow to 0: a probability) or divides by one is
            # substituted, so that a division by it cancels against the exponential
            self.monomial[st.name] = st.replace(m)
            if not _is_monomial(m) and not _divides_by_exp(m):
                self.lazy.add(st.name)
        self.out.append(st.replace(m))


#: the largest value that divides by an exponential and is substituted into its uses
_SUBSTITUTE_NODES = 200


def _divides_by_exp(e: Expr) -> bool:
    """``e`` divides by an exponential: ``-t / exp(z - c)``, which is infinite where the
    exponential underflows. (A sum of the shifted exponentials holds their maximum,
    ``exp(0) = 1``, so dividing by it is safe.)"""
    return any(isinstance(n, Pow) and isinstance(n.exp, Const) and n.exp.value < 0
               and _holds_exp(n.base) for n in walk(e))


def _holds_exp(e: Expr) -> bool:
    """An exponential in ``e`` outside every sum and every other function."""
    if isinstance(e, Call):
        return e.fn == "exp"
    return not isinstance(e, (Sum, Max, MatFn)) and any(_holds_exp(k) for k in e.children)


def _canonical_binders(e: Expr) -> Expr:
    """``e`` with every summed index renamed by its position in its sum and the height of
    the sums nested below it (``~<height>.<k>``): a sum's names depend on nothing outside
    it, so sums equal up to the names of their indices are equal nodes and cancel (the
    ``sum[j](exp(z[n,j]))`` a substituted value brings in and the ``sum[l](exp(z[n,l]))``
    it is divided by). Heights decrease inwards, so nested sums never share a name.
    (``~`` is in no name a person writes.)"""
    memo: dict[Expr, tuple[Expr, int]] = {}

    def go(n: Expr) -> tuple[Expr, int]:
        hit = memo.get(n)
        if hit is not None:
            return hit
        kids = n.children
        done = [go(k) for k in kids]
        height = max((h for _, h in done), default=0)
        new = n if all(a is b for a, (b, _) in zip(kids, done)) else n.rebuild([b for b, _ in done])
        if isinstance(new, (Sum, Max)):
            # a canonical name never equals an index free in the body: in a factor cut out
            # of a larger canonical expression, the binders of the sums around it are free
            # (sum[~1.0](f(~1.0) * sum[q](B[q,~1.0]))), and q must not become ~1.0
            # (free indices only: the nested sums' names have smaller heights, and a size()
            # caught by a renaming is the size of the same dim)
            taken = {i.name for i in new.body.free} - {i.name for i in new.indices}
            ren = {}
            for k, i in enumerate(new.indices):
                name = f"~{height}.{k}"
                while name in taken:
                    name += "'"
                ren[i] = Index(name, i.dim)
            new = type(new)(tuple(ren[i] for i in new.indices), substitute(new.body, ren))
            height += 1
        memo[n] = (new, height)
        return new, height

    return go(e)[0]


def _cancel_factors(e: Expr) -> Expr:
    """Every product flattened (``(a * b)^-1`` is ``a^-1 * b^-1``) and its equal factors
    merged (``s * t / s`` is ``t``), before the simplifier hoists a sum out of a product
    and so hides the ``s`` that cancels."""

    def factors(f: Expr, k: Fraction, out: list[tuple[Expr, Fraction]]) -> None:
        if isinstance(f, Mul):
            for g in f.factors:
                factors(g, k, out)
        elif isinstance(f, Pow) and isinstance(f.exp, Const) and f.exp.value.denominator == 1 \
                and isinstance(f.base, Mul):
            factors(f.base, k * f.exp.value, out)
        elif isinstance(f, Pow) and isinstance(f.exp, Const):
            out.append((f.base, k * f.exp.value))
        else:
            out.append((f, k))

    def fn(n: Expr) -> Expr:
        if not isinstance(n, Mul):
            return n
        parts: list[tuple[Expr, Fraction]] = []
        factors(n, Fraction(1), parts)
        power: dict[Expr, Fraction] = {}
        for b, k in parts:
            if not isinstance(b, (Tensor, Const)):  # equal up to the simplifier's normal form
                b = _canonical_binders(simplify(b))
            power[b] = power.get(b, Fraction(0)) + k
        if len(power) == len(parts):
            return n
        return Mul([b if k == 1 else Pow(b, Const(k)) for b, k in power.items() if k != 0] or [ONE])

    return map_bottom_up(e, fn)


def _factor_sums(e: Expr) -> Expr:
    """Every sum of a product split into its independent parts, the inverse of the
    simplifier's hoisting: ``sum[p,l](t[p] * E * exp(z[l]))`` is
    ``E * sum[p](t[p]) * sum[l](exp(z[l]))``, so that each part can cancel on its own."""

    def fn(n: Expr) -> Expr:
        if not (isinstance(n, Sum) and isinstance(n.body, Mul)):
            return n
        bound = set(n.indices)
        groups: list[tuple[set[Index], list[Expr]]] = []
        outside: list[Expr] = []
        for f in n.body.factors:
            mine = f.free & bound
            if not mine:
                outside.append(f)
                continue
            joined = [g for g in groups if g[0] & mine]
            idx, fs = set(mine), [f]
            for g in joined:
                idx |= g[0]
                fs = g[1] + fs
                groups.remove(g)
            groups.append((idx, fs))
        if len(groups) + len(outside) <= 1:
            return n
        unused = [i for i in n.indices if not any(i in g[0] for g in groups)]
        parts: list[Expr] = [Sum([i for i in n.indices if i in idx], fs[0] if len(fs) == 1 else Mul(fs))
                             for idx, fs in groups]
        if unused:
            parts.append(Sum(unused, ONE))
        return Mul(outside + parts)

    return map_bottom_up(e, fn)


def _normal(e: Expr) -> Expr:
    """``e`` simplified so that what cancels does: sums factored into independent parts,
    canonical summed indices, equal factors merged; repeated until that changes nothing."""
    for _ in range(4):
        x = simplify(_cancel_factors(_canonical_binders(_factor_sums(simplify(e)))))
        if x == e:
            break
        e = x
    return e


def _cancel(e: Expr) -> Expr:
    """``e`` multiplied out where that removes a division by an exponential:
    ``exp(a) * (-t / exp(a) + s)`` is ``-t + exp(a) * s``."""
    if not _divides_by_exp(e):
        return e
    x = expand(e, budget=8 * node_count(e) + 40)
    return x if x is not None and not _divides_by_exp(x) else e


def _is_monomial(e: Expr) -> bool:
    """A product of factors with no sum in it: cheap to recompute wherever it is used."""
    if isinstance(e, Mul):
        return all(_is_monomial(f) for f in e.factors)
    if isinstance(e, Pow):
        return isinstance(e.exp, Const) and _is_monomial(e.base)
    if isinstance(e, Call):
        return e.fn == "exp" and not any(isinstance(n, (Sum, MatFn, Max)) for n in walk(e))
    return isinstance(e, (Tensor, Const, Size))


def claim(name: str, taken: set[str]) -> str:
    """``name``, or ``name2``, ``name3``, ... : the first not in ``taken``, which it joins."""
    k = 2
    out = name
    while out in taken:
        out = f"{name}{k}"
        k += 1
    taken.add(out)
    return out


def stabilize(program: Program, outputs: Mapping[str, str] | set[str]) -> Program:
    """``program`` rewritten so that sums of exponentials never overflow (see the module
    docstring); unchanged when it has none. ``outputs`` are the statements whose values
    the caller reads (they are stored plainly).

    How the user splits the program into statements does not matter: an exponential
    stored as its own statement (``E[n,k] = exp(Z[n,k])``, summed later) is read through
    its uses, and the argument of a summed exponential that is not a tensor
    (``exp(Z[n,k] + b[k])``) gets a statement of its own, so that its maximum can be
    taken."""
    outs = set(outputs.values()) if isinstance(outputs, Mapping) else set(outputs)
    program = _lift_summed_exp_args(_substitute_exp_statements(program, outs))
    groups = _groups(program)
    if not groups:
        return program
    return _Stabilizer(program, groups, outs).run()


def _summed_exps(e: Expr, bound: frozenset = frozenset()) -> list[tuple[Call, frozenset]]:
    """Every ``exp(u)`` in ``e`` with the indices summed around it (by enclosing ``Sum``s)."""
    out: list[tuple[Call, frozenset]] = []
    stack: list[tuple[Expr, frozenset]] = [(e, bound)]
    while stack:
        n, b = stack.pop()
        if isinstance(n, Call) and n.fn == "exp":
            out.append((n, b))
        if isinstance(n, Sum):
            stack.append((n.body, b | set(n.indices)))
        else:
            stack.extend((k, b) for k in n.children)
    return out


def _substitute_exp_statements(program: Program, outputs: set[str]) -> Program:
    """Statements that are products holding an exponential (``E[n,k] = exp(Z[n,k])``,
    or ``G[n,k] = 2 * E[n,k]`` after it) substituted into their uses, when some use sums
    one over an index: ``sum[j](E[n,j])`` is then seen as the sum of exponentials it is.
    The statements themselves stay (computed where something still reads them)."""
    plain = {n.arg.name for st in program.statements for n in walk(st.rhs) if isinstance(n, MatFn)}
    done: dict[str, Statement] = {}

    def expand_ref(n: Expr) -> Expr:
        if isinstance(n, Tensor) and n.name in done:
            d = done[n.name]
            return substitute(rename_bound(d.rhs, {i.name for i in n.indices}), dict(zip(d.indices, n.indices)))
        return n

    out = []
    summed = False
    for st in program.statements:
        if done:
            for n in walk(st.rhs):
                if isinstance(n, Sum):
                    bound = set(n.indices)
                    summed = summed or any(isinstance(r, Tensor) and r.name in done and set(r.indices) & bound
                                           for r in walk(n.body))
            if any(isinstance(n, Tensor) and n.name in done for n in walk(st.rhs)):
                st = st.replace(map_bottom_up(st.rhs, expand_ref))
        if st.name not in outputs and st.name not in plain and _is_monomial(st.rhs) \
                and any(isinstance(n, Call) and n.fn == "exp" for n in walk(st.rhs)):
            done[st.name] = st
        out.append(st)
    if not summed:
        return program
    return Program(out, program.dims, dim_names=program.dim_names, source=program.text,
                   declared=program.declared)


def _lift_summed_exp_args(program: Program) -> Program:
    """``exp(u)`` summed over an index of ``u``, where ``u`` is not a tensor with distinct
    indices, becomes ``exp(v[...])`` with a new statement ``v[...] = u``."""
    taken = set(program.dims) | set(program.defined)
    dims = dict(program.dims)
    out: list[Statement] = []
    changed = False
    for st in program.statements:
        lifted: dict[Expr, Tensor] = {}
        for call, bound in _summed_exps(st.rhs):
            u = call.args[0]
            if (isinstance(u, Tensor) and len(set(u.indices)) == len(u.indices)) \
                    or not (u.free & bound) or u in lifted:
                continue
            idx = tuple(sorted(u.free, key=lambda i: (i.name, i.dim)))
            name = claim(f"{st.name}_arg", taken)
            dims[name] = tuple(i.dim for i in idx)
            out.append(Statement(name, idx, u))
            lifted[u] = Tensor(name, idx)
        if lifted:
            changed = True
            st = st.replace(map_bottom_up(st.rhs, lambda n: Call("exp", (lifted[n.args[0]],))  # noqa: B023
                                          if isinstance(n, Call) and n.fn == "exp" and n.args[0] in lifted  # noqa: B023
                                          else n))
        out.append(st)
    if not changed:
        return program
    return Program(out, dims, dim_names=program.dim_names, source=program.text,
                   declared=program.declared)

