"""Matrix notation: golden forms for the articles' examples and the patterns of linear
algebra, and every matrix form ricci prints evaluated with NumPy against the index form."""

import glob
import os

import pytest
from hypothesis import HealthCheck, given, settings

import ricci

from support.matrix_check import check_matrix_forms
from support.strategies import models
from support.strict_matrix import strict_problems

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = sorted(glob.glob(os.path.join(ROOT, "examples", "*.ricci")))


def wrt_of(path):
    return open(path).read().splitlines()[1].split(":", 1)[1].split()


def matrix(text, wrt, kind="grad"):
    d = (ricci.grad if kind == "grad" else ricci.jacobian)(text, wrt)
    assert check_matrix_forms(d) >= 0
    return str(d.matrix())


# ---------------------------------------------------------------- the articles


def test_matmul_000():
    assert matrix("Y[i,j] = X[i,k] * A[k,j]", ["X", "A"]) == "dX = dY @ A.T\ndA = X.T @ dY"


def test_affine_layer_over_a_batch_003():
    text = open(os.path.join(ROOT, "examples", "affine_tanh_mse.ricci")).read()
    assert matrix(text, ["X", "W", "b"]) == "\n".join([
        "dY = 2 * (Y - T)",
        "dZ = dY * (1 - Y^2)",
        "dX = dZ @ W.T",
        "dW = X.T @ dZ",
        "db = sum(dZ, axis=0)",  # the CS189 np.sum(dLdY, axis=0)
    ])


def test_neuron_layer_001():
    text = open(os.path.join(ROOT, "examples", "neuron.ricci")).read()
    assert matrix(text, ["W", "b", "x"]) == "\n".join([
        "dy = 2 * (y - t)",
        "dz1 = dy * y * (1 - y)",
        "dW = outer(dz1, x)",
        "db = dz1",
        "dx = W.T @ dz1",
    ])


def test_batch_jacobian_has_no_matrix_form_but_its_slices_do_003():
    d = ricci.jacobian("Y[i,j] = X[i,k] * W[k,j]", "W[k,l]")
    assert check_matrix_forms(d) == 0
    assert str(d.matrix()) == "\n".join([
        "dY[i,j]/dW[k,l] = X[i,k] * delta[j,l]",
        "  no matrix form (a 4-index tensor: an outer product into 4 axes)",
        "  einsum form: dY/dW = einsum('ik,jl->ijkl', X, eye(size(j)))",
        "  slices: for each j, l: [:,j,:,l] = delta[j,l] * X",
    ])
    assert r"\delta_{jl}\, X" in d.matrix().latex()


def test_raw_matmul_jacobian_000():
    d = ricci.jacobian("Y[i,j] = X[i,k] * A[k,j]", "X")
    text = str(d.matrix())
    assert "no matrix form" in text and "einsum('qj,ip->ijpq', A, eye(size(i)))" in text
    assert "for each i, p: [i,:,p,:] = delta[i,p] * A.T" in text


# ---------------------------------------------------------------- patterns


@pytest.mark.parametrize("text, wrt, want", [
    ("Y[b,i,j] = X[b,i,k] * A[b,k,j]", ["X", "A"], "dX = dY @ A.mT\ndA = X.mT @ dY"),  # batched
    ("S[b,h,i,j] = Q[b,h,i,d] * K[b,h,j,d]", ["Q", "K"], "dQ = dS @ K\ndK = dS.mT @ Q"),
    ("y[i] = A[i,j] * x[j]", ["A", "x"], "dA = outer(dy, x)\ndx = A.T @ dy"),  # matrix-vector
    ("y[j] = x[i] * A[i,j]", ["x"], "dx = A @ dy"),  # vector-matrix
    ("P[i,j] = u[i] * v[j]", ["u", "v"], "du = dP @ v\ndv = dP.T @ u"),  # outer product
    ("s = x[i] * y[i]", ["x"], "dx = y"),  # dot product
    ("q = x[i]*A[i,j]*x[j]", ["x", "A"], "dx = A @ x + A.T @ x\ndA = outer(x, x)"),
    ("t = A[i,i]", ["A"], "dA = eye(size(i))"),  # trace (I alone would not say its size)
    ("L = sum[i,j](B[i,j] * A[j,i])", ["A"], "dA = B.T"),
    ("Y[i,j] = A[i,j] * v[j]", ["A", "v"], "dA = dY * v\ndv = sum(A * dY, axis=0)"),  # A diag(v)
    ("Y[i,j] = v[i] * A[i,j]", ["A"], "dA = v[:, None] * dY"),  # diag(v) A
    ("y[j] = sum[i](A[i,j])", ["A"], "dA = dy * ones_like(A)"),  # broadcast, as printed
    ("y[i] = sum[j](A[i,j])", ["A"], "dA = dy[:, None] * ones_like(A)"),
    ("Y[i,j] = A[j,i]", ["A"], "dA = dY.T"),  # transpose from index order
    ("Y[i,j] = c * A[i,j]", ["A", "c"], "dA = c * dY\ndc = sum(A * dY)"),  # scalar times matrix
    ("Y[i,j] = X[i,k] * A[k,l] * B[l,j]", ["A"], "dA = X.T @ dY @ B.T"),  # a chain
    ("t = X[i,j] * A[j,i]", ["X"], "dX = A.T"),
])
def test_patterns(text, wrt, want):
    assert matrix(text, wrt) == want


def test_named_intermediate_for_a_compound_operand():
    # a compound operand of @ is named first, never one giant expression
    d = ricci.grad("Z[n,h] = X[n,d] * M[n,d] * W[d,h]", ["W"])
    assert check_matrix_forms(d) == 1
    assert str(d.matrix()) == "G = M * X\ndW = G.T @ dZ"


def test_latex_of_the_matmul_gradients():
    d = ricci.grad("Y[i,j] = X[i,k] * A[k,j]", ["X", "A"])
    assert d.matrix().latex() == (
        "\\begin{aligned}\n"
        r"\frac{\partial l}{\partial X} &= \frac{\partial l}{\partial Y} A^{T} \\" "\n"
        r"\frac{\partial l}{\partial A} &= X^{T} \frac{\partial l}{\partial Y}" "\n"
        "\\end{aligned}")


def test_latex_forms_of_broadcasts_and_sums():
    d = ricci.grad(open(os.path.join(ROOT, "examples", "affine_tanh_mse.ricci")).read(), ["b"])
    # a vector is a column: the column sums of dL/dZ are (dL/dZ)^T 1, not the row 1^T dL/dZ
    assert r"\frac{\partial L}{\partial b} &= \left(\frac{\partial L}{\partial Z}\right)^{T} \mathbf{1}" \
        in d.matrix().latex()
    d = ricci.grad("Y[i,j] = v[i] * A[i,j]", ["A"])
    assert d.matrix().latex() == r"\frac{\partial l}{\partial A} = \operatorname{diag}\left(v\right) \frac{\partial l}{\partial Y}"
    # a gradient broadcast over an index it does not depend on says so, in every notation
    d = ricci.grad("Y[i,j] = X[i,k]*A[k,j]; l = sum[i,j](Y[i,j])", ["X", "A"])
    assert str(d.matrix()) == "dX = sum(A, axis=1) * ones_like(X)\ndA = sum(X, axis=0)[:, None] * ones_like(A)"
    assert d.matrix().latex() == ("\\begin{aligned}\n"
                                  r"\frac{\partial l}{\partial X} &= \mathbf{1} \left(A \mathbf{1}\right)^{T} \\" "\n"
                                  r"\frac{\partial l}{\partial A} &= \left(X^{T} \mathbf{1}\right) \mathbf{1}^{T}" "\n"
                                  "\\end{aligned}")
    # a vector term of a matrix sum is broadcast down the rows explicitly: 1 v^T
    # (the log-softmax Jacobian is the textbook's I - 1 p^T, not a matrix minus a vector)
    d = ricci.jacobian("y[k] = z[k] - log(sum[j](exp(z[j])))", "z")
    assert d.matrix().latex().startswith(r"\frac{\partial y}{\partial z} = I - \mathbf{1} \left(")
    d = ricci.grad("Y[i,j] = A[i,j] * (B[i,j] + v[j])", ["A"])
    assert d.matrix().latex().endswith(r"\odot \left(B + \mathbf{1} v^{T}\right)")


# ---------------------------------------------------------------- every example, and random programs


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: os.path.basename(p))
def test_every_matrix_form_of_the_examples_equals_the_einsum_result(path):
    text = open(path).read()
    wrt = wrt_of(path)
    assert check_matrix_forms(ricci.grad(text, wrt)) >= 1
    for w in wrt:
        check_matrix_forms(ricci.jacobian(text, w))


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.filter_too_much])
@given(models())
def test_matrix_forms_of_random_programs_are_exact(m):
    """A matrix form is printed only when it is exactly the index result."""
    if not m.inputs:
        return
    for kind in ("grad", "jacobian"):
        wrt = m.inputs[:2] if kind == "grad" else m.inputs[0]
        d = (ricci.grad if kind == "grad" else ricci.jacobian)(m.text, wrt)
        check_matrix_forms(d)


def test_an_operand_named_once_is_reused_not_built_again():
    """Issue "Every formula a person reads is proven": the same intermediate was built
    twice (G2 and G6 both sum(dY * (np^3).T, axis=0)); it is named once and reused."""
    from support.strict_matrix import strict_check

    d = ricci.grad("Y[k,m] = -((X[t,v] * A[t,w] * X[v,v]) * np[m,k]^3 / (1 + A[q,m] * A[i,m]))", ["A", "X"])
    helpers = [ln.node for ln in d.matrix().lines if ln.helper]
    assert len(helpers) == len(set(map(repr, helpers))) == 5
    assert strict_check(d) == []


def test_a_residual_is_built_in_the_orientation_of_the_program():
    """Least squares printed ``G = W.T @ X.T - Y.T; dW = 2 * (X.T @ G.T)``: an operand of a
    contraction took the result's index order; it takes its own tensors' (Y[n,k])."""
    d = ricci.grad("L = sum[n,k](C[n,k] * (X[n,d] * W[d,k] - Y[n,k]) * (X[n,e] * W[e,k] - Y[n,k]))",
                   ["W", "X"])
    assert str(d.matrix()) == "G = C * (X @ W - Y)\ndW = 2 * (X.T @ G)\ndX = 2 * (G @ W.T)"
    assert check_matrix_forms(d) == 2  # dW and dX, through the code
    assert strict_problems(d) == []
    # squared, the residual is named once, its adjoint shared (in the code too)
    d = ricci.grad("L = sum[n,k]((X[n,d] * W[d,k] - Y[n,k])^2)", ["W", "X"])
    assert str(d.matrix()) == "z1 = X @ W - Y\ndz1 = 2 * z1\ndW = X.T @ dz1\ndX = dz1 @ W.T"
    assert d.source("numpy").split('"""')[-1].count("X @ W") == 1
    assert strict_problems(d) == []
