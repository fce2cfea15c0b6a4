"""``torch.device``, ``torch.accelerator`` and the default device, as user code names them.

gradserve runs a session (or this process) on one backend: NumPy on the CPU, or CuPy on the
GPU. A device names where tensors live; factories accept ``device=`` and tensors report
their backend's, so ``torch.device("cpu")`` lines in user code run unchanged.
"""

from __future__ import annotations

from typing import Any

from .errors import InvalidArgumentError

__all__ = ["accelerator", "device", "get_default_device", "set_default_device"]

_TYPES = ("cpu", "cuda")


class device:
    """``torch.device("cpu")``, ``torch.device("cuda:0")``, ``torch.device("cuda", 0)``."""

    __slots__ = ("index", "type")
    type: str
    index: int | None

    def __init__(self, type: Any, index: int | None = None) -> None:
        if isinstance(type, device):
            type, index = type.type, type.index
        text = str(type)
        if ":" in text:
            if index is not None:
                raise InvalidArgumentError(
                    f"type (string) must not include an index because index was passed "
                    f"explicitly: {text}"
                )
            text, _, idx = text.partition(":")
            index = int(idx)
        if text not in _TYPES:
            raise InvalidArgumentError(
                f"Expected one of {', '.join(_TYPES)} device type at start of device string: {type}"
            )
        self.type = text
        self.index = index

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):  # a tensor's .device is its text here
            try:
                other = device(other)
            except InvalidArgumentError:
                return False
        if not isinstance(other, device):
            return NotImplemented
        return (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))


_default = [device("cpu")]


def set_default_device(d: Any) -> None:
    """``torch.set_default_device``: the CPU only (a GPU session is chosen by its backend)."""
    dev = device("cpu") if d is None else device(d)
    if dev.type != "cpu":
        raise InvalidArgumentError(
            "set_default_device: gradserve picks the GPU per process or session (its backend: "
            "engine.use_backend('cupy'), or connect(url, backend='cupy')), not per tensor"
        )
    _default[0] = dev


def get_default_device() -> device:
    return _default[0]


class _Accelerator:
    """``torch.accelerator``: whether this process's engine runs on a GPU backend."""

    @staticmethod
    def is_available() -> bool:
        from .backend import default_backend

        return default_backend().name != "numpy"

    @staticmethod
    def current_accelerator(check_available: bool = False) -> device | None:
        return device("cuda") if _Accelerator.is_available() else None

    @staticmethod
    def device_count() -> int:
        return 1 if _Accelerator.is_available() else 0


accelerator = _Accelerator()
