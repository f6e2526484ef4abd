"""The code is lint- and type-clean: ruff and mypy, with the settings in pyproject.toml.

Both are in the ``test`` extra, so CI (``.ci/run``) runs them with the tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff():
    r = _run("ruff", "check", "src", "tests", "benchmarks")
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.slow
def test_mypy():
    r = _run("mypy", "src")
    assert r.returncode == 0, r.stdout + r.stderr
