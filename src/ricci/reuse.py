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

from fractions import Fraction
from typing import Iterator, Sequence

from .expr import (Add, Call, Const, Delta, Expr, Index, MatFn, Mul, Pow, Size, Sum, Tensor,
                   map_bottom_up)
from .program import Statement

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


def _powers(fs: Sequence[Expr]) -> list[tuple[Expr, Fraction]]:
    return [(f.base, f.exp.value) if isinstance(f, Pow) and isinstance(f.exp, Const) else (f, Fraction(1))
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
        self.ok = len(fs) >= 2 and not any(isinstance(f, Const) for f in fs) \
            and len(set(st.indices)) == len(st.indices) \
            and set(st.indices) <= _occurring(rhs)  # dT1[i] = L * log(2) broadcasts: no pattern
        self.factors = _powers(fs)


def _match(pat: _Pattern, bound: Sequence[Index], fs: list[tuple[Expr, Fraction]],
           sign: int) -> tuple[Ren, list[int]] | None:
    """Pattern factors matched to target factors (``sign`` -1: the pattern's reciprocal):
    the renaming and, per pattern factor, the target factor it takes its power from."""

    def go(k: int, ren: Ren, used: list[int]) -> tuple[Ren, list[int]] | None:
        if k == len(pat.factors):
            return ren, used
        pb, pe = pat.factors[k]
        want = pe * sign
        for n, (tb, te) in enumerate(fs):
            if n in used or te * want <= 0 or abs(te) < abs(want):
                continue
            for r in _unify(pb, tb, ren):
                if any(r[j] not in bound for j in pat.bound if j in r):
                    continue  # a summed index of the pattern is a summed index here
                got = go(k + 1, r, used + [n])
                if got is not None:
                    return got
        return None

    return go(0, {}, [])


def _rewrite(e: Expr, pats: list[_Pattern]) -> Expr:
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
        for pat in pats:
            for sign in (1, -1):
                m = _match(pat, bound, fs, sign)
                if m is not None:
                    hit = (pat, sign, *m)
                    break
            if hit:
                break
        if hit is None:
            break
        pat, sign, ren, used = hit
        new = list(fs)
        for (pb, pe), n in zip(pat.factors, used):
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


def _occurring(e: Expr) -> set[Index]:
    from .expr import index_occurrences

    return index_occurrences(e)


def reuse(forward: Sequence[Statement], stmts: Sequence[Statement]) -> list[Statement]:
    """``stmts`` with products of forward factors replaced by the forward tensors."""
    pats = [p for p in (_Pattern(s) for s in forward) if p.ok]
    if not pats:
        return list(stmts)
    memo: dict = {}
    return [s.replace(map_bottom_up(s.rhs, lambda n: _rewrite(n, pats), memo)) for s in stmts]
