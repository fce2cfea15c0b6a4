"""Smoke test of ``python -m bench.bench_scale``: ``--quick`` starts Redis and the servers
and prints the table.

It never asserts on timings or on the targets being met (they depend on the machine and
its load): only that every row is there with a number in it, and that no process it
started is left running.
"""

from __future__ import annotations

import os
import re
import shutil

import pytest
from _kit.bench import alive, group_members, one_row, quick_run

from bench import bench_scale

EXPECTED_ROWS = [
    "(a) graph req/s, memory, 1 worker",
    "(a) graph req/s, redis, 1 worker",
    "(a) graph req/s, redis, 2 workers",
    *(
        f"(b) {kind} {case}"
        for case in (
            "cache on, warm replica",
            "cache on, cold replica, 1st req",
            "cache on, cold replica, then",
            "cache off (CACHE_BYTES=0)",
        )
        for kind in ("bytes/req,", "wire/req, ")
    ),
]
# the issue-12 rows: Redis's own bytes sent, many tensors vs none, round trips
MORE_ROWS = {
    "(b) Redis sent, cache on, cold replica, 1st req": r"\s\d+\.\d+\s+MB INFO out",
    "(c) trivial req p50, empty session": r"\s\d+\.\d+\s+ms",
    "(c) trivial req p50, 2k tensors": r"\s\d+\.\d+\s+ms\s+\d+\.\d\dx",
    "(c) bytes/req, empty session": r"\s\d+\.\d+ / \d+\.\d+\s+kB",
    "(c) bytes/req, 2k tensors": r"\s\d+\.\d+ / \d+\.\d+\s+kB",
    "(c) Redis sent, cold replica 1st trivial req": r"\s\d+\.\d+\s+kB INFO out",
    **{
        f"(d) Redis round trips, warm {r}": r"\s\d+\s+packets"
        for r in ("graph", "backward", "grad", "tensor read")
    },
}


def test_quick_prints_every_row(capsys: pytest.CaptureFixture[str]) -> None:
    if shutil.which("redis-server") is None:
        pytest.skip(
            "bench/bench_scale.py needs redis-server (Debian: apt-get install redis-server)"
        )
    columns = ("case", "value", "unit", "ratio", "target", "met?")
    out, rows = quick_run(bench_scale, capsys, columns)
    for prefix in EXPECTED_ROWS:
        row = one_row(rows, prefix, out)
        assert re.search(r"\s\d+(\.\d+)?\s+(req/s|MB)", row), row
    for prefix, pattern in MORE_ROWS.items():
        assert re.search(pattern, one_row(rows, prefix, out)), (prefix, out)
    assert len(rows) == len(EXPECTED_ROWS) + len(MORE_ROWS), out
    for ln in rows[:3]:
        assert re.search(r"\s\d+\.\d\dx\s", ln), ln  # the ratio to the memory store

    # redis-server and every gradserve were terminated and waited for
    pids = [int(p) for p in re.findall(r"^started : .*?pid (\d+) port", out, flags=re.M)]
    assert len(pids) == 7, out  # redis + 3 throughput servers + 3 replicas for (b)
    if os.path.isdir("/proc"):
        assert not any(alive(p) for p in pids), pids
        # nor any process of their groups (the workers of `--workers 2`)
        left = [p for p in group_members(set(pids)) if alive(p)]
        assert not left, left
