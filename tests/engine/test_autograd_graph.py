"""Graph mechanics: iterative backward, saved-value release, graph as data, modes, limits."""

from __future__ import annotations

import gc
import json
import threading
import weakref

import numpy as np
import pytest

import engine as torch
from engine import serialize
from engine.errors import TensorTooLargeError


def test_100k_node_chain_backward_is_iterative() -> None:
    x = torch.tensor([1.0], dtype=torch.float64, requires_grad=True)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y.sum().backward()
    assert x.grad is not None and x.grad.tolist() == [1.0]
    del y
    gc.collect()


def test_saved_values_released_after_backward() -> None:
    x = torch.randn(4, requires_grad=True)
    y = x.exp()  # saves its output
    z = (y * y).sum()  # saves y twice
    saved = weakref.ref(z.grad_fn.next_functions[0][0].saved[0].array)  # type: ignore[union-attr]
    arr = y._st.array
    del y
    assert saved() is not None
    z.backward()
    del arr
    gc.collect()
    assert saved() is None, "saved values must be freed when retain_graph is off"


def test_saved_values_kept_with_retain_graph() -> None:
    x = torch.randn(4, requires_grad=True)
    z = (x.exp() * x).sum()
    z.backward(retain_graph=True)
    g1 = x.grad.numpy().copy()
    z.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * g1, rtol=1e-6)


def test_graph_freed_only_when_a_saved_value_is_needed() -> None:
    x = torch.randn(3, requires_grad=True)
    out = (x + 2).sum()  # add and sum save nothing: torch allows a second backward
    out.backward()
    out.backward()
    assert x.grad is not None and x.grad.tolist() == [2.0, 2.0, 2.0]


def test_modified_inplace_detected_through_version_counter() -> None:
    x = torch.randn(3, requires_grad=True)
    y = x * 2
    z = (y * y).sum()
    with torch.no_grad():
        pass
    y.add_(1)
    assert y._version == 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation") as e:
        z.backward()
    assert e.value.code == "modified_inplace"


def test_inplace_on_nonleaf_records_graph() -> None:
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    y = x * 1
    y.mul_(3)
    assert y.grad_fn.name() == "MulBackward0"
    y.sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]


def test_graph_round_trips_as_data() -> None:
    rng = np.random.default_rng(0)
    x = torch.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    w = torch.tensor(rng.standard_normal((4, 2)), requires_grad=True)
    h = (x @ w).tanh()
    out = (h * h).sum() + x[[0, 0, 1]].exp().mean() + x.softmax(1).max()
    doc, arrays = serialize.dump({"out": out, "x": x, "w": w})
    text = json.dumps(doc)  # plain JSON: no closures, no pickle
    rebuilt = serialize.load(json.loads(text), {k: v.copy() for k, v in arrays.items()})
    rebuilt["out"].backward()
    out.backward()
    np.testing.assert_array_equal(rebuilt["x"].grad.numpy(), x.grad.numpy())
    np.testing.assert_array_equal(rebuilt["w"].grad.numpy(), w.grad.numpy())
    assert rebuilt["out"].grad_fn.name() == out.grad_fn.name()


def test_round_trip_keeps_freed_state_and_versions() -> None:
    x = torch.randn(3, requires_grad=True)
    y = x * 2
    out = (y * y).sum()
    out.backward()
    doc, arrays = serialize.dump({"out": out, "y": y})
    again = serialize.load(json.loads(json.dumps(doc)), arrays)
    with pytest.raises(RuntimeError, match="second time"):
        again["out"].backward()

    x = torch.randn(3, requires_grad=True)
    y = x * 2
    out = (y * y).sum()
    y.add_(1)
    doc, arrays = serialize.dump({"out": out, "y": y})
    again = serialize.load(json.loads(json.dumps(doc)), arrays)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        again["out"].backward()


def test_round_trip_shares_graph_between_names() -> None:
    x = torch.ones(2, requires_grad=True)
    y = x * 3
    a, b = y.sum(), (y * y).sum()
    doc, arrays = serialize.dump({"a": a, "b": b, "x": x})
    r = serialize.load(json.loads(json.dumps(doc)), arrays)
    r["a"].backward(retain_graph=True)  # y's MulBackward0 is shared: torch frees it otherwise
    r["b"].backward()
    assert r["x"].grad.tolist() == [3.0 + 18.0, 3.0 + 18.0]


def test_grad_mode_is_per_thread() -> None:
    seen: list[bool] = []
    with torch.no_grad():
        t = threading.Thread(target=lambda: seen.append(torch.is_grad_enabled()))
        t.start()
        t.join()
        assert not torch.is_grad_enabled()
    assert seen == [True]


def test_no_grad_decorator_and_enable_grad() -> None:
    x = torch.ones(2, requires_grad=True)

    @torch.no_grad()
    def f() -> torch.Tensor:
        with torch.enable_grad():
            inner = x * 2
        assert inner.requires_grad
        return x * 2

    assert not f().requires_grad


def test_limits_refuse_before_allocating() -> None:
    x = torch.ones(1, 1)
    with torch.limits(max_elements=1000):
        with pytest.raises(TensorTooLargeError) as e:
            x.expand(10**6, 10**6)
        assert e.value.code == "tensor_too_large" and e.value.status == 413
        with pytest.raises(TensorTooLargeError):
            torch.zeros(10**12)
        with pytest.raises(TensorTooLargeError):
            torch.ones(1, 10**4) + torch.ones(10**4, 1)
        with pytest.raises(TensorTooLargeError):
            torch.ones(2000, 1) @ torch.ones(1, 2000)
        assert (x + 1).shape == (1, 1)


def test_backends_report() -> None:
    names = {b["name"]: b for b in torch.backends()}
    assert names["numpy"]["available"] is True
    assert "cupy" in names
    if not names["cupy"]["available"]:
        assert names["cupy"]["reason"]
        with pytest.raises(RuntimeError) as e:
            torch.get_backend("cupy")
        assert e.value.code == "backend_unavailable"


@pytest.mark.parametrize("op", ["max", "min", "prod", "sum", "amax"])
def test_reducing_dim_0_of_a_0d_tensor(op: str) -> None:
    # torch treats a 0-d tensor as having one dim of size 1 for dim=0 and -1
    s = torch.tensor(2.0, requires_grad=True)
    out = torch.OPS[op](s, dim=0)
    assert out.shape == () and out.item() == 2.0
    out.backward()
    assert s.grad is not None and s.grad.item() == 1.0


def test_kernel_messages_name_the_dtype_as_torch_does() -> None:
    import engine.nn.functional as F

    with pytest.raises(RuntimeError, match="not implemented for 'Long'"):
        F.cross_entropy(torch.ones(2, 3, dtype=torch.int64), torch.tensor([0, 1]))
    with pytest.raises(RuntimeError, match="not implemented for 'Bool'"):
        torch.ones(2, dtype=torch.bool).softmax(0)
    assert torch.float32.tensor_type == "torch.FloatTensor"
    assert (torch.int64.scalar_name, torch.float16.cpp_name) == ("Long", "c10::Half")
