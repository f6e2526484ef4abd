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
codegen-only node, :class:`~ricci.expr.Max`), so the rest of code generation is unchanged.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Mapping

from .expr import (ONE, ZERO, Add, Call, Const, Delta, Expr, Index, MatFn, Max, Mul, Pow, Size,
                   Sum, Tensor, map_bottom_up, rename_bound, substitute, walk)
from .program import Program, Statement
from .simplify import simplify

Scale = dict[tuple[str, tuple[Index, ...]], Fraction]  # (scale tensor, its indices) -> power


def _groups(program: Program) -> dict[str, tuple[int, ...]]:
    """Tensors whose exponential is summed over some of their axes: name -> those axes.

    A tensor summed over two different sets of axes is left alone (no single maximum)."""
    found: dict[str, set[tuple[int, ...]]] = {}
    for st in program.statements:
        for n in walk(st.rhs):
            if not isinstance(n, Sum):
                continue
            bound = set(n.indices)
            for m in walk(n.body):
                if isinstance(m, Call) and m.fn == "exp" and isinstance(m.args[0], Tensor):
                    z = m.args[0]
                    axes = tuple(k for k, i in enumerate(z.indices) if i in bound)
                    if axes and len(set(z.indices)) == len(z.indices):
                        found.setdefault(z.name, set()).add(axes)
    return {z: next(iter(a)) for z, a in found.items() if len(a) == 1}


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
            self.c_name[z] = _claim(f"{z}_max", taken)
            self.e_name[z] = f"__E_{z}"
        self.by_e = {e: z for z, e in self.e_name.items()}
        self.dims = dict(program.dims)
        #: statements stored as mantissas: name -> its scale, by positions of its indices
        self.scale: dict[str, dict[tuple[str, tuple[int, ...]], Fraction]] = {}
        #: mantissas that are products of factors, substituted into their uses
        self.monomial: dict[str, Statement] = {}
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

        def fn(n: Expr) -> Expr:
            if isinstance(n, Call) and n.fn == "exp" and isinstance(n.args[0], Tensor) \
                    and n.args[0].name in self.groups and len(set(n.args[0].indices)) == len(n.args[0].indices):
                z = n.args[0]
                r = self.rest(z.name, z.indices)
                shifted = Call("exp", (Add((z, Mul((Const(-1), self.c_ref(z.name, r))))),))
                return Mul((shifted, Tensor(self.e_name[z.name], r)))
            if isinstance(n, Tensor) and n.name in self.scale:
                st = self.monomial.get(n.name)
                base: Expr = n
                if st is not None:
                    rhs = rename_bound(st.rhs, {i.name for i in n.indices})
                    base = substitute(rhs, dict(zip(st.indices, n.indices)))
                sc = self.scale[n.name]
                factors = [Pow(Tensor(e, tuple(n.indices[k] for k in pos)), Const(k))
                           for (e, pos), k in sc.items() if k]
                return Mul([base] + factors) if factors else base
            return n

        return map_bottom_up(e, fn)

    def split(self, e: Expr) -> tuple[Expr, Scale]:
        """``e`` as (mantissa, scale): ``e = mantissa * prod E^k``."""
        if isinstance(e, Tensor) and e.name in self.by_e:
            return ONE, {(e.name, e.indices): Fraction(1)}
        if isinstance(e, (Const, Size, Delta, Tensor, MatFn, Max)):
            return e, {}
        if isinstance(e, Mul):
            ms, sc = [], {}
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
            return Add([self.materialise(m, s) for m, s in parts]), {}
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
            return e.fn in ("exp", "sigmoid", "softplus")
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
        return Program(self.out, self.dims, dim_names=self.p.dim_names, source=self.p.source)

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
        rhs = simplify(self.prepare(st.rhs))
        m, s = self.split(rhs)
        lhs = list(st.indices)
        if st.name in self.outputs or st.name in self.plain or \
                any(not set(idx) <= set(lhs) for _, idx in s):
            m, s = self.materialise(m, s), {}
        m = simplify(m)
        self.scale[st.name] = {(e, tuple(lhs.index(i) for i in idx)): k for (e, idx), k in s.items()}
        if self.is_positive(m):
            self.positive.add(st.name)
        if _is_monomial(m) and st.name not in self.outputs:
            self.monomial[st.name] = st.replace(m)
        self.out.append(st.replace(m))


def _is_monomial(e: Expr) -> bool:
    """A product of factors with no sum in it: cheap to recompute wherever it is used."""
    if isinstance(e, Mul):
        return all(_is_monomial(f) for f in e.factors)
    if isinstance(e, Pow):
        return isinstance(e.exp, Const) and _is_monomial(e.base)
    if isinstance(e, Call):
        return e.fn == "exp" and not any(isinstance(n, (Sum, MatFn, Max)) for n in walk(e))
    return isinstance(e, (Tensor, Const, Size))


def _claim(name: str, taken: set[str]) -> str:
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
    the caller reads (they are stored plainly)."""
    groups = _groups(program)
    if not groups:
        return program
    outs = set(outputs.values()) if isinstance(outputs, Mapping) else set(outputs)
    return _Stabilizer(program, groups, outs).run()

