"""Python conversions of a tensor's values, shared by ``engine.Tensor`` and the client's
``RemoteTensor``: both read values through ``_host()`` (a NumPy array on the host)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from .errors import EngineTypeError, InvalidArgumentError

__all__ = ["HostValues"]


class HostValues:
    """``item``, ``tolist``, ``float()``, ``bool()``, ``len()``, ... as torch has them."""

    __slots__ = ()

    def _host(self) -> np.ndarray[Any, Any]:
        raise NotImplementedError

    def _array(self) -> Any:
        """The values as a backend array (a device array stays on its device)."""
        return self._host()

    def numel(self) -> int:
        raise NotImplementedError

    @property
    def shape(self) -> tuple[int, ...]:
        raise NotImplementedError

    def __getitem__(self, key: Any) -> Any:
        raise NotImplementedError

    def tolist(self) -> Any:
        return self._host().tolist()

    def item(self) -> Any:
        if self.numel() != 1:
            raise InvalidArgumentError(
                f"a Tensor with {self.numel()} elements cannot be converted to Scalar"
            )
        return self._host().reshape(()).item()

    def __float__(self) -> float:
        return float(self.item())

    def __int__(self) -> int:
        return int(self.item())

    def __index__(self) -> int:
        if self.numel() != 1 or self._host().dtype.kind == "f":
            raise EngineTypeError(
                "only integer tensors of a single element can be converted to an index"
            )
        return int(self.item())

    def __bool__(self) -> bool:
        if self.numel() != 1:
            raise InvalidArgumentError(
                "Boolean value of Tensor with more than one value is ambiguous"
            )
        return bool(self.item())

    def __len__(self) -> int:
        shape = self.shape
        if not shape:
            raise EngineTypeError("len() of a 0-d tensor")
        return int(shape[0])

    def __iter__(self) -> Iterator[Any]:
        if not self.shape:
            raise EngineTypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(len(self)))

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray[Any, Any]:
        a = self._host()
        return a.astype(dtype) if dtype is not None else a

    def __hash__(self) -> int:  # by identity; subclasses that define __eq__ re-export it
        return id(self)

    def __format__(self, spec: str) -> str:
        if spec and not self.shape:
            return format(self.item(), spec)
        return repr(self)
