"""ricci programs as differentiable functions of PyTorch (:mod:`.torch`) and JAX
(:mod:`.jax`); public as ``ricci.torch`` and ``ricci.jax``."""
