"""Print docs/cookbook.md: each textbook identity of tests/test_cookbook.py (the Matrix
Cookbook, CS231n, Parr & Howard) with ricci's printed matrix form beside the textbook's, and
a mechanical judgement of whether ricci's form is as simple.

    python tests/support/cookbook_doc.py > docs/cookbook.md

tests/test_cookbook.py checks that the committed page equals what this prints, and that
every identity judged more complicated than the textbook has a reason (its ``gap``).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from functools import cache
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]

try:
    import ricci
except ImportError:  # run from a checkout without installing
    sys.path.insert(0, str(ROOT / "src"))
    import ricci

INTRO = """\
# Cookbook: textbook identities

{count} identities from the [Matrix Cookbook](https://www.math.uwaterloo.ca/~hwolkowi/matrixcookbook.pdf)
(Petersen & Pedersen, equation numbers of the 2012 edition), the
[CS231n notes](https://cs231n.github.io/) and Parr & Howard's
[The Matrix Calculus You Need For Deep Learning](https://explained.ai/matrix-calculus/), each
written as a ricci program ([language.md](language.md)). For every one,
[tests/test_cookbook.py](../tests/test_cookbook.py) checks in float64 that ricci's
gradient, Jacobian or Hessian equals the textbook's closed form (written there as NumPy
code, at random inputs in the identity's domain: an SPD matrix where the textbook assumes a
symmetric one, one-hot labels for a cross-entropy), that `ricci.check` agrees with torch
autograd, and that the printed matrix form runs as printed and gives the same numbers
(`tests/support/strict_matrix.py`).

The column *ricci* is `str(ricci.grad(program, wrt).matrix())` (or `jacobian`, `hessian`):
one line per result, including the adjoints of intermediate statements (`dr`) and helper
names (`G`); where a result has no matrix form, its index form. `dY` is the upstream
gradient of a non-scalar output.

**Measure.** The *cost* of a formula is the number of its symbols: operands (names,
numbers), function applications (`exp(...)`, `diag(...)`, `sum(..., axis=0)`), operators
(`+ - * / @ ⊙`, a power, a transpose `^T` or `.T`, an inverse `^{{-1}}`, a unary minus) and
implicit products (juxtaposition, `A^T B^T`). Index subscripts and brackets (`δ_im`,
`A[q,j]`, `v[:, None]`), parentheses and left-hand sides do not count. So `A^T B^T` and
`A.T @ B.T` both cost 5, `X^{{-T}}` and `inv(X).T` 3. A size (`size(n)`, `N`) and a sized
constant (`eye(size(i))`, `eye(X.shape[0])`, `ones_like(x)`: the textbook's `I`, `1`) are one
operand. ricci's form is **as simple** as the
textbook's (✓) when it has no more lines and no greater total cost; otherwise (✗) it is a
known gap, listed at the end with its reason.

This page is generated: `python tests/support/cookbook_doc.py > docs/cookbook.md`.
"""

_TOKEN = re.compile(r"""
    (?P<func>[^\W\d]\w*)\s*\(   # a function application
  | (?P<name>[^\W\d]\w*)        # an operand
  | (?P<num>\d+(?:\.\d*)?(?:e[-+]?\d+)?)
  | (?P<post>\^T|\^inv|\^k)   # postfix operators
  | (?P<op>[-+*/@⊙])
  | (?P<open>\()
  | (?P<close>\))
  | (?P<comma>,)
  | (?P<bar>\|\|)
""", re.VERBOSE)


def _normalise(text: str) -> str:
    text = re.sub(r",\s*axis=\d+", "", text)  # sum(G, axis=0): one application
    text = re.sub(r"\bsize\(\w+\)", "N", text)  # a size is one operand
    for fn, const in (("eye", "I"), ("ones_like", "1"), ("zeros_like", "0"), ("ones", "1"), ("zeros", "0")):
        text = re.sub(rf"\b{fn}\((?:[^()]|\([^()]*\))*\)", const, text)  # a sized constant
    text = re.sub(r"\[[^\]]*\]", "", text)  # indices, v[:, None]
    text = re.sub(r"_\{[^}]*\}|_[A-Za-z0-9]+\b", "", text)  # subscripts δ_im, ||X||_F
    text = text.replace(".mT", "^T").replace(".T", "^T").replace("^{-T}", "^inv^T").replace("^{-1}", "^inv")
    text = text.replace("^-1", "^inv").replace("**", "^")
    return re.sub(r"\^\{?-?\d+(?:\.\d+)?\}?", "^k", text)  # a power: one operator


def cost(text: str) -> int:
    """The number of symbols of the right-hand sides of ``text`` (lines or ``;``-separated)."""
    total = 0
    for line in re.split(r"[\n;]", text):
        line = line.split(" = ", 1)[1] if " = " in line else line
        prev = None  # kind of the previous token
        bars = 0  # ||x|| norms: the opening bars start an operand, the closing end one
        for m in _TOKEN.finditer(_normalise(line)):
            kind = m.lastgroup
            if kind == "bar":
                kind = "open" if bars % 2 == 0 else "close"
                bars += 1
                total += kind == "open"  # a norm is one application
            starts = kind in ("func", "name", "num", "open")
            if starts and prev in ("name", "num", "post", "close"):
                total += 1  # juxtaposition: an implicit product
            if kind in ("func", "name", "num", "post", "op"):
                total += 1
            prev = kind
    return total


@cache
def _derive(program: str, wrt: tuple[str, ...], kind: str) -> Any:
    if kind == "grad":
        return ricci.grad(program, list(wrt))
    if kind == "jacobian":
        return ricci.jacobian(program, wrt[0] if len(wrt) == 1 else list(wrt))
    if kind == "hvp":
        return ricci.hvp(program, wrt[0])
    return ricci.hessian(program, wrt[0] if len(wrt) == 1 else wrt, diagonal=kind == "diagonal")


def derive(row: Any) -> Any:
    """The derivation of a row: ``ricci.grad``, ``jacobian``, ``hessian`` (``diagonal=True``
    for "diagonal") or ``hvp`` of its program w.r.t. its inputs (computed once)."""
    return _derive(row.program, row.wrt, row.kind)


def printed(row: Any) -> list[str]:
    """ricci's printed form, one string per result: the matrix form, or the index form."""
    view = derive(row).matrix()
    return [view.line_text(ln) if ln.node is not None else ln.index_text for ln in view.lines]


def judge(row: Any) -> tuple[bool | None, int, int, list[str]]:
    """(as simple as the textbook, or None when ricci fails; the textbook's cost; ricci's
    cost; ricci's lines)."""
    book_lines = len(re.split(r"[\n;]", row.book))
    try:
        lines = printed(row)
    except Exception as e:  # noqa: BLE001 (a row ricci cannot derive: listed as such)
        return None, cost(row.book), 0, [f"error: {type(e).__name__}: {e}"]
    mine = sum(cost(ln) for ln in lines)
    return len(lines) <= book_lines and mine <= cost(row.book), cost(row.book), mine, lines


def cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", "<br>")


def code(text: str) -> str:
    tick = "``" if "`" in text else "`"
    return "<br>".join(f"{tick}{cell(t)}{tick}" for t in text.split("\n"))


def render(rows: list[Any]) -> str:
    out = [INTRO.format(count=len(rows)),
           "| # | identity | source | program | wrt | textbook | ricci | cost | as simple |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    gaps = []
    for k, row in enumerate(rows, 1):
        simple, book, mine, lines = judge(row)
        mark = {True: "✓", False: "✗", None: "n/a"}[simple]
        what = {"grad": "", "jacobian": " (Jacobian)", "hessian": " (Hessian)",
                "diagonal": " (Hessian diagonal)", "hvp": " (Hessian-vector product)"}[row.kind]
        out.append(f"| {k} | {cell(row.name)} | {cell(row.source)} | {code(row.program)} | "
                   f"{' '.join(code(w) for w in row.wrt)}{what} | {code(row.book)} | "
                   f"{code(chr(10).join(lines))} | {book} / {mine} | {mark} |")
        if simple is False:
            gaps.append(f"- **{row.name}** ({row.source}): {row.gap or '(no reason recorded)'}")
    out += ["", "## Known gaps", "",
            f"{len(gaps)} of {len(rows)} identities print a form more complicated than the textbook's:", ""]
    out += gaps
    bugs = [f"- **{row.name}** ({row.source}), {test}: {reason}"
            for row in rows for test, reason in sorted(row.xfail.items())]
    if bugs:
        out += ["", "## Known bugs", "",
                "Identities where a check fails today (strict xfails in the test file: the test names the "
                "check, `value`, `check` or `strict`):", ""]
        out += bugs
    return "\n".join(out) + "\n"


def _rows() -> list[Any]:
    tests = ROOT / "tests"
    sys.path.insert(0, str(tests))
    spec = importlib.util.spec_from_file_location("cookbook_table", tests / "test_cookbook.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module.ROWS


if __name__ == "__main__":
    sys.stdout.write(render(_rows()))
