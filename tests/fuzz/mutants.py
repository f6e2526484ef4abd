"""Deliberate bugs, to check that the test suite catches them (a mutation check).

Each :class:`Mutant` is a monkeypatch applied inside the test process (and inside the fuzz
workers, which read the same variable): ``RICCI_MUTANT=<name>``. Patches of source text
(:func:`patch_source`) recompile one function with one snippet replaced; a snippet that is
no longer in the source raises :class:`NotApplicable`, so a mutant cannot silently turn
into a no-op when ricci changes. :func:`run_mutants` runs a test selection once per mutant
in a subprocess and reports which mutants it caught.
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ENV = "RICCI_MUTANT"
ROOT = Path(__file__).resolve().parents[2]


class NotApplicable(RuntimeError):
    """The snippet a mutant replaces is not in the source any more."""


def patch_source(fn: Callable, old: str, new: str) -> Callable:
    """``fn`` recompiled with the first ``old`` in its source replaced by ``new``
    (decorators dropped; the module's globals)."""
    src = textwrap.dedent(inspect.getsource(fn))
    lines = src.splitlines(keepends=True)
    while lines and lines[0].lstrip().startswith("@"):
        lines.pop(0)
    src = "".join(lines)
    if old not in src:
        raise NotApplicable(f"{fn.__qualname__}: {old!r} is not in its source")
    src = src.replace(old, new, 1)
    module = sys.modules[fn.__module__]
    ns: dict[str, Any] = {}
    exec(compile(src, f"<mutant of {fn.__qualname__}>", "exec"), module.__dict__, ns)  # noqa: S102
    out = ns[fn.__name__]
    out.__qualname__ = fn.__qualname__
    return out


def _function_entry(name: str, **changes: Any) -> None:
    from ricci.primitives.functions import FUNCTIONS

    FUNCTIONS[name] = dataclasses.replace(FUNCTIONS[name], **changes)


def _rule(name: str, fn: Callable | None) -> None:
    """Replace (``fn``) or drop (None) the simplifier rule ``name``."""
    from ricci.simplify import rewrite as simplify

    old = next((r for r in simplify.RULES if r.name == name), None)
    if old is None:
        raise NotApplicable(f"no simplifier rule {name!r}")
    new = dataclasses.replace(old, fn=fn) if fn is not None else None
    for rules in [simplify.RULES] + list(simplify.RULES_BY_TYPE.values()):
        while old in rules:
            k = rules.index(old)
            if new is None:
                del rules[k]
            else:
                rules[k] = new


def _tanh_sign() -> None:
    from ricci.ir.expr import Const, Mul
    from ricci.primitives.functions import FUNCTIONS

    orig = FUNCTIONS["tanh"].deriv
    _function_entry("tanh", deriv=lambda x, ans: Mul((Const(-1), orig(x, ans))))


def _sigmoid_numpy() -> None:
    from ricci.primitives.functions import FUNCTIONS

    code = dict(FUNCTIONS["sigmoid"].code)
    code["numpy"] = "np.exp(np.minimum({0}, 0.0)) / (1.0 + np.exp(np.abs({0})))"
    _function_entry("sigmoid", code=code)


def _exp_numpy_ulps() -> None:
    from ricci.primitives.functions import FUNCTIONS

    code = dict(FUNCTIONS["exp"].code)
    code["numpy"] = "(np.exp({0}) * (1.0 + 1e-6))"
    _function_entry("exp", code=code)


def _pow_of_pow() -> None:
    from ricci.simplify import rewrite as simplify

    rule = next(r for r in simplify.RULES if r.name == "pow-of-pow")
    _rule("pow-of-pow", patch_source(rule.fn, "inner.exp.value * e.exp.value", "inner.exp.value + e.exp.value"))


def _drop_delta_eat() -> None:
    _rule("delta-eat", None)


def _lower_add_sign() -> None:
    from ricci.codegen.lower import Lowerer

    Lowerer.add = patch_source(Lowerer.add, '(" - " + a.wrapped(ADD)) if neg', '(" + " + a.wrapped(ADD)) if neg')


def _matmul_transpose() -> None:
    from ricci.codegen.lower import Lowerer

    Lowerer.binary = patch_source(Lowerer.binary, 'ac = f"{ac}.T"', 'ac = f"{ac}"')


def _logdet_transpose() -> None:
    from ricci.primitives.functions import MATRIX_FUNCTIONS

    f = MATRIX_FUNCTIONS["logdet"]
    orig = f.deriv
    MATRIX_FUNCTIONS["logdet"] = dataclasses.replace(f, deriv=lambda call, pq, ans: orig(call, pq[::-1], ans))


def _parser_drops_minus() -> None:
    from ricci.syntax.parse import Parser

    Parser.unary = patch_source(Parser.unary, "NegA(inner, t.span) if", "inner if")


def _printer_number() -> None:
    from ricci.display import notation

    orig = notation.number_text

    def new(v):  # integers print one too large
        return orig(v + 1) if v.denominator == 1 else orig(v)

    notation.number_text = new
    for mod in list(sys.modules.values()):  # modules that imported it by name
        if getattr(mod, "__name__", "").startswith("ricci.") and getattr(mod, "number_text", None) is not None:
            mod.number_text = new


def _latex_fraction() -> None:
    from ricci.syntax.latex import LatexParser

    LatexParser.fraction = patch_source(LatexParser.fraction, "factors.append((True, den))",
                                        "factors.append((False, den))")


@dataclass(frozen=True)
class Mutant:
    name: str
    doc: str
    apply: Callable[[], None]


MUTANTS: dict[str, Mutant] = {m.name: m for m in (
    Mutant("tanh-derivative-sign", "the derivative of tanh in the function table has the wrong sign", _tanh_sign),
    Mutant("sigmoid-numpy-template", "the NumPy code template of sigmoid computes sigmoid of -|x|", _sigmoid_numpy),
    Mutant("exp-numpy-template-1e-6", "the NumPy code template of exp is off by one part in a million",
           _exp_numpy_ulps),
    Mutant("simplify-pow-of-pow", "the simplifier rule pow-of-pow adds the exponents instead of multiplying",
           _pow_of_pow),
    Mutant("drop-delta-eat", "the simplifier rule delta-eat is dropped", _drop_delta_eat),
    Mutant("lower-add-sign", "Lowerer.add writes a + b for a - b", _lower_add_sign),
    Mutant("matmul-transpose", "Lowerer.binary forgets the transpose of a matrix product's left operand",
           _matmul_transpose),
    Mutant("logdet-derivative-transpose", "the derivative of logdet is inv(A) instead of inv(A)^T",
           _logdet_transpose),
    Mutant("parser-drops-minus", "the parser reads -x as x", _parser_drops_minus),
    Mutant("printer-number", "the printer writes integers one too large", _printer_number),
    Mutant("latex-fraction", "the LaTeX reader multiplies by the denominator of \\frac", _latex_fraction),
)}


def apply(name: str) -> None:
    """Apply the mutant ``name`` to the running process."""
    if name not in MUTANTS:
        raise KeyError(f"unknown mutant {name!r}: the mutants are {', '.join(MUTANTS)}")
    MUTANTS[name].apply()


def apply_from_env() -> str | None:
    """Apply the mutant named by ``RICCI_MUTANT`` (if set); returns its name."""
    name = os.environ.get(ENV, "").strip()
    if name:
        apply(name)
        return name
    return None


# ---------------------------------------------------------------- the mutation check


def _failed_ids(xml_path: Path) -> list[str]:
    if not xml_path.exists():
        return []
    out = []
    for case in ET.parse(xml_path).getroot().iter("testcase"):
        if case.find("failure") is not None or case.find("error") is not None:
            cls = case.get("classname", "")
            path = cls.replace(".", "/") + ".py" if cls else ""
            out.append(f"{path}::{case.get('name')}")
    return out


def _pytest(target: list[str], env_extra: dict[str, str], extra: list[str],
            xml: Path) -> tuple[int, str, float]:
    env = dict(os.environ)
    env.pop(ENV, None)
    env.update(env_extra)
    # the plugin that applies the mutant, loaded whether or not conftest.py registers it
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT / "tests"), env.get("PYTHONPATH", "")]))
    cmd = [sys.executable, "-m", "pytest", *target, "-m", "not slow", "-q", "-p", "no:cacheprovider",
           "-p", "fuzz.plugin", f"--junitxml={xml}", *extra]
    t0 = time.monotonic()
    p = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    return p.returncode, p.stdout[-4000:] + p.stderr[-2000:], time.monotonic() - t0


def run_mutants(names: list[str] | None = None, target: list[str] | None = None,
                out=sys.stderr) -> dict[str, Any]:
    """Run ``target`` (default: the fast tier, tests/test_fuzz.py) once clean and once per
    mutant with ``-x``. A mutant is caught by a test that fails under it and passes without
    it: tests failing in the clean run (bugs not fixed yet) are deselected, and a test that
    fails under a mutant is run again clean, and deselected if it fails there too (ricci
    changed under the run)."""
    target = target or ["tests/test_fuzz.py"]
    names = names or list(MUTANTS)
    tmp = Path(tempfile.mkdtemp(prefix="ricci-mutants-"))
    code, log, secs = _pytest(target, {}, [], tmp / "clean.xml")
    failing = _failed_ids(tmp / "clean.xml")
    print(f"clean run: exit {code}, {len(failing)} failing tests deselected, {secs:.0f} s "
          f"(JUnit reports in {tmp})", file=out, flush=True)
    result: dict[str, Any] = {"target": target, "clean_exit": code, "deselected": failing, "mutants": {},
                              "reports": str(tmp)}
    for name in names:
        verdict, first, total = "SURVIVED", "", 0.0
        for attempt in range(5):
            deselect = [a for f in failing for a in ("--deselect", f)]
            xml = tmp / f"{name}-{attempt}.xml"
            code, log, secs = _pytest(target, {ENV: name}, ["-x", *deselect], xml)
            total += secs
            if code == 0:
                verdict = "SURVIVED"
                break
            if "NotApplicable" in log:
                verdict = "NOT APPLICABLE"
                break
            first = (_failed_ids(xml) or [""])[0]
            if not first:
                verdict = f"ERROR (exit {code})"
                break
            clean_code, _, _ = _pytest([first], {}, [], tmp / f"{name}-{attempt}-clean.xml")
            if clean_code == 0:
                verdict = "caught"
                break
            failing.append(first)  # fails without the mutant too: not this mutant's doing
            print(f"  ({first} now fails without a mutant too: deselected)", file=out, flush=True)
        caught = verdict == "caught"
        result["mutants"][name] = {"caught": caught, "verdict": verdict, "seconds": total,
                                   "first_failure": first if caught else "", "doc": MUTANTS[name].doc}
        print(f"  {name:<32} {verdict:<15} {total:5.0f} s  {first if caught else ''}", file=out, flush=True)
    result["deselected"] = failing
    return result
