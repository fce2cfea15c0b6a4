"""The Redis session store: every byte of a session in Redis, so replicas are stateless.

Keys of a session (one hash tag, so a cluster keeps them together), each with the
session's TTL, renewed on every use (four keys, whatever the session's size):

    gs:{sid}:meta    hash: token digest, backend, ttl, name counter, generator state,
                     optimizers, bytes, names (how many), gen (bumped by every save),
                     format (engine.serialize.RECORDS)
    gs:{sid}:graph   hash: one record per object (engine.serialize.Records): ``n:<name>``
                     the tensor a name binds, ``t…`` a tensor, ``N…`` a graph node, ``s…`` a
                     storage, ``v…`` a version counter, ``a…`` an array's layout (dtype,
                     shape, strides, buffer, offset), ``b…`` a buffer (its size)
    gs:{sid}:refs    hash: how many records (and names) reference each record
    gs:{sid}:arrays  hash: buffer id -> the buffer's raw bytes (an array that owns its data)
    gs:{sid}:lock    the lease lock

A record begins with the keys it references, so the scripts below walk and count the
graph without parsing JSON: a save writes only the records that changed and frees, by
their reference counts, the ones nothing references any more (a cycle, which only a
``create_graph`` gradient of a tensor's own graph makes, stays until the session goes).

Arrays are stored as NumPy lays them out: a buffer (the array that owns the memory) and
views on it, so ``x.reshape(...)``, ``x[0]`` or ``x.expand(...)`` cost no bytes and a
session's size in Redis is what the memory store counts. Arrays are immutable (the engine
rebinds a storage, it never writes into an array), so a buffer id names the same bytes
forever: each replica caches buffers by id.

Each replica also keeps the live objects of the sessions it served last (within the same
byte budget), tagged with the session's ``gen``: when a request finds ``gen`` unchanged,
no one else wrote the session since, and the live objects are used as they are. Otherwise
(a cold replica, or another replica wrote the session) the session's names are read
lazily (``names.LazyNames``): a name the request touches is read with its graph (one
script walks the records it reaches), and its buffers this replica lacks (one ``HMGET``);
nothing else is read.

Mutual exclusion is a lease lock (SET NX PX with a random token) that a crashed holder
cannot keep past its lease; a save is fenced (one Lua script that writes nothing unless the
lock still holds the lease's token), so a holder whose lease was taken over cannot
overwrite the new holder's state.

``session()`` is the request path: a warm request is two round trips (``_OPEN``: token,
lease, TTL and meta; ``_SAVE``: the fenced save of what changed, and the release).
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
import redis as syncredis
import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.retry import Retry as SyncRetry

import engine
from engine import serialize
from engine.backend import backend_of
from engine.errors import InvalidArgumentError
from engine.tensor import Tensor

from ..errors import ApiError
from ..executor import Executor
from ..templates import Loader
from .base import Session, Usage, session_not_found, wait_set
from .names import LazyNames

__all__ = ["ArrayCache", "Lease", "RedisStore"]

log = logging.getLogger("gradserve.redis")

SESSIONS = "gs:sessions"  # sorted set: session id -> expiry time
PARTS = ("meta", "graph", "refs", "arrays")  # a session's keys, the lease lock aside

_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
# The fenced write-back, in one round trip: nothing is written unless the lease is ours.
# KEYS: lock, meta, graph, refs, arrays, sessions.
# ARGV: token, ttl_ms, session id, expiry score, release (1/0), #meta fields, #records set,
#       #names deleted, #buffers, then meta field/value pairs, record key/value pairs, the
#       deleted names' keys, buffer id/bytes pairs.
# A record set increments what it references and decrements what its old value did; a
# record whose count drops to 0 (or a new one nothing references) is deleted, and what it
# references is decremented in turn (a buffer's bytes go with its record).
# ``gen`` is bumped when anything changed.
# Reply: {0} the lease is not ours; {1, bytes, gen, names, "deleted keys, space-separated"}.
_SAVE = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return {0} end
local M, G, R, A = KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local ttl = ARGV[2]
local nmeta, nset, ndel, nbuf = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8]),
    tonumber(ARGV[9])
local a = 10
local changed = false
for _ = 1, nmeta do
  if redis.call('HGET', M, ARGV[a]) ~= ARGV[a + 1] then
    redis.call('HSET', M, ARGV[a], ARGV[a + 1])
    changed = true
  end
  a = a + 2
end
local function refs(v)
  local out = {}
  local nl = string.find(v, '\\n', 1, true)
  if nl and nl > 1 then
    for r in string.gmatch(string.sub(v, 1, nl - 1), '%S+') do out[#out + 1] = r end
  end
  return out
end
local queue = {}
local function dec(k)
  if redis.call('HINCRBY', R, k, -1) <= 0 then queue[#queue + 1] = k end
end
local bytes, names = 0, 0
local written = {}
for _ = 1, nset do
  local k, v = ARGV[a], ARGV[a + 1]
  a = a + 2
  local old = redis.call('HGET', G, k)
  if old ~= v then
    changed = true
    for _, r in ipairs(refs(v)) do redis.call('HINCRBY', R, r, 1) end
    redis.call('HSET', G, k, v)
    if old then
      for _, r in ipairs(refs(old)) do dec(r) end
    elseif string.sub(k, 1, 2) == 'n:' then
      names = names + 1
    end
  end
  if string.sub(k, 1, 2) ~= 'n:' then written[#written + 1] = k end
end
for _ = 1, ndel do
  local k = ARGV[a]
  a = a + 1
  local old = redis.call('HGET', G, k)
  if old then
    changed = true
    redis.call('HDEL', G, k)
    names = names - 1
    for _, r in ipairs(refs(old)) do dec(r) end
  end
end
for _ = 1, nbuf do
  if redis.call('HSETNX', A, ARGV[a], ARGV[a + 1]) == 1 then
    changed = true
    bytes = bytes + string.len(ARGV[a + 1])
  end
  a = a + 2
end
for _, k in ipairs(written) do
  if tonumber(redis.call('HGET', R, k) or '0') <= 0 then queue[#queue + 1] = k end
end
local out = {1, 0, 0, 0, ''}
local gone = {}
local i = 1
while i <= #queue do
  local k = queue[i]
  i = i + 1
  if tonumber(redis.call('HGET', R, k) or '0') <= 0 then
    redis.call('HDEL', R, k)
    local v = redis.call('HGET', G, k)
    if v then
      redis.call('HDEL', G, k)
      gone[#gone + 1] = k
      if string.sub(k, 1, 1) == 'b' then
        local bid = string.sub(k, 2)
        bytes = bytes - redis.call('HSTRLEN', A, bid)
        redis.call('HDEL', A, bid)
      end
      for _, r in ipairs(refs(v)) do dec(r) end
    end
  end
end
out[2] = redis.call('HINCRBY', M, 'bytes', bytes)
-- a save that changed nothing leaves the generation: other replicas' copies stay current
out[3] = redis.call('HINCRBY', M, 'gen', changed and 1 or 0)
out[4] = redis.call('HINCRBY', M, 'names', names)
out[5] = table.concat(gone, ' ')
for j = 2, 5 do redis.call('PEXPIRE', KEYS[j], ttl) end
redis.call('ZADD', KEYS[6], ARGV[4], ARGV[3])
if ARGV[5] == '1' then redis.call('DEL', KEYS[1]) end
return out
"""
# The warm request's first round trip: check the token (the digests compared through their
# SHA-1, so the comparison's time says nothing about where they differ), take the lease,
# renew the session's TTL and return meta.
# KEYS: meta, graph, refs, arrays, lock, sessions. ARGV: digest as stored, lease token,
# lease ms, sid, now, the generation this replica's live copy is current with ("" if none).
# Replies: {0} unknown session or wrong token; {1} locked by another holder; {2, meta (flat
# field/value list)}; {4} the live copy is current (meta unchanged: not sent).
_OPEN = """
local stored = redis.call('HGET', KEYS[1], 'token')
if not stored then return {0} end
if redis.sha1hex(stored) ~= redis.sha1hex(ARGV[1]) then return {0} end
if not redis.call('SET', KEYS[5], ARGV[2], 'NX', 'PX', ARGV[3]) then return {1} end
local ttl = tonumber(redis.call('HGET', KEYS[1], 'ttl')) * 1000
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ttl) end
redis.call('ZADD', KEYS[6], 'XX', tonumber(ARGV[5]) + ttl / 1000, ARGV[4])
if ARGV[6] ~= '' and redis.call('HGET', KEYS[1], 'gen') == ARGV[6] then return {4} end
return {2, redis.call('HGETALL', KEYS[1])}
"""
# Every record the given keys reach (the graph behind a name), as key/value pairs.
# KEYS: graph. ARGV: the keys to start from.
_CLOSURE = """
local seen, out, stack = {}, {}, {}
for i = 1, #ARGV do stack[i] = ARGV[i] end
while #stack > 0 do
  local k = table.remove(stack)
  if not seen[k] then
    seen[k] = true
    local v = redis.call('HGET', KEYS[1], k)
    if v then
      out[#out + 1] = k
      out[#out + 1] = v
      local nl = string.find(v, '\\n', 1, true)
      if nl and nl > 1 then
        for r in string.gmatch(string.sub(v, 1, nl - 1), '%S+') do
          if not seen[r] then stack[#stack + 1] = r end
        end
      end
    end
  end
end
return out
"""
# Meta, its TTL and the session's keys' renewed (the waiting path, after the lease).
# KEYS: meta, graph, refs, arrays, sessions. ARGV: sid, now. Reply: meta (flat), or {}.
_META = """
local meta = redis.call('HGETALL', KEYS[1])
if #meta == 0 then return meta end
local ttl = tonumber(redis.call('HGET', KEYS[1], 'ttl')) * 1000
for i = 1, 4 do redis.call('PEXPIRE', KEYS[i], ttl) end
redis.call('ZADD', KEYS[5], 'XX', tonumber(ARGV[2]) + ttl / 1000, ARGV[1])
return meta
"""
# A request that saved nothing: release the lease (if still ours) and renew the TTL of the
# session's keys (a failed request counts as use). KEYS: lock, then the session's keys.
# ARGV: token, ttl.
_RELEASE_TOUCH = """
for i = 2, #KEYS do redis.call('PEXPIRE', KEYS[i], ARGV[2]) end
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
"""
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


def _changing_meta(session: Session) -> dict[str, Any]:
    """The meta fields a request may change (a save writes them)."""
    return {
        "auto": session.name_counter,
        "rng": session.generator.bit_generator.state,
        "optimizers": session.optimizers,
    }


def _meta_of(session: Session) -> dict[str, Any]:
    """What the store keeps beside the graph (``gs:{sid}:meta``) for a new session; the
    saves keep ``bytes``, ``names`` and ``gen`` (integers, so the save script counts)."""
    return {
        "token": session.token_digest.hex(),
        "backend": session.backend.name,
        "ttl": session.ttl_seconds,
        **_changing_meta(session),
        "bytes": 0,
        "names": 0,
        "gen": 0,
        "format": serialize.RECORDS,
    }


def _decode_meta(flat: Any) -> dict[str, Any]:
    """A meta hash (a flat field/value list or a dict), decoded."""
    pairs = flat.items() if isinstance(flat, dict) else zip(flat[::2], flat[1::2], strict=True)
    # stdlib json: the generator's state holds 128-bit integers
    return {_text(k): json.loads(v) for k, v in pairs}


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


# rebuilds a session's stored templates (custom Functions, hooks) from their records
LOADER = Loader(Executor)


def _new_key(kind: str) -> str:
    """A record key no object of any session has (random: replicas create keys at once)."""
    return kind + secrets.token_hex(8)


def _name_record(tkey: str) -> bytes:
    return tkey.encode() + b"\n" + orjson.dumps(tkey)


class _Live:
    """One session's live objects on this replica: the session, its record codec (what each
    key names, and each record as stored) and its arrays by key; ``gen`` is the session's
    generation they are current with."""

    def __init__(self, store: RedisStore, sid: str) -> None:
        self.sid = sid
        self.gen = -1
        self.session: Session | None = None
        self.arrays: dict[str, Any] = {}
        cache = store.cache
        # stored templates (custom Functions, hooks) are data: LOADER rebuilds them
        self.codec = serialize.Records(_new_key, lambda a: "a" + cache.id_of(a), LOADER)
        self.cached_bytes = 0
        self.meta: dict[str, str] = {}  # changing meta fields as stored (encoded)


class _Fetcher:
    """Reads a session's names for ``LazyNames`` (synchronously, inside the request that
    holds the session's lease)."""

    def __init__(self, store: RedisStore, live: _Live) -> None:
        self.store = store
        self.live = live

    def probe(self, name: str) -> bool:
        return bool(self.store.sync.hexists(_key(self.live.sid, "graph"), "n:" + name))

    def probe_many(self, names: list[str]) -> list[bool]:
        got = self.store.sync.hmget(_key(self.live.sid, "graph"), ["n:" + n for n in names])
        return [g is not None for g in got]

    def fetch(self, name: str) -> Tensor | None:
        key = "n:" + name
        flat = self.store._sync_closure(keys=[_key(self.live.sid, "graph")], args=[key])
        records = {_text(flat[i]): _raw(flat[i + 1]) for i in range(0, len(flat), 2)}
        self.store._absorb(self.live, records)
        rec = records.get(key)
        return None if rec is None else self.live.codec.tensor(serialize.record_refs(rec)[0])

    def fetch_all(self) -> dict[str, Tensor]:
        raw = self.store.sync.hgetall(_key(self.live.sid, "graph"))
        records = {_text(k): _raw(v) for k, v in raw.items()}
        self.store._absorb(self.live, records)
        codec = self.live.codec
        return {
            k[2:]: codec.tensor(serialize.record_refs(rec)[0])
            for k, rec in records.items()
            if k.startswith("n:")
        }


@dataclass
class Lease:
    """A held lease lock: its random token (the save's fence) and the live state of the
    session ``load`` read under it (the save writes what changed since)."""

    token: str
    live: _Live | None = field(default=None)


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
        options: dict[str, Any] = {
            "socket_timeout": 60,
            "socket_connect_timeout": 5,
            "health_check_interval": 1,
        }
        self.redis: aioredis.Redis = aioredis.from_url(
            url, retry=Retry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)), **options
        )
        # a request reads the names it touches as it runs (on a worker thread, or inline on
        # the event loop for a small request): a synchronous client of its own
        self.sync: syncredis.Redis = syncredis.Redis.from_url(
            url,
            retry=SyncRetry(NoBackoff(), 1, supported_errors=(RedisConnectionError,)),
            **options,
        )
        self.lease_ms = lease_ms
        self.cache = ArrayCache(cache_bytes)
        self.moved = {"to_redis": 0, "from_redis": 0}  # payload bytes, for benchmarks
        self._release = self.redis.register_script(_RELEASE)
        self._extend = self.redis.register_script(_EXTEND)
        self._save = self.redis.register_script(_SAVE)
        self._open = self.redis.register_script(_OPEN)
        self._meta = self.redis.register_script(_META)
        self._release_touch = self.redis.register_script(_RELEASE_TOUCH)
        self._sync_closure = self.sync.register_script(_CLOSURE)
        self.round_trips = 0  # of session(): the warm path's figure, for tests and benchmarks
        self._admit = self.redis.register_script(_ADMIT)
        self._usage = Usage(0, 0)  # as of the last refresh_usage()
        self._held: set[str] = set()  # lease tokens this process's requests hold now
        # live sessions by id, least recently saved first, within the cache's byte budget
        self._live: OrderedDict[str, _Live] = OrderedDict()
        self._live_bytes = 0
        # per session, this replica's requests queue here (first come, first served) before
        # they ask Redis for the lease: a busy session's waiters do not poll Redis, and each
        # one's turn comes as the one before releases (gone with the last waiter)
        self._queues: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()

    async def prepare(self) -> None:
        """Load the scripts into Redis at startup, so no request pays (or shows, in Redis's
        command counts) a first-use SCRIPT LOAD. A Redis that is down now is not fatal: the
        scripts load on first use instead."""
        try:
            for script in (_OPEN, _SAVE, _META, _CLOSURE, _RELEASE, _RELEASE_TOUCH, _EXTEND):
                await self.redis.script_load(script)
        except Exception:
            log.warning("could not load the Redis scripts at startup", exc_info=True)

    async def close(self) -> None:
        await self.redis.aclose()
        self.sync.close()

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
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.hset(_key(sid, "meta"), mapping=_encode_meta(meta))
            pipe.pexpire(_key(sid, "meta"), ttl_ms)
            await pipe.execute()
        return True

    async def meta(self, sid: str) -> dict[str, Any] | None:
        """The session's meta hash, decoded; None when there is none."""
        raw = await self.redis.hgetall(_key(sid, "meta"))
        return _decode_meta(raw) if raw else None

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
        out = [_text(s) for s in gone]
        for sid in out:
            self._drop_live(sid)
        return out

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

    # ------------------------------------------------------------- live sessions
    def _attach(self, sid: str, meta: dict[str, Any], lease: Lease) -> Session:
        """The session for a request that holds the lease: this replica's live objects if
        no one wrote the session since it saved them (``gen`` unchanged), else a session
        whose names are read as the request touches them."""
        if meta.get("format") != serialize.RECORDS:  # written by another format: not ours
            raise session_not_found(sid)
        gen = int(meta["gen"])
        live = self._live.get(sid)
        if live is not None and live.gen == gen and live.session is not None:
            return self._reuse(live, lease)
        self._drop_live(sid)
        live = _Live(self, sid)
        live.gen = gen
        names = LazyNames(_Fetcher(self, live), int(meta.get("names", 0)))
        live.session = _session_of(sid, meta, names)
        live.meta = _encode_meta(_changing_meta(live.session))
        live.session.renew(time.time())
        lease.live = live
        return live.session

    def _reuse(self, live: _Live, lease: Lease) -> Session:
        """Take a kept live session for a request (out of the cache: while in use no other
        request may take it)."""
        self._drop_live(live.sid)
        session = live.session
        assert session is not None
        session.renew(time.time())
        lease.live = live
        return session

    def _keep(self, live: _Live) -> None:
        """Keep a saved session's live objects for the next request (least recently saved
        out first, within the cache's byte budget)."""
        assert live.session is not None
        size = max(live.session.bytes, 1)
        if size > self.cache.max_bytes:
            return
        self._drop_live(live.sid)
        live.cached_bytes = size
        self._live[live.sid] = live
        self._live_bytes += size
        while self._live_bytes > self.cache.max_bytes and self._live:
            _, old = self._live.popitem(last=False)
            self._live_bytes -= old.cached_bytes

    def _drop_live(self, sid: str) -> None:
        old = self._live.pop(sid, None)
        if old is not None:
            self._live_bytes -= old.cached_bytes

    def _absorb(self, live: _Live, records: dict[str, bytes]) -> None:
        """Build the objects these records describe: arrays from their layouts over buffers
        (this replica's cache, else one HMGET), then tensors and nodes."""
        layouts: dict[str, list[Any]] = {}
        for k, rec in records.items():
            if k.startswith("a") and k not in live.arrays:
                layouts[k] = orjson.loads(rec.partition(b"\n")[2])
        buffers: dict[str, np.ndarray[Any, Any]] = {}
        missing: list[str] = []
        for bid in {lay[3] for lay in layouts.values()}:
            b = self.cache.get(bid)
            if b is None:
                missing.append(bid)
            else:
                buffers[bid] = b
        if missing:
            blobs = self.sync.hmget(_key(live.sid, "arrays"), missing)
            for bid, blob in zip(missing, blobs, strict=True):
                if blob is None:
                    raise ApiError(404, "session_not_found", f"session {live.sid!r} lost a buffer")
                flat = np.frombuffer(_raw(blob), dtype=np.uint8)
                self.moved["from_redis"] += flat.nbytes
                self.cache.put(bid, flat)
                self.cache.remember(flat, bid)
                buffers[bid] = flat
        assert live.session is not None
        xp = live.session.backend.xp
        for k, (dtype, shape, strides, bid, offset) in layouts.items():
            a: Any = np.ndarray(
                tuple(shape), np.dtype(dtype), buffer=buffers[bid], offset=offset,
                strides=tuple(strides),
            )  # fmt: skip
            if xp is not np:
                a = xp.asarray(a)
            self.cache.remember(a, k[1:])
            live.arrays[k] = a
        live.codec.load(records, live.arrays.__getitem__)

    # ------------------------------------------------------------- load/save
    async def _load(self, sid: str, lease: Lease, eager: bool) -> Session:
        """Meta (its TTL and the session's keys renewed: a request that fails, and so saves
        nothing, still counts as use), then the session (``_attach``); with ``eager``,
        every name read now."""
        keys = [*(_key(sid, p) for p in PARTS), SESSIONS]
        flat = await self._meta(keys=keys, args=[sid, time.time()])
        if not flat:
            raise session_not_found(sid)
        session = self._attach(sid, _decode_meta(flat), lease)
        names = session.names
        if eager and isinstance(names, LazyNames) and not names.complete:
            await anyio.to_thread.run_sync(names.load_all)
            names.reset()
        return session

    async def load(self, session_id: str, lease: Lease) -> Session:
        """The session as the previous holder of the lease left it: its named tensors (with
        their graph, every one read now), generator, name counter and bytes. Renews the
        TTL of every key of the session."""
        return await self._load(session_id, lease, eager=True)

    def _adopt(self, session: Session, existing: list[str], lease: Lease) -> _Live:
        """Live state for a session this lease did not load (its names a plain dict): every
        name written, and every name the store binds that it lacks deleted."""
        live = _Live(self, session.id)
        names = LazyNames()
        dict.update(names, session.names)
        names.dirty.update(session.names)
        names.dirty.update(existing)
        names.accessed.update(session.names)
        session.names = names
        live.session = session
        lease.live = live
        return live

    def _layout(self, ak: str, a: Any) -> tuple[list[Any], str, Any]:
        """An array as (dtype, shape, strides, buffer id, offset), its buffer's id, and a
        function returning that buffer as flat bytes (called only when it is new)."""
        aid = ak[1:]
        if not isinstance(a, np.ndarray | np.generic):
            # a device array: its own buffer, named after it, copied to the host only
            # when new (views on the device are not shared in Redis)
            dt = np.dtype(a.dtype)
            layout = [dt.str, list(a.shape), _c_strides(a.shape, dt.itemsize), aid, 0]
            return layout, aid, lambda: _flat(np.ascontiguousarray(backend_of(a).asnumpy(a)))
        arr = np.asarray(a)
        root = _owner(arr)
        if (
            isinstance(a, np.generic)
            or arr.size == 0
            or not (root.flags.c_contiguous or root.flags.f_contiguous)
        ):
            # a scalar, an empty array or an odd owner: the array is its own buffer
            layout = [arr.dtype.str, list(arr.shape), _c_strides(arr.shape, arr.itemsize), aid, 0]
            return layout, aid, lambda: _flat(np.ascontiguousarray(arr))
        bid = self.cache.id_of(root)
        offset = _address(arr) - _address(root)
        return (
            [arr.dtype.str, list(arr.shape), list(arr.strides), bid, offset],
            bid,
            lambda: _flat(root),
        )

    def _encode(
        self, live: _Live, names: LazyNames
    ) -> tuple[dict[str, bytes], list[str], dict[str, bytes]]:
        """What a save writes: the records that changed (reached from the tensors the
        request was handed and the names it bound), the names it unbound, new buffers."""
        codec = live.codec
        roots = list(names.accessed.values())
        bound: dict[str, Tensor] = {}
        for n in names.dirty:
            t = dict.get(names, n)
            if t is not None:
                bound[n] = t
                roots.append(t)
        changed, arrays = codec.dump(roots)
        deleted: list[str] = []
        for n in names.dirty:
            t = bound.get(n)
            if t is None:
                deleted.append("n:" + n)
                continue
            rec = _name_record(codec.tensor_key(t))
            if codec.stored.get("n:" + n) != rec:
                changed["n:" + n] = rec
        blobs: dict[str, bytes] = {}
        for ak, a in arrays.items():
            live.arrays[ak] = a
            if ak in codec.stored:
                continue
            layout, bid, flat_of = self._layout(ak, a)
            changed[ak] = b"b" + bid.encode() + b"\n" + orjson.dumps(layout)
            bk = "b" + bid
            if bk in codec.stored or bk in changed:
                continue
            flat = flat_of()
            changed[bk] = b"\n" + orjson.dumps(int(flat.nbytes))
            blobs[bid] = flat.tobytes()
            self.cache.put(bid, flat)
            self.cache.remember(flat, bid)
        return changed, deleted, blobs

    async def save(self, session: Session, lease: Lease, release: bool = False) -> None:
        """Write back what the request changed, fenced by the lease (and, with ``release``,
        release it in the same script); records nothing references any more are freed.

        Sets ``session.bytes`` to the session's size: its buffers' bytes, each counted once.
        """
        sid, token = session.id, lease.token
        ttl_ms = session.ttl_seconds * 1000
        live = lease.live
        names = session.names
        if live is None or live.session is not session or not isinstance(names, LazyNames):
            graph = await self.redis.hkeys(_key(sid, "graph"))
            existing = [k[2:] for k in map(_text, graph) if k.startswith("n:")]
            live = self._adopt(session, existing, lease)
        names = session.names
        assert isinstance(names, LazyNames)
        # a small request encodes faster than a thread hop; a large one off the event loop
        small = len(names.accessed) + len(names.dirty) <= 64 and session.bytes <= 1 << 20
        try:
            if small:
                changed, deleted, blobs = self._encode(live, names)
            else:
                changed, deleted, blobs = await anyio.to_thread.run_sync(self._encode, live, names)
        except InvalidArgumentError as exc:  # a graph part that cannot be stored as data
            self._drop_live(sid)  # this replica's copy ran the request: read Redis's again
            raise ApiError(
                400, "invalid_argument", f"the session cannot be stored: {exc}"
            ) from None
        # the meta fields that changed since this replica last read or wrote them
        meta_all = _encode_meta(_changing_meta(session))
        meta_fields = {k: v for k, v in meta_all.items() if live.meta.get(k) != v}
        keys = [_key(sid, "lock"), *(_key(sid, p) for p in PARTS), SESSIONS]
        args: list[Any] = [
            token,
            ttl_ms,
            sid,
            time.time() + ttl_ms / 1000,
            1 if release else 0,
            len(meta_fields),
            len(changed),
            len(deleted),
            len(blobs),
        ]
        for name, value in meta_fields.items():
            args += [name, value]
        for k, rec in changed.items():
            args += [k, rec]
        args += deleted
        for bid, blob in blobs.items():
            args += [bid, blob]
        reply = await self._save(keys=keys, args=args)
        self.round_trips += 1
        if not int(reply[0]):
            self._drop_live(sid)
            raise ApiError(409, "session_busy", "the session's lease was lost; retry")
        self.moved["to_redis"] += sum(len(b) for b in blobs.values())
        self.moved["to_redis"] += sum(len(r) for r in changed.values())
        codec = live.codec
        codec.mark_stored(changed)
        for k in deleted:
            codec.stored.pop(k, None)
        gone = _text(reply[4]).split()
        codec.forget(gone)
        for k in gone:
            live.arrays.pop(k, None)
        session.bytes = session.exact_bytes = int(reply[1])
        live.gen = int(reply[2])
        live.meta = meta_all
        names._count = int(reply[3])
        names.reset()
        self._keep(live)

    # ------------------------------------------------------- the warm request path
    @contextlib.asynccontextmanager
    async def session(self, session_id: str, digest: bytes) -> AsyncIterator[Session]:
        """Authenticate, hold and load the session, and save it back if the request
        succeeds (and was not deleted): two round trips when the lease is free (one script
        that checks the token, takes the lease, renews the TTL and returns meta; one that
        saves what changed fenced by the lease and releases it), plus, on a replica whose
        live copy is stale or absent, a read of each name the request touches. A busy
        session takes the waiting path (``lock``, then the same)."""
        sid = session_id
        queue = self._queues.get(sid)
        if queue is None:
            queue = self._queues[sid] = asyncio.Lock()
        # this replica's requests on the session, in turn
        async with queue, self._session(sid, digest) as session:
            yield session

    @contextlib.asynccontextmanager
    async def _session(self, sid: str, digest: bytes) -> AsyncIterator[Session]:
        """``session`` once this replica's earlier requests on it are done."""
        token = f"{INCARNATION}:{secrets.token_hex(16)}"
        keys = [*(_key(sid, p) for p in PARTS), _key(sid, "lock"), SESSIONS]
        known = self._live.get(sid)
        self._held.add(token)
        try:
            args: list[Any] = [json.dumps(digest.hex()), token, self.lease_ms, sid, time.time()]
            args.append("" if known is None else known.gen)
            reply = await self._open(keys=keys, args=args)
            self.round_trips += 1
            status = int(reply[0])
            if status == 0:
                self._drop_live(sid)
                raise session_not_found(sid)
            if status == 1:  # held by another request: wait for it
                async with self.lock(sid) as lease:
                    session = await self._load(sid, lease, eager=False)
                    yield session
                    if not session.deleted:
                        await self.save(session, lease)
                return
            lease = Lease(token)
            done = asyncio.Event()
            renew = asyncio.create_task(self._renew(keys[4], token, done))
            released = False
            ttl_ms = self.lease_ms  # until the session's own is known
            try:
                if status == 4 and self._live.get(sid) is known and known is not None:
                    session = self._reuse(known, lease)  # no one wrote it since: as it is
                else:
                    if status == 4:  # evicted meanwhile: read meta after all
                        reply = [
                            2,
                            await self._meta(keys=[*keys[:4], SESSIONS], args=[sid, time.time()]),
                        ]
                    session = self._attach(sid, _decode_meta(reply[1]), lease)
                ttl_ms = session.ttl_seconds * 1000
                yield session
                if not session.deleted:
                    # the lease stays renewed while the save encodes (a large one takes
                    # seconds); a renewal that lands after the release finds the lock gone
                    # (or another holder's) and changes nothing
                    await self.save(session, lease, release=True)
                    released = True
            finally:
                done.set()
                renew.cancel()
                await asyncio.wait({renew})  # never suppresses a cancel of this task itself
                if not released:
                    await self._release_and_touch(sid, token, ttl_ms)
        finally:
            self._held.discard(token)

    async def _release_and_touch(self, sid: str, token: str, ttl_ms: int) -> None:
        """Release the lease of a request that saved nothing, the session's keys' TTLs
        renewed (a failed request still counts as use), in one round trip."""
        keys = [_key(sid, "lock"), *(_key(sid, p) for p in PARTS)]
        await self._release_touch(keys=keys, args=[token, ttl_ms])
        self.round_trips += 1

    async def delete(self, session_id: str) -> None:
        sid = session_id
        self._drop_live(sid)
        async with self.redis.pipeline(transaction=True) as pipe:
            pipe.delete(*(_key(sid, p) for p in PARTS))
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
