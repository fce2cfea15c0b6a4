"""``torch.nn`` on the engine: ``Module``, ``Parameter``, layers, losses, ``init``, ``utils``.

The module classes are backend-agnostic (:mod:`engine.nnkit.module`, :mod:`engine.nnkit.layers`)
and bound here to the engine's tensors; the Python client binds the same classes to a
session.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from .. import dtypes as D
from .. import factories
from ..autograd import no_grad
from ..nnkit.binding import bind
from ..nnkit.init import Init
from ..nnkit.module import Backend
from ..nnkit.utils import Utils
from ..ops import OPS
from ..tensor import Tensor
from . import functional

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "Bilinear",
    "CrossEntropyLoss",
    "Dropout",
    "Embedding",
    "Flatten",
    "GELU",
    "HuberLoss",
    "Identity",
    "L1Loss",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "MSELoss",
    "Module",
    "ModuleDict",
    "ModuleList",
    "NLLLoss",
    "Parameter",
    "ReLU",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "functional",
    "init",
    "utils",
]


class Parameter(Tensor):
    """A tensor that a ``Module`` registers as a parameter (a leaf that requires grad)."""

    _is_parameter = True

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True) -> Parameter:
        if data is None:
            data = factories.empty(0)
        if not isinstance(data, Tensor):
            raise TypeError(f"Parameter: expected a Tensor, got {type(data).__name__}")
        p = Tensor.__new__(cls)
        # the same storage as ``data`` (as torch's Parameter), a fresh leaf
        p._st, p._vc, p._dtype, p._xp = data._st, data._vc, data._dtype, data._xp
        p._rg = bool(requires_grad)
        p._grad = None
        p.grad_fn = None
        return p

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True) -> None:
        pass

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()

    __str__ = __repr__

    def __deepcopy__(self, memo: dict[int, Any]) -> Parameter:
        return Parameter(super().__deepcopy__(memo), self.requires_grad)


class _EngineTorch:
    """The names of ``engine`` that nn's classes use (``engine`` itself imports ``nn``)."""

    no_grad = staticmethod(no_grad)
    zeros = staticmethod(factories.zeros)
    zeros_like = staticmethod(factories.zeros_like)
    full_like = staticmethod(factories.full_like)
    rand_like = staticmethod(factories.rand_like)
    randn_like = staticmethod(factories.randn_like)
    tensor = staticmethod(factories.tensor)
    arange = staticmethod(factories.arange)
    float16, float32, float64 = D.float16, D.float32, D.float64

    @staticmethod
    def is_tensor(obj: Any) -> bool:
        return isinstance(obj, Tensor)

    stack = staticmethod(OPS["stack"].fn)


init = Init(_EngineTorch)
utils = Utils(_EngineTorch)
utils.clip_grad_norm = utils.clip_grad_norm_  # type: ignore[attr-defined]
BACKEND = Backend(_EngineTorch, functional, Parameter, init)
_bound: dict[str, Any] = bind(BACKEND, __name__)
BCELoss = _bound["BCELoss"]
BCEWithLogitsLoss = _bound["BCEWithLogitsLoss"]
Bilinear = _bound["Bilinear"]
CrossEntropyLoss = _bound["CrossEntropyLoss"]
Dropout = _bound["Dropout"]
Embedding = _bound["Embedding"]
Flatten = _bound["Flatten"]
GELU = _bound["GELU"]
HuberLoss = _bound["HuberLoss"]
Identity = _bound["Identity"]
L1Loss = _bound["L1Loss"]
LayerNorm = _bound["LayerNorm"]
LeakyReLU = _bound["LeakyReLU"]
Linear = _bound["Linear"]
LogSoftmax = _bound["LogSoftmax"]
MSELoss = _bound["MSELoss"]
Module = _bound["Module"]
ModuleDict = _bound["ModuleDict"]
ModuleList = _bound["ModuleList"]
NLLLoss = _bound["NLLLoss"]
ReLU = _bound["ReLU"]
Sequential = _bound["Sequential"]
SiLU = _bound["SiLU"]
Sigmoid = _bound["Sigmoid"]
Softmax = _bound["Softmax"]
Tanh = _bound["Tanh"]
parameter = SimpleNamespace(Parameter=Parameter)
