"""examples/train_mlp.py on PyTorch, on the engine and through the client: the same losses
step by step (float64), from the same initial weights."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
from client_testkit import EXAMPLES, load_example

import engine
from client import RemoteTorch

STEPS = 60


def _weights(model: Any) -> dict[str, np.ndarray]:
    return {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}


def test_losses_match_torch_step_by_step(torch: RemoteTorch, ref: Any) -> None:
    example = load_example("train_mlp")
    ref.manual_seed(0)
    start = example.build_model(ref)
    init = _weights(start)
    _, t_losses, t_acc = example.train(ref, start, steps=STEPS)

    e_model = example.build_model(engine)
    e_model.load_state_dict(init)
    _, e_losses, e_acc = example.train(engine, e_model, steps=STEPS)

    r_model = example.build_model(torch)
    r_model.load_state_dict(init)
    before = torch.requests
    _, r_losses, r_acc = example.train(torch, r_model, steps=STEPS)
    requests = torch.requests - before

    np.testing.assert_allclose(e_losses, t_losses, rtol=1e-10)
    np.testing.assert_allclose(r_losses, t_losses, rtol=1e-10)
    assert t_losses[-1] < 0.5 * t_losses[0]
    assert e_acc == r_acc == pytest.approx(t_acc)
    # per step: zero_grad, the lazy forward (one graph request), backward, step, loss.item()
    assert requests <= STEPS * 5 + 10, requests


def test_the_example_converges_on_the_engine() -> None:
    engine.manual_seed(0)
    _, losses, accuracy = load_example("train_mlp").train(engine)
    assert losses[-1] < 0.3 * losses[0]
    assert accuracy > 0.9


def test_script_runs(server: str) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "train_mlp.py"), server],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(EXAMPLES.parent)},
    )
    assert done.returncode == 0, done.stderr
    assert "Sequential(" in done.stdout
    accuracy = float(done.stdout.split("accuracy")[1].split()[0])
    assert accuracy > 0.9
