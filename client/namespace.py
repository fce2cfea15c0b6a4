"""``connect(url)``: a session namespace that reads like ``torch``."""

from __future__ import annotations

from collections.abc import Sequence
from types import SimpleNamespace, TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np

from engine import dtypes as D
from engine.arrays import array_from
from engine.device import accelerator, device, get_default_device, set_default_device
from engine.errors import InvalidArgumentError
from engine.meta import arange_plan, linspace_values, table_version
from engine.shapes import Size, as_size
from engine.signatures import build, inplace_function
from engine.torch_keywords import accept_torch_keywords_on
from engine.torch_names import TORCH_NAMES
from engine.unsupported import missing

from . import optim
from .autograd_api import _DefaultDtype, autograd_namespace
from .connection import Connection
from .errors import ServerError
from .nn import remote_nn
from .tensor import (
    SPECS,
    MaxResult,
    MinResult,
    RemoteTensor,
    SortResult,
    TopkResult,
    apply,
    conn_of,
    record,
    record_parts,
    reraise,
    wire_value,
)
from .viz import Viz
from .wire import decode

__all__ = ["OpTableMismatchError", "RemoteTorch", "connect"]


def _host_number(v: Any) -> Any:
    """A factory's bound: a number, or a one-element (remote) tensor's value."""
    return v.item() if isinstance(v, RemoteTensor | np.ndarray | np.generic) else v


class OpTableMismatchError(RuntimeError):
    """The server's op table differs from this client's (GET /v1/ops carries its version)."""


def _tensor_arg(fname: str, x: Any) -> RemoteTensor:
    """torch's TypeError for a first argument that is not a tensor."""
    if not isinstance(x, RemoteTensor):
        raise TypeError(
            f"{fname}(): argument 'input' (position 1) must be Tensor, not {type(x).__name__}"
        )
    return x


def _moments(
    name: str, x: Any, dim: Any, unbiased: Any, keepdim: bool, correction: Any
) -> tuple[RemoteTensor, RemoteTensor]:
    """var_mean/std_mean: the wire op gives the first result, moment_mean the mean (both
    with torch's grad_fn, VarMeanBackward0 or StdMeanBackward0)."""
    x = _tensor_arg(name, x)
    first = record(name, x, dim, unbiased, keepdim, correction)
    mean_dim = None if isinstance(dim, bool) else dim  # var_mean(x, False): the unbiased form
    return first, record("moment_mean", x, mean_dim, keepdim, name.split("_")[0])


class _Linalg:
    """``torch.linalg`` of a session: ``vector_norm`` (the wire's ``norm``)."""

    @staticmethod
    def vector_norm(
        x: Any, ord: Any = 2, dim: Any = None, keepdim: bool = False, *, dtype: Any = None
    ) -> RemoteTensor:
        if not isinstance(x, RemoteTensor):
            raise TypeError(
                "linalg_vector_norm(): argument 'input' (position 1) must be Tensor, not "
                f"{type(x).__name__}"
            )
        if not isinstance(ord, int | float):
            raise TypeError(
                "linalg_vector_norm(): argument 'ord' (position 2) must be Number, not "
                f"{type(ord).__name__}"
            )
        return record("norm", x, float(ord), dim, keepdim, dtype)

    def __getattr__(self, name: str) -> Any:
        missing("linalg", name, "'torch.linalg'")


class _NoGrad:
    """``torch.no_grad()`` for this session: a context manager and a decorator."""

    def __init__(self, conn: Connection, enabled: bool = False) -> None:
        self.conn = conn
        self.enabled = enabled
        self._prev: list[bool] = []

    def __enter__(self) -> None:
        self._prev.append(self.conn.grad_enabled)
        self.conn.grad_enabled = self.enabled

    def __exit__(self, *exc: object) -> None:
        self.conn.grad_enabled = self._prev.pop()

    def __call__(self, fn: Any) -> Any:
        import functools
        import inspect

        if inspect.isgeneratorfunction(fn):
            # as torch: the mode holds while the generator runs, the caller's between steps
            @functools.wraps(fn)
            def generator(*a: Any, **k: Any) -> Any:
                gen = fn(*a, **k)
                mode = _NoGrad(self.conn, self.enabled)
                try:
                    with mode:
                        request = gen.send(None)
                    while True:
                        try:
                            sent = yield request
                        except GeneratorExit:
                            with mode:
                                gen.close()
                            raise
                        except BaseException as exc:
                            with mode:
                                request = gen.throw(exc)
                        else:
                            with mode:
                                request = gen.send(sent)
                except StopIteration as stop:
                    return stop.value

            return generator

        @functools.wraps(fn)
        def wrapper(*a: Any, **k: Any) -> Any:
            with _NoGrad(self.conn, self.enabled):
                return fn(*a, **k)

        return wrapper


class _SetGradEnabled(_NoGrad):
    """``torch.set_grad_enabled(mode)``: sets the mode when called, as torch's does."""

    def __init__(self, conn: Connection, enabled: bool) -> None:
        super().__init__(conn, enabled)
        self._before = conn.grad_enabled
        conn.grad_enabled = enabled

    def __enter__(self) -> None:
        self._prev.append(self._before)
        self.conn.grad_enabled = self.enabled

    def __call__(self, fn: Any) -> Any:
        self.conn.grad_enabled = self._before  # a decorator does not change the current mode
        return super().__call__(fn)


class _DtypeNames:
    """torch's dtype names (a base class, so ``bool`` and ``float`` stay the builtins in
    ``RemoteTorch``'s own body)."""

    float16 = half = D.float16
    float32 = float = D.float32
    float64 = double = D.float64
    int32 = int = D.int32
    int64 = long = D.int64
    bool = D.bool_


if TYPE_CHECKING:  # the functions built from the op table below
    _TableFunctions = Any
else:
    _TableFunctions = object


class RemoteTorch(_DtypeNames, _TableFunctions):
    """The namespace ``connect`` returns: factories, dtypes, functions, autograd, nn.functional."""

    Size = Size
    device = device
    accelerator = accelerator
    get_default_device = staticmethod(get_default_device)

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self.Tensor = RemoteTensor
        self._default_dtype = _DefaultDtype()
        self._seed: int | None = None  # from manual_seed, for the next random fill
        self.autograd = autograd_namespace(self)
        self.return_types = SimpleNamespace(
            max=MaxResult, min=MinResult, sort=SortResult, topk=TopkResult
        )
        self.linalg = _Linalg()
        self.viz = Viz(conn)  # torch.viz.make_dot(out): torchviz's picture, drawn remotely
        self.nn = remote_nn(self)  # torch.nn: engine.nn's modules bound to this session
        self.optim = optim

    # ------------------------------------------------------------- session
    @property
    def connection(self) -> Connection:
        return self._conn

    @property
    def requests(self) -> int:
        """HTTP requests sent so far (for measuring round trips)."""
        return self._conn.requests

    def close(self) -> None:
        """Run what is pending, delete the session (every tensor of it), close the connection."""
        self._conn.close()

    def sync(self) -> None:
        """Send what is recorded now (a deferred error is raised here, naming its op's line)."""
        self._conn.sync()

    def __enter__(self) -> RemoteTorch:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._conn.close(run_pending=exc is None)  # never hide the block's own exception

    def no_grad(self) -> _NoGrad:
        return _NoGrad(self._conn, False)

    def enable_grad(self) -> _NoGrad:
        return _NoGrad(self._conn, True)

    def set_grad_enabled(self, mode: bool) -> _NoGrad:
        return _SetGradEnabled(self._conn, bool(mode))

    def is_grad_enabled(self) -> bool:
        return self._conn.grad_enabled

    def __getattr__(self, name: str) -> Any:
        missing("torch", name, "'RemoteTorch' object")

    def set_default_device(self, d: Any) -> None:
        """The CPU only: a session's device is its backend (``connect(url, backend=...)``)."""
        set_default_device(d)

    def get_default_dtype(self) -> D.DType:
        return self._default_dtype.get()

    def set_default_dtype(self, d: Any) -> None:
        """This namespace's default float dtype (factories and float literals of tensor())."""
        self._default_dtype.set(d)

    def manual_seed(self, seed: int) -> None:
        """``torch.manual_seed``: the session's generator starts over from ``seed`` (sent with
        the next ``randn``/``rand``, as ``connect(url, seed=...)`` seeds a new session). The
        values are NumPy's PCG64 stream, not torch's: the same seed gives the same values."""
        seed = int(seed)
        if not -(2**63) <= seed < 2**64:
            raise ValueError("Overflow when unpacking long long")
        self._seed = seed % 2**64  # a negative seed wraps, as torch's

    # ------------------------------------------------------------ factories
    def _leaf(self, info: dict[str, Any], name: str) -> RemoteTensor:
        t = RemoteTensor(
            self._conn,
            name,
            tuple(info["shape"]),
            D.as_dtype(info["dtype"]),
            info["requires_grad"],
            True,
        )
        t._absorb(info)
        return t

    def _fill(
        self, fill: str, shape: Sequence[int] | None, dtype: Any, requires_grad: bool, **extra: Any
    ) -> RemoteTensor:
        name = self._conn.new_name()
        body: dict[str, Any] = {
            "name": name,
            "fill": fill,
            "requires_grad": requires_grad,
            **{k: v for k, v in extra.items() if v is not None},
        }
        if shape is not None:
            body["shape"] = list(shape)
        if fill in ("randn", "rand") and self._seed is not None:
            body["seed"], self._seed = self._seed, None
        dtype = self._default_dtype.for_fill(fill, dtype, extra)
        if requires_grad and dtype is not None and not D.as_dtype(dtype).is_floating_point:
            raise InvalidArgumentError(
                "Only Tensors of floating point and complex dtype can require gradients"
            )
        if dtype is not None:
            body["dtype"] = D.as_dtype(dtype).name
        return self._leaf(self._conn.create(body), name)

    def tensor(
        self, data: Any, *, dtype: Any = None, requires_grad: bool = False, device: Any = None
    ) -> RemoteTensor:
        """``torch.tensor``: torch's dtype inference, done locally; the values go to the server."""
        if isinstance(data, RemoteTensor):
            data = data._host()
        arr = np.asarray(array_from(data, dtype, xp=np))
        if requires_grad and arr.dtype.kind != "f":  # torch's factory text, before sending
            raise InvalidArgumentError(
                "Only Tensors of floating point and complex dtype can require gradients"
            )
        if dtype is None and arr.dtype == np.float32:  # a float literal: the default dtype
            arr = arr.astype(self._default_dtype.get().np)
        name = self._conn.new_name()
        return self._leaf(self._conn.put_array(name, arr, requires_grad), name)

    def linspace(
        self,
        start: Any,
        end: Any,
        steps: int,
        *,
        dtype: Any = None,
        layout: Any = None,
        device: Any = None,
        requires_grad: bool = False,
    ) -> RemoteTensor:
        """``torch.linspace``: the values are computed here (engine.linspace's) and sent."""
        return self._spaced(start, end, steps, None, dtype, requires_grad)

    def logspace(
        self,
        start: Any,
        end: Any,
        steps: int,
        base: float = 10.0,
        *,
        dtype: Any = None,
        layout: Any = None,
        device: Any = None,
        requires_grad: bool = False,
    ) -> RemoteTensor:
        """``torch.logspace``: ``base ** linspace(start, end, steps)``, computed here."""
        return self._spaced(start, end, steps, _host_number(base), dtype, requires_grad)

    def _spaced(
        self, start: Any, end: Any, steps: Any, base: Any, dtype: Any, requires_grad: bool
    ) -> RemoteTensor:
        dt = D.as_dtype(dtype) if dtype is not None else self._default_dtype.get()
        values = linspace_values(
            _host_number(start), _host_number(end), _host_number(steps), dt, base=base
        )
        return self.tensor(values, dtype=dt, requires_grad=requires_grad)

    def empty(
        self, *size: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None
    ) -> RemoteTensor:
        """``torch.empty``: its values are unspecified; these are zeros."""
        return self.zeros(*size, dtype=dtype, requires_grad=requires_grad)

    def from_numpy(self, array: np.ndarray[Any, Any]) -> RemoteTensor:
        return self.tensor(array)

    def as_tensor(self, data: Any, dtype: Any = None) -> RemoteTensor:
        return data if isinstance(data, RemoteTensor) else self.tensor(data, dtype=dtype)

    def zeros(
        self, *size: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None
    ) -> RemoteTensor:
        return self._fill("zeros", as_size(size), dtype, requires_grad)

    def ones(
        self, *size: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None
    ) -> RemoteTensor:
        return self._fill("ones", as_size(size), dtype, requires_grad)

    def full(
        self,
        size: Any,
        fill_value: Any,
        *,
        dtype: Any = None,
        requires_grad: bool = False,
        device: Any = None,
    ) -> RemoteTensor:
        return self._fill("full", as_size((size,)), dtype, requires_grad, fill_value=fill_value)

    def randn(
        self, *size: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None
    ) -> RemoteTensor:
        return self._fill("randn", as_size(size), dtype, requires_grad)

    def rand(
        self, *size: Any, dtype: Any = None, requires_grad: bool = False, device: Any = None
    ) -> RemoteTensor:
        return self._fill("rand", as_size(size), dtype, requires_grad)

    def eye(
        self,
        n: int,
        m: int | None = None,
        *,
        dtype: Any = None,
        requires_grad: bool = False,
        device: Any = None,
    ) -> RemoteTensor:
        return self._fill("eye", [n, n if m is None else m], dtype, requires_grad)

    def arange(
        self,
        start: Any = 0,
        end: Any = None,
        step: Any = 1,
        *,
        dtype: Any = None,
        layout: Any = None,
        device: Any = None,
        requires_grad: bool = False,
    ) -> RemoteTensor:
        """``torch.arange(end)``, ``(start, end)``, ``(start, end, step)``, keywords as torch's;
        bounds may be 0-d tensors. torch's errors are raised here, before sending."""
        if end is None:
            start, end = 0, start
        start, end, step = _host_number(start), _host_number(end), _host_number(step)
        dt = arange_plan(start, end, step, dtype)[3]  # torch's errors here, before sending
        if requires_grad and not dt.is_floating_point:
            raise InvalidArgumentError(
                "Only Tensors of floating point and complex dtype can require gradients"
            )
        return self._fill("arange", None, dtype, requires_grad, start=start, end=end, step=step)

    def zeros_like(self, t: RemoteTensor, **kw: Any) -> RemoteTensor:
        return self.zeros(*t.shape, dtype=kw.pop("dtype", t.dtype), **kw)

    def ones_like(self, t: RemoteTensor, **kw: Any) -> RemoteTensor:
        return self.ones(*t.shape, dtype=kw.pop("dtype", t.dtype), **kw)

    def randn_like(self, t: RemoteTensor, **kw: Any) -> RemoteTensor:
        return self.randn(*t.shape, dtype=kw.pop("dtype", t.dtype), **kw)

    def rand_like(self, t: RemoteTensor, **kw: Any) -> RemoteTensor:
        return self.rand(*t.shape, dtype=kw.pop("dtype", t.dtype), **kw)

    def full_like(self, t: RemoteTensor, fill_value: Any, **kw: Any) -> RemoteTensor:
        return self.full(t.shape, fill_value, dtype=kw.pop("dtype", t.dtype), **kw)

    def is_tensor(self, obj: Any) -> bool:
        return isinstance(obj, RemoteTensor)

    def numel(self, t: RemoteTensor) -> int:
        return t.numel()

    # ------------------------------------------------------------ functions
    # (the op table's functions are attached below; these compose or return tuples)
    def mm(self, a: RemoteTensor, b: Any) -> RemoteTensor:
        return a.mm(b)

    def max(self, x: RemoteTensor, dim: Any = None, keepdim: bool = False) -> Any:
        return x.max(dim, keepdim)

    def min(self, x: RemoteTensor, dim: Any = None, keepdim: bool = False) -> Any:
        return x.min(dim, keepdim)

    def all(self, x: RemoteTensor, dim: Any = None, keepdim: bool = False) -> RemoteTensor:
        return x.all(dim, keepdim)

    def sort(
        self, input: RemoteTensor, dim: int = -1, descending: bool = False, *, stable: Any = None
    ) -> Any:
        return _tensor_arg("sort", input).sort(dim, descending, stable=stable)

    def topk(
        self, input: RemoteTensor, k: int, dim: int = -1, largest: bool = True, sorted: bool = True
    ) -> Any:
        return _tensor_arg("topk", input).topk(k, dim, largest, sorted)

    def allclose(
        self,
        input: RemoteTensor,
        other: Any,
        rtol: float = 1e-05,
        atol: float = 1e-08,
        equal_nan: bool = False,
    ) -> bool:
        return _tensor_arg("allclose", input).allclose(other, rtol, atol, equal_nan)

    def equal(self, input: RemoteTensor, other: Any) -> bool:
        return _tensor_arg("equal", input).equal(other)

    def var_mean(
        self,
        input: RemoteTensor,
        dim: Any = None,
        unbiased: Any = None,
        keepdim: bool = False,
        *,
        correction: Any = None,
    ) -> tuple[RemoteTensor, RemoteTensor]:
        return _moments("var_mean", input, dim, unbiased, keepdim, correction)

    def std_mean(
        self,
        input: RemoteTensor,
        dim: Any = None,
        unbiased: Any = None,
        keepdim: bool = False,
        *,
        correction: Any = None,
    ) -> tuple[RemoteTensor, RemoteTensor]:
        return _moments("std_mean", input, dim, unbiased, keepdim, correction)

    def any(self, x: RemoteTensor, dim: Any = None, keepdim: bool = False) -> RemoteTensor:
        return x.any(dim, keepdim)

    def square(self, x: RemoteTensor) -> RemoteTensor:
        return x.square()

    def t(self, x: RemoteTensor) -> RemoteTensor:
        return x.t()

    def detach(self, x: RemoteTensor) -> RemoteTensor:
        return x.detach()

    def einsum(self, equation: str, *operands: Any) -> RemoteTensor:
        """``torch.einsum(equation, *operands)`` or ``(equation, [operands])``: on the wire the
        operands are the args and the equation a kwarg."""
        ops = list(operands)
        if len(ops) == 1 and isinstance(ops[0], list | tuple):
            ops = list(ops[0])
        return apply(conn_of(*ops), "einsum", ops, {"equation": equation})

    # ------------------------------------------------------------- autograd
    def _backward(
        self,
        tensors: RemoteTensor | Sequence[RemoteTensor],
        grad_tensors: Any = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
        inputs: Sequence[RemoteTensor] | None = None,
    ) -> None:
        """``torch.autograd.backward``: one ``backward`` per output, in order."""
        outs = [tensors] if isinstance(tensors, RemoteTensor) else list(tensors)
        if grad_tensors is None or isinstance(grad_tensors, RemoteTensor):
            grads = [grad_tensors] * len(outs)
        else:
            grads = list(grad_tensors)
        for i, (t, g) in enumerate(zip(outs, grads, strict=True)):
            keep = retain_graph if i == len(outs) - 1 else True
            t.backward(g, keep, create_graph, inputs)

    def _grad(
        self,
        outputs: RemoteTensor | Sequence[RemoteTensor],
        inputs: RemoteTensor | Sequence[RemoteTensor],
        grad_outputs: Any = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
        allow_unused: bool | None = None,
        materialize_grads: bool = False,
    ) -> tuple[RemoteTensor | None, ...]:
        """``torch.autograd.grad``; the results stay on the server, bound to new names."""
        outs = [outputs] if isinstance(outputs, RemoteTensor) else list(outputs)
        ins = [inputs] if isinstance(inputs, RemoteTensor) else list(inputs)
        conn = ins[0]._conn
        names = [conn.new_name() for _ in ins]
        body: dict[str, Any] = {
            "outputs": [o.name for o in outs],
            "inputs": [i.name for i in ins],
            "retain_graph": retain_graph,
            "create_graph": create_graph,
            "allow_unused": bool(allow_unused or materialize_grads),
            "bind": names,
            "encoding": "b64",
        }
        if grad_outputs is not None:
            gos = grad_outputs if isinstance(grad_outputs, list | tuple) else [grad_outputs]
            body["grad_outputs"] = [None if g is None else wire_value(g) for g in gos]
        conn.check([*body["outputs"], *body["inputs"]])
        try:
            result = conn.call("POST", "/grad", json=body)
        except ServerError as exc:
            reraise(exc)
            raise
        out: list[RemoteTensor | None] = []
        for name, inp in zip(names, ins, strict=True):
            td = result["grads"].get(inp.name)
            if td is None:
                out.append(self.zeros_like(inp) if materialize_grads else None)
                continue
            conn.bound.add(name)
            g = RemoteTensor(conn, name, inp.shape, inp.dtype, create_graph, not create_graph)
            value = decode(td)
            assert value is not None
            g._value = (conn.data_epoch, value)
            out.append(g)
        return tuple(out)


def connect(
    url: str = "http://127.0.0.1:8000",
    api_key: str | None = None,
    backend: str | None = None,
    timeout: float = 60.0,
    **kwargs: Any,
) -> RemoteTorch:
    """Open a new session on a gradserve server; use the result like ``torch``.

    Raises ``OpTableMismatchError`` (and deletes the new session) when the server's op table
    is not this client's: the client builds its functions and methods from its own.
    """
    conn = Connection(url, api_key, backend, timeout, **kwargs)
    server = conn.send("GET", "/v1/ops").json().get("version")
    if server != table_version():
        conn.close()
        raise OpTableMismatchError(
            f"the server at {url} has op table version {server!r}, this client "
            f"{table_version()!r}: install the gradserve version the server runs"
        )
    return RemoteTorch(conn)


# the hand-written functions take torch's input=/other= too (the table's have torch's names)
accept_torch_keywords_on(
    RemoteTorch, [n for n in vars(RemoteTorch) if not n.startswith("_") and n not in ("Size",)]
)


def _install() -> None:
    """RemoteTorch's functions: every op on the wire with a function or nn.functional form."""
    for spec in SPECS.values():
        name = spec["name"]
        forms = {"function", "nn"} & set(spec["variants"])
        if name not in spec["wire"] or not forms or name in vars(RemoteTorch) or name == "index":
            continue  # index: the client's x[key] writes the wire's own index items

        def run(self: RemoteTorch, *values: Any, _op: str = name) -> Any:
            return (record_parts if SPECS[_op]["parts"] else record)(_op, *values)

        for alias in (name, *spec["aliases"]):
            sig = "self, " + spec["signature"]
            setattr(RemoteTorch, alias, build(alias, sig, run, spec["doc"]))
    # torch's function forms of in-place methods (torch.relu_(x) is x.relu_())
    for spec in SPECS.values():
        if "inplace" not in spec["variants"]:
            continue
        for alias in (spec["name"], *spec["aliases"]):
            name = alias + "_"
            if name in TORCH_NAMES["torch"] and name not in vars(RemoteTorch):
                setattr(RemoteTorch, name, staticmethod(inplace_function(name, RemoteTensor)))


_install()
