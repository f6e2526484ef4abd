"""docs/backends.md shows the code ricci generates for examples/affine_tanh_mse.ricci in
each backend: each shown function body is the one generated now (a page that shows code
ricci no longer writes would teach the wrong thing)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import ricci

ROOT = Path(__file__).resolve().parents[2]
IMPORTS = {"import numpy as np": "numpy", "import torch": "torch", "import jax": "jax"}


def _shown() -> list[tuple[str, list[str]]]:
    """(backend, the lines of the body after its docstring or ``...``) of each block."""
    page = (ROOT / "docs" / "backends.md").read_text()
    out = []
    for block in re.findall(r"```python\n(.*?)```", page, flags=re.S):
        if "def grad_L(X, W, b, T):" not in block:
            continue
        backend = IMPORTS[block.splitlines()[0]]
        body = block.split("def grad_L(X, W, b, T):\n", 1)[1]
        body = body.split('    """\n', 2)[-1] if '"""' in body else body.split("    ...\n", 1)[1]
        out.append((backend, body.rstrip("\n").splitlines()))
    return out


def test_every_backend_is_shown():
    assert sorted(b for b, _ in _shown()) == ["jax", "numpy", "torch"]


@pytest.mark.parametrize("backend", ["numpy", "torch", "jax"])
def test_the_shown_code_is_the_generated_code(backend):
    d = ricci.grad((ROOT / "examples" / "affine_tanh_mse.ricci").read_text(), wrt=["W", "b"])
    src = d.source(backend)
    now = src.split("def grad_L(X, W, b, T):\n", 1)[1].split('    """\n', 2)[-1]
    (shown,) = [lines for b, lines in _shown() if b == backend]
    assert shown == now.rstrip("\n").splitlines()


def test_the_shown_numba_kernel_is_the_generated_code():
    """The layer-norm kernel shown (``...`` elides lines) is the generated source, in order."""
    page = (ROOT / "docs" / "backends.md").read_text()
    (block,) = [b for b in re.findall(r"```python\n(.*?)```", page, flags=re.S) if "@numba.njit" in b]
    d = ricci.grad((ROOT / "examples" / "layernorm.ricci").read_text(), wrt=["x", "g", "b"])
    src = d.source("numba").splitlines()
    at = 0
    for line in block.rstrip("\n").splitlines():
        if line.strip() in ("...", ""):
            continue
        assert line in src[at:], f"not generated (in this order): {line!r}"
        at = src.index(line, at) + 1
