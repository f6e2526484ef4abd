"""Rewrite rules as data: patterns written in ricci's own notation.

A :class:`PatternRule` is one line of a table: a name, a pattern, its replacement, a
runnable example and an optional condition::

    PatternRule("softplus-recognise", "log(1 + exp(?u))", "softplus(?u)",
                "log(1 + exp(x[i])) -> softplus(x[i])")

Patterns are read once, at import, by the ricci parser (``?u`` is read as a scalar
tensor of a reserved name, then turned into a variable) and compiled into a small tree of
pattern nodes. The language:

* ``?u``, ``?v``, ... bind any subexpression, with its indices (the patterns themselves
  are elementwise: no index, sum or delta is written in one). A variable met again must
  match an equal subexpression.
* ``?c``, ``?c1``, ... (names beginning with ``c``) bind a constant.
* ``k * ?u``, with ``k`` a number, matches any expression ``e`` and binds ``?u`` to
  ``e / k`` in normal form: ``exp(-?u)`` matches ``exp(x)`` with ``?u = -x``, and
  ``sigmoid(-?u)`` matches the sigmoid of the negation of ``?u``.
* ``p^?c`` also matches an expression that is not a power, with ``?c = 1``
  (``exp(?u)^?c`` matches ``exp(x)``).
* Sums and products match whatever the order of their terms and factors; a product at
  the root of a pattern matches a sub-product (the other factors are kept, in order,
  before the replacement's factors). Any other node matches a node of its own type with
  the same function and children that match.
* Constant arithmetic is folded when the pattern is read (``1 / x`` is ``x^-1``); the
  condition (``when``) is ``and``-ed comparisons of a constant variable (``?c >= 1``)
  or of the coefficient of a variable (``coef(?u) > 0``) with a number, or
  ``even(?c)`` or ``integer(?c)``: the constant is an even integer, an integer.

Matching a product of n factors is O(n) when, as in every table of :mod:`.rewrite`,
each factor pattern after the first is known once the first is matched: the first is
looked for among the factors in order; a factor pattern whose variables are then all
bound is built (in canonical order) and looked up in a dictionary of the factors, a
power ``p^?c`` of such a base in a dictionary of their bases (any other factor pattern
is looked for among all the factors). Among several matches
the one that comes first (by the positions of the factors matched, in the order the
pattern names them) is rewritten, and among the alternatives of one rule (consecutive
table entries with the same name) the earliest match wins.

The replacement is instantiated as written: constant arithmetic folded (``?c - 1``), a
power with exponent 0 and a factor 1 dropped, and a number times one expression merged
into its coefficient (``-?u`` is the negation of ``?u`` in normal form). Nothing else is
simplified: the engine simplifies the result.
"""

from __future__ import annotations

import operator
import re
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from ..errors import RicciError, RicciWarning
from ..ir.expr import ONE, Add, Call, Const, Expr, Mul, Pow, Tensor
from ..syntax.resolve import parse
from .coefficients import small, split_coef, with_coef

__all__ = ["PatternRule", "compile_rule"]

#: ``?u`` is read by the ricci parser as the scalar tensor of this name followed by ``u``
_PREFIX = "_ricci_pattern_"
_VAR = re.compile(r"\?([A-Za-z][A-Za-z0-9_]*)")

Bindings = Mapping[str, Expr]


@dataclass(frozen=True)
class PatternRule:
    """One entry of a table of rewrite rules: ``pattern -> replacement`` where ``when``
    holds, with an example ``before -> after`` (``after`` fully simplified) that runs as
    a test."""

    name: str
    pattern: str
    replacement: str
    example: str
    when: str = ""


# ---------------------------------------------------------------- pattern nodes
#
# Every pattern node has ``vars``, the names of the variables under it, and ``kinds``,
# the bit mask of the node types every expression it matches contains (``Expr.kinds``).


@dataclass(frozen=True, slots=True)
class Var:
    """``?u``: any expression (``const``: ``?c``, a constant)."""

    name: str
    const: bool
    vars: frozenset[str] = field(init=False, repr=False, compare=False)
    kinds: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "vars", frozenset((self.name,)))
        object.__setattr__(self, "kinds", 1 << Const.RANK if self.const else 0)


@dataclass(frozen=True, slots=True)
class Lit:
    """A number."""

    value: Const
    vars: frozenset[str] = field(init=False, repr=False, compare=False)
    kinds: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "vars", frozenset())
        object.__setattr__(self, "kinds", 1 << Const.RANK)


@dataclass(frozen=True, slots=True)
class Scaled:
    """``k * ?u``: any expression ``e``, binding ``?u`` to ``e / k``."""

    k: Fraction
    var: Var
    vars: frozenset[str] = field(init=False, repr=False, compare=False)
    kinds: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "vars", self.var.vars)
        object.__setattr__(self, "kinds", 0)


@dataclass(frozen=True, slots=True)
class Node:
    """A ``Call``, ``Pow``, ``Mul`` or ``Add`` whose children match ``kids``. ``bare``:
    a power ``p^?c``, which also matches a ``p`` that is not a power; ``lits``: the
    numbers at fixed places among the children of a call or a power."""

    type: type[Expr]
    kids: tuple[P, ...]
    fn: str | None = None
    bare: bool = field(init=False, repr=False, compare=False)
    lits: tuple[tuple[int, Const], ...] = field(init=False, repr=False, compare=False)
    vars: frozenset[str] = field(init=False, repr=False, compare=False)
    kinds: int = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        kids = self.kids
        last = kids[-1]
        bare = self.type is Pow and isinstance(last, Var) and last.const
        kinds = 1 << self.type.RANK
        for k in kids:
            kinds |= k.kinds
        object.__setattr__(self, "bare", bare)
        object.__setattr__(self, "lits", tuple((n, p.value) for n, p in enumerate(kids)
                                               if isinstance(p, Lit) and self.type in (Call, Pow)))
        object.__setattr__(self, "vars", frozenset().union(*(k.vars for k in kids)))
        object.__setattr__(self, "kinds", kids[0].kinds if bare else kinds)


P = Var | Lit | Scaled | Node


# ---------------------------------------------------------------- reading patterns


def compile_pattern(text: str) -> P:
    """The pattern node of ``text`` (ricci notation with ``?u`` variables)."""
    src = _VAR.sub(lambda m: _PREFIX + m.group(1), text)
    try:
        with warnings.catch_warnings():  # a pattern's lone index is a variable, not a sum to lint
            warnings.simplefilter("ignore", RicciWarning)
            program = parse(f"{_PREFIX} = {src}", syntax="ricci")
    except RicciError as err:
        raise RicciError(f"pattern {text!r}: {err}") from None
    return _compile(program.statements[-1].rhs, text)


def _compile(e: Expr, text: str) -> P:
    if isinstance(e, Tensor) and e.name.startswith(_PREFIX) and not e.indices:
        name = e.name[len(_PREFIX):]
        return Var(name, const=name.startswith("c"))
    if isinstance(e, Const):
        return Lit(e)
    if not isinstance(e, (Call, Pow, Mul, Add)):
        raise RicciError(f"pattern {text!r}: only numbers, functions, powers, products, sums and "
                         f"?variables may appear in a pattern, not {e}")
    kids = tuple(_compile(k, text) for k in e.children)
    if isinstance(e, Call):
        return Node(Call, kids, e.fn)
    if isinstance(e, Pow):
        return Node(Pow, kids)
    flat = [g for k in kids for g in (k.kids if isinstance(k, Node) and k.type is type(e) else (k,))]
    rest: list[P] = [k for k in flat if not isinstance(k, Lit)]
    nums = [k.value.value for k in flat if isinstance(k, Lit)]
    if isinstance(e, Mul):
        c = Fraction(1)
        for v in nums:
            c *= v
        if not rest:
            return Lit(Const(c))
        first = rest[0]
        if len(rest) == 1 and c == 1:
            return first
        if len(rest) == 1 and isinstance(first, Var) and not first.const:
            return Scaled(c, first)
        factors: list[P] = [Lit(Const(c))] if c != 1 else []
        return Node(Mul, tuple(factors + rest))
    total = sum(nums, Fraction(0))
    if not rest:
        return Lit(Const(total))
    terms: list[P] = [Lit(Const(total))] if total != 0 else []
    terms += rest
    return terms[0] if len(terms) == 1 else Node(Add, tuple(terms))


# ---------------------------------------------------------------- matching


def _bind(b: Bindings, name: str, e: Expr) -> Bindings | None:
    v = b.get(name)
    if v is None:
        return {**b, name: e}
    return b if v == e else None


def matches(p: P, e: Expr, b: Bindings) -> Iterator[Bindings]:
    """Every way ``e`` matches ``p`` extending the bindings ``b`` (whole nodes: a product
    pattern matches a product of as many factors here)."""
    if isinstance(p, Var):
        if not p.const or isinstance(e, Const):
            got = _bind(b, p.name, e)
            if got is not None:
                yield got
    elif isinstance(p, Lit):
        if e == p.value:
            yield b
    elif isinstance(p, Scaled):
        c, rest = split_coef(e)
        got = _bind(b, p.var.name, with_coef(c / p.k, rest))
        if got is not None:
            yield got
    else:
        et = type(e)
        kids = e.children
        if et is p.type and (p.fn is None or (isinstance(e, Call) and e.fn == p.fn)) and len(kids) == len(p.kids):
            if et is Mul or et is Add:
                yield from _unordered(p.kids, list(kids), b)
            else:
                yield from _ordered(p.kids, kids, b)
        if p.bare and not (isinstance(e, Pow) and isinstance(e.exp, Const)):
            yield from _ordered(p.kids, (e, ONE), b)  # e = e^1


def _ordered(ps: Sequence[P], es: Sequence[Expr], b: Bindings) -> Iterator[Bindings]:
    if not ps:
        yield b
        return
    for b2 in matches(ps[0], es[0], b):
        yield from _ordered(ps[1:], es[1:], b2)


def _unordered(ps: Sequence[P], es: list[Expr], b: Bindings) -> Iterator[Bindings]:
    if not ps:
        yield b
        return
    for k, e in enumerate(es):
        for b2 in matches(ps[0], e, b):
            yield from _unordered(ps[1:], es[:k] + es[k + 1:], b2)


def _shallow(p: P, e: Expr) -> bool:
    """A quick necessary condition for ``e`` to match ``p``: its type, function and
    numbers at fixed places."""
    if isinstance(p, Node):
        if p.bare:  # p^?c: a power of a base matching p, or such a base
            if isinstance(e, Pow) and isinstance(e.exp, Const):
                e = e.base
            return _shallow(p.kids[0], e)
        if type(e) is not p.type or (p.fn is not None and not (isinstance(e, Call) and e.fn == p.fn)):
            return False
        if p.lits:
            kids = e.children
            for k, c in p.lits:
                if kids[k] != c:
                    return False
        return True
    if isinstance(p, Lit):
        return e == p.value
    return not isinstance(p, Var) or not p.const or isinstance(e, Const)


class _Factors:
    """The factors of a product, looked up by value and by base (``b`` of ``b^c``)."""

    __slots__ = ("by_base", "by_value")

    def __init__(self, fs: Sequence[Expr]) -> None:
        self.by_value: dict[Expr, list[int]] = {}
        self.by_base: dict[Expr, list[int]] = {}
        for k, f in enumerate(fs):
            self.by_value.setdefault(f, []).append(k)
            base = f.base if isinstance(f, Pow) and isinstance(f.exp, Const) else f
            self.by_base.setdefault(base, []).append(k)


def _sub_products(ps: Sequence[P], fs: Sequence[Expr], b: Bindings, used: tuple[int, ...],
                  index: list) -> Iterator[tuple[tuple[int, ...], Bindings]]:
    """Matches of the factor patterns ``ps`` by distinct factors of ``fs``, first the
    earliest (by the positions matched); ``index`` holds the :class:`_Factors`, built
    when first needed."""
    if not ps:
        yield used, b
        return
    p = ps[0]
    if p.vars <= b.keys():  # a factor of known value
        if not index:
            index.append(_Factors(fs))
        where = index[0].by_value.get(build(p, b, canonical=True), ())
    elif isinstance(p, Node) and p.bare and p.kids[0].vars <= b.keys():  # a power of a known base
        if not index:
            index.append(_Factors(fs))
        where = index[0].by_base.get(build(p.kids[0], b, canonical=True), ())
    else:
        where = range(len(fs))
    for k in where:
        if k in used or not _shallow(p, fs[k]):
            continue
        for b2 in matches(p, fs[k], b):
            yield from _sub_products(ps[1:], fs, b2, used + (k,), index)


# ---------------------------------------------------------------- instantiating


def substitute_vars(p: P, b: Bindings) -> Expr:
    """``p`` with its variables replaced by their bindings and nothing else done: the
    value the pattern stands for (``k * ?u`` is the coefficient times ``?u``)."""
    if not isinstance(p, Node):
        return build(p, b)
    kids = [substitute_vars(k, b) for k in p.kids]
    if p.fn is not None:
        return Call(p.fn, kids)
    return Pow(kids[0], kids[1]) if p.type is Pow else Mul(kids) if p.type is Mul else Add(kids)


def build(p: P, b: Bindings, canonical: bool = False) -> Expr:
    """``p`` with its variables replaced by their bindings (see the module docstring);
    ``canonical``: sums and products in canonical order, as the simplifier leaves them."""
    if isinstance(p, Var):
        return b[p.name]
    if isinstance(p, Lit):
        return p.value
    if isinstance(p, Scaled):
        k, r = split_coef(b[p.var.name])
        return with_coef(p.k * k, r)
    kids = [build(k, b, canonical) for k in p.kids]
    if p.fn is not None:
        return Call(p.fn, kids)
    if p.type is Pow:
        if kids[1] == Const(0):
            return ONE
        return Pow(kids[0], kids[1])
    consts = [k.value for k in kids if isinstance(k, Const)]
    rest = [k for k in kids if not isinstance(k, Const)]
    if canonical:
        rest.sort()
    if p.type is Add:
        total = sum(consts, Fraction(0))
        terms = ([Const(total)] if total != 0 or not rest else []) + rest
        return terms[0] if len(terms) == 1 else Add(terms)
    c = Fraction(1)
    for v in consts:
        if not small(c * v):
            return Mul(kids)  # (a product too big to fold is left as it is)
        c *= v
    if not rest:
        return Const(c)
    if len(rest) == 1:
        k, r = split_coef(rest[0])
        return with_coef(c * k, r)
    return Mul(([Const(c)] if c != 1 else []) + rest)


# ---------------------------------------------------------------- conditions

_OPS: dict[str, Callable[[Fraction, Fraction], bool]] = {
    "<=": operator.le, ">=": operator.ge, "==": operator.eq, "!=": operator.ne,
    "<": operator.lt, ">": operator.gt}
_EVEN = re.compile(r"\s*(even|integer)\(\?(\w+)\)\s*")
_TEST = re.compile(r"\s*(coef\(\?(\w+)\)|\?(\w+))\s*(<=|>=|==|!=|<|>)\s*(-?[0-9./]+)\s*")


def compile_condition(text: str) -> Callable[[Bindings], bool]:
    """The condition ``text`` (``"?c1 >= 1 and coef(?u) > 0"``) as a test of bindings."""
    tests = []
    evens: list[tuple[str, int]] = []
    for part in text.split(" and ") if text.strip() else ():
        even = _EVEN.fullmatch(part)
        if even is not None:
            evens.append((even.group(2), 2 if even.group(1) == "even" else 1))
            continue
        m = _TEST.fullmatch(part)
        if m is None:
            raise RicciError(f"condition {text!r}: expected '?c <op> number' or "
                             f"'coef(?u) <op> number' or 'even(?c)' or 'integer(?c)' joined by 'and', not {part!r}")
        _, coef_of, const, op, num = m.groups()
        tests.append((coef_of, const, _OPS[op], Fraction(num)))

    def holds(b: Bindings) -> bool:
        for name, modulus in evens:
            v = split_coef(b[name])[0]
            if v.denominator != 1 or v.numerator % modulus:
                return False
        for coef_of, const, op, num in tests:
            v = split_coef(b[coef_of] if coef_of else b[const])[0]  # (a constant's value)
            if not op(v, num):
                return False
        return True

    return holds


# ---------------------------------------------------------------- rules


@dataclass(frozen=True)
class Alternative:
    """One entry of a pattern rule, compiled: :meth:`rewrite` applies it alone."""

    entry: PatternRule
    pattern: Node
    replacement: P
    when: Callable[[Bindings], bool]

    @classmethod
    def of(cls, en: PatternRule) -> Alternative:
        pat, rep = compile_pattern(en.pattern), compile_pattern(en.replacement)
        if not isinstance(pat, Node):
            raise RicciError(f"pattern {en.pattern!r}: the root must be a function, a power, "
                             "a product or a sum")
        if not rep.vars <= pat.vars:
            raise RicciError(f"replacement {en.replacement!r}: a variable its pattern does not bind")
        return cls(en, pat, rep, compile_condition(en.when))

    def first(self, e: Expr, index: list | None = None) -> tuple[tuple[int, ...], Bindings] | None:
        """The first match of ``e`` where the condition holds: (the positions of the
        factors matched, for a product pattern, else ``()``; the bindings)."""
        p = self.pattern
        if e.kinds & p.kinds != p.kinds:
            return None
        if p.type is not Mul:
            if _shallow(p, e):
                for b in matches(p, e, {}):
                    if self.when(b):
                        return (), b
            return None
        if not isinstance(e, Mul):
            return None
        for used, b in _sub_products(p.kids, e.factors, {}, (), [] if index is None else index):
            if self.when(b):
                return used, b
        return None

    def apply(self, e: Expr, used: tuple[int, ...], b: Bindings) -> Expr:
        """``e`` rewritten at the match (``used``, ``b``)."""
        new = build(self.replacement, b)
        if self.pattern.type is not Mul:
            return new
        assert isinstance(e, Mul)
        out = [f for k, f in enumerate(e.factors) if k not in used]
        out += new.factors if isinstance(new, Mul) else [] if new == ONE else [new]
        return out[0] if len(out) == 1 else Mul(out) if out else ONE

    def rewrite(self, e: Expr) -> Expr | None:
        """``e`` rewritten by this alternative alone, or ``None``."""
        hit = self.first(e)
        return None if hit is None else self.apply(e, *hit)


def compile_rule(entries: Sequence[PatternRule]) -> tuple[type, Callable[[Expr], Expr | None]]:
    """The node type and the rewrite function of a rule whose alternatives are
    ``entries`` (same name, same root type): the earliest match of any alternative is
    rewritten (for a product, the one whose factors come first); ``None`` if none."""
    alts = [Alternative.of(en) for en in entries]
    types = {a.pattern.type for a in alts}
    if len(types) != 1:
        raise RicciError(f"rule {entries[0].name!r}: alternatives of different node types")
    (on,) = types
    if len(alts) == 1:
        return on, alts[0].rewrite

    def rewrite(e: Expr) -> Expr | None:
        best: tuple[tuple[int, ...], Alternative, Bindings] | None = None
        index: list = []  # (the factors' dictionaries, shared by the alternatives)
        for a in alts:
            hit = a.first(e, index)
            if hit is not None and (best is None or hit[0] < best[0]):
                best = (hit[0], a, hit[1])
        return None if best is None else best[1].apply(e, best[0], best[2])

    return on, rewrite
