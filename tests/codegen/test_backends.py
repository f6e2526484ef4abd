"""The JAX backend, and ricci programs as autograd functions of torch and JAX.

* for every program in examples/, the jax- and torch-compiled gradients equal the
  numpy-compiled ones, and so does ``jax.jit`` of the compiled jax function;
* ``ricci.torch.function`` passes ``torch.autograd.gradcheck`` (and ``gradgradcheck``)
  for every example, its forward output being the reference interpreter's;
* ``ricci.jax.function`` under ``jax.jit(jax.grad(...))`` agrees with torch autograd (run
  on the reference interpreter) and with the numpy gradient for every example, and with
  ``jax.grad`` of plain jnp code;
* ``import ricci`` needs neither library, and using one that is missing raises
  ``RicciError`` naming the extra to install.
"""

from __future__ import annotations

import functools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import event, given

import ricci
from ricci.cli import main
from ricci.codegen.binding import all_dims
from ricci.verify.evaluate import evaluate

torch = pytest.importorskip("torch")

import ricci.jax  # noqa: E402 - imports jax only when a function is made
import ricci.torch  # noqa: E402

import support.cases as tp  # noqa: E402 - the property tests' cases and helpers
from support.cases import assert_close, to_numpy  # noqa: E402
from support.strategies import CLASS_SIZES  # noqa: E402


def _jax():
    """jax (float64) and jax.numpy, imported by the tests that use them: the fast tier,
    which runs none of them, does not pay for importing JAX."""
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    return jax, jax.numpy

EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.ricci"))
#: small distinct sizes, so that a transposed axis cannot go unnoticed
SIZES = (3, 4, 2, 5)


def example(path: Path) -> tuple[str, list[str]]:
    text = path.read_text()
    return text, text.splitlines()[1].split(":", 1)[1].split()


def label_sizes(program, sizes=SIZES) -> dict[str, int]:
    return {lab: sizes[k % len(sizes)] for k, lab in enumerate(all_dims(program))}


def make_inputs(d, names, seed: int = 0, sizes=SIZES) -> dict[str, np.ndarray]:
    """Random float64 inputs for ``names``: normal, or uniform in [0.5, 1.5] where the
    program is not finite at normal ones; square matrices are made well conditioned."""
    prog = d.program
    lab = label_sizes(prog, sizes)
    fwd = d.source_program.upto(d.of)

    def make(positive: bool) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        out = {}
        for n in names:
            dims = prog.dims[n]
            shape = [lab[x] for x in dims]
            a = rng.uniform(0.5, 1.5, shape) if positive and n != d.seed else rng.standard_normal(shape)
            if len(dims) == 2 and dims[0] == dims[1] and n != d.seed:
                a = a + shape[0] * np.eye(shape[0])
            out[n] = a
        return out

    args = make(False)
    with np.errstate(all="ignore"):
        env = evaluate(fwd, {k: args[k] for k in fwd.inputs}, dim_sizes=lab)
    if not all(np.all(np.isfinite(v)) for v in env.values()):
        args = make(True)
    return args


# ---------------------------------------------------------------- the three backends agree


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_jax_and_torch_code_equal_numpy_code(path):
    jax, jnp = _jax()
    text, wrt = example(path)
    d = ricci.grad(text, wrt)
    args = make_inputs(d, d.inputs)
    want = d.compile("numpy")(**args)
    got_jax = d.compile("jax")(**args)
    got_jit = jax.jit(d.compile("jax"))(**args)
    got_torch = d.compile("torch")(**{k: torch.tensor(v) for k, v in args.items()})
    assert set(got_jax) == set(got_jit) == set(got_torch) == set(wrt)
    for w in wrt:
        assert isinstance(got_jax[w], jax.Array) and got_jax[w].dtype == jnp.float64
        assert_close(got_jax[w], want[w], what=f"jax {w}")
        assert_close(got_jit[w], want[w], what=f"jax.jit {w}")
        assert_close(to_numpy(got_torch[w]), want[w], what=f"torch {w}")


def test_jax_source_is_standalone_and_jittable():
    jax, jnp = _jax()
    d = ricci.grad((Path(__file__).parents[2] / "examples" / "affine_tanh_mse.ricci").read_text(),
                   wrt=["X", "W", "b"])
    src = d.source("jax")
    assert src.startswith("import jax\nimport jax.numpy as jnp\n")
    body = src.split('"""')[-1]
    for line in ["Y = jnp.tanh(Z)", "dX = dZ @ W.T", "dW = _lhs_t(X.T) @ dZ", "db = dZ.sum(axis=0)"]:
        assert line in body
    assert "np." not in body.replace("jnp.", "")
    ns: dict = {}
    exec(src, ns)
    args = make_inputs(d, d.inputs)
    want = d.compile("numpy")(**args)
    got = jax.jit(ns["grad_L"])(**{k: jnp.asarray(v) for k, v in args.items()})
    for w in want:
        assert_close(got[w], want[w], what=w)


def test_jax_code_has_no_in_place_updates():
    jax, jnp = _jax()
    # a three-index delta is built with .at[...].set, a broadcast constant with jnp.full
    prog = "Y[i,j,k] = x[i] * delta[i,j,k]"
    d = ricci.jacobian(prog, wrt="x")
    src = d.source("jax")
    assert "_delta(x.shape[0], 3, x.dtype)" in src and ".at[(i,) * k].set(1.0)" in src
    assert not any(ln.strip().startswith("out[") for ln in src.splitlines())
    args = {"x": np.arange(1.0, 4.0)}
    want = d.compile("numpy")(**args)["x"]
    assert_close(jax.jit(d.compile("jax"))(**args)["x"], want)
    assert ricci.check(prog, ["x"], derivation=d, backend="jax").ok
    c = ricci.grad("L = sum[i,j](X[i,j]) + c", wrt=["X", "c"]).compile("jax")
    out = jax.jit(c)(X=np.zeros((2, 3)), c=5.0)
    assert_close(out["X"], np.ones((2, 3)))
    assert out["c"].shape == () and float(out["c"]) == 1.0


def test_rnn_accumulation_rebinds_under_jit():
    jax, jnp = _jax()
    text, wrt = example(Path(__file__).parents[2] / "examples" / "rnn5.ricci")
    d = ricci.grad(text, wrt)
    assert "dU += " in d.source("jax")  # `dU = dU + ...` on a local name: fine in JAX
    args = make_inputs(d, d.inputs)
    want = d.compile("numpy")(**args)
    got = jax.jit(d.compile("jax"))(**args)
    for w in wrt:
        assert_close(got[w], want[w], what=w)


def test_jax_compiled_function_checks_inputs_before_any_arithmetic():
    jax, jnp = _jax()
    f = ricci.grad("Y[i,j] = X[i,k] * A[k,j]", wrt=["X", "A"]).compile("jax")
    X, A, dY = np.ones((2, 3)), np.ones((3, 4)), np.ones((2, 4))
    for call in (f, jax.jit(f)):
        with pytest.raises(ricci.RicciError, match="sizes disagree for index 'k'"):
            call(X=X, A=np.ones((5, 4)), dY=dY)
        with pytest.raises(ricci.RicciError, match="missing input 'dY'"):
            call(X=X, A=A)
        with pytest.raises(ricci.RicciError, match="must have 2 axes"):
            call(X=np.ones(3), A=A, dY=dY)
    out = f(X=[[1.0, 2.0]], A=[[1.0], [1.0]], dY=[[1.0]])  # lists, as for numpy
    assert_close(out["X"], [[1.0, 1.0]])
    # integers become floats; float32 stays float32
    assert f(X=np.ones((2, 3), int), A=A, dY=dY)["A"].dtype == jnp.float64
    assert f(X=X.astype(np.float32), A=A.astype(np.float32), dY=dY.astype(np.float32))["X"].dtype == jnp.float32


def test_jax_sizes_are_static_under_jit():
    jax, jnp = _jax()
    d = ricci.grad("L = sum[i](x[i]) * size(k)", wrt="x")
    f = d.compile("jax")
    assert_close(f(x=np.ones(3), sizes={"k": 4})["x"], 4 * np.ones(3))
    assert_close(jax.jit(functools.partial(f, sizes={"k": 4}))(x=np.ones(3))["x"], 4 * np.ones(3))


def test_jax_names_that_are_module_names():
    prog = "out[i] = jnp[i,j] * jax[j] + np[i,j] * lambda[j]"
    assert ricci.check(prog, ["jnp", "jax", "np", "lambda"], backend="jax").ok
    src = ricci.grad(prog, ["jnp", "jax"]).source("jax")
    assert "jnp_" in src and "jax_" in src


def test_jax_numerically_stable_functions():
    jax, jnp = _jax()
    d = ricci.grad("L = sum[i](softplus(x[i]) + sigmoid(x[i]))", wrt="x")
    out = jax.jit(d.compile("jax"))(x=np.array([-1000.0, 0.0, 1000.0]))["x"]
    assert_close(out, [0.0, 0.75, 1.0])


def test_jax_functions_of_sizes_are_floats():
    jax, jnp = _jax()
    # relu(size(k)) ** -2 must not be an integer power, log(size) a float
    d = ricci.grad("L = sum[i](x[i]) * relu(size(i))^(-2) + log(size(i)) * sum[i](x[i]^2)", wrt="x")
    args = {"x": np.arange(1.0, 4.0)}
    assert_close(jax.jit(d.compile("jax"))(**args)["x"], d.compile("numpy")(**args)["x"])


def test_check_runs_the_jax_code():
    rep = ricci.check((Path(__file__).parents[2] / "examples" / "layernorm.ricci").read_text(),
                      ["x", "g", "b"], backend="jax")
    assert rep.ok and rep.backend == "jax"


def test_emit_jax(capsys):
    code = main(["grad", "Y[i,j] = X[i,k] * A[k,j]", "--wrt", "X", "A", "--emit", "jax"])
    out = capsys.readouterr().out
    assert code == 0 and out.startswith("import jax\nimport jax.numpy as jnp\n")
    assert "def grad_Y(X, A, dY):" in out and "dX = dY @ A.T" in out


def test_unknown_backend_lists_jax():
    with pytest.raises(ricci.RicciError, match="'numpy', 'torch', 'jax' or 'numba'"):
        ricci.grad("y = x[i]", wrt="x").source("tensorflow")


# ---------------------------------------------------------------- numpy vs jax, random programs


@tp.cfg(20)
@given(tp.cases())
def test_numpy_and_jax_code_agree(case):
    """The numpy-vs-torch property test of test_property.py, for jax code."""
    m, wrt, of = case
    _, d = tp.derivation_for(m, wrt, of)
    dp = d.program
    label_size = {lab: CLASS_SIZES[0] for lab in all_dims(dp)}
    label_size.update(m.dim_sizes(dp, disjoint=True) or {})
    label_size.update(m.dim_sizes(dp) or {})
    inputs = tp.random_inputs(dp, d.inputs, label_size, np.random.default_rng(4))
    sizes = tp.uncarried_sizes(dp, d.inputs, label_size)
    if sizes is None or (sizes and "sizes" in d.inputs):
        event("skipped: sizes cannot be passed")
        return
    kw = {"sizes": sizes} if sizes else {}
    with np.errstate(all="ignore"):
        got_np = d.compile("numpy")(**inputs, **kw)
    got_jax = d.compile("jax")(**inputs, **kw)
    assert set(got_np) == set(got_jax)
    for k in got_np:
        a = np.asarray(got_np[k], dtype=float)
        b = np.asarray(got_jax[k], dtype=float)
        assert a.shape == b.shape == inputs[k].shape, f"{k}: shapes {a.shape} {b.shape}"
        if a.size and np.max(np.abs(a)) > 1e8:
            continue  # ill-conditioned: summation order decides the digits
        if np.all(np.isfinite(a)) and np.all(np.isfinite(b)):
            assert tp.close(b, a, 1e-10), f"\n{m.text}\nwrt={wrt} of={of}\n{k}: numpy\n{a}\njax\n{b}\n" \
                                          f"{d.source('numpy')}\n{d.source('jax')}"


# ---------------------------------------------------------------- ricci.torch.function

#: smaller sizes for the finite-difference checks
GC_SIZES = (2, 3, 4)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_torch_function_gradcheck(path):
    text, wrt = example(path)
    f = ricci.torch.function(text, inputs=wrt)
    d = f.derivation
    assert f.inputs == tuple(n for n in d.inputs if n != d.seed)
    args = make_inputs(d, f.inputs, seed=1, sizes=GC_SIZES)
    # forward output: the reference interpreter's
    fwd = d.source_program.upto(d.of)
    want = evaluate(fwd, {k: args[k] for k in fwd.inputs})[d.of]
    tensors = {k: torch.tensor(v, requires_grad=k in wrt) for k, v in args.items()}
    out = f(*tensors.values())
    assert out.grad_fn is not None and type(out.grad_fn).__name__ == f"Ricci_{d.of}Backward"
    assert_close(to_numpy(out), want, what="forward")
    assert_close(to_numpy(f.apply(*tensors.values())), want, what="forward via apply")
    assert_close(to_numpy(f(**tensors)), want, what="forward by keyword")

    def g(*ws):
        return f(**{**tensors, **dict(zip(wrt, ws))})

    ws = tuple(tensors[w] for w in wrt)
    assert torch.autograd.gradcheck(g, ws)
    assert torch.autograd.gradgradcheck(g, ws)


def test_torch_function_matches_autograd_of_plain_torch():
    text = (Path(__file__).parents[2] / "examples" / "mlp3.ricci").read_text()
    f = ricci.torch.function(text, inputs=["W1", "b1", "W2", "b2", "W3", "b3"])
    assert f.inputs == ("x", "W1", "b1", "W2", "b2", "W3", "b3", "t")
    g = torch.Generator().manual_seed(0)
    x, t = torch.randn(5, 3, generator=g, dtype=torch.float64), torch.rand(5, 2, generator=g, dtype=torch.float64)
    params = [torch.randn(*s, generator=g, dtype=torch.float64, requires_grad=True)
              for s in [(3, 4), (4,), (4, 6), (6,), (6, 2), (2,)]]
    W1, b1, W2, b2, W3, b3 = params
    loss = f(x, *params, t)
    got = torch.autograd.grad(loss, params)
    y = torch.sigmoid(torch.relu(torch.tanh(x @ W1 + b1) @ W2 + b2) @ W3 + b3)
    ref = ((y - t) ** 2).sum() / x.shape[0]
    assert_close(loss.detach(), ref.detach())
    for a, b in zip(got, torch.autograd.grad(ref, params)):
        assert_close(a, b)
    # scaled by the upstream gradient (a scalar output inside a larger graph)
    got3 = torch.autograd.grad(3 * f(x, *params, t), params[0])[0]
    assert_close(got3, 3 * got[0])


def test_torch_function_of_a_tensor_output_takes_the_upstream_gradient():
    f = ricci.torch.function("Y[i,j] = tanh(X[i,k] * A[k,j])", inputs=["X", "A"])
    assert f.inputs == ("X", "A") and f.output == "Y"
    g = torch.Generator().manual_seed(1)
    X = torch.randn(2, 3, generator=g, dtype=torch.float64, requires_grad=True)
    A = torch.randn(3, 4, generator=g, dtype=torch.float64, requires_grad=True)
    dY = torch.randn(2, 4, generator=g, dtype=torch.float64)
    Y = f(X, A)
    Y.backward(dY)
    X2, A2 = X.detach().requires_grad_(), A.detach().requires_grad_()
    torch.tanh(X2 @ A2).backward(dY)
    assert_close(X.grad, X2.grad)
    assert_close(A.grad, A2.grad)


def test_torch_function_calling_convention_and_errors():
    f = ricci.torch.function("Z[n,h] = X[n,d] * W[d,h] + b[h]\nL = sum[n,h]((Z[n,h] - T[n,h])^2)",
                             inputs=["W"])
    assert f.inputs == ("X", "W", "b", "T") and f.wrt == ("W",)
    assert "ricci.torch.function L(X, W, b, T)" in repr(f)
    X, W, b, T = torch.ones(2, 3), torch.ones(3, 4, requires_grad=True), torch.zeros(4), torch.zeros(2, 4)
    assert float(f(X, W, b, T).detach()) == float(f(X, W, b=b, T=T).detach()) == 72.0
    assert "def forward_L(X, W, b, T):" in f.forward_source and "def grad_L(" in f.backward_source
    with pytest.raises(ricci.RicciError, match="missing input 'T'"):
        f(X, W, b)
    with pytest.raises(ricci.RicciError, match="unknown input 'bias'"):
        f(X, W, b, bias=T)
    with pytest.raises(ricci.RicciError, match="takes 4 inputs"):
        f(X, W, b, T, T)
    with pytest.raises(ricci.RicciError, match="given twice"):
        f(X, W, b, T, X=X)
    with pytest.raises(ricci.RicciError, match="sizes disagree for index 'd'"):
        f(X, torch.ones(5, 4), b, T)
    # a data input that requires grad would silently get no gradient: refused
    with pytest.raises(ricci.RicciError, match="input 'X' requires grad"):
        f(X.requires_grad_(), W, b, T)
    # numpy arrays are accepted as data
    W64 = torch.ones(3, 4, dtype=torch.float64, requires_grad=True)
    assert float(f(np.ones((2, 3)), W64, np.zeros(4), np.zeros((2, 4))).detach()) == 72.0
    # float32 in, float32 gradients out
    W32 = torch.ones(3, 4, requires_grad=True)
    f(torch.ones(2, 3), W32, torch.zeros(4), torch.zeros(2, 4)).backward()
    assert W32.grad.dtype == torch.float32 and W32.grad.shape == (3, 4)
    # sizes of indices no input carries are given once, when the function is made
    s = ricci.torch.function("L = sum[i](x[i]) * size(k)", inputs="x", sizes={"k": 4})
    x = torch.ones(3, dtype=torch.float64, requires_grad=True)
    s(x).backward()
    assert float(s(x).detach()) == 12.0 and x.grad.tolist() == [4.0, 4.0, 4.0]
    with pytest.raises(ricci.RicciError, match="sizes names index 'q'"):
        ricci.torch.function("L = sum[i](x[i])", inputs="x", sizes={"q": 4})


# ---------------------------------------------------------------- ricci.jax.function


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_jax_function_grad_under_jit(path):
    jax, jnp = _jax()
    text, wrt = example(path)
    f = ricci.jax.function(text, inputs=wrt)
    d = f.derivation
    args = make_inputs(d, d.inputs, seed=2)  # with the upstream gradient for a tensor output
    names = f.inputs
    argnums = tuple(names.index(w) for w in wrt)
    fwd = d.source_program.upto(d.of)
    want_out = evaluate(fwd, {k: args[k] for k in fwd.inputs})[d.of]
    assert_close(jax.jit(f)(*(args[n] for n in names)), want_out, what="forward")

    upstream = args.get(d.seed) if d.seed else None

    def loss(*xs):
        y = f(*xs)
        return y if upstream is None else jnp.sum(y * upstream)

    got = jax.jit(jax.grad(loss, argnums=argnums))(*(jnp.asarray(args[n]) for n in names))
    # the numpy code ricci generates
    want = d.compile("numpy")(**args)
    # torch autograd through the reference interpreter
    tin = {k: torch.tensor(args[k], requires_grad=k in wrt) for k in fwd.inputs}
    y = evaluate(fwd, tin, lib="torch")[d.of]
    t_loss = y if upstream is None else (y * torch.tensor(upstream)).sum()
    used = [w for w in wrt if w in tin]
    t_grads = dict(zip(used, torch.autograd.grad(t_loss, [tin[w] for w in used], allow_unused=True)))
    for w, gw in zip(wrt, got):
        assert_close(gw, want[w], what=f"{w} vs numpy")
        tg = t_grads.get(w)
        assert_close(gw, np.zeros(args[w].shape) if tg is None else tg, tol=1e-10, what=f"{w} vs torch")


def _reference_jnp():
    """Plain jnp versions of some examples (name -> function of the inputs by keyword)."""
    jax, jnp = _jax()
    def affine(X, W, b, T):
        return jnp.sum((jnp.tanh(X @ W + b) - T) ** 2)

    def softmax_ce(z, t):
        p = jnp.exp(z) / jnp.sum(jnp.exp(z), axis=1, keepdims=True)
        return -jnp.sum(t * jnp.log(p))

    def layernorm(x, eps, g, b):
        mu = x.mean(axis=1, keepdims=True)
        var = ((x - mu) ** 2).mean(axis=1, keepdims=True)
        return (x - mu) / jnp.sqrt(var + eps) * g + b

    def attention(Q, K, V):
        S = Q @ K.T / jnp.sqrt(Q.shape[1])
        return jax.nn.softmax(S, axis=1) @ V

    def logistic(X, w, y):
        p = jax.nn.sigmoid(X @ w)
        return -jnp.sum(y * jnp.log(p) + (1 - y) * jnp.log(1 - p))

    def quadratic(x, A):
        return x @ A @ x

    out = {"affine_tanh_mse": affine, "softmax_cross_entropy": softmax_ce, "layernorm": layernorm,
           "attention": attention, "logistic_regression": logistic, "quadratic_form": quadratic}
    assert sorted(out) == REFERENCE_JNP
    return out


REFERENCE_JNP = ["affine_tanh_mse", "attention", "layernorm", "logistic_regression", "quadratic_form",
                 "softmax_cross_entropy"]


@pytest.mark.parametrize("name", REFERENCE_JNP)
def test_jax_function_agrees_with_jax_grad_of_plain_jnp(name):
    jax, jnp = _jax()
    ref = _reference_jnp()[name]
    path = Path(__file__).parents[2] / "examples" / f"{name}.ricci"
    if not path.exists():
        pytest.skip(f"examples/{name}.ricci is gone")
    text, wrt = example(path)
    f = ricci.jax.function(text, inputs=wrt)
    args = make_inputs(f.derivation, f.derivation.inputs, seed=3)
    ref_names = ref.__code__.co_varnames[:ref.__code__.co_argcount]
    assert set(ref_names) == set(f.inputs)
    upstream = args.get(f.derivation.seed)

    def scalar(fn, order):
        def loss(*xs):
            y = fn(*xs)
            return y if upstream is None else jnp.sum(y * upstream)
        return jax.jit(jax.grad(loss, argnums=tuple(order.index(w) for w in wrt)))

    got = scalar(f, f.inputs)(*(args[n] for n in f.inputs))
    want = scalar(ref, ref_names)(*(args[n] for n in ref_names))
    for w, a, b in zip(wrt, got, want):
        assert_close(a, b, tol=1e-11, what=w)
    assert_close(f(**{n: args[n] for n in f.inputs}), ref(**{n: args[n] for n in ref_names}))


def test_jax_function_second_order_vmap_and_errors():
    jax, jnp = _jax()
    text = (Path(__file__).parents[2] / "examples" / "affine_tanh_mse.ricci").read_text()
    f = ricci.jax.function(text, inputs=["W", "b"])
    assert f.inputs == ("X", "W", "b", "T")
    rng = np.random.default_rng(5)
    X, W, b, T = (rng.standard_normal(s) for s in [(4, 3), (3, 2), (2,), (4, 2)])

    def ref(X, W, b, T):
        return jnp.sum((jnp.tanh(X @ W + b) - T) ** 2)

    # reverse over reverse (the VJP is JAX code) and forward over reverse (jax.hessian);
    # jitted, as eager JAX compiles every operation on its own
    def hvp(fn):
        return jax.jit(jax.grad(lambda W: jnp.sum(jax.grad(fn, argnums=1)(X, W, b, T) ** 2)))(W)

    assert_close(hvp(f), hvp(ref), tol=1e-10)
    hess = [jax.jit(jax.hessian(fn, argnums=2))(X, W, b, T) for fn in (f, ref)]
    assert_close(hess[0], hess[1], tol=1e-10)
    # a batch of examples
    Xs, Ts = np.stack([X, 2 * X]), np.stack([T, T])
    got, want = (jax.jit(jax.vmap(jax.grad(fn, argnums=1), in_axes=(0, None, None, 0)))(Xs, W, b, Ts)
                 for fn in (f, ref))
    assert_close(got, want)
    # float32 in, float32 gradients out
    g32 = jax.jit(jax.grad(f, argnums=1))(*(a.astype(np.float32) for a in (X, W, b, T)))
    assert g32.dtype == jnp.float32
    # keywords, and an unused output (a symbolic zero cotangent)
    assert_close(f(X=X, W=W, b=b, T=T), ref(X, W, b, T))
    assert_close(jax.jit(jax.grad(lambda W: 0.0 * f(X, W, b, T) + jnp.sum(W)))(W), np.ones((3, 2)))
    # differentiating w.r.t. a data input would silently give zero: refused
    with pytest.raises(ricci.RicciError, match="w.r.t. input 'X'"):
        jax.grad(f, argnums=0)(X, W, b, T)
    assert_close(jax.jit(jax.grad(lambda X: f(jax.lax.stop_gradient(X), W, b, T)))(X), np.zeros((4, 3)))
    with pytest.raises(ricci.RicciError, match="missing input 'T'"):
        f(X, W, b)
    with pytest.raises(ricci.RicciError, match="sizes disagree"):
        jax.jit(f)(X, W[:2], b, T)
    assert "ricci.jax.function L(X, W, b, T)" in repr(f)
    assert "jnp.tanh" in f.forward_source and "def grad_L(" in f.backward_source
    s = ricci.jax.function("L = sum[i](x[i]) * size(k)", inputs="x", sizes={"k": 4})
    assert_close(jax.jit(jax.grad(s))(jnp.ones(3)), 4 * np.ones(3))


# ---------------------------------------------------------------- the libraries stay optional

HIDE = r"""
import importlib.abc, sys

class Hide(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "jax", "jaxlib", "numba"):
            raise ModuleNotFoundError(f"No module named {name!r} (hidden by the test)", name=name)
        return None

sys.meta_path.insert(0, Hide())
"""

WITHOUT = HIDE + r"""
import numpy as np
import ricci
import ricci.jax, ricci.torch  # the modules load; using them needs the library

d = ricci.grad("Y[i,j] = X[i,k] * A[k,j]", wrt=["X", "A"])
out = d.compile()(X=np.ones((2, 3)), A=np.ones((3, 4)), dY=np.ones((2, 4)))
assert out["X"].tolist() == [[4.0] * 3] * 2
rep = ricci.check("Y[i,j] = X[i,k] * A[k,j]", ["X"])
assert rep.ok and rep.torch_error["X"] is None

def error(fn, *args, **kw):
    try:
        fn(*args, **kw)
    except ricci.RicciError as e:
        return str(e)
    raise AssertionError(f"no RicciError from {fn}")

assert "pip install 'ricci[torch]'" in error(d.compile, "torch")
assert "pip install 'ricci[jax]'" in error(d.source, "jax")
assert "pip install 'ricci[jax]'" in error(d.compile, "jax")
assert "pip install 'ricci[numba]'" in error(d.compile, "numba")
assert "pip install 'ricci[torch]'" in error(ricci.torch.function, "L = sum[i](x[i])", inputs="x")
assert "pip install 'ricci[jax]'" in error(ricci.jax.function, "L = sum[i](x[i])", inputs="x")

from ricci.cli import main
assert main(["grad", "y = x[i]", "--wrt", "x", "--emit", "jax"]) == 1
assert not any(m.split(".")[0] in ("torch", "jax", "numba") for m in sys.modules)
print("OK")
"""


def _run(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], check=False, capture_output=True, text=True, timeout=300)


def test_import_and_use_without_torch_or_jax():
    r = _run(WITHOUT)
    assert r.returncode == 0 and r.stdout.strip() == "OK", r.stdout + r.stderr
    assert "ricci: error: the jax backend needs JAX: pip install 'ricci[jax]'" in r.stderr


def test_import_ricci_loads_neither_library():
    r = _run("import sys, ricci\n"
             "ricci.grad('Y[i,j] = X[i,k] * A[k,j]', wrt='X').compile()\n"
             "print(sorted(m for m in ('torch', 'jax', 'numba') if m in sys.modules))\n"
             "ricci.torch, ricci.jax\n"
             "print(sorted(m for m in ('torch', 'jax', 'numba') if m in sys.modules))\n")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split("\n")[:2] == ["[]", "[]"]


#: gallery programs whose gradients contract over a leading axis (a transposed left
#: operand: X.T @ dZ, a batched A^T @ dO) and scale a contraction (1/sqrt(size(d)))
LAYOUT_CASES = {
    "mlp3": ["W1", "b1", "W2", "b2", "W3", "b3"],
    "attention_multihead": ["Q", "K", "V"],
    "rnn5": ["U", "W", "b"],
}


def _plain_jnp_loss(name):
    """The gallery programs of LAYOUT_CASES written in jnp (a scalar loss; upstream
    gradients folded in as sum(y * dy))."""
    jax, jnp = _jax()

    def mlp3(x, W1, b1, W2, b2, W3, b3, t):
        h1 = jnp.tanh(x @ W1 + b1)
        h2 = jnp.maximum(h1 @ W2 + b2, 0)
        y = jax.nn.sigmoid(h2 @ W3 + b3)
        return ((y - t) ** 2).sum() / y.shape[0]

    def attention_multihead(Q, K, V, dO):
        S = Q @ jnp.swapaxes(K, -1, -2) / Q.shape[-1] ** 0.5
        return ((jax.nn.softmax(S, axis=-1) @ V) * dO).sum()

    def rnn5(x1, x2, x3, x4, x5, y1, y2, y3, y4, y5, U, W, b):
        s, loss = None, 0.0
        for x, y in ((x1, y1), (x2, y2), (x3, y3), (x4, y4), (x5, y5)):
            s = jnp.tanh(x @ W + b + (0 if s is None else s @ U))
            loss = loss + ((s - y) ** 2).sum()
        return loss

    return {"mlp3": mlp3, "attention_multihead": attention_multihead, "rnn5": rnn5}[name]


@pytest.mark.parametrize("name", sorted(LAYOUT_CASES))
def test_jax_layouts_agree_with_jax_grad(name):
    """The JAX code's transposed left operands (``_lhs_t``: a copied transpose for XLA's
    float64 CPU 2-D product; none in a batched one) and its scalars folded into computed operands give jax.grad's
    gradients, in float64 at a tight tolerance and in float32, eagerly and under jit."""
    jax, jnp = _jax()
    path = Path(__file__).parents[2] / "examples" / f"{name}.ricci"
    text, wrt = example(path)
    assert wrt == LAYOUT_CASES[name]
    d = ricci.grad(text, wrt=wrt)
    src = d.source("jax")
    batched = name == "attention_multihead"  # a batched product keeps XLA's folded transpose
    assert ("_lhs_t(" in src.split('"""')[-1] and "def _lhs_t(a):" in src) != batched
    args = make_inputs(d, d.inputs, seed=7)
    ref = _plain_jnp_loss(name)
    names = ref.__code__.co_varnames[:ref.__code__.co_argcount]
    assert set(names) == set(d.inputs)
    f = d.compile("jax")
    for dtype, tol in ((np.float64, 1e-12), (np.float32, 2e-5)):
        a = {k: jnp.asarray(np.asarray(v, dtype=dtype)) for k, v in args.items()}
        want = jax.jit(jax.grad(lambda w, rest: ref(**rest, **w)))(
            {k: a[k] for k in wrt}, {k: v for k, v in a.items() if k not in wrt})
        lowered = jax.jit(f).lower(**a).as_text()
        # the copied transpose is float64 on the CPU only
        assert ("optimization_barrier" in lowered) == (dtype == np.float64 and not batched), lowered[:2000]
        for got in (f(**a), jax.jit(f)(**a)):
            for w in wrt:
                assert got[w].dtype == dtype
                assert_close(np.asarray(got[w], dtype=np.float64), np.asarray(want[w], dtype=np.float64),
                             tol=tol, what=f"{name} {w} {np.dtype(dtype).name}")


def test_jax_scales_a_computed_operand_not_the_contraction():
    """Under jax.jit a scalar factor of a contraction goes on the operand the code computes
    (XLA fuses it into that loop); numpy and torch scale the result. Same gradients as
    jax.grad (float64, tight)."""
    jax, jnp = _jax()
    text = "L = sum[i,j](W[i,j] * sum[k](X[i,k] * tanh(A[k,j])) / sqrt(size(k)))"
    d = ricci.grad(text, wrt=["X"])
    jax_body = d.source("jax").split('"""')[-1]
    assert "(1.0 / jnp.sqrt(float(X.shape[1]))) * jnp.tanh(A)" in jax_body, jax_body
    for backend in ("numpy", "torch"):
        body = d.source(backend).split('"""')[-1]
        dx = next(ln for ln in body.splitlines() if ln.strip().startswith("dX ="))
        assert "sqrt" in dx and "@" in dx, body
    rng = np.random.default_rng(2)
    args = {"W": rng.standard_normal((3, 4)), "X": rng.standard_normal((3, 5)), "A": rng.standard_normal((5, 4))}

    def loss(X, A, W):
        return jnp.sum(W * (X @ jnp.tanh(A))) / jnp.sqrt(5.0)

    want = jax.grad(loss)(args["X"], args["A"], args["W"])
    f = d.compile("jax")
    for got in (f(**args), jax.jit(f)(**args)):
        assert_close(got["X"], want, tol=1e-13, what="dX")
