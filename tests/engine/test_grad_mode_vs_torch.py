"""Grad mode as torch scopes it: decorated generators, and numpy() inside no_grad."""

from __future__ import annotations

from typing import Any

import pytest

import engine

torch = pytest.importorskip("torch")


def _generator_modes(t: Any) -> list[Any]:
    seen: list[Any] = []

    @t.no_grad()
    def steps() -> Any:
        x = t.tensor([1.0], requires_grad=True)
        got = yield (x * 2).requires_grad
        seen.append(("sent", got, t.is_grad_enabled()))
        yield t.is_grad_enabled()
        return "done"

    gen = steps()
    seen.append(next(gen))
    seen.append(("between", t.is_grad_enabled()))
    seen.append(gen.send(5))
    try:
        next(gen)
    except StopIteration as stop:
        seen.append(stop.value)
    seen.append(t.is_grad_enabled())
    return seen


def test_no_grad_on_a_generator_holds_inside_it_only() -> None:
    assert _generator_modes(engine) == _generator_modes(torch)
    assert _generator_modes(engine)[0] is False


def test_enable_grad_on_a_generator_inside_no_grad() -> None:
    def run(t: Any) -> list[bool]:
        @t.enable_grad()
        def gen() -> Any:
            yield t.is_grad_enabled()

        with t.no_grad():
            return [*gen(), t.is_grad_enabled()]

    assert run(engine) == run(torch) == [True, False]


def test_numpy_of_a_tensor_that_requires_grad() -> None:
    for t in (engine, torch):
        x = t.tensor([1.0, 2.0], requires_grad=True)
        with t.no_grad():
            assert x.numpy().tolist() == [1.0, 2.0]
        with pytest.raises(RuntimeError, match="Can't call numpy\\(\\) on Tensor that requires"):
            x.numpy()
