"""The identities that need the program (ricci.calculus.identities) and the textbook
rewrites of the simplifier they work with (inverse-cancel, the sqrt rules): the printed
results are the textbook's, the matrix view is proven, and every gradient and Hessian is
checked against torch autograd in float64."""

import pytest

import ricci
from ricci.calculus.identities import derived_identities, forward_identities

from support.strict_matrix import strict_problems

# (program, wrt, the gradient printed in matrix notation)
CASES = [
    # the Matrix Cookbook: d det(inv(X)) = -det(inv(X)) inv(X)^T
    ("Z[i,j] = inv(X)[i,j]; L = det(Z)", ["X"], "dX = -L * inv(X).T"),
    ("Z[i,j] = inv(X)[i,j]; L = logdet(Z)", ["X"], "dX = -inv(X).T"),
    ("Z[i,j] = inv(X)[i,j]; W[i,j] = inv(Z)[i,j]; L = W[i,j] * A[i,j]", ["X", "A"],
     "dX = A\ndA = W"),
    ("Z[i,j] = inv(X)[i,j]; L = inv(Z)[i,j] * A[i,j] + x[i] * Z[i,j] * x[j]", ["X"],
     "dX = A - outer(x @ inv(X), x @ inv(X).T)"),  # (the adjoint outer(x, x) is never formed)
    # inv(X) X = I inside a product: B inv(X) X A is B A, which does not depend on X
    ("L = B[p,i] * inv(X)[i,k] * X[k,j] * A[p,j] + x[i] * inv(X)[i,j] * x[j]", ["X"],
     "dX = -outer(x @ inv(X), x @ inv(X).T)"),
    ("t[p,j] = B[p,i] * inv(X)[i,k] * X[k,j]; L = sum[p,j](t[p,j]^2)", ["B"],
     "dB = 2 * t"),
    # |v| written as a square root of a square
    ("L = sum[n](sqrt(v[n]^2))", ["v"], "dv = v / abs(v)"),
    ("L = sum[n]((v[n]^2)^(1/2) * w[n])", ["v"], "dv = v * w / abs(v)"),
    # a centred sum is zero
    ("mu[d] = sum[n](x[n,d]) / size(n); y[d] = sum[n](x[n,d] - mu[d]); L = sum[d](y[d] * w[d])",
     ["x", "w"], "dx = zeros_like(x)\ndw = y"),
    ("mu[d] = sum[n](x[n,d]) / size(n)\n"
     "L = sum[d](w[d] * (sum[n](x[n,d]) - size(n) * mu[d])) + sum[d](mu[d]^2)", ["x"],
     "dmu = 2 * mu\ndx = dmu / size(n) * ones_like(x)"),
    ("mu[n] = sum[d](x[n,d]) / size(d); xc[n,d] = x[n,d] - mu[n]; L = sum[n](v[n] * sum[d](xc[n,d]))",
     ["x", "v"], "dx = zeros_like(x)\ndv = zeros_like(v)"),
]


@pytest.mark.parametrize(("text", "wrt", "matrix"), CASES, ids=[c[0] for c in CASES])
def test_gradients_are_textbook_proven_and_right(text, wrt, matrix):
    d = ricci.grad(text, wrt)
    assert str(d.matrix()) == matrix
    assert strict_problems(d) == []
    assert ricci.check(text, wrt).ok


@pytest.mark.parametrize(("text", "wrt", "matrix"), CASES, ids=[c[0] for c in CASES])
def test_hessians_are_right(text, wrt, matrix):
    for x in wrt:
        assert ricci.check(text, [x], derivation=ricci.hessian(text, x)).ok


def test_the_gradient_of_det_of_an_inverse_in_index_notation_and_code():
    d = ricci.grad("Z[i,j] = inv(X)[i,j]; L = det(Z)", "X")
    assert str(d) == "dX[i,j] = -L * inv(X)[j,i]"
    src = d.source("numpy")
    assert "np.linalg.det" in src and src.count("np.linalg.inv") == 1
    # the compiled function keeps the program's inputs as its arguments
    assert d.inputs == ("X",)


def test_the_source_program_is_kept_as_written():
    text = "mu[d] = sum[n](x[n,d]) / size(n); y[d] = sum[n](x[n,d] - mu[d]); L = sum[d](y[d] * w[d])"
    d = ricci.grad(text, ["x"])
    assert str(d.source_program) == str(ricci.parse(text))
    assert d.inputs == ("x", "w")  # w is read by the program, if not by its gradient


def test_the_forward_pass_rewrites_only_where_an_identity_applies():
    p = ricci.parse("Z[i,j] = inv(X)[i,j]; W[i,j] = inv(Z)[i,j]; a = det(Z); b = logdet(Z); "
                    "c = trace(Z); V[i,j] = inv(Y)[j,i]; e = det(V)")
    q = forward_identities(p)
    assert [str(s) for s in q.statements] == [
        "Z[i,j] = inv(X)[i,j]", "W[i,j] = X[i,j]", "a = 1 / det(X)", "b = -logdet(X)",
        "c = trace(Z)",  # trace(inv(X)) has no simpler form
        "V[i,j] = inv(Y)[j,i]", "e = det(V)"]  # V is the transpose of an inverse: left alone
    p = ricci.parse("y[n] = x[n] * 2")
    assert forward_identities(p) is p


def test_a_mean_substituted_only_where_it_cancels():
    p = ricci.parse("mu[d] = sum[n](x[n,d]) / size(n); y[d] = mu[d]^2 + size(n) * mu[d]; "
                    "z[d] = sum[n](x[n,d]) - size(n) * mu[d] + mu[d]")
    q = forward_identities(p)
    assert str(q.statements[1]) == "y[d] = mu[d]^2 + size(n) * mu[d]"  # nothing cancels: kept
    assert str(q.statements[2]) == "z[d] = mu[d]"
    (s,) = derived_identities(p, [p.statements[2]])
    assert str(s) == "z[d] = mu[d]"
