"""PyTorch's ``repr(tensor)`` text, rebuilt on NumPy (mirrors ``torch/_tensor_str.py``)."""

from __future__ import annotations

import math
from typing import Any

import numpy

__all__ = ["format_tensor", "grad_fn_name"]

# grad_fn classes torch defines in C++'s torch::autograd namespace: their ``name()`` carries it,
# while their type name (what a tensor prints, what the wire reports) does not
_QUALIFIED = frozenset({"NotImplemented", "CopyBackwards", "CopySlices"})


def grad_fn_name(type_name: str) -> str:
    """torch's ``grad_fn.name()`` for a grad_fn of this type name."""
    return f"torch::autograd::{type_name}" if type_name in _QUALIFIED else type_name


# torch's default print options (``torch.set_printoptions(profile="default")``).
_PRECISION = 4
_THRESHOLD = 1000
_EDGEITEMS = 3
_LINEWIDTH = 80

_PREFIX = "tensor("
# Dtypes torch infers by default, hence left out of the repr (unless the tensor is empty).
_DEFAULT_DTYPES = frozenset({"float32", "int64", "bool"})
_DEFAULT_FLOAT = "float32"


class _Formatter:
    """Pads every element to one width in fixed, integer-valued or scientific notation."""

    def __init__(self, values: numpy.ndarray, floating: bool) -> None:
        self.floating = floating
        self.int_mode = True
        self.sci_mode = False
        self.max_width = 1
        if not floating:
            for value in values.ravel().tolist():
                self.max_width = max(self.max_width, len(f"{value}"))
            return
        finite = values[numpy.isfinite(values) & (values != 0)]
        if finite.size == 0:
            return
        magnitudes = numpy.abs(finite)
        low, high = float(magnitudes.min()), float(magnitudes.max())
        self.int_mode = bool(numpy.all(finite == numpy.ceil(finite)))
        self.sci_mode = high / low > 1000.0 or high > 1.0e8 or low < 1.0e-4
        for value in finite.tolist():
            if self.sci_mode:
                width = len(f"{value:.{_PRECISION}e}")
            elif self.int_mode:
                width = len(f"{value:.0f}") + 1  # room for the trailing "."
            else:
                width = len(f"{value:.{_PRECISION}f}")
            self.max_width = max(self.max_width, width)

    def format(self, value: Any) -> str:
        """One element, right-aligned to the common width."""
        if not self.floating:
            text = f"{value}"
        elif self.sci_mode:
            text = f"{value:{self.max_width}.{_PRECISION}e}"
        elif self.int_mode:
            text = f"{value:.0f}"
            if math.isfinite(value):
                text += "."
        else:
            text = f"{value:.{_PRECISION}f}"
        return text.rjust(self.max_width)


def _summarized(array: numpy.ndarray) -> numpy.ndarray:
    """The elements a summarized print shows: the edge items of every long dimension."""
    index = []
    for size in array.shape:
        if size > 2 * _EDGEITEMS:
            index.append(numpy.r_[0:_EDGEITEMS, size - _EDGEITEMS : size])
        else:
            index.append(numpy.arange(size))
    picked: numpy.ndarray = array[numpy.ix_(*index)]
    return picked


def _vector_str(array: numpy.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    """A 1-d array as a bracketed list, wrapped to the line width."""
    element_length = fmt.max_width + 2
    per_line = max(1, (_LINEWIDTH - indent) // element_length)
    if summarize and array.shape[0] > 2 * _EDGEITEMS:
        data = (
            [fmt.format(v) for v in array[:_EDGEITEMS].tolist()]
            + [" ..."]
            + [fmt.format(v) for v in array[-_EDGEITEMS:].tolist()]
        )
    else:
        data = [fmt.format(v) for v in array.tolist()]
    lines = [", ".join(data[i : i + per_line]) for i in range(0, len(data), per_line)]
    return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"


def _nested_str(array: numpy.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    """An array of any rank, one nesting level per dimension."""
    if array.ndim == 0:
        return fmt.format(array.item())
    if array.ndim == 1:
        return _vector_str(array, indent, summarize, fmt)
    size = array.shape[0]
    if summarize and size > 2 * _EDGEITEMS:
        rows = [*range(_EDGEITEMS), None, *range(size - _EDGEITEMS, size)]
    else:
        rows = list(range(size))
    slices = [
        "..." if i is None else _nested_str(array[i], indent + 1, summarize, fmt) for i in rows
    ]
    separator = "," + "\n" * (array.ndim - 1) + " " * (indent + 1)
    return "[" + separator.join(slices) + "]"


def _add_suffixes(tensor_str: str, suffixes: list[str], indent: int) -> str:
    """Append ``, suffix`` items, starting a new line when one would pass the line width."""
    parts = [tensor_str]
    last_line_len = len(tensor_str) - tensor_str.rfind("\n") + 1
    for suffix in suffixes:
        if last_line_len + len(suffix) + 2 > _LINEWIDTH:
            parts.append(",\n" + " " * indent + suffix)
            last_line_len = indent + len(suffix)
        else:
            parts.append(", " + suffix)
            last_line_len += len(suffix) + 2
    parts.append(")")
    return "".join(parts)


def format_tensor(
    array: numpy.ndarray,
    *,
    dtype: str,
    requires_grad: bool = False,
    grad_fn: str | None = None,
    device: str = "cpu",
) -> str:
    """torch's repr of a tensor with these values."""
    values = numpy.asarray(array)
    if values.dtype.kind == "c":
        raise TypeError("complex tensors are not supported")
    floating = dtype.startswith(("float", "bfloat")) or values.dtype.kind == "f"
    if floating:
        values = values.astype(numpy.float64)  # exact for float16/32; what .item() yields
    elif dtype == "bool":
        values = values.astype(numpy.bool_)

    suffixes = []
    if device != "cpu":
        suffixes.append(f"device='{'cuda:0' if device == 'cuda' else device}'")
    if values.size == 0:
        if values.ndim != 1:
            suffixes.append(f"size={tuple(values.shape)}")
        if dtype != _DEFAULT_FLOAT:
            suffixes.append(f"dtype=torch.{dtype}")
        tensor_str = "[]"
    else:
        if dtype not in _DEFAULT_DTYPES:
            suffixes.append(f"dtype=torch.{dtype}")
        summarize = values.size > _THRESHOLD
        fmt = _Formatter(_summarized(values) if summarize else values, floating)
        tensor_str = _nested_str(values, len(_PREFIX), summarize, fmt)
    if grad_fn is not None:
        suffixes.append(f"grad_fn=<{grad_fn.strip('<>')}>")
    elif requires_grad:
        suffixes.append("requires_grad=True")
    return _add_suffixes(_PREFIX + tensor_str, suffixes, len(_PREFIX))
