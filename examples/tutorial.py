"""PyTorch's autograd tutorial ("Autograd: automatic differentiation", the 60-minute blitz)
run against a gradserve server. The tutorial's code is plain torch code in ``run(torch)``;
only the line that makes ``torch`` changed:

    import torch                  ->    torch = connect(url)

Usage: python examples/tutorial.py [URL]   (default: $GRADSERVE_URL or http://127.0.0.1:8000)
"""

from __future__ import annotations

import os
import sys
from typing import Any

from client import connect


def run(torch: Any) -> None:
    """The tutorial; ``torch`` is the real module or a gradserve session."""
    print("-- 1. a tensor that tracks computation")
    x = torch.ones(2, 2, requires_grad=True)
    print(x)

    print("-- 2. an operation: y was created by one, so it has a grad_fn")
    y = x + 2
    print(y)
    print(y.grad_fn)

    print("-- 3. more operations")
    z = y * y * 3
    out = z.mean()
    print(z, out)

    print("-- 4. requires_grad_() changes the flag in place")
    a = torch.randn(2, 2)
    a = (a * 3) / (a - 1)
    print(a.requires_grad)
    a.requires_grad_(True)
    print(a.requires_grad)
    b = (a * a).sum()
    print(b.grad_fn)

    print("-- 5. backprop: d(out)/dx")
    out.backward()
    print(x.grad)

    print("-- 6. define-by-run: the loop runs here, the values live on the server")
    x = torch.randn(3, requires_grad=True)
    y = x * 2
    while y.data.norm() < 1000:
        y = y * 2
    print(y)
    v = torch.tensor([0.1, 1.0, 0.0001], dtype=torch.float)
    y.backward(v)
    print(x.grad)

    print("-- 7. no_grad stops the tracking")
    print(x.requires_grad)
    print((x**2).requires_grad)
    with torch.no_grad():
        print((x**2).requires_grad)

    print("-- 8. detach() gives the same values without the history")
    print(x.requires_grad)
    y = x.detach()
    print(y.requires_grad)
    print(x.eq(y).all())


def main(argv: list[str]) -> int:
    url = argv[1] if len(argv) > 1 else os.environ.get("GRADSERVE_URL", "http://127.0.0.1:8000")
    with connect(url) as torch:  # a new session; deleted at the end of the block
        run(torch)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
