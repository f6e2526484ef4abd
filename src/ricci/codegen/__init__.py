"""Code generation: expressions lowered to array operations (:mod:`.lower`), numerically
stable forms (:mod:`.stable`), a Python function per backend (:mod:`.emit`), the sizes
each index takes at call time (:mod:`.binding`), and the compiled function's input
contract (:mod:`.calling`)."""
