"""The random generator of typed expression trees behind both program generators:
:mod:`tests.fuzz.programs` (the differential fuzzer, drawing from ``random.Random``) and
``tests/support/strategies.py`` (the property tests, drawing from Hypothesis).

:class:`TreeGen` holds the rules that keep a program well formed (the module docstrings
of both generators list them): which letters a subexpression may carry, where a
contraction letter goes, which forms are positive. A subclass supplies

* the random source: :meth:`~TreeGen.coin`, :meth:`~TreeGen.choose`,
  :meth:`~TreeGen.randint`, :meth:`~TreeGen.perm`, :meth:`~TreeGen.mask`;
* the node classes (``Ref``, ``Num``, ``SizeN``, ``DeltaN``, ``Call``, ``Pow``, ``Mul``,
  ``Add``, ``Neg``, ``SumN``, each built with its free letters first: ``Mul(free,
  factors, divides)``) and ``Stmt(name, lhs, rhs, letters)``; ``LEAVES``, the nodes with
  letters that :meth:`~TreeGen.copy_leaf` renames; ``POWER_KINDS``, and ``EXPONENTS``,
  the exponent literals of each kind of power that has a literal exponent;
* its own vocabulary: :meth:`~TreeGen.fresh_letter`, :meth:`~TreeGen.new_name`,
  :meth:`~TreeGen.scalar_leaf`, :meth:`~TreeGen.call`, :meth:`~TreeGen.add_input`;
* where it differs, the hooks :meth:`~TreeGen.readable`, :meth:`~TreeGen.tag`,
  :meth:`~TreeGen.special_leaf`, :meth:`~TreeGen.sum_arity` and
  :meth:`~TreeGen.unused_sum_letters`.

The order of the random draws is part of the contract: a seed (a ``random.Random``
string, a derandomized Hypothesis test) must keep generating the same program.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import Any


class TreeGen:
    """Builds the statements of a model ``m`` (its ``tensors``: name -> classes of the
    axes, its ``inputs`` and ``statements``) one random expression at a time. ``letters``
    are the index letters of the statement being generated (letter -> class), ``defining``
    the tensor it defines (which its right-hand side may not read)."""

    Ref: Any
    Num: Any
    SizeN: Any
    DeltaN: Any
    Call: Any
    Pow: Any
    Mul: Any
    Add: Any
    Neg: Any
    SumN: Any
    Stmt: Any
    LEAVES: tuple[type, ...]
    POWER_KINDS: tuple[str, ...]
    EXPONENTS: dict[str, tuple[str, ...]]

    def __init__(self, m: Any, max_depth: int, max_rank: int, odd_names: bool, max_inputs: int) -> None:
        self.m = m
        self.max_depth = max_depth
        self.max_rank = max_rank
        self.odd_names = odd_names
        self.max_inputs = max_inputs
        self.letters: dict[str, int] = {}
        self.defining: str | None = None

    # -- the random source
    def coin(self, p: float = 0.5) -> bool:
        raise NotImplementedError

    def choose(self, options):
        raise NotImplementedError

    def randint(self, a: int, b: int) -> int:
        """An integer of ``a..b``, both included."""
        raise NotImplementedError

    def perm(self, xs: list[str]) -> list[str]:
        raise NotImplementedError

    def mask(self, n: int) -> list[bool]:
        """``n`` independent fair coins."""
        raise NotImplementedError

    # -- the generator's own vocabulary
    def fresh_letter(self, cls: int | None = None) -> str | None:
        """A letter not used in the statement yet, of class ``cls`` (or a random one);
        None when none is left."""
        raise NotImplementedError

    def new_name(self) -> str | None:
        """A tensor name not taken yet (None when none is left)."""
        raise NotImplementedError

    def scalar_leaf(self) -> Any:
        raise NotImplementedError

    def call(self, F, known, depth) -> Any:
        raise NotImplementedError

    def add_input(self, name: str) -> None:
        """Record ``name`` (its classes already in ``m.tensors``) as an input."""
        raise NotImplementedError

    def tag(self, feature: str) -> None:
        """The generator used ``feature`` (for a summary of what a run reached)."""

    def special_leaf(self, F: tuple[str, ...]) -> Any:
        """A leaf of the subclass's own (such as an inverse) now and then, or None."""
        return None

    def sum_arity(self, F: tuple[str, ...]) -> int:
        """How many letters a ``sum[...]`` over a body with free letters ``F`` tries to bind."""
        return self.randint(1, 2)

    def unused_sum_letters(self) -> list[str]:
        """Letters to add to a ``sum[...]`` that its body does not carry."""
        return []

    # -- leaves
    def readable(self) -> list[str]:
        """The tensors an expression may read."""
        return [n for n in self.m.tensors if n != self.defining]

    def leaf(self, F: tuple[str, ...]) -> Any:
        """A tensor (an earlier one, or a new input) with free letters ``F``; its other
        axes are summed (fresh letters) or diagonals (a letter twice)."""
        opts = []
        for name in self.readable():
            classes = self.m.tensors[name]
            if len(classes) < len(F):
                continue
            match = [p for p in itertools.permutations(range(len(classes)), len(F))
                     if all(classes[a] == self.letters[x] for a, x in zip(p, F))]
            if match:
                opts.append((name, match))
        special = self.special_leaf(F)
        if special is not None:
            return special
        can_new = len(self.m.inputs) < self.max_inputs
        # prefer intermediates (defined tensors) so they get used, often several times
        opts.sort(key=lambda o: (o[0] in self.m.inputs, o[0]))
        if opts and (not can_new or self.coin(0.7)):
            name, match = self.choose(opts)
            p = self.choose(match)
            classes = self.m.tensors[name]
            letters: list[str | None] = [None] * len(classes)
            for a, x in zip(p, F):
                letters[a] = x
            for a in range(len(classes)):
                if letters[a] is not None:
                    continue
                same = [x for x in letters if x is not None and self.letters[x] == classes[a]]
                if same and self.coin(0.25):
                    letters[a] = self.choose(same)  # a diagonal or a trace
                else:
                    nl = self.fresh_letter(classes[a])
                    if nl is None:
                        return self.new_input(F)
                    letters[a] = nl
            return self.Ref(F, name, tuple(letters))
        return self.new_input(F)

    def new_input(self, F: tuple[str, ...]) -> Any:
        letters = list(F)
        if len(letters) < 3 and self.coin(0.15):
            nl = self.fresh_letter()
            if nl is not None:
                letters.insert(self.randint(0, len(letters)), nl)  # summed alone
        letters = self.perm(letters) if len(letters) > 1 else letters
        name = self.new_name()
        if name is None:
            return self.Num((), "2") if not F else self.leaf(F)
        self.m.tensors[name] = tuple(self.letters[x] for x in letters)
        self.add_input(name)
        return self.Ref(F, name, tuple(letters))

    # -- expressions
    def gen(self, F: tuple[str, ...], known: frozenset, depth: int) -> Any:
        """An expression with free letters ``F`` (in that order); ``known``: the letters
        free on the left or bound by an enclosing ``sum[...]``."""
        scoped_ok = set(F) <= known
        kinds = ["leaf"]
        if not F:
            kinds.append("scalar")
        if len(F) >= 2 and len({self.letters[x] for x in F}) == 1 and len(F) <= 3:
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
            self.tag("delta")
            return self.DeltaN(F, tuple(self.perm(list(F))))
        if kind == "neg":
            return self.Neg(F, self.gen(F, known, depth + 1))
        if kind == "sum":
            return self.sum(F, known, depth)
        if kind == "add":
            return self.add(F, known, depth)
        if kind == "mul":
            return self.mul(F, known, depth)
        if kind == "call":
            return self.call(F, known, depth)
        return self.power(F, known, depth)

    def sum(self, F: tuple[str, ...], known: frozenset, depth: int) -> Any:
        S: list[str] = []
        for _ in range(self.sum_arity(F)):
            if len(F) + len(S) >= self.max_rank:
                break
            nl = self.fresh_letter()
            if nl is not None:
                S.append(nl)
        if not S:
            return self.leaf(F)
        self.tag("sum")
        body_free = tuple(self.perm(list(F) + S))
        S += self.unused_sum_letters()
        return self.SumN(F, tuple(S), self.gen(body_free, known | set(S), depth + 1))

    def split(self, F: tuple[str, ...], n: int, at_least: dict[str, int]) -> list[list[str]]:
        """Each letter to a subset of the ``n`` parts (at least ``at_least[x]`` of them)."""
        parts: list[list[str]] = [[] for _ in range(n)]
        for x in F:
            k = at_least.get(x, 1)
            chosen = [i for i, b in enumerate(self.mask(n)) if b]
            for i in range(n):
                if len(chosen) >= k:
                    break
                if i not in chosen:
                    chosen.append(i)
            for i in sorted(chosen):
                parts[i].append(x)
        return parts

    def mul(self, F, known, depth) -> Any:
        n = self.randint(2, 3)
        K: list[str] = []
        for _ in range(self.randint(0, max(0, min(2, self.max_rank - len(F))))):
            # bias contraction letters towards the classes already around (deltas, squares)
            cls = self.letters[self.choose(F)] if F and self.coin(0.4) else None
            nl = self.fresh_letter(cls)
            if nl is not None:
                K.append(nl)
        if K:
            self.tag("contraction")
        parts = self.split(tuple(F) + tuple(K), n, {k: 2 for k in K})
        factors: list[Any] = []
        divides = [False]
        for i, part in enumerate(parts):
            Fi = tuple(part)
            if i > 0 and self.coin(0.2):
                factors.append(self.positive(Fi, known, depth + 1))
                divides.append(True)
                self.tag("division")
            else:
                factors.append(self.gen(Fi, known, depth + 1))
                if i > 0:
                    divides.append(False)
        return self.Mul(tuple(F), factors, divides)

    def add(self, F, known, depth) -> Any:
        n = self.randint(2, 3)
        parts = self.split(F, n, {})
        terms = [self.gen(tuple(p), known, depth + 1) for p in parts]
        if any(len(p) < len(F) for p in parts):
            self.tag("broadcast")
        return self.Add(tuple(F), terms, [(-1 if self.coin(0.3) else 1) for _ in terms])

    def positive(self, F, known, depth) -> Any:
        """An expression > 0 everywhere (bounded away from 0 for most forms)."""
        F = tuple(F)
        scoped_ok = set(F) <= known
        kinds = ["square"]
        if not F:
            kinds += ["num", "size"]
        if scoped_ok and depth < self.max_depth + 1:
            kinds += ["1+e^2", "softplus", "exp", "sigmoid", "2+fn", "sqrt"]
        kind = self.choose(kinds)
        Num = self.Num
        if kind == "num":
            return Num((), self.choose(["2", "0.5", "1.5", "3"]))
        if kind == "size":
            return self.SizeN((), self.choose(sorted(self.letters))) if self.letters else Num((), "2")
        if kind == "square":
            # (c + T*T): the tensor letters stay direct, so contraction letters may pass
            t = self.leaf(F)
            t2 = self.copy_leaf(t)
            if t2 is None:
                # no fresh letter left: the two copies share their summed letters, which
                # the product then sums over (still a sum of squares)
                t2 = t = replace(t, free=tuple(dict.fromkeys(t.letters)))
            sq = self.Mul(F, [t, t2], [False, False])
            return self.Add(F, [Num((), self.choose(["1", "2", "0.5"])), sq], [1, 1])
        # exp, softplus, sigmoid of a leaf-like argument only: exp(exp(...)) gets large,
        # and 1/sigmoid(-30) or log(softplus(-40)) are ill-conditioned
        e = self.gen(F, known, self.max_depth if kind in ("exp", "softplus", "sigmoid") else depth + 1)
        if kind == "1+e^2":
            return self.Add(F, [Num((), "1"), self.Pow(F, e, Num((), "2"))], [1, 1])
        if kind == "2+fn":
            return self.Add(F, [Num((), "2"), self.Call(F, self.choose(["tanh", "sin", "cos"]), e)], [1, 1])
        if kind == "sqrt":
            return self.Call(F, "sqrt", self.Add(F, [Num((), "1"), self.Pow(F, e, Num((), "2"))], [1, 1]))
        return self.Call(F, kind, e)

    def copy_leaf(self, t: Any) -> Any:
        """The same leaf again, its summed letters renamed (None when no fresh letter is
        left)."""
        if not isinstance(t, self.LEAVES):
            return t
        ren: dict[str, str] = {}
        letters = []
        for x in t.letters:
            if x in t.free:
                letters.append(x)
            else:
                if x not in ren:
                    nl = self.fresh_letter(self.letters[x])
                    if nl is None:
                        return None
                    ren[x] = nl
                letters.append(ren[x])
        return replace(t, letters=tuple(letters))

    def power(self, F, known, depth) -> Any:
        kind = self.choose(self.POWER_KINDS)
        F = tuple(F)
        self.tag("pow-" + kind)
        Num = self.Num
        if kind == "int":
            return self.Pow(F, self.gen(F, known, depth + 1), Num((), self.choose(["2", "3"])))
        if kind == "size" and self.letters:
            return self.Pow(F, self.gen(F, known, depth + 1), self.SizeN((), self.choose(sorted(self.letters))))
        if kind in self.EXPONENTS:
            base = self.positive(F, known, depth + 1)
            lit = self.choose(self.EXPONENTS[kind])
            if lit == "(1/2)":
                e = self.Mul((), [Num((), "1"), Num((), "2")], [False, True])
            elif lit.startswith("("):
                e = self.Neg((), Num((), "1"))
            elif lit.startswith("-"):
                e = self.Neg((), Num((), lit[1:]))
            else:
                e = Num((), lit)
            return self.Pow(F, base, e, exp_parens=self.coin(0.3))
        # a tensor-valued exponent over a positive base
        parts = self.split(F, 2, {})
        base = self.positive(tuple(parts[0]), known, depth + 1)
        ex = self.gen(tuple(parts[1]), known, self.max_depth)  # a leaf-like exponent
        return self.Pow(F, base, ex)

    # -- statements
    def statement(self, name: str, lhs_classes: tuple[int, ...]) -> Any:
        """The statement defining ``name``, its axes of the classes ``lhs_classes``."""
        self.letters = {}
        self.defining = name
        lhs = [self.fresh_letter(c) for c in lhs_classes]
        rhs = self.gen(tuple(lhs), frozenset(lhs), 0)  # type: ignore[arg-type]
        self.defining = None
        return self.Stmt(name, tuple(lhs), rhs, dict(self.letters))
