"""``torch.optim`` through the client: the optimizer lives in the session.

Constructing one (torch's signature, defaults and checks: the engine's backend-agnostic
classes) creates it on the server with the parameters' names; ``step()`` is one request
and moves no parameter or state bytes (a scheduler's new ``lr`` rides along with the next
step); ``zero_grad()`` (set_to_none) is recorded like ``p.grad = None`` (no request of its
own), ``zero_grad(set_to_none=False)`` is one request; ``state_dict()`` fetches the
state. ``lr_scheduler`` is the engine's, run on the client.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from engine.optimkit import lr_scheduler
from engine.optimkit import optimizer as _generic
from engine.optimkit.optimizer import hyperparameters

from .tensor import RemoteTensor, conn_of
from .wire import decode, encode_b64

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop", "lr_scheduler"]


def _post(conn: Any, path: str, body: dict[str, Any]) -> Any:
    """One request: pending nodes first (program order: they may hold a backward)."""
    if conn.pending:
        conn.flush()
    response = conn.send("POST", conn.prefix + path, json=body)
    return response.json() if response.content else None


def _wire_options(group: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in hyperparameters(group).items()}


class Optimizer(_generic.Optimizer):
    """A session's optimizer, seen from the client."""

    name: str | None = None

    @staticmethod
    def _is_tensor(obj: Any) -> bool:
        return isinstance(obj, RemoteTensor)

    def __init__(self, params: Any, defaults: dict[str, Any]) -> None:
        super().__init__(params, defaults)
        self._conn = conn_of(*[p for g in self.param_groups for p in g["params"]])
        body = {
            "kind": self.kind,
            "param_groups": [
                {**_wire_options(g), "params": [p.name for p in g["params"]]}
                for g in self.param_groups
            ],
        }
        info = self._conn.call("POST", "/optimizers", json=body)
        self.name = info["name"]
        self._sent = [_wire_options(g) for g in self.param_groups]

    def _group_added(self, group: dict[str, Any]) -> None:
        if self.name is not None:
            raise NotImplementedError(
                "add_param_group after construction is not supported through the client: "
                "build the optimizer with every group"
            )

    def _step(self) -> None:
        now = [_wire_options(g) for g in self.param_groups]
        changed = [
            {k: v for k, v in new.items() if old.get(k) != v}
            for new, old in zip(now, self._sent, strict=True)
        ]
        body = {"param_groups": changed} if any(changed) else {}
        _post(self._conn, f"/optimizers/{self.name}/step", body)
        self._sent = now
        self._conn.data_epoch += 1  # the parameters' values changed on the server
        self._conn.hazard += 1  # in place: an older graph that saved them may now fail

    def zero_grad(self, set_to_none: bool = True) -> None:
        conn = self._conn
        if set_to_none:  # recorded, as ``p.grad = None`` for each parameter
            for g in self.param_groups:
                for p in g["params"]:
                    conn.zero_grad(p.name)
            return
        _post(conn, f"/optimizers/{self.name}/zero_grad", {"set_to_none": False})
        conn.data_epoch += 1  # the .grad tensors were zeroed in place

    def state_dict(self) -> dict[str, Any]:
        """torch's layout; state values as NumPy arrays (``step`` a 0-d float32)."""
        result = self._conn.call(
            "GET", f"/optimizers/{self.name}/state", params={"encoding": "b64"}
        )
        state: dict[int, dict[str, Any]] = {}
        for k, entry in result["state"].items():
            state[int(k)] = {
                key: np.asarray(v, dtype=np.float32) if key == "step" else decode(v)
                for key, v in entry.items()
            }
        groups = super().state_dict()["param_groups"]
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Send torch's layout (tensors of any library or arrays); the server checks it."""
        state = {
            str(k): {
                key: float(np.asarray(v)) if key == "step" else encode_b64(np.asarray(v))
                for key, v in entry.items()
            }
            for k, entry in state_dict["state"].items()
        }
        groups = [
            {**_wire_options(g), "params": list(g["params"])} for g in state_dict["param_groups"]
        ]
        body = {"state": state, "param_groups": groups}
        info = self._conn.call("PUT", f"/optimizers/{self.name}/state", json=body)
        for g, new in zip(self.param_groups, info["param_groups"], strict=True):
            g.update({k: tuple(v) if k == "betas" else v for k, v in new.items() if k != "params"})
        self._sent = [_wire_options(g) for g in self.param_groups]


def _bind(cls: type[_generic.Optimizer]) -> Any:
    return type(cls.__name__, (cls, Optimizer), {"__module__": __name__})


SGD: Any = _bind(_generic.SGD)
Adam: Any = _bind(_generic.Adam)
AdamW: Any = _bind(_generic.AdamW)
RMSprop: Any = _bind(_generic.RMSprop)
Adagrad: Any = _bind(_generic.Adagrad)
