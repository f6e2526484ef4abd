"""The display modules: small, documented, and imported in one order, at the top, with no cycle
(src/ricci/display/__init__.py lists them)."""

from __future__ import annotations

import ast
from pathlib import Path

DISPLAY = Path(__file__).resolve().parents[2] / "src" / "ricci" / "display"

#: each module imports only modules before it
ORDER = ["notation", "implicit_sums", "render", "matrix_algebra", "matrix_convert", "matrix_render",
         "matrix", "steps", "steps_print", "steps_sections", "report"]


def _modules() -> dict[str, ast.Module]:
    return {p.stem: ast.parse(p.read_text()) for p in DISPLAY.glob("*.py") if p.stem != "__init__"}


def _display_imports(tree: ast.Module) -> list[tuple[str, bool]]:
    """(module of display imported, whether at the top level) for each ``from .x import``."""
    top = {id(n) for n in tree.body}
    return [(n.module or "", id(n) in top) for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom) and n.level == 1]


def test_every_module_is_listed_small_and_documented():
    mods = _modules()
    assert set(mods) == set(ORDER)
    for p in DISPLAY.glob("*.py"):
        assert len(p.read_text().splitlines()) <= 600, p.name
        assert ast.get_docstring(ast.parse(p.read_text())), p.name


def test_display_modules_import_each_other_at_the_top_in_order():
    for name, tree in _modules().items():
        for target, at_top in _display_imports(tree):
            assert at_top, f"{name} imports .{target} inside a function"
            assert ORDER.index(target) < ORDER.index(name), f"{name} imports .{target}, a later module"
