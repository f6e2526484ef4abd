"""Reading programs: ricci's notation (:mod:`.parse`) and LaTeX (:mod:`.latex`) into one
syntax tree with source spans (:mod:`.tree`); :mod:`.resolve` turns it into the IR (the
index rule, the size classes).

Both readers check the text alike (:mod:`.text`: its preparation, numbers, names, and the
errors for crossing the limits). The LaTeX reader is in parts: :mod:`.latex_lexer` (the
tokens), :mod:`.latex_tables` (the commands it knows), :mod:`.latex_cursor` (the parser's
state and moves), :mod:`.latex_names` (names and their scripts), :mod:`.latex_commands`
(functions, fractions, sums, sizes) and :mod:`.latex` (statements, expressions, atoms, and
the entry points). :mod:`.matrix_input` reads NumPy-style matrix notation with declared
shapes and translates it into the same tree. A module imports only modules before it in this order: ``text``,
``tree``, ``parse``, ``latex_tables``, ``latex_lexer``, ``latex_cursor``, ``latex_names``,
``latex_commands``, ``latex``, ``matrix_input``, ``resolve``.
"""
