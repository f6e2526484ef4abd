"""Every derivative rule, proved numerically against torch autograd (float64) and finite
differences through :func:`ricci.check`. One test per entry of the derivative tables."""

import pytest

import ricci
from ricci.calculus.differentiate import RULES as STRUCTURAL_RULES
from ricci.ir.expr import Add, Call, Const, Delta, MatFn, Mul, Pow, Size, Sum, Tensor
from ricci.primitives.functions import FUNCTIONS


def ok(prog, wrt, **kw):
    rep = ricci.check(prog, wrt, **kw)
    assert rep.ok, str(rep)
    assert all(v is not None for v in rep.torch_error.values()), "torch must be used"
    return rep


# -- one test per function of the primitive table


@pytest.mark.parametrize("fn", sorted(FUNCTIONS))
def test_chain_rule_elementwise(fn):
    # y = f(x), and f of a contraction (lifted into its own statement)
    ok(f"y[i] = {fn}(x[i])", ["x"])
    ok(f"L = sum[i]({fn}(A[i,j] * x[j] + b[i]) * w[i])", ["A", "x", "b"])


@pytest.mark.parametrize("fn", sorted(FUNCTIONS))
def test_function_derivatives_are_differentiable_again(fn):
    # differentiate the derived program: second derivatives use every table entry twice
    g = ricci.grad(f"L = sum[i]({fn}(x[i]) * w[i])", wrt="x")
    ok(g.program, ["x"], of="dx")


def test_every_function_has_an_entry_for_every_backend():
    for f in FUNCTIONS.values():
        assert set(f.code) == {"numpy", "torch", "jax", "numba"}
        assert f.doc


# -- one test per structural rule


def test_input_by_itself_and_independent_tensors():
    ok("Y[i,j] = X[i,j]", ["X"])
    ok("Y[i,j] = X[j,i] + A[i,j]", ["X", "A"])
    ok("y = c", ["c"])


def test_sum_rule():
    ok("Y[i] = A[i] + B[i] - C[i]", ["A", "B", "C"])


def test_product_rule():
    ok("Y[i,j] = A[i,j] * B[i,j] * A[i,j]", ["A", "B"])
    ok("Y[i,k] = A[i,j] * B[j,k] * W[i,k]", ["A", "B", "W"])


def test_quotient_rule():
    ok("y[i] = a[i] / (1 + b[i]^2)", ["a", "b"])


def test_power_rule_constant_and_general_exponents():
    ok("y[i] = x[i]^3 + x[i]^-2 + x[i]^0.5", ["x"])
    ok("y[i] = x[i]^c", ["x", "c"])
    ok("y[i] = 2^x[i]", ["x"])


def test_summation():
    ok("y[i] = sum[j](A[i,j]^2)", ["A"])
    ok("L = sum[i,j](A[i,j] * B[j,i])", ["A", "B"])


def test_sizes_deltas_and_constants_are_constants():
    ok("m[n] = sum[d](x[n,d]) / size(d)", ["x"])
    ok("Y[i,j] = X[i,j] * delta[i,j] + 3", ["X"])
    ok("t = A[i,i]", ["A"])


def test_broadcasting():
    ok("Z[n,h] = X[n,d] * W[d,h] + b[h]", ["X", "W", "b"])
    ok("Y[i,j] = x[i] + x[j]", ["x"])


def test_chain_rule_through_intermediates():
    ok("a[i] = x[i] * 2\nb[i] = a[i] * 3\nL = sum[i](b[i] * a[i])", ["x"])


def test_repeated_indices_on_an_input():
    ok("y[i] = A[i,i] * x[i]", ["A", "x"])


def test_every_structural_rule_is_registered():
    assert set(STRUCTURAL_RULES) == {Tensor, Const, Size, Delta, Add, Mul, Sum, Pow, Call, MatFn}
