"""Random cases for the property tests (tests/verify/test_property.py and the tests that
reuse its programs): hypothesis settings, generated programs with their ``wrt`` and ``of``,
inputs, and ``check_ok``, ricci.check failing a test with its report."""

from __future__ import annotations

import os
import warnings

import numpy as np
from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st

import ricci
from ricci.codegen.binding import all_dims

from .strategies import LETTERS, Model, models

#: set RICCI_PROPERTY_EXAMPLES=2000 (and RICCI_PROPERTY_RANDOM=1) to hunt for bugs
SCALE = float(os.environ.get("RICCI_PROPERTY_EXAMPLES", "0") or 0) / 200 or 1.0
RANDOM = os.environ.get("RICCI_PROPERTY_RANDOM", "") not in ("", "0")


def n(k: int) -> int:
    return max(1, int(k * SCALE))


def cfg(k: int):
    return settings(max_examples=n(k), deadline=None, derandomize=not RANDOM, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


# ---------------------------------------------------------------- helpers


def close(got, want, tol: float) -> bool:
    got = np.asarray(got, dtype=float)
    want = np.asarray(want, dtype=float)
    if got.shape != want.shape:
        return False
    if not want.size:
        return True
    scale = max(1.0, float(np.max(np.abs(want))))
    return bool(np.all(np.abs(got - want) <= tol * scale))


def derivation_for(m: Model, wrt, of=None, kind: str = "grad"):
    """(text, derivation) of a generated program."""
    make = ricci.grad if kind == "grad" else ricci.jacobian
    return m.text, make(m.text, wrt, of)


def uncarried_sizes(program, inputs, label_size) -> dict[str, int] | None:
    """``sizes=`` for a compiled function: index name -> size, one name for each dim no
    input carries (a name no other such dim has). None when there is no such name: an
    index name is statement-local, so two dims can have the same names only."""
    carried = {lab for name in inputs for lab in program.dims.get(name, ())}
    free = [lab for lab in all_dims(program) if lab not in carried]
    out = {}
    for lab in free:
        own = [nm for nm in program.names_for_dim(lab)
               if not any(nm in program.names_for_dim(o) for o in free if o != lab)]
        if not own:
            return None
        out[own[0]] = label_size[lab]
    return out


@st.composite
def wrt_lists(draw, m: Model):
    """Some inputs, sometimes with index names chosen for the gradient: "W[a,b]"."""
    names = draw(st.lists(st.sampled_from(m.inputs), min_size=1, max_size=4, unique=True))
    out = []
    for name in names:
        rank = len(m.tensors[name])
        if rank and draw(st.integers(0, 4)) == 0:
            idx = draw(st.lists(st.sampled_from(LETTERS), min_size=rank, max_size=rank, unique=True))
            out.append(f"{name}[{','.join(idx)}]")
        else:
            out.append(name)
    return out


@st.composite
def cases(draw, scalar_output=None, max_statements=4):
    """A program (as a Model), the inputs to differentiate, and the statement to
    differentiate (None: the last, mostly)."""
    m = draw(models(scalar_output=scalar_output, max_statements=max_statements))
    if not m.inputs:
        m = draw(models(scalar_output=scalar_output, max_statements=max_statements).filter(
            lambda x: bool(x.inputs)))
    wrt = draw(wrt_lists(m))
    of = None
    if len(m.statements) > 1 and draw(st.integers(0, 5)) == 0:
        of = draw(st.sampled_from([s.name for s in m.statements[:-1]]))
    return m, wrt, of


def random_inputs(program, names, label_size, rng):
    return {k: rng.standard_normal(tuple(label_size[lab] for lab in program.dims[k])) for k in names}


def check_ok(text, wrt, of=None, derivation=None):
    """ricci.check, failing the test with its report (not a bare RicciError).

    The compiled result must agree with torch autograd (run on ricci's reference
    interpreter). A disagreement with finite differences alone, when autograd agrees, is
    put down to finite differences (ill-conditioned programs: large powers, sin of large
    numbers); it is not a failure.
    """
    d = derivation or ricci.grad(text, wrt, of)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            rep = ricci.check(text, wrt, of=of, derivation=d, raise_on_mismatch=False)
        except ricci.RicciError as e:
            if "not finite at the random inputs" in str(e):
                event("skipped: not finite at check's random inputs")
                return None
            raise AssertionError(f"check raised on a valid program:\n{text}\nwrt={wrt} of={of}\n{e}") from e
    torch_ok = all(rep.torch_error[w] is not None and rep.torch_error[w] <= 1e-8 * max(1.0, rep.scale[w])
                   for w in rep.wrt)
    assert rep.ok or torch_ok, f"\n{text}\nwrt={wrt} of={of}\n{rep}\n\nderivation:\n{d}"
    event("checked" if rep.ok else "checked (finite differences off, autograd agrees)")
    event(f"statements: {len(ricci.parse(text).statements) if isinstance(text, str) else len(text.statements)}")
    return rep


def assert_close(got, want, tol=1e-12, what=""):
    """``got`` has ``want``'s shape and values, to ``tol`` relative to the largest |want| (at least 1)."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    assert got.shape == want.shape, f"{what}: shapes {got.shape} != {want.shape}"
    scale = max(1.0, float(np.max(np.abs(want)))) if want.size else 1.0
    err = float(np.max(np.abs(got - want))) if want.size else 0.0
    assert err <= tol * scale, f"{what}: differs by {err:.3e} (scale {scale:.3e})"


def to_numpy(x) -> np.ndarray:
    return x.detach().numpy() if hasattr(x, "detach") else np.asarray(x)
