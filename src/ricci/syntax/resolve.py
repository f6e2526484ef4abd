"""Stage 2: syntax tree -> expression IR. Names, ranks, dims and the index rule.

The index rule (the pseudo-Einstein convention of the CS189 notes):

* indices on the left-hand side are free; ``sum[k](...)`` binds ``k`` in its argument;
* any other index is *implicit*: it is summed over the smallest product term that holds
  all its occurrences. Concretely, in a product ``f1 * f2 * ...`` an implicit index that
  occurs in two or more factors is summed over the whole product; one that occurs in a
  single factor is summed inside that factor (a lone ``A[i,i]`` is a trace, a
  parenthesised sum sums each of its terms on its own);
* the argument of a function, and the base and exponent of ``^``, are scopes of their
  own: an implicit index inside one is summed there. An implicit index whose occurrences
  lie in more than one scope (``x[j] * tanh(a[j])``) is ambiguous and rejected.

Dims: within one statement an index name has one size; a tensor's axis has one size
across the program. A union-find over (tensor, axis) and (statement, index name) slots
gives every index its dim label: ``X:0`` for the first axis of ``X``, or ``k@Y`` for the
indices of statement ``Y`` that no tensor axis is tied to, ``k`` the alphabetically first
of their names (statement names are unique, so labels never collide, and they do not
depend on the order or layout of the text).
"""

from __future__ import annotations

import warnings
from collections import defaultdict

from .. import validate
from ..bounds import current, gc_paused, guarded, tick
from ..errors import RicciError, RicciWarning, Span
from ..ir.expr import (
    MINUS_ONE,
    Add,
    Call,
    Const,
    Delta,
    Expr,
    Index,
    MatFn,
    Mul,
    Pow,
    Size,
    Sum,
    Tensor,
    operand,
)
from ..ir.program import ONE_HOT, Program, Statement, symmetric_inputs
from ..ir.traversal import walk
from ..primitives.functions import MATRIX_FUNCTIONS
from .latex import SUBSCRIPTED, LatexParser, detect
from .matrix_input import looks_like_matrix, read_matrix
from .parse import Parser
from .text import limit_hint, prepare_text
from .tree import (
    AddA,
    CallA,
    DeclA,
    DeltaA,
    Group,
    MatCallA,
    Name,
    NegA,
    Node,
    Num,
    PowA,
    ProdA,
    Ref,
    SizeA,
    StmtA,
    SumA,
)
from .unicode_input import UNICODE_MARKS, looks_like_unicode, pair_only, parse_unicode

__all__ = ["parse", "parse_detected"]


@guarded("parsing")
def parse(text: str, syntax: str = "auto") -> Program:
    """Parse program text into a :class:`~ricci.ir.program.Program`.

    ``syntax`` is ``"auto"`` (the default, as for ``grad`` and the command line: the text
    is read as matrix notation when :func:`.matrix_input.looks_like_matrix` says so (shape
    declarations, ``@`` or ``.T``), as Unicode or LaTeX when their detections say so, else
    as ricci), ``"ricci"`` (``Y[i,j] = X[i,k] * A[k,j]``, see docs/language.md),
    ``"latex"`` (``Y_{ij} = X_{ik} A_{kj}``, see docs/latex-input.md), ``"unicode"``
    (ricci's own Unicode notation, ``y_i = σ(W_ij x_j)``, detected by its characters
    ``Σ √ · ²``; text the detection takes for Unicode but only another syntax reads is
    read in that one) or ``"matrix"`` (``X: [n, d]; w: [d]; y = X @ w``, see
    docs/matrix-input.md). All syntaxes build the same syntax tree, so the index rule and every later check are shared,
    and errors point into the text as written.
    """
    return _parse(text, syntax)[0]


@guarded("parsing")
def parse_detected(text: str, syntax: str = "auto") -> tuple[Program, str]:
    """:func:`parse`, and the syntax it read the text in: ``syntax`` itself unless it is
    ``"auto"``, else the one the detection settled on (``"ricci"``, ``"latex"``,
    ``"unicode"`` or ``"matrix"``)."""
    return _parse(text, syntax)


def _parse(text: str, syntax: str) -> tuple[Program, str]:
    """The program read from ``text``, and the syntax it was read in."""
    if not isinstance(text, str):
        raise RicciError(f"expected program text (a str), got {type(text).__name__}")
    validate.choice(syntax, ("ricci", "latex", "unicode", "matrix", "auto"), "syntax")
    text = prepare_text(text)
    with gc_paused():
        syntax, stmts, decls = _read(text, syntax)
        if not stmts:
            raise RicciError("the program is empty: write at least one statement such as "
                             "'Y[i,j] = X[i,k] * A[k,j]'")
        builder = _Builder(stmts, text, decls, einstein=syntax in ("latex", "unicode"))
        program = builder.build()
        del stmts  # the syntax trees go while the collector is paused: it never sees them
    for note in builder.notes:
        warnings.warn(RicciWarning(note), stacklevel=3)
    if syntax != "matrix":  # matrix notation declares every shape: nothing to surprise
        _warn_surprises(program, syntax)
    return program, syntax


def _read(text: str, syntax: str) -> tuple[str, list[StmtA], list[DeclA]]:
    """The syntax trees of prepared ``text`` and the syntax they were read in (the
    detection of ``"auto"`` resolved)."""
    auto = syntax == "auto"
    if auto and looks_like_matrix(text):
        syntax = "matrix"
    if syntax == "auto" and looks_like_unicode(_without_comments(text)):
        syntax = "unicode"
    decls: list[DeclA] = []
    stmts: list[StmtA] | None = None
    if syntax == "unicode":
        try:
            stmts, decls = parse_unicode(text)
            if auto:
                _warn_pair(text)
        except RicciError as unicode_error:
            if not auto or any(c in UNICODE_MARKS for c in text):
                raise  # a character only the Unicode notation has (Σ √ · ²): its error
            # the detection guessed from characters (a Greek letter and ``_d`` in
            # ``h = _delta + Ω``): text another syntax reads is that syntax's; when none
            # does, the error that read further into the text is the one to show
            syntax, stmts, error = detect(text)
            if error is not None:
                raise max((unicode_error, error), key=_reach) from None
    elif syntax == "auto":
        syntax, stmts, error = detect(text)
        if error is not None:
            raise error
    if stmts is None:
        if syntax == "ricci":
            reader = Parser(text)
            stmts = reader.program()
            decls = reader.declarations
        elif syntax == "matrix":
            stmts, decls = read_matrix(text)
        else:
            latex_reader = LatexParser(text)
            stmts = latex_reader.program()
            decls = latex_reader.declarations
    return syntax, stmts, decls


def _without_comments(text: str) -> str:
    """``text`` with each line's ``#`` comment removed (what the detections look at)."""
    return "\n".join(ln.split("#", 1)[0] for ln in text.splitlines())


def _warn_pair(text: str) -> None:
    """Warn when the Unicode notation was detected only by a two-letter subscript
    (``x_in``) and ricci syntax reads the text too: there ``x_in`` is a scalar's name."""
    pair = pair_only(_without_comments(text))
    if pair is None:
        return
    try:
        Parser(text).program()
    except RicciError:
        return  # only the Unicode notation reads it: nothing to confuse
    base, sub = pair.rsplit("_", 1)
    warnings.warn(RicciWarning(
        f"read in Unicode index notation, where {pair} is {base} with the indices {sub[0]} and {sub[1]}; "
        f"in ricci syntax, which reads this text too, {pair} is a scalar: pass syntax='ricci' for that "
        f"reading, or write {base}[{sub[0]},{sub[1]}] (or {{{pair}}} for the name in Unicode)"), stacklevel=5)


def _reach(e: RicciError) -> tuple[int, int]:
    """How far into the text the reader that raised ``e`` got (line, column)."""
    return (e.span.line, e.span.column) if e.span is not None else (0, 0)


#: two capitals that name a quantity, not two matrices side by side (XW)
_ACRONYMS = frozenset({"KL", "CE", "LR", "TV", "IS", "ML", "NN", "RL", "SE", "AE"})


def _warn_surprises(program: Program, syntax: str) -> None:
    """A :class:`~ricci.errors.RicciWarning` for a valid reading that could surprise: a
    scalar named like a subscripted tensor in ricci syntax (``v_i``), and a program with no
    index at all that multiplies capitals (``Y = X * A``, a name ``XW``: scalars, not
    matrices)."""
    dims = program.dims
    if syntax == "ricci":
        odd = [n for n in dims if not dims[n] and SUBSCRIPTED.fullmatch(n)]
        if odd:
            n = odd[0]
            base, sub = n.rsplit("_", 1)
            warnings.warn(RicciWarning(
                f"'{n}' is read as the name of a scalar (ricci syntax); for {base} indexed by "
                f"{', '.join(sub)} write {base}[{','.join(sub)}] (or {base}_{{{sub}}} in LaTeX)"), stacklevel=4)
    if all(not d for d in dims.values()):
        # XW, or X * A: what the articles write for a matrix product
        caps = [n for n in program.inputs if len(n) == 2 and n.isalpha() and n.isupper() and n not in _ACRONYMS]
        for st in program.statements:
            for node in walk(st.rhs):
                if isinstance(node, Mul):
                    one = [f.name for f in node.factors if isinstance(f, Tensor) and len(f.name) == 1
                           and f.name.isupper() and f.name in program.inputs]
                    if len(one) >= 2:
                        caps.extend(one)
        caps = list(dict.fromkeys(caps))
        if caps:
            warnings.warn(RicciWarning(
                f"no name has indices, so {', '.join(caps[:3])} {'is a scalar' if len(caps) == 1 else 'are scalars'}; "
                f"for matrices write their indices (X[i,k] * A[k,j]) or use matrix notation "
                f"(docs/matrix-input.md)"), stacklevel=4)


# ---------------------------------------------------------------- tree walking


class _Walk:
    """One statement's syntax tree, walked once, in source order: ``refs``, every tensor
    reference (the operand of ``inv(A)`` counts as ``A`` used with its two placeholder
    indices, so ranks, definitions and sizes are checked like any use); ``names``, every
    index name written (left-hand side first); ``deltas`` and ``matcalls``."""

    __slots__ = ("deltas", "matcalls", "names", "refs")

    def __init__(self, s: StmtA) -> None:
        refs: list[Ref] = []
        names: list[Name] = list(s.indices or [])
        self.deltas: list[DeltaA] = []
        self.matcalls: list[MatCallA] = []
        stack: list[Node] = [s.rhs]
        pop, push = stack.pop, stack.append
        while stack:
            n = pop()
            t = type(n)
            if t is Ref:
                refs.append(n)  # type: ignore[arg-type]
                names.extend(n.indices)  # type: ignore[union-attr]
            elif t is ProdA or t is AddA:
                stack.extend(reversed(n.kids()))
            elif t is CallA or t is Group or t is NegA:
                push(n.kids()[0])
            elif t is PowA:
                assert isinstance(n, PowA)
                push(n.exp)
                push(n.base)
            elif t is SumA:
                assert isinstance(n, SumA)
                names.extend(n.indices)
                push(n.body)
            elif t is DeltaA:
                assert isinstance(n, DeltaA)
                self.deltas.append(n)
                names.extend(n.indices)
            elif t is MatCallA:
                assert isinstance(n, MatCallA)
                self.matcalls.append(n)
                op = n.operand
                refs.append(Ref(op.name, [Name(n.slots[0], op.span), Name(n.slots[1], op.span)], op.span, True))
                names.extend(n.indices)
            elif t is SizeA:
                assert isinstance(n, SizeA)
                names.append(n.index)
        self.refs = refs
        self.names = names


class _UnionFind:
    """Union-find over slots numbered 0, 1, 2, ... (``parent``; path halving in ``find``;
    :meth:`_Builder.dims` links roots)."""

    def __init__(self) -> None:
        self.parent: list[int] = []

    def add(self) -> int:
        self.parent.append(len(self.parent))
        return len(self.parent) - 1

    def find(self, x: int) -> int:
        parent = self.parent
        while parent[x] != x:
            parent[x] = x = parent[parent[x]]
        return x


def _plural(n: int) -> str:
    return f"{n} index" if n == 1 else f"{n} indices"


class _Builder:
    def __init__(self, stmts: list[StmtA], source: str, decls: list[DeclA] | None = None,
                 einstein: bool = False) -> None:
        self.stmts = stmts
        #: the summation convention of LaTeX text: only a repeated index is summed implicitly
        self.einstein = einstein
        #: readings that could surprise, found while resolving (issued as RicciWarning)
        self.notes: list[str] = []
        self.source = source
        self.decls = decls or []
        #: input -> the fact declared about it
        self.declared: dict[str, str] = {}
        self.walks = [_Walk(s) for s in stmts]
        self.inputs: tuple[str, ...] = ()  # names used and never defined (set by dims)

    def err(self, msg: str, span: Span | None, hint: str | None = None) -> RicciError:
        return RicciError(msg, span=span, source=self.source, hint=hint)

    # -- pass 0: the indices limit
    def check_indices(self, s: StmtA, w: _Walk) -> None:
        """At most ``indices`` distinct index names in a statement, and so in a tensor."""
        bound = current().indices
        if len(w.names) <= bound:
            return
        lists = [(s.name, s.indices or [])] + [(r.name, r.indices) for r in w.refs] + \
            [("delta", d.indices) for d in w.deltas]
        for owner, idx in lists:
            if len(idx) > bound:
                raise self.err(f"{owner} has {len(idx)} indices, more than the limit of {bound}",
                               idx[bound].span, hint=limit_hint("indices", "use tensors of lower rank"))
        first: dict[str, Name] = {}
        for n in w.names:
            first.setdefault(n.name, n)
        if len(first) > bound:
            crossing = sorted(first.values(), key=lambda n: (n.span.line, n.span.column))[bound]
            raise self.err(f"statement {s.name} uses {len(first)} index names, more than the limit of {bound}",
                           crossing.span, hint=limit_hint("indices", "split the statement into several"))

    # -- pass 1: definitions, uses and ranks
    def check_names(self) -> dict[str, int]:
        first_def: dict[str, StmtA] = {}
        for s in self.stmts:
            if s.name in first_def:
                raise self.err(f"'{s.name}' is defined twice (first on line {first_def[s.name].span.line})",
                               s.span, hint="give each statement its own name")
            first_def[s.name] = s
        ranks: dict[str, tuple[int, Span]] = {}
        operand_of: dict[str, str] = {}  # names used as the operand of inv(...), det(...)
        for w in self.walks:
            for n in w.matcalls:
                operand_of.setdefault(n.operand.name, n.fn)
        defined: set[str] = set()

        def use(name: str, rank: int, span: Span) -> None:
            known = ranks.get(name)
            if known is None:
                ranks[name] = (rank, span)
                return
            r0, sp0 = known
            if r0 == rank:
                return
            if name in operand_of:
                other = rank if r0 == 2 else r0
                fn = operand_of[name]
                raise self.err(f"{fn} needs a square matrix, but '{name}' is used with "
                               f"{_plural(other)} ({'here' if r0 == 2 else f'line {sp0.line}, column {sp0.column}'})",
                               span if r0 == 2 else sp0,
                               hint=f"the operand of {fn} is a tensor with 2 indices of the same size")
            raise self.err(f"'{name}' is used with {_plural(rank)} here but with "
                           f"{_plural(r0)} on line {sp0.line}, column {sp0.column}", span,
                           hint="a tensor is always used with the same number of indices")

        for s, w in zip(self.stmts, self.walks):
            self.check_indices(s, w)
            for r in w.refs:
                known = ranks.get(r.name)
                if known is not None and known[0] == len(r.indices) and (r.name in defined or
                                                                         r.name not in first_def):
                    continue  # the common case: an input or an earlier statement, used as before
                if r.name == s.name:
                    raise self.err(f"'{s.name}' is used in its own definition", r.span,
                                   hint="define a new name for the updated value")
                if r.name in first_def and r.name not in defined:
                    raise self.err(f"'{r.name}' is used before its definition "
                                   f"(on line {first_def[r.name].span.line})", r.span,
                                   hint="statements run in order: move the definition up")
                use(r.name, len(r.indices), r.span)
            lhs = s.indices or []
            seen: dict[str, Name] = {}
            for ix in lhs:
                if ix.name in seen:
                    raise self.err(f"index '{ix.name}' appears twice on the left of {s.name}", ix.span,
                                   hint="use delta[...] on the right for a diagonal")
                seen[ix.name] = ix
            use(s.name, len(lhs), s.span)
            defined.add(s.name)
        self.check_declarations(first_def, ranks)
        return {k: v[0] for k, v in ranks.items()}

    def check_declarations(self, first_def: dict[str, StmtA], ranks: dict[str, tuple[int, Span]]) -> None:
        """Each declaration names an input used as a matrix (2 distinct indices, so
        square: the declaration ties its two axes), stated once or consistently."""
        first: dict[str, DeclA] = {}
        for d in self.decls:
            if d.name in first_def:
                raise self.err(f"'{d.name}' is computed (line {first_def[d.name].span.line}): only an input "
                               f"can be declared {d.fact}", d.span,
                               hint="declare the inputs it is computed from; ricci does not prove facts")
            known = ranks.get(d.name)
            if known is None:
                raise self.err(f"'{d.name}' is declared {d.fact} but never used", d.span,
                               hint="a declaration states a fact about an input the program reads")
            if d.fact == ONE_HOT:
                if not d.indices or len(d.indices) != known[0]:
                    raise self.err(f"'{d.name}' has {_plural(known[0])} where it is used, but its declaration "
                                   f"writes {len(d.indices)}", d.span,
                                   hint=f"declare it as it is used: {d.name}[{','.join('nkij'[:max(known[0], 1)])}]"
                                        f" : {d.fact} (one 1 along the last index)")
            elif len(d.indices) != 2 or known[0] != 2:
                rank = known[0] if len(d.indices) == 2 else len(d.indices)
                raise self.err(f"only a matrix can be {d.fact}, but '{d.name}' has {_plural(rank)}",
                               d.span, hint=f"declare a tensor with 2 indices: {d.name}[i,j] : {d.fact}")
            names = [ix.name for ix in d.indices]
            if len(set(names)) != len(names):
                k = next(k for k, n in enumerate(names) if n in names[:k])
                raise self.err(f"the declaration of '{d.name}' repeats index '{names[k]}'",
                               d.indices[k].span, hint=f"write distinct indices: {d.name}[i,j] : {d.fact}")
            seen = first.get(d.name)
            if seen is not None and seen.fact != d.fact:
                raise self.err(f"'{d.name}' is declared {d.fact} here but {seen.fact} on line {seen.span.line}",
                               d.span, hint="declare each input once")
            first.setdefault(d.name, d)
            self.declared[d.name] = d.fact

    # -- pass 2: dims
    def dims(self, ranks: dict[str, int]) -> tuple[dict[str, tuple[str, ...]], list[dict[str, str]]]:
        """The dim label of every tensor axis, and of every index name of each statement
        (matrix-function slots included), by union-find over axes and index names."""
        uf = _UnionFind()
        parent, find = uf.parent, uf.find
        axis: dict[str, int] = {}  # tensor -> the slot of its first axis
        for name, r in ranks.items():
            axis[name] = len(parent)
            parent.extend(range(len(parent), len(parent) + r))
        slots: list[dict[str, int]] = []

        def tie(own: dict[str, int], name: str, slot: int) -> None:
            """``name`` (an index of the statement ``own`` maps) ranges over ``slot``."""
            cur = own.get(name)
            if cur is None:
                own[name] = slot
            elif cur != slot:
                ra, rb = find(cur), find(slot)
                if ra != rb:
                    parent[rb] = ra

        for s, w in zip(self.stmts, self.walks):
            own: dict[str, int] = {}  # index name -> a slot of its class
            for a, n in enumerate(s.indices or []):
                tie(own, n.name, axis[s.name] + a)
            for ref in w.refs:  # the operands of matrix functions too: rows and columns
                base = axis[ref.name]
                for a, n in enumerate(ref.indices):
                    tie(own, n.name, base + a)
            for n in w.names:  # indices tied to no tensor axis (yet)
                if n.name not in own:
                    own[n.name] = uf.add()
            for d in w.deltas:
                first = own[d.indices[0].name]
                for n in d.indices[1:]:
                    tie(own, n.name, first)
            for m in w.matcalls:  # the operand is square; an index of inv(A) ranges over its rows
                rows = own[m.slots[0]]
                tie(own, m.slots[1], rows)
                for n in m.indices:
                    tie(own, n.name, rows)
            slots.append(own)
        for name in symmetric_inputs(self.declared):  # a symmetric matrix is square: one size
            ra, rb = find(axis[name]), find(axis[name] + 1)
            if ra != rb:
                parent[rb] = ra
        defined = {s.name: None for s in self.stmts}
        inputs: dict[str, None] = {}
        for w in self.walks:
            for ref in w.refs:
                if ref.name not in defined:
                    inputs.setdefault(ref.name, None)
        label: dict[int, str] = {}
        for name in list(inputs) + list(defined):
            for a in range(ranks[name]):
                label.setdefault(find(axis[name] + a), f"{name}:{a}")
        for s, w, own in zip(self.stmts, self.walks, slots):
            # the alphabetically first name of the class: the label does not depend on which
            # of delta[k,s] and sum[s](...) comes first, so str(p) parses back to p
            for name in sorted({n.name for n in w.names}):
                root = find(own[name])
                if root not in label:
                    label[root] = f"{name}@{s.name}"
        dims = {name: tuple(label[find(axis[name] + a)] for a in range(r)) for name, r in ranks.items()}
        self.inputs = tuple(inputs)
        out = []
        for w, own in zip(self.walks, slots):  # names in the order written, then the slots
            names = {n.name: label[find(own[n.name])] for n in w.names}
            for m in w.matcalls:
                for slot in m.slots:
                    names[slot] = label[find(own[slot])]
            out.append(names)
        return dims, out

    def build(self) -> Program:
        ranks = self.check_names()
        dims, stmt_labels = self.dims(ranks)
        statements = []
        dim_names: dict[str, list[str]] = defaultdict(list)
        for s, w, own in zip(self.stmts, self.walks, stmt_labels):
            for nm, lab in own.items():
                if nm[0] != "#":
                    lst = dim_names[lab]
                    if nm not in lst:
                        lst.append(nm)
            tick()
            statements.append(_StatementResolver(self, s, own.__getitem__, w).resolve())
        return Program(statements, dims, dim_names=dim_names, source=self.source, inputs=self.inputs,
                       declared=self.declared)


class _StatementResolver:
    def __init__(self, builder: _Builder, stmt: StmtA, label, walk: _Walk) -> None:
        self.b = builder
        self.s = stmt
        self.label = label
        self.walk = walk
        self.free = {n.name for n in (stmt.indices or [])}
        #: every index is free: no implicit sums to place (the common case, resolved faster)
        self.all_free = all(n.name in self.free for n in walk.names)
        self.indices: dict[str, Index] = {}

    def idx(self, name: str) -> Index:
        i = self.indices.get(name)
        if i is None:
            i = self.indices[name] = Index(name, self.label(name))
        return i

    def resolve(self) -> Statement:
        s = self.s
        if not self.all_free:
            self.check_ambiguity()
        rhs = self.scope(s.rhs, frozenset(self.free))
        lhs = [self.idx(n.name) for n in (s.indices or [])]
        for n, i in zip(s.indices or [], lhs):
            if i not in rhs.free:
                raise self.b.err(f"index '{n.name}' on the left of {s.name} does not appear on the right",
                                 n.span, hint="every index of the left-hand side must appear in "
                                 "some term on the right (terms that lack it are broadcast)")
        ref_spans: dict[str, Span] = {}
        for r in self.walk.refs:
            ref_spans.setdefault(r.name, r.span)
        index_spans: dict[str, Span] = {}
        for n in self.walk.names:
            index_spans.setdefault(n.name, n.span)
        return Statement(s.name, lhs, rhs, span=s.span, ref_spans=ref_spans, index_spans=index_spans)

    # -- ambiguity: an implicit index must live in one scope
    def check_ambiguity(self) -> None:
        scopes: list[str] = ["the right-hand side"]
        where: dict[str, list[tuple[int, Span]]] = defaultdict(list)

        def go(node: Node, known: frozenset, sc: int) -> None:
            if isinstance(node, (Ref, DeltaA, MatCallA)):
                for n in node.indices:
                    if n.name not in known:
                        where[n.name].append((sc, n.span))
                return
            if isinstance(node, SumA):
                go(node.body, known | {n.name for n in node.indices}, sc)
                return
            if isinstance(node, CallA):
                scopes.append(f"the argument of {node.fn}")
                go(node.arg, known, len(scopes) - 1)
                return
            if isinstance(node, PowA):
                scopes.append("the base of a power")
                go(node.base, known, len(scopes) - 1)
                scopes.append("an exponent")
                go(node.exp, known, len(scopes) - 1)
                return
            for k in node.kids():
                go(k, known, sc)

        go(self.s.rhs, frozenset(self.free), 0)
        lhs_missing = {n.name for n in (self.s.indices or [])} - {n.name for n in self.walk.names[len(self.s.indices or []):]}
        if self.b.einstein and not lhs_missing:  # (else: that error is the clearer one)
            for name, occ in where.items():
                if len(occ) == 1:  # f = \exp(x_i): LaTeX sums a repeated index only
                    raise self.b.err(
                        f"index '{name}' occurs once, and not on the left-hand side: the summation "
                        f"convention sums only a repeated index", occ[0][1],
                        hint=f"for each {name}, put it on the left ({self.s.name}_{{{name}}} = ...); for a sum, "
                             f"write \\sum_{{{name}}} where it belongs")
        if not self.b.einstein:  # ricci's rule sums it: say so where a reader could miss it
            for name, occ in where.items():
                if len(occ) == 1:
                    span = occ[0][1]
                    self.b.notes.append(
                        f"line {span.line}, column {span.column}: index '{name}' occurs once on the right of "
                        f"{self.s.name} and not on its left, so it is summed over that one factor; write "
                        f"sum[{name}](...) to say so, or put {name} on the left")
        for name, occ in where.items():
            if len({sc for sc, _ in occ}) > 1:
                sc, span = next((sc, sp) for sc, sp in occ if sc != 0)
                raise self.b.err(
                    f"index '{name}' is summed implicitly inside {scopes[sc]} and also "
                    f"occurs outside it, so it is ambiguous where the sum goes",
                    span,
                    hint=f"write sum[{name}](...) around the part to sum, or use another "
                    f"letter for one of the two")

    # -- resolution
    def direct(self, node: Node, known: frozenset) -> list[str]:
        """Implicit index names occurring in ``node`` outside nested scopes (first-seen order)."""
        out: dict[str, None] = {}

        def go(n: Node, kn: frozenset) -> None:
            if isinstance(n, (Ref, DeltaA, MatCallA)):
                for x in n.indices:
                    if x.name not in kn:
                        out.setdefault(x.name, None)
            elif isinstance(n, SumA):
                go(n.body, kn | {x.name for x in n.indices})
            elif isinstance(n, (CallA, PowA)):
                return
            else:
                for k in n.kids():
                    go(k, kn)

        go(node, known)
        return list(out)

    def scope(self, node: Node, known: frozenset) -> Expr:
        if isinstance(node, AddA):
            terms = []
            for sign, t in node.terms:
                e = self.term(t, known)
                terms.append(e if sign > 0 else Mul((MINUS_ONE, e)))
            return Add(terms)
        return self.term(node, known)

    def term(self, node: Node, known: frozenset) -> Expr:
        if not isinstance(node, ProdA):
            return self.factor(node, known)
        counts: dict[str, int] = {}
        if not self.all_free:
            for _, f in node.factors:
                for name in self.direct(f, known):
                    counts[name] = counts.get(name, 0) + 1
        bound = [n for n, c in counts.items() if c >= 2]
        inner = known | set(bound) if bound else known
        factors = []
        for divides, f in node.factors:
            e = self.factor(f, inner)
            factors.append(Pow(e, MINUS_ONE) if divides else e)
        e = Mul(factors)
        return Sum([self.idx(n) for n in bound], e) if bound else e

    def factor(self, node: Node, known: frozenset) -> Expr:
        if type(node) is Ref:
            e: Expr = Tensor(node.name, [self.idx(n.name) for n in node.indices])
            return e if self.all_free else self.bind_atom(node.indices, e, known)
        if isinstance(node, Num):
            return Const(node.value)
        if isinstance(node, DeltaA):
            if len(node.indices) < 2:
                raise self.b.err("delta needs at least two indices", node.span)
            return self.bind_atom(node.indices, Delta([self.idx(n.name) for n in node.indices]), known)
        if isinstance(node, SizeA):
            return Size(self.idx(node.index.name))
        if isinstance(node, MatCallA):
            rank = 2 if MATRIX_FUNCTIONS[node.fn].rank else 0  # every notation's call is checked here
            if len(node.indices) != rank:
                what = f"{node.fn}({node.operand.name}) is a {'matrix' if rank else 'number'}"
                raise self.b.err(f"{what}: it takes {rank or 'no'} indices" + (f", not {len(node.indices)}" if rank else ""),
                                 node.span)
            arg = operand(node.operand.name, self.label(node.slots[0]))
            e = MatFn(node.fn, arg, [self.idx(n.name) for n in node.indices])
            return self.bind_atom(node.indices, e, known) if node.indices else e
        if isinstance(node, Group):
            return self.scope(node.node, known)
        if isinstance(node, NegA):
            return Mul((MINUS_ONE, self.factor(node.node, known)))
        if isinstance(node, (AddA, ProdA)):
            return self.scope(node, known)
        if isinstance(node, CallA):
            return Call(node.fn, (self.scope(node.arg, known),))
        if isinstance(node, PowA):
            return Pow(self.scope(node.base, known), self.scope(node.exp, known))
        if isinstance(node, SumA):
            seen: set[str] = set()
            for n in node.indices:
                if n.name in seen:
                    raise self.b.err(f"index '{n.name}' is listed twice in sum[...]", n.span)
                seen.add(n.name)
                if n.name in self.free:
                    raise self.b.err(f"index '{n.name}' is free on the left of {self.s.name}; it cannot "
                                     f"also be summed", n.span,
                                     hint="use another letter for the summed index")
                if n.name in known:
                    raise self.b.err(f"index '{n.name}' is already summed by an enclosing sum", n.span,
                                     hint="use another letter for the inner sum")
            body = self.scope(node.body, known | seen)
            return Sum([self.idx(n.name) for n in node.indices], body)
        raise AssertionError(f"unknown node {node!r}")  # pragma: no cover

    def bind_atom(self, names: list[Name], e: Expr, known: frozenset) -> Expr:
        implicit: dict[str, None] = {}
        for n in names:
            if n.name not in known:
                implicit.setdefault(n.name, None)
        return Sum([self.idx(n) for n in implicit], e) if implicit else e
