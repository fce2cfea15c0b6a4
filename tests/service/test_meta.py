"""Ops, backends, health, metrics, request ids, OpenAPI and docs (docs/api.md)."""

from __future__ import annotations

import re

import httpx
import pytest
from service_testkit import Sess, assert_problem, open_session, tutorial

import engine
from engine.ops import wire_ops

pytestmark = pytest.mark.anyio

# the wire's op set: every wire name of the engine's op table (in-place forms and grad_of too)
API_OPS = sorted(wire_ops())
NEVER_DIFFERENTIABLE = {"eq", "ne", "lt", "le", "gt", "ge", "argmax", "argmin"}


async def test_ops_lists_every_op(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/ops")
    assert r.status_code == 200
    ops = {o["name"]: o for o in r.json()["ops"]}
    assert set(API_OPS) <= set(ops)
    for o in ops.values():
        assert set(o) >= {"name", "arity", "kwargs", "dtypes", "differentiable", "grad_fns"}
        assert isinstance(o["grad_fns"], list) and isinstance(o["kwargs"], dict)
    for name in NEVER_DIFFERENTIABLE:
        assert ops[name]["differentiable"] is False and ops[name]["grad_fns"] == []
    assert ops["add"]["grad_fns"] == ["AddBackward0"]
    assert {"SumBackward0", "SumBackward1"} <= set(ops["sum"]["grad_fns"])
    assert {"MaxBackward0", "MaxBackward1"} <= set(ops["max"]["grad_fns"])
    assert {"PowBackward0", "PowBackward1"} <= set(ops["pow"]["grad_fns"])
    assert {"MmBackward0", "MvBackward0"} <= set(ops["matmul"]["grad_fns"])
    assert "NllLossBackward0" in ops["cross_entropy"]["grad_fns"]
    assert ops["norm"]["grad_fns"] == ["LinalgVectorNormBackward0"]
    assert "dim" in ops["sum"]["kwargs"] and "keepdim" in ops["sum"]["kwargs"]
    assert ops["cat"]["arity"] is None
    assert ops["where"]["arity"] == 3


async def test_ops_carry_docs_signatures_and_the_table_version(client: httpx.AsyncClient) -> None:
    body = (await client.get("/v1/ops")).json()
    assert body["version"] == engine.table_version()
    assert len(body["version"]) == 16
    ops = {o["name"]: o for o in body["ops"]}
    assert len(ops) == len(body["ops"])
    for name, o in ops.items():
        assert o["doc"].strip() and "\n" not in o["doc"], name
        assert o["signature"] and isinstance(o["variants"], list), name
    assert ops["add"]["signature"] == "input, other, *, alpha=1"
    assert {"function", "method", "inplace", "__add__"} <= set(ops["add"]["variants"])
    assert ops["add_"]["in_place"] is True and ops["add"]["in_place"] is False
    assert ops["reshape"]["method_signature"] == "*shape"
    assert "nn" in ops["mse_loss"]["variants"] and "clip" in ops["clamp"]["aliases"]


async def test_every_listed_op_is_known_to_graph(sess: Sess, client: httpx.AsyncClient) -> None:
    """No listed op is answered unknown_op (arguments may still be wrong)."""
    ops = [o["name"] for o in (await client.get("/v1/ops")).json()["ops"]]
    await sess.tensor("x", value=[[1.0, 2.0], [3.0, 4.0]])
    for name in ops:
        r = await sess.graph([{"op": name, "args": ["x"]}])
        assert r.status_code < 500, (name, r.text)
        if r.status_code != 200:
            assert r.json()["code"] != "unknown_op", name


async def test_backends(client: httpx.AsyncClient) -> None:
    r = await client.get("/v1/backends")
    assert r.status_code == 200
    backends = {b["name"]: b for b in r.json()["backends"]}
    assert backends["numpy"]["available"] is True
    assert "cupy" in backends
    assert isinstance(backends["cupy"]["available"], bool)


async def test_health_and_ready(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"
    r = await client.get("/readyz")
    assert r.status_code == 200 and r.json()["status"] == "ready"


def _sample(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if line.startswith("#") or not line.startswith(name):
            continue
        m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)$", line)
        if m is None or m.group(1) != name:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', m.group(2) or ""))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(m.group(3))
    return None


async def test_metrics(fresh_client: httpx.AsyncClient) -> None:
    client = fresh_client
    s = await open_session(client)
    await tutorial(s)
    await s.backward("out")
    await s.backward("out")  # 409
    for _ in range(3):
        await client.get("/healthz")
    r = await client.get("/metrics")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/plain")
    text = r.text
    route = "/v1/sessions/{session_id}/backward"
    assert _sample(text, "gradserve_requests_total", route=route, status="200", method="POST") == 1
    assert _sample(text, "gradserve_requests_total", route=route, status="409", method="POST") == 1
    assert _sample(text, "gradserve_requests_total", route="/healthz", status="200") == 3
    assert _sample(text, "gradserve_requests_total", route="/v1/sessions", status="201") == 1
    count = _sample(text, "gradserve_request_duration_seconds_count", route=route, method="POST")
    assert count == 2
    assert _sample(text, "gradserve_request_duration_seconds_bucket", route=route, le="+Inf") == 2
    assert _sample(text, "gradserve_sessions_live") == 1
    held = _sample(text, "gradserve_session_bytes")
    assert held is not None and held >= 16 * 4
    # the concrete session id never becomes a label (unbounded cardinality)
    assert s.id not in text
    await client.get(f"/v1/sessions/{s.id}/no/such/path")
    text = (await client.get("/metrics")).text
    assert s.id not in text
    await s.delete()
    text = (await client.get("/metrics")).text
    assert _sample(text, "gradserve_sessions_live") == 0
    assert _sample(text, "gradserve_session_bytes") == 0


async def test_request_id_accepted_and_echoed(client: httpx.AsyncClient) -> None:
    r = await client.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert r.headers["x-request-id"] == "abc-123"
    r = await client.get("/healthz")
    generated = r.headers["x-request-id"]
    assert len(generated) >= 16
    assert (await client.get("/healthz")).headers["x-request-id"] != generated
    r = await client.get(
        "/v1/sessions/nope", headers={"X-Request-ID": "req-42", "Authorization": "Bearer t"}
    )
    body = assert_problem(r, 404, "session_not_found")
    assert r.headers["x-request-id"] == "req-42"
    assert body.get("request_id") == "req-42"
    # a hostile id is replaced, never echoed
    r = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert r.headers["x-request-id"] != "bad id\twith spaces"


async def test_openapi_lists_op_names(client: httpx.AsyncClient) -> None:
    r = await client.get("/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    schemas = spec["components"]["schemas"]
    node = next(v for k, v in schemas.items() if k.startswith("GraphNode"))
    desc = node["properties"]["op"]["description"]
    for name in API_OPS:
        assert f"`{name}`" in desc, name
    paths = spec["paths"]
    for path in (
        "/v1/sessions",
        "/v1/sessions/{session_id}",
        "/v1/sessions/{session_id}/tensors",
        "/v1/sessions/{session_id}/tensors/{name}",
        "/v1/sessions/{session_id}/tensors/{name}/data",
        "/v1/sessions/{session_id}/tensors/{name}/grad",
        "/v1/sessions/{session_id}/zero_grad",
        "/v1/sessions/{session_id}/graph",
        "/v1/sessions/{session_id}/backward",
        "/v1/sessions/{session_id}/grad",
        "/v1/grad",
        "/v1/ops",
        "/v1/backends",
    ):
        assert path in paths, path
    assert "put" in paths["/v1/sessions/{session_id}/tensors/{name}"]
    assert "patch" in paths["/v1/sessions/{session_id}/tensors/{name}"]


async def test_docs_work_offline(client: httpx.AsyncClient) -> None:
    for path in ("/docs", "/redoc"):
        r = await client.get(path)
        assert r.status_code == 200
        assert "text/html" in r.headers["content-type"]
        html = r.text
        assets = re.findall(r'(?:src|href)="([^"]+\.(?:js|css))"', html)
        assert assets, html[:500]
        for asset in assets:
            assert not asset.startswith(("http://", "https://", "//")), asset
            a = await client.get(asset)
            assert a.status_code == 200, asset
