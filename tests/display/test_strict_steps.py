"""The strict proof of the matrix forms the steps print (tests/support/strict_steps.py):
every matrix-notation line of ``str(d.steps())`` run as printed, with only the names a
reader of the steps has, compared in exact shape and value with its statement, and equal
to the line the matrix view prints for the same result (one naming scheme).

The cases: every example in examples/ (the gallery: the gradient w.r.t. the inputs of its
``# wrt:`` line, and w.r.t. every input), the Hessian w.r.t. each vector input of an
example with a scalar output, the Jacobian w.r.t. each input of the small examples, and
random programs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import ricci
import ricci.display.steps as S

from support.strategies import models
from support.strict_cases import EXAMPLES, example_cases, header, random_derivation
from support.strict_steps import matrix_steps, printed_equations, strict_step_problems

ROOT = Path(__file__).resolve().parents[2]


def cases() -> dict[str, Callable[[], Any]]:
    return example_cases()


CASES = cases()


@pytest.mark.parametrize("case", list(CASES))
def test_matrix_forms_the_steps_print_are_proven(case):
    d = CASES[case]()
    problems = strict_step_problems(d)
    assert not problems, "\n".join(problems)


def test_the_steps_of_one_result_are_self_contained():
    text = (ROOT / "examples" / "mlp3.ricci").read_text()
    d = ricci.grad(text, text.splitlines()[1].split(":", 1)[1].split())
    for x in d.wrt:
        assert strict_step_problems(d, x) == [], x


# ---------------------------------------------------------------- the harness itself


class Printed(list):
    """Steps whose printed text has some equation lines edited (``edits``: printed line ->
    the line printed instead): fake steps for the self-tests."""

    def __init__(self, steps, edits: dict[str, str]) -> None:
        super().__init__(steps)
        self._steps, self._edits = steps, edits
        lines = str(steps).split("\n")
        assert all(f"     {e}" in lines for e in edits), "an edit names a line that is not printed"

    def __str__(self) -> str:
        return "\n".join(f"     {self._edits[ln[5:]]}" if ln[5:] in self._edits and ln.startswith("     ")
                         else ln for ln in str(self._steps).split("\n"))


def matmul():
    return ricci.grad("Y[i,j] = X[i,k] * A[k,j]", ["X", "A"])


def test_a_right_output_has_no_problem():
    d = matmul()
    steps = d.steps()
    lines = [printed_equations(str(steps))[k] for k in matrix_steps(steps)]
    assert lines == ["dX = dY @ A.T", "dA = X.T @ dY"]
    assert strict_step_problems(d) == []


def test_catches_a_wrong_shape():
    d = matmul()
    problems = strict_step_problems(d, steps=Printed(d.steps(), {"dX = dY @ A.T": "dX = sum(dY @ A.T, axis=0)"}))
    assert sorted(p.kind for p in problems) == ["shape", "view"]


def test_catches_an_undefined_name():
    d = matmul()
    problems = strict_step_problems(d, steps=Printed(d.steps(), {"dA = X.T @ dY": "dA = X.T @ dZ"}))
    assert {p.kind for p in problems} == {"view", "undefined"}
    assert any("uses dZ, which is not defined" in p for p in problems)


def test_catches_a_wrong_value():
    d = matmul()
    problems = strict_step_problems(d, steps=Printed(d.steps(), {"dA = X.T @ dY": "dA = X.T @ (2 * dY)"}))
    assert sorted(p.kind for p in problems) == ["value", "view"]


def test_catches_the_articles_names_in_a_matrix_line():
    # the form printed before: dl/dX where the matrix view prints dX
    d = matmul()
    edited = Printed(d.steps(), {"dX = dY @ A.T": "dl/dX = (dl/dY) @ A.T"})
    problems = strict_step_problems(d, steps=edited)
    assert "view" in {p.kind for p in problems}
    # a name used before the line that defines it
    edited = Printed(d.steps(), {"dX = dY @ A.T": "dX = dY @ (dA / X[0, 0]).T"})
    assert "undefined" in {p.kind for p in strict_step_problems(d, steps=edited)}


# ---------------------------------------------------------------- random derivations


def _strict_random(m, mode) -> None:
    d = random_derivation(m, mode)
    if d is not None:
        problems = strict_step_problems(d)
        assert problems == [], (m.text, mode, [str(p) for p in problems])


@settings(max_examples=12, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(models(), st.integers(0, 2))
def test_matrix_forms_in_the_steps_of_random_derivations_are_proven(m, mode):
    _strict_random(m, mode)


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(models(), st.integers(0, 2))
def test_matrix_forms_in_the_steps_of_many_random_derivations_are_proven(m, mode):
    _strict_random(m, mode)


# ---------------------------------------------------------------- regressions of what it found


def test_a_helper_of_a_matrix_form_is_printed_before_it():
    d = ricci.grad((ROOT / "examples" / "softplus_logistic.ricci").read_text(), ["w"])
    text = str(d.steps())
    assert text.index("     G = dz1 * y") < text.index("     dw = -(X.T @ G)")


def test_a_named_subexpression_is_defined_before_its_use():
    d = ricci.grad((ROOT / "examples" / "softplus_logistic.ricci").read_text(), ["w"])
    text = str(d.steps())
    assert text.index("     z1[n] = ") < text.index("     L = sum[n](softplus(z1[n]))")


def test_the_hessian_prints_the_lines_of_its_view_it_uses():
    d = ricci.hessian((ROOT / "examples" / "neuron.ricci").read_text(), "b")
    text = str(d.steps())
    assert "     d(dL/dz1)/db = diag(" in text and text.endswith("     H = d(dL/dz1)/db")


def test_a_result_with_slices_prints_its_einsum_form_too():
    d = ricci.jacobian((ROOT / "examples" / "mse.ricci").read_text(), ["W"])
    assert "     dY/dW = einsum(" in str(d.steps())


def test_a_step_named_renaming_only_renames():
    """gaussian_nll: a step 'renaming a dummy index' multiplied 0.5 * (a + b) out."""
    from ricci.display.steps_sections import _term_keys
    from ricci.simplify.canonical import alpha_key
    d = ricci.grad((ROOT / "examples" / "gaussian_nll.ricci").read_text(), ["mu"])
    steps = d.steps()
    (k,) = [k for k, s in enumerate(steps) if s.rule == S.DISTRIBUTE and s.note == ("multiplying out",)]
    assert "0.5 * (" in steps.equation(steps[k - 1])[1] and "0.5 * (" not in steps.equation(steps[k])[1]
    for path in EXAMPLES:
        every = ricci.grad(*header(path)).steps()
        for s_prev, s in zip(every, every[1:]):
            if s.rule == S.RENAME and s_prev.rhs is not None and s.rhs is not None:
                assert sorted(map(repr, _term_keys(s_prev.rhs))) == sorted(map(repr, _term_keys(s.rhs))), path
    assert alpha_key  # (used by _term_keys)
