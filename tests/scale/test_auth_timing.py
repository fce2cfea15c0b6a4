"""A wrong token on a session that exists and an id that does not take the same time on the
Redis store (issue: ~0.1-0.2 ms apart, enough to tell live session ids from dead ones).

Measured in process against a real redis-server, interleaved, where the noise is tens of
microseconds; over HTTP on a shared machine it is milliseconds."""

from __future__ import annotations

import time

import pytest

from service.errors import ApiError
from service.sessions import SessionManager
from service.settings import Settings

pytestmark = pytest.mark.anyio


async def test_wrong_token_and_unknown_id_take_the_same_time(redis_url: str) -> None:
    manager = SessionManager(Settings(store=redis_url))
    try:
        session, _ = await manager.create()
        # an existing session with its generator state and names: a bigger meta hash
        unknown = "A" * len(session.id)
        wrong = "Bearer " + "x" * 43

        async def attempt(sid: str) -> float:
            start = time.perf_counter()
            with pytest.raises(ApiError) as err:
                async with manager.open(sid, wrong):
                    pass
            assert err.value.code == "session_not_found"
            return time.perf_counter() - start

        for _ in range(50):
            await attempt(session.id)
            await attempt(unknown)
        existing: list[float] = []
        missing: list[float] = []
        for _ in range(600):
            existing.append(await attempt(session.id))
            missing.append(await attempt(unknown))
        a, b = sorted(existing)[300], sorted(missing)[300]
        assert abs(a - b) < 40e-6, (a * 1e6, b * 1e6)
        print(f"median existing {a * 1e6:.1f} us, unknown {b * 1e6:.1f} us")
    finally:
        await manager.stop()
