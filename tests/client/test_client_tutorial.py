"""The tutorial through the client: what it prints is what PyTorch prints."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from client_testkit import EXAMPLES, load_example, mirror, same_repr, without_addresses

from client import GradFn, RemoteTorch


def test_steps_1_to_5_print_what_torch_prints(torch: RemoteTorch, ref: Any) -> None:
    x, rx = torch.ones(2, 2, requires_grad=True), ref.ones(2, 2, requires_grad=True)
    assert repr(x) == repr(rx) == "tensor([[1., 1.],\n        [1., 1.]], requires_grad=True)"
    assert (x.is_leaf, x.grad_fn, x.grad) == (True, None, None)

    y, ry = x + 2, rx + 2
    assert repr(y) == repr(ry)
    assert str(y) == str(ry)
    assert not y.is_leaf and y.requires_grad
    assert isinstance(y.grad_fn, GradFn)
    assert y.grad_fn.name() == ry.grad_fn.name() == "AddBackward0"
    assert re.fullmatch(r"<AddBackward0 object at 0x[0-9a-f]+>", repr(y.grad_fn))
    assert without_addresses(repr(y.grad_fn)) == without_addresses(repr(ry.grad_fn))

    z, rz = y * y * 3, ry * ry * 3
    out, rout = z.mean(), rz.mean()
    assert repr(z) == repr(rz)
    assert repr(out) == repr(rout) == "tensor(27., grad_fn=<MeanBackward0>)"
    assert out.shape == rout.shape == ()
    assert out.item() == 27.0

    out.backward()
    rout.backward()
    assert x.grad is not None
    assert repr(x.grad) == repr(rx.grad) == "tensor([[4.5000, 4.5000],\n        [4.5000, 4.5000]])"
    with pytest.warns(UserWarning, match=r"not a leaf Tensor") as got:
        assert y.grad is None  # a non-leaf keeps no .grad
    with pytest.warns(UserWarning) as want:
        assert ry.grad is None
    assert str(want[0].message).startswith(str(got[0].message))  # torch adds its C++ source


def test_step_4_requires_grad_flow(torch: RemoteTorch, ref: Any) -> None:
    a = torch.randn(2, 2)
    a = (a * 3) / (a - 1)
    assert repr(a) == repr(mirror(ref, a))  # torch's formatting of the same values
    assert (a.requires_grad, a.is_leaf, a.grad_fn) == (False, True, None)
    assert a.requires_grad_(True) is a
    assert a.requires_grad and a.is_leaf and a.grad_fn is None
    assert repr(a).endswith(", requires_grad=True)")
    assert repr(a) == repr(mirror(ref, a))
    b = (a * a).sum()
    assert b.grad_fn is not None and b.grad_fn.name() == "SumBackward0"
    ra = mirror(ref, a)
    assert b.item() == pytest.approx((ra * ra).sum().item(), rel=1e-6)
    assert re.fullmatch(r"tensor\([0-9.e+-]+, grad_fn=<SumBackward0>\)", repr(b))


def test_step_6_define_by_run_loop(torch: RemoteTorch, ref: Any) -> None:
    x = torch.randn(3, requires_grad=True)
    y = x * 2
    k = 1
    while y.data.norm() < 1000:
        y = y * 2
        k += 1
    assert float(y.norm()) >= 1000 > float((y / 2).norm())
    assert repr(y) == same_repr(ref, y)
    v = torch.tensor([0.1, 1.0, 0.0001], dtype=torch.float)
    y.backward(v)
    assert x.grad is not None
    expected = np.array([0.1, 1.0, 0.0001], dtype=np.float32) * np.float32(2.0**k)
    np.testing.assert_array_equal(x.grad.numpy(), expected)
    assert repr(x.grad) == repr(ref.from_numpy(expected))
    # the torch reference run's own values: 2**9 doublings printed as torch prints them
    assert (
        repr(ref.tensor([0.1, 1.0, 0.0001]) * 2**9)
        == "tensor([5.1200e+01, 5.1200e+02, 5.1200e-02])"
    )


def test_step_7_and_8_no_grad_and_detach(torch: RemoteTorch, ref: Any) -> None:
    x = torch.tensor([1.5, -2.0, 3.25], requires_grad=True)
    rx = ref.tensor([1.5, -2.0, 3.25], requires_grad=True)
    assert repr(x) == repr(rx)
    assert x.requires_grad and (x**2).requires_grad
    assert repr(x**2) == repr(rx**2)
    with torch.no_grad():
        sq = x**2
        assert not sq.requires_grad and sq.is_leaf and sq.grad_fn is None
        assert not torch.is_grad_enabled()
    with ref.no_grad():
        assert repr(sq) == repr(rx**2)
    assert torch.is_grad_enabled()

    @torch.no_grad()
    def doubled(t: Any) -> Any:
        return t * 2

    assert not doubled(x).requires_grad
    d = x.detach()
    assert (d.requires_grad, d.grad_fn, d.is_leaf) == (False, None, True)
    assert repr(d) == repr(rx.detach())
    assert repr(x.eq(d).all()) == repr(rx.eq(rx.detach()).all()) == "tensor(True)"


def _blocks(text: str) -> dict[str, list[str]]:
    """The tutorial's output, split at its ``-- N.`` headers."""
    blocks: dict[str, list[str]] = {}
    current = ""
    for line in without_addresses(text).splitlines():
        if line.startswith("-- "):
            current = line.split(".")[0].removeprefix("-- ")
            blocks[current] = []
        else:
            blocks[current].append(line)
    return blocks


def test_examples_tutorial_prints_what_torch_prints(server: str, ref: Any) -> None:
    env = {**os.environ, "PYTHONPATH": str(EXAMPLES.parent)}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "tutorial.py"), server],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=EXAMPLES.parent,
    )
    assert done.returncode == 0, done.stderr
    remote = _blocks(done.stdout)

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        load_example("tutorial").run(ref)  # the same code, with the real torch
    expected = _blocks(printed.getvalue())

    assert list(remote) == list(expected) == [str(i) for i in range(1, 9)]
    for step in ("1", "2", "3", "4", "5", "7", "8"):  # no random values in these
        assert remote[step] == expected[step], step
    # step 6 prints random values: the same structure
    y, grad = remote["6"]
    assert re.fullmatch(
        r"tensor\(\[ *-?[0-9.e+-]+, +-?[0-9.e+-]+, +-?[0-9.e+-]+\], "
        r"grad_fn=<MulBackward0>\)",
        y,
    ), y
    assert re.fullmatch(r"tensor\(\[[0-9.e+-]+, [0-9.e+-]+, [0-9.e+-]+\]\)", grad), grad
    assert len(expected["6"]) == 2


def test_examples_tutorial_url_from_environment(server: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(EXAMPLES.parent), "GRADSERVE_URL": server}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "tutorial.py")],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert "tensor(27., grad_fn=<MeanBackward0>)" in done.stdout


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
def test_factories_match_torch(torch: RemoteTorch, ref: Any, dtype: str) -> None:
    dt, rdt = getattr(torch, dtype), getattr(ref, dtype)
    for remote, local in [
        (torch.zeros(2, 3, dtype=dt), ref.zeros(2, 3, dtype=rdt)),
        (torch.ones(4, dtype=dt), ref.ones(4, dtype=rdt)),
        (torch.full((2, 2), 1, dtype=dt), ref.full((2, 2), 1, dtype=rdt)),
        (torch.eye(3, dtype=dt), ref.eye(3, dtype=rdt)),
    ]:
        assert remote.dtype.name == dtype
        assert repr(remote) == repr(local)
    if dtype != "bool":
        assert repr(torch.arange(5, dtype=dt)) == repr(ref.arange(5, dtype=rdt))
    assert repr(torch.arange(0, 1, 0.25)) == repr(ref.arange(0, 1, 0.25))
    assert repr(torch.arange(6)) == repr(ref.arange(6))
    assert repr(torch.full((2,), 7)) == repr(ref.full((2,), 7))
