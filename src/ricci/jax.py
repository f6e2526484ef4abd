"""``ricci.jax``: a ricci program as a ``jax.custom_vjp`` function (see :mod:`ricci.interop.jax`).

Loaded on first use (``ricci.jax``), so that ``import ricci`` needs no JAX."""

from .interop.jax import JaxFunction, function

__all__ = ["JaxFunction", "function"]
