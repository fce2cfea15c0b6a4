"""The graph route's fast path (``parse_batch``) reads a body exactly as ``GraphRequest`` does:
the same request for a valid body, and None (``GraphRequest`` decides and words the error)
for anything else."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from api_schema import GraphRequest
from service.routes.graph import parse_batch

NODE = {"name": "y", "op": "add", "args": ["x", 2]}

VALID: list[Any] = [
    {},
    {"nodes": []},
    {"nodes": [NODE, ["z", "mul", ["y", "y"]], [None, "sum", ["z"], {"dim": 1}, True]]},
    {"nodes": [{"op": "neg"}, {"op": "neg", "args": ["x"], "kwargs": {}, "no_grad": None}]},
    {"nodes": [["a", "neg", ["x"], {}, None]], "no_grad": True, "return": ["a"]},
    {"nodes": [], "include": ["data", "grad"], "encoding": "b64", "free": ["a", "b"]},
    {"nodes": [], "return": None},
]

INVALID: list[Any] = [
    [],
    {"nodes": {}},
    {"nodes": [["y", "add"]]},
    {"nodes": [["y", "add", [], {}, None, 1]]},
    {"nodes": [["y y", "add", []]]},
    {"nodes": [["y\n", "add", []]]},
    {"nodes": [["", "add", []]]},
    {"nodes": [["y" * 129, "add", []]]},
    {"nodes": [[1, "add", []]]},
    {"nodes": [["y", 1, []]]},
    {"nodes": [["y", "add", "x"]]},
    {"nodes": [["y", "add", [], []]]},
    {"nodes": [["y", "add", [], None]]},
    {"nodes": [["y", "add", [], {}, "maybe"]]},
    {"nodes": [{"name": "y", "args": []}]},
    {"nodes": [{**NODE, "extra": 1}]},
    {"nodes": [{**NODE, "kwargs": None}]},
    {"nodes": ["y"]},
    {"nodes": [None]},
    {"nodes": [], "extra": 1},
    {"nodes": [], "no_grad": None},
    {"nodes": [], "return": "a"},
    {"nodes": [], "return": [1]},
    {"nodes": [], "include": ["values"]},
    {"nodes": [], "encoding": "npy"},
    {"nodes": [], "free": "a"},
    {"nodes": [], "free": [None]},
]

# valid for GraphRequest (lax), left to it by the fast path
LEFT_TO_THE_MODEL: list[Any] = [
    {"nodes": [], "no_grad": 1},
    {"nodes": [], "return_": ["a"]},
    {"nodes": [["y", "add", [], {}, "true"]]},
]


def _same(fast: GraphRequest, model: GraphRequest) -> None:
    assert [
        tuple(getattr(n, f) for f in ("name", "op", "args", "kwargs", "no_grad"))
        for n in fast.nodes
    ] == [(n.name, n.op, n.args, n.kwargs, n.no_grad) for n in model.nodes]
    for f in ("no_grad", "return_", "include", "encoding", "free"):
        assert getattr(fast, f) == getattr(model, f), f


@pytest.mark.parametrize("body", VALID)
def test_a_valid_body_reads_as_the_model_reads_it(body: Any) -> None:
    fast = parse_batch(body)
    assert fast is not None
    _same(fast, GraphRequest.model_validate(body))


@pytest.mark.parametrize("body", INVALID)
def test_an_invalid_body_is_left_to_the_model(body: Any) -> None:
    assert parse_batch(body) is None
    with pytest.raises(ValidationError):
        GraphRequest.model_validate(body)


@pytest.mark.parametrize("body", LEFT_TO_THE_MODEL)
def test_a_lax_body_is_left_to_the_model(body: Any) -> None:
    assert parse_batch(body) is None
    GraphRequest.model_validate(body)
