"""The mutation fuzzer: corpus programs with byte, character and token mutations.

A mutant is one to four mutations of a corpus text: delete, duplicate or swap a span,
insert an operator, a bracket, a keyword, a Unicode letter or digit, a control character
or a NUL, truncate, splice with another corpus text, and token-level deletes, duplicates,
swaps and replacements (a name by another name or a reserved word, a number by an edge
number, a bracket by another kind). A mutant is a pure function of its seed.
"""

from __future__ import annotations

import random
import re

from .corpus import corpus
from .textgen import HUGE_NUMBERS, NUMBERS

INSERTS = ("+", "-", "*", "/", "^", "**", "(", ")", "[", "]", ",", "=", ";", "#", "\n", "\r", "\t", " ",
           "sum[k](", "delta[i,j]", "size(k)", "inv(A)[i,j]", "det(A)", "logdet(", "exp(", "[i]", "[i,j]",
           "\\frac{", "\\left(", "\\right)", "{", "}", "_", "_{ij}", "^{", "\\", "$", "&", "%", "\\\\",
           "\\sum_k ", "\\sigma(", "|", "\\mathrm{", "\\hat{", "e^", "\\delta_{ij}", "\\cdot",
           "\x00", "\ufeff", "\u200b", "\u00a0", "\u2028", "\x0c", "\x85", "\x7f", "\ud800",
           "²", "₄", "ｘ", "½", "α", "٣", "ﬁ", "µ", "ı", "∑", "·", "−", "σ", "\u0301",
           "(" * 200, ")" * 200, "-" * 200, "exp(" * 150)
RESERVED = ("sum", "delta", "size", "exp", "log", "inv", "det", "logdet", "relu", "e", "lambda", "_", "x2")
BRACKETS = "()[]{}"
_TOKEN = re.compile(r"\\[A-Za-z]+|[A-Za-z_]\w*|\d+(?:\.\d*)?(?:[eE][+-]?\d+)?|\s+|.", re.DOTALL)


def _span(r: random.Random, n: int) -> tuple[int, int]:
    a = r.randrange(n + 1)
    return a, min(n, a + r.randint(1, 12))


def mutate_once(r: random.Random, s: str, pool: tuple[str, ...]) -> str:
    n = len(s)
    op = r.randrange(12)
    if op == 0 and n:  # delete a span
        a, b = _span(r, n)
        return s[:a] + s[b:]
    if op == 1 and n:  # duplicate a span
        a, b = _span(r, n)
        return s[:b] + s[a:b] + s[b:]
    if op == 2 and n > 2:  # swap two spans
        a, b = sorted(_span(r, n))
        c, d = sorted(_span(r, n))
        if b <= c:
            return s[:a] + s[c:d] + s[b:c] + s[a:b] + s[d:]
        return s
    if op == 3:  # insert something
        k = r.randrange(n + 1)
        return s[:k] + r.choice(INSERTS) + s[k:]
    if op == 4 and n:  # truncate
        return s[:r.randrange(n)]
    if op == 5:  # splice with another program
        other = r.choice(pool)
        return s[:r.randrange(n + 1)] + other[r.randrange(len(other) + 1):]
    if op == 6 and n:  # one random character, any code point
        k = r.randrange(n)
        c = chr(r.choice((r.randrange(32, 127), r.randrange(0x80, 0x3000), r.randrange(0, 32))))
        return s[:k] + c + s[k + 1:]
    toks = _TOKEN.findall(s)
    if not toks:
        return s + r.choice(INSERTS)
    k = r.randrange(len(toks))
    t = toks[k]
    if op == 7:  # delete a token
        del toks[k]
    elif op == 8:  # duplicate a token
        toks.insert(k, t)
    elif op == 9:  # swap two tokens
        j = r.randrange(len(toks))
        toks[k], toks[j] = toks[j], toks[k]
    elif op == 10:  # replace a name or a number
        if t[:1].isdigit():
            toks[k] = r.choice(HUGE_NUMBERS if r.random() < 0.1 else NUMBERS)
        elif t[:1].isalpha() or t[:1] == "_":
            names = [x for x in toks if x[:1].isalpha()] or [t]
            toks[k] = r.choice(RESERVED) if r.random() < 0.4 else r.choice(names)
        else:
            toks[k] = r.choice(INSERTS[:20])
    else:  # change a bracket's kind
        idx = [i for i, x in enumerate(toks) if x in BRACKETS]
        if idx:
            i = r.choice(idx)
            toks[i] = r.choice(BRACKETS)
    return "".join(toks)


def mutant(seed: object) -> str:
    """The mutated corpus program of ``seed``."""
    pool = corpus()
    r = random.Random(f"mutant:{seed}")
    s = r.choice(pool)
    for _ in range(r.choice((1, 1, 1, 2, 2, 3, 4))):
        s = mutate_once(r, s, pool)
    return s
