"""Forward values reused in derived expressions: ``exp(z[n,k]) / m[n]`` is ``p[n,k]``.

A derivative repeats pieces of the forward program: the gradient of a softmax is full of
``exp(z[n,k]) * sum[j](exp(z[n,j]))^-1``, which the forward program already named ``p``.
:func:`reuse` finds, in a derived expression, the factors of a product that make up the
right-hand side of a forward statement, up to the names of indices, and replaces them by
a reference to it (``dp[n,k] * p[n,k]``); powers are consumed one at a time, so
``e[n,k] * e[n,r] / m[n]^2`` becomes ``p[n,k] * p[n,r]``. A forward statement that is a
sum (``t[i] = inv(A)[i,j] * y[j]``) matches factors of a larger sum whose summed index
occurs nowhere else in it.

Every replacement removes at least one factor's worth of exponent and adds one reference,
so repeating it terminates. The values are unchanged: it is the forward definition read
backwards.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from fractions import Fraction

from ..bounds import tick
from ..ir.expr import Add, Call, Const, Delta, Expr, Index, MatFn, Mul, Pow, Size, Sum, Tensor
from ..ir.program import Statement
from ..ir.traversal import map_bottom_up

__all__ = ["Reuse", "reuse"]

Ren = dict[Index, Index]


def _unify(p: Expr, t: Expr, ren: Ren) -> Iterator[Ren]:
    """Every extension of ``ren`` (pattern index -> target index) making ``p`` equal ``t``."""
    if type(p) is not type(t):
        return
    if isinstance(p, Const):
        if p.value == t.value:  # type: ignore[attr-defined]
            yield ren
        return
    if isinstance(p, Size):
        yield from _indices((p.index,), (t.index,), ren)  # type: ignore[attr-defined]
        return
    if isinstance(p, (Tensor, Delta)):
        if isinstance(p, Tensor) and p.name != t.name:  # type: ignore[attr-defined]
            return
        yield from _indices(p.indices, t.indices, ren)  # type: ignore[attr-defined]
        return
    if isinstance(p, MatFn):
        if p.fn == t.fn and p.arg == t.arg:  # type: ignore[attr-defined]
            yield from _indices(p.out, t.out, ren)  # type: ignore[attr-defined]
        return
    if isinstance(p, Call):
        if p.fn == t.fn:  # type: ignore[attr-defined]
            yield from _seq(p.args, t.args, ren)  # type: ignore[attr-defined]
        return
    if isinstance(p, Pow):
        for r in _unify(p.exp, t.exp, ren):  # type: ignore[attr-defined]
            yield from _unify(p.base, t.base, r)  # type: ignore[attr-defined]
        return
    if isinstance(p, (Mul, Add)):
        yield from _bag(list(p.children), list(t.children), ren)
        return
    if isinstance(p, Sum):
        if len(p.indices) != len(t.indices):  # type: ignore[attr-defined]
            return
        for r in _bag_indices(p.indices, t.indices, ren):  # type: ignore[attr-defined]
            yield from _unify(p.body, t.body, r)  # type: ignore[attr-defined]
        return


def _indices(ps: Sequence[Index], ts: Sequence[Index], ren: Ren) -> Iterator[Ren]:
    if len(ps) != len(ts):
        return
    out = dict(ren)
    for a, b in zip(ps, ts):
        if a.dim != b.dim:
            return
        if a in out:
            if out[a] != b:
                return
        elif b in out.values():
            return  # two pattern indices never become one
        else:
            out[a] = b
    yield out


def _bag_indices(ps: Sequence[Index], ts: Sequence[Index], ren: Ren) -> Iterator[Ren]:
    if not ps:
        yield ren
        return
    for k, t in enumerate(ts):
        for r in _indices((ps[0],), (t,), ren):
            yield from _bag_indices(ps[1:], list(ts[:k]) + list(ts[k + 1:]), r)


def _seq(ps: Sequence[Expr], ts: Sequence[Expr], ren: Ren) -> Iterator[Ren]:
    if len(ps) != len(ts):
        return
    if not ps:
        yield ren
        return
    for r in _unify(ps[0], ts[0], ren):
        yield from _seq(ps[1:], ts[1:], r)


def _bag(ps: list[Expr], ts: list[Expr], ren: Ren) -> Iterator[Ren]:
    if len(ps) != len(ts):
        return
    if not ps:
        yield ren
        return
    for k, t in enumerate(ts):
        for r in _unify(ps[0], t, ren):
            yield from _bag(ps[1:], ts[:k] + ts[k + 1:], r)


_ONE = Fraction(1)


def _powers(fs: Sequence[Expr]) -> list[tuple[Expr, Fraction]]:
    return [(f.base, f.exp.value) if isinstance(f, Pow) and isinstance(f.exp, Const) else (f, _ONE)
            for f in fs]


class _Pattern:
    """A forward statement ``Y[I] = sum[J](c * f1^e1 * ...)`` as a pattern of factors."""

    def __init__(self, st: Statement) -> None:
        self.st = st
        rhs = st.rhs
        self.bound: tuple[Index, ...] = ()
        if isinstance(rhs, Sum):
            self.bound, rhs = rhs.indices, rhs.body
        fs = list(rhs.factors) if isinstance(rhs, Mul) else [rhs]
        occurring = _occurring(rhs)
        # dT1[i] = L * log(2) broadcasts, and L = sum[j,m](det(K) * F[j]) sums over an
        # index no factor has (it is size(m) * ...): neither is a pattern; nor is
        # dP[k] = log(2) * 2^sum[k](P[k]), whose k on the right is another (bound) k
        self.ok = len(fs) >= 2 and not any(isinstance(f, Const) for f in fs) \
            and len(set(st.indices)) == len(st.indices) \
            and set(st.indices) <= st.rhs.free and set(self.bound) <= occurring
        self.factors = _powers(fs)
        #: what a product must hold for the pattern to match (see :func:`_head`)
        self.factor_heads = [_head(b) for b, _ in self.factors]
        self.heads = frozenset(self.factor_heads)


def _head(e: Expr) -> tuple:
    """A cheap signature two expressions share whenever :func:`_unify` can match them."""
    if isinstance(e, Tensor):
        return (Tensor, e.name)
    if isinstance(e, (Call, MatFn)):
        return (type(e), e.fn)
    return (type(e),)


def _match(pat: _Pattern, bound: Sequence[Index], fs: list[tuple[Expr, Fraction]],
           heads: list[tuple], sign: int) -> tuple[Ren, list[int]] | None:
    """Pattern factors matched to target factors (``sign`` -1: the pattern's reciprocal):
    the renaming and, per pattern factor, the target factor it takes its power from.
    ``heads`` are the targets' signatures (:func:`_head`): a factor is tried only where
    they agree."""
    return _match_from(0, {}, [], pat, bound, fs, heads, sign)


def _match_from(k: int, ren: Ren, used: list[int], pat: _Pattern, bound: Sequence[Index],
                fs: list[tuple[Expr, Fraction]], heads: list[tuple],
                sign: int) -> tuple[Ren, list[int]] | None:
    if k == len(pat.factors):
        return ren, used
    pb, pe = pat.factors[k]
    head = pat.factor_heads[k]
    want = pe * sign
    for n, (tb, te) in enumerate(fs):
        # the target has at least the wanted power, of the same sign (te * want > 0)
        if heads[n] != head or n in used or not want or (te > 0) != (want > 0) \
                or abs(te) < abs(want):
            continue
        for r in _unify(pb, tb, ren):
            if any(r[j] not in bound for j in pat.bound if j in r):
                continue  # a summed index of the pattern is a summed index here
            got = _match_from(k + 1, r, used + [n], pat, bound, fs, heads, sign)
            if got is not None:
                return got
    return None


def _rewrite(e: Expr, pats: list[_Pattern], index: dict[tuple, list[int]]) -> Expr:
    bound: tuple[Index, ...] = ()
    body = e
    if isinstance(e, Sum):
        bound, body = e.indices, e.body
    if not isinstance(body, Mul):
        return e
    fs = _powers(body.factors)
    changed = False
    for _ in range(64):  # each round consumes at least one factor's power
        hit = None
        heads = [_head(b) for b, _ in fs]
        for pat in _candidates(heads, index, pats):
            for sign in (1, -1):
                m = _match(pat, bound, fs, heads, sign)
                if m is not None:
                    hit = (pat, sign, *m)
                    break
            if hit:
                break
        if hit is None:
            break
        pat, sign, ren, used = hit
        new = list(fs)
        for (_pb, pe), n in zip(pat.factors, used):
            tb, te = new[n]
            new[n] = (tb, te - pe * sign)
        new = [(b, x) for b, x in new if x != 0]
        ref = Tensor(pat.st.name, tuple(ren[i] for i in pat.st.indices))
        gone = [ren[j] for j in pat.bound]
        if any(j in _occurring(b) for b, _ in new for j in gone):
            break  # the summed index is still used elsewhere: not this one
        fs = new + [(ref, Fraction(sign))]
        bound = tuple(i for i in bound if i not in gone)
        changed = True
    if not changed:
        return e
    factors = [b if x == 1 else Pow(b, Const(x)) for b, x in fs]
    out: Expr = factors[0] if len(factors) == 1 else Mul(factors)
    return Sum(bound, out) if bound else out


def _candidates(heads: list[tuple], index: dict[tuple, list[int]],
                pats: list[_Pattern]) -> list[_Pattern]:
    """The patterns (in their order) whose factors' signatures all occur among ``heads``,
    the signatures of a product's factors: only those can match, and looking them up
    (rather than trying every forward statement on every product) keeps reuse linear in
    the length of the program."""
    present = set(heads)
    found: set[int] = set()
    for h in present:
        found.update(index.get(h, ()))
    return [pats[k] for k in sorted(found) if pats[k].heads <= present]


def _occurring(e: Expr) -> set[Index]:
    from ..ir.traversal import index_occurrences

    return index_occurrences(e)


class Reuse:
    """:func:`reuse` with the patterns of ``forward`` built once, for many calls (reverse
    mode tries a substitution per adjoint: building them each time would make it quadratic)."""

    def __init__(self, forward: Sequence[Statement]) -> None:
        self.pats = [p for p in (_Pattern(s) for s in forward) if p.ok]
        self.index: dict[tuple, list[int]] = {}
        for k, p in enumerate(self.pats):
            for h in p.heads:
                self.index.setdefault(h, []).append(k)

    def __call__(self, stmts: Sequence[Statement]) -> list[Statement]:
        if not self.pats:
            return list(stmts)

        def rewrite(n: Expr) -> Expr:
            tick()
            return _rewrite(n, self.pats, self.index)

        memo: dict = {}
        return [s.replace(map_bottom_up(s.rhs, rewrite, memo)) for s in stmts]


def reuse(forward: Sequence[Statement], stmts: Sequence[Statement]) -> list[Statement]:
    """``stmts`` with products of forward factors replaced by the forward tensors."""
    return Reuse(forward)(stmts)
