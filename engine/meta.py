"""The engine as the client sees it: the op table's declarations, and inference without data.

``op_specs()`` is every op's declaration as plain data (name, torch signature, variants,
doc, ...) and ``table_version()`` its hash: the client builds its remote surfaces from the
first and compares the second with the server's on connect.

Inference runs an op on stand-in arrays: a stand-in is a zero-strided array
(``broadcast_to`` of one element), so it costs no memory however large its shape; the
op's own forward and checks then give the exact result shape, dtype and PyTorch's error
for a bad call. The client uses this to know ``.shape`` and ``.dtype`` of a lazily
recorded op without a round trip.

The range factories' checks and values (``arange_plan``, ``linspace_values``) are here too:
the client raises torch's error for a bad ``arange`` before sending, and computes
``linspace``/``logspace`` as the engine does.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np

from .dtypes import DType, as_dtype
from .factories import arange_plan, linspace_values
from .gradmode import _mode, no_grad
from .ops import OPS, table_version
from .tensor import Tensor

__all__ = [
    "INDEXED_OPS",
    "arange_plan",
    "check_inplace",
    "count_parts",
    "infer",
    "linspace_values",
    "op_specs",
    "stand_in",
    "table_version",
]

# wire ops whose kwarg "index" holds index items, where a string names an index tensor
# (x[idx] and x[idx] = v): the names a node reads include those
INDEXED_OPS = frozenset({"index", "index_put_"})


def op_specs() -> list[dict[str, Any]]:
    """Every op's declaration as data, sorted by name (see ``engine.ops.table.Op.spec``)."""
    return [OPS[name].spec() for name in sorted(OPS)]


def stand_in(shape: tuple[int, ...], dtype: DType | str) -> Tensor:
    """A tensor of ``shape`` and ``dtype`` holding zeros, backed by a single element."""
    dt = as_dtype(dtype)
    return Tensor._make(np.broadcast_to(np.zeros((), dtype=dt.np), shape), False, None)


def infer(op: str, args: list[Any], kwargs: dict[str, Any]) -> tuple[tuple[int, ...] | None, DType]:
    """The shape and dtype of ``op(*args, **kwargs)``; args are stand-ins, scalars or lists.
    The shape is None where the op's depends on values (``masked_select``)."""
    spec = OPS[op]
    with no_grad(), _stand_ins():
        out = spec(*args, **kwargs)
    return (None if spec.value_shaped else tuple(out.shape)), out.dtype


def count_parts(op: str, args: list[Any], kwargs: dict[str, Any]) -> int:
    """How many tensors the function of a ``parts`` op (``split``) returns for these stand-ins."""
    with no_grad():
        return len(OPS[op].fn(*args, **kwargs))


def check_inplace(method: str, target: Tensor, args: list[Any], kwargs: dict[str, Any]) -> None:
    """Raise PyTorch's error for ``target.<method>(*args, **kwargs)`` (an in-place op),
    run on stand-ins: shapes that do not broadcast, a result dtype the target cannot hold."""
    with no_grad(), _stand_ins():
        getattr(target, method)(*args, **kwargs)


@contextmanager
def _stand_ins() -> Iterator[None]:
    """Ops see stand-in values: checks of values (an integer division by zero) skip."""
    before = _mode.stand_ins
    _mode.stand_ins = True
    try:
        yield
    finally:
        _mode.stand_ins = before
