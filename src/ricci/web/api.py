"""The playground's JSON API as pure functions: a request (the decoded JSON body) in,
``(status, answer)`` out, the answer a dict ready for ``json.dumps`` (docs/playground.md
is the contract). No function raises: a bad field is a 400, a :class:`RicciError` a 422
(with its line, column and caret), a bug a 500 whose message names no internals.

Every computation runs under :func:`ricci.limits` (``seconds`` per request, and tighter
nesting, size and check bounds than a library user gets), and the
:class:`~ricci.errors.RicciWarning` messages it issues are collected per request: the
warning machinery of Python is process-wide, so the computations take one lock
(:data:`COMPUTE_LOCK`) around collecting and computing. Derivations are pure Python
(they hold the interpreter lock anyway), so serialising them costs little; the server
keeps answering health, examples and static files, which never take it.
"""

from __future__ import annotations

import importlib
import threading
import time
import warnings
from typing import Any, Callable, Mapping

from ..bounds import guarded, limits
from ..codegen.backends import BACKENDS as CODE_BACKENDS
from ..derivation import Derivation, grad, hessian, hvp, jacobian
from ..errors import RicciError, RicciWarning
from ..ir.program import Program, output_names
from ..syntax.resolve import parse_detected
from ..verify.check import check as check_gradient
from .gallery import EXAMPLES
from .graph import program_graph

__all__ = ["BACKENDS", "COMPUTE_LOCK", "KINDS", "LIMITS", "MAX_STEPS", "SECONDS", "SYNTAXES", "Answer", "check", "derive",
           "error_body", "examples", "health", "inspect", "latex_document"]

Answer = tuple[int, dict[str, Any]]

#: the default time limit of one request, in seconds
SECONDS = 5.0
#: the bounds besides time (tighter than the library's: a request is at most 64 KiB)
LIMITS: dict[str, Any] = {"nesting": 64, "statements": 500, "text_chars": 65536,
                          "expression_nodes": 400_000, "check_elements": 200_000}
SYNTAXES = ("auto", "ricci", "latex", "unicode", "matrix")
KINDS = ("grad", "jacobian", "hessian", "diagonal", "hvp")
#: the most steps shown (printing them is not interrupted by the time limit: 600 steps print
#: in about a second)
MAX_STEPS = 600
#: the backends code is generated for
BACKENDS = tuple(CODE_BACKENDS)
#: taken around every parse, derivation and check (see the module docstring)
COMPUTE_LOCK = threading.Lock()


class _BadRequest(Exception):
    """A request field that is missing or of the wrong type (a 400)."""


def error_body(message: str, *, hint: str | None = None, line: int | None = None, column: int | None = None,
               length: int | None = None, text: str | None = None) -> dict[str, Any]:
    """The body of every error answer."""
    return {"ok": False, "error": {"message": message, "hint": hint, "line": line, "column": column,
                                   "length": length, "text": text if text is not None else message}}


def _ricci_error(e: RicciError, source: str | None) -> dict[str, Any]:
    e = e.with_source(source) if source is not None else e
    sp = e.span
    return error_body(e.message, hint=e.hint, line=sp.line if sp else None, column=sp.column if sp else None,
                      length=sp.length if sp else None, text=str(e))


# ---------------------------------------------------------------- request fields


def _object(req: Any) -> Mapping[str, Any]:
    if not isinstance(req, dict):
        raise _BadRequest("the request body is a JSON object, such as {\"program\": \"Y[i,j] = X[i,k] * A[k,j]\"}")
    return req


def _program_text(req: Mapping[str, Any]) -> str:
    text = req.get("program")
    if not isinstance(text, str):
        raise _BadRequest("'program' is required: the program text, a string")
    return text


def _choice(req: Mapping[str, Any], key: str, options: tuple[str, ...], default: str) -> str:
    v = req.get(key, default)
    if v is None:
        return default
    if not isinstance(v, str) or v not in options:
        raise _BadRequest(f"'{key}' is one of {', '.join(options)}, not {v!r}"[:300])
    return v


def _names(req: Mapping[str, Any]) -> list[str]:
    v = req.get("wrt")
    if v is None:
        return []
    if isinstance(v, str):
        return v.split()
    if not isinstance(v, list) or not all(isinstance(x, str) for x in v) or len(v) > 100:
        raise _BadRequest("'wrt' is a list of input names, such as [\"X\", \"A\"] (empty: every input)")
    return [x.strip() for x in v if x.strip()]


def _of(req: Mapping[str, Any]) -> str | None:
    v = req.get("of")
    if v is None or v == "":
        return None
    if not isinstance(v, str):
        raise _BadRequest("'of' is null or the name of the output to differentiate")
    return v.strip() or None


def _seed(req: Mapping[str, Any]) -> int:
    v = req.get("seed", 0)
    if v is None:
        return 0
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v < 2**32:
        raise _BadRequest("'seed' is an integer from 0 to 2**32 - 1")
    return v


# ---------------------------------------------------------------- the work


def _guard(what: str, work: Callable[[list[str]], dict[str, Any]], source: Callable[[], str | None],
           seconds: float) -> Answer:
    """Run ``work(warnings_list)`` under the lock and the limits (one deadline for the
    whole request, named ``what``); every failure becomes an error answer."""
    try:
        with COMPUTE_LOCK, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", RicciWarning)
            with limits(seconds=seconds, **LIMITS):
                notes: list[str] = []
                started = time.monotonic()
                body = guarded(what)(work)(notes)
            for w in caught:
                if issubclass(w.category, RicciWarning) and str(w.message) not in notes:
                    notes.append(str(w.message))
        body["warnings"] = notes
        body["seconds"] = round(time.monotonic() - started, 4)
        return 200, body
    except _BadRequest as e:
        return 400, error_body(str(e))
    except RicciError as e:
        return 422, _ricci_error(e, source())
    except RecursionError:
        return 422, error_body("the program is nested too deeply", hint="split it into smaller statements")
    except MemoryError:
        return 422, error_body("the program needs too much memory", hint="make it smaller")
    except Exception as e:  # noqa: BLE001 - an answer, never a traceback
        return 500, error_body(f"internal error ({type(e).__name__}); this is a bug in ricci, please report "
                               "it with the program")


def _read(req: Mapping[str, Any]) -> tuple[str, str, Program]:
    text = _program_text(req)
    syntax = _choice(req, "syntax", SYNTAXES, "auto")
    program, read_as = parse_detected(text, syntax=syntax)
    return text, read_as, program


def _outline(syntax: str, program: Program) -> dict[str, Any]:
    return {"ok": True, "syntax": syntax, "inputs": list(program.inputs), "outputs": output_names(program)}


def _view(fn: Callable[[], Any], deadline: float) -> Any:
    """``fn()``, or ``{"error": why}`` when ricci has no such view; past the deadline the
    time-limit error goes on up (the whole request failed)."""
    try:
        return fn()
    except RicciError as e:
        if time.monotonic() > deadline:
            raise
        return {"error": e.message}


def _in_time(deadline: float, seconds: float) -> None:
    """Raise the time-limit error once ``deadline`` has passed (between views: printing
    does not check the clock itself)."""
    if time.monotonic() > deadline:
        raise RicciError(f"deriving took longer than the time limit of {seconds:g} s",
                         hint="differentiate a shorter program, or fewer inputs")


def _steps(d: Derivation, kind: str, deadline: float, seconds: float) -> dict[str, str]:
    steps = _view(d.steps, deadline)
    if isinstance(steps, dict):
        return steps
    if len(steps) > MAX_STEPS:
        return {"error": f"the derivation has {len(steps)} steps, more than the {MAX_STEPS} shown here; "
                         f"the command line prints them all (ricci {'hessian' if kind == 'diagonal' else kind} "
                         "PROGRAM --wrt ... --steps)"}
    _in_time(deadline, seconds)
    return {"text": steps.text("text"), "latex": steps.latex()}


def _text_view(fn: Callable[[], str], deadline: float) -> str:
    got = _view(fn, deadline)
    return got if isinstance(got, str) else f"(none: {got['error']})"


def _code(d: Derivation, backend: str, deadline: float) -> str:
    try:
        return d.source(backend)
    except RicciError as e:
        if time.monotonic() > deadline:
            raise
        return f"# no {backend} code: {e.message}"


def _derivation(program: Program, kind: str, wrt: list[str], of: str | None) -> Derivation:
    if not wrt:
        wrt = list(program.inputs)
    if not wrt:
        raise RicciError("the program has no inputs to differentiate with respect to")
    if kind in ("grad", "jacobian"):
        return (grad if kind == "grad" else jacobian)(program, wrt, of=of)
    if kind == "hvp":
        if len(wrt) != 1:
            raise RicciError(f"a Hessian-vector product is with respect to one input; wrt names {len(wrt)} "
                             f"({', '.join(wrt)})", hint="choose one input")
        return hvp(program, wrt[0], of=of)
    if len(wrt) > 2:
        raise RicciError(f"a Hessian is with respect to one input (or two, for a mixed one); wrt names "
                         f"{len(wrt)} ({', '.join(wrt)})", hint="choose one input, or two")
    return hessian(program, wrt[0] if len(wrt) == 1 else tuple(wrt), of=of, diagonal=kind == "diagonal")


def latex_document(program: Program, d: Derivation) -> str:
    """A complete LaTeX document (article class, amsmath) with the program and the result."""
    what = {"grad": "The gradients", "jacobian": "The Jacobians", "hvp": "The Hessian-vector product"}.get(
        d.kind, "The Hessian")
    wrt = ", ".join(f"${w}$" if w.isalnum() and w.isascii() and len(w) == 1 else f"\\texttt{{{_tt(w)}}}"
                    for w in d.wrt)
    return "\n".join([
        r"\documentclass{article}",
        r"\usepackage{amsmath}",
        r"\usepackage{amssymb}",
        r"\begin{document}",
        r"\section*{The program}",
        r"\[",
        program.latex(),
        r"\]",
        f"\\section*{{{what} of \\texttt{{{_tt(d.of)}}} with respect to {wrt}}}",
        r"\[",
        d.latex(),
        r"\]",
        r"\end{document}",
        ""])


def _tt(name: str) -> str:
    """``name`` inside ``\\texttt{}``: LaTeX's special characters escaped."""
    out = []
    for c in name:
        out.append({"_": r"\_", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "{": r"\{", "}": r"\}",
                    "~": r"\textasciitilde{}", "^": r"\textasciicircum{}", "\\": r"\textbackslash{}"}.get(c, c))
    return "".join(out)


# ---------------------------------------------------------------- the routes


def health() -> Answer:
    """``GET /api/health``."""
    return 200, {"ok": True, "version": importlib.import_module("ricci").__version__}


def examples() -> Answer:
    """``GET /api/examples``: the gallery and the articles' worked examples."""
    return 200, {"ok": True, "examples": [dict(e) for e in EXAMPLES]}


def inspect(req: Any, seconds: float = SECONDS) -> Answer:
    """``POST /api/inspect``: the program read, its syntax, inputs and outputs."""
    text = req.get("program") if isinstance(req, dict) else None

    def work(notes: list[str]) -> dict[str, Any]:
        _, syntax, program = _read(_object(req))
        return {**_outline(syntax, program), "program_latex": program.latex()}

    return _guard("reading the program", work, lambda: text if isinstance(text, str) else None, seconds)


def derive(req: Any, seconds: float = SECONDS) -> Answer:
    """``POST /api/derive``: the derivative in every view (docs/playground.md)."""
    text = req.get("program") if isinstance(req, dict) else None

    def work(notes: list[str]) -> dict[str, Any]:
        r = _object(req)
        kind = _choice(r, "kind", KINDS, "grad")
        wrt, of = _names(r), _of(r)
        _, syntax, program = _read(r)
        deadline = time.monotonic() + seconds
        d = _derivation(program, kind, wrt, of)
        out: dict[str, Any] = {
            **_outline(syntax, program), "wrt": list(d.wrt), "of": d.of, "kind": kind,
            "program": {"text": str(program), "latex": program.latex()},
            "result": {"text": str(d), "unicode": d.unicode(), "latex": d.latex()}}
        _in_time(deadline, seconds)
        mat = _view(d.matrix, deadline)
        out["matrix"] = mat if isinstance(mat, dict) else {"text": str(mat), "latex": mat.latex()}
        _in_time(deadline, seconds)
        out["steps"] = _steps(d, kind, deadline, seconds)
        out["code"] = {}
        for b in BACKENDS:
            _in_time(deadline, seconds)
            out["code"][b] = _code(d, b, deadline)
        _in_time(deadline, seconds)
        out["markdown"] = _text_view(d.markdown, deadline)
        out["latex_document"] = latex_document(program, d)
        out["graph"] = program_graph(program, [w for w in d.wrt if w in program.inputs], d.of)
        _in_time(deadline, seconds)
        return out

    return _guard("deriving", work, lambda: text if isinstance(text, str) else None, seconds)


def check(req: Any, seconds: float = SECONDS) -> Answer:
    """``POST /api/check``: the derivative compared with finite differences (and torch
    autograd when torch is installed) at small sizes, with the NumPy code."""
    text = req.get("program") if isinstance(req, dict) else None

    def work(notes: list[str]) -> dict[str, Any]:
        r = _object(req)
        kind = _choice(r, "kind", KINDS, "grad")
        wrt, of, seed = _names(r), _of(r), _seed(r)
        _, syntax, program = _read(r)
        d = _derivation(program, kind, wrt, of)
        report = check_gradient(program, list(d.wrt), of=d.of, seed=seed, backend="numpy",
                                derivation=d, raise_on_mismatch=False)
        rows = []
        for w in report.wrt:
            errors = [e for e in (report.torch_error.get(w), report.fd_error.get(w)) if e is not None]
            rows.append({"wrt": w, "max_abs_error": max(errors, default=0.0),
                         "ok": not any(f.startswith(f"{w}:") for f in report.failures)})
        return {**_outline(syntax, program), "passed": bool(report.ok), "text": str(report),
                "backend": report.backend, "kind": kind, "sizes": dict(report.sizes), "rows": rows}

    return _guard("checking", work, lambda: text if isinstance(text, str) else None, seconds)
