"""The torch-namespace functions (``engine.exp``, ``engine.matmul``, ...), built from the op table.

Every op with a ``function`` or ``nn`` variant is here under its name and its aliases
(``clip``, ``multiply``, ...), with torch's signature; nothing here differentiates.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .ops import OPS
from .signatures import inplace_function
from .tensor import Tensor
from .torch_names import TORCH_NAMES

__all__: list[str] = []

for _op in OPS.values():
    if "function" in _op.variants or "nn" in _op.variants:
        for _name in (_op.name, *_op.aliases):
            globals()[_name] = _op.fn
            __all__.append(_name)
# torch's function forms of in-place methods (torch.relu_, torch.exp_, ...)
for _op in OPS.values():
    if "inplace" in _op.variants:
        for _name in (_op.name + "_", *(a + "_" for a in _op.aliases)):
            if _name in TORCH_NAMES["torch"] and _name not in globals():
                globals()[_name] = inplace_function(_name, Tensor)
                __all__.append(_name)
__all__.sort()

if TYPE_CHECKING:

    def __getattr__(name: str) -> Any: ...
