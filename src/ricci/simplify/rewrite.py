"""Stage 4: simplification by small named rewrite rules, run bottom-up to a fixed point.

Each rule is a :class:`Rule`: a name, the node type it applies to, one-line runnable
examples (``before -> after``, run by tests/simplify/test_simplify_rules.py), and a
function returning the rewritten node or ``None``. Local patterns are written as data, in ricci's
own notation (:mod:`.patterns`): the :data:`IDENTITIES` (``?u^1 -> ?u``) and the
:data:`RECOGNISERS` of textbook functions (``log(1 + exp(?u)) -> softplus(?u)``). The
rules that look at indices (deltas, sums, like terms up to renaming) or at every child
at once (flattening, folding, sorting) are written as code, registered with
:func:`rule`. :data:`RULES` lists them in the order they are tried on a node of their
type: the identities, then the rules written as code, then the recognisers (which so
see a node flattened, folded and in canonical order). The engine simplifies children
first, then tries the rules of the node's type; when one fires, the result is simplified
again, until no rule applies. Results are memoised (per call, or per derivation inside
:func:`shared_memo`), so shared subtrees are simplified once; every result is a fixed
point. The engine reads the clock (:func:`~ricci.bounds.tick`) once per node it
simplifies.

Costs: each rule looks at a node's children once or through a dictionary (never pairs
of children), so simplifying a product of n factors is O(n log n); comparing two trees
for the canonical order stops at the first child whose hash differs.

Constants are folded exactly (Fractions) while they stay small (numerator and
denominator below :data:`FOLD_LIMIT`, bounded *before* a power is computed): ``2^64``
folds, ``2^10^10`` and ``10^400 * 10^400`` stay as they are written.

The normal form reached: a term is ``sum[K](c * f1 * ... * fn)`` with the sum outermost
(an einsum), constants folded into one leading coefficient, factors and terms in
canonical order, like terms collected up to renaming of summed indices, and every
Kronecker delta whose index is summed eaten. Products are *not* distributed over sums
(shared subexpressions stay factored), except over a sum holding a delta that can then
eat an index.

Textbook forms are recognised: ``exp(u) / (1 + exp(u))`` and ``1 / (1 + exp(-u))`` are
``sigmoid(u)``, ``log(1 + exp(u))`` is ``softplus(u)`` (so their derivatives are
``sigmoid(u) * (1 - sigmoid(u))``, not two exponential terms).

Why it terminates. Every rule written as code but four strictly shrinks the tree
(removes a node, a factor, a term, a delta, a bound index or an index occurrence) or
sorts children into canonical order, which is idempotent. The four others move
structure one way only and never back: ``mul-hoist-sum`` moves a sum outward past a
product, ``sum-split`` and ``delta-distribute`` move a sum of terms outward past a
summation or a product (as in computing a disjunctive normal form, which terminates),
and ``pow-of-product`` moves an integer power inward past a product. No rule moves a
sum inward, re-factors a sum of terms, or re-groups powers of a product, so no sequence
of rewrites can cycle. Every rule written as data strictly lowers, at the node it
rewrites, the measure (E, S, N) compared in that order: E the ``exp`` calls, each
weighted by the absolute constant exponents of the powers above it; S the sigmoids of
an argument with a negative coefficient; N the nodes (the identities lower N, the
recognisers E, ``sigmoid-complement`` S; the tests check every entry, also where its
variables hold exponentials and sigmoids, which a replacement may copy). No rule turns
a sigmoid or a softplus back into exponentials; the rules written as code raise E only
when ``delta-distribute`` copies factors (one way), and S only by normalising an
argument (shrinking it), so the rules written as data fire finitely often. A fold
refused because its result would be too big is a rule that does not fire, so the bound
on constants adds no rewrite.
"""


from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from fractions import Fraction
from functools import lru_cache
from itertools import groupby
from math import isqrt

from ..bounds import tick
from ..ir.expr import (
    ONE,
    ZERO,
    Add,
    Call,
    Const,
    Delta,
    Expr,
    Index,
    Mul,
    Pow,
    Size,
    Sum,
    Tensor,
    clear_order_memo,
    contains,
    distinct,
    fresh_name,
    index_names,
    substitute,
    successors,
)
from ..primitives.functions import FUNCTIONS
from .coefficients import FOLD_LIMIT, small, split_coef, with_coef
from .patterns import PatternRule, compile_rule


@dataclass(frozen=True)
class Rule:
    """A rewrite rule: ``fn`` returns the rewritten node (of type ``on``) or ``None``.
    ``example`` is one or more runnable ``before -> after`` separated by ``;`` (``after``
    is what the simplifier makes of ``before``; it fires the rule); ``table`` holds the
    entries of a rule written as data (:mod:`.patterns`), empty for a rule written as code."""

    name: str
    on: type
    example: str
    fn: Callable[[Expr], Expr | None]
    table: tuple[PatternRule, ...] = ()

    @property
    def examples(self) -> tuple[str, ...]:
        return tuple(x.strip() for x in self.example.split(";"))


def pattern_rules(table: Iterable[PatternRule]) -> list[Rule]:
    """The rules of a table, in order (consecutive entries with the same name are the
    alternatives of one rule)."""
    out: list[Rule] = []
    for name, group in groupby(table, key=lambda en: en.name):
        entries = tuple(group)
        on, fn = compile_rule(entries)
        out.append(Rule(name, on, ";  ".join(en.example for en in entries), fn, entries))
    return out


# ---------------------------------------------------------------- rules as data

#: identities: tried first on a node of their type (before the rules written as code)
IDENTITIES: tuple[PatternRule, ...] = (
    PatternRule("pow-one", "?u^1", "?u", "x[i]^1 -> x[i]"),
    PatternRule("pow-zero", "?u^0", "1", "x[i]^0 -> 1"),
    PatternRule("pow-of-one", "1^?u", "1", "1^x[i] -> 1"),
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

RULES: list[Rule] = pattern_rules(IDENTITIES)


def rule(name: str, on: type, example: str):
    """Register a rewrite rule written as code (``example``: see :class:`Rule`)."""

    def deco(fn: Callable[[Expr], Expr | None]) -> Callable[[Expr], Expr | None]:
        RULES.append(Rule(name, on, example, fn))
        return fn

    return deco


# ---------------------------------------------------------------- helpers


_FOLD_BITS = FOLD_LIMIT.bit_length()
_ONE = Fraction(1)  # (Fractions are immutable: one object serves every use)


def _small_power(b: Fraction, x: int) -> Fraction | None:
    """``b ** x`` if it is :func:`small` (``None`` otherwise), never computing a big one:
    a power's bit length is bounded from below by ``|x| * (bits(b) - 1)`` first."""
    if not small(b) or (b == 0 and x < 0):
        return None
    bits = max(abs(b.numerator).bit_length(), b.denominator.bit_length())
    if abs(x) * (bits - 1) >= _FOLD_BITS:
        return None
    if bits <= 1:  # 0, 1 or -1, whose powers are cheap and small however big x is
        x = (abs(x) % 2 + 2) * (1 if x > 0 else -1) if x else 0
    v = b ** x
    return v if small(v) else None


def _mul(factors: list[Expr]) -> Expr:
    if not factors:
        return ONE
    return factors[0] if len(factors) == 1 else Mul(factors)


def _sorted(items: Iterable[Expr]) -> list[Expr]:
    return sorted(items)  # (Expr.__lt__: the order of the keys)


def rename_apart(binders: tuple[Index, ...], body: Expr, avoid: set[Index],
                 avoid_names: set[str]) -> tuple[tuple[Index, ...], Expr]:
    """Rename the binders that are in ``avoid`` to fresh names (same dims)."""
    clash = [b for b in binders if b in avoid]
    if not clash:
        return binders, body
    used = set(avoid_names) | index_names(body) | {b.name for b in binders}
    ren: dict[Index, Index] = {}
    for b in clash:
        nm = fresh_name(used, successors(b.name))
        used.add(nm)
        ren[b] = Index(nm, b.dim)
    return tuple(ren.get(b, b) for b in binders), substitute(body, ren)


def _bound_in(e: Expr) -> set[Index]:
    out: set[Index] = set()
    if contains(e, Sum):
        for n in distinct(e):
            if isinstance(n, Sum):
                out.update(n.indices)
    return out


# ---------------------------------------------------------------- alpha-equivalence


@lru_cache(maxsize=65536)
def alpha_key(e: Expr) -> Expr:
    """A key equal for expressions that differ only in the names of summed indices: ``e``
    with its summed indices renamed canonically (an expression, so hashing it is O(1))."""
    return _canon(e, {}, {})


def _height(e: Expr, memo: dict[Expr, int]) -> int:
    """The depth of nested sums in ``e``."""
    if not contains(e, Sum):
        return 0
    hit = memo.get(e)
    if hit is None:
        if isinstance(e, Sum):
            hit = 1 + _height(e.body, memo)
        else:
            hit = max((_height(c, memo) for c in e.children), default=0)
        memo[e] = hit
    return hit


def _canon(e: Expr, heights: dict[Expr, int], memo: dict[Expr, Expr]) -> Expr:
    if not contains(e, Sum):
        return e
    hit = memo.get(e)
    if hit is None:
        hit = memo[e] = _canon_node(e, heights, memo)
    return hit


def _canon_node(e: Expr, heights: dict[Expr, int], memo: dict[Expr, Expr]) -> Expr:
    if isinstance(e, Sum):
        body = _canon(e.body, heights, memo)
        h = _height(e, heights)
        bound = set(e.indices)
        masked = substitute(body, {b: Index("*", b.dim) for b in bound}) if bound else body
        factors = list(body.factors) if isinstance(body, Mul) else [body]
        mfactors = list(masked.factors) if isinstance(masked, Mul) else [masked]
        order = sorted(range(len(factors)), key=lambda k: mfactors[k])
        names: dict[Index, Index] = {}
        for k in order:
            for n in distinct(factors[k]):  # (first occurrences: as in walk's order)
                idx = n.indices if isinstance(n, (Tensor, Delta)) else (
                    (n.index,) if isinstance(n, Size) else ())
                for i in idx:
                    if i in bound and i not in names:
                        names[i] = Index(f"\x00{h}.{len(names)}", i.dim)
        for b in e.indices:
            if b not in names:
                names[b] = Index(f"\x00{h}.{len(names)}", b.dim)
        body2 = substitute(body, names)
        if isinstance(body2, Mul):
            body2 = Mul(_sorted(body2.factors))
        return Sum(sorted(names[b] for b in e.indices), body2)
    kids = e.children
    return e.rebuild([_canon(k, heights, memo) for k in kids]) if kids else e


# ---------------------------------------------------------------- Add


@rule("add-flatten", Add, "(a + b) + c -> a + b + c")
def _add_flatten(e: Add) -> Expr | None:
    if not any(isinstance(t, Add) for t in e.terms):
        return None
    out: list[Expr] = []
    for t in e.terms:
        out.extend(t.terms if isinstance(t, Add) else (t,))
    return Add(out)


@rule("add-zero", Add, "x[i] + 0 -> x[i]")
def _add_zero(e: Add) -> Expr | None:
    if not any(isinstance(t, Const) and t.value == 0 for t in e.terms):
        return None
    return Add([t for t in e.terms if not (isinstance(t, Const) and t.value == 0)])


@rule("add-single", Add, "0 + x[i] -> x[i]")
def _add_single(e: Add) -> Expr | None:
    if len(e.terms) == 0:
        return ZERO
    return e.terms[0] if len(e.terms) == 1 else None


@rule("add-like-terms", Add,
      "2 * sum[j](A[i,j] * x[j]) + sum[k](A[i,k] * x[k]) - 1 + 3 -> 2 + 3 * A[i,j] * x[j]")
def _add_like(e: Add) -> Expr | None:
    # per class of like terms: [coefficient, rest, merged?, its terms]; a class whose
    # coefficients do not add up to a small constant is left as its terms
    groups: dict[Expr, list] = {}
    for t in e.terms:
        c, rest = split_coef(t)
        k = alpha_key(rest)
        g = groups.get(k)
        if g is None:
            groups[k] = [c if small(c) else None, rest, False, [t]]
            continue
        g[3].append(t)
        g[2] = True
        if g[0] is not None:
            total = g[0] + c if small(c) else None
            g[0] = total if total is not None and small(total) else None
    if not any(g[2] and g[0] is not None for g in groups.values()):
        return None
    out: list[Expr] = []
    for c, rest, _, terms in groups.values():
        if c is None:
            out.extend(terms)
        else:
            out.append(with_coef(c, rest))
    return Add(out)


@rule("add-sort", Add, "b + a -> a + b")
def _add_sort(e: Add) -> Expr | None:
    s = _sorted(e.terms)
    return None if all(a is b for a, b in zip(s, e.terms)) else Add(s)


# ---------------------------------------------------------------- Mul


@rule("mul-flatten", Mul, "(a * b) * c -> a * b * c")
def _mul_flatten(e: Mul) -> Expr | None:
    if not any(isinstance(f, Mul) for f in e.factors):
        return None
    out: list[Expr] = []
    for f in e.factors:
        out.extend(f.factors if isinstance(f, Mul) else (f,))
    return Mul(out)


@rule("mul-zero", Mul, "0 * x[i] -> 0")
def _mul_zero(e: Mul) -> Expr | None:
    return ZERO if any(isinstance(f, Const) and f.value == 0 for f in e.factors) else None


@rule("mul-constants", Mul, "2 * x[i] * 3 * 1 -> 6 * x[i]")
def _mul_consts(e: Mul) -> Expr | None:
    consts = [f for f in e.factors if isinstance(f, Const)]
    if not consts or (len(consts) == 1 and consts[0].value != 1 and e.factors[0] is consts[0]):
        return None
    c = Fraction(1)
    for f in consts:
        if not small(f.value):
            break
        c *= f.value
        if not small(c):
            break
    else:
        rest = [f for f in e.factors if not isinstance(f, Const)]
        return _mul(([Const(c)] if c != 1 else []) + rest)
    # the product is too big to fold: it stays a product (of its constants but 1)
    kept = [f for f in e.factors if not (isinstance(f, Const) and f.value == 1)]
    return None if len(kept) == len(e.factors) else _mul(kept)


@rule("mul-single", Mul, "x[i]^2 / x[i] -> x[i]")
def _mul_single(e: Mul) -> Expr | None:
    if len(e.factors) == 0:
        return ONE
    return e.factors[0] if len(e.factors) == 1 else None


def _base_exp(f: Expr) -> tuple[Expr, Fraction]:
    if isinstance(f, Pow) and isinstance(f.exp, Const):
        return f.base, f.exp.value
    return f, _ONE


@rule("mul-powers", Mul, "x[i] * x[i]^2 / x[i] -> x[i]^2")
def _mul_powers(e: Mul) -> Expr | None:
    bases = [f.base if isinstance(f, Pow) and isinstance(f.exp, Const) else f
             for f in e.factors if not isinstance(f, Const)]
    if len(set(bases)) == len(bases):
        return None  # (the common case, found in one pass)
    seen: dict[Expr, list] = {}
    merged = False
    # (is a base, factor): a constant factor (2) stays apart from a power of the same
    # constant (2^0.5), which is a base here (fuzz finding #28)
    order: list[tuple[bool, Expr]] = []
    for f in e.factors:
        if isinstance(f, Const):
            order.append((False, f))
            continue
        b, x = _base_exp(f)
        if b in seen:
            seen[b][0] += x
            if not small(seen[b][0]):
                return None  # the exponents add up to a gigantic one: left as they are
            merged = True
        else:
            seen[b] = [x]
            order.append((True, b))
    if not merged:
        return None
    out: list[Expr] = []
    for is_base, b in order:
        if not is_base:
            out.append(b)
            continue
        x = seen[b][0]
        out.append(b if x == 1 else Pow(b, Const(x)))
    return Mul(out)


@rule("mul-hoist-sum", Mul, "sum[k](a[k]) * sum[l](b[l]) -> sum[k,l](a[k] * b[l])")
def _mul_hoist(e: Mul) -> Expr | None:
    k = next((n for n, f in enumerate(e.factors) if isinstance(f, Sum)), None)
    if k is None:
        return None
    s = e.factors[k]
    assert isinstance(s, Sum)
    others = list(e.factors[:k]) + list(e.factors[k + 1:])
    avoid: set[Index] = set()
    names: set[str] = set()
    for o in others:
        avoid |= o.free | _bound_in(o)
        names |= index_names(o)
    binders, body = rename_apart(s.indices, s.body, avoid, names)
    return Sum(binders, Mul(others[:k] + [body] + others[k:]))


@rule("mul-sort", Mul, "b * 2 * a -> 2 * a * b")
def _mul_sort(e: Mul) -> Expr | None:
    s = _sorted(e.factors)
    return None if all(a is b for a, b in zip(s, e.factors)) else Mul(s)


# ---------------------------------------------------------------- Pow


@rule("pow-constants", Pow, "2^3 * 4^0.5 -> 16")
def _pow_consts(e: Pow) -> Expr | None:
    if not (isinstance(e.base, Const) and isinstance(e.exp, Const)):
        return None
    b, x = e.base.value, e.exp.value
    if not small(b):
        return None
    if x.denominator == 1 and abs(x) <= 64 and not (b == 0 and x < 0):
        v = _small_power(b, int(x))
        return None if v is None else Const(v)
    if x.denominator == 2 and b > 0:
        n, d = b.numerator, b.denominator
        rn, rd = isqrt(n), isqrt(d)
        if rn * rn == n and rd * rd == d and abs(x.numerator) <= 64:
            v = _small_power(Fraction(rn, rd), x.numerator)
            return None if v is None else Const(v)
    return None


@rule("pow-of-pow", Pow, "(x[i]^a)^2 -> x[i]^(2 * a);  (x[i]^3)^2 -> x[i]^6")
def _pow_pow(e: Pow) -> Expr | None:
    if isinstance(e.base, Pow) and isinstance(e.exp, Const) and e.exp.value.denominator == 1:
        inner = e.base
        if isinstance(inner.exp, Const):
            x = inner.exp.value * e.exp.value if small(inner.exp.value) and small(e.exp.value) else None
            return Pow(inner.base, Const(x)) if x is not None and small(x) else None
        return Pow(inner.base, Mul((inner.exp, e.exp)))
    return None


@rule("pow-of-product", Pow, "(a * x[i])^2 -> a^2 * x[i]^2")
def _pow_mul(e: Pow) -> Expr | None:
    if isinstance(e.base, Mul) and isinstance(e.exp, Const) and e.exp.value.denominator == 1:
        return Mul([Pow(f, e.exp) for f in e.base.factors])
    return None


@rule("pow-of-delta", Pow, "delta[i,j]^2 -> delta[i,j]")
def _pow_delta(e: Pow) -> Expr | None:
    if isinstance(e.base, Delta) and isinstance(e.exp, Const) and e.exp.value > 0:
        return e.base
    return None


# ---------------------------------------------------------------- Call


@rule("call-constant", Call, "exp(0) -> 1")
def _call_const(e: Call) -> Expr | None:
    fold = FUNCTIONS[e.fn].fold
    if fold is None or not all(isinstance(a, Const) and small(a.value) for a in e.args):
        return None
    (arg,) = e.args
    assert isinstance(arg, Const)
    v = fold(arg.value)
    return None if v is None else Const(v)


# ---------------------------------------------------------------- Delta


@rule("delta-repeat", Delta, "delta[i,i,j] -> delta[i,j];  delta[i,i] -> 1")
def _delta_repeat(e: Delta) -> Expr | None:
    uniq = list(dict.fromkeys(e.indices))
    if len(uniq) == len(e.indices):
        return None
    return ONE if len(uniq) == 1 else Delta(uniq)


@rule("delta-sort", Delta, "delta[p,i] -> delta[i,p]")
def _delta_sort(e: Delta) -> Expr | None:
    s = tuple(sorted(e.indices))
    return None if s == e.indices else Delta(s)


# ---------------------------------------------------------------- Sum


@rule("sum-empty", Sum, "sum[](x) -> x")
def _sum_empty(e: Sum) -> Expr | None:
    return e.body if not e.indices else None


@rule("sum-zero", Sum, "sum[k](0 * x[k]) -> 0")
def _sum_zero(e: Sum) -> Expr | None:
    return ZERO if isinstance(e.body, Const) and e.body.value == 0 else None


@rule("sum-nested", Sum, "sum[k](sum[l](A[k,l])) -> sum[k,l](A[k,l])")
def _sum_nested(e: Sum) -> Expr | None:
    if not isinstance(e.body, Sum):
        return None
    inner = e.body
    binders, body = rename_apart(inner.indices, inner.body, set(e.indices), {i.name for i in e.indices})
    return Sum(e.indices + binders, body)


@rule("sum-split", Sum, "sum[k](a[k] + b[k]) -> sum[k](a[k]) + sum[k](b[k])")
def _sum_split(e: Sum) -> Expr | None:
    if not isinstance(e.body, Add):
        return None
    return Add([Sum(e.indices, t) for t in e.body.terms])


@rule("delta-eat", Sum, "sum[j](A[i,j] * delta[j,k]) -> A[i,k]")
def _delta_eat(e: Sum) -> Expr | None:
    factors = list(e.body.factors) if isinstance(e.body, Mul) else [e.body]
    bound = set(e.indices)
    for n, f in enumerate(factors):
        if not isinstance(f, Delta):
            continue
        for k in f.indices:
            if k not in bound:
                continue
            others = [i for i in f.indices if i != k]
            if not others:
                continue
            q = next((i for i in others if i not in bound), others[0])
            rest = factors[:n] + factors[n + 1:]
            if len(set(others)) >= 2:
                rest.append(Delta(others))
            body = substitute(_mul(rest), {k: q})
            left = tuple(i for i in e.indices if i != k)
            return Sum(left, body) if left else body
    return None


def _has_eatable_delta(t: Expr, bound: set[Index]) -> bool:
    fs = t.factors if isinstance(t, Mul) else (t,)
    return any(isinstance(f, Delta) and any(i in bound for i in f.indices) for f in fs)


@rule("delta-distribute", Sum,
      "sum[j](A[j] * (delta[j,k] + B[j])) -> A[k] + A[j] * B[j]")
def _delta_distribute(e: Sum) -> Expr | None:
    if not isinstance(e.body, Mul):
        return None
    bound = set(e.indices)
    fs = e.body.factors
    for n, f in enumerate(fs):
        if isinstance(f, Add) and any(_has_eatable_delta(t, bound) for t in f.terms):
            rest = list(fs[:n]) + list(fs[n + 1:])
            return Sum(e.indices, Add([Mul(rest + [t]) for t in f.terms]))
    return None


@rule("sum-unused", Sum, "sum[k](x[i]) -> size(k) * x[i]")
def _sum_unused(e: Sum) -> Expr | None:
    unused = [k for k in e.indices if k not in e.body.free]
    if not unused:
        return None
    used = tuple(k for k in e.indices if k in e.body.free)
    inner = Sum(used, e.body) if used else e.body
    return Mul([Size(k) for k in unused] + [inner])


# ---------------------------------------------------------------- engine


RULES.extend(pattern_rules(RECOGNISERS))

RULES_BY_TYPE: dict[type, list[Rule]] = {}
for _r in RULES:
    RULES_BY_TYPE.setdefault(_r.on, []).append(_r)

Trace = Callable[[Rule, Expr, Expr], None]


#: the memo shared by the trace-less simplifications of one derivation (see shared_memo)
_shared: ContextVar[dict | None] = ContextVar("ricci_simplify_memo", default=None)


@contextmanager
def shared_memo() -> Iterator[None]:
    """Inside the block, every :func:`simplify` without a trace or a memo of its own shares
    one memo, so an expression simplified once (a gradient statement substituted into
    each of its uses) is never simplified again. Sound because simplification is a pure
    function of the node and its results are fixed points. The outermost block owns the
    memo; it is dropped on exit (with the memoised comparisons of :mod:`ricci.expr`)."""
    if _shared.get() is not None:
        yield
        return
    token = _shared.set({})
    try:
        yield
    finally:
        _shared.reset(token)
        clear_order_memo()


def simplify(e: Expr, trace: Trace | None = None, *, memo: dict | None = None) -> Expr:
    """Rewrite ``e`` to its normal form. ``trace(rule, before, after)`` sees every rewrite."""
    if memo is None:
        memo = _shared.get() if trace is None else None
        if memo is None:
            memo = {}
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


# ---------------------------------------------------------------- expansion (kept only when smaller)


def node_count(e: Expr) -> int:
    """The number of nodes of ``e`` (shared subtrees counted each time); O(1)."""
    return e.nodes


def _cancels(f: Expr, others: list[Expr]) -> bool:
    """``f`` (a sum) has a term with a negative power of something among ``others``."""
    bases = {o.base if isinstance(o, Pow) else o for o in others}
    for t in f.terms if isinstance(f, Add) else ():
        _, rest = split_coef(t)
        fs = rest.factors if isinstance(rest, Mul) else (rest,)
        if any(isinstance(g, Pow) and isinstance(g.exp, Const) and g.exp.value < 0 and g.base in bases
               for g in fs):
            return True
    return False


def expand(e: Expr, budget: int = 400) -> Expr | None:
    """``e`` with products distributed over sums, each product simplified before the next
    distribution (so that ``x^-1 * x`` cancels before ``(1 - p)`` is multiplied out);
    ``None`` if that grows beyond ``budget`` nodes. Sums over indices are expanded inside."""
    try:
        return _Expander(budget).go(e)
    except _TooBig:
        return None


class _Expander:
    __slots__ = ("budget", "spent")

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self.spent = 0

    def go(self, n: Expr) -> Expr:
        self.spent += 1
        if self.spent > self.budget:
            raise _TooBig
        if isinstance(n, Add):
            return simplify(Add([self.go(t) for t in n.terms]))
        if isinstance(n, Sum):
            return simplify(Sum(n.indices, self.go(n.body)))
        if not isinstance(n, Mul):
            return n
        fs = [self.go(f) for f in n.factors]
        adds = [k for k, f in enumerate(fs) if isinstance(f, Add)]
        if not adds:
            return simplify(Mul(fs))
        # distribute first the sum whose terms cancel against the other factors
        k = next((k for k in adds if _cancels(fs[k], fs[:k] + fs[k + 1:])), adds[0])
        rest = fs[:k] + fs[k + 1:]
        terms = fs[k].terms  # type: ignore[attr-defined]  # (an Add)
        out = simplify(Add([self.go(simplify(Mul(rest + [t]))) for t in terms]))
        if node_count(out) > self.budget:
            raise _TooBig
        return out


class _TooBig(Exception):
    pass


def expand_if_smaller(e: Expr) -> Expr:
    """:func:`expand` when it gives fewer nodes (terms cancelled), else ``e`` itself:
    ``(-y/p + (1-y)/(1-p)) * p * (1-p)`` becomes ``p - y``."""
    x = expand(e, budget=8 * node_count(e) + 40)
    return x if x is not None and node_count(x) < node_count(e) else e


def factor_common(e: Expr) -> Expr:
    """``e`` with the factors common to all its terms taken out, when that makes it
    smaller: ``sum[n](X[n,d] * s[n] * (1 - y[n])) + sum[n](X[n,d] * s[n] * y[n])`` is
    ``sum[n](X[n,d] * s[n])``, the remaining ``(1 - y[n]) + y[n]`` adding up to 1; and
    ``s * (1 - s)^2 - s^2 * (1 - s)`` is ``s * (1 - s) * (1 - 2 * s)``. A transform of its
    own, applied once (the rewrite rules never re-factor a sum of terms): the terms must
    sum over the same indices, a common factor has the same sign of power in each, and
    where the terms hold different deltas a factor sharing an index with those stays in
    (``diag(p) - outer(p, p)`` stays as it is)."""
    if not isinstance(e, Add) or len(e.terms) < 2:
        return e
    parsed: list[tuple[frozenset[Index], tuple[Index, ...], Fraction, dict[Expr, Fraction]]] = []
    for t in e.terms:
        bound = t.indices if isinstance(t, Sum) else ()
        body = t.body if isinstance(t, Sum) else t
        c, rest = split_coef(body)
        fs = rest.factors if isinstance(rest, Mul) else ([] if rest == ONE else [rest])
        powers: dict[Expr, Fraction] = {}
        for f in fs:
            b, x = _base_exp(f)
            powers[b] = powers.get(b, Fraction(0)) + x
        parsed.append((frozenset(bound), bound, c, powers))
    deltas = [frozenset(b for b in p[3] if isinstance(b, Delta)) for p in parsed]
    # where the terms hold different deltas, a factor sharing an index with one of those
    # stays in: p[c]*delta[c,d] - p[c]*p[d] stays diag(p) - outer(p, p), while a common
    # delta[n,o] and the factors free of c, d come out
    differ = frozenset().union(*deltas) - frozenset.intersection(*deltas)
    apart = {i for dl in differ for i in dl.indices}
    if len({p[0] for p in parsed}) != 1:
        same = _same_binders(parsed)
        if same is None:
            return e
        parsed = same
    common: dict[Expr, Fraction] = {}
    for b in parsed[0][3]:
        if not all(b in p[3] for p in parsed) or (apart and set(b.free) & apart):
            continue
        xs = [p[3][b] for p in parsed]
        if all(v > 0 for v in xs):
            common[b] = min(xs)
        elif all(v < 0 for v in xs):
            common[b] = max(xs)
    if not common:
        return e
    rests = []
    for _, _, c, powers in parsed:
        fs = [b if x == 1 else Pow(b, Const(x)) for b, x in
              ((b, x - common.get(b, 0)) for b, x in powers.items()) if x != 0]
        rests.append(with_coef(c, _mul(fs)))
    inner = Add(rests)
    out: Expr = Mul([b if x == 1 else Pow(b, Const(x)) for b, x in common.items()] + [inner])
    bound = parsed[0][1]
    if bound:
        out = Sum(bound, out)
    out = simplify(out)
    return out if node_count(out) < node_count(e) else e


def _same_binders(parsed: list) -> list | None:
    """The terms with their summed indices renamed to the first term's, matched by dim
    (each dim summed at most once), or None."""
    first = parsed[0][1]
    dims = [b.dim for b in first]
    if len(set(dims)) != len(dims):
        return None
    out = [parsed[0]]
    for _key, bound, c, powers in parsed[1:]:
        if sorted(b.dim for b in bound) != sorted(dims):
            return None
        ren = {b: next(f for f in first if f.dim == b.dim) for b in bound}
        # a target name must not be free in the term (it would be captured)
        free = set().union(*(b.free for b in powers)) if powers else set()
        if any(t in free for t in ren.values()):
            return None
        # two bases may become one (size(n) * size(q) with q renamed n is size(n)^2):
        # their powers add up
        renamed: dict[Expr, Fraction] = {}
        for b, x in powers.items():
            nb = substitute(b, ren)
            renamed[nb] = renamed.get(nb, Fraction(0)) + x
        powers = {b: x for b, x in renamed.items() if x != 0}
        out.append((frozenset(first), first, c, powers))
    return out
