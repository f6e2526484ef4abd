"""The strict proof of printed matrix forms (issue "Every formula a person reads is proven"):
every line of ``str(d.matrix())`` run as printed, with only the names a reader has, and
compared with the index form in exact shape and value (tests/support/strict_matrix.py).

The cases: every example in examples/ (the gallery: its gradient w.r.t. the inputs of its
``# wrt:`` line, as docs/gallery.md prints it; and w.r.t. every input), the Hessian w.r.t.
each vector input of an example with a scalar output, the Jacobian w.r.t. each input of
the small examples (two statements at most, four axes at most), and the cases of the issue.

A case that fails today is a strict xfail with its problem (``KNOWN``): the suite stays
green, and a case flips to a failure once its matrix view is fixed, to be removed from
``KNOWN`` then. ``python tests/display/test_strict_matrix.py REPORT`` writes the report of
every failing case and its problems, grouped by kind (the work plan for the matrix view).
"""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ricci
from ricci.display.matrix import MatrixView

from support.matrix_check import check_matrix_forms
from support.strategies import models
from support.strict_cases import example_cases, random_derivation
from support.strict_matrix import index_only, report, strict_check, strict_problems

ROOT = Path(__file__).resolve().parents[2]

ISSUE = {
    # dX = sum(A, axis=1) is a K-vector (dX is I x K); dA = sum(X, axis=0)[:, None] is K x 1
    "issue-sum-of-matmul": partial(ricci.grad, "Y[i,j] = X[i,k]*A[k,j]; l = sum[i,j](Y[i,j])", ["X", "A"]),
    # d(dL/dz)/dw = ... then H = X.T @ ddz_dw: the name used is not the name printed
    "issue-hessian-sigmoid-sum": partial(
        ricci.hessian, "z[n] = X[n,d]*w[d]; p[n] = sigmoid(z[n]); L = sum[n](p[n])", "w"),
    # dZ/dW = einsum('np,hq->nhpq', X, I): I's size is defined nowhere
    "issue-jacobian-linear": partial(ricci.jacobian, "Z[n,h] = X[n,d] * W[d,h]", "W"),
}


def cases() -> dict[str, Callable[[], Any]]:
    """Case id -> a function giving its derivation."""
    return {**example_cases(), **ISSUE}


CASES = cases()

#: the cases that fail today, each with its problem (strict xfail: remove a case once fixed)
KNOWN: dict[str, str] = {}  # case -> the problem it still has (a strict xfail): none today


def params() -> list:
    return [pytest.param(case, id=case, marks=[pytest.mark.xfail(strict=True, reason=KNOWN[case])]
                         if case in KNOWN else []) for case in CASES]


@pytest.mark.parametrize("case", params())
def test_printed_matrix_forms_are_proven(case):
    problems = strict_check(CASES[case]())
    assert not problems, "\n".join(problems)


def test_every_known_failure_is_a_case():
    assert set(KNOWN) <= set(CASES)


# ---------------------------------------------------------------- strict_check itself


class Printed:
    """A derivation whose matrix view prints some lines differently (``edits``: printed
    line -> the line printed instead): a fake view for the self-tests."""

    def __init__(self, d, edits: dict[str, str]) -> None:
        self._d = d
        self._edits = edits

    def __getattr__(self, name: str) -> Any:
        return getattr(self._d, name)

    def matrix(self) -> MatrixView:
        edits = self._edits
        real = self._d.matrix()

        class Edited(MatrixView):
            def line_text(self, ln) -> str:
                text = super().line_text(ln)
                return edits.get(text, text)

        view = Edited(real.lines, real.spelling)
        assert set(edits) <= set(str(real).split("\n")), "an edit names a line that is not printed"
        return view


def matmul():
    return ricci.grad("Y[i,j] = X[i,k] * A[k,j]", ["X", "A"])


def test_a_right_output_has_no_problem():
    assert str(matmul().matrix()) == "dX = dY @ A.T\ndA = X.T @ dY"
    assert strict_check(matmul()) == []


def test_catches_a_wrong_shape_that_broadcasts():
    # a K-vector where dX is I x K: np.broadcast_to would accept it
    d = Printed(matmul(), {"dX = dY @ A.T": "dX = sum(dY @ A.T, axis=0)"})
    (p,) = strict_problems(d)
    assert p.kind == "shape"
    assert p == "`dX = sum(dY @ A.T, axis=0)`: shape: shape (3,) printed, (2, 3) expected"


def test_catches_a_transpose_of_a_square_result():
    d = Printed(ricci.grad("q = x[i]*A[i,j]*y[j]", ["A"]), {"dA = outer(x, y)": "dA = outer(y, x)"})
    problems = strict_problems(d)
    assert [p.kind for p in problems] == ["shape"]  # distinct sizes: x and y differ in length


def test_catches_an_undefined_name():
    d = Printed(matmul(), {"dA = X.T @ dY": "dA = X.T @ dZ"})
    (p,) = strict_problems(d)
    assert p.kind == "undefined" and "uses dZ, which is not defined" in p


def test_catches_a_wrong_value():
    d = Printed(matmul(), {"dA = X.T @ dY": "dA = X.T @ (2 * dY)"})
    (p,) = strict_problems(d)
    assert p.kind == "value" and p.startswith("`dA = X.T @ (2 * dY)`: value: max error")


def test_catches_a_line_that_does_not_run():
    d = Printed(matmul(), {"dA = X.T @ dY": "dA = X @ dY"})
    (p,) = strict_problems(d)
    assert p.kind == "error" and "ValueError" in p and "matmul" in p


def test_the_namespace_holds_only_what_a_reader_has():
    # builtins and NumPy are not names of the text; values ricci computes but does not print
    # (the forward intermediate z1 of the generated code) are not either
    d = Printed(matmul(), {"dA = X.T @ dY": "dA = np.transpose(X) @ dY"})
    problems = strict_problems(d)
    assert {p.kind for p in problems} == {"undefined"}
    assert any("uses np, which is not defined" in p for p in problems)
    d = Printed(matmul(), {"dA = X.T @ dY": "dA = abs(X).T @ dY"})
    assert [p.kind for p in strict_problems(d)] == ["value"]  # abs is the elementwise function
    d = Printed(matmul(), {"dA = X.T @ dY": "dA = X.transpose() @ dY"})
    assert [p.kind for p in strict_problems(d)] == ["undefined"]
    d = ricci.hessian(open(ROOT / "examples" / "softplus_logistic.ricci").read(), "w")
    assert str(d.matrix()) == "z1 = -y * (X @ w)\nH = X.T @ diag(sigmoid(z1) * y^2 * (1 - sigmoid(z1))) @ X"
    assert strict_check(d) == []
    (p,) = strict_problems(Printed(d, {"z1 = -y * (X @ w)": "G = -y * (X @ w)"}))
    assert p.kind == "spelling" and p.endswith("uses z1, printed as `G`")  # z1 is not given


def test_a_name_printed_as_a_derivative_is_defined_by_that_spelling():
    d = ricci.jacobian(open(ROOT / "examples" / "logistic_regression.ricci").read(), "w")
    text = str(d.matrix())
    assert "dp/dw = " in text and "dL/dw = (dp/dw).T @ G2 - (dp/dw).T @ G" in text
    assert strict_check(d) == []
    # the form printed before: the result used under ricci's internal name
    old = Printed(d, {"dL/dw = (dp/dw).T @ G2 - (dp/dw).T @ G": "dL/dw = dp_dw.T @ G2 - dp_dw.T @ G"})
    problems = strict_problems(old)
    assert {p.kind for p in problems} == {"spelling"}
    assert problems[0].endswith("uses dp_dw, printed as `dp/dw`")


def test_an_identity_of_unknown_size_is_a_problem():
    d = ricci.grad("t = A[i,i]", "A")
    assert str(d.matrix()) == "dA = eye(size(i))"  # once dA = I
    assert strict_check(d) == []
    (p,) = strict_problems(Printed(d, {"dA = eye(size(i))": "dA = I"}))
    assert p.kind == "identity size"
    # where an operand gives its size, I is the identity of that size
    d = ricci.grad("q = x[i]*A[i,j]*x[j]", ["A"])
    assert strict_check(Printed(d, {"dA = outer(x, x)": "dA = outer(x, x) @ I"})) == []
    assert strict_check(Printed(d, {"dA = outer(x, x)": "dA = outer(x, x) + 0 * I"})) == []


def test_a_keyword_name_and_the_power_read_as_printed():
    d = ricci.grad("y[i] = lambda[i] * x[i]; L = sum[i](y[i]^2)", ["lambda", "x"])
    assert "dlambda = dy * x" in str(d.matrix())
    assert strict_check(d) == []
    assert strict_check(ricci.grad("L = sum[i](lambda * x[i]^3)", ["lambda", "x"])) == []


def test_a_wrong_shape_that_broadcasting_would_hide_is_a_problem():
    # the form printed before it was fixed: a K-vector for an I x K gradient, K x 1 for K x J
    d = ISSUE["issue-sum-of-matmul"]()
    assert check_matrix_forms(d) == 2
    assert strict_problems(d) == []
    edited = Printed(d, {"dX = sum(A, axis=1) * ones_like(X)": "dX = sum(A, axis=1)",
                         "dA = sum(X, axis=0)[:, None] * ones_like(A)": "dA = sum(X, axis=0)[:, None]"})
    assert [p.kind for p in strict_problems(edited)] == ["shape", "shape"]


def test_inputs_outside_a_domain_are_drawn_again_positive():
    d = ricci.grad("L = sum[i](log(x[i]) + sqrt(c))", ["x", "c"])
    assert strict_check(d) == []


def test_size_names_an_index_of_the_program():
    d = ricci.grad(open(ROOT / "examples" / "mse.ricci").read(), ["W"])
    assert "dY = 2 * (Y - T) / size(k) / size(n)" in str(d.matrix())
    edited = Printed(d, {"dY = 2 * (Y - T) / size(k) / size(n)": "dY = 2 * (Y - T) / size(k) / size(q)"})
    (p,) = strict_problems(edited)
    assert p.kind == "size index" and "size(q)" in p
    edited = Printed(d, {"dY = 2 * (Y - T) / size(k) / size(n)": "dY = 2 * (Y - T) / size(n) / size(n)"})
    assert [p.kind for p in strict_problems(edited)] == ["value"]


def test_a_self_reference_is_a_problem():
    d = ricci.hessian(open(ROOT / "examples" / "logistic_regression.ricci").read(), "y")
    assert str(d.matrix()) == "H = zeros((size(n), size(n)))"  # once H = zeros_like(H)
    assert strict_problems(d) == []
    edited = Printed(d, {"H = zeros((size(n), size(n)))": "H = zeros_like(H)"})
    assert [p.kind for p in strict_problems(edited)] == ["self-reference"]


# ---------------------------------------------------------------- random derivations


def _strict_random(m, mode) -> None:
    d = random_derivation(m, mode)
    if d is not None:
        problems = strict_problems(d)
        assert problems == [], (m.text, mode, [str(p) for p in problems])


@settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(models(), st.integers(0, 2))
def test_printed_forms_of_random_derivations_are_proven(m, mode):
    """Every printed line of random gradients and Jacobians runs as printed, to the exact
    shape and value (matrix forms, einsum forms of any expression, sizes by name or
    ``X.shape[a]``): bugs of the einsum forms, the identity sizes and the size names."""
    _strict_random(m, mode)


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(models(), st.integers(0, 2))
def test_printed_forms_of_many_random_derivations_are_proven(m, mode):
    _strict_random(m, mode)


def test_einsum_form_of_any_expression():
    """A result with no matrix form has an einsum form even when it is not a product: sums of
    terms, functions, powers, k-index deltas, operands with repeated indices."""
    d = ricci.grad("H[m,t,u] = sum[p,l](x[l,u,m,p] / (1 + x[i,j,j,i] * x[r,n,n,r])) / exp(b[k,t])\n"
                   "L = H[i,j,i]", ["x", "b"])
    text = str(d.matrix())
    assert "einsum form: db = -(1 / (1 + einsum('ijji,rnnr->', x, x))) * einsum(" in text
    assert strict_problems(d) == []
    assert "einsum form: dx = " in text
    d = ricci.jacobian("D3[i,j,k] = delta[i,j,k] * F[k]", "F")  # delta[i,j,k] = delta[i,j] delta[j,k]
    assert "einsum('ij,jk,kp->ijkp', eye(size(i)), eye(size(i)), eye(size(i)))" in str(d.matrix())
    assert strict_problems(d) == []
    assert strict_problems(ricci.grad("H[m,t,u] = x[m,t,u] * x[t,t,u]; L = sum[m,t,u](H[m,t,u])", ["x"])) == []


def test_an_identity_is_sized_where_its_context_does_not_size_it():
    """``(0.5 * dz1 * I)[:, :, None]``, ``-I.T`` as a helper and ``s * I + v[:, None]``
    were printed with an ``I`` of no definite size."""
    for text, wrt in [("P[i,q,s] = V[i,q,s] * exp(0.5 * sum[j](V[j,j,n]))\nY[i] = P[i,i,i]", ["V"]),
                      ("T3[n,q] = X[q,n]\nY[j] = -(size(j) - delta[j,s] * X[s,r] * X[w,w])", ["X"])]:
        d = ricci.grad(text, wrt)
        assert "eye(" in str(d.matrix()) and strict_problems(d) == [], str(d.matrix())
    assert str(ricci.grad("L = sum[i,j](A[i,j] * (B[i,j] + delta[i,j]))", ["A"]).matrix()) == "dA = B + I"


def test_a_tensor_named_like_a_word_of_the_notation_is_written_with_an_underscore():
    """Bug #31 (found by the cookbook suite): a tensor named I, diag, outer or eye printed as
    the word of the notation: ``dX = I + I`` (the tensor and the identity), ``diag(diag)``."""
    d = ricci.grad("L = sum[i,j](I[i,j] * X[i,j]) + trace(X)", ["X"])
    assert str(d.matrix()) == "# I_ is the tensor I (I alone is the identity)\ndX = I_ + I"
    d = ricci.jacobian("y[i] = diag[i] * x[i]", "x")
    assert str(d.matrix()).splitlines()[1] == "dy/dx = diag(diag_)"
    for e in (d, ricci.hessian("L = sum[i,j](I[i,j]*x[i]*x[j]) + x[i]*x[i]", "x"),
              ricci.grad("L = outer[i] * eye[i]", ["outer", "eye"])):
        assert strict_problems(e) == []


def test_a_size_with_no_name_of_its_own_is_a_shape():
    """A dim the program names by no index of its own is ``X.shape[a]`` of an input."""
    assert str(ricci.grad("L = trace(A)", ["A"]).matrix()) == "dA = eye(A.shape[0])"
    d = ricci.jacobian("T2[n] = V[n]; L = sum[q,j](C[q,j])", ["V"])
    assert str(d.matrix()) == "dL/dV[p] = zeros((size(n),))"
    assert strict_problems(d) == []


if __name__ == "__main__":  # python tests/display/test_strict_matrix.py REPORT
    derivations = {case: make() for case, make in CASES.items()}
    results = [(case, strict_problems(d)) for case, d in derivations.items()]
    text = report(results, {case: index_only(d) for case, d in derivations.items()})
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(text)
    else:
        print(text, end="")


def test_an_identity_is_sized_by_what_numpy_adds_it_to_first():
    """``-I - s[:, None] - x`` adds I to a column first (NumPy evaluates left to right), so
    I is not sized by the whole matrix x further right: it is printed with its size."""
    d = ricci.grad("Y[i,j] = sin(-delta[i,j] - x[k,i] - x[i,j])", "x")
    assert str(d.matrix()).splitlines()[0] == "z1 = -eye(size(i)) - sum(x, axis=0)[:, None] - x"
    assert strict_problems(d) == []
    h = ricci.hessian("L = (x[i] * x[i])^2", "x")  # a scalar times I beside a matrix keeps I
    assert str(h.matrix()) == "H = 8 * outer(x, x) + 4 * sum(x^2) * I"
    assert strict_problems(h) == []


def test_ones_like_names_only_a_tensor_the_reader_has():
    """The broadcast adjoint of a name ricci gave a part and does not print is sized by its
    index, not ``ones_like(z1)`` of an undefined ``z1``; where that adjoint is a number
    or a smaller tensor it is not formed at all (``dT1``, a scalar, read as it is)."""
    d = ricci.grad("T1 = sum[i](log(exp(x[j,i])))\nY[i] = -x[i,i] - T1", ["x"])
    assert str(d.matrix()).splitlines() == ["dT1 = -sum(dY)", "dx = dT1 - diag(dY)"]
    assert strict_problems(d) == []
    d = ricci.grad("T1[j] = sum[i](log(exp(x[j,i])))\nY[i] = -x[i,i] - sin(T1[i])", ["x"])
    assert "z1" not in str(d.matrix())
    assert strict_problems(d) == []
