"""Matrix notation as input (docs/matrix-input.md): each construct's translation into index
notation, its gradient against torch autograd of the same expression written in torch,
the errors (message, place, hint), and random well-shaped expressions against a NumPy
evaluation of the matrix text itself."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ricci
from ricci.primitives.functions import FUNCTIONS
from ricci.syntax.matrix_input import MT, MCall, MName, MNum, MOp, MUnary, looks_like_matrix, parse_matrix
from ricci.verify.evaluate import evaluate

SIZES = {"n": 5, "d": 3, "m": 4, "k": 4, "h": 2, "b": 2, "i": 3, "j": 4, "e": 3, "f": 2}

# (matrix text, its translation, wrt, the last statement written in torch)
CASES = {
    "least_squares": (
        "X: [n, d]\nw: [d]\ny: [n]\nL = sum((X @ w - y)**2)",
        "L = sum[n]((X[n,d] * w[d] - y[n])^2)",
        ["w", "X", "y"], lambda X, w, y: ((X @ w - y) ** 2).sum()),
    "ridge": (
        "X: [n, d]\nw: [d]\ny: [n]\nlam: scalar\nL = sum((X @ w - y)**2) / n + lam * sum(w**2)",
        "L = sum[n]((X[n,d] * w[d] - y[n])^2) / size(n) + lam * sum[d1](w[d1]^2)",
        ["w", "lam"], lambda X, w, y, lam: ((X @ w - y) ** 2).sum() / X.shape[0] + lam * (w ** 2).sum()),
    "quadratic_form": (
        "x: [d]\nA: [d, d]\nq = x.T @ A @ x",
        "q = (x[d1] * A[d1,d]) * x[d]",
        ["x", "A"], lambda x, A: x @ A @ x),
    "trace": (
        "X: [n, d]\nA: [d, n]\nt = trace(X @ A)",
        "M1[n,n1] = X[n,d] * A[d,n1]\nt = trace(M1)",
        ["X", "A"], lambda X, A: torch.trace(X @ A)),
    "logdet": (
        "S: [d, d] spd\nx: [d]\nl = logdet(S) + x @ inv(S) @ x",
        "S[i,j] : symmetric positive definite\nl = logdet(S) + (x[d1] * inv(S)[d1,d]) * x[d]",
        ["S", "x"], lambda S, x: torch.logdet(S) + x @ torch.linalg.inv(S) @ x),
    "det_of_gram": (
        "X: [n, d]\nl = det(X.T @ X)",
        "M1[d,d1] = X[n,d] * X[n,d1]\nl = det(M1)",
        ["X"], lambda X: torch.det(X.T @ X)),
    "softmax_cross_entropy": (
        "X: [n, d]\nW: [d, k]\nY: [n, k] one-hot\nP = softmax(X @ W, axis=1)\nL = -sum(Y * log(P)) / n",
        "Y[i,j] : one-hot\nP[n,k] = exp(X[n,d] * W[d,k]) / sum[k1](exp(X[n,d1] * W[d1,k1]))\n"
        "L = -sum[n,k](Y[n,k] * log(P[n,k])) / size(n)",
        ["W"], lambda X, W, Y: -(Y * torch.log(torch.softmax(X @ W, dim=1))).sum() / X.shape[0]),
    "log_softmax": (
        "Z: [n, k]\nY: [n, k]\nL = -mean(Y * log_softmax(Z, axis=-1))",
        "L = -(sum[n,k](Y[n,k] * (Z[n,k] - log(sum[k1](exp(Z[n,k1]))))) / size(n) / size(k))",
        ["Z"], lambda Z, Y: -(Y * torch.log_softmax(Z, dim=-1)).mean()),
    "mlp_layer": (
        "X: [n, d]\nW: [d, h]\nb: [h]\nH = tanh(X @ W + b)\nL = sum(H**2)",
        "H[n,h] = tanh(X[n,d] * W[d,h] + b[h])\nL = sum[n,h](H[n,h]^2)",
        ["W", "b"], lambda X, W, b: (torch.tanh(X @ W + b) ** 2).sum()),
    "mean_axis": (
        "X: [n, d]\nC = X - mean(X, axis=0)\nL = sum(C**2) / (n - 1)",
        "C[n,d] = X[n,d] - sum[n1](X[n1,d]) / size(n1)\nL = sum[n,d](C[n,d]^2) / (size(n) - 1)",
        ["X"], lambda X: ((X - X.mean(dim=0)) ** 2).sum() / (X.shape[0] - 1)),
    "norm": (
        "X: [n, d]\nw: [d]\nL = norm(X @ w) + norm(X)",
        "L = sum[n]((X[n,d] * w[d])^2)^0.5 + sum[n1,d1](X[n1,d1]^2)^0.5",
        ["w", "X"], lambda X, w: torch.linalg.norm(X @ w) + torch.linalg.norm(X)),
    "outer_diag": (
        "u: [d]\nv: [d]\nA: [d, d]\nB = outer(u, v) + diag(v) @ A\nL = sum(diag(B) * u) + sum(B**2)",
        "B[d,d1] = u[d] * v[d1] + (v[d] * delta[d,d2]) * A[d2,d1]\n"
        "L = B[d,d] * u[d] + sum[d1,d2](B[d1,d2]^2)",
        ["u", "v", "A"],
        lambda u, v, A: (torch.diagonal(torch.outer(u, v) + torch.diag(v) @ A) * u).sum()
        + ((torch.outer(u, v) + torch.diag(v) @ A) ** 2).sum()),
    "vector_matrix_and_prefixes": (
        "x: [n]\nX: [n, d]\nc: scalar\nL = np.sum(torch.exp(x @ X / c) - 2 ^ -x.T @ X)",
        "L = sum[d](exp((x[n] * X[n,d]) / c) - sum[n1](2^(-x[n1]) * X[n1,d]))",
        ["x", "X", "c"], lambda x, X, c: (torch.exp(x @ X / c) - 2 ** -x @ X).sum()),
    "batched_attention": (
        "Q: [b, i, e]\nK: [b, j, e]\nV: [b, j, f]\nx: [e]\n"
        "S = softmax(Q @ K.mT / e ** 0.5, axis=-1)\nO = S @ V\nL = sum(O ** 2) + sum(Q @ x)",
        "S[b,i,j] = exp((Q[b,i,e] * K[b,j,e]) / size(e)^0.5) / sum[j1](exp((Q[b,i,e1] * K[b,j1,e1]) / size(e)^0.5))\n"
        "O[b,i,f] = S[b,i,j] * V[b,j,f]\nL = sum[b,i,f](O[b,i,f]^2) + sum[b1,i1](Q[b1,i1,e] * x[e])",
        ["Q", "K", "V", "x"],
        lambda Q, K, V, x: ((torch.softmax(Q @ K.mT / Q.shape[-1] ** 0.5, dim=-1) @ V) ** 2).sum() + (Q @ x).sum()),
    "inverse_solve": (
        "A: [d, d]\nb: [d]\nx = inv(A) @ b\nL = sum(x**2)",
        "x[d] = inv(A)[d,d1] * b[d1]\nL = sum[d](x[d]^2)",
        ["A", "b"], lambda A, b: (torch.linalg.solve(A, b) ** 2).sum()),
    "sum_axis": (
        "X: [n, d]\nw: [n]\nL = sum(sum(X, axis=0) ** 2) + sum(relu(X), axis=(0, 1)) * sum(X, axis=1) @ w",
        "L = sum[d](sum[n](X[n,d])^2) + (sum[n2,d1](relu(X[n2,d1])) * sum[d2](X[n1,d2])) * w[n1]",
        ["X", "w"],
        lambda X, w: (X.sum(dim=0) ** 2).sum() + torch.relu(X).sum() * (X.sum(dim=1) @ w)),
}


def _inputs(text: str, seed: int = 0) -> dict[str, np.ndarray]:
    """Random float64 inputs for the declarations of ``text`` (SPD, symmetric and one-hot as
    declared; a square matrix is made well conditioned)."""
    rng = np.random.default_rng(seed)
    p = parse_matrix(text)
    out: dict[str, np.ndarray] = {}
    for name, d in p.decls.items():
        shape = tuple(SIZES[x] for x in d.dims)
        a = rng.standard_normal(shape)
        if d.fact == "symmetric positive definite" or len(shape) == 2 and shape[0] == shape[1]:
            a = a @ a.T + shape[0] * np.eye(shape[0]) if d.fact else a + 3 * np.eye(shape[0])
        elif d.fact == "one-hot":
            a = np.eye(shape[-1])[rng.integers(0, shape[-1], shape[:-1])]
        elif d.fact == "symmetric":
            a = (a + a.T) / 2
        out[name] = a if shape else np.float64(abs(a) + 0.5)
    return out


@pytest.mark.parametrize("case", CASES)
def test_translation(case):
    text, translation, _, _ = CASES[case]
    p = ricci.parse(text, syntax="matrix")
    assert str(p) == translation
    assert ricci.parse(text, syntax="auto") == p == ricci.parse(text)  # detected by default
    assert ricci.parse(str(p)) == p


@pytest.mark.parametrize("case", CASES)
def test_gradient_against_torch(case):
    text, _, wrt, fn = CASES[case]
    inputs = _inputs(text)
    out = ricci.grad(text, wrt).compile()(**inputs)
    names = fn.__code__.co_varnames[:fn.__code__.co_argcount]
    ts = {k: torch.tensor(inputs[k], dtype=torch.float64, requires_grad=True) for k in names}
    fn(**ts).backward()
    for w in wrt:
        np.testing.assert_allclose(out[w], ts[w].grad.numpy(), rtol=1e-10, atol=1e-12)


_DOC_DECLS = "Q: [h, i, e]\nK: [h, j, e]\nX: [n, d]\nW: [d, m]\nw: [d]\nv: [n]\nu: [d]\nb: [m]\nA: [d, d]\nS: [d, d]\nZ: [n, k]\nx: [d]\n"
#: the table of docs/matrix-input.md
CONSTRUCTS = [
    ("Y = X @ W", "Y[n,m] = X[n,d] * W[d,m]"),
    ("y = X @ w", "y[n] = X[n,d] * w[d]"),
    ("y = v @ X", "y[d] = v[n] * X[n,d]"),
    ("s = u @ w", "s = u[d] * w[d]"),
    ("Y = X.T", "Y[d,n] = X[n,d]"),
    ("Y = K.mT", "Y[h,e,j] = K[h,j,e]"),
    ("A2 = Q @ K.mT", "A2[h,i,j] = Q[h,i,e] * K[h,j,e]"),
    ("Y = X @ W + b", "Y[n,m] = X[n,d] * W[d,m] + b[m]"),
    ("y = x ** 2", "y[d] = x[d]^2"),
    ("y = -x**2", "y[d] = -x[d]^2"),
    ("Y = exp(X)", "Y[n,d] = exp(X[n,d])"),
    ("s = sum(X)", "s = sum[n,d](X[n,d])"),
    ("s = sum(X, axis=0)", "s[d] = sum[n](X[n,d])"),
    ("mu = mean(X, axis=1)", "mu[n] = sum[d](X[n,d]) / size(d)"),
    ("G = inv(S)", "G[d,d1] = inv(S)[d,d1]"),
    ("l = logdet(S)", "l = logdet(S)"),
    ("P = outer(u, b)", "P[d,m] = u[d] * b[m]"),
    ("D = diag(u)", "D[d,d1] = u[d] * delta[d,d1]"),
    ("a = diag(A)", "a[d] = A[d,d]"),
    ("r = norm(x)", "r = sum[d](x[d]^2)^0.5"),
    ("P = softmax(Z, axis=1)", "P[n,k] = exp(Z[n,k]) / sum[k1](exp(Z[n,k1]))"),
    ("P = log_softmax(Z, axis=-1)", "P[n,k] = Z[n,k] - log(sum[k1](exp(Z[n,k1])))"),
    ("Y = np.exp(X) + torch.tanh(X)", "Y[n,d] = exp(X[n,d]) + tanh(X[n,d])"),
    ("G = np.linalg.inv(S)", "G[d,d1] = inv(S)[d,d1]"),
    ("s = sum(X, dim=(0, 1))", "s = sum[n,d](X[n,d])"),
]


@pytest.mark.parametrize("stmt,translation", CONSTRUCTS)
def test_each_construct(stmt, translation):
    assert str(ricci.parse(_DOC_DECLS + stmt, syntax="matrix")) == translation


def test_grad_shows_the_translation():
    d = ricci.grad("X: [n, d]\nw: [d]\ny: [n]\nL = sum((X @ w - y)**2) / n", "w")
    assert str(d) == ("z1[n] = X[n,d] * w[d] - y[n]\n"
                      "dz1[n] = 2 * z1[n] / size(n)\n"
                      "dw[d] = X[n,d] * dz1[n]")


def test_detection():
    assert looks_like_matrix("X: [n, d]\nY = X")
    assert looks_like_matrix("y = A @ x") and looks_like_matrix("y = A.T")
    for text in ("Y[i,j] = X[i,k] * A[k,j]", "S[i,j] : symmetric\nq = x[i]*S[i,j]*x[j]",
                 "Y_{ij} = X_{ik} A_{kj}", "y = x  # A @ x in a comment", "p = v.Tx"):
        assert not looks_like_matrix(text)
    assert str(ricci.parse("S[i,j] : spd\nl = logdet(S)", syntax="auto")) == \
        "S[i,j] : symmetric positive definite\nl = logdet(S)"


def test_declarations_stand_anywhere():
    assert str(ricci.parse("y = 2 * z\nz: [d]", syntax="matrix")) == "y[d] = 2 * z[d]"


def test_statements_on_one_line_and_continued():
    p = ricci.parse("x: [d]; A: [d, d]  # shapes\ny = (A @\n  x)   # continued\nz = y * x", syntax="matrix")
    assert str(p) == "y[d] = A[d,d1] * x[d1]\nz[d] = y[d] * x[d]"


def test_square_dims_get_distinct_indices():
    p = ricci.parse("X: [n, d]\nG = X.T @ X\nK = X @ X.T", syntax="auto")
    assert str(p) == "G[d,d1] = X[n,d] * X[n,d1]\nK[n,n1] = X[n,d] * X[n1,d]"


def test_cli_reads_matrix_notation(capsys):
    from ricci.cli import main

    assert main(["grad", "x: [d]\nA: [d, d]\nq = x.T @ A @ x", "--wrt", "x", "--syntax", "matrix"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ["# read as index notation:", "#   q = (x[d1] * A[d1,d]) * x[d]"] and out[2].startswith("dx[")


# ---------------------------------------------------------------- errors

ERRORS = [
    # (text, message start, line, column, hint part)
    ("X: [n, d]\nw: [n]\ny = X @ w", "X @ w: X is [n, d] but w is [n]; the inner dims d and n differ", 3, 5,
     "did you mean X.T @ w?"),
    ("A: [n, d]\nB: [n, d]\nC = A @ B", "A @ B: A is [n, d] but B is [n, d]; the inner dims d and n differ", 3, 5,
     "did you mean A.T @ B?"),
    ("X: [n, d]\nv: [n]\nc = X - v", "X - v: X is [n, d] but v is [n]; the dims d and n would be paired", 3, 5,
     "(X.T - v).T"),
    ("X: [n, d]\nc = X @ 2", "X @ 2: 2 is a scalar", 2, 5, "scale with *"),
    ("X: [n, d]\ny = X @ v", "'v' is not declared", 2, 9, "v: [d] (a vector)"),
    ("x: [d]\ny = z + x\nz = x", "'z' is used before its definition", 2, 5, "define a name before"),
    ("X: [n, d]\nc = X[:, None]", "indexing and slicing", 2, 6, "broadcasting pairs axes by dim name"),
    ("X: [n, d]\nc = X.sum(axis=0)", "'.sum' is not supported", 2, 6, "sum(X, axis=0)"),
    ("X: [n, d]\nc = softmax(X)", "softmax(X) needs an axis: X is [n, d]", 2, 5, "axis=1"),
    ("X: [n, d]\nc = inv(X)", "inv(X): X is [n, d], not a square matrix", 2, 5, "[d, d]"),
    ("X: [n, d]\nc = foo(X)", "unknown function 'foo'", 2, 5, "known functions: abs"),
    ("X: [n, 3]\nc = X", "dims are names, not sizes", 1, 8, "sizes come from the arrays"),
    ("X: [n, d] symmetric\nc = X", "X: [n, d] symmetric: a symmetric matrix is square", 1, 1, "X: [d, d] symmetric"),
    ("X: [d, d] posdef\nc = X", "unknown property 'posdef'", 1, 11, "known properties"),
    ("x: [d]\nX: [n, d]\nc = x * 2 / n", "'n' stands for the size of dim n", 3, 13, "declare a"),
    ("X: [n, d]\nc = sum(X, axis=2)", "axis 2 is out of range for X, which is [n, d]", 2, 5, None),
    ("X: [n, d]\nc = sum(X, keepdims=True)", "sum(..., keepdims=...) is not supported", 2, 12, "keepdims"),
    ("X: [n, d]\nX = X + 1", "X is declared as an input and cannot also be defined", 2, 1, "declaration"),
    ("x: [d]\ny = x\ny = 2 * x", "y is defined twice", 3, 1, None),
    ("x: [d]\nexp = x", "'exp' is reserved", 2, 1, None),
    ("n: [n]\ny = n", "'n' is both a dim and a tensor", 1, 1, None),
    ("x: [d]\ny = outer(x, 2)", "outer takes two vectors, but 2 is a scalar", 2, 5, None),
    ("x: [d]\ny = x +", "expected an operand", 2, 8, None),
    ("X: [n, d]\ny = X ** 2.T", "'.T' of the number 2", 2, 10, "(x ** 2).T"),
    ("x: [d]\ny = x.mT", "x.mT: x is [d]; .mT swaps the last two axes", 2, 5, None),
    ("A: [b, n, d]\nB: [c, d, m]\ny = A @ B", "A @ B: A is [b, n, d] but B is [c, d, m]; the batch dims b and c",
     3, 5, "batch axes pair"),
    ("X: [n, d]\ny = X.shape", "'.shape' is not supported", 2, 6, "only .T"),
    ("X: [n, d]\ny = sum(X, axis=0, dim=1)", "the axis of sum is given twice", 2, 20, None),
    ("X: [n, d]\ny = sum(X, axis=0, 1)", "a positional argument after axis=", 2, 20, None),
    ("X: [n, d]\ny = sum(X, X)", "sum takes 1 argument, not 2", 2, 5, None),
    ("X: [n, d]\ny = np.sum(X, 0)", "sum takes 1 argument, not 2", 2, 5, "sum(X, axis=0)"),
    ("X: [n, d]\ny = mean(exp)", "'exp' is a function", 2, 10, None),
    ("X: [n, d]\ny = X @ w\nw: [q]", "X @ w: X is [n, d] but w is [q]; the inner dims d and q differ", 2, 5, None),
    ("x: [d]\ny = np.foo(x)", "unknown function 'foo'", 2, 5, None),
]


@pytest.mark.parametrize("text,message,line,column,hint", ERRORS)
def test_errors(text, message, line, column, hint):
    with pytest.raises(ricci.RicciError) as info:
        ricci.parse(text, syntax="matrix")
    e = info.value
    assert e.message.startswith(message), e.message
    assert (e.line, e.column) == (line, column), str(e)
    if hint is not None:
        assert hint in (e.hint or ""), e.hint
    assert "^" in str(e)


def test_declarations_alone_are_no_program():
    with pytest.raises(ricci.RicciError, match="no statement"):
        ricci.parse("X: [n, d]", syntax="auto")


_SOUP = ["X", "w", "n", "@", ".T", "+", "-", "*", "**", "(", ")", "[", "]", ",", ":", "=", "2", "sum(", "axis=0",
         "softmax(", "inv(", "diag(", "outer(", "norm(", "exp(", "np.", "linalg.", "\n", ";", " ", "scalar", "spd",
         "one-hot", "y", ".", "keepdims=1", "(0,1)", "1e400", "·"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(_SOUP), max_size=14), st.booleans())
def test_any_text_gives_a_program_or_a_ricci_error(tokens, declared):
    text = ("X: [n, d]\nw: [d]\ny: [n]\n" if declared else "") + "L = " + "".join(tokens)
    try:
        ricci.parse(text, syntax="matrix")
    except ricci.RicciError as e:
        assert e.span is None or e.span.line >= 1


def test_limits():
    with ricci.limits(nesting=10):
        with pytest.raises(ricci.RicciError, match="nested 11 levels deep"):
            ricci.parse("x: [d]\ny = " + "exp(" * 11 + "x" + ")" * 11, syntax="matrix")
    with ricci.limits(statements=2):
        with pytest.raises(ricci.RicciError, match="limit of 2 statements"):
            ricci.parse("x: [d]\na = x\nb = a\nc = b", syntax="matrix")


def test_auto_refuses_an_undeclared_matrix_name():
    with pytest.raises(ricci.RicciError, match="'b' is not declared"):
        ricci.grad("W: [h, d]\nx: [d]\ny = W @ x + b", "W")


# ---------------------------------------------------------------- random expressions against NumPy


def _np_eval(e, env: dict[str, np.ndarray], sizes: dict[str, int]) -> np.ndarray:
    """The value of a matrix-notation node computed with NumPy (the oracle: the matrix
    text's own meaning, independent of the translation)."""
    if isinstance(e, MNum):
        return np.float64(Fraction(e.value))
    if isinstance(e, MName):
        return env[e.name] if e.name in env else np.float64(sizes[e.name])
    if isinstance(e, MUnary):
        return -_np_eval(e.x, env, sizes)
    if isinstance(e, MT):
        x = _np_eval(e.x, env, sizes)
        return np.swapaxes(x, -1, -2) if e.last else x.T
    if isinstance(e, MOp):
        a, b = _np_eval(e.a, env, sizes), _np_eval(e.b, env, sizes)
        return {"+": np.add, "-": np.subtract, "*": np.multiply, "/": np.divide, "^": np.power,
                "@": np.matmul}[e.op](a, b)
    assert isinstance(e, MCall)
    args = [_np_eval(a, env, sizes) for a in e.args]
    x = args[0]
    if e.fn in FUNCTIONS:
        return getattr(np, e.fn)(x) if e.fn != "sigmoid" else 1 / (1 + np.exp(-x))
    axis = None if e.axes is None else tuple(e.axes)
    if e.fn == "sum":
        return np.sum(x, axis=axis)
    if e.fn == "mean":
        return np.mean(x, axis=axis)
    if e.fn == "norm":
        return np.sqrt(np.sum(x ** 2))
    if e.fn == "outer":
        return np.outer(x, args[1])
    if e.fn == "diag":
        return np.diag(x)
    if e.fn in ("softmax", "log_softmax"):
        ax = (e.axes or (-1,))[0]
        lse = np.log(np.sum(np.exp(x), axis=ax, keepdims=True))
        return np.exp(x - lse) if e.fn == "softmax" else x - lse
    return {"trace": np.trace, "det": np.linalg.det, "inv": np.linalg.inv,
            "logdet": lambda a: np.linalg.slogdet(a)[1]}[e.fn](x)


_SHAPES = {"A": ("n", "d"), "B": ("d", "m"), "C": ("n", "m"), "S": ("d", "d"), "x": ("d",), "y": ("n",),
           "c": ()}
_DECLS = "A: [n, d]\nB: [d, m]\nC: [n, m]\nS: [d, d]\nx: [d]\ny: [n]\nc: scalar\n"


@st.composite
def _expr(draw, shape: tuple[str, ...], depth: int = 0) -> str:
    """Matrix text of the given shape (a tuple of dim names)."""
    leaves = [n for n, s in _SHAPES.items() if s == shape]
    if not shape:
        leaves += ["2", "0.5"]
    choices = ["leaf"] if depth > 2 else ["leaf"] * (depth > 0) + ["add", "mul", "fn", "neg", "T", "matmul", "reduce", "pow",
                                                         "special"]
    kind = draw(st.sampled_from(choices))
    sub = lambda s: draw(_expr(s, depth + 1))  # noqa: E731
    if kind == "leaf" or (kind == "T" and len(shape) != 2):
        if leaves:
            return draw(st.sampled_from(leaves))
        kind = "matmul" if len(shape) <= 2 and depth < 6 else "add"
    if kind == "add":
        tail = shape[draw(st.integers(0, len(shape))):]  # broadcast a trailing part
        op = draw(st.sampled_from(["+", "-"]))
        return f"({sub(shape)} {op} {sub(tail)})"
    if kind == "mul":
        tail = shape[draw(st.integers(0, len(shape))):]
        return f"({sub(tail)} * {sub(shape)})"
    if kind == "fn":
        fn = draw(st.sampled_from(["tanh", "sin", "sigmoid", "exp"]))
        return f"{fn}({sub(shape)} / 4)"
    if kind == "neg":
        return f"-{sub(shape)}"
    if kind == "T":
        return f"({sub(shape[::-1])}).T"
    if kind == "pow":
        return f"({sub(shape)}) ** 2"
    if kind == "special":  # each option drawn only when chosen
        options: list = []
        if not shape:
            options += [lambda: f"norm({sub(('n', 'd'))})", lambda: f"trace({sub(('d', 'd'))})",
                        lambda: f"det({sub(('d', 'd'))} / 4)", lambda: "logdet(S)"]
        if shape == ("d", "d"):
            options += [lambda: f"diag({sub(('d',))})", lambda: f"outer({sub(('d',))}, {sub(('d',))})",
                        lambda: "inv(S)"]
        if len(shape) == 2 and shape != ("d", "d"):
            options += [lambda: f"outer({sub(shape[:1])}, {sub(shape[1:])})"]
        if shape == ("d",):
            options += [lambda: f"diag({sub(('d', 'd'))})"]
        if shape:
            fn = draw(st.sampled_from(["softmax", "log_softmax"]))
            axis = draw(st.integers(-len(shape), len(shape) - 1))
            options += [lambda: f"{fn}({sub(shape)} / 4, axis={axis})"]
        return draw(st.sampled_from(options))()
    if kind == "reduce":
        if len(shape) >= 2:
            return sub(shape)
        extra = draw(st.sampled_from(["n", "d", "m"]))
        pos = draw(st.integers(0, len(shape)))
        fn = draw(st.sampled_from(["sum", "mean"]))
        size = f" / {extra}" if fn == "sum" and draw(st.booleans()) else ""  # a dim as its size
        return f"{fn}({sub(shape[:pos] + (extra,) + shape[pos:])}, axis={pos}){size}"
    # matmul with an inner dim
    if len(shape) > 2:
        return sub(shape)
    inner = draw(st.sampled_from(["n", "d", "m"]))
    left = shape[:1] + (inner,) if len(shape) >= 1 else (inner,)
    right = (inner,) + shape[1:] if len(shape) == 2 else (inner,)
    if len(shape) == 1 and draw(st.booleans()):
        left, right = (inner,), (inner,) + shape
    return f"({sub(left)} @ {sub(right)})"


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from([(), ("d",), ("n", "d"), ("d", "m")]).flatmap(_expr))
def test_random_expressions_against_numpy(expr):
    text = _DECLS + f"R = {expr}\n"
    p = parse_matrix(text)
    program = ricci.parse(text, syntax="matrix")
    rng = np.random.default_rng(1)
    env = {n: rng.standard_normal(tuple(SIZES[x] for x in s)) if s else np.float64(1.5)
           for n, s in _SHAPES.items()}
    env["S"] = env["S"] @ env["S"].T + 3 * np.eye(SIZES["d"])  # well conditioned, positive determinant
    want = _np_eval(p.stmts[-1].rhs, env, SIZES)
    used = {k: v for k, v in env.items() if k in program.inputs}
    got = evaluate(program, used)["R"]
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9)


def test_an_unused_declaration_is_a_warning_with_its_place():
    with pytest.warns(ricci.RicciWarning, match=r"line 3, column 1: V is declared but no statement uses it"):
        p = ricci.parse("X: [n, d]\nw: [d]\nV: [d, d]\nL = sum(X @ w)", syntax="matrix")
    assert p.inputs == ("X", "w")


def test_the_cli_shows_the_translation_before_the_derivation(capsys):
    from ricci.cli import main

    text = "X: [n, d]\nw: [d]\ny: [n]\nL = sum((X @ w - y)**2) / n"
    assert main(["grad", text, "--wrt", "w", "--emit", "matrix"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:2] == ["# read as index notation:", "#   L = sum[n]((X[n,d] * w[d] - y[n])^2) / size(n)"]
    assert out[-1] == "dw = X.T @ dz1"
    # ricci's own notation is not translated, so nothing is shown
    assert main(["grad", "L = sum[n]((X[n,d] * w[d] - y[n])^2)", "--wrt", "w"]) == 0
    assert "read as" not in capsys.readouterr().out
