"""TensorData <-> arrays, in the json, b64 and ``.npy`` forms (docs/api.md).

No per-element Python on the hot path: JSON lists go to ``asarray`` in one call and
arrays go out through orjson's NumPy serializer. Only float16 and arrays holding
nan/inf take a slower exact path (shortest decimals per element, non-finite strings).
"""

from __future__ import annotations

import binascii
import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
import orjson
from numpy.lib import format as npy_format

from engine import dtypes as D
from engine.shapes import numel

from .errors import ApiError

__all__ = [
    "check_numel",
    "decode_npy",
    "decode_tensor_data",
    "dumps",
    "encode_npy",
    "encode_tensor_data",
]

NPY_MEDIA_TYPE = "application/x-npy"


def dumps(obj: Any) -> bytes:
    """Response JSON: orjson with NumPy arrays serialized natively."""
    return orjson.dumps(obj, option=orjson.OPT_SERIALIZE_NUMPY)


def _bad(detail: str) -> ApiError:
    return ApiError(400, "invalid_argument", detail)


def _too_large(n: int, limit: int) -> ApiError:
    return ApiError(
        413, "tensor_too_large", f"a tensor of {n} elements is above the limit of {limit}"
    )


def _overflow() -> ApiError:
    # torch.tensor([2**63]) raises ValueError("Overflow when unpacking long long"): never wrap
    return ApiError(400, "overflow", "Overflow when unpacking long long")


def _only_numbers(arr: np.ndarray[Any, Any]) -> bool:
    """An object array of Python numbers only (ints too large for any NumPy integer)."""
    return all(type(v) in (int, float, bool) for v in arr.flat)


def check_numel(shape: Sequence[int], limit: int) -> int:
    """The elements of ``shape``; 413 above ``limit``. A zero dim does not excuse the others:
    NumPy still indexes them, and ``[0, 10**10, 10**10]`` overflows it."""
    n = numel(shape)
    if n > limit:
        raise _too_large(n, limit)
    if n == 0 and math.prod(max(d, 1) for d in shape) > limit:
        raise ApiError(
            413,
            "tensor_too_large",
            f"shape {list(shape)} has dimensions above the limit of {limit}",
        )
    return n


def _dtype(name: Any) -> D.DType | None:
    if name is None:
        return None
    try:
        return D.as_dtype(name)
    except Exception:
        raise _bad(f"unsupported dtype {name!r}") from None


def decode_tensor_data(value: Any, max_elements: int, dtype: Any = None) -> np.ndarray[Any, Any]:
    """A host array from TensorData (model or plain JSON), within ``max_elements``."""
    if hasattr(value, "model_fields_set"):  # a TensorJSON/TensorB64 model: no deep copy
        value = {
            k: getattr(value, k) for k in type(value).model_fields if getattr(value, k) is not None
        }
    if isinstance(value, dict):
        if "b64" in value:
            return _from_b64(value, max_elements)
        if "data" not in value:
            raise _bad("TensorData needs 'data' (or 'b64', 'dtype' and 'shape')")
        extra = set(value) - {"data", "dtype"}
        if extra:
            raise _bad(f"unexpected keys in TensorData: {sorted(extra)}")
        dtype = value.get("dtype") or dtype
        value = value["data"]
    return _from_json(value, _dtype(dtype), max_elements)


def _from_json(data: Any, dt: D.DType | None, max_elements: int) -> np.ndarray[Any, Any]:
    if isinstance(data, dict) or data is None:
        raise _bad("tensor data must be nested lists of numbers, or a number")
    try:
        arr = np.asarray(data) if dt is None else np.asarray(data, dtype=dt.np)
    except OverflowError:  # an integer literal beyond the integer dtype asked for
        raise _overflow() from None
    except (ValueError, TypeError) as exc:
        raise _bad(f"tensor data is not a regular array of numbers: {exc}") from None
    kind = arr.dtype.kind
    beyond_int64 = kind == "u" or (kind == "O" and _only_numbers(arr))
    if beyond_int64 and (dt is None or not dt.is_floating_point):
        raise _overflow()
    if kind in "US":  # "nan"/"inf" strings (and numbers mixed with them)
        try:
            arr = arr.astype(np.float64 if dt is None else dt.np)
        except ValueError as exc:
            raise _bad(f"tensor data has a string that is not nan/inf/-inf: {exc}") from None
        kind = "f"
    if kind == "O":
        raise _bad("tensor data is ragged or holds values that are not numbers")
    if arr.size > max_elements:
        raise _too_large(arr.size, max_elements)
    if dt is None:
        dt = D.default_float() if kind == "f" else (D.bool_ if kind == "b" else D.int64)
        if kind not in "fbiu":
            raise _bad(f"unsupported element type {arr.dtype}")
    return arr.astype(dt.np, copy=False)


def _from_b64(value: dict[str, Any], max_elements: int) -> np.ndarray[Any, Any]:
    dt = _dtype(value.get("dtype"))
    shape = value.get("shape")
    if (
        dt is None
        or not isinstance(shape, list)
        or not all(isinstance(s, int) and not isinstance(s, bool) and s >= 0 for s in shape)
    ):
        raise _bad("b64 TensorData needs 'dtype' and 'shape' (a list of non-negative ints)")
    n = check_numel(shape, max_elements)
    text = value.get("b64")
    if not isinstance(text, str):
        raise _bad("'b64' must be a base64 string")
    expected = n * dt.itemsize
    if len(text) > 4 * ((expected + 2) // 3) + 4:
        raise _bad(f"b64 payload is longer than {expected} bytes of shape {shape}")
    try:
        # strict_mode: only the alphabet and trailing padding, as validate=True, but in C
        # (validate=True runs a regex over the whole text first: twice the time)
        raw = binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        raise _bad("'b64' is not valid base64") from None
    if len(raw) != expected:
        raise _bad(f"b64 payload has {len(raw)} bytes; shape {shape} of {dt.name} needs {expected}")
    return np.frombuffer(raw, dtype=dt.np.newbyteorder("<")).astype(dt.np).reshape(shape)


def _exact(arr: np.ndarray[Any, Any]) -> Any:
    """Nested lists with each float as its shortest decimal in its own dtype; nan/inf as strings."""
    flat = arr.reshape(-1)
    out: list[Any] = []
    for v in flat.tolist() if arr.dtype != np.float16 else flat:
        f = float(v)
        if f != f:
            out.append("nan")
        elif f in (float("inf"), float("-inf")):
            out.append("inf" if f > 0 else "-inf")
        else:
            out.append(float(str(v)) if arr.dtype == np.float16 else f)
    if arr.dtype == np.float32:  # tolist widened to float64: print float32's shortest form
        out = [float(str(np.float32(x))) if isinstance(x, float) else x for x in out]
    if arr.ndim == 0:
        return out[0]
    return np.array(out, dtype=object).reshape(arr.shape).tolist()


def json_value(arr: Any) -> Any:
    """The ``data`` of the json form: an array orjson writes directly, or exact lists."""
    host = np.asarray(arr)
    if host.dtype.kind == "f" and (host.dtype == np.float16 or not np.isfinite(host).all()):
        return _exact(host)
    if host.ndim == 0:
        return host[()]
    return np.ascontiguousarray(host)


def encode_tensor_data(arr: Any, dtype: D.DType, encoding: str) -> dict[str, Any]:
    """TensorData in the chosen form, for a response."""
    host = np.asarray(arr)
    if encoding == "b64":
        # the array's own bytes (no tobytes() copy) straight into the C encoder
        little = np.ascontiguousarray(host, dtype=dtype.np.newbyteorder("<"))
        raw = little.reshape(-1).view(np.uint8).data
        return {
            "b64": binascii.b2a_base64(raw, newline=False).decode("ascii"),
            "dtype": dtype.name,
            "shape": list(host.shape),
        }
    return {"data": json_value(host), "dtype": dtype.name}


def encode_npy(arr: Any) -> bytes:
    """The ``.npy`` file of an array."""
    buf = io.BytesIO()
    np.save(buf, np.asarray(arr), allow_pickle=False)
    return buf.getvalue()


def decode_npy(body: bytes, max_elements: int) -> np.ndarray[Any, Any]:
    """An array from ``.npy`` bytes; the header is checked before the data is touched."""
    f = io.BytesIO(body)
    try:
        version = npy_format.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = npy_format.read_array_header_1_0(f)
        elif version in ((2, 0), (3, 0)):
            shape, fortran, dtype = npy_format.read_array_header_2_0(f)
        else:
            raise ValueError(f"unsupported .npy version {version}")
    except ValueError as exc:
        raise ApiError(400, "invalid_argument", f"not a valid .npy file: {exc}") from None
    if dtype.hasobject:
        raise _bad(".npy files with Python objects are refused")
    dt = _dtype(dtype.newbyteorder("=") if dtype.byteorder not in "=|" else dtype)
    assert dt is not None
    n = check_numel(shape, max_elements)
    offset = f.tell()
    if len(body) - offset != n * dtype.itemsize:
        raise _bad(
            f".npy data has {len(body) - offset} bytes; the header says {n * dtype.itemsize}"
        )
    arr = np.frombuffer(body, dtype=dtype, count=n, offset=offset)
    arr = arr.reshape(shape, order="F" if fortran else "C")
    # asarray, not ascontiguousarray: that one turns a 0-d array into shape (1,)
    return np.asarray(arr, dtype=dt.np, order="C")
