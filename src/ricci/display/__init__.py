"""What a person reads, in three notations (text, Unicode, LaTeX).

* index notation: :mod:`.notation` (how each piece is spelled; the one LaTeX speller of
  names and numbers, which every view uses), :mod:`.implicit_sums`
  (which sums print implicitly), :mod:`.render` (the printer; installed as the printer of
  IR objects);
* matrix notation: :mod:`.matrix_algebra` (the tree), :mod:`.matrix_convert` (index
  notation -> tree), :mod:`.matrix_render` (text, NumPy, LaTeX), :mod:`.matrix` (a
  derivation's matrix view);
* derivations step by step: :mod:`.steps` (the steps and the rule-by-rule replay),
  :mod:`.steps_sections` (the sections per mode), :mod:`.steps_print` (printing);
* Markdown reports: :mod:`.report`.

Modules import one another only at the top and without cycles, in this order: notation,
implicit_sums, render, matrix_algebra, matrix_convert, matrix_render, matrix, steps,
steps_print, steps_sections, report.
"""
