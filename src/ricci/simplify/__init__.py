"""Simplification: named rewrite rules run to a fixed point (:mod:`.rewrite`)."""
