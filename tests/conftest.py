"""Shared fixtures."""

import os

import pytest

import katex as _katex


@pytest.fixture(scope="session")
def katex():
    """:func:`katex.katex_errors`: ``katex(list_of_tex) -> [None | error message, ...]``.

    Skips when node or KaTeX is missing, unless ``RICCI_REQUIRE_KATEX=1`` (CI sets it),
    in which case the test fails instead."""
    reason = _katex.unavailable()
    if reason is not None:
        if os.environ.get(_katex.REQUIRE_ENV) == "1":
            pytest.fail(f"KaTeX is required ({_katex.REQUIRE_ENV}=1) but cannot run: {reason}")
        pytest.skip(reason)
    return _katex.katex_errors
