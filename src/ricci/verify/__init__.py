"""Proof by numbers: an independent reference interpreter (:mod:`.evaluate`) and the
comparison of compiled derivatives with PyTorch autograd and finite differences
(:mod:`.check`); the checker of hand derivations, :func:`ricci.verify` (:mod:`.claims`)."""
