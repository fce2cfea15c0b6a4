"""Helpers for the in-process service tests: an app with its lifespan, sessions, problems
(the app and the problem checks are the shared harness's, ``tests/_kit``)."""

from __future__ import annotations

from typing import Any

import httpx
from _kit.app import AppSession, make_settings, serve
from _kit.http import PROBLEM_JSON, assert_problem

__all__ = [
    "PROBLEM_JSON",
    "TUTORIAL_NODES",
    "Sess",
    "assert_problem",
    "make_settings",
    "open_session",
    "serve",
    "tutorial",
]


Sess = AppSession


async def open_session(client: httpx.AsyncClient, **body: Any) -> Sess:
    return await AppSession.open(client, **body)


TUTORIAL_NODES: list[dict[str, Any]] = [
    {"name": "y", "op": "add", "args": ["x", 2]},
    {"name": "z", "op": "mul", "args": ["y", "y"]},
    {"name": "z", "op": "mul", "args": ["z", 3]},
    {"name": "out", "op": "mean", "args": ["z"]},
]


async def tutorial(s: Sess) -> dict[str, Any]:
    """x = ones(2, 2, requires_grad); the tutorial's four nodes; returns the graph's tensors."""
    await s.tensor("x", fill="ones", shape=[2, 2], requires_grad=True)
    return await s.run(TUTORIAL_NODES, include=["data"])
