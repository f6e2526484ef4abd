"""The rewrite rules, family by family. Every rewrite is also checked numerically:
the statement before and after simplification evaluates to the same numbers."""

import numpy as np
import pytest

import ricci
from ricci.display.render import statement_text
from ricci.ir.program import Program
from ricci.simplify.rewrite import RULES, simplify
from ricci.verify.evaluate import evaluate


def simp(text: str, sizes=None) -> str:
    """Simplify the last statement of ``text``; check the result numerically; return it printed."""
    p = ricci.parse(text)
    st = p.statements[-1]
    new = simplify(st.rhs)
    q = Program(p.statements[:-1] + (st.replace(new),), p.dims, dim_names=p.dim_names)
    rng = np.random.default_rng(1)
    label_size = {}
    for k, d in enumerate(sorted({d for ds in p.dims.values() for d in ds})):
        label_size[d] = (sizes or {}).get(d, 2 + k)
    from ricci.codegen.binding import all_dims

    for d in all_dims(p):
        label_size.setdefault(d, 3)
    inputs = {n: rng.uniform(0.5, 1.5, [label_size[d] for d in p.dims[n]]) for n in p.inputs}
    a = evaluate(p, inputs, dim_sizes=label_size)[st.name]
    b = evaluate(q, {n: inputs[n] for n in q.inputs}, dim_sizes=label_size)[st.name]
    np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)
    return statement_text(st.replace(new), reorder=True)


# -- the Kronecker delta

def test_delta_eats_a_summed_index():
    assert simp("y[i] = A[i,j]*delta[j,k]*x[k]") == "y[i] = A[i,k] * x[k]"
    assert simp("Y[i,k] = A[i,j]*delta[j,k]") == "Y[i,k] = A[i,k]"


def test_delta_eats_inside_functions_and_sums_of_terms():
    assert simp("y[i] = sum[j](tanh(A[i,j] + 1) * delta[j,i])") == "y[i] = tanh(1 + A[i,i])"
    assert simp("y[k] = sum[j](delta[j,k] * (A[j] + B[j]))") == "y[k] = A[k] + B[k]"
    # a delta inside a sum of terms is distributed so that it can eat
    assert simp("y[k] = sum[j](A[j] * (delta[j,k] + B[j]))") == "y[k] = A[k] + A[j] * B[j]"


def test_delta_between_free_indices_stays():
    assert simp("Y[i,p] = x[i] * delta[i,p]") == "Y[i,p] = x[i] * delta[i,p]"
    assert simp("Y[p,i] = delta[p,i]") == "Y[p,i] = delta[i,p]"


def test_delta_trace_is_the_size():
    assert simp("t = delta[i,i]") == "t = size(i)"
    assert simp("t = delta[i,j]*delta[j,i]") == "t = size(j)"
    assert simp("y[i] = delta[i,i]") == "y[i] = 1"


def test_delta_chains_and_many_indices():
    assert simp("Y[a,c] = delta[a,b]*delta[b,c]") == "Y[a,c] = delta[a,c]"
    assert simp("Y[i,j,k] = delta[i,j,k,k]") == "Y[i,j,k] = delta[i,j,k]"
    assert simp("Y[i,j] = sum[k](delta[i,j,k])") == "Y[i,j] = delta[i,j]"
    assert simp("Y[i,j] = delta[i,j]^2") == "Y[i,j] = delta[i,j]"


# -- sums

def test_sum_of_an_unused_index_is_a_size():
    assert simp("y[i] = sum[k](x[i]) + x[j]*w[j]") == "y[i] = size(k) * x[i] + w[j] * x[j]"


def test_sums_split_over_terms_and_nest():
    assert simp("y = sum[i](x[i] + 2)") == "y = 2 * size(i) + sum[i](x[i])"
    assert simp("y = sum[i](sum[j](A[i,j]))") == "y = sum[i,j](A[i,j])"
    assert simp("y = sum[i](0 * x[i])") == "y = 0"


def test_empty_sums_vanish():
    from ricci.ir.expr import Index, Sum, Tensor

    x = Tensor("x", (Index("i", "x:0"),))
    assert simplify(Sum((), x)) == x


def test_nested_sums_of_terms_flatten():
    assert simp("y[i] = x[i] + (u[i] + v[i])") == "y[i] = u[i] + v[i] + x[i]"


def test_sums_hoist_out_of_products():
    # a product of two contractions becomes one contraction (one einsum)
    assert simp("y = sum[i](x[i]*u[i]) * sum[i](v[i]*w[i])") == "y = u[j] * x[j] * v[i] * w[i]"


# -- constants, zero and one

def test_constant_folding():
    assert simp("y[i] = 2 * x[i] * 3") == "y[i] = 6 * x[i]"
    assert simp("y[i] = x[i] + 1 + 2") == "y[i] = 3 + x[i]"
    assert simp("y[i] = 2^3 * x[i] + 4^0.5") == "y[i] = 2 + 8 * x[i]"
    assert simp("y[i] = exp(0) * x[i] + log(1)") == "y[i] = x[i]"
    assert simp("y[i] = x[i] * sigmoid(0)") == "y[i] = 0.5 * x[i]"


def test_zero_and_one():
    assert simp("y[i] = 0 * x[i] + x[i] * 1") == "y[i] = x[i]"
    assert simp("y[i] = x[i] - x[i]") == "y[i] = 0"
    assert simp("y[i] = x[i]^1 + x[i]^0") == "y[i] = 1 + x[i]"
    assert simp("y[i] = 1^x[i]") == "y[i] = 1"


# -- like terms and powers

def test_like_terms_up_to_renaming_of_summed_indices():
    assert simp("y[i] = A[i,j]*x[j] + 2*A[i,k]*x[k]") == "y[i] = 3 * A[i,j] * x[j]"
    assert simp("y[i] = x[i] + x[i] - 3*x[i]") == "y[i] = -x[i]"


def test_powers_merge():
    assert simp("y[i] = x[i] * x[i] * x[i]") == "y[i] = x[i]^3"
    assert simp("y[i] = x[i]^2 / x[i]") == "y[i] = x[i]"
    assert simp("y[i] = (x[i]^2)^3") == "y[i] = x[i]^6"
    assert simp("y[i] = (2 * x[i])^2") == "y[i] = 4 * x[i]^2"


def test_products_are_not_distributed_over_sums():
    # shared subexpressions stay factored: no term explosion
    assert simp("y[i] = (x[i] + 1) * (x[i] + 2)") == "y[i] = (1 + x[i]) * (2 + x[i])"


# -- textbook functions recognised

def test_sigmoid_and_softplus_are_recognised():
    assert simp("y[i] = 1 / (1 + exp(-x[i]))") == "y[i] = sigmoid(x[i])"
    assert simp("y[i] = exp(x[i]) / (1 + exp(x[i]))") == "y[i] = sigmoid(x[i])"
    assert simp("y[i] = log(1 + exp(x[i]))") == "y[i] = softplus(x[i])"
    assert simp("y[i] = 2 * exp(x[i]) / (1 + exp(x[i]))^2") == \
        "y[i] = 2 * sigmoid(x[i]) * (1 - sigmoid(x[i]))"
    assert simp("y[i] = exp(x[i]) * (1 - sigmoid(x[i]))") == "y[i] = sigmoid(x[i])"
    assert simp("y[i] = sigmoid(x[i]) * sigmoid(-x[i])") == "y[i] = sigmoid(x[i]) * (1 - sigmoid(x[i]))"
    # the exponents differ: only the divisor is a sigmoid
    assert simp("y[i] = exp(x[i]) / (1 + exp(2 * x[i]))") == "y[i] = exp(x[i]) * sigmoid(-2 * x[i])"


def test_derivatives_of_written_out_sigmoids_are_textbook():
    assert str(ricci.grad("L = sum[n](1 / (1 + exp(-z[n])))", "z")) == \
        "dz[n] = sigmoid(z[n]) * (1 - sigmoid(z[n]))"
    assert str(ricci.grad("L = sum[n](log(1 + exp(z[n])))", "z")) == "dz[n] = sigmoid(z[n])"


def test_common_factors_come_out_when_shorter():
    from ricci.simplify.factor import factor_common, node_count

    def fc(text):
        st = ricci.parse(text).statements[-1]
        e = simplify(st.rhs)
        out = factor_common(e)
        assert node_count(out) <= node_count(e)
        rng = np.random.default_rng(0)
        p = ricci.parse(text)
        q = Program([st.replace(out)], p.dims, dim_names=p.dim_names)
        sizes = {d: 3 for ds in p.dims.values() for d in ds}
        inputs = {n: rng.uniform(0.5, 1.5, [3] * len(p.dims[n])) for n in p.inputs}
        np.testing.assert_allclose(evaluate(q, {n: inputs[n] for n in q.inputs}, dim_sizes=sizes)[st.name],
                                   evaluate(p, inputs, dim_sizes=sizes)[st.name], rtol=1e-12)
        return statement_text(st.replace(out), reorder=True)

    # the two sums bind different names; the factored one keeps one of them
    assert fc("H[d,e] = X[n,d]*X[n,e]*s[n]*(1-y[n]) + X[m,d]*X[m,e]*s[m]*y[m]") in \
        ("H[d,e] = X[n,d] * X[n,e] * s[n]", "H[d,e] = X[m,d] * X[m,e] * s[m]")
    assert fc("h[n] = s[n]*(1-s[n])^2 - s[n]^2*(1-s[n])") == "h[n] = s[n] * (1 - 2 * s[n]) * (1 - s[n])"
    # a delta in some terms only: diag(p) - outer(p, p) stays as it is
    assert fc("J[c,d] = p[c]*delta[c,d] - p[c]*p[d]") == "J[c,d] = p[c] * delta[c,d] - p[c] * p[d]"
    # renaming q to n makes size(q) * size(n) one base: its powers add up (fuzz finding #27)
    fc("t[p] = sum[q](size(n) * size(q) * Q[q] * v[q]) + size(n) * size(p) * Q[p] * sum[n](v[n])")
    # nothing in common
    assert fc("y[i] = a[i] + b[i]") == "y[i] = a[i] + b[i]"


def test_simplify_is_idempotent_and_terminates_on_deep_expressions():
    text = "y[i] = " + " + ".join(f"{k} * x[i]^{k}" for k in range(1, 40))
    p = ricci.parse(text)
    once = simplify(p.statements[0].rhs)
    assert simplify(once) == once


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_rules_are_documented(rule):
    assert "->" in rule.example


def test_a_constant_and_a_power_of_the_same_constant_stay_apart():
    """Fuzz finding #28: in C * 2 * C * 2^0.5, merging the powers of C took the bare 2 for
    the base of 2^0.5 and wrote 2^0.5 twice (2 * C^2: a factor sqrt(2) lost), so the
    gradient of L = C * (C * C) * 2^(0.5) was 2 * C^2 + 2^0.5 * C^2, silently."""
    for text, want in [("y = C * 2 * C * 2^0.5", 2 * 2 ** 0.5 * 1.7 ** 2),
                       ("y = 2^0.5 * C * 3 * C * 2^0.5", 6 * 1.7 ** 2),
                       ("y = 2 * C * 2^(-1) * C", 1.7 ** 2)]:
        p = ricci.parse(text)
        q = Program([p.statements[0].replace(simplify(p.statements[0].rhs))], p.dims)
        assert float(evaluate(q, {"C": np.array(1.7)})["y"]) == pytest.approx(want, rel=1e-14), text
    text = "L = C * (C * C) * 2^(0.5)"
    for d in (ricci.grad(text, "C"), ricci.hessian(text, "C"), ricci.hvp(text, "C")):
        assert ricci.check(text, "C", derivation=d, raise_on_mismatch=False).ok


# -- textbook identities: an inverse times its matrix, square roots of squares

def test_an_inverse_times_its_matrix_is_the_identity():
    assert simp("Y[i,j] = inv(A)[i,k] * A[k,j]") == "Y[i,j] = delta[i,j]"
    assert simp("Y[i,j] = A[i,k] * inv(A)[k,j]") == "Y[i,j] = delta[i,j]"
    assert simp("Y[i,j] = inv(A)[k,i] * A[j,k]") == "Y[i,j] = delta[i,j]"  # (A inv(A))^T
    assert simp("Y[p,j] = B[p,i] * inv(A)[i,k] * A[k,j]") == "Y[p,j] = B[p,j]"
    assert simp("y = inv(A)[i,k] * A[k,i]") == "y = size(i)"  # trace(I)


def test_an_inverse_and_a_matrix_that_do_not_multiply_stay():
    # inv(A)^T A is not the identity; nor is inv(A) B; k met three times is no product
    assert simp("Y[i,j] = inv(A)[k,i] * A[k,j]") == "Y[i,j] = inv(A)[k,i] * A[k,j]"
    assert simp("Y[i,j] = inv(A)[i,k] * B[k,j]") == "Y[i,j] = inv(A)[i,k] * B[k,j]"
    assert simp("y[i,j] = inv(A)[i,k] * A[k,j] * x[k]") == "y[i,j] = inv(A)[i,k] * A[k,j] * x[k]"


def test_square_roots_of_squares_and_even_powers_of_square_roots():
    assert simp("y[n] = sqrt(v[n] + e)^2") == "y[n] = e + v[n]"
    assert simp("y[n] = x[n] / sqrt(v[n] + e)^2") == "y[n] = x[n] / (e + v[n])"
    assert simp("y[n] = sqrt(v[n])^4") == "y[n] = v[n]^2"
    assert simp("y[n] = 1 / sqrt(v[n]) / v[n]") == "y[n] = 1 / sqrt(v[n])^3"
    assert simp("y[n] = sqrt(v[n]^2)") == "y[n] = abs(v[n])"
    assert simp("y[n] = (v[n]^2)^(1/2)") == "y[n] = abs(v[n])"
    # an odd power of a square root stays one; a square root of a non-square stays
    assert simp("y[n] = sqrt(v[n])^3") == "y[n] = sqrt(v[n])^3"
    assert simp("y[n] = sqrt(v[n]^2 + 1)") == "y[n] = sqrt(1 + v[n]^2)"
