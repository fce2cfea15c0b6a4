"""Dtypes and PyTorch's type promotion (``torch.tensor`` inference, ``torch.result_type``)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .errors import InvalidArgumentError

__all__ = [
    "DType",
    "bool_",
    "float16",
    "float32",
    "float64",
    "int32",
    "int64",
    "DTYPES",
    "as_dtype",
    "default_float",
    "get_default_dtype",
    "set_default_dtype",
    "promote_types",
    "result_type",
]


class DType:
    """A tensor element type; prints as torch does (``torch.float32``)."""

    __slots__ = (
        "_category",
        "cpp_name",
        "is_floating_point",
        "itemsize",
        "name",
        "np",
        "scalar_name",
    )

    def __init__(
        self, name: str, np_dtype: Any, category: int, scalar_name: str, cpp_name: str
    ) -> None:
        self.name = name
        # the names torch's error messages use: ScalarType ("Float") and C++ type ("float")
        self.scalar_name = scalar_name
        self.cpp_name = cpp_name
        self.np = np.dtype(np_dtype)
        self.is_floating_point = category == 2
        self.itemsize = self.np.itemsize
        self._category = category  # 0 bool, 1 integer, 2 floating

    def __repr__(self) -> str:
        return f"torch.{self.name}"

    @property
    def tensor_type(self) -> str:
        """torch's legacy type name, ``torch.FloatTensor``."""
        return f"torch.{self.scalar_name}Tensor"

    def __reduce__(self) -> str:
        return self.name


bool_ = DType("bool", np.bool_, 0, "Bool", "bool")
int32 = DType("int32", np.int32, 1, "Int", "int")
int64 = DType("int64", np.int64, 1, "Long", "long int")
float16 = DType("float16", np.float16, 2, "Half", "c10::Half")
float32 = DType("float32", np.float32, 2, "Float", "float")
float64 = DType("float64", np.float64, 2, "Double", "double")

DTYPES: dict[str, DType] = {d.name: d for d in (bool_, int32, int64, float16, float32, float64)}
_BY_NP: dict[np.dtype[Any], DType] = {d.np: d for d in DTYPES.values()}
# Aliases torch accepts for the same types.
_ALIASES = {"float": float32, "double": float64, "half": float16, "int": int32, "long": int64}

# The rank of each dtype inside its category: promotion picks the wider one.
_RANK = {bool_: 0, int32: 1, int64: 2, float16: 1, float32: 2, float64: 3}


_DEFAULT_FLOAT = [float32]  # torch's default dtype is process-wide too


def default_float() -> DType:
    """The dtype of float literals and float fills (torch's default dtype)."""
    return _DEFAULT_FLOAT[0]


def get_default_dtype() -> DType:
    """``torch.get_default_dtype``."""
    return _DEFAULT_FLOAT[0]


def set_default_dtype(d: Any) -> None:
    """``torch.set_default_dtype``: float32 or float64 (process-wide, as in torch)."""
    dt = as_dtype(d)
    if dt not in (float32, float64):
        from .errors import EngineTypeError

        raise EngineTypeError(
            "only floating-point types are supported as the default type"
            if not dt.is_floating_point
            else f"set_default_dtype: {dt.name} is not supported by gradserve (float32, float64)"
        )
    _DEFAULT_FLOAT[0] = dt


def as_dtype(value: Any) -> DType:
    """Resolve a dtype given as a DType, a name (``"float32"``), or a NumPy dtype."""
    if isinstance(value, DType):
        return value
    if isinstance(value, str):
        name = value.removeprefix("torch.")
        found = DTYPES.get(name) or _ALIASES.get(name)
        if found is None:
            raise InvalidArgumentError(f"unsupported dtype {value!r}; use one of {sorted(DTYPES)}")
        return found
    if value is bool:
        return bool_
    if value is int:
        return int64
    if value is float:
        return float32
    try:
        return _BY_NP[np.dtype(value)]
    except (KeyError, TypeError):
        raise InvalidArgumentError(
            f"unsupported dtype {value!r}; use one of {sorted(DTYPES)}"
        ) from None


def from_numpy_dtype(np_dtype: np.dtype[Any]) -> DType:
    """The DType of a NumPy dtype (unsupported ones raise invalid_argument)."""
    found = _BY_NP.get(np_dtype)
    return found if found is not None else as_dtype(np_dtype)


def promote_types(a: DType, b: DType) -> DType:
    """``torch.promote_types``: the smallest dtype both convert to without losing kind."""
    if a is b:
        return a
    if a._category != b._category:
        return a if a._category > b._category else b
    return a if _RANK[a] >= _RANK[b] else b


def scalar_dtype(value: Any) -> DType:
    """The dtype a Python scalar takes as a wrapped number."""
    if isinstance(value, bool | np.bool_):
        return bool_
    if isinstance(value, int | np.integer):
        return int64
    return default_float()


def _combine(higher: DType | None, lower: DType | None) -> DType | None:
    # c10's combine_categories: a lower-priority class only matters when it is of a
    # higher category (float over integer, anything over bool).
    if higher is None:
        return lower
    if lower is None or higher.is_floating_point:
        return higher
    if higher is bool_ or lower.is_floating_point:
        return promote_types(higher, lower)
    return higher


def result_type(*operands: Any) -> DType:
    """``torch.result_type`` over tensors (dimensioned, 0-d) and Python scalars."""
    dim: DType | None = None
    zero: DType | None = None
    wrapped: DType | None = None
    for x in operands:
        dt = getattr(x, "dtype", None)
        if isinstance(dt, DType):
            if x.ndim:
                dim = dt if dim is None else promote_types(dim, dt)
            else:
                zero = dt if zero is None else promote_types(zero, dt)
        else:
            s = scalar_dtype(x)
            wrapped = s if wrapped is None else promote_types(wrapped, s)
    out = _combine(dim, _combine(zero, wrapped))
    assert out is not None, "result_type needs at least one operand"
    return out


_CPP_LIMIT_NAMES = {"int64": "int64_t", "int32": "int", "float32": "float", "float16": "c10::Half"}


def fits(value: Any, dtype: DType) -> bool:
    """Whether the Python scalar ``value`` converts to ``dtype`` without overflow (torch's
    ``checked_convert``: bool takes anything; inf and nan fit every float; ints must be in range;
    a float becoming an int must be finite and in range)."""
    if dtype is bool_ or isinstance(value, bool | np.bool_):
        return True
    if dtype.is_floating_point:
        f = float(value) if not isinstance(value, int) or abs(value) < 2**1024 else math.inf
        return not math.isfinite(f) or abs(f) <= float(np.finfo(dtype.np).max)
    if isinstance(value, float) and not math.isfinite(value):
        return False
    info = np.iinfo(dtype.np)
    return info.min <= value <= info.max


def overflow_message(dtype: DType) -> str:
    """torch's text for a scalar that does not fit ``dtype``."""
    name = _CPP_LIMIT_NAMES.get(dtype.name, dtype.name)
    return f"value cannot be converted to type {name} without overflow"
