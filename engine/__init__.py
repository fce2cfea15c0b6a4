"""gradserve's autograd engine: PyTorch's autograd on NumPy (CuPy on a GPU).

``import engine as torch`` runs torch-style autograd code::

    x = engine.ones(2, 2, requires_grad=True)
    out = ((x + 2) * (x + 2) * 3).mean()
    out.backward()
    x.grad  # tensor([[4.5000, 4.5000], [4.5000, 4.5000]])
"""

from __future__ import annotations

from . import autograd, linalg, methods, nn, optim
from . import autograd_function as _autograd_function
from . import autograd_functional as _autograd_functional
from . import profiler as _profiler
from .autograd import enable_grad, is_grad_enabled, limits, no_grad, set_grad_enabled
from .backend import backends, get_backend, use_backend
from .device import accelerator, device, get_default_device, set_default_device
from .dtypes import (
    DType,
    as_dtype,
    bool_,
    float16,
    float32,
    float64,
    get_default_dtype,
    int32,
    int64,
    promote_types,
    result_type,
    set_default_dtype,
)
from .errors import *  # noqa: F403 - the exception tree is part of the API
from .errors import __all__ as _errors_all
from .factories import (
    arange,
    as_tensor,
    empty,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    logspace,
    manual_seed,
    ones,
    ones_like,
    rand,
    rand_like,
    randn,
    randn_like,
    tensor,
    zeros,
    zeros_like,
)
from .functional import *  # noqa: F403
from .functional import __all__ as _functional_all
from .ops import OPS, Op, public_ops, table_version
from .shapes import Size
from .tensor import Tensor

# torch.autograd's submodules and classes, on the engine's autograd module
autograd.Function = _autograd_function.Function
autograd.function = _autograd_function
autograd.functional = _autograd_functional
autograd.profiler = _profiler

bool = bool_
float = float32
double = float64
half = float16
long = int64
int = int32

__all__ = [
    "OPS",
    "DType",
    "Op",
    "Size",
    "Tensor",
    "accelerator",
    "arange",
    "as_dtype",
    "as_tensor",
    "autograd",
    "backends",
    "bool",
    "device",
    "double",
    "empty",
    "enable_grad",
    "eye",
    "float",
    "float16",
    "float32",
    "float64",
    "from_numpy",
    "full",
    "full_like",
    "get_default_dtype",
    "get_backend",
    "get_default_device",
    "half",
    "int",
    "int32",
    "int64",
    "is_grad_enabled",
    "limits",
    "linalg",
    "linspace",
    "logspace",
    "long",
    "manual_seed",
    "methods",
    "nn",
    "optim",
    "no_grad",
    "ones",
    "ones_like",
    "promote_types",
    "public_ops",
    "rand",
    "rand_like",
    "randn",
    "randn_like",
    "result_type",
    "set_default_device",
    "set_default_dtype",
    "set_grad_enabled",
    "table_version",
    "tensor",
    "use_backend",
    "zeros",
    "zeros_like",
    *_errors_all,
    *_functional_all,
]


def _torch_keywords() -> None:
    from .torch_keywords import accept_torch_keywords

    g = globals()
    for name in _functional_all:
        g[name] = accept_torch_keywords(g[name])


_torch_keywords()


def __getattr__(name: str) -> object:
    from .unsupported import missing

    missing("torch", name, "module 'engine'")
