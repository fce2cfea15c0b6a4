"""Over real HTTP: problem+json assertions, and a session reached through one server or
several (each call to the next one in turn, as a load balancer would)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import httpx

__all__ = ["PROBLEM_JSON", "Session", "assert_problem"]

PROBLEM_JSON = "application/problem+json"


def assert_problem(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The response is an RFC 9457 problem with this status and code; returns its body."""
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["content-type"].startswith(PROBLEM_JSON), r.headers["content-type"]
    body: dict[str, Any] = r.json()
    assert body["status"] == status, body
    assert body["code"] == code, body
    for key in ("type", "title", "detail"):
        assert isinstance(body[key], str) and body[key], body
    return body


class Session:
    """A session on live servers: its id, token and calls that carry the token. Given several
    clients (replicas), each call goes to the next one in turn; ``served`` records where."""

    def __init__(self, http: httpx.Client | Sequence[httpx.Client], created: dict[str, Any]):
        self.clients: list[httpx.Client] = [http] if isinstance(http, httpx.Client) else list(http)
        self._turn = itertools.cycle(range(len(self.clients)))
        self.created = created
        self.id: str = created["session_id"]
        self.token: str = created["token"]
        self.auth = {"Authorization": f"Bearer {self.token}"}
        self.served: list[str] = []  # base URL of each call, in order

    @classmethod
    def open(cls, http: httpx.Client | Sequence[httpx.Client], **body: Any) -> Session:
        first = http if isinstance(http, httpx.Client) else http[0]
        r = first.post("/v1/sessions", json=body)
        assert r.status_code == 201, r.text
        return cls(http, r.json())

    @property
    def http(self) -> httpx.Client:
        """The first (or only) client."""
        return self.clients[0]

    def on(self, clients: Sequence[httpx.Client]) -> Session:
        """The same session, reached through other servers from now on."""
        self.clients = list(clients)
        self._turn = itertools.cycle(range(len(self.clients)))
        return self

    @property
    def path(self) -> str:
        return f"/v1/sessions/{self.id}"

    def request(self, method: str, path: str = "", **kwargs: Any) -> httpx.Response:
        """``method`` on ``/v1/sessions/{id}{path}`` with the bearer token."""
        client = self.clients[next(self._turn)]
        self.served.append(str(client.base_url))
        headers = {**self.auth, **kwargs.pop("headers", {})}
        return client.request(method, self.path + path, headers=headers, **kwargs)

    def ok(self, method: str, path: str = "", status: int = 200, **kwargs: Any) -> Any:
        """A call that must succeed with ``status``; its JSON body (None for 204)."""
        r = self.request(method, path, **kwargs)
        assert r.status_code == status, (r.status_code, r.text)
        return None if status == 204 else r.json()

    def create(self, **body: Any) -> dict[str, Any]:
        """POST .../tensors; the TensorInfo."""
        info: dict[str, Any] = self.ok("POST", "/tensors", 201, json=body)
        return info

    def graph(self, nodes: list[dict[str, Any]], **body: Any) -> httpx.Response:
        return self.request("POST", "/graph", json={"nodes": nodes, **body})

    def run(self, nodes: list[dict[str, Any]], **body: Any) -> dict[str, Any]:
        """A graph request that must succeed; its ``tensors`` map."""
        r = self.graph(nodes, **body)
        assert r.status_code == 200, r.text
        tensors: dict[str, Any] = r.json()["tensors"]
        return tensors

    def info(self, name: str, include: str = "data,grad") -> dict[str, Any]:
        tensor: dict[str, Any] = self.ok("GET", f"/tensors/{name}", params={"include": include})
        return tensor

    def value(self, name: str) -> Any:
        """The json ``data`` of a tensor's values."""
        return self.ok("GET", f"/tensors/{name}/data")["data"]

    def grad(self, name: str) -> Any:
        """The json ``data`` of a tensor's ``.grad``, or None."""
        body = self.ok("GET", f"/tensors/{name}/grad")
        return None if body is None else body["data"]

    def backward(self, tensor: str, **body: Any) -> httpx.Response:
        return self.request("POST", "/backward", json={"tensor": tensor, **body})

    def delete(self) -> None:
        self.request("DELETE", "")
