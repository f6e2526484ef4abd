"""Hypothesis strategies: random well-formed ricci programs, with an independent meaning.

A generated program is built as a small syntax tree (the classes below) whose semantics
are fixed by construction: every node has a known set of free index letters, and every
implicit sum is placed where the index rule of the language says it goes. The tree is
rendered to program text for ricci, and evaluated here with plain ``numpy.einsum`` as an
oracle independent of ricci's resolver and interpreter.

How the generator keeps programs well formed (the language rules it relies on):

* every index letter denotes one dim ("class") within a statement; letters may denote
  different classes in different statements; a tensor's axes have fixed classes;
* an index summed implicitly by a product (a contraction letter) is fresh and unique in
  the statement and occurs *directly* (not inside a function argument or a power) in two
  or more factors of that product;
* function arguments and the base/exponent of ``^`` only carry letters that are free on
  the left-hand side or bound by an enclosing explicit ``sum[...]``; implicit sums inside
  them use fresh letters;
* arguments of log/sqrt, divisors, bases of non-integer or negative powers are positive
  by construction (``1 + e^2``, ``softplus(e)``, ``2 + tanh(e)``, ...); relu/abs get an
  offset unless their argument is a plain input (no evaluation sits on a kink).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

import numpy as np
from hypothesis import strategies as st

from fuzz.treegen import TreeGen

ADD, MUL, UNARY, POW, ATOM = 1, 2, 3, 4, 5

#: dim class sizes (distinct, small)
CLASS_SIZES = (3, 4, 2, 5)

#: the largest rank of a tensor or of a subexpression (keeps arrays small)
MAX_RANK = 4

#: the most index letters in one statement (ricci's reference interpreter evaluates a
#: product in one unoptimised einsum: its cost is the product of all the letters' sizes)
MAX_LETTERS = 10

#: index letter pool (single letters plus a few longer names)
LETTERS = tuple("ijklmnpqrstuvwxyzabcdefgho") + ("i2", "kk", "n_1")

#: ordinary tensor names, and some awkward ones (Python keywords/builtins, names the
#: generated code or the adjoint naming might also want, lower case names that clash
#: with index letters)
PLAIN_NAMES = ("A", "B", "C", "D", "E", "F", "G", "W", "X", "V", "U")
ODD_NAMES = ("x", "b", "w", "np", "torch", "sizes", "dA", "dL", "z1", "lambda", "in", "t1",
             "_delta", "math", "L2", "k", "i")

#: names with ``_`` (with ``models(spellings=True)``): bare in Unicode they would read as
#: subscripts
SPELLED_NAMES = ("x_in", "h_1", "W_ij", "y_out")
#: index names of several characters (with ``models(spellings=True)``): ``x_(bt)``, ``x_μ``
SPELLED_INDICES = ("i2", "kk", "n_1", "bt", "mu", "ab")

NUMS = {"2": Fraction(2), "0.5": Fraction(1, 2), "3": Fraction(3), "1.5": Fraction(3, 2),
        ".25": Fraction(1, 4), "2e0": Fraction(2), "1": Fraction(1), "0.1": Fraction(1, 10),
        "1e-1": Fraction(1, 10), "2.": Fraction(2)}


# ---------------------------------------------------------------- syntax tree with meaning


@dataclass
class Style:
    """Surface choices that must not change the meaning."""

    pow_op: str = "^"  # or "**"
    sep: str = "\n"  # statement separator: "\n", "; ", "\n# comment\n"
    rename: dict | None = None  # letter renaming (per statement), see Model.render
    multiline: bool = False  # break lines inside sum[..](...) and function calls


STYLE = Style()


@dataclass
class Node:
    """A node; ``free`` are its free letters, in the order its value's axes are in (every
    node class takes them first: the shared generator builds ``MulN(free, factors,
    divides)``)."""

    free: tuple[str, ...]

    prec = ATOM

    def text(self, s: Style = STYLE) -> str:
        raise NotImplementedError

    def wrap(self, prec: int, s: Style = STYLE) -> str:
        t = self.text(s)
        return t if self.prec >= prec else f"({t})"


def _l(letter: str, s: Style) -> str:
    return s.rename.get(letter, letter) if s.rename else letter


@dataclass
class TRef(Node):
    name: str
    letters: tuple[str, ...]
    prec = ATOM

    def text(self, s: Style = STYLE) -> str:
        return f"{self.name}[{','.join(_l(x, s) for x in self.letters)}]" if self.letters else self.name


@dataclass
class Num(Node):
    literal: str
    prec = ATOM

    def text(self, s: Style = STYLE) -> str:
        return self.literal


@dataclass
class SizeN(Node):
    letter: str
    prec = ATOM

    def text(self, s: Style = STYLE) -> str:
        return f"size({_l(self.letter, s)})"


@dataclass
class DeltaN(Node):
    letters: tuple[str, ...]
    prec = ATOM

    def text(self, s: Style = STYLE) -> str:
        return f"delta[{','.join(_l(x, s) for x in self.letters)}]"


@dataclass
class CallN(Node):
    fn: str
    arg: Node
    prec = ATOM

    def text(self, s: Style = STYLE) -> str:
        if s.multiline:
            return f"{self.fn}(\n    {self.arg.text(s)}\n)"
        return f"{self.fn}({self.arg.text(s)})"


@dataclass
class PowN(Node):
    base: Node
    exp: Node
    exp_parens: bool = False
    prec = POW

    def text(self, s: Style = STYLE) -> str:
        e = self.exp.wrap(UNARY, s)
        if self.exp_parens and not e.startswith("("):
            e = f"({e})"
        return f"{self.base.wrap(ATOM, s)}{s.pow_op}{e}"


@dataclass
class MulN(Node):
    factors: list[Node]
    divides: list[bool]
    prec = MUL

    def text(self, s: Style = STYLE) -> str:
        # a factor that is itself a product is printed in parentheses (a nested product)
        out = self.factors[0].wrap(UNARY, s)
        for f, dv in zip(self.factors[1:], self.divides[1:]):
            out += (" / " if dv else " * ") + f.wrap(UNARY, s)
        return out


@dataclass
class AddN(Node):
    terms: list[Node]
    signs: list[int]
    prec = ADD

    def text(self, s: Style = STYLE) -> str:
        out = ("-" + self.terms[0].wrap(UNARY, s)) if self.signs[0] < 0 else self.terms[0].wrap(MUL, s)
        for t, sg in zip(self.terms[1:], self.signs[1:]):
            out += (" - " if sg < 0 else " + ") + t.wrap(MUL, s)
        return out


@dataclass
class NegN(Node):
    x: Node
    prec = UNARY

    def text(self, s: Style = STYLE) -> str:
        return "-" + self.x.wrap(UNARY, s)


@dataclass
class SumN(Node):
    letters: tuple[str, ...]
    body: Node
    prec = ATOM

    def text(self, s: Style = STYLE) -> str:
        idx = ",".join(_l(x, s) for x in self.letters)
        if s.multiline:
            return f"sum[{idx}](  # a comment inside a sum\n    {self.body.text(s)})"
        return f"sum[{idx}]({self.body.text(s)})"


# ---------------------------------------------------------------- the oracle


_NP_FN: dict[str, Callable] = {
    "exp": np.exp, "log": np.log, "sqrt": np.sqrt, "tanh": np.tanh,
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)), "relu": lambda x: np.maximum(x, 0.0),
    "abs": np.abs, "sin": np.sin, "cos": np.cos, "softplus": lambda x: np.logaddexp(0.0, x),
    "step": lambda x: np.where(x > 0, 1.0, 0.0), "sign": np.sign,
}


class Oracle:
    """Evaluates the generated trees with numpy (free axes in ``node.free`` order)."""

    def __init__(self, sizes: dict[str, int]) -> None:
        self.sizes = sizes  # letter -> size (per statement)

    def _sym(self, letters):
        table = {}
        for l in letters:
            table.setdefault(l, chr(ord("a") + len(table)))
        return table

    def einsum(self, ops: list[tuple[np.ndarray, tuple[str, ...]]], out: tuple[str, ...]) -> np.ndarray:
        table = self._sym([l for _, ls in ops for l in ls] + list(out))
        spec = ",".join("".join(table[l] for l in ls) for _, ls in ops) + "->" + "".join(table[l] for l in out)
        return np.einsum(spec, *[np.asarray(a, dtype=float) for a, _ in ops], optimize=len(ops) > 2)

    def bcast(self, a, letters: tuple[str, ...], target: tuple[str, ...]) -> np.ndarray:
        a = np.asarray(a, dtype=float)
        if not letters:
            return np.broadcast_to(a, tuple(self.sizes[t] for t in target))
        perm = [letters.index(t) for t in target if t in letters]
        a = np.transpose(a, perm)
        shape = [self.sizes[t] if t in letters else 1 for t in target]
        return np.broadcast_to(a.reshape(shape), tuple(self.sizes[t] for t in target))

    def ev(self, n: Node, env: dict[str, np.ndarray]) -> np.ndarray:
        if isinstance(n, TRef):
            return self.einsum([(env[n.name], n.letters)], n.free)
        if isinstance(n, Num):
            return np.float64(NUMS[n.literal])
        if isinstance(n, SizeN):
            return np.float64(self.sizes[n.letter])
        if isinstance(n, DeltaN):
            uniq = tuple(dict.fromkeys(n.letters))
            size = self.sizes[uniq[0]]
            d = np.zeros((size,) * len(uniq))
            r = np.arange(size)
            d[(r,) * len(uniq)] = 1.0
            return self.einsum([(d, uniq)], n.free)
        if isinstance(n, CallN):
            return _NP_FN[n.fn](self.ev(n.arg, env))
        if isinstance(n, PowN):
            b = self.bcast(self.ev(n.base, env), n.base.free, n.free)
            e = self.bcast(self.ev(n.exp, env), n.exp.free, n.free)
            return np.power(b, e)
        if isinstance(n, MulN):
            ops = []
            for f, dv in zip(n.factors, n.divides):
                v = self.ev(f, env)
                ops.append((1.0 / v if dv else v, f.free))
            return self.einsum(ops, n.free)
        if isinstance(n, AddN):
            out = np.zeros(tuple(self.sizes[l] for l in n.free))
            for t, s in zip(n.terms, n.signs):
                out = out + s * self.bcast(self.ev(t, env), t.free, n.free)
            return out
        if isinstance(n, NegN):
            return -self.ev(n.x, env)
        if isinstance(n, SumN):
            return self.einsum([(self.ev(n.body, env), n.body.free)], n.free)
        raise AssertionError(n)


# ---------------------------------------------------------------- programs


@dataclass
class Stmt:
    name: str
    lhs: tuple[str, ...]
    rhs: Node
    letters: dict[str, int]  # letter -> class, for this statement

    def text(self, s: Style = STYLE) -> str:
        lhs = f"{self.name}[{','.join(_l(x, s) for x in self.lhs)}]" if self.lhs else self.name
        return f"{lhs} = {self.rhs.text(s)}"


@dataclass
class Model:
    n_classes: int
    tensors: dict[str, tuple[int, ...]] = field(default_factory=dict)  # name -> classes
    inputs: list[str] = field(default_factory=list)
    statements: list[Stmt] = field(default_factory=list)
    style: Style = field(default_factory=Style)

    @property
    def text(self) -> str:
        """The program as generated (index letters may be reused across statements)."""
        return self.render()

    @property
    def text_disjoint(self) -> str:
        """The same program with every statement's index letters renamed apart."""
        return self.render(disjoint=True)

    def render(self, disjoint: bool = False) -> str:
        out = []
        for k, st_ in enumerate(self.statements):
            ren = {l: f"{l}_{chr(ord('a') + k)}" for l in st_.letters} if disjoint else None
            out.append(st_.text(Style(self.style.pow_op, self.style.sep, ren, self.style.multiline)))
        return self.style.sep.join(out)

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(CLASS_SIZES[c] for c in self.tensors[name])

    def random_inputs(self, rng: np.random.Generator) -> dict[str, np.ndarray]:
        return {n: rng.standard_normal(self.shape(n)) for n in self.inputs}

    def evaluate(self, inputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        env = dict(inputs)
        for s in self.statements:
            o = Oracle({l: CLASS_SIZES[c] for l, c in s.letters.items()})
            v = o.ev(s.rhs, env)
            env[s.name] = np.array(o.bcast(v, s.rhs.free, s.lhs))
        return env

    def dim_sizes(self, program, disjoint: bool = False) -> dict[str, int] | None:
        """Sizes by ricci dim label: read off the tensors' axes, or for a label of the
        form ``k@Y`` (an index no tensor axis is tied to), from the letter ``k`` in
        statement ``Y``. None when that is unknown."""
        out = {}
        for name, labels in program.dims.items():
            if name in self.tensors:
                for lab, c in zip(labels, self.tensors[name]):
                    out[lab] = CLASS_SIZES[c]
        from ricci.codegen.binding import all_dims

        for lab in all_dims(program):
            if lab not in out and "@" in lab:
                letter, stmt = lab.rsplit("@", 1)
                cands = set()
                for k, st_ in enumerate(self.statements):
                    ren = {f"{l}_{chr(ord('a') + k)}" if disjoint else l: c for l, c in st_.letters.items()}
                    if st_.name == stmt and letter in ren:
                        cands.add(CLASS_SIZES[ren[letter]])
                if len(cands) != 1:
                    return None
                out[lab] = cands.pop()
        return out

    def __repr__(self) -> str:
        return "Model(\n" + self.text + "\n)"


class _Gen(TreeGen):
    """The expressions are :class:`fuzz.treegen.TreeGen`'s (shared with the differential
    fuzzer's generator), drawn from Hypothesis: shrinking goes to the first option, to
    False, to the smaller number."""

    Ref, Num, SizeN, DeltaN, Call, Pow = TRef, Num, SizeN, DeltaN, CallN, PowN
    Mul, Add, Neg, SumN, Stmt = MulN, AddN, NegN, SumN, Stmt
    LEAVES = (TRef,)
    POWER_KINDS = ("int", "real", "tensor", "size")
    EXPONENTS = dict.fromkeys(("real", "size"), ("-1", "-2", "0.5", "1.5", "-0.5", "(1/2)", "(-1)"))

    def __init__(self, draw, model: Model, max_depth: int, odd_names: bool, max_inputs: int,
                 spellings: bool = False):
        super().__init__(model, max_depth, MAX_RANK, odd_names, max_inputs)
        self.draw = draw
        #: also index names longer than a letter and names with ``_`` (what notations spell
        #: differently: ``x_(bt)``, ``{x_in}_j``, ``\mathit{i\_1}``)
        self.spellings = spellings

    # -- the random source
    def choose(self, options):
        return self.draw(st.sampled_from(list(options)))

    def coin(self, p: float = 0.5) -> bool:
        # integers so that shrinking goes to False
        return self.draw(st.integers(0, 99)) < int(p * 100)

    def randint(self, a: int, b: int) -> int:
        return self.draw(st.integers(a, b))

    def perm(self, xs: list[str]) -> list[str]:
        return list(self.draw(st.permutations(xs)))

    def mask(self, n: int) -> list[bool]:
        return self.draw(st.lists(st.booleans(), min_size=n, max_size=n))

    def sum_arity(self, F: tuple[str, ...]) -> int:
        # no draw when F is at the largest rank already (the fuzzer's generator draws)
        return self.randint(1, 2) if len(F) < self.max_rank else 0

    # -- names
    def fresh_letter(self, cls: int | None = None) -> str | None:
        pool = [l for l in LETTERS if l not in self.letters]
        if not pool or len(self.letters) >= MAX_LETTERS:
            return None
        if self.spellings:
            pool = pool[:12] + [x for x in SPELLED_INDICES if x not in self.letters]
        l = self.choose(pool[:12] if not self.spellings else pool)
        self.letters[l] = cls if cls is not None else self.choose(range(self.m.n_classes))
        return l

    def new_name(self) -> str | None:
        taken = set(self.m.tensors) | {s.name for s in self.m.statements} | (
            {self.defining} if self.defining else set())
        names = [n for n in PLAIN_NAMES if n not in taken]
        if self.odd_names and self.coin(0.3):
            odd = [n for n in ODD_NAMES + (SPELLED_NAMES if self.spellings else ())
                   if n not in taken and n not in self.letters]
            if odd:
                return self.choose(odd)
        return self.choose(names) if names else None

    def add_input(self, name: str) -> None:
        self.m.inputs.append(name)

    # -- leaves and functions
    def scalar_leaf(self) -> Node:
        k = self.choose(["num", "size", "tensor"])
        if k == "num":
            return Num((), self.choose(sorted(NUMS)))
        if k == "size" and self.letters:
            return SizeN((), self.choose(sorted(self.letters)))
        return self.leaf(())

    def call(self, F, known, depth) -> Node:
        fn = self.choose(["tanh", "exp", "log", "sqrt", "sigmoid", "relu", "abs", "sin", "cos",
                          "softplus", "step", "sign"])
        if fn in ("log", "sqrt"):
            arg = self.positive(F, known, depth + 1)
        else:
            arg = self.gen(F, known, depth + 1)
            if fn in ("relu", "abs", "step", "sign") and not (isinstance(arg, TRef) and arg.name in self.m.inputs):
                arg = AddN(tuple(F), [arg, Num((), self.choose(["0.1", ".25", "0.5"]))], [1, self.choose([1, -1])])
            if fn == "exp" and self.coin(0.5):
                arg = MulN(tuple(F), [Num((), "0.5"), arg], [False, False])
        return CallN(tuple(F), fn, arg)


@st.composite
def models(draw, max_statements: int = 4, max_depth: int = 3, odd_names: bool = True,
           scalar_output: bool | None = None, max_inputs: int = 6, spellings: bool = False) -> Model:
    """A random well-formed program (see the module docstring); with ``spellings``, index
    names of several characters and names with ``_`` too."""
    n_classes = draw(st.integers(1, 4))
    style = Style(pow_op=draw(st.sampled_from(["^", "^", "**"])),
                  sep=draw(st.sampled_from(["\n", "\n", "; ", "\n# a comment\n\n"])),
                  multiline=draw(st.integers(0, 5)) == 0)
    m = Model(n_classes, style=style)
    g = _Gen(draw, m, max_depth, odd_names, max_inputs, spellings)
    n_stmts = draw(st.integers(1, max_statements))
    for k in range(n_stmts):
        last = k == n_stmts - 1
        if last:
            scalar = draw(st.booleans()) if scalar_output is None else scalar_output
            name = "L" if scalar else "Y"
            if name in m.tensors:
                name = name + "_out"
        else:
            scalar = False
            name = draw(st.sampled_from(["T1", "T2", "T3", "H", "Z", "P"]))
            while name in m.tensors:
                name = name + "x"
        rank = 0 if scalar else draw(st.integers(0 if not last else 1, 3))
        classes = tuple(draw(st.integers(0, n_classes - 1)) for _ in range(rank))
        s = g.statement(name, classes)
        m.statements.append(s)
        m.tensors[name] = classes
    return m
