"""The store protocol itself (``service/stores/base.py``), driven directly on both stores.

``test_store_contract.py`` checks what clients see over HTTP; this checks what
``SessionManager`` relies on: each store implements every step of the protocol with the
same signature, and the steps behave the same on the memory store and on Redis.
"""

from __future__ import annotations

import asyncio
import inspect
import time
from typing import Any

import numpy as np
import pytest

import engine
from service.errors import ApiError
from service.settings import Settings
from service.stores import MemoryStore, RedisStore, Session, SessionStore, Usage, store_for

pytestmark = pytest.mark.anyio

PROTOCOL = [
    name
    for name, member in vars(SessionStore).items()
    if not name.startswith("_") and callable(member)
]


def _session(sid: str, ttl: int = 60) -> Session:
    return Session(
        id=sid,
        token_digest=bytes(range(32)),
        backend=engine.get_backend("numpy"),
        ttl_seconds=ttl,
        expires_at=time.time() + ttl,
        generator=np.random.default_rng(7),
    )


def _store(store: str) -> Any:
    return store_for(Settings(store=store))


def test_every_store_implements_every_step_with_its_signature() -> None:
    assert set(PROTOCOL) >= {"create", "lock", "load", "save", "delete", "expire", "usage"}
    for cls in (MemoryStore, RedisStore):
        for name in PROTOCOL:
            want = inspect.signature(getattr(SessionStore, name))
            got = inspect.signature(getattr(cls, name))
            # the protocol's parameters, in order (a store may add optional ones after them)
            assert list(got.parameters)[: len(want.parameters)] == list(want.parameters), (
                cls.__name__,
                name,
            )
            extra = list(got.parameters.values())[len(want.parameters) :]
            assert all(p.default is not inspect.Parameter.empty for p in extra), (cls, name)
            assert inspect.iscoroutinefunction(getattr(cls, name)) == (
                inspect.iscoroutinefunction(getattr(SessionStore, name))
            ), (cls.__name__, name)
        assert cls.kind in ("memory", "redis")


def test_store_for_rejects_an_unknown_store() -> None:
    with pytest.raises(ValueError, match="GRADSERVE_STORE"):
        store_for(Settings(store="postgres://x"))


async def test_create_lock_load_save_round_trip(store: str) -> None:
    st = _store(store)
    try:
        s = _session("proto-a")
        assert await st.create(s, 10)
        assert await st.token_digest("proto-a") == bytes(range(32))
        assert await st.token_digest("nope") is None
        async with st.lock("proto-a") as lease:
            got = await st.load("proto-a", lease)
            assert got.names == {} and got.ttl_seconds == 60
            got.names["x"] = engine.tensor([1.0, 2.0, 3.0], requires_grad=True)
            got.new_name()
            got.bytes = 12
            await st.save(got, lease)
        async with st.lock("proto-a") as lease:
            again = await st.load("proto-a", lease)
            np.testing.assert_array_equal(again.names["x"].detach().numpy(), [1.0, 2.0, 3.0])
            assert again.names["x"].requires_grad and again.name_counter == 1
            assert again.bytes == 12
            assert again.expires_at > time.time() + 59  # load renews the TTL
        await st.refresh_usage()
        assert st.usage() == Usage(1, 12)
        await st.delete("proto-a")
        assert await st.token_digest("proto-a") is None
        with pytest.raises(ApiError) as err:
            async with st.lock("proto-a") as lease:
                await st.load("proto-a", lease)
        assert err.value.code == "session_not_found"
        await st.refresh_usage()
        assert st.usage() == Usage(0, 0)
    finally:
        await st.close()


async def test_admission_stops_at_max_sessions(store: str) -> None:
    st = _store(store)
    try:
        assert await st.create(_session("proto-1"), 2)
        assert await st.create(_session("proto-2"), 2)
        assert not await st.create(_session("proto-3"), 2)
        assert await st.token_digest("proto-3") is None
    finally:
        await st.close()


async def test_expire_forgets_sessions_whose_time_is_up(store: str) -> None:
    st = _store(store)
    try:
        assert await st.create(_session("proto-old", ttl=1), 10)
        assert await st.create(_session("proto-new", ttl=600), 10)
        assert await st.expire(time.time()) == []
        gone = await st.expire(time.time() + 2)
        assert gone == ["proto-old"]
        await st.refresh_usage()
        assert st.usage().sessions == 1
    finally:
        await st.close()


async def test_a_request_waiting_for_the_lock_sees_the_previous_holders_writes(
    store: str,
) -> None:
    st = _store(store)
    try:
        assert await st.create(_session("proto-q"), 10)
        order: list[str] = []

        async def bump(tag: str) -> None:
            async with st.lock("proto-q") as lease:
                s = await st.load("proto-q", lease)
                n = s.name_counter
                await asyncio.sleep(0.05)  # a second request queues meanwhile
                s.name_counter = n + 1
                order.append(tag)
                await st.save(s, lease)

        await asyncio.gather(bump("a"), bump("b"), bump("c"))
        async with st.lock("proto-q") as lease:
            assert (await st.load("proto-q", lease)).name_counter == 3
        assert sorted(order) == ["a", "b", "c"]
    finally:
        await st.close()


async def test_a_request_queued_behind_a_delete_finds_the_session_gone(store: str) -> None:
    """What the holder deletes is gone for the request that waited for the lock (no write
    into a deleted session is acknowledged)."""
    st = _store(store)
    try:
        assert await st.create(_session("proto-d"), 10)
        holding = asyncio.Event()
        outcome: list[str] = []

        async def deleter() -> None:
            async with st.lock("proto-d") as lease:
                await st.load("proto-d", lease)
                holding.set()
                await asyncio.sleep(0.05)
                await st.delete("proto-d")

        async def waiter() -> None:
            await holding.wait()
            try:
                async with st.lock("proto-d") as lease:
                    await st.load("proto-d", lease)
                outcome.append("loaded")
            except ApiError as exc:
                outcome.append(exc.code)

        await asyncio.gather(deleter(), waiter())
        assert outcome == ["session_not_found"]
    finally:
        await st.close()
