"""The Redis session store: every byte of a session in Redis, so replicas are stateless.

Keys of a session (one hash tag, so a cluster keeps them together), each with the
session's TTL, renewed on every use:

    gs:{sid}:meta    hash: token digest, backend, ttl, name counter, generator state, bytes
    gs:{sid}:graph   the graph as data (engine.serialize's JSON): names, tensors, nodes,
                     and the layout of every array (dtype, shape, strides, buffer, offset)
    gs:{sid}:a:<id>  one buffer's raw bytes (the memory of an array that owns its data)
    gs:{sid}:lock    the lease lock

Arrays are stored as NumPy lays them out: a buffer (the array that owns the memory) and
views on it, so ``x.reshape(...)``, ``x[0]`` or ``x.expand(...)`` cost no bytes and a
session's size in Redis is what the memory store counts. Arrays are immutable (the engine
rebinds a storage, it never writes into an array), so a buffer id names the same bytes
forever: each replica caches buffers by id and a request moves only the buffers that
replica has not seen, plus the ones it creates. Mutual exclusion is a lease lock (SET NX
PX with a random token) that a crashed holder cannot keep past its lease; a save is
fenced (one Lua script that writes nothing unless the lock still holds the lease's token),
so a holder whose lease was taken over cannot overwrite the new holder's state.

``session()`` is the request path: a warm request is two round trips (``_OPEN``: token,
lease, TTL, meta and graph; ``_SAVE_RELEASE``: the fenced save and the release), plus an
``MGET`` of the buffers this replica's cache lacks.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import secrets
import socket
import threading
import time
import uuid
import weakref
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import numpy as np
import orjson
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

import engine
from engine import serialize
from engine.backend import backend_of

from ..errors import ApiError
from .base import Session, Usage, session_not_found, wait_set

__all__ = ["ArrayCache", "Lease", "RedisStore"]

log = logging.getLogger("gradserve.redis")

SESSIONS = "gs:sessions"  # sorted set: session id -> expiry time
EMPTY_GRAPH = {
    "format": serialize.FORMAT,
    "names": {},
    "tensors": {},
    "nodes": {},
    "storages": {},
    "vcs": {},
    "arrays": {},
    "buffers": {},
}

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# The fenced write-back, in one round trip: nothing is written unless the lease is ours.
# KEYS: lock, graph, meta, sessions, then the buffers to set, to delete, to keep.
# ARGV: token, ttl_ms, session id, expiry score, graph ("" = unchanged), #set, #delete,
#       #keep, #meta fields, then meta field/value pairs, then the buffers' bytes.
_SAVE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local ttl = ARGV[2]
local nset, ndel, nkeep, nmeta = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]),
    tonumber(ARGV[9])
local a = 10
for _ = 1, nmeta do
  redis.call('HSET', KEYS[3], ARGV[a], ARGV[a + 1])
  a = a + 2
end
redis.call('PEXPIRE', KEYS[3], ttl)
if ARGV[5] ~= '' then
  redis.call('SET', KEYS[2], ARGV[5], 'PX', ttl)
else
  redis.call('PEXPIRE', KEYS[2], ttl)
end
local k = 5
for _ = 1, nset do
  redis.call('SET', KEYS[k], ARGV[a], 'PX', ttl)
  a = a + 1
  k = k + 1
end
for _ = 1, ndel do
  redis.call('DEL', KEYS[k])
  k = k + 1
end
for _ = 1, nkeep do
  redis.call('PEXPIRE', KEYS[k], ttl)
  k = k + 1
end
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[3])
return 1
"""
# The warm request's first round trip: check the token (the digests compared through their
# SHA-1, so the comparison's time says nothing about where they differ), take the lease,
# renew the session's TTL and return meta and the graph document.
# KEYS: meta, graph, lock, sessions. ARGV: digest as stored, lease token, lease ms, sid, now.
# Replies: {0} unknown session or wrong token; {1} locked by another holder; {3} the graph
# is gone; {2, meta (flat field/value list), graph}.
_OPEN = """
local stored = redis.call('HGET', KEYS[1], 'token')
if not stored then return {0} end
if redis.sha1hex(stored) ~= redis.sha1hex(ARGV[1]) then return {0} end
if not redis.call('SET', KEYS[3], ARGV[2], 'NX', 'PX', ARGV[3]) then return {1} end
local graph = redis.call('GET', KEYS[2])
if not graph then
  redis.call('DEL', KEYS[3])
  return {3}
end
local meta = redis.call('HGETALL', KEYS[1])
local ttl = 0
for i = 1, #meta, 2 do
  if meta[i] == 'ttl' then ttl = tonumber(meta[i + 1]) * 1000 end
end
redis.call('PEXPIRE', KEYS[1], ttl)
redis.call('PEXPIRE', KEYS[2], ttl)
redis.call('ZADD', KEYS[4], 'XX', tonumber(ARGV[5]) + ttl / 1000, ARGV[4])
return {2, meta, graph}
"""
# A request that saved nothing: release the lease (if still ours) and renew the TTL of the
# session's buffers (a failed request counts as use). KEYS: lock, buffers. ARGV: token, ttl.
_RELEASE_TOUCH = """
for i = 2, #KEYS do redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# _SAVE, then the lease released: a successful request's second and last round trip.
_SAVE_RELEASE = _SAVE.replace(
    "redis.call('ZADD', KEYS[4], ARGV[4], ARGV[3])\nreturn 1",
    "redis.call('ZADD', KEYS[4], ARGV[4], ARGV[3])\nredis.call('DEL', KEYS[1])\nreturn 1",
)
_EXTEND = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0
"""
# Admission: drop expired sessions, then add this one unless the server is full (atomic,
# so replicas creating sessions at once cannot go past max_sessions together). Admitting
# a session already admitted says yes: the call may be retried after a lost reply.
_ADMIT = """
if redis.call('ZSCORE', KEYS[1], ARGV[4]) then return 1 end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[1])
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then return 0 end
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[4])
return 1
"""


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _encode_meta(meta: dict[str, Any]) -> Any:
    """Meta as Redis hash fields (stdlib json: the generator's state has 128-bit ints)."""
    return {k: json.dumps(v) for k, v in meta.items()}


def _meta_of(session: Session) -> dict[str, Any]:
    """What the store keeps beside the graph (``gs:{sid}:meta``)."""
    return {
        "token": session.token_digest.hex(),
        "backend": session.backend.name,
        "ttl": session.ttl_seconds,
        "auto": session.name_counter,
        "rng": session.generator.bit_generator.state,
        "bytes": session.bytes,
        "optimizers": session.optimizers,
    }


def _session_of(sid: str, meta: dict[str, Any], names: dict[str, engine.Tensor]) -> Session:
    """The session a loaded meta hash and graph describe."""
    generator = np.random.default_rng()
    generator.bit_generator.state = meta["rng"]
    ttl = int(meta["ttl"])
    size = int(meta.get("bytes", 0))
    return Session(
        id=sid,
        token_digest=bytes.fromhex(meta["token"]),
        backend=engine.get_backend(meta["backend"]),
        ttl_seconds=ttl,
        expires_at=time.time() + ttl,
        generator=generator,
        names=names,
        # the store measured it when it saved: exact, and so the upper bound's base
        bytes=size,
        exact_bytes=size,
        name_counter=int(meta.get("auto", 0)),
        optimizers=meta.get("optimizers", {}),
    )


_NO_TOKEN = json.dumps(bytes(32).hex())


def _text_or_none(value: Any) -> str | None:
    return None if value is None else _text(value)


def _raw(value: Any) -> bytes:
    return value if isinstance(value, bytes) else str(value).encode()


def _key(sid: str, part: str) -> str:
    return f"gs:{{{sid}}}:{part}"


def _address(a: np.ndarray[Any, Any]) -> int:
    address: int = a.__array_interface__["data"][0]
    return address


def _owner(a: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """The array whose memory ``a`` views (``a`` itself when it owns its data)."""
    root = a
    while isinstance(root.base, np.ndarray):
        root = root.base
    return root


def _flat(root: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """A contiguous array's memory as one uint8 row, in memory order (no copy)."""
    return root.reshape(-1, order="A").view(np.uint8)


class ArrayCache:
    """Buffers by id, least recently used first out, within a byte budget (per replica).

    It also remembers the id each live array was loaded or saved under, so a session
    saved again names its unchanged arrays as before. Thread-safe: loads and saves
    run on worker threads while other requests use the cache from the event loop.
    """

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.bytes = 0
        self._items: OrderedDict[str, np.ndarray[Any, Any]] = OrderedDict()
        # the id this replica gave (or read for) a live array object
        self._ids: dict[int, tuple[weakref.ref[Any], str]] = {}
        self._lock = threading.Lock()

    def get(self, bid: str) -> np.ndarray[Any, Any] | None:
        with self._lock:
            a = self._items.get(bid)
            if a is not None:
                self._items.move_to_end(bid)
            return a

    def put(self, bid: str, a: np.ndarray[Any, Any]) -> None:
        with self._lock:
            if bid in self._items or a.nbytes > self.max_bytes:
                return
            self._items[bid] = a
            self.bytes += a.nbytes
            while self.bytes > self.max_bytes and self._items:
                _, old = self._items.popitem(last=False)
                self.bytes -= old.nbytes

    def remember(self, a: Any, aid: str) -> None:
        with self._lock:
            self._ids[id(a)] = (weakref.ref(a), aid)

    def id_of(self, a: Any) -> str:
        """The array's id: the one it was loaded or saved under, or a new one."""
        with self._lock:
            known = self._ids.get(id(a))
            if known is not None and known[0]() is a:
                return known[1]
            aid = uuid.uuid4().hex
            self._ids[id(a)] = (weakref.ref(a), aid)
            if len(self._ids) > 4 * max(len(self._items), 1024):
                self._ids = {k: v for k, v in self._ids.items() if v[0]() is not None}
            return aid


def _process_start(pid: int) -> str:
    """When process ``pid`` started (clock ticks since boot; Linux), or "" if unknown."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return ""


# Who holds a lease: this process's incarnation (host, pid, start time) and a random part.
# A lease that outlives its holder (Redis restarted from its append-only file while a
# request held it, or the holder crashed) is recognisable: this process's own that no
# request holds, or one of a process on this host that is gone.
INCARNATION = f"{socket.gethostname()}/{os.getpid()}/{_process_start(os.getpid())}"


def _holder_is_gone(holder: str, held: set[str]) -> bool:
    incarnation, _, _ = holder.rpartition(":")
    if incarnation == INCARNATION:
        return holder not in held
    host, _, rest = incarnation.partition("/")
    pid, _, start = rest.partition("/")
    if host != socket.gethostname() or not pid.isdigit() or not start:
        return False  # another machine's: its lease runs out by itself
    return _process_start(int(pid)) != start


@dataclass
class Lease:
    """A held lease lock: its random token (the save's fence) and the session's stored graph
    as ``load`` read it (the save writes only what changed since)."""

    token: str
    doc: dict[str, Any] = field(default_factory=lambda: dict(EMPTY_GRAPH))
    raw: bytes = b""


class RedisStore:
    """Sessions in Redis (``GRADSERVE_STORE=redis://host:port/db``)."""

    kind = "redis"

    def __init__(self, url: str, *, lease_ms: int = 10_000, cache_bytes: int = 256 << 20) -> None:
        self.url = url
        # a session's buffers travel in one command: allow for a large one (redis-py's
        # default socket timeout is 5 s); options in the URL still win. A pooled connection
        # idle for a second is pinged before use (after a Redis restart it is stale), and a
        # command that meets a dead connection is sent once more on a fresh one: every
        # command here is idempotent (reads, SET NX with our token, fenced scripts, admit).
        self.redis: aioredis.Redis = aioredis.from_url(
            url,
            socket_timeout=60,
            socket_connect_timeout=5,
            health_check_interval=1,
            retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
        )
        self.lease_ms = lease_ms
        self.cache = ArrayCache(cache_bytes)
        self.moved = {"to_redis": 0, "from_redis": 0}  # payload bytes, for benchmarks
        self._release = self.redis.register_script(_RELEASE)
        self._extend = self.redis.register_script(_EXTEND)
        self._save = self.redis.register_script(_SAVE)
        self._save_release = self.redis.register_script(_SAVE_RELEASE)
        self._open = self.redis.register_script(_OPEN)
        self._release_touch = self.redis.register_script(_RELEASE_TOUCH)
        self.round_trips = 0  # of session(): the warm path's figure, for tests and benchmarks
        self._admit = self.redis.register_script(_ADMIT)
        self._usage = Usage(0, 0)  # as of the last refresh_usage()
        self._held: set[str] = set()  # lease tokens this process's requests hold now

    async def prepare(self) -> None:
        """Load the scripts into Redis at startup, so no request pays (or shows, in Redis's
        command counts) a first-use SCRIPT LOAD. A Redis that is down now is not fatal: the
        scripts load on first use instead."""
        try:
            for script in (_OPEN, _SAVE, _SAVE_RELEASE, _RELEASE, _RELEASE_TOUCH, _EXTEND):
                await self.redis.script_load(script)
        except Exception:
            log.warning("could not load the Redis scripts at startup", exc_info=True)

    async def close(self) -> None:
        await self.redis.aclose()

    async def ping(self) -> bool:
        try:
            return bool(await self.redis.ping())
        except Exception:
            return False

    # ------------------------------------------------------------------ meta
    async def create(self, session: Session, max_sessions: int) -> bool:
        """Store a new, empty session; False (and nothing stored) when the server is full.

        Admission and the count are one step in Redis: replicas cannot overshoot together.
        """
        sid, meta, ttl_ms = session.id, _meta_of(session), session.ttl_seconds * 1000
        now = time.time()
        admitted = await self._admit(
            keys=[SESSIONS], args=[now, max_sessions, now + ttl_ms / 1000, sid]
        )
        if not admitted:
            return False
        doc = orjson.dumps(EMPTY_GRAPH)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(_key(sid, "meta"), mapping=_encode_meta(meta))
            pipe.pexpire(_key(sid, "meta"), ttl_ms)
            pipe.set(_key(sid, "graph"), doc, px=ttl_ms)
            await pipe.execute()
        return True

    async def meta(self, sid: str) -> dict[str, Any] | None:
        """The session's meta hash, decoded; None when there is none."""
        raw = await self.redis.hgetall(_key(sid, "meta"))
        if not raw:
            return None
        # stdlib json: the generator's state holds 128-bit integers
        return {_text(k): json.loads(v) for k, v in raw.items()}

    async def token_digest(self, session_id: str) -> bytes | None:
        raw = await self.redis.hget(_key(session_id, "meta"), "token")
        # an unknown id decodes a stand-in: both paths do the same work (timing)
        digest = bytes.fromhex(json.loads(_NO_TOKEN if raw is None else raw))
        return None if raw is None else digest

    async def count(self) -> int:
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.zremrangebyscore(SESSIONS, "-inf", time.time())
            pipe.zcard(SESSIONS)
            _, n = await pipe.execute()
        return int(n)

    async def expire(self, now: float) -> list[str]:
        """Forget sessions whose time is up (Redis has dropped their keys by their TTL)."""
        async with self.redis.pipeline(transaction=True) as pipe:
            # one transaction: a session renewed between the read and the removal stays
            pipe.zrangebyscore(SESSIONS, "-inf", now)
            pipe.zremrangebyscore(SESSIONS, "-inf", now)
            gone, _ = await pipe.execute()
        return [_text(s) for s in gone]

    def usage(self) -> Usage:
        return self._usage

    async def refresh_usage(self) -> None:
        self._usage = Usage(await self.count(), await self.total_bytes())

    async def total_bytes(self) -> int:
        sids = [_text(s) for s in await self.redis.zrange(SESSIONS, 0, -1)]
        if not sids:
            return 0
        async with self.redis.pipeline(transaction=False) as pipe:
            for sid in sids:
                pipe.hget(_key(sid, "meta"), "bytes")
            sizes = await pipe.execute()
        return sum(int(json.loads(b)) for b in sizes if b)

    # ------------------------------------------------------------------ lock
    @contextlib.asynccontextmanager
    async def lock(self, session_id: str, wait_s: float | None = None) -> AsyncIterator[Lease]:
        """Hold the session's lease lock; renewed while held; released on exit."""
        sid = session_id
        token = f"{INCARNATION}:{secrets.token_hex(16)}"
        key = _key(sid, "lock")
        # wait long enough for a crashed holder's lease to run out
        wait = wait_s if wait_s is not None else max(60.0, 2 * self.lease_ms / 1000)
        deadline = time.monotonic() + wait
        delay = 0.001
        checked = 0.0
        self._held.add(token)
        try:
            while not await self.redis.set(key, token, nx=True, px=self.lease_ms):
                now = time.monotonic()
                if now > deadline:
                    raise ApiError(503, "session_busy", "the session stayed locked; try again")
                if now - checked > 0.1:  # a lease whose holder is gone is taken over
                    checked = now
                    holder = _text_or_none(await self.redis.get(key))
                    if holder == token:  # a retried SET whose first reply was lost
                        break
                    if holder is not None and _holder_is_gone(holder, self._held):
                        log.warning("taking over a lease its holder left", extra={"sid": sid})
                        await self._release(keys=[key], args=[holder])
                        continue
                await asyncio.sleep(delay)
                delay = min(delay * 2, 0.05)
            done = asyncio.Event()
            renew = asyncio.create_task(self._renew(key, token, done))
            try:
                yield Lease(token)
            finally:
                # the event as well as the cancel: on Python 3.11 a cancel that lands as a
                # Redis call completes can be swallowed (asyncio.wait_for, gh-86296), and a
                # renewer that missed it would keep the lease alive forever
                done.set()
                renew.cancel()
                await asyncio.wait({renew})  # never suppresses a cancel of this task itself
                await self._release(keys=[key], args=[token])
        finally:
            self._held.discard(token)

    async def _renew(self, key: str, token: str, done: asyncio.Event) -> None:
        while not await wait_set(done, self.lease_ms / 3000):
            try:
                if not await self._extend(keys=[key], args=[token, self.lease_ms]):
                    return  # lost: the save's fence will refuse to write
            except Exception:  # a blip: try again next period (the lease has slack)
                log.warning("lease renewal failed", exc_info=True)

    # ------------------------------------------------------------- load/save
    async def load(self, session_id: str, lease: Lease) -> Session:
        """The session as the previous holder of the lease left it: its named tensors (with
        their graph), generator, name counter and bytes.

        Renews the TTL of every key of the session first: a request that fails (and so
        saves nothing) still counts as use, and no key expires under a long request.
        """
        sid = session_id
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.get(_key(sid, "graph"))
            pipe.hgetall(_key(sid, "meta"))
            raw, raw_meta = await pipe.execute()
        if raw is None or not raw_meta:
            raise ApiError(404, "session_not_found", f"no session {sid!r}")
        # stdlib json: the generator's state holds 128-bit integers
        meta = {_text(k): json.loads(v) for k, v in raw_meta.items()}
        return await self._finish_load(sid, meta, raw, lease, renew=True)

    async def _finish_load(
        self, sid: str, meta: dict[str, Any], raw: Any, lease: Lease, renew: bool
    ) -> Session:
        """The session from its meta and graph document: the buffers from the cache, the
        missing ones in one MGET (with ``renew``, every key's TTL renewed in the same
        round trip)."""
        ttl_ms = int(meta["ttl"]) * 1000
        backend = engine.get_backend(meta["backend"])
        doc = orjson.loads(raw)
        buffer_ids = list(doc.get("buffers", {}))
        buffers: dict[str, np.ndarray[Any, Any]] = {}
        missing = []
        for bid in buffer_ids:
            b = self.cache.get(bid)
            if b is None:
                missing.append(bid)
            else:
                buffers[bid] = b
        if renew or missing:
            async with self.redis.pipeline(transaction=False) as pipe:
                if renew:
                    pipe.pexpire(_key(sid, "meta"), ttl_ms)
                    pipe.pexpire(_key(sid, "graph"), ttl_ms)
                    pipe.zadd(SESSIONS, {sid: time.time() + ttl_ms / 1000}, xx=True)
                    for bid in buffer_ids:
                        pipe.pexpire(_key(sid, f"a:{bid}"), ttl_ms)
                if missing:
                    pipe.mget([_key(sid, f"a:{bid}") for bid in missing])
                replies = await pipe.execute()
                self.round_trips += 1
        if missing:
            for bid, blob in zip(missing, replies[-1], strict=True):
                if blob is None:
                    raise ApiError(404, "session_not_found", f"session {sid!r} lost buffer {bid}")
                flat = np.frombuffer(_raw(blob), dtype=np.uint8)
                self.moved["from_redis"] += flat.nbytes
                self.cache.put(bid, flat)
                self.cache.remember(flat, bid)
                buffers[bid] = flat

        def rebuild() -> dict[str, engine.Tensor]:
            arrays: dict[str, Any] = {}
            for aid, (dtype, shape, strides, bid, offset) in doc["arrays"].items():
                a: Any = np.ndarray(
                    tuple(shape),
                    np.dtype(dtype),
                    buffer=buffers[bid],
                    offset=offset,
                    strides=tuple(strides),
                )
                if backend.xp is not np:
                    a = backend.xp.asarray(a)
                self.cache.remember(a, aid)
                arrays[aid] = a
            return serialize.load(doc, arrays)

        names = rebuild() if len(doc["arrays"]) <= 64 else await anyio.to_thread.run_sync(rebuild)
        lease.doc, lease.raw = doc, _raw(raw)
        return _session_of(sid, meta, names)

    # ------------------------------------------------------- the warm request path
    @contextlib.asynccontextmanager
    async def session(self, session_id: str, digest: bytes) -> AsyncIterator[Session]:
        """Authenticate, hold and load the session, and save it back if the request
        succeeds (and was not deleted): two round trips when the lease is free and this
        replica's cache holds the session's buffers (one script that checks the token, takes
        the lease, renews the TTL and returns meta and graph; one that saves fenced by the
        lease and releases it), one more for the buffers it misses. A busy session takes
        the waiting path (``lock``, ``load``, ``save``)."""
        sid = session_id
        token = f"{INCARNATION}:{secrets.token_hex(16)}"
        keys = [_key(sid, "meta"), _key(sid, "graph"), _key(sid, "lock"), SESSIONS]
        self._held.add(token)
        try:
            reply = await self._open(
                keys=keys, args=[json.dumps(digest.hex()), token, self.lease_ms, sid, time.time()]
            )
            self.round_trips += 1
            status = int(reply[0])
            if status in (0, 3):
                raise session_not_found(sid)
            if status == 1:  # held by another request: wait for it as before
                async with self.lock(sid) as lease:
                    session = await self.load(sid, lease)
                    yield session
                    if not session.deleted:
                        await self.save(session, lease)
                return
            flat = reply[1]
            # stdlib json: the generator's state holds 128-bit integers
            meta = {_text(flat[i]): json.loads(flat[i + 1]) for i in range(0, len(flat), 2)}
            lease = Lease(token)
            done = asyncio.Event()
            renew = asyncio.create_task(self._renew(keys[2], token, done))
            released = False
            try:
                session = await self._finish_load(sid, meta, reply[2], lease, renew=False)
                yield session
                if not session.deleted:
                    done.set()
                    renew.cancel()
                    await asyncio.wait({renew})
                    await self.save(session, lease, release=True)
                    released = True
            finally:
                done.set()
                renew.cancel()
                await asyncio.wait({renew})  # never suppresses a cancel of this task itself
                if not released:
                    ttl_ms = int(meta["ttl"]) * 1000
                    await self._release_and_touch(sid, token, lease, ttl_ms)
        finally:
            self._held.discard(token)

    async def _release_and_touch(self, sid: str, token: str, lease: Lease, ttl_ms: int) -> None:
        """Release the lease of a request that saved nothing, its buffers' TTLs renewed (a
        failed request still counts as use), in one round trip."""
        buffers = [_key(sid, f"a:{bid}") for bid in lease.doc.get("buffers", {})]
        await self._release_touch(keys=[_key(sid, "lock"), *buffers], args=[token, ttl_ms])
        self.round_trips += 1

    def _layout(
        self, arrays: dict[str, Any], old_buffers: dict[str, Any]
    ) -> tuple[dict[str, list[Any]], dict[str, int], dict[str, np.ndarray[Any, Any]]]:
        """Each array as (dtype, shape, strides, buffer id, offset); the buffers' sizes;
        and the buffers not stored yet, as flat bytes."""
        layout: dict[str, list[Any]] = {}
        sizes: dict[str, int] = {}
        new: dict[str, np.ndarray[Any, Any]] = {}
        for aid, a in arrays.items():
            if not isinstance(a, np.ndarray | np.generic):
                # a device array: its own buffer, named after it, copied to the host only
                # when new (views on the device are not shared in Redis)
                dt = np.dtype(a.dtype)
                layout[aid] = [dt.str, list(a.shape), _c_strides(a.shape, dt.itemsize), aid, 0]
                sizes[aid] = int(a.nbytes)
                if aid not in old_buffers:
                    new[aid] = _flat(np.ascontiguousarray(backend_of(a).asnumpy(a)))
                continue
            a = np.asarray(a)
            root = _owner(a)
            if (
                isinstance(arrays[aid], np.generic)
                or a.size == 0
                or not (root.flags.c_contiguous or root.flags.f_contiguous)
            ):
                # a scalar, an empty array or an odd owner: the array is its own buffer
                layout[aid] = [a.dtype.str, list(a.shape), _c_strides(a.shape, a.itemsize), aid, 0]
                sizes[aid] = int(a.nbytes)
                if aid not in old_buffers:
                    new[aid] = _flat(np.ascontiguousarray(a))
                continue
            bid = self.cache.id_of(root)
            offset = _address(a) - _address(root)
            layout[aid] = [a.dtype.str, list(a.shape), list(a.strides), bid, offset]
            if bid not in sizes:
                sizes[bid] = int(root.nbytes)
                if bid not in old_buffers:
                    new[bid] = _flat(root)
        return layout, sizes, new

    async def save(self, session: Session, lease: Lease, release: bool = False) -> None:
        """Write the session back (new buffers, the graph, meta), fenced by the lease (and,
        with ``release``, release it in the same script).

        Sets ``session.bytes`` to the session's size: its buffers' bytes, each counted once.
        """
        sid, names, token = session.id, session.names, lease.token
        ttl_ms = session.ttl_seconds * 1000
        old_raw = lease.raw
        old_buffers: dict[str, Any] = lease.doc.get("buffers", {})

        def encode() -> tuple[bytes, dict[str, Any], dict[str, bytes], int]:
            doc, arrays = serialize.dump(names, array_id=self.cache.id_of)
            layout, sizes, new = self._layout(arrays, old_buffers)
            doc["arrays"] = layout
            doc["buffers"] = sizes
            blobs = {}
            for bid, flat in new.items():
                blobs[bid] = flat.tobytes()
                self.cache.put(bid, flat)
            return orjson.dumps(doc), doc, blobs, sum(sizes.values())

        # a small session encodes faster than a thread hop; a large one off the event loop
        small = len(names) <= 64 and len(old_buffers) <= 64 and session.bytes <= 1 << 20
        raw, doc, blobs, size = encode() if small else await anyio.to_thread.run_sync(encode)
        meta = {**_meta_of(session), "bytes": size}
        old_ids = set(old_buffers)
        new_ids = set(doc["buffers"])
        meta_fields = _encode_meta(meta)
        keep = sorted(new_ids - set(blobs))
        gone = sorted(old_ids - new_ids)
        keys = [_key(sid, "lock"), _key(sid, "graph"), _key(sid, "meta"), SESSIONS]
        keys += [_key(sid, f"a:{bid}") for bid in [*blobs, *gone, *keep]]
        args: list[Any] = [
            token,
            ttl_ms,
            sid,
            time.time() + ttl_ms / 1000,
            raw if raw != old_raw else b"",
            len(blobs),
            len(gone),
            len(keep),
            len(meta_fields),
        ]
        for name, value in meta_fields.items():
            args += [name, value]
        args += list(blobs.values())
        script = self._save_release if release else self._save
        saved = await script(keys=keys, args=args)
        self.round_trips += 1
        if not saved:
            raise ApiError(409, "session_busy", "the session's lease was lost; retry")
        self.moved["to_redis"] += sum(len(b) for b in blobs.values())
        if raw != old_raw:
            self.moved["to_redis"] += len(raw)
        session.bytes = session.exact_bytes = size
        lease.doc, lease.raw = doc, raw

    async def delete(self, session_id: str) -> None:
        sid = session_id
        raw = await self.redis.get(_key(sid, "graph"))
        keys = [_key(sid, "meta"), _key(sid, "graph")]
        if raw is not None:
            keys += [_key(sid, f"a:{bid}") for bid in orjson.loads(raw).get("buffers", {})]
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(*keys)
            pipe.zrem(SESSIONS, sid)
            await pipe.execute()

    async def keys_of(self, sid: str) -> list[str]:
        """Every key a session holds (for tests of expiry and deletion)."""
        return [_text(k) async for k in self.redis.scan_iter(match=f"gs:{{{sid}}}:*")]


def _c_strides(shape: Any, itemsize: int) -> list[int]:
    strides = []
    step = itemsize
    for n in reversed(list(shape)):
        strides.append(step)
        step *= max(int(n), 1)
    return strides[::-1]
