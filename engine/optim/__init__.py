"""``torch.optim`` on the engine: SGD, Adam, AdamW, RMSprop, Adagrad and ``lr_scheduler``.

The classes users construct are the backend-agnostic ones of
:mod:`engine.optimkit.optimizer` (torch's signatures, defaults and checks) with the
engine's step: :mod:`engine.optim.kernels` on the parameters' arrays, in place (each
parameter's version counter moves on, as torch's in-place update).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..autograd import enable_grad
from ..optimkit import lr_scheduler
from ..optimkit import optimizer as _generic
from ..tensor import Tensor
from .kernels import KERNELS, init_state, state_keys

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "lr_scheduler"]

_ARRAY_KEYS = ("step",)


def _tensor(value: Any, like: Tensor) -> Tensor:
    """A state entry as torch shows it: ``step`` a float32 0-d tensor, buffers tensors."""
    import numpy as np

    if isinstance(value, float | int):
        return Tensor._make(np.asarray(value, dtype=np.float32), False, None)
    return Tensor._make(value, False, None)


class Optimizer(_generic.Optimizer):
    """The engine's optimizer base: state as arrays, updated by the kernels."""

    @staticmethod
    def _is_tensor(obj: Any) -> bool:
        return isinstance(obj, Tensor)

    def _group_added(self, group: dict[str, Any]) -> None:
        if self.kind == "adagrad":  # torch fills Adagrad's accumulators at construction
            for p in group["params"]:
                self.state[p] = init_state(self.kind, p._st.array, group)

    def _with_grad(self, closure: Callable[[], Any]) -> Any:
        with enable_grad():
            return closure()

    def _step(self) -> None:
        kernel = KERNELS[self.kind]
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                state = self.state.get(p)
                if state is None:
                    state = self.state[p] = init_state(self.kind, p._st.array, group)
                g = p.grad._st.array
                new = kernel(p._st.array, g, state, group)
                if new.dtype != p._st.array.dtype:
                    new = new.astype(p._st.array.dtype)
                p._st.array = new
                p._vc[0] += 1

    def _state_of(self, p: Any) -> dict[str, Any]:
        return {k: _tensor(v, p) for k, v in self.state.get(p, {}).items()}

    def _import_state(self, p: Any, state: dict[str, Any], group: dict[str, Any]) -> dict[str, Any]:
        import numpy as np

        # the keys this kind keeps (a state missing one would fail at the next step)
        expected, complete = state_keys(self.kind, group)
        if not (set(state) == expected if complete else set(state) <= expected):
            raise ValueError(
                f"state of a {type(self).__name__} parameter has keys {sorted(state)}, "
                f"expected {sorted(expected)}"
            )
        out: dict[str, Any] = {}
        for k, v in state.items():
            arr = v._st.array if isinstance(v, Tensor) else np.asarray(v)
            if k == "step":
                if arr.size != 1:
                    raise ValueError(f"state 'step' must be a number, got shape {list(arr.shape)}")
                out[k] = float(arr.reshape(()))
            else:
                if tuple(arr.shape) != tuple(p.shape):
                    raise ValueError(
                        f"state {k!r} has shape {list(arr.shape)}, its parameter {list(p.shape)}"
                    )
                # an engine tensor's array is never written in place: it can be shared
                out[k] = arr.astype(p._st.array.dtype, copy=not isinstance(v, Tensor))
        return out


def _bind(cls: type[_generic.Optimizer]) -> Any:
    return type(cls.__name__, (cls, Optimizer), {"__module__": __name__})


SGD: Any = _bind(_generic.SGD)
Adam: Any = _bind(_generic.Adam)
AdamW: Any = _bind(_generic.AdamW)
RMSprop: Any = _bind(_generic.RMSprop)
Adagrad: Any = _bind(_generic.Adagrad)
BY_KIND: dict[str, Any] = {c.kind: c for c in (SGD, Adam, AdamW, RMSprop, Adagrad)}
