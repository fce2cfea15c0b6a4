"""Round trips to Redis per warm small request: one script that checks the token, takes the
lease and returns meta and graph; one that saves fenced by the lease and releases it.

Counted on the wire: every packet redis-py sends (a pipeline or a script is one).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from redis.asyncio.connection import Connection
from scale_kit import ASess, app_for

from service.stores import RedisStore

pytestmark = pytest.mark.anyio

TUTORIAL = [
    {"name": "y", "op": "add", "args": ["x", 2]},
    {"name": "z", "op": "mul", "args": ["y", "y"]},
    {"name": "z", "op": "mul", "args": ["z", 3]},
    {"name": "out", "op": "mean", "args": ["z"]},
]


@pytest.fixture
def sends(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:
    """A one-item list: how many times any Redis connection sent a request packet."""
    count = [0]
    real = Connection.send_packed_command

    async def counted(self: Any, command: Any, check_health: bool = True) -> None:
        count[0] += 1
        await real(self, command, check_health)

    monkeypatch.setattr(Connection, "send_packed_command", counted)
    yield count


async def test_a_warm_small_request_takes_at_most_three_round_trips(
    redis_server: object, sends: list[int]
) -> None:
    url = redis_server.fresh_db()  # type: ignore[attr-defined]
    async with app_for(url, sweep_interval_seconds=3600) as client:  # no sweeper traffic
        store = client.app.state.manager.store  # type: ignore[attr-defined]
        assert isinstance(store, RedisStore)
        s = await ASess.open(client)
        await s.create(name="x", fill="ones", shape=[2, 2], requires_grad=True)
        body = {"nodes": TUTORIAL, "return": ["out"], "include": ["data"]}
        r = await s.post("/graph", body)  # warms the scripts and this replica's cache
        assert r.status_code == 200, r.text
        for path, payload in (
            ("/graph", body),
            ("/backward", {"tensor": "out", "retain_graph": True}),
            ("/grad", {"outputs": ["out"], "inputs": ["x"], "retain_graph": True}),
        ):
            before, counted = sends[0], store.round_trips
            r = await s.post(path, payload)
            assert r.status_code == 200, (path, r.text)
            assert sends[0] - before <= 3, (path, sends[0] - before)
            assert store.round_trips - counted == 2, path  # open script, save-and-release
        before = sends[0]
        assert (await s.get("/tensors/x/data")).status_code == 200
        assert sends[0] - before <= 3
        assert r.json()["grads"]["x"]["data"] == [[4.5, 4.5], [4.5, 4.5]]


async def test_failed_and_refused_requests_release_the_lease(
    redis_server: object, sends: list[int]
) -> None:
    url = redis_server.fresh_db()  # type: ignore[attr-defined]
    async with app_for(url, sweep_interval_seconds=3600) as client:  # no sweeper traffic
        store = client.app.state.manager.store  # type: ignore[attr-defined]
        s = await ASess.open(client)
        await s.create(name="x", value=[1.0, 2.0], requires_grad=True)
        # an op error: nothing saved, the lease released, the session as it was (the second
        # time counted: the first loads the release script into Redis)
        bad = {"nodes": [{"name": "q", "op": "nope", "args": ["x"]}]}
        assert (await s.post("/graph", bad)).status_code == 400
        before = sends[0]
        r = await s.post("/graph", bad)
        assert r.status_code == 400, r.text
        assert sends[0] - before <= 2
        assert await store.redis.get(f"gs:{{{s.id}}}:lock") is None
        # a wrong token: refused by the open script, no lease taken
        r = await client.post(
            s.url("/graph"),
            json={"nodes": []},
            headers={"Authorization": "Bearer wrong"},
        )
        assert r.status_code == 404, r.text
        assert await store.redis.get(f"gs:{{{s.id}}}:lock") is None
        # the session still works, and a deleted one is gone
        assert (
            await s.post("/graph", {"nodes": [{"name": "w", "op": "neg", "args": ["x"]}]})
        ).status_code == 200
        assert (await s.delete()).status_code == 204
        assert await store.keys_of(s.id) == []


async def test_a_busy_session_waits_for_the_lease(redis_server: object) -> None:
    """A request that finds the lease taken waits for it (the waiting path), then runs."""
    url = redis_server.fresh_db()  # type: ignore[attr-defined]
    async with app_for(url, sweep_interval_seconds=3600) as client:  # no sweeper traffic
        store = client.app.state.manager.store  # type: ignore[attr-defined]
        s = await ASess.open(client)
        await s.create(name="x", value=[1.0, 2.0], requires_grad=True)
        lock = f"gs:{{{s.id}}}:lock"
        assert await store.redis.set(lock, "someone-else", px=300)  # another holder, briefly
        r = await s.post("/graph", {"nodes": [{"name": "w", "op": "neg", "args": ["x"]}]})
        assert r.status_code == 200, r.text
        assert await store.redis.get(lock) is None
