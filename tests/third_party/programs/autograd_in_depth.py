"""Autograd beyond the basics, the topics of PyTorch's introyt autograd tutorial: printing
tensors with their grad_fn, switching recording per tensor and per block, decorated
functions, detach, an in-place error, and autograd.functional (no plotting, no models)."""

import math

import torch

angle = torch.linspace(-math.pi, math.pi, steps=17, requires_grad=True)
wave = torch.cos(angle) * 3 - 0.5
print(wave)
total = wave.sum()
print(total)
print("wave:", wave.grad_fn.name(), "total:", total.grad_fn.name(), "angle:", angle.grad_fn)
total.backward()
print(angle.grad)

m = torch.full((2, 2), 1.5, requires_grad=True)
print(m * 4)
m.requires_grad = False
print(m * 4)

u = torch.ones(3, requires_grad=True) + 1
v = torch.ones(3, requires_grad=True) * 5
print(u * v)
with torch.no_grad():
    print(u * v)


@torch.no_grad()
def mix(a, b):
    return a - b


def mix_tracked(a, b):
    return a - b


print(mix(u, v), mix_tracked(u, v))

r = torch.rand(4, requires_grad=True)
print(r.detach().requires_grad, r.requires_grad)

leaf = torch.linspace(0.0, 1.0, steps=5, requires_grad=True)
try:
    leaf.mul_(2)
except RuntimeError as e:
    print("in-place on a leaf:", str(e)[:50])


def blend(a, b):
    return a.exp() * b + b**2


pair = (torch.rand(2), torch.rand(2))
print(torch.autograd.functional.jacobian(blend, pair))


def grow(x):
    y = x * 3
    while y.detach().abs().sum() < 500:
        y = y * 3
    return y


print(torch.autograd.functional.vjp(grow, torch.randn(3), v=torch.tensor([1.0, 0.1, 0.01]))[1])
