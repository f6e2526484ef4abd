"""Stage 6: generate a standalone Python function from a program, and compile it.

The generated source is readable: one assignment per statement (plus temporaries a
contraction needs), matrix products written ``X.T @ dZ``, reductions ``dZ.sum(axis=0)``,
and the derivation in index notation as the docstring. It depends only on the array
library of its backend (:mod:`.backends`). The statements are lowered one by one
(:mod:`.lower`), then scheduled (:func:`_schedule`): the terms of a sum accumulated as
soon as their inputs exist, and every intermediate deleted after its last use.
"""

from __future__ import annotations

import keyword
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from ..bounds import tick
from ..ir.expr import Add, Tensor
from ..ir.program import Program
from ..ir.traversal import map_bottom_up, tensor_refs
from ..primitives.functions import helpers
from .backends import BACKENDS, EmitBackend, get_backend
from .inplace import reuse_buffers
from .kernels import Kernel, lift_calls, plan_kernels
from .lower import Lowerer, fold_products, signed_terms
from .repeats import Repeats
from .scales import scale_once
from .stable import stabilize
from .values import ATOM, Val, signed_sum

__all__ = ["Generated", "compile_source", "generate"]

# ---------------------------------------------------------------- generation


@dataclass
class Generated:
    source: str
    function: str
    inputs: tuple[str, ...]
    #: dims the function needs in its ``sizes`` argument (no input carries them) -> key
    size_keys: dict[str, str]

    @property
    def needs_sizes(self) -> bool:
        return bool(self.size_keys)


def _py_names(names: Sequence[str], reserved: set[str]) -> dict[str, str]:
    """A distinct, valid Python identifier for every name: the name itself where it is one
    (``lambda`` becomes ``lambda_``, a name the code needs, ``np`` or ``sizes``, gets a
    ``_``). Python reads identifiers NFKC-normalised (``ｘ`` is ``x``), so names are kept
    distinct in that form, and a name that is no identifier (a program built by hand) is
    spelled with ``_`` for its other characters."""
    out: dict[str, str] = {}
    taken = {unicodedata.normalize("NFKC", r) for r in reserved} | {"sizes", "float"}
    for name in sorted(names, key=lambda n: (unicodedata.normalize("NFKC", n) != n, n)):
        base = unicodedata.normalize("NFKC", name)
        if not base.isidentifier():
            base = re.sub(r"\W", "_", base)
            base = base if base[:1].isalpha() or base[:1] == "_" else "_" + base
        cand = base + "_" if keyword.iskeyword(base) or base in taken else base
        k = 2
        while cand in taken or keyword.iskeyword(cand):
            cand = f"{base}_{k}"
            k += 1
        taken.add(cand)
        out[name] = cand
    return out


def generate(program: Program, outputs: Mapping[str, str], inputs: Sequence[str], *,
             backend: str = "numpy", function: str = "f", doc: str = "",
             size_hints: Mapping[str, int] | None = None, in_place: bool = True) -> Generated:
    """Source of ``def function(inputs...)`` returning ``{key: value of outputs[key]}``.

    With ``in_place=False`` sums are accumulated out of place (``dU = dU + t``), so that
    every operation of a torch function can be differentiated again by autograd."""
    be = get_backend(backend)
    program = stabilize(program, set(outputs.values()))  # no overflow in sums of exp
    needed = _needed(program, set(outputs.values()))
    if be.fuses:  # a number every product of a value carries: scaled where it is computed
        program = scale_once(program, needed, set(outputs.values()))
        needed = _needed(program, set(outputs.values()))
    if be.kernels:  # exp and the like stay NumPy's vectorised ufuncs, read by the kernels
        program = lift_calls(program, needed)
        needed = _needed(program, set(outputs.values()))
    extra = {**getattr(be, "preludes", {}), **helpers(be.spelling)}  # helper name -> source
    # helper names are never a tensor's, whatever the backend (as the generated names agree)
    reserved = set(be.reserved) | {"_delta"} | {h for b in BACKENDS for h in helpers(b)} | \
        {h for e in BACKENDS.values() for h in getattr(e.cls, "preludes", {})}
    py = _py_names(list(dict.fromkeys(list(program.dims) + list(inputs))), reserved)
    # arrays the function makes take the dtype of an input with axes (else of any input)
    ranked = [n for n in inputs if program.dims.get(n)] or list(inputs)
    be.dtype = f"{py[ranked[0]]}.dtype" if ranked else None
    be.device = f"{py[ranked[0]]}.device" if ranked else None  # and live on its device
    renamed = {k: v for k, v in py.items() if k != v}
    counter = [0]
    taken = set(py.values())

    def tmp() -> str:
        while True:
            counter[0] += 1
            t = f"t{counter[0]}"
            if t not in taken:
                taken.add(t)
                return t

    size_src: dict[str, str] = {}
    for name in inputs:
        for a, d in enumerate(program.dims.get(name, ())):
            size_src.setdefault(d, f"{py[name]}.shape[{a}]")
    size_keys: dict[str, str] = {}

    def size_code(dim: str) -> str:
        if dim in size_src:
            return size_src[dim]
        if dim not in size_keys:
            size_keys[dim] = _size_key(program, dim)
        return f"sizes[{size_keys[dim]!r}]"

    hints = dict(size_hints or {})

    def size_hint(dim: str) -> int:
        return hints.get(dim, 64)

    steps: list[_Step] = []
    shared: dict = {}
    # the dims of every array the body names, in the order of its axes (for buffer reuse)
    temp_dims: dict[str, tuple[str, ...]] = {py[n]: tuple(d) for n, d in program.dims.items()
                                             if n in program.defined and n in py}
    out_names = set(outputs.values())
    kernels = plan_kernels(program, [st for st in program.statements if st.name in needed], out_names) \
        if be.kernels else []
    kernel_of = {n: k for k in kernels for n in k.names}
    kernel_sources: list[str] = []
    repeated = Repeats([st.rhs for st in program.statements if st.name in needed and st.name not in kernel_of])
    for st in program.statements:
        if st.name not in needed:
            continue
        tick()
        name = py[st.name]
        kernel = kernel_of.get(st.name)
        if kernel is not None:
            if st.name == kernel.names[0]:
                call, ksrc = _kernel_call(kernel, f"_k{len(kernel_sources) + 1}", program, inputs, py, size_code, be)
                kernel_sources.append(ksrc)
                steps.append(_Step(call))
            continue
        terms = _accumulable(st)
        if terms:
            # one step per term, so that each is added as soon as its inputs exist; a
            # negative coefficient is kept as a sign (subtracted), never read off the code
            # (:func:`signed_terms`: as the lowering of a sum does)
            for negated, term in signed_terms(terms):
                low = Lowerer(be, size_code, size_hint, tmp, shared, repeated, temp_dims)
                low.want, low.in_place = st.indices, in_place
                v = low.align(low.lower(_rename_refs(term, renamed)), st.indices)
                steps.append(_Step(low.lines, name, v, negated=negated, movable=True))
            continue
        low = Lowerer(be, size_code, size_hint, tmp, shared, repeated, temp_dims)
        low.want, low.in_place = st.indices, in_place
        v = low.lower(_rename_refs(st.rhs, renamed))
        target = st.indices
        if not target:
            # a number becomes an array scalar: backends' functions need one downstream
            code = be.scalar_result(v.code, v.number) if st.name in out_names or v.number else v.code
        elif set(target) <= set(v.axes) and len(v.axes) == len(target):
            code = low.align(v, target).code
        else:
            shape = _shape_code(program, st.name, inputs, py, size_code)
            if v.number:
                code = be.full(shape, v.code)
            else:
                code = be.broadcast(low.align(v, target).code if v.axes else v.code, shape)
        if st.name in out_names and code in py.values() and code != name:
            code = be.copy(code)  # never return an input (or another result) itself
        steps.append(_Step(low.lines + [f"{name} = {code}"], movable=st.name in out_names))
    keep = {py[n] for n in inputs} | {py[v] for v in out_names}
    body = _schedule(steps, be, keep, in_place, temp_dims)
    ret = ", ".join(f"{k!r}: {py[v]}" for k, v in outputs.items())
    body.append(f"return {{{ret}}}")
    args = ", ".join(py[n] for n in inputs)
    if size_keys:
        args = (args + ", " if args else "") + "*, sizes"
        doc = (doc + "\n\n" if doc else "") + "sizes: the sizes of indices no input carries: " + \
            ", ".join(f"{k!r}" for k in size_keys.values())
    lines = [be.header]
    text = "\n".join(body)
    if "_delta(" in text:
        lines.append(be.prelude)
    for helper, code in extra.items():
        if helper + "(" in text:
            lines.append(code)
    for ksrc in kernel_sources:
        lines.extend(["", "", ksrc])
    if kernel_sources:
        lines.append("")
    lines.append("")
    lines.append(f"def {function}({args}):")
    if doc:
        lines.append('    """' + doc.replace('"""', "'''").replace("\n", "\n    ") + '\n    """')
    lines.extend("    " + ln for ln in body)
    src = "\n".join(lines) + "\n"
    return Generated(src, function, tuple(inputs), size_keys)


@dataclass
class _Step:
    """Lines of generated code; an accumulation step adds the term ``value`` (subtracts
    it when ``negated``) into ``target``."""

    lines: list[str]
    target: str | None = None
    value: Val | None = None
    negated: bool = False
    #: may run as soon as its inputs exist (accumulations, and results nothing else reads)
    movable: bool = False

    @property
    def code(self) -> str:
        return self.value.code if self.value is not None else ""


#: a Python identifier in generated code (any letters: tensors may be named Ω or σ)
_IDENT = re.compile(r"(?<![.\w])(?!\d)\w+")


def _accumulable(st) -> list | None:
    """The terms of a sum that can be accumulated one by one (each has every index)."""
    rhs = st.rhs
    if not (isinstance(rhs, Add) and len(rhs.terms) >= 2 and st.indices):
        return None
    full = set(st.indices)
    return list(rhs.terms) if all(t.free == full for t in rhs.terms) else None


def _schedule(steps: list[_Step], be: EmitBackend, keep: set[str], in_place: bool = True,
              dims: Mapping[str, tuple[str, ...]] | None = None) -> list[str]:
    """Order the steps, emit the accumulations, and free every variable after its last use.

    An accumulation step moves up to just after the step that defines the last of its
    inputs, so a gradient summed over the steps of an RNN is built up during the backward
    pass and each step's values can be freed at once. Consecutive terms of one sum are
    joined back into a single ``a + b + c``. Where the backend updates arrays in place
    (and ``in_place``), a value is computed in the buffer of an array that dies there
    (:func:`.inplace.reuse_buffers`; ``dims``: the dims of the arrays the steps name).
    """
    # each fixed step, with the movable steps placed after it (in the order they came);
    # a movable step goes after the last step (fixed, or moved) defining one of its inputs
    slots: list[tuple[_Step | None, list[_Step]]] = [(None, [])]  # slot 0: before them all
    slot_of: dict[str, int] = {}  # name -> the last slot defining it
    for step in steps:
        assigned = {m.group(1) for ln in step.lines for m in [re.match(r"(\w+) =", ln)] if m}
        if step.movable:
            uses = set(_IDENT.findall(step.code)) | {u for ln in step.lines for u in _IDENT.findall(ln)}
            at = max((slot_of[u] for u in uses - assigned if u in slot_of), default=len(slots) - 1)
            slots[at][1].append(step)
            assigned |= {step.target} if step.target else set()
        else:
            slots.append((step, []))
            at = len(slots) - 1
        for name in assigned:
            slot_of[name] = max(at, slot_of.get(name, at))
    order = [x for fixed, moved in slots for x in ([fixed] if fixed is not None else []) + moved]
    # join consecutive terms of one sum; the first term of each sum assigns, the others add
    lines_per_step: list[list[str]] = []
    started: set[str] = set()
    k = 0
    while k < len(order):
        step = order[k]
        if step.target is None:
            lines_per_step.append(step.lines)
            k += 1
            continue
        group = [step]
        while k + len(group) < len(order) and order[k + len(group)].target == step.target:
            group.append(order[k + len(group)])
        pre = [ln for g in group for ln in g.lines]
        # a negated term is subtracted: a - b, dU -= b (never + -b); each term is
        # parenthesised by its precedence, so a term that is itself a sum stays whole
        expr = signed_sum([(g.negated, g.value) for g in group if g.value is not None])
        if step.target in started:
            if not in_place:  # dU = dU + a - b: every operation stays out of place
                terms = [(False, Val(step.target, ()))] + [(g.negated, g.value) for g in group
                                                            if g.value is not None]
                pre.append(f"{step.target} = {signed_sum(terms)}")
            elif any(g.value is not None and g.value.matmul for g in group) and be.addmm is not None:
                pre.extend(_products_into(be, step.target, group))
            elif len(group) == 1 and step.negated and step.value is not None:
                pre.append(f"{step.target} -= {step.value.code}")
            else:
                pre.append(f"{step.target} += {expr}")
        else:
            started.add(step.target)
            # later terms add into the target in place, so it must own its buffer: a value
            # that is not the result of an operator may be another array or a view of one
            # (an input, X.T, a diagonal np.einsum('aaa->a', D), a broadcast)
            fresh = len(group) > 1 or step.negated or (step.value is not None and step.value.prec < ATOM)
            later = any(o.target == step.target for o in order[k + len(group):])
            folded = fold_products(be.addmm,
                                   [(g.negated, g.value) for g in group if g.value is not None], in_place)
            first = folded or (be.copy(expr) if in_place and later and not fresh else expr)
            pre.append(f"{step.target} = {first}")
        lines_per_step.append(pre)
        k += len(group)
    # free each variable after its last use
    flat = [ln for group in lines_per_step for ln in group]
    last: dict[str, int] = {}
    defined: set[str] = set()
    for n, ln in enumerate(flat):
        m = re.match(r"(\w+) \+?=", ln)
        for u in _IDENT.findall(ln.split("=", 1)[1] if m else ln):
            last[u] = n
        if m:
            defined.add(m.group(1))
            last.setdefault(m.group(1), n)
    dies: dict[int, list[str]] = {}
    for v in defined - keep:
        dies.setdefault(last[v], []).append(v)
    if in_place and be.reuses_buffers and dims is not None:
        lines_of = reuse_buffers(flat, dies, dims, be.unary_in_place, be.in_place_call)
    else:
        lines_of = [[ln] for ln in flat]
    out: list[str] = []
    for n, replaced in enumerate(lines_of):
        out.extend(replaced)
        if n in dies:
            out.append("del " + ", ".join(sorted(dies[n])))
    return out


def _products_into(be: EmitBackend, target: str, group: list[_Step]) -> list[str]:
    """Terms added into ``target`` (which the code owns), the matrix products among them
    as the backend's fused multiply-add (``dU.addmm_(s3.T, dz4)``: no temporary product,
    no pass to add it), the other terms with ``+=`` / ``-=``."""
    spell = be.addmm
    assert spell is not None
    lines = [spell(target, *g.value.matmul, g.negated, in_place=True)
             for g in group if g.value is not None and g.value.matmul is not None]
    rest = [(g.negated, g.value) for g in group if g.value is not None and g.value.matmul is None]
    if len(rest) == 1 and rest[0][0]:
        lines.append(f"{target} -= {rest[0][1].code}")
    elif rest:
        lines.append(f"{target} += {signed_sum(rest)}")
    return lines


def _kernel_call(kernel: Kernel, fname: str, program: Program, inputs: Sequence[str], py: Mapping[str, str],
                 size_code: Callable[[str], str], be: EmitBackend) -> tuple[list[str], str]:
    """The lines calling a loop kernel, and the kernel's source: the arrays it computes
    are allocated (zeroed where it adds into them), then filled by the call."""
    src, dims, reads = kernel.source(fname, py, program)
    dtype = be.dtype or "np.float64"
    scalar = f"{dtype}.type" if be.dtype else dtype
    lines = []
    for name in kernel.results:
        make = "zeros" if name in kernel.zeroed else "empty"
        lines.append(f"{py[name]} = np.{make}({_shape_code(program, name, inputs, py, size_code)}, dtype={dtype})")
    args = [scalar, *(size_code(d) for d in dims),
            *(f"{scalar}({py[n]})" if not program.dims.get(n) else py[n] for n in reads),
            *(py[n] for n in kernel.results)]
    lines.append(f"{fname}({', '.join(args)})")
    return lines, src


def _size_key(program: Program, dim: str) -> str:
    """The key of a dim in ``sizes``: its index name, unless another dim shares that name."""
    names = program.names_for_dim(dim)
    if names and not any(names[0] in program.names_for_dim(d) for d in program.dim_names if d != dim):
        return names[0]
    return dim


def _shape_code(program: Program, name: str, inputs: Sequence[str], py: Mapping[str, str],
                size_code: Callable[[str], str]) -> str:
    dims = program.dims[name]
    for n in inputs:
        if program.dims.get(n) == dims and dims:
            return f"{py[n]}.shape"
    parts = [size_code(d) for d in dims]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def _needed(program: Program, outputs: set[str]) -> set[str]:
    need = set(outputs)
    for s in reversed(program.statements):
        if s.name in need:
            need.update(r.name for r in tensor_refs(s.rhs))
    return need


def _rename_refs(e, py: Mapping[str, str]):
    """``e`` with tensor names replaced by their Python names (``py`` holds only renamings)."""
    if not py:
        return e
    return map_bottom_up(e, lambda n: Tensor(py[n.name], n.indices)
                         if isinstance(n, Tensor) and n.name in py else n)


def compile_source(gen: Generated, filename: str) -> Callable[..., Any]:
    ns: dict[str, Any] = {}
    exec(compile(gen.source, filename, "exec"), ns)
    return ns[gen.function]
