"""The autograd core: grad mode, graph nodes, saved values, ``apply`` and backward.

A node is data: the op it ran, edges to the nodes (or leaf tensors) of its tensor
inputs, the op's attributes and its saved values. ``backward`` walks nodes in a
topological order without recursion, sums every node's incoming gradients before
running its VJPs, and frees saved values unless asked to retain them.
"""

from __future__ import annotations

import math
import re
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy._core import _ufunc_config  # NumPy 2's error state (see _ignore_token)

from . import dtypes as D
from . import hooks as _hooks
from .errors import (
    GRAPH_FREED_MESSAGE,
    DoesNotRequireGradError,
    GradRequiresScalarError,
    GraphFreedError,
    InvalidArgumentError,
    ModifiedInplaceError,
    ScalarOverflowError,
    ShapeMismatchError,
)
from .formatting import grad_fn_name
from .gradmode import (
    _GradMode,
    _mode,
    _quiet,
    budget,
    check_numel,
    enable_grad,
    is_grad_enabled,
    limits,
    no_grad,
    set_grad_enabled,
)
from .signatures import params
from .tensor import Tensor, as_tensor, make_view
from .unsupported import missing

if TYPE_CHECKING:
    from .ops.table import Op

__all__ = [
    "Node",
    "SavedTensor",
    "apply",
    "budget",
    "backward",
    "check_numel",
    "enable_grad",
    "grad",
    "is_grad_enabled",
    "limits",
    "no_grad",
    "set_grad_enabled",
]


# ------------------------------------------------------------------ saved values
_BACKWARD_SUFFIX = re.compile(r"Backward\d*$")


class SavedTensor:
    """A tensor saved for backward, with its version at save time (torch's SavedVariable).

    An input keeps the grad_fn it had when saved (a later in-place op may rebind the
    tensor's own); an output keeps no reference to its node, avoiding a cycle: the
    node rebuilds it on unpack.
    """

    __slots__ = (
        "array",
        "grad_fn",
        "is_output",
        "leaf",
        "ref",
        "requires_grad",
        "storage",
        "version",
    )

    def __init__(self, t: Tensor, is_output: bool) -> None:
        self.array = t._st.array
        self.storage = t._st
        self.version = t._vc[0]
        self.requires_grad = t.requires_grad
        self.is_output = is_output
        self.leaf = t if (t.grad_fn is None and not is_output) else None
        self.grad_fn = None if is_output else t.grad_fn
        # only to name the op that modified it, in torch's error message (a view is held, as
        # torch holds a saved input: its grad_fn is regenerated after its base changed)
        self.ref = (
            (weakref.ref(t) if type(t) is Tensor else _held(t))
            if self.grad_fn is not None
            else None
        )

    def _owner(self, node: Node) -> str:
        """torch's ", which is output 0 of Add" for the op that last wrote the tensor."""
        current = self.ref() if self.ref is not None else None
        fn = node if self.is_output else (current.grad_fn if current is not None else self.grad_fn)
        if fn is None:
            return ""
        return ", which is output 0 of " + _BACKWARD_SUFFIX.sub("", fn.name())

    def unpack(self, node: Node, vc: list[int]) -> Tensor:
        """The saved tensor, or torch's error when it was modified in place since."""
        if vc[0] != self.version:
            type_name = D.from_numpy_dtype(self.array.dtype).tensor_type
            owner = self._owner(node)
            raise ModifiedInplaceError(
                "one of the variables needed for gradient computation has been modified by an "
                f"inplace operation: [{type_name} {list(self.array.shape)}]{owner}, "
                f"is at "
                f"version {vc[0]}; expected version {self.version} instead. Hint: enable anomaly "
                "detection to find the operation that failed to compute its gradient, with "
                "torch.autograd.set_detect_anomaly(True, check_nan=False)."
            )
        if self.leaf is not None:
            return self.leaf
        grad_fn = node if self.is_output else self.grad_fn
        t = Tensor._make(self.array, self.requires_grad, grad_fn)
        t._st = self.storage
        t._vc = vc
        return t


def _held(t: Tensor) -> Any:
    return lambda: t


# ----------------------------------------------------------- the VJPs' namespace
class _TensorFns:
    """``n.F`` on the differentiable path: the engine's own ops (``create_graph=True``)."""

    @staticmethod
    def cos(x: Any) -> Any:
        return x.cos()

    @staticmethod
    def sin(x: Any) -> Any:
        return x.sin()

    @staticmethod
    def exp(x: Any) -> Any:
        return x.exp()

    @staticmethod
    def sign(x: Any) -> Any:
        return x.sign()

    @staticmethod
    def matmul(a: Any, b: Any) -> Any:
        return a @ b

    @staticmethod
    def mT(x: Any) -> Any:
        return x.mT

    @staticmethod
    def unsqueeze(x: Any, dim: int) -> Any:
        return x.unsqueeze(dim)

    @staticmethod
    def squeeze(x: Any, dim: int) -> Any:
        return x.squeeze(dim)

    @staticmethod
    def flip(x: Any, dims: Sequence[int]) -> Any:
        return x.flip(list(dims))

    @staticmethod
    def roll(x: Any, shifts: Sequence[int], dims: Sequence[int] | None) -> Any:
        return x.roll(list(shifts), None if dims is None else list(dims))

    @staticmethod
    def tril(x: Any, k: int) -> Any:
        return x.tril(k)

    @staticmethod
    def triu(x: Any, k: int) -> Any:
        return x.triu(k)

    @staticmethod
    def tanh_backward(g: Any, y: Any) -> Any:
        """``g * (1 - y * y)``: tanh's VJP from its output."""
        return g * (1 - y * y)

    @staticmethod
    def restore(g: Any, shape: Sequence[int], kept: Sequence[int] | None) -> Any:
        """``g`` reshaped to ``kept`` (when given), then expanded to ``shape``."""
        if kept is not None:
            g = g.reshape(list(kept))
        return g.expand(list(shape))


class _RawFns:
    """``n.F`` on the raw path: the same math on the backend's arrays (no Tensor, no node)."""

    cos = staticmethod(np.cos)
    sin = staticmethod(np.sin)
    exp = staticmethod(np.exp)
    sign = staticmethod(np.sign)
    matmul = staticmethod(np.matmul)
    unsqueeze = staticmethod(np.expand_dims)

    @staticmethod
    def mT(x: Any) -> Any:
        return np.swapaxes(x, -2, -1)

    @staticmethod
    def squeeze(x: Any, dim: int) -> Any:
        return np.squeeze(x, axis=dim)

    @staticmethod
    def flip(x: Any, dims: Sequence[int]) -> Any:
        return np.flip(x, axis=tuple(dims))

    @staticmethod
    def roll(x: Any, shifts: Sequence[int], dims: Sequence[int] | None) -> Any:
        if dims is None:  # torch's roll without dims: of the flattened tensor
            return np.roll(x, shifts[0])
        return np.roll(x, tuple(shifts), axis=tuple(dims))

    @staticmethod
    def tril(x: Any, k: int) -> Any:
        return np.tril(x, k)

    @staticmethod
    def triu(x: Any, k: int) -> Any:
        return np.triu(x, k)

    @staticmethod
    def tanh_backward(g: Any, y: Any) -> Any:
        """The same operations in one new array (the same bits): ``y * y``, then ``1 -`` and
        ``g *`` written into it, where a fresh temporary of the result's shape is ours."""
        t = y * y
        if type(t) is not np.ndarray or np.broadcast_shapes(np.shape(g), t.shape) != t.shape:
            return g * (1 - t)
        np.subtract(1, t, out=t)
        return np.multiply(g, t, out=t)

    @staticmethod
    def restore(g: Any, shape: Sequence[int], kept: Sequence[int] | None) -> Any:
        if kept is not None:
            g = g.reshape(tuple(kept))
        return np.broadcast_to(g, tuple(shape))


class RawView:
    """What a raw-capable VJP sees as ``n`` when ``create_graph=False``: the node's saved
    values as arrays (after the same version check), its attributes and ``F``, the raw
    namespace. One declaration, written with operators, ``n[i]``, ``n.out``, ``n.attrs`` and
    ``n.F``, so serves both paths."""

    __slots__ = ("node",)
    F = _RawFns

    def __init__(self, node: Node) -> None:
        self.node = node

    @property
    def attrs(self) -> dict[str, Any]:
        return self.node.attrs

    @property
    def in_meta(self) -> tuple[Any, ...]:
        return self.node.in_meta

    def __getitem__(self, i: int) -> Any:
        c = self.node.consts[i]
        if c is not None:
            return c
        return self._unpack(i)

    @property
    def out(self) -> Any:
        return self._unpack("out")

    def _unpack(self, key: Any) -> Any:
        node = self.node
        if node.saved is None:
            raise GraphFreedError(GRAPH_FREED_MESSAGE)
        s = node.saved[key]
        vc = node.vcs[key]
        if vc[0] != s.version:
            s.unpack(node, vc)  # raises torch's error
        return s.leaf._st.array if s.leaf is not None else s.storage.array


# ------------------------------------------------------------------------ nodes
class Node:
    """One recorded op: torch's ``grad_fn``. Data only, so a graph can be stored and rebuilt."""

    __slots__ = (
        "__weakref__",
        "attrs",
        "consts",
        "fn_name",
        "in_meta",
        "next",
        "op",
        "retained",
        "saved",
        "vcs",
    )
    F: Any = _TensorFns  # the VJPs' namespace on this (differentiable) path

    def __init__(
        self,
        op: Op,
        name: str,
        next_: tuple[Any, ...],
        consts: tuple[Any, ...],
        in_meta: tuple[Any, ...],
        attrs: dict[str, Any],
    ) -> None:
        self.op = op
        self.fn_name = name  # PyTorch's grad_fn class name for this call
        self.next = next_  # per input: a Node, a leaf Tensor that requires grad, or None
        self.consts = consts  # per input: the Python scalar, or None for a tensor
        self.in_meta = in_meta  # per input: (shape, DType) of a tensor, or None
        self.attrs = attrs
        self.saved: dict[Any, SavedTensor] | None = {}
        self.vcs: dict[Any, list[int]] = {}
        self.retained: Any = None  # weakref to a non-leaf that called retain_grad()

    def __repr__(self) -> str:
        return f"<{self.fn_name} object at {hex(id(self))}>"

    def name(self) -> str:
        """torch's grad_fn name (``AddBackward0``, ``torch::autograd::CopyBackwards``)."""
        return grad_fn_name(self.fn_name)

    # torch's grad_fn API
    def __call__(self, *a: Any) -> Any:  # pragma: no cover - torch allows it; we do not
        raise InvalidArgumentError("calling a grad_fn directly is not supported")

    @property
    def next_functions(self) -> tuple[tuple[Any, int], ...]:
        """``(node, 0)`` per tensor input, like torch (leaves appear as AccumulateGrad)."""
        out: list[tuple[Any, int]] = []
        for target in self.next:
            if target is None or isinstance(target, Node):
                out.append((target, 0))
            else:
                out.append((_AccumulateGrad(target), 0))
        return tuple(out)

    def save(self, key: Any, t: Tensor, is_output: bool = False) -> None:
        assert self.saved is not None
        self.saved[key] = SavedTensor(t, is_output)
        self.vcs[key] = t._vc

    def __getitem__(self, i: int) -> Any:
        """Input ``i`` as saved (a Tensor), or the Python scalar it was."""
        c = self.consts[i]
        if c is not None:
            return c
        return self._unpack(i)

    @property
    def out(self) -> Tensor:
        """The op's saved output."""
        return self._unpack("out")

    def _unpack(self, key: Any) -> Tensor:
        if self.saved is None:
            raise GraphFreedError(GRAPH_FREED_MESSAGE)
        return self.saved[key].unpack(self, self.vcs[key])

    def release(self) -> None:
        """Free saved values (after a backward without retain_graph)."""
        self.saved = None
        self.vcs = {}


class _AccumulateGrad:
    """What torch shows for a leaf in ``next_functions``."""

    __slots__ = ("variable",)

    def __init__(self, variable: Tensor) -> None:
        self.variable = variable

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"

    next_functions: tuple[tuple[Any, int], ...] = ()

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {hex(id(self))}>"


# ------------------------------------------------------------------------ apply
def _result_nbytes(op: Op, inputs: Sequence[Any], attrs: dict[str, Any], dt: Any) -> int:
    """An upper bound on the bytes of ``op``'s result, from the inputs' shapes."""
    n = -1
    if op.shape is not None:
        try:
            n = 1
            for s in op.shape([getattr(x, "shape", ()) for x in inputs], attrs):
                n *= int(s)
        except Exception:  # incompatible shapes: forward raises torch's error
            n = -1
    tensors = [x for x in inputs if isinstance(x, Tensor)]
    if n < 0:  # an elementwise op, a reduction or an index: at most its largest input
        n = max((x._st.array.size for x in tensors), default=1)
    if dt is not None and op.result is None:
        size = dt.itemsize
    elif attrs.get("dtype") is not None:  # a cast names its result's dtype
        try:
            size = D.as_dtype(attrs["dtype"]).itemsize
        except Exception:
            size = 8
    else:  # the inputs' dtype, or a comparison's bool
        size = max((x._st.array.itemsize for x in tensors), default=8)
    return n * size


def _common_dtype(inputs: Sequence[Any], idx: tuple[int, ...] | None) -> D.DType:
    """torch.result_type, with a fast answer for the usual case: one tensor dtype."""
    T = Tensor
    first: D.DType | None = None
    widest = 0  # of the Python scalars: 0 bool, 1 int, 2 float
    for i, x in enumerate(inputs):
        if idx is not None and i not in idx:
            continue
        if isinstance(x, T):
            if first is None:
                first = x._dtype
            elif x._dtype is not first:
                first = None
                break
        else:
            kind = _SCALAR_KIND.get(type(x))
            if kind is None:
                first = None
                break
            widest = max(widest, kind)
    if first is not None and widest <= (2 if first.is_floating_point else first._category):
        return first  # a Python scalar of the same or a lower category never widens
    return D.result_type(*(inputs if idx is None else [inputs[i] for i in idx]))


_SCALAR_KIND = {bool: 0, int: 1, float: 2}


def _ignore_token() -> tuple[Any, Any]:
    """NumPy's error-state context variable and its value inside errstate(all="ignore"):
    setting it directly costs a tenth of entering a new ``np.errstate`` per op. None where
    this NumPy keeps its error state elsewhere (then apply enters errstate as before)."""
    var = getattr(_ufunc_config, "_extobj_contextvar", None)
    if var is None:  # pragma: no cover - another NumPy layout
        return None, None
    with np.errstate(all="ignore"):
        value = var.get()
    return var, value


_ERR_VAR, _ERR_IGNORE = _ignore_token()


def apply(op: Op, inputs: Sequence[Any], attrs: dict[str, Any]) -> Tensor:
    """Run ``op`` on tensors and Python scalars; record a node when grad is on."""
    if _mode.profiler is not None:
        return _mode.profiler.record(op, inputs, attrs)
    T = Tensor
    xp = None
    requires = False
    for x in inputs:
        if isinstance(x, T):
            if xp is None:
                xp = x._xp
            if x._rg:
                requires = True
        elif type(x) is int and not -(2**63) <= x < 2**64:  # what a c10::Scalar holds
            raise ScalarOverflowError(
                "int too big to convert" if x > 0 else "can't convert negative int to unsigned"
            )
    if xp is None:
        raise InvalidArgumentError(f"{op.name}() needs at least one tensor argument")
    # dtype: PyTorch's promotion, applied by casting tensor inputs once
    dt = None
    if op.promote is not None:
        idx = op.promote_args
        dt = _common_dtype(inputs, idx)
        if op.promote == "float" and not dt.is_floating_point:
            dt = D.default_float()
        arrays = [
            (
                x._st.array
                if x._dtype is dt or (idx is not None and i not in idx)
                else x._st.array.astype(dt.np)
            )
            if isinstance(x, T)
            else x
            for i, x in enumerate(inputs)
        ]
    else:
        arrays = [x._st.array if isinstance(x, T) else x for x in inputs]
    if op.check is not None:
        op.check(inputs, attrs)
    limit = _mode.max_elements
    if limit is not None and op.shape is not None:
        product = 1
        if op.bounded:
            for x in inputs:
                if isinstance(x, T):
                    product *= x._st.array.size or 1
        if not op.bounded or product > limit:
            check_numel(op.shape([getattr(x, "shape", ()) for x in inputs], attrs))
    if _mode.reserve is not None:
        _mode.reserve(_result_nbytes(op, inputs, attrs, dt))
    assert op.forward is not None, f"{op.name} is composed, not applied"
    try:
        if _mode.quiet:
            out = op.forward(xp, *arrays, **attrs)
        elif xp is np and _ERR_VAR is not None:  # torch does not warn on 1/0 or overflow
            token = _ERR_VAR.set(_ERR_IGNORE)
            try:
                out = op.forward(xp, *arrays, **attrs)
            finally:
                _ERR_VAR.reset(token)
        else:
            with xp.errstate(all="ignore"):  # torch does not warn on 1/0 or overflow
                out = op.forward(xp, *arrays, **attrs)
    except ValueError as exc:
        raise ShapeMismatchError(_shape_message(op, inputs, exc)) from None
    if type(out) is not np.ndarray and isinstance(out, np.generic):
        out = np.asarray(out)
    if dt is not None and op.result is None and out.dtype != dt.np:
        out = out.astype(dt.np)
    out_dt = dt if dt is not None and op.result is None else None
    _mode.allocated += out.nbytes
    view = op.view
    if not (requires and _mode.enabled and op.differentiable) or out.dtype.kind != "f":
        # as torch: only floating results of differentiable calls get a grad_fn
        if view and (view is True or view(inputs, attrs)):
            return make_view(out, inputs[0], op, attrs, False, None)
        return T._make(out, False, None, out_dt)
    node = record(op, inputs, attrs)
    if view and (view is True or view(inputs, attrs)):
        return make_view(out, inputs[0], op, attrs, True, node)
    result = T._make(out, True, node, out_dt)
    if op.saves_out:
        node.save("out", result, is_output=True)
    return result


def record(op: Op, inputs: Sequence[Any], attrs: dict[str, Any]) -> Node:
    """Build the node of a differentiable call (its output is attached by the caller)."""
    T = Tensor
    next_: list[Any] = []
    consts: list[Any] = []
    meta: list[Any] = []
    for x in inputs:  # one pass: this runs once per recorded op
        if isinstance(x, T):
            gf = x.grad_fn
            next_.append(gf if gf is not None else (x if x._rg else None))
            consts.append(None)
            meta.append((x._st.array.shape, x._dtype))
        else:
            next_.append(None)
            consts.append(x)
            meta.append(None)
    gfn = op.grad_fn
    name = gfn if isinstance(gfn, str) else gfn(inputs, attrs)
    node = Node(op, name, tuple(next_), tuple(consts), tuple(meta), attrs)
    n = len(inputs)
    for i in op.saves:
        if i < n and isinstance(inputs[i], T):
            node.save(i, inputs[i])
    return node


def shortcut(op: Op) -> Callable[[tuple[Any, ...]], Any] | None:
    """``apply``'s shortcut for the calls a training loop makes most, or None where ``op`` has
    none: an elementwise op (no attributes, no ``prepare``) on float NumPy tensors of one
    dtype, or on such a tensor and a Python float second. It makes the same result, node,
    saved values and grad_fn name as ``apply``, and tells a host's budget the same bytes; a call
    it cannot take (another dtype or kind of operand, keywords, a profiler, a broadcast under a
    limit or budget, NumPy's shape error) returns ``NotImplemented`` and the caller goes on to
    ``apply``, which raises torch's errors."""
    if not (op.elementwise and op.raw) or (op.prepare is not None and not op.plain_prepare):
        return None
    n = op.arity
    if n not in (1, 2) or op.forward is None:
        return None
    extra = params(op.sig)[n:]  # attributes: the shortcut takes their defaults only
    if any(p.required or p.kind == "varargs" for p in extra):
        return None
    defaults = tuple(p.default for p in extra)
    total = n + len(defaults)
    if op.promote not in ("float", "common") or op.result is not None:
        return None
    fwd, saves, saves_out, check = op.forward, op.saves, op.saves_out, op.check
    gfn: Any = op.grad_fn
    scalar_ok = (op.tensors or 0) < 2  # hypot's second operand must be a tensor too
    T, mode, make, var, ignore = Tensor, _mode, Tensor._make, _ERR_VAR, _ERR_IGNORE
    if var is None:  # pragma: no cover - another NumPy layout
        return None
    no = NotImplemented

    def run(values: tuple[Any, ...]) -> Any:
        if len(values) != total or mode.profiler is not None:
            return no
        if defaults:
            for v, d in zip(values[n:], defaults, strict=True):
                if type(v) is not type(d) or v != d:
                    return no
        # a host's limit or budget (the service's): taken for a result of the first operand's
        # shape and dtype (its bytes are what apply would reserve); anything else goes to apply
        reserve, limit = mode.reserve, mode.max_elements
        limited = reserve is not None or limit is not None
        x = values[0]
        if (type(x) is not T and not isinstance(x, T)) or x._xp is not np:
            return no  # a Parameter is a Tensor too
        dt = x._dtype
        if not dt.is_floating_point:
            return no
        a = x._st.array
        if limit is not None and a.size > limit:
            return no
        y: Any = None
        if n == 1:
            if check is not None:
                check((x,), {})
            if reserve is not None:
                reserve(a.nbytes)
            token = var.set(ignore)
            try:
                out = fwd(np, a)
            finally:
                var.reset(token)
        else:
            y = values[1]
            if type(y) is float and scalar_ok:
                b = y
            elif isinstance(y, T):
                if y._dtype is not dt or y._xp is not np:
                    return no
                b = y._st.array
                if limited and b.shape != a.shape:
                    return no
            else:
                return no
            if check is not None:
                check((x, y), {})
            if reserve is not None:
                reserve(a.nbytes)
            token = var.set(ignore)
            try:
                out = fwd(np, a, b)
            except ValueError:  # shapes that do not broadcast: apply raises torch's error
                return no
            finally:
                var.reset(token)
        if type(out) is not np.ndarray:
            out = np.asarray(out)
        mode.allocated += out.nbytes
        yt = n == 2 and isinstance(y, T)
        if not mode.enabled or not (x._rg or (yt and y._rg)):
            return make(out, False, None, dt)
        gf = x.grad_fn
        if n == 1:
            node = Node(
                op,
                gfn if type(gfn) is str else gfn((x,), {}),
                (gf if gf is not None else x,),
                (None,),
                ((a.shape, dt),),
                {},
            )
        else:
            first = gf if gf is not None else (x if x._rg else None)
            if yt:
                gy = y.grad_fn
                nxt = (first, gy if gy is not None else (y if y._rg else None))
                consts: tuple[Any, ...] = (None, None)
                meta: tuple[Any, ...] = ((a.shape, dt), (y._st.array.shape, dt))
            else:
                nxt, consts, meta = (first, None), (None, y), ((a.shape, dt), None)
            node = Node(op, gfn if type(gfn) is str else gfn((x, y), {}), nxt, consts, meta, {})
        for i in saves:
            t = values[i]
            if isinstance(t, T):
                node.save(i, t)
        result = make(out, True, node, dt)
        if saves_out:
            node.save("out", result, is_output=True)
        return result

    return run


def _shape_message(op: Op, inputs: Sequence[Any], exc: Exception) -> str:
    shapes = [list(x.shape) for x in inputs if hasattr(x, "shape")]
    return f"{op.name}: shapes {shapes} are not compatible: {exc}"


# --------------------------------------------------------------------- backward
def _target(t: Tensor) -> Any:
    return t.grad_fn if t.grad_fn is not None else t


def _make_grads(
    outputs: Sequence[Tensor], grad_outputs: Sequence[Any] | None, create_graph: bool
) -> list[Tensor]:
    grads = []
    for i, out in enumerate(outputs):
        g = None if grad_outputs is None else grad_outputs[i]
        if not out.requires_grad:
            raise DoesNotRequireGradError(
                f"element {i} of tensors does not require grad and does not have a grad_fn"
            )
        if g is None:
            if out.numel() != 1:
                raise GradRequiresScalarError(
                    "grad can be implicitly created only for scalar outputs"
                )
            if not out.dtype.is_floating_point:
                raise InvalidArgumentError(
                    "grad can be implicitly created only for real scalar outputs but got "
                    f"{out.dtype!r}"
                )
            g = Tensor._make(out._xp.ones_like(out._st.array), False, None)
        else:
            g = as_tensor(g, like=out)
            if tuple(g.shape) != tuple(out.shape):
                raise ShapeMismatchError(
                    f"Mismatch in shape: grad_output[{i}] has a shape of {g.shape} and "
                    f"output[{i}] has a shape of {out.shape}."
                )
            if g.dtype is not out.dtype:
                g = g.to(out.dtype)
        grads.append(g)
    return grads


def _accumulate(acc: dict[Any, Any], key: Any, g: Tensor) -> None:
    prev = acc.get(key)
    acc[key] = g if prev is None else prev + g


def run_backward(
    outputs: Sequence[Tensor],
    grad_outputs: Sequence[Any] | None,
    retain_graph: bool | None,
    create_graph: bool,
    capture: Sequence[Tensor] | None,
    accumulate_leaves: Iterable[Tensor] | None,
) -> dict[int, Tensor]:
    """The engine's one backward pass.

    ``capture``: tensors whose total incoming gradient is returned (autograd.grad and
    backward(inputs=...)). ``accumulate_leaves``: when given, only these leaves'
    ``.grad`` are written; when None with ``capture`` None, every reached leaf is.
    Returns ``{id(tensor): grad}`` for the captured tensors.
    """
    if retain_graph is None:
        retain_graph = create_graph
    grads0: list[Any] = _make_grads(outputs, grad_outputs, create_graph)
    # create_graph=False: gradients flow as raw arrays (no Tensor, node or version bump) and
    # become Tensors only where a caller sees them (hooks, captures, leaves' .grad)
    raw = not create_graph
    acc = _accumulate_raw if raw else _accumulate
    if raw:
        grads0 = [g._st.array for g in grads0]
    roots = [_target(t) for t in outputs]

    # Which targets we must capture (by node, or the leaf tensor itself).
    capture_keys = {id(_target(t)): t for t in capture} if capture is not None else {}

    # Dependency counts over the reachable graph, iteratively.
    deps: dict[int, int] = {}
    nodes: dict[int, Node] = {}
    stack = [r for r in roots if isinstance(r, Node)]
    for r in stack:
        nodes[id(r)] = r
    seen = set(nodes)
    while stack:
        n = stack.pop()
        for nxt in n.next:
            if isinstance(nxt, Node):
                k = id(nxt)
                deps[k] = deps.get(k, 0) + 1
                if k not in seen:
                    seen.add(k)
                    nodes[k] = nxt
                    stack.append(nxt)

    # With explicit capture targets, run only nodes that lead to one of them.
    needed: set[int] | None = None
    if capture is not None and accumulate_leaves is None:
        needed = _needed(nodes, capture_keys)

    pending: dict[int, Any] = {}
    leaf_grads: dict[int, Any] = {}
    leaf_objs: dict[int, Tensor] = {}
    captured: dict[int, Tensor] = {}
    for r, g in zip(roots, grads0, strict=True):
        if isinstance(r, Node):
            acc(pending, id(r), g)
        else:
            acc(leaf_grads, id(r), g)
            leaf_objs[id(r)] = r

    hooked = _hooks.node_hooks() if _hooks.has_hooks() else {}
    ready = [r for r in roots if isinstance(r, Node) and deps.get(id(r), 0) == 0]
    ready_ids = {id(r) for r in ready}
    with _GradMode(create_graph), np.errstate(all="ignore"), _quiet():
        while ready:
            node = ready.pop()
            nid = id(node)
            g = pending.pop(nid, None)
            if raw and type(g) is _Scaled:
                g = g.dense()
            if g is not None and nid in hooked:  # tensor hooks, then retain_grad
                if raw:
                    g = _hooks.run_node(hooked[nid], node, _wrap(g), False, _store_grad)
                    g = g._st.array
                else:
                    g = _hooks.run_node(hooked[nid], node, g, create_graph, _store_grad)
            if g is not None and nid in capture_keys:
                captured[nid] = _wrap(g) if raw else g
            run = g is not None and (needed is None or nid in needed)
            nexts = node.next
            if run:
                if node.saved is None and _kept_state(node):
                    raise GraphFreedError(GRAPH_FREED_MESSAGE)
                in_grads = _call_vjps_raw(node, g) if raw else _call_vjps(node, g)
                if not retain_graph:  # torch frees only what it ran
                    node.release()
            else:
                in_grads = [None] * len(nexts)
            # one pass per input: its gradient, then its dependency count (the same order of
            # readiness as accumulating every input first)
            for nxt, gi in zip(nexts, in_grads, strict=True):
                if nxt is None:
                    continue
                if isinstance(nxt, Node):
                    k = id(nxt)
                    if gi is not None:
                        acc(pending, k, gi)
                    d = deps[k] - 1
                    deps[k] = d
                    if d == 0 and k not in ready_ids:
                        ready_ids.add(k)
                        ready.append(nxt)
                elif gi is not None:
                    k = id(nxt)
                    acc(leaf_grads, k, gi)
                    leaf_objs[k] = nxt

    if raw:
        for k in leaf_grads:
            leaf_grads[k] = _wrap(_leaf_array(leaf_grads[k]))
    if _hooks.has_hooks():
        with _GradMode(create_graph):
            for k in leaf_grads:
                leaf_grads[k] = _hooks.run(leaf_objs[k], leaf_grads[k], create_graph, leaf=True)
    for k, g in leaf_grads.items():
        if k in capture_keys:
            captured[k] = g
    if capture is None or accumulate_leaves is not None:
        allowed = None if accumulate_leaves is None else {id(t) for t in accumulate_leaves}
        for k, g in leaf_grads.items():
            if allowed is None or k in allowed:
                _store_grad(leaf_objs[k], g, create_graph)
    return {id(t): captured[id(_target(t))] for t in capture or () if id(_target(t)) in captured}


def _kept_state(node: Node) -> bool:
    """Whether torch's node for this call held SavedVariables, so running it again after they
    were freed raises: any declared save (a Python scalar operand is saved too, wrapped in a
    tensor) or a tensor or array among its attributes (the indices of ``x[idx]``)."""
    op = node.op
    if op.saves or op.saves_out:
        return True
    stack = list(node.attrs.values())
    while stack:
        v = stack.pop()
        if isinstance(v, list | tuple):
            stack.extend(v)
        elif isinstance(v, dict):
            stack.extend(v.values())
        elif isinstance(v, Tensor) or getattr(v, "ndim", 0) > 0:  # a tensor or an index array
            return True
    return False


def _needed(nodes: dict[int, Node], capture_keys: dict[int, Any]) -> set[int]:
    """The nodes to run to reach the capture targets (reachability iterative, memoized)."""
    memo: dict[int, bool] = {}
    for start in nodes.values():
        if id(start) in memo:
            continue
        stack: list[tuple[Node, int]] = [(start, 0)]
        while stack:
            n, i = stack.pop()
            k = id(n)
            if i == 0 and k in memo:
                continue
            if i < len(n.next):
                stack.append((n, i + 1))
                nxt = n.next[i]
                if isinstance(nxt, Node) and id(nxt) not in memo:
                    stack.append((nxt, 0))
                continue
            hit = k in capture_keys or any(
                (isinstance(x, Node) and memo.get(id(x), False))
                or (x is not None and not isinstance(x, Node) and id(x) in capture_keys)
                for x in n.next
            )
            memo[k] = hit

    # A target's own node does not run (torch captures the gradient flowing into it): a node
    # runs when something below it leads to a target.
    def feeds(x: Any) -> bool:
        if isinstance(x, Node):
            return memo.get(id(x), False)
        return x is not None and id(x) in capture_keys

    return {k for k, n in nodes.items() if any(feeds(x) for x in n.next)}


def _call_vjps(node: Node, g: Tensor) -> list[Tensor | None]:
    """Each input's gradient, summed back to its shape and cast to its dtype."""
    op = node.op
    if op.backward is not None:
        return op.backward(node, g, False)
    out: list[Tensor | None] = []
    for i, nxt in enumerate(node.next):
        if nxt is None:
            out.append(None)
            continue
        if isinstance(op.vjps, tuple):
            vjp = op.vjps[i]
            gi = None if vjp is None else vjp(g, node)
        else:
            assert op.vjps is not None
            gi = op.vjps(g, node, i)
        if gi is None:
            out.append(None)
            continue
        shape, dt = node.in_meta[i]
        if gi.shape != shape:
            gi = gi.sum_to_size(shape)
        if gi._dtype is not dt:
            gi = gi.to(dt)
        out.append(gi)
    return out


def _wrap(a: Any) -> Tensor:
    return Tensor._make(a, False, None)


def _array(a: Any) -> Any:
    """A NumPy scalar (what arithmetic on 0-d arrays returns) as a 0-d array."""
    return np.asarray(a) if isinstance(a, np.generic) else a


class _Scaled:
    """A raw gradient not yet computed: ``s * a``, ``s`` a 0-d array (a gradient that is one
    value broadcast) and ``a`` a full-size array (an operand of a ``mul``). Two of them on the
    same array with the same scale sum to one (``2s * a``, the same bits as ``s*a + s*a``), so
    ``x * x`` under a scalar-broadcast gradient costs one pass instead of three."""

    __slots__ = ("a", "s")

    def __init__(self, s: Any, a: Any) -> None:
        self.s = s
        self.a = a

    def dense(self) -> Any:
        return self.s * self.a


def _dense(g: Any) -> Any:
    return g.dense() if type(g) is _Scaled else g


def _accumulate_raw(acc: dict[Any, Any], key: Any, g: Any) -> None:
    prev = acc.get(key)
    if prev is None:
        acc[key] = g
    elif type(prev) is _Scaled and type(g) is _Scaled and prev.a is g.a and prev.s == g.s:
        acc[key] = _Scaled(prev.s + g.s, g.a)
    else:  # a new array: never one a user holds
        acc[key] = _array(_dense(prev) + _dense(g))


def _leaf_array(g: Any) -> Any:
    """A raw gradient as a leaf's ``.grad`` array: computed, and its own writable memory where
    it is a broadcast (``x.mean()``'s gradient is one value broadcast)."""
    g = _dense(g)
    if g.ndim and not g.flags.writeable:
        g = g.copy()
    return g


def _one_value(g: Any) -> Any:
    """The value of a gradient that is one value broadcast (every stride 0), as a 0-d array;
    None for any other gradient."""
    if g.ndim == 0 or any(g.strides) or g.size == 0:
        return None
    return g.reshape(-1)[:1].reshape(())


def _sum_to(g: Any, shape: tuple[int, ...]) -> Any:
    """``sum_to_size``'s forward on an array (the same reduction, so the same bits)."""
    lead = g.ndim - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, s in enumerate(shape) if s == 1 and g.shape[lead + i] != 1
    )
    out = g.sum(axis=axes, keepdims=True) if axes else g
    return _array(out.reshape(shape))


def _call_vjps_raw(node: Node, g: Any) -> list[Any]:
    """``_call_vjps`` on arrays: an op declared ``raw`` runs its VJPs on a ``RawView`` when
    every tensor input has the gradient's dtype (then NumPy's promotion is torch's); any
    other op runs its VJPs on Tensors, outside grad mode, as before."""
    op = node.op
    dt_np = g.dtype
    ok = op.raw
    if ok:
        for m in node.in_meta:
            if m is not None and m[1].np is not dt_np and m[1].np != dt_np:
                ok = False
                break
    if not ok:
        if op.backward is not None:  # CopySlices (not raw: off the raw path's way)
            return op.backward(node, g, True)
        got = _call_vjps(node, _wrap(g))
        return [None if x is None else x._st.array for x in got]
    reserve = _mode.reserve  # a host's budget and deadline see each raw gradient as an op
    view = RawView(node)
    vjps = op.vjps
    per_input = isinstance(vjps, tuple)
    out_shape = g.shape
    g0 = _one_value(g) if op.elementwise else None
    if g0 is not None:  # the VJPs see one value; NumPy broadcasts it as it would have
        g = g0
    out: list[Any] = []
    for i, nxt in enumerate(node.next):
        if nxt is None:
            out.append(None)
            continue
        shape, dt = node.in_meta[i]
        if reserve is not None:
            reserve(math.prod(shape) * dt.itemsize)
        if g0 is not None and op.scaled_by is not None and shape == out_shape:
            other = view[op.scaled_by[i]]
            if type(other) is np.ndarray and other.shape == shape:
                out.append(_Scaled(g0, other))
                continue
        if per_input:
            vjp = vjps[i]  # type: ignore[index]
            gi = None if vjp is None else vjp(g, view)
        else:
            assert vjps is not None
            gi = vjps(g, view, i)  # type: ignore[operator]
        if gi is None:
            out.append(None)
            continue
        if type(gi) is not np.ndarray:
            gi = _array(gi)
        if gi.shape != shape:
            if g0 is not None and gi.shape != out_shape:
                # computed on one value: what the full gradient would have been is its
                # broadcast (kept a view for an input of the output's shape), summed back to
                # a broadcast input's shape from a full array, as that gradient would have been
                gi = np.broadcast_to(gi, out_shape)
                if shape != out_shape:
                    gi = _sum_to(np.ascontiguousarray(gi), shape)
            else:
                gi = _sum_to(gi, shape)
        if gi.dtype is not dt.np and gi.dtype != dt.np:
            gi = gi.astype(dt.np)
        out.append(gi)
    return out


def _store_grad(t: Tensor, g: Tensor, create_graph: bool) -> None:
    """AccumulateGrad: ``.grad`` is set the first time, then summed into (in place, as torch)."""
    acc = t._grad
    if acc is None:
        # Its own Tensor: the same gradient may reach several leaves (torch clones it), unless
        # it carries a graph (create_graph) that x.grad must keep.
        t._grad = g if create_graph and g.requires_grad else Tensor._make(g._st.array, False, None)
    elif create_graph:
        t._grad = acc + g
    else:
        # torch's AccumulateGrad outside grad mode: in place, even into a .grad that has a graph
        # from an earlier create_graph=True (it keeps its grad_fn, its version moves on)
        acc._st.array = acc._st.array + g._st.array
        acc._vc[0] += 1


def _per_output(grads: Any, n: int) -> list[Any]:
    """One gradient per output: a single one, or a sequence of them (``[g]`` for one output)."""
    if isinstance(grads, list | tuple) and (
        n > 1 or (len(grads) == 1 and (grads[0] is None or isinstance(grads[0], Tensor)))
    ):
        return list(grads)
    return [grads]


def backward(
    tensors: Tensor | Sequence[Tensor],
    grad_tensors: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    inputs: Tensor | Sequence[Tensor] | None = None,
) -> None:
    """``torch.autograd.backward``: accumulate gradients into leaves' ``.grad``."""
    outs = [tensors] if isinstance(tensors, Tensor) else list(tensors)
    gs = None
    if grad_tensors is not None:
        gs = _per_output(grad_tensors, len(outs))
    if inputs is not None:
        ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
        if not ins:
            raise InvalidArgumentError("'inputs' argument to backward() cannot be empty.")
        if not all(t.requires_grad for t in ins):
            raise InvalidArgumentError("can't retain_grad on Tensor that has requires_grad=False")
        leaves = [t for t in ins if t.grad_fn is None]
        nonleaves = [t for t in ins if t.grad_fn is not None]
        got = run_backward(outs, gs, retain_graph, create_graph, ins, leaves)
        for t in nonleaves:
            if id(t) in got:
                _store_grad(t, got[id(t)], create_graph)
        return
    run_backward(outs, gs, retain_graph, create_graph, None, None)


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Any = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool | None = None,
    materialize_grads: bool = False,
) -> tuple[Tensor | None, ...]:
    """``torch.autograd.grad``: gradients of outputs w.r.t. inputs; ``.grad`` is untouched."""
    outs = [outputs] if isinstance(outputs, Tensor) else list(outputs)
    ins = [inputs] if isinstance(inputs, Tensor) else list(inputs)
    gs = None
    if grad_outputs is not None:
        gs = _per_output(grad_outputs, len(outs))
    for i, t in enumerate(ins):
        if not t.requires_grad:
            raise DoesNotRequireGradError("One of the differentiated Tensors does not require grad")
        del i
    got = run_backward(outs, gs, retain_graph, create_graph, ins, None)
    result: list[Tensor | None] = []
    for k, t in enumerate(ins):
        g = got.get(id(t))
        if g is None:
            if materialize_grads:
                g = t.detach().zeros_like()
            elif not allow_unused:
                raise InvalidArgumentError(
                    f"The differentiated Tensor at index {k} appears to not have been used in "
                    "the graph. Set allow_unused=True if this is the desired behavior."
                )
        elif not create_graph:
            g = g.detach()
        result.append(g)
    return tuple(result)


def retain_grad(t: Tensor) -> None:
    """Mark a non-leaf so backward stores its ``.grad`` (a leaf already does)."""
    _hooks.retain_grad(t)
    if t.grad_fn is not None:
        t.grad_fn.retained = weakref.ref(t)


def __getattr__(name: str) -> Any:
    missing("autograd", name, "module 'engine.autograd'")
