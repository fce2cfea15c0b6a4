"""``torch.autograd.functional`` on the wire: a function given as a graph template (data)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .graph import GraphNode
from .tensors import Encoding, Name, TensorData, TensorInfo

__all__ = [
    "FUNCTIONAL_FNS",
    "FunctionTemplate",
    "FunctionalBind",
    "FunctionalRequest",
    "FunctionalResponse",
    "StatelessFunctionalRequest",
]

FUNCTIONAL_FNS = ("jacobian", "hessian", "vjp", "jvp", "hvp", "vhp")

_TEMPLATE_EXAMPLE: dict[str, Any] = {
    "inputs": ["x", "y"],
    "nodes": [
        {"name": "p", "op": "mul", "args": ["x", "y"]},
        {"name": "out", "op": "sum", "args": ["p"]},
    ],
    "outputs": ["out"],
}


class FunctionTemplate(BaseModel):
    """A function as data: ``def f(*inputs): <nodes>; return outputs``.

    The nodes are graph nodes (``POST .../graph``'s format); their args may name the formal
    ``inputs``, earlier nodes and (in a session) the session's tensors, which the function
    then closes over as constants of the transform. One output name: the function returns a
    tensor; several: a tuple."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_TEMPLATE_EXAMPLE]})

    inputs: list[Name] = Field(min_length=1, description="The formal parameters, in order.")
    nodes: list[GraphNode] = Field(default_factory=list)
    outputs: list[str] = Field(min_length=1, description="The names the function returns.")


class FunctionalBind(BaseModel):
    """Session names for the results, in the response's shape (``null``: not bound)."""

    model_config = ConfigDict(extra="forbid")

    outputs: list[Name | None] | None = Field(
        None, description="One name per function output (vjp, jvp, hvp, vhp)."
    )
    result: list[Name | None] | list[list[Name | None]] | None = Field(
        None,
        description="One name per result tensor: a list for vjp/jvp/hvp/vhp, a list of rows "
        "for jacobian and hessian.",
    )


_FN_DESCRIPTION = (
    "Which ``torch.autograd.functional`` transform: "
    + ", ".join(f"`{f}`" for f in FUNCTIONAL_FNS)
    + ". Anything else is `400 invalid_argument`."
)


Include = Literal["data", "grad"]


def _data() -> list[Include]:
    return ["data"]


class _Common(BaseModel):
    fn: str = Field(description=_FN_DESCRIPTION, examples=["vjp"])
    graph: FunctionTemplate
    create_graph: bool = False
    strict: bool = False
    vectorize: bool = Field(False, description="jacobian/hessian: torch's flag (same values).")
    include: list[Include] = Field(
        default_factory=_data,
        description="What each reported tensor carries (default: its data).",
    )
    encoding: Encoding = "json"


class FunctionalRequest(_Common):
    """``torch.autograd.functional.<fn>(f, inputs, v, create_graph, strict)`` on a session."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "fn": "vjp",
                    "graph": _TEMPLATE_EXAMPLE,
                    "inputs": ["a", "b"],
                    "v": None,
                    "bind": {"result": ["da", "db"]},
                }
            ]
        },
    )

    inputs: list[str | TensorData] = Field(
        min_length=1, description="One per formal input: a session name or TensorData."
    )
    v: list[str | TensorData] | None = Field(
        None,
        description="vjp: one per output; jvp, hvp, vhp: one per input (names or TensorData); "
        "null as torch allows (a one-element output or input).",
    )
    bind: FunctionalBind | None = None
    return_: bool = Field(
        True, alias="return", description="false: only bind, report nothing (`result: null`)."
    )


class StatelessFunctionalRequest(_Common):
    """The same with no session: inputs and ``v`` are values, results are returned."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "fn": "hessian",
                    "graph": {
                        "inputs": ["x"],
                        "nodes": [
                            {"name": "c", "op": "pow", "args": ["x", 3]},
                            {"name": "out", "op": "sum", "args": ["c"]},
                        ],
                        "outputs": ["out"],
                    },
                    "inputs": [[1.0, 2.0]],
                }
            ]
        },
    )

    inputs: list[TensorData] = Field(min_length=1, description="One value per formal input.")
    v: list[TensorData] | None = Field(
        None, description="vjp: one per output; jvp, hvp, vhp: one per input."
    )


class FunctionalResponse(BaseModel):
    """``outputs``: the function's outputs (vjp, jvp, hvp, vhp; null for jacobian and
    hessian). ``result``: vjp, hvp, vhp one per input; jvp one per output; jacobian one row
    per output of one block per input; hessian one row per input of one block per input.
    Each tensor's ``name`` is the name it was bound to, else its place (``result[0][1]``)."""

    fn: str
    outputs: list[TensorInfo] | None
    result: list[TensorInfo] | list[list[TensorInfo]] | None
