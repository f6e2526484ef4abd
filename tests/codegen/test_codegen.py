"""Generated code: its form (plain matrix algebra where it fits), its contract, both backends."""

import numpy as np
import pytest
import torch

import ricci

rng = np.random.default_rng(0)

AFFINE = """Z[n,h] = X[n,d] * W[d,h] + b[h]
Y[n,h] = tanh(Z[n,h])
L = sum[n,h]((Y[n,h] - T[n,h])^2)"""

LAYERNORM = """mu[n] = sum[d](x[n,d]) / size(d)
xc[n,d] = x[n,d] - mu[n]
var[n] = sum[d](xc[n,d]^2) / size(d)
y[n,d] = xc[n,d] / sqrt(var[n] + eps) * g[d] + b[d]"""


def inputs_for(d, sizes):
    dims = d.program.dims
    labels = {}
    for name in d.inputs:
        for lab in dims[name]:
            labels.setdefault(lab, sizes[len(labels) % len(sizes)])
    return {n: rng.uniform(0.5, 1.5, [labels[lab] for lab in dims[n]]) for n in d.inputs}


def body(src):
    return [ln.strip() for ln in src.split('"""')[-1].splitlines() if ln.strip()]


def test_affine_layer_code_is_matrix_algebra():
    src = ricci.grad(AFFINE, wrt=["X", "W", "b"]).source()
    assert body(src) == [
        "Z = X @ W + b",
        "Y = np.tanh(Z, out=Z)",  # Z dies here: tanh writes into it
        "del Z",
        "dY = 2.0 * (Y - T)",
        "dZ = dY",  # dY dies here: dZ is computed in its buffer
        "dZ *= 1.0 - Y ** 2",
        "del Y, dY",
        "dX = dZ @ W.T",
        "dW = X.T @ dZ",
        "db = dZ.sum(axis=0)",
        "del dZ",
        "return {'X': dX, 'W': dW, 'b': db}",
    ]


def test_rnn_gradients_accumulate_during_the_backward_pass():
    # each step's contribution is added as soon as it exists, and its values are freed
    prog = (open(__file__.replace("tests/codegen/test_codegen.py", "examples/rnn3.ricci")).read()
            + "L = sum[h](s3[h]^2)\n")
    lines = body(ricci.grad(prog, wrt=["U", "W", "b"]).source())
    assert lines.index("dU = dz3 * s2[:, None]") < lines.index("dz2 = ds2") < lines.index("dz2 *= 1.0 - s2 ** 2")
    assert "dU += dz2 * s1[:, None]" in lines and "dW += dz1 * x1[:, None]" in lines
    assert "db = dz3.copy()" in lines  # never accumulate into another variable
    assert any(ln.startswith("del ") and "dz3" in ln for ln in lines)


def test_source_is_standalone_and_documented():
    d = ricci.grad(AFFINE, wrt=["W"])
    src = d.source()
    assert src.startswith("import numpy as np\n")
    assert all(line in src for line in str(d).splitlines())  # the derivation is the docstring
    ns = {}
    exec(src, ns)
    args = inputs_for(d, [3, 4, 5])
    np.testing.assert_allclose(ns["grad_L"](**args)["W"], d.compile()(**args)["W"])


def test_only_needed_forward_statements_are_computed():
    src = ricci.grad("Y[i,j] = X[i,k] * A[k,j]\nZ[i,j] = tanh(Y[i,j])", wrt="X", of="Y").source()
    assert "tanh" not in src and "Y =" not in src


def test_torch_backend_matches_numpy():
    for prog, wrt in [(AFFINE, ["X", "W", "b"]), (LAYERNORM, ["x", "g", "b"]),
                      ("Y[b,i,j] = X[b,i,k] * A[b,k,j]", ["X", "A"])]:
        d = ricci.grad(prog, wrt)
        args = inputs_for(d, [3, 4, 5, 2])
        a = d.compile("numpy")(**args)
        t = d.compile("torch")(**{k: torch.tensor(v) for k, v in args.items()})
        assert "import torch" in d.source("torch")
        for w in wrt:
            assert isinstance(t[w], torch.Tensor)
            np.testing.assert_allclose(t[w].numpy(), a[w], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("prog, wrt, expect", [
    ("Y[b,i,j] = X[b,i,k] * A[b,k,j]", "X", "@"),           # batched matmul
    ("y[i] = T[i,j,k] * M[j,k]", "M", "tensordot"),          # contraction over two axes
    ("y[i] = T[i,j,k] * u[j] * v[k]", "u", None),            # three operands, opt_einsum order
    ("y[b] = T[b,i,j] * u[b,i] * v[b,j]", "T", None),
    ("t = A[i,i] * x[i]", "A", "eye"),
    ("Y[i,j] = X[j,i] + X[i,j]", "X", ".T"),
])
def test_contractions_are_correct(prog, wrt, expect):
    d = ricci.grad(prog, wrt)
    if expect:
        assert expect in d.source()
    assert ricci.check(prog, [wrt]).ok


def test_jacobian_code_with_a_three_index_delta():
    prog = "Y[i,j] = x[i] * delta[i,j] * delta[j,k] * w[k]"
    d = ricci.jacobian(prog, wrt="x")
    assert ricci.check(prog, ["x"], derivation=d).ok


def test_common_subexpressions_are_computed_once():
    src = ricci.grad("L = sum[i](tanh(A[i,j]*x[j])^2)", wrt="x").source()
    assert src.count("np.tanh(") == 1


def test_gradients_have_the_shape_of_their_input_even_when_constant():
    d = ricci.grad("L = sum[i,j](X[i,j]) + c", wrt=["X", "c"])
    out = d.compile()(X=np.zeros((2, 3)), c=5.0)
    assert out["X"].shape == (2, 3) and out["X"].flags.writeable
    np.testing.assert_array_equal(out["X"], np.ones((2, 3)))
    assert np.shape(out["c"]) == ()
    z = ricci.grad("y[i] = w[i] * 2\nL = sum[i](x[i])", wrt="w").compile()(x=np.ones(3), w=np.ones(4))
    np.testing.assert_array_equal(z["w"], np.zeros(4))


def test_compiled_function_contract():
    d = ricci.grad("Y[i,j] = X[i,k] * A[k,j]", wrt=["X", "A"])
    assert d.inputs == ("X", "A", "dY")
    f = d.compile()
    assert d.compile() is f  # cached
    out = f(X=[[1.0, 2.0]], A=[[1.0], [1.0]], dY=[[1.0]])  # lists are accepted
    assert set(out) == {"X", "A"}
    np.testing.assert_array_equal(out["X"], [[1.0, 1.0]])
    np.testing.assert_array_equal(out["A"], [[1.0], [2.0]])
    # float32 stays float32
    o32 = f(X=np.ones((2, 3), np.float32), A=np.ones((3, 4), np.float32), dY=np.ones((2, 4), np.float32))
    assert o32["X"].dtype == np.float32


def test_names_that_are_python_keywords_or_module_names():
    prog = "out[i] = np[i,j] * lambda[j]"
    d = ricci.grad(prog, wrt=["np", "lambda"])
    assert ricci.check(prog, ["np", "lambda"]).ok
    assert "np_" in d.source()


def test_numerically_stable_functions():
    d = ricci.grad("L = sum[i](softplus(x[i]) + sigmoid(x[i]))", wrt="x")
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        out = d.compile()(x=np.array([-1000.0, 0.0, 1000.0]))["x"]
    np.testing.assert_allclose(out, [0.0, 0.75, 1.0])


def test_a_number_keeps_its_parentheses_in_numpy_code():
    # (size(i) + 0.5)^2 is 12.25 for i of size 3, not 0.5 + 3^2
    d = ricci.grad("L = sum[i](x[i]) * (size(i) + 0.5)^2", ["x"])
    for backend in ("numpy", "torch"):
        got = d.compile(backend)(x=np.ones(3))["x"]
        np.testing.assert_allclose(np.asarray(got, dtype=float), [12.25] * 3)


def _example_paths():
    import glob
    import os
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return sorted(glob.glob(os.path.join(root, "examples", "*.ricci")))


@pytest.mark.parametrize("path", _example_paths(), ids=lambda p: p.rsplit("/", 1)[-1])
def test_float32_inputs_give_float32_gradients(path):
    """No silent promotion to float64 (np.sqrt(3) is a np.float64 that would promote)."""
    import torch

    text = open(path).read()
    d = ricci.grad(text, text.splitlines()[1].split(":", 1)[1].split())
    rng = np.random.default_rng(0)
    sizes = {lab: 3 + k % 2 for k, lab in enumerate(d.program.dims.values() and
                                                     {l for ls in d.program.dims.values() for l in ls})}
    arrays = {n: rng.uniform(0.5, 1.5, tuple(sizes[l] for l in d.program.dims[n])).astype(np.float32)
              for n in d.inputs}
    for name in arrays:  # well-conditioned square matrices for inv and logdet
        a = arrays[name]
        if a.ndim == 2 and a.shape[0] == a.shape[1] and any(f"({name})" in text for f in ("inv", "det")):
            arrays[name] = (a @ a.T + a.shape[0] * np.eye(a.shape[0])).astype(np.float32)
    for backend, conv in (("numpy", lambda a: a), ("torch", torch.from_numpy)):
        got = d.compile(backend)(**{k: conv(v) for k, v in arrays.items()})
        for k, v in got.items():
            assert str(v.dtype).endswith("float32"), (backend, k, v.dtype)
