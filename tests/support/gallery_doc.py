"""Print docs/gallery.md: one table row per program in examples/, with its description,
the inputs it is differentiated by, and its gradient in matrix notation (ricci's
``Derivation.matrix()``, one line per result; where a result has no matrix form, its
index form and einsum form).

    python tests/support/gallery_doc.py > docs/gallery.md

tests/test_gallery.py checks that the committed page equals what this prints, so the page
never goes stale. An example using the matrix functions (inv, det, logdet) that ricci
cannot parse or differentiate yet is listed with "(needs matrix functions)".
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

try:
    import ricci
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT / "src"))
    import ricci

MATRIX_FUNCTION = re.compile(r"\b(inv|det|logdet)\s*\(")

INTRO = """\
# Gallery

Models written in ricci's language ([language.md](language.md)), one file each in
[examples/](../examples/), differentiated by ricci in one reverse pass. Line 1 of each file
describes it, line 2 (`# wrt: ...`) names the inputs to differentiate. Every gradient here is
tested in float64 against an independent plain-PyTorch implementation of the same model
(`torch.softmax`, `F.layer_norm`, `F.scaled_dot_product_attention`,
`torch.linalg.slogdet`, ...) with the NumPy and the torch backend
([tests/test_gallery.py](../tests/test_gallery.py)), and every matrix form against the
index form ([tests/display/test_matrix.py](../tests/display/test_matrix.py)).

The last column is `ricci.grad(program, wrt).matrix()`
([matrix.md](matrix.md)): one line per result, including the intermediates ricci names
(`z1`, the argument of a function) and the adjoints of intermediate tensors (`dY`); an
upstream gradient such as `dp` is an input when the output is not a scalar. `G` names an
operand of `@` that is not a plain variable.

This page is generated: `python tests/support/gallery_doc.py > docs/gallery.md`.
"""


def header(path: Path) -> tuple[str, list[str]]:
    lines = path.read_text().splitlines()
    return lines[0].removeprefix("#").strip(), lines[1].split(":", 1)[1].split()


def cell(text: str) -> str:
    """Text for a Markdown table cell: no pipes, no line breaks."""
    return text.replace("|", "\\|").replace("\n", " ")


def code(text: str) -> str:
    tick = "``" if "`" in text else "`"
    return f"{tick}{cell(text)}{tick}"


def gradient_cell(text: str, wrt: list[str]) -> str:
    try:
        view = ricci.grad(text, wrt).matrix()
    except Exception:
        if MATRIX_FUNCTION.search(text):
            return "(needs matrix functions)"
        raise
    rows = []
    for ln in view.lines:
        if ln.node is not None:
            rows.append(code(view.line_text(ln)))
            continue
        row = f"{code(ln.index_text)}: no matrix form ({cell(ln.reason or '')})"
        if ln.einsum:
            row += f"; einsum form {code(ln.einsum)}"
        rows.append(row)
    return "<br>".join(rows)


def render() -> str:
    out = [INTRO, "| file | model | wrt | gradient (matrix notation) |", "| --- | --- | --- | --- |"]
    for path in sorted(EXAMPLES.glob("*.ricci")):
        description, wrt = header(path)
        text = path.read_text()
        out.append(f"| [{path.name}](../examples/{path.name}) | {cell(description)} | "
                   f"{' '.join(code(w) for w in wrt)} | {gradient_cell(text, wrt)} |")
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
