"""A step-by-step derivation printed: the :class:`Steps` list in text, Unicode, LaTeX and Markdown.

Each step prints as ``lhs = rhs`` in the notation asked for, with its rule, its note and
its aside; a Jacobian tensor on the left is written as the derivative it is, an adjoint as
the loss's derivative; the matrix-form step prints the matrix view's line
(:mod:`.matrix`) with the view's own spelling, so the steps and the matrix view agree.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..bounds import tick
from ..calculus.record import DerivationRecord
from ..ir.expr import ZERO, Deriv, Expr, Index, Tensor, Transposed
from ..ir.indices import substitute
from ..ir.program import Statement
from .matrix import MatrixLine, MatrixView, matrix_view
from .matrix_render import render_latex, render_text
from .notation import latex_aligned, latex_symbol, latex_text, notation_of
from .render import expr_text, head_text
from .steps import Step, product_of

__all__ = ["Steps"]


class Steps(list):
    """A list of :class:`Step`; ``str()`` numbers them under a heading per result.

    :meth:`text` takes ``notation`` (``"text"``, ``"unicode"``), :meth:`latex` gives an
    ``aligned`` block, :meth:`markdown` a Markdown section with the math in ``$$``.
    """

    def __init__(self, d: DerivationRecord) -> None:
        super().__init__()
        self.derivation = d
        self.adjoints = {a: (d.loss, p) for a, p in d.reverse.adjoint_of.items()}

    # -- one step
    def equation(self, st: Step, notation: str = "text") -> tuple[str, str]:
        """The two sides of ``st`` in ``notation``."""
        tick()  # a long derivation prints thousands of steps: the time limit applies
        d = self.derivation
        lhs_idx = lhs_indices(st.lhs)
        if isinstance(st.lhs, Tensor) and st.lhs.name in d.hessians and notation != "text":

            lhs = head_text(Statement(st.lhs.name, st.lhs.indices, ZERO), None, None,
                        notation_of(notation), None, d.hessians)
        else:
            lhs = _expr(self._shown(st.lhs), lhs_idx, notation, self.adjoints, d.refs)
        if st.matrix is not None:
            ln = st.matrix
            view = self.view_of(ln)
            sp = view.spelling
            if ln.node is None and ln.slice is not None and not st.einsum:  # no matrix form: the form of each slice
                deltas, inner, node = ln.slice
                colon = {i: Index(":", i.dim) for i in inner}
                lhs = _expr(substitute(self._shown(st.lhs), colon), (), notation, self.adjoints, d.refs)
                rhs = _expr(product_of(deltas), (), notation, self.adjoints, d.refs)
                if notation == "latex":
                    return lhs, rhs + r"\, " + render_latex(node, sp)
                return lhs, f"{rhs} * {render_text(node)}"
            # the matrix view's own line, its names as the view prints them (one naming scheme)
            if ln.node is None:  # the einsum form: code, not math (its names are Python's)
                if notation == "latex":
                    return sp.latex(ln.name), rf"\texttt{{{latex_text(ln.einsum or '')}}}"
                return sp.text(ln.name), (ln.einsum or "")
            if notation == "latex":
                return (sp.latex(ln.name) if not ln.helper else latex_symbol(ln.name)), render_latex(ln.node, sp)
            return sp.text(ln.name), render_text(ln.node, sp.text)
        assert st.rhs is not None  # only the matrix-form step has no right-hand side
        rhs = _expr(st.rhs, lhs_idx, notation, self.adjoints, d.refs, not st.as_written)
        return lhs, rhs

    def _shown(self, lhs: Expr) -> Expr:
        """A Jacobian tensor on the left is written as the derivative it is."""
        refs = self.derivation.refs
        if isinstance(lhs, Tensor) and lhs.name in refs:
            num, rank, den = refs[lhs.name]
            return Deriv(Tensor(num, lhs.indices[:rank]), Tensor(den, lhs.indices[rank:]))
        return lhs

    def views(self) -> list[MatrixView]:
        """The matrix views whose lines the steps print: the derivation's, and for a
        second derivative those of its gradient and of the Jacobian of the gradient."""
        d = self.derivation
        parts = [d.second.gradient, d.second.jacobian] if d.second is not None else []
        return [matrix_view(d)] + [matrix_view(p) for p in parts]

    def view_of(self, ln: MatrixLine) -> MatrixView:
        """The matrix view that prints the line ``ln``."""
        return next(v for v in self.views() if any(m is ln for m in v.lines))

    def note_text(self, st: Step, notation: str = "text") -> str:
        """The note of ``st``; in LaTeX, words in ``\\text{}`` and expressions as math."""
        out = []
        for part in st.note:
            if isinstance(part, Expr):
                out.append(_expr(part, sorted(part.free), notation, self.adjoints, self.derivation.refs))
            elif notation == "latex":
                out.append(rf"\text{{{latex_text(part)}}}" if part else "")
            else:
                out.append(part)
        return "".join(out)

    def aside_text(self, st: Step, notation: str = "text") -> str:
        if st.aside is None:
            return ""
        a, b = st.aside
        idx = lhs_indices(a)
        return f"{_expr(a, idx, notation, self.adjoints, self.derivation.refs)} = " \
               f"{_expr(b, idx, notation, self.adjoints, self.derivation.refs)}"

    # -- the whole list
    def text(self, notation: str = "text") -> str:
        out: list[str] = []
        section = None
        for k, st in enumerate(self, 1):
            if st.section != section:
                section = st.section
                head = self._section_title(section, notation)
                out.append(("" if not out else "\n") + f"{head}:")
            lhs, rhs = self.equation(st, notation)
            line = f"{k:>3}. {st.rule}"
            extra = []
            if st.aside is not None:
                extra.append(self.aside_text(st, notation))
            if st.note:
                extra.append(self.note_text(st, notation))
            if extra:
                line += f" ({'; '.join(extra)})"
            out.append(line)
            out.append(f"     {lhs} = {rhs}")
        return "\n".join(out)

    def _section_title(self, title: str, notation: str) -> str:
        if notation == "unicode" and title.startswith("d2"):
            return "∂²" + title[2:].replace("/d", "/∂").replace("]d", "]∂")
        if notation == "unicode" and title.startswith("d"):
            return "∂" + title[1:].replace("(d", "(∂").replace("/d", "/∂")
        return title

    def __str__(self) -> str:
        return self.text("text")

    def __repr__(self) -> str:
        return f"<Steps: {len(self)} steps>\n{self}"

    def latex(self) -> str:
        """An ``aligned`` block: ``lhs &= rhs && \\text{rule}`` per step."""
        rows = []
        for k, st in enumerate(self, 1):
            lhs, rhs = self.equation(st, "latex")
            label = rf"\text{{{latex_text(f'{k}. {st.rule}')}{': ' if st.note else ''}}}"
            rows.append(f"{lhs} &= {rhs} && {label}{self.note_text(st, 'latex')}")
        return latex_aligned(rows)

    def markdown(self) -> str:
        """Numbered steps, each with its rule and its equation as display math."""
        out = []
        section = None
        for k, st in enumerate(self, 1):
            if st.section != section:
                section = st.section
                out.append(f"\n#### {section}\n")
            lhs, rhs = self.equation(st, "latex")
            note = f" ({self.note_text(st, 'unicode')})" if st.note else ""
            out.append(f"{k}. **{st.rule}**{note}\n\n   $$ {lhs} = {rhs} $$\n")
        return "\n".join(out).strip() + "\n"

    def _repr_markdown_(self) -> str:
        return self.markdown()


def lhs_indices(e: Expr) -> tuple[Index, ...]:
    """The free indices of a step's left-hand side, in reading order (each once)."""
    if isinstance(e, (Tensor, Transposed)):
        return tuple(dict.fromkeys(e.indices))
    if isinstance(e, Deriv):
        return tuple(dict.fromkeys(lhs_indices(e.num) + tuple(e.wrt.indices)))
    return tuple(sorted(e.free))


def _expr(e: Expr, lhs: Sequence[Index], notation: str, adjoints, refs, reorder: bool = True) -> str:

    if isinstance(e, Tensor) and not reorder:
        reorder = True
    return expr_text(e, lhs, reorder, refs, notation=notation, adjoints=adjoints)
