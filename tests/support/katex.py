"""Render LaTeX with KaTeX under node, to prove that what ricci prints compiles.

KaTeX implements the math subset that Jupyter and web pages render, and with
``strict: "error"`` it rejects unknown commands and malformed input instead of guessing.
The first test that needs it installs the pinned version with npm into the git-ignored
``.ci/node_modules`` (so the test command alone sets everything up).

* :func:`katex_errors` renders a batch of strings (``\\begin{aligned} ... \\end{aligned}``
  blocks included, all in display mode) and returns, per string, ``None`` or KaTeX's error
  message. All calls share one node process, started on first use (once per session).
* :func:`unavailable` says why KaTeX cannot run here (no node, KaTeX not installed), or
  ``None``. The ``katex`` fixture (``tests/conftest.py``) skips on that reason, but fails
  when :func:`required` (``RICCI_REQUIRE_KATEX=1``, or the ``CI`` variable is set), so a
  missing KaTeX never passes silently in CI.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Sequence

ROOT = Path(__file__).resolve().parents[2]
KATEX_DIR = ROOT / ".ci" / "node_modules" / "katex"
KATEX_VERSION = "0.16.22"
REQUIRE_ENV = "RICCI_REQUIRE_KATEX"


def required() -> bool:
    """KaTeX must run (a missing one fails the tests): ``RICCI_REQUIRE_KATEX=1``, or CI."""
    return os.environ.get(REQUIRE_ENV) == "1" or os.environ.get("CI", "") not in ("", "0", "false")


def install() -> None:
    """Install the pinned KaTeX into the git-ignored ``.ci/node_modules`` with npm (once)."""
    if (KATEX_DIR / "package.json").is_file() or shutil.which("npm") is None:
        return
    import fcntl

    # the test workers (pytest-xdist) may all get here first: one installs, the others wait
    with open(ROOT / ".ci" / ".katex-install.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (KATEX_DIR / "package.json").is_file():
            return
        subprocess.run(["npm", "install", "--prefix", str(ROOT / ".ci"), "--no-save",
                        "--no-package-lock", "--no-audit", "--no-fund", "--loglevel=error",
                        f"katex@{KATEX_VERSION}"], check=False, timeout=600,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

# One JSON array of strings per input line -> one JSON array of (null | error) per line.
_SCRIPT = r"""
const katex = require(process.argv[1]);
const readline = require("readline");
const rl = readline.createInterface({input: process.stdin, terminal: false});
rl.on("line", (line) => {
  const out = JSON.parse(line).map((tex) => {
    try {
      katex.renderToString(tex, {displayMode: true, throwOnError: true, strict: "error"});
      return null;
    } catch (e) {
      return String((e && e.message) || e);
    }
  });
  process.stdout.write(JSON.stringify(out) + "\n");
});
"""


def unavailable() -> str | None:
    """Why KaTeX cannot run here, or ``None`` when it can (installing it first if npm can)."""
    if shutil.which("node") is None:
        return "node is not installed"
    install()
    if not (KATEX_DIR / "package.json").is_file():
        return f"KaTeX is not installed in {KATEX_DIR.parent} and npm could not install it"
    return None


class _Renderer:
    """One long-lived node process rendering batches of LaTeX."""

    def __init__(self) -> None:
        self.proc = subprocess.Popen(["node", "-e", _SCRIPT, str(KATEX_DIR)],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, encoding="utf-8")

    def errors(self, texs: Sequence[str]) -> list[str | None]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps(list(texs)) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the KaTeX node process exited (code {self.proc.poll()})")
        return json.loads(line)

    def close(self) -> None:
        if self.proc.poll() is None:
            assert self.proc.stdin is not None
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


_renderer: _Renderer | None = None


def katex_errors(texs: Sequence[str]) -> list[str | None]:
    """For each LaTeX string, ``None`` if KaTeX renders it (strict), else the error message."""
    global _renderer
    if not texs:
        return []
    if _renderer is None:
        reason = unavailable()
        if reason is not None:
            raise RuntimeError(reason)
        _renderer = _Renderer()
        atexit.register(_renderer.close)
    return _renderer.errors(texs)
