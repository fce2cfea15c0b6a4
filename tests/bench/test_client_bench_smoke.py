"""Smoke test of ``python -m bench.bench_client``: ``--quick`` starts a server and prints every row.

It never asserts on timings or on the targets being met (they depend on the machine and
its load): only that every row is there with numbers in it, and that the server process
it started is gone afterwards, on success and on failure alike.
"""

from __future__ import annotations

import os
import re

import pytest
from _kit.bench import alive, one_row, quick_run

from bench import bench_client

EXPECTED_ROWS = [
    "(a) 100-op chain (2,2) f64 fwd+bwd, connect()",
    "(a) 100-op chain (2,2) f64 fwd+bwd, connect(max_pending=",
    "(b) MLP 32x64, 2x64x64 tanh, MSE, f32 fwd+bwd, connect()",
]


def _server_pid(out: str) -> int:
    found = re.findall(r"^server  : gradserve pid (\d+) port \d+", out, flags=re.M)
    assert len(found) == 1, out
    return int(found[0])


def test_quick_prints_every_row_and_stops_the_server(capsys: pytest.CaptureFixture[str]) -> None:
    columns = ("case", "client ms/step", "round trips/step", "engine ms", "torch ms")
    columns += ("client/engine", "target", "met?")
    out, rows = quick_run(bench_client, capsys, columns)
    for prefix in EXPECTED_ROWS:
        row = one_row(rows, prefix, out)
        # client ms, a whole number of round trips, engine ms, then the ratio
        assert re.search(r"\s\d+\.\d\d\s+\d+(-\d+)?\s+\d+\.\d\d\s+\S+\s+\d+\.\d\dx\s", row), row
    pid = _server_pid(out)
    assert re.search(rf"^stopped : gradserve pid {pid}, exit code ", out, flags=re.M), out
    if os.path.isdir("/proc"):
        assert not alive(pid), pid


def test_the_server_is_stopped_when_a_case_fails(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    bench = bench_client

    def boom(ctx: object) -> list[object]:
        raise RuntimeError("a failing case")

    monkeypatch.setattr(bench, "case_mlp", boom)
    with pytest.raises(RuntimeError, match="a failing case"):
        bench.main(["--quick", "--skip", "torch", "--rounds", "1", "--block", "1"])
    out = capsys.readouterr().out
    pid = _server_pid(out)
    assert f"stopped : gradserve pid {pid}" in out
    if os.path.isdir("/proc"):
        assert not alive(pid), pid


def test_quick_prints_the_cost_per_node(capsys: pytest.CaptureFixture[str]) -> None:
    bench_client.main(["--quick", "--skip", "torch", "--rounds", "1", "--block", "1"])
    out = capsys.readouterr().out
    assert "cost per graph node" in out and "client CPU us/node" in out, out
    for prefix in ("(a) 100-op chain step, connect()", "(d) polynomial SGD, 20 steps"):
        rows = [ln for ln in out.splitlines() if prefix in ln]
        assert len(rows) == 1, out
        # nodes per call, then client, server, server - engine, engine and wall µs per node
        assert re.search(r"\s\d+\s+" + r"\s+".join([r"-?\d+\.\d"] * 5) + r"\s*\|?\s*$", rows[0]), (
            rows[0]
        )
