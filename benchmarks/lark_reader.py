"""Would lark (LALR) read ricci's notation faster than ricci's hand-written reader?

The decision this measures is in docs/internals.md ("The readers"). Run with lark installed
(it is not a dependency of ricci)::

    pip install lark && python benchmarks/lark_reader.py

Each side runs in a fresh process, one thread; the figure is the best of 5 runs. The lark
side only builds lark's parse tree (no conversion to ricci's syntax tree, no size classes),
so its figure is a lower bound of what a lark reader would cost.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

GRAMMAR = r"""
start: _NL* (statement (_SEP+ statement)*)? _SEP*
_SEP: _NL | ";"
statement: NAME ("[" names "]")? "=" expr
names: NAME ("," NAME)*
?expr: term | expr "+" term -> add | expr "-" term -> sub
?term: unary | term "*" unary -> mul | term "/" unary -> div
?unary: power | "-" unary -> neg | "+" unary -> pos
?power: atom | atom ("^" | "**") unary -> pow
?atom: NUMBER -> num
     | "(" expr ")"
     | "sum" "[" names "]" "(" expr ")" -> sum
     | "delta" "[" names "]" -> delta
     | "size" "(" NAME ")" -> size
     | NAME "(" expr ")" -> call
     | NAME "[" names "]" -> ref
     | NAME -> scalar
NAME.-1: /(?!(sum|delta|size)\b)[^\W\d]\w*/
NUMBER: /(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?/
_NL: /(\r?\n|\r)+/
COMMENT: /#[^\n\r]*/
%ignore /[ \t\f]+/
%ignore COMMENT
"""

CASES = {
    "10,000 statements": "\n".join(f"h{k + 1}[i] = tanh(W{k}[i,j] * h{k}[j] + b{k}[i])" for k in range(10000)),
    "nesting 100": "y = " + "(" * 100 + "x" + ")" * 100,
}

SIDE = r"""
import json, sys, time
which, text = sys.argv[1], sys.stdin.read()
if which == "lark":
    from lark import Lark
    parse = Lark(json.loads(sys.argv[2]), parser="lalr").parse
else:
    from ricci.syntax.parse import parse_statements as parse
best = 1e9
for _ in range(5):
    t = time.perf_counter(); parse(text); best = min(best, time.perf_counter() - t)
print(best)
"""


def run(which: str, text: str) -> float:
    out = subprocess.run([sys.executable, "-c", SIDE, which, json.dumps(GRAMMAR)], input=text, text=True,
                         capture_output=True, check=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    return float(out.stdout)


if __name__ == "__main__":
    for name, text in CASES.items():
        r, lk = run("ricci", text), run("lark", text)
        print(f"{name:20s} ricci {r * 1000:9.2f} ms   lark {lk * 1000:9.2f} ms   lark / ricci {lk / r:5.2f}")
