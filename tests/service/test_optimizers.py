"""/v1/sessions/{id}/optimizers: create, step, zero_grad, state, delete; errors as problems."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from service_testkit import Sess, assert_problem

import engine

pytestmark = pytest.mark.anyio

W0 = [[0.5, -1.0], [2.0, 0.25]]


async def _leaf(sess: Sess, name: str, data: Any) -> None:
    r = await sess.post(
        "/tensors",
        {"name": name, "value": {"data": data, "dtype": "float64"}, "requires_grad": True},
    )
    assert r.status_code == 201, r.text


async def _loss_backward(sess: Sess) -> None:
    nodes = [
        {"name": "sq", "op": "mul", "args": ["w", "w"], "kwargs": {}},
        {"name": "loss", "op": "sum", "args": ["sq"], "kwargs": {}},
    ]
    r = await sess.post("/graph", {"nodes": nodes, "return": []})
    assert r.status_code == 200, r.text
    r = await sess.post("/backward", {"tensor": "loss"})
    assert r.status_code == 200, r.text


async def _values(sess: Sess, name: str) -> np.ndarray:
    r = await sess.get(f"/tensors/{name}", params={"include": "data"})
    return np.asarray(r.json()["data"]["data"], dtype=np.float64)


async def test_adam_step_matches_the_engine(sess: Sess) -> None:
    await _leaf(sess, "w", W0)
    r = await sess.post(
        "/optimizers",
        {
            "kind": "adam",
            "param_groups": [{"params": ["w"]}],
            "defaults": {"lr": 0.1, "amsgrad": True},
        },
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["name"] == "opt0" and created["kind"] == "adam" and created["steps"] == 0
    assert created["param_groups"][0]["lr"] == 0.1 and created["param_groups"][0]["params"] == ["w"]

    w = engine.tensor(W0, dtype=engine.float64, requires_grad=True)
    ref = engine.optim.Adam([w], lr=0.1, amsgrad=True)
    for i in range(3):
        await _loss_backward(sess)
        r = await sess.post("/optimizers/opt0/step", {} if i else None)
        assert r.status_code == 200, r.text
        assert r.json()["steps"] == i + 1 and r.json()["updated"] == 1
        r = await sess.post("/optimizers/opt0/zero_grad", {})
        assert r.status_code == 204
        (w * w).sum().backward()
        ref.step()
        ref.zero_grad()
    np.testing.assert_allclose(await _values(sess, "w"), w.detach().numpy(), rtol=1e-14)
    r = await sess.get("/tensors/w", params={"include": "grad"})
    assert r.json()["grad"] is None

    r = await sess.get("/optimizers/opt0/state", params={"encoding": "json"})
    state = r.json()
    assert set(state["state"]["0"]) == {"step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"}
    assert state["state"]["0"]["step"] == 3.0
    np.testing.assert_allclose(
        state["state"]["0"]["exp_avg"]["data"], ref.state[w]["exp_avg"], rtol=1e-14
    )
    assert state["param_groups"][0]["params"] == [0]
    info = (await sess.get("/optimizers/opt0")).json()
    assert info["steps"] == 3 and info["state_bytes"] == 3 * 4 * 8


async def test_state_counts_in_the_session_and_goes_with_delete(sess: Sess) -> None:
    await _leaf(sess, "w", np.zeros((64, 64)).tolist())
    before = (await sess.get("")).json()["bytes"]
    r = await sess.post(
        "/optimizers",
        {"kind": "sgd", "name": "m", "param_groups": [{"params": ["w"], "momentum": 0.9}]},
    )
    assert r.status_code == 201, r.text
    await _loss_backward(sess)
    assert (await sess.post("/optimizers/m/step")).status_code == 200
    after = (await sess.get("")).json()["bytes"]
    assert after - before >= 64 * 64 * 8  # the momentum buffer
    r = await sess.post(
        "/graph", {"nodes": [{"name": "l2", "op": "sum", "args": ["w"]}], "return": []}
    )
    r = await sess.post("/backward", {"tensor": "l2"})
    assert list(r.json()["grads"]) == ["w"]  # not the optimizer's alias of it
    overview = [t["name"] for t in (await sess.get("/overview")).json()["tensors"]]
    assert not [n for n in overview if n.startswith("#")]
    listed = [t["name"] for t in (await sess.get("/tensors")).json()["tensors"]]
    assert listed == ["w", "sq", "loss", "l2"]  # the optimizer's own names are not the client's
    assert (await sess.get("")).json()["tensor_count"] == 4
    assert (await sess.delete("/optimizers/m")).status_code == 204
    assert_problem(await sess.get("/optimizers/m"), 404, "optimizer_not_found")


async def test_scheduler_lr_travels_with_the_step(sess: Sess) -> None:
    await _leaf(sess, "w", W0)
    await sess.post(
        "/optimizers", {"kind": "sgd", "param_groups": [{"params": ["w"]}], "defaults": {"lr": 1.0}}
    )
    await _loss_backward(sess)
    r = await sess.post("/optimizers/opt0/step", {"param_groups": [{"lr": 0.5}]})
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(await _values(sess, "w"), np.array(W0) * (1 - 2 * 0.5))
    assert (await sess.get("/optimizers/opt0")).json()["param_groups"][0]["lr"] == 0.5


@pytest.mark.parametrize(
    ("body", "status", "code", "detail"),
    [
        (
            {"kind": "sgd", "param_groups": [{"params": ["w"]}], "defaults": {"lr": -1}},
            400,
            "invalid_argument",
            "Invalid learning rate",
        ),
        (
            {"kind": "sgd", "param_groups": [{"params": ["w"]}], "defaults": {"nesterov": True}},
            400,
            "invalid_argument",
            "Nesterov",
        ),
        (
            {"kind": "adam", "param_groups": [{"params": ["w"], "betas": [1.5, 0.9]}]},
            400,
            "invalid_argument",
            "beta parameter at index 0",
        ),
        (
            {"kind": "adam", "param_groups": [{"params": ["w"]}], "defaults": {"momentum": 0.9}},
            400,
            "invalid_argument",
            "unknown option",
        ),
        ({"kind": "sgd", "param_groups": [{"params": ["nope"]}]}, 404, "tensor_not_found", "nope"),
        (
            {"kind": "sgd", "param_groups": [{"params": ["w"]}, {"params": ["w"]}]},
            400,
            "invalid_argument",
            "more than one parameter group",
        ),
        (
            {"kind": "sgd", "param_groups": [{"params": ["y2"]}]},
            400,
            "invalid_argument",
            "non-leaf",
        ),
        ({"kind": "lbfgs", "param_groups": [{"params": ["w"]}]}, 422, "validation_error", ""),
        ({"kind": "sgd", "param_groups": []}, 422, "validation_error", ""),
    ],
)
async def test_bad_optimizers_are_problems(
    sess: Sess, body: Any, status: int, code: str, detail: str
) -> None:
    await _leaf(sess, "w", W0)
    r = await sess.post(
        "/graph",
        {"nodes": [{"name": "y2", "op": "mul", "args": ["w", 2], "kwargs": {}}], "return": []},
    )
    assert r.status_code == 200
    problem = assert_problem(await sess.post("/optimizers", body), status, code)
    assert detail in problem["detail"]


async def test_bad_steps_are_problems(sess: Sess) -> None:
    await _leaf(sess, "w", W0)
    await sess.post("/optimizers", {"kind": "sgd", "param_groups": [{"params": ["w"]}]})
    assert_problem(await sess.post("/optimizers/nope/step"), 404, "optimizer_not_found")
    p = assert_problem(
        await sess.post("/optimizers/opt0/step", {"param_groups": [{}, {}]}),
        400,
        "invalid_argument",
    )
    assert "param_groups" in p["detail"]
    p = assert_problem(
        await sess.post("/optimizers/opt0/step", {"param_groups": [{"lr": -2}]}),
        400,
        "invalid_argument",
    )
    assert "Invalid learning rate" in p["detail"]
    assert_problem(
        await sess.post("/optimizers/opt0/zero_grad", {"bogus": 1}), 422, "validation_error"
    )
    bad_options = [
        {"lr": 10**400},
        {"momentum": -(10**309)},
        {"dampening": "x"},
        {"nesterov": 1},
        {"betas": [0.9]},
        {"lr": None},
        {"params": ["w"]},
    ]
    for bad in bad_options:
        p = assert_problem(
            await sess.post("/optimizers/opt0/step", {"param_groups": [bad]}),
            400,
            "invalid_argument",
        )
    assert (await sess.get("/optimizers/opt0")).json()["steps"] == 0


async def test_step_over_the_quota_changes_nothing(client: Any) -> None:
    from service_testkit import make_settings, open_session, serve

    async with serve(make_settings(max_session_bytes=100_000)) as c:
        s = await open_session(c, seed=0)
        await _leaf(s, "w", np.ones((50, 50)).tolist())  # 20 kB; Adam's state adds 40 kB twice over
        await _leaf(s, "v", np.ones((50, 50)).tolist())
        r = await s.post("/optimizers", {"kind": "adam", "param_groups": [{"params": ["w", "v"]}]})
        assert r.status_code == 201
        nodes = [
            {"name": "a", "op": "mul", "args": ["w", "v"], "kwargs": {}},
            {"name": "loss", "op": "sum", "args": ["a"], "kwargs": {}},
        ]
        assert (await s.post("/graph", {"nodes": nodes, "return": []})).status_code == 200
        assert (await s.post("/backward", {"tensor": "loss"})).status_code == 200
        assert_problem(await s.post("/optimizers/opt0/step"), 507, "session_quota_exceeded")
        np.testing.assert_array_equal(await _values(s, "w"), np.ones((50, 50)))
        assert (await s.get("/optimizers/opt0")).json()["steps"] == 0


async def test_state_put_back_and_bad_states(sess: Sess) -> None:
    await _leaf(sess, "w", W0)
    body = {"kind": "sgd", "param_groups": [{"params": ["w"], "momentum": 0.9}]}
    assert (await sess.post("/optimizers", body)).status_code == 201
    await _loss_backward(sess)
    assert (await sess.post("/optimizers/opt0/step")).status_code == 200
    saved = (await sess.get("/optimizers/opt0/state", params={"encoding": "json"})).json()
    buf = np.array(saved["state"]["0"]["momentum_buffer"]["data"])
    np.testing.assert_allclose(buf, 2 * np.array(W0))
    saved["param_groups"][0]["lr"] = 0.5
    saved["state"]["0"]["momentum_buffer"] = {"data": np.ones((2, 2)).tolist(), "dtype": "float32"}
    r = await sess.put("/optimizers/opt0/state", json=saved, headers={})
    assert r.status_code == 200, r.text
    assert r.json()["param_groups"][0]["lr"] == 0.5
    again = (await sess.get("/optimizers/opt0/state", params={"encoding": "json"})).json()
    assert again["state"]["0"]["momentum_buffer"] == {
        "data": [[1.0, 1.0], [1.0, 1.0]],
        "dtype": "float64",
    }
    bad_states = [
        ({"momentum_buffer": {"data": [1.0, 2.0]}}, "shape"),
        ({"momentum_buffer": {"data": [[1.0, 1.0], [1.0, 1.0]]}, "exp_avg": {"data": 1.0}}, "keys"),
        ({"momentum_buffer": {"nope": 1}}, "TensorData"),
    ]
    for entry, words in bad_states:
        body = {"state": {"0": entry}, "param_groups": saved["param_groups"]}
        p = assert_problem(
            await sess.put("/optimizers/opt0/state", json=body), 400, "invalid_argument"
        )
        assert words in p["detail"], p
    body = {"state": {}, "param_groups": saved["param_groups"] * 2}
    assert_problem(await sess.put("/optimizers/opt0/state", json=body), 400, "invalid_argument")
    body = {"state": {}, "param_groups": [{**saved["param_groups"][0], "lr": "fast"}]}
    assert_problem(await sess.put("/optimizers/opt0/state", json=body), 400, "invalid_argument")
    # an empty state is torch's fresh optimizer: the buffer goes, and its bytes with it
    body = {"state": {}, "param_groups": saved["param_groups"]}
    assert (await sess.put("/optimizers/opt0/state", json=body)).status_code == 200
    assert (await sess.get("/optimizers/opt0")).json()["state_bytes"] == 0


async def test_openapi_documents_the_optimizer_endpoints_with_examples(client: Any) -> None:
    doc = (await client.get("/openapi.json")).json()
    base = "/v1/sessions/{session_id}/optimizers"
    expected = {
        base: {"post"},
        base + "/{name}": {"get", "delete"},
        base + "/{name}/step": {"post"},
        base + "/{name}/zero_grad": {"post"},
        base + "/{name}/state": {"get", "put"},
    }
    for path, methods in expected.items():
        assert methods <= set(doc["paths"][path]), path
    schemas = doc["components"]["schemas"]
    for model in ("OptimizerCreate", "OptimizerStep", "OptimizerZeroGrad", "OptimizerState"):
        assert schemas[model].get("examples"), model
    create = doc["paths"][base]["post"]
    assert {"400", "404", "422", "507"} <= set(create["responses"])
