"""An MLP classifier trained with nn.Sequential, CrossEntropyLoss, AdamW and StepLR.

Ordinary PyTorch code: ``train(torch)`` runs unchanged on PyTorch itself, on the engine
in process (``import engine as torch``) and through a server session
(``torch = client.connect(url)``). Through the client the model's parameters and the
optimizer's state stay in the session: a step is one lazy forward sent with
``backward``, and ``opt.step()`` / ``opt.zero_grad()`` are one small request each.

Usage: python examples/train_mlp.py [URL]   (default: $GRADSERVE_URL or http://127.0.0.1:8000)
"""

from __future__ import annotations

import os
import sys
from typing import Any

import numpy as np

FEATURES, CLASSES, HIDDEN = 2, 3, 32


def make_data(n: int = 600, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three interleaved spirals in the plane (NumPy, seeded): float64 points, int64 labels."""
    rng = np.random.default_rng(seed)
    per = n // CLASSES
    xs, ys = [], []
    for k in range(CLASSES):
        r = np.linspace(0.1, 1.0, per)
        theta = np.linspace(k * 2 * np.pi / CLASSES, k * 2 * np.pi / CLASSES + 3.0, per)
        theta = theta + rng.normal(0, 0.15, per)
        xs.append(np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1))
        ys.append(np.full(per, k))
    order = rng.permutation(per * CLASSES)
    return np.concatenate(xs)[order], np.concatenate(ys)[order].astype(np.int64)


def build_model(torch: Any) -> Any:
    nn = torch.nn
    return nn.Sequential(
        nn.Linear(FEATURES, HIDDEN),
        nn.ReLU(),
        nn.Linear(HIDDEN, HIDDEN),
        nn.ReLU(),
        nn.Linear(HIDDEN, CLASSES),
    ).double()


def train(
    torch: Any, model: Any = None, steps: int = 150, batch: int = 100, lr: float = 0.02
) -> tuple[Any, list[float], float]:
    """Minibatch training; returns the model, each step's loss and the final accuracy."""
    X, y = make_data()
    inputs, labels = torch.tensor(X), torch.tensor(y)
    model = build_model(torch) if model is None else model
    loss_fn = torch.nn.CrossEntropyLoss()
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-2)
    scheduler = torch.optim.lr_scheduler.StepLR(opt, step_size=50, gamma=0.5)
    losses = []
    for step in range(steps):
        start = (step * batch) % len(X)
        xb, yb = inputs[start : start + batch], labels[start : start + batch]
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        scheduler.step()
        losses.append(loss.item())
    with torch.no_grad():
        correct = (model(inputs).argmax(1) == labels).sum().item()
    return model, losses, correct / len(X)


def main(argv: list[str]) -> int:
    from client import connect

    url = argv[1] if len(argv) > 1 else os.environ.get("GRADSERVE_URL", "http://127.0.0.1:8000")
    with connect(url, seed=0) as torch:
        model, losses, accuracy = train(torch)
        print(model)
        for step in (0, 49, 99, len(losses) - 1):
            print(f"step {step + 1:4d}  loss {losses[step]:.6f}")
        print(f"accuracy {accuracy:.3f}")
        print(f"{torch.requests} HTTP requests")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
