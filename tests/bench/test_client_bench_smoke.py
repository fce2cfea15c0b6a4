"""Smoke test of ``bench/client.py``: ``--quick`` starts a server and prints every row.

It never asserts on timings or on the targets being met (they depend on the machine and
its load): only that every row is there with numbers in it, and that the server process
it started is gone afterwards, on success and on failure alike.
"""

from __future__ import annotations

import importlib.util
import os
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "client.py"

EXPECTED_ROWS = [
    "(a) 100-op chain (2,2) f64 fwd+bwd, connect()",
    "(a) 100-op chain (2,2) f64 fwd+bwd, connect(max_pending=",
    "(b) MLP 32x64, 2x64x64 tanh, MSE, f32 fwd+bwd, connect()",
]


def _load() -> ModuleType:
    # Loaded from its path under another name: ``bench`` is not a package, and the
    # script's own name must not shadow the ``client`` package.
    name = "gradserve_bench_client"
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


def _server_pid(out: str) -> int:
    found = re.findall(r"^server  : gradserve pid (\d+) port \d+", out, flags=re.M)
    assert len(found) == 1, out
    return int(found[0])


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as f:
            return not any(ln.startswith("State:") and "Z" in ln.split()[1] for ln in f)
    except FileNotFoundError:
        return False


def test_quick_prints_every_row_and_stops_the_server(capsys: pytest.CaptureFixture[str]) -> None:
    bench = _load()
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "command : python bench/client.py --quick" in out or "client.py --quick" in out
    assert "machine : " in out
    header, rows = _table(out)
    for col in ("case", "client ms/step", "round trips/step", "engine ms", "torch ms"):
        assert col in header
    for col in ("client/engine", "target", "met?"):
        assert col in header
    for prefix in EXPECTED_ROWS:
        hits = [ln for ln in rows if ln.startswith(prefix)]
        assert len(hits) == 1, (prefix, out)
        # client ms, a whole number of round trips, engine ms, then the ratio
        assert re.search(r"\s\d+\.\d\d\s+\d+(-\d+)?\s+\d+\.\d\d\s+\S+\s+\d+\.\d\dx\s", hits[0]), (
            hits[0]
        )
    pid = _server_pid(out)
    assert re.search(rf"^stopped : gradserve pid {pid}, exit code ", out, flags=re.M), out
    if os.path.isdir("/proc"):
        assert not _alive(pid), pid


def test_the_server_is_stopped_when_a_case_fails(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = _load()

    def boom(ctx: object) -> list[object]:
        raise RuntimeError("a failing case")

    monkeypatch.setattr(bench, "case_mlp", boom)
    with pytest.raises(RuntimeError, match="a failing case"):
        bench.main(["--quick", "--skip", "torch", "--rounds", "1", "--block", "1"])
    out = capsys.readouterr().out
    pid = _server_pid(out)
    assert f"stopped : gradserve pid {pid}" in out
    if os.path.isdir("/proc"):
        assert not _alive(pid), pid
