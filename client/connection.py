"""One session on a gradserve server: HTTP, the pending batch of nodes, frees and caches.

Operations are recorded here as graph nodes and sent as one ``graph`` request when a
value is needed; every other request first flushes the batch, so the server sees
calls in program order. Names of tensors Python dropped are sent in ``free``.
"""

from __future__ import annotations

import collections
import itertools
import threading
from typing import Any

import httpx
import numpy as np

from .errors import ServerError, error_from_problem

__all__ = ["Connection"]

NPY = "application/x-npy"


class Connection:
    """The HTTP side of a client session."""

    def __init__(
        self,
        url: str,
        api_key: str | None = None,
        backend: str | None = None,
        timeout: float = 60.0,
        *,
        ttl_seconds: int | None = None,
        seed: int | None = None,
        npy_threshold: int = 1 << 16,
        max_pending: int = 1000,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        headers = {"X-API-Key": api_key} if api_key else {}
        self.http = httpx.Client(
            base_url=url.rstrip("/"), timeout=timeout, headers=headers, transport=transport
        )
        self.requests = 0
        self.npy_threshold = npy_threshold
        self.max_pending = max_pending
        self.pending: list[dict[str, Any]] = []
        self.pending_no_grad = False
        self.pending_names: set[str] = set()
        self.bound: set[str] = set()
        self.to_free: collections.deque[str] = collections.deque()
        self.grad_enabled = True
        self.epoch = 0  # bumped by anything that may change values or grads on the server
        self.grads: dict[str, tuple[int, Any]] = {}  # name -> (epoch, host array or None)
        self._names = itertools.count()
        self._lock = threading.RLock()
        body: dict[str, Any] = {}
        if backend is not None:
            body["backend"] = backend
        if ttl_seconds is not None:
            body["ttl_seconds"] = ttl_seconds
        if seed is not None:
            body["seed"] = seed
        info = self.call("POST", "/v1/sessions", json=body, session=False)
        self.session_id: str = info["session_id"]
        self.backend: str = info["backend"]
        self.device: str = info["device"]
        self.http.headers["Authorization"] = f"Bearer {info['token']}"
        self.prefix = f"/v1/sessions/{self.session_id}"
        self.closed = False

    # ------------------------------------------------------------------- HTTP
    def send(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """One HTTP call; reads are retried on network errors, writes never are."""
        attempts = 3 if method == "GET" else 1
        for attempt in range(attempts):
            try:
                self.requests += 1
                response = self.http.request(method, path, **kw)
                break
            except httpx.TransportError:
                if attempt == attempts - 1:
                    raise
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {"detail": response.text or f"HTTP {response.status_code}"}
            raise error_from_problem(response.status_code, problem)
        return response

    def call(self, method: str, path: str, *, session: bool = True, **kw: Any) -> Any:
        """A JSON call, after flushing pending nodes so the server sees program order."""
        if session:
            self.flush()
            path = self.prefix + path
        response = self.send(method, path, **kw)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    # ------------------------------------------------------------------ names
    def new_name(self) -> str:
        return f"_t{next(self._names)}"

    def release(self, name: str) -> None:
        """Called when Python drops a tensor: unbind its name with the next request."""
        self.to_free.append(name)

    # ----------------------------------------------------------------- graph
    def record(self, node: dict[str, Any]) -> None:
        """Queue a node; a change of grad mode or a full batch sends what is queued."""
        with self._lock:
            no_grad = not self.grad_enabled
            if self.pending and no_grad != self.pending_no_grad:
                self.flush()
            self.pending_no_grad = no_grad
            self.pending.append(node)
            if node.get("name"):
                self.pending_names.add(node["name"])
            if len(self.pending) >= self.max_pending:
                self.flush()

    def flush(
        self, names: list[str] | None = None, include: tuple[str, ...] = (), encoding: str = "json"
    ) -> dict[str, Any]:
        """Send queued nodes (and frees); report ``names`` with ``include``."""
        with self._lock:
            frees = []
            while self.to_free:
                n = self.to_free.popleft()
                if n in self.bound or n in self.pending_names:
                    frees.append(n)
            if not self.pending and not names and not frees:
                return {}
            body: dict[str, Any] = {
                "nodes": self.pending,
                "no_grad": self.pending_no_grad,
                "return": names or [],
                "include": list(include),
                "encoding": encoding,
                "free": frees,
            }
            sent_names = self.pending_names
            self.pending, self.pending_names = [], set()
            if any(n["op"].endswith("_") for n in body["nodes"]):
                self.epoch += 1
            try:
                result = self.send("POST", self.prefix + "/graph", json=body).json()
            except ServerError:
                # atomic on the server: nothing was bound; frees are retried next time
                self.to_free.extend(n for n in frees if n in self.bound)
                raise
            self.bound |= sent_names
            self.bound -= set(frees)
            tensors: dict[str, Any] = result["tensors"]
            return tensors

    # ----------------------------------------------------------------- values
    def fetch(self, name: str, numel: int) -> dict[str, Any]:
        """TensorInfo of ``name`` with its data, in the same request as the pending nodes."""
        encoding = "b64" if numel > self.npy_threshold else "json"
        info: dict[str, Any] = self.flush([name], ("data",), encoding)[name]
        return info

    def put_array(self, name: str, array: np.ndarray[Any, Any], requires_grad: bool) -> Any:
        """Create a leaf from an array: ``.npy`` above the threshold, b64 TensorData below."""
        if array.size > self.npy_threshold:
            import io

            buf = io.BytesIO()
            np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
            info = self.call(
                "PUT",
                f"/tensors/{name}",
                content=buf.getvalue(),
                headers={"Content-Type": NPY},
                params={"requires_grad": str(requires_grad).lower()},
            )
        else:
            import base64

            raw = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
            value = {
                "b64": base64.b64encode(raw).decode("ascii"),
                "dtype": str(array.dtype.name),
                "shape": list(array.shape),
            }
            body = {"name": name, "value": value, "requires_grad": requires_grad}
            info = self.call("POST", "/tensors", json=body)
        self.bound.add(name)
        return info

    def create(self, body: dict[str, Any]) -> Any:
        """POST /tensors (a fill); binds ``body['name']``."""
        info = self.call("POST", "/tensors", json=body)
        self.bound.add(body["name"])
        return info

    def close(self) -> None:
        """Delete the session on the server and close the HTTP client."""
        if self.closed:
            return
        self.closed = True
        try:
            self.pending.clear()
            self.send("DELETE", self.prefix)
        except (ServerError, httpx.TransportError):
            pass
        finally:
            self.http.close()
