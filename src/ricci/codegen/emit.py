"""Stage 6: generate a standalone Python function from a program, and compile it.

The generated source is readable: one assignment per statement (plus temporaries a
contraction needs), matrix products written ``X.T @ dZ``, reductions ``dZ.sum(axis=0)``,
and the derivation in index notation as the docstring. It depends only on the array
library of its backend.
"""

from __future__ import annotations

import keyword
import re
import unicodedata
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol, Sequence

from ..bounds import tick
from ..errors import RicciError
from ..ir.program import Program
from ..primitives.functions import FUNCTIONS, helpers, one_call
from ..simplify.rewrite import split_coef, with_coef
from .lower import ADD, ATOM, UNARY, Backend, Lowerer, Repeats, Val
from .stable import stabilize


def _arg_in_parens(template: str) -> bool:
    """True when every ``{0}`` in ``template`` sits alone inside call parentheses."""
    return all(re.search(r"[(,]\s*$", template[:m.start()]) and re.match(r"\s*[),]", template[m.end():])
               for m in re.finditer(r"\{0\}", template))


class EmitBackend(Backend, Protocol):
    """What :func:`generate` needs of a backend besides the lowering's :class:`Backend`:
    the imports and prelude of the generated module, the names its code takes, and the
    spelling of a statement's result."""

    header: str
    prelude: str
    reserved: set[str]
    dtype: str | None

    def broadcast(self, code: str, shape: str) -> str: ...
    def copy(self, code: str) -> str: ...
    def full(self, shape: str, value: str) -> str: ...
    def scalar_result(self, code: str, number: bool) -> str: ...


class _Base:
    name = ""
    module = ""
    #: code for the dtype of arrays the function makes (an input's: ``X.dtype``), so that
    #: float32 inputs give float32 results; set by :func:`generate`
    dtype: str | None = None

    def number_result(self, code: str) -> tuple[str, bool]:
        """A function of a plain number: its code, and whether it is still a plain number
        (torch's and jax's 0-d results are weakly typed already)."""
        return code, False
    #: spell a product-then-sum of two operands as einsum (else ``(a * b).sum(...)``)
    einsum_reduces = False

    def call(self, fn: str, arg: str, atomic: bool = False) -> str:
        """``fn(arg)``; a compound ``arg`` is parenthesised where the template needs it,
        and a template that is not one call (``a / (1 + b)``) is parenthesised as a whole."""
        t = FUNCTIONS[fn].code[self.name]
        out = t.format(arg if atomic or _arg_in_parens(t) else f"({arg})")
        return out if one_call(t) else f"({out})"

    def permute(self, a: str, perm: Sequence[int]) -> str:
        if list(perm) == [1, 0]:
            return f"{a}.T"
        return f"{a}.transpose({', '.join(map(str, perm))})"

    def sqrt(self, a: str) -> str:
        return self.call("sqrt", a, atomic=True)

    def max(self, a: str, axes: Sequence[int], ndim: int) -> str:
        """The largest element over ``axes`` (``.max(axis=...)``; torch: ``.amax(dim=...)``)."""
        ax = str(axes[0]) if len(axes) == 1 else f"({', '.join(map(str, axes))})"
        if self.name == "torch":
            return f"{a}.amax()" if len(axes) == ndim else f"{a}.amax(dim={ax})"
        return f"{a}.max()" if len(axes) == ndim else f"{a}.max(axis={ax})"


class NumpyBackend(_Base):
    name = "numpy"
    #: numpy's einsum multiplies and sums in one pass: use it for 'ab,ab->a'
    einsum_reduces = True
    header = "import numpy as np"
    reserved = {"np"}

    def scalar(self, code: str) -> str:
        return code  # numpy functions take Python numbers

    def number_result(self, code: str) -> tuple[str, bool]:
        # np.sqrt(3) is a np.float64, which (NEP 50) makes a float32 array float64: a
        # function of a number stays a Python float
        return f"float({code})", True

    def sum(self, a: str, axes: Sequence[int], ndim: int) -> str:
        if len(axes) == ndim:
            return f"{a}.sum()"
        ax = str(axes[0]) if len(axes) == 1 else f"({', '.join(map(str, axes))})"
        return f"{a}.sum(axis={ax})"

    def einsum(self, spec: str, ops: Sequence[str]) -> str:
        return f"np.einsum('{spec}', {', '.join(ops)})"

    def tensordot(self, a: str, b: str, ax: Sequence[int], bx: Sequence[int]) -> str:
        return f"np.tensordot({a}, {b}, axes=({list(ax)}, {list(bx)}))"

    def eye(self, n: str) -> str:
        return f"np.eye({n}, dtype={self.dtype or 'np.float64'})"

    def delta(self, n: str, k: int) -> str:
        return f"_delta({n}, {k}, {self.dtype or 'np.float64'})"

    def broadcast(self, code: str, shape: str) -> str:
        return f"np.broadcast_to({code}, {shape}).astype({self.dtype or 'np.float64'})"

    def copy(self, code: str) -> str:
        return f"{code}.copy()"

    def full(self, shape: str, value: str) -> str:
        dt = self.dtype or "np.float64"
        return f"np.zeros({shape}, dtype={dt})" if value in ("0.0", "0") else \
            f"np.full({shape}, {value}, dtype={dt})"

    def scalar_result(self, code: str, number: bool) -> str:
        return f"np.asarray({code}, dtype={self.dtype or 'np.float64'})" if number else f"np.asarray({code})"

    def gram(self, a: str, w: str) -> str:
        return f"_gram({a}, {w})"

    prelude = '''
def _delta(n, k, dtype):
    out = np.zeros((n,) * k, dtype=dtype)
    i = np.arange(n)
    out[(i,) * k] = 1.0
    return out
'''
    preludes = {"_gram": '''
def _gram(a, w):
    """a.T @ diag(w) @ a. It is symmetric: with w >= 0 it is b.T @ b for b = a * sqrt(w),
    which numpy computes with one BLAS syrk (half the work of a matrix product)."""
    if (w >= 0).all():
        b = a * np.sqrt(w)[:, None]
        return b.T @ b
    return (a * w[:, None]).T @ a
'''}



class TorchBackend(_Base):
    name = "torch"
    header = "import torch"
    reserved = {"torch"}

    def scalar(self, code: str) -> str:
        return f"torch.tensor({code}, dtype=torch.float64)"

    def permute(self, a: str, perm: Sequence[int]) -> str:
        if list(perm) == [1, 0]:
            return f"{a}.T"
        return f"{a}.permute({', '.join(map(str, perm))})"

    def sum(self, a: str, axes: Sequence[int], ndim: int) -> str:
        if len(axes) == ndim:
            return f"{a}.sum()"
        ax = str(axes[0]) if len(axes) == 1 else f"({', '.join(map(str, axes))})"
        return f"{a}.sum(dim={ax})"

    def einsum(self, spec: str, ops: Sequence[str]) -> str:
        return f"torch.einsum('{spec}', {', '.join(ops)})"

    def tensordot(self, a: str, b: str, ax: Sequence[int], bx: Sequence[int]) -> str:
        return f"torch.tensordot({a}, {b}, dims=({list(ax)}, {list(bx)}))"

    def eye(self, n: str) -> str:
        return f"torch.eye({n}, dtype={self.dtype or 'torch.float64'})"

    def delta(self, n: str, k: int) -> str:
        return f"_delta({n}, {k}, {self.dtype or 'torch.float64'})"

    def broadcast(self, code: str, shape: str) -> str:
        return f"torch.broadcast_to(torch.as_tensor({code}, dtype={self.dtype or 'torch.float64'}), " \
               f"{shape}).clone()"

    def copy(self, code: str) -> str:
        return f"{code}.clone()"

    def full(self, shape: str, value: str) -> str:
        return f"torch.full({shape}, {value}, dtype={self.dtype or 'torch.float64'})"

    def scalar_result(self, code: str, number: bool) -> str:
        return f"torch.tensor({code}, dtype={self.dtype or 'torch.float64'})" if number else code

    prelude = '''
def _delta(n, k, dtype):
    out = torch.zeros((n,) * k, dtype=dtype)
    i = torch.arange(n)
    out[(i,) * k] = 1.0
    return out
'''



class JaxBackend(_Base):
    """JAX code: ``jnp`` operations only, no in-place updates and no Python-side use of
    array values, so the generated function can be traced by ``jax.jit`` (sizes are
    shapes, which are static under ``jit``)."""

    name = "jax"
    header = "import jax\nimport jax.numpy as jnp"
    reserved = {"jax", "jnp"}

    def scalar(self, code: str) -> str:
        # jnp functions take Python numbers (weakly typed, so float32 inputs stay float32);
        # a size is an int, made a float so that relu(size(k)) ** -2 is not an integer power
        return code if _FLOAT_LITERAL.fullmatch(code) else f"float({code})"

    def sum(self, a: str, axes: Sequence[int], ndim: int) -> str:
        if len(axes) == ndim:
            return f"{a}.sum()"
        ax = str(axes[0]) if len(axes) == 1 else f"({', '.join(map(str, axes))})"
        return f"{a}.sum(axis={ax})"

    def einsum(self, spec: str, ops: Sequence[str]) -> str:
        return f"jnp.einsum('{spec}', {', '.join(ops)})"

    def tensordot(self, a: str, b: str, ax: Sequence[int], bx: Sequence[int]) -> str:
        return f"jnp.tensordot({a}, {b}, axes=({list(ax)}, {list(bx)}))"

    def eye(self, n: str) -> str:
        return f"jnp.eye({n}, dtype={self.dtype or 'float'})"

    def delta(self, n: str, k: int) -> str:
        return f"_delta({n}, {k}, {self.dtype or 'float'})"

    def broadcast(self, code: str, shape: str) -> str:
        # arrays are immutable: no copy needed
        return f"jnp.broadcast_to(jnp.asarray({code}, dtype={self.dtype or 'float'}), {shape})"

    def copy(self, code: str) -> str:
        return code  # an immutable array can be shared; `x += y` rebinds the name

    def full(self, shape: str, value: str) -> str:
        if value in ("0.0", "0"):
            return f"jnp.zeros({shape}, dtype={self.dtype or 'float'})"
        return f"jnp.full({shape}, {value}, dtype={self.dtype or 'float'})"

    def scalar_result(self, code: str, number: bool) -> str:
        return f"jnp.asarray({code}, dtype={self.dtype or 'float'})" if number else code

    prelude = '''
def _delta(n, k, dtype):
    i = jnp.arange(n)
    return jnp.zeros((n,) * k, dtype=dtype).at[(i,) * k].set(1.0)
'''



#: a non-negative float literal, as ricci spells constants (``2.0``, ``0.5``, ``1e-05``)
_FLOAT_LITERAL = re.compile(r"\d+\.\d*(e[-+]?\d+)?|\d+e[-+]?\d+")

#: backend name -> (class, the module it needs, the extra that installs it)
BACKENDS: dict[str, tuple[type[EmitBackend], str | None, str | None]] = {
    "numpy": (NumpyBackend, None, None),
    "torch": (TorchBackend, "torch", "torch"),
    "jax": (JaxBackend, "jax", "jax"),
}


def get_backend(name: str) -> EmitBackend:
    if name not in BACKENDS:
        raise RicciError(f"unknown backend {name!r}: choose " +
                         ", ".join(repr(b) for b in list(BACKENDS)[:-1]) + f" or {list(BACKENDS)[-1]!r}")
    cls, module, extra = BACKENDS[name]
    if module is not None:
        try:
            __import__(module)
        except ImportError:
            lib = {"torch": "PyTorch", "jax": "JAX"}.get(module, module)
            raise RicciError(f"the {name} backend needs {lib}: pip install 'ricci[{extra}]'") from None
    return cls()


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
    extra = {**getattr(be, "preludes", {}), **helpers(be.name)}  # helper name -> source
    # helper names are never a tensor's, whatever the backend (as the generated names agree)
    reserved = set(be.reserved) | {"_delta", "_gram"} | {h for b in BACKENDS for h in helpers(b)}
    py = _py_names(list(dict.fromkeys(list(program.dims) + list(inputs))), reserved)
    # arrays the function makes take the dtype of an input with axes (else of any input)
    ranked = [n for n in inputs if program.dims.get(n)] or list(inputs)
    be.dtype = f"{py[ranked[0]]}.dtype" if ranked else None
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
    repeated = Repeats([st.rhs for st in program.statements if st.name in needed])
    out_names = set(outputs.values())
    for st in program.statements:
        if st.name not in needed:
            continue
        tick()
        name = py[st.name]
        terms = _accumulable(st)
        if terms:
            # one step per term, so that each is added as soon as its inputs exist; a
            # negative coefficient is kept as a sign (subtracted), never read off the code
            for t in terms:
                c, rest = split_coef(t)
                low = Lowerer(be, size_code, size_hint, tmp, shared, repeated)
                low.want = st.indices
                term = with_coef(-c, rest) if c < 0 else t
                v = low.align(low.lower(_rename_refs(term, renamed)), st.indices)
                steps.append(_Step(low.lines, name, v, negated=c < 0, movable=True))
            continue
        low = Lowerer(be, size_code, size_hint, tmp, shared, repeated)
        low.want = st.indices
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
    body = _schedule(steps, be, keep, in_place)
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
    from ..ir.expr import Add

    rhs = st.rhs
    if not (isinstance(rhs, Add) and len(rhs.terms) >= 2 and st.indices):
        return None
    full = set(st.indices)
    return list(rhs.terms) if all(t.free == full for t in rhs.terms) else None


def _schedule(steps: list[_Step], be: EmitBackend, keep: set[str], in_place: bool = True) -> list[str]:
    """Order the steps, emit the accumulations, and free every variable after its last use.

    An accumulation step moves up to just after the step that defines the last of its
    inputs, so a gradient summed over the steps of an RNN is built up during the backward
    pass and each step's values can be freed at once. Consecutive terms of one sum are
    joined back into a single ``a + b + c``.
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
        expr = _signed_sum([(g.negated, g.value) for g in group if g.value is not None])
        if step.target in started:
            if not in_place:  # dU = dU + a - b: every operation stays out of place
                terms = [(False, Val(step.target, ()))] + [(g.negated, g.value) for g in group
                                                            if g.value is not None]
                pre.append(f"{step.target} = {_signed_sum(terms)}")
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
            first = be.copy(expr) if in_place and later and not fresh else expr
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
    out: list[str] = []
    for n, ln in enumerate(flat):
        out.append(ln)
        if n in dies:
            out.append("del " + ", ".join(sorted(dies[n])))
    return out


def _signed_sum(terms: Sequence[tuple[bool, Val]]) -> str:
    """``a - b + c`` from (negated, value) pairs, each value parenthesised as its
    precedence needs (``t1 - (a + b)``, ``-(a + b) + c``)."""
    out = ""
    for k, (neg, v) in enumerate(terms):
        if k == 0:
            out = "-" + v.wrapped(UNARY) if neg else v.wrapped(ADD - 1)
        else:
            out += (" - " if neg else " + ") + v.wrapped(ADD)
    return out


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
    from ..ir.expr import tensor_refs

    need = set(outputs)
    for s in reversed(program.statements):
        if s.name in need:
            need.update(r.name for r in tensor_refs(s.rhs))
    return need


def _rename_refs(e, py: Mapping[str, str]):
    """``e`` with tensor names replaced by their Python names (``py`` holds only renamings)."""
    from ..ir.expr import Tensor, map_bottom_up

    if not py:
        return e
    return map_bottom_up(e, lambda n: Tensor(py[n.name], n.indices)
                         if isinstance(n, Tensor) and n.name in py else n)


def compile_source(gen: Generated, filename: str) -> Callable[..., Any]:
    ns: dict[str, Any] = {}
    exec(compile(gen.source, filename, "exec"), ns)
    return ns[gen.function]
