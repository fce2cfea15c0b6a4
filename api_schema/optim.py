"""Optimizers that live in a session: create, step, zero_grad, read their state."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .tensors import Encoding, Name

__all__ = [
    "OptimizerCreate",
    "OptimizerInfo",
    "OptimizerKind",
    "OptimizerState",
    "OptimizerStep",
    "OptimizerStepped",
    "OptimizerZeroGrad",
    "ParamGroup",
]

OptimizerKind = Literal["sgd", "adam", "adamw", "rmsprop", "adagrad"]


class ParamGroup(BaseModel):
    """A parameter group: tensor names and torch's options for them (omitted: defaults)."""

    model_config = ConfigDict(
        extra="allow",
        json_schema_extra={"examples": [{"params": ["w1", "b1"], "lr": 0.01, "momentum": 0.9}]},
    )

    params: list[Name] = Field(
        min_length=1, description="Leaf tensors of the session that the group updates."
    )


class OptimizerCreate(BaseModel):
    """``torch.optim.<Kind>(param_groups, **defaults)`` in the session."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "kind": "adam",
                    "param_groups": [{"params": ["w1", "b1", "w2", "b2"]}],
                    "defaults": {"lr": 0.001, "betas": [0.9, 0.999]},
                }
            ]
        },
    )

    kind: OptimizerKind
    param_groups: list[ParamGroup] = Field(min_length=1, max_length=64)
    defaults: dict[str, Any] = Field(
        default_factory=dict,
        description="Keyword arguments of the torch constructor (lr, momentum, betas, ...).",
    )
    name: Name | None = Field(None, description="Omitted: the server picks one.")


class OptimizerInfo(BaseModel):
    """An optimizer: its kind, groups (names and every option) and steps taken."""

    name: str
    kind: OptimizerKind
    param_groups: list[dict[str, Any]]
    steps: int = Field(description="step() calls so far.")
    state_bytes: int = Field(description="Bytes of its state tensors (counted in the quota).")


class OptimizerStep(BaseModel):
    """One ``opt.step()``: optionally with new options per group (a scheduler's ``lr``)."""

    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{}, {"param_groups": [{"lr": 0.0005}]}]}
    )

    param_groups: list[dict[str, Any]] | None = Field(
        None, description="Options to set before the step, one object per group, in order."
    )


class OptimizerStepped(BaseModel):
    """What a step changed: only counts, never values."""

    steps: int
    updated: int = Field(description="Parameters that had a gradient and were updated.")
    bytes: int = Field(description="The session's bytes after the step.")


class OptimizerZeroGrad(BaseModel):
    """``opt.zero_grad(set_to_none=...)``."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{}]})

    set_to_none: bool = True


class OptimizerState(BaseModel):
    """``opt.state_dict()``: torch's layout, parameters by index in group order."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "state": {
                        "0": {
                            "step": 1.0,
                            "exp_avg": {"data": [0.1, 0.1], "dtype": "float32"},
                            "exp_avg_sq": {"data": [0.001, 0.001], "dtype": "float32"},
                        }
                    },
                    "param_groups": [{"lr": 0.001, "betas": [0.9, 0.999], "params": [0]}],
                }
            ]
        }
    )

    state: dict[str, dict[str, Any]]
    param_groups: list[dict[str, Any]]
    encoding: Encoding = "json"
