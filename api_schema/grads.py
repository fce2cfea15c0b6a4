"""backward, autograd.grad and the stateless endpoint."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .graph import GraphNode
from .tensors import Encoding, Name, TensorB64, TensorData, TensorJSON

__all__ = [
    "BackwardRequest",
    "GradRequest",
    "GradsResponse",
    "StatelessGradRequest",
    "StatelessGradResponse",
    "StatelessInput",
]

GradOutput = TensorData | str


class BackwardRequest(BaseModel):
    """``tensor.backward(gradient, retain_graph, create_graph, inputs)``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"tensor": "out"}]})

    tensor: str
    gradient: GradOutput | None = Field(None, description="TensorData, or a session name.")
    retain_graph: bool | None = None
    create_graph: bool = False
    inputs: list[str] | None = None
    encoding: Encoding = "json"
    return_grads: Literal["all", "none"] | list[str] = Field(
        "all",
        description=(
            '"all": the .grad of every named leaf reached (or of `inputs`); "none": nothing '
            "(read a .grad later with GET .../tensors/{name}/grad); a list: those names' .grad."
        ),
    )


class GradRequest(BaseModel):
    """``torch.autograd.grad``; ``.grad`` is untouched. ``bind`` names the results."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"outputs": ["out"], "inputs": ["x"], "bind": ["dx"]}]},
    )

    outputs: list[str] = Field(min_length=1)
    inputs: list[str] = Field(min_length=1)
    grad_outputs: list[GradOutput | None] | None = None
    retain_graph: bool | None = None
    create_graph: bool = False
    allow_unused: bool = False
    bind: list[Name] | None = Field(None, description="Names to bind the results to, per input.")
    encoding: Encoding = "json"


class GradsResponse(BaseModel):
    grads: dict[str, TensorJSON | TensorB64 | None]


class StatelessInput(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: TensorData
    requires_grad: bool = False


class StatelessGradRequest(BaseModel):
    """One request, no session: inputs, nodes, the output, and what to differentiate."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "inputs": {"x": {"value": [[1, 1], [1, 1]], "requires_grad": True}},
                    "nodes": [{"name": "out", "op": "mean", "args": ["x"]}],
                    "output": "out",
                    "wrt": ["x"],
                }
            ]
        },
    )

    inputs: dict[str, StatelessInput | TensorData] = Field(default_factory=dict)
    nodes: list[GraphNode] = Field(default_factory=list)
    output: str
    gradient: TensorData | None = None
    wrt: list[str] = Field(default_factory=list)
    encoding: Encoding = "json"


class StatelessGradResponse(BaseModel):
    output: TensorJSON | TensorB64
    grads: dict[str, Any]
