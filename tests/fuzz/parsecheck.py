"""The invariants every input of the parser fuzzers must satisfy.

For each syntax (``ricci``, ``latex``, ``auto``), ``ricci.parse(text, syntax=...)``

* returns a Program or raises ``RicciError``, nothing else (``crash``);
* a ``RicciError`` carries a line and a column inside the text (``span``; lines as
  ``str.splitlines`` counts them, a leading BOM not counted), the caret block shows that
  line (``caret``), and only errors that are not about a place in the text (an empty
  program, a size limit) lack them (``no-span``);
* takes under 1 s per 100 kB (``slow``: reported with a generous margin, see :data:`SLOW`, and
  only when a second parse is slow too).

For every accepted program ``p``:

* ``parse(str(p)) == p`` and ``str(parse(str(p))) == str(p)`` (``roundtrip``, ``reprint``);
* ``p.latex()`` and ``p.unicode()`` raise nothing but ``RicciError`` (``print``);
* ``p.latex()`` reads back as LaTeX to the same program up to the spelling of names
  (``latex-readback``; docs/latex-input.md: what ricci prints in LaTeX reads back), and
  ``p.unicode()`` as Unicode, given the notation or detected as it (``unicode-readback``);
* ``ricci.grad(p, wrt=<an input>)``, its text and its NumPy source raise nothing but
  ``RicciError`` (``grad``).
"""

from __future__ import annotations

import contextlib
import random
import re
import time
import traceback
import warnings
from dataclasses import dataclass, field

import ricci
from ricci.syntax.resolve import parse_detected

SYNTAXES = ("ricci", "latex", "auto")


@dataclass(frozen=True)
class Slow:
    """A parse is slow when it takes longer than ``fixed + factor * (1 s per 100 kB)``."""

    fixed: float = 1.0
    factor: float = 5.0

    def limit(self, n_chars: int) -> float:
        return self.fixed + self.factor * n_chars / 100_000


SLOW = Slow()
#: what the fast tier fails on (the long modes report every ``SLOW`` violation)
GROSS = Slow(fixed=2.0, factor=20.0)


@dataclass
class Finding:
    invariant: str
    syntax: str
    message: str
    where: str = ""
    seconds: float = 0.0

    def signature(self) -> str:
        head = re.sub(r"'[^']*'|\d+", "_", self.message.splitlines()[0] if self.message else "")[:60]
        if self.invariant in ("slow", "hang"):
            head = ""
        return f"{self.invariant}|{self.syntax}|{self.where}|{head}"


@dataclass
class Outcome:
    """What happened to one input: per syntax ``accepted`` / ``rejected``, and findings."""

    results: dict[str, str] = field(default_factory=dict)
    findings: list[Finding] = field(default_factory=list)
    seconds: float = 0.0


def where(exc: BaseException) -> str:
    """The innermost frame in ricci's sources."""
    frames = traceback.extract_tb(exc.__traceback__)
    for fr in reversed(frames):
        if "/ricci/" in fr.filename:
            return f"{fr.filename.rsplit('/', 1)[-1]}:{fr.name}"
    return frames[-1].name if frames else ""


def _crash(inv: str, syntax: str, exc: BaseException) -> Finding:
    tb = "".join(traceback.format_exception(exc, limit=-4)).strip()
    return Finding(inv, syntax, f"{type(exc).__name__}: {str(exc)[:300]}\n{tb[-1500:]}", where(exc))


def check_span(text: str, e: ricci.RicciError, syntax: str) -> Finding | None:
    """The error points inside the text, and its caret block shows the line it names."""
    if e.line is None:
        msg = e.message
        if "empty" in msg or "limit" in msg:
            return None
        return Finding("no-span", syntax, f"a parse error without a line and column: {msg}")
    lines = text.removeprefix("\ufeff").splitlines() or [""]
    col = e.column or 0
    inside = 1 <= e.line <= len(lines) and 1 <= col <= len(lines[e.line - 1]) + 1
    at_end = e.line == len(lines) + 1 and col == 1 and text[-1:] in ("\n", "\r")
    if not (inside or at_end):
        return Finding("span", syntax, f"line {e.line}, column {e.column} is outside the text "
                                       f"({len(lines)} lines): {e.message}")
    shown = lines[e.line - 1] if inside else ""
    if shown.strip() and len(shown) < 2000 and f"{e.line} | {shown}" not in str(e):
        return Finding("caret", syntax, f"the caret block of line {e.line} does not show that line "
                                        f"({shown[:60]!r}): {e.message}")
    return None


_IDENT = re.compile(r"\w+")
_FIXED = {"sum", "delta", "size", "inv", "det", "logdet", "trace", "exp", "log", "sqrt", "tanh", "sigmoid",
          "relu", "abs", "sin", "cos", "softplus", "step", "sign", "log1p", "expm1", "erf", "atan"}


def alpha_text(p: ricci.Program) -> str:
    """``str(p)`` with every name and index renamed in order of appearance: equal for
    programs that differ only in how names are spelled (``μ`` and ``mu``)."""
    table: dict[str, str] = {}

    def sub(m: re.Match) -> str:
        w = m.group(0)
        if w in _FIXED or w[0].isdigit():
            return w
        return table.setdefault(w, f"n{len(table)}")

    return _IDENT.sub(sub, str(p))


def same_values(p: ricci.Program, q: ricci.Program) -> bool | None:
    """Whether two programs (names matched in order) compute the same values at random
    inputs, every index of size 3 (ricci's reference interpreter); None when that cannot
    be told (they do not evaluate, or not to finite numbers, or a value differs only where
    the program is ill-conditioned: an ulp of input moves it by more than the tolerance,
    ``sin`` of numbers near 1e20, so two spellings rounded differently cannot be told apart)."""
    import numpy as np

    if len(p.inputs) != len(q.inputs) or len(p.statements) != len(q.statements) or \
            any(p.rank(a) != q.rank(b) for a, b in zip(p.inputs, q.inputs)):
        return False
    rng = np.random.default_rng(0)
    arrays = []
    for name in p.inputs:
        x = rng.standard_normal((3,) * p.rank(name))
        arrays.append(x + 3 * np.eye(3) if x.ndim == 2 else x)
    vp, vq = _values(p, arrays), _values(q, arrays)
    if vp is None or vq is None:
        return None
    nudged = None
    for a, b in zip(p.statements, q.statements):
        x, y = np.asarray(vp[a.name], dtype=float), np.asarray(vq[b.name], dtype=float)
        if x.shape != y.shape:
            return False
        if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
            return None
        if not np.allclose(x, y, rtol=1e-9, atol=1e-12):
            nudged = nudged or _values(p, [a * (1 + 4e-16) for a in arrays])
            moved = nudged is None or not np.allclose(x, np.asarray(nudged[a.name], dtype=float),
                                                      rtol=1e-9, atol=1e-12)
            return None if moved else False
    return True


def _values(p: ricci.Program, arrays: list) -> dict | None:
    """``p``'s values at ``arrays`` (its inputs in order), every index of size 3; None when
    it does not evaluate."""
    import numpy as np

    from ricci.codegen.binding import all_dims
    from ricci.verify.evaluate import evaluate

    try:
        with np.errstate(all="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return evaluate(p, dict(zip(p.inputs, arrays)), dim_sizes={d: 3 for d in all_dims(p)})
    except Exception:  # noqa: BLE001 - cannot tell
        return None


def check(text: str, *, grad: bool = True, seed: int = 0) -> Outcome:
    """Run every invariant on one input."""
    out = Outcome()
    t_all = time.perf_counter()
    accepted: dict[str, ricci.Program] = {}
    for syntax in SYNTAXES:
        t0 = time.perf_counter()
        try:
            p = ricci.parse(text, syntax=syntax)
        except ricci.RicciError as e:
            out.results[syntax] = "rejected"
            f = check_span(text, e, syntax)
            if f:
                out.findings.append(f)
        except BaseException as e:
            if isinstance(e, KeyboardInterrupt):
                raise
            out.results[syntax] = "crash"
            out.findings.append(_crash("crash", syntax, e))
        else:
            out.results[syntax] = "accepted"
            accepted[syntax] = p
        dt = time.perf_counter() - t0
        if dt > SLOW.limit(len(text)):
            # once more: a parse that is slow is slow twice; a lone blip is the machine's
            # (another process, a worker's first import), not the parser's
            t0 = time.perf_counter()
            with contextlib.suppress(Exception):
                ricci.parse(text, syntax=syntax)
            dt = min(dt, time.perf_counter() - t0)
        if dt > SLOW.limit(len(text)):
            out.findings.append(Finding("slow", syntax, f"parse took {dt:.2f} s for {len(text)} characters "
                                                        f"(limit {SLOW.limit(len(text)):.2f} s)", seconds=dt))
    seen: list[ricci.Program] = []
    for syntax, p in accepted.items():
        if any(p is q or p == q for q in seen):
            continue
        seen.append(p)
        out.findings += check_program(p, syntax, grad=grad, seed=seed)
    out.seconds = time.perf_counter() - t_all
    return out


def check_program(p: ricci.Program, syntax: str, *, grad: bool = True, seed: int = 0) -> list[Finding]:
    """The invariants of an accepted program."""
    found: list[Finding] = []
    try:
        s = str(p)
    except BaseException as e:  # noqa: BLE001
        return [_crash("print", syntax, e)]
    try:
        q = ricci.parse(s, syntax="ricci")  # str(p) is ricci syntax (auto would read a scalar v_i as LaTeX)
    except ricci.RicciError as e:
        found.append(Finding("roundtrip", syntax, f"str(p) does not parse back:\n{s[:500]}\n{e}", where(e)))
    except BaseException as e:  # noqa: BLE001
        found.append(_crash("roundtrip", syntax, e))
    else:
        if q != p:
            found.append(Finding("roundtrip", syntax, f"parse(str(p)) != p:\n{s[:500]}"))
        else:
            try:
                s2 = str(q)
            except BaseException as e:  # noqa: BLE001
                found.append(_crash("reprint", syntax, e))
            else:
                if s2 != s:
                    found.append(Finding("reprint", syntax, f"str(parse(str(p))) != str(p):\n{s[:300]}\n{s2[:300]}"))
    printed: dict[str, str] = {}
    for what in ("latex", "unicode"):
        try:
            printed[what] = getattr(p, what)()
        except ricci.RicciError:
            pass
        except BaseException as e:  # noqa: BLE001
            found.append(_crash("print", syntax, e))
    for what, read_as in (("latex", "latex"), ("unicode", "unicode"), ("unicode", "auto")):
        tex = printed.get(what)
        if tex is None or len(tex) >= 200_000:
            continue
        kind = f"{what}-readback"
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                back, detected = parse_detected(tex, read_as)
        except ricci.RicciError as e:
            if read_as == "auto" or "more than the limit" in str(e):
                # detected as another notation, which refuses it: not a misreading; or the
                # printed text nests deeper than Limits.nesting (parentheses the printer
                # adds, `-(-(...))`): a documented limit, refused clearly
                continue
            found.append(Finding(kind, syntax, f"p.{what}() does not read back:\n{tex[:400]}\n{e}", where(e)))
        except BaseException as e:  # noqa: BLE001
            found.append(_crash(kind, syntax, e))
        else:
            if detected != what:
                continue  # Unicode text another notation reads too (Y_i = np_i is LaTeX's n p_i)
            if alpha_text(back) != alpha_text(p) and same_values(p, back) is False:
                found.append(Finding(kind, syntax, f"p.{what}() reads back as another program:\n"
                                                   f"{tex[:300]}\n-> {str(back)[:300]}\n!= {s[:300]}"))
    if grad and p.inputs:
        wrt = random.Random(seed).choice(p.inputs)
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                d = ricci.grad(p, wrt=wrt)
                str(d)
                d.source("numpy")
        except ricci.RicciError:
            pass
        except BaseException as e:  # noqa: BLE001
            found.append(_crash("grad", syntax, e))
    return found
