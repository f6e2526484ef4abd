"""Input limits and hostile text: "never wrong, never a crash".

Only :class:`ricci.RicciError` reaches a user, with a caret where the text goes wrong, and
every limit of :mod:`ricci.bounds` fails clearly: nesting, number literals, Unicode,
sizes; parsing is linear (checked by structure, the benchmark times it); and every
program ricci accepts prints as text that parses back to it (``parse(str(p)) == p``),
however deep, big or Unicode.
"""

from __future__ import annotations

import random
import sys
from fractions import Fraction

import pytest

import ricci
from ricci import RicciError, limits
from ricci.display.render import expr_text
from ricci.ir.expr import MINUS_ONE, Const, Index, Mul, Tensor
from ricci.ir.program import Statement
from ricci.primitives.numbers import number_text
from ricci.syntax.parse import _tokenize_exact, tokenize
from ricci.syntax.text import number_value

LIMIT = 128  # the default nesting limit


def err(text: str, syntax: str = "ricci") -> RicciError:
    with pytest.raises(RicciError) as info:
        ricci.parse(text, syntax=syntax)
    return info.value


def round_trips(p: ricci.Program) -> str:
    """``str(p)`` parses back to ``p`` and prints the same; every notation prints."""
    text = str(p)
    q = ricci.parse(text)
    assert q == p, f"\n{text}\nparses back to\n{q}"
    assert str(q) == text
    p.latex()
    p.unicode()
    return text


def at(e: RicciError, line: int, column: int) -> None:
    assert (e.line, e.column) == (line, column), str(e)
    assert f"--> line {line}, column {column}" in str(e)


# ---------------------------------------------------------------- 1. nesting


def test_nesting_beyond_the_limit_is_an_error_at_the_token_that_crosses_it():
    text = "L = " + "exp(" * 200 + "x" + ")" * 200
    e = err(text)
    assert e.message == "expression nested 129 levels deep, more than the limit of 128"
    at(e, 1, 5 + 4 * 128)  # the 129th exp
    assert "ricci.limits(nesting=" in e.hint and "statement" in e.hint
    e = err("L = " + r"\exp(" * 200 + "x" + ")" * 200, syntax="latex")
    assert "nested 129 levels deep, more than the limit of 128" in e.message
    at(e, 1, 5 + 5 * 128)


@pytest.mark.parametrize("syntax,opening,closing", [
    ("ricci", "exp(", ")"), ("ricci", "(", ")"), ("ricci", "(a + ", ")"), ("ricci", "tanh(2 * ", ")"),
    ("latex", r"\exp(", ")"), ("latex", r"\left(", r"\right)"), ("latex", r"\sqrt{", "}"),
    ("latex", r"\frac{1}{a + ", "}"), ("latex", "{a ", "}"), ("latex", "|", "|"), ("latex", r"\tanh ", ""),
])
def test_everything_up_to_the_limit_parses_prints_and_round_trips(syntax, opening, closing):
    inner = "x_i" if syntax == "latex" else "x[i]"
    lhs = "y_i" if syntax == "latex" else "y[i]"
    p = ricci.parse(f"{lhs} = " + opening * LIMIT + inner + closing * LIMIT, syntax=syntax)
    round_trips(p)
    e = err(f"{lhs} = " + opening * (LIMIT + 1) + inner + closing * (LIMIT + 1), syntax)
    assert "nested 129 levels deep" in e.message


def test_unary_signs_count_and_print_without_recursing():
    p = ricci.parse("L = " + "- " * LIMIT + "x")
    assert round_trips(p).startswith("L = -(-(-(")
    ricci.parse("L = " + "-" * LIMIT + "x")
    for n in (LIMIT + 1, 300, 100_000):
        assert "more than the limit of 128" in err("L = " + "- " * n + "x").message
    assert "more than the limit" in err("L = " + "-" * 300 + "x", syntax="latex").message


def test_what_counts_as_a_level():
    """A sign right after '(' and a '(' right after '^' share the level already open (how
    ricci prints them), and so does sum[k](x[k]) (how an implicit reduction prints)."""
    ricci.parse("L = " + "-(" * (LIMIT - 1) + "x" + ")" * (LIMIT - 1))
    assert "129 levels" in err("L = " + "-(" * LIMIT + "x" + ")" * LIMIT).message
    ricci.parse("L = x" + "^(x" * LIMIT + ")" * LIMIT)
    ricci.parse("L = x" + "^x" * LIMIT)
    assert "129 levels" in err("L = x" + "^x" * (LIMIT + 1)).message
    p = ricci.parse("L = " + "tanh(" * LIMIT + "x[j]" + ")" * LIMIT)
    assert "sum[j](x[j])" in round_trips(p)  # one level more in the text, which counts none
    with limits(nesting=3):
        ricci.parse("L = exp(exp(exp(sum[k](x[k]))))")
        assert "4 levels deep, more than the limit of 3" in err("L = exp(exp(exp(sum[k](-x[k]))))").message


def test_the_limit_can_be_changed():
    with limits(nesting=16):
        e = err("L = " + "(" * 17 + "x" + ")" * 17)
        assert e.message == "expression nested 17 levels deep, more than the limit of 16"
        at(e, 1, 21)
    with limits(nesting=1000):
        round_trips(ricci.parse("L = " + "exp(" * 1000 + "x" + ")" * 1000))


def test_recursion_that_still_runs_out_is_a_ricci_error():
    with limits(nesting=10**6):
        e = err("L = " + "(" * 50_000 + "x" + ")" * 50_000)
    assert "nested too deeply" in e.message


def test_printing_is_guarded_for_expressions_deeper_than_any_parse():
    e = Tensor("x", (Index("i", "x:0"),))
    for _ in range(3000):
        e = Mul((MINUS_ONE, e))
    st = Statement("y", (Index("i", "x:0"),), e)
    assert str(st).startswith("y[i] = -(-(")
    assert st == Statement("y", (Index("i", "x:0"),), e)


def _random_ricci(r: random.Random, d: int) -> str:
    if d <= 0:
        return r.choice(["x[i]", "a", "2", "0.5", "sum[k](v[k])", "size(i)", "delta[i,i]"])
    sub = _random_ricci(r, d - 1)
    leaf = _random_ricci(r, 0)
    return r.choice([f"({sub})", f"exp({sub})", f"-{sub}", f"- {sub}", f"{leaf}^{sub}", f"{leaf}^({sub})",
                     f"{leaf} * -{sub}", f"{leaf} / -({sub})", f"a - ({sub})", f"({sub}) * {leaf}",
                     f"tanh(-{sub})", f"+{sub}", f"{leaf} + {sub} * b", f"-(-{sub})"])


def _random_latex(r: random.Random, d: int) -> str:
    if d <= 0:
        return r.choice(["x_i", "a", "2", "0.5", r"\sum_k v_k", r"\delta_{ii}", r"\mu"])
    sub = _random_latex(r, d - 1)
    return r.choice([rf"\left({sub}\right)", f"({sub})", f"{{{sub} b}}", rf"\frac{{{sub}}}{{2 + a}}",
                     rf"\frac{{a}}{{{sub}}}", rf"\sqrt{{{sub}}}", rf"\tanh({sub})", f"e^{{{sub}}}",
                     f"a^{{{sub}}}", f"-{sub}", f"|{sub}|", rf"\sigma({sub})", rf"a \cdot -{sub}"])


def _depth(text: str, syntax: str) -> int:
    """The nesting of ``text``: the smallest limit it parses under."""
    lo, hi = 0, 4 * LIMIT
    while lo + 1 < hi:
        mid = (lo + hi) // 2
        try:
            with limits(nesting=mid):
                ricci.parse(text, syntax=syntax)
            hi = mid
        except RicciError as e:
            assert "nested" in e.message, e.message
            lo = mid
    return hi


@pytest.mark.parametrize("syntax", ["ricci", "latex"])
def test_printed_text_is_never_nested_deeper_than_the_text_read(syntax):
    """So whatever parses under a nesting limit prints as text that parses back under it."""
    gen, lhs = (_random_ricci, "y[i] = x[i] + ") if syntax == "ricci" else (_random_latex, "y_i = x_i + ")
    for seed in range(40):
        r = random.Random(seed)
        text = lhs + gen(r, r.randrange(3, 30))
        depth = _depth(text, syntax)
        with limits(nesting=depth):
            round_trips(ricci.parse(text, syntax=syntax))


# ---------------------------------------------------------------- 2. number literals


def test_long_literals_are_refused_before_any_conversion():
    e = err("L = 2 * " + "1" * 5000)
    assert e.message == "the number 111111111111...111111111111 has 5000 digits, more than the limit of 400"
    at(e, 1, 9)
    assert e.span.length == 5000
    assert "ricci.limits(literal_digits=" in e.hint
    assert "400 digits" not in err("L = " + "9" * 401).message and "401 digits" in err("L = " + "9" * 401).message
    with limits(literal_digits=10):
        assert "more than the limit of 10" in err("L = 12345678901").message
        assert "more than the limit of 10" in err("L = 1.2345678e-100").message


def test_zeros_are_not_significant_digits():
    assert number_value("0" * 5000 + "1", None, "") == 1
    assert number_value("1." + "0" * 5000, None, "") == 1
    assert number_value("0." + "0" * 300 + "5e305", None, "") == 50_000
    assert number_value("0e99999999999999999999", None, "") == 0
    assert number_value("1e0000000000000000000000000000000005", None, "") == 100_000


@pytest.mark.parametrize("literal,word", [
    ("1e999999", "large"), ("1e99999999999999999999", "large"), ("1.8e308", "large"),
    ("1" + "0" * 309, "large"), ("1e-400", "small"), ("2e-308", "small"), ("0.5e-99999999999", "small"),
])
def test_literals_beyond_float64_are_refused(literal, word):
    e = err(f"y[i] = x[i]^{literal}")
    assert e.message.endswith(f"is too {word} for float64")
    at(e, 1, 13)
    assert "2.2e-308" in e.hint and "1.8e308" in e.hint


def test_every_literal_in_range_is_exact_and_round_trips():
    big, tiny = "1.7976931348623157e308", "2.2250738585072014e-308"
    p = ricci.parse(f"y[i] = {big} * x[i] + {tiny} + 123456789012345678901234567890 + 0.000000000000000000001234"
                    f" + 1e300 + 3.14159265358979323846264338327950288 + 0e999")
    text = round_trips(p)
    assert "1.7976931348623157e+308" in text and tiny in text and "1e+300" in text
    digits = "123456789" * 44 + "1234"  # 400 significant digits
    for literal in ("1." + digits[1:], digits[:397] + "e-300", "0." + "0" * 250 + digits[:380],
                    digits[:300] + "e-100", digits[:300]):
        round_trips(ricci.parse(f"y = {literal} * x"))


def test_number_text_spells_any_fraction():
    assert number_text(Fraction(10) ** 6000) == "1e+6000"
    assert number_text(Fraction(-25, 10**7)) == "-2.5e-06"
    assert number_text(Fraction(1, 3) / 10**1000) == "1/3e+1000"
    assert number_text(Fraction(107032224408900379083, 10**21)) == "0.107032224408900379083"
    huge = 3 ** 10000  # 4772 digits: more than str() of an int allows
    text = number_text(Fraction(huge))
    assert len(text) == 4772 and text.endswith(str(huge % 10**20).rjust(20, "0"))
    tiny = number_text(Fraction(1, 2**2000))
    assert tiny.startswith("0.000") and len(tiny) == 2002
    old = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(640)
    try:
        assert len(number_text(Fraction(7) ** 900)) == 761
        e = Mul((Const(Fraction(7) ** 900), Const(Fraction(1, 7**900)), Tensor("x")))
        for notation in ("text", "unicode", "latex"):
            assert expr_text(e, notation=notation)
    finally:
        sys.set_int_max_str_digits(old)


# ---------------------------------------------------------------- 3. Unicode


@pytest.mark.parametrize("text,column,message,hint", [
    ("L = 2² * x", 6, "superscript '²' after '2'", "2^2"),
    ("L = x⁻¹ * 2", 6, "superscript '⁻¹' after 'x'", "x^-1"),
    ("L = x₄", 6, "subscript '₄' after 'x'", "x4 for a name, or x[i]"),
    ("L = xᵢ", 6, "subscript 'ᵢ' after 'x'", "x[i]"),
    ("L = t½", 6, "'½' cannot be part of the name 't½'", "1/2"),
    ("y = ｙ + y", 5, "Python reads it as 'y'", "'ｙ' is written 'y'"),
    ("L = x１", 6, "Python reads it as '1'", "write 'x1'"),
    ("L = µ", 5, "Python reads it as 'μ'", "'µ' is written 'μ'"),
    ("L = y\u0302", 5, "not in NFKC normal form", "write 'ŷ'"),
    ("L = ٣ * x", 5, "unexpected character '٣'", "digits 0-9: 3"),
    ("L = a · b", 7, "unexpected character '·'", "write '*'"),
    ("L = a − b", 7, "unexpected character '−'", "write '-'"),
    ("L = x\u200b", 6, "invisible character U+200B (zero width space)", "delete it"),
])
def test_names_are_normal_python_identifiers_and_numbers_ascii(text, column, message, hint):
    e = err(text)
    assert message in e.message
    assert hint in e.hint
    at(e, 1, column)


@pytest.mark.parametrize("text,column,message,hint", [
    ("L = x²", 6, "superscript '²' after 'x'", "x^2"),
    ("L = x¹²", 6, "superscript '¹²' after 'x'", "x^{12}"),
    ("L = x₁₂", 6, "subscript '₁₂' after 'x'", "x_{12}"),
    ("y = ｙ + y", 5, "unexpected character 'ｙ'", "'ｙ' is written 'y'"),
    ("L = ŷ", 5, "unexpected character 'ŷ'", r"\hat{y}"),
    ("L = y\u0302", 6, "combining accent", r"\hat{y}"),
    ("L = 2 * ١", 9, "unexpected character", "digits 0-9: 1"),
])
def test_the_same_rules_in_latex(text, column, message, hint):
    e = err(text, syntax="latex")
    assert message in e.message
    assert hint in e.hint
    at(e, 1, column)


def test_unicode_names_that_are_normal_identifiers_are_kept():
    p = ricci.parse("ŷ[i] = σ(α * x[i]) + β" .replace("σ(", "tanh("))
    assert [s.name for s in p.statements] == ["ŷ"] and set(p.inputs) == {"α", "x", "β"}
    round_trips(p)
    round_trips(ricci.parse("y[μ,ν] = A[ν,μ] * λ\nz = y[μ,μ]"))


def test_byte_order_mark_line_endings_tabs_and_spaces():
    expected = ricci.parse("y[i] = x[i] + b\nz = y[i] * 2")
    for text in ("\ufeffy[i] = x[i] + b\nz = y[i] * 2", "y[i] = x[i] + b\r\nz = y[i] * 2\r\n",
                 "y[i] = x[i] + b\rz = y[i] * 2", "y[i]\t=\tx[i] + b\nz = y[i] * 2",
                 "y[i] = x[i]\u00a0+\u2009b\nz = y[i] * 2", "y[i] = (x[i]\r\n + b)\r\nz = y[i] * 2"):
        assert ricci.parse(text) == expected, repr(text)
    assert ricci.parse("\ufeffy_i = x_i + b", syntax="latex") == ricci.parse("y[i] = x[i] + b")
    at(err("\ufeffy = x $"), 1, 7)
    at(err("y = x\r\nz = $"), 2, 5)
    at(err("y = x\rz = $"), 2, 5)
    at(err("y = x\r\nz = $", syntax="latex"), 2, 5)
    for syntax in ("ricci", "latex"):  # a line break is at the end of its line
        for text in ("y =\r\nz = 1", "y =\rz = 1", "y =\nz = 1"):
            e = err(text, syntax)
            assert "found the end of the line" in e.message
            at(e, 1, 4)


@pytest.mark.parametrize("syntax", ["ricci", "latex"])
@pytest.mark.parametrize("text,line,column,what", [
    ("y = x\x00", 1, 6, "U+0000 (NUL)"), ("y = x # a\x00 comment\nz = y", 1, 10, "U+0000 (NUL)"),
    ("y = x\nz = \x1b[1my", 2, 5, "U+001B (escape)"), ("y = x\x0cz", 1, 6, "U+000C (form feed)"),
    ("y = x\u2028z = y", 1, 6, "U+2028 (line separator)"), ("y = \ufeffx", 1, 5, "U+FEFF"),
])
def test_control_characters_are_errors_with_a_caret(syntax, text, line, column, what):
    e = err(text, syntax)
    assert what in e.message
    at(e, line, column)


# ---------------------------------------------------------------- 4. sizes


@pytest.mark.parametrize("syntax,statement", [("ricci", "y{k} = x"), ("latex", "{{y_{{{k}}}}} = x")])
def test_statements_limit(syntax, statement):
    text = "\n".join(statement.format(k=k) for k in range(6))
    with limits(statements=5):
        e = err(text, syntax)
        assert e.message == "statement 6 is one more than the limit of 5 statements in a program"
        at(e, 6, 1)
        assert "ricci.limits(statements=" in e.hint
        ricci.parse("\n".join(statement.format(k=k) for k in range(5)), syntax=syntax)


def test_indices_limit():
    names = [f"i{k}" for k in range(33)]
    text = f"T[{','.join(names[:32])}] = A[{','.join(names[:32])}]"
    round_trips(ricci.parse(text))
    text = f"T[{','.join(names[:32])}] = A[{','.join(names[:32])}] * b[{names[32]}]"
    e = err(text)
    assert e.message == "statement T uses 33 index names, more than the limit of 32"
    at(e, 1, text.index("i32]") + 1)
    assert "ricci.limits(indices=" in e.hint
    e = err("y = x[" + ",".join(["i"] * 33) + "]")
    assert e.message == "x has 33 indices, more than the limit of 32"
    at(e, 1, 7 + 2 * 32)
    e = err("T_{" + "abcdefghijklmnopqrstuvwxyzABCDEFG" + "} = 1", syntax="latex")
    assert "T has 33 indices" in e.message
    with limits(indices=2):
        assert "uses 3 index names" in err("y = A[i,j] * x[k]").message


def test_text_limit():
    with limits(text_chars=20):
        e = err("y = x\nz = y + x + x + x + x")
        assert e.message == "the program text has 27 characters, more than the limit of 20"
        at(e, 2, 15)
        assert "ricci.limits(text_chars=" in e.hint
        ricci.parse("y = x\nz = y + x")


# ---------------------------------------------------------------- 5. speed, by structure


def test_the_fast_tokenizer_agrees_with_the_exact_one():
    for text in ["", "\n", "y = x", "y = x\n", "y = x\r\nz = y;w=2 # c (\n\n", "y = 1. + .5 + 2e-3 ** x",
                 "y[i,j]=sum[k](A[i,k]*B[k,j])\n# only (\n", "a=b\r\rc=d", "y=(a\n+b)", "y = x\t# tab"]:
        assert tokenize(text) == _tokenize_exact(text), repr(text)


def test_a_long_program_and_a_long_sum():
    n = 1000
    text = "\n".join(["z0[i] = tanh(x[i])"] + [f"z{k}[i] = tanh(z{k - 1}[i]) * w[i]" for k in range(1, n)])
    p = ricci.parse(text)
    assert len(p.statements) == n and p.inputs == ("x", "w") and len(set(p.dims.values())) == 1
    assert str(p) == text
    p = ricci.parse("L = " + " + ".join(f"x{k}[i] * y[i]" for k in range(n)))
    assert str(p).endswith("x999[i] * y[i]")
    round_trips(p)


# ---------------------------------------------------------------- printing reads back


@pytest.mark.parametrize("text", [
    "y[ı] = x[ı]", "y = x\u0301 + 1", "y = x\u0661", "y = é + ab_é", "y[i] = αβ[i] * λ[i]",
    "h1[α,i] = sum[l](A[l,i] * A[α,i])\ny[mu,i] = h1[mu,i]", "y = x^T + T^2",
    "L = step(Q[p] + 0.5)^size(i2) * U[s,i2]", "L = sqrt(inv(M)[r,r]^2)",
])
def test_latex_printing_reads_back(text):
    """What ricci prints as LaTeX reads back as the same program (up to Greek names:
    a tensor named α prints as \\alpha, which reads back as alpha)."""
    p = ricci.parse(text)
    q = ricci.parse(p.latex(), syntax="latex")
    assert str(q).replace("alpha", "α").replace("lambda", "λ") == str(p).replace("alpha", "α")


def test_latex_names_beyond_ascii_follow_the_name_rules():
    assert str(ricci.parse(r"y = \text{ı} + \mathrm{x١}", syntax="latex")) == "y = ı + x١"
    e = err(r"y = \text{ｘ}", syntax="latex")
    assert "Python reads it as 'x'" in e.message
    at(e, 1, 11)


def test_latex_line_breaks_are_counted_everywhere():
    e = err("y = a \\\n + ｘ", syntax="latex")  # a backslash ending a line: a control space
    at(e, 2, 4)
    assert str(ricci.parse("y = a \\\n + b", syntax="latex")) == "y = a + b"
    assert len(ricci.parse("y = x % comment\rz = y", syntax="latex").statements) == 2


def test_function_names_are_reserved():
    for text, col in [("L = log", 5), ("y = logdet * 2", 5), ("y[i] = inv[i]", 8), ("y[i] = exp[i]", 8)]:
        e = err(text)
        assert "is a function: call it with parentheses" in e.message
        at(e, 1, col)
