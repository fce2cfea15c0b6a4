"""Graph requests: define-by-run nodes, applied atomically."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from .tensors import NAME_PATTERN, Encoding, TensorInfo

__all__ = [
    "COMPACT_FIELDS",
    "GraphNode",
    "GraphProfile",
    "GraphRequest",
    "GraphResponse",
    "OPS_DESCRIPTION",
    "NodeTime",
    "ProfileEvent",
]

# Filled in by the service at start-up from the engine's op table (it is documentation only:
# an unknown op is still answered 400 unknown_op, never a schema error).
OPS_DESCRIPTION = (
    "The op's wire name; GET /v1/ops lists them with their kwargs and grad_fn names. An unknown "
    "op is `400 unknown_op`."
)


# the compact form of a node: an array of these fields in this order, the last two optional
COMPACT_FIELDS = ("name", "op", "args", "kwargs", "no_grad")
COMPACT_DESCRIPTION = (
    "The compact form of a node: `[name, op, args]`, `[name, op, args, kwargs]` or "
    "`[name, op, args, kwargs, no_grad]` (the same fields, by position; `name` may be null)."
)


class GraphNode(BaseModel):
    """One op call. ``args``: a name (string), a Python scalar, ``{"value": TensorData}``, or
    (for cat/stack) a list of those. A node is an object, or an array of its fields in the
    order of ``COMPACT_FIELDS`` (the compact form: no key repeated per node)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "y", "op": "add", "args": ["x", 2]}]},
    )

    name: Annotated[str, Field(pattern=NAME_PATTERN)] | None = Field(
        None, description="Bind the result to this name; omitted: a temporary."
    )
    op: str = Field(description=OPS_DESCRIPTION, examples=["add"])
    args: list[Any] = Field(default_factory=list)
    kwargs: dict[str, Any] = Field(
        default_factory=dict,
        description="The op's attributes with PyTorch's names (dim, keepdim, shape, index, ...).",
    )
    no_grad: bool | None = Field(
        None, description="Grad mode for this node (`true`: no_grad); omitted: the request's."
    )

    @model_validator(mode="before")
    @classmethod
    def _compact_form(cls, data: Any) -> Any:
        """``[name, op, args, kwargs?, no_grad?]`` as the object it stands for."""
        if not isinstance(data, list | tuple):
            return data
        if not 3 <= len(data) <= len(COMPACT_FIELDS):
            raise ValueError(
                "a node in the compact form is [name, op, args], [name, op, args, kwargs] or "
                f"[name, op, args, kwargs, no_grad]; got an array of {len(data)} items"
            )
        return dict(zip(COMPACT_FIELDS, data, strict=False))


def _compact_items(schema: dict[str, Any]) -> None:
    """``nodes``' items in the OpenAPI document: a GraphNode object, or its compact form."""
    schema["items"] = {
        "anyOf": [
            schema["items"],
            {
                "type": "array",
                "description": COMPACT_DESCRIPTION,
                "prefixItems": [
                    {"anyOf": [{"type": "string", "pattern": NAME_PATTERN}, {"type": "null"}]},
                    {"type": "string"},
                    {"type": "array", "items": {}},
                    {"type": "object", "additionalProperties": True},
                    {"anyOf": [{"type": "boolean"}, {"type": "null"}]},
                ],
                "minItems": 3,
                "maxItems": len(COMPACT_FIELDS),
                "items": False,
            },
        ]
    }


class GraphRequest(BaseModel):
    """Nodes to run in order, atomically: a failing node changes nothing."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {
                    "nodes": [
                        {"name": "y", "op": "add", "args": ["x", 2]},
                        {"name": "z", "op": "mul", "args": ["y", "y"]},
                        {"name": "z", "op": "mul", "args": ["z", 3]},
                        {"name": "out", "op": "mean", "args": ["z"]},
                    ],
                    "return": ["out"],
                    "include": ["data"],
                }
            ]
        },
    )

    nodes: list[GraphNode] = Field(
        default_factory=list,
        description="Nodes as objects, or in the compact form `[name, op, args, kwargs?, "
        "no_grad?]`.",
        json_schema_extra=_compact_items,
    )
    no_grad: bool = Field(False, description="`with torch.no_grad():` for the whole request.")
    return_: list[str] | None = Field(
        None, alias="return", description="Names to report; default: every node name."
    )
    include: list[Literal["data", "grad"]] = Field(default_factory=list)
    encoding: Encoding = "json"
    free: list[str] = Field(default_factory=list, description="Names to unbind afterwards.")
    profile: bool = Field(
        False,
        strict=True,
        description="Time every node and every op it runs (`torch.autograd.profiler`): the "
        "response then has `profile`. Off by default (no timing cost).",
    )


class ProfileEvent(BaseModel):
    """One op the engine ran, as ``torch.autograd.profiler`` records it."""

    name: str = Field(description="torch's event name, e.g. `aten::mul`.", examples=["aten::mul"])
    node: int | None = Field(description="The index of the node that ran it.")
    op: str | None = Field(description="That node's wire op (e.g. `autograd.backward`).")
    start_us: float = Field(description="Microseconds from the start of the request's nodes.")
    cpu_time_us: float = Field(description="Its time, in microseconds.")
    input_shapes: list[list[int]] = Field(description="Its inputs' shapes (`[]`: a scalar).")


class NodeTime(BaseModel):
    """One node's time, the ops it runs included."""

    op: str = Field(description="The node's wire op.")
    wall_time_us: float
    cpu_time_us: float = Field(description="The CPU time of the thread that ran it.")


class GraphProfile(BaseModel):
    events: list[ProfileEvent]
    nodes: list[NodeTime] = Field(description="Per node of the request, in order.")


class GraphResponse(BaseModel):
    tensors: dict[str, TensorInfo]
    profile: GraphProfile | None = Field(
        None, description='Only when the request asked for it (`"profile": true`).'
    )
