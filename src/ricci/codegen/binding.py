"""Binding sizes at call time: every dim of a program gets one size, or a clear error.

Sizes come from the arrays passed in (each input axis has a dim label, see
:mod:`ricci.syntax.resolve`), and, for dims no input carries, from a ``sizes`` mapping keyed by
index name. Two arrays that disagree on a dim raise :class:`RicciError` naming the index,
both tensors and both sizes, with a caret at the place in the program that ties them.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ..errors import RicciError, Span
from ..ir.program import Program
from ..ir.traversal import index_occurrences
from ..primitives.functions import MATRIX_FUNCTIONS

__all__ = ["Binder", "all_dims"]


def _span_of(program: Program, tensor: str) -> Span | None:
    for s in program.statements:
        if tensor in s.ref_spans:
            return s.ref_spans[tensor]
    return None


def _index_label(program: Program, dim: str) -> str:
    """A dim as a person knows it: by its index names, else as an axis of a tensor
    (``axis 0 of 'K'``); never by its internal label."""
    names = [n for n in program.names_for_dim(dim) if not n.startswith("#")]
    if len(names) == 1:
        return f"index '{names[0]}'"
    if names:
        return "index " + "/".join(f"'{n}'" for n in names)
    for name in list(program.inputs) + list(program.defined):
        dims = program.dims.get(name, ())
        if dim in dims:
            return f"axis {dims.index(dim)} of '{name}'"
    return "an index of the program"  # pragma: no cover - every dim belongs to a tensor or an index


def all_dims(program: Program) -> list[str]:
    """The dims the statements of ``program`` use (its inputs' axes, the statements' axes
    and every index in them); a tensor's dims count only where a statement uses it."""
    out: dict[str, None] = {}
    used = set(program.inputs) | set(program.defined)
    for name, dims in program.dims.items():
        if name in used:
            for d in dims:
                out.setdefault(d, None)
    for s in program.statements:
        for i in index_occurrences(s.rhs):
            out.setdefault(i.dim, None)
        for i in s.indices:
            out.setdefault(i.dim, None)
    return list(out)


class Binder:
    """Checks arrays against a program and gives every dim its size.

    Built once per program (the tables are precomputed); :meth:`bind` runs per call.
    ``inputs`` are the names the caller must pass (all of them, no others). Error carets
    point into ``spans`` (default: ``program``), the program the user wrote.
    """

    def __init__(self, program: Program, inputs: Sequence[str], spans: Program | None = None) -> None:
        self.program = program
        self.inputs = tuple(inputs)
        self.input_set = frozenset(inputs)
        self.where = spans or program
        self.input_dims = [(name, program.dims[name]) for name in self.inputs]
        carried = {d for _, dims in self.input_dims for d in dims}
        self.other_dims = [d for d in all_dims(program) if d not in carried]

    def dim_label(self, dim: str) -> str:
        """A dim as a person knows it (``index 'd'``, ``axis 0 of 'K'``)."""
        return _index_label(self.program, dim)

    def error(self, message: str, name: str | None = None, hint: str | None = None) -> RicciError:
        span = _span_of(self.where, name) if name else None
        return RicciError(message, span=span, source=self.where.text, hint=hint)

    def bind(self, arrays: Mapping[str, Any], sizes: Mapping[str, int] | None = None,
             dim_sizes: Mapping[str, int] | None = None) -> dict[str, int]:
        """Sizes of every dim. Dims no array carries take their size from ``sizes`` (by
        index name) or ``dim_sizes`` (by dim label)."""
        self.check_names(arrays)
        out: dict[str, int] = {}
        owner: dict[str, tuple[str, int]] = {}
        for name, dims in self.input_dims:
            shape = getattr(arrays[name], "shape", ())
            if len(shape) != len(dims):
                want = f"{len(dims)} ax{'i' if len(dims) == 1 else 'e'}s"
                raise self.error(f"input '{name}' must have {want} but has shape {tuple(shape)}", name)
            for a, d in enumerate(dims):
                n = shape[a]
                m = out.setdefault(d, n)
                if m != n:
                    t0, a0 = owner[d]
                    if t0 == name:  # one tensor, two axes of one size
                        raise self.error(
                            f"'{name}' must be square along axes {a0} and {a}, but its shape is "
                            f"{tuple(shape)}", name,
                            hint=f"a matrix function ({', '.join(MATRIX_FUNCTIONS)}) or a "
                                 "repeated index (A[i,i]) needs equal sizes")
                    raise self.error(
                        f"sizes disagree for {_index_label(self.program, d)}: '{t0}' has size {m} "
                        f"along axis {a0} but '{name}' has size {n} along axis {a}", name,
                        hint="the same index must have the same size everywhere it is used")
                owner.setdefault(d, (name, a))
        if sizes:
            self._agree(out, owner, sizes)
        if self.other_dims:
            self._other_sizes(out, sizes or {}, dim_sizes or {})
        return out

    def _agree(self, out: Mapping[str, int], owner: Mapping[str, tuple[str, int]],
               sizes: Mapping[str, int]) -> None:
        """A size given for an index an input carries must be the input's."""
        for d, n in out.items():
            for k in self.program.names_for_dim(d):
                if k in sizes and sizes[k] != n:
                    t, a = owner[d]
                    raise self.error(f"sizes gives index '{k}' size {sizes[k]!r}, but '{t}' has size "
                                     f"{n} along axis {a}", t,
                                     hint=f"drop '{k}' from sizes (the arrays give it), or pass "
                                          f"arrays of that size")

    def check_names(self, arrays: Mapping[str, Any]) -> None:
        """Every input given, and nothing else (a missing one is pointed at in the program)."""
        if len(arrays) != len(self.inputs) or not self.input_set.issuperset(arrays):
            self._missing_or_unknown(arrays)

    def _missing_or_unknown(self, arrays: Mapping[str, Any]) -> None:
        missing = [n for n in self.inputs if n not in arrays]
        if missing:
            raise self.error(f"missing input '{missing[0]}'" + (
                f" (and {', '.join(repr(m) for m in missing[1:])})" if len(missing) > 1 else ""),
                missing[0], hint="pass every input as a keyword argument: " + ", ".join(self.inputs))
        extra = [n for n in arrays if n not in self.input_set]
        import difflib

        close = difflib.get_close_matches(extra[0], list(self.inputs), n=1)
        raise RicciError(f"unknown input '{extra[0]}'",
                         hint=(f"did you mean '{close[0]}'? " if close else "") +
                         "the inputs are: " + ", ".join(self.inputs))

    def _other_sizes(self, out: dict[str, int], sizes: Mapping[str, int],
                     dim_sizes: Mapping[str, int]) -> None:
        for k, v in sizes.items():
            if not isinstance(v, int) or isinstance(v, bool) or v < 0:
                raise RicciError(f"size of index '{k}' must be a non-negative int, got {v!r}")
        for d in self.other_dims:
            if d in dim_sizes:
                out[d] = dim_sizes[d]
                continue
            names = self.program.names_for_dim(d)
            given = [(k, sizes[k]) for k in names if k in sizes]
            if len({v for _, v in given}) > 1:
                (k1, v1), (k2, v2) = given[0], next(g for g in given if g[1] != given[0][1])
                raise RicciError(f"sizes disagree: '{k1}' and '{k2}' denote the same dimension "
                                 f"but sizes gives {v1} and {v2}")
            if not given:
                label = _index_label(self.program, d)
                key = next((n for n in names if not n.startswith("#")), None)
                raise RicciError(f"the size of {label} is unknown: no input has it",
                                 hint=f"pass sizes={{'{key}': ...}}" if key else None)
            out[d] = given[0][1]


def bind_sizes(program: Program, arrays: Mapping[str, Any], inputs: Sequence[str],
               sizes: Mapping[str, int] | None = None,
               dim_sizes: Mapping[str, int] | None = None,
               spans: Program | None = None) -> dict[str, int]:
    """One-off :meth:`Binder.bind` (see :class:`Binder`)."""
    return Binder(program, inputs, spans).bind(arrays, sizes, dim_sizes)
