"""Smoke test of ``python -m bench.bench_service``: ``--quick`` starts both servers and
prints the table.

It never asserts on timings or on the targets being met (they depend on the machine and
its load): only that every row is there with numbers in it, and that no server is left
running.
"""

from __future__ import annotations

import os
import re

from _kit.bench import alive, one_row, quick_run

from bench import bench_service

EXPECTED_ROWS = [
    *(
        f"(a) {kind:<8} c={n:<2} {metric}"
        for kind in ("graph", "backward")
        for n in (1, 16)
        for metric in ("req/s", "p50 ms", "p99 ms")
    ),
    "(b) json",
    "(b) b64",
    "(b) npy",
    "(c) RSS growth",
    "(c) session 'bytes'",
]


def test_quick_prints_every_row(capsys) -> None:
    columns = ("case", "gradserve", "reference", "ratio", "target", "met?")
    out, rows = quick_run(bench_service, capsys, columns)
    for prefix in EXPECTED_ROWS:
        row = one_row(rows, prefix, out)
        # a number in both value columns and a ratio
        assert re.search(r"\s\d+(\.\d+)?\s+\d+(\.\d+)?\s+\d+\.\d\dx\s", row), row
    assert len(rows) == len(EXPECTED_ROWS), out

    # both servers were terminated and waited for
    pids = [int(p) for p in re.findall(r"pid (\d+) port", out)]
    assert len(pids) == 2, out
    if os.path.isdir("/proc"):
        assert not any(alive(p) for p in pids), pids
