"""Calling generated code: the input contract every compiled function keeps.

A :class:`Compiled` function (what ``Derivation.compile`` returns, and what ``ricci.torch``
and ``ricci.jax`` run) checks its inputs before any arithmetic, so that bad input is a
:class:`~ricci.errors.RicciError` naming the input, never an exception from deep inside
NumPy, PyTorch or JAX:

* **arguments**: every input once, by keyword or positionally in the order of
  ``inputs``; ``sizes={index: n}`` for indices no input carries (a mapping from index
  names of the program to ints >= 0; a size that contradicts an array is an error);
* **values**: arrays of the backend, NumPy arrays and scalars, Python numbers, nested
  lists of numbers (rectangular), and arrays of the other backends (a torch tensor that
  requires grad is refused by the NumPy and JAX backends: its gradient would be lost).
  Strings, dicts, ``None``, ragged lists, object and complex arrays are refused;
* **dtype**: all inputs are converted to one floating dtype, the widest floating dtype
  among the array inputs (so float32 stays float32, float32 with float64 gives float64);
  integers, booleans, Python numbers and lists take that dtype (float64 when no input is
  a floating array; JAX's default float without ``jax_enable_x64``). The results have it;
* **shapes**: the number of axes of each input, and the sizes of indices shared between
  inputs (see :mod:`ricci.codegen.binding`);
* **matrix functions**: the operand of a matrix function whose entry asks more than a
  square matrix (its ``domain``: ``inv``, ``det`` and ``logdet`` need an invertible one)
  must be finite, and one whose domain is a positive determinant (``logdet``: ``log det A``
  is real only there) must have one, checked before computing; a singular operand raises
  an error naming it when the computation fails or gives non-finite results, and an
  operand the program computes (``inv(Y)`` with ``Y = X X^T``) is checked after every call,
  since one singular to working precision can give finite, meaningless numbers. These
  checks read values (a torch operand on a GPU is copied to the host for them); they are
  skipped where there are none to read: JAX under ``jit`` (traced values) and torch
  tensors on the ``meta`` device (shapes only, as in the device tests).
"""

from __future__ import annotations

import difflib
import operator
import sys
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from ..errors import RicciError
from ..ir.expr import MatFn
from ..ir.program import Program
from ..ir.traversal import tensor_refs, walk
from ..primitives.functions import (
    DOMAINS,
    MATRIX_FUNCTIONS,
    POSITIVE_DETERMINANT,
    SQUARE,
)
from .backends import BACKENDS
from .binding import Binder
from .emit import Generated, compile_source, generate

__all__ = ["Compiled", "TORCH_COMPILE_BACKEND", "bind_arguments", "check_sizes", "convert"]

#: the ``backend=`` of ``torch.compile`` for functions compiled with ``jit=True``
TORCH_COMPILE_BACKEND: Any = "inductor"


def bind_arguments(label: str, names: Sequence[str], args: Sequence[Any],
                   kwargs: Mapping[str, Any], complete: bool = True) -> dict[str, Any]:
    """``args`` (in the order of ``names``) and ``kwargs`` as one mapping name -> value;
    with ``complete``, every name must be given."""
    if len(args) > len(names):
        raise RicciError(f"{label} takes {len(names)} inputs ({', '.join(names)}), got {len(args)}")
    out = dict(zip(names, args))
    for k, v in kwargs.items():
        if k not in names:
            close = difflib.get_close_matches(k, list(names), n=1)
            raise RicciError(f"unknown input '{k}'", hint=(f"did you mean '{close[0]}'? " if close else "")
                             + "the inputs are: " + ", ".join(names))
        if k in out:
            raise RicciError(f"input '{k}' is given twice (positionally and by keyword)")
        out[k] = v
    missing = [n for n in names if n not in out]
    if missing and complete:
        raise RicciError(f"missing input '{missing[0]}'" + (
            f" (and {', '.join(repr(m) for m in missing[1:])})" if len(missing) > 1 else ""),
            hint="pass every input, in this order or by keyword: " + ", ".join(names))
    return out


def check_sizes(program: Program, sizes: Any) -> dict[str, int]:
    """``sizes`` as a dict of index name -> int >= 0, every name an index of ``program``."""
    if sizes is None:
        return {}
    if not isinstance(sizes, Mapping):
        raise RicciError(f"sizes must be a mapping from index names to sizes, such as "
                         f"{{'k': 3}}, not a {type(sizes).__name__}")
    known = {n for names in program.dim_names.values() for n in names}
    out: dict[str, int] = {}
    for k, v in sizes.items():
        if not isinstance(k, str):
            raise RicciError(f"sizes must be keyed by index names (str), got {k!r}")
        if k not in known:
            close = difflib.get_close_matches(k, sorted(known), n=1)
            raise RicciError(f"sizes names index '{k}', which the program does not use",
                             hint=f"did you mean '{close[0]}'?" if close else
                             ("the indices are: " + ", ".join(sorted(known)) if known else None))
        try:
            n = operator.index(v)
        except TypeError:
            n = None
        if n is None or isinstance(v, bool) or n < 0:
            raise RicciError(f"size of index '{k}' must be a non-negative int, got {v!r}")
        out[k] = n
    return out


# ---------------------------------------------------------------- converting values


def _is_torch(v: Any) -> bool:
    return type(v).__module__.startswith("torch") and hasattr(v, "requires_grad")


def _is_jax(v: Any) -> bool:
    mod = type(v).__module__
    return mod.startswith("jax") or mod.startswith("jaxlib")


def _is_tracer(v: Any) -> bool:
    """A value JAX is tracing (under ``jit``, ``grad``...): its numbers are unknown."""
    jax = sys.modules.get("jax")  # never imported here: a tracer implies jax is loaded
    return jax is not None and isinstance(v, jax.core.Tracer)


def _no_values(v: Any) -> bool:
    """A value whose numbers are unknown: a JAX tracer, or a torch tensor on the ``meta``
    device (shapes only); the checks that read values skip it."""
    return _is_tracer(v) or (_is_torch(v) and v.device.type == "meta")


def _numeric(name: str, v: Any, backend: str) -> np.ndarray:
    """``v`` as a NumPy array of real numbers, or a RicciError naming the input."""
    if _is_torch(v):
        if v.requires_grad:
            raise RicciError(f"input '{name}' is a torch tensor that requires grad; the {backend} "
                             f"code would drop its gradient",
                             hint=f"use the torch backend (compile('torch') or ricci.torch.function), "
                                  f"or pass {name}.detach()")
        v = v.detach().cpu().numpy()
    if v is None or isinstance(v, (str, bytes, Mapping, set, frozenset)):
        raise RicciError(f"input '{name}' must be an array of numbers, not a {type(v).__name__}")
    try:
        a = np.asarray(v)
    except (ValueError, TypeError) as e:
        raise RicciError(f"input '{name}' is not an array of numbers ({_first_line(e)})",
                         hint="nested lists must be rectangular, with numbers at the bottom") from None
    if a.dtype.kind == "c":
        raise RicciError(f"input '{name}' is complex ({a.dtype}); ricci computes with real numbers",
                         hint=f"pass {name}.real and {name}.imag as separate inputs")
    if a.dtype.kind not in "biuf":
        raise RicciError(f"input '{name}' must be an array of numbers, but its values are "
                         f"{_kind_name(a)}")
    return a


def _first_line(e: Exception) -> str:
    return str(e).splitlines()[0] if str(e) else type(e).__name__


def _kind_name(a: np.ndarray) -> str:
    return {"O": "Python objects", "U": "strings", "S": "bytes", "M": "dates", "m": "time spans",
            "V": "records"}.get(a.dtype.kind, str(a.dtype))


def _is_torch_dtype(dt: Any) -> bool:
    return type(dt).__module__.startswith("torch")


def _strong_float(v: Any) -> Any | None:
    """The floating dtype of an array input (None for Python numbers, lists and integers)."""
    dt = getattr(v, "dtype", None)
    if dt is None or isinstance(v, (list, tuple)):
        return None
    if _is_torch(v):
        return dt if v.is_floating_point() else None
    try:
        return dt if np.issubdtype(np.dtype(dt), np.floating) else None
    except TypeError:
        return None


def convert(backend: str, values: Mapping[str, Any]) -> dict[str, Any]:
    """Every value as an array of ``backend``, all of one floating dtype (see the module
    docstring for the rules)."""
    strong = [dt for dt in (_strong_float(v) for v in values.values()) if dt is not None]
    if backend != "torch":  # NumPy dtypes (a torch tensor's float32 is np.float32)
        strong = [np.dtype(str(dt).rsplit(".", 1)[-1].replace("bfloat16", "float32"))
                  if _is_torch_dtype(dt) else dt for dt in strong]
    if backend == "torch":
        import torch

        tensors = {}
        common = None
        for dt in strong:
            tdt = dt if isinstance(dt, torch.dtype) else torch.from_numpy(np.zeros(0, dtype=dt)).dtype
            common = tdt if common is None else torch.promote_types(common, tdt)
        common = common or torch.float64
        device = next((v.device for v in values.values() if _is_torch(v)), None)
        for k, v in values.items():
            if _is_torch(v):
                if v.is_complex():
                    raise RicciError(f"input '{k}' is complex ({v.dtype}); ricci computes with real numbers")
                if v.dtype == torch.bool or not v.is_floating_point() or v.dtype != common:
                    v = v.to(common)
                tensors[k] = v
            else:
                a = _numeric(k, v, backend)
                tensors[k] = torch.as_tensor(a, device=device).to(common)
        return tensors
    if backend == "jax":
        import jax
        import jax.numpy as jnp

        # JAX's own rule: float64 only with jax_enable_x64, else its default float
        jdt = jax.dtypes.canonicalize_dtype(np.result_type(*strong) if strong else np.float64)
        out = {}
        for k, v in values.items():
            if _is_tracer(v) or (_is_jax(v) and hasattr(v, "dtype")):
                if jnp.issubdtype(v.dtype, jnp.complexfloating):
                    raise RicciError(f"input '{k}' is complex ({v.dtype}); ricci computes with real numbers")
                out[k] = v if v.dtype == jdt else v.astype(jdt)
            else:
                out[k] = jnp.asarray(_numeric(k, v, backend), dtype=jdt)
        return out
    arrays = {k: _numeric(k, v, backend) for k, v in values.items()}
    common_np = np.result_type(*strong) if strong else np.dtype(np.float64)
    allowed = BACKENDS[backend].cls.float_dtypes if backend in BACKENDS else None
    if allowed is not None and common_np.name not in allowed:  # say so, never convert silently
        which = next(k for k, a in arrays.items() if a.dtype == common_np or a.dtype.itemsize > 8)
        raise RicciError(f"input '{which}' is {arrays[which].dtype}: the {backend} backend computes in "
                         f"{' or '.join(allowed)}", hint="convert the inputs (x.astype(np.float32)), or use "
                                                         "the numpy backend, which keeps their dtype")
    return {k: a if a.dtype == common_np else a.astype(common_np) for k, a in arrays.items()}


# ---------------------------------------------------------------- matrix functions


def _operands(program: Program) -> dict[str, str]:
    """Operand name -> the matrix function applied to it that asks most of it (by its
    ``domain``), for the operands of functions that ask more than a square matrix."""
    out: dict[str, str] = {}
    for st in program.statements:
        for n in walk(st.rhs):
            if isinstance(n, MatFn) and _asks(n.fn) > _asks(out.get(n.arg.name)):
                out[n.arg.name] = n.fn
    return out


def _asks(fn: str | None) -> int:
    """How much ``fn`` asks of its operand: the rank of its domain (0: a square matrix)."""
    return DOMAINS.index(MATRIX_FUNCTIONS[fn].domain) if fn is not None else 0


def _invertible_hint() -> str:
    """``inv, det and logdet (and their derivatives) need an invertible matrix``."""
    names = [n for n, f in MATRIX_FUNCTIONS.items() if f.domain != SQUARE]
    listed = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
    return f"{listed} (and their derivatives) need an invertible matrix"


def _to_numpy(v: Any) -> np.ndarray:
    if _is_torch(v):
        return v.detach().cpu().double().numpy()
    return np.asarray(v, dtype=np.float64)


def _all_finite(v: Any) -> bool:
    if _no_values(v):
        return True
    return bool(np.isfinite(_to_numpy(v)).all())


def _matrix_trouble(fn: str, a: np.ndarray) -> str | None:
    """Why the square matrix ``a`` cannot be the operand of ``fn`` (None when it can)."""
    if not np.isfinite(a).all():
        return "has non-finite values"
    if a.size == 0:
        return None
    sign, logabs = np.linalg.slogdet(a)
    if sign == 0 or not np.isfinite(logabs):
        return "is singular"
    if np.linalg.cond(a) > 1 / np.finfo(np.float64).eps:
        return "is singular to working precision"
    if MATRIX_FUNCTIONS[fn].domain == POSITIVE_DETERMINANT and sign < 0:
        return "has a negative determinant, so its log-determinant is not real (it is not " \
               "positive definite)"
    return None


class Compiled:
    """A generated function with its input contract (see the module docstring).

    ``f(*args, **kwargs)`` takes every input by keyword or in the order of ``f.inputs``,
    and ``sizes=`` for indices no input carries; ``f.call(arrays, sizes, dim_sizes)`` is
    the same with a mapping of inputs (``dim_sizes`` by dim label, for ``ricci.check``);
    ``f.source`` is the generated code. With ``jit`` (torch only; ``f.jit``) the generated
    function runs through ``torch.compile`` and the checks stay eager (see
    :func:`_torch_compile`).
    """

    def __init__(self, gen: Generated, backend: str, program: Program, spans: Program, *,
                 label: str, filename: str, sizes: Mapping[str, int] | None = None,
                 forward: Program | None = None, jit: bool = False) -> None:
        self.source = gen.source
        self.__doc__ = gen.source
        self.inputs = gen.inputs
        self.backend = backend
        self.label = label
        #: the generated function is wrapped with ``torch.compile`` (the checks stay eager)
        self.jit = jit
        if jit and backend != "torch":
            raise RicciError(f"jit=True is for the torch backend (torch.compile), not {backend}",
                             hint="for JAX, wrap the compiled function in jax.jit yourself: "
                                  "jax.jit(d.compile('jax'))" if backend == "jax" else None)
        self._fn: Callable[..., dict] = compile_source(gen, filename)
        if jit:
            self._fn = _torch_compile(self._fn, label)
        self._size_keys = gen.size_keys
        self._binder = Binder(program, gen.inputs, spans)
        self._spans = spans
        self._program = program
        # the matrix functions of the program computed and of the one it differentiates
        # (the gradient of logdet(A) reads inv(A) only, but A must still suit logdet)
        self._operands = {**_operands(program), **_operands(forward or program)}
        self._fixed_sizes = check_sizes(spans, sizes)
        self._inner: tuple[Any, Callable[..., dict]] | None = None  # code of computed operands

    def __call__(self, *args: Any, **kwargs: Any) -> dict:
        sizes = kwargs.pop("sizes", None) if "sizes" not in self.inputs else None
        return self.call(bind_arguments(self.label, self.inputs, args, kwargs, complete=False), sizes)

    def call(self, arrays: Mapping[str, Any], sizes: Any = None,
             dim_sizes: Mapping[str, int] | None = None) -> dict:
        given = {**self._fixed_sizes, **check_sizes(self._spans, sizes)}
        self._binder.check_names(arrays)
        arrs = convert(self.backend, arrays)
        dims = self._binder.bind(arrs, given, dim_sizes)
        for name, fn in self._operands.items():
            if name not in arrs or _no_values(arrs[name]):
                continue
            if not _all_finite(arrs[name]):
                raise self._binder.error(f"input '{name}' has non-finite values (inf or NaN); "
                                         f"{fn}({name}) needs a finite matrix", name)
            if MATRIX_FUNCTIONS[fn].domain == POSITIVE_DETERMINANT:  # one LU to know the sign
                why = _matrix_trouble(fn, _to_numpy(arrs[name]))
                if why is not None:
                    raise self._binder.error(f"{fn}({name}): the input '{name}' {why}", name,
                                             hint=f"{fn} needs a matrix with a positive "
                                                  "determinant, such as a positive definite one")
        args = [arrs[n] for n in self.inputs]  # positional: the source may rename keywords
        extra = {"sizes": {key: dims[d] for d, key in self._size_keys.items()}} if self._size_keys else {}
        try:
            out = self._fn(*args, **extra)
        except ZeroDivisionError:  # Python numbers (sizes) raise where arrays give inf or NaN
            empty = [self._binder.dim_label(d) for d, n in dims.items() if n == 0]
            raise RicciError(f"the {self.backend} code divides by a size that is 0" +
                             (f" ({', '.join(empty)} has size 0)" if empty else ""),
                             hint="a mean over an empty index has no value: give every index the "
                                  "program divides by at least one element") from None
        except OverflowError as e:  # Python numbers (constants, sizes) raise where arrays give inf
            raise RicciError(f"a number the {self.backend} code computes is out of the range of "
                             f"float64 ({_first_line(e)})",
                             hint="a constant or a power of a size is too large: rescale the "
                                  "program") from None
        except (np.linalg.LinAlgError, RuntimeError) as e:
            if not self._operands:
                raise
            if not _is_linalg_error(e):
                raise
            self._diagnose(arrs, dims, e)
            raise  # pragma: no cover - _diagnose raises
        if self._operands and not all(_all_finite(v) for v in out.values()) \
                and all(_all_finite(v) for v in arrs.values()):
            self._diagnose(arrs, dims, None)
        elif any(n not in arrs for n in self._operands) and not any(_no_values(v) for v in arrs.values()):
            # a computed operand (inv(Y) with Y = X X^T) can be singular to working precision
            # and still give finite numbers, which would be silently wrong: it is checked too
            self._diagnose(arrs, dims, None, singular_only=True)
        return out

    def _diagnose(self, arrs: Mapping[str, Any], dims: Mapping[str, int], err: Exception | None,
                  singular_only: bool = False) -> None:
        """Raise a RicciError naming a matrix operand that is singular, when there is one;
        with no culprit and no error, return (the results stand as computed).
        ``singular_only``: after a call that succeeded, only a singular operand is one."""
        values: dict[str, Any] = dict(arrs)
        inner = [n for n in self._operands if n not in values]
        if inner:  # operands the program computes: computed by NumPy code of their own
            try:
                if self._inner is None:  # generated once, on the first call that needs it
                    need = Program([s for s in self._program.statements
                                    if s.name in _closure(self._program, inner)],
                                   self._program.dims, dim_names=self._program.dim_names)
                    gen = generate(need, {n: n for n in inner}, need.inputs, function="operands")
                    self._inner = (gen, compile_source(gen, "<ricci diagnosis>"))
                gen, code = self._inner
                extra = {"sizes": {key: dims[d] for d, key in gen.size_keys.items()}} if gen.size_keys else {}
                with np.errstate(all="ignore"):
                    values.update(code(*[_to_numpy(arrs[k]) for k in gen.inputs], **extra))
            except Exception:  # noqa: BLE001 - a diagnosis must not hide the original error
                pass
        for name, fn in self._operands.items():
            if name not in values:
                continue
            why = _matrix_trouble(fn, _to_numpy(values[name]))
            if why is not None and singular_only and not why.startswith("is singular"):
                continue  # the sign of a computed determinant is log |det|'s business
            if why is not None:
                what = "input" if name in arrs else "matrix"
                raise self._binder.error(f"{fn}({name}): the {what} '{name}' {why}", name,
                                         hint=_invertible_hint())
        if err is not None:
            raise RicciError(f"the {self.backend} code failed: {_first_line(err)}")


def _torch_compile(fn: Callable[..., dict], label: str) -> Callable[..., dict]:
    """``fn`` compiled by ``torch.compile`` (:data:`TORCH_COMPILE_BACKEND`, as one graph);
    a failure to compile is a RicciError naming it, at the first call (never a silent
    fallback to running ``fn`` eagerly)."""
    import torch
    from torch._dynamo.exc import TorchDynamoException

    try:
        compiled = torch.compile(fn, backend=TORCH_COMPILE_BACKEND, fullgraph=True)
    except Exception as e:  # noqa: BLE001 - torch.compile refused (e.g. an unsupported Python)
        raise RicciError(f"torch.compile cannot compile {label} here: {_first_line(e)}",
                         hint="compile without jit=True to run the code eagerly") from None

    def run(*args: Any, **kwargs: Any) -> dict:
        try:
            return compiled(*args, **kwargs)
        except TorchDynamoException as e:  # tracing or the compiler failed (not the arithmetic)
            why = " ".join(str(e).split("\n\n")[0].split())  # its first paragraph, on one line
            raise RicciError(f"torch.compile failed to compile {label}: {why[:500] or type(e).__name__}",
                             hint="compile without jit=True to run the code eagerly") from None

    return run


def _is_linalg_error(e: Exception) -> bool:
    if isinstance(e, np.linalg.LinAlgError):
        return True
    return type(e).__name__ in ("LinAlgError", "_LinAlgError") or "singular" in str(e).lower()


def _closure(program: Program, names: Sequence[str]) -> set[str]:
    need = set(names)
    for s in reversed(program.statements):
        if s.name in need:
            need.update(r.name for r in tensor_refs(s.rhs))
    return need
