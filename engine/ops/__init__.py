"""The op table (``table``) and the modules that declare its ops.

Importing this package declares every op: ``OPS`` is then complete. ``OPS`` maps names to
ops; ``Op.__call__`` is what the wire runs. See ``table`` for what a declaration says.
"""

from __future__ import annotations

from . import (
    compare,
    cumulative,
    indexing,
    layers,
    linalg,
    nn,
    nn_extra,
    pointwise,
    reduction,
    shape,
    sorting,
    views,
)
from .table import OPS, Op, defop, public_ops, table_version, wire_ops

__all__ = [
    "OPS",
    "Op",
    "compare",
    "cumulative",
    "defop",
    "indexing",
    "layers",
    "linalg",
    "nn",
    "nn_extra",
    "pointwise",
    "public_ops",
    "reduction",
    "shape",
    "sorting",
    "table_version",
    "views",
    "wire_ops",
]
