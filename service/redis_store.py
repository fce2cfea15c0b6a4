"""The Redis session store: every byte of a session in Redis, so replicas are stateless.

Keys of a session (one hash tag, so a cluster keeps them together), each with the
session's TTL, renewed on every use:

    gs:{sid}:meta    hash: token digest, backend, ttl, name counter, generator state, bytes
    gs:{sid}:graph   the graph as data (engine.serialize's JSON): names, tensors, nodes
    gs:{sid}:a:<id>  one array's raw bytes; its dtype and shape are in the graph document
    gs:{sid}:lock    the lease lock

Arrays are immutable (the engine never writes one in place), so an array id names
the same bytes forever: each replica caches arrays by id and a request moves only
the arrays it has not seen, plus the ones it creates. Mutual exclusion is a lease
lock (SET NX PX with a random token) that a crashed holder cannot keep past its
lease; a save is fenced by WATCHing the lock, so a holder whose lease was taken
over cannot overwrite the new holder's state.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator
from typing import Any

import anyio
import numpy as np
import orjson
import redis.asyncio as aioredis
from redis.exceptions import WatchError

import engine
from engine import serialize
from engine.dtypes import as_dtype

from .errors import ApiError

__all__ = ["ArrayCache", "RedisStore"]

SESSIONS = "gs:sessions"  # sorted set: session id -> expiry time
EMPTY_GRAPH = {
    "format": serialize.FORMAT,
    "names": {},
    "tensors": {},
    "nodes": {},
    "storages": {},
    "vcs": {},
    "arrays": {},
}

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _encode_meta(meta: dict[str, Any]) -> Any:
    """Meta as Redis hash fields (stdlib json: the generator's state has 128-bit ints)."""
    return {k: json.dumps(v) for k, v in meta.items()}


def _raw(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def _key(sid: str, part: str) -> str:
    return f"gs:{{{sid}}}:{part}"


class ArrayCache:
    """Arrays by id, least recently used first out, within a byte budget (per replica)."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[str, np.ndarray[Any, Any]] = OrderedDict()
        # the id this replica gave (or read for) a live array object
        self._ids: dict[int, tuple[weakref.ref[Any], str]] = {}

    def get(self, aid: str) -> np.ndarray[Any, Any] | None:
        a = self._items.get(aid)
        if a is not None:
            self._items.move_to_end(aid)
        return a

    def put(self, aid: str, a: np.ndarray[Any, Any]) -> None:
        self.remember(a, aid)
        if aid in self._items or a.nbytes > self.max_bytes:
            return
        self._items[aid] = a
        self.bytes += a.nbytes
        while self.bytes > self.max_bytes and self._items:
            _, old = self._items.popitem(last=False)
            self.bytes -= old.nbytes

    def remember(self, a: Any, aid: str) -> None:
        self._ids[id(a)] = (weakref.ref(a), aid)

    def id_of(self, a: Any) -> str:
        """The array's id: the one it was loaded or saved under, or a new one."""
        known = self._ids.get(id(a))
        if known is not None and known[0]() is a:
            return known[1]
        aid = uuid.uuid4().hex
        self.remember(a, aid)
        if len(self._ids) > 4 * max(len(self._items), 1024):
            self._ids = {k: v for k, v in self._ids.items() if v[0]() is not None}
        return aid


class RedisStore:
    """Sessions in Redis (``GRADSERVE_STORE=redis://host:port/db``)."""

    kind = "redis"

    def __init__(self, url: str, *, lease_ms: int = 30_000, cache_bytes: int = 256 << 20) -> None:
        self.url = url
        self.redis: aioredis.Redis = aioredis.from_url(url)
        self.lease_ms = lease_ms
        self.cache = ArrayCache(cache_bytes)
        self.moved = {"to_redis": 0, "from_redis": 0}  # payload bytes, for benchmarks
        self._release = self.redis.register_script(_RELEASE)
        self._extend = self.redis.register_script(_EXTEND)

    async def close(self) -> None:
        await self.redis.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except Exception:
            return False

    # ------------------------------------------------------------------ meta
    async def create(self, sid: str, meta: dict[str, Any], ttl_ms: int) -> None:
        doc = orjson.dumps(EMPTY_GRAPH)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(_key(sid, "meta"), mapping=_encode_meta(meta))
            pipe.pexpire(_key(sid, "meta"), ttl_ms)
            pipe.set(_key(sid, "graph"), doc, px=ttl_ms)
            pipe.zadd(SESSIONS, {sid: time.time() + ttl_ms / 1000})
            await pipe.execute()

    async def meta(self, sid: str) -> dict[str, Any] | None:
        raw = await self.redis.hgetall(_key(sid, "meta"))
        if not raw:
            return None
        # stdlib json: the generator's state holds 128-bit integers
        return {_text(k): json.loads(v) for k, v in raw.items()}

    async def count(self) -> int:
        now = time.time()
        await self.redis.zremrangebyscore(SESSIONS, "-inf", now)
        return int(await self.redis.zcard(SESSIONS))

    async def expire(self, now: float) -> list[str]:
        gone = [_text(s) for s in await self.redis.zrangebyscore(SESSIONS, "-inf", now)]
        if gone:
            await self.redis.zrem(SESSIONS, *gone)
        return gone

    async def total_bytes(self) -> int:
        total = 0
        for sid in await self.redis.zrange(SESSIONS, 0, -1):
            b = await self.redis.hget(_key(_text(sid), "meta"), "bytes")
            total += int(json.loads(b)) if b else 0
        return total

    # ------------------------------------------------------------------ lock
    @contextlib.asynccontextmanager
    async def locked(self, sid: str, wait_s: float = 60.0) -> AsyncIterator[str]:
        """Hold the session's lease lock; renewed while held; released on exit."""
        token = secrets.token_hex(16)
        key = _key(sid, "lock")
        deadline = time.monotonic() + wait_s
        delay = 0.001
        while not await self.redis.set(key, token, nx=True, px=self.lease_ms):
            if time.monotonic() > deadline:
                raise ApiError(503, "session_busy", "the session stayed locked; try again")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.05)
        renew = asyncio.create_task(self._renew(key, token))
        try:
            yield token
        finally:
            renew.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await renew
            await self._release(keys=[key], args=[token])

    async def _renew(self, key: str, token: str) -> None:
        while True:
            await asyncio.sleep(self.lease_ms / 3000)
            await self._extend(keys=[key], args=[token, self.lease_ms])

    # ------------------------------------------------------------- load/save
    async def load(self, sid: str) -> tuple[dict[str, engine.Tensor], dict[str, Any], bytes]:
        """The session's named tensors (with their graph), its raw doc, and the doc bytes."""
        raw = await self.redis.get(_key(sid, "graph"))
        if raw is None:
            raise ApiError(404, "session_not_found", f"no session {sid!r}")
        doc = orjson.loads(raw)
        arrays_meta: dict[str, list[Any]] = doc.get("arrays", {})
        arrays: dict[str, Any] = {}
        missing = []
        for aid in arrays_meta:
            a = self.cache.get(aid)
            if a is None:
                missing.append(aid)
            else:
                arrays[aid] = a
        if missing:
            blobs = await self.redis.mget([_key(sid, f"a:{aid}") for aid in missing])
            for aid, blob in zip(missing, blobs, strict=True):
                if blob is None:
                    raise ApiError(404, "session_not_found", f"session {sid!r} lost array {aid}")
                dtype, shape = arrays_meta[aid]
                a = np.frombuffer(_raw(blob), dtype=as_dtype(dtype).np).reshape(shape)
                self.moved["from_redis"] += len(blob)
                self.cache.put(aid, a)
                arrays[aid] = a

        def rebuild() -> dict[str, engine.Tensor]:
            return serialize.load(doc, arrays)

        names = await anyio.to_thread.run_sync(rebuild)
        return names, doc, _raw(raw)

    async def save(
        self,
        sid: str,
        token: str,
        names: dict[str, engine.Tensor],
        meta: dict[str, Any],
        old_doc: dict[str, Any],
        old_raw: bytes,
        ttl_ms: int,
    ) -> int:
        """Write the session back (new arrays, the graph, meta), fenced by the lease."""

        def encode() -> tuple[bytes, dict[str, Any], dict[str, bytes], int]:
            doc, arrays = serialize.dump(names, array_id=self.cache.id_of)
            old = old_doc.get("arrays", {})
            doc["arrays"] = {aid: [str(a.dtype), list(a.shape)] for aid, a in arrays.items()}
            new_blobs = {
                aid: np.ascontiguousarray(a).tobytes()
                for aid, a in arrays.items()
                if aid not in old
            }
            for aid, a in arrays.items():
                self.cache.put(aid, np.asarray(a))
            size = sum(int(np.asarray(a).nbytes) for a in arrays.values())
            return orjson.dumps(doc), doc, new_blobs, size

        raw, doc, blobs, size = await anyio.to_thread.run_sync(encode)
        meta = {**meta, "bytes": size}
        old_ids = set(old_doc.get("arrays", {}))
        new_ids = set(doc["arrays"])
        lock = _key(sid, "lock")
        async with self.redis.pipeline(transaction=True) as pipe:
            try:
                await pipe.watch(lock)
                if (await pipe.get(lock)) != token.encode():
                    raise ApiError(409, "session_busy", "the session's lease was lost; retry")
                pipe.multi()
                for aid, blob in blobs.items():
                    pipe.set(_key(sid, f"a:{aid}"), blob, px=ttl_ms)
                    self.moved["to_redis"] += len(blob)
                if raw != old_raw:
                    pipe.set(_key(sid, "graph"), raw, px=ttl_ms)
                    self.moved["to_redis"] += len(raw)
                else:
                    pipe.pexpire(_key(sid, "graph"), ttl_ms)
                gone = old_ids - new_ids
                if gone:
                    pipe.delete(*[_key(sid, f"a:{aid}") for aid in gone])
                for aid in new_ids - set(blobs):
                    pipe.pexpire(_key(sid, f"a:{aid}"), ttl_ms)
                pipe.hset(_key(sid, "meta"), mapping=_encode_meta(meta))
                pipe.pexpire(_key(sid, "meta"), ttl_ms)
                pipe.zadd(SESSIONS, {sid: time.time() + ttl_ms / 1000})
                await pipe.execute()
            except WatchError:
                raise ApiError(409, "session_busy", "the session's lease was lost; retry") from None
        return size

    async def delete(self, sid: str) -> None:
        raw = await self.redis.get(_key(sid, "graph"))
        keys = [_key(sid, "meta"), _key(sid, "graph")]
        if raw is not None:
            keys += [_key(sid, f"a:{aid}") for aid in orjson.loads(raw).get("arrays", {})]
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(*keys)
            pipe.zrem(SESSIONS, sid)
            await pipe.execute()

    async def keys_of(self, sid: str) -> list[str]:
        """Every key a session holds (for tests of expiry and deletion)."""
        return [_text(k) async for k in self.redis.scan_iter(match=f"gs:{{{sid}}}:*")]
