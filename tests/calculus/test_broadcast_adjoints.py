"""An adjoint that costs nothing to use in place of its name is never formed: a number
(constants and sizes: ``1 / size(n)`` of a mean), or numbers times tensors over fewer of its
indices (``b[j]`` of ``sum[i,j](Z[i,j] * b[j])``, ``c[i] * b[j]``), or deltas (``delta[i,j]``,
what a trace hands to what it traces).

They used to be given a statement, ``dZ = np.full(shape, 1.0 / n)`` or ``dZ =
broadcast_to(b, shape)``, which the next rule read as an array: ``dX = dZ @ A.T``, a whole
matrix product (n^3) for what is ``A``'s row sums or ``A @ b`` (n^2). Values are checked
against torch autograd (``ricci.check``).
"""

from __future__ import annotations

import pytest

import ricci

pytest.importorskip("torch")

CHEAP = [
    # (program, wrt, a spelling the gradient code must not contain)
    ("Z[i,j] = X[i,k] * A[k,j]\nL = sum[i,j](Z[i,j]) / size(i)", "X", "@"),
    ("Z[i,j] = X[i,k] * A[k,j]\nL = sum[i,j](Z[i,j]) / size(i)", "A", "@"),
    ("Z[i,j] = X[i,k] * A[k,j]\nL = 3 * sum[i,j](Z[i,j]) / (size(i) * size(j))", "X", "@"),
    ("z[n] = X[n,k] * w[k]\nL = sum[n](z[n]) / size(n)", "w", "@"),
    ("Y[n,k] : one-hot\nM[n,k] = relu(S[n,k] - S[n,j] * Y[n,j] + 1)\nL = sum[n,k](M[n,k]) / size(n) - 1",
     "S", "full"),
    # weights over fewer indices than the weighted: A @ b, never an array of b's rows
    ("Z[i,j] = X[i,k] * A[k,j]\nL = sum[i,j](Z[i,j] * b[j])", "X", "dZ ="),
    ("Z[i,j] = X[i,k] * A[k,j]\nL = sum[i,j](Z[i,j] * b[j] * c[i])", "X", "dZ ="),
    ("Z[i,j] = X[i,k] * A[k,j]\nL = 2 * sum[i,j](Z[i,j] * b[j]) / size(i)", "A", "dZ ="),
    ("Z[i,j] = X[i,k] * A[k,j]\nY[i,j] = tanh(Z[i,j])\nL = sum[i,j](Y[i,j] * b[j])", "X", "dY ="),
    # a trace hands a delta to what it traces: never an identity matrix to multiply by
    ("Y[i,j] = inv(X)[i,k] * A[k,j]\nL = trace(Y)", "X", "eye"),
    ("Y[i,j] = X[i,k] * A[k,j]\nW[i,j] = tanh(Y[i,j])\nL = trace(W)", "A", "eye"),
]


@pytest.mark.parametrize("program,wrt,absent", CHEAP)
def test_a_cheap_adjoint_is_not_an_array(program, wrt, absent):
    d = ricci.grad(program, wrt=wrt)
    for backend in ("numpy", "torch", "jax"):
        code = d.source(backend).split('"""')[-1]  # the code, not the docstring
        assert absent not in code, code
    ricci.check(program, wrt=wrt, derivation=d)  # raises on a mismatch


@pytest.mark.parametrize("program,wrt,absent", CHEAP[:3] + CHEAP[5:7])
def test_second_order_through_a_cheap_adjoint(program, wrt, absent):
    for derive in (ricci.jacobian, ricci.hessian, ricci.hvp):
        ricci.check(program, wrt, derivation=derive(program, wrt=wrt))


def test_the_mean_of_a_matrix_product_needs_no_matrix_product():
    d = ricci.grad("Z[i,j] = X[i,k] * A[k,j]\nL = sum[i,j](Z[i,j]) / size(i)", wrt="X")
    assert "A.sum(axis=1)" in d.source("numpy")


def test_a_weighted_sum_of_a_matrix_product_needs_a_matrix_vector_product():
    d = ricci.grad("Z[i,j] = X[i,k] * A[k,j]\nL = sum[i,j](Z[i,j] * b[j])", wrt="X")
    assert "A @ b" in d.source("numpy")


def test_an_adjoint_as_big_as_its_tensor_is_still_formed():
    """``2 * mu[d]`` over all of ``mu``'s indices is an array of its own, computed once,
    not recomputed in every product that reads it."""
    d = ricci.grad("mu[d] = sum[n](x[n,d]) / size(n)\nL = sum[d](mu[d]^2)", wrt="x")
    assert "dmu = " in d.source("numpy")


@pytest.mark.parametrize("program,wrt,absent", CHEAP)
def test_the_steps_derive_an_adjoint_that_is_never_formed(program, wrt, absent):
    """The steps still derive it (``dL/dY = delta``, ``dL/dZ = b[j] / size(i)``) in a
    section of its own, and the section that uses it substitutes it: every step holds."""
    from support.steps_check import check_steps
    from support.strict_steps import strict_step_problems

    d = ricci.grad(program, wrt=wrt)
    check_steps(d)
    assert strict_step_problems(d) == []
    sections = [ln[:-1] for ln in str(d.steps()).splitlines() if ln.endswith(":") and ln.startswith("dL/d")]
    assert len(sections) >= 2, sections  # the adjoint's own section, then the gradient's


def test_the_steps_of_a_hessian_derive_the_adjoint_its_gradient_starts_from():
    from support.steps_check import check_steps

    d = ricci.hessian("Y[i,j] = inv(X)[i,k] * A[k,j]\nL = trace(Y)", wrt="X")
    text = str(d.steps())
    assert text.startswith("dL/dY:") and "dL/dY[i,j] = delta[i,j]" in text, text[:300]
    check_steps(d)
