"""Regression tests for the reuse of forward values in derived expressions (ricci.calculus.reuse).

A forward statement whose sum runs over an index none of its factors has
(``L = sum[j,m](det(K) * F[j])``: ``m`` is unused, so L is ``size(m) * sum[j](...)``) is
not a product of its factors: it is no pattern, and reverse mode used to crash on it
(``KeyError: m``). Each case is checked numerically (torch autograd and finite
differences, through ``ricci.check``).
"""

from __future__ import annotations

import pytest

import ricci
from ricci.calculus.reuse import reuse
from ricci.ir.expr import Index, Mul, Sum, Tensor
from ricci.ir.program import Statement

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


@pytest.mark.parametrize("program, wrt", [
    ("Sm = sum[k](Z[k])\nP[k] = Z[k] * Sm\nL = 2 + 2^P[k]", "Z"),
    ("T1[q,m] = exp((G[m,r,q]^2)^(1/2))\nL = x[r,t] * T1[l,i]", "G"),
])
@pytest.mark.parametrize("kind", ["hessian", "diagonal", "hvp"])
def test_a_bound_index_named_like_the_statements_is_not_a_pattern(program, wrt, kind):
    """Fuzz finding #5: the gradient statement dP[k] = log(2) * 2^sum[k](P[k]) (the k on the
    right is bound) was taken as a pattern for reuse, and its k leaked into the Hessian as a
    free index (AssertionError in code generation)."""
    if kind == "hvp":
        d = ricci.hvp(program, wrt)
    else:
        d = ricci.hessian(program, wrt, diagonal=kind == "diagonal")
    assert ricci.check(program, wrt=wrt, derivation=d).ok
    for st in d.program.statements:
        assert st.rhs.free <= set(st.indices), st
