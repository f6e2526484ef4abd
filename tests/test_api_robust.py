"""Only RicciError reaches a user of the Python API: every public function given an
argument of the wrong type or value says what it expected, never a TypeError from inside."""

from __future__ import annotations

import numpy as np
import pytest

import ricci

P = "Y[i,j] = X[i,k]*A[k,j]\nL = sum[i,j](Y[i,j]^2)"
JUNK = [None, 1, 1.5, True, "", "X", "Q", "X[", "X[a,a]", "X[a]", ["X", "X"], [], [1], {"X": 1}, ("X",),
        b"X", object(), np.ones(2), ["X", None]]


@pytest.fixture(scope="module")
def d():
    return ricci.grad(P, wrt=["X", "A"])


def _enter_and_leave(cm):
    with cm:
        pass


CALLS = {
    "grad wrt": lambda d, a: ricci.grad(P, wrt=a),
    "grad of": lambda d, a: ricci.grad(P, wrt="X", of=a),
    "jacobian wrt": lambda d, a: ricci.jacobian(P, wrt=a),
    "hessian wrt": lambda d, a: ricci.hessian(P, wrt=a),
    "hessian diagonal": lambda d, a: ricci.hessian(P, wrt="X", diagonal=a),
    "hvp wrt": lambda d, a: ricci.hvp(P, wrt=a),
    "check sizes": lambda d, a: ricci.check(P, wrt="X", sizes=a),
    "check seed": lambda d, a: ricci.check(P, wrt="X", seed=a),
    "check backend": lambda d, a: ricci.check(P, wrt="X", backend=a),
    "check atol": lambda d, a: ricci.check(P, wrt="X", atol=a),
    "check derivation": lambda d, a: ricci.check(P, wrt="X", derivation=a),
    "parse text": lambda d, a: ricci.parse(a),
    "parse syntax": lambda d, a: ricci.parse(P, syntax=a),
    "source backend": lambda d, a: d.source(a),
    "source sizes": lambda d, a: d.source(sizes=a),
    "compile backend": lambda d, a: d.compile(a),
    "steps wrt": lambda d, a: d.steps(a),
    "getitem": lambda d, a: d[a],
    "markdown code": lambda d, a: d.markdown(code=a),
    "lines notation": lambda d, a: d.lines(a),
    "limits": lambda d, a: _enter_and_leave(ricci.limits(seconds=a)),
    "torch function inputs": lambda d, a: ricci.torch.function(P, inputs=a),
    "torch function sizes": lambda d, a: ricci.torch.function(P, inputs="X", sizes=a),
}


@pytest.mark.parametrize("call", sorted(CALLS))
def test_wrong_arguments_raise_ricci_error(d, call):
    for junk in JUNK:
        try:
            CALLS[call](d, junk)
        except ricci.RicciError:
            pass
        except Exception as e:  # noqa: BLE001
            pytest.fail(f"{call}({junk!r}) raised {type(e).__name__}: {e}")
