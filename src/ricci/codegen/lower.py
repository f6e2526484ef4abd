"""Stage 5: lower index expressions to array operations.

Each right-hand side becomes straight-line array code over named axes: elementwise
parts become broadcasting arithmetic (axes aligned by transposes and ``None``), every
summed product becomes pairwise contractions in the order opt_einsum chooses
(:mod:`.contract`), and each pairwise contraction is spelled as the plainest operation
that fits: ``a * b`` (no summed index), ``a @ b`` / ``a.T @ b`` (a matrix or
matrix-vector product), a batched ``@``, ``tensordot``, or ``einsum`` as the general
fallback. Reductions of a single operand are ``.sum(axis)``. Subexpressions that repeat
(:mod:`.repeats`) are computed once.

The spelling of each operation belongs to a :class:`~.backends.Backend`, so the same
lowering serves NumPy, PyTorch and JAX.
"""

from __future__ import annotations

import math
from fractions import Fraction
from typing import Callable, Sequence

import opt_einsum as oe

from ..errors import RicciError
from ..ir.expr import ONE, Add, Call, Const, Delta, Expr, Index, MatFn, Max, Mul, Pow, Size, Sum, Tensor
from ..ir.traversal import map_bottom_up, walk
from ..primitives.functions import FUNCTIONS, MATRIX_FUNCTIONS, VALUE
from ..primitives.numbers import number_text
from ..simplify.coefficients import split_coef, with_coef
from .backends import Backend
from .contract import contract_pairwise, split_axes
from .repeats import Repeats, pair_node, whole
from .values import ADD, ATOM, MUL, POW, UNARY, Axes, Val, float_literal, positive_first, signed_sum

__all__ = ["Lowerer", "fold_products", "signed_terms"]


class Lowerer:
    """Lowers expressions to code lines; ``size_code(dim)`` spells the size of a dim."""

    def __init__(self, backend: Backend, size_code: Callable[[str], str],
                 size_hint: Callable[[str], int], tmp: Callable[[], str],
                 shared: dict[Expr, Val] | None = None,
                 repeated: Repeats | None = None,
                 temp_dims: dict[str, tuple[str, ...]] | None = None) -> None:
        self.b = backend
        self.size_code = size_code
        self.size_hint = size_hint
        self.tmp = tmp
        self.lines: list[str] = []
        #: subexpressions that occur more than once are computed once, into a temporary
        self.shared = {} if shared is None else shared
        self.repeated = repeated if repeated is not None else Repeats(())
        #: the dims of every temporary's array, in the order of its axes (temporary -> dims)
        self.temp_dims = {} if temp_dims is None else temp_dims
        #: the axis order the caller would like results in (the left-hand side's)
        self.want: Axes = ()
        #: operations may update the arrays they make in place (else every operation is
        #: out of place, so that autograd can differentiate the code again)
        self.in_place = True

    # -- helpers
    def bind(self, v: Val, force: bool = False) -> Val:
        """Put a non-atomic value (with ``force``: any computed value) in a temporary."""
        if v.code.isidentifier() or (v.atomic and not force):
            return v
        name = self.tmp()
        self.lines.append(f"{name} = {v.code}")
        if not v.number:
            self.temp_dims[name] = tuple(a.dim for a in v.axes)
        return Val(name, v.axes)

    def align(self, v: Val, target: Axes) -> Val:
        """``v`` with its axes permuted into ``target``'s order and broadcast to it."""
        present = [a for a in target if a in v.axes]
        assert len(present) == len(v.axes), (v.axes, target)
        out = v
        if tuple(present) != v.axes:
            perm = [v.axes.index(a) for a in present]
            out = Val(self.b.permute(v.wrapped(), perm), v.axes)
        if present:
            first = target.index(present[0])
            slots = ["None" if a not in v.axes else ":" for a in target[first:]]
            while slots and slots[-1] == ":":
                slots.pop()
            if slots:
                out = Val(f"{out.wrapped()}[{', '.join(slots)}]", v.axes)
        return Val(out.code, tuple(target) if present else (), out.prec, v.number and not present,
                   matmul=v.matmul if out.code == v.code else None)

    def order(self, axes: Axes) -> Axes:
        """``axes`` sorted into the wanted order (axes not wanted keep theirs, after)."""
        if not self.want:
            return axes
        wanted = [a for a in self.want if a in axes]
        return tuple(wanted) + tuple(a for a in axes if a not in wanted)

    # -- expressions
    def lower(self, e: Expr) -> Val:
        if not isinstance(e, (Call, Pow, Sum, Add, Mul)) or not e.free or not self.repeated.may_repeat(e):
            return self._lower(e)
        key, names = self.repeated.canonical(e)
        hit = self.shared.get(key)
        if hit is not None:  # computed before, perhaps with other index names
            return Val(hit.code, tuple(names[a] for a in hit.axes))
        v = self._lower(e)
        if key in self.repeated:
            v = self.bind(v, force=True)
            back = {b: a for a, b in names.items()}
            self.shared[key] = Val(v.code, tuple(back[a] for a in v.axes))
        return v

    def _lower(self, e: Expr) -> Val:
        if isinstance(e, Const):
            c = float_literal(e.value)
            return Val(c, (), UNARY if c.startswith("-") else ATOM, number=True)
        if isinstance(e, Size):
            return Val(self.size_code(e.index.dim), (), number=True)
        if isinstance(e, Tensor):
            return self.tensor(e)
        if isinstance(e, Delta):
            uniq = tuple(dict.fromkeys(e.indices))
            n = self.size_code(uniq[0].dim)
            if len(uniq) == 2:
                return Val(self.b.eye(n), uniq)
            return Val(self.b.delta(n, len(uniq)), uniq)
        if isinstance(e, MatFn):
            mf = MATRIX_FUNCTIONS[e.fn]
            code = mf.code[self.b.spelling].format(e.arg.name)
            key = whole(e)
            if key in self.repeated:  # used more than once: computed once, into a temporary
                if key not in self.shared:
                    self.shared[key] = self.bind(Val(code, key.out), force=True)
                code = self.shared[key].code
            uniq = tuple(dict.fromkeys(e.out))
            if len(uniq) < len(e.out):  # inv(A)[i,i]: its diagonal
                return Val(self.b.einsum("aa->a", [code]), uniq)
            if mf.solve and key not in self.repeated:
                return Val(code, uniq, inverse_of=e.arg.name, solve=mf.solve[self.b.spelling])
            return Val(code, uniq)
        if isinstance(e, Call):
            raw = self.lower(e.args[0])
            arg = self.scalar(raw)
            if FUNCTIONS[e.fn].reuses_arg.get(self.b.spelling):
                arg = self.bind(arg)
            code = self.b.call(e.fn, arg.code, arg.atomic)
            if raw.number:
                code, number = self.b.number_result(code)
                return Val(code, arg.axes, number=number)
            return Val(code, arg.axes)
        if isinstance(e, Pow):
            return self.power(e)
        if isinstance(e, Mul):
            if len(e.factors) == 2 and self.repeated.pairs:  # a shared pair as written: its one key
                found = self.repeated.pair(list(e.factors))
                if found is not None and pair_node(*found, self.repeated.shape) != e:
                    return self.lower(pair_node(*found, self.repeated.shape))
            return self.product(list(e.factors))
        if isinstance(e, Add):
            return self.add(e)
        if isinstance(e, Sum):
            return self.summation(e)
        if isinstance(e, Max):
            v = self.lower(e.body)
            drop = [k for k, a in enumerate(v.axes) if a in e.indices]
            return Val(self.b.max(v.wrapped(), drop, len(v.axes)),
                       tuple(a for a in v.axes if a not in e.indices))
        raise AssertionError(f"cannot lower {type(e).__name__}")  # pragma: no cover

    def tensor(self, e: Tensor) -> Val:
        if len(set(e.indices)) == len(e.indices):
            return Val(e.name, e.indices)
        uniq = tuple(dict.fromkeys(e.indices))
        letters = {i: chr(97 + k) for k, i in enumerate(uniq)}
        spec = "".join(letters[i] for i in e.indices) + "->" + "".join(letters[i] for i in uniq)
        return Val(self.b.einsum(spec, [e.name]), uniq)

    def scalar(self, v: Val) -> Val:
        """A plain number made into an array scalar of the backend (for its functions)."""
        if not v.number:
            return v
        code = self.b.scalar(v.code)  # numpy leaves the code as it is: keep its precedence
        return Val(code, v.axes, v.prec if code == v.code else ATOM)

    def power(self, e: Pow) -> Val:
        if isinstance(e.base, Const) and isinstance(e.exp, Const) and e.base.value > 0:
            # a constant the simplifier left unfolded because it is huge: 9^387420489
            digits = math.log10(e.base.value.numerator / e.base.value.denominator) * float(e.exp.value)
            if abs(digits) > 307:
                raise RicciError(f"the constant {number_text(e.base.value)}^{number_text(e.exp.value)} "
                                 f"(about 1e{round(digits)}) is out of the range of float64, which the "
                                 f"generated code computes in",
                                 hint="rescale the program so that its constants lie between about "
                                      "1e-308 and 1e308")
        base = self.lower(e.base)
        if isinstance(e.exp, Const):
            x = e.exp.value
            number = base.number
            if x == -1:  # a number stays a Python number: `1.0 / x.shape[0]`
                return Val(f"1.0 / {base.wrapped(MUL)}", base.axes, MUL, number)
            if base.number:  # (an array scalar: a size's sqrt, or a power far beyond int64)
                base = self.scalar(base)
            if x == Fraction(1, 2):
                if number:
                    code, still = self.b.number_result(self.b.sqrt(base.code))
                    return Val(code, base.axes, number=still)
                return Val(self.b.sqrt(base.code), base.axes)
            if x == Fraction(-1, 2):
                if number:
                    code, still = self.b.number_result(self.b.sqrt(base.code))
                    return Val(f"1.0 / {code}", base.axes, MUL, still)
                return Val(f"1.0 / {self.b.sqrt(base.code)}", base.axes, MUL)
            xc = float_literal(x) if x.denominator != 1 else str(x.numerator)
            xc = xc if not xc.startswith("-") else f"({xc})"
            return Val(f"{base.wrapped()} ** {xc}", base.axes, POW)
        ex = self.lower(e.exp)
        target = self.order(_union([base.axes, ex.axes]))
        return Val(f"{self.align(base, target).wrapped()} ** {self.align(ex, target).wrapped()}",
                   target, POW, base.number and ex.number)

    def fused(self, factors: list[Expr]) -> tuple[list[Expr], list[Val]]:
        """Derivative products the backend has one kernel for (a function's ``backward``
        in the table): ``x * (1 - y^2)`` is ``tanh_backward(x, y)``, ``x * y * (1 - y)``
        ``sigmoid_backward(x, y)``, ``x * step(y)`` ``threshold_backward(x, y, 0)`` (torch:
        one pass instead of three, as autograd does). The factors of a function's derivative
        written with its value (its ``backward_pattern``) are the pattern, the value ``y``
        its one unknown. Returns the factors left and the fused values."""
        kernels = [(f.backward[self.b.spelling], f.backward_pattern) for f in FUNCTIONS.values()
                   if self.b.spelling in f.backward]
        if not kernels:
            return factors, []
        left = list(factors)
        out: list[Val] = []

        def take(f: Expr) -> None:
            left.remove(f)

        while True:
            found: tuple[str, Expr, list[Expr]] | None = None
            for f in left:
                for kernel, pattern in kernels:
                    hit = _kernel_match(f, pattern, left)
                    if hit:
                        found = (kernel, *hit)
                        break
                if found:
                    break
            if not found:
                return left, out
            kernel, y, used = found
            rest = [g for g in left if g not in used and not isinstance(g, Const)]
            xs = [g for g in rest if g.free == y.free]
            if not xs or y.free != frozenset().union(*(g.free for g in used)):
                return left, out
            x = xs[0]
            if not _has_tensor(x) or not _has_tensor(y):  # the kernels take tensors, not numbers
                return left, out
            for g in used + [x]:
                take(g)
            yv, xv = self.lower(y), self.lower(x)
            xv = self.align(xv, yv.axes)
            out.append(Val(kernel.format(xv.code, yv.code), yv.axes))

    def shared_pair(self, factors: list[Expr]) -> list[Expr]:
        """``factors`` with two of them that another product holds too
        (:attr:`~.repeats.Repeats.pairs`) as one factor, their product, which
        :meth:`lower` computes once for both (``t1 = g * dy``, then ``t1 / s`` and
        ``np.einsum('ab,ab->a', t1, xc)``). Unchanged when the two are all the factors
        (that product is the pair itself)."""
        if not self.repeated.pairs or len(factors) < 3:
            return factors
        found = self.repeated.pair(factors)
        if found is None:
            return factors
        a, b = found
        i = next(k for k, f in enumerate(factors) if f is a)
        j = next(k for k, f in enumerate(factors) if f is b and k != i)  # F[p] * F[p]: two places
        pair = pair_node(a, b, self.repeated.shape)
        return [pair if k == i else f for k, f in enumerate(factors) if k != j]

    def product(self, factors: list[Expr]) -> Val:
        coef = Fraction(1)
        nums: list[Val] = []
        dens: list[Val] = []
        factors, fused = self.fused(factors)
        nums.extend(fused)
        for f in self.shared_pair(factors):
            if isinstance(f, Mul):  # (-X) * A as the user wrote it: the sign is the product's
                c, f = split_coef(f)
                coef *= c
            if isinstance(f, Const):
                coef *= f.value
            elif isinstance(f, Pow) and isinstance(f.exp, Const) and f.exp.value == -1:
                dens.append(self.lower(f.base))
            else:
                nums.append(self.lower(f))
        target = self.order(_union([v.axes for v in nums + dens]))
        number = all(v.number for v in nums + dens)
        if abs(coef) != 1 or not nums:
            nums.insert(0, Val(float_literal(abs(coef)), (), number=True))
        negate = coef < 0 and not _signed_number(nums)
        if len(nums) == 1 and not dens:
            out = nums[0] if nums[0].number else self.align(nums[0], target)
        else:
            out = Val(self.times(nums, dens, target), target, MUL, number)
        if negate:
            return Val("-" + out.wrapped(UNARY), target, UNARY, number)
        return out

    def times(self, nums: list[Val], dens: list[Val], target: Axes) -> str:
        """Code of the product of ``nums`` over the product of ``dens``, broadcast to
        ``target``, ordered for Python's left-to-right evaluation: factors in order of
        rank (numbers, vectors, ...) while their axes together stay fewer than the
        target's, and divisors with axes under the same rule, come first and meet the
        full-size factors once (``c * u[:, None] / v[:, None] * X``: one full-size pass,
        not three); the others follow in their order. A divisor without axes (a size)
        joins a leading number (``2.0 / x.shape[0] * X``: one pass, not two), else it
        stays last: ``x.sum(axis=1) / x.shape[1]``."""
        full = set(target)
        seen: set[Index] = set()
        early_n: list[Val] = []
        early_d: list[Val] = []
        has_full = any(set(v.axes) == full for v in nums)
        lead = any(v.number and not v.axes for v in nums)  # a number leads: `2.0 / n * X`
        order = sorted([(len(v.axes), 0, k, v) for k, v in enumerate(nums)] +
                       [(len(d.axes), 1, k, d) for k, d in enumerate(dens)
                        if (d.axes and has_full) or (lead and not d.axes)],
                       key=lambda t: t[:3])
        for _, is_den, _, v in order:
            if seen | set(v.axes) != full:
                seen |= set(v.axes)
                (early_d if is_den else early_n).append(v)
        late_n = [v for v in nums if not any(v is w for w in early_n)]
        late_d = [d for d in dens if not any(d is w for w in early_d)]
        if early_d and not early_n:
            early_n = [Val("1.0", (), number=True)]

        # operands of * and / are parenthesised unless they are powers or atoms: Python
        # reads `x * A @ B` as `(x * A) @ B`; the first may be a negation (`-2.0 * x`)
        ops = [(" * ", v) for v in early_n] + [(" / ", v) for v in early_d] + \
              [(" * ", v) for v in late_n] + [(" / ", v) for v in late_d]
        return "".join((op if k else "") + self.align(v, target).wrapped(UNARY if k else MUL)
                       for k, (op, v) in enumerate(ops))

    def add(self, e: Add) -> Val:
        vals = [(neg, self.lower(t)) for neg, t in signed_terms(e.terms)]
        vals = positive_first(vals)
        target = self.order(_union([v.axes for _, v in vals]))
        number = all(v.number for _, v in vals)
        aligned = [(neg, self.align(v, target)) for neg, v in vals]
        folded = self.products_into_sum(aligned, target)
        if folded is not None:
            return folded
        return Val(signed_sum(aligned), target, ADD, number)

    def products_into_sum(self, terms: list[tuple[bool, Val]], target: Axes) -> Val | None:
        """A sum of matrices with matrix products among its ``terms`` (aligned to
        ``target``) as the backend's fused multiply-add (:func:`fold_products`)."""
        if len(target) != 2:
            return None
        code = fold_products(self.b.addmm, terms, self.in_place)
        return None if code is None else Val(code, target)

    # -- summation
    def summation(self, e: Sum) -> Val:
        body = e.body
        factors = self.shared_pair(list(body.factors)) if isinstance(body, Mul) else [body]
        coef = Fraction(1)
        scalars: list[Val] = []
        operands: list[Val] = []
        for f in factors:
            if isinstance(f, Mul):  # sum[k]((-X[i,k]) * A[k,j]): -(X @ A), not (-X) @ A
                c, f = split_coef(f)
                coef *= c
            if isinstance(f, Const):
                coef *= f.value
                continue
            if self.b.einsum_reduces and isinstance(f, Pow) and isinstance(f.exp, Const) and f.exp.value == 2 \
                    and f.base.free & set(e.indices):
                # sum[d](xc[n,d]^2): np.einsum('ab,ab->a', xc, xc), one pass and no array of
                # squares (the base is summed over, so both factors stay in the contraction)
                base = self.bind(self.lower(f.base))
                operands += [base, base]
                continue
            v = self.lower(f)
            if not v.axes:
                scalars.append(v)
            else:
                operands.append(v)
        summed = [k for k in e.indices]
        # factors free of the summed indices multiply the sum instead of every summand
        outside = [v for v in operands if not set(v.axes) & set(summed)]
        operands = [v for v in operands if v not in outside] or outside[:1]
        outside = [v for v in outside if v not in operands]
        keep = tuple(i for i in _union([v.axes for v in operands]) if i not in summed)
        missing = [k for k in summed if not any(k in v.axes for v in operands)]
        extra = scalars + [Val(self.size_code(k.dim), (), number=True) for k in missing]
        if abs(coef) != 1:
            extra.insert(0, Val(float_literal(abs(coef)), (), number=True))
        computed = [k for k, v in enumerate(operands) if not v.code.isidentifier() and v.inverse_of is None]
        if extra and computed and self.b.fuses:
            # a fusing compiler scales an operand it computes anyway in the same loop; the
            # result scaled would be one more pass over it
            k = max(computed, key=lambda k: len(operands[k].axes))
            v = operands[k]
            operands[k] = Val(" * ".join([x.wrapped(UNARY) for x in extra] + [v.wrapped(UNARY)]), v.axes, MUL)
            extra = []
        result = self.contract(operands, keep) if operands else Val("1.0", ())
        number = not operands and all(s.number for s in scalars)
        negate = coef < 0
        if outside or extra:
            negate = negate and not _signed_number(extra)
            target = self.order(_union([result.axes] + [v.axes for v in outside]))
            out = Val(self.times(extra + [result] + outside, [], target), target, MUL, number)
        else:
            out = Val(result.code, result.axes, result.prec, number, matmul=result.matmul)
        if negate:
            return Val("-" + out.wrapped(UNARY), out.axes, UNARY, number)
        return out

    def contract(self, operands: list[Val], keep: Axes) -> Val:
        if len(operands) == 1:
            return self.reduce(operands[0], keep)
        ops = [self.bind(v) for v in operands]
        gram = self.gram(ops, keep)
        if gram is not None:
            return gram
        return contract_pairwise(ops, keep, lambda a: self.size_hint(a.dim), 4, self.reduce,
                                 self.binary, self.bind)

    def gram(self, ops: list[Val], keep: Axes) -> Val | None:
        """``A[c,i] * w[c] * A[c,j]`` summed over c (a weighted Gram matrix such as
        logistic regression's Hessian ``X.T @ diag(w) @ X``) as the backend's ``gram(A, w)``
        where it has one: the result is symmetric, so it costs half a matrix product."""
        spell = getattr(self.b, "gram", None)
        if spell is None or len(ops) < 3 or len(keep) != 2:
            return None
        ws = [v for v in ops if len(v.axes) == 1]
        ms = [v for v in ops if len(v.axes) == 2]
        if len(ws) + 2 != len(ops) or len(ms) != 2 or ms[0].code != ms[1].code \
                or len({v.axes for v in ws}) != 1:
            return None
        (c,), (a, b) = ws[0].axes, ms
        if c in keep or c not in a.axes or c not in b.axes or a.axes.index(c) != b.axes.index(c):
            return None
        pos = a.axes.index(c)
        if {a.axes[1 - pos], b.axes[1 - pos]} != set(keep):
            return None
        w = ws[0] if len(ws) == 1 else self.bind(Val(" * ".join(v.wrapped(MUL) for v in ws), (c,), MUL))
        mat = a.code if pos == 0 else self.b.permute(a.code, (1, 0))
        return Val(spell(mat, w.code), keep, ATOM)

    def solve(self, inv: Val, y: Val, c: Index) -> Val | None:
        """``inv(A)[r,c] * y[c,...]`` as ``solve(A, y)`` (``solve(A.T, y)`` when ``c`` is the
        inverse's row): the inverse is never formed."""
        if inv.inverse_of is None or len(inv.axes) != 2 or not 1 <= len(y.axes) <= 2:
            return None
        r = inv.axes[0] if inv.axes[1] == c else inv.axes[1]
        a = inv.inverse_of if inv.axes[1] == c else self.b.permute(inv.inverse_of, [1, 0])
        rest = tuple(x for x in y.axes if x != c)
        yy = self.align(y, (c,) + rest) if y.axes[0] != c else y
        return Val(inv.solve.format(a, yy.code), (r,) + rest)

    def reduce(self, v: Val, keep: Axes) -> Val:
        drop = [k for k, a in enumerate(v.axes) if a not in keep]
        if not drop:
            return v
        return Val(self.b.sum(v.wrapped(), drop, len(v.axes)),
                   tuple(a for a in v.axes if a in keep))

    def _in_order(self, axes: Sequence[Index]) -> bool:
        pos = [self.want.index(x) for x in axes if x in self.want]
        return pos == sorted(pos)

    def binary(self, a: Val, b: Val, keep: set[Index]) -> Val:
        a = self.reduce(a, tuple(x for x in a.axes if x in keep or x in b.axes))
        b = self.reduce(b, tuple(x for x in b.axes if x in keep or x in a.axes))
        A, B = a.axes, b.axes
        batch, con, a_only, b_only = split_axes(A, B, keep)
        if not batch and len(con) == 1:
            solved = self.solve(a, b, con[0]) or self.solve(b, a, con[0])
            if solved is not None:
                return solved
        if con and self._in_order(b_only + a_only) and not self._in_order(a_only + b_only):
            return self.binary(b, a, keep)
        if not con:
            # the larger operand's own axis order: no transposed copy of it (the caller
            # aligns the result once, at the end)
            target = tuple(A) + tuple(b_only) if len(A) >= len(B) else tuple(B) + tuple(a_only)
            aa, bb = self.align(a, target), self.align(b, target)
            return Val(f"{aa.wrapped(UNARY)} * {bb.wrapped(UNARY)}", target, MUL)
        if not batch and len(con) == 1 and len(a_only) <= 1 and len(b_only) <= 1:
            (c,) = con
            ac = a.wrapped()
            if len(A) == 2 and A[0] == c:
                ac = self.b.lhs_transposed(f"{ac}.T")
            bc = b.wrapped()
            if len(B) == 2 and B[1] == c:
                bc = f"{bc}.T"
            return Val(f"{ac} @ {bc}", tuple(a_only) + tuple(b_only), MUL,
                       matmul=(ac, bc) if len(A) == 2 and len(B) == 2 else None)
        if not batch:
            code = self.b.tensordot(a.code, b.code, [A.index(x) for x in con], [B.index(x) for x in con])
            return Val(code, tuple(a_only) + tuple(b_only))
        if len(con) == 1 and len(a_only) == 1 and len(b_only) == 1:
            aa = self.align(a, tuple(batch) + tuple(a_only) + tuple(con))
            bb = self.align(b, tuple(batch) + tuple(con) + tuple(b_only))
            # batched: XLA's float64 path for a transposed left operand is not the slow one
            # of a 2-D product (attention's dV and dK: 0.94-0.97 of the copied transpose)
            return Val(f"{aa.wrapped()} @ {bb.wrapped()}", tuple(batch) + tuple(a_only) + tuple(b_only), MUL)
        if not self.b.einsum_reduces and (set(A) <= set(B) or set(B) <= set(A)):
            # (a * b).sum(dim=0): torch's einsum for 'ab,ab->b' goes through a slow batched
            # matrix product; an elementwise product and a sum is one fast pass each
            big, small = (a, b) if len(A) >= len(B) else (b, a)
            prod = Val(f"{big.wrapped(UNARY)} * {self.align(small, big.axes).wrapped(UNARY)}", big.axes, MUL)
            return self.reduce(prod, tuple(x for x in big.axes if x in keep))
        letters: dict[Index, str] = {}
        for x in list(A) + list(B):
            letters.setdefault(x, oe.get_symbol(len(letters)))
        out = tuple(batch) + tuple(a_only) + tuple(b_only)
        spec = ("".join(letters[x] for x in A) + "," + "".join(letters[x] for x in B) + "->" +
                "".join(letters[x] for x in out))
        return Val(self.b.einsum(spec, [a.code, b.code]), out)


def fold_products(addmm: Callable[..., str] | None, terms: Sequence[tuple[bool, Val]],
                  in_place: bool) -> str | None:
    """The code of a sum of (negated, value) ``terms`` of one matrix shape, with the
    matrix products among them folded into a fused multiply-add where the backend has one
    (``addmm``, spelled by :meth:`~.backends.TorchBackend.addmm`): ``x @ W + s @ U + b`` as
    ``torch.addmm(b, x, W).addmm_(s, U)``, each product written into the result, no pass
    to add the rest (``in_place=False``: ``torch.addmm(torch.addmm(b, x, W), s, U)``).
    ``None`` when there is nothing to fold."""
    if addmm is None:
        return None
    products = [(neg, v.matmul) for neg, v in positive_first(list(terms)) if v.matmul is not None]
    rest = [(neg, v) for neg, v in terms if v.matmul is None]
    if not products or len(terms) < 2 or any(v.number for _, v in rest):
        return None
    if rest:
        code, fresh = signed_sum(rest), False
    else:  # the first product starts the sum: a fresh array the others add into
        neg, (a, b) = products.pop(0)
        code, fresh = (f"(-({a} @ {b}))" if neg else f"({a} @ {b})"), True
    for neg, (a, b) in products:
        code = addmm(code, a, b, neg, in_place=fresh and in_place)
        fresh = True
    return code


def _signed_term(t: Expr) -> tuple[Fraction, Expr]:
    """``t = c * rest`` (:func:`~ricci.simplify.coefficients.split_coef`), with the
    coefficients of products inside a product (``(-X[i,k]) * A[k,j]`` as written) taken out
    too: the term of a sum is subtracted, never negated in a pass of its own."""
    body = t.body if isinstance(t, Sum) else t
    if isinstance(body, Mul) and any(isinstance(f, Mul) for f in body.factors):
        coef, factors = Fraction(1), []
        for f in body.factors:
            if isinstance(f, Mul):
                c, f = split_coef(f)
                coef *= c
            if isinstance(f, Const):  # (-4) * X as written: Mul(Mul(-1, 4), X)
                coef *= f.value
            else:
                factors.append(f)
        rest: Expr = ONE if not factors else factors[0] if len(factors) == 1 else Mul(tuple(factors))
        if coef != 1:
            return coef, Sum(t.indices, rest) if isinstance(t, Sum) else rest
    return split_coef(t)


def signed_terms(terms: Sequence[Expr]) -> list[tuple[bool, Expr]]:
    """The terms of a sum as (subtracted, term): ``a - b``, not ``a + -b``; the coefficient
    is found also inside a sum or a product as written (:func:`_signed_term`). With no
    positive term, one with a coefficient other than -1 keeps its sign, for its product to
    put on that number: ``-4.0 / n * X - Y``, not ``-(4.0 / n * X) - Y`` (a pass less)."""
    split = [_signed_term(t) for t in terms]
    keeper = next((k for k, (c, _) in enumerate(split) if abs(c) != 1), None) \
        if all(c < 0 for c, _ in split) else None
    out = []
    for k, (t, (c, rest)) in enumerate(zip(terms, split)):
        negated = c < 0 and k != keeper
        out.append((negated, with_coef(-c, rest) if negated else t))
    return out


def _signed_number(factors: list[Val]) -> bool:
    """Negate the first number among ``factors`` (in place) and say whether there was one: a
    product with a number in it takes its sign there (``-2.0 * X``), not in a pass over the
    array it makes (``-(2.0 * X)``). The factors are ordered numbers first
    (:meth:`Lowerer.times`), so the sign is on a number Python computes before the arrays."""
    k = next((k for k, v in enumerate(factors) if v.number and not v.axes), None)
    if k is None:
        return False
    factors[k] = Val("-" + factors[k].wrapped(UNARY), (), UNARY, number=True)
    return True


def _has_tensor(e: Expr) -> bool:
    """``e`` reads an array (its lowered value is no plain Python number)."""
    return any(isinstance(n, (Tensor, MatFn, Delta)) for n in walk(e))


def _kernel_match(f: Expr, pattern: tuple[Expr, ...], left: list[Expr]) -> tuple[Expr, list[Expr]] | None:
    """``(y, used)`` when ``f`` is the first factor of ``pattern`` that is not the value
    itself (with ``VALUE`` = ``y``) and the pattern's other factors, with ``y`` for
    ``VALUE``, are in ``left``; ``used`` is ``f`` and those factors."""
    anchor = next((p for p in pattern if p != VALUE), None)
    bound: list[Expr] = []
    if anchor is None or not _match(anchor, f, bound) or not bound:
        return None
    y = bound[0]
    others = [map_bottom_up(p, lambda n: y if n == VALUE else n) for p in pattern if p is not anchor]
    if not all(o in left for o in others):
        return None
    return y, [f, *others]


def _match(p: Expr, e: Expr, bound: list[Expr]) -> bool:
    """``e`` is ``p`` with one expression (the same everywhere, put in ``bound``) for ``VALUE``."""
    if p == VALUE:
        if bound:
            return bound[0] == e
        bound.append(e)
        return True
    if isinstance(p, (Call, Pow, Mul, Add)):
        if type(e) is not type(p) or len(e.children) != len(p.children) or \
                (isinstance(p, Call) and isinstance(e, Call) and p.fn != e.fn):
            return False
        return all(_match(a, b, bound) for a, b in zip(p.children, e.children))
    return p == e


def _union(axes_list: Sequence[Axes]) -> Axes:
    """The union of several axis tuples: the longest first, then new axes as they appear."""
    ordered = sorted(range(len(axes_list)), key=lambda k: -len(axes_list[k]))
    out: list[Index] = []
    for k in ordered:
        for a in axes_list[k]:
            if a not in out:
                out.append(a)
    return tuple(out)
