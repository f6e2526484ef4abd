"""The syntax tree both readers build: ``StmtA`` statements of ``Ref``, ``CallA``, ``ProdA``, ...
nodes, which keep the :class:`~ricci.errors.Span` of what they were read from (a sum and a
product through their terms and factors).

The ricci reader (:mod:`.parse`) and the LaTeX reader (:mod:`.latex`) build the same nodes,
so :mod:`.resolve` applies the index rule and reports errors alike for both, with carets
into the text as written. The tree records the formula as written (parentheses are
``Group`` nodes; signs and divisions stay as written): which indices are free and which
are summed is decided later, by :mod:`.resolve`. A node's ``kids()`` are its children in
source order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction

from ..errors import Span

__all__ = [
    "AddA", "CallA", "DeclA", "DeltaA", "Group", "MatCallA", "Name", "NegA", "Node", "Num", "PowA", "ProdA",
    "Ref", "SizeA", "StmtA", "SumA",
]


@dataclass
class Name:
    """An index name as written, with its place."""

    name: str
    span: Span


@dataclass
class Num:
    value: Fraction
    span: Span

    def kids(self) -> tuple[Node, ...]:
        return ()


@dataclass
class Ref:
    name: str
    indices: list[Name]
    span: Span
    bracketed: bool

    def kids(self) -> tuple[Node, ...]:
        return ()


@dataclass
class CallA:
    fn: str
    arg: Node
    span: Span

    def kids(self) -> tuple[Node, ...]:
        return (self.arg,)


@dataclass
class MatCallA:
    """``inv(A)[i,j]``, ``det(A)``: a function of the whole matrix ``operand``.

    ``slots`` are two placeholder index names, unique in the program, that stand for the
    operand's rows and columns while sizes are worked out."""

    fn: str
    operand: Name
    indices: list[Name]
    span: Span
    slots: tuple[str, str] = ("", "")

    def kids(self) -> tuple[Node, ...]:
        return ()


@dataclass
class SumA:
    indices: list[Name]
    body: Node
    span: Span

    def kids(self) -> tuple[Node, ...]:
        return (self.body,)


@dataclass
class DeltaA:
    indices: list[Name]
    span: Span

    def kids(self) -> tuple[Node, ...]:
        return ()


@dataclass
class SizeA:
    index: Name
    span: Span

    def kids(self) -> tuple[Node, ...]:
        return ()


@dataclass
class AddA:
    terms: list[tuple[int, Node]]  # (sign, term)

    def kids(self) -> tuple[Node, ...]:
        return tuple(t for _, t in self.terms)


@dataclass
class ProdA:
    factors: list[tuple[bool, Node]]  # (divides, factor)

    def kids(self) -> tuple[Node, ...]:
        return tuple(f for _, f in self.factors)


@dataclass
class NegA:
    node: Node
    span: Span

    def kids(self) -> tuple[Node, ...]:
        return (self.node,)


@dataclass
class PowA:
    base: Node
    exp: Node
    span: Span

    def kids(self) -> tuple[Node, ...]:
        return (self.base, self.exp)


@dataclass
class Group:
    node: Node
    span: Span

    def kids(self) -> tuple[Node, ...]:
        return (self.node,)


Node = Num | Ref | CallA | MatCallA | SumA | DeltaA | SizeA | AddA | ProdA | NegA | PowA | Group


@dataclass
class StmtA:
    name: str
    indices: list[Name] | None  # None: a scalar, written without brackets
    rhs: Node
    span: Span
    text: str = field(default="")  # the source line


@dataclass
class DeclA:
    """A declaration ``S[i,j] : symmetric``: a fact about the input ``S``. ``fact`` is the
    property's canonical name (:data:`ricci.ir.program.FACTS`), ``words`` the words as
    written, with their place."""

    name: str
    indices: list[Name]
    fact: str
    words: list[Name]
    span: Span


def nodes(root: Node) -> list[Node]:
    """Every node under ``root`` (itself included) in source order, without recursion."""
    out: list[Node] = []
    stack = [root]
    while stack:
        n = stack.pop()
        out.append(n)
        kids = n.kids()
        if kids:
            stack.extend(reversed(kids))
    return out
