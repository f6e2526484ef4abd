"""A program's computation graph for the playground: its nodes (inputs, statements, the
output), its edges (a tensor read on a statement's right side -> that statement), the
order of the reverse sweep, and a self-contained SVG drawing of it (no script, no
external reference, every name escaped).

The drawing is layered by dependency depth (inputs in the first column, a statement one
column right of the deepest tensor it reads); inputs are ellipses, statements boxes, the
differentiated output a box with a double border; each node on the reverse sweep carries
its place in it (1 = the output, whose adjoint is seeded first).
"""

from __future__ import annotations

from typing import Any, Sequence
from xml.sax.saxutils import escape, quoteattr

from ..ir.program import Program, ancestors, depends_on
from ..ir.traversal import tensor_refs

__all__ = ["program_graph"]

_COL = 170  # column pitch
_ROW = 64  # row pitch
_H = 34  # node height
_PAD = 24


def _width(name: str) -> int:
    return max(56, 9 * len(name) + 28)


def program_graph(program: Program, wrt: Sequence[str], of: str) -> dict[str, Any]:
    """``{"nodes", "edges", "reverse_order", "svg"}`` of ``program`` differentiated at
    ``of`` with respect to ``wrt`` (see the module docstring)."""
    nodes: list[dict[str, str]] = [{"id": n, "kind": "input"} for n in program.inputs]
    nodes += [{"id": s.name, "kind": "output" if s.name == of else "statement"} for s in program.statements]
    edges: list[list[str]] = []
    for s in program.statements:
        seen: list[str] = []
        for r in tensor_refs(s.rhs):
            if r.name not in seen:
                seen.append(r.name)
                edges.append([r.name, s.name])
    # the reverse sweep: the statements between the wrt inputs and the output, last first,
    # then the inputs whose adjoints it completes
    on_path = ancestors(program, of) & depends_on(program, wrt) if of in program.defined else set()
    order = [s.name for s in reversed(program.statements) if s.name in on_path]
    order += [w for w in wrt if w in program.inputs and w in on_path]
    return {"nodes": nodes, "edges": edges, "reverse_order": order,
            "svg": _svg(program, nodes, edges, order)}


def _svg(program: Program, nodes: list[dict[str, str]], edges: list[list[str]], order: list[str]) -> str:
    depth: dict[str, int] = {n: 0 for n in program.inputs}
    for s in program.statements:
        depth[s.name] = 1 + max((depth.get(r.name, 0) for r in tensor_refs(s.rhs)), default=0)
    columns: dict[int, list[str]] = {}
    for nd in nodes:
        columns.setdefault(depth[nd["id"]], []).append(nd["id"])
    col_w = {c: max(_width(n) for n in names) for c, names in columns.items()}
    x0: dict[int, int] = {}
    x = _PAD
    for c in sorted(columns):
        x0[c] = x
        x += col_w[c] + _COL - 110
    tallest = max(len(v) for v in columns.values())
    height = _PAD * 2 + tallest * _ROW + 60
    width = max(x + _PAD, _PAD + 460)  # the legend fits
    pos: dict[str, tuple[float, float, int]] = {}  # center x, center y, width
    for c, names in columns.items():
        top = _PAD + (tallest - len(names)) * _ROW / 2
        for k, n in enumerate(names):
            w = _width(n)
            pos[n] = (x0[c] + col_w[c] / 2, top + k * _ROW + _H / 2, w)
    kind = {nd["id"]: nd["kind"] for nd in nodes}
    place = {n: k + 1 for k, n in enumerate(order)}
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" role="img" font-family="sans-serif" font-size="13">',
           "<title>computation graph</title>",
           '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
           'markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555"/>'
           "</marker></defs>"]
    for a, b in edges:
        (xa, ya, wa), (xb, yb, wb) = pos[a], pos[b]
        out.append(f'<line x1="{xa + wa / 2:.1f}" y1="{ya:.1f}" x2="{xb - wb / 2 - 2:.1f}" y2="{yb:.1f}" '
                   f'stroke="#555" stroke-width="1.2" marker-end="url(#arrow)"/>')
    for nd in nodes:
        n = nd["id"]
        cx, cy, w = pos[n]
        label = escape(n)
        out.append(f"<g><title>{escape(kind[n])} {label}</title>")
        if kind[n] == "input":
            out.append(f'<ellipse cx="{cx:.1f}" cy="{cy:.1f}" rx="{w / 2:.1f}" ry="{_H / 2}" '
                       f'fill="#eef4ff" stroke="#3060a0"/>')
        else:
            out.append(f'<rect x="{cx - w / 2:.1f}" y="{cy - _H / 2:.1f}" width="{w}" height="{_H}" rx="4" '
                       f'fill="{"#fff4e0" if kind[n] == "output" else "#ffffff"}" stroke="#a06010" '
                       f'stroke-width="{2.5 if kind[n] == "output" else 1.2}"/>')
            if kind[n] == "output":
                out.append(f'<rect x="{cx - w / 2 + 3:.1f}" y="{cy - _H / 2 + 3:.1f}" width="{w - 6}" '
                           f'height="{_H - 6}" rx="3" fill="none" stroke="#a06010"/>')
        out.append(f'<text x="{cx:.1f}" y="{cy + 4.5:.1f}" text-anchor="middle">{label}</text>')
        if n in place:
            bx, by = cx + w / 2 - 2, cy - _H / 2 + 2
            out.append(f'<circle cx="{bx:.1f}" cy="{by:.1f}" r="9" fill="#c03030"/>'
                       f'<text x="{bx:.1f}" y="{by + 4:.1f}" text-anchor="middle" font-size="11" '
                       f'fill="#ffffff">{place[n]}</text>')
        out.append("</g>")
    ly = height - 30
    out.append(f'<g font-size="11"><ellipse cx="{_PAD + 18}" cy="{ly}" rx="16" ry="9" fill="#eef4ff" '
               f'stroke="#3060a0"/><text x="{_PAD + 40}" y="{ly + 4}">input</text>'
               f'<rect x="{_PAD + 80}" y="{ly - 9}" width="30" height="18" rx="3" fill="#ffffff" '
               f'stroke="#a06010"/><text x="{_PAD + 116}" y="{ly + 4}">statement</text>'
               f'<rect x="{_PAD + 180}" y="{ly - 9}" width="30" height="18" rx="3" fill="#fff4e0" '
               f'stroke="#a06010" stroke-width="2.5"/><text x="{_PAD + 216}" y="{ly + 4}">output</text>'
               f'<circle cx="{_PAD + 270}" cy="{ly}" r="8" fill="#c03030"/>'
               f'<text x="{_PAD + 284}" y="{ly + 4}">{quoteattr("place in the reverse sweep")[1:-1]}</text></g>')
    out.append("</svg>")
    return "\n".join(out)
