"""Derivatives: the rule for each node type (:mod:`.differentiate`), reverse and forward
mode over whole programs (:mod:`.autodiff`), second order (:mod:`.second`), forward values
reused in derived expressions (:mod:`.reuse`), and the record of a derivation
(:mod:`.derivation`)."""
