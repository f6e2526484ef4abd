"""Test-case reduction: shrink a failing input while the failure persists.

* :func:`ddmin` is Zeller's delta debugging over a sequence (remove chunks, halving the
  chunk size when no chunk can go);
* :func:`reduce_text` applies it to program text, on lines, then on tokens, then on
  characters;
* :func:`reduce_model` shrinks a generated :class:`~tests.fuzz.programs.Model`: fewer
  inputs differentiated, statements deleted, subtrees replaced by a child, by a fresh input
  with the same free letters or by a number, surface style made plain.

Every reducer takes ``fails(candidate) -> bool`` (true when the candidate still shows the
*same* failure) and a budget of calls to it, and a deadline in seconds.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import TypeVar

from .programs import (
    Add,
    Call,
    DeltaN,
    MatScalar,
    Model,
    Mul,
    Node,
    Num,
    Ref,
    SizeN,
    Stmt,
    Style,
    names_in,
    walk,
)

T = TypeVar("T")


class Budget:
    """At most ``calls`` predicate calls and ``seconds`` of wall time."""

    def __init__(self, calls: int, seconds: float) -> None:
        self.calls = calls
        self.deadline = time.monotonic() + seconds

    def spend(self) -> bool:
        self.calls -= 1
        return self.calls >= 0 and time.monotonic() < self.deadline


def ddmin(items: Sequence[T], fails: Callable[[list[T]], bool], budget: Budget) -> list[T]:
    """A 1-minimal (as far as the budget goes) sub-sequence of ``items`` that still fails."""
    cur = list(items)
    n = 2
    while len(cur) >= 2:
        chunk = max(1, len(cur) // n)
        progressed = False
        for start in range(0, len(cur), chunk):
            cand = cur[:start] + cur[start + chunk:]
            if not cand:
                continue
            if not budget.spend():
                return cur
            if fails(cand):
                cur = cand
                n = max(n - 1, 2)
                progressed = True
                break
        if not progressed:
            if chunk == 1:
                break
            n = min(len(cur), n * 2)
    return cur


_TOKEN = re.compile(r"\s+|\\[A-Za-z]+|\w+|.", re.DOTALL)


def reduce_text(text: str, fails: Callable[[str], bool], *, calls: int = 400,
                seconds: float = 30.0) -> str:
    """A smaller text with the same failure: ddmin on lines, tokens, then characters, and
    long digit runs shortened."""
    b = Budget(calls, seconds)
    cur = text
    lines = cur.splitlines(keepends=True)
    if len(lines) > 1:
        cur = "".join(ddmin(lines, lambda xs: fails("".join(xs)), b))
    toks = _TOKEN.findall(cur)
    if len(toks) > 1:
        cur = "".join(ddmin(toks, lambda xs: fails("".join(xs)), b))
    if len(cur) <= 400:
        cur = "".join(ddmin(list(cur), lambda xs: fails("".join(xs)), b))
    # spaces that can go, one at a time
    k = 0
    while k < len(cur) and b.calls > 0:
        if cur[k] == " ":
            cand = cur[:k] + cur[k + 1:]
            if b.spend() and fails(cand):
                cur = cand
                continue
        k += 1
    return cur


# ---------------------------------------------------------------- models


def _prune_inputs(m: Model) -> Model | None:
    """The model without the inputs nothing reads; None when that leaves nothing to
    differentiate (the case would change)."""
    used: set[str] = set()
    for s in m.statements:
        used |= names_in(s.rhs)
    inputs = {k: v for k, v in m.inputs.items() if k in used}
    tensors = {k: v for k, v in m.tensors.items() if k in used or any(s.name == k for s in m.statements)}
    wrt = tuple(w for w in m.wrt if w in inputs)
    if len(wrt) != len(m.wrt):
        return None
    return replace(m, inputs=inputs, tensors=tensors, wrt=wrt)


def _fresh_input(m: Model, classes: tuple[int, ...]) -> tuple[Model, str]:
    k = 0
    while f"R{k}" in m.tensors:
        k += 1
    name = f"R{k}"
    return replace(m, tensors={**m.tensors, name: classes}, inputs={**m.inputs, name: "normal"}), name


def _replace_node(n: Node, target: Node, new: Node) -> Node:
    if n is target:
        return new
    kids = n.children()
    if not kids:
        return n
    out = [_replace_node(k, target, new) for k in kids]
    if all(a is b for a, b in zip(out, kids)):
        return n
    return n.with_children(out)


def _candidates(m: Model, st: Stmt, node: Node) -> list[tuple[Model, Node]]:
    """Smaller replacements for ``node`` (in statement ``st``), simplest first."""
    out: list[tuple[Model, Node]] = []
    free = set(node.free)
    if not node.free and not isinstance(node, Num):
        out.append((m, Num((), "2")))
    if not isinstance(node, (Ref, Num, SizeN, DeltaN, MatScalar)):
        classes = tuple(st.letters[x] for x in node.free)
        m2, name = _fresh_input(m, classes)
        out.append((m2, Ref(node.free, name, node.free)))
    if isinstance(node, Ref):  # a reference to a statement that only copies a tensor: inlined
        src = next((t for t in m.statements if t.name == node.name), None)
        if src is not None and isinstance(src.rhs, Ref) and sorted(src.rhs.letters) == sorted(src.lhs) \
                and len(set(src.lhs)) == len(src.lhs) and not getattr(src.rhs, "stable", None):
            ren = dict(zip(src.lhs, node.letters))
            out.append((m, Ref(node.free, src.rhs.name, tuple(ren[x] for x in src.rhs.letters))))
    for kid in node.children():
        if set(kid.free) == free:
            out.append((m, kid))
    if isinstance(node, (Add, Mul)) and len(node.children()) > 2:
        for k in range(len(node.children())):
            if isinstance(node, Add):
                out.append((m, replace(node, terms=node.terms[:k] + node.terms[k + 1:],
                                       signs=node.signs[:k] + node.signs[k + 1:])))
            elif k > 0:
                out.append((m, replace(node, factors=node.factors[:k] + node.factors[k + 1:],
                                       divides=node.divides[:k] + node.divides[k + 1:], stable=None)))
    if isinstance(node, Mul) and any(node.divides):
        out.append((m, replace(node, divides=[False] * len(node.factors), stable=None)))
    if isinstance(node, Call) and node.fn != "exp" and not node.stable:
        out.append((m, replace(node, fn="exp")))
    return out


def reduce_model(m: Model, fails: Callable[[Model], bool], *, calls: int = 300,
                 seconds: float = 60.0) -> Model:
    """A smaller model with the same failure (see the module docstring)."""
    b = Budget(calls, seconds)

    def attempt(c: Model) -> Model | None:
        c2 = _prune_inputs(c)
        return c2 if c2 is not None and b.spend() and fails(c2) else None

    cur = attempt(replace(m, style=Style())) or m
    if len(cur.wrt) > 1:
        for w in cur.wrt:
            c = attempt(replace(cur, wrt=(w,)))
            if c is not None:
                cur = c
                break
    changed = True
    while changed and b.calls > 0:
        changed = False
        frozen = _protected(cur)
        # statements nothing reads, other than the output
        for s in list(cur.statements):
            if s.name == cur.of or s.name in frozen or any(s.name in names_in(t.rhs) for t in cur.statements):
                continue
            c = attempt(replace(cur, statements=[t for t in cur.statements if t is not s]))
            if c is not None:
                cur, changed = c, True
        # subtrees, top down
        for si, s in enumerate(cur.statements):
            if s.name in frozen:
                continue
            stack = [s.rhs]
            while stack and b.calls > 0:
                node = stack.pop(0)
                done = False
                for m2, new in _candidates(cur, s, node):
                    rhs = _replace_node(s.rhs, node, new)
                    st2 = replace(s, rhs=rhs)
                    c = attempt(replace(m2, statements=cur.statements[:si] + [st2] + cur.statements[si + 1:]))
                    if c is not None:
                        cur, changed, done = c, True, True
                        break
                if done:
                    break  # the statement changed: walk it again on the next round
                stack.extend(node.children())
    return cur


def _protected(m: Model) -> set[str]:
    """Statements a node with a stable oracle form (a split softmax) reads, directly or
    not: changing them would make the oracle's form mean something else."""
    defined = {s.name: s for s in m.statements}
    todo: list[str] = []
    for s in m.statements:
        for n in walk(s.rhs):
            if getattr(n, "stable", None) is not None:
                todo += [x for x in names_in(n) if x in defined]
    out: set[str] = set()
    while todo:
        x = todo.pop()
        if x not in out:
            out.add(x)
            todo += [y for y in names_in(defined[x].rhs) if y in defined]
    return out


def node_count(m: Model) -> int:
    return sum(1 for s in m.statements for _ in walk(s.rhs))


