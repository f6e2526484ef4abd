"""Textbook identities: the Matrix Cookbook, the CS231n notes, Parr & Howard.

Each row of :data:`ROWS` is one identity as a textbook states it: a ricci program, the
inputs it is differentiated by, and the textbook's closed form written here as a NumPy
function of the inputs (the oracle: independent of ricci), with the textbook's text.

For every row:

1. ricci's compiled result (gradient, Jacobian or Hessian) equals the oracle at random
   float64 inputs drawn in the identity's domain (an SPD matrix where the textbook assumes
   a symmetric one, one-hot labels for a cross-entropy, ...), to a relative 1e-9;
2. ``ricci.check`` (torch autograd and finite differences) passes;
3. the printed matrix view is proven as printed (``strict_problems(d) == []``).

docs/cookbook.md (``python tests/support/cookbook_doc.py > docs/cookbook.md``) shows each
identity next to ricci's printed form and judges whether ricci's form is as simple as the
textbook's; the last tests keep that page current and its list of gaps explained.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

import ricci
from ricci.verify.check import check as ricci_check

from support import cookbook_doc
from support.steps_check import check_steps
from support.strict_matrix import sizes_of, strict_problems

ROOT = Path(__file__).resolve().parents[1]
EPS = 1e-5


@dataclass(frozen=True)
class Row:
    """One textbook identity."""

    name: str
    source: str
    program: str
    wrt: tuple[str, ...]
    #: the textbook's closed form, a NumPy function of the inputs (by name; an upstream
    #: gradient such as ``dY`` is an input too)
    oracle: Callable[..., Any]
    #: the textbook's text of the closed form
    book: str
    #: grad | jacobian | hessian | diagonal (of the Hessian) | hvp (the Hessian times an input v)
    kind: str = "grad"
    #: input name -> "spd" | "pos" | "onehot" (rows) | "onehot1" (a vector) | "normal" (default: normal; a square
    #: matrix n I + noise, not symmetric)
    domain: dict[str, str] = field(default_factory=dict)
    #: index name -> size, where the identity needs equal sizes (square matrices)
    sizes: dict[str, int] = field(default_factory=dict)
    #: why ricci's printed form is more complicated than the textbook's (docs/cookbook.md)
    gap: str = ""
    #: test -> the symptom of a ricci bug that fails it ("value", "check", "strict")
    xfail: dict[str, str] = field(default_factory=dict)


def R(name: str, source: str, program: str, wrt: str, oracle: Callable[..., Any], book: str,
      **kw: Any) -> Row:
    return Row(name, source, program, tuple(wrt.split()), oracle, book, **kw)


# ------------------------------------------------------------------ NumPy vocabulary

inv, det, I_ = np.linalg.inv, np.linalg.det, np.eye
outer, diag, einsum = np.outer, np.diag, np.einsum


def sig(x):
    return 1 / (1 + np.exp(-x))


def relu(x):
    return np.maximum(x, 0)


def step(x):
    return (x > 0).astype(float)


def softmax(Z):
    E = np.exp(Z - Z.max(axis=-1, keepdims=True))
    return E / E.sum(axis=-1, keepdims=True)


def batchnorm_dx(X, dXh, axis):
    """CS231n / Kratzert: the gradient of x_hat = (x - mean) / sqrt(var + eps) along ``axis``."""
    n = X.shape[axis]
    C = X - X.mean(axis=axis, keepdims=True)
    rstd = 1 / np.sqrt((C ** 2).mean(axis=axis, keepdims=True) + EPS)
    Xh = C * rstd
    return rstd / n * (n * dXh - dXh.sum(axis=axis, keepdims=True)
                       - Xh * (dXh * Xh).sum(axis=axis, keepdims=True))


def xhat(X, axis):
    C = X - X.mean(axis=axis, keepdims=True)
    return C / np.sqrt((C ** 2).mean(axis=axis, keepdims=True) + EPS)


SQ = {"i": 3, "j": 3, "k": 3, "l": 3}  # every matrix of the identity square, one size

BN = """\
mu[d] = sum[n](X[n,d]) / size(n)
C[n,d] = X[n,d] - mu[d]
v[d] = sum[n](C[n,d]^2) / size(n)
Xh[n,d] = C[n,d] / sqrt(v[d] + 0.00001)
Y[n,d] = g[d] * Xh[n,d] + b[d]"""

LN = """\
mu[n] = sum[d](X[n,d]) / size(d)
C[n,d] = X[n,d] - mu[n]
v[n] = sum[d](C[n,d]^2) / size(d)
Y[n,d] = C[n,d] / sqrt(v[n] + 0.00001)"""

SOFTMAX_CE = """\
Y[n,k] : one-hot
m[n] = sum[k](exp(Z[n,k]))
P[n,k] = exp(Z[n,k]) / m[n]
L = -sum[n,k](Y[n,k] * log(P[n,k])) / size(n)"""

LINEAR_SOFTMAX = """\
Y[n,k] : one-hot
Z[n,k] = X[n,d] * W[d,k]
m[n] = sum[k](exp(Z[n,k]))
P[n,k] = exp(Z[n,k]) / m[n]
L = -sum[n,k](Y[n,k] * log(P[n,k])) / size(n) + reg * sum[d,k](W[d,k]^2)"""

TWO_LAYER = """\
Y[n,k] : one-hot
H[n,h] = relu(X[n,d] * W1[d,h] + b1[h])
S[n,k] = H[n,h] * W2[h,k] + b2[k]
m[n] = sum[k](exp(S[n,k]))
L = sum[n](log(m[n])) / size(n) - sum[n,k](Y[n,k] * S[n,k]) / size(n)"""

LOGISTIC = """\
p[n] = sigmoid(X[n,d] * w[d])
L = -sum[n](y[n] * log(p[n]) + (1 - y[n]) * log(1 - p[n]))"""

NEURON_LOSS = "L = sum[n]((y[n] - relu(X[n,d] * w[d] + b))^2) / size(n)"


ATTENTION = """\
S[n,m] = Q[n,e] * K[m,e] / sqrt(size(e))
z[n] = sum[m](exp(S[n,m]))
P[n,m] = exp(S[n,m]) / z[n]
O[n,f] = P[n,m] * V[m,f]"""

BN_HAT = """\
mu[d] = sum[n](X[n,d]) / size(n)
C[n,d] = X[n,d] - mu[d]
v[d] = sum[n](C[n,d]^2) / size(n)
Xh[n,d] = C[n,d] / sqrt(v[d] + 0.00001)"""


def attention_dS(Q, K, V, dO):
    P = softmax(Q @ K.T / np.sqrt(Q.shape[1]))
    dP = dO @ V.T
    return P * (dP - (P * dP).sum(axis=1, keepdims=True))


def batchnorm_jac(X):
    """d Xh[n,d] / d X[m,e] = δ_de (δ_nm - 1/N - Xh_nd Xh_md / N) / sqrt(v_d + eps)."""
    n = len(X)
    C = X - X.mean(axis=0)
    rstd = 1 / np.sqrt((C ** 2).mean(axis=0) + EPS)
    Xh = C * rstd
    inner = (I_(n)[:, None, :] - 1 / n) - einsum("nd,md->ndm", Xh, Xh) / n  # [n,d,m]
    return einsum("ndm,de,d->ndme", inner, I_(X.shape[1]), rstd)



def two_layer_dW1(X, W1, b1, W2, b2, Y):
    Z1 = X @ W1 + b1
    H = relu(Z1)
    P = softmax(H @ W2 + b2)
    dS = (P - Y) / X.shape[0]
    return X.T @ ((dS @ W2.T) * step(Z1))


def svm_dS(S, Y):
    A = step(S - (S * Y).sum(axis=1, keepdims=True) + 1)
    return (A - Y * A.sum(axis=1, keepdims=True)) / S.shape[0]


def unit_jac(x, a):
    r = x - a
    n = np.sqrt(r @ r)
    return I_(len(x)) / n - outer(r, r) / n ** 3



ROWS: list[Row] = [
    # ---------------------------------------------------------------- Matrix Cookbook
    # linear forms (section 2.4.1)
    R("cb69-x-dot-a", "Cookbook (69)", "L = x[i] * a[i]", "x", lambda a: a, "a"),
    R("cb70-aXb", "Cookbook (70)", "L = a[i] * X[i,j] * b[j]", "X", lambda a, b: outer(a, b), "a b^T"),
    R("cb71-aXTb", "Cookbook (71)", "L = a[i] * X[j,i] * b[j]", "X", lambda a, b: outer(b, a), "b a^T"),
    R("cb72-aXa", "Cookbook (72)", "L = a[i] * X[i,j] * a[j]", "X", lambda a: outer(a, a), "a a^T"),
    R("cb73-jac-X", "Cookbook (73)", "Y[i,j] = X[i,j]", "X",
      lambda X: einsum("ik,jl->ijkl", I_(X.shape[0]), I_(X.shape[1])), "δ_ik δ_jl", kind="jacobian"),
    R("cb74-jac-XA", "Cookbook (74)", "Y[i,j] = X[i,k] * A[k,j]", "X",
      lambda X, A: einsum("im,nj->ijmn", I_(X.shape[0]), A), "δ_im A_nj", kind="jacobian"),
    R("cb75-jac-XTA", "Cookbook (75)", "Y[i,j] = X[k,i] * A[k,j]", "X",
      lambda X, A: einsum("in,mj->ijmn", I_(X.shape[1]), A), "δ_in A_mj", kind="jacobian"),
    # quadratic forms (section 2.4.2)
    R("cb76-bXTXc", "Cookbook (76)", "L = b[i] * X[k,i] * X[k,j] * c[j]", "X",
      lambda X, b, c: X @ (outer(b, c) + outer(c, b)), "X (b c^T + c b^T)",
      gap="X is not factored out of the two outer products"),
    R("cb77-affine-quadratic", "Cookbook (77)",
      "L = (B[i,j] * x[j] + b[i]) * C[i,k] * (D[k,l] * x[l] + d[k])", "x",
      lambda B, x, b, C, D, d: B.T @ C @ (D @ x + d) + D.T @ C.T @ (B @ x + b),
      "B^T C (D x + d) + D^T C^T (B x + b)",
      gap="the operands D x + d and B x + b of @ are named first (helper lines G, G2)"),
    R("cb81-xTBx", "Cookbook (81)", "L = x[i] * B[i,j] * x[j]", "x",
      lambda x, B: (B + B.T) @ x, "(B + B^T) x",
      gap="the common factor x is not taken out: B @ x + B.T @ x"),
    R("cb81-xTBx-symmetric", "Cookbook (81), B symmetric", "B[i,j] : symmetric\nL = x[i] * B[i,j] * x[j]", "x",
      lambda x, B: 2 * B @ x, "2 B x", domain={"B": "spd"}),
    R("cb82-bXTDXc", "Cookbook (82)", "L = b[i] * X[k,i] * D[k,l] * X[l,j] * c[j]", "X",
      lambda X, b, c, D: D.T @ X @ outer(b, c) + D @ X @ outer(c, b), "D^T X b c^T + D X c b^T"),
    R("cb83-XbcDXbc", "Cookbook (83)", "r[i] = X[i,j] * b[j] + c[i]\nL = r[i] * D[i,k] * r[k]", "X",
      lambda X, b, c, D: outer((D + D.T) @ (X @ b + c), b), "(D + D^T) (X b + c) b^T",
      gap="an intermediate adjoint line dr printed, and r not factored out of D @ r + D.T @ r"),
    R("cb84-XbcDXbc-symmetric", "Cookbook (84), D symmetric",
      "D[i,j] : symmetric\nr[i] = X[i,j] * b[j] + c[i]\nL = r[i] * D[i,k] * r[k]", "X",
      lambda X, b, c, D: 2 * outer(D @ (X @ b + c), b), "2 D (X b + c) b^T",
      domain={"D": "spd"},
      gap="the adjoint dr = 2 * (D @ r) printed on a line of its own (dX = outer(dr, b))"),
    R("cb-wls-x", "Cookbook (88), W symmetric",
      "W[i,j] : symmetric\nr[i] = x[i] - A[i,j] * s[j]\nL = r[i] * W[i,k] * r[k]", "x",
      lambda x, A, s, W: 2 * W @ (x - A @ s), "2 W (x - A s)", domain={"W": "spd"}),
    R("cb-wls-s", "Cookbook (89), W symmetric",
      "W[i,j] : symmetric\nr[i] = x[i] - A[i,j] * s[j]\nL = r[i] * W[i,k] * r[k]", "s",
      lambda x, A, s, W: -2 * A.T @ W @ (x - A @ s), "-2 A^T W (x - A s)", domain={"W": "spd"}),
    R("cb-hessian-xTBx", "Cookbook (81), second derivative", "L = x[i] * B[i,j] * x[j]", "x",
      lambda x, B: B + B.T, "B + B^T", kind="hessian"),
    R("cb-hessian-least-squares", "Cookbook §2.4.2, ||A x - b||^2",
      "r[i] = A[i,j] * x[j] - b[i]\nL = r[i] * r[i]", "x", lambda A: 2 * A.T @ A, "2 A^T A", kind="hessian"),
    R("cb-hessian-mixed-xAy", "Cookbook (70), mixed second derivative", "L = x[i] * A[i,j] * y[j]", "x y",
      lambda A: A, "A", kind="hessian"),
    # traces (section 2.5)
    R("cb99-trX", "Cookbook (99)", "L = trace(X)", "X", lambda X: I_(X.shape[0]), "I"),
    R("cb100-trXA", "Cookbook (100)", "L = X[i,j] * A[j,i]", "X", lambda A: A.T, "A^T"),
    R("cb101-trAXB", "Cookbook (101)", "L = A[i,k] * X[k,l] * B[l,i]", "X", lambda A, B: A.T @ B.T, "A^T B^T"),
    R("cb101-trAXB-delta", "Cookbook (101), trace by a delta",
      "L = sum[i,j](A[i,k] * X[k,l] * B[l,j] * delta[i,j])", "X", lambda A, B: A.T @ B.T, "A^T B^T"),
    R("cb102-trAXTB", "Cookbook (102)", "L = A[i,k] * X[l,k] * B[l,i]", "X", lambda A, B: B @ A, "B A"),
    R("cb103-trXTA", "Cookbook (103)", "L = X[i,j] * A[i,j]", "X", lambda A: A, "A"),
    R("cb104-trAXT", "Cookbook (104)", "L = sum[i,j](A[i,k] * X[j,k] * delta[i,j])", "X", lambda A: A, "A"),
    R("cb106-trX2", "Cookbook (106)", "L = X[i,j] * X[j,i]", "X", lambda X: 2 * X.T, "2 X^T"),
    R("cb107-trX2B", "Cookbook (107)", "L = X[i,j] * X[j,k] * B[k,i]", "X",
      lambda X, B: (X @ B + B @ X).T, "(X B + B X)^T",
      gap="the transpose is not taken out of the sum: X.T @ B.T + B.T @ X.T"),
    R("cb108-trXTBX", "Cookbook (108)", "L = X[k,i] * B[k,l] * X[l,i]", "X",
      lambda X, B: B @ X + B.T @ X, "B X + B^T X"),
    R("cb109-trBXXT", "Cookbook (109)", "L = B[i,j] * X[j,k] * X[i,k]", "X",
      lambda X, B: B @ X + B.T @ X, "B X + B^T X"),
    R("cb111-trXBXT", "Cookbook (111)", "L = X[i,j] * B[j,k] * X[i,k]", "X",
      lambda X, B: X @ B.T + X @ B, "X B^T + X B"),
    R("cb114-trAXBX", "Cookbook (114)", "L = A[i,j] * X[j,k] * B[k,l] * X[l,i]", "X",
      lambda A, X, B: A.T @ X.T @ B.T + B.T @ X.T @ A.T, "A^T X^T B^T + B^T X^T A^T"),
    R("cb115-trXTX", "Cookbook (115)", "L = X[i,j] * X[i,j]", "X", lambda X: 2 * X, "2 X"),
    R("cb116-trBTXTCXB", "Cookbook (116)", "L = B[k,i] * X[l,k] * C[l,m] * X[m,n] * B[n,i]", "X",
      lambda X, B, C: C.T @ X @ B @ B.T + C @ X @ B @ B.T, "C^T X B B^T + C X B B^T"),
    R("cb117-trXTBXC", "Cookbook (117)", "L = X[k,i] * B[k,l] * X[l,m] * C[m,i]", "X",
      lambda X, B, C: B @ X @ C + B.T @ X @ C.T, "B X C + B^T X C^T"),
    R("cb118-trAXBXTC", "Cookbook (118)", "L = A[i,j] * X[j,k] * B[k,l] * X[m,l] * C[m,i]", "X",
      lambda A, X, B, C: A.T @ C.T @ X @ B.T + C @ A @ X @ B, "A^T C^T X B^T + C A X B"),
    R("cb119-trAXBC2", "Cookbook (119)", "E[i,j] = A[i,k] * X[k,l] * B[l,j] + C[i,j]\nL = E[i,j] * E[i,j]",
      "X", lambda A, X, B, C: 2 * A.T @ (A @ X @ B + C) @ B.T, "2 A^T (A X B + C) B^T",
      gap="an intermediate adjoint line dE = 2 * E printed"),
    R("cb121-trX3", "Cookbook (121), k = 3", "L = X[i,j] * X[j,k] * X[k,i]", "X",
      lambda X: 3 * (X @ X).T, "3 (X^2)^T",
      gap="no matrix power: (X^2)^T printed as X.T @ X.T"),
    R("cb124-trAXinvB", "Cookbook (124)", "L = A[i,j] * inv(X)[j,k] * B[k,i]", "X",
      lambda A, X, B: -inv(X).T @ A.T @ B.T @ inv(X).T, "-X^{-T} A^T B^T X^{-T}"),
    R("cb124-trXinv", "Cookbook (124), A = B = I", "L = inv(X)[i,i]", "X",
      lambda X: -(inv(X) @ inv(X)).T, "-X^{-T} X^{-T}"),
    # inverses and determinants (sections 2.1, 2.2)
    R("cb49-det", "Cookbook (49)", "L = det(X)", "X", lambda X: det(X) * inv(X).T, "det(X) X^{-T}"),
    R("cb50-detAXB", "Cookbook (50)", "Y[i,j] = A[i,k] * X[k,l] * B[l,j]\nL = det(Y)", "X",
      lambda A, X, B: det(A @ X @ B) * inv(X).T, "det(A X B) X^{-T}", sizes=SQ,
      gap="A^T (A X B)^{-T} B^T = X^{-T} needs A, X, B square, which the program does not say; a dY line"),
    R("cb57-logdet", "Cookbook (57)", "L = logdet(X)", "X", lambda X: inv(X).T, "X^{-T}"),
    R("cb57-logdet-symmetric", "Cookbook (57), X symmetric", "X[i,j] : spd\nL = logdet(X)", "X",
      lambda X: inv(X), "X^{-1}", domain={"X": "spd"}),
    R("cb51-logdet-XXT", "Cookbook (51), for X X^T", "Y[i,j] = X[i,k] * X[j,k]\nL = logdet(Y)", "X",
      lambda X: 2 * inv(X @ X.T) @ X, "2 (X X^T)^{-1} X",
      gap="Y = X X^T is not known symmetric: dY @ X + dY.T @ X, and a dY line"),
    R("cb61-aXinvb", "Cookbook (61)", "L = a[i] * inv(X)[i,j] * b[j]", "X",
      lambda a, X, b: -inv(X).T @ outer(a, b) @ inv(X).T, "-X^{-T} a b^T X^{-T}"),
    R("cb62-detXinv", "Cookbook (62)", "Y[i,j] = inv(X)[i,j]\nL = det(Y)", "X",
      lambda X: -det(inv(X)) * inv(X).T, "-det(X^{-1}) X^{-T}"),
    R("cb60-jac-inv", "Cookbook (60)", "Y[k,l] = inv(X)[k,l]", "X",
      lambda X: -einsum("ki,jl->klij", inv(X), inv(X)), "-(X^{-1})_ki (X^{-1})_jl", kind="jacobian"),
    R("cb-hessian-logdet", "Cookbook (57) and (60)", "L = logdet(X)", "X",
      lambda X: -einsum("li,jk->ijkl", inv(X), inv(X)), "-(X^{-1})_li (X^{-1})_jk", kind="hessian"),
    # norms (section 2.6)
    R("cb131-norm2-squared", "Cookbook (131)", "L = x[i] * x[i]", "x", lambda x: 2 * x, "2 x"),
    R("cb129-norm2", "Cookbook (129)", "L = sqrt(sum[i]((x[i] - a[i])^2))", "x",
      lambda x, a: (x - a) / np.linalg.norm(x - a), "(x - a) / ||x - a||"),
    R("cb130-unit-vector-jac", "Cookbook (130)",
      "n = sqrt(sum[j]((x[j] - a[j])^2))\nu[i] = (x[i] - a[i]) / n", "x", unit_jac,
      "I / ||x - a|| - (x - a) (x - a)^T / ||x - a||^3", kind="jacobian",
      gap="the intermediate Jacobian dn/dx = u printed on a line of its own"),
    R("cb132-frobenius-squared", "Cookbook (132)", "L = sum[i,j](X[i,j]^2)", "X", lambda X: 2 * X, "2 X"),
    R("cb-frobenius", "Cookbook (132), not squared", "L = sqrt(sum[i,j](X[i,j]^2))", "X",
      lambda X: X / np.linalg.norm(X), "X / ||X||_F"),
    # more inverses, determinants, second derivatives
    R("cb-xTAinvx", "Cookbook (61), a = b = x, w.r.t. x", "L = x[i] * inv(A)[i,j] * x[j]", "x",
      lambda x, A: (inv(A) + inv(A).T) @ x, "(A^{-1} + A^{-T}) x",
      gap="the common factor x is not taken out: x @ inv(A).T + x @ inv(A)"),
    R("cb-aXinvTb", "Cookbook (61), transposed inverse", "L = a[i] * inv(X)[j,i] * b[j]", "X",
      lambda a, X, b: -inv(X).T @ outer(b, a) @ inv(X).T, "-X^{-T} b a^T X^{-T}"),
    R("cb-sum-of-inverse", "Cookbook (61), a = b = 1", "L = sum[i,j](inv(X)[i,j])", "X",
      lambda X: -inv(X).T @ np.ones((len(X), len(X))) @ inv(X).T, "-X^{-T} 1 1^T X^{-T}"),
    R("cb-trXinvA", "Cookbook (124), B = I", "Y[i,j] = inv(X)[i,k] * A[k,j]\nL = trace(Y)", "X",
      lambda X, A: -inv(X).T @ A.T @ inv(X).T, "-X^{-T} A^T X^{-T}"),
    R("cb-jac-inv-solve", "Cookbook (59), y = X^{-1} x", "y[k] = inv(A)[k,j] * x[j]", "A",
      lambda A, x: -einsum("kp,q->kpq", inv(A), inv(A) @ x), "-(A^{-1})_kp y_q", kind="jacobian"),
    R("cb-det-X2", "Cookbook §2.1.2, det(X^k), k = 2", "Y[i,j] = X[i,k] * X[k,j]\nL = det(Y)", "X",
      lambda X: 2 * det(X @ X) * inv(X).T, "2 det(X^2) X^{-T}",
      gap="the chain through Y = X X is not collapsed: dY line, X.T @ dY + dY @ X.T for 2 det(Y) X^{-T}"),
    R("cb-det-squared", "Cookbook (49), chain rule", "L = det(X)^2", "X",
      lambda X: 2 * det(X) ** 2 * inv(X).T, "2 det(X)^2 X^{-T}"),
    R("cb-log-det", "Cookbook (57), log(det(X))", "L = log(det(X))", "X", lambda X: inv(X).T, "X^{-T}"),
    R("cb-logdet-AXB", "Cookbook (57), ln det(A X B)", "Y[i,j] = A[i,k] * X[k,l] * B[l,j]\nL = logdet(Y)",
      "X", lambda X: inv(X).T, "X^{-T}", sizes=SQ, domain={"A": "spd", "X": "spd", "B": "spd"},
      gap="A^T (A X B)^{-T} B^T = X^{-T} needs A, X, B square, which the program does not say; a dY line"),
    R("cb-logdet-AAT-plus-I", "Cookbook (57) and (51), ln det(A A^T + I)",
      "C[i,j] = A[i,k] * A[j,k] + delta[i,j]\nL = logdet(C)", "A",
      lambda A: 2 * inv(A @ A.T + I_(len(A))) @ A, "2 (A A^T + I)^{-1} A",
      gap="C = A A^T + I is not known symmetric: dC and dC.T are two terms"),
    R("cb-logdet-plus-eps", "Cookbook (57), ln det(S + eps I)",
      "C[i,j] = S[i,j] + 0.1 * delta[i,j]\nL = logdet(C)", "S",
      lambda S: inv(S + 0.1 * I_(len(S))).T, "(S + 0.1 I)^{-T}"),
    R("cb-trace-squared", "Cookbook (99), chain rule", "L = X[i,i]^2", "X",
      lambda X: 2 * np.trace(X) * I_(len(X)), "2 tr(X) I"),
    R("cb-diagonal-squares", "Cookbook §2.5, sum of squared diagonal", "L = sum[i](X[i,i]^2)", "X",
      lambda X: 2 * diag(diag(X)), "2 diag(diag(X))"),
    R("cb131-norm4", "Cookbook (131), squared", "L = x[i] * x[i] * x[j] * x[j]", "x",
      lambda x: 4 * (x @ x) * x, "4 (x^T x) x"),
    R("cb78-jac-XTBX", "Cookbook (78)", "Y[k,l] = X[i,k] * B[i,j] * X[j,l]", "X",
      lambda X, B: einsum("lq,kp->klpq", I_(X.shape[1]), X.T @ B) + einsum("kq,pl->klpq", I_(X.shape[1]), B @ X),
      "δ_lq (X^T B)_kp + δ_kq (B X)_pl", kind="jacobian",
      gap="index form only (a 4-index Jacobian): the products X^T B and B X are not grouped"),
    R("cb-jac-X2", "Cookbook (78), B = I, Y = X X", "Y[i,j] = X[i,k] * X[k,j]", "X",
      lambda X: einsum("ip,jq->ijpq", X, I_(len(X))) + einsum("qj,ip->ijpq", X, I_(len(X))),
      "X_ip δ_jq + δ_ip X_qj", kind="jacobian"),
    R("cb-hessian-det", "Cookbook (49) and (60)", "L = det(X)", "X",
      lambda X: det(X) * (einsum("ji,lk->ijkl", inv(X), inv(X)) - einsum("li,jk->ijkl", inv(X), inv(X))),
      "det(X) ((X^{-1})_ji (X^{-1})_lk - (X^{-1})_li (X^{-1})_jk)", kind="hessian",
      gap="the common factor det(X) (L) is not taken out of the two terms"),
    R("cb-hessian-det-diagonal", "Cookbook (49), det is linear in each entry", "L = det(X)", "X",
      lambda X: np.zeros_like(X), "0", kind="diagonal"),
    R("cb-hessian-aXinvb", "Cookbook (61) and (60)", "L = a[i] * inv(X)[i,j] * b[j]", "X",
      lambda a, X, b: einsum("k,li,j->ijkl", inv(X).T @ a, inv(X), inv(X) @ b)
      + einsum("i,jk,l->ijkl", inv(X).T @ a, inv(X), inv(X) @ b),
      "u_k (X^{-1})_li w_j + u_i (X^{-1})_jk w_l", kind="hessian",
      gap="the vectors X^{-T} a and X^{-1} b are not named: inv(X) three times per term"),
    R("cb-hessian-trAXBX", "Cookbook (114), second derivative", "L = A[i,j] * X[j,k] * B[k,l] * X[l,i]", "X",
      lambda A, B: einsum("sp,qr->pqrs", A, B) + einsum("qr,sp->pqrs", A, B), "A_sp B_qr + A_qr B_sp",
      kind="hessian"),
    R("cb-hessian-trace-squared", "Cookbook (99), second derivative", "L = trace(X)^2", "X",
      lambda X: 2 * einsum("ij,kl->ijkl", I_(len(X)), I_(len(X))), "2 δ_ij δ_kl", kind="hessian"),
    R("cb-hessian-frobenius", "Cookbook (132), second derivative", "L = sum[i,j](X[i,j]^2)", "X",
      lambda X: 2 * einsum("ik,jl->ijkl", I_(X.shape[0]), I_(X.shape[1])), "2 δ_ik δ_jl", kind="hessian"),
    R("cb-hessian-norm2", "Cookbook (130), Hessian of ||x||", "L = sqrt(sum[i](x[i]^2))", "x",
      lambda x: I_(len(x)) / np.linalg.norm(x) - outer(x, x) / np.linalg.norm(x) ** 3,
      "I / ||x|| - x x^T / ||x||^3", kind="hessian"),
    R("cb-hessian-norm4", "Cookbook (131), Hessian of ||x||^4", "L = (x[i] * x[i])^2", "x",
      lambda x: 8 * outer(x, x) + 4 * (x @ x) * I_(len(x)), "8 x x^T + 4 (x^T x) I", kind="hessian"),
    R("cb-hvp-xTBx", "Cookbook (81), Hessian times v", "L = x[i] * B[i,j] * x[j]", "x",
      lambda B, v: (B + B.T) @ v, "(B + B^T) v", kind="hvp",
      gap="the Hessian is named (G = B + B.T) and applied as v @ G.T"),
    R("cb-gaussian-dS", "Cookbook §8.1 (Gaussian), d/dΣ of the negative log-likelihood",
      "r[i] = x[i] - m[i]\nL = 0.5 * logdet(S) + 0.5 * r[i] * inv(S)[i,j] * r[j]", "S",
      lambda x, m, S: 0.5 * (inv(S) - inv(S) @ outer(x - m, x - m) @ inv(S)),
      "(S^{-1} - S^{-1} (x - m) (x - m)^T S^{-1}) / 2", domain={"S": "spd"}),
    R("cb-gaussian-dm", "Cookbook §8.1 (Gaussian), d/dμ of the negative log-likelihood",
      "S[i,j] : spd\nr[i] = x[i] - m[i]\nL = 0.5 * logdet(S) + 0.5 * r[i] * inv(S)[i,j] * r[j]", "m",
      lambda x, m, S: -inv(S) @ (x - m), "-S^{-1} (x - m)", domain={"S": "spd"}),
    # elementwise and scalar identities
    R("cb-sum-log", "Parr & Howard, element-wise function, Σ log x", "L = sum[i](log(x[i]))", "x", lambda x: 1 / x, "1 / x",
      domain={"x": "pos"}),
    R("cb-entropy", "Parr & Howard, element-wise function, entropy -Σ p log p", "L = -sum[i](p[i] * log(p[i]))", "p",
      lambda p: -(np.log(p) + 1), "-(log(p) + 1)", domain={"p": "pos"}),
    R("cb-kl-q", "Parr & Howard, element-wise function, KL(p || q) w.r.t. q", "L = sum[i](p[i] * log(p[i] / q[i]))", "q",
      lambda p, q: -p / q, "-p / q", domain={"p": "pos", "q": "pos"}),
    R("cb-power-minus-one", "Parr & Howard, element-wise function, Σ x^-1", "L = sum[i](x[i]^-1)", "x", lambda x: -x ** -2.0,
      "-x^{-2}", domain={"x": "pos"},
      gap="a negative power printed as a quotient: -1 / x^2"),
    R("cb-power-half", "Parr & Howard, element-wise function, Σ x^(1/2)", "L = sum[i](x[i]^0.5)", "x",
      lambda x: 0.5 * x ** -0.5, "0.5 x^{-0.5}", domain={"x": "pos"}),
    R("cb-exp-base-2", "Parr & Howard, element-wise function, Σ 2^x", "L = sum[i](2^x[i])", "x",
      lambda x: np.log(2) * 2 ** x, "log(2) 2^x"),
    R("cb-cosine", "Cookbook (129) and (131), cosine similarity", "L = x[i] * y[i] / (sqrt(x[j] * x[j]) * sqrt(y[k] * y[k]))", "x",
      lambda x, y: y / (np.linalg.norm(x) * np.linalg.norm(y)) - (x @ y) * x / (np.linalg.norm(x) ** 3 * np.linalg.norm(y)),
      "y / (||x|| ||y||) - L x / ||x||^2",
      gap="the norms are not named: z1, dz1 lines, sqrt(z1)^3 and sqrt(sum(y^2)) spelled out"),
    R("cb-mahalanobis-A", "Cookbook (70), Σ_n x_n^T A x_n w.r.t. A", "L = sum[n](X[n,i] * A[i,j] * X[n,j])", "A",
      lambda X: X.T @ X, "X^T X"),
    R("cb-trX4", "Cookbook (121), k = 4", "L = X[i,j] * X[j,k] * X[k,l] * X[l,i]", "X",
      lambda X: 4 * np.linalg.matrix_power(X, 3).T, "4 (X^3)^T",
      gap="no matrix power: (X^3)^T printed as X.T @ X.T @ X.T"),
    R("cb-hessian-trX3", "Cookbook (121), second derivative, k = 3", "L = X[i,j] * X[j,k] * X[k,i]", "X",
      lambda X: 3 * (einsum("qr,sp->pqrs", I_(len(X)), X) + einsum("sp,qr->pqrs", I_(len(X)), X)),
      "3 (δ_qr X_sp + X_qr δ_sp)", kind="hessian",
      gap="the common factor 3 is not taken out of the two terms"),
    R("cb-jac-outer", "Cookbook §2.4, Jacobian of x x^T", "Y[i,j] = x[i] * x[j]", "x",
      lambda x: einsum("ik,j->ijk", I_(len(x)), x) + einsum("i,jk->ijk", x, I_(len(x))), "δ_ik x_j + x_i δ_jk",
      kind="jacobian"),
    R("cb-jac-inv-sum", "Cookbook (59), (A + X)^{-1}", "C[i,j] = A[i,j] + X[i,j]\nY[k,l] = inv(C)[k,l]", "X",
      lambda A, X: -einsum("ki,jl->klij", inv(A + X), inv(A + X)), "-(C^{-1})_ki (C^{-1})_jl", kind="jacobian",
      gap="the identity Jacobian dC/dX of C = A + X is printed and contracted, its deltas not eliminated"),
    R("cb-logdet-inv", "Cookbook (57) and (59), ln det(X^{-1})", "Y[i,j] = inv(X)[i,j]\nL = logdet(Y)", "X",
      lambda X: -inv(X).T, "-X^{-T}"),
    R("cb-trace-inv", "Cookbook (124), Tr(X^{-1}) by trace()", "Y[i,j] = inv(X)[i,j]\nL = trace(Y)", "X",
      lambda X: -(inv(X) @ inv(X)).T, "-X^{-T} X^{-T}"),
    R("cb-det-times-trace", "Cookbook (49) and (99), product rule", "L = det(X) * trace(X)", "X",
      lambda X: det(X) * np.trace(X) * inv(X).T + det(X) * I_(len(X)), "det(X) (tr(X) X^{-T} + I)"),
    R("cb-hessian-mixed-aXb", "Cookbook (70), mixed second derivative", "L = a[i] * X[i,j] * b[j]", "X a",
      lambda X, b: einsum("ik,j->ijk", I_(X.shape[0]), b), "δ_ik b_j", kind="hessian"),
    R("cb-hessian-diagonal-xTBx", "Cookbook (81), Hessian diagonal", "L = x[i] * B[i,j] * x[j]", "x",
      lambda B: 2 * diag(B), "2 diag(B)", kind="diagonal"),
    R("cb-hvp-logdet", "Cookbook (57) and (59), Hessian times V", "L = logdet(X)", "X",
      lambda X, v: -inv(X).T @ v.T @ inv(X).T, "-X^{-T} V^T X^{-T}", kind="hvp"),
    R("cs-hvp-logistic", "CS231n logistic regression, Hessian times v", LOGISTIC, "w",
      lambda X, w, v: X.T @ (sig(X @ w) * (1 - sig(X @ w)) * (X @ v)), "X^T (p ⊙ (1 - p) ⊙ (X v))", kind="hvp",
      gap="the directional derivative tz1 and the operand G of @ printed as lines"),
    # ---------------------------------------------------------------- CS231n
    R("cs-affine-dX", "CS231n affine layer", "Y[n,m] = X[n,d] * W[d,m] + b[m]", "X",
      lambda W, dY: dY @ W.T, "dY W^T"),
    R("cs-affine-dW", "CS231n affine layer", "Y[n,m] = X[n,d] * W[d,m] + b[m]", "W",
      lambda X, dY: X.T @ dY, "X^T dY"),
    R("cs-affine-db", "CS231n affine layer", "Y[n,m] = X[n,d] * W[d,m] + b[m]", "b",
      lambda dY: dY.sum(axis=0), "sum(dY, axis=0)"),
    R("cs-relu", "CS231n ReLU layer", "Y[n,d] = relu(X[n,d])", "X", lambda X, dY: dY * step(X), "dY ⊙ step(X)"),
    R("cs-sigmoid", "CS231n sigmoid layer", "Y[n,d] = sigmoid(X[n,d])", "X",
      lambda X, dY: dY * sig(X) * (1 - sig(X)), "dY ⊙ Y ⊙ (1 - Y)"),
    R("cs-tanh", "CS231n tanh layer", "Y[n,d] = tanh(X[n,d])", "X",
      lambda X, dY: dY * (1 - np.tanh(X) ** 2), "dY ⊙ (1 - Y^2)"),
    R("cs-dropout", "CS231n dropout (mask M given)", "Y[n,d] = X[n,d] * M[n,d] / p", "X",
      lambda M, p, dY: dY * M / p, "dY ⊙ M / p", domain={"p": "pos"}),
    R("cs-softmax-ce", "CS231n softmax loss", SOFTMAX_CE, "Z",
      lambda Z, Y: (softmax(Z) - Y) / Z.shape[0], "(P - Y) / N", domain={"Y": "onehot"}),
    R("cs-logsumexp-ce", "CS231n softmax loss (log-sum-exp form)",
      "Y[n,k] : one-hot\nL = sum[n](log(sum[k](exp(Z[n,k])))) / size(n) - sum[n,k](Y[n,k] * Z[n,k]) / size(n)", "Z",
      lambda Z, Y: (softmax(Z) - Y) / Z.shape[0], "(P - Y) / N", domain={"Y": "onehot"},
      gap="the softmax exp(Z) / sum(exp(Z)) is not recognised: z1, dz1 lines"),
    R("cs-softmax-jac", "CS231n softmax Jacobian", "m = sum[j](exp(z[j]))\np[k] = exp(z[k]) / m", "z",
      lambda z: diag(softmax(z)) - outer(softmax(z), softmax(z)), "diag(p) - p p^T", kind="jacobian",
      gap="the intermediate Jacobian dm/dz printed, and exp(z) / m not recognised as p"),
    R("cs-linear-softmax-l2", "CS231n linear classifier, softmax + L2", LINEAR_SOFTMAX, "W",
      lambda X, W, Y, reg: X.T @ (softmax(X @ W) - Y) / X.shape[0] + 2 * reg * W,
      "X^T (P - Y) / N + 2 reg W", domain={"Y": "onehot"},
      gap="the adjoint dZ = (P - Y) / size(n) printed on a line of its own (X.T @ dZ)"),
    R("cs-two-layer-dW1", "CS231n two-layer net (ReLU, softmax)", TWO_LAYER, "W1", two_layer_dW1,
      "dS = (P - Y) / N; dW1 = X^T ((dS W2^T) ⊙ step(H))", domain={"Y": "onehot"},
      gap="the program names no P: the adjoint dm and dm[:, None] * exp(S) for (P - Y) / N, and the "
          "relu's adjoint dz1, printed as lines"),
    R("cs-svm", "CS231n multiclass SVM loss", "Y[n,k] : one-hot\nM[n,k] = relu(S[n,k] - S[n,j] * Y[n,j] + 1)\n"
      "L = sum[n,k](M[n,k]) / size(n) - 1", "S", svm_dS,
      "(step(M) - Y ⊙ (step(M) 1 1^T)) / N", domain={"Y": "onehot"},
      gap="the relu's adjoint dz1 = step(M) / size(n) printed on a line of its own"),
    R("cs-mse-regression", "CS231n MSE (linear regression)", "L = sum[n]((X[n,d] * w[d] - y[n])^2) / size(n)",
      "w", lambda X, w, y: 2 / X.shape[0] * X.T @ (X @ w - y), "2 X^T (X w - y) / N",
      gap="the operand X @ w - y of @ is named first (helper line G)"),
    R("cs-mse-hessian", "CS231n MSE (linear regression)", "L = sum[n]((X[n,d] * w[d] - y[n])^2) / size(n)",
      "w", lambda X: 2 / X.shape[0] * X.T @ X, "2 X^T X / N", kind="hessian"),
    R("cs-l2", "CS231n L2 regularisation", "L = reg * sum[d,k](W[d,k]^2)", "W",
      lambda W, reg: 2 * reg * W, "2 reg W"),
    R("cs-l2-half", "CS231n L2 regularisation, 1/2 reg W^2", "L = 0.5 * reg * sum[d,k](W[d,k] * W[d,k])", "W",
      lambda W, reg: reg * W, "reg W"),
    R("cs-logistic", "CS231n logistic regression", LOGISTIC, "w",
      lambda X, w, y: X.T @ (sig(X @ w) - y), "X^T (p - y)",
      gap="the argument z1 = X @ w (unused) and its adjoint dz1 printed as lines"),
    R("cs-logistic-hessian", "CS231n logistic regression", LOGISTIC, "w",
      lambda X, w: X.T @ diag(sig(X @ w) * (1 - sig(X @ w))) @ X, "X^T diag(p ⊙ (1 - p)) X", kind="hessian"),
    R("cs-batchnorm-dX", "CS231n batch norm", BN, "X",
      lambda X, g, dY: batchnorm_dx(X, dY * g, 0),
      "g / (N sqrt(v + eps)) ⊙ (N dY - sum(dY, axis=0) - Xh ⊙ sum(dY ⊙ Xh, axis=0))",
      gap="the adjoint chain through the mean and variance printed step by step (dXh, dv, dC, dmu); sqrt(1e-05 + v)^2 not simplified"),
    R("cs-batchnorm-dgamma", "CS231n batch norm", BN, "g",
      lambda X, dY: (dY * xhat(X, 0)).sum(axis=0), "sum(dY ⊙ Xh, axis=0)"),
    R("cs-batchnorm-dbeta", "CS231n batch norm", BN, "b", lambda dY: dY.sum(axis=0), "sum(dY, axis=0)"),
    R("cs-layernorm-dX", "CS231n layer norm", LN, "X", lambda X, dY: batchnorm_dx(X, dY, 1),
      "1 / (D sqrt(v + eps)) ⊙ (D dY - sum(dY, axis=1) - Y ⊙ sum(dY ⊙ Y, axis=1))",
      gap="the adjoint chain through the mean and variance printed step by step (dv, dC, dmu); sqrt(1e-05 + v)^2 not simplified"),
    R("cs-l1", "CS231n L1 regularisation", "L = reg * sum[d,k](abs(W[d,k]))", "W",
      lambda W, reg: reg * np.sign(W), "reg sign(W)"),
    R("cs-softplus", "CS231n logistic loss, softplus form", "L = sum[i](softplus(x[i]))", "x",
      lambda x: sig(x), "sigmoid(x)"),
    R("cs-logsumexp-grad", "CS231n softmax (log-sum-exp gradient)", "L = log(sum[i](exp(x[i])))", "x",
      lambda x: softmax(x), "softmax(x)",
      gap="the softmax exp(x) / sum(exp(x)) is not named: z1 and dz1 lines"),
    R("cs-logsoftmax-jac", "CS231n log-softmax Jacobian", "m = log(sum[j](exp(z[j])))\ny[k] = z[k] - m", "z",
      lambda z: I_(len(z)) - outer(np.ones_like(z), softmax(z)), "I - 1 p^T", kind="jacobian",
      gap="the intermediate Jacobian dm/dz (the softmax) is printed on a line of its own"),
    R("cs-sigmoid-jac", "CS231n sigmoid, Jacobian", "y[i] = sigmoid(x[i])", "x",
      lambda x: diag(sig(x) * (1 - sig(x))), "diag(y ⊙ (1 - y))", kind="jacobian"),
    R("cs-softmax-batch-jac", "CS231n softmax Jacobian, batch", "m[n] = sum[j](exp(Z[n,j]))\n"
      "P[n,k] = exp(Z[n,k]) / m[n]", "Z",
      lambda Z: einsum("nk,kq,np->nkpq", softmax(Z), I_(Z.shape[1]), I_(Z.shape[0]))
      - einsum("nk,nq,np->nkpq", softmax(Z), softmax(Z), I_(Z.shape[0])),
      "δ_np (P_nk δ_kq - P_nk P_nq)", kind="jacobian",
      gap="the intermediate Jacobian dm/dZ is printed, and exp(Z) / m not recognised as P"),
    R("cs-rnn-step-dW", "CS231n RNN step", "h2[h] = tanh(W[h,g] * h1[g] + U[h,d] * x[d] + b[h])", "W",
      lambda W, h1, U, x, b, dh2: outer(dh2 * (1 - np.tanh(W @ h1 + U @ x + b) ** 2), h1),
      "(dh ⊙ (1 - h^2)) h1^T", gap="the named argument z1 of the tanh and its adjoint dz1 printed as lines"),
    R("cs-batched-affine-dW", "CS231n affine layer over a sequence (shared W)", "Y[b,i,j] = X[b,i,k] * W[k,j]",
      "W", lambda X, dY: einsum("bik,bij->kj", X, dY), "Σ_b X_b^T dY_b"),
    R("cs-batched-matmul-dW", "CS231n batched matrix product", "Y[b,i,j] = X[b,i,k] * W[b,k,j]", "W",
      lambda X, dY: np.swapaxes(X, 1, 2) @ dY, "X_b^T dY_b"),
    R("cs-logistic-l2-hessian", "CS231n logistic regression with L2", LOGISTIC + " + lam * w[d] * w[d]", "w",
      lambda X, w, lam: X.T @ diag(sig(X @ w) * (1 - sig(X @ w))) @ X + 2 * lam * I_(len(w)),
      "X^T diag(p ⊙ (1 - p)) X + 2 lam I", kind="hessian"),
    R("cs-logistic-hessian-diagonal", "CS231n logistic regression, Hessian diagonal", LOGISTIC, "w",
      lambda X, w: (X ** 2).T @ (sig(X @ w) * (1 - sig(X @ w))), "(X ⊙ X)^T (p ⊙ (1 - p))", kind="diagonal",
      gap="the operands of @ are named first (G, G2 lines)"),
    R("cs-softmax-ce-hessian", "CS231n softmax loss, Hessian (one sample)",
      "y[k] : one-hot\nm = sum[j](exp(z[j]))\np[k] = exp(z[k]) / m\nL = -sum[k](y[k] * log(p[k]))", "z",
      lambda z: diag(softmax(z)) - outer(softmax(z), softmax(z)), "diag(p) - p p^T", kind="hessian",
      domain={"y": "onehot1"}),
    R("cs-logsumexp-hessian", "CS231n log-sum-exp, Hessian", "L = log(sum[i](exp(x[i])))", "x",
      lambda x: diag(softmax(x)) - outer(softmax(x), softmax(x)), "diag(p) - p p^T", kind="hessian",
      gap="the softmax is not named: z1, dz1 lines and exp(x) / z1 spelled out"),
    R("cs-attention-dV", "CS231n attention (softmax(Q K^T / sqrt(d)) V)", ATTENTION, "V",
      lambda Q, K, dO: softmax(Q @ K.T / np.sqrt(Q.shape[1])).T @ dO, "P^T dO"),
    R("cs-attention-dQ", "CS231n attention (softmax(Q K^T / sqrt(d)) V)", ATTENTION, "Q",
      lambda Q, K, V, dO: attention_dS(Q, K, V, dO) @ K / np.sqrt(Q.shape[1]),
      "dP = dO V^T; dS = P ⊙ (dP - sum(P ⊙ dP, axis=1)); dS K / sqrt(d)",
      gap="the softmax adjoint is spelled through dz and exp(S), not P ⊙ (dP - sum(P ⊙ dP))"),
    R("cs-batchnorm-jac", "CS231n batch norm, Jacobian of x_hat", BN_HAT, "X",
      lambda X: batchnorm_jac(X), "δ_de (δ_nm - 1 / N - Xh_nd Xh_me / N) / sqrt(v_d + eps)", kind="jacobian",
      gap="the intermediate Jacobians dmu/dX, dC/dX, dv/dX printed, not substituted"),
    R("cs-softmax-ce-batch-hessian", "CS231n softmax loss, Hessian (batch)", SOFTMAX_CE, "Z",
      lambda Z: einsum("no,nk,kl->nkol", I_(len(Z)), softmax(Z), I_(Z.shape[1])) / len(Z)
      - einsum("no,nk,nl->nkol", I_(len(Z)), softmax(Z), softmax(Z)) / len(Z),
      "δ_no (P_nk δ_kl - P_nk P_nl) / N", kind="hessian", domain={"Y": "onehot"},
      gap="the intermediate Jacobians dP/dZ, d(dL/dm)/dZ printed, exp(Z) not written m * P"),
    R("cs-gaussian-hessian-m", "Cookbook §8.1 (Gaussian), d²/dμ² of the negative log-likelihood",
      "S[i,j] : spd\nr[i] = x[i] - m[i]\nL = 0.5 * logdet(S) + 0.5 * r[i] * inv(S)[i,j] * r[j]", "m",
      lambda S: inv(S), "S^{-1}", kind="hessian", domain={"S": "spd"}),
    R("ph-tanh-neuron-hessian", "Parr & Howard, neuron activation, Hessian", "L = tanh(w[i] * x[i] + b)", "w",
      lambda w, x, b: -2 * np.tanh(w @ x + b) * (1 - np.tanh(w @ x + b) ** 2) * outer(x, x),
      "-2 a (1 - a^2) x x^T", kind="hessian"),
    R("cs-affine-mse-hessian-Wb", "CS231n affine layer + MSE, mixed Hessian W, b",
      "Y[n,m] = X[n,d] * W[d,m] + b[m]\nL = sum[n,m]((Y[n,m] - T[n,m])^2)", "W b",
      lambda X, W: 2 * einsum("d,mp->dmp", X.sum(axis=0), I_(W.shape[1])),
      "2 (Σ_n X_nd) δ_mp", kind="hessian"),
    # ---------------------------------------------------------------- Parr & Howard
    R("ph-neuron-dw", "Parr & Howard, neuron activation", "a = relu(w[i] * x[i] + b)", "w",
      lambda w, x, b: step(w @ x + b) * x, "step(w^T x + b) x",
      gap="the argument z1 of the relu (unused) and its adjoint dz1 printed as lines"),
    R("ph-neuron-db", "Parr & Howard, neuron activation", "a = relu(w[i] * x[i] + b)", "b",
      lambda w, x, b: step(w @ x + b), "step(w^T x + b)"),
    R("ph-dot-dw", "Parr & Howard, vector dot product", "y = w[i] * x[i]", "w", lambda x: x, "x"),
    R("ph-add-jac", "Parr & Howard, element-wise w + x", "y[i] = w[i] + x[i]", "w",
      lambda w: I_(len(w)), "I", kind="jacobian"),
    R("ph-sub-jac", "Parr & Howard, element-wise w - x", "y[i] = w[i] - x[i]", "x",
      lambda x: -I_(len(x)), "-I", kind="jacobian"),
    R("ph-mul-jac", "Parr & Howard, element-wise w ⊗ x", "y[i] = w[i] * x[i]", "w",
      lambda x: diag(x), "diag(x)", kind="jacobian"),
    R("ph-div-jac", "Parr & Howard, element-wise w ⊘ x", "y[i] = w[i] / x[i]", "x",
      lambda w, x: diag(-w / x ** 2), "diag(-w / x^2)", kind="jacobian", domain={"x": "pos"}),
    R("ph-scalar-add-jac", "Parr & Howard, scalar expansion x + z", "y[i] = x[i] + z", "z",
      lambda x: np.ones_like(x), "1", kind="jacobian"),
    R("ph-scalar-mul-jac", "Parr & Howard, scalar expansion x z", "y[i] = x[i] * z", "x",
      lambda x, z: z * I_(len(x)), "z I", kind="jacobian"),
    R("ph-sum-grad", "Parr & Howard, vector sum reduction", "y = sum[i](x[i])", "x",
      lambda x: np.ones_like(x), "1"),
    R("ph-sum-scalar-grad", "Parr & Howard, sum(x z)", "y = sum[i](x[i] * z)", "z", lambda x: x.sum(), "sum(x)"),
    R("ph-chain-jac", "Parr & Howard, vector chain rule", "y[i] = sin(x[i]^2)", "x",
      lambda x: diag(2 * x * np.cos(x ** 2)), "diag(2 x ⊙ cos(x^2))", kind="jacobian"),
    R("ph-Wx-jac-x", "Parr & Howard, affine Jacobian", "y[i] = W[i,j] * x[j] + b[i]", "x",
      lambda W: W, "W", kind="jacobian"),
    R("ph-Wx-jac-W", "Parr & Howard, affine Jacobian w.r.t. W", "y[i] = W[i,j] * x[j]", "W",
      lambda W, x: einsum("ik,l->ikl", I_(W.shape[0]), x), "δ_ik x_l", kind="jacobian"),
    R("ph-loss-dw", "Parr & Howard, neuron loss gradient", NEURON_LOSS, "w",
      lambda X, w, b, y: 2 / len(y) * X.T @ ((relu(X @ w + b) - y) * step(X @ w + b)),
      "2 X^T ((relu(z) - y) ⊙ step(z)) / N",
      gap="the argument z1 of the relu and its adjoint dz1 printed as lines; -2 * (y - relu(z1)) not turned into 2 * (relu(z1) - y)"),
    R("ph-loss-db", "Parr & Howard, neuron loss gradient", NEURON_LOSS, "b",
      lambda X, w, b, y: 2 / len(y) * ((relu(X @ w + b) - y) * step(X @ w + b)).sum(),
      "2 sum((relu(z) - y) ⊙ step(z)) / N",
      gap="the argument z1 of the relu and its adjoint dz1 printed as lines; -2 * (y - relu(z1)) not turned into 2 * (relu(z1) - y)"),
    R("ph-exp-dot", "Parr & Howard, scalar chain rule", "L = exp(a[i] * x[i])", "x",
      lambda a, x: np.exp(a @ x) * a, "exp(a^T x) a"),
    R("ph-cube-dot", "Parr & Howard, total-derivative chain", "u = a[i] * x[i]\nL = u^3", "x",
      lambda a, x: 3 * (a @ x) ** 2 * a, "3 (a^T x)^2 a", gap="the intermediate adjoint du printed on a line"),
    R("ph-quotient", "Parr & Howard, quotient rule", "L = a[i] * x[i] / (b[j] * x[j])", "x",
      lambda a, b, x: (a - (a @ x) / (b @ x) * b) / (b @ x), "(a - L b) / (b^T x)",
      gap="the common denominator sum(b * x) not factored out: it is printed twice"),
    R("ph-cube-sum", "Parr & Howard, element-wise power", "L = sum[i](x[i]^3)", "x", lambda x: 3 * x ** 2, "3 x^2"),
    # textbook identities whose tensors are named like words of the matrix notation
    R("cb103-99-input-named-I", "Cookbook (103) and (99), a matrix named I",
      "L = sum[i,j](I[i,j] * X[i,j]) + trace(X)", "X", lambda I: I + I_(len(I)), "I_img + I"),
    R("ph-mul-jac-input-named-diag", "Parr & Howard, element-wise product, weights named diag",
      "y[i] = diag[i] * x[i]", "x", lambda diag: np.diag(diag), "diag(d)", kind="jacobian"),
    R("cb70-input-named-outer", "Cookbook (70), b named outer", "L = a[i] * X[i,j] * outer[j]", "X",
      lambda a, outer: np.outer(a, outer), "a b^T"),
    R("ph-add-jac-input-named-eye", "Parr & Howard, element-wise sum, a vector named eye", "y[i] = eye[i] + x[i]",
      "x", lambda x: I_(len(x)), "I", kind="jacobian"),
]

BY_NAME = {r.name: r for r in ROWS}


# ------------------------------------------------------------------ running a row


def derivation(name: str) -> ricci.Derivation:
    return cookbook_doc.derive(BY_NAME[name])


def _dims(row: Row, d: ricci.Derivation) -> dict[str, int]:
    """A distinct size per index class, or the row's sizes (by index name)."""
    dims = sizes_of(d)
    for label in dims:
        for idx, n in row.sizes.items():
            if idx in d.source_program.names_for_dim(label):
                dims[label] = n
    return dims


def _draw(kind: str, shape: tuple[int, ...], square: bool, rng: np.random.Generator) -> np.ndarray:
    if kind == "spd":
        a = rng.standard_normal(shape)
        return a @ a.T / shape[0] + np.eye(shape[0])
    if kind == "pos":
        return rng.uniform(0.5, 1.5, shape)
    if kind == "onehot1":  # one one-hot vector
        return np.eye(shape[0])[rng.integers(0, shape[0])]
    if kind == "onehot":
        out = np.zeros(shape)
        out[np.arange(shape[0]), rng.integers(0, shape[1], shape[0])] = 1.0
        return out
    x = rng.standard_normal(shape)
    if square and kind != "normal":  # inv, det, logdet defined; a missing transpose shows
        x = shape[0] * np.eye(shape[0]) + 0.3 * x
    return x


def inputs_for(row: Row, d: ricci.Derivation, seed: int = 0) -> tuple[dict[str, np.ndarray], dict[str, int]]:
    dims = _dims(row, d)
    rng = np.random.default_rng(seed)
    out = {}
    for name in d.inputs:
        labels = d.program.dims[name]
        shape = tuple(dims[x] for x in labels)
        out[name] = _draw(row.domain.get(name, ""), shape, len(labels) == 2 and labels[0] == labels[1], rng)
    return out, dims


def oracle_values(row: Row, inputs: dict[str, np.ndarray]) -> np.ndarray:
    params = inspect.signature(row.oracle).parameters
    return np.asarray(row.oracle(**{p: inputs[p] for p in params}), dtype=np.float64)


def params(test: str) -> list[Any]:
    return [pytest.param(r.name, id=r.name,
                         marks=[pytest.mark.xfail(strict=True, reason=r.xfail[test])] if test in r.xfail else [])
            for r in ROWS]


# ------------------------------------------------------------------ the tests


def test_at_least_sixty_identities_from_the_three_sources():
    assert len(ROWS) >= 60
    assert len(BY_NAME) == len(ROWS), "identity names are unique"
    for prefix in ("Cookbook", "CS231n", "Parr & Howard"):
        assert sum(r.source.startswith(prefix) for r in ROWS) >= 10, prefix


@pytest.mark.parametrize("name", params("value"))
def test_ricci_equals_the_textbook_formula(name):
    row = BY_NAME[name]
    d = derivation(name)
    for seed in (0, 1):
        inputs, dims = inputs_for(row, d, seed)
        got = d.compile("numpy").call({k: inputs[k] for k in d.inputs}, None, dims)
        key = ",".join(row.wrt) if row.kind == "hessian" and len(row.wrt) > 1 else row.wrt[0]
        assert set(got) == {key}, f"{name}: results {sorted(got)}"
        value = np.asarray(got[key], dtype=np.float64)
        want = oracle_values(row, inputs)
        assert value.shape == want.shape, f"{name}: ricci's shape {value.shape}, the textbook's {want.shape}"
        scale = max(1.0, float(np.abs(want).max()))
        err = float(np.abs(value - want).max())
        assert err <= 1e-9 * scale, f"{name} (seed {seed}): max |ricci - textbook| = {err:.3e}\n{d}"


@pytest.mark.parametrize("name", params("check"))
def test_ricci_check_passes_against_torch(name):
    row = BY_NAME[name]
    report = ricci_check(row.program, list(row.wrt), sizes=row.sizes or None, derivation=derivation(name),
                         raise_on_mismatch=False)
    assert report.ok, str(report)
    assert all(e is not None for e in report.torch_error.values()), "torch is installed: compared with autograd"


@pytest.mark.parametrize("name", params("strict"))
def test_printed_matrix_form_is_proven_as_printed(name):
    d = derivation(name)
    assert strict_problems(d) == [], str(d.matrix())


def test_cookbook_doc_is_current():
    """docs/cookbook.md is what ``python tests/support/cookbook_doc.py > docs/cookbook.md`` prints now."""
    page = (ROOT / "docs" / "cookbook.md").read_text()
    assert page == cookbook_doc.render(ROWS), \
        "docs/cookbook.md is stale: run  python tests/support/cookbook_doc.py > docs/cookbook.md"


def test_every_gap_is_explained_and_every_explanation_is_a_gap():
    """A row judged more complicated than the textbook has a reason in ``gap``; a row with a
    reason is judged so (remove the reason once ricci prints the simpler form)."""
    judged = {r.name: cookbook_doc.judge(r)[0] for r in ROWS}
    unexplained = [n for n, simple in judged.items() if simple is False and not BY_NAME[n].gap]
    stale = [n for n, simple in judged.items() if simple is not False and BY_NAME[n].gap]
    assert unexplained == [], f"gaps without a reason: {unexplained}"
    assert stale == [], f"reasons for rows that are as simple as the textbook: {stale}"


def test_the_complexity_measure():
    cost = cookbook_doc.cost
    assert cost("A^T B^T") == cost("dX = A.T @ B.T") == 5
    assert cost("2 B x") < cost("(B + B.T) @ x")
    assert cost("X^{-T}") == cost("inv(X).T")
    assert cost("δ_im A_nj") == cost("A[q,j] * delta[i,p]")
    assert cost("sum(dY, axis=0)") == 2
    assert cost("dy/dw = eye(size(i))") == cost("dX = eye(X.shape[0])") == cost("I") == 1
    assert cost("ones((size(i),))") == cost("ones_like(x)") == 1
    assert cost("2 * (X.T @ G) / size(n)") == cost("2 (X^T G) / N") == 8


@pytest.mark.parametrize("name", params("steps"))
def test_steps_hold(name):
    """Every step of ``d.steps()`` holds at random inputs (both sides, derivatives by torch)."""
    assert check_steps(derivation(name)) > 0


# ------------------------------------------------------------------ outside the domain

#: Cookbook (51) needs X X^T invertible; with a tall X it is singular (ln det = -inf)
LOGDET_XXT = "Y[i,j] = X[i,k] * X[j,k]\nL = logdet(Y)"


def test_a_singular_input_operand_is_refused():
    """The control: X X^T of a tall X, given as the input of logdet, is refused."""
    X = np.random.default_rng(0).standard_normal((3, 2))
    f = ricci.grad("L = logdet(S)", ["S"]).compile("numpy")
    with pytest.raises(ricci.RicciError, match="singular"):
        f(S=X @ X.T)


def test_a_singular_intermediate_operand_is_refused():
    """Bug #30: the same singular matrix as an intermediate operand (Y = X X^T, X tall) was
    not refused: the gradient was returned as finite numbers."""
    X = np.random.default_rng(0).standard_normal((3, 2))
    f = ricci.grad(LOGDET_XXT, ["X"]).compile("numpy")
    with pytest.raises(ricci.RicciError, match="singular"):
        f(X=X)
