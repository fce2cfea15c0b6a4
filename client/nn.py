"""``torch.nn`` through the client: the engine's one ``Module`` implementation, bound to a
session.

A module built here is a client-side object whose parameters are session tensors;
calling it records ops lazily like any other code, so a forward pass is still one
``graph`` request. ``state_dict()`` gives detached session tensors; ``load_state_dict``
copies tensors or arrays (torch's, NumPy's) into the session's parameters.
"""

from __future__ import annotations

from typing import Any

from engine.nnkit.binding import bind
from engine.nnkit.composite import INPLACE_AFTER, Composite, inplace_forms, with_inplace
from engine.nnkit.init import Init
from engine.nnkit.module import Backend
from engine.nnkit.utils import Utils

from .autograd_api import Namespace
from .tensor import SPECS, RemoteTensor, apply, conn_of

__all__ = ["RemoteParameter", "remote_nn"]


class RemoteParameter(RemoteTensor):
    """``nn.Parameter`` of a session: a leaf that requires grad, sharing ``data``'s values."""

    __slots__ = ()
    _is_parameter = True

    def __new__(cls, data: RemoteTensor | None = None, requires_grad: bool = True) -> Any:
        if not isinstance(data, RemoteTensor):
            raise TypeError(
                f"Parameter: expected a tensor of this session, got {type(data).__name__}"
            )
        p = data.detach()  # a new leaf on the same storage, as torch's Parameter
        p.__class__ = cls
        if requires_grad:
            p.requires_grad_(True)
        return p

    def __init__(self, data: RemoteTensor | None = None, requires_grad: bool = True) -> None:
        pass

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__


class _SessionBackend(Backend):
    def parameter(self, *shape: int, dtype: Any = None) -> Any:
        # a leaf that requires grad from the start: one request, no detach and PATCH
        p = self.torch.zeros(*shape, dtype=dtype, requires_grad=True)
        p.__class__ = RemoteParameter
        return p


def _functional(torch: Any) -> Namespace:
    """``torch.nn.functional`` of one session: the table's ``nn`` ops (built on ``RemoteTorch``
    from the op declarations) and torch's compositions of them."""

    def one_hot(tensor: Any, num_classes: int = -1) -> Any:
        # the table's one_hot, but without num_classes the width is in the values: not known
        # before the server runs it, so the shape is not inferred on the client
        kw = {} if num_classes == -1 else {"num_classes": num_classes}
        return apply(conn_of(tensor), "one_hot", [tensor], kw, shape_known=num_classes != -1)

    table = {n: getattr(torch, n) for n, s in SPECS.items() if "nn" in s["variants"] and s["wire"]}
    table.update({n: with_inplace(n, table[n]) for n in INPLACE_AFTER})
    table.update(inplace_forms(table))  # F.relu_, F.elu_, F.leaky_relu_
    composite = Composite(torch)
    return Namespace(
        "nn.functional",
        **{**table, "one_hot": one_hot},
        l1_loss=composite.l1_loss,
        dropout=composite.dropout,
        bilinear=composite.bilinear,
    )


def remote_nn(torch: Any) -> Namespace:
    """``torch.nn`` for one session (``torch`` is its ``RemoteTorch``)."""
    functional = _functional(torch)
    init = Init(torch)
    backend = _SessionBackend(torch, functional, RemoteParameter, init)
    utils = Utils(torch)
    return Namespace(
        "nn",
        **bind(backend, "client.nn"),
        Parameter=RemoteParameter,
        functional=functional,
        init=init,
        utils=utils,
    )
