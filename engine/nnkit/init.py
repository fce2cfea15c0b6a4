"""``torch.nn.init``, written once for any tensor backend.

:class:`Init` is bound to a backend (``engine.nn.init`` to the engine, the client's
``torch.nn.init`` to a session). Distributions and bounds are torch's; the values come
from the backend's generator (the engine's is NumPy's PCG64 seeded by ``manual_seed``,
not torch's Mersenne Twister, so values differ from torch's, statistics do not).
"""

from __future__ import annotations

import math
from typing import Any

__all__ = ["Init", "calculate_gain"]

_LINEAR_FNS = (
    "linear",
    "conv1d",
    "conv2d",
    "conv3d",
    "conv_transpose1d",
    "conv_transpose2d",
    "conv_transpose3d",
)


def calculate_gain(nonlinearity: str, param: Any = None) -> float:
    """The recommended gain for a nonlinearity (torch's table)."""
    if nonlinearity in _LINEAR_FNS or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif (not isinstance(param, bool) and isinstance(param, int)) or isinstance(param, float):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _calculate_fan_in_and_fan_out(tensor: Any) -> tuple[int, int]:
    if tensor.dim() < 2:
        raise ValueError(
            "Fan in and fan out can not be computed for tensor with fewer than 2 dimensions"
        )
    receptive = math.prod(int(s) for s in tensor.shape[2:])
    return int(tensor.size(1)) * receptive, int(tensor.size(0)) * receptive


def _calculate_correct_fan(tensor: Any, mode: str) -> int:
    mode = mode.lower()
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"Mode {mode} not supported, please use one of ['fan_in', 'fan_out']")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


class Init:
    """``torch.nn.init`` on one backend: every function fills its tensor in place."""

    calculate_gain = staticmethod(calculate_gain)
    _calculate_fan_in_and_fan_out = staticmethod(_calculate_fan_in_and_fan_out)

    def __init__(self, torch: Any) -> None:
        self._torch = torch

    def _set(self, tensor: Any, value: Any) -> Any:
        with self._torch.no_grad():
            tensor.copy_(value)
        return tensor

    def uniform_(self, tensor: Any, a: float = 0.0, b: float = 1.0, generator: Any = None) -> Any:
        return self._set(tensor, self._torch.rand_like(tensor) * (b - a) + a)

    def normal_(
        self, tensor: Any, mean: float = 0.0, std: float = 1.0, generator: Any = None
    ) -> Any:
        return self._set(tensor, self._torch.randn_like(tensor) * std + mean)

    def constant_(self, tensor: Any, val: float) -> Any:
        return self._set(tensor, self._torch.full_like(tensor, val))

    def ones_(self, tensor: Any) -> Any:
        return self.constant_(tensor, 1.0)

    def zeros_(self, tensor: Any) -> Any:
        return self.constant_(tensor, 0.0)

    def xavier_uniform_(self, tensor: Any, gain: float = 1.0, generator: Any = None) -> Any:
        fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
        std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
        a = math.sqrt(3.0) * std
        return self.uniform_(tensor, -a, a)

    def xavier_normal_(self, tensor: Any, gain: float = 1.0, generator: Any = None) -> Any:
        fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
        std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
        return self.normal_(tensor, 0.0, std)

    def _kaiming_std(self, tensor: Any, a: float, mode: str, nonlinearity: str) -> float:
        if 0 in tuple(tensor.shape):
            return 0.0
        fan = _calculate_correct_fan(tensor, mode)
        return calculate_gain(nonlinearity, a) / math.sqrt(fan)

    def kaiming_uniform_(
        self,
        tensor: Any,
        a: float = 0,
        mode: str = "fan_in",
        nonlinearity: str = "leaky_relu",
        generator: Any = None,
    ) -> Any:
        bound = math.sqrt(3.0) * self._kaiming_std(tensor, a, mode, nonlinearity)
        return self.uniform_(tensor, -bound, bound)

    def kaiming_normal_(
        self,
        tensor: Any,
        a: float = 0,
        mode: str = "fan_in",
        nonlinearity: str = "leaky_relu",
        generator: Any = None,
    ) -> Any:
        return self.normal_(tensor, 0.0, self._kaiming_std(tensor, a, mode, nonlinearity))
