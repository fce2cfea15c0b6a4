"""One session on a gradserve server: HTTP, the pending batch of nodes, frees and caches.

Operations are recorded here as graph nodes and sent as one ``graph`` request when a
value is needed; every other request first flushes the batch, so the server sees
calls in program order. Names of tensors Python dropped are sent in ``free``.

A batch that fails is atomic on the server: the nodes before the failing one are
queued again (in eager torch they would have run), and the names of the failing
node and of everything after it are remembered as lost, so that using them raises
the original error instead of a confusing ``unknown_name``.
"""

from __future__ import annotations

import collections
import io
import itertools
import threading
import time
from collections.abc import Iterable, Iterator
from typing import Any

import httpx
import numpy as np

from .errors import (
    ServerError,
    ServerUnreachableError,
    SessionClosedError,
    error_from_problem,
    lost_tensor_error,
)
from .wire import decode, encode_b64

__all__ = ["NPY", "Connection"]

NPY = "application/x-npy"
_READS = ("GET", "HEAD")  # safe to send again after a network error
_RETRIES = 3


def _names_in(node: dict[str, Any]) -> Iterator[str]:
    """The session names a wire node reads: string args (nested for cat/stack), index names."""
    stack: list[Any] = list(node["args"])
    while stack:
        a = stack.pop()
        if isinstance(a, str):
            yield a
        elif isinstance(a, list):
            stack.extend(a)
    if node["op"] == "index":
        yield from (it for it in node["kwargs"].get("index", []) if isinstance(it, str))


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
        max_pending: int = 4096,  # the server takes 10,000 nodes a request by default
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
        self.lost: dict[str, Exception] = {}  # name -> the error to raise when it is used
        self.to_free: collections.deque[str] = collections.deque()
        self.grad_enabled = True
        self.graph_grads = False  # a backward(create_graph=True) ran: a .grad may have a graph
        # Caches are valid while their epoch holds: in-place ops change values; backward,
        # zero_grad and in-place ops on grads change grads.
        self.data_epoch = 0
        self.grad_epoch = 0
        self.grads: dict[str, tuple[int, Any]] = {}  # leaf name -> (grad_epoch, array or None)
        self.grad_aliases: set[str] = set()  # names bound to some leaf's .grad tensor itself
        self.zero_pending: list[str] = []  # `w.grad = None`, sent before the next other call
        self._names = itertools.count()
        self._lock = threading.RLock()
        self.closed = False
        body: dict[str, Any] = {}
        if backend is not None:
            body["backend"] = backend
        if ttl_seconds is not None:
            body["ttl_seconds"] = ttl_seconds
        if seed is not None:
            body["seed"] = seed
        try:
            info = self.send("POST", "/v1/sessions", json=body).json()
        except BaseException:
            self.http.close()
            raise
        self.session_id: str = info["session_id"]
        self.backend: str = info["backend"]
        self.device: str = info["device"]
        self.http.headers["Authorization"] = f"Bearer {info['token']}"
        self.prefix = f"/v1/sessions/{self.session_id}"

    # ------------------------------------------------------------------- HTTP
    def send(self, method: str, path: str, **kw: Any) -> httpx.Response:
        """One HTTP call; reads are retried on network errors, writes never are."""
        if self.closed:
            raise SessionClosedError("this gradserve session is closed")
        attempts = _RETRIES if method in _READS else 1
        for attempt in range(attempts):
            try:
                self.requests += 1
                response = self.http.request(method, path, **kw)
                break
            except httpx.TransportError as exc:
                if attempt == attempts - 1:
                    if isinstance(exc, httpx.ConnectError):
                        raise ServerUnreachableError(
                            f"cannot reach a gradserve server at {self.http.base_url}: {exc} "
                            "(is `gradserve serve` running there, and is the URL right?)",
                            request=getattr(exc, "_request", None),
                        ) from exc
                    raise
                time.sleep(0.05 * 2**attempt)
        if response.status_code >= 400:
            try:
                problem = response.json()
            except ValueError:
                problem = {"detail": response.text or f"HTTP {response.status_code}"}
            raise error_from_problem(response.status_code, problem)
        return response

    def call(self, method: str, path: str, **kw: Any) -> Any:
        """A JSON call on the session, after flushing pending nodes (program order)."""
        self.flush()
        self.sync_zero_grad()
        response = self.send(method, self.prefix + path, **kw)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def session_info(self) -> dict[str, Any]:
        """``GET /v1/sessions/{id}``: tensor_count, bytes, limits, expiry."""
        info: dict[str, Any] = self.call("GET", "")
        return info

    def zero_grad(self, name: str) -> None:
        """``w.grad = None``; several are sent as one request, before the next call.

        Graph requests may go first: a graph node never reads a grad that was set to
        None (``.grad`` answers None from the cache without asking the server).
        """
        self.check([name])
        if name not in self.zero_pending:
            self.zero_pending.append(name)
        self.grad_epoch += 1
        self.grads[name] = (self.grad_epoch, None)

    def sync_zero_grad(self) -> None:
        if self.zero_pending:
            names, self.zero_pending = self.zero_pending, []
            self.send("POST", self.prefix + "/zero_grad", json={"names": names})

    # ------------------------------------------------------------------ names
    def new_name(self) -> str:
        return f"_t{next(self._names)}"

    def release(self, name: str) -> None:
        """Called when Python drops a tensor: unbind its name with the next request."""
        if not self.closed:
            self.to_free.append(name)

    def check(self, names: Iterable[str]) -> None:
        """Raise the original error if one of ``names`` was lost with a failed batch."""
        for n in names:
            why = self.lost.get(n)
            if why is not None:
                raise lost_tensor_error(why)

    # ----------------------------------------------------------------- graph
    def record(self, node: dict[str, Any]) -> None:
        """Queue a node; a change of grad mode or a full batch sends what is queued."""
        with self._lock:
            self.check(_names_in(node))
            no_grad = not self.grad_enabled
            if self.pending and no_grad != self.pending_no_grad:
                self.flush()
            self.pending_no_grad = no_grad
            self.pending.append(node)
            if node.get("name"):
                self.pending_names.add(node["name"])
            op, args = node["op"], node["args"]
            if op in ("grad_of", "detach") and (op == "grad_of" or args[0] in self.grad_aliases):
                self.grad_aliases.add(node["name"])
            if op.endswith("_"):
                self.data_epoch += 1
                if args[0] in self.grad_aliases:  # w.grad.zero_() changes w's grad
                    self.grad_epoch += 1
            if len(self.pending) >= self.max_pending:
                self.flush()

    def _take_frees(self) -> list[str]:
        frees = []
        while self.to_free:
            n = self.to_free.popleft()
            self.lost.pop(n, None)
            self.grads.pop(n, None)
            self.grad_aliases.discard(n)
            if n in self.bound or n in self.pending_names:
                frees.append(n)
        return frees

    def flush(
        self, names: list[str] | None = None, include: tuple[str, ...] = (), encoding: str = "json"
    ) -> dict[str, Any]:
        """Send queued nodes (and frees); report ``names`` with ``include``."""
        with self._lock:
            if names:
                self.check(names)
            frees = self._take_frees()
            if not self.pending and not names and not frees:
                return {}
            nodes, sent_names = self.pending, self.pending_names
            body: dict[str, Any] = {
                "nodes": nodes,
                "no_grad": self.pending_no_grad,
                "return": names or [],
                "include": list(include),
                "encoding": encoding,
                "free": frees,
            }
            self.pending, self.pending_names = [], set()
            try:
                result = self.send("POST", self.prefix + "/graph", json=body).json()
            except ServerError as exc:
                if self._recover(nodes, frees, exc):
                    return self.flush(names, include, encoding)
                raise
            except httpx.TransportError as exc:
                # The server may or may not have run it: nothing is sent again (an in-place op
                # would run twice), its names count as lost, its frees as done.
                self._lose(nodes, exc)
                self.bound -= set(frees)
                raise
            self.bound |= sent_names
            self.bound -= set(frees)
            tensors: dict[str, Any] = result["tensors"]
            return tensors

    def _lose(self, nodes: list[dict[str, Any]], why: BaseException) -> None:
        """Names the nodes would bind, and in-place targets that missed an update (their
        values would silently be wrong), now raise ``why`` when used."""
        error = lost_tensor_error(why)
        for n in nodes:
            if n.get("name"):
                self.lost[n["name"]] = error
            if n["op"].endswith("_") and n["args"] and isinstance(n["args"][0], str):
                self.lost[n["args"][0]] = error

    def _recover(self, nodes: list[dict[str, Any]], frees: list[str], exc: ServerError) -> bool:
        """After a refused batch (nothing changed on the server): keep what eager torch would.

        True when the batch should simply be sent again (only its frees were wrong).
        """
        failed = exc.problem.get("node")
        retry = not isinstance(failed, int) and exc.code == "unknown_name" and bool(frees)
        if retry:
            # a free of a name the server does not have: drop the frees (a leak at worst),
            # keep the nodes, so one bookkeeping slip cannot wedge the session
            self.bound -= set(frees)
            failed, frees = len(nodes), []
        keep = nodes[:failed] if isinstance(failed, int) and 0 <= failed <= len(nodes) else []
        self._lose(nodes[len(keep) :], exc)
        self.pending = keep + self.pending
        self.pending_names = {n["name"] for n in self.pending if n.get("name")}
        self.to_free.extend(n for n in frees if n in self.bound or n in self.pending_names)
        return retry

    # ----------------------------------------------------------------- values
    def info(self, name: str) -> dict[str, Any]:
        """TensorInfo of ``name``: with the pending nodes, or a retryable GET."""
        self.check([name])
        if self.pending:
            info: dict[str, Any] = self.flush([name])[name]
            return info
        info = self.call("GET", f"/tensors/{name}")
        return info

    def read(self, name: str, what: str, numel: int | None) -> tuple[dict[str, Any], Any]:
        """TensorInfo of ``name`` and its ``what`` (``data`` or ``grad``) as a host array.

        Small values come in one request (with the pending nodes, or a retryable GET when
        nothing is pending); above ``npy_threshold`` elements they come as ``.npy``.
        """
        self.check([name])
        small = numel is not None and numel <= self.npy_threshold
        if small and self.pending:
            info = self.flush([name], (what,))[name]
            return info, decode(info.get(what))
        if small:
            info = self.call("GET", f"/tensors/{name}", params={"include": what})
            return info, decode(info.get(what))
        info = self.info(name)  # the size first: it decides the form
        if int(np.prod(info["shape"], dtype=np.int64)) <= self.npy_threshold:
            return self.read(name, what, 0)
        return info, self.get_npy(name, what)

    def get_npy(self, name: str, what: str) -> np.ndarray[Any, Any] | None:
        """``GET .../{data|grad}`` as ``.npy``; None for a missing grad."""
        try:
            response = self.send(
                "GET", f"{self.prefix}/tensors/{name}/{what}", headers={"Accept": NPY}
            )
        except ServerError as exc:
            if exc.code == "grad_not_found":
                return None
            raise
        array: np.ndarray[Any, Any] = np.load(io.BytesIO(response.content), allow_pickle=False)
        return array

    def put_array(self, name: str, array: np.ndarray[Any, Any], requires_grad: bool) -> Any:
        """Create a leaf from an array: ``.npy`` above the threshold, b64 TensorData below."""
        if array.size > self.npy_threshold:
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
            body = {"name": name, "value": encode_b64(array), "requires_grad": requires_grad}
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
        try:
            self.pending.clear()
            self.zero_pending.clear()
            self.send("DELETE", self.prefix)
        except (ServerError, httpx.TransportError):
            pass
        finally:
            self.closed = True
            self.to_free.clear()
            self.http.close()
