"""Shape ops: reshape/view, transpose/permute, squeeze/unsqueeze, expand, cat/stack, clone.

``sum_to_size`` is the one place that undoes broadcasting; its VJP is ``expand``.
"""

from __future__ import annotations

from typing import Any

from ..autograd import apply
from ..errors import InvalidArgumentError, ShapeMismatchError
from ..shapes import as_size, normalize_dim, normalize_dims, numel, reshape_shape
from ..tensor import Tensor
from . import defop


def _in_shape(n: Any, i: int = 0) -> tuple[int, ...]:
    return tuple(n.in_meta[i][0])


# ------------------------------------------------------------------- reshape
def _reshape_grad_fn(ins: Any, attrs: dict[str, Any]) -> str:
    return "ViewBackward0" if ins[0]._st.array.flags.c_contiguous else "UnsafeViewBackward0"


RESHAPE = defop(
    "reshape",
    lambda xp, a, shape: xp.reshape(a, shape),
    (lambda g, n: g.reshape(_in_shape(n)),),
    _reshape_grad_fn,
    shape=lambda shapes, at: reshape_shape(shapes[0], at["shape"]),
    kwargs={"shape": None},
    grad_fns=("ViewBackward0", "UnsafeViewBackward0"),
    dtypes="any",
)
VIEW = defop(
    "view",
    lambda xp, a, shape: xp.reshape(a, shape),
    (lambda g, n: g.reshape(_in_shape(n)),),
    "ViewBackward0",
    shape=lambda shapes, at: reshape_shape(shapes[0], at["shape"]),
    kwargs={"shape": None},
    dtypes="any",
    public=False,
)
FLATTEN = defop(
    "flatten",
    None,
    None,
    _reshape_grad_fn,
    kwargs={"start_dim": 0, "end_dim": -1},
    grad_fns=("ViewBackward0", "UnsafeViewBackward0"),
    dtypes="any",
)


# ------------------------------------------------------------------ permute
def _inverse(perm: list[int]) -> list[int]:
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return inv


PERMUTE = defop(
    "permute",
    lambda xp, a, dims: xp.transpose(a, dims),
    (lambda g, n: g.permute(*_inverse(n.attrs["dims"])),),
    "PermuteBackward0",
    kwargs={"dims": None},
    dtypes="any",
)
TRANSPOSE = defop(
    "transpose",
    # a 0-d tensor transposes to itself (torch allows dims 0 and -1 there)
    lambda xp, a, dim0, dim1, t=False: xp.swapaxes(a, dim0, dim1) if a.ndim else a,
    (lambda g, n: g.transpose(n.attrs["dim0"], n.attrs["dim1"]),),
    lambda ins, at: "TBackward0" if at.get("t") else "TransposeBackward0",
    kwargs={"dim0": 0, "dim1": 1},
    grad_fns=("TransposeBackward0", "TBackward0"),
    dtypes="any",
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


SQUEEZE = defop(
    "squeeze",
    lambda xp, a, dim=None, dims_form=False: _squeeze_fwd(xp, a, dim),
    (lambda g, n: g.reshape(_in_shape(n)),),
    _squeeze_grad_fn,
    kwargs={"dim": None},
    grad_fns=("SqueezeBackward0", "SqueezeBackward1", "SqueezeBackward2"),
    dtypes="any",
)
UNSQUEEZE = defop(
    "unsqueeze",
    lambda xp, a, dim: xp.expand_dims(a, dim),
    (lambda g, n: g.squeeze(n.attrs["dim"]),),
    "UnsqueezeBackward0",
    kwargs={"dim": None},
    dtypes="any",
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


EXPAND = defop(
    "expand",
    lambda xp, a, size: xp.broadcast_to(a, size),
    (lambda g, n: g.sum_to_size(_in_shape(n)),),
    "ExpandBackward0",
    shape=lambda shapes, at: _expand_shape(tuple(shapes[0]), list(at["size"])),
    kwargs={"size": None},
    dtypes="any",
)


def _sum_to_fwd(xp: Any, a: Any, size: Any) -> Any:
    lead = a.ndim - len(size)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(size) if s == 1 and a.shape[lead + i] != 1
    )
    out = xp.sum(a, axis=axes, keepdims=True) if axes else a
    return out.reshape(size)


SUM_TO = defop(
    "sum_to_size",
    _sum_to_fwd,
    (lambda g, n: g.expand(*_in_shape(n)),),
    "SumBackward1",
    kwargs={"size": None},
    public=False,
    dtypes="any",
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
    kwargs={"dim": 0},
    dtypes="any",
)


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
    kwargs={"dim": 0},
    dtypes="any",
)

CLONE = defop(
    "clone",
    lambda xp, a: a.copy(),
    (lambda g, n: g,),
    "CloneBackward0",
    dtypes="any",
)
DETACH = defop(
    "detach",
    None,
    None,
    "",
    differentiable=False,
    dtypes="any",
    call=lambda x: x.detach(),
)


# -------------------------------------------------------------- functional API
def reshape(x: Tensor, *shape: Any) -> Tensor:
    size = list(as_size(shape))
    target = reshape_shape(x._st.array.shape, size)
    return apply(RESHAPE, (x,), {"shape": list(target)})


def view(x: Tensor, *shape: Any) -> Tensor:
    size = list(as_size(shape))
    target = reshape_shape(x._st.array.shape, size)
    if not x._st.array.flags.c_contiguous and x.numel() > 1 and target != x._st.array.shape:
        raise InvalidArgumentError(
            "view size is not compatible with input tensor's size and stride (at least one "
            "dimension spans across two contiguous subspaces). Use .reshape(...) instead."
        )
    return apply(VIEW, (x,), {"shape": list(target)})


def flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    if x.ndim == 0:
        return reshape(x, 1)
    s = normalize_dim(start_dim, x.ndim)
    e = normalize_dim(end_dim, x.ndim)
    if s > e:
        raise InvalidArgumentError(
            "flatten() has invalid args: start_dim cannot come after end_dim"
        )
    shape = x._st.array.shape
    if s == e:
        return x
    return reshape(x, *shape[:s], numel(shape[s : e + 1]), *shape[e + 1 :])


def permute(x: Tensor, *dims: Any) -> Tensor:
    d = list(as_size(dims))
    if len(d) != x.ndim:
        raise InvalidArgumentError(
            "permute(sparse_coo): number of dimensions in the tensor input does not match the "
            f"length of the desired ordering of dimensions i.e. input.dim() = {x.ndim} is not "
            f"equal to len(dims) = {len(d)}"
        )
    nd = [normalize_dim(i, x.ndim) for i in d]
    if len(set(nd)) != len(nd):
        raise InvalidArgumentError("permute(): duplicate dims are not allowed.")
    return apply(PERMUTE, (x,), {"dims": nd})


def transpose(x: Tensor, dim0: int, dim1: int) -> Tensor:
    if x.ndim == 0:
        return apply(TRANSPOSE, (x,), {"dim0": 0, "dim1": 0}) if x.requires_grad else x
    d0, d1 = normalize_dim(dim0, x.ndim), normalize_dim(dim1, x.ndim)
    return apply(TRANSPOSE, (x,), {"dim0": d0, "dim1": d1})


def t(x: Tensor) -> Tensor:
    if x.ndim > 2:
        raise InvalidArgumentError(
            f"t() expects a tensor with <= 2 dimensions, but self is {x.ndim}D"
        )
    if x.ndim < 2:
        return apply(TRANSPOSE, (x,), {"dim0": 0, "dim1": 0, "t": True})
    return apply(TRANSPOSE, (x,), {"dim0": 0, "dim1": 1, "t": True})


def squeeze(x: Tensor, dim: Any = None) -> Tensor:
    if dim is None:
        return apply(SQUEEZE, (x,), {})
    tuple_form = isinstance(dim, list | tuple)
    dims = list(normalize_dims(dim, x.ndim))
    return apply(SQUEEZE, (x,), {"dim": dims, **({"dims_form": True} if tuple_form else {})})


def unsqueeze(x: Tensor, dim: int) -> Tensor:
    return apply(UNSQUEEZE, (x,), {"dim": normalize_dim(dim, x.ndim + 1)})


def expand(x: Tensor, *size: Any) -> Tensor:
    target = _expand_shape(x._st.array.shape, list(as_size(size)), x.dtype.tensor_type)
    return apply(EXPAND, (x,), {"size": list(target)})


def broadcast_to(x: Tensor, size: Any) -> Tensor:
    return expand(x, *as_size((size,)))


def expand_as(x: Tensor, other: Tensor) -> Tensor:
    return expand(x, *other.shape)


def sum_to_size(x: Tensor, *size: Any) -> Tensor:
    target = as_size(size)
    if tuple(x._st.array.shape) == target:
        return x
    return apply(SUM_TO, (x,), {"size": list(target)})


def _tensors(tensors: Any, fname: str) -> list[Tensor]:
    if isinstance(tensors, Tensor) or not isinstance(tensors, list | tuple):
        raise InvalidArgumentError(
            f"{fname}(): argument 'tensors' must be tuple of Tensors, not {type(tensors).__name__}"
        )
    if not tensors:
        raise InvalidArgumentError(f"{fname}(): expected a non-empty list of Tensors")
    from ..tensor import as_tensor

    return [as_tensor(x) for x in tensors]


def cat(tensors: Any, dim: int = 0) -> Tensor:
    ts = _tensors(tensors, "cat")
    ref = next((x for x in ts if x._st.array.shape != (0,)), ts[0])
    return apply(CAT, tuple(ts), {"dim": normalize_dim(dim, ref.ndim)})


def stack(tensors: Any, dim: int = 0) -> Tensor:
    ts = _tensors(tensors, "stack")
    return apply(STACK, tuple(ts), {"dim": normalize_dim(dim, ts[0].ndim + 1)})


def clone(x: Tensor) -> Tensor:
    return apply(CLONE, (x,), {})


def select(x: Tensor, dim: int, index: int) -> Tensor:
    key: list[Any] = [slice(None)] * x.ndim
    key[normalize_dim(dim, x.ndim)] = index
    return x[tuple(key)]


def _wire_flatten(x: Tensor, start_dim: int = 0, end_dim: int = -1) -> Tensor:
    return flatten(x, start_dim, end_dim)


for _op, _fn in (
    (RESHAPE, lambda x, shape: reshape(x, *as_size((shape,)))),
    (PERMUTE, lambda x, dims: permute(x, *as_size((dims,)))),
    (TRANSPOSE, transpose),
    (SQUEEZE, squeeze),
    (UNSQUEEZE, unsqueeze),
    (EXPAND, lambda x, size: expand(x, *as_size((size,)))),
    (FLATTEN, _wire_flatten),
    (CAT, cat),
    (STACK, stack),
    (CLONE, clone),
):
    _op.call = _fn
