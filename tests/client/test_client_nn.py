"""torch.nn and torch.optim through the client, against a live server and PyTorch.

Modules are the engine's classes bound to the session; optimizers live in the session:
a step is one request that moves no parameter or state bytes.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

import httpx
import numpy as np
import pytest

from client import RemoteTorch, connect

torch_ = pytest.importorskip("torch")


def _arrays(module: Any) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in module.state_dict().items()}


def _x(*shape: int, seed: int = 0, lo: float = -2.0, hi: float = 2.0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(lo, hi, shape)


LONG_T = np.array([0, 2, 1, 2])


def _Stack(nn: Any) -> Any:
    """A user subclass of nn.Module with a ModuleList and a ModuleDict (any backend)."""

    class Stack(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(3, 3) for _ in range(2)])
            self.heads = nn.ModuleDict({"out": nn.Linear(3, 2)})

        def forward(self, x: Any) -> Any:
            for layer in self.layers:
                x = nn.functional.silu(layer(x))
            return self.heads["out"](x)

    return Stack()


MODULES: dict[str, tuple[Any, tuple[np.ndarray, ...]]] = {
    "mlp": (
        lambda nn: nn.Sequential(
            nn.Linear(3, 6), nn.GELU(), nn.LayerNorm(6), nn.Linear(6, 3), nn.LogSoftmax(dim=1)
        ),
        (_x(4, 3),),
    ),
    "odict-silu": (
        lambda nn: nn.Sequential(OrderedDict([("act", nn.SiLU())])),
        (_x(4, 3),),
    ),
    "bilinear": (lambda nn: nn.Bilinear(3, 2, 4), (_x(5, 3), _x(5, 2, seed=1))),
    "embedding": (
        lambda nn: nn.Embedding(6, 3, padding_idx=2),
        (np.array([[1, 2, 5], [0, 2, 4]]),),
    ),
    "flatten-leaky": (lambda nn: nn.Sequential(nn.Flatten(), nn.LeakyReLU(0.2)), (_x(2, 3, 2),)),
    "activations": (
        lambda nn: nn.Sequential(
            nn.Linear(3, 4),
            nn.ReLU(),
            nn.Identity(),
            nn.Dropout(0.5).eval(),
            nn.Linear(4, 4),
            nn.Sigmoid(),
            nn.Linear(4, 4),
            nn.Tanh(),
            nn.Linear(4, 5),
            nn.GELU(approximate="tanh"),
            nn.Softmax(dim=-1),
        ),
        (_x(4, 3),),
    ),
    "layer_norm-2d-plain": (
        lambda nn: nn.LayerNorm([2, 3], elementwise_affine=False),
        (_x(4, 2, 3),),
    ),
    "linear-nobias-3d": (lambda nn: nn.Linear(3, 2, bias=False), (_x(2, 4, 3),)),
    "modulelist-dict": (
        lambda nn: _Stack(nn),
        (_x(4, 3),),
    ),
    "cross_entropy-probabilities": (
        lambda nn: nn.CrossEntropyLoss(reduction="sum"),
        (_x(4, 3), _x(4, 3, seed=2, lo=0, hi=1)),
    ),
    "cross_entropy": (
        lambda nn: nn.CrossEntropyLoss(label_smoothing=0.1, ignore_index=1),
        (_x(4, 3), LONG_T),
    ),
    "nll": (lambda nn: nn.NLLLoss(), (_x(4, 3), LONG_T)),
    "bce_logits": (lambda nn: nn.BCEWithLogitsLoss(), (_x(3, 4), _x(3, 4, seed=1, lo=0, hi=1))),
    "bce": (
        lambda nn: nn.BCELoss(),
        (_x(3, 4, lo=0.05, hi=0.95), _x(3, 4, seed=1, lo=0, hi=1)),
    ),
    "huber": (lambda nn: nn.HuberLoss(delta=0.5), (_x(3, 4), _x(3, 4, seed=1))),
    "l1": (lambda nn: nn.L1Loss(), (_x(3, 4), _x(3, 4, seed=1))),
    "mse": (lambda nn: nn.MSELoss(reduction="sum"), (_x(3, 4), _x(3, 4, seed=1))),
}


@pytest.mark.parametrize("name", list(MODULES))
def test_module_through_the_client_matches_torch(torch: RemoteTorch, name: str) -> None:
    factory, inputs = MODULES[name]
    tm, rm = factory(torch_.nn).double(), factory(torch.nn).double()
    assert repr(rm) == repr(tm)
    rm.load_state_dict(_arrays(tm))
    t_in = [torch_.tensor(a, requires_grad=a.dtype.kind == "f") for a in inputs]
    r_in = [torch.tensor(a, requires_grad=a.dtype.kind == "f") for a in inputs]
    t_out, r_out = tm(*t_in), rm(*r_in)
    np.testing.assert_allclose(r_out.detach().numpy(), t_out.detach().numpy(), rtol=1e-10)
    up = np.random.default_rng(3).standard_normal(tuple(t_out.shape))
    t_out.backward(torch_.tensor(up))
    r_out.backward(torch.tensor(up))
    for a, b in zip(r_in, t_in, strict=True):
        if b.grad is not None:
            np.testing.assert_allclose(a.grad.numpy(), b.grad.numpy(), rtol=1e-10)
    tp, rp = dict(tm.named_parameters()), dict(rm.named_parameters())
    assert list(tp) == list(rp)
    for k in tp:
        np.testing.assert_allclose(rp[k].grad.numpy(), tp[k].grad.numpy(), rtol=1e-10, atol=1e-14)


def test_state_dict_round_trips_through_the_session(torch: RemoteTorch) -> None:
    tm = torch_.nn.Sequential(torch_.nn.Linear(4, 3), torch_.nn.Tanh(), torch_.nn.Linear(3, 2))
    rm = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.Tanh(), torch.nn.Linear(3, 2))
    assert list(rm.state_dict()) == list(tm.state_dict())
    rm.load_state_dict(_arrays(tm))
    back = torch_.nn.Sequential(torch_.nn.Linear(4, 3), torch_.nn.Tanh(), torch_.nn.Linear(3, 2))
    back.load_state_dict({k: torch_.from_numpy(v) for k, v in _arrays(rm).items()})
    x = _x(5, 4).astype(np.float32)
    torch_.testing.assert_close(
        back(torch_.from_numpy(x)), tm(torch_.from_numpy(x)), rtol=0, atol=0
    )
    r = rm(torch.tensor(x)).detach().numpy()
    np.testing.assert_allclose(r, tm(torch_.from_numpy(x)).detach().numpy(), rtol=1e-5, atol=1e-6)
    assert isinstance(rm[0].weight, torch.nn.Parameter) and rm[0].weight.is_leaf
    assert repr(rm[0].bias).startswith("Parameter containing:\ntensor([")


def test_default_init_bounds_and_seeded_reproducibility(server: str) -> None:
    weights = []
    for _ in range(2):
        with connect(server, seed=11) as t:
            lin = t.nn.Linear(200, 300)
            w = lin.weight.detach().numpy()
            assert w.dtype == np.float32 and w.shape == (300, 200)
            assert np.abs(w).max() <= 1 / 200**0.5 and np.abs(w).max() > 0.99 / 200**0.5
            weights.append(w)
    np.testing.assert_array_equal(weights[0], weights[1])


OPTIMIZERS = [
    ("SGD", {"lr": 0.1, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01}),
    ("Adam", {"lr": 0.05, "amsgrad": True}),
    ("AdamW", {"lr": 0.05}),
    ("RMSprop", {"lr": 0.01, "centered": True, "momentum": 0.5}),
    ("Adagrad", {"lr": 0.1, "lr_decay": 0.01}),
]


def _setup(lib: Any) -> tuple[Any, Any, Any]:
    gen = np.random.default_rng(0)
    x = lib.tensor(gen.standard_normal((16, 3)))
    y = lib.tensor(gen.integers(0, 2, 16))
    model = lib.nn.Sequential(lib.nn.Linear(3, 8), lib.nn.Tanh(), lib.nn.Linear(8, 2)).double()
    return model, x, y


@pytest.mark.parametrize(("name", "opts"), OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_optimizer_steps_match_torch(torch: RemoteTorch, name: str, opts: dict[str, Any]) -> None:
    results = []
    init = None
    for lib in (torch_, torch):
        model, x, y = _setup(lib)
        if init is None:
            init = _arrays(model)
        else:
            model.load_state_dict(init)
        opt = getattr(lib.optim, name)(model.parameters(), **opts)
        sched = lib.optim.lr_scheduler.ExponentialLR(opt, gamma=0.9)
        loss_fn = lib.nn.CrossEntropyLoss()
        losses = []
        for _ in range(8):
            opt.zero_grad()
            loss = loss_fn(model(x), y)
            loss.backward()
            opt.step()
            sched.step()
            losses.append(loss.item())
        results.append((losses, _arrays(model), opt.state_dict()))
    (tl, tp, ts), (rl, rp, rs) = results
    np.testing.assert_allclose(rl, tl, rtol=1e-10)
    for k in tp:
        np.testing.assert_allclose(rp[k], tp[k], rtol=1e-10, atol=1e-14, err_msg=k)
    assert rs["param_groups"] == ts["param_groups"]
    assert rs["state"].keys() == ts["state"].keys()
    for i, st in ts["state"].items():
        assert rs["state"][i].keys() == st.keys()
        for key, value in st.items():
            np.testing.assert_allclose(rs["state"][i][key], value.numpy(), rtol=1e-10, atol=1e-14)


class _Counter:
    """Requests and their body and response bytes (httpx event hooks)."""

    def __init__(self, http: httpx.Client) -> None:
        self.calls: list[tuple[str, str, int, int]] = []
        http.event_hooks = {"request": [], "response": [self._response]}

    def _response(self, response: httpx.Response) -> None:
        response.read()
        req = response.request
        self.calls.append((req.method, req.url.path, len(req.content), len(response.content)))


def test_a_step_is_one_request_that_moves_no_parameter_bytes(torch: RemoteTorch) -> None:
    nn = torch.nn
    model = nn.Sequential(nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 10))
    nbytes = sum(p.numel() * 4 for p in model.parameters())
    assert nbytes > 250_000
    x = torch.randn(32, 256)
    y = torch.tensor(np.arange(32) % 10)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)
    counter = _Counter(torch.connection.http)
    for _ in range(3):
        loss = nn.functional.cross_entropy(model(x), y)
        loss.backward()  # recorded (deferred): the step sends it first
        torch.sync()
        counter.calls.clear()
        opt.step()
        assert len(counter.calls) == 1, counter.calls
        method, path, sent, received = counter.calls[0]
        assert path.endswith(f"/optimizers/{opt.name}/step") and method == "POST"
        assert sent < 200 and received < 200, counter.calls  # counts, never values
        counter.calls.clear()
        opt.zero_grad()  # recorded like p.grad = None: no request of its own
        assert not counter.calls
        torch.sync()
        assert len(counter.calls) == 1 and counter.calls[0][1].endswith("/graph")
        assert counter.calls[0][2] < 400 and counter.calls[0][3] < 100  # names, never values
        sched.step()
    assert all(p.grad is None for p in model.parameters())
    info = torch.connection.call("GET", f"/optimizers/{opt.name}")
    assert info["steps"] == 3 and info["param_groups"][0]["lr"] == 1e-3 * 0.5**2
    assert info["state_bytes"] == 2 * nbytes  # Adam's two moments, in the session
    assert torch.connection.session_info()["bytes"] >= 3 * nbytes


def test_bad_hyperparameters_fail_before_any_request(torch: RemoteTorch) -> None:
    w = torch.nn.Parameter(torch.zeros(2))
    before = torch.requests
    with pytest.raises(ValueError, match="Invalid learning rate: -1"):
        torch.optim.SGD([w], lr=-1)
    with pytest.raises(ValueError, match="Nesterov momentum requires"):
        torch.optim.SGD([w], nesterov=True)
    assert torch.requests == before
    opt = torch.optim.SGD([w], lr=0.1)
    with pytest.raises(NotImplementedError, match="add_param_group"):
        opt.add_param_group({"params": [torch.nn.Parameter(torch.ones(1))]})


@pytest.mark.parametrize("norm_type", [2.0, float("inf")])
def test_clip_grad_through_the_client_matches_torch(torch: RemoteTorch, norm_type: float) -> None:
    out = []
    for lib in (torch_, torch):
        ps = [
            lib.nn.Parameter(lib.zeros(3, 4, dtype=lib.float64)),
            lib.nn.Parameter(lib.zeros(5, dtype=lib.float64)),
        ]
        loss = (ps[0] * lib.tensor(_x(3, 4, seed=1))).sum() + (
            ps[1] * lib.tensor(_x(5, seed=2))
        ).sum()
        loss.backward()
        total = lib.nn.utils.clip_grad_norm_(ps, 0.5, norm_type=norm_type)
        lib.nn.utils.clip_grad_value_(ps, 0.1)
        out.append((float(total.item()), [p.grad.numpy() for p in ps]))
    assert out[1][0] == pytest.approx(out[0][0], rel=1e-12)
    for a, b in zip(out[1][1], out[0][1], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_init_functions_fill_session_tensors(torch: RemoteTorch) -> None:
    init = torch.nn.init
    t = torch.zeros(400, 300, dtype=torch.float64)
    init.xavier_uniform_(t, gain=init.calculate_gain("tanh"))
    a = t.numpy()
    bound = 5 / 3 * (6 / 700) ** 0.5
    assert np.abs(a).max() <= bound and np.abs(a).max() > 0.99 * bound
    init.kaiming_normal_(t, mode="fan_out", nonlinearity="relu")
    assert abs(t.numpy().std() - (2 / 400) ** 0.5) < 0.02 * (2 / 400) ** 0.5
    init.normal_(t, 1.0, 0.5)
    assert abs(t.numpy().mean() - 1.0) < 0.01 and abs(t.numpy().std() - 0.5) < 0.01
    init.constant_(t, 0.25)
    assert set(np.unique(t.numpy())) == {0.25}
    init.zeros_(t)
    assert not t.numpy().any()
    init.ones_(t)
    assert t.numpy().min() == 1.0


def test_dropout_trains_and_evaluates_through_the_client(torch: RemoteTorch) -> None:
    d = torch.nn.Dropout(0.25)
    x = torch.ones(100, 40, dtype=torch.float64, requires_grad=True)
    y = d(x)
    values = y.detach().numpy()
    np.testing.assert_allclose(np.unique(values), [0.0, 1 / 0.75])
    assert abs((values != 0).mean() - 0.75) < 0.03
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), values)
    d.eval()
    assert d(x) is x


def test_optimizer_state_dict_round_trips_with_torch(torch: RemoteTorch) -> None:
    """torch's Adam state loaded into the session's optimizer: both continue in step."""
    init = _x(3, 4, seed=4)
    grads = [_x(3, 4, seed=10 + i) for i in range(8)]
    tp = torch_.nn.Parameter(torch_.tensor(init))
    topt = torch_.optim.Adam([tp], lr=0.05, amsgrad=True)
    for g in grads[:4]:
        tp.grad = torch_.tensor(g)
        topt.step()
    rp = torch.nn.Parameter(torch.tensor(tp.detach().numpy()))
    ropt = torch.optim.Adam([rp], lr=1.0)
    ropt.load_state_dict(topt.state_dict())
    assert ropt.param_groups[0]["amsgrad"] is True and ropt.param_groups[0]["lr"] == 0.05
    for g in grads[4:]:
        tp.grad = torch_.tensor(g)
        topt.step()
        loss = (rp * torch.tensor(g)).sum()  # d loss / d rp = g
        ropt.zero_grad()
        loss.backward()
        ropt.step()
    np.testing.assert_allclose(rp.detach().numpy(), tp.detach().numpy(), rtol=1e-12)
    back = ropt.state_dict()
    for key, value in topt.state_dict()["state"][0].items():
        np.testing.assert_allclose(back["state"][0][key], value.numpy(), rtol=1e-12)
    bad = topt.state_dict()
    bad["state"][0].pop("max_exp_avg_sq")
    with pytest.raises(RuntimeError, match="expected"):
        ropt.load_state_dict(bad)


def test_functional_inplace_activations_through_the_client(torch: RemoteTorch) -> None:
    import torch as real

    a = np.array([[-1.5, 0.25, 2.0], [0.5, -0.75, 1.0]])
    got, want = [], []
    for m, out in ((torch, got), (real, want)):
        F = m.nn.functional
        w = m.tensor(a, requires_grad=True)
        x = w * 1.0
        y = F.relu(x, inplace=True)
        z = F.leaky_relu(w * 1.0, 0.2, True)
        assert y is x
        (x.sum() + (z * 2).sum()).backward()
        out += [x.detach().numpy(), z.detach().numpy(), w.grad.numpy(), y.grad_fn.name()]
    for g, t in zip(got, want, strict=True):
        if isinstance(g, str):
            assert g == t
        else:
            np.testing.assert_allclose(g, t, rtol=1e-12)


def test_function_forms_of_inplace_ops_through_the_client(torch: RemoteTorch) -> None:
    import torch as real

    a = np.array([-1.5, 0.25, 2.0])
    outs = []
    for m in (torch, real):
        w = m.tensor(a, requires_grad=True)
        x = w * 1.0
        assert m.relu_(x) is x
        assert m.exp_(m.tensor(a)).tolist() == np.exp(a).tolist()
        np.testing.assert_allclose(
            m.nn.functional.leaky_relu_(m.tensor(a), 0.2).tolist(), [-0.3, 0.25, 2.0]
        )
        x.sum().backward()
        outs.append((x.tolist(), x.grad_fn.name(), w.grad.tolist()))
        with pytest.raises(TypeError, match="relu_"):
            m.relu_(3.0)
    assert outs[0] == outs[1]
