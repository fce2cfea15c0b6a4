"""Indexing ``x[...]`` (basic and advanced) and its scatter-add VJP, plus ``x[...] = v``.

An index is kept as data: a list of items, each an int, ``None`` (new axis),
``"..."``, ``{"slice": [start, stop, step]}`` or ``{"array": <int64 or bool array>}``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any

import numpy as np

from ..autograd import apply, check_numel
from ..errors import EngineTypeError, IndexOutOfRangeError, InvalidArgumentError
from ..tensor import Tensor, as_tensor
from .table import defop


def normalize_index(key: Any, xp: Any) -> list[Any]:
    """An index in any of torch's forms, as a list of data items."""
    items = list(key) if isinstance(key, tuple) else [key]
    out: list[Any] = []
    for it in items:
        if it is None:
            out.append(None)
        elif it is Ellipsis or (isinstance(it, str) and it == "..."):
            out.append("...")
        elif isinstance(it, slice):
            for part in (it.start, it.stop, it.step):
                if part is not None and not isinstance(part, int | np.integer):
                    if isinstance(part, Tensor) and part.numel() == 1:
                        continue
                    raise EngineTypeError(f"slice indices must be integers or None, got {part!r}")
            s = [None if p is None else int(p) for p in (it.start, it.stop, it.step)]
            if s[2] is not None and s[2] <= 0:
                raise InvalidArgumentError("step must be greater than zero")
            out.append({"slice": s})
        elif isinstance(it, bool):
            out.append({"array": xp.asarray(it)})
        elif isinstance(it, int | np.integer):
            out.append(int(it))
        elif isinstance(it, dict) and ("slice" in it or "array" in it):
            out.append(it)
        else:
            arr = it._st.array if isinstance(it, Tensor) else xp.asarray(it)
            if arr.dtype.kind == "f" or (arr.size == 0 and arr.dtype.kind not in "biu"):
                if arr.size == 0:
                    arr = arr.astype(np.int64)
                else:
                    raise IndexOutOfRangeError(
                        "tensors used as indices must be long, int, byte or bool tensors"
                    )
            if isinstance(it, Tensor) and it.ndim == 0 and arr.dtype.kind in "iu":
                out.append(int(arr))
                continue
            out.append({"array": arr if arr.dtype.kind == "b" else arr.astype(np.int64)})
    return out


def to_key(items: list[Any], xp: Any) -> tuple[Any, ...]:
    """The items as a key NumPy/CuPy indexing understands."""
    key: list[Any] = []
    for it in items:
        if it is None:
            key.append(None)
        elif it == "...":
            key.append(Ellipsis)
        elif isinstance(it, int):
            key.append(it)
        elif "slice" in it:
            key.append(slice(*it["slice"]))
        else:
            key.append(xp.asarray(it["array"]))
    return tuple(key)


def _check(shape: tuple[int, ...], items: list[Any]) -> None:
    """torch's IndexError messages, before indexing."""
    consumed = sum(
        1
        if (isinstance(it, int) or (isinstance(it, dict) and "slice" in it))
        else (it["array"].ndim if it["array"].dtype.kind == "b" else 1)
        for it in items
        if it is not None and it != "..."
    )
    if consumed > len(shape):
        raise IndexOutOfRangeError(f"too many indices for tensor of dimension {len(shape)}")
    # position of each item in the indexed tensor's dims
    dim = 0
    n_ell = sum(1 for it in items if it == "...")
    if n_ell > 1:
        raise IndexOutOfRangeError("an index can only have a single ellipsis ('...')")
    for it in items:
        if it is None:
            continue
        if it == "...":
            dim += len(shape) - consumed
            continue
        if isinstance(it, int):
            size = shape[dim]
            if not -size <= it < size:
                raise IndexOutOfRangeError(
                    f"index {it} is out of bounds for dimension {dim} with size {size}"
                )
            dim += 1
        elif "slice" in it:
            dim += 1
        else:
            arr = it["array"]
            if arr.dtype.kind == "b":
                want = shape[dim : dim + arr.ndim]
                if tuple(arr.shape) != tuple(want):
                    raise IndexOutOfRangeError(
                        f"The shape of the mask {list(arr.shape)} at index {dim} does not match "
                        f"the shape of the indexed tensor {list(shape)} at index {dim}"
                    )
                dim += arr.ndim
            else:
                size = shape[dim]
                if arr.size:
                    lo, hi = int(arr.min()), int(arr.max())
                    bad = hi if hi >= size else (lo if lo < -size else None)
                    if bad is not None:
                        raise IndexOutOfRangeError(
                            f"index {bad} is out of bounds for dimension {dim} with size {size}"
                        )
                dim += 1


def _result_numel(shape: tuple[int, ...], items: list[Any]) -> int:
    """How many elements ``x[items]`` has (items as _check passed them), computing nothing."""
    consumed = sum(
        1
        if (isinstance(it, int) or (isinstance(it, dict) and "slice" in it))
        else (it["array"].ndim if it["array"].dtype.kind == "b" else 1)
        for it in items
        if it is not None and it != "..."
    )
    n, dim = 1, 0
    advanced: list[tuple[int, ...]] = []
    for it in items:
        if it is None:
            continue
        if it == "...":
            n *= math.prod(shape[dim : dim + len(shape) - consumed])
            dim += len(shape) - consumed
        elif isinstance(it, int):
            dim += 1
        elif "slice" in it:
            n *= len(range(*slice(*it["slice"]).indices(shape[dim])))
            dim += 1
        elif it["array"].dtype.kind == "b":
            advanced.append((int(it["array"].sum()),))
            dim += it["array"].ndim
        else:
            advanced.append(tuple(it["array"].shape))
            dim += 1
    n *= math.prod(shape[dim:])
    if advanced:
        with contextlib.suppress(ValueError):  # indexing itself raises torch's error next
            n *= math.prod(np.broadcast_shapes(*advanced))
    return n


def _grad_fn(ins: Any, attrs: dict[str, Any]) -> str:
    items = attrs["index"]
    if any(isinstance(it, dict) and "array" in it for it in items):
        return "IndexBackward0"
    shape = ins[0]._st.array.shape if ins and isinstance(ins[0], Tensor) else None
    if len(items) == 1 and isinstance(items[0], dict):
        return "SliceBackward0"  # a lone slice always slices, even when it is full
    name = "AliasBackward0"
    dim = 0
    for it in items:
        if it is None:
            name = "UnsqueezeBackward0"
        elif isinstance(it, int):
            name, dim = "SelectBackward0", dim + 1
        elif it == "...":
            dim = (
                len(shape) - sum(1 for i in items if i is not None and i != "...") if shape else dim
            )
        else:
            start, stop, step = it["slice"]
            size = shape[dim] if shape is not None and dim < len(shape) else None
            full = (
                (start in (None, 0))
                and (step in (None, 1))
                and (stop is None or (size is not None and stop >= size))
            )
            if not full:
                name = "SliceBackward0"
            dim += 1
    return name


def _index_fwd(xp: Any, a: Any, index: list[Any]) -> Any:
    return a[to_key(index, xp)]


def _scatter_fwd(xp: Any, g: Any, index: list[Any], shape: list[int]) -> Any:
    out = xp.zeros(shape, dtype=g.dtype)
    key = to_key(index, xp)
    if any(isinstance(it, dict) and "array" in it for it in index):
        if xp is np:
            np.add.at(out, key, g)
        else:  # pragma: no cover - GPU only
            import cupyx  # type: ignore[import-not-found, unused-ignore]

            cupyx.scatter_add(out, key, g)
    else:
        out[key] = g
    return out


def _index_vjp(g: Tensor, n: Any) -> Tensor:
    return apply(INDEX_BACKWARD, (g,), {"index": n.attrs["index"], "shape": list(n.in_meta[0][0])})


def _index_args(x: Tensor, key: Any) -> Any:
    items = normalize_index(key, x._xp)
    _check(x._st.array.shape, items)
    check_numel((_result_numel(x._st.array.shape, items),))
    return (x,), {"index": items}


INDEX = defop(
    "index",
    _index_fwd,
    (_index_vjp,),
    _grad_fn,
    sig="input, index",
    prepare=_index_args,
    variants=("function", "__getitem__"),
    call=lambda x, index: _wire_index(x, index),
    doc="x[index]: ints, slices, None, '...', int64 or bool index arrays (the wire's items)",
    grad_fns=(
        "SelectBackward0",
        "SliceBackward0",
        "UnsqueezeBackward0",
        "AliasBackward0",
        "IndexBackward0",
    ),
    dtypes="any",
)
INDEX_BACKWARD = defop(
    "index_backward",
    _scatter_fwd,
    (lambda g, n: apply(INDEX, (g,), {"index": n.attrs["index"]}),),
    "IndexPutBackward0",
    sig="grad, index, shape",
    variants=(),
    public=False,
    doc="index's gradient: grad scattered (summed) into zeros of shape",
)


def _index_put_fwd(xp: Any, a: Any, v: Any, index: list[Any]) -> Any:
    out = a.copy()
    out[to_key(index, xp)] = v
    return out


def _index_put_self_vjp(g: Tensor, n: Any) -> Tensor:
    mask = g._xp.ones(g.shape, dtype=bool)
    mask[to_key(n.attrs["index"], g._xp)] = False
    return g * Tensor._make(mask, False, None)


def _index_put_args(x: Tensor, key: Any, value: Any) -> Any:
    items = normalize_index(key, x._xp)
    _check(x._st.array.shape, items)
    v = value if isinstance(value, int | float | bool) else as_tensor(value, like=x)
    return (x, v), {"index": items}


INDEX_PUT = defop(
    "index_put",
    _index_put_fwd,
    (_index_put_self_vjp, lambda g, n: apply(INDEX, (g,), {"index": n.attrs["index"]})),
    "IndexPutBackward0",
    promote="common",
    promote_args=(0,),
    arity=1,
    sig="input, index, values",
    prepare=_index_put_args,
    variants=("function",),  # Tensor.__setitem__ runs it in place
    public=False,
    dtypes="any",
    doc="x[index] = values out of place (the in-place form rebinds x to it)",
)
index: Callable[..., Any] = INDEX.fn
index_put: Callable[..., Any] = INDEX_PUT.fn


def _wire_index(x: Tensor, items: Any) -> Any:
    return index(x, _wire_key(items))


def _wire_key(items: Any) -> Any:
    """The wire's index list (docs/api.md) as a key; tensors arrive already resolved."""
    if not isinstance(items, list):
        raise InvalidArgumentError("index: 'index' must be a list of items")
    key: list[Any] = []
    for it in items:
        if isinstance(it, dict) and "array" in it:
            arr = np.asarray(it["array"])
            if arr.dtype.kind not in "biu":
                if arr.size == 0:
                    arr = arr.astype(np.int64)
                else:
                    raise IndexOutOfRangeError(
                        "tensors used as indices must be long, int, byte or bool tensors"
                    )
            key.append({"array": arr})
        elif isinstance(it, dict) and "slice" in it:
            s = list(it["slice"]) + [None] * (3 - len(it["slice"]))
            key.append(slice(*s[:3]))
        else:
            key.append(it)
    return tuple(key)
