"""The tour of autograd in PyTorch's introyt/autogradyt_tutorial.py, written again: a graph
over linspace/sin, next_functions, gradients, grad mode switches, detach, in-place errors,
and autograd.functional on a small function (no plotting, no model classes)."""

import math

import torch

a = torch.linspace(0.0, 2.0 * math.pi, steps=25, requires_grad=True)
print(a)
b = torch.sin(a)
print(b)
c = 2 * b
print(c)
d = c + 1
print(d)
out = d.sum()
print(out)

print("d:", d.grad_fn.name())
print("c:", c.grad_fn.name())
print("b:", b.grad_fn.name())
print("a:", a.grad_fn)

out.backward()
print(a.grad)

a = torch.ones(2, 3, requires_grad=True)
b1 = 2 * a
print(b1)
a.requires_grad = False
b2 = 2 * a
print(b2)

a = torch.ones(2, 3, requires_grad=True) * 2
b = torch.ones(2, 3, requires_grad=True) * 3
c1 = a + b
print(c1)
with torch.no_grad():
    c2 = a + b
print(c2)
c3 = a * b
print(c3)


def add_tensors1(x, y):
    return x + y


@torch.no_grad()
def add_tensors2(x, y):
    return x + y


a = torch.ones(2, 3, requires_grad=True) * 2
b = torch.ones(2, 3, requires_grad=True) * 3
print(add_tensors1(a, b))
print(add_tensors2(a, b))

x = torch.rand(5, requires_grad=True)
y = x.detach()
print(x.requires_grad, y.requires_grad)

a = torch.linspace(0.0, 2.0 * math.pi, steps=25, requires_grad=True)
try:
    torch.sin(a, out=a) if False else a.sin_() if hasattr(a, "sin_") else a.mul_(2)
except RuntimeError as e:
    print("in-place on a leaf:", str(e)[:60])


def exp_adder(x, y):
    return 2 * x.exp() + 3 * y


inputs = (torch.rand(3), torch.rand(3))
print(torch.autograd.functional.jacobian(exp_adder, inputs))
inputs = (torch.rand(1), torch.rand(1))
print(torch.autograd.functional.jacobian(exp_adder, inputs))


def do_some_doubling(x):
    y = x * 2
    while y.detach().norm() < 1000:
        y = y * 2
    return y


inputs = torch.randn(3)
my_gradients = torch.tensor([0.1, 1.0, 0.0001])
print(torch.autograd.functional.vjp(do_some_doubling, inputs, v=my_gradients)[1])
