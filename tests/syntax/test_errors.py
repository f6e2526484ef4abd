"""Every user error is a RicciError that names the culprit and points at it with a caret."""

import numpy as np
import pytest

import ricci
from ricci import RicciError


def err(fn, *a, **k) -> RicciError:
    with pytest.raises(RicciError) as info:
        fn(*a, **k)
    return info.value


def caret_col(e: RicciError) -> int:
    """The column the caret line points at (1-based), read from the rendered message."""
    lines = str(e).splitlines()
    caret = next(ln for ln in lines if ln.strip().endswith("^") and set(ln.split("|")[-1].strip()) == {"^"})
    return caret.split("|", 1)[1].index("^")  # the text after "| " starts at column 1


def assert_points_at(e: RicciError, line: int, col: int, source_line: str):
    assert (e.line, e.column) == (line, col), str(e)
    s = str(e)
    assert f"--> line {line}, column {col}" in s
    assert f"{line} | {source_line}" in s
    assert caret_col(e) == col


def test_unknown_function():
    e = err(ricci.parse, "Y[i] = tanhh(X[i])")
    assert "unknown function 'tanhh'" in e.message
    assert "did you mean 'tanh'" in (e.hint or "")
    assert_points_at(e, 1, 8, "Y[i] = tanhh(X[i])")


def test_bad_syntax():
    e = err(ricci.parse, "Y[i] = X[i] * * 2")
    assert "expected a tensor, a number, a function or '('" in e.message
    assert_points_at(e, 1, 15, "Y[i] = X[i] * * 2")
    e = err(ricci.parse, "Y[i] = (X[i] + 1")
    assert "expected ')'" in e.message
    e = err(ricci.parse, "Y[i] = X[i] $ 2")
    assert "unexpected character '$'" in e.message
    assert_points_at(e, 1, 13, "Y[i] = X[i] $ 2")
    e = err(ricci.parse, "Y[i] X[i]")
    assert "expected '='" in e.message
    e = err(ricci.parse, "Y[i] = X[i] Z[i]")
    assert "expected an operator or the end of the statement" in e.message


def test_error_on_a_later_line_points_at_that_line():
    prog = "# comment\nA[i] = x[i]\nB[i] = A[i] + )"
    e = err(ricci.parse, prog)
    assert_points_at(e, 3, 15, "B[i] = A[i] + )")


def test_index_on_the_left_not_on_the_right():
    e = err(ricci.parse, "Y[i,q] = X[i,k] * A[k,j]")
    assert "index 'q' on the left of Y does not appear on the right" in e.message
    assert_points_at(e, 1, 5, "Y[i,q] = X[i,k] * A[k,j]")


def test_ambiguous_implicit_sum():
    e = err(ricci.parse, "y = x[j] * tanh(a[j])")
    assert "index 'j' is summed implicitly inside the argument of tanh" in e.message
    assert "sum[j]" in e.hint
    assert_points_at(e, 1, 19, "y = x[j] * tanh(a[j])")
    e = err(ricci.parse, "y = x[j] * y2[j]^2")
    assert "inside the base of a power" in e.message
    # with an explicit sum the meaning is clear
    ricci.parse("y = sum[j](x[j] * tanh(a[j]))")
    ricci.parse("y = x[j] * tanh(sum[j](a[j]))")


def test_tensor_used_with_different_index_counts():
    e = err(ricci.parse, "Y[i] = X[i,j] * v[j]\nZ[i] = X[i] * 2")
    assert "'X' is used with 1 index here but with 2 indices on line 1" in e.message
    assert_points_at(e, 2, 8, "Z[i] = X[i] * 2")
    e = err(ricci.parse, "Y[i] = X[i]\nZ = Y")
    assert "'Y' is used with 0 indices here but with 1 index" in e.message


def test_name_defined_twice():
    e = err(ricci.parse, "Y[i] = X[i]\nY[i] = 2 * X[i]")
    assert "'Y' is defined twice (first on line 1)" in e.message
    assert_points_at(e, 2, 1, "Y[i] = 2 * X[i]")


def test_name_used_before_definition_or_in_its_own():
    e = err(ricci.parse, "Y[i] = Z[i]\nZ[i] = X[i]")
    assert "'Z' is used before its definition (on line 2)" in e.message
    assert_points_at(e, 1, 8, "Y[i] = Z[i]")
    e = err(ricci.parse, "Y[i] = Y[i] * 2")
    assert "'Y' is used in its own definition" in e.message


def test_repeated_index_on_the_left_and_shadowing_sums():
    e = err(ricci.parse, "Y[i,i] = X[i]")
    assert "index 'i' appears twice on the left of Y" in e.message
    assert_points_at(e, 1, 5, "Y[i,i] = X[i]")
    e = err(ricci.parse, "Y[i] = sum[i](X[i])")
    assert "index 'i' is free on the left of Y; it cannot also be summed" in e.message
    e = err(ricci.parse, "y = sum[i](sum[i](X[i,i]))")
    assert "already summed by an enclosing sum" in e.message


def test_wrt_not_an_input():
    e = err(ricci.grad, "Z[i] = 2 * X[i]\nY[i] = Z[i]", wrt="Z")
    assert "wrt names 'Z', which the program computes" in e.message
    assert_points_at(e, 1, 1, "Z[i] = 2 * X[i]")
    e = err(ricci.grad, "Y[i] = 2 * X[i]", wrt="Xx")
    assert "'Xx', which is not an input" in e.message
    assert "did you mean 'X'" in e.hint
    e = err(ricci.grad, "Y[i] = 2 * X[i]", wrt="X[a,b]")
    assert "gives 2 indices but 'X' has 1" in e.message
    e = err(ricci.grad, "Y[i] = 2 * X[i]", wrt="X", of="Q")
    assert "of='Q' names no statement" in e.message


def test_sizes_that_disagree_at_call_time_name_the_index_and_both_sizes():
    f = ricci.grad("Y[i,j] = X[i,k] * A[k,j]", wrt="X").compile()
    e = err(f, X=np.zeros((2, 3)), A=np.zeros((4, 5)), dY=np.zeros((2, 5)))
    assert "sizes disagree for index 'k': 'X' has size 3 along axis 1 but 'A' has size 4 along axis 0" \
        in e.message
    assert_points_at(e, 1, 19, "Y[i,j] = X[i,k] * A[k,j]")


def test_sizes_disagree_across_statements():
    prog = "H[n,h] = X[n,d] * W[d,h]\nO[n,c] = H[n,h] * V[h,c]"
    f = ricci.grad(prog, wrt="W").compile()
    e = err(f, X=np.zeros((2, 3)), W=np.zeros((3, 4)), V=np.zeros((5, 6)), dO=np.zeros((2, 6)))
    assert "'W' has size 4 along axis 1 but 'V' has size 5 along axis 0" in e.message


def test_missing_unknown_and_misshapen_inputs_at_call_time():
    f = ricci.grad("Y[i,j] = X[i,k] * A[k,j]", wrt="X").compile()
    e = err(f, X=np.zeros((2, 3)), dY=np.zeros((2, 5)))
    assert "missing input 'A'" in e.message
    assert_points_at(e, 1, 19, "Y[i,j] = X[i,k] * A[k,j]")
    e = err(f, X=np.zeros((2, 3)), A=np.zeros((3, 5)), dY=np.zeros((2, 5)), B=1.0)
    assert "unknown input 'B'" in e.message
    e = err(f, X=np.zeros((2, 3, 1)), A=np.zeros((3, 5)), dY=np.zeros((2, 5)))
    assert "input 'X' must have 2 axes but has shape (2, 3, 1)" in e.message


def test_a_wrong_program_never_yields_numbers():
    f = ricci.grad("Y[i,j] = X[i,k] * A[k,j]", wrt="X").compile()
    with pytest.raises(RicciError):
        f(X=np.ones((2, 3)), A=np.ones((3, 5)), dY=np.ones((5, 2)))


def test_unknown_size_needs_the_sizes_argument():
    d = ricci.grad("y = sum[i,j](x[i])", wrt="x")
    assert str(d) == "dx[i] = size(j)"
    f = d.compile()
    e = err(f, x=np.ones(3))
    assert "the size of index 'j' is unknown" in e.message
    np.testing.assert_array_equal(f(x=np.ones(3), sizes={"j": 4})["x"], [4.0, 4.0, 4.0])


def test_reserved_names_and_empty_programs():
    assert "reserved" in err(ricci.parse, "sum[i] = x[i]").message
    assert "empty" in err(ricci.parse, "# nothing\n").message
    assert "is a function" in err(ricci.parse, "y[i] = exp[i]").message
    assert "takes one argument" in err(ricci.parse, "y[i] = exp(x[i], 2)").message


def test_program_of_the_wrong_type():
    assert "expected program text" in err(ricci.parse, 42).message


def test_backend_errors():
    d = ricci.grad("Y[i] = 2 * X[i]", wrt="X")
    assert "unknown backend" in err(d.source, "tensorflow").message
