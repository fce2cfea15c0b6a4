"""Numbers that do not fit their dtype: the engine refuses them as torch does (same builtin
class, same text), never wrapping to INT64_MIN or saturating silently."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

import engine

torch = pytest.importorskip("torch")


def _outcome(f: Callable[[Any], Any], lib: Any) -> tuple[str, str] | list[Any]:
    try:
        return f(lib).tolist()
    except Exception as exc:  # the comparison is the point: class and message
        for builtin in (ValueError, OverflowError, TypeError, IndexError, RuntimeError):
            if isinstance(exc, builtin):
                return builtin.__name__, str(exc)
        raise


CASES: dict[str, Callable[[Any], Any]] = {
    "tensor int64 2**63": lambda t: t.tensor([2**63], dtype=t.int64),
    "tensor inferred 2**63": lambda t: t.tensor([2**63]),
    "tensor inferred 2**64": lambda t: t.tensor([1, 2**64]),
    "tensor inferred -2**70 nested": lambda t: t.tensor([[1], [-(2**70)]]),
    "tensor float32 2**64": lambda t: t.tensor([2**64], dtype=t.float32),
    "tensor int64 max": lambda t: t.tensor([2**63 - 1, -(2**63)]),
    "full int64 1e300": lambda t: t.full([2], 1e300, dtype=t.int64),
    "full int64 2**63": lambda t: t.full([2], 2**63, dtype=t.int64),
    "full int64 nan": lambda t: t.full([2], float("nan"), dtype=t.int64),
    "full int32 2**40": lambda t: t.full([2], 2**40, dtype=t.int32),
    "full float32 1e300": lambda t: t.full([2], 1e300, dtype=t.float32),
    "full float16 1e5": lambda t: t.full([2], 1e5, dtype=t.float16),
    "full float32 inf": lambda t: t.full([2], float("inf"), dtype=t.float32),
    "full int64 1.5": lambda t: t.full([2], 1.5, dtype=t.int64),
    "full bool 1e300": lambda t: t.full([2], 1e300, dtype=t.bool),
    "arange bool": lambda t: t.arange(5, dtype=t.bool),
    "float + 2**64": lambda t: t.tensor([1.0]) + 2**64,
    "float * -2**64": lambda t: t.tensor([1.0]) * -(2**64),
    "float + 2**63": lambda t: t.tensor([1.0]) + 2**63,
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_overflow_matches_torch(case: str) -> None:
    f = CASES[case]
    assert _outcome(f, engine) == _outcome(f, torch)


def test_backward_inputs_that_do_not_require_grad() -> None:
    def run(t: Any) -> tuple[str, str] | list[Any]:
        x = t.tensor([1.0, 2.0], requires_grad=True)
        i = t.tensor([1, 2])
        return _outcome(lambda _: x.sum().backward(inputs=[i]), t)

    assert run(engine) == run(torch)
    assert run(engine)[0] == "RuntimeError"
