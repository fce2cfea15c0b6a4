"""Smoke test of ``bench/engine.py``: ``--quick`` runs and prints all four cases.

It never asserts on timings (they depend on the machine and its load).
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench" / "engine.py"


def _load() -> ModuleType:
    # Loaded from its path under another name: ``bench`` is not a package, and the
    # script's own module name must not shadow the ``engine`` package.
    name = "gradserve_bench_engine"
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


def _table_rows(out: str) -> list[str]:
    lines = out.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("case "))
    rows = []
    for ln in lines[start + 2 :]:
        if not ln.strip():
            break
        rows.append(ln)
    return rows


def test_quick_prints_all_four_cases(capsys) -> None:
    bench = _load()
    assert bench.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert "command : python bench/engine.py --quick" in out or "bench/engine.py --quick" in out
    rows = _table_rows(out)
    header = next(ln for ln in out.splitlines() if ln.startswith("case "))
    for col in ("engine", "torch", "reference", "ratio", "target", "met?"):
        assert col in header
    for case in ("(a)", "(b)", "(c)", "(d)"):
        assert sum(ln.startswith(case) for ln in rows) == 1, (case, out)
    # every case row carries an engine number
    for ln in rows:
        if ln.startswith("("):
            assert re.search(r"\s\d+\.\d+\s", ln), ln


def test_quick_without_references_notes_the_skips(capsys) -> None:
    bench = _load()
    assert bench.main(["--quick", "--skip", "torch,autograd", "--rounds", "1", "--block", "1"]) == 0
    out = capsys.readouterr().out
    rows = _table_rows(out)
    for case in ("(a)", "(b)", "(c)", "(d)"):
        assert any(ln.startswith(case) for ln in rows), (case, out)
    assert "torch skipped" in out
    assert "autograd skipped" in out
