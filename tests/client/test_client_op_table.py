"""The client's surfaces come from the op table; connect refuses a server with another table."""

from __future__ import annotations

import json
from typing import Any

import httpx
import numpy as np
import pytest

from client import OpTableMismatchError, RemoteTensor, RemoteTorch, connect
from client.tensor import SPECS


def test_every_wire_op_is_on_the_client(torch: RemoteTorch) -> None:
    for name, spec in SPECS.items():
        if name not in spec["wire"] or name == "index":  # index: x[key]
            continue
        for alias in (name, *spec["aliases"]):
            if "method" in spec["variants"]:
                assert callable(getattr(RemoteTensor, alias)), alias
            if {"function", "nn"} & set(spec["variants"]):
                assert callable(getattr(torch, alias)), alias
        if "nn" in spec["variants"]:
            assert callable(getattr(torch.nn.functional, name)), name
        for wire_name in spec["wire"]:
            if wire_name.endswith("_") and wire_name != name:
                assert callable(getattr(RemoteTensor, wire_name)), wire_name


def test_keyword_calls_bind_as_torch(torch: RemoteTorch, ref: Any) -> None:
    a = np.linspace(-1, 1, 6).reshape(2, 3)
    b = np.linspace(2, -1, 6).reshape(3, 2)
    ra, rb = torch.tensor(a), torch.tensor(b)
    ta, tb = ref.tensor(a), ref.tensor(b)
    pairs = [
        (torch.matmul(input=ra, other=rb), ref.matmul(input=ta, other=tb)),
        (ra.sum(dim=1, keepdim=True), ta.sum(dim=1, keepdim=True)),
        (torch.clip(ra, min=-0.5), ref.clip(ta, min=-0.5)),
        (ra.reshape(3, 2) * 2, ta.reshape(3, 2) * 2),
        (torch.nn.functional.softplus(ra, beta=2.0), ref.nn.functional.softplus(ta, beta=2.0)),
    ]
    for got, want in pairs:
        np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-12)
    c = torch.tensor(a)
    c.add_(ra, alpha=3)
    np.testing.assert_allclose(c.numpy(), a * 4)


def test_hypot_function_method_and_in_place(torch: RemoteTorch, ref: Any) -> None:
    a, b = np.array([[3.0, -1.5], [0.5, 2.0]]), np.array([4.0, -0.25])
    ra, rb = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    ta, tb = ref.tensor(a, requires_grad=True), ref.tensor(b, requires_grad=True)
    out, want = torch.hypot(ra, rb), ref.hypot(ta, tb)
    assert out.grad_fn is not None and out.grad_fn.name() == "HypotBackward0"
    np.testing.assert_allclose(out.detach().numpy(), want.detach().numpy())
    (out.sum() + ra.hypot(other=rb).sum()).backward()
    (want.sum() + ta.hypot(other=tb).sum()).backward()
    assert ra.grad is not None and rb.grad is not None
    np.testing.assert_allclose(ra.grad.numpy(), ta.grad.numpy())
    np.testing.assert_allclose(rb.grad.numpy(), tb.grad.numpy())
    c, tc = torch.tensor(a), ref.tensor(a)
    c.hypot_(torch.tensor(b))
    tc.hypot_(ref.tensor(b))
    np.testing.assert_allclose(c.numpy(), tc.numpy())


class OtherTable(httpx.BaseTransport):
    """A real server, but its GET /v1/ops answers another table version."""

    def __init__(self) -> None:
        self.inner = httpx.HTTPTransport()
        self.deleted = False

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = self.inner.handle_request(request)
        if request.method == "DELETE":
            self.deleted = True
        if request.url.path != "/v1/ops":
            return response
        body = json.loads(response.read())
        body["version"] = "0000000000000000"
        return httpx.Response(200, json=body)

    def close(self) -> None:
        self.inner.close()


def test_connect_refuses_a_server_with_another_op_table(server: str) -> None:
    transport = OtherTable()
    with pytest.raises(OpTableMismatchError, match="op table version '0000000000000000'"):
        connect(server, transport=transport)
    assert transport.deleted  # the session it opened is gone


def _same(got: Any, want: Any) -> None:
    assert str(got.dtype) == str(want.dtype), (got.dtype, want.dtype)
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), atol=1e-12)


def test_var_std_cumsum_cumprod_match_torch(torch: RemoteTorch, ref: Any) -> None:
    a = np.array([[1.5, -0.5, 0.0, 2.0], [0.25, 0.0, 3.0, -1.0], [1.0, 2.0, -2.0, 0.5]])
    x, t = torch.tensor(a, requires_grad=True), ref.tensor(a, requires_grad=True)
    calls = [
        lambda m, x: m.var(x),
        lambda m, x: x.var(1, keepdim=True, correction=0),
        lambda m, x: m.var(x, False),
        lambda m, x: x.std(0, True, True),
        lambda m, x: m.std(x, dim=(0, 1), unbiased=False),
        lambda m, x: m.cumsum(x, 1),
        lambda m, x: x.cumsum(0, dtype=m.float32),
        lambda m, x: x.cumprod(dim=1),  # zeros: torch's exact gradient
        lambda m, x: x.cumprod(0),
    ]
    outs = [(f(torch, x), f(ref, t)) for f in calls]
    for f in (
        lambda m, x: m.var_mean(x, 1),
        lambda m, x: m.std_mean(x, dim=0, keepdim=True, correction=2),
        lambda m, x: m.var_mean(x, False),
    ):
        got_pair, want_pair = f(torch, x), f(ref, t)
        assert type(got_pair) is tuple and len(got_pair) == 2
        outs += list(zip(got_pair, want_pair, strict=True))
    for got, want in outs:
        assert got.grad_fn is not None and got.grad_fn.name() == want.grad_fn.name()
        _same(got, want)
    sum(got.sum() * (i + 1) for i, (got, _) in enumerate(outs)).backward()
    sum(want.sum() * (i + 1) for i, (_, want) in enumerate(outs)).backward()
    assert x.grad is not None
    _same(x.grad, t.grad)
    ints = np.array([3, 1, 2])
    _same(torch.tensor(ints).cumsum(0), ref.tensor(ints).cumsum(0))  # int64, as torch
    c, tc = torch.tensor(a), ref.tensor(a)
    c.cumsum_(0)
    tc.cumsum_(0)
    c.cumprod_(1)
    tc.cumprod_(1)
    _same(c, tc)


DESC_STABLE: dict[str, Any] = {"dim": 1, "descending": True, "stable": True}


def test_sort_topk_argsort_return_torchs_results(torch: RemoteTorch, ref: Any) -> None:
    a = np.array([[0.5, 2.0, -1.0, 2.0], [3.0, -2.0, 0.0, 1.0]])
    x, t = torch.tensor(a, requires_grad=True), ref.tensor(a, requires_grad=True)
    pairs = [
        (torch.sort(x), ref.sort(t)),
        (x.sort(0, descending=True), t.sort(0, descending=True)),
        (torch.sort(x, dim=1, descending=True, stable=True), ref.sort(t, **DESC_STABLE)),
        (torch.topk(x, 2), ref.topk(t, 2)),
        (x.topk(1, dim=0, largest=False), t.topk(1, dim=0, largest=False)),
        (x.topk(2, 1), t.topk(2, 1)),
    ]
    for got, want in pairs:
        assert type(got).__name__.lower().removesuffix("result") == type(want).__name__
        values, indices = got
        _same(values, want.values)
        _same(indices, want.indices)
        assert values.grad_fn is not None and values.grad_fn.name() == want.values.grad_fn.name()
        assert indices.grad_fn is None and not indices.requires_grad
    assert repr(pairs[0][0]).startswith("torch.return_types.sort(\nvalues=tensor(")
    assert isinstance(pairs[3][0], torch.return_types.topk)
    sum(got.values.sum() * (i + 1) for i, (got, _) in enumerate(pairs)).backward()
    sum(want.values.sum() * (i + 1) for i, (_, want) in enumerate(pairs)).backward()
    assert x.grad is not None
    _same(x.grad, t.grad)
    _same(torch.argsort(x, 1, descending=True), ref.argsort(t, 1, descending=True))
    _same(x.argsort(dim=0, stable=True), t.argsort(dim=0, stable=True))
    with pytest.raises(RuntimeError, match="selected index k out of range"):
        x.topk(5)
    with pytest.raises(IndexError, match="Dimension out of range"):
        torch.sort(x, 2)


def test_isclose_allclose_equal_and_norm_dtype(torch: RemoteTorch, ref: Any) -> None:
    a = np.array([1.0, 2.0, np.nan, np.inf])
    b = np.array([1.0 + 1e-9, 2.1, np.nan, np.inf])
    x, y, tx, ty = torch.tensor(a), torch.tensor(b), ref.tensor(a), ref.tensor(b)
    _same(torch.isclose(x, y), ref.isclose(tx, ty))
    _same(x.isclose(y, atol=0.2, equal_nan=True), tx.isclose(ty, atol=0.2, equal_nan=True))
    for got, want in [
        (torch.allclose(x, y), ref.allclose(tx, ty)),
        (x.allclose(y, atol=0.2, equal_nan=True), tx.allclose(ty, atol=0.2, equal_nan=True)),
        (torch.equal(x, x), ref.equal(tx, tx)),  # NaN != NaN
        (torch.equal(y[:2], y[:2]), ref.equal(ty[:2], ty[:2])),
        (x.equal(y), tx.equal(ty)),
        (torch.equal(x, torch.tensor([1.0])), ref.equal(tx, ref.tensor([1.0]))),
    ]:
        assert type(got) is bool and got == want
    with pytest.raises(RuntimeError, match="Double did not match Long"):
        torch.isclose(x, torch.tensor([1, 2, 3, 4]))
    with pytest.raises(TypeError, match="must be Tensor"):
        torch.allclose(1.0, x)
    with pytest.raises(TypeError, match="must be Number, not str"):
        torch.linalg.vector_norm(x, "fro")
    f = torch.tensor(a[:2].astype(np.float32), requires_grad=True)
    tf = ref.tensor(a[:2].astype(np.float32), requires_grad=True)
    got, want = f.norm(dtype=torch.float64), tf.norm(dtype=ref.float64)
    _same(got, want)
    got2 = torch.linalg.vector_norm(f, 1, dim=0, keepdim=True)
    want2 = ref.linalg.vector_norm(tf, 1, dim=0, keepdim=True)
    _same(got2, want2)
    assert got2.grad_fn is not None and got2.grad_fn.name() == want2.grad_fn.name()
    (got + got2.sum()).backward()
    (want + want2.sum()).backward()
    assert f.grad is not None
    _same(f.grad, tf.grad)


_M46, _V6 = np.linspace(-2, 3, 24).reshape(4, 6), np.linspace(1, -1, 6)
_B234, _B245 = np.linspace(-1, 2, 24).reshape(2, 3, 4), np.linspace(2, -2, 40).reshape(2, 4, 5)
SHAPE_OPS: list[tuple[str, Any, tuple[Any, ...]]] = [
    ("narrow", lambda m, x: m.narrow(x, 1, -4, 3), (_M46,)),
    ("narrow-method", lambda m, x: x.narrow(0, 1, 2), (_M46,)),
    ("split-int", lambda m, x: m.split(x, 4, dim=1), (_M46,)),
    ("split-sizes-method", lambda m, x: x.split([1, 2, 3], 1), (_M46,)),
    ("chunk", lambda m, x: m.chunk(x, 3), (_M46,)),
    ("chunk-method", lambda m, x: x.chunk(4, dim=1), (_M46,)),
    ("repeat", lambda m, x: x.repeat(2, 1, 3), (_M46,)),
    ("flip", lambda m, x: m.flip(x, (0, 1)), (_M46,)),
    ("flip-method", lambda m, x: x.flip(-1), (_M46,)),
    ("roll", lambda m, x: m.roll(x, (1, -2), (0, 1)), (_M46,)),
    ("roll-flat", lambda m, x: x.roll(5), (_M46,)),
    ("tril", lambda m, x: m.tril(x, diagonal=1), (_M46,)),
    ("triu-method", lambda m, x: x.triu(-1), (_M46,)),
    ("mv", lambda m, a, v: m.mv(a, v), (_M46, _V6)),
    ("mv-method", lambda m, a, v: a.mv(v), (_M46, _V6)),
    ("bmm", lambda m, a, b: m.bmm(a, b), (_B234, _B245)),
    ("einsum", lambda m, a, b: m.einsum("bij,bjk->bik", a, b), (_B234, _B245)),
    ("einsum-list", lambda m, a, v: m.einsum("ij,j", [a, v]), (_M46, _V6)),
    ("einsum-one", lambda m, a: m.einsum("ij->j", a), (_M46,)),
]


@pytest.mark.parametrize("fn,inputs", [c[1:] for c in SHAPE_OPS], ids=[c[0] for c in SHAPE_OPS])
def test_shape_and_product_ops_match_torch(
    torch: RemoteTorch, ref: Any, fn: Any, inputs: tuple[Any, ...]
) -> None:
    """Values, grad_fn names, tuples (split, chunk) and input gradients, as torch's."""
    rs = [torch.tensor(a, requires_grad=True) for a in inputs]
    ts = [ref.tensor(a, requires_grad=True) for a in inputs]
    got, want = fn(torch, *rs), fn(ref, *ts)
    assert type(got) is type(want) or isinstance(want, ref.Tensor)
    gots = list(got) if isinstance(got, tuple) else [got]
    wants = list(want) if isinstance(want, tuple) else [want]
    assert len(gots) == len(wants)
    total_r, total_t = 0, 0
    for k, (g, w) in enumerate(zip(gots, wants, strict=True)):
        assert tuple(g.shape) == tuple(w.shape)
        assert g.grad_fn is not None and g.grad_fn.name() == w.grad_fn.name()
        np.testing.assert_allclose(g.detach().numpy(), w.detach().numpy(), atol=1e-12)
        total_r = total_r + (g * (k + 1)).sum()
        total_t = total_t + (w * (k + 1)).sum()
    total_r.backward()
    total_t.backward()
    for r, t in zip(rs, ts, strict=True):
        assert r.grad is not None
        np.testing.assert_allclose(r.grad.numpy(), t.grad.numpy(), atol=1e-12)


def test_tril_and_triu_in_place(torch: RemoteTorch, ref: Any) -> None:
    c, tc = torch.tensor(_M46), ref.tensor(_M46)
    c.tril_(1)
    tc.tril_(1)
    np.testing.assert_allclose(c.numpy(), tc.numpy())
    c.triu_(diagonal=-1)
    tc.triu_(diagonal=-1)
    np.testing.assert_allclose(c.numpy(), tc.numpy())


def test_shape_op_errors_are_torchs(torch: RemoteTorch, ref: Any) -> None:
    """Raised at the call (the local inference), with torch's class and text."""
    x, t = torch.tensor(_M46), ref.tensor(_M46)
    calls = [
        lambda m, x: x.split([1, 2], 1),
        lambda m, x: x.chunk(0),
        lambda m, x: x.narrow(1, 5, 2),
        lambda m, x: m.einsum("ij,j->i", x, x),
        lambda m, x: m.bmm(x, x),
    ]
    for call in calls:
        with pytest.raises(Exception) as want:
            call(ref, t)
        builtin = next(c for c in type(want.value).__mro__ if c.__module__ == "builtins")
        with pytest.raises(builtin) as got:
            call(torch, x)
        assert str(want.value) in str(got.value)


RANGES: dict[str, Any] = {
    "arange-end": lambda T: T.arange(5),
    "arange-end-keyword": lambda T: T.arange(end=5),
    "arange-keywords": lambda T: T.arange(start=1, end=6, step=2),
    "arange-float": lambda T: T.arange(-1.5, 2.5, 0.25),
    "arange-0d-tensor": lambda T: T.arange(T.tensor(4)),
    "arange-int-dtype": lambda T: T.arange(2.5, dtype=T.int64),
    "arange-requires-grad": lambda T: T.arange(0.0, 1.0, 0.25, requires_grad=True),
    "linspace": lambda T: T.linspace(-3.7, 11.3, 11),
    "linspace-keywords": lambda T: T.linspace(start=0, end=1, steps=5, dtype=T.float64),
    "linspace-0d-tensors": lambda T: T.linspace(T.tensor(0.0), T.tensor(1.0), 3),
    "linspace-int64": lambda T: T.linspace(-10, 0, 4, dtype=T.int64),
    "logspace": lambda T: T.logspace(0, 2, 3),
    "logspace-base": lambda T: T.logspace(-1, 1, 5, 3.0, requires_grad=True),
    "logspace-keywords": lambda T: T.logspace(start=0, end=3, steps=4, base=2, dtype=T.int64),
}


@pytest.mark.parametrize("make", RANGES.values(), ids=RANGES.keys())
def test_range_factories_match_torch(torch: RemoteTorch, ref: Any, make: Any) -> None:
    got, want = make(torch), make(ref)
    assert str(got.dtype) == str(want.dtype) and tuple(got.shape) == tuple(want.shape)
    assert got.requires_grad == want.requires_grad
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-6)


def test_range_factory_errors_are_torchs(torch: RemoteTorch, ref: Any) -> None:
    calls = [
        lambda T: T.arange(0, -1, 1),
        lambda T: T.arange(0, 1, 0),
        lambda T: T.linspace(0, 1, -1),
        lambda T: T.logspace(0, 1, 3, dtype=T.bool),
        lambda T: T.arange(3, requires_grad=True),
    ]
    for call in calls:
        with pytest.raises(Exception) as want:
            call(ref)
        builtin = next(c for c in type(want.value).__mro__ if c.__module__ == "builtins")
        if builtin is NotImplementedError:  # torch's unsupported dtype: a RuntimeError here
            builtin = RuntimeError
        with pytest.raises(builtin) as got:
            call(torch)
        assert str(want.value) in str(got.value)


def _causal_attention(T: Any, x: Any, w: Any) -> Any:
    """torch code as written for torch: qkv split, einsum scores, a tril mask, chunked heads."""
    q, k, v = (x @ w).split(4, dim=-1)
    heads = [t.reshape(2, 5, 2, 2) for t in (q, k, v)]
    scores = T.einsum("bqhd,bkhd->bhqk", heads[0], heads[1]) / 2.0
    mask = T.ones(5, 5).tril()
    scores = T.where(mask > 0, scores, scores - 1e4)
    out = T.einsum("bhqk,bkhd->bqhd", scores.softmax(-1), heads[2]).reshape(2, 5, 4)
    a, b = out.chunk(2, dim=1)
    return (a.flip(1).roll(1, 2) * 2).sum() + T.bmm(b, b.transpose(1, 2)).sum()


def test_attention_written_for_torch_runs_unchanged(torch: RemoteTorch, ref: Any) -> None:
    xs = np.linspace(-1, 1, 40).reshape(2, 5, 4)
    ws = np.linspace(0.5, -0.5, 48).reshape(4, 12)
    rx, rw = torch.tensor(xs, requires_grad=True), torch.tensor(ws, requires_grad=True)
    tx, tw = ref.tensor(xs, requires_grad=True), ref.tensor(ws, requires_grad=True)
    got, want = _causal_attention(torch, rx, rw), _causal_attention(ref, tx, tw)
    np.testing.assert_allclose(got.item(), want.item(), rtol=1e-10)
    got.backward()
    want.backward()
    assert rx.grad is not None and rw.grad is not None
    np.testing.assert_allclose(rx.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(rw.grad.numpy(), tw.grad.numpy(), rtol=1e-9, atol=1e-12)
    import engine  # and in-process, the same code

    ex, ew = engine.tensor(xs, requires_grad=True), engine.tensor(ws, requires_grad=True)
    _causal_attention(engine, ex, ew).backward()
    np.testing.assert_allclose(ex.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(ew.grad.numpy(), tw.grad.numpy(), rtol=1e-9, atol=1e-12)


# ---------------------------------------------------------------- issue 9's ops
def _pair(torch: RemoteTorch, ref: Any, a: Any, rg: bool = True) -> tuple[Any, Any]:
    a = np.asarray(a)
    rg = rg and a.dtype.kind == "f"
    return torch.tensor(a, requires_grad=rg), ref.tensor(a, requires_grad=rg)


def _same_as_torch(got: Any, want: Any) -> None:
    assert str(got.dtype).removeprefix("torch.") == str(want.dtype).removeprefix("torch.")
    assert tuple(got.shape) == tuple(want.shape)
    want_fn = None if want.grad_fn is None else want.grad_fn.name()
    assert (None if got.grad_fn is None else got.grad_fn.name()) == want_fn
    np.testing.assert_allclose(got.detach().numpy(), want.detach().numpy(), rtol=1e-12)


def _run(torch: RemoteTorch, ref: Any, fn: Any, *arrays: Any) -> None:
    """fn(namespace, *tensors) through the client and through torch: values, dtype, shape,
    grad_fn names, and every float input's gradient after a weighted sum's backward."""
    pairs = [_pair(torch, ref, a) for a in arrays]
    mine, theirs = [p[0] for p in pairs], [p[1] for p in pairs]
    outs = fn(torch, *mine), fn(ref, *theirs)
    got, want = (o if isinstance(o, tuple) else (o,) for o in outs)
    for g, w in zip(got, want, strict=True):
        _same_as_torch(g, w)
    loss = [
        sum(((o * (k + 1)).sum() for k, o in enumerate(os) if o.requires_grad), 0.0)
        for os in (got, want)
    ]
    if isinstance(loss[1], float):
        return
    loss[0].backward()
    loss[1].backward()
    for m, t in zip(mine, theirs, strict=True):
        if t.requires_grad:
            assert m.grad is not None
            np.testing.assert_allclose(m.grad.numpy(), t.grad.numpy(), rtol=1e-12, atol=1e-15)


X = np.linspace(-2.0, 2.5, 12).reshape(3, 4)
I24 = np.array([[0, 1, 2, 0], [2, 0, 1, 1]])
MASK = X > 0.3


def test_gather_scatter_index_select(torch: RemoteTorch, ref: Any) -> None:
    src = np.linspace(1, 2, 8).reshape(2, 4)

    def ops(m: Any, x: Any, i: Any, s: Any) -> Any:
        return (
            m.gather(x, 0, i),
            x.gather(1, i[:, :2]),
            m.scatter(x, 0, i, s),
            x.scatter(0, i, 2.5),
            m.scatter(x, 0, i, value=-1.0),
            m.scatter_add(x, 0, i, s),
            x.index_select(1, m.tensor([3, 0, 3])),
            m.index_select(x, 0, i[0, :2]),
        )

    _run(torch, ref, ops, X, I24, src)

    def inplace(m: Any, x: Any, i: Any, s: Any) -> Any:
        y, z = x * 1, x * 2
        y.scatter_(1, i, s)
        z.scatter_add_(0, i, s)
        return y, z

    _run(torch, ref, inplace, X, I24, src)


def test_masked_fill_and_select(torch: RemoteTorch, ref: Any) -> None:
    def ops(m: Any, x: Any, k: Any, v: Any) -> Any:
        y = x * 1
        y.masked_fill_(k, v)
        return (
            x.masked_fill(k, 1.5),
            m.masked_fill(x, k[0], v),
            y,
            m.masked_select(x, k),
            x.masked_select(k[1]),
            x[0].masked_select(k),
        )

    _run(torch, ref, ops, X, MASK, np.array(0.25))


def test_floor_divide_remainder_fmod_pow(torch: RemoteTorch, ref: Any) -> None:
    a = np.array([[-7.0, 7.0, -7.5, 7.5], [-0.5, 3.0, -3.0, 1.0]])
    b = np.array([2.0, -2.0, -2.5, 2.5])

    def ops(m: Any, x: Any, y: Any, i: Any, j: Any) -> Any:
        z = x * 1
        z %= 1.5
        w = x * 1
        w.fmod_(y)
        return (
            x % y,
            x % -2.5,
            m.remainder(x, y),
            m.fmod(x, y),
            x.fmod(2.5),
            z,
            w,
            i // j,
            7 // j,
            i % j,
            -7 % j,
            m.fmod(i, j),
            i // 2.5,
            x ** y.abs(),
            2.0**x,
            x**2,
        )

    _run(torch, ref, ops, a, b, a.astype(np.int64), np.array([2, -2, -3, 3]))
    qa, qb = _pair(torch, ref, a)
    assert (qa // 2).grad_fn.name() == (qb // 2).grad_fn.name() == "torch::autograd::NotImplemented"
    c, tc = torch.tensor(a), ref.tensor(a)
    c.floor_divide_(torch.tensor(b))
    tc.floor_divide_(ref.tensor(b))
    c.pow_(2)
    tc.pow_(2)
    np.testing.assert_allclose(c.numpy(), tc.numpy())


def test_inplace_pointwise_variants(torch: RemoteTorch, ref: Any) -> None:
    pos = np.linspace(0.5, 2.0, 6).reshape(2, 3)
    names = ["abs", "exp", "log", "sqrt", "sin", "cos", "tan", "tanh", "sigmoid", "neg"]
    names += ["negative", "relu", "clip", "clamp"]

    def ops(m: Any, x: Any) -> Any:
        outs = []
        for n in names:
            y = x * 1
            args = (0.75, 1.5) if n in ("clamp", "clip") else ()
            outs.append(getattr(y, n + "_")(*args))
        return tuple(outs)

    _run(torch, ref, ops, pos)
    leaf = torch.tensor(pos, requires_grad=True)
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad"):
        leaf.exp_()


def test_fill_zero_copy_in_place(torch: RemoteTorch, ref: Any) -> None:
    def ops(m: Any, x: Any, v: Any) -> Any:
        a, b, c, d = x * 1, x * 1, x * 1, m.zeros(3, 4, dtype=m.float64)
        a.fill_(2.5)
        b.fill_(v)
        c.zero_()
        d.copy_(x[0])
        return a, b, c, d

    _run(torch, ref, ops, X, np.array(-1.5))


def test_where_with_numbers_and_clamp_with_tensors(torch: RemoteTorch, ref: Any) -> None:
    lo, hi = np.full(4, -0.5), np.linspace(0.5, 1.5, 3).reshape(3, 1)

    def ops(m: Any, x: Any, lo: Any, hi: Any) -> Any:
        c = x > 0
        y = x * 1
        y.clamp_(lo, hi)
        z = x * 1
        z.clip_(min=lo)
        return (
            m.where(c, x, 2.0),
            m.where(c, 1.0, x),
            m.where(c, 1.0, -1.0),
            m.clamp(x, min=lo, max=hi),
            x.clamp(lo),
            x.clip(max=hi),
            y,
            z,
        )

    _run(torch, ref, ops, X, lo, hi)


def test_pad_normalize_cosine_similarity(torch: RemoteTorch, ref: Any) -> None:
    y = np.linspace(1.0, -1.0, 4)

    def ops(m: Any, x: Any, y: Any) -> Any:
        F = m.nn.functional
        return (
            F.pad(x, (1, 2)),
            F.pad(x, [1, -1, 0, 1], value=0.5),
            F.normalize(x),
            F.normalize(x, p=1.0, dim=0),
            F.cosine_similarity(x, y),
            m.cosine_similarity(x, y, dim=-1, eps=1e-6),
        )

    _run(torch, ref, ops, X, y)
    with pytest.raises(NotImplementedError, match="mode='reflect'"):
        torch.nn.functional.pad(torch.tensor(X), (1, 1), mode="reflect")


def test_t_is_torchs_t(torch: RemoteTorch, ref: Any) -> None:
    """``x.t()`` is its own wire op: grad_fn TBackward0 (not transpose's), 1-d included."""
    for shape in [(2, 3), (3,)]:
        values = np.arange(np.prod(shape), dtype=np.float64).reshape(shape) - 2
        x = torch.tensor(values, requires_grad=True)
        rx = ref.tensor(values, requires_grad=True)
        out, want = x.t(), rx.t()
        assert out.grad_fn.name() == type(want.grad_fn).__name__ == "TBackward0"
        assert out is not x and tuple(out.shape) == tuple(want.shape)
        assert torch.t(x).grad_fn.name() == "TBackward0"
        (out * out).sum().backward()
        (want * want).sum().backward()
        np.testing.assert_allclose(x.grad.numpy(), rx.grad.numpy())
    with pytest.raises(RuntimeError, match="t\\(\\) expects a tensor with <= 2 dimensions"):
        torch.ones(2, 2, 2).t()
