"""What a derivation found, as data: a core (the derived program and what it computes)
plus one part per mode that made it (reverse, tangent, second order).

A record is immutable and compared by identity (two derivations are never merged); the
views of a record (text, matrix notation, steps, code) live above this stage, in
:mod:`ricci.display`, :mod:`ricci.codegen` and the :class:`ricci.Derivation` facade.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping

from .. import validate
from ..errors import RicciError
from ..ir.expr import Expr
from ..ir.program import Program, Statement

__all__ = ["DerivationRecord", "Reverse", "Second", "Tangent"]


@dataclass(frozen=True, eq=False)
class Reverse:
    """Reverse mode's part: which tensor each adjoint is the gradient of (``dX`` -> ``X``,
    ``dY`` -> ``Y`` for the upstream gradient; read as dl/dX), and every adjoint in the
    order it was derived, the ones substituted into their uses too (``dp`` of a logistic
    regression, which ``program`` does not hold)."""

    adjoint_of: Mapping[str, str] = field(default_factory=dict)
    replay: tuple[Statement, ...] = ()


@dataclass(frozen=True, eq=False)
class Tangent:
    """Forward mode's part: each tangent statement of a JVP -> its primal."""

    tangent_of: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, eq=False)
class Second:
    """A second derivative's part: the gradient and the forward-mode derivation of it;
    each Hessian statement -> (loss, x, rank of x, y, diagonal), read d2 loss/dx dy; the
    intermediate Jacobians (or tangents) substituted into the result, by name (each with
    the earlier ones substituted into it)."""

    gradient: "DerivationRecord"
    jacobian: "DerivationRecord"
    hessians: Mapping[str, tuple[str, str, int, str, bool]] = field(default_factory=dict)
    inlined: Mapping[str, Statement] = field(default_factory=dict)


@dataclass(frozen=True, eq=False, repr=False)
class DerivationRecord:
    """A gradient, Jacobian, JVP, Hessian or HVP: an ordinary program plus what it
    computes.

    Invariants: ``program`` is the forward statements the result needs, then the derived
    ones; ``outputs`` maps each ``wrt`` input (``"x,y"`` for a mixed Hessian) to a
    statement of ``program``; ``shown`` is what a person reads, in order; ``inputs`` are
    the inputs of ``source_program`` up to ``of``, then the ``wrt`` inputs it lacks, then
    ``seed``; ``code_program`` computes the same outputs as ``program``.
    """

    kind: str  #: "grad", "jacobian", "jvp", "hessian" or "hvp"
    program: Program
    source_program: Program
    wrt: tuple[str, ...]
    of: str
    outputs: Mapping[str, str]
    shown: tuple[Statement, ...]
    #: the forward program as differentiated (up to ``of``, with the function arguments
    #: ricci named, such as ``z1``)
    forward: Program
    #: the program the generated code computes: ``program``, or the same results with
    #: intermediate Jacobians that hold a delta substituted into their uses
    code_program: Program
    #: the upstream gradient (a Jacobian-vector product's tangent, an HVP's vector)
    seed: str | None = None
    #: a derived tensor's name as printed, e.g. dZ/dW
    display: Mapping[str, str] = field(default_factory=dict)
    #: derived tensors printed as derivatives where they are used, e.g. (dZ[n,h]/dW[p,q])
    refs: Mapping[str, tuple[str, int, str]] = field(default_factory=dict)
    #: values used inline instead of a statement: in reverse mode the adjoint of an
    #: intermediate that is a constant or another tensor (by the intermediate's name); in
    #: forward mode a constant Jacobian (by ``"Z/X"``)
    inline: Mapping[str, Expr] = field(default_factory=dict)
    reverse: Reverse = field(default_factory=Reverse)
    tangent: Tangent = field(default_factory=Tangent)
    second: Second | None = None

    @property
    def inputs(self) -> tuple[str, ...]:
        """The keyword arguments of the compiled function, in order."""
        base = list(self.source_program.upto(self.of).inputs)
        base += [w for w in self.wrt if w not in base]
        return tuple(base) + ((self.seed,) if self.seed else ())

    @property
    def loss(self) -> str:
        """The name of the differentiated quantity: the scalar output, or ``l`` when the
        output is a tensor (the loss downstream of it, as in the articles' dl/dY)."""
        if (self.kind == "grad" and self.seed is None) or self.kind in ("hessian", "hvp"):
            return self.of
        return "l"

    @property
    def hessians(self) -> Mapping[str, tuple[str, str, int, str, bool]]:
        """Each Hessian statement -> (loss, x, rank of x, y, diagonal); empty below order 2."""
        return self.second.hessians if self.second is not None else {}

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.kind} of {self.of} w.r.t. {', '.join(self.wrt)}>"

    def adjoints(self) -> dict[str, tuple[str, str]]:
        """Each adjoint tensor -> (loss, the tensor it is the gradient of), for printing."""
        return {a: (self.loss, p) for a, p in self.reverse.adjoint_of.items()}

    def __getitem__(self, name: str) -> Statement:
        """The statement giving the result for input ``name`` (``d["X"]``)."""
        validate.name(name, "the key of a derivation")
        if name not in self.outputs:
            raise RicciError(f"no result for '{name}': this derivation is w.r.t. {', '.join(self.wrt)}")
        return self.program.defined[self.outputs[name]]
