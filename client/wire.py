"""Arrays on the wire: TensorData (json and b64 forms) to and from NumPy."""

from __future__ import annotations

import base64
from typing import Any

import numpy as np

from engine import dtypes as D

__all__ = ["decode", "encode_b64"]


def decode(td: dict[str, Any] | None) -> np.ndarray[Any, Any] | None:
    """A host array from TensorData (json or b64)."""
    if td is None:
        return None
    dt = D.as_dtype(td["dtype"])
    if "b64" in td:
        raw = base64.b64decode(td["b64"])
        arr = np.frombuffer(raw, dtype=dt.np.newbyteorder("<")).astype(dt.np)
        return arr.reshape(td["shape"])
    data = td["data"]
    if dt.is_floating_point:  # non-finite values travel as strings
        return np.asarray(data, dtype=object).astype(dt.np)
    return np.asarray(np.array(data, dtype=dt.np))


def encode_b64(array: np.ndarray[Any, Any]) -> dict[str, Any]:
    """TensorData in the b64 form: exact, and no per-element JSON."""
    dt = D.as_dtype(array.dtype)
    raw = np.ascontiguousarray(array, dtype=dt.np.newbyteorder("<")).tobytes()
    return {"b64": base64.b64encode(raw).decode("ascii"), "dtype": dt.name, "shape": [*array.shape]}
