"""The primitive tables: every elementwise and matrix function, each in one entry.

Each :func:`defun` call registers an elementwise function next to its derivative rule (the
way jax registers ``ad.primitive_jvps`` next to a primitive), and each :func:`defmatfun`
call a function of a whole square matrix: adding a function to ricci is adding one entry
here. An entry states every fact about its function that another module needs:

* ``deriv``: the derivative, as an expression (elementwise: ``deriv(x, ans)`` is f'(x),
  where ``ans`` is f(x) itself, so ``tanh`` can say ``1 - ans^2`` and reuse the forward
  value; matrix: ``deriv(call, (p, q), ans)`` is d call / d A[p,q]);
* ``code``: one template per backend (``numpy``, ``torch``, ``jax``), ``{0}`` standing for
  the argument; ``helpers``: the source of helper functions a template calls, emitted with
  the code that uses them (NumPy has no ``erf``); ``backward``: a fused kernel computing
  the upstream gradient times f'(x) in one pass (torch's ``tanh_backward``);
* ``fold``: optional exact constant folding (``exp(0) = 1``);
* spellings: ``latex`` / ``unicode`` for the printers, ``matrix_latex`` for matrix
  notation, and ``latex_in``, further spellings the LaTeX reader accepts (every printed
  LaTeX spelling reads back: :func:`latex_reading`);
* facts for the rewrites and checks: ``positive`` (the value is > 0 for every real
  argument, so the stable rewrites may split a log over it), ``domain`` (where it is real);
  a matrix function's ``domain`` says what its operand must be, ``note`` is the matrix
  identity the step-by-step derivation cites, ``solve`` how to solve with it instead of
  forming it.

The differentiator, the simplifier, the code generator, the printers, the LaTeX reader and
the reference evaluator all read these tables; a module that names a particular function
does so for a rule about that function (the logsumexp rewrite is about ``exp`` and
``log``), and ``tests/primitives/test_primitives.py`` keeps that list short and explained.
"""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass, field
from fractions import Fraction
from math import isqrt
from typing import Any, Callable, cast

from ..ir.expr import (
    MINUS_ONE,
    ONE,
    Add,
    Call,
    Const,
    Delta,
    Expr,
    MatFn,
    Mul,
    Pow,
    Tensor,
    neg,
    sub,
)

__all__ = [
    "DOMAINS", "ELEMENTWISE_CODE", "FUNCTIONS", "INVERSE", "KERNEL", "LatexReading", "MATRIX_FUNCTIONS", "POSITIVE_DETERMINANT", "SQUARE",
    "VALUE", "helpers", "latex_reading", "one_call", "runtime",
]

Deriv = Callable[[Expr, Expr], Expr]
Fold = Callable[[Fraction], "Fraction | None"]

BACKEND_NAMES = ("numpy", "torch", "jax")
#: the template column of a loop kernel's scalar code (the numba backend's fused loops,
#: :mod:`ricci.codegen.kernels`): ``{0}`` is one number of the kernel's dtype ``T`` (a
#: constant is ``T(0.0)``, so float32 kernels compute in float32); NumPy's and ``math``'s
#: functions of scalars, never an array
KERNEL = "numba"
#: every elementwise function has a template for each backend and for the kernels
ELEMENTWISE_CODE = (*BACKEND_NAMES, KERNEL)

#: stand-ins for a function's argument and value when its derivative is read as a pattern
ARG, VALUE = Tensor("#x"), Tensor("#ans")


def _command(spelling: str) -> str:
    """The spelling of a call: ``#1`` marks the argument, or it follows in parentheses."""
    return spelling if "#1" in spelling else spelling + r"\left(#1\right)"


#: the tables: name -> entry
FUNCTIONS: dict[str, Function] = {}
MATRIX_FUNCTIONS: dict[str, MatrixFunction] = {}


# ---------------------------------------------------------------- reading LaTeX back


def reader_form(spelling: str) -> tuple[str, object]:
    """The form of the LaTeX reader a spelling (``#1`` for the argument) belongs to, and
    its key: ``("command", ("log", "det"))`` for ``\\log\\det\\left(#1\\right)``,
    ``("word", "tr")`` for ``\\operatorname{tr}`` (any word command: ``\\mathrm{tr}``
    too), ``("macro", "sqrt")`` for ``\\sqrt{#1}``, ``("bars", "|")`` for ``|#1|`` and
    ``\\lvert #1 \\rvert``, ``("exponential", "e")`` for ``e^{#1}``, ``("inverse", "-1")``
    for ``#1^{-1}``. Raises ValueError for a spelling the reader has no form for."""
    m = re.fullmatch(r"\\(?:operatorname|mathrm)\{(\w+)\}\\left\(#1\\right\)", spelling)
    if m:
        return "word", m[1]
    m = re.fullmatch(r"((?:\\[A-Za-z]+)+)\\left\(#1\\right\)", spelling)
    if m:
        return "command", tuple(re.findall(r"\\([A-Za-z]+)", m[1]))
    m = re.fullmatch(r"\\([A-Za-z]+)\{#1\}", spelling)
    if m:
        return "macro", m[1]
    if re.fullmatch(r"\|#1\||\\lvert #1 \\rvert|\\left\| ?#1 ?\\right\|", spelling):
        return "bars", "|"
    if spelling == "e^{#1}":
        return "exponential", "e"
    if spelling == "#1^{-1}":
        return "inverse", "-1"
    raise ValueError(f"the LaTeX reader has no form for the spelling {spelling!r}")


def _readings() -> dict[tuple[str, object], str]:
    """Reader key -> function name, over both tables."""
    out: dict[tuple[str, object], str] = {}
    for table in (FUNCTIONS, MATRIX_FUNCTIONS):
        for name, f in table.items():
            if f is not None:  # None: a placeholder while a test replaces an entry
                out.update(dict.fromkeys(f.reading_keys(), name))
    return out


def _check_readings(name: str, keys: tuple[tuple[str, object], ...]) -> None:
    """A new entry's LaTeX spellings must not read as another function."""
    taken = _readings()
    for key in keys:
        other = taken.get(key)
        if other is not None and other != name:
            raise ValueError(f"{name}: its LaTeX spelling {key} already reads as {other}")


@dataclass(frozen=True)
class Function:
    """An elementwise function (see the module docstring for the fields).

    Invariants: ``code`` has a template for every backend; ``reuses_arg[b]`` says whether
    backend ``b``'s template mentions ``{0}`` more than once (the argument then goes into a
    variable first); ``latex``, ``unicode`` and ``matrix_latex`` are never empty (defaults:
    ``\\operatorname{name}``, ``name``, ``latex``); a spelling with ``#1`` is a template,
    any other is followed by the argument in parentheses; every LaTeX spelling has a form
    the LaTeX reader reads; a ``backward`` kernel's ``{0}`` is the upstream gradient and
    ``{1}`` the value the derivative reads (``ans``).
    """

    name: str
    deriv: Deriv
    code: dict[str, str]
    fold: Fold | None = None
    doc: str = ""
    reuses_arg: dict[str, bool] = field(default_factory=dict)
    latex: str = ""
    unicode: str = ""
    latex_in: tuple[str, ...] = ()
    matrix_latex: str = ""
    positive: bool = False
    domain: str = ""
    backward: dict[str, str] = field(default_factory=dict)
    helpers: dict[str, str] = field(default_factory=dict)
    #: the factors of f'(x) written with f's value :data:`VALUE` (tanh: ``1 - VALUE^2``;
    #: sigmoid: ``VALUE`` and ``1 - VALUE``): what a ``backward`` kernel replaces. Derived
    #: from ``deriv`` once, when the entry is made
    backward_pattern: tuple[Expr, ...] = ()
    #: the kernel template is as fast in a loop of numbers as NumPy's ufunc on an array
    #: (arithmetic, comparisons, ``sqrt``: a few instructions). False where numba calls the
    #: math library for one number at a time (``exp``, ``log``, ``tanh``: no SIMD without
    #: Intel's SVML), several times slower than NumPy's vectorised ufunc: its call is
    #: computed by NumPy, as a statement a kernel reads (:mod:`ricci.codegen.kernels`)
    in_loops: bool = False

    def __post_init__(self) -> None:
        if not self.latex:
            object.__setattr__(self, "latex", rf"\operatorname{{{self.name}}}")
        if not self.unicode:
            object.__setattr__(self, "unicode", self.name)
        if not self.matrix_latex:
            object.__setattr__(self, "matrix_latex", self.latex)
        if not self.reuses_arg:
            object.__setattr__(self, "reuses_arg", {b: t.count("{0}") > 1 for b, t in self.code.items()})
        if set(self.code) != set(ELEMENTWISE_CODE):
            raise ValueError(f"{self.name}: a code template for each of {', '.join(ELEMENTWISE_CODE)}")
        self.reading_keys()
        if self.backward and not self.backward_pattern:
            d = self.deriv(ARG, VALUE)
            if ARG in _nodes(d):
                raise ValueError(f"{self.name}: a fused kernel needs the derivative written with "
                                 f"the function's value")
            object.__setattr__(self, "backward_pattern", d.factors if isinstance(d, Mul) else (d,))

    def reading_keys(self) -> tuple[tuple[str, object], ...]:
        """The reader's keys (:func:`reader_form`) of every LaTeX spelling it accepts: the
        printed one, ``\\operatorname{name}`` and ``latex_in``."""
        spellings = (self.latex, rf"\operatorname{{{self.name}}}", *self.latex_in)
        return tuple(dict.fromkeys(reader_form(_command(s)) for s in spellings))


def _nodes(e: Expr) -> list[Expr]:
    out, todo = [], [e]
    while todo:
        n = todo.pop()
        out.append(n)
        todo.extend(n.children)
    return out


def defun(name: str, *, deriv: Deriv, numpy: str, torch: str, jax: str, numba: str,
          fold: Fold | None = None, doc: str = "", latex: str = "", unicode: str = "",
          latex_in: tuple[str, ...] = (), matrix_latex: str = "", positive: bool = False,
          domain: str = "", backward: dict[str, str] | None = None,
          helpers: dict[str, str] | None = None, in_loops: bool = False) -> None:
    """Register an elementwise function and its derivative (one entry per primitive)."""
    f = Function(name, deriv, {"numpy": numpy, "torch": torch, "jax": jax, KERNEL: numba}, fold, doc,
                 latex=latex, unicode=unicode, latex_in=latex_in, matrix_latex=matrix_latex,
                 positive=positive, domain=domain, backward=dict(backward or {}),
                 helpers=dict(helpers or {}), in_loops=in_loops)
    _check_readings(name, f.reading_keys())
    FUNCTIONS[name] = f


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


def _reciprocal(e: Expr) -> Expr:
    return Pow(e, MINUS_ONE)


_Z, _1, _H = Fraction(0), Fraction(1), Fraction(1, 2)

#: pi, the float64 nearest to it (as the exact decimal Python prints for it): erf' is
#: written 2 * pi^(-1/2) * exp(-x^2), as the textbook 2/sqrt(pi) reads
PI = Const("3.141592653589793")

#: NumPy has no erf: this helper is emitted with the NumPy code that calls it
_NUMPY_ERF = '''
def _erf(x):
    """erf(x) to float64 accuracy (a few ulps): for |x| < 2 the series
    2/sqrt(pi) exp(-x^2) sum_n 2^n x^(2n+1) / (1*3*...*(2n+1)), whose terms are positive (no
    cancellation); beyond, 1 - erfc(|x|) by erfc's continued fraction; 1 beyond |x| = 6."""
    x = np.asarray(x)
    a = np.minimum(np.abs(x).astype(np.float64), 6.0)
    near = a < 2.0
    s = np.where(near, a, 0.0)
    term = s
    total = s
    for n in range(1, 40):
        term = term * (2.0 * s * s) / (2 * n + 1)
        total = total + term
    series = 1.1283791670955126 * np.exp(-s * s) * total
    b = np.where(near, 2.0, a)
    cf = np.zeros_like(b)
    for k in range(60, 0, -1):
        cf = (0.5 * k) / (b + cf)
    tail = 1.0 - 0.5641895835477563 * np.exp(-b * b) / (b + cf)
    out = np.sign(x) * np.where(near, series, tail)
    return out.astype(x.dtype) if np.issubdtype(x.dtype, np.floating) else out
'''

# d exp(x) = exp(x) dx
defun("exp", deriv=lambda x, ans: ans, fold=_at({_Z: _1}),
      numpy="np.exp({0})", torch="torch.exp({0})", jax="jnp.exp({0})", numba="np.exp({0})",
      doc="exponential", latex=r"\exp", latex_in=("e^{#1}",), positive=True)
# d log(x) = dx / x
defun("log", deriv=lambda x, ans: Pow(x, Const(-1)), fold=_at({_1: _Z}),
      numpy="np.log({0})", torch="torch.log({0})", jax="jnp.log({0})", numba="np.log({0})",
      doc="natural logarithm", latex=r"\log", latex_in=(r"\ln", r"\operatorname{ln}"),
      domain="x > 0")
# d sqrt(x) = dx / (2 sqrt(x))
defun("sqrt", deriv=lambda x, ans: Mul((Const(_H), Pow(ans, Const(-1)))), fold=_sqrt_fold,
      numpy="np.sqrt({0})", torch="torch.sqrt({0})", jax="jnp.sqrt({0})", numba="np.sqrt({0})", in_loops=True,
      doc="square root", latex=r"\sqrt{#1}", unicode="√(#1)", domain="x >= 0")
# d tanh(x) = (1 - tanh(x)^2) dx
defun("tanh", deriv=lambda x, ans: sub(ONE, Pow(ans, Const(2))), fold=_at({_Z: _Z}),
      numpy="np.tanh({0})", torch="torch.tanh({0})", jax="jnp.tanh({0})", numba="np.tanh({0})",
      doc="hyperbolic tangent", latex=r"\tanh",
      backward={"torch": "torch.ops.aten.tanh_backward({0}, {1})"})
# d sigmoid(x) = sigmoid(x) (1 - sigmoid(x)) dx
defun("sigmoid", deriv=lambda x, ans: Mul((ans, sub(ONE, ans))), fold=_at({_Z: _H}),
      numpy="np.exp(np.minimum({0}, 0.0)) / (1.0 + np.exp(-np.abs({0})))", torch="torch.sigmoid({0})",
      jax="jax.nn.sigmoid({0})", numba="np.exp(min({0}, T(0.0))) / (T(1.0) + np.exp(-abs({0})))", doc="logistic sigmoid 1/(1+exp(-x))",
      latex=r"\sigma", unicode="σ", positive=True,
      backward={"torch": "torch.ops.aten.sigmoid_backward({0}, {1})"})
# d relu(x) = step(x) dx; step(relu(x)) = step(x), so a named forward value serves too
defun("relu", deriv=lambda x, ans: call("step", ans if isinstance(ans, Tensor) else x),
      fold=lambda v: max(v, _Z),
      numpy="np.maximum({0}, 0.0)", torch="torch.relu({0})", jax="jax.nn.relu({0})", numba="({0} if {0} > T(0.0) or {0} != {0} else T(0.0))", in_loops=True,
      doc="rectified linear unit max(x, 0)",
      backward={"torch": "torch.ops.aten.threshold_backward({0}, {1}, 0)"})
# d |x| = sign(x) dx
defun("abs", deriv=lambda x, ans: call("sign", x), fold=abs,
      numpy="np.abs({0})", torch="torch.abs({0})", jax="jnp.abs({0})", numba="abs({0})", in_loops=True,
      doc="absolute value", latex=r"\lvert #1 \rvert", unicode="|#1|",
      latex_in=("|#1|",), matrix_latex=r"\left|#1\right|")
# d sin(x) = cos(x) dx
defun("sin", deriv=lambda x, ans: call("cos", x), fold=_at({_Z: _Z}),
      numpy="np.sin({0})", torch="torch.sin({0})", jax="jnp.sin({0})", numba="np.sin({0})", doc="sine",
      latex=r"\sin")
# d cos(x) = -sin(x) dx
defun("cos", deriv=lambda x, ans: neg(call("sin", x)), fold=_at({_Z: _1}),
      numpy="np.cos({0})", torch="torch.cos({0})", jax="jnp.cos({0})", numba="np.cos({0})", doc="cosine",
      latex=r"\cos")
# d softplus(x) = sigmoid(x) dx; torch returns x itself beyond its threshold (20 by default),
# which is off by e^-20 in float64: beyond 40 the difference is below a float64 ulp
defun("softplus", deriv=lambda x, ans: call("sigmoid", x),
      numpy="np.maximum({0}, 0.0) + np.log1p(np.exp(-np.abs({0})))", torch="torch.nn.functional.softplus({0}, threshold=40.0)",
      jax="jnp.logaddexp(0.0, {0})", numba="max({0}, T(0.0)) + np.log1p(np.exp(-abs({0})))", doc="log(1 + exp(x)), computed without overflow", positive=True)
# d step(x) = 0 (almost everywhere); step(0) = 0, as relu'(0) is in torch
defun("step", deriv=lambda x, ans: Const(0), fold=lambda v: _1 if v > 0 else _Z,
      numpy="np.sign(np.maximum({0}, 0.0))", torch="({0} > 0).to({0}.dtype)",
      jax="jnp.where({0} > 0, 1.0, 0.0)", numba="(T(1.0) if {0} > T(0.0) else (T(0.0) if {0} == {0} else {0}))", in_loops=True, doc="Heaviside step: 1 where x > 0, else 0")
# d sign(x) = 0 (almost everywhere)
defun("sign", deriv=lambda x, ans: Const(0),
      fold=lambda v: Fraction((v > 0) - (v < 0)),
      numpy="np.sign({0})", torch="torch.sign({0})", jax="jnp.sign({0})", numba="np.sign({0})", in_loops=True,
      doc="sign: -1, 0 or 1")
# d log1p(x) = dx / (1 + x)
defun("log1p", deriv=lambda x, ans: _reciprocal(Add((ONE, x))), fold=_at({_Z: _Z}),
      numpy="np.log1p({0})", torch="torch.log1p({0})", jax="jnp.log1p({0})", numba="np.log1p({0})",
      doc="log(1 + x), accurate for small x", domain="x > -1")
# d expm1(x) = exp(x) dx = (expm1(x) + 1) dx
defun("expm1", deriv=lambda x, ans: Add((ans, ONE)), fold=_at({_Z: _Z}),
      numpy="np.expm1({0})", torch="torch.expm1({0})", jax="jnp.expm1({0})", numba="np.expm1({0})",
      doc="exp(x) - 1, accurate for small x")
# d erf(x) = 2/sqrt(pi) exp(-x^2) dx
defun("erf", deriv=lambda x, ans: Mul((Const(2), Pow(PI, Const(-_H)), call("exp", neg(Pow(x, Const(2)))))),
      fold=_at({_Z: _Z}),
      numpy="_erf({0})", torch="torch.erf({0})", jax="jax.scipy.special.erf({0})", numba="T(math.erf({0}))",
      doc="the error function 2/sqrt(pi) * integral from 0 to x of exp(-t^2)",
      helpers={"numpy": _NUMPY_ERF})
# d atan(x) = dx / (1 + x^2)
defun("atan", deriv=lambda x, ans: _reciprocal(Add((ONE, Pow(x, Const(2))))), fold=_at({_Z: _Z}),
      numpy="np.arctan({0})", torch="torch.atan({0})", jax="jnp.arctan({0})", numba="np.arctan({0})",
      doc="arctangent, in (-pi/2, pi/2)", latex=r"\arctan")


def helpers(backend: str) -> dict[str, str]:
    """Helper name -> source, for the helper functions ``backend``'s templates call (each
    source defines the function of its name, and reads the backend's module as the
    generated code imports it: ``np``, ``torch``, ``jnp``)."""
    out: dict[str, str] = {}
    for f in FUNCTIONS.values():
        src = f.helpers.get(backend)
        if src:
            out.update(dict.fromkeys(re.findall(r"^def (\w+)\(", src, re.MULTILINE), src))
    return out


#: the modules each backend's templates read, by the names the generated code imports them as
MODULES = {"numpy": {"np": "numpy"}, "torch": {"torch": "torch"}, "jax": {"jax": "jax", "jnp": "jax.numpy"}}


def runtime(backend: str) -> dict[str, Any]:
    """The globals ``backend``'s templates read: its modules (:data:`MODULES`) and the
    helper functions of the table, defined (for evaluating a template outside generated
    code: the reference interpreter, the NumPy code of matrix notation)."""
    ns: dict[str, Any] = {name: importlib.import_module(m) for name, m in MODULES[backend].items()}
    for src in dict.fromkeys(helpers(backend).values()):
        exec(src, ns)  # noqa: S102 - the table's own helper source
    return ns


# ---------------------------------------------------------------- functions of a whole matrix


MatDeriv = Callable[[MatFn, tuple, Expr], Expr]
#: ``of_inverse(call, X)``: the call applied to ``inv(X)``, written with ``X`` itself
OfInverse = Callable[[MatFn, Tensor], Expr]

#: what the operand of a matrix function must be, weakest first: any square matrix,
#: an invertible one, one with a positive determinant (the generated code checks it)
SQUARE, INVERTIBLE, POSITIVE_DETERMINANT = "square", "invertible", "positive determinant"
DOMAINS = (SQUARE, INVERTIBLE, POSITIVE_DETERMINANT)


@dataclass(frozen=True)
class MatrixFunction:
    """A function of a square matrix ``A`` (written by name: ``inv(A)[i,j]``, ``det(A)``).

    ``rank`` is 2 for a matrix result (indexed: ``inv(A)[i,j]``), 0 for a number.
    ``deriv(call, (p, q), ans)`` is d call / d A[p,q], where ``ans`` holds the call's own
    value (the statement it defines, when it is the whole right-hand side).
    ``code[backend]`` has ``{0}`` for the operand; ``latex`` / ``unicode`` have ``{0}`` for
    the operand's name and, for a matrix result, are subscripted with its indices;
    ``latex_transposed`` spells the transpose of a matrix result (``A^{-T}``; default: the
    spelling with ``^{T}``). ``note`` is the identity the steps cite, ``domain`` one of
    :data:`DOMAINS`, ``solve[backend]`` (``{0}`` the operand, ``{1}`` a right-hand side)
    solves with the result instead of forming it. ``latex_in`` are further spellings the
    LaTeX reader accepts, as ``latex`` with ``{0}``. ``of_inverse(call, X)``, when given, is
    ``call`` with ``inv(X)`` for its operand, written with ``X`` (``det(inv(X)) = 1 /
    det(X)``): an identity wherever ``inv(X)`` is defined (:mod:`ricci.calculus.identities`).
    """

    name: str
    rank: int
    deriv: MatDeriv
    code: dict[str, str]
    latex: str
    unicode: str
    doc: str = ""
    note: str = ""
    domain: str = SQUARE
    solve: dict[str, str] = field(default_factory=dict)
    latex_transposed: str = ""
    latex_in: tuple[str, ...] = ()
    of_inverse: OfInverse | None = None

    def __post_init__(self) -> None:
        if set(self.code) != set(BACKEND_NAMES) or self.solve and set(self.solve) != set(BACKEND_NAMES):
            raise ValueError(f"{self.name}: a code template for each of {', '.join(BACKEND_NAMES)}")
        if self.domain not in DOMAINS or not self.note:
            raise ValueError(f"{self.name}: a domain among {DOMAINS} and a note for the steps")
        self.reading_keys()

    def reading_keys(self) -> tuple[tuple[str, object], ...]:
        """The reader's keys (:func:`reader_form`) of every LaTeX spelling it accepts: the
        printed one, ``\\operatorname{name}(A)`` and ``latex_in``."""
        spellings = [s.format("#1") for s in (self.latex, *self.latex_in)]
        spellings.insert(1, rf"\operatorname{{{self.name}}}\left(#1\right)")
        return tuple(dict.fromkeys(reader_form(s) for s in spellings))


def defmatfun(name: str, *, rank: int, deriv: MatDeriv, numpy: str, torch: str, jax: str,
              latex: str, unicode: str, note: str, doc: str = "", domain: str = SQUARE,
              solve: dict[str, str] | None = None, latex_transposed: str = "",
              latex_in: tuple[str, ...] = (), of_inverse: OfInverse | None = None) -> None:
    """Register a function of a square matrix and its derivative (one entry per primitive)."""
    f = MatrixFunction(name, rank, deriv, {"numpy": numpy, "torch": torch, "jax": jax}, latex,
                       unicode, doc, note, domain, dict(solve or {}), latex_transposed, latex_in,
                       of_inverse)
    _check_readings(name, f.reading_keys())
    MATRIX_FUNCTIONS[name] = f


def _inv(call: MatFn, pq: tuple, ans: Expr) -> Expr:
    i, j = call.out
    p, q = pq
    # d inv(A)[i,j] / d A[p,q] = -inv(A)[i,p] * inv(A)[q,j]   (d inv(A) = -inv(A) dA inv(A))
    return Mul((Const(-1), MatFn(call.fn, call.arg, (i, p)), MatFn(call.fn, call.arg, (q, j))))


def _det(call: MatFn, pq: tuple, ans: Expr) -> Expr:
    p, q = pq
    # d det(A) / d A[p,q] = det(A) * inv(A)[q,p]
    return Mul((ans, MatFn("inv", call.arg, (q, p))))


def _logdet(call: MatFn, pq: tuple, ans: Expr) -> Expr:
    p, q = pq
    # d logdet(A) / d A[p,q] = inv(A)[q,p]   (d logdet(A) = inv(A)^T : dA)
    return MatFn("inv", call.arg, (q, p))


def _trace(call: MatFn, pq: tuple, ans: Expr) -> Expr:
    # d trace(A) / d A[p,q] = delta[p,q]   (d trace(A) = I : dA)
    return Delta(pq)


#: the name of the matrix inverse (``inv(A)[i,k] * A[k,j]`` is ``delta[i,j]``: the rule
#: ``inverse-cancel`` of :mod:`ricci.simplify.sums`)
INVERSE = "inv"

defmatfun(INVERSE, rank=2, deriv=_inv, numpy="np.linalg.inv({0})", torch="torch.linalg.inv({0})",
          jax="jnp.linalg.inv({0})", latex="{0}^{{-1}}", unicode="{0}⁻¹",
          latex_transposed="{0}^{{-T}}", doc="the inverse of a square matrix",
          note="d inv(A) = -inv(A) dA inv(A)", domain=INVERTIBLE,
          of_inverse=lambda call, x: Tensor(x.name, call.out),  # inv(inv(X)) = X
          solve={"numpy": "np.linalg.solve({0}, {1})", "torch": "torch.linalg.solve({0}, {1})",
                 "jax": "jnp.linalg.solve({0}, {1})"})
defmatfun("det", rank=0, deriv=_det, numpy="np.linalg.det({0})", torch="torch.linalg.det({0})",
          jax="jnp.linalg.det({0})", latex=r"\det\left({0}\right)", unicode="det({0})",
          doc="the determinant of a square matrix", note="d det(A) = det(A) inv(A)^T : dA",
          domain=INVERTIBLE,
          of_inverse=lambda call, x: Pow(MatFn(call.fn, x), Const(-1)))  # det(inv(X)) = 1 / det(X)
defmatfun("logdet", rank=0, deriv=_logdet, numpy="np.linalg.slogdet({0})[1]",
          torch="torch.linalg.slogdet({0})[1]", jax="jnp.linalg.slogdet({0})[1]",
          latex=r"\log\det\left({0}\right)", unicode="log det({0})",
          doc="log |det A| of a square matrix (the log-determinant; det A > 0 for the SPD "
              "matrices it is used with)", note="d logdet(A) = inv(A)^T : dA",
          domain=POSITIVE_DETERMINANT,
          # logdet(inv(X)) = -logdet(X) (det(inv(X)) > 0 exactly when det(X) > 0)
          of_inverse=lambda call, x: Mul((Const(-1), MatFn(call.fn, x))))
defmatfun("trace", rank=0, deriv=_trace, numpy="np.trace({0})", torch="torch.trace({0})",
          jax="jnp.trace({0})", latex=r"\operatorname{{tr}}\left({0}\right)", unicode="tr({0})",
          latex_in=(r"\mathrm{{tr}}\left({0}\right)",), doc="the trace of a square matrix",
          note="d trace(A) = I : dA")


@dataclass(frozen=True)
class LatexReading:
    r"""Which function each form of the LaTeX reader reads (from both tables).

    ``commands``: command sequences (``("exp",)``, ``("log", "det")``, ``("sigma",)``: a
    Greek letter is a function only before a parenthesis); ``words``: names in
    ``\operatorname{...}`` and the other word commands; ``macros``: commands taking a
    braced argument (``\sqrt{x}``); ``bars``: the function written ``|x|``;
    ``exponential``: ``e^{x}``; ``inverse``: ``A^{-1}``. Each maps to a function name of
    :data:`FUNCTIONS` or :data:`MATRIX_FUNCTIONS`.
    """

    commands: dict[tuple[str, ...], str]
    words: dict[str, str]
    macros: dict[str, str]
    bars: str | None
    exponential: str | None
    inverse: str | None


def latex_reading() -> LatexReading:
    """The reader's view of the tables (rebuilt when an entry changes)."""
    key = tuple((n, id(f)) for t in (FUNCTIONS, MATRIX_FUNCTIONS) for n, f in t.items())
    hit = _reading_cache.get(key)
    if hit is None:
        r = _readings()
        pick = {kind: {k: v for (f, k), v in r.items() if f == kind}
                for kind in ("command", "word", "macro", "bars", "exponential", "inverse")}
        # the key's type follows its form (reader_form): a tuple of command names for
        # "command", a string for every other form; a tag mypy cannot narrow on
        hit = LatexReading(cast(dict[tuple[str, ...], str], pick["command"]),
                           cast(dict[str, str], pick["word"]), cast(dict[str, str], pick["macro"]),
                           pick["bars"].get("|"), pick["exponential"].get("e"), pick["inverse"].get("-1"))
        _reading_cache.clear()
        _reading_cache[key] = hit
    return hit


_reading_cache: dict[tuple, LatexReading] = {}
