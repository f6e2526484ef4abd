"""The layout's rules (docs/internals.md): subpackages talk through public names only,
and the stages form a layered pipeline with no import cycle."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "ricci"

#: the stages, lowest first: a module imports only from its own stage or a lower one
#: (function-level imports count; imports only for type checking do not)
LAYERS = [
    {"errors"}, {"bounds"}, {"validate"},
    {"ir"}, {"primitives"}, {"syntax"}, {"simplify"}, {"calculus"}, {"codegen"}, {"display"},
    {"derivation"}, {"verify"}, {"interop", "torch", "jax"}, {"cli"}, {"__main__", "__init__"},
]


def _unit(parts: list[str]) -> str:
    """The stage of a module path inside ricci: its subpackage, or a top-level module."""
    head = parts[0]
    return head[:-3] if head.endswith(".py") else head


def _type_checking_only(tree: ast.AST) -> set[int]:
    """Line numbers of the imports under ``if TYPE_CHECKING:``."""
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for sub in node.body:
                for n in ast.walk(sub):
                    if isinstance(n, (ast.Import, ast.ImportFrom)):
                        lines.add(n.lineno)
    return lines


def _imports():
    """(module path, its stage, imported module path, its stage, name) for every relative
    ``from ... import name`` in ricci, at any depth of the module."""
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        tree = ast.parse(path.read_text())
        skip = _type_checking_only(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level and node.lineno not in skip:
                base = list(rel.parts[:-1])[: len(rel.parts) - node.level]
                target = base + (node.module.split(".") if node.module else [])
                for alias in node.names:
                    full = target if target else [alias.name]
                    yield str(rel), _unit(list(rel.parts)), ".".join(target), _unit(full), alias.name


def test_no_private_name_crosses_a_subpackage():
    crossing = [(m, t, n) for m, pkg, t, tpkg, n in _imports()
                if n.startswith("_") and tpkg != pkg and n != "__version__"]
    assert not crossing, crossing


def test_the_stages_are_layered_with_no_cycle():
    rank = {u: k for k, layer in enumerate(LAYERS) for u in layer}
    units = {_unit(list(p.relative_to(SRC).parts)) for p in SRC.rglob("*.py")}
    assert units <= set(rank), f"stages missing from LAYERS: {units - set(rank)}"
    upward = sorted({(m, t) for m, pkg, t, tpkg, _ in _imports() if rank[tpkg] > rank[pkg]})
    assert not upward, f"imports from a higher stage: {upward}"


def test_the_layers_test_can_fail():
    """The check above sees function-level imports and ignores TYPE_CHECKING ones."""
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import b\n"
                     "def f():\n    from .c import d\n")
    assert _type_checking_only(tree) == {3}


def test_the_stages_are_subpackages():
    pkgs = {p.name for p in SRC.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert {"syntax", "ir", "primitives", "calculus", "simplify", "codegen", "display", "verify",
            "interop"} <= pkgs
    for p in pkgs:
        assert ast.get_docstring(ast.parse((SRC / p / "__init__.py").read_text())), f"{p} says what it holds"
