"""Large JSON bodies are bounded by what they expand to: refused from the raw bytes (413 naming
.npy and b64) with the server's peak memory a small multiple of the body, while /healthz keeps
answering."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx
from e2e_http import ServerProcess, SpawnServer, assert_problem


def _peak_rss(server: ServerProcess) -> int:
    """The server's high-water resident set, in bytes (Linux /proc)."""
    assert server.proc is not None
    with open(f"/proc/{server.proc.pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmHWM")


class _HealthProbe:
    """Polls /healthz from another process (this one's GIL is busy sending the body) while a
    big request is in flight; ``slowest`` is its slowest answer in seconds."""

    SCRIPT = """
import sys, time, httpx
worst, c = 0.0, httpx.Client(base_url=sys.argv[1], timeout=10)
while not sys.stdin.closed and time.time() < float(sys.argv[2]):
    s = time.perf_counter(); assert c.get("/healthz").status_code == 200
    worst = max(worst, time.perf_counter() - s)
    print(worst, flush=True); time.sleep(0.02)
"""

    def __init__(self, url: str, seconds: float = 60.0) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-c", self.SCRIPT, url, str(time.time() + seconds)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        self.proc.stdout.readline()  # it is polling

    def stop(self) -> float:
        self.proc.terminate()
        out, _ = self.proc.communicate(timeout=30)
        self.slowest = max([0.0, *(float(x) for x in out.split())])
        return self.slowest


def _session(http: httpx.Client) -> tuple[str, dict[str, str]]:
    created = http.post("/v1/sessions").json()
    return created["session_id"], {"Authorization": f"Bearer {created['token']}"}


def test_a_200_mib_json_tensor_is_refused_within_bounded_memory(
    spawn_server: SpawnServer,
) -> None:
    server = spawn_server()
    body = b'{"name": "x", "value": [' + b"1.5," * (50 * 1024 * 1024) + b"1.5]}"  # 200 MiB
    with httpx.Client(base_url=server.url, timeout=120) as http:
        sid, auth = _session(http)
        before = _peak_rss(server)
        probe = _HealthProbe(server.url)
        try:
            r = http.post(
                f"/v1/sessions/{sid}/tensors",
                content=body,
                headers={**auth, "Content-Type": "application/json"},
            )
        finally:
            probe.stop()
        problem = assert_problem(r, 413, "payload_too_large")
        assert ".npy" in problem["detail"] and "b64" in problem["detail"]
        assert "GRADSERVE_MAX_JSON_VALUES" in problem["detail"]
        # the body itself is held (ASGI gives it in chunks that are joined: about twice); never
        # the ~16x that parsing 50M numbers into Python objects would take
        assert _peak_rss(server) - before < 3 * len(body), (_peak_rss(server) - before, len(body))
        assert probe.slowest < 0.1, probe.slowest


def test_json_within_the_limit_is_accepted_and_bounded(spawn_server: SpawnServer) -> None:
    server = spawn_server(env={"GRADSERVE_MAX_JSON_VALUES": "1000000"})
    n = 999_990  # the limit counts separators: the object's own commas count too
    body = b'{"name": "x", "value": [' + b"1.5," * (n - 1) + b"1.5]}"  # 4 MB
    with httpx.Client(base_url=server.url, timeout=120) as http:
        sid, auth = _session(http)
        before = _peak_rss(server)
        r = http.post(
            f"/v1/sessions/{sid}/tensors",
            content=body,
            headers={**auth, "Content-Type": "application/json"},
        )
        assert r.status_code == 201, r.text
        assert r.json()["shape"] == [n]
        # per number while parsing: its text, 32 bytes of Python float and list slot, the
        # float64 array NumPy builds and the float32 tensor (~70 bytes measured): bounded by
        # max_json_values, whatever the body's size
        assert _peak_rss(server) - before < 96 * n, _peak_rss(server) - before
        # past the limit is refused
        body = b'{"name": "y", "value": [' + b"1.5," * 1_000_000 + b"1.5]}"
        r = http.post(
            f"/v1/sessions/{sid}/tensors",
            content=body,
            headers={**auth, "Content-Type": "application/json"},
        )
        assert_problem(r, 413, "payload_too_large")
