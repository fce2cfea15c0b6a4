"""Sorting: sort, argsort and topk. sort and topk return ``(values, indices)``.

Every sort here is stable (equal elements keep their order, also when descending; NaN sorts
as the largest value, as torch's): the indices are the same whichever ``stable`` says. The
values are the input taken at the indices along ``dim``; their gradient puts the upstream
gradient back at those indices (kept in the node's attributes, as torch's SortBackward0 and
TopkBackward0 keep them).
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

from ..autograd import apply
from ..errors import InvalidArgumentError
from ..shapes import normalize_dim
from ..tensor import Tensor
from .table import Op, defop


class _ValuesIndices(namedtuple("_ValuesIndices", ["values", "indices"])):
    __slots__ = ()
    kind = ""

    def __repr__(self) -> str:
        return (
            f"torch.return_types.{self.kind}(\nvalues={self.values!r},\nindices={self.indices!r})"
        )


class SortResult(_ValuesIndices):
    """``torch.return_types.sort``: ``(values, indices)``."""

    __slots__ = ()
    kind = "sort"


class TopkResult(_ValuesIndices):
    """``torch.return_types.topk``: ``(values, indices)``."""

    __slots__ = ()
    kind = "topk"


def sort_indices(xp: Any, a: Any, dim: int, descending: bool = False) -> Any:
    """The int64 indices that sort ``a`` along ``dim``, stably."""
    if a.ndim == 0:
        return xp.zeros((), dtype="int64")
    if not descending:
        return xp.argsort(a, axis=dim, kind="stable").astype("int64", copy=False)
    # stable descending: sort the reversed input ascending, then read it backwards
    rev = xp.argsort(xp.flip(a, axis=dim), axis=dim, kind="stable")
    return (a.shape[dim] - 1 - xp.flip(rev, axis=dim)).astype("int64", copy=False)


def _take_fwd(xp: Any, a: Any, dim: int, indices: Any, **_: Any) -> Any:
    if a.ndim == 0:
        return a.copy()
    return xp.take_along_axis(a, indices, axis=dim)


def _put_fwd(xp: Any, g: Any, dim: int, indices: Any, shape: list[int]) -> Any:
    if not shape:
        return g.copy()
    out = xp.zeros(tuple(shape), dtype=g.dtype)
    xp.put_along_axis(out, indices, g, axis=dim)
    return out


def _take_vjp(g: Tensor, n: Any) -> Tensor:
    shape, _ = n.in_meta[0]
    attrs = {"dim": n.attrs["dim"], "indices": n.attrs["indices"], "shape": list(shape)}
    return apply(PUT_ALONG, (g,), attrs)


PUT_ALONG = defop(
    "put_along_dim",
    _put_fwd,
    (lambda g, n: apply(TAKE_ALONG, (g,), {"dim": n.attrs["dim"], "indices": n.attrs["indices"]}),),
    "PutAlongDimBackward0",
    sig="grad, dim, indices, shape",
    variants=(),
    public=False,
    doc="sort's and topk's gradient: grad put at indices along dim into zeros of shape",
)
TAKE_ALONG: Op = defop(
    "take_along_indices",
    _take_fwd,
    (_take_vjp,),
    "TakeAlongDimBackward0",
    result="keep",
    sig="input, dim, indices",
    variants=(),
    public=False,
    doc="input taken at int64 indices along dim (the gradient of put_along_dim)",
)


def _argsort_attrs(x: Tensor, dim: Any, descending: bool) -> dict[str, Any]:
    attrs: dict[str, Any] = {"dim": normalize_dim(dim, x.ndim)}
    if descending:
        attrs["descending"] = True
    return attrs


ARGSORT = defop(
    "argsort",
    lambda xp, a, dim, descending=False: sort_indices(xp, a, dim, descending),
    None,
    "",
    differentiable=False,
    result="keep",
    dtypes="any",
    shape=lambda shapes, attrs: shapes[0],
    sig="input, dim=-1, descending=False, *, stable=None",
    prepare=lambda x, dim, descending, stable: ((x,), _argsort_attrs(x, dim, descending)),
    doc="the int64 indices that sort input along dim (stable: ties keep their order)",
)


def _sort(x: Tensor, dim: Any, descending: bool, stable: Any) -> Any:
    attrs = _argsort_attrs(x, dim, descending)
    indices = apply(ARGSORT, (x,), attrs)
    at = {"dim": attrs["dim"], "indices": indices._st.array}
    if stable is not None:  # torch's sort.stable overload (SortBackward1)
        at["stable"] = bool(stable)
    return SortResult(apply(SORT, (x,), at), indices)


SORT: Op = defop(
    "sort",
    _take_fwd,
    (_take_vjp,),
    lambda ins, at: f"SortBackward{0 if at.get('stable') is None else 1}",
    grad_fns=("SortBackward0", "SortBackward1"),
    result="keep",
    dtypes="any",
    shape=lambda shapes, attrs: shapes[0],
    sig="input, dim=-1, descending=False, *, stable=None",
    prepare=_sort,
    call=lambda *a, **k: SORT.fn(*a, **k).values,
    doc="(values, indices): input sorted along dim, stably; descending=True: largest first",
)


def _topk(x: Tensor, k: Any, dim: Any, largest: bool, sorted: bool) -> Any:
    d = normalize_dim(dim, x.ndim)
    size = x.shape[d] if x.ndim else 1
    if isinstance(k, bool) or not isinstance(k, int):
        raise InvalidArgumentError(f"topk(): argument 'k' must be int, not {type(k).__name__}")
    if not 0 <= k <= size:
        raise InvalidArgumentError("selected index k out of range")
    order = apply(ARGSORT, (x,), {"dim": d, **({"descending": True} if largest else {})})
    idx = order._st.array
    if x.ndim:
        idx = idx[(slice(None),) * d + (slice(0, k),)].copy()
    values = apply(TOPK, (x,), {"dim": d, "indices": idx, "k": k})
    return TopkResult(values, Tensor._make(idx, False, None))


def _topk_shape(shapes: list[tuple[int, ...]], attrs: dict[str, Any]) -> tuple[int, ...]:
    shape = list(shapes[0])
    if shape:
        shape[attrs["dim"]] = attrs["k"]
    return tuple(shape)


TOPK: Op = defop(
    "topk",
    _take_fwd,
    (_take_vjp,),
    "TopkBackward0",
    result="keep",
    dtypes="any",
    shape=_topk_shape,
    sig="input, k, dim=-1, largest=True, sorted=True",
    prepare=_topk,
    call=lambda *a, **k: TOPK.fn(*a, **k).values,
    doc="(values, indices): the k largest (largest=False: smallest) elements along dim, sorted",
)
