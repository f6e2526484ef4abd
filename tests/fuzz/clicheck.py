"""The command line over the fuzz corpus: only ``ricci: error: ...`` may reach stderr.

:func:`cases` builds command lines (``parse``, ``grad --wrt <an input>``, ``check`` with
bad ``--sizes``) from corpus texts; :func:`run_in_process` runs ``ricci.cli.main``
capturing its output; :func:`problems` says what is wrong with an outcome: a traceback,
stderr that is not an error line (plus its caret block and hint) or argparse's usage, an
exit status other than 0, 1 or 2 (ricci's command line exits 3 when it catches an
internal error: a bug).
"""

from __future__ import annotations

import contextlib
import io
import random
import re
import subprocess
import sys
import traceback
import warnings

BAD_SIZES = ("i=abc", "i=-1", "i=0", "i=", "=3", "i", ",,,", "i=3=4", "i=1e3", "i=3,i=4", "ı=3",
             "i=99999999999999999999", "i=3.5", "i=True", "i=0x10", "i=٣", "n=2,d=0", " ")

_CARET = re.compile(r"^(\s+--> line \d+, column \d+|\s+\d* \|.*|hint: .*|\s*)$")


def cases(texts: list[str], seed: int = 0) -> list[list[str]]:
    """Command lines over ``texts``: parse (in some notation), grad w.r.t. a name in the
    text, and check with a bad --sizes."""
    r = random.Random(seed)
    out: list[list[str]] = []
    for k, t in enumerate(texts):
        names = re.findall(r"[A-Za-z_]\w*", t) or ["x"]
        wrt = r.choice(names)
        out.append(["parse", t, "--emit", r.choice(["index", "unicode", "latex"])])
        out.append(["grad", t, "--wrt", wrt] + (["--emit", r.choice(["numpy", "matrix", "latex"])] if k % 3 == 0 else []))
        if k % 4 == 0:
            out.append(["check", t, "--wrt", wrt, "--sizes", r.choice(BAD_SIZES)])
        if k % 9 == 0:
            out.append(["hessian", t, "--wrt", wrt] + (["--diagonal"] if k % 2 else []))
    return out


def run_in_process(argv: list[str]) -> tuple[int, str, str]:
    """``ricci.cli.main(argv)``: exit status, stdout, stderr (an exception escaping main is
    written to stderr as a traceback, as Python would)."""
    from ricci.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            code = main(argv)
        except SystemExit as e:  # argparse
            code = e.code if isinstance(e.code, int) else 1
        except BaseException:  # noqa: BLE001 - what a user would see
            err.write(traceback.format_exc())
            code = 1
    return code, out.getvalue(), err.getvalue()


def run_subprocess(argv: list[str], timeout: float = 120.0) -> tuple[int, str, str]:
    p = subprocess.run([sys.executable, "-m", "ricci", *argv], capture_output=True, text=True,
                       timeout=timeout, errors="replace", check=False)
    return p.returncode, p.stdout, p.stderr


def problems(code: int, err: str) -> list[str]:
    """What is wrong with a command's exit status and stderr (empty: nothing)."""
    out = []
    if code not in (0, 1, 2):
        out.append(f"exit status {code}")
    if "Traceback (most recent call last)" in err:
        out.append("a traceback on stderr")
        return out
    lines = err.splitlines()
    while lines and lines[0].startswith("ricci: warning: "):  # a reading that could surprise, one line
        lines.pop(0)
    if not lines:
        if code != 0:
            out.append(f"exit status {code} without a message")
        return out
    if code == 2 or lines[0].startswith("usage:"):
        if not any(": error:" in ln for ln in lines):
            out.append("a usage message without an error line")
        return out
    if not lines[0].startswith("ricci: error: "):
        out.append(f"stderr does not start with 'ricci: error:': {lines[0][:100]!r}")
        return out
    # the message may run over several lines; after it, only the caret block and the hint
    tail = lines[1:]
    caret_from = next((k for k, ln in enumerate(tail) if ln.lstrip().startswith("--> line")), None)
    if caret_from is not None:
        bad = [ln for ln in tail[caret_from:] if not _CARET.match(ln)]
        if bad:
            out.append(f"unexpected line in the caret block: {bad[0][:100]!r}")
    return out
