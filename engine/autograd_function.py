"""``torch.autograd.Function``: user-defined ops with their own forward and backward.

``apply`` runs ``forward`` without recording, then records one node whose VJP calls the user's
``backward`` (once per backward pass, however many inputs it feeds). A Function with several
outputs records one node per output that packs the output's gradient into a flat vector at the
output's offset; the Function's node receives the sum of those (every output's gradient, zeros
for the unused ones) and unpacks it. Everything stays differentiable, so ``create_graph=True``
differentiates a backward written with tensor ops, as torch does.

Saved tensors use the engine's saved values: torch's in-place modification check and its
"backward through the graph a second time" error apply to them.
"""

from __future__ import annotations

import functools
import weakref
from collections.abc import Callable
from typing import Any

from . import autograd as A
from .ctx import CtxBase, FunctionBase
from .errors import InvalidArgumentError, LeafInplaceError, ShapeMismatchError
from .ops import Op
from .tensor import Tensor

__all__ = ["Function", "FunctionCtx", "InplaceFunction", "once_differentiable"]


class FunctionCtx(CtxBase):
    """The ``ctx`` of ``forward``/``backward``: saved tensors (engine saved values, with
    torch's in-place and second-backward checks) and flags."""

    tensor_type = Tensor

    def __init__(self) -> None:
        super().__init__()
        self._node: weakref.ref[A.Node] | None = None
        self._cache: tuple[Any, Any] | None = None
        self._cls: type[Function] | None = None  # whose ctx (engine.serialize stores it)

    @property
    def saved_tensors(self) -> tuple[Any, ...]:
        node = self._node() if self._node is not None else None
        if node is None:
            return self.to_save
        return tuple(
            None if t is None else node._unpack(("saved", i)) for i, t in enumerate(self.to_save)
        )

    saved_variables = saved_tensors


class _FunctionMeta(type):
    """Gives every Function subclass its op (a node's op: never on the wire)."""

    def __init__(cls, name: str, bases: tuple[type, ...], ns: dict[str, Any]) -> None:
        super().__init__(name, bases, ns)
        cls._op = Op(
            name=f"autograd.Function:{name}",
            forward=None,
            vjps=lambda g, node, i, cls=cls: _vjp(cls, g, node, i),
            grad_fn=f"{name}Backward",
            public=False,
        )
        cls._out_op = Op(
            name=f"autograd.Function:{name}:output",
            forward=None,
            vjps=lambda g, node, i: _pack_vjp(g, node, i),
            grad_fn=f"{name}Backward",
            public=False,
        )


class Function(FunctionBase, metaclass=_FunctionMeta):
    """Subclass with static ``forward(ctx, *args)`` and ``backward(ctx, *grads)``; call
    ``apply``."""

    legacy_error = InvalidArgumentError

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        ctx = FunctionCtx()
        ctx._cls = cls
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        with A.no_grad():
            if cls.setup_context is not Function.setup_context:
                outputs = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, outputs)
            else:
                outputs = cls.forward(ctx, *args, **kwargs)
        is_tuple = isinstance(outputs, tuple)
        outs = list(outputs) if is_tuple else [outputs]
        record = A.is_grad_enabled() and any(ctx.needs_input_grad)
        for t in ctx._dirty:
            if record and t.grad_fn is None and t.requires_grad:
                raise LeafInplaceError(
                    "a leaf Variable that requires grad is being used in an in-place operation."
                )
        if not record:
            return outputs
        node = A.Node(
            cls._op,
            f"{cls.__name__}Backward",
            tuple(
                (a.grad_fn if a.grad_fn is not None else (a if a._rg else None))
                if isinstance(a, Tensor)
                else None
                for a in args
            ),
            tuple(None if isinstance(a, Tensor) else a for a in args),
            tuple((a._st.array.shape, a._dtype) if isinstance(a, Tensor) else None for a in args),
            {"ctx": ctx},
        )
        ctx._node = weakref.ref(node)
        ctx._out_meta = [  # type: ignore[attr-defined]
            (tuple(o.shape), o._dtype) if isinstance(o, Tensor) else None for o in outs
        ]
        dirty = {id(t) for t in ctx._dirty}
        non_diff = {id(t) for t in ctx._non_differentiable}
        inputs = {id(a) for a in args if isinstance(a, Tensor)}
        result: list[Any] = []
        offset = 0
        for k, o in enumerate(outs):
            if not isinstance(o, Tensor):
                result.append(o)
                continue
            n = o.numel()
            if id(o) in non_diff or not o._dtype.is_floating_point:
                if id(o) in inputs and id(o) not in dirty:
                    o = o.detach()
                result.append(o)
                offset += n
                continue
            if id(o) in inputs and id(o) not in dirty:
                o = o.detach()  # an input returned as is: a new tensor on the same values
            if is_tuple:
                grad_fn = A.Node(
                    cls._out_op,
                    f"{cls.__name__}Backward",
                    (node,),
                    (None,),
                    (None,),
                    {"offset": offset, "k": k, "ctx": ctx},
                )
            else:
                grad_fn = node
            o.grad_fn = grad_fn
            o._rg = True
            if id(o) in dirty:
                o._vc[0] += 1
            result.append(o)
            offset += n
        ctx._total = offset  # type: ignore[attr-defined]
        if is_tuple:
            packed_dtype = next(m[1] for m in ctx._out_meta if m is not None)  # type: ignore[attr-defined]
            for r in result:
                if isinstance(r, Tensor) and r.grad_fn is not None and r.grad_fn is not node:
                    r.grad_fn.in_meta = (((offset,), packed_dtype),)
        outputs_by_id = {id(r): r for r in result if isinstance(r, Tensor)}
        for i, t in enumerate(ctx.to_save):
            if t is None:
                continue
            saved = outputs_by_id.get(id(t), t)
            is_output = saved.grad_fn is not None and saved.grad_fn is node
            node.save(("saved", i), saved, is_output=is_output)
        return tuple(result) if is_tuple else result[0]


class InplaceFunction(Function):
    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace


def once_differentiable(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Run ``backward`` without recording: its results cannot be differentiated again."""

    @functools.wraps(fn)
    def wrapper(ctx: Any, *args: Any) -> Any:
        with A.no_grad():
            return fn(ctx, *args)

    return wrapper


# ------------------------------------------------------------------- backward
def _pack_vjp(g: Tensor, node: A.Node, i: int) -> Tensor:
    """An output's gradient, placed at its offset in the flat vector of all outputs."""
    from .factories import zeros
    from .ops.shape import CAT

    cat = CAT.fn
    ctx = node.attrs["ctx"]
    offset = node.attrs["offset"]
    total = ctx._total
    flat = g.reshape(-1)
    parts = []
    if offset:
        parts.append(zeros(offset, dtype=g.dtype))
    parts.append(flat)
    rest = total - offset - flat.numel()
    if rest:
        parts.append(zeros(rest, dtype=g.dtype))
    return cat(parts) if len(parts) > 1 else flat


def _grad_outputs(ctx: FunctionCtx, g: Tensor) -> list[Any]:
    metas = ctx._out_meta  # type: ignore[attr-defined]
    if len(metas) == 1 and not getattr(ctx, "_packed", False) and g.shape == metas[0][0]:
        return [g]
    out: list[Any] = []
    offset = 0
    for meta in metas:
        if meta is None:
            out.append(None)
            continue
        shape, dt = meta
        n = 1
        for s in shape:
            n *= s
        piece = g[offset : offset + n].reshape(shape)
        out.append(piece if piece.dtype is dt else piece.to(dt))
        offset += n
    return out


def _vjp(cls: type[Function], g: Tensor, node: A.Node, i: int) -> Tensor | None:
    ctx: FunctionCtx = node.attrs["ctx"]
    if ctx._cache is None or ctx._cache[0] is not g:
        ctx._cache = (g, _run_backward(cls, ctx, node, g))
    grads = ctx._cache[1]
    return grads[i] if i < len(grads) else None


def _run_backward(cls: type[Function], ctx: FunctionCtx, node: A.Node, g: Tensor) -> list[Any]:
    grads = cls.backward(ctx, *_grad_outputs(ctx, g))
    if not isinstance(grads, tuple):
        grads = (grads,)
    n_in = len(node.next)
    name = f"{cls.__name__}Backward"
    if len(grads) != n_in and not (len(grads) > n_in and all(x is None for x in grads[n_in:])):
        raise InvalidArgumentError(
            f"function {name} returned an incorrect number of gradients (expected {n_in}, "
            f"got {len(grads)})"
        )
    out: list[Any] = []
    for k in range(n_in):
        gk = grads[k]
        meta = node.in_meta[k]
        if gk is None:
            out.append(None)
            continue
        if meta is None:
            raise InvalidArgumentError(
                f"function {name} returned a gradient different than None at position {k + 1}, "
                "but the corresponding forward input was not a Variable"
            )
        if not isinstance(gk, Tensor):
            raise InvalidArgumentError(
                f"function {name} returned a gradient of type {type(gk).__name__} at position "
                f"{k + 1}; expected a Tensor or None"
            )
        shape = tuple(meta[0])
        if tuple(gk.shape) != shape and not _expandable(shape, tuple(gk.shape)):
            raise ShapeMismatchError(
                f"Function {name} returned an invalid gradient at index {k} - got "
                f"{list(gk.shape)} but expected shape compatible with {list(shape)}"
            )
        out.append(gk)
    return out


def _expandable(shape: tuple[int, ...], to: tuple[int, ...]) -> bool:
    return len(shape) <= len(to) and all(
        a in (b, 1) for a, b in zip(reversed(shape), reversed(to), strict=False)
    )
