"""Regression tests for the reuse of forward values in derived expressions (ricci.reuse).

A forward statement whose sum runs over an index none of its factors has
(``L = sum[j,m](det(K) * F[j])``: ``m`` is unused, so L is ``size(m) * sum[j](...)``) is
not a product of its factors: it is no pattern, and reverse mode used to crash on it
(``KeyError: m``). Each case is checked numerically (torch autograd and finite
differences, through ``ricci.check``).
"""

from __future__ import annotations

import pytest

import ricci
from ricci.expr import Index, Mul, Sum, Tensor
from ricci.program import Statement
from ricci.reuse import reuse

pytest.importorskip("torch")

UNUSED_SUMMED = [
    ("L = sum[j,m](det(K) * F[j])", "K"),  # the program of the report
    ("L = sum[j,m](det(K) * F[j])", "F"),
    ("L = sum[j,m](logdet(K) * F[j])", "K"),
    ("L = sum[i,j,m](inv(K)[i,j] * F[j])", "K"),
    ("L = sum[m](det(K))", "K"),
    ("L = sum[j,m](exp(F[j]) * det(K))", "K"),
    ("L = sum[j,m,n](F[j] * G[n])", "F"),
    ("t[i] = inv(A)[i,j] * y[j]\nL = sum[i,m](t[i] * y[i])", "A"),
    ("p[j] = sum[m](exp(F[j]) * G[j])\nL = sum[j](p[j] * exp(F[j]) * G[j])", "F"),
    ("L = sum[j,m](det(K) * F[j]) * sum[j](det(K) * F[j])", "K"),
]


@pytest.mark.parametrize("program,wrt", UNUSED_SUMMED)
def test_gradient_with_a_summed_index_no_factor_has(program, wrt):
    ricci.check(program, wrt=wrt)  # raises on a mismatch


@pytest.mark.parametrize("program,wrt", UNUSED_SUMMED[:5])
def test_second_order_with_a_summed_index_no_factor_has(program, wrt):
    for derive in (ricci.jacobian, ricci.hessian, ricci.hvp):
        ricci.check(program, wrt, derivation=derive(program, wrt=wrt))


def test_a_pattern_summing_an_unused_index_is_not_reused():
    """``L = sum[j,m](a[j] * b[j])`` is size(m) times the product summed over j: a
    derived ``sum[j](a[j] * b[j])`` is not L, and is left alone."""
    j, m = Index("j", "J"), Index("m", "M")
    a, b = Tensor("a", (j,)), Tensor("b", (j,))
    fwd = Statement("L", (), Sum((j, m), Mul((a, b))))
    derived = Statement("dx", (), Sum((j,), Mul((a, b))))
    (out,) = reuse([fwd], [derived])
    assert out.rhs == derived.rhs
    used = Statement("L2", (), Sum((j,), Mul((a, b))))
    (out,) = reuse([used], [derived])  # without the unused index it is the forward value
    assert out.rhs == Tensor("L2", ())
