"""Deep recursion never crashes the process, whatever thread calls ricci and whatever state
the interpreter is in.

Regression (CI crash, exit 139): after a ``torch.compile`` whose backend failed (which
ricci reports as a RicciError, so a user goes on), torch 2.13 leaves its frame-evaluation
hook installed for the rest of the process; every Python frame then costs C stack, and a
30,000-frame recursion (the room guarded operations get) overflowed the 8 MB main thread:
a segmentation fault instead of "nested too deeply". Guarded operations now run on
deep-stack worker threads (``ricci.bounds``); these tests run in a fresh interpreter, so a
crash is a failed test, not a dead test run.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading

import pytest

import ricci
from ricci import limits

DEEP = """
import sys, threading
import ricci
from ricci import limits

def deep_parse():
    with limits(nesting=10**6):
        try:
            ricci.parse("L = " + "(" * 50_000 + "x" + ")" * 50_000)
        except ricci.RicciError as e:
            assert "nested too deeply" in e.message, e.message
            return "refused"
    return "parsed"

def deepest_allowed():
    text = "L = " + "tanh(" * 128 + "sum[i](x[i])" + ")" * 128
    d = ricci.grad(text, wrt="x")
    assert "x" in d.source("numpy")
    return "derived"

def in_thread(fn, stack):
    out = []
    old = threading.stack_size(stack)
    try:
        t = threading.Thread(target=lambda: out.append(fn()))
        t.start()
    finally:
        threading.stack_size(old)
    t.join()
    return out[0] if out else "thread died"

results = [deep_parse(), deepest_allowed(),
           in_thread(deep_parse, 256 << 10), in_thread(deepest_allowed, 256 << 10)]
print(results, sys.getrecursionlimit())
assert results == ["refused", "derived", "refused", "derived"], results
assert sys.getrecursionlimit() == 1000  # restored once no ricci call runs
"""

BROKEN_COMPILE = """
import numpy as np, torch, ricci
from ricci.codegen import calling

def broken(gm, example_inputs):
    raise RuntimeError("no C++ compiler on this machine")

calling.TORCH_COMPILE_BACKEND = broken
f = ricci.grad("L = sum[i](x[i]^2)", wrt="x").compile("torch", jit=True)
try:
    f(x=np.ones(3))
except ricci.RicciError as e:
    assert "torch.compile failed" in e.message
else:
    raise AssertionError("the broken backend compiled")
"""


def _run(code: str) -> None:
    r = subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, f"exit {r.returncode}\n{r.stdout}\n{r.stderr[-3000:]}"


@pytest.mark.slow
def test_deep_recursion_from_the_main_thread_and_a_small_stack_thread():
    _run(DEEP)


@pytest.mark.slow
def test_deep_recursion_after_a_failed_torch_compile():
    pytest.importorskip("torch")
    _run(BROKEN_COMPILE + DEEP)


def test_guarded_calls_see_the_callers_limits_and_raise_its_errors():
    """The hand-over to the worker keeps the caller's context (limits) and exceptions."""
    with limits(nesting=3):
        with pytest.raises(ricci.RicciError, match="4 levels deep, more than the limit of 3"):
            ricci.parse("L = exp(exp(exp(exp(x))))")
    assert ricci.parse("L = exp(exp(exp(exp(x))))")


def test_threads_calling_at_once_each_get_their_own_answer():
    texts = [f"L = sum[i](x[i]^{k})" for k in range(2, 10)]
    answers: dict[int, str] = {}

    def work(k: int) -> None:
        answers[k] = ricci.grad(texts[k], wrt="x").source("numpy")

    threads = [threading.Thread(target=work, args=(k,)) for k in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert answers == {k: ricci.grad(t, wrt="x").source("numpy") for k, t in enumerate(texts)}


def test_where_no_thread_can_start_the_call_runs_in_the_callers(monkeypatch):
    import ricci.bounds as bounds

    def refuse(self, pool):
        raise RuntimeError("can't start new thread")

    monkeypatch.setattr(bounds._Worker, "__init__", refuse)
    monkeypatch.setattr(bounds, "_pool", bounds._Pool())  # no idle worker to reuse
    assert ricci.grad("L = sum[i](x[i]^2)", wrt="x").source("numpy")
    with pytest.raises(ricci.RicciError, match="4 levels deep"), limits(nesting=3):
        ricci.parse("L = exp(exp(exp(exp(x))))")
