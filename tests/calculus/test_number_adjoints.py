"""An adjoint that is a number (constants and sizes: ``1 / size(n)`` of a mean) is used where
it is needed, never spread into an array.

It used to be given a statement, ``dZ = np.full(shape, 1.0 / n)``, which the next rule read
as an array: ``dX = dZ @ A.T``, a whole matrix product (n^3) for what is the column sums
of ``A`` over n (n^2). Values are checked against torch autograd (``ricci.check``).
"""

from __future__ import annotations

import pytest

import ricci

pytest.importorskip("torch")

MEANS = [
    # (program, wrt, a spelling the gradient code must not contain)
    ("Z[i,j] = X[i,k] * A[k,j]\nL = sum[i,j](Z[i,j]) / size(i)", "X", "@"),
    ("Z[i,j] = X[i,k] * A[k,j]\nL = sum[i,j](Z[i,j]) / size(i)", "A", "@"),
    ("Z[i,j] = X[i,k] * A[k,j]\nL = 3 * sum[i,j](Z[i,j]) / (size(i) * size(j))", "X", "@"),
    ("z[n] = X[n,k] * w[k]\nL = sum[n](z[n]) / size(n)", "w", "@"),
    ("Y[n,k] : one-hot\nM[n,k] = relu(S[n,k] - S[n,j] * Y[n,j] + 1)\nL = sum[n,k](M[n,k]) / size(n) - 1",
     "S", "full"),
]


@pytest.mark.parametrize("program,wrt,absent", MEANS)
def test_a_number_adjoint_is_not_an_array(program, wrt, absent):
    d = ricci.grad(program, wrt=wrt)
    for backend in ("numpy", "torch", "jax"):
        code = d.source(backend).split('"""')[-1]  # the code, not the docstring
        assert absent not in code, code
    ricci.check(program, wrt=wrt, derivation=d)  # raises on a mismatch


@pytest.mark.parametrize("program,wrt,absent", MEANS[:3])
def test_second_order_through_a_number_adjoint(program, wrt, absent):
    for derive in (ricci.jacobian, ricci.hessian, ricci.hvp):
        ricci.check(program, wrt, derivation=derive(program, wrt=wrt))
