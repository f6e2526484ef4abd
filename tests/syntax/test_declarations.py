"""Declarations: ``S[i,j] : symmetric`` (and ``symmetric positive definite``, ``spd``)."""

import pytest

import ricci

GAUSS = """r[n,i] = x[n,i] - mu[i]
L = sum[n](r[n,i] * inv(S)[i,j] * r[n,j])
S[a,b] : spd
"""


def test_declaration_is_kept_printed_and_round_trips():
    p = ricci.parse(GAUSS)
    assert p.declared == {"S": "symmetric positive definite"}
    assert str(p).splitlines()[0] == "S[i,j] : symmetric positive definite"
    assert ricci.parse(str(p)) == p
    assert str(ricci.parse(str(p))) == str(p)
    # part of equality: the same statements without the declaration are another program
    assert p != ricci.parse(GAUSS.replace("S[a,b] : spd\n", ""))
    assert p != ricci.parse(GAUSS.replace("spd", "symmetric"))
    # the declared matrix is square: its two axes have one dim
    assert p.dims["S"][0] == p.dims["S"][1]


def test_spellings_and_a_consistent_repeat():
    a = ricci.parse("S[i,j] : symmetric positive definite\nL = logdet(S)")
    b = ricci.parse("S[p,q] : spd; L = logdet(S); S[i,j] : spd")
    assert a == b
    assert ricci.parse("L = A[i,i]\nA[i,j] : symmetric").declared == {"A": "symmetric"}


def test_latex_shows_declarations_as_comments_that_the_reader_skips():
    p = ricci.parse(GAUSS)
    tex = p.latex()
    assert tex.startswith("% S[i,j] : symmetric positive definite\n")
    back = ricci.parse(tex, syntax="latex")
    assert back == ricci.parse(GAUSS.replace("S[a,b] : spd\n", ""))


@pytest.mark.parametrize("text, message, caret", [
    ("S[i,j] : symetric\nL = S[i,i]", "unknown property 'symetric'", (1, 10)),
    ("S[i,j] : symmetric definite\nL = S[i,i]", "unknown property 'symmetric definite'", (1, 10)),
    ("x[i] : symmetric\nL = x[i]", "only a matrix can be symmetric, but 'x' has 1 index", (1, 1)),
    ("T[i,j] : symmetric\nL = T[i,j,k]", "only a matrix can be symmetric, but 'T' has 3 indices", (1, 1)),
    ("S[i,i] : spd\nL = S[i,i]", "repeats index 'i'", (1, 5)),
    ("Y[i,j] = A[i,j] + 1\nY[i,j] : spd", "'Y' is computed", (2, 1)),
    ("S[i,j] : spd\nL = S[i,i]\nS[a,b] : symmetric", "declared symmetric here but symmetric positive definite",
     (3, 1)),
    ("S[i,j] : spd\nL = x[i]", "declared symmetric positive definite but never used", (1, 1)),
    ("S : spd\nL = S[i,i]", "a declaration names the matrix with its indices", (1, 3)),
    ("S[i,j] :\nL = S[i,i]", "expected a property after ':'", (1, 9)),
    ("S[i,j] : spd + 1\nL = S[i,i]", "expected a property such as 'symmetric'", (1, 14)),
])
def test_declaration_errors(text, message, caret):
    with pytest.raises(ricci.RicciError) as e:
        ricci.parse(text)
    assert message in e.value.message
    assert (e.value.span.line, e.value.span.column) == caret
    assert "^" in str(e.value) and e.value.hint


def test_a_declared_matrix_must_be_square_at_call_time():
    d = ricci.grad("S[i,j] : symmetric\nL = x[i] * S[i,j] * y[j]", "x")
    import numpy as np
    with pytest.raises(ricci.RicciError):
        d.compile()(x=np.ones(3), S=np.ones((3, 4)), y=np.ones(4))
