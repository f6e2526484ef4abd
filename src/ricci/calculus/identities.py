"""Identities that need the program: what a statement defines, used where it is read.

The simplifier sees one expression at a time; these rewrites need to know which
statement defines a tensor. :func:`forward_identities` applies them to a program about to
be differentiated (:func:`~.prepare.prepared`), :func:`derived_identities` to derived
statements (:func:`~.prepare.reuse_forward`, through which every mode passes them), with
the forward program's definitions. Each is an identity wherever the program is defined:

* **An inverse of a defined inverse.** With ``Z[i,j] = inv(X)[i,j]`` in the program,
  ``inv(Z)[a,b]`` is ``X[a,b]``, ``det(Z)`` is ``1 / det(X)`` and ``logdet(Z)`` is
  ``-logdet(X)`` (``Z`` exists only where ``X`` is invertible; ``det(Z) > 0``, which
  ``logdet(Z)`` needs, exactly when ``det(X) > 0``): each matrix function's
  ``of_inverse`` in the table (:mod:`ricci.primitives.functions`). The statement defining ``Z`` must
  write ``inv(X)`` with its own indices in order (``Z[j,i] = inv(X)[i,j]`` is its
  transpose, left alone).
* **Centred sums.** With a *mean* ``mu[d] = sum[n](x[n,d]) / size(n)`` (a statement whose
  simplified right-hand side is a sum divided by the size of a summed index), a right-hand
  side that reads ``mu`` (or a statement that reads it, such as ``xc[n,d] = x[n,d] -
  mu[d]``) is tried with those definitions substituted: ``sum[n](x[n,d] - mu[d])`` becomes
  ``sum[n](x[n,d]) - sum[n](x[n,d])``, which the simplifier collects to 0. The substituted
  form is kept only when, simplified, it has fewer nodes than the right-hand side
  simplified (substituting a definition is always sound: only the size test decides).

Nothing else changes: a statement is replaced only where a rewrite applies, so the
statements a user wrote stay as written otherwise. Terminates: each pass is one walk over
each statement (no rewrite introduces a reference the pass rewrites again: ``X`` is not
defined by an inverse of ``Z``, as ``Z`` is defined after ``X``).
"""

from __future__ import annotations

from collections.abc import Container, Sequence

from ..ir.expr import Add, Const, Expr, Index, MatFn, Mul, Pow, Size, Sum, Tensor, operand
from ..ir.indices import fresh_name, substitute, successors
from ..ir.program import Program, Statement
from ..ir.traversal import contains, index_names, map_bottom_up, tensor_refs, walk
from ..primitives.functions import INVERSE, MATRIX_FUNCTIONS
from ..simplify.factor import expand
from ..simplify.rewrite import simplify

__all__ = ["derived_identities", "forward_identities", "has_identities"]


def _inverses(prog: Program) -> dict[str, str]:
    """``{Z: X}`` for each statement ``Z[i,j] = inv(X)[i,j]``."""
    out: dict[str, str] = {}
    for s in prog.statements:
        r = s.rhs
        if isinstance(r, MatFn) and r.fn == INVERSE and r.out == s.indices and len(set(s.indices)) == 2:
            out[s.name] = r.arg.name
    return out


def _mean_dims(s: Statement) -> set[str]:
    """The dims ``s`` averages over, if it is a mean: a sum over indices divided by the
    size of one of them (``sum[n](x[n,d]) / size(n)``, in the simplifier's normal form
    ``sum[n](x[n,d] / size(n))``); else nothing."""
    if len(set(s.indices)) != len(s.indices) or not contains(s.rhs, Size) or not contains(s.rhs, Sum):
        return set()
    r = simplify(s.rhs)
    if not isinstance(r, Sum):
        return set()
    fs = r.body.factors if isinstance(r.body, Mul) else (r.body,)
    dims = {k.dim for k in r.indices}
    if any(isinstance(f, Pow) and isinstance(f.base, Size) and f.base.index.dim in dims
           and isinstance(f.exp, Const) and f.exp.value < 0 for f in fs):
        return dims
    return set()


class _Facts:
    """What the identities need to know of a program's statements."""

    def __init__(self, prog: Program) -> None:
        self.defined = prog.defined
        #: {Z: X} for each Z[i,j] = inv(X)[i,j]
        self.inverses: dict[str, str] = {}
        #: mean -> the dims it averages over
        self.mean_dims: dict[str, set[str]] = {}
        #: a statement that reads means (xc[n,d] = x[n,d] - mu[n]) -> their dims; it is
        #: substituted with them
        self.centred_dims: dict[str, set[str]] = {}
        #: the statements substituted by the last centred_sums
        self.used: set[str] = set()
        #: derived statements that read a centred one (dxc[n,d] = ... * xc[n,d] + ...),
        #: substituted like it where they are summed over its dims (derived_identities)
        self.derived: dict[str, Statement] = {}
        # (a program without matrix functions or sizes has nothing to look for: O(1) a statement)
        if any(contains(st.rhs, MatFn) or contains(st.rhs, Size) for st in prog.statements):
            self.inverses = _inverses(prog)
            self.mean_dims = {s.name: d for s in prog.statements if (d := _mean_dims(s))}
            for s in prog.statements:
                if s.name in self.mean_dims or len(set(s.indices)) != len(s.indices) or isinstance(s.rhs, MatFn):
                    continue
                read = [self.mean_dims[r.name] for r in tensor_refs(s.rhs) if r.name in self.mean_dims]
                if read:
                    self.centred_dims[s.name] = set().union(*read)
        self.means = set(self.mean_dims)
        self.centred = set(self.centred_dims)

    def _inverse_of_inverse(self, n: Expr) -> Expr:
        if isinstance(n, MatFn) and n.arg.name in self.inverses:
            rewrite = MATRIX_FUNCTIONS[n.fn].of_inverse
            if rewrite is not None:
                return rewrite(n, operand(self.inverses[n.arg.name], n.arg.indices[0].dim))
        return n

    def inverse_identities(self, e: Expr) -> Expr:
        if not self.inverses or not any(isinstance(n, MatFn) and n.arg.name in self.inverses
                                        for n in walk(e)):
            return e
        return map_bottom_up(e, self._inverse_of_inverse)

    def _expand(self, t: Tensor) -> Expr:
        s = self.derived.get(t.name) or self.defined[t.name]
        self.used.add(t.name)
        body = s.rhs
        if t.name in self.centred:  # the means and centred statements it reads linearly too
            body = self._linear(body)
        return substitute(body, dict(zip(s.indices, t.indices)))

    def _linear(self, e: Expr) -> Expr:
        """``e`` with the means and centred statements that are factors of its terms
        substituted (not those inside a function or a power: ``sqrt(var[n] + eps)`` stays)."""
        names = self.means | self.centred
        if isinstance(e, Add):
            return Add([self._linear(t) for t in e.terms])
        if isinstance(e, Sum):
            return Sum(e.indices, self._linear(e.body))
        if isinstance(e, Mul):
            return Mul([self._expand(f) if isinstance(f, Tensor) and f.name in names else
                        self._linear(f) if isinstance(f, (Add, Sum)) else f for f in e.factors])
        if isinstance(e, Tensor) and e.name in names:
            return self._expand(e)
        return e

    def add_derived(self, s: Statement) -> None:
        """Derived statement ``s`` is substituted like a centred statement if it is a sum
        of terms reading one (linearly)."""
        if not isinstance(s.rhs, Add) or len(set(s.indices)) != len(s.indices) or s.name in self.defined:
            return
        dims = [self.centred_dims[r.name] for r in tensor_refs(s.rhs) if r.name in self.centred_dims]
        if dims:
            self.derived[s.name] = s
            self.centred_dims[s.name] = set().union(*dims)
            self.centred.add(s.name)

    def centred_sums(self, e: Expr, derived: bool = False) -> Expr:
        """``e`` with the means (and the statements reading them) substituted in the terms
        that may cancel (a term that reads one and holds a size factor, ``size(n) *
        mu[d]``, or is a sum, ``sum[n](xc[n,d])``), if that makes it smaller once
        simplified; else ``e``."""
        names = self.means | self.centred
        if not names or not any(r.name in names for r in tensor_refs(e)):
            return e
        base = simplify(e)
        self.used = set()
        if isinstance(base, Add):
            cand = map_bottom_up(base, self._expand_terms)
        else:  # one term
            cand = self._linear(base) if self._may_cancel(base) else base
        if cand == base:
            return e
        rep: dict[str, Size] = {}
        cand = simplify(_one_size_per_dim(cand, base, rep))
        cand = simplify(_one_size_per_dim(cand, base, rep))  # (the sizes the simplifier wrote)
        spread = expand(cand, budget=8 * cand.nodes + 40)  # a product over the centred terms
        if spread is not None:
            spread = simplify(_one_size_per_dim(simplify(spread), base, rep))
            spread = simplify(_one_size_per_dim(spread, base, rep))
            if spread.nodes < cand.nodes:
                cand = spread
        if cand.nodes < base.nodes:
            return cand
        # a derived statement: also kept where the centred terms cancelled (no mean, centred
        # statement or averaged tensor is read any more), even if it is not smaller
        gone = self.used | {r.name for m in self.used & self.means for r in tensor_refs(self.defined[m].rhs)}
        if derived and not any(r.name in gone for r in tensor_refs(cand)):
            return cand
        return e

    def _expand_terms(self, n: Expr) -> Expr:
        if not isinstance(n, Add):
            return n
        terms = [self._linear(t) if self._may_cancel(t) else t
                 for t in n.terms]
        return n if all(a is b for a, b in zip(terms, n.terms)) else Add(terms)


    def _may_cancel(self, t: Expr) -> bool:
        """Does term ``t`` hold a mean times the size of a dim it averages over
        (``size(n) * mu[d]``), or sum a statement reading means over such a dim
        (``sum[d](xc[n,d])``)?"""
        body, bound = (t.body, {k.dim for k in t.indices}) if isinstance(t, Sum) else (t, set())
        fs = body.factors if isinstance(body, Mul) else (body,)
        sizes = {f.index.dim for f in fs if isinstance(f, Size)}
        sizes |= {f.base.index.dim for f in fs if isinstance(f, Pow) and isinstance(f.base, Size)}
        for f in fs:
            if isinstance(f, Tensor):
                if f.name in self.mean_dims and self.mean_dims[f.name] & sizes:
                    return True
                if f.name in self.centred_dims and self.centred_dims[f.name] & bound:
                    return True
        return False


def _one_size_per_dim(e: Expr, original: Expr, rep: dict[str, Size]) -> Expr:
    """``e`` with every ``size(k)`` of one dim written with one index, the same in every
    scope: a size is a number of its dim, whatever the index's name, so ``size(n) /
    size(p)`` of one dim is seen to be 1. The index is a free index of ``original`` of that
    dim, else a name ``e`` and ``original`` do not use (never a summed index, whose
    renaming would rename the size with it). ``rep`` keeps the choice across calls."""
    free = {i.dim: i for i in sorted(original.free)}
    used: set[str] | None = None
    for n in walk(e):
        if isinstance(n, Size) and n.index.dim not in rep:
            d = n.index.dim
            if d in free:
                rep[d] = Size(free[d])
            else:
                if used is None:
                    used = index_names(e) | index_names(original) | {r.index.name for r in rep.values()}
                name = fresh_name(used, successors(n.index.name))
                used.add(name)
                rep[d] = Size(Index(name, d))
    return map_bottom_up(e, lambda n: rep[n.index.dim] if isinstance(n, Size) else n)


def _apply(facts: _Facts, stmts: Sequence[Statement], skip: Container[str] = (),
           derived: bool = False) -> list[Statement]:
    out = []
    for s in stmts:
        rhs = s.rhs
        if s.name not in skip:
            rhs = facts.centred_sums(facts.inverse_identities(rhs), derived)
        s = s if rhs is s.rhs else s.replace(rhs)
        if derived and facts.means:
            facts.add_derived(s)
        out.append(s)
    return out


def forward_identities(prog: Program) -> Program:
    """``prog`` with the identities applied to its statements (``prog`` itself when none
    applies). The definitions of means and inverses are kept as written."""
    facts = _Facts(prog)
    if not facts.inverses and not facts.means:
        return prog
    stmts = _apply(facts, prog.statements, skip=facts.means)
    if all(a is b for a, b in zip(stmts, prog.statements)):
        return prog
    return Program(stmts, prog.dims, dim_names=prog.dim_names, source=prog.text)


def has_identities(prog: Program) -> bool:
    """Can :func:`derived_identities` change anything for ``prog`` (has it inverses or
    means)? Asked once per program by a caller applying them to many statements."""
    facts = _Facts(prog)
    return bool(facts.inverses or facts.means)


def derived_identities(prog: Program, stmts: Sequence[Statement]) -> list[Statement]:
    """Derived statements ``stmts`` with the identities of ``prog``'s definitions applied."""
    facts = _Facts(prog)
    if not facts.inverses and not facts.means:
        return list(stmts)
    return _apply(facts, stmts, derived=True)
