"""Client fixtures: a real ``gradserve serve`` subprocess on a free port, and sessions on it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from client_testkit import running_server

from client import RemoteTorch, connect


@pytest.fixture(scope="session")
def server() -> Iterator[str]:
    """The base URL of a live ``gradserve serve`` shared by the client tests."""
    with running_server() as url:
        yield url


@pytest.fixture
def torch(server: str) -> Iterator[RemoteTorch]:
    """A fresh session, used like ``torch``; deleted afterwards."""
    with connect(server) as remote:
        yield remote


@pytest.fixture
def ref() -> Any:
    """The real PyTorch, for comparisons (skips where it is not installed)."""
    return pytest.importorskip("torch")
