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

import itertools
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Callable

import numpy as np
from hypothesis import strategies as st

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


class Node:
    free: tuple[str, ...] = ()
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
    free: tuple[str, ...]
    is_input: bool = False
    prec = ATOM

    def text(self, s: Style = STYLE) -> str:
        return f"{self.name}[{','.join(_l(x, s) for x in self.letters)}]" if self.letters else self.name


@dataclass
class Num(Node):
    literal: str
    free: tuple[str, ...] = ()
    prec = ATOM

    def text(self, s: Style = STYLE) -> str:
        return self.literal


@dataclass
class SizeN(Node):
    letter: str
    free: tuple[str, ...] = ()
    prec = ATOM

    def text(self, s: Style = STYLE) -> str:
        return f"size({_l(self.letter, s)})"


@dataclass
class DeltaN(Node):
    letters: tuple[str, ...]
    free: tuple[str, ...]
    prec = ATOM

    def text(self, s: Style = STYLE) -> str:
        return f"delta[{','.join(_l(x, s) for x in self.letters)}]"


@dataclass
class CallN(Node):
    fn: str
    arg: Node
    free: tuple[str, ...]
    prec = ATOM

    def text(self, s: Style = STYLE) -> str:
        if s.multiline:
            return f"{self.fn}(\n    {self.arg.text(s)}\n)"
        return f"{self.fn}({self.arg.text(s)})"


@dataclass
class PowN(Node):
    base: Node
    exp: Node
    free: tuple[str, ...]
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
    free: tuple[str, ...]
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
    free: tuple[str, ...]
    prec = ADD

    def text(self, s: Style = STYLE) -> str:
        out = ("-" + self.terms[0].wrap(UNARY, s)) if self.signs[0] < 0 else self.terms[0].wrap(MUL, s)
        for t, sg in zip(self.terms[1:], self.signs[1:]):
            out += (" - " if sg < 0 else " + ") + t.wrap(MUL, s)
        return out


@dataclass
class NegN(Node):
    x: Node
    free: tuple[str, ...]
    prec = UNARY

    def text(self, s: Style = STYLE) -> str:
        return "-" + self.x.wrap(UNARY, s)


@dataclass
class SumN(Node):
    letters: tuple[str, ...]
    body: Node
    free: tuple[str, ...]
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


class _Gen:
    def __init__(self, draw, model: Model, max_depth: int, odd_names: bool, max_inputs: int):
        self.draw = draw
        self.m = model
        self.max_depth = max_depth
        self.odd_names = odd_names
        self.max_inputs = max_inputs
        self.letters: dict[str, int] = {}
        self.defining: str | None = None

    # -- helpers
    def d(self, strategy):
        return self.draw(strategy)

    def choose(self, options):
        return self.draw(st.sampled_from(list(options)))

    def coin(self, p: float = 0.5) -> bool:
        # integers so that shrinking goes to False
        return self.draw(st.integers(0, 99)) < int(p * 100)

    def fresh_letter(self, cls: int | None = None) -> str | None:
        pool = [l for l in LETTERS if l not in self.letters]
        if not pool or len(self.letters) >= MAX_LETTERS:
            return None
        l = self.choose(pool[:12])
        self.letters[l] = cls if cls is not None else self.choose(range(self.m.n_classes))
        return l

    def new_name(self) -> str | None:
        taken = set(self.m.tensors) | {s.name for s in self.m.statements} | (
            {self.defining} if self.defining else set())
        names = [n for n in PLAIN_NAMES if n not in taken]
        if self.odd_names and self.coin(0.3):
            odd = [n for n in ODD_NAMES if n not in taken and n not in self.letters]
            if odd:
                return self.choose(odd)
        return self.choose(names) if names else None

    # -- leaves
    def leaf(self, F: tuple[str, ...]) -> Node:
        opts = []
        for name, classes in self.m.tensors.items():
            if name == self.defining:
                continue
            if len(classes) < len(F):
                continue
            match = [p for p in itertools.permutations(range(len(classes)), len(F))
                     if all(classes[a] == self.letters[l] for a, l in zip(p, F))]
            if match:
                opts.append((name, match))
        can_new = len(self.m.inputs) < self.max_inputs
        # prefer intermediates (defined tensors) so they get used, often several times
        opts.sort(key=lambda o: (o[0] in self.m.inputs, o[0]))
        if opts and (not can_new or self.coin(0.7)):
            name, match = self.choose(opts)
            perm = self.choose(match)
            classes = self.m.tensors[name]
            letters: list[str | None] = [None] * len(classes)
            for a, l in zip(perm, F):
                letters[a] = l
            for a in range(len(classes)):
                if letters[a] is not None:
                    continue
                same = [x for x in letters if x is not None and self.letters[x] == classes[a]]
                if same and self.coin(0.25):
                    letters[a] = self.choose(same)  # diagonal / trace
                else:
                    nl = self.fresh_letter(classes[a])
                    if nl is None:
                        return self.new_input(F)
                    letters[a] = nl
            return TRef(name, tuple(letters), F, is_input=name in self.m.inputs)
        return self.new_input(F)

    def new_input(self, F: tuple[str, ...]) -> Node:
        letters = list(F)
        if len(letters) < 3 and self.coin(0.15):
            nl = self.fresh_letter()
            if nl is not None:
                letters.insert(self.d(st.integers(0, len(letters))), nl)  # summed alone
        letters = self.d(st.permutations(letters)) if len(letters) > 1 else letters
        name = self.new_name()
        if name is None:
            return Num("2") if not F else self.leaf(F)
        self.m.tensors[name] = tuple(self.letters[l] for l in letters)
        self.m.inputs.append(name)
        return TRef(name, tuple(letters), F, is_input=True)

    def scalar_leaf(self) -> Node:
        k = self.choose(["num", "size", "tensor"])
        if k == "num":
            return Num(self.choose(sorted(NUMS)))
        if k == "size" and self.letters:
            return SizeN(self.choose(sorted(self.letters)))
        return self.leaf(())

    # -- expressions
    def gen(self, F: tuple[str, ...], known: frozenset, depth: int) -> Node:
        scoped_ok = set(F) <= known
        kinds = ["leaf"]
        if not F:
            kinds.append("scalar")
        if len(F) >= 2 and len({self.letters[l] for l in F}) == 1 and len(F) <= 3:
            kinds.append("delta")
        if depth < self.max_depth:
            kinds += ["mul", "add", "sum", "neg", "mul"]
            if scoped_ok:
                kinds += ["call", "pow", "call"]
        kind = self.choose(kinds)
        if kind == "leaf":
            return self.leaf(F)
        if kind == "scalar":
            return self.scalar_leaf()
        if kind == "delta":
            return DeltaN(tuple(self.d(st.permutations(list(F)))), F)
        if kind == "neg":
            return NegN(self.gen(F, known, depth + 1), F)
        if kind == "sum":
            S = []
            for _ in range(self.d(st.integers(1, 2)) if len(F) < MAX_RANK else 0):
                if len(F) + len(S) >= MAX_RANK:
                    break
                nl = self.fresh_letter()
                if nl is not None:
                    S.append(nl)
            if not S:
                return self.leaf(F)
            bodyF = tuple(self.d(st.permutations(list(F) + S)))
            return SumN(tuple(S), self.gen(bodyF, known | set(S), depth + 1), F)
        if kind == "add":
            return self.add(F, known, depth)
        if kind == "mul":
            return self.mul(F, known, depth)
        if kind == "call":
            return self.call(F, known, depth)
        if kind == "pow":
            return self.power(F, known, depth)
        raise AssertionError(kind)

    def split(self, F: tuple[str, ...], n: int, at_least: dict[str, int]) -> list[list[str]]:
        """Assign each letter to a subset of the n parts (at least ``at_least[l]`` parts)."""
        parts: list[list[str]] = [[] for _ in range(n)]
        for l in F:
            k = at_least.get(l, 1)
            mask = self.d(st.lists(st.booleans(), min_size=n, max_size=n))
            chosen = [i for i in range(n) if mask[i]]
            for i in range(n):
                if len(chosen) >= k:
                    break
                if i not in chosen:
                    chosen.append(i)
            for i in sorted(chosen):
                parts[i].append(l)
        return parts

    def mul(self, F, known, depth) -> Node:
        n = self.d(st.integers(2, 3))
        K: list[str] = []
        for _ in range(self.d(st.integers(0, max(0, min(2, MAX_RANK - len(F)))))):
            # bias contraction letters towards the classes already around (deltas, squares)
            cls = self.letters[self.choose(F)] if F and self.coin(0.4) else None
            nl = self.fresh_letter(cls)
            if nl is not None:
                K.append(nl)
        parts = self.split(tuple(F) + tuple(K), n, {k: 2 for k in K})
        factors, divides = [], [False]
        for i, part in enumerate(parts):
            Fi = tuple(part)
            if i > 0 and self.coin(0.2):
                factors.append(self.positive(Fi, known, depth + 1))
                divides.append(True)
            else:
                factors.append(self.gen(Fi, known, depth + 1))
                if i > 0:
                    divides.append(False)
        return MulN(factors, divides, tuple(F))

    def add(self, F, known, depth) -> Node:
        n = self.d(st.integers(2, 3))
        parts = self.split(F, n, {})
        terms = [self.gen(tuple(p), known, depth + 1) for p in parts]
        signs = [(-1 if self.coin(0.3) else 1) for _ in terms]
        return AddN(terms, signs, tuple(F))

    def positive(self, F, known, depth) -> Node:
        """An expression > 0 everywhere (bounded away from 0 for most forms)."""
        scoped_ok = set(F) <= known
        kinds = ["square"]
        if not F:
            kinds += ["num", "size"]
        if scoped_ok and depth < self.max_depth + 1:
            kinds += ["1+e^2", "softplus", "exp", "sigmoid", "2+fn", "sqrt"]
        kind = self.choose(kinds)
        if kind == "num":
            return Num(self.choose(["2", "0.5", "1.5", "3"]))
        if kind == "size":
            if self.letters:
                return SizeN(self.choose(sorted(self.letters)))
            return Num("2")
        if kind == "square":
            # (c + T*T): the tensor letters stay direct, so contraction letters may pass
            t = self.leaf(tuple(F))
            t2 = self.copy_leaf(t)
            if t2 is None:
                # no fresh letter left: the two copies share their summed letters, which
                # the product then sums over (still a sum of squares)
                assert isinstance(t, TRef)
                t = t2 = TRef(t.name, t.letters, tuple(dict.fromkeys(t.letters)), t.is_input)
            sq = MulN([t, t2], [False, False], tuple(F))
            return AddN([Num(self.choose(["1", "2", "0.5"])), sq], [1, 1], tuple(F))
        # exp, softplus, sigmoid of a leaf-like argument only: exp(exp(...)) gets large,
        # and 1/sigmoid(-30) or log(softplus(-40)) are ill-conditioned
        e = self.gen(F, known, self.max_depth if kind in ("exp", "softplus", "sigmoid") else depth + 1)
        if kind == "1+e^2":
            return AddN([Num("1"), PowN(e, Num("2"), tuple(F))], [1, 1], tuple(F))
        if kind == "2+fn":
            return AddN([Num("2"), CallN(self.choose(["tanh", "sin", "cos"]), e, tuple(F))], [1, 1], tuple(F))
        if kind == "sqrt":
            inner = AddN([Num("1"), PowN(e, Num("2"), tuple(F))], [1, 1], tuple(F))
            return CallN("sqrt", inner, tuple(F))
        return CallN(kind, e, tuple(F))

    def copy_leaf(self, t: Node) -> Node | None:
        """The same leaf again; letters summed inside it are renamed (fresh). None when
        no fresh letter is left."""
        if not isinstance(t, TRef):
            return t
        ren = {}
        letters = []
        for l in t.letters:
            if l in t.free:
                letters.append(l)
            else:
                if l not in ren:
                    nl = self.fresh_letter(self.letters[l])
                    if nl is None:
                        return None
                    ren[l] = nl
                letters.append(ren[l])
        return TRef(t.name, tuple(letters), t.free, t.is_input)

    def call(self, F, known, depth) -> Node:
        fn = self.choose(["tanh", "exp", "log", "sqrt", "sigmoid", "relu", "abs", "sin", "cos",
                          "softplus", "step", "sign"])
        if fn in ("log", "sqrt"):
            arg = self.positive(F, known, depth + 1)
        else:
            arg = self.gen(F, known, depth + 1)
            if fn in ("relu", "abs", "step", "sign") and not (isinstance(arg, TRef) and arg.is_input):
                arg = AddN([arg, Num(self.choose(["0.1", ".25", "0.5"]))], [1, self.choose([1, -1])], tuple(F))
            if fn == "exp" and self.coin(0.5):
                arg = MulN([Num("0.5"), arg], [False, False], tuple(F))
        return CallN(fn, arg, tuple(F))

    def power(self, F, known, depth) -> Node:
        kind = self.choose(["int", "real", "tensor", "size"])
        if kind == "int":
            base = self.gen(F, known, depth + 1)
            return PowN(base, Num(self.choose(["2", "3"])), tuple(F))
        if kind == "size" and self.letters:
            base = self.gen(F, known, depth + 1)
            return PowN(base, SizeN(self.choose(sorted(self.letters))), tuple(F))
        if kind == "real" or kind == "size":
            base = self.positive(F, known, depth + 1)
            lit = self.choose(["-1", "-2", "0.5", "1.5", "-0.5", "(1/2)", "(-1)"])
            if lit == "(1/2)":
                e: Node = MulN([Num("1"), Num("2")], [False, True], ())
            elif lit.startswith("("):
                e = NegN(Num("1"), ())
            elif lit.startswith("-"):
                e = NegN(Num(lit[1:]), ())
            else:
                e = Num(lit)
            return PowN(base, e, tuple(F), exp_parens=self.coin(0.3))
        # a tensor-valued exponent over a positive base
        parts = self.split(F, 2, {})
        base = self.positive(tuple(parts[0]), known, depth + 1)
        ex = self.gen(tuple(parts[1]), known, self.max_depth)  # a leaf-like exponent
        return PowN(base, ex, tuple(F))

    # -- statements
    def statement(self, name: str, lhs_classes: tuple[int, ...]) -> Stmt:
        self.letters = {}
        self.defining = name
        lhs = []
        for c in lhs_classes:
            lhs.append(self.fresh_letter(c))
        rhs = self.gen(tuple(lhs), frozenset(lhs), 0)
        self.defining = None
        return Stmt(name, tuple(lhs), rhs, dict(self.letters))


@st.composite
def models(draw, max_statements: int = 4, max_depth: int = 3, odd_names: bool = True,
           scalar_output: bool | None = None, max_inputs: int = 6) -> Model:
    """A random well-formed program (see the module docstring)."""
    n_classes = draw(st.integers(1, 4))
    style = Style(pow_op=draw(st.sampled_from(["^", "^", "**"])),
                  sep=draw(st.sampled_from(["\n", "\n", "; ", "\n# a comment\n\n"])),
                  multiline=draw(st.integers(0, 5)) == 0)
    m = Model(n_classes, style=style)
    g = _Gen(draw, m, max_depth, odd_names, max_inputs)
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
