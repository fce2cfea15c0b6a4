"""Custom ``autograd.Function`` and tensor hooks through the client, traced into templates
the server replays (client.tracing): values, gradients and grad_fn names against torch, and
clear errors for what a template cannot express."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from client import RemoteTorch
from client.tracing import TraceError

A = [[0.5, -1.0, 2.0], [1.5, 0.25, -0.75]]
B = [[1.0, 2.0, -1.0], [0.5, -0.5, 3.0]]


def affine(t: Any) -> Any:
    class Affine(t.autograd.Function):
        @staticmethod
        def forward(ctx: Any, a: Any, k: float, b: Any) -> Any:
            ctx.k = k  # a Python constant: captured into the template
            ctx.save_for_backward(a, b)
            return a * k + b * a.exp()

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            a, b = ctx.saved_tensors
            ga = g * (ctx.k + b * a.exp()) if ctx.needs_input_grad[0] else None
            return ga, None, g * a.exp()

    return Affine


def run_affine(t: Any, create_graph: bool = False) -> tuple[Any, Any, Any]:
    a = t.tensor(A, dtype=t.float64, requires_grad=True)
    b = t.tensor(B, dtype=t.float64, requires_grad=True)
    y = affine(t).apply(a, 2.5, b)
    (y * y).sum().backward(create_graph=create_graph)
    return y, a, b


def close(remote: Any, real: Any) -> None:
    np.testing.assert_allclose(np.asarray(remote.detach().numpy()), real.detach().numpy())


def test_function_values_grads_and_name(torch: RemoteTorch, ref: Any) -> None:
    y, a, b = run_affine(torch)
    ry, ra, rb = run_affine(ref)
    assert y.grad_fn.name() == type(ry.grad_fn).__name__ == "AffineBackward"
    assert repr(y.grad_fn).startswith("<AffineBackward object at 0x")
    assert y.requires_grad and not y.is_leaf
    close(y, ry)
    close(a.grad, ra.grad)
    close(b.grad, rb.grad)
    # without create_graph the replayed template records nothing, as torch's backward
    assert not a.grad.requires_grad and a.grad.grad_fn is None


def test_function_double_backward_through_the_template(torch: RemoteTorch, ref: Any) -> None:
    _, a, b = run_affine(torch, create_graph=True)
    _, ra, rb = run_affine(ref, create_graph=True)
    assert a.grad.grad_fn is not None
    (gg,) = torch.autograd.grad(a.grad.sum(), b)
    (rgg,) = ref.autograd.grad(ra.grad.sum(), rb)
    close(gg, rgg)


def test_function_in_a_training_loop_uses_the_template_each_step(
    torch: RemoteTorch, ref: Any
) -> None:
    def fit(t: Any) -> list[float]:
        class Cube(t.autograd.Function):
            @staticmethod
            def forward(ctx: Any, x: Any) -> Any:
                ctx.save_for_backward(x)
                return x**3

            @staticmethod
            def backward(ctx: Any, g: Any) -> Any:
                (x,) = ctx.saved_tensors
                return 3 * x**2 * g

        w = t.tensor([0.9, -0.4], dtype=t.float64, requires_grad=True)
        target = t.tensor([0.5, 0.1], dtype=t.float64)
        losses = []
        for _ in range(5):
            loss = ((Cube.apply(w) - target) ** 2).sum()
            loss.backward()
            with t.no_grad():
                w -= 0.1 * w.grad
            w.grad = None
            losses.append(loss.item())
        return losses

    np.testing.assert_allclose(fit(torch), fit(ref))


def test_function_several_outputs_dirty_and_non_differentiable(
    torch: RemoteTorch, ref: Any
) -> None:
    def run(t: Any) -> Any:
        class Split(t.autograd.Function):
            @staticmethod
            def forward(ctx: Any, x: Any) -> Any:
                flags = (x > 0).to(x.dtype)
                ctx.mark_non_differentiable(flags)
                return x * 2, x.sin(), flags

            @staticmethod
            def backward(ctx: Any, ga: Any, gb: Any, gf: Any) -> Any:
                return ga * 2 + gb * 3

        x = t.tensor([1.0, -2.0, 0.5], requires_grad=True)
        a, b, f = Split.apply(x)
        assert not f.requires_grad and a.grad_fn.name() == "SplitBackward"
        (a.sum() + 10 * b.sum() + (x * f).sum()).backward()
        return x.grad

    close(run(torch), run(ref))


def test_once_differentiable_traces_with_grad_off(torch: RemoteTorch) -> None:
    seen = []

    class Twice(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            return x * 2

        @staticmethod
        @torch.autograd.function.once_differentiable
        def backward(ctx: Any, g: Any) -> Any:
            seen.append(torch.is_grad_enabled())
            return g * 2

    x = torch.ones(2, requires_grad=True)
    Twice.apply(x).sum().backward(create_graph=True)
    assert seen == [False]
    assert x.grad.tolist() == [2.0, 2.0] and x.grad.grad_fn is None


def test_backward_capturing_a_session_tensor(torch: RemoteTorch) -> None:
    scale: Any = torch.tensor([10.0, 100.0])

    class Scaled(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            return x * 1

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            return scale * g + torch.ones(2)  # a session tensor and a constant made here

    x = torch.ones(2, requires_grad=True)
    out = Scaled.apply(x)
    scale = None  # the session tensor is dropped here: the template keeps it
    out.sum().backward()
    assert x.grad.tolist() == [11.0, 101.0]


def test_function_errors_are_torchs(torch: RemoteTorch) -> None:
    class BadShape(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            return x * 2

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            return g.sum()

    x = torch.ones(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError, match="expected shape compatible with"):
        BadShape.apply(x).sum().backward()  # raised at the call, as torch's
    x.grad = None

    class TooMany(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            return x * 2

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            return g, g

    with pytest.raises(RuntimeError, match=r"incorrect number of gradients \(expected 1, got 2\)"):
        TooMany.apply(x).sum().backward()


@pytest.mark.parametrize(
    "body",
    [
        lambda g: g * float(g.sum()),
        lambda g: g.numpy() * 2,
        lambda g: g * g.sum().item(),
        lambda g: g if g.sum() > 0 else -g,
        lambda g: g * len(g.tolist()),
    ],
)
def test_values_in_a_traced_backward_are_a_clear_error(torch: RemoteTorch, body: Any) -> None:
    class ReadsValues(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            return x * 2

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            return body(g)

    x = torch.ones(2, requires_grad=True)
    with pytest.raises(TraceError, match=r"ReadsValues\.backward reads the values") as info:
        ReadsValues.apply(x)
    assert isinstance(info.value, TypeError)
    assert "torch.where" in str(info.value)
    with torch.no_grad():  # nothing recorded: no tracing
        assert ReadsValues.apply(x).tolist() == [2.0, 2.0]
    assert ReadsValues.apply(torch.ones(2)).tolist() == [2.0, 2.0]


def test_in_place_on_a_session_tensor_in_backward_is_refused(torch: RemoteTorch) -> None:
    buf = torch.zeros(2)

    class Writes(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            return x * 1

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            buf.add_(g)
            return g

    with pytest.raises(TraceError, match="changes a tensor in place that it did not make"):
        Writes.apply(torch.ones(2, requires_grad=True))


def test_mark_dirty_and_returned_input(torch: RemoteTorch, ref: Any) -> None:
    def run(t: Any) -> tuple[Any, ...]:
        class Inplace(t.autograd.Function):
            @staticmethod
            def forward(ctx: Any, a: Any, b: Any) -> Any:
                ctx.mark_dirty(a)
                return a.add_(b), b

            @staticmethod
            def backward(ctx: Any, ga: Any, gb: Any) -> Any:
                return ga, ga + gb * 3

        y = t.tensor([3.0, 1.0], requires_grad=True)
        x = y * 1
        q, p = Inplace.apply(x, y)
        assert q is x and p is not y
        (q * 2 + p).sum().backward()
        return q.grad_fn.name(), x._version, y.grad

    got, want = run(torch), run(ref)
    assert got[:2] == want[:2] == ("InplaceBackward", 2)
    close(got[2], want[2])


# ------------------------------------------------------------------- hooks
def hooks(t: Any) -> tuple[Any, Any, Any]:
    a = t.tensor([1.0, 2.0, 3.0], requires_grad=True)
    b = t.tensor([0.5, -1.0, 2.0], requires_grad=True)
    out = a * b + b
    h = out.register_hook(lambda g: g * 10)
    out.backward(t.ones(3), retain_graph=True)
    first = a.grad * 1
    h.remove()
    h.remove()
    b.register_hook(lambda g: -g)
    out.register_hook(lambda g: None)
    a.grad = None
    b.grad = None
    out.backward(t.ones(3))
    return first, a.grad, b.grad


def test_hooks_replace_gradients_and_are_removed(torch: RemoteTorch, ref: Any) -> None:
    for got, want in zip(hooks(torch), hooks(ref), strict=True):
        close(got, want)


def test_hook_errors(torch: RemoteTorch) -> None:
    x = torch.ones(2)
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        x.register_hook(lambda g: g)
    y = torch.ones(2, requires_grad=True) * 2

    def peeks(g: Any) -> Any:
        return g * 2 if g.sum().item() > 0 else g

    with pytest.raises(TraceError, match=r"the hook .*peeks reads the values"):
        y.register_hook(peeks)
    with pytest.raises(TraceError, match="returned int"):
        y.register_hook(lambda g: 3)


def test_retain_grad(torch: RemoteTorch, ref: Any) -> None:
    def run(t: Any) -> tuple[Any, Any, bool]:
        w = t.tensor([[1.0, 2.0], [3.0, -1.0]], requires_grad=True)
        hidden = w * 2
        assert not hidden.retains_grad
        hidden.retain_grad()
        hidden.retain_grad()
        loss = (hidden**2).sum()
        loss.backward(retain_graph=True)
        first = hidden.grad * 1
        loss.backward()
        return first, hidden.grad, hidden.retains_grad

    got, want = run(torch), run(ref)
    close(got[0], want[0])
    close(got[1], want[1])
    assert got[2] is want[2] is True


def test_detach_in_place(torch: RemoteTorch, ref: Any) -> None:
    def run(t: Any) -> tuple[Any, ...]:
        x = t.tensor([1.0, -2.0, 0.5], requires_grad=True)
        y = x * 2
        z = y * 3
        assert y.detach_() is y
        flags = (y.requires_grad, y.grad_fn is None, y.is_leaf)
        z.sum().backward()  # the graph built before detach_ still reaches x
        (y * x).sum().backward()  # y is a constant now
        return flags, x.grad, y.grad

    got, want = run(torch), run(ref)
    assert got[0] == want[0] == (False, True, True)
    close(got[1], want[1])
    assert got[2] is None and want[2] is None


def test_next_functions_and_accumulate_grad_variable(torch: RemoteTorch, ref: Any) -> None:
    def walk(t: Any) -> tuple[Any, ...]:
        p = t.tensor([1.0, 2.0], requires_grad=True)
        q = t.tensor([0.5, -1.0], requires_grad=True)
        s = p * q
        (first, i0), (second, i1) = s.grad_fn.next_functions
        assert first.variable is p and second.variable is q and (i0, i1) == (0, 0)
        u = (s - 1).exp()
        sub = u.grad_fn.next_functions[0][0]
        assert sub.next_functions[0][0] is s.grad_fn  # the user's own grad_fn object
        assert sub.next_functions[1][0] is None  # the constant has no node
        names = []
        fn = (u * 2).sum().grad_fn
        while fn is not None:
            names.append(fn.name())
            nxt = [f for f, _ in fn.next_functions if f is not None]
            fn = nxt[0] if nxt else None
        return first.name(), names

    assert walk(torch) == walk(ref)


def test_setup_context_and_a_function_inside_a_backward(torch: RemoteTorch, ref: Any) -> None:
    def run(t: Any) -> Any:
        class Sq(t.autograd.Function):
            @staticmethod
            def forward(x: Any) -> Any:
                return x * x

            @staticmethod
            def setup_context(ctx: Any, inputs: Any, output: Any) -> None:
                (x,) = inputs
                ctx.save_for_backward(x)

            @staticmethod
            def backward(ctx: Any, g: Any) -> Any:
                (x,) = ctx.saved_tensors
                return Twice.apply(x) * g  # another Function, traced as ordinary ops

        class Twice(t.autograd.Function):
            @staticmethod
            def forward(ctx: Any, x: Any) -> Any:
                return x * 2

            @staticmethod
            def backward(ctx: Any, g: Any) -> Any:
                return g * 2

        x = t.tensor([1.0, -3.0, 0.5], requires_grad=True)
        y = Sq.apply(x)
        assert y.grad_fn.name() == "SqBackward"
        y.sum().backward()
        return x.grad

    close(run(torch), run(ref))


def test_an_exception_of_backward_is_raised_by_backward(torch: RemoteTorch, ref: Any) -> None:
    """As torch: a Function whose backward raises is usable forward; backward raises it."""

    def run(t: Any) -> list[str]:
        class ForwardOnly(t.autograd.Function):
            @staticmethod
            def forward(ctx: Any, x: Any) -> Any:
                return x.exp()

            @staticmethod
            def backward(ctx: Any, g: Any) -> Any:
                raise NotImplementedError("ForwardOnly has no backward")

        x = t.tensor([0.0, 1.0], requires_grad=True)
        y = ForwardOnly.apply(x)
        seen = [y.grad_fn.name(), f"{y.detach().tolist()[0]:.1f}"]
        with pytest.raises(NotImplementedError, match="ForwardOnly has no backward"):
            y.sum().backward()
        with pytest.raises(NotImplementedError, match="ForwardOnly has no backward"):
            t.autograd.grad(ForwardOnly.apply(x).sum(), x)
        (x * 2).sum().backward()  # the session goes on
        seen.append(str(x.grad.tolist()))
        return seen

    assert run(torch) == run(ref)


def test_dirty_not_returned_and_an_output_returned_twice(torch: RemoteTorch, ref: Any) -> None:
    def run(t: Any) -> Any:
        class NotReturned(t.autograd.Function):
            @staticmethod
            def forward(ctx: Any, a: Any) -> Any:
                ctx.mark_dirty(a)
                return a * 2

            @staticmethod
            def backward(ctx: Any, g: Any) -> Any:
                return g

        with pytest.raises(RuntimeError, match="marked as dirty during the forward method"):
            NotReturned.apply(t.ones(2, requires_grad=True) * 1)

        class Twice(t.autograd.Function):
            @staticmethod
            def forward(ctx: Any, a: Any) -> Any:
                y = a * 2
                return y, y

            @staticmethod
            def backward(ctx: Any, g1: Any, g2: Any) -> Any:
                return g1 + g2

        a = t.ones(2, requires_grad=True)
        p, q = Twice.apply(a)
        (p + q * 10).sum().backward()
        return a.grad

    close(run(torch), run(ref))


def test_a_stand_in_kept_past_tracing_says_what_it_is(torch: RemoteTorch) -> None:
    seen: list[Any] = []
    y = torch.ones(2, requires_grad=True) * 2
    y.register_hook(lambda g: seen.append(g))  # a side effect: runs once, while traced
    y.sum().backward()
    assert len(seen) == 1
    with pytest.raises(TraceError, match=r"stood in for a value while the hook .* was traced"):
        seen[0].tolist()


def test_save_for_backward_refuses_a_non_tensor_through_the_client(torch: RemoteTorch) -> None:
    class Twice(torch.autograd.Function):  # type: ignore[name-defined, misc]
        @staticmethod
        def forward(ctx: Any, x: Any) -> Any:
            ctx.save_for_backward(x, 3)
            return x * 2

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            return g * 2

    with pytest.raises(TypeError, match="argument 1 is of type int"):
        Twice.apply(torch.ones(2, requires_grad=True))
