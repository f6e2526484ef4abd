"""Step-by-step derivations: the articles' worked examples step for step, every step of
every example proved numerically (both sides of each equation, derivatives by torch
autograd), and random programs."""

import glob
import os

import pytest
from hypothesis import HealthCheck, given, settings

import ricci
from ricci.calculus import differentiate as D
from ricci.display import steps as S
from ricci.ir.expr import Const, Deriv, Index, Mul, Pow, Tensor

from support.steps_check import check_steps
from support.strategies import models

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLES = sorted(glob.glob(os.path.join(ROOT, "examples", "*.ricci")))
MATMUL = "y[i,j] = x[i,k] * a[k,j]"


def read(path):
    with open(path) as f:
        return f.read()


def wrt_of(path):
    return read(path).splitlines()[1].split(":", 1)[1].split()


def rules(steps):
    return [st.rule for st in steps]


# ---------------------------------------------------------------- the articles, step for step


def test_matmul_gradient_of_x_000():
    d = ricci.grad(MATMUL, ["x", "a"])
    steps = d.steps("x")
    assert str(steps) == """\
dl/dx:
  1. chain rule (through an intermediate tensor)
     dl/dx[p,q] = dl/dy[i,j] * dy[i,j]/dx[p,q]
  2. definition
     y[i,j] = x[i,k] * a[k,j]
  3. product rule (a[k,j] does not depend on x)
     dy[i,j]/dx[p,q] = a[k,j] * dx[i,k]/dx[p,q]
  4. derivative of a tensor by itself (dx[i,k]/dx[p,q] = delta[i,p] * delta[k,q])
     dy[i,j]/dx[p,q] = a[k,j] * delta[i,p] * delta[k,q]
  5. delta elimination (the delta eats k)
     dy[i,j]/dx[p,q] = a[q,j] * delta[i,p]
  6. substituting the derivative
     dl/dx[p,q] = a[q,j] * dl/dy[i,j] * delta[i,p]
  7. delta elimination (the delta eats i)
     dl/dx[p,q] = dl/dy[p,j] * a[q,j]
  8. renaming the free indices (p -> i, q -> k)
     dl/dx[i,k] = dl/dy[i,j] * a[k,j]
  9. transpose (to put the summed index inside)
     dl/dx[i,k] = dl/dy[i,j] * (a^T)[j,k]
 10. conversion to matrix form (dx holds dl/dx[i,k])
     dx = dy @ a.T"""
    # the last index form is the engine's own result, and the matrix form its matrix form
    assert str(d["x"]) == "dx[i,k] = dY[i,j] * a[k,j]".replace("dY", "dy")
    assert check_steps(d, steps) == 10


def test_matmul_gradient_of_a_000():
    d = ricci.grad(MATMUL, ["x", "a"])
    steps = d.steps("a")
    assert rules(steps) == [S.CHAIN_TENSOR, S.DEFINITION, S.PRODUCT_RULE, S.SELF, S.DELTA,
                            S.SUBSTITUTION, S.DELTA, S.RENAME_FREE, S.TRANSPOSE, S.MATRIX]
    eq = [steps.equation(st) for st in steps]
    assert eq[3] == ("dy[i,j]/da[p,q]", "x[i,k] * delta[k,p] * delta[j,q]")
    assert eq[4] == ("dy[i,j]/da[p,q]", "x[i,p] * delta[j,q]")
    assert eq[6] == ("dl/da[p,q]", "x[i,p] * dl/dy[i,q]")
    assert eq[8] == ("dl/da[k,j]", "(x^T)[k,i] * dl/dy[i,j]")
    assert eq[9] == ("da", "x.T @ dy")
    assert check_steps(d, steps) == 10


def test_neuron_layer_weight_gradient_001():
    d = ricci.grad(read(os.path.join(ROOT, "examples", "neuron.ricci")), ["W", "b"])
    steps = d.steps("W")
    assert [(st.section, st.rule) for st in steps][-10:] == [
        ("dL/dW", S.CHAIN_TENSOR), ("dL/dW", S.SUM_RULE),
        ("dL/dW", S.INDEPENDENT), ("dL/dW", S.PRODUCT_RULE), ("dL/dW", S.SELF), ("dL/dW", S.DELTA),
        ("dL/dW", S.SUBSTITUTION), ("dL/dW", S.DELTA), ("dL/dW", S.RENAME_FREE),
        ("dL/dW", S.MATRIX)]
    text = str(steps)
    assert "chain rule (elementwise function) (sigmoid'(u) = y[i] * (1 - y[i]))" in text
    assert "dy[i]/dz1[p] = y[i] * (1 - y[i]) * dz1[i]/dz1[p]" in text
    assert "z1[i] = W[i,j] * x[j] + b[i]" in text
    assert text.endswith(f"dL/dW[i,j] = dL/dz1[i] * x[j]\n {len(steps)}. conversion to matrix form "
                         "(dW holds dL/dW[i,j])\n     dW = outer(dz1, x)")
    assert check_steps(d, steps) == len(steps)


def test_bias_gradient_sums_over_the_batch_003():
    d = ricci.grad(read(os.path.join(ROOT, "examples", "affine_tanh_mse.ricci")), ["b"])
    steps = d.steps("b")
    tail = [steps.equation(st) for st in steps if st.section == "dL/db"]
    assert tail == [
        ("dL/db[p]", "dL/dZ[n,h] * dZ[n,h]/db[p]"),
        ("Z[n,h]", "X[n,d] * W[d,h] + b[h]"),
        ("dZ[n,h]/db[p]", "d(X[n,d] * W[d,h])/db[p] + db[h]/db[p]"),  # sum rule
        ("dZ[n,h]/db[p]", "db[h]/db[p]"),  # W and X do not depend on b
        ("dZ[n,h]/db[p]", "delta[h,p]"),
        ("dL/db[p]", "sum[n](dL/dZ[n,h] * delta[h,p])"),
        ("dL/db[p]", "sum[n](dL/dZ[n,p])"),
        ("dL/db[h]", "sum[n](dL/dZ[n,h])"),
        ("db", "sum(dZ, axis=0)"),
    ]
    assert check_steps(d, steps) == len(steps)


def test_batch_jacobian_003():
    d = ricci.jacobian("Y[i,j] = X[i,k] * W[k,j]", "W[k,l]")
    steps = d.steps()
    assert str(steps) == """\
dY[i,j]/dW[k,l]:
  1. definition
     Y[i,j] = X[i,k] * W[k,j]
  2. product rule (X[i,p] does not depend on W)
     dY[i,j]/dW[k,l] = X[i,p] * dW[p,j]/dW[k,l]
  3. derivative of a tensor by itself (dW[p,j]/dW[k,l] = delta[p,k] * delta[j,l])
     dY[i,j]/dW[k,l] = X[i,p] * delta[p,k] * delta[j,l]
  4. delta elimination (the delta eats p)
     dY[i,j]/dW[k,l] = X[i,k] * delta[j,l]
  5. conversion to matrix form (no matrix form: a 4-index tensor: an outer product into 4 axes; for each j, l the slice is a matrix)
     dY[:,j]/dW[:,l] = delta[j,l] * X
  6. conversion to matrix form (the einsum form: dY/dW holds (dY[i,j]/dW[k,l]))
     dY/dW = einsum('ik,jl->ijkl', X, eye(size(j)))"""
    assert check_steps(d, steps) == 4


# ---------------------------------------------------------------- the named rules


def test_each_named_rule_appears_and_checks():
    seen = set()
    for text, wrt in [
        ("y[i] = a[i] / b[i]", ["b"]),                              # quotient rule
        ("y[i] = x[i]^3", ["x"]),                                  # power rule
        ("t = sum[i](delta[i,i] * x[i])", ["x"]),                  # independent tensor
        ("L = sum[i](A[i,j] * x[j]) + sum[i](A[i,k] * x[k])", ["x"]),  # like terms, renaming
        ("L = sum[i,j](delta[i,j] * x[i] * x[j])", ["x"]),
    ]:
        d = ricci.grad(text, wrt)
        steps = d.steps()
        check_steps(d, steps)
        seen |= set(rules(steps))
    for path in EXAMPLES:
        d = ricci.grad(read(path), wrt_of(path))
        seen |= set(rules(d.steps()))
    for rule in (S.SUM_RULE, S.PRODUCT_RULE, S.QUOTIENT_RULE, S.POWER_RULE, S.CHAIN_FUNCTION,
                 S.CHAIN_TENSOR, S.SELF, S.INDEPENDENT, S.DELTA, S.LIKE_TERMS, S.TRANSPOSE,
                 S.MATRIX, S.RENAME_FREE, S.RENAME):
        assert rule in seen, rule


def test_delta_trace_step():
    d = ricci.jacobian("t = sum[i,j](delta[i,j] * delta[i,j]) * x", "x")
    steps = d.steps()
    check_steps(d, steps)
    assert S.DELTA_TRACE in rules(steps) or S.DELTA in rules(steps)


def test_steps_for_an_unknown_input():
    d = ricci.grad(MATMUL, ["x"])
    with pytest.raises(ricci.RicciError, match="no result for 'a'"):
        d.steps("a")


# ---------------------------------------------------------------- one set of rules: the engine's


def table_names():
    return {r.name for rules in D.RULES.values() for r in rules}


def test_the_steps_name_their_rules_from_the_engines_table():
    names = table_names()
    for name in (S.SUM_RULE, S.PRODUCT_RULE, S.QUOTIENT_RULE, S.POWER_RULE, S.CHAIN_FUNCTION,
                 S.SELF, S.INDEPENDENT, S.MATRIX_RULE):
        assert name in names, name
    # every differentiation step of every statement of every example names a table rule
    seen = set()
    for path in EXAMPLES:
        d = ricci.grad(read(path), wrt_of(path))
        for st in d.forward.statements:
            for x in d.wrt:
                X = Tensor(x, tuple(Index(f"p{k}_", dm) for k, dm in enumerate(d.forward.dims[x])))
                steps, _ = S.expand_steps(Deriv(st.lhs, X), Deriv(st.rhs, X), {st.rhs: st.lhs})
                seen |= {step.rule for step in steps}
    assert seen <= names, seen - names
    assert {S.SUM_RULE, S.PRODUCT_RULE, S.QUOTIENT_RULE, S.POWER_RULE, S.CHAIN_FUNCTION,
            S.SELF, S.INDEPENDENT, S.MATRIX_RULE} <= seen
    # and the table is documented, rule by rule
    doc = read(os.path.join(ROOT, "docs", "steps.md"))
    assert [n for n in names if f"| {n} |" not in doc] == []


def test_a_mutated_rule_changes_the_engine_and_the_steps_alike(monkeypatch):
    text = "y[i] = x[i]^3"
    assert str(ricci.grad(text, ["x"])) == "dx[i] = 3 * dy[i] * x[i]^2"
    wrong = D.Rule("mutated power rule", "d f^c = 2 c f^(c-1) df",
                   lambda e, h: [Mul((Const(2), t)) for t in D.POWER.apply(e, h)],
                   D.POWER.when)
    monkeypatch.setitem(D.RULES, Pow, (wrong, D.GENERAL_POWER))
    d = ricci.grad(text, ["x"])
    assert str(d) == "dx[i] = 6 * dy[i] * x[i]^2"  # the engine
    steps = d.steps()
    assert steps[2].rule == "mutated power rule"  # the steps
    assert steps.equation(steps[2]) == ("dy[i]/dx[p]", "6 * x[i]^2 * dx[i]/dx[p]")
    with pytest.raises(AssertionError, match=r"step 1 \(mutated power rule\)"):
        check_steps(d, [steps[2]])  # ... and autograd disagrees with both


def test_the_quotient_rule_is_the_product_rule_for_the_engine(monkeypatch):
    # d (f / g) = df / g + f d(g^-1), d(g^-1) by the power rule: the engine's terms are the
    # same with the quotient rule deleted; the steps then show the product and power rules
    progs = [("y[i] = x[i] / (1 + x[i]^2)", ["x"]), ("y[i] = a[i] / b[i]", ["a", "b"]),
             ("y[i] = x[i]*a[i] / (x[i]*b[i] + 1)", ["x", "b"]), ("y[i] = 3 / x[i]", ["x"]),
             ("p[k] = exp(z[k]) / sum[j](exp(z[j]))", ["z"])]
    derived = [(ricci.grad(t, w), t, w) for t, w in progs]
    assert all(S.QUOTIENT_RULE in rules(d.steps()) for d, _, _ in derived)
    monkeypatch.setitem(D.RULES, Mul, (D.PRODUCT,))
    for before, t, w in derived:
        d = ricci.grad(t, w)
        assert str(d) == str(before)
        steps = d.steps()
        assert S.QUOTIENT_RULE not in rules(steps) and S.POWER_RULE in rules(steps)
        assert check_steps(d, steps) == len(steps)


def test_quotient_rule_step():
    d = ricci.grad("y[i] = x[i] / (1 + x[i]^2)", ["x"])
    steps = d.steps()
    assert rules(steps)[:6] == [S.CHAIN_TENSOR, S.DEFINITION, S.QUOTIENT_RULE, S.SELF, S.SUM_RULE,
                                S.INDEPENDENT]
    assert steps.equation(steps[2]) == (
        "dy[i]/dx[p]", "dx[i]/dx[p] / (1 + x[i]^2) - x[i] * d(1 + x[i]^2)/dx[p] / (1 + x[i]^2)^2")
    assert str(d) == "dx[i] = dy[i] / (1 + x[i]^2) - 2 * dy[i] * y[i]^2"
    assert check_steps(d, steps) == len(steps)
    j = ricci.jacobian("y[i] = x[i] / (1 + x[i]^2)", "x")
    assert S.QUOTIENT_RULE in rules(j.steps())
    assert check_steps(j) == len(j.steps())


# ---------------------------------------------------------------- notations


def test_unicode_and_latex_steps(katex):
    d = ricci.grad(MATMUL, ["x", "a"])
    steps = d.steps("x")
    u = steps.text("unicode")
    assert "∂l/∂x_pq = ∂l/∂y_ij ∂y_ij/∂x_pq" in u and "δ_ip" in u and "(aᵀ)_jk" in u
    tex = steps.latex()
    assert tex.startswith("\\begin{aligned}") and tex.endswith("\\end{aligned}")
    assert r"\frac{\partial l}{\partial x_{pq}} &= \frac{\partial l}{\partial y_{pj}} a_{qj}" in tex
    md = steps.markdown()
    assert md.startswith("#### dl/dx") and "$$" in md
    texs = [tex]
    for path in EXAMPLES:
        for d in (ricci.grad(read(path), wrt_of(path)), ricci.jacobian(read(path), wrt_of(path)[0])):
            texs.append(d.steps().latex())
    errors = katex(texs)
    assert errors == [None] * len(texs), [e for e in errors if e]


# ---------------------------------------------------------------- proof: every example, random programs


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: os.path.basename(p))
def test_every_step_of_every_example_holds(path):
    text = read(path)
    wrt = wrt_of(path)
    d = ricci.grad(text, wrt)
    assert check_steps(d) == len(d.steps()) or all(st.matrix is not None for st in d.steps()
                                                   if st.rhs is None)
    for w in wrt[:2]:
        check_steps(ricci.jacobian(text, w))


@settings(max_examples=40, deadline=None, derandomize=True, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.filter_too_much])
@given(models(max_statements=3))
def test_steps_of_random_programs_hold(m):
    if not m.inputs:
        return
    check_steps(ricci.grad(m.text, m.inputs[:2]))
    check_steps(ricci.jacobian(m.text, m.inputs[0]))
