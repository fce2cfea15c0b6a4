"""Pydantic v2 models of the wire contract (docs/api.md). No logic.

Tensor values are typed loosely (``Any``) on purpose: a million-element list must
not be validated element by element; the service's codecs turn it into an array
in one call.
"""

from __future__ import annotations

from .grads import (
    BackwardRequest,
    GradRequest,
    GradsResponse,
    StatelessGradRequest,
    StatelessGradResponse,
    StatelessInput,
)
from .graph import GraphNode, GraphRequest, GraphResponse
from .misc import BackendInfo, BackendsResponse, OpInfo, OpsResponse, Problem
from .optim import (
    OptimizerCreate,
    OptimizerInfo,
    OptimizerKind,
    OptimizerState,
    OptimizerStep,
    OptimizerStepped,
    OptimizerZeroGrad,
    ParamGroup,
)
from .sessions import SessionCreate, SessionCreated, SessionInfo, SessionLimits
from .tensors import (
    DTypeName,
    Encoding,
    TensorB64,
    TensorCreate,
    TensorData,
    TensorInfo,
    TensorJSON,
    TensorList,
    TensorPatch,
    ZeroGradRequest,
)

__all__ = [
    "BackendInfo",
    "BackendsResponse",
    "BackwardRequest",
    "DTypeName",
    "Encoding",
    "GradRequest",
    "GradsResponse",
    "GraphNode",
    "GraphRequest",
    "GraphResponse",
    "OpInfo",
    "OpsResponse",
    "OptimizerCreate",
    "OptimizerInfo",
    "OptimizerKind",
    "OptimizerState",
    "OptimizerStep",
    "OptimizerStepped",
    "OptimizerZeroGrad",
    "ParamGroup",
    "Problem",
    "SessionCreate",
    "SessionCreated",
    "SessionInfo",
    "SessionLimits",
    "StatelessGradRequest",
    "StatelessGradResponse",
    "StatelessInput",
    "TensorB64",
    "TensorCreate",
    "TensorData",
    "TensorInfo",
    "TensorJSON",
    "TensorList",
    "TensorPatch",
    "ZeroGradRequest",
]
