"""Running a graph request against a namespace, atomically.

Nodes bind into an overlay; the session sees the overlay only when every node
succeeded. In-place ops rebind a tensor's storage: each target's state is saved
before its first in-place op and restored if a later node fails.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import ExitStack
from typing import Any, NamedTuple, Protocol

import engine
from engine.errors import DoesNotRequireGradError, EngineError
from engine.meta import INDEXED_OPS
from engine.ops import wire_ops
from engine.state import (
    Checkpoint,
    Footprint,
    budget,
    checkpoint,
    footprint,
    from_array,
    grad_of,
    reached_leaves,
)
from engine.tensor import Tensor

from .budget import Guard, weigh
from .codecs import decode_tensor_data
from .errors import ApiError
from .templates import FUNCTION, KINDS, run_kind

__all__ = ["WIRE_OPS", "Executor", "Node", "NodeLike"]

# every wire name (the op table's): its op, and whether it runs in place on its first argument
WIRE_OPS = wire_ops()
# node kinds that are not ops: they change ``.grad`` and bind nothing (docs/api.md, Graphs)
BACKWARD, ZERO_GRAD = "autograd.backward", "autograd.zero_grad"
CONTROL = (BACKWARD, ZERO_GRAD)


class NodeLike(Protocol):
    """What the executor reads of a node: ``api_schema.GraphNode`` or a ``Node``."""

    @property
    def name(self) -> str | None: ...
    @property
    def op(self) -> str: ...
    @property
    def args(self) -> list[Any]: ...
    @property
    def kwargs(self) -> dict[str, Any]: ...
    @property
    def no_grad(self) -> bool | None: ...


class Node(NamedTuple):
    """A node as the graph route's fast path reads it (checked as ``GraphNode`` would be,
    without building a model per node)."""

    name: str | None
    op: str
    args: list[Any]
    kwargs: dict[str, Any]
    no_grad: bool | None


def unknown_name(name: Any, node: int | None = None) -> ApiError:
    return ApiError(400, "unknown_name", f"name {name!r} is not bound", node=node)


class Executor:
    """Resolves names and runs nodes over ``names`` plus an overlay of new bindings."""

    def __init__(self, names: dict[str, Tensor], max_elements: int, xp: Any) -> None:
        self.names = names
        self.local: dict[str, Tensor] = {}
        self.max_elements = max_elements
        self.xp = xp
        self._snapshots: dict[int, Checkpoint] = {}
        self.node: int | None = None
        self.dropped: set[str] = set()  # freed names the request no longer needed
        self._start: Footprint | None = None
        self._unbinds: set[str] = set()  # the request's ``free``: the session lets them go
        self._undo: list[Callable[[], None]] = []  # hooks registered or removed, to undo

    # ------------------------------------------------------------------ names
    def lookup(self, name: Any) -> Tensor:
        if not isinstance(name, str):
            raise ApiError(400, "invalid_argument", f"a name must be a string, got {name!r}")
        t = self.local.get(name)
        if t is None:
            t = self.names.get(name)
        if t is None:
            raise unknown_name(name, self.node)
        return t

    def bound(self, name: str) -> bool:
        return name in self.local or name in self.names or name in self.dropped

    def constant(self, value: Any) -> Tensor:
        arr = decode_tensor_data(value, self.max_elements)
        return from_array(self.xp.asarray(arr))

    def arg(self, a: Any) -> Any:
        """A wire argument as an engine argument: names, scalars, inline values, lists."""
        if isinstance(a, str):
            return self.lookup(a)
        if isinstance(a, bool | int | float):
            return a
        if isinstance(a, dict):
            if set(a) == {"value"}:
                return self.constant(a["value"])
            raise ApiError(
                400,
                "invalid_argument",
                'an object argument must be {"value": TensorData}',
                node=self.node,
            )
        if isinstance(a, list):
            return [self.arg(x) for x in a]
        if a is None:
            return None
        raise ApiError(400, "invalid_argument", f"unsupported argument {a!r}", node=self.node)

    def kwargs(self, op: str, kwargs: dict[str, Any]) -> dict[str, Any]:
        out = dict(kwargs)
        if op in INDEXED_OPS and isinstance(out.get("index"), list):
            # a string item names an int64 or bool index tensor
            out["index"] = [
                self.lookup(it) if isinstance(it, str) and it != "..." else it
                for it in out["index"]
            ]
        return out

    # -------------------------------------------------------------------- run
    def run(
        self,
        nodes: Sequence[NodeLike],
        no_grad: bool,
        guard: Guard | None = None,
        free: Collection[str] = (),
        keep: Collection[str] | None = None,
    ) -> None:
        """Run every node; on any failure undo in-place changes and re-raise with the index.

        ``guard`` is told each op's result size before it allocates and checks the deadline
        between nodes. A name in ``free`` and not in ``keep`` (the names reported) is dropped
        after its last use, so its memory goes back while the request runs.
        """
        drops = _drops(nodes, free, keep) if free else {}
        self._unbinds = set(free)
        try:
            with ExitStack() as stack:
                stack.enter_context(engine.limits(self.max_elements))
                if guard is not None:
                    stack.enter_context(budget(guard.reserve))
                # the request's grad mode (the caller's comes back on leaving); a node with a
                # mode of its own switches it, and it stays until a node wants the other one
                grad = not no_grad
                stack.enter_context(engine.set_grad_enabled(grad))
                mode = grad
                for i, node in enumerate(nodes):
                    self.node = i
                    if guard is not None:
                        guard.check_time()
                    want = grad if node.no_grad is None else not node.no_grad
                    if want is not mode:
                        engine.set_grad_enabled(want)
                        mode = want
                    out = self._call(node)
                    if node.name is not None and out is not None:
                        self.local[node.name] = out
                    del out
                    for name in drops.get(i, ()):
                        self.local.pop(name, None)
                        self.dropped.add(name)
        except EngineError as exc:
            self.rollback()
            exc.node = self.node  # type: ignore[attr-defined]
            raise
        except ApiError as exc:
            self.rollback()
            exc.extra.setdefault("node", self.node)
            raise
        except (TypeError, ValueError, IndexError, ArithmeticError) as exc:
            # wrong kwargs or argument kinds for the op: the client's mistake
            self.rollback()
            raise ApiError(
                400, "invalid_argument", f"{nodes[self.node or 0].op}: {exc}", node=self.node
            ) from None
        except MemoryError:
            self.rollback()
            raise ApiError(
                413, "tensor_too_large", "the result does not fit in memory", node=self.node
            ) from None
        self.node = None

    def _call(self, node: NodeLike) -> Tensor | None:
        op = node.op
        if op in CONTROL:
            if node.name is not None:
                raise ApiError(400, "invalid_argument", f"{op} binds no name", node=self.node)
            if op == BACKWARD:
                self._backward(node)
            else:
                for t in [self.lookup(a) for a in node.args]:
                    self._save(t)
                    t.grad = None
            return None
        if op in KINDS:  # stored templates (service.templates): bind no name
            if node.name is not None:
                raise ApiError(400, "invalid_argument", f"{op} binds no name", node=self.node)
            run_kind(self, op, node.args, node.kwargs)
            return None
        entry = WIRE_OPS.get(op)
        if entry is None:
            raise ApiError(
                400,
                "unknown_op",
                f"unknown op {op!r}; GET /v1/ops lists the known ones",
                node=self.node,
            )
        spec, inplace = entry
        kwargs = self.kwargs(op, node.kwargs) if op in INDEXED_OPS else node.kwargs
        if inplace:
            if not node.args:
                raise ApiError(400, "invalid_argument", f"{op} needs a target", node=self.node)
            target = self.lookup(node.args[0])
            rest = [self.arg(a) for a in node.args[1:]]
            self._save(target)
            if spec.inplace_call is not None:
                out = spec.inplace_call(target, *rest, **kwargs)
            else:
                out = getattr(target, op)(*rest, **kwargs)
        else:
            local, names = self.local, self.names
            args: list[Any] = []
            for a in node.args:
                if type(a) is str:  # a name, the usual argument: looked up here
                    found = local.get(a)
                    if found is None:
                        found = names.get(a)
                    if found is None:
                        raise unknown_name(a, self.node)
                    args.append(found)
                else:
                    args.append(self.arg(a))
            out = spec(*args, **kwargs)
        if not isinstance(out, Tensor):
            raise ApiError(
                400, "invalid_argument", f"{op} did not produce a tensor", node=self.node
            )
        return out

    def keep(self, t: Tensor) -> None:
        """Restore ``t``'s state (values, version, grad_fn, ``.grad``) if the request fails."""
        self._save(t)

    def on_rollback(self, undo: Callable[[], None]) -> None:
        """Call ``undo`` if the request fails (latest first)."""
        self._undo.append(undo)

    def _save(self, t: Tensor) -> None:
        """Remember ``t``'s state (values, version, ``.grad``) before a node first changes it."""
        if id(t) not in self._snapshots:
            self._snapshots[id(t)] = checkpoint(t)

    def _backward(self, node: NodeLike) -> None:
        """``{"op": "autograd.backward", "args": [tensor, gradient], "kwargs": {retain_graph,
        create_graph, inputs}}``: as ``POST .../backward``, inside the batch."""
        if not 1 <= len(node.args) <= 2:
            raise ApiError(
                400, "invalid_argument", "backward takes [tensor, gradient]", node=self.node
            )
        kw = dict(node.kwargs)
        unknown = set(kw) - {"retain_graph", "create_graph", "inputs"}
        if unknown:
            raise ApiError(
                400,
                "invalid_argument",
                f"backward: unknown kwargs {sorted(unknown)}",
                node=self.node,
            )
        out = self.lookup(node.args[0])
        if not out.requires_grad:  # checked first, as torch does
            raise DoesNotRequireGradError(
                "element 0 of tensors does not require grad and does not have a grad_fn"
            )
        g = node.args[1] if len(node.args) == 2 else None
        gradient = None if g is None else self.arg(g)
        if gradient is not None and not isinstance(gradient, Tensor):
            gradient = from_array(self.xp.asarray(gradient, dtype=out.dtype.name))
        names = kw.get("inputs")
        inputs = None if names is None else [self.lookup(n) for n in names]
        for t in inputs if inputs is not None else reached_leaves([out]):
            self._save(t)
            grad = grad_of(t)
            if grad is not None:  # accumulation writes into the .grad tensor itself
                self._save(grad)
        out.backward(gradient, kw.get("retain_graph"), bool(kw.get("create_graph")), inputs)

    def rollback(self) -> None:
        while self._undo:
            self._undo.pop()()
        for snap in reversed(list(self._snapshots.values())):
            snap.restore()
        self._snapshots.clear()
        self.local.clear()
        self.dropped.clear()

    def measure(self) -> tuple[int, int, int, int]:
        """Array bytes and charged bytes (``budget.weigh``) of what the session and the
        request hold now (less the names the request frees: the session holds them only
        while the request runs), and of what the session held before (in-place targets as
        they were)."""
        before = {id(c.tensor): c.stand_in() for c in self._snapshots.values()}
        kept = [t for n, t in self.names.items() if n not in self._unbinds]
        now = footprint([*kept, *self.local.values(), *before.values()])
        if self._start is None:
            self._start = footprint(before.get(id(t), t) for t in self.names.values())
        return now.nbytes, weigh(now), self._start.nbytes, weigh(self._start)


def _names_in(a: Any) -> Iterator[str]:
    if isinstance(a, str):
        yield a
    elif isinstance(a, list):
        for x in a:
            yield from _names_in(x)


_KIND_NAMES = ("outputs", "saved", "dirty", "non_differentiable", "captures")


def _drops(
    nodes: Sequence[NodeLike], free: Collection[str], keep: Collection[str] | None
) -> dict[int, list[str]]:
    """For each node, the freed names whose last use (or binding) it is."""
    if keep is None:  # every node name is reported
        return {}
    dropping = set(free).difference(keep)
    if not dropping:
        return {}
    last: dict[str, int] = {}
    for i, node in enumerate(nodes):
        for a in node.args:
            if type(a) is str:
                if a in dropping:
                    last[a] = i
            elif type(a) is list:
                for name in _names_in(a):
                    if name in dropping:
                        last[name] = i
        op = node.op
        if op in INDEXED_OPS or op == BACKWARD:
            for name in _names_in(node.kwargs.get("inputs" if op == BACKWARD else "index")):
                if name in dropping:
                    last[name] = i
        elif op in KINDS:  # stored templates: the names in their kwargs are uses too
            keys = _KIND_NAMES if op == FUNCTION else ("captures",)
            for key in keys:
                for name in _names_in(node.kwargs.get(key)):
                    if name in dropping:
                        last[name] = i
        if node.name in dropping:
            last[node.name] = i
    out: dict[int, list[str]] = {}
    for name, i in last.items():
        out.setdefault(i, []).append(name)
    return out
