"""Matrix-expression trees (:mod:`.matrix_algebra`) printed: plain text, NumPy code, LaTeX.

:func:`render_text` writes NumPy-like text (``dY @ A.T``, ``sum(dZ, axis=0)``),
:func:`render_numpy` evaluable NumPy code (the tests run it against the einsum form),
:func:`render_latex` LaTeX (``\\frac{\\partial l}{\\partial Y} A^{T}``,
``\\mathbf{1}^{T} G``, ``\\odot``), with names spelled by a :class:`Spelling`.

Invariants: the text and the NumPy code are valid Python (numbers as Python literals,
``1e-05``); the module of the NumPy code is ``__np`` and sizes come from
``__sizes[index]`` (:data:`NP`, :data:`SIZES`: names no program can use for a tensor).
"""

from __future__ import annotations

import keyword
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Mapping, TypeGuard

from ..codegen.values import float_literal
from ..primitives.functions import FUNCTIONS, MATRIX_FUNCTIONS, one_call
from ..primitives.numbers import number_text
from .matrix_algebra import (
    FULL,
    TRACE,
    Bcast,
    Diag,
    DiagOf,
    Eye,
    Fn,
    Like,
    M,
    MatFunc,
    MatMul,
    Num,
    Outer,
    Plus,
    PowM,
    Prod,
    Reduce,
    SizeOf,
    T,
    Trace,
    Var,
    numpy_shape,
    size_text,
    transpose,
)
from .notation import LATEX, SQRT, latex_base, latex_exponent, latex_number, latex_symbol
from .notation import MUL as INDEX_MUL
from .notation import POW as INDEX_POW

__all__ = ["MATRIX_WORDS", "NP", "SIZES", "Spelling", "py_name", "render_latex", "render_numpy", "render_text"]

#: precedences of the matrix printers, loosest first
ADD, MUL, UNARY, POW, ATOM = 1, 2, 3, 4, 5


NP, SIZES = "__np", "__sizes"  # reserved names in evaluable code


#: the words of the matrix notation (docs/matrix.md): a tensor with one of these names is
#: written with a trailing ``_`` in the matrix view (``I_``), so ``I + I_`` is the identity
#: plus the tensor I, and ``diag_`` is not the function diag
MATRIX_WORDS = frozenset({"I", "eye", "ones", "zeros", "ones_like", "zeros_like", "diag", "outer", "einsum",
                          "sum", "size"}) | frozenset(MATRIX_FUNCTIONS) | frozenset(FUNCTIONS)


def py_name(name: str) -> str:
    """A tensor name as a Python identifier (``lambda`` -> ``lambda_``)."""
    return name + "_" if keyword.iskeyword(name) else name


@dataclass
class Spelling:
    """How names print: ``display`` gives the text name of a tensor, ``latex`` its LaTeX."""

    display: Mapping[str, str] = field(default_factory=dict)
    adjoint_of: Mapping[str, str] = field(default_factory=dict)
    loss: str = "l"
    #: Jacobian tensors: name -> (numerator, denominator)
    jacobians: Mapping[str, tuple[str, str]] = field(default_factory=dict)

    def text(self, name: str) -> str:
        if name in self.jacobians:
            num, den = self.jacobians[name]
            if num in self.adjoint_of:  # the Jacobian of an adjoint
                return f"d(d{self.loss}/d{self.adjoint_of[num]})/d{den}"
            return f"d{num}/d{den}"
        text = self.display.get(name, name)
        return text + "_" if text in MATRIX_WORDS else text

    def latex(self, name: str) -> str:
        """The name in LaTeX, spelled as the index view spells it (:func:`~.notation.latex_symbol`,
        derivatives as :class:`~.notation.LatexNotation` writes them)."""
        if name in self.jacobians:
            num, den = self.jacobians[name]
            if num in self.adjoint_of:
                inner = LATEX.derivative(latex_symbol(self.loss), latex_symbol(self.adjoint_of[num]))[0]
                return LATEX.derivative(inner, latex_symbol(den), compound=True)[0]
            return LATEX.derivative(latex_symbol(num), latex_symbol(den))[0]
        if name in self.adjoint_of:
            return LATEX.derivative(latex_symbol(self.loss), latex_symbol(self.adjoint_of[name]))[0]
        return latex_symbol(name)


class _Text:
    """Plain text (``numpy=False``) or NumPy code (``numpy=True``) of a node."""

    def __init__(self, numpy: bool, name: Callable[[str], str]) -> None:
        self.numpy = numpy
        self.name = name

    def fn(self, f: str) -> str:
        return (NP + "." + f) if self.numpy else f

    def go(self, n: M) -> tuple[str, int]:
        np_ = self.numpy
        if isinstance(n, Var):
            # a name spelled as a derivative (dl/dY, d(dL/dz)/dw) reads as a quotient: it
            # is parenthesised where a quotient would be (X.T @ (d(dL/dz)/dw), (dl/dY).T)
            s = self.name(n.name)
            return s, (ATOM if self.numpy or s.isidentifier() else MUL)
        if isinstance(n, Num):
            v = n.value
            s = (float_literal(abs(v)) if np_ else number_text(abs(v)))
            s = s if "/" not in s else f"({s})"
            return (f"-{s}", UNARY) if v < 0 else (s, ATOM)
        if isinstance(n, SizeOf):
            return (f"{SIZES}[{n.index!r}]" if np_ else size_text(n.index, n.label)), ATOM
        if isinstance(n, Eye):
            return (f"{NP}.eye({SIZES}[{n.index!r}])" if np_ else
                    f"eye({size_text(n.index, n.label)})" if n.sized else "I"), ATOM
        if isinstance(n, T):
            s, p = self.go(n.x)
            s = s if p == ATOM else f"({s})"
            return (f"{s}.T" if n.x.ndim <= 2 else f"{s}.mT"), ATOM
        if isinstance(n, MatMul) and np_ and (isinstance(n.a, Diag) or isinstance(n.b, Diag)):
            # diag(w) @ B is w[:, None] * B and A @ diag(w) is A * w: no n x n matrix
            if isinstance(n.a, Diag):
                w, pw = self.go(n.a.x)
                b, pb = self.go(n.b)
                wb = f"{w if pw == ATOM else f'({w})'}[:, None]" if n.b.ndim == 2 else w
                return f"({wb} * {b if pb >= POW else f'({b})'})", ATOM
            assert isinstance(n.b, Diag)  # n.a is not diag(w), so n.b is (the condition above)
            a, pa = self.go(n.a)
            w, pw = self.go(n.b.x)
            return f"({a if pa >= POW else f'({a})'} * {w if pw >= POW else f'({w})'})", ATOM
        if isinstance(n, MatMul):
            a, pa = self.go(n.a)
            b, pb = self.go(n.b)
            # a chain A @ (B @ C) is written A @ B @ C when B is a matrix (associativity)
            a = a if pa >= POW or (pa == MUL and isinstance(n.a, MatMul)) else f"({a})"
            b = b if pb >= POW or (pb == MUL and _chains(n.b)) else f"({b})"
            return f"{a} @ {b}", MUL
        if isinstance(n, Prod):
            return self.prod(n)
        if isinstance(n, Plus):
            out = ""
            for k, (sign, t) in enumerate(n.terms):
                s, p = self.go(t)
                if p == UNARY and k > 0:
                    s, p = f"({s})", ATOM
                if k == 0:
                    out = (f"-{s}" if p > ADD else f"-({s})") if sign < 0 else s
                else:
                    out += (" - " if sign < 0 else " + ") + (s if p > ADD else f"({s})")
            return out, ADD
        if isinstance(n, Fn):
            s, _ = self.go(n.x)
            if np_:
                template = FUNCTIONS[n.fn].code["numpy"]
                code = template.replace("np.", NP + ".").format(f"({s})")
                return (code if one_call(template) else f"({code})"), ATOM
            return f"{n.fn}({s})", ATOM
        if isinstance(n, PowM):
            b, pb = self.go(n.x)
            x, px = self.go(n.exp)
            b = b if pb == ATOM else f"({b})"
            x = x if px == ATOM else f"({x})"
            return f"{b} {'**' if np_ else '^'} {x}" if np_ else f"{b}^{x}", POW
        if isinstance(n, Reduce):
            s, _ = self.go(n.x)
            if len(n.axes) == n.x.ndim:
                return f"{self.fn('sum')}({s})", ATOM
            ax = str(n.axes[0]) if len(n.axes) == 1 else str(tuple(n.axes))
            return f"{self.fn('sum')}({s}, axis={ax})", ATOM
        if isinstance(n, Trace):
            return self.matfunc(TRACE, self.go(n.x)[0]), ATOM
        if isinstance(n, MatFunc):
            return self.matfunc(n.fn, self.go(n.x)[0]), ATOM
        if isinstance(n, (DiagOf, Diag)):
            return f"{self.fn('diag')}({self.go(n.x)[0]})", ATOM
        if isinstance(n, Outer):
            return f"{self.fn('outer')}({self.go(n.u)[0]}, {self.go(n.v)[0]})", ATOM
        if isinstance(n, Bcast):
            s, p = self.go(n.x)
            s = s if p == ATOM else f"({s})"
            return f"{s}[{', '.join(':' if x else 'None' for x in n.slots)}]", ATOM
        if isinstance(n, Like):
            s, p = self.go(n.x)
            if n.like is None:  # ones((size(n), size(o)))
                shape = ", ".join(f"{SIZES}[{k!r}]" if np_ else size_text(k, lab)
                                  for k, lab in zip(n.sizes, n.labels or ("",) * len(n.sizes)))
                shape = f"({shape},)" if len(n.sizes) == 1 else f"({shape})"
                if np_:
                    return f"{NP}.broadcast_to({s}, {shape})", ATOM
                if isinstance(n.x, Num) and n.x.value in (0, 1):
                    return f"{'zeros' if n.x.value == 0 else 'ones'}({shape})", ATOM
                return f"{s if p >= MUL else f'({s})'} * ones({shape})", MUL
            like = self.name(n.like)
            if np_:
                return f"{NP}.broadcast_to({s}, {like}.shape)", ATOM
            if isinstance(n.x, Num) and n.x.value in (0, 1):
                return f"{'zeros' if n.x.value == 0 else 'ones'}_like({like})", ATOM
            return f"{s if p >= MUL else f'({s})'} * ones_like({like})", MUL
        raise AssertionError(type(n).__name__)  # pragma: no cover

    def matfunc(self, fn: str, operand: str) -> str:
        """A matrix function of an operand's text: ``inv(A)``, ``np.linalg.inv(A)``."""
        if self.numpy:
            return MATRIX_FUNCTIONS[fn].code["numpy"].replace("np.", NP + ".").format(operand)
        return f"{fn}({operand})"

    def prod(self, n: Prod) -> tuple[str, int]:
        parts = []
        for f in n.factors:
            s, p = self.go(f)
            parts.append(s if p >= POW else f"({s})")
        c = abs(n.coef)
        if c != 1 or not parts:
            cs = float_literal(c) if self.numpy else number_text(c)
            parts.insert(0, cs if "/" not in cs else f"({cs})")
        out = " * ".join(parts)
        for d in n.divisors:
            s, p = self.go(d)
            out += " / " + (s if p >= POW else f"({s})")
        if n.coef < 0:  # -(a * b) is (-a) * b: no parentheses needed
            return "-" + out, UNARY
        return out, (MUL if len(parts) > 1 or n.divisors else ATOM)


def render_text(n: M, name: Callable[[str], str] = lambda s: s) -> str:
    """``dY @ A.T``, ``sum(dZ, axis=0)``, ``A * v[None, :]``."""
    return _Text(False, name).go(n)[0]


def render_numpy(n: M, name: Callable[[str], str] = lambda s: s) -> str:
    """The same as NumPy code: the module is ``__np``, sizes come from ``__sizes[index]``
    (names no program can use for a tensor)."""
    return _Text(True, name).go(n)[0]


# -- LaTeX


def _latex_num(v: Fraction) -> tuple[str, int]:
    """``|v|`` spelled as the index view spells it (:func:`~.notation.latex_number`), with its
    precedence on this module's scale (a fraction counts as an atom; :meth:`_Latex.base`
    still puts one in parentheses under a superscript)."""
    s, p = latex_number(abs(v))
    return s, (MUL if p == INDEX_MUL else POW if p == INDEX_POW else ATOM)


class _Latex:
    def __init__(self, sp: Spelling) -> None:
        self.sp = sp

    def paren(self, s: str, p: int, above: int) -> str:
        return s if p > above else rf"\left({s}\right)"

    def base(self, n: M, superscript: bool = True) -> str:
        """``n`` as the base of a superscript: parenthesised unless atomic (a fraction
        such as dl/dY is atomic in a product, but not under ``^T``), a tensor named e as
        the index view writes it there (:func:`~.notation.latex_base`). ``superscript``
        False: an operand of a matrix function spelled without one (``\\det``)."""
        s, p = self.go(n)
        if p >= ATOM and not s.startswith(r"\frac"):
            return latex_base(s) if superscript else s
        return rf"\left({s}\right)"

    def go(self, n: M) -> tuple[str, int]:
        if isinstance(n, Var):
            return self.sp.latex(n.name), ATOM
        if isinstance(n, Num):
            s, p = _latex_num(n.value)
            return (f"-{s}", UNARY) if n.value < 0 else (s, p)
        if isinstance(n, SizeOf):
            return LATEX.size(n.index), ATOM
        if isinstance(n, Eye):
            return "I", ATOM
        if isinstance(n, T):
            if isinstance(n.x, MatFunc) and MATRIX_FUNCTIONS[n.x.fn].latex_transposed:  # A^{-T}
                return MATRIX_FUNCTIONS[n.x.fn].latex_transposed.format(self.base(n.x.x)), POW
            return f"{self.base(n.x)}^{{T}}", POW
        if isinstance(n, MatFunc):
            spelling = MATRIX_FUNCTIONS[n.fn].latex
            spelled = spelling.format(self.base(n.x, "^" in spelling))
            return spelled, (POW if n.ndim else ATOM)
        if isinstance(n, MatMul):
            a, pa = self.go(n.a)
            b, pb = self.go(n.b)
            if n.a.ndim == 1 and n.b.ndim >= 2:  # x @ A = A^T x
                bt, pt = self.go(transpose(n.b))
                return f"{self.paren(bt, pt, MUL - 1)} {self.paren(a, pa, MUL)}", MUL
            if n.a.ndim == 1 and n.b.ndim == 1:
                return f"{self.base(n.a)}^{{T}} {self.paren(b, pb, MUL)}", MUL
            # a chain A (B C) is written A B C when B is a matrix
            b = b if _chains(n.b) else self.paren(b, pb, MUL)
            return f"{self.paren(a, pa, MUL - 1)} {b}", MUL
        if isinstance(n, Prod):
            return self.prod(n)
        if isinstance(n, Plus):
            out = ""
            for k, (sign, t) in enumerate(n.terms):
                s, p = self.rows(t, n.ndim)
                if k == 0:
                    out = ("-" + self.paren(s, p, ADD)) if sign < 0 else s
                else:
                    out += (" - " if sign < 0 else " + ") + self.paren(s, p, ADD)
            return out, ADD
        if isinstance(n, Fn):
            s, _ = self.go(n.x)
            return self.function(n.fn, s), ATOM
        if isinstance(n, PowM):
            b, pb = self.go(n.x)
            x, _ = self.go(n.exp)
            x = latex_exponent(x, n.exp.value if isinstance(n.exp, Num) else None)
            circ = r"\circ " if n.ndim else ""
            if isinstance(n.exp, Num) and n.exp.value == Fraction(1, 2):
                return (self.function(SQRT, b) if not n.ndim else rf"{self.base(n.x)}^{{\circ 1/2}}"), ATOM
            return f"{self.base(n.x)}^{{{circ}{x}}}", POW
        if isinstance(n, Reduce):
            s, p = self.go(n.x)
            one = r"\mathbf{1}"
            if n.x.ndim == 1:
                return f"{one}^{{T}} {self.paren(s, p, MUL)}", MUL
            if n.x.ndim == 2 and n.axes == (0,):  # a vector is a column: X^T 1, not 1^T X
                return f"{self.base(n.x)}^{{T}} {one}", MUL
            if n.x.ndim == 2 and n.axes == (1,):
                return f"{self.paren(s, p, MUL)} {one}", MUL
            if n.x.ndim == 2:
                return f"{one}^{{T}} {self.paren(s, p, MUL)} {one}", MUL
            ax = ",".join(str(a) for a in n.axes)
            return rf"\textstyle\sum_{{\text{{axis }} {ax}}} {self.paren(s, p, MUL)}", MUL
        if isinstance(n, Trace):
            return MATRIX_FUNCTIONS[TRACE].latex.format(self.go(n.x)[0]), ATOM
        if isinstance(n, (DiagOf, Diag)):
            return rf"\operatorname{{diag}}\left({self.go(n.x)[0]}\right)", ATOM
        if isinstance(n, Outer):
            u, pu = self.go(n.u)
            return f"{self.paren(u, pu, MUL)} {self.base(n.v)}^{{T}}", MUL
        if isinstance(n, Bcast):
            s, p = self.go(n.x)
            if n.x.ndim == 1 and len(n.slots) == 2:
                one = r"\mathbf{1}"
                if n.slots[0] == ":":  # v[:, None]: v 1^T
                    return f"{self.paren(s, p, MUL)} {one}^{{T}}", MUL
                return f"{one} {self.base(n.x)}^{{T}}", MUL
            return s, p  # broadcasting over leading axes: implied, as in NumPy
        if isinstance(n, Like):
            one = r"\mathbf{1}"
            if isinstance(n.x, Num) and n.x.value in (0, 1):
                return rf"\mathbf{{{n.x.value}}}", ATOM
            shape = numpy_shape(n.x)
            if shape is not None and len(shape) == n.ndim and all(shape):
                return self.go(n.x)  # already of the full shape (v 1^T)
            if n.x.ndim == 0:  # a number times the all-ones vector or matrix
                s, p = self.go(n.x)
                ones = one if n.ndim == 1 else f"{one} {one}^{{T}}"
                return f"{self.paren(s, p, MUL)} {ones}", MUL
            return self.rows(n.x, n.ndim)
        raise AssertionError(type(n).__name__)  # pragma: no cover

    def rows(self, n: M, ndim: int) -> tuple[str, int]:
        """``n`` as a term of a value of ``ndim`` axes: a vector that NumPy broadcasts down
        the rows of a matrix (``A + v``) is written as that matrix, ``1 v^T``."""
        s, p = self.go(n)
        if ndim == 2 and numpy_shape(n) == (FULL,):
            return rf"\mathbf{{1}} {self.base(n)}^{{T}}", MUL
        return s, p

    def function(self, fn: str, arg: str) -> str:
        """``fn(arg)`` in the function's matrix-notation spelling (``#1``: a template)."""
        spelled = FUNCTIONS[fn].matrix_latex
        return spelled.replace("#1", arg) if "#1" in spelled else rf"{spelled}\left({arg}\right)"

    def prod(self, n: Prod) -> tuple[str, int]:
        r"""``c s A``; a vector broadcast along the rows (columns) of a matrix is written
        ``diag(v) A`` (``A diag(v)``), other elementwise products with ``\odot``."""
        mats = [f for f in n.factors if f.ndim]
        scal = [f for f in n.factors if not f.ndim]
        # a bare vector in a matrix product is broadcast down the rows: v[None, :]
        mats = [Bcast(f, (None, ":")) if n.ndim == 2 and numpy_shape(f) == (FULL,) else f for f in mats]
        plain = [f for f in mats if not _vec_bcast(f)]
        use_diag = n.ndim == 2 and len(plain) >= 1
        left: list[str] = []
        right: list[str] = []
        had: list[str] = []
        for f in mats:
            if use_diag and _vec_bcast(f):
                d = rf"\operatorname{{diag}}\left({self.go(f.x)[0]}\right)"
                (left if f.slots[0] == ":" else right).append(d)
            else:
                s, p = self.go(f)
                had.append(self.paren(s, p, MUL))
        core = r" \odot ".join(had)
        if len(had) > 1 and (left or right or scal or n.coef != 1):
            core = rf"\left({core}\right)"
        parts = [self.paren(*self.go(f), MUL) for f in scal] + left + ([core] if core else []) + right
        if abs(n.coef) != 1:  # in front; (2.5 \cdot 10^{-6}) before a factor, as in index notation
            c, cp = _latex_num(n.coef)
            parts.insert(0, self.paren(c, cp, MUL) if parts else c)
        num = " ".join(parts) or "1"
        if n.divisors:
            dens = [self.paren(*self.go(d), MUL) for d in n.divisors]
            if any(d.ndim for d in n.divisors):
                out = num + "".join(rf" \oslash {d}" for d in dens)
            else:
                out = rf"\frac{{{num}}}{{{' '.join(dens)}}}"
        else:
            out = num
        if n.coef < 0:
            return "-" + out, UNARY
        return out, MUL


def _chains(n: M) -> bool:
    """``A @ (B @ C)`` may drop its parentheses: B @ C is a product whose left operand is
    a matrix (with a vector there the grouping decides the shapes)."""
    return isinstance(n, MatMul) and n.a.ndim >= 2


def _vec_bcast(f: M) -> TypeGuard[Bcast]:
    return isinstance(f, Bcast) and f.x.ndim == 1 and len(f.slots) == 2


def render_latex(n: M, sp: Spelling) -> str:
    return _Latex(sp).go(n)[0]
