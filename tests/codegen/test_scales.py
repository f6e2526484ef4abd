"""``scale_once``: a number every product of a value carries, applied where the value is
computed (the JAX code), checked by rewriting and by the values of the JAX code against
ricci's reference evaluator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import ricci
from ricci.codegen.scales import scale_once
from ricci.verify.evaluate import evaluate

TWO_USES = "T[i,j] = tanh(X[i,j]) + X[i,j]\nY[i,k] = sum[j](T[i,j] * A[j,k] * {a})\nZ[j,k] = sum[i](T[i,j] * B[i,k] * {b})"


def _scaled(text: str, outputs: set[str]) -> str:
    p = ricci.parse(text)
    return str(scale_once(p, set(p.defined), outputs))


def test_the_number_both_products_carry_moves_into_the_value():
    assert _scaled(TWO_USES.format(a=2, b=2), {"Y", "Z"}) == (
        "T_scaled[i,j] = 2 * (tanh(X[i,j]) + X[i,j])\nY[i,k] = T_scaled[i,j] * A[j,k]\n"
        "Z[j,k] = T_scaled[i,j] * B[i,k]")


@pytest.mark.parametrize("text, outputs", [
    (TWO_USES.format(a=2, b=3), {"Y", "Z"}),  # not the same number
    (TWO_USES.format(a=2, b=2), {"T", "Y", "Z"}),  # T is returned: its own value
    (TWO_USES.format(a=2, b=2) + "\nW[i,j] = T[i,j] + 1", {"Y", "Z", "W"}),  # a use with no number
    ("T[i,j] = X[i,k] * C[k,j]\nY[i,k] = sum[j](T[i,j] * A[j,k] * 2)", {"Y"}),  # T is a product: scaling it is a pass
    ("T[i,j] = tanh(X[i,j])\nY[i,j] = T[i,j] * A[i,j] * 2", {"Y"}),  # no sum over T's index: fused already
])
def test_a_value_is_left_as_it_is(text, outputs):
    p = ricci.parse(text)
    assert scale_once(p, set(p.defined), outputs) is p


def test_attention_scales_dS_once_in_the_jax_code():
    """``dQ = c * (dS @ K)`` and ``dK = c * (dS.T @ Q)`` were two passes after the products;
    XLA scales ``dS`` in the loop computing it."""
    path = Path(__file__).parents[2] / "examples" / "attention_multihead.ricci"
    d = ricci.grad(path.read_text(), wrt=["Q", "K", "V"])
    body = d.source("jax").split('"""')[-1]
    assert "dQ = dS_scaled @ K" in body and "dK = dS_scaled.transpose(0, 1, 3, 2) @ Q" in body
    assert "dS_scaled" not in d.source("numpy")  # NumPy: the same passes, the names as derived


@pytest.mark.parametrize("a, b", [(2, 2), (2, 3), ("size(i)", "size(i)")])
def test_the_jax_code_computes_the_program(a, b):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    p = ricci.parse(TWO_USES.format(a=a, b=b))
    rng = np.random.default_rng(3)
    arrays = {"X": rng.standard_normal((3, 4)), "A": rng.standard_normal((4, 5)), "B": rng.standard_normal((3, 5))}
    want = evaluate(p, arrays)
    got = p.compile("jax")(**{k: jax.numpy.asarray(v) for k, v in arrays.items()})
    for name in ("Y", "Z"):
        assert np.asarray(got[name]).shape == want[name].shape
        np.testing.assert_allclose(np.asarray(got[name]), want[name], rtol=1e-12, atol=1e-12)


def test_a_sign_stays_and_an_inner_product_keeps_its_numbers():
    """The fuzzer (seed 9306): ``-sign(sum[m](-M[m,l])) * sum[r](-dM[r,l,p,q])``: the outer
    product's rewrite renamed the ``M`` inside ``sign`` without taking its ``-1`` out (a
    Jacobian of the wrong sign). A lone sign is not moved now, and inner products are
    rewritten first."""
    p = ricci.parse("M[i,j] = Q[i,k] * Q[j,k] + R0[i,j]\nS[j,k] = tanh(X[j,k])\n"
                    "Y[l,q] = sum[r](2 * S[r,l] * sign(sum[m](3 * M[m,q])))")
    q = scale_once(p, set(p.defined), {"Y"})
    assert str(q).splitlines()[-1] == "Y[l,q] = sum[r](S_scaled[r,l] * sign(sum[m](M_scaled[m,q])))"
    rng = np.random.default_rng(1)
    arrays = {"Q": rng.standard_normal((3, 2)), "R0": rng.standard_normal((3, 3)), "X": rng.standard_normal((3, 3))}
    np.testing.assert_allclose(evaluate(q, arrays)["Y"], evaluate(p, arrays)["Y"], rtol=1e-13)
    sign = ricci.parse("M[i,j] = Q[i,k] * Q[j,k] + R0[i,j]\nY[l] = sum[m](-M[m,l])")
    assert scale_once(sign, set(sign.defined), {"Y"}) is sign


def test_two_values_in_one_product_share_no_number():
    p = ricci.parse("A[i,j] = tanh(X[i,j])\nB[j,k] = tanh(Z[j,k])\nY[i,k] = sum[j](2 * A[i,j] * B[j,k])")
    assert scale_once(p, set(p.defined), {"Y"}) is p


_VALUES = ["tanh(X[i,j]) + X[i,j]", "X[i,j] * X[i,j]", "exp(X[i,j])", "X[i,j] - C[i,j]", "sum[k](D[i,k] * E[k,j])"]
_NUMBERS = ["2", "3", "size(i)", "1 / size(j)", "-2", "0.5 * size(j)"]
#: uses of T and their free indices
_USES = [("sum[j]({c} * T[i,j] * A[j,k])", "i,k"), ("sum[i]({c} * T[i,j] * B[i,k])", "j,k"),
         ("sum[i,j]({c} * T[i,j])", ""), ("sign(sum[j]({c} * T[i,j] * A[j,k]))", "i,k"),
         ("sum[j]({c} * T[i,j] * tanh(sum[m]({c} * T[m,j])))", "i"), ("T[i,j] + 1", "i,j"),
         ("sum[j](T[i,j] * A[j,k])", "i,k")]


@st.composite
def _programs(draw) -> tuple[str, set[str]]:
    """A value ``T`` and one to three uses of it, mostly products carrying numbers (the
    pattern of :func:`scale_once`), some not; some outputs, ``T`` now and then."""
    lines = [f"T[i,j] = {draw(st.sampled_from(_VALUES))}"]
    number = draw(st.sampled_from(_NUMBERS))
    names = []
    for k in range(draw(st.integers(1, 3))):
        use, free = draw(st.sampled_from(_USES))
        c = number if draw(st.integers(0, 4)) else draw(st.sampled_from(_NUMBERS))
        lines.append(f"Y{k}[{free}] = " + use.format(c=c) if free else f"Y{k} = " + use.format(c=c))
        names.append(f"Y{k}")
    outs = {n for n in names if draw(st.booleans())} or {names[-1]}
    if draw(st.integers(0, 5)) == 0:
        outs.add("T")
    return "\n".join(lines), outs


@settings(max_examples=150, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(_programs())
def test_programs_of_the_pattern_keep_their_values(case):
    """Against ricci's reference evaluator (einsum, no code generated): every output of the
    rewritten program has its value in the program."""
    text, outs = case
    p = ricci.parse(text, syntax="ricci")
    q = scale_once(p, set(p.defined), outs)
    event("rewritten" if q is not p else "unchanged")
    rng = np.random.default_rng(0)
    shapes = {"X": (2, 3), "C": (2, 3), "D": (2, 4), "E": (4, 3), "A": (3, 4), "B": (2, 4)}
    arrays = {n: rng.uniform(0.5, 1.5, size=shapes[n]) for n in p.inputs}
    want, got = evaluate(p, arrays), evaluate(q, arrays)
    for name in outs:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-12, atol=1e-12)
