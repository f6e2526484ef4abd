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
