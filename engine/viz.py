"""The autograd graph as a picture, in torchviz's conventions (``make_dot``).

``graph_dot`` walks the graph behind some tensors and writes Graphviz DOT text:

- a tensor node (box) per root: its name, shape and dtype; green (``darkolivegreen1``) when it
  requires grad, ``lemonchiffon`` when it does not; a root drawn by request is outlined bold;
- a node per ``grad_fn`` (grey boxes), labelled with PyTorch's class name (``MulBackward0``) and
  the names its output is bound to (a name starting with ``_``, the Python client's generated
  ``_t7``, only where the tensor has no other); a node whose saved values a backward already
  freed is white with a dashed grey outline and says ``(freed)``;
- an ``AccumulateGrad`` node per leaf that requires grad, fed by the leaf (``lightblue``)
  labelled with its name, shape and dtype;
- with ``saved=True`` the tensors each ``grad_fn`` saved for backward (``orange``), joined to it
  by an undirected edge;
- edges go the way values flow in the forward pass: inputs above, outputs below.

Node ids are given in walk order (``n0``, ``n1``, ...), so the same graph always gives the same
text. ``make_dot(tensor)`` wraps the text in a ``graphviz.Source`` (the ``graphviz`` Python
package; rendering needs Graphviz's ``dot``), which a notebook displays.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .autograd import Node
from .dtypes import from_numpy_dtype
from .errors import EngineError
from .tensor import Tensor

if TYPE_CHECKING:
    import graphviz

__all__ = ["COLORS", "GraphTooLargeError", "default_roots", "graph_dot", "make_dot"]

COLORS = {
    "root": "darkolivegreen1",  # a tensor that requires grad (torchviz's output colour)
    "root_no_grad": "lemonchiffon",  # a tensor that does not require grad
    "leaf": "lightblue",  # a leaf that requires grad (torchviz's parameter colour)
    "saved": "orange",  # a tensor saved for backward
    "grad_fn": "lightgrey",  # Graphviz's own fill for style=filled
    "freed": "white",
}
GRAPH_ATTR = {"size": "12,12", "rankdir": "TB", "ranksep": "0.3"}
NODE_ATTR = {
    "style": "filled",
    "shape": "box",
    "align": "left",
    "fontsize": "10",
    "height": "0.2",
    "fontname": "monospace",
}


class GraphTooLargeError(EngineError, RuntimeError):
    """The picture would have more nodes than allowed."""

    code = "graph_too_large"
    status = 413


def _quote(text: str) -> str:
    """A DOT double-quoted string (backslash and quote escaped; newlines as ``\\n``)."""
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def _attrs(attrs: Mapping[str, str]) -> str:
    return ", ".join(f"{k}={_quote(v)}" for k, v in attrs.items())


def _size(shape: Any) -> str:
    """torchviz's ``size_to_str``: ``(2, 2)``; ``()`` for a 0-d tensor."""
    return "(" + ", ".join(str(int(d)) for d in shape) + ")"


def _tensor_label(name: str, shape: Any, dtype: str) -> str:
    return f"{name}\n{_size(shape)} {dtype}" if name else f"{_size(shape)} {dtype}"


def _shown(names: list[str]) -> list[str]:
    """The names to show for one tensor: those not starting with ``_`` (the Python client
    generates ``_t7``), all of them when every one does."""
    public = [n for n in names if not n.startswith("_")]
    return public or names


class _Dot:
    """The DOT text under construction, with the node cap."""

    def __init__(self, max_nodes: int | None) -> None:
        self.lines: list[str] = []
        self.ids: dict[int, str] = {}  # id(object) -> node id
        self.keep: list[Any] = []  # holds what ids are keyed by while the walk runs
        self.max_nodes = max_nodes
        self.count = 0

    def node(self, obj: Any, label: str, **attrs: str) -> str:
        nid = f"n{self.count}"
        self.count += 1
        if self.max_nodes is not None and self.count > self.max_nodes:
            raise GraphTooLargeError(
                f"the picture has more than {self.max_nodes} nodes; draw part of the graph "
                "(fewer roots) or raise the limit"
            )
        if obj is not None:
            self.ids[id(obj)] = nid
            self.keep.append(obj)
        self.lines.append(f"\t{nid} [{_attrs({'label': label, **attrs})}]")
        return nid

    def edge(self, tail: str, head: str, **attrs: str) -> None:
        extra = f" [{_attrs(attrs)}]" if attrs else ""
        self.lines.append(f"\t{tail} -> {head}{extra}")

    def text(self) -> str:
        head = [
            "digraph {",
            f"\tgraph [{_attrs(GRAPH_ATTR)}]",
            f"\tnode [{_attrs(NODE_ATTR)}]",
        ]
        return "\n".join([*head, *self.lines, "}"]) + "\n"


def graph_dot(
    roots: Mapping[str, Tensor],
    names: Mapping[str, Tensor] | None = None,
    *,
    saved: bool = False,
    max_nodes: int | None = None,
    highlight: bool = True,
) -> str:
    """DOT text of the graph behind ``roots`` (name -> tensor).

    ``names`` labels the tensors met on the way (a leaf's name, the names a ``grad_fn``'s
    output is bound to); by default only the roots' names are known. ``saved`` adds the
    tensors saved for backward; ``max_nodes`` raises ``GraphTooLargeError`` (413
    ``graph_too_large``) past that many nodes; ``highlight`` outlines the roots bold.
    """
    names = dict(roots) if names is None else names
    known: dict[int, list[str]] = {}  # id(tensor) -> its names
    fn_names: dict[int, list[str]] = {}  # id(grad_fn) -> the names of its outputs
    for name, t in [*names.items(), *roots.items()]:
        if name in known.setdefault(id(t), []):
            continue
        known[id(t)].append(name)
        if t.grad_fn is not None:
            fn_names.setdefault(id(t.grad_fn), []).append(name)
    leaf_name = {key: ", ".join(_shown(found)) for key, found in known.items()}
    dot = _Dot(max_nodes)
    accumulators: dict[int, str] = {}  # id(leaf) -> its AccumulateGrad node
    root_attrs = {"penwidth": "2"} if highlight else {}

    def add_leaf(t: Tensor) -> str:
        nid = dot.ids.get(id(t))
        if nid is None:
            label = _tensor_label(leaf_name.get(id(t), ""), t.shape, t.dtype.name)
            nid = dot.node(t, label, fillcolor=COLORS["leaf"])
        return nid

    def add_fn(fn: Node) -> str:
        """The node of ``fn`` and, once, everything above it (iteratively: graphs are deep)."""
        done = dot.ids.get(id(fn))
        if done is not None:
            return done
        top = _fn_node(fn)
        stack: list[tuple[Node, str, int]] = [(fn, top, 0)]
        while stack:
            node, nid, i = stack.pop()
            if i >= len(node.next):
                continue
            stack.append((node, nid, i + 1))
            target = node.next[i]
            if target is None:
                continue
            if isinstance(target, Node):
                seen = dot.ids.get(id(target))
                if seen is None:
                    seen = _fn_node(target)
                    stack.append((target, seen, 0))
                dot.edge(seen, nid)
            else:  # a leaf that requires grad: leaf -> AccumulateGrad -> node
                acc = accumulators.get(id(target))
                if acc is None:
                    leaf = add_leaf(target)
                    acc = accumulators[id(target)] = dot.node(None, "AccumulateGrad")
                    dot.edge(leaf, acc)
                dot.edge(acc, nid)
        return top

    def _fn_node(fn: Node) -> str:
        label = fn.fn_name  # the type name, as torchviz labels nodes
        bound = fn_names.get(id(fn))
        if bound:
            label += "\n" + ", ".join(_shown(bound))
        if fn.saved is None:  # a backward freed its saved values
            nid = dot.node(
                fn,
                label + "\n(freed)",
                fillcolor=COLORS["freed"],
                color="grey60",
                fontcolor="grey45",
                style="filled,dashed",
            )
        else:
            nid = dot.node(fn, label, fillcolor=COLORS["grad_fn"])
            if saved:
                for key, st in fn.saved.items():
                    dtype = from_numpy_dtype(st.array.dtype).name
                    what = "output" if key == "out" else f"input {key}"
                    sid = dot.node(
                        None,
                        _tensor_label(f"saved {what}", st.array.shape, dtype),
                        fillcolor=COLORS["saved"],
                    )
                    dot.edge(nid, sid, dir="none")
        return nid

    drawn: set[int] = set()  # roots drawn (a tensor under two names is one node)
    for t in roots.values():
        if id(t) in drawn:
            continue
        drawn.add(id(t))
        color = COLORS["root"] if t.requires_grad else COLORS["root_no_grad"]
        label = _tensor_label(leaf_name[id(t)], t.shape, t.dtype.name)
        if t.grad_fn is None and t.requires_grad and id(t) not in dot.ids:
            # a leaf root: its own node, the one a graph above would reach
            dot.node(t, label, fillcolor=COLORS["leaf"], **root_attrs)
            continue
        if t.grad_fn is None and id(t) in dot.ids:
            continue
        nid = dot.node(None, label, fillcolor=color, **root_attrs)
        if t.grad_fn is not None:
            dot.edge(add_fn(t.grad_fn), nid)
    return dot.text()


def default_roots(names: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """The named tensors no other named tensor's graph reaches: the ends of the session's
    graphs, and the tensors outside every graph."""
    inside: set[int] = set()
    for t in names.values():
        fn = t.grad_fn
        if fn is None:
            continue
        stack = list(fn.next)
        while stack:
            target = stack.pop()
            if target is None or id(target) in inside:
                continue
            inside.add(id(target))
            if isinstance(target, Node):
                stack.extend(target.next)
    roots = {}
    for name, t in names.items():
        key = id(t.grad_fn) if t.grad_fn is not None else id(t)
        if key not in inside:
            roots[name] = t  # graph_dot draws a tensor with several names once
    return roots


def make_dot(
    var: Tensor | Mapping[str, Tensor],
    params: Mapping[str, Tensor] | None = None,
    show_saved: bool = False,
) -> graphviz.Source:
    """torchviz's ``make_dot``: the graph behind ``var`` (a tensor, or name -> tensor) as a
    ``graphviz.Source``; ``params`` names the leaves (``dict(model.named_parameters())``)."""
    import graphviz

    roots = dict(var) if isinstance(var, Mapping) else {"": var}
    names = {**(params or {}), **{k: v for k, v in roots.items() if k}}
    return graphviz.Source(graph_dot(roots, names, saved=show_saved, highlight=False))
