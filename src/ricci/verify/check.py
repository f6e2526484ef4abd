"""Numerical proof of a derivation: compiled gradients vs PyTorch autograd and finite differences.

:func:`check` builds random float64 inputs, runs the gradient code ricci generated, and
compares it with

* PyTorch autograd through the reference interpreter (:mod:`ricci.verify.evaluate`), when torch
  is installed, and
* central finite differences of the forward program evaluated with NumPy.

For a non-scalar output the loss is ``sum(Y * dY)`` for a random upstream ``dY``. The
report gives the largest absolute error against each reference; a mismatch raises
:class:`RicciError` (with the report in the message).
"""

from __future__ import annotations

import math
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from .. import validate
from ..bounds import current, guarded
from ..calculus.prepare import as_program
from ..codegen.backends import BACKENDS
from ..codegen.binding import all_dims
from ..derivation import Derivation, grad
from ..errors import RicciError
from ..ir.expr import Call, MatFn
from ..ir.program import ONE_HOT, SPD, Program
from ..ir.traversal import index_occurrences, walk
from ..primitives.functions import FUNCTIONS
from .evaluate import evaluate

__all__ = ["CheckReport", "check", "declared_array", "declared_matrix"]

#: default sizes given to dims the caller does not size: distinct, so that a transposed
#: axis cannot go unnoticed
DEFAULT_SIZES = (3, 4, 2, 5, 6, 7)


@dataclass
class CheckReport:
    """The outcome of :func:`check`: per input, the largest absolute errors."""

    of: str
    wrt: tuple[str, ...]
    sizes: dict[str, int]
    #: per wrt input: largest |ricci - torch autograd| (None without torch)
    torch_error: dict[str, float | None] = field(default_factory=dict)
    #: per wrt input: largest |ricci - finite differences|
    fd_error: dict[str, float] = field(default_factory=dict)
    #: per wrt input: largest |gradient| (the scale the errors are judged against)
    scale: dict[str, float] = field(default_factory=dict)
    backend: str = "numpy"
    ok: bool = True
    failures: list[str] = field(default_factory=list)
    #: what was checked: "grad", "jacobian", "hessian", "diagonal", "hvp" (the rows are then the
    #: result's keys: "x", or "x,y" for a mixed Hessian)
    kind: str = "grad"

    def __str__(self) -> str:
        sizes = ", ".join(f"{k}={v}" for k, v in self.sizes.items())
        what, col = {"hessian": (f"the Hessian of {self.of}", "max |H|"),
                     "diagonal": (f"the Hessian diagonal of {self.of}", "max |diagH|"),
                     "hvp": (f"the Hessian-vector product of {self.of}", "max |Hv|")}.get(
            self.kind, (f"d{self.of}", "max |grad|"))
        lines = [f"check of {what} w.r.t. {', '.join(self.wrt)} ({self.backend} code; sizes {sizes})",
                 f"  {'input':<10} {col:>12} {'vs torch':>12} {'vs finite diff':>15}"]
        for w in self.wrt:
            t = self.torch_error.get(w)
            ts = "n/a" if t is None else f"{t:.2e}"
            lines.append(f"  {w:<10} {self.scale[w]:>12.3e} {ts:>12} {self.fd_error[w]:>15.2e}")
        lines.append("  OK" if self.ok else "  MISMATCH: " + "; ".join(self.failures))
        return "\n".join(lines)


def _dim_sizes(program: Program, also: Program,
               sizes: Mapping[str, int] | None) -> tuple[dict[str, int], dict[str, int]]:
    """A size for every dim of both programs: from ``sizes`` (by index name) or a distinct default."""
    if sizes is not None and not isinstance(sizes, Mapping):
        raise RicciError(f"sizes must be a mapping from index names to sizes, such as {{'i': 3}}, "
                         f"not a {type(sizes).__name__}")
    sizes = dict(sizes or {})
    out: dict[str, int] = {}
    shown: dict[str, int] = {}
    k = 0
    taken = set(sizes.values())
    for key, v in sizes.items():
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise RicciError(f"size of index '{key}' must be a positive int, got {v!r}")
    for d in dict.fromkeys(all_dims(program) + all_dims(also)):
        names = program.names_for_dim(d)
        given = [sizes[n] for n in names if n in sizes]
        if len(set(given)) > 1:
            raise RicciError(f"sizes disagree: {', '.join(n for n in names if n in sizes)} denote "
                             f"the same dimension but are given {sorted(set(given))}")
        if given:
            out[d] = given[0]
        else:
            fresh = [v for v in DEFAULT_SIZES if v not in taken]
            out[d] = fresh[k % len(fresh)] if fresh else DEFAULT_SIZES[k % len(DEFAULT_SIZES)]
            k += 1
        for n in names:
            shown.setdefault(n, out[d])
    unknown = [n for n in sizes if not any(n in program.names_for_dim(d) for d in out)]
    if unknown:
        raise RicciError(f"sizes names index '{unknown[0]}', which the program does not use")
    return out, shown


def _well_conditioned(rng: np.random.Generator, n: int) -> np.ndarray:
    """A random square matrix that suits inv, det and logdet: not symmetric (so that a
    transposed inverse cannot pass unnoticed), strictly diagonally dominant with a
    positive diagonal, so every eigenvalue has a positive real part and det > 0."""
    a = rng.standard_normal((n, n))
    np.fill_diagonal(a, 0.0)
    np.fill_diagonal(a, np.abs(a).sum(axis=1) + rng.uniform(0.5, 1.5, n))
    return a


def declared_matrix(rng: np.random.Generator, n: int, fact: str, positive: bool = False) -> np.ndarray:
    """A random matrix with the fact a program declares about it: symmetric positive
    definite (``A A^T + n I``: well conditioned, so it suits inv, det and logdet), or
    symmetric (``(A + A^T) / 2``); with ``positive``, of positive entries too."""
    a = rng.uniform(0.5, 1.5, size=(n, n)) if positive else rng.standard_normal((n, n))
    if fact == SPD:
        return a @ a.T + n * np.eye(n)
    return (a + a.T) / 2


def declared_array(rng: np.random.Generator, shape: tuple[int, ...], fact: str,
                   positive: bool = False) -> np.ndarray:
    """A random array with the fact a program declares about it: one-hot along the last
    axis (each row a random unit vector of 0s and one 1), or a symmetric (positive definite)
    matrix (:func:`declared_matrix`)."""
    if fact == ONE_HOT:
        hot = rng.integers(0, shape[-1], size=shape[:-1])
        return (np.arange(shape[-1]) == hot[..., None]).astype(float)
    return declared_matrix(rng, shape[0], fact, positive)


def _check_budget(program: Program, forward: Program, dim_size: Mapping[str, int]) -> None:
    """Refuse sizes whose arrays would not fit: every tensor, and every statement's index
    space (the reference interpreter contracts a product in one einsum over all its
    indices), at most ``check_elements`` elements."""
    bound = current().check_elements
    for p in (program, forward):
        for name in list(p.inputs) + list(p.defined):
            n = math.prod(dim_size[x] for x in p.dims[name])
            if n > bound:
                raise RicciError(f"'{name}' would have {n} elements at these sizes, more than the "
                                 f"limit of {bound} for ricci.check",
                                 hint="check with smaller sizes (the check is as good at small sizes), "
                                      "or raise the limit: with ricci.limits(check_elements=...)")
        for st in p.statements:
            dims = {i.dim for i in index_occurrences(st.rhs)} | {i.dim for i in st.indices}
            n = math.prod(dim_size[x] for x in dims)
            if n > bound:
                raise RicciError(f"evaluating '{st.name}' at these sizes would take {n} elements, "
                                 f"more than the limit of {bound} for ricci.check",
                                 hint="check with smaller sizes, or raise the limit: "
                                      "with ricci.limits(check_elements=...)")


def max_error(got: np.ndarray, want: np.ndarray) -> float:
    """Largest |got - want|; equal infinities agree, and a NaN on one side only (or a
    NaN against a finite reference) is an infinite error, never a silent pass."""
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if not got.size:
        return 0.0
    same = (got == want) | (np.isnan(got) & np.isnan(want))
    diff = np.where(same, 0.0, np.abs(got - want))
    return float(np.max(np.where(np.isnan(diff), np.inf, diff)))


def _domains_hint(program: Program) -> str | None:
    """Where the program's functions are real, from their table entries (``log: x > 0``)."""
    used = dict.fromkeys(n.fn for st in program.statements for n in walk(st.rhs) if isinstance(n, Call))
    parts = [f"{fn}: {FUNCTIONS[fn].domain}" for fn in used if FUNCTIONS[fn].domain]
    return "the arguments must be in the functions' domains (" + ", ".join(parts) + ")" if parts else None


def _torch_tensor(a: np.ndarray):
    import torch

    return torch.tensor(a, dtype=torch.float64)


@contextmanager
def _float64(backend: str) -> Iterator[None]:
    """JAX computes in float32 unless 64-bit types are enabled: enable them while the
    check runs ricci's jax code (and leave the setting as it was)."""
    if backend != "jax":
        yield
        return
    import jax

    ctx: Any = getattr(jax, "enable_x64", None)
    if ctx is None:  # older jax
        import jax.experimental

        ctx = getattr(jax.experimental, "enable_x64")  # noqa: B009 - not in newer jax's stubs
    with ctx(True):
        yield


def _torch_available() -> bool:
    try:
        import torch  # noqa: F401
    except ImportError:  # pragma: no cover - depends on the environment
        return False
    return True


@guarded("checking")
def check(program: Program | str, wrt: str | Sequence[str], sizes: Mapping[str, int] | None = None,
          of: str | None = None, *, seed: int = 0, backend: str = "numpy",
          derivation: Derivation | None = None, atol: float = 1e-8, fd_tol: float = 1e-5,
          raise_on_mismatch: bool = True) -> CheckReport:
    """Compare ricci's compiled gradients with torch autograd and finite differences.

    ``sizes`` maps index names to sizes; indices without one get small distinct sizes.
    Pass ``derivation=ricci.jacobian(...)`` to check a Jacobian the same way (against
    ``torch.autograd.functional.jacobian`` and finite differences).
    Errors are judged relative to ``max(1, max |gradient|)``: ``atol`` against autograd
    (both are exact up to rounding), ``fd_tol`` against finite differences.
    """
    prog = as_program(program)
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise RicciError(f"seed must be an int >= 0, got {seed!r}")
    validate.choice(backend, list(BACKENDS), "backend")
    atol, fd_tol = validate.positive(atol, "atol"), validate.positive(fd_tol, "fd_tol")
    validate.flag(raise_on_mismatch, "raise_on_mismatch")
    if derivation is not None and not isinstance(derivation, Derivation):
        raise RicciError(f"derivation must be a Derivation (from ricci.grad, jacobian, hessian or "
                         f"hvp), not a {type(derivation).__name__}")
    d = derivation if derivation is not None else grad(prog, wrt, of)
    dp = d.program
    fwd = prog.upto(d.of)
    dim_size, shown = _dim_sizes(dp, fwd, sizes)
    _check_budget(dp, fwd, dim_size)
    rng = np.random.default_rng(seed)
    operands = {n.arg.name for st in fwd.statements for n in walk(st.rhs) if isinstance(n, MatFn)}

    declared = {**dp.declared, **fwd.declared}

    def make(positive: bool) -> dict[str, np.ndarray]:
        arrays = {}
        for name in d.inputs:
            shape = tuple(dim_size[x] for x in dp.dims[name])
            if name in declared:  # values with the declared fact: the results assume it
                fact = SPD if name in operands else declared[name]
                arrays[name] = declared_array(rng, shape, fact, positive)
            elif name in operands:
                arrays[name] = _well_conditioned(rng, shape[0])
            elif positive and name != d.seed:
                arrays[name] = rng.uniform(0.5, 1.5, size=shape)
            else:
                arrays[name] = rng.standard_normal(shape)
        return arrays

    def forward(inputs: Mapping[str, Any], lib: str = "numpy") -> dict[str, Any]:
        return evaluate(fwd, inputs, lib=lib, dim_sizes=dim_size)

    def finite(env: Mapping[str, Any]) -> bool:
        return all(np.all(np.isfinite(v)) for v in env.values())

    with np.errstate(all="ignore"):
        arrays = make(False)
        fwd_inputs = {k: arrays[k] for k in fwd.inputs}
        ok = finite(forward(fwd_inputs))
        if not ok:
            arrays = make(True)
            fwd_inputs = {k: arrays[k] for k in fwd.inputs}
            ok = finite(forward(fwd_inputs))
    if not ok:
        raise RicciError("the program is not finite at the random inputs ricci tried "
                         "(normal, then uniform in [0.5, 1.5]); check it on inputs of your own",
                         hint=_domains_hint(fwd))
    with _float64(backend):
        got = d.compile(backend).call(arrays, None, dim_size)
    got = {k: np.asarray(v.detach().numpy() if hasattr(v, "detach") else v, dtype=np.float64)
           for k, v in got.items()}
    if d.kind in ("hessian", "hvp"):
        diag = any(info[4] for info in d.hessians.values())
        report = CheckReport(of=d.of, wrt=tuple(d.outputs), sizes=shown, backend=backend,
                             kind="diagonal" if diag else d.kind)
        _check_second(d, report, got, arrays, fwd_inputs, forward, rng, atol, fd_tol * 10, dim_size)
        if not report.ok and raise_on_mismatch:
            raise RicciError(f"{d.kind} check failed\n" + str(report) + "\n\nderivation:\n" + str(d))
        return report
    upstream = arrays.get(d.seed) if d.seed else None

    def loss(env: Mapping[str, Any]) -> Any:
        """The quantity differentiated: the output (Jacobian, scalar), or sum(Y * dY)."""
        y = env[d.of]
        if upstream is None:
            return y
        u = upstream if not hasattr(y, "detach") else _torch_tensor(upstream)
        return (y * u).sum()

    out_shape = tuple(np.shape(loss(forward(fwd_inputs))))
    report = CheckReport(of=d.of, wrt=d.wrt, sizes=shown, backend=backend)
    for w in d.wrt:
        want = out_shape + arrays[w].shape
        if got[w].shape != want:
            raise RicciError(f"the result for '{w}' has shape {got[w].shape}, not {want}")

    ref_torch: dict[str, np.ndarray] | None = None
    if _torch_available():
        import torch
        from torch.autograd.functional import jacobian as torch_jacobian

        tin = {k: torch.tensor(v, dtype=torch.float64) for k, v in fwd_inputs.items()}
        ref_torch = {}
        for w in d.wrt:
            if w not in tin:
                ref_torch[w] = np.zeros(out_shape + arrays[w].shape)
                continue

            def f(xw, w=w):
                return loss(forward({**tin, w: xw}, "torch"))

            ref_torch[w] = torch_jacobian(f, tin[w]).detach().numpy().reshape(out_shape + arrays[w].shape)

    # central finite differences on the NumPy interpreter
    for w in d.wrt:
        x = arrays[w]
        g = got[w]
        fd = np.zeros(g.shape)
        fd_flat = fd.reshape(out_shape + (-1,))
        flat = x.reshape(-1)
        n = flat.size
        picks: Sequence[int] | np.ndarray = (range(n) if n <= 400 else rng.choice(n, size=200, replace=False)) \
            if w in fwd_inputs else []
        mask = np.zeros(n, dtype=bool)
        for k in picks:
            h = 1e-6 * max(1.0, abs(flat[k]))
            xp, xm = flat.copy(), flat.copy()
            xp[k] += h
            xm[k] -= h
            lp = np.asarray(loss(forward({**fwd_inputs, w: xp.reshape(x.shape)})), dtype=float)
            lm = np.asarray(loss(forward({**fwd_inputs, w: xm.reshape(x.shape)})), dtype=float)
            fd_flat[..., k] = (lp - lm) / (2 * h)
            mask[k] = True
        if w not in fwd_inputs:
            mask[:] = True  # the output does not depend on w: the result must be 0
        finite_g = g[np.isfinite(g)]
        report.scale[w] = float(np.max(np.abs(finite_g))) if finite_g.size else 0.0
        scale = max(1.0, report.scale[w])
        g_flat = g.reshape(out_shape + (-1,))
        fd_err = max_error(g_flat[..., mask], fd_flat[..., mask]) if mask.any() else 0.0
        report.fd_error[w] = fd_err
        if fd_err > fd_tol * scale:
            report.ok = False
            report.failures.append(f"{w}: finite differences differ by {fd_err:.3e}")
        if ref_torch is not None:
            t_err = max_error(g, ref_torch[w])
            report.torch_error[w] = t_err
            if t_err > atol * scale:
                report.ok = False
                report.failures.append(f"{w}: torch autograd differs by {t_err:.3e}")
        else:
            report.torch_error[w] = None
    if not report.ok and raise_on_mismatch:
        raise RicciError("gradient check failed\n" + str(report) + "\n\nderivation:\n" + str(d))
    return report


def _check_second(d: Derivation, report: CheckReport, got: Mapping[str, np.ndarray],
                  arrays: Mapping[str, np.ndarray], fwd_inputs: Mapping[str, np.ndarray],
                  forward, rng: np.random.Generator, atol: float, fd_tol: float,
                  dim_size: Mapping[str, int]) -> None:
    """A Hessian (its diagonal, or a Hessian-vector product) against
    ``torch.autograd.functional.hessian`` and second-order central differences of the
    forward program: ``(f(++) - f(+-) - f(-+) + f(--)) / 4 h^2`` per entry (a sample of
    200 entries when there are more than 400). A Hessian-vector product is compared with
    the torch Hessian times ``v`` and with differences of ricci's own gradient along v."""
    ((key, _),) = d.outputs.items()
    info = next(iter(d.hessians.values()), None)
    x = d.wrt[0]
    y = d.wrt[1] if len(d.wrt) > 1 else x
    diagonal = bool(info and info[4])
    xs, ys = arrays[x].shape, arrays[y].shape
    nx, ny = int(np.prod(xs)), int(np.prod(ys))
    if d.kind == "hvp":
        want_shape = xs
    else:
        want_shape = xs if diagonal else xs + ys
    g = got[key]
    if g.shape != want_shape:
        raise RicciError(f"the result for '{key}' has shape {g.shape}, not {want_shape}")

    def f(env: Mapping[str, np.ndarray]) -> float:
        return float(np.asarray(forward(env)[d.of]))

    def shaped(full: np.ndarray) -> np.ndarray:
        """The full (nx, ny) Hessian as the result is shaped."""
        if d.kind == "hvp":
            assert d.seed is not None  # an HVP has its vector
            return (full @ arrays[d.seed].reshape(-1)).reshape(xs)
        if diagonal:
            return np.diagonal(full).reshape(xs)
        return full.reshape(xs + ys)

    ref_torch = None
    if _torch_available() and x in fwd_inputs and y in fwd_inputs:
        import torch
        from torch.autograd.functional import hessian as torch_hessian

        tin = {k: torch.tensor(v, dtype=torch.float64) for k, v in fwd_inputs.items()}
        if x == y:
            def fx(a):
                return forward({**tin, x: a}, "torch")[d.of]

            full = torch_hessian(fx, tin[x]).detach().numpy().reshape(nx, nx)
        else:
            def fxy(a, b):
                return forward({**tin, x: a, y: b}, "torch")[d.of]

            full = torch_hessian(fxy, (tin[x], tin[y]))[0][1].detach().numpy().reshape(nx, ny)
        ref_torch = shaped(full)
    elif _torch_available():
        ref_torch = np.zeros(want_shape)  # L does not depend on x or y

    # central differences: second-order ones of L, or first-order ones of ricci's gradient
    fd = np.full(want_shape, np.nan)
    if x not in fwd_inputs or y not in fwd_inputs:
        fd[...] = 0.0
    elif d.kind == "hvp":
        gfn = grad(d.source_program, x, d.of).compile("numpy")
        assert d.seed is not None  # an HVP has its vector
        v = arrays[d.seed]
        h = 1e-6 * max(1.0, float(np.max(np.abs(fwd_inputs[x]))))
        plus = gfn.call({**fwd_inputs, x: fwd_inputs[x] + h * v}, None, dim_size)[x]
        minus = gfn.call({**fwd_inputs, x: fwd_inputs[x] - h * v}, None, dim_size)[x]
        fd = (np.asarray(plus) - np.asarray(minus)) / (2 * h)
    else:
        pairs = [(a, a) for a in range(nx)] if diagonal else [(a, b) for a in range(nx) for b in range(ny)]
        if len(pairs) > 400:
            pairs = [pairs[k] for k in rng.choice(len(pairs), size=200, replace=False)]
        flat_fd = fd.reshape(-1)
        for a, b in pairs:
            ha = 1e-4 * max(1.0, abs(float(fwd_inputs[x].reshape(-1)[a])))
            hb = 1e-4 * max(1.0, abs(float(fwd_inputs[y].reshape(-1)[b])))
            vals = []
            for sa, sb in ((1, 1), (1, -1), (-1, 1), (-1, -1)):
                env = dict(fwd_inputs)
                xa = env[x].reshape(-1).copy()
                xa[a] += sa * ha
                env[x] = xa.reshape(xs)
                yb = env[y].reshape(-1).copy()
                yb[b] += sb * hb
                env[y] = yb.reshape(ys)
                vals.append(f(env))
            flat_fd[a if diagonal else a * ny + b] = (vals[0] - vals[1] - vals[2] + vals[3]) / (4 * ha * hb)
    finite_g = g[np.isfinite(g)]
    report.scale[key] = float(np.max(np.abs(finite_g))) if finite_g.size else 0.0
    scale = max(1.0, report.scale[key])
    mask = ~np.isnan(fd)
    fd_err = max_error(g[mask], fd[mask]) if mask.any() else 0.0
    report.fd_error[key] = fd_err
    if fd_err > fd_tol * scale:
        report.ok = False
        report.failures.append(f"{key}: finite differences differ by {fd_err:.3e}")
    if ref_torch is not None:
        t_err = max_error(g, ref_torch)
        report.torch_error[key] = t_err
        if t_err > atol * scale:
            report.ok = False
            report.failures.append(f"{key}: torch autograd differs by {t_err:.3e}")
    else:
        report.torch_error[key] = None
