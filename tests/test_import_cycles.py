"""No import circles in the packages: the import graph of engine, api_schema, service and client,
built from the source with ``ast`` (imports inside functions included; ``if TYPE_CHECKING:``
blocks excluded, they never run), has no cycle."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "api_schema", "service", "client")


def _modules() -> dict[str, Path]:
    out: dict[str, Path] = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST) -> list[ast.Import | ast.ImportFrom]:
    """Every import statement that can run, at any depth."""
    found: list[ast.Import | ast.ImportFrom] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        if isinstance(node, ast.If) and _type_checking(node):
            stack.extend(node.orelse)
            continue
        stack.extend(ast.iter_child_nodes(node))
    return found


def import_graph() -> dict[str, set[str]]:
    """module -> the modules of the four packages it imports."""
    modules = _modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in _imports(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = node.module or ""
                if node.level:
                    anchor = package.split(".")
                    anchor = anchor[: len(anchor) - node.level + 1]
                    base = ".".join([*anchor, *([base] if base else [])])
                # ``from pkg import mod`` imports the module pkg.mod; ``from mod import name``, mod
                targets = [
                    f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base
                    for a in node.names
                ]
            for target in targets:
                while target and target not in modules:  # a name inside a module: the module
                    target = target.rpartition(".")[0]
                if target and target != name:
                    edges.add(target)
        graph[name] = edges
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    out: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    out.append(sorted(component))
    return out


def test_the_packages_have_no_import_cycle() -> None:
    graph = import_graph()
    assert {"engine.autograd", "engine.tensor", "service.app", "client.tensor"} <= set(graph)
    found = cycles(graph)
    assert not found, f"import cycles: {found}"


def test_the_graph_sees_imports_inside_functions() -> None:
    """The checker itself: a circle closed by an import inside a function is found."""
    tree = ast.parse("def f():\n    from . import b\n")
    assert [n.names[0].name for n in _imports(tree)] == ["b"]
    tree = ast.parse("if TYPE_CHECKING:\n    import b\nelse:\n    import c\n")
    assert [n.names[0].name for n in _imports(tree)] == ["c"]
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


@pytest.mark.parametrize("module", ["engine.tensor", "engine.autograd", "engine.ops.table"])
def test_engine_core_has_no_deferred_imports(module: str) -> None:
    """No import inside a function in the engine's core (they held the old circle together)."""
    path = _modules()[module]
    tree = ast.parse(path.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            inner = [n for n in ast.walk(node) if isinstance(n, ast.Import | ast.ImportFrom)]
            assert not inner, f"{module}.{node.name} imports inside a function"


# the engine's shared kernel: all the client may import (see pyproject's import-linter contract)
KERNEL = {
    "engine.arrays",
    "engine.device",
    "engine.torch_keywords",
    "engine.unsupported",
    "engine.torch_names",  # torch's own names, data only (unsupported's lists)
    "engine.dtypes",
    "engine.errors",
    "engine.formatting",
    "engine.meta",
    "engine.profiler_events",
    "engine.shapes",
    "engine.signatures",
    "engine.values",
    # torch.autograd.functional and Function's ctx, written against any torch-like namespace
    "engine.ctx",
    "engine.transforms",
    # torch.nn's modules and torch.optim's front end, written once against a backend and bound
    # to a session by the client (pyproject's nn-optim-backend-agnostic contract keeps them free
    # of the engine's tensors, autograd and ops)
    "engine.nnkit.activation",
    "engine.nnkit.binding",
    "engine.nnkit.composite",
    "engine.nnkit.containers",
    "engine.nnkit.init",
    "engine.nnkit.layers",
    "engine.nnkit.loss",
    "engine.nnkit.module",
    "engine.nnkit.utils",
    "engine.optimkit.lr_scheduler",
    "engine.optimkit.optimizer",
}


def test_client_imports_only_the_engine_kernel() -> None:
    graph = import_graph()
    used = {t for m, ts in graph.items() if m.startswith("client") for t in ts}
    engine_used = {t for t in used if t == "engine" or t.startswith("engine.")}
    assert engine_used <= KERNEL, f"client imports engine internals: {engine_used - KERNEL}"
    assert not {t for t in used if t.split(".")[0] in ("service", "api_schema")}
