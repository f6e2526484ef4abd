"""The gallery: every program in examples/ differentiated by ricci and compared, in float64,
with an independent plain-PyTorch implementation of the same model (``torch.softmax``,
``F.layer_norm``, ``torch.linalg.slogdet``, ... never ricci's own interpreter), for the
NumPy and the torch backend, at small sizes that differ per index and with inputs that
suit the model (positive where a log or sqrt needs it, away from the kinks of relu/abs/
step/sign, one-hot targets, well-conditioned matrices).

Then: the compiled gradients of softmax, log-softmax, logsumexp, softplus and softmax
cross-entropy stay finite and right for logits around +-1000, and docs/gallery.md is what
tests/support/gallery_doc.py prints now.

Each example is its own parametrized case, so an example that needs a language feature
still in progress (the matrix functions ``inv``, ``det``, ``logdet``) fails on its own.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import ricci
from ricci.primitives.functions import FUNCTIONS

from support import gallery_doc

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
NAMES = sorted(p.stem for p in EXAMPLES.glob("*.ricci"))
DT = torch.float64

Inputs = dict[str, torch.Tensor]
Forward = Callable[..., torch.Tensor]


# ---------------------------------------------------------------- input helpers


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def randn(g: torch.Generator, *shape: int) -> torch.Tensor:
    return torch.randn(*shape, generator=g, dtype=DT)


def uniform(g: torch.Generator, lo: float, hi: float, *shape: int) -> torch.Tensor:
    return lo + (hi - lo) * torch.rand(*shape, generator=g, dtype=DT)


def away_from_zero(g: torch.Generator, *shape: int, lo: float = 0.3, hi: float = 2.0) -> torch.Tensor:
    """Values with |x| in [lo, hi] and random signs: no kink of relu/abs/step/sign nearby."""
    sign = torch.where(torch.rand(*shape, generator=g) < 0.5, -1.0, 1.0).to(DT)
    return sign * uniform(g, lo, hi, *shape)


def one_hot(g: torch.Generator, n: int, k: int) -> torch.Tensor:
    """One-hot rows for integer class labels (each class used, where n >= k)."""
    labels = torch.randint(0, k, (n,), generator=g)
    labels[: min(n, k)] = torch.arange(min(n, k))
    return F.one_hot(labels, k).to(DT)


def spd(g: torch.Generator, n: int) -> torch.Tensor:
    """A well-conditioned symmetric positive definite matrix M M^T + n I."""
    m = randn(g, n, n)
    return m @ m.T + n * torch.eye(n, dtype=DT)


def well_conditioned(g: torch.Generator, n: int) -> torch.Tensor:
    """A well-conditioned matrix that is not symmetric (so a missing transpose shows),
    with eigenvalues near n (so its determinant is positive)."""
    return n * torch.eye(n, dtype=DT) + 0.5 * randn(g, n, n)


# ---------------------------------------------------------------- the torch models
#
# One entry per example: the inputs (named as in the .ricci file, at small distinct
# sizes) and the model written in plain PyTorch. Scalars such as eps are 0-d tensors.


def case_affine_tanh_mse(g):
    n, d, h = 5, 4, 3
    x = dict(X=randn(g, n, d), W=randn(g, d, h), b=randn(g, h), T=randn(g, n, h))
    return x, lambda X, W, b, T: ((torch.tanh(X @ W + b) - T) ** 2).sum()


def case_delta_eats(g):
    i, j = 4, 3  # delta[j,k]: j and k have one size
    x = dict(A=randn(g, i, j), B=randn(g, i, j))
    return x, lambda A, B: torch.einsum("ij,ij->i", A, B)


def case_layernorm(g):
    n, d = 4, 6
    x = dict(x=randn(g, n, d), g=randn(g, d), b=randn(g, d), eps=torch.tensor(1e-5, dtype=DT))
    return x, lambda x, g, b, eps: F.layer_norm(x, (x.shape[-1],), g, b, eps.item())


def case_logistic_regression(g):
    n, d = 7, 3
    x = dict(X=randn(g, n, d), w=randn(g, d), y=(torch.rand(n, generator=g) < 0.5).to(DT))
    return x, lambda X, w, y: F.binary_cross_entropy_with_logits(X @ w, y, reduction="sum")


def case_matmul(g):
    i, k, j = 3, 5, 4
    return dict(X=randn(g, i, k), A=randn(g, k, j)), lambda X, A: X @ A


def case_mlp3(g):
    n, i, j, k, c = 6, 5, 4, 3, 2
    x = dict(x=randn(g, n, i), W1=randn(g, i, j), b1=randn(g, j), W2=randn(g, j, k),
             b2=randn(g, k), W3=randn(g, k, c), b3=randn(g, c), t=torch.rand(n, c, generator=g, dtype=DT))

    def model(x, W1, b1, W2, b2, W3, b3, t):
        h1 = torch.tanh(x @ W1 + b1)
        h2 = torch.relu(h1 @ W2 + b2)
        y = torch.sigmoid(h2 @ W3 + b3)
        return ((y - t) ** 2).sum() / x.shape[0]
    return x, model


def case_neuron(g):
    i, j = 3, 4
    x = dict(W=randn(g, i, j), x=randn(g, j), b=randn(g, i), t=torch.rand(i, generator=g, dtype=DT))
    return x, lambda W, x, b, t: ((torch.sigmoid(W @ x + b) - t) ** 2).sum()


def case_quadratic_form(g):
    n = 4
    return dict(x=randn(g, n), A=randn(g, n, n)), lambda x, A: x @ A @ x


def _rnn(xs, W, U, b):
    s = torch.zeros(W.shape[1], dtype=DT) if xs[0].dim() == 1 else torch.zeros(xs[0].shape[0], W.shape[1], dtype=DT)
    states = []
    for x in xs:
        s = torch.tanh(x @ W + s @ U + b)
        states.append(s)
    return states


def case_rnn3(g):
    d, h = 4, 3
    x = dict(x1=randn(g, d), x2=randn(g, d), x3=randn(g, d), W=randn(g, d, h),
             U=randn(g, h, h), b=randn(g, h))
    return x, lambda x1, x2, x3, W, U, b: _rnn([x1, x2, x3], W, U, b)[-1]


def case_rnn5(g):
    n, d, h = 2, 4, 3
    x: Inputs = {}
    for t in range(1, 6):
        x[f"x{t}"] = randn(g, n, d)
    x.update(W=0.5 * randn(g, d, h), U=0.5 * randn(g, h, h), b=randn(g, h))
    for t in range(1, 6):
        x[f"y{t}"] = randn(g, n, h)

    def model(**a):
        states = _rnn([a[f"x{t}"] for t in range(1, 6)], a["W"], a["U"], a["b"])
        return sum(((s - a[f"y{t}"]) ** 2).sum() for t, s in enumerate(states, 1))
    return x, model


def case_softmax_cross_entropy(g):
    n, k = 6, 4
    x = dict(z=randn(g, n, k), t=one_hot(g, n, k))
    return x, lambda z, t: F.cross_entropy(z, t.argmax(dim=1), reduction="sum")


def case_trace(g):
    return dict(A=randn(g, 4, 4)), lambda A: torch.trace(A)


def case_elementwise(g):
    n = 7
    x = dict(x=away_from_zero(g, n), w=randn(g, n))

    def model(x, w):
        step = (x > 0).to(DT)  # the Heaviside step: no gradient of its own
        f = (0.5 * torch.exp(x) - 2 * torch.log(1 + x ** 2) + 1.5 * torch.sqrt(1 + x ** 2)
             + 3 * torch.tanh(x) - torch.sigmoid(x) + 2.5 * torch.relu(x) - 0.75 * torch.abs(x)
             + 1.25 * torch.sin(x) - 0.5 * torch.cos(x) + 2 * F.softplus(x) + 4 * x * step
             - 3 * x * torch.sign(x))
        return (w * f).sum()
    return x, model


def case_special_functions(g):
    n = 7
    x = {"x": randn(g, n), "w": randn(g, n)}

    def model(x, w):
        f = 2 * torch.log1p(x ** 2) - 0.5 * torch.expm1(x) + 1.5 * torch.erf(x) + 3 * torch.atan(x)
        return (w * f).sum()
    return x, model


def case_softmax(g):
    return dict(z=randn(g, 5, 4)), lambda z: torch.softmax(z, dim=1)


def case_log_softmax(g):
    return dict(z=randn(g, 5, 4)), lambda z: torch.log_softmax(z, dim=1)


def case_logsumexp(g):
    return dict(z=randn(g, 5, 4)), lambda z: torch.logsumexp(z, dim=1)


def case_softplus_logistic(g):
    n, d = 7, 3
    y = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0).to(DT)
    return dict(X=randn(g, n, d), w=randn(g, d), y=y), \
        lambda X, w, y: F.softplus(-y * (X @ w)).sum()


def case_mse(g):
    n, d, k = 6, 4, 3
    x = dict(X=randn(g, n, d), W=randn(g, d, k), b=randn(g, k), T=randn(g, n, k))
    return x, lambda X, W, b, T: F.mse_loss(X @ W + b, T)


def case_rmsnorm(g):
    n, d = 4, 6
    x = dict(x=randn(g, n, d), g=randn(g, d), eps=torch.tensor(1e-6, dtype=DT))
    return x, lambda x, g, eps: F.rms_norm(x, (x.shape[-1],), g, eps.item())


def case_attention(g):
    i, j, d, e = 3, 5, 4, 2
    x = dict(Q=randn(g, i, d), K=randn(g, j, d), V=randn(g, j, e))
    return x, lambda Q, K, V: F.scaled_dot_product_attention(Q, K, V)


def case_attention_multihead(g):
    b, h, i, j, d, e = 2, 3, 4, 5, 6, 7
    x = dict(Q=randn(g, b, h, i, d), K=randn(g, b, h, j, d), V=randn(g, b, h, j, e))
    return x, lambda Q, K, V: F.scaled_dot_product_attention(Q, K, V)


def case_gelu(g):
    return dict(x=2 * randn(g, 4, 3)), lambda x: F.gelu(x, approximate="tanh")


def case_inverse_solve(g):
    n = 4
    x = dict(A=well_conditioned(g, n), y=randn(g, n), u=randn(g, n))
    return x, lambda A, y, u: ((torch.linalg.solve(A, y) - u) ** 2).sum()


def case_logdet_precision(g):
    n = 4
    x = dict(A=well_conditioned(g, n), S=spd(g, n) / n)
    return x, lambda A, S: torch.linalg.slogdet(A).logabsdet - torch.trace(S @ A)


def case_gaussian_nll(g):
    n, i = 6, 3
    x = dict(x=randn(g, n, i), mu=randn(g, i), S=spd(g, i))

    def model(x, mu, S):
        dist = torch.distributions.MultivariateNormal(mu, covariance_matrix=S)
        return -dist.log_prob(x).sum()
    return x, model


CASES: dict[str, Callable[[torch.Generator], tuple[Inputs, Forward]]] = {
    name[len("case_"):]: fn for name, fn in globals().items() if name.startswith("case_")}

#: the gallery's programs that use the matrix functions inv/det/logdet (in progress)
MATRIX_EXAMPLES = {"inverse_solve", "logdet_precision", "gaussian_nll"}


# ---------------------------------------------------------------- running both sides


def header(name: str) -> tuple[str, str, list[str]]:
    text = (EXAMPLES / f"{name}.ricci").read_text()
    lines = text.splitlines()
    assert lines[0].startswith("# ") and len(lines[0]) > 10, "line 1: a one-line description"
    assert lines[1].startswith("# wrt:"), "line 2: # wrt: the inputs to differentiate"
    return text, lines[0][2:], lines[1].split(":", 1)[1].split()


def torch_reference(forward: Forward, inputs: Inputs, wrt: list[str], seed_name: str | None,
                    g: torch.Generator) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """Gradients by torch autograd of the scalar output, or of sum(output * seed) for a
    tensor output (the seed is returned, under ricci's name for it, e.g. dY)."""
    leaves = {k: v.detach().clone().requires_grad_(k in wrt) for k, v in inputs.items()}
    out = forward(**leaves)
    extra = {}
    if out.dim() == 0:
        assert seed_name is None, "ricci expects an upstream gradient for a scalar output"
        objective = out
    else:
        assert seed_name is not None, "ricci treats the output as a scalar, torch's is a tensor"
        seed = randn(g, *out.shape)
        extra[seed_name] = seed
        objective = (out * seed).sum()
    grads = torch.autograd.grad(objective, [leaves[w] for w in wrt])
    return dict(zip(wrt, (x.detach() for x in grads))), extra


def run_ricci(d: ricci.Derivation, backend: str, inputs: Inputs) -> tuple[dict[str, np.ndarray], list[str]]:
    """The compiled gradient on ``inputs`` (as NumPy arrays or torch tensors), as NumPy
    arrays, with the texts of any floating-point warnings NumPy raised on the way."""
    fn = d.compile(backend)
    args = {k: (v.numpy() if backend == "numpy" else v.clone()) for k, v in inputs.items()}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = fn(**args)
    res = {k: (v.detach().numpy() if isinstance(v, torch.Tensor) else np.asarray(v, dtype=np.float64))
           for k, v in out.items()}
    return res, sorted({str(w.message) for w in caught})


def compare(name: str, backend: str, got: dict[str, np.ndarray], want: dict[str, torch.Tensor],
            noted: list[str], rtol: float = 1e-9, context: str = "") -> None:
    for w, ref in want.items():
        ref = ref.numpy()
        g = got[w]
        where = f"{name}: d{w} ({backend} code{context})"
        assert g.shape == ref.shape, f"{where}: shape {g.shape}, torch's gradient has {ref.shape}"
        bad = ~np.isfinite(g)
        assert not bad.any(), (f"{where}: {int(bad.sum())} of {g.size} entries are not finite "
                               f"(torch's are all finite: {bool(np.isfinite(ref).all())})"
                               + (f"; NumPy warned: {'; '.join(noted)}" if noted else ""))
        scale = max(1.0, float(np.abs(ref).max()))
        err = float(np.abs(g - ref).max())
        assert err <= rtol * scale, (f"{where}: max |ricci - torch| = {err:.3e} "
                                     f"(scale {scale:.3e})\nricci:\n{g}\ntorch:\n{ref}")


# ---------------------------------------------------------------- the gallery


def test_gallery_has_every_model():
    wanted = {"elementwise", "affine_tanh_mse", "mlp3", "logistic_regression", "softmax",
              "log_softmax", "logsumexp", "softmax_cross_entropy", "mse", "layernorm",
              "rmsnorm", "attention", "attention_multihead", "rnn5", "gelu", "softplus_logistic",
              *MATRIX_EXAMPLES}
    assert wanted <= set(NAMES)


def test_every_example_has_a_torch_model():
    """A new example needs its plain-PyTorch model here, so that it is tested too."""
    assert sorted(CASES) == NAMES


def test_elementwise_examples_use_every_function():
    """Every function of the table is in one of the elementwise examples (so a new one is
    checked against its torch counterpart too)."""
    used = set()
    for name in ("elementwise", "special_functions"):
        text = (EXAMPLES / f"{name}.ricci").read_text()
        body = "\n".join(ln for ln in text.splitlines() if not ln.startswith("#"))
        used |= set(re.findall(r"([A-Za-z_]\w*)\s*\(", body))
    assert set(FUNCTIONS) <= used, f"missing: {sorted(set(FUNCTIONS) - used)}"


@pytest.mark.parametrize("name", NAMES)
def test_example_parses_and_derives(name):
    text, _, wrt = header(name)
    program = ricci.parse(text)
    assert set(wrt) <= set(program.inputs), f"wrt names {wrt} must be inputs of the program"
    d = ricci.grad(program, wrt)
    assert set(d.outputs) == set(wrt)
    assert str(d).strip()


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("name", NAMES)
def test_example_gradient_matches_torch(name, backend):
    text, _, wrt = header(name)
    d = ricci.grad(text, wrt)
    g = gen(sum(map(ord, name)))
    inputs, forward = CASES[name](g)
    want, seed = torch_reference(forward, inputs, wrt, d.seed, g)
    inputs = {**inputs, **seed}
    assert set(d.inputs) == set(inputs), \
        f"ricci's inputs {sorted(d.inputs)} are not the torch model's {sorted(inputs)}"
    got, noted = run_ricci(d, backend, inputs)
    compare(name, backend, got, want, noted)


# ---------------------------------------------------------------- numerical stability
#
# Logits around +-1000: exp overflows unless the generated code subtracts the row
# maximum (or the like). torch's reference implementations are stable, so the gradients
# are finite and compared with them.

STABLE = ["softmax", "log_softmax", "logsumexp", "softmax_cross_entropy", "softplus_logistic"]


def large_logits(g: torch.Generator, n: int, k: int, kind: str) -> torch.Tensor:
    if kind == "shifted":  # every logit near 1000
        return 1000 + randn(g, n, k)
    # mixed: rows near +1000, rows near -1000, and rows with both
    sign = torch.where(torch.rand(n, k, generator=g) < 0.5, -1.0, 1.0).to(DT)
    sign[0], sign[1] = 1.0, -1.0
    return 1000 * sign + randn(g, n, k)


def large_inputs(name: str, kind: str, g: torch.Generator) -> Inputs:
    inputs, _ = CASES[name](g)
    if "z" in inputs:
        n, k = inputs["z"].shape
        inputs["z"] = large_logits(g, n, k, kind)
        return inputs
    # softplus_logistic: the margins y[n] * X[n,:] @ w are near +-1000
    X, w, y = inputs["X"], inputs["w"], inputs["y"]
    m = large_logits(g, X.shape[0], 1, kind)[:, 0] * y
    inputs["X"] = X + ((m - X @ w) / (w @ w))[:, None] * w
    return inputs


@pytest.mark.parametrize("kind", ["shifted", "mixed"])
@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("name", STABLE)
def test_gradient_is_stable_for_large_logits(name, backend, kind):
    text, _, wrt = header(name)
    d = ricci.grad(text, wrt)
    g = gen(7)
    inputs = large_inputs(name, kind, g)
    _, forward = CASES[name](gen(0))
    want, seed = torch_reference(forward, inputs, wrt, d.seed, g)
    for ref in want.values():  # the reference itself is stable
        assert torch.isfinite(ref).all()
    got, noted = run_ricci(d, backend, {**inputs, **seed})
    big = max(float(v.abs().max()) for k, v in inputs.items() if k in ("z", "X"))
    compare(name, backend, got, want, noted, context=f", {kind} inputs up to |{big:.0f}|")


# ---------------------------------------------------------------- the doc page


def test_gallery_doc_is_current():
    """docs/gallery.md is what ``python tests/support/gallery_doc.py > docs/gallery.md`` prints now."""
    page = (ROOT / "docs" / "gallery.md").read_text()
    now = gallery_doc.render()
    assert page == now, "docs/gallery.md is stale: run  python tests/support/gallery_doc.py > docs/gallery.md"


def test_gallery_doc_lists_every_example():
    page = gallery_doc.render()
    for name in NAMES:
        assert f"](../examples/{name}.ricci)" in page
