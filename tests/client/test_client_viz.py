"""``torch.viz.make_dot(out)``: torchviz's picture of a remote graph, as a graphviz.Source."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from client import RemoteTorch
from client.viz import relabel

graphviz = pytest.importorskip("graphviz")
SVG_G = "{http://www.w3.org/2000/svg}g"


def test_make_dot_draws_the_tutorial(torch: RemoteTorch) -> None:
    x = torch.ones(2, 2, requires_grad=True)
    y = x + 2
    out = (y * y * 3).mean()  # still pending: make_dot sends it first
    src = torch.viz.make_dot(out, params={"x": x})
    assert isinstance(src, graphviz.Source)
    text = src.source
    for label in ("MeanBackward0", "MulBackward0", "AddBackward0", "AccumulateGrad"):
        assert f'label="{label}"' in text, text
    assert 'label="x\\n(2, 2) float32"' in text  # the leaf, named by params
    assert 'label="() float32"' in text  # the output, by its size (torchviz)
    assert x.name not in text and out.name not in text  # no generated names leak
    assert "penwidth" not in text
    svg = ET.fromstring(src.pipe(format="svg"))
    nodes = [g for g in svg.iter(SVG_G) if g.get("class") == "node"]
    assert len(nodes) == 7
    assert out.item() == 27.0  # the session goes on as before

    out.backward()
    freed = torch.viz.make_dot(out, show_saved=True).source
    assert freed.count("(freed)") == 4
    assert "orange" not in freed  # saved values are gone after backward


def test_make_dot_shows_saved_tensors(torch: RemoteTorch) -> None:
    w = torch.ones(3, requires_grad=True)
    loss = (w * w).sum()
    text = torch.viz.make_dot({"loss": loss}, params={"w": w}, show_saved=True).source
    assert text.count('fillcolor="orange"') == 2
    assert 'label="loss\\n() float32"' in text


def test_relabel_keeps_classes_and_sizes() -> None:
    dot = 'a [label="t3\\n(2) float32"]\nb [label="MulBackward0\\nt4, t5\\n(freed)"]'
    assert relabel(dot, {"t4": "z"}) == (
        'a [label="(2) float32"]\nb [label="MulBackward0\\nz\\n(freed)"]'
    )
