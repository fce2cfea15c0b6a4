"""The graph as data: dump named tensors with their autograd graph, and rebuild them.

``dump(tensors)`` returns ``(doc, arrays)``: ``doc`` is plain JSON (op names, attrs,
edges, versions, flags), ``arrays`` maps array ids to backend arrays, so a store can
keep raw bytes apart from the JSON. Nodes are rebuilt from the op table by name:
no closures, no pickle. Shared storages, version counters and freed saved values
survive the round trip, so torch's errors (graph_freed, modified_inplace) do too.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable
from typing import Any

from .autograd import Node, SavedTensor
from .dtypes import as_dtype
from .errors import InvalidArgumentError
from .ops import OPS
from .tensor import Storage, Tensor

__all__ = ["dump", "load"]

FORMAT = 1


class _Dumper:
    def __init__(self, array_id: Callable[[Any], str] | None = None) -> None:
        self.array_id = array_id
        self.arrays: dict[str, Any] = {}
        self.array_ids: dict[int, str] = {}
        self.storages: dict[str, str] = {}
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
            self.storages[k] = self.array(st.array)
            self.keep.append(st)
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
        entry: dict[str, Any] = {
            "storage": self.storage(t._st),
            "vc": self.vc(t._vc),
            "requires_grad": t._rg,
            "grad_fn": None if t.grad_fn is None else self.node(t.grad_fn),
        }
        self.tensors[k] = entry
        entry["grad"] = None if t._grad is None else self.tensor(t._grad)
        return k

    def value(self, v: Any) -> Any:
        """Attrs and constants as JSON: arrays by id, non-finite floats as strings."""
        if isinstance(v, float) and not math.isfinite(v):
            return {"float": repr(v)}
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
            self.nodes[self.node_ids[id(n)]] = {
                "op": n.op.name,
                "name": n.fn_name,
                "next": nxt,
                "consts": [self.value(c) for c in n.consts],
                "in_meta": [None if m is None else [list(m[0]), m[1].name] for m in n.in_meta],
                "attrs": self.value(n.attrs)["dict"],
                "saved": None
                if n.saved is None
                else {str(k): self.saved(s, n.vcs[k]) for k, s in n.saved.items()},
                "retained": None if retained is None else self.tensor(retained),
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


def load(doc: dict[str, Any], arrays: dict[str, Any]) -> dict[str, Tensor]:
    """Rebuild the named tensors (and their graph) that ``dump`` wrote."""
    if doc.get("format") != FORMAT:
        raise InvalidArgumentError(f"unknown graph format {doc.get('format')!r}")
    storages = {k: Storage(arrays[a]) for k, a in doc["storages"].items()}
    vcs = {k: [v] for k, v in doc["vcs"].items()}
    nodes: dict[str, Node] = {}
    tensors: dict[str, Tensor] = {}

    def value(v: Any) -> Any:
        if isinstance(v, list):
            return [value(x) for x in v]
        if isinstance(v, dict):
            if "float" in v:
                return float(v["float"])
            if "array" in v:
                return arrays[v["array"]]
            return {k: value(x) for k, x in v["dict"].items()}
        return v

    def tensor(k: str) -> Tensor:
        t = tensors.get(k)
        if t is None:
            e = doc["tensors"][k]
            st = storages[e["storage"]]
            t = Tensor._make(st.array, e["requires_grad"], None)
            t._st = st
            t._vc = vcs[e["vc"]]
            tensors[k] = t
            t.grad_fn = None if e["grad_fn"] is None else node(e["grad_fn"])
            t._grad = None if e["grad"] is None else tensor(e["grad"])
        return t

    def node(k: str) -> Node:
        n = nodes.get(k)
        if n is not None:
            return n
        e = doc["nodes"][k]
        op = OPS.get(e["op"])
        if op is None:
            raise InvalidArgumentError(f"unknown op {e['op']!r} in a stored graph")
        n = Node(op, e["name"], (), (), (), value({"dict": e["attrs"]}))
        nodes[k] = n  # before recursing: graphs share nodes
        n.consts = tuple(value(c) for c in e["consts"])
        n.in_meta = tuple(
            None if m is None else (tuple(m[0]), as_dtype(m[1])) for m in e["in_meta"]
        )
        n.next = tuple(
            None if x is None else (node(x["node"]) if "node" in x else tensor(x["leaf"]))
            for x in e["next"]
        )
        if e["saved"] is None:
            n.saved = None
        else:
            for key, s in e["saved"].items():
                skey: Any = key if key == "out" else int(key)
                sv = SavedTensor.__new__(SavedTensor)
                sv.array = arrays[s["array"]]
                sv.storage = storages[s["storage"]]
                sv.version = s["version"]
                sv.requires_grad = s["requires_grad"]
                sv.is_output = s["is_output"]
                sv.leaf = None if s["leaf"] is None else tensor(s["leaf"])
                sv.grad_fn = None if s["grad_fn"] is None else node(s["grad_fn"])
                sv.ref = None
                assert n.saved is not None
                n.saved[skey] = sv
                n.vcs[skey] = vcs[s["vc"]]
        if e["retained"] is not None:
            n.retained = weakref.ref(tensor(e["retained"]))
        return n

    return {name: tensor(k) for name, k in doc["names"].items()}
