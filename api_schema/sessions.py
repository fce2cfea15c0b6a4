"""Sessions."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["SessionCreate", "SessionCreated", "SessionInfo", "SessionLimits"]


class SessionCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"backend": "numpy", "ttl_seconds": 3600}]}
    )

    backend: Literal["numpy", "cupy"] = "numpy"
    ttl_seconds: int | None = Field(None, ge=1, description="Capped by the server's maximum.")
    seed: int | None = Field(None, ge=0, description="Seeds this session's random generator.")


class SessionCreated(BaseModel):
    session_id: str
    token: str = Field(description="Send as `Authorization: Bearer <token>`.")
    backend: str
    device: str
    expires_at: datetime


class SessionLimits(BaseModel):
    max_tensor_elements: int
    max_session_bytes: int
    max_nodes_per_request: int
    max_body_bytes: int
    ttl_seconds: int


class SessionInfo(BaseModel):
    session_id: str
    backend: str
    device: str
    expires_at: datetime
    tensor_count: int
    bytes: int
    limits: SessionLimits
