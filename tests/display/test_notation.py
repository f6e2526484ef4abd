"""One printer, three notations: ricci's text, Unicode and LaTeX (:mod:`ricci.display.render`).

Goldens for the articles' worked examples in every notation, hand-built expressions for
every node type (the display-only ``Deriv`` and ``Transposed`` included) in both modes,
and the proof that every LaTeX string renders in KaTeX in strict mode (the ``katex``
fixture, ``tests/support/katex.py``).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

import ricci
from ricci.display.render import expr_text, lhs_text, statement_text
from ricci.ir.expr import (
    Add,
    Call,
    Const,
    Deriv,
    Index,
    Mul,
    Pow,
    Size,
    Sum,
    Tensor,
    Transposed,
)
from ricci.primitives.functions import FUNCTIONS, defun

NOTATIONS = ("text", "unicode", "latex")
EXAMPLES = sorted((Path(__file__).parents[2] / "examples").glob("*.ricci"))
MATMUL = "Y[i,j] = X[i,k] * A[k,j]"


def example(stem: str) -> str:
    return (Path(__file__).parents[2] / "examples" / f"{stem}.ricci").read_text()


def wrt_of(text: str) -> list[str]:
    return text.splitlines()[1].split(":", 1)[1].split()


def derivation_lines(d: ricci.Derivation, notation: str, adjoints: bool = True) -> list[str]:
    """Each shown statement, with adjoints read as the loss's derivative (dl/dY)."""
    adj = {a: (d.loss, p) for a, p in d.reverse.adjoint_of.items()} if adjoints else None
    return [statement_text(s, d.display.get(s.name), reorder=s.derived, refs=d.refs,
                           notation=notation, adjoints=adj) for s in d.shown]


def program_lines(text: str, notation: str) -> list[str]:
    """The statements of a program as written."""
    return [statement_text(s, notation=notation) for s in ricci.parse(text).statements]


def aligned(lines: list[str]) -> str:
    """LaTeX statements as one ``aligned`` block, aligned at the first ``=``."""
    rows = [" &= ".join(ln.split(" = ", 1)) for ln in lines]
    return "\\begin{aligned}\n" + " \\\\\n".join(rows) + "\n\\end{aligned}"


# ---------------------------------------------------------------- derivations, golden

GOLDEN = {
    # 000: dl/dX = dl/dY A^T, dl/dA = X^T dl/dY
    "matmul_gradients": (lambda nt: derivation_lines(ricci.grad(MATMUL, ["X", "A"]), nt), {
        "text": ["dl/dX[i,k] = dl/dY[i,j] * A[k,j]",
                 "dl/dA[k,j] = X[i,k] * dl/dY[i,j]"],
        "unicode": ["∂l/∂X_ik = ∂l/∂Y_ij A_kj",
                    "∂l/∂A_kj = X_ik ∂l/∂Y_ij"],
        "latex": [r"\frac{\partial l}{\partial X_{ik}} = \frac{\partial l}{\partial Y_{ij}} A_{kj}",
                  r"\frac{\partial l}{\partial A_{kj}} = X_{ik} \frac{\partial l}{\partial Y_{ij}}"],
    }),
    # 000: the raw Jacobian, a 4-index tensor
    "matmul_jacobian": (lambda nt: derivation_lines(ricci.jacobian(MATMUL, "X"), nt), {
        "text": ["dY[i,j]/dX[p,q] = A[q,j] * delta[i,p]"],
        "unicode": ["∂Y_ij/∂X_pq = A_qj δ_ip"],
        "latex": [r"\frac{\partial Y_{ij}}{\partial X_{pq}} = A_{qj} \delta_{ip}"],
    }),
    # 003: the bias gradient sums over the batch
    "affine_tanh_mse": (lambda nt: derivation_lines(ricci.grad(example("affine_tanh_mse"), ["X", "W", "b"]), nt), {
        "text": ["dL/dY[n,h] = 2 * (Y[n,h] - T[n,h])",
                 "dL/dZ[n,h] = dL/dY[n,h] * (1 - Y[n,h]^2)",
                 "dL/dX[n,d] = dL/dZ[n,h] * W[d,h]",
                 "dL/dW[d,h] = X[n,d] * dL/dZ[n,h]",
                 "dL/db[h] = sum[n](dL/dZ[n,h])"],
        "unicode": ["∂L/∂Y_nh = 2 (Y_nh - T_nh)",
                    "∂L/∂Z_nh = ∂L/∂Y_nh (1 - Y_nh²)",
                    "∂L/∂X_nd = ∂L/∂Z_nh W_dh",
                    "∂L/∂W_dh = X_nd ∂L/∂Z_nh",
                    "∂L/∂b_h = Σ_n ∂L/∂Z_nh"],
        "latex": [r"\frac{\partial L}{\partial Y_{nh}} = 2 \left(Y_{nh} - T_{nh}\right)",
                  r"\frac{\partial L}{\partial Z_{nh}} = \frac{\partial L}{\partial Y_{nh}} \left(1 - Y_{nh}^{2}\right)",
                  r"\frac{\partial L}{\partial X_{nd}} = \frac{\partial L}{\partial Z_{nh}} W_{dh}",
                  r"\frac{\partial L}{\partial W_{dh}} = X_{nd} \frac{\partial L}{\partial Z_{nh}}",
                  r"\frac{\partial L}{\partial b_{h}} = \sum_{n} \frac{\partial L}{\partial Z_{nh}}"],
    }),
    "affine_tanh_mse_program": (lambda nt: program_lines(example("affine_tanh_mse"), nt), {
        "text": ["Z[n,h] = X[n,d] * W[d,h] + b[h]",
                 "Y[n,h] = tanh(Z[n,h])",
                 "L = sum[n,h]((Y[n,h] - T[n,h])^2)"],
        "unicode": ["Z_nh = X_nd W_dh + b_h",
                    "Y_nh = tanh(Z_nh)",
                    "L = Σ_n,h (Y_nh - T_nh)²"],
        "latex": [r"Z_{nh} = X_{nd} W_{dh} + b_{h}",
                  r"Y_{nh} = \tanh\left(Z_{nh}\right)",
                  r"L = \sum_{n,h} \left(Y_{nh} - T_{nh}\right)^{2}"],
    }),
    # 002: layer norm (fractions, square roots, sizes, a Greek name)
    "layernorm": (lambda nt: derivation_lines(ricci.grad(example("layernorm"), ["x", "g", "b"]), nt), {
        # the textbook's layer-norm backward: the adjoint of var folded in (-0.5 * 2 = -1)
        "text": [("dl/dxc[n,d] = dl/dy[n,d] * g[d] / sqrt(eps + var[n]) - dl/dy[n,p] * xc[n,d] * xc[n,p] * g[p] "
                  "/ size(d) / sqrt(eps + var[n])^3"),
                 "dl/dmu[n] = -dl/dy[n,d] * g[d] / sqrt(eps + var[n])",  # sum[d](xc[n,d]) = 0
                 "dl/dx[n,d] = dl/dxc[n,d] + dl/dmu[n] / size(d)",
                 "dl/dg[d] = sum[n](dl/dy[n,d] * xc[n,d] / sqrt(eps + var[n]))",
                 "dl/db[d] = sum[n](dl/dy[n,d])"],
        "unicode": [("∂l/∂xc_nd = (∂l/∂y_nd) g_d / √(eps + var_n) - (∂l/∂y_np) xc_nd xc_np g_p / "
                     "(size(d) √(eps + var_n)³)"),
                    "∂l/∂μ_n = -(∂l/∂y_nd) g_d / √(eps + var_n)",
                    "∂l/∂x_nd = ∂l/∂xc_nd + (∂l/∂μ_n) / size(d)",
                    "∂l/∂g_d = Σ_n ((∂l/∂y_nd) xc_nd / √(eps + var_n))",
                    "∂l/∂b_d = Σ_n ∂l/∂y_nd"],
        "latex": [(r"\frac{\partial l}{\partial \mathit{xc}_{nd}} = \frac{\partial l}{\partial y_{nd}} "
                   r"\frac{g_{d}}{\sqrt{\mathit{eps} + \mathit{var}_{n}}} - \frac{\partial l}{\partial y_{np}} "
                   r"\frac{\mathit{xc}_{nd} \mathit{xc}_{np} g_{p}}{\operatorname{size}(d) "
                   r"\sqrt{\mathit{eps} + \mathit{var}_{n}}^{3}}"),
                  (r"\frac{\partial l}{\partial \mu_{n}} = -\frac{\partial l}{\partial y_{nd}} "
                   r"\frac{g_{d}}{\sqrt{\mathit{eps} + \mathit{var}_{n}}}"),
                  (r"\frac{\partial l}{\partial x_{nd}} = \frac{\partial l}{\partial \mathit{xc}_{nd}} "
                   r"+ \frac{\partial l}{\partial \mu_{n}} \frac{1}{\operatorname{size}(d)}"),
                  (r"\frac{\partial l}{\partial g_{d}} = \sum_{n} \frac{\partial l}{\partial y_{nd}} "
                   r"\frac{\mathit{xc}_{nd}}{\sqrt{\mathit{eps} + \mathit{var}_{n}}}"),
                  r"\frac{\partial l}{\partial b_{d}} = \sum_{n} \frac{\partial l}{\partial y_{nd}}"],
    }),
    "layernorm_program": (lambda nt: program_lines(example("layernorm"), nt), {
        "text": ["mu[n] = sum[d](x[n,d]) / size(d)",
                 "xc[n,d] = x[n,d] - mu[n]",
                 "var[n] = sum[d](xc[n,d]^2) / size(d)",
                 "y[n,d] = xc[n,d] / sqrt(var[n] + eps) * g[d] + b[d]"],
        "unicode": ["μ_n = (Σ_d x_nd) / size(d)",
                    "xc_nd = x_nd - μ_n",
                    "var_n = (Σ_d xc_nd²) / size(d)",
                    "y_nd = (xc_nd / √(var_n + eps)) g_d + b_d"],
        "latex": [r"\mu_{n} = \frac{\sum_{d} x_{nd}}{\operatorname{size}(d)}",
                  r"\mathit{xc}_{nd} = x_{nd} - \mu_{n}",
                  r"\mathit{var}_{n} = \frac{\sum_{d} \mathit{xc}_{nd}^{2}}{\operatorname{size}(d)}",
                  r"y_{nd} = \frac{\mathit{xc}_{nd}}{\sqrt{\mathit{var}_{n} + \mathit{eps}}} g_{d} + b_{d}"],
    }),
    # 001: one neuron layer with a sigmoid
    "neuron": (lambda nt: derivation_lines(ricci.grad(example("neuron"), ["W", "b"]), nt), {
        "text": ["dL/dy[i] = 2 * (y[i] - t[i])",
                 "dL/dz1[i] = dL/dy[i] * y[i] * (1 - y[i])",
                 "dL/dW[i,j] = dL/dz1[i] * x[j]",
                 "dL/db[i] = dL/dz1[i]"],
        "unicode": ["∂L/∂y_i = 2 (y_i - t_i)",
                    "∂L/∂z1_i = ∂L/∂y_i y_i (1 - y_i)",
                    "∂L/∂W_ij = ∂L/∂z1_i x_j",
                    "∂L/∂b_i = ∂L/∂z1_i"],
        "latex": [r"\frac{\partial L}{\partial y_{i}} = 2 \left(y_{i} - t_{i}\right)",
                  r"\frac{\partial L}{\partial \mathit{z1}_{i}} = \frac{\partial L}{\partial y_{i}} y_{i} \left(1 - y_{i}\right)",
                  r"\frac{\partial L}{\partial W_{ij}} = \frac{\partial L}{\partial \mathit{z1}_{i}} x_{j}",
                  r"\frac{\partial L}{\partial b_{i}} = \frac{\partial L}{\partial \mathit{z1}_{i}}"],
    }),
    "neuron_program": (lambda nt: program_lines(example("neuron"), nt), {
        "text": ["y[i] = sigmoid(W[i,j] * x[j] + b[i])",
                 "L = sum[i]((y[i] - t[i])^2)"],
        "unicode": ["y_i = σ(W_ij x_j + b_i)",
                    "L = Σ_i (y_i - t_i)²"],
        "latex": [r"y_{i} = \sigma\left(W_{ij} x_{j} + b_{i}\right)",
                  r"L = \sum_{i} \left(y_{i} - t_{i}\right)^{2}"],
    }),
    # forward mode through an intermediate: a Jacobian used inside another
    "neuron_jacobian": (lambda nt: derivation_lines(ricci.jacobian(example("neuron"), "W"), nt), {
        "text": ["dy[i]/dW[p,q] = y[i] * (1 - y[i]) * x[q] * delta[i,p]",
                 "dL/dW[p,q] = 2 * (dy[r]/dW[p,q]) * (y[r] - t[r])"],
        "unicode": ["∂y_i/∂W_pq = y_i (1 - y_i) x_q δ_ip",
                    "∂L/∂W_pq = 2 ∂y_r/∂W_pq (y_r - t_r)"],
        "latex": [r"\frac{\partial y_{i}}{\partial W_{pq}} = y_{i} \left(1 - y_{i}\right) x_{q} \delta_{ip}",
                  r"\frac{\partial L}{\partial W_{pq}} = 2 \frac{\partial y_{r}}{\partial W_{pq}} \left(y_{r} - t_{r}\right)"],
    }),
    # 001: the trace; its gradient is the identity
    "trace": (lambda nt: program_lines("t = A[i,i]", nt) + derivation_lines(ricci.grad("t = A[i,i]", "A"), nt), {
        "text": ["t = A[i,i]", "dt/dA[i,j] = delta[i,j]"],
        "unicode": ["t = A_ii", "∂t/∂A_ij = δ_ij"],
        "latex": ["t = A_{ii}", r"\frac{\partial t}{\partial A_{ij}} = \delta_{ij}"],
    }),
}


@pytest.mark.parametrize("notation", NOTATIONS)
@pytest.mark.parametrize("case", GOLDEN)
def test_golden(case, notation):
    produce, expected = GOLDEN[case]
    assert produce(notation) == expected[notation]


# ---------------------------------------------------------------- hand-built expressions

i, j, k, n, p, q = (Index(c, c) for c in "ijknpq")
batch = Index("batch", "B")
x, a, b, y = (lambda *ix, _c=c: Tensor(_c, ix) for c in "xaby")

#: name -> (expression, left-hand indices, pretty, {notation: text})
EXPRS = {
    "deriv_of_tensor": (Deriv(y(i, j), x(p, q)), (i, j, p, q), True, {
        "text": "dy[i,j]/dx[p,q]", "unicode": "∂y_ij/∂x_pq",
        "latex": r"\frac{\partial y_{ij}}{\partial x_{pq}}"}),
    "deriv_of_product": (Deriv(Sum([k], Mul((x(i, k), a(k, j)))), x(p, q)), (i, j, p, q), True, {
        "text": "d(x[i,k] * a[k,j])/dx[p,q]", "unicode": "∂(x_ik a_kj)/∂x_pq",
        "latex": r"\frac{\partial}{\partial x_{pq}}\left(x_{ik} a_{kj}\right)"}),
    "product_rule": (Sum([k], Mul((Deriv(x(i, k), x(p, q)), a(k, j)))), (i, j, p, q), True, {
        "text": "a[k,j] * dx[i,k]/dx[p,q]", "unicode": "a_kj ∂x_ik/∂x_pq",
        "latex": r"a_{kj} \frac{\partial x_{ik}}{\partial x_{pq}}"}),
    "product_rule_as_written": (Sum([k], Mul((a(k, j), Deriv(x(i, k), x(p, q))))), (i, j, p, q), False, {
        "text": "a[k,j] * dx[i,k]/dx[p,q]", "unicode": "a_kj ∂x_ik/∂x_pq",
        "latex": r"a_{kj} \frac{\partial x_{ik}}{\partial x_{pq}}"}),
    "deriv_squared": (Pow(Deriv(y(i, j), x(p, q)), Const(2)), (i, j, p, q), True, {
        "text": "(dy[i,j]/dx[p,q])^2", "unicode": "(∂y_ij/∂x_pq)²",
        "latex": r"\left(\frac{\partial y_{ij}}{\partial x_{pq}}\right)^{2}"}),
    "chain_rule": (Sum([i, j], Mul((Tensor("dY", (i, j)), Deriv(Tensor("Y", (i, j)), Tensor("X", (p, q)))))),
                   (p, q), True, {
        "text": "dl/dY[i,j] * dY[i,j]/dX[p,q]", "unicode": "∂l/∂Y_ij ∂Y_ij/∂X_pq",
        "latex": r"\frac{\partial l}{\partial Y_{ij}} \frac{\partial Y_{ij}}{\partial X_{pq}}"}),
    "transposed": (Sum([j], Mul((Tensor("dY", (i, j)), Transposed("A", (j, k))))), (i, k), True, {
        "text": "dY[i,j] * (A^T)[j,k]", "unicode": "dY_ij (Aᵀ)_jk",
        "latex": r"\mathit{dY}_{ij} (A^{T})_{jk}"}),
    "transposed_long_name": (Transposed("W2", (j, q)), (j, q), False, {
        "text": "(W2^T)[j,q]", "unicode": "(W2ᵀ)_jq", "latex": r"(\mathit{W2}^{T})_{jq}"}),
    "fraction_coefficient": (Mul((Const(Fraction(1, 3)), x(i))), (i,), True, {
        "text": "x[i] / 3", "unicode": "x_i / 3", "latex": r"\frac{x_{i}}{3}"}),
    "fraction_as_written": (Mul((Const(Fraction(1, 3)), x(i))), (i,), False, {
        "text": "(1/3) * x[i]", "unicode": "(1/3) x_i", "latex": r"\frac{1}{3} x_{i}"}),
    "small_numbers": (Add((Mul((Const(Fraction(1, 100000)), x(i))), Const(Fraction(25, 10**7)))), (i,), True, {
        "text": "1e-05 * x[i] + 2.5e-06", "unicode": "10⁻⁵ x_i + 2.5·10⁻⁶",
        "latex": r"10^{-5} x_{i} + 2.5 \cdot 10^{-6}"}),
    "negative_power_as_written": (Pow(x(i), Const(-2)), (i,), False, {
        "text": "x[i]^(-2)", "unicode": "x_i⁻²", "latex": "x_{i}^{-2}"}),
    "square_root": (Mul((a(i), Pow(Add((x(i), Const(1))), Const(Fraction(-1, 2))))), (i,), True, {
        "text": "a[i] / (x[i] + 1)^0.5", "unicode": "a_i / √(x_i + 1)",
        "latex": r"\frac{a_{i}}{\sqrt{x_{i} + 1}}"}),
    "other_powers": (Add((Pow(x(i), Const(Fraction(1, 3))), Pow(x(i), a(i)))), (i,), True, {
        "text": "x[i]^(1/3) + x[i]^a[i]", "unicode": "x_i^(1/3) + x_i^(a_i)",
        "latex": "x_{i}^{1/3} + x_{i}^{a_{i}}"}),
    "division_as_written": (Mul((x(i), Pow(a(i), Const(-1)), b(i))), (i,), False, {
        "text": "x[i] / a[i] * b[i]", "unicode": "(x_i / a_i) b_i", "latex": r"\frac{x_{i}}{a_{i}} b_{i}"}),
    "sum_of_terms_summed": (Sum([n], Add((x(n, i), a(n, i)))), (i,), True, {
        "text": "sum[n](x[n,i] + a[n,i])", "unicode": "Σ_n (x_ni + a_ni)",
        "latex": r"\sum_{n} \left(x_{ni} + a_{ni}\right)"}),
    "sum_as_a_factor": (Mul((Sum([n], x(n, i)), a(i))), (i,), True, {
        "text": "sum[n](x[n,i]) * a[i]", "unicode": "(Σ_n x_ni) a_i",
        "latex": r"\left(\sum_{n} x_{ni}\right) a_{i}"}),
    "sum_as_a_term": (Add((Sum([n], x(n, i)), a(i))), (i,), False, {
        "text": "sum[n](x[n,i]) + a[i]", "unicode": "(Σ_n x_ni) + a_i",
        "latex": r"\left(\sum_{n} x_{ni}\right) + a_{i}"}),
    "negated_sum_body_as_written": (Sum([n], Mul((Const(-1), x(n, i)))), (i,), False, {
        "text": "sum[n](-x[n,i])", "unicode": "Σ_n (-x_ni)", "latex": r"\sum_{n} \left(-x_{ni}\right)"}),
    "size_and_long_index": (Mul((Size(batch), Tensor("x", (batch, k)))), (batch, k), True, {
        "text": "size(batch) * x[batch,k]", "unicode": "size(batch) x_batch,k",
        "latex": r"\operatorname{size}(\mathit{batch}) x_{\mathit{batch},k}"}),
    "greek_names": (Tensor("mu", (Index("nu", "N"), Index("mu", "M"))), (Index("nu", "N"), Index("mu", "M")), True, {
        "text": "mu[nu,mu]", "unicode": "μ_νμ", "latex": r"\mu_{\nu\mu}"}),
    "functions": (Add((Call("abs", [x(i)]), Call("sqrt", [a(i)]), Call("softplus", [a(i)]),
                       Call("sigmoid", [b(i)]))), (i,), False, {
        "text": "abs(x[i]) + sqrt(a[i]) + softplus(a[i]) + sigmoid(b[i])",
        "unicode": "|x_i| + √(a_i) + softplus(a_i) + σ(b_i)",
        "latex": r"\lvert x_{i} \rvert + \sqrt{a_{i}} + \operatorname{softplus}\left(a_{i}\right) "
                 r"+ \sigma\left(b_{i}\right)"}),
    "numbers_meet": (Mul((Const(2), Const(3), x(i), Const(4))), (i,), False, {
        "text": "2 * 3 * x[i] * 4", "unicode": "2 · 3 x_i · 4", "latex": r"2 \cdot 3 x_{i} \cdot 4"}),
    "double_negation_as_written": (Mul((Const(-1), Mul((Const(-1), x(i))))), (i,), False, {
        "text": "-(-x[i])", "unicode": "-(-x_i)", "latex": r"-\left(-x_{i}\right)"}),
    "negative_quotient": (Mul((Const(-1), x(i), Pow(a(i), Const(-1)))), (i,), True, {
        "text": "-x[i] / a[i]", "unicode": "-x_i / a_i", "latex": r"-\frac{x_{i}}{a_{i}}"}),
    "scalar_and_underscore_names": (Mul((Tensor("eps"), Tensor("dY_dX", (i,)))), (i,), True, {
        "text": "eps * dY_dX[i]", "unicode": "eps {dY_dX}_i", "latex": r"\mathit{eps} \mathit{dY\_dX}_{i}"}),
}


@pytest.mark.parametrize("notation", NOTATIONS)
@pytest.mark.parametrize("case", EXPRS)
def test_every_node_type(case, notation):
    e, lhs, pretty, expected = EXPRS[case]
    adjoints = {"dY": ("l", "Y")} if case == "chain_rule" else None
    assert expr_text(e, lhs, pretty, notation=notation, adjoints=adjoints) == expected[notation]


def test_text_is_the_default_and_unchanged():
    for path in EXAMPLES:
        text = path.read_text()
        for s in ricci.parse(text).statements:
            assert statement_text(s, notation="text") == statement_text(s) == str(s)
        d = ricci.grad(text, wrt_of(text))
        assert derivation_lines(d, "text", adjoints=False) == d.lines()


def test_adjoints_and_refs():
    adj = {"dY": ("l", "Y")}
    assert lhs_text("dY", (p, j), adjoints=adj) == "dl/dY[p,j]"
    assert lhs_text("dY", (p, j), notation="unicode", adjoints=adj) == "∂l/∂Y_pj"
    assert lhs_text("dY", (p, j), notation="latex", adjoints=adj) == r"\frac{\partial l}{\partial Y_{pj}}"
    assert lhs_text("dY", (p, j)) == "dY[p,j]"  # without adjoints, the tensor's own name
    ref = {"dZ_dW": ("Z", 2, "W")}
    e = Tensor("dZ_dW", (n, Index("h", "h"), p, q))
    assert expr_text(e, e.indices, refs=ref) == "(dZ[n,h]/dW[p,q])"
    assert expr_text(e, e.indices, refs=ref, notation="unicode") == "∂Z_nh/∂W_pq"
    assert expr_text(e, e.indices, refs=ref, notation="latex") == r"\frac{\partial Z_{nh}}{\partial W_{pq}}"


def test_a_zero_jacobian_prints_its_displayed_left_hand_side():
    d = ricci.jacobian("Y[i] = 2 * A[i]\nZ[i] = B[i]", "A", of="Z")
    assert derivation_lines(d, "unicode") == ["∂Z_i/∂A_p = 0"]
    assert derivation_lines(d, "latex") == [r"\frac{\partial Z_{i}}{\partial A_{p}} = 0"]


def test_unknown_notation():
    with pytest.raises(ricci.RicciError, match="unknown notation 'mathml': choose one of text, unicode, latex"):
        expr_text(x(i), (i,), notation="mathml")
    with pytest.raises(ricci.RicciError, match="unknown notation"):
        ricci.grad("y = x", wrt="x").lines("mathml")


def test_function_spellings_come_from_the_table(monkeypatch):
    monkeypatch.setitem(FUNCTIONS, "softsign", None)  # restored after the test
    defun("softsign", deriv=lambda u, ans: Const(1), numpy="{0}", torch="{0}", jax="{0}", numba="{0}")
    assert FUNCTIONS["softsign"].latex == r"\operatorname{softsign}"
    assert FUNCTIONS["softsign"].unicode == "softsign"
    assert expr_text(Call("softsign", [x(i)]), (i,), notation="latex") == r"\operatorname{softsign}\left(x_{i}\right)"
    with pytest.raises(ValueError, match="no form"):  # a spelling the LaTeX reader cannot read back
        defun("softsign", deriv=lambda u, ans: Const(1), numpy="{0}", torch="{0}", jax="{0}", numba="{0}",
              latex=r"\lfloor #1 \rfloor")
    defun("softsign", deriv=lambda u, ans: Const(1), numpy="{0}", torch="{0}", jax="{0}", numba="{0}",
          latex=r"\mathring{#1}", unicode="⌊#1⌋")
    assert expr_text(Call("softsign", [x(i)]), (i,), notation="latex") == r"\mathring{x_{i}}"
    assert expr_text(Call("softsign", [x(i)]), (i,), notation="unicode") == "⌊x_i⌋"
    assert ricci.parse(r"y_i = \mathring{x_i}", syntax="latex") == ricci.parse("y[i] = softsign(x[i])")


def all_example_derivations():
    """For each example, its program as written, its gradient and each input's Jacobian."""
    for path in EXAMPLES:
        text = path.read_text()
        wrt = wrt_of(text)
        yield path.stem, None, text
        yield path.stem, "grad", ricci.grad(text, wrt)
        for w in wrt:
            yield path.stem, f"jacobian {w}", ricci.jacobian(text, w)


def example_lines(notation: str) -> list[tuple[str, str]]:
    out = []
    for stem, kind, d in all_example_derivations():
        lines = program_lines(d, notation) if kind is None else derivation_lines(d, notation)
        out += [(f"{stem} {kind or 'program'}", ln) for ln in lines]
    return out


def test_unicode_has_no_ascii_forms():
    lines = example_lines("unicode") + [(c, e[3]["unicode"]) for c, e in EXPRS.items()]
    for where, ln in lines:
        for ascii_form in ("delta[", "sum[", "[", "*", "sigmoid("):
            assert ascii_form not in ln, (where, ln)


# ---------------------------------------------------------------- KaTeX


def assert_renders(katex, texs: list[tuple[str, str]]) -> None:
    errors = katex([t for _, t in texs])
    bad = [f"{where}: {tex}\n    {err}" for (where, tex), err in zip(texs, errors) if err]
    assert not bad, "KaTeX rejects:\n" + "\n".join(bad)


def test_katex_is_strict(katex):
    ok, unknown, malformed, unicode = katex(["x_{i}", r"\foo{x}", "x_{i", "é"])
    assert ok is None
    assert "Undefined control sequence" in unknown
    assert malformed is not None and unicode is not None


def test_every_latex_string_of_this_file_renders(katex):
    texs = [(f"golden {c}", ln) for c, (_, exp) in GOLDEN.items() for ln in exp["latex"]]
    texs += [(f"golden {c} (produced)", ln) for c, (produce, _) in GOLDEN.items() for ln in produce("latex")]
    texs += [(f"expr {c}", e[3]["latex"]) for c, e in EXPRS.items()]
    texs += [("matmul aligned", aligned(GOLDEN["matmul_gradients"][1]["latex"]))]
    assert_renders(katex, texs)


def test_every_function_renders(katex):
    texs = [(fn, expr_text(Call(fn, [Add((x(i), Pow(a(i), Const(2))))]), (i,), notation="latex"))
            for fn in FUNCTIONS]
    assert_renders(katex, texs)


def test_every_example_derivation_renders(katex):
    lines = example_lines("latex")
    texs = list(lines)
    by_derivation: dict[str, list[str]] = {}
    for where, ln in lines:
        by_derivation.setdefault(where, []).append(ln)
    texs += [(f"{where} (aligned)", aligned(lns)) for where, lns in by_derivation.items()]
    assert_renders(katex, texs)
