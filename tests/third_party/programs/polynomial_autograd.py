"""The same least-squares fit, gradients from autograd: parameters in a list, updated under
no_grad, gradients reset to None."""

import math

import torch

t = torch.linspace(0.0, math.pi, 500, dtype=torch.float)
target = torch.cos(t)

torch.manual_seed(3)
coef = [torch.randn((), dtype=torch.float, requires_grad=True) for _ in range(3)]

step = 2e-5
for it in range(300):
    fit = coef[0] + coef[1] * t + coef[2] * t**2
    sse = ((fit - target) ** 2).sum()
    if it % 60 == 59:
        print(f"iter {it}: sse={sse.item():.4f}")
    sse.backward()
    with torch.no_grad():
        for c in coef:
            c -= step * c.grad
            c.grad = None

print("fit:", ", ".join(f"{c.item():.4f}" for c in coef))
print(coef[0].requires_grad, coef[0].is_leaf, sse.grad_fn.name())
