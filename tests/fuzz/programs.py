"""Random typed tensor programs with a meaning of their own, for differential testing.

A :class:`Model` is a small syntax tree whose meaning is fixed by construction, like
``tests/support/strategies.py`` (the two share their expression generator,
:class:`tests.fuzz.treegen.TreeGen`; this one draws from ``random.Random`` instead of
Hypothesis so that a case is a pure function of its seed): every node knows its free
index letters (``node.free``), and every implicit sum sits where the index rule of
docs/language.md puts it:

* within a statement a letter denotes one size class; a tensor's axes have fixed classes;
* a letter summed implicitly by a product (a contraction letter) is fresh in the statement
  and occurs directly in two or more factors of that product;
* function arguments and the base and exponent of ``^`` only carry letters that are free on
  the left or bound by an enclosing ``sum[...]`` (implicit sums inside them use fresh
  letters);
* arguments of ``log``/``sqrt``/``log1p``, divisors and bases of non-integer or negative powers are
  positive by construction (``1 + e^2``, ``softplus(e)``, ``2 + tanh(e)``, ...);
  ``relu``/``abs``/``step``/``sign`` get an offset unless their argument is a plain input;
* the operands of ``inv``/``det``/``logdet``/``trace`` are well conditioned: inputs near ``3 I`` or
  statements ``S[i,j] = A[i,k]*A[j,k] + 3*delta[i,j]``.

The model is rendered to ricci text (:meth:`Model.text`) and, for ASCII programs without
matrix functions, to LaTeX (:meth:`Model.latex`); :mod:`tests.fuzz.oracle` translates the
same tree to torch operations.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from fractions import Fraction
from types import MappingProxyType

from .treegen import TreeGen

ADD, MUL, UNARY, POW, ATOM = 1, 2, 3, 4, 5

#: size of each class of index (distinct, so a transposed axis cannot go unnoticed)
CLASS_SIZES = (3, 4, 2, 5)
#: the most distinct letters in one statement
MAX_LETTERS = 9
LETTERS = tuple("ijklmnpqrstuvwxyzabcdefgho") + ("i2", "kk", "n_1", "α", "ı")
PLAIN_NAMES = ("A", "B", "C", "D", "F", "G", "W", "X", "V", "U", "R", "Q")
#: awkward tensor names: Python keywords and builtins, names generated code uses, names that
#: clash with adjoints or index letters, Unicode letters (compatibility characters such as
#: ``ｘ`` and ``µ``, which Python reads as ``x`` and ``μ``, are left to the parser fuzzers:
#: ricci rejects them)
ODD_NAMES = ("x", "b", "w", "np", "torch", "jnp", "jax", "sizes", "dA", "dL", "z1", "lambda", "in",
             "t1", "_delta", "math", "L2", "k", "i", "v", "H", "α", "β_2", "μ", "Ω")
FUNCTIONS = ("exp", "log", "sqrt", "tanh", "sigmoid", "relu", "abs", "sin", "cos", "softplus",
             "step", "sign", "log1p", "expm1", "erf", "atan")
#: number literals (their values: ``Num.value``)
NUMS = ("2", "0.5", "3", "1.5", ".25", "2e0", "1", "0.1", "1e-1", "2.", "0.75")
KINDS = ("grad", "jacobian", "hessian", "diagonal", "hvp")
BACKENDS = ("numpy", "torch", "jax")


# ---------------------------------------------------------------- the tree


@dataclass(eq=False)
class Node:
    """A node; ``free`` are its free letters, in the order its value's axes are in."""

    free: tuple[str, ...]

    prec = ATOM

    def children(self) -> list[Node]:
        return []

    def with_children(self, kids: list[Node]) -> Node:
        return self


@dataclass(eq=False)
class Stable:
    """How the oracle computes a node that overflows when evaluated as written:
    ``kind`` (``logsumexp``, ``softmax``, ``log_softmax``) of ``z`` over the letters
    ``over`` (the softmax family written out as separate statements)."""

    kind: str
    z: Ref
    over: tuple[str, ...]


@dataclass(eq=False)
class Ref(Node):
    name: str = ""
    letters: tuple[str, ...] = ()


@dataclass(eq=False)
class Num(Node):
    literal: str = "2"

    @property
    def value(self) -> float:
        return float(Fraction(self.literal))


@dataclass(eq=False)
class SizeN(Node):
    letter: str = ""


@dataclass(eq=False)
class DeltaN(Node):
    letters: tuple[str, ...] = ()


@dataclass(eq=False)
class Call(Node):
    fn: str = ""
    arg: Node = None  # type: ignore[assignment]
    stable: Stable | None = None

    def children(self) -> list[Node]:
        return [self.arg]

    def with_children(self, kids: list[Node]) -> Node:
        return replace(self, arg=kids[0], stable=None)


@dataclass(eq=False)
class Inv(Node):
    """``inv(name)[letters]``."""

    name: str = ""
    letters: tuple[str, ...] = ()


@dataclass(eq=False)
class MatScalar(Node):
    """``det(name)``, ``logdet(name)`` or ``trace(name)``."""

    fn: str = "det"
    name: str = ""


@dataclass(eq=False)
class Pow(Node):
    base: Node = None  # type: ignore[assignment]
    exp: Node = None  # type: ignore[assignment]
    exp_parens: bool = False

    prec = POW

    def children(self) -> list[Node]:
        return [self.base, self.exp]

    def with_children(self, kids: list[Node]) -> Node:
        return replace(self, base=kids[0], exp=kids[1])


@dataclass(eq=False)
class Mul(Node):
    factors: list[Node] = field(default_factory=list)
    divides: list[bool] = field(default_factory=list)
    stable: Stable | None = None

    prec = MUL

    def children(self) -> list[Node]:
        return list(self.factors)

    def with_children(self, kids: list[Node]) -> Node:
        return replace(self, factors=list(kids), stable=None)


@dataclass(eq=False)
class Add(Node):
    terms: list[Node] = field(default_factory=list)
    signs: list[int] = field(default_factory=list)

    prec = ADD

    def children(self) -> list[Node]:
        return list(self.terms)

    def with_children(self, kids: list[Node]) -> Node:
        return replace(self, terms=list(kids))


@dataclass(eq=False)
class Neg(Node):
    x: Node = None  # type: ignore[assignment]

    prec = UNARY

    def children(self) -> list[Node]:
        return [self.x]

    def with_children(self, kids: list[Node]) -> Node:
        return replace(self, x=kids[0])


@dataclass(eq=False)
class SumN(Node):
    letters: tuple[str, ...] = ()
    body: Node = None  # type: ignore[assignment]

    def children(self) -> list[Node]:
        return [self.body]

    def with_children(self, kids: list[Node]) -> Node:
        return replace(self, body=kids[0])


def implicit_letters(n: Node) -> set[str]:
    """Letters summed implicitly somewhere inside ``n`` (not free, not bound by a sum)."""
    out: set[str] = set()

    def go(m: Node, bound: frozenset) -> None:
        letters = getattr(m, "letters", ()) if isinstance(m, (Ref, Inv, DeltaN)) else (
            (m.letter,) if isinstance(m, SizeN) else ())
        out.update(x for x in letters if x not in bound and x not in n.free)
        inner = bound | set(m.letters) if isinstance(m, SumN) else bound
        for c in m.children():
            go(c, inner)

    go(n, frozenset())
    return out


def walk(n: Node) -> Iterator[Node]:
    yield n
    for c in n.children():
        yield from walk(c)


def names_in(n: Node) -> set[str]:
    """Tensor names a node reads (matrix-function operands included)."""
    out: set[str] = set()
    for m in walk(n):
        if isinstance(m, (Ref, Inv, MatScalar)):
            out.add(m.name)
        st = getattr(m, "stable", None)
        if st is not None:
            out.add(st.z.name)
    return out


# ---------------------------------------------------------------- rendering


@dataclass
class Style:
    """Surface choices that do not change the meaning."""

    pow_op: str = "^"
    sep: str = "\n"
    multiline: bool = False


def _idx(letters: tuple[str, ...]) -> str:
    return ",".join(letters)


def text(n: Node, s: Style) -> str:
    """``n`` in ricci syntax (``s``: the surface style)."""
    if isinstance(n, Ref):
        return f"{n.name}[{_idx(n.letters)}]" if n.letters else n.name
    if isinstance(n, Num):
        return n.literal
    if isinstance(n, SizeN):
        return f"size({n.letter})"
    if isinstance(n, DeltaN):
        return f"delta[{_idx(n.letters)}]"
    if isinstance(n, Inv):
        return f"inv({n.name})[{_idx(n.letters)}]"
    if isinstance(n, MatScalar):
        return f"{n.fn}({n.name})"
    if isinstance(n, Call):
        inner = text(n.arg, s)
        return f"{n.fn}(\n    {inner}\n)" if s.multiline else f"{n.fn}({inner})"
    if isinstance(n, Pow):
        e = wrap(n.exp, UNARY, s)
        if n.exp_parens and not e.startswith("("):
            e = f"({e})"
        return f"{wrap(n.base, ATOM, s)}{s.pow_op}{e}"
    if isinstance(n, Mul):
        out = wrap(n.factors[0], UNARY, s)
        for f, dv in zip(n.factors[1:], n.divides[1:]):
            out += (" / " if dv else " * ") + wrap(f, UNARY, s)
        return out
    if isinstance(n, Add):
        out = ("-" + wrap(n.terms[0], UNARY, s)) if n.signs[0] < 0 else wrap(n.terms[0], MUL, s)
        for t, sg in zip(n.terms[1:], n.signs[1:]):
            out += (" - " if sg < 0 else " + ") + wrap(t, MUL, s)
        return out
    if isinstance(n, Neg):
        return "-" + wrap(n.x, UNARY, s)
    if isinstance(n, SumN):
        if s.multiline:
            return f"sum[{_idx(n.letters)}](  # a comment inside a sum\n    {text(n.body, s)})"
        return f"sum[{_idx(n.letters)}]({text(n.body, s)})"
    raise TypeError(n)


def wrap(n: Node, prec: int, s: Style) -> str:
    """``n`` in ricci syntax, parenthesised where it binds looser than ``prec``."""
    t = text(n, s)
    return t if n.prec >= prec else f"({t})"


_LATEX_FN = {"exp": r"\exp", "log": r"\log", "tanh": r"\tanh", "sin": r"\sin", "cos": r"\cos",
             "sigmoid": r"\sigma", "relu": r"\operatorname{relu}", "softplus": r"\operatorname{softplus}",
             "step": r"\operatorname{step}", "sign": r"\operatorname{sign}", "log1p": r"\operatorname{log1p}",
             "expm1": r"\operatorname{expm1}", "erf": r"\operatorname{erf}", "atan": r"\arctan"}


def _lname(name: str) -> str:
    if len(name) == 1 and name.isascii() and name.isalpha() and name != "e":
        return name
    return r"\mathrm{" + name.replace("_", r"\_") + "}"


def _lidx(letters: tuple[str, ...]) -> str:
    parts = [x if len(x) == 1 else r"\mathit{" + x.replace("_", r"\_") + "}" for x in letters]
    return "_{" + ",".join(parts) + "}"


def once_letters(rhs: Node, lhs: tuple[str, ...]) -> dict[str, int]:
    """Letters of ``rhs`` summed implicitly (not on the left, not bound by a sum), with
    their number of occurrences: ricci's rule sums one that occurs once over its one
    factor, LaTeX's convention only sums a repeated index, so the LaTeX spelling writes
    that factor's sum out (with the factor's other letters summed there, ``R[l,l,p]``)."""
    count: dict[str, int] = {}

    def go(m: Node, bound: frozenset) -> None:
        if isinstance(m, (Ref, Inv, DeltaN)):
            for x in m.letters:
                if x not in bound:
                    count[x] = count.get(x, 0) + 1
        inner = bound | set(m.letters) if isinstance(m, SumN) else bound
        for c in m.children():
            go(c, inner)

    go(rhs, frozenset(lhs))
    return count


def latex(n: Node, once: Mapping[str, int] = MappingProxyType({})) -> str:
    """``n`` in the LaTeX accepted by ``ricci.parse(..., syntax="latex")``; the letters in
    ``once`` (see :func:`once_letters`) get their sum written around their one factor."""
    if isinstance(n, (Ref, DeltaN)):
        head = (_lname(n.name) if isinstance(n, Ref) else r"\delta") + (_lidx(n.letters) if n.letters else "")
        own = tuple(x for x in dict.fromkeys(n.letters) if once.get(x) == n.letters.count(x))
        if not any(once.get(x) == 1 for x in own):
            return head
        return r"\left(\sum" + _lidx(own) + " " + head + r"\right)"
    if isinstance(n, Num):
        return n.literal.rstrip(".")
    if isinstance(n, SizeN):
        return rf"\operatorname{{size}}({n.letter})"
    if isinstance(n, Call):
        if n.fn == "sqrt":
            return r"\sqrt{" + latex(n.arg, once) + "}"
        if n.fn == "abs":
            return r"\lvert " + latex(n.arg, once) + r" \rvert"
        return _LATEX_FN[n.fn] + r"\left(" + latex(n.arg, once) + r"\right)"
    if isinstance(n, Pow):
        b = n.base
        base = latex(b, once) if isinstance(b, Ref) and b.name != "e" else r"\left(" + latex(b, once) + r"\right)"
        return base + "^{" + latex(n.exp, once) + "}"
    if isinstance(n, Mul):
        out = _lwrap(n.factors[0], UNARY, once)
        for f, dv in zip(n.factors[1:], n.divides[1:]):
            out += (" / " if dv else r" \cdot ") + _lwrap(f, UNARY, once)
        return out
    if isinstance(n, Add):
        out = ("-" + _lwrap(n.terms[0], UNARY, once)) if n.signs[0] < 0 else _lwrap(n.terms[0], MUL, once)
        for t, sg in zip(n.terms[1:], n.signs[1:]):
            out += (" - " if sg < 0 else " + ") + _lwrap(t, MUL, once)
        return out
    if isinstance(n, Neg):
        return "-" + _lwrap(n.x, UNARY, once)
    if isinstance(n, SumN):
        return r"\left(\sum" + _lidx(n.letters) + " " + _lwrap(n.body, MUL, {k: v for k, v in once.items() if k not in n.letters}) + r"\right)"
    raise TypeError(n)


def _lwrap(n: Node, prec: int, once: Mapping[str, int] = MappingProxyType({})) -> str:
    t = latex(n, once)
    return t if n.prec >= prec else r"\left(" + t + r"\right)"


# ---------------------------------------------------------------- programs


@dataclass
class Stmt:
    name: str
    lhs: tuple[str, ...]
    rhs: Node
    #: letter -> class, for this statement
    letters: dict[str, int]

    def text(self, s: Style) -> str:
        lhs = f"{self.name}[{_idx(self.lhs)}]" if self.lhs else self.name
        return f"{lhs} = {text(self.rhs, s)}"

    def latex(self) -> str:
        lhs = _lname(self.name) + (_lidx(self.lhs) if self.lhs else "")
        return f"{lhs} = {latex(self.rhs, once_letters(self.rhs, self.lhs))}"


@dataclass
class Model:
    """A generated program: tensors (name -> classes of its axes), inputs (name -> how its
    random value is drawn), statements, the output ``of``, and the case to run."""

    tensors: dict[str, tuple[int, ...]] = field(default_factory=dict)
    inputs: dict[str, str] = field(default_factory=dict)
    statements: list[Stmt] = field(default_factory=list)
    of: str = ""
    style: Style = field(default_factory=Style)
    #: the center of the logits of a softmax template (0, or +-1000: large logits)
    logit_center: float = 0.0
    #: what is checked: kind, backend, the inputs differentiated, the input seed
    kind: str = "grad"
    backend: str = "numpy"
    wrt: tuple[str, ...] = ()
    seed: int = 0
    #: features the generator used (for the summary)
    tags: set[str] = field(default_factory=set)

    def text(self) -> str:
        return self.style.sep.join(s.text(self.style) for s in self.statements)

    def latex(self) -> str | None:
        """The program in LaTeX, or None where that has no faithful spelling (non-ASCII or
        multi-letter odd names, matrix functions)."""
        for s in self.statements:
            for n in walk(s.rhs):
                if isinstance(n, (Inv, MatScalar)):
                    return None
                if isinstance(n, SizeN) and len(n.letter) > 1:
                    return None
        for name in self.tensors:
            if not name.isascii() or name in ("e", "sum", "delta", "size"):
                return None
        for s in self.statements:
            if any(not x.isascii() for x in s.letters):
                return None
        return "\n".join(s.latex() for s in self.statements)

    @property
    def output(self) -> Stmt:
        return next(s for s in self.statements if s.name == self.of)

    def needed(self) -> list[str]:
        """Statements the output depends on, in order."""
        need = {self.of}
        keep = []
        for s in reversed(self.statements):
            if s.name in need:
                keep.append(s.name)
                need |= names_in(s.rhs)
        return keep[::-1]

    def used_inputs(self) -> list[str]:
        """Inputs the output depends on, in order of first use."""
        need = set(self.needed())
        out: dict[str, None] = {}
        for s in self.statements:
            if s.name in need:
                for n in walk(s.rhs):
                    for name in _read_order(n):
                        if name in self.inputs:
                            out.setdefault(name, None)
        return list(out)

    def shape(self, name: str) -> tuple[int, ...]:
        return tuple(CLASS_SIZES[c] for c in self.tensors[name])

    def describe(self) -> str:
        return (f"# kind={self.kind} backend={self.backend} wrt={','.join(self.wrt)} of={self.of} "
                f"seed={self.seed} logits={self.logit_center:g}\n{self.text()}")


def _read_order(n: Node) -> list[str]:
    st = getattr(n, "stable", None)
    if isinstance(n, (Ref, Inv, MatScalar)):
        return [n.name]
    return [st.z.name] if st is not None else []


# ---------------------------------------------------------------- the generator


class Gen(TreeGen):
    """Builds one random :class:`Model` (see the module docstring for the rules; the
    expressions are :class:`~tests.fuzz.treegen.TreeGen`'s, with this module's nodes,
    functions and templates)."""

    Ref, Num, SizeN, DeltaN, Call, Pow, Mul, Add, Neg, SumN = Ref, Num, SizeN, DeltaN, Call, Pow, Mul, Add, Neg, SumN
    Stmt = Stmt
    LEAVES = (Ref, Inv)
    POWER_KINDS = ("int", "real", "tensor", "size", "negint")
    EXPONENTS = {"real": ("0.5", "1.5", "-0.5", "(1/2)"), "size": ("0.5", "1.5", "-0.5", "(1/2)"),
                 "negint": ("-1", "-2", "(-1)")}

    def __init__(self, rng: random.Random, m: Model, max_depth: int, max_rank: int,
                 odd_names: bool, max_inputs: int) -> None:
        super().__init__(m, max_depth, max_rank, odd_names, max_inputs)
        self.r = rng
        #: tensors no later statement may read (dead statements, softmax internals)
        self.private: set[str] = set()
        #: square matrices that are well conditioned: name -> class
        self.matrices: dict[str, int] = {}
        self.n_classes = 1
        #: statements of templates (softmax, solve, GLM) the output should depend on
        self.templates: list[str] = []
        #: the weights of a GLM template (its Hessian is a weighted Gram matrix)
        self.glm_weights: str | None = None

    # -- the random source
    def coin(self, p: float = 0.5) -> bool:
        return self.r.random() < p

    def choose(self, options):
        options = list(options)
        return options[self.r.randrange(len(options))]

    def randint(self, a: int, b: int) -> int:
        return self.r.randint(a, b)

    def perm(self, xs: list[str]) -> list[str]:
        xs = list(xs)
        self.r.shuffle(xs)
        return xs

    def mask(self, n: int) -> list[bool]:
        return [self.coin() for _ in range(n)]

    def tag(self, feature: str) -> None:
        self.m.tags.add(feature)

    # -- names
    def fresh_letter(self, cls: int | None = None) -> str | None:
        pool = [x for x in LETTERS if x not in self.letters]
        if not pool or len(self.letters) >= MAX_LETTERS:
            return None
        # mostly the plain letters; now and then a long or a Unicode one
        x = self.choose(pool[:10]) if self.coin(0.9) else self.choose(pool)
        self.letters[x] = cls if cls is not None else self.r.randrange(self.n_classes)
        return x

    def new_name(self) -> str:
        """A tensor name not taken yet: plain, now and then an awkward one, numbered when
        the pool runs out."""
        taken = set(self.m.tensors) | {s.name for s in self.m.statements} | (
            {self.defining} if self.defining else set())
        if self.odd_names and self.coin(0.25):
            odd = [n for n in ODD_NAMES if n not in taken and n not in self.letters]
            if odd:
                return self.choose(odd)
        names = [n for n in PLAIN_NAMES if n not in taken]
        if names:
            return self.choose(names)
        k = 0
        while f"I{k}" in taken:
            k += 1
        return f"I{k}"

    def add_input(self, name: str) -> None:
        self.m.inputs[name] = "normal"

    # -- leaves
    def readable(self) -> list[str]:
        return [n for n in self.m.tensors if n != self.defining and n not in self.private]

    def special_leaf(self, F: tuple[str, ...]) -> Node | None:
        mats = [(a, c) for a, c in self.matrices.items() if a != self.defining
                and len(F) <= 2 and all(self.letters[x] == c for x in F)]
        if mats and self.coin(0.12):
            return self.inverse(F, mats)
        return None

    def inverse(self, F: tuple[str, ...], mats: list[tuple[str, int]]) -> Node:
        name, c = self.choose(mats)
        letters = list(F)
        while len(letters) < 2:
            if letters and self.coin(0.3):
                letters.append(letters[0])  # inv(A)[i,i]
            else:
                nl = self.fresh_letter(c)
                if nl is None:
                    return self.new_input(F)
                letters.append(nl)
        self.tag("inv")
        return Inv(F, name, tuple(self.perm(letters)))

    def scalar_leaf(self) -> Node:
        kinds = ["num", "size", "tensor"]
        if self.matrices and any(a != self.defining for a in self.matrices):
            kinds.append("det")
        k = self.choose(kinds)
        if k == "num":
            return Num((), self.choose(sorted(NUMS)))
        if k == "size" and self.letters:
            self.tag("size")
            return SizeN((), self.choose(sorted(self.letters)))
        if k == "det":
            name = self.choose([a for a in self.matrices if a != self.defining])
            fn = self.choose(["det", "logdet", "logdet", "trace"])
            self.tag(fn)
            return MatScalar((), fn, name)
        return self.leaf(())

    # -- expressions
    def unused_sum_letters(self) -> list[str]:
        if self.coin(0.08):  # sum[j,m](f[j]): an index the summand lacks counts size(m) times
            extra = self.fresh_letter()
            if extra is not None:
                self.tag("sum-unused-index")
                return [extra]
        return []

    def call(self, F, known, depth) -> Node:
        fn = self.choose(FUNCTIONS)
        self.tag(fn)
        if fn in ("log", "sqrt", "log1p"):
            arg = self.positive(F, known, depth + 1)
        else:
            arg = self.gen(F, known, depth + 1)
            plain_input = isinstance(arg, Ref) and arg.name in self.m.inputs and arg.letters == tuple(F)
            constant = isinstance(arg, (Num, SizeN))  # never 0: no kink
            if fn in ("relu", "abs", "step", "sign") and not plain_input and not constant:
                arg = Add(tuple(F), [arg, Num((), self.choose(["0.1", ".25", "0.5"]))],
                          [1, self.choose([1, -1])])
            if fn in ("exp", "expm1") and self.coin(0.5):
                arg = Mul(tuple(F), [Num((), "0.5"), arg], [False, False])
        F = tuple(F)
        if fn in ("sigmoid", "softplus") and self.coin(0.25):
            # the textbook spellings, which the simplifier recognises
            self.tag(fn + "-written-out")
            one = Num((), "1")
            if fn == "softplus":
                return Call(F, "log", Add(F, [one, Call(F, "exp", arg)], [1, 1]))
            if self.coin(0.5) or implicit_letters(arg):
                return Mul(F, [one, Add(F, [one, Call(F, "exp", Neg(F, arg))], [1, 1])], [False, True])
            # the argument twice: only without implicit sums (they would be ambiguous)
            return Mul(F, [Call(F, "exp", arg), Add(F, [one, Call(F, "exp", arg)], [1, 1])], [False, True])
        return Call(F, fn, arg)

    # -- statements
    def add_statement(self, st: Stmt, private: bool = False) -> None:
        self.m.statements.append(st)
        self.m.tensors[st.name] = tuple(st.letters[x] for x in st.lhs)
        if private:
            self.private.add(st.name)

    def stmt_name(self, pool: list[str]) -> str:
        name = self.choose(pool)
        while name in self.m.tensors:
            name += "x"
        return name

    # -- resources: well-conditioned matrices, softmax statements
    def matrix_input(self) -> None:
        c = self.r.randrange(self.n_classes)
        name = self.new_name()
        self.m.tensors[name] = (c, c)
        self.m.inputs[name] = "spd"
        self.matrices[name] = c

    def gram_statement(self) -> None:
        """``S[i,j] = A[i,k]*A[j,k] + 3*delta[i,j]`` (symmetric positive definite)."""
        c, d = self.r.randrange(self.n_classes), self.r.randrange(self.n_classes)
        self.letters = {"i": c, "j": c, "k": d}
        name = self.stmt_name(["S", "K", "M"])
        self.defining = name
        a = self.new_name()
        self.defining = None
        self.m.tensors[a] = (c, d)
        self.m.inputs[a] = "normal"
        gram = Mul(("i", "j"), [Ref(("i", "k"), a, ("i", "k")), Ref(("j", "k"), a, ("j", "k"))], [False, False])
        eye = Mul(("i", "j"), [Num((), "3"), DeltaN(("i", "j"), ("i", "j"))], [False, False])
        self.add_statement(Stmt(name, ("i", "j"), Add(("i", "j"), [gram, eye], [1, 1]), dict(self.letters)))
        self.matrices[name] = c
        self.m.tags.add("gram-statement")

    def softmax(self, large: bool) -> None:
        """Softmax, log-softmax, logsumexp or cross-entropy split across statements, the
        exponentials a statement of their own (``E[n,k] = exp(Z[n,k])``, ``S[n] =
        sum[k](E[n,k])``, ``P[n,k] = E[n,k] / S[n]``); the oracle computes them stably."""
        kc, nc = self.r.randrange(self.n_classes), self.r.randrange(self.n_classes)
        batch = self.coin(0.6)
        n_, k_ = ("n", "k")
        lhs = (n_, k_) if batch else (k_,)
        classes = {n_: nc, k_: kc} if batch else {k_: kc}
        z = self.stmt_name(["Z", "logits"])
        self.m.tensors[z] = tuple(classes[x] for x in lhs)
        self.m.inputs[z] = "logits"
        if large:
            self.private.add(z)  # exp of anything else of it overflows
        zref = Ref(lhs, z, lhs)
        red = (n_,) if batch else ()
        e, s, p = self.stmt_name(["E"]), self.stmt_name(["Sm", "den"]), self.stmt_name(["P", "prob"])
        exp_z = Call(lhs, "exp", zref)
        self.add_statement(Stmt(e, lhs, exp_z, dict(classes)), private=True)
        self.add_statement(Stmt(s, red, SumN(red, (k_,), Ref(lhs, e, lhs)), dict(classes)), private=True)
        ratio = Mul(lhs, [Ref(lhs, e, lhs), Ref(red, s, red)], [False, True],
                    stable=Stable("softmax", zref, (k_,)))
        variant = self.choose(["softmax", "log_softmax", "logsumexp", "cross_entropy"])
        self.m.tags.add("split-" + variant + ("-large" if large else ""))
        if variant == "logsumexp":
            lse = Call(red, "log", Ref(red, s, red), stable=Stable("logsumexp", zref, (k_,)))
            self.add_statement(Stmt(self.stmt_name(["lse"]), red, lse, dict(classes)), private=large)
            self.templates.append(self.m.statements[-1].name)
            return
        self.add_statement(Stmt(p, lhs, ratio, dict(classes)))
        self.templates.append(p)
        pref = Ref(lhs, p, lhs)
        if variant == "softmax":
            return
        logp = Call(lhs, "log", pref, stable=Stable("log_softmax", zref, (k_,)))
        if variant == "log_softmax":
            self.add_statement(Stmt(self.stmt_name(["lp", "logp"]), lhs, logp, dict(classes)))
            self.templates.append(self.m.statements[-1].name)
            return
        t = self.new_name()
        self.m.tensors[t] = self.m.tensors[z]
        self.m.inputs[t] = "normal"
        body = Mul(lhs, [Ref(lhs, t, lhs), logp], [False, False])
        ce = Neg((), SumN((), lhs, body))
        self.add_statement(Stmt(self.stmt_name(["CE", "Lce"]), (), ce, dict(classes)))
        self.templates.append(self.m.statements[-1].name)

    def solve_statement(self) -> None:
        """``t[i] = inv(A)[i,j] * y[j]`` (or its transpose, or a matrix right-hand side):
        the generated code solves a linear system instead of forming the inverse."""
        mats = [a for a in self.matrices]
        if not mats:
            return
        a = self.choose(sorted(mats))
        c = self.matrices[a]
        d = self.r.randrange(self.n_classes)
        self.letters = {"i": c, "j": c, "k": d}
        name = self.stmt_name(["t", "sol"])
        self.defining = name
        y = self.new_name()
        self.defining = None
        wide = self.coin(0.3)
        yl = ("j", "k") if wide else ("j",)
        lhs = ("i", "k") if wide else ("i",)
        self.m.tensors[y] = tuple(self.letters[x] for x in yl)
        self.m.inputs[y] = "normal"
        il = ("i", "j") if self.coin(0.6) else ("j", "i")
        inv = Inv(il, a, il)
        rhs = Mul(lhs, [inv, Ref(yl, y, yl)], [False, False])
        self.add_statement(Stmt(name, lhs, rhs, dict(self.letters)))
        self.templates.append(name)
        self.m.tags.add("solve")

    def glm(self) -> None:
        """``L = sum[n](f(X[n,d]*w[d]) - y[n]*X[n,d]*w[d])``: the Hessian w.r.t. ``w`` is a
        weighted Gram matrix ``X.T @ diag(f'') @ X``."""
        cn, cd = self.r.randrange(self.n_classes), self.r.randrange(self.n_classes)
        if cn == cd:
            return
        self.letters = {"n": cn, "d": cd}
        name = self.stmt_name(["Lg", "nll"])
        x = self.new_name()
        self.m.tensors[x] = (cn, cd)
        w = self.new_name()
        self.m.tensors[w] = (cd,)
        self.m.inputs[x] = "normal"
        self.m.inputs[w] = "normal"
        z = Mul(("n",), [Ref(("n", "d"), x, ("n", "d")), Ref(("d",), w, ("d",))], [False, False])
        fn = self.choose(["softplus", "sigmoid", "tanh", "log1pexp"])
        f: Node = Call(("n",), "log", Add(("n",), [Num((), "1"), Call(("n",), "exp", z)], [1, 1])) \
            if fn == "log1pexp" else Call(("n",), fn, z)
        body: Node = f
        if self.coin(0.5):
            t = self.new_name()
            self.m.tensors[t] = (cn,)
            self.m.inputs[t] = "normal"
            self.letters["e"] = cd  # another letter: d is summed inside f's scope
            z2 = Mul(("n",), [Ref(("n", "e"), x, ("n", "e")), Ref(("e",), w, ("e",))], [False, False])
            body = Add(("n",), [f, Mul(("n",), [Ref(("n",), t, ("n",)), z2], [False, False])], [1, -1])
        self.add_statement(Stmt(name, (), SumN((), ("n",), body), dict(self.letters)))
        self.templates.append(name)
        self.glm_weights = w
        self.m.tags.add("glm")

    def delta3(self) -> None:
        """``D3[i,j,k] = delta[i,j,k] * x[k]``: a Kronecker delta of three indices that
        survives into the generated code."""
        c = self.r.randrange(self.n_classes)
        self.letters = {"i": c, "j": c, "k": c}
        name = self.stmt_name(["D3"])
        self.defining = name
        x = self.new_name()
        self.defining = None
        self.m.tensors[x] = (c,)
        self.m.inputs[x] = "normal"
        lhs = ("i", "j", "k")
        rhs = Mul(lhs, [DeltaN(lhs, lhs), Ref(("k",), x, ("k",))], [False, False])
        self.add_statement(Stmt(name, lhs, rhs, dict(self.letters)))
        self.templates.append(name)
        self.m.tags.add("delta3")

    def consume(self, tname: str) -> None:
        """A last statement that adds ``sum(W * T)`` of the tensor ``tname`` to the current
        last statement (so that the output depends on it)."""
        last = self.m.statements[-1]
        classes = self.m.tensors[tname]
        self.letters = {x: last.letters[x] for x in last.lhs}
        self.defining = None
        tl = []
        for c in classes:
            x = self.fresh_letter(c)
            if x is None:
                return
            tl.append(x)
        w = self.new_name()
        self.m.tensors[w] = classes
        self.m.inputs[w] = "normal"
        F = last.lhs
        prod = Mul(tuple(tl), [Ref(tuple(tl), w, tuple(tl)), Ref(tuple(tl), tname, tuple(tl))], [False, False])
        total = SumN((), tuple(tl), prod) if tl else prod
        rhs = Add(F, [Ref(F, last.name, F), total], [1, 1])
        name = self.stmt_name(["Lout"] if not F else ["Yout"])
        self.add_statement(Stmt(name, F, rhs, dict(self.letters)))
        self.m.tags.add("consumer")


def generate(seed: int | str, *, kind: str | None = None, backend: str | None = None) -> Model:
    """The random program and case of ``seed`` (a pure function of it)."""
    r = random.Random(f"program:{seed}")
    kind = kind or r.choice(KINDS)
    backend = backend or r.choice(BACKENDS)
    scalar_out = kind in ("hessian", "diagonal", "hvp") or r.random() < 0.5
    small = kind != "grad"
    m = Model(style=Style(pow_op=r.choice(["^", "^", "**"]),
                          sep=r.choice(["\n", "\n", "; ", "\n# a comment\n\n", "\r\n"]),
                          multiline=r.random() < 0.15),
              kind=kind, backend=backend, seed=r.randrange(2**31))
    g = Gen(r, m, max_depth=r.choice([1, 2, 3]) if small else r.choice([1, 2, 3, 3]),
            max_rank=3 if small else 4, odd_names=r.random() < 0.5, max_inputs=5 if small else 6)
    g.n_classes = r.randint(1, 4)
    if r.random() < 0.2:
        g.matrix_input()
    if r.random() < 0.12:
        g.gram_statement()
    if r.random() < 0.15:
        g.solve_statement()
    if r.random() < 0.08:
        g.glm()
    if r.random() < 0.03:
        g.delta3()
    if r.random() < 0.18:
        large = r.random() < 0.5
        m.logit_center = r.choice([1000.0, -1000.0]) if large else 0.0
        g.softmax(large)
    n = r.randint(1, 3 if small else 4)
    for k in range(n):
        last = k == n - 1
        dead = not last and r.random() < 0.15
        if dead and g.matrices and r.random() < 0.5:
            # T1 = logdet(K): a dead statement that reads a matrix nothing else reads
            name = g.stmt_name(["T1"])
            mat = g.choose(sorted(g.matrices))
            g.add_statement(Stmt(name, (), MatScalar((), g.choose(["det", "logdet"]), mat), {}), private=True)
            m.tags.add("dead-matrix")
            continue
        if last:
            rank = 0 if scalar_out else r.randint(1, 2 if small else 3)
            name = g.stmt_name(["L"] if rank == 0 else ["Y"])
        else:
            rank = r.randint(0, 2 if small else 3)
            name = g.stmt_name(["T1", "T2", "H", "Z2", "P2", "h1"])
        classes = tuple(r.randrange(g.n_classes) for _ in range(rank))
        st = g.statement(name, classes)
        g.add_statement(st, private=dead)
        if dead:
            m.tags.add("dead")
    m.of = m.statements[-1].name
    for t in g.templates:
        if t not in m.needed() and r.random() < 0.8:
            g.consume(t)
            m.of = m.statements[-1].name
    # now and then the output is an earlier statement, with the later ones after it
    if r.random() < 0.15 and len(m.statements) > 1:
        cands = [s for s in m.statements[:-1] if (not s.lhs if scalar_out else True)
                 and s.name not in g.private]
        if cands:
            m.of = r.choice(cands).name
            m.tags.add("of-earlier")
    if kind in ("hessian", "diagonal", "hvp") and m.output.lhs:
        m.of = m.statements[-1].name
    used = m.used_inputs()
    if not used:
        return generate(f"{seed}+", kind=kind, backend=backend)
    if kind == "grad":
        m.wrt = tuple(r.sample(used, r.randint(1, min(3, len(used)))))
    elif kind == "hessian" and len(used) > 1 and r.random() < 0.3:
        m.wrt = tuple(r.sample(used, 2))
        m.tags.add("mixed-hessian")
    elif g.glm_weights in used and r.random() < 0.6:
        m.wrt = (g.glm_weights,)
    else:
        m.wrt = (r.choice(used),)
    return m


# ---------------------------------------------------------------- inputs


def random_inputs(m: Model, seed: int | None = None) -> dict[str, object]:
    """float64 numpy arrays for every input (``spd``: near 3 I; ``logits``: near the
    model's logit center)."""
    import numpy as np

    rng = np.random.default_rng(m.seed if seed is None else seed)
    out = {}
    for name, how in m.inputs.items():
        shape = m.shape(name)
        x = rng.standard_normal(shape)
        if how == "spd":
            x = 3.0 * np.eye(shape[0]) + 0.3 * x
        elif how == "logits":
            x = m.logit_center + 2.0 * x
        out[name] = x
    return out


def seed_array(shape: tuple[int, ...], seed: int) -> object:
    """A random upstream gradient or Hessian-vector seed."""
    import numpy as np

    return np.random.default_rng(seed).standard_normal(shape)
