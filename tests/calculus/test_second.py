"""Second derivatives: ``ricci.hessian`` (full, mixed, diagonal) and ``ricci.hvp``, and the
compiled full Jacobian of a vector-valued program.

Every compiled result is compared with ``torch.func`` (float64) applied to an independent,
hand-written torch version of the same function, on every backend. The printed forms are
the textbook ones, every matrix form and every step is evaluated, and random scalar
programs go through ``ricci.check`` with each kind.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given

import ricci

from support.cases import assert_close, cases, cfg, check_ok, to_numpy
from support.matrix_check import check_matrix_forms
from support.steps_check import check_steps

torch = pytest.importorskip("torch")

BACKENDS = ["numpy", "torch", "jax"]  # test_backends enables jax's float64

LOGREG = """p[n] = sigmoid(X[n,d]*w[d])
L = -sum[n](y[n]*log(p[n]) + (1 - y[n])*log(1 - p[n]))"""
LSQ = """r[n] = X[n,d]*w[d] - y[n]
L = sum[n](r[n]^2)"""
MF = "L = sum[i,j]((U[i,r]*V[j,r] - R[i,j])^2)"
MLP = """Hd[n,h] = tanh(X[n,d]*W1[d,h] + b1[h])
Y[n,k] = Hd[n,h]*W2[h,k]
L = sum[n,k]((Y[n,k] - T[n,k])^2)"""
CE = """p[k] = exp(z[k]) / sum[j](exp(z[j]))
L = -sum[k](y[k]*log(p[k]))"""
LSE = "L = log(sum[k](exp(z[k]))) - sum[k](y[k]*z[k])"
CEBATCH = """m[n] = sum[k](exp(z[n,k]))
p[n,k] = exp(z[n,k]) / m[n]
L = -sum[n,k](t[n,k] * log(p[n,k]))"""
LOGDET = "L = logdet(S) - C[i,j]*S[j,i]"
QUAD = "L = x[i]*A[i,j]*x[j]"


def _spd(rng, n):
    m = rng.standard_normal((n, n))
    return m @ m.T + n * np.eye(n)


def _inputs(name, rng):
    """Random float64 inputs for a case (sizes all different, to catch transposed axes)."""
    n, d, k, h, r, i, j = 7, 4, 5, 3, 2, 4, 6
    if name == "quad":
        return {"x": rng.standard_normal(d), "A": rng.standard_normal((d, d))}
    if name in ("logreg", "lsq"):
        y = (rng.uniform(size=n) > 0.5).astype(float) if name == "logreg" else rng.standard_normal(n)
        return {"X": rng.standard_normal((n, d)), "w": rng.standard_normal(d) * 0.5, "y": y}
    if name == "mf":
        return {"U": rng.standard_normal((i, r)), "V": rng.standard_normal((j, r)),
                "R": rng.standard_normal((i, j))}
    if name == "mlp":
        return {"X": rng.standard_normal((n, d)), "W1": rng.standard_normal((d, h)) * 0.5,
                "b1": rng.standard_normal(h), "W2": rng.standard_normal((h, k)),
                "T": rng.standard_normal((n, k))}
    if name in ("ce", "lse"):
        y = rng.uniform(size=k)
        return {"z": rng.standard_normal(k), "y": y / y.sum()}
    if name == "cebatch":
        return {"z": rng.standard_normal((n, k)), "t": np.eye(k)[rng.integers(0, k, n)]}
    if name == "logdet":
        return {"S": _spd(rng, d), "C": rng.standard_normal((d, d))}
    raise KeyError(name)


def _loss(name):
    """The same function, written by hand in torch: f(**inputs) -> scalar."""
    if name == "quad":
        return lambda x, A: x @ A @ x
    if name == "logreg":
        def f(X, w, y):
            p = torch.sigmoid(X @ w)
            return -(y * torch.log(p) + (1 - y) * torch.log(1 - p)).sum()
        return f
    if name == "lsq":
        return lambda X, w, y: ((X @ w - y) ** 2).sum()
    if name == "mf":
        return lambda U, V, R: ((U @ V.T - R) ** 2).sum()
    if name == "mlp":
        return lambda X, W1, b1, W2, T: ((torch.tanh(X @ W1 + b1) @ W2 - T) ** 2).sum()
    if name == "ce":
        return lambda z, y: -(y * torch.log(torch.softmax(z, 0))).sum()
    if name == "lse":
        return lambda z, y: torch.logsumexp(z, 0) - (y * z).sum()
    if name == "cebatch":
        return lambda z, t: -(t * torch.log_softmax(z, 1)).sum()
    if name == "logdet":
        return lambda S, C: torch.logdet(S) - (C * S.T).sum()
    raise KeyError(name)


TEXT = {"quad": QUAD, "logreg": LOGREG, "lsq": LSQ, "mf": MF, "mlp": MLP, "ce": CE, "lse": LSE,
        "cebatch": CEBATCH, "logdet": LOGDET}
#: (case, wrt): every problem of the issue, and the first layer's weights of the MLP
SINGLE = [("quad", "x"), ("logreg", "w"), ("lsq", "w"), ("mf", "U"), ("mf", "V"), ("mlp", "W1"),
          ("mlp", "W2"), ("mlp", "b1"), ("ce", "z"), ("lse", "z"), ("cebatch", "z"), ("logdet", "S")]
MIXED = [("mf", "U", "V"), ("mlp", "W1", "W2"), ("mlp", "W1", "b1"), ("logreg", "w", "X")]


def torch_hessian(name, inputs, x, y=None):
    """``torch.func.hessian`` of the hand-written loss, w.r.t. ``x`` (or d2/dx dy)."""
    names = list(inputs)
    args = [torch.tensor(inputs[k]) for k in names]
    f = _loss(name)
    g = lambda *a: f(**dict(zip(names, a)))  # noqa: E731
    if y is None or y == x:
        return torch.func.hessian(g, argnums=names.index(x))(*args).numpy()
    h = torch.func.hessian(g, argnums=(names.index(x), names.index(y)))(*args)
    return h[0][1].numpy()


def call(d, backend, inputs, **extra):
    fn = d.compile(backend)
    args = {k: v for k, v in {**inputs, **extra}.items() if k in d.inputs}
    return {k: to_numpy(v) for k, v in fn(**args).items()}


# ---------------------------------------------------------------- compiled vs torch.func


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,x", SINGLE)
def test_hessian_matches_torch_func_hessian(name, x, backend):
    inputs = _inputs(name, np.random.default_rng(0))
    d = ricci.hessian(TEXT[name], x)
    got = call(d, backend, inputs)[x]
    want = torch_hessian(name, inputs, x)
    assert got.shape == inputs[x].shape * 2
    assert_close(got, want, 1e-10, what=f"{name} H_{x} ({backend})")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,x,y", MIXED)
def test_mixed_second_derivatives_match_torch(name, x, y, backend):
    inputs = _inputs(name, np.random.default_rng(1))
    d = ricci.hessian(TEXT[name], (x, y))
    got = call(d, backend, inputs)
    assert list(got) == [f"{x},{y}"]
    want = torch_hessian(name, inputs, x, y)
    assert got[f"{x},{y}"].shape == inputs[x].shape + inputs[y].shape
    assert_close(got[f"{x},{y}"], want, 1e-10, what=f"{name} d2/d{x}d{y} ({backend})")


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,x", SINGLE)
def test_diagonal_and_hvp_match_torch(name, x, backend):
    rng = np.random.default_rng(2)
    inputs = _inputs(name, rng)
    shape = inputs[x].shape
    size = int(np.prod(shape))
    full = torch_hessian(name, inputs, x).reshape(size, size)
    d = ricci.hessian(TEXT[name], x, diagonal=True)
    assert_close(call(d, backend, inputs)[x], np.diag(full).reshape(shape), 1e-10, what=f"{name} diag")
    h = ricci.hvp(TEXT[name], x)
    v = rng.standard_normal(shape)
    got = call(h, backend, inputs, **{h.seed: v})[x]
    assert_close(got, (full @ v.reshape(-1)).reshape(shape), 1e-10, what=f"{name} Hv")


# ---------------------------------------------------------------- printed forms


def test_printed_hessians_are_the_textbook_ones():
    assert str(ricci.hessian(QUAD, "x")) == "H[i,j] = A[i,j] + A[j,i]"
    assert str(ricci.hessian(QUAD, "x").matrix()) == "H = A + A.T"
    d = ricci.hessian(LOGREG, "w")
    assert str(d) == "H[d,e] = X[n,d] * X[n,e] * p[n] * (1 - p[n])"
    assert str(d.matrix()) == "H = X.T @ diag(p * (1 - p)) @ X"
    d = ricci.hessian(LSQ, "w")
    assert str(d) == "H[d,e] = 2 * X[n,d] * X[n,e]"  # one term, not two equal ones
    assert str(d.matrix()) == "H = 2 * (X.T @ X)"
    d = ricci.hessian(MF, "U")
    assert str(d) == "H[i,r,k,s] = 2 * V[j,r] * V[j,s] * delta[i,k]"
    assert "slices: for each i, k: [i,:,k,:] = delta[i,k] * 2 * (V.T @ V)" in str(d.matrix())
    d = ricci.hessian(CE, "z")
    assert str(d.matrix()).splitlines()[0] == "dp/dz = diag(p) - outer(p, p)"
    # over a batch: one block per sample, the sample's diag(p) - p p^T times its total target
    assert str(ricci.hessian(CEBATCH, "z")) == \
        "H[n,k,o,l] = (p[n,k] * delta[k,l] - p[n,k] * p[n,l]) * sum[q](t[n,q]) * delta[n,o]"
    assert str(ricci.hessian("L = logdet(S)", "S")) == "H[i,j,k,l] = -inv(S)[l,i] * inv(S)[j,k]"
    # written-out sigmoids are recognised
    d = ricci.hessian("L = sum[n](log(1 + exp(X[n,d]*w[d])))", "w")
    assert "sigmoid" in str(d) and "exp" not in str(d)


def test_diagonal_and_hvp_print_without_the_hessian():
    assert str(ricci.hessian(QUAD, "x", diagonal=True)) == "diagH[i] = 2 * A[i,i]"
    assert str(ricci.hessian(LSQ, "w", diagonal=True).matrix()) == "diagH = 2 * sum(X.T^2, axis=1)"
    d = ricci.hvp(LOGREG, "w")
    assert d.seed == "v" and "v" in d.inputs
    assert str(d.matrix()).splitlines() == ["tz1 = X @ v", "G = p * tz1 * (1 - p)", "Hv = X.T @ G"]
    assert str(ricci.hvp(MF, "U").matrix()) == "tz1 = v @ V.T\nHv = 2 * (tz1 @ V)"  # z1: the residual
    # the seed is renamed when the program has a v
    d = ricci.hvp("L = sum[i](v[i] * x[i]^3)", "x")
    assert d.seed != "v" and d.seed in d.inputs


@pytest.mark.parametrize("name,x", SINGLE)
def test_matrix_forms_evaluate_to_the_index_forms(name, x):
    for d in (ricci.hessian(TEXT[name], x), ricci.hessian(TEXT[name], x, diagonal=True),
              ricci.hvp(TEXT[name], x)):
        check_matrix_forms(d)


def test_logistic_regression_code_weights_rows_instead_of_a_four_index_einsum():
    for backend in ("numpy", "torch", "jax"):
        src = ricci.hessian(LOGREG, "w").source(backend)
        body = src.split('"""')[-1]
        assert "einsum" not in body and "eye" not in body, body
        if backend == "numpy":  # symmetric: one BLAS syrk where the weights are >= 0
            assert "H = _gram(X, t2)" in body and "def _gram(a, w):" in src, src
        else:
            # (JAX: the transposed left operand through _lhs_t, see JaxBackend.lhs_transposed)
            assert "[:, None]" in body and (".T @ X" in body or ".T) @ X" in body), body


@pytest.mark.parametrize("sign", [1.0, -1.0, 0.0])
def test_weighted_gram_matrices_with_weights_of_either_sign(sign):
    """``_gram`` takes the syrk branch for w >= 0 and the matrix product otherwise."""
    rng = np.random.default_rng(4)
    X, w, B = rng.standard_normal((6, 3)), rng.uniform(0.1, 1.0, 6), rng.standard_normal((3, 3))
    w = w * sign if sign else w - 0.5  # all positive, all negative, mixed
    for text, XX in (("L = sum[d,e](X[n,d]*w[n]*X[n,e]*B[d,e])", X),
                     ("L = sum[d,e](X[d,n]*w[n]*X[e,n]*B[d,e])", X.T)):
        d = ricci.grad(text, "B")
        assert "_gram(" in d.source("numpy")
        got = d.compile("numpy")(X=XX, w=w, B=B)["B"]
        assert_close(got, X.T @ np.diag(w) @ X, 1e-13)


def test_no_hessian_is_formed_for_an_hvp():
    # the MLP's Hessian-vector product stays in the (n, h) and (n, k) shapes of the layer
    body = ricci.hvp(MLP, "W1").source("numpy").split('"""')[-1]
    assert "None, None" not in body and "eye" not in body and "einsum" not in body, body


# ---------------------------------------------------------------- steps and check


@pytest.mark.parametrize("name,x", SINGLE[:7] + [("ce", "z"), ("cebatch", "z"), ("logdet", "S")])
def test_steps_of_second_derivatives_hold_numerically(name, x):
    for d in (ricci.hessian(TEXT[name], x), ricci.hessian(TEXT[name], x, diagonal=True),
              ricci.hvp(TEXT[name], x)):
        assert check_steps(d) > 0


def test_steps_of_a_mixed_hessian_hold_numerically():
    assert check_steps(ricci.hessian(MLP, ("W1", "W2"))) > 0


@pytest.mark.parametrize("backend", ["numpy", "torch"])
def test_ricci_check_proves_each_kind(backend):
    for text, x in ((LOGREG, "w"), (MF, "U"), (LOGDET, "S")):
        for d in (ricci.hessian(text, x), ricci.hessian(text, x, diagonal=True), ricci.hvp(text, x)):
            rep = ricci.check(text, x, derivation=d, backend=backend)
            assert rep.ok and rep.torch_error[x] < 1e-12, rep
    rep = ricci.check(MF, "U", derivation=ricci.hessian(MF, ("U", "V")))
    assert rep.ok and list(rep.wrt) == ["U,V"]
    assert "the Hessian diagonal of L" in str(ricci.check(LSQ, "w",
                                                          derivation=ricci.hessian(LSQ, "w", diagonal=True)))


def test_check_catches_a_wrong_hessian():
    # the derivation of one program, checked against another: the numbers disagree
    d = ricci.hessian("L = sum[i](x[i]^3)", "x")
    with pytest.raises(ricci.RicciError, match="hessian check failed"):
        ricci.check("L = sum[i](x[i]^4)", "x", derivation=d)


# ---------------------------------------------------------------- errors


def test_errors_name_what_is_wrong():
    with pytest.raises(ricci.RicciError, match=r"a Hessian needs a scalar output, but 'Y' has indices \[i\]"):
        ricci.hessian("Y[i] = x[i]^2", "x")
    with pytest.raises(ricci.RicciError, match="Hessian-vector product needs a scalar output"):
        ricci.hvp("Y[i] = x[i]^2", "x")
    with pytest.raises(ricci.RicciError, match=r"diagonal=True needs one input.*\('U', 'V'\)"):
        ricci.hessian(MF, ("U", "V"), diagonal=True)
    with pytest.raises(ricci.RicciError, match="hvp is w.r.t. one input"):
        ricci.hvp(MF, ("U", "V"))
    with pytest.raises(ricci.RicciError, match="pair of names"):
        ricci.hessian(MF, ("U", "V", "R"))
    with pytest.raises(ricci.RicciError, match="different names"):
        ricci.hessian(QUAD, ("x[i]", "x[i]"))
    with pytest.raises(ricci.RicciError, match="'q'"):
        ricci.hessian(QUAD, "q")


def test_chosen_index_names_are_kept():
    d = ricci.hessian(QUAD, ("x[a]", "x[b]"))
    assert str(d) == "H[a,b] = A[a,b] + A[b,a]"


# ---------------------------------------------------------------- full Jacobians as code


JACOBIANS = [
    ("Y[i,j] = X[i,k] * A[k,j]", "X", {"X": (3, 4), "A": (4, 5)},
     lambda X, A: X @ A),
    ("p[n,k] = exp(z[n,k]) / sum[j](exp(z[n,j]))", "z", {"z": (3, 4)},
     lambda z: torch.softmax(z, 1)),
    ("h[n,o] = tanh(X[n,d] * W[d,o] + b[o])", "W", {"X": (5, 3), "W": (3, 2), "b": (2,)},
     lambda X, W, b: torch.tanh(X @ W + b)),
    ("y[i] = x[i] / sqrt(sum[j](x[j]^2))", "x", {"x": (6,)},
     lambda x: x / torch.sqrt((x ** 2).sum())),
    ("T[i,j] = inv(S)[i,j]", "S", {"S": (4, 4)}, lambda S: torch.inverse(S)),
]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("text,x,shapes,f", JACOBIANS, ids=[j[0].split("=")[0].strip() for j in JACOBIANS])
def test_compiled_jacobians_match_jacrev(text, x, shapes, f, backend):
    rng = np.random.default_rng(3)
    inputs = {k: rng.standard_normal(s) for k, s in shapes.items()}
    if x == "S":
        inputs["S"] = _spd(rng, 4)
    d = ricci.jacobian(text, x)
    got = call(d, backend, inputs)[x]
    names = list(inputs)
    args = [torch.tensor(inputs[k]) for k in names]
    want = torch.func.jacrev(lambda *a: f(**dict(zip(names, a))), argnums=names.index(x))(*args).numpy()
    out = ricci.parse(text).statements[-1].name
    assert got.shape == want.shape and got.shape[len(got.shape) - len(shapes[x]):] == shapes[x], out
    assert_close(got, want, 1e-10, what=f"d{out}/d{x} ({backend})")


# ---------------------------------------------------------------- random programs


def _scalar_wrt(case):
    m, wrt, _ = case
    return m.text, wrt[0].split("[")[0]


@cfg(60)
@given(cases(scalar_output=True, max_statements=3))
def test_hessians_of_random_programs_check(case):
    text, x = _scalar_wrt(case)
    check_ok(text, [x], derivation=ricci.hessian(text, x))


@cfg(40)
@given(cases(scalar_output=True, max_statements=3))
def test_hessian_diagonals_of_random_programs_check(case):
    text, x = _scalar_wrt(case)
    check_ok(text, [x], derivation=ricci.hessian(text, x, diagonal=True))


@cfg(60)
@given(cases(scalar_output=True, max_statements=3))
def test_hvps_of_random_programs_check(case):
    text, x = _scalar_wrt(case)
    check_ok(text, [x], derivation=ricci.hvp(text, x))


@cfg(30)
@given(cases(scalar_output=True, max_statements=3))
def test_mixed_hessians_of_random_programs_check(case):
    m, wrt, _ = case
    x = wrt[0].split("[")[0]
    y = wrt[-1].split("[")[0]
    if x == y:
        y = m.inputs[-1]
    d = ricci.hessian(m.text, (x, y))
    rep = check_ok(m.text, [x, y], derivation=d)
    assert rep is None or list(rep.wrt) == ([x] if x == y else [f"{x},{y}"])


def test_hvp_with_sizes_of_the_contracted_dim():
    """Fuzz finding #27: the HVP of L = (W[p] * W[n] * size(n)) * (size(p) * Q[p]) was
    size(n) * (Q[n] + size(p) * Q[p]) * v[n], a factor size(n) lost: factoring the two
    terms renamed the binder q to n, size(q) and size(n) became one key, one power."""
    text = "L = (W[p] * W[n] * size(n)) * (size(p) * Q[p])"
    d = ricci.hvp(text, "W")
    assert ricci.check(text, "W", derivation=d, raise_on_mismatch=False).ok
