"""Graph templates a graph node stores with the graph: a custom ``autograd.Function``'s
backward and a tensor hook's body, recorded by a client as data (never code) and replayed by
the server during backward (docs/api.md, "Stored templates")."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from .graph import GraphNode
from .tensors import NAME_PATTERN, Name

__all__ = ["FunctionKwargs", "HookKwargs", "StoredTemplate"]

CLASS_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,127}$"


class StoredTemplate(BaseModel):
    """``def body(*inputs): <nodes>; return outputs``: the nodes are graph nodes whose args
    name only the template's ``inputs`` and earlier nodes; an output ``null`` is ``None``."""

    model_config = ConfigDict(extra="forbid")

    inputs: list[Name] = Field(description="The formal parameters, in order.")
    nodes: list[GraphNode] = Field(default_factory=list)
    outputs: list[Annotated[str, Field(pattern=NAME_PATTERN)] | None] = Field(
        min_length=1, description="What the body returns, in order (`null`: None)."
    )


class FunctionKwargs(BaseModel):
    """The kwargs of an ``autograd.function`` node (its ``args`` are ``apply``'s)."""

    model_config = ConfigDict(extra="forbid")

    cls: str = Field(
        alias="class",
        pattern=CLASS_PATTERN,
        description="The Function's class name: the grad_fn is `<class>Backward`.",
    )
    outputs: list[Name] = Field(
        min_length=1,
        description="The tensors ``forward`` returned (computed by earlier nodes, no grad); "
        "they get the Function's grad_fn in place.",
    )
    saved: list[Name | None] = Field(default_factory=list, description="save_for_backward.")
    dirty: list[Name] = Field(default_factory=list, description="mark_dirty (inputs).")
    non_differentiable: list[Name] = Field(
        default_factory=list, description="mark_non_differentiable (outputs)."
    )
    captures: list[Name] = Field(
        default_factory=list, description="Session tensors the backward uses as constants."
    )
    backward: StoredTemplate = Field(
        description="Inputs: one gradient per output, then the saved tensors, then the "
        "captures; outputs: one gradient per apply argument (`null`: None)."
    )
    error: Name | None = Field(
        None,
        description="The client's token for an exception its backward raised while traced: "
        "a backward through this node then fails (400 invalid_argument whose problem carries "
        "`function_error`: this token), and the client raises that exception there.",
    )


class HookKwargs(BaseModel):
    """The kwargs of an ``autograd.register_hook`` node (``args``: the tensor)."""

    model_config = ConfigDict(extra="forbid")

    id: Name = Field(description="The hook's name on that tensor (for autograd.remove_hook).")
    captures: list[Name] = Field(default_factory=list)
    hook: StoredTemplate = Field(
        description="Inputs: the gradient, then the captures; one output: the new gradient, "
        "or `null` (the hook returns None)."
    )
