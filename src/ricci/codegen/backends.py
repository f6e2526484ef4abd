"""The backends: how each array library spells the operations of generated code.

:class:`Backend` is what the lowering (:mod:`.lower`) asks of a backend, :class:`EmitBackend`
what the emitter (:mod:`.emit`) asks besides. :data:`BACKENDS` is the table of backends
(the class, the module it needs, the extra that installs it, the library's name); everything that lists
backends reads it. NumPy and JAX are one class, :class:`NumpyLikeBackend`, which spells
NumPy's array API from data (the library's name in generated code, the dtype of the arrays
it makes, a few templates), so another library with that API is a subclass that sets data
only; torch's spellings differ, and :class:`TorchBackend` overrides the methods.

Invariants: a backend's methods return Python source text and do nothing else; a
function is spelled from its entry in the primitive table (``FUNCTIONS[fn].code[name]``);
an instance serves one generated function (:func:`get_backend` makes a new one, and the
emitter sets its ``dtype``).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from typing import Callable, NamedTuple, Protocol, Sequence

from ..errors import RicciError
from ..primitives.functions import FUNCTIONS, one_call

__all__ = ["Backend", "BACKENDS", "EmitBackend", "get_backend"]


class Backend(Protocol):
    """What the lowering needs of a backend: the spelling of each array operation."""

    name: str
    #: runs of elementwise statements become fused loop kernels (:mod:`.kernels`)
    kernels: bool
    #: a product then a sum of two operands is spelled with einsum (else ``(a * b).sum()``)
    einsum_reduces: bool
    #: the code runs under a compiler that fuses elementwise operations into the loops
    #: that compute their operands (``jax.jit``): a scalar factor of a contraction goes
    #: on an operand the code computes, not on the result
    fuses: bool

    @property
    def spelling(self) -> str:
        """The column of the primitive tables the array code is spelled from: the
        backend's name, but for a backend writing another library's array code (numba's
        is NumPy's)."""

    def call(self, fn: str, arg: str, atomic: bool = False) -> str: ...
    def sum(self, a: str, axes: Sequence[int], ndim: int) -> str: ...
    def max(self, a: str, axes: Sequence[int], ndim: int) -> str: ...
    def permute(self, a: str, perm: Sequence[int]) -> str: ...
    def einsum(self, spec: str, ops: Sequence[str]) -> str: ...
    def tensordot(self, a: str, b: str, ax: Sequence[int], bx: Sequence[int]) -> str: ...
    def eye(self, n: str) -> str: ...
    def delta(self, n: str, k: int) -> str: ...
    def sqrt(self, a: str) -> str: ...
    def scalar(self, code: str) -> str: ...
    def number_result(self, code: str) -> tuple[str, bool]: ...
    def lhs_transposed(self, code: str) -> str: ...
    @property
    def addmm(self) -> Callable[..., str] | None:
        """``addmm(acc, a, b, negated, in_place)``: the code of ``acc + a @ b`` as one
        fused multiply-add (:meth:`TorchBackend.addmm`); None where the library has none."""


class EmitBackend(Backend, Protocol):
    """What :func:`~.emit.generate` needs of a backend besides the lowering's :class:`Backend`:
    the imports and prelude of the generated module, the names its code takes, and the
    spelling of a statement's result."""

    header: str
    prelude: str
    reserved: set[str]
    dtype: str | None
    device: str | None
    #: the code may compute a value in the buffer of an array that dies there
    #: (``dx = dxc; dx += c``: :mod:`.inplace`); False where arrays are immutable
    reuses_buffers: bool
    #: the elementwise functions (as spelled: ``np.exp``) that can write their result
    #: into their argument, as :meth:`in_place_call` spells it
    unary_in_place: frozenset[str]
    #: the floating dtypes the code computes in (None: any the library has); inputs of
    #: another are refused, never converted (:func:`~.calling.convert`)
    float_dtypes: tuple[str, ...] | None

    def in_place_call(self, fn: str, a: str) -> str:
        """The code of the function ``fn`` (one of :attr:`unary_in_place`) applied to the
        array ``a`` in its buffer, evaluating to ``a``: ``np.exp(a, out=a)``, ``a.exp_()``."""

    def broadcast(self, code: str, shape: str) -> str: ...
    def copy(self, code: str) -> str: ...
    def full(self, shape: str, value: str) -> str: ...
    def scalar_result(self, code: str, number: bool) -> str: ...


def _arg_in_parens(template: str) -> bool:
    """True when every ``{0}`` in ``template`` sits alone inside call parentheses."""
    return all(re.search(r"[(,]\s*$", template[:m.start()]) and re.match(r"\s*[),]", template[m.end():])
               for m in re.finditer(r"\{0\}", template))


#: a non-negative float literal, as ricci spells constants (``2.0``, ``0.5``, ``1e-05``)
_FLOAT_LITERAL = re.compile(r"\d+\.\d*(e[-+]?\d+)?|\d+e[-+]?\d+")


class _Base:
    name = ""
    module = ""
    kernels = False
    float_dtypes: tuple[str, ...] | None = None

    @property
    def spelling(self) -> str:
        return self.name

    #: code for the dtype of arrays the function makes (an input's: ``X.dtype``), so that
    #: float32 inputs give float32 results; set by :func:`generate`
    dtype: str | None = None
    #: code for the device of arrays the function makes (an input's: ``X.device``), read
    #: by the torch backend; set by :func:`generate` with ``dtype``
    device: str | None = None

    def number_result(self, code: str) -> tuple[str, bool]:
        """A function of a plain number: its code, and whether it is still a plain number
        (torch's and jax's 0-d results are weakly typed already)."""
        return code, False
    #: spell a product-then-sum of two operands as einsum (else ``(a * b).sum(...)``)
    einsum_reduces = False
    fuses = False
    addmm: Callable[..., str] | None = None
    reuses_buffers = True
    unary_in_place: frozenset[str] = frozenset()

    def in_place_call(self, fn: str, a: str) -> str:
        return f"{fn}({a}, out={a})"

    def call(self, fn: str, arg: str, atomic: bool = False) -> str:
        """``fn(arg)``; a compound ``arg`` is parenthesised where the template needs it,
        and a template that is not one call (``a / (1 + b)``) is parenthesised as a whole."""
        t = FUNCTIONS[fn].code[self.spelling]
        out = t.format(arg if atomic or _arg_in_parens(t) else f"({arg})")
        return out if one_call(t) else f"({out})"

    def permute(self, a: str, perm: Sequence[int]) -> str:
        if list(perm) == [1, 0]:
            return f"{a}.T"
        return f"{a}.transpose({', '.join(map(str, perm))})"

    def sqrt(self, a: str) -> str:
        return self.call("sqrt", a, atomic=True)

    def lhs_transposed(self, code: str) -> str:
        """The left operand of ``@`` when it is a transposed view (``X.T``,
        ``A.transpose(0, 1, 3, 2)``): the view itself, unless the library multiplies a
        copied transpose faster."""
        return code


class NumpyLikeBackend(_Base):
    """A library with NumPy's array API, spelled from the data below: ``np`` is the name of
    the library in generated code (``np.einsum``, ``np.tensordot(..., axes=...)``,
    ``np.eye``, ``np.zeros``, ``np.full``, ``np.asarray``; reductions ``.sum(axis=...)``,
    ``.max(axis=...)``), ``float64`` the dtype of the arrays it makes when no input gives
    one, and the templates and flags where such libraries differ. A subclass sets
    ``name``, ``header``, ``reserved``, ``prelude`` (the ``_delta`` helper) and the data
    that differs from NumPy's."""

    #: the library's name in generated code
    np = "np"
    #: the dtype of the arrays the code makes when no input gives one
    float64 = "np.float64"
    #: ``{0}`` (a number or an array) broadcast to the shape ``{1}``, as an array of ``{dtype}``
    broadcast_code = "{np}.broadcast_to({0}, {1}).astype({dtype})"
    #: a copy of the array ``{0}`` that a later ``+=`` may update
    copy_code = "{0}.copy()"
    #: a scalar statement's result ``{0}`` computed from arrays, as the function returns it
    array_result_code = "{np}.asarray({0})"
    #: a plain number that is not a float literal (a size, an int) is made a float before
    #: the library's functions see it
    float_sizes = False
    #: a function of a plain number is made a Python float again (it stays a plain number)
    float_number_results = False

    def scalar(self, code: str) -> str:
        return f"float({code})" if self.float_sizes and not _FLOAT_LITERAL.fullmatch(code) else code

    def number_result(self, code: str) -> tuple[str, bool]:
        return (f"float({code})", True) if self.float_number_results else (code, False)

    def sum(self, a: str, axes: Sequence[int], ndim: int) -> str:
        if len(axes) == ndim:
            return f"{a}.sum()"
        ax = str(axes[0]) if len(axes) == 1 else f"({', '.join(map(str, axes))})"
        return f"{a}.sum(axis={ax})"

    def max(self, a: str, axes: Sequence[int], ndim: int) -> str:
        """The largest element over ``axes``."""
        ax = str(axes[0]) if len(axes) == 1 else f"({', '.join(map(str, axes))})"
        return f"{a}.max()" if len(axes) == ndim else f"{a}.max(axis={ax})"

    def einsum(self, spec: str, ops: Sequence[str]) -> str:
        return f"{self.np}.einsum('{spec}', {', '.join(ops)})"

    def tensordot(self, a: str, b: str, ax: Sequence[int], bx: Sequence[int]) -> str:
        return f"{self.np}.tensordot({a}, {b}, axes=({list(ax)}, {list(bx)}))"

    def eye(self, n: str) -> str:
        return f"{self.np}.eye({n}, dtype={self.dtype or self.float64})"

    def delta(self, n: str, k: int) -> str:
        return f"_delta({n}, {k}, {self.dtype or self.float64})"

    def broadcast(self, code: str, shape: str) -> str:
        return self.broadcast_code.format(code, shape, np=self.np, dtype=self.dtype or self.float64)

    def copy(self, code: str) -> str:
        return self.copy_code.format(code)

    def full(self, shape: str, value: str) -> str:
        dt = self.dtype or self.float64
        return f"{self.np}.zeros({shape}, dtype={dt})" if value in ("0.0", "0") else \
            f"{self.np}.full({shape}, {value}, dtype={dt})"

    def scalar_result(self, code: str, number: bool) -> str:
        if number:
            return f"{self.np}.asarray({code}, dtype={self.dtype or self.float64})"
        return self.array_result_code.format(code, np=self.np)


class NumpyBackend(NumpyLikeBackend):
    name = "numpy"
    header = "import numpy as np"
    reserved = {"np"}
    #: the functions the table spells as one NumPy ufunc of the argument (``np.exp({0})``):
    #: a ufunc writes into its argument with ``out=``
    unary_in_place = frozenset(t[:-len("({0})")] for f in FUNCTIONS.values()
                               for t in [f.code["numpy"]] if re.fullmatch(r"np\.\w+\(\{0\}\)", t))
    #: numpy's einsum multiplies and sums in one pass: use it for 'ab,ab->a'
    einsum_reduces = True
    # numpy functions take Python numbers; but np.sqrt(3) is a np.float64, which (NEP 50)
    # makes a float32 array float64: a function of a number stays a Python float
    float_number_results = True

    def gram(self, a: str, w: str) -> str:
        return f"_gram({a}, {w})"

    prelude = '''
def _delta(n, k, dtype):
    out = np.zeros((n,) * k, dtype=dtype)
    i = np.arange(n)
    out[(i,) * k] = 1.0
    return out
'''
    preludes = {"_gram": '''
def _gram(a, w):
    """a.T @ diag(w) @ a. It is symmetric: with w >= 0 it is b.T @ b for b = a * sqrt(w),
    which numpy computes with one BLAS syrk (half the work of a matrix product)."""
    if (w >= 0).all():
        b = a * np.sqrt(w)[:, None]
        return b.T @ b
    return (a * w[:, None]).T @ a
'''}


class NumbaBackend(NumpyBackend):
    """NumPy code in which runs of elementwise statements and row reductions are loop
    kernels compiled by numba (:mod:`.kernels`: one ``@numba.njit`` function per run, a
    row at a time); contractions stay NumPy's matrix products. The kernels' scalar type
    is the parameter ``T``, so no tensor is named ``T`` in the generated code."""

    name = "numba"
    header = "import math\n\nimport numba\nimport numpy as np"
    reserved = {"np", "numba", "math", "T"}
    kernels = True
    float_dtypes: tuple[str, ...] | None = ("float32", "float64")  # numba compiles no float16 or float128 loops

    @property
    def spelling(self) -> str:
        return "numpy"


class JaxBackend(NumpyLikeBackend):
    """JAX code: ``jnp`` operations only, no in-place updates and no Python-side use of
    array values, so the generated function can be traced by ``jax.jit`` (sizes are
    shapes, which are static under ``jit``)."""

    name = "jax"
    header = "import jax\nimport jax.numpy as jnp"
    reserved = {"jax", "jnp"}
    np = "jnp"
    float64 = "float"
    # jnp functions take Python numbers (weakly typed, so float32 inputs stay float32);
    # a size is an int, made a float so that relu(size(k)) ** -2 is not an integer power
    float_sizes = True
    # arrays are immutable: a broadcast needs no copy, and an array can be shared (`x += y`
    # rebinds the name)
    broadcast_code = "{np}.broadcast_to({np}.asarray({0}, dtype={dtype}), {1})"
    copy_code = "{0}"
    array_result_code = "{0}"
    reuses_buffers = False
    # run under jax.jit, where XLA fuses elementwise work into the loops producing it
    fuses = True

    prelude = '''
def _delta(n, k, dtype):
    i = jnp.arange(n)
    return jnp.zeros((n,) * k, dtype=dtype).at[(i,) * k].set(1.0)
'''

    def lhs_transposed(self, code: str) -> str:
        return f"_lhs_t({code})"

    preludes = {"_lhs_t": '''
def _lhs_t(a):
    """a, the transposed left operand of a 2-D matrix product. XLA folds a transpose into
    the product; on the CPU a float64 product whose left operand is contracted over a
    leading axis then takes a path about twice as slow as a copied transpose and the
    row-major product (benchmarks/RESULTS.md, issue 15), so there the transpose is copied."""
    if a.dtype == jnp.float64 and jax.default_backend() == "cpu":
        return jax.lax.optimization_barrier(a)
    return a
'''}


class TorchBackend(_Base):
    """torch code. Every tensor the code makes (a constant, an identity, a broadcast) is
    made with the dtype and on the device of an input (``dtype=X.dtype, device=X.device``),
    so that the code runs where its inputs are (a GPU, the ``meta`` device) and never
    moves data between devices."""

    name = "torch"
    header = "import torch"
    reserved = {"torch"}
    #: the functions the table spells ``torch.f({0})``: each has the in-place method
    #: ``a.f_()`` (``relu_``, which takes no ``out=``, too)
    unary_in_place = frozenset(t[:-len("({0})")] for f in FUNCTIONS.values()
                               for t in [f.code["torch"]] if re.fullmatch(r"torch\.\w+\(\{0\}\)", t))

    def in_place_call(self, fn: str, a: str) -> str:
        return f"{a}.{fn.rsplit('.', 1)[1]}_()"

    def _like(self) -> str:
        """The keyword arguments of a tensor the code makes: an input's dtype and device."""
        if self.dtype is None:  # no input to take them from
            return "dtype=torch.float64"
        return f"dtype={self.dtype}, device={self.device}"

    def _number(self, code: str) -> str:
        """The plain number ``code`` as a 0-d tensor, filled on the device (no copy from
        the host)."""
        return f"torch.full((), {code}, {self._like()})"

    def scalar(self, code: str) -> str:
        return self._number(code)

    def permute(self, a: str, perm: Sequence[int]) -> str:
        if list(perm) == [1, 0]:
            return f"{a}.T"
        return f"{a}.permute({', '.join(map(str, perm))})"

    def sum(self, a: str, axes: Sequence[int], ndim: int) -> str:
        if len(axes) == ndim:
            return f"{a}.sum()"
        ax = str(axes[0]) if len(axes) == 1 else f"({', '.join(map(str, axes))})"
        return f"{a}.sum(dim={ax})"

    def max(self, a: str, axes: Sequence[int], ndim: int) -> str:
        """The largest element over ``axes`` (``.amax(dim=...)``)."""
        ax = str(axes[0]) if len(axes) == 1 else f"({', '.join(map(str, axes))})"
        return f"{a}.amax()" if len(axes) == ndim else f"{a}.amax(dim={ax})"

    def einsum(self, spec: str, ops: Sequence[str]) -> str:
        return f"torch.einsum('{spec}', {', '.join(ops)})"

    def tensordot(self, a: str, b: str, ax: Sequence[int], bx: Sequence[int]) -> str:
        return f"torch.tensordot({a}, {b}, dims=({list(ax)}, {list(bx)}))"

    def eye(self, n: str) -> str:
        return f"torch.eye({n}, {self._like()})"

    def delta(self, n: str, k: int) -> str:
        return f"_delta({n}, {k}, {self._like()})"

    def broadcast(self, code: str, shape: str) -> str:
        return f"torch.broadcast_to(torch.as_tensor({code}, {self._like()}), {shape}).clone()"

    def copy(self, code: str) -> str:
        return f"{code}.clone()"

    def full(self, shape: str, value: str) -> str:
        return f"torch.full({shape}, {value}, {self._like()})"

    def scalar_result(self, code: str, number: bool) -> str:
        return self._number(code) if number else code

    def addmm(self, acc: str, a: str, b: str, negated: bool, in_place: bool) -> str:
        """``acc + a @ b`` (``acc - a @ b`` when ``negated``) in one BLAS call, the
        product written into the sum: ``acc.addmm_(a, b)`` updating ``acc`` (which the code
        owns) with ``in_place``, else ``torch.addmm(acc, a, b)`` (``acc`` broadcasts, a
        bias ``b[h]`` to ``(n, h)``). The operands must share one dtype, as the inputs of
        a compiled function do (:mod:`.calling` converts them)."""
        alpha = ", alpha=-1" if negated else ""
        return f"{acc}.addmm_({a}, {b}{alpha})" if in_place else f"torch.addmm({acc}, {a}, {b}{alpha})"

    prelude = '''
def _delta(n, k, dtype, device=None):
    out = torch.zeros((n,) * k, dtype=dtype, device=device)
    i = torch.arange(n, device=device)
    out[(i,) * k] = 1.0
    return out
'''


class BackendEntry(NamedTuple):
    """A backend's row: its class, the module it needs, the extra that installs it, and
    the library's name as a person reads it (in the error when it is missing)."""

    cls: type[EmitBackend]
    module: str | None
    extra: str | None
    library: str


#: backend name -> its entry (the one place a backend is listed)
BACKENDS: dict[str, BackendEntry] = {
    "numpy": BackendEntry(NumpyBackend, None, None, "NumPy"),
    "torch": BackendEntry(TorchBackend, "torch", "torch", "PyTorch"),
    "jax": BackendEntry(JaxBackend, "jax", "jax", "JAX"),
    "numba": BackendEntry(NumbaBackend, "numba", "numba", "numba"),
}


def get_backend(name: str) -> EmitBackend:
    if name not in BACKENDS:
        raise RicciError(f"unknown backend {name!r}: choose " +
                         ", ".join(repr(b) for b in list(BACKENDS)[:-1]) + f" or {list(BACKENDS)[-1]!r}")
    entry = BACKENDS[name]
    if entry.module is not None and not _installed(entry.module):
        raise RicciError(f"the {name} backend needs {entry.library}: "
                         f"pip install 'ricci[{entry.extra}]'")
    return entry.cls()


def _installed(module: str) -> bool:
    """Whether ``module`` can be imported, found without importing it (writing JAX code
    does not pay the seconds of importing JAX; running it imports it)."""
    if module in sys.modules:
        return sys.modules[module] is not None
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False
