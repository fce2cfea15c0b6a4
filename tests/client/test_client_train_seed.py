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
