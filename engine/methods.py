"""Tensor's methods named as torch's, built from the op table and attached to ``Tensor``.

Each op's ``method``, ``inplace`` and operator variants become methods with torch's
signatures (``x.sum(dim=1, keepdim=True)``); the few that the table cannot express are
written here: ``to`` (dtypes, devices, another tensor), ``where`` (self is its second
operand), ``x[key] = v``, ``backward`` and ``retain_grad``. ``engine/__init__`` imports this
module, so every ``Tensor`` has its methods before any user code runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from . import autograd as A
from . import dtypes as D
from .errors import InvalidArgumentError, LeafInplaceError
from .gradmode import _mode
from .ops import OPS, Op
from .ops.indexing import INDEX_PUT
from .ops.pointwise import TO, WHERE
from .signatures import build, params
from .tensor import Tensor, stored_grad_fn, writes_a_view

__all__ = ["install"]


def _method(op: Op, name: str) -> Callable[..., Any]:
    sig = op.method_sig if op.method_sig is not None else _rest(op.sig)
    return build(name, _join("self", sig), op.invoke, op.doc, f"Tensor.{name}")


def _inplace(op: Op, name: str) -> Callable[..., Any]:
    renames = op.inplace_names

    def run(self: Tensor, *values: Any) -> Tensor:
        before = stored_grad_fn(self)  # a view's is not regenerated here (nor raises)
        out = self._inplace(op.invoke, *values)
        node = stored_grad_fn(out)
        if renames and node is not None and node is not before and node.fn_name in renames:
            node.fn_name = renames[node.fn_name]
        return out

    return build(name, _join("self", _rest(op.sig)), run, f"In place: {op.doc}", f"Tensor.{name}")


def _rest(sig: str) -> str:
    """A function's parameter list without its first (the method's self)."""
    return sig.split(",", 1)[1].strip() if "," in sig else ""


def _join(first: str, rest: str) -> str:
    return f"{first}, {rest}" if rest else first


def _dunder(op: Op, name: str) -> Callable[..., Any]:
    fn = op.fn
    plain = "__" + name[3:]  # __iadd__ and __radd__ come with __add__
    if name.startswith("__i") and plain in op.variants:
        inplace = getattr(Tensor, op.name + "_")
        return lambda self, other: inplace(self, other)
    if name.startswith("__r") and plain in op.variants:
        return lambda self, other: fn(other, self)
    if params(op.sig)[1:2] and params(op.sig)[1].required:
        return lambda self, other: fn(self, other)
    return lambda self: fn(self)


def install() -> None:
    """Attach every op's method, in-place and operator variants to ``Tensor``."""
    for op in OPS.values():
        if "method" in op.variants:
            for name in (op.name, *op.aliases):
                setattr(Tensor, name, _method(op, name))
        if "inplace" in op.variants:  # aliases too: clip_, negative_, subtract_, ...
            for name in (op.name, *op.aliases):
                setattr(Tensor, name + "_", _inplace(op, name + "_"))
    for op in OPS.values():  # after every in-place method exists (``__iadd__`` uses ``add_``)
        for variant in op.variants:
            if variant.startswith("__"):
                setattr(Tensor, variant, _dunder(op, variant))
    for name, fn in _SPECIAL.items():
        setattr(Tensor, name, fn)


# ------------------------------------------------------------- written by hand
def to(self: Tensor, *args: Any, **kwargs: Any) -> Tensor:
    """``to(dtype)``, ``to(other)`` (a differentiable cast: ToCopyBackward0); devices are per
    session, so a device argument is accepted and changes nothing."""
    dtype = kwargs.get("dtype")
    for a in args:
        if isinstance(a, Tensor):
            dtype = a.dtype if dtype is None else dtype
        elif isinstance(a, D.DType | str) and dtype is None and a not in ("cpu", "cuda"):
            dtype = a
    if dtype is None:
        return self
    return TO.fn(self, D.as_dtype(dtype))


def where(self: Tensor, condition: Any, other: Any) -> Tensor:
    """``x.where(condition, y)`` is ``torch.where(condition, x, y)``."""
    return WHERE.fn(condition, self, other)


def setitem(self: Tensor, key: Any, value: Any) -> None:
    """``x[key] = value``: in place, as torch: basic indexing copies into the view
    ``x[key]`` (so ``x``'s grad_fn becomes CopySlices), other keys run ``index_put_``."""
    view = writes_a_view(key, self)
    if _basic(key):  # torch: a copy into the view x[key], or into x itself (x[...] = v)
        (self[key] if view else self).copy_(value)
        return
    if _mode.enabled and self.grad_fn is None and self._rg and view:
        raise LeafInplaceError(
            "a view of a leaf Variable that requires grad is being used in an in-place operation."
        )
    self._inplace(INDEX_PUT.fn, key, value)


def _basic(key: Any) -> bool:
    """Whether ``key`` is basic indexing (ints, slices, None, ..., 0-d integer tensors)."""
    for it in key if isinstance(key, tuple) else (key,):
        if isinstance(it, bool) or not (
            it is None
            or it is Ellipsis
            or isinstance(it, int | slice)
            or (isinstance(it, Tensor) and it.ndim == 0 and it.dtype.name in ("int32", "int64"))
        ):
            return False
    return True


def backward(
    self: Tensor,
    gradient: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    inputs: Any = None,
) -> None:
    """Accumulate d(self)/d(leaf) into every reached leaf's ``.grad``."""
    A.backward(self, gradient, retain_graph, create_graph, inputs)


def retain_grad(self: Tensor) -> None:
    """Keep ``.grad`` for this non-leaf after backward."""
    if not self._rg:
        raise InvalidArgumentError("can't retain_grad on Tensor that has requires_grad=False")
    A.retain_grad(self)


_SPECIAL: dict[str, Any] = {
    "to": to,
    "where": where,
    "__setitem__": setitem,
    "backward": backward,
    "retain_grad": retain_grad,
}

install()
