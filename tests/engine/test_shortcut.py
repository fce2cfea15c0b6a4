"""``autograd.shortcut``: the fast path of elementwise calls equals ``apply`` in every way.

For every op that has one, a call taken by the shortcut and the same call through ``apply``
(the shortcut switched off) give the same values (bit for bit), dtype, ``requires_grad``,
grad_fn name, graph edges and gradients; calls the shortcut does not take still work and
still raise torch's errors.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

import engine as torch
from engine.ops import OPS

SHORT = sorted(name for name, op in OPS.items() if op._shortcut is not None)


def test_the_hot_elementwise_ops_have_a_shortcut() -> None:
    assert {"add", "sub", "mul", "div", "tanh", "exp", "sin", "sigmoid"} <= set(SHORT)
    assert "matmul" not in SHORT and "sum" not in SHORT


def _calls(op: str) -> list[tuple[str, Callable[..., Any]]]:
    f = getattr(torch, op)
    if OPS[op].arity == 1:
        return [("fn", lambda a, b: f(a)), ("method", lambda a, b: getattr(a, op)())]
    return [
        ("tensor", lambda a, b: f(a, b)),
        ("broadcast", lambda a, b: f(a, b[0])),
        ("float", lambda a, b: f(a, 0.75)),
        ("method", lambda a, b: getattr(a, op)(b)),
    ]


def _run(monkeypatch: pytest.MonkeyPatch, op: str, call: Any, fast: bool, **kw: Any) -> Any:
    if not fast:
        monkeypatch.setattr(OPS[op], "_shortcut", None)
    rng = np.random.default_rng(3)
    dtype = kw.get("dtype", torch.float64)
    a = torch.tensor(rng.uniform(0.2, 1.5, (2, 3)), dtype=dtype, requires_grad=kw.get("ra", True))
    b = torch.tensor(rng.uniform(0.2, 1.5, (2, 3)), dtype=dtype, requires_grad=kw.get("rb", True))
    if kw.get("param"):
        a = torch.nn.Parameter(a.detach())
    try:
        out = call(a, b)
    except Exception as exc:  # the same error either way
        monkeypatch.undo()
        return {"error": (type(exc), str(exc))}
    info: dict[str, Any] = {
        "value": out.detach().numpy().copy(),
        "dtype": out.dtype,
        "rg": out.requires_grad,
        "fn": None if out.grad_fn is None else out.grad_fn.name(),
        "edges": None
        if out.grad_fn is None
        else [None if f is None else f.name() for f, _ in out.grad_fn.next_functions],
    }
    if out.requires_grad:
        (out * out).sum().backward()
        info["grads"] = [None if t.grad is None else t.grad.numpy() for t in (a, b)]
    monkeypatch.undo()
    return info


def _same(x: dict[str, Any], y: dict[str, Any]) -> None:
    assert x.keys() == y.keys()
    for k in x:
        if k == "value":
            assert x[k].dtype == y[k].dtype and np.array_equal(x[k], y[k], equal_nan=True)
        elif k == "grads":
            for p, q in zip(x[k], y[k], strict=True):
                assert (p is None) == (q is None)
                if p is not None:
                    assert np.array_equal(p, q, equal_nan=True)
        else:
            assert x[k] == y[k], k


CASES = [(op, name, call) for op in SHORT for name, call in _calls(op)]


@pytest.mark.parametrize(("op", "name", "call"), CASES, ids=[f"{o}-{n}" for o, n, _ in CASES])
@pytest.mark.parametrize(
    "kw",
    [
        {},
        {"dtype": torch.float32},
        {"rb": False},
        {"ra": False, "rb": False},
        {"param": True},
    ],
    ids=["f64", "f32", "one-requires", "none-requires", "parameter"],
)
def test_shortcut_equals_apply(
    monkeypatch: pytest.MonkeyPatch, op: str, name: str, call: Any, kw: dict[str, Any]
) -> None:
    _same(_run(monkeypatch, op, call, True, **kw), _run(monkeypatch, op, call, False, **kw))


def test_under_no_grad_the_shortcut_records_nothing() -> None:
    x = torch.ones(2, requires_grad=True)
    with torch.no_grad():
        y = x * 2.0 + x
    assert y.grad_fn is None and not y.requires_grad


def test_calls_it_does_not_take_still_raise_torchs_errors() -> None:
    a, b = torch.ones(2, 3), torch.ones(4)
    with pytest.raises(RuntimeError, match="must match the size of tensor b"):
        a + b
    x = torch.tensor([1, 2])  # int: apply's promotion (true division gives float)
    assert (x / x).dtype == torch.float32
    y = torch.ones(2, dtype=torch.float32)
    assert (y + torch.ones(2, dtype=torch.float64)).dtype == torch.float64
    assert (y * 2).dtype == torch.float32 and (y + True).dtype == torch.float32


def test_a_profiler_still_sees_every_op() -> None:
    x = torch.ones(2, requires_grad=True)
    with torch.autograd.profiler.profile() as prof:
        (x * 2.0 + x).tanh()
    names = [e.name for e in prof.function_events]
    assert any("mul" in n for n in names) and any("tanh" in n for n in names)


def test_a_saved_input_modified_in_place_still_raises() -> None:
    x = torch.ones(2, requires_grad=True)
    h = x * 1.0
    y = (h * h).sum()
    h.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


@pytest.mark.parametrize("op", SHORT)
def test_under_a_budget_and_a_limit_the_shortcut_reserves_what_apply_does(
    monkeypatch: pytest.MonkeyPatch, op: str
) -> None:
    from engine.state import budget

    seen: dict[bool, list[int]] = {}
    for fast in (True, False):
        if not fast:
            monkeypatch.setattr(OPS[op], "_shortcut", None)
        got: list[int] = []
        a = torch.tensor(np.linspace(0.2, 1.4, 6).reshape(2, 3), requires_grad=True)
        b = torch.tensor(np.linspace(0.3, 1.1, 6).reshape(2, 3))
        f = getattr(torch, op)
        with budget(got.append), torch.limits(100):
            f(a) if OPS[op].arity == 1 else f(a, b)
            if OPS[op].arity == 2:
                f(a, b[0])  # a broadcast: apply's bound
        seen[fast] = got
        monkeypatch.undo()
    assert seen[True] == seen[False] and seen[True]


def test_a_limit_still_refuses_before_the_shortcut_allocates() -> None:
    x = torch.ones(10, requires_grad=True)
    with torch.limits(5), pytest.raises(Exception, match="above the limit of 5"):
        x * 2.0
