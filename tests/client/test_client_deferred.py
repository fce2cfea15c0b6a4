"""Deferred execution: a training step costs no round trip, only reading a value does.

backward(), ``.grad`` used in ops, in-place updates under no_grad and ``grad = None`` are
recorded like any op; torch's autograd errors that the local model decides are raised at
the call without a request; errors that depend on values surface at the next flush with
the recorded op's call site.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np
import pytest

from client import RemoteTorch
from client.errors import RemoteIndexError, RemoteRuntimeError


def polynomial(torch: Any, steps: int = 2000) -> tuple[list[float], list[float]]:
    """PyTorch's polynomial_autograd.py (the loss read every 100 steps)."""
    x = torch.linspace(-math.pi, math.pi, 2000, dtype=torch.float64)
    y = torch.sin(x)
    a, b, c, d = (torch.randn((), dtype=torch.float64, requires_grad=True) for _ in range(4))
    lr, losses = 1e-6, []
    for t in range(steps):
        y_pred = a + b * x + c * x**2 + d * x**3
        loss = (y_pred - y).pow(2).sum()
        if t % 100 == 99:
            losses.append(loss.item())
        loss.backward()
        with torch.no_grad():
            a -= lr * a.grad
            b -= lr * b.grad
            c -= lr * c.grad
            d -= lr * d.grad
            a.grad = None
            b.grad = None
            c.grad = None
            d.grad = None
    return losses, [a.item(), b.item(), c.item(), d.item()]


def two_layer_net(torch: Any, steps: int = 500) -> list[float]:
    """PyTorch's two_layer_net_autograd.py (the loss read every 100 steps)."""
    x, y = torch.randn(64, 1000), torch.randn(64, 10)
    w1 = torch.randn(1000, 100, requires_grad=True)
    w2 = torch.randn(100, 10, requires_grad=True)
    lr, losses = 1e-6, []
    for t in range(steps):
        y_pred = x.mm(w1).clamp(min=0).mm(w2)
        loss = (y_pred - y).pow(2).sum()
        if t % 100 == 99:
            losses.append(loss.item())
        loss.backward()
        with torch.no_grad():
            w1 -= lr * w1.grad
            w2 -= lr * w2.grad
            w1.grad.zero_()
            w2.grad.zero_()
    return losses


def test_polynomial_loop_costs_one_request_per_read(torch: RemoteTorch, ref: Any) -> None:
    before = torch.requests
    losses, coefs = polynomial(torch)
    # 5 creations (linspace, 4 randn), 20 loss reads, then the 4 final reads
    assert torch.requests - before <= 25 + 4
    assert losses[-1] < losses[0]
    assert all(math.isfinite(v) for v in coefs)


def test_polynomial_loop_matches_torch_from_the_same_start(torch: RemoteTorch, ref: Any) -> None:
    """With the same starting coefficients both loops give the same losses."""
    start = [0.1, -0.2, 0.3, -0.05]

    def run(t: Any) -> list[float]:
        x = t.linspace(-math.pi, math.pi, 200, dtype=t.float64)
        y = t.sin(x)
        a, b, c, d = (t.tensor(v, dtype=t.float64, requires_grad=True) for v in start)
        out = []
        for i in range(300):
            loss = (a + b * x + c * x**2 + d * x**3 - y).pow(2).sum()
            if i % 100 == 99:
                out.append(loss.item())
            loss.backward()
            with t.no_grad():
                for p in (a, b, c, d):
                    p -= 1e-5 * p.grad
                    p.grad = None
        return out

    np.testing.assert_allclose(run(torch), run(ref), rtol=1e-9)


def test_two_layer_net_costs_one_request_per_read(torch: RemoteTorch) -> None:
    before = torch.requests
    losses = two_layer_net(torch)
    assert torch.requests - before <= 10  # 4 randn, 5 loss reads
    assert len(losses) == 5 and losses[-1] < losses[0]


def test_grad_is_read_only_when_python_needs_it(torch: RemoteTorch, ref: Any) -> None:
    x, rx = torch.ones(2, 2, requires_grad=True), ref.ones(2, 2, requires_grad=True)
    before = torch.requests
    out, rout = ((x + 2) * (x + 2) * 3).mean(), ((rx + 2) * (rx + 2) * 3).mean()
    out.backward()
    rout.backward()
    g = x.grad
    assert g is not None and g.shape == (2, 2)
    h = g * 2  # used in an op: still nothing sent
    assert torch.requests == before
    assert repr(h) == repr(rx.grad * 2)  # one request: forward, backward, the reads
    assert torch.requests == before + 1
    x.grad = None
    assert x.grad is None and torch.requests == before + 1
    torch.sync()  # the zero_grad node
    assert torch.requests == before + 2
    torch.sync()  # nothing pending: no request
    assert torch.requests == before + 2


def test_torch_errors_decided_locally_are_raised_at_the_call(torch: RemoteTorch, ref: Any) -> None:
    pairs = []
    x, rx = torch.ones(2, requires_grad=True), ref.ones(2, requires_grad=True)
    c, rc = torch.ones(2), ref.ones(2)
    before = torch.requests
    for call in (
        lambda t, cc: cc.sum().backward(),  # element 0 ... does not require grad
        lambda t, cc: (t * 2).backward(),  # grad can be implicitly created only for scalars
        lambda t, cc: t.add_(1),  # a leaf Variable that requires grad ... in-place
    ):
        with pytest.raises(RuntimeError) as got:
            call(x, c)
        with pytest.raises(RuntimeError) as want:
            call(rx, rc)
        pairs.append((str(got.value), str(want.value)))
    assert torch.requests == before  # no round trip for any of them
    for got_text, want_text in pairs:
        assert got_text == want_text


@pytest.mark.parametrize("case", ["twice", "modified"])
def test_backward_that_may_fail_is_sent_at_the_call(
    torch: RemoteTorch, ref: Any, case: str
) -> None:
    """A second backward through a freed graph, or one through a value changed in place after
    it was saved: torch's error and class at the call (the server decides, at once)."""

    def run(t: Any) -> None:
        x = t.ones(2, requires_grad=True)
        h = x * 1
        out = (h * h).sum()
        if case == "twice":
            out.backward()
        else:
            h.add_(1)
        out.backward()

    with pytest.raises(RuntimeError) as got:
        run(torch)
    with pytest.raises(RuntimeError) as want:
        run(ref)
    assert isinstance(got.value, RemoteRuntimeError)
    assert str(got.value) == str(want.value)
    assert got.value.site is None  # raised at the call: no deferred site to name


def test_value_dependent_errors_name_the_recorded_call_site(torch: RemoteTorch) -> None:
    logits = torch.tensor([[1.0, 2.0, 0.5], [0.25, -1.0, 2.0]], requires_grad=True)
    target = torch.tensor([0, 5])
    before = torch.requests
    line = sys._getframe().f_lineno + 1
    loss = torch.nn.functional.cross_entropy(logits * 2, target)  # out of range: in values
    loss.backward()
    assert torch.requests == before
    with pytest.raises(IndexError) as info:
        torch.sync()
    err = info.value
    assert isinstance(err, RemoteIndexError) and str(err) == "Target 5 is out of bounds."
    assert (
        err.site == f"{__file__}:{line}, in test_value_dependent_errors_name_the_recorded_call_site"
    )
    assert any("cross_entropy" in note and err.site in note for note in err.__notes__)
    assert logits.grad is None  # the batch changed nothing


def test_close_runs_what_is_pending(server: str) -> None:
    from client import connect

    torch = connect(server)
    x = torch.ones(2, requires_grad=True)
    x.sum().backward()
    before = torch.requests
    torch.close()
    assert torch.requests == before + 2  # the pending batch, then the DELETE


def test_a_with_block_ending_in_an_exception_does_not_run_what_is_pending(server: str) -> None:
    from client import connect

    with pytest.raises(KeyError), connect(server) as torch:
        x = torch.ones(2, requires_grad=True)
        x.sum().backward()
        before = torch.requests
        raise KeyError("the block's own error")
    assert torch.requests == before + 1  # only the DELETE: the block's error is not hidden
