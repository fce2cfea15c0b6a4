"""Problems (RFC 9457), ops and backends."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BackendInfo", "BackendsResponse", "OpInfo", "OpsResponse", "Problem"]


class Problem(BaseModel):
    """An RFC 9457 problem; ``code`` is stable (docs/api.md, "Errors")."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={
            "examples": [
                {
                    "type": "https://gradserve.dev/problems/graph_freed",
                    "title": "Conflict",
                    "status": 409,
                    "detail": "Trying to backward through the graph a second time ...",
                    "code": "graph_freed",
                }
            ]
        },
    )

    type: str
    title: str
    status: int
    detail: str
    code: str
    node: int | None = Field(None, description="The failing node's index, for graph requests.")
    request_id: str | None = None


class OpInfo(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    name: str
    arity: int | None = Field(description="Operands (leading args); null: a list of tensors.")
    kwargs_: dict[str, Any] = Field(alias="kwargs", description="Attributes and their defaults.")
    signature: str = Field(description="torch's parameter list of the function form.")
    method_signature: str | None = Field(
        None, description="The method's parameter list where torch's differs (`*shape`)."
    )
    variants: list[str] = Field(
        description="function, method, inplace, nn (torch.nn.functional) and operator dunders."
    )
    aliases: list[str] = Field(default_factory=list)
    in_place: bool = Field(False, description="Runs in place on its first argument (a name).")
    dtypes: str
    differentiable: bool
    grad_fns: list[str]
    parts: bool = Field(
        False,
        description="The function returns a tuple of tensors (split, chunk); a graph node "
        "gives one of them: the kwarg part is its index.",
    )
    doc: str = Field(description="One line.")


class OpsResponse(BaseModel):
    version: str = Field(description="A hash of the op table; equal tables, equal versions.")
    ops: list[OpInfo]


class BackendInfo(BaseModel):
    model_config = ConfigDict(extra="allow")

    name: str
    available: bool


class BackendsResponse(BaseModel):
    backends: list[BackendInfo]
