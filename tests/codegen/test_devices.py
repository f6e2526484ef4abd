"""Devices, and ``torch.compile``.

* the torch code of every example's gradient (and the Hessian and HVP of the scalar
  examples) runs on ``meta`` tensors and every tensor it makes is a ``meta`` tensor: no
  constant is made on the CPU, nothing is copied to the host (a dispatch mode sees every
  tensor an operation returns). So the code runs on a GPU as it is;
* the JAX code of every example's gradient runs under ``jax.eval_shape`` (no value is
  read on the Python side) and gives the inputs' shapes;
* the checks of a compiled function that read values (matrix operands) skip meta
  tensors, and still refuse a bad real matrix;
* ``d.compile("torch", jit=True)`` and ``ricci.torch.function(..., compile=True)`` run
  the code through ``torch.compile``: the same gradients as the eager code and as autograd;
  a failure to compile is a ``RicciError``; ``jit`` is refused by the other backends.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import ricci
import ricci.codegen.calling as calling
from ricci.codegen.binding import all_dims

torch = pytest.importorskip("torch")

from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402
from torch.utils._pytree import tree_flatten  # noqa: E402

import ricci.torch  # noqa: E402

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.ricci"))
#: small distinct sizes, so that a transposed axis cannot go unnoticed
SIZES = (3, 4, 2, 5)


def example(path: Path) -> tuple[str, list[str]]:
    """The program and its ``# wrt:`` inputs."""
    text = path.read_text()
    return text, text.splitlines()[1].split(":", 1)[1].split()


def shapes(d) -> dict[str, tuple[int, ...]]:
    """A shape for every tensor of ``d`` (sizes by dim, distinct where they can be)."""
    lab = {x: SIZES[k % len(SIZES)] for k, x in enumerate(all_dims(d.program))}
    return {n: tuple(lab[x] for x in dims) for n, dims in d.program.dims.items()}


def result_shape(d, key: str, shape: dict[str, tuple[int, ...]], diagonal: bool = False) -> tuple[int, ...]:
    """The shape of the result ``key``: the input's for a gradient, an HVP or a Hessian's
    diagonal, the two inputs' for a Hessian (``"x"`` or ``"x,y"``), the output's then the
    input's for a Jacobian."""
    if d.kind == "hessian" and not diagonal:
        a, _, b = key.partition(",")
        return shape[a] + shape[b or a]
    if d.kind == "jacobian":
        return shape[d.of] + shape[key]
    return shape[key]


@pytest.fixture(scope="module", autouse=True)
def meta_kernels():
    """torch loads its meta kernels at the first operation on a meta tensor (about 3 s,
    once per process): paid here, not by the first test."""
    _ = torch.empty(1, device="meta") * 2


class OffMeta(TorchDispatchMode):
    """Records every operation that returns a tensor not on the ``meta`` device."""

    def __init__(self) -> None:
        super().__init__()
        self.off: list[str] = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_flatten(out)[0]:
            if isinstance(t, torch.Tensor) and t.device.type != "meta":
                self.off.append(f"{func} -> {t.device.type} {tuple(t.shape)}")
        return out


def meta(shape) -> torch.Tensor:
    return torch.empty(shape, device="meta", dtype=torch.float64)


def run_on_meta(d, diagonal: bool = False) -> None:
    shape = shapes(d)
    f = d.compile("torch")
    with OffMeta() as mode:
        out = f(**{n: meta(shape[n]) for n in d.inputs})
    assert not mode.off, f"tensors made off the inputs' device:\n{f.source}\n" + "\n".join(mode.off)
    assert set(out)
    for k, v in out.items():
        assert isinstance(v, torch.Tensor) and v.device.type == "meta", k
        assert tuple(v.shape) == result_shape(d, k, shape, diagonal), k
        assert v.dtype == torch.float64, k


def test_the_dispatch_mode_sees_a_tensor_made_on_the_cpu():
    """The detector the device tests rely on: a CPU constant next to meta tensors (which
    torch accepts, for a 0-d one) is seen."""
    x = meta((3, 3))
    with OffMeta() as mode:
        _ = x * torch.tensor(2.0, dtype=torch.float64)
        _ = torch.eye(3, dtype=x.dtype)
    assert len(mode.off) >= 2
    with OffMeta() as mode:
        _ = x * torch.full((), 2.0, dtype=x.dtype, device=x.device) + torch.eye(3, dtype=x.dtype, device=x.device)
    assert mode.off == []


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_torch_gradient_code_runs_on_meta_tensors(path):
    text, wrt = example(path)
    run_on_meta(ricci.grad(text, wrt))


@pytest.mark.parametrize("name", ["quadratic_form", "logistic_regression"])
def test_torch_hessian_and_hvp_code_run_on_meta_tensors(name):
    text, wrt = example(Path(__file__).parents[2] / "examples" / f"{name}.ricci")
    for x in wrt:
        run_on_meta(ricci.hessian(text, x))
        run_on_meta(ricci.hvp(text, x))
    if len(wrt) > 1:
        run_on_meta(ricci.hessian(text, tuple(wrt[:2])))  # a mixed one


@pytest.mark.slow
@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_torch_second_derivative_code_runs_on_meta_tensors(path):
    text, wrt = example(path)
    try:
        ricci.hessian(text, wrt[0])
    except ricci.RicciError as e:  # a tensor output: its Jacobian is the derivative to run
        assert "needs a scalar output" in e.message, e.message
        run_on_meta(ricci.jacobian(text, wrt[0]))
        return
    run_on_meta(ricci.hessian(text, wrt[0]))
    run_on_meta(ricci.hessian(text, wrt[0], diagonal=True), diagonal=True)
    run_on_meta(ricci.hvp(text, wrt[0]))


def test_constants_deltas_and_sizes_are_made_on_the_inputs_device():
    """The spellings that make tensors: a three-index delta, an identity, a broadcast
    number, a function of a size, a number result."""
    run_on_meta(ricci.jacobian("Y[i,j,k] = x[i] * delta[i,j,k]", wrt="x"))
    run_on_meta(ricci.grad("L = sum[i,j](X[i,j] * delta[i,j]) * sqrt(size(i))", wrt="X"))
    run_on_meta(ricci.grad("L = sum[i](3 * x[i])", wrt="x"))  # dx[i] = 3: a full array
    run_on_meta(ricci.grad("L = sum[i,j](x[i] * y[j])", wrt="x"))  # a 0-d value broadcast
    run_on_meta(ricci.grad("L = 2 * X + log(size(i)) * sum[i](y[i])", wrt=["X", "y"]))
    src = ricci.grad("L = sum[i](x[i]) * sqrt(size(i))", wrt="x").source("torch")
    assert "device=x.device" in src and "torch.tensor(" not in src


def test_torch_function_runs_forward_and_backward_on_meta_tensors():
    text, _ = example(Path(__file__).parents[2] / "examples" / "layernorm.ricci")
    f = ricci.torch.function(text + "L = sum[n,d](y[n,d]^2)\n", inputs=["x", "g", "b"])
    shape = {"x": (3, 4), "eps": (), "g": (4,), "b": (4,)}
    args = {n: meta(shape[n]).requires_grad_(n != "eps") for n in f.inputs}
    with OffMeta() as mode:
        loss = f(**args)
        loss.backward()
    assert not mode.off, mode.off
    assert loss.device.type == "meta"
    for n in ("x", "g", "b"):
        assert args[n].grad.device.type == "meta" and args[n].grad.shape == args[n].shape


def test_value_checks_skip_meta_tensors_and_still_check_real_ones():
    """The matrix operand checks read values: a meta operand has none, so they are skipped;
    a real singular operand is still refused."""
    d = ricci.grad("L = logdet(A) - S[i,j] * A[j,i]", wrt="A")
    out = d.compile("torch")(A=meta((3, 3)), S=meta((3, 3)))
    assert out["A"].device.type == "meta"
    d2 = ricci.grad("Y[i,j] = X[i,k] * X[j,k]\nL = logdet(Y)", wrt="X")  # a computed operand
    assert d2.compile("torch")(X=meta((3, 3)))["X"].device.type == "meta"
    with pytest.raises(ricci.RicciError, match="singular"):
        d.compile("torch")(A=torch.zeros(3, 3, dtype=torch.float64), S=torch.eye(3, dtype=torch.float64))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_jax_gradient_code_runs_under_eval_shape(path):
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    text, wrt = example(path)
    d = ricci.grad(text, wrt)
    shape = shapes(d)
    args = {n: jax.ShapeDtypeStruct(shape[n], jax.numpy.float64) for n in d.inputs}
    out = jax.eval_shape(d.compile("jax"), **args)
    assert set(out) == set(wrt)
    for k, v in out.items():
        assert v.shape == shape[k] and v.dtype == jax.numpy.float64, k
    if path.stem in ("quadratic_form", "logistic_regression"):
        for dd in (ricci.hessian(text, wrt[0]), ricci.hvp(text, wrt[0])):
            s2 = shapes(dd)
            out = jax.eval_shape(dd.compile("jax"), **{n: jax.ShapeDtypeStruct(s2[n], jax.numpy.float64)
                                                        for n in dd.inputs})
            for k, v in out.items():
                assert v.shape == result_shape(dd, k, s2), k


# ---------------------------------------------------------------- torch.compile


def test_jit_is_for_the_torch_backend_and_off_by_default():
    d = ricci.grad("Y[i,j] = X[i,k] * A[k,j]", wrt=["X", "A"])
    assert d.compile("torch").jit is False and d.compile("torch") is d.compile("torch", jit=False)
    with pytest.raises(ricci.RicciError, match="torch backend") as e:
        d.compile("jax", jit=True)
    assert "jax.jit" in str(e.value.hint)
    with pytest.raises(ricci.RicciError, match="torch backend"):
        d.compile("numpy", jit=True)
    with pytest.raises(ricci.RicciError, match="jit must be True or False"):
        d.compile("torch", jit="yes")
    with pytest.raises(ricci.RicciError, match="compile must be True or False"):
        ricci.torch.function("L = sum[i](x[i]^2)", inputs="x", compile=1)


def _reference_grads(name: str, args: dict[str, torch.Tensor], wrt: list[str]) -> dict[str, torch.Tensor]:
    """Autograd of plain torch code for the example ``name`` (the upstream gradient is the
    seed ``dY``/``dy``)."""
    t = {k: v.clone().requires_grad_(k in wrt) for k, v in args.items()}
    if name == "matmul":
        out, seed = t["X"] @ t["A"], t["dY"]
    else:
        x = t["x"]
        y = torch.nn.functional.layer_norm(x, x.shape[-1:], t["g"], t["b"], eps=float(t["eps"]))
        out, seed = y, t["dy"]
    gs = torch.autograd.grad((out * seed).sum(), [t[w] for w in wrt])
    return dict(zip(wrt, gs))


@pytest.mark.slow
@pytest.mark.parametrize("name", ["matmul", "layernorm"])
def test_torch_compile_gradients_equal_eager_and_autograd(name):
    text, wrt = example(Path(__file__).parents[2] / "examples" / f"{name}.ricci")
    d = ricci.grad(text, wrt)
    g = torch.Generator().manual_seed(0)
    shape = shapes(d)
    args = {n: torch.randn(shape[n], generator=g, dtype=torch.float64) for n in d.inputs}
    if "eps" in args:
        args["eps"] = torch.tensor(1e-5, dtype=torch.float64)
    jitted = d.compile("torch", jit=True)
    assert jitted.jit and jitted is not d.compile("torch")
    got, eager = jitted(**args), d.compile("torch")(**args)
    want = _reference_grads(name, args, wrt)
    for w in wrt:
        torch.testing.assert_close(got[w], eager[w], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(got[w], want[w], rtol=1e-10, atol=1e-10)
    # new shapes recompile, and the input checks still run eagerly
    args2 = {n: torch.randn([s + 1 for s in v.shape], generator=g, dtype=torch.float64) if v.dim() else v
             for n, v in args.items()}
    for w in wrt:
        torch.testing.assert_close(jitted(**args2)[w], d.compile("torch")(**args2)[w], rtol=1e-12, atol=1e-12)
    with pytest.raises(ricci.RicciError):
        jitted(**{**args, wrt[0]: torch.ones(2, dtype=torch.float64)})


@pytest.mark.slow
def test_torch_function_with_compile_equals_the_eager_one():
    text, _ = example(Path(__file__).parents[2] / "examples" / "layernorm.ricci")
    prog = text + "L = sum[n,d](y[n,d]^2 * w[n,d])\n"
    g = torch.Generator().manual_seed(1)
    base = {"x": torch.randn(5, 4, generator=g, dtype=torch.float64), "eps": torch.tensor(1e-5, dtype=torch.float64),
            "g": torch.randn(4, generator=g, dtype=torch.float64), "b": torch.randn(4, generator=g, dtype=torch.float64),
            "w": torch.randn(5, 4, generator=g, dtype=torch.float64)}
    results = []
    for compiled in (False, True):
        f = ricci.torch.function(prog, inputs=["x", "g", "b"], compile=compiled)
        args = {n: v.clone().requires_grad_(n in ("x", "g", "b")) for n, v in base.items()}
        loss = f(**args)
        loss.backward()
        results.append([loss.detach()] + [args[n].grad for n in ("x", "g", "b")])
    for a, b in zip(*results):
        torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)


@pytest.mark.slow
def test_a_failure_to_compile_is_a_ricci_error(monkeypatch):
    def broken(gm, example_inputs):
        raise RuntimeError("no C++ compiler on this machine")

    monkeypatch.setattr(calling, "TORCH_COMPILE_BACKEND", broken)
    torch._dynamo.reset()
    d = ricci.grad("L = sum[i](x[i]^2)", wrt="x")
    f = d.compile("torch", jit=True)
    with pytest.raises(ricci.RicciError, match="torch.compile failed to compile the grad of L") as e:
        f(x=np.ones(3))
    assert "no C++ compiler" in str(e.value) and "without jit=True" in str(e.value.hint)
    torch._dynamo.reset()
