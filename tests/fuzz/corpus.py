"""The seed corpus of the mutation fuzzer: programs from the project itself.

* every file in ``examples/``;
* the string literals of ``tests/*.py`` that look like programs (ricci or LaTeX);
* the programs in the docs: statements in fenced blocks and in backticks, and quoted
  programs of ``ricci ...`` command lines;
* generated ones (:mod:`tests.fuzz.programs` in both syntaxes, :mod:`tests.fuzz.textgen`).

The order is deterministic (sorted files, then order of appearance), so a mutation fuzzer
seeded the same way sees the same corpus as long as the files do not change.
"""

from __future__ import annotations

import ast
import functools
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

_STMT = re.compile(r"^\s*[\w\\^{}()]+(\[[^\]]*\]|_\{?[\w,]*\}?)?\s*(=|&=|:=)\s*\S")
_QUOTED = re.compile(r"ricci \w+ '([^']+)'")
_TICKS = re.compile(r"`([^`\n]+)`")


def _looks_like_program(s: str) -> bool:
    if not (3 <= len(s) <= 5000) or "=" not in s or "import " in s or "def " in s:
        return False
    return bool(_STMT.match(s.splitlines()[0] if s.strip() else s)) or "\\" in s


def _from_tests() -> list[str]:
    out = []
    for f in sorted((ROOT / "tests").glob("*.py")):
        try:
            tree = ast.parse(f.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and _looks_like_program(node.value):
                out.append(node.value)
    return out


def _from_docs() -> list[str]:
    out = []
    files = sorted((ROOT / "docs").glob("*.md")) + [ROOT / "README.md"]
    for f in files:
        if not f.exists():
            continue
        text = f.read_text(encoding="utf-8")
        for block in re.findall(r"```[a-z]*\n(.*?)```", text, flags=re.DOTALL):
            stmts = [ln for ln in block.splitlines() if _STMT.match(ln) and not ln.startswith(("$", ">>>"))]
            if stmts:
                out.append("\n".join(stmts))
            out += _QUOTED.findall(block)
        for span in _TICKS.findall(text):
            if _looks_like_program(span):
                out.append(span)
    return out


@functools.lru_cache(maxsize=1)
def corpus() -> tuple[str, ...]:
    """The seed programs (deduplicated, in a fixed order)."""
    from .programs import generate
    from .textgen import latex_text, ricci_text

    seeds: list[str] = []
    for f in sorted((ROOT / "examples").glob("*.ricci")):
        seeds.append(f.read_text(encoding="utf-8"))
    seeds += _from_tests()
    seeds += _from_docs()
    for k in range(60):
        m = generate(f"corpus:{k}")
        seeds.append(m.text())
        tex = m.latex()
        if tex:
            seeds.append(tex)
    seeds += [ricci_text(f"corpus:{k}") for k in range(20)]
    seeds += [latex_text(f"corpus:{k}") for k in range(20)]
    return tuple(dict.fromkeys(s for s in seeds if s.strip()))
