"""``autograd.functional``'s errors are torch's, word for word: strict mode (an input the
output does not depend on, a linear function's constant jacobian, with and without
create_graph) and functions of the wrong kind for hessian/hvp/vhp."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

import engine

X = [0.5, -1.0, 2.0]
Y = [1.5, 0.25, -0.75]


def cube_x(ns: Any) -> Callable[..., Any]:
    return lambda x, y: (x**3).sum()  # independent of y


def linear(ns: Any) -> Callable[..., Any]:
    return lambda x, y: (x * 2 + y).sum()  # a constant jacobian


def vector(ns: Any) -> Callable[..., Any]:
    return lambda x, y: x * y  # not a scalar


def pair(ns: Any) -> Callable[..., Any]:
    return lambda x, y: (x.sum(), y.sum())  # a tuple


def message(ns: Any, fn: str, make: Callable[[Any], Any], **kw: Any) -> str:
    ins = (ns.tensor(X), ns.tensor(Y))
    args: list[Any] = [make(ns), ins]
    if fn in ("jvp", "hvp", "vhp"):
        args.append((ns.tensor(Y), ns.tensor(X)))
    with pytest.raises(RuntimeError) as info:
        getattr(ns.autograd.functional, fn)(*args, **kw)
    return str(info.value)


@pytest.mark.parametrize("fn", ["vjp", "jvp", "jacobian", "hessian", "hvp", "vhp"])
@pytest.mark.parametrize("create_graph", [False, True])
def test_strict_with_an_independent_input(fn: str, create_graph: bool) -> None:
    kw = {"strict": True, "create_graph": create_graph}
    assert message(engine, fn, cube_x, **kw) == message(torch, fn, cube_x, **kw)


@pytest.mark.parametrize("fn", ["hessian", "hvp", "vhp"])
def test_strict_with_a_constant_jacobian(fn: str) -> None:
    assert message(engine, fn, linear, strict=True) == message(torch, fn, linear, strict=True)


@pytest.mark.parametrize("fn", ["hessian", "hvp", "vhp"])
@pytest.mark.parametrize("make", [vector, pair])
def test_a_function_that_is_not_scalar(fn: str, make: Callable[[Any], Any]) -> None:
    assert message(engine, fn, make) == message(torch, fn, make)
