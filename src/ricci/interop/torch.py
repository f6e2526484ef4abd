"""A ricci program as a PyTorch autograd function: ricci's forward code, ricci's gradient.

::

    import torch, ricci.torch

    f = ricci.torch.function('''
        Z[n,h] = X[n,d] * W[d,h] + b[h]
        Y[n,h] = tanh(Z[n,h])
        L = sum[n,h]((Y[n,h] - T[n,h])^2)
    ''', inputs=["W", "b"])
    f.inputs                      # ('X', 'W', 'b', 'T'): the calling convention
    loss = f(X, W, b, T)          # or f.apply(X, W, b, T), or f(X=X, W=W, b=b, T=T)
    loss.backward()               # W.grad, b.grad: ricci's derived gradient code

The forward pass runs the code ricci generates for the program (torch backend); the
backward pass runs the code it generates for ``ricci.grad(program, wrt=inputs, of=of)``
(torch backend), with the upstream gradient as the seed (``dY``) for a tensor output or
as a factor for a scalar one. Only PyTorch needs to be installed (``pip install
'ricci[torch]'``); importing this module does not import torch.
"""

from __future__ import annotations

from typing import Any, Mapping, Sequence

from .. import validate
from ..codegen.calling import Compiled, convert
from ..derivation import Derivation
from ..errors import RicciError
from ..ir.program import Program
from .common import Facade, backward_pass, build, check_differentiated, forward_pass

__all__ = ["TorchFunction", "function"]

EXTRA = "pip install 'ricci[torch]'"


def _torch():
    try:
        import torch
    except ImportError:
        raise RicciError(f"ricci.torch needs PyTorch: {EXTRA}") from None
    return torch


class TorchFunction(Facade):
    """A ricci program as a ``torch.autograd.Function`` (made by :func:`function`).

    * ``f.apply(*tensors)`` / ``f(*tensors)`` / ``f(**tensors)``: the program's output;
      its backward is ricci's gradient code. The arguments are every input of the
      program, in the order of ``f.inputs``.
    * ``f.inputs``: the argument order; ``f.wrt``: the inputs that get gradients;
      ``f.output``: the statement computed; ``f.derivation``: the :class:`Derivation`;
    * ``f.forward_source`` / ``f.backward_source``: the generated code;
    * ``f.Function``: the ``torch.autograd.Function`` subclass itself.
    """

    library = "torch"

    def __init__(self, derivation: Derivation, names: tuple[str, ...], forward: Compiled,
                 backward: Compiled) -> None:
        torch = _torch()
        super().__init__(derivation, names, forward, backward)
        label = self._label
        output = forward_pass(derivation, names, forward)
        gradients = backward_pass(derivation, names, backward, lambda r, t: r.to(t.dtype))

        def forward_(ctx, *args):
            if len(args) != len(names):
                raise RicciError(f"{label} takes {len(names)} inputs ({', '.join(names)}), "
                                 f"got {len(args)}")
            converted = convert("torch", dict(zip(names, args)))
            tensors = [converted[n] for n in names]
            check_differentiated(label, derivation, names, ctx.needs_input_grad,
                                 "input '{name}' requires grad, but {label} differentiates only w.r.t. {wrt}",
                                 "add '{name}' to inputs=[...], or pass {name}.detach()")
            ctx.save_for_backward(*tensors)
            return output(*tensors)

        def backward_(ctx, g):
            return gradients(ctx.saved_tensors, g, ctx.needs_input_grad)

        # the class name shows in grad_fn: <Ricci_LBackward>
        self.Function: Any = type(f"Ricci_{self.output}", (torch.autograd.Function,),
                             {"forward": staticmethod(forward_), "backward": staticmethod(backward_),
                              "__module__": __name__})

    def apply(self, *args: Any) -> Any:
        """The program's output for the inputs, in the order of ``self.inputs``."""
        return self.Function.apply(*args)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Like :meth:`apply`; inputs may also be given by keyword."""
        given = self._bind(args, kwargs)
        return self.Function.apply(*(given[n] for n in self.inputs))


def function(program: Program | str, inputs: str | Sequence[str], of: str | None = None, *,
             sizes: Mapping[str, int] | None = None, compile: bool = False) -> TorchFunction:
    """A ``torch.autograd.Function``-like object computing ``of`` (default: the last
    statement), whose backward is ricci's gradient w.r.t. ``inputs``.

    Call it with every input of the program, positionally in the order of ``f.inputs``
    (the program's inputs in order of first use, then any of ``inputs`` the output does
    not depend on) or by keyword. Inputs not in ``inputs`` (data, targets) get no
    gradient; passing one that requires grad raises :class:`RicciError`. ``sizes`` gives
    the sizes of indices no input carries (index name -> size).

    The backward pass is itself made of differentiable torch operations, so second
    derivatives (``create_graph=True``, ``torch.autograd.gradgradcheck``) work.

    ``compile=True`` wraps the forward and the gradient code with ``torch.compile``
    (inductor, one graph each; the input checks stay eager): they compile at their first
    call (and again for new shapes), and a failure to compile raises :class:`RicciError`
    naming it, never a silent fallback to eager code.
    """
    _torch()
    validate.flag(compile, "compile")
    return TorchFunction(*build(program, inputs, of, sizes, "torch", out_of_place=True, jit=compile))
