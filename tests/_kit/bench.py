"""What the benchmark smoke tests read in a benchmark's output, and whether its processes
are gone."""

from __future__ import annotations

import os
from collections.abc import Sequence
from types import ModuleType

import pytest

__all__ = ["alive", "group_members", "one_row", "quick_run", "table"]


def table(out: str) -> tuple[str, list[str]]:
    """The header line of the printed table (the one starting ``case ``) and its rows (up to
    the first blank line)."""
    lines = out.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith("case "))
    rows = []
    for ln in lines[start + 2 :]:
        if not ln.strip():
            break
        rows.append(ln)
    return lines[start], rows


def alive(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie is not)."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return not any(ln.startswith("State:") and "Z" in ln.split()[1] for ln in f)
    except FileNotFoundError:
        return False


def group_members(groups: set[int]) -> list[int]:
    """The processes whose process group is one of ``groups``."""
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


def quick_run(
    module: ModuleType, capsys: pytest.CaptureFixture[str], columns: Sequence[str]
) -> tuple[str, list[str]]:
    """Run ``python -m bench.<module> --quick`` in this process; check that it says what ran
    and where, and that its table has ``columns``; its output and the table's rows."""
    assert module.main(["--quick"]) == 0
    out = capsys.readouterr().out
    assert f"command : python -m {module.__name__} --quick" in out
    assert "machine : " in out
    header, rows = table(out)
    for col in columns:
        assert col in header
    return out, rows


def one_row(rows: list[str], prefix: str, out: str) -> str:
    """The one row that starts with ``prefix``."""
    hits = [ln for ln in rows if ln.startswith(prefix)]
    assert len(hits) == 1, (prefix, out)
    return hits[0]
