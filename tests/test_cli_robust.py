"""The command line never shows a traceback: every failure is one ``ricci: error:``
message (plus the caret block of an error in the program text) and a documented exit
status (1 error, 2 usage, 3 internal error, 130 interrupted)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from ricci.cli import main


def run(capsys, *argv: str) -> tuple[int, str, str]:
    try:
        code = main(list(argv))
    except SystemExit as e:  # argparse: usage errors
        code = e.code if isinstance(e.code, int) else 2
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_error(err: str) -> None:
    assert err.startswith("ricci: error: "), err
    assert "Traceback" not in err
    # one message: the error line, then only a caret block and a hint
    for line in err.splitlines()[1:]:
        assert line.startswith(("  -->", "   ", "hint: ")), err


@pytest.mark.parametrize("argv, words", [
    (["check", "L = x[i]*x[i]", "--wrt", "x", "--sizes", "i=-1"], "at least 1"),
    (["check", "L = x[i]*x[i]", "--wrt", "x", "--sizes", "i=100000000000"], "more than the limit"),
    (["check", "L = x[i]*x[i]", "--wrt", "x", "--sizes", "i=x"], "must be an integer"),
    (["check", "L = x[i]*x[i]", "--wrt", "x", "--sizes", "q=3"], "does not use"),
    (["grad", "L = " + "exp(" * 300 + "x" + ")" * 300, "--wrt", "x"], "nest"),
    (["grad", "L = x[i] * 1e99999999999999999999", "--wrt", "x"], "float64"),
    (["grad", "L = x[i]*2²", "--wrt", "x"], "²"),
    (["grad", "L = sum[i](x[i])", "--wrt", "y"], "not an input"),
    (["parse", "Y[i] = "], "expected"),
])
def test_errors_are_one_message(capsys, argv, words):
    code, out, err = run(capsys, *argv)
    assert code == 1 and not out
    assert_one_error(err)
    assert words in err


def test_usage_errors_are_one_line_with_status_2(capsys):
    for argv in (["check", "L = sum[i](x[i])", "--wrt", "x", "--seed", "-5"], ["grad", "L = sum[i](x[i])"], ["frobnicate"],
                 ["check", "L = sum[i](x[i])", "--wrt", "x", "--seed", "one"]):
        code, out, err = run(capsys, *argv)
        assert code == 2 and not out
        assert err.startswith("ricci: error: ") and len(err.splitlines()) == 1, err


def test_files_that_are_not_programs(capsys, tmp_path: Path):
    bad = tmp_path / "bad.ricci"
    bad.write_bytes(b"L = sum[i](x[i]^2)\n# caf\xe9\n")
    code, _, err = run(capsys, "parse", str(bad))
    assert code == 1 and "not UTF-8" in err and "line 2" in err
    assert_one_error(err)
    code, _, err = run(capsys, "parse", str(tmp_path))
    assert code == 1 and "is a directory" in err
    code, _, err = run(capsys, "parse", str(tmp_path / "missing.ricci"))
    assert code == 1 and "no such file" in err


def test_a_byte_order_mark_is_read_as_utf8(capsys, tmp_path: Path):
    f = tmp_path / "bom.ricci"
    f.write_bytes("\ufeffL = sum[i](x[i]^2)\n".encode("utf-8"))
    code, out, err = run(capsys, "grad", str(f), "--wrt", "x")
    assert code == 0 and out == "dx[i] = 2 * x[i]\n", err


def test_an_internal_error_is_reported_without_a_traceback(capsys, monkeypatch):
    import ricci.cli

    def boom(*a, **k):
        raise ZeroDivisionError("simulated bug")

    monkeypatch.setattr(ricci.cli, "grad", boom)
    code, out, err = run(capsys, "grad", "L = sum[i](x[i])", "--wrt", "x")
    assert code == 3 and not out
    assert err.startswith("ricci: error: internal error (ZeroDivisionError: simulated bug)")
    assert "Traceback" not in err and len(err.splitlines()) == 1


def test_in_a_fresh_process_on_a_non_utf8_terminal(tmp_path: Path):
    """``python -m ricci`` under LANG=C with Unicode output, and bad input: no traceback."""
    env = {"PATH": "/usr/bin:/bin", "LANG": "C", "LC_ALL": "C", "PYTHONIOENCODING": "ascii"}
    ok = subprocess.run([sys.executable, "-m", "ricci", "grad", "y[i] = sigmoid(x[i])", "--wrt", "x",
                         "--emit", "unicode"], capture_output=True, env=env, timeout=120)
    assert ok.returncode == 0, ok.stderr.decode()
    assert "∂l/∂x_i" in ok.stdout.decode("utf-8")
    bad = subprocess.run([sys.executable, "-m", "ricci", "grad", "L = " + "(" * 400 + "x" + ")" * 400,
                          "--wrt", "x"], capture_output=True, env=env, timeout=120)
    assert bad.returncode == 1
    assert bad.stderr.startswith(b"ricci: error: ") and b"Traceback" not in bad.stderr
    uni = subprocess.run([sys.executable, "-m", "ricci", "grad", "L = x[i] * 2²", "--wrt", "x"],
                         capture_output=True, env=env, timeout=120)
    assert uni.returncode == 1 and b"Traceback" not in uni.stderr
    assert "²" in uni.stderr.decode("utf-8")
