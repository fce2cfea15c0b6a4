"""``torch.nn`` through the client: the engine's one ``Module`` implementation, bound to a
session.

A module built here is a client-side object whose parameters are session tensors;
calling it records ops lazily like any other code, so a forward pass is still one
``graph`` request. ``state_dict()`` gives detached session tensors; ``load_state_dict``
copies tensors or arrays (torch's, NumPy's) into the session's parameters.
"""

from __future__ import annotations

from typing import Any

from engine.nn.binding import bind
from engine.nn.composite import Composite
from engine.nn.init import Init
from engine.nn.module import Backend
from engine.nn.utils import Utils

from .autograd_api import Namespace
from .tensor import RemoteTensor, apply, conn_of

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
    """``torch.nn.functional`` of one session: table ops and torch's compositions."""

    def f(op: str, args: list[Any], kwargs: dict[str, Any] | None = None, **kw: Any) -> Any:
        return apply(conn_of(*args), op, args, kwargs or {}, **kw)

    def _attrs(**kw: Any) -> dict[str, Any]:
        return {k: v for k, v in kw.items() if v is not None}

    def linear(input: Any, weight: Any, bias: Any = None) -> Any:
        return f("linear", [input, weight, bias])

    def layer_norm(
        input: Any, normalized_shape: Any, weight: Any = None, bias: Any = None, eps: float = 1e-5
    ) -> Any:
        shape = [normalized_shape] if isinstance(normalized_shape, int) else normalized_shape
        kw = {"normalized_shape": [int(s) for s in shape], "eps": eps}
        return f("layer_norm", [input, weight, bias], kw)

    def embedding(input: Any, weight: Any, padding_idx: int | None = None) -> Any:
        if padding_idx is not None and padding_idx < 0:
            padding_idx += int(weight.shape[0])
        return f("embedding", [input, weight], _attrs(padding_idx=padding_idx))

    def one_hot(tensor: Any, num_classes: int = -1) -> Any:
        # without num_classes the width is in the values: not known before the server runs it
        kw = {} if num_classes == -1 else {"num_classes": num_classes}
        return f("one_hot", [tensor], kw, shape_known=num_classes != -1)

    def cross_entropy(
        input: Any,
        target: Any,
        reduction: str = "mean",
        ignore_index: int = -100,
        label_smoothing: float = 0.0,
    ) -> Any:
        kw = {"reduction": reduction, "ignore_index": ignore_index}
        if label_smoothing:
            kw["label_smoothing"] = label_smoothing
        return f("cross_entropy", [input, target], kw)

    def nll_loss(input: Any, target: Any, reduction: str = "mean", ignore_index: int = -100):
        return f(
            "nll_loss", [input, target], {"reduction": reduction, "ignore_index": ignore_index}
        )

    def _loss(op: str, **defaults: Any) -> Any:
        def loss(input: Any, target: Any, reduction: str = "mean", **kw: Any) -> Any:
            return f(op, [input, target], {"reduction": reduction, **defaults, **kw})

        loss.__name__ = op
        return loss

    composite = Composite(torch)
    return Namespace(
        "nn.functional",
        relu=torch.relu,
        leaky_relu=torch.leaky_relu,
        gelu=torch.gelu,
        softplus=torch.softplus,
        sigmoid=torch.sigmoid,
        tanh=torch.tanh,
        softmax=torch.softmax,
        log_softmax=torch.log_softmax,
        mse_loss=torch.mse_loss,
        binary_cross_entropy=torch.binary_cross_entropy,
        silu=lambda x: f("silu", [x]),
        elu=lambda x, alpha=1.0: f("elu", [x], {"alpha": alpha}),
        linear=linear,
        layer_norm=layer_norm,
        embedding=embedding,
        one_hot=one_hot,
        cross_entropy=cross_entropy,
        nll_loss=nll_loss,
        binary_cross_entropy_with_logits=torch.binary_cross_entropy_with_logits,
        huber_loss=_loss("huber_loss"),
        smooth_l1_loss=_loss("smooth_l1_loss"),
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
