"""What a rewrite rule is, and the small helpers the modules of rules share.

A :class:`Rule` is a name, the node type it rewrites, runnable examples and a function
returning the rewritten node, or ``None`` when it does not apply (a result equal to the
node counts as no rewrite). A module of rules written as code keeps them in a list of its
own, in the order they are tried, filled by the decorator ``rule`` that :func:`registrar`
makes for it; :func:`pattern_rules` makes the rules written as data (:mod:`.patterns`).
:mod:`.rewrite` puts the lists together in the order the engine tries them. Nothing here
rewrites anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from fractions import Fraction
from itertools import groupby

from ..ir.expr import ONE, Const, Expr, Mul, Pow
from .patterns import PatternRule, compile_rule

__all__ = ["Rule", "base_exp", "pattern_rules", "product_of", "registrar"]


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


def registrar(rules: list[Rule]) -> Callable[[str, type, str], Callable[[Callable], Callable]]:
    """The decorator ``rule(name, on, example)`` that registers a rewrite rule written as
    code (``example``: see :class:`Rule`) at the end of ``rules``."""

    def rule(name: str, on: type, example: str):
        def deco(fn: Callable[[Expr], Expr | None]) -> Callable[[Expr], Expr | None]:
            rules.append(Rule(name, on, example, fn))
            return fn

        return deco

    return rule


# ---------------------------------------------------------------- helpers


_ONE = Fraction(1)  # (Fractions are immutable: one object serves every use)


def product_of(factors: list[Expr]) -> Expr:
    """The product of ``factors``: ``1`` for none, the factor itself for one."""
    if not factors:
        return ONE
    return factors[0] if len(factors) == 1 else Mul(factors)


def base_exp(f: Expr) -> tuple[Expr, Fraction]:
    """A factor as its base and constant exponent (``x`` is ``x^1``)."""
    if isinstance(f, Pow) and isinstance(f.exp, Const):
        return f.base, f.exp.value
    return f, _ONE
