"""Markdown reports: a derivation as a document (program, steps, results, code).

Used by :meth:`ricci.Derivation.markdown`, by ``_repr_markdown_`` in notebooks, and by
``ricci grad ... --emit markdown`` on the command line. Math is in ``$$ ... $$`` blocks
(rendered by Jupyter, GitHub and most Markdown viewers), each also given as plain text.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    from ..calculus.derivation import Derivation


def _block(lang: str, text: str) -> str:
    return f"```{lang}\n{text.rstrip()}\n```\n"


def _math(tex: str) -> str:
    return f"$$\n{tex}\n$$\n"


def derivation_markdown(d: "Derivation", steps: bool = False, code: str | None = "numpy") -> str:
    what = "Gradients" if d.kind == "grad" else "Jacobians"
    out = [f"### {what} of `{d.of}` with respect to {', '.join(f'`{w}`' for w in d.wrt)}\n"]
    out.append("**Program**\n")
    out.append(_block("text", str(d.source_program)))
    out.append(_math(d.source_program.latex()))
    if steps:
        out.append("**Step by step**\n")
        out.append(d.steps().markdown())
    out.append("**Result in index notation**\n")
    out.append(_math(d.latex()))
    out.append(_block("text", str(d)))
    view = d.matrix()
    out.append("**Result in matrix notation**\n")
    if any(ln.node is not None or ln.slice for ln in view.lines):
        out.append(_math(view.latex()))
    out.append(_block("text", str(view)))
    if code is not None:
        out.append(f"**Generated code ({code})**\n")
        out.append(_block("python", d.source(code)))
    return "\n".join(out).rstrip() + "\n"
