"""TensorData (json and b64 forms), TensorInfo and the tensor requests."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DTypeName",
    "Encoding",
    "NAME_PATTERN",
    "TensorB64",
    "TensorCreate",
    "TensorData",
    "TensorInfo",
    "TensorJSON",
    "TensorList",
    "TensorPatch",
    "ZeroGradRequest",
]

DTypeName = Literal["float16", "float32", "float64", "int32", "int64", "bool"]
Encoding = Literal["json", "b64"]
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_.-]{0,127}$"
Name = Annotated[str, Field(pattern=NAME_PATTERN, examples=["x"])]


class TensorJSON(BaseModel):
    """A tensor value as nested lists (or a bare number for 0-d)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"data": [[1, 2], [3, 4]], "dtype": "float32"}]},
    )

    data: Any = Field(
        description='Nested lists of numbers, or a number; non-finite values as "nan", "inf", '
        '"-inf".'
    )
    dtype: DTypeName | None = Field(
        None, description="Omitted: PyTorch's inference (floats float32, ints int64, bools bool)."
    )


class TensorB64(BaseModel):
    """A tensor value as base64 of little-endian, C-order raw bytes."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"b64": "AACAPwAAAEA=", "dtype": "float32", "shape": [2]}]},
    )

    b64: str
    dtype: DTypeName
    shape: list[Annotated[int, Field(ge=0)]]


TensorData = Annotated[
    TensorJSON | TensorB64 | list[Any] | float | int | bool | Literal["nan", "inf", "-inf"],
    Field(
        description="A tensor value: {data, dtype}, {b64, dtype, shape}, or a bare nested list "
        "or number (the default dtype).",
        examples=[[[1.0, 2.0], [3.0, 4.0]]],
    ),
]


class TensorInfo(BaseModel):
    """What the server reports about a bound tensor."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "y",
                    "shape": [2, 2],
                    "dtype": "float32",
                    "requires_grad": True,
                    "is_leaf": False,
                    "grad_fn": "AddBackward0",
                    "data": {"data": [[3.0, 3.0], [3.0, 3.0]], "dtype": "float32"},
                    "grad": None,
                }
            ]
        }
    )

    name: str
    shape: list[int]
    dtype: DTypeName
    requires_grad: bool
    is_leaf: bool
    grad_fn: str | None = Field(description="PyTorch's grad_fn class name; null for leaves.")
    version: int = Field(0, description="The in-place version counter (torch's _version).")
    data: TensorJSON | TensorB64 | None = Field(None, description="Present when asked for.")
    grad: TensorJSON | TensorB64 | None = Field(None, description="null when there is none.")


class TensorList(BaseModel):
    tensors: list[TensorInfo]


FillKind = Literal["zeros", "ones", "full", "randn", "rand", "arange", "eye"]


class TensorCreate(BaseModel):
    """A new leaf, from exactly one source: ``value`` or ``fill``."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"name": "x", "fill": "ones", "shape": [2, 2], "requires_grad": True},
                {"name": "w", "value": {"data": [1.0, -2.0]}, "requires_grad": True},
            ]
        },
    )

    name: Name | None = Field(None, description="Omitted: the server picks one.")
    requires_grad: bool = False
    dtype: DTypeName | None = None
    value: TensorData | None = None
    fill: FillKind | None = None
    shape: list[Annotated[int, Field(ge=0)]] | None = None
    fill_value: float | int | bool | None = None
    start: float | int | None = None
    end: float | int | None = None
    step: float | int | None = None
    seed: Annotated[int, Field(ge=0, le=2**64 - 1)] | None = Field(
        None,
        description="`torch.manual_seed(seed)` first: the session's generator starts over "
        "from this seed (it draws `randn` and `rand`).",
    )


class TensorPatch(BaseModel):
    """``requires_grad_()``, with PyTorch's leaf rules."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"requires_grad": True}]}
    )

    requires_grad: bool


class ZeroGradRequest(BaseModel):
    """Set ``.grad`` to none (``set_to_none=True``) for these names, or all when omitted."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"names": ["x"]}]})

    names: list[str] | None = None
