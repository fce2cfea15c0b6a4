"""``engine.optim`` against ``torch.optim``: every optimizer and option set, 100 steps each,
parameters compared after every step (float64: 1e-12 relative; float32: torch.testing's
default tolerances), plus param groups, schedulers and state_dict round trips."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

import engine

torch = pytest.importorskip("torch")

STEPS = 100

OPTIONS: dict[str, list[dict[str, Any]]] = {
    "SGD": [
        {"lr": 0.05},
        {"lr": 0.05, "momentum": 0.9},
        {"lr": 0.05, "momentum": 0.9, "dampening": 0.3},
        {"lr": 0.05, "momentum": 0.9, "nesterov": True},
        {"lr": 0.05, "momentum": 0.5, "weight_decay": 0.1},
        {"lr": 0.05, "momentum": 0.9, "nesterov": True, "weight_decay": 0.01, "maximize": True},
    ],
    "Adam": [
        {},
        {"lr": 0.01, "betas": (0.8, 0.99), "eps": 1e-6},
        {"lr": 0.01, "amsgrad": True},
        {"lr": 0.01, "weight_decay": 0.1},
        {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True, "maximize": True},
    ],
    "AdamW": [
        {},
        {"lr": 0.01, "weight_decay": 0.3},
        {"lr": 0.01, "amsgrad": True, "betas": (0.5, 0.9)},
        {"lr": 0.01, "maximize": True},
    ],
    "RMSprop": [
        {},
        {"lr": 0.01, "alpha": 0.9},
        {"lr": 0.01, "momentum": 0.9},
        {"lr": 0.01, "centered": True},
        {"lr": 0.01, "centered": True, "momentum": 0.5, "weight_decay": 0.1},
        {"lr": 0.01, "maximize": True, "eps": 1e-4},
    ],
    "Adagrad": [
        {},
        {"lr": 0.1, "lr_decay": 0.01},
        {"lr": 0.1, "weight_decay": 0.1, "initial_accumulator_value": 0.5},
        {"lr": 0.1, "eps": 1e-5, "maximize": True},
    ],
}
CASES = [(name, opts) for name, options in OPTIONS.items() for opts in options]


def _id(case: tuple[str, dict[str, Any]]) -> str:
    name, opts = case
    return name + ("-" + "-".join(f"{k}={v}" for k, v in opts.items()) if opts else "-defaults")


def _init(dtype: str) -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    return [rng.standard_normal((3, 4)).astype(dtype), rng.standard_normal(5).astype(dtype)]


def _grad(p: np.ndarray, step: int, k: int) -> np.ndarray:
    """A gradient that depends on the parameter (as a real loss's would) and on the step."""
    noise = np.random.default_rng(1000 * step + k).standard_normal(p.shape).astype(p.dtype)
    return (np.cos(p) * 2 + 0.3 * p + noise).astype(p.dtype)


def _run(lib: Any, name: str, opts: dict[str, Any], dtype: str, steps: int = STEPS):
    params = [lib.tensor(a, requires_grad=True) for a in _init(dtype)]
    opt = getattr(lib.optim, name)(params, **opts)
    for step in range(steps):
        opt.zero_grad()
        for k, p in enumerate(params):
            p.grad = lib.tensor(_grad(p.detach().numpy(), step, k))
        opt.step()
        yield step, [p.detach().numpy().copy() for p in params], opt


@pytest.mark.parametrize("case", CASES, ids=map(_id, CASES))
def test_float64_steps_match_torch(case: tuple[str, dict[str, Any]]) -> None:
    name, opts = case
    runs = zip(_run(engine, name, opts, "float64"), _run(torch, name, opts, "float64"), strict=True)
    for (step, ours, _), (_, theirs, _) in runs:
        for k, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14, err_msg=f"step {step} p{k}")


@pytest.mark.parametrize("case", CASES, ids=map(_id, CASES))
def test_float32_steps_match_torch(case: tuple[str, dict[str, Any]]) -> None:
    name, opts = case
    runs = zip(_run(engine, name, opts, "float32"), _run(torch, name, opts, "float32"), strict=True)
    for (step, ours, _), (_, theirs, _) in runs:
        for k, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert a.dtype == np.float32
            torch.testing.assert_close(
                torch.from_numpy(a), torch.from_numpy(b), msg=f"step {step} p{k}"
            )


def _state_arrays(sd: dict[str, Any]) -> dict[int, dict[str, np.ndarray]]:
    return {
        int(i): {k: np.asarray(v.numpy() if hasattr(v, "numpy") else v) for k, v in s.items()}
        for i, s in sd["state"].items()
    }


@pytest.mark.parametrize("case", CASES, ids=map(_id, CASES))
def test_state_dict_matches_torch(case: tuple[str, dict[str, Any]]) -> None:
    name, opts = case
    *_, (_, _, ours) = _run(engine, name, opts, "float64", steps=5)
    *_, (_, _, theirs) = _run(torch, name, opts, "float64", steps=5)
    a, b = ours.state_dict(), theirs.state_dict()
    assert a["param_groups"] == b["param_groups"]
    sa, sb = _state_arrays(a), _state_arrays(b)
    assert sa.keys() == sb.keys()
    for i in sa:
        assert sa[i].keys() == sb[i].keys()
        for k in sa[i]:
            assert sa[i][k].dtype == sb[i][k].dtype, (i, k)
            np.testing.assert_allclose(sa[i][k], sb[i][k], rtol=1e-12, err_msg=f"{i}.{k}")


@pytest.mark.parametrize("name", list(OPTIONS))
def test_load_state_dict_from_torch_continues_in_step(name: str) -> None:
    """Torch's state_dict (as arrays) loaded into the engine: both continue identically."""
    opts = OPTIONS[name][-1]
    *_, (_, _tp, topt) = _run(torch, name, opts, "float64", steps=7)
    tparams = [p for g in topt.param_groups for p in g["params"]]
    eparams = [engine.tensor(p.detach().numpy(), requires_grad=True) for p in tparams]
    eopt = getattr(engine.optim, name)(eparams, lr=123.0)  # overwritten by the load
    sd = topt.state_dict()
    eopt.load_state_dict(
        {"state": _state_arrays(sd), "param_groups": [dict(g) for g in sd["param_groups"]]}
    )
    assert eopt.param_groups[0]["lr"] == topt.param_groups[0]["lr"]
    for step in range(7, 30):
        for lib_params, opt in ((eparams, eopt), (tparams, topt)):
            for k, p in enumerate(lib_params):
                lib = engine if opt is eopt else torch
                p.grad = lib.tensor(_grad(p.detach().numpy(), step, k))
            opt.step()
        for a, b in zip(eparams, tparams, strict=True):
            np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12)


def _groups(lib: Any, params: list[Any]) -> list[dict[str, Any]]:
    return [
        {"params": [params[0]], "lr": 0.02, "momentum": 0.9},
        {"params": [params[1]], "weight_decay": 0.1, "nesterov": True, "momentum": 0.5},
    ]


def test_param_groups_with_per_group_options() -> None:
    out = []
    for lib in (engine, torch):
        params = [lib.tensor(a, requires_grad=True) for a in _init("float64")]
        opt = lib.optim.SGD(_groups(lib, params), lr=0.1)
        sched = lib.optim.lr_scheduler.StepLR(opt, step_size=3, gamma=0.5)
        for step in range(20):
            opt.zero_grad()
            for k, p in enumerate(params):
                p.grad = lib.tensor(_grad(p.detach().numpy(), step, k))
            opt.step()
            sched.step()
        out.append(([p.detach().numpy() for p in params], opt.state_dict()["param_groups"]))
    (ep, eg), (tp, tg) = out
    assert eg == tg
    for a, b in zip(ep, tp, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


SCHEDULERS: dict[str, Any] = {
    "StepLR": lambda m, o: m.optim.lr_scheduler.StepLR(o, step_size=4, gamma=0.3),
    "MultiStepLR": lambda m, o: m.optim.lr_scheduler.MultiStepLR(o, [3, 7, 7, 12], gamma=0.5),
    "ExponentialLR": lambda m, o: m.optim.lr_scheduler.ExponentialLR(o, gamma=0.9),
    "CosineAnnealingLR": lambda m, o: m.optim.lr_scheduler.CosineAnnealingLR(
        o, T_max=6, eta_min=1e-3
    ),
    "LambdaLR": lambda m, o: m.optim.lr_scheduler.LambdaLR(o, lambda e: 1 / (1 + e) ** 0.5),
    "LambdaLR-per-group": lambda m, o: m.optim.lr_scheduler.LambdaLR(
        o, [lambda e: 0.95**e, lambda e: 1.0 + math.sin(e)]
    ),
}


@pytest.mark.parametrize("name", list(SCHEDULERS))
def test_scheduler_rates_and_steps_match_torch(name: str) -> None:
    results = []
    for lib in (engine, torch):
        params = [lib.tensor(a, requires_grad=True) for a in _init("float64")]
        opt = lib.optim.Adam([{"params": [params[0]]}, {"params": [params[1]], "lr": 0.05}], lr=0.1)
        sched = SCHEDULERS[name](lib, opt)
        rates = [sched.get_last_lr()]
        for step in range(25):
            for k, p in enumerate(params):
                p.grad = lib.tensor(_grad(p.detach().numpy(), step, k))
            opt.step()
            sched.step()
            rates.append(sched.get_last_lr())
        results.append((rates, [p.detach().numpy() for p in params]))
    (er, ep), (tr, tp) = results
    np.testing.assert_allclose(np.array(er), np.array(tr), rtol=1e-15)
    for a, b in zip(ep, tp, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_scheduler_jump_by_epoch_uses_the_closed_form() -> None:
    rates = []
    for lib in (engine, torch):
        opt = lib.optim.SGD([lib.tensor([1.0], requires_grad=True)], lr=1.0)
        s = lib.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
        with pytest.warns(UserWarning) if lib is torch else _nothing():
            s.step(7)
        rates.append(s.get_last_lr())
    assert rates[0] == rates[1] == [0.125]


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *a: Any) -> None:
        return None


def test_zero_grad_set_to_none_and_to_zero() -> None:
    p = engine.tensor([1.0, 2.0], requires_grad=True)
    opt = engine.optim.SGD([p], lr=0.1)
    p.grad = engine.tensor([3.0, 4.0])
    opt.zero_grad(set_to_none=False)
    assert p.grad is not None and p.grad.tolist() == [0.0, 0.0]
    opt.zero_grad()
    assert p.grad is None


def test_step_skips_parameters_without_grad_and_bumps_versions() -> None:
    a = engine.tensor([1.0], requires_grad=True)
    b = engine.tensor([1.0], requires_grad=True)
    opt = engine.optim.Adam([a, b], lr=0.5)
    a.grad = engine.tensor([1.0])
    opt.step()
    assert a.item() == pytest.approx(0.5) and b.item() == 1.0
    assert b not in opt.state and a in opt.state
    assert a._version == 1  # an in-place update, as torch's


def test_closure_is_called_with_grad_enabled() -> None:
    p = engine.tensor([2.0], requires_grad=True)
    opt = engine.optim.SGD([p], lr=0.1)

    def closure() -> Any:
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss

    with engine.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 4.0
    assert p.item() == pytest.approx(2.0 - 0.1 * 4.0)


ERRORS = [
    ("SGD", {"lr": -1.0}, "Invalid learning rate: -1.0"),
    ("SGD", {"momentum": -0.1}, "Invalid momentum value: -0.1"),
    ("SGD", {"weight_decay": -1}, "Invalid weight_decay value: -1"),
    ("SGD", {"nesterov": True}, "Nesterov momentum requires a momentum and zero dampening"),
    ("Adam", {"betas": (1.0, 0.9)}, "Invalid beta parameter at index 0: 1.0"),
    ("Adam", {"betas": (0.9, -0.1)}, "Invalid beta parameter at index 1: -0.1"),
    ("Adam", {"eps": -1e-3}, "Invalid epsilon value: -0.001"),
    ("AdamW", {"weight_decay": -0.5}, "Invalid weight_decay value: -0.5"),
    ("RMSprop", {"alpha": -0.5}, "Invalid alpha value: -0.5"),
    ("RMSprop", {"momentum": -0.5}, "Invalid momentum value: -0.5"),
    ("Adagrad", {"lr_decay": -0.5}, "Invalid lr_decay value: -0.5"),
    (
        "Adagrad",
        {"initial_accumulator_value": -1.0},
        "Invalid initial_accumulator_value value: -1.0",
    ),
]


@pytest.mark.parametrize(("name", "opts", "message"), ERRORS, ids=[e[2] for e in ERRORS])
def test_bad_hyperparameters_raise_torchs_value_error(name: str, opts: Any, message: str) -> None:
    for lib in (engine, torch):
        p = lib.tensor([1.0], requires_grad=True)
        with pytest.raises(ValueError, match=f"^{message.replace('(', '.').replace(')', '.')}$"):
            getattr(lib.optim, name)([p], **opts)


def test_bad_parameter_lists_raise_as_torch() -> None:
    for lib in (engine, torch):
        p = lib.tensor([1.0], requires_grad=True)
        with pytest.raises(TypeError, match="iterable of Tensors or dicts"):
            lib.optim.SGD(p)
        with pytest.raises(ValueError, match="empty parameter list"):
            lib.optim.SGD([])
        with pytest.raises(ValueError, match="more than one parameter group"):
            lib.optim.SGD([{"params": [p]}, {"params": [p]}])
        with pytest.raises(ValueError, match="non-leaf"):
            lib.optim.SGD([p * 2])


def test_repr_matches_torch() -> None:
    reprs = []
    for lib in (engine, torch):
        p = lib.tensor([1.0], requires_grad=True)
        reprs.append(repr(lib.optim.AdamW([p], lr=0.01)))
    assert reprs[0] == reprs[1]
