"""``torch.viz.make_dot(out)``: torchviz's picture of a remote tensor's graph.

The server draws the DOT text (``GET /v1/sessions/{id}/graph.dot``); this returns it as a
``graphviz.Source``, which a notebook displays and ``.render()``/``.pipe()`` turn into files
(that needs Graphviz's ``dot`` on this machine; ``GET .../graph.svg`` draws on the server).
The client's tensors carry generated names (``t7``): as in torchviz, the output is labelled by
its size alone and a leaf by the name ``params`` gives it, else by its size.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .tensor import RemoteTensor

if TYPE_CHECKING:
    import graphviz

    from .connection import Connection

__all__ = ["Viz", "relabel"]

_LABEL = re.compile(r'label="((?:[^"\\]|\\.)*)"')
_FN = re.compile(r"^(?:[A-Za-z0-9_]+Backward\d*|AccumulateGrad)$")


def relabel(dot: str, names: Mapping[str, str]) -> str:
    """The DOT text with session names swapped for ``names`` (server name -> shown name);
    a name not in ``names`` is dropped (tensors keep their size, grad_fns their class)."""

    def swap(m: re.Match[str]) -> str:
        lines = m[1].split("\\n")
        if _FN.match(lines[0]):  # grad_fn: [class, bound names?, "(freed)"?]
            kept = [lines[0]]
            for extra in lines[1:]:
                if extra == "(freed)":
                    kept.append(extra)
                else:
                    shown = [names[n] for n in extra.split(", ") if n in names]
                    if shown:
                        kept.append(", ".join(shown))
            return 'label="' + "\\n".join(kept) + '"'
        if len(lines) == 2 and not lines[0].startswith("saved "):  # tensor: [name, size dtype]
            shown_name = names.get(lines[0])
            lines = [shown_name, lines[1]] if shown_name else [lines[1]]
        return 'label="' + "\\n".join(lines) + '"'

    return _LABEL.sub(swap, dot)


class Viz:
    """``torch.viz``: pictures of the session's autograd graph."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn

    def name(self, **tensors: RemoteTensor) -> None:
        """Give tensors names in the session (``torch.viz.name(x=x, out=out)``): the /ui page
        and the pictures show them (the client's own names are generated, ``_t7``). Like a
        Python assignment: the name keeps showing that tensor until named again."""
        conn = self._conn
        conn.check([t.name for t in tensors.values()])
        conn.call("POST", "/names", json={"names": {k: t.name for k, t in tensors.items()}})

    def dot_source(
        self,
        var: RemoteTensor | Mapping[str, RemoteTensor],
        params: Mapping[str, RemoteTensor] | None = None,
        show_saved: bool = False,
    ) -> str:
        """The DOT text ``make_dot`` wraps."""
        roots = dict(var) if isinstance(var, Mapping) else {"": var}
        conn = self._conn
        conn.check([t.name for t in roots.values()])
        conn.flush()  # the graph up to here is on the server
        params_ = {t.name: shown for shown, t in (params or {}).items()}
        shown = {**params_, **{t.name: label for label, t in roots.items() if label}}
        query = {"roots": ",".join(t.name for t in roots.values()), "saved": show_saved}
        text = conn.send("GET", conn.prefix + "/graph.dot", params=query).text
        # torchviz highlights nothing: drop the bold outline the server gives roots
        return relabel(text.replace(', penwidth="2"', ""), shown)

    def make_dot(
        self,
        var: RemoteTensor | Mapping[str, RemoteTensor],
        params: Mapping[str, RemoteTensor] | None = None,
        show_saved: bool = False,
        **source_options: Any,
    ) -> graphviz.Source:
        """torchviz's ``make_dot(out, params=dict(model.named_parameters()))`` for a remote
        tensor (or name -> tensor): a ``graphviz.Source`` (``source_options`` go to it:
        ``filename``, ``format``, ...)."""
        import graphviz

        return graphviz.Source(self.dot_source(var, params, show_saved), **source_options)
