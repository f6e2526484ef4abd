"""Grammar-based generators of program text, in ricci syntax and in LaTeX, and a list of
hand-picked edge cases.

The generators follow the grammars of docs/language.md and docs/latex-input.md, and
produce mostly well-formed programs (names reused with their ranks, indices on the left
used on the right) with the awkward corners of the grammars mixed in: deep nesting,
huge and tiny number literals, Unicode letters and digits, long programs, many indices,
comments, ``;``, CRLF, a BOM, tabs. A text is a pure function of its seed.
"""

from __future__ import annotations

import random

FUNCTIONS = ("exp", "log", "sqrt", "tanh", "sigmoid", "relu", "abs", "sin", "cos", "softplus",
             "step", "sign", "log1p", "expm1", "erf", "atan")
MATRIX = ("inv", "det", "logdet", "trace")

#: names: plain, long, Unicode letters and digits, keywords, and function names (errors)
NAMES = ("x", "y", "W", "b", "X", "A", "B", "T", "Z", "L", "W2", "h1", "s_1", "loss", "batch_norm",
         "α", "β", "Σ", "μ", "x₄", "ｘ", "t½", "x²", "ℌ", "µ", "ı", "Ǆ", "ﬁ", "xⅣ", "x١", "_", "__x",
         "lambda", "np", "torch", "sizes", "dX", "z1", "sum", "delta", "size", "exp", "inv", "det",
         "e", "δ", "ṡ", "x\u0301")
INDICES = ("i", "j", "k", "l", "m", "n", "p", "q", "r", "s", "d", "h", "batch", "i2", "k_1", "α", "μ",
           "ı", "ｉ", "₁")
NUMBERS = ("2", "0.5", ".5", "2.", "1e-5", "1E+3", "3.25e2", "1e0", "0", "007", "1.5", "10",
           "0.1", "1e-1", "1e", "1e+", "1.e5", "2²", "٣", "١٢.٥", "1_000", "0x1F", "½",
           "1" + "0" * 30, "9" * 399, "9" * 401, "1e400", "1e-400", "1.5e-20")
#: literals that exhaust a naive reader: used now and then
HUGE_NUMBERS = ("1e99999999999999999999", "1e-999999", "9" * 5000, "1e999999", "0." + "0" * 5000 + "1",
                "1" + "0" * 4400)
SEPARATORS = ("\n", "\n", "; ", "\r\n", "\n\n", " ;\n", "\n# a comment\n", "\t\n", "\n  \n")


class _Gen:
    def __init__(self, r: random.Random) -> None:
        self.r = r
        self.ranks: dict[str, int] = {}

    def coin(self, p: float) -> bool:
        return self.r.random() < p

    def pick(self, xs):
        return xs[self.r.randrange(len(xs))]


class RicciText(_Gen):
    """Ricci syntax, from the grammar of ``ricci.syntax.parse``."""

    def name(self) -> str:
        if self.ranks and self.coin(0.6):
            return self.pick(sorted(self.ranks))
        return self.pick(NAMES) if self.coin(0.06) else self.pick(NAMES[:15])

    def indices(self, n: int) -> list[str]:
        pool = list(INDICES[:12]) if self.coin(0.95) else list(INDICES)
        self.r.shuffle(pool)
        out = pool[:n]
        if len(out) < n:  # many indices: invent more
            out += [f"i{k}" for k in range(n - len(out))]
        return out

    def ws(self) -> str:
        return self.pick(("", " ", " ", "  ", "\t", " \\\n" if self.coin(0.002) else " "))

    def number(self) -> str:
        if self.coin(0.02):
            return self.pick(HUGE_NUMBERS)
        return self.pick(NUMBERS) if self.coin(0.08) else self.pick(NUMBERS[:8])

    def ref(self, free: list[str]) -> str:
        name = self.name()
        rank = self.ranks.get(name)
        if rank is None:
            rank = min(len(free) + self.r.randint(0, 1), 4) if self.coin(0.8) else self.r.randint(0, 4)
        self.ranks.setdefault(name, rank)
        if rank == 0:
            return name
        idx = list(free[:rank])
        while len(idx) < rank:
            idx.append(self.pick(INDICES[:12]))
        self.r.shuffle(idx)
        return f"{name}[{','.join(idx)}]"

    def atom(self, free: list[str], depth: int) -> str:
        if depth <= 0:
            return self.ref(free) if self.coin(0.75) else self.number()
        k = self.r.randrange(11)
        if k == 0 or (k == 10 and self.coin(0.5)):
            return self.number()
        if k in (1, 2):
            return self.ref(free)
        if k == 3:
            return f"({self.expr(free, depth - 1)})"
        if k in (4, 5):
            fn = self.pick(FUNCTIONS) if self.coin(0.97) else self.pick(("tanhh", "max", "foo"))
            return f"{fn}({self.expr(free, depth - 1)})"
        if k == 6:
            s = self.pick(INDICES[:12])
            return f"sum[{s}]({self.expr(free + [s], depth - 1)})"
        if k == 7:
            a = free[:2] if len(free) >= 2 else self.indices(2)
            return f"delta[{','.join(a)}]"
        if k == 8:
            return f"size({self.pick(free or list(INDICES[:4]))})"
        if k == 9:
            fn = self.pick(MATRIX)
            m = self.name()
            if fn == "inv":
                a = (free + self.indices(2))[:2]
                return f"inv({m})[{','.join(a)}]"
            return f"{fn}({m})"
        return f"{self.atom(free, depth - 1)}{self.pick(('^', '**'))}{self.unary(free, depth - 1)}"

    def unary(self, free: list[str], depth: int) -> str:
        if self.coin(0.1):
            return self.pick(("-", "+", "--")) + self.unary(free, depth - 1)
        return self.atom(free, depth)

    def term(self, free: list[str], depth: int) -> str:
        out = self.unary(free, depth)
        for _ in range(self.r.randint(0, 2)):
            out += self.ws() + self.pick(("*", "*", "/")) + self.ws() + self.unary(free, depth)
        return out

    def expr(self, free: list[str], depth: int) -> str:
        out = self.term(free, depth)
        for _ in range(self.r.randint(0, 2)):
            out += self.ws() + self.pick(("+", "-")) + self.ws() + self.term(free, depth)
        return out

    def statement(self) -> str:
        name = self.pick(("Y", "L", "Z", "H", "P", "T1", "out", "y", "l", "α", "Q_2"))
        while name in self.ranks and self.coin(0.9):
            name += "x"
        rank = self.r.choice((0, 0, 1, 2, 2, 3)) if self.coin(0.98) else self.r.randint(4, 40)
        free = self.indices(rank)
        rhs = self.expr(free, self.r.choice((0, 0, 1, 1, 2, 3, 4)))
        self.ranks[name] = rank
        lhs = f"{name}[{','.join(free)}]" if free else name
        return f"{lhs}{self.ws()}={self.ws()}{rhs}"

    def program(self) -> str:
        n = self.r.randint(1, 5) if self.coin(0.995) else self.r.randint(500, 3000)
        seps = [self.pick(SEPARATORS) for _ in range(n)]
        out = "".join(self.statement() + sep for sep in seps).rstrip("\n;") if n < 100 else \
            "\n".join(self.statement() for _ in range(n))
        if self.coin(0.05):
            out = "\ufeff" + out
        if self.coin(0.1):
            out = "# a program\n" + out + "\n# the end"
        return out


class LatexText(_Gen):
    """LaTeX, from the grammar of ``ricci.syntax.latex``."""

    LETTERS = tuple("xyzWbAThpqvuw") + (r"\mu", r"\Sigma", r"\theta", "μ", "σ")

    def __init__(self, r: random.Random) -> None:
        super().__init__(r)
        #: most programs keep to the common constructs (so that many are accepted)
        self.plain = self.coin(0.7)

    def idx(self, n: int) -> str:
        letters = [self.pick("ijklmnpqrs") for _ in range(n)]
        if not letters:
            return ""
        if len(letters) == 1 and self.coin(0.5):
            return "_" + letters[0]
        if self.coin(0.2):
            return "_{" + ",".join(letters) + "}"
        return "_{" + "".join(letters) + "}"

    def name(self) -> str:
        k = self.r.randrange(8) if not self.plain else 4 + self.r.randrange(4) * (self.r.random() < 0.9)
        if k == 0:
            return r"\mathrm{" + self.pick(("W2", "loss", "h1", "yhat", "dY\\_dX")) + "}"
        if k == 1:
            return r"\hat{" + self.pick("yx") + "}"
        if k == 2:
            return "W^{(" + str(self.r.randint(1, 3)) + ")}"
        if k == 3:
            return "W_" + str(self.r.randint(1, 9))
        return self.pick(self.LETTERS[:-2] if self.plain else self.LETTERS)

    def number(self) -> str:
        if self.coin(0.02):
            return self.pick(HUGE_NUMBERS)
        odd = ("2²", "٣", "1" + "0" * 30)
        return self.pick(odd) if self.coin(0.05) else self.pick(("2", "0.5", ".5", "1e-5", "3", "10", "1.5"))

    def atom(self, depth: int) -> str:
        if depth <= 0:
            return self.name() + self.idx(self.r.randint(0, 2)) if self.coin(0.8) else self.number()
        k = self.r.randrange(16) if not self.plain else self.pick((0, 1, 2, 2, 3, 4, 5, 6, 6, 7, 8, 12, 13))
        sub = lambda: self.expr(depth - 1)
        if k == 0:
            return self.number()
        if k in (1, 2):
            return self.name() + self.idx(self.r.randint(0, 2))
        if k == 3:
            return self.pick((r"\left(", "(", r"\bigl(", r"\Big[", r"\{")) + sub() + self.pick(
                (r"\right)", ")", r"\bigr)", r"\Big]", r"\}"))
        if k == 4:
            return self.pick((r"\frac", r"\dfrac", r"\tfrac")) + "{" + sub() + "}{" + sub() + "}"
        if k == 5:
            return r"\sqrt{" + sub() + "}"
        if k == 6:
            return self.pick((r"\tanh", r"\exp", r"\log", r"\ln", r"\sin", r"\cos", r"\sigma",
                              r"\operatorname{relu}", r"\mathrm{softplus}", r"\text{step}", "σ", r"\arctan",
                              r"\operatorname{erf}")) + \
                self.pick(("(", r"\left(")) + sub() + self.pick((")", r"\right)"))
        if k == 7:
            return r"\sum" + self.pick(("_{k}", "_k", "_{jk}", "_{j,k}", r"_{i=1}^{n}", r"\limits_{i}")) + " " + sub()
        if k == 8:
            return r"\delta_{" + self.pick(("ij", "ii", "ijk", "i,j")) + "}"
        if k == 9:
            return r"\operatorname{size}(" + self.pick("ijkd") + ")"
        if k == 10:
            return "e^{" + sub() + "}"
        if k == 11:
            return self.pick(("|", r"\lvert ", r"\left| ")) + sub() + self.pick(("|", r" \rvert", r" \right|"))
        if k == 12:
            return self.atom(depth - 1) + "^{" + sub() + "}"
        if k == 13:
            return self.atom(depth - 1) + "^" + self.pick(("2", "3", "{-1}", "{1/2}", "{x_i}"))
        if k == 14:
            return self.pick((r"\det A", r"\log\det(\Sigma)", r"(A^{-1})_{ij}", r"\operatorname{inv}(A)_{ij}",
                              r"\operatorname{tr}(A)"))
        return self.pick((r"\,", r"\;", r"\quad ", "~", r"\!")) + self.atom(depth - 1)

    def term(self, depth: int) -> str:
        out = self.atom(depth)
        ops = (" ", r" \cdot ", r" \times ", " * ", " / ", "", r" \div ", "·")
        for _ in range(self.r.randint(0, 2)):
            out += self.pick(ops[:3] if self.plain else ops) + self.atom(depth)
        return out

    def expr(self, depth: int) -> str:
        out = ("-" if self.coin(0.1) else "") + self.term(depth)
        for _ in range(self.r.randint(0, 2)):
            out += self.pick((" + ", " - ", " − ", "+", "\n+ ")) + self.term(depth)
        return out

    def statement(self) -> str:
        lhs = self.name() + self.idx(self.r.choice((0, 0, 1, 2)))
        return lhs + self.pick((" = ", " &= ", " := ", r" \coloneqq ", "=")) + self.expr(
            self.r.choice((0, 0, 1, 1, 2, 3)))

    def program(self) -> str:
        n = self.r.randint(1, 4) if self.coin(0.995) else self.r.randint(300, 2000)
        sep = self.pick(("\n", r" \\" + "\n", "; ", "\r\n", "\n% a comment\n"))
        body = sep.join(self.statement() for _ in range(n))
        wrap = self.r.randrange(8)
        if wrap == 0:
            body = "$" + body + "$"
        elif wrap == 1:
            body = "$$" + body + "$$"
        elif wrap == 2:
            body = "\\begin{aligned}\n" + body + "\n\\end{aligned}"
        elif wrap == 3:
            body = r"\[" + body + r"\]"
        elif wrap == 4:
            body = body + "."
        return body


def ricci_text(seed: object) -> str:
    return RicciText(random.Random(f"ricci:{seed}")).program()


def latex_text(seed: object) -> str:
    return LatexText(random.Random(f"latex:{seed}")).program()


# ---------------------------------------------------------------- edge cases


def _nest(n: int, open_: str, close: str, inner: str = "x") -> str:
    return open_ * n + inner + close * n


def edge_cases() -> list[tuple[str, str]]:
    """(syntax hint, text): the corners of both grammars, deep and huge ones included."""
    ric: list[str] = [
        "y = 1e99999999999999999999", "y = 1e-999999", "y = " + "9" * 5000, "y = 1e999999 * x",
        "y = 0." + "0" * 5000 + "1", "y = " + "1" * 400, "y = " + "1" * 401, "y = 1e400", "y = 1e-400",
        "y = 2²", "y = x₄", "ｘ = 1", "y = t½ + 1", "μ = α[i]*β[i]", "y[ı] = x[ı]", "y = ٣ * x",
        "y = x\u0301", "y = ﬁ + fi", "y = x²", "Ǆ = x", "y = x١",
        "\ufeffy = x", "y = x\r\nz = y", "y = x\rz = $", "y = x\x00", "y = x\u2028z = y", "y = x\x0c + $",
        "y = x\u00a0+ 1", "y = x\u200b", "y = \u202ex", "y\t=\tx[i]\t*\tz[i]", "y = x;;;; z = y;",
        ";\n;\n", "", " ", "#", "# only a comment", "\n\n\n", "y", "y =", "= x", "y = (", "y = )",
        "y[i = x[i]", "y[] = x", "y[i,i] = x[i]", "y[i] = x[j]", "y = sum[](x)", "y = sum[i]x[i]",
        "y = delta", "y = delta[i]", "y = size()", "y = size(i, j)", "y = inv(A)", "y = det(A)[i]",
        "y = inv(A[i,j])[i,j]", "y = inv(A)[i,j,k]", "y = det(A+B)", "y = logdet()", "y = exp(x, z)",
        "y = tanh[i]", "sum = x", "exp[i] = x[i]", "y = x ^^ 2", "y = x ** ** 2", "y = 2 ** -x ** -3",
        "y = --------x", "y = +-+-x", "y = x[i,]", "y = x[,i]", "y[i] = x[i] # trailing comment",
        "y[i] = (x[i]\n+ z[i])", "y[i] = x[i]\n+ z[i]", "a = 1\na = 2", "a = a", "a = b\nb = a",
        "Y[" + ",".join(f"i{k}" for k in range(40)) + "] = X[" + ",".join(f"i{k}" for k in range(40)) + "]",
        "Y[" + ",".join(f"i{k}" for k in range(32)) + "] = X[" + ",".join(f"i{k}" for k in range(32)) + "]",
        "x" * 10000 + " = 1", "y = " + " + ".join(f"x{k}" for k in range(3000)),
        "\n".join(f"y{k} = y{k - 1} * 2" if k else "y0 = x" for k in range(5000)),
        "\n".join(f"y{k}[i] = x[i]" for k in range(3000)),
        "y = " + _nest(300, "(", ")"), "y = " + _nest(300, "exp(", ")"), "y = " + _nest(300, "-", ""),
        "y = " + "x^" * 300 + "2", "y = " + _nest(300, "sum[i](", ")", "x[i]"),
        "y = " + _nest(127, "(", ")"), "y = " + _nest(128, "(", ")"), "y = " + _nest(129, "(", ")"),
        "y = " + _nest(300, "(-", ")"), "y = " + _nest(100000, "(", ")"), "y = " + "-" * 100000 + "x",
        "y = " + "(" * 300, "y = " + ")" * 300, "y = x" + "[i]" * 50,
    ]
    tex: list[str] = [
        r"y = " + _nest(300, r"\left(", r"\right)"), r"y = " + _nest(300, r"\frac{1}{", "}"),
        r"y = " + _nest(300, r"\sqrt{", "}"), r"y = " + _nest(300, "{", "}"), r"y = " + _nest(300, r"\tanh(", ")"),
        r"y = " + "x^{" * 300 + "2" + "}" * 300, r"y = " + "-" * 300 + "x", r"y = " + r"\sum_k " * 300 + "x_k",
        r"y = " + _nest(300, "|", "|"), r"y = e^{" * 300 + "x" + "}" * 300,
        r"y = 1e99999999999999999999", r"y = 1e-999999", "y = " + "9" * 5000, r"y = 2²", r"y = x₄",
        r"\hat{y}_i = \sigma(W_{ij} x_j + b_i)", r"y = \foo", r"y = \frac{1}{x", r"y = x}", r"y = \frac{1}",
        r"y = \left( x", r"y_{ij} = x_ij", r"y = x^23", r"y = {a + b} c", r"y = \sum x_i", r"y = \sum_k",
        r"y = \delta", r"y_{t} = s_{t-1}", r"y = x^{(i)}", r"y = x^T", r"y = \partial x", r"y = \sqrt[3]{x}",
        r"\begin{pmatrix} x \end{pmatrix}", r"y = a = b", r"\begin{aligned} y &= x \\ z &= y \end{aligned}",
        r"$y = x$", r"$$y = x$$", r"\[y = x\]", "y &= a \\\\ &\\quad + b", r"y = x \\ \\ \\",
        "\ufeffy = x", "y = x\r\nz = y", "y = x\x00", "y_{i} = \\mathrm{W2}_{i\\,j} x_j",
        r"y = \mathrm{}", r"y = \mathrm{", r"y = \hat{}", r"y = \left", r"y = \right)", r"y = \\",
        r"y = \begin{aligned}", r"y = \end{aligned}", r"\label{eq} y = x \tag{1}", r"y = \operatorname{size}(\mathit{kk})",
        r"y = \log\det", r"y = \det", r"(A^{-1})_{ij} = x", r"y = %", "y = x %\n + z", r"y = \text{", r"y = x_{}",
        "\n".join(f"y_{{{k}}} = x" for k in range(2000)), "y = " + " + ".join("x" for _ in range(5000)),
    ]
    return [("ricci", t) for t in ric] + [("latex", t) for t in tex]
