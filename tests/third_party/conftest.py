"""Fixtures for the three-ways runs: a live server for the client way, and the programs."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "client"))

from client_testkit import running_server


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    """A live ``gradserve serve`` for the client way."""
    with running_server() as url:
        yield url
