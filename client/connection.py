"""One session on a gradserve server: HTTP, the pending batch of nodes, frees and caches.

Operations are recorded here as graph nodes and sent as one ``graph`` request when a
value is needed; every other request first flushes the batch, so the server sees
calls in program order. ``backward()`` and ``grad = None`` are nodes too
(``autograd.backward``, ``autograd.zero_grad``), and grad mode travels per node, so a
training loop's steps cost no round trip until Python reads a value. Names of tensors
Python dropped are sent in ``free``.

Each node remembers the line of user code that recorded it: an error the server finds
in a batch names the call site of the node that failed.

A batch that fails is atomic on the server: the nodes before the failing one are
queued again (in eager torch they would have run), and the names of the failing
node and of everything after it are remembered as lost, so that using them raises
the original error instead of a confusing ``unknown_name``.
"""

from __future__ import annotations

import collections
import inspect
import io
import itertools
import json
import os
import threading
import time
from collections.abc import Iterable, Iterator
from types import CodeType
from typing import TYPE_CHECKING, Any

import httpx
import numpy as np
import orjson

from engine.meta import INDEXED_OPS

from .errors import (
    ServerError,
    ServerUnreachableError,
    SessionClosedError,
    error_from_problem,
    lost_tensor_error,
)
from .wire import decode, encode_b64

if TYPE_CHECKING:
    from .profiler import RemoteProfile

__all__ = ["NPY", "Connection"]

NPY = "application/x-npy"
_READS = ("GET", "HEAD")  # safe to send again after a network error
_RETRIES = 3
_HERE = os.path.dirname(os.path.abspath(__file__))
BACKWARD, ZERO_GRAD = "autograd.backward", "autograd.zero_grad"  # node kinds (docs/api.md)


# per source file: whether its frames are this package's (or its generated methods')
_OURS: dict[str, bool] = {}


def _call_site() -> tuple[CodeType, int]:
    """The innermost frame outside this package (and its generated methods): user code, as
    its code object and line (formatted only when an error names it: ``_site``)."""
    f = inspect.currentframe()  # this frame: ours, so the walk below skips it
    assert f is not None  # CPython
    ours = _OURS
    while f.f_back is not None:
        file = f.f_code.co_filename
        mine = ours.get(file)
        if mine is None:
            mine = ours[file] = file.startswith(_HERE) or file == "<string>"
        if not mine:
            break
        f = f.f_back
    return f.f_code, f.f_lineno


def _site(site: tuple[CodeType, int]) -> str:
    """``file:line, in function`` of a recorded call site."""
    code, line = site
    return f"{code.co_filename}:{line}, in {code.co_name}"


def _compact(node: dict[str, Any]) -> Any:
    """A node in the wire's compact form, ``[name, op, args, kwargs, no_grad]`` with the
    trailing defaults left off (docs/api.md); a node with other fields stays an object."""
    no_grad = node.get("no_grad")
    if len(node) != 4 + ("no_grad" in node) or "kwargs" not in node or "name" not in node:
        return node
    kwargs = node["kwargs"]
    if no_grad is not None:
        return [node["name"], node["op"], node["args"], kwargs, no_grad]
    if kwargs:
        return [node["name"], node["op"], node["args"], kwargs]
    return [node["name"], node["op"], node["args"]]


_JSON = {"Content-Type": "application/json"}


def _dumps(body: dict[str, Any]) -> bytes:
    """A batch as JSON: orjson, or the standard library for what orjson does not write
    (an integer beyond 64 bits: the server then answers as torch does)."""
    try:
        return orjson.dumps(body, option=orjson.OPT_SERIALIZE_NUMPY)
    except TypeError:
        return json.dumps(body, allow_nan=False).encode()


def _names_in(node: dict[str, Any]) -> Iterator[str]:
    """The session names a wire node reads: string args (nested for cat/stack), index names."""
    stack: list[Any] = list(node["args"])
    while stack:
        a = stack.pop()
        if isinstance(a, str):
            yield a
        elif isinstance(a, list):
            stack.extend(a)
    if node["op"] in INDEXED_OPS:
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
        self.sites: list[tuple[CodeType, int]] = []  # per pending node: where it was recorded
        self.pending_names: set[str] = set()
        self.bound: set[str] = set()
        self.lost: dict[str, Exception] = {}  # name -> the error to raise when it is used
        self.to_free: collections.deque[str] = collections.deque()
        self.grad_enabled = True
        self.graph_grads = False  # a backward(create_graph=True) ran: a .grad may have a graph
        # Value caches are valid while the epoch holds: in-place ops and backward (which
        # accumulates into .grad tensors in place) change values.
        self.data_epoch = 0
        # the local model of which tensors have a .grad: True, False, or absent (unknown:
        # ask the server); a backward sets it for the leaves it reaches
        self.has_grad: dict[str, bool] = {}
        self.grad_aliases: set[str] = set()  # names bound to some leaf's .grad tensor itself
        # bumped by what can make a later backward fail (an in-place op, a backward that
        # frees its graph): a backward whose graph is older is sent at once, not deferred
        self.hazard = 0
        self.grad_gen = 0  # bumped when some .grad tensor may be replaced by a new one
        self.profiler: RemoteProfile | None = None  # an active torch.autograd.profiler.profile
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

    def call(self, method: str, path: str, flush: bool = True, **kw: Any) -> Any:
        """A JSON call on the session, after flushing pending nodes (program order); a call
        that reads and changes nothing the pending nodes touch may go first (``flush``)."""
        if flush:
            self.flush()
        response = self.send(method, self.prefix + path, **kw)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def session_info(self) -> dict[str, Any]:
        """``GET /v1/sessions/{id}``: tensor_count, bytes, limits, expiry."""
        info: dict[str, Any] = self.call("GET", "")
        return info

    def zero_grad(self, name: str) -> None:
        """``w.grad = None``: an ``autograd.zero_grad`` node (consecutive ones merge)."""
        with self._lock:
            self.check([name])
            last = self.pending[-1] if self.pending else None
            if last is not None and last["op"] == ZERO_GRAD:
                if name not in last["args"]:
                    last["args"].append(name)
            else:
                self.record({"name": None, "op": ZERO_GRAD, "args": [name], "kwargs": {}})
            self.has_grad[name] = False
            self.grad_gen += 1

    def backward(
        self, node: dict[str, Any], reached: Iterable[str] | None, now: bool, frees: bool
    ) -> None:
        """Record an ``autograd.backward`` node; ``reached``: the leaves whose ``.grad`` it
        sets (None: not known here, so every ``.grad`` is asked of the server again).
        ``now``: send it at once (after what is pending), so its error is raised here."""
        with self._lock:
            if now:
                self.flush()
            self.record(node)
            if now:
                self.flush(locate=False)
            if frees:
                self.hazard += 1
            self.data_epoch += 1  # accumulation may change existing .grad tensors in place
            self.grad_gen += 1  # or make a new one (torch does when one is held)
            if reached is None:
                self.has_grad.clear()
            else:
                for n in reached:
                    self.has_grad[n] = True
            if node["kwargs"].get("create_graph"):
                self.graph_grads = True  # some .grad may now carry a graph

    def sync(self) -> None:
        """``torch.sync()``: run what is pending now (errors surface here)."""
        self.flush()

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
        """Queue a node (in the current grad mode); a full batch sends what is queued."""
        with self._lock:
            if self.lost:
                self.check(_names_in(node))
            op, args = node["op"], node["args"]
            name: str | None = node.get("name")
            if not self.grad_enabled and op not in (BACKWARD, ZERO_GRAD):
                node["no_grad"] = True
            self.pending.append(node)
            self.sites.append(_call_site())
            if name:
                self.pending_names.add(name)
            if (
                name
                and op in ("grad_of", "detach")
                and (op == "grad_of" or args[0] in self.grad_aliases)
            ):
                self.grad_aliases.add(name)
            if op.endswith("_"):
                self.data_epoch += 1
                self.hazard += 1
            if len(self.pending) >= self.max_pending:
                self.flush()

    def _take_frees(self) -> list[str]:
        frees = []
        while self.to_free:
            n = self.to_free.popleft()
            self.lost.pop(n, None)
            self.has_grad.pop(n, None)
            self.grad_aliases.discard(n)
            if n in self.bound or n in self.pending_names:
                frees.append(n)
        return frees

    def flush(
        self,
        names: list[str] | None = None,
        include: tuple[str, ...] = (),
        encoding: str = "json",
        locate: bool = True,
    ) -> dict[str, Any]:
        """Send queued nodes (and frees); report ``names`` with ``include``."""
        with self._lock:
            if names:
                self.check(names)
            frees = self._take_frees()
            if not self.pending and not names and not frees:
                return {}
            nodes, sent_names, sites = self.pending, self.pending_names, self.sites
            body: dict[str, Any] = {
                "nodes": [_compact(n) for n in nodes],
                "no_grad": False,  # each node says its own
                "return": names or [],
                "include": list(include),
                "encoding": encoding,
                "free": frees,
            }
            profiler = self.profiler
            if profiler is not None:
                body["profile"] = True
            self.pending, self.pending_names, self.sites = [], set(), []
            try:
                content = _dumps(body)
                sent_at = time.perf_counter()
                response = self.send("POST", self.prefix + "/graph", content=content, headers=_JSON)
                result = orjson.loads(response.content)
            except ServerError as exc:
                located = _located(exc, nodes, sites) if locate else exc
                if self._recover(nodes, sites, frees, located):
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
            if profiler is not None and "profile" in result:
                profiler.received(sent_at, result["profile"])
            tensors: dict[str, Any] = result["tensors"]
            return tensors

    def _lose(self, nodes: list[dict[str, Any]], why: BaseException) -> None:
        """Names the nodes would bind, and in-place targets that missed an update (their
        values would silently be wrong), now raise ``why`` when used."""
        error = lost_tensor_error(why)
        if any(n["op"] in (BACKWARD, ZERO_GRAD) for n in nodes):
            self.has_grad.clear()  # the local model assumed they ran: ask the server again
            self.grad_gen += 1
        for n in nodes:
            if n.get("name"):
                self.lost[n["name"]] = error
            if n["op"].endswith("_") and n["args"] and isinstance(n["args"][0], str):
                self.lost[n["args"][0]] = error

    def _recover(
        self,
        nodes: list[dict[str, Any]],
        sites: list[tuple[CodeType, int]],
        frees: list[str],
        exc: ServerError,
    ) -> bool:
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
        self.sites = sites[: len(keep)] + self.sites
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

    def _fresh(self, name: str) -> None:
        """A new tensor: bound, and without a ``.grad``."""
        self.bound.add(name)
        self.has_grad[name] = False

    def put_array(self, name: str, array: np.ndarray[Any, Any], requires_grad: bool) -> Any:
        """Create a leaf from an array: ``.npy`` above the threshold, b64 TensorData below."""
        if array.size > self.npy_threshold:
            buf = io.BytesIO()
            np.save(buf, np.ascontiguousarray(array), allow_pickle=False)
            info = self.call(
                "PUT",
                f"/tensors/{name}",
                flush=False,  # a new name: the pending nodes cannot see it
                content=buf.getvalue(),
                headers={"Content-Type": NPY},
                params={"requires_grad": str(requires_grad).lower()},
            )
        else:
            body = {"name": name, "value": encode_b64(array), "requires_grad": requires_grad}
            info = self.call("POST", "/tensors", flush=False, json=body)
        self._fresh(name)
        return info

    def create(self, body: dict[str, Any]) -> Any:
        """POST /tensors (a fill); binds ``body['name']``."""
        info = self.call("POST", "/tensors", flush=False, json=body)  # a new name
        self._fresh(body["name"])
        return info

    def close(self, run_pending: bool = True) -> None:
        """Run what is pending (its error, if any, is raised once the session is gone), then
        delete the session on the server and close the HTTP client."""
        if self.closed:
            return
        failed: ServerError | None = None
        try:
            if self.pending and run_pending:
                self.flush()
        except ServerError as exc:
            failed = exc
        except httpx.TransportError:
            pass
        try:
            self.pending.clear()
            self.sites.clear()
            self.send("DELETE", self.prefix)
        except (ServerError, httpx.TransportError):
            pass
        finally:
            self.closed = True
            self.to_free.clear()
            self.http.close()
        if failed is not None:
            raise failed


def _located(
    exc: ServerError, nodes: list[dict[str, Any]], sites: list[tuple[CodeType, int]]
) -> ServerError:
    """The error, with a note (printed under its traceback) and ``.site`` naming the line
    of user code that recorded the failing node; its message stays the server's."""
    i = exc.problem.get("node")
    if not isinstance(i, int) or not 0 <= i < len(sites):
        return exc
    exc.site = _site(sites[i])
    exc.add_note(f"the failing op, `{nodes[i]['op']}`, was recorded at {exc.site}")
    return exc
