"""Walking the graph autograd records: grad_fn, next_functions, AccumulateGrad and its
variable.
Through the client, next_functions asks the server for the graph's structure.
"""

import torch

x = torch.linspace(0.0, 1.0, steps=6, requires_grad=True)
y = (x.exp() * 2 - x).sum()


def names(fn):
    return [f.name() if f is not None else None for f, _ in fn.next_functions]


fn, chain = y.grad_fn, []
while fn is not None:
    chain.append(f"{fn.name()}{names(fn)}")
    nxt = [f for f, _ in fn.next_functions if f is not None]
    fn = nxt[0] if nxt else None
print("\n".join(chain))
acc = y.grad_fn.next_functions[0][0].next_functions[1][0]
print(acc.name(), acc.variable is x)
