"""Loop kernels: runs of statements fused into one loop nest, for the numba backend.

NumPy code makes one pass over memory per operation; XLA fuses a layer norm's backward
into a few loops. A *kernel* is the same fusion written out: a run of consecutive
statements computed row by row in one ``@numba.njit`` function, each statement a loop
over its indices (``for d in range(n1): dx[n, d] = ...``) with each sum an accumulator
computed in the loop of its deepest free index (``sum[p](dy[n,p] * g[p])`` once per row,
not once per element). The statements of a kernel share the loop over their first index
(the *row*), so a row's values are read from the cache by every statement that needs
them, and a value only the kernel reads lives one row at a time (``xc``: a buffer of one
row; ``mu[n]``: a number).

Which statements go into kernels (:func:`plan_kernels`), and why the code stays right:

* a statement is a loop kernel's when every node is elementwise (a function whose
  :data:`~ricci.primitives.functions.KERNEL` template is ``in_loops``), a constant, a size, a delta, a
  reference, a sum or a max, and each sum or max iterates over no more elements than one
  array it reads holds (``sum[d](x[n,d])``: the elements of ``x``). A contraction
  (``sum[k](X[i,k] * W[k,j])``) iterates over more than any operand: it stays a NumPy
  matrix product (BLAS), and so does every statement with a matrix function; a call of a
  function that is not ``in_loops`` (``exp``) becomes a statement NumPy computes, read by
  the kernel (:func:`lift_calls`);
* a statement ``Y[F] = sum[K](body)`` whose largest operand has a summed index first
  (``dg[d] = sum[n](dy[n,d] * xc[n,d])``) loops over that operand's axes in order and
  adds into ``Y`` (zeroed by the caller): one pass in memory order, not a strided one;
* a statement joins the earliest of the last kernels whose first loop runs over the same
  dim, where it reads the arrays the kernel defined at its own row only (so every value
  it reads was computed earlier in the same iteration), none that the kernel adds into
  (those are complete only after the loop), and nothing that code after the kernel's
  start defines (it then runs earlier than written, which nothing can observe: what it
  reads exists, and no statement between reads it);
* an array the kernel defines and no later code reads, written by row, is kept one row
  at a time; every other array it defines is allocated by the caller (``np.empty``,
  ``np.zeros`` where the kernel adds into it), so a kernel never allocates a result and
  never writes into an input;
* numba's compile time grows faster than a kernel's length: a kernel has at most
  :data:`MAX_STATEMENTS` statements, and a function's kernels :data:`MAX_KERNEL_STATEMENTS`
  in all (the rest stays NumPy code), so the first call compiles for seconds.

Kernels compute in the dtype of the arrays (``T``, the caller's ``x.dtype.type``:
constants are ``T(0.5)``) with NumPy's error model (``1 / 0`` is ``inf``, as in NumPy
code), and sum in the order of the loop (no fast-math reassociation).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable, Mapping, Sequence

from ..ir.expr import Add, Call, Const, Delta, Expr, Index, Max, Mul, Pow, Size, Sum, Tensor
from ..ir.indices import substitute
from ..ir.program import Program, Statement
from ..ir.traversal import contains, distinct, map_bottom_up, tensor_refs, walk
from ..primitives.functions import FUNCTIONS, KERNEL, one_call
from .stable import claim
from .values import float_literal

__all__ = ["Kernel", "lift_calls", "plan_kernels"]

#: how many of the last kernels a statement may join (planning stays linear in the program)
_REACH = 8
#: numba compiles a kernel in time that grows faster than its length (about 0.1 to 0.3 s
#: a statement up to a few dozen, 228 s for a chain of 200 statements): a kernel has at
#: most this many statements (layer norm's backward has 8) ...
MAX_STATEMENTS = 12
#: ... and a function's kernels at most this many statements in all (the kernels with the
#: most operations are kept; the other statements stay NumPy code), so that the first
#: call compiles for seconds, not minutes, however long the program
MAX_KERNEL_STATEMENTS = 64
#: the node types a kernel computes (anything else stays NumPy code)
_LOOPABLE = (Const, Size, Tensor, Call, Pow, Mul, Add, Sum, Max, Delta)


@dataclass
class _Plan:
    """A statement as a kernel computes it: its (prepared) value, the order of its loops,
    and whether it adds into its array (``+=``, the loops run over summed indices too)."""

    st: Statement
    rhs: Expr
    loops: tuple[Index, ...]
    adds: bool

    @property
    def row(self) -> Index:
        return self.loops[0]


@dataclass
class Kernel:
    """A run of statements computed by one loop kernel.

    ``plans``: the program's statements it computes, in order; ``local``: the names it
    keeps one row at a time (nothing outside reads them); ``zeroed``: the arrays it adds
    into (the caller allocates them with zeros, the others with ``np.empty``)."""

    plans: list[_Plan]
    local: set[str] = field(default_factory=set)

    @property
    def names(self) -> list[str]:
        return [p.st.name for p in self.plans]

    @property
    def results(self) -> list[str]:
        """The arrays the caller allocates (every name but the row-local ones)."""
        return [p.st.name for p in self.plans if p.st.name not in self.local]

    @property
    def zeroed(self) -> set[str]:
        return {p.st.name for p in self.plans if p.adds}

    def source(self, function: str, py: Mapping[str, str], program: Program
               ) -> tuple[str, list[str], list[str]]:
        """The kernel's ``def`` (decorated; ``py``: each tensor's Python name, none of
        them ``T``), the dims whose sizes it takes and the tensors it reads (the
        parameters after ``T``, in order, then :attr:`results`)."""
        return _Writer(self, py, program).write(function)


# ---------------------------------------------------------------- choosing statements


def _hoisted(e: Expr) -> Expr:
    """``e`` with each factor of a summed product that does not depend on the summed
    indices taken out of the sum: ``sum[p](a[n,p] * b[n,d])`` is ``b[n,d] * sum[p](a[n,p])``
    (a loop computes the sum once per ``n``, not once per ``(n, d)``). Terminates: each
    rewrite moves factors out of one sum, and none moves back."""

    def one(n: Expr) -> Expr:
        if isinstance(n, Sum) and isinstance(n.body, Mul):
            bound = frozenset(n.indices)
            out = [f for f in n.body.factors if not (f.free & bound)]
            if out and len(out) < len(n.body.factors):
                inner = [f for f in n.body.factors if f.free & bound]
                body = inner[0] if len(inner) == 1 else Mul(inner)
                return Mul((*out, Sum(n.indices, body)))
        return n

    return map_bottom_up(e, one)


def _reductions(e: Expr) -> list[Sum | Max]:
    """The sums and maxima of ``e`` not inside another one (each distinct node once)."""
    out: dict[Sum | Max, None] = {}
    stack = [e]
    while stack:
        n = stack.pop()
        if isinstance(n, (Sum, Max)):
            out.setdefault(n, None)
            continue
        stack.extend(n.children)
    return list(out)


def _invariant(e: Expr, loops: Sequence[Index]) -> list[Expr]:
    """The largest parts of ``e`` worth a variable (not a reference, a constant or a
    reduction) that do not depend on the innermost of ``loops``, each once, innermost
    parts first."""
    if not loops:
        return []
    out: dict[Expr, None] = {}
    stack = [e]
    while stack:
        n = stack.pop()
        if isinstance(n, (Sum, Max, Tensor, Const, Size, Delta)):
            continue
        if isinstance(n, Mul) and sum(not isinstance(f, Const) for f in n.factors) == 1 and \
                all(isinstance(f, (Const, Tensor, Size, Sum, Max)) for f in n.factors):
            continue  # -mu[n], 2 * x[n,d]: a sign or a scale, written in place
        if _depth(n, loops) < len(loops):
            out.setdefault(n, None)
            continue
        stack.extend(n.children)
    return list(out)


def _depth(r: Expr, loops: Sequence[Index]) -> int:
    """How many of ``loops`` (outermost first) must be open to compute ``r``."""
    return max((k + 1 for k, i in enumerate(loops) if i in r.free), default=0)


def _bounded(e: Expr, loops: tuple[Index, ...]) -> bool:
    """Does every reduction of ``e`` (evaluated inside ``loops``) iterate, with the loops
    open where it is computed, over no more elements than one array it reads holds, and
    along that array's last axis (``sum[d](x[n,d])``, not ``sum[n](x[n,d])`` inside a loop
    over ``d``: a column of a row-major array is a stride per element)?"""
    for r in _reductions(e):
        assert isinstance(r, (Sum, Max))
        inner = loops[:_depth(r, loops)] + r.indices
        need = set(inner)
        if not any(set(t.indices) >= need and t.indices[-1] in r.indices for t in tensor_refs(r.body)):
            return False
        if not _bounded(r.body, inner):
            return False
    return True


def _plan(st: Statement) -> _Plan | None:
    """How a kernel computes ``st``, or None when it stays NumPy code."""
    if not st.indices or len(set(st.indices)) != len(st.indices):
        return None
    for n in walk(st.rhs):
        if not isinstance(n, _LOOPABLE) or isinstance(n, Call) and (
                len(n.args) != 1 or n.fn not in FUNCTIONS or not FUNCTIONS[n.fn].in_loops):
            return None
        if isinstance(n, Tensor) and len(set(n.indices)) != len(n.indices) and len(n.indices) > 2:
            return None
    rhs = _hoisted(st.rhs)
    if isinstance(rhs, Sum):
        # Y[F] = sum[K](body): loop in the order of the operand holding every index, if a
        # summed index comes first in it (a pass in memory order, adding into Y)
        every = set(st.indices) | set(rhs.indices)
        for t in tensor_refs(rhs.body):
            if set(t.indices) >= every and len(set(t.indices)) == len(t.indices) and t.indices[0] in rhs.indices:
                loops = tuple(i for i in t.indices if i in every)
                return _Plan(st, rhs, loops, True) if _bounded(rhs.body, loops) else None
    loops = tuple(st.indices)
    return _Plan(st, rhs, loops, False) if _bounded(rhs, loops) else None


def lift_calls(program: Program, names: set[str]) -> Program:
    """``program`` with each call of a function that is not ``in_loops`` (``exp``), in a
    statement of ``names`` that a kernel could compute but for such calls, made a
    statement of its own before it: NumPy computes that with its vectorised ufunc (in
    place, where it can), and the kernel reads it. ``m[n] = sum[q](exp(z[n,q] - c[n]))``
    reads ``exp_m[n,q] = exp(z[n,q] - c[n])``; a call that occurs again, up to the names of
    its indices (``exp(z[n,k] - c[n])`` in a later statement), reads the same statement.
    Calls inside such calls, or holding a sum, stay where they are (the statement too),
    and so does a statement that is the call (``h[n,j] = tanh(z[n,j])``: NumPy's already)."""
    taken = set(program.dims) | set(program.defined)
    dims = dict(program.dims)
    made: dict[Expr, str] = {}  # a call with its free indices renamed #0, #1, ... -> its statement
    out: list[Statement] = []
    for st in program.statements:
        if st.name in names and _plan(st) is None:
            lifted = _lift(st, made, taken, dims)
            if lifted is not None:
                new, st = lifted
                out.extend(new)
        out.append(st)
    if not made:
        return program
    return Program(out, dims, dim_names=program.dim_names, source=program.text, declared=program.declared)


def _lift(st: Statement, made: dict[Expr, str], taken: set[str], dims: dict[str, tuple[str, ...]]
          ) -> tuple[list[Statement], Statement] | None:
    """The statements ``st``'s slow calls become, and ``st`` reading them; None when ``st``
    would still not be a kernel's (or has no such call)."""
    calls = [n for n in distinct(st.rhs) if isinstance(n, Call) and not FUNCTIONS[n.fn].in_loops]
    if not calls or st.rhs in calls or any(contains(c.args[0], Sum, Max) or
                        any(isinstance(n, Call) and not FUNCTIONS[n.fn].in_loops for n in walk(c.args[0]))
                        for c in calls):
        return None
    new: list[Statement] = []
    fresh: dict[Expr, str] = {}  # the calls not made before, kept only if st is lifted
    refs: dict[Expr, Tensor] = {}
    for c in dict.fromkeys(calls):
        idx = tuple(dict.fromkeys(i for t in tensor_refs(c) for i in t.indices if i in c.free))
        if set(idx) != c.free:  # an index only in a delta or a size: no array holds it
            idx = tuple(sorted(c.free, key=lambda i: (i.name, i.dim)))
        key = substitute(c, {i: Index(f"#{k}", i.dim) for k, i in enumerate(idx)})
        name = made.get(key) or fresh.get(key)
        if name is None:
            name = fresh[key] = claim(f"{c.fn}_{st.name}", taken)
            new.append(Statement(name, idx, c))
        refs[c] = Tensor(name, idx)
    reading = st.replace(map_bottom_up(st.rhs, lambda n: refs.get(n, n)))
    if _plan(reading) is None:
        taken.difference_update(fresh.values())  # not lifted after all
        return None
    made.update(fresh)
    dims.update((s.name, tuple(i.dim for i in s.indices)) for s in new)
    return new, reading


def _operations(e: Expr) -> int:
    """The operations of ``e`` (each a pass of NumPy code)."""
    return sum(isinstance(n, (Add, Mul, Pow, Call, Sum, Max)) for n in walk(e))


def _joins(kernel: Kernel, plan: _Plan) -> bool:
    """May ``plan`` run in ``kernel``'s row loop (see the module docstring)?"""
    if plan.row.dim != kernel.plans[0].row.dim:
        return False
    defined = {p.st.name: p for p in kernel.plans}
    for t in tensor_refs(plan.rhs):
        p = defined.get(t.name)
        if p is not None and (p.adds or not t.indices or t.indices[0] != plan.row):
            return False
    return True


def plan_kernels(program: Program, statements: Sequence[Statement], keep: set[str]) -> list[Kernel]:
    """The kernels computing runs of ``statements`` (the program's statements the code
    computes, in order); ``keep``: the names the function returns. Statements no kernel
    takes stay NumPy code."""
    plans = {st.name: _plan(st) for st in statements}
    while True:
        kernels = _runs(statements, plans)
        # one operation is one NumPy pass already (and NumPy's reductions are SIMD); the
        # runs are planned again without them, as NumPy code (which a statement that
        # joined an earlier kernel must not have been planned to run before)
        size = {id(k): sum(_operations(p.rhs) for p in k.plans) for k in kernels}
        small = [k for k in kernels if size[id(k)] < 2]
        # past MAX_KERNEL_STATEMENTS, the kernels with the fewest operations (later first)
        budget = MAX_KERNEL_STATEMENTS
        for i in sorted(range(len(kernels)), key=lambda i: (-size[id(kernels[i])], i)):
            kern = kernels[i]
            if size[id(kern)] >= 2:
                budget -= len(kern.plans)
                if budget < 0:
                    small.append(kern)
        if not small:
            break
        plans.update((n, None) for k in small for n in k.names)
    # a name is kept one row at a time when only its kernel reads it, at the row
    readers: dict[str, set[int]] = {}
    for k, st in enumerate(statements):
        for t in tensor_refs(st.rhs):
            readers.setdefault(t.name, set()).add(k)
    position = {st.name: k for k, st in enumerate(statements)}
    for kernel in kernels:
        inside = {position[n] for n in kernel.names}
        for p in kernel.plans:
            name = p.st.name
            if not p.adds and name not in keep and readers.get(name, set()) <= inside:
                kernel.local.add(name)
    return kernels


def _runs(statements: Sequence[Statement], plans: Mapping[str, _Plan | None]) -> list[Kernel]:
    """The kernels of the statements that have a plan (terminates: each pass of
    :func:`plan_kernels` takes the plans of at least one statement away)."""
    kernels: list[Kernel] = []
    # each kernel's names defined since it runs (by NumPy code or by later kernels)
    after: list[set[str]] = []
    for st in statements:
        plan = plans[st.name]
        at = None
        if plan is not None:
            reads = {t.name for t in tensor_refs(plan.rhs)}
            # the earliest kernel it can join, among the last few: it runs earlier than
            # written, which nothing can observe (what it reads exists then, and nothing
            # between reads it), and what it reads can be freed sooner
            for k in range(max(0, len(kernels) - _REACH), len(kernels)):
                if len(kernels[k].plans) < MAX_STATEMENTS and _joins(kernels[k], plan) and not reads & after[k]:
                    kernels[k].plans.append(plan)
                    at = k
                    break
            else:
                kernels.append(Kernel([plan]))
                after.append(set())
                at = len(kernels) - 1
        for k in range(len(kernels) if at is None else at):
            after[k].add(st.name)
    return kernels


# ---------------------------------------------------------------- writing a kernel


def _enclosed(code: str) -> bool:
    """Is ``code`` one parenthesised expression, ``(a + b)`` (not ``(a) * (b)``)?"""
    if not (code.startswith("(") and code.endswith(")")):
        return False
    depth = 0
    for k, ch in enumerate(code):
        depth += ch == "("
        depth -= ch == ")"
        if depth == 0:
            return k == len(code) - 1
    return False


class _Writer:
    """The source of one kernel (see :class:`Kernel.source`)."""

    def __init__(self, kernel: Kernel, py: Mapping[str, str], program: Program) -> None:
        self.k = kernel
        self.names = py
        self.taken = set(py.values()) | {"T", "np", "math", "numba"}
        self.program = program
        self.sizes: dict[str, str] = {}
        self.lines: list[str] = []
        self.count: dict[str, int] = {}
        self.reads: dict[str, None] = {}
        #: assignments of arguments the innermost point needs before its value
        self._pending: list[str] = []

    def py(self, name: str) -> str:
        return self.names.get(name, name)

    def fresh(self, base: str) -> str:
        """A new local name (never a tensor's): ``i1``, ``i2``, ... for loops, ``s`` a sum,
        ``m`` a maximum, ``c`` a value computed outside a loop, ``v`` an argument, ``n`` a size."""
        while True:
            self.count[base] = self.count.get(base, 0) + 1
            v = f"{base}{self.count[base]}"
            if v not in self.taken:
                self.taken.add(v)
                return v

    def size(self, dim: str) -> str:
        if dim not in self.sizes:
            self.sizes[dim] = self.fresh("n")
        return self.sizes[dim]

    def emit(self, depth: int, line: str) -> None:
        """``line`` at ``depth``; the outer parentheses of a value it assigns are dropped."""
        target, op, value = line.partition(" = ") if " = " in line else line.partition(" += ")
        if op and _enclosed(value):
            line = target + op + value[1:-1]
        self.lines.append("    " * depth + line)

    def write(self, function: str) -> tuple[str, list[str], list[str]]:
        row = self.k.plans[0].row
        self.size(row.dim)  # the number of rows: the first size parameter
        r = self.fresh("i")
        buffers = []
        for p in self.k.plans:
            name = p.st.name
            if name in self.k.local and len(p.st.indices) > 1:
                shape = ", ".join(self.size(d) for d in self.program.dims[name][1:])
                buffers.append(f"{self.py(name)} = np.empty(({shape},), dtype=T)")
        self.emit(1, f"for {r} in range({self.size(row.dim)}):")
        for p in self.k.plans:
            self.statement(p, r)
        results = set(self.k.results)
        reads = [n for n in self.reads if n not in results]
        params = ["T", *self.sizes.values(), *(self.py(n) for n in reads), *(self.py(n) for n in self.k.results)]
        head = ["@numba.njit(error_model='numpy', fastmath={'reassoc'}, nogil=True)",
                f"def {function}({', '.join(params)}):"]
        body = ["    " + b for b in buffers] + self.lines
        return "\n".join(head + body), list(self.sizes), reads

    # -- one statement
    def statement(self, p: _Plan, r: str) -> None:
        env = {p.row: r}
        name = p.st.name
        local = name in self.k.local
        target_indices = p.st.indices[1:] if local else p.st.indices
        body = p.rhs.body if isinstance(p.rhs, Sum) and p.adds else p.rhs

        def store(depth: int, value: str, env: dict[Index, str]) -> None:
            if local and not target_indices:
                self.emit(depth, f"{self.py(name)} = {value}")
                return
            at = ", ".join(env[i] for i in target_indices)
            op = "+=" if p.adds else "="
            self.emit(depth, f"{self.py(name)}[{at}] {op} {value}")

        self.context(body, p.loops[1:], env, 2, store)

    def context(self, e: Expr, loops: Sequence[Index], env: dict[Index, str], depth: int,
                done: Callable[[int, str, dict[Index, str]], None]) -> None:
        """Open ``loops`` (inside ``depth`` open ones bound in ``env``) and hand ``e``'s value
        at the innermost point to ``done``. Each reduction of ``e``, and each part of ``e``
        that does not depend on the innermost loop, is computed once, in the loop of its
        deepest free index (``1 / sqrt(eps + var[n])`` once per row)."""
        env = dict(env)
        reductions = _reductions(e)
        invariant = _invariant(e, loops)
        names: dict[Expr, str] = {}
        for level in range(len(loops) + 1):
            for red in reductions:
                if _depth(red, loops) == level:
                    names[red] = self.reduction(red, env, depth)
            for part in invariant:
                if _depth(part, loops) == level:
                    code = self.value(part, env, names, depth)
                    names[part] = self.fresh("c")
                    self.emit(depth, f"{names[part]} = {code}")
            if level < len(loops):
                i = loops[level]
                v = self.fresh("i")
                env[i] = v
                self.emit(depth, f"for {v} in range({self.size(i.dim)}):")
                depth += 1
        done(depth, self.value(e, env, names, depth), env)

    def value(self, e: Expr, env: Mapping[Index, str], names: Mapping[Expr, str], depth: int) -> str:
        """The code of ``e``; the arguments it binds first are emitted at ``depth``."""
        saved, self._pending = self._pending, []
        code = self.expr(e, env, names)
        for line in self._pending:
            self.emit(depth, line)
        self._pending = saved
        return code

    def reduction(self, red: Sum | Max, env: dict[Index, str], depth: int) -> str:
        acc = self.fresh("s" if isinstance(red, Sum) else "m")
        if isinstance(red, Sum):
            self.emit(depth, f"{acc} = T(0.0)")

            def add(d: int, value: str, _env: dict[Index, str]) -> None:
                self.emit(d, f"{acc} += {value}")
            self.context(red.body, red.indices, env, depth, add)
        else:
            self.emit(depth, f"{acc} = T(-np.inf)")

            def bigger(d: int, value: str, _env: dict[Index, str]) -> None:
                v = self.fresh("v")
                self.emit(d, f"{v} = {value}")
                # NaN wins, as in NumPy's max
                self.emit(d, f"if {v} > {acc} or {v} != {v}:")
                self.emit(d + 1, f"{acc} = {v}")
            self.context(red.body, red.indices, env, depth, bigger)
        return acc

    # -- expressions (``names``: the reductions computed already)
    def expr(self, e: Expr, env: Mapping[Index, str], names: Mapping[Expr, str]) -> str:
        if e in names:
            return names[e]
        if isinstance(e, Size):
            return f"T({self.size(e.index.dim)})"
        if isinstance(e, Tensor):
            return self.ref(e, env)
        if isinstance(e, Delta):
            first = env[e.indices[0]]
            cond = " == ".join([first] + [env[i] for i in e.indices[1:]])
            return f"(T(1.0) if {cond} else T(0.0))"
        if isinstance(e, Call):
            arg = self.expr(e.args[0], env, names)
            if not arg.isidentifier():
                arg = self.bind(self.fresh("v"), arg)
            template = FUNCTIONS[e.fn].code[KERNEL]
            code = template.format(arg)
            return code if one_call(template) else f"({code})"
        if isinstance(e, Pow):
            return self.power(e, env, names)
        if isinstance(e, (Mul, Const)):
            negative, code = self.signed(e, env, names)
            return f"(-{code})" if negative else code
        if isinstance(e, Add):
            terms = [self.signed(t, env, names) for t in e.terms]
            terms.sort(key=lambda t: t[0])  # a positive term first: a - b, not -b + a
            code = ("-" if terms[0][0] else "") + terms[0][1]
            for negative, c in terms[1:]:
                code += f" - {c}" if negative else f" + {c}"
            return f"({code})"
        raise AssertionError(type(e).__name__)  # _plan admits no other node

    def bind(self, v: str, code: str) -> str:
        """``code`` in the variable ``v``, assigned at the current innermost point."""
        self._pending.append(f"{v} = {code}")
        return v

    def ref(self, t: Tensor, env: Mapping[Index, str]) -> str:
        name = self.py(t.name)
        if t.name not in self.k.local:
            self.reads.setdefault(t.name, None)
        if not t.indices:
            return name
        idx = t.indices[1:] if t.name in self.k.local else t.indices
        if not idx:
            return name
        return f"{name}[{', '.join(env[i] for i in idx)}]"

    def power(self, e: Pow, env: Mapping[Index, str], names: Mapping[Expr, str]) -> str:
        base = self.expr(e.base, env, names)
        if not isinstance(e.exp, Const):
            return f"({base} ** {self.expr(e.exp, env, names)})"
        v: Fraction = e.exp.value
        if v.denominator == 1 and 1 <= abs(v) <= 3:
            if not base.isidentifier() and abs(v) > 1:
                base = self.bind(self.fresh("v"), base)
            prod = " * ".join([base] * abs(v.numerator))
            return f"({prod})" if v > 0 else f"(T(1.0) / {prod if abs(v) == 1 else f'({prod})'})"
        if v.denominator == 2 and abs(v.numerator) <= 3:
            if not base.isidentifier() and abs(v.numerator) > 1:
                base = self.bind(self.fresh("v"), base)
            root = FUNCTIONS["sqrt"].code[KERNEL].format(base)
            factors = [base] * ((abs(v.numerator) - 1) // 2) + [root]
            prod = " * ".join(factors) if len(factors) == 1 else "(" + " * ".join(factors) + ")"
            return prod if v > 0 else f"(T(1.0) / {prod})"
        return f"({base} ** T({float_literal(v)}))" if v >= 0 else f"({base} ** (-T({float_literal(-v)})))"

    def signed(self, e: Expr, env: Mapping[Index, str], names: Mapping[Expr, str]) -> tuple[bool, str]:
        """Whether ``e`` is negative by its constant factor, and the code of its magnitude."""
        if e in names:
            return False, names[e]
        if isinstance(e, Const):
            return e.value < 0, f"T({float_literal(abs(e.value))})"
        if not isinstance(e, Mul):
            return False, self.expr(e, env, names)
        negative = False
        factors: list[Expr] = []
        for f in e.factors:
            if isinstance(f, Const) and f.value < 0:
                negative = not negative
                if f.value != -1:
                    factors.append(Const(-f.value))
            else:
                factors.append(f)
        return negative, self.product(factors, env, names)

    def product(self, factors: Sequence[Expr], env: Mapping[Index, str], names: Mapping[Expr, str]) -> str:
        num: list[str] = []
        den: list[str] = []
        for f in factors:
            if isinstance(f, Pow) and isinstance(f.exp, Const) and f.exp.value == -1 and f not in names:
                den.append(self.expr(f.base, env, names))
            else:
                num.append(self.expr(f, env, names))
        code = " * ".join(num) if num else "T(1.0)"
        for d in den:
            code += f" / {d}"
        return code if len(num) == 1 and not den else f"({code})"
