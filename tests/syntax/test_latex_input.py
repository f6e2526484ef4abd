"""LaTeX input: ricci.parse(text, syntax="latex" | "auto") reads formulas as the articles
typeset them, into the same Program as their ricci-syntax twins (docs/latex-input.md)."""

import ast
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

import ricci
from ricci import RicciError
from ricci.syntax.latex import looks_like_latex, parse_latex_statements
from ricci.verify.evaluate import evaluate

from support.strategies import models

ROOT = Path(__file__).parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.ricci"))


def latex(text):
    return ricci.parse(text, syntax="latex")


def same(tex, twin):
    p, q = latex(tex), ricci.parse(twin)
    assert p == q, f"\n{tex}\nreads as\n{p}\nnot\n{q}"
    return p


def err(text, syntax="latex") -> RicciError:
    with pytest.raises(RicciError) as info:
        ricci.parse(text, syntax=syntax)
    return info.value


def caret(e: RicciError) -> tuple[int, int]:
    """(column of the first '^', number of '^') on the caret line of the rendered message."""
    line = next(ln for ln in str(e).splitlines()
                if ln.strip().endswith("^") and set(ln.split("|")[-1].strip()) == {"^"})
    text = line.split("|", 1)[1][1:]
    return text.index("^") + 1, text.count("^")


def points_at(e: RicciError, line: int, col: int, source_line: str, length: int | None = None):
    assert (e.line, e.column) == (line, col), str(e)
    s = str(e)
    assert f"--> line {line}, column {col}" in s
    assert f"{line} | {source_line}" in s
    c, n = caret(e)
    assert c == col, s
    if length is not None:
        assert n == length, s


# ---------------------------------------------------------------- the examples of the brief

ARTICLE_TWINS = [
    (r"y_{ij} = x_{ik} a_{kj}", "y[i,j] = x[i,k] * a[k,j]"),
    (r"y_{i j} = x_{i k}a_{k j}", "y[i,j] = x[i,k] * a[k,j]"),
    (r"\hat{y}_i = \sigma(W_{ij} x_j + b_i)", "yhat[i] = sigmoid(W[i,j] * x[j] + b[i])"),
    (r"v_i = A_{ij} \delta_{jk} B_{ik}", "v[i] = A[i,j] * delta[j,k] * B[i,k]"),
    (r"t = A_{ii}", "t = A[i,i]"),
    (r"p = v_i u_i", "p = v[i] * u[i]"),
    (r"C_{ik} = A_{ij} B_{jk} W_{ik}", "C[i,k] = A[i,j] * B[j,k] * W[i,k]"),
    (r"z_{nh} = x_{nd} w_{dh} + b_h \\ y_{nh} = \tanh(z_{nh}) \\ L = \sum_{n,h} (y_{nh} - t_{nh})^2",
     "z[n,h] = x[n,d] * w[d,h] + b[h]\ny[n,h] = tanh(z[n,h])\nL = sum[n,h]((y[n,h] - t[n,h])^2)"),
    (r"\mu_n = \frac{1}{\operatorname{size}(d)} \sum_{d} x_{nd}",
     "mu[n] = 1 / size(d) * sum[d](x[n,d])"),
    (r"\mu_n = \frac{\sum_{d} x_{nd}}{\operatorname{size}(d)}", "mu[n] = sum[d](x[n,d]) / size(d)"),
]


@pytest.mark.parametrize("tex,twin", ARTICLE_TWINS, ids=[t for t, _ in ARTICLE_TWINS])
def test_article_formulas_read_as_their_ricci_twins(tex, twin):
    same(tex, twin)
    assert looks_like_latex(tex)
    assert ricci.parse(tex, syntax="auto") == ricci.parse(twin)


LAYERNORM = r"""
% layer normalization with gain and bias (002)
\begin{aligned}
  \mu_n &= \frac{1}{\operatorname{size}(d)} \sum_{d} x_{nd} \\
  \hat{x}_{nd} &= x_{nd} - \mu_n \\
  v_n &= \frac{1}{\operatorname{size}(d)} \sum_{d} \hat{x}_{nd}^2 \\
  y_{nd} &= \frac{\hat{x}_{nd}}{\sqrt{v_n + \epsilon}} g_d + b_d
\end{aligned}
"""
LAYERNORM_TWIN = """
mu[n] = 1 / size(d) * sum[d](x[n,d])
xhat[n,d] = x[n,d] - mu[n]
v[n] = 1 / size(d) * sum[d](xhat[n,d]^2)
y[n,d] = xhat[n,d] / sqrt(v[n] + epsilon) * g[d] + b[d]
"""


def test_layer_norm_program_and_its_gradient():
    p = same(LAYERNORM, LAYERNORM_TWIN)
    assert p.inputs == ("x", "epsilon", "g", "b")
    assert ricci.check(p, ["x", "g", "b"]).ok
    # the LaTeX program differentiates to exactly what its twin does
    assert str(ricci.grad(p, wrt=["x", "g"])) == str(ricci.grad(LAYERNORM_TWIN, wrt=["x", "g"]))


def test_gradients_of_latex_programs_pass_the_numerical_check():
    mlp = r"""$$
    z_{nh} = x_{nd} w_{dh} + b_h \\
    y_{nh} = \tanh(z_{nh}) \\
    L = \sum_{n,h} (y_{nh} - t_{nh})^2
    $$"""
    assert ricci.check(latex(mlp), ["x", "w", "b"]).ok
    neuron = r"\hat{y}_i = \sigma(W_{ij} x_j + b_i) \\ L = \sum_i (\hat{y}_i - t_i)^2"
    d = ricci.grad(latex(neuron), wrt=["W", "b"])
    assert set(d.outputs) == {"W", "b"}
    assert ricci.check(latex(neuron), ["W", "b", "x"]).ok
    xent = r"""
    m_n = \sum_k e^{z_{nk}}
    p_{nk} = \frac{\exp(z_{nk})}{m_n}
    L = -\sum_{n,k} t_{nk} \log p_{nk}
    """
    assert ricci.check(latex(xent), ["z"]).ok


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_program_is_not_latex(path):
    text = path.read_text()
    assert not looks_like_latex(text)
    assert ricci.parse(text, syntax="auto") == ricci.parse(text)


# ---------------------------------------------------------------- accepted constructs

CONSTRUCTS = [
    # subscripts: one index per character in braces, commas for multi-letter names
    (r"y_i = x_i", "y[i] = x[i]"),
    (r"y_{ij} = x_{ji}", "y[i,j] = x[j,i]"),
    (r"y_{i,j} = x_{j,i}", "y[i,j] = x[j,i]"),
    (r"y_{batch,k} = x_{batch,k}", "y[batch,k] = x[batch,k]"),
    (r"y_{\mu\nu} = x_{\nu\mu}", "y[mu,nu] = x[nu,mu]"),
    # products: juxtaposition, \cdot, \times, *
    (r"y = a b", "y = a * b"),
    (r"y = ab", "y = a * b"),
    (r"y_i = 2 (a_i - t_i)", "y[i] = 2 * (a[i] - t[i])"),
    (r"y_i = a_i \cdot b_i \times c_i * d_i", "y[i] = a[i] * b[i] * c[i] * d[i]"),
    (r"y_i = 2x_i", "y[i] = 2 * x[i]"),
    # + - / \frac
    (r"y_i = a_i - b_i + c_i", "y[i] = a[i] - b[i] + c[i]"),
    (r"y_i = -a_i", "y[i] = -a[i]"),
    (r"y_i = a_i / b_i", "y[i] = a[i] / b[i]"),
    (r"y_i = \frac{a_i}{b_i}", "y[i] = a[i] / b[i]"),
    (r"y_i = \dfrac{a_i + 1}{b_i c_i}", "y[i] = (a[i] + 1) / (b[i] * c[i])"),
    (r"y_i = \frac{a_i b_i}{c_i} d_i", "y[i] = a[i] * b[i] / c[i] * d[i]"),
    (r"y = \frac12 x", "y = 1 / 2 * x"),
    (r"y = \frac{a}{b}^2", "y = (a / b)^2"),
    # powers: ^2, ^{2}, ^{-1}; x^2_i is x_i^2 as in TeX
    (r"y_i = x_i^2", "y[i] = x[i]^2"),
    (r"y_i = x_i^{2}", "y[i] = x[i]^2"),
    (r"y_i = x_i^{-1}", "y[i] = x[i]^-1"),
    (r"y_i = x^2_i", "y[i] = x[i]^2"),
    (r"y_i = x_i^{a + 1}", "y[i] = x[i]^(a + 1)"),
    (r"y_i = 2^{x_i}", "y[i] = 2^x[i]"),
    # parentheses of every size, and braces
    (r"y_i = \left( a_i + b_i \right) c_i", "y[i] = (a[i] + b[i]) * c[i]"),
    (r"y_i = \bigl( a_i + b_i \bigr) \Bigl[ c_i \Bigr]", "y[i] = (a[i] + b[i]) * c[i]"),
    (r"y_i = [a_i + b_i] \{c_i\}", "y[i] = (a[i] + b[i]) * c[i]"),
    (r"y_i = {a_i b_i} c_i", "y[i] = a[i] * b[i] * c[i]"),
    (r"y_i = {a_i + b_i}", "y[i] = a[i] + b[i]"),
    # functions
    (r"y_i = \sigma(x_i)", "y[i] = sigmoid(x[i])"),
    (r"y_i = \sigma\left(x_i\right)", "y[i] = sigmoid(x[i])"),
    (r"y_i = \tanh(x_i) + \exp(x_i) + \log(x_i) + \ln(x_i) + \sin(x_i) + \cos(x_i)",
     "y[i] = tanh(x[i]) + exp(x[i]) + log(x[i]) + log(x[i]) + sin(x[i]) + cos(x[i])"),
    (r"y_i = \sqrt{x_i} + \sqrt x_i", "y[i] = sqrt(x[i]) + sqrt(x[i])"),
    (r"y_i = e^{x_i} + \mathrm{e}^{x_i}", "y[i] = exp(x[i]) + exp(x[i])"),
    (r"y_i = |x_i| + \lvert x_i \rvert + \left| x_i \right|",
     "y[i] = abs(x[i]) + abs(x[i]) + abs(x[i])"),
    (r"y = |a| |b|", "y = abs(a) * abs(b)"),
    (r"y_i = \operatorname{relu}(x_i) + \mathrm{softplus}(x_i) + \text{step}(x_i)",
     "y[i] = relu(x[i]) + softplus(x[i]) + step(x[i])"),
    (r"y_i = \operatorname{sigmoid}(x_i) + \operatorname{abs}(x_i) + \operatorname{sign}(x_i)",
     "y[i] = sigmoid(x[i]) + abs(x[i]) + sign(x[i])"),
    # a function without parentheses takes the next factor (with its power)
    (r"y_i = \log p_i t_i", "y[i] = log(p[i]) * t[i]"),
    (r"y_i = \log x_i^2", "y[i] = log(x[i]^2)"),
    (r"y_i = \log(x_i)^2", "y[i] = log(x[i])^2"),
    (r"y_i = \sin^2(x_i)", "y[i] = sin(x[i])^2"),
    # sums
    (r"s = \sum_{k} x_k", "s = sum[k](x[k])"),
    (r"s = \sum_k x_k", "s = sum[k](x[k])"),
    (r"s = \sum_{j,k} A_{jk}", "s = sum[j,k](A[j,k])"),
    (r"s = \sum_{jk} A_{jk}", "s = sum[j,k](A[j,k])"),
    (r"s = \sum_{i=1}^{n} x_i", "s = sum[i](x[i])"),
    (r"s = \sum\limits_{i} x_i", "s = sum[i](x[i])"),
    (r"d_{ij} = \delta_{ij}", "d[i,j] = delta[i,j]"),
    (r"d_{ijk} = \delta_{ijk}", "d[i,j,k] = delta[i,j,k]"),
    (r"s_n = \operatorname{size}(d) x_n", "s[n] = size(d) * x[n]"),
    # numbers
    (r"y = 2 + 0.5 + 1e-5 + .5", "y = 2 + 0.5 + 1e-5 + .5"),
    # Unicode as pasted from rendered pages
    (r"y_i = σ(x_i) · μ − ε", "y[i] = sigmoid(x[i]) * mu - epsilon"),
]


@pytest.mark.parametrize("tex,twin", CONSTRUCTS, ids=[t for t, _ in CONSTRUCTS])
def test_each_construct_reads_as_its_twin(tex, twin):
    same(tex, twin)


NAMES = [
    (r"\mu_n = x_n", "mu[n] = x[n]"),
    (r"y = \epsilon", "y = epsilon"),
    (r"y = \varepsilon", "y = varepsilon"),
    (r"\hat{y}_i = x_i", "yhat[i] = x[i]"),
    (r"\hat y_i = x_i", "yhat[i] = x[i]"),
    (r"\hat{y_i} = x_i", "yhat[i] = x[i]"),
    (r"\bar{x}_i = \tilde{x}_i + \overline{z}_i + \widehat{w}_i", "xbar[i] = xtilde[i] + zbar[i] + what[i]"),
    (r"\hat{\mu}_n = x_n", "muhat[n] = x[n]"),
    (r"\mathrm{W2}_{ij} = \mathit{W3}_{ij} + \mathbf{W}_{ij} + \boldsymbol{\mu}_{ij}",
     "W2[i,j] = W3[i,j] + W[i,j] + mu[i,j]"),
    (r"W^{(2)}_{ij} = W_{ij}^{(1)}", "W2[i,j] = W1[i,j]"),
    (r"h_1 = x \\ h_{12} = h_1", "h1 = x\nh12 = h1"),
    (r"{W_1}_{ij} = A_{ij}", "W1[i,j] = A[i,j]"),
    (r"L = \mathrm{loss}", "L = loss"),
    (r"y = \sigma^2 + \sigma", "y = sigma^2 + sigma"),
    (r"y_i = \sigma_i x_i", "y[i] = sigma[i] * x[i]"),
    (r"y = e x + {e}^2", "y = e * x + e^2"),
    (r"y_i = \Delta_i", "y[i] = Delta[i]"),
]


@pytest.mark.parametrize("tex,twin", NAMES, ids=[t for t, _ in NAMES])
def test_names_map_as_documented(tex, twin):
    same(tex, twin)


def test_sum_reaches_to_the_end_of_its_product_term():
    # the following multiplicative term, up to + or - ...
    same(r"s = \sum_k a_k b_k + c", "s = sum[k](a[k] * b[k]) + c")
    same(r"s = \sum_k a_k \cdot b_k / n - c", "s = sum[k](a[k] * b[k] / n) - c")
    # ... or the end of the enclosing group; parentheses extend it over a + ...
    same(r"s = \sum_k (a_k + b_k) c_k", "s = sum[k]((a[k] + b[k]) * c[k])")
    same(r"s = (\sum_k a_k) + b", "s = (sum[k](a[k])) + b")
    # ... and factors before it stay outside
    same(r"s = \frac{1}{N} \sum_n x_n y_n", "s = 1 / N * sum[n](x[n] * y[n])")
    same(r"s = c \sum_n x_n", "s = c * sum[n](x[n])")
    # nested sums, a sign inside
    same(r"y_i = \sum_j \sum_k A_{ij} B_{jk}", "y[i] = sum[j](sum[k](A[i,j] * B[j,k]))")
    same(r"s = \sum_k -x_k", "s = sum[k](-x[k])")
    same(r"s = -\sum_k x_k + 1", "s = -sum[k](x[k]) + 1")
    # a power binds tighter than the sum: the sum of squares
    A = np.arange(6.0).reshape(2, 3)
    p = latex(r"s = \sum_{j} x_j^2")
    np.testing.assert_allclose(evaluate(p, {"x": A[0]})["s"], (A[0] ** 2).sum())


def test_meanings_numerically():
    rng = np.random.default_rng(0)
    A, B, x = rng.standard_normal((3, 4)), rng.standard_normal((4, 5)), rng.standard_normal(4)
    W = rng.standard_normal((3, 5))

    def val(text, **inputs):
        p = latex(text)
        return evaluate(p, inputs)[p.statements[-1].name]

    np.testing.assert_allclose(val(r"C_{ik} = A_{ij} B_{jk}", A=A, B=B), A @ B)
    np.testing.assert_allclose(val(r"C_{ik} = A_{ij} B_{jk} W_{ik}", A=A, B=B, W=W), (A @ B) * W)
    np.testing.assert_allclose(val(r"y_i = \lvert x_i \rvert^{1/2}", x=x), np.abs(x) ** 0.5)
    np.testing.assert_allclose(val(r"p = \frac{x_i x_i}{2}", x=x), x @ x / 2)


def test_statement_separators_comments_and_wrappers():
    twin = "a[i] = x[i]\nb[i] = 2 * a[i]"
    for tex in [
        "a_i = x_i\nb_i = 2 a_i",
        "a_i = x_i; b_i = 2 a_i",
        r"a_i = x_i \\ b_i = 2 a_i",
        r"a_i = x_i \\[2pt] b_i = 2 a_i",
        "a_i = x_i % the input\n% a comment line\nb_i = 2 a_i",
        "$a_i = x_i$\n$b_i = 2 a_i$",
        "$$\na_i = x_i \\\\\nb_i = 2 a_i\n$$",
        "\\[ a_i = x_i \\] \\[ b_i = 2 a_i \\]",
        "\\begin{aligned}\na_i &= x_i \\\\\nb_i &= 2 a_i\n\\end{aligned}",
        "\\begin{align*}\na_i &= x_i \\label{eq:a} \\\\\nb_i &= 2 \\, a_i. \\nonumber\n\\end{align*}",
        "a_i := x_i\nb_i \\coloneqq 2 \\cdot a_i,",
    ]:
        assert latex(tex) == ricci.parse(twin), tex
    # a newline inside brackets, or a line starting with an operator, continues a statement
    same("y_i = (a_i\n + b_i)", "y[i] = a[i] + b[i]")
    same("y_i &= a_i \\\\\n &\\quad - b_i \\\\\n z = 1", "y[i] = a[i] - b[i]\nz = 1")


def test_spans_point_into_the_latex_text():
    p = latex("a = 1\n\\hat{y}_{ij} = x_{ik} w_{kj}")
    st = p.statements[1]
    assert (st.span.line, st.span.column, st.span.length) == (2, 1, 7)
    assert st.ref_spans["x"].column == 16
    assert st.index_spans["k"].column == 20


# ---------------------------------------------------------------- auto-detection


def test_detection_says_latex_for_latex():
    for tex in [r"y_{ij} = x_{ik} a_{kj}", r"\hat{y}_i = \sigma(W_{ij} x_j + b_i)",
                "p = v_i u_i", "L = 2 x", "$y = x$", "t = A_{ii}", "y &= a",
                r"y = \foo", "y_i = x_i % comment", "y_i = x_i", "p = v_i * u_i", "p_i = u_i + v_i"]:
        assert looks_like_latex(tex), tex


def test_detection_says_ricci_for_ricci():
    for text in ["Y[i,j] = X[i,k] * A[k,j]", "s_1 = x", "x_hat = y_abc * 2", "h_t[i] = x_t[i]", "", "# only a comment",
                 "# LaTeX in a comment: s_{t-1} = \\tanh(x_t W)\ny[i] = x[i]",
                 "Y[i] = X[i] $ 2", "Y[i] = X[i] X[i]", "L = sum[n](x[n]) y"]:
        assert not looks_like_latex(text), text
    assert not looks_like_latex(None)


def test_detection_says_ricci_for_every_program_in_the_tests():
    """Every string literal in the other test files that ricci's parser accepts is ricci,
    except text with no brackets and a subscripted name (``y_i = x_i + b``), which LaTeX
    reads as meant (``y[i] = x[i] + b``) when it can."""
    from ricci.syntax.latex import SUBSCRIPTED
    from ricci.syntax.parse import parse_statements

    seen = 0
    for path in sorted(Path(__file__).parents[1].rglob("test_*.py")):
        if path.name == Path(__file__).name:
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and "=" in node.value:
                try:
                    parse_statements(node.value)
                except RicciError:
                    continue
                seen += 1
                code = node.value.split("#")[0]
                if SUBSCRIPTED.search(code) and "[" not in code:
                    continue
                assert not looks_like_latex(node.value), (path.name, node.value)
    assert seen > 100


@settings(max_examples=100, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(models())
def test_detection_says_ricci_for_random_programs(m):
    assert not looks_like_latex(m.text), m.text


def test_auto_and_explicit_syntax():
    assert ricci.parse("Y[i] = X[i]", syntax="auto") == ricci.parse("Y[i] = X[i]")
    assert ricci.parse("Y_i = X_i", syntax="auto") == ricci.parse("Y_i = X_i")  # scalars: ricci
    assert ricci.parse("Y_i = X_i", syntax="latex") == ricci.parse("Y[i] = X[i]")
    assert ricci.parse(r"Y_{i} = X_{i}", syntax="auto") == ricci.parse("Y[i] = X[i]")
    e = err("Y[i] = X[i]", syntax="ricci ")
    assert "unknown syntax" in e.message
    # the default is ricci syntax
    assert "unexpected character '\\\\'" in err(r"y = \sigma(x)", syntax="ricci").message


def test_parse_latex_statements_builds_the_ricci_syntax_tree():
    from ricci.syntax.parse import parse_statements

    def strip(x):  # compare trees without their spans
        if isinstance(x, list):
            return [strip(v) for v in x]
        if isinstance(x, tuple):
            return tuple(strip(v) for v in x)
        if hasattr(x, "__dataclass_fields__"):
            return (type(x).__name__,) + tuple(strip(getattr(x, f)) for f in x.__dataclass_fields__
                                               if f not in ("span", "text"))
        return x

    tex = r"L = \sum_{n,h} (y_{nh} - t_{nh})^2 + \tanh(\delta_{ij} a_{ij}) / \operatorname{size}(n)"
    twin = "L = sum[n,h]((y[n,h] - t[n,h])^2) + tanh(delta[i,j] * a[i,j]) / size(n)"
    assert strip(parse_latex_statements(tex)) == strip(parse_statements(twin))


# ---------------------------------------------------------------- errors

ERRORS = [
    # (text, message fragment, line, column, caret length, hint fragment)
    (r"y = \foo + x", r"unknown LaTeX command '\foo'", 1, 5, 4, r"\mathrm{foo}"),
    (r"y = \tahn(x)", r"unknown LaTeX command '\tahn'", 1, 5, 5, r"did you mean \tanh?"),
    (r"y = \relu(x)", r"unknown LaTeX command '\relu'", 1, 5, 5, r"\operatorname{relu}"),
    ("y = \\frac{1}{x", "unclosed '{'", 1, 13, 1, "matching '}'"),
    ("y = x}", "unmatched '}'", 1, 6, 1, None),
    (r"y = \frac{1}", r"\frac needs two arguments", 1, 5, 5, None),
    (r"y = \frac{1} + 2", r"\frac needs two arguments: \frac{a}{b}, found '+'", 1, 5, 5, None),
    ("y_i = x_ij", "reads as x_i times j", 1, 10, 1, "_{ij}"),
    ("y = x2", "'x2' is 'x' times 2", 1, 6, 1, r"\mathrm{x2}"),
    ("y = x^23", "'^23' is ambiguous", 1, 7, 2, "^{23}"),
    ("y = x^-1", "expected the exponent after '^'", 1, 7, 1, "x^{-1}"),
    ("y_i = {a_i + b_i} c_i", "braces do not show", 1, 7, 1, "parentheses"),
    (r"y = \sum x_i", r"\sum needs the indices", 1, 5, 4, None),
    (r"y = \sum_k", r"\sum needs a summand", 1, 11, 1, None),
    (r"y = \delta", "Kronecker delta", 1, 5, 6, None),
    (r"y = \partial x", r"\partial is not supported", 1, 5, 8, "ricci.grad"),
    ("y_i = s_{t-1}", "unexpected '-' in the subscript of s", 1, 11, 1, "s_1"),
    ("y = (x", "expected ')' to close '('", 1, 7, 1, None),
    ("y = |x", "expected '|' to close the '|'", 1, 7, 1, None),
    ("y = x^T", "transpose", 1, 7, 1, "A_{ji}"),
    ("ab = c", "expected '=' after a", 1, 2, 1, r"\mathrm{name}"),
    ("y[i] = x[i]", "expected '=' after y, found '['", 1, 2, 1, "syntax='ricci'"),
    ("y = a = b", "one '='", 1, 7, 1, None),
    (r"y = \begin{pmatrix} x \end{pmatrix}", "unsupported environment 'pmatrix'", 1, 5, 15, None),
    (r"y = \|x\|", "norms are not supported", 1, 5, 2, None),
    ("y = x'", "primes are not supported", 1, 6, 1, None),
    (r"y = \sqrt[3]{x}", "only square roots", 1, 10, 1, "x^{1/n}"),
    (r"y = x^{(2i)}", "numbers a layer or a step", 1, 9, 1, None),
    (r"y = x_{i,}", "empty index", 1, 10, 1, None),
    (r"y = \mathrm{x y}", "a name has no spaces", 1, 15, 1, None),
    (r"\exp = x", "function", 1, 1, 4, None),
    (r"y = x_i_j", "double subscript", 1, 8, 1, None),
    (r"y = (x)_i", "a subscript needs a tensor name", 1, 8, 1, None),
    # errors of the index rule point into the LaTeX text too
    ("a = 1\ny_i = x_j", "index 'i' on the left of y does not appear on the right", 2, 3, 1, None),
    (r"y = x_i \tanh(a_i)", "ambiguous", 1, 17, 1, None),
    (r"y = x_i + x_{ij}", "'x' is used with 2 indices here", 1, 11, 1, None),
    ("a_i = x_i \\\\\n a_i = 2", "'a' is defined twice", 2, 2, 1, None),
]


@pytest.mark.parametrize("text,msg,line,col,length,hint", ERRORS, ids=[e[0] for e in ERRORS])
def test_errors_point_at_the_latex_token(text, msg, line, col, length, hint):
    e = err(text)
    assert msg in e.message, str(e)
    points_at(e, line, col, text.splitlines()[line - 1], length)
    if hint is not None:
        assert hint in (e.hint or ""), str(e)


def test_auto_detected_latex_reports_latex_errors():
    e = err(r"y_{ij} = \foo_{ij}", syntax="auto")
    assert r"unknown LaTeX command '\foo'" in e.message
    points_at(e, 1, 10, r"y_{ij} = \foo_{ij}", 4)


# ---------------------------------------------------------------- round trip with the LaTeX printer


def _latex_printer():
    from ricci.display.render import statement_text

    try:
        statement_text(ricci.parse("y = x").statements[0], notation="latex")
    except (TypeError, ValueError, KeyError):
        pytest.skip("the LaTeX notation of ricci.display.render is not available")
    return lambda p: " \\\\\n".join(
        statement_text(s, notation="latex", reorder=getattr(s, "derived", False))
        for s in p.statements)


def _same_values(a, b):
    """Both programs compute the same values (every dim of size 3, random positive inputs)."""
    from ricci.ir.expr import Index
    from ricci.ir.traversal import walk

    def labels(p):
        out = {d for dl in p.dims.values() for d in dl}
        for st in p.statements:
            out.update(i.dim for i in st.indices)
            for e in walk(st.rhs):
                for x in list(getattr(e, "indices", ()) or ()) + [getattr(e, "index", None)]:
                    if isinstance(x, Index):
                        out.add(x.dim)
        return out

    ds = {d: 3 for d in labels(a) | labels(b)}
    rng = np.random.default_rng(0)
    inputs = {n: rng.uniform(0.5, 1.5, size=tuple(ds[d] for d in a.dims[n])) for n in a.inputs}
    with np.errstate(all="ignore"):
        va, vb = evaluate(a, inputs, dim_sizes=ds), evaluate(b, inputs, dim_sizes=ds)
    for k in va:
        np.testing.assert_allclose(va[k], vb[k], rtol=1e-9, atol=1e-12, equal_nan=True, err_msg=k)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_latex_printed_programs_read_back(path):
    """What ricci prints as LaTeX (forward programs and their gradients) reads back."""
    to_latex = _latex_printer()
    text = path.read_text()
    p = ricci.parse(text)
    assert latex(to_latex(p)) == p
    d = ricci.grad(text, text.splitlines()[1].split(":", 1)[1].split())
    back, want = latex(to_latex(d.program)), ricci.parse(str(d.program))
    if back != want:  # \frac groups differently from '/', with the same values
        _same_values(want, back)


@settings(max_examples=60, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(models())
def test_latex_printed_random_programs_read_back(m):
    to_latex = _latex_printer()
    p = ricci.parse(m.text)
    back = latex(to_latex(p))
    if back != p:
        _same_values(p, back)


def test_bug_a_tensor_named_e_under_a_power_is_not_the_exponential():
    """Found by the parser fuzzer: ``e^x[i]`` printed as ``e^{x_{i}}`` read back as exp."""
    p = ricci.parse("y[i] = e^x[i] + b")
    assert r"\mathit{e}^{x_{i}}" in p.latex()
    assert ricci.parse(p.latex(), syntax="latex") == p
    assert str(ricci.parse(r"y_i = \mathrm{e}^{x_i}", syntax="latex")) == "y[i] = exp(x[i])"


@pytest.mark.parametrize("text", ["x = σ * (a + b)", "x = sigma * (a + b)", "x = sigma * (a + b) * sigma",
                                  "H = (A[n] * l[n]) / sum[n](s[n])", "H = (A[n] * l[n]) / (2 * sum[n](s[n]))",
                                  "H = A[n] * l[n] / sum[m](s[m])"])
def test_latex_reads_back_what_the_printer_wrote(text):
    """Fuzz findings #9 (a tensor sigma before a parenthesis read back as the sigmoid) and #10
    (an implicit sum in a numerator reached over the divisor's own sum of the same name)."""
    p = ricci.parse(text)
    back = ricci.parse(p.latex(), syntax="latex")
    assert str(back).replace("sigma", "σ") == str(p).replace("sigma", "σ")


@pytest.mark.parametrize("text", ["T1 = (bn[p] * x[n]) * sum[n](b[n] / b[n] / 2)", "T1 = sum[n](x[n]) * sum[n](b[n] / c[n])",
                                  "t[l] = d[n] * inv(e)[n,l]", "u[n] = 1 / size(_) * sum[d](x[n,d])",
                                  "u[n] = size(_k) * x[n,_k]", "Z[s] = (C[t,s] * D[t]) / (1 + C[t,s] * E[t])",
                                  "Z[s] = (C[t,s] * D[t]) / E[t,t]"])
def test_latex_reads_back_fractions_matrices_named_e_and_underscored_sizes(text):
    """Fuzz findings #18 (an implicit sum printed as a fraction reached over an explicit sum of
    the same name), #19 (inv(e) printed e^{-1}, read back as exp(-1)), #20 (size(\\mathit{\\_})
    refused), #21 (a parenthesised product as a numerator lost its parentheses, so its implicit
    sum reached over the divisor)."""
    p = ricci.parse(text)
    assert ricci.parse(p.latex(), syntax="latex") == p


@pytest.mark.parametrize("text", ["t = y / T * x", "Z = 3 / L * d", "L = tr", "L = tr * x + sgn",
                                  "y = arctan * A"])
def test_latex_reads_back_a_fraction_beside_a_name_and_names_that_are_function_words(text):
    """Fuzz findings #37 (\\frac{y}{T} x refused as 'T x' side by side: the fraction is what
    stands beside x) and #38 (a tensor named tr printed \\mathit{tr}, read back as the
    trace)."""
    p = ricci.parse(text)
    assert ricci.parse(p.latex(), syntax="latex") == p


def test_a_capital_beside_a_name_is_still_refused_after_a_division_sign():
    with pytest.raises(ricci.RicciError, match="'T x' juxtaposes"):  # y / T x: y / (T x)?
        ricci.parse("t = y / T x", syntax="latex")
    assert str(ricci.parse(r"L = \mathrm{tr} A + \operatorname{tr} B", syntax="latex")) == "L = trace(A) + trace(B)"


@pytest.mark.parametrize("text, column", [(r"y=\frac{1}.5", 11), (r"y=\frac.5 2", 8), (r"y=\frac{1}1.5", 11)])
def test_an_unbraced_fraction_argument_that_is_not_one_digit_is_an_error(text, column):
    """Fuzz finding #22: \\frac{1}.5 crashed with ValueError (Fraction('.')): the one-digit
    form \\frac12 took the first character of any number."""
    with pytest.raises(ricci.RicciError, match="with braces") as e:
        ricci.parse(text, syntax="latex")
    assert (e.value.span.line, e.value.span.column) == (1, column)


# ---------------------------------------------------------------- words are never products


def test_a_function_word_is_never_read_as_a_product_of_letters():
    """Bug #29: ``det(inv(X))``, ``sin(x y)`` and ``abc(X)`` were read as LaTeX products of
    one-letter names (``grad('L = det(inv(X))', 'X')`` printed ``dX = d * e * i * n * t * v``)."""
    for text, wrt, message in [("L = det(inv(X))", "X", "det takes a square matrix"),
                               ("L = sin(x y)", "x", "expected ')' to close sin("),
                               ("L = abc(X)", "X", "unknown function 'abc'"),
                               ("y = tr(A) + x", "x", "unknown function 'tr'")]:
        assert not looks_like_latex(text), text
        with pytest.raises(ricci.RicciError, match=re.escape(message)):
            ricci.grad(text, wrt)
    # in LaTeX proper, a function spelled in plain letters is refused with the command to write
    for tex, word, column in [(r"L = \frac{1}{2} sin(x)", "sin", 17), (r"y = x^{2} + exp{x}", "exp", 13),
                              (r"L = \alpha det(X)", "det", 12), (r"L = \alpha + tr(A)", "tr", 14)]:
        with pytest.raises(ricci.RicciError, match=f"'{word}' in LaTeX is the product") as e:
            parse_latex_statements(tex)
        assert e.value.span.column == column, (tex, e.value.span)
    # letters that spell no function, indices and \mathrm words are read as before
    assert str(ricci.grad(r"L = 2 x(y+1)", "x")) == "dx = 2 * (1 + y)"
    assert str(ricci.grad(r"L = \mathrm{exp}(x) + y_{in} y_{in}", "x")) == "dx = exp(x)"
    assert looks_like_latex("p = v_i u_i") and looks_like_latex("L = ab c")


@pytest.mark.parametrize("text, column", [("\\right\r\n", 1), ("y = \\right\n", 5), ("y = \\left( x \\right\n)", 14),
                                          ("\\bigl\n", 1)])
def test_a_size_command_at_the_end_of_a_line_needs_a_delimiter(text, column):
    """Fuzz finding #39: ``\\right`` before a line break reported 'unsupported delimiter
    '\\n'' with its caret past the end of the line."""
    with pytest.raises(ricci.RicciError, match="needs a delimiter") as e:
        ricci.parse(text, syntax="latex")
    assert (e.value.span.line, e.value.span.column) == (1, column)
