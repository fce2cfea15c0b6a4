"""``RemoteTensor``: a handle to a tensor on the server, with torch's operators and methods.

An op records a graph node and returns at once; shape and dtype come from the
engine's inference on stand-in arrays (no round trip, and torch's error on a bad
call right there). Values are fetched when needed, together with the pending nodes.
"""

from __future__ import annotations

import base64
import weakref
from collections import namedtuple
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from engine import dtypes as D
from engine.errors import InvalidArgumentError, LeafInplaceError
from engine.formatting import format_tensor
from engine.meta import infer, stand_in
from engine.ops import OPS
from engine.shapes import Size, as_size, normalize_dim

from .connection import Connection

__all__ = ["GradFn", "RemoteTensor", "apply", "decode"]

MinMax = namedtuple("MinMax", ["values", "indices"])
_UNKNOWN = object()


class GradFn:
    """What ``.grad_fn`` shows: prints as torch's ``<AddBackward0 object at 0x...>``."""

    __slots__ = ("_name",)

    def __init__(self, name: str) -> None:
        self._name = name

    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"<{self._name} object at {hex(id(self))}>"


def decode(td: dict[str, Any] | None) -> np.ndarray[Any, Any] | None:
    """A host array from TensorData (json or b64)."""
    if td is None:
        return None
    dt = D.as_dtype(td["dtype"])
    if "b64" in td:
        raw = base64.b64decode(td["b64"])
        arr = np.frombuffer(raw, dtype=dt.np.newbyteorder("<")).astype(dt.np)
        return arr.reshape(td["shape"])
    return np.asarray(np.array(td["data"], dtype=dt.np))


def _flat(args: Sequence[Any]) -> Iterator[Any]:
    for a in args:
        if isinstance(a, list | tuple):
            yield from _flat(a)
        else:
            yield a


def _wire(a: Any) -> Any:
    """An argument as the wire takes it: a name, a scalar, a list, or an inline value."""
    if isinstance(a, RemoteTensor):
        return a.name
    if isinstance(a, bool | int | float) or a is None:
        return a
    if isinstance(a, list | tuple) and any(isinstance(x, RemoteTensor) for x in _flat(a)):
        return [_wire(x) for x in a]
    arr = np.asarray(a)
    if arr.dtype.kind == "f" and not np.isfinite(arr).all():
        arr = arr.astype(np.float64) if arr.dtype == np.float64 else arr
    value = D.as_dtype(_local_dtype(arr))
    return {"value": {"data": arr.astype(value.np).tolist(), "dtype": value.name}}


def _local_dtype(arr: np.ndarray[Any, Any]) -> str:
    kind = arr.dtype.kind
    if kind == "f":
        return "float64" if arr.dtype == np.float64 else "float32"
    if kind in "iu":
        return "int64" if arr.dtype.itemsize == 8 else "int32"
    return "bool"


def _meta(a: Any) -> Any:
    """An argument as the engine's inference takes it: stand-ins for remote tensors."""
    if isinstance(a, RemoteTensor):
        return stand_in(a.shape, a.dtype)
    if isinstance(a, list | tuple):
        return [_meta(x) for x in a]
    if isinstance(a, bool | int | float) or a is None:
        return a
    from engine import tensor as etensor

    return etensor(np.asarray(a))


def _wire_index(key: Any) -> tuple[list[Any], list[Any], bool]:
    """An index key as wire items, as stand-in items, and whether its result shape is known."""
    items = list(key) if isinstance(key, tuple) else [key]
    wire: list[Any] = []
    meta: list[Any] = []
    known = True
    for it in items:
        if it is None or (isinstance(it, int) and not isinstance(it, bool)):
            wire.append(it)
            meta.append(it)
        elif it is Ellipsis:
            wire.append("...")
            meta.append(Ellipsis)
        elif isinstance(it, slice):
            wire.append({"slice": [it.start, it.stop, it.step]})
            meta.append(it)
        elif isinstance(it, RemoteTensor):
            wire.append(it.name)
            meta.append(stand_in(it.shape, it.dtype))
            known = known and it.dtype is not D.bool_
        else:
            arr = np.asarray(it)
            wire.append({"array": arr.tolist()})
            meta.append(arr)
    return wire, meta, known


def apply(conn: Connection, op: str, args: Sequence[Any], kwargs: dict[str, Any]) -> RemoteTensor:
    """Record ``op`` on the connection and return its (lazy) result."""
    shape, dtype = infer(op, [_meta(a) for a in args], kwargs)
    spec = OPS[op]
    rg = (
        conn.grad_enabled
        and spec.differentiable
        and any(isinstance(a, RemoteTensor) and a.requires_grad for a in _flat(args))
    )
    out = RemoteTensor(conn, conn.new_name(), shape, dtype, rg, not rg)
    conn.record({"name": out.name, "op": op, "args": [_wire(a) for a in args], "kwargs": kwargs})
    return out


def _conn_of(*args: Any) -> Connection:
    for a in _flat(args):
        if isinstance(a, RemoteTensor):
            return a._conn
    raise InvalidArgumentError("expected at least one remote tensor argument")


class RemoteTensor:
    """A tensor living in a server session."""

    __slots__ = (
        "__weakref__",
        "_conn",
        "_grad_fn",
        "_leaf",
        "_rg",
        "_shape",
        "_value",
        "dtype",
        "name",
    )

    def __init__(
        self,
        conn: Connection,
        name: str,
        shape: tuple[int, ...] | None,
        dtype: D.DType,
        requires_grad: bool,
        is_leaf: bool,
    ) -> None:
        self._conn = conn
        self.name = name
        self._shape = shape
        self.dtype = dtype
        self._rg = requires_grad
        self._leaf = is_leaf
        self._grad_fn: Any = None if is_leaf else _UNKNOWN
        self._value: tuple[int, np.ndarray[Any, Any]] | None = None
        weakref.finalize(self, conn.release, name)

    # ------------------------------------------------------------- metadata
    def _info(self, include: tuple[str, ...] = ()) -> dict[str, Any]:
        info: dict[str, Any] = self._conn.flush([self.name], include)[self.name]
        self._absorb(info)
        return info

    def _absorb(self, info: dict[str, Any]) -> None:
        self._shape = tuple(info["shape"])
        self._rg = info["requires_grad"]
        self._leaf = info["is_leaf"]
        self._grad_fn = info["grad_fn"]
        data = decode(info.get("data"))
        if data is not None:
            self._value = (self._conn.epoch, data)

    @property
    def shape(self) -> Size:
        if self._shape is None:
            self._info()
        assert self._shape is not None
        return Size(self._shape)

    def size(self, dim: int | None = None) -> Any:
        return self.shape if dim is None else self.shape[normalize_dim(dim, self.ndim)]

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def dim(self) -> int:
        return self.ndim

    def numel(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) if self.shape else 1

    @property
    def device(self) -> str:
        return "cpu" if self._conn.device == "cpu" else "cuda:0"

    @property
    def is_leaf(self) -> bool:
        return self._leaf

    @property
    def requires_grad(self) -> bool:
        return self._rg

    @requires_grad.setter
    def requires_grad(self, value: bool) -> None:
        self.requires_grad_(value)

    def requires_grad_(self, requires_grad: bool = True) -> RemoteTensor:
        """torch's leaf rules, applied by the server (PATCH)."""
        info = self._conn.call(
            "PATCH", f"/tensors/{self.name}", json={"requires_grad": requires_grad}
        )
        self._rg = info["requires_grad"]
        self._leaf = info["is_leaf"]
        return self

    @property
    def grad_fn(self) -> GradFn | None:
        if self._leaf or not self._rg:
            return None
        if self._grad_fn is _UNKNOWN:
            self._info()
        return None if self._grad_fn is None else GradFn(self._grad_fn)

    def is_floating_point(self) -> bool:
        return self.dtype.is_floating_point

    # --------------------------------------------------------------- values
    def _host(self) -> np.ndarray[Any, Any]:
        conn = self._conn
        if self._value is not None and self._value[0] == conn.epoch:
            return self._value[1]
        info = conn.fetch(self.name, self.numel() if self._shape is not None else 0)
        self._absorb(info)
        assert self._value is not None
        return self._value[1]

    def numpy(self) -> np.ndarray[Any, Any]:
        if self._rg:
            raise InvalidArgumentError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                "instead."
            )
        return self._host().copy()

    def tolist(self) -> Any:
        return self._host().tolist()

    def item(self) -> Any:
        if self.numel() != 1:
            raise InvalidArgumentError(
                f"a Tensor with {self.numel()} elements cannot be converted to Scalar"
            )
        return self._host().reshape(()).item()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise InvalidArgumentError(
                "Boolean value of Tensor with more than one value is ambiguous"
            )
        return bool(self.item())

    def __len__(self) -> int:
        if not self.shape:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self) -> Iterator[RemoteTensor]:
        return (self[i] for i in range(len(self)))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray[Any, Any]:
        a = self._host()
        return a.astype(dtype) if dtype is not None else a

    def __hash__(self) -> int:
        return id(self)

    def __repr__(self) -> str:
        values = self._host()
        grad_fn = None if (self._leaf or not self._rg) else self.grad_fn
        return format_tensor(
            values,
            dtype=self.dtype.name,
            requires_grad=self._rg,
            grad_fn=None if grad_fn is None else grad_fn.name(),
            device="cpu" if self._conn.device == "cpu" else "cuda:0",
        )

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        if not self.shape and spec:
            return format(self.item(), spec)
        return repr(self)

    # ------------------------------------------------------------- autograd
    def backward(
        self,
        gradient: Any = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
        inputs: Sequence[RemoteTensor] | None = None,
    ) -> None:
        """``tensor.backward``: gradients accumulate into the leaves' ``.grad`` on the server."""
        body: dict[str, Any] = {
            "tensor": self.name,
            "retain_graph": retain_graph,
            "create_graph": create_graph,
            "encoding": "b64",
        }
        if gradient is not None:
            body["gradient"] = (
                gradient.name if isinstance(gradient, RemoteTensor) else (_wire(gradient)["value"])
            )
        if inputs is not None:
            body["inputs"] = [t.name for t in inputs]
        result = self._conn.call("POST", "/backward", json=body)
        self._conn.epoch += 1
        self._conn.grads.update(
            {k: (self._conn.epoch, decode(v)) for k, v in result["grads"].items()}
        )

    @property
    def grad(self) -> RemoteTensor | None:
        if not self._leaf:
            return None
        conn = self._conn
        cached = conn.grads.get(self.name)
        if cached is None or cached[0] != conn.epoch:
            info = self._info(("grad",))
            cached = (conn.epoch, decode(info.get("grad")))
            conn.grads[self.name] = cached
        if cached[1] is None:
            return None
        g = RemoteTensor(conn, conn.new_name(), self._shape, self.dtype, False, True)
        conn.record({"name": g.name, "op": "grad_of", "args": [self.name], "kwargs": {}})
        g._value = (conn.epoch, cached[1])
        return g

    @grad.setter
    def grad(self, value: Any) -> None:
        if value is not None:
            raise InvalidArgumentError(
                "only `tensor.grad = None` (zero_grad) is supported remotely"
            )
        self._conn.call("POST", "/zero_grad", json={"names": [self.name]})
        self._conn.epoch += 1
        self._conn.grads[self.name] = (self._conn.epoch, None)

    def zero_grad_(self) -> None:
        self.grad = None

    def detach(self) -> RemoteTensor:
        return apply(self._conn, "detach", [self], {})

    @property
    def data(self) -> RemoteTensor:
        return self.detach()

    # ------------------------------------------------------------- in place
    def _inplace(self, op: str, *args: Any, **kwargs: Any) -> RemoteTensor:
        conn = self._conn
        if conn.grad_enabled and self._leaf and self._rg:
            raise LeafInplaceError(
                "a leaf Variable that requires grad is being used in an in-place operation."
            )
        from engine.autograd import no_grad

        with no_grad():  # torch's shape and dtype checks, locally
            getattr(stand_in(self.shape, self.dtype), op)(*[_meta(a) for a in args], **kwargs)
        conn.record(
            {
                "name": None,
                "op": op,
                "args": [self.name, *(_wire(a) for a in args)],
                "kwargs": kwargs,
            }
        )
        conn.epoch += 1
        if conn.grad_enabled and any(isinstance(a, RemoteTensor) and a._rg for a in args):
            self._rg, self._leaf = True, False
        if not self._leaf:
            self._grad_fn = _UNKNOWN
        return self

    def add_(self, other: Any, *, alpha: Any = 1) -> RemoteTensor:
        return self._inplace("add_", other, **({} if alpha == 1 else {"alpha": alpha}))

    def sub_(self, other: Any, *, alpha: Any = 1) -> RemoteTensor:
        return self._inplace("sub_", other, **({} if alpha == 1 else {"alpha": alpha}))

    def mul_(self, other: Any) -> RemoteTensor:
        return self._inplace("mul_", other)

    def div_(self, other: Any) -> RemoteTensor:
        return self._inplace("div_", other)

    def zero_(self) -> RemoteTensor:
        return self._inplace("zero_")

    def copy_(self, src: Any) -> RemoteTensor:
        return self._inplace("copy_", src)

    __iadd__ = add_
    __isub__ = sub_
    __imul__ = mul_
    __itruediv__ = div_

    # ------------------------------------------------------------- operators
    def _op(self, op: str, *args: Any, **kwargs: Any) -> RemoteTensor:
        return apply(self._conn, op, [self, *args], kwargs)

    def __add__(self, o: Any) -> RemoteTensor:
        return self._op("add", o)

    def __radd__(self, o: Any) -> RemoteTensor:
        return self._op("add", o)

    def __sub__(self, o: Any) -> RemoteTensor:
        return self._op("sub", o)

    def __rsub__(self, o: Any) -> RemoteTensor:
        return apply(self._conn, "sub", [o, self], {})

    def __mul__(self, o: Any) -> RemoteTensor:
        return self._op("mul", o)

    def __rmul__(self, o: Any) -> RemoteTensor:
        return self._op("mul", o)

    def __truediv__(self, o: Any) -> RemoteTensor:
        return self._op("div", o)

    def __rtruediv__(self, o: Any) -> RemoteTensor:
        return apply(self._conn, "div", [o, self], {})

    def __pow__(self, o: Any) -> RemoteTensor:
        return self._op("pow", o)

    def __rpow__(self, o: Any) -> RemoteTensor:
        return apply(self._conn, "pow", [o, self], {})

    def __matmul__(self, o: Any) -> RemoteTensor:
        return self._op("matmul", o)

    def __rmatmul__(self, o: Any) -> RemoteTensor:
        return apply(self._conn, "matmul", [o, self], {})

    def __neg__(self) -> RemoteTensor:
        return self._op("neg")

    def __pos__(self) -> RemoteTensor:
        return self

    def __abs__(self) -> RemoteTensor:
        return self._op("abs")

    def __eq__(self, o: Any) -> RemoteTensor:  # type: ignore[override]
        return self._op("eq", o)

    def __ne__(self, o: Any) -> RemoteTensor:  # type: ignore[override]
        return self._op("ne", o)

    def __lt__(self, o: Any) -> RemoteTensor:
        return self._op("lt", o)

    def __le__(self, o: Any) -> RemoteTensor:
        return self._op("le", o)

    def __gt__(self, o: Any) -> RemoteTensor:
        return self._op("gt", o)

    def __ge__(self, o: Any) -> RemoteTensor:
        return self._op("ge", o)

    def __getitem__(self, key: Any) -> RemoteTensor:
        wire, meta, known = _wire_index(key)
        shape, dtype = infer("index", [stand_in(self.shape, self.dtype)], {"index": meta})
        rg = self._conn.grad_enabled and self._rg
        out = RemoteTensor(
            self._conn, self._conn.new_name(), shape if known else None, dtype, rg, not rg
        )
        self._conn.record(
            {"name": out.name, "op": "index", "args": [self.name], "kwargs": {"index": wire}}
        )
        return out

    def __setitem__(self, key: Any, value: Any) -> None:
        raise TypeError("item assignment is not part of the gradserve wire API; use where()")

    # --------------------------------------------------------------- methods
    def add(self, o: Any, *, alpha: Any = 1) -> RemoteTensor:
        return self._op("add", o, **({} if alpha == 1 else {"alpha": alpha}))

    def sub(self, o: Any, *, alpha: Any = 1) -> RemoteTensor:
        return self._op("sub", o, **({} if alpha == 1 else {"alpha": alpha}))

    def mul(self, o: Any) -> RemoteTensor:
        return self._op("mul", o)

    def div(self, o: Any) -> RemoteTensor:
        return self._op("div", o)

    def pow(self, o: Any) -> RemoteTensor:
        return self._op("pow", o)

    def matmul(self, o: Any) -> RemoteTensor:
        return self._op("matmul", o)

    mm = matmul

    def maximum(self, o: Any) -> RemoteTensor:
        return self._op("maximum", o)

    def minimum(self, o: Any) -> RemoteTensor:
        return self._op("minimum", o)

    def clamp(self, min: Any = None, max: Any = None) -> RemoteTensor:
        kw = {k: v for k, v in (("min", min), ("max", max)) if v is not None}
        return self._op("clamp", **kw)

    clip = clamp

    def _reduce(self, op: str, dim: Any, keepdim: bool, **extra: Any) -> RemoteTensor:
        kw: dict[str, Any] = dict(extra)
        if dim is not None:
            kw["dim"] = list(dim) if isinstance(dim, tuple | list) else dim
        if keepdim:
            kw["keepdim"] = True
        return self._op(op, **kw)

    def sum(self, dim: Any = None, keepdim: bool = False) -> RemoteTensor:
        return self._reduce("sum", dim, keepdim)

    def mean(self, dim: Any = None, keepdim: bool = False) -> RemoteTensor:
        return self._reduce("mean", dim, keepdim)

    def prod(self, dim: Any = None, keepdim: bool = False) -> RemoteTensor:
        return self._reduce("prod", dim, keepdim)

    def amax(self, dim: Any = None, keepdim: bool = False) -> RemoteTensor:
        return self._reduce("amax", dim, keepdim)

    def amin(self, dim: Any = None, keepdim: bool = False) -> RemoteTensor:
        return self._reduce("amin", dim, keepdim)

    def logsumexp(self, dim: Any, keepdim: bool = False) -> RemoteTensor:
        return self._reduce("logsumexp", dim, keepdim)

    def norm(self, p: Any = "fro", dim: Any = None, keepdim: bool = False) -> RemoteTensor:
        extra = {} if p in ("fro", 2, 2.0) else {"p": p}
        return self._reduce("norm", dim, keepdim, **extra)

    def argmax(self, dim: Any = None, keepdim: bool = False) -> RemoteTensor:
        return self._reduce("argmax", dim, keepdim)

    def argmin(self, dim: Any = None, keepdim: bool = False) -> RemoteTensor:
        return self._reduce("argmin", dim, keepdim)

    def _extreme(self, op: str, arg: str, dim: Any, keepdim: bool) -> Any:
        if isinstance(dim, RemoteTensor):
            return self._op(op, dim)
        if dim is None:
            return self._op(op)
        values = self._reduce(op, dim, keepdim)
        return MinMax(values, self._reduce(arg, dim, keepdim))

    def max(self, dim: Any = None, keepdim: bool = False) -> Any:
        return self._extreme("max", "argmax", dim, keepdim)

    def min(self, dim: Any = None, keepdim: bool = False) -> Any:
        return self._extreme("min", "argmin", dim, keepdim)

    def softmax(self, dim: int) -> RemoteTensor:
        return self._op("softmax", dim=dim)

    def log_softmax(self, dim: int) -> RemoteTensor:
        return self._op("log_softmax", dim=dim)

    def reshape(self, *shape: Any) -> RemoteTensor:
        return self._op("reshape", shape=list(as_size(shape)))

    view = reshape

    def flatten(self, start_dim: int = 0, end_dim: int = -1) -> RemoteTensor:
        return self._op("flatten", start_dim=start_dim, end_dim=end_dim)

    def transpose(self, dim0: int, dim1: int) -> RemoteTensor:
        return self._op("transpose", dim0=dim0, dim1=dim1)

    def t(self) -> RemoteTensor:
        return self if self.ndim < 2 else self.transpose(0, 1)

    @property
    def T(self) -> RemoteTensor:
        return self.permute(*reversed(range(self.ndim)))

    @property
    def mT(self) -> RemoteTensor:
        return self.transpose(-2, -1)

    def permute(self, *dims: Any) -> RemoteTensor:
        return self._op("permute", dims=list(as_size(dims)))

    def squeeze(self, dim: Any = None) -> RemoteTensor:
        return self._op("squeeze") if dim is None else self._op("squeeze", dim=dim)

    def unsqueeze(self, dim: int) -> RemoteTensor:
        return self._op("unsqueeze", dim=dim)

    def expand(self, *size: Any) -> RemoteTensor:
        return self._op("expand", size=list(as_size(size)))

    def expand_as(self, other: RemoteTensor) -> RemoteTensor:
        return self.expand(*other.shape)

    def clone(self) -> RemoteTensor:
        return self._op("clone")

    def to(self, dtype: Any) -> RemoteTensor:
        dt = D.as_dtype(dtype)
        return self if dt is self.dtype else self._op("to", dtype=dt.name)

    def float(self) -> RemoteTensor:
        return self.to(D.float32)

    def double(self) -> RemoteTensor:
        return self.to(D.float64)

    def long(self) -> RemoteTensor:
        return self.to(D.int64)

    def where(self, condition: Any, other: Any) -> RemoteTensor:
        return apply(self._conn, "where", [condition, self, other], {})


def _unary(op: str) -> Any:
    def method(self: RemoteTensor) -> RemoteTensor:
        return self._op(op)

    method.__name__ = op
    method.__doc__ = f"torch's Tensor.{op}."
    return method


for _name in ("exp", "log", "sqrt", "abs", "sin", "cos", "tan", "tanh", "sigmoid", "relu", "neg"):
    setattr(RemoteTensor, _name, _unary(_name))
