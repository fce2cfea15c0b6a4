"""examples/train_linear.py seeds its data: every run trains on the same numbers."""

from __future__ import annotations

import numpy as np
import pytest
from client_testkit import load_example

from client import RemoteTorch, connect


def test_make_data_is_seeded(torch: RemoteTorch, server: str) -> None:
    example = load_example("train_linear")
    X1, y1 = example.make_data(torch, n=16)
    X2, _ = example.make_data(torch, n=16)
    with connect(server) as other:  # another session: the same numbers
        X3, y3 = example.make_data(other, n=16)
        x3, y3v = X3.numpy(), y3.numpy()
    np.testing.assert_array_equal(X1.numpy(), X2.numpy())
    np.testing.assert_array_equal(X1.numpy(), x3)
    np.testing.assert_array_equal(y1.numpy(), y3v)
    X4, _ = example.make_data(torch, n=16, seed=1)
    ref = pytest.importorskip("torch")
    Xr, yr = example.make_data(ref, n=16)  # PyTorch trains on the very same numbers
    np.testing.assert_array_equal(Xr.numpy(), x3)
    np.testing.assert_allclose(yr.numpy(), y3v, rtol=1e-6)
    assert not np.array_equal(X1.numpy(), X4.numpy())


def test_manual_seed_restarts_the_sessions_generator(torch: RemoteTorch, server: str) -> None:
    """torch's semantics: after ``manual_seed(s)`` the same draws give the same values (the
    stream of a session opened with ``seed=s``; NumPy's PCG64, not torch's numbers)."""
    torch.randn(4)  # the generator moved on
    torch.manual_seed(3)
    a = torch.randn(4).numpy()
    b = torch.rand(2, 2).numpy()
    torch.manual_seed(3)
    torch.zeros(2)  # not random: the seed waits for the next random fill
    np.testing.assert_array_equal(torch.randn(4).numpy(), a)
    np.testing.assert_array_equal(torch.rand(2, 2).numpy(), b)
    assert not np.array_equal(torch.randn(4).numpy(), a)
    with connect(server, seed=3) as other:
        np.testing.assert_array_equal(other.randn(4).numpy(), a)
    torch.manual_seed(-1)  # wraps, as torch's
    c = torch.randn(2).numpy()
    torch.manual_seed(2**64 - 1)
    np.testing.assert_array_equal(torch.randn(2).numpy(), c)
    with pytest.raises(ValueError, match="Overflow when unpacking long long"):
        torch.manual_seed(2**64)
