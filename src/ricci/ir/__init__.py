"""The intermediate representation: immutable expression nodes with named indices
(:mod:`.expr`), programs of statements (:mod:`.program`), and the sizes an index class
takes at call time (:mod:`.shapes`)."""
