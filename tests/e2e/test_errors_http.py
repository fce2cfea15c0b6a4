"""Failures over real HTTP: each is application/problem+json with its stable code, never a 5xx."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import numpy as np
import pytest
from e2e_http import MAX_BODY_BYTES as MAX_BODY
from e2e_http import Session, SpawnServer, assert_problem


def test_missing_token_is_401(http: httpx.Client, sess: Session) -> None:
    for method, path in [("GET", ""), ("GET", "/tensors"), ("DELETE", "")]:
        r = http.request(method, sess.path + path)
        assert_problem(r, 401, "unauthorized")
        assert r.headers["www-authenticate"].lower().startswith("bearer")
    r = http.get(sess.path, headers={"Authorization": f"Basic {sess.token}"})
    assert_problem(r, 401, "unauthorized")


def test_wrong_token_or_session_is_404(http: httpx.Client, sess: Session) -> None:
    other = Session.open(http)
    try:
        # a valid token of another session reveals nothing about this one
        r = http.get(sess.path, headers=other.auth)
        assert_problem(r, 404, "session_not_found")
        r = http.get(sess.path, headers={"Authorization": "Bearer not-the-token"})
        assert_problem(r, 404, "session_not_found")
        r = http.get("/v1/sessions/no-such-session", headers=sess.auth)
        assert_problem(r, 404, "session_not_found")
    finally:
        other.delete()
    # a deleted session is gone
    assert sess.ok("DELETE", "", 204) is None
    assert_problem(sess.request("GET", ""), 404, "session_not_found")


def test_unknown_tensor_in_path_is_404(sess: Session) -> None:
    for path in ("/tensors/nope", "/tensors/nope/data", "/tensors/nope/grad"):
        assert_problem(sess.request("GET", path), 404, "tensor_not_found")
    assert_problem(sess.request("DELETE", "/tensors/nope"), 404, "tensor_not_found")


def test_unknown_op_and_name_are_atomic(sess: Session) -> None:
    sess.create(name="x", value=[1.0, 2.0], requires_grad=True)
    r = sess.graph(
        [
            {"name": "y", "op": "add", "args": ["x", 1]},
            {"name": "z", "op": "frobnicate", "args": ["y"]},
        ]
    )
    problem = assert_problem(r, 400, "unknown_op")
    assert problem["node"] == 1
    r = sess.graph(
        [
            {"name": "y", "op": "add", "args": ["x", 1]},
            {"name": "x", "op": "mul", "args": ["x", 2]},
            {"name": "z", "op": "mul", "args": ["y", "ghost"]},
        ]
    )
    problem = assert_problem(r, 400, "unknown_name")
    assert problem["node"] == 2 and "ghost" in problem["detail"]
    # nothing of either request was bound or changed
    names = {t["name"] for t in sess.ok("GET", "/tensors")["tensors"]}
    assert names == {"x"}
    assert sess.value("x") == [1.0, 2.0]
    assert sess.info("x")["is_leaf"] is True
    r = sess.graph([{"name": "y", "op": "add", "args": ["x", 1]}], free=["ghost"])
    assert_problem(r, 400, "unknown_name")


def test_invalid_arguments_are_400(sess: Session) -> None:
    sess.create(name="x", value=[[1.0, 2.0], [3.0, 4.0]])
    cases: list[list[dict[str, Any]]] = [
        [{"op": "reshape", "args": ["x"], "kwargs": {"shape": [3, 3]}}],
        [{"op": "sum", "args": ["x"], "kwargs": {"dim": 7}}],
        [{"op": "add", "args": ["x", {"value": [1.0, 2.0, 3.0]}]}],
        [{"op": "matmul", "args": ["x", {"value": [1.0, 2.0, 3.0]}]}],
        [{"op": "sum", "args": ["x"], "kwargs": {"bogus": 1}}],
        # a Python scalar where torch needs a tensor
        [{"op": "prod", "args": [2.0], "kwargs": {"dim": 0}}],
        [{"op": "logsumexp", "args": [1e30]}],
        [{"op": "detach", "args": [True]}],
        [{"op": "flatten", "args": [3]}],
        [{"op": "mse_loss", "args": [2.0, "x"]}],
        [{"op": "cross_entropy", "args": ["x", 1]}],
    ]
    for nodes in cases:
        r = sess.graph(nodes)
        assert r.status_code == 400, (nodes, r.status_code, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["code"] in ("invalid_argument", "shape_mismatch"), r.json()
    r = sess.request("POST", "/tensors", json={"name": "i", "value": [1, 2], "requires_grad": True})
    assert_problem(r, 400, "invalid_argument")
    r = sess.request("POST", "/tensors", json={"fill": "arange", "start": "nan", "end": 3})
    assert_problem(r, 400, "invalid_argument")
    assert {t["name"] for t in sess.ok("GET", "/tensors")["tensors"]} == {"x"}


def test_malformed_json_is_422(http: httpx.Client, sess: Session) -> None:
    headers = {**sess.auth, "Content-Type": "application/json"}
    for body in (b"{", b'{"nodes": [', b"\xff\xfe", b"[1, 2,]"):
        r = http.post(sess.path + "/graph", content=body, headers=headers)
        assert_problem(r, 422, "validation_error")
    r = http.post(
        "/v1/sessions", content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert_problem(r, 422, "validation_error")
    # well-formed JSON that does not match the schema
    r = sess.request("POST", "/graph", json={"nodes": "x"})
    assert_problem(r, 422, "validation_error")
    r = sess.request("POST", "/backward", json={"tensor": "x", "surprise": 1})
    assert_problem(r, 422, "validation_error")


def test_body_over_the_limit_is_413(http: httpx.Client, sess: Session) -> None:
    big = b"[" + b"0," * (MAX_BODY // 2) + b"0]"
    headers = {**sess.auth, "Content-Type": "application/json"}
    r = http.post(sess.path + "/tensors", content=big, headers=headers)
    assert_problem(r, 413, "payload_too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit is checked as it streams
        yield b'{"name": "x", "value": ['
        for _ in range(MAX_BODY // 4096 + 2):
            yield b"0," * 2048
        yield b"0]}"

    r = http.post(sess.path + "/tensors", content=chunks(), headers=headers)
    assert_problem(r, 413, "payload_too_large")
    npy = b"\x93NUMPY" + b"\0" * (MAX_BODY + 10)
    r = http.put(
        sess.path + "/tensors/big",
        content=npy,
        headers={**sess.auth, "Content-Type": "application/x-npy"},
    )
    assert_problem(r, 413, "payload_too_large")
    assert sess.ok("GET", "/tensors") == {"tensors": []}


@pytest.mark.parametrize(
    "body",
    [
        {"fill": "zeros", "shape": [10**6, 10**6]},
        {"fill": "randn", "shape": [10**12]},
        {"fill": "full", "shape": [10, 10**11], "fill_value": 1.5},
        {"fill": "eye", "shape": [10**6]},
        {"fill": "arange", "end": 10**12},
        {"value": {"b64": "AAAA", "dtype": "float64", "shape": [10**6, 10**6]}},
        # no elements, but dimensions NumPy cannot index
        {"fill": "zeros", "shape": [0, 10**10, 10**10]},
        {"value": {"b64": "", "dtype": "float32", "shape": [0, 10**10, 10**10]}},
        {"fill": "arange", "start": 0, "end": "inf"},
    ],
    ids=["zeros", "randn", "full", "eye", "arange", "b64", "zero-size", "b64-zero-size", "inf"],
)
def test_huge_tensor_is_refused_at_once(sess: Session, body: dict[str, object]) -> None:
    start = time.monotonic()
    r = sess.request("POST", "/tensors", json={"name": "huge", **body})
    elapsed = time.monotonic() - start
    assert_problem(r, 413, "tensor_too_large")
    assert elapsed < 2.0, elapsed


def test_huge_graph_result_is_refused_at_once(sess: Session) -> None:
    sess.create(name="x", fill="ones", shape=[1000])
    start = time.monotonic()
    graphs: list[list[dict[str, Any]]] = [
        [{"op": "expand", "args": ["x"], "kwargs": {"size": [10**9, 1000]}}],
        [
            {"op": "reshape", "args": ["x"], "kwargs": {"shape": [1000, 1]}, "name": "c"},
            {"op": "mul", "args": ["c", "x"], "name": "m"},
            {"op": "unsqueeze", "args": ["m"], "kwargs": {"dim": 0}, "name": "m3"},
            {"op": "mul", "args": ["m3", {"value": np.ones((1000, 1, 1)).tolist()}]},
        ],
    ]
    for nodes in graphs:
        r = sess.graph(nodes)
        assert r.status_code == 413, r.text
        assert r.json()["code"] == "tensor_too_large"
    assert time.monotonic() - start < 4.0
    assert {t["name"] for t in sess.ok("GET", "/tensors")["tensors"]} == {"x"}


def test_put_needs_npy_content_type(http: httpx.Client, sess: Session) -> None:
    for ctype in ("application/json", "text/plain", "application/octet-stream"):
        r = http.put(
            sess.path + "/tensors/x",
            content=b"[1, 2]",
            headers={**sess.auth, "Content-Type": ctype},
        )
        assert_problem(r, 415, "unsupported_media_type")
    r = sess.request(
        "PUT",
        "/tensors/x",
        content=b"not an npy file",
        headers={"Content-Type": "application/x-npy"},
    )
    assert_problem(r, 400, "invalid_argument")


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("PUT", "/v1/ops"),
        ("DELETE", "/healthz"),
        ("GET", "/v1/grad"),
        ("PATCH", "/v1/sessions"),
        ("POST", "/v1/sessions/{sid}/tensors/x/data"),
    ],
)
def test_wrong_method_is_405(sess: Session, method: str, path: str) -> None:
    r = sess.http.request(method, path.format(sid=sess.id), headers=sess.auth)
    assert_problem(r, 405, "method_not_allowed")
    assert "allow" in r.headers


def test_unknown_path_is_404_problem(http: httpx.Client) -> None:
    r = http.get("/v2/nothing")
    assert r.status_code == 404
    assert r.headers["content-type"].startswith("application/problem+json")


def test_api_keys_guard_session_creation(spawn_server: SpawnServer) -> None:
    server = spawn_server(env={"GRADSERVE_API_KEYS": "k1,k2"})
    with httpx.Client(base_url=server.url, timeout=30.0) as http:
        assert_problem(http.post("/v1/sessions"), 401, "unauthorized")
        assert_problem(http.post("/v1/sessions", headers={"X-API-Key": "k3"}), 401, "unauthorized")
        body = {"inputs": {"x": [1.0]}, "output": "x"}
        assert_problem(http.post("/v1/grad", json=body), 401, "unauthorized")
        r = http.post("/v1/sessions", headers={"X-API-Key": "k2"})
        assert r.status_code == 201, r.text
        assert http.post("/v1/grad", json=body, headers={"X-API-Key": "k1"}).status_code == 200
        assert http.get("/healthz").status_code == 200
