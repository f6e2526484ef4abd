"""Inputs at scale: deep, long and wide programs derive correctly and within the limits.

No wall-clock assertion here: ``benchmarks/derive.py`` times the scale cases (nested exp,
power tower, products of 10,000 factors, Hessian of a 200-statement chain, gradient of a
2,000-statement chain). These tests pin what the speed-ups rely on (the IR's cached
hashes, node counts, order and tensor references; bounded constant folding; one term per
repeated factor) and the behaviour at the limits (a RicciError naming the limit, never a
RecursionError or minutes of silence).
"""

from __future__ import annotations

import gc
import warnings
from fractions import Fraction

import pytest

import ricci
from ricci import limits
from ricci.ir.expr import Add, Call, Const, Expr, Index, Mul, Pow, Sum, Tensor
from ricci.ir.indices import substitute
from ricci.ir.traversal import contains, tensor_refs, walk
from ricci.simplify.arithmetic import PRODUCT_BITS
from ricci.simplify.coefficients import FOLD_LIMIT, small
from ricci.simplify.rewrite import simplify

pytest.importorskip("torch")


def chain(n: int) -> str:
    lines = ["z0[i] = tanh(x[i])"] + [f"z{k}[i] = tanh(z{k - 1}[i])" for k in range(1, n)]
    return "\n".join(lines + [f"L = sum[i](z{n - 1}[i])"])


def check(program: str, wrt: str, derivation=None) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ricci.check(program, wrt, derivation=derivation)


# ---------------------------------------------------------------- the IR's cached facts


def _nested_key(e: Expr) -> tuple:
    """The key as nested tuples of primitives (what the order was defined on before
    nodes held their children in their keys)."""
    k = e._key
    return tuple(_nested_key(x) if isinstance(x, Expr) else
                 tuple(_nested_key(y) for y in x) if isinstance(x, tuple) and x and isinstance(x[0], Expr)
                 else x for x in k)


def _exprs() -> list[Expr]:
    i, j = Index("i", "I"), Index("j", "I")
    x, y = Tensor("x", (i,)), Tensor("y", (j,))
    deep: Expr = x
    for k in range(30):
        deep = Call("exp", (deep,)) if k % 2 else Pow(deep, Const(2))
    return [Const(2), Const(Fraction(1, 3)), x, y, Mul((x, y)), Mul((y, x)), Add((x, Const(1))),
            Pow(x, y), Pow(y, x), Call("exp", (x,)), Call("tanh", (x,)), Sum((i,), x),
            Sum((j,), Mul((x, y))), deep, Call("exp", (deep,)), Mul((deep, x)), Mul((x, deep))]


def test_order_and_equality_are_those_of_the_nested_keys():
    es = _exprs()
    assert sorted(es) == sorted(es, key=_nested_key)
    for a in es:
        for b in es:
            assert (a == b) == (_nested_key(a) == _nested_key(b))
            assert (a < b) == (_nested_key(a) < _nested_key(b))
            if a == b:
                assert hash(a) == hash(b)


def test_node_count_and_kinds_are_cached():
    i = Index("i", "I")
    x = Tensor("x", (i,))
    shared = Mul((x, x))
    e = Add((shared, shared, Sum((i,), x)))
    assert e.nodes == sum(1 for _ in walk(e)) == 9
    assert contains(e, Sum) and contains(e, Tensor) and not contains(e, Pow)
    # a chain of n shared squares: 2^n leaves as a tree, n nodes as a DAG
    deep: Expr = x
    for _ in range(200):
        deep = Mul((deep, deep))
    assert deep.nodes == 2 ** 201 - 1
    assert tensor_refs(deep) == [x]


def test_tensor_refs_are_distinct_in_order_of_first_use():
    p = ricci.parse("L = sum[i](x[i] * exp(y[i] + x[i]) * inv(A)[i,j] * z[j] + y[i])")
    names = [(r.name, [k.name for k in r.indices]) for r in tensor_refs(p.statements[0].rhs)]
    assert names == [("x", ["i"]), ("y", ["i"]), ("A", ["#r", "#c"]), ("z", ["j"])]


def test_small_constants_are_one_node_each():
    assert Const(2) is Const("2") is Const(Fraction(4, 2))
    assert Const(10 ** 30) == Const(10 ** 30)


def test_simplify_leaves_no_reference_cycles():
    """The simplifier's walkers are objects, not recursive closures: its memo is freed when
    it returns, not by the cyclic collector (which reverse mode pauses)."""
    st = ricci.parse("y[i] = " + "tanh(" * 40 + "x[i] * x[i]" + ")" * 40).statements[0]
    i = st.indices[0]
    gc.collect()
    gc.disable()
    try:
        simplify(st.rhs)
        substitute(st.rhs, {i: Index("q", i.dim)})
        assert gc.collect() == 0
    finally:
        gc.enable()


# ---------------------------------------------------------------- bounded constant folding


@pytest.mark.parametrize("text", ["L = 2^10^10 * x", "L = 10^400 * 10^400 * x",
                                  "L = x^(3^100000)", "L = x * ((3^64)^64)^64",
                                  "L = x * (((3^64)^64)^64)^64", "L = x * (10^-64)^64 + x",
                                  "L = x^(9^9^9)", "L = (x^(10^300))^(10^300)"])
def test_constant_folding_is_bounded(text):
    d = ricci.grad(text, wrt="x")
    for st in d.program.statements:
        for n in walk(st.rhs):
            if isinstance(n, Const):
                assert small(n.value)
    assert str(d)


def test_folds_below_the_bound_stay_exact():
    x = Tensor("x")
    assert simplify(Pow(Const(2), Const(64))) == Const(2 ** 64)
    assert simplify(Pow(Const(Fraction(9, 4)), Const(Fraction(1, 2)))) == Const(Fraction(3, 2))
    assert isinstance(simplify(Pow(Const(2), Const(10 ** 10))), Pow)
    assert simplify(Add((Const(10 ** 399), Const(10 ** 399)))) == Const(2 * 10 ** 399)
    assert simplify(Add((Const(5 * 10 ** 399), Const(5 * 10 ** 399), x))) == \
        Add((Const(5 * 10 ** 399), Const(5 * 10 ** 399), x))
    # a product of constants is no bigger than its constants: it folds past FOLD_LIMIT,
    # up to PRODUCT_BITS, then greedily (a few constants, never one per factor)
    assert simplify(Mul((Const(10 ** 399), x, Const(10 ** 399)))) == Mul((Const(10 ** 798), x))
    assert 10 ** 798 >= FOLD_LIMIT
    big = 2 ** (PRODUCT_BITS // 2 - 10)
    product = simplify(Mul((Const(big), x, Const(big), Const(big), Const(3))))
    assert sorted(f.value for f in product.factors if isinstance(f, Const)) == [3 * big, big * big]


# ---------------------------------------------------------------- long and deep programs


def test_repeated_factors_give_one_term():
    assert str(ricci.grad("L = " + "*".join(["x"] * 2000), wrt="x")) == "dx = 2000 * x^1999"
    assert str(ricci.grad("L = sum[i](" + "*".join(["x[i]"] * 500) + ")", wrt="x")) == \
        "dx[i] = 500 * x[i]^499"
    check("L = sum[i](x[i] * y[i] * x[i] * x[i] * y[i])", "x")
    check("L = sum[i](x[i] * exp(x[i]) * x[i] * exp(x[i]))", "x")


def test_nested_chains_check():
    check("L = " + "exp(" * 4 + "0.1 * x" + ")" * 4, "x")
    check("L = sum[i](" + "tanh(" * 12 + "x[i]" + ")" * 12 + ")", "x")
    check("L = sum[i](" + "^".join(["(1 + x[i]^2)"] * 4) + ")", "x")


def _deep(depth: int) -> str:
    e = "x[i]"
    for k in range(depth):
        e = (f"tanh({e})", f"({e})^2", f"sin({e} * x[i])", f"sigmoid({e})")[k % 4]
    return f"L = sum[i]({e})"


def test_deep_expressions_differentiate_without_recursion_errors():
    """120 levels of functions, powers and products (near the parser's nesting limit),
    with Python's default recursion limit: the entry points raise it while they run."""
    assert str(ricci.grad(_deep(120), wrt="x"))
    check(_deep(24), "x")


def test_deep_expressions_second_order():
    assert str(ricci.hvp(_deep(120), wrt="x"))
    check(_deep(12), "x", derivation=ricci.hessian(_deep(12), wrt="x"))


def test_long_chains_check():
    text = chain(150)
    check(text, "x", derivation=ricci.grad(text, wrt="x"))
    check(chain(40), "x", derivation=ricci.hessian(chain(40), wrt="x"))


# ---------------------------------------------------------------- the limits


@pytest.mark.parametrize("derive", [ricci.grad, ricci.jacobian, ricci.hessian, ricci.hvp])
def test_time_limit_stops_a_derivation(derive):
    prog = ricci.parse(chain(400))
    with limits(seconds=0.01), pytest.raises(ricci.RicciError, match="time limit of 0.01 s"):
        derive(prog, wrt="x")


@pytest.mark.parametrize("derive", [ricci.grad, ricci.jacobian, ricci.hessian, ricci.hvp])
def test_expression_size_limit(derive):
    text = "L = " + "exp(" * 30 + "x" + ")" * 30
    with limits(expression_nodes=50), pytest.raises(ricci.RicciError, match="the limit of 50"):
        derive(text, wrt="x")
    assert derive(text, wrt="x")  # the default limit is far above


def test_wrt_accepts_every_identifier():
    text = "L = sum[i](α[i] * σ2[i] * α[i])"
    d = ricci.grad(text, wrt=["α", "σ2[κ]"])
    assert d.program.defined[d.outputs["σ2"]].indices[0].name == "κ"
    assert ricci.grad(text, wrt=" α [ k ] ")
    for bad in ["1x", "α[]", "α[i,]", "α[1]", "α[[i]]", "α i", "α[i", "[i]", ""]:
        with pytest.raises(ricci.RicciError, match="cannot read wrt="):
            ricci.grad(text, wrt=bad)
