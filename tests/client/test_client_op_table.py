"""The client's surfaces come from the op table; connect refuses a server with another table."""

from __future__ import annotations

import json
from typing import Any

import httpx
import numpy as np
import pytest

from client import OpTableMismatchError, RemoteTensor, RemoteTorch, connect
from client.tensor import SPECS


def test_every_wire_op_is_on_the_client(torch: RemoteTorch) -> None:
    for name, spec in SPECS.items():
        if name not in spec["wire"] or name == "index":  # index: x[key]
            continue
        for alias in (name, *spec["aliases"]):
            if "method" in spec["variants"]:
                assert callable(getattr(RemoteTensor, alias)), alias
            if {"function", "nn"} & set(spec["variants"]):
                assert callable(getattr(torch, alias)), alias
        if "nn" in spec["variants"]:
            assert callable(getattr(torch.nn.functional, name)), name
        for wire_name in spec["wire"]:
            if wire_name.endswith("_") and wire_name != name:
                assert callable(getattr(RemoteTensor, wire_name)), wire_name


def test_keyword_calls_bind_as_torch(torch: RemoteTorch, ref: Any) -> None:
    a = np.linspace(-1, 1, 6).reshape(2, 3)
    b = np.linspace(2, -1, 6).reshape(3, 2)
    ra, rb = torch.tensor(a), torch.tensor(b)
    ta, tb = ref.tensor(a), ref.tensor(b)
    pairs = [
        (torch.matmul(input=ra, other=rb), ref.matmul(input=ta, other=tb)),
        (ra.sum(dim=1, keepdim=True), ta.sum(dim=1, keepdim=True)),
        (torch.clip(ra, min=-0.5), ref.clip(ta, min=-0.5)),
        (ra.reshape(3, 2) * 2, ta.reshape(3, 2) * 2),
        (torch.nn.functional.softplus(ra, beta=2.0), ref.nn.functional.softplus(ta, beta=2.0)),
    ]
    for got, want in pairs:
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-12)
    c = torch.tensor(a)
    c.add_(ra, alpha=3)
    np.testing.assert_allclose(c.numpy(), a * 4)


def test_hypot_function_method_and_in_place(torch: RemoteTorch, ref: Any) -> None:
    a, b = np.array([[3.0, -1.5], [0.5, 2.0]]), np.array([4.0, -0.25])
    ra, rb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    ta, tb = ref.tensor(a, requires_grad=True), ref.tensor(b, requires_grad=True)
    out, want = torch.hypot(ra, rb), ref.hypot(ta, tb)
    assert out.grad_fn is not None and out.grad_fn.name() == "HypotBackward0"
    np.testing.assert_allclose(out.detach().numpy(), want.detach().numpy())
    (out.sum() + ra.hypot(other=rb).sum()).backward()
    (want.sum() + ta.hypot(other=tb).sum()).backward()
    assert ra.grad is not None and rb.grad is not None
    np.testing.assert_allclose(ra.grad.numpy(), ta.grad.numpy())
    np.testing.assert_allclose(rb.grad.numpy(), tb.grad.numpy())
    c, tc = torch.tensor(a), ref.tensor(a)
    c.hypot_(torch.tensor(b))
    tc.hypot_(ref.tensor(b))
    np.testing.assert_allclose(c.numpy(), tc.numpy())


class OtherTable(httpx.BaseTransport):
    """A real server, but its GET /v1/ops answers another table version."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.deleted = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method == "DELETE":
            self.deleted = True
        if request.url.path != "/v1/ops":
            return response
        body = json.loads(response.read())
        body["version"] = "0000000000000000"
        return httpx.Response(200, json=body)

    def close(self) -> None:
        self.inner.close()


def test_connect_refuses_a_server_with_another_op_table(server: str) -> None:
    transport = OtherTable()
    with pytest.raises(OpTableMismatchError, match="op table version '0000000000000000'"):
        connect(server, transport=transport)
    assert transport.deleted  # the session it opened is gone
