"""The layout's rules (docs/internals.md): subpackages talk through public names only."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "ricci"


def _imports():
    """(module path, its subpackage, imported module, its subpackage, name) for every
    relative ``from ... import name`` in ricci."""
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        pkg = rel.parts[0] if len(rel.parts) > 1 else ""
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level:
                base = list(rel.parts[:-1])[: len(rel.parts) - node.level]
                target = base + (node.module.split(".") if node.module else [])
                tpkg = target[0] if len(target) > 1 else ""
                for alias in node.names:
                    yield str(rel), pkg, ".".join(target), tpkg, alias.name


def test_no_private_name_crosses_a_subpackage():
    crossing = [(m, t, n) for m, pkg, t, tpkg, n in _imports() if n.startswith("_") and tpkg != pkg]
    assert not crossing, crossing


def test_the_stages_are_subpackages():
    pkgs = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert {"syntax", "ir", "primitives", "calculus", "simplify", "codegen", "display", "verify",
            "interop"} <= pkgs
    for p in pkgs:
        assert ast.get_docstring(ast.parse((SRC / p / "__init__.py").read_text())), f"{p} says what it holds"
