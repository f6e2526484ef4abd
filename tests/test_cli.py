"""The command line: ``ricci grad | jacobian | check | parse``."""

import io
import subprocess
import sys

import pytest

from ricci.cli import main

MATMUL = "Y[i,j] = X[i,k] * A[k,j]"


def run(capsys, *argv, stdin=None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_grad_from_text(capsys):
    code, out, _ = run(capsys, "grad", MATMUL, "--wrt", "X", "A")
    assert code == 0
    assert out == "dX[i,k] = dY[i,j] * A[k,j]\ndA[k,j] = X[i,k] * dY[i,j]\n"


def test_grad_from_a_file_with_of_and_emit(tmp_path, capsys):
    f = tmp_path / "layer.ricci"
    f.write_text("Z[n,h] = X[n,d] * W[d,h] + b[h]\nY[n,h] = tanh(Z[n,h])\n")
    code, out, _ = run(capsys, "grad", str(f), "--wrt", "b", "--of", "Z")
    assert (code, out) == (0, "db[h] = sum[n](dZ[n,h])\n")
    code, out, _ = run(capsys, "grad", str(f), "--wrt", "W", "--emit", "numpy")
    assert code == 0 and "dW = X.T @ dZ" in out and out.startswith("import numpy as np")
    code, out, _ = run(capsys, "grad", str(f), "--wrt", "W", "--emit", "torch")
    assert code == 0 and "import torch" in out


def test_grad_from_stdin(capsys, monkeypatch):
    code, out, _ = run(capsys, "grad", "-", "--wrt", "X", stdin=MATMUL, monkeypatch=monkeypatch)
    assert (code, out) == (0, "dX[i,k] = dY[i,j] * A[k,j]\n")


def test_jacobian(capsys):
    code, out, _ = run(capsys, "jacobian", MATMUL, "--wrt", "X")
    assert (code, out) == (0, "dY[i,j]/dX[p,q] = A[q,j] * delta[i,p]\n")
    code, out, _ = run(capsys, "jacobian", "Y[i,j] = X[i,m] * W[m,j]", "--wrt", "W[k,l]")
    assert out == "dY[i,j]/dW[k,l] = X[i,k] * delta[j,l]\n"


def test_check(capsys):
    code, out, _ = run(capsys, "check", MATMUL, "--wrt", "X", "A", "--sizes", "i=3,j=4")
    assert code == 0
    assert "sizes i=3, k=2, j=4" in out and out.rstrip().endswith("OK")
    assert "vs torch" in out and "vs finite diff" in out


def test_parse(capsys):
    code, out, _ = run(capsys, "parse", "y[i]=A[i,j]*x[j]+b[i] # affine")
    assert (code, out) == (0, "y[i] = A[i,j] * x[j] + b[i]\n")


def test_errors_print_a_caret_and_exit_1(capsys):
    code, out, err = run(capsys, "grad", "Y[i,q] = X[i,k] * A[k,j]", "--wrt", "X")
    assert code == 1 and out == ""
    assert err.startswith("ricci: error: index 'q' on the left of Y does not appear on the right")
    assert "1 | Y[i,q] = X[i,k] * A[k,j]" in err and "     ^" in err
    code, _, err = run(capsys, "check", MATMUL, "--wrt", "X", "--sizes", "i=three")
    assert code == 1 and "the size must be an integer" in err
    code, _, err = run(capsys, "grad", "missing.ricci", "--wrt", "X")
    assert code == 1 and "no such file" in err


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["grad", MATMUL])
    assert e.value.code == 2


def test_console_script_and_module_entry_points():
    out = subprocess.run([sys.executable, "-m", "ricci", "grad", MATMUL, "--wrt", "A"],
                         capture_output=True, text=True, check=True).stdout
    assert out == "dA[k,j] = X[i,k] * dY[i,j]\n"
    exe = __import__("shutil").which("ricci", path=__import__("os").path.dirname(sys.executable))
    if exe:
        out = subprocess.run([exe, "grad", MATMUL, "--wrt", "A"], capture_output=True, text=True,
                             check=True).stdout
        assert out == "dA[k,j] = X[i,k] * dY[i,j]\n"
