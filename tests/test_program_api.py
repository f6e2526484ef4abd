"""Expressions on their own (issue 13): ``Program.simplify``, ``matrix``, ``source`` and
``compile``, without differentiating the program."""

from types import SimpleNamespace

import numpy as np
import pytest

import ricci
from ricci.ir.program import output_names
from ricci.verify.evaluate import evaluate

from support.strict_matrix import sizes_of, strict_check

MATMUL = "C[i,k] = A[i,j] * B[j,k]"
DELTA = "v[i] = A[i,j] * delta[j,k] * B[i,k]"
SVD = "S[k,l] = s[k] * delta[k,l]\nA[i,j] = U[i,k] * S[k,l] * V[l,j]"
PROGRAMS = [
    MATMUL, DELTA, SVD,
    "Y[i,j] = X[i,k] * A[k,j]",
    "Z[n,h] = X[n,d] * W[d,h] + b[h]\nY[n,h] = tanh(Z[n,h])\nL = sum[n,h](Y[n,h]^2)",
    "S[k,l] = s[k] * delta[k,l]\nA[i,j] = U[i,k] * S[k,l] * V[l,j]\nB[i,j] = S[i,j] + A[i,j]",
    "D[i,j] = delta[i,j] * 2\nq = x[i] * D[i,j] * x[j]",
    "y[i] = W[i,j] * x[j] + b[i]\nL = sum[i](y[i]^2)",
    "p[n,k] = exp(z[n,k]) / sum[j](exp(z[n,j]))",
]


def _sizes(prog):
    return sizes_of(SimpleNamespace(program=prog, forward=prog, source_program=prog))


def _inputs(prog, seed=0):
    rng = np.random.default_rng(seed)
    dims = _sizes(prog)
    return {n: rng.standard_normal(tuple(dims[d] for d in prog.dims[n])) for n in prog.inputs}, dims


def _values(prog, inputs, dims):
    return evaluate(prog, {k: inputs[k] for k in prog.inputs}, dim_sizes=dims)


@pytest.mark.parametrize("text", PROGRAMS)
def test_simplify_keeps_the_value(text):
    p = ricci.parse(text)
    q = p.simplify()
    assert isinstance(q, ricci.Program)
    assert set(q.inputs) <= set(p.inputs)
    assert set(output_names(p)) <= set(q.defined)
    for seed in range(3):
        inputs, dims = _inputs(p, seed)
        want, got = _values(p, inputs, dims), _values(q, inputs, dims)
        for out in output_names(p):
            np.testing.assert_allclose(got[out], want[out], rtol=1e-10, atol=1e-12)
    assert str(ricci.parse(str(q)).simplify()) == str(q)  # the simplified program prints as it reads back
    assert str(q.simplify()) == str(q)


def test_cs189_matmul_is_np_dot():
    q = ricci.parse(MATMUL).simplify()
    assert str(q) == MATMUL
    assert str(q.matrix()) == "C = A @ B"
    assert str(ricci.parse(MATMUL).matrix()) == "C = A @ B"


def test_cs189_delta_eats_an_index():
    q = ricci.parse(DELTA).simplify()
    assert str(q) == "v[i] = A[i,j] * B[i,j]"
    assert "delta" not in str(q)
    assert str(q.matrix()) == "v = sum(A * B, axis=1)"


def test_cs189_svd_with_a_diagonal_s():
    q = ricci.parse(SVD).simplify()
    assert [s.name for s in q.statements] == ["A"]  # S, holding a delta, is substituted
    assert str(q) == str(ricci.parse("A[i,j] = U[i,k] * s[k] * V[k,j]").simplify())
    assert "s[k]" in str(q) and "U[i,k]" in str(q) and "V[k,j]" in str(q)
    assert q.unicode() == "A_ij = U_ik V_kj s_k"
    assert str(q.matrix()) == "A = U @ diag(s) @ V"


def test_outputs_and_deltas_without_readers_stay():
    q = ricci.parse("S[k,l] = s[k] * delta[k,l]").simplify()
    assert [s.name for s in q.statements] == ["S"]
    q = ricci.parse(SVD + "\nB[i,j] = S[i,j] + A[i,j]").simplify()
    assert [s.name for s in q.statements] == ["A", "B"]
    assert str(q.matrix()).splitlines() == ["A = U @ diag(s) @ V", "B = A + diag(s)"]


def _strict(prog):
    """The strict harness of derivations, on a program: the reader has the inputs only."""
    d = SimpleNamespace(matrix=prog.matrix, program=prog, source_program=prog, forward=prog,
                        inputs=prog.inputs, of="__nothing__")
    return strict_check(d)


@pytest.mark.parametrize("text", PROGRAMS)
@pytest.mark.parametrize("simplified", [False, True])
def test_matrix_lines_run_as_printed(text, simplified):
    p = ricci.parse(text)
    p = p.simplify() if simplified else p
    assert _strict(p) == []


def test_the_strict_harness_sees_a_wrong_line():
    p = ricci.parse("Y[i,j] = X[i,k] * A[j,k]")
    view = p.matrix()
    ln = view.lines[0]
    good = view.line_text(ln)
    assert good == "Y = X @ A.T"
    from ricci.display.matrix_algebra import Var
    ln.node = Var("X", 2)  # a wrong form: the harness must say so
    try:
        assert _strict(p)
    finally:
        p.__dict__.pop("_matrix_view")


def test_matrix_latex_and_no_form():
    p = ricci.parse("T[i,j,k] = A[i,j] * b[k]")
    text = str(p.matrix())
    assert "no matrix form" in text and "einsum form" in text
    assert r"\mathbf" in ricci.parse(MATMUL).matrix().latex() or "C" in ricci.parse(MATMUL).matrix().latex()


@pytest.mark.parametrize("backend", ["numpy", "torch"])
@pytest.mark.parametrize("text", PROGRAMS)
def test_compiled_forward_program_equals_the_evaluator(text, backend):
    if backend == "torch":
        torch = pytest.importorskip("torch")
    for prog in (ricci.parse(text), ricci.parse(text).simplify()):
        inputs, dims = _inputs(prog, 1)
        want = _values(prog, inputs, dims)
        f = prog.compile(backend)
        assert tuple(f.inputs) == tuple(prog.inputs)
        args = inputs if backend == "numpy" else {k: torch.tensor(v) for k, v in inputs.items()}
        got = f(**args)
        assert set(got) == set(output_names(prog))
        for name, value in got.items():
            value = value.numpy() if backend == "torch" else value
            np.testing.assert_allclose(value, want[name], rtol=1e-10, atol=1e-12)
        assert prog.compile(backend) is f  # compiled once


def test_source():
    src = ricci.parse(MATMUL).source()
    assert src.startswith("import numpy as np") and "def forward_C(A, B)" in src
    assert "C = A @ B" in src and "return {'C': C}" in src
    assert "import torch" in ricci.parse(MATMUL).source("torch")
    assert "import jax" in ricci.parse(MATMUL).source("jax")
    ns: dict = {}
    exec(compile(src, "<test>", "exec"), ns)
    a, b = np.ones((2, 3)), np.ones((3, 4))
    np.testing.assert_allclose(ns["forward_C"](a, b)["C"], a @ b)


def test_errors_are_ricci_errors():
    p = ricci.parse(MATMUL)
    with pytest.raises(ricci.RicciError, match="backend"):
        p.source("tensorflow")
    with pytest.raises(ricci.RicciError, match="backend"):
        p.compile("tensorflow")
    with pytest.raises(ricci.RicciError):
        p.compile()(A=np.ones((2, 3)), B=np.ones((4, 4)))


def test_program_text_attribute():
    p = ricci.parse(MATMUL)
    assert p.text == MATMUL
