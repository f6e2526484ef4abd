"""Stage 6: generate a standalone Python function from a program, and compile it.

The generated source is readable: one assignment per statement (plus temporaries a
contraction needs), matrix products written ``X.T @ dZ``, reductions ``dZ.sum(axis=0)``,
and the derivation in index notation as the docstring. It depends only on the array
library of its backend.
"""

from __future__ import annotations

import keyword
import re
from dataclasses import dataclass
from typing import Any, Callable, Mapping, Sequence

from .errors import RicciError
from .functions import FUNCTIONS
from .lower import Lowerer
from .program import Program


def _arg_in_parens(template: str) -> bool:
    """True when every ``{0}`` in ``template`` sits alone inside call parentheses."""
    return all(re.search(r"[(,]\s*$", template[:m.start()]) and re.match(r"\s*[),]", template[m.end():])
               for m in re.finditer(r"\{0\}", template))


class _Base:
    name = ""
    module = ""

    def call(self, fn: str, arg: str, atomic: bool = False) -> str:
        """``fn(arg)``; a compound ``arg`` is parenthesised where the template needs it."""
        t = FUNCTIONS[fn].code[self.name]
        return t.format(arg if atomic or _arg_in_parens(t) else f"({arg})")

    def permute(self, a: str, perm: Sequence[int]) -> str:
        if list(perm) == [1, 0]:
            return f"{a}.T"
        return f"{a}.transpose({', '.join(map(str, perm))})"

    def sqrt(self, a: str) -> str:
        return self.call("sqrt", a, atomic=True)


class NumpyBackend(_Base):
    name = "numpy"
    header = "import numpy as np"
    reserved = {"np"}

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
        return f"np.eye({n})"

    def delta(self, n: str, k: int) -> str:
        return f"_delta({n}, {k})"

    def broadcast(self, code: str, shape: str) -> str:
        return f"np.broadcast_to({code}, {shape}).copy()"

    def full(self, shape: str, value: str) -> str:
        return f"np.zeros({shape})" if value in ("0.0", "0") else f"np.full({shape}, {value})"

    prelude = '''
def _delta(n, k):
    out = np.zeros((n,) * k)
    i = np.arange(n)
    out[(i,) * k] = 1.0
    return out
'''

    def asarray(self, x: Any) -> Any:
        import numpy as np

        a = np.asarray(x)
        if not np.issubdtype(a.dtype, np.floating):
            a = a.astype(np.float64)
        return a


class TorchBackend(_Base):
    name = "torch"
    header = "import torch"
    reserved = {"torch"}

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
        return f"torch.eye({n}, dtype=torch.float64)"

    def delta(self, n: str, k: int) -> str:
        return f"_delta({n}, {k})"

    def broadcast(self, code: str, shape: str) -> str:
        return f"torch.broadcast_to(torch.as_tensor({code}, dtype=torch.float64), {shape}).clone()"

    def full(self, shape: str, value: str) -> str:
        return f"torch.full({shape}, {value}, dtype=torch.float64)"

    prelude = '''
def _delta(n, k):
    out = torch.zeros((n,) * k, dtype=torch.float64)
    i = torch.arange(n)
    out[(i,) * k] = 1.0
    return out
'''

    def asarray(self, x: Any) -> Any:
        import torch

        t = torch.as_tensor(x)
        if not t.is_floating_point():
            t = t.to(torch.float64)
        return t


def get_backend(name: str) -> _Base:
    if name == "numpy":
        return NumpyBackend()
    if name == "torch":
        try:
            import torch  # noqa: F401
        except ImportError:  # pragma: no cover - depends on the environment
            raise RicciError("the torch backend needs PyTorch: pip install 'ricci[torch]'") from None
        return TorchBackend()
    raise RicciError(f"unknown backend {name!r}: choose 'numpy' or 'torch'")


# ---------------------------------------------------------------- generation


@dataclass
class Generated:
    source: str
    function: str
    inputs: tuple[str, ...]
    needs_sizes: bool


def _py_name(name: str, reserved: set[str]) -> str:
    if keyword.iskeyword(name) or name in reserved or name in ("sizes",):
        return name + "_"
    return name


def generate(program: Program, outputs: Mapping[str, str], inputs: Sequence[str], *,
             backend: str = "numpy", function: str = "f", doc: str = "",
             size_hints: Mapping[str, int] | None = None) -> Generated:
    """Source of ``def function(inputs...)`` returning ``{key: value of outputs[key]}``."""
    be = get_backend(backend)
    needed = _needed(program, set(outputs.values()))
    reserved = set(be.reserved) | {"_delta"}
    all_names = set(program.dims) | set(inputs)
    py = {n: _py_name(n, reserved) for n in all_names}
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
    needs_sizes = [False]

    def size_code(dim: str) -> str:
        if dim in size_src:
            return size_src[dim]
        needs_sizes[0] = True
        names = program.names_for_dim(dim)
        return f"sizes[{(names[0] if names else dim)!r}]"

    hints = dict(size_hints or {})

    def size_hint(dim: str) -> int:
        return hints.get(dim, 64)

    body: list[str] = []
    shared: dict = {}
    repeated = _repeated([st.rhs for st in program.statements if st.name in needed])
    for st in program.statements:
        if st.name not in needed:
            continue
        low = Lowerer(be, size_code, size_hint, tmp, shared, repeated)
        low.want = st.indices
        v = low.lower(_rename_refs(st.rhs, py))
        body.extend(low.lines)
        target = st.indices
        if set(target) <= set(v.axes) and len(v.axes) == len(target):
            code = low.align(v, target).code
        else:
            shape = _shape_code(program, st.name, inputs, py, size_code)
            if not v.axes and v.code.replace(".", "").replace("-", "").isdigit():
                code = be.full(shape, v.code)
            else:
                code = be.broadcast(low.align(v, tuple(a for a in target)).code if v.axes else v.code, shape)
        body.append(f"{py[st.name]} = {code}")
    ret = ", ".join(f"{k!r}: {py[v]}" for k, v in outputs.items())
    body.append(f"return {{{ret}}}")
    args = ", ".join(py[n] for n in inputs)
    if needs_sizes[0]:
        args = (args + ", " if args else "") + "*, sizes"
    lines = [be.header]
    if "_delta(" in "\n".join(body):
        lines.append(be.prelude)
    lines.append("")
    lines.append(f"def {function}({args}):")
    if doc:
        lines.append('    """' + doc.replace('"""', "'''").replace("\n", "\n    ") + '\n    """')
    lines.extend("    " + ln for ln in body)
    src = "\n".join(lines) + "\n"
    return Generated(src, function, tuple(inputs), needs_sizes[0])


def _shape_code(program: Program, name: str, inputs: Sequence[str], py: Mapping[str, str],
                size_code: Callable[[str], str]) -> str:
    dims = program.dims[name]
    for n in inputs:
        if program.dims.get(n) == dims and dims:
            return f"{py[n]}.shape"
    parts = [size_code(d) for d in dims]
    return "(" + ", ".join(parts) + ("," if len(parts) == 1 else "") + ")"


def _repeated(exprs: Sequence) -> set:
    """Non-trivial subexpressions that occur more than once (worth computing once)."""
    from .expr import Call, Pow, Sum, walk

    seen: set = set()
    twice: set = set()
    for e in exprs:
        for n in walk(e):
            if isinstance(n, (Call, Pow, Sum)) and n.free:
                if n in seen:
                    twice.add(n)
                seen.add(n)
    return twice


def _needed(program: Program, outputs: set[str]) -> set[str]:
    from .expr import tensor_refs

    need = set(outputs)
    for s in reversed(program.statements):
        if s.name in need:
            need.update(r.name for r in tensor_refs(s.rhs))
    return need


def _rename_refs(e, py: Mapping[str, str]):
    from .expr import Tensor, map_bottom_up

    if all(k == v for k, v in py.items()):
        return e
    return map_bottom_up(e, lambda n: Tensor(py[n.name], n.indices)
                         if isinstance(n, Tensor) and py.get(n.name, n.name) != n.name else n)


def compile_source(gen: Generated, filename: str) -> Callable[..., Any]:
    ns: dict[str, Any] = {}
    exec(compile(gen.source, filename, "exec"), ns)
    return ns[gen.function]
