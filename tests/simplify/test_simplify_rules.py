"""Every rewrite rule runs its own example, and every rule written as data is an identity.

* Each rule (data or code) has at least one one-line example ``before -> after``: the
  example is parsed, simplified, and must print as ``after``, fire the rule, and keep its
  value (evaluated before and after).
* Each entry of a pattern table is checked by an oracle independent of the simplifier:
  its pattern and its replacement, instantiated with random tensors and constants that
  meet its condition, evaluate to the same numbers (``ricci.verify.evaluate``).
* Each entry strictly lowers the measure the termination argument of
  :mod:`ricci.simplify.rewrite` uses.
"""

from __future__ import annotations

import itertools
import re
from fractions import Fraction

import numpy as np
import pytest

import ricci
from ricci.codegen.binding import all_dims
from ricci.display.render import statement_text
from ricci.errors import RicciError
from ricci.ir.expr import Call, Const, Expr, Mul, Pow, Sum, Tensor
from ricci.ir.program import Program
from ricci.ir.traversal import walk
from ricci.simplify.coefficients import split_coef
from ricci.simplify.patterns import (
    Alternative,
    Node,
    PatternRule,
    build,
    compile_pattern,
    compile_rule,
    substitute_vars,
)
from ricci.simplify.rewrite import IDENTITIES, RECOGNISERS, RULES, simplify
from ricci.verify.evaluate import evaluate

EXAMPLES = [(r, ex) for r in RULES for ex in r.examples]
ENTRIES = list(IDENTITIES) + list(RECOGNISERS)


def program_of(before: str) -> Program:
    """``before`` as the right-hand side of a statement whose left-hand side has every
    index the text names outside ``sum[...]`` brackets (in order of appearance).
    ``sum[](e)``, an empty sum (which only other stages build), is built around ``e``."""
    empty = before.startswith("sum[](") and before.endswith(")")
    text = before[6:-1] if empty else before
    bound = {n.strip() for m in re.finditer(r"sum\[([^\]]*)\]", text) for n in m.group(1).split(",")}
    names: list[str] = []
    for m in re.finditer(r"(?<!sum)\[([^\]]*)\]|size\((\w+)\)", text):
        for n in (m.group(1) or m.group(2)).split(","):
            if n.strip() and n.strip() not in bound and n.strip() not in names:
                names.append(n.strip())
    p = ricci.parse(f"y[{','.join(names)}] = {text}" if names else f"y = {text}")
    if empty:
        st = p.statements[-1]
        p = Program(p.statements[:-1] + (st.replace(Sum((), st.rhs)),), p.dims, dim_names=p.dim_names)
    return p


def values(p: Program, rhs: Expr, inputs: dict, sizes: dict) -> np.ndarray:
    st = p.statements[-1]
    q = Program(p.statements[:-1] + (st.replace(rhs),), p.dims, dim_names=p.dim_names)
    return np.asarray(evaluate(q, {n: inputs[n] for n in q.inputs}, dim_sizes=sizes)[st.name])


def random_inputs(p: Program, seed: int = 0) -> tuple[dict, dict]:
    rng = np.random.default_rng(seed)
    sizes = {d: 2 + k for k, d in enumerate(all_dims(p))}
    inputs = {n: rng.uniform(0.5, 1.5, [sizes[d] for d in p.dims[n]]) for n in p.inputs}
    return inputs, sizes


# ---------------------------------------------------------------- examples


@pytest.mark.parametrize("rule", RULES, ids=lambda r: r.name)
def test_every_rule_has_an_example(rule):
    assert rule.examples and all(ex.count(" -> ") == 1 for ex in rule.examples), rule.name


@pytest.mark.parametrize(("rule", "example"), EXAMPLES, ids=[f"{r.name}:{ex}" for r, ex in EXAMPLES])
def test_rule_example(rule, example):
    before, after = example.split(" -> ")
    p = program_of(before)
    st = p.statements[-1]
    fired: list[str] = []
    out = simplify(st.rhs, trace=lambda r, a, b: fired.append(r.name))
    assert rule.name in fired, f"the example of {rule.name} does not fire it: {fired}"
    assert statement_text(st.replace(out), reorder=True).split(" = ", 1)[1] == after
    inputs, sizes = random_inputs(p)
    np.testing.assert_allclose(values(p, out, inputs, sizes), values(p, st.rhs, inputs, sizes),
                               rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda en: f"{en.name}:{en.pattern}")
def test_each_alternative_fires_on_its_example(entry):
    """The example of a table entry is rewritten by that entry (not only by its rule)."""
    alt = Alternative.of(entry)
    st = program_of(entry.example.split(" -> ")[0]).statements[-1]
    events: list = []
    simplify(st.rhs, trace=lambda r, a, b: events.append((r.name, a, b)))
    assert any(name == entry.name and alt.rewrite(a) == b for name, a, b in events)


# ---------------------------------------------------------------- patterns are identities

#: the constants a constant variable is tried with
CONSTANTS = [Fraction(v) for v in ("-3", "-2", "-3/2", "-1", "-1/2", "0", "1/2", "1", "3/2", "2", "3")]


def instances(entry: PatternRule, exprs: dict[str, Expr]):
    """Bindings of the entry's variables (expression variables from ``exprs``, constant
    variables from CONSTANTS) that meet its condition."""
    alt = Alternative.of(entry)
    names = sorted(alt.pattern.vars)
    consts = [n for n in names if n.startswith("c")]
    for combo in itertools.product(CONSTANTS, repeat=len(consts)):
        b = {n: exprs[n] for n in names if n not in consts} | {n: Const(c) for n, c in zip(consts, combo)}
        if alt.when(b):
            yield alt, b


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda en: f"{en.name}:{en.pattern}")
def test_pattern_equals_its_replacement(entry):
    p = ricci.parse("y[i] = u[i] + v[i] + w[i]")
    rng = np.random.default_rng(7)
    inputs = {n: rng.uniform(-2.0, 2.0, 40) for n in "uvw"}
    sizes = dict.fromkeys(all_dims(p), 40)
    tensors = {n: p.statements[-1].rhs.terms[k] for k, n in enumerate("uvw")}
    checked = 0
    for alt, b in instances(entry, tensors):
        lhs, rhs = substitute_vars(alt.pattern, b), build(alt.replacement, b)
        with np.errstate(invalid="ignore", divide="ignore"):
            want, got = values(p, lhs, inputs, sizes), values(p, rhs, inputs, sizes)
        real = np.isfinite(want)  # a rule holds where its pattern is real (sqrt(u): u >= 0)
        assert real.sum() >= 10, f"{entry.pattern} with {b}: too few points in its domain"
        np.testing.assert_allclose(got[real], want[real], rtol=1e-12, atol=1e-12,
                                   err_msg=f"{entry.pattern} with {b}")
        checked += 1
    assert checked


# ---------------------------------------------------------------- termination


def measure(e: Expr) -> tuple[Fraction, int, int]:
    """(``exp`` nodes, each weighted by the absolute constant exponents of the powers
    above it, a ``sqrt`` counting as the power 1/2; sigmoids of an argument with a negative coefficient; nodes)."""
    weight = Fraction(0)
    stack: list[tuple[Expr, Fraction]] = [(e, Fraction(1))]
    while stack:
        n, w = stack.pop()
        if isinstance(n, Call) and n.fn == "exp":
            weight += w
        if isinstance(n, Pow):
            x = abs(n.exp.value) if isinstance(n.exp, Const) else 1
            stack += [(n.base, w * x), (n.exp, w)]
        elif isinstance(n, Call) and n.fn == "sqrt":
            stack += [(k, w / 2) for k in n.children]
        else:
            stack += [(k, w) for k in n.children]
    negative = sum(1 for n in walk(e) if isinstance(n, Call) and n.fn == "sigmoid"
                   and split_coef(n.args[0])[0] < 0)
    return weight, negative, e.nodes


@pytest.mark.parametrize("entry", ENTRIES, ids=lambda en: f"{en.name}:{en.pattern}")
def test_each_pattern_rule_lowers_the_measure(entry):
    """Also where the variables hold exponentials or sigmoids of negative arguments,
    which a replacement may copy."""
    x = ricci.parse("y[i] = x[i]").statements[0].rhs
    for u in (x, Call("exp", (x,)), Call("sigmoid", (_neg(x),))):
        for alt, b in instances(entry, {"u": u, "v": u, "w": u}):
            before, after = substitute_vars(alt.pattern, b), build(alt.replacement, b)
            assert measure(after) < measure(before), (entry.pattern, b)


def _neg(e: Expr) -> Expr:
    return Mul((Const(-1), e))


# ---------------------------------------------------------------- the pattern language


def test_patterns_are_read_in_ricci_notation():
    assert isinstance(compile_pattern("log(1 + exp(?u))"), Node)
    with pytest.raises(RicciError, match="not x"):
        compile_pattern("log(1 + exp(x))")
    with pytest.raises(RicciError, match="pattern"):
        compile_pattern("log(1 + ")
    with pytest.raises(RicciError, match="does not bind"):
        compile_rule([PatternRule("r", "exp(?u)", "?v", "exp(x) -> x")])
    with pytest.raises(RicciError, match="condition"):
        compile_rule([PatternRule("r", "exp(?u)^?c", "?u", "exp(x) -> x", when="?c is big")])


def test_a_variable_met_twice_matches_equal_subexpressions():
    _, fn = compile_rule([PatternRule("r", "?u * ?u", "?u^2", "")])
    p = ricci.parse("y[i] = a[i] * b[i] * a[i]")
    e = p.statements[0].rhs
    a = e.factors[0]
    assert fn(e) == e.rebuild([e.factors[1], Pow(a, Const(2))])
    assert fn(ricci.parse("y[i] = a[i] * b[i]").statements[0].rhs) is None


def test_a_scaled_variable_solves_for_it():
    _, fn = compile_rule([PatternRule("r", "exp(-?u)", "?u", "")])
    x = ricci.parse("y[i] = x[i]").statements[0].rhs
    assert fn(Call("exp", (x,))) == _neg(x)
    assert fn(Call("exp", (_neg(x),))) == x


def test_a_power_pattern_matches_a_bare_base():
    _, fn = compile_rule([PatternRule("r", "exp(?u)^?c", "?c", "")])
    x = ricci.parse("y[i] = x[i]").statements[0].rhs
    assert fn(Call("exp", (x,))) == Const(1)
    assert fn(Pow(Call("exp", (x,)), Const(3))) == Const(3)
    assert fn(Pow(Call("exp", (x,)), x)) is None
    assert isinstance(x, Tensor)
