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


# ---------------------------------------------------------------- output formats (issue 3)


def test_emit_matrix_unicode_latex_and_steps(capsys):
    assert main(["grad", "Y[i,j] = X[i,k] * A[k,j]", "--wrt", "X", "A", "--emit", "matrix"]) == 0
    assert capsys.readouterr().out == "dX = dY @ A.T\ndA = X.T @ dY\n"
    assert main(["grad", "Y[i,j] = X[i,k] * A[k,j]", "--wrt", "X", "--emit", "unicode"]) == 0
    assert capsys.readouterr().out == "∂l/∂X_ik = ∂l/∂Y_ij A_kj\n"
    assert main(["grad", "Y[i,j] = X[i,k] * A[k,j]", "--wrt", "X", "--emit", "latex"]) == 0
    assert capsys.readouterr().out == \
        "\\frac{\\partial l}{\\partial X_{ik}} = \\frac{\\partial l}{\\partial Y_{ij}} A_{kj}\n"
    assert main(["grad", "Y[i,j] = X[i,k] * A[k,j]", "--wrt", "X", "--steps"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("dl/dX:\n  1. chain rule") and out.endswith("dX = dY @ A.T\n")


def test_markdown_report(capsys, tmp_path):
    path = tmp_path / "affine.ricci"
    path.write_text("Z[n,h] = X[n,d] * W[d,h] + b[h]\nL = sum[n,h](Z[n,h]^2)\n")
    assert main(["grad", str(path), "--wrt", "W", "b", "--steps", "--emit", "markdown"]) == 0
    out = capsys.readouterr().out
    for part in ("**Program**", "**Step by step**", "**Result in index notation**",
                 "**Result in matrix notation**", "**Generated code (numpy)**", "$$",
                 "db = sum(dZ, axis=0)", "def grad_L("):
        assert part in out, part


def test_latex_input_is_detected(capsys):
    assert main(["grad", "y_{ij} = x_{ik} a_{kj}", "--wrt", "x"]) == 0
    assert capsys.readouterr().out == "dx[i,k] = dy[i,j] * a[k,j]\n"
    assert main(["parse", r"\hat{y}_i = \sigma(W_{ij} x_j + b_i)"]) == 0
    assert capsys.readouterr().out == "yhat[i] = sigmoid(W[i,j] * x[j] + b[i])\n"
    assert main(["parse", "y_{ij} = x_{ik} a_{kj}", "--syntax", "ricci"]) == 1
    assert "unexpected character '{'" in capsys.readouterr().err


QUAD = "L = x[i]*A[i,j]*x[j]"


def test_hessian(capsys, tmp_path):
    code, out, _ = run(capsys, "hessian", QUAD, "--wrt", "x")
    assert (code, out) == (0, "H[i,j] = A[i,j] + A[j,i]\n")
    code, out, _ = run(capsys, "hessian", QUAD, "--wrt", "x", "--emit", "matrix")
    assert (code, out) == (0, "H = A + A.T\n")
    code, out, _ = run(capsys, "hessian", QUAD, "--wrt", "x", "--diagonal")
    assert (code, out) == (0, "diagH[i] = 2 * A[i,i]\n")
    f = tmp_path / "logreg.ricci"
    f.write_text("p[n] = sigmoid(X[n,d]*w[d])\nL = -sum[n](y[n]*log(p[n]) + (1 - y[n])*log(1 - p[n]))\n")
    code, out, _ = run(capsys, "hessian", str(f), "--wrt", "w", "--emit", "numpy")
    assert code == 0 and "def hessian_L(X, w, y):" in out and "H = _gram(X, t2)" in out
    code, out, _ = run(capsys, "hessian", "L = sum[i,j]((U[i,r]*V[j,r] - R[i,j])^2)", "--wrt", "U", "V")
    assert code == 0 and out.splitlines() == [  # the residual named, then Gauss-Newton plus its term
        "z1[i,j] = U[i,r] * V[j,r] - R[i,j]", "H[i,r,p,q] = 2 * U[i,q] * V[p,r] + 2 * z1[i,p] * delta[q,r]"]
    code, out, _ = run(capsys, "hessian", QUAD, "--wrt", "x", "--steps")
    assert code == 0 and "d(dL/dx[i])/dx[j]:" in out
    code, _, err = run(capsys, "hessian", "Y[i] = x[i]^2", "--wrt", "x")
    assert code == 1 and "a Hessian needs a scalar output, but 'Y' has indices [i]" in err and "^" in err


def test_hvp_and_check_kinds(capsys):
    code, out, _ = run(capsys, "hvp", QUAD, "--wrt", "x")
    assert (code, out) == (0, "Hv[i] = (A[i,j] + A[j,i]) * v[j]\n")
    for kind, title in (("hessian", "the Hessian of L"), ("diagonal", "the Hessian diagonal of L"),
                        ("hvp", "the Hessian-vector product of L"), ("grad", "dL w.r.t. x")):
        code, out, _ = run(capsys, "check", QUAD, "--wrt", "x", "--kind", kind)
        assert code == 0 and title in out and out.rstrip().endswith("OK"), out
    code, out, _ = run(capsys, "check", "Y[i] = x[i]^2", "--wrt", "x", "--kind", "jacobian")
    assert code == 0 and out.rstrip().endswith("OK")


def test_check_with_the_jax_backend_is_float64_in_a_fresh_process():
    # jax computes in float32 unless told otherwise: check enables 64-bit types itself
    pytest.importorskip("jax")
    for kind in ("grad", "hessian", "hvp"):
        r = subprocess.run([sys.executable, "-m", "ricci", "check", "L = sum[i](exp(x[i]) * y[i])",
                            "--wrt", "x", "--kind", kind, "--backend", "jax"],
                           capture_output=True, text=True, timeout=300)
        assert r.returncode == 0 and r.stdout.rstrip().endswith("OK"), r.stdout + r.stderr


# ---------------------------------------------------------------- issue 13: CLI conveniences

SVD = "S[k,l] = s[k] * delta[k,l]\nA[i,j] = U[i,k] * S[k,l] * V[l,j]"


def _no_traceback(err):
    assert "Traceback" not in err


def test_version(capsys):
    import ricci

    with pytest.raises(SystemExit) as e:
        main(["--version"])
    out, err = capsys.readouterr()
    assert e.value.code == 0 and out == f"ricci {ricci.__version__}\n" == "ricci 0.1.0\n"


def test_simplify_command(capsys):
    code, out, err = run(capsys, "simplify", SVD)
    assert (code, out) == (0, "A[i,j] = U[i,k] * V[k,j] * s[k]\n")
    code, out, _ = run(capsys, "simplify", SVD, "--emit", "matrix")
    assert (code, out) == (0, "A = U @ diag(s) @ V\n")
    code, out, _ = run(capsys, "simplify", "v[i] = A[i,j]*delta[j,k]*B[i,k]", "--emit", "unicode")
    assert (code, out) == (0, "v_i = A_ij B_ij\n")
    code, out, _ = run(capsys, "simplify", SVD, "--emit", "latex")
    assert code == 0 and "U_{ik}" in out
    for backend in ("numpy", "torch", "jax"):
        code, out, _ = run(capsys, "simplify", SVD, "--emit", backend)
        assert code == 0 and "def forward_A(U, V, s)" in out
    code, out, err = run(capsys, "simplify", "Y[i] = ")
    assert code == 1 and err.startswith("ricci: error:")
    _no_traceback(err)


def test_parse_emits_matrix_and_code(capsys):
    code, out, _ = run(capsys, "parse", "C[i,k] = A[i,j] * B[j,k]", "--emit", "matrix")
    assert (code, out) == (0, "C = A @ B\n")
    code, out, _ = run(capsys, "parse", SVD, "--emit", "matrix")
    assert (code, out) == (0, "S = diag(s)\nA = U @ S @ V\n")
    code, out, _ = run(capsys, "parse", "C[i,k] = A[i,j] * B[j,k]", "--emit", "numpy")
    assert code == 0 and "C = A @ B" in out


def test_wrt_from_the_header(tmp_path, capsys):
    from pathlib import Path

    example = Path(__file__).resolve().parents[1] / "examples" / "matmul.ricci"
    code, out, _ = run(capsys, "grad", str(example))
    assert (code, out) == (0, "dX[i,k] = dY[i,j] * A[k,j]\ndA[k,j] = X[i,k] * dY[i,j]\n")
    f = tmp_path / "layer.ricci"
    f.write_text("# a layer\n# wrt: W\n# of: Z\nZ[n,h] = X[n,d] * W[d,h]\nY[n,h] = tanh(Z[n,h])\n")
    code, out, _ = run(capsys, "grad", str(f))
    assert (code, out) == (0, "dW[d,h] = X[n,d] * dZ[n,h]\n")
    code, out, _ = run(capsys, "grad", str(f), "--wrt", "X")  # --wrt wins over the header
    assert code == 0 and out.startswith("dX[n,d] = dZ[n,h] * W[d,h]")
    code, out, _ = run(capsys, "check", str(f))
    assert code == 0
    with pytest.raises(SystemExit) as e:
        main(["grad", MATMUL])
    _, err = capsys.readouterr()
    assert e.value.code == 2 and "--wrt" in err and "# wrt:" in err and len(err.splitlines()) == 1


def test_wrt_did_you_mean(capsys):
    prog = "yhat[i] = W[i,j] * x[j]\nL = sum[i]((yhat[i] - y[i])^2)"
    code, _, err = run(capsys, "grad", MATMUL, "--wrt", "Xx")
    assert code == 1 and "did you mean 'X'?" in err
    code, _, err = run(capsys, "grad", "L = sum[i](yhat[i] * x[i])", "--wrt", r"\hat{y}")
    assert code == 1 and "did you mean 'yhat'?" in err
    code, _, err = run(capsys, "grad", prog, "--wrt", "W_{ij}")
    assert code == 1 and "did you mean 'W[i,j]'?" in err
    code, _, err = run(capsys, "grad", prog, "--wrt", "W_ij")
    assert code == 1 and "did you mean 'W[i,j]'?" in err
    _no_traceback(err)


def test_steps_with_code_is_refused(capsys):
    for backend in ("numpy", "torch", "jax"):
        code, out, err = run(capsys, "grad", MATMUL, "--wrt", "X", "--emit", backend, "--steps")
        assert code == 1 and out == "" and "--steps" in err and "markdown" in err
        _no_traceback(err)
    code, out, _ = run(capsys, "grad", MATMUL, "--wrt", "X", "--emit", "markdown", "--steps")
    assert code == 0 and "import numpy as np" in out
