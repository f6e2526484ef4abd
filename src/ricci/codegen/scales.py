"""A number every product of a value carries, applied once where the value is computed.

``dQ[b,h,i,d] = K[b,h,j,d] * dS[b,h,i,j] / sqrt(size(d))`` and ``dK[b,h,j,d] = Q[b,h,i,d] *
dS[b,h,i,j] / sqrt(size(d))`` (attention's backward) contract ``dS`` with the same number:
the code scales each product's result, ``c * (dS @ K)``, a pass over it after the matrix
product, where a compiler that fuses elementwise work (XLA) scales ``dS`` in the loop
that computes it anyway, for nothing. :func:`scale_once` rewrites such a program: a
statement ``dS_scaled[...] = c * (rhs of dS)`` in place of ``dS``, and the products read
it without ``c``. Only for a value every use of which is such a product (each has the same
numbers as factors, other than a lone sign, and sums over an index of the value, the one
computed value among its factors), that is not an output, and whose right-hand side is
elementwise work (not itself a product that is summed, nor a copy).
The values are those of the program; only the code's names differ.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping

from ..ir.expr import MINUS_ONE, Expr, Mul, Sum, Tensor
from ..ir.program import Program, Statement
from ..ir.traversal import contains, tensor_names, walk
from .stable import claim

__all__ = ["scale_once"]


def _numbers(m: Mul) -> tuple[Expr, ...]:
    """The factors of ``m`` without an index or a tensor (``1/sqrt(size(d))``, ``2``)."""
    return tuple(f for f in m.factors if not f.free and not contains(f, Tensor))


def scale_once(program: Program, names: set[str], outputs: set[str]) -> Program:
    """``program`` with the numbers every contraction of a value multiplies by moved into
    the value's own statement (module docstring); unchanged when no value qualifies.
    ``names``: the statements the code computes; ``outputs``: those it returns."""
    defined = {st.name: st for st in program.statements if st.name in names}
    total: Counter[str] = Counter()
    scaled: dict[str, list[tuple[Expr, ...]]] = {}
    for st in program.statements:
        if st.name not in names:
            continue
        for node in walk(st.rhs):
            if isinstance(node, Tensor) and node.name in defined:
                total[node.name] += 1
            if isinstance(node, Sum) and isinstance(node.body, Mul):
                refs = [f for f in node.body.factors if isinstance(f, Tensor) and f.name in defined]
                nums = _numbers(node.body)
                # one value per product takes its numbers (two would each want them)
                if nums and nums != (MINUS_ONE,) and len(refs) == 1 and set(node.indices) & set(refs[0].indices):
                    scaled.setdefault(refs[0].name, []).append(tuple(sorted(nums, key=repr)))
    chosen: dict[str, tuple[Expr, ...]] = {}
    for name, uses in scaled.items():
        st = defined[name]
        if name in outputs or isinstance(st.rhs, (Sum, Tensor)) or len(uses) != total[name] or len(set(uses)) != 1:
            continue
        chosen[name] = uses[0]
    if not chosen:
        return program
    taken = set(program.dims) | set(program.defined)
    new_name = {name: claim(f"{name}_scaled", taken) for name in chosen}
    dims = dict(program.dims)
    out: list[Statement] = []
    for st in program.statements:
        rhs = st.rhs
        if st.name in names and not tensor_names(rhs).isdisjoint(chosen):
            rhs = _unscaled(rhs, chosen, new_name)
        if st.name in chosen:
            dims[new_name[st.name]] = dims[st.name]
            out.append(Statement(new_name[st.name], st.indices, Mul(chosen[st.name] + (rhs,)), derived=st.derived))
            continue
        out.append(st if rhs is st.rhs else st.replace(rhs))
    return Program(out, dims, dim_names=program.dim_names, source=program.text, declared=program.declared)


def _unscaled(e: Expr, chosen: Mapping[str, tuple[Expr, ...]], new_name: Mapping[str, str]) -> Expr:
    """``e`` with each product over a chosen value reading its scaled statement, without
    the numbers that statement now holds (inner products first: a chosen value's every
    occurrence is the one value of such a product)."""
    kids = e.children
    if kids:
        new = tuple(_unscaled(k, chosen, new_name) for k in kids)
        if any(a is not b for a, b in zip(new, kids)):
            e = e.rebuild(new)
    if isinstance(e, Sum) and isinstance(e.body, Mul):
        refs = [f for f in e.body.factors if isinstance(f, Tensor) and f.name in chosen]
        if refs:
            (ref,) = refs
            factors = list(e.body.factors)
            for num in chosen[ref.name]:
                factors.remove(num)
            factors = [Tensor(new_name[ref.name], ref.indices) if f is ref else f for f in factors]
            return Sum(e.indices, Mul(factors) if len(factors) > 1 else factors[0])
    return e
