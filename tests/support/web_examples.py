"""Print src/ricci/web/gallery.py: the examples the playground offers (``GET
/api/examples``), read from examples/*.ricci (the installed package has no examples/
folder) and a few of the articles' worked examples (tests/test_articles.py).

    python tests/support/web_examples.py > src/ricci/web/gallery.py

tests/web/test_api.py checks that the committed module is what this prints now.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"

#: (id, title, LaTeX program, wrt): the articles' worked examples, as tests/test_articles.py
#: writes them (UP, NEURON, AFFINE, FV, BATCH there)
ARTICLES = [
    ("article-matmul", "Levy-Kramer, gradients of matrix multiplication: y = xa with an upstream gradient g",
     r"y_{ij} = x_{ik} a_{kj}" "\n" r"l = g_{ij} y_{ij}", ["x", "a"]),
    ("article-neuron", "The calculus you need for deep learning: a neuron and its squared loss",
     r"\hat{y}_j = \sigma(w_{jk}x_k)" "\n" r"\text{loss} = (\hat{y}_j - y_j)(\hat{y}_j - y_j)", ["w"]),
    ("article-affine", "CS189 gradients: an affine layer Y = XW + b with an upstream gradient G",
     r"Y_{jk} = X_{jd} W_{dk} + b_k" "\n" r"L = G_{jk} Y_{jk}", ["X", "W", "b"]),
    ("article-fv", "CS189 gradients: f = Wv with an upstream gradient g",
     r"f_i = W_{ij} v_j" "\n" r"L = g_i f_i", ["W", "v"]),
    ("article-batch", "CS189 gradients: a batch Y = XW with an upstream gradient G",
     r"Y_{ij} = X_{ik} W_{kj}" "\n" r"L = G_{ij} Y_{ij}", ["X", "W"]),
]

_HEADER = re.compile(r"#\s*(wrt|of)\s*:(.*)")


def gallery() -> list[dict]:
    out = []
    for path in sorted(EXAMPLES.glob("*.ricci")):
        text = path.read_text()
        title: list[str] = []
        head: dict[str, list[str]] = {}
        for line in text.splitlines():
            line = line.strip()
            if not line.startswith("#"):
                break
            m = _HEADER.fullmatch(line)
            if m:
                head[m.group(1)] = m.group(2).split()
            elif not head:
                title.append(line.lstrip("#").strip())
        of = head.get("of")
        out.append({"id": path.name, "title": " ".join(title) or path.stem, "group": "gallery", "program": text,
                    "syntax": "ricci", "wrt": head.get("wrt", []), "of": of[0] if of else None, "kind": "grad"})
    for ident, title, program, wrt in ARTICLES:
        out.append({"id": ident, "title": title, "group": "articles", "program": program, "syntax": "latex",
                    "wrt": wrt, "of": None, "kind": "grad"})
    return out


def render() -> str:
    lines = ['"""The playground\'s examples (``GET /api/examples``): the gallery of examples/ and',
             "a few of the articles' worked examples. Generated: do not edit; run",
             "",
             "    python tests/support/web_examples.py > src/ricci/web/gallery.py",
             '"""',
             "",
             "from __future__ import annotations",
             "",
             "from typing import Any",
             "",
             '__all__ = ["EXAMPLES"]',
             "",
             "EXAMPLES: tuple[dict[str, Any], ...] = (",
             ]
    for e in gallery():
        lines.append("    {")
        for k, v in e.items():
            lines.append(f"        {k!r}: {v!r},")
        lines.append("    },")
    lines.append(")")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
