"""Shape ops: reshape/view, transpose/permute, squeeze/unsqueeze, expand, cat/stack, clone,
narrow/split/chunk (pieces along a dim), repeat, flip, roll, tril/triu.

``sum_to_size`` is the one place that undoes broadcasting; its VJP is ``expand``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..autograd import apply
from ..errors import IndexOutOfRangeError, InvalidArgumentError, ShapeMismatchError
from ..shapes import as_size, normalize_dim, normalize_dims, numel, reshape_shape
from ..tensor import Tensor, as_tensor, multi_output
from .indexing import INDEX_BACKWARD
from .table import defop


def _size(shape: Any) -> list[int]:
    """A size given as torch takes it: ``(2, 3)``, ``((2, 3),)``, ``[2, 3]`` or ``6``."""
    return list(as_size(tuple(shape) if isinstance(shape, tuple | list) else (shape,)))


def _in_shape(n: Any, i: int = 0) -> tuple[int, ...]:
    return tuple(n.in_meta[i][0])


# ------------------------------------------------------------------- reshape
def _reshape_grad_fn(ins: Any, attrs: dict[str, Any]) -> str:
    return "ViewBackward0" if ins[0]._st.array.flags.c_contiguous else "UnsafeViewBackward0"


def _reshape_args(x: Tensor, shape: Any) -> Any:
    return (x,), {"shape": list(reshape_shape(x._st.array.shape, _size(shape)))}


def _view_args(x: Tensor, shape: Any) -> Any:
    target = reshape_shape(x._st.array.shape, _size(shape))
    if not x._st.array.flags.c_contiguous and x.numel() > 1 and target != x._st.array.shape:
        raise InvalidArgumentError(
            "view size is not compatible with input tensor's size and stride (at least one "
            "dimension spans across two contiguous subspaces). Use .reshape(...) instead."
        )
    return (x,), {"shape": list(target)}


def _reshape_unview(xp: Any, a: Any, v: Any, **attrs: Any) -> Any:
    """A reshape-like view's values written back: the same elements in the base's shape."""
    return v.reshape(a.shape)


_RESHAPE = {
    "shape": lambda shapes, at: reshape_shape(shapes[0], at["shape"]),
    "sig": "input, shape",
    "method_sig": "*shape",
    "dtypes": "any",
}
RESHAPE = defop(
    "reshape",
    lambda xp, a, shape: xp.reshape(a, shape),
    (lambda g, n: g.reshape(_in_shape(n)),),
    _reshape_grad_fn,
    grad_fns=("ViewBackward0", "UnsafeViewBackward0"),
    prepare=_reshape_args,
    view=lambda ins, at: _reshape_grad_fn(ins, at) == "ViewBackward0",  # as torch: if it can
    unview=_reshape_unview,
    doc="the same elements in a new shape (one dim may be -1)",
    **_RESHAPE,
)
VIEW = defop(
    "view",
    lambda xp, a, shape: xp.reshape(a, shape),
    (lambda g, n: g.reshape(_in_shape(n)),),
    "ViewBackward0",
    public=False,
    prepare=_view_args,
    view=True,
    unview=_reshape_unview,
    doc="reshape of a contiguous tensor (torch's view rules)",
    **_RESHAPE,
)


def _flatten(x: Tensor, start_dim: int, end_dim: int) -> Tensor:
    if x.ndim == 0:
        return x.reshape(1)
    s = normalize_dim(start_dim, x.ndim)
    e = normalize_dim(end_dim, x.ndim)
    if s > e:
        raise InvalidArgumentError(
            "flatten() has invalid args: start_dim cannot come after end_dim"
        )
    shape = x._st.array.shape
    if s == e:
        return x
    return x.reshape(*shape[:s], numel(shape[s : e + 1]), *shape[e + 1 :])


FLATTEN = defop(
    "flatten",
    None,
    None,
    _reshape_grad_fn,
    sig="input, start_dim=0, end_dim=-1",
    prepare=_flatten,
    grad_fns=("ViewBackward0", "UnsafeViewBackward0"),
    dtypes="any",
    doc="dims start_dim..end_dim merged into one (a reshape)",
)


# ------------------------------------------------------------------ permute
def _inverse(perm: list[int]) -> list[int]:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return inv


def _permute_args(x: Tensor, dims: Any) -> Any:
    d = _size(dims)
    if len(d) != x.ndim:
        raise InvalidArgumentError(
            "permute(sparse_coo): number of dimensions in the tensor input does not match the "
            f"length of the desired ordering of dimensions i.e. input.dim() = {x.ndim} is not "
            f"equal to len(dims) = {len(d)}"
        )
    nd = [normalize_dim(i, x.ndim) for i in d]
    if len(set(nd)) != len(nd):
        raise InvalidArgumentError("permute(): duplicate dims are not allowed.")
    return (x,), {"dims": nd}


PERMUTE = defop(
    "permute",
    lambda xp, a, dims: xp.transpose(a, dims),
    (lambda g, n: g.permute(*_inverse(n.attrs["dims"])),),
    "PermuteBackward0",
    sig="input, dims",
    method_sig="*dims",
    prepare=_permute_args,
    view=True,
    unview=lambda xp, a, v, dims: xp.transpose(v, _inverse(dims)),
    dtypes="any",
    doc="the dims reordered as dims says",
)


def _transpose_args(x: Tensor, dim0: int, dim1: int) -> Any:
    if x.ndim == 0:
        return ((x,), {"dim0": 0, "dim1": 0}) if x.requires_grad else x
    return (x,), {"dim0": normalize_dim(dim0, x.ndim), "dim1": normalize_dim(dim1, x.ndim)}


TRANSPOSE = defop(
    "transpose",
    # a 0-d tensor transposes to itself (torch allows dims 0 and -1 there)
    lambda xp, a, dim0, dim1, t=False: xp.swapaxes(a, dim0, dim1) if a.ndim else a,
    (lambda g, n: g.transpose(n.attrs["dim0"], n.attrs["dim1"]),),
    lambda ins, at: "TBackward0" if at.get("t") else "TransposeBackward0",
    sig="input, dim0, dim1",
    prepare=_transpose_args,
    view=True,
    unview=lambda xp, a, v, dim0, dim1, t=False: xp.swapaxes(v, dim0, dim1) if v.ndim else v,
    grad_fns=("TransposeBackward0", "TBackward0"),
    dtypes="any",
    doc="dims dim0 and dim1 swapped",
)


def _t_args(x: Tensor) -> Any:
    if x.ndim > 2:
        raise InvalidArgumentError(
            f"t() expects a tensor with <= 2 dimensions, but self is {x.ndim}D"
        )
    return apply(TRANSPOSE, (x,), {"dim0": 0, "dim1": 1 if x.ndim == 2 else 0, "t": True})


MATRIX_T = defop(
    "t",
    None,
    None,
    "TBackward0",
    prepare=_t_args,
    dtypes="any",
    doc="the transpose of a matrix (a 0-d or 1-d tensor as it is)",
)


# ----------------------------------------------------------- squeeze family
def _squeeze_fwd(xp: Any, a: Any, dim: Any = None) -> Any:
    if dim is None:
        return xp.squeeze(a)
    axes = tuple(d for d in dim if a.shape[d] == 1)
    return xp.squeeze(a, axis=axes) if axes else a


def _squeeze_grad_fn(ins: Any, attrs: dict[str, Any]) -> str:
    if attrs.get("dim") is None:
        return "SqueezeBackward0"
    return "SqueezeBackward2" if attrs.get("dims_form") else "SqueezeBackward1"


def _squeeze_args(x: Tensor, dim: Any) -> Any:
    if dim is None:
        return (x,), {}
    tuple_form = isinstance(dim, list | tuple)
    dims = list(normalize_dims(dim, x.ndim))
    return (x,), {"dim": dims, **({"dims_form": True} if tuple_form else {})}


SQUEEZE = defop(
    "squeeze",
    lambda xp, a, dim=None, dims_form=False: _squeeze_fwd(xp, a, dim),
    (lambda g, n: g.reshape(_in_shape(n)),),
    _squeeze_grad_fn,
    sig="input, dim=None",
    prepare=_squeeze_args,
    view=True,
    unview=_reshape_unview,
    grad_fns=("SqueezeBackward0", "SqueezeBackward1", "SqueezeBackward2"),
    dtypes="any",
    doc="size-1 dims removed (all of them, or those among dim)",
)
UNSQUEEZE = defop(
    "unsqueeze",
    lambda xp, a, dim: xp.expand_dims(a, dim),
    (lambda g, n: g.squeeze(n.attrs["dim"]),),
    "UnsqueezeBackward0",
    sig="input, dim",
    prepare=lambda x, dim: ((x,), {"dim": normalize_dim(dim, x.ndim + 1)}),
    view=True,
    unview=_reshape_unview,
    dtypes="any",
    doc="a size-1 dim inserted at dim",
)


# ------------------------------------------------------ expand and sum_to
def _expand_shape(
    shape: tuple[int, ...], size: list[int], type_name: str = "torch.FloatTensor"
) -> tuple[int, ...]:
    if len(size) < len(shape):
        raise ShapeMismatchError(
            f"expand({type_name}{{{list(shape)}}}, size={size}): the number of sizes "
            f"provided ({len(size)}) must be greater or equal to the number of dimensions in "
            f"the tensor ({len(shape)})"
        )
    off = len(size) - len(shape)
    out = []
    for i, s in enumerate(size):
        cur = shape[i - off] if i >= off else None
        if s == -1:
            if cur is None:
                raise InvalidArgumentError(
                    f"The expanded size of the tensor (-1) isn't allowed in a leading, "
                    f"non-existing dimension {i}"
                )
            s = cur
        elif s < 0:
            raise InvalidArgumentError(f"invalid shape dimension {s}")
        elif cur is not None and cur != 1 and cur != s:
            raise ShapeMismatchError(
                f"The expanded size of the tensor ({s}) must match the existing size ({cur}) "
                f"at non-singleton dimension {i}.  Target sizes: {size}.  Tensor sizes: "
                f"{list(shape)}"
            )
        out.append(int(s))
    return tuple(out)


def _expand_args(x: Tensor, size: Any) -> Any:
    target = _expand_shape(x._st.array.shape, _size(size), x.dtype.tensor_type)
    return (x,), {"size": list(target)}


EXPAND = defop(
    "expand",
    lambda xp, a, size: xp.broadcast_to(a, size),
    (lambda g, n: g.sum_to_size(_in_shape(n)),),
    "ExpandBackward0",
    shape=lambda shapes, at: _expand_shape(tuple(shapes[0]), list(at["size"])),
    sig="input, size",
    method_sig="*size",
    prepare=_expand_args,
    view=True,  # written back through its index map: torch's error where elements repeat
    dtypes="any",
    doc="size-1 dims repeated (without copying) to size; -1 keeps a dim",
)
BROADCAST_TO = defop(
    "broadcast_to",
    None,
    None,
    "ExpandBackward0",
    sig="input, size",
    prepare=lambda x, size: EXPAND.fn(x, size),
    public=False,
    dtypes="any",
    doc="expand to size (torch.broadcast_to)",
)
EXPAND_AS = defop(
    "expand_as",
    None,
    None,
    "ExpandBackward0",
    sig="input, other",
    prepare=lambda x, other: EXPAND.fn(x, other.shape),
    public=False,
    dtypes="any",
    doc="expand to other's shape",
)


def _sum_to_fwd(xp: Any, a: Any, size: Any) -> Any:
    lead = a.ndim - len(size)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(size) if s == 1 and a.shape[lead + i] != 1
    )
    out = xp.sum(a, axis=axes, keepdims=True) if axes else a
    return out.reshape(size)


def _sum_to_args(x: Tensor, size: Any) -> Any:
    target = tuple(_size(size))
    if tuple(x._st.array.shape) == target:
        return x
    return (x,), {"size": list(target)}


SUM_TO = defop(
    "sum_to_size",
    _sum_to_fwd,
    (lambda g, n: g.expand(*_in_shape(n)),),
    "SumBackward1",
    sig="input, size",
    method_sig="*size",
    prepare=_sum_to_args,
    public=False,
    dtypes="any",
    doc="summed over broadcast dims back to size (undoes expand)",
)


# -------------------------------------------------------------- cat / stack
def _cat_vjp(g: Tensor, n: Any, i: int) -> Tensor:
    dim = n.attrs["dim"]
    start = sum(n.in_meta[j][0][dim] for j in range(i))
    stop = start + n.in_meta[i][0][dim]
    key: list[Any] = [slice(None)] * g.ndim
    key[dim] = slice(start, stop)
    return g[tuple(key)]


def _cat_shape(shapes: list[tuple[int, ...]], attrs: dict[str, Any]) -> tuple[int, ...]:
    dim = attrs["dim"]
    shapes = [s for s in shapes if tuple(s) != (0,)]  # torch skips legacy empty tensors
    if not shapes:
        return (0,)
    first = list(shapes[0])
    for k, s in enumerate(shapes[1:], 1):
        if len(s) != len(first):
            raise ShapeMismatchError(
                f"Tensors must have same number of dimensions: got {len(first)} and {len(s)}"
            )
        for d, (a, b) in enumerate(zip(first, s, strict=True)):
            if d != dim and a != b:
                raise ShapeMismatchError(
                    f"Sizes of tensors must match except in dimension {dim}. Expected size {a} "
                    f"but got size {b} for tensor number {k} in the list."
                )
    first[dim] = sum(s[dim] for s in shapes)
    return tuple(first)


def _cat_check(inputs: Any, attrs: dict[str, Any]) -> None:
    _cat_shape([x._st.array.shape for x in inputs], attrs)


CAT = defop(
    "cat",
    lambda xp, *arrays, dim=0: xp.concatenate(
        [a for a in arrays if a.shape != (0,)] or [arrays[0]], axis=dim
    ),
    _cat_vjp,
    "CatBackward0",
    promote="common",
    shape=_cat_shape,
    check=_cat_check,
    arity=None,
    sig="tensors, dim=0",
    prepare=lambda tensors, dim: _list_args(tensors, dim, "cat"),
    variants=("function",),
    dtypes="any",
    doc="tensors joined along an existing dim",
)


def _list_args(tensors: Any, dim: int, fname: str) -> Any:
    if isinstance(tensors, Tensor) or not isinstance(tensors, list | tuple):
        raise InvalidArgumentError(
            f"{fname}(): argument 'tensors' must be tuple of Tensors, not {type(tensors).__name__}"
        )
    if not tensors:
        raise InvalidArgumentError(f"{fname}(): expected a non-empty list of Tensors")
    ts = tuple(as_tensor(x) for x in tensors)
    if fname == "stack":
        return ts, {"dim": normalize_dim(dim, ts[0].ndim + 1)}
    ref = next((x for x in ts if x._st.array.shape != (0,)), ts[0])
    return ts, {"dim": normalize_dim(dim, ref.ndim)}


def _stack_check(inputs: Any, attrs: dict[str, Any]) -> None:
    first = inputs[0]._st.array.shape
    for k, x in enumerate(inputs[1:], 1):
        if x._st.array.shape != first:
            raise ShapeMismatchError(
                f"stack expects each tensor to be equal size, but got {list(first)} at entry 0 "
                f"and {list(x._st.array.shape)} at entry {k}"
            )


STACK = defop(
    "stack",
    lambda xp, *arrays, dim=0: xp.stack(arrays, axis=dim),
    lambda g, n, i: g.select(n.attrs["dim"], i),
    "StackBackward0",
    promote="common",
    shape=lambda shapes, at: (
        tuple(shapes[0][: at["dim"]]) + (len(shapes),) + tuple(shapes[0][at["dim"] :])
    ),
    check=_stack_check,
    arity=None,
    sig="tensors, dim=0",
    prepare=lambda tensors, dim: _list_args(tensors, dim, "stack"),
    variants=("function",),
    dtypes="any",
    doc="tensors of one shape joined along a new dim",
)

CLONE = defop(
    "clone",
    lambda xp, a: a.copy(),
    (lambda g, n: g,),
    "CloneBackward0",
    dtypes="any",
    doc="a copy (the gradient flows through)",
)
DETACH = defop(
    "detach",
    None,
    None,
    "",
    differentiable=False,
    dtypes="any",
    prepare=lambda x: x.detach(),
    variants=(),  # Tensor.detach is the tensor's own
    doc="the same values outside the graph (shares storage)",
)


def _grad_of(x: Tensor) -> Tensor:
    g = x._grad  # as stored: a non-leaf's retained .grad too, without torch's warning
    if g is None:
        raise InvalidArgumentError("the tensor has no .grad")
    return g


GRAD_OF = defop(
    "grad_of",
    None,
    None,
    "",
    differentiable=False,
    dtypes="any",
    prepare=_grad_of,
    variants=(),  # torch's w.grad; on the wire, to use it in a graph
    doc="the current .grad of a tensor itself (torch's w.grad); an error when it has none",
)


def _select(x: Tensor, dim: int, index: int) -> Any:
    key: list[Any] = [slice(None)] * x.ndim
    key[normalize_dim(dim, x.ndim)] = index
    return x[tuple(key)]


SELECT = defop(
    "select",
    None,
    None,
    "SelectBackward0",
    sig="input, dim, index",
    prepare=_select,
    public=False,
    dtypes="any",
    doc="the slice at index along dim (that dim removed)",
)


# ---------------------------------------------------- narrow, split, chunk
def _int_arg(v: Any) -> int:
    """An int argument that torch also takes as a 0-d (or one-element) integer tensor."""
    if isinstance(v, Tensor) and v.numel() == 1 and not v.dtype.is_floating_point:
        return int(v.item())
    return int(v)


def _narrow_fwd(xp: Any, a: Any, dim: int, start: int, length: int, via: str = "") -> Any:
    return a[(slice(None),) * dim + (slice(start, start + length),)]


def _narrow_vjp(g: Any, n: Any) -> Any:
    """Zeros of the input's shape holding ``g`` where narrow took it."""
    at, shape = n.attrs, _in_shape(n)
    if isinstance(g, Tensor):  # differentiable: a scatter node (its own VJP slices again)
        whole: dict[str, Any] = {"slice": [None, None, None]}
        index = [whole] * at["dim"] + [{"slice": [at["start"], at["start"] + at["length"], None]}]
        return apply(INDEX_BACKWARD, (g,), {"index": index, "shape": list(shape)})
    out = np.zeros_like(g, shape=shape)  # raw: a new array, the same values
    out[(slice(None),) * at["dim"] + (slice(at["start"], at["start"] + at["length"]),)] = g
    return out


_PIECE_GRAD_FN = {
    "": "SliceBackward0",
    "split": "SplitBackward0",
    "sizes": "SplitWithSizesBackward0",
}


def _piece(x: Tensor, dim: int, start: int, length: int, via: str = "") -> Tensor:
    attrs = {"dim": dim, "start": start, "length": length, **({"via": via} if via else {})}
    out: Tensor = apply(NARROW, (x,), attrs)
    return out


def _narrow_unview(xp: Any, a: Any, v: Any, dim: int, start: int, length: int, **_: Any) -> Any:
    out = a.copy(order="K")  # the base keeps its layout
    out[(slice(None),) * dim + (slice(start, start + length),)] = v
    return out


def _narrow_args(x: Tensor, dim: Any, start: Any, length: Any) -> Any:
    if x.ndim == 0:
        raise InvalidArgumentError("narrow() cannot be applied to a 0-dim tensor.")
    d = normalize_dim(dim, x.ndim)
    s, n = _int_arg(start), _int_arg(length)
    if n < 0:
        raise InvalidArgumentError("narrow(): length must be non-negative.")
    size = x._st.array.shape[d]
    if not -size <= s <= size:
        raise IndexOutOfRangeError(
            f"start out of range (expected to be in range of [{-size}, {size}], but got {s})"
        )
    s = s + size if s < 0 else s
    if s + n > size:
        raise InvalidArgumentError(f"start ({s}) + length ({n}) exceeds dimension size ({size}).")
    return (x,), {"dim": d, "start": s, "length": n}


NARROW = defop(
    "narrow",
    _narrow_fwd,
    (_narrow_vjp,),
    lambda ins, at: _PIECE_GRAD_FN[at.get("via", "")],
    grad_fns=("SliceBackward0",),
    shape=lambda shapes, at: tuple(
        at["length"] if i == at["dim"] else s for i, s in enumerate(shapes[0])
    ),
    sig="input, dim, start, length",
    prepare=_narrow_args,
    view=True,
    unview=_narrow_unview,
    dtypes="any",
    raw=True,
    doc="the elements start..start+length along dim (torch.narrow)",
)


def _split_dim(x: Tensor, dim: Any) -> int:
    if x.ndim == 0:
        raise InvalidArgumentError("split expects at least a 1-dimensional tensor")
    return normalize_dim(dim, x.ndim)


def _pieces(x: Tensor, dim: int, sizes: list[int], via: str) -> tuple[Tensor, ...]:
    out, start = [], 0
    for n in sizes:
        out.append(_piece(x, dim, start, n, via))
        start += n
    multi_output(out, _PIECE_GRAD_FN[via])  # views of one function: in place, torch's error
    return tuple(out)


def _split_even(x: Tensor, split_size: int, dim: int) -> tuple[Tensor, ...]:
    size = x._st.array.shape[dim]
    if split_size < 0:
        raise InvalidArgumentError(
            f"split expects split_size be non-negative, but got split_size={split_size}"
        )
    if split_size == 0 and size != 0:
        raise InvalidArgumentError(
            f"split_size can only be 0 if dimension size is 0, but got dimension size of {size}"
        )
    count = max(1, -(-size // split_size)) if split_size else 1
    sizes = [split_size] * (count - 1) + [size - split_size * (count - 1)]
    return _pieces(x, dim, sizes, "split")


def _split_args(x: Tensor, split_size_or_sections: Any, dim: Any) -> tuple[Tensor, ...]:
    d = _split_dim(x, dim)
    if not isinstance(split_size_or_sections, list | tuple):
        return _split_even(x, _int_arg(split_size_or_sections), d)
    sizes = [_int_arg(s) for s in split_size_or_sections]
    size = x._st.array.shape[d]
    if any(s < 0 for s in sizes):
        raise InvalidArgumentError(
            "split_with_sizes expects split_sizes have only non-negative entries, but got "
            f"split_sizes={sizes}"
        )
    if sum(sizes) != size:
        raise InvalidArgumentError(
            f"split_with_sizes expects split_sizes to sum exactly to {size} (input tensor's "
            f"size at dimension {d}), but got split_sizes={sizes}"
        )
    return _pieces(x, d, sizes, "sizes")


SPLIT = defop(
    "split",
    None,
    None,
    "SplitBackward0",
    grad_fns=("SplitBackward0", "SplitWithSizesBackward0"),
    sig="tensor, split_size_or_sections, dim=0",
    method_sig="split_size, dim=0",
    prepare=_split_args,
    parts=True,
    dtypes="any",
    doc="a tuple of pieces along dim: of split_size elements each (the last may be "
    "smaller), or of the sizes in a list",
)


def _chunk_args(x: Tensor, chunks: Any, dim: Any) -> tuple[Tensor, ...]:
    n = _int_arg(chunks)
    if x.ndim == 0:
        raise InvalidArgumentError("chunk expects at least a 1-dimensional tensor")
    if n <= 0:
        raise InvalidArgumentError(f"chunk expects `chunks` to be greater than 0, got: {n}")
    d = normalize_dim(dim, x.ndim)
    size = x._st.array.shape[d]
    if size == 0:  # as torch: chunks empty pieces
        return _pieces(x, d, [0] * n, "sizes")
    return _split_even(x, -(-size // n), d)


CHUNK = defop(
    "chunk",
    None,
    None,
    "SplitBackward0",
    grad_fns=("SplitBackward0", "SplitWithSizesBackward0"),
    sig="input, chunks, dim=0",
    prepare=_chunk_args,
    parts=True,
    dtypes="any",
    doc="a tuple of at most chunks pieces of equal size along dim (the last may be smaller)",
)


# ----------------------------------------------------------- repeat, flip, roll
def _repeat_vjp(g: Any, n: Any) -> Any:
    reps = n.attrs["repeats"]
    shape = _in_shape(n)
    if not reps:
        return g
    padded = (1,) * (len(reps) - len(shape)) + shape
    pairs: list[int] = []
    for r, s in zip(reps, padded, strict=True):
        pairs += [r, s]
    summed = g.reshape(tuple(pairs)).sum(tuple(range(0, len(pairs), 2)))
    return summed.reshape(shape)


def _repeat_args(x: Tensor, repeats: Any) -> Any:
    reps = _size(repeats)
    shape = x._st.array.shape
    if len(reps) < len(shape):
        raise InvalidArgumentError(
            "Number of dimensions of repeat dims can not be smaller than number of dimensions "
            "of tensor"
        )
    padded = (1,) * (len(reps) - len(shape)) + tuple(shape)
    out = [r * s for r, s in zip(reps, padded, strict=True)]
    neg = [s for s in out if s < 0]
    if neg:
        raise InvalidArgumentError(
            f"Trying to create tensor with negative dimension {neg[0]}: {out}"
        )
    return (x,), {"repeats": reps}


REPEAT = defop(
    "repeat",
    lambda xp, a, repeats: xp.tile(a, tuple(repeats)),
    (_repeat_vjp,),
    "RepeatBackward0",
    shape=lambda shapes, at: tuple(
        r * s
        for r, s in zip(
            at["repeats"],
            (1,) * (len(at["repeats"]) - len(shapes[0])) + tuple(shapes[0]),
            strict=True,
        )
    ),
    sig="input, repeats",
    method_sig="*repeats",
    variants=("method",),
    prepare=_repeat_args,
    dtypes="any",
    raw=True,
    doc="the tensor tiled: repeats[i] copies along dim i (leading repeats add dims)",
)


def _flip_args(x: Tensor, dims: Any) -> Any:
    ds = [normalize_dim(d, x.ndim) for d in _size(dims)]
    for d in ds:
        if ds.count(d) > 1:
            raise InvalidArgumentError(f"dim {d} appears multiple times in the list of dims")
    return (x,), {"dims": ds}


FLIP = defop(
    "flip",
    lambda xp, a, dims: xp.flip(a, axis=tuple(dims)) if a.ndim else a,
    (lambda g, n: n.F.flip(g, n.attrs["dims"]),),
    "FlipBackward0",
    sig="input, dims",
    method_sig="*dims",
    prepare=_flip_args,
    dtypes="any",
    raw=True,
    doc="the order of the elements reversed along each of dims",
)


def _roll_fwd(xp: Any, a: Any, shifts: list[int], dims: list[int] | None = None) -> Any:
    if dims is None:
        return xp.roll(a, shifts[0])
    return xp.roll(a, tuple(shifts), axis=tuple(dims))


def _roll_vjp(g: Any, n: Any) -> Any:
    back = [-s for s in n.attrs["shifts"]]
    return n.F.roll(g, back, n.attrs.get("dims"))


def _roll_args(x: Tensor, shifts: Any, dims: Any) -> Any:
    sh = [_int_arg(s) for s in shifts] if isinstance(shifts, list | tuple) else [_int_arg(shifts)]
    if not sh:
        raise InvalidArgumentError("`shifts` required")
    if dims is None:
        if len(sh) != 1:
            raise InvalidArgumentError(
                f"shifts and dimensions must align. shifts: {len(sh)}, dims:0"
            )
        return (x,), {"shifts": sh}
    ds = list(dims) if isinstance(dims, list | tuple) else [dims]
    if len(sh) != len(ds):
        raise InvalidArgumentError(
            f"shifts and dimensions must align. shifts: {len(sh)}, dims:{len(ds)}"
        )
    return (x,), {"shifts": sh, "dims": [normalize_dim(d, x.ndim) for d in ds]}


ROLL = defop(
    "roll",
    _roll_fwd,
    (_roll_vjp,),
    "RollBackward0",
    sig="input, shifts, dims=None",
    prepare=_roll_args,
    dtypes="any",
    raw=True,
    doc="the elements shifted cyclically along dims (of the flattened tensor without dims)",
)


def _triangle(name: str) -> Any:
    def prepare(x: Tensor, diagonal: Any) -> Any:
        if x.ndim < 2:
            raise InvalidArgumentError(f"{name}: input tensor must have at least 2 dimensions")
        k = _int_arg(diagonal)
        return (x,), ({"diagonal": k} if k else {})

    def vjp(g: Any, n: Any) -> Any:
        return getattr(n.F, name)(g, n.attrs.get("diagonal", 0))

    return defop(
        name,
        lambda xp, a, diagonal=0: getattr(xp, name)(a, diagonal),
        (vjp,),
        f"{name.capitalize()}Backward0",
        sig="input, diagonal=0",
        variants=("function", "method", "inplace"),
        prepare=prepare,
        dtypes="any",
        raw=True,
        doc=f"the {'lower' if name == 'tril' else 'upper'} triangle of the last two dims "
        f"(diagonal {'and below' if name == 'tril' else 'and above'}), others zero",
    )


TRIL = _triangle("tril")
TRIU = _triangle("triu")
