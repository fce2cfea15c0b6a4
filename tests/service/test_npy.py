"""`.npy` upload and download with Accept negotiation (docs/api.md, Arrays on the wire)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from service_testkit import Sess, assert_problem, make_settings, open_session, serve

pytestmark = pytest.mark.anyio

NPY = "application/x-npy"


def npy(arr: np.ndarray[Any, Any]) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    return buf.getvalue()


def load(body: bytes) -> np.ndarray[Any, Any]:
    arr: np.ndarray[Any, Any] = np.load(io.BytesIO(body), allow_pickle=False)
    return arr


async def put(s: Sess, name: str, body: bytes, ctype: str = NPY, **params: Any) -> Any:
    return await s.put(
        f"/tensors/{name}", content=body, headers={"Content-Type": ctype}, params=params or None
    )


async def test_put_creates_201_then_replaces_200(sess: Sess) -> None:
    a = np.arange(12, dtype=np.float32).reshape(3, 4)
    r = await put(sess, "w", npy(a), requires_grad="true")
    assert r.status_code == 201, r.text
    info = r.json()
    assert info["name"] == "w" and info["shape"] == [3, 4] and info["dtype"] == "float32"
    assert info["requires_grad"] is True and info["is_leaf"] is True
    assert await sess.data("w") == a.tolist()
    b = np.array([1.5, -2.5], dtype=np.float64)
    r = await put(sess, "w", npy(b))
    assert r.status_code == 200, r.text
    assert r.json()["shape"] == [2] and r.json()["dtype"] == "float64"
    assert r.json()["requires_grad"] is False
    assert await sess.data("w") == [1.5, -2.5]


@pytest.mark.parametrize(
    "arr",
    [
        np.array([[1, 2], [3, 4]], dtype=np.int64),
        np.array([1, 2], dtype=np.int32),
        np.array([True, False]),
        np.array([0.5, 2.0], dtype=np.float16),
        np.array(4.0, dtype=np.float32),
        np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3)),
        np.arange(4, dtype=">f4"),
    ],
)
async def test_npy_round_trip(sess: Sess, arr: np.ndarray[Any, Any]) -> None:
    r = await put(sess, "t", npy(arr))
    assert r.status_code == 201, r.text
    r = await sess.get("/tensors/t/data", headers={"Accept": NPY})
    assert r.status_code == 200
    assert r.headers["content-type"].startswith(NPY)
    back = load(r.content)
    assert back.shape == arr.shape
    assert back.dtype == arr.dtype.newbyteorder("=")
    np.testing.assert_array_equal(back, arr)


async def test_get_negotiates_json_by_default(sess: Sess) -> None:
    await put(sess, "t", npy(np.array([1.0, 2.0], dtype=np.float32)))
    for headers in ({}, {"Accept": "application/json"}, {"Accept": "*/*"}):
        r = await sess.get("/tensors/t/data", headers=headers)
        assert r.headers["content-type"].startswith("application/json")
        assert r.json() == {"data": [1.0, 2.0], "dtype": "float32"}


async def test_grad_as_npy_and_grad_not_found(sess: Sess) -> None:
    await put(sess, "x", npy(np.array([1.0, 2.0, 3.0], dtype=np.float32)), requires_grad="true")
    r = await sess.get("/tensors/x/grad", headers={"Accept": NPY})
    assert_problem(r, 404, "grad_not_found")
    r = await sess.get("/tensors/x/grad", headers={"Accept": "application/json"})
    assert r.status_code == 200 and r.json() is None
    await sess.run(
        [
            {"name": "sq", "op": "mul", "args": ["x", "x"]},
            {"name": "o", "op": "sum", "args": ["sq"]},
        ]
    )
    assert (await sess.backward("o")).status_code == 200
    r = await sess.get("/tensors/x/grad", headers={"Accept": NPY})
    assert r.status_code == 200 and r.headers["content-type"].startswith(NPY)
    np.testing.assert_array_equal(load(r.content), np.array([2.0, 4.0, 6.0], np.float32))
    r = await sess.get("/tensors/x/grad")
    assert r.json() == {"data": [2.0, 4.0, 6.0], "dtype": "float32"}


@pytest.mark.parametrize("ctype", ["application/json", "application/octet-stream", "text/plain"])
async def test_put_wrong_content_type_is_415(sess: Sess, ctype: str) -> None:
    r = await put(sess, "x", npy(np.zeros(2)), ctype=ctype)
    assert_problem(r, 415, "unsupported_media_type")
    assert_problem(await sess.get("/tensors/x"), 404, "tensor_not_found")


async def test_put_without_content_type_is_415(sess: Sess) -> None:
    r = await sess.client.put(sess.url("/tensors/x"), content=b"", headers=sess.headers)
    assert_problem(r, 415, "unsupported_media_type")


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"not an npy file",
        b"\x93NUMPY\x01\x00garbage",
        npy(np.zeros(4, np.float32))[:-3],
        npy(np.zeros(4, np.float32)) + b"\0\0\0\0",
        npy(np.zeros(2, np.complex64)),
        npy(np.zeros(2, np.uint8)),
        npy(np.array(["a", "b"])),
    ],
)
async def test_put_bad_npy_is_400(sess: Sess, body: bytes) -> None:
    r = await put(sess, "x", body)
    assert_problem(r, 400, "invalid_argument")
    assert_problem(await sess.get("/tensors/x"), 404, "tensor_not_found")


async def test_put_object_npy_is_refused(sess: Sess) -> None:
    buf = io.BytesIO()
    np.save(buf, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    assert_problem(await put(sess, "x", buf.getvalue()), 400, "invalid_argument")


async def test_put_integer_with_requires_grad_is_invalid(sess: Sess) -> None:
    r = await put(sess, "i", npy(np.arange(3)), requires_grad="true")
    assert_problem(r, 400, "invalid_argument")
    assert_problem(await sess.get("/tensors/i"), 404, "tensor_not_found")


async def test_put_invalid_name_is_422(sess: Sess) -> None:
    r = await put(sess, "...", npy(np.zeros(2)))
    assert_problem(r, 422, "validation_error")


async def test_put_header_checked_before_data() -> None:
    """A header announcing 10**12 elements is refused at once (413), whatever follows."""
    async with serve(make_settings(max_tensor_elements=1000)) as c:
        s = await open_session(c)
        text = b"{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000,), }"
        text = text.ljust(128 - 10 - 1) + b"\n"
        header = b"\x93NUMPY\x01\x00" + len(text).to_bytes(2, "little") + text
        r = await put(s, "big", header + b"\0" * 16)
        assert_problem(r, 413, "tensor_too_large")
        r = await put(s, "ok", npy(np.zeros(1000, np.float32)))
        assert r.status_code == 201
        r = await put(s, "nope", npy(np.zeros(1001, np.float32)))
        assert_problem(r, 413, "tensor_too_large")
