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
gives every index its dim label: ``X:0`` for the first axis of ``X``, or ``k@Y`` for an
index ``k`` of statement ``Y`` that no tensor axis is tied to (statement names are
unique, so labels never collide and do not depend on the layout of the text).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Iterator

from .errors import RicciError, Span
from .expr import (MINUS_ONE, Add, Call, Const, Delta, Expr, Index, MatFn, Mul, Pow, Size, Sum, Tensor,
                   operand)
from .parse import (AddA, CallA, DeltaA, Group, MatCallA, Name, NegA, Node, Num, PowA, ProdA, Ref, SizeA,
                    StmtA, SumA, parse_statements)
from .program import Program, Statement


def parse(text: str, syntax: str = "ricci") -> Program:
    """Parse program text into a :class:`~ricci.program.Program`.

    ``syntax`` is ``"ricci"`` (``Y[i,j] = X[i,k] * A[k,j]``, see docs/language.md),
    ``"latex"`` (``Y_{ij} = X_{ik} A_{kj}``, see docs/latex-input.md) or ``"auto"``, which
    reads the text as LaTeX when :func:`ricci.latex_parse.looks_like_latex` says so. Both
    syntaxes build the same syntax tree, so the index rule and every later check are shared,
    and errors point into the text as written.
    """
    if not isinstance(text, str):
        raise RicciError(f"expected program text (a str), got {type(text).__name__}")
    from .latex_parse import looks_like_latex, parse_latex_statements

    if syntax == "auto":
        syntax = "latex" if looks_like_latex(text) else "ricci"
    if syntax == "ricci":
        stmts = parse_statements(text)
    elif syntax == "latex":
        stmts = parse_latex_statements(text)
    else:
        raise RicciError(f"unknown syntax {syntax!r}", hint="use 'ricci', 'latex' or 'auto'")
    if not stmts:
        raise RicciError("the program is empty: write at least one statement such as "
                         "'Y[i,j] = X[i,k] * A[k,j]'")
    return _Builder(stmts, text).build()


# ---------------------------------------------------------------- tree walking


def _refs(node: Node) -> Iterator[Ref]:
    """Every tensor reference; the operand of ``inv(A)`` counts as ``A`` used with its two
    placeholder indices (so ranks, definitions and sizes are checked like any use)."""
    if isinstance(node, Ref):
        yield node
    elif isinstance(node, MatCallA):
        op = node.operand
        yield Ref(op.name, [Name(node.slots[0], op.span), Name(node.slots[1], op.span)], op.span, True)
    for child in _kids(node):
        yield from _refs(child)


def _kids(node: Node) -> list[Node]:
    if isinstance(node, AddA):
        return [t for _, t in node.terms]
    if isinstance(node, ProdA):
        return [f for _, f in node.factors]
    if isinstance(node, (NegA, Group)):
        return [node.node]
    if isinstance(node, CallA):
        return [node.arg]
    if isinstance(node, PowA):
        return [node.base, node.exp]
    if isinstance(node, SumA):
        return [node.body]
    return []


def _matrix_calls(node: Node) -> Iterator[MatCallA]:
    if isinstance(node, MatCallA):
        yield node
    for child in _kids(node):
        yield from _matrix_calls(child)


def _index_names(node: Node) -> Iterator[Name]:
    if isinstance(node, (Ref, DeltaA, SumA, MatCallA)):
        yield from node.indices
    elif isinstance(node, SizeA):
        yield node.index
    for child in _kids(node):
        yield from _index_names(child)


class _UnionFind:
    def __init__(self) -> None:
        self.parent: dict[tuple, tuple] = {}

    def find(self, x: tuple) -> tuple:
        p = self.parent.setdefault(x, x)
        while p != x:
            self.parent[x] = self.parent.setdefault(p, p)
            x, p = p, self.parent[p]
        return x

    def union(self, a: tuple, b: tuple) -> None:
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[rb] = ra


def _plural(n: int) -> str:
    return f"{n} index" if n == 1 else f"{n} indices"


class _Builder:
    def __init__(self, stmts: list[StmtA], source: str) -> None:
        self.stmts = stmts
        self.source = source

    def err(self, msg: str, span: Span | None, hint: str | None = None) -> RicciError:
        return RicciError(msg, span=span, source=self.source, hint=hint)

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
        for s in self.stmts:
            for n in _matrix_calls(s.rhs):
                operand_of.setdefault(n.operand.name, n.fn)
        defined: set[str] = set()

        def use(name: str, rank: int, span: Span, bracketed: bool) -> None:
            if name in ranks and ranks[name][0] != rank:
                r0, sp0 = ranks[name]
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
            ranks.setdefault(name, (rank, span))

        for s in self.stmts:
            for r in _refs(s.rhs):
                if r.name == s.name:
                    raise self.err(f"'{s.name}' is used in its own definition", r.span,
                                   hint="define a new name for the updated value")
                if r.name in first_def and r.name not in defined:
                    raise self.err(f"'{r.name}' is used before its definition "
                                   f"(on line {first_def[r.name].span.line})", r.span,
                                   hint="statements run in order: move the definition up")
                use(r.name, len(r.indices), r.span, r.bracketed)
            lhs = s.indices or []
            seen: dict[str, Name] = {}
            for n in lhs:
                if n.name in seen:
                    raise self.err(f"index '{n.name}' appears twice on the left of {s.name}", n.span,
                                   hint="use delta[...] on the right for a diagonal")
                seen[n.name] = n
            use(s.name, len(lhs), s.span, s.indices is not None)
            defined.add(s.name)
        return {k: v[0] for k, v in ranks.items()}

    # -- pass 2: dims
    def dims(self, ranks: dict[str, int]) -> tuple[_UnionFind, dict[tuple, str]]:
        uf = _UnionFind()
        for si, s in enumerate(self.stmts):
            for a, n in enumerate(s.indices or []):
                uf.union(("I", si, n.name), ("T", s.name, a))
            stack: list[Node] = [s.rhs]
            while stack:
                node = stack.pop()
                if isinstance(node, Ref):
                    for a, n in enumerate(node.indices):
                        uf.union(("I", si, n.name), ("T", node.name, a))
                elif isinstance(node, DeltaA):
                    for n in node.indices:
                        uf.union(("I", si, node.indices[0].name), ("I", si, n.name))
                elif isinstance(node, MatCallA):
                    # the operand is square; an index of inv(A) ranges over its rows
                    r, c = node.slots
                    uf.union(("I", si, r), ("T", node.operand.name, 0))
                    uf.union(("I", si, c), ("T", node.operand.name, 1))
                    uf.union(("I", si, r), ("I", si, c))
                    for n in node.indices:
                        uf.union(("I", si, r), ("I", si, n.name))
                elif isinstance(node, SizeA):
                    uf.find(("I", si, node.index.name))
                elif isinstance(node, SumA):
                    for n in node.indices:
                        uf.find(("I", si, n.name))
                stack.extend(_kids(node))
        defined = [s.name for s in self.stmts]
        inputs: list[str] = []
        for s in self.stmts:
            for r in _refs(s.rhs):
                if r.name not in defined and r.name not in inputs:
                    inputs.append(r.name)
        labels: dict[tuple, str] = {}
        for name in inputs + defined:
            for a in range(ranks[name]):
                labels.setdefault(uf.find(("T", name, a)), f"{name}:{a}")
        for si, s in enumerate(self.stmts):
            for n in list(s.indices or []) + list(_index_names(s.rhs)):
                labels.setdefault(uf.find(("I", si, n.name)), f"{n.name}@{s.name}")
        return uf, labels

    def build(self) -> Program:
        ranks = self.check_names()
        uf, labels = self.dims(ranks)
        statements = []
        dim_names: dict[str, list[str]] = defaultdict(list)
        for si, s in enumerate(self.stmts):
            def label(name: str, si: int = si) -> str:
                return labels[uf.find(("I", si, name))]
            st = _StatementResolver(self, s, label).resolve()
            statements.append(st)
            for n in list(s.indices or []) + list(_index_names(s.rhs)):
                lst = dim_names[label(n.name)]
                if n.name not in lst:
                    lst.append(n.name)
        dims = {name: tuple(labels[uf.find(("T", name, a))] for a in range(r))
                for name, r in ranks.items()}
        return Program(statements, dims, dim_names=dim_names, source=self.source)


class _StatementResolver:
    def __init__(self, builder: _Builder, stmt: StmtA, label) -> None:
        self.b = builder
        self.s = stmt
        self.label = label
        self.free = {n.name for n in (stmt.indices or [])}

    def idx(self, name: str) -> Index:
        return Index(name, self.label(name))

    def resolve(self) -> Statement:
        s = self.s
        self.check_ambiguity()
        rhs = self.scope(s.rhs, frozenset(self.free))
        lhs = [self.idx(n.name) for n in (s.indices or [])]
        for n, i in zip(s.indices or [], lhs):
            if i not in rhs.free:
                raise self.b.err(f"index '{n.name}' on the left of {s.name} does not appear on the right",
                                 n.span, hint="every index of the left-hand side must appear in "
                                 "some term on the right (terms that lack it are broadcast)")
        ref_spans: dict[str, Span] = {}
        for r in _refs(s.rhs):
            ref_spans.setdefault(r.name, r.span)
        index_spans: dict[str, Span] = {}
        for n in list(s.indices or []) + list(_index_names(s.rhs)):
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
            for k in _kids(node):
                go(k, known, sc)

        go(self.s.rhs, frozenset(self.free), 0)
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
                for k in _kids(n):
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
        for _, f in node.factors:
            for name in self.direct(f, known):
                counts[name] = counts.get(name, 0) + 1
        bound = [n for n, c in counts.items() if c >= 2]
        inner = known | set(bound)
        factors = []
        for divides, f in node.factors:
            e = self.factor(f, inner)
            factors.append(Pow(e, MINUS_ONE) if divides else e)
        e = Mul(factors)
        return Sum([self.idx(n) for n in bound], e) if bound else e

    def factor(self, node: Node, known: frozenset) -> Expr:
        if isinstance(node, Num):
            return Const(node.value)
        if isinstance(node, Ref):
            e: Expr = Tensor(node.name, [self.idx(n.name) for n in node.indices])
            return self.bind_atom(node.indices, e, known)
        if isinstance(node, DeltaA):
            if len(node.indices) < 2:
                raise self.b.err("delta needs at least two indices", node.span)
            return self.bind_atom(node.indices, Delta([self.idx(n.name) for n in node.indices]), known)
        if isinstance(node, SizeA):
            return Size(self.idx(node.index.name))
        if isinstance(node, MatCallA):
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
