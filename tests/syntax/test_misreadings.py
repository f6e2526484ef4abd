"""Input that people write and ricci used to misread silently (issue 13): each is now read
as meant, or refused with a hint, or read with a warning where the reading could surprise."""

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import ricci
from ricci.errors import RicciWarning

from support.strategies import models


def _quiet_parse(text, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("error", RicciWarning)
        return ricci.parse(text, **kw)


def test_parse_detects_the_notation_by_default():
    assert _quiet_parse("y_{ij} = x_{ik} a_{kj}") == ricci.parse("y[i,j] = x[i,k] * a[k,j]", syntax="ricci")


@pytest.mark.parametrize("text, ricci_text", [
    ("p = v_i * u_i", "p = v[i] * u[i]"),
    ("p_i = u_i + v_i", "p[i] = u[i] + v[i]"),
    ("y_i = W_{ij} x_j", "y[i] = W[i,j] * x[j]"),
])
def test_subscripted_names_without_braces_are_indices(text, ricci_text):
    """CS189's p_i = u_i + v_i: LaTeX's x_i is x_{i}, never a scalar named x_i."""
    assert _quiet_parse(text) == _quiet_parse(ricci_text, syntax="ricci")
    d = ricci.grad(text, "u" if "u" in text else "W", of=None) if "p" in text else None
    if d is not None:
        assert "u" in d.wrt


def test_the_gradient_of_a_subscripted_dot_product_is_a_vector():
    d = ricci.grad("p = v_i * u_i", "v")
    assert str(d) == "dv[i] = u[i]"
    u, v = np.arange(3.0), np.ones(3)
    np.testing.assert_allclose(d.compile()(u=u, v=v)["v"], u)


def test_a_subscripted_scalar_in_ricci_syntax_warns():
    with pytest.warns(RicciWarning, match=r"'v_i' is read as the name of a scalar.*v\[i\]"):
        p = ricci.parse("p = v_i * u_i", syntax="ricci")
    assert p.dims["v_i"] == ()


@pytest.mark.parametrize("text, where", [("Y = X A", (1, 7)), ("Y = XW + b", (1, 6))])
def test_juxtaposed_capitals_in_latex_are_refused(text, where):
    with pytest.raises(ricci.RicciError) as e:
        ricci.parse(text, syntax="latex")
    assert "juxtaposes two names without indices" in e.value.message
    assert (e.value.span.line, e.value.span.column) == where
    assert "X_{ik}" in e.value.hint and "@" in e.value.hint


def test_juxtaposed_names_in_ricci_syntax_get_a_hint():
    with pytest.raises(ricci.RicciError) as e:
        ricci.parse("Y = X A")
    assert "products are written with *" in e.value.hint


@pytest.mark.parametrize("text", ["Y = XW + b", "Y = X * A + b"])
def test_capitals_with_no_index_anywhere_warn(text):
    with pytest.warns(RicciWarning, match="are scalars|is a scalar"):
        ricci.parse(text)


def test_one_capital_scalar_does_not_warn():
    _quiet_parse("L = atan(relu(G))")
    _quiet_parse("L = MSE + KL")  # quantities named by their acronyms
    _quiet_parse("L = 2 * x")


def test_latex_prints_capital_scalars_with_cdot_and_reads_them_back():
    p = ricci.parse("y = X * A", syntax="ricci")
    assert p.latex() == r"y = X \cdot A"
    assert ricci.parse(p.latex(), syntax="latex") == p


@pytest.mark.parametrize("text", [r"a_i = \sigma_i(w_{jk}x_k + b_k)", r"a_i = \sigma_i (z_i + 1)"])
def test_a_subscripted_function_letter_before_a_parenthesis_is_refused(text):
    with pytest.raises(ricci.RicciError) as e:
        ricci.parse(text)
    assert "is ambiguous" in e.value.message and r"\sigma(z_i)" in e.value.hint


def test_sigma_times_a_parenthesis_with_cdot_is_a_product():
    p = _quiet_parse(r"a_i = \sigma_i \cdot (z_i + 1)")
    assert str(p) == "a[i] = sigma[i] * (z[i] + 1)"


@pytest.mark.parametrize("text, col", [(r"f = \exp(x_i)", 12), (r"L = x_i", 7)])
def test_latex_sums_only_a_repeated_index(text, col):
    with pytest.raises(ricci.RicciError) as e:
        ricci.parse(text)
    assert "sums only a repeated index" in e.value.message
    assert e.value.span.column == col
    assert r"\sum_{i}" in e.value.hint


def test_repeated_and_explicit_sums_still_read():
    assert str(_quiet_parse(r"f = \sum_i \exp(x_i)")) == "f = sum[i](exp(x[i]))"
    assert str(_quiet_parse(r"L = A_{ii}")) == "L = A[i,i]"
    assert str(_quiet_parse(r"f_i = \exp(x_i)")) == "f[i] = exp(x[i])"


def test_accented_names_print_as_accents():
    p = _quiet_parse(r"\hat{y}_i = \sigma(W_{ij} x_j) + \bar{\mu}")
    assert p.latex() == r"\hat{y}_{i} = \sigma\left(W_{ij} x_{j}\right) + \bar{\mu}"
    assert ricci.parse(p.latex()) == p


UNICODE_PROGRAMS = [
    "z[i] = W[i,j]*x[j] + b[i]\ny[i] = sigmoid(z[i]) / sqrt(1 + abs(z[i]))",
    "yhat = sum[i](y[i]^2)^(-1.5) - 3 * sum[k](x[k])^3 / size(k)",
    "L = sqrt(yhat) * sum[i,j](inv(S)[i,j]) + trace(S) + logdet(S) + det(S) + relu(yhat) + 2 * delta[i,i]",
    "M[i,k] = W[i,j] * A[k,j] * mu[k] + 0.5",
    "m[n] = sum[k](exp(Z[n,k]))\nP[n,k] = exp(Z[n,k]) / m[n]\nL = -sum[n,k](Y[n,k] * log(P[n,k])) / size(n)",
]


@pytest.mark.parametrize("text", UNICODE_PROGRAMS)
def test_ricci_reads_its_own_unicode(text):
    p = ricci.parse(text, syntax="ricci")
    assert ricci.parse(p.unicode()) == p
    assert ricci.parse(p.unicode(), syntax="unicode") == p


def test_unicode_errors_point_into_the_unicode_text():
    with pytest.raises(ricci.RicciError) as e:
        ricci.parse("y_i = σ(z_i) + Σ_k")
    assert e.value.span.line == 1 and e.value.source == "y_i = σ(z_i) + Σ_k"


@pytest.mark.parametrize("text", ["h1 = _delta\nL = Ω", "y = _x + α", "L = exp(_w) * μ", "L = Ω * _delta^2"])
def test_ricci_text_the_unicode_detection_claims_is_read_as_ricci(text):
    """A Greek letter and ``_d`` make the detection guess Unicode (found by the differential
    fuzzer: a tensor named ``_delta`` beside one named ``Ω``); text only ricci's syntax reads
    is read in it, by ``parse`` and in the playground's report alike."""
    from ricci.syntax.resolve import parse_detected
    from ricci.web import api

    assert _quiet_parse(text) == ricci.parse(text, syntax="ricci")
    assert parse_detected(text)[1] == "ricci"
    status, b = api.inspect({"program": text})
    assert status == 200 and b["syntax"] == "ricci", b
    with pytest.raises(ricci.RicciError, match="found '_'"):  # asked for Unicode: Unicode's error
        ricci.parse(text, syntax="unicode")


def test_text_no_syntax_reads_reports_the_error_that_read_further():
    with pytest.raises(ricci.RicciError) as e:  # ricci's syntax reads up to the end
        ricci.parse("y = _x * α_i +")
    assert (e.value.span.column, e.value.message) == (15, "expected a tensor, a number, a function or '(', "
                                                          "found the end of the program")
    with pytest.raises(ricci.RicciError) as e:  # as far as Unicode: Unicode's error
        ricci.parse("y_i = √(x_i")
    assert e.value.span.column == 7 and "√" not in e.value.message


@pytest.mark.parametrize("text, column", [("H=(y)dp_dz", 9), ("H=dp_dz", 6), ("y_i = σ(z_i) + Σ_k", 18),
                                          ("y_ij = W_ij\nq = u_k", 7)])
def test_errors_after_reading_unicode_point_into_the_unicode_text(text, column):
    """Fuzz finding #36: an error of the index rule in Unicode input pointed into the LaTeX
    the text is rewritten to (column 19 of a 10-character line)."""
    with pytest.raises(ricci.RicciError) as e:
        ricci.parse(text)
    line = e.value.span.line
    assert e.value.span.column == column and e.value.source == text
    assert e.value.span.column + e.value.span.length - 1 <= len(text.splitlines()[line - 1])


def test_the_cli_prints_a_warning_line_not_a_python_warning(capsys):
    from ricci.cli import main
    assert main(["grad", "Y = XW + b", "--wrt", "b"]) == 0
    out, err = capsys.readouterr()
    assert out == "db = 1\n"
    assert err.startswith("ricci: warning: no name has indices, so XW is a scalar")


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(models())
def test_unicode_printed_random_programs_read_back(m):
    """Every random program's Unicode reads back to the same program, or one of the same
    values (a number printed 10⁻⁵ reads back as a power)."""
    _reads_back(ricci.parse(m.text, syntax="ricci"), "unicode")


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(models(spellings=True))
def test_printed_random_programs_with_long_indices_and_underscores_read_back(m):
    """Index names of several characters (``x_(bt)``: bare, ``x_bt`` is ``b`` and ``t``) and
    names with ``_`` (``{x_in}_j``: bare, ``x_in_j`` is subscripted twice) read back from
    Unicode, given the notation or detected as it, and from LaTeX."""
    p = ricci.parse(m.text, syntax="ricci")
    for syntax in ("unicode", "auto"):
        _reads_back(p, "unicode", syntax)
    _reads_back(p, "latex", "latex")


def _reads_back(p, notation: str, syntax: str | None = None) -> None:
    """``p`` printed in ``notation`` and read back (as ``syntax``; detected: when the
    detection says ``notation``, as ``Y_i = np_i`` is LaTeX's ``n p_i`` too) is ``p``, or a
    program of the same values."""
    from ricci.syntax.resolve import parse_detected

    text = p.unicode() if notation == "unicode" else p.latex()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RicciWarning)
        back, read_as = parse_detected(text, syntax or notation)
    if read_as != notation:
        return
    if back != p:
        assert str(back.inputs) == str(p.inputs)
        rng = np.random.default_rng(0)
        from ricci.codegen.binding import all_dims
        from ricci.verify.evaluate import evaluate
        size = {lab: 2 + k % 3 for k, lab in enumerate(dict.fromkeys(all_dims(p) + all_dims(back)))}
        inputs = {n: rng.uniform(0.5, 1.5, size=tuple(size[x] for x in p.dims[n])) for n in p.inputs}
        want = evaluate(p, inputs, dim_sizes=size)
        got = evaluate(back, inputs, dim_sizes=size)
        for k in p.defined:
            np.testing.assert_allclose(got[k], want[k], rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------- the lint layer and the articles' notations


@pytest.mark.parametrize("text, index, col", [("y[i] = A[i,j]", "j", 12), ("L = exp(x[i])", "i", 11)])
def test_an_index_once_on_the_right_is_summed_with_a_warning(text, index, col):
    """ricci's rule sums it over its one factor; the warning says where and how to say so."""
    with pytest.warns(RicciWarning, match=rf"line 1, column {col}: index '{index}' occurs once on the right"):
        ricci.parse(text, syntax="ricci")


@pytest.mark.parametrize("text", ["L = A[i,i]", "y = x[i] * a[i]", "L = sum[i](x[i])", "y[i] = A[i,j] * x[j]"])
def test_repeated_and_explicit_sums_do_not_warn(text):
    _quiet_parse(text, syntax="ricci")


@pytest.mark.parametrize("tex, ricci_text", [
    (r"w^{(t+1)}_i = w^{(t)}_i - \eta g_i", "wtp1[i] = wt[i] - eta * g[i]"),
    (r"h^{(t)}_i = \tanh(W_{ij} h^{(t-1)}_j)", "ht[i] = tanh(W[i,j] * htm1[j])"),
    (r"W^{(2)}_{ij} = W^{(1)}_{ij}", "W2[i,j] = W1[i,j]"),
])
def test_step_superscripts_are_part_of_the_name(tex, ricci_text):
    p = _quiet_parse(tex, syntax="latex")
    assert p == _quiet_parse(ricci_text, syntax="ricci")
    assert ricci.parse(p.latex(), syntax="latex") == p


@pytest.mark.parametrize("tex, message, hint", [
    (r"g_i = f_{,i}", "is a comma derivative", "ricci.grad"),
    (r"d\text{loss} = 2 r_i dr_i", "expected '=' after d", "a differential"),
])
def test_the_articles_derivative_notations_are_refused_with_what_to_do(tex, message, hint):
    with pytest.raises(ricci.RicciError) as e:
        ricci.parse(tex, syntax="latex")
    assert message in e.value.message and hint in e.value.hint


def test_the_gallery_reads_without_a_warning():
    """The shipped examples are written as a careful user would: no reading to warn about."""
    import glob
    import os
    import warnings

    root = os.path.join(os.path.dirname(__file__), "..", "..", "examples")
    files = sorted(glob.glob(os.path.join(root, "*.ricci")))
    assert len(files) >= 20
    for f in files:
        with open(f, encoding="utf-8") as fh, warnings.catch_warnings():
            warnings.simplefilter("error", ricci.RicciWarning)
            ricci.parse(fh.read())


def test_a_comma_derivative_lookalike_warns_and_a_named_index_does_not():
    """f_{k,ij} (the articles' second derivative of f_k) reads as f with indices k and ij:
    a reading a person could misread, so it is said; x_{batch,k} is the usual spelling."""
    with pytest.warns(RicciWarning, match=r"f_\{k,ij\} is read as f with the indices k and 'ij'"):
        ricci.parse(r"g_{k,ij} = f_{k,ij}", syntax="latex")
    with warnings.catch_warnings():
        warnings.simplefilter("error", RicciWarning)
        ricci.parse(r"y_{batch,j} = x_{batch,k} w_{k,j}", syntax="latex")


def test_comma_derivatives_are_refused_whatever_follows_the_comma():
    for tex in (r"L = f_{,i}", r"w_{gh} = v_{gh} - \eta \text{loss}_{, (gh)}"):
        with pytest.raises(ricci.RicciError, match="is a comma derivative"):
            ricci.parse(tex, syntax="latex")


@pytest.mark.parametrize("program, printed", [
    ("y[bt] = exp(x[bt])", "y_(bt) = exp(x_(bt))"),
    ("y[i] = x_in[i] * 2", "y_i = {x_in}_i · 2"),
    ("y_out = 2 * x_out", "{y_out} = 2 {x_out}"),
    ("L = sum[i_1](x[i_1]) / size(i_1)", "L = (Σ_(i_1) x_(i_1)) / size(i_1)"),
    ("y[mu] = x[mu]", "y_μ = x_μ"),
    ("y[ı] = x١[ı]", "y_(ı) = {x١}_(ı)"),
    ("y = e^(1 - x)", "y = (e)^(1 - x)"),  # e^(...) is exp(...)
    ("y = x^T", "y = x^(T)"),  # x^T is a transpose
    ("y = sigma * (a + b)", "y = σ · (a + b)"),  # σ (a + b) is sigmoid(a + b)
    ("y[i] = sigma[i] * (a[i] + b)", "y_i = σ_i · (a_i + b)"),
    ("y = Sigma + x", "y = Sigma + x"),  # Σ is a sum
    ("y[n,s] = inv(e)[n,s]", "y_ns = ({e}⁻¹)_ns"),  # e⁻¹ is exp(-1)
    ("y = abs(a * abs(b - 1) + 1) + c", "y = abs(a |b - 1| + 1) + c"),  # |a |b - 1| + 1| is |a| b |+ 1|
])
def test_unicode_spellings_of_long_indices_and_underscored_names(program, printed):
    """Bare, ``x_bt`` is ``x[b,t]`` and ``x_in_i`` ``x`` subscripted twice: the printer
    spells them so that the text reads back, given the notation or detected."""
    p = ricci.parse(program, syntax="ricci")
    assert p.unicode() == printed
    assert ricci.parse(printed, syntax="unicode") == p
    if "|" not in printed:  # a bar is not a sign of the Unicode notation: detected as ricci's, refused
        assert ricci.parse(printed) == p


@pytest.mark.parametrize("text, syntax, fragment, column", [
    ("y_i = x_in_i · 2", "auto", "double subscript", 11),
    ("y_i = x_in_i · 2", "unicode", "double subscript", 11),
])
def test_a_name_with_an_underscore_subscripted_is_refused_not_read_as_a_product(text, syntax, fragment, column):
    """In Unicode text ``x_in_i`` is as likely the name ``x_in`` indexed by ``i`` as LaTeX's
    ``x_i n_i`` (which the articles write, ``y_jy_j``; it was read so from Unicode text
    too, by the LaTeX fallback)."""
    with pytest.raises(ricci.RicciError, match=fragment) as e:
        ricci.parse(text, syntax=syntax)
    assert e.value.span.column == column
    assert "{x_in}" in e.value.hint


def test_a_braced_unicode_subscript_is_read_as_latex_reads_it():
    """``W_{ij}`` is ``W[i,j]`` (it was the one index ``ij``)."""
    assert str(ricci.parse("L = Σ_{ij} W_{ij}²", syntax="unicode")) == "L = sum[i,j](W[i,j]^2)"


def test_unicode_detected_only_by_a_two_letter_subscript_warns_when_ricci_reads_it_too():
    with pytest.warns(RicciWarning, match=r"w_in is w with the indices i and n; in ricci syntax.*scalar"):
        p = ricci.parse("L = w_in * x_in")
    assert len(p.dims["w"]) == 2
    with warnings.catch_warnings():
        warnings.simplefilter("error", RicciWarning)
        ricci.parse("y_i = W_ij x_j")  # juxtaposition: only the Unicode notation reads it
    with pytest.warns(RicciWarning, match="'w_in' is read as the name of a scalar"):
        assert ricci.parse("L = w_in * x_in", syntax="ricci").dims["w_in"] == ()


@pytest.mark.parametrize("text, syntax, column", [
    ("L = sum[i](inv(S)[i])", "ricci", 12),
    (r"L = \sum_{i} (S^{-1})_{i}", "latex", 14),
    ("L = Σ_i (S⁻¹)_i", "unicode", 9),
])
def test_a_matrix_function_with_one_index_is_refused_in_every_notation(text, syntax, column):
    """LaTeX and Unicode read ``(S⁻¹)_i`` as ``inv(S)[i]`` and ``ricci.grad`` crashed on it
    (``ValueError`` in the derivative of ``inv``): the count is checked where every
    notation's call is built."""
    with pytest.raises(ricci.RicciError, match=r"inv\(S\) is a matrix: it takes 2 indices, not 1") as e:
        ricci.parse(text, syntax=syntax)
    assert e.value.span.column == column


def test_an_index_named_like_an_accented_letter_reads_back_from_latex():
    """``\\hat{y}`` is the name ``yhat``, but no index in a subscript: an index ``yhat`` is
    ``\\mathit{yhat}`` (the LaTeX printer wrote ``W_{i,\\hat{y}}``, which did not read back)."""
    p = ricci.parse("z[i] = sum[yhat](W[i,yhat])", syntax="ricci")
    assert p.latex() == r"z_{i} = \sum_{\mathit{yhat}} W_{i,\mathit{yhat}}"
    assert ricci.parse(p.latex(), syntax="latex") == p
    assert ricci.parse("y[i] = yhat[i]", syntax="ricci").latex() == r"y_{i} = \hat{y}_{i}"  # a name keeps it


@pytest.mark.parametrize("text, syntax", [("y = |x |z| + 1|", "unicode"), ("y = |x |z| + 1|", "latex")])
def test_a_bar_spaced_to_open_but_closing_is_refused(text, syntax):
    """``|x |z| + 1|`` was read ``|x| z |+ 1|`` (a bar after a factor closes), silently:
    the spacing says a nested absolute value was meant."""
    with pytest.raises(ricci.RicciError, match="ambiguous '\\|'") as e:
        ricci.parse(text, syntax=syntax)
    assert e.value.span.column == 8 and "abs(...)" in e.value.hint


@pytest.mark.parametrize("text, want", [
    ("y = |x| |z|", "y = abs(x) * abs(z)"), ("y = |x||z|", "y = abs(x) * abs(z)"),
    ("y = |x (|z|) + 1|", "y = abs(x * abs(z) + 1)"), ("y = abs(x |z| + 1)", "y = abs(x * abs(z) + 1)"),
    (r"y = \left|x \left|z\right| + 1\right|", "y = abs(x * abs(z) + 1)"),
])
def test_bars_that_say_what_they_mean_read_as_before(text, want):
    assert str(ricci.parse(text, syntax="latex" if "\\" in text else "unicode")) == want


@pytest.mark.parametrize("program", ["X = n * Ƞ", "X = Ƞ * n", "X = d * e * n * Ƞ * v"])
def test_a_capital_neither_ascii_nor_greek_beside_a_name_reads_back(program):
    """``n \\text{Ƞ}`` is refused when read (two one-letter names, one a capital: a matrix
    product?); the printers wrote it so for a capital they did not know as one (the parser
    fuzzer, seed 9309): both notations now write the product's sign there."""
    p = ricci.parse(program, syntax="ricci")
    assert ricci.parse(p.latex(), syntax="latex") == p
    assert ricci.parse(p.unicode(), syntax="unicode") == p
