"""The layout's rules (docs/internals.md): subpackages talk through public names only,
and the stages form a layered pipeline with no import cycle."""

from __future__ import annotations

import ast
from functools import cache
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "ricci"

#: the stages, lowest first: a module imports only from its own stage or a lower one
#: (function-level imports count; imports only for type checking do not)
LAYERS = [
    {"errors"}, {"bounds"}, {"validate"},
    {"ir"}, {"primitives"}, {"syntax"}, {"simplify"}, {"calculus"}, {"codegen"}, {"display"},
    {"derivation", "expressions"}, {"verify"}, {"interop", "torch", "jax"}, {"web"}, {"cli"}, {"__main__", "__init__"},
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


@cache
def _tree(path: Path) -> ast.Module:
    """A module of ricci, parsed once per run."""
    return ast.parse(path.read_text())


@cache
def _imports() -> tuple:
    """Every relative import of ricci, read once (see :func:`_read_imports`)."""
    return tuple(_read_imports())


def _read_imports():
    """(module path, its stage, imported module path, its stage, name) for every relative
    ``from ... import name`` in ricci, at any depth of the module."""
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        tree = _tree(path)
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


@cache
def _module_all(target: str) -> list[str] | None:
    path = SRC.joinpath(*target.split(".")).with_suffix(".py") if target else SRC / "__init__.py"
    if not path.exists():
        return None  # a package: `from . import module`
    for node in _tree(path).body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            tg = node.targets[0] if isinstance(node, ast.Assign) else node.target
            if isinstance(tg, ast.Name) and tg.id == "__all__":
                return list(ast.literal_eval(node.value)) if node.value is not None else []
    raise AssertionError(f"{path.relative_to(SRC)} has no __all__")


def _is_module(target: str, name: str) -> bool:
    """``from <target> import <name>`` imports a module (``from .. import validate``)."""
    base = SRC.joinpath(*target.split(".")) if target else SRC
    return (base / f"{name}.py").exists() or (base / name / "__init__.py").exists()


def test_every_module_says_what_it_exports_and_others_import_only_that():
    for path in SRC.rglob("*.py"):
        rel = path.relative_to(SRC)
        if rel.name != "__init__.py" or len(rel.parts) == 1:
            names = _module_all(".".join(rel.with_suffix("").parts))
            defined: set[str] = set()
            for n in ast.walk(_tree(path)):
                if isinstance(n, (ast.FunctionDef, ast.ClassDef)):
                    defined.add(n.name)
                elif isinstance(n, ast.Assign):
                    defined |= {x.id for t in n.targets for x in ast.walk(t) if isinstance(x, ast.Name)}
                elif isinstance(n, ast.ImportFrom):
                    defined |= {a.asname or a.name for a in n.names}
                elif isinstance(n, ast.AnnAssign) and isinstance(n.target, ast.Name):
                    defined.add(n.target.id)
            assert names is not None and set(names) <= defined, (rel, set(names or ()) - defined)
    outside = sorted({(m, t, n) for m, pkg, t, tpkg, n in _imports()
                      if tpkg != pkg and not n.startswith("_") and not _is_module(t, n)
                      and _module_all(t) is not None and n not in (_module_all(t) or ())})
    assert not outside, f"imported across stages but not in the module's __all__: {outside}"
