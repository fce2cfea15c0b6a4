"""``RemoteTensor``: a handle to a tensor on the server, with torch's operators and methods.

An op records a graph node and returns at once; shape and dtype come from the
engine's inference on stand-in arrays (no round trip, and torch's error on a bad
call right there). Values are fetched when needed, together with the pending nodes.
"""

from __future__ import annotations

import collections
import contextvars
import functools
import math
import operator
import warnings
import weakref
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from engine import dtypes as D
from engine.arrays import array_from
from engine.errors import (
    DoesNotRequireGradError,
    GradRequiresScalarError,
    InvalidArgumentError,
    LeafInplaceError,
)
from engine.formatting import format_tensor, grad_fn_name
from engine.meta import check_inplace, count_parts, infer, op_specs, stand_in
from engine.shapes import Size, normalize_dim
from engine.signatures import build, params, same
from engine.unsupported import missing
from engine.values import HostValues

from .connection import BACKWARD, Connection
from .errors import ServerError
from .inference import NoSignature, remembered, remembered_as, signature
from .wire import encode_b64

__all__ = [
    "SPECS",
    "TRACER",
    "AccumulateGrad",
    "GradFn",
    "MaxResult",
    "MinResult",
    "SortResult",
    "TopkResult",
    "RemoteTensor",
    "apply",
    "conn_of",
    "record",
    "record_parts",
    "wire_value",
]

# the tracer recording user code into a template (client.tracing), while one is active
TRACER: contextvars.ContextVar[Any] = contextvars.ContextVar("gradserve_tracer", default=None)
# exceptions a Function's backward raised while traced, by token: a backward that reaches
# the Function on the server raises them (``reraise``); the oldest go past a bound
FUNCTION_ERRORS: collections.OrderedDict[str, BaseException] = collections.OrderedDict()


def reraise(exc: ServerError) -> None:
    """Raise the user's own exception when ``exc`` is the server reaching a Function whose
    backward raised while the client traced it (torch raises it from ``backward()``)."""
    token = exc.problem.get("function_error")
    if isinstance(token, str) and token in FUNCTION_ERRORS:
        raise FUNCTION_ERRORS[token] from exc


# the op table's declarations (the engine's, which the server's must equal: see ``connect``)
SPECS: dict[str, dict[str, Any]] = {s["name"]: s for s in op_specs()}
_DIFFERENTIABLE: dict[str, bool] = {name: bool(s["differentiable"]) for name, s in SPECS.items()}
_VIEW: dict[str, bool] = {name: bool(s.get("view")) for name, s in SPECS.items()}  # aliases input 0

_UNKNOWN: Any = object()
_NON_LEAF_GRAD = (
    "The .grad attribute of a Tensor that is not a leaf Tensor is being accessed. Its .grad "
    "attribute won't be populated during autograd.backward(). If you indeed want the .grad "
    "field to be populated for a non-leaf Tensor, use .retain_grad() on the non-leaf Tensor. "
    "If you access the non-leaf Tensor by mistake, make sure you access the leaf Tensor "
    "instead. See github.com/pytorch/pytorch/pull/30531 for more information."
)


class GradFn:
    """What ``.grad_fn`` shows: prints as torch's ``<AddBackward0 object at 0x...>``.

    ``next_functions`` asks the server (``GET .../tensors/{name}/grad_fn``) for the graph
    behind it: a node that is some live tensor's current grad_fn is that tensor's GradFn
    object, a leaf is an ``AccumulateGrad`` whose ``variable`` is the leaf's RemoteTensor."""

    __slots__ = ("_name", "_next", "_path", "_root")

    def __init__(
        self, name: str, root: RemoteTensor | None = None, path: tuple[int, ...] = ()
    ) -> None:
        self._name = name
        # the tensor the walk starts from, held while this lives (torch's grad_fn keeps its
        # graph alive too); a tensor's own grad_fn gets it when Python reads ``.grad_fn``
        self._root = root
        self._path = path
        self._next: tuple[tuple[Any, int], ...] | None = None

    def name(self) -> str:
        return grad_fn_name(self._name)

    def __repr__(self) -> str:
        return f"<{self._name} object at {hex(id(self))}>"

    @property
    def next_functions(self) -> tuple[tuple[Any, int], ...]:
        if self._next is None:
            self._next = self._fetch_next()
        return self._next

    def _fetch_next(self) -> tuple[tuple[Any, int], ...]:
        root = self._root
        if root is None:
            raise RuntimeError(f"{self._name}.next_functions: not known for this grad_fn")
        conn = root._conn
        conn.check([root.name])
        params = {"path": ",".join(map(str, self._path))} if self._path else {}
        info = conn.call("GET", f"/tensors/{root.name}/grad_fn", params=params)
        out: list[tuple[Any, int]] = []
        for i, e in enumerate(info["next_functions"]):
            if e is None:
                out.append((None, 0))
            elif e["name"] == AccumulateGrad.NAME:
                out.append((AccumulateGrad(_live(conn, e["variable"])), 0))
            else:
                out.append((_owned(conn, e, root, (*self._path, i)), 0))
        return tuple(out)


class AccumulateGrad:
    """A leaf in ``next_functions``: ``variable`` is the leaf tensor."""

    NAME = "torch::autograd::AccumulateGrad"
    __slots__ = ("variable",)
    next_functions: tuple[tuple[Any, int], ...] = ()

    def __init__(self, variable: RemoteTensor | None) -> None:
        self.variable = variable

    def name(self) -> str:
        return self.NAME

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {hex(id(self))}>"


# RemoteTensors by (session, name) that next_functions gives back as the user's own objects:
# leaves that require grad (AccumulateGrad.variable) and tensors whose .grad_fn Python read
# (only those can be compared with ``is``)
_LIVE: weakref.WeakValueDictionary[tuple[int, str], RemoteTensor] = weakref.WeakValueDictionary()


def _live(conn: Any, name: str | None) -> RemoteTensor | None:
    return None if name is None else _LIVE.get((id(conn), name))


def _owned(conn: Any, e: dict[str, Any], root: RemoteTensor, path: tuple[int, ...]) -> GradFn:
    """The GradFn of a node: a live tensor's own grad_fn object when the node is it."""
    for name in e.get("tensors", ()):
        t = _live(conn, name)
        if t is None:
            continue
        fn = t.grad_fn
        if fn is not None and fn._name == e["name"]:
            return fn
    return GradFn(e["name"], root, path)


class _ValuesIndices(NamedTuple):
    values: RemoteTensor
    indices: RemoteTensor


class MaxResult(_ValuesIndices):
    """``torch.return_types.max``: ``(values, indices)``, printed as torch prints it."""

    def __repr__(self) -> str:
        kind = type(self).__name__.removesuffix("Result").lower()
        return f"torch.return_types.{kind}(\nvalues={self.values!r},\nindices={self.indices!r})"


class MinResult(MaxResult):
    """``torch.return_types.min``."""


class SortResult(MaxResult):
    """``torch.return_types.sort``."""


class TopkResult(MaxResult):
    """``torch.return_types.topk``."""


# ------------------------------------------------------------------ wire values
def _host_array(a: Any) -> np.ndarray[Any, Any]:
    """A non-remote value as torch.tensor would type it (float64 NumPy arrays stay float64)."""
    return np.asarray(array_from(a, xp=np))


def wire_value(a: Any) -> Any:
    """A gradient or grad_output as the wire takes it: a name or TensorData."""
    if isinstance(a, RemoteTensor):
        return a.name
    return encode_b64(_host_array(a))


def _flat(args: Sequence[Any]) -> Iterator[Any]:
    for a in args:
        if isinstance(a, list | tuple):
            yield from _flat(a)
        else:
            yield a


def _scalar(a: Any) -> Any:
    """NumPy scalars as Python's, so they promote as torch's Python numbers do."""
    return a.item() if isinstance(a, np.generic) and a.ndim == 0 else a


def _finite(value: Any) -> Any:
    """``value`` (an argument or attribute), refused as JSON refuses it when it holds a
    non-finite float: the wire's numbers are JSON's (a message naming it, at the call)."""
    if type(value) is float or isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(
                f"Out of range float values are not JSON compliant: {value!r} (a gradserve "
                "wire argument is a finite number)"
            )
    elif isinstance(value, list | tuple):
        for v in value:
            _finite(v)
    elif isinstance(value, dict):
        for v in value.values():
            _finite(v)
    return value


def _name(t: RemoteTensor) -> str:
    """A tensor's wire name (while tracing: as the template names it)."""
    tracer = TRACER.get()
    return t.name if tracer is None else tracer.name_of(t)


def _wire(a: Any) -> Any:
    """An argument as the wire takes it: a name, a scalar, a list, or an inline value."""
    a = _scalar(a)
    if isinstance(a, RemoteTensor):
        return _name(a)
    if isinstance(a, bool | int | float) or a is None:
        return _finite(a)
    if isinstance(a, list | tuple) and any(isinstance(x, RemoteTensor) for x in _flat(a)):
        return [_wire(x) for x in a]
    return {"value": encode_b64(_host_array(a))}


def _meta(a: Any) -> Any:
    """An argument as the engine's inference takes it: stand-ins for remote tensors."""
    a = _scalar(a)
    if isinstance(a, RemoteTensor):
        return stand_in(a.shape, a.dtype)
    if isinstance(a, list | tuple) and any(isinstance(x, RemoteTensor) for x in _flat(a)):
        return [_meta(x) for x in a]
    if isinstance(a, bool | int | float) or a is None:
        return a
    return _host_array(a)


def _index_items(key: Any) -> tuple[list[Any], list[Any], bool]:
    """An index key as wire items, as stand-in items, and whether its result shape is known."""
    items = list(key) if isinstance(key, tuple) else [key]
    wire: list[Any] = []
    meta: list[Any] = []
    known = True
    for it in items:
        it = _scalar(it)
        if it is None or (isinstance(it, int) and not isinstance(it, bool)):
            wire.append(it)
            meta.append(it)
        elif it is Ellipsis:
            wire.append("...")
            meta.append(Ellipsis)
        elif isinstance(it, slice):
            ends = (it.start, it.stop, it.step)
            bounds = [None if b is None else operator.index(b) for b in ends]
            wire.append({"slice": bounds})
            meta.append(slice(*bounds))
        elif isinstance(it, RemoteTensor):
            wire.append(_name(it))
            meta.append(stand_in(it.shape, it.dtype))
            known = known and it.dtype is not D.bool_  # a mask's result size is in its values
        else:
            arr = np.asarray(it)
            if arr.dtype.kind not in "biu":
                raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
            wire.append({"array": arr.tolist()})
            meta.append(arr)
    return wire, meta, known


_SCALARS = (float, int, bool)


def _arg_key(a: Any) -> Any:
    """``a``'s part of an inference key (see ``client.inference``), quickly for the usual
    arguments: a remote tensor by shape and dtype, a Python scalar by type and value."""
    t = type(a)
    if t is RemoteTensor:
        shape = a._shape
        return (shape if shape is not None else tuple(a.shape), a.dtype)
    if t in _SCALARS or a is None:
        return (t, a)
    return signature(a)


def _inference_key(op: str, args: Sequence[Any], kwargs: dict[str, Any]) -> Any:
    """The key the shape and dtype of ``op`` on ``args`` are remembered by (None: not kept)."""
    try:
        return (op, *[_arg_key(a) for a in args], signature(kwargs) if kwargs else None)
    except NoSignature:
        return None


def _basic_item(it: Any) -> bool:
    """An index item of basic indexing: an int, a slice, None, ... or a 0-d integer tensor."""
    it = _scalar(it)
    if isinstance(it, RemoteTensor):
        return it.ndim == 0 and it.dtype in (D.int32, D.int64)
    return it is None or it is Ellipsis or isinstance(it, slice) or type(it) is int


def _writes_a_view(items: list[Any], shape: tuple[int, ...]) -> bool:
    """Whether torch's ``x[items] = v`` copies into a view (not into x itself): an int, a
    None or a slice that does not select a whole dim."""
    dim: int | None = 0  # the dim an item indexes; unknown after an ellipsis
    for it in items:
        it = _scalar(it)
        if it is None or isinstance(it, int | RemoteTensor):
            return True
        if it is Ellipsis:
            dim = None
            continue
        if it.start not in (None, 0) or it.step not in (None, 1):
            return True
        whole = dim is not None and dim < len(shape) and isinstance(it.stop, int)
        if it.stop is not None and not (whole and it.stop >= shape[dim]):  # type: ignore[index]
            return True
        if dim is not None:
            dim += 1
    return False


def apply(
    conn: Connection,
    op: str,
    args: Sequence[Any],
    kwargs: dict[str, Any],
    *,
    wire_kwargs: dict[str, Any] | None = None,
    shape_known: bool = True,
    view: bool = True,
) -> RemoteTensor:
    """Record ``op`` on the connection and return its (lazy) result (``view``: False where
    a view op's call copies, as advanced indexing does)."""
    tracer = TRACER.get()
    if tracer is not None:  # while tracing, every op goes into the template
        conn = tracer
    if kwargs:
        _finite(kwargs)
    shape, dtype = remembered_as(
        _inference_key(op, args, kwargs),
        lambda: infer(op, [_meta(a) for a in args], kwargs),
    )
    shape_known = shape_known and shape is not None  # masked_select: the values decide
    rg = conn.grad_enabled and dtype.is_floating_point and _DIFFERENTIABLE[op]
    reach, since = _history(conn, args) if rg else (None, None)
    rg = rg and reach is not _NO_LEAVES
    out = RemoteTensor(conn, conn.new_name(), shape if shape_known else None, dtype, rg, not rg)
    conn.has_grad[out.name] = False  # a new tensor has no .grad
    if rg:
        out._reach, out._since = reach, since
    if view and _VIEW[op] and args and isinstance(args[0], RemoteTensor):
        src = args[0]
        root = getattr(src, "_vbase", None)  # torch's _base: the chain's root
        base = src if root is None else root
        out._vbase = base
        views = getattr(base, "_views", None)
        if views is None:
            views = base._views = {}
        views[id(out)] = weakref.ref(out)
    node = {
        "name": out.name,
        "op": op,
        "args": [a.name if type(a) is RemoteTensor and tracer is None else _wire(a) for a in args],
        "kwargs": kwargs if wire_kwargs is None else wire_kwargs,
    }
    conn.record(node)
    return out


_NO_LEAVES: frozenset[str] = frozenset()


def _history(conn: Connection, args: Sequence[Any]) -> tuple[frozenset[str] | None, int | None]:
    """What the local model knows of the graph a result of ``args`` gets: the leaves
    requiring grad a backward from it reaches (empty when no argument requires grad), and
    the oldest ``conn.hazard`` its graph was built under (see ``RemoteTensor.backward``);
    None where not known here."""
    reach: frozenset[str] | None = _NO_LEAVES
    since: int | None = conn.hazard
    for a in args:
        if isinstance(a, list | tuple):  # cat, stack: the tensors inside
            args = list(_flat(args))
            break
    for a in args:
        if isinstance(a, RemoteTensor) and a._rg:
            r = a._leaves()
            if not a._leaf:
                since = None if since is None or a._since is None else min(since, a._since)
            if r is None or reach is None:
                reach = None
            elif not reach:
                reach = r
            elif not r <= reach:
                reach = reach | r
    return reach, since


def _split(spec: dict[str, Any], values: Sequence[Any]) -> tuple[list[Any], dict[str, Any]]:
    """An op's parameter values (in its signature's order) as wire args and kwargs: the
    operands, then the attributes that differ from their defaults (sizes as lists)."""
    ps = params(spec["signature"])
    n = 1 if spec["arity"] is None else spec["arity"]
    args = [list(values[0])] if spec["arity"] is None else list(values[:n])
    kwargs: dict[str, Any] = {}
    rest = list(zip(ps[n:], values[n:], strict=False))  # operators give only the operands
    # an attribute holding a remote tensor (clamp's min and max) is sent positionally, as the
    # wire resolves names in args only: every parameter up to it goes along
    last = max(
        (k for k, (p, v) in enumerate(rest) if p.kind == "positional" and _has_remote(v)),
        default=-1,
    )
    args += [v for _, v in rest[: last + 1]]
    for p, v in rest[last + 1 :]:
        if isinstance(v, tuple | list):  # ``x.reshape((2, 3))`` or ``x.reshape(2, 3)``
            v = list(v[0]) if len(v) == 1 and isinstance(v[0], tuple | list) else list(v)
        elif isinstance(v, D.DType):  # ``dtype=torch.float64``: the wire spells its name
            v = v.name
        if p.required or not same(v, p.default):
            kwargs[p.name] = v
    return args, kwargs


def _has_remote(v: Any) -> bool:
    return any(isinstance(a, RemoteTensor) for a in _flat([v]))


def record(op: str, *values: Any) -> RemoteTensor:
    """Record the wire op ``op`` on its parameters' values (in its signature's order)."""
    spec = SPECS[op]
    kwargs: dict[str, Any]
    if len(values) == spec["arity"]:  # the operands alone (an operator's call): no attributes
        args, kwargs = list(values), {}
    else:
        args, kwargs = _split(spec, values)
    return apply(conn_of(*args), op, args, kwargs)


def record_parts(op: str, *values: Any) -> tuple[RemoteTensor, ...]:
    """A ``parts`` op (``split``): its tuple, one wire node a tensor (the kwarg ``part``)."""
    args, kwargs = _split(SPECS[op], values)
    n = remembered(
        (op, "parts", args, kwargs), lambda: count_parts(op, [_meta(a) for a in args], kwargs)
    )
    conn = conn_of(*args)
    return tuple(apply(conn, op, args, {**kwargs, "part": i}) for i in range(n))


def conn_of(*args: Any) -> Connection:
    """The session of the first remote tensor among ``args``."""
    for a in args:
        if type(a) is RemoteTensor:
            return a._conn
    for a in _flat(args):
        if isinstance(a, RemoteTensor):
            return a._conn
    raise TypeError("expected at least one remote tensor argument")


if TYPE_CHECKING:  # the methods and operators built from the op table below
    _TableMethods = Any
else:
    _TableMethods = object


class RemoteTensor(HostValues, _TableMethods):
    """A tensor living in a server session."""

    __array_priority__ = 1000  # NumPy defers to our operators (``np.float32(2) * t``)

    __slots__ = (
        "__weakref__",
        "_alias",
        "_conn",
        "_grad_fn",
        "_leaf",
        "_reach",
        "_retains",
        "_rg",
        "_shape",
        "_since",
        "_value",
        # views share their base's storage on the server: an in-place op on one changes the
        # base's history (CopySlices) and its views' grad_fn (AsStridedBackward0). Set only
        # where used (read with getattr): the base a view was taken of; a base's views
        "_vbase",
        "_views",
        "dtype",
        "name",
    )
    _vbase: RemoteTensor  # set on a view only
    _views: dict[int, weakref.ref[RemoteTensor]]  # set on a base only

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
        self._grad_fn: Any = None if is_leaf else _UNKNOWN  # GradFn once known
        self._reach: frozenset[str] | None = None  # the leaves it reaches (see ``_leaves``)
        self._since: int | None = None  # a non-leaf's graph's oldest hazard (``_history``)
        # from ``leaf.grad``: (the leaf, conn.grad_gen then); while it holds, the values can
        # be read as the leaf's grad (as .npy when large) without binding this name first
        self._alias: tuple[weakref.ref[RemoteTensor], int] | None = None
        self._value: tuple[int, np.ndarray[Any, Any]] | None = None  # (data_epoch, values)
        self._retains = False  # retain_grad() on a non-leaf
        if is_leaf and requires_grad:  # an AccumulateGrad's variable (next_functions)
            _LIVE[(id(conn), name)] = self

    def __del__(self) -> None:
        # Python dropped the handle: its name is unbound with the session's next request
        # (cheaper than a weakref.finalize per tensor; a handle never fully built has no name)
        try:  # noqa: SIM105 - contextlib.suppress: a context manager per tensor
            self._conn.release(self.name)
        except AttributeError:
            pass

    def __getattr__(self, name: str) -> Any:
        missing("Tensor", name, "'RemoteTensor' object")

    @property
    def _version(self) -> int:
        """The server's version counter of this tensor (shared with its detach()es)."""
        version: int = self._conn.info(self.name)["version"]
        return version

    @property
    def retains_grad(self) -> bool:
        return self._retains and not self._leaf

    # register_hook and retain_grad are client.tracing's (installed there: a hook is traced)

    def _leaves(self) -> frozenset[str] | None:
        """The leaves requiring grad a backward from here reaches (None: not known)."""
        if self._leaf:
            if not self._rg:
                return _NO_LEAVES
            own = self._reach  # a leaf's: itself (kept, as each op on it asks)
            if own is None or len(own) != 1 or self.name not in own:
                own = self._reach = frozenset((self.name,))
            return own
        return self._reach

    # ------------------------------------------------------------- metadata
    def _signature(self) -> tuple[str, tuple[int, ...], str]:
        """What inference depends on (see ``client.inference``)."""
        return ("tensor", tuple(self.shape), self.dtype.name)

    def _absorb(self, info: dict[str, Any], values: np.ndarray[Any, Any] | None = None) -> None:
        self._shape = tuple(info["shape"])
        self._rg = info["requires_grad"]
        self._leaf = info["is_leaf"]
        name = info["grad_fn"]
        old = self._grad_fn
        keep = isinstance(old, GradFn) and old._name == name
        self._grad_fn = old if keep else (None if name is None else GradFn(name))
        if values is not None:
            self._value = (self._conn.data_epoch, values)

    def _refresh(self) -> None:
        self._absorb(self._conn.info(self.name))

    @property
    def shape(self) -> Size:
        if self._shape is None:
            self._refresh()
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
        return Size(self.shape).numel()

    nelement = numel

    def element_size(self) -> int:
        return self.dtype.itemsize

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
        self._conn.check([self.name])
        info = self._conn.call(
            "PATCH", f"/tensors/{self.name}", json={"requires_grad": requires_grad}
        )
        self._absorb(info)
        if self._leaf and self._rg:
            _LIVE[(id(self._conn), self.name)] = self
        return self

    @property
    def grad_fn(self) -> GradFn | None:
        if self._leaf or not self._rg:
            return None
        if self._grad_fn is _UNKNOWN:
            self._refresh()
        grad_fn: GradFn | None = self._grad_fn
        if grad_fn is not None and grad_fn._root is None:  # Python holds it: it may walk
            grad_fn._root = self
            _LIVE[(id(self._conn), self.name)] = self
        return grad_fn

    def is_floating_point(self) -> bool:
        return self.dtype.is_floating_point

    # --------------------------------------------------------------- values
    def _host(self) -> np.ndarray[Any, Any]:
        conn = self._conn
        if self._value is not None and self._value[0] == conn.data_epoch:
            return self._value[1]
        leaf = None if self._alias is None else self._alias[0]()
        if leaf is not None and self._alias is not None and self._alias[1] == conn.grad_gen:
            _, grad = conn.read(leaf.name, "grad", self.numel())
            if grad is not None:
                self._value = (conn.data_epoch, grad)
                return grad
        info, values = conn.read(self.name, "data", None if self._shape is None else self.numel())
        self._absorb(info, values)
        assert self._value is not None
        return self._value[1]

    def numpy(self) -> np.ndarray[Any, Any]:
        if self._rg and self._conn.grad_enabled:  # torch 2.13 allows it in no_grad
            raise InvalidArgumentError(
                "Can't call numpy() on Tensor that requires grad. Use tensor.detach().numpy() "
                "instead."
            )
        return self._host().copy()

    def __repr__(self) -> str:
        values = self._host()
        grad_fn = self.grad_fn
        return format_tensor(
            values,
            dtype=self.dtype.name,
            requires_grad=self._rg,
            grad_fn=None if grad_fn is None else grad_fn._name,
            device=self.device,
        )

    __str__ = __repr__

    # ------------------------------------------------------------- autograd
    def backward(
        self,
        gradient: Any = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
        inputs: Sequence[RemoteTensor] | None = None,
    ) -> None:
        """``tensor.backward``: recorded (an ``autograd.backward`` node), run with the next
        request; gradients accumulate into the leaves' ``.grad`` on the server.

        torch's errors that the local model decides are raised here, without a round trip."""
        conn = self._conn
        conn.check([self.name])
        if not self._rg:
            raise DoesNotRequireGradError(
                "element 0 of tensors does not require grad and does not have a grad_fn"
            )
        if gradient is None and self._shape is not None and self.numel() != 1:
            raise GradRequiresScalarError("grad can be implicitly created only for scalar outputs")
        kwargs: dict[str, Any] = {}
        if retain_graph is not None:
            kwargs["retain_graph"] = retain_graph
        if create_graph:
            kwargs["create_graph"] = True
        if inputs is not None:
            inputs = [inputs] if isinstance(inputs, RemoteTensor) else list(inputs)
            kwargs["inputs"] = [t.name for t in inputs]
        args: list[Any] = [self.name]
        if gradient is not None:
            args.append(_wire(gradient))
        reached = self._leaves() if inputs is None else [t.name for t in inputs]
        # Sent at once (torch's error right here, decided by the server) when the graph may
        # have been freed by an earlier backward or saved values changed in place since it
        # was built; else deferred, like any op.
        risky = not self._leaf and (self._since is None or self._since < conn.hazard)
        node = {"name": None, "op": BACKWARD, "args": args, "kwargs": kwargs}
        try:
            conn.backward(node, reached, now=risky, frees=retain_graph is not True)
        except ServerError as exc:
            reraise(exc)
            raise

    @property
    def grad(self) -> RemoteTensor | None:
        if not self._leaf and not self._retains:
            if self._rg:
                warnings.warn(_NON_LEAF_GRAD, UserWarning, stacklevel=2)
            return None
        conn = self._conn
        conn.check([self.name])
        known = None if self._retains else conn.has_grad.get(self.name)
        values = None
        if known is None:  # not decided locally: ask the server (with what is pending)
            info, values = conn.read(self.name, "grad", self.numel())
            self._absorb(info)
            known = conn.has_grad[self.name] = values is not None
        if not known:
            return None
        # the server's own .grad tensor, bound to a new name by the next request: no round
        # trip until Python needs its values
        g = RemoteTensor(conn, conn.new_name(), self._shape, self.dtype, False, True)
        conn.record({"name": g.name, "op": "grad_of", "args": [self.name], "kwargs": {}})
        conn.has_grad[g.name] = False
        g._alias = (weakref.ref(self), conn.grad_gen)
        if values is not None:
            g._value = (conn.data_epoch, values)
        if conn.graph_grads:  # after backward(create_graph=True): its requires_grad, grad_fn
            g._refresh()
        return g

    @grad.setter
    def grad(self, value: Any) -> None:
        if value is not None:
            raise TypeError("only `tensor.grad = None` (zero_grad) is supported remotely")
        self._conn.zero_grad(self.name)

    def detach(self) -> RemoteTensor:
        return apply(self._conn, "detach", [self], {})

    def detach_(self) -> RemoteTensor:
        """torch's in-place detach: this tensor becomes a leaf without history (its name is
        bound to the server's ``detach`` of it, which shares its values and version)."""
        if self._leaf and not self._rg:
            return self
        self._conn.record({"name": self.name, "op": "detach", "args": [self.name], "kwargs": {}})
        self._rg, self._leaf, self._grad_fn = False, True, None
        self._reach, self._since, self._retains = None, None, False
        return self

    @property
    def data(self) -> RemoteTensor:
        """The values without autograd history (shares storage with this tensor)."""
        return self.detach()

    # ------------------------------------------------------------- in place
    def _inplace(
        self,
        op: str,
        *args: Any,
        check: Callable[[], None] | None = None,
        wire_kwargs: dict[str, Any] | None = None,
        **kwargs: Any,
    ) -> RemoteTensor:
        """Record the in-place wire op ``op`` on self (``check``: the local check where the
        method's own does not apply; ``wire_kwargs``: the kwargs as sent, where they differ)."""
        conn = self._conn
        tracer = TRACER.get()
        if tracer is not None and conn is not tracer:
            tracer.inplace(self)
        if conn.grad_enabled and self._leaf and self._rg:
            raise LeafInplaceError(
                "a leaf Variable that requires grad is being used in an in-place operation."
            )
        base: RemoteTensor | None = getattr(self, "_vbase", None)
        if base is not None and conn.grad_enabled and base._leaf and base._rg:
            raise LeafInplaceError(
                "a view of a leaf Variable that requires grad is being used in an in-place "
                "operation."
            )

        def checked() -> bool:  # torch's shape and dtype checks, locally
            if check is not None:
                check()
            else:
                check_inplace(op, stand_in(self.shape, self.dtype), [*map(_meta, args)], kwargs)
            return True

        _finite(kwargs)
        if check is not None:
            checked()
        else:
            key = _inference_key(op, [self, *args], kwargs)
            remembered_as(None if key is None else ("in place", key), checked)
        sent = kwargs if wire_kwargs is None else wire_kwargs
        node = {"name": None, "op": op, "args": [_name(self), *map(_wire, args)], "kwargs": sent}
        conn.record(node)
        tracked = conn.grad_enabled and (
            self._rg or any(isinstance(a, RemoteTensor) and a.requires_grad for a in args)
        )
        if tracked and base is not None:  # the base's grad_fn becomes CopySlices
            base._reach, base._since = _history(conn, [base, *args])
            base._rg, base._leaf, base._grad_fn = True, False, _UNKNOWN
        if tracked and any(isinstance(a, RemoteTensor) and a.requires_grad for a in args):
            self._reach, self._since = _history(conn, [self, *args])
            self._rg, self._leaf = True, False
        if not self._leaf:
            self._grad_fn = _UNKNOWN
        _views_moved(base if base is not None else self)
        return self

    # ------------------------------------------------------------- operators
    def _op(self, op: str, *args: Any, **kwargs: Any) -> RemoteTensor:
        return apply(self._conn, op, [self, *args], kwargs)

    def __pos__(self) -> RemoteTensor:
        return self

    __hash__ = HostValues.__hash__  # defining __eq__ (below, from the table) would unset it

    def _logical(self, what: str) -> None:
        if self.dtype is not D.bool_:
            raise TypeError(f"{what} is supported remotely for bool tensors only")

    def __invert__(self) -> RemoteTensor:
        self._logical("~")
        return self._op("eq", False)

    def logical_not(self) -> RemoteTensor:
        return self._op("eq", 0)

    def __and__(self, o: Any) -> RemoteTensor:
        self._logical("&")
        return self._op("mul", o)  # on bools: logical and

    def __or__(self, o: Any) -> RemoteTensor:
        self._logical("|")
        return self._op("add", o)  # on bools: logical or

    __rand__ = __and__
    __ror__ = __or__

    def __getitem__(self, key: Any) -> RemoteTensor:
        wire, meta, known = _index_items(key)
        basic = all(  # ints, slices, None, ... (a 0-d integer index counts as an int)
            it is None
            or isinstance(it, int | slice)
            or it is Ellipsis
            or getattr(it, "ndim", 1) == 0
            for it in meta
        )
        return apply(
            self._conn,
            "index",
            [self],
            {"index": meta},
            wire_kwargs={"index": wire},
            shape_known=known,
            view=basic,
        )

    def __setitem__(self, key: Any, value: Any) -> None:
        """``x[key] = value`` for basic indexing, as torch: a copy into the view ``x[key]``
        (x's grad_fn becomes CopySlices), or into ``x`` itself where the key selects all."""
        items = list(key) if isinstance(key, tuple) else [key]
        if all(_basic_item(it) for it in items):
            target = self[key] if _writes_a_view(items, self.shape) else self
            target.copy_(value)
            return
        # index tensors, lists or masks: torch's index_put_ (the wire's in place index_put_)
        wire, meta, _ = _index_items(key)

        def check() -> None:  # torch's index and shape errors, locally, on stand-ins
            stand = stand_in(self.shape, self.dtype)
            check_inplace("__setitem__", stand, [tuple(meta), _meta(value)], {})

        self._inplace("index_put_", value, check=check, wire_kwargs={"index": wire})

    # --------------------------------------------------------------- methods
    # (the op table's methods are attached below; these compose or differ from torch's)
    def square(self) -> RemoteTensor:
        return self._op("pow", 2)

    def all(self, dim: Any = None, keepdim: bool = False) -> RemoteTensor:
        """True where no element is zero (composed: the wire has no logical reductions)."""
        return self.eq(0).sum(dim, keepdim).eq(0)

    def any(self, dim: Any = None, keepdim: bool = False) -> RemoteTensor:
        """True where some element is nonzero."""
        return self.ne(0).sum(dim, keepdim).gt(0)

    def _extreme(self, op: str, dim: Any, keepdim: bool) -> Any:
        if isinstance(dim, RemoteTensor):
            return self._op(op, dim)
        if dim is None:
            return self._op(op)
        kw = {"dim": dim, **({"keepdim": True} if keepdim else {})}
        result = MaxResult if op == "max" else MinResult
        return result(self._op(op, **kw), self._op("arg" + op, **kw))

    def max(self, dim: Any = None, keepdim: bool = False) -> Any:
        """All elements' max, ``(values, indices)`` along ``dim``, or ``maximum`` with a tensor."""
        return self._extreme("max", dim, keepdim)

    def min(self, dim: Any = None, keepdim: bool = False) -> Any:
        """All elements' min, ``(values, indices)`` along ``dim``, or ``minimum`` with a tensor."""
        return self._extreme("min", dim, keepdim)

    def sort(self, dim: int = -1, descending: bool = False, *, stable: Any = None) -> Any:
        """``(values, indices)``: the wire's ``sort`` (values) and ``argsort`` (the same stable
        order)."""
        return SortResult(
            record("sort", self, dim, descending, stable),
            record("argsort", self, dim, descending, stable),
        )

    def topk(self, k: int, dim: int = -1, largest: bool = True, sorted: bool = True) -> TopkResult:
        """``(values, indices)``: the wire's ``topk`` (values), and the first k of ``argsort``
        (the engine's topk takes the same stable order)."""
        values = record("topk", self, k, dim, largest, sorted)  # checks k and dim first
        order = record("argsort", self, dim, largest)
        if values.ndim == 0:
            return TopkResult(values, order)
        key = (
            (Ellipsis, slice(0, k), *[slice(None)] * (-dim - 1))
            if dim < 0
            else (
                *[slice(None)] * dim,
                slice(0, k),
            )
        )
        return TopkResult(values, order[key])

    def allclose(
        self, other: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False
    ) -> bool:
        """A Python bool, as torch's (one round trip: the wire answers a 0-d bool tensor)."""
        return bool(record("allclose", self, other, rtol, atol, equal_nan).item())

    def equal(self, other: Any) -> bool:
        """A Python bool, as torch's (one round trip)."""
        return bool(record("equal", self, other).item())

    def view(self, *shape: Any) -> RemoteTensor:
        return record("reshape", self, shape)

    def view_as(self, other: RemoteTensor) -> RemoteTensor:
        return self.reshape(*other.shape)

    reshape_as = view_as

    def mm(self, other: Any) -> RemoteTensor:
        return self._op("matmul", other)

    def t(self) -> RemoteTensor:
        return record("t", self)  # grad_fn TBackward0, as torch's (even of a 1-d tensor)

    @property
    def T(self) -> RemoteTensor:
        return self if self.ndim < 2 else self.permute(*reversed(range(self.ndim)))

    @property
    def mT(self) -> RemoteTensor:
        return self.transpose(-2, -1)

    def expand_as(self, other: RemoteTensor) -> RemoteTensor:
        return self.expand(*other.shape)

    def contiguous(self) -> RemoteTensor:
        return self

    def cpu(self) -> RemoteTensor:
        return self

    def to(self, *args: Any, **kwargs: Any) -> RemoteTensor:
        """``to(dtype)``, ``to(other)``; a device is accepted and ignored (the session's)."""
        target = kwargs.get("dtype")
        for a in args:
            if isinstance(a, RemoteTensor):
                target = a.dtype
            elif isinstance(a, D.DType) or a in (bool, int, float):
                target = a
        if target is None:
            return self
        dt = D.as_dtype(target)
        return self if dt is self.dtype else self._op("to", dtype=dt.name)

    def type_as(self, other: RemoteTensor) -> RemoteTensor:
        return self.to(other.dtype)

    def float(self) -> RemoteTensor:
        return self.to(D.float32)

    def double(self) -> RemoteTensor:
        return self.to(D.float64)

    def half(self) -> RemoteTensor:
        return self.to(D.float16)

    def long(self) -> RemoteTensor:
        return self.to(D.int64)

    def int(self) -> RemoteTensor:
        return self.to(D.int32)

    def bool(self) -> RemoteTensor:
        return self.to(D.bool_)

    def where(self, condition: Any, other: Any) -> RemoteTensor:
        return apply(self._conn, "where", [condition, self, other], {})


# ------------------------------------------------------- built from the op table
def _method(op: str, sig: str, run: Any) -> Any:
    rest = sig.split(",", 1)[1].strip() if "," in sig else ""
    return build(op, f"self, {rest}" if rest else "self", run, SPECS[op]["doc"])


def _install() -> None:
    """RemoteTensor's methods, in-place methods and operators for every op on the wire."""
    own = set(vars(RemoteTensor))
    for spec in SPECS.values():
        name, wire = spec["name"], spec["wire"]
        if name not in wire:
            continue
        if "method" in spec["variants"]:
            sig = spec["method_signature"] or spec["signature"]
            if spec["method_signature"]:
                sig = "input, " + sig
            run = functools.partial(record_parts if spec["parts"] else record, name)
            for alias in (name, *spec["aliases"]):
                if alias not in own:
                    setattr(RemoteTensor, alias, _method(name, sig, run))
        for dunder in spec["variants"]:
            if dunder.startswith("__") and dunder not in own:
                setattr(RemoteTensor, dunder, _operator(name, dunder, spec))
    for spec in SPECS.values():
        for name in spec["wire"]:
            if name != spec["name"] and name.endswith("_"):  # in place on its first argument
                run = functools.partial(_inplace_run, name)
                for alias in (name, *(a + "_" for a in spec["aliases"])):  # clip_: clamp_
                    setattr(RemoteTensor, alias, _method(spec["name"], spec["signature"], run))


def _views_moved(base: RemoteTensor) -> None:
    """After an in-place op on ``base`` or one of its views: torch gives each view whose
    base requires grad a new grad_fn (AsStridedBackward0) over the base's history."""
    views: dict[int, weakref.ref[RemoteTensor]] = getattr(base, "_views", None) or {}
    for k, ref in list(views.items()):
        v = ref()
        if v is None:
            del views[k]
            continue
        if base._rg:
            v._rg, v._leaf = True, False
            v._reach, v._since = base._reach, base._since
        if not v._leaf:
            v._grad_fn = _UNKNOWN


def _inplace_run(name: str, self: RemoteTensor, *values: Any) -> RemoteTensor:
    args, kwargs = _split(SPECS[name[:-1]], (self, *values))
    return self._inplace(name, *args[1:], **kwargs)


def _operator(op: str, dunder: str, spec: dict[str, Any]) -> Any:
    plain = "__" + dunder[3:]
    if dunder.startswith("__i") and plain in spec["variants"]:
        return lambda self, other: getattr(self, op + "_")(other)
    if dunder.startswith("__r") and plain in spec["variants"]:
        return lambda self, other: record(op, other, self)
    if len(params(spec["signature"])) > 1 and params(spec["signature"])[1].required:
        return lambda self, other: record(op, self, other)
    return lambda self: record(op, self)


_install()
