"""The graph as a picture (graph.dot, graph.svg), the overview and the torch-format repr.

The DOT text is checked against the graph itself: the grad_fn nodes and edges a walk over
``next_functions`` finds (the engine's, and PyTorch's own for the same code), the names,
shapes and dtypes of the leaves; the SVG parses as XML with one ``<g class="node">`` per node.
"""

from __future__ import annotations

import collections
import re
import xml.etree.ElementTree as ET
from typing import Any

import httpx
import pytest
from service_testkit import Sess, assert_problem, make_settings, open_session, serve, tutorial

import engine
from engine.viz import default_roots, graph_dot, make_dot

pytestmark = pytest.mark.anyio

_NODE = re.compile(r'^\t(n\d+) \[label="((?:[^"\\]|\\.)*)"(.*)\]$')
_EDGE = re.compile(r"^\t(n\d+) -> (n\d+)(?: \[(.*)\])?$")


class Dot:
    """The nodes (id -> label lines, attributes) and edges of our DOT text."""

    def __init__(self, text: str) -> None:
        assert text.startswith("digraph {") and text.rstrip().endswith("}"), text
        self.labels: dict[str, list[str]] = {}
        self.attrs: dict[str, str] = {}
        self.edges: list[tuple[str, str, str]] = []
        for line in text.splitlines()[3:-1]:
            if m := _NODE.match(line):
                self.labels[m[1]] = m[2].replace('\\"', '"').split("\\n")
                self.attrs[m[1]] = m[3]
            elif m := _EDGE.match(line):
                self.edges.append((m[1], m[2], m[3] or ""))
            else:
                raise AssertionError(f"unexpected DOT line {line!r}")

    def first(self, nid: str) -> str:
        return self.labels[nid][0]

    def ids(self, first_line: str) -> list[str]:
        return [n for n, lines in self.labels.items() if lines[0] == first_line]

    def flow_edges(self) -> collections.Counter[tuple[str, str]]:
        """Edges (as first label lines) that carry values, not the saved-tensor links."""
        return collections.Counter(
            (self.first(a), self.first(b)) for a, b, attrs in self.edges if "dir" not in attrs
        )


def expected_edges(out: Any) -> collections.Counter[tuple[str, str]]:
    """The edges torchviz draws for ``out``, from its grad_fn's ``next_functions``: input ->
    grad_fn, leaf -> AccumulateGrad, the output's grad_fn -> the output."""
    edges: collections.Counter[tuple[str, str]] = collections.Counter()
    edges[(out.grad_fn.name(), "out")] += 1
    seen: set[int] = set()
    stack = [out.grad_fn]
    while stack:
        fn = stack.pop()
        if id(fn) in seen:
            continue
        seen.add(id(fn))
        for nxt, _ in fn.next_functions:
            if nxt is None:
                continue
            name = nxt.name().removeprefix("torch::autograd::")
            edges[(name, fn.name())] += 1
            if name == "AccumulateGrad":
                edges[("x", "AccumulateGrad")] = 1
            else:
                stack.append(nxt)
    return edges


def engine_tutorial() -> dict[str, Any]:
    x = engine.ones(2, 2, requires_grad=True)
    y = x + 2
    z = y * y
    z = z * 3
    return {"x": x, "y": y, "z": z, "out": z.mean()}


async def test_dot_matches_the_graph(sess: Sess) -> None:
    await tutorial(sess)
    r = await sess.get("/graph.dot")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"].startswith("text/vnd.graphviz")
    dot = Dot(r.text)
    # nodes: the root, four grad_fns, AccumulateGrad, the leaf
    firsts = sorted(lines[0] for lines in dot.labels.values())
    assert firsts == sorted(
        ["out", "MeanBackward0", "MulBackward0", "MulBackward0", "AddBackward0"]
        + ["AccumulateGrad", "x"]
    )
    (x,) = dot.ids("x")
    assert dot.labels[x] == ["x", "(2, 2) float32"]
    assert 'fillcolor="lightblue"' in dot.attrs[x]
    (out,) = dot.ids("out")
    assert dot.labels[out] == ["out", "() float32"]
    assert 'fillcolor="darkolivegreen1"' in dot.attrs[out] and 'penwidth="2"' in dot.attrs[out]
    # the names bound to a grad_fn's output are on its node
    assert dot.labels[dot.ids("AddBackward0")[0]] == ["AddBackward0", "y"]
    assert dot.labels[dot.ids("MeanBackward0")[0]] == ["MeanBackward0", "out"]
    assert sorted(dot.labels[n][1:] for n in dot.ids("MulBackward0")) == [[], ["z"]]
    # edges: exactly what next_functions says (y * y: two edges from AddBackward0)
    engine_graph = engine_tutorial()
    assert dot.flow_edges() == expected_edges(engine_graph["out"])
    assert dot.flow_edges()[("AddBackward0", "MulBackward0")] == 2
    # and the engine draws the same text for the same graph
    assert r.text == graph_dot(default_roots(engine_graph), engine_graph)


async def test_dot_matches_pytorchs_graph(sess: Sess) -> None:
    torch = pytest.importorskip("torch")
    x = torch.ones(2, 2, requires_grad=True)
    y = x + 2
    out = (y * y * 3).mean()
    await tutorial(sess)
    dot = Dot((await sess.get("/graph.dot", params={"roots": "out"})).text)
    assert dot.flow_edges() == expected_edges(out)


async def test_roots_saved_and_freed(sess: Sess) -> None:
    await tutorial(sess)
    dot = Dot((await sess.get("/graph.dot", params={"roots": "y,out"})).text)
    assert sorted(dot.first(n) for n, a in dot.attrs.items() if 'penwidth="2"' in a) == [
        "out",
        "y",
    ]
    assert not [n for n, a in dot.attrs.items() if "dashed" in a]  # nothing freed yet

    dot = Dot((await sess.get("/graph.dot", params={"roots": "out", "saved": "true"})).text)
    saved = [n for n, a in dot.attrs.items() if 'fillcolor="orange"' in a]
    # AddBackward0 saves nothing; y*y saves both inputs, z*3 its tensor input, mean nothing
    assert sorted(dot.labels[n][0] for n in saved) == ["saved input 0"] * 2 + ["saved input 1"]
    assert all(dot.labels[n][1] == "(2, 2) float32" for n in saved)
    links = [(a, b) for a, b, attrs in dot.edges if 'dir="none"' in attrs]
    assert sorted(b for _, b in links) == sorted(saved)
    assert {dot.first(a) for a, _ in links} == {"MulBackward0"}

    r = await sess.backward("out")
    assert r.status_code == 200, r.text
    dot = Dot((await sess.get("/graph.dot", params={"saved": "true"})).text)
    freed = [n for n, a in dot.attrs.items() if "dashed" in a]
    assert sorted(dot.first(n) for n in freed) == sorted(
        ["MeanBackward0", "MulBackward0", "MulBackward0", "AddBackward0"]
    )
    assert all(dot.labels[n][-1] == "(freed)" for n in freed)
    assert not [n for n, a in dot.attrs.items() if 'fillcolor="orange"' in a]  # freed: none

    # a tensor that does not require grad, outside every graph: its own pale node
    await sess.tensor("c", value=[1, 2, 3])
    dot = Dot((await sess.get("/graph.dot")).text)
    (c,) = dot.ids("c")
    assert dot.labels[c] == [
        "c",
        "(3) int64",
    ]  # torchviz size_to_str and "lemonchiffon" in dot.attrs[c]
    assert not [e for e in dot.edges if c in e[:2]]


async def test_svg_has_one_node_group_per_graph_node(sess: Sess) -> None:
    await tutorial(sess)
    for params in ({}, {"saved": "true"}, {"roots": "y"}):
        dot = Dot((await sess.get("/graph.dot", params=params)).text)
        r = await sess.get("/graph.svg", params=params)
        assert r.status_code == 200, r.text
        assert r.headers["content-type"] == "image/svg+xml"
        root = ET.fromstring(r.content)
        groups = [g for g in root.iter("{http://www.w3.org/2000/svg}g")]
        nodes = [g for g in groups if g.get("class") == "node"]
        edges = [g for g in groups if g.get("class") == "edge"]
        assert len(nodes) == len(dot.labels), params
        assert len(edges) == len(dot.edges), params
        titles = {g.find("{http://www.w3.org/2000/svg}title").text for g in nodes}  # type: ignore[union-attr]
        assert titles == set(dot.labels)
        texts = " ".join(t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text"))
        assert "MeanBackward0" in texts or params == {"roots": "y"}
        assert "AddBackward0" in texts


async def test_svg_without_graphviz_is_501_and_dot_still_works(
    sess: Sess, monkeypatch: pytest.MonkeyPatch
) -> None:
    await tutorial(sess)
    monkeypatch.setenv("PATH", "/nonexistent")  # no `dot` to run
    r = await sess.get("/graph.svg")
    body = assert_problem(r, 501, "renderer_unavailable")
    assert "apt-get install graphviz" in body["detail"]
    r = await sess.get("/graph.dot")
    assert r.status_code == 200 and "MeanBackward0" in r.text


async def test_bad_roots(sess: Sess) -> None:
    await tutorial(sess)
    for path in ("/graph.dot", "/graph.svg"):
        assert_problem(await sess.get(path, params={"roots": "out,nope"}), 400, "unknown_name")
        assert_problem(await sess.get(path, params={"roots": "a b"}), 400, "invalid_argument")
        assert_problem(await sess.get(path, params={"saved": "maybe"}), 422, "validation_error")


async def test_auth_is_required(client: httpx.AsyncClient, sess: Sess) -> None:
    for path in ("/graph.dot", "/graph.svg", "/overview", "/tensors/x/repr"):
        assert_problem(await client.get(sess.url(path)), 401, "unauthorized")


async def test_node_cap_is_413() -> None:
    async with serve(make_settings(max_picture_nodes=5)) as client:
        s = await open_session(client)
        await tutorial(s)
        for path in ("/graph.dot", "/graph.svg"):
            body = assert_problem(await s.get(path), 413, "graph_too_large")
            assert "more than 5 nodes" in body["detail"]
        r = await s.get("/graph.dot", params={"roots": "y"})  # part of it fits
        assert r.status_code == 200, r.text


async def test_overview_and_repr(sess: Sess) -> None:
    await tutorial(sess)
    assert (await sess.backward("out")).status_code == 200
    r = await sess.get("/overview")
    assert r.status_code == 200, r.text
    rows = {t["name"]: t for t in r.json()["tensors"]}
    assert list(rows) == ["x", "y", "z", "out"]
    assert rows["x"] == {
        "name": "x",
        "shape": [2, 2],
        "dtype": "float32",
        "requires_grad": True,
        "is_leaf": True,
        "grad_fn": None,
        "has_grad": True,
        "bytes": 16,
        "version": 0,
    }
    assert rows["out"]["grad_fn"] == "MeanBackward0" and rows["out"]["has_grad"] is False
    assert rows["out"]["bytes"] == 4

    r = await sess.get("/tensors/x/repr")
    assert r.json() == {
        "name": "x",
        "data": "tensor([[1., 1.],\n        [1., 1.]], requires_grad=True)",
        "grad": "tensor([[4.5000, 4.5000],\n        [4.5000, 4.5000]])",
    }
    r = await sess.get("/tensors/out/repr")
    assert r.json()["data"] == "tensor(27., grad_fn=<MeanBackward0>)"
    assert r.json()["grad"] is None
    assert_problem(await sess.get("/tensors/nope/repr"), 404, "tensor_not_found")


def test_engine_make_dot_is_a_graphviz_source() -> None:
    graphviz = pytest.importorskip("graphviz")
    g = engine_tutorial()
    src = make_dot(g["out"], params={"x": g["x"]})
    assert isinstance(src, graphviz.Source)
    dot = Dot(src.source)
    assert dot.labels[dot.ids("x")[0]] == ["x", "(2, 2) float32"]
    (out,) = [n for n, lines in dot.labels.items() if lines == ["() float32"]]
    assert "penwidth" not in dot.attrs[out]  # torchviz draws no highlight
    svg = ET.fromstring(src.pipe(format="svg"))
    nodes = [g for g in svg.iter("{http://www.w3.org/2000/svg}g") if g.get("class") == "node"]
    assert len(nodes) == len(dot.labels)


def test_engine_graph_dot_on_deep_graphs_is_iterative_and_capped() -> None:
    x = engine.ones(3, requires_grad=True)
    y = x
    for _ in range(3000):  # deeper than Python's recursion limit
        y = y * 1.0
    dot = Dot(graph_dot({"y": y}))
    assert len(dot.labels) == 3000 + 3
    with pytest.raises(engine.EngineError) as err:
        graph_dot({"y": y}, max_nodes=100)
    assert err.value.code == "graph_too_large" and err.value.status == 413


async def test_bind_names(sess: Sess) -> None:
    await tutorial(sess)
    r = await sess.post("/names", {"names": {"result": "out", "leaf": "x"}})
    assert r.status_code == 200, r.text
    assert [t["name"] for t in r.json()["tensors"]] == ["result", "leaf"]
    assert r.json()["tensors"][0]["grad_fn"] == "MeanBackward0"
    # one tensor, two names: backward through one, .grad through the other
    assert (await sess.backward("result")).status_code == 200
    assert await sess.grad("leaf") == [[4.5, 4.5], [4.5, 4.5]]
    # drawn once, labelled with both names
    dot = Dot((await sess.get("/graph.dot")).text)
    assert [n for n, lines in dot.labels.items() if lines[0] == "out, result"]
    assert [n for n, lines in dot.labels.items() if lines[0] == "x, leaf"]
    assert_problem(await sess.post("/names", {"names": {"a": "nope"}}), 400, "unknown_name")
    assert_problem(await sess.post("/names", {"names": {"a b": "x"}}), 422, "validation_error")


async def test_generated_names_show_only_without_another(sess: Sess) -> None:
    await sess.tensor("_t0", fill="ones", shape=[2], requires_grad=True)
    await sess.run([{"name": "_t1", "op": "sum", "args": ["_t0"]}])
    dot = Dot((await sess.get("/graph.dot")).text)
    assert dot.labels[dot.ids("SumBackward0")[0]] == ["SumBackward0", "_t1"]
    assert (await sess.post("/names", {"names": {"total": "_t1"}})).status_code == 200
    dot = Dot((await sess.get("/graph.dot")).text)
    assert dot.labels[dot.ids("SumBackward0")[0]] == ["SumBackward0", "total"]
    assert dot.ids("total") and not dot.ids("_t1")
