"""A pytest plugin: applies the mutant named by ``RICCI_MUTANT`` to the test process
(:mod:`tests.fuzz.mutants`) before any test runs. Registered in tests/conftest.py with
``pytest_plugins = ["fuzz.plugin"]``.
"""

from __future__ import annotations

import pytest

_applied: list[str] = []


def pytest_configure(config: pytest.Config) -> None:
    from .mutants import apply_from_env

    name = apply_from_env()
    if name:
        _applied.append(name)


def pytest_report_header(config: pytest.Config) -> str | None:
    return f"ricci mutant applied: {_applied[0]}" if _applied else None
