"""A derivation as text: its result line by line in a notation, and as a Markdown
document (program, steps, results, code).

Used by :class:`ricci.Derivation` (``str``, ``latex()``, ``markdown()``), by
``_repr_markdown_`` in notebooks, and by ``ricci grad ... --emit markdown`` on the command
line. Math is in ``$$ ... $$`` blocks (rendered by Jupyter, GitHub and most Markdown
viewers), each also given as plain text.
"""

from __future__ import annotations

from ..calculus.record import DerivationRecord
from .matrix import matrix_view
from .notation import latex_equations
from .render import statement_text, text_adjoints
from .steps_print import Steps

__all__ = ["derivation_markdown", "derivation_text"]


def derivation_text(d: DerivationRecord, notation: str = "text") -> list[str]:
    """The result, one statement per line. Text keeps ricci's names (``dX``); the other
    notations write an adjoint as the derivative of the loss (``∂l/∂X_ik``); the Jacobian of
    an adjoint is ``d(dl/dh[i])/dW[p,q]`` in all of them, as in the matrix view."""
    adjoints = d.adjoints()
    if notation == "text":  # only a Jacobian of an adjoint is spelled so: d(dl/dh[i])/dW[p,q]
        adjoints = text_adjoints(adjoints, d.refs)
    return [statement_text(s, d.display.get(s.name), reorder=s.derived, refs=d.refs,
                           notation=notation, adjoints=adjoints, second=d.hessians)
            for s in d.shown]


def _block(lang: str, text: str) -> str:
    return f"```{lang}\n{text.rstrip()}\n```\n"


def _math(tex: str) -> str:
    return f"$$\n{tex}\n$$\n"


def derivation_markdown(d: DerivationRecord, steps: Steps | None = None,
                        code: tuple[str, str] | None = None) -> str:
    """The report: ``steps`` when given, ``code`` as (backend, source) when given."""
    what = "Gradients" if d.kind == "grad" else "Jacobians"
    out = [f"### {what} of `{d.of}` with respect to {', '.join(f'`{w}`' for w in d.wrt)}\n"]
    out.append("**Program**\n")
    out.append(_block("text", str(d.source_program)))
    out.append(_math(d.source_program.latex()))
    if steps is not None:
        out.append("**Step by step**\n")
        out.append(steps.markdown())
    out.append("**Result in index notation**\n")
    out.append(_math(latex_equations(derivation_text(d, "latex"))))
    out.append(_block("text", "\n".join(derivation_text(d))))
    view = matrix_view(d)
    out.append("**Result in matrix notation**\n")
    if any(ln.node is not None or ln.slice for ln in view.lines):
        out.append(_math(view.latex()))
    out.append(_block("text", str(view)))
    if code is not None:
        backend, source = code
        out.append(f"**Generated code ({backend})**\n")
        out.append(_block("python", source))
    return "\n".join(out).rstrip() + "\n"
