"""Layering rules of the service and client, checked on their source (``ast``).

- a router imports no other router: session logic shared by routes lives in
  ``service/sessions.py`` (``lookup``, ``commit``, ``account``);
- ``SessionManager`` drives every store through the one protocol of ``service/stores``:
  ``service/sessions.py`` names no concrete store and never asks which kind it has;
- ``service/`` and ``client/`` touch no private (``_x``) field of an engine object: what
  they need from the engine is public (``engine.state``, torch's own API).
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


# ------------------------------------------------- no private field of the engine
def _own_private_names(package: Path) -> set[str]:
    """``_x`` names the package defines itself: methods and attributes of its classes."""
    names: set[str] = set()
    for path in package.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                        names.add(item.name)
                    elif isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name):
                        names.add(item.target.id)
                    elif isinstance(item, ast.Assign):
                        names |= {t.id for t in item.targets if isinstance(t, ast.Name)}
            elif (
                isinstance(node, ast.Attribute)
                and isinstance(node.ctx, ast.Store)
                and isinstance(node.value, ast.Name)
                and node.value.id in ("self", "cls")
            ):
                names.add(node.attr)
    return {n for n in names if n.startswith("_") and not n.endswith("__")}


def _root(node: ast.expr) -> str | None:
    while isinstance(node, ast.Attribute | ast.Call | ast.Subscript):
        node = node.func if isinstance(node, ast.Call) else node.value
    return node.id if isinstance(node, ast.Name) else None


def private_engine_access(package: Path) -> list[str]:
    """Where the package touches a private (``_x``) attribute of an engine object.

    Flagged: ``from engine... import _x``; ``X._y`` where ``X`` is anything imported from
    the engine (``Tensor._make``, ``autograd._mode``); and ``obj._y`` on any object but
    ``self``/``cls`` unless the package defines a ``_y`` of its own (its own objects'
    fields, such as the client's ``RemoteTensor._conn``).
    """
    own = _own_private_names(package)
    found: list[str] = []
    for path in sorted(package.rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        from_engine: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "engine":
                for a in node.names:
                    from_engine.add(a.asname or a.name)
                    if a.name.startswith("_"):
                        found.append(f"{path}:{node.lineno}: import {a.name}")
            elif isinstance(node, ast.Import):
                for a in node.names:
                    if a.name.split(".")[0] == "engine":
                        from_engine.add((a.asname or a.name).split(".")[0])
                        if any(p.startswith("_") for p in a.name.split(".")):
                            found.append(f"{path}:{node.lineno}: import {a.name}")
        for node in ast.walk(tree):
            if not isinstance(node, ast.Attribute):
                continue
            attr = node.attr
            if not attr.startswith("_") or attr.endswith("__"):
                continue
            root = _root(node.value)
            if root in ("self", "cls") and isinstance(node.value, ast.Name):
                continue
            if root in from_engine or attr not in own:
                found.append(f"{path}:{node.lineno}: {ast.unparse(node)}")
    return found


def test_service_and_client_touch_no_private_field_of_the_engine() -> None:
    for package in ("service", "client"):
        assert private_engine_access(ROOT / package) == [], package


def test_the_private_field_scan_finds_each_kind(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "a.py").write_text(
        "from engine.tensor import Tensor\n"
        "from engine.autograd import _mode\n"
        "import engine\n"
        "class Own:\n"
        "    def _mine(self):\n"
        "        self._field = 1\n"
        "def f(t, o):\n"
        "    Tensor._make(1)\n"
        "    t._st.array\n"
        "    engine.autograd._mode\n"
        "    o._mine()\n"
        "    o._field\n"
        "    t.__class__\n"
    )
    found = sorted(f.split(": ", 1)[1] for f in private_engine_access(pkg))
    assert found == ["Tensor._make", "engine.autograd._mode", "import _mode", "t._st"]
