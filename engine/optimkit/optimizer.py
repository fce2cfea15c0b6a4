"""``torch.optim``'s optimizers as torch users see them, written once for any backend.

This module holds what is the same wherever the arithmetic runs: the constructors
(torch's defaults and ``ValueError`` messages), ``param_groups`` with per-group options,
``add_param_group``, ``zero_grad`` and the ``state_dict`` layout. A backend subclass
supplies ``_step`` (the engine runs :mod:`engine.optim.kernels` in process; the client
sends one request and the server runs the same kernels on the session's tensors).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any, ClassVar

__all__ = ["SGD", "Adagrad", "Adam", "AdamW", "Optimizer", "RMSprop"]


class Optimizer:
    """Base class: parameter groups, state, ``zero_grad``, ``state_dict``."""

    kind: ClassVar[str] = ""

    @staticmethod
    def _is_tensor(obj: Any) -> bool:
        """Whether ``obj`` is a tensor of this optimizer's backend (a backend overrides it)."""
        raise NotImplementedError

    def __init__(self, params: Any, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        self.state: dict[Any, dict[str, Any]] = {}
        self.param_groups: list[dict[str, Any]] = []
        if type(self)._is_tensor(params):
            raise TypeError(
                "params argument given to the optimizer should be an iterable of Tensors or "
                f"dicts, but got {type(params).__name__}"
            )
        if isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs. Please use a list instead."
            )
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for g in groups:
            self.add_param_group(dict(g))

    def __repr__(self) -> str:
        s = type(self).__name__ + " ("
        for i, group in enumerate(self.param_groups):
            s += "\n" + f"Parameter Group {i}"
            for key in sorted(group):
                if key != "params":
                    s += "\n" + f"    {key}: {group[key]}"
        return s + "\n)"

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Add a group of parameters with its own options (the rest from the defaults)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if type(self)._is_tensor(params):
            params = [params]
        elif isinstance(params, set):
            raise TypeError(
                "optimizer parameters need to be organized in ordered collections, but the "
                "ordering of tensors in sets will change between runs. Please use a list instead."
            )
        params = list(params)
        names = [p[0] for p in params if isinstance(p, tuple)]
        params = [p[1] if isinstance(p, tuple) else p for p in params]
        if names:
            if len(names) != len(params):
                raise ValueError(
                    "all optimizer params should be with/without names. Some param names are "
                    "missing"
                )
            param_group["param_names"] = names
        param_group["params"] = params
        for p in params:
            if not type(self)._is_tensor(p):
                raise TypeError(
                    "optimizer can only optimize Tensors, but one of the params is "
                    f"{type(p).__module__}.{type(p).__name__}"
                )
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            param_group.setdefault(name, default)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in seen for p in params):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)
        self._group_added(param_group)

    def _group_added(self, group: dict[str, Any]) -> None:
        """Hook: a backend's eager state (Adagrad's accumulators)."""

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's gradient (to ``None`` by default, as torch)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is None:
                    continue
                if set_to_none:
                    p.grad = None
                elif p.grad.grad_fn is not None:
                    p.grad = p.grad.detach() * 0
                else:
                    p.grad.zero_()

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns ``closure()``."""
        loss = None
        if closure is not None:
            loss = self._with_grad(closure)
        self._step()
        return loss

    def _with_grad(self, closure: Callable[[], Any]) -> Any:
        return closure()

    def _step(self) -> None:
        raise NotImplementedError

    # ------------------------------------------------------------ state dict
    def _state_of(self, p: Any) -> dict[str, Any]:
        """One parameter's state as ``state_dict`` shows it."""
        return self.state.get(p, {})

    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: {...}}, "param_groups": [{..., "params": [indices]}]}``."""
        index: dict[int, int] = {}
        groups = []
        for g in self.param_groups:
            packed = {k: v for k, v in g.items() if k != "params"}
            ids = []
            for p in g["params"]:
                index.setdefault(id(p), len(index))
                ids.append(index[id(p)])
            packed["params"] = ids
            groups.append(packed)
        state: dict[int, Any] = {}
        for g in self.param_groups:
            for p in g["params"]:
                s = self._state_of(p)
                if s:
                    state[index[id(p)]] = s
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Take hyperparameters and state from ``state_dict`` (torch's layout)."""
        state_dict = dict(state_dict)
        saved = state_dict["param_groups"]
        if len(saved) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        pairs = zip(self.param_groups, saved, strict=True)
        if any(len(g["params"]) != len(s["params"]) for g, s in pairs):
            raise ValueError(
                "loaded state dict contains a parameter group that doesn't match the size of "
                "optimizer's group"
            )
        by_index = {
            i: p
            for g, s in zip(self.param_groups, saved, strict=True)
            for i, p in zip(s["params"], g["params"], strict=True)
        }
        new_groups = []
        group_of: dict[int, dict[str, Any]] = {}
        for g, s in zip(self.param_groups, saved, strict=True):
            ng = {k: copy.deepcopy(v) for k, v in s.items() if k != "params"}
            ng["params"] = g["params"]
            if "param_names" in g and "param_names" not in ng:
                ng["param_names"] = g["param_names"]
            new_groups.append(ng)
            group_of.update((id(p), ng) for p in g["params"])
        new_state: dict[Any, dict[str, Any]] = {}
        for k, v in state_dict["state"].items():
            p = by_index.get(int(k))
            if p is not None:
                new_state[p] = self._import_state(p, v, group_of[id(p)])
        self._set_state(new_state, new_groups)

    def _import_state(self, p: Any, state: dict[str, Any], group: dict[str, Any]) -> dict[str, Any]:
        """One parameter's loaded state (``group``: its new options), as the backend keeps it."""
        return dict(state)

    def _set_state(self, state: dict[Any, dict[str, Any]], groups: list[dict[str, Any]]) -> None:
        self.state = state
        self.param_groups = groups


def _check_lr(lr: Any) -> None:
    if not lr >= 0.0:
        raise ValueError(f"Invalid learning rate: {lr}")


def _check(name: str, value: Any) -> None:
    if not value >= 0.0:
        raise ValueError(f"Invalid {name} value: {value}")


_IGNORED = {"foreach": None, "differentiable": False, "fused": None}


class SGD(Optimizer):
    """Stochastic gradient descent, with momentum, dampening, Nesterov and weight decay."""

    kind = "sgd"

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        momentum: float = 0,
        dampening: float = 0,
        weight_decay: float = 0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        _check_lr(lr)
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "dampening": dampening,
            "weight_decay": weight_decay,
            "nesterov": nesterov,
            "maximize": maximize,
            **_IGNORED,
        }
        super().__init__(params, defaults)


class Adam(Optimizer):
    """Adam (with AMSGrad, and torch's ``decoupled_weight_decay`` that makes it AdamW)."""

    kind = "adam"

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0,
        amsgrad: bool = False,
        *,
        foreach: bool | None = None,
        maximize: bool = False,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
        decoupled_weight_decay: bool = False,
    ) -> None:
        _check_lr(lr)
        if not eps >= 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not weight_decay >= 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = {
            "lr": lr,
            "betas": tuple(betas),
            "eps": eps,
            "weight_decay": weight_decay,
            "amsgrad": amsgrad,
            "maximize": maximize,
            "foreach": foreach,
            "capturable": capturable,
            "differentiable": differentiable,
            "fused": fused,
            "decoupled_weight_decay": decoupled_weight_decay,
        }
        super().__init__(params, defaults)


class AdamW(Adam):
    """Adam with decoupled weight decay (default 1e-2)."""

    kind = "adamw"

    def __init__(
        self,
        params: Any,
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
        *,
        maximize: bool = False,
        foreach: bool | None = None,
        capturable: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        super().__init__(
            params,
            lr,
            betas,
            eps,
            weight_decay,
            amsgrad,
            foreach=foreach,
            maximize=maximize,
            capturable=capturable,
            differentiable=differentiable,
            fused=fused,
            decoupled_weight_decay=True,
        )


class RMSprop(Optimizer):
    """RMSprop, centered or not, with momentum."""

    kind = "rmsprop"

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0,
        momentum: float = 0,
        centered: bool = False,
        capturable: bool = False,
        foreach: bool | None = None,
        maximize: bool = False,
        differentiable: bool = False,
    ) -> None:
        _check_lr(lr)
        if not eps >= 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        _check("momentum", momentum)
        _check("weight_decay", weight_decay)
        if not alpha >= 0.0:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = {
            "lr": lr,
            "momentum": momentum,
            "alpha": alpha,
            "eps": eps,
            "centered": centered,
            "weight_decay": weight_decay,
            "capturable": capturable,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
        }
        super().__init__(params, defaults)


class Adagrad(Optimizer):
    """Adagrad, with learning-rate decay and an initial accumulator value."""

    kind = "adagrad"

    def __init__(
        self,
        params: Any,
        lr: float = 1e-2,
        lr_decay: float = 0,
        weight_decay: float = 0,
        initial_accumulator_value: float = 0,
        eps: float = 1e-10,
        foreach: bool | None = None,
        *,
        maximize: bool = False,
        differentiable: bool = False,
        fused: bool | None = None,
    ) -> None:
        _check_lr(lr)
        _check("lr_decay", lr_decay)
        _check("weight_decay", weight_decay)
        _check("initial_accumulator_value", initial_accumulator_value)
        if not eps >= 0.0:
            raise ValueError(f"Invalid epsilon value: {eps}")
        defaults = {
            "lr": lr,
            "lr_decay": lr_decay,
            "eps": eps,
            "weight_decay": weight_decay,
            "initial_accumulator_value": initial_accumulator_value,
            "foreach": foreach,
            "maximize": maximize,
            "differentiable": differentiable,
            "fused": fused,
        }
        super().__init__(params, defaults)


CLASSES: tuple[type[Optimizer], ...] = (SGD, Adam, AdamW, RMSprop, Adagrad)
KINDS: dict[str, type[Optimizer]] = {c.kind: c for c in CLASSES}


def hyperparameters(group: dict[str, Any]) -> dict[str, Any]:
    """A group's options without its parameters (what travels on the wire)."""
    return {k: v for k, v in group.items() if k not in ("params", "param_names")}
