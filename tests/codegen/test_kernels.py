"""Loop kernels (codegen/kernels.py), the numba backend's fused loops.

* the plan: which statements a kernel takes (elementwise work and reductions that iterate
  over one operand's elements; never a contraction or a function numba calls libm for),
  which ones share a row loop (reads at the row only, nothing a kernel adds into, nothing
  defined since the kernel's start), which names live one row at a time;
* the code: NumPy's semantics where a loop could differ (NaN through a max and a relu,
  ``1 / 0`` is ``inf``, float32 stays float32), inputs never written, a tensor named ``T``;
* the numbers: every gallery example equals the NumPy code, and random row-structured
  programs (row reductions, column sums, broadcasts, other rows read) agree with torch
  autograd through ``ricci.check`` (slow tier: numba compiles each kernel).
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest

import ricci
from ricci.codegen.kernels import lift_calls, plan_kernels
from ricci.codegen.stable import stabilize
from ricci.ir.traversal import tensor_refs

numba = pytest.importorskip("numba")

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = sorted((ROOT / "examples").glob("*.ricci"))


def _example(name: str) -> ricci.Derivation:
    text = (ROOT / "examples" / f"{name}.ricci").read_text()
    return ricci.grad(text, wrt=text.splitlines()[1].split(":", 1)[1].split())


def plan(d: ricci.Derivation):
    """The kernels of ``d``'s numba code, planned as the code generator plans them."""
    outs = set(d.outputs.values())
    prog = stabilize(d.code_program, outs)
    prog = lift_calls(prog, _needed(prog, outs))
    return plan_kernels(prog, [st for st in prog.statements if st.name in _needed(prog, outs)], outs)


def _needed(prog, outs) -> set[str]:
    need = set(outs)
    for st in reversed(prog.statements):
        if st.name in need:
            need.update(t.name for t in tensor_refs(st.rhs))
    return need


def kernel_names(d: ricci.Derivation) -> list[list[str]]:
    return [k.names for k in plan(d)]


# ---------------------------------------------------------------- the plan


def test_layer_norm_is_one_kernel_with_its_row_values_kept_one_row_at_a_time():
    (k,) = plan(_example("layernorm"))
    assert k.names == ["mu", "xc", "var", "dxc", "dmu", "dx", "dg", "db"]
    assert k.local == {"mu", "xc", "var", "dxc", "dmu"}
    assert k.results == ["dx", "dg", "db"] and k.zeroed == {"dg", "db"}


def test_an_exp_is_numpy_s_and_the_rest_of_the_softmax_backward_one_kernel():
    # exp(z - z_max) is summed in m and read again in dz: one NumPy statement (computed in
    # place, NumPy's vectorised exp), then m and dz in one loop over the rows
    d = _example("softmax_cross_entropy")
    src = d.source("numba")
    assert "exp_m = z - z_max[:, None]\n    np.exp(exp_m, out=exp_m)" in src
    assert src.count("np.exp(") == 1 and src.count("@numba.njit") == 1
    assert kernel_names(d) == [["m", "dz"]]
    # a call whose argument holds a sum (the MLP's tanh of a matrix product) stays as it was
    mlp = _example("mlp3").source("numba")
    assert "h1 = np.tanh(z1, out=z1)" in mlp


def test_a_contraction_and_a_libm_function_stay_numpy():
    d = ricci.grad("H[n,j] = tanh(X[n,i] * W[i,j])\nL = sum[n,j](H[n,j] * H[n,j] * c[n,j])", wrt=["W"])
    src = d.source("numba")
    assert "np.tanh(" in src.split("def grad_L")[1]  # the forward tanh: NumPy's SIMD ufunc
    assert "X.T @" in src  # the contraction: a matrix product (BLAS)
    (names,) = kernel_names(d)  # the elementwise backward: one kernel
    assert "H" not in names and all("W" not in n for n in names)


def test_a_sum_s_invariant_factors_are_taken_out_of_its_loop():
    p = ricci.parse("y[n,d] = sum[p](x[n,p] * g[p] * x[n,d]) + 1")
    (k,) = plan_kernels(p, list(p.statements), {"y"})
    src, dims, reads = k.source("_k", {}, p)
    lines = src.splitlines()
    loops = [n for n, ln in enumerate(lines) if ln.strip().startswith("for ")]
    (acc,) = [n for n, ln in enumerate(lines) if "+=" in ln]
    # three loops (rows, p, d): sum[p](x[n,p] * g[p]) once per row, then times x[n,d]
    assert len(loops) == 3 and loops[1] < acc < loops[2]
    assert lines[acc].count("x[") == 1 and "g[" in lines[acc]
    assert reads == ["x", "g"] and len(dims) == 2


@pytest.mark.parametrize("program, apart", [
    # y reads a at another row (a transposed read): a new kernel
    ("a[n,m] = x[n,m] * x[n,m] + 1\ny[n,m] = a[m,n] * x[n,m] + 2 * a[n,m]\nL = sum[n,m](y[n,m])", ("a", "y")),
    # c is added into over the rows: complete only after the loop
    ("c[d] = sum[n](x[n,d] * x[n,d] + 1)\ny[n,d] = x[n,d] * c[d] + 2 * x[n,d]\nL = sum[n,d](y[n,d] * w[n,d])",
     ("c", "y")),
    # ... even where it reads c at its row (n and d have one size)
    ("c[d] = sum[n](x[n,d] * x[n,d] + 1)\ny[n,d] = x[n,d] * c[n] + 2 * x[n,d]\nL = sum[n,d](y[n,d] * w[n,d])",
     ("c", "y")),
])
def test_a_statement_reading_another_row_or_a_sum_over_rows_starts_a_new_kernel(program, apart):
    p = ricci.parse(program)
    ks = plan_kernels(p, list(p.statements), {"L"})
    where = {n: i for i, k in enumerate(ks) for n in k.names}
    assert apart[0] in where and apart[1] in where and where[apart[0]] != where[apart[1]]


def test_a_statement_joins_an_earlier_kernel_only_if_nothing_since_defines_what_it_reads():
    d = _example("mlp3")
    ks = plan(d)
    where = {n: i for i, k in enumerate(ks) for n in k.names}
    # db3 sums dz3 over the rows in dz3's kernel (not after dh2's matrix product) ...
    assert where["db3"] == where["dz3"] and where["db2"] == where["dz2"]
    # ... but dz2 reads dh2, a matrix product computed after dz3's kernel: its own kernel
    assert where["dz2"] != where["dz3"]


# ---------------------------------------------------------------- NumPy's semantics


def test_nan_goes_through_a_max_and_a_relu_and_a_division_by_zero_is_inf():
    d = ricci.grad("p[n,k] = exp(z[n,k]) / sum[q](exp(z[n,q]))\n"
                   "L = sum[n,k](p[n,k] * w[n,k]) + sum[n,k](relu(z[n,k]) / a[n,k])", wrt=["z"])
    z = np.array([[0.5, np.nan, 1.0], [0.1, 0.2, 0.3]])
    w = np.ones((2, 3))
    a = np.array([[1.0, 2.0, 0.0], [1.0, 2.0, 4.0]])
    with np.errstate(all="ignore"):
        want = d.compile("numpy")(z=z, w=w, a=a)["z"]
        got = d.compile("numba")(z=z, w=w, a=a)["z"]
    assert np.array_equal(np.isnan(got), np.isnan(want)) and np.isnan(got[0]).all()
    assert np.isinf(got[0, 2]) == np.isinf(want[0, 2])
    np.testing.assert_allclose(got[1], want[1], rtol=1e-12)


def test_float32_stays_float32_and_every_constant_is_of_the_array_dtype():
    d = _example("layernorm")
    src = d.source("numba")
    kernel = src.split("def grad_y")[0]
    import re
    assert "T(" in kernel and not re.findall(r"(?<!T\()\b\d+\.\d+", kernel)
    rng = np.random.default_rng(0)
    args = {"x": rng.standard_normal((5, 7)), "eps": 1e-5, "g": rng.standard_normal(7),
            "b": rng.standard_normal(7), "dy": rng.standard_normal((5, 7))}
    want = d.compile("numpy")(**args)
    a32 = {k: np.float32(v) if np.isscalar(v) else v.astype(np.float32) for k, v in args.items()}
    got = d.compile("numba")(**a32)
    for k in want:
        assert got[k].dtype == np.float32 and got[k].shape == want[k].shape
        np.testing.assert_allclose(got[k], want[k], rtol=2e-4, atol=2e-5)


def test_a_tensor_named_T_and_inputs_that_are_views_are_left_alone():
    d = ricci.grad("u[n,d] = T[n,d] * T[n,d] + s[n]\nL = sum[n,d](sqrt(u[n,d]) * w[n,d])", wrt=["T", "s"])
    src = d.source("numba")
    assert "def grad_L(T_, s, w)" in src
    rng = np.random.default_rng(1)
    base = rng.uniform(0.5, 1.5, (4, 6))
    args = {"T": base[:, ::2], "s": rng.uniform(0.5, 1.5, 4), "w": rng.standard_normal((4, 3))}
    before = {k: v.copy() for k, v in args.items()}
    want = d.compile("numpy")(**args)
    got = d.compile("numba")(**args)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-12)
    for k, v in args.items():
        assert np.array_equal(v, before[k])


def test_the_source_is_standalone():
    d = _example("softplus_logistic")
    src = d.source("numba")
    ns: dict = {}
    exec(compile(src, "<numba source>", "exec"), ns)
    from test_backends import make_inputs  # the gallery's inputs
    args = make_inputs(d, d.inputs)
    want = d.compile("numpy")(**args)
    got = ns["grad_L"](**args)
    for k in want:
        np.testing.assert_allclose(got[k], want[k], rtol=1e-12)


# ---------------------------------------------------------------- the numbers


@pytest.mark.slow
@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_equals_the_numpy_code(path):
    from test_backends import example, make_inputs
    text, wrt = example(path)
    d = ricci.grad(text, wrt)
    args = make_inputs(d, d.inputs)
    want = d.compile("numpy")(**args)
    got = d.compile("numba")(**args)
    for w in wrt:
        assert got[w].shape == want[w].shape and got[w].dtype == want[w].dtype
        np.testing.assert_allclose(got[w], want[w], rtol=1e-10, atol=1e-12 * max(1.0, np.abs(want[w]).max()))


def row_program(r: random.Random) -> tuple[str, list[str], bool]:
    """A random program of the shapes kernels fuse: elementwise statements over [n,d],
    row reductions [n], column sums [d], reads at another row (a transposed square, a
    column sum read at the row), copies and matrix products between them; and whether n
    and d must have one size."""
    lines: list[str] = []
    square = False
    full = ["x", "y"]  # [n,d]
    rows = ["r"]  # [n]
    cols = ["g"]  # [d]

    def atom(kind: str) -> str:
        if kind == "full":
            return f"{r.choice(full)}[n,d]"
        if kind == "row":
            return f"{r.choice(rows)}[n]"
        return f"{r.choice(cols)}[d]"

    def elementwise() -> str:
        a, b = atom("full"), atom(r.choice(["full", "row", "col"]))
        form = r.choice(["{a} * {b}", "{a} - {b}", "relu({a}) + {b}", "abs({a}) * {b}", "sqrt({a}^2 + 1) * {b}",
                         "{a} / (1 + {b}^2)", "step({a}) * {a} + {b}", "({a} - {b})^2", "{a}^3 * 0.25",
                         "exp({a} - {b}) * {b}", "tanh({a}) * {a} + {b}"])
        return form.format(a=a, b=b)

    for k in range(r.randint(3, 7)):
        kind = r.choice(["full", "full", "row", "col", "transposed", "col-at-row", "copy", "product"])
        name = f"t{k}"
        if kind == "full":
            lines.append(f"{name}[n,d] = {elementwise()}")
            full.append(name)
        elif kind == "row":
            op = r.choice(["sum[d]({e})", "sum[d]({e}) / size(d)", "sum[d]({e} * {f})"])
            lines.append(f"{name}[n] = " + op.format(e=elementwise(), f=atom("full")))
            rows.append(name)
        elif kind == "col":
            lines.append(f"{name}[d] = sum[n]({elementwise()})")
            cols.append(name)
        elif kind == "copy":  # no operation: a kernel of it alone does not pay
            lines.append(f"{name}[n,d] = {r.choice(full)}[n,d]")
            full.append(name)
        elif kind == "product":  # a matrix product: NumPy code between kernels
            lines.append(f"{name}[n,d] = {r.choice(full)}[n,e] * M[e,d]")
            full.append(name)
        elif kind == "col-at-row":  # a column sum read at the row: n and d then have one size
            square = True
            lines.append(f"{name}[n,d] = {atom('full')} * {r.choice(cols)}[n] + {atom('full')}")
            full.append(name)
        else:  # n and d then have one size
            square = True
            lines.append(f"{name}[n,d] = {r.choice(full)}[n,d] + 0.5 * {r.choice(full)}[d,n] * {atom('row')}")
            full.append(name)
    last = [f"sum[n,d]({n}[n,d] * w[n,d])" for n in full[2:]] + [f"sum[n]({n}[n])" for n in rows[1:]] + \
        [f"sum[d]({n}[d])" for n in cols[1:]]
    lines.append("L = " + " + ".join(last or ["sum[n,d](x[n,d] * w[n,d])"]))
    return "\n".join(lines), ["x", "y", "r", "g", "M"], square


def test_the_random_row_programs_make_kernels():
    with_kernels = 0
    for seed in range(20):
        text, wrt, _ = row_program(random.Random(f"kernels:{seed}"))
        prog = ricci.parse(text)
        d = ricci.grad(prog, [w for w in wrt if w in prog.inputs])
        with_kernels += "@numba.njit" in d.source("numba") and "@numba.njit" in prog.source("numba")
    assert with_kernels >= 17  # (a linear program's gradient has no elementwise work)


@pytest.mark.slow
@pytest.mark.parametrize("seed", range(20))
def test_random_row_programs_agree_with_torch(seed):
    r = random.Random(f"kernels:{seed}")
    text, wrt, square = row_program(r)
    prog = ricci.parse(text)
    wrt = [w for w in wrt if w in prog.inputs]
    sizes = {"n": 4, "d": 4} if square else {"n": 5, "d": 3}
    d = ricci.grad(prog, wrt)
    rep = ricci.check(prog, wrt, sizes=sizes, backend="numba", derivation=d, atol=1e-10)
    assert rep.ok, f"{text}\n{rep}"
    # the forward program's own code too (its statements are kernels as well)
    axes = {"x": "nd", "y": "nd", "w": "nd", "r": "n", "g": "d", "M": "dd"}
    rng = np.random.default_rng(seed)
    args = {k: rng.standard_normal(tuple(sizes[a] for a in axes[k])) for k in prog.inputs}
    np.testing.assert_allclose(prog.compile("numba")(**args)["L"], prog.compile("numpy")(**args)["L"], rtol=1e-12)


def test_a_column_sum_inside_a_loop_over_columns_stays_numpy():
    # db[h] = sum[n](dz5[n,h]) + ... + sum[n](dz1[n,h]): in a loop over h, each sum would
    # read a column (a stride per element) and keep every dz alive to the end; NumPy adds
    # each term as soon as its dz exists
    d = _example("rnn5")
    assert all("db" not in names for names in kernel_names(d))
    src = d.source("numba")
    assert "db += dz4.sum(axis=0)" in src and src.count("@numba.njit") == 5


def test_a_kernel_too_small_to_pay_is_planned_away_before_others_rely_on_it():
    # a and s (one operation between them) would be a kernel before h's matrix product;
    # c, reading s, would then join b's kernel after it. a and s stay NumPy code, at their
    # places, so c must not run in b's kernel (before s exists): planned again without them
    text = ("a[n,d] = x[n,d] + 1\nh[n,d] = a[n,k] * W[k,d]\nb[n,d] = h[n,d] * h[n,d] + 2\n"
            "s[n,d] = x[n,d]\nc[n,d] = b[n,d] * s[n,d] + 3\nL = sum[n,d](c[n,d] * w[n,d])")
    p = ricci.parse(text)
    assert [k.names for k in plan_kernels(p, list(p.statements), {"L"})] == [["b"], ["c"]]
    rng = np.random.default_rng(0)
    args = {"x": rng.standard_normal((3, 3)), "W": rng.standard_normal((3, 3)), "w": rng.standard_normal((3, 3))}
    np.testing.assert_allclose(p.compile("numba")(**args)["L"], p.compile("numpy")(**args)["L"], rtol=1e-12)


def test_a_long_program_compiles_bounded_kernels():
    # numba's compile time grows faster than a kernel's length (a chain of 200 statements
    # in one kernel took 228 s to compile): kernels are cut, and their total is bounded
    from ricci.codegen.kernels import MAX_KERNEL_STATEMENTS, MAX_STATEMENTS
    n = 200
    lines = ["y0[i,j] = x[i,j] * w[i,j]"] + [f"y{k}[i,j] = y{k - 1}[i,j] * y{k - 1}[i,j] * 0.5 + x[i,j]"
                                              for k in range(1, n)] + [f"L = sum[i,j](y{n - 1}[i,j])"]
    p = ricci.parse("\n".join(lines))
    ks = plan_kernels(p, list(p.statements), {"L"})
    assert ks and all(len(k.plans) <= MAX_STATEMENTS for k in ks)
    assert sum(len(k.plans) for k in ks) <= MAX_KERNEL_STATEMENTS
    assert sum(len(k.plans) for k in ks) >= MAX_KERNEL_STATEMENTS - MAX_STATEMENTS  # the budget is used


def test_a_lifted_call_with_an_index_only_in_a_delta_keeps_that_index():
    # exp(x[i] * delta[i,j]) depends on j through the delta alone: its statement has both
    p = ricci.parse("y[i,j] = exp(x[i] * delta[i,j]) * 2 + x[i]\nL = sum[i,j](y[i,j] * w[i,j])")
    assert "exp_y = x[:, None] * np.eye(x.shape[0], dtype=x.dtype)" in p.source("numba")
    rng = np.random.default_rng(0)
    args = {"x": rng.standard_normal(3), "w": rng.standard_normal((3, 3))}
    np.testing.assert_allclose(p.compile("numba")(**args)["L"], p.compile("numpy")(**args)["L"], rtol=1e-12)
