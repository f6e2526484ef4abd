"""A reference interpreter: evaluates a program directly from the IR, with NumPy or PyTorch.

It is deliberately simple (each node evaluated on its own, products and sums through one
``einsum``) and shares no code with :mod:`ricci.codegen.lower` / :mod:`ricci.codegen`, so it is an
independent oracle: :func:`ricci.check` runs PyTorch autograd and finite differences on
this interpreter and compares them with the generated gradient code.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any, Mapping

import opt_einsum as oe

from ..bounds import tick
from ..codegen.binding import Binder
from ..ir.expr import (
    Add,
    Call,
    Const,
    Delta,
    Expr,
    Index,
    MatFn,
    Max,
    Mul,
    Pow,
    Size,
    Sum,
    Tensor,
)
from ..ir.program import Program
from ..primitives.functions import FUNCTIONS, MATRIX_FUNCTIONS, runtime

__all__ = ["evaluate"]

_fn_cache: dict[tuple[str, str], Any] = {}


def _namespace(lib: str) -> dict[str, Any]:
    """The names the table's ``lib`` templates use (NumPy's among them, as always)."""
    import numpy as np

    return {"np": np, **runtime(lib)}


def _function(lib: str, name: str):
    key = (lib, name)
    if key not in _fn_cache:
        _fn_cache[key] = eval("lambda x: " + FUNCTIONS[name].code[lib].format("x"), _namespace(lib))
    return _fn_cache[key]


def _matrix_function(lib: str, name: str):
    key = (lib, "matrix:" + name)
    if key not in _fn_cache:
        _fn_cache[key] = eval("lambda x: " + MATRIX_FUNCTIONS[name].code[lib].format("x"), _namespace(lib))
    return _fn_cache[key]


class _Lib:
    def __init__(self, name: str) -> None:
        self.name = name
        self.m: ModuleType
        if name == "torch":
            import torch

            self.m = torch
        else:
            import numpy as np

            self.m = np

    def scalar(self, v: float):
        if self.name == "torch":
            return self.m.tensor(v, dtype=self.m.float64)
        return self.m.float64(v)

    def delta(self, n: int, k: int):
        if self.name == "torch":
            out = self.m.zeros((n,) * k, dtype=self.m.float64)
        else:
            out = self.m.zeros((n,) * k)
        i = self.m.arange(n)
        out[(i,) * k] = 1.0
        return out

    def einsum(self, spec: str, *ops):
        return self.m.einsum(spec, *ops)

    def expand(self, x, axes: tuple[Index, ...], target: tuple[Index, ...]):
        """``x`` (with ``axes``) permuted and reshaped to broadcast against ``target``."""
        if not axes:
            return x
        present = [a for a in target if a in axes]
        perm = [axes.index(a) for a in present]
        if perm != list(range(len(axes))):
            x = x.permute(*perm) if self.name == "torch" else x.transpose(perm)
        shape = [x.shape[present.index(a)] if a in axes else 1 for a in target]
        return x.reshape(shape)


def evaluate(program: Program, inputs: Mapping[str, Any], *, lib: str = "numpy",
             sizes: Mapping[str, int] | None = None,
             dim_sizes: Mapping[str, int] | None = None) -> dict[str, Any]:
    """Values of every statement of ``program`` (axes in left-hand-side order)."""
    L = _Lib(lib)
    binder = program.__dict__.get("_binder")  # cached on the instance, not by equality
    if binder is None:
        binder = program.__dict__["_binder"] = Binder(program, program.inputs)
    dims = binder.bind(inputs, sizes, dim_sizes)
    env: dict[str, Any] = dict(inputs)

    def ev(e: Expr) -> tuple[Any, tuple[Index, ...]]:
        if isinstance(e, Const):
            return L.scalar(float(e.value)), ()
        if isinstance(e, Size):
            return L.scalar(float(dims[e.index.dim])), ()
        if isinstance(e, Tensor):
            x = env[e.name]
            uniq = tuple(dict.fromkeys(e.indices))
            if len(uniq) != len(e.indices):
                sym = {a: oe.get_symbol(k) for k, a in enumerate(uniq)}
                x = L.einsum("".join(sym[a] for a in e.indices) + "->" + "".join(sym[a] for a in uniq), x)
            return x, uniq
        if isinstance(e, Delta):
            uniq = tuple(dict.fromkeys(e.indices))
            if len(uniq) == 1:
                return L.scalar(1.0), ()
            return L.delta(dims[uniq[0].dim], len(uniq)), uniq
        if isinstance(e, Call):
            x, ax = ev(e.args[0])
            return _function(lib, e.fn)(x), ax
        if isinstance(e, Max):
            x, ax = ev(e.body)
            drop = tuple(k for k, a in enumerate(ax) if a in e.indices)
            if lib == "torch":
                return x.amax(dim=drop), tuple(a for a in ax if a not in e.indices)
            return x.max(axis=drop), tuple(a for a in ax if a not in e.indices)
        if isinstance(e, MatFn):
            v = _matrix_function(lib, e.fn)(env[e.arg.name])
            uniq = tuple(dict.fromkeys(e.out))
            if len(uniq) < len(e.out):  # inv(A)[i,i]: the diagonal
                v = L.einsum("aa->a", v)
            return v, uniq
        if isinstance(e, Pow):
            (b, bx), (p, px) = ev(e.base), ev(e.exp)
            t = _union(bx, px)
            return L.expand(b, bx, t) ** L.expand(p, px, t), t
        if isinstance(e, Mul):
            vals = [ev(f) for f in e.factors]
            t = _union(*(ax for _, ax in vals))
            out = None
            for v, ax in vals:
                v = L.expand(v, ax, t)
                out = v if out is None else out * v
            return out, t
        if isinstance(e, Add):
            vals = [ev(f) for f in e.terms]
            t = _union(*(ax for _, ax in vals))
            out = None
            for v, ax in vals:
                v = L.expand(v, ax, t)
                out = v if out is None else out + v
            assert out is not None  # a sum has terms
            full = tuple(dims[a.dim] for a in t)
            if tuple(out.shape) != full:
                out = out * (L.m.ones(full, dtype=L.m.float64) if lib == "torch" else L.m.ones(full))
            return out, t
        if isinstance(e, Sum):
            factors = e.body.factors if isinstance(e.body, Mul) else (e.body,)
            vals = [ev(f) for f in factors]
            allax = _union(*(ax for _, ax in vals))
            out_ax = tuple(a for a in allax if a not in e.indices)
            sym = {a: oe.get_symbol(k) for k, a in enumerate(allax)}
            spec = ",".join("".join(sym[a] for a in ax) for _, ax in vals) + "->" + \
                "".join(sym[a] for a in out_ax)
            ops = [v if ax else v for v, ax in vals]
            out = L.einsum(spec, *[o if hasattr(o, "shape") and o.shape == tuple(
                dims[a.dim] for a in ax) else _full(L, o, ax, dims) for o, (_, ax) in zip(ops, vals)])
            for k in e.indices:
                if k not in allax:
                    out = out * float(dims[k.dim])
            return out, out_ax
        raise AssertionError(type(e).__name__)  # pragma: no cover

    for s in program.statements:
        tick()  # a check evaluates the program hundreds of times: a caller's time limit applies
        v, ax = ev(s.rhs)
        target = s.indices
        v = L.expand(v, ax, target) if ax else v
        full = tuple(dims[a.dim] for a in target)
        if tuple(getattr(v, "shape", ())) != full:
            ones = L.m.ones(full, dtype=L.m.float64) if lib == "torch" else L.m.ones(full)
            v = v * ones
        env[s.name] = v
    return env


def _full(L: _Lib, v, ax, dims):
    shape = tuple(dims[a.dim] for a in ax)
    ones = L.m.ones(shape, dtype=L.m.float64) if L.name == "torch" else L.m.ones(shape)
    return v * ones


def _union(*axes: tuple[Index, ...]) -> tuple[Index, ...]:
    out: list[Index] = []
    for ax in axes:
        for a in ax:
            if a not in out:
                out.append(a)
    return tuple(out)
