"""Hostile-load probes against a live ``gradserve serve`` run from a given source tree (so
the same probes measure an older checkout too): docs/limits.md has the numbers.

usage: python -m bench.hostile_probe TREE [1 2 4 9 5]  (needs redis-server for probe 5;
probe 1 takes ~3 GB of memory on a tree without per-op budgets)
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import socket
import sys
import tempfile
import threading
import time
from http.client import HTTPConnection
from pathlib import Path

import httpx
import numpy as np
import redis

from bench.common import Process, clean_env, gradserve_argv

TREE = sys.argv[1]
WHICH = set(sys.argv[2:])


def server_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The harness's clean environment, importing gradserve from TREE (not this checkout)."""
    env = clean_env(extra)
    env["PYTHONPATH"] = TREE
    return env


class Server:
    """``python -m service serve`` from TREE, started through the bench harness."""

    def __init__(self, env: dict[str, str] | None = None) -> None:
        self.p = Process(
            lambda port: gradserve_argv(
                port, command=[sys.executable, "-m", "service"], log_level="critical"
            ),
            env=server_env(env),
            cwd=Path(TREE),
        ).start()
        self.port = self.p.port
        self.url = self.p.url

    def status(self, key: str) -> int:
        with open(f"/proc/{self.p.pid}/status") as f:
            for line in f:
                if line.startswith(key):
                    return int(line.split()[1]) * 1024
        return 0

    def stop(self) -> None:
        self.p.close()


def sess(c: httpx.Client) -> tuple[str, dict[str, str]]:
    b = c.post("/v1/sessions").json()
    return b["session_id"], {"Authorization": f"Bearer {b['token']}"}


def out(name: str, **kw: object) -> None:
    print(json.dumps({"probe": name, **kw}), flush=True)


def p1() -> None:
    s = Server()
    with httpx.Client(base_url=s.url, timeout=120) as c:
        sid, auth = sess(c)
        c.post(
            f"/v1/sessions/{sid}/tensors",
            headers=auth,
            json={"name": "x", "fill": "zeros", "shape": [4096, 4096], "dtype": "float64"},
        )
        before = s.status("VmRSS")
        nodes = [{"name": f"y{i}", "op": "add", "args": ["x", 0]} for i in range(20)]
        t = time.monotonic()
        r = c.post(f"/v1/sessions/{sid}/graph", headers=auth, json={"nodes": nodes})
        out(
            "1 graph 20x add 4096^2 f64",
            status=r.status_code,
            code=r.json().get("code"),
            node=r.json().get("node"),
            rss_before_mb=before >> 20,
            peak_mb=s.status("VmHWM") >> 20,
            seconds=round(time.monotonic() - t, 2),
        )
    s.stop()


def p2() -> None:
    s = Server()
    with httpx.Client(base_url=s.url, timeout=120) as c:
        sid, auth = sess(c)
        c.post(f"/v1/sessions/{sid}/tensors", headers=auth, json={"name": "e", "value": []})
        before = s.status("VmRSS")
        codes = []
        for k in range(12):
            nodes = [{"name": f"z{k}_{i}", "op": "mul", "args": ["e", 2]} for i in range(10000)]
            r = c.post(
                f"/v1/sessions/{sid}/graph", headers=auth, json={"nodes": nodes, "return": []}
            )
            codes.append(r.status_code if r.status_code == 200 else r.json()["code"])
        info = c.get(f"/v1/sessions/{sid}", headers=auth).json()
        out(
            "2 120k empty named tensors in one session",
            codes=sorted(set(map(str, codes))),
            tensors=info.get("tensor_count"),
            bytes_reported=info.get("bytes"),
            rss_growth_mb=(s.status("VmRSS") - before) >> 20,
        )
    s.stop()


def p4() -> None:
    s = Server()
    with httpx.Client(base_url=s.url, timeout=120) as c:
        sid, auth = sess(c)
        c.post(
            f"/v1/sessions/{sid}/tensors",
            headers=auth,
            json={"name": "m", "fill": "randn", "shape": [512, 512]},
        )
        nodes = [{"name": "p", "op": "matmul", "args": ["m", "m"]}] * 400
        with contextlib.suppress(httpx.ReadTimeout):
            httpx.post(
                f"{s.url}/v1/sessions/{sid}/graph",
                headers=auth,
                json={"nodes": nodes},
                timeout=httpx.Timeout(10, read=1.0),
            )
        t = time.monotonic()
        r = c.get(f"/v1/sessions/{sid}/tensors", headers=auth)
        out(
            "4 client drops a 400-matmul request after 1 s",
            next_request_waited_s=round(time.monotonic() - t, 2),
            status=r.status_code,
        )
    s.stop()
    s = Server({"GRADSERVE_MAX_REQUEST_SECONDS": "1"})
    with httpx.Client(base_url=s.url, timeout=120) as c:
        sid, auth = sess(c)
        c.post(
            f"/v1/sessions/{sid}/tensors",
            headers=auth,
            json={"name": "m", "fill": "randn", "shape": [512, 512]},
        )
        t = time.monotonic()
        r = c.post(f"/v1/sessions/{sid}/graph", headers=auth, json={"nodes": nodes})
        out(
            "4 400-matmul request, MAX_REQUEST_SECONDS=1",
            status=r.status_code,
            code=r.json().get("code"),
            seconds=round(time.monotonic() - t, 2),
        )
    s.stop()


def p9() -> None:
    s = Server({"GRADSERVE_BODY_READ_TIMEOUT_SECONDS": "2"})
    with httpx.Client(base_url=s.url, timeout=5) as c:
        sid, auth = sess(c)
        buf = io.BytesIO()
        np.save(buf, np.zeros(1000))
        npy = buf.getvalue()
        sock = socket.create_connection(("127.0.0.1", s.port))
        sock.sendall(
            (
                f"PUT /v1/sessions/{sid}/tensors/up HTTP/1.1\r\nHost: x\r\n"
                f"Authorization: {auth['Authorization']}\r\n"
                f"Content-Type: application/x-npy\r\nContent-Length: {len(npy)}\r\n\r\n"
            ).encode()
            + npy[:100]
        )
        time.sleep(0.2)
        t = time.monotonic()
        try:
            r = c.get(f"/v1/sessions/{sid}/tensors", headers=auth)
            other = f"{r.status_code} in {time.monotonic() - t:.2f}s"
        except httpx.ReadTimeout:
            other = "timed out after 5 s"
        sock.settimeout(6)
        try:
            got = sock.recv(4096).split(b"\r\n")[0].decode()
        except TimeoutError:
            got = "no answer in 6 s"
        sock.close()
        out("9 stalled .npy upload", other_request_on_session=other, stalled_upload=got)
    s.stop()


class RedisProc:
    """A redis-server with an append-only file, restartable on the same port."""

    def __init__(self) -> None:
        self.dir = tempfile.mkdtemp()
        binary = shutil.which("redis-server") or "redis-server"
        self.p = Process(
            lambda port: [
                binary,
                "--port",
                str(port),
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                self.dir,
            ],
            name="redis-server",
        )
        self.port = self.p.port

    def start(self) -> None:
        self.p.launch().wait_until(lambda: bool(redis.Redis(port=self.port).ping()), 10.0)

    def kill(self) -> None:
        self.p.kill()


def p5() -> None:
    rp = RedisProc()
    rp.start()
    s = Server({"GRADSERVE_STORE": f"redis://127.0.0.1:{rp.port}/0"})
    with httpx.Client(base_url=s.url, timeout=60) as c:
        sid, auth = sess(c)
        c.post(f"/v1/sessions/{sid}/tensors", headers=auth, json={"name": "w", "value": [1.0]})
        rp.kill()
        conn = HTTPConnection("127.0.0.1", s.port, timeout=60)
        t = time.monotonic()
        conn.request("GET", f"/v1/sessions/{sid}/tensors", headers=auth)
        resp = conn.getresponse()
        body = json.loads(resp.read())
        took = time.monotonic() - t
        try:
            conn.request("GET", "/healthz")
            conn.getresponse().read()
            kept = True
        except Exception:
            kept = False
        out(
            "5 redis down: GET /tensors",
            status=resp.status,
            code=body.get("code"),
            retry_after=resp.headers.get("Retry-After"),
            connection_kept=kept,
            seconds=round(took, 2),
        )
        rp.start()
        t = time.monotonic()
        errors = 0
        while True:
            r = c.get(f"/v1/sessions/{sid}/tensors", headers=auth)
            if r.status_code == 200:
                break
            errors += 1
            time.sleep(0.1)
        out(
            "5 redis restarted",
            first_success_s=round(time.monotonic() - t, 2),
            failures_before=errors,
        )
        # lease in the AOF
        c.post(
            f"/v1/sessions/{sid}/tensors",
            headers=auth,
            json={"name": "m", "fill": "randn", "shape": [256, 256]},
        )
        nodes = [{"name": "p", "op": "matmul", "args": ["m", "m"]}] * 3000
        th = threading.Thread(
            target=lambda: c.post(f"/v1/sessions/{sid}/graph", headers=auth, json={"nodes": nodes})
        )
        th.start()
        r = redis.Redis(port=rp.port)
        while not r.exists(f"gs:{{{sid}}}:lock"):
            time.sleep(0.005)
        rp.kill()
        th.join()
        rp.start()
        t = time.monotonic()
        r2 = c.get(f"/v1/sessions/{sid}/tensors", headers=auth)
        out(
            "5 lease saved in AOF, next request",
            status=r2.status_code,
            waited_s=round(time.monotonic() - t, 2),
        )
        # timing / command counts
        wrong = {"Authorization": "Bearer " + "x" * 43}
        res = {}
        for label, path in (
            ("existing", f"/v1/sessions/{sid}/tensors"),
            ("unknown", f"/v1/sessions/{'A' * len(sid)}/tensors"),
        ):
            r.config_resetstat()
            ts = []
            for _ in range(300):
                t0 = time.perf_counter()
                c.get(path, headers=wrong)
                ts.append(time.perf_counter() - t0)
            calls = {
                k.removeprefix("cmdstat_"): v["calls"]
                for k, v in r.info("commandstats").items()
                if k != "cmdstat_config"
            }
            res[label] = {"median_ms": round(sorted(ts)[150] * 1000, 3), "redis_calls": calls}
        out("11 wrong token vs unknown id", **res)
    s.stop()
    rp.kill()


for name, fn in (("1", p1), ("2", p2), ("4", p4), ("9", p9), ("5", p5)):
    if not WHICH or name in WHICH:
        try:
            fn()
        except Exception as exc:
            out(name, error=repr(exc))
