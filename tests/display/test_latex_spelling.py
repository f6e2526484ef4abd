"""One name, one number: one LaTeX spelling in every view of a derivation.

The index notation (``d.latex()``), the matrix notation (``d.matrix().latex()``), the steps
(``d.steps().latex()``) and the math of the Markdown report spell names and numbers with
the same functions (``ricci.display.notation``: ``latex_symbol``, ``latex_number``). Before
they did, one report wrote ``\\mathit{W2}`` and ``W_{2}``, ``10^{-5}`` and ``1e-05``.
"""

from __future__ import annotations

import glob
import os
import re

import pytest

import ricci

HIDDEN = "h[n,k] = tanh(x_1[n,j] * W2[j,k] + b1[k])\nL = sum[n,k](h[n,k]^2) + 1e-5 * sum[j,k](W2[j,k]^2)"
GREEK = "y[i] = sigma[i] * exp(lambda * z[i])\nL = sum[i](y[i]) + 2.5e-6 * lambda^2"
SCALED = "L = sum[i](tanh(W1[i,j] * x[j] * 1e-5 + mu2[i]))"
ROOTS = "L = sum[i](x[i] * A[i,j] * x[j]) + sum[i](w[i]^(1/3))"
INVERSE = "y[i] = inv(e)[i,j] * x[j]\nL = sum[i](y[i]^2)"

#: (program, wrt, name -> its one spelling, numbers as spelled)
CASES = {
    "digits-and-underscores": (HIDDEN, ["W2", "b1"],
                               {"W2": r"\mathit{W2}", "x_1": r"\mathit{x\_1}", "b1": r"\mathit{b1}",
                                "z1": r"\mathit{z1}"},
                               [r"2 \cdot 10^{-5}"]),
    "greek": (GREEK, ["sigma", "lambda"], {"sigma": r"\sigma", "lambda": r"\lambda"},
              [r"5 \cdot 10^{-6}"]),
    "greek-with-digits": (SCALED, ["W1", "mu2"], {"W1": r"\mathit{W1}", "mu2": r"\mathit{mu2}"},
                          [r"10^{-5}"]),
    # an exponent is a number too: x^{2/3} (not x^{\frac{2}{3}}) in every view
    "fractional-power": (ROOTS, ["w"], {"w": "w"}, [r"\frac{1}{3", "2/3}"]),
    # a tensor named e under a superscript is \mathit{e} (e^{-1} reads as exp(-1))
    "inverse-of-e": (INVERSE, ["x"], {"e": r"\mathit{e}^{-"}, []),
}

#: spellings no LaTeX view may use: a name with a subscript of digits (a subscript is an
#: index, and no index is a number), a Greek letter with one, a number as Python writes it
#: (``1e-05``: right in the plain text and NumPy forms, not in math)
WRONG = [re.compile(r"(?<![\\\w])[A-Za-z]+_\{\d+\}"), re.compile(r"\\(?:sigma|lambda|mu)_\{\d"),
         re.compile(r"(?<![\w.])\d+(?:\.\d+)?e[-+]\d+")]


def _math(markdown: str) -> str:
    """The LaTeX of a Markdown report: its ``$$`` blocks (code blocks hold plain text)."""
    return "\n".join(re.findall(r"\$\$(.*?)\$\$", markdown, flags=re.S))


def views(d) -> dict[str, str]:
    return {"index": d.latex(), "matrix": d.matrix().latex(), "steps": d.steps().latex(),
            "markdown": _math(d.markdown(steps=True))}


@pytest.mark.parametrize("case", CASES)
def test_every_view_spells_a_name_and_a_number_alike(case):
    program, wrt, names, numbers = CASES[case]
    d = ricci.grad(program, wrt)
    for view, tex in views(d).items():
        for name, spelled in names.items():
            assert spelled in tex, (view, name, spelled, tex)
        for number in numbers:
            assert number in tex, (view, number, tex)
        for wrong in WRONG:
            assert not wrong.search(tex), (view, wrong.search(tex), tex)


def test_the_plain_text_forms_keep_python_numbers():
    """Only the LaTeX agrees with the index notation: the matrix view's text and NumPy code
    stay valid Python."""
    view = ricci.grad(HIDDEN, ["W2"]).matrix()
    assert "dW2 = 2e-05 * W2 + x_1.T @ dz1" in str(view)
    line = next(ln for ln in view.lines if ln.name == "dW2")
    assert "2e-05" in view.code(line)


EXAMPLES = sorted(glob.glob(os.path.join(os.path.dirname(__file__), "..", "..", "examples", "*.ricci")))


def _wrt(path: str) -> list[str]:
    head = open(path).read().splitlines()[1]
    return head.split(":", 1)[1].split()


def test_every_view_of_the_examples_avoids_the_other_spellings(katex):
    texs: list[tuple[str, str]] = []
    for path in EXAMPLES:
        text = open(path).read()
        for d in (ricci.grad(text, _wrt(path)), ricci.jacobian(text, _wrt(path)[0])):
            texs += [(f"{os.path.basename(path)} {view}", tex) for view, tex in views(d).items()]
    texs += [(f"{case} {view}", tex) for case, (p, wrt, _, _) in CASES.items()
             for view, tex in views(ricci.grad(p, wrt)).items()]
    for where, tex in texs:
        for wrong in WRONG:
            assert not wrong.search(tex), (where, wrong.search(tex))
    rendered = [(w, t) for w, t in texs if not w.endswith("markdown")]
    errors = katex([t for _, t in rendered])
    bad = [f"{w}: {e}" for (w, _), e in zip(rendered, errors) if e]
    assert not bad, "KaTeX rejects:\n" + "\n".join(bad)
