"""``Tensor``: a backend array with torch's autograd state.

Arrays are never written in place: an in-place op computes a new array and
rebinds the tensor's storage to it (bumping its version counter), so arrays that
alias each other (NumPy views) can never change under a saved value.

Views alias as torch's do, copy-on-write: a view op (declared ``view`` in the op table)
returns a ``ViewTensor`` whose ``ViewStorage`` re-derives its array from its parent
storage's current array (by the op's own forward) whenever that array was replaced, and
whose writes go back to the parent as a new array (a copy with the view's elements
replaced). A view shares its base's version counter; its autograd half (torch's
CopySlices and AsStridedBackward0) is ``engine.ops.views``.

This module is the data half of the class: storage, metadata, leaf rules, conversions.
Its methods named as torch's ops, their in-place forms and operators are built from the
op table by ``engine.methods`` (which sits above the autograd core and the ops).
"""

from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Any

import numpy as np

from . import dtypes as D
from . import hooks
from .arrays import array_from
from .backend import backend_of
from .errors import (
    EngineTypeError,
    InvalidArgumentError,
    LeafInplaceError,
    NotLeafError,
    ShapeMismatchError,
)
from .formatting import format_tensor
from .gradmode import _mode, is_grad_enabled
from .shapes import Size, normalize_dim
from .unsupported import missing
from .values import HostValues

if TYPE_CHECKING:
    from .autograd import Node

__all__ = [
    "Storage",
    "Tensor",
    "ViewStorage",
    "ViewTensor",
    "as_tensor",
    "make_view",
    "multi_output",
    "root_storage",
    "stored_grad_fn",
    "writes_a_view",
]


class Storage:
    """The array a tensor and its aliases (``detach()``, ``.data``, views) share."""

    __slots__ = ("array",)

    def __init__(self, array: Any) -> None:
        self.array = array


class ViewStorage(Storage):
    """A view's storage: ``op``'s forward (with ``attrs``) applied to the parent storage's
    array, re-derived lazily when the parent's array was replaced; setting ``array`` writes
    the values back into the parent (as a new array: arrays are never written in place)."""

    __slots__ = ("_cache", "_src", "attrs", "op", "parent", "xp")

    def __init__(
        self, parent: Storage, op: Any, attrs: dict[str, Any], array: Any, xp: Any
    ) -> None:
        """``array``: the view's array of the parent's current one (None: derive it)."""
        self.parent = parent
        self.op = op
        self.attrs = attrs
        self.xp = xp
        self._cache = array
        # the parent's array ``_cache`` was derived from
        self._src = None if array is None else parent.array

    @property
    def array(self) -> Any:
        src = self.parent.array
        if src is not self._src:
            out = self.op.forward(self.xp, src, **self.attrs)
            self._cache = np.asarray(out) if isinstance(out, np.generic) else out
            self._src = src
        return self._cache

    @array.setter
    def array(self, value: Any) -> None:
        parent = self.parent
        old = parent.array
        new = unview(self.op, self.attrs, old, value, self.xp)
        if type(parent) is Storage and old.flags.c_contiguous and not new.flags.c_contiguous:
            new = self.xp.ascontiguousarray(new)  # a write keeps the base's layout
        parent.array = new
        self._cache = value
        self._src = parent.array


def unview(op: Any, attrs: dict[str, Any], src: Any, value: Any, xp: Any) -> Any:
    """``src`` with the elements ``op``'s view of it selects replaced by ``value``: a new
    array (``op.unview`` where declared, else through the view's map of flat indices)."""
    if op.unview is not None:
        return op.unview(xp, src, value, **attrs)
    idx = index_map(src.shape, ((op, attrs),), xp)
    if 0 in idx.strides and idx.size > 1 and xp.unique(idx).size < idx.size:
        raise InvalidArgumentError(
            "unsupported operation: more than one element of the written-to tensor refers to a "
            "single memory location. Please clone() the tensor before performing the operation."
        )
    out = src.copy()
    out.reshape(-1)[idx] = value
    return out


def index_map(shape: Any, chain: Any, xp: Any) -> Any:
    """The flat (C order) index into an array of ``shape`` of each element of its view by
    ``chain`` (pairs of a view op and its attrs, applied in order)."""
    idx = xp.arange(int(np.prod(shape, dtype=np.int64))).reshape(tuple(shape))
    for op, attrs in chain:
        idx = op.forward(xp, idx, **attrs)
    return xp.asarray(idx)


def root_storage(st: Storage) -> Storage:
    """The storage that holds the array a view's storage derives from (itself if none)."""
    while type(st) is ViewStorage:
        st = st.parent
    return st


if TYPE_CHECKING:  # the methods and operators engine.methods builds from the op table
    _TableMethods = Any
else:
    _TableMethods = object


class Tensor(HostValues, _TableMethods):
    """A multi-dimensional array that records the ops applied to it."""

    __slots__ = ("__weakref__", "_dtype", "_grad", "_rg", "_st", "_vc", "_xp", "grad_fn")
    __array_priority__ = 1000  # numpy scalars defer to our reflected operators

    _st: Storage
    _vc: list[int]
    _dtype: D.DType
    _xp: Any
    _rg: bool
    _grad: Tensor | None
    grad_fn: Node | None

    if TYPE_CHECKING:  # operators engine.methods builds from the op table, for type checkers

        def __mul__(self, o: Any) -> Tensor: ...
        def __rmul__(self, o: Any) -> Tensor: ...

    # ------------------------------------------------------------ construction
    @staticmethod
    def _make(
        array: Any, requires_grad: bool, grad_fn: Node | None, dtype: D.DType | None = None
    ) -> Tensor:
        t = Tensor.__new__(Tensor)
        if isinstance(array, np.generic):
            array = np.asarray(array)
        t._st = Storage(array)
        t._vc = [0]
        t._dtype = dtype if dtype is not None else D.from_numpy_dtype(array.dtype)
        t._xp = np if type(array) is np.ndarray else backend_of(array).xp
        t._rg = requires_grad
        t._grad = None
        t.grad_fn = grad_fn
        return t

    def __init__(self, data: Any = None, *, dtype: Any = None, requires_grad: bool = False) -> None:
        array = array_from([] if data is None else data, dtype)
        src = Tensor._make(array, False, None)
        self._st, self._vc, self._dtype, self._xp = src._st, src._vc, src._dtype, src._xp
        self._rg = False
        self._grad = None
        self.grad_fn = None
        if requires_grad:
            self.requires_grad_(True)

    # -------------------------------------------------------------- properties
    @property
    def dtype(self) -> D.DType:
        return self._dtype

    @property
    def shape(self) -> Size:
        return Size(self._st.array.shape)

    def size(self, dim: int | None = None) -> Any:
        """``torch.Tensor.size``: the shape, or one dim's length."""
        if dim is None:
            return self.shape
        return self._st.array.shape[normalize_dim(dim, self.ndim)]

    @property
    def ndim(self) -> int:
        return int(self._st.array.ndim)

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return int(self._st.array.size)

    nelement = numel

    @property
    def device(self) -> str:
        return "cpu" if self._xp is np else "cuda:0"

    @property
    def is_cuda(self) -> bool:
        return self._xp is not np

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    def is_floating_point(self) -> bool:
        return self._dtype.is_floating_point

    @property
    def requires_grad(self) -> bool:
        return self._rg

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        if self.grad_fn is not None and not value:
            raise NotLeafError(
                "you can only change requires_grad flags of leaf variables. If you want to use a "
                "computed variable in a subgraph that doesn't require differentiation use "
                "var_no_grad = var.detach()."
            )
        if value and not self._dtype.is_floating_point:
            raise InvalidArgumentError(
                "only Tensors of floating point and complex dtype can require gradients"
            )
        if self.grad_fn is None:
            self._rg = bool(value)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Set ``requires_grad`` in place (torch's leaf rules); returns self."""
        if requires_grad and not self._dtype.is_floating_point:  # torch's text differs here
            raise InvalidArgumentError("only Tensors of floating point dtype can require gradients")
        self.requires_grad = requires_grad
        return self

    @property
    def grad(self) -> Tensor | None:
        if self.grad_fn is not None and self._grad is None and not self.retains_grad:
            hooks.warn_nonleaf_grad()
        return self._grad

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise EngineTypeError(
                    "assigned grad expected to be a Tensor or None but got grad of type "
                    f"{type(value).__name__}"
                )
            if value.shape != self.shape:
                raise ShapeMismatchError(
                    f"attempting to assign a gradient of size '{list(value.shape)}' to a tensor "
                    f"of size '{list(self.shape)}'. Please ensure that the gradient and the "
                    "tensor are the same size"
                )
            if value.dtype is not self.dtype:
                raise InvalidArgumentError(
                    f"attempting to assign a gradient with dtype '{value.dtype.cpp_name}' to a "
                    f"tensor with grad_dtype '{self.dtype.scalar_name}'. The gradient must "
                    "match the tensor's grad_dtype (defaults to the tensor's dtype). You can set "
                    "the tensor's grad_dtype attribute with a specific dtype, or None to allow "
                    "any dtype. Set grad_dtype with caution. Diverging the dtypes of a tensor "
                    "and its gradient may break downstream systems that assume they match."
                )
        self._grad = value

    @property
    def data(self) -> Tensor:
        """The same storage without autograd history (modifications are not tracked)."""
        t = Tensor._make(self._st.array, False, None)
        t._st = self._st
        return t

    @data.setter
    def data(self, value: Tensor) -> None:
        self._st.array = value._st.array
        self._dtype = value._dtype

    @property
    def _version(self) -> int:
        return self._vc[0]

    @property
    def _base(self) -> Tensor | None:
        """torch's ``_base``: the tensor a view was taken of; None for a tensor that is none."""
        return None

    def _is_view(self) -> builtins.bool:
        return False

    @property
    def T(self) -> Tensor:
        return self.permute(*reversed(range(self.ndim)))

    @property
    def mT(self) -> Tensor:
        return self.transpose(-2, -1)

    # ---------------------------------------------------------------- autograd
    def detach(self) -> Tensor:
        """A new tensor sharing storage and version counter, outside the graph."""
        t = Tensor._make(self._st.array, False, None)
        t._st = self._st
        t._vc = self._vc
        return t

    def detach_(self) -> Tensor:
        """Detach in place: self becomes a leaf that does not require grad."""
        self.grad_fn = None
        self._rg = False
        return self

    @property
    def retains_grad(self) -> bool:
        return self.grad_fn is not None and self.grad_fn.retained is not None

    def register_hook(self, hook: Any) -> Any:
        """Run ``hook(grad)`` on this tensor's gradient in backward (engine.hooks)."""
        return hooks.register_hook(self, hook)

    # ------------------------------------------------------------- conversion
    def numpy(self, *, force: bool = False) -> np.ndarray[Any, Any]:
        """The values as a NumPy array (a host copy on CuPy)."""
        if self._rg and not force and is_grad_enabled():  # torch 2.13 allows it in no_grad
            raise InvalidArgumentError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                "instead."
            )
        return backend_of(self._st.array).asnumpy(self._st.array)

    def _host(self) -> np.ndarray[Any, Any]:
        return backend_of(self._st.array).asnumpy(self._st.array)

    def _array(self) -> Any:
        return self._st.array

    def __repr__(self) -> str:
        return format_tensor(
            self._host(),
            dtype=self._dtype.name,
            requires_grad=self._rg,
            grad_fn=None if self.grad_fn is None else self.grad_fn.fn_name,
            device=self.device,
        )

    __str__ = __repr__

    def __deepcopy__(self, memo: dict[int, Any]) -> Tensor:
        if self.grad_fn is not None:
            raise InvalidArgumentError(
                "Only Tensors created explicitly by the user (graph leaves) support the "
                "deepcopy protocol at the moment."
            )
        t = Tensor._make(self._st.array.copy(), self._rg, None)
        if self._grad is not None:
            t._grad = self._grad.__deepcopy__(memo)
        return t

    def __getattr__(self, name: str) -> Any:
        missing("Tensor", name, "'Tensor' object")

    # ------------------------------------------------------------------ dtype
    def type(self, dtype: Any = None) -> Any:
        if dtype is None:
            return self._dtype.tensor_type
        return self.to(dtype)

    def float(self) -> Tensor:
        return self.to(D.float32)

    def double(self) -> Tensor:
        return self.to(D.float64)

    def half(self) -> Tensor:
        return self.to(D.float16)

    def long(self) -> Tensor:
        return self.to(D.int64)

    def int(self) -> Tensor:
        return self.to(D.int32)

    def bool(self) -> Tensor:
        return self.to(D.bool_)

    def cpu(self) -> Tensor:
        return self

    def contiguous(self) -> Tensor:
        return self if self._st.array.flags.c_contiguous else self.clone()

    def is_contiguous(self) -> builtins.bool:
        return bool(self._st.array.flags.c_contiguous)

    # ---------------------------------------------------------------- in place
    def _inplace(self, fn: Any, *args: Any, **kwargs: Any) -> Tensor:
        """Run ``fn`` out of place on a snapshot of self, then rebind self to the result."""
        if _mode.enabled and self.grad_fn is None and self._rg:
            raise LeafInplaceError(
                "a leaf Variable that requires grad is being used in an in-place operation."
            )
        snapshot = Tensor._make(self._st.array, self._rg, self.grad_fn)
        out = fn(snapshot, *args, **kwargs)
        self._st.array = self._checked_result(out)
        self._vc[0] += 1
        if out.grad_fn is not None:
            self.grad_fn = out.grad_fn
            self._rg = True
            _resave_output(out.grad_fn, self)
        return self

    def _checked_result(self, out: Tensor) -> Any:
        """An in-place op's result array, checked against self's shape and cast to its dtype."""
        if out.shape != self.shape:
            raise ShapeMismatchError(
                f"output with shape {list(self.shape)} doesn't match the broadcast shape "
                f"{list(out.shape)}"
            )
        array = out._st.array
        if out._dtype is not self._dtype:
            if D.promote_types(out._dtype, self._dtype) is not self._dtype:
                raise InvalidArgumentError(
                    f"result type {out._dtype.scalar_name} can't be cast to the desired output "
                    f"type {self._dtype.scalar_name}"
                )
            array = array.astype(self._dtype.np)
        return array

    def all(self) -> Tensor:
        """True where every element is non-zero (a 0-d bool tensor)."""
        return Tensor._make(self._xp.asarray(self._st.array.all()), False, None)

    def any(self) -> Tensor:
        """True where some element is non-zero (a 0-d bool tensor)."""
        return Tensor._make(self._xp.asarray(self._st.array.any()), False, None)

    def zeros_like(self) -> Tensor:
        """A tensor of zeros with this one's shape and dtype, outside the graph."""
        return Tensor._make(self._xp.zeros_like(self._st.array), False, None)


def _resave_output(node: Any, t: Tensor) -> None:
    """An in-place op's node saved its result (``exp_``, ``sigmoid_``): that result is ``t``
    now, so the saved value follows ``t``'s version (a later in-place change of ``t`` makes
    backward raise torch's error, as torch's in-place ops save self)."""
    saved = node.saved.get("out") if node.saved else None
    if saved is not None and saved.is_output:
        saved.storage = t._st
        saved.version = t._vc[0]
        node.vcs["out"] = t._vc


# ------------------------------------------------------------------------- views
DEFAULT, NO_GRAD, MULTI = 0, 1, 2  # how a view was created (torch's CreationMeta)
_GRAD_FN = Tensor.__dict__["grad_fn"]  # the slot, under ViewTensor's property


def stored_grad_fn(t: Tensor) -> Node | None:
    """``t``'s grad_fn as stored: a view's, without regenerating it (nor raising)."""
    return _GRAD_FN.__get__(t)


class _ViewHooks:
    """The autograd half of views, set by ``engine.ops.views`` (which sits above the core):
    ``regenerate(view)`` gives a view its grad_fn after its base's version moved, and
    ``rebase(view, node)`` records an in-place op's node on a view into its base."""

    regenerate: Any = None
    rebase: Any = None


VIEW_HOOKS = _ViewHooks()


class ViewTensor(Tensor):
    """A tensor that is a view of another (torch's views): it shares its base's storage (a
    ``ViewStorage`` over it) and version counter. ``_vbase`` is the tensor at the root of its
    chain of differentiable views, ``_chain`` the view ops (with their attrs) from there,
    ``_creation`` how it was made (``DEFAULT``, ``NO_GRAD``, ``MULTI``: one output of a
    function returning several views, named by ``_multi``), ``_attr_v`` the version its
    ``grad_fn`` was set at (torch regenerates it, lazily, when the version moved)."""

    __slots__ = ("_attr_v", "_chain", "_creation", "_multi", "_vbase")

    _vbase: Tensor
    _chain: tuple[tuple[Any, dict[str, Any]], ...]
    _creation: int
    _multi: tuple[str, int] | None
    _attr_v: int

    @property
    def grad_fn(self) -> Node | None:
        if self._attr_v != self._vc[0]:
            return VIEW_HOOKS.regenerate(self)
        return _GRAD_FN.__get__(self)

    @grad_fn.setter
    def grad_fn(self, value: Node | None) -> None:
        _GRAD_FN.__set__(self, value)

    @property
    def _base(self) -> Tensor | None:
        return self._vbase

    @property
    def requires_grad(self) -> builtins.bool:
        """torch's: a view requires grad when its base does (made in no_grad mode too)."""
        return self._rg or self._vbase.requires_grad

    @requires_grad.setter
    def requires_grad(self, value: builtins.bool) -> None:
        Tensor.requires_grad.fset(self, value)  # type: ignore[attr-defined]

    def _is_view(self) -> builtins.bool:
        return True

    def detach_(self) -> Tensor:
        raise InvalidArgumentError(
            "Can't detach views in-place. Use detach() instead. If you are using "
            "DistributedDataParallel (DDP) for training, and gradient_as_bucket_view is set as "
            "True, gradients are views of DDP buckets, and hence detach_() cannot be called on "
            "these gradients. To fix this error, please refer to the Optimizer.zero_grad() "
            "function in torch/optim/optimizer.py as the solution."
        )

    def _inplace(self, fn: Any, *args: Any, **kwargs: Any) -> Tensor:
        """An in-place op on a view: torch's checks, the op out of place on a snapshot, its
        values written into the base (copy-on-write), then its node rebased onto the base."""
        base = self._vbase
        if _mode.enabled and (
            self._rg or base._rg or any(_requires(a) for a in (*args, *kwargs.values()))
        ):
            if self._creation != DEFAULT:
                raise InvalidArgumentError(view_error(self, False))
            if base._rg and base.grad_fn is None:
                raise LeafInplaceError(
                    "a view of a leaf Variable that requires grad is being used in an in-place "
                    "operation."
                )
        if _mode.enabled:
            snapshot = Tensor._make(self._st.array, self._rg, self.grad_fn)
        else:  # nothing is recorded: the grad_fn is not read (torch's is not regenerated)
            snapshot = Tensor._make(self._st.array, False, None)
        out = fn(snapshot, *args, **kwargs)
        array = self._checked_result(out)
        self._st.array = array  # into the base, as a new array
        self._vc[0] += 1
        if out.grad_fn is not None and _mode.enabled:
            _resave_output(out.grad_fn, self)
            VIEW_HOOKS.rebase(self, out.grad_fn)
        return self


def _requires(a: Any) -> builtins.bool:
    return isinstance(a, Tensor) and a._rg


def view_error(v: ViewTensor, indirect: builtins.bool) -> str:
    """torch's text for an in-place op on (indirect: on the base or another view of) a view
    made in no_grad mode or by a function that returns several views."""
    what = "its base or another view of its base has been" if indirect else "is being"
    if v._creation == MULTI and v._multi is not None:
        name, k = v._multi
        return (
            f"Output {k} of {name} is a view and {what} modified inplace. This view is the output "
            "of a function that returns multiple views. Such functions do not allow the output "
            "views to be modified inplace. You should replace the inplace operation by an "
            "out-of-place one."
        )
    return (
        f"A view was created in no_grad mode and {what} modified inplace with grad mode "
        "enabled. Given that this use case is ambiguous and error-prone, it is forbidden. You "
        "can clarify your code by moving both the view and the inplace either both inside the "
        "no_grad block (if you don't want the inplace to be tracked) or both outside (if you "
        "want the inplace to be tracked)."
    )


def make_view(
    array: Any, src: Tensor, op: Any, attrs: dict[str, Any], rg: builtins.bool, grad_fn: Any
) -> ViewTensor:
    """The result of view op ``op`` on ``src``: ``array`` (its forward's result) as a view
    sharing ``src``'s storage and version counter."""
    t = ViewTensor.__new__(ViewTensor)
    if isinstance(array, np.generic):
        array = np.asarray(array)
    t._st = ViewStorage(src._st, op, attrs, array, src._xp)
    t._vc = src._vc
    t._dtype = src._dtype
    t._xp = src._xp
    t._rg = rg
    t._grad = None
    _GRAD_FN.__set__(t, grad_fn)
    step = ((op, attrs),)
    if type(src) is ViewTensor:
        t._vbase, t._chain = src._vbase, src._chain + step
        t._creation, t._multi = src._creation, src._multi
    else:
        t._vbase, t._chain, t._creation, t._multi = src, step, DEFAULT, None
    if not _mode.enabled:
        t._creation, t._multi = NO_GRAD, None
    t._attr_v = src._vc[0]
    return t


def multi_output(views: Any, name: str) -> None:
    """Mark views returned together by one function (torch's split, chunk, unbind): torch
    forbids in-place ops on them; ``name`` is the function's node (``SplitBackward0``)."""
    if not _mode.enabled:
        return
    short = name[: -len("Backward0")] if name.endswith("Backward0") else name
    for k, v in enumerate(views):
        if type(v) is ViewTensor:
            v._creation, v._multi = MULTI, (short, k)


def writes_a_view(key: Any, t: Tensor) -> bool:
    """Whether torch's ``t[key] = v`` writes through a view: basic indexing that is no no-op."""
    items = key if isinstance(key, tuple) else (key,)
    dim: int | None = 0  # the dim an item indexes; unknown after an ellipsis

    def default(v: Any, d: int) -> bool:
        return v is None or (isinstance(v, int) and v == d)

    for it in items:
        if it is None or (isinstance(it, int) and not isinstance(it, bool)):
            return True
        if isinstance(it, Tensor) and it.ndim == 0 and it.dtype.name in ("int32", "int64"):
            return True
        if it is Ellipsis:
            dim = None
            continue
        if isinstance(it, slice):
            if not (default(it.start, 0) and default(it.step, 1)):
                return True
            full = dim is not None and dim < t.ndim and isinstance(it.stop, int)
            if it.stop is not None and not (full and it.stop >= t.shape[dim]):  # type: ignore[index]
                return True
        if dim is not None:
            dim += 1
    return False


def as_tensor(value: Any, like: Tensor | None = None, dtype: Any = None) -> Tensor:
    """A Tensor from a Tensor (as is), an array, a list or a number."""
    if isinstance(value, Tensor):
        return value
    xp = like._xp if like is not None else None
    if dtype is None and like is not None and not isinstance(value, np.ndarray):
        dtype = like.dtype if _is_number_tree(value) else None
    return Tensor._make(array_from(value, dtype, xp=xp), False, None)


def _is_number_tree(value: Any) -> builtins.bool:
    return isinstance(value, int | float | list | tuple)
