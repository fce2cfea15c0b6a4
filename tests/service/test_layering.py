"""Layering rules of the service, checked on its source (``ast``, nothing imported).

- a router imports no other router: session logic shared by routes lives in
  ``service/sessions.py`` (``lookup``, ``commit``, ``account``);
- ``SessionManager`` drives every store through the one protocol of ``service/stores``:
  ``service/sessions.py`` names no concrete store and never asks which kind it has.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
ROUTES = ROOT / "service" / "routes"


def _imports(path: Path) -> list[tuple[int, str]]:
    """(level, module) of every import in the file, inside functions too."""
    out: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom):
            out.append((node.level, node.module or ""))
            out += [(node.level, f"{node.module or ''}.{a.name}".lstrip(".")) for a in node.names]
        elif isinstance(node, ast.Import):
            out += [(0, a.name) for a in node.names]
    return out


def test_no_router_imports_a_router() -> None:
    routers = {p.stem for p in ROUTES.glob("*.py") if p.stem != "__init__"}
    assert {"tensors", "graph", "grad", "sessions"} <= routers
    bad = []
    for path in sorted(ROUTES.glob("*.py")):
        for level, module in _imports(path):
            first = module.split(".")[0]
            if (level == 1 and first in routers) or module.startswith("service.routes."):
                bad.append(f"{path.name}: {'.' * level}{module}")
    assert bad == []


def test_the_session_manager_names_no_concrete_store() -> None:
    tree = ast.parse((ROOT / "service" / "sessions.py").read_text())
    names = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name)}
    attrs = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    concrete = {"MemoryStore", "RedisStore", "shared", "kind"}
    assert concrete & (names | attrs | imported) == set()


def test_the_checks_see_a_violation(tmp_path: Path) -> None:
    """The scan itself works: a router importing a router is found."""
    f = tmp_path / "r.py"
    f.write_text("def f():\n    from .tensors import commit\n")
    assert (1, "tensors") in _imports(f) and (1, "tensors.commit") in _imports(f)
