"""ricci.verify: chains of equalities and claimed derivatives, each verdict and diagnosis
computed (symbolically or at random inputs), and the CLI's exit statuses."""

from __future__ import annotations

import pytest

import ricci
from ricci import RicciError, verify
from ricci.cli import main

SVD = r"S_{kl} = \sigma_k \delta_{kl}"
SOFTMAX = ("Y[n,k] : one-hot\nZ[n,k] = X[n,d] * W[d,k] + b[k]\nm[n] = sum[k](exp(Z[n,k]))\n"
           "P[n,k] = exp(Z[n,k]) / m[n]\nL = -sum[n,k](Y[n,k] * log(P[n,k]))")
LSQ = "L = sum[n]((X[n,d] * w[d] - y[n])^2)"


def one(report: ricci.VerifyReport):
    (r,) = report.results
    return r


# ---------------------------------------------------------------- chains

def test_svd_chain_of_the_cs189_notes_holds_symbolically():
    rep = verify(r"A_{ij} = U_{ik} S_{kl} V_{lj} = U_{ik} \sigma_k V_{kj}", context=SVD)
    assert rep.ok and rep.defines == "A"
    assert one(rep).method == "symbolic"


def test_delta_eats_an_index_both_ways():
    rep = verify(r"v_i = A_{ij} \delta_{jk} B_{ik} = A_{ik} B_{ik} = A_{ij} B_{ij}")
    assert rep.ok and [r.method for r in rep.results] == ["symbolic", "symbolic"]


def test_matmul_with_a_delta_against_a_defined_product():
    rep = verify("C[i,k] = A[i,j] * delta[j,l] * B[l,k]", context="C[i,k] = A[i,j] * B[j,k]")
    assert rep.ok and rep.defines is None


def test_trace_identity_is_cyclic():
    rep = verify("t = A[i,j] * B[j,k] * C[k,i] = B[j,k] * C[k,i] * A[i,j] = C[k,i] * A[i,j] * B[j,k]")
    assert rep.ok and len(rep.results) == 2


def test_a_numeric_verdict_when_the_simplifier_cannot_decide():
    rep = verify("t = log(a) + log(b) = log(a * b)")
    assert rep.ok and one(rep).method == "numeric"


def test_mismatched_free_indices_are_the_diagnosis():
    # the typo of the CS189 notes' last SVD line: V_{kl}
    rep = verify(r"A_{ij} = U_{ik} S_{kl} V_{lj} = U_{ik} \sigma_k V_{kl}", context=SVD)
    r = one(rep)
    assert not rep.ok and r.method == "symbolic"
    assert r.diagnosis == "the left side has free indices i,j; the right side i,l"


def test_a_constant_factor_in_a_chain():
    rep = verify("t = A[i,j] * B[j,i] = 2 * A[i,j] * B[j,i]")
    assert one(rep).diagnosis == "off by a factor 2"


def test_a_transpose_in_a_chain_of_square_matrices():
    rep = verify("T[i,j] = A[i,k] * B[k,j] = A[j,k] * B[k,i]", context="A[i,k] = M[i,l] * M[l,k]\n"
                 "N[i,j] = M[j,i]\nB[k,j] = M[k,l] * N[l,j]")
    assert one(rep).diagnosis == "a transpose is missing: swapping indices i and j of the claim gives the left side"


def test_different_shapes_in_a_chain():
    rep = verify("t[i,j] = A[i,k] * B[k,j] = A[j,k] * B[k,i]")
    assert one(rep).diagnosis.startswith("the two sides have different shapes")


# ---------------------------------------------------------------- derivatives

@pytest.mark.parametrize("claim", [
    r"\frac{\partial L}{\partial W_{ij}} = X_{ni} (P_{nj} - Y_{nj})",
    "dL/dW[i,j] = X[n,i] * (P[n,j] - Y[n,j])",
    "dW[d,k] = X[n,d] * P[n,k] - X[n,d] * Y[n,k]",
])
def test_softmax_cross_entropy_gradient_is_right(claim):
    assert verify(claim, context=SOFTMAX).ok


@pytest.mark.parametrize("claim", [
    "dL/dw[e] = 2 * X[n,e] * (X[n,d] * w[d] - y[n])",
    r"\frac{\partial L}{\partial w_e} = 2 X_{ne} X_{nd} w_d - 2 X_{ne} y_n",
])
def test_least_squares_gradient_is_right(claim):
    assert verify(claim, context=LSQ).ok


@pytest.mark.parametrize("claim, context, diagnosis", [
    (r"\frac{\partial L}{\partial W_{ij}} = X_{nj} (P_{ni} - Y_{ni})", SOFTMAX,
     "a transpose is missing: the claim has shape 5×4, the input 4×5; swapping indices i and j of "
     "the claim gives ricci's result"),
    (r"\frac{\partial L}{\partial b_j} = P_{nj} - Y_{nj}", SOFTMAX,
     "a sum over the batch is missing: the claim keeps index n; summed over n it is ricci's result"),
    ("dL/dW[i,j] = 2 * X[n,i] * (P[n,j] - Y[n,j])", SOFTMAX, "off by a factor 2"),
    ("dW[i,j] = X[n,i] * (Y[n,j] - P[n,j])", SOFTMAX, "the sign is wrong"),
    ("dL/dW[i,j] = X[n,i] * P[n,j]", SOFTMAX,
     "a term is missing: ricci's result has the term -X[n,i] * Y[n,j], the claim lacks it"),
    ("dL/dw[e] = 2 * X[n,e] * X[n,d] * w[d]", LSQ,
     "a term is missing: ricci's result has the term -2 * X[n,e] * y[n], the claim lacks it"),
    ("dL/dw[e] = 2 * X[n,e] * X[n,d] * w[d] + 2 * X[n,e] * y[n]", LSQ,
     "the sign of the term 2 * X[n,e] * y[n] is wrong"),
    ("dL/dw[e] = 2 * X[n,e] * X[n,d] * w[d] - 4 * X[n,e] * y[n]", LSQ,
     "the term -4 * X[n,e] * y[n] is off by a factor 2"),
    ("dL/dw[e] = 2 * X[n,e] * (X[n,d] * w[d] - y[n]) + w[e]", LSQ,
     "the term w[e] should not be there: without it the claim is ricci's result"),
    ("dL/dw[e] = X[n,e] * (X[n,d] * w[d] - y[n])", LSQ, "off by a factor 1/2"),
    (r"\frac{\partial L}{\partial W_{ij}} = X_{ni} P_{nj}", SOFTMAX,
     "a term is missing: ricci's result has the term -X[n,i] * Y[n,j], the claim lacks it"),
    ("dL/dW[i,j] = X[n,i]", SOFTMAX,
     "wrong shape: the claim has free indices n,i, but the derivative has the indices of W: i,j"),
])
def test_wrong_derivatives_are_diagnosed(claim, context, diagnosis):
    rep = verify(claim, context=context)
    r = one(rep)
    assert not rep.ok and not r.holds
    assert r.diagnosis == diagnosis
    assert r.correct and r.correct_matrix  # ricci's form beside it


# ---------------------------------------------------------------- hand derivations
# Realistic models; each claim is what a student writes, correct (True) or with a classic
# mistake (the exact diagnosis): factor 2, sign, missing term, missing batch sum, missing
# transpose, W x for x W (a factor transposed), wrong shape.

RIDGE = "L = sum[n]((X[n,d] * w[d] - y[n])^2) + lam * sum[d](w[d]^2)"
LOGREG = "p[n] = sigmoid(X[n,d] * w[d])\nL = -sum[n](y[n] * log(p[n]) + (1 - y[n]) * log(1 - p[n]))"
AFFINE = "Y[n,h] = X[n,d] * W[d,h] + b[h]\nL = sum[n,h](G[n,h] * Y[n,h])"
MLP = "H[n,h] = tanh(X[n,d] * W[d,h] + b[h])\nL = sum[n,h](G[n,h] * H[n,h])"
CENTER = "C[n,d] = x[n,d] - sum[e](x[n,e]) / size(e)\nL = sum[n,d](G[n,d] * C[n,d])"
LNSCALE = "Yn[n,d] = g[d] * xh[n,d] + beta[d]\nL = sum[n,d](G[n,d] * Yn[n,d])"
ATTN = "S[n,m] = Q[n,k] * K[m,k]\nL = sum[n,m](G[n,m] * S[n,m])"
QUAD = "f = x[i] * A[i,j] * x[j]"
QSYM = "A[i,j] : symmetric\nf = x[i] * A[i,j] * x[j]"
TRACE = "t = A[i,j] * B[j,i]"
LOGDET = "L = logdet(S)"
INV = "L = sum[i,j](G[i,j] * inv(A)[i,j])"
LIN = "y[i] = W[i,j] * x[j]\nL = sum[i](g[i] * y[i])"
LSQ_TEX = r"L = \sum_n (X_{nd} w_d - y_n)^2"
MLP_TEX = r"H_{nh} = \tanh(X_{nd} W_{dh} + b_h)" "\n" r"L = \sum_{n,h} G_{nh} H_{nh}"
ATTN_TEX = r"S_{nm} = Q_{nk} K_{mk}" "\n" r"L = \sum_{n,m} G_{nm} S_{nm}"
LOGREG_TEX = r"p_n = \sigma(X_{nd} w_d)" "\n" r"L = -\sum_n (y_n \log p_n + (1 - y_n) \log(1 - p_n))"

DERIVATIONS = [
    ('lsq', LSQ, 'dL/dw[e] = 2 * X[n,e] * (X[n,d] * w[d] - y[n])',
     True),
    ('lsq latex', LSQ_TEX, '\\frac{\\partial L}{\\partial w_e} = 2 X_{ne} (X_{nd} w_d - y_n)',
     True),
    ('ridge', RIDGE, 'dL/dw[e] = 2 * X[n,e] * (X[n,d] * w[d] - y[n]) + 2 * lam * w[e]',
     True),
    ('ridge latex', RIDGE, '\\frac{\\partial L}{\\partial w_e} = 2 X_{ne} (X_{nd} w_d - y_n) + 2 \\mathrm{lam} w_e',
     True),
    ('logreg', LOGREG, 'dL/dw[d] = X[n,d] * (p[n] - y[n])',
     True),
    ('logreg latex', LOGREG_TEX, '\\frac{\\partial L}{\\partial w_d} = X_{nd} (p_n - y_n)',
     True),
    ('softmax W', SOFTMAX, 'dL/dW[d,k] = X[n,d] * (P[n,k] - Y[n,k])',
     True),
    ('softmax b latex', SOFTMAX, '\\frac{\\partial L}{\\partial b_k} = \\sum_n (P_{nk} - Y_{nk})',
     True),
    ('affine X', AFFINE, 'dL/dX[n,d] = G[n,h] * W[d,h]',
     True),
    ('affine W', AFFINE, 'dW[d,h] = X[n,d] * G[n,h]',
     True),
    ('affine b latex', AFFINE, '\\frac{\\partial L}{\\partial b_h} = \\sum_n G_{nh}',
     True),
    ('mlp W', MLP, 'dL/dW[d,h] = sum[n](X[n,d] * G[n,h] * (1 - H[n,h]^2))',
     True),
    ('mlp X latex', MLP_TEX, '\\frac{\\partial L}{\\partial X_{nd}} = \\sum_h G_{nh} (1 - H_{nh}^2) W_{dh}',
     True),
    ('centering', CENTER, 'dL/dx[n,d] = G[n,d] - sum[e](G[n,e]) / size(d)',
     True),
    ('ln scale', LNSCALE, 'dL/dg[d] = sum[n](G[n,d] * xh[n,d])',
     True),
    ('ln shift latex', LNSCALE, '\\frac{\\partial L}{\\partial \\beta_d} = \\sum_n G_{nd}',
     True),
    ('attention Q', ATTN, 'dL/dQ[n,k] = G[n,m] * K[m,k]',
     True),
    ('attention K latex', ATTN_TEX, '\\frac{\\partial L}{\\partial K_{mk}} = G_{nm} Q_{nk}',
     True),
    ('quadratic', QUAD, 'df/dx[k] = A[k,j] * x[j] + A[j,k] * x[j]',
     True),
    ('quadratic symmetric', QSYM, 'df/dx[k] = 2 * A[k,j] * x[j]',
     True),
    ('trace', TRACE, 'dt/dA[i,j] = B[j,i]',
     True),
    ('logdet', LOGDET, 'dL/dS[i,j] = inv(S)[j,i]',
     True),
    ('inverse', INV, 'dL/dA[k,l] = -inv(A)[i,k] * G[i,j] * inv(A)[l,j]',
     True),
    ('lsq factor 2', LSQ, 'dL/dw[e] = X[n,e] * (X[n,d] * w[d] - y[n])',
     'off by a factor 1/2'),
    ('lsq latex sign', LSQ_TEX, '\\frac{\\partial L}{\\partial w_e} = 2 X_{ne} (y_n - X_{nd} w_d)',
     'the sign is wrong'),
    ('ridge missing term', RIDGE, 'dL/dw[e] = 2 * X[n,e] * (X[n,d] * w[d] - y[n])',
     "a term is missing: ricci's result has the term 2 * lam * w[e], the claim lacks it"),
    ('ridge latex penalty factor', RIDGE, '\\frac{\\partial L}{\\partial w_e} = 2 X_{ne} X_{nd} w_d - 2 X_{ne} y_n + \\mathrm{lam} w_e',
     'the term lam * w[e] is off by a factor 1/2'),
    ('logreg sign', LOGREG, 'dL/dw[d] = X[n,d] * (y[n] - p[n])',
     'the sign is wrong'),
    ('logreg missing X', LOGREG_TEX, '\\frac{\\partial L}{\\partial w_d} = \\sum_n (p_n - y_n)',
     'wrong shape: the claim has free indices none (a scalar), but the derivative has the indices of w: d'),
    ('softmax transpose latex', SOFTMAX, '\\frac{\\partial L}{\\partial W_{ij}} = X_{nj} (P_{ni} - Y_{ni})',
     "a transpose is missing: the claim has shape 5×4, the input 4×5; swapping indices i and j of the claim gives ricci's result"),
    ('softmax b batch', SOFTMAX, 'dL/db[k] = P[n,k] - Y[n,k]',
     "a sum over the batch is missing: the claim keeps index n; summed over n it is ricci's result"),
    ('softmax b latex batch', SOFTMAX, '\\frac{\\partial L}{\\partial b_k} = P_{nk} - Y_{nk}',
     "a sum over the batch is missing: the claim keeps index n; summed over n it is ricci's result"),
    ('affine X swapped', AFFINE, 'dL/dX[n,d] = G[n,h] * W[h,d]',
     'a factor is transposed: W[h,d] should be W[d,h] (in matrix notation: W where W^T belongs, or the operands in the wrong order, as W x for x W)'),
    ('affine W transpose', AFFINE, 'dL/dW[d,h] = X[n,h] * G[n,d]',
     "a transpose is missing: the claim has shape 5×4, the input 4×5; swapping indices d and h of the claim gives ricci's result"),
    ('affine b batch', AFFINE, 'dL/db[h] = G[n,h]',
     "a sum over the batch is missing: the claim keeps index n; summed over n it is ricci's result"),
    ('affine X sign latex', AFFINE, '\\frac{\\partial L}{\\partial X_{nd}} = -G_{nh} W_{dh}',
     'the sign is wrong'),
    ('mlp missing derivative', MLP, 'dL/dW[d,h] = X[n,d] * G[n,h]',
     "a term is missing: ricci's result has the term -sum[n](G[n,h] * X[n,d] * tanh(b[h] + W[p,h] * X[n,p])^2), the claim lacks it"),
    ('mlp latex wrong shape', MLP_TEX, '\\frac{\\partial L}{\\partial W_{dh}} = \\sum_n G_{nh} (1 - H_{nh}^2)',
     'wrong shape: the claim has free indices h, but the derivative has the indices of W: d,h'),
    ('centering missing term', CENTER, 'dL/dx[n,d] = G[n,d]',
     "a term is missing: ricci's result has the term -sum[d](G[n,d]) / size(d), the claim lacks it"),
    ('attention swapped', ATTN, 'dL/dK[m,k] = G[m,n] * Q[n,k]',
     'a factor is transposed: G[m,n] should be G[n,m] (in matrix notation: G where G^T belongs, or the operands in the wrong order, as W x for x W)'),
    ('attention latex factor', ATTN_TEX, '\\frac{\\partial L}{\\partial Q_{nk}} = 2 G_{nm} K_{mk}',
     'off by a factor 2'),
    ('linear W x for x W', LIN, 'dL/dx[j] = W[j,i] * g[i]',
     'a factor is transposed: W[j,i] should be W[i,j] (in matrix notation: W where W^T belongs, or the operands in the wrong order, as W x for x W)'),
    ('trace transpose', TRACE, 'dt/dA[i,j] = B[i,j]',
     "a transpose is missing: the claim has shape 4×3, the input 3×4; swapping indices i and j of the claim gives ricci's result"),
    ('logdet transpose latex', LOGDET, '\\frac{\\partial L}{\\partial S_{ij}} = (S^{-1})_{ij}',
     "a transpose is missing: swapping indices i and j of the claim gives ricci's result"),
    ('inverse sign', INV, 'dL/dA[k,l] = inv(A)[i,k] * G[i,j] * inv(A)[l,j]',
     'the sign is wrong'),
    ('logdet mean', 'L = sum[n](logdet(S) * c[n])', 'dL/dS[i,j] = c[n] * inv(S)[j,i]',
     "a sum over the batch is missing: the claim keeps index n; summed over n it is ricci's result"),
]


def test_the_table_has_twenty_of_each():
    assert sum(e is True for *_, e in DERIVATIONS) >= 20
    assert sum(isinstance(e, str) for *_, e in DERIVATIONS) >= 20


@pytest.mark.parametrize("name, context, claim, expected", DERIVATIONS, ids=[d[0] for d in DERIVATIONS])
def test_hand_derivation(name, context, claim, expected):
    rep = verify(claim, context=context)
    r = one(rep)
    if expected is True:
        assert rep.ok and r.diagnosis is None, str(rep)
    else:
        assert not rep.ok and not r.holds
        assert r.diagnosis == expected
        assert r.correct and r.correct_matrix


def test_the_summary_line_agrees_in_number():
    assert str(verify("t = x[i] * y[i] = y[i] * x[i] = x[i] * y[i]")).endswith("2 of 2 equalities hold")
    text = str(verify("dW[i,j] = X[n,i] * (Y[n,j] - P[n,j])", context=SOFTMAX))
    assert text.endswith("0 of 1 equality holds")
    assert str(verify(r"\delta_{ij}x_j = x_i")).endswith("1 of 1 equality holds")


def test_an_index_of_the_input_written_three_times_stays_free():
    # the left side says g survives, as in a ricci statement (not a sum over g)
    rep = verify(r"\frac{\partial L}{\partial w_{gh}} = 2(\hat{y}_g - y_g) \hat{y}_g (1 - \hat{y}_g) x_h",
                 context=r"\hat{y}_j = \sigma(w_{jk}x_k)" "\n" r"L = (\hat{y}_j - y_j)(\hat{y}_j - y_j)")
    assert rep.ok


def test_a_jacobian_claim_is_refused_with_a_hint():
    with pytest.raises(RicciError, match="not a Jacobian") as e:
        verify(r"\frac{df_i}{dv_j} = W_{ij}", context=r"f_i = W_{ij} v_j")
    assert e.value.hint == "contract with an upstream gradient: add 'L = g[p] * f[p]' to the context and claim dL/dv"

def test_correct_form_is_printed_beside_a_wrong_claim():
    text = str(verify("dW[i,j] = X[n,i] * (Y[n,j] - P[n,j])", context=SOFTMAX))
    assert "DOES NOT HOLD (numeric)" in text and "ricci: dW[d,k] = X[n,d] * dZ[n,k]" in text
    assert "matrix: dW = X.T @ dZ" in text


# ---------------------------------------------------------------- errors

def test_unparsable_claim_points_at_the_side():
    with pytest.raises(RicciError) as e:
        verify("t = A[i,j] * B[j,i] = A[i,j] * * B[j,i]")
    assert e.value.column == 32 and "^" in str(e.value)


def test_a_claim_without_an_equality_is_refused():
    with pytest.raises(RicciError, match="nothing to verify"):
        verify("A[i,j] * B[j,k]")


def test_a_derivative_needs_its_context():
    with pytest.raises(RicciError, match="needs the program"):
        verify("dL/dW[i,j] = X[n,i]")


def test_a_derivative_of_a_non_input():
    with pytest.raises(RicciError, match="not an input"):
        verify("dL/dQ[i,j] = X[n,i]", context=SOFTMAX)


@pytest.mark.parametrize("kwargs", [{"context": 3}, {"syntax": "tex"}, {"seed": "0"}, {"wrt": 1}])
def test_bad_arguments_are_ricci_errors(kwargs):
    with pytest.raises(RicciError):
        verify("t = x[i] * y[i] = y[i] * x[i]", **kwargs)


# ---------------------------------------------------------------- CLI

def test_cli_exit_statuses(capsys):
    assert main(["verify", r"A_{ij} = U_{ik} S_{kl} V_{lj} = U_{ik} \sigma_k V_{kj}", "--given", SVD]) == 0
    assert "holds (symbolic)" in capsys.readouterr().out
    assert main(["verify", "dW[i,j] = X[n,i] * (Y[n,j] - P[n,j])", "--given", SOFTMAX]) == 1
    assert "the sign is wrong" in capsys.readouterr().out


def test_cli_bad_input_is_one_error_line(capsys):
    assert main(["verify", "t = x[i] = (y[i]"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("ricci: error:") and "Traceback" not in err


# ---------------------------------------------------------------- matrix-notation claims

GAUSS = "S[i,j] : spd\nr[i] = x[i] - m[i]\nL = 0.5 * logdet(S) + 0.5 * r[i] * inv(S)[i,j] * r[j]"


@pytest.mark.parametrize("claim, context", [
    ("dL/dW = X^T (P - Y)", SOFTMAX),                      # on paper
    ("dL/dW = X.T @ (P - Y)", SOFTMAX),                    # NumPy
    (r"\frac{\partial L}{\partial W} = X^\top (P - Y)", SOFTMAX),
    ("dW = X.T @ (P - Y)", SOFTMAX),
    ("dL/db = sum(P - Y, axis=0)", SOFTMAX),
    ("dL/db = sum(P, axis=0) - sum(Y, axis=0) = sum(P - Y, axis=0)", SOFTMAX),
    ("dL/dw = 2 X^T (X w - y)", LSQ),
    ("dL/dw = 2 * X.T @ (X @ w - y)", LSQ),
    ("dL/dm = -S^{-1} (x - m)", GAUSS),
    ("dL/dm = -inv(S) @ r", GAUSS),
    ("dL/dx = (A + A^T) x", "L = x[i] * A[i,j] * x[j]"),
])
def test_matrix_notation_claims_that_hold(claim, context):
    rep = verify(claim, context=context)
    assert rep.ok, str(rep)
    assert "in index notation:" in rep.results[0].rhs


@pytest.mark.parametrize("claim, context, diagnosis", [
    ("dL/dW = X.T @ (Y - P)", SOFTMAX, "the sign is wrong"),
    ("dL/dW = (P - Y).T @ X", SOFTMAX, "a transpose is missing"),
    ("dL/db = P - Y", SOFTMAX, "a sum over the batch is missing: the claim keeps index n"),
    ("dL/dW = 2 X^T (P - Y)", SOFTMAX, "off by a factor 2"),
    ("dL/dw = X^T (X w - y)", LSQ, "off by a factor 1/2"),
    ("dL/dm = S^{-1} r", GAUSS, "the sign is wrong"),
    ("dL/dx = A x", "L = x[i] * A[i,j] * x[j]", "a term is missing"),
])
def test_matrix_notation_claims_that_are_wrong_are_diagnosed(claim, context, diagnosis):
    rep = verify(claim, context=context)
    assert not rep.ok
    assert diagnosis in rep.results[0].diagnosis


def test_a_matrix_claim_whose_product_does_not_fit_names_both_shapes():
    with pytest.raises(RicciError) as e:
        verify("dL/dW = X.T @ (P - Y) @ X", context=SOFTMAX)
    msg = str(e.value)
    assert "cannot read the claim as matrix notation" in msg and "[n, d]" in msg and "differ" in msg
    assert e.value.span is not None and e.value.span.column == 9


@pytest.mark.parametrize("claim", ["dL/dx = 2 A x", "dL/dx[i] = 2 * A[i,j] * x[j]", r"\frac{\partial L}{\partial x_i} = 2 A_{ij} x_j"])
def test_a_claim_true_only_for_a_symmetric_matrix_says_so(claim):
    rep = verify(claim, context="L = x[i] * A[i,j] * x[j]")
    assert not rep.ok
    assert rep.results[0].diagnosis.startswith("it holds only when A is symmetric (A = A^T)")
    # declared symmetric, the same claim holds
    assert verify(claim, context="A[i,j] : symmetric\nL = x[i] * A[i,j] * x[j]").ok
