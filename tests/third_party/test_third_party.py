"""Autograd user code run three ways: real PyTorch, ``import engine as torch`` and
``torch = connect(url)``.

``autograd_cases.py`` (tests in the style of PyTorch's ``TestAutograd``) runs each method in
each way; ``programs/*.py`` (training loops and tutorials) print, and what the engine and the
client print must be what PyTorch prints, number by number. Every program and method passes in
every way: what gradserve does not support is in ``docs/unsupported.md`` and not here.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import (
    Asserts,
    Seeded,
    compare_output,
    load_program,
    program_ways,
    run_program,
)

import engine
from client import connect

HERE = Path(__file__).resolve().parent
CASES = (HERE / "autograd_cases.py").read_text()
PROGRAMS = sorted((HERE / "programs").glob("*.py"))
WAYS = ("torch", "engine", "client")


# What the client does not do yet, by case: each reason is a section of docs/unsupported.md
# (checked by test_unsupported_is_documented). The engine and torch run every case.
_TRACED = "Python side effects of a traced backward or hook through the client"
_STATE = "local tensor state through the client"
CLIENT_UNSUPPORTED: dict[str, str] = {
    "TestAutograd.test_grad_nonleaf_register_hook": _TRACED,
    "TestAutograd.test_hooks": _TRACED,
    "TestAutogradFunction.test_mark_non_differentiable_mixed": _TRACED,
    "TestAutograd.test_grad_assignment": _STATE,
}


def _case_names() -> list[tuple[str, str]]:
    import ast

    tree = ast.parse(CASES)
    return [
        (cls.name, fn.name)
        for cls in tree.body
        if isinstance(cls, ast.ClassDef)
        for fn in cls.body
        if isinstance(fn, ast.FunctionDef) and fn.name.startswith("test_")
    ]


@pytest.fixture
def namespace(request: pytest.FixtureRequest) -> Iterator[Any]:
    way = request.param
    if way == "torch":
        yield Seeded(pytest.importorskip("torch"))
    elif way == "engine":
        yield Seeded(engine)
    else:
        url = request.getfixturevalue("server")
        with connect(url) as remote:
            yield Seeded(remote)


def _case_runs() -> list[Any]:
    return [
        pytest.param(cls, method, way, id=f"{cls}.{method}-{way}")
        for cls, method in _case_names()
        for way in WAYS
        if not (way == "client" and f"{cls}.{method}" in CLIENT_UNSUPPORTED)
    ]


@pytest.mark.parametrize(("cls", "method", "namespace"), _case_runs(), indirect=["namespace"])
def test_case(namespace: Any, cls: str, method: str) -> None:
    scope = load_program(CASES, namespace, "autograd_cases")
    case = type("Case", (scope[cls], Asserts), {})()
    getattr(case, method)()


def _program_runs() -> list[Any]:
    """(program, way) for the ways each program declares (all but torch, the reference)."""
    return [
        pytest.param(p, way, id=f"{p.stem}-{way}")
        for p in PROGRAMS
        for way in program_ways(p.read_text())
        if way != "torch"
    ]


@pytest.mark.parametrize(("path", "way"), _program_runs())
def test_program_prints_what_torch_prints(
    path: Path, way: str, request: pytest.FixtureRequest
) -> None:
    ref = pytest.importorskip("torch")
    source = path.read_text()
    want = run_program(source, Seeded(ref), path.stem)
    if way == "engine":
        got = run_program(source, Seeded(engine), path.stem)
    else:
        with connect(request.getfixturevalue("server")) as remote:
            got = run_program(source, Seeded(remote), path.stem)
    compare_output(want, got)


def test_unsupported_is_documented() -> None:
    """Every reason a case or program does not run through the client is in docs/unsupported.md,
    and the selection keeps at least 60 cases in every way."""
    doc = (HERE.parents[1] / "docs" / "unsupported.md").read_text()
    for reason in set(CLIENT_UNSUPPORTED.values()):
        assert f"## {reason}" in doc, reason
    for p in PROGRAMS:
        if "client" not in program_ways(p.read_text()):
            assert "docs/unsupported.md" in p.read_text(), p.name
    names = [f"{c}.{m}" for c, m in _case_names()]
    assert set(CLIENT_UNSUPPORTED) <= set(names)
    assert len(names) - len(CLIENT_UNSUPPORTED) >= 60


def test_supported_doc_is_current() -> None:
    from supported_api import DOC, render

    assert DOC.read_text() == render(), "run: python tests/third_party/supported_api.py"
