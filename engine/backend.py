"""Array backends: ``numpy`` always, ``cupy`` when it imports and a GPU answers.

Engine code reaches arrays only through a backend's ``xp`` namespace, so the same
code path runs on both. The default backend for factories is per thread (the
service runs each session's work on its own backend).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from functools import cache
from types import ModuleType
from typing import Any

import numpy as np

from .errors import BackendUnavailableError

__all__ = ["Backend", "backends", "default_backend", "get_backend", "use_backend"]


@dataclass(frozen=True)
class Backend:
    """One array library: its name, namespace, torch device string and device info."""

    name: str
    xp: ModuleType
    device: str
    info: dict[str, Any] = field(default_factory=dict)

    def asnumpy(self, array: Any) -> np.ndarray[Any, Any]:
        """A host copy (or the array itself on numpy)."""
        if self.xp is np:
            return np.asarray(array)
        return self.xp.asnumpy(array)


NUMPY = Backend("numpy", np, "cpu", {"device": "cpu", "numpy": np.__version__})


@cache
def _probe_cupy() -> Backend | str:
    """Import CuPy and touch the device once; the reason as a string when it fails."""
    try:
        import cupy
    except Exception as exc:  # ImportError, or a CUDA library failing to load
        return f"cupy is not importable: {exc}"
    try:
        count = cupy.cuda.runtime.getDeviceCount()
        if count < 1:
            return "cupy imported but no CUDA device is visible"
        props = cupy.cuda.runtime.getDeviceProperties(0)
        cupy.asarray([1.0]).sum().item()  # a kernel really runs
        name = props["name"]
        info = {
            "device": "cuda:0",
            "name": name.decode() if isinstance(name, bytes) else str(name),
            "total_memory": int(props["totalGlobalMem"]),
            "cupy": cupy.__version__,
            "device_count": int(count),
        }
    except Exception as exc:
        return f"cupy imported but the GPU did not answer: {exc}"
    return Backend("cupy", cupy, "cuda", info)


def get_backend(name: str) -> Backend:
    """The backend called ``name``; ``backend_unavailable`` when it cannot run here."""
    if name in ("numpy", "cpu"):
        return NUMPY
    if name in ("cupy", "cuda"):
        probed = _probe_cupy()
        if isinstance(probed, str):
            raise BackendUnavailableError(probed)
        return probed
    raise BackendUnavailableError(f"unknown backend {name!r}; known: numpy, cupy")


def backends() -> list[dict[str, Any]]:
    """Which backends work here, with device info or the reason they do not."""
    out: list[dict[str, Any]] = [{"name": "numpy", "available": True, **NUMPY.info}]
    probed = _probe_cupy()
    if isinstance(probed, str):
        out.append({"name": "cupy", "available": False, "reason": probed})
    else:
        out.append({"name": "cupy", "available": True, **probed.info})
    return out


def special(xp: ModuleType) -> Any:
    """The backend's ``scipy.special`` (erf for gelu)."""
    if xp is np:
        import scipy.special

        return scipy.special
    import cupyx.scipy.special  # type: ignore[import-not-found, unused-ignore]

    return cupyx.scipy.special


def backend_of(array: Any) -> Backend:
    """The backend an array belongs to."""
    if isinstance(array, np.ndarray | np.generic):
        return NUMPY
    probed = _probe_cupy()
    if isinstance(probed, Backend) and isinstance(array, probed.xp.ndarray):
        return probed
    return NUMPY


class _Default(threading.local):
    backend: Backend = NUMPY


_default = _Default()


def default_backend() -> Backend:
    """The backend factories use in this thread."""
    return _default.backend


class use_backend:
    """Context manager: factories in this thread create arrays on ``name``'s backend."""

    def __init__(self, name: str | Backend) -> None:
        self.backend = name if isinstance(name, Backend) else get_backend(name)
        self._prev: list[Backend] = []

    def __enter__(self) -> Backend:
        self._prev.append(_default.backend)
        _default.backend = self.backend
        return self.backend

    def __exit__(self, *exc: object) -> None:
        _default.backend = self._prev.pop()
