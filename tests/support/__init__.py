"""Helpers shared by the tests: random program strategies, the checks of printed matrix
forms and steps, KaTeX, the gallery document."""
