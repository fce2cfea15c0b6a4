"""``Tensor``: a backend array with torch's autograd state.

Arrays are never written in place: an in-place op computes a new array and
rebinds the tensor's storage to it (bumping its version counter), so arrays that
alias each other (NumPy views) can never change under a saved value.

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

__all__ = ["Storage", "Tensor", "as_tensor", "writes_a_view"]


class Storage:
    """The array a tensor and its aliases (``detach()``, ``.data``) share."""

    __slots__ = ("array",)

    def __init__(self, array: Any) -> None:
        self.array = array


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
        self._st.array = array
        self._vc[0] += 1
        if out.grad_fn is not None:
            self.grad_fn = out.grad_fn
            self._rg = True
            _resave_output(out.grad_fn, self)
        return self

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
