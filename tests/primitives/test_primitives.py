"""The primitive tables (``ricci.primitives.functions``): every function, the new ones
among them (log1p, expm1, erf, atan, trace), proved against torch autograd on the three
backends, first and second derivatives; every printed LaTeX spelling read back; and the
claim of the tables, that each function is known in one place: its name and spellings
occur in no other source file of ricci, except where a module states a rule about that
particular function (listed and explained below).
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

import numpy as np
import pytest
import torch

import ricci
from ricci.primitives.functions import FUNCTIONS, MATRIX_FUNCTIONS, latex_reading

SRC = Path(ricci.__file__).resolve().parent
TABLE = "primitives/functions.py"
BACKENDS = ("numpy", "torch", "jax")
#: with the numba backend's loop kernels, whose templates are the tables' too (slow tier)
WITH_NUMBA = (*BACKENDS, "numba")
#: float64 end to end: ricci's code and torch autograd agree to rounding
TIGHT = 1e-10


def ok(prog, wrt, **kw):
    rep = ricci.check(prog, wrt, atol=TIGHT, **kw)
    assert rep.ok, str(rep)
    assert all(v is not None for v in rep.torch_error.values()), "torch must be used"
    return rep


# ---------------------------------------------------------------- derivatives, against torch


@pytest.mark.parametrize("backend", WITH_NUMBA)
@pytest.mark.parametrize("fn", sorted(FUNCTIONS))
def test_every_function_against_torch(fn, backend):
    ok(f"y[i] = {fn}(x[i])", ["x"], backend=backend)
    ok(f"L = sum[i]({fn}(W[i,j] * x[j] + b[i]) * w[i])", ["W", "x", "b"], backend=backend)
    # the function's own value in the gradient code (erf's NumPy helper is emitted with it)
    ok(f"L = sum[i]({fn}(x[i])^2 * w[i])", ["x"], backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("fn", sorted(FUNCTIONS))
def test_every_function_hessian_against_torch(fn, backend):
    prog = f"L = sum[i]({fn}(x[i] * a[i] + 0.5) * w[i])"
    ok(prog, "x", derivation=ricci.hessian(prog, "x"), backend=backend)
    ok(prog, "x", derivation=ricci.hessian(prog, "x", diagonal=True), backend=backend)


@pytest.mark.parametrize("backend", WITH_NUMBA)
@pytest.mark.parametrize("prog, wrt", [
    ("y[i] = log1p(x[i]^2)", ["x"]),
    ("L = sum[i](log1p(exp(z[i])) * w[i])", ["z"]),
    ("y[i] = expm1(x[i] * a[i]) / (1 + x[i]^2)", ["x", "a"]),
    ("L = sum[i](erf(W[i,j] * x[j]))", ["W", "x"]),
    ("y[i] = erf(x[i]) * erf(2 * x[i])", ["x"]),
    ("t[i] = atan(x[i] / y[i])\nL = sum[i](t[i]^2)", ["x", "y"]),
    ("L = trace(A) * logdet(A) + trace(B) * det(B)", ["A", "B"]),
    ("Y[i,j] = inv(A)[i,j] * trace(A)", ["A"]),
])
def test_new_functions_in_programs(prog, wrt, backend):
    ok(prog, wrt, backend=backend)
    for w in wrt:
        ok(prog, [w], derivation=ricci.jacobian(prog, w), backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("prog", [
    "L = sum[i](log1p(x[i]^2) + expm1(0.5 * x[i]) + erf(x[i]) * atan(x[i]))",
    "z[i] = W[i,j] * x[j]\nL = sum[i](erf(z[i]) * atan(z[i]))",
])
def test_hessians_of_the_new_functions(prog, backend):
    ok(prog, "x", derivation=ricci.hessian(prog, "x"), backend=backend)
    ok(prog, "x", derivation=ricci.hvp(prog, "x"), backend=backend)


@pytest.mark.parametrize("fn", sorted(MATRIX_FUNCTIONS))
@pytest.mark.parametrize("backend", BACKENDS)
def test_every_matrix_function_against_torch(fn, backend):
    prog = f"L = sum[i,j]({fn}(A)[i,j] * W[j,i])" if MATRIX_FUNCTIONS[fn].rank else f"L = {fn}(A) * w"
    ok(prog, ["A"], backend=backend)
    g = ricci.grad(prog, ["A"])  # second derivatives: the gradient of the gradient program
    ok(g.program, ["A"], of=g.outputs["A"], derivation=ricci.grad(g.program, ["A"], of=g.outputs["A"]),
       backend=backend)


def test_erf_numpy_helper_is_accurate():
    """The NumPy erf (a helper the table defines: NumPy has none) within a few ulps of
    math.erf, from tiny to saturated arguments, keeping float32 as float32."""
    import math

    from ricci.primitives.functions import runtime

    erf = runtime("numpy")["_erf"]
    x = np.concatenate([np.linspace(-7, 7, 4001), np.geomspace(1e-300, 1.0, 50), [0.0, 2.0, np.inf]])
    want = np.array([math.erf(v) for v in x])
    got = erf(x)
    assert np.all(np.abs(got - want) <= 4e-15 * np.maximum(np.abs(want), 1e-300))
    assert erf(np.float32(0.5)).dtype == np.float32 and np.isnan(erf(np.nan))


def test_fused_kernels_come_from_the_table():
    """torch's fused backward kernels, from the entries' ``backward``: tanh, sigmoid, relu."""
    cases = {"tanh": "tanh_backward", "sigmoid": "sigmoid_backward", "relu": "threshold_backward"}
    for fn, kernel in cases.items():
        src = ricci.grad(f"y[n,h] = {fn}(X[n,d] * W[d,h])", ["W"]).source("torch")
        assert f"torch.ops.aten.{kernel}(" in src, src
    assert "_backward" not in ricci.grad("y[i] = atan(x[i])", ["x"]).source("torch")


# ---------------------------------------------------------------- spellings


def _program(fn: str) -> ricci.Program:
    return ricci.parse(f"y[i] = 2 * {fn}(x[i] + a[i]^2) - {fn}(3 * x[i])")


@pytest.mark.parametrize("fn", sorted(FUNCTIONS))
def test_printed_latex_reads_back(fn):
    p = _program(fn)
    assert ricci.parse(p.latex(), syntax="latex") == p, p.latex()
    assert ricci.parse(str(p)) == p


@pytest.mark.parametrize("prog", [
    "L = det(A) + logdet(B) + trace(C)",
    "Y[i,j] = inv(A)[i,j] * trace(A)",
    "t = inv(A)[i,i] + trace(A)^2",
])
def test_printed_latex_of_matrix_functions_reads_back(prog):
    p = ricci.parse(prog)
    assert ricci.parse(p.latex(), syntax="latex") == p, p.latex()
    assert ricci.parse(str(p)) == p


@pytest.mark.parametrize("latex, text", [
    (r"y_i = \arctan(x_i)", "y[i] = atan(x[i])"),
    (r"y_i = \arctan x_i + \operatorname{atan}(x_i)", "y[i] = atan(x[i]) + atan(x[i])"),
    (r"y_i = \operatorname{log1p}(x_i^2) + \operatorname{expm1}(x_i)", "y[i] = log1p(x[i]^2) + expm1(x[i])"),
    (r"y_i = \operatorname{erf}\left(x_i\right)", "y[i] = erf(x[i])"),
    (r"t = \operatorname{tr}(A) + \mathrm{tr}(B) + \operatorname{trace}(C)", "t = trace(A) + trace(B) + trace(C)"),
    (r"t = \operatorname{tr} A", "t = trace(A)"),
    (r"y_i = \ln x_i + e^{x_i} + |x_i| + \sqrt{x_i} + \sigma(x_i)",
     "y[i] = log(x[i]) + exp(x[i]) + abs(x[i]) + sqrt(x[i]) + sigmoid(x[i])"),
])
def test_latex_input_spellings(latex, text):
    assert ricci.parse(latex, syntax="latex") == ricci.parse(text)


def test_new_spellings_in_every_notation():
    d = ricci.grad("L = sum[i](atan(x[i]) + erf(x[i])) + trace(A)", ["x", "A"])
    assert str(d) == "dx[i] = 1 / (1 + x[i]^2) + 2 * exp(-x[i]^2) / 3.141592653589793^0.5\ndA[i,j] = delta[i,j]"
    p = ricci.parse("y[i] = atan(x[i]) + log1p(x[i])\nt = trace(A)")
    assert p.latex().splitlines()[1:3] == [r"y_{i} &= \arctan\left(x_{i}\right) + \operatorname{log1p}\left(x_{i}\right) \\",
                                          r"t &= \operatorname{tr}\left(A\right)"]
    assert "atan(x_i) + log1p(x_i)" in p.unicode() and "tr(A)" in p.unicode()
    assert str(ricci.grad("L = trace(A)", ["A"]).matrix()) == "dA = eye(A.shape[0])"  # A has no index name
    assert str(ricci.grad("L = trace(A) * x", ["x"]).matrix()) == "dx = trace(A)"


def test_steps_cite_every_matrix_function():
    """A matrix function's step cites its entry's note (a new one needs no other edit)."""
    text = ricci.grad("L = trace(A) + logdet(A)", ["A"]).steps()
    text = str(text)
    for fn in ("trace", "logdet"):
        assert MATRIX_FUNCTIONS[fn].note in text


def test_hints_list_the_tables():
    with pytest.raises(ricci.RicciError) as e:
        ricci.parse("y = tanhh(x)")
    assert all(fn in e.value.hint for fn in FUNCTIONS)
    f = ricci.grad("L = trace(A)", ["A"]).compile()
    with pytest.raises(ricci.RicciError) as e:
        f(A=np.ones((3, 4)))
    assert all(fn in e.value.hint for fn in MATRIX_FUNCTIONS)
    with pytest.raises(ricci.RicciError) as e:
        ricci.check("y[i] = log1p(-2 - x[i]^2)", ["x"])
    assert "log1p: x > -1" in e.value.hint


def test_trace_needs_no_invertible_operand():
    """trace's domain is any square matrix: a singular or non-finite operand is computed."""
    f = ricci.grad("L = trace(A)", ["A"]).compile()
    assert np.array_equal(f(A=np.ones((3, 3)))["A"], np.eye(3))
    t = ricci.grad("L = trace(A) * x", ["x"]).compile("torch")
    assert float(t(A=torch.full((2, 2), np.inf, dtype=torch.float64), x=torch.tensor(1.0))["x"]) == np.inf
    with pytest.raises(ricci.RicciError, match="singular"):
        ricci.grad("L = logdet(A) + trace(A)", ["A"]).compile()(A=np.ones((3, 3)))


def test_every_function_is_documented():
    language = (SRC.parent.parent / "docs" / "language.md").read_text()
    latex_input = (SRC.parent.parent / "docs" / "latex-input.md").read_text()
    for fn in list(FUNCTIONS) + list(MATRIX_FUNCTIONS):
        assert f"`{fn}" in language, fn
    for (kind, key), fn in _reader_keys().items():
        if kind in ("command", "word") and key != fn:
            spelled = "".join("\\" + c for c in key) if kind == "command" else key
            assert spelled in latex_input, (fn, spelled)


def _reader_keys() -> dict[tuple, str]:
    r = latex_reading()
    return {**{("command", k): v for k, v in r.commands.items()}, **{("word", k): v for k, v in r.words.items()}}


# ---------------------------------------------------------------- one place


#: Where a module other than the table names a particular function: each reference is a
#: rule about that function itself, not a fact of its entry duplicated (its spellings,
#: its code, its derivative are all read from the entry). (file, function) -> why.
#: (the simplifier's textbook identities between functions, 1 / (1 + exp(-u)) = sigmoid(u) and
#: the like, are rules written in ricci notation in simplify/rewrite.py's pattern tables, which
#: name functions as ricci text does, not as the string literals this scan looks for)
ALLOWED = {
    ("codegen/stable.py", "exp"): "the stable softmax/logsumexp rewrite is about sums of exp",
    ("codegen/stable.py", "log"): "... and the log of such a sum: log(m * exp(c)) = log(m) + c",
    ("calculus/differentiate.py", "log"): "the power rule: d f^g = f^g (dg log(f) + g df / f)",
    ("codegen/backends.py", "sqrt"): "a power 1/2 is computed with the sqrt entry's code; np.sqrt in the "
                                 "_gram helper is its own arithmetic (a weighted Gram matrix)",
    ("codegen/kernels.py", "sqrt"): "a power 1/2 is computed with the sqrt entry's kernel code",
    ("display/notation.py", "sqrt"): "a power 1/2 is printed with the sqrt entry's spellings",
    ("display/matrix_algebra.py", "trace"): "the trace of any matrix expression is printed with the trace entry's",
    ("syntax/latex_tables.py", "sqrt"): "LaTeX's \\sqrt[n]{x} (an n-th root) is refused with its own hint",
    ("syntax/matrix_input.py", "exp"): "softmax(Z, axis=k) of matrix notation is read as exp(Z) / a sum of exp(Z)",
    ("syntax/matrix_input.py", "log"): "... and log_softmax(Z, axis=k) as Z - log of that sum",
    ("syntax/latex_tables.py", "log"): "the hint for \\prod suggests a sum of logs, written as a user writes it",
    ("web/gallery.py", "sigmoid"): "the playground's examples are data: an article's LaTeX program writes \\sigma(...)",
}


def _probes() -> dict[str, set[tuple[str, str]]]:
    """Per function, what names it in source: its name and LaTeX words as string literals
    (``"exp"``, ``"tr"``), its LaTeX commands (``\\exp``, ``\\log\\det``, ``\\sqrt``) and
    the callees of its code templates (``np.exp``, ``torch.ops.aten.tanh_backward``,
    ``np.linalg.solve``, the helper ``_erf``) inside string literals."""
    out: dict[str, set[tuple[str, str]]] = {}
    for table in (FUNCTIONS, MATRIX_FUNCTIONS):
        for name, f in table.items():
            ps = {("name", name)}
            for kind, key in f.reading_keys():
                if kind == "word":
                    ps.add(("name", key))
                elif kind == "command":
                    ps.add(("latex", "".join("\\" + c for c in key)))
                elif kind == "macro":
                    ps.add(("latex", "\\" + key))
            templates = [*f.code.values(), *getattr(f, "backward", {}).values(), *getattr(f, "solve", {}).values()]
            for t in templates:
                ps.update(("code", m) for m in re.findall(r"(?<![\w.)])([A-Za-z_]\w*(?:\.\w+)+)\(", t))
                ps.update(("code", m) for m in re.findall(r"(?<![\w.])(_\w+)\(", t))
            out[name] = ps
    return out


def _strings(source: str) -> list[tuple[int, str]]:
    """The string literals of Python source (f-string parts included), without docstrings
    and without ``__slots__`` (attribute names such as ``exp``, not functions)."""
    tree = ast.parse(source)
    skip: set[int] = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and body:
            first = body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                skip.add(id(first.value))
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__slots__"
                                                for t in node.targets):
            skip.update(id(n) for n in ast.walk(node.value))
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in skip]


@functools.cache
def _matchers() -> tuple[tuple[str, frozenset[str], re.Pattern[str] | None], ...]:
    """Per function: the names (exact string literals) and one compiled pattern for its
    LaTeX commands (not followed by a letter) and code callees (called, not an attribute of
    something else), all probes of the function in one pattern."""
    out = []
    for fn, ps in _probes().items():
        names = frozenset(p for kind, p in ps if kind == "name")
        alts = [re.escape(p) + r"(?![A-Za-z])" for kind, p in ps if kind == "latex"]
        alts += [r"(?<![\w.])" + re.escape(p) + r"\(" for kind, p in ps if kind == "code"]
        out.append((fn, names, re.compile("|".join(alts)) if alts else None))
    return tuple(out)


def _mentions(source: str) -> dict[str, list[str]]:
    """Function -> where ``source`` names it (``line: literal``)."""
    out: dict[str, list[str]] = {}
    for line, s in _strings(source):
        for fn, names, pattern in _matchers():
            if s in names or (pattern is not None and pattern.search(s)):
                out.setdefault(fn, []).append(f"{line}: {s[:60]!r}")
    return out


def test_the_scan_finds_a_duplicated_fact():
    """The scan below is not vacuous: each kind of duplicate is found."""
    planted = '''
"""A docstring naming exp, log and np.tanh is prose."""
SPELLED = {"relu": r"\\operatorname{relu}", "x": r"\\arctan"}
CODE = f"{a} + np.log1p({b})" + "torch.ops.aten.sigmoid_backward(g, y)"
WORD = "tr"
class C:
    __slots__ = ("exp", "base")
'''
    found = _mentions(planted)
    # np.log1p is log1p's code and part of softplus's
    assert set(found) == {"relu", "atan", "log1p", "softplus", "sigmoid", "trace"}, found


def test_each_function_is_known_in_one_place():
    """Every function's name and spellings occur in the table and nowhere else in
    ``src/ricci``, except the references ALLOWED lists (each still needed)."""
    seen: dict[tuple[str, str], list[str]] = {}
    table = _mentions((SRC / TABLE).read_text())
    assert set(table) == set(FUNCTIONS) | set(MATRIX_FUNCTIONS)
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        if rel == TABLE:
            continue
        for fn, where in _mentions(path.read_text()).items():
            seen[(rel, fn)] = where
    stray = {k: v for k, v in seen.items() if k not in ALLOWED}
    assert not stray, "function facts outside the table (move them into its entry):\n" + \
        "\n".join(f"{f} names {fn}: {w}" for (f, fn), w in stray.items())
    stale = sorted(set(ALLOWED) - set(seen))
    assert not stale, f"ALLOWED entries no longer needed: {stale}"


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
def test_softplus_is_exact_beyond_torchs_threshold(backend):
    """torch.nn.functional.softplus returns x itself beyond x = 20, off by e^-20 (2e-9) in
    float64 (fuzz finding #24 found it in the oracle): ricci's code is exact there."""
    import numpy as np

    from ricci.codegen.calling import Compiled
    from ricci.codegen.emit import generate

    if backend == "jax":
        jax = pytest.importorskip("jax")
        jax.config.update("jax_enable_x64", True)
    p = ricci.parse("y[i] = softplus(x[i])")
    x = np.array([19.0, 21.0, 25.0, 39.0, 45.0, -50.0])
    gen = generate(p, {"y": "y"}, p.inputs, backend=backend)
    y = Compiled(gen, backend, p, p, label="t", filename="<t>").call({"x": x}, None, {})["y"]
    np.testing.assert_allclose(np.asarray(y, dtype=float), np.logaddexp(x, 0.0), rtol=1e-15, atol=0)


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_kernel_template_computes_the_numpy_function(dtype):
    """Each entry's loop-kernel template (a function of one number of the kernel's dtype
    ``T``) gives the values of its NumPy template, at ordinary and special arguments
    (NaN, infinities, signed zeros), in the dtype of the arrays; all in one compiled
    function, as kernels compile them."""
    numba = pytest.importorskip("numba")
    from ricci.primitives.functions import KERNEL, runtime

    names = sorted(FUNCTIONS)
    body = "\n".join(f"        v = x[i]\n        out[{k}, i] = {FUNCTIONS[n].code[KERNEL].format('v')}"
                     for k, n in enumerate(names))
    src = f"def kernel(T, x, out):\n    for i in range(x.shape[0]):\n{body}\n"
    ns = {"np": np, "math": __import__("math")}
    exec(src, ns)  # noqa: S102 - the table's own templates
    kernel = numba.njit(error_model="numpy")(ns["kernel"])
    x = np.array([-3.0, -1.0, -0.25, -0.0, 0.0, 1e-8, 0.5, 1.0, 2.5, 30.0, np.inf, -np.inf, np.nan], dtype)
    out = np.empty((len(names), x.size), dtype)
    with np.errstate(all="ignore"):
        kernel(x.dtype.type, x, out)
        rt = runtime("numpy")
        for k, n in enumerate(names):
            want = np.asarray(eval(FUNCTIONS[n].code["numpy"].format("x"), {**rt, "x": x}), dtype)  # noqa: S307
            assert out[k].dtype == dtype
            tol = 1e-12 if dtype == np.float64 else 1e-6
            np.testing.assert_allclose(out[k], want, rtol=tol, atol=tol, equal_nan=True, err_msg=n)
