"""Draw the figures of README.md and docs/: ``python docs/make_figures.py``.

``docs/img/tutorial_graph.dot`` and ``.svg``: the tutorial's graph (``x = ones(2, 2,
requires_grad=True); y = x + 2; z = y * y * 3; out = z.mean()``) exactly as ``GET
/v1/sessions/{id}/graph.svg`` draws it for that session (``engine.viz.graph_dot`` over the
session's names, by Graphviz's ``dot``). ``tests/service/test_figures.py`` checks that the
committed files are current.
"""

from __future__ import annotations

import sys
from pathlib import Path

import graphviz

import engine
from engine.viz import default_roots, graph_dot

IMG = Path(__file__).resolve().parent / "img"


def tutorial_dot() -> str:
    """The DOT text of the tutorial session's graph."""
    x = engine.ones(2, 2, requires_grad=True)
    y = x + 2
    z = y * y
    z = z * 3
    out = z.mean()
    names = {"x": x, "y": y, "z": z, "out": out}
    return graph_dot(default_roots(names), names)


def render(dot: str) -> bytes:
    """The SVG Graphviz draws (the service's own renderer call)."""
    return graphviz.pipe("dot", "svg", dot.encode(), quiet=True)


def main() -> int:
    IMG.mkdir(exist_ok=True)
    dot = tutorial_dot()
    (IMG / "tutorial_graph.dot").write_text(dot)
    (IMG / "tutorial_graph.svg").write_bytes(render(dot))
    print(f"wrote {IMG / 'tutorial_graph.dot'} and {IMG / 'tutorial_graph.svg'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
