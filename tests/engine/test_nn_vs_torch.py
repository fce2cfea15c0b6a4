"""``engine.nn`` against ``torch.nn``: every module's forward, backward, repr and state_dict
(with torch's weights loaded as arrays), ``nn.init`` distributions, gradient clipping and
the Module API (registration, traversal, modes)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import numpy as np
import pytest

import engine

torch = pytest.importorskip("torch")

enn = engine.nn
tnn = torch.nn


def _arrays(module: Any) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


def _x(*shape: int, seed: int = 0, lo: float = -2, hi: float = 2) -> np.ndarray:
    return np.random.default_rng(seed).uniform(lo, hi, shape)


LONG_T = np.array([0, 2, 1, 2])

# name -> (factory(nn), inputs, requires_grad per input)
MODULES: dict[str, tuple[Any, tuple[np.ndarray, ...], tuple[bool, ...]]] = {
    "Linear": (lambda nn: nn.Linear(3, 4), (_x(5, 3),), (True,)),
    "Linear-nobias-3d": (lambda nn: nn.Linear(3, 2, bias=False), (_x(2, 5, 3),), (True,)),
    "Bilinear": (lambda nn: nn.Bilinear(3, 2, 4), (_x(5, 3), _x(5, 2, seed=1)), (True, True)),
    "Bilinear-nobias": (
        lambda nn: nn.Bilinear(3, 2, 4, bias=False),
        (_x(5, 3), _x(5, 2, seed=1)),
        (True, True),
    ),
    "ReLU": (lambda nn: nn.ReLU(), (_x(3, 4),), (True,)),
    "Tanh": (lambda nn: nn.Tanh(), (_x(3, 4),), (True,)),
    "Sigmoid": (lambda nn: nn.Sigmoid(), (_x(3, 4),), (True,)),
    "GELU": (lambda nn: nn.GELU(), (_x(3, 4),), (True,)),
    "GELU-tanh": (lambda nn: nn.GELU(approximate="tanh"), (_x(3, 4),), (True,)),
    "SiLU": (lambda nn: nn.SiLU(), (_x(3, 4),), (True,)),
    "LeakyReLU": (lambda nn: nn.LeakyReLU(0.2), (_x(3, 4),), (True,)),
    "Softmax": (lambda nn: nn.Softmax(dim=1), (_x(3, 4),), (True,)),
    "LogSoftmax": (lambda nn: nn.LogSoftmax(dim=-1), (_x(3, 4),), (True,)),
    "Dropout-eval": (lambda nn: nn.Dropout(0.3).eval(), (_x(3, 4),), (True,)),
    "Dropout-p0": (lambda nn: nn.Dropout(0.0), (_x(3, 4),), (True,)),
    "Flatten": (lambda nn: nn.Flatten(), (_x(2, 3, 4),), (True,)),
    "Flatten-dims": (lambda nn: nn.Flatten(0, 1), (_x(2, 3, 4),), (True,)),
    "Identity": (lambda nn: nn.Identity(54, unused="x"), (_x(3, 4),), (True,)),
    "Embedding": (lambda nn: nn.Embedding(6, 3), (np.array([[1, 0, 5], [5, 2, 1]]),), (False,)),
    "Embedding-padding": (
        lambda nn: nn.Embedding(6, 3, padding_idx=5),
        (np.array([[1, 0, 5], [5, 2, 1]]),),
        (False,),
    ),
    "LayerNorm": (lambda nn: nn.LayerNorm(4), (_x(3, 4),), (True,)),
    "LayerNorm-2d-nobias": (lambda nn: nn.LayerNorm([3, 4], bias=False), (_x(2, 3, 4),), (True,)),
    "LayerNorm-plain": (
        lambda nn: nn.LayerNorm(4, eps=1e-3, elementwise_affine=False),
        (_x(3, 4),),
        (True,),
    ),
    "MSELoss": (lambda nn: nn.MSELoss(), (_x(3, 4), _x(3, 4, seed=1)), (True, False)),
    "MSELoss-sum": (
        lambda nn: nn.MSELoss(reduction="sum"),
        (_x(3, 4), _x(3, 4, seed=1)),
        (True, True),
    ),
    "L1Loss": (lambda nn: nn.L1Loss(), (_x(3, 4), _x(3, 4, seed=1)), (True, True)),
    "L1Loss-none": (
        lambda nn: nn.L1Loss(reduction="none"),
        (_x(3, 4), _x(3, 4, seed=1)),
        (True, True),
    ),
    "CrossEntropyLoss": (lambda nn: nn.CrossEntropyLoss(), (_x(4, 3), LONG_T), (True, False)),
    "CrossEntropyLoss-smoothing-ignore": (
        lambda nn: nn.CrossEntropyLoss(label_smoothing=0.1, ignore_index=1),
        (_x(4, 3), LONG_T),
        (True, False),
    ),
    "CrossEntropyLoss-probabilities": (
        lambda nn: nn.CrossEntropyLoss(label_smoothing=0.2),
        (_x(4, 3), _x(4, 3, seed=2, lo=0, hi=1)),
        (True, False),
    ),
    "CrossEntropyLoss-sum": (
        lambda nn: nn.CrossEntropyLoss(reduction="sum"),
        (_x(4, 3), LONG_T),
        (True, False),
    ),
    "NLLLoss": (lambda nn: nn.NLLLoss(), (_x(4, 3), LONG_T), (True, False)),
    "NLLLoss-ignore-none": (
        lambda nn: nn.NLLLoss(ignore_index=2, reduction="none"),
        (_x(4, 3), LONG_T),
        (True, False),
    ),
    "BCELoss": (
        lambda nn: nn.BCELoss(),
        (_x(3, 4, lo=0.05, hi=0.95), _x(3, 4, seed=1, lo=0, hi=1)),
        (True, True),
    ),
    "BCEWithLogitsLoss": (
        lambda nn: nn.BCEWithLogitsLoss(),
        (_x(3, 4), _x(3, 4, seed=1, lo=0, hi=1)),
        (True, True),
    ),
    "HuberLoss": (lambda nn: nn.HuberLoss(delta=0.5), (_x(3, 4), _x(3, 4, seed=1)), (True, True)),
    "Sequential": (
        lambda nn: nn.Sequential(nn.Linear(3, 5), nn.Tanh(), nn.Linear(5, 2), nn.LogSoftmax(1)),
        (_x(4, 3),),
        (True,),
    ),
    "Sequential-odict": (
        lambda nn: nn.Sequential(
            OrderedDict([("fc", nn.Linear(3, 4)), ("act", nn.GELU()), ("norm", nn.LayerNorm(4))])
        ),
        (_x(4, 3),),
        (True,),
    ),
}


def _build(lib: Any, name: str) -> tuple[Any, list[Any]]:
    factory, inputs, rg = MODULES[name]
    module = factory(lib.nn)
    module.double()
    args = [
        lib.tensor(a, requires_grad=r) if a.dtype.kind == "f" else lib.tensor(a)
        for a, r in zip(inputs, rg, strict=True)
    ]
    return module, args


@pytest.mark.parametrize("name", list(MODULES))
def test_module_matches_torch(name: str) -> None:
    """torch's weights loaded as arrays: same output, input grads, parameter grads, repr."""
    tm, t_in = _build(torch, name)
    em, e_in = _build(engine, name)
    assert repr(em) == repr(tm)
    assert list(em.state_dict()) == list(tm.state_dict())
    em.load_state_dict(_arrays(tm))
    t_out, e_out = tm(*t_in), em(*e_in)
    np.testing.assert_allclose(e_out.detach().numpy(), t_out.detach().numpy(), rtol=1e-10)
    assert (e_out.grad_fn is None) == (t_out.grad_fn is None)
    if t_out.requires_grad:
        up = np.random.default_rng(5).standard_normal(tuple(t_out.shape))
        t_out.backward(torch.tensor(up))
        e_out.backward(engine.tensor(up))
        for a, b in zip(e_in, t_in, strict=True):
            if b.grad is not None:
                np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10)
        tp, ep = dict(tm.named_parameters()), dict(em.named_parameters())
        assert list(tp) == list(ep)
        for k in tp:
            assert (ep[k].grad is None) == (tp[k].grad is None), k
            if tp[k].grad is not None:
                np.testing.assert_allclose(
                    ep[k].grad.numpy(), tp[k].grad.numpy(), rtol=1e-10, atol=1e-14, err_msg=k
                )


def test_dropout_in_training_zeroes_and_scales() -> None:
    engine.manual_seed(0)
    d = enn.Dropout(0.25)
    x = engine.ones(200, 50, dtype=engine.float64, requires_grad=True)
    y = d(x)
    vals = np.unique(y.detach().numpy())
    np.testing.assert_allclose(vals, [0.0, 1 / 0.75])
    kept = float((y.detach().numpy() != 0).mean())
    assert abs(kept - 0.75) < 0.02
    assert y.grad_fn.name() == "MulBackward0"  # as torch's dropout
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), y.detach().numpy())
    d.eval()
    assert d(x) is x


REPRS: dict[str, Any] = {
    "nested": lambda nn: nn.Sequential(
        nn.Linear(2, 3),
        nn.Sequential(nn.ReLU(inplace=True), nn.Dropout(0.1)),
        nn.ModuleList([nn.Linear(3, 3) for _ in range(3)] + [nn.SiLU(), nn.SiLU()]),
        nn.ModuleDict({"emb": nn.Embedding(5, 2, padding_idx=0), "ln": nn.LayerNorm((2, 3))}),
    ),
    "empty-list": lambda nn: nn.ModuleList(),
    "activations": lambda nn: nn.Sequential(
        nn.LeakyReLU(0.1, inplace=True), nn.GELU("tanh"), nn.Softmax(), nn.Flatten(2, 3)
    ),
    "losses": lambda nn: nn.ModuleList(
        [
            nn.MSELoss(),
            nn.L1Loss(reduction="sum"),
            nn.CrossEntropyLoss(label_smoothing=0.1),
            nn.NLLLoss(),
            nn.BCELoss(),
            nn.BCEWithLogitsLoss(),
            nn.HuberLoss(delta=2.0),
        ]
    ),
    "bilinear-identity": lambda nn: nn.Sequential(nn.Bilinear(2, 3, 4, bias=False), nn.Identity()),
}


@pytest.mark.parametrize("name", list(REPRS))
def test_repr_matches_torch(name: str) -> None:
    assert repr(REPRS[name](enn)) == repr(REPRS[name](tnn))


def test_parameter_repr_and_identity() -> None:
    p = enn.Parameter(engine.tensor([1.0, 2.0]))
    assert repr(p) == repr(tnn.Parameter(torch.tensor([1.0, 2.0])))
    assert p.is_leaf and p.requires_grad
    frozen = enn.Parameter(engine.tensor([1.0]), requires_grad=False)
    assert not frozen.requires_grad
    assert isinstance(p * 2, engine.Tensor) and not isinstance(p * 2, enn.Parameter)


class _Net:
    """The same model written for both libraries (a user subclass of nn.Module)."""

    @staticmethod
    def make(nn: Any, lib: Any) -> Any:
        class Net(nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.emb = nn.Embedding(7, 4)
                self.blocks = nn.ModuleList([nn.Linear(4, 4), nn.Linear(4, 4)])
                self.heads = nn.ModuleDict({"a": nn.Linear(4, 2), "b": nn.Linear(4, 3)})
                self.register_buffer("scale", lib.ones(4, dtype=lib.float64))
                self.register_buffer("scratch", lib.zeros(2), persistent=False)
                self.shared = self.blocks[0]  # the same module twice: listed once

            def forward(self, idx: Any) -> Any:
                h = self.emb(idx) * self.scale
                for b in self.blocks:
                    h = b(h).tanh()
                return self.heads["a"](h), self.heads["b"](h)

        return Net()


def test_module_api_matches_torch() -> None:
    t, e = _Net.make(tnn, torch), _Net.make(enn, engine)
    assert repr(e) == repr(t)
    for fn in (
        lambda m: [n for n, _ in m.named_parameters()],
        lambda m: [n for n, _ in m.named_buffers()],
        lambda m: [n for n, _ in m.named_children()],
        lambda m: [n for n, _ in m.named_modules()],
        lambda m: list(m.state_dict()),
        lambda m: [tuple(p.shape) for p in m.parameters()],
        lambda m: len(list(m.buffers())),
        lambda m: len(list(m.children())),
        lambda m: len(list(m.modules())),
        lambda m: [n for n, _ in m.named_parameters(recurse=False)],
        lambda m: [n for n, _ in m.blocks.named_parameters(prefix="x")],
    ):
        assert fn(e) == fn(t)
    e.eval()
    assert not any(m.training for m in e.modules())
    e.train()
    assert all(m.training for m in e.modules())
    seen: list[str] = []
    e.apply(lambda m: seen.append(type(m).__name__))
    t_seen: list[str] = []
    t.apply(lambda m: t_seen.append(type(m).__name__))
    assert seen == t_seen


def test_state_dict_round_trips_between_torch_and_engine() -> None:
    t, e = _Net.make(tnn, torch).double(), _Net.make(enn, engine)
    e.double()
    e.load_state_dict(_arrays(t))
    back = _Net.make(tnn, torch).double()
    back.load_state_dict({k: torch.from_numpy(v) for k, v in _arrays(e).items()})
    idx = np.array([[1, 6, 0], [2, 2, 5]])
    for a, b in zip(t(torch.tensor(idx)), back(torch.tensor(idx)), strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    for a, b in zip(e(engine.tensor(idx)), t(torch.tensor(idx)), strict=True):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12)


def test_load_state_dict_errors_as_torch() -> None:
    for nn, lib in ((enn, engine), (tnn, torch)):
        m = nn.Linear(2, 3)
        with pytest.raises(RuntimeError) as info:
            m.load_state_dict({"weight": lib.zeros(3, 3)})
        msg = str(info.value)
        assert msg.startswith("Error(s) in loading state_dict for Linear:")
        assert 'Missing key(s) in state_dict: "bias".' in msg
        assert "size mismatch for weight: copying a param with shape torch.Size([3, 3])" in msg
        result = m.load_state_dict({"weight": lib.zeros(3, 2), "extra": lib.zeros(1)}, strict=False)
        assert result.missing_keys == ["bias"] and result.unexpected_keys == ["extra"]
        assert m.weight.detach().numpy().sum() == 0


def test_zero_grad_and_requires_grad() -> None:
    m = enn.Linear(3, 2)
    m(engine.ones(4, 3)).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.numpy().any() for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())
    m.requires_grad_(False)
    assert not m(engine.ones(1, 3)).requires_grad


def test_registration_rules() -> None:
    m = enn.Module()
    with pytest.raises(KeyError, match="contain"):
        m.register_buffer("a.b", engine.zeros(1))
    with pytest.raises(TypeError, match="cannot assign 'list' object to buffer"):
        m.register_buffer("b", [1, 2])
    m.w = enn.Parameter(engine.zeros(2))
    with pytest.raises(TypeError, match="cannot assign 'Tensor' as parameter 'w'"):
        m.w = engine.zeros(2)
    m.w = None
    assert m.w is None and list(m.parameters()) == []
    del m.w
    with pytest.raises(AttributeError, match="'Module' object has no attribute 'w'"):
        _ = m.w

    class Early(enn.Module):
        def __init__(self) -> None:
            self.fc = enn.Linear(1, 1)

    with pytest.raises(AttributeError, match=r"before Module\.__init__"):
        Early()


def test_containers_index_like_torch() -> None:
    for nn in (enn, tnn):
        s = nn.Sequential(nn.Linear(1, 2), nn.ReLU(), nn.Linear(2, 1))
        assert type(s[-1]).__name__ == "Linear" and len(s[1:]) == 2
        assert type(s[1:]).__name__ == "Sequential"
        del s[1]
        assert [n for n, _ in s.named_children()] == ["0", "1"]
        s.append(nn.Tanh())
        assert len(s) == 3
        ml = nn.ModuleList([nn.ReLU()])
        ml.insert(0, nn.Tanh())
        ml += [nn.SiLU()]
        assert [type(x).__name__ for x in ml] == ["Tanh", "ReLU", "SiLU"]
        md = nn.ModuleDict({"a": nn.ReLU()})
        md["b"] = nn.Tanh()
        assert list(md.keys()) == ["a", "b"] and "a" in md
        with pytest.raises(IndexError):
            _ = s[5]


# ----------------------------------------------------------------------- init
def test_calculate_gain_matches_torch() -> None:
    for args in [
        ("linear",),
        ("sigmoid",),
        ("tanh",),
        ("relu",),
        ("leaky_relu",),
        ("leaky_relu", 0.2),
        ("selu",),
        ("conv2d",),
    ]:
        assert enn.init.calculate_gain(*args) == tnn.init.calculate_gain(*args)
    with pytest.raises(ValueError, match="Unsupported nonlinearity"):
        enn.init.calculate_gain("nope")


INITS: dict[str, tuple[Any, float, float | None]] = {
    # name: (call, the distribution's std, its bound when uniform)
    "uniform_": (lambda i, t: i.uniform_(t, -0.5, 1.5), 2 / 12**0.5, None),
    "normal_": (lambda i, t: i.normal_(t, 0.3, 2.0), 2.0, None),
    "xavier_uniform_": (
        lambda i, t: i.xavier_uniform_(t, gain=2.0),
        2 * (2 / 700) ** 0.5,
        2 * (6 / 700) ** 0.5,
    ),
    "xavier_normal_": (lambda i, t: i.xavier_normal_(t), (2 / 700) ** 0.5, None),
    "kaiming_uniform_": (
        lambda i, t: i.kaiming_uniform_(t, a=5**0.5),
        (1 / 3 / 200) ** 0.5,
        (1 / 200) ** 0.5,
    ),
    "kaiming_normal_": (
        lambda i, t: i.kaiming_normal_(t, mode="fan_out", nonlinearity="relu"),
        (2 / 500) ** 0.5,
        None,
    ),
}


@pytest.mark.parametrize("name", list(INITS))
def test_init_has_torchs_distribution(name: str) -> None:
    """Same distribution as torch's: mean, std and bounds on 100k draws (seeded)."""
    fn, std, bound = INITS[name]
    engine.manual_seed(3)
    torch.manual_seed(3)
    e = engine.zeros(500, 200, dtype=engine.float64)
    t = torch.zeros(500, 200, dtype=torch.float64)
    fn(enn.init, e)
    fn(tnn.init, t)
    a, b = e.numpy(), t.numpy()
    assert abs(a.std() - b.std()) < 0.02 * std and abs(a.std() - std) < 0.02 * std
    assert abs(a.mean() - b.mean()) < 0.02 * std
    if bound is not None:
        assert np.abs(a).max() <= bound and np.abs(a).max() > 0.99 * bound


def test_constant_inits_and_module_defaults() -> None:
    t = engine.zeros(2, 3)
    enn.init.constant_(t, 0.25)
    assert t.tolist() == [[0.25] * 3] * 2
    enn.init.ones_(t)
    assert t.tolist() == [[1.0] * 3] * 2
    enn.init.zeros_(t)
    assert not t.numpy().any()
    engine.manual_seed(0)
    lin = enn.Linear(300, 400)
    w, b = lin.weight.detach().numpy(), lin.bias.detach().numpy()
    assert np.abs(w).max() <= 1 / 300**0.5 and np.abs(w).max() > 0.99 / 300**0.5
    assert np.abs(b).max() <= 1 / 300**0.5
    assert lin.weight.dtype == engine.float32
    emb = enn.Embedding(1000, 100, padding_idx=3).weight.detach().numpy()
    assert abs(emb.std() - 1) < 0.02 and not emb[3].any()
    ln = enn.LayerNorm(5)
    assert ln.weight.tolist() == [1.0] * 5 and ln.bias.tolist() == [0.0] * 5
    engine.manual_seed(0)
    again = enn.Linear(300, 400)
    np.testing.assert_array_equal(again.weight.detach().numpy(), w)  # manual_seed reproduces


# ------------------------------------------------------------------- clipping
@pytest.mark.parametrize("norm_type", [2.0, 1.0, float("inf")])
@pytest.mark.parametrize("max_norm", [0.5, 100.0])
def test_clip_grad_norm_matches_torch(norm_type: float, max_norm: float) -> None:
    grads = [_x(3, 4, seed=1), _x(5, seed=2)]
    out = []
    for lib in (engine, torch):
        ps = [lib.zeros(g.shape, dtype=lib.float64, requires_grad=True) for g in grads]
        for p, g in zip(ps, grads, strict=True):
            p.grad = lib.tensor(g)
        total = lib.nn.utils.clip_grad_norm_(ps, max_norm, norm_type=norm_type)
        out.append((float(total), [p.grad.numpy() for p in ps]))
    assert out[0][0] == pytest.approx(out[1][0], rel=1e-12)
    for a, b in zip(out[0][1], out[1][1], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_clip_grad_value_matches_torch() -> None:
    out = []
    for lib in (engine, torch):
        p = lib.zeros(3, 4, dtype=lib.float64, requires_grad=True)
        p.grad = lib.tensor(_x(3, 4, seed=1))
        lib.nn.utils.clip_grad_value_([p], 0.7)
        out.append(p.grad.numpy())
    np.testing.assert_array_equal(out[0], out[1])


def test_deepcopy_gives_independent_parameters() -> None:
    import copy

    m = enn.Sequential(enn.Linear(2, 3), enn.LayerNorm(3))
    twin = copy.deepcopy(m)
    assert repr(twin) == repr(m)
    for (k, a), (_, b) in zip(m.named_parameters(), twin.named_parameters(), strict=True):
        assert a is not b and isinstance(b, enn.Parameter) and b.requires_grad, k
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    with engine.no_grad():
        twin[0].weight.mul_(0)
    assert m[0].weight.detach().numpy().any()


@pytest.mark.parametrize(
    ("name", "args"),
    [("relu", ()), ("silu", ()), ("elu", (0.5,)), ("leaky_relu", (0.2,))],
)
def test_functional_inplace_activations_match_torch(name: str, args: tuple[Any, ...]) -> None:
    """``F.relu(x, inplace=True)`` and friends (keyword or positional) write into x, as torch."""
    import torch as real

    a = np.array([[-1.5, 0.25, 2.0], [0.5, -0.75, 1.0]])
    got, want = [], []
    for m, out in ((engine, got), (real, want)):
        F = m.nn.functional
        w = m.tensor(a, requires_grad=True)
        x = w * 1.0
        y = getattr(F, name)(x, *args, inplace=True)
        z = getattr(F, name)(w * 1.0, *args, True)
        assert y is x
        (y.sum() + (z * 2).sum()).backward()
        out += [x.detach().numpy(), z.detach().numpy(), w.grad.numpy()]
        if name == "relu":
            out.append(y.grad_fn.name())
    for g, t in zip(got, want, strict=True):
        if isinstance(g, str):
            assert g == t
        else:
            np.testing.assert_allclose(g, t, rtol=1e-12)
    x = engine.tensor(a)
    assert engine.nn.functional.dropout(x, 0.5, True, inplace=True) is x


_FN_FORMS = [
    ("relu_", ()),
    ("exp_", ()),
    ("log_", ()),
    ("sqrt_", ()),
    ("sigmoid_", ()),
    ("tanh_", ()),
    ("neg_", ()),
    ("abs_", ()),
    ("clamp_", (0.3, 1.2)),
    ("fill_", (2.5,)),
    ("zero_", ()),
]


@pytest.mark.parametrize(("name", "args"), _FN_FORMS, ids=[n for n, _ in _FN_FORMS])
def test_function_forms_of_inplace_ops_match_torch(name: str, args: tuple[Any, ...]) -> None:
    """``torch.relu_(x)`` & co. are ``x.relu_()``: the same tensor back, values, grad_fn
    names and gradients as torch's; a non-tensor is torch's TypeError."""
    import torch as real

    a = np.array([[0.25, 1.5, 0.75], [2.0, 0.5, 1.25]])
    got = []
    for m in (engine, real):
        w = m.tensor(a, requires_grad=True)
        x = w * 1.0
        y = getattr(m, name)(x, *args)
        assert y is x
        (x * x).sum().backward()
        got.append((x.detach().numpy().copy(), x.grad_fn.name(), w.grad.numpy().copy()))
        with pytest.raises(TypeError, match=rf"{name}\(\)"):  # overloads word it otherwise
            getattr(m, name)(3.0)
    (v1, n1, g1), (v2, n2, g2) = got
    np.testing.assert_allclose(v1, v2, rtol=1e-12)
    np.testing.assert_allclose(g1, g2, rtol=1e-12)
    assert n1 == n2


@pytest.mark.parametrize(
    ("name", "args"), [("relu_", ()), ("elu_", (0.5,)), ("leaky_relu_", (0.2,))]
)
def test_functional_inplace_forms_match_torch(name: str, args: tuple[Any, ...]) -> None:
    import torch as real

    a = np.array([-1.5, 0.25, 2.0])
    outs = []
    for m in (engine, real):
        x = m.tensor(a)
        y = getattr(m.nn.functional, name)(x, *args)
        assert y is x
        outs.append(x.numpy().copy())
    np.testing.assert_allclose(outs[0], outs[1], rtol=1e-12)
