"""Smoke test of ``python -m bench.bench_engine``: ``--quick`` runs and prints all four cases.

It never asserts on timings (they depend on the machine and its load).
"""

from __future__ import annotations

import re

from _kit.bench import quick_run, table

from bench import bench_engine


def test_quick_prints_all_four_cases(capsys) -> None:
    columns = ("engine", "torch", "reference", "ratio", "target", "met?")
    out, rows = quick_run(bench_engine, capsys, columns)
    for case in ("(a)", "(b)", "(c)", "(d)"):
        assert sum(ln.startswith(case) for ln in rows) == 1, (case, out)
    # every case row carries an engine number
    for ln in rows:
        if ln.startswith("("):
            assert re.search(r"\s\d+\.\d+\s", ln), ln


def test_quick_without_references_notes_the_skips(capsys) -> None:
    bench = bench_engine
    assert bench.main(["--quick", "--skip", "torch,autograd", "--rounds", "1", "--block", "1"]) == 0
    out = capsys.readouterr().out
    rows = table(out)[1]
    for case in ("(a)", "(b)", "(c)", "(d)"):
        assert any(ln.startswith(case) for ln in rows), (case, out)
    assert "torch skipped" in out
    assert "autograd skipped" in out
