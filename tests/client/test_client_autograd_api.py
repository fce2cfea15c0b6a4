"""The client's autograd API around the op table: clear errors for what it does not do."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from client import RemoteTorch, ServerUnreachableError, connect


def test_unreachable_server_is_a_clear_error() -> None:
    with pytest.raises(ServerUnreachableError, match=r"cannot reach a gradserve server at "):
        connect("http://127.0.0.1:9", timeout=2.0)
    with pytest.raises(httpx.ConnectError):  # still what it was, for code that catches that
        connect("http://127.0.0.1:9", timeout=2.0)
    with pytest.raises(ConnectionError):
        connect("http://127.0.0.1:9", timeout=2.0)


def test_torch_names_it_lacks_raise_not_implemented(torch: RemoteTorch) -> None:
    x = torch.ones(2, requires_grad=True)
    for owner, name in [
        (torch, "histogramdd"),
        (torch.nn.functional, "conv2d"),
        (torch.autograd, "gradcheck"),
        (x, "unfold"),
        (torch.linalg, "svd"),
    ]:
        with pytest.raises(NotImplementedError, match=f"{name} is not supported by gradserve"):
            getattr(owner, name)
        assert not hasattr(owner, name)
    with pytest.raises(AttributeError) as info:
        torch.no_such_thing  # noqa: B018
    assert not isinstance(info.value, NotImplementedError)


def test_function_without_a_graph_runs_forward_only(torch: RemoteTorch) -> None:
    class Double(torch.autograd.Function):
        @staticmethod
        def forward(ctx: Any, t: Any) -> Any:
            return t * 2

        @staticmethod
        def backward(ctx: Any, g: Any) -> Any:
            raise AssertionError("not traced: nothing is recorded")

    x = torch.ones(2, requires_grad=True)
    with torch.no_grad():  # nothing to record: forward runs as ordinary ops
        assert Double.apply(x).tolist() == [2.0, 2.0]
    assert not Double.apply(torch.ones(2)).requires_grad


def test_default_dtype_is_the_namespaces(torch: RemoteTorch) -> None:
    assert torch.get_default_dtype() is torch.float32
    torch.set_default_dtype(torch.float64)
    try:
        assert torch.tensor([1.5]).dtype is torch.float64
        assert torch.zeros(2).dtype is torch.float64
        assert torch.arange(3).dtype is torch.int64
        assert torch.arange(3.0).dtype is torch.float64
        assert torch.linspace(0, 1, 3).dtype is torch.float64
    finally:
        torch.set_default_dtype(torch.float32)
    assert torch.ones(1).dtype is torch.float32
