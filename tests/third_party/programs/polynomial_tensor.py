"""Least squares by hand: fit cos(t) on [0, pi] with a quadratic, gradients derived on paper
(no autograd) - the kind of program PyTorch's examples_tensor tutorial teaches."""

import math

import torch

t = torch.linspace(0.0, math.pi, 500, dtype=torch.float)
target = torch.cos(t)

torch.manual_seed(3)
coef = [torch.randn((), dtype=torch.float) for _ in range(3)]

step = 2e-5
for it in range(300):
    fit = coef[0] + coef[1] * t + coef[2] * t * t
    resid = fit - target
    if it % 60 == 59:
        print(f"iter {it}: sse={resid.pow(2).sum().item():.4f}")
    d_fit = 2.0 * resid
    grads = [d_fit.sum(), torch.matmul(d_fit, t), torch.matmul(input=d_fit, other=t * t)]
    for c, g in zip(coef, grads, strict=True):
        c -= step * g

print("fit:", ", ".join(f"{c.item():.4f}" for c in coef))
