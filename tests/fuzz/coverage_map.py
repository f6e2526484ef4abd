"""Which rules and code paths of ricci the fuzzers reach, measured with coverage.py.

Workers run under ``coverage.Coverage(branch=True)`` restricted to ricci's sources
(:func:`start` / :func:`stop`); the executed lines are then mapped back to ricci's own
tables with ``inspect.getsourcelines``, without touching ``src/``:

* derivative rules: each entry of ``ricci.calculus.differentiate.RULES`` (node type -> its
  rules) fired when a line of its ``apply`` function's body ran;
* the derivative of each entry of ``ricci.primitives.functions.FUNCTIONS`` / ``MATRIX_FUNCTIONS``:
  the entries' ``deriv`` lambdas share source lines (``deriv=`` and ``fold=`` on one line),
  so these are counted by a wrapper the worker puts around each ``deriv`` (a matrix
  function's ``deriv`` is also checked by lines);
* simplifier rules: each ``Rule.fn`` of ``ricci.simplify.rewrite.RULES`` fired when one of its
  ``return`` statements that returns a value (not ``None``) ran;
* code generation: each method of ``ricci.codegen.lower.Lowerer`` (entered, and each of its
  ``return`` statements, the spellings of a contraction), named paths (matrix product,
  batched matrix product, tensordot, einsum, solve, Gram matrix, fused kernels, ...) found
  by a marker in their source line, and each function of ``ricci.codegen.stable`` and
  ``ricci.codegen.emit`` and ``ricci.codegen.backends``.
"""

from __future__ import annotations

import ast
import collections
import dataclasses
import inspect
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import Any

#: named code-generation paths: (name, method of Lowerer, a marker in the source line)
PATHS = (
    ("elementwise product (a * b)", "binary", "{aa.wrapped(UNARY)} * {bb.wrapped(UNARY)}"),
    ("matrix product (a @ b, a.T @ b)", "binary", 'f"{ac} @ {bc}"'),
    ("tensordot", "binary", "self.b.tensordot("),
    ("batched matrix product", "binary", "f\"{aa.wrapped()} @ {bb.wrapped()}\""),
    ("product then sum ((a * b).sum())", "binary", "prod = Val("),
    ("pairwise einsum", "binary", "self.b.einsum(spec, [a.code, b.code])"),
    ("solve instead of inv", "solve", "inv.solve.format("),
    ("weighted Gram matrix", "gram", "spell(mat, w.code)"),
    ("fused backward kernel", "fused", "kernel.format(xv.code, yv.code)"),
    ("reduction (.sum(axis))", "reduce", "self.b.sum("),
    ("diagonal / trace of a tensor (einsum)", "tensor", "self.b.einsum(spec, [e.name])"),
    ("diagonal of an inverse", "_lower", '"aa->a"'),
    ("Kronecker delta as eye", "_lower", "self.b.eye(n)"),
    ("Kronecker delta of 3+ indices", "_lower", "self.b.delta(n, len(uniq))"),
    ("max (stable softmax)", "_lower", "self.b.max("),
    ("square root power", "power", "self.b.sqrt(base.code)"),
    ("tensor-valued power", "power", "self.align(ex, target)"),
    ("shared subexpression", "lower", "self.shared[key] = "),
)


def ricci_dir() -> Path:
    import ricci

    return Path(ricci.__file__).resolve().parent


# ---------------------------------------------------------------- in the worker


_calls: collections.Counter[str] = collections.Counter()


def _counting(fn: Callable, key: str) -> Callable:
    def deriv(*args: Any) -> Any:
        _calls[key] += 1
        return fn(*args)

    return deriv


def start():
    """Start coverage of ricci's sources in this process, and count the calls of every
    function table entry's ``deriv``."""
    import coverage

    from ricci.primitives.functions import FUNCTIONS, MATRIX_FUNCTIONS

    for table, prefix in ((FUNCTIONS, "fn"), (MATRIX_FUNCTIONS, "matfn")):
        for name, f in list(table.items()):
            table[name] = dataclasses.replace(f, deriv=_counting(f.deriv, f"{prefix}:{name}"))
    cov = coverage.Coverage(branch=True, data_file=None, config_file=False,
                            include=[str(ricci_dir() / "*.py"), str(ricci_dir() / "*" / "*.py")])
    cov.start()
    return cov


def stop(cov) -> dict[str, Any]:
    """Stop coverage; the executed lines per file and the ``deriv`` counts."""
    cov.stop()
    data = cov.get_data()
    return {"lines": {Path(f).name: sorted(data.lines(f) or ()) for f in data.measured_files()},
            "calls": dict(_calls)}


def merge(parts: list[dict[str, Any]]) -> dict[str, Any]:
    lines: dict[str, set[int]] = collections.defaultdict(set)
    calls: collections.Counter[str] = collections.Counter()
    for p in parts:
        for f, ls in p["lines"].items():
            lines[f].update(ls)
        calls.update(p["calls"])
    return {"lines": {f: sorted(v) for f, v in lines.items()}, "calls": dict(calls)}


# ---------------------------------------------------------------- mapping lines to rules


def _body(fn: Callable) -> tuple[str, range, list[str]]:
    """(file name, line range of the body without ``def`` and decorators, source lines)."""
    fn = inspect.unwrap(fn)
    src, first = inspect.getsourcelines(fn)
    tree = ast.parse(textwrap.dedent("".join(src)))
    node = tree.body[0]
    start = first + node.body[0].lineno - 1
    if isinstance(node.body[0], ast.Expr) and isinstance(getattr(node.body[0], "value", None), ast.Constant):
        start = first + (node.body[1].lineno - 1 if len(node.body) > 1 else node.body[0].end_lineno)
    end = first + node.end_lineno - 1
    return Path(inspect.getsourcefile(fn) or "").name, range(start, end + 1), src


def _value_returns(fn: Callable) -> tuple[str, list[int]]:
    """Lines of the ``return <value>`` statements of ``fn`` (not ``return None``)."""
    fn = inspect.unwrap(fn)
    src, first = inspect.getsourcelines(fn)
    tree = ast.parse(textwrap.dedent("".join(src)))
    out = []
    for n in ast.walk(tree):
        if isinstance(n, ast.Return) and n.value is not None and not (
                isinstance(n.value, ast.Constant) and n.value.value is None):
            out.append(first + n.lineno - 1)
    return Path(inspect.getsourcefile(fn) or "").name, out


def _returns(fn: Callable) -> list[tuple[int, str]]:
    fn = inspect.unwrap(fn)
    src, first = inspect.getsourcelines(fn)
    tree = ast.parse(textwrap.dedent("".join(src)))
    return [(first + n.lineno - 1, src[n.lineno - 1].strip()) for n in ast.walk(tree) if isinstance(n, ast.Return)]


def _ran(lines: dict[str, list[int]], fname: str, wanted) -> bool:
    have = set(lines.get(fname, ()))
    return any(x in have for x in wanted)


def analyse(data: dict[str, Any]) -> dict[str, Any]:
    """For each table of ricci, which entries fired (see the module docstring)."""
    from ricci.calculus import differentiate
    from ricci.codegen import backends, lower, stable
    from ricci.codegen import emit as codegen
    from ricci.primitives.functions import FUNCTIONS, MATRIX_FUNCTIONS
    from ricci.simplify import rewrite as simplify

    lines, calls = data["lines"], data["calls"]
    out: dict[str, Any] = {}

    rules = {}
    for typ, entries in differentiate.RULES.items():
        for r in entries:
            f, body, _ = _body(r.apply)
            rules[f"{typ.__name__}: {r.name} ({r.apply.__name__})"] = _ran(lines, f, body)
    out["derivative rules"] = rules
    out["function derivatives"] = {name: calls.get(f"fn:{name}", 0) for name in FUNCTIONS}
    mat = {}
    for name, mf in MATRIX_FUNCTIONS.items():
        n = calls.get(f"matfn:{name}", 0)
        try:
            f, body, _ = _body(mf.deriv)
            n = n or int(_ran(lines, f, body))
        except (TypeError, OSError, SyntaxError, IndexError):
            pass
        mat[name] = n
    out["matrix-function derivatives"] = mat
    simp = {}
    for r in simplify.RULES:
        f, rets = _value_returns(r.fn)
        simp[r.name] = _ran(lines, f, rets)
    out["simplifier rules"] = simp

    methods = {}
    returns = {}
    for name, fn in inspect.getmembers(lower.Lowerer, inspect.isfunction):
        if fn.__module__ != lower.__name__:
            continue
        f, body, _ = _body(fn)
        methods[name] = _ran(lines, f, body)
        for ln, text in _returns(fn):
            returns[f"{name}:{ln} {text[:70]}"] = _ran(lines, f, [ln])
    out["Lowerer methods"] = methods
    out["Lowerer returns"] = returns
    paths = {}
    for label, meth, marker in PATHS:
        fn = getattr(lower.Lowerer, meth, None)
        if fn is None:
            paths[label] = None
            continue
        src, first = inspect.getsourcelines(fn)
        at = [first + k for k, s in enumerate(src) if marker in s]
        paths[label] = _ran(lines, Path(lower.__file__).name, at) if at else None
    out["code generation paths"] = paths
    for title, mods in (("stable.py functions", (stable,)), ("codegen.py functions", (codegen, backends))):
        table = {}
        for mod, (name, obj) in ((m, member) for m in mods for member in inspect.getmembers(m)):
            fns = []
            if inspect.isfunction(obj) and obj.__module__ == mod.__name__:
                fns = [(name, obj)]
            elif inspect.isclass(obj) and obj.__module__ == mod.__name__:
                fns = [(f"{name}.{m}", f) for m, f in vars(obj).items() if inspect.isfunction(f)]
            for label, fn in fns:
                try:
                    f, body, _ = _body(fn)
                except (OSError, TypeError, SyntaxError, IndexError):
                    continue
                table[label] = _ran(lines, f, body)
        out[title] = table
    return out


def table(report: dict[str, Any]) -> str:
    """The coverage report as text: per table, how many entries fired, and the ones that
    never did."""
    out = []
    for title, entries in report.items():
        fired = [k for k, v in entries.items() if v]
        missing = [k for k, v in entries.items() if v is None]
        never = [k for k, v in entries.items() if v is not None and not v]
        out.append(f"{title}: {len(fired)} of {len(entries) - len(missing)} fired")
        if title.endswith("derivatives"):
            out.append("   calls: " + ", ".join(f"{k} {v}" for k, v in entries.items()))
        for k in never:
            out.append(f"   never: {k}")
        for k in missing:
            out.append(f"   marker not found in the source: {k}")
    return "\n".join(out)


def summary_counts(report: dict[str, Any]) -> dict[str, tuple[int, int]]:
    return {t: (sum(1 for v in e.values() if v), sum(1 for v in e.values() if v is not None))
            for t, e in report.items()}
