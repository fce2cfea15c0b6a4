"""Linear regression by plain SGD, through the gradserve client.

The model, the loss and the update are ordinary PyTorch code; the tensors live in a
server session. Each step is a lazy forward (sent with the first value it needs), one
``backward``, and an in-place update under ``no_grad``.

Usage: python examples/train_linear.py [URL]   (default: $GRADSERVE_URL or http://127.0.0.1:8000)
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

from client import connect

TRUE_W = [[2.0], [-3.4], [1.5]]
TRUE_B = 4.2


def make_data(torch: Any, n: int = 256, seed: int = 0) -> tuple[Any, Any]:
    """``y = X @ w + b`` plus a little noise: the same numbers on every run and every backend
    (drawn here from a seeded NumPy generator, then sent as float32 tensors)."""
    rng = np.random.default_rng(seed)
    X = torch.tensor(rng.standard_normal((n, len(TRUE_W))).tolist())
    noise = torch.tensor(rng.standard_normal((n, 1)).tolist())
    y = X @ torch.tensor(TRUE_W) + TRUE_B + 0.01 * noise
    return X, y


def train(torch: Any, steps: int = 100, lr: float = 0.1) -> tuple[Any, Any, list[float]]:
    """Fit ``w`` and ``b`` by SGD on the mean squared error; returns them and the losses."""
    F = torch.nn.functional
    X, y = make_data(torch)
    w = torch.zeros(len(TRUE_W), 1, requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    losses = []
    for _ in range(steps):
        loss = F.mse_loss(X @ w + b, y)
        loss.backward()
        with torch.no_grad():
            w -= lr * w.grad
            b -= lr * b.grad
        w.grad = None  # zero_grad
        b.grad = None
        losses.append(loss.item())
    return w, b, losses


def main(argv: list[str]) -> int:
    url = argv[1] if len(argv) > 1 else os.environ.get("GRADSERVE_URL", "http://127.0.0.1:8000")
    with connect(url) as torch:
        w, b, losses = train(torch)
        for step in (0, 9, 49, len(losses) - 1):
            print(f"step {step + 1:4d}  loss {losses[step]:.6f}")
        print("w =", w.detach().flatten().tolist(), " (true:", [r[0] for r in TRUE_W], ")")
        print("b =", b.item(), " (true:", TRUE_B, ")")
        print(f"{torch.requests} HTTP requests")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
