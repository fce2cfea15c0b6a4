"""Every error of docs/api.md (Errors) is application/problem+json with its stable code."""

from __future__ import annotations

import httpx
import pytest
from service_testkit import Sess, assert_problem, make_settings, open_session, serve, tutorial

pytestmark = pytest.mark.anyio


async def test_routing_errors_are_problems(client: httpx.AsyncClient, sess: Sess) -> None:
    body = assert_problem(await client.get("/no/such/route"), 404, "not_found")
    assert body["type"].endswith("not_found")
    r = await client.delete("/v1/ops")
    assert_problem(r, 405, "method_not_allowed")
    assert "GET" in r.headers.get("allow", "")
    r = await client.put("/v1/sessions", json={})
    assert_problem(r, 405, "method_not_allowed")
    assert_problem(await sess.get("/tensors/x/y/z"), 404, "not_found")


async def test_validation_errors_are_problems(sess: Sess) -> None:
    body = assert_problem(await sess.post("/graph", {"nodes": "nope"}), 422, "validation_error")
    assert "nodes" in body["detail"]
    assert isinstance(body.get("errors"), list) and body["errors"]
    assert_problem(await sess.post("/graph", {"nodes": [{"args": []}]}), 422, "validation_error")
    assert_problem(
        await sess.post("/tensors", {"fill": "ones", "shape": "2x2"}), 422, "validation_error"
    )
    assert_problem(await sess.post("/graph", [1, 2, 3]), 422, "validation_error")


@pytest.mark.parametrize(
    "raw", [b"{", b"not json", b'{"nodes": [}', b"\xff\xfe", b'{"nodes": NaN}', b""]
)
async def test_unparsable_json_is_a_problem(sess: Sess, raw: bytes) -> None:
    r = await sess.client.post(
        sess.url("/graph"),
        content=raw,
        headers={**sess.headers, "Content-Type": "application/json"},
    )
    assert r.status_code in (400, 422), r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    body = r.json()
    assert body["code"] in ("validation_error", "invalid_argument")
    assert body["status"] == r.status_code


async def test_unparsable_json_on_every_json_endpoint(
    client: httpx.AsyncClient, sess: Sess
) -> None:
    headers = {**sess.headers, "Content-Type": "application/json"}
    for path in ("/tensors", "/graph", "/backward", "/grad", "/zero_grad"):
        r = await client.post(sess.url(path), content=b"{oops", headers=headers)
        assert r.status_code == 422, (path, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    r = await client.patch(sess.url("/tensors/x"), content=b"{oops", headers=headers)
    assert r.status_code == 422
    for path in ("/v1/sessions", "/v1/grad"):
        r = await client.post(path, content=b"{oops", headers={"Content-Type": "application/json"})
        assert r.status_code == 422, (path, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")


async def test_each_code(client: httpx.AsyncClient) -> None:
    s = await open_session(client)
    await tutorial(s)
    await s.tensor("i", value=[1, 2])
    # 400
    assert_problem(
        await s.post("/tensors", {"value": [1], "requires_grad": True}), 400, "invalid_argument"
    )
    assert_problem(
        await s.graph([{"op": "add", "args": ["x", {"value": [1.0, 2.0, 3.0]}]}]),
        400,
        "shape_mismatch",
    )
    assert_problem(await s.graph([{"op": "where", "args": ["x", "x", "y"]}]), 400, "dtype_mismatch")
    assert_problem(await s.graph([{"op": "nope", "args": ["x"]}]), 400, "unknown_op")
    assert_problem(await s.graph([{"op": "neg", "args": ["ghost"]}]), 400, "unknown_name")
    assert_problem(await s.patch("/tensors/y", {"requires_grad": False}), 400, "not_leaf")
    assert_problem(await s.graph([{"op": "add_", "args": ["x", 1]}]), 400, "leaf_inplace")
    assert_problem(await s.backward("y"), 400, "grad_requires_scalar")
    assert_problem(await s.backward("i"), 400, "does_not_require_grad")
    # 401, 404
    assert_problem(await client.get(s.url()), 401, "unauthorized")
    assert_problem(
        await client.get(s.url(), headers={"Authorization": "Bearer x"}), 404, "session_not_found"
    )
    assert_problem(await s.get("/tensors/ghost"), 404, "tensor_not_found")
    assert_problem(
        await s.get("/tensors/x/grad", headers={"Accept": "application/x-npy"}),
        404,
        "grad_not_found",
    )
    # 409
    await s.backward("out")
    assert_problem(await s.backward("out"), 409, "graph_freed")
    await s.run(
        [
            {"name": "e", "op": "exp", "args": ["x"]},
            {"name": "es", "op": "sum", "args": ["e"]},
            {"op": "mul_", "args": ["e", 2]},
        ]
    )
    assert_problem(await s.backward("es"), 409, "modified_inplace")
    # 415
    r = await s.put("/tensors/n", content=b"{}", headers={"Content-Type": "application/json"})
    assert_problem(r, 415, "unsupported_media_type")
    # 422
    assert_problem(await s.post("/backward", {"tensor": 3}), 422, "validation_error")


async def test_dtype_mismatch(sess: Sess) -> None:
    await sess.tensor("logits", value=[[1.0, 2.0], [0.5, 0.1]], requires_grad=True)
    await sess.tensor("h", value=[1.0, 2.0], dtype="float16")
    await sess.tensor("d", value=[1.0, 2.0], dtype="float64")
    await sess.tensor("f", value=[1.0, 0.0])
    nodes = [
        {"op": "matmul", "args": ["h", "d"]},
        {"op": "where", "args": ["f", "h", "d"]},
        {"op": "cross_entropy", "args": ["logits", {"value": {"data": [0, 1], "dtype": "int32"}}]},
    ]
    for node in nodes:
        body = assert_problem(
            await sess.graph([{"op": "neg", "args": ["h"]}, node]), 400, "dtype_mismatch"
        )
        assert body["node"] == 1


async def test_quota_limits_codes() -> None:
    settings = make_settings(
        max_sessions=1,
        max_tensor_elements=10,
        max_nodes_per_request=2,
        max_body_bytes=2000,
        max_session_bytes=100,
    )
    async with serve(settings) as c:
        s = await open_session(c)
        assert_problem(await c.post("/v1/sessions"), 429, "too_many_sessions")
        assert_problem(
            await s.post("/tensors", {"fill": "zeros", "shape": [11]}), 413, "tensor_too_large"
        )
        assert_problem(await s.graph([{"op": "neg", "args": [1]}] * 3), 413, "graph_too_large")
        assert_problem(await s.post("/tensors", {"value": [0.0] * 1000}), 413, "payload_too_large")
        await s.tensor("a", fill="zeros", shape=[10])
        await s.tensor("b", fill="zeros", shape=[10])
        r = await s.post(
            "/tensors", {"name": "c", "fill": "zeros", "shape": [10], "dtype": "float64"}
        )
        assert_problem(r, 507, "session_quota_exceeded")


async def test_api_keys_from_settings(client: httpx.AsyncClient) -> None:
    async with serve(make_settings(api_keys=["k1", "k2"])) as c:
        assert_problem(await c.post("/v1/sessions"), 401, "unauthorized")
        assert_problem(
            await c.post("/v1/sessions", headers={"X-API-Key": "bad"}), 401, "unauthorized"
        )
        r = await c.post("/v1/sessions", headers={"X-API-Key": "k2"})
        assert r.status_code == 201
        s = Sess(c, r.json())
        # session calls use the bearer token, not the API key
        assert (await s.get()).status_code == 200
        grad = {"inputs": {"x": [1.0]}, "output": "x", "wrt": ["x"]}
        assert_problem(await c.post("/v1/grad", json=grad), 401, "unauthorized")
        assert_problem(
            await c.post("/v1/grad", json=grad, headers={"X-API-Key": "k"}), 401, "unauthorized"
        )
        r = await c.post("/v1/grad", json=grad, headers={"X-API-Key": "k1"})
        assert r.status_code == 200, r.text
        # the operations endpoints stay open
        assert (await c.get("/healthz")).status_code == 200
        assert (await c.get("/v1/ops")).status_code == 200
    # without keys configured, no key is needed
    assert (await client.post("/v1/sessions")).status_code == 201


async def test_api_keys_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GRADSERVE_API_KEYS", "alpha, beta")
    async with serve(make_settings()) as c:
        assert_problem(await c.post("/v1/sessions"), 401, "unauthorized")
        assert (await c.post("/v1/sessions", headers={"X-API-Key": "beta"})).status_code == 201
        assert (await c.post("/v1/sessions", headers={"X-API-Key": "alpha"})).status_code == 201
        assert_problem(
            await c.post("/v1/sessions", headers={"X-API-Key": "alpha, beta"}), 401, "unauthorized"
        )
    monkeypatch.setenv("GRADSERVE_API_KEYS", '["gamma"]')
    async with serve(make_settings()) as c:
        assert (await c.post("/v1/sessions", headers={"X-API-Key": "gamma"})).status_code == 201


async def test_internal_errors_hide_the_traceback(fresh_client: httpx.AsyncClient) -> None:
    """An unexpected exception is a 500 problem with a request id and no traceback."""
    from fastapi import APIRouter

    router = APIRouter()

    @router.get("/boom")
    async def boom() -> None:
        raise RuntimeError("secret internals")

    app = fresh_client.app  # type: ignore[attr-defined]
    app.include_router(router)
    # the server answers, then re-raises to its host: do not let the transport raise it here
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        r = await c.get("/boom", headers={"X-Request-ID": "rid-500"})
    body = assert_problem(r, 500, "internal_error")
    assert "secret" not in r.text and "Traceback" not in r.text
    assert "rid-500" in body["detail"]
