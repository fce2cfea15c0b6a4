"""docs/architecture.md states the rules the build enforces and names files that exist."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"


def test_every_import_contract_is_stated() -> None:
    """Each ``[[tool.importlinter.contracts]]`` of pyproject.toml is named in the doc."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    contracts = config["tool"]["importlinter"]["contracts"]
    assert contracts, "pyproject.toml declares no import contract"
    text = DOC.read_text(encoding="utf-8")
    missing = [c["id"] for c in contracts if f"`{c['id']}`" not in text]
    assert not missing, f"import contracts not stated in docs/architecture.md: {missing}"


def test_every_path_it_names_exists() -> None:
    """A backticked repository path (``engine/state.py``, ``service/stores/``) is there."""
    text = DOC.read_text(encoding="utf-8")
    roots = ("engine", "api_schema", "service", "client", "tests", "bench", "docs", "examples")
    paths = {
        p for p in re.findall(r"`([\w./-]+)`", text) if p.split("/", 1)[0] in roots and "/" in p
    }
    assert len(paths) >= 10
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"
