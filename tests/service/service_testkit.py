"""Helpers for the in-process service tests: an app with its lifespan, sessions, problems."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx

from service.app import create_app
from service.settings import Settings

PROBLEM_JSON = "application/problem+json"


def make_settings(**overrides: Any) -> Settings:
    """Test settings: a fast sweeper, everything else as given or the defaults."""
    values: dict[str, Any] = {"sweep_interval_seconds": 0.1, "log_level": "warning"}
    values.update(overrides)
    return Settings(**values)


@contextlib.asynccontextmanager
async def serve(settings: Settings | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """A client talking to a fresh app whose lifespan (the session sweeper) runs."""
    app = create_app(settings or make_settings())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", timeout=30
        ) as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


def assert_problem(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status and code; returns its body."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith(PROBLEM_JSON), r.headers["content-type"]
    body: dict[str, Any] = r.json()
    assert body["status"] == status, body
    assert body["code"] == code, body
    assert isinstance(body["type"], str) and body["type"], body
    assert isinstance(body["title"], str) and body["title"], body
    assert isinstance(body["detail"], str) and body["detail"], body
    return body


class Sess:
    """One session's id, token and helpers for its endpoints."""

    def __init__(self, client: httpx.AsyncClient, created: dict[str, Any]) -> None:
        self.client = client
        self.created = created
        self.id: str = created["session_id"]
        self.token: str = created["token"]
        self.headers = {"Authorization": f"Bearer {self.token}"}

    def url(self, path: str = "") -> str:
        return f"/v1/sessions/{self.id}{path}"

    async def get(self, path: str = "", **kw: Any) -> httpx.Response:
        headers = {**self.headers, **kw.pop("headers", {})}
        return await self.client.get(self.url(path), headers=headers, **kw)

    async def post(self, path: str, json: Any = None, **kw: Any) -> httpx.Response:
        headers = {**self.headers, **kw.pop("headers", {})}
        return await self.client.post(self.url(path), json=json, headers=headers, **kw)

    async def put(self, path: str, **kw: Any) -> httpx.Response:
        headers = {**self.headers, **kw.pop("headers", {})}
        return await self.client.put(self.url(path), headers=headers, **kw)

    async def patch(self, path: str, json: Any = None) -> httpx.Response:
        return await self.client.patch(self.url(path), json=json, headers=self.headers)

    async def delete(self, path: str = "") -> httpx.Response:
        return await self.client.delete(self.url(path), headers=self.headers)

    async def tensor(self, name: str | None = None, **body: Any) -> dict[str, Any]:
        """POST /tensors; asserts 201 and returns TensorInfo."""
        if name is not None:
            body["name"] = name
        r = await self.post("/tensors", body)
        assert r.status_code == 201, r.text
        info: dict[str, Any] = r.json()
        return info

    async def graph(self, nodes: list[dict[str, Any]], **body: Any) -> httpx.Response:
        if "return_" in body:
            body["return"] = body.pop("return_")
        return await self.post("/graph", {"nodes": nodes, **body})

    async def run(self, nodes: list[dict[str, Any]], **body: Any) -> dict[str, Any]:
        """A graph request that must succeed; returns its ``tensors`` map."""
        r = await self.graph(nodes, **body)
        assert r.status_code == 200, r.text
        tensors: dict[str, Any] = r.json()["tensors"]
        return tensors

    async def backward(self, tensor: str, **body: Any) -> httpx.Response:
        return await self.post("/backward", {"tensor": tensor, **body})

    async def info(self, name: str, include: str | None = None) -> dict[str, Any]:
        params = {"include": include} if include else None
        r = await self.get(f"/tensors/{name}", params=params)
        assert r.status_code == 200, r.text
        info: dict[str, Any] = r.json()
        return info

    async def data(self, name: str) -> Any:
        """The json-form values of a tensor."""
        r = await self.get(f"/tensors/{name}/data")
        assert r.status_code == 200, r.text
        return r.json()["data"]

    async def grad(self, name: str) -> Any:
        """The json-form ``.grad`` values, or None."""
        r = await self.get(f"/tensors/{name}/grad")
        assert r.status_code == 200, r.text
        body = r.json()
        return None if body is None else body["data"]


async def open_session(client: httpx.AsyncClient, **body: Any) -> Sess:
    r = await client.post("/v1/sessions", json=body or None)
    assert r.status_code == 201, r.text
    return Sess(client, r.json())


TUTORIAL_NODES: list[dict[str, Any]] = [
    {"name": "y", "op": "add", "args": ["x", 2]},
    {"name": "z", "op": "mul", "args": ["y", "y"]},
    {"name": "z", "op": "mul", "args": ["z", 3]},
    {"name": "out", "op": "mean", "args": ["z"]},
]


async def tutorial(s: Sess) -> dict[str, Any]:
    """x = ones(2, 2, requires_grad); the tutorial's four nodes; returns the graph's tensors."""
    await s.tensor("x", fill="ones", shape=[2, 2], requires_grad=True)
    return await s.run(TUTORIAL_NODES, include=["data"])
