"""Engine autograd API beyond the op table: hooks, custom Functions, autograd.functional,
the profiler, the default dtype, and NotImplementedError for torch names (vs torch where it
has the same API)."""

from __future__ import annotations

import gc
from typing import Any

import numpy as np
import pytest

import engine
from engine.unsupported import Unsupported

torch = pytest.importorskip("torch")


# ------------------------------------------------------------------------ hooks
def test_hook_handle_remove_and_context() -> None:
    x = engine.ones(3, requires_grad=True)
    calls: list[int] = []
    h = x.register_hook(lambda g: calls.append(1))
    with x.register_hook(lambda g: calls.append(2)):
        (x * 2).sum().backward()
    assert calls == [1, 2]
    h.remove()
    (x * 2).sum().backward()
    assert calls == [1, 2]


def test_hook_refusals_as_torch() -> None:
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        engine.ones(2).register_hook(lambda g: g)
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        torch.ones(2).register_hook(lambda g: g)
    x = engine.ones(3, requires_grad=True)
    x.register_hook(lambda g: g[:2])
    with pytest.raises(RuntimeError, match="changed the size"):
        (x * 2).sum().backward()


def test_hook_sees_the_value_before_inplace_and_create_graph() -> None:
    for ns in (engine, torch):
        x = ns.tensor([1.0, 2.0], requires_grad=True)
        y = x * 1
        seen: list[Any] = []
        y.register_hook(lambda g, seen=seen: seen.append((g.requires_grad, g.tolist())) or g * 3)
        y.mul_(2)
        (g,) = ns.autograd.grad((y * y).sum(), x, create_graph=True)
        assert g.tolist() == [24.0, 48.0]
        # the hook sees the gradient of y's value before mul_ (d/dy of (2y)^2 = 8y), as torch
        assert seen == [(True, [8.0, 16.0])]


def test_hooks_freed_with_their_tensor() -> None:
    from engine import hooks

    before = len(hooks._entries)
    x = engine.ones(2, requires_grad=True)
    x.register_hook(lambda g: g)
    assert len(hooks._entries) == before + 1
    del x
    gc.collect()
    assert len(hooks._entries) == before


# ------------------------------------------------------------ custom Function
class _XExp:
    """y = x e^x, saving its input: a first derivative that is differentiable again."""

    @staticmethod
    def forward(ctx: Any, x: Any) -> Any:
        ctx.save_for_backward(x)
        return x * x.exp()

    @staticmethod
    def backward(ctx: Any, g: Any) -> Any:
        (x,) = ctx.saved_tensors
        return g * (1 + x) * x.exp()


def _fn(ns: Any) -> Any:
    return type("XExp", (ns.autograd.Function,), dict(vars(_XExp)))


def test_function_matches_torch_first_and_second_order() -> None:
    got, want = [], []
    for ns, out in ((engine, got), (torch, want)):
        x = ns.tensor([0.5, -1.0, 2.0], dtype=ns.float64, requires_grad=True)
        y = _fn(ns).apply(x * 2)
        assert y.grad_fn.name() == "XExpBackward"
        (g,) = ns.autograd.grad(y.sum(), x, create_graph=True)
        (gg,) = ns.autograd.grad(g.sum(), x)
        out += [y.tolist(), g.tolist(), gg.tolist()]
    np.testing.assert_allclose(np.array(got, dtype=object).tolist(), want, rtol=1e-12)


def test_function_errors_as_torch() -> None:
    class Wrong(engine.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any, k: int) -> Any:
            return x * k

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            return g

    x = engine.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"incorrect number of gradients \(expected 2, got 1\)"):
        Wrong.apply(x, 3).sum().backward()

    class NotNone(engine.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any, k: int) -> Any:
            return x * k

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            return g, g

    with pytest.raises(RuntimeError, match="returned a gradient different than None at position 2"):
        NotNone.apply(x, 3).sum().backward()


def test_function_setup_context_style() -> None:
    class Mul(engine.autograd.Function):
        @staticmethod
        def forward(a: Any, b: Any) -> Any:
            return a * b

        @staticmethod
        def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
            ctx.save_for_backward(*inputs)

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            a, b = ctx.saved_tensors
            return g * b, g * a

    a = engine.tensor([1.0, 2.0], requires_grad=True)
    b = engine.tensor([3.0, 4.0], requires_grad=True)
    Mul.apply(a, b).sum().backward()
    assert a.grad.tolist() == [3.0, 4.0] and b.grad.tolist() == [1.0, 2.0]


# ------------------------------------------------------- autograd.functional
def _both(fn_name: str, f: Any, inputs: Any, **kw: Any) -> tuple[Any, Any]:
    def run(ns: Any) -> Any:
        ins = tuple(ns.tensor(v, dtype=ns.float64) for v in inputs)
        res = getattr(ns.autograd.functional, fn_name)(f, ins if len(ins) > 1 else ins[0], **kw)
        return res

    return run(engine), run(torch)


def _flat(x: Any) -> list[float]:
    if isinstance(x, tuple | list):
        return [v for item in x for v in _flat(item)]
    return np.asarray(x.detach().tolist(), dtype=np.float64).ravel().tolist()


@pytest.mark.parametrize(
    ("fn_name", "kw"),
    [("jacobian", {}), ("hessian", {}), ("jacobian", {"create_graph": True})],
)
def test_functional_matches_torch(fn_name: str, kw: dict[str, Any]) -> None:
    def f(a: Any, b: Any) -> Any:
        return (a.sin() * b**2).sum()

    got, want = _both(fn_name, f, ([0.1, 0.7, -0.3], [1.5, -2.0, 0.5]), **kw)
    np.testing.assert_allclose(_flat(got), _flat(want), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fn_name", ["vjp", "jvp", "vhp", "hvp"])
def test_vector_products_match_torch(fn_name: str) -> None:
    def f(x: Any) -> Any:
        return (x**3).sum() if fn_name in ("vhp", "hvp") else x.exp() * x.sum()

    res = []
    for ns in (engine, torch):
        x = ns.tensor([0.2, -0.4, 1.1], dtype=ns.float64)
        v = ns.tensor([1.0, 0.5, -2.0], dtype=ns.float64)
        res.append(getattr(ns.autograd.functional, fn_name)(f, x, v))
    np.testing.assert_allclose(_flat(res[0]), _flat(res[1]), rtol=1e-12)


def test_functional_strict_and_v_errors() -> None:
    AF = engine.autograd.functional
    with pytest.raises(RuntimeError, match="independent of input 1"):
        AF.jacobian(lambda a, b: a * 2, (engine.ones(2), engine.ones(2)), strict=True)
    with pytest.raises(RuntimeError, match="v can only be None"):
        AF.vjp(lambda a: a * 2, engine.ones(2))
    with pytest.raises(RuntimeError, match="invalid size"):
        AF.vjp(lambda a: a * 2, engine.ones(2), engine.ones(3))


# ------------------------------------------------------------------- profiler
def test_profiler_events_and_record_function() -> None:
    x = engine.randn(4, 4, requires_grad=True)
    with engine.autograd.profiler.profile(record_shapes=True) as prof:
        with engine.autograd.profiler.record_function("my_block"):
            y = (x @ x).relu().sum()
        y.backward()
    names = [e.name for e in prof.function_events]
    assert "my_block" in names and "aten::matmul" in names and "aten::relu" in names
    shapes = [e.input_shapes for e in prof.function_events if e.name == "aten::matmul"]
    assert shapes[0] == [[4, 4], [4, 4]]
    avg = {e.key: e for e in prof.key_averages()}
    assert avg["aten::matmul"].count >= 1
    text = prof.key_averages().table(sort_by="cpu_time_total", row_limit=3)
    assert text.count("aten::") <= 3 and "# of Calls" in text
    # outside the block nothing is recorded
    n = len(prof.function_events)
    (x * 2).sum()
    assert len(prof.function_events) == n


# -------------------------------------------------------------- default dtype
def test_default_dtype_as_torch() -> None:
    assert engine.get_default_dtype() is engine.float32
    with pytest.raises(TypeError, match="only floating-point types"):
        engine.set_default_dtype(engine.int64)
    try:
        engine.set_default_dtype(engine.float64)
        torch.set_default_dtype(torch.float64)
        for e, t in [
            (engine.tensor([1.5]), torch.tensor([1.5])),
            (engine.zeros(2), torch.zeros(2)),
            (engine.ones(1) * 2.5, torch.ones(1) * 2.5),
            (engine.tensor([1, 2]) * 0.5, torch.tensor([1, 2]) * 0.5),
        ]:
            assert e.dtype.name == str(t.dtype).removeprefix("torch.")
    finally:
        engine.set_default_dtype(engine.float32)
        torch.set_default_dtype(torch.float32)


# ------------------------------------------------------------- torch names
@pytest.mark.parametrize(
    ("owner", "name"),
    [
        (engine, "histogramdd"),
        (engine.nn.functional, "conv2d"),
        (engine.autograd, "gradcheck"),
        (engine.ones(1), "unfold"),
        (engine.linalg, "svd"),
    ],
)
def test_unsupported_torch_names_raise_not_implemented(owner: Any, name: str) -> None:
    with pytest.raises(NotImplementedError, match=rf"torch\..*{name} is not supported"):
        getattr(owner, name)
    assert not hasattr(owner, name)  # still an AttributeError for hasattr/getattr defaults
    with pytest.raises(Unsupported):
        getattr(owner, name)


def test_unknown_names_stay_attribute_errors() -> None:
    for owner in (engine, engine.linalg):
        with pytest.raises(AttributeError) as info:
            owner.no_such_thing  # noqa: B018
        assert not isinstance(info.value, NotImplementedError)


def test_save_for_backward_refuses_a_non_tensor_as_torch() -> None:
    import torch as real

    errors = []
    for m in (engine, real):

        class Twice(m.autograd.Function):  # type: ignore[name-defined, misc]
            @staticmethod
            def forward(ctx: Any, x: Any) -> Any:
                ctx.save_for_backward(x, 3)
                return x * 2

            @staticmethod
            def backward(ctx: Any, g: Any) -> Any:
                return g * 2

        with pytest.raises(TypeError) as info:
            Twice.apply(m.ones(2, requires_grad=True))
        errors.append(str(info.value))
    assert (
        errors[0]
        == errors[1]
        == ("save_for_backward can only save variables, but argument 1 is of type int")
    )
