"""Simplification: named rewrite rules run to a fixed point (:mod:`.rewrite`, the rules
written as code in :mod:`.arithmetic`, :mod:`.sums` and :mod:`.canonical`), and transforms
applied once to a finished result (:mod:`.factor`)."""
