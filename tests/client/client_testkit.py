"""Helpers for the client tests: a live server, PyTorch's own text for the same values, and
request logs."""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import IO, Any

import httpx
import numpy as np
import pytest

from client import RemoteTensor

__all__ = [
    "EXAMPLES",
    "RequestLog",
    "load_example",
    "mirror",
    "running_server",
    "same_repr",
    "without_addresses",
]

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
REPO_ROOT = EXAMPLES.parent
_ADDRESS = re.compile(r" object at 0x[0-9a-f]+>")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _serve_command() -> list[str]:
    """The ``gradserve`` console script next to this interpreter (or ``python -m service``)."""
    script = shutil.which("gradserve", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "service"]


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _log(log: IO[bytes]) -> str:
    log.flush()
    log.seek(0)
    return log.read().decode("utf-8", "replace")[-20_000:]


@contextlib.contextmanager
def running_server(env: dict[str, str] | None = None) -> Iterator[str]:
    """``gradserve serve`` on a free port with ``env`` settings; its URL once /healthz answers."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [*_serve_command(), "serve", "--port", str(port), "--log-level", "warning"]
    # the ambient GRADSERVE_* variables must not change what a test sees
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("GRADSERVE_")}
    full_env.update(env or {})
    with tempfile.TemporaryFile() as log:
        proc = subprocess.Popen(
            argv, cwd=REPO_ROOT, env=full_env, stdin=subprocess.DEVNULL, stdout=log, stderr=log
        )
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    pytest.fail(f"{argv} exited with {proc.returncode}:\n{_log(log)}")
                try:
                    if httpx.get(url + "/healthz", timeout=1.0).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if time.monotonic() > deadline:
                    pytest.fail(f"{argv} did not answer /healthz in 60s:\n{_log(log)}")
                time.sleep(0.05)
            yield url
        finally:
            _stop(proc)


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
