"""A small two-layer tanh regression network, trained with autograd and a hand-written SGD
step (the kind of loop PyTorch's examples_autograd tutorials write)."""

import torch

torch.manual_seed(7)
samples, n_in, n_hidden, n_out = 24, 12, 8, 2
inputs = torch.randn(samples, n_in)
targets = torch.randn(samples, n_out)
w_in = torch.randn(n_in, n_hidden, requires_grad=True)
w_out = torch.randn(n_hidden, n_out, requires_grad=True)

lr = 2e-3
for epoch in range(150):
    hidden = torch.tanh(inputs @ w_in)
    pred = hidden.mm(w_out)
    err = (pred - targets).pow(2).mean()
    if epoch % 30 == 29:
        print(f"epoch {epoch}: mse={err.item():.5f}")
    err.backward()
    with torch.no_grad():
        for w in (w_in, w_out):
            w -= lr * w.grad
            w.grad.zero_()

print(round(w_in.grad.abs().sum().item(), 6), tuple(w_out.shape), pred.grad_fn.name())
