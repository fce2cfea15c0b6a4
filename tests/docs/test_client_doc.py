"""docs/client.md names what the client really offers: every option of ``connect`` with its
default, every exception class, and every factory and grad-mode function it lists exists."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import client
from client.connection import Connection

DOC = Path(__file__).resolve().parents[2] / "docs" / "client.md"


@pytest.fixture(scope="module")
def text() -> str:
    return DOC.read_text(encoding="utf-8")


def test_every_connect_option_is_documented_with_its_default(text: str) -> None:
    params = {
        **inspect.signature(Connection.__init__).parameters,
        **inspect.signature(client.connect).parameters,
    }
    options = {
        name: p.default
        for name, p in params.items()
        if name not in ("self", "kwargs", "transport")  # transport: a test hook
    }
    assert {"url", "api_key", "timeout", "npy_threshold", "max_pending"} <= set(options)
    line = next(ln for ln in text.split("\n\n") if ln.startswith("`connect(url="))
    line = " ".join(line.split())
    for name, default in options.items():
        shown = f'"{default}"' if isinstance(default, str) else repr(default)
        assert f"{name}={shown}" in line, (name, shown, line)


def test_every_exception_is_documented(text: str) -> None:
    errors = [n for n in client.__all__ if n.endswith("Error")]
    assert len(errors) >= 6
    missing = [n for n in errors if n not in text]
    assert not missing, f"exceptions missing from docs/client.md: {missing}"


def test_what_the_doc_lists_exists() -> None:
    """The factories and grad-mode functions of "What it offers" are the namespace's own."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## What it offers", 1)[1].split("\n## ", 1)[0]
    factories = section.split("- Factories:", 1)[1].split("- Grad mode:", 1)[0]
    names = re.findall(r"`(\w+)`", factories)
    grad_mode = re.findall(r"`(\w+)\(", section.split("- Grad mode:", 1)[1].split("\n-", 1)[0])
    assert {"tensor", "ones", "randn", "no_grad"} <= set(names) | set(grad_mode)
    for name in [*names, *grad_mode]:
        if name.startswith("float") or name.startswith("int") or name in ("dtype",):
            continue
        assert hasattr(client.RemoteTorch, name), name
