"""Smoke test of ``bench/scale.py``: ``--quick`` starts Redis and the servers and prints the table.

It never asserts on timings or on the targets being met (they depend on the machine and
its load): only that every row is there with a number in it, and that no process it
started is left running.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "scale.py"

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


def _load() -> ModuleType:
    # Loaded from its path under another name: ``bench`` is not a package.
    name = "gradserve_bench_scale"
    spec = importlib.util.spec_from_file_location(name, BENCH)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod  # dataclasses look their module up by name
    try:
        spec.loader.exec_module(mod)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return mod


def _table(out: str) -> tuple[str, list[str]]:
    lines = out.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("case "))
    rows = []
    for ln in lines[start + 2 :]:
        if not ln.strip():
            break
        rows.append(ln)
    return lines[start], rows


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return not any(ln.startswith("State:") and "Z" in ln.split()[1] for ln in f)
    except FileNotFoundError:
        return False


def _group_members(groups: set[int]) -> list[int]:
    out = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[2]) in groups:  # the process group id
                out.append(int(entry))
    return out


def test_quick_prints_every_row(capsys: pytest.CaptureFixture[str]) -> None:
    if shutil.which("redis-server") is None:
        pytest.skip("bench/scale.py needs redis-server (Debian: apt-get install redis-server)")
    bench = _load()
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "command : python bench/scale.py --quick" in out or "scale.py --quick" in out
    assert "machine : " in out
    header, rows = _table(out)
    for col in ("case", "value", "unit", "ratio", "target", "met?"):
        assert col in header
    for prefix in EXPECTED_ROWS:
        hits = [ln for ln in rows if ln.startswith(prefix)]
        assert len(hits) == 1, (prefix, out)
        assert re.search(r"\s\d+(\.\d+)?\s+(req/s|MB)", hits[0]), hits[0]
    assert len(rows) == len(EXPECTED_ROWS), out
    for ln in rows[:3]:
        assert re.search(r"\s\d+\.\d\dx\s", ln), ln  # the ratio to the memory store

    # redis-server and every gradserve were terminated and waited for
    pids = [int(p) for p in re.findall(r"^started : .*?pid (\d+) port", out, flags=re.M)]
    assert len(pids) == 7, out  # redis + 3 throughput servers + 3 replicas for (b)
    if os.path.isdir("/proc"):
        assert not any(_alive(p) for p in pids), pids
        # nor any process of their groups (the workers of `--workers 2`)
        left = [p for p in _group_members(set(pids)) if _alive(p)]
        assert not left, left
