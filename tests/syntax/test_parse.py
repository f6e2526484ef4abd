"""The language: syntax, normalised printing, and the meaning of the index rule.

Meanings are checked numerically: the reference interpreter's value of a statement is
compared with the same formula written with NumPy by hand.
"""

import numpy as np
import pytest

import ricci
from ricci.verify.evaluate import evaluate

rng = np.random.default_rng(0)
A, B, W = rng.standard_normal((3, 4)), rng.standard_normal((4, 5)), rng.standard_normal((3, 5))
x, y, b = rng.standard_normal(4), rng.standard_normal(4), rng.standard_normal(3)


def value(text, **inputs):
    p = ricci.parse(text)
    return evaluate(p, inputs)[p.statements[-1].name]


def test_normalised_source():
    p = ricci.parse("# comment\nZ[n,h]=X[n,d]*W[d,h]+b[h] # bias\n\nY[n,h] = tanh( Z[n,h] );L=sum[n,h]((Y[n,h]-T[n,h])**2)")
    assert str(p) == ("Z[n,h] = X[n,d] * W[d,h] + b[h]\nY[n,h] = tanh(Z[n,h])\n"
                      "L = sum[n,h]((Y[n,h] - T[n,h])^2)")
    assert p.inputs == ("X", "W", "b", "T")
    assert ricci.parse(str(p)) == p


def test_newlines_inside_brackets_continue_a_statement():
    p = ricci.parse("y[i] = (A[i,j] * x[j]\n        + b[i])")
    assert str(p) == "y[i] = A[i,j] * x[j] + b[i]"


def test_precedence_and_numbers():
    assert str(ricci.parse("y[i] = -x[i]^2")) == "y[i] = -x[i]^2"
    np.testing.assert_allclose(value("y[i] = -x[i]^2", x=x), -x ** 2)
    np.testing.assert_allclose(value("y[i] = x[i] / 2 / 4", x=x), x / 8)
    np.testing.assert_allclose(value("y[i] = 2^x[i]^2", x=x), 2 ** (x ** 2))
    np.testing.assert_allclose(value("y[i] = x[i] * 1.5e-1 + .5", x=x), x * 0.15 + 0.5)
    np.testing.assert_allclose(value("y[i] = x[i]^-1", x=x), 1 / x)


def test_matmul_and_elementwise_products():
    np.testing.assert_allclose(value("C[i,k] = A[i,j] * B[j,k]", A=A, B=B), A @ B)
    # 003: C_ik = A_ij B_jk W_ik sums j only
    np.testing.assert_allclose(value("C[i,k] = A[i,j] * B[j,k] * W[i,k]", A=A, B=B, W=W), (A @ B) * W)
    np.testing.assert_allclose(value("p = x[i] * y[i]", x=x, y=y), x @ y)
    np.testing.assert_allclose(value("P[i,j] = x[i] * y[j]", x=x, y=y), np.outer(x, y))
    np.testing.assert_allclose(value("p[i] = x[i] * y[i]", x=x, y=y), x * y)


def test_each_term_of_a_sum_is_summed_on_its_own():
    np.testing.assert_allclose(value("s = x[i] + y[i]", x=x, y=y), x.sum() + y.sum())
    np.testing.assert_allclose(value("v[i] = A[i,j] * x[j] + b[i]", A=A, x=x, b=b), A @ x + b)
    # the smallest product holding all occurrences: inside the parentheses here ...
    np.testing.assert_allclose(value("v[i] = 2 * (A[i,j] * x[j] + b[i])", A=A, x=x, b=b), 2 * (A @ x + b))
    # ... and over the whole product here
    np.testing.assert_allclose(value("v[i] = (A[i,j] + 3 * A[i,j]) * x[j]", A=A, x=x), 4 * A @ x)


def test_trace_and_deltas():
    S = rng.standard_normal((4, 4))
    np.testing.assert_allclose(value("t = S[i,i]", S=S), np.trace(S))
    np.testing.assert_allclose(value("d[i] = S[i,i]", S=S), np.diag(S))
    np.testing.assert_allclose(value("Y[i,j] = S[i,k] * delta[k,j]", S=S), S)
    np.testing.assert_allclose(value("t = delta[i,i] * x[i]", x=x), x.sum())


def test_function_arguments_are_their_own_scope():
    # 001: summation inside a function argument does not leak out
    np.testing.assert_allclose(value("y[i] = tanh(A[i,j] * x[j] + b[i])", A=A, x=x, b=b), np.tanh(A @ x + b))
    np.testing.assert_allclose(value("s = tanh(x[j])", x=x), np.tanh(x.sum()))
    np.testing.assert_allclose(value("s = sum[j](tanh(x[j]))", x=x), np.tanh(x).sum())
    np.testing.assert_allclose(value("s = x[j]^2", x=x), x.sum() ** 2)
    np.testing.assert_allclose(value("s = sum[j](x[j]^2)", x=x), (x ** 2).sum())


def test_explicit_sums_and_sizes():
    X = rng.standard_normal((3, 4))
    np.testing.assert_allclose(value("m[n] = sum[d](X[n,d]) / size(d)", X=X), X.mean(axis=1))
    np.testing.assert_allclose(value("s = sum[n,d](X[n,d])", X=X), X.sum())
    np.testing.assert_allclose(value("s[n] = sum[d](X[n,d] * X[n,d])", X=X), (X * X).sum(axis=1))


def test_broadcast_from_terms_that_lack_an_index():
    X = rng.standard_normal((2, 3))
    np.testing.assert_allclose(value("Z[n,h] = X[n,h] + b[h]", X=X, b=b), X + b)
    np.testing.assert_allclose(value("Z[i,j] = x[i] + y[j]", x=x, y=y), x[:, None] + y[None, :])


def test_dims_are_shared_across_statements():
    p = ricci.parse("H[n,h] = X[n,d] * W[d,h]\nO[n,c] = H[n,h] * V[h,c]")
    assert p.dims["W"][1] == p.dims["V"][0] == p.dims["H"][1]
    assert p.dims["X"][1] == p.dims["W"][0]


@pytest.mark.parametrize("text", [
    "y[i] = x[i] + 1",
    "y = sum[i](x[i])",
    "Y[i,j] = A[i,k] * B[k,j]",
    "y[i] = sigmoid(W[i,j] * x[j] + b[i])",
    "L = -sum[n,k](t[n,k] * log(p[n,k]))",
    "y[i] = x[i] / (1 + x[i]^2)",
    "t = A[i,i]",
    "v[i] = A[i,j] * delta[j,k] * B[i,k]",
])
def test_printing_round_trips(text):
    p = ricci.parse(text)
    assert str(p) == text
    assert ricci.parse(str(p)) == p


@pytest.mark.parametrize("text", ["y = (x[i]*u[i]) * sum[i](v[i]*w[i])",
                                  "y = sum[i](v[i]*w[i]) * (x[i]*u[i])",
                                  "y = (x[i]*u[i]) * sum[i](v[i]*w[i]) * sum[i](a[i]*b[i])"])
def test_sums_as_written_keep_their_names(text):
    """Fuzz finding #14: a second sum over i was printed implicitly under a new name (j), which
    parses to a program that is equal in value but not in structure; as written it stays
    `sum[i](..)`."""
    p = ricci.parse(text)
    assert ricci.parse(str(p)) == p
    assert "j" not in str(p)


def test_delta_in_unicode_is_the_kronecker_delta():
    """Fuzz finding #16: `δ[i,k]` was read as a tensor named δ, printed in LaTeX as `\\delta_{ik}`
    and read back as the Kronecker delta. δ is the Kronecker delta everywhere (ricci prints it
    so in Unicode, LaTeX reads \\delta so), and cannot name a tensor."""
    p = ricci.parse("y[i] = δ[i,j] * x[j]")
    assert p == ricci.parse("y[i] = delta[i,j] * x[j]")
    assert ricci.parse(p.latex(), syntax="latex") == p
    for text in ("δ = 2", "y = δ", "δ[i] = x[i]"):
        with pytest.raises(ricci.RicciError, match="δ") as e:
            ricci.parse(text)
        assert "Kronecker" in str(e.value)


@pytest.mark.parametrize("text", ["y = delta[k,s] * 2 * delta[l,k]", "y = sum[s](delta[k,s]) * delta[l,k]",
                                  "y[i] = delta[i,s] * delta[s,j] * x[j]"])
def test_size_classes_do_not_depend_on_the_order_of_the_text(text):
    """Fuzz finding #17: an index class tied to no tensor was labelled by the first name met
    (k in delta[k,s], s in sum[s](delta[k,s])), so str(p) parsed to a different program."""
    p = ricci.parse(text)
    assert ricci.parse(str(p)) == p
