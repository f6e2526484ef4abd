"""The intermediate representation: immutable expression nodes with named indices
(:mod:`.expr`), walking and rebuilding trees (:mod:`.traversal`), index names and
renaming (:mod:`.indices`), programs of statements (:mod:`.program`), and the hook
through which they print (:mod:`.printing`)."""
