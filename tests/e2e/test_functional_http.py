"""``torch.autograd.functional`` over real HTTP: a ``gradserve serve`` process with an API key
and a short deadline, the session and stateless endpoints, torch as the reference."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
import torch
from e2e_http import Session, SpawnServer, assert_problem

# f(w, x) = sum(tanh(w * x) ** 2)
TEMPLATE: dict[str, Any] = {
    "inputs": ["w", "x"],
    "nodes": [
        {"name": "p", "op": "mul", "args": ["w", "x"]},
        {"name": "t", "op": "tanh", "args": ["p"]},
        {"name": "sq", "op": "pow", "args": ["t", 2]},
        {"name": "out", "op": "sum", "args": ["sq"]},
    ],
    "outputs": ["out"],
}
W = [0.5, -1.0, 1.5]
X = [2.0, 0.25, -0.5]


def f(w: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    return (torch.tanh(w * x) ** 2).sum()


def f64(a: list[float]) -> dict[str, Any]:
    return {"data": a, "dtype": "float64"}


def test_functional_over_http(spawn_server: SpawnServer) -> None:
    server = spawn_server(
        env={"GRADSERVE_API_KEYS": "secret", "GRADSERVE_MAX_REQUEST_SECONDS": "2"}
    )
    key = {"X-API-Key": "secret"}
    with httpx.Client(base_url=server.url, timeout=60, headers=key) as http:
        # stateless: the hessian, block by block, as torch's
        r = http.post(
            "/v1/functional",
            json={"fn": "hessian", "graph": TEMPLATE, "inputs": [f64(W), f64(X)]},
        )
        assert r.status_code == 200, r.text
        want = torch.autograd.functional.hessian(
            f, (torch.tensor(W, dtype=torch.float64), torch.tensor(X, dtype=torch.float64))
        )
        for i in range(2):
            for j in range(2):
                got = r.json()["result"][i][j]["data"]["data"]
                np.testing.assert_allclose(got, want[i][j].numpy(), rtol=1e-10)

        # session: hvp with create_graph on leaves that require grad, bound; then a backward
        # through the bound result reaches the leaves (a third derivative), as torch
        s = Session.open(http)
        s.create(name="w", value=f64(W), requires_grad=True)
        s.create(name="x", value=f64(X))
        s.create(name="v", value=f64([1.0, 0.0, -1.0]))
        r = s.request(
            "POST",
            "/functional",
            json={
                "fn": "hvp",
                "graph": TEMPLATE,
                "inputs": ["w", "x"],
                "v": ["v", "v"],
                "create_graph": True,
                "bind": {"result": ["hw", None]},
                "return": False,
            },
        )
        assert r.status_code == 200, r.text
        assert r.json() == {"fn": "hvp", "outputs": None, "result": None}
        s.run([{"name": "s", "op": "sum", "args": ["hw"]}])
        assert s.backward("s").status_code == 200

        w = torch.tensor(W, dtype=torch.float64, requires_grad=True)
        x = torch.tensor(X, dtype=torch.float64)
        v = torch.tensor([1.0, 0.0, -1.0], dtype=torch.float64)
        _, (hw, _) = torch.autograd.functional.hvp(f, (w, x), (v, v), create_graph=True)
        hw.sum().backward()
        assert w.grad is not None
        np.testing.assert_allclose(s.value("hw"), hw.detach().numpy(), rtol=1e-10)
        np.testing.assert_allclose(s.grad("w"), w.grad.numpy(), rtol=1e-10)

        # torch's strict-mode error, over the wire
        r = s.request(
            "POST",
            "/functional",
            json={
                "fn": "vjp",
                "graph": {
                    "inputs": ["a", "b"],
                    "nodes": [{"name": "out", "op": "sum", "args": ["a"]}],
                    "outputs": ["out"],
                },
                "inputs": ["w", "x"],
                "strict": True,
            },
        )
        assert assert_problem(r, 400, "invalid_argument")["detail"] == (
            "The output of the user-provided function is independent of input 1. This is not "
            "allowed in strict mode."
        )

        # a jacobian of 20,000 x 20,000 float32 (1.6 GB): refused by a limit (the deadline, the
        # request budget or the element limit, whichever it meets first), nothing bound, and
        # the server still serves
        r = s.request(
            "POST",
            "/functional",
            json={
                "fn": "jacobian",
                "graph": {
                    "inputs": ["a"],
                    "nodes": [{"name": "e", "op": "exp", "args": ["a"]}],
                    "outputs": ["e"],
                },
                "inputs": [[0.5] * 20_000],
                "bind": {"result": [["big"]]},
            },
        )
        assert r.status_code in (413, 504, 507), r.text
        assert r.headers["content-type"] == "application/problem+json"
        assert s.request("GET", "/tensors/big").status_code == 404
        assert http.get("/healthz").status_code == 200
        assert s.value("hw") is not None
        s.delete()
        # the stateless route without the key
        r = http.post(
            "/v1/functional",
            json={"fn": "hessian", "graph": TEMPLATE, "inputs": [W, X]},
            headers={"X-API-Key": ""},
        )
        assert_problem(r, 401, "unauthorized")
