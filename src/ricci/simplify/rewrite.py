"""Stage 4: simplification by small named rewrite rules, run bottom-up to a fixed point.

This module is the driver: the rules written as data, the order in which every rule is
tried, and the engine. Each rule is a :class:`~.rules.Rule`: a name, the node type it
applies to, one-line runnable examples (``before -> after``, run by
tests/simplify/test_simplify_rules.py), and a function returning the rewritten node or
``None``. Local patterns are written as data, in ricci's own notation (:mod:`.patterns`):
the :data:`IDENTITIES` (``?u^1 -> ?u``) and the :data:`RECOGNISERS` of textbook functions
(``log(1 + exp(?u)) -> softplus(?u)``). The rules that look at indices or at every child
at once are written as code, one module per family: :mod:`.arithmetic` (flattening,
zero and one, constants, like terms, powers), :mod:`.sums` (summations and deltas),
:mod:`.canonical` (sorting into canonical order). :data:`RULES` lists them in the order
they are tried on a node of their type: the identities, then the rules written as code
(the arithmetic, the index-aware rules, the sorting), then the recognisers (which so see
a node flattened, folded and in canonical order). The engine simplifies children first,
then tries the rules of the node's type; when one fires, the result is simplified again,
until no rule applies. Results are memoised (per call, or per derivation inside
:func:`shared_memo`), so shared subtrees are simplified once; every result is a fixed
point. The engine reads the clock (:func:`~ricci.bounds.tick`) once per node it
simplifies. Transforms applied once to a finished result (expansion, common factors) are
in :mod:`.factor`.

Costs: each rule looks at a node's children once or through a dictionary (never pairs
of children), so simplifying a product of n factors is O(n log n); comparing two trees
for the canonical order stops at the first child whose hash differs.

The normal form reached: a term is ``sum[K](c * f1 * ... * fn)`` with the sum outermost
(an einsum), constants folded into one leading coefficient, factors and terms in
canonical order, like terms collected up to renaming of summed indices, and every
Kronecker delta whose index is summed eaten. Products are *not* distributed over sums
(shared subexpressions stay factored), except over a sum holding a delta that can then
eat an index. Textbook forms are recognised: ``exp(u) / (1 + exp(u))`` and ``1 / (1 +
exp(-u))`` are ``sigmoid(u)``, ``log(1 + exp(u))`` is ``softplus(u)`` (so their
derivatives are ``sigmoid(u) * (1 - sigmoid(u))``, not two exponential terms).

Why it terminates. Every rule written as code strictly shrinks the tree, sorts children
into canonical order (idempotent), or moves structure one way only and never back (the
docstring of each module of rules says which of its rules do what); no rule moves a sum
inward, re-factors a sum of terms, or re-groups powers of a product, so no sequence of
those rewrites can cycle. Every rule written as data strictly lowers, at the node it
rewrites, the measure (E, S, N) compared in that order: E the ``exp`` calls, each
weighted by the absolute constant exponents of the powers above it (a ``sqrt`` counting
as the power 1/2); S the sigmoids of
an argument with a negative coefficient; N the nodes (the identities lower N, the
recognisers E, ``sigmoid-complement`` S; the rules of ``sqrt`` keep E and lower N; the tests check every entry, also where its
variables hold exponentials and sigmoids, which a replacement may copy). No rule turns
a sigmoid or a softplus back into exponentials; the rules written as code raise E only
when ``delta-distribute`` copies factors (one way), and S only by normalising an
argument (shrinking it), so the rules written as data fire finitely often. A fold
refused because its result would be too big is a rule that does not fire, so the bound
on constants adds no rewrite.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from ..bounds import tick
from ..ir.expr import Expr, clear_order_memo
from ..ir.traversal import index_occurrences, rename, shape, tensor_names
from .arithmetic import ARITHMETIC_RULES
from .canonical import ORDER_RULES
from .patterns import PatternRule
from .rules import Rule, pattern_rules
from .sums import SUM_RULES

__all__ = ["known_normal", "renaming_memo", "shared_memo", "simplify"]

# ---------------------------------------------------------------- rules as data

#: identities: tried first on a node of their type (before the rules written as code)
IDENTITIES: tuple[PatternRule, ...] = (
    PatternRule("pow-one", "?u^1", "?u", "x[i]^1 -> x[i]"),
    PatternRule("pow-zero", "?u^0", "1", "x[i]^0 -> 1"),
    PatternRule("pow-of-one", "1^?u", "1", "1^x[i] -> 1"),
    # a real sqrt(u) needs u >= 0, where sqrt(u)^(2k) is u^k (also for k < 0, u > 0)
    PatternRule("sqrt-even-power", "sqrt(?u)^?c", "?u^(0.5 * ?c)",
                "sqrt(x[i] + 1)^2 -> 1 + x[i]", when="even(?c)"),
    # and where sqrt(u) is real, a power of u next to it joins it (sqrt(u)^-1 / u is sqrt(u)^-3)
    PatternRule("sqrt-join-power", "sqrt(?u)^?c1 * ?u^?c2", "sqrt(?u)^(?c1 + 2 * ?c2)",
                "x[i] / sqrt(x[i]) -> sqrt(x[i])", when="integer(?c2) and ?c1 != 0"),
    # for every real u: (u^2)^(1/2) = sqrt(u^2) = |u|, and (u^2)^(-1/2) = 1 / |u|
    PatternRule("sqrt-of-square-call", "sqrt(?u^2)", "abs(?u)", "sqrt(x[i]^2) -> abs(x[i])"),
    PatternRule("sqrt-of-square", "(?u^2)^?c", "abs(?u)", "(x[i]^2)^(1/2) -> abs(x[i])",
                when="?c == 1/2"),
    PatternRule("sqrt-of-square", "(?u^2)^?c", "abs(?u)^-1", "(x[i]^2)^(-1/2) -> 1 / abs(x[i])",
                when="?c == -1/2"),
)

#: textbook functions recognised: tried last, on a node the rules written as code leave
#: as it is (flattened, folded, in canonical order)
RECOGNISERS: tuple[PatternRule, ...] = (
    PatternRule("softplus-recognise", "log(1 + exp(?u))", "softplus(?u)",
                "log(1 + exp(x[i])) -> softplus(x[i])"),
    PatternRule("sigmoid-recognise", "1 / (1 + exp(-?u))", "sigmoid(?u)",
                "1 / (1 + exp(-x[i])) -> sigmoid(x[i])"),
    # exp(u)^a / (1 + exp(u))^b with a, b >= 1: one exp(u) / (1 + exp(u)) is sigmoid(u)
    PatternRule("sigmoid-recognise-ratio", "exp(?u)^?c1 * (1 + exp(?u))^?c2",
                "exp(?u)^(?c1 - 1) * (1 + exp(?u))^(?c2 + 1) * sigmoid(?u)",
                "exp(x[i]) / (1 + exp(x[i]))^2 -> sigmoid(x[i]) * (1 - sigmoid(x[i]))",
                when="?c1 >= 1 and ?c2 <= -1"),
    PatternRule("sigmoid-recognise-ratio", "exp(?u)^?c1 * sigmoid(-?u)",
                "exp(?u)^(?c1 - 1) * sigmoid(?u)",
                "exp(x[i]) * sigmoid(-x[i]) -> sigmoid(x[i])", when="?c1 >= 1"),
    PatternRule("sigmoid-recognise-ratio", "exp(?u)^?c1 * (1 - sigmoid(?u))",
                "exp(?u)^(?c1 - 1) * sigmoid(?u)",
                "exp(x[i]) * (1 - sigmoid(x[i])) -> sigmoid(x[i])", when="?c1 >= 1"),
    # the condition picks one of sigmoid(u) * sigmoid(-u) and sigmoid(-u) * sigmoid(u)
    PatternRule("sigmoid-complement", "sigmoid(?u) * sigmoid(-?u)", "sigmoid(?u) * (1 - sigmoid(?u))",
                "sigmoid(x[i]) * sigmoid(-x[i]) -> sigmoid(x[i]) * (1 - sigmoid(x[i]))",
                when="coef(?u) > 0"),
)


# ---------------------------------------------------------------- the order of the rules

#: the rules written as code: on a node of one type the arithmetic first, then the
#: index-aware rules, then the sorting
_CODE = ARITHMETIC_RULES + SUM_RULES + ORDER_RULES
#: their node types, in the order they first appear (Add, Mul, Pow, Call, Delta, Sum)
_TYPES = list(dict.fromkeys(r.on for r in _CODE))

RULES: list[Rule] = [*pattern_rules(IDENTITIES), *sorted(_CODE, key=lambda r: _TYPES.index(r.on)),
                     *pattern_rules(RECOGNISERS)]


# ---------------------------------------------------------------- engine


RULES_BY_TYPE: dict[type, list[Rule]] = {}
for _r in RULES:
    RULES_BY_TYPE.setdefault(_r.on, []).append(_r)

Trace = Callable[[Rule, Expr, Expr], None]


#: the memo shared by the trace-less simplifications of one derivation (see shared_memo)
_shared: ContextVar[dict | None] = ContextVar("ricci_simplify_memo", default=None)


class _Shapes:
    """The results of one derivation up to names (see :func:`renaming_memo`); ``busy``
    while one is computed (the calls it makes are not looked up: the outermost call
    stands for them, and measured, that is cheaper than keying each)."""

    __slots__ = ("busy", "table")

    def __init__(self) -> None:
        #: (tag, shape key) -> (names, dims, the argument's nodes (kept alive: their ids
        #: are rename's memo), result)
        self.table: dict[tuple, tuple[tuple[str, ...], tuple[str, ...], list[Expr], Expr]] = {}
        self.busy = False


_shapes: ContextVar[_Shapes | None] = ContextVar("ricci_simplify_shapes", default=None)


@contextmanager
def shared_memo() -> Iterator[None]:
    """Inside the block, every :func:`simplify` without a trace or a memo of its own shares
    one memo, so an expression simplified once (a gradient statement substituted into
    each of its uses) is never simplified again; and the :func:`renaming_memo` is on. Sound
    because simplification is a pure function of the node and its results are fixed
    points. The outermost block owns the memos; they are dropped on exit (with the
    memoised comparisons of :mod:`ricci.ir.expr`)."""
    if _shared.get() is not None:
        yield
        return
    token = _shared.set({})
    token2 = _shapes.set(_Shapes())
    try:
        yield
    finally:
        _shapes.reset(token2)
        _shared.reset(token)
        clear_order_memo()


def renaming_memo(tag: Hashable, e: Expr, compute: Callable[[], Expr]) -> Expr:
    """``compute()``, a pure function ``f`` of ``e`` (named by ``tag``) that commutes with
    renaming tensors and dims in an order-preserving way: ``f(r(e)) == r(f(e))`` for every
    injective renaming ``r`` of the tensor names and of the dims of ``e`` that keeps their
    order (every rule and transform of this package: they see names and dims only by
    comparing nodes and indices, and invent neither). Inside :func:`shared_memo`, an ``e``
    that is an earlier argument so renamed (:func:`~ricci.ir.traversal.shape`: the layers
    of a deep network, the steps of an RNN) gets the earlier result renamed
    (:func:`~ricci.ir.traversal.rename`), in time linear in the size of the two; outside,
    or nested in another such call, it is ``compute()``."""
    state = _shapes.get()
    if state is None or state.busy:
        return compute()
    key, names, dims, nodes = shape(e)
    key = (tag, key)
    hit = state.table.get(key)
    if hit is not None:
        was, was_dims, was_nodes, out = hit
        if was == names and was_dims == dims:
            return out
        # the argument's subtrees are the earlier argument's renamed: reused, not rebuilt
        known = {id(a): b for a, b in zip(was_nodes, nodes)}
        return rename(out, dict(zip(was, names)), dict(zip(was_dims, dims)), known)
    state.busy = True
    try:
        out = compute()
    finally:
        state.busy = False
    if tensor_names(out) <= set(names) and {i.dim for i in index_occurrences(out)} <= set(dims):
        state.table[key] = (names, dims, nodes, out)
    return out


def known_normal(e: Expr) -> Expr:
    """Record, inside :func:`shared_memo`, that ``e`` is a normal form: a result of
    :func:`simplify`, or such a result renamed by :func:`renaming_memo` (rules commute with
    its renamings, so a renamed normal form is the normal form of the renamed input), so
    that ``simplify(e)`` is ``e`` at once. Returns ``e``."""
    shared = _shared.get()
    if shared is not None:
        shared[e] = e
    return e


def simplify(e: Expr, trace: Trace | None = None, *, memo: dict | None = None) -> Expr:
    """Rewrite ``e`` to its normal form. ``trace(rule, before, after)`` sees every rewrite."""
    if memo is None:
        shared = _shared.get() if trace is None else None
        if shared is None:
            return _simplify(e, trace, {})
        hit = shared.get(e)  # (a derivation's: also up to tensor names)
        if hit is None:
            hit = renaming_memo("simplify", e, lambda: _simplify(e, None, shared))
            shared[e] = shared[hit] = hit
        return hit
    return _simplify(e, trace, memo)


def _simplify(e: Expr, trace: Trace | None, memo: dict) -> Expr:
    limit = sys.getrecursionlimit()
    try:
        if limit < 20000:
            sys.setrecursionlimit(20000)  # deep expressions recurse deeply; restored afterwards
        return _Engine(memo, trace).go(e)
    finally:
        if limit < 20000:
            sys.setrecursionlimit(limit)


class _Engine:
    """Children first, then the node's rules; a rewrite is simplified again. An object,
    not a recursive closure (which would be a reference cycle keeping the memo alive
    until the cyclic garbage collector runs)."""

    __slots__ = ("memo", "trace")

    def __init__(self, memo: dict, trace: Trace | None) -> None:
        self.memo = memo
        self.trace = trace

    def go(self, n: Expr) -> Expr:
        memo = self.memo
        hit = memo.get(n)
        if hit is not None:
            return hit
        tick()
        kids = n.children
        cur = n
        if kids:
            new = [self.go(k) for k in kids]
            if any(a is not b for a, b in zip(new, kids)):
                cur = n.rebuild(new)
        out = cur
        for r in RULES_BY_TYPE.get(type(cur), ()):
            m = r.fn(cur)
            if m is not None and m != cur:
                if self.trace is not None:
                    self.trace(r, cur, m)
                out = self.go(m)
                break
        memo[n] = out
        memo[out] = out
        return out
