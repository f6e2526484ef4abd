"""Shared fixtures."""

import pytest

import katex as _katex


@pytest.fixture(scope="session")
def katex():
    """:func:`katex.katex_errors`: ``katex(list_of_tex) -> [None | error message, ...]``.

    KaTeX is installed with npm on first use. Skips when node or KaTeX is missing, unless
    KaTeX is required (``RICCI_REQUIRE_KATEX=1``, or the ``CI`` variable is set), in which
    case the test fails instead."""
    reason = _katex.unavailable()
    if reason is not None:
        if _katex.required():
            pytest.fail(f"KaTeX is required (CI, or {_katex.REQUIRE_ENV}=1) but cannot run: {reason}")
        pytest.skip(reason)
    return _katex.katex_errors
