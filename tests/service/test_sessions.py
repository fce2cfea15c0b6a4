"""Sessions: create, read, delete, authorization, isolation, TTL (docs/api.md, Sessions)."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from service_testkit import Sess, assert_problem, make_settings, open_session, serve, tutorial

pytestmark = pytest.mark.anyio


def _when(iso: str) -> datetime:
    t = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    assert t.tzinfo is not None and t.utcoffset() == timedelta(0), iso
    return t


def _random_bits(text: str) -> int:
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    return len(raw) * 8


async def test_create_session_defaults(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/sessions")
    assert r.status_code == 201, r.text
    body = r.json()
    assert set(body) >= {"session_id", "token", "backend", "device", "expires_at"}
    assert body["backend"] == "numpy"
    assert body["device"] == "cpu"
    left = _when(body["expires_at"]) - datetime.now(UTC)
    assert timedelta(seconds=3590) < left <= timedelta(seconds=3601)
    assert _random_bits(body["session_id"]) >= 128
    assert _random_bits(body["token"]) >= 128


async def test_create_session_with_backend_ttl_seed(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/sessions", json={"backend": "numpy", "ttl_seconds": 60, "seed": 7})
    assert r.status_code == 201, r.text
    left = _when(r.json()["expires_at"]) - datetime.now(UTC)
    assert timedelta(seconds=55) < left <= timedelta(seconds=61)
    s = Sess(client, r.json())
    info = (await s.get()).json()
    assert info["limits"]["ttl_seconds"] == 60


async def test_ttl_is_capped_by_server_maximum() -> None:
    async with serve(make_settings(max_ttl_seconds=100)) as c:
        r = await c.post("/v1/sessions", json={"ttl_seconds": 10**6})
        assert r.status_code == 201
        left = _when(r.json()["expires_at"]) - datetime.now(UTC)
        assert left <= timedelta(seconds=101)


@pytest.mark.parametrize(
    "body",
    [
        {"backend": "torch"},
        {"ttl_seconds": 0},
        {"ttl_seconds": "soon"},
        {"seed": -1},
        {"unknown": 1},
        [1, 2],
    ],
)
async def test_create_session_bad_body_is_422(client: httpx.AsyncClient, body: object) -> None:
    r = await client.post("/v1/sessions", json=body)
    assert_problem(r, 422, "validation_error")


async def test_cupy_backend_without_device_is_backend_unavailable(
    client: httpx.AsyncClient,
) -> None:
    backends = (await client.get("/v1/backends")).json()["backends"]
    cupy = [b for b in backends if b["name"] == "cupy"]
    r = await client.post("/v1/sessions", json={"backend": "cupy"})
    if cupy and cupy[0]["available"]:
        assert r.status_code == 201
        assert r.json()["backend"] == "cupy"
    else:
        assert_problem(r, 400, "backend_unavailable")


async def test_read_session(sess: Sess) -> None:
    info = (await sess.get()).json()
    assert info["session_id"] == sess.id
    assert info["backend"] == "numpy" and info["device"] == "cpu"
    assert info["tensor_count"] == 0 and info["bytes"] == 0
    limits = info["limits"]
    for key in ("max_tensor_elements", "max_session_bytes", "max_nodes_per_request"):
        assert isinstance(limits[key], int) and limits[key] > 0
    await sess.tensor("x", fill="zeros", shape=[10, 10], dtype="float64")
    await sess.tensor("i", value=[1, 2, 3])
    info = (await sess.get()).json()
    assert info["tensor_count"] == 2
    assert info["bytes"] == 10 * 10 * 8 + 3 * 8


async def test_session_bytes_count_grads_and_saved_values(sess: Sess) -> None:
    await sess.tensor("x", fill="ones", shape=[100], requires_grad=True)
    before = (await sess.get()).json()["bytes"]
    await sess.run(
        [{"name": "y", "op": "exp", "args": ["x"]}, {"name": "s", "op": "sum", "args": ["y"]}]
    )
    mid = (await sess.get()).json()["bytes"]
    assert mid >= before + 400  # y, and exp's saved output is y itself
    await sess.backward("s")
    after = (await sess.get()).json()["bytes"]
    assert after >= mid + 400  # x.grad


async def test_delete_session_frees_everything(fresh_client: httpx.AsyncClient) -> None:
    client = fresh_client
    s = await open_session(client)
    await tutorial(s)
    manager = client.app.state.manager  # type: ignore[attr-defined]
    stored = manager.store.get(s.id)
    assert stored is not None and stored.names
    r = await s.delete()
    assert r.status_code == 204 and r.content == b""
    assert manager.store.get(s.id) is None
    assert stored.names == {}
    assert_problem(await s.get(), 404, "session_not_found")
    assert_problem(await s.get("/tensors/x"), 404, "session_not_found")
    assert_problem(await s.delete(), 404, "session_not_found")
    metrics = (await client.get("/metrics")).text
    assert "gradserve_sessions_live 0.0" in metrics
    assert "gradserve_session_bytes 0.0" in metrics


async def test_missing_token_is_401(sess: Sess, client: httpx.AsyncClient) -> None:
    r = await client.get(sess.url())
    assert_problem(r, 401, "unauthorized")
    assert r.headers.get("www-authenticate", "").lower().startswith("bearer")
    r = await client.post(sess.url("/graph"), json={"nodes": []})
    assert_problem(r, 401, "unauthorized")
    r = await client.get(sess.url(), headers={"Authorization": f"Basic {sess.token}"})
    assert_problem(r, 401, "unauthorized")


async def test_wrong_token_or_unknown_session_is_404(client: httpx.AsyncClient) -> None:
    a = await open_session(client)
    b = await open_session(client)
    await a.tensor("x", value=[1.0])
    # b's token never opens a, and a's id with a wrong token looks like no session at all
    r = await client.get(a.url("/tensors/x"), headers=b.headers)
    body = assert_problem(r, 404, "session_not_found")
    r2 = await client.get("/v1/sessions/nope/tensors/x", headers=b.headers)
    body2 = assert_problem(r2, 404, "session_not_found")
    assert body["title"] == body2["title"]
    r = await client.get(a.url(), headers={"Authorization": "Bearer wrong"})
    assert_problem(r, 404, "session_not_found")
    r = await client.delete(a.url(), headers=b.headers)
    assert_problem(r, 404, "session_not_found")
    assert (await a.get()).status_code == 200


async def test_names_are_per_session(client: httpx.AsyncClient) -> None:
    a = await open_session(client)
    b = await open_session(client)
    await a.tensor("x", value=[1.0, 2.0])
    await b.tensor("x", value=[5.0])
    assert await a.data("x") == [1.0, 2.0]
    assert await b.data("x") == [5.0]
    await b.tensor("only_b", value=1.0)
    assert_problem(await a.get("/tensors/only_b"), 404, "tensor_not_found")
    r = await a.graph([{"op": "neg", "args": ["only_b"]}])
    assert_problem(r, 400, "unknown_name")


async def test_each_call_renews_expires_at(client: httpx.AsyncClient) -> None:
    s = await open_session(client, ttl_seconds=30)
    first = _when(s.created["expires_at"])
    await asyncio.sleep(0.05)
    await s.tensor("x", value=[1.0])
    await asyncio.sleep(0.05)
    second = _when((await s.get()).json()["expires_at"])
    assert second > first + timedelta(seconds=0.05)
    stored = client.app.state.manager.store.get(s.id)  # type: ignore[attr-defined]
    await asyncio.sleep(0.05)
    before = stored.expires_at
    await s.get("/tensors")
    assert stored.expires_at > before


async def test_expired_session_is_gone_and_swept(client: httpx.AsyncClient) -> None:
    s = await open_session(client, ttl_seconds=1)
    keep = await open_session(client, ttl_seconds=60)
    await s.tensor("x", fill="ones", shape=[1000])
    manager = client.app.state.manager  # type: ignore[attr-defined]
    stored = manager.store.get(s.id)
    await asyncio.sleep(1.4)
    # the sweeper (every 0.1 s) freed it without any request touching it
    assert manager.store.get(s.id) is None
    assert stored.names == {}
    assert_problem(await s.get(), 404, "session_not_found")
    assert (await keep.get()).status_code == 200


async def test_renewal_keeps_a_session_alive(client: httpx.AsyncClient) -> None:
    s = await open_session(client, ttl_seconds=1)
    for _ in range(4):
        await asyncio.sleep(0.4)
        assert (await s.get()).status_code == 200


async def test_sweeper_never_clears_a_session_mid_request(client: httpx.AsyncClient) -> None:
    s = await open_session(client, ttl_seconds=1)
    await s.tensor("x", value=[1.0])
    stored = client.app.state.manager.store.get(s.id)  # type: ignore[attr-defined]
    async with stored.lock:  # what a running request holds
        await asyncio.sleep(1.3)
        assert stored.names, "cleared under a running request"
    await asyncio.sleep(0.3)
    assert client.app.state.manager.store.get(s.id) is None  # type: ignore[attr-defined]
    assert stored.names == {}
    assert_problem(await s.get(), 404, "session_not_found")
