"""Benchmark the Redis session store against the memory store, over real loopback HTTP.

Run from the repository root::

    python -m bench.bench_scale            # full run (about a minute and a half)
    python -m bench.bench_scale --quick    # a smoke run of a few seconds (small sizes)

In one run it starts a ``redis-server`` on a free 127.0.0.1 port (a temporary directory,
no RDB snapshots, no append-only file) and real ``gradserve serve`` processes (the CLI,
each on its own free port, the caller's ``GRADSERVE_*`` variables dropped so the
defaults apply), and prints the machine, the exact command and ONE table:

(a) req/s of small graph requests: the tutorial's four nodes (``y=x+2, z=y*y, z=z*3,
    out=mean(z)``, ``return: [out]``, ``include: [data]``), each of 16 concurrent
    clients on its own session holding ``x=ones(2,2)`` with requires_grad, for a fixed
    duration after a warm-up, against (i) the memory store, 1 worker, (ii) the Redis
    store, 1 worker and (iii) the Redis store, 2 workers (``--workers 2``). Ratio
    Redis/memory, target >= 0.8x. One server at a time, each measured alone.
(b) bytes moved between a replica and Redis per request, in a session holding 100 MB of
    tensors (25 x 1M float32, ``fill: randn``), for a request that touches one small
    tensor (``s2 = s * 2`` on a 4-element ``s``): read from the replica's /metrics
    gauges (``gradserve_store_bytes_to_redis`` + ``..._from_redis``, payload bytes)
    before and after, and from Redis ``INFO stats`` (``total_net_input_bytes`` +
    ``total_net_output_bytes``, everything on the wire, every client of this Redis).
    Three replicas share the Redis: the one that built the session (its array cache
    warm), a fresh one with the default cache (its first request: cold), and one with
    ``GRADSERVE_REDIS_CACHE_BYTES=0`` (no cache). Targets: < 1 MB on the warm replica,
    and < 1 MB sent by Redis (``total_net_output_bytes`` alone) for the cold replica's
    first request.
(c) a trivial request (the same ``s2 = s * 2``) in a session of 100k tensors (``s``, ``s2``
    and 99,998 4-element tensors, bound by 10 graph requests of 10k nodes) against the
    same request in a session holding only ``s`` and ``s2``, on one Redis replica (its
    copy warm; the two sessions' requests alternate, one at a time, so a busy machine
    slows both alike): median latency (ratio target <= 2x), bytes
    written to Redis per request (payload) and on Redis' wire, and what a cold replica's
    first trivial request makes Redis send.
(d) Redis round trips per warm small request (graph, backward, grad, a tensor read), on
    the app in this process over httpx's ASGI transport: every packet redis-py sends (a
    pipeline or a script is one), target <= 3.

Load generator: ``httpx.AsyncClient`` (HTTP/1.1 keep-alive, at most 16 connections),
one coroutine per client with one request in flight each. httpx costs a few hundred
microseconds of client CPU a request: the notes give the client's and the servers' CPU
use per cell, so a client-bound cell shows as such.

``main(argv)`` runs it in-process (``tests/bench/test_scale_bench_smoke.py`` calls
``main(["--quick"])``). Every subprocess is started in its own process group, then
terminated (and killed after 15 s) and waited for on the way out.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import math
import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from .common import (
    HOST,
    TUTORIAL_GRAPH,
    Process,
    clean_env,
    gradserve_argv,
    header,
    machine_busy_seconds,
    met,
    render_table,
    sigterm_exits,
    versions,
)

MB = 1_000_000

SMALL_GRAPH = {
    "nodes": [{"name": "s2", "op": "mul", "args": ["s", 2]}],
    "return": ["s2"],
    "include": ["data"],
}


@dataclass(frozen=True)
class Config:
    duration: float  # seconds measured per load cell
    warmup: float
    clients: int
    big_tensors: int  # (b): tensors of big_elements float32 each
    big_elements: int
    byte_requests: int  # (b): requests measured per replica
    many_tensors: int  # (c): names of the large session
    trivial_requests: int  # (c): requests timed per session
    startup_timeout: float = 60.0


FULL = Config(duration=10.0, warmup=2.0, clients=16, big_tensors=25, big_elements=1 << 20,
              byte_requests=10, many_tensors=100_000, trivial_requests=200)  # fmt: skip
QUICK = Config(duration=1.0, warmup=0.3, clients=16, big_tensors=4, big_elements=1 << 18,
               byte_requests=2, many_tensors=2_000, trivial_requests=20)  # fmt: skip


# ------------------------------------------------------------------ processes
def start_redis(tmp: str) -> Process:
    exe = shutil.which("redis-server")
    if exe is None:
        raise SystemExit(
            "bench/bench_scale.py needs redis-server (Debian: apt-get install redis-server)"
        )

    def argv(port: int) -> list[str]:
        return [exe, "--port", str(port), "--bind", HOST, "--save", "", "--appendonly", "no"] + [
            "--dir",
            tmp,
            "--protected-mode",
            "yes",
        ]

    r = Process(argv, name="redis-server", env=dict(os.environ)).launch()

    def pong() -> bool:
        with socket.create_connection((HOST, r.port), timeout=1) as s:
            s.sendall(b"PING\r\n")
            return s.recv(16).startswith(b"+PONG")

    r.wait_until(pong, 30)
    return r


def start_gradserve(
    name: str, store: str, workers: int, timeout: float, extra: dict[str, str] | None = None
) -> Process:
    args = ["--store", store, *(["--workers", str(workers)] if workers > 1 else [])]
    p = Process(
        lambda port: gradserve_argv(port, *args),
        name=name,
        env=clean_env(extra),
        ready_path="/readyz",
    )
    return p.start(timeout)


def redis_info(port: int) -> dict[str, int]:
    """``INFO stats`` counters, over a raw socket (RESP), so no client library is needed."""
    with socket.create_connection((HOST, port), timeout=5) as s:
        s.sendall(b"INFO stats\r\n")
        buf = b""
        while b"\r\n" not in buf:
            buf += s.recv(65536)
        head, _, rest = buf.partition(b"\r\n")
        size = int(head[1:])
        while len(rest) < size + 2:
            rest += s.recv(65536)
    out = {}
    for line in rest[:size].decode().splitlines():
        key, _, value = line.partition(":")
        if value.isdigit():
            out[key] = int(value)
    return out


def redis_command(port: int, *words: str) -> bytes:
    with socket.create_connection((HOST, port), timeout=10) as s:
        s.sendall(f"*{len(words)}\r\n".encode())
        for w in words:
            s.sendall(f"${len(w.encode())}\r\n{w}\r\n".encode())
        return s.recv(4096)


# ------------------------------------------------------------------ HTTP
@dataclass
class GsSession:
    path: str
    auth: dict[str, str]


async def new_session(c: httpx.AsyncClient) -> GsSession:
    r = await c.post("/v1/sessions")
    r.raise_for_status()
    body = r.json()
    return GsSession(
        f"/v1/sessions/{body['session_id']}", {"Authorization": f"Bearer {body['token']}"}
    )


async def add_tensor(c: httpx.AsyncClient, s: GsSession, body: dict[str, Any]) -> None:
    r = await c.post(f"{s.path}/tensors", json=body, headers=s.auth, timeout=120)
    if r.status_code >= 300:
        raise RuntimeError(f"creating {body.get('name')}: {r.status_code} {r.text}")


async def graph(c: httpx.AsyncClient, s: GsSession, body: dict[str, Any]) -> httpx.Response:
    r = await c.post(f"{s.path}/graph", json=body, headers=s.auth, timeout=120)
    if r.status_code != 200:
        raise RuntimeError(f"graph: {r.status_code} {r.text}")
    return r


async def metrics(c: httpx.AsyncClient) -> dict[str, float]:
    r = await c.get("/metrics")
    out = {}
    for line in r.text.splitlines():
        if line.startswith("gradserve_store_bytes_"):
            key, _, value = line.partition(" ")
            out[key] = float(value)
    return out


# ------------------------------------------------------------------ (a) throughput
@dataclass
class Load:
    label: str
    requests: int
    seconds: float
    latencies: list[float]
    server_cpu: float  # cores, the server's process tree
    client_cpu: float  # cores, this process (the httpx clients)
    redis_cpu: float  # cores, redis-server
    others_cpu: float  # cores, every other process on the machine (nan: unknown)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def pct(self, q: float) -> float:
        if not self.latencies:
            return math.nan
        xs = sorted(self.latencies)
        return xs[min(len(xs) - 1, int(q * len(xs)))] * 1000


async def measure_load(cfg: Config, server: Process, redis: Process, label: str) -> Load:
    url = f"http://{HOST}:{server.port}"
    limits = httpx.Limits(max_connections=cfg.clients, max_keepalive_connections=cfg.clients)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=60) as c:
        sessions = [await new_session(c) for _ in range(cfg.clients)]
        for s in sessions:
            await add_tensor(
                c, s, {"name": "x", "fill": "ones", "shape": [2, 2], "requires_grad": True}
            )
        latencies: list[float] = []
        count = 0
        t_start = time.perf_counter()
        t_warm = t_start + cfg.warmup
        t_end = t_warm + cfg.duration

        async def client(s: GsSession) -> None:
            nonlocal count
            while True:  # bounded: stops at t_end
                t0 = time.perf_counter()
                if t0 >= t_end:
                    return
                r = await c.post(f"{s.path}/graph", json=TUTORIAL_GRAPH, headers=s.auth)
                t1 = time.perf_counter()
                if r.status_code != 200:
                    raise RuntimeError(f"{label}: graph answered {r.status_code}: {r.text}")
                if t0 >= t_warm:
                    count += 1
                    latencies.append(t1 - t0)

        def cpu() -> tuple[float, float, float, float]:
            busy = machine_busy_seconds()
            return (
                server.cpu_seconds(),
                time.process_time(),
                redis.cpu_seconds(),
                math.nan if busy is None else busy,
            )

        async def mark() -> tuple[float, float, float, float]:
            await asyncio.sleep(max(0.0, t_warm - time.perf_counter()))
            return cpu()

        marker = asyncio.create_task(mark())
        await asyncio.gather(*(client(s) for s in sessions))
        before = await marker
        elapsed = time.perf_counter() - t_warm
        after = cpu()
        for s in sessions:
            await c.delete(s.path, headers=s.auth)
    srv, own, red, busy = ((a - b) / elapsed for a, b in zip(after, before, strict=True))
    return Load(label, count, elapsed, latencies, srv, own, red, max(0.0, busy - srv - own - red))


# ------------------------------------------------------------------ (b) bytes moved
@dataclass
class Moved:
    label: str
    payload: float  # bytes per request, /metrics gauges
    wire: float  # bytes per request, Redis INFO (both directions)
    requests: int
    sent: float = math.nan  # bytes per request Redis sent (INFO total_net_output_bytes)


async def measure_moved(
    replica: Process, redis_port: int, s: GsSession, n: int, label: str
) -> Moved:
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{replica.port}", timeout=120) as c:
        m0, i0 = await metrics(c), redis_info(redis_port)
        for _ in range(n):
            await graph(c, s, SMALL_GRAPH)
        m1, i1 = await metrics(c), redis_info(redis_port)
    payload = sum(m1[k] - m0.get(k, 0.0) for k in m1)
    wire = sum(i1[k] - i0[k] for k in ("total_net_input_bytes", "total_net_output_bytes"))
    sent = i1["total_net_output_bytes"] - i0["total_net_output_bytes"]
    return Moved(label, payload / n, wire / n, n, sent / n)


async def build_big_session(cfg: Config, replica: Process) -> GsSession:
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{replica.port}", timeout=120) as c:
        s = await new_session(c)
        for i in range(cfg.big_tensors):
            await add_tensor(c, s, {"name": f"w{i}", "fill": "randn", "shape": [cfg.big_elements]})
        await add_tensor(c, s, {"name": "s", "fill": "ones", "shape": [4]})
        await graph(c, s, SMALL_GRAPH)  # s2 exists: the measured requests only replace it
        r = await c.get(s.path, headers=s.auth)
        r.raise_for_status()
    return s


# ------------------------------------------------------------------ (c) many tensors
async def build_many_session(cfg: Config, replica: Process, many: bool) -> GsSession:
    """``s`` and ``s2`` and, with ``many``, enough 4-element tensors for ``many_tensors``
    names in all (graph requests of 10k nodes, nothing returned)."""
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{replica.port}", timeout=600) as c:
        s = await new_session(c)
        await add_tensor(c, s, {"name": "s", "fill": "ones", "shape": [4]})
        await graph(c, s, SMALL_GRAPH)
        n = cfg.many_tensors - 2 if many else 0
        for start in range(0, n, 10_000):
            nodes = [
                {"name": f"p{i}", "op": "mul", "args": ["s", 1]}
                for i in range(start, min(n, start + 10_000))
            ]
            await graph(c, s, {"nodes": nodes, "return": [], "no_grad": True})
    return s


@dataclass
class Trivial:
    label: str
    latencies: list[float]
    payload: float  # bytes per request to and from Redis, /metrics gauges
    wire: float  # bytes per request on Redis' wire, both directions
    sent: float  # bytes per request Redis sent

    @property
    def p50(self) -> float:
        xs = sorted(self.latencies)
        return xs[len(xs) // 2] * 1000 if xs else math.nan


async def measure_trivial(
    replica: Process, redis_port: int, s: GsSession, n: int, label: str, warm: bool = True
) -> Trivial:
    """``n`` trivial requests one after another (after one unmeasured, with ``warm``)."""
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{replica.port}", timeout=600) as c:
        if warm:
            await graph(c, s, SMALL_GRAPH)
        m0, i0 = await metrics(c), redis_info(redis_port)
        latencies = []
        for _ in range(n):
            t0 = time.perf_counter()
            await graph(c, s, SMALL_GRAPH)
            latencies.append(time.perf_counter() - t0)
        m1, i1 = await metrics(c), redis_info(redis_port)
    payload = sum(m1[k] - m0.get(k, 0.0) for k in m1)
    wire = sum(i1[k] - i0[k] for k in ("total_net_input_bytes", "total_net_output_bytes"))
    sent = i1["total_net_output_bytes"] - i0["total_net_output_bytes"]
    return Trivial(label, latencies, payload / n, wire / n, sent / n)


async def paired_latencies(
    replica: Process, a: GsSession, b: GsSession, n: int
) -> tuple[list[float], list[float]]:
    """``n`` trivial requests on each of two sessions, alternating (a, b, a, b, ...), so a
    busy machine slows both alike; their latencies."""
    async with httpx.AsyncClient(base_url=f"http://{HOST}:{replica.port}", timeout=600) as c:
        for s in (a, b):
            await graph(c, s, SMALL_GRAPH)
        out: tuple[list[float], list[float]] = ([], [])
        for _ in range(n):
            for s, lat in zip((a, b), out, strict=True):
                t0 = time.perf_counter()
                await graph(c, s, SMALL_GRAPH)
                lat.append(time.perf_counter() - t0)
    return out


# ------------------------------------------------------------------ (d) round trips
async def measure_round_trips(store: str) -> dict[str, int]:
    """Packets redis-py sends for each warm small request, the app in this process."""
    from redis.asyncio.connection import Connection as AsyncConnection
    from redis.connection import Connection as SyncConnection

    from service.app import create_app
    from service.settings import Settings

    count = [0]
    real_async, real_sync = AsyncConnection.send_packed_command, SyncConnection.send_packed_command

    async def counted_async(self: Any, command: Any, check_health: bool = True) -> None:
        count[0] += 1
        await real_async(self, command, check_health)

    def counted_sync(self: Any, command: Any, check_health: bool = True) -> None:
        count[0] += 1
        real_sync(self, command, check_health)

    settings = Settings(store=store, sweep_interval_seconds=3600, log_level="warning")
    app = create_app(settings)
    out: dict[str, int] = {}
    AsyncConnection.send_packed_command = counted_async  # type: ignore[method-assign]
    SyncConnection.send_packed_command = counted_sync  # type: ignore[method-assign]
    try:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(
                transport=transport, base_url="http://bench", timeout=60
            ) as c:
                s = await new_session(c)
                await add_tensor(
                    c, s, {"name": "x", "fill": "ones", "shape": [2, 2], "requires_grad": True}
                )
                await graph(c, s, TUTORIAL_GRAPH)  # warm
                for label, method, path, body in (
                    ("graph", "POST", "/graph", TUTORIAL_GRAPH),
                    ("backward", "POST", "/backward", {"tensor": "out", "retain_graph": True}),
                    (
                        "grad",
                        "POST",
                        "/grad",
                        {"outputs": ["out"], "inputs": ["x"], "retain_graph": True},
                    ),
                    ("tensor read", "GET", "/tensors/x/data", None),
                ):
                    before = count[0]
                    r = await c.request(method, s.path + path, json=body, headers=s.auth)
                    if r.status_code != 200:
                        raise RuntimeError(f"{label}: {r.status_code} {r.text}")
                    out[label] = count[0] - before
                await c.delete(s.path, headers=s.auth)
    finally:
        AsyncConnection.send_packed_command = real_async  # type: ignore[method-assign]
        SyncConnection.send_packed_command = real_sync  # type: ignore[method-assign]
    return out


# ------------------------------------------------------------------ table
@dataclass
class Row:
    case: str
    value: str
    unit: str
    ratio: str
    target: str
    met: str


def format_table(rows: Sequence[Row]) -> str:
    cols = ["case", "value", "unit", "ratio", "target", "met?"]
    cells = [[r.case, r.value, r.unit, r.ratio, r.target, r.met] for r in rows]
    return render_table(cols, cells, right={1, 3})


def _human(n: float) -> str:
    if not math.isfinite(n):
        return "n/a"
    return f"{n / MB:.3f} MB" if n >= 10_000 else f"{n:.0f} B"


# ------------------------------------------------------------------ main
def _redis_version() -> str:
    exe = shutil.which("redis-server")
    if exe is None:
        return "not installed"
    out = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=10).stdout
    return next((w[2:] for w in out.split() if w.startswith("v=")), out.strip())


def _parse(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.bench_scale", description=__doc__.split("\n")[0]
    )
    p.add_argument("--quick", action="store_true", help="short cells, small sizes (seconds)")
    p.add_argument("--duration", type=float, default=None, help="seconds measured per load cell")
    return p.parse_args(list(argv))


def _run(cfg: Config, notes: list[str], started: list[str]) -> list[Row]:
    rows: list[Row] = []
    procs: list[Process] = []
    with tempfile.TemporaryDirectory(prefix="gradserve-scale-") as tmp:
        try:
            redis = start_redis(tmp)
            procs.append(redis)
            started.append(
                f"redis-server pid {redis.pid} port {redis.port}: {shlex.join(redis.argv)}"
            )
            store = f"redis://{HOST}:{redis.port}/0"

            # (a) one server at a time
            loads: list[Load] = []
            for label, st, workers in (
                ("memory, 1 worker", "memory", 1),
                ("redis, 1 worker", store, 1),
                ("redis, 2 workers", store, 2),
            ):
                server = start_gradserve(f"gradserve ({label})", st, workers, cfg.startup_timeout)
                procs.append(server)
                started.append(
                    f"gradserve pid {server.pid} port {server.port}: {shlex.join(server.argv)}"
                )
                try:
                    loads.append(asyncio.run(measure_load(cfg, server, redis, label)))
                    server.check_alive()
                finally:
                    server.stop()
                redis_command(redis.port, "FLUSHALL")
            mem = loads[0]
            for load in loads:
                ratio = load.rps / mem.rps if mem.rps else math.nan
                is_redis = load is not mem
                rows.append(
                    Row(
                        f"(a) graph req/s, {load.label}",
                        f"{load.rps:.0f}",
                        "req/s",
                        f"{ratio:.2f}x",
                        ">= 0.80x memory" if load.label == "redis, 1 worker" else "-",
                        met(ratio >= 0.8 if load.label == "redis, 1 worker" else None),
                    )
                )
                cpus = os.cpu_count() or 1
                notes.append(
                    f"(a) {load.label}: {load.requests} requests in {load.seconds:.1f}s, "
                    f"p50 {load.pct(0.5):.1f} ms, p99 {load.pct(0.99):.1f} ms; CPU in cores: "
                    f"server {load.server_cpu:.2f} "
                    f"({1000 * load.server_cpu / max(load.rps, 1e-9):.2f} ms/request), "
                    f"client (httpx) {load.client_cpu:.2f}"
                    + (f", redis-server {load.redis_cpu:.2f}" if is_redis else "")
                    + f", other processes {load.others_cpu:.2f} of {cpus}"
                    + (
                        " (the machine was busy: timings are noisy, rerun on an idle machine)"
                        if load.others_cpu > 0.1 * cpus
                        else ""
                    )
                )

            # (b) three replicas on one Redis, one session of big tensors
            mb = cfg.big_tensors * cfg.big_elements * 4 / MB
            warm = start_gradserve("gradserve (cache, warm)", store, 1, cfg.startup_timeout)
            procs.append(warm)
            cold = start_gradserve("gradserve (cache, cold)", store, 1, cfg.startup_timeout)
            procs.append(cold)
            nocache = start_gradserve(
                "gradserve (no cache)",
                store,
                1,
                cfg.startup_timeout,
                {"GRADSERVE_REDIS_CACHE_BYTES": "0"},
            )
            procs.append(nocache)
            for p in (warm, cold, nocache):
                started.append(
                    f"gradserve pid {p.pid} port {p.port}: "
                    + ("GRADSERVE_REDIS_CACHE_BYTES=0 " if p is nocache else "")
                    + shlex.join(p.argv)
                )
            t0 = time.perf_counter()
            session = asyncio.run(build_big_session(cfg, warm))
            notes.append(
                f"(b) session: {cfg.big_tensors} x {cfg.big_elements} float32 "
                f"({mb:.1f} MB) + s (4 floats), built on the warm replica in "
                f"{time.perf_counter() - t0:.1f}s; request: {SMALL_GRAPH['nodes']}"
            )
            n = cfg.byte_requests
            moved = [
                asyncio.run(measure_moved(warm, redis.port, session, n, "cache on, warm replica")),
                asyncio.run(
                    measure_moved(cold, redis.port, session, 1, "cache on, cold replica, 1st req")
                ),
                asyncio.run(
                    measure_moved(cold, redis.port, session, n, "cache on, cold replica, then")
                ),
                asyncio.run(
                    measure_moved(nocache, redis.port, session, n, "cache off (CACHE_BYTES=0)")
                ),
            ]
            for m in moved:
                target = m.label == "cache on, warm replica"
                rows.append(
                    Row(
                        f"(b) bytes/req, {m.label}",
                        f"{m.payload / MB:.3f}",
                        "MB payload",
                        "-",
                        "< 1 MB" if target else "-",
                        met(m.payload < MB if target else None),
                    )
                )
                rows.append(
                    Row(
                        f"(b) wire/req,  {m.label}",
                        f"{m.wire / MB:.3f}",
                        "MB Redis net",
                        "-",
                        "< 1 MB" if target else "-",
                        met(m.wire < MB if target else None),
                    )
                )
                if m.label == "cache on, cold replica, 1st req":
                    rows.append(
                        Row(
                            f"(b) Redis sent, {m.label}",
                            f"{m.sent / MB:.3f}",
                            "MB INFO out",
                            "-",
                            "< 1 MB",
                            met(m.sent < MB),
                        )
                    )
                notes.append(
                    f"(b) {m.label}: {m.requests} request(s); per request "
                    f"{_human(m.payload)} payload (/metrics), {_human(m.wire)} on Redis' wire "
                    "(INFO total_net_input+output_bytes)"
                )

            # (c) a trivial request in a session of many tensors, against an empty session
            t0 = time.perf_counter()
            many = asyncio.run(build_many_session(cfg, warm, many=True))
            notes.append(
                f"(c) session of {cfg.many_tensors} tensors built on the warm replica in "
                f"{time.perf_counter() - t0:.1f}s (10k-node graph requests)"
            )
            empty = asyncio.run(build_many_session(cfg, warm, many=False))
            k = cfg.trivial_requests
            trivial = {}
            for label, sess in (("empty", empty), ("many", many)):  # bytes, one at a time
                trivial[label] = asyncio.run(
                    measure_trivial(warm, redis.port, sess, k // 4, f"warm replica, {label}")
                )
            # latency: the two sessions' requests alternate (a noisy machine slows both alike)
            lat_empty, lat_many = asyncio.run(paired_latencies(warm, empty, many, k))
            trivial["empty"].latencies, trivial["many"].latencies = lat_empty, lat_many
            cold_many = asyncio.run(
                measure_trivial(cold, redis.port, many, 1, "cold replica, 1st req", warm=False)
            )
            base = trivial["empty"].p50
            ratio = trivial["many"].p50 / base if base else math.nan
            n_label = f"{cfg.many_tensors // 1000}k tensors"
            rows.append(
                Row("(c) trivial req p50, empty session", f"{base:.2f}", "ms", "-", "-", "-")
            )
            rows.append(
                Row(
                    f"(c) trivial req p50, {n_label}",
                    f"{trivial['many'].p50:.2f}",
                    "ms",
                    f"{ratio:.2f}x",
                    "<= 2.00x empty",
                    met(ratio <= 2.0),
                )
            )
            for label in ("empty", "many"):
                t = trivial[label]
                rows.append(
                    Row(
                        f"(c) bytes/req, {'empty session' if label == 'empty' else n_label}",
                        f"{t.payload / 1000:.2f} / {t.wire / 1000:.2f}",
                        "kB payload / wire",
                        "-",
                        "-",
                        "-",
                    )
                )
            rows.append(
                Row(
                    f"(c) Redis sent, cold replica 1st trivial req, {n_label}",
                    f"{cold_many.sent / 1000:.2f}",
                    "kB INFO out",
                    "-",
                    "-",
                    "-",
                )
            )
            for t in trivial.values():
                notes.append(
                    f"(c) {t.label}: p50 {t.p50:.2f} ms over {len(t.latencies)} requests "
                    "(alternating with the other session's); per request (measured apart) "
                    f"{_human(t.payload)} payload, "
                    f"{_human(t.wire)} on Redis' wire, Redis sent {_human(t.sent)}"
                )
            notes.append(
                f"(c) {cold_many.label} in the {n_label} session: {cold_many.p50:.1f} ms, "
                f"{_human(cold_many.payload)} payload, Redis sent {_human(cold_many.sent)}"
            )
            for p in (warm, cold, nocache):
                p.check_alive()

            # (d) round trips per warm small request, the app in this process
            trips = asyncio.run(measure_round_trips(store))
            for label, n_trips in trips.items():
                rows.append(
                    Row(
                        f"(d) Redis round trips, warm {label}",
                        str(n_trips),
                        "packets",
                        "-",
                        "<= 3",
                        met(n_trips <= 3),
                    )
                )
        finally:
            for p in procs[::-1]:
                p.stop()
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parse(argv)
    cfg = QUICK if args.quick else FULL
    if args.duration is not None:
        cfg = dataclasses.replace(cfg, duration=args.duration)
    title = "gradserve scale-out benchmark: Redis store vs memory store" + (
        " (--quick: short cells, small sizes, smoke run only)" if args.quick else ""
    )
    print("\n".join(header(title, "bench.bench_scale", argv)))
    print(
        "versions: redis-server "
        + _redis_version()
        + ", "
        + versions("redis", "httpx", "uvicorn", "numpy", "orjson")
    )
    print(
        f"method  : (a) {cfg.clients} clients (httpx.AsyncClient), one session each, "
        f"{cfg.warmup:g}s warm-up + {cfg.duration:g}s per server, servers one at a time; "
        f"(b) {cfg.byte_requests} request(s) per replica, deltas of /metrics and Redis INFO"
    )
    notes: list[str] = []
    started: list[str] = []
    try:
        with sigterm_exits():
            rows = _run(cfg, notes, started)
    finally:
        for s in started:
            print(f"started : {s}")
    print()
    print(format_table(rows))
    print()
    for n in notes:
        print(f"note    : {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
