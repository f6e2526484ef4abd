"""Binding sizes at call time: every dim of a program gets one size, or a clear error.

Sizes come from the arrays passed in (each input axis has a dim label, see
:mod:`ricci.resolve`), and, for dims no input carries, from a ``sizes`` mapping keyed by
index name. Two arrays that disagree on a dim raise :class:`RicciError` naming the index,
both tensors and both sizes, with a caret at the place in the program that ties them.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from .errors import RicciError, Span
from .expr import index_occurrences
from .program import Program


def _span_of(program: Program, tensor: str) -> Span | None:
    for s in program.statements:
        if tensor in s.ref_spans:
            return s.ref_spans[tensor]
    return None


def _index_label(program: Program, dim: str) -> str:
    names = program.names_for_dim(dim)
    if not names:
        return f"index of size class {dim}"
    if len(names) == 1:
        return f"index '{names[0]}'"
    return "index " + "/".join(f"'{n}'" for n in names)


def all_dims(program: Program) -> list[str]:
    out: dict[str, None] = {}
    for dims in program.dims.values():
        for d in dims:
            out.setdefault(d, None)
    for s in program.statements:
        for i in index_occurrences(s.rhs):
            out.setdefault(i.dim, None)
        for i in s.indices:
            out.setdefault(i.dim, None)
    return list(out)


def bind_sizes(program: Program, arrays: Mapping[str, Any], inputs: Sequence[str],
               sizes: Mapping[str, int] | None = None,
               dim_sizes: Mapping[str, int] | None = None,
               spans: Program | None = None) -> dict[str, int]:
    """Check the arrays against the program and return the size of every dim.

    ``inputs`` are the names the caller must pass (all of them, no others). Dims no
    array carries take their size from ``sizes`` (by index name) or ``dim_sizes`` (by
    dim label). Error carets point into ``spans`` (default: ``program``), the program
    the user wrote.
    """
    where = spans or program
    src = where.source
    missing = [n for n in inputs if n not in arrays]
    if missing:
        name = missing[0]
        raise RicciError(f"missing input '{name}'" + (
            f" (and {', '.join(repr(m) for m in missing[1:])})" if len(missing) > 1 else ""),
            span=_span_of(where, name), source=src,
            hint="pass every input as a keyword argument: " + ", ".join(inputs))
    extra = [n for n in arrays if n not in inputs]
    if extra:
        import difflib

        close = difflib.get_close_matches(extra[0], list(inputs), n=1)
        raise RicciError(f"unknown input '{extra[0]}'",
                         hint=(f"did you mean '{close[0]}'? " if close else "") +
                         "the inputs are: " + ", ".join(inputs))
    bound: dict[str, tuple[int, str, int]] = {}
    for name in inputs:
        shape = tuple(getattr(arrays[name], "shape", ()))
        dims = program.dims[name]
        if len(shape) != len(dims):
            want = f"{len(dims)} ax{'i' if len(dims) == 1 else 'e'}s"
            raise RicciError(f"input '{name}' must have {want} but has shape {shape}",
                             span=_span_of(where, name), source=src)
        for a, (d, n) in enumerate(zip(dims, shape)):
            if d in bound and bound[d][0] != n:
                n0, t0, a0 = bound[d]
                raise RicciError(
                    f"sizes disagree for {_index_label(program, d)}: '{t0}' has size {n0} "
                    f"along axis {a0} but '{name}' has size {n} along axis {a}",
                    span=_span_of(where, name), source=src,
                    hint="the same index must have the same size everywhere it is used")
            bound.setdefault(d, (n, name, a))
    out = {d: v[0] for d, v in bound.items()}
    sizes = dict(sizes or {})
    for k, v in sizes.items():
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise RicciError(f"size of index '{k}' must be a non-negative int, got {v!r}")
    for d in all_dims(program):
        if d in out:
            continue  # the arrays decide
        if dim_sizes and d in dim_sizes:
            out[d] = dim_sizes[d]
            continue
        names = program.names_for_dim(d)
        given = [(k, sizes[k]) for k in names if k in sizes]
        if len({v for _, v in given}) > 1:
            (k1, v1), (k2, v2) = given[0], next(g for g in given if g[1] != given[0][1])
            raise RicciError(f"sizes disagree: '{k1}' and '{k2}' denote the same dimension "
                             f"but sizes gives {v1} and {v2}")
        if given:
            out[d] = given[0][1]
        else:
            label = names[0] if names else d
            raise RicciError(f"the size of index '{label}' is unknown: no input has it",
                             hint=f"pass sizes={{'{label}': ...}}")
    return out
