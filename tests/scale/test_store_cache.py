"""What a request moves between a replica and Redis: each replica caches immutable buffers.

``RedisStore.moved`` (and the ``gradserve_store_bytes_*`` gauges in /metrics) count the
payload bytes a process moved to and from Redis.
"""

from __future__ import annotations

import numpy as np
import pytest
from scale_kit import ASess, app_for, f32

import engine
from service.stores import RedisStore, Session

pytestmark = pytest.mark.anyio
MB = 1 << 20


def _moved(client: object) -> dict[str, int]:
    store = client.app.state.manager.store  # type: ignore[attr-defined]
    assert isinstance(store, RedisStore)
    return dict(store.moved)


async def _gauge(client: object, name: str) -> float:
    text = (await client.get("/metrics")).text  # type: ignore[attr-defined]
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


async def test_a_warm_replica_moves_no_bytes_for_unchanged_tensors(redis_server: object) -> None:
    url = redis_server.fresh_db()  # type: ignore[attr-defined]
    async with app_for(url) as client:
        s = await ASess.open(client)
        await s.create(name="x", fill="ones", shape=[256, 256], requires_grad=True)
        await s.run(
            [
                {"name": "y", "op": "mul", "args": ["x", "x"]},
                {"name": "o", "op": "sum", "args": ["y"]},
            ]
        )
        await s.backward("o", retain_graph=True)
        before = _moved(client)
        assert before["from_redis"] == 0  # everything it saved, it also cached
        assert await _gauge(client, "gradserve_store_bytes_from_redis") == 0
        for _ in range(3):
            assert (await s.info("x", "data"))["shape"] == [256, 256]
            await s.run([{"name": "n", "op": "norm", "args": ["x"]}], no_grad=True, free=["n"])
        after = _moved(client)
        assert after["from_redis"] == 0
        assert after["to_redis"] == before["to_redis"]  # nothing changed: nothing written
        assert await _gauge(client, "gradserve_store_bytes_to_redis") == after["to_redis"]


async def test_one_small_tensor_in_a_100_mb_session_moves_under_1_mb(redis_server: object) -> None:
    url = redis_server.fresh_db()  # type: ignore[attr-defined]
    async with app_for(url) as warm, app_for(url) as cold:
        s = await ASess.open(warm)
        for name in ("w1", "w2"):  # 2 x 50 MB
            await s.create(name=name, fill="zeros", shape=[12_500_000])
        await s.create(name="v", value=[1.0, 2.0, 3.0], requires_grad=True)
        assert (await s.ok("GET"))["bytes"] >= 100_000_000
        assert _moved(warm)["to_redis"] >= 100_000_000

        before = _moved(warm)
        got = await s.run([{"name": "v2", "op": "mul", "args": ["v", 2]}], include=["data"])
        assert got["v2"]["data"]["data"] == [2.0, 4.0, 6.0]
        after = _moved(warm)
        moved = (after["to_redis"] - before["to_redis"]) + (
            after["from_redis"] - before["from_redis"]
        )
        assert moved < MB, moved
        assert after["from_redis"] == before["from_redis"]

        # another replica sees the same session (it has to fetch it once: see the report)
        c = ASess(cold, s.created)
        np.testing.assert_array_equal(f32(await c.value("v2")), f32([2.0, 4.0, 6.0]))
        first = _moved(cold)["from_redis"]
        await c.run([{"name": "v3", "op": "mul", "args": ["v", 3]}])
        assert _moved(cold)["from_redis"] == first  # and then it is warm too
        assert (await s.value("v3")) == [3.0, 6.0, 9.0]


async def test_views_are_stored_as_offsets_into_their_buffer(redis_server: object) -> None:
    """Transposes, slices with negative steps, broadcasts, scalars and empties round-trip with
    their strides, sharing memory as they did; only the owning buffers are stored."""
    url = redis_server.fresh_db()  # type: ignore[attr-defined]
    base = np.arange(24, dtype=np.float32).reshape(4, 6)
    fortran = np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3))
    arrays = {
        "base": base,
        "t": base.T,
        "neg": base[::-1, ::-2],
        "row": base[2],
        "wide": np.broadcast_to(base[0], (1000, 6)),
        "f": fortran,
        "ft": fortran.T[1:],
        "mask": np.array([True, False]),
        "scalar": np.float32(2.5),
        "empty": np.zeros((0, 3), np.int64),
    }
    names = {k: engine.Tensor._make(v, False, None) for k, v in arrays.items()}
    writer, reader = RedisStore(url), RedisStore(url)  # reader: a cold replica
    try:
        sid = "layout-test"
        session = Session(
            id=sid,
            token_digest=b"\0",
            backend=engine.get_backend("numpy"),
            ttl_seconds=60,
            expires_at=0.0,
            generator=np.random.default_rng(0),
        )
        assert await writer.create(session, 10)
        async with writer.lock(sid) as lease:
            session.names = names
            await writer.save(session, lease)
        size = session.bytes
        assert size == base.nbytes + fortran.nbytes + 2 + 4  # views add nothing
        async with reader.lock(sid) as lease:
            loaded = (await reader.load(sid, lease)).names
        assert reader.moved["from_redis"] == size
        for k, want in arrays.items():
            got = loaded[k].numpy()
            np.testing.assert_array_equal(got, want)
            assert got.dtype == np.asarray(want).dtype, k
            if np.asarray(want).size > 1:
                assert got.strides == np.asarray(want).strides, k
        b = loaded["base"].numpy()
        for k in ("t", "neg", "row", "wide"):
            assert np.shares_memory(loaded[k].numpy(), b), k
        assert np.shares_memory(loaded["ft"].numpy(), loaded["f"].numpy())
    finally:
        await writer.close()
        await reader.close()
