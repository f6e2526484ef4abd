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

from ..ir.expr import Const, Expr, MatFn, Mul, Pow, Size, Sum, Tensor, operand
from ..ir.indices import substitute
from ..ir.program import Program, Statement
from ..ir.traversal import map_bottom_up, replace_tensors, tensor_refs, walk
from ..primitives.functions import INVERSE, MATRIX_FUNCTIONS
from ..simplify.rewrite import simplify

__all__ = ["derived_identities", "forward_identities"]


def _inverses(prog: Program) -> dict[str, str]:
    """``{Z: X}`` for each statement ``Z[i,j] = inv(X)[i,j]``."""
    out: dict[str, str] = {}
    for s in prog.statements:
        r = s.rhs
        if isinstance(r, MatFn) and r.fn == INVERSE and r.out == s.indices and len(set(s.indices)) == 2:
            out[s.name] = r.arg.name
    return out


def _is_mean(s: Statement) -> bool:
    """Is ``s`` a sum over an index divided by that index's size (``sum[n](x[n,d]) /
    size(n)``, in the simplifier's normal form ``sum[n](x[n,d] / size(n))``)?"""
    if len(set(s.indices)) != len(s.indices):
        return False
    r = simplify(s.rhs)
    if not isinstance(r, Sum):
        return False
    fs = r.body.factors if isinstance(r.body, Mul) else (r.body,)
    dims = {k.dim for k in r.indices}
    return any(isinstance(f, Pow) and isinstance(f.base, Size) and f.base.index.dim in dims
               and isinstance(f.exp, Const) and f.exp.value < 0 for f in fs)


class _Facts:
    """What the identities need to know of a program's statements."""

    def __init__(self, prog: Program) -> None:
        self.inverses = _inverses(prog)
        self.defined = prog.defined
        means = {s.name for s in prog.statements if _is_mean(s)}
        # the statements that read a mean (xc[n,d] = x[n,d] - mu[d]) are substituted with it
        centred = {s.name for s in prog.statements if s.name not in means
                   and len(set(s.indices)) == len(s.indices) and not isinstance(s.rhs, MatFn)
                   and any(r.name in means for r in tensor_refs(s.rhs))}
        self.means = means
        self.centred = centred

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
        s = self.defined[t.name]
        body = s.rhs
        if t.name in self.centred:  # its means substituted too
            body = replace_tensors(body, self.means, self._expand)
        return substitute(body, dict(zip(s.indices, t.indices)))

    def centred_sums(self, e: Expr) -> Expr:
        """``e`` with the means (and the statements reading them) substituted, if that
        makes it smaller once simplified; else ``e``."""
        names = self.means | self.centred
        if not names or not any(r.name in names for r in tensor_refs(e)):
            return e
        base = simplify(e)
        cand = simplify(_one_size_per_dim(replace_tensors(e, names, self._expand), e))
        cand = simplify(_one_size_per_dim(cand, e))  # (the sizes the simplifier wrote)
        return cand if cand.nodes < base.nodes else e


def _one_size_per_dim(e: Expr, original: Expr) -> Expr:
    """``e`` with every ``size(k)`` of one dim written with one index (the first of
    ``original``'s, else of ``e``'s): a size is a number of its dim, whatever the index's
    name, so ``size(n) / size(p)`` of one dim is seen to be 1."""
    rep: dict[str, Size] = {}
    for part in (original, e):
        for n in walk(part):
            if isinstance(n, Size):
                rep.setdefault(n.index.dim, n)
    return map_bottom_up(e, lambda n: rep[n.index.dim] if isinstance(n, Size) else n)


def _apply(facts: _Facts, stmts: Sequence[Statement], skip: Container[str] = ()) -> list[Statement]:
    out = []
    for s in stmts:
        rhs = s.rhs
        if s.name not in skip:
            rhs = facts.centred_sums(facts.inverse_identities(rhs))
        out.append(s if rhs is s.rhs else s.replace(rhs))
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
    return Program(stmts, prog.dims, dim_names=prog.dim_names, source=prog.source)


def derived_identities(prog: Program, stmts: Sequence[Statement]) -> list[Statement]:
    """Derived statements ``stmts`` with the identities of ``prog``'s definitions applied."""
    facts = _Facts(prog)
    if not facts.inverses and not facts.means:
        return list(stmts)
    return _apply(facts, stmts)
