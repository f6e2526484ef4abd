"""The public face of a derivation: ``ricci.grad``, ``jacobian``, ``hessian`` and ``hvp``
return a :class:`Derivation`, the :class:`~ricci.calculus.record.DerivationRecord` the
engine found plus its views (text, Unicode, LaTeX, matrix notation, steps, a report,
generated code).

This module sits above every stage (it reads calculus, codegen and display; none of
them reads it), so that the record stays data and the stages stay acyclic.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import Any, Mapping, Sequence

from . import validate
from .bounds import guarded
from .calculus import forward, reverse, second
from .calculus.record import DerivationRecord
from .calculus.symmetry import assume_symmetry
from .codegen.backends import BACKENDS, get_backend
from .codegen.calling import Compiled, check_sizes
from .codegen.emit import Generated, generate
from .display.matrix import MatrixView, matrix_view
from .display.notation import latex_equations
from .display.report import derivation_markdown, derivation_text
from .display.steps_print import Steps
from .display.steps_sections import derivation_steps
from .ir.program import Program

__all__ = ["Derivation", "NOTATIONS", "grad", "hessian", "hvp", "jacobian"]

#: the notations a derivation prints in
NOTATIONS = ("text", "unicode", "latex")


@dataclass(frozen=True, eq=False)
class Derivation(DerivationRecord):
    """A gradient, Jacobian, Hessian or HVP derived by ricci.

    * ``str(d)``: the result in index notation, one statement per line (with the
      definitions of any intermediate ricci introduced, such as ``z1``);
    * ``d.program``: the complete :class:`~ricci.Program` (the forward statements the
      result needs, then the derived ones), which can be differentiated again;
    * ``d.outputs``: for each ``wrt`` input, the name of the statement holding its result;
    * ``d.inputs``: the keyword arguments the compiled function takes;
    * ``d.matrix()``, ``d.steps()``, ``d.latex()``, ``d.markdown()``: views;
    * ``d.source(backend)`` / ``d.compile(backend)``: generated code.

    A derivation does not change: each view is computed once.
    """

    _views: dict[Any, Any] = field(default_factory=dict, init=False, repr=False)

    @classmethod
    def of_record(cls, rec: DerivationRecord) -> "Derivation":
        """``rec`` with its views (a second derivative's parts too), its results written
        under the program's declarations (a symmetric input in one orientation)."""
        if isinstance(rec, cls):
            return rec
        rec = assume_symmetry(rec)
        values = {f.name: getattr(rec, f.name) for f in fields(DerivationRecord)}
        if rec.second is not None:
            values["second"] = replace(rec.second, gradient=cls.of_record(rec.second.gradient),
                                       jacobian=cls.of_record(rec.second.jacobian))
        return cls(**values)

    # -- text
    @guarded("printing")
    def lines(self, notation: str = "text") -> list[str]:
        """The result, one statement per line, in ``notation`` (``"text"``, ``"unicode"``
        or ``"latex"``). Text keeps ricci's names (``dX``); the other notations write an
        adjoint as the derivative of the loss (``∂l/∂X_ik``)."""
        return derivation_text(self, validate.choice(notation, NOTATIONS, "notation"))

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def unicode(self) -> str:
        """The result in Unicode: ``∂l/∂X_ik = ∂l/∂Y_ij A_kj``."""
        return "\n".join(self.lines("unicode"))

    def latex(self) -> str:
        """The result in LaTeX: one equation, or an ``aligned`` block for several."""
        return latex_equations(self.lines("latex"))

    @guarded("writing the report")
    def markdown(self, steps: bool = False, code: str | None = "numpy") -> str:
        """A Markdown report: the program, the steps (with ``steps``), the result in index
        and matrix notation (math in ``$$``, and as text), and the generated code."""
        validate.flag(steps, "steps")
        if code is not None:
            validate.choice(code, list(BACKENDS), "code backend")
        return derivation_markdown(self, steps=self.steps() if steps else None,
                                   code=(code, self.source(code)) if code is not None else None)

    def __repr__(self) -> str:
        return f"<Derivation {self.kind} of {self.of} w.r.t. {', '.join(self.wrt)}:\n{self}\n>"

    def _repr_markdown_(self) -> str:
        return self.markdown(code=None)

    def _repr_latex_(self) -> str:
        return "$$" + self.latex() + "$$"

    # -- matrix notation
    @guarded("writing matrix notation")
    def matrix(self) -> MatrixView:
        """The result in matrix notation where it exists (``dX = dY @ A.T``); for a result
        with no matrix form (a raw 4-index Jacobian), the index form, the reason, the einsum
        form and, for a delta times a matrix, the matrix form of each slice. ``str()`` of
        the returned :class:`~ricci.display.matrix.MatrixView` is plain text; ``.latex()`` LaTeX."""
        return matrix_view(self)

    # -- steps
    @guarded("writing the steps")
    def steps(self, wrt: str | None = None) -> Steps:
        """The derivation step by step, as a person writes it by hand: a
        :class:`~ricci.display.steps_print.Steps` list (each step has the rule applied and the
        equation after it). ``wrt`` limits it to one input's result."""
        validate.name(wrt, "wrt", optional=True)
        return derivation_steps(self, wrt)

    # -- code
    def _generate(self, backend: str, size_hints: Mapping[str, int] | None = None) -> Generated:
        key = ("generated", backend, tuple(sorted((size_hints or {}).items())))
        if key not in self._views:
            fname = f"{self.kind}_{self.of}"
            what = {"grad": "Gradients", "jacobian": "Jacobians", "jvp": "Directional derivatives",
                    "hvp": "Hessian-vector product"}.get(self.kind, "Hessian")
            if self.kind == "hessian" and any(v[4] for v in self.hessians.values()):
                what = "Diagonal of the Hessian"
            doc = f"{what} of {self.of} w.r.t. {', '.join(self.wrt)} (generated by ricci).\n\n" + str(self)
            self._views[key] = generate(self.code_program, self.outputs, self.inputs, backend=backend,
                                        function=fname, doc=doc, size_hints=size_hints)
        return self._views[key]

    @guarded("generating code")
    def source(self, backend: str = "numpy", *, sizes: Mapping[str, int] | None = None) -> str:
        """Standalone Python source of a function computing the results.

        ``sizes`` (index name -> size) only guides the contraction order of products of
        three or more tensors; the function works for any sizes.
        """
        validate.choice(backend, list(BACKENDS), "backend")
        return self._generate(backend, _dim_hints(self.program, check_sizes(self.source_program, sizes))).source

    @guarded("generating code")
    def compile(self, backend: str = "numpy", *, jit: bool = False) -> Compiled:
        """A function taking every input (by keyword, or positionally in the order of
        ``d.inputs``) and returning a dict from each ``wrt`` name to its result
        (gradient: the input's shape; Jacobian: the output's shape followed by the
        input's). Inputs are checked and converted before any arithmetic (see
        :mod:`ricci.codegen.calling`: types, one floating dtype, shapes, matrix operands);
        ``sizes={index: n}`` gives the sizes of indices no input carries.

        ``jit=True`` (torch backend only) wraps the generated function with
        ``torch.compile`` (inductor, one graph); it compiles at the first call (and again
        for new shapes), and a failure to compile raises :class:`RicciError` naming it. For
        JAX, wrap the function in ``jax.jit`` yourself (see docs/backends.md).
        """
        validate.choice(backend, list(BACKENDS), "backend")
        validate.flag(jit, "jit")
        key = ("compiled", backend, jit)
        if key not in self._views:
            get_backend(backend)
            self._views[key] = Compiled(self._generate(backend), backend, self.code_program,
                                        self.source_program, label=f"the {self.kind} of {self.of}",
                                        filename=f"<ricci {self.kind} of {self.of}>", forward=self.forward,
                                        jit=jit)
        return self._views[key]


def _dim_hints(program: Program, sizes: Mapping[str, int] | None) -> dict[str, int]:
    if not sizes:
        return {}
    out = {}
    for d, names in program.dim_names.items():
        for n in names:
            if n in sizes:
                out[d] = sizes[n]
                break
    return out


def grad(program: Program | str, wrt: str | Sequence[str], of: str | None = None) -> Derivation:
    """Gradients of ``of`` (default: the last statement) w.r.t. the inputs ``wrt``.

    For a scalar output the result is its gradient; otherwise the upstream gradient is an
    extra input named ``d`` + the output's name (``dY``). ``wrt`` items may fix the names
    of the gradient's indices: ``"W[a,b]"``.
    """
    return Derivation.of_record(reverse.grad(program, wrt, of))


def jacobian(program: Program | str, wrt: str | Sequence[str], of: str | None = None) -> Derivation:
    """The derivative tensor ``dY[i,j]/dX[p,q]`` of ``of`` w.r.t. each input in ``wrt``.

    Fresh indices are chosen for the denominator (``p, q, ...``) unless given, as in
    ``wrt="X[k,l]"``. Intermediates are chained in forward mode, one statement each.
    """
    return Derivation.of_record(forward.jacobian(program, wrt, of))


def hessian(program: Program | str, wrt: str | Sequence[str], of: str | None = None, *,
            diagonal: bool = False) -> Derivation:
    """The Hessian ``H[I,J] = d2L/dx[I]dx[J]`` of the scalar ``of`` (default: the last
    statement) w.r.t. the input ``wrt="x"``; ``wrt=("x", "y")`` gives the mixed second
    derivative ``d2L/dx[I]dy[J]``. Names may fix the indices: ``wrt=("x[i]", "x[j]")``.

    Compiled, the result has shape ``x.shape + y.shape`` (the dict key is ``"x"``, or
    ``"x,y"`` for a mixed one). With ``diagonal=True`` (``x`` only) the result is the
    diagonal ``H[I,I]``, shape ``x.shape``, computed without forming the Hessian.
    """
    return Derivation.of_record(second.hessian(program, wrt, of, diagonal=diagonal))


def hvp(program: Program | str, wrt: str, of: str | None = None) -> Derivation:
    """The Hessian-vector product ``Hv[I] = d2L/dx[I]dx[J] * v[J]`` of the scalar ``of``
    w.r.t. ``wrt``, without forming the Hessian: the directional derivative of the
    gradient along an extra input ``v`` of x's shape (``d.seed`` is its name: ``v``, or
    another name if the program uses ``v``). Compiled, the result has x's shape."""
    return Derivation.of_record(second.hvp(program, wrt, of))
