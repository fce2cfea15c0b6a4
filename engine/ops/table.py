"""The op table: every op declared once, with everything its surfaces are built from.

An op's forward works on raw arrays through the backend namespace ``xp``; its VJPs
are written with the engine's own differentiable ops (never raw ``xp``), so that
``create_graph=True`` differentiates them again. An op declared ``raw=True`` writes its
VJPs with operators, ``n[i]``, ``n.out``, ``n.attrs`` and the namespace ``n.F`` only: the
same declaration then also runs on raw arrays when ``create_graph=False``. Broadcasting is
undone in one place (``autograd._call_vjps`` sums each gradient back to its input's shape).

Besides the autograd half, a declaration says how the op is called:

- ``sig``: torch's parameter list of the function form (``"input, other, *, alpha=1"``);
  the first ``arity`` parameters are the operands (tensors or Python scalars; with
  ``arity=None`` the first is a list of tensors), the others are attributes. ``method_sig``
  is the method's list where torch's differs (``Tensor.reshape(*shape)``).
- ``variants``: where it appears: ``function`` (``engine.X``), ``method`` (``Tensor.X``),
  ``inplace`` (``Tensor.X_``), ``nn`` (``engine.nn.functional.X``) and operator dunders
  (``__add__``, ``__radd__``, ``__iadd__``); ``aliases`` are other names of the function
  and method (``clip`` for ``clamp``).
- ``prepare``: argument normalisation, called with every parameter in order; it returns
  ``(operands, attrs)`` for ``apply`` or a finished result (a composition). Without it the
  operands are taken as they are and the attributes that differ from their defaults are
  recorded.
- ``public``: the op is on the wire (``wire`` overrides its wire names), ``doc``: one line.
- ``parts``: the function returns a tuple of tensors (torch's ``split``, ``chunk``). The wire
  has one tensor a node: there the op takes the keyword ``part``, the index of the tensor it
  gives, and the client records one node a part.
- ``view``: the op's output is a view of input 0 (torch's view ops: ``True``, or a function of
  ``(inputs, attrs)`` where only some calls view, as ``reshape`` and basic indexing): it
  shares input 0's storage and version counter, so an in-place op on either reaches the
  other (``engine.tensor.ViewTensor``). The forward must then pick input 0's elements
  (reorder, select, repeat), never compute new ones: it is run again on the base's new array
  after an in-place op, and on an index array to write a view's values back. ``unview``
  (optional, faster) writes them back directly: ``unview(xp, base, values, **attrs)`` returns
  a new base array. Several views returned by one function (split, chunk) are marked with
  ``engine.tensor.multi_output`` so in-place ops on them raise torch's error.

``OPS`` maps names to ops; ``Op.__call__`` is what the wire runs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..autograd import apply, shortcut
from ..errors import InvalidArgumentError
from ..signatures import Param, build, params, same
from ..tensor import Tensor, as_tensor

__all__ = ["OPS", "Op", "defop", "operand", "public_ops", "table_version", "wire_ops"]

VJP = Callable[..., Any]


def operand(x: Any) -> Any:
    """Numbers stay Python scalars (wrapped numbers); arrays and lists become tensors."""
    if isinstance(x, Tensor | int | float | bool):
        return x
    return as_tensor(x)


@dataclass(eq=False)
class Op:
    """One op of the table."""

    name: str
    forward: Callable[..., Any] | None
    vjps: tuple[VJP | None, ...] | VJP | None
    grad_fn: str | Callable[[Sequence[Any], dict[str, Any]], str]
    saves: tuple[int, ...] = ()  # the inputs (by position) the VJPs read
    saves_out: bool = False
    promote: str | None = None  # "common": torch.result_type; "float": and at least float32
    promote_args: tuple[int, ...] | None = None  # the inputs promotion applies to (default all)
    result: str | None = None  # None: the output takes the promoted dtype; "keep": forward's
    differentiable: bool = True
    # its VJPs use only operators, ``n[i]``, ``n.out``, ``n.attrs``, ``n.in_meta`` and ``n.F``,
    # so they also run on raw arrays (``autograd.RawView``) when create_graph=False
    raw: bool = False
    shape: Callable[[list[tuple[int, ...]], dict[str, Any]], Sequence[int]] | None = None
    # a broadcast: the result has at most as many elements as the product of the inputs'
    # sizes, so an element limit need not infer the shape when that product is within it
    bounded: bool = False
    # its VJPs are elementwise in the gradient (operators and ufuncs on ``g``, no reduction or
    # reshape of it), so on the raw path a gradient that is one value broadcast is handed to
    # them as a 0-d array and a 0-d result stays a broadcast
    elementwise: bool = False
    # VJP i is ``g * operand scaled_by[i]`` (a product): with a broadcast-scalar gradient the
    # raw path keeps it a lazy product, which accumulation may combine before one pass
    scaled_by: tuple[int, ...] | None = None
    # ``prepare`` changes nothing for a tensor first operand and default attributes, so
    # ``autograd.shortcut`` may take such calls without it
    plain_prepare: bool = False
    check: Callable[[Sequence[Any], dict[str, Any]], None] | None = None
    arity: int | None = 1  # operands: leading parameters; None: the first is a list of tensors
    sig: str = "input"
    method_sig: str | None = None
    variants: tuple[str, ...] = ("function", "method")
    aliases: tuple[str, ...] = ()
    tensors: int | None = None  # leading parameters that must be tensors (default: 1 if unary)
    prepare: Callable[..., Any] | None = None
    dtypes: str = "float"  # what the op accepts, for /v1/ops
    grad_fns: tuple[str, ...] = ()  # every name it can show, for /v1/ops
    # its result's shape depends on its inputs' values (``masked_select``): inference on
    # stand-ins (``engine.meta``) cannot tell it
    value_shaped: bool = False
    # torch's name of the in-place form's node where it differs (``fill_``: FillBackward2)
    inplace_names: dict[str, str] = field(default_factory=dict)
    public: bool = True  # listed on the wire
    wire: tuple[str, ...] | None = None  # its wire names (default: name, and name_ if in place)
    call: Callable[..., Any] | None = None  # the wire's call, where it differs from the function
    # the wire's in-place call (target first), where it is no method of the target's
    inplace_call: Callable[..., Any] | None = None
    parts: bool = False  # the function returns a tuple of tensors; the wire picks one: ``part``
    doc: str = ""
    # the output is a view of input 0: True, or a predicate of (inputs, attrs)
    view: bool | Callable[[Sequence[Any], dict[str, Any]], bool] = False
    unview: Callable[..., Any] | None = None  # (xp, base, values, **attrs) -> a new base array
    # computes every input's gradient at once: (node, grad, raw) -> one per input (CopySlices)
    backward: Callable[[Any, Any, bool], list[Any]] | None = None
    node_type: Any = None  # the Node subclass its nodes are (default Node)
    fn: Callable[..., Any] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not self.grad_fns and isinstance(self.grad_fn, str) and self.differentiable:
            self.grad_fns = (self.grad_fn,)
        if self.tensors is None:
            self.tensors = 1 if self.arity == 1 else 0
        self._params = params(self.sig)
        n = 1 if self.arity is None else self.arity
        self._operands = n
        self._attrs: tuple[Param, ...] = self._params[n:]
        self._shortcut = shortcut(self)
        self.fn = build(self.name, self.sig, self.invoke, self.doc)
        if self.wire is None:
            inplace = (self.name + "_",) if "inplace" in self.variants else ()
            self.wire = (self.name, *inplace) if self.public else ()

    # ----------------------------------------------------------------- calling
    def invoke(self, *values: Any) -> Any:
        """Run the op on every parameter's value, in the order of ``sig``."""
        if self._shortcut is not None:
            r = self._shortcut(values)
            if r is not NotImplemented:
                return r
        for i in range(self.tensors or 0):
            if not isinstance(values[i], Tensor):
                p = self._params[i]
                raise TypeError(
                    f"{self.name}(): argument '{p.name}' (position {i + 1}) must be Tensor, "
                    f"not {type(values[i]).__name__}"
                )
        if self.prepare is not None:
            r = self.prepare(*values)
            if type(r) is not tuple or self.parts:
                return r
            return apply(self, r[0], r[1])
        n = self._operands
        ins = tuple(values[0]) if self.arity is None else tuple(map(operand, values[:n]))
        attrs = {
            p.name: v
            for p, v in zip(self._attrs, values[n:], strict=True)
            if p.required or not same(v, p.default)
        }
        return apply(self, ins, attrs)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        """Run the op as the wire does (its function's arguments; one tensor result)."""
        if self.parts:
            part = kwargs.pop("part", None)
            out = self.fn(*args, **kwargs)
            if type(part) is not int or not 0 <= part < len(out):
                raise InvalidArgumentError(
                    f"{self.name} gives {len(out)} tensors here: the keyword 'part' (an int "
                    f"from 0 to {len(out) - 1}) picks one, not {part!r}"
                )
            return out[part]
        if self.call is not None:
            return self.call(*args, **kwargs)
        return self.fn(*args, **kwargs)

    def spec(self) -> dict[str, Any]:
        """The declaration as data: what ``/v1/ops`` lists and the client builds from."""
        return {
            "name": self.name,
            "arity": self.arity,
            "kwargs": {p.name: p.default for p in self._attrs if p.kind != "varargs"},
            "signature": self.sig,
            "method_signature": self.method_sig,
            "variants": list(self.variants),
            "aliases": list(self.aliases),
            "wire": list(self.wire or ()),
            "dtypes": self.dtypes,
            "differentiable": self.differentiable,
            "grad_fns": list(self.grad_fns),
            "parts": self.parts,
            "view": bool(self.view),
            "doc": self.doc,
        }

    def __repr__(self) -> str:
        return f"Op({self.name!r})"


OPS: dict[str, Op] = {}


def defop(name: str, forward: Callable[..., Any] | None, vjps: Any, grad_fn: Any, **kw: Any) -> Op:
    """Declare an op and register it under its name."""
    if name in OPS:
        raise ValueError(f"op {name!r} declared twice")
    if not kw.get("doc"):
        raise ValueError(f"op {name!r} needs a one-line doc")
    op = Op(name, forward, vjps, grad_fn, **kw)
    OPS[name] = op
    return op


def public_ops() -> list[Op]:
    """The ops a client may name, sorted by name."""
    return sorted((op for op in OPS.values() if op.public), key=lambda op: op.name)


def wire_ops() -> dict[str, tuple[Op, bool]]:
    """Every wire name: its op and whether it runs in place on its first argument."""
    out: dict[str, tuple[Op, bool]] = {}
    for op in OPS.values():
        for name in op.wire or ():
            out[name] = (op, name != op.name and name.endswith("_"))
    return out


def table_version() -> str:
    """A stable hash of every declaration (client and server compare it on connect)."""
    specs = [OPS[k].spec() for k in sorted(OPS)]
    raw = json.dumps(specs, sort_keys=True, default=repr).encode()
    return hashlib.sha256(raw).hexdigest()[:16]
