"""Symmetric inputs: results written under the declaration, proven against torch
autograd (float64) at symmetric inputs, and matrix views proven as printed."""

import numpy as np
import pytest

import ricci
from ricci.calculus.symmetry import orient_program

from support.strict_matrix import strict_problems

QUAD = "q = x[i]*A[i,j]*x[j]"
GAUSS = """r[n,i] = x[n,i] - mu[i]
L = 0.5 * sum[n](r[n,i] * inv(S)[i,j] * r[n,j]) + 0.5 * size(n) * logdet(S)"""
GAUSS1 = """r[i] = x[i] - m[i]
L = 0.5 * r[i] * inv(S)[i,j] * r[j] + 0.5 * logdet(S)"""


def _proven(text, wrt):
    d = ricci.grad(text, wrt)
    assert ricci.check(text, wrt, derivation=d).ok
    assert strict_problems(d) == []
    return d


def test_quadratic_form_symmetric():
    d = _proven("A[i,j] : symmetric\n" + QUAD, ["x", "A"])
    assert str(d.matrix()).splitlines()[0] == "dx = 2 * (A @ x)"
    assert str(d).splitlines()[0] == "dx[i] = 2 * A[i,j] * x[j]"
    h = ricci.hessian("A[i,j] : symmetric\n" + QUAD, "x")
    assert ricci.check("A[i,j] : symmetric\n" + QUAD, "x", derivation=h).ok
    assert str(h.matrix()) == "H = 2 * A"


def test_without_a_declaration_nothing_is_assumed():
    d = ricci.grad(QUAD, ["x", "A"])
    assert str(d.matrix()).splitlines()[0] == "dx = A @ x + A.T @ x"
    g = ricci.grad("r[n,i] = x[n,i] - mu[i]\nL = sum[n](r[n,i] * inv(S)[i,j] * r[n,j])", "mu")
    assert "inv(S).T" in str(g.matrix())
    p = ricci.parse(QUAD)
    assert orient_program(p) is p


def test_gaussian_nll_mean_gradient_is_one_solve():
    d = _proven("S[i,j] : spd\n" + GAUSS, ["mu", "S"])
    view = str(d.matrix()).splitlines()
    assert view[:2] == ["G = sum(r, axis=0)", "dmu = -(G @ inv(S))"]  # inv(S).T is inv(S)
    assert "inv(S).T" not in str(d.matrix())
    assert d.source("numpy").count("np.linalg.") == 1  # one inverse (or solve), not two


def test_gaussian_nll_symmetric_not_spd_and_one_sample():
    _proven("S[i,j] : symmetric\n" + GAUSS, ["mu", "S"])
    d = _proven("S[i,j] : spd\n" + GAUSS1, ["m", "S"])
    assert "0.5" not in str(d.matrix()).splitlines()[0]  # r S^-1 + r S^-T collected


def test_logdet_of_a_declared_spd_matrix():
    d = _proven("A[i,j] : spd\nS[i,j] : symmetric\nL = logdet(A) - S[i,j] * A[j,i]", ["A", "S"])
    assert str(d.matrix()).splitlines() == ["dA = inv(A) - S", "dS = -A"]


def test_trace_of_s_times_a():
    d = _proven("S[i,j] : symmetric\nP[i,j] = S[i,k] * A[k,j]\nL = trace(P)", ["S", "A"])
    assert ricci.check("S[i,j] : symmetric\nP[i,j] = S[i,k] * A[k,j]\nL = trace(P)", ["S", "A"],
                       derivation=d).ok


def test_gradient_wrt_a_symmetric_input_is_the_general_matrix_gradient():
    # x^T S^T y: the gradient w.r.t. S is y x^T (not x y^T), symmetric S or not
    text = "S[i,j] : symmetric\nL = x[i] * S[j,i] * y[j]"
    d = _proven(text, ["S", "x"])
    f = d.compile()
    rng = np.random.default_rng(1)
    x, y, a = rng.standard_normal(3), rng.standard_normal(3), rng.standard_normal((3, 3))
    s = a + a.T
    np.testing.assert_allclose(f(x=x, S=s, y=y)["S"], np.outer(y, x))


@pytest.mark.parametrize("text", [
    "S[i,j] : symmetric\nL = x[i] * S[j,i] * y[j] + x[j] * S[j,i] * y[i]",
    "S[i,j] : spd\nY[i,j] = inv(S)[j,k] * B[k,i]\nL = sum[i,j](Y[i,j] * Y[i,j])",
])
def test_orientation_is_deterministic_and_idempotent(text):
    d = _proven(text, ["S"])
    p = d.program
    once = orient_program(p)
    assert orient_program(once) is once
    assert str(ricci.grad(text, ["S"])) == str(d)
