"""examples/train_linear.py: SGD through the client converges, in few round trips."""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from typing import Any

import numpy as np
from client_testkit import EXAMPLES, load_example

from client import RemoteTorch


def test_linear_regression_converges(torch: RemoteTorch) -> None:
    example = load_example("train_linear")
    before = torch.requests
    w, b, losses = example.train(torch, steps=60, lr=0.1)
    assert losses[0] > 1.0
    assert losses[-1] < 1e-3
    assert all(later <= earlier * 1.01 for earlier, later in itertools.pairwise(losses))
    np.testing.assert_allclose(w.detach().numpy().ravel(), [2.0, -3.4, 1.5], atol=0.02)
    assert abs(b.item() - example.TRUE_B) < 0.02
    assert torch.requests - before <= 60 * 4 + 10  # forward+backward, zero_grad, loss read


def test_same_code_runs_on_torch(ref: Any) -> None:
    ref.manual_seed(0)
    _, _, losses = load_example("train_linear").train(ref, steps=60, lr=0.1)
    assert losses[-1] < 1e-3


def test_script_runs(server: str) -> None:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "train_linear.py"), server],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "PYTHONPATH": str(EXAMPLES.parent)},
    )
    assert done.returncode == 0, done.stderr
    last = [line for line in done.stdout.splitlines() if line.startswith("step")][-1]
    assert float(last.split()[-1]) < 1e-3
