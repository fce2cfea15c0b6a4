"""The harness is written once: the helpers that start servers, print tables and describe the
machine live in ``bench/common.py`` and ``tests/_kit/`` only, and nothing else starts
``gradserve serve`` by hand."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HOMES = (ROOT / "bench" / "common.py", ROOT / "tests" / "_kit")
# helper kinds that must have one definition (issue 8: server start/stop, machine info, the
# table printer, same-run pairing, versions; the test server fixtures and problem checks)
ONCE = {
    "free_port",
    "gradserve_command",
    "gradserve_head",
    "gradserve_argv",
    "clean_env",
    "running_server",
    "run_gradserve",
    "report_output",
    "assert_problem",
    "make_settings",
    "serve",
    "redis_binary",
    "render_table",
    "met",
    "header",
    "cpu_model",
    "machine_busy_seconds",
    "sigterm_exits",
    "time_side_by_side",
    "check_close",
    "try_import",
    "version",
    "versions",
    "tree",
}
ONCE_CLASSES = {"Process", "ServerProcess", "RedisServer", "Session", "AppSession", "OtherCpu"}


def sources() -> list[Path]:
    files = [*(ROOT / "bench").rglob("*.py"), *(ROOT / "tests").rglob("*.py")]
    return sorted(f for f in files if "__pycache__" not in f.parts)


def is_home(path: Path) -> bool:
    return any(path == h or h in path.parents for h in HOMES)


def definitions() -> dict[str, list[str]]:
    """Helper name -> the files that define it (functions and classes at any level)."""
    found: dict[str, list[str]] = {}
    for path in sources():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name in ONCE:
                found.setdefault(node.name, []).append(str(path.relative_to(ROOT)))
            if isinstance(node, ast.ClassDef) and node.name in ONCE_CLASSES:
                found.setdefault(node.name, []).append(str(path.relative_to(ROOT)))
    return found


def test_each_harness_helper_is_defined_once_in_its_home() -> None:
    found = definitions()
    assert {"free_port", "Process", "render_table", "ServerProcess"} <= set(found)
    twice = {name: files for name, files in found.items() if len(files) > 1}
    assert not twice, f"harness helpers written more than once: {twice}"
    astray = {n: f for n, f in found.items() if not is_home(ROOT / f[0])}
    assert not astray, f"harness helpers outside bench/common.py and tests/_kit: {astray}"


def test_no_test_or_benchmark_starts_a_server_by_hand() -> None:
    """A ``subprocess.Popen`` whose arguments mention ``serve`` outside the harness."""
    by_hand = []
    for path in sources():
        if is_home(path):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "Popen":
                text = ast.unparse(node)
                if "serve" in text or "gradserve" in text or "redis-server" in text:
                    by_hand.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not by_hand, f"servers started without the harness: {by_hand}"
