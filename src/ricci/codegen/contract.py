"""The order in which the operands of a summed product are contracted: pairwise, as
opt_einsum chooses for the sizes at hand. Shared by code generation (:mod:`.lower`) and
the matrix view (:mod:`ricci.display.matrix`), so both pair the operands the same way.
"""

from __future__ import annotations

from typing import Callable

import opt_einsum as oe

from ..ir.expr import Index
from .values import Axes

__all__ = ["contract_pairwise", "split_axes"]


def contract_pairwise(ops: list, keep: Axes, size: Callable[[Index], int], optimal_upto: int,
                      reduce: Callable, binary: Callable, store: Callable = lambda v: v):
    """Contract ``ops`` (values with ``.axes``) down to the axes ``keep``, two at a time in
    the order opt_einsum chooses for the sizes ``size(axis)`` (its optimal search up to
    ``optimal_upto`` operands, greedy beyond). ``reduce(v, axes)`` sums a lone operand
    down to ``axes``; ``binary(a, b, needed)`` contracts two, keeping the axes in
    ``needed``; ``store`` is applied to every intermediate (not to the result). Shared by
    code generation and the matrix view, so both pair the operands the same way."""
    letters: dict[Index, str] = {}
    for v in ops:
        for a in v.axes:
            letters.setdefault(a, oe.get_symbol(len(letters)))
    spec = ",".join("".join(letters[a] for a in v.axes) for v in ops) + "->" + \
        "".join(letters[a] for a in keep)
    shapes = [tuple(size(a) for a in v.axes) for v in ops]
    path, _ = oe.contract_path(spec, *shapes, shapes=True,
                               optimize="optimal" if len(ops) <= optimal_upto else "greedy")
    live = list(ops)
    for pair in path:
        picked = [live[k] for k in sorted(pair)]
        for k in sorted(pair, reverse=True):
            live.pop(k)
        needed = set(keep)
        for v in live:
            needed.update(v.axes)
        if len(picked) == 1:
            new = reduce(picked[0], tuple(a for a in picked[0].axes if a in needed))
        else:
            new = picked[0]
            for nxt in picked[1:]:
                new = binary(new, nxt, needed)
        live.append(store(new) if live else new)
    (res,) = live
    return res


def split_axes(a: Axes, b: Axes, keep) -> tuple[list[Index], list[Index], list[Index], list[Index]]:
    """The axes of a pairwise product of values with axes ``a`` and ``b``, kept ``keep``:
    (batch: in both and kept, contracted: in both and summed, only in a, only in b)."""
    return ([x for x in a if x in b and x in keep], [x for x in a if x in b and x not in keep],
            [x for x in a if x not in b], [x for x in b if x not in a])
