"""Numerical proof of a step-by-step derivation: both sides of every step, at random inputs.

Unevaluated derivatives (``Deriv`` nodes) are evaluated with torch autograd on ricci's
reference interpreter (the Jacobian of the numerator with respect to the denominator's
tensor, everything else held fixed), so a step's claim is checked independently of the
rules that produced it. Matrix-form steps are evaluated as NumPy code.
"""

from __future__ import annotations

import numpy as np
import torch
from torch.autograd.functional import jacobian

from ricci.codegen.binding import all_dims
from ricci.ir.expr import Deriv, Expr, Index, Tensor, Transposed
from ricci.ir.indices import rename_bound, substitute
from ricci.ir.program import Program, Statement
from ricci.ir.traversal import index_occurrences, map_bottom_up
from ricci.verify.check import declared_array
from ricci.verify.evaluate import evaluate

from support.matrix_check import _py_env


class StepChecker:
    def __init__(self, d, seed: int = 0) -> None:
        self.d = d
        rng = np.random.default_rng(seed)
        # a second derivative: the gradient, then its derivative
        parts = [d.second.gradient, d.second.jacobian] if d.second else []
        progs = [d.forward, d.program, d.source_program] + [q for pt in parts for q in (pt.forward, pt.program)]
        self.dims: dict[str, tuple[str, ...]] = {}
        for p in progs:
            self.dims.update(p.dims)
        labels = list(dict.fromkeys(lab for p in progs for lab in all_dims(p)))
        self.size = {lab: 2 + k % 3 for k, lab in enumerate(labels)}
        self.defs = {s.name: s for p in (d.forward, d.program) for s in p.statements}
        #: definitions a Deriv's numerator is expanded by: the forward statements, and for a
        #: second derivative the gradient's statements too
        self.forward_defs = {s.name: s for p in [d.forward] + [pt.forward for pt in parts]
                             for s in p.statements}
        inputs = {}
        for name in d.inputs:
            shape = tuple(self.size[x] for x in self.dims[name])
            inputs[name] = rng.uniform(0.5, 1.5, size=shape)  # positive: logs, sqrt and 1/x are safe
            fact = d.program.declared.get(name) or d.source_program.declared.get(name)
            if fact is not None:  # the results assume the declared fact
                inputs[name] = declared_array(rng, shape, fact, positive=True)
        self.env = dict(inputs)
        self.env.update(evaluate(d.forward, {k: inputs[k] for k in d.forward.inputs}, dim_sizes=self.size))
        for pt in parts:
            self.env.update(evaluate(pt.program, {k: self.env[k] for k in pt.program.inputs},
                                     dim_sizes=self.size))
        self.env.update(evaluate(d.program, {k: inputs[k] for k in d.program.inputs}, dim_sizes=self.size))
        # adjoints substituted into their uses (dp of a logistic regression) are not in the
        # program, but the steps still derive them: evaluate them from the replay
        done = set(d.program.defined)
        for st in d.reverse.replay:
            if st.name not in done:
                self.env[st.name] = self.evaluate(st.rhs, st.indices, {}, self.dims)
        self.fresh = 0

    def _size(self, i: Index) -> int:
        return self.size.setdefault(i.dim, 3)

    def value(self, e: Expr, out: tuple[Index, ...]) -> np.ndarray:
        """``e`` as an array with axes ``out``; Deriv nodes by autograd."""
        extra: dict[str, np.ndarray] = {}
        dims = dict(self.dims)

        def fn(n: Expr) -> Expr:
            if isinstance(n, Transposed):
                return n.plain
            if isinstance(n, Deriv):
                name = f"__D{self.fresh}"
                self.fresh += 1
                nf = tuple(sorted(n.num.free))
                extra[name] = self.jacobian(n.num, nf, n.wrt)
                dims[name] = tuple(i.dim for i in nf + n.wrt.indices)
                return Tensor(name, nf + n.wrt.indices)
            return n

        e2 = map_bottom_up(e, fn)
        return self.evaluate(e2, out, extra, dims)

    def evaluate(self, e: Expr, out, extra, dims, lib: str = "numpy", env=None):
        for i in list(out) + list(index_occurrences(e)):
            self._size(i)
        st = Statement("__v", out, e)
        prog = Program([st], {**dims, "__v": tuple(i.dim for i in out)})
        env = {**(env if env is not None else self.env), **extra}
        with np.errstate(all="ignore"):
            return evaluate(prog, {k: env[k] for k in prog.inputs}, lib=lib, dim_sizes=self.size)["__v"]

    def expand(self, num: Expr, wrt: str) -> Expr:
        """A lone intermediate ``y[i,j]`` replaced by its definition: ``dy/dx`` in a chain
        rule is the partial derivative through the statement that defines y."""
        if isinstance(num, Tensor) and num.name != wrt and num.name in self.forward_defs:
            st = self.forward_defs[num.name]
            rhs = rename_bound(st.rhs, {i.name for i in num.indices})
            return substitute(rhs, dict(zip(st.indices, num.indices)))
        return num

    def jacobian(self, num: Expr, nf: tuple[Index, ...], wrt: Tensor) -> np.ndarray:
        num = self.expand(num, wrt.name)
        x0 = torch.tensor(self.env[wrt.name], dtype=torch.float64)
        tenv = {k: torch.tensor(np.asarray(v, dtype=float), dtype=torch.float64) for k, v in self.env.items()}

        def f(x):  # the Jacobian w.r.t. the whole array: its axes are the denominator's
            return self.evaluate(num, nf, {}, self.dims, lib="torch", env={**tenv, wrt.name: x})

        jac = jacobian(f, x0).detach().numpy()
        return jac.reshape(tuple(self._size(i) for i in nf) + tuple(self._size(i) for i in wrt.indices))

    def check(self, steps, tol: float = 1e-8) -> int:
        """Assert every step's equation; returns how many were checked."""
        from ricci.display.steps_print import lhs_indices

        # a second derivative's steps show matrix lines of its parts too
        sec = self.d.second
        views = [self.d.matrix()] + ([sec.gradient.matrix(), sec.jacobian.matrix()] if sec else [])
        n = 0
        for k, st in enumerate(steps, 1):
            out = lhs_indices(st.lhs)
            left = self.value(st.lhs, out)
            if st.matrix is not None:
                # a helper or another line of the view printed for a matrix form, and einsum
                # forms, are proven as printed by support.strict_steps
                if st.matrix.node is None or st.matrix.helper or st.einsum \
                        or st.matrix.name != getattr(st.lhs, "name", None):
                    continue
                view = next(v for v in views if any(ln is st.matrix for ln in v.lines))
                right = self.matrix_value(st.matrix, view)
                # a matrix form has exactly the shape of what it equals: no broadcasting
                assert np.shape(right) == np.shape(left), \
                    f"step {k} ({st.rule}) of {st.section}: shape {np.shape(right)}, not {np.shape(left)}"
            else:
                right = self.value(st.rhs, out)
            self.assert_close(left, right, tol, lambda: f"step {k} ({st.rule}) of {st.section}:\n{steps}")  # noqa: B023
            if st.aside is not None:
                a, b = st.aside
                ao = lhs_indices(a)
                self.assert_close(self.value(a, ao), self.value(b, ao), tol, lambda: f"aside of step {k}")  # noqa: B023
            n += 1
        return n

    def matrix_value(self, ln, view) -> np.ndarray:
        env = dict(self.env)
        st = ln.statement
        sizes = {i.name: self._size(i) for i in list(st.indices) + list(index_occurrences(st.rhs))}
        for h in view.lines:
            if h.helper and h.statement.name == st.name:
                env[h.name] = eval(view.code(h), view.namespace(sizes), _py_env(env))
        with np.errstate(all="ignore"):
            return eval(view.code(ln), view.namespace(sizes), _py_env(env))

    @staticmethod
    def assert_close(a, b, tol, msg):
        """``msg()`` builds the message, only on a failure (printing steps is not free)."""
        a = np.asarray(a, dtype=float)
        b = np.broadcast_to(np.asarray(b, dtype=float), a.shape)
        scale = max(1.0, float(np.max(np.abs(a))) if a.size else 1.0)
        err = float(np.max(np.abs(a - b))) if a.size else 0.0
        assert err <= tol * scale, f"{msg()}\nerror {err:.3e}"


def check_steps(d, steps=None, seed: int = 0) -> int:
    return StepChecker(d, seed).check(steps if steps is not None else d.steps())
