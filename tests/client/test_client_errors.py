"""Errors: server problems as exceptions with code, status and detail; local checks; retries."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from client_testkit import running_server

from client import (
    AuthError,
    RemoteIndexError,
    RemoteRuntimeError,
    RemoteTorch,
    ServerError,
    connect,
)
from client.errors import SessionClosedError


def test_target_out_of_bounds_is_found_by_the_server(torch: RemoteTorch, ref: Any) -> None:
    logits = torch.tensor([[1.0, 2.0, 0.5], [0.25, -1.0, 2.0]], requires_grad=True)
    scaled = logits * 2  # in the same batch as the failing node
    target = torch.tensor([0, 5])
    loss = torch.nn.functional.cross_entropy(scaled, target)  # shapes fine: no local error
    with pytest.raises(RuntimeError) as info:
        loss.item()
    with pytest.raises(IndexError) as want:
        ref.nn.functional.cross_entropy(
            ref.tensor([[1.0, 2.0, 0.5], [0.1, -1.0, 2.0]]), ref.tensor([0, 5])
        )
    err = info.value
    assert isinstance(err, RemoteIndexError) and isinstance(err, IndexError)
    assert (err.code, err.status) == ("invalid_argument", 400)
    assert err.detail == str(err) == str(want.value) == "Target 5 is out of bounds."
    assert err.problem["node"] >= 0
    # what came before the failing node still exists; the failed result raises again
    assert scaled.tolist() == [[2.0, 4.0, 1.0], [0.5, -2.0, 4.0]]
    with pytest.raises(RemoteIndexError, match=r"never computed.*Target 5 is out of bounds"):
        loss.backward()
    with pytest.raises(RemoteIndexError):
        loss + 1
    good = torch.nn.functional.cross_entropy(scaled, torch.tensor([0, 2]))
    assert good.item() > 0


def test_second_backward_is_graph_freed(torch: RemoteTorch, ref: Any) -> None:
    x, rx = torch.ones(2, requires_grad=True), ref.ones(2, requires_grad=True)
    out, rout = (x * x).sum(), (rx * rx).sum()
    out.backward()
    rout.backward()
    with pytest.raises(RuntimeError) as info:
        out.backward()
    with pytest.raises(RuntimeError) as want:
        rout.backward()
    err = info.value
    assert isinstance(err, RemoteRuntimeError)
    assert (err.code, err.status) == ("graph_freed", 409)
    assert err.detail == str(want.value)
    assert x.grad is not None and x.grad.tolist() == [2.0, 2.0]  # unchanged by the failure


def test_local_shape_errors_raise_at_the_call(torch: RemoteTorch, ref: Any) -> None:
    a, ra = torch.ones(2, 3), ref.ones(2, 3)
    b, rb = torch.ones(4), ref.ones(4)
    before = torch.requests
    for call in (
        lambda t, u: t + u,
        lambda t, u: t.reshape(5),
        lambda t, u: t.sum(3),
        lambda t, u: t.transpose(0, 4),
    ):
        with pytest.raises((RuntimeError, IndexError)) as got:
            call(a, b)
        with pytest.raises((RuntimeError, IndexError)) as want:
            call(ra, rb)
        assert str(got.value) == str(want.value)
        assert type(want.value) in type(got.value).__mro__
    with pytest.raises(RuntimeError, match="must match the size"):
        a += b
    assert torch.requests == before  # found here, nothing sent


def test_unknown_session_is_an_auth_error(server: str) -> None:
    with connect(server) as torch:
        x = torch.ones(2)
        conn = torch.connection
        assert conn.http.delete(conn.prefix).status_code == 204  # gone behind its back
        with pytest.raises(AuthError) as info:
            (x * 2).tolist()
        assert (info.value.code, info.value.status) == ("session_not_found", 404)
        assert isinstance(info.value, ServerError) and info.value.detail


class FailOnce(httpx.BaseTransport):
    """Passes requests to a real transport, but fails the first one with ``method``."""

    def __init__(self, method: str) -> None:
        self.inner = httpx.HTTPTransport()
        self.method = method
        self.armed = False
        self.seen: list[str] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(f"{request.method} {request.url.path}")
        if self.armed and request.method == self.method:
            self.armed = False
            raise httpx.ConnectError("connection reset (injected)", request=request)
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


def test_reads_are_retried_after_a_network_error(server: str) -> None:
    transport = FailOnce("GET")
    with connect(server, transport=transport) as torch:
        x = torch.tensor([1.0, 2.0])
        y = x * 2
        assert y.tolist() == [2.0, 4.0]  # sent with the batch: a POST
        transport.armed = True
        transport.seen.clear()
        assert repr(x) == "tensor([1., 2.])"  # nothing pending: a GET, failed once, sent again
        assert transport.seen == [f"GET {torch.connection.prefix}/tensors/{x.name}"] * 2
        assert not transport.armed


def test_writes_are_not_retried(server: str) -> None:
    transport = FailOnce("POST")
    with connect(server, transport=transport) as torch:
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        y = x * 2
        transport.armed = True
        transport.seen.clear()
        with pytest.raises(httpx.ConnectError):
            y.sum().item()
        assert len(transport.seen) == 1  # not sent again: it may have run
        with pytest.raises(RuntimeError, match="never computed"):
            y.tolist()
        z = x * 3  # the session goes on
        assert z.tolist() == [3.0, 6.0]
        z.sum().backward()
        assert x.grad is not None and x.grad.tolist() == [3.0, 3.0]


def test_with_block_deletes_the_session(server: str) -> None:
    with connect(server) as torch:
        x = torch.ones(3, requires_grad=True)
        conn = torch.connection
        token = conn.http.headers["Authorization"]
        assert x.sum().item() == 3.0
    assert conn.closed
    r = httpx.get(server + conn.prefix, headers={"Authorization": token})
    assert r.status_code == 404 and r.json()["code"] == "session_not_found"
    with pytest.raises(SessionClosedError):
        (x * 2).tolist()
    torch.close()  # closing twice is fine


def test_close_deletes_the_session(server: str) -> None:
    torch = connect(server)
    conn = torch.connection
    token = conn.http.headers["Authorization"]
    torch.close()
    r = httpx.get(server + conn.prefix, headers={"Authorization": token})
    assert r.status_code == 404


def test_bad_url_or_key_fails_at_connect(server: str) -> None:
    with pytest.raises(httpx.TransportError):
        connect("http://127.0.0.1:9", timeout=2.0)
    with pytest.raises(ServerError) as info:
        connect(server, backend="no-such-backend")
    assert (info.value.status, info.value.code) == (422, "validation_error")


def test_api_key_is_sent(server: str) -> None:
    with running_server({"GRADSERVE_API_KEYS": "k1,k2"}) as url:
        with pytest.raises(AuthError) as info:
            connect(url)
        assert (info.value.code, info.value.status) == ("unauthorized", 401)
        with connect(url, api_key="k2") as torch:
            assert (torch.ones(2) * 2).tolist() == [2.0, 2.0]


def test_a_free_the_server_refuses_does_not_wedge_the_session(torch: RemoteTorch) -> None:
    x = torch.ones(2)
    conn = torch.connection
    conn.bound.add("_never_bound")  # a bookkeeping slip: the server has no such name
    conn.release("_never_bound")
    before = torch.requests
    assert (x * 2).tolist() == [2.0, 2.0]  # refused once for the free, sent again without it
    assert torch.requests == before + 2
    assert "_never_bound" not in conn.bound
