"""Code generation: expressions lowered to array operations (:mod:`.lower`), numerically
stable forms (:mod:`.stable`), a Python function per backend (:mod:`.emit`), and the
compiled function's input contract (:mod:`.calling`)."""
