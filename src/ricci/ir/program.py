"""Programs: ordered statements ``NAME[indices] = expr`` over the expression IR.

Invariants of a :class:`Program`:

* every name is defined at most once, and only after everything its definition uses;
  names that are used but never defined are the inputs;
* each statement's right-hand side has free indices exactly within its left-hand side
  (left-hand indices it lacks are broadcast);
* ``dims[name]`` gives, for every tensor (inputs and defined), the dim label of each
  axis; every :class:`~ricci.ir.expr.Index` in the program carries one of these labels
  (or a label of its own, whose size must then be given by the caller).

* ``declared[name]`` is a fact about an input (``S[i,j] : symmetric``): one of
  :data:`SYMMETRIC` and :data:`SPD`, for inputs of rank 2 whose two axes have one dim, or
  :data:`ONE_HOT` (``Y[n,k] : one-hot``: entries 0 or 1, one 1 along the last axis, so a
  sum over the last axis is 1), for inputs of rank 1 or more; the declarations are part of
  the program (its equality, its printed text).

Derived programs (gradients, Jacobians) are Programs too, so they can be printed,
compiled and differentiated again.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol

from ..bounds import gc_paused, guarded
from ..errors import RicciError, Span
from . import printing
from .expr import Expr, Index, Tensor
from .traversal import tensor_refs

__all__ = ["FACTS", "ONE_HOT", "SPD", "SYMMETRIC", "SYMMETRIC_FACTS", "Program", "one_hot_inputs",
           "symmetric_inputs", "Statement", "ancestors", "declaration_lines",
           "depends_on", "ProgramTools", "install_tools", "output_names"]

#: the facts a declaration may state about an input
SYMMETRIC = "symmetric"
SPD = "symmetric positive definite"
ONE_HOT = "one-hot"
#: how a declaration may spell each fact (``S[i,j] : spd``) -> the fact
FACTS: dict[str, str] = {SYMMETRIC: SYMMETRIC, SPD: SPD, "spd": SPD, ONE_HOT: ONE_HOT, "onehot": ONE_HOT}
#: the facts about a square matrix (its two axes have one size; it equals its transpose)
SYMMETRIC_FACTS = frozenset({SYMMETRIC, SPD})


def symmetric_inputs(declared: Mapping[str, str]) -> frozenset[str]:
    """The inputs ``declared`` says are symmetric (symmetric or SPD)."""
    return frozenset(n for n, f in declared.items() if f in SYMMETRIC_FACTS)


def one_hot_inputs(declared: Mapping[str, str]) -> frozenset[str]:
    """The inputs ``declared`` says are one-hot along their last axis."""
    return frozenset(n for n, f in declared.items() if f == ONE_HOT)


class Statement:
    """``name[indices] = rhs``. Equality ignores source positions."""

    __slots__ = ("derived", "index_spans", "indices", "name", "ref_spans", "rhs", "span")

    def __init__(self, name: str, indices: Sequence[Index], rhs: Expr, *,
                 span: Span | None = None,
                 ref_spans: Mapping[str, Span] | None = None,
                 index_spans: Mapping[str, Span] | None = None,
                 derived: bool = False) -> None:
        #: True for statements ricci derived (printed with factors in chain order)
        self.derived = derived
        self.name = name
        self.indices = tuple(indices)
        self.rhs = rhs
        self.span = span
        self.ref_spans = dict(ref_spans or {})
        self.index_spans = dict(index_spans or {})

    @property
    def lhs(self) -> Tensor:
        return Tensor(self.name, self.indices)

    def replace(self, rhs: Expr) -> Statement:
        return Statement(self.name, self.indices, rhs, span=self.span,
                         ref_spans=self.ref_spans, index_spans=self.index_spans,
                         derived=self.derived)

    @guarded("comparing")
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Statement):
            return NotImplemented
        return (self.name, self.indices, self.rhs) == (other.name, other.indices, other.rhs)

    def __hash__(self) -> int:
        return hash((self.name, self.indices, self.rhs))

    @guarded("printing")
    def __str__(self) -> str:
        with gc_paused():
            return _printer().statement(self, "text")

    __repr__ = __str__


class Program:
    """An immutable sequence of statements, with the dims of every tensor's axes."""

    def __init__(self, statements: Iterable[Statement], dims: Mapping[str, Sequence[str]],
                 *, dim_names: Mapping[str, Sequence[str]] | None = None,
                 source: str | None = None, inputs: Sequence[str] | None = None,
                 declared: Mapping[str, str] | None = None) -> None:
        """``inputs``, when the caller knows them, must be what would be computed: the
        names used but not defined, in order of first use. ``declared`` (input -> fact)
        keeps the facts about the inputs this program has (a derived program passes its
        source's declarations: those of names it does not read are dropped)."""
        self.statements: tuple[Statement, ...] = tuple(statements)
        self.dims: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in dims.items()}
        #: index names that denote each dim label (for ``sizes={...}`` and messages)
        self.dim_names: dict[str, tuple[str, ...]] = {k: tuple(v) for k, v in (dim_names or {}).items()}
        #: the program text it was read from (for carets in error messages), or None
        self.text = source
        self.defined: dict[str, Statement] = {s.name: s for s in self.statements}
        if inputs is None:
            seen: dict[str, None] = {}
            for s in self.statements:
                for r in tensor_refs(s.rhs):
                    if r.name not in self.defined:
                        seen.setdefault(r.name, None)
            inputs = tuple(seen)
        self.inputs: tuple[str, ...] = tuple(inputs)
        declared = declared or {}
        #: input -> the fact declared about it (SYMMETRIC or SPD), in the order of the inputs
        self.declared: dict[str, str] = {n: declared[n] for n in self.inputs if n in declared}

    def rank(self, name: str) -> int:
        return len(self.dims[name])

    def is_scalar(self, name: str) -> bool:
        return len(self.dims[name]) == 0

    def names_for_dim(self, dim: str) -> tuple[str, ...]:
        return self.dim_names.get(dim, ())

    def upto(self, name: str) -> Program:
        """The statements ``name`` depends on (and its own), in order."""
        need = {name}
        keep: list[Statement] = []
        for s in reversed(self.statements):
            if s.name in need:
                keep.append(s)
                need.update(r.name for r in tensor_refs(s.rhs))
        return Program(reversed(keep), self.dims, dim_names=self.dim_names, source=self.text,
                       declared=self.declared)

    @guarded("comparing")
    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Program):
            return NotImplemented
        return self.statements == other.statements and self.declared == other.declared

    def __hash__(self) -> int:
        return hash((self.statements, tuple(sorted(self.declared.items()))))

    @guarded("printing")
    def __str__(self) -> str:
        with gc_paused():
            return _printer().program(self)

    def __repr__(self) -> str:
        return f"Program({str(self)!r})"

    @guarded("printing")
    def latex(self) -> str:
        """The program in LaTeX, as written: one equation, or an ``aligned`` block."""
        p = _printer()
        with gc_paused():
            rows = [p.statement(s, "latex") for s in self.statements]
        letters = "ijklmnopq"
        decls = [p.declaration(name, letters[:len(self.dims.get(name, ())) or 2], fact, "latex")
                 for name, fact in self.declared.items()]
        return p.equations(decls + rows)

    @guarded("printing")
    def unicode(self) -> str:
        """The program in Unicode index notation (``Y_ij = X_ik A_kj``), one statement a line."""
        p = _printer()
        with gc_paused():
            letters = "ijklmnopq"
            decls = [p.declaration(name, letters[:len(self.dims.get(name, ())) or 2], fact, "unicode")
                     for name, fact in self.declared.items()]
            return "\n".join([*decls, *(p.statement(s, "unicode") for s in self.statements)])

    # -- working on a program without differentiating it (implemented above ir, by
    # ricci.expressions, which installs itself here when ricci is imported)
    def simplify(self) -> Program:
        """An equal program, simplified: each right-hand side by ricci's simplifier (deltas
        eat indices), and each statement holding a Kronecker delta that others read
        substituted into them (``S[k,l] = s[k] * delta[k,l]`` then ``A[i,j] = U[i,k] *
        S[k,l] * V[l,j]`` becomes ``A[i,j] = U[i,k] * s[k] * V[k,j]``); the outputs (the
        last statement, and any no other statement reads) stay."""
        return _tools().simplify(self)

    def matrix(self) -> Any:
        """The statements in matrix notation where it exists (``C = A @ B``), as a
        :class:`~ricci.display.matrix.MatrixView` (``str()``: text, ``.latex()``)."""
        return _tools().matrix(self)

    def source(self, backend: str = "numpy") -> str:
        """Standalone Python source (``backend``: numpy, torch or jax) of a function taking
        the inputs and returning a dict of the outputs (:func:`output_names`)."""
        return _tools().source(self, backend)

    def compile(self, backend: str = "numpy") -> Any:
        """The function of :meth:`source`, compiled, with its inputs checked
        (:class:`~ricci.codegen.calling.Compiled`): ``f(X=..., A=...)`` -> ``{"Y": ...}``."""
        return _tools().compile(self, backend)

    def _repr_markdown_(self) -> str:
        return "```\n" + str(self) + "\n```\n\n$$" + self.latex() + "$$"

    def _repr_latex_(self) -> str:
        return "$$" + self.latex() + "$$"


def declaration_lines(prog: Program) -> list[str]:
    """The program's declarations as ricci text, one a line (``S[i,j] : symmetric``)."""
    letters = "ijklmnopq"
    return [f"{name}[{','.join(letters[:len(prog.dims.get(name, ())) or 2])}] : {fact}"
            for name, fact in prog.declared.items()]


def depends_on(prog: Program, roots: Iterable[str]) -> set[str]:
    """``roots`` and every statement that depends on one of them, in program order."""
    dep = set(roots)
    for s in prog.statements:
        if any(r.name in dep for r in tensor_refs(s.rhs)):
            dep.add(s.name)
    return dep


def ancestors(prog: Program, out: str) -> set[str]:
    """``out`` and every tensor its value is computed from."""
    need = {out}
    for s in reversed(prog.statements):
        if s.name in need:
            need.update(r.name for r in tensor_refs(s.rhs))
    return need


def output_names(prog: Program) -> list[str]:
    """The program's outputs, in order: the statements no later statement reads, and the
    last statement."""
    read = {r.name for s in prog.statements for r in tensor_refs(s.rhs)}
    last = prog.statements[-1].name if prog.statements else None
    return [s.name for s in prog.statements if s.name not in read or s.name == last]


class ProgramTools(Protocol):
    """What a :class:`Program` does beyond printing, implemented by a higher stage."""

    def simplify(self, p: Program) -> Program: ...

    def matrix(self, p: Program) -> Any: ...

    def source(self, p: Program, backend: str) -> str: ...

    def compile(self, p: Program, backend: str) -> Any: ...


_TOOLS: list[ProgramTools] = []


def install_tools(t: ProgramTools) -> None:
    """Make ``t`` the implementation of :meth:`Program.simplify`, ``matrix``, ``source``
    and ``compile`` (the last one installed wins)."""
    _TOOLS[:] = [t]


def _tools() -> ProgramTools:
    if not _TOOLS:  # pragma: no cover - only while ricci itself is being imported
        raise RicciError("ricci.expressions is not loaded: import ricci first")
    return _TOOLS[0]


def _printer() -> printing.Printer:
    p = printing.printer()
    if p is None:  # pragma: no cover - only while ricci itself is being imported
        raise RicciError("ricci.display is not loaded: import ricci first")
    return p
