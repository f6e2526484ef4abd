"""Every program in examples/ has a description line and a ``# wrt:`` line, and its
gradient passes the numerical check against torch autograd and finite differences."""

from pathlib import Path

import pytest

import ricci

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.ricci"))


def header(path: Path) -> tuple[str, list[str]]:
    lines = path.read_text().splitlines()
    assert lines[0].startswith("# ") and len(lines[0]) > 10, "first line: a one-line description"
    assert lines[1].startswith("# wrt:"), "second line: # wrt: the inputs to differentiate"
    return lines[0][2:], lines[1].split(":", 1)[1].split()


def test_there_are_examples():
    assert len(EXAMPLES) >= 10


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_example_gradients_are_right(path):
    _, wrt = header(path)
    text = path.read_text()
    assert ricci.check(text, wrt).ok
    # printing the parsed program gives the statements back
    body = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert str(ricci.parse(text)).splitlines() == [str(s) for s in ricci.parse("\n".join(body)).statements]
