"""A fit through a custom autograd Function: y = w0 + w1 * H2(w2 + w3 t) with the Hermite
polynomial H2(u) = 4u^2 - 2, its derivative written in backward.
Through the client, backward is traced into a template the server replays.
"""

import torch


class Hermite2(torch.autograd.Function):
    @staticmethod
    def forward(ctx, u):
        ctx.save_for_backward(u)
        return 4 * u * u - 2

    @staticmethod
    def backward(ctx, g):
        (u,) = ctx.saved_tensors
        return g * 8 * u


t = torch.linspace(-1.0, 1.0, 400, dtype=torch.float)
target = t.abs()

w = [torch.full((), v, dtype=torch.float, requires_grad=True) for v in (0.2, 0.1, 0.0, 0.5)]
step = 1e-4
for it in range(300):
    pred = w[0] + w[1] * Hermite2.apply(w[2] + w[3] * t)
    sse = (pred - target).pow(2).sum()
    if it % 60 == 59:
        print(f"iter {it}: sse={sse.item():.4f}")
    sse.backward()
    with torch.no_grad():
        for p in w:
            p -= step * p.grad
            p.grad = None

print("w:", ", ".join(f"{p.item():.4f}" for p in w))
print(pred.grad_fn)
