"""Declarations: ``S[i,j] : symmetric`` (and ``symmetric positive definite``, ``spd``)."""

import pytest

import ricci

GAUSS = """r[n,i] = x[n,i] - mu[i]
L = sum[n](r[n,i] * inv(S)[i,j] * r[n,j])
S[a,b] : spd
"""


def test_declaration_is_kept_printed_and_round_trips():
    p = ricci.parse(GAUSS)
    assert p.declared == {"S": "symmetric positive definite"}
    assert str(p).splitlines()[0] == "S[i,j] : symmetric positive definite"
    assert ricci.parse(str(p)) == p
    assert str(ricci.parse(str(p))) == str(p)
    # part of equality: the same statements without the declaration are another program
    assert p != ricci.parse(GAUSS.replace("S[a,b] : spd\n", ""))
    assert p != ricci.parse(GAUSS.replace("spd", "symmetric"))
    # the declared matrix is square: its two axes have one dim
    assert p.dims["S"][0] == p.dims["S"][1]


def test_spellings_and_a_consistent_repeat():
    a = ricci.parse("S[i,j] : symmetric positive definite\nL = logdet(S)")
    b = ricci.parse("S[p,q] : spd; L = logdet(S); S[i,j] : spd")
    assert a == b
    assert ricci.parse("L = A[i,i]\nA[i,j] : symmetric").declared == {"A": "symmetric"}


def test_latex_and_unicode_print_declarations_their_readers_read():
    p = ricci.parse(GAUSS)
    tex = p.latex()
    assert tex.splitlines()[1] == r"S_{ij} &: \text{symmetric positive definite} \\"
    assert ricci.parse(tex, syntax="latex") == p
    assert ricci.parse(tex) == p  # detected
    uni = p.unicode()
    assert uni.splitlines()[0] == "S_ij : symmetric positive definite"
    assert ricci.parse(uni, syntax="unicode") == p
    assert ricci.parse(uni) == p
    hot = ricci.parse("Y[n,k] : one-hot\nL = -sum[n,k](Y[n,k] * log(P[n,k]))")
    assert ricci.parse(hot.latex(), syntax="latex") == hot
    assert ricci.parse(hot.unicode(), syntax="unicode") == hot


def test_a_latex_declaration_is_used_by_the_derivation():
    """The Cookbook's Gaussian, written in LaTeX with its covariance declared: the
    textbook's Hessian inv(S) and d logdet(S)/dS = inv(S), proven numerically by check."""
    tex = "\n".join([r"S_{ij} : \text{spd}", r"r_i = x_i - m_i",
                     r"L = \frac{1}{2} \log\det S + \frac{1}{2} r_i (S^{-1})_{ij} r_j"])
    p = ricci.parse(tex)
    assert p.declared == {"S": "symmetric positive definite"}
    assert str(ricci.hessian(p, wrt="m").matrix()).splitlines()[-1] == "H = inv(S)"
    assert str(ricci.grad(r"S_{ij} : \text{symmetric}" + "\n" + r"L = \log\det S", wrt="S").matrix()) == "dS = inv(S)"
    assert ricci.check(p, ["m", "S"]).ok


@pytest.mark.parametrize("text, message, caret", [
    ("S_{ij} : \\text{symetric}\nL = S_{ii}", "did you mean symmetric?", (1, 16)),
    ("S : \\text{spd}\nL = S_{ii}", "a declaration names the matrix with its indices", (1, 3)),
    ("S_{ij} : spd\nL = S_{ii}", "expected a property such as \\text{symmetric}", (1, 10)),
    ("S_{ij} : \\text{spd} + 1\nL = S_{ii}", "expected the end of the declaration", (1, 21)),
    ("x_{i} : \\text{symmetric}\nL = x_i x_i", "only a matrix can be symmetric", (1, 1)),
])
def test_latex_declaration_errors(text, message, caret):
    with pytest.raises(ricci.RicciError) as e:
        ricci.parse(text, syntax="latex")
    assert message in str(e.value)
    assert (e.value.span.line, e.value.span.column) == caret


@pytest.mark.parametrize("text, message, caret", [
    ("S[i,j] : symetric\nL = S[i,i]", "unknown property 'symetric'", (1, 10)),
    ("S[i,j] : symmetric definite\nL = S[i,i]", "unknown property 'symmetric definite'", (1, 10)),
    ("x[i] : symmetric\nL = x[i]", "only a matrix can be symmetric, but 'x' has 1 index", (1, 1)),
    ("T[i,j] : symmetric\nL = T[i,j,k]", "only a matrix can be symmetric, but 'T' has 3 indices", (1, 1)),
    ("S[i,i] : spd\nL = S[i,i]", "repeats index 'i'", (1, 5)),
    ("Y[i,j] = A[i,j] + 1\nY[i,j] : spd", "'Y' is computed", (2, 1)),
    ("S[i,j] : spd\nL = S[i,i]\nS[a,b] : symmetric", "declared symmetric here but symmetric positive definite",
     (3, 1)),
    ("S[i,j] : spd\nL = x[i]", "declared symmetric positive definite but never used", (1, 1)),
    ("S : spd\nL = S[i,i]", "a declaration names the matrix with its indices", (1, 3)),
    ("S[i,j] :\nL = S[i,i]", "expected a property after ':'", (1, 9)),
    ("S[i,j] : spd + 1\nL = S[i,i]", "expected a property such as 'symmetric'", (1, 14)),
])
def test_declaration_errors(text, message, caret):
    with pytest.raises(ricci.RicciError) as e:
        ricci.parse(text)
    assert message in e.value.message
    assert (e.value.span.line, e.value.span.column) == caret
    assert "^" in str(e.value) and e.value.hint


def test_a_declared_matrix_must_be_square_at_call_time():
    d = ricci.grad("S[i,j] : symmetric\nL = x[i] * S[i,j] * y[j]", "x")
    import numpy as np
    with pytest.raises(ricci.RicciError):
        d.compile()(x=np.ones(3), S=np.ones((3, 4)), y=np.ones(4))


SOFTMAX_CE = """Y[n,k] : one-hot
m[n] = sum[k](exp(Z[n,k]))
P[n,k] = exp(Z[n,k]) / m[n]
L = -sum[n,k](Y[n,k] * log(P[n,k])) / size(n)"""


def test_one_hot_declaration_is_kept_and_round_trips():
    p = ricci.parse(SOFTMAX_CE)
    assert p.declared == {"Y": "one-hot"}
    assert str(p).splitlines()[0] == "Y[i,j] : one-hot"
    assert ricci.parse(str(p)) == p
    assert ricci.parse("y[k] : onehot\nL = y[k] * x[k]").declared == {"y": "one-hot"}
    assert str(ricci.parse("y[k] : onehot\nL = y[k] * x[k]")).splitlines()[0] == "y[i] : one-hot"
    # not square: the two axes of a one-hot matrix keep their own dims
    assert p.dims["Y"][0] != p.dims["Y"][1]


@pytest.mark.parametrize("text, message, caret", [
    ("Y[n] : one-hot\nL = Y[n,k] * Z[n,k]", "'Y' has 2 indices where it is used, but its declaration writes 1",
     (1, 1)),
    ("Y[n,n] : one-hot\nL = Y[n,k] * Z[n,k]", "repeats index 'n'", (1, 5)),
    ("Y[n,k] : one hot\nL = Y[n,k] * Z[n,k]", "unknown property 'one hot'", (1, 10)),
])
def test_one_hot_declaration_errors(text, message, caret):
    with pytest.raises(ricci.RicciError) as e:
        ricci.parse(text)
    assert message in e.value.message
    assert (e.value.span.line, e.value.span.column) == caret
    assert "^" in str(e.value) and e.value.hint


def test_one_hot_labels_give_the_textbook_softmax_gradient():
    """CS231n's dZ = (P - Y) / N needs each row of Y to sum to 1: declared, it does; the
    numbers are checked at one-hot labels against autograd, the printed forms as code."""
    import numpy as np

    from support.steps_check import check_steps
    from support.strict_matrix import strict_problems
    d = ricci.grad(SOFTMAX_CE, "Z")
    assert str(d) == "dZ[n,k] = (P[n,k] - Y[n,k]) / size(n)"
    assert str(d.matrix()) == "dZ = (P - Y) / size(n)"
    assert ricci.check(SOFTMAX_CE, "Z").ok
    assert strict_problems(d) == []
    assert check_steps(d) > 0
    assert "one-hot input (declared) (a row of Y sums to 1)" in str(d.steps())
    # the code computes the same numbers as the general form at one-hot labels ...
    rng = np.random.default_rng(0)
    Z = rng.standard_normal((5, 4))
    Y = np.eye(4)[rng.integers(0, 4, 5)]
    general = ricci.grad(SOFTMAX_CE.split("\n", 1)[1], "Z")
    assert "sum(Y, axis=1)" in str(general.matrix())  # without the declaration: the general form
    np.testing.assert_allclose(d.compile()(Z=Z, Y=Y)["Z"], general.compile()(Z=Z, Y=Y)["Z"], atol=1e-14)
    # ... and a sum over another axis of Y is not touched
    other = ricci.grad("Y[n,k] : one-hot\nL = sum[n,k](Y[n,k] * Z[n,k] * sum[m](Y[m,k]))", "Z")
    assert "sum(Y, axis=0)" in str(other.matrix())
