"""What both modes of the chain rule share: reading ``wrt`` and ``of``, fresh names,
function arguments lifted into statements of their own (``z1[n,h] = X[n,d] * W[d,h] +
b[h]``, so that its adjoint is computed once and shared), forward values reused in
derived expressions, and the closure of the statements a result reads.
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Container, Iterable, Sequence

from .. import validate
from ..errors import RicciError
from ..ir.expr import Add, Call, Const, Expr, Index, Pow, Size, Sum, Tensor
from ..ir.indices import fresh_name, substitute, successors
from ..ir.program import Program, Statement, depends_on
from ..ir.traversal import contains, distinct, map_bottom_up, tensor_refs, walk
from ..simplify.canonical import alpha_key
from ..simplify.rewrite import simplify
from ..syntax.resolve import parse
from .identities import derived_identities, forward_identities, has_identities
from .reuse import Reuse

__all__ = [
    "ForwardReuse", "Names", "as_program", "closure", "first_use_indices", "fresh_indices", "input_indices",
    "known_answers", "lhs_text", "lift", "output_of", "parse_wrt", "prepared", "program_error",
    "reuse_forward",
]


def read_wrt(item: str) -> tuple[str, list[str] | None] | None:
    """``"X"`` -> ``("X", None)``, ``"X[k, l]"`` -> ``("X", ["k", "l"])``, or ``None`` when
    the text is not of that form. A name is what the parser accepts: a Python identifier
    (``str.isidentifier``: ``W``, ``α``, ``σ2``); spaces around names are allowed."""
    text = item.strip()
    if not text.endswith("]"):
        return (text, None) if text.isidentifier() else None
    name, bracket, inner = text[:-1].partition("[")
    name = name.strip()
    names = [n.strip() for n in inner.split(",")]
    if not bracket or not name.isidentifier() or not all(n.isidentifier() for n in names):
        return None
    return name, names



def as_program(program: Program | str) -> Program:
    """A Program, or text in ricci's notation or in LaTeX (detected) parsed into one."""
    if isinstance(program, Program):
        return program
    if isinstance(program, str):
        return parse(program, syntax="auto")
    raise RicciError(f"expected a Program or program text, got {type(program).__name__}")


def prepared(prog: Program) -> Program:
    """The program a derivation differentiates: ``prog`` with the identities that need the
    program's definitions applied (:mod:`.identities`: ``inv(Z)`` of a defined inverse
    ``Z``, centred sums). The record keeps ``prog`` as the source program (its inputs are
    the compiled function's arguments, whatever the identities removed)."""
    return forward_identities(prog)


def program_error(prog: Program, msg: str, name: str | None = None, hint: str | None = None) -> RicciError:
    span = None
    if name is not None:
        st = prog.defined.get(name)
        if st is not None and st.span is not None:
            span = st.span
        else:
            for s in prog.statements:
                if name in s.ref_spans:
                    span = s.ref_spans[name]
                    break
    return RicciError(msg, span=span, source=prog.text, hint=hint)


def did_you_mean(name: str, options: Iterable[str]) -> str | None:
    import difflib

    m = difflib.get_close_matches(name, list(options), n=1)
    return f"did you mean '{m[0]}'?" if m else None


def _latex_spelling(text: str, prog: Program) -> str | None:
    """The input ``text`` spells in LaTeX (``\\hat{y}`` -> ``yhat``, ``W_{ij}`` or ``W_ij``
    -> ``W[i,j]``), or None."""
    import re

    def spelled(name: str, idx: Sequence[str]) -> str | None:
        if name not in prog.dims:
            return None
        return f"{name}[{','.join(idx)}]" if idx and len(idx) == prog.rank(name) else name

    m = re.fullmatch(r"([A-Za-z]\w*?)_\{?([A-Za-z]+)\}?", text)
    if m and m.group(1) in prog.dims:
        return spelled(m.group(1), list(m.group(2)))
    if "\\" in text or "{" in text:
        try:
            got = parse(f"{text} = 0", syntax="latex")
        except RicciError:
            return None
        if len(got.statements) == 1:
            st = got.statements[0]
            return spelled(st.name, [i.name for i in st.indices])
    return None


def wrt_hint(item: str, prog: Program) -> str | None:
    """"did you mean ...?" for a ``wrt`` item that names no input: its LaTeX spelling
    (``\\hat{y}`` -> ``yhat``), or a close name (a typo)."""
    text = item.strip()
    latex = _latex_spelling(text, prog)
    if latex is not None:
        return f"did you mean '{latex}'? (wrt takes ricci names: X, or X[k,l])"
    read = read_wrt(text)
    return did_you_mean(read[0] if read else text, prog.inputs)


def parse_wrt(prog: Program, wrt: str | Sequence[str]) -> list[tuple[str, list[str] | None]]:
    if not isinstance(wrt, (str, list, tuple)):
        raise RicciError(f"wrt must name inputs: a str or a list of str, not {type(wrt).__name__}")
    items = [wrt] if isinstance(wrt, str) else list(wrt)
    if not items:
        raise RicciError("wrt is empty: name at least one input to differentiate with respect to")
    out: list[tuple[str, list[str] | None]] = []
    seen: set[str] = set()
    for item in items:
        if not isinstance(item, str):
            raise RicciError(f"wrt must name inputs as strings, got {item!r}")
        read = read_wrt(item)
        if read is None:
            raise RicciError(f"cannot read wrt={item!r}: write a name such as 'X', or 'X[k,l]' "
                             f"to choose the names of its indices", hint=wrt_hint(item, prog))
        name, names = read
        if name in prog.defined:
            raise program_error(prog, f"wrt names '{name}', which the program computes; gradients are "
                       f"taken with respect to inputs", name,
                       hint="inputs are the names used but never defined: " + ", ".join(prog.inputs))
        if name not in prog.dims:
            hint = wrt_hint(item, prog)
            raise RicciError(f"wrt names '{name}', which is not an input of the program "
                             f"(inputs: {', '.join(prog.inputs)})", hint=hint)
        if names is not None:
            if len(names) != prog.rank(name):
                raise RicciError(f"wrt={item!r} gives {len(names)} indices but '{name}' has "
                                 f"{prog.rank(name)}")
            if len(set(names)) != len(names):
                raise RicciError(f"wrt={item!r} repeats an index name")
        if name in seen:
            raise RicciError(f"wrt names '{name}' twice")
        seen.add(name)
        out.append((name, names))
    return out


def output_of(prog: Program, of: str | None) -> str:
    if of is None:
        return prog.statements[-1].name
    validate.name(of, "of", optional=True)
    if of in prog.defined:
        return of
    if of in prog.dims:
        raise RicciError(f"of='{of}' names an input; name a statement of the program")
    raise RicciError(f"of='{of}' names no statement of the program",
                     hint=did_you_mean(of, prog.defined) or
                     "statements: " + ", ".join(prog.defined))


class Names:
    """Fresh tensor names for adjoints (``dY``), lifted arguments (``z1``) and Jacobians."""

    def __init__(self, prog: Program) -> None:
        self.taken = set(prog.dims) | set(prog.defined)

    def claim(self, *candidates: str) -> str:
        return self.claim_first(candidates)

    def claim_first(self, candidates: Iterable[str]) -> str:
        """The first free name of ``candidates`` (read lazily), else the first one numbered."""
        base = None
        for c in candidates:
            if base is None:
                base = c
            if c not in self.taken:
                self.taken.add(c)
                return c
        assert base is not None
        n = 2
        while f"{base}{n}" in self.taken:
            n += 1
        self.taken.add(f"{base}{n}")
        return f"{base}{n}"

    def adjoint(self, name: str) -> str:
        return self.claim("d" + name, "d_" + name, "grad_" + name)


def ordered_free(e: Expr, prefer: Sequence[Index]) -> list[Index]:
    out = [i for i in prefer if i in e.free]
    for n in distinct(e):
        if isinstance(n, Tensor):
            for i in n.indices:
                if i in e.free and i not in out:
                    out.append(i)
    out.extend(sorted(e.free - set(out)))
    return out


def lift(prog: Program, wrt: Iterable[str], names: Names) -> tuple[Program, list[Statement]]:
    """Lift function arguments, and sums of terms raised to a constant power above 1, that
    contract or mix several differentiated tensors.

    ``y[i] = sigmoid(W[i,j]*x[j] + b[i])`` becomes ``z1[i] = W[i,j]*x[j] + b[i]`` and
    ``y[i] = sigmoid(z1[i])``, so the adjoint ``dz1`` is computed once; the residual of
    ``(X[n,d]*W[d,k] - Y[n,k])^2`` likewise. Returns the new program and the lifted
    statements.
    """
    dep = depends_on(prog, wrt)
    dims = dict(prog.dims)
    out: list[Statement] = []
    lifted: list[Statement] = []

    def qualifies(arg: Expr) -> bool:
        if isinstance(arg, (Tensor, Const, Size)):
            return False
        refs = [n for n in walk(arg) if isinstance(n, Tensor) and n.name in dep]  # x[i] * x[i]: 2
        return len(refs) >= 2 or (bool(refs) and contains(arg, Sum))

    seen: dict[Expr, Statement] = {}  # an argument met again (up to index names) is reused

    def lift_call(n: Expr, s: Statement) -> Expr:
        # the base of a constant power too ((X[n,d] * W[d,k] - Y[n,k])^2: the residual,
        # named once, its adjoint 2 * z1 shared by every gradient)
        arg: Expr
        if isinstance(n, Pow):
            if not (isinstance(n.exp, Const) and n.exp.value > 1 and isinstance(n.base, Add) and qualifies(n.base)):
                return n
            arg = n.base
        elif isinstance(n, Call) and qualifies(n.args[0]):
            arg = n.args[0]
        else:
            return n
        idx = ordered_free(arg, s.indices)
        key = alpha_key(substitute(arg, {i: Index(f"#{k}", i.dim) for k, i in enumerate(idx)}))
        if key in seen:
            return _with_arg(n, Tensor(seen[key].name, idx))
        name = names.claim_first(f"z{k}" for k in range(len(lifted) + 1, len(lifted) + 100))
        st = Statement(name, idx, arg, span=s.span, ref_spans=s.ref_spans, index_spans=s.index_spans)
        dims[name] = tuple(i.dim for i in idx)
        out.append(st)
        lifted.append(st)
        seen[key] = st
        dep.add(name)
        return _with_arg(n, Tensor(name, idx))

    for s in prog.statements:
        rhs = s.rhs
        if any(r.name in dep for r in tensor_refs(rhs)):
            rhs = map_bottom_up(rhs, functools.partial(lift_call, s=s))
        out.append(s.replace(rhs) if rhs is not s.rhs else s)
    return Program(out, dims, dim_names=prog.dim_names, source=prog.text,
                     declared=prog.declared), lifted


def _with_arg(n: Expr, arg: Expr) -> Expr:
    """A call or a power with its argument (base) replaced."""
    return Pow(arg, n.exp) if isinstance(n, Pow) else Call(n.fn, (arg,))  # type: ignore[attr-defined]


def first_use_indices(prog: Program) -> dict[str, tuple[Index, ...]]:
    """The indices of each tensor at its first use, in one pass over the program."""
    out: dict[str, tuple[Index, ...]] = {}
    for s in prog.statements:
        for r in tensor_refs(s.rhs):
            if not any(i.name.startswith("#") for i in r.indices):  # not inv(A)'s own
                out.setdefault(r.name, r.indices)
    return out


class Union:
    """The union of several collections of names, for ``in`` only."""

    def __init__(self, parts: Sequence[Container[str]]) -> None:
        self.parts = parts

    def __contains__(self, name: object) -> bool:
        for p in self.parts:  # (a loop, not any(): this is asked for every fresh name)
            if name in p:
                return True
        return False


def input_indices(prog: Program, name: str, chosen: list[str] | None,
                   first_uses: dict[str, tuple[Index, ...]]) -> tuple[Index, ...]:
    """The indices a gradient of input ``name`` is written with: its first use's, made distinct."""
    dims = prog.dims[name]
    if chosen is not None:
        return tuple(Index(n, d) for n, d in zip(chosen, dims))
    first = first_uses.get(name)
    if first is None:  # never used: the gradient is zero, any distinct names do
        return fresh_indices(dims, prefer="ijklmn")
    names: list[str] = []
    for i in first:
        names.append(i.name if i.name not in names else
                     fresh_name(set(names) | {j.name for j in first}, successors(i.name)))
    return tuple(Index(n, d) for n, d in zip(names, dims))


def fresh_indices(dims: Sequence[str], *avoid: Container[str], prefer: Sequence[str] = ()) -> tuple[Index, ...]:
    """Distinct new indices of ``dims``, named unlike anything in the ``avoid`` collections
    (read in place, never copied: a statement's fresh names cost O(1), not O(program))."""
    out = []
    mine: set[str] = set()
    taken = Union((mine, *avoid))
    for d in dims:
        n = fresh_name(taken, prefer)
        mine.add(n)
        out.append(Index(n, d))
    return tuple(out)


def known_answers(s: Statement) -> dict[Expr, Expr]:
    return {s.rhs: s.lhs}


class ForwardReuse:
    """:func:`reuse_forward` for one forward program, its tables built once (reverse mode
    calls it for every substitution it tries)."""

    def __init__(self, prog: Program) -> None:
        self.prog = prog
        self.known = {s.rhs: s.lhs for s in prog.statements
                      if not isinstance(s.rhs, (Tensor, Const)) and len(set(s.indices)) == len(s.indices)}
        self.reuse = Reuse(prog.statements)
        self.identities = has_identities(prog)  # (asked once, not for every call: linear)
        # for context(): each statement's names, filed under its most rarely read one
        self._reads = [frozenset(r.name for r in tensor_refs(st.rhs)) for st in prog.statements]
        readers = Counter(n for names in self._reads for n in names)
        self._filed: dict[str, list[int]] = {}
        self._always: list[int] = []
        for k, names in enumerate(self._reads):
            if names:
                self._filed.setdefault(min(names, key=lambda n: (readers[n], n)), []).append(k)
            else:
                self._always.append(k)

    def context(self, names: Iterable[str]) -> list[Statement] | None:
        """The forward statements this reuse can use in an expression reading ``names``,
        in program order: those whose right-hand sides read only names read there or
        defined by such statements (a right-hand side matches, and a product of factors
        is reused, only where all its tensors occur). With the expression, they decide
        what a call gives it. ``None`` where the identities apply (they read more)."""
        if self.identities:
            return None
        present = set(names)
        found = set(self._always)
        grew = True
        while grew:  # (a statement found names its left-hand side: others may follow)
            grew = False
            for n in list(present):
                for k in self._filed.get(n, ()):
                    if k not in found and self._reads[k] <= present:
                        found.add(k)
                        present.add(self.prog.statements[k].name)
                        grew = True
        return [self.prog.statements[k] for k in sorted(found)]

    def __call__(self, stmts: Sequence[Statement]) -> list[Statement]:
        stmts = derived_identities(self.prog, list(stmts)) if self.identities else list(stmts)
        if self.known:
            memo: dict = {}
            known = self.known

            def fn(n: Expr) -> Expr:
                hit = known.get(n)
                return hit if hit is not None else n

            stmts = [s.replace(map_bottom_up(s.rhs, fn, memo)) for s in stmts]
        return [s.replace(simplify(s.rhs)) for s in self.reuse(stmts)]


def reuse_forward(prog: Program, stmts: list[Statement]) -> list[Statement]:
    """Replace subexpressions equal to a forward right-hand side by its left-hand side, then
    products of its factors (up to index names, see :mod:`ricci.calculus.reuse`). The
    identities of the forward program's definitions are applied first (:mod:`.identities`)."""
    return ForwardReuse(prog)(stmts)


def closure(prog: Program, stmts: Sequence[Statement]) -> list[Statement]:
    """The forward statements of ``prog`` that ``stmts`` reference, with their dependencies."""
    need = {r.name for s in stmts for r in tensor_refs(s.rhs)}
    keep = []
    for s in reversed(prog.statements):
        if s.name in need:
            keep.append(s)
            need.update(r.name for r in tensor_refs(s.rhs))
    return list(reversed(keep))


# ---------------------------------------------------------------- reverse mode



def lhs_text(name: str, idx: Sequence[Index]) -> str:
    return f"{name}[{','.join(i.name for i in idx)}]" if idx else name
