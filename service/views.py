"""Tensors as the wire shows them (TensorInfo) and the request-level compute helpers."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from engine.state import grad_of, version
from engine.tensor import Tensor

from .codecs import encode_tensor_data

__all__ = ["tensor_data", "tensor_info"]


def tensor_data(t: Tensor | None, encoding: str = "json") -> dict[str, Any] | None:
    """A tensor's values as TensorData (``None`` stays ``None``: an absent ``.grad``)."""
    return None if t is None else encode_tensor_data(t.numpy(force=True), t.dtype, encoding)


def tensor_info(
    name: str, t: Tensor, include: Iterable[str] = (), encoding: str = "json"
) -> dict[str, Any]:
    """TensorInfo: every key always present; data/grad filled only when included."""
    inc = set(include)
    data = tensor_data(t, encoding) if "data" in inc else None
    grad = tensor_data(grad_of(t), encoding) if "grad" in inc else None
    return {
        "name": name,
        "shape": list(t.shape),
        "dtype": t.dtype.name,
        "requires_grad": t.requires_grad,
        "is_leaf": t.is_leaf,
        "grad_fn": None if t.grad_fn is None else t.grad_fn.fn_name,
        "version": version(t),
        "data": data,
        "grad": grad,
    }
