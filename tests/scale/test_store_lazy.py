"""The Redis store's per-record layout: a request reads and writes what it touches.

Each tensor, graph node, storage and array is its own record (``engine.serialize.Records``)
in the session's hashes; a save writes only the records that changed and frees those no
name reaches any more; a replica whose copy is stale (or absent) reads only the names a
request touches. Measured here by the bytes the store counts (``RedisStore.moved``) and
the bytes Redis itself counts (``INFO stats``), never by wall time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import numpy as np
import pytest

import engine
from engine.state import from_array
from engine.tensor import Tensor
from service.stores import RedisStore, Session
from service.stores.names import LazyNames

pytestmark = pytest.mark.anyio
DIGEST = bytes(range(32))


def _session(sid: str) -> Session:
    return Session(
        id=sid,
        token_digest=DIGEST,
        backend=engine.get_backend("numpy"),
        ttl_seconds=600,
        expires_at=time.time() + 600,
        generator=np.random.default_rng(0),
    )


async def _build(store: RedisStore, sid: str, names: dict[str, Tensor]) -> None:
    assert await store.create(_session(sid), 100)
    async with store.lock(sid) as lease:
        s = await store.load(sid, lease)
        s.names.update(names)
        await store.save(s, lease)


async def _wire(store: RedisStore) -> tuple[int, int]:
    """Redis's own counters: bytes it received and sent, all clients together."""
    info = await store.redis.info("stats")
    return int(info["total_net_input_bytes"]), int(info["total_net_output_bytes"])


async def _trivial(store: RedisStore, sid: str) -> None:
    """A small request: ``s2 = s * 2`` (rebinding s2)."""
    async with store.session(sid, DIGEST) as s:
        s.names["s2"] = s.names["s"] * 2


@pytest.fixture
async def stores(redis_server: Any) -> AsyncIterator[tuple[RedisStore, RedisStore]]:
    url = redis_server.fresh_db()
    writer, reader = RedisStore(url), RedisStore(url)  # reader: another replica, cold
    await writer.prepare()
    try:
        yield writer, reader
    finally:
        await writer.close()
        await reader.close()


def _small() -> dict[str, Tensor]:
    return {"s": from_array(np.ones(4, np.float32)), "s2": from_array(np.ones(4, np.float32))}


async def test_a_cold_replica_reads_only_what_a_small_request_touches(
    stores: tuple[RedisStore, RedisStore],
) -> None:
    writer, reader = stores
    big = {f"w{i}": from_array(np.full(4 << 20, i, np.float32)) for i in range(4)}  # 64 MiB
    await _build(writer, "lazy-big", {**big, **_small()})
    assert (await writer.meta("lazy-big"))["bytes"] == 4 * (16 << 20) + 32  # type: ignore[index]

    before, wire0 = dict(reader.moved), await _wire(reader)
    await _trivial(reader, "lazy-big")
    wire1 = await _wire(reader)
    from_redis = reader.moved["from_redis"] - before["from_redis"]
    assert from_redis == 16  # s's buffer, nothing else
    assert wire1[1] - wire0[1] < 64 << 10, wire1[1] - wire0[1]  # Redis sent < 64 KiB
    assert reader.moved["to_redis"] - before["to_redis"] < 4 << 10  # s2's records only

    # the replica that wrote it sees the change; the big tensors are intact and readable
    async with writer.session("lazy-big", DIGEST) as s:
        np.testing.assert_array_equal(s.names["s2"].numpy(), [2.0] * 4)
    async with reader.session("lazy-big", DIGEST) as s:
        assert float(s.names["w3"].numpy()[-1]) == 3.0
    assert reader.moved["from_redis"] - before["from_redis"] == 16 + (16 << 20)


async def test_a_trivial_request_costs_the_same_in_a_session_of_many_tensors(
    stores: tuple[RedisStore, RedisStore],
) -> None:
    writer, reader = stores
    many = {f"p{i}": from_array(np.full(4, i, np.float32)) for i in range(5000)}
    await _build(writer, "lazy-many", {**many, **_small()})
    await _build(writer, "lazy-empty", _small())
    graph_len = await writer.redis.hlen("gs:{lazy-many}:graph")
    assert graph_len > 5 * 5000  # name, tensor, storage, version, array, buffer records

    cost: dict[str, tuple[int, int, int]] = {}
    for replica, tag in ((writer, "warm"), (reader, "cold")):
        for sid in ("lazy-empty", "lazy-many"):
            await _trivial(replica, sid)  # once: a cold replica reads s, then it is warm too
            moved, wire0 = dict(replica.moved), await _wire(replica)
            for _ in range(3):
                await _trivial(replica, sid)
            wire1 = await _wire(replica)
            cost[f"{tag} {sid}"] = (
                replica.moved["to_redis"] - moved["to_redis"],
                wire1[0] - wire0[0],
                wire1[1] - wire0[1],
            )
    for tag in ("warm", "cold"):
        empty, many_ = cost[f"{tag} lazy-empty"], cost[f"{tag} lazy-many"]
        for e, m in zip(empty, many_, strict=True):
            assert m <= 2 * e + 256, (tag, cost)  # bytes written, received, sent by Redis
    # the replaced s2 is freed each time: the graph does not grow
    assert await writer.redis.hlen("gs:{lazy-many}:graph") == graph_len


async def test_a_replica_whose_copy_is_stale_reads_the_other_replicas_writes(
    stores: tuple[RedisStore, RedisStore],
) -> None:
    writer, reader = stores
    x = from_array(np.ones(3, np.float32), requires_grad=True)
    await _build(writer, "lazy-two", {"x": x})
    async with reader.session("lazy-two", DIGEST) as s:
        with engine.no_grad():
            s.names["x"].add_(1.0)  # in place: the storage and version change
        s.names["y"] = (s.names["x"] * s.names["x"]).sum()
    async with writer.session("lazy-two", DIGEST) as s:  # its live copy is stale now
        np.testing.assert_array_equal(s.names["x"].detach().numpy(), [2.0] * 3)
        s.names["y"].backward()
    async with reader.session("lazy-two", DIGEST) as s:
        np.testing.assert_array_equal(s.names["x"].grad.numpy(), [4.0] * 3)
        assert engine.state.version(s.names["x"]) == 1


async def test_unbound_records_and_buffers_are_freed(
    stores: tuple[RedisStore, RedisStore],
) -> None:
    writer, _ = stores
    x = from_array(np.ones(1000, np.float32), requires_grad=True)
    await _build(writer, "lazy-free", {"x": x})
    for _ in range(5):  # a graph rebuilt under the same name: the old one goes
        async with writer.session("lazy-free", DIGEST) as s:
            s.names["loss"] = (s.names["x"] * 2).exp().sum()
    size = await writer.redis.hlen("gs:{lazy-free}:graph")
    async with writer.session("lazy-free", DIGEST) as s:
        s.names["loss"] = (s.names["x"] * 2).exp().sum()
        s.names["v"] = s.names["x"].reshape(10, 100)  # a view: no buffer of its own
    buffers = await writer.redis.hlen("gs:{lazy-free}:arrays")
    assert await writer.redis.hlen("gs:{lazy-free}:graph") > size
    async with writer.session("lazy-free", DIGEST) as s:
        del s.names["v"]
    assert await writer.redis.hlen("gs:{lazy-free}:graph") == size
    assert await writer.redis.hlen("gs:{lazy-free}:arrays") == buffers
    async with writer.session("lazy-free", DIGEST) as s:
        s.names.clear()
    assert await writer.redis.hlen("gs:{lazy-free}:graph") == 0
    assert await writer.redis.hlen("gs:{lazy-free}:arrays") == 0
    assert await writer.redis.hlen("gs:{lazy-free}:refs") == 0
    assert (await writer.meta("lazy-free"))["bytes"] == 0  # type: ignore[index]
    await writer.delete("lazy-free")
    assert await writer.keys_of("lazy-free") == []


async def test_a_failed_request_leaves_no_stale_live_copy(
    stores: tuple[RedisStore, RedisStore],
) -> None:
    writer, _ = stores
    await _build(writer, "lazy-fail", _small())
    with pytest.raises(RuntimeError):
        async with writer.session("lazy-fail", DIGEST) as s:
            s.names["s"] = s.names["s"] * 100  # changed, then the request fails
            raise RuntimeError("the request failed")
    async with writer.session("lazy-fail", DIGEST) as s:
        np.testing.assert_array_equal(s.names["s"].numpy(), [1.0] * 4)


class _Fake:
    """A fetcher over a dict, counting what it is asked."""

    def __init__(self, names: dict[str, Tensor]) -> None:
        self.names = names
        self.calls: list[str] = []

    def probe(self, name: str) -> bool:
        self.calls.append(f"probe {name}")
        return name in self.names

    def probe_many(self, names: list[str]) -> list[bool]:
        self.calls.append(f"probe {' '.join(names)}")
        return [n in self.names for n in names]

    def fetch(self, name: str) -> Tensor | None:
        self.calls.append(f"fetch {name}")
        return self.names.get(name)

    def fetch_all(self) -> dict[str, Tensor]:
        self.calls.append("all")
        return dict(self.names)


def test_lazy_names_read_on_first_use_and_record_what_changed() -> None:
    a, b, c = (from_array(np.zeros(1)) for _ in range(3))
    fake = _Fake({"a": a, "b": b})
    names = LazyNames(fake, 2)
    assert len(names) == 2 and not names.complete
    assert names["a"] is a and names.get("zz") is None
    assert "b" in names and fake.calls == ["fetch a", "fetch zz", "probe b"]
    names["c"] = c  # new: probed, counted
    assert len(names) == 3 and names.dirty == {"c"}
    del names["b"]  # known bound: no read of its tensor
    assert len(names) == 2 and "b" not in names and names.dirty == {"b", "c"}
    assert names.accessed == {"a": a}
    assert fake.calls == ["fetch a", "fetch zz", "probe b", "probe c"]
    assert dict(names.items()) == {"a": a, "c": c}  # every name read, b stays unbound
    assert names.complete and fake.calls[-1] == "all"
    assert names == {"a": a, "c": c}
    names.reset()
    more = LazyNames(_Fake({"a": a, "b": b}), 2)
    more.probe(["a", "b", "q", "a"])  # one read for all
    assert "b" in more and "q" not in more and more.fetcher.calls == ["probe a b q"]  # type: ignore[union-attr]
    assert names.accessed == {} and names.dirty == set()


def test_lazy_names_of_an_empty_session_never_fetch() -> None:
    fake = _Fake({})
    names = LazyNames(fake, 0)
    assert names.complete and "x" not in names and list(names) == [] and fake.calls == []


async def test_a_warm_open_sends_no_meta_and_survives_an_eviction_meanwhile(
    stores: tuple[RedisStore, RedisStore],
) -> None:
    writer, _ = stores
    await _build(writer, "lazy-evict", _small())
    await _trivial(writer, "lazy-evict")
    real = writer._open
    replies: list[Any] = []

    async def open_then_evict(**kw: Any) -> Any:
        reply = await real(**kw)
        replies.append(reply)
        writer._drop_live("lazy-evict")  # another session's save evicted it meanwhile
        return reply

    writer._open = open_then_evict  # type: ignore[method-assign]
    await _trivial(writer, "lazy-evict")
    assert [int(x) for x in replies[0]] == [4]  # the live copy was current: no meta sent
    writer._open = real  # type: ignore[method-assign]
    async with writer.session("lazy-evict", DIGEST) as s:
        np.testing.assert_array_equal(s.names["s2"].numpy(), [2.0] * 4)
        assert s.name_counter == 0 and s.ttl_seconds == 600


async def test_a_replicas_requests_on_one_session_queue_locally_not_on_redis(
    stores: tuple[RedisStore, RedisStore],
) -> None:
    """Sixteen concurrent requests on one session, one replica: each takes its turn from the
    replica's own queue (first come, first served), so none polls Redis for the lease (the
    open script finds it free every time: no SET NX retries) and every write lands."""
    writer, _ = stores
    await _build(writer, "queue", _small())

    async def bump() -> None:
        async with writer.session("queue", DIGEST) as s:
            s.names["s"] = s.names["s"] + 1

    sets0 = int((await writer.redis.info("commandstats")).get("cmdstat_set", {}).get("calls", 0))
    trips0 = writer.round_trips
    await asyncio.gather(*(bump() for _ in range(16)))
    stats = await writer.redis.info("commandstats")
    # the open script's own SET of the lease, once a request: no SET NX polling beside it
    assert int(stats.get("cmdstat_set", {}).get("calls", 0)) - sets0 == 16
    assert writer.round_trips - trips0 == 2 * 16  # open and save each, none refused
    async with writer.session("queue", DIGEST) as s:
        np.testing.assert_array_equal(s.names["s"].numpy(), [17.0] * 4)
    assert not writer._queues  # gone with the last waiter
