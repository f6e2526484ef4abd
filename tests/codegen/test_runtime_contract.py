"""The input contract of compiled functions (ricci.codegen.calling), on every backend.

Every bad input is a RicciError naming it, before any arithmetic; good inputs are
converted as documented (one floating dtype, positional or keyword arguments); a singular
or non-positive-definite matrix operand is named.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import ricci

BACKENDS = ["numpy", "torch", "jax", "numba"]
QUAD = "L = x[i] * A[i,j] * x[j]"


def _np(v):
    return v.detach().numpy() if hasattr(v, "detach") else np.asarray(v)


@pytest.fixture(scope="module")
def quad():
    return ricci.grad(QUAD, wrt=["x", "A"])


def _x64():
    jax = pytest.importorskip("jax")
    return jax.enable_x64(True)


def _call(f, backend, *args, **kwargs):
    if backend == "jax":
        with _x64():
            return f(*args, **kwargs)
    return f(*args, **kwargs)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("bad, words", [
    ("abc", "not a str"),
    ({1: 2}, "not a dict"),
    (None, "not a NoneType"),
    ([[1.0, 2.0], [3.0]], "not an array of numbers"),
    (np.array(["a", "b", "c"]), "strings"),
    (np.array([object(), 1, 2], dtype=object), "Python objects"),
    (np.ones(3) + 1j, "complex"),
])
def test_values_that_are_not_arrays_of_numbers_are_refused(quad, backend, bad, words):
    f = quad.compile(backend)
    with pytest.raises(ricci.RicciError, match=words) as e:
        _call(f, backend, x=bad, A=np.eye(3))
    assert "'x'" in str(e.value)


def test_a_tensor_that_requires_grad_is_refused_by_numpy(quad):
    with pytest.raises(ricci.RicciError, match="requires grad") as e:
        quad.compile("numpy")(x=torch.ones(3, requires_grad=True), A=np.eye(3))
    assert "detach" in (e.value.hint or "")
    # without requires_grad, a tensor is read as its values
    got = quad.compile("numpy")(x=torch.ones(3), A=torch.eye(3, dtype=torch.float64))
    np.testing.assert_allclose(got["x"], 2 * np.ones(3))


@pytest.mark.parametrize("backend", BACKENDS)
def test_lists_are_float64_and_arrays_keep_their_dtype(quad, backend):
    f = quad.compile(backend)
    got = _call(f, backend, x=[0.1, 0.2, 0.3], A=[[1, 0, 0], [0, 2, 0], [0, 0, 3]])
    assert str(got["x"].dtype).endswith("float64")
    want = np.array([0.2, 0.8, 1.8])
    np.testing.assert_allclose(_np(got["x"]), want, rtol=1e-15)  # no float32 rounding
    x32 = np.array([0.1, 0.2, 0.3], dtype=np.float32)
    got = _call(f, backend, x=x32, A=np.eye(3, dtype=np.float32))
    assert str(got["x"].dtype).endswith("float32")


@pytest.mark.parametrize("backend", BACKENDS)
def test_mixed_float32_and_float64_give_float64(quad, backend):
    f = quad.compile(backend)
    if backend == "torch":
        x, A = torch.ones(3, dtype=torch.float32), torch.eye(3, dtype=torch.float64)
    else:
        x, A = np.ones(3, dtype=np.float32), np.eye(3)
    got = _call(f, backend, x=x, A=A)
    assert str(got["x"].dtype).endswith("float64")
    np.testing.assert_allclose(_np(got["x"]), 2 * np.ones(3))


@pytest.mark.parametrize("backend", BACKENDS)
def test_positional_arguments_in_the_order_of_inputs(quad, backend):
    f = quad.compile(backend)
    assert quad.inputs == ("x", "A")
    x, A = np.array([1.0, 2.0, 3.0]), np.arange(9.0).reshape(3, 3)
    a = _call(f, backend, x, A)
    b = _call(f, backend, A=A, x=x)
    np.testing.assert_allclose(_np(a["A"]), _np(b["A"]))
    np.testing.assert_allclose(_np(a["x"]), (A + A.T) @ x)
    with pytest.raises(ricci.RicciError, match="takes 2 inputs"):
        f(x, A, A)
    with pytest.raises(ricci.RicciError, match="given twice"):
        f(x, x=x, A=A)
    with pytest.raises(ricci.RicciError, match="missing input 'A'") as e:
        f(x)
    assert e.value.line == 1  # pointed at in the program


def test_sizes_must_be_a_mapping_of_known_indices_to_ints():
    f = ricci.grad("L = sum[i](x[i]) * size(k)", wrt="x").compile()
    np.testing.assert_allclose(f(x=np.ones(3), sizes={"k": 4})["x"], 4 * np.ones(3))
    with pytest.raises(ricci.RicciError, match="mapping"):
        f(x=np.ones(3), sizes=[4])
    with pytest.raises(ricci.RicciError, match="non-negative int"):
        f(x=np.ones(3), sizes={"k": -1})
    with pytest.raises(ricci.RicciError, match="non-negative int"):
        f(x=np.ones(3), sizes={"k": 2.5})
    with pytest.raises(ricci.RicciError, match="does not use") as e:
        f(x=np.ones(3), sizes={"kk": 4})
    assert "did you mean 'k'" in (e.value.hint or "")
    with pytest.raises(ricci.RicciError, match="size of index 'k' is unknown"):
        f(x=np.ones(3))


@pytest.mark.parametrize("backend", BACKENDS)
def test_sizes_that_contradict_the_arrays_are_an_error(quad, backend):
    f = quad.compile(backend)
    with pytest.raises(ricci.RicciError, match="sizes gives index 'i' size 5, but 'x' has size 3"):
        _call(f, backend, x=np.ones(3), A=np.eye(3), sizes={"i": 5})
    got = _call(f, backend, x=np.ones(3), A=np.eye(3), sizes={"i": 3})  # agreeing is fine
    np.testing.assert_allclose(_np(got["x"]), 2 * np.ones(3))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_dead_statement_does_not_constrain_the_call(backend):
    d = ricci.grad("T1 = logdet(K)\nL = sum[i](x[i]^2)", wrt="x", of="L")
    got = _call(d.compile(backend), backend, x=np.array([1.0, 2.0]))
    np.testing.assert_allclose(_np(got["x"]), [2.0, 4.0])
    assert d.inputs == ("x",)


def test_an_unknown_size_is_named_by_a_tensor_axis_never_an_internal_label():
    from ricci.codegen.binding import Binder
    from ricci.ir.expr import MatFn, operand
    from ricci.ir.program import Program, Statement

    # K's dims named by no index: only the matrix function uses them
    k = ricci.parse("L = logdet(K)").dims["K"][0]
    bare = Program([Statement("L", (), MatFn("logdet", operand("K", k)))], {"L": (), "K": (k, k)})
    with pytest.raises(ricci.RicciError) as e:
        Binder(bare, ()).bind({})
    assert "axis 0 of 'K'" in str(e.value) and k not in str(e.value)


@pytest.mark.parametrize("backend", BACKENDS)
def test_singular_and_non_positive_definite_operands_are_named(backend):
    inv = ricci.grad("L = sum[i,j](inv(A)[i,j] * B[i,j])", wrt="A").compile(backend)
    with pytest.raises(ricci.RicciError, match=r"inv\(A\): the input 'A' is singular") as e:
        _call(inv, backend, A=np.zeros((3, 3)), B=np.ones((3, 3)))
    assert e.value.line == 1
    inner = ricci.grad("C[i,j] = 2 * A[i,j]\nL = sum[i,j](inv(C)[i,j])", wrt="A").compile(backend)
    with pytest.raises(ricci.RicciError, match="the matrix 'C' is singular"):
        _call(inner, backend, A=np.ones((3, 3)))
    logdet = ricci.grad("L = logdet(S)", wrt="S").compile(backend)
    with pytest.raises(ricci.RicciError, match="negative determinant"):
        _call(logdet, backend, S=-np.eye(3))
    with pytest.raises(ricci.RicciError, match="non-finite"):
        _call(logdet, backend, S=np.full((3, 3), np.nan))
    # a good operand passes, and the value is right
    S = np.array([[2.0, 0.5, 0.0], [0.5, 3.0, 0.1], [0.0, 0.1, 1.0]])
    np.testing.assert_allclose(_np(_call(logdet, backend, S=S)["S"]), np.linalg.inv(S).T, rtol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_a_computed_operand_singular_to_working_precision_is_refused(backend):
    """Bug #30 (found by the cookbook suite): logdet(X X^T) with X of rank 2 returned finite,
    meaningless numbers (inv of a matrix singular to working precision raises nothing)."""
    f = ricci.grad("Y[i,j] = X[i,k] * X[j,k]\nL = logdet(Y)", ["X"]).compile(backend)
    X = np.random.default_rng(0).standard_normal((3, 2))
    with pytest.raises(ricci.RicciError, match="logdet\\(Y\\): the matrix 'Y' is singular"):
        _call(f, backend, X=X)
    X = np.random.default_rng(0).standard_normal((3, 4))  # full rank: the textbook's 2 (X X^T)^-1 X
    np.testing.assert_allclose(_np(_call(f, backend, X=X)["X"]), 2 * np.linalg.inv(X @ X.T) @ X, rtol=1e-10)


def test_torch_function_takes_lists_as_float64():
    f = ricci.torch.function("L = sum[i](x[i]^2 * w[i])", inputs=["x"])
    x = torch.tensor([0.1, 0.2], dtype=torch.float64, requires_grad=True)
    y = f(x, [0.3, 0.7])
    assert y.dtype == torch.float64
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.06, 0.28], rtol=1e-15)
    with pytest.raises(ricci.RicciError, match="not a str"):
        f(x, "w")


def test_jax_function_checks_its_inputs():
    pytest.importorskip("jax")
    f = ricci.jax.function("L = sum[i](x[i]^2 * w[i])", inputs=["x"])
    with pytest.raises(ricci.RicciError, match="not a dict"):
        f([1.0, 2.0], {"w": 1})
    with _x64():
        assert float(f([1.0, 2.0], [3.0, 4.0])) == 19.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_division_by_an_empty_index_names_it(backend):
    # layer norm over d of size 0: the code divides Python numbers by size(d), which raise
    # where arrays give NaN; the numba backend divides inside its kernel (NumPy scalars),
    # and its results are the empty arrays they should be
    d = ricci.grad((Path(__file__).resolve().parents[2] / "examples" / "layernorm.ricci").read_text(),
                   wrt=["x", "g", "b"])
    args = {"x": np.zeros((3, 0)), "eps": 1e-5, "g": np.zeros(0), "b": np.zeros(0), "dy": np.zeros((3, 0))}
    if backend == "torch":
        args = {k: torch.tensor(v) for k, v in args.items()}
    f = d.compile(backend)
    with np.errstate(all="ignore"):
        if backend == "numba":
            got = f(**args)
            assert {k: v.shape for k, v in got.items()} == {"x": (3, 0), "g": (0,), "b": (0,)}
            return
        with pytest.raises(ricci.RicciError, match="divides by a size that is 0 \\(index 'd' has size 0\\)"):
            _call(f, backend, **args)


def test_the_numba_backend_refuses_dtypes_numba_does_not_compile():
    pytest.importorskip("numba")
    f = ricci.grad("L = sum[i](relu(x[i]) * x[i] * 2)", wrt="x").compile("numba")
    for dt in (np.float16, np.longdouble):
        with pytest.raises(ricci.RicciError, match="numba backend computes in float32 or float64") as e:
            f(x=np.ones(3, dtype=dt))
        assert "'x'" in str(e.value) and "numpy backend" in (e.value.hint or "")
    assert f(x=np.ones(3, dtype=np.float32))["x"].dtype == np.float32
