r"""The formulas of the four articles in ``../shared/references/``, read in LaTeX.

Each equation of the articles that is a definition ricci can read is written as the article
typesets it (``ARTICLE`` rows: file, place, LaTeX) beside the same definition in ricci's
notation, written from its meaning; the two must be equal programs, or compute the same
values at random inputs (every dim a distinct size). Derivative statements and chains of
equalities go through :func:`ricci.verify` with their context (``VERIFIED`` rows), checked to
hold. Where the article's text cannot be read, the row holds the minimal rewrite (its place
says "rewritten") and ``REFUSED`` checks that ricci refuses the article's own text with a
message, never reads it silently as something else.

Article 002 (the series introduction) has no equations.

Not read, and why (each checked in ``REFUSED`` where it is one statement):

- 000, Intro/Summary, ``Y = XA``: matrix notation; two one-letter capitals side by side are
  refused (rewritten ``Y_{ij} = X_{ik} A_{kj}``).
- 000, Intro, ``[Y]_{i,j} = \sum_{k\in [1,K]} [X]_{i,k}[A]_{k,j} \quad \text{for all} ...``:
  bracketed elements ``[Y]_{i,j}`` and the "for all" clause are not index notation
  (rewritten ``Y_{ij} = \sum_{k} X_{ik} A_{kj}``).
- 000, ``\frac{\partial y_{ij}}{\partial x_{pq}} = a_{qj}\delta_{ip}`` (and the same for
  ``a_{pq}``, and 003's ``\frac{dY_{ij}}{dX_{kl}} = W_{lj} \delta_{ik}``,
  ``\frac{dY_{ij}}{dW_{kl}} = X_{ik} \delta_{jl}``, ``\frac{df_i}{dv_j} = W_{ij}``,
  ``\frac{df_i}{dW_{jk}} = v_k \delta_{ij}``): Jacobians (derivatives of a tensor with
  indices); verify checks gradients of a scalar and refuses them with a hint; they are
  checked contracted with an upstream gradient ``g`` (``l = g_{ij} y_{ij}``).
- 000, every right side holding ``\frac{\partial l}{\partial y_{pj}}``, the chain rule
  ``\frac{\partial t}{\partial s} = \sum_n ...``, ``(a^T)_{jq}``, and the matrix forms
  ``\frac{\partial l}{\partial X} = \frac{\partial l}{\partial Y} A^T``: a derivative on the
  right side, a transpose written on an element, matrix notation. The upstream gradient is
  written ``g_{pj}`` instead.
- 001, ``df = f_{, i}dx_i`` and every comma derivative (``f_{j, i}``, ``\text{loss}_{,(gh)}``,
  ``\sigma_{i,m}``, ``\hat{y}_{i,(mn)}``), the differentials ``d\text{loss}(\hat{y}_i) =
  2(\hat{y}_j - y_j)d{\hat{y}_j}``, ``d(x^n) = ...``, the prose definitions of
  ``\delta_{ij}`` and ``\delta_{(ij)(kl)}``: not supported by the reader; the loss gradients
  are checked as ``\frac{\partial \text{loss}}{\partial ...}`` instead.
- 001, ``\hat{y}_i = \sigma_i(y_j) = \sigma_i(w_{jk}x_k + b_k)`` and ``\hat{y}_i =
  \sigma_i(w_{jk}x_k)``: ``\sigma_i(...)`` is refused as ambiguous (rewritten with the index
  on the argument; the article's ``b_k`` is read as it means, ``b_j``).
- 001, ``\text{loss}(\hat{y}_i) = (\hat{y}_j - y_j)(\hat{y}_j - y_j) = ...``: a function's
  argument on the left side (rewritten ``\text{loss} = ...``).
- 001, ``m_{ij}x_j = y_i``: the defined tensor on the right (rewritten ``y_i = m_{ij}x_j``).
- 001, ``w^{(t+1)}_{gh} = w^{(t)}_{gh} - \eta \text{loss}_{, (gh)}``: ``^{(t+1)}`` on the
  left is refused ("the left-hand side cannot have a power"), ``^{(t)}`` on the right too
  (only a number in parentheses names a layer); and the comma derivative.
- 003, ``Y = XW + b``, ``A = USV^\top``, ``C = AB``: matrix notation (rewritten in indices).
- 003, ``Y_{ji} = X_j W_{*i} + b_i``: ``*`` as an index (a whole column) is refused.
- 003, ``s_t = \text{activation}(x_t W + s_{t-1} U + b)``: a shifted index ``t-1`` is
  refused (ricci indexes whole axes).
- 003, ``\sum_i \sum_j B_{ijk} A_{ij} = B_{ijk} A_{ij} = C_k``, ``\sum_i B_{ijk} A_{il} =
  B_{ijk} A_{il} = C_{jkl}``, ``B_{ijk} A_{lm} = C_{ijklm}``: the defined tensor last
  (rewritten with it first; the chains checked by verify).
- 003, ``f(v) = w_i v_i = \sum_i w_i v_i``: a function's argument on the left.
- 003, ``A_{ij} = U_{ik} \sigma_k V_{kl}`` (the notes' typo for ``V_{kj}``): refused, ``j``
  is not on the right; ``\sum_l \delta_{kl} V_{lj} = V_{kl}`` (same typo): verify says it
  does not hold.
- 003, the shapes section's ``\frac{dC}{d\mathbf{x}} = (...)``, Taylor series, traces of
  ``\frac{\partial f}{\partial \mathbf{A}} \Delta``, the RNN's ``\frac{\partial L}{\partial
  U} = ...``, ``\delta_{1,1} = \delta_{2,2} = ...``: matrix calculus in prose, numbered
  elements, no index notation.
"""

from __future__ import annotations

import numpy as np
import pytest

import ricci
from ricci import RicciError
from ricci.codegen.binding import all_dims
from ricci.verify.evaluate import evaluate

A0 = "000_1993a847e777137d.txt"  # Levy-Kramer, Gradients of Matrix Multiplication
A1 = "001_a05fc9bb99535379.txt"  # The Calculus You Actually Need for Deep Learning
A3 = "003_1c2990383bc718c9.txt"  # CS189, Everything You Need to Know about Gradients

# (article, place, LaTeX as written (or the minimal rewrite), ricci notation)
ARTICLE = [
    (A0, "Intro, 'Y = XA' (rewritten)", r"Y_{ij} = X_{ik} A_{kj}", "Y[i,j] = X[i,k] * A[k,j]"),
    (A0, "Intro, '[Y]_{i,j} = \\sum_k ...' (rewritten)", r"Y_{ij} = \sum_{k} X_{ik} A_{kj}",
     "Y[i,j] = X[i,k] * A[k,j]"),
    (A0, "Intro, index notation", r"y_{i j} = x_{i k}a_{k j}", "y[i,j] = x[i,k] * a[k,j]"),
    (A1, "Gradient of neuron activation, first", r"\hat{y}_i = \sigma(w_{ij}x_j + b_i)",
     "yhat[i] = sigmoid(w[i,j] * x[j] + b[i])"),
    (A1, "Gradient of neuron activation, '\\sigma_i(w_{jk}x_k + b_k)' (rewritten)",
     r"\hat{y}_j = \sigma(w_{jk}x_k + b_j)", "yhat[j] = sigmoid(w[j,k] * x[k] + b[j])"),
    (A1, "Gradient of neuron activation, '\\sigma_i(w_{jk}x_k)' (rewritten)",
     r"\hat{y}_j = \sigma(w_{jk}x_k)", "yhat[j] = sigmoid(w[j,k] * x[k])"),
    (A1, "loss, first form (rewritten without '(\\hat{y}_i)')",
     r"\text{loss} = (\hat{y}_j - y_j)(\hat{y}_j - y_j)", "loss = sum[j]((yhat[j] - y[j])^2)"),
    (A1, "loss, expanded (rewritten without '(\\hat{y}_i)')",
     r"\text{loss} = \hat{y}_j\hat{y}_j - 2y_j\hat{y}_j + y_jy_j",
     "loss = sum[j](yhat[j]^2) - 2 * sum[j](y[j] * yhat[j]) + sum[j](y[j]^2)"),
    (A1, "Identity matrix, 'm_{ij}x_j = y_i' (rewritten)", r"y_i = m_{ij}x_j", "y[i] = m[i,j] * x[j]"),
    (A3, "Batches, 'Y = XW + b' (rewritten)", r"Y_{nh} = X_{nd} W_{dh} + b_h", "Y[n,h] = X[n,d] * W[d,h] + b[h]"),
    (A3, "Rewriting familiar operations, dot product", r"p = \sum_i v_i u_i", "p = v[i] * u[i]"),
    (A3, "outer product", r"A_{ij} = u_i v_j", "A[i,j] = u[i] * v[j]"),
    (A3, "matrix-vector product", r"w_j = \sum_i A_{ij} v_i", "w[j] = sum[i](A[i,j] * v[i])"),
    (A3, "matrix-matrix product", r"C_{ik} = \sum_j A_{ij} B_{jk}", "C[i,k] = A[i,j] * B[j,k]"),
    (A3, "summation convention list, 1", r"p = v_i u_i", "p = sum[i](v[i] * u[i])"),
    (A3, "summation convention list, 3", r"w_j = A_{ij} v_i", "w[j] = A[i,j] * v[i]"),
    (A3, "summation convention list, 4 (and Code implementation)", r"C_{ik} = A_{ij} B_{jk}",
     "C[i,k] = sum[j](A[i,j] * B[j,k])"),
    (A3, "element-wise product", r"p_i = v_i u_i", "p[i] = v[i] * u[i]"),
    (A3, "weighted product", r"C_{ik} = A_{ij} B_{jk} W_{ik}", "C[i,k] = W[i,k] * sum[j](A[i,j] * B[j,k])"),
    (A3, "weighted product, \\hat{C}", r"\hat{C}_{ik} = A_{ij} B_{jk}", "Chat[i,k] = A[i,j] * B[j,k]"),
    (A3, "more than two dimensions, 1 (rewritten, C_k first)", r"C_k = \sum_i \sum_j B_{ijk} A_{ij}",
     "C[k] = sum[i,j](B[i,j,k] * A[i,j])"),
    (A3, "more than two dimensions, 1, summation convention (rewritten)", r"C_k = B_{ijk} A_{ij}",
     "C[k] = B[i,j,k] * A[i,j]"),
    (A3, "more than two dimensions, 2 (rewritten)", r"C_{jkl} = B_{ijk} A_{il}", "C[j,k,l] = B[i,j,k] * A[i,l]"),
    (A3, "more than two dimensions, 3 (rewritten)", r"C_{ijklm} = B_{ijk} A_{lm}",
     "C[i,j,k,l,m] = B[i,j,k] * A[l,m]"),
    (A3, "Sizes still exist, sum", r"p_i = u_i + v_i", "p[i] = u[i] + v[i]"),
    (A3, "Sizes still exist, outer product", r"B_{ij} = u_i v_j", "B[i,j] = u[i] * v[j]"),
    (A3, "Sizes still exist, outer plus matrix", r"C_{ij} = u_i v_j + A_{ij}", "C[i,j] = u[i] * v[j] + A[i,j]"),
    (A3, "Derivatives, 'f(v) = w_i v_i' (rewritten)", r"f = w_i v_i", "f = w[i] * v[i]"),
    (A3, "Derivatives, f_i", r"f_i = W_{ij} v_j", "f[i] = W[i,j] * v[j]"),
    (A3, "Dealing with a batch", r"Y_{ik} = X_{ij} W_{jk}", "Y[i,k] = X[i,j] * W[j,k]"),
    (A3, "Delta eats indices, first", r"v_i = A_{ij} \delta_{jk} B_{ik}", "v[i] = A[i,k] * B[i,k]"),
    (A3, "Delta eats indices, explicit sums", r"v_i = \sum_k \sum_j A_{ij} \delta_{jk} B_{ik}",
     "v[i] = sum[k](sum[j](A[i,j] * delta[j,k]) * B[i,k])"),
    (A3, "Delta eats indices, B pulled out", r"v_i = \sum_k (B_{ik} \sum_j A_{ij} \delta_{jk})",
     "v[i] = A[i,j] * delta[j,k] * B[i,k]"),
    (A3, "Delta eats indices, result", r"v_i = A_{ik} B_{ik}", "v[i] = A[i,k] * B[i,k]"),
    (A3, "SVD, index form of 'A = USV^\\top'", r"A_{ij} = U_{ik} S_{kl} V_{lj}", "A[i,j] = U[i,k] * S[k,l] * V[l,j]"),
    (A3, "SVD, square diagonal S", r"S_{kl} = \sigma_k \delta_{kl}", "S[k,l] = sigma[k] * delta[k,l]"),
    (A3, "SVD, with delta", r"A_{ij} = U_{ik} \sigma_k \delta_{kl} V_{lj}", "A[i,j] = U[i,k] * sigma[k] * V[k,j]"),
    (A3, "SVD, last form ('V_{kl}' typo read as meant)", r"A_{ij} = U_{ik} \sigma_k V_{kj}",
     "A[i,j] = U[i,k] * sigma[k] * V[k,j]"),
    (A3, "Code implementation, elementwise", r"C_{ij} = A_{ij} B_{ij}", "C[i,j] = A[i,j] * B[i,j]"),
    (A3, "Code implementation, B_{kj}", r"C_{ik} = A_{ij} B_{kj}", "C[i,k] = A[i,j] * B[k,j]"),
]

UP = r"y_{ij} = x_{ik} a_{kj}" "\n" r"l = g_{ij} y_{ij}"  # 000, with the upstream gradient g
NEURON = r"\hat{y}_j = \sigma(w_{jk}x_k)" "\n" r"\text{loss} = (\hat{y}_j - y_j)(\hat{y}_j - y_j)"
AFFINE = r"Y_{jk} = X_{jd} W_{dk} + b_k" "\n" r"L = G_{jk} Y_{jk}"
FV = r"f_i = W_{ij} v_j" "\n" r"L = g_i f_i"
BATCH = r"Y_{ij} = X_{ik} W_{kj}" "\n" r"L = G_{ij} Y_{ij}"
SVD = r"S_{kl} = \sigma_k \delta_{kl}"

# (article, place, claim, context): each equality holds
VERIFIED = [
    (A0, "dY/dX, aligned block, first and last lines",
     r"a_{k j}\delta_{i p}\delta_{k q} = a_{q j}\delta_{i p}", None),
    (A0, "dY/dA, aligned block, last two lines", r"x_{i k} \delta_{k p} \delta_{j q} = x_{i p} \delta_{j q}", None),
    (A0, "dl/dX, aligned block (upstream gradient written g)",
     r"\frac{\partial l}{\partial x_{p q}} = g_{i j} a_{q j}\delta_{i p} = g_{p j} a_{q j}", UP),
    (A0, "dl/dA, aligned block (upstream gradient written g)",
     r"\frac{\partial l}{\partial a_{p q}} = g_{i j} x_{i p} \delta_{j q} = g_{i q} x_{i p}", UP),
    (A1, "Identity matrix, inline", r"\delta_{ij}x_j = x_i", None),
    (A1, "loss, the chain (rewritten without '(\\hat{y}_i)')",
     r"\text{loss} = (\hat{y}_j - y_j)(\hat{y}_j - y_j) = \hat{y}_j\hat{y}_j - 2y_j\hat{y}_j + y_jy_j", None),
    (A1, "'d\\text{loss} = 2(\\hat{y}_j - y_j)d\\hat{y}_j' as a derivative",
     r"\frac{\partial \text{loss}}{\partial \hat{y}_j} = 2(\hat{y}_j - y_j)",
     r"\text{loss} = (\hat{y}_j - y_j)(\hat{y}_j - y_j)"),
    (A1, "'\\text{loss}_{,(gh)}' with \\sigma' = \\sigma(1 - \\sigma)",
     r"\frac{\partial \text{loss}}{\partial w_{gh}} = 2(\hat{y}_g - y_g) \hat{y}_g (1 - \hat{y}_g) x_h", NEURON),
    (A3, "Batches, dL/db_i (upstream gradient written G)", r"\frac{dL}{db_i} = \sum_j G_{ji}", AFFINE),
    (A3, "more than two dimensions, 1", r"\sum_i \sum_j B_{ijk} A_{ij} = B_{ijk} A_{ij}", None),
    (A3, "more than two dimensions, 2", r"\sum_i B_{ijk} A_{il} = B_{ijk} A_{il}", None),
    (A3, "Derivatives, 'f(v) = w_i v_i = \\sum_i w_i v_i' (rewritten)", r"f = w_i v_i = \sum_i w_i v_i", None),
    (A3, "Derivatives, df/dv_i", r"\frac{df}{dv_i} = w_i", r"f = w_i v_i"),
    (A3, "Derivatives, 'df_i/dv_j = W_{ij}' contracted with g", r"\frac{dL}{dv_j} = g_i W_{ij}", FV),
    (A3, "Kronecker delta, 'df_i/dW_{jk} = v_k \\delta_{ij}' contracted with g",
     r"\frac{dL}{dW_{jk}} = g_i v_k \delta_{ij}", FV),
    (A3, "Dealing with a batch, 'dY_{ij}/dX_{kl} = W_{lj} \\delta_{ik}' contracted with G",
     r"\frac{dL}{dX_{kl}} = G_{ij} W_{lj} \delta_{ik}", BATCH),
    (A3, "Dealing with a batch, 'dY_{ij}/dW_{kl} = X_{ik} \\delta_{jl}' contracted with G",
     r"\frac{dL}{dW_{kl}} = G_{ij} X_{ik} \delta_{jl}", BATCH),
    (A3, "Delta eats indices, inner sum", r"\sum_j A_{ij} \delta_{jk} = A_{ik}", None),
    (A3, "Delta eats indices, the other index", r"v_i = A_{ij} \delta_{jk} B_{ik} = A_{ij} B_{ij}", None),
    (A3, "SVD chain", r"A_{ij} = U_{ik} \sigma_k \delta_{kl} V_{lj} = U_{ik} \sigma_k V_{kj}", None),
    (A3, "SVD, delta as identity ('V_{kl}' typo read as meant)", r"\sum_l \delta_{kl} V_{lj} = V_{kj}", None),
    (A3, "SVD, S substituted", r"A_{ij} = U_{ik} S_{kl} V_{lj} = U_{ik} \sigma_k V_{kj}", SVD),
]

# (article, place, the article's text, what ricci's error says)
REFUSED = [
    (A0, "Intro and Summary", r"Y = XA", "juxtaposes two names without indices"),
    (A0, "Intro, bracketed elements",
     r"[Y]_{i,j} = \sum_{k\in [1,K]} [X]_{i,k}[A]_{k,j}  \quad \text{for all} \; i \in [1,I], j \in [1,J]",
     "expected a statement"),
    (A1, "Gradient of neuron activation", r"\hat{y}_i = \sigma_i(w_{jk}x_k)", "is ambiguous"),
    (A1, "loss", r"\text{loss}(\hat{y}_i) = (\hat{y}_j - y_j)(\hat{y}_j - y_j)", "not a function of arguments"),
    (A1, "Identity matrix, inline", r"m_{ij}x_j = y_i", "the defined name alone on the left"),
    (A1, "weights update rule", r"w^{(t+1)}_{gh} = w^{(t)}_{gh} - \eta \text{loss}_{, (gh)}",
     "is a comma derivative"),
    (A1, "Introduction to vector calculus", r"df = f_{, i}dx_i", "expected '='"),
    (A3, "Batches", r"Y = XW + b", "juxtaposes two names without indices"),
    (A3, "Batches, column of W", r"Y_{ji} = X_j W_{*i} + b_i", "unexpected '*'"),
    (A3, "RNN", r"s_t = \text{activation}(x_t W + s_{t-1} U + b)", "unexpected '-'"),
    (A3, "more than two dimensions, 3", r"B_{ijk} A_{lm} = C_{ijklm}", "expected '='"),
    (A3, "Derivatives", r"f(v) = w_i v_i", "expected '='"),
    (A3, "SVD", r"A = USV^\top", "juxtaposes two names without indices"),
    (A3, "SVD, the notes' typo", r"A_{ij} = U_{ik} \sigma_k V_{kl}", "index 'j' on the left of A does not appear"),
    (A3, "Code implementation", r"C = AB", "juxtaposes two names without indices"),
]

# (article, place, a Jacobian claim with its context): verify refuses it with a hint
JACOBIANS = [
    (A0, "dY/dX", r"\frac{\partial y_{i j}}{\partial x_{p q}} = a_{q j}\delta_{i p}", r"y_{ij} = x_{ik} a_{kj}"),
    (A0, "dY/dA", r"\frac{\partial y_{i j}}{\partial a_{p q}} = x_{i p} \delta_{j q}", r"y_{ij} = x_{ik} a_{kj}"),
    (A3, "Derivatives", r"\frac{df_i}{dv_j} = W_{ij}", r"f_i = W_{ij} v_j"),
    (A3, "Kronecker delta", r"\frac{df_i}{dW_{jk}} = v_k \delta_{ij}", r"f_i = W_{ij} v_j"),
    (A3, "Dealing with a batch", r"\frac{dY_{ij}}{dX_{kl}} = W_{lj} \delta_{ik}", r"Y_{ij} = X_{ik} W_{kj}"),
]

SIZES = (2, 3, 4, 5, 6)


def _values(tex_prog: ricci.Program, ricci_prog: ricci.Program, seed: int):
    dims = list(dict.fromkeys([*(d for v in tex_prog.dims.values() for d in v), *all_dims(tex_prog)]))
    assert len(dims) <= len(SIZES)
    size = {d: SIZES[k] for k, d in enumerate(dims)}
    rng = np.random.default_rng(seed)
    arrays = {n: rng.standard_normal(tuple(size[d] for d in tex_prog.dims[n])) for n in tex_prog.inputs}
    assert set(ricci_prog.inputs) == set(arrays)
    other = {}
    for n, a in arrays.items():
        for d, s in zip(ricci_prog.dims[n], a.shape):
            other[d] = s
    other.update({d: size.get(d, 2) for d in all_dims(ricci_prog) if d not in other})
    return (evaluate(tex_prog, arrays, dim_sizes=size), evaluate(ricci_prog, arrays, dim_sizes=other))


@pytest.mark.parametrize("article, where, tex, text", ARTICLE, ids=[f"{a[:3]}-{w}" for a, w, _, _ in ARTICLE])
def test_article_equation_reads_as_its_ricci_form(article, where, tex, text):
    a = ricci.parse(tex, syntax="latex")
    b = ricci.parse(text, syntax="ricci")
    assert list(a.defined) == list(b.defined)
    if a == b:
        return
    for seed in (0, 1):
        va, vb = _values(a, b, seed)
        for name in a.defined:
            assert np.shape(va[name]) == np.shape(vb[name])
            np.testing.assert_allclose(va[name], vb[name], rtol=1e-10, atol=1e-12)


def test_the_table_distinguishes_a_wrong_reading():
    # the comparison of the table is not vacuous: a transposed reading is caught
    a = ricci.parse(r"C_{ik} = A_{ij} B_{kj}", syntax="latex")
    b = ricci.parse("C[i,k] = A[i,j] * B[j,k]", syntax="ricci")
    assert a != b
    with pytest.raises((AssertionError, RicciError)):  # sizes disagree, or values differ
        test_article_equation_reads_as_its_ricci_form(A3, "", r"w_j = A_{ij} v_i", "w[j] = A[j,i] * v[i]")
    with pytest.raises(AssertionError):  # same shapes, different values
        test_article_equation_reads_as_its_ricci_form(A3, "", r"p = v_i u_i", "p = 2 * v[i] * u[i]")


@pytest.mark.parametrize("article, where, claim, context", VERIFIED, ids=[f"{a[:3]}-{w}" for a, w, _, _ in VERIFIED])
def test_article_derivation_holds(article, where, claim, context):
    rep = ricci.verify(claim, context=context)
    assert rep.results and rep.ok, str(rep)


@pytest.mark.parametrize("article, where, tex, message", REFUSED, ids=[f"{a[:3]}-{w}" for a, w, _, _ in REFUSED])
def test_what_cannot_be_read_is_refused_with_a_message(article, where, tex, message):
    with pytest.raises(RicciError) as e:
        ricci.parse(tex, syntax="latex")
    assert message in str(e.value)


@pytest.mark.parametrize("article, where, claim, context", JACOBIANS, ids=[f"{a[:3]}-{w}" for a, w, _, _ in JACOBIANS])
def test_article_jacobians_are_refused_by_verify_with_a_hint(article, where, claim, context):
    with pytest.raises(RicciError) as e:
        ricci.verify(claim, context=context)
    assert "not a Jacobian" in e.value.message and "upstream gradient" in (e.value.hint or "")


def test_the_cs189_typos_are_caught():
    r = ricci.verify(r"\sum_l \delta_{kl} V_{lj} = V_{kl}")
    assert not r.ok and r.results[0].diagnosis == "the left side has free indices k,j; the right side k,l"
    # the "naive pattern match" the notes warn about, contracted with g
    r = ricci.verify(r"\frac{dL}{dW_{jk}} = g_i v_j", context=FV)
    assert r.results[0].diagnosis == ("wrong shape: the claim has free indices i,j, but the derivative has "
                                      "the indices of W: j,k")
