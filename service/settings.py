"""Settings: one pydantic-settings class, ``GRADSERVE_*`` variables, never read at import time."""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Annotated

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

__all__ = ["Settings", "get_settings"]


class Settings(BaseSettings):
    """Everything the service reads from its environment, with safe defaults."""

    model_config = SettingsConfigDict(env_prefix="GRADSERVE_", extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 1
    log_level: str = "info"
    store: str = Field(
        "memory", description="'memory' (the default), or redis://host:port/db to share sessions"
    )
    redis_cache_bytes: int = Field(
        256 * 1024 * 1024,
        ge=0,
        description="Per-replica cache of immutable arrays and of the live copies of the "
        "sessions it served last (Redis store; 0: off).",
    )
    redis_lease_ms: int = Field(
        10_000,
        ge=100,
        description="Lease of a session's Redis lock, renewed every third of it while held.",
    )

    # NoDecode: the raw variable reaches _split_keys (the env source would parse it as JSON)
    api_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="When set, POST /v1/sessions and /v1/grad need one of them in X-API-Key.",
    )

    # limits
    max_tensor_elements: int = Field(16 * 1024 * 1024, ge=1)
    max_session_bytes: int = Field(
        1024 * 1024 * 1024,
        ge=1,
        description="A session's quota: its arrays plus a per-tensor and per-node overhead.",
    )
    max_request_bytes: int = Field(
        512 * 1024 * 1024,
        ge=1,
        description="What one graph request may hold beyond its session's bytes, checked as "
        "each op allocates (507 request_budget_exceeded).",
    )
    max_server_bytes: int = Field(
        default_factory=lambda: _default_server_bytes(),
        ge=1,
        description="Bytes every session of a process plus its running requests may hold "
        "(503 server_memory_exhausted); default: half the machine's memory.",
    )
    max_tensors_per_session: int = Field(
        100_000, ge=1, description="Names one session may bind (507 too_many_tensors)."
    )
    max_request_seconds: float = Field(
        60.0,
        gt=0,
        description="Compute deadline of one request, checked between ops "
        "(504 deadline_exceeded, nothing applied).",
    )
    body_read_timeout_seconds: float = Field(
        30.0, gt=0, description="Time a client has to send a request body (408 body_timeout)."
    )
    max_sessions: int = Field(1000, ge=1)
    max_nodes_per_request: int = Field(10_000, ge=1)
    max_body_bytes: int = Field(256 * 1024 * 1024, ge=1)
    max_json_values: int = Field(
        1024 * 1024,
        ge=1,
        description="Array items a JSON body may hold (a JSON number costs ~32 bytes parsed; "
        "large tensors go as .npy or b64).",
    )
    default_ttl_seconds: int = Field(3600, ge=1)
    max_ttl_seconds: int = Field(24 * 3600, ge=1)
    # per client (API key, else peer address), per server process
    max_anonymous_ttl_seconds: int = Field(
        3600, ge=1, description="Longest TTL a session opened without an API key gets."
    )
    max_sessions_per_client: int = Field(
        250, ge=1, description="Sessions one client may hold at once (429 beyond)."
    )
    sessions_per_client_per_minute: float = Field(
        0.0, ge=0, description="Sustained rate of POST /v1/sessions per client; 0: no rate limit."
    )
    session_burst_per_client: int = Field(
        60, ge=1, description="POST /v1/sessions a client may make at once before the rate holds."
    )
    max_picture_nodes: int = Field(
        2000,
        ge=1,
        description="Nodes GET .../graph.svg and .../graph.dot draw at most (413 beyond).",
    )
    sweep_interval_seconds: float = Field(5.0, gt=0)
    # worker threads for CPU-heavy work (the event loop runs only requests estimated small)
    compute_threads: int = Field(8, ge=1)
    inline_max_bytes: int = Field(
        64 * 1024,
        ge=0,
        description="A request whose estimated cost (bytes it reads, per node) is at most this "
        "runs on the event loop; larger ones go to the compute threads (0: all of them).",
    )

    @field_validator("api_keys", mode="before")
    @classmethod
    def _split_keys(cls, v: object) -> object:
        # GRADSERVE_API_KEYS="k1,k2" as well as a JSON list
        if isinstance(v, str):
            if v.strip().startswith("["):
                return json.loads(v)
            return [k.strip() for k in v.split(",") if k.strip()]
        return v


def _default_server_bytes() -> int:
    from .budget import physical_memory

    return max(physical_memory() // 2, 1 << 30)


@lru_cache
def get_settings() -> Settings:
    """The process's settings, read once, on first use (tests override the dependency)."""
    return Settings()
