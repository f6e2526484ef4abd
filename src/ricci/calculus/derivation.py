"""The result of a derivation: an ordinary program, plus what it computes and how to show it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Mapping, Sequence

from .. import validate
from ..bounds import guarded
from ..codegen.backends import BACKENDS, get_backend
from ..codegen.emit import Generated, generate
from ..display.render import latex_equations, statement_text
from ..errors import RicciError
from ..ir.expr import Expr
from ..ir.program import Program, Statement

if TYPE_CHECKING:
    from ..codegen.calling import Compiled

#: the notations a derivation prints in
NOTATIONS = ("text", "unicode", "latex")


class Derivation:
    """A gradient or Jacobian derived by ricci.

    * ``str(d)``: the result in index notation, one statement per line (with the
      definitions of any intermediate ricci introduced, such as ``z1``);
    * ``d.program``: the complete :class:`~ricci.program.Program` (the forward statements
      the result needs, then the derived ones), which can be differentiated again;
    * ``d.outputs``: for each ``wrt`` input, the name of the statement holding its result;
    * ``d.inputs``: the keyword arguments the compiled function takes;
    * ``d.source(backend)`` / ``d.compile(backend)``: generated code.
    """

    def __init__(self, kind: str, program: Program, *, source_program: Program,
                 wrt: Sequence[str], of: str, outputs: Mapping[str, str],
                 shown: Sequence[Statement], seed: str | None = None,
                 display: Mapping[str, str] | None = None,
                 refs: Mapping[str, tuple[str, int, str]] | None = None,
                 adjoint_of: Mapping[str, str] | None = None,
                 forward: Program | None = None,
                 inline: Mapping[str, Expr] | None = None,
                 replay: Sequence[Statement] | None = None,
                 parts: tuple["Derivation", "Derivation"] | None = None,
                 second: Mapping[str, tuple] | None = None,
                 code: Program | None = None,
                 tangent_of: Mapping[str, str] | None = None,
                 inlined: Mapping[str, Statement] | None = None) -> None:
        self.kind = kind
        self.program = program
        self.source_program = source_program
        self.wrt = tuple(wrt)
        self.of = of
        self.outputs = dict(outputs)
        self.shown = tuple(shown)
        self.seed = seed
        self.display = dict(display or {})
        #: derived tensors printed as derivatives where they are used, e.g. (dZ[n,h]/dW[p,q])
        self.refs = dict(refs or {})
        #: reverse mode: each adjoint tensor -> the tensor it is the gradient of
        #: (``dX`` -> ``X``, ``dY`` -> ``Y`` for the upstream gradient); read as dl/dX
        self.adjoint_of = dict(adjoint_of or {})
        #: the forward program as differentiated (up to ``of``, with the function
        #: arguments ricci named, such as ``z1``)
        self.forward = forward if forward is not None else source_program.upto(of)
        #: values used inline instead of a statement: in reverse mode the adjoint of an
        #: intermediate that is a constant or another tensor (by the intermediate's
        #: name); in forward mode a constant Jacobian (by ``"Z/X"``)
        self.inline = dict(inline or {})
        #: every derived statement in order, with the adjoints that were substituted into
        #: their uses (``dp`` of a logistic regression) and so are not in ``program``
        self.replay = tuple(replay) if replay is not None else tuple(
            s for s in program.statements if s.derived)
        #: a second derivative: the gradient and the forward-mode derivation of it
        self.parts = parts
        #: a Hessian statement -> (loss, x, rank of x, y, diagonal): d2 loss/dx dy
        self.second = dict(second or {})
        #: forward mode along a tangent (a JVP): each tangent statement -> its primal
        self.tangent_of = dict(tangent_of or {})
        #: a second derivative: the intermediate Jacobians (or tangents) substituted into
        #: the result, by name (each with the earlier ones substituted into it)
        self.inlined = dict(inlined or {})
        #: the program the generated code computes: ``program``, or the same results with
        #: intermediate Jacobians that hold a delta substituted into their uses
        self.code_program = code if code is not None else program
        base = list(source_program.upto(of).inputs)
        base += [w for w in self.wrt if w not in base]
        self.inputs: tuple[str, ...] = tuple(base) + ((seed,) if seed else ())
        self._compiled: dict[str, Compiled] = {}
        self._generated: dict[tuple, Generated] = {}  # a derivation does not change
        self._matrix = None

    @property
    def loss(self) -> str:
        """The name of the differentiated quantity: the scalar output, or ``l`` when the
        output is a tensor (the loss downstream of it, as in the articles' dl/dY)."""
        if (self.kind == "grad" and self.seed is None) or self.kind in ("hessian", "hvp"):
            return self.of
        return "l"

    # -- text
    @guarded("printing")
    def lines(self, notation: str = "text") -> list[str]:
        """The result, one statement per line, in ``notation`` (``"text"``, ``"unicode"``
        or ``"latex"``). Text keeps ricci's names (``dX``); the other notations write an
        adjoint as the derivative of the loss (``∂l/∂X_ik``)."""
        notation = validate.choice(notation, NOTATIONS, "notation")
        adjoints = None if notation == "text" else self.adjoints()
        return [statement_text(s, self.display.get(s.name), reorder=s.derived, refs=self.refs,
                               notation=notation, adjoints=adjoints, second=self.second)
                for s in self.shown]

    def adjoints(self) -> dict[str, tuple[str, str]]:
        """Each adjoint tensor -> (loss, the tensor it is the gradient of), for printing."""
        return {a: (self.loss, p) for a, p in self.adjoint_of.items()}

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
        from ..display.report import derivation_markdown

        validate.flag(steps, "steps")
        if code is not None:
            validate.choice(code, list(BACKENDS), "code backend")
        return derivation_markdown(self, steps=steps, code=code)

    def __repr__(self) -> str:
        return f"<Derivation {self.kind} of {self.of} w.r.t. {', '.join(self.wrt)}:\n{self}\n>"

    def _repr_markdown_(self) -> str:
        return self.markdown(code=None)

    def _repr_latex_(self) -> str:
        return "$$" + self.latex() + "$$"

    def __getitem__(self, name: str) -> Statement:
        """The statement giving the result for input ``name`` (``d["X"]``)."""
        validate.name(name, "the key of a derivation")
        if name not in self.outputs:
            raise RicciError(f"no result for '{name}': this derivation is w.r.t. {', '.join(self.wrt)}")
        return self.program.defined[self.outputs[name]]

    # -- matrix notation
    @guarded("writing matrix notation")
    def matrix(self):
        """The result in matrix notation where it exists (``dX = dY @ A.T``); for a result
        with no matrix form (a raw 4-index Jacobian), the index form, the reason, the einsum
        form and, for a delta times a matrix, the matrix form of each slice. ``str()`` of
        the returned :class:`~ricci.matrix.MatrixView` is plain text; ``.latex()`` LaTeX."""
        from ..display.matrix import MatrixView, Spelling, matrix_lines

        if self._matrix is None:  # a derivation does not change: computed once
            jac = {name: (num, den) for name, (num, _, den) in self.refs.items()}
            lines = matrix_lines(self.shown, set(self.program.dims), display=self.display,
                                 like=self.adjoint_of)
            self._matrix = MatrixView(lines, Spelling(self.display, self.adjoint_of, self.loss, jac))
        return self._matrix

    # -- steps
    @guarded("writing the steps")
    def steps(self, wrt: str | None = None):
        """The derivation step by step, as a person writes it by hand: a
        :class:`~ricci.steps.Steps` list (each :class:`~ricci.steps.Step` has the rule
        applied and the equation after it). ``wrt`` limits it to one input's result."""
        from ..display.steps import derivation_steps

        validate.name(wrt, "wrt", optional=True)
        return derivation_steps(self, wrt)

    # -- code
    def _generate(self, backend: str, size_hints: Mapping[str, int] | None = None) -> Generated:
        key = (backend, tuple(sorted((size_hints or {}).items())))
        if key not in self._generated:
            self._generated[key] = self._generate_new(backend, size_hints)
        return self._generated[key]

    def _generate_new(self, backend: str, size_hints: Mapping[str, int] | None) -> Generated:
        fname = f"{self.kind}_{self.of}"
        what = {"grad": "Gradients", "jacobian": "Jacobians", "jvp": "Directional derivatives",
                "hvp": "Hessian-vector product"}.get(self.kind, "Hessian")
        if self.kind == "hessian" and any(v[4] for v in self.second.values()):
            what = "Diagonal of the Hessian"
        doc = f"{what} of {self.of} w.r.t. {', '.join(self.wrt)} (generated by ricci).\n\n" + str(self)
        return generate(self.code_program, self.outputs, self.inputs, backend=backend, function=fname,
                        doc=doc, size_hints=size_hints)

    @guarded("generating code")
    def source(self, backend: str = "numpy", *, sizes: Mapping[str, int] | None = None) -> str:
        """Standalone Python source of a function computing the results.

        ``sizes`` (index name -> size) only guides the contraction order of products of
        three or more tensors; the function works for any sizes.
        """
        from ..codegen.calling import check_sizes

        validate.choice(backend, list(BACKENDS), "backend")
        return self._generate(backend, _dim_hints(self.program, check_sizes(self.source_program, sizes))).source

    @guarded("generating code")
    def compile(self, backend: str = "numpy") -> Compiled:
        """A function taking every input (by keyword, or positionally in the order of
        ``d.inputs``) and returning a dict from each ``wrt`` name to its result
        (gradient: the input's shape; Jacobian: the output's shape followed by the
        input's). Inputs are checked and converted before any arithmetic (see
        :mod:`ricci.calling`: types, one floating dtype, shapes, matrix operands);
        ``sizes={index: n}`` gives the sizes of indices no input carries.
        """
        validate.choice(backend, list(BACKENDS), "backend")
        if backend in self._compiled:
            return self._compiled[backend]
        from ..codegen.calling import Compiled  # noqa: F811 - the class, at run time

        get_backend(backend)
        fn = Compiled(self._generate(backend), backend, self.code_program, self.source_program,
                      label=f"the {self.kind} of {self.of}", filename=f"<ricci {self.kind} of {self.of}>",
                      forward=self.forward)
        self._compiled[backend] = fn
        return fn


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
