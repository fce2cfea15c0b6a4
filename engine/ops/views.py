"""The autograd half of views: torch's CopySlices and AsStridedBackward0.

An in-place op on a view (``v = x[0:2]; v.mul_(10)``) writes its values into the base
(``engine.tensor.ViewTensor``); here its node is recorded into the base's history as
torch does: the base's ``grad_fn`` becomes ``CopySlices`` (the base's gradient, with the
view's region replaced by what the in-place op's node makes of that region's gradient),
and the view's becomes ``AsStridedBackward0`` over it (the view's gradient scattered into
the base's shape). Every other view of that base gets the same ``AsStridedBackward0``,
lazily, the next time its ``grad_fn`` is read after the shared version counter moved.

A view's region is its chain of view ops from its base, kept as data (op names and attrs)
in the nodes' attrs, so a stored graph rebuilds them; the region's flat indices come from
running that chain on an index array (``engine.tensor.index_map``).
"""

from __future__ import annotations

import math
from typing import Any

from ..autograd import Node, _call_vjps, _call_vjps_raw, apply
from ..backend import backend_of
from ..errors import InvalidArgumentError
from ..tensor import (
    _GRAD_FN,
    DEFAULT,
    VIEW_HOOKS,
    Tensor,
    ViewTensor,
    index_map,
    view_error,
)
from .indexing import INDEX, INDEX_BACKWARD, INDEX_PUT
from .table import OPS, defop

__all__ = ["AS_STRIDED", "COPY_SLICES", "CopySlicesNode"]


def _chain_data(chain: Any) -> list[list[Any]]:
    return [[op.name, attrs] for op, attrs in chain]


def _region(n: Any, xp: Any) -> Any:
    """The flat indices into the base (input 0's shape) of node ``n``'s view."""
    chain = tuple((OPS[name], attrs) for name, attrs in n.attrs["view"])
    return index_map(n.in_meta[0][0], chain, xp)


# ------------------------------------------------------------- AsStridedBackward0
def _as_strided_fwd(xp: Any, a: Any, view: Any) -> Any:
    for name, attrs in view:
        a = OPS[name].forward(xp, a, **attrs)  # type: ignore[misc]
    return a


def _as_strided_vjp(g: Tensor, n: Any) -> Tensor:
    shape = list(n.in_meta[0][0])
    idx = _region(n, g._xp)
    flat = apply(INDEX_BACKWARD, (g,), {"index": [{"array": idx}], "shape": [math.prod(shape)]})
    return flat.reshape(shape)


AS_STRIDED = defop(
    "as_strided_view",
    _as_strided_fwd,
    (_as_strided_vjp,),
    "AsStridedBackward0",
    sig="input, view",
    variants=(),
    public=False,
    dtypes="any",
    doc="a view's elements of its base, by its chain of view ops (a view's grad_fn after an "
    "in-place op on its base)",
)


# ------------------------------------------------------------------- CopySlices
class CopySlicesNode(Node):
    """CopySlices: freeing its saved values frees those of the in-place op's node too."""

    __slots__ = ()

    def release(self) -> None:
        super().release()
        self.attrs["fn"].release()


def _copy_slices_backward(node: Any, g: Any, raw: bool) -> list[Any]:
    """The base's gradient with the view's region replaced by the in-place op's gradient
    for its input, and that op's gradients for its other inputs."""
    inner = node.attrs["fn"]
    shape = tuple(node.in_meta[0][0])
    if raw:
        xp = backend_of(g).xp
        idx = _region(node, xp)
        flat = g.reshape(-1)
        res = _call_vjps_raw(inner, flat[idx])
        first = None
        if node.next[0] is not None:
            out = flat.copy()
            out[idx] = 0 if res[0] is None else res[0]
            first = out.reshape(shape)
        return [first, *res[1:]]
    item = [{"array": _region(node, g._xp)}]
    flat = g.reshape(-1)
    got = _call_vjps(inner, apply(INDEX, (flat,), {"index": item}))
    first_t = None
    if node.next[0] is not None:
        r0 = got[0] if got[0] is not None else 0.0
        first_t = apply(INDEX_PUT, (flat, r0), {"index": item}).reshape(list(shape))
    return [first_t, *got[1:]]


COPY_SLICES = defop(
    "copy_slices",
    None,
    None,
    "CopySlices",
    backward=_copy_slices_backward,
    node_type=CopySlicesNode,
    variants=(),
    public=False,
    dtypes="any",
    doc="an in-place op on a view, recorded into its base's history (torch's CopySlices)",
)


# ------------------------------------------------------------------ view hooks
def _edge(t: Tensor) -> Any:
    gf = _GRAD_FN.__get__(t)
    return gf if gf is not None else (t if t._rg else None)


def _as_strided_node(v: ViewTensor, target: Any) -> Node:
    base = v._vbase
    meta = ((tuple(base._st.array.shape), base._dtype),)
    return Node(
        AS_STRIDED, "AsStridedBackward0", (target,), (None,), meta, {"view": _chain_data(v._chain)}
    )


def regenerate(v: ViewTensor) -> Node | None:
    """A view's grad_fn after its version moved (torch regenerates it on access): an
    AsStridedBackward0 over its base's current history, unless nothing requires grad."""
    gf = _GRAD_FN.__get__(v)
    base = v._vbase
    if gf is None and not base._rg:
        return None
    if v._creation != DEFAULT:
        raise InvalidArgumentError(view_error(v, True))
    node = _as_strided_node(v, _edge(base))
    _GRAD_FN.__set__(v, node)
    v._rg = True
    v._attr_v = v._vc[0]
    return node


def rebase(v: ViewTensor, inner: Node) -> None:
    """Record in-place node ``inner`` (run on view ``v``) into ``v``'s base: CopySlices."""
    base = v._vbase
    meta = ((tuple(base._st.array.shape), base._dtype), *inner.in_meta[1:])
    cs = CopySlicesNode(
        COPY_SLICES,
        "CopySlices",
        (_edge(base), *inner.next[1:]),
        (None, *inner.consts[1:]),
        meta,
        {"view": _chain_data(v._chain), "fn": inner},
    )
    _GRAD_FN.__set__(base, cs)
    base._rg = True
    _GRAD_FN.__set__(v, _as_strided_node(v, cs))
    v._rg = True
    v._attr_v = v._vc[0]


VIEW_HOOKS.regenerate = regenerate
VIEW_HOOKS.rebase = rebase
