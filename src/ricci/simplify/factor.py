"""Transforms applied once to a finished expression, never by the rewrite rules:
:func:`expand` (products distributed over sums), :func:`expand_if_smaller`, and
:func:`factor_common` (the factors common to every term taken out); :func:`node_count` is
the size they compare.

Invariants: each keeps the value of its argument, and what it builds it simplifies
(:func:`~.rewrite.simplify`); :func:`expand` gives up (``None``) past a budget of nodes,
and :func:`expand_if_smaller` and :func:`factor_common` return their argument itself
unless their result has fewer nodes. They are not rules: distributing and factoring undo
each other, so the rules do neither (but for ``delta-distribute``, which makes a delta eat
an index); these run where a caller asks, a bounded number of passes over the tree.
"""
from __future__ import annotations

from fractions import Fraction

from ..ir.expr import ONE, Add, Const, Delta, Expr, Index, Mul, Pow, Sum
from ..ir.indices import substitute
from .coefficients import split_coef, with_coef
from .rewrite import renaming_memo, simplify
from .rules import base_exp, product_of

__all__ = ["expand", "expand_if_smaller", "factor_common", "node_count"]


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
    ``(-y/p + (1-y)/(1-p)) * p * (1-p)`` becomes ``p - y``. Memoised up to tensor names
    (:func:`~.rewrite.renaming_memo`)."""
    return renaming_memo("expand_if_smaller", e, lambda: _expand_if_smaller(e))


def _expand_if_smaller(e: Expr) -> Expr:
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
            b, x = base_exp(f)
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
        rests.append(with_coef(c, product_of(fs)))
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
