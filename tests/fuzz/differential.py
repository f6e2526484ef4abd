"""Differential testing of ricci's derivatives against the torch oracle.

:func:`run` takes one generated :class:`~tests.fuzz.programs.Model` (its case says the
kind of derivative, the backend and the inputs differentiated), derives it with ricci,
runs the compiled code on random float64 inputs and compares the result with
:func:`tests.fuzz.oracle.expected`. Outcomes:

``ok``, ``skip`` (the oracle's value is not finite: the program overflows at these
inputs), and the failures ``rejected`` (ricci rejects a valid program), ``latex``
(the program's LaTeX spelling reads as another program), ``error`` (another
``RicciError`` on a valid program), ``crash`` (any other exception), ``inputs`` (the
compiled function's inputs are not the program's), ``shape``, ``nan`` (ricci's value is
not finite where the oracle's is) and ``wrong``.
"""

from __future__ import annotations

import copy
import random
import re
import time
import traceback
import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

import ricci

from . import oracle
from .programs import Model, random_inputs, seed_array

#: tolerance, relative to the largest magnitude of the expected value, but at least FLOOR
#: (a derivative that is 0 up to rounding is compared absolutely) and OUT_SCALE times the
#: output's magnitude (a derivative much smaller than the function it is computed from
#: carries the rounding of that function's size)
RTOL = 1e-8
FLOOR = 1e-3
OUT_SCALE = 1e-3
FAILURES = ("rejected", "latex", "error", "crash", "inputs", "shape", "nan", "wrong")


@dataclass
class Result:
    status: str
    message: str = ""
    where: str = ""
    seconds: float = 0.0
    details: dict[str, Any] = field(default_factory=dict)

    @property
    def failed(self) -> bool:
        return self.status in FAILURES

    def signature(self, m: Model) -> str:
        """What makes two failures the same bug (for deduplication and reduction): the
        outcome, the case, where in ricci, and the message with names and numbers blanked."""
        head = re.sub(r"'[^']*'|\d+", "_", self.message.splitlines()[0])[:80] if self.message else ""
        if self.status in ("wrong", "nan", "shape"):
            head = ""
        return f"{self.status}|{m.kind}|{m.backend}|{self.where}|{head}"


def _where(exc: BaseException) -> str:
    """The innermost frame in ricci's sources (or generated code) of a traceback."""
    frames = traceback.extract_tb(exc.__traceback__)
    for fr in reversed(frames):
        if "/ricci/" in fr.filename or fr.filename.startswith("<ricci"):
            return f"{fr.filename.rsplit('/', 1)[-1]}:{fr.name}"
    return frames[-1].name if frames else ""


def _convert(arrays: dict[str, np.ndarray], backend: str, rng: random.Random) -> dict[str, Any]:
    if backend == "torch":
        import torch

        return {k: torch.tensor(v, dtype=torch.float64) for k, v in arrays.items()}
    if backend == "jax":
        import jax.numpy as jnp

        return {k: jnp.asarray(v) for k, v in arrays.items()}
    out: dict[str, Any] = {}
    for k, v in arrays.items():
        # numpy code takes lists and numbers too
        if v.ndim == 0 and rng.random() < 0.3:
            out[k] = float(v)
        elif v.ndim and rng.random() < 0.1:
            out[k] = v.tolist()
        else:
            out[k] = v
    return out


def label_sizes(m: Model, program: ricci.Program) -> dict[str, int]:
    """Sizes of ricci's dim labels (``X:0``, ``k@Y``), read off the model."""
    from ricci.codegen.binding import all_dims

    from .programs import CLASS_SIZES

    out: dict[str, int] = {}
    for label in all_dims(program):
        if ":" in label:
            t, a = label.rsplit(":", 1)
            if t in m.tensors and a.isdigit() and int(a) < len(m.tensors[t]):
                out[label] = CLASS_SIZES[m.tensors[t][int(a)]]
        elif "@" in label:
            x, st = label.rsplit("@", 1)
            for s in m.statements:
                if s.name == st and x in s.letters:
                    out[label] = CLASS_SIZES[s.letters[x]]
    return out


def _snapshot(v: Any) -> Any:
    """A copy of an argument's values (a NumPy array of them for arrays and tensors)."""
    if hasattr(v, "detach"):
        return v.detach().cpu().numpy().copy()
    if hasattr(v, "shape"):
        return np.array(v, copy=True)
    return copy.deepcopy(v)


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.shape == b.shape and np.array_equal(a, b, equal_nan=True)
    return np.array_equal(np.asarray(a, dtype=float), np.asarray(b, dtype=float), equal_nan=True)


def _call(m: Model, d: ricci.Derivation, fn: Any, args: dict[str, Any]) -> tuple[dict, Result | None]:
    """Call the compiled function; where it asks for the size of a dim, check that it has
    to (not an axis of an input it was given, nor a dim of a statement the result does
    not use: that is reported with the values, which are still compared), then pass the
    sizes by dim label."""
    try:
        return fn(**args), None
    except ricci.RicciError as e:
        if "is unknown" not in str(e):
            raise
        from ricci.codegen.binding import Binder

        other = Binder(d.program, d.inputs, d.source_program).other_dims
        given = [lab for lab in other if lab.split(":")[0] in args]
        if given:
            late = Result("error", f"call: asks for the size of {given[0]}, an axis of an input it is "
                                   f"given:\n{e}", _where(e))
            return fn.call(args, None, label_sizes(m, d.program)), late
        live = m.needed()
        if len(live) < len(m.statements):
            lm = replace(m, statements=[s for s in m.statements if s.name in live])
            if _runs_without_sizes(lm, args):
                late = Result("error", "call: a statement the result does not use makes the compiled "
                                       f"function ask for a size:\n{e}", _where(e))
                return fn.call(args, None, label_sizes(m, d.program)), late
        return fn.call(args, None, label_sizes(m, d.program)), None


def _runs_without_sizes(m: Model, args: dict[str, Any]) -> bool:
    """Whether the model's derivative runs without ``sizes`` (else it needs them)."""
    try:
        d = derive(m, ricci.parse(m.text()))
        d.compile(m.backend)(**{k: v for k, v in args.items() if k in d.inputs})
    except Exception:  # noqa: BLE001 - it needs a size too (or fails otherwise): not this finding
        return False
    return True


def derive(m: Model, p: ricci.Program) -> ricci.Derivation:
    of = None if m.of == m.statements[-1].name and m.seed % 2 else m.of
    if m.kind == "grad":
        return ricci.grad(p, wrt=list(m.wrt), of=of)
    if m.kind == "jacobian":
        return ricci.jacobian(p, wrt=m.wrt[0], of=of)
    if m.kind == "hvp":
        return ricci.hvp(p, wrt=m.wrt[0], of=of)
    wrt: Any = m.wrt[0] if len(m.wrt) == 1 else tuple(m.wrt)
    return ricci.hessian(p, wrt=wrt, of=of, diagonal=m.kind == "diagonal")


def close(got: np.ndarray, want: np.ndarray, floor: float = FLOOR) -> tuple[bool, float]:
    """Whether ``got`` is within tolerance of ``want``, and the relative error."""
    scale = max(floor, float(np.max(np.abs(want)))) if want.size else 1.0
    err = float(np.max(np.abs(got - want))) if want.size else 0.0
    return err <= RTOL * scale, err / scale


#: inputs moved by this relative amount ...
PERTURB = 1e-13
#: ... move a well-conditioned derivative by less than this (relative to its scale):
#: beyond it, float64 rounding alone (1e-16, 1000 times smaller) can exceed RTOL / 10
SENSITIVE = 1e-6


def ill_conditioned(m: Model, arrays: dict[str, np.ndarray], seed: Any) -> bool:
    """Whether the expected derivative is too sensitive to its inputs for a float64
    comparison at RTOL (``cos`` of a huge power, a Jacobian of 1e10): the oracle's value
    at inputs moved by ``PERTURB`` (twice, at random) moves by more than ``SENSITIVE``."""
    rng = np.random.default_rng(0)
    try:
        base = {k: v.detach().numpy() for k, v in oracle.expected(m, arrays, seed).items()}
        for _ in range(2):
            moved = {k: v * (1 + PERTURB * rng.standard_normal(np.shape(v))) for k, v in arrays.items()}
            other = oracle.expected(m, moved, seed)
            for k, v in base.items():
                scale = max(FLOOR, float(np.max(np.abs(v)))) if v.size else 1.0
                if float(np.max(np.abs(other[k].detach().numpy() - v), initial=0.0)) > SENSITIVE * scale:
                    return True
    except Exception:  # noqa: BLE001 - the oracle fails near here: not a well-posed comparison
        return True
    return False


def run(m: Model, *, check_latex: bool | None = None) -> Result:
    """Derive, compile and run the model's case, and compare it with the oracle."""
    t0 = time.perf_counter()
    res = _run(m, check_latex)
    res.seconds = time.perf_counter() - t0
    return res


def _run(m: Model, check_latex: bool | None) -> Result:
    rng = random.Random(m.seed)
    text = m.text()
    try:
        p = ricci.parse(text)
    except ricci.RicciError as e:
        return Result("rejected", str(e))
    except Exception as e:  # noqa: BLE001 - any other exception is the finding
        return Result("crash", f"parse: {type(e).__name__}: {e}", _where(e))
    if check_latex if check_latex is not None else rng.random() < 0.3:
        lt = m.latex()
        if lt is not None:
            try:
                q = ricci.parse(lt, syntax="latex")
            except ricci.RicciError as e:
                return Result("latex", f"the LaTeX spelling is rejected:\n{lt}\n{e}")
            except Exception as e:  # noqa: BLE001
                return Result("crash", f"parse latex: {type(e).__name__}: {e}", _where(e))
            if q != p:
                return Result("latex", f"the LaTeX spelling reads differently:\n{lt}\n-> {q}\n!= {p}")
    stage = "derive"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            d = derive(m, p)
            arrays = random_inputs(m)
            seed = None
            if d.seed:
                shape = m.shape(m.wrt[0]) if m.kind == "hvp" else m.shape(m.of)
                seed = seed_array(shape, m.seed + 1)
            want_inputs = set(m.used_inputs()) | set(m.wrt) | ({d.seed} if d.seed else set())
            if set(d.inputs) != want_inputs:
                return Result("inputs", f"the compiled function takes {sorted(d.inputs)}, the program "
                                        f"needs {sorted(want_inputs)}")
            given = {k: arrays[k] for k in d.inputs if k in arrays}
            if d.seed:
                given[d.seed] = seed
            stage = "compile"
            fn = d.compile(m.backend)
            stage = "call"
            args = _convert(given, m.backend, rng)
            before = {k: _snapshot(v) for k, v in args.items()}
            got, late = _call(m, d, fn, args)
            changed = [k for k, v in args.items() if not _same(_snapshot(v), before[k])]
            if changed:
                return Result("inputs", f"the compiled function wrote into its input {changed[0]}")
    except ricci.RicciError as e:
        return Result("error", f"{stage}: {e}", _where(e))
    except Exception as e:  # noqa: BLE001
        return Result("crash", f"{stage}: {type(e).__name__}: {e}", _where(e),
                      details={"traceback": traceback.format_exc(limit=-6)})
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            want = oracle.expected(m, arrays, seed)
    except oracle.Unreliable as e:
        return Result("skip", f"oracle: {e}")
    except Exception as e:  # noqa: BLE001 - the oracle's own failure: not ricci's
        return Result("skip", f"oracle: {type(e).__name__}: {e}")
    want_np = {k: v.detach().numpy() for k, v in want.items()}
    if not all(np.all(np.isfinite(v)) for v in want_np.values()):
        return Result("skip", "the oracle's value is not finite")
    try:
        out = oracle.output(m, arrays).numpy()
        floor = max(FLOOR, OUT_SCALE * float(np.max(np.abs(out), initial=0.0)))
    except Exception:  # noqa: BLE001 - the output overflows where its derivative does not
        floor = FLOOR
    if not np.isfinite(floor):
        floor = FLOOR
    if set(got) != set(want_np):
        return Result("shape", f"result keys {sorted(got)}, expected {sorted(want_np)}")
    worst = 0.0
    for k, w in want_np.items():
        g = np.asarray(got[k], dtype=np.float64)
        if g.shape != w.shape:
            return Result("shape", f"{k}: shape {g.shape}, expected {w.shape}")
        if not np.all(np.isfinite(g)):
            return Result("nan", f"{k}: ricci gives {g.ravel()[:6]} where the oracle gives {w.ravel()[:6]}",
                          details={"key": k})
        ok, err = close(g, w, floor)
        worst = max(worst, err)
        if not ok and ill_conditioned(m, arrays, seed):
            return Result("skip", f"{k}: off by {err:.3g}, but the derivative is ill-conditioned here "
                                  "(the oracle's own value moves by more than the tolerance allows under "
                                  "a relative change of the inputs of 1e-13)")
        if not ok:
            return Result("wrong", f"{k}: relative error {err:.3g}\nricci:  {g.ravel()[:8]}\noracle: "
                                   f"{w.ravel()[:8]}", details={"key": k, "error": err})
    return late or Result("ok", details={"error": worst})
