"""``ricci.torch``: a ricci program as a ``torch.autograd.Function`` (see :mod:`ricci.interop.torch`).

Loaded on first use (``ricci.torch``), so that ``import ricci`` needs no PyTorch."""

from .interop.torch import TorchFunction, function

__all__ = ["TorchFunction", "function"]
