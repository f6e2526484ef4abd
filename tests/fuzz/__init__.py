"""Fuzzing ricci: parser fuzzers (grammar-based and mutation-based, both syntaxes),
differential testing of derivatives against an independent torch oracle, test-case
reduction, coverage of the generator, a mutation check of the tests, and the long modes
(``python -m tests.fuzz``). See docs/reliability.md.

The package is imported as ``fuzz`` by the tests (``tests/`` is on ``sys.path`` under
pytest) and as ``tests.fuzz`` by ``python -m tests.fuzz``; its modules import each other
relatively, so both work.
"""
