"""inv(A)[i,j], det(A), logdet(A), trace(A): the language, the derivative rules (against torch in
float64), the generated code (solve instead of an explicit inverse), matrix notation,
steps, and the errors."""

import numpy as np
import pytest
import torch

import ricci
from ricci.primitives.functions import MATRIX_FUNCTIONS

from support.matrix_check import check_matrix_forms
from support.steps_check import check_steps

rng = np.random.default_rng(7)


def spd(n):
    m = rng.standard_normal((n, n))
    return m @ m.T + n * np.eye(n)


def t(a):
    return torch.tensor(a, dtype=torch.float64, requires_grad=True)


# ---------------------------------------------------------------- the language


@pytest.mark.parametrize("text", [
    "L = logdet(A) + inv(B)[i,j] * x[j] * y[i]",
    "t = inv(A)[i,i]",
    "Y[i,j] = inv(A)[j,i]",
    "L = det(A) * sum[i](x[i])",
])
def test_parse_print_round_trip(text):
    p = ricci.parse(text)
    assert ricci.parse(str(p)) == p


def test_operand_is_square():
    p = ricci.parse("L = logdet(A) + sum[i](x[i] * A[i,j] * y[j])")
    assert p.dims["A"][0] == p.dims["A"][1] == p.dims["x"][0] == p.dims["y"][0]


@pytest.mark.parametrize("text, message", [
    ("y = inv(x)[i,j] * x[i]", "inv needs a square matrix, but 'x' is used with 1 index"),
    ("L = det(c) + c", "det needs a square matrix, but 'c' is used with 0 indices"),
    ("L = inv(A[i,j])[k,l]", "write inv(A) without indices"),
    ("L = logdet(A + B)", "logdet takes a square matrix named by its tensor"),
    ("L = inv(A)", "inv(A) is a matrix: index it"),
    ("L = det(A)[i]", "det(A) is a number: it takes no indices"),
    ("inv = 3", "'inv' is reserved"),
])
def test_errors(text, message):
    with pytest.raises(ricci.RicciError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        ricci.parse(text)


def test_non_square_operand_at_call_time():
    f = ricci.grad("L = logdet(A)", ["A"]).compile()
    with pytest.raises(ricci.RicciError, match=r"'A' must be square along axes 0 and 1, but its shape is \(3, 4\)"):
        f(A=np.ones((3, 4)))


# ---------------------------------------------------------------- derivative rules, against torch


@pytest.mark.parametrize("fn", sorted(MATRIX_FUNCTIONS))
def test_every_matrix_function_rule_against_torch(fn):
    n = 4
    A = spd(n)
    W = rng.standard_normal((n, n))
    if MATRIX_FUNCTIONS[fn].rank:
        prog = f"L = sum[i,j]({fn}(A)[i,j] * W[j,i])"
        ref = {"inv": torch.linalg.inv}[fn]
        At = t(A)
        (ref(At) * torch.tensor(W).T).sum().backward()
    else:
        prog = f"L = {fn}(A) * w"
        ref = {"det": torch.linalg.det, "logdet": lambda a: torch.linalg.slogdet(a)[1],
               "trace": torch.trace}[fn]
        At = t(A)
        (ref(At) * 1.7).backward()
    d = ricci.grad(prog, ["A"])
    for backend in ("numpy", "torch"):
        kw = {"A": A, "W": W} if MATRIX_FUNCTIONS[fn].rank else {"A": A, "w": np.float64(1.7)}
        got = d.compile(backend)(**kw)["A"]
        got = got.detach().numpy() if hasattr(got, "detach") else got
        np.testing.assert_allclose(got, At.grad.numpy(), rtol=1e-10, atol=1e-12)
    # and through ricci.check (torch autograd on the reference interpreter, finite differences)
    assert ricci.check(prog, ["A"], sizes={"i": n} if "i" in prog else None).ok


@pytest.mark.parametrize("prog, wrt", [
    ("Y[i,j] = inv(A)[i,j]", ["A"]),
    ("t[i] = inv(A)[i,j] * y[j]\nL = sum[i](t[i]^2)", ["A", "y"]),
    ("L = logdet(A) + inv(A)[i,j] * x[j] * x[i]", ["A", "x"]),
    ("C[i,j] = S[i,j] + e * delta[i,j]\nL = logdet(C)", ["S", "e"]),
    ("L = det(A) * logdet(A)", ["A"]),
    ("t = inv(A)[i,i]", ["A"]),
    ("Y[i,j] = inv(A)[j,k] * B[k,i]", ["A", "B"]),
    ("L = trace(A) * logdet(A) + trace(B) * x[i] * B[i,j] * x[j]", ["A", "B", "x"]),
])
def test_gradients_jacobians_matrix_forms_and_steps(prog, wrt):
    assert ricci.check(prog, wrt).ok
    for w in wrt:
        assert ricci.check(prog, [w], derivation=ricci.jacobian(prog, w)).ok
    d = ricci.grad(prog, wrt)
    check_matrix_forms(d)
    check_steps(d)
    # second derivatives: the derivative of a derived program
    g = ricci.grad(d.program, [wrt[0]], of=d.outputs[wrt[0]])
    assert ricci.check(d.program, [wrt[0]], of=d.outputs[wrt[0]], derivation=g).ok


# ---------------------------------------------------------------- generated code and notation


def test_solve_instead_of_the_inverse():
    d = ricci.grad("t[i] = inv(A)[i,j] * y[j]", ["y"])
    for backend in ("numpy", "torch"):
        src = d.source(backend).split('"""')[-1]
        assert "linalg.solve(A.T, dt)" in src and "linalg.inv" not in src
    d = ricci.grad("t[i] = inv(A)[i,j] * y[j]\nL = sum[i](t[i] * c[i])", ["c"])
    src = d.source().split('"""')[-1]
    assert "np.linalg.solve(A, y)" in src and "linalg.inv" not in src
    # an inverse used in several places is computed once
    for prog in ("L = logdet(A) + inv(A)[i,j] * x[j] * x[i]",
                 "t[i] = inv(A)[i,j] * y[j]\nL = sum[i](t[i]^2)"):
        src = ricci.grad(prog, ["A"]).source().split('"""')[-1]
        assert src.count("np.linalg.inv(A)") == 1, src


def test_matrix_notation_of_the_inverse():
    d = ricci.grad("Y[i,j] = inv(A)[i,j]", ["A"])
    assert str(d) == "dA[i,j] = -inv(A)[r,i] * inv(A)[j,s] * dY[r,s]"
    assert str(d.matrix()) == "dA = -(inv(A).T @ dY @ inv(A).T)"
    assert d.matrix().latex() == \
        r"\frac{\partial l}{\partial A} = -\left(A^{-T} \frac{\partial l}{\partial Y} A^{-T}\right)"
    d = ricci.grad("L = logdet(A)", ["A"])
    assert str(d.matrix()) == "dA = inv(A).T"
    assert d.unicode() == "∂L/∂A_ij = (A⁻¹)_ji"
    assert d.latex() == r"\frac{\partial L}{\partial A_{ij}} = (A^{-1})_{ji}"
