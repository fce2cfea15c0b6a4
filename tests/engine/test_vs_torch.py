"""The engine against real PyTorch: the same calls through both, compared.

1. every public op (and overload): values, dtype, shape, ``grad_fn.name()``, first and
   second derivatives for a random upstream gradient;
2. dtype inference and promotion (``tensor()``, binary ops, ``result_type``);
3. which mistakes raise, the builtin class, torch's message and the wire ``code``;
4. autograd semantics (accumulation, retain_grad, inputs=, grad, create_graph, grad
   mode, detach, in-place rules, version counters, ``.data``).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

import engine
from engine.formatting import grad_fn_name

torch = pytest.importorskip("torch")

ENG = SimpleNamespace(name="engine", T=engine, F=engine.nn.functional, ag=engine.autograd)
TOR = SimpleNamespace(name="torch", T=torch, F=torch.nn.functional, ag=torch.autograd)
BOTH = (ENG, TOR)


# ------------------------------------------------------------------------ helpers
def _u(*shape: int, seed: int = 0, lo: float = -2.0, hi: float = 2.0) -> np.ndarray:
    """Deterministic float64 values, uniform in [lo, hi)."""
    return np.random.default_rng(seed).uniform(lo, hi, shape)


def _np(t: Any) -> np.ndarray:
    return np.asarray(t.detach().numpy(force=True))  # force: torch's ZeroTensor grads


def _fn_name(t: Any) -> str | None:
    return None if t.grad_fn is None else t.grad_fn.name()


def _tol(dtype: Any) -> dict[str, float]:
    name = str(dtype)
    if name.endswith("float64"):
        return {"rtol": 1e-6, "atol": 1e-10}
    if name.endswith("float32"):
        return {"rtol": 1e-5, "atol": 1e-6}
    return {"rtol": 2e-3, "atol": 2e-3}


def assert_same(e: Any, t: Any, what: str = "value") -> None:
    """Same dtype, shape and values (float: close; others: equal)."""
    assert str(e.dtype) == str(t.dtype), f"{what}: dtype {e.dtype} != {t.dtype}"
    assert tuple(e.shape) == tuple(t.shape), f"{what}: shape {e.shape} != {t.shape}"
    a, b = _np(e), _np(t)
    if t.dtype.is_floating_point:
        np.testing.assert_allclose(a, b, equal_nan=True, err_msg=what, **_tol(t.dtype))
    else:
        np.testing.assert_array_equal(a, b, err_msg=what)


def _outputs(out: Any) -> list[Any]:
    return list(out) if isinstance(out, tuple | list) else [out]


def _builtin(exc: BaseException) -> type[BaseException]:
    """The first builtin exception class in ``exc``'s MRO (torch's errors subclass them).

    torch's NotImplementedError (an unsupported dtype) counts as its base RuntimeError: the
    engine reports those as invalid_argument, a RuntimeError.
    """
    cls = next(c for c in type(exc).__mro__ if c.__module__ == "builtins")
    return RuntimeError if cls is NotImplementedError else cls


# ======================================================= 1. ops: values, grads, names
@dataclass(frozen=True)
class Case:
    id: str
    op: str  # the wire name in engine.OPS this case exercises
    fn: Callable[..., Any]  # fn(m, *tensors), m is ENG or TOR
    inputs: tuple[np.ndarray, ...]
    grad: tuple[bool, ...] | None = None  # which inputs require grad (default: the floats)

    def requires(self) -> tuple[bool, ...]:
        if self.grad is not None:
            return self.grad
        return tuple(a.dtype.kind == "f" for a in self.inputs)

    def run(self, m: Any) -> tuple[list[Any], list[Any]]:
        ins = [
            m.T.tensor(a, requires_grad=rg)
            for a, rg in zip(self.inputs, self.requires(), strict=True)
        ]
        return ins, _outputs(self.fn(m, *ins))


X23, Y23, Y3 = _u(2, 3, seed=1), _u(2, 3, seed=2), _u(3, seed=3)
POS23 = _u(2, 3, seed=4, lo=0.5, hi=2.0)
X234 = _u(2, 3, 4, seed=5)
TIES = np.array([[1.0, 3.0, 3.0], [0.0, 3.0, -2.0]])
ATIES = np.array([[1.0, 3.0, 3.0], [-1.0, 0.5, -1.0]])
LEFT = np.array([1.0, 2.0, 3.0, -1.0])
RIGHT = np.array([1.0, 0.5, 3.0, 2.0])  # ties at 0 and 2
MASK23 = np.array([[True, False, True], [False, False, True]])
LOGITS = _u(4, 3, seed=6)
TARGET = np.array([0, 2, 1, 2])
PROBS = _u(2, 3, seed=7, lo=0.05, hi=0.95)
LABELS = _u(2, 3, seed=8, lo=0.0, hi=1.0)
MSE_T = _u(2, 3, seed=9)

CASES: list[Case] = []


def case(id: str, op: str, fn: Callable[..., Any], *inputs: np.ndarray, grad: Any = None) -> None:
    CASES.append(Case(id, op, fn, inputs, grad))


# arithmetic: tensors, and Python scalars on either side
case("add-tensor-broadcast", "add", lambda m, x, y: x + y, X23, Y3)
case("add-scalar", "add", lambda m, x: x + 2, X23)
case("radd-scalar", "add", lambda m, x: 2.5 + x, X23)
case("add-alpha", "add", lambda m, x, y: m.T.add(x, y, alpha=2), X23, Y23)
case("sub-tensor", "sub", lambda m, x, y: x - y, X23, Y3)
case("sub-scalar", "sub", lambda m, x: x - 2, X23)
case("rsub-scalar", "sub", lambda m, x: 1 - x, X23)
case("sub-alpha", "sub", lambda m, x, y: m.T.sub(x, y, alpha=3), X23, Y23)
case("hypot", "hypot", lambda m, x, y: m.T.hypot(x, y), X23, Y3)
case("hypot-method", "hypot", lambda m, x, y: x.hypot(y), X23, Y23)
case("hypot-inplace", "hypot", lambda m, x, y: x.clone().hypot_(y), X23, Y3)
case("mul-tensor", "mul", lambda m, x, y: x * y, X23, Y3)
case("mul-scalar", "mul", lambda m, x: x * 3, X23)
case("rmul-scalar", "mul", lambda m, x: 3 * x, X23)
case("mul-self", "mul", lambda m, x: x * x, X23)
case("div-tensor", "div", lambda m, x, y: x / y, X23, POS23)
case("div-scalar", "div", lambda m, x: x / 2, X23)
case("rdiv-scalar", "div", lambda m, x: 2 / x, POS23)
case("neg", "neg", lambda m, x: -x, X23)
case("pow-scalar", "pow", lambda m, x: x**2, X23)
case("pow-sqrt", "pow", lambda m, x: x**0.5, POS23)
case("pow-zero", "pow", lambda m, x: x**0, X23)
case("pow-tensor", "pow", lambda m, x, y: x**y, POS23, Y23)
case("rpow-scalar", "pow", lambda m, x: 2**x, X23)
case("pow-int-tensor-exp", "pow", lambda m, x, e: x**e, X23, np.array([1, 2, 3]))
# unary math
case("exp", "exp", lambda m, x: x.exp(), X23)
case("log", "log", lambda m, x: m.T.log(x), POS23)
case("sqrt", "sqrt", lambda m, x: x.sqrt(), POS23)
case("abs", "abs", lambda m, x: x.abs(), X23)
case("sin", "sin", lambda m, x: x.sin(), X23)
case("cos", "cos", lambda m, x: m.T.cos(x), X23)
case("tan", "tan", lambda m, x: x.tan(), _u(2, 3, seed=10, lo=-1.0, hi=1.0))
case("tanh", "tanh", lambda m, x: x.tanh(), X23)
case("sigmoid", "sigmoid", lambda m, x: m.T.sigmoid(x), X23)
case("F.sigmoid", "sigmoid", lambda m, x: m.F.sigmoid(x), X23)
case("F.tanh", "tanh", lambda m, x: m.F.tanh(x), X23)
# clamp: scalar bounds (ClampBackward1), tensor bounds (ClampBackward0)
case("clamp-both", "clamp", lambda m, x: x.clamp(-0.5, 0.5), X23)
case("clamp-min", "clamp", lambda m, x: m.T.clamp(x, min=0.0), X23)
case("clamp-max", "clamp", lambda m, x: x.clamp(max=0.25), X23)
case(
    "clamp-tensor-bounds",
    "clamp",
    lambda m, x, lo, hi: m.T.clamp(x, lo, hi),
    X23,
    _u(2, 3, seed=11, lo=-1.5, hi=-0.2),
    _u(3, seed=12, lo=0.2, hi=1.5),
)
case("clamp-tensor-min", "clamp", lambda m, x, lo: x.clamp(min=lo), X23, _u(3, seed=13))
# extrema and where (ties split the gradient evenly)
case("maximum-ties", "maximum", lambda m, x, y: m.T.maximum(x, y), LEFT, RIGHT)
case("minimum-ties", "minimum", lambda m, x, y: m.T.minimum(x, y), LEFT, RIGHT)
case("maximum-broadcast", "maximum", lambda m, x, y: m.T.maximum(x, y), X23, Y3)
case("where", "where", lambda m, x, y: m.T.where(x > 0, x, y), X23, Y23)
case("where-scalar", "where", lambda m, x: m.T.where(x > 0, x, 0.0), X23)
case("where-broadcast", "where", lambda m, x, y: m.T.where(x > y, x, y), X23, Y3)
# matmul in every dim combination
case("matmul-1d-1d", "matmul", lambda m, a, b: a @ b, _u(3, seed=14), _u(3, seed=15))
case("matmul-2d-1d", "matmul", lambda m, a, b: a @ b, X23, _u(3, seed=15))
case("matmul-1d-2d", "matmul", lambda m, a, b: a @ b, _u(2, seed=14), X23)
case("matmul-2d-2d", "matmul", lambda m, a, b: m.T.matmul(a, b), X23, _u(3, 4, seed=16))
case("matmul-3d-3d", "matmul", lambda m, a, b: a @ b, X234, _u(2, 4, 5, seed=17))
case("matmul-3d-2d", "matmul", lambda m, a, b: a @ b, X234, _u(4, 5, seed=17))
case("matmul-2d-3d", "matmul", lambda m, a, b: a @ b, X23, _u(2, 3, 4, seed=18))
case("matmul-3d-1d", "matmul", lambda m, a, b: a @ b, X234, _u(4, seed=19))
case("matmul-1d-3d", "matmul", lambda m, a, b: a @ b, _u(3, seed=20), _u(2, 3, 4, seed=18))
case("matmul-batch-broadcast", "matmul", lambda m, a, b: a @ b, _u(1, 2, 3, seed=21), _u(4, 3, 2))
case("matmul-batch1-3d", "matmul", lambda m, a, b: a @ b, _u(1, 2, 3, seed=21), X234[:, :, :2])
case("matmul-row-3d", "matmul", lambda m, a, b: a @ b, _u(1, 3, seed=22), _u(2, 3, 4, seed=18))
case(
    "matmul-2d-3d-const-lhs",
    "matmul",
    lambda m, a, b: a @ b,
    X23,
    _u(2, 3, 4, seed=18),
    grad=(False, True),
)
case("matmul-4d-2d", "matmul", lambda m, a, b: a @ b, _u(2, 1, 2, 3, seed=23), _u(3, 2))
# reductions
case("sum", "sum", lambda m, x: x.sum(), X23)
case("sum-dim", "sum", lambda m, x: x.sum(1), X23)
case("sum-dims-keepdim", "sum", lambda m, x: m.T.sum(x, (0, 2), keepdim=True), X234)
case("sum-int", "sum", lambda m, x: x.sum(), np.array([[1, 2], [3, 4]], dtype=np.int32))
case("mean", "mean", lambda m, x: x.mean(), X23)
case("mean-dim", "mean", lambda m, x: x.mean(1), X23)
case("mean-dim-keepdim", "mean", lambda m, x: m.T.mean(x, -1, keepdim=True), X234)
case("prod", "prod", lambda m, x: x.prod(), X23)
case("prod-dim", "prod", lambda m, x: x.prod(1), X23)
case("prod-dim-keepdim", "prod", lambda m, x: m.T.prod(x, 0, keepdim=True), X23)
case("max-full-ties", "max", lambda m, x: x.max(), TIES)
case("min-full-ties", "min", lambda m, x: m.T.min(x), -TIES)
case("max-dim", "max", lambda m, x: x.max(1), X23)
case("max-dim-keepdim", "max", lambda m, x: m.T.max(x, 0, keepdim=True), X23)
case("min-dim", "min", lambda m, x: x.min(dim=1), X23)
case("max-dim-ties", "max", lambda m, x: x.max(0), np.array([[1.0, 2.0], [1.0, 0.0]]))
case("max-binary", "max", lambda m, x, y: m.T.max(x, y), LEFT, RIGHT)
case("amax-ties", "amax", lambda m, x: x.amax(), TIES)
case("amax-dim-ties", "amax", lambda m, x: m.T.amax(x, 1), TIES)
case("amin-ties", "amin", lambda m, x: m.T.amin(x), ATIES)
case("amin-dims-keepdim", "amin", lambda m, x: x.amin((0, 1), keepdim=True), ATIES)
case("logsumexp", "logsumexp", lambda m, x: m.T.logsumexp(x, 1), X23)
case("logsumexp-dims", "logsumexp", lambda m, x: x.logsumexp((0, 2), keepdim=True), X234)
case("softmax", "softmax", lambda m, x: m.T.softmax(x, 1), X23)
case("F.softmax-dim0", "softmax", lambda m, x: m.F.softmax(x, dim=0), X234)
case("log_softmax", "log_softmax", lambda m, x: x.log_softmax(-1), X23)
case("F.log_softmax", "log_softmax", lambda m, x: m.F.log_softmax(x, dim=1), X234)
case("norm-2", "norm", lambda m, x: x.norm(), X23)
case("norm-1", "norm", lambda m, x: m.T.norm(x, p=1), X23)
case("norm-inf", "norm", lambda m, x: x.norm(p=math.inf), X23)
case("norm-2-dim", "norm", lambda m, x: x.norm(dim=1), X23)
case("norm-1-dim-keepdim", "norm", lambda m, x: x.norm(p=1, dim=0, keepdim=True), X23)
case("norm-inf-dim", "norm", lambda m, x: m.T.norm(x, p=math.inf, dim=(1, 2)), X234)
case("norm-3", "norm", lambda m, x: x.norm(p=3), X23)
# shape ops
case("reshape", "reshape", lambda m, x: x.reshape(3, 2), X23)
case("reshape-infer", "reshape", lambda m, x: m.T.reshape(x, (-1,)), X234)
case("reshape-noncontiguous", "reshape", lambda m, x: x.t().reshape(6), X23)
case("view", "reshape", lambda m, x: x.view(6, 1), X23)
case("flatten", "flatten", lambda m, x: x.flatten(), X234)
case("flatten-start", "flatten", lambda m, x: m.T.flatten(x, 1), X234)
case("flatten-noncontiguous", "flatten", lambda m, x: x.transpose(0, 1).flatten(), X23)
case("transpose", "transpose", lambda m, x: x.transpose(0, 2), X234)
case("transpose-neg", "transpose", lambda m, x: m.T.transpose(x, -1, -2), X23)
case("t", "transpose", lambda m, x: x.t(), X23)
case("t-1d", "transpose", lambda m, x: m.T.t(x), Y3)
case("T-property", "permute", lambda m, x: x.T, X23)
case("permute", "permute", lambda m, x: x.permute(2, 0, 1), X234)
case("squeeze-all", "squeeze", lambda m, x: x.squeeze(), _u(1, 3, 1, seed=22))
case("squeeze-dim", "squeeze", lambda m, x: x.squeeze(2), _u(1, 3, 1, seed=22))
case("squeeze-dim-noop", "squeeze", lambda m, x: m.T.squeeze(x, 1), _u(1, 3, 1, seed=22))
case("squeeze-dims", "squeeze", lambda m, x: x.squeeze((0, 2)), _u(1, 3, 1, seed=22))
case("unsqueeze", "unsqueeze", lambda m, x: x.unsqueeze(1), X23)
case("unsqueeze-neg", "unsqueeze", lambda m, x: m.T.unsqueeze(x, -1), X23)
case("expand", "expand", lambda m, x: x.expand(2, 3), Y3)
case("expand-minus-one", "expand", lambda m, x: x.expand(4, -1, 3), _u(2, 1, seed=23))
case("cat", "cat", lambda m, x, y: m.T.cat([x, y]), X23, _u(1, 3, seed=24))
case("cat-dim1", "cat", lambda m, x, y: m.T.cat((x, y), dim=1), X23, _u(2, 2, seed=24))
case("stack", "stack", lambda m, x, y: m.T.stack([x, y]), X23, Y23)
case("stack-dim-last", "stack", lambda m, x, y: m.T.stack([x, y], dim=-1), X23, Y23)
case("clone", "clone", lambda m, x: x.clone(), X23)
case("detach", "detach", lambda m, x: x.detach(), X23)


def _grad_of(m: Any, x: Any) -> Any:
    (x * x).sum().backward()
    return m.T.OPS["grad_of"](x) if m is ENG else x.grad


case("grad_of", "grad_of", _grad_of, X23)

# the engine's ops that are not on the wire (the table's functions and methods all the same)
V3, M32 = _u(3, seed=10), _u(3, 2, seed=11)
case("erf", "erf", lambda m, x: m.T.erf(x), X23)
case("log1p", "log1p", lambda m, x: x.log1p(), POS23)
case("reciprocal", "reciprocal", lambda m, x: x.reciprocal(), POS23)
case("sign", "sign", lambda m, x: x.sign(), X23)
case("square", "square", lambda m, x: m.T.square(x), X23)
case("logical_and", "logical_and", lambda m, x, y: m.T.logical_and(x > 0, y > 0), X23, Y23)
case("logical_or", "logical_or", lambda m, x, y: (x > 0) | (y > 0), X23, Y23)
case("logical_not", "logical_not", lambda m, x: ~(x > 0), X23)
case("broadcast_to", "broadcast_to", lambda m, x: m.T.broadcast_to(x, (2, 2, 3)), X23)
case("expand_as", "expand_as", lambda m, x, y: y.expand_as(x), X23, Y3)
case("dot", "dot", lambda m, x, y: m.T.dot(x, y), Y3, V3)
case("mm", "mm", lambda m, x, y: m.T.mm(x, y), X23, M32)
case("select", "select", lambda m, x: x.select(1, -1), X23)
case("t", "t", lambda m, x: x.t(), X23)
case("view", "view", lambda m, x: x.view(3, 2), X23)
case("sum_to_size", "sum_to_size", lambda m, x: x.sum_to_size(1, 3), X23)
case(
    "nll_loss",
    "nll_loss",
    lambda m, x, t: m.F.nll_loss(m.F.log_softmax(x, 1), t),
    LOGITS,
    TARGET,
    grad=(True, False),
)
# (* 1: torch's CopyBackwards.name() carries its C++ namespace; type names agree)
case("copy", "copy", lambda m, y: m.T.zeros(2, 3, dtype=m.T.float64).copy_(y) * 1, Y3)
case("copy_", "copy", lambda m, y: m.T.zeros(2, 3, dtype=m.T.float64).copy_(y), Y3)
case("zero", "zero", lambda m, x: x.clone().zero_(), X23)
case("fill", "fill", lambda m, x: m.T.fill(x, 2.5), X23)
case(
    "index_put",
    "index_put",
    lambda m, x, y: m.T.index_put(x, (m.T.tensor([1, 0]),), y[0]),
    X23,
    Y23,
)
case("to-float32", "to", lambda m, x: x.to(m.T.float32), X23)
# indexing
case("index-select", "index", lambda m, x: x[1], X23)
case("index-select-col", "index", lambda m, x: x[:, 1], X23)
case("index-select-2", "index", lambda m, x: x[0, 2], X23)
case("index-slice", "index", lambda m, x: x[:, 1:3], X23)
case("index-slice-full", "index", lambda m, x: x[:], X23)
case("index-slice-step", "index", lambda m, x: x[::2], X234)
case("index-slice-then-select", "index", lambda m, x: x[1, :2], X23)
case("index-none", "index", lambda m, x: x[None], X23)
case("index-slice-none", "index", lambda m, x: x[1:, None], X23)
case("index-ellipsis", "index", lambda m, x: x[...], X23)
case("index-ellipsis-select", "index", lambda m, x: x[..., 0], X234)
case("index-full-slices", "index", lambda m, x: x[:, :], X23)
case("index-repeated-ints", "index", lambda m, x: x[[0, 0, 1, 0]], X23)
case("index-int-array-dim1", "index", lambda m, x: x[:, [2, 0, 2]], X23)
case("index-int-tensor", "index", lambda m, x, i: x[i], X23, np.array([1, 1, 0]))
case("index-bool-mask", "index", lambda m, x, k: x[k], X23, MASK23)
case("index-bool-mask-rows", "index", lambda m, x: x[x.sum(1) > 0], X23)
# activations
case("relu", "relu", lambda m, x: m.F.relu(x), X23)
case("relu-method", "relu", lambda m, x: x.relu(), X23)
case("leaky_relu", "leaky_relu", lambda m, x: m.F.leaky_relu(x, 0.2), X23)
case("leaky_relu-default", "leaky_relu", lambda m, x: m.F.leaky_relu(x), X23)
case("gelu", "gelu", lambda m, x: m.F.gelu(x), X23)
case("gelu-tanh", "gelu", lambda m, x: m.F.gelu(x, approximate="tanh"), X23)
case("softplus", "softplus", lambda m, x: m.F.softplus(x), X23)
case("softplus-beta", "softplus", lambda m, x: m.F.softplus(x, beta=2.0, threshold=1.5), X23)
# losses, each reduction
for _red in ("mean", "sum", "none"):
    case(
        f"mse_loss-{_red}",
        "mse_loss",
        lambda m, x, y, r=_red: m.F.mse_loss(x, y, reduction=r),
        X23,
        MSE_T,
    )
    case(
        f"cross_entropy-{_red}",
        "cross_entropy",
        lambda m, x, t, r=_red: m.F.cross_entropy(x, t, reduction=r),
        LOGITS,
        TARGET,
    )
    case(
        f"binary_cross_entropy-{_red}",
        "binary_cross_entropy",
        lambda m, x, t, r=_red: m.F.binary_cross_entropy(x, t, reduction=r),
        PROBS,
        LABELS,
    )
    case(
        f"binary_cross_entropy_with_logits-{_red}",
        "binary_cross_entropy_with_logits",
        lambda m, x, t, r=_red: m.F.binary_cross_entropy_with_logits(x, t, reduction=r),
        X23 * 20,
        LABELS,
    )
case("cross_entropy-1d", "cross_entropy", lambda m, x, t: m.F.cross_entropy(x, t), Y3, np.array(1))
for _red in ("mean", "sum", "none"):
    case(
        f"cross_entropy-probabilities-{_red}",
        "cross_entropy",
        lambda m, x, t, r=_red: m.F.cross_entropy(x, t, reduction=r),
        LOGITS,
        _u(4, 3, seed=25, lo=0.0, hi=1.0),
    )
    case(
        f"cross_entropy-3d-{_red}",
        "cross_entropy",
        lambda m, x, t, r=_red: m.F.cross_entropy(x, t, reduction=r),
        X234,
        np.array([[0, 2, 1, 2], [1, 1, 0, 2]]),
    )
    case(
        f"cross_entropy-4d-{_red}",
        "cross_entropy",
        lambda m, x, t, r=_red: m.F.cross_entropy(x, t, reduction=r, ignore_index=1),
        _u(2, 3, 2, 2, seed=26),
        np.array([[[0, 2], [1, 2]], [[1, 1], [0, 2]]]),
    )
case(
    "cross_entropy-ignore_index",
    "cross_entropy",
    lambda m, x, t: m.F.cross_entropy(x, t, ignore_index=2),
    LOGITS,
    TARGET,
)
case(
    "binary_cross_entropy-input-only",
    "binary_cross_entropy",
    lambda m, x, t: m.F.binary_cross_entropy(x, t),
    PROBS,
    LABELS,
    grad=(True, False),
)
# torch.nn's layers and losses (engine/ops/layers.py)
W53, B5 = _u(5, 3, seed=30), _u(5, seed=31)
case("linear-2d-bias", "linear", lambda m, x, w, b: m.F.linear(x, w, b), _u(4, 3, seed=32), W53, B5)
case("linear-2d", "linear", lambda m, x, w: m.F.linear(x, w), _u(4, 3, seed=32), W53)
case("linear-3d-bias", "linear", lambda m, x, w, b: m.F.linear(x, w, b), X234[..., :3], W53, B5)
case("linear-3d", "linear", lambda m, x, w: m.F.linear(x, w), X234[..., :3], W53)
case("linear-1d-bias", "linear", lambda m, x, w, b: m.F.linear(x, w, b), Y3, W53, B5)
case("linear-1d", "linear", lambda m, x, w: m.F.linear(x, w), Y3, W53)
case("addmm", "addmm", lambda m, b, x, w: m.T.addmm(b, x, w), B5, _u(4, 3, seed=32), W53.T)
case(
    "addmm-method-scaled",
    "addmm",
    lambda m, b, x, w: b.addmm(x, w, beta=0.5, alpha=-2.0),
    _u(4, 5, seed=33),
    _u(4, 3, seed=32),
    W53.T,
)
case("silu", "silu", lambda m, x: m.F.silu(x), X23)
case("elu", "elu", lambda m, x: m.F.elu(x), X23)
case("elu-alpha", "elu", lambda m, x: m.F.elu(x, alpha=0.3), X23)
case(
    "layer_norm-affine",
    "layer_norm",
    lambda m, x, w, b: m.F.layer_norm(x, (4,), w, b),
    X234,
    _u(4, seed=33),
    _u(4, seed=34),
)
case("layer_norm-plain", "layer_norm", lambda m, x: m.F.layer_norm(x, (3, 4), eps=1e-3), X234)
EMB_IDX = np.array([[1, 0, 3], [3, 2, 0]])
case("embedding", "embedding", lambda m, i, w: m.F.embedding(i, w), EMB_IDX, _u(5, 2, seed=35))
case(
    "embedding-padding",
    "embedding",
    lambda m, i, w: m.F.embedding(i, w, padding_idx=3),
    EMB_IDX,
    _u(5, 2, seed=35),
)
case("one_hot", "one_hot", lambda m, i: m.F.one_hot(i), EMB_IDX)
case("one_hot-classes", "one_hot", lambda m, i: m.F.one_hot(i, num_classes=6), EMB_IDX)
for _red in ("mean", "sum", "none"):
    case(
        f"huber_loss-{_red}",
        "huber_loss",
        lambda m, x, t, r=_red: m.F.huber_loss(x, t, reduction=r, delta=0.8),
        X23,
        MSE_T,
    )
    case(
        f"smooth_l1_loss-{_red}",
        "smooth_l1_loss",
        lambda m, x, t, r=_red: m.F.smooth_l1_loss(x, t, reduction=r, beta=0.8),
        X23,
        MSE_T,
    )
    case(
        f"cross_entropy-label_smoothing-{_red}",
        "cross_entropy",
        lambda m, x, t, r=_red: m.F.cross_entropy(x, t, reduction=r, label_smoothing=0.15),
        LOGITS,
        TARGET,
    )
    case(
        f"cross_entropy-probabilities-label_smoothing-{_red}",
        "cross_entropy",
        lambda m, x, t, r=_red: m.F.cross_entropy(x, t, reduction=r, label_smoothing=0.15),
        LOGITS,
        _u(4, 3, seed=25, lo=0.0, hi=1.0),
    )
case(
    "cross_entropy-label_smoothing-ignore_index",
    "cross_entropy",
    lambda m, x, t: m.F.cross_entropy(x, t, ignore_index=2, label_smoothing=0.3),
    LOGITS,
    TARGET,
)
case("huber_loss-default", "huber_loss", lambda m, x, t: m.F.huber_loss(x, t), X23, MSE_T)
case(
    "smooth_l1_loss-beta0",
    "smooth_l1_loss",
    lambda m, x, t: m.F.smooth_l1_loss(x, t, beta=0.0),
    X23,
    MSE_T,
)
case("nll_loss", "nll_loss", lambda m, x, t: m.F.nll_loss(x, t), LOGITS, TARGET)
case(
    "nll_loss-4d-ignore",
    "nll_loss",
    lambda m, x, t: m.F.nll_loss(x, t, ignore_index=1, reduction="sum"),
    _u(2, 3, 2, 2, seed=26),
    np.array([[[0, 2], [1, 2]], [[1, 1], [0, 2]]]),
)
case(
    "nll_loss-3d-none",
    "nll_loss",
    lambda m, x, t: m.F.nll_loss(x, t, reduction="none"),
    X234,
    np.array([[0, 2, 1, 2], [1, 1, 0, 2]]),
)
# comparisons and arg-extrema: never differentiable
for _cmp in ("eq", "ne", "lt", "le", "gt", "ge"):
    case(f"{_cmp}-tensor", _cmp, lambda m, x, y, c=_cmp: getattr(m.T, c)(x, y), LEFT, RIGHT)
    case(f"{_cmp}-scalar", _cmp, lambda m, x, c=_cmp: getattr(x, c)(1.0), LEFT)
case("lt-operator-broadcast", "lt", lambda m, x, y: x < y, X23, Y3)
case("argmax", "argmax", lambda m, x: x.argmax(), X23)
case("argmax-dim", "argmax", lambda m, x: m.T.argmax(x, dim=1), X23)
case("argmax-dim-keepdim", "argmax", lambda m, x: x.argmax(0, keepdim=True), X23)
case("argmin", "argmin", lambda m, x: m.T.argmin(x), X23)
case("argmin-dim", "argmin", lambda m, x: x.argmin(dim=-1), X234)
case("argmax-ties", "argmax", lambda m, x: x.argmax(1), TIES)

# var, std, cumsum, cumprod, sort, argsort, topk, isclose, allclose, equal (issue 9)
ZEROS = np.array(
    [[1.3, 0.0, -0.7, 0.0, 1.1], [0.0, 1.2, -0.8, 1.4, 0.6], [0.5, 1.5, -1.2, 0.9, 0.0]]
)
case("var", "var", lambda m, x: x.var(), X23)
case("var-dim", "var", lambda m, x: m.T.var(x, 1), X234)
case("var-dims-keepdim", "var", lambda m, x: x.var((0, 2), keepdim=True), X234)
case("var-correction0", "var", lambda m, x: m.T.var(x, dim=0, correction=0), X23)
case("var-unbiased-false", "var", lambda m, x: m.T.var(x, False), X23)
case("var-dim-unbiased-keepdim", "var", lambda m, x: x.var(1, False, True), X23)
case("var-one-element", "var", lambda m, x: x.var(0), np.array([1.5]))
case("std", "std", lambda m, x: m.T.std(x), X23)
case("std-dim-keepdim", "std", lambda m, x: x.std(-1, keepdim=True), X234)
case("std-correction2", "std", lambda m, x: m.T.std(x, (0, 1), correction=2), X234)
case("std-unbiased-false", "std", lambda m, x: x.std(unbiased=False), X23)
case("std-constant-row", "std", lambda m, x: x.std(1), np.array([[2.0, 2.0, 2.0], [1.0, 0.0, 2.0]]))
case("vector_norm", "norm", lambda m, x: m.T.linalg.vector_norm(x), X23)
case("vector_norm-ord1-dim", "norm", lambda m, x: m.T.linalg.vector_norm(x, 1, dim=1), X234)
case(
    "vector_norm-inf-keepdim",
    "norm",
    lambda m, x: m.T.linalg.vector_norm(x, math.inf, 0, True),
    X23,
)
case(
    "vector_norm-dtype",
    "norm",
    lambda m, x: m.T.linalg.vector_norm(x, dtype=m.T.float64),
    X23.astype(np.float32),
)
case("norm-dtype", "norm", lambda m, x: x.norm(2, 1, False, m.T.float64), X23.astype(np.float32))
case("norm-fro-dims", "norm", lambda m, x: m.T.norm(x, "fro", (0, 2), keepdim=True), X234)
case("var_mean", "var_mean", lambda m, x: m.T.var_mean(x), X23)
case("var_mean-dim", "var_mean", lambda m, x: m.T.var_mean(x, 1, keepdim=True), X234)
case("std_mean-correction", "std_mean", lambda m, x: m.T.std_mean(x, (0, 2), correction=0), X234)
case("std_mean-unbiased", "std_mean", lambda m, x: m.T.std_mean(x, False), X23)
case("moment_mean-var", "moment_mean", lambda m, x: m.T.var_mean(x, 0)[1], X23)
case("moment_mean-std", "moment_mean", lambda m, x: m.T.std_mean(x, dim=-1)[1], X234)
case("cumsum", "cumsum", lambda m, x: m.T.cumsum(x, 1), X23)
case("cumsum-dim0", "cumsum", lambda m, x: x.cumsum(0), X234)
case("cumsum-neg-dtype", "cumsum", lambda m, x: x.cumsum(-1, dtype=m.T.float32), X23)
case("cumsum-int", "cumsum", lambda m, x: m.T.cumsum(x, 0), np.array([[1, 2], [3, 4]], np.int32))
case("cumsum-bool", "cumsum", lambda m, x: x.cumsum(0), np.array([True, False, True]))
case("cumsum-0d", "cumsum", lambda m, x: x.cumsum(0), np.array(1.5))
case("cumsum-inplace", "cumsum", lambda m, x: x.clone().cumsum_(1), X23)
case("cumprod", "cumprod", lambda m, x: m.T.cumprod(x, 1), X23)
case("cumprod-dim0", "cumprod", lambda m, x: x.cumprod(0), X234)
case("cumprod-zeros", "cumprod", lambda m, x: m.T.cumprod(x, 1), ZEROS)
case("cumprod-zeros-dim0", "cumprod", lambda m, x: x.cumprod(dim=0), ZEROS)
case("cumprod-int", "cumprod", lambda m, x: x.cumprod(0), np.array([2, 3, -1], np.int32))
case("cumprod-inplace", "cumprod", lambda m, x: x.clone().cumprod_(0), X23)
case("sort", "sort", lambda m, x: m.T.sort(x), X23)
case("sort-dim0-descending", "sort", lambda m, x: x.sort(0, True), X234)
case("sort-stable-ties", "sort", lambda m, x: m.T.sort(x, stable=True, descending=True), TIES)
case("sort-stable-ascending", "sort", lambda m, x: x.sort(dim=1, stable=True), TIES)
case("sort-int", "sort", lambda m, x: x.sort(descending=True), np.array([3, 1, 2, 1], np.int64))
case("sort-0d", "sort", lambda m, x: x.sort(), np.array(2.5))
case("sort-nan", "sort", lambda m, x: m.T.sort(x, descending=True), np.array([1.0, np.nan, -2.0]))
case("argsort", "argsort", lambda m, x: m.T.argsort(x), X23)
case("argsort-dim0-descending", "argsort", lambda m, x: x.argsort(0, True), X234)
case("argsort-stable", "argsort", lambda m, x: m.T.argsort(x, stable=True), TIES)
case("topk", "topk", lambda m, x: m.T.topk(x, 2), X23)
case("topk-dim0-smallest", "topk", lambda m, x: x.topk(1, dim=0, largest=False), X234)
case("topk-all-keywords", "topk", lambda m, x: m.T.topk(x, k=3, dim=1, sorted=True), X23)
case("topk-int", "topk", lambda m, x: x.topk(2), np.array([3, 1, 5, 2], np.int64))
case("topk-0d", "topk", lambda m, x: x.topk(1), np.array(2.5))
case("isclose", "isclose", lambda m, x, y: m.T.isclose(x, y), LEFT, RIGHT)
case("isclose-tolerances", "isclose", lambda m, x, y: x.isclose(y, rtol=0.5, atol=0.1), LEFT, RIGHT)
case(
    "isclose-nan-inf-broadcast",
    "isclose",
    lambda m, x, y: m.T.isclose(x, y, equal_nan=True),
    np.array([[np.nan, np.inf, 1.0], [np.nan, -np.inf, 1.0 + 1e-9]]),
    np.array([np.nan, np.inf, 1.0]),
)
case(
    "isclose-int", "isclose", lambda m, x, y: m.T.isclose(x, y), LEFT.astype(int), RIGHT.astype(int)
)
case("isclose-zero-tolerance", "isclose", lambda m, x, y: x.isclose(y, 0, 0), LEFT, RIGHT)
case("allclose", "allclose", lambda m, x, y: m.T.tensor(m.T.allclose(x, y)), LEFT, RIGHT)
case("allclose-same", "allclose", lambda m, x: m.T.tensor(x.allclose(x * (1 + 1e-9))), X23)
case("allclose-nan", "allclose", lambda m, x: m.T.tensor(m.T.allclose(x, x, equal_nan=True)), LEFT)
case("equal", "equal", lambda m, x, y: m.T.tensor(m.T.equal(x, y)), LEFT, RIGHT)
case("equal-same", "equal", lambda m, x: m.T.tensor(x.equal(x.clone())), X23)
case("equal-shapes", "equal", lambda m, x, y: m.T.tensor(m.T.equal(x, y)), X23, Y3)
# pieces, tiling, flips, triangles and products
X46, V6, INT46 = _u(4, 6, seed=30), _u(6, seed=31), np.arange(24).reshape(4, 6)
B234, B245 = _u(2, 3, 4, seed=32), _u(2, 4, 5, seed=33)
case("narrow", "narrow", lambda m, x: m.T.narrow(x, 1, 1, 3), X46)
case("narrow-neg-start", "narrow", lambda m, x: x.narrow(-1, -2, 2), X46)
case("narrow-empty", "narrow", lambda m, x: x.narrow(1, 6, 0), X46)
case("narrow-tensor-start", "narrow", lambda m, x: x.narrow(0, m.T.tensor(1), 2), X46)
case("split-int", "split", lambda m, x: x.split(4, 1), X46)
case("split-int-function", "split", lambda m, x: m.T.split(x, 2), X46)
case("split-sizes", "split", lambda m, x: m.T.split(x, [1, 0, 5], dim=1), X46)
case("split-sizes-method", "split", lambda m, x: x.split((3, 1)), X46)
case("split-bigger-than-dim", "split", lambda m, x: x.split(10, -1), X46)
case("split-empty-dim", "split", lambda m, x: x.split(2), np.zeros((0, 3)))
case("split-int-dtype", "split", lambda m, x: x.split(4, 1), INT46)
case("chunk", "chunk", lambda m, x: x.chunk(4, 1), X46)
case("chunk-function", "chunk", lambda m, x: m.T.chunk(x, 5, dim=-1), X46)
case("chunk-one", "chunk", lambda m, x: x.chunk(1), X46)
case("chunk-empty-dim", "chunk", lambda m, x: x.chunk(3), np.zeros((0, 3)))
case("repeat", "repeat", lambda m, x: x.repeat(2, 1, 3), X46)
case("repeat-tuple", "repeat", lambda m, x: x.repeat((1, 2)), Y3)
case("repeat-zero", "repeat", lambda m, x: x.repeat(0, 2), X23)
case("repeat-int", "repeat", lambda m, x: x.repeat(2, 2), INT46)
case("flip", "flip", lambda m, x: m.T.flip(x, (0, 1)), X46)
case("flip-method", "flip", lambda m, x: x.flip(-1), X234)
case("flip-list", "flip", lambda m, x: x.flip([0, 2]), X234)
case("flip-int", "flip", lambda m, x: x.flip(0), INT46)
case("roll", "roll", lambda m, x: m.T.roll(x, (1, -2), (0, 1)), X46)
case("roll-flat", "roll", lambda m, x: x.roll(5), X46)
case("roll-int-dim", "roll", lambda m, x: x.roll(-7, dims=1), X46)
case("roll-int", "roll", lambda m, x: x.roll(2), INT46)
case("tril", "tril", lambda m, x: m.T.tril(x), X46)
case("tril-diagonal", "tril", lambda m, x: x.tril(diagonal=2), X234)
case("tril-inplace", "tril", lambda m, x: (x * 1).tril_(-1), X46)
case("tril-int", "tril", lambda m, x: x.tril(1), INT46)
case("triu", "triu", lambda m, x: m.T.triu(x, 1), X46)
case("triu-method", "triu", lambda m, x: x.triu(-2), X234)
case("triu-inplace", "triu", lambda m, x: (x * 1).triu_(), X46)
case("mv", "mv", lambda m, a, v: m.T.mv(a, v), X46, V6)
case("mv-method", "mv", lambda m, a, v: a.mv(v), X46, V6)
case("mv-int", "mv", lambda m, a, v: a.mv(v), INT46, np.arange(6))
case("bmm", "bmm", lambda m, a, b: m.T.bmm(a, b), B234, B245)
case("bmm-method", "bmm", lambda m, a, b: a.bmm(b), B234, B245)
for _eq, _ins in [
    ("ij,jk->ik", (X23, M32)),
    ("bij,bjk->bik", (B234, B245)),
    ("ij,j", (X46, V6)),
    ("i,i->", (Y3, V3)),
    ("i,j->ij", (Y3, V6)),
    ("ij,ij->ij", (X23, Y23)),
    ("ij->ji", (X23,)),
    ("ii->i", (_u(3, 3, seed=34),)),
    ("ii", (_u(3, 3, seed=34),)),
    ("ij->j", (X46,)),
    ("...ij,...jk->...ik", (B234, _u(4, 2, seed=35))),
    ("ij,jk,kl->il", (X23, M32, _u(2, 4, seed=36))),
    ("bhqd,bhkd->bhqk", (_u(2, 2, 3, 4, seed=37), _u(2, 2, 5, 4, seed=38))),
]:
    case(f"einsum-{_eq}", "einsum", lambda m, *xs, eq=_eq: m.T.einsum(eq, *xs), *_ins)
case("einsum-list", "einsum", lambda m, a, b: m.T.einsum("ij,jk", [a, b]), X23, M32)
case("einsum-spaces", "einsum", lambda m, a, b: m.T.einsum("i j , j k -> i k", a, b), X23, M32)
# issue 9: indexing by index tensors and masks
I24 = np.array([[0, 1, 2, 0], [2, 0, 1, 1]])
X34 = _u(3, 4, seed=40)
S24, S34 = _u(2, 4, seed=41), _u(3, 4, seed=42)
MASK34 = np.array(
    [[True, False, True, False], [False, False, True, True], [True, True, False, False]]
)
case("gather", "gather", lambda m, x, i: m.T.gather(x, 0, i), X34, I24)
case("gather-method-dim1", "gather", lambda m, x: x.gather(1, m.T.tensor([[3, 3], [0, 1]])), X34)
case("gather-int32-index", "gather", lambda m, x, i: x.gather(-1, i), X34, I24.astype(np.int32))
case("scatter-src", "scatter", lambda m, x, i, s: m.T.scatter(x, 0, i, s), X34, I24, S24)
case("scatter-value", "scatter", lambda m, x, i: x.scatter(0, i, 2.5), X34, I24)
case("scatter-value-kw", "scatter", lambda m, x, i: m.T.scatter(x, 0, i, value=-1), X34, I24)
case("scatter-src-kw", "scatter", lambda m, x, i, s: x.scatter(0, i, src=s), X34, I24, S24)
case("scatter-inplace", "scatter", lambda m, x, i, s: x.clone().scatter_(0, i, s), X34, I24, S24)
case("scatter-int", "scatter", lambda m, x, i: x.scatter(1, i[:, :2], 7), I24 * 3, I24)
case("scatter_add", "scatter_add", lambda m, x, i, s: m.T.scatter_add(x, 1, i, s), X34, I24, S24)
case(
    "scatter_add-inplace",
    "scatter_add",
    lambda m, x, i, s: x.clone().scatter_add_(0, i, s),
    X34,
    I24,
    S24,
)
case(
    "index_select",
    "index_select",
    lambda m, x, i: m.T.index_select(x, 1, i),
    X34,
    np.array([3, 0, 3]),
)
case("index_select-method", "index_select", lambda m, x: x.index_select(0, m.T.tensor([2, 2])), X34)
case("index_select-0d-index", "index_select", lambda m, x: x.index_select(-1, m.T.tensor(1)), X34)
case("masked_fill", "masked_fill", lambda m, x, k: x.masked_fill(k, 1.5), X34, MASK34)
case(
    "masked_fill-tensor",
    "masked_fill",
    lambda m, x, k, v: m.T.masked_fill(x, k, v),
    X34,
    MASK34,
    np.array(0.5),
)
case("masked_fill-broadcast", "masked_fill", lambda m, x, k: x.masked_fill(k, -2), X34, MASK34[0])
case(
    "masked_fill-mask-larger", "masked_fill", lambda m, x, k: x.masked_fill(k, 0.0), X34[0], MASK34
)
case("masked_fill-int", "masked_fill", lambda m, x, k: x.masked_fill(k, 2.7), I24, MASK34[:2])
case(
    "masked_fill-inplace-tensor",
    "masked_fill",
    lambda m, x, k, v: x.clone().masked_fill_(k, v),
    X34,
    MASK34,
    np.array(0.5),
)
case("masked_select", "masked_select", lambda m, x, k: m.T.masked_select(x, k), X34, MASK34)
case("masked_select-broadcast", "masked_select", lambda m, x, k: x.masked_select(k), X34[0], MASK34)
case("masked_select-mask-row", "masked_select", lambda m, x, k: x.masked_select(k), X34, MASK34[1])
# issue 9: //, %, fmod with every operand kind (torch's results for negative numbers)
NEG_A = np.array([[-7.0, 7.0, -7.5, 7.5], [-0.5, 3.0, -3.0, 0.0]])
NEG_B = np.array([2.0, -2.0, -2.5, 2.5])
INT_A, INT_B = NEG_A.astype(np.int64), np.array([2, -2, -3, 3])
case("floordiv-int", "floor_divide", lambda m, a, b: a // b, INT_A, INT_B)
case("floordiv-float", "floor_divide", lambda m, a, b: a // b, NEG_A, NEG_B, grad=(False, False))
case("floordiv-scalar", "floor_divide", lambda m, a: m.T.floor_divide(a, -2), INT_A)
case("rfloordiv-scalar", "floor_divide", lambda m, b: 7 // b, INT_B)
case("floordiv-int-float-scalar", "floor_divide", lambda m, a: a // 2.5, INT_A)
case("mod-tensor", "remainder", lambda m, a, b: a % b, NEG_A, NEG_B)
case("mod-int", "remainder", lambda m, a, b: a % b, INT_A, INT_B)
case("mod-scalar", "remainder", lambda m, a: a % -2.5, NEG_A)
case("remainder-fn", "remainder", lambda m, a, b: m.T.remainder(a, b), NEG_A, NEG_B)
case("remainder-method-int-scalar", "remainder", lambda m, a: a.remainder(3), INT_A)
case("rmod-scalar-int", "remainder", lambda m, b: 7 % b, INT_B)
case("fmod-tensor", "fmod", lambda m, a, b: m.T.fmod(a, b), NEG_A, NEG_B)
case("fmod-scalar", "fmod", lambda m, a: a.fmod(-2.5), NEG_A)
case("fmod-int", "fmod", lambda m, a, b: m.T.fmod(a, b), INT_A, INT_B)
case("fmod-inplace", "fmod", lambda m, a, b: a.clone().fmod_(b), NEG_A, NEG_B)
case("remainder-inplace", "remainder", lambda m, a, b: a.clone().remainder_(b), NEG_A, NEG_B)
case("imod-scalar", "remainder", lambda m, a: _iop(a.clone(), "imod", 1.5), NEG_A)
case("ifloordiv-int", "floor_divide", lambda m, a: _iop(a.clone(), "ifloordiv", 3), INT_A)
case("pow-inplace", "pow", lambda m, x: x.clone().pow_(3), X23)
case("pow-inplace-tensor", "pow", lambda m, x, y: x.clone().pow_(y), POS23, Y3)
case("ipow-scalar", "pow", lambda m, x: _iop(x.clone(), "ipow", 2), X23)
case("rpow-tensor-exp-int-base", "pow", lambda m, x: 2**x, np.array([0, 1, 3]))
# issue 9: torch's in-place pointwise variants (x.clone().X_())
for _name, _data in [
    ("abs", X23),
    ("exp", X23),
    ("log", POS23),
    ("sqrt", POS23),
    ("sin", X23),
    ("cos", X23),
    ("tan", _u(2, 3, seed=10, lo=-1.0, hi=1.0)),
    ("tanh", X23),
    ("sigmoid", X23),
    ("neg", X23),
    ("negative", X23),
    ("reciprocal", POS23),
    ("relu", X23),
    ("sign", X23),
    ("erf", X23),
    ("log1p", POS23),
    ("square", X23),
]:
    _op = {"negative": "neg"}.get(_name, _name)
    case(f"{_name}_", _op, lambda m, x, n=_name: getattr(x.clone(), n + "_")(), _data)
case("clamp_", "clamp", lambda m, x: x.clone().clamp_(min=-0.5, max=0.5), X23)
case("clip_", "clamp", lambda m, x: x.clone().clip_(-0.5), X23)
case(
    "clamp-tensor-kw",
    "clamp",
    lambda m, x, lo, hi: m.T.clamp(x, min=lo, max=hi),
    X23,
    Y23 - 1,
    Y3 + 1,
)
case("clamp_-tensor", "clamp", lambda m, x, lo, hi: x.clone().clamp_(lo, hi), X23, Y23 - 1, Y3 + 1)
case("clip-tensor-max", "clamp", lambda m, x, hi: x.clip(max=hi), X23, Y3)
case(
    "clamp-0d-tensor-and-number",
    "clamp",
    lambda m, x, lo: x.clamp(lo, 1.0),
    X23,
    np.array(-0.5),
    grad=(True, False),
)
case("fill_", "fill", lambda m, x: x.clone().fill_(2), X23)
case("fill_-tensor", "fill", lambda m, x, v: x.clone().fill_(v), X23, np.array(1.5))
case("fill-tensor", "fill", lambda m, x, v: m.T.fill(x, v), X23, np.array(1.5))
case("zero_", "zero", lambda m, x: (x * 2).zero_(), X23)
# issue 9: where with Python numbers on either side (or both)
case("where-scalar-self", "where", lambda m, y: m.T.where(y > 0, 1.0, y), Y23)
case("where-scalars-int-tensor", "where", lambda m, y: m.T.where(y > 0, y, 2), np.array([1, -2, 3]))
case("where-scalars", "where", lambda m, y: m.T.where(y > 0, 1.0, -1.0), Y23)
# issue 9: nn.functional's pad, normalize, cosine_similarity
case("pad", "pad", lambda m, x: m.F.pad(x, (1, 2)), X23)
case("pad-crop-value", "pad", lambda m, x: m.F.pad(x, [2, -1, -1, 1], value=-3.0), X234)
case("pad-constant-mode", "pad", lambda m, x: m.F.pad(x, (0, 0, 1, 1), "constant", 0.5), X23)
case("pad-int", "pad", lambda m, x: m.F.pad(x, (1, 1), value=2.5), np.array([1, 2]))
case("normalize", "normalize", lambda m, x: m.F.normalize(x), X23)
case("normalize-p1-dim0", "normalize", lambda m, x: m.F.normalize(x, p=1.0, dim=0), X234)
case(
    "normalize-zero-row",
    "normalize",
    lambda m, x: m.F.normalize(x * m.T.tensor([[0.0], [1.0]])),
    X23,
)
case(
    "cosine_similarity", "cosine_similarity", lambda m, a, b: m.F.cosine_similarity(a, b), X23, Y23
)
case(
    "cosine_similarity-broadcast",
    "cosine_similarity",
    lambda m, a, b: m.T.cosine_similarity(a, b, dim=-1, eps=1e-6),
    X234,
    _u(4, seed=43),
)
case(
    "cosine_similarity-1d",
    "cosine_similarity",
    lambda m, a, b: m.F.cosine_similarity(a, b, dim=0),
    Y3,
    V3,
)


def _iop(x: Any, op: str, other: Any) -> Any:
    """``x op= other`` (an augmented assignment needs a name)."""
    if op == "imod":
        x %= other
    elif op == "ifloordiv":
        x //= other
    else:
        x **= other
    return x


# ops (or overloads) torch gives no derivative: grad_fn NotImplemented, backward raises
NO_DERIVATIVE_CASES = [
    Case("floordiv-grad", "floor_divide", lambda m, a: a // 2, (NEG_A,)),
    Case("rfloordiv-grad", "floor_divide", lambda m, b: 7 // b, (NEG_B,)),
    Case(
        "floor_divide-tensors-grad",
        "floor_divide",
        lambda m, a, b: m.T.floor_divide(a, b),
        (NEG_A, NEG_B),
    ),
    Case("rmod-scalar-grad", "remainder", lambda m, b: 7.5 % b, (NEG_B,)),
]


@pytest.mark.parametrize("case", NO_DERIVATIVE_CASES, ids=[c.id for c in NO_DERIVATIVE_CASES])
def test_no_derivative_matches_torch(case: Case) -> None:
    (_, (e,)), (_, (t,)) = case.run(ENG), case.run(TOR)
    assert_same(e, t)
    assert e.requires_grad and t.requires_grad
    assert _fn_name(e) == _fn_name(t) == "torch::autograd::NotImplemented"
    with pytest.raises(RuntimeError) as t_info:
        t.sum().backward()
    with pytest.raises(engine.EngineError) as e_info:
        e.sum().backward()
    assert isinstance(e_info.value, RuntimeError) and str(t_info.value) in str(e_info.value)


CASE_IDS = [c.id for c in CASES]


def _upstream(t: Any, seed: int) -> np.ndarray:
    g = np.random.default_rng(100 + seed).standard_normal(tuple(t.shape))
    return g.astype(_np(t).dtype)


def _backward(m: Any, outs: list[Any]) -> None:
    """Backward from every output that requires grad, with a seeded random gradient."""
    diff = [(i, o) for i, o in enumerate(outs) if o.requires_grad]
    if diff:
        m.ag.backward([o for _, o in diff], [m.T.tensor(_upstream(o, i)) for i, o in diff])


@pytest.mark.parametrize("case", CASES, ids=CASE_IDS)
def test_op_matches_torch(case: Case) -> None:
    """Values, dtype, shape, requires_grad, grad_fn name, and every input's gradient."""
    (e_in, e_out), (t_in, t_out) = case.run(ENG), case.run(TOR)
    assert len(e_out) == len(t_out)
    for k, (e, t) in enumerate(zip(e_out, t_out, strict=True)):
        assert_same(e, t, f"output {k}")
        assert e.requires_grad == t.requires_grad, f"output {k}: requires_grad"
        assert e.is_leaf == t.is_leaf, f"output {k}: is_leaf"
        assert _fn_name(e) == _fn_name(t), f"output {k}: grad_fn"
    _backward(ENG, e_out)
    _backward(TOR, t_out)
    for k, (e, t) in enumerate(zip(e_in, t_in, strict=True)):
        assert (e.grad is None) == (t.grad is None), f"input {k}: grad is None"
        if t.grad is not None:
            assert_same(e.grad, t.grad, f"grad of input {k}")


def _second_order(m: Any, c: Case) -> list[Any] | None:
    """d/d(inputs) of sum(grad_i * v_i): a Hessian-vector product through create_graph."""
    ins, outs = c.run(m)
    diff = [(i, o) for i, o in enumerate(outs) if o.requires_grad]
    wrt = [x for x in ins if x.requires_grad]
    if not diff or not wrt:
        return None
    ups = [m.T.tensor(_upstream(o, i)) for i, o in diff]
    grads = m.ag.grad([o for _, o in diff], wrt, ups, create_graph=True, allow_unused=True)
    terms = [
        (g * m.T.tensor(_upstream(g, 50 + k))).sum()
        for k, g in enumerate(grads)
        if g is not None and g.requires_grad
    ]
    if not terms:
        return [None] * len(wrt)
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    return list(m.ag.grad(total, wrt, allow_unused=True))


DIFF_CASES = [c for c in CASES if any(c.requires())]


@pytest.mark.parametrize("case", DIFF_CASES, ids=[c.id for c in DIFF_CASES])
def test_op_second_order_matches_torch(case: Case) -> None:
    """Double backward (create_graph=True) gives torch's Hessian-vector products."""
    e, t = _second_order(ENG, case), _second_order(TOR, case)
    if t is None:
        assert e is None
        return
    assert e is not None
    for k, (eg, tg) in enumerate(zip(e, t, strict=True)):
        # torch returns None where our graph carries an explicit zero, and vice versa
        if tg is None and eg is not None:
            assert not _np(eg).any(), f"input {k}: expected no second derivative"
        elif eg is None and tg is not None:
            assert not _np(tg).any(), f"input {k}: missing second derivative"
        elif tg is not None:
            assert_same(eg, tg, f"second derivative of input {k}")


def test_every_op_with_a_surface_has_a_case() -> None:
    """Coverage: an op of the table with a function or method and no torch-parity case fails."""
    covered = {c.op for c in CASES}
    missing = sorted(
        op.name for op in engine.OPS.values() if op.variants and op.name not in covered
    )
    assert not missing, f"ops without a torch-parity case: {missing}"


def test_every_public_op_and_grad_fn_is_covered() -> None:
    """Each public op has a case, and each grad_fn name it can show appears in torch's."""
    seen: dict[str, set[str]] = {}
    for c in CASES + NO_DERIVATIVE_CASES:
        _, outs = c.run(TOR)
        names = seen.setdefault(c.op, set())
        names.update(n for n in map(_fn_name, outs) if n is not None)
    for op in engine.public_ops():
        assert op.name in seen, f"no case for op {op.name!r}"
        missing = {grad_fn_name(n) for n in op.grad_fns} - seen[op.name]
        assert not missing, f"{op.name}: grad_fns {missing} never produced by torch in a case"


# ====================================================== 2. dtype inference and promotion
TENSOR_DATA = {
    "ints": [1, 2, 3],
    "floats": [1.0, 2.5],
    "bools": [True, False],
    "int-and-float": [1, 2.5],
    "bool-and-int": [True, 2],
    "bool-and-float": [False, 0.5],
    "nested": [[1, 2], [3, 4]],
    "nested-mixed": [[1, 2], [3, 4.5]],
    "int-scalar": 7,
    "float-scalar": 1.5,
    "bool-scalar": True,
    "empty": [],
    "np-int32": np.array([1, 2], dtype=np.int32),
    "np-int64": np.array([1, 2], dtype=np.int64),
    "np-float16": np.array([0.5, 2], dtype=np.float16),
    "np-float32": np.array([0.5, 2], dtype=np.float32),
    "np-float64": np.array([0.5, 2], dtype=np.float64),
    "np-bool": np.array([True, False]),
    "np-0d-float64": np.array(2.5),
    "np-scalar-float64": np.float64(2.5),
    "np-scalar-int32": np.int32(3),
}


@pytest.mark.parametrize("data", TENSOR_DATA.values(), ids=TENSOR_DATA.keys())
def test_tensor_dtype_inference(data: Any) -> None:
    assert_same(engine.tensor(data), torch.tensor(data))


# every form torch's range factories take: positional, keywords, 0-d tensors, dtypes
FACTORIES: dict[str, Callable[[Any], Any]] = {
    "arange-end": lambda T: T.arange(5),
    "arange-end-keyword": lambda T: T.arange(end=5),
    "arange-start-end-keywords": lambda T: T.arange(start=1, end=5),
    "arange-step-keyword": lambda T: T.arange(1, end=6, step=2),
    "arange-float-step": lambda T: T.arange(-1.5, 2.5, 0.25),
    "arange-negative-step": lambda T: T.arange(5, 0, -2),
    "arange-0d-tensor": lambda T: T.arange(T.tensor(5)),
    "arange-0d-float-tensors": lambda T: T.arange(T.tensor(1.0), T.tensor(4)),
    "arange-float-dtype": lambda T: T.arange(0, 1, 0.25, dtype=T.float64),
    "arange-int-dtype-float-bounds": lambda T: T.arange(2.5, dtype=T.int64),
    "arange-float16": lambda T: T.arange(-1.5, 2.5, 0.5, dtype=T.float16),
    "arange-bool-end": lambda T: T.arange(True),
    "arange-requires-grad": lambda T: T.arange(0.0, 1.0, 0.125, requires_grad=True),
    "arange-empty": lambda T: T.arange(3, 3),
    "linspace": lambda T: T.linspace(-3.7, 11.3, 101),
    "linspace-keywords": lambda T: T.linspace(start=0, end=1, steps=5),
    "linspace-0d-tensors": lambda T: T.linspace(T.tensor(0.0), T.tensor(1), 3),
    "linspace-float64": lambda T: T.linspace(-3.7, 11.3, 100, dtype=T.float64),
    "linspace-float16": lambda T: T.linspace(0, 1, 7, dtype=T.float16),
    "linspace-int64": lambda T: T.linspace(0, 10, 4, dtype=T.int64),
    "linspace-int64-negative": lambda T: T.linspace(-10, 0, 4, dtype=T.int64),
    "linspace-one": lambda T: T.linspace(2, 5, 1),
    "linspace-none": lambda T: T.linspace(0, 1, 0),
    "linspace-decreasing": lambda T: T.linspace(1, -1, 9),
    "linspace-requires-grad": lambda T: T.linspace(1, 2, 3, requires_grad=True),
    "logspace": lambda T: T.logspace(0, 2, 3),
    "logspace-base": lambda T: T.logspace(0, 2, 3, base=2),
    "logspace-base-positional": lambda T: T.logspace(-1, 1, 5, 3.0),
    "logspace-keywords": lambda T: T.logspace(start=-1, end=1, steps=3, base=3.0, dtype=T.float64),
    "logspace-long": lambda T: T.logspace(-2.5, 3.3, 50),
    "logspace-int64": lambda T: T.logspace(0, 3, 4, dtype=T.int64),
    "logspace-0d-tensor": lambda T: T.logspace(T.tensor(1.0), 2, 5, 2.0, requires_grad=True),
    "logspace-one": lambda T: T.logspace(2, 5, 1),
}


@pytest.mark.parametrize("make", FACTORIES.values(), ids=FACTORIES.keys())
def test_range_factories_match_torch(make: Callable[[Any], Any]) -> None:
    """arange, linspace and logspace: dtype, shape, values, requires_grad, a leaf."""
    e, t = make(engine), make(torch)
    assert_same(e, t)
    assert e.requires_grad == t.requires_grad and e.is_leaf and t.is_leaf


DTYPES = ["bool", "int32", "int64", "float16", "float32", "float64"]
_VALUES = {"bool": [True, False], "int": [1, 2], "float": [0.5, 2.0]}


def _array(dtype: str, zero_d: bool) -> np.ndarray:
    kind = "bool" if dtype == "bool" else ("int" if dtype.startswith("int") else "float")
    vals = _VALUES[kind]
    return np.array(vals[1] if zero_d else vals, dtype=dtype)


TENSOR_KINDS = [(k, d) for k in ("dim", "0d") for d in DTYPES]
OPERAND_KINDS = [*TENSOR_KINDS, ("int", 3), ("float", 2.5), ("bool", True)]


def _operand(m: Any, kind: tuple[str, Any]) -> Any:
    k, v = kind
    if k in ("dim", "0d"):
        return m.T.tensor(_array(v, k == "0d"))
    return v


BINARY = {
    "add": lambda m, a, b: a + b,
    "sub": lambda m, a, b: a - b,
    "mul": lambda m, a, b: a * b,
    "div": lambda m, a, b: a / b,
    "pow": lambda m, a, b: a**b,
    "eq": lambda m, a, b: a == b,
    "lt": lambda m, a, b: a < b,
    "maximum": lambda m, a, b: m.T.maximum(a, b),
    "where": lambda m, a, b: m.T.where(m.T.tensor(True), a, b),
    "floordiv": lambda m, a, b: a // b,
    "mod": lambda m, a, b: a % b,
    "fmod": lambda m, a, b: m.T.fmod(a, b),
}


def _outcome(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except Exception as exc:  # the class is what we compare
        return _builtin(exc)


def _assert_same_outcome(e: Any, t: Any, what: str) -> None:
    if isinstance(t, type):
        assert isinstance(e, type) and issubclass(e, t), f"{what}: torch raised {t}, engine {e!r}"
        return
    assert not isinstance(e, type), f"{what}: engine raised {e}, torch gave {t.dtype}"
    assert_same(e, t, what)


def _kind_id(k: tuple[str, Any]) -> str:
    return f"{k[0]}-{k[1]}" if k[0] in ("dim", "0d") else k[0]


@pytest.mark.parametrize("right", OPERAND_KINDS, ids=map(_kind_id, OPERAND_KINDS))
@pytest.mark.parametrize("left", TENSOR_KINDS, ids=map(_kind_id, TENSOR_KINDS))
def test_binary_promotion(left: Any, right: Any) -> None:
    """Result dtype (or the error) of every binary op over tensor/scalar kinds, both orders."""
    for name, fn in BINARY.items():
        for order in ("ab", "ba"):
            if name == "maximum" and right[0] in ("int", "float", "bool"):
                continue  # torch.maximum takes tensors only; the wire also takes numbers

            def run(m: Any, fn: Any = fn, order: str = order) -> Any:
                a, b = _operand(m, left), _operand(m, right)
                return fn(m, a, b) if order == "ab" else fn(m, b, a)

            e, t = _outcome(lambda: run(ENG)), _outcome(lambda: run(TOR))
            _assert_same_outcome(e, t, f"{name} {order}")


@pytest.mark.parametrize("right", OPERAND_KINDS, ids=map(_kind_id, OPERAND_KINDS))
@pytest.mark.parametrize("left", TENSOR_KINDS, ids=map(_kind_id, TENSOR_KINDS))
def test_result_type(left: Any, right: Any) -> None:
    e_a, e_b = _operand(ENG, left), _operand(ENG, right)
    t_a, t_b = _operand(TOR, left), _operand(TOR, right)
    assert repr(engine.result_type(e_a, e_b)) == str(torch.result_type(t_a, t_b))
    assert repr(engine.result_type(e_b, e_a)) == str(torch.result_type(t_b, t_a))


UNARY_DTYPE = {
    "sum": lambda m, x: x.sum(),
    "sum-dim": lambda m, x: x.sum(0),
    "prod": lambda m, x: x.prod(),
    "mean": lambda m, x: x.mean(),
    "exp": lambda m, x: x.exp(),
    "sqrt": lambda m, x: x.sqrt(),
    "sigmoid": lambda m, x: x.sigmoid(),
    "abs": lambda m, x: x.abs(),
    "neg": lambda m, x: -x,
    "relu": lambda m, x: m.F.relu(x),
    "max": lambda m, x: x.max(),
    "amax": lambda m, x: x.amax(0),
    "max-dim-values": lambda m, x: x.max(0)[0],
    "min-dim-indices": lambda m, x: x.min(0)[1],
    "argmax": lambda m, x: x.argmax(),
    "clamp-int-bounds": lambda m, x: x.clamp(0, 1),
    "clamp-float-bound": lambda m, x: x.clamp(min=0.5),
    "softmax": lambda m, x: x.softmax(0),
    "norm": lambda m, x: x.norm(),
    "div-int": lambda m, x: x / 2,
    "reshape": lambda m, x: x.reshape(2, 1),
    "cat-with-float32": lambda m, x: m.T.cat([x, m.T.tensor([1.5])]),
    "stack-with-int64": lambda m, x: m.T.stack([x, m.T.tensor([1, 0])]),
    "to-int64": lambda m, x: x.to(m.T.int64),
    "eq-scalar": lambda m, x: x == 1,
}


@pytest.mark.parametrize("name", UNARY_DTYPE, ids=UNARY_DTYPE)
@pytest.mark.parametrize("dtype", DTYPES)
def test_unary_dtype(dtype: str, name: str) -> None:
    """Reductions and unary ops: int sums are int64, int division gives float32, ..."""
    fn = UNARY_DTYPE[name]
    e = _outcome(lambda: fn(ENG, ENG.T.tensor(_array(dtype, False))))
    t = _outcome(lambda: fn(TOR, TOR.T.tensor(_array(dtype, False))))
    _assert_same_outcome(e, t, name)


# ====================================================================== 3. errors
@dataclass(frozen=True)
class ErrorCase:
    id: str
    fn: Callable[[Any], Any]
    code: str
    same_text: bool = True  # the engine's message contains torch's
    xfail: str | None = None  # a known difference, with the reason


def _t(m: Any, a: Any, rg: bool = False) -> Any:
    return m.T.tensor(np.asarray(a), requires_grad=rg)


def _backward_twice(m: Any) -> None:
    x = _t(m, Y3, True)
    y = (x * x).sum()
    y.backward()
    y.backward()


def _modified_saved_output(m: Any) -> None:
    x = _t(m, Y3, True)
    y = x.exp()
    y.add_(1)
    y.sum().backward()


def _modified_saved_input(m: Any) -> None:
    x = _t(m, Y3, True)
    y = x * 2
    z = y * y
    y.mul_(3)
    z.sum().backward()


def _modified_through_detach(m: Any) -> None:
    x = _t(m, Y3, True)
    y = x.sigmoid()
    y.detach().zero_()
    y.sum().backward()


def _nonleaf_requires_grad_false(m: Any) -> None:
    (_t(m, Y3, True) * 2).requires_grad_(False)


def _leaf_inplace(m: Any) -> None:
    _t(m, Y3, True).add_(1)


def _grad_unused(m: Any) -> None:
    x, y = _t(m, Y3, True), _t(m, Y3, True)
    m.ag.grad((x * 2).sum(), [x, y])


def _grad_wrong_shape(m: Any) -> None:
    x = _t(m, Y3, True)
    (x * 2).backward(m.T.tensor(np.ones(2)))


def _assign_grad_shape(m: Any) -> None:
    x = _t(m, Y3, True)
    x.grad = m.T.tensor(np.ones(2))


def _assign_grad_dtype(m: Any) -> None:
    x = _t(m, Y3, True)
    x.grad = m.T.tensor(np.ones(3, dtype=np.float32))


def _assign_grad_list(m: Any) -> None:
    x = _t(m, Y3, True)
    x.grad = [1.0, 2.0, 3.0]


ERROR_CASES = [
    ErrorCase("broadcast", lambda m: _t(m, X23) + _t(m, np.ones(4)), "shape_mismatch"),
    ErrorCase("broadcast-mul-3d", lambda m: _t(m, X234) * _t(m, X23), "shape_mismatch"),
    ErrorCase("matmul-2d-2d", lambda m: _t(m, X23) @ _t(m, X23), "shape_mismatch"),
    ErrorCase("matmul-1d-1d", lambda m: _t(m, Y3) @ _t(m, np.ones(2)), "shape_mismatch"),
    ErrorCase("matmul-2d-1d", lambda m: _t(m, X23) @ _t(m, np.ones(2)), "shape_mismatch"),
    ErrorCase("matmul-1d-2d", lambda m: _t(m, Y3) @ _t(m, X23), "shape_mismatch"),
    ErrorCase("matmul-3d-3d", lambda m: _t(m, X234) @ _t(m, X234), "shape_mismatch"),
    ErrorCase("matmul-0d", lambda m: _t(m, 1.0) @ _t(m, Y3), "invalid_argument"),
    ErrorCase(
        "matmul-dtype",
        lambda m: _t(m, X23) @ _t(m, np.ones((3, 2), dtype=np.float32)),
        "dtype_mismatch",
    ),
    ErrorCase("sum-bad-dim", lambda m: _t(m, X23).sum(dim=2), "invalid_argument"),
    ErrorCase("softmax-bad-dim", lambda m: _t(m, X23).softmax(-3), "invalid_argument"),
    ErrorCase("transpose-bad-dim", lambda m: _t(m, X23).transpose(0, 5), "invalid_argument"),
    ErrorCase("unsqueeze-bad-dim", lambda m: _t(m, X23).unsqueeze(4), "invalid_argument"),
    ErrorCase("cat-bad-dim", lambda m: m.T.cat([_t(m, X23), _t(m, X23)], 2), "invalid_argument"),
    ErrorCase("index-out-of-range", lambda m: _t(m, X23)[2], "invalid_argument"),
    ErrorCase("index-out-of-range-dim1", lambda m: _t(m, X23)[0, -4], "invalid_argument"),
    ErrorCase("index-array-out-of-range", lambda m: _t(m, X23)[[0, 5]], "invalid_argument"),
    ErrorCase("too-many-indices", lambda m: _t(m, X23)[0, 0, 0], "invalid_argument"),
    ErrorCase("mask-shape", lambda m: _t(m, X23)[_t(m, [True, False, True])], "invalid_argument"),
    ErrorCase("float-index", lambda m: _t(m, X23)[_t(m, [0.0])], "invalid_argument"),
    ErrorCase(
        "requires-grad-int", lambda m: m.T.tensor([1, 2], requires_grad=True), "invalid_argument"
    ),
    ErrorCase("requires-grad_-bool", lambda m: _t(m, [True]).requires_grad_(), "invalid_argument"),
    ErrorCase(
        "backward-non-scalar", lambda m: (_t(m, Y3, True) * 2).backward(), "grad_requires_scalar"
    ),
    ErrorCase("backward-no-grad", lambda m: _t(m, Y3).sum().backward(), "does_not_require_grad"),
    ErrorCase(
        "grad-of-no-grad-input",
        lambda m: m.ag.grad(_t(m, Y3, True).sum(), [_t(m, Y3)]),
        "does_not_require_grad",
    ),
    ErrorCase("backward-twice", _backward_twice, "graph_freed"),
    ErrorCase("backward-wrong-gradient-shape", _grad_wrong_shape, "shape_mismatch"),
    ErrorCase("grad-unused-input", _grad_unused, "invalid_argument"),
    ErrorCase("requires_grad_-false-non-leaf", _nonleaf_requires_grad_false, "not_leaf"),
    ErrorCase("leaf-inplace", _leaf_inplace, "leaf_inplace"),
    ErrorCase("leaf-setitem", lambda m: _t(m, Y3, True).__setitem__(0, 1.0), "leaf_inplace"),
    ErrorCase(
        "setitem-index-shape",
        lambda m: _t(m, Y3).__setitem__(_t(m, [0, 1]), _t(m, Y3)),
        "shape_mismatch",
    ),
    ErrorCase("modified-saved-output", _modified_saved_output, "modified_inplace"),
    ErrorCase("modified-saved-input", _modified_saved_input, "modified_inplace"),
    ErrorCase("modified-through-detach", _modified_through_detach, "modified_inplace"),
    ErrorCase("mean-int", lambda m: _t(m, [1, 2]).mean(), "invalid_argument"),
    ErrorCase("norm-int", lambda m: _t(m, [1, 2]).norm(), "invalid_argument"),
    ErrorCase("softmax-int", lambda m: _t(m, [1, 2]).softmax(0), "invalid_argument"),
    ErrorCase("neg-bool", lambda m: -_t(m, [True]), "invalid_argument"),
    ErrorCase("sub-bool", lambda m: _t(m, [True]) - _t(m, [False]), "invalid_argument"),
    ErrorCase("int-negative-power", lambda m: _t(m, [1, 2]) ** -1, "invalid_argument"),
    ErrorCase("where-float-cond", lambda m: m.T.where(_t(m, Y3), _t(m, Y3), 0.0), "dtype_mismatch"),
    ErrorCase("clamp-no-bounds", lambda m: _t(m, Y3).clamp(), "invalid_argument"),
    ErrorCase(
        "cross_entropy-target-out-of-bounds",
        lambda m: m.F.cross_entropy(_t(m, LOGITS), _t(m, [0, 1, 3, 0])),
        "invalid_argument",
    ),
    ErrorCase(
        "cross_entropy-negative-target",
        lambda m: m.F.cross_entropy(_t(m, LOGITS), _t(m, [0, -1, 2, 0])),
        "invalid_argument",
    ),
    ErrorCase(
        "cross_entropy-batch-mismatch",
        lambda m: m.F.cross_entropy(_t(m, LOGITS), _t(m, [0, 1])),
        "shape_mismatch",
    ),
    ErrorCase(
        "cross_entropy-bad-reduction",
        lambda m: m.F.cross_entropy(_t(m, LOGITS), _t(m, TARGET), reduction="avg"),
        "invalid_argument",
    ),
    ErrorCase(
        "bce-input-above-1",
        lambda m: m.F.binary_cross_entropy(_t(m, PROBS + 1), _t(m, LABELS)),
        "invalid_argument",
    ),
    ErrorCase(
        "bce-input-below-0",
        lambda m: m.F.binary_cross_entropy(_t(m, -PROBS), _t(m, LABELS)),
        "invalid_argument",
    ),
    ErrorCase("reshape-wrong-size", lambda m: _t(m, X23).reshape(4, 2), "invalid_argument"),
    ErrorCase("reshape-two-infer", lambda m: _t(m, X23).reshape(-1, -1), "invalid_argument"),
    ErrorCase("view-wrong-size", lambda m: _t(m, X23).view(5), "invalid_argument"),
    ErrorCase("view-noncontiguous", lambda m: _t(m, X23).t().view(6), "invalid_argument"),
    ErrorCase("expand-incompatible", lambda m: _t(m, X23).expand(2, 4), "shape_mismatch"),
    ErrorCase("expand-too-few-sizes", lambda m: _t(m, X23).expand(3), "shape_mismatch"),
    ErrorCase(
        "cat-mismatched",
        lambda m: m.T.cat([_t(m, X23), _t(m, np.ones((2, 4)))]),
        "shape_mismatch",
    ),
    ErrorCase("cat-ndim-mismatch", lambda m: m.T.cat([_t(m, X23), _t(m, Y3)]), "shape_mismatch"),
    ErrorCase(
        "stack-mismatched",
        lambda m: m.T.stack([_t(m, X23), _t(m, np.ones((2, 4)))]),
        "shape_mismatch",
    ),
    ErrorCase("permute-wrong-length", lambda m: _t(m, X234).permute(1, 0), "invalid_argument"),
    ErrorCase("permute-repeated", lambda m: _t(m, X23).permute(0, 0), "invalid_argument"),
    ErrorCase("item-many", lambda m: _t(m, Y3).item(), "invalid_argument"),
    ErrorCase("bool-many", lambda m: bool(_t(m, Y3)), "invalid_argument"),
    ErrorCase("numpy-requires-grad", lambda m: _t(m, Y3, True).numpy(), "invalid_argument"),
    ErrorCase("retain_grad-no-grad", lambda m: _t(m, Y3).retain_grad(), "invalid_argument"),
    ErrorCase("assign-grad-shape", _assign_grad_shape, "shape_mismatch"),
    ErrorCase("assign-grad-dtype", _assign_grad_dtype, "invalid_argument"),
    ErrorCase("assign-grad-not-tensor", _assign_grad_list, "invalid_argument"),
    ErrorCase("tensor-ragged", lambda m: m.T.tensor([[1, 2], [3]]), "invalid_argument"),
    ErrorCase(
        "tensor-ragged-deep", lambda m: m.T.tensor([[[1], [2]], [[1], [2, 3]]]), "invalid_argument"
    ),
    ErrorCase(
        "zeros-int-requires-grad",
        lambda m: m.T.zeros(2, dtype=m.T.int64, requires_grad=True),
        "invalid_argument",
    ),
    ErrorCase("sub-bool-scalar", lambda m: _t(m, [1.0]) - True, "invalid_argument"),
    ErrorCase("rsub-bool-tensor", lambda m: 1 - _t(m, [True]), "invalid_argument"),
    ErrorCase("pow-bool", lambda m: _t(m, [True]) ** _t(m, [True]), "invalid_argument"),
    ErrorCase("abs-bool", lambda m: _t(m, [True]).abs(), "invalid_argument"),
    ErrorCase("relu-bool", lambda m: m.F.relu(_t(m, [True])), "invalid_argument"),
    ErrorCase("argmax-bool", lambda m: _t(m, [True]).argmax(), "invalid_argument"),
    ErrorCase("clamp-bool", lambda m: _t(m, [True]).clamp(min=True), "invalid_argument"),
    ErrorCase("t-3d", lambda m: _t(m, X234).t(), "invalid_argument"),
    ErrorCase("squeeze-bad-dim", lambda m: _t(m, X23).squeeze(3), "invalid_argument"),
    ErrorCase("flatten-bad-dims", lambda m: _t(m, X234).flatten(2, 1), "invalid_argument"),
    ErrorCase(
        "bce-target-size",
        lambda m: m.F.binary_cross_entropy(_t(m, PROBS), _t(m, LABELS[0])),
        "shape_mismatch",
    ),
    ErrorCase(
        "mse-bad-reduction",
        lambda m: m.F.mse_loss(_t(m, Y3), _t(m, Y3), reduction="avg"),
        "invalid_argument",
    ),
    ErrorCase(
        "cross_entropy-2d-target",
        lambda m: m.F.cross_entropy(_t(m, LOGITS), _t(m, np.zeros((4, 2), dtype=np.int64))),
        "shape_mismatch",
    ),
    ErrorCase(
        "cross_entropy-int32-target",
        lambda m: m.F.cross_entropy(_t(m, LOGITS), _t(m, TARGET.astype(np.int32))),
        "dtype_mismatch",
    ),
    ErrorCase(
        "cross_entropy-1d-input-target-size",
        lambda m: m.F.cross_entropy(_t(m, Y3), _t(m, [0, 1])),
        "shape_mismatch",
    ),
    ErrorCase(
        "cross_entropy-int-probabilities",
        lambda m: m.F.cross_entropy(_t(m, LOGITS), _t(m, np.zeros((4, 3), dtype=np.int64))),
        "dtype_mismatch",
    ),
    ErrorCase(
        "cross_entropy-spatial-target-size",
        lambda m: m.F.cross_entropy(_t(m, X234), _t(m, np.zeros((2, 3), dtype=np.int64))),
        "shape_mismatch",
    ),
    ErrorCase(
        "cross_entropy-float-target-shape",
        lambda m: m.F.cross_entropy(_t(m, LOGITS), _t(m, np.ones((4, 2)))),
        "shape_mismatch",
    ),
    ErrorCase(
        "leaf-setitem-mask",
        lambda m: _t(m, Y3, True).__setitem__(_t(m, Y3) > 0, 0.0),
        "leaf_inplace",
    ),
    ErrorCase(
        "leaf-inplace-view",
        lambda m: _t(m, Y3, True)[0].add_(1),
        "leaf_inplace",
    ),
    ErrorCase("inplace-broadcast-shape", lambda m: _t(m, Y3).add_(_t(m, X23)), "shape_mismatch"),
    ErrorCase("inplace-cast", lambda m: _t(m, [1, 2]).mul_(1.5), "invalid_argument"),
    ErrorCase(
        "mse-broadcast", lambda m: m.F.mse_loss(_t(m, X23), _t(m, np.ones(4))), "shape_mismatch"
    ),  # issue 9's ops
    ErrorCase("gather-ndim", lambda m: _t(m, X34).gather(0, _t(m, I24[0])), "invalid_argument"),
    ErrorCase(
        "gather-out-of-bounds", lambda m: _t(m, X34).gather(0, _t(m, I24 + 2)), "invalid_argument"
    ),
    ErrorCase(
        "gather-negative", lambda m: _t(m, X34).gather(1, _t(m, I24 - 1)), "invalid_argument"
    ),
    ErrorCase("gather-float-index", lambda m: _t(m, X34).gather(0, _t(m, S24)), "invalid_argument"),
    ErrorCase(
        "gather-index-too-wide",
        lambda m: _t(m, X34).gather(0, _t(m, np.zeros((2, 5), dtype=np.int64))),
        "invalid_argument",
    ),
    ErrorCase("gather-bad-dim", lambda m: _t(m, X34).gather(2, _t(m, I24)), "invalid_argument"),
    ErrorCase(
        "scatter-dtype", lambda m: _t(m, X34).scatter(0, _t(m, I24), _t(m, I24)), "invalid_argument"
    ),
    ErrorCase(
        "scatter-src-too-small",
        lambda m: _t(m, X34).scatter(0, _t(m, I24), _t(m, X34[:1])),
        "invalid_argument",
    ),
    ErrorCase(
        "scatter-out-of-bounds",
        lambda m: _t(m, X34).scatter(0, _t(m, I24 + 1), 1.0),
        "invalid_argument",
    ),
    ErrorCase(
        "scatter_add-number",
        lambda m: m.T.scatter_add(_t(m, X34), 0, _t(m, I24), 2.0),
        "invalid_argument",
    ),
    ErrorCase(
        "scatter-src-larger-backward",
        lambda m: m.T.scatter(_t(m, X34), 0, _t(m, I24), _t(m, S34, True)).sum().backward(),
        "invalid_argument",
    ),
    ErrorCase(
        "index_select-2d-index",
        lambda m: _t(m, X34).index_select(0, _t(m, I24)),
        "invalid_argument",
    ),
    ErrorCase(
        "index_select-out-of-range",
        lambda m: _t(m, X34).index_select(0, _t(m, [3])),
        "invalid_argument",
    ),
    ErrorCase(
        "index_select-float-index",
        lambda m: _t(m, X34).index_select(1, _t(m, [1.0])),
        "invalid_argument",
    ),
    ErrorCase(
        "masked_fill-float-mask",
        lambda m: _t(m, X34).masked_fill(_t(m, X34), 1.0),
        "invalid_argument",
    ),
    ErrorCase(
        "masked_fill-1d-value",
        lambda m: _t(m, X34).masked_fill(_t(m, MASK34), _t(m, [1.0])),
        "invalid_argument",
    ),
    ErrorCase(
        "masked_fill_-mask-larger",
        lambda m: _t(m, X34[0]).masked_fill_(_t(m, MASK34), 1.0),
        "shape_mismatch",
    ),
    ErrorCase(
        "masked_fill-bad-broadcast",
        lambda m: _t(m, X34).masked_fill(_t(m, MASK34[:, :3]), 1.0),
        "shape_mismatch",
    ),
    ErrorCase(
        "masked_select-float-mask",
        lambda m: m.T.masked_select(_t(m, X34), _t(m, X34)),
        "invalid_argument",
    ),
    ErrorCase("floordiv-int-by-zero", lambda m: _t(m, INT_A) // 0, "invalid_argument"),
    ErrorCase(
        "mod-int-by-zero-tensor", lambda m: _t(m, INT_A) % _t(m, [1, 0, 1, 1]), "invalid_argument"
    ),
    ErrorCase("fmod-int-by-zero", lambda m: m.T.fmod(_t(m, INT_A), 0), "invalid_argument"),
    ErrorCase("floordiv-bool", lambda m: _t(m, [True]) // _t(m, [True]), "invalid_argument"),
    ErrorCase("mod-bool", lambda m: _t(m, [True]) % _t(m, [True]), "invalid_argument"),
    ErrorCase(
        "ifloordiv-int-by-float", lambda m: _iop(_t(m, INT_A), "ifloordiv", 2.5), "invalid_argument"
    ),
    ErrorCase("leaf-exp_", lambda m: _t(m, Y3, True).exp_(), "leaf_inplace"),
    ErrorCase("leaf-clip_", lambda m: _t(m, Y3, True).clip_(0.0), "leaf_inplace"),
    ErrorCase(
        "leaf-scatter_", lambda m: _t(m, X34, True).scatter_(0, _t(m, I24), 1.0), "leaf_inplace"
    ),
    ErrorCase(
        "leaf-masked_fill_",
        lambda m: _t(m, X34, True).masked_fill_(_t(m, MASK34), 0.0),
        "leaf_inplace",
    ),
    ErrorCase("sqrt_-int", lambda m: _t(m, [1, 4]).sqrt_(), "invalid_argument"),
    ErrorCase("exp_-then-modified", lambda m: _exp_then_modified(m), "modified_inplace"),
    ErrorCase("fill_-1d-value", lambda m: _t(m, Y3).fill_(_t(m, [1.0])), "invalid_argument"),
    ErrorCase(
        "clamp-tensor-and-number",
        lambda m: m.T.clamp(_t(m, Y3), min=_t(m, Y3), max=1.0),
        "invalid_argument",
        False,
    ),
    ErrorCase("pad-odd", lambda m: m.F.pad(_t(m, X23), (1,)), "invalid_argument"),
    ErrorCase(
        "pad-too-long", lambda m: m.F.pad(_t(m, X23), (1, 1, 1, 1, 1, 1)), "invalid_argument"
    ),
    ErrorCase("pad-crop-too-much", lambda m: m.F.pad(_t(m, X23), (-2, -2)), "invalid_argument"),
    ErrorCase(
        "pad-unknown-mode", lambda m: m.F.pad(_t(m, X23), (1, 1), mode="bogus"), "invalid_argument"
    ),
    ErrorCase("normalize-int", lambda m: m.F.normalize(_t(m, [[1, 2]])), "invalid_argument"),
    ErrorCase("normalize-bad-dim", lambda m: m.F.normalize(_t(m, Y3)), "invalid_argument"),
    ErrorCase(
        "cosine_similarity-broadcast",
        lambda m: m.F.cosine_similarity(_t(m, X23), _t(m, np.ones(2))),
        "shape_mismatch",
    ),
    ErrorCase(
        "cosine_similarity-int",
        lambda m: m.F.cosine_similarity(_t(m, [[1, 2]]), _t(m, [[1, 2]])),
        "invalid_argument",
    ),
    ErrorCase("var-int", lambda m: _t(m, [1, 2, 3]).var(), "invalid_argument"),
    ErrorCase("std-bad-dim", lambda m: m.T.std(_t(m, X23), 2), "invalid_argument"),
    ErrorCase(
        "vector_norm-ord-str",
        lambda m: m.T.linalg.vector_norm(_t(m, Y3), "fro"),
        "invalid_argument",
    ),
    ErrorCase(
        "vector_norm-int", lambda m: m.T.linalg.vector_norm(_t(m, [1, 2])), "invalid_argument"
    ),
    ErrorCase("var_mean-int", lambda m: m.T.var_mean(_t(m, [1, 2])), "invalid_argument"),
    ErrorCase("cumsum-bad-dim", lambda m: _t(m, X23).cumsum(2), "invalid_argument"),
    ErrorCase("cumprod-bad-dim", lambda m: m.T.cumprod(_t(m, Y3), -2), "invalid_argument"),
    ErrorCase("sort-bad-dim", lambda m: _t(m, X23).sort(2), "invalid_argument"),
    ErrorCase("argsort-bad-dim", lambda m: m.T.argsort(_t(m, X23), -3), "invalid_argument"),
    ErrorCase("topk-k-too-big", lambda m: _t(m, X23).topk(4), "invalid_argument"),
    ErrorCase("topk-k-negative", lambda m: m.T.topk(_t(m, X23), -1), "invalid_argument"),
    ErrorCase("topk-bad-dim", lambda m: _t(m, X23).topk(1, dim=5), "invalid_argument"),
    ErrorCase(
        "isclose-dtypes",
        lambda m: m.T.isclose(_t(m, [1, 2]), _t(m, [1.0, 3.0])),
        "invalid_argument",
    ),
    ErrorCase(
        "isclose-negative-rtol",
        lambda m: _t(m, Y3).isclose(_t(m, Y3), rtol=-1),
        "invalid_argument",
    ),
    ErrorCase(
        "allclose-broadcast", lambda m: m.T.allclose(_t(m, Y3), _t(m, np.ones(2))), "shape_mismatch"
    ),
    ErrorCase(
        "norm-dtype-narrowing",
        lambda m: _t(m, Y3).norm(dtype=m.T.float32),
        "invalid_argument",
    ),
    ErrorCase("narrow-past-end", lambda m: _t(m, X46).narrow(1, 5, 2), "invalid_argument"),
    ErrorCase("narrow-start-range", lambda m: _t(m, X46).narrow(1, 7, 0), "invalid_argument"),
    ErrorCase("narrow-negative-length", lambda m: _t(m, X46).narrow(0, 0, -1), "invalid_argument"),
    ErrorCase("narrow-0d", lambda m: _t(m, 1.0).narrow(0, 0, 1), "invalid_argument"),
    ErrorCase("split-sizes-sum", lambda m: _t(m, X46).split([1, 2], 1), "invalid_argument"),
    ErrorCase("split-negative", lambda m: _t(m, X46).split(-1), "invalid_argument"),
    ErrorCase("split-zero", lambda m: _t(m, X46).split(0, 1), "invalid_argument"),
    ErrorCase("split-0d", lambda m: _t(m, 1.0).split(1), "invalid_argument"),
    ErrorCase("chunk-zero", lambda m: _t(m, X46).chunk(0), "invalid_argument"),
    ErrorCase("chunk-0d", lambda m: _t(m, 1.0).chunk(2), "invalid_argument"),
    ErrorCase("repeat-too-few", lambda m: _t(m, X46).repeat(2), "invalid_argument"),
    ErrorCase("repeat-negative", lambda m: _t(m, X46).repeat(-1, 1), "invalid_argument"),
    ErrorCase("flip-repeated-dim", lambda m: _t(m, X46).flip(0, 0), "invalid_argument"),
    ErrorCase("flip-bad-dim", lambda m: _t(m, X46).flip(2), "invalid_argument"),
    ErrorCase("roll-misaligned", lambda m: _t(m, X46).roll((1, 2), (0,)), "invalid_argument"),
    ErrorCase("roll-no-dims-two-shifts", lambda m: _t(m, X46).roll((1, 2)), "invalid_argument"),
    ErrorCase("roll-no-shifts", lambda m: _t(m, X46).roll(()), "invalid_argument"),
    ErrorCase("tril-1d", lambda m: _t(m, Y3).tril(), "invalid_argument"),
    ErrorCase("triu-1d", lambda m: m.T.triu(_t(m, Y3)), "invalid_argument"),
    ErrorCase("mv-size", lambda m: m.T.mv(_t(m, X46), _t(m, np.ones(5))), "shape_mismatch"),
    ErrorCase("mv-2d-vec", lambda m: m.T.mv(_t(m, X46), _t(m, X46)), "invalid_argument"),
    ErrorCase(
        "mv-dtype",
        lambda m: m.T.mv(_t(m, X46), _t(m, np.ones(6, dtype=np.float32))),
        "dtype_mismatch",
    ),
    ErrorCase("bmm-2d", lambda m: m.T.bmm(_t(m, X46), _t(m, X46)), "invalid_argument"),
    ErrorCase("bmm-size", lambda m: m.T.bmm(_t(m, B234), _t(m, B234)), "shape_mismatch"),
    ErrorCase(
        "bmm-dtype",
        lambda m: m.T.bmm(_t(m, B234), _t(m, B245.astype(np.float32))),
        "dtype_mismatch",
    ),
    ErrorCase(
        "einsum-size", lambda m: m.T.einsum("ij,j->i", _t(m, X46), _t(m, Y3)), "shape_mismatch"
    ),
    ErrorCase("einsum-too-few", lambda m: m.T.einsum("ij,j->i", _t(m, X46)), "invalid_argument"),
    ErrorCase(
        "einsum-too-many",
        lambda m: m.T.einsum("ij->i", _t(m, X46), _t(m, X46)),
        "invalid_argument",
    ),
    ErrorCase("einsum-rank", lambda m: m.T.einsum("ijk->i", _t(m, X46)), "invalid_argument"),
    ErrorCase("einsum-output", lambda m: m.T.einsum("ij->k", _t(m, X46)), "invalid_argument"),
    ErrorCase("einsum-bad-char", lambda m: m.T.einsum("i1->i", _t(m, X46)), "invalid_argument"),
    ErrorCase("einsum-repeat-out", lambda m: m.T.einsum("ij->ii", _t(m, X46)), "invalid_argument"),
    ErrorCase(
        "einsum-dtype",
        lambda m: m.T.einsum("ij,jk", _t(m, X23), _t(m, M32.astype(np.float32))),
        "dtype_mismatch",
    ),
    ErrorCase("arange-zero-step", lambda m: m.T.arange(0, 1, 0), "invalid_argument"),
    ErrorCase("arange-step-sign", lambda m: m.T.arange(0, -1, 1), "invalid_argument"),
    ErrorCase("arange-bool", lambda m: m.T.arange(3, dtype=m.T.bool), "invalid_argument"),
    ErrorCase(
        "arange-int-requires-grad",
        lambda m: m.T.arange(3, requires_grad=True),
        "invalid_argument",
    ),
    ErrorCase("linspace-negative-steps", lambda m: m.T.linspace(0, 1, -1), "invalid_argument"),
    ErrorCase("linspace-bool", lambda m: m.T.linspace(0, 1, 3, dtype=m.T.bool), "invalid_argument"),
    ErrorCase("logspace-negative-steps", lambda m: m.T.logspace(0, 1, -2), "invalid_argument"),
    ErrorCase(
        "logspace-int-requires-grad",
        lambda m: m.T.logspace(0, 1, 2, dtype=m.T.int64, requires_grad=True),
        "invalid_argument",
    ),
]


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_pad_modes_other_than_constant_are_not_implemented(mode: str) -> None:
    """torch pads in these modes; gradserve says it does not, naming the mode (a 4xx on the
    wire: the error is an engine error with code invalid_argument)."""
    assert torch.nn.functional.pad(torch.zeros(1, 2, 3), (1, 1), mode=mode).shape == (1, 2, 5)
    with pytest.raises(NotImplementedError, match=f"mode='{mode}'") as info:
        engine.nn.functional.pad(engine.zeros(1, 2, 3), (1, 1), mode=mode)
    assert isinstance(info.value, engine.EngineError) and info.value.code == "invalid_argument"


def _exp_then_modified(m: Any) -> None:
    x = _t(m, Y3, True)
    y = x.clone()
    y.exp_()
    y.add_(1)
    y.sum().backward()


@pytest.mark.parametrize(
    "err",
    [
        pytest.param(
            c, id=c.id, marks=[pytest.mark.xfail(strict=True, reason=c.xfail)] if c.xfail else []
        )
        for c in ERROR_CASES
    ],
)
def test_errors(err: ErrorCase) -> None:
    """Same builtin class as torch, torch's text inside ours, and docs/api.md's code."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(Exception) as t_info:
            err.fn(TOR)
    with pytest.raises(engine.EngineError) as e_info:
        err.fn(ENG)
    t_exc, e_exc = t_info.value, e_info.value
    assert isinstance(e_exc, _builtin(t_exc)), f"torch raises {type(t_exc)}, engine {type(e_exc)}"
    assert e_exc.code == err.code
    if err.same_text:
        assert str(t_exc).strip() in str(e_exc), f"torch: {t_exc!s}\nengine: {e_exc!s}"


# ============================================================ 4. autograd semantics
def _py(v: Any) -> Any:
    """Tensors to comparable host values; containers recursively."""
    if isinstance(v, engine.Tensor | torch.Tensor):
        return ("tensor", str(v.dtype), _np(v))
    if isinstance(v, dict):
        return {k: _py(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_py(x) for x in v]
    return v


def _assert_same_py(e: Any, t: Any, path: str = "") -> None:
    if isinstance(t, dict):
        assert e.keys() == t.keys(), path
        for k in t:
            _assert_same_py(e[k], t[k], f"{path}.{k}")
    elif isinstance(t, tuple) and t and t[0] == "tensor":
        assert isinstance(e, tuple) and e[1] == t[1], f"{path}: {e!r} != {t!r}"
        assert e[2].shape == t[2].shape, path
        np.testing.assert_allclose(e[2], t[2], rtol=1e-6, atol=1e-10, err_msg=path)
    elif isinstance(t, list):
        assert isinstance(e, list) and len(e) == len(t), path
        for i, (a, b) in enumerate(zip(e, t, strict=True)):
            _assert_same_py(a, b, f"{path}[{i}]")
    else:
        assert e == t, f"{path}: {e!r} != {t!r}"


SCENARIOS: dict[str, Callable[[Any], dict[str, Any]]] = {}


def scenario(fn: Callable[[Any], dict[str, Any]]) -> Callable[[Any], dict[str, Any]]:
    SCENARIOS[fn.__name__] = fn
    return fn


@scenario
def accumulate_with_retain_graph(m: Any) -> dict[str, Any]:
    x = _t(m, Y3, True)
    y = (x * x + x.sin()).sum()
    y.backward(retain_graph=True)
    first = x.grad.clone()
    y.backward()
    return {"first": first, "second": x.grad, "leaf": x.grad.is_leaf}


@scenario
def shared_subgraph_accumulates(m: Any) -> dict[str, Any]:
    x = _t(m, Y3, True)
    h = x.exp()
    out = (h * 2).sum() + (h * h).mean() + x.sum()
    out.backward()
    return {"grad": x.grad}


@scenario
def second_backward_without_saved_values(m: Any) -> dict[str, Any]:
    """graph_freed only when a freed saved value is needed: add, sub, mean save none."""
    x = _t(m, Y3, True)
    y = (x + x - 1).reshape(3, 1).expand(3, 2).mean()
    y.backward()
    y.backward()
    return {"grad": x.grad}


@scenario
def non_leaf_grad_and_retain_grad(m: Any) -> dict[str, Any]:
    x = _t(m, Y3, True)
    y = x * 3
    z = y.tanh()
    y.retain_grad()
    z.sum().backward()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        z_grad = z.grad
    return {
        "x": x.grad,
        "y": y.grad,
        "z_none": z_grad is None,
        "y_retains": y.retains_grad,
        "z_retains": z.retains_grad,
        "leaves": [x.is_leaf, y.is_leaf, z.is_leaf],
    }


@scenario
def backward_inputs(m: Any) -> dict[str, Any]:
    a, b = _t(m, Y3, True), _t(m, Y3 + 1, True)
    h = a * b
    out = (h * h).sum()
    out.backward(inputs=[b, h], retain_graph=True)
    first = {"a_none": a.grad is None, "b": b.grad, "h": h.grad}
    m.ag.backward(out, inputs=a)
    return {**first, "a": a.grad}


@scenario
def autograd_grad_allow_unused(m: Any) -> dict[str, Any]:
    x, y, z = _t(m, Y3, True), _t(m, Y3 * 2, True), _t(m, Y3, True)
    out = (x * y).sum()
    gx, gz, gy = m.ag.grad(out, [x, z, y], allow_unused=True)
    return {
        "gx": gx,
        "gz_none": gz is None,
        "gy": gy,
        "grads_untouched": [x.grad is None, y.grad is None],
        "gx_requires_grad": gx.requires_grad,
    }


@scenario
def autograd_grad_outputs(m: Any) -> dict[str, Any]:
    x = _t(m, X23, True)
    y = x.exp() * 2
    (g,) = m.ag.grad(y, x, grad_outputs=_t(m, Y23), retain_graph=True)
    (g2,) = m.ag.grad([y.sum(), (x * x).sum()], [x])
    return {"g": g, "g2": g2}


def _mlp(m: Any) -> tuple[list[Any], Any]:
    x = _t(m, _u(5, 3, seed=30))
    w1, b1 = _t(m, _u(3, 4, seed=31), True), _t(m, _u(4, seed=32), True)
    w2 = _t(m, _u(4, 2, seed=33), True)
    target = _t(m, np.array([0, 1, 1, 0, 1]))
    hidden = (x @ w1 + b1).tanh()
    logits = m.F.gelu(hidden) @ w2
    loss = m.F.cross_entropy(logits, target) + (w1 * w1).sum() * 0.01
    return [w1, b1, w2], loss


@scenario
def hessian_vector_product_mlp(m: Any) -> dict[str, Any]:
    params, loss = _mlp(m)
    grads = m.ag.grad(loss, params, create_graph=True)
    vs = [_t(m, _u(*p.shape, seed=40 + i)) for i, p in enumerate(params)]
    gv = sum(((g * v).sum() for g, v in zip(grads, vs, strict=True)), start=_t(m, 0.0))
    hvp = m.ag.grad(gv, params)
    return {
        "loss": loss,
        "grads": [g.detach() for g in grads],
        "grads_require_grad": [g.requires_grad for g in grads],
        "hvp": list(hvp),
    }


@scenario
def backward_create_graph_then_grad(m: Any) -> dict[str, Any]:
    x = _t(m, Y3, True)
    y = (x**3).sum()
    with warnings.catch_warnings():  # torch warns about the grad <-> graph reference cycle
        warnings.simplefilter("ignore")
        y.backward(create_graph=True)
    first = x.grad
    (second,) = m.ag.grad(first.sum(), x)
    return {"first": first.detach(), "requires": first.requires_grad, "second": second}


@scenario
def third_derivative(m: Any) -> dict[str, Any]:
    x = _t(m, Y3, True)
    y = (x.sin() * x**2).sum()
    (g1,) = m.ag.grad(y, x, create_graph=True)
    (g2,) = m.ag.grad(g1.sum(), x, create_graph=True)
    (g3,) = m.ag.grad(g2.sum(), x)
    return {"g1": g1.detach(), "g2": g2.detach(), "g3": g3}


@scenario
def grad_mode_nesting(m: Any) -> dict[str, Any]:
    x = _t(m, Y3, True)
    seen = []
    with m.T.no_grad():
        a = x * 2
        seen.append(m.T.is_grad_enabled())
        with m.T.enable_grad():
            b = x * 2
            seen.append(m.T.is_grad_enabled())
        c = x * 2
    with m.T.set_grad_enabled(False):
        d = x + 1
    seen.append(m.T.is_grad_enabled())

    @m.T.no_grad()
    def doubled(t: Any) -> Any:
        return t * 2

    @m.T.enable_grad()
    def tripled(t: Any) -> Any:
        return t * 3

    e = doubled(x)
    with m.T.no_grad():
        f = tripled(x)
    return {
        "modes": seen,
        "requires": [t.requires_grad for t in (a, b, c, d, e, f)],
        "fns": [_fn_name(t) for t in (a, b, c, d, e, f)],
        "after": m.T.is_grad_enabled(),
    }


@scenario
def detach_shares_storage(m: Any) -> dict[str, Any]:
    x = _t(m, Y3, True)
    d = x.detach()
    d.mul_(2)
    y = x * 1
    yd = y.detach()
    return {
        "x": x,
        "x_version": x._version,
        "d_requires": d.requires_grad,
        "d_leaf": d.is_leaf,
        "yd_fn": _fn_name(yd),
        "yd_requires": yd.requires_grad,
    }


@scenario
def requires_grad_rules(m: Any) -> dict[str, Any]:
    x = _t(m, Y3)
    before = x.requires_grad
    x.requires_grad_()
    y = x * 2
    y.requires_grad_(True)  # a no-op on a non-leaf
    z = y.detach().requires_grad_()
    w = _t(m, Y3)
    w.requires_grad = True
    v = _t(m, Y3, True)
    v.requires_grad_(False)
    mixed = v * x
    return {
        "before": before,
        "x": [x.requires_grad, x.is_leaf],
        "y": [y.requires_grad, y.is_leaf],
        "z": [z.requires_grad, z.is_leaf, _fn_name(z)],
        "w": w.requires_grad,
        "v": v.requires_grad,
        "mixed": [mixed.requires_grad, _fn_name(mixed)],
        "int_ok": _t(m, [1, 2]).requires_grad_(False).requires_grad,
    }


@scenario
def sgd_steps(m: Any) -> dict[str, Any]:
    w = _t(m, _u(3, 2, seed=50), True)
    b = _t(m, np.zeros(2), True)
    x, y = _t(m, _u(4, 3, seed=51)), _t(m, _u(4, 2, seed=52))
    losses, versions = [], []
    for _ in range(3):
        loss = m.F.mse_loss(x @ w + b, y)
        loss.backward()
        with m.T.no_grad():
            w -= 0.1 * w.grad
            b.sub_(b.grad, alpha=0.1)
        versions.append([w._version, b._version])
        w.grad = None
        b.grad.zero_()
        losses.append(loss.detach())
    return {
        "w": w,
        "b": b,
        "losses": losses,
        "versions": versions,
        "w_state": [w.is_leaf, w.requires_grad, w.grad is None, _fn_name(w)],
        "b_grad": b.grad,
    }


@scenario
def version_counter(m: Any) -> dict[str, Any]:
    x = _t(m, Y3)
    versions = [x._version]
    x.add_(1)
    versions.append(x._version)
    x.mul_(2)
    versions.append(x._version)
    x[0] = 5.0
    versions.append(x._version)
    x.zero_()
    versions.append(x._version)
    x += 1
    versions.append(x._version)
    y = x + 1
    versions.append(y._version)
    return {"versions": versions, "x": x}


@scenario
def inplace_on_non_leaf(m: Any) -> dict[str, Any]:
    x = _t(m, Y3, True)
    y = x * 2
    y.add_(1)
    name_add = _fn_name(y)
    y.mul_(x)
    name_mul = _fn_name(y)
    y.sum().backward()
    return {"names": [name_add, name_mul], "version": y._version, "grad": x.grad, "y": y}


@scenario
def data_edits_not_tracked(m: Any) -> dict[str, Any]:
    x = _t(m, Y3, True)
    y = x.sigmoid()
    y.data.add_(0.5)  # changes the saved output, without a version bump
    y.backward(_t(m, np.ones(3)))
    w = _t(m, Y3, True)
    w.data.mul_(2)
    d = w.data
    return {
        "x_grad": x.grad,
        "y": y,
        "y_version": y._version,
        "w": w,
        "w_version": w._version,
        "data": [d.requires_grad, d.is_leaf, _fn_name(d)],
    }


@scenario
def zero_grad_set_to_none_and_reaccumulate(m: Any) -> dict[str, Any]:
    x = _t(m, Y3, True)
    (x * x).sum().backward()
    x.grad = None
    (x * 3).sum().backward()
    return {"grad": x.grad}


@pytest.mark.parametrize("name", SCENARIOS, ids=SCENARIOS)
def test_autograd_semantics(name: str) -> None:
    fn = SCENARIOS[name]
    _assert_same_py(_py(fn(ENG)), _py(fn(TOR)))


def test_inplace_on_view_reaches_base() -> None:
    def run(m: Any) -> Any:
        x = _t(m, Y3).clone()
        x[0:2].mul_(10)
        return x

    assert_same(run(ENG), run(TOR))


@pytest.mark.parametrize(
    "call",
    [
        lambda m: m.T.allclose(_t(m, LEFT), _t(m, RIGHT)),
        lambda m: _t(m, X23).allclose(_t(m, X23) + 1e-12),
        lambda m: m.T.allclose(_t(m, [np.nan]), _t(m, [np.nan]), equal_nan=True),
        lambda m: m.T.equal(_t(m, X23), _t(m, X23)),
        lambda m: _t(m, [1, 2]).equal(_t(m, [1.0, 2.0])),
        lambda m: m.T.equal(_t(m, [np.nan]), _t(m, [np.nan])),
        lambda m: m.T.equal(_t(m, Y3), _t(m, X23)),
    ],
)
def test_allclose_and_equal_return_python_bools(call: Callable[[Any], Any]) -> None:
    got, want = call(ENG), call(TOR)
    assert type(got) is bool and got == want
