"""The hot routes' fast path (orjson body, the session opened once, no FastAPI dependency
solving) and the inline/offload threshold (GRADSERVE_INLINE_MAX_BYTES)."""

from __future__ import annotations

import threading
from typing import Any

import httpx
import pytest
from service_testkit import assert_problem, make_settings, open_session, serve

from service.deps import get_session

pytestmark = pytest.mark.anyio

TUTORIAL = [
    {"name": "y", "op": "add", "args": ["x", 2]},
    {"name": "z", "op": "mul", "args": ["y", "y"]},
    {"name": "z", "op": "mul", "args": ["z", 3]},
    {"name": "out", "op": "mean", "args": ["z"]},
]


def _computed(app: Any) -> dict[str, float]:
    """gradserve_compute_total by where the work ran."""
    out = {"inline": 0.0, "pool": 0.0}
    for metric in app.state.metrics.registry.collect():
        if metric.name == "gradserve_compute":
            for s in metric.samples:
                if s.name.endswith("_total"):
                    out[s.labels["where"]] = s.value
    return out


def _delta(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {k: after[k] - before[k] for k in before}


async def _tutorial_session(c: httpx.AsyncClient, shape: list[int]) -> Any:
    s = await open_session(c, seed=0)
    r = await s.post(
        "/tensors", {"name": "x", "fill": "ones", "shape": shape, "requires_grad": True}
    )
    assert r.status_code == 201, r.text
    return s


async def test_small_requests_run_inline_large_ones_on_the_pool() -> None:
    async with serve(make_settings(inline_max_bytes=64 * 1024)) as c:
        app = c.app  # type: ignore[attr-defined]
        small = await _tutorial_session(c, [2, 2])
        before = _computed(app)
        r = await small.post("/graph", {"nodes": TUTORIAL, "return": ["out"], "include": ["data"]})
        assert r.status_code == 200, r.text
        assert r.json()["tensors"]["out"]["data"]["data"] == 27.0
        r = await small.post("/backward", {"tensor": "out", "retain_graph": True})
        assert r.status_code == 200, r.text
        assert r.json()["grads"]["x"]["data"] == [[4.5, 4.5], [4.5, 4.5]], r.json()
        r = await small.post("/grad", {"outputs": ["out"], "inputs": ["x"], "retain_graph": True})
        assert r.status_code == 200, r.text
        r = await small.get("/tensors/x/data")
        assert r.status_code == 200
        assert _delta(before, _computed(app)) == {"inline": 4, "pool": 0}

        # 256 KiB of float32: every step reads more than the threshold
        large = await _tutorial_session(c, [256, 256])  # the fill itself: 512 KiB estimated
        before = _computed(app)
        r = await large.post("/graph", {"nodes": TUTORIAL, "return": ["out"]})
        assert r.status_code == 200, r.text
        r = await large.post("/backward", {"tensor": "out"})
        assert r.status_code == 200, r.text
        r = await large.get("/tensors/x/data", params={"encoding": "b64"})
        assert r.status_code == 200
        assert _delta(before, _computed(app)) == {"inline": 0, "pool": 3}


async def test_the_threshold_is_a_setting_and_zero_offloads_everything() -> None:
    async with serve(make_settings(inline_max_bytes=0)) as c:
        app = c.app  # type: ignore[attr-defined]
        s = await _tutorial_session(c, [2, 2])
        before = _computed(app)
        r = await s.post("/graph", {"nodes": TUTORIAL, "return": ["out"]})
        assert r.status_code == 200, r.text
        assert _delta(before, _computed(app)) == {"inline": 0, "pool": 1}
    # a threshold between the two sizes: a 16-element graph inline, a 4096-element one not
    async with serve(make_settings(inline_max_bytes=8 * 1024)) as c:
        app = c.app  # type: ignore[attr-defined]
        for shape, where in (([4, 4], "inline"), ([64, 64], "pool")):
            s = await _tutorial_session(c, shape)
            before = _computed(app)
            r = await s.post("/graph", {"nodes": TUTORIAL, "return": ["out"]})
            assert r.status_code == 200, r.text
            assert _delta(before, _computed(app))[where] == 1, (shape, where)


async def test_inline_work_runs_on_the_event_loop_thread(monkeypatch: Any) -> None:
    from service.routes import graph

    seen: list[str] = []
    real = graph.run_graph

    def spy(*args: Any) -> Any:
        seen.append(threading.current_thread().name)
        return real(*args)

    monkeypatch.setattr(graph, "run_graph", spy)
    async with serve(make_settings(inline_max_bytes=64 * 1024)) as c:
        loop_thread = threading.current_thread().name
        for shape in ([2, 2], [256, 256]):
            s = await _tutorial_session(c, shape)
            r = await s.post("/graph", {"nodes": TUTORIAL, "return": ["out"]})
            assert r.status_code == 200, r.text
    assert seen[0] == loop_thread
    assert seen[1] != loop_thread


async def test_the_fast_path_skips_fastapi_and_leaves_errors_to_it() -> None:
    """A valid body never reaches FastAPI's dependencies; an invalid one gets FastAPI's 422
    (and its order: authentication first)."""
    async with serve() as c:
        app = c.app  # type: ignore[attr-defined]
        s = await _tutorial_session(c, [2, 2])
        calls: list[str] = []

        async def counted(*args: Any, **kwargs: Any) -> Any:
            calls.append("fastapi")
            raise AssertionError("FastAPI's dependency ran")

        app.dependency_overrides[get_session] = counted
        r = await s.post("/graph", {"nodes": TUTORIAL, "return": ["out"]})
        assert r.status_code == 200, r.text
        r = await s.post("/backward", {"tensor": "out", "retain_graph": True})
        assert r.status_code == 200, r.text
        r = await s.post("/tensors", {"name": "w", "value": [1.0, 2.0]})
        assert r.status_code == 201, r.text
        assert calls == []
        app.dependency_overrides.clear()

        # a body the model refuses: FastAPI's own 422
        r = await s.post("/graph", {"nodes": "no"})
        assert_problem(r, 422, "validation_error")
        # not JSON at all
        r = await s.post("/graph", content=b"{nope", headers={"Content-Type": "application/json"})
        assert r.status_code == 422, r.text
        # a valid body with a wrong token: the session's 404, as before
        r = await c.post(
            s.url("/graph"),
            json={"nodes": TUTORIAL},
            headers={"Authorization": "Bearer wrong"},
        )
        assert_problem(r, 404, "session_not_found")
        r = await c.post(s.url("/graph"), json={"nodes": TUTORIAL})
        assert_problem(r, 401, "unauthorized")
        # an invalid body and no token: authentication answers first (FastAPI's order)
        r = await c.post(s.url("/graph"), json={"nodes": "no"})
        assert_problem(r, 401, "unauthorized")
        # an engine error inside the fast path: the same problem as ever
        r = await s.post("/graph", {"nodes": [{"name": "q", "op": "nope", "args": ["x"]}]})
        assert_problem(r, 400, "unknown_op")
