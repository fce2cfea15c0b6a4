"""An optimizer's state lives in the session: with the Redis store it survives a switch
of replica (two ``gradserve serve`` processes, alternating), and the steps equal the
engine's in process."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import numpy as np
import pytest
from scale_kit import Server, Session, servers

import engine

W0 = [[0.5, -1.0, 0.25], [2.0, 0.75, -0.5]]


@pytest.fixture(scope="module")
def replicas(redis_url: str) -> Iterator[list[Server]]:
    spec = (["--store", redis_url], {})
    with servers(spec, spec) as started:
        yield started


@pytest.mark.parametrize(
    ("kind", "options"),
    [
        ("adam", {"lr": 0.1, "amsgrad": True}),
        ("sgd", {"lr": 0.1, "momentum": 0.9, "nesterov": True}),
    ],
)
def test_optimizer_state_survives_replica_switches(
    replicas: list[Server], kind: str, options: dict[str, object]
) -> None:
    clients = [httpx.Client(base_url=s.url, timeout=60) for s in replicas]
    try:
        s = Session.open(clients[:1], seed=0).on(clients)  # every call to the other replica
        s.create(name="w", value={"data": W0, "dtype": "float64"}, requires_grad=True)
        s.ok(
            "POST",
            "/optimizers",
            201,
            json={
                "kind": kind,
                "name": "opt",
                "param_groups": [{"params": ["w"]}],
                "defaults": options,
            },
        )
        w = engine.tensor(W0, dtype=engine.float64, requires_grad=True)
        ref = engine.optim.BY_KIND[kind]([w], **options)
        for _ in range(6):
            s.run(
                [
                    {"name": "sq", "op": "mul", "args": ["w", "w"]},
                    {"name": "loss", "op": "sum", "args": ["sq"]},
                ]
            )
            assert s.backward("loss").status_code == 200
            s.ok("POST", "/optimizers/opt/step")
            s.ok("POST", "/optimizers/opt/zero_grad", 204, json={})
            (w * w).sum().backward()
            ref.step()
            ref.zero_grad()
        assert set(s.served) == {str(c.base_url) for c in clients}
        np.testing.assert_allclose(np.array(s.value("w")), w.detach().numpy(), rtol=1e-13)
        state = s.ok("GET", "/optimizers/opt/state", params={"encoding": "json"})
        for key, value in ref.state_dict()["state"][0].items():
            got = state["state"]["0"][key]
            if key == "step":
                assert got == 6.0
            else:
                np.testing.assert_allclose(got["data"], value.numpy(), rtol=1e-13, err_msg=key)
        info = s.ok("GET", "/optimizers/opt")
        assert info["steps"] == 6 and info["state_bytes"] > 0
        s.ok("DELETE", "", 204)
    finally:
        for c in clients:
            c.close()
