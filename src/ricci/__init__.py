"""ricci: tensor calculus in index notation.

Read a program such as ``Y[i,j] = X[i,k] * A[k,j]``, differentiate it symbolically
(Kronecker deltas and all), simplify the result, and generate code that computes it::

    >>> import ricci
    >>> print(ricci.grad("Y[i,j] = X[i,k] * A[k,j]", wrt=["X", "A"]))
    dX[i,k] = dY[i,j] * A[k,j]
    dA[k,j] = X[i,k] * dY[i,j]
    >>> print(ricci.hessian("L = x[i] * A[i,j] * x[j]", wrt="x"))
    H[i,j] = A[i,j] + A[j,i]

The pipeline is the package layout, one subpackage per stage (``docs/internals.md``):
:mod:`~ricci.syntax` (ricci and LaTeX text -> syntax tree -> IR), :mod:`~ricci.ir`
(expression nodes, programs), :mod:`~ricci.primitives` (one table entry per function),
:mod:`~ricci.calculus` (derivative rules, reverse and forward mode, Hessians),
:mod:`~ricci.simplify` (rewrite rules), :mod:`~ricci.codegen` (NumPy / torch / JAX code),
:mod:`~ricci.display` (index and matrix notation, steps, reports), :mod:`~ricci.verify`
(proof against autograd; :func:`~ricci.verify`, the checker of hand derivations); :class:`~ricci.Derivation` (:mod:`ricci.derivation`) joins them.
"""

from . import expressions as _expressions  # noqa: F401 - installs Program.simplify, matrix, source, compile
from .bounds import Limits, limits
from .derivation import Derivation, grad, hessian, hvp, jacobian
from .errors import RicciError, RicciWarning
from .ir.program import Program, Statement
from .syntax.resolve import parse
from .verify.check import CheckReport, check
from .verify.claims import VerifyReport, verify

__all__ = [
    "CheckReport", "Derivation", "Limits", "Program", "RicciError", "RicciWarning", "Statement", "check", "grad",
    "hessian", "hvp", "jacobian", "limits", "parse", "VerifyReport", "verify",
]
__version__ = "0.1.0"


def __getattr__(name: str):
    # ricci.torch and ricci.jax (autograd functions from ricci programs) are loaded on
    # first use, so that `import ricci` needs neither library
    if name in ("torch", "jax"):
        import importlib

        return importlib.import_module(f".{name}", __name__)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
