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
from ..errors import (
    EngineTypeError,
    IndexOutOfRangeError,
    InvalidArgumentError,
    ShapeMismatchError,
)
from ..shapes import broadcast_shapes, normalize_dim
from ..tensor import Tensor, as_tensor
from .pointwise import where
from .table import Op, defop


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


def _add_at(xp: Any, out: Any, key: Any, values: Any) -> None:
    """``out[key] += values`` unbuffered: repeated indices each add (np.add.at, or CuPy's)."""
    if xp is np:
        np.add.at(out, key, values)
    else:  # pragma: no cover - GPU only
        import cupyx  # type: ignore[import-not-found, unused-ignore]

        cupyx.scatter_add(out, key, values)


def _scatter_fwd(xp: Any, g: Any, index: list[Any], shape: list[int]) -> Any:
    out = xp.zeros(shape, dtype=g.dtype)
    key = to_key(index, xp)
    if any(isinstance(it, dict) and "array" in it for it in index):
        _add_at(xp, out, key, g)
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


def _basic(inputs: Any, attrs: dict[str, Any]) -> bool:
    """Whether ``x[index]`` is basic indexing (ints, slices, None, '...'): a view."""
    return not any(isinstance(it, dict) and "array" in it for it in attrs["index"])


def _index_unview(xp: Any, a: Any, v: Any, index: list[Any]) -> Any:
    out = a.copy(order="K")  # the base keeps its layout
    out[to_key(index, xp)] = v
    return out


INDEX = defop(
    "index",
    _index_fwd,
    (_index_vjp,),
    _grad_fn,
    sig="input, index",
    prepare=_index_args,
    variants=("function", "__getitem__"),
    call=lambda x, index: _wire_index(x, index),
    view=_basic,
    unview=_index_unview,
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
    key = to_key(index, xp)
    try:
        out[key] = v
    except ValueError:
        raise ShapeMismatchError(
            f"shape mismatch: value tensor of shape {list(xp.shape(v))} cannot be broadcast to "
            f"indexing result of shape {list(out[key].shape)}"
        ) from None
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
    wire=("index_put_",),  # x[index] = values, in place, on the wire (index's items)
    call=lambda x, values, index: index_put(x, _wire_key(index), values),
    inplace_call=lambda x, values, index: _setitem(x, _wire_key(index), values),
    dtypes="any",
    doc="x[index] = values: index's items (int64/bool index tensors too), in place on the wire",
)
index: Callable[..., Any] = INDEX.fn
index_put: Callable[..., Any] = INDEX_PUT.fn


def _setitem(x: Tensor, key: Any, values: Any) -> Tensor:
    x[key] = values  # torch's x[key] = values: a copy into a view, or index_put_
    return x


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


# ------------------------------------------- gather, scatter, index_select, masked ops
def _long_index(fn: str, index: Any, what: str = "int32/int64") -> None:
    """torch's index argument checks: a Tensor of an integer dtype."""
    if not isinstance(index, Tensor):
        raise EngineTypeError(
            f"{fn}(): argument 'index' must be Tensor, not {type(index).__name__}"
        )
    if index.dtype.name not in ("int32", "int64"):
        raise InvalidArgumentError(f"{fn}(): Expected dtype {what} for index")


def _grid(xp: Any, idx: Any, dim: int) -> tuple[Any, ...]:
    """A fancy key addressing, for each position p of ``idx``, the element at ``idx[p]`` along
    ``dim`` and at p's own coordinates along every other dim (torch's gather/scatter)."""
    key: list[Any] = []
    for d, size in enumerate(idx.shape):
        if d == dim:
            key.append(idx.astype(np.int64, copy=False))
        else:
            shape = [1] * idx.ndim
            shape[d] = size
            key.append(xp.arange(size).reshape(shape))
    return tuple(key)


def _as_1d(a: Any) -> Any:
    return a.reshape(1) if a.ndim == 0 else a


def _check_along(
    fn: str, shape: tuple[int, ...], idx: Any, dim: int, src: tuple[int, ...] | None = None
) -> None:
    """torch's gather/scatter checks: same ndim, index no larger than self apart from dim
    (and than src), every index within dim's size."""
    ishape = tuple(idx.shape) or (1,)
    shape = shape or (1,)
    if len(ishape) != len(shape) and idx.size:
        what = "input" if fn == "gather" else "self"
        raise InvalidArgumentError(
            f"Index tensor must have the same number of dimensions as {what} tensor"
        )
    big = any(i > s for d, (i, s) in enumerate(zip(ishape, shape, strict=False)) if d != dim)
    if src is not None:
        sshape = src or (1,)
        if big or any(i > s for i, s in zip(ishape, sshape, strict=False)):
            raise InvalidArgumentError(
                f"Expected index {list(ishape)} to be no larger than self {list(shape)} apart "
                f"from dimension {dim} and to be no larger size than src {list(sshape)}"
            )
    elif big:
        at = next(
            d for d, (i, s) in enumerate(zip(ishape, shape, strict=False)) if d != dim and i > s
        )
        raise InvalidArgumentError(
            f"Size does not match at dimension {at} expected index {list(ishape)} to be no "
            f"larger than self {list(shape)} apart from dimension {dim}"
        )
    size = shape[dim]
    if idx.size and (int(idx.min()) < 0 or int(idx.max()) >= size):
        flat = idx.reshape(-1)
        bad = int(flat[(flat < 0) | (flat >= size)][0])  # the first, as torch's loop finds it
        raise InvalidArgumentError(
            f"index {bad} is out of bounds for dimension {dim} with size {size}"
        )


def _gather_fwd(xp: Any, a: Any, idx: Any, dim: int) -> Any:
    out = _as_1d(a)[_grid(xp, _as_1d(idx), dim)]
    return out.reshape(idx.shape)


def _gather_vjp(g: Tensor, n: Any) -> Tensor:
    """Each gathered element's gradient summed back to where it came from (ScatterAdd)."""
    shape = tuple(n.in_meta[0][0])
    idx = n[1]
    zeros = Tensor._make(g._xp.zeros(shape, dtype=g._st.array.dtype), False, None)
    return apply(SCATTER_ADD, (zeros, idx, g), {"dim": n.attrs["dim"]})


def _gather_args(x: Tensor, dim: Any, index: Any, sparse_grad: bool = False) -> Any:
    _long_index("gather", index)
    d = normalize_dim(dim, x.ndim)
    _check_along("gather", tuple(x.shape), index._st.array, d)
    return (x, index), {"dim": d}


GATHER = defop(
    "gather",
    _gather_fwd,
    (_gather_vjp, None),
    "GatherBackward0",
    saves=(1,),
    shape=lambda shapes, at: shapes[1],
    arity=3,
    tensors=1,
    sig="input, dim, index, *, sparse_grad=False",
    prepare=_gather_args,
    dtypes="any",
    doc="input's values along dim at index (an int64 tensor of input's ndim): out[i][j] = "
    "input[index[i][j]][j] for dim 0",
)


def _scatter_fwd_along(xp: Any, a: Any, idx: Any, src: Any, dim: int, add: bool = False) -> Any:
    out = a.copy()
    flat = _as_1d(out)
    i1 = _as_1d(idx)
    key = _grid(xp, i1, dim)
    if isinstance(src, int | float | bool):
        values: Any = xp.asarray(src).astype(a.dtype)
    else:
        s1 = _as_1d(src)
        values = s1[tuple(slice(0, k) for k in i1.shape)]
    if add:
        _add_at(xp, flat, key, xp.broadcast_to(values, i1.shape))
    else:
        flat[key] = values
    return out


def _src_vjp(g: Tensor, n: Any) -> Tensor:
    """src's gradient: the output gradient where src's elements went, as torch's
    ``grad.gather(dim, index)``; a src larger than index fails as torch's engine does."""
    got = apply(GATHER, (g, n[1]), {"dim": n.attrs["dim"]})
    shape = list(n.in_meta[2][0])
    if list(got.shape) != shape:
        raise InvalidArgumentError(
            f"Function {n.fn_name} returned an invalid gradient at index 1 - got "
            f"{list(got.shape)} but expected shape compatible with {shape}"
        )
    return got


def _scatter_args(
    x: Tensor, dim: Any, index: Any, src: Any = None, value: Any = None, add: bool = False
) -> Any:
    fn = "scatter_add" if add else "scatter"
    if src is None and value is None:
        raise EngineTypeError(f"{fn}() missing required argument 'src' or 'value'")
    if add and not isinstance(src, Tensor):
        raise EngineTypeError(
            f"scatter_add(): argument 'src' (position 4) must be Tensor, not {type(src).__name__}"
        )
    if src is None or not isinstance(src, Tensor):
        src = value if src is None else src
        if not isinstance(src, int | float | bool):
            raise EngineTypeError(f"scatter(): argument 'value' must be Number, not {type(src)}")
    _long_index("scatter", index)
    d = normalize_dim(dim, x.ndim)
    if isinstance(src, Tensor):
        if src.dtype is not x.dtype:
            raise InvalidArgumentError("scatter(): Expected self.dtype to be equal to src.dtype")
        _check_along(fn, tuple(x.shape), index._st.array, d, tuple(src.shape))
    else:
        _check_along(fn, tuple(x.shape), index._st.array, d, tuple(x.shape))
    return (x, index, src), {"dim": d}


def _scatter_self_vjp(g: Tensor, n: Any) -> Tensor:
    """input's gradient: zero where scatter overwrote it (torch's grad.scatter(dim, index, 0))."""
    return apply(SCATTER, (g, n[1], 0.0), {"dim": n.attrs["dim"]})


SCATTER: Op = defop(
    "scatter",
    lambda xp, a, idx, src, dim: _scatter_fwd_along(xp, a, idx, src, dim),
    (_scatter_self_vjp, None, _src_vjp),
    lambda ins, at: "ScatterBackward1" if not isinstance(ins[2], Tensor) else "ScatterBackward0",
    saves=(1,),
    arity=4,
    tensors=1,
    sig="input, dim, index, src=None, value=None",
    prepare=_scatter_args,
    variants=("function", "method", "inplace"),
    grad_fns=("ScatterBackward0", "ScatterBackward1"),
    dtypes="any",
    doc="a copy of input with src's values (or the number value) written along dim at index: "
    "out[index[i][j]][j] = src[i][j] for dim 0",
)


def _scatter_add_args(x: Tensor, dim: Any, index: Any, src: Any) -> Any:
    return _scatter_args(x, dim, index, src, add=True)


SCATTER_ADD = defop(
    "scatter_add",
    lambda xp, a, idx, src, dim: _scatter_fwd_along(xp, a, idx, src, dim, add=True),
    (lambda g, n: g, None, _src_vjp),
    "ScatterAddBackward0",
    saves=(1,),
    arity=4,
    tensors=1,
    sig="input, dim, index, src",
    prepare=_scatter_add_args,
    variants=("function", "method", "inplace"),
    dtypes="any",
    doc="a copy of input with src's values added along dim at index (repeats sum): "
    "out[index[i][j]][j] += src[i][j] for dim 0",
)


def _index_select_fwd(xp: Any, a: Any, idx: Any, dim: int) -> Any:
    if a.ndim == 0:
        return a.reshape(1)[idx.reshape(-1)].reshape(() if idx.ndim == 0 else (-1,))
    return xp.take(a, idx.reshape(-1), axis=dim)


def _index_select_vjp(g: Tensor, n: Any) -> Tensor:
    shape = list(n.in_meta[0][0])
    dim = n.attrs["dim"]
    idx = n[1]._st.array.reshape(-1).astype(np.int64)
    if not shape:  # a 0-d input: its single element, picked once per index
        return g.sum()
    items = [{"slice": [None, None, None]}] * dim + [{"array": idx}]
    return apply(INDEX_BACKWARD, (g,), {"index": items, "shape": shape})


def _index_select_shape(shapes: list[tuple[int, ...]], attrs: dict[str, Any]) -> tuple[int, ...]:
    x, idx = shapes
    n = math.prod(idx)
    if not x:
        return () if not idx else (n,)
    return tuple(n if d == attrs["dim"] else s for d, s in enumerate(x))


def _index_select_args(x: Tensor, dim: Any, index: Any) -> Any:
    if not isinstance(index, Tensor):
        raise EngineTypeError(
            f"index_select(): argument 'index' (position 3) must be Tensor, not "
            f"{type(index).__name__}"
        )
    if index.dtype.name not in ("int32", "int64"):
        raise InvalidArgumentError("index_select(): Expected dtype int32 or int64 for index")
    if index.ndim > 1:
        raise IndexOutOfRangeError("index_select(): Index is supposed to be a vector")
    d = normalize_dim(dim, x.ndim)
    arr = index._st.array
    if x.ndim == 0 and arr.size != 1:
        raise InvalidArgumentError(
            f"index_select(): Index to scalar can have only 1 value, got {arr.size} value(s)"
        )
    size = x.shape[d] if x.ndim else 1
    if arr.size and (int(arr.min()) < 0 or int(arr.max()) >= size):
        raise IndexOutOfRangeError("index out of range in self")
    return (x, index), {"dim": d}


INDEX_SELECT = defop(
    "index_select",
    _index_select_fwd,
    (_index_select_vjp, None),
    "IndexSelectBackward0",
    saves=(1,),
    shape=_index_select_shape,
    arity=3,
    tensors=1,
    sig="input, dim, index",
    prepare=_index_select_args,
    dtypes="any",
    doc="the entries of input along dim at index (a 1-d int64 tensor), in that order",
)


def _mask_check(fn: str, mask: Any) -> None:
    if not isinstance(mask, Tensor):
        raise EngineTypeError(
            f"{fn}(): argument 'mask' (position 2) must be Tensor, not {type(mask).__name__}"
        )
    if mask.dtype.name != "bool":
        if fn == "masked_select":
            raise InvalidArgumentError("masked_select: expected BoolTensor for mask")
        raise InvalidArgumentError(
            f"masked_fill_ only supports boolean masks, but got mask with dtype "
            f"{mask.dtype.scalar_name.lower()}"
        )


def _masked_fill_fwd(xp: Any, a: Any, mask: Any, value: Any) -> Any:
    return xp.where(mask, xp.asarray(value).astype(a.dtype), a)


def _masked_fill_args(x: Tensor, mask: Any, value: Any) -> Any:
    _mask_check("masked_fill", mask)
    if isinstance(value, Tensor):
        if value.ndim:
            raise InvalidArgumentError(
                "masked_fill_ only supports a 0-dimensional value tensor, but got tensor with "
                f"{value.ndim} dimension(s)."
            )
    elif not isinstance(value, int | float | bool):
        raise EngineTypeError(
            f"masked_fill(): argument 'value' (position 3) must be Number, not "
            f"{type(value).__name__}"
        )
    broadcast_shapes(mask.shape, x.shape)  # torch's order in its message
    return (x, mask, value), {}


MASKED_FILL = defop(
    "masked_fill",
    _masked_fill_fwd,
    (
        lambda g, n: where(n[1], 0.0, g),
        None,
        lambda g, n: where(n[1], g, 0.0).sum(),
    ),
    lambda ins, at: "MaskedFillBackward1" if isinstance(ins[2], Tensor) else "MaskedFillBackward0",
    saves=(1,),
    arity=3,
    tensors=1,
    sig="input, mask, value",
    prepare=_masked_fill_args,
    shape=lambda shapes, at: broadcast_shapes(shapes[0], shapes[1]),
    variants=("function", "method", "inplace"),
    grad_fns=("MaskedFillBackward0", "MaskedFillBackward1"),
    dtypes="any",
    result="keep",
    doc="input with value (a number or a 0-d tensor) where mask (bool, broadcast) is True",
)


def _masked_select_fwd(xp: Any, a: Any, mask: Any) -> Any:
    shape = np.broadcast_shapes(a.shape, mask.shape)
    return xp.broadcast_to(a, shape)[xp.broadcast_to(mask, shape)]


def _masked_select_vjp(g: Tensor, n: Any) -> Tensor:
    mask = n[1]._st.array
    shape = np.broadcast_shapes(tuple(n.in_meta[0][0]), mask.shape)
    items = [{"array": g._xp.broadcast_to(mask, shape)}]
    return apply(INDEX_BACKWARD, (g,), {"index": items, "shape": list(shape)})


def _masked_select_args(x: Tensor, mask: Any) -> Any:
    _mask_check("masked_select", mask)
    broadcast_shapes(x.shape, mask.shape)
    return (x, mask), {}


MASKED_SELECT = defop(
    "masked_select",
    _masked_select_fwd,
    (_masked_select_vjp, None),
    "MaskedSelectBackward0",
    saves=(1,),
    arity=2,
    tensors=1,
    sig="input, mask",
    prepare=_masked_select_args,
    value_shaped=True,
    # at most the broadcast of input and mask: what the element limit and budget see
    shape=lambda shapes, at: broadcast_shapes(shapes[0], shapes[1]),
    dtypes="any",
    doc="input's elements where mask (bool, broadcast with input) is True, as a 1-d tensor",
)
