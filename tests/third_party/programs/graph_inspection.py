"""Walking the graph autograd records, as PyTorch's introyt/autogradyt_tutorial.py does:
grad_fn, next_functions, AccumulateGrad and its variable.

ways: torch engine
(The client knows a grad_fn's name only: next_functions through the client would need the
server to send the graph's structure, see docs/unsupported.md.)
"""

import math

import torch

a = torch.linspace(0.0, 2.0 * math.pi, steps=25, requires_grad=True)
b = torch.sin(a)
c = 2 * b
d = c + 1
out = d.sum()


def names(fn):
    return [f.name() if f is not None else None for f, _ in fn.next_functions]


print("d:", d.grad_fn.name(), names(d.grad_fn))
print("c:", c.grad_fn.name(), names(c.grad_fn))
print("b:", b.grad_fn.name(), names(b.grad_fn))
acc = b.grad_fn.next_functions[0][0]
print(acc.name(), acc.variable is a, names(acc))

fn, chain = out.grad_fn, []
while fn is not None:
    chain.append(fn.name())
    nxt = [f for f, _ in fn.next_functions if f is not None]
    fn = nxt[0] if nxt else None
print(" -> ".join(chain))
