"""torch code folds matrix products into the sums they are added to (``torch.addmm``,
``dU.addmm_``): the spelling is checked where it is expected, and every case is checked
against torch autograd (float64) with the inputs left untouched."""

from __future__ import annotations

import pytest

import ricci

torch = pytest.importorskip("torch")

SIZES = {"i": 3, "k": 4, "j": 5}


def _inputs(prog, seed=0):
    g = torch.Generator().manual_seed(seed)
    return {n: torch.randn(*[SIZES[prog.names_for_dim(d)[0]] for d in prog.dims[n]],
                           dtype=torch.float64, generator=g)
            for n in prog.inputs}


def _autograd(text, wrt, values):
    """The gradient of ``text``'s last statement, summed against a fixed upstream
    ``dY``, by torch autograd on the same statements evaluated with torch.einsum."""
    leaves = {n: v.clone().requires_grad_(n in wrt) for n, v in values.items()}
    env = dict(leaves)
    for line in text.splitlines():
        name, rhs = (s.strip() for s in line.split("=", 1))
        env[name.split("[")[0]] = _EVAL[line](env)
    out = env[text.splitlines()[-1].split("[")[0]]
    dy = torch.linspace(-1, 1, out.numel(), dtype=torch.float64).reshape(out.shape)
    (out * dy).sum().backward()
    return {n: leaves[n].grad for n in wrt}, dy


#: each case: its text, its torch reading for autograd (independent of ricci), the
#: spelling expected in the forward code, and the inputs differentiated
CASES = {
    "bias": ("Y[i,j] = X[i,k]*A[k,j] + b[j]",
             lambda e: e["X"] @ e["A"] + e["b"], "torch.addmm(b, X, A)"),
    "minus": ("Y[i,j] = B[i,j] - X[i,k]*A[k,j]",
              lambda e: e["B"] - e["X"] @ e["A"], "torch.addmm(B, X, A, alpha=-1)"),
    "two products": ("Y[i,j] = X[i,k]*A[k,j] + Z[i,k]*C[k,j]",
                     lambda e: e["X"] @ e["A"] + e["Z"] @ e["C"], "Y = (X @ A).addmm_(Z, C)"),
    "all negated": ("Y[i,j] = -X[i,k]*A[k,j] - Z[i,k]*C[k,j]",
                    lambda e: -(e["X"] @ e["A"]) - e["Z"] @ e["C"], ".addmm_(Z, C, alpha=-1)"),
    "transposed": ("Y[i,j] = X[k,i]*A[k,j] + 2*B[i,j]",
                   lambda e: e["X"].T @ e["A"] + 2 * e["B"], "torch.addmm(2.0 * B, X.T, A)"),
    "backward": ("Y[i,j] = tanh(X[i,k]*A[k,j]) - X[i,m]*C[m,j]",
                 lambda e: torch.tanh(e["X"] @ e["A"]) - e["X"] @ e["C"], "X @ A"),
}
#: the backward code of each case folds its products too
BACKWARD = {"backward": "dX = (dz1 @ A.T).addmm_(dY, C.T, alpha=-1)"}
_EVAL = {text: fn for text, fn, _ in CASES.values()}


@pytest.mark.parametrize("case", list(CASES))
def test_a_product_added_to_a_sum_is_one_addmm(case):
    text, _, spelled = CASES[case]
    prog = ricci.parse(text)
    assert spelled in prog.source("torch")
    values = _inputs(prog)
    before = {n: v.clone() for n, v in values.items()}
    got = prog.compile("torch")(**values)
    y = got["Y"] if isinstance(got, dict) else got
    want = _EVAL[text]({n: v for n, v in values.items()})
    assert y.shape == want.shape
    torch.testing.assert_close(y, want, rtol=1e-12, atol=1e-12)
    for n, v in values.items():  # addmm never writes into an input
        assert torch.equal(v, before[n]), n


@pytest.mark.parametrize("case", list(CASES))
def test_gradients_with_addmm_match_autograd(case):
    text, _, _ = CASES[case]
    prog = ricci.parse(text)
    wrt = sorted(prog.inputs)
    values = _inputs(prog, seed=1)
    want, dy = _autograd(text, wrt, values)
    d = ricci.grad(prog, wrt=wrt)
    assert BACKWARD.get(case, "") in d.source("torch")
    before = {n: v.clone() for n, v in values.items()}
    got = d.compile("torch")(**values, dY=dy)
    for n in wrt:
        torch.testing.assert_close(got[n], want[n], rtol=1e-12, atol=1e-12)
    for n, v in values.items():
        assert torch.equal(v, before[n]), n


def test_the_rnn_accumulates_its_weight_gradients_in_place_and_matches_autograd():
    """The 5-step RNN: ``z = torch.addmm(b, x, W).addmm_(s, U)`` forward, ``dU.addmm_(s.T,
    dz)`` and ``ds.addmm_(dz, U.T)`` backward; gradients as autograd's."""
    from pathlib import Path

    text = (Path(__file__).resolve().parents[2] / "examples" / "rnn5.ricci").read_text()
    d = ricci.grad(ricci.parse(text), wrt=["U", "W", "b"])
    src = d.source("torch")
    assert "z2 = torch.addmm(b, x2, W).addmm_(s1, U)" in src
    assert "dU.addmm_(s3.T, dz4)" in src and "ds3.addmm_(dz4, U.T)" in src
    g = torch.Generator().manual_seed(2)
    n, h = 6, 5
    v = {f"{p}{t}": torch.randn(n, h, dtype=torch.float64, generator=g) for p in "xy" for t in range(1, 6)}
    v.update(W=torch.randn(h, h, dtype=torch.float64, generator=g) * 0.5,
             U=torch.randn(h, h, dtype=torch.float64, generator=g) * 0.5,
             b=torch.randn(h, dtype=torch.float64, generator=g))
    before = {k: t.clone() for k, t in v.items()}
    got = d.compile("torch")(**v)
    leaves = {k: t.clone().requires_grad_(k in "UWb") for k, t in v.items()}
    loss, s = 0, None
    for t in range(1, 6):
        z = leaves[f"x{t}"] @ leaves["W"] + leaves["b"] + (0 if s is None else s @ leaves["U"])
        s = torch.tanh(z)
        loss = loss + ((s - leaves[f"y{t}"]) ** 2).sum()
    loss.backward()
    for k in "UWb":
        torch.testing.assert_close(got[k], leaves[k].grad, rtol=1e-12, atol=1e-12)
    for k, t in v.items():
        assert torch.equal(t, before[k]), k


def test_out_of_place_code_keeps_addmm_differentiable():
    """``ricci.torch.function`` generates its backward out of place (autograd differentiates
    it again): ``torch.addmm``, never ``addmm_``; second derivatives as autograd's (its
    forward may update in place: autograd differentiates the backward, not the forward)."""
    fn = ricci.torch.function("Y[i,j] = tanh(X[i,k]*A[k,j] + Z[i,k]*C[k,j] + b[j])",
                              inputs=["X", "A", "Z", "C", "b"])
    assert "torch.addmm(" in fn.backward_source and "addmm_" not in fn.backward_source
    g = torch.Generator().manual_seed(3)
    args = [torch.randn(3, 4, dtype=torch.float64, generator=g, requires_grad=True),
            torch.randn(4, 5, dtype=torch.float64, generator=g, requires_grad=True),
            torch.randn(3, 4, dtype=torch.float64, generator=g, requires_grad=True),
            torch.randn(4, 5, dtype=torch.float64, generator=g, requires_grad=True),
            torch.randn(5, dtype=torch.float64, generator=g, requires_grad=True)]
    assert torch.autograd.gradgradcheck(fn, args)
