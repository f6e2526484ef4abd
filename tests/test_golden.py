"""Golden tests: the worked examples of the reference articles, in index notation and in numbers.

Every derivation is compared verbatim with the article's result, and then proved
numerically (compiled code vs torch autograd in float64 and vs finite differences).
"""

import numpy as np
import pytest
import torch

import ricci

MATMUL = "Y[i,j] = X[i,k] * A[k,j]"


def test_matmul_gradients_000():
    # 000_1993a847e777137d.txt: dl/dX = dl/dY A^T, dl/dA = X^T dl/dY
    d = ricci.grad(MATMUL, wrt=["X", "A"])
    assert str(d) == "dX[i,k] = dY[i,j] * A[k,j]\ndA[k,j] = X[i,k] * dY[i,j]"
    assert ricci.check(MATMUL, ["X", "A"], sizes={"i": 3, "k": 4, "j": 5}).ok


def test_matmul_gradients_match_the_article_pytorch_snippet():
    # the article's own check: l = Y.sum(); dldX = Y.grad @ A.T; dldA = X.T @ Y.grad
    torch.manual_seed(42)
    X = torch.rand((12, 25), dtype=torch.float64, requires_grad=True)
    A = torch.rand((25, 17), dtype=torch.float64, requires_grad=True)
    Y = X @ A
    Y.retain_grad()
    Y.sum().backward()
    f = ricci.grad(MATMUL, wrt=["X", "A"]).compile()
    out = f(X=X.detach().numpy(), A=A.detach().numpy(), dY=Y.grad.numpy())
    np.testing.assert_allclose(out["X"], X.grad.numpy(), rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(out["A"], A.grad.numpy(), rtol=1e-13, atol=1e-13)


def test_matmul_jacobian_000():
    d = ricci.jacobian(MATMUL, wrt="X")
    assert str(d) == "dY[i,j]/dX[p,q] = A[q,j] * delta[i,p]"
    d = ricci.jacobian(MATMUL, wrt="A")
    assert str(d) == "dY[i,j]/dA[p,q] = X[i,p] * delta[j,q]"
    for w in ("X", "A"):
        assert ricci.check(MATMUL, [w], derivation=ricci.jacobian(MATMUL, w)).ok


def test_matmul_generated_code_is_plain_matrix_algebra():
    src = ricci.grad(MATMUL, wrt=["X", "A"]).source()
    assert "dX = dY @ A.T" in src
    assert "dA = X.T @ dY" in src


AFFINE = """# an affine layer with tanh, and a squared-error loss
Z[n,h] = X[n,d] * W[d,h] + b[h]
Y[n,h] = tanh(Z[n,h])
L = sum[n,h]((Y[n,h] - T[n,h])^2)
"""


def test_affine_layer_bias_sums_over_the_batch_003():
    # 003 (CS189): dL/db_i = sum_j dL/dY_ji, in code np.sum(dLdY, axis=0)
    d = ricci.grad(AFFINE, wrt=["X", "W", "b"])
    assert str(d) == "\n".join([
        "dY[n,h] = 2 * (Y[n,h] - T[n,h])",
        "dZ[n,h] = dY[n,h] * (1 - Y[n,h]^2)",
        "dX[n,d] = dZ[n,h] * W[d,h]",
        "dW[d,h] = X[n,d] * dZ[n,h]",
        "db[h] = sum[n](dZ[n,h])",
    ])
    assert "db = dZ.sum(axis=0)" in d.source()
    assert ricci.check(AFFINE, ["X", "W", "b"], sizes={"n": 5, "d": 3, "h": 4}).ok


def test_bias_gradient_of_the_affine_layer_alone():
    d = ricci.grad("Y[n,h] = X[n,d] * W[d,h] + b[h]", wrt="b")
    assert str(d) == "db[h] = sum[n](dY[n,h])"


NEURON = """y[i] = sigmoid(W[i,j]*x[j] + b[i])
L = sum[i]((y[i] - t[i])^2)
"""


def test_neuron_layer_001():
    # 001: loss_(gh) = 2 (y_i - t_i) sigma'_(i,m)(w_jk x_k) x_n delta_(mn)(gh)
    d = ricci.grad(NEURON, wrt=["W", "b"])
    assert str(d) == "\n".join([  # z1 = W x + b is not printed: no line reads it
        "dy[i] = 2 * (y[i] - t[i])",
        "dz1[i] = dy[i] * y[i] * (1 - y[i])",
        "dW[i,j] = dz1[i] * x[j]",
        "db[i] = dz1[i]",
    ])
    assert ricci.check(NEURON, ["W", "b", "x"]).ok


def test_cs189_batch_jacobians_003():
    prog = "Y[i,j] = X[i,m] * W[m,j]"
    dx = ricci.jacobian(prog, wrt="X[k,l]")
    dw = ricci.jacobian(prog, wrt="W[k,l]")
    assert str(dx) == "dY[i,j]/dX[k,l] = W[l,j] * delta[i,k]"
    assert str(dw) == "dY[i,j]/dW[k,l] = X[i,k] * delta[j,l]"
    assert ricci.check(prog, ["X"], derivation=dx).ok
    assert ricci.check(prog, ["W"], derivation=dw).ok


def test_cs189_jacobian_when_the_chosen_names_are_dummies_of_the_program():
    # the program sums over k; asking for dX[k,l] renames the dummy, not the result
    d = ricci.jacobian("Y[i,j] = X[i,k] * W[k,j]", wrt="X[k,l]")
    assert str(d) == "dY[i,j]/dX[k,l] = W[l,j] * delta[i,k]"


def test_the_delta_eats_an_index_003():
    prog = "v[i] = A[i,j]*delta[j,k]*B[i,k]"
    p = ricci.parse(prog)
    from ricci.simplify.rewrite import simplify

    st = p.statements[0]
    assert str(st.replace(simplify(st.rhs))) == "v[i] = A[i,k] * B[i,k]"
    d = ricci.grad(prog, wrt=["A", "B"])
    assert str(d) == "dA[i,j] = B[i,j] * dv[i]\ndB[i,k] = A[i,k] * dv[i]"
    assert ricci.check(prog, ["A", "B"]).ok


def test_trace_001():
    d = ricci.grad("t = A[i,i]", wrt="A")
    assert str(d) == "dA[i,j] = delta[i,j]"
    assert ricci.check("t = A[i,i]", ["A"], sizes={"i": 4}).ok
    out = d.compile()(A=np.zeros((3, 3)))
    np.testing.assert_array_equal(out["A"], np.eye(3))


RNN = """s1[h] = tanh(x1[d]*W[d,h] + b[h])
s2[h] = tanh(x2[d]*W[d,h] + s1[g]*U[g,h] + b[h])
s3[h] = tanh(x3[d]*W[d,h] + s2[g]*U[g,h] + b[h])
"""


def test_cs189_rnn_unrolled_over_three_steps_003():
    # dL/dU = dL/ds3 ds3/dU + dL/ds2 ds2/dU + dL/ds1 ds1/dU, accumulated in one pass
    d = ricci.grad(RNN, wrt=["U", "W", "b"])
    assert str(d) == "\n".join([  # the pre-activations z are not printed: no line reads them
        "dz3[h] = ds3[h] * (1 - s3[h]^2)",
        "ds2[h] = U[h,g] * dz3[g]",
        "dz2[h] = ds2[h] * (1 - s2[h]^2)",
        "ds1[h] = U[h,g] * dz2[g]",
        "dz1[h] = ds1[h] * (1 - s1[h]^2)",
        "dU[g,h] = s1[g] * dz2[h] + s2[g] * dz3[h]",
        "dW[d,h] = x1[d] * dz1[h] + x2[d] * dz2[h] + x3[d] * dz3[h]",
        "db[h] = dz1[h] + dz2[h] + dz3[h]",
    ])
    assert ricci.check(RNN, ["U", "W", "b"], sizes={"d": 3, "h": 4}).ok


def test_rnn_with_a_loss_matches_torch_on_a_hand_written_rnn():
    prog = RNN + "L = sum[h](s3[h]^2)\n"
    rng = np.random.default_rng(0)
    x = [rng.standard_normal(3) for _ in range(3)]
    W, U, b = rng.standard_normal((3, 4)), rng.standard_normal((4, 4)), rng.standard_normal(4)
    tW, tU, tb = (torch.tensor(a, requires_grad=True) for a in (W, U, b))
    s = torch.zeros(4, dtype=torch.float64)
    for t in range(3):
        s = torch.tanh(torch.tensor(x[t]) @ tW + s @ tU + tb)
    (s ** 2).sum().backward()
    out = ricci.grad(prog, wrt=["U", "W", "b"]).compile()(x1=x[0], x2=x[1], x3=x[2], W=W, U=U, b=b)
    for name, t in (("W", tW), ("U", tU), ("b", tb)):
        np.testing.assert_allclose(out[name], t.grad.numpy(), rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("wrt", ["x", "A"])
def test_quadratic_form(wrt):
    prog = "q = x[i]*A[i,j]*x[j]"
    d = ricci.grad(prog, wrt=["x", "A"])
    assert str(d) == "dx[i] = A[i,j] * x[j] + A[j,i] * x[j]\ndA[i,j] = x[i] * x[j]"
    assert ricci.check(prog, [wrt]).ok
