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

from ..codegen.calling import Compiled, bind_arguments, convert
from ..derivation import Derivation
from ..errors import RicciError
from ..ir.program import Program

# the builder is shared with ricci.torch, which (like this module) imports its library
# only when a function is built
from .torch import _build

__all__ = ["JaxFunction", "function"]

EXTRA = "pip install 'ricci[jax]'"


def _jax():
    try:
        import jax
    except ImportError:
        raise RicciError(f"ricci.jax needs JAX: {EXTRA}") from None
    return jax


class JaxFunction:
    """A ricci program as a ``jax.custom_vjp`` function (made by :func:`function`).

    * ``f(*arrays)`` / ``f(**arrays)``: the program's output; its VJP is ricci's gradient
      code. The arguments are every input of the program, in the order of ``f.inputs``;
      ``jax.grad(f, argnums=...)`` picks the ones to differentiate.
    * ``f.inputs``: the argument order; ``f.wrt``: the inputs that have gradients;
      ``f.output``: the statement computed; ``f.derivation``: the :class:`Derivation`;
    * ``f.forward_source`` / ``f.backward_source``: the generated code;
    * ``f.custom_vjp``: the ``jax.custom_vjp`` function itself (positional arrays only).
    """

    def __init__(self, derivation: Derivation, names: tuple[str, ...], forward: Compiled,
                 backward: Compiled) -> None:
        jax = _jax()
        from jax.custom_derivatives import SymbolicZero

        self.derivation = derivation
        self.inputs = names
        self.wrt = derivation.wrt
        self.output = derivation.of
        self.forward_source = forward.source
        self.backward_source = backward.source
        wrt = set(self.wrt)
        seed = derivation.seed
        fwd_inputs = forward.inputs
        label = f"ricci.jax.function of {self.output}"
        self._label = label

        def primal(*args):
            arrays = dict(zip(names, args))
            return forward.call({n: arrays[n] for n in fwd_inputs})[derivation.of]

        def primal_fwd(*args):
            # with symbolic_zeros, each argument says whether it is being differentiated
            for name, a in zip(names, args):
                if a.perturbed and name not in wrt:
                    raise RicciError(
                        f"{label} is differentiated w.r.t. input '{name}', but it has "
                        f"gradients only w.r.t. {', '.join(derivation.wrt)}",
                        hint=f"add '{name}' to inputs=[...], or pass jax.lax.stop_gradient({name})")
            values = tuple(a.value for a in args)
            return primal(*values), values

        def primal_bwd(values, g):
            if isinstance(g, SymbolicZero):
                return tuple(None for _ in names)
            arrays = dict(zip(names, values))
            if seed is not None:
                arrays[seed] = g
            grads = backward.call(arrays)
            out = []
            for name, v in zip(names, values):
                if name not in wrt:
                    out.append(None)  # not differentiated (checked in primal_fwd)
                    continue
                r = grads[name] if seed is not None else grads[name] * g
                out.append(r if r.dtype == v.dtype else r.astype(v.dtype))
            return tuple(out)

        primal.__name__ = f"ricci_{self.output}"
        f = jax.custom_vjp(primal)
        f.defvjp(primal_fwd, primal_bwd, symbolic_zeros=True)
        self.custom_vjp = f
        self.__name__ = primal.__name__
        self.__doc__ = f"{label}: the output for inputs {', '.join(names)}."

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """The program's output; inputs positionally in the order of ``self.inputs``, or by
        keyword. Lists, NumPy arrays and numbers are made JAX arrays (integers: floats)."""
        given = convert("jax", bind_arguments(self._label, self.inputs, args, kwargs))
        return self.custom_vjp(*(given[n] for n in self.inputs))

    def __repr__(self) -> str:
        return (f"<ricci.jax.function {self.output}({', '.join(self.inputs)}), "
                f"gradients w.r.t. {', '.join(self.wrt)}>")


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
    d, names, fwd, bwd = _build(program, inputs, of, sizes, "jax")
    return JaxFunction(d, names, fwd, bwd)
