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


@pytest.mark.parametrize("namespace", WAYS, indirect=True)
@pytest.mark.parametrize(("cls", "method"), _case_names())
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
