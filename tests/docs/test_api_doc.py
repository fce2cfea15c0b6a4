"""docs/api.md is the wire contract: every route, error code and setting of the code is in it.

The codes are collected from the code itself, not from a list kept by hand: every literal
``ApiError(status, "code", ...)`` and ``problem_response(status, "code", ...)`` in ``service/``
(an ``ast`` scan, so a new store or router is covered the day it is added), the routing codes
``service.errors`` maps HTTP statuses to, and every ``engine.EngineError`` subclass's
``code``/``status``. Each must have a row of the error table with that status.
"""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

import pytest

from engine.errors import EngineError
from service import errors as service_errors
from service.app import create_app
from service.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
API_MD = ROOT / "docs" / "api.md"
# routes FastAPI adds outside the OpenAPI document (the document itself, Swagger, ReDoc)
UNDOCUMENTED_IN_SCHEMA = [("GET", "/openapi.json"), ("GET", "/docs"), ("GET", "/redoc")]


@pytest.fixture(scope="module")
def text() -> str:
    return API_MD.read_text(encoding="utf-8")


def table_rows(text: str, first_header: str) -> list[list[str]]:
    """The body rows of the markdown table whose first header cell is ``first_header``."""
    rows: list[list[str]] = []
    lines = text.splitlines()
    for i, line in enumerate(lines):
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("|") and cells[0] == first_header:
            for body in lines[i + 2 :]:
                if not body.startswith("|"):
                    break
                rows.append([c.strip() for c in body.strip().strip("|").split("|")])
            return rows
    raise AssertionError(f"no table with first header {first_header!r} in {API_MD}")


def _literal(node: ast.expr) -> object:
    return node.value if isinstance(node, ast.Constant) else None


def emitted_codes() -> dict[str, set[int]]:
    """code -> statuses, for every error the service and the engine can answer."""
    found: dict[str, set[int]] = defaultdict(set)
    for path in sorted((ROOT / "service").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name not in ("ApiError", "problem_response") or len(node.args) < 2:
                continue
            status, code = _literal(node.args[0]), _literal(node.args[1])
            if isinstance(status, int) and isinstance(code, str):
                found[code].add(status)
    for status, code in service_errors._HTTP_CODES.items():
        found[code].add(status)
    found["http_error"].add(0)  # the fallback for any other status: "any other" in the table

    def walk(cls: type[EngineError]) -> None:
        found[cls.code].add(cls.status)
        for sub in cls.__subclasses__():
            walk(sub)

    walk(EngineError)
    return found


def test_the_scan_finds_the_codes_it_should() -> None:
    """A scan that found nothing would make the tests below pass for nothing."""
    codes = emitted_codes()
    for code, status in [
        ("unknown_op", 400),  # service/executor.py
        ("session_quota_exceeded", 507),  # a multi-line ApiError(...)
        ("payload_too_large", 413),  # problem_response in the middleware
        ("graph_freed", 409),  # an engine error class
        ("method_not_allowed", 405),  # routing
    ]:
        assert status in codes.get(code, set()), (code, codes.get(code))
    assert len(codes) >= 25


def test_every_route_of_the_openapi_document_is_documented(text: str) -> None:
    app = create_app(Settings())
    routes = [
        (method.upper(), path)
        for path, ops in app.openapi()["paths"].items()
        for method in ops
        if method in ("get", "post", "put", "patch", "delete")
    ]
    assert len(routes) >= 20
    missing = [f"{m} {p}" for m, p in routes + UNDOCUMENTED_IN_SCHEMA if f"`{m} {p}`" not in text]
    assert not missing, f"routes missing from docs/api.md (as `METHOD /path`): {missing}"


def test_every_error_code_has_a_row_with_its_status(text: str) -> None:
    rows = {r[0].strip("`"): r[1] for r in table_rows(text, "code")}
    problems = []
    for code, statuses in sorted(emitted_codes().items()):
        if code not in rows:
            problems.append(f"{code}: no row in the error table")
            continue
        cell = rows[code]
        documented = {int(s) for s in re.findall(r"\d{3}", cell)}
        wanted = {s for s in statuses if s}
        if not wanted <= documented or (0 in statuses and "any" not in cell):
            problems.append(f"{code}: emitted with {sorted(statuses)}, documented as {cell!r}")
    assert not problems, "docs/api.md's error table is out of date:\n" + "\n".join(problems)


def test_no_documented_code_is_made_up(text: str) -> None:
    """The other direction: a row for a code nothing emits is a stale row."""
    emitted = emitted_codes()
    stale = [r[0] for r in table_rows(text, "code") if r[0].strip("`") not in emitted]
    assert not stale, f"codes documented but never emitted: {stale}"


def test_every_setting_is_documented_with_its_default(text: str) -> None:
    rows = {r[0].strip("`"): r[1] for r in table_rows(text, "variable")}
    problems = []
    for field, info in Settings.model_fields.items():
        var = f"GRADSERVE_{field.upper()}"
        default = info.get_default(call_default_factory=True)
        cell = rows.get(var)
        if cell is None:
            problems.append(f"{var}: no row")
        elif info.default_factory is not None:
            # computed on the machine (e.g. a share of its memory): the row says how, in words
            if not cell or cell.startswith("`"):
                problems.append(f"{var}: a computed default, documented as {cell!r}")
        elif default in ([], None, ""):
            if "none" not in cell:
                problems.append(f"{var}: default is empty, documented as {cell!r}")
        elif f"`{default}`" != cell:
            problems.append(f"{var}: default {default!r}, documented as {cell!r}")
    stale = sorted(set(rows) - {f"GRADSERVE_{f.upper()}" for f in Settings.model_fields})
    problems += [f"{v}: documented but not a setting" for v in stale]
    assert not problems, "docs/api.md's settings table is out of date:\n" + "\n".join(problems)
