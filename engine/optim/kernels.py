"""The update rules, on backend arrays, in the order of torch's single-tensor kernels.

Each rule takes a parameter's array, its gradient's array, the parameter's state (a dict
of arrays and the step count, updated in place) and its group's options, and returns
the new parameter array. The arithmetic follows ``torch/optim/*.py``'s
``_single_tensor_*`` (what torch runs on CPU) operation for operation, so float64 runs
agree with torch to rounding.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..backend import backend_of

__all__ = ["KERNELS", "init_state", "state_keys"]

Array = Any


def _lerp(a: Array, b: Array, w: float) -> Array:
    # torch's lerp: the formula it picks depends on the weight (exact at both ends)
    return a + w * (b - a) if w < 0.5 else b - (b - a) * (1 - w)


def _grad(p: Array, g: Array, group: dict[str, Any]) -> Array:
    return -g if group["maximize"] else g


def sgd(p: Array, g: Array, state: dict[str, Any], group: dict[str, Any]) -> Array:
    g = _grad(p, g, group)
    wd, momentum = group["weight_decay"], group["momentum"]
    if wd != 0:
        g = g + wd * p
    if momentum != 0:
        buf = state.get("momentum_buffer")
        buf = g.copy() if buf is None else buf * momentum + (1 - group["dampening"]) * g
        state["momentum_buffer"] = buf
        g = g + momentum * buf if group["nesterov"] else buf
    return p + (-group["lr"]) * g


def adam(p: Array, g: Array, state: dict[str, Any], group: dict[str, Any]) -> Array:
    g = _grad(p, g, group)
    lr, wd, eps = group["lr"], group["weight_decay"], group["eps"]
    beta1, beta2 = group["betas"]
    state["step"] += 1
    step = state["step"]
    if wd != 0:
        if group.get("decoupled_weight_decay", False):
            p = p * (1 - lr * wd)
        else:
            g = g + wd * p
    state["exp_avg"] = exp_avg = _lerp(state["exp_avg"], g, 1 - beta1)
    state["exp_avg_sq"] = sq = state["exp_avg_sq"] * beta2 + (1 - beta2) * g * g
    bias_correction1 = 1 - beta1**step
    bias_correction2 = 1 - beta2**step
    step_size = lr / bias_correction1
    bias_correction2_sqrt = bias_correction2**0.5
    xp = _xp(p)
    if group["amsgrad"]:
        state["max_exp_avg_sq"] = sq = xp.maximum(state["max_exp_avg_sq"], sq)
    denom = xp.sqrt(sq) / bias_correction2_sqrt + eps
    return p + (-step_size) * exp_avg / denom


def rmsprop(p: Array, g: Array, state: dict[str, Any], group: dict[str, Any]) -> Array:
    g = _grad(p, g, group)
    alpha, eps, wd, momentum = (
        group["alpha"],
        group["eps"],
        group["weight_decay"],
        group["momentum"],
    )
    xp = _xp(p)
    state["step"] += 1
    if wd != 0:
        g = g + wd * p
    state["square_avg"] = sq = state["square_avg"] * alpha + (1 - alpha) * g * g
    if group["centered"]:
        state["grad_avg"] = ga = _lerp(state["grad_avg"], g, 1 - alpha)
        avg = xp.sqrt(sq + (-1) * ga * ga)
    else:
        avg = xp.sqrt(sq)
    avg = avg + eps
    if momentum > 0:
        state["momentum_buffer"] = buf = state["momentum_buffer"] * momentum + g / avg
        return p + (-group["lr"]) * buf
    return p + (-group["lr"]) * g / avg


def adagrad(p: Array, g: Array, state: dict[str, Any], group: dict[str, Any]) -> Array:
    g = _grad(p, g, group)
    state["step"] += 1
    step = state["step"]
    if group["weight_decay"] != 0:
        g = g + group["weight_decay"] * p
    clr = group["lr"] / (1 + (step - 1) * group["lr_decay"])
    state["sum"] = s = state["sum"] + g * g
    std = _xp(p).sqrt(s) + group["eps"]
    return p + (-clr) * g / std


def _xp(a: Array) -> Any:
    return np if type(a) is np.ndarray else backend_of(a).xp


def init_state(kind: str, p: Array, group: dict[str, Any]) -> dict[str, Any]:
    """A parameter's state before its first step, as torch's ``_init_group`` makes it."""
    xp = _xp(p)

    def zeros() -> Array:
        return xp.zeros_like(p)

    if kind == "sgd":
        return {}
    if kind in ("adam", "adamw"):
        st = {"step": 0.0, "exp_avg": zeros(), "exp_avg_sq": zeros()}
        if group["amsgrad"]:
            st["max_exp_avg_sq"] = zeros()
        return st
    if kind == "rmsprop":
        st = {"step": 0.0, "square_avg": zeros()}
        if group["momentum"] > 0:
            st["momentum_buffer"] = zeros()
        if group["centered"]:
            st["grad_avg"] = zeros()
        return st
    if kind == "adagrad":
        return {"step": 0.0, "sum": xp.full_like(p, group["initial_accumulator_value"])}
    raise ValueError(f"unknown optimizer {kind!r}")


def state_keys(kind: str, group: dict[str, Any]) -> tuple[set[str], bool]:
    """The keys a parameter's state holds, and whether all must be there (SGD creates its
    momentum buffer at the first step, so a state may lack it)."""
    if kind == "sgd":
        return ({"momentum_buffer"} if group["momentum"] != 0 else set()), False
    return set(init_state(kind, np.zeros(1), group)), True


KERNELS: dict[str, Callable[..., Array]] = {
    "sgd": sgd,
    "adam": adam,
    "adamw": adam,
    "rmsprop": rmsprop,
    "adagrad": adagrad,
}
