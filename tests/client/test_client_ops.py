"""Tensors through the client against PyTorch: values, printing, indexing, reductions, losses."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from client_testkit import mirror

from client import RemoteTensor, RemoteTorch


def pair(torch: RemoteTorch, ref: Any, values: Any, **kw: Any) -> tuple[RemoteTensor, Any]:
    """The same leaf twice: on the server and in PyTorch."""
    return torch.tensor(values, **kw), ref.tensor(values, **kw)


def close(remote: RemoteTensor, local: Any) -> None:
    assert tuple(remote.shape) == tuple(local.shape)
    assert remote.dtype.name == str(local.dtype).removeprefix("torch.")
    np.testing.assert_allclose(
        remote.detach().numpy(), local.detach().numpy(), rtol=1e-5, atol=1e-6
    )


def fn_name(t: Any) -> str | None:
    return None if t.grad_fn is None else type(t.grad_fn).__name__


# ----------------------------------------------------------------------- printing
@pytest.mark.parametrize(
    "values, dtype",
    [
        ([[1.5, -2.25], [1e-5, 3.0]], None),  # scientific notation
        ([1e10, 1.0], None),
        ([float("nan"), float("inf"), -float("inf"), 1.0], None),  # non-finite on the wire
        ([0.1, 0.2, 0.3], "float64"),
        ([1, -20, 300], None),
        ([True, False], None),
        ([[1, 2], [3, 4]], "int32"),
        ([0.5, 1.5], "float16"),
        (3.5, None),
        ([], None),
    ],
)
def test_repr_matches_torch(torch: RemoteTorch, ref: Any, values: Any, dtype: str | None) -> None:
    kw = {} if dtype is None else {"dtype": getattr(torch, dtype)}
    rkw = {} if dtype is None else {"dtype": getattr(ref, dtype)}
    assert repr(torch.tensor(values, **kw)) == repr(ref.tensor(values, **rkw))


def test_repr_summarizes_and_wraps_like_torch(torch: RemoteTorch, ref: Any) -> None:
    big = torch.arange(2000).reshape(40, 50) * 0.37
    rbig = ref.arange(2000).reshape(40, 50) * 0.37
    assert repr(big) == repr(rbig)  # summarized: "..." rows and columns
    row = torch.arange(30.0, requires_grad=True) * 1.123456
    rrow = ref.arange(30.0, requires_grad=True) * 1.123456
    assert repr(row) == repr(rrow)  # wrapped at 80 columns, grad_fn on the last line
    assert "\n" in repr(row)


def test_values_and_conversions(torch: RemoteTorch, ref: Any) -> None:
    x, rx = pair(torch, ref, [[1.0, 2.0], [3.0, 4.5]])
    assert x.tolist() == rx.tolist()
    assert x.numpy().dtype == np.float32
    assert x.sum().item() == rx.sum().item() == 10.5
    assert float(x.mean()) == float(rx.mean())
    assert int(x[1, 1]) == 4
    assert f"{x.sum():.2f}" == f"{rx.sum():.2f}" == "10.50"
    assert len(x) == 2
    assert [r.tolist() for r in x] == [r.tolist() for r in rx]
    assert np.asarray(x).shape == (2, 2)
    w = torch.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match=r"Use tensor\.detach"):
        w.numpy()
    with pytest.raises(RuntimeError, match="cannot be converted to Scalar"):
        x.item()
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(x > 0)
    assert bool((x > 0).all())
    assert repr((x > 2).any(1)) == repr((rx > 2).any(1))


# ---------------------------------------------------------------------- operators
def test_operators_and_promotion(torch: RemoteTorch, ref: Any) -> None:
    x, rx = pair(torch, ref, [1.0, 2.0, 4.0], requires_grad=True)
    i, ri = pair(torch, ref, [1, 2, 3])
    cases = [
        (x + 1, rx + 1),
        (2 - x, 2 - rx),
        (x * x, rx * rx),
        (3 / x, 3 / rx),
        (x**2, rx**2),
        (2**x, 2**rx),
        (x**x, rx**rx),
        (-x, -rx),
        (abs(-x), abs(-rx)),
        (i + 2.5, ri + 2.5),  # int64 + Python float -> float32
        (i * 2, ri * 2),
        (i / 2, ri / 2),
        (x + i, rx + ri),
        (x > 1.5, rx > 1.5),
        (x == i, rx == ri),
        ((x > 1) & (x < 3), (rx > 1) & (rx < 3)),
        ((x < 1.5) | (x > 3), (rx < 1.5) | (rx > 3)),
        (~(x > 1.5), ~(rx > 1.5)),
        (x.exp().log().sqrt(), rx.exp().log().sqrt()),
        (x.sin() + x.cos() + x.tan() * 0, rx.sin() + rx.cos() + rx.tan() * 0),
        (x.clamp(1.5, 3), rx.clamp(1.5, 3)),
        (x.where(x > 1.5, 0.0), rx.where(rx > 1.5, 0.0)),
        (torch.where(x > 1.5, x, x * 10), ref.where(rx > 1.5, rx, rx * 10)),
        (torch.maximum(x, i), ref.maximum(rx, ri)),
        (x.double(), rx.double()),
        (x.long(), rx.long()),
    ]
    for remote, local in cases:
        close(remote, local)
        assert remote.requires_grad == local.requires_grad
        assert repr(remote) == repr(local)


def test_matmul_and_shape_ops(torch: RemoteTorch, ref: Any) -> None:
    values = np.arange(24, dtype=np.float32).reshape(2, 3, 4) / 7
    a, ra = torch.tensor(values, requires_grad=True), ref.tensor(values, requires_grad=True)
    m, rm = pair(torch, ref, [[1.0, 2.0], [0.5, -1.0], [3.0, 0.0], [1.0, 1.0]])
    cases = [
        (a @ m, ra @ rm),
        (torch.matmul(a[0], m), ref.matmul(ra[0], rm)),
        (a.reshape(6, 4), ra.reshape(6, 4)),
        (a.view(-1), ra.view(-1)),
        (a.transpose(0, 2), ra.transpose(0, 2)),
        (a.permute(2, 0, 1), ra.permute(2, 0, 1)),
        (a.flatten(1), ra.flatten(1)),
        (a[:1].squeeze(0), ra[:1].squeeze(0)),
        (a.unsqueeze(1), ra.unsqueeze(1)),
        (a[:, :1].expand(2, 5, 4), ra[:, :1].expand(2, 5, 4)),
        (m.t(), rm.t()),
        (m.T, rm.T),
        (a.sum(), ra.sum()),
        (a.sum(dim=1), ra.sum(dim=1)),
        (a.sum((0, 2), keepdim=True), ra.sum((0, 2), keepdim=True)),
        (a.mean(-1), ra.mean(-1)),
        (a.prod(2), ra.prod(2)),
        (a.norm(), ra.norm()),
        (a.amax(1), ra.amax(1)),
        (a.logsumexp(2), ra.logsumexp(2)),
        (a.softmax(-1), ra.softmax(-1)),
        (a.argmax(), ra.argmax()),
        (a.argmin(1), ra.argmin(1)),
    ]
    for remote, local in cases:
        close(remote, local)
        assert repr(remote) == repr(local)


# ----------------------------------------------------------------------- indexing
@pytest.mark.parametrize(
    "key",
    [
        1,
        -1,
        (0, 2),
        (slice(None), 1),
        (slice(1, None), slice(None, None, 2)),
        (None, 0),
        (Ellipsis, 1),
        (0, Ellipsis, None),
        [0, 0, 2],
        ([1, 0], slice(None), [3, 3]),
        np.array([True, False, True]),
        (slice(None), np.array([True, False, True, False, True])),
        np.int64(2),
    ],
    ids=str,
)
def test_indexing_matches_torch(torch: RemoteTorch, ref: Any, key: Any) -> None:
    values = np.arange(60, dtype=np.float32).reshape(3, 5, 4)
    x, rx = torch.tensor(values, requires_grad=True), ref.tensor(values, requires_grad=True)
    rkey = tuple(
        ref.from_numpy(k) if isinstance(k, np.ndarray) else k
        for k in (key if isinstance(key, tuple) else (key,))
    )
    y, ry = x[key], rx[rkey]
    before = torch.requests
    assert tuple(y.shape) == tuple(ry.shape)  # inferred here: no round trip
    assert torch.requests == before
    close(y, ry)
    y.sum().backward()
    ry.sum().backward()
    assert x.grad is not None
    np.testing.assert_array_equal(x.grad.numpy(), rx.grad.numpy())  # repeated indices add up


def test_indexing_with_remote_tensors(torch: RemoteTorch, ref: Any) -> None:
    x, rx = pair(torch, ref, [[1.0, -2.0, 3.0], [-4.0, 5.0, -6.0]], requires_grad=True)
    mask, rmask = x > 0, rx > 0
    picked, rpicked = x[mask], rx[rmask]  # the size depends on the values: asked for
    before = torch.requests
    assert picked.shape == rpicked.shape == (3,)
    assert torch.requests == before + 1
    assert repr(picked) == repr(rpicked)
    rows, rrows = torch.tensor([1, 1, 0]), ref.tensor([1, 1, 0])
    close(x[rows], rx[rrows])
    close(x[rows, 2], rx[rrows, 2])
    (picked * 2).sum().backward()
    (rpicked * 2).sum().backward()
    assert x.grad is not None and repr(x.grad) == repr(rx.grad)


def test_local_index_errors_are_torchs(torch: RemoteTorch, ref: Any) -> None:
    x, rx = torch.zeros(2, 3), ref.zeros(2, 3)
    before = torch.requests
    for key in (5, (0, 3), (0, 0, 0)):
        with pytest.raises(IndexError) as got:
            x[key]
        with pytest.raises(IndexError) as want:
            rx[key]
        assert str(got.value) == str(want.value)
    assert torch.requests == before


# --------------------------------------------------------------- cat, stack, max
def test_cat_and_stack(torch: RemoteTorch, ref: Any) -> None:
    a, ra = pair(torch, ref, [[1.0, 2.0], [3.0, 4.0]], requires_grad=True)
    b, rb = pair(torch, ref, [[5.0, 6.0]], requires_grad=True)
    for remote, local in [
        (torch.cat([a, b]), ref.cat([ra, rb])),
        (torch.cat((a, a * 2), dim=1), ref.cat((ra, ra * 2), dim=1)),
        (torch.stack([a, a + 1]), ref.stack([ra, ra + 1])),
        (torch.stack([a[0], b[0]], dim=1), ref.stack([ra[0], rb[0]], dim=1)),
    ]:
        close(remote, local)
        assert repr(remote) == repr(local)
        assert remote.grad_fn is not None and remote.grad_fn.name() == fn_name(local)
        (remote * remote).sum().backward()
        (local * local).sum().backward()
    assert a.grad is not None and b.grad is not None
    assert repr(a.grad) == repr(ra.grad) and repr(b.grad) == repr(rb.grad)
    with pytest.raises(RuntimeError) as got:
        torch.cat([a, b], dim=1)
    with pytest.raises(RuntimeError) as want:
        ref.cat([ra, rb], dim=1)
    assert str(got.value) == str(want.value)


def test_max_min_with_dim_return_values_and_indices(torch: RemoteTorch, ref: Any) -> None:
    values = [[1.0, 7.0, 3.0], [9.0, 2.0, 5.0]]
    x, rx = pair(torch, ref, values, requires_grad=True)
    for name in ("max", "min"):
        got, want = getattr(x, name)(1), getattr(rx, name)(1)
        v, i = got
        assert got.values is v and got.indices is i
        close(v, want.values)
        assert i.tolist() == want.indices.tolist() and i.dtype == torch.int64
        assert repr(got) == repr(want)  # torch.return_types.max(values=..., indices=...)
        kept = getattr(torch, name)(x, 0, keepdim=True)
        rkept = getattr(ref, name)(rx, 0, keepdim=True)
        assert repr(kept) == repr(rkept)
        assert repr(getattr(x, name)()) == repr(getattr(rx, name)())
    assert repr(x.max(x * 0 + 4)) == repr(rx.max(rx * 0 + 4))
    v, _ = x.max(0)
    rv, _ = rx.max(0)
    v.sum().backward()
    rv.sum().backward()
    assert x.grad is not None and repr(x.grad) == repr(rx.grad)


# ------------------------------------------------------- activations and losses
def test_activations_match_torch(torch: RemoteTorch, ref: Any) -> None:
    F, RF = torch.nn.functional, ref.nn.functional
    x, rx = pair(torch, ref, [[-2.0, -0.5, 0.0], [0.5, 1.0, 3.0]], requires_grad=True)
    for remote, local in [
        (F.relu(x), RF.relu(rx)),
        (F.leaky_relu(x, 0.1), RF.leaky_relu(rx, 0.1)),
        (F.gelu(x), RF.gelu(rx)),
        (F.gelu(x, approximate="tanh"), RF.gelu(rx, approximate="tanh")),
        (F.softplus(x), RF.softplus(rx)),
        (F.sigmoid(x), RF.sigmoid(rx)),
        (F.tanh(x), RF.tanh(rx)),
        (F.softmax(x, dim=1), RF.softmax(rx, dim=1)),
        (F.log_softmax(x, dim=0), RF.log_softmax(rx, dim=0)),
        (x.relu(), rx.relu()),
        (torch.sigmoid(x), ref.sigmoid(rx)),
    ]:
        close(remote, local)
        (remote * remote).sum().backward()
        (local * local).sum().backward()
    assert x.grad is not None
    np.testing.assert_allclose(x.grad.numpy(), rx.grad.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_losses_match_torch(torch: RemoteTorch, ref: Any, reduction: str) -> None:
    F, RF = torch.nn.functional, ref.nn.functional
    logits, rlogits = pair(
        torch, ref, [[1.0, 2.0, 0.5], [0.1, -1.0, 2.0], [0.0, 0.0, 0.0]], requires_grad=True
    )
    target, rtarget = pair(torch, ref, [1, 2, 0])
    probs, rprobs = pair(torch, ref, [[0.2, 0.9], [0.5, 0.01]], requires_grad=True)
    labels, rlabels = pair(torch, ref, [[0.0, 1.0], [1.0, 0.0]])
    for remote, local in [
        (
            F.cross_entropy(logits, target, reduction=reduction),
            RF.cross_entropy(rlogits, rtarget, reduction=reduction),
        ),
        (
            F.mse_loss(logits, logits * 0 + 1, reduction=reduction),
            RF.mse_loss(rlogits, rlogits * 0 + 1, reduction=reduction),
        ),
        (
            F.binary_cross_entropy(probs, labels, reduction=reduction),
            RF.binary_cross_entropy(rprobs, rlabels, reduction=reduction),
        ),
    ]:
        close(remote, local)
        assert remote.grad_fn is not None and remote.grad_fn.name() == fn_name(local)
        remote.sum().backward()
        local.sum().backward()
    for remote, local in [(logits, rlogits), (probs, rprobs)]:
        assert remote.grad is not None
        np.testing.assert_allclose(remote.grad.numpy(), local.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_shape_and_dtype_are_inferred_locally(torch: RemoteTorch, ref: Any) -> None:
    x, rx = torch.ones(4, 3, requires_grad=True), ref.ones(4, 3, requires_grad=True)
    i, ri = torch.arange(3), ref.arange(3)
    before = torch.requests
    chain = [
        ((x @ x.t()).sum(1, keepdim=True), (rx @ rx.t()).sum(1, keepdim=True)),
        (x[None, :, :] * i, rx[None, :, :] * ri),
        (i + 0.5, ri + 0.5),
        (i > 1, ri > 1),
        (x.double().mean(0), rx.double().mean(0)),
        (torch.cat([x, x]).reshape(2, -1), ref.cat([rx, rx]).reshape(2, -1)),
    ]
    for remote, local in chain:
        assert remote.shape == tuple(local.shape)
        assert remote.shape == local.shape  # torch.Size compares as a tuple
        assert remote.dtype.name == str(local.dtype).removeprefix("torch.")
        assert repr(remote.dtype) == repr(local.dtype)
        assert remote.requires_grad == local.requires_grad
        assert remote.ndim == local.ndim and remote.numel() == local.numel()
    assert torch.requests == before
    assert repr(chain[0][0].shape) == repr(chain[0][1].shape) == "torch.Size([4, 1])"
    assert repr(mirror(ref, chain[2][0])) == repr(chain[2][1])


def test_item_assignment_with_masks_and_index_tensors(torch: RemoteTorch, ref: Any) -> None:
    """x[x < 0] = 0, x[idx] = v, x[[0, 1]] = v through the client: torch's values, gradients,
    grad_fn and errors (index_put_ on the wire)."""
    out = []
    for m in (torch, ref):
        x = m.tensor([1.0, -2.0, 3.0])
        x[x < 0] = 0.0
        a = x.tolist()
        x[m.tensor([0, 2])] = 5.0
        b = x.tolist()
        x[[0, 1]] = 7.0
        w = m.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = w * 2
        y[y > 3] = 0.0
        y[m.tensor([0])] = w[1:2] * 10
        y.sum().backward()
        out.append((a, b, x.tolist(), w.grad.tolist(), y.grad_fn.name()))
        with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
            w[m.tensor([0])] = 1.0
        with pytest.raises(RuntimeError, match="cannot be broadcast to indexing result"):
            x[m.tensor([0, 1])] = m.tensor([1.0, 2.0, 3.0])
    assert out[0] == out[1]
