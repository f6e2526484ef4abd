"""The primitive table: every elementwise function, with its derivative, in one entry.

Each :func:`defun` call registers one function next to its derivative rule (the way jax
registers ``ad.primitive_jvps`` next to a primitive): adding a function to ricci is adding
one entry here. An entry gives

* ``deriv(x, ans)``: the derivative f'(x) as an expression, where ``ans`` is f(x) itself
  (so ``tanh`` can say ``1 - ans^2`` and reuse the forward value instead of recomputing it);
* ``code``: one template per backend, ``{0}`` standing for the argument;
* ``fold``: optional exact constant folding (``exp(0) = 1``), returning ``None`` when the
  result is not an exact rational;
* ``latex`` / ``unicode``: how the printer (:mod:`ricci.render`) spells it, by default
  ``\\operatorname{name}`` and ``name``, the argument following in parentheses; a spelling
  containing ``#1`` is a template instead (``\\sqrt{#1}``, ``|#1|``).

The differentiator (:mod:`ricci.differentiate`), the simplifier, the code generator and the
reference evaluator all read this table; nothing else knows about individual functions.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from fractions import Fraction
from math import isqrt
from typing import Callable

from ..ir.expr import ONE, Call, Const, Expr, MatFn, Mul, Pow, Tensor, neg, sub

Deriv = Callable[[Expr, Expr], Expr]
Fold = Callable[[Fraction], "Fraction | None"]


@dataclass(frozen=True)
class Function:
    name: str
    deriv: Deriv
    code: dict[str, str]
    fold: Fold | None = None
    doc: str = ""
    #: code templates that mention ``{0}`` more than once need their argument in a variable
    reuses_arg: dict[str, bool] = field(default_factory=dict)
    #: LaTeX spelling: a command the argument follows in ``\left( \right)``, or a
    #: template with ``#1`` for the argument; default ``\operatorname{<name>}``
    latex: str = ""
    #: Unicode spelling, the same way; default the name
    unicode: str = ""

    def __post_init__(self) -> None:
        if not self.latex:
            object.__setattr__(self, "latex", rf"\operatorname{{{self.name}}}")
        if not self.unicode:
            object.__setattr__(self, "unicode", self.name)


FUNCTIONS: dict[str, Function] = {}


def defun(name: str, *, deriv: Deriv, numpy: str, torch: str, jax: str,
          fold: Fold | None = None, doc: str = "", latex: str = "", unicode: str = "") -> None:
    """Register an elementwise function and its derivative (one entry per primitive)."""
    code = {"numpy": numpy, "torch": torch, "jax": jax}
    FUNCTIONS[name] = Function(name, deriv, code, fold, doc,
                               {b: t.count("{0}") > 1 for b, t in code.items()},
                               latex=latex, unicode=unicode)


def one_call(template: str) -> bool:
    """True when the template is a single call, ``np.tanh({0})``: its closing parenthesis
    ends the template and matches the first opening one."""
    m = re.match(r"[\w.]+\(", template)
    if not m or not template.endswith(")"):
        return False
    depth = 0
    for k, ch in enumerate(template[m.end() - 1:], m.end() - 1):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0:
            return k == len(template) - 1
    return False


def call(name: str, x: Expr) -> Expr:
    return Call(name, (x,))


def _at(points: dict[Fraction, Fraction]) -> Fold:
    return lambda v: points.get(v)


def _sqrt_fold(v: Fraction) -> Fraction | None:
    if v < 0:
        return None
    n, d = v.numerator, v.denominator
    rn, rd = isqrt(n), isqrt(d)
    return Fraction(rn, rd) if rn * rn == n and rd * rd == d else None


_Z, _1, _H = Fraction(0), Fraction(1), Fraction(1, 2)

# d exp(x) = exp(x) dx
defun("exp", deriv=lambda x, ans: ans, fold=_at({_Z: _1}),
      numpy="np.exp({0})", torch="torch.exp({0})", jax="jnp.exp({0})",
      doc="exponential", latex=r"\exp")
# d log(x) = dx / x
defun("log", deriv=lambda x, ans: Pow(x, Const(-1)), fold=_at({_1: _Z}),
      numpy="np.log({0})", torch="torch.log({0})", jax="jnp.log({0})",
      doc="natural logarithm", latex=r"\log")
# d sqrt(x) = dx / (2 sqrt(x))
defun("sqrt", deriv=lambda x, ans: Mul((Const(_H), Pow(ans, Const(-1)))), fold=_sqrt_fold,
      numpy="np.sqrt({0})", torch="torch.sqrt({0})", jax="jnp.sqrt({0})",
      doc="square root", latex=r"\sqrt{#1}", unicode="√(#1)")
# d tanh(x) = (1 - tanh(x)^2) dx
defun("tanh", deriv=lambda x, ans: sub(ONE, Pow(ans, Const(2))), fold=_at({_Z: _Z}),
      numpy="np.tanh({0})", torch="torch.tanh({0})", jax="jnp.tanh({0})",
      doc="hyperbolic tangent", latex=r"\tanh")
# d sigmoid(x) = sigmoid(x) (1 - sigmoid(x)) dx
defun("sigmoid", deriv=lambda x, ans: Mul((ans, sub(ONE, ans))), fold=_at({_Z: _H}),
      numpy="np.exp(np.minimum({0}, 0.0)) / (1.0 + np.exp(-np.abs({0})))", torch="torch.sigmoid({0})",
      jax="jax.nn.sigmoid({0})", doc="logistic sigmoid 1/(1+exp(-x))",
      latex=r"\sigma", unicode="σ")
# d relu(x) = step(x) dx; step(relu(x)) = step(x), so a named forward value serves too
defun("relu", deriv=lambda x, ans: call("step", ans if isinstance(ans, Tensor) else x),
      fold=lambda v: max(v, _Z),
      numpy="np.maximum({0}, 0.0)", torch="torch.relu({0})", jax="jax.nn.relu({0})",
      doc="rectified linear unit max(x, 0)")
# d |x| = sign(x) dx
defun("abs", deriv=lambda x, ans: call("sign", x), fold=abs,
      numpy="np.abs({0})", torch="torch.abs({0})", jax="jnp.abs({0})",
      doc="absolute value", latex=r"\lvert #1 \rvert", unicode="|#1|")
# d sin(x) = cos(x) dx
defun("sin", deriv=lambda x, ans: call("cos", x), fold=_at({_Z: _Z}),
      numpy="np.sin({0})", torch="torch.sin({0})", jax="jnp.sin({0})", doc="sine",
      latex=r"\sin")
# d cos(x) = -sin(x) dx
defun("cos", deriv=lambda x, ans: neg(call("sin", x)), fold=_at({_Z: _1}),
      numpy="np.cos({0})", torch="torch.cos({0})", jax="jnp.cos({0})", doc="cosine",
      latex=r"\cos")
# d softplus(x) = sigmoid(x) dx
defun("softplus", deriv=lambda x, ans: call("sigmoid", x),
      numpy="np.maximum({0}, 0.0) + np.log1p(np.exp(-np.abs({0})))", torch="torch.nn.functional.softplus({0})",
      jax="jnp.logaddexp(0.0, {0})", doc="log(1 + exp(x)), computed without overflow")
# d step(x) = 0 (almost everywhere); step(0) = 0, as relu'(0) is in torch
defun("step", deriv=lambda x, ans: Const(0), fold=lambda v: _1 if v > 0 else _Z,
      numpy="np.sign(np.maximum({0}, 0.0))", torch="({0} > 0).to({0}.dtype)",
      jax="jnp.where({0} > 0, 1.0, 0.0)", doc="Heaviside step: 1 where x > 0, else 0")
# d sign(x) = 0 (almost everywhere)
defun("sign", deriv=lambda x, ans: Const(0),
      fold=lambda v: Fraction((v > 0) - (v < 0)),
      numpy="np.sign({0})", torch="torch.sign({0})", jax="jnp.sign({0})",
      doc="sign: -1, 0 or 1")


# ---------------------------------------------------------------- functions of a whole matrix


MatDeriv = Callable[[MatFn, tuple, Expr], Expr]


@dataclass(frozen=True)
class MatrixFunction:
    """A function of a square matrix ``A`` (written by name: ``inv(A)[i,j]``, ``det(A)``).

    ``rank`` is 2 for a matrix result (indexed: ``inv(A)[i,j]``), 0 for a number.
    ``deriv(call, (p, q), ans)`` is d call / d A[p,q], where ``ans`` holds the call's own
    value (the statement it defines, when it is the whole right-hand side).
    ``code[backend]`` has ``{0}`` for the operand; ``latex`` / ``unicode`` have ``{0}`` for
    the operand's name and, for a matrix result, are subscripted with its indices.
    """

    name: str
    rank: int
    deriv: MatDeriv
    code: dict[str, str]
    latex: str
    unicode: str
    doc: str = ""


MATRIX_FUNCTIONS: dict[str, MatrixFunction] = {}

#: solving A x = b instead of forming inv(A) (``{0}`` is A, ``{1}`` is b)
SOLVE = {"numpy": "np.linalg.solve({0}, {1})", "torch": "torch.linalg.solve({0}, {1})",
         "jax": "jnp.linalg.solve({0}, {1})"}


def defmatfun(name: str, *, rank: int, deriv: MatDeriv, numpy: str, torch: str, jax: str,
              latex: str, unicode: str, doc: str = "") -> None:
    """Register a function of a square matrix and its derivative (one entry per primitive)."""
    MATRIX_FUNCTIONS[name] = MatrixFunction(name, rank, deriv, {"numpy": numpy, "torch": torch,
                                                                "jax": jax}, latex, unicode, doc)


def _inv(call: MatFn, pq: tuple, ans: Expr) -> Expr:
    i, j = call.out
    p, q = pq
    # d inv(A)[i,j] / d A[p,q] = -inv(A)[i,p] * inv(A)[q,j]   (d inv(A) = -inv(A) dA inv(A))
    return Mul((Const(-1), MatFn("inv", call.arg, (i, p)), MatFn("inv", call.arg, (q, j))))


def _det(call: MatFn, pq: tuple, ans: Expr) -> Expr:
    p, q = pq
    # d det(A) / d A[p,q] = det(A) * inv(A)[q,p]
    return Mul((ans, MatFn("inv", call.arg, (q, p))))


def _logdet(call: MatFn, pq: tuple, ans: Expr) -> Expr:
    p, q = pq
    # d logdet(A) / d A[p,q] = inv(A)[q,p]   (d logdet(A) = inv(A)^T : dA)
    return MatFn("inv", call.arg, (q, p))


defmatfun("inv", rank=2, deriv=_inv, numpy="np.linalg.inv({0})", torch="torch.linalg.inv({0})",
          jax="jnp.linalg.inv({0})", latex="{0}^{{-1}}", unicode="{0}⁻¹",
          doc="the inverse of a square matrix")
defmatfun("det", rank=0, deriv=_det, numpy="np.linalg.det({0})", torch="torch.linalg.det({0})",
          jax="jnp.linalg.det({0})", latex=r"\det\left({0}\right)", unicode="det({0})",
          doc="the determinant of a square matrix")
defmatfun("logdet", rank=0, deriv=_logdet, numpy="np.linalg.slogdet({0})[1]",
          torch="torch.linalg.slogdet({0})[1]", jax="jnp.linalg.slogdet({0})[1]",
          latex=r"\log\det\left({0}\right)", unicode="log det({0})",
          doc="log |det A| of a square matrix (the log-determinant; det A > 0 for the SPD "
              "matrices it is used with)")
