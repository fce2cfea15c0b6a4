"""The graph as data: dump named tensors with their autograd graph, and rebuild them.

Two formats, each versioned:

``FORMAT`` (1), one document: ``dump(tensors)`` returns ``(doc, arrays)``: ``doc`` is plain
JSON (op names, attrs, edges, versions, flags), ``arrays`` maps array ids to backend
arrays, so a store can keep raw bytes apart from the JSON.

``RECORDS`` (2), one record per object (``Records``): each tensor, graph node, storage and
version counter is its own small record under a stable key, written only when it changed
and read only when a request reaches it, so a store's cost follows what a request
touches, not the session's size. A record is ``b"<keys it references>\n<JSON>"``: the
first line lets a store walk (and reference-count) the graph without parsing JSON.

Nodes are rebuilt from the op table by name: no closures, no pickle. A custom Function's
node and a tensor's hooks are stored only when they say how (``stored_form()``: JSON data
and the tensors it uses, as a stored template does); a ``TemplateLoader`` the caller passes
rebuilds the Function class and the hook from that data on load. Anything else (a Python
Function or hook) cannot be stored: ``dump`` refuses it with ``InvalidArgumentError``.

Shared storages, version counters and freed saved values survive the round trip, so torch's errors
(graph_freed, modified_inplace) do too. Views keep their base in both formats: a view's
storage is stored as its parent storage and view op (its array is derived again), a view
tensor with its base tensor and chain of view ops.
"""

from __future__ import annotations

import math
import operator
import weakref
from collections.abc import Callable, Iterable
from typing import Any, Protocol, cast

import orjson

from . import hooks as _hooks
from .autograd import Node, SavedTensor
from .autograd_function import FunctionCtx
from .backend import backend_of
from .dtypes import as_dtype
from .errors import InvalidArgumentError
from .ops import OPS
from .tensor import Storage, Tensor, ViewStorage, ViewTensor, stored_grad_fn

__all__ = ["FORMAT", "RECORDS", "Records", "TemplateLoader", "dump", "load"]

FORMAT = 1
RECORDS = 2  # the per-record format (``Records``)


class TemplateLoader(Protocol):
    """Rebuilds what a stored custom Function or hook ran from its stored data (the caller's:
    the service replays stored templates)."""

    def function(self, data: Any, captures: list[Tensor]) -> type[Any]:
        """The Function class of a stored node (``captures`` is filled after the call: a
        capture may be reached through the node itself)."""
        ...

    def hook(
        self, t: Tensor, data: Any, captures: list[Tensor], register: Callable[[Any], Any]
    ) -> None:
        """Rebuild a hook of ``t`` and ``register(hook)`` it (which returns its handle)."""
        ...


_FN = "autograd.Function:"


def _stored_form(obj: Any, what: str) -> tuple[Any, list[Tensor]]:
    form = getattr(obj, "stored_form", None)
    if form is None:
        raise InvalidArgumentError(
            f"{what} cannot be stored: only a stored template's Functions and hooks can "
            "(Python code is never stored)"
        )
    data, tensors = form()
    return data, list(tensors)


def _skey(k: Any) -> str:
    return f"saved:{k[1]}" if isinstance(k, tuple) else str(k)


def _unskey(s: str) -> Any:
    if s.startswith("saved:"):
        return ("saved", int(s[6:]))
    return s if s == "out" else int(s)


def _meta(m: Any) -> Any:
    return None if m is None else [list(m[0]), m[1].name]


def _unmeta(m: Any) -> Any:
    return None if m is None else (tuple(m[0]), as_dtype(m[1]))


def _function_fields(n: Node, tensor: Callable[[Tensor], str]) -> dict[str, Any] | None:
    """A custom Function's node as data (None for an op table node): ``function`` for its
    main node, ``output`` for one output's node of a several-output Function."""
    if not n.op.name.startswith(_FN):
        return None
    ctx: FunctionCtx = n.attrs["ctx"]
    cls = ctx._cls
    assert cls is not None
    if n.op is cls._out_op:
        return {"output": {"offset": n.attrs["offset"], "k": n.attrs["k"]}}
    data, captures = _stored_form(cls, f"the custom Function {cls.__name__}")
    return {
        "function": {
            "data": data,
            "captures": [tensor(t) for t in captures],
            "needs_input_grad": list(ctx.needs_input_grad),
            "materialize_grads": ctx.materialize_grads,
            "to_save": [None if t is None else tensor(t) for t in ctx.to_save],
            "dirty": [tensor(t) for t in ctx._dirty],
            "non_differentiable": [tensor(t) for t in ctx._non_differentiable],
            "out_meta": [_meta(m) for m in ctx._out_meta],  # type: ignore[attr-defined]
            "total": ctx._total,  # type: ignore[attr-defined]
        }
    }


def _hook_fields(
    t: Tensor, tensor: Callable[[Tensor], str], node: Callable[[Node], str]
) -> dict[str, Any]:
    """A tensor's hooks and retain_grad as data ({} when it has none)."""
    hooks, retains = _hooks.stored_hooks(t)
    out: dict[str, Any] = {}
    if hooks:
        stored = []
        for hook, on in hooks:
            data, captures = _stored_form(hook, "a tensor hook")
            stored.append(
                {
                    "data": data,
                    "captures": [tensor(c) for c in captures],
                    "on": None if on is None else node(on),
                }
            )
        out["hooks"] = stored
    if retains:
        out["retains"] = True
    return out


def _new_node(
    e: dict[str, Any], loader: TemplateLoader | None, value: Callable[[Any], Any]
) -> tuple[Node, list[Tensor]]:
    """A loaded node before its fields are set (and the captures its Function fills)."""
    captures: list[Tensor] = []
    if "function" in e or "output" in e:
        if loader is None:
            raise InvalidArgumentError(
                "this stored graph holds a custom Function: loading it needs a template loader"
            )
        if "output" in e:  # its op and ctx are its Function node's (set once that is built)
            n = Node(cast(Any, None), e["name"], (), (), (), dict(e["output"]))
            return n, captures
        cls = loader.function(e["function"]["data"], captures)
        ctx = FunctionCtx()
        ctx._cls = cls
        n = Node(cls._op, e["name"], (), (), (), {"ctx": ctx})
        ctx._node = weakref.ref(n)
        return n, captures
    op = op_named(e["op"])
    return (op.node_type or Node)(op, e["name"], (), (), (), value({"dict": e["attrs"]})), captures


def _finish_node(
    n: Node, e: dict[str, Any], tensor: Callable[[str], Tensor], captures: list[Tensor]
) -> None:
    """Set a loaded Function node's ctx (its other fields are set)."""
    if "output" in e:
        ctx = n.next[0].attrs["ctx"]
        n.op = ctx._cls._out_op
        n.attrs["ctx"] = ctx
        return
    f = e.get("function")
    if f is None:
        return
    captures.extend(tensor(k) for k in f["captures"])
    ctx = n.attrs["ctx"]
    ctx.needs_input_grad = tuple(f["needs_input_grad"])
    ctx.materialize_grads = f["materialize_grads"]
    ctx.to_save = tuple(None if k is None else tensor(k) for k in f["to_save"])
    ctx._dirty = tuple(tensor(k) for k in f["dirty"])
    ctx._non_differentiable = tuple(tensor(k) for k in f["non_differentiable"])
    ctx._out_meta = [_unmeta(m) for m in f["out_meta"]]
    ctx._total = f["total"]


def _restore_hooks(
    t: Tensor,
    e: dict[str, Any],
    loader: TemplateLoader | None,
    tensor: Callable[[str], Tensor],
    node: Callable[[str], Node],
) -> None:
    hooks = e.get("hooks")
    if hooks:
        if loader is None:
            raise InvalidArgumentError(
                "this stored graph holds tensor hooks: loading it needs a template loader"
            )
        for h in hooks:
            on = None if h["on"] is None else node(h["on"])

            def register(fn: Any, on: Any = on) -> Any:
                return _hooks.restore_hook(t, fn, on)

            loader.hook(t, h["data"], [tensor(c) for c in h["captures"]], register)
    if e.get("retains"):
        _hooks.retain_grad(t)


class _Dumper:
    def __init__(self, array_id: Callable[[Any], str] | None = None) -> None:
        self.array_id = array_id
        self.arrays: dict[str, Any] = {}
        self.array_ids: dict[int, str] = {}
        self.storages: dict[str, Any] = {}
        self.storage_ids: dict[int, str] = {}
        self.vcs: dict[str, int] = {}
        self.vc_ids: dict[int, str] = {}
        self.tensors: dict[str, dict[str, Any]] = {}
        self.tensor_ids: dict[int, str] = {}
        self.nodes: dict[str, dict[str, Any]] = {}
        self.node_ids: dict[int, str] = {}
        self.todo: list[Node] = []
        self.keep: list[Any] = []  # keep objects alive so ids stay unique while dumping

    def array(self, a: Any) -> str:
        k = self.array_ids.get(id(a))
        if k is None:
            k = self.array_id(a) if self.array_id is not None else f"a{len(self.array_ids)}"
            self.array_ids[id(a)] = k
            self.arrays[k] = a
            self.keep.append(a)
        return k

    def storage(self, st: Storage) -> str:
        k = self.storage_ids.get(id(st))
        if k is None:
            k = self.storage_ids[id(st)] = f"s{len(self.storage_ids)}"
            self.keep.append(st)
            if type(st) is ViewStorage:
                self.storages[k] = {
                    "parent": self.storage(st.parent),
                    "op": st.op.name,
                    "attrs": self.value(st.attrs)["dict"],
                }
            else:
                self.storages[k] = self.array(st.array)
        return k

    def vc(self, vc: list[int]) -> str:
        k = self.vc_ids.get(id(vc))
        if k is None:
            k = self.vc_ids[id(vc)] = f"v{len(self.vc_ids)}"
            self.vcs[k] = vc[0]
            self.keep.append(vc)
        return k

    def node(self, n: Node) -> str:
        k = self.node_ids.get(id(n))
        if k is None:
            k = self.node_ids[id(n)] = f"n{len(self.node_ids)}"
            self.keep.append(n)
            self.todo.append(n)
        return k

    def tensor(self, t: Tensor) -> str:
        k = self.tensor_ids.get(id(t))
        if k is not None:
            return k
        k = self.tensor_ids[id(t)] = f"t{len(self.tensor_ids)}"
        self.keep.append(t)
        gf = stored_grad_fn(t)
        entry: dict[str, Any] = {
            "storage": self.storage(t._st),
            "vc": self.vc(t._vc),
            "requires_grad": t._rg,
            "grad_fn": None if gf is None else self.node(gf),
        }
        self.tensors[k] = entry
        entry["grad"] = None if t._grad is None else self.tensor(t._grad)
        entry.update(_hook_fields(t, self.tensor, self.node))
        if type(t) is ViewTensor:
            entry["view"] = {
                "base": self.tensor(t._vbase),
                "chain": [[op.name, self.value(at)["dict"]] for op, at in t._chain],
                "creation": t._creation,
                "multi": None if t._multi is None else list(t._multi),
                "attr_version": t._attr_v,
            }
        return k

    def value(self, v: Any) -> Any:
        """Attrs and constants as JSON: arrays by id, non-finite floats as strings."""
        if isinstance(v, float) and not math.isfinite(v):
            return {"float": repr(v)}
        if isinstance(v, Node):  # CopySlices' in-place node
            return {"node": self.node(v)}
        if isinstance(v, list | tuple):
            return [self.value(x) for x in v]
        if isinstance(v, dict):
            return {"dict": {k: self.value(x) for k, x in v.items()}}
        if hasattr(v, "dtype") and hasattr(v, "shape"):
            if getattr(v, "ndim", 1) == 0 and not hasattr(v, "__array_interface__"):
                return v.item()
            return {"array": self.array(v)}
        if hasattr(v, "item") and not isinstance(v, int | float | bool | str):
            return v.item()
        return v

    def saved(self, s: SavedTensor, vc: list[int]) -> dict[str, Any]:
        return {
            "array": self.array(s.array),
            "storage": self.storage(s.storage),
            "version": s.version,
            "vc": self.vc(vc),
            "requires_grad": s.requires_grad,
            "is_output": s.is_output,
            "leaf": None if s.leaf is None else self.tensor(s.leaf),
            "grad_fn": None if s.grad_fn is None else self.node(s.grad_fn),
        }

    def run(self, named: dict[str, Tensor]) -> dict[str, Any]:
        names = {name: self.tensor(t) for name, t in named.items()}
        while self.todo:
            n = self.todo.pop()
            nxt: list[Any] = []
            for target in n.next:
                if target is None:
                    nxt.append(None)
                elif isinstance(target, Node):
                    nxt.append({"node": self.node(target)})
                else:
                    nxt.append({"leaf": self.tensor(target)})
            retained = n.retained() if n.retained is not None else None
            fn = _function_fields(n, self.tensor)
            self.nodes[self.node_ids[id(n)]] = {
                "op": n.op.name,
                "name": n.fn_name,
                "next": nxt,
                "consts": [self.value(c) for c in n.consts],
                "in_meta": [_meta(m) for m in n.in_meta],
                "attrs": {} if fn is not None else self.value(n.attrs)["dict"],
                "saved": None
                if n.saved is None
                else {_skey(k): self.saved(s, n.vcs[k]) for k, s in n.saved.items()},
                "retained": None if retained is None else self.tensor(retained),
                **(fn or {}),
            }
        return {
            "format": FORMAT,
            "names": names,
            "tensors": self.tensors,
            "nodes": self.nodes,
            "storages": self.storages,
            "vcs": self.vcs,
        }


def dump(
    named: dict[str, Tensor], array_id: Callable[[Any], str] | None = None
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Named tensors and everything their graphs reach, as (JSON doc, arrays by id).

    ``array_id`` names each distinct array (default: a0, a1, ... in traversal order); a
    store passes stable ids so an array saved once is never sent again.
    """
    d = _Dumper(array_id)
    doc = d.run(named)
    return doc, d.arrays


def load(
    doc: dict[str, Any], arrays: dict[str, Any], templates: TemplateLoader | None = None
) -> dict[str, Tensor]:
    """Rebuild the named tensors (and their graph) that ``dump`` wrote; ``templates``
    rebuilds stored custom Functions and hooks."""
    if doc.get("format") != FORMAT:
        raise InvalidArgumentError(f"unknown graph format {doc.get('format')!r}")
    storages: dict[str, Storage] = {}

    def storage(k: str) -> Storage:
        st = storages.get(k)
        if st is None:
            e = doc["storages"][k]
            if isinstance(e, dict):
                parent = storage(e["parent"])
                xp = backend_of(root_array(parent)).xp
                st = ViewStorage(parent, op_named(e["op"]), value({"dict": e["attrs"]}), None, xp)
            else:
                st = Storage(arrays[e])
            storages[k] = st
        return st

    vcs = {k: [v] for k, v in doc["vcs"].items()}
    nodes: dict[str, Node] = {}
    tensors: dict[str, Tensor] = {}

    def value(v: Any) -> Any:
        if isinstance(v, list):
            return [value(x) for x in v]
        if isinstance(v, dict):
            if "float" in v:
                return float(v["float"])
            if "node" in v:
                return node(v["node"])
            if "array" in v:
                return arrays[v["array"]]
            return {k: value(x) for k, x in v["dict"].items()}
        return v

    def tensor(k: str) -> Tensor:
        t = tensors.get(k)
        if t is None:
            e = doc["tensors"][k]
            st = storage(e["storage"])
            view = e.get("view")
            t = _tensor_of(st, e["requires_grad"], view is not None)
            t._st = st
            t._vc = vcs[e["vc"]]
            tensors[k] = t
            if view is not None:
                _set_view(t, tensor(view["base"]), view, value)
            gf = None if e["grad_fn"] is None else node(e["grad_fn"])
            set_grad_fn(t, gf)
            t._grad = None if e["grad"] is None else tensor(e["grad"])
            _restore_hooks(t, e, templates, tensor, node)
        return t

    def node(k: str) -> Node:
        n = nodes.get(k)
        if n is not None:
            return n
        e = doc["nodes"][k]
        n, captures = _new_node(e, templates, value)
        nodes[k] = n  # before recursing: graphs share nodes
        _fill_node(n, e, value, node, tensor, arrays.__getitem__, storage, vcs.__getitem__)
        if e["retained"] is not None:
            n.retained = weakref.ref(tensor(e["retained"]))
        _finish_node(n, e, tensor, captures)
        return n

    return {name: tensor(k) for name, k in doc["names"].items()}


def _fill_node(
    n: Node,
    e: dict[str, Any],
    value: Callable[[Any], Any],
    node: Callable[[str], Node],
    tensor: Callable[[str], Tensor],
    array: Callable[[Any], Any],
    storage: Callable[[Any], Storage],
    vc: Callable[[Any], list[int]],
) -> None:
    """A stored node's data, the same in both formats (only how keys resolve differs):
    constants, input metadata, edges and saved values."""
    n.consts = tuple(value(c) for c in e["consts"])
    n.in_meta = tuple(_unmeta(m) for m in e["in_meta"])
    n.next = tuple(
        None if x is None else (node(x["node"]) if "node" in x else tensor(x["leaf"]))
        for x in e["next"]
    )
    if e["saved"] is None:
        n.saved = None
        return
    for key, s in e["saved"].items():
        skey = _unskey(key)
        sv = SavedTensor.__new__(SavedTensor)
        sv.array = array(s["array"])
        sv.storage = storage(s["storage"])
        sv.version = s["version"]
        sv.requires_grad = s["requires_grad"]
        sv.is_output = s["is_output"]
        sv.leaf = None if s["leaf"] is None else tensor(s["leaf"])
        sv.grad_fn = None if s["grad_fn"] is None else node(s["grad_fn"])
        sv.ref = None
        assert n.saved is not None
        n.saved[skey] = sv
        n.vcs[skey] = vc(s["vc"])


# ----------------------------------------------------------------- records (format 2)
def _record(refs: Iterable[str], body: Any) -> bytes:
    """One record: the keys it references (sorted, each once), a newline, the JSON body."""
    return " ".join(sorted(set(refs))).encode() + b"\n" + orjson.dumps(body)


def record_refs(record: bytes) -> list[str]:
    """The keys a record references (its first line)."""
    head, _, _ = record.partition(b"\n")
    return head.decode().split()


def _body(record: bytes) -> Any:
    return orjson.loads(record.partition(b"\n")[2])


class Records:
    """A namespace's graph as one record per object, each under a stable key.

    Keys: ``t…`` a tensor, ``N…`` a graph node, ``s…`` a storage, ``v…`` a version
    counter; arrays are named by the caller (``array_key``), so a store lays out their
    bytes as it likes. The codec remembers which object each key names and each record
    as last stored, so ``dump`` returns only the records that changed, and ``load`` adds
    only the objects it has not built yet (shared nodes and storages stay shared).

    References are strong (they keep the target alive) except a node's ``retained``
    tensor (a weak reference in the engine as well): a store may count them to free a
    record no one references.
    """

    def __init__(
        self,
        new_key: Callable[[str], str],
        array_key: Callable[[Any], str],
        templates: TemplateLoader | None = None,
    ) -> None:
        self._new_key = new_key  # kind letter -> a key no object of this namespace has
        self._array_key = array_key
        self._templates = templates  # rebuilds stored custom Functions and hooks
        self._keys: dict[int, tuple[Any, str]] = {}  # id(obj) -> (obj, key)
        self.objects: dict[str, Any] = {}  # key -> obj
        self.stored: dict[str, bytes] = {}  # key -> the record as last stored
        # key -> what a stored record was made of (the objects themselves, held, so their
        # ids cannot be reused): an object whose parts are the same needs no new record
        self._made_of: dict[str, tuple[Any, ...]] = {}
        self._pending: dict[str, tuple[Any, ...]] = {}  # the same, for records not stored yet

    # ------------------------------------------------------------ keys
    def key(self, obj: Any, kind: str) -> str:
        """The object's key (a new one the first time it is seen)."""
        known = self._keys.get(id(obj))
        if known is not None and known[0] is obj:
            return known[1]
        k = self._new_key(kind)
        self._keys[id(obj)] = (obj, k)
        self.objects[k] = obj
        return k

    def _bind(self, k: str, obj: Any) -> None:
        self._keys[id(obj)] = (obj, k)
        self.objects[k] = obj

    def forget(self, keys: Iterable[str]) -> None:
        """Drop keys the store deleted (their objects are garbage)."""
        for k in keys:
            obj = self.objects.pop(k, None)
            self.stored.pop(k, None)
            self._made_of.pop(k, None)
            self._pending.pop(k, None)
            if obj is not None:
                known = self._keys.get(id(obj))
                if known is not None and known[1] == k:
                    del self._keys[id(obj)]

    def tensor_key(self, t: Tensor) -> str:
        return self.key(t, "t")

    # ------------------------------------------------------------ dump
    def dump(self, roots: Iterable[Tensor]) -> tuple[dict[str, bytes], dict[str, Any]]:
        """The records of everything ``roots`` reach that differ from what was stored, and
        the arrays (by key) those records reference. ``mark_stored`` them once written."""
        changed: dict[str, bytes] = {}
        arrays: dict[str, Any] = {}
        seen: set[int] = set()
        stack: list[Any] = list(roots)

        def array(a: Any, refs: list[str], new: list[Any]) -> str:
            k = self._array_key(a)
            refs.append(k)
            new.append((k, a))
            return k

        def value(v: Any, refs: list[str], new: list[Any]) -> Any:
            if isinstance(v, float) and not math.isfinite(v):
                return {"float": repr(v)}
            if isinstance(v, Node):  # CopySlices' in-place node
                nk = node(v)
                refs.append(nk)
                return {"node": nk}
            if isinstance(v, list | tuple):
                return [value(x, refs, new) for x in v]
            if isinstance(v, dict):
                return {"dict": {k: value(x, refs, new) for k, x in v.items()}}
            if hasattr(v, "dtype") and hasattr(v, "shape"):
                if getattr(v, "ndim", 1) == 0 and not hasattr(v, "__array_interface__"):
                    return v.item()
                return {"array": array(v, refs, new)}
            if hasattr(v, "item") and not isinstance(v, int | float | bool | str):
                return v.item()
            return v

        made_of = self._made_of

        def same(k: str, parts: tuple[Any, ...]) -> bool:
            # by identity (a version above 256 is a new int object: its record is rebuilt,
            # which is only slower)
            old = made_of.get(k)
            return old is not None and all(map(operator.is_, old, parts))

        def emit(
            k: str, refs: list[str], body: Any, new: list[Any], parts: tuple[Any, ...]
        ) -> None:
            rec = _record(refs, body)
            if self.stored.get(k) != rec:
                changed[k] = rec
                self._pending[k] = parts
                for ak, a in new:
                    arrays[ak] = a
            else:
                made_of[k] = parts

        def tensor(t: Tensor) -> str:
            k = self.key(t, "t")
            if id(t) not in seen:
                stack.append(t)
            return k

        def node(n: Node) -> str:
            k = self.key(n, "N")
            if id(n) not in seen:
                stack.append(n)
            return k

        def storage(st: Storage) -> str:
            k = self.key(st, "s")
            if id(st) not in seen:
                seen.add(id(st))
                if type(st) is ViewStorage:  # its parent and view op: its array is derived
                    pk = storage(st.parent)
                    if not same(k, (st.parent,)):
                        refs_v: list[str] = [pk]
                        new_v: list[Any] = []
                        attrs = value(st.attrs, refs_v, new_v)["dict"]
                        view_body = {"parent": pk, "op": st.op.name, "attrs": attrs}
                        emit(k, refs_v, view_body, new_v, (st.parent,))
                    return k
                parts = (st.array,)
                if not same(k, parts):
                    refs: list[str] = []
                    new: list[Any] = []
                    emit(k, refs, {"array": array(st.array, refs, new)}, new, parts)
            return k

        def vc(c: list[int]) -> str:
            k = self.key(c, "v")
            if id(c) not in seen:
                seen.add(id(c))
                if not same(k, (c[0],)):
                    emit(k, [], c[0], [], (c[0],))
            return k

        def ref_tensor(refs: list[str]) -> Callable[[Tensor], str]:
            def key(t: Tensor) -> str:
                refs.append(tensor(t))
                return refs[-1]

            return key

        def ref_node(refs: list[str]) -> Callable[[Node], str]:
            def key(n: Node) -> str:
                refs.append(node(n))
                return refs[-1]

            return key

        while stack:
            obj = stack.pop()
            if id(obj) in seen:
                continue
            seen.add(id(obj))
            refs: list[str] = []
            new: list[Any] = []
            if isinstance(obj, Tensor):
                k = self.key(obj, "t")
                gf = stored_grad_fn(obj)  # a view's, as stored (not regenerated)
                is_view = type(obj) is ViewTensor
                parts: tuple[Any, ...] = (
                    obj._st,
                    root_array(obj._st) if is_view else obj._st.array,
                    obj._vc[0],
                    obj._rg,
                    gf,
                    obj._grad,
                    _hooks.state_of(obj),
                    *((obj._attr_v, obj._creation) if isinstance(obj, ViewTensor) else ()),
                )
                if same(k, parts):  # its record, storage and counter as stored: walk on
                    if gf is not None:
                        node(gf)
                    if obj._grad is not None:
                        tensor(obj._grad)
                    if isinstance(obj, ViewTensor):
                        tensor(obj._vbase)
                    if parts[6] is not None:
                        for hook, on in _hooks.stored_hooks(obj)[0]:
                            for c in _stored_form(hook, "a tensor hook")[1]:
                                tensor(c)
                            if on is not None:
                                node(on)
                    continue
                body: Any = {
                    "storage": storage(obj._st),
                    "vc": vc(obj._vc),
                    "requires_grad": obj._rg,
                    "grad_fn": None if gf is None else node(gf),
                    "grad": None if obj._grad is None else tensor(obj._grad),
                }
                refs += [
                    x for x in (body["storage"], body["vc"], body["grad_fn"], body["grad"]) if x
                ]
                if parts[6] is not None:  # hooks or retain_grad, ever
                    body.update(_hook_fields(obj, ref_tensor(refs), ref_node(refs)))
                if isinstance(obj, ViewTensor):
                    body["view"] = {
                        "base": tensor(obj._vbase),
                        "chain": [[op.name, value(at, refs, new)["dict"]] for op, at in obj._chain],
                        "creation": obj._creation,
                        "multi": None if obj._multi is None else list(obj._multi),
                        "attr_version": obj._attr_v,
                    }
                    refs.append(body["view"]["base"])
                emit(k, refs, body, new, parts)
                continue
            n: Node = obj
            k = self.key(n, "N")
            # a node changes only when backward frees its saved values or a tensor of it
            # retains its grad; its other fields are fixed when it is made
            retained = n.retained() if n.retained is not None else None
            parts = (n.saved is None, retained)
            if same(k, parts):
                for target in n.next:
                    if isinstance(target, Node):
                        node(target)
                    elif target is not None:
                        tensor(target)
                for v in n.attrs.values():
                    if isinstance(v, Node):  # CopySlices' in-place node
                        node(v)
                _function_fields(n, tensor)  # a Function's: walk the tensors its ctx holds
                for sk, s in (n.saved or {}).items():
                    storage(s.storage)
                    vc(n.vcs[sk])
                    if s.leaf is not None:
                        tensor(s.leaf)
                    if s.grad_fn is not None:
                        node(s.grad_fn)
                continue
            nxt: list[Any] = []
            for target in n.next:
                if target is None:
                    nxt.append(None)
                elif isinstance(target, Node):
                    nxt.append({"node": node(target)})
                    refs.append(nxt[-1]["node"])
                else:
                    nxt.append({"leaf": tensor(target)})
                    refs.append(nxt[-1]["leaf"])
            saved = None
            if n.saved is not None:
                saved = {}
                for sk, s in n.saved.items():
                    entry: dict[str, Any] = {
                        "array": array(s.array, refs, new),
                        "storage": storage(s.storage),
                        "version": s.version,
                        "vc": vc(n.vcs[sk]),
                        "requires_grad": s.requires_grad,
                        "is_output": s.is_output,
                        "leaf": None if s.leaf is None else tensor(s.leaf),
                        "grad_fn": None if s.grad_fn is None else node(s.grad_fn),
                    }
                    refs += [entry["storage"], entry["vc"]]
                    refs += [x for x in (entry["leaf"], entry["grad_fn"]) if x]
                    saved[_skey(sk)] = entry
            fn = _function_fields(n, ref_tensor(refs))
            body = {
                "op": n.op.name,
                "name": n.fn_name,
                "next": nxt,
                "consts": [value(c, refs, new) for c in n.consts],
                "in_meta": [_meta(m) for m in n.in_meta],
                "attrs": {} if fn is not None else value(n.attrs, refs, new)["dict"],
                "saved": saved,
                # weak, as in the engine: not a reference that keeps the tensor stored
                "retained": None if retained is None else tensor(retained),
                **(fn or {}),
            }
            emit(k, refs, body, new, parts)
        return changed, arrays

    def mark_stored(self, records: dict[str, bytes]) -> None:
        """The store wrote these records: later dumps compare against them."""
        self.stored.update(records)
        for k in records:
            parts = self._pending.pop(k, None)
            if parts is not None:
                self._made_of[k] = parts

    # ------------------------------------------------------------ load
    def load(self, records: dict[str, bytes], arrays: Callable[[str], Any]) -> None:
        """Build the objects these records describe (those not built yet); ``arrays(key)``
        returns an array by its key. A record may reference keys absent from ``records``
        only if their objects exist already (a weak ``retained`` target may be gone)."""
        bodies: dict[str, Any] = {}

        def body(k: str) -> Any:
            b = bodies.get(k)
            if b is None:
                b = bodies[k] = _body(records[k])
            return b

        def storage(k: str) -> Storage:
            st = self.objects.get(k)
            if st is None:
                b = body(k)
                if "parent" in b:  # a view's: derived from its parent's array
                    parent = storage(b["parent"])
                    xp = backend_of(root_array(parent)).xp
                    attrs = value({"dict": b["attrs"]})
                    st = ViewStorage(parent, op_named(b["op"]), attrs, None, xp)
                else:
                    st = Storage(arrays(b["array"]))
                self._bind(k, st)
            return st

        def vc(k: str) -> list[int]:
            c = self.objects.get(k)
            if c is None:
                c = [int(body(k))]
                self._bind(k, c)
            return c

        def value(v: Any) -> Any:
            if isinstance(v, list):
                return [value(x) for x in v]
            if isinstance(v, dict):
                if "float" in v:
                    return float(v["float"])
                if "array" in v:
                    return arrays(v["array"])
                if "node" in v:
                    return node(v["node"])
                return {k: value(x) for k, x in v["dict"].items()}
            return v

        def tensor(k: str) -> Tensor:
            t = self.objects.get(k)
            if t is not None:
                return t
            e = body(k)
            st = storage(e["storage"])
            t = _tensor_of(st, e["requires_grad"], e.get("view") is not None)
            t._st = st
            t._vc = vc(e["vc"])
            self._bind(k, t)
            view = e.get("view")
            if view is not None:
                _set_view(t, tensor(view["base"]), view, value)
            set_grad_fn(t, None if e["grad_fn"] is None else node(e["grad_fn"]))
            t._grad = None if e["grad"] is None else tensor(e["grad"])
            _restore_hooks(t, e, self._templates, tensor, node)
            return t

        def node(k: str) -> Node:
            n = self.objects.get(k)
            if n is not None:
                return n
            e = body(k)
            n, captures = _new_node(e, self._templates, value)
            self._bind(k, n)  # before recursing: graphs share nodes
            _fill_node(n, e, value, node, tensor, arrays, storage, vc)
            r = e["retained"]
            if r is not None and (r in self.objects or r in records):
                n.retained = weakref.ref(tensor(r))
            _finish_node(n, e, tensor, captures)
            return n

        for k in records:
            if k in self.objects:
                continue
            kind = k[:1]
            if kind == "t":
                tensor(k)
            elif kind == "N":
                node(k)
        self.stored.update(records)  # what the store holds now
        for k in records:  # what they are made of is learnt at the next dump
            self._made_of.pop(k, None)

    def tensor(self, k: str) -> Tensor:
        """The tensor a loaded key names."""
        t = self.objects[k]
        assert isinstance(t, Tensor)
        return t


def kind_of(key: str) -> str:
    """A record key's kind: ``t`` tensor, ``N`` node, ``s`` storage, ``v`` version counter
    (other letters are the caller's: array keys, names)."""
    return key[:1]


def op_named(name: str) -> Any:
    op = OPS.get(name)
    if op is None:
        raise InvalidArgumentError(f"unknown op {name!r} in a stored graph")
    return op


def root_array(st: Storage) -> Any:
    while type(st) is ViewStorage:
        st = st.parent
    return st.array


def _tensor_of(st: Storage, requires_grad: bool, view: bool) -> Tensor:
    """A loaded tensor over ``st`` (a ``ViewTensor`` for a view; its fields set next)."""
    t = Tensor._make(root_array(st), requires_grad, None)
    if not view:
        return t
    vt = ViewTensor.__new__(ViewTensor)
    vt._dtype, vt._xp, vt._rg, vt._grad = t._dtype, t._xp, t._rg, None
    return vt


def _set_view(t: Tensor, base: Tensor, view: dict[str, Any], value: Callable[[Any], Any]) -> None:
    assert isinstance(t, ViewTensor)
    t._vbase = base
    t._chain = tuple((op_named(n), value({"dict": at})) for n, at in view["chain"])
    t._creation = view["creation"]
    t._multi = None if view["multi"] is None else tuple(view["multi"])
    t._attr_v = view["attr_version"]


def set_grad_fn(t: Tensor, gf: Node | None) -> None:
    Tensor.__dict__["grad_fn"].__set__(t, gf)  # a view's slot, under its property
