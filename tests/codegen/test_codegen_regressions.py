"""Generated code computes what the program says, on every backend: regressions found by
fuzzing, each pinned by a minimal program, and the class each belonged to tested on
random programs.

* an accumulated term that is a sum starting with a minus sign lost its parentheses
  (``T -= t1 + 1.0`` for ``T += -t1 + 1.0``): the forward code of random programs, whose
  statements are accumulated term by term, is compared with an independent NumPy oracle;
* names that are identifiers to ricci but not (or not distinct) to Python;
* torch's fused backward kernels given plain numbers;
* constants float64 cannot hold.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import ricci
from ricci.codegen.emit import _py_names, generate
from ricci.codegen.values import float_literal

from support.strategies import Model, models

BACKENDS = ["numpy", "torch", "jax"]


def _run(program: ricci.Program, outputs: dict, inputs: dict, backend: str) -> dict:
    from ricci.codegen.calling import Compiled

    gen = generate(program, outputs, tuple(inputs), backend=backend)
    f = Compiled(gen, backend, program, program, label="test", filename="<test>")
    if backend == "jax":
        import jax

        with jax.enable_x64(True):
            out = f(**inputs)
    else:
        out = f(**inputs)
    return {k: np.asarray(v.detach().numpy() if hasattr(v, "detach") else v) for k, v in out.items()}


def test_bug_an_accumulated_difference_keeps_its_sign():
    text = "t[j] = a[j]*b[j]; y[j] = (-tanh(v[j]*w) + 1) - t[j]; L = y[j]*t[j]"
    for backend in BACKENDS:
        report = ricci.check(text, wrt=["b", "v", "w"], backend=backend)
        assert report.ok, str(report)
    src = ricci.grad(text, wrt=["b", "v", "w"]).source()
    assert "-= t1 + 1.0" not in src


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("rhs, want", [
    ("(-u[j] + 1) - t[j]", lambda u, t: -u + 1 - t),
    ("(-tanh(u[j]) + 1) - t[j]", lambda u, t: -np.tanh(u) + 1 - t),
    ("-(u[j] + 1) - t[j]", lambda u, t: -(u + 1) - t),
    ("t[j] - (u[j] - 1)", lambda u, t: t - (u - 1)),
    ("-t[j] - (-u[j] + 1) - (u[j] - 2*t[j])", lambda u, t: -t - (-u + 1) - (u - 2 * t)),
    ("-(u[j] - t[j]) - (t[j] - u[j])", lambda u, t: -(u - t) - (t - u)),
])
def test_accumulated_sums_of_signed_terms(backend, rhs, want):
    # t is ready before u, so the terms of z are accumulated in two steps: z = -t, then the
    # term in u is added (the step that once read `z -= u + 1.0` for `z += -u + 1.0`)
    prog = ricci.parse(f"t[j] = a[j] * b[j]\nu[j] = 2 * x[j]\nz[j] = {rhs}")
    a, b, x = np.array([0.5, -1.5, 2.0]), np.array([1.25, 3.0, -0.75]), np.array([0.3, 0.1, -2.0])
    got = _run(prog, {"z": "z"}, {"a": a, "b": b, "x": x}, backend)["z"]
    np.testing.assert_allclose(got, want(2 * x, a * b), rtol=1e-13)


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.filter_too_much])
@given(models(max_statements=4, odd_names=True))
def test_forward_code_of_random_programs_matches_the_oracle(m: Model):
    """Every statement of a random program, computed by the generated NumPy code (sums
    accumulated term by term, temporaries, deletions), equals the generator's own NumPy
    evaluation of its syntax tree."""
    prog = ricci.parse(m.text)
    inputs = m.random_inputs(np.random.default_rng(0))
    with np.errstate(all="ignore"):
        want = m.evaluate(inputs)
        if not all(np.all(np.isfinite(v)) for v in want.values()):
            return
        outs = {s.name: s.name for s in prog.statements}
        dims = m.dim_sizes(prog)
        if dims is None:
            return
        from ricci.codegen.calling import Compiled

        gen = generate(prog, outs, prog.inputs, backend="numpy")
        f = Compiled(gen, "numpy", prog, prog, label="test", filename="<test>")
        given_inputs = {k: inputs[k].copy() for k in prog.inputs}
        got = f.call(given_inputs, None, dims)
    for name in prog.inputs:  # the code never writes into its inputs
        np.testing.assert_array_equal(given_inputs[name], inputs[name], err_msg=f"{name} changed\n{gen.source}")
    for name in outs:
        np.testing.assert_allclose(got[name], want[name], rtol=1e-9, atol=1e-9 * max(
            1.0, float(np.max(np.abs(want[name]), initial=0.0))), err_msg=f"{name}\n{gen.source}")


def test_python_names_are_valid_and_distinct():
    names = ["ｙ", "y", "lambda", "np", "t½", "x₄", "x4", "sizes", "float", "_delta", "α", "in"]
    py = _py_names(names, {"np", "_delta", "_gram"})
    assert len(set(py.values())) == len(names)
    import keyword
    import unicodedata

    for name, p in py.items():
        assert p.isidentifier() and not keyword.iskeyword(p), (name, p)
        assert unicodedata.normalize("NFKC", p) == p  # what Python reads is what is written
    assert py["y"] == "y" and py["α"] == "α" and py["lambda"] == "lambda_"


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("text", [
    "L = sum[p](x[p] * step(size(p)))",
    "L = sum[p](x[p]^2 * relu(size(p) - 1))",
    "L = sum[p](x[p] * tanh(size(p) / 4))",
    "L = sum[p](x[p] * sigmoid(size(p)) * (1 - sigmoid(size(p))))",
])
def test_fused_kernels_are_never_given_plain_numbers(backend, text):
    assert ricci.check(text, wrt="x", backend=backend).ok


def test_constants_float64_cannot_hold_are_an_error():
    from fractions import Fraction

    for v in (Fraction(10) ** 400, Fraction(1, 10**400), -Fraction(10) ** 309):
        with pytest.raises(ricci.RicciError, match="out of the range of float64"):
            float_literal(v)
    assert float_literal(Fraction(1, 2)) == "0.5"
    assert float(float_literal(Fraction(1, 3))) == 1 / 3
    assert float(float_literal(Fraction(10) ** 300)) == 1e300


@pytest.mark.parametrize("backend", BACKENDS)
def test_non_ascii_names_are_tracked_by_the_scheduler(backend):
    """Fuzz finding #7: the scheduler's name pattern was ASCII, so `Ω_max` was freed before its
    use (UnboundLocalError)."""
    import numpy as np

    d = ricci.jacobian("Y[l] = sum[m](exp(Ω[m,l])) * Ω[j,l]", wrt="Ω")
    assert ricci.check("Y[l] = sum[m](exp(Ω[m,l])) * Ω[j,l]", wrt="Ω",
                       derivation=d, backend=backend).ok
    assert np.all(np.isfinite(np.asarray(d.compile(backend)(Ω=np.random.rand(3, 4))["Ω"])))


@pytest.mark.parametrize("text", ["L = x^(9^9^9)", "L = x * 2^(10^6)"])
def test_huge_constant_powers_are_an_error_not_an_overflow(text):
    """Fuzz finding #15: a power of constants the simplifier does not fold (too big) reached
    the generated code as Python arithmetic and raised OverflowError."""
    with pytest.raises(ricci.RicciError, match="out of the range of float64|not finite"):
        ricci.check(text, wrt="x")
    with pytest.raises(ricci.RicciError, match="out of the range of float64"):
        ricci.grad(text, wrt="x").source("numpy")


@pytest.mark.parametrize("backend", BACKENDS)
def test_accumulation_never_writes_through_a_view(backend):
    """Fuzz finding #23: `dz1 = np.einsum('aaa->a', D3)` (a diagonal: a view of D3) and then
    `dz1 += t1` wrote into D3, and every later use of D3 was wrong (a Hessian off by 2x).
    A sum accumulated in place starts from a value it owns."""
    text = "D3[i,j,k] = delta[i,j,k] * F[k]\nL = exp(D3[q,s,u] * D3[q,q,q])"
    assert ricci.check(text, "F", derivation=ricci.hessian(text, "F"), backend=backend).ok
    fwd = ricci.parse("D3[i,j,k] = delta[i,j,k] * F[k]\nt[i] = sum[j,k](D3[i,j,k])\ny[i] = D3[i,i,i] + t[i]")
    gen = generate(fwd, {"D3": "D3", "y": "y"}, fwd.inputs, backend=backend)
    from ricci.codegen.calling import Compiled

    F = np.array([0.5, -1.0, 2.0])
    got = Compiled(gen, backend, fwd, fwd, label="test", filename="<test>").call({"F": F.copy()}, None, {})
    d3 = np.zeros((3, 3, 3))
    d3[range(3), range(3), range(3)] = F
    np.testing.assert_array_equal(np.asarray(got["D3"]), d3)
    np.testing.assert_array_equal(np.asarray(got["y"]), 2 * F)


def test_bug_a_product_of_constants_stays_a_python_number():
    """``log(2 * 3.14...)`` (gaussian_nll): the folded product is a Python number, which the
    torch code must wrap before ``torch.log`` (a refactoring of products lost the flag)."""
    torch = pytest.importorskip("torch")
    import ricci.torch

    text = "L = sum[i](x[i]^2) * log(2 * 3.141592653589793)"
    f = ricci.torch.function(text, inputs="x")
    x = torch.tensor([0.5, -1.0, 2.0], dtype=torch.float64, requires_grad=True)
    out = f(x)
    out.backward()
    want = (x.detach() ** 2).sum() * np.log(2 * np.pi)
    assert abs(float(out.detach()) - float(want)) < 1e-12
    assert torch.allclose(x.grad, 2 * x.detach() * np.log(2 * np.pi), rtol=1e-12, atol=0)


#: (program, output, a spelling its code must have, one it must not, the value from the
#: inputs as NumPy computes it): a sign or a size never costs a pass of its own over an array
SIGNS_AND_SIZES = [
    # a negated factor of a product as written: the product's sign, not a negated copy of X
    ("Y[i,j] = -X[i,k]*A[k,j]", "Y", "-(X @ A)", "t1 = -X", lambda e: -(e["X"] @ e["A"])),
    ("Y[i,j] = 2*(-X[i,j])*A[i,j]", "Y", "-2.0 * X * A", "-(", lambda e: -2 * e["X"] * e["A"]),
    # a size divisor joins the leading number: one pass over the array, not two
    ("Y[i,j] = 2*X[i,j]/size(i)", "Y", "2.0 / X.shape[0] * X", "X / X.shape[0]",
     lambda e: 2 * e["X"] / e["X"].shape[0]),
    ("Y[i,j] = 2*(X[i,j] - A[i,j])/size(i)", "Y", "2.0 / X.shape[0] * (X - A)", ") / X.shape[0]",
     lambda e: 2 * (e["X"] - e["A"]) / e["X"].shape[0]),
    # a size alone still divides last (the sum is smaller than its operand)
    ("y[i] = sum[j](X[i,j])/size(j)", "y", "X.sum(axis=1) / X.shape[1]", "1.0 /",
     lambda e: e["X"].sum(axis=1) / e["X"].shape[1]),
    # every term negative: the first carries its sign on its number
    ("Y[i,j] = -4*X[i,j]/size(i) - A[i,j]", "Y", "-4.0 / X.shape[0] * X - A", "-(4.0",
     lambda e: -4 * e["X"] / e["X"].shape[0] - e["A"]),
    ("Y[i,j] = -3*X[i,k]*A[k,j]", "Y", "-3.0 * (X @ A)", "-(3.0", lambda e: -3 * (e["X"] @ e["A"])),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("text, out, has, lacks, want", SIGNS_AND_SIZES)
def test_signs_and_sizes_cost_no_pass(backend, text, out, has, lacks, want):
    _spelled_and_right(backend, text, out, has, lacks, want, a_shape=(4, 5) if "k" in text else (3, 4), seed=7)


def _spelled_and_right(backend, text, out, has, lacks, want, a_shape, seed):
    """The NumPy code of ``text`` holds ``has`` and not ``lacks``; ``out``'s value on every
    backend is ``want(inputs)`` (X 3 x 4, A of ``a_shape``), exact shape."""
    prog = ricci.parse(text)
    rng = np.random.default_rng(seed)
    inputs = {"X": rng.normal(size=(3, 4)), "A": rng.normal(size=a_shape)}
    inputs = {n: v for n, v in inputs.items() if n in prog.inputs}
    code = prog.source(backend).split('"""')[-1]
    if backend == "numpy":
        assert has in code and lacks not in code, code
    got = _run(prog, {out: out}, inputs, backend)[out]
    expected = want(inputs)
    assert got.shape == expected.shape
    np.testing.assert_allclose(got, expected, rtol=1e-13, atol=1e-13)


def test_a_reciprocal_size_is_a_python_number_in_torch_code():
    """``1 / size(i)`` inside a sum is ``1.0 / X.shape[0]``: a Python number, never a
    tensor made for it on every call (``torch.full((), X.shape[0], ...)``)."""
    pytest.importorskip("torch")
    text = "Y[i,j] = X[i,k]*A[k,j]\nL = sum[i,j](Y[i,j]^2 + X[i,j])/size(i)"
    assert "torch.full" not in ricci.grad(text, wrt="X").source("torch")
    assert ricci.check(text, wrt="X", backend="torch").ok


SQUARES = [
    # a sum of squares over the summed index: one einsum pass, no array of squares
    ("y[i] = sum[j](X[i,j]^2)", "y", "np.einsum('ab,ab->a', X, X)", "** 2", lambda e: (e["X"] ** 2).sum(axis=1)),
    # of a computed base: the base once, in a temporary
    ("y[i] = sum[j]((X[i,j] - A[i,j])^2)", "y", "np.einsum('ab,ab->a', t1, t1)", "** 2",
     lambda e: ((e["X"] - e["A"]) ** 2).sum(axis=1)),
    # with another factor
    ("y[i] = sum[j](X[i,j]^2 * A[i,j])", "y", "einsum", "** 2", lambda e: (e["X"] ** 2 * e["A"]).sum(axis=1)),
    # a base without the summed index is no contraction operand: its square stays outside
    ("Y[i,j] = sum[k](X[i,j]^2 * A[i,k])", "Y", "X ** 2", "einsum('ab,ab",
     lambda e: e["X"] ** 2 * e["A"].sum(axis=1)[:, None]),
    # other powers are powers
    ("y[i] = sum[j](X[i,j]^3)", "y", "X ** 3", "einsum", lambda e: (e["X"] ** 3).sum(axis=1)),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("text, out, has, lacks, want", SQUARES)
def test_a_sum_of_squares_is_one_pass(backend, text, out, has, lacks, want):
    _spelled_and_right(backend, text, out, has, lacks, want, a_shape=(3, 4) if "A[i,j]" in text else (3, 5), seed=3)


def _count_products(code: str, a: str, b: str) -> int:
    return code.count(f"{a} * {b}") + code.count(f"{b} * {a}")


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_pair_of_factors_two_products_hold_is_computed_once(backend):
    """Layer norm's dxc holds dy * g twice (``dy * g / s`` and ``sum[d](xc * dy * g)``):
    one temporary, read by both; attention's ``A * dA`` likewise (torch: the sum is no
    einsum there)."""
    root = Path(__file__).parents[2] / "examples"
    text = (root / "layernorm.ricci").read_text()
    d = ricci.grad(text, wrt=["x", "g", "b"])
    code = d.source(backend).split('"""')[-1]
    assert _count_products(code, "g", "dy") == 1, code
    assert ricci.check(text, wrt=["x", "g", "b"], backend=backend).ok
    text = (root / "attention.ricci").read_text()
    code = ricci.grad(text, wrt=["Q", "K", "V"]).source(backend).split('"""')[-1]
    if backend != "jax":  # (JAX code is fused by XLA: repeats are XLA's to share)
        assert _count_products(code, "A", "dA") + code.count("t2 *= A") <= 1, code
    assert ricci.check(text, wrt=["Q", "K", "V"], backend=backend).ok


def test_a_pair_that_only_one_product_takes_makes_no_temporary():
    """dxc takes dy * g; dg's xc * dy (shared with dxc's sum, which took the other pair)
    stays inside dg's einsum: a pair counts where a product takes it."""
    text = (Path(__file__).parents[2] / "examples" / "layernorm.ricci").read_text()
    code = ricci.grad(text, wrt=["x", "g", "b"]).source("numpy").split('"""')[-1]
    assert "xc.T * dy.T" not in code and "np.einsum('ab,ab->b', xc, t4)" in code, code


@pytest.mark.parametrize("text", [
    "P[i] = a[i] * b[i] * c[i]\nQ[i] = b[i] * c[i] * d[i]\nR[i] = a[i] * b[i] * e[i]\nL = sum[i](P[i] + Q[i] + R[i])",
    "P[i,j] = a[i] * b[j] * c[i,j]\nQ[i,j] = b[j] * c[i,j] * d[i]\nL = sum[i,j](P[i,j] * Q[i,j])",
    "y[n] = sum[k](W[n,k] * x[k] * s[k]) + sum[k](W[n,k] * x[k])\nL = sum[n](y[n]^2)",
])
def test_shared_pairs_give_the_gradient(text):
    names = [n for n in "abcdexWs" if f"{n}[" in text]
    for backend in BACKENDS:
        assert ricci.check(text, wrt=names, backend=backend).ok, backend


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_a_shared_pair_of_one_factor_twice_keeps_both(backend):
    """``F[p] * F[p]`` shared by two products: the second product, ``1.5 * F[p] * F[p]``,
    lost a factor (the pair's two places were one, ``1.5 * F``: the fuzzer, seed 9305, a
    Hessian's diagonal wrong by a factor ``F``)."""
    from ricci.verify.evaluate import evaluate

    p = ricci.parse("h1[r,s] = ((F[p] * F[p]) * delta[p,r,s]) * (1.5 * F[p] * F[p])\nL = sum[r,t](h1[r,t])")
    F = np.array([1.1, 2.0])
    want = evaluate(p, {"F": F})["L"]
    got = p.compile(backend)(F=F)["L"]
    np.testing.assert_allclose(np.asarray(got), want, rtol=1e-14)
    assert np.isclose(want, 1.5 * (F ** 4).sum())
    d = ricci.hessian("h1[r,s] = (delta[p,r,s] * (F[p] * F[p])) * (F[p] * 1.5 * F[p])\nL = exp(h1[r,t])",
                      wrt="F", of="L", diagonal=True)
    x = np.array([0.7, -0.9])
    f = np.exp(1.5 * (x ** 4).sum())  # L = exp(1.5 * sum(F^4)): its Hessian's diagonal by hand
    np.testing.assert_allclose(np.asarray(d.compile(backend)(F=x)["F"]), f * (36 * x ** 6 + 18 * x ** 2), rtol=1e-12)
