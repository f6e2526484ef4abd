"""The intermediate representation: immutable expression nodes with named indices
(:mod:`.expr`), programs of statements (:mod:`.program`), and the hook through which
they print (:mod:`.printing`)."""
