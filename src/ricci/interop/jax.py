"""A ricci program as a JAX function with a custom VJP: ricci's forward code, ricci's gradient.

::

    import jax, ricci.jax

    f = ricci.jax.function('''
        Z[n,h] = X[n,d] * W[d,h] + b[h]
        Y[n,h] = tanh(Z[n,h])
        L = sum[n,h]((Y[n,h] - T[n,h])^2)
    ''', inputs=["W", "b"])
    f.inputs                                           # ('X', 'W', 'b', 'T')
    loss = f(X, W, b, T)                               # or by keyword
    dW, db = jax.jit(jax.grad(f, argnums=(1, 2)))(X, W, b, T)

The function is a ``jax.custom_vjp``: its primal is the code ricci generates for the
program (jax backend), its VJP the code it generates for ``ricci.grad(program,
wrt=inputs, of=of)`` (jax backend), with the cotangent as the seed (``dY``) for a tensor
output or as a factor for a scalar one. Everything is traceable, so it works under
``jax.jit``, ``jax.grad``, ``jax.vjp`` and ``jax.vmap``. Only JAX needs to be installed
(``pip install 'ricci[jax]'``); importing this module does not import jax.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from ..codegen.calling import Compiled, convert
from ..derivation import Derivation
from ..errors import RicciError
from ..ir.program import Program
from .common import Facade, backward_pass, build, check_differentiated, forward_pass

__all__ = ["JaxFunction", "function"]

EXTRA = "pip install 'ricci[jax]'"


def _jax():
    try:
        import jax
    except ImportError:
        raise RicciError(f"ricci.jax needs JAX: {EXTRA}") from None
    return jax


class JaxFunction(Facade):
    """A ricci program as a ``jax.custom_vjp`` function (made by :func:`function`).

    * ``f(*arrays)`` / ``f(**arrays)``: the program's output; its VJP is ricci's gradient
      code. The arguments are every input of the program, in the order of ``f.inputs``;
      ``jax.grad(f, argnums=...)`` picks the ones to differentiate.
    * ``f.inputs``: the argument order; ``f.wrt``: the inputs that have gradients;
      ``f.output``: the statement computed; ``f.derivation``: the :class:`Derivation`;
    * ``f.forward_source`` / ``f.backward_source``: the generated code;
    * ``f.custom_vjp``: the ``jax.custom_vjp`` function itself (positional arrays only).
    """

    library = "jax"

    def __init__(self, derivation: Derivation, names: tuple[str, ...], forward: Compiled,
                 backward: Compiled) -> None:
        jax = _jax()
        from jax.custom_derivatives import SymbolicZero

        super().__init__(derivation, names, forward, backward)
        label = self._label
        wrt = set(self.wrt)
        primal = forward_pass(derivation, names, forward)
        gradients = backward_pass(derivation, names, backward, lambda r, v: r.astype(v.dtype))

        def primal_fwd(*args):
            # with symbolic_zeros, each argument says whether it is being differentiated
            check_differentiated(label, derivation, names, (a.perturbed for a in args),
                                 "{label} is differentiated w.r.t. input '{name}', but it has "
                                 "gradients only w.r.t. {wrt}",
                                 "add '{name}' to inputs=[...], or pass jax.lax.stop_gradient({name})")
            values = tuple(a.value for a in args)
            return primal(*values), values

        def primal_bwd(values, g):
            if isinstance(g, SymbolicZero):
                return tuple(None for _ in names)
            # the inputs not in wrt are not differentiated (checked in primal_fwd)
            return gradients(values, g, (name in wrt for name in names))

        primal.__name__ = f"ricci_{self.output}"
        f = jax.custom_vjp(primal)
        f.defvjp(primal_fwd, primal_bwd, symbolic_zeros=True)
        self.custom_vjp = f
        self.__name__ = primal.__name__
        self.__doc__ = f"{label}: the output for inputs {', '.join(names)}."

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """The program's output; inputs positionally in the order of ``self.inputs``, or by
        keyword. Lists, NumPy arrays and numbers are made JAX arrays (integers: floats)."""
        given = convert("jax", self._bind(args, kwargs))
        return self.custom_vjp(*(given[n] for n in self.inputs))


def function(program: Program | str, inputs: str | Sequence[str], of: str | None = None, *,
             sizes: Mapping[str, int] | None = None) -> JaxFunction:
    """A JAX function computing ``of`` (default: the last statement), whose VJP is ricci's
    gradient w.r.t. ``inputs`` (a ``jax.custom_vjp``).

    Call it with every input of the program, positionally in the order of ``f.inputs``
    (the program's inputs in order of first use, then any of ``inputs`` the output does
    not depend on) or by keyword. Inputs not in ``inputs`` (data, targets) have no
    gradient: differentiating w.r.t. one raises :class:`RicciError` (when JAX traces the
    function). ``sizes`` gives the sizes of indices no input carries (index name -> size);
    they are fixed, so the function stays traceable.

    It works under ``jax.jit``, ``jax.grad`` (and ``jax.vjp``, ``jax.vmap``); the VJP is
    itself made of JAX operations, so it can be differentiated again (reverse over reverse).
    """
    _jax()
    return JaxFunction(*build(program, inputs, of, sizes, "jax"))
