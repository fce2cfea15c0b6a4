"""Graphviz rendering for the graph pictures: DOT text in, SVG bytes out.

The ``graphviz`` Python package drives Graphviz's ``dot`` program (Debian: ``apt-get install
graphviz``). Where ``dot`` is missing the SVG endpoint answers 501 ``renderer_unavailable``;
the DOT text needs no renderer.
"""

from __future__ import annotations

import graphviz

from .errors import ApiError

__all__ = ["INSTALL_HINT", "graphviz_version", "render_svg"]

INSTALL_HINT = (
    "install Graphviz so that its `dot` program is on the server's PATH (Debian/Ubuntu: "
    "apt-get install graphviz; macOS: brew install graphviz; conda: conda install graphviz); "
    "GET .../graph.dot works without it"
)


def graphviz_version() -> str | None:
    """``dot``'s version ("2.43.0"), or ``None`` where it cannot be run."""
    try:
        return ".".join(str(p) for p in graphviz.version())
    except (graphviz.ExecutableNotFound, graphviz.CalledProcessError, RuntimeError, OSError):
        return None


def render_svg(dot_source: str) -> bytes:
    """The SVG Graphviz draws for ``dot_source``; 501 ``renderer_unavailable`` without ``dot``."""
    try:
        return graphviz.pipe("dot", "svg", dot_source.encode(), quiet=True)
    except graphviz.ExecutableNotFound:
        raise ApiError(
            501,
            "renderer_unavailable",
            f"the server cannot draw SVG: Graphviz's `dot` was not found; {INSTALL_HINT}",
        ) from None
