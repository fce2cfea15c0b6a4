"""Round trips: lazy batches, local shapes, frees that keep a session small, .npy for bulk."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from client_testkit import RequestLog, mirror

from client import RemoteTorch, connect

NPY = "application/x-npy"


def test_200_op_forward_backward_and_one_grad_cost_3_requests(torch: RemoteTorch, ref: Any) -> None:
    rng = np.random.default_rng(0)  # a contraction: 50 layers keep float32 error small
    w = torch.tensor(rng.standard_normal((4, 4), dtype=np.float32) * 0.4, requires_grad=True)
    x = torch.tensor(rng.standard_normal((3, 4), dtype=np.float32))
    rw, rx = mirror(ref, w), mirror(ref, x)
    before = torch.requests

    h, rh = x, rx
    for _ in range(50):  # 4 ops a pass: 200 ops
        h = (h @ w).tanh() * 0.9 + 0.1
        rh = (rh @ rw).tanh() * 0.9 + 0.1
    loss, rloss = h.sum(), rh.sum()
    assert torch.requests == before  # nothing sent yet
    loss.backward()
    rloss.backward()
    grad = w.grad
    assert grad is not None
    text = repr(grad)
    assert torch.requests - before <= 3

    np.testing.assert_allclose(grad.numpy(), rw.grad.numpy(), rtol=1e-4, atol=1e-5)
    assert text.startswith("tensor([[") and "grad_fn" not in text
    assert loss.item() == pytest.approx(rloss.item(), rel=1e-5)


def test_metadata_costs_no_request(torch: RemoteTorch) -> None:
    x = torch.ones(3, 4, requires_grad=True)
    before = torch.requests
    y = (x * 2).sum(0).unsqueeze(1) @ x[:1]
    assert y.shape == (4, 4) and y.size(-1) == 4 and y.dim() == 2
    assert y.dtype is torch.float32 and y.dtype.is_floating_point
    assert y.requires_grad and not y.is_leaf
    assert x.shape == (3, 4) and x.numel() == 12 and x.device == "cpu"
    assert torch.requests == before


def test_value_read_sends_the_batch_once(torch: RemoteTorch) -> None:
    x = torch.ones(2, requires_grad=True)
    before = torch.requests
    y = x * 3
    z = (y + 1).sum()
    assert z.item() == 8.0
    assert torch.requests == before + 1
    assert repr(z) == "tensor(8., grad_fn=<SumBackward0>)"  # cached: no request
    assert y.grad_fn is not None and y.grad_fn.name() == "MulBackward0"  # one, for y's metadata
    assert torch.requests == before + 2
    assert y.grad_fn is y.grad_fn


def _session(torch: RemoteTorch) -> dict[str, Any]:
    conn = torch.connection
    response = conn.http.get(conn.prefix)  # the connection's own client: not counted
    response.raise_for_status()
    info: dict[str, Any] = response.json()
    return info


def test_rebinding_loop_does_not_grow_the_session(torch: RemoteTorch) -> None:
    y = torch.ones(1000)
    before = torch.requests
    counts, sizes = [], []
    for i in range(10_000):
        y = y * 1.0001
        if i % 1000 == 999:
            assert y[0].item() == pytest.approx(1.0001 ** (i + 1), rel=1e-3)
            info = _session(torch)
            counts.append(info["tensor_count"])
            sizes.append(info["bytes"])
    assert max(counts) <= 3, counts
    assert max(sizes) <= 3 * 4000, sizes
    assert torch.requests - before <= 40  # full batches of 1000 nodes, and the reads
    reference = np.ones(1, dtype=np.float32)
    for _ in range(10_000):
        reference = reference * np.float32(1.0001)
    assert y[0].item() == pytest.approx(float(reference[0]), rel=1e-5)


def test_training_loop_keeps_the_session_bounded(torch: RemoteTorch) -> None:
    w = torch.randn(8, 1, requires_grad=True)
    x, target = torch.randn(32, 8), torch.randn(32, 1)
    counts = []
    for _ in range(30):
        loss = torch.nn.functional.mse_loss(x @ w, target)
        loss.backward()
        assert w.grad is not None
        with torch.no_grad():
            w -= 0.05 * w.grad
        w.grad = None
        counts.append(_session(torch)["tensor_count"])
    assert max(counts[10:]) == max(counts[:10]), counts


@pytest.fixture
def small_npy(server: str) -> Iterator[tuple[RemoteTorch, RequestLog]]:
    with connect(server, npy_threshold=1000) as remote:
        yield remote, RequestLog(remote.connection.http)


def test_large_arrays_travel_as_npy_both_ways(
    small_npy: tuple[RemoteTorch, RequestLog], ref: Any
) -> None:
    torch, log = small_npy
    values = np.arange(3000, dtype=np.float32).reshape(30, 100) / 7
    x = torch.tensor(values, requires_grad=True)
    [put] = log.matching("PUT", f"/tensors/{x.name}")
    assert put[2] == NPY
    assert not log.matching("POST", "/tensors")

    y = (x * 2).detach()
    log.clear()
    np.testing.assert_array_equal(y.numpy(), values * 2)
    [read] = log.matching("GET", "/data")
    assert read[3] == NPY
    assert repr(y) == repr(ref.from_numpy(values * 2))

    (x * x).sum().backward()
    g = x.grad
    assert g is not None
    with torch.no_grad():
        g.mul_(0.5)  # changes x.grad on the server: the cached copy is stale
    log.clear()
    grad = x.grad
    assert grad is not None
    np.testing.assert_allclose(grad.numpy(), values, rtol=1e-6)
    [read] = log.matching("GET", "/grad")
    assert read[3] == NPY

    mask = torch.tensor(values) > 100  # a bool tensor, one byte per element
    log.clear()
    assert mask.numpy().sum() == (values > 100).sum()
    assert log.matching("GET", "/data")[0][3] == NPY


def test_small_arrays_stay_json(small_npy: tuple[RemoteTorch, RequestLog]) -> None:
    torch, log = small_npy
    x = torch.tensor(np.ones(1000, dtype=np.float32))
    assert not log.matching("PUT", "")
    assert log.matching("POST", "/tensors")[0][2] == "application/json"
    log.clear()
    assert x.sum().item() == 1000.0
    assert all(entry[3] == "application/json" for entry in log.entries)
    assert all(NPY not in entry[2] + entry[3] for entry in log.entries)


def test_a_batch_travels_in_the_compact_form(torch: RemoteTorch) -> None:
    """Each pending node goes as ``[name, op, args, kwargs?, no_grad?]`` (docs/api.md), the
    trailing defaults left off; the values are what the object form would carry."""
    bodies: list[dict[str, Any]] = []

    def on_request(request: Any) -> None:
        if request.url.path.endswith("/graph"):
            bodies.append(json.loads(request.content))

    torch.connection.http.event_hooks = {"request": [on_request], "response": []}
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = (x * 2).sum(0, keepdim=True)
    with torch.no_grad():
        z = x + 1
    assert y.tolist() == [6.0] and z.tolist() == [2.0, 3.0]
    nodes = bodies[0]["nodes"]
    tmp = nodes[0][0]  # x * 2: a temporary's name
    assert nodes == [
        [tmp, "mul", [x.name, 2]],
        [y.name, "sum", [tmp], {"dim": 0, "keepdim": True}],
        [z.name, "add", [x.name, 1], {}, True],
    ]


def test_shapes_and_dtypes_are_remembered_by_operand_kinds(torch: RemoteTorch, ref: Any) -> None:
    """Inference is remembered per (op, operand shapes and dtypes, scalar types and values,
    attributes): every variant below still has torch's own shape and dtype."""
    ints = [[1, 2], [3, 4]]
    for a, ra in ((torch.tensor(ints), ref.tensor(ints)), (torch.tensor([1.5]), ref.tensor([1.5]))):
        for other in (1, 1.0, True, 2, 0.5):
            for _ in range(2):  # the second time from what was remembered
                got, want = a + other, ra + other
                assert (tuple(got.shape), got.dtype.name) == (
                    tuple(want.shape),
                    str(want.dtype).removeprefix("torch."),
                ), (a, other)
        for dim in (0, -1, None):
            got = a.sum() if dim is None else a.sum(dim)
            want = ra.sum() if dim is None else ra.sum(dim)
            assert tuple(got.shape) == tuple(want.shape)
    assert (torch.ones(2, 3) + torch.ones(3)).shape == (2, 3)
    assert (torch.ones(4, 3) + torch.ones(3)).shape == (4, 3)
    with pytest.raises(RuntimeError, match="must match the size"):
        torch.ones(4, 3) + torch.ones(2)
    with pytest.raises(RuntimeError, match="must match the size"):  # errors are never kept
        torch.ones(4, 3) + torch.ones(2)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), -float("inf")])
def test_a_non_finite_scalar_is_refused_at_the_call(torch: RemoteTorch, value: float) -> None:
    """The wire's numbers are JSON's: a non-finite Python float as an argument or attribute
    is a ValueError where the call is made, before anything is sent."""
    x = torch.tensor([1.0, 2.0])
    before = torch.requests
    with pytest.raises(ValueError, match="not JSON compliant"):
        x + value
    with pytest.raises(ValueError, match="not JSON compliant"):
        x.clamp(max=value)
    with pytest.raises(ValueError, match="not JSON compliant"):
        x.add_(value)
    assert torch.requests == before
    assert (x + 1.5).tolist() == [2.5, 3.5]  # nothing was recorded
