"""Buffer reuse in generated code (codegen/inplace.py): a value is computed in the buffer of
an array that dies where it is computed, an elementwise function writes into its argument,
and no value and no input ever changes for it."""

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import ricci
from ricci.codegen import emit
from ricci.codegen.backends import NumpyBackend, TorchBackend
from ricci.codegen.inplace import reuse_buffers

from fuzz.differential import derive, label_sizes
from fuzz.programs import generate, random_inputs, seed_array

NP_UNARY = frozenset({"np.exp", "np.tanh", "np.sqrt"})
ROOT = Path(__file__).resolve().parents[2]


def rewrite(lines, dies, dims, unary=NP_UNARY):
    spell = NumpyBackend().in_place_call
    return [ln for group in reuse_buffers(lines, dies, dims, unary, spell) for ln in group]


# ---------------------------------------------------------------- the rules, one by one


def test_a_value_is_computed_in_the_buffer_of_an_array_dying_there():
    lines = ["a = x * 2.0", "b = a + y[:, None]"]
    dims = {"a": ("n", "d"), "b": ("n", "d")}
    assert rewrite(lines, {1: ["a"]}, dims) == ["a = x * 2.0", "b = a", "b += y[:, None]"]
    # the whole chain of operations after it, in order
    lines = ["a = x * 2.0", "b = a / c[:, None] - d * e"]
    assert rewrite(lines, {1: ["a"]}, dims) == ["a = x * 2.0", "b = a", "b /= c[:, None]", "b -= d * e"]


def test_the_right_operand_of_a_sum_or_product_too_but_never_of_a_difference():
    dims = {"a": ("n",), "b": ("n",)}
    assert rewrite(["a = x * 2.0", "b = c * d * a - e"], {1: ["a"]}, dims) == \
        ["a = x * 2.0", "b = a", "b *= c * d", "b -= e"]
    assert rewrite(["a = x * 2.0", "b = c - a"], {1: ["a"]}, dims) == ["a = x * 2.0", "b = c - a"]
    assert rewrite(["a = x * 2.0", "b = c / a"], {1: ["a"]}, dims) == ["a = x * 2.0", "b = c / a"]


@pytest.mark.parametrize("lines, dies, dims, why", [
    (["b = x + 1.0"], {0: ["x"]}, {"x": ("n",), "b": ("n",)}, "an input is never updated"),
    (["a = x.T", "b = a + 1.0"], {1: ["a"]}, {"a": ("d", "n"), "b": ("d", "n")}, "a view of an input"),
    (["a = x * 2.0", "v = a[:, None]", "b = a + 1.0"], {2: ["a"]}, {"a": ("n",), "b": ("n",), "v": ("n", "o")},
     "another name holds a view of it"),
    (["a = x * 2.0", "c = a", "b = a + 1.0"], {2: ["a"]}, {"a": ("n",), "b": ("n",), "c": ("n",)},
     "another name holds it"),
    (["a = x * 2.0", "b = a + y"], {}, {"a": ("n",), "b": ("n",)}, "it is read again later"),
    (["a = x * 2.0", "b = a[:, None] + y"], {1: ["a"]}, {"a": ("n",), "b": ("n", "d")},
     "the result is larger"),
    (["a = x * 2.0", "b = a + y"], {1: ["a"]}, {"a": ("n",), "b": ("m",)}, "other dims"),
    (["a = x * 2.0", "b = a * a"], {1: ["a"]}, {"a": ("n",), "b": ("n",)}, "read twice in the line"),
    (["a = x * 2.0", "b = a @ y"], {1: ["a"]}, {"a": ("n", "n"), "b": ("n", "n")}, "a matrix product"),
    (["a = x * 2.0", "b = a + 1.0"], {1: ["a"]}, {"a": ("n",)}, "the result's dims are unknown"),
    (["a = np.einsum('aa->a', x)", "b = a + 1.0"], {1: ["a"]}, {"a": ("n",), "b": ("n",)},
     "a one-operand einsum may be a view"),
    (["a = x * 2.0", "b = np.tanh(a[0])"], {1: ["a"]}, {"a": ("n", "n"), "b": ("n",)}, "a part of it"),
    (["a = x * 2.0", "b = np.arctan(a)"], {1: ["a"]}, {"a": ("n",), "b": ("n",)},
     "a function not known to write in place"),
])
def test_what_is_never_updated(lines, dies, dims, why):
    assert rewrite(lines, dies, dims) == lines, why


def test_an_elementwise_function_writes_into_its_argument():
    dims = {"z": ("n",), "s": ("n",), "t": ("n",)}
    assert rewrite(["z = x * 2.0", "s = np.tanh(z)"], {1: ["z"]}, dims) == ["z = x * 2.0", "s = np.tanh(z, out=z)"]
    # a fresh argument is computed into the result, then the function writes into it
    assert rewrite(["t = np.exp(x - m[:, None])"], {}, dims) == ["t = x - m[:, None]", "np.exp(t, out=t)"]
    # an input or a view: a new array, as written
    assert rewrite(["t = np.exp(x)"], {0: ["x"]}, dims) == ["t = np.exp(x)"]
    assert rewrite(["t = np.exp(x.T)"], {}, dims) == ["t = np.exp(x.T)"]


def test_a_copy_of_an_array_dying_there_is_that_array():
    dims = {"a": ("n",), "b": ("n",)}
    assert rewrite(["a = x * 2.0", "b = a.copy()"], {1: ["a"]}, dims) == ["a = x * 2.0", "b = a"]
    assert rewrite(["a = x * 2.0", "b = a.copy()"], {}, dims) == ["a = x * 2.0", "b = a.copy()"]


def test_a_name_made_by_reuse_owns_its_buffer_and_reuses_it_again():
    dims = {"a": ("n",), "b": ("n",), "c": ("n",)}
    assert rewrite(["a = x * 2.0", "b = a + 1.0", "c = b * 3.0"], {1: ["a"], 2: ["b"]}, dims) == \
        ["a = x * 2.0", "b = a", "b += 1.0", "c = b", "c *= 3.0"]


def test_the_torch_functions_written_in_place_are_the_tables_with_their_in_place_methods():
    assert {"torch.exp", "torch.tanh", "torch.relu", "torch.sigmoid"} <= TorchBackend.unary_in_place
    be = TorchBackend()
    x = torch.linspace(-0.9, 0.9, 7, dtype=torch.float64)
    for fn in TorchBackend.unary_in_place:
        code = be.in_place_call(fn, "y")
        assert code.startswith("y.") and code.endswith("_()"), code
        y = x.abs() + 0.05 if fn in ("torch.log", "torch.sqrt") else x.clone()
        want = eval(fn, {"torch": torch})(y.clone())
        got = eval(code, {"y": y})
        assert got is y and torch.equal(y, want), fn
    dims = {"z": ("n",), "s": ("n",)}
    assert [ln for g in reuse_buffers(["z = x * 2.0", "s = torch.tanh(z)"], {1: ["z"]}, dims,
                                      TorchBackend.unary_in_place, be.in_place_call) for ln in g] == \
        ["z = x * 2.0", "s = z.tanh_()"]


def test_the_numpy_functions_written_in_place_are_the_tables_ufuncs():
    from ricci.primitives.functions import FUNCTIONS

    assert {"np.exp", "np.tanh", "np.log", "np.sqrt"} <= NumpyBackend.unary_in_place
    x = np.linspace(0.1, 0.9, 7)
    for fn in NumpyBackend.unary_in_place:
        f = eval(fn, {"np": np})
        assert isinstance(f, np.ufunc), fn
        y = x.copy()
        assert f(y, out=y) is y and np.array_equal(y, f(x)), fn
    assert all(fn.startswith("np.") for fn in NumpyBackend.unary_in_place)
    assert len(NumpyBackend.unary_in_place) >= len([f for f in FUNCTIONS.values()
                                                    if f.code["numpy"].startswith("np.exp(")])


# ---------------------------------------------------------------- the generated code


def test_the_layer_norm_and_softmax_backward_reuse_their_buffers():
    t = (ROOT / "examples" / "layernorm.ricci").read_text()
    src = ricci.grad(t, wrt=["x", "g", "b"]).source("numpy")
    assert "    dx = dxc\n    dx += (dmu / x.shape[1])[:, None]\n" in src
    t = (ROOT / "examples" / "softmax_cross_entropy.ricci").read_text()
    src = ricci.grad(t, wrt=t.splitlines()[1].split(":", 1)[1].split()).source("numpy")
    assert "np.exp(t1, out=t1)" in src and "    dz = t1\n    dz *= " in src


def test_code_for_autograd_and_jax_code_update_nothing():
    t = (ROOT / "examples" / "affine_tanh_mse.ricci").read_text()
    d = ricci.grad(t, wrt=["W", "b"])
    assert "*=" not in d.source("jax") and "out=" not in d.source("jax")
    from ricci.codegen.emit import generate
    src = generate(d.code_program, d.outputs, d.inputs, backend="torch", in_place=False).source
    assert "*=" not in src and "+=" not in src


def _without_reuse(monkeypatch):
    monkeypatch.setattr(emit, "reuse_buffers", lambda lines, *rest: [[ln] for ln in lines])


def _run(m, d, backend, arrays, seed):
    given = {k: arrays[k] for k in d.inputs if k in arrays}
    if d.seed:
        given[d.seed] = seed
    if backend == "torch":
        given = {k: torch.tensor(v) for k, v in given.items()}
    before = {k: np.array(v.numpy() if isinstance(v, torch.Tensor) else v, copy=True) for k, v in given.items()}
    out = d.compile(backend).call(given, None, label_sizes(m, d.program))
    for k, v in given.items():  # no input is ever written
        assert np.array_equal(np.asarray(v), before[k], equal_nan=True), (k, m.text())
    return {k: np.asarray(v) for k, v in out.items()}


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("program, want", [
    ("Y[i,j] = X[j,i]\nZ[i,j] = Y[i,j] * 2 + 1\nL = sum[i,j](Z[i,j] * W[i,j])", lambda x: 2 * x.T + 1),  # X.T
    ("Y[i,j] = X[i,j]\nZ[i,j] = Y[i,j] * 2 + 1\nL = sum[i,j](Z[i,j] * W[i,j])", lambda x: 2 * x + 1),  # X
    ("Y[i] = X[i,i]\nZ[i] = Y[i] * 2 + 1\nL = sum[i](Z[i] * W[i])", lambda x: 2 * np.diag(x) + 1),  # a view
    ("Y[i] = X[i,i]\nZ[i] = exp(Y[i])\nL = sum[i](Z[i] * W[i])", lambda x: np.exp(np.diag(x))),
])
def test_views_and_aliases_of_inputs_are_never_written(program, want, backend):
    d = ricci.grad(program, wrt="W")
    x = np.arange(1.0, 10.0).reshape(3, 3) / 10
    w = np.linspace(0.5, 1.5, 9).reshape(3, 3) if "W[i,j]" in program else np.linspace(0.5, 1.5, 3)
    args = {"X": x.copy(), "W": w.copy()}
    if backend == "torch":
        args = {k: torch.tensor(v) for k, v in args.items()}
    got = np.asarray(d.compile(backend)(**args)["W"])
    assert np.array_equal(np.asarray(args["X"]), x) and np.array_equal(np.asarray(args["W"]), w)
    np.testing.assert_allclose(got, want(x), rtol=1e-15)


EXAMPLES = sorted((ROOT / "examples").glob("*.ricci"))


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_the_gallery_with_reuse_gives_the_bits_of_the_gallery_without(path, backend, monkeypatch):
    text = path.read_text()
    wrt = text.splitlines()[1].split(":", 1)[1].split()
    d, plain = ricci.grad(text, wrt=wrt), ricci.grad(text, wrt=wrt)
    rng = np.random.default_rng(0)
    labels = list(dict.fromkeys(lab for dims in d.program.dims.values() for lab in dims))
    size = {lab: 3 + k % 3 for k, lab in enumerate(labels)}
    arrays = {}
    for name in d.inputs:
        shape = tuple(size[lab] for lab in d.program.dims[name])
        a = rng.uniform(0.5, 1.5, shape)
        arrays[name] = a @ a.T + 3 * np.eye(shape[0]) if len(shape) == 2 and shape[0] == shape[1] else a

    class M:  # what _run needs of a model
        @staticmethod
        def text():
            return text

    def run(deriv):
        given = {k: torch.tensor(v) if backend == "torch" else v.copy() for k, v in arrays.items()}
        out = deriv.compile(backend).call(given, None, size)
        for k, v in given.items():
            assert np.array_equal(np.asarray(v), arrays[k]), k  # no input is ever written
        return {k: np.asarray(v) for k, v in out.items()}

    got = run(d)
    with monkeypatch.context() as mp:
        _without_reuse(mp)
        want = run(plain)
    for key in want:
        assert got[key].dtype == want[key].dtype and np.array_equal(got[key], want[key], equal_nan=True), key


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_reuse_changes_no_bit_of_any_result_nor_any_input(backend, monkeypatch):
    """Random programs of the differential fuzzer (every kind: gradients, Jacobians,
    Hessians, their diagonals, HVPs): the code with buffer reuse gives the bits of the code
    without it, and leaves its inputs as they were."""
    reused = 0
    for k in range(200):
        m = generate(f"inplace:{k}", kind=("grad", "jacobian", "hessian", "diagonal", "hvp")[k % 5], backend=backend)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                p = ricci.parse(m.text())
                d, plain = derive(m, p), derive(m, p)
            except ricci.RicciError:
                continue
        arrays = random_inputs(m)
        seed = None
        if d.seed:
            seed = seed_array(m.shape(m.wrt[0]) if m.kind == "hvp" else m.shape(m.of), m.seed + 1)
        src = d.source(backend)
        with np.errstate(all="ignore"):
            got = _run(m, d, backend, arrays, seed)
            with monkeypatch.context() as mp:
                _without_reuse(mp)
                reused += plain.source(backend) != src
                want = _run(m, plain, backend, arrays, seed)
        assert got.keys() == want.keys()
        for key in got:
            assert got[key].shape == want[key].shape and got[key].dtype == want[key].dtype
            assert np.array_equal(got[key], want[key], equal_nan=True), (key, m.text(), src)
    assert reused >= 15, reused  # the programs exercise the rewrite


def test_of_two_arrays_dying_in_a_line_the_leftmost_is_reused_whatever_the_order_given():
    """The names dying at a line come from a set: the code must not depend on their order
    (``t4 = t3; t4 *= t2`` or ``t4 = t2; t4 *= t3`` by the hash seed, before)."""
    lines = ["a = x * 2.0", "b = y * 2.0", "c = b * a"]
    dims = {"a": ("n",), "b": ("n",), "c": ("n",)}
    want = ["a = x * 2.0", "b = y * 2.0", "c = b", "c *= a"]
    assert rewrite(lines, {2: ["a", "b"]}, dims) == want
    assert rewrite(lines, {2: ["b", "a"]}, dims) == want
