"""The calculus: derivative rules of one expression (:mod:`.differentiate`), the chain
rule over whole programs in reverse mode (:mod:`.reverse`) and forward mode
(:mod:`.forward`) with what both share (:mod:`.prepare`), second order (:mod:`.second`),
forward values reused in derived expressions (:mod:`.reuse`), and the record of a
derivation (:mod:`.record`)."""
