"""Checking a hand derivation: a chain of equalities, or a claimed derivative.

:func:`verify` reads ``A_{ij} = U_{ik} S_{kl} V_{lj} = U_{ik} \\sigma_k V_{kj}`` (ricci or LaTeX
notation) and says for each ``=`` whether it holds, or reads ``dL/dW[i,j] = ...`` /
``\\frac{\\partial L}{\\partial W_{ij}} = ...`` and compares it with ricci's own gradient.

How a side is read: its free indices are those of the Einstein convention (an index written
once in a product is free, twice is summed; the terms of a sum contribute the union; a
function's argument keeps its own). Each side becomes a statement ``side[free] = text`` of one
program that also holds the context (printed in the claim's notation), so every side shares
the context's sizes. Internally a claim is therefore *an index-notation text plus its free
indices* (:class:`Side`); a reader of another notation (matrix notation) only has to produce
one.

How an equality is decided: symbolically when the two sides, with the context's definitions
substituted and simplified, have one canonical form up to the names of summed indices
(:func:`~ricci.simplify.canonical.alpha_key`); else numerically, by the reference evaluator
(:mod:`.evaluate`) at random float64 inputs (three seeds, distinct sizes per dimension,
relative tolerance 1e-9). A failed equality gets a diagnosis (see ``docs/verify.md``).
"""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Sequence

import numpy as np

from ..derivation import Derivation, grad
from ..errors import RicciError, RicciWarning, Span
from ..ir.expr import Add, Expr, Index, Tensor
from ..ir.indices import substitute
from ..ir.program import Program, Statement
from ..ir.traversal import replace_tensors, walk
from ..primitives.functions import FUNCTIONS, MATRIX_FUNCTIONS
from ..simplify.canonical import alpha_key
from ..simplify.factor import expand
from ..simplify.rewrite import simplify
from ..syntax.latex import LatexParser, looks_like_latex
from ..syntax.matrix_input import MATRIX_FORMS
from ..syntax.parse import Parser
from ..syntax.resolve import parse
from ..syntax.text import prepare_text
from ..syntax.tree import AddA, CallA, DeltaA, Group, MatCallA, Name, NegA, Node, PowA, ProdA, Ref, SumA
from .check import declared_array
from .evaluate import evaluate

__all__ = ["Equality", "Side", "VerifyReport", "verify"]

#: relative tolerance of a numeric comparison (float64 arithmetic of small random problems)
RTOL = 1e-9
#: the seeds tried after the one given (each a fresh draw of every input)
TRIALS = 3
#: substituted-and-simplified sides bigger than this are compared numerically only
_SYMBOLIC_NODES = 4000
_SIZES = (3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13)


@dataclass(frozen=True)
class Side:
    """One side of an equality as index notation: ``text`` (in ``syntax``, ``"ricci"`` or
    ``"latex"``) and its free indices, ``free`` (names as the IR spells them) and ``free_text``
    (as written in ``text``'s notation). ``column`` is where ``text`` starts in the claim as
    given (1-based, for carets). Invariant: ``len(free) == len(free_text)``."""

    text: str
    free: tuple[str, ...]
    free_text: tuple[str, ...]
    syntax: str
    column: int = 1
    node: Any = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Equality:
    """The verdict on one ``=``: ``holds``; ``method`` ``"symbolic"`` (decided by ricci's
    simplifier, or from the free indices alone) or ``"numeric"`` (decided at random inputs);
    ``diagnosis`` (None when it holds); ``correct``, ricci's form in index notation, and
    ``correct_matrix``, in matrix notation (a claimed derivative: ricci's gradient)."""

    lhs: str
    rhs: str
    holds: bool
    method: str
    diagnosis: str | None = None
    correct: str | None = None
    correct_matrix: str | None = None

    def lines(self) -> list[str]:
        mark = "holds" if self.holds else "DOES NOT HOLD"
        out = [f"{self.lhs} = {self.rhs}", f"  {mark} ({self.method})"]
        if self.diagnosis:
            out.append(f"  diagnosis: {self.diagnosis}")
        if not self.holds and self.correct:
            out.extend("  ricci: " + line for line in self.correct.splitlines())
        if not self.holds and self.correct_matrix:
            out.extend("  matrix: " + line for line in self.correct_matrix.splitlines())
        return out


@dataclass(frozen=True)
class VerifyReport:
    """Every equality checked, in order; ``defines`` names the tensor a chain's first side
    introduces (``A`` of ``A_{ij} = U_{ik} S_{kl} V_{lj} = ...``: that ``=`` is a definition,
    not checked). ``ok``: every equality holds."""

    results: tuple[Equality, ...]
    defines: str | None = None

    @property
    def ok(self) -> bool:
        return all(r.holds for r in self.results)

    def __str__(self) -> str:
        out: list[str] = []
        if self.defines:
            out.append(f"{self.defines} is defined by the first equality (not checked)")
        for r in self.results:
            out.extend(r.lines())
        n = sum(r.holds for r in self.results)
        one = len(self.results) == 1
        out.append(f"{n} of {len(self.results)} equalit{'y holds' if one else 'ies hold'}")
        return "\n".join(out)

    def _repr_markdown_(self) -> str:
        rows = ["| equality | holds | method | diagnosis |", "|---|---|---|---|"]
        for r in self.results:
            cell = (r.diagnosis or "").replace("|", "\\|")
            rows.append(f"| `{r.lhs} = {r.rhs}` | {'yes' if r.holds else '**no**'} | {r.method} | {cell} |")
        return "\n".join(rows)


# ---------------------------------------------------------------- reading the claim

_BLANK = re.compile(r"\\begin\{aligned\*?\}|\\end\{aligned\*?\}|\\\\|&|\$|\n|\r|\t")
_OPEN, _CLOSE = "([{", ")]}"


def _clean(text: str) -> str:
    """``text`` with LaTeX layout (``$``, ``&``, ``\\\\``, aligned, line breaks) blanked out,
    character for character, so that columns stay those of the claim."""
    return _BLANK.sub(lambda m: " " * len(m.group()), text).rstrip().rstrip(".,;").rstrip()


def _split(text: str) -> list[tuple[int, str]]:
    """The sides of a chain: (0-based offset, text) of each part between top-level ``=``."""
    parts, depth, start = [], 0, 0
    for k, ch in enumerate(text):
        if ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
        elif ch == "=" and depth == 0:
            parts.append((start, text[start:k]))
            start = k + 1
    parts.append((start, text[start:]))
    return [(off + len(t) - len(t.lstrip()), t.strip()) for off, t in parts]


def _err(msg: str, text: str, col: int, length: int, hint: str | None = None) -> RicciError:
    return RicciError(msg, span=Span(1, col, max(1, length)), source=text, hint=hint)


def _parse_side(text: str, syntax: str, source: str, col: int) -> Node:
    """The syntax tree of one side (errors point into ``source`` at ``col``)."""
    prefix = "Q = "
    line = prepare_text(prefix + text)
    try:
        stmts = (LatexParser(line) if syntax == "latex" else Parser(line)).program()
    except RicciError as e:
        raise _moved(e, source, col - len(prefix) - 1) from None
    if len(stmts) != 1:
        raise _err("each side of an equality must be one expression", source, col, len(text))
    return stmts[0].rhs


def _moved(e: RicciError, source: str, shift: int, line: int = 1) -> RicciError:
    """``e`` (about a one-line wrapper of a side) pointing into ``source`` instead."""
    if e.span is None or e.span.line != line:
        return RicciError(e.message, hint=e.hint)
    return RicciError(e.message, span=Span(1, max(1, e.span.column + shift), e.span.length),
                      source=source, hint=e.hint)


def _free(node: Node, keep: frozenset[str] = frozenset()) -> list[Name]:
    """The free indices of a syntax tree by the Einstein convention, in first-seen order.
    An index in ``keep`` (those of the input of a claimed derivative, which the left side
    says survive) is free wherever it appears, as in a ricci statement."""
    if isinstance(node, (Ref, DeltaA, MatCallA)):
        count: dict[str, int] = {}
        for n in node.indices:
            count[n.name] = count.get(n.name, 0) + 1
        return [n for n in _first(node.indices) if count[n.name] == 1 or n.name in keep]
    if isinstance(node, ProdA):
        names = [n for _, f in node.factors for n in _free(f, keep)]
        count = {}
        for n in names:
            count[n.name] = count.get(n.name, 0) + 1
        return [n for n in _first(names) if count[n.name] == 1 or n.name in keep]
    if isinstance(node, AddA):
        return _first([n for _, t in node.terms for n in _free(t, keep)])
    if isinstance(node, SumA):
        bound = {n.name for n in node.indices}
        return [n for n in _free(node.body, keep - bound) if n.name not in bound]
    if isinstance(node, (CallA, Group, NegA)):
        return _free(node.kids()[0], keep)
    if isinstance(node, PowA):
        return _first(_free(node.base, keep) + _free(node.exp, keep))
    return []


def _first(names: Sequence[Name]) -> list[Name]:
    seen: dict[str, Name] = {}
    for n in names:
        seen.setdefault(n.name, n)
    return list(seen.values())


def _side(text: str, syntax: str, source: str, col: int, keep: frozenset[str] = frozenset()) -> Side:
    node = _parse_side(text, syntax, source, col)
    line = "Q = " + text
    free = _free(node, keep)
    texts = tuple(line[n.span.column - 1:n.span.column - 1 + n.span.length] for n in free)
    return Side(text, tuple(n.name for n in free), texts, syntax, col, node)


_LATEX_D = re.compile(r"^\\frac\s*\{\s*(?:\\partial|d)\s*(?P<of>.+?)\s*\}\s*\{\s*(?:\\partial|d)\s*(?P<wrt>.+)\}$", re.S)
_LATEX_SLASH = re.compile(r"^(?:\\partial|d)\s*(?P<of>[^/]+?)\s*/\s*(?:\\partial|d)\s*(?P<wrt>.+)$", re.S)
_RICCI_D = re.compile(r"^d(?P<of>[A-Za-z][A-Za-z0-9_]*)\s*/\s*d(?P<wrt>[A-Za-z][A-Za-z0-9_]*\s*(?:\[[^\]]*\])?)$")
_RICCI_ADJ = re.compile(r"^d(?P<wrt>[A-Za-z][A-Za-z0-9_]*)\s*(?:\[[^\]]*\])?$")


def _derivative_lhs(text: str, syntax: str, context: Program | None,
                    wrt: str | None) -> tuple[str | None, str] | None:
    """``(of text or None, wrt text)`` when ``text`` is the left side of a claimed derivative."""
    for pat in (_LATEX_D, _LATEX_SLASH, _RICCI_D):
        m = pat.match(text)
        if m:
            return m.group("of"), m.group("wrt")
    m = _RICCI_ADJ.match(text)
    if m and context is not None:
        name = m.group("wrt")
        if (wrt is not None and name == wrt) or (name in context.inputs and "d" + name not in context.defined):
            return None, text[1:]
    return None


def _ref(text: str, syntax: str, source: str, col: int, what: str) -> Ref:
    node = _parse_side(text, syntax, source, col)
    if isinstance(node, Group):
        node = node.node
    if not isinstance(node, Ref):
        raise _err(f"expected the name of {what} here", source, col, len(text))
    return node


# ---------------------------------------------------------------- matrix-notation claims

#: LaTeX's matrix spellings, as matrix notation: a transpose, an inverse, a product sign
_TRANSPOSE = re.compile(r"\^\s*(?:\{\s*(?:T|\\top|\\intercal)\s*\}|T\b|\\top\b|\\intercal\b)")
_INVERSE = re.compile(r"([A-Za-z][A-Za-z0-9_]*)\s*\^\s*\{\s*-\s*1\s*\}")
_OPERAND_END = re.compile(r"(?:[A-Za-z0-9_]|\.T|\))$")


def _as_python(text: str) -> str:
    """A matrix claim as people write it on paper (``X^T (P - Y)``, ``A^{-1} b``), in the
    matrix notation of NumPy (``X.T @ (P - Y)``, ``inv(A) @ b``): juxtaposed operands are a
    product ``@`` (``*`` after a number), ``^T`` / ``^\\top`` a transpose."""
    t = _INVERSE.sub(r"inv(\1)", text)
    t = _TRANSPOSE.sub(".T", t)
    t = t.replace("\\left", "").replace("\\right", "").replace("\\cdot", "*")
    known = {*FUNCTIONS, *MATRIX_FUNCTIONS, *MATRIX_FORMS}
    out: list[str] = []
    for tok in re.findall(r"\s+|[A-Za-z_][A-Za-z0-9_]*|\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|\.T\b|\*\*|.", t):
        if tok.isspace():
            continue
        prev = out[-1] if out else ""
        starts = tok == "(" or tok[0].isalpha() or tok[0] == "_"
        if prev and starts and _OPERAND_END.search(prev) and not (tok == "(" and prev in known):
            out.append(" * " if prev[0].isdigit() else " @ ")
        out.append(tok)
    return "".join(out)


def _matrix_claim(text: str, ctx: Program, wrt: str, idx: Sequence[str], source: str, col: int) -> str:
    """A right side in matrix notation (``X.T @ (P - Y)``, or ``X^T (P - Y)``) as ricci index
    notation whose free indices are ``idx``, the result's axes in order: the context's
    tensors are declared with their shapes, named by the context's own index letters."""
    sizes: dict[str, str] = {}
    taken = set(ctx.dims)
    for st in ctx.statements:
        for n in [Tensor(st.name, st.indices), *walk(st.rhs)]:
            for i in getattr(n, "indices", ()):
                if i.dim not in sizes:
                    nm, k = i.name, 1
                    while nm in taken:
                        nm, k = f"{i.name}{k}", k + 1
                    sizes[i.dim] = nm
                    taken.add(nm)
    decls = [f"{t}: [{', '.join(sizes[d] for d in dims)}]" if dims else f"{t}: scalar"
             for t, dims in ctx.dims.items() if all(d in sizes for d in dims)]
    target = "claimed"
    while target in ctx.dims:
        target += "_"
    written = _as_python(text)
    try:
        with warnings.catch_warnings():  # the context's tensors the claim does not use
            warnings.simplefilter("ignore", RicciWarning)
            mp = parse("\n".join([*decls, f"{target} = {written}"]), syntax="matrix")
    except RicciError as e:
        hint = e.hint or ("matrix notation: X.T @ (P - Y), sum(P - Y, axis=0), inv(S) @ r; or write "
                          "the indices, dL/dW[i,j] = ...")
        raise _err(f"cannot read the claim as matrix notation ({written}): {e.message}", source, col,
                   len(text), hint=hint) from None
    st = mp.defined[target]
    new = _result_indices(st, mp, ctx, wrt, idx, sizes)
    renamed = Statement(target, new, substitute(st.rhs, dict(zip(st.indices, new))))
    return str(renamed).split(" = ", 1)[1]


def _result_indices(st: Statement, mp: Program, ctx: Program, wrt: str, idx: Sequence[str],
                    sizes: dict[str, str]) -> list[Index]:
    """The indices a matrix result's axes get: ``idx`` in order when it has the input's rank
    (matrix notation is positional: a transposed result stays transposed); else, an axis of
    one of the input's dims gets that axis's letter, the others their size's name (``P - Y``
    claimed for ``db`` keeps ``n``: a batch sum missing)."""
    if len(st.indices) == len(idx):
        return [Index(n, i.dim) for n, i in zip(idx, st.indices)]
    to_ctx = {a: b for t, dims in mp.dims.items() if t in ctx.dims for a, b in zip(dims, ctx.dims[t])}
    free = list(zip(ctx.dims[wrt], idx))
    out = []
    for i in st.indices:
        hit = next(((d, n) for d, n in free if d == to_ctx.get(i.dim)), None)
        if hit is not None:
            free.remove(hit)
            out.append(Index(hit[1], i.dim))
        else:
            base = sizes.get(to_ctx.get(i.dim, ""), "a")
            nm, k = base, 1
            while nm in idx or any(o.name == nm for o in out):
                nm, k = f"{base}{k}", k + 1
            out.append(Index(nm, i.dim))
    return out


# ---------------------------------------------------------------- the program of the sides

class _Sides:
    """The context plus one statement per side, parsed as one program in the claim's syntax."""

    def __init__(self, context: Program | None, sides: list[Side], orders: list[tuple[str, ...]],
                 syntax: str, source: str) -> None:
        taken = set(context.dims) if context is not None else set()
        head = "" if context is None else (context.latex() if syntax == "latex" else str(context))
        lines = [head] if head else []
        first = len(head.splitlines()) + 1 if head else 1
        self.names: list[str] = []
        #: the facts declared about the context's inputs (a LaTeX rendering drops them)
        self.declared = dict(context.declared) if context is not None else {}
        shifts: list[int] = []
        for k, (s, order) in enumerate(zip(sides, orders)):
            name = f"vside{k + 1}"
            while name in taken:
                name += "x"
            self.names.append(name)
            texts = [s.free_text[s.free.index(n)] for n in order]
            if syntax == "latex":
                lhs = f"\\mathrm{{{name}}}" + (f"_{{{' '.join(texts)}}}" if texts else "")
            else:
                lhs = name + (f"[{', '.join(texts)}]" if texts else "")
            lines.append(f"{lhs} = {s.text}")
            shifts.append(s.column - len(lhs) - 4)
        try:
            self.program = parse("\n".join(lines), syntax=syntax)
        except RicciError as e:
            k = (e.span.line - first) if e.span is not None else -1
            if 0 <= k < len(sides):
                raise _moved(e, source, shifts[k], e.span.line if e.span else 1) from None
            raise RicciError(e.message, hint=e.hint) from None
        self.sizes = {d: _SIZES[k % len(_SIZES)] for k, d in
                      enumerate(dict.fromkeys(x for v in self.program.dims.values() for x in v))}

    def statement(self, k: int) -> Statement:
        return self.program.defined[self.names[k]]

    def inputs(self, seed: int, positive: bool) -> dict[str, np.ndarray]:
        rng = np.random.default_rng(seed)
        out = {}
        for name in self.program.inputs:
            shape = tuple(self.sizes[d] for d in self.program.dims[name])
            fact = self.program.declared.get(name, self.declared.get(name))
            if fact is not None:
                out[name] = declared_array(rng, shape, fact, positive)
            elif positive:
                out[name] = rng.uniform(0.5, 1.5, size=shape)
            else:
                out[name] = rng.standard_normal(shape)
        return out

    def values(self, seed: int, extra: Sequence[Statement] = ()) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The value of every statement (and of ``extra``, statements shaped like the first
        side) at random inputs: normal ones, or positive ones if those are not finite."""
        prog = self.program
        if extra:
            dims = dict(prog.dims)
            for st in extra:
                dims[st.name] = _dims_of(prog, st)
            prog = Program([*prog.statements, *extra], dims, dim_names=prog.dim_names, declared=prog.declared)
        with np.errstate(all="ignore"):
            for positive in (False, True):
                arrays = self.inputs(seed, positive)
                env = evaluate(prog, arrays, dim_sizes=self.sizes)
                if all(np.all(np.isfinite(np.asarray(v))) for v in env.values()):
                    break
        return env, arrays


def _dims_of(prog: Program, st: Statement) -> tuple[str, ...]:
    return tuple(i.dim for i in st.indices)


# ---------------------------------------------------------------- symbolic comparison

def _inline(e: Expr, defs: dict[str, Statement], depth: int = 0) -> Expr:
    """``e`` with every defined tensor replaced by its definition, recursively."""
    if depth > 50:
        raise RecursionError

    def body(t: Tensor) -> Expr:
        st = defs[t.name]
        return _inline(substitute(st.rhs, dict(zip(st.indices, t.indices))), defs, depth + 1)

    return replace_tensors(e, defs, body)


def _canonical(e: Expr, defs: dict[str, Statement]) -> str | None:
    """The printed canonical form of ``e`` with ``defs`` substituted and simplified (None when
    it is too big to be worth it)."""
    try:
        full = _inline(e, defs)
        if full.nodes > _SYMBOLIC_NODES:
            return None
        return str(alpha_key(simplify(full)))
    except (RecursionError, RicciError):
        return None


def _simplified(e: Expr, defs: dict[str, Statement]) -> Expr | None:
    try:
        full = _inline(e, defs)
        return simplify(full) if full.nodes <= _SYMBOLIC_NODES else None
    except (RecursionError, RicciError):
        return None


# ---------------------------------------------------------------- numeric comparison and diagnoses

def _close(a: np.ndarray, b: np.ndarray) -> bool:
    if a.shape != b.shape:
        return False
    scale = max(1.0, float(np.max(np.abs(a), initial=0.0)), float(np.max(np.abs(b), initial=0.0)))
    return bool(np.all(np.abs(a - b) <= RTOL * scale))


def _ratio(claim: np.ndarray, right: np.ndarray) -> float | None:
    """``r`` with ``claim == r * right`` everywhere, if there is one (and ``right`` is not 0)."""
    if claim.shape != right.shape:
        return None
    nn = float(np.sum(right * right))
    if nn == 0.0:
        return None
    r = float(np.sum(claim * right)) / nn
    return r if _close(claim, r * right) else None


def _number(r: float) -> str:
    f = Fraction(r).limit_denominator(1000)
    if abs(float(f) - r) > 1e-9 * max(1.0, abs(r)):
        return f"{r:.6g}"
    return str(f)


def _factor_text(r: float, sizes: dict[int, list[str]]) -> str:
    if abs(r + 1) <= 1e-9:
        return "the sign is wrong"
    text = f"off by a factor {_number(r)}"
    for v, what in ((r, ""), (1 / r, "1/")):
        n = round(abs(v))
        if abs(abs(v) - n) < 1e-9 and n in sizes:
            text += f" ({what}{n} is the size of {', '.join(sizes[n])}: a mean for a sum, or the reverse?)"
            break
    return text


def _swap(claim: np.ndarray, right: np.ndarray, names: Sequence[str]) -> str | None:
    """The two indices whose swap turns ``claim`` into ``right``, as ``"i and j"``."""
    for a in range(claim.ndim):
        for b in range(a + 1, claim.ndim):
            perm = list(range(claim.ndim))
            perm[a], perm[b] = perm[b], perm[a]
            if _close(np.transpose(claim, perm), right):
                return f"{names[a]} and {names[b]}"
    return None


def _shape(a: np.ndarray) -> str:
    return "×".join(map(str, a.shape)) if a.ndim else "a scalar"


# ---------------------------------------------------------------- verify

def verify(text: str, *, context: str | Program | None = None, wrt: str | None = None,
           of: str | None = None, syntax: str = "auto", seed: int = 0) -> VerifyReport:
    """Check a hand derivation: a chain of equalities ``a = b = c`` (each ``=`` checked), or a
    claimed derivative ``dL/dW[i,j] = ...`` / ``\\frac{\\partial L}{\\partial W_{ij}} = ...`` (or
    ``dW[i,j] = ...`` for an input ``W``) compared with ricci's gradient of ``context``.

    ``context`` is a program (text or :class:`~ricci.Program`) whose statements define
    tensors; names it does not define are inputs. ``wrt`` / ``of`` name the input and the
    output of a derivative when the claim's left side does not. ``syntax``: ``"ricci"``,
    ``"latex"`` or ``"auto"``. ``seed``: the first random seed of the numeric checks.
    Raises :class:`~ricci.RicciError` for text it cannot read; a false equality is a result,
    not an error.
    """
    if not isinstance(text, str):
        raise RicciError(f"expected the claim as text (a str), got {type(text).__name__}")
    if syntax not in ("ricci", "latex", "auto"):
        raise RicciError(f"syntax must be 'ricci', 'latex' or 'auto', not {syntax!r}")
    for value, what in ((wrt, "wrt"), (of, "of")):
        if value is not None and not isinstance(value, str):
            raise RicciError(f"{what} must be a name (a str), got {type(value).__name__}")
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise RicciError(f"seed must be an int, got {type(seed).__name__}")
    ctx: Program | None
    if context is None:
        ctx = None
    elif isinstance(context, Program):
        ctx = context
    elif isinstance(context, str):
        ctx = parse(context, syntax="auto")
    else:
        raise RicciError(f"context must be program text or a Program, got {type(context).__name__}")
    source = _clean(prepare_text(text))
    if syntax == "auto":
        syntax = "latex" if looks_like_latex(source) or "\\" in source or "_{" in source else "ricci"
    parts = _split(source)
    if len(parts) < 2:
        raise RicciError("nothing to verify: write an equality such as "
                         "'v_i = A_{ij} \\delta_{jk} B_{ik} = A_{ik} B_{ik}' or 'dL/dW[i,j] = ...'")
    for off, t in parts:
        if not t:
            raise _err("one side of an equality is empty", source, off + 1, 1)
    d = _derivative_lhs(parts[0][1], syntax, ctx, wrt)
    if d is not None:
        return _verify_derivative(source, parts, d, ctx, wrt, of, syntax, seed)
    return _verify_chain(source, parts, ctx, syntax, seed)


def _verify_chain(source: str, parts: list[tuple[int, str]], ctx: Program | None, syntax: str,
                  seed: int) -> VerifyReport:
    sides = [_side(t, syntax, source, off + 1) for off, t in parts]
    known = set(ctx.dims) if ctx is not None else set()
    defines = None
    first = sides[0].node
    if isinstance(first, Ref) and first.name not in known and len(sides) > 2:
        defines = first.name
    order = sides[0].free
    orders = [s.free if set(s.free) != set(order) else order for s in sides]
    prog = _Sides(ctx, sides, orders, syntax, source)
    defs = dict(ctx.defined) if ctx is not None else {}
    results = []
    start = 1 if defines else 0
    envs = [prog.values(seed + t)[0] for t in range(TRIALS)]
    for k in range(start, len(sides) - 1):
        a, b = sides[k], sides[k + 1]
        results.append(_compare(a, b, prog, k, defs, envs))
    if not results:
        raise RicciError(f"nothing to verify: '{sides[0].text} = {sides[1].text}' defines "
                         f"{sides[0].text}; write a chain 'A = B = C' or give the definitions with "
                         f"context (--given)")
    return VerifyReport(tuple(results), defines)


def _compare(a: Side, b: Side, prog: _Sides, k: int, defs: dict[str, Statement],
             envs: list[dict[str, Any]]) -> Equality:
    if set(a.free) != set(b.free):
        return Equality(a.text, b.text, False, "symbolic",
                        f"the left side has free indices {_names(a.free_text)}; the right side "
                        f"{_names(b.free_text)}")
    sa, sb = prog.statement(k), prog.statement(k + 1)
    ka, kb = _canonical(sa.rhs, defs), _canonical(sb.rhs, defs)
    if ka is not None and ka == kb:
        return Equality(a.text, b.text, True, "symbolic")
    va = [np.asarray(env[sa.name], dtype=float) for env in envs]
    vb = [np.asarray(env[sb.name], dtype=float) for env in envs]
    if all(_close(x, y) for x, y in zip(va, vb)):
        return Equality(a.text, b.text, True, "numeric")
    if va[0].shape != vb[0].shape:
        why = (f"the two sides have different shapes ({_shape(va[0])} and {_shape(vb[0])}): an index "
               f"runs over different dimensions on the two sides")
    else:
        why = _value_diagnosis(vb, va, list(b.free_text and [b.free_text[b.free.index(n)] for n in a.free]),
                               prog, "the left side")
    left = _simplified(sa.rhs, defs)
    return Equality(a.text, b.text, False, "numeric", why, correct=None if left is None else str(left))


def _constant(ratios: Sequence[float | None]) -> float | None:
    """The one ratio of every trial, if each trial has one and they agree."""
    if not ratios or ratios[0] is None:
        return None
    r0 = ratios[0]
    if all(r is not None and abs(r - r0) <= 1e-9 * max(1.0, abs(r0)) for r in ratios):
        return r0
    return None


def _names(names: Sequence[str]) -> str:
    return ",".join(names) if names else "none (a scalar)"


def _value_diagnosis(claim: list[np.ndarray], right: list[np.ndarray], names: Sequence[str],
                     prog: _Sides, what: str) -> str:
    """Why ``claim`` is not ``right`` (same shapes): a constant factor, the sign, a swap of two
    indices, or only that they differ."""
    ratio = _constant([_ratio(c, r) for c, r in zip(claim, right)])
    if ratio is not None:
        if ratio == 0.0:
            return f"the claim is zero, {what} is not"
        return _factor_text(ratio, _size_names(prog))
    swaps = [_swap(c, r, names) for c, r in zip(claim, right)]
    if swaps[0] is not None and all(s == swaps[0] for s in swaps):
        return f"a transpose is missing: swapping indices {swaps[0]} of the claim gives {what}"
    err = max(float(np.max(np.abs(c - r), initial=0.0)) for c, r in zip(claim, right))
    return f"the values differ from {what} at random inputs (largest difference {err:.3g})"


def _size_names(prog: _Sides) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {}
    for d, n in prog.sizes.items():
        names = prog.program.names_for_dim(d)
        if names:
            out.setdefault(n, []).extend(x for x in names if x not in out.get(n, []))
    return out


# ---------------------------------------------------------------- derivatives

def _verify_derivative(source: str, parts: list[tuple[int, str]], lhs: tuple[str | None, str],
                       ctx: Program | None, wrt: str | None, of: str | None, syntax: str,
                       seed: int) -> VerifyReport:
    of_text, wrt_text = lhs
    col0 = parts[0][0] + 1
    if ctx is None:
        raise RicciError("a claimed derivative needs the program that defines what is "
                         "differentiated: pass context= (on the command line, --given)")
    ref = _ref(wrt_text, syntax, source, col0 + parts[0][1].find(wrt_text), "the input")
    name = ref.name
    if wrt is not None and wrt != name:
        raise RicciError(f"the claim differentiates with respect to {name}, but wrt is {wrt}")
    if of_text is not None:
        of_ref = _ref(of_text, syntax, source, col0 + parts[0][1].find(of_text), "the output")
        if of is not None and of != of_ref.name:
            raise RicciError(f"the claim differentiates {of_ref.name}, but of is {of}")
        of = of_ref.name
        if of_ref.indices or (of in ctx.dims and ctx.rank(of) > 0):
            ix = ",".join("pqrstu"[:ctx.rank(of) if of in ctx.dims else len(of_ref.indices)])
            raise _err(f"'{of_text}' has indices: verify checks the derivative of a scalar (a "
                       f"gradient), not a Jacobian", source, col0 + parts[0][1].find(of_text), len(of_text),
                       hint=f"contract with an upstream gradient: add 'L = g[{ix}] * {of}[{ix}]' to the "
                            f"context and claim dL/d{name}")
    if name not in ctx.inputs:
        raise _err(f"'{name}' is not an input of the context (its inputs: {', '.join(ctx.inputs)})",
                   source, col0 + parts[0][1].find(wrt_text), len(wrt_text))
    d: Derivation = grad(ctx, name, of)
    idx = [n.name for n in ref.indices]
    idx_text = [source[n.span.column - 5 + col0 + parts[0][1].find(wrt_text) - 1:][:n.span.length]
                for n in ref.indices]
    shown: dict[int, str] = {}
    if not idx and ctx.rank(name) > 0:  # dL/dW = X.T @ (P - Y): matrix notation
        idx = [c for c in "ijklmpqrs"][:ctx.rank(name)]
        idx_text = list(idx)
        written = {off: t for off, t in parts[1:]}
        parts = [parts[0]] + [(off, _matrix_claim(t, ctx, name, idx, source, off + 1)) for off, t in parts[1:]]
        shown = {off: f"{written[off]}   (in index notation: {t})" for off, t in parts[1:]}
        syntax = "ricci"
    if len(idx) != ctx.rank(name):
        raise _err(f"{name} has {ctx.rank(name)} indices, but the claim writes {len(idx)}", source,
                   col0, len(parts[0][1]))
    out = d.program.defined[d.outputs[name]]
    correct = "\n".join(d.lines())
    try:
        matrix = str(d.matrix())
    except RicciError:
        matrix = None
    label = parts[0][1]
    sides = [_side(t, syntax, source, off + 1, frozenset(idx)) for off, t in parts[1:]]
    orders = []
    for s in sides:
        extra = tuple(n for n in s.free if n not in idx)
        orders.append(tuple(n for n in idx if n in s.free) + extra)
    prog = _Sides(ctx, sides, orders, syntax, source)
    runs = []
    for t in range(TRIALS):
        env, arrays = prog.values(seed + t)
        right = evaluate(d.program, {k: arrays[k] for k in d.program.inputs})[out.name]
        runs.append((env, np.asarray(right, dtype=float), seed + t))
    want = _canonical(substitute(out.rhs, {i: Index(n, i.dim) for i, n in zip(out.indices, idx)}),
                      dict(d.program.defined))
    results = []
    for k, (s, (off, _)) in enumerate(zip(sides, parts[1:])):
        r = _claim(s, k, prog, runs, idx, idx_text, out, want, ctx, d)
        results.append(Equality(label, shown.get(off, s.text), r[0], r[1], r[2], correct, matrix))
    return VerifyReport(tuple(results))


def _claim(s: Side, k: int, prog: _Sides, runs: list, idx: list[str], idx_text: list[str],
           out: Statement, want: str | None, ctx: Program, d: Derivation) -> tuple[bool, str, str | None]:
    """(holds, method, diagnosis) of one claimed derivative."""
    st = prog.statement(k)
    claims = [np.asarray(env[st.name], dtype=float) for env, _, _ in runs]
    rights = [r for _, r, _ in runs]
    free, order = set(s.free), list(prog.statement(k).indices)
    texts = [s.free_text[s.free.index(i.name)] for i in order]
    if free != set(idx):
        extra = [n for n in s.free if n not in idx]
        if set(idx) <= free:
            summed = [c.sum(axis=tuple(range(len(idx), c.ndim))) for c in claims]
            if all(_close(c, r) for c, r in zip(summed, rights)):
                names = ",".join(s.free_text[s.free.index(n)] for n in extra)
                return False, "numeric", (f"a sum over the batch is missing: the claim keeps index {names}; "
                                          f"summed over {names} it is ricci's result")
        return False, "symbolic", (f"wrong shape: the claim has free indices {_names(s.free_text)}, but "
                                   f"the derivative has the indices of {out.name[1:] or 'the input'}: "
                                   f"{_names(idx_text)}")
    # align the claim's axes with the input's
    perm = [order.index(next(i for i in order if i.name == n)) for n in idx]
    claims = [np.transpose(c, perm) if c.ndim > 1 else c for c in claims]
    texts = [texts[p] for p in perm]
    got = _canonical(substitute(st.rhs, {i: Index(n, i.dim) for i, n in zip(order, idx)}), dict(ctx.defined))
    if want is not None and got is not None and _same_up_to_free(got, want):
        return True, "symbolic", None
    if all(_close(c, r) for c, r in zip(claims, rights)):
        return True, "numeric", None
    if claims[0].shape != rights[0].shape:
        for a in range(claims[0].ndim):
            for b in range(a + 1, claims[0].ndim):
                p = list(range(claims[0].ndim))
                p[a], p[b] = p[b], p[a]
                if all(_close(np.transpose(c, p), r) for c, r in zip(claims, rights)):
                    return False, "numeric", (f"a transpose is missing: the claim has shape {_shape(claims[0])}, "
                                              f"the input {_shape(rights[0])}; swapping indices {texts[a]} and "
                                              f"{texts[b]} of the claim gives ricci's result")
        return False, "numeric", (f"wrong shape: the claim has shape {_shape(claims[0])}, the input "
                                  f"{_shape(rights[0])}")
    why = _value_diagnosis(claims, rights, texts, prog, "ricci's result")
    if why.startswith("the values differ"):
        why = (_symmetric_only(st, prog, runs, perm, d, out, ctx)
               or _term_diagnosis(st, prog, runs, perm, rights) or _factor_swap(st, prog, runs, perm, rights)
               or _missing_terms(claims, rights, d, out, idx, runs) or why)
    return False, "numeric", why


def _symmetric_only(st: Statement, prog: _Sides, runs: list, perm: list[int], d: Derivation,
                    out: Statement, ctx: Program) -> str | None:
    """The claim is ricci's result when a square input matrix is symmetric (``2 A x`` for the
    gradient of ``x^T A x``), the textbook's assumption the context does not declare."""
    square = [n for n in ctx.inputs if len(ctx.dims.get(n, ())) == 2 and ctx.dims[n][0] == ctx.dims[n][1]
              and n not in ctx.declared]
    for name in square:
        ok = True
        for _, _, seed in runs:
            arrays = prog.inputs(seed, False)
            arrays[name] = (arrays[name] + arrays[name].T) / 2
            with np.errstate(all="ignore"):
                claim = np.asarray(evaluate(prog.program, arrays, dim_sizes=prog.sizes)[st.name], dtype=float)
                right = np.asarray(evaluate(d.program, {k: arrays[k] for k in d.program.inputs})[out.name],
                                   dtype=float)
            claim = np.transpose(claim, perm) if claim.ndim > 1 else claim
            if claim.shape != right.shape or not _close(claim, right):
                ok = False
                break
        if ok:
            return (f"it holds only when {name} is symmetric ({name} = {name}^T), which the context does not "
                    f"say: declare {name}[i,j] : symmetric if it is; for a general {name}, ricci's result below holds")
    return None


def _same_up_to_free(got: str, want: str) -> bool:
    return got == want


def _terms(e: Expr) -> list[Expr]:
    return list(e.terms) if isinstance(e, Add) else [e]


def _term_diagnosis(st: Statement, prog: _Sides, runs: list, perm: list[int],
                    rights: list[np.ndarray]) -> str | None:
    """Which term of the claim is wrong: the one whose removal, sign flip or rescaling gives
    ricci's result."""
    terms = _terms(st.rhs)
    if len(terms) < 2:
        return None
    extra = [Statement(f"{st.name}t{k}", st.indices, t) for k, t in enumerate(terms)]
    vals = []
    for t in range(len(runs)):
        env, _ = prog.values(runs[t][2], extra)
        vals.append([np.transpose(np.asarray(env[x.name], dtype=float), perm) if len(perm) > 1 else
                     np.asarray(env[x.name], dtype=float) for x in extra])
    claims = [sum(v) for v in vals]
    for k, term in enumerate(terms):
        shown = str(term)
        rest = [c - v[k] for c, v in zip(claims, vals)]
        if all(_close(r0, r) for r0, r in zip(rest, rights)):
            return f"the term {shown} should not be there: without it the claim is ricci's result"
        if all(_close(r0 - v[k], r) for r0, v, r in zip(rest, vals, rights)):
            return f"the sign of the term {shown} is wrong"
        ratio = _constant([_ratio(r - r0, v[k]) for r0, v, r in zip(rest, vals, rights)])
        if ratio:
            return f"the term {shown} is off by a factor {_number(1 / ratio)}"
    return None


def _factor_swap(st: Statement, prog: _Sides, runs: list, perm: list[int],
                 rights: list[np.ndarray]) -> str | None:
    """The matrix factor of the claim written transposed: the one whose two indices, swapped
    (at every place it is written so), give ricci's result. In matrix notation that is ``W``
    where ``W^T`` belongs, or the operands of a product in the wrong order (``W x`` for ``x W``)."""
    seen: list[Tensor] = []
    for t in walk(st.rhs):
        if isinstance(t, Tensor) and len(t.indices) == 2 and t.indices[0] != t.indices[1] and t not in seen:
            seen.append(t)
    for t in seen:
        fixed = Tensor(t.name, (t.indices[1], t.indices[0]))

        def swap(u: Tensor, t: Tensor = t, fixed: Tensor = fixed) -> Expr:
            return fixed if u == t else u

        rhs = replace_tensors(st.rhs, {t.name}, swap)
        extra = [Statement(f"{st.name}sw", st.indices, rhs)]
        try:
            vals = []
            for run in runs:
                env, _ = prog.values(run[2], extra)
                v = np.asarray(env[extra[0].name], dtype=float)
                vals.append(np.transpose(v, perm) if len(perm) > 1 else v)
        except (RicciError, ValueError, KeyError):
            continue
        if all(_close(v, r) for v, r in zip(vals, rights)):
            return (f"a factor is transposed: {t} should be {fixed} (in matrix notation: {t.name} where "
                    f"{t.name}^T belongs, or the operands in the wrong order, as W x for x W)")
    return None


def _missing_terms(claims: list[np.ndarray], rights: list[np.ndarray], d: Derivation, out: Statement,
                   idx: list[str], runs: list) -> str | None:
    """The term of ricci's result (substituted down to the inputs, expanded) the claim lacks,
    or the one term it has when it lacks all the others."""
    renamed = substitute(out.rhs, {i: Index(n, i.dim) for i, n in zip(out.indices, idx)})
    full = _simplified(renamed, dict(d.program.defined))
    full = expand(full) if full is not None else None
    terms = _terms(simplify(full)) if full is not None else []
    if len(terms) < 2:
        return None
    lhs = [Index(n, i.dim) for i, n in zip(out.indices, idx)]
    extra = [Statement(f"{out.name}t{k}", lhs, t) for k, t in enumerate(terms)]
    dims = {n: d.program.dims[n] for n in d.program.inputs}
    for st in extra:
        dims[st.name] = d.program.dims[out.name]
    prog = Program(extra, dims, dim_names=d.program.dim_names, declared=d.program.declared)
    vals = []
    with np.errstate(all="ignore"):
        for env, _, _ in runs:
            got = evaluate(prog, {k: env[k] for k in prog.inputs})
            vals.append([np.asarray(got[x.name], dtype=float) for x in extra])
    for k, term in enumerate(terms):
        if all(_close(c + v[k], r) for c, v, r in zip(claims, vals, rights)):
            return f"a term is missing: ricci's result has the term {term}, the claim lacks it"
    for k, term in enumerate(terms):
        if all(_close(c, v[k]) for c, v in zip(claims, vals)):
            lacking = " and ".join(str(t) for j, t in enumerate(terms) if j != k)
            return f"terms are missing: the claim is the term {term} of ricci's result alone; it lacks {lacking}"
    return None
