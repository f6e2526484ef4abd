"""The rules of arithmetic on terms and factors: flattening, zero and one, folding of
constants and exact function values, like terms, powers.

Invariants: constants are folded exactly (Fractions) only while they stay :func:`small`
(bounded *before* a power is computed: ``2^64`` folds, ``2^10^10`` and ``10^400 *
10^400`` stay as written); a product's folded constant is its leading factor; like terms
are collected up to the names of their summed indices (:func:`~.canonical.alpha_key`).

Why they terminate: every rule but one strictly shrinks the tree (removes a node, a
factor, a term, a constant or a power): flattening, dropping zeros and ones, folding,
collecting like terms and the powers of one base. The other, ``pow-of-product``, moves an
integer power inward past a product, one way only: no rule re-groups powers of a
product. A fold refused because its result would be too big is a rule that does not fire.
"""

from __future__ import annotations

from fractions import Fraction
from math import isqrt

from ..ir.expr import ONE, ZERO, Add, Call, Const, Expr, Mul, Pow
from ..primitives.functions import FUNCTIONS
from .canonical import alpha_key
from .coefficients import FOLD_LIMIT, small, split_coef, with_coef
from .rules import Rule, base_exp, product_of, registrar

__all__ = ["ARITHMETIC_RULES"]

#: the rules of this module, in the order they are tried on a node of their type
ARITHMETIC_RULES: list[Rule] = []
rule = registrar(ARITHMETIC_RULES)

_FOLD_BITS = FOLD_LIMIT.bit_length()


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


#: a product of constants is folded while its numerator and denominator have at most
#: this many bits (about 1e315000). Such a product is no bigger than the constants it
#: multiplies put together, so this bound is far above :data:`~.coefficients.FOLD_LIMIT`
#: (which keeps powers and sums from building gigantic numbers): the adjoint at the start
#: of a chain of 4000 doublings is the one constant 2^3999, not a product of thousands of
#: constants that every later step of the chain multiplies out again
PRODUCT_BITS = 1 << 20


@rule("mul-constants", Mul, "2 * x[i] * 3 * 1 -> 6 * x[i]")
def _mul_consts(e: Mul) -> Expr | None:
    """The constants of a product folded into one, first; beyond :data:`PRODUCT_BITS` each
    constant joins the running product while that stays within it, else starts the next
    one. Terminates: a change lowers the number of constants or moves the first one to
    the front."""
    consts = [f.value for f in e.factors if isinstance(f, Const)]
    if not consts or (len(consts) == 1 and consts[0] != 1 and isinstance(e.factors[0], Const)):
        return None
    folded: list[Fraction] = []
    for v in consts:
        if v == 1:
            continue
        if folded and _fits(folded[-1], v):
            folded[-1] *= v
        else:
            folded.append(v)
    rest = [f for f in e.factors if not isinstance(f, Const)]
    out = [Const(c) for c in folded] + rest
    return None if out == list(e.factors) else product_of(out)


def _fits(a: Fraction, b: Fraction) -> bool:
    """Whether ``a * b`` stays within :data:`PRODUCT_BITS` (bounded from the bit lengths:
    no product is computed to find that it is too big)."""
    return a.numerator.bit_length() + b.numerator.bit_length() <= PRODUCT_BITS and \
        a.denominator.bit_length() + b.denominator.bit_length() <= PRODUCT_BITS


@rule("mul-single", Mul, "x[i]^2 / x[i] -> x[i]")
def _mul_single(e: Mul) -> Expr | None:
    if len(e.factors) == 0:
        return ONE
    return e.factors[0] if len(e.factors) == 1 else None


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
        b, x = base_exp(f)
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
