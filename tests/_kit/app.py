"""The service in this process: ``create_app`` with its lifespan running, over httpx's ASGI
transport (no sockets)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any, Self

import httpx

from service.app import create_app
from service.settings import Settings

__all__ = ["AppSession", "make_settings", "serve"]


def make_settings(**overrides: Any) -> Settings:
    """Test settings: a fast sweeper, warnings only, everything else as given or the defaults."""
    values: dict[str, Any] = {"sweep_interval_seconds": 0.1, "log_level": "warning"}
    values.update(overrides)
    return Settings(**values)


@contextlib.asynccontextmanager
async def serve(
    settings: Settings | None = None, timeout: float = 30
) -> AsyncIterator[httpx.AsyncClient]:
    """A client talking to a fresh app whose lifespan (the session sweeper) runs;
    ``client.app`` is the app."""
    app = create_app(settings or make_settings())
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://testserver", timeout=timeout
        ) as client:
            client.app = app  # type: ignore[attr-defined]
            yield client


class AppSession:
    """A session on an in-process app: its id, token and helpers for its endpoints."""

    def __init__(self, client: httpx.AsyncClient, created: dict[str, Any]) -> None:
        self.client = client
        self.created = created
        self.id: str = created["session_id"]
        self.token: str = created["token"]
        self.headers = {"Authorization": f"Bearer {self.token}"}

    @classmethod
    async def open(cls, client: httpx.AsyncClient, **body: Any) -> Self:
        r = await client.post("/v1/sessions", json=body or None)
        assert r.status_code == 201, r.text
        return cls(client, r.json())

    def url(self, path: str = "") -> str:
        return f"/v1/sessions/{self.id}{path}"

    async def request(self, method: str, path: str = "", **kw: Any) -> httpx.Response:
        """``method`` on ``/v1/sessions/{id}{path}`` with the bearer token."""
        headers = {**self.headers, **kw.pop("headers", {})}
        return await self.client.request(method, self.url(path), headers=headers, **kw)

    async def ok(self, method: str, path: str = "", status: int = 200, **kw: Any) -> Any:
        """A call that must succeed with ``status``; its JSON body (None for 204)."""
        r = await self.request(method, path, **kw)
        assert r.status_code == status, (r.status_code, r.text)
        return None if status == 204 else r.json()

    async def create(self, **body: Any) -> dict[str, Any]:
        """POST .../tensors; the TensorInfo."""
        info: dict[str, Any] = await self.ok("POST", "/tensors", 201, json=body)
        return info

    async def value(self, name: str) -> Any:
        """The json-form values of a tensor."""
        return (await self.ok("GET", f"/tensors/{name}/data"))["data"]

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
