"""Smoke test of ``bench/service.py``: ``--quick`` starts both servers and prints the table.

It never asserts on timings or on the targets being met (they depend on the machine and
its load): only that every row is there with numbers in it, and that no server is left
running.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench" / "service.py"

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


def _load() -> ModuleType:
    # Loaded from its path under another name: ``bench`` is not a package, and the
    # script's own module name must not shadow the ``service`` package.
    name = "gradserve_bench_service"
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


def test_quick_prints_every_row(capsys) -> None:
    bench = _load()
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "command : python bench/service.py --quick" in out or "service.py --quick" in out
    assert "machine : " in out
    header, rows = _table(out)
    for col in ("case", "gradserve", "reference", "ratio", "target", "met?"):
        assert col in header
    for prefix in EXPECTED_ROWS:
        hits = [ln for ln in rows if ln.startswith(prefix)]
        assert len(hits) == 1, (prefix, out)
        # a number in both value columns and a ratio
        assert re.search(r"\s\d+(\.\d+)?\s+\d+(\.\d+)?\s+\d+\.\d\dx\s", hits[0]), hits[0]
    assert len(rows) == len(EXPECTED_ROWS), out

    # both servers were terminated and waited for
    pids = [int(p) for p in re.findall(r"pid (\d+) port", out)]
    assert len(pids) == 2, out
    if os.path.isdir("/proc"):
        assert not any(_alive(p) for p in pids), pids
