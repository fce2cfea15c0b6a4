"""A two-layer ReLU network trained with autograd on random data (the task of PyTorch's
examples_autograd/two_layer_net_autograd.py, smaller)."""

import torch

dtype = torch.float
N, D_in, H, D_out = 16, 30, 20, 4

torch.manual_seed(1)
x = torch.randn(N, D_in, dtype=dtype)
y = torch.randn(N, D_out, dtype=dtype)
w1 = torch.randn(D_in, H, dtype=dtype, requires_grad=True)
w2 = torch.randn(H, D_out, dtype=dtype, requires_grad=True)

learning_rate = 1e-4
for t in range(200):
    y_pred = x.mm(w1).clamp(min=0).mm(w2)
    loss = (y_pred - y).pow(2).sum()
    if t % 40 == 39:
        print(t, round(loss.item(), 3))
    loss.backward()
    with torch.no_grad():
        w1 -= learning_rate * w1.grad
        w2 -= learning_rate * w2.grad
        w1.grad.zero_()
        w2.grad.zero_()

print(w1.grad.abs().sum().item(), w2.shape, y_pred.grad_fn.name())
