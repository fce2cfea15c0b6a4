"""A first look at autograd, as PyTorch's quickstart takes it: a logistic unit, its graph,
gradients, turning recording off, and vector-Jacobian products that accumulate."""

import torch

torch.manual_seed(11)
features = torch.tensor([1.0, -1.0, 0.5, 2.0])
labels = torch.tensor([1.0, 0.0])
weight = torch.randn(4, 2, requires_grad=True)
bias = torch.zeros(2, requires_grad=True)

logits = features @ weight + bias
loss = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels)
print("logits from", logits.grad_fn.name(), "- loss from", loss.grad_fn.name())
loss.backward()
print(weight.grad)
print(bias.grad)

print((features @ weight).requires_grad)
with torch.no_grad():
    print((features @ weight).requires_grad)
print((features @ weight).detach().requires_grad)

grid = torch.eye(3, 4, requires_grad=True)
y = (2 * grid - 1).pow(3).t()
for label in ("once", "twice"):
    y.backward(torch.ones_like(y), retain_graph=True)
    print(label, grid.grad, sep="\n")
grid.grad.zero_()
y.backward(torch.ones_like(y))
print("after zero_", grid.grad, sep="\n")
