"""``.npy`` bodies over real HTTP: PUT a leaf, read values and ``.grad`` back bit for bit."""

from __future__ import annotations

import base64
import io
from typing import Any

import numpy as np
import pytest
from e2e_http import Session, assert_problem

NPY = "application/x-npy"
Array = np.ndarray[Any, Any]


def npy_bytes(arr: Array) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def put(sess: Session, name: str, arr: Array, requires_grad: bool, status: int) -> dict[str, Any]:
    r = sess.request(
        "PUT",
        f"/tensors/{name}",
        content=npy_bytes(arr),
        params={"requires_grad": str(requires_grad).lower()},
        headers={"Content-Type": NPY},
    )
    assert r.status_code == status, r.text
    info: dict[str, Any] = r.json()
    return info


def get_npy(sess: Session, path: str) -> Array:
    r = sess.request("GET", path, headers={"Accept": NPY})
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == NPY
    arr: Array = np.load(io.BytesIO(r.content), allow_pickle=False)
    return arr


def assert_same_bits(got: Array, want: Array) -> None:
    assert got.dtype == want.dtype and got.shape == want.shape, (got.dtype, got.shape)
    assert got.tobytes() == want.tobytes()


def json_value(sess: Session, path: str, dtype: np.dtype[Any]) -> Array:
    body = sess.ok("GET", path)
    assert body["dtype"] == dtype.name
    data = body["data"]
    if dtype.kind == "f":  # non-finite values travel as strings
        return np.array(data, dtype=object).astype(dtype)
    return np.asarray(data, dtype=dtype)


def b64_value(sess: Session, path: str, dtype: np.dtype[Any], shape: tuple[int, ...]) -> Array:
    body = sess.ok("GET", path, params={"encoding": "b64"})
    assert body["dtype"] == dtype.name and tuple(body["shape"]) == shape
    raw = base64.b64decode(body["b64"])
    return np.frombuffer(raw, dtype=dtype.newbyteorder("<")).astype(dtype).reshape(shape)


rng = np.random.default_rng(1234)
SPECIAL = [np.nan, np.inf, -np.inf, -0.0, 0.0, 5e-324, 1e308, -1.5]
ARRAYS = {
    "float64": np.concatenate([rng.standard_normal(16), SPECIAL]).reshape(4, 6),
    "float32": np.concatenate([rng.standard_normal(13), SPECIAL[:5], [1e-45, 3.4e38]])
    .astype(np.float32)
    .reshape(2, 2, 5),
    "int64": np.array([[0, -1, 2**62, -(2**63)], [7, 8, 9, 2**63 - 1]], dtype=np.int64),
    "bool": np.array([True, False, False, True, True]),
}


@pytest.mark.parametrize("dtype", list(ARRAYS))
def test_npy_round_trip(sess: Session, dtype: str) -> None:
    arr = ARRAYS[dtype]
    floating = arr.dtype.kind == "f"
    info = put(sess, "t", arr, requires_grad=floating, status=201)
    assert info["shape"] == list(arr.shape) and info["dtype"] == dtype
    assert (info["requires_grad"], info["is_leaf"], info["grad_fn"]) == (floating, True, None)

    assert_same_bits(get_npy(sess, "/tensors/t/data"), arr)
    assert_same_bits(b64_value(sess, "/tensors/t/data", arr.dtype, arr.shape), arr)
    np.testing.assert_array_equal(json_value(sess, "/tensors/t/data", arr.dtype), arr)
    if floating:  # the json form keeps the sign of zero and every bit of the finite values
        got = json_value(sess, "/tensors/t/data", arr.dtype)
        finite = np.isfinite(arr)
        assert got[finite].tobytes() == arr[finite].tobytes()

    # PUT again replaces (200); integers and bools never require grad
    replaced = put(sess, "t", arr[..., :1].copy(), requires_grad=False, status=200)
    assert replaced["shape"] == [*arr.shape[:-1], 1] and replaced["requires_grad"] is False
    if not floating:
        r = sess.request(
            "PUT",
            "/tensors/t",
            content=npy_bytes(arr),
            params={"requires_grad": "true"},
            headers={"Content-Type": NPY},
        )
        assert_problem(r, 400, "invalid_argument")


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_npy_grad_after_backward(sess: Session, dtype: str) -> None:
    arr = rng.standard_normal((3, 5)).astype(dtype)
    put(sess, "x", arr, requires_grad=True, status=201)
    assert_problem(
        sess.request("GET", "/tensors/x/grad", headers={"Accept": NPY}), 404, "grad_not_found"
    )
    assert sess.ok("GET", "/tensors/x/grad") is None
    out = sess.run(
        [
            {"name": "sq", "op": "mul", "args": ["x", "x"]},
            {"name": "out", "op": "sum", "args": ["sq"]},
        ]
    )["out"]
    assert (out["dtype"], out["grad_fn"]) == (dtype, "SumBackward0")
    r = sess.backward("out", encoding="b64")
    assert r.status_code == 200, r.text
    grad = get_npy(sess, "/tensors/x/grad")
    assert_same_bits(grad, 2 * arr)  # g*x + g*x with g = 1 is exact
    assert_same_bits(b64_value(sess, "/tensors/x/grad", arr.dtype, arr.shape), 2 * arr)
    b64 = r.json()["grads"]["x"]
    assert base64.b64decode(b64["b64"]) == (2 * arr).astype(arr.dtype.newbyteorder("<")).tobytes()


def test_npy_byte_order_and_layout(sess: Session) -> None:
    """A big-endian or Fortran-order file means the same values."""
    arr = np.arange(12, dtype=np.float64).reshape(3, 4) / 7
    put(sess, "be", arr.astype(">f8"), requires_grad=False, status=201)
    put(sess, "fo", np.asfortranarray(arr), requires_grad=False, status=201)
    assert_same_bits(get_npy(sess, "/tensors/be/data"), arr)
    assert_same_bits(get_npy(sess, "/tensors/fo/data"), arr)


def test_npy_zero_d_and_empty(sess: Session) -> None:
    scalar = np.array(2.5, dtype=np.float32)
    empty = np.zeros((0, 3), dtype=np.float64)
    put(sess, "s", scalar, requires_grad=True, status=201)
    put(sess, "e", empty, requires_grad=False, status=201)
    assert_same_bits(get_npy(sess, "/tensors/s/data"), scalar)
    assert_same_bits(get_npy(sess, "/tensors/e/data"), empty)
    assert sess.ok("GET", "/tensors/s/data") == {"data": 2.5, "dtype": "float32"}
    assert sess.ok("GET", "/tensors/e/data") == {"data": [], "dtype": "float64"}


def test_npy_refuses_bad_files(sess: Session) -> None:
    good = npy_bytes(np.ones(4))
    headers = {"Content-Type": NPY}
    for body in (good[:-8], good + b"\0" * 8, b"\x93NUMPY\x09\x00garbage", b""):
        r = sess.request("PUT", "/tensors/bad", content=body, headers=headers)
        assert_problem(r, 400, "invalid_argument")
    # complex numbers and Python objects are not tensors here
    for arr in (np.ones(2, dtype=np.complex64), np.array(["a", "b"])):
        r = sess.request("PUT", "/tensors/bad", content=npy_bytes(arr), headers=headers)
        assert_problem(r, 400, "invalid_argument")
    assert sess.ok("GET", "/tensors") == {"tensors": []}


def _npy_header(descr: str, shape: tuple[int, ...]) -> bytes:
    """A .npy version 1.0 header and nothing after it."""
    header = f"{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}"
    header = header.ljust(118) + "\n"
    return b"\x93NUMPY\x01\x00" + len(header).to_bytes(2, "little") + header.encode()


@pytest.mark.parametrize("shape", [(10**6, 10**6), (10**12,), (0, 10**10, 10**10)])
def test_npy_header_too_large_is_refused_at_once(sess: Session, shape: tuple[int, ...]) -> None:
    r = sess.request(
        "PUT", "/tensors/big", content=_npy_header("<f8", shape), headers={"Content-Type": NPY}
    )
    assert_problem(r, 413, "tensor_too_large")
