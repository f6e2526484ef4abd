"""What a person reads: index notation in text, Unicode and LaTeX (:mod:`.render`), matrix
notation (:mod:`.matrix`), derivations step by step (:mod:`.steps`), Markdown reports
(:mod:`.report`)."""
