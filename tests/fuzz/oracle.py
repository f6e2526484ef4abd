"""The differential oracle: a generated :class:`~tests.fuzz.programs.Model` translated
directly to torch operations (``torch.einsum``, ``torch.tanh``, ``torch.linalg.inv``, ...),
differentiated by ``torch.autograd``.

Independent of ricci: nothing here reads ricci's parser, resolver, evaluator, function
table or generated code. The meaning of each node is the one the generator built it with
(``node.free`` are the axes of its value, in order; a letter of a tensor reference or a
product that is not free is summed there). Statements written in the overflowing textbook
form (a split softmax) carry a :class:`~tests.fuzz.programs.Stable` note, and the oracle
computes them with ``torch.logsumexp`` / ``torch.softmax`` / ``torch.log_softmax``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

import torch

from .programs import (
    CLASS_SIZES,
    Add,
    Call,
    DeltaN,
    Inv,
    MatScalar,
    Model,
    Mul,
    Neg,
    Node,
    Num,
    Pow,
    Ref,
    SizeN,
    Stable,
    SumN,
)

Tensor = torch.Tensor


def _step(x: Tensor) -> Tensor:
    # 1 where x > 0, else 0, with derivative 0 (sign has one)
    return torch.relu(torch.sign(x))


FN: dict[str, Callable[[Tensor], Tensor]] = {
    "exp": torch.exp, "log": torch.log, "sqrt": torch.sqrt, "tanh": torch.tanh,
    "sigmoid": torch.sigmoid, "relu": torch.relu, "abs": torch.abs, "sin": torch.sin,
    # softplus exactly: torch.nn.functional.softplus returns x itself beyond x = 20 (its
    # threshold), which loses e^-20 and the second derivative there (fuzz finding #24)
    "cos": torch.cos, "softplus": lambda x: torch.logaddexp(x, torch.zeros_like(x)), "step": _step,
    "sign": torch.sign, "log1p": torch.log1p, "expm1": torch.expm1, "erf": torch.erf, "atan": torch.atan,
}
MATRIX_FN: dict[str, Callable[[Tensor], Tensor]] = {
    "det": torch.linalg.det, "logdet": lambda a: torch.linalg.slogdet(a)[1], "trace": torch.trace,
}


class Unreliable(ArithmeticError):
    """The oracle's own float64 arithmetic cannot be trusted for this program: an
    intermediate value beyond :data:`HUGE` (whose square, formed by a derivative, would
    overflow: ``log(exp(u))`` at ``u = 500``), or a matrix function of an ill-conditioned
    matrix."""


#: the largest magnitude of an intermediate value the oracle trusts its derivatives with
HUGE = 1e100
#: the largest condition number of a matrix-function operand it trusts
ILL = 1e8


def _checked(v: Tensor) -> Tensor:
    with torch.no_grad():
        if v.numel() and bool(torch.any(torch.abs(v) > HUGE)):
            raise Unreliable(f"an intermediate value beyond {HUGE:g}")
    return v


def _operand(a: Tensor) -> Tensor:
    with torch.no_grad():
        if not bool(torch.all(torch.isfinite(a))) or float(torch.linalg.cond(a)) > ILL:
            raise Unreliable("a matrix function of an ill-conditioned matrix")
    return a


class Evaluator:
    """Values of a model's statements for given input tensors (computed on demand, so an
    overflowing statement that only a stable form reads is never computed)."""

    def __init__(self, m: Model, inputs: Mapping[str, Tensor]) -> None:
        self.m = m
        self.env: dict[str, Tensor] = dict(inputs)
        self.stmts = {s.name: s for s in m.statements}
        self.sizes: dict[str, int] = {}

    def value(self, name: str) -> Tensor:
        hit = self.env.get(name)
        if hit is not None:
            return hit
        st = self.stmts[name]
        saved = self.sizes
        self.sizes = {x: CLASS_SIZES[c] for x, c in st.letters.items()}
        v = self.bcast(self.ev(st.rhs), st.rhs.free, st.lhs)
        self.sizes = saved
        self.env[name] = v
        return v

    # -- helpers
    def einsum(self, ops: list[tuple[Tensor, tuple[str, ...]]], out: tuple[str, ...]) -> Tensor:
        table: dict[str, str] = {}
        for _, ls in ops:
            for x in ls:
                table.setdefault(x, chr(ord("a") + len(table)))
        for x in out:
            table.setdefault(x, chr(ord("a") + len(table)))
        spec = ",".join("".join(table[x] for x in ls) for _, ls in ops) + "->" + "".join(table[x] for x in out)
        return torch.einsum(spec, *[t for t, _ in ops])

    def bcast(self, t: Tensor, letters: tuple[str, ...], target: tuple[str, ...]) -> Tensor:
        t = torch.as_tensor(t, dtype=torch.float64)
        shape = tuple(self.sizes[x] for x in target)
        if not letters:
            return t.expand(shape) if shape else t
        t = t.permute([letters.index(x) for x in target if x in letters])
        view = [self.sizes[x] if x in letters else 1 for x in target]
        return t.reshape(view).expand(shape)

    def const(self, v: float) -> Tensor:
        return torch.tensor(v, dtype=torch.float64)

    # -- nodes
    def ev(self, n: Node) -> Tensor:
        return _checked(self._ev(n))

    def _ev(self, n: Node) -> Tensor:
        st = getattr(n, "stable", None)
        if st is not None:
            return self.stable(st, n.free)
        if isinstance(n, Ref):
            return self.einsum([(self.value(n.name), n.letters)], n.free)
        if isinstance(n, Num):
            return self.const(n.value)
        if isinstance(n, SizeN):
            return self.const(float(self.sizes[n.letter]))
        if isinstance(n, DeltaN):
            uniq = tuple(dict.fromkeys(n.letters))
            size = self.sizes[uniq[0]]
            d = torch.zeros((size,) * len(uniq), dtype=torch.float64)
            r = torch.arange(size)
            d[(r,) * len(uniq)] = 1.0
            return self.einsum([(d, uniq)], n.free)
        if isinstance(n, Inv):
            return self.einsum([(torch.linalg.inv(_operand(self.value(n.name))), n.letters)], n.free)
        if isinstance(n, MatScalar):
            a = _operand(self.value(n.name))
            return MATRIX_FN[n.fn](a)
        if isinstance(n, Call):
            return FN[n.fn](self.ev(n.arg))
        if isinstance(n, Pow):
            b = self.bcast(self.ev(n.base), n.base.free, n.free)
            e = self.bcast(self.ev(n.exp), n.exp.free, n.free)
            return torch.pow(b, e)
        if isinstance(n, Mul):
            ops = []
            for f, dv in zip(n.factors, n.divides):
                v = self.ev(f)
                ops.append((1.0 / v if dv else v, f.free))
            return self.einsum(ops, n.free)
        if isinstance(n, Add):
            out = torch.zeros(tuple(self.sizes[x] for x in n.free), dtype=torch.float64)
            for t, s in zip(n.terms, n.signs):
                out = out + s * self.bcast(self.ev(t), t.free, n.free)
            return out
        if isinstance(n, Neg):
            return -self.ev(n.x)
        if isinstance(n, SumN):
            out = self.einsum([(self.ev(n.body), n.body.free)], n.free)
            for x in n.letters:  # a summed letter the body lacks multiplies by its size
                if x not in n.body.free:
                    out = out * self.sizes[x]
            return out
        raise TypeError(n)

    def stable(self, st: Stable, free: tuple[str, ...]) -> Tensor:
        z = self.ev(Ref(st.z.free, st.z.name, st.z.letters))
        axes = [st.z.free.index(x) for x in st.over]
        rest = tuple(x for x in st.z.free if x not in st.over)
        if st.kind == "logsumexp":
            out, letters = torch.logsumexp(z, dim=axes), rest
        else:
            (ax,) = axes
            f = torch.softmax if st.kind == "softmax" else torch.log_softmax
            out, letters = f(z, dim=ax), st.z.free
        return self.bcast(out, letters, free)


def function(m: Model, inputs: Mapping[str, Tensor], wrt: tuple[str, ...]) -> Callable[..., Tensor]:
    """``f(*wrt_values)``: the model's output with the ``wrt`` inputs replaced."""

    def f(*xs: Tensor) -> Tensor:
        env = dict(inputs)
        env.update(zip(wrt, xs))
        return Evaluator(m, env).value(m.of)

    return f


def tensors(arrays: Mapping[str, object]) -> dict[str, Tensor]:
    return {k: torch.as_tensor(v, dtype=torch.float64) for k, v in arrays.items()}


def output(m: Model, arrays: Mapping[str, object]) -> Tensor:
    """The output's value."""
    with torch.no_grad():
        return Evaluator(m, tensors(arrays)).value(m.of)


def expected(m: Model, arrays: Mapping[str, object], seed: object = None) -> dict[str, Tensor]:
    """What ricci's compiled derivative must return for the model's case, keyed like it
    (``"x"``, or ``"x,y"`` for a mixed Hessian): gradients (of ``sum(Y * seed)`` for a
    tensor output), Jacobians (``out.shape + x.shape``), Hessians, their diagonals,
    Hessian-vector products along ``seed``."""
    inp = tensors(arrays)
    wrt = m.wrt
    f = function(m, inp, wrt)
    xs = tuple(inp[w] for w in wrt)
    fa = torch.autograd.functional
    if m.kind == "grad":
        if m.output.lhs:
            s = torch.as_tensor(seed, dtype=torch.float64)

            def g(*ys: Tensor) -> Tensor:
                return (f(*ys) * s).sum()
        else:
            g = f
        ins = tuple(x.clone().requires_grad_(True) for x in xs)
        out = g(*ins)
        if not out.requires_grad:
            return {w: torch.zeros_like(x) for w, x in zip(wrt, xs)}
        grads = torch.autograd.grad(out, ins, allow_unused=True)
        return {w: (gr if gr is not None else torch.zeros_like(x)) for w, gr, x in zip(wrt, grads, xs)}
    if m.kind == "jacobian":
        (x,) = xs
        return {wrt[0]: fa.jacobian(f, x)}
    if m.kind == "hvp":
        (x,) = xs
        return {wrt[0]: fa.hvp(f, x, torch.as_tensor(seed, dtype=torch.float64))[1]}
    if len(wrt) == 2:
        h = fa.hessian(f, xs)
        return {f"{wrt[0]},{wrt[1]}": h[0][1]}
    (x,) = xs
    h = fa.hessian(f, x)
    if m.kind == "diagonal":
        n = x.numel()
        return {wrt[0]: h.reshape(n, n).diagonal().reshape(x.shape)}
    return {wrt[0]: h}
