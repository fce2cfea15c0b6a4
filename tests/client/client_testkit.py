"""Helpers for the client tests: a live server (the shared harness's ``running_server``),
PyTorch's own text for the same values, and request logs."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import numpy as np
from _kit.server import REPO_ROOT, running_server

from client import RemoteTensor

__all__ = [
    "EXAMPLES",
    "REPO_ROOT",
    "RequestLog",
    "load_example",
    "mirror",
    "running_server",
    "same_repr",
    "without_addresses",
]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
_ADDRESS = re.compile(r" object at 0x[0-9a-f]+>")


def load_example(name: str) -> ModuleType:
    """``examples/<name>.py`` as a module (its ``main`` does not run)."""
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def without_addresses(text: str) -> str:
    """``<AddBackward0 object at 0x7f...>`` -> ``<AddBackward0 object at 0x...>``."""
    return _ADDRESS.sub(" object at 0x...>", text)


def mirror(ref: Any, t: RemoteTensor) -> Any:
    """A real torch tensor with the remote one's values, dtype and requires_grad (a leaf)."""
    values = np.array(t.detach().numpy())
    return ref.from_numpy(values).requires_grad_(t.requires_grad and t.is_leaf)


def same_repr(ref: Any, t: RemoteTensor) -> str:
    """What torch prints for a leaf, or a non-leaf with the same grad_fn built on a mirror."""
    m = mirror(ref, t)
    fn = t.grad_fn
    if fn is None:
        return repr(m)
    m = m.requires_grad_(True)
    by_name = {
        "MulBackward0": lambda a: a * 1,
        "AddBackward0": lambda a: a + 0,
        "DivBackward0": lambda a: a / 1,
        "SubBackward0": lambda a: a - 0,
    }
    out = by_name[fn.name()](m)
    assert type(out.grad_fn).__name__ == fn.name()
    return repr(out)


class RequestLog:
    """Every request a client sends: method, path, and both content types (httpx event hooks)."""

    def __init__(self, http: httpx.Client) -> None:
        self.entries: list[tuple[str, str, str, str]] = []
        http.event_hooks = {"request": [], "response": [self._response]}

    def _response(self, response: httpx.Response) -> None:
        request = response.request
        self.entries.append(
            (
                request.method,
                request.url.path,
                request.headers.get("content-type", ""),
                response.headers.get("content-type", ""),
            )
        )

    def clear(self) -> None:
        self.entries.clear()

    def matching(self, method: str, path_suffix: str) -> list[tuple[str, str, str, str]]:
        return [e for e in self.entries if e[0] == method and e[1].endswith(path_suffix)]
