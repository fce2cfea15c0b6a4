"""Every differentiable op of the table against central finite differences, first and second
order, in float64, as HIPS autograd's ``check_grads(f, x, order=2)``.

Inputs stay away from the points where an op is not differentiable (kinks, ties,
zeros of log/sqrt/div); ``gradcheck_util`` has the generators that do so.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from gradcheck_util import (
    Case,
    check_grads,
    const,
    distinct,
    distinct_abs,
    grid,
    nonzero,
    normal,
    uniform,
)

import engine as torch
from engine.autograd import apply
from engine.ops.indexing import index_put, normalize_index

OPS = torch.OPS
F = torch.nn.functional
CASES: list[Case] = []

_fixed = np.random.default_rng(20240601)  # constants captured by closures (masks, targets)


def case(id: str, fn: Any, *inputs: Any, **kw: Any) -> None:
    CASES.append(Case(id, fn, tuple(inputs), **kw))


def sname(shape: tuple[int, ...]) -> str:
    return "x".join(map(str, shape)) if shape else "scalar"


def long(value: Any) -> torch.Tensor:
    return torch.tensor(np.asarray(value, dtype=np.int64))


def mask(shape: tuple[int, ...]) -> torch.Tensor:
    m = _fixed.random(shape) < 0.5
    m.reshape(-1)[0] = True  # never empty
    return torch.tensor(m)


# ------------------------------------------------------------------ unary
UNARY_SHAPES = [(), (5,), (2, 3)]
UNARY: list[tuple[str, Any, Any]] = [
    ("neg", lambda x: -x, normal),
    ("exp", torch.exp, normal),
    ("log", torch.log, lambda s: uniform(0.3, 2.0, s)),
    ("log1p", torch.log1p, lambda s: uniform(-0.6, 2.0, s)),
    ("sqrt", torch.sqrt, lambda s: uniform(0.3, 2.0, s)),
    ("reciprocal", torch.reciprocal, nonzero),
    ("sin", torch.sin, normal),
    ("cos", torch.cos, normal),
    ("tan", torch.tan, lambda s: uniform(-1.2, 1.2, s)),
    ("tanh", torch.tanh, normal),
    ("sigmoid", torch.sigmoid, lambda s: normal(s, 3.0)),
    ("erf", torch.erf, normal),
    ("sign", torch.sign, nonzero),
    ("abs", torch.abs, nonzero),
    ("relu", torch.relu, nonzero),
    ("leaky_relu", F.leaky_relu, nonzero),
    ("leaky_relu-slope0.2", lambda x: F.leaky_relu(x, 0.2), nonzero),
    ("gelu", F.gelu, lambda s: normal(s, 2.0)),
    ("gelu-tanh", lambda x: F.gelu(x, approximate="tanh"), lambda s: normal(s, 2.0)),
    ("softplus", F.softplus, lambda s: normal(s, 3.0)),
    ("clone", torch.clone, normal),
]
for _name, _fn, _gen in UNARY:
    for _shape in UNARY_SHAPES:
        case(f"{_name}-{sname(_shape)}", _fn, _gen(_shape))

case("sigmoid-tails", torch.sigmoid, uniform(-12.0, 12.0, (8,)))
case("abs-method", lambda x: abs(x), nonzero((2, 3)))
case("exp-method", lambda x: x.exp().log1p(), normal((2, 3)))
# softplus: z = beta * x on both sides of the threshold (grid keeps z 0.5 away from it)
case(
    "softplus-beta2-threshold1",
    lambda x: F.softplus(x, beta=2.0, threshold=1.0),
    grid((3, 4), 0.25),
)
case(
    "softplus-beyond-default-threshold",
    lambda x: F.softplus(x),
    const(np.array([-3.0, -0.5, 0.7, 19.0, 20.6, 25.0])),
)
case(
    "softplus-beta0.5-beyond",
    lambda x: F.softplus(x, beta=0.5),
    const(np.array([-2.0, 1.0, 38.0, 41.0, 50.0])),
)


# ------------------------------------------------------------- binary elementwise
BIN_SHAPES = [((3, 4), (3, 4)), ((3, 4), (4,)), ((2, 1, 4), (3, 1)), ((), (3,)), ((3, 1), ())]
BINARY: list[tuple[str, Any, Any, Any]] = [
    ("add", lambda a, b: a + b, normal, normal),
    ("add-alpha", lambda a, b: torch.add(a, b, alpha=2.5), normal, normal),
    ("sub", lambda a, b: a - b, normal, normal),
    ("sub-alpha", lambda a, b: torch.sub(a, b, alpha=0.5), normal, normal),
    ("mul", lambda a, b: a * b, normal, normal),
    ("div", lambda a, b: a / b, normal, nonzero),
    ("pow", lambda a, b: a**b, lambda s: uniform(0.4, 2.0, s), normal),
    ("maximum", torch.maximum, grid, lambda s: grid(s, 0.25)),
    ("minimum", torch.minimum, grid, lambda s: grid(s, 0.25)),
    ("max-binary", torch.max, grid, lambda s: grid(s, 0.25)),
    ("min-binary", torch.min, grid, lambda s: grid(s, 0.25)),
    ("mse_loss-none", lambda a, b: F.mse_loss(a, b, reduction="none"), normal, normal),
    ("hypot", torch.hypot, nonzero, nonzero),
]
for _name, _fn, _ga, _gb in BINARY:
    for _sa, _sb in BIN_SHAPES:
        case(f"{_name}-{sname(_sa)}-{sname(_sb)}", _fn, _ga(_sa), _gb(_sb))

# scalar operands (Python numbers are constants, never differentiated)
case("add-scalar", lambda x: x + 2.5, normal((3, 4)))
case("radd-scalar", lambda x: 2.5 + x, normal((3, 4)))
case("add-scalar-alpha", lambda x: torch.add(x, 2.0, alpha=3), normal((3,)))
case("sub-scalar", lambda x: x - 1.5, normal((3, 4)))
case("rsub-scalar-alpha", lambda x: torch.sub(2.0, x, alpha=2), normal((3, 4)))
case("rsub-scalar", lambda x: 1.5 - x, normal((3, 4)))
case("mul-scalar", lambda x: x * 3.0, normal((3, 4)))
case("rmul-scalar", lambda x: -0.5 * x, normal((3, 4)))
case("div-scalar", lambda x: x / 4.0, normal((3, 4)))
case("rdiv-scalar", lambda x: 2.0 / x, nonzero((3, 4)))
case("rdiv-scalar-0d", lambda x: 2.0 / x, nonzero(()))
case(
    "maximum-scalar",
    lambda x: torch.maximum(x, torch.tensor(0.0, dtype=torch.float64)),
    nonzero((3, 4)),
)
for _e, _gen in [
    (2, normal),
    (3, nonzero),
    (2.5, lambda s: uniform(0.3, 2.0, s)),
    (-1.5, lambda s: uniform(0.3, 2.0, s)),
    (0.5, lambda s: uniform(0.3, 2.0, s)),
    (-2, nonzero),
    (1, normal),
    (0, normal),
]:
    case(f"pow-scalar-exp{_e}", lambda x, e=_e: x**e, _gen((3, 4)))
case("pow-square", torch.square, normal((3, 4)), covers=("square",))
case("pow-scalar-base2", lambda x: 2.0**x, normal((3, 4)))
case("pow-scalar-base0.5", lambda x: torch.pow(0.5, x), normal((3, 4)))
case("pow-tensor-0d-exp", lambda a, b: a**b, uniform(0.4, 2.0, (3, 4)), normal(()))

# where: a bool condition, broadcast against both branches
_C34, _C31 = mask((3, 4)), mask((3, 1))
case("where-3x4", lambda a, b: torch.where(_C34, a, b), normal((3, 4)), normal((3, 4)))
case("where-broadcast", lambda a, b: torch.where(_C31, a, b), normal((4,)), normal(()))
case("where-broadcast-2", lambda a, b: torch.where(_C34, a, b), normal((3, 1)), normal((2, 1, 4)))
case("where-scalar-other", lambda a: torch.where(_C34, a, 0.0), normal((3, 4)))
case("where-scalar-self", lambda b: torch.where(_C31, 1.5, b), normal((3, 4)))
case("where-method", lambda a, b: a.where(_C34, b), normal((3, 4)), normal((4,)))

# clamp: inputs on the 0.25-offset grid, bounds on multiples of 0.5 (no ties)
case("clamp-min", lambda x: torch.clamp(x, min=-0.5), grid((3, 4), 0.25))
case("clamp-max", lambda x: torch.clamp(x, max=0.5), grid((3, 4), 0.25))
case("clamp-both", lambda x: torch.clamp(x, -0.5, 1.0), grid((3, 4), 0.25))
case("clamp-method-clip", lambda x: x.clip(min=-1.0, max=0.5), grid((2, 3), 0.25))
_LO, _HI = grid((4,), 0.0, -3, -1), grid((3, 1), 0.0, 1, 3)
case("clamp-tensor-both", lambda x, lo, hi: torch.clamp(x, lo, hi), grid((3, 4), 0.25), _LO, _HI)
case("clamp-tensor-min", lambda x, lo: torch.clamp(x, min=lo), grid((3, 4), 0.25), _LO)
case("clamp-tensor-max", lambda x, hi: torch.clamp(x, max=hi), grid((3, 4), 0.25), _HI)
# torch refuses a tensor bound with a number for the other (TypeError): a constant tensor max
_ONE = torch.tensor(np.ones(1))
case("clamp-tensor-min-const-max", lambda x, lo: torch.clamp(x, lo, _ONE), grid((3, 4), 0.25), _LO)
case(
    "clamp-tensor-broadcast-x",
    lambda x, lo, hi: torch.clamp(x, lo, hi),
    grid((4,), 0.25),
    grid((3, 1), 0.0, -3, -1),
    grid((2, 1, 1), 0.0, 1, 3),
)

# dtype casts: through float32 and back, so eps and tolerance follow float32's precision
case(
    "to-float32-and-back",
    lambda x: (x.to(torch.float32) * 3.0).to(torch.float64),
    normal((2, 3)),
    eps=1e-3,
    tol=1e-3,
)
case("to-double-method", lambda x: x.float().double() * x, normal((4,)), eps=1e-3, tol=1e-3)


# ------------------------------------------------------------------ reductions
X3 = (2, 3, 4)
RED_DIMS: list[tuple[str, dict[str, Any]]] = [
    ("all", {}),
    ("all-keepdim", {"keepdim": True}),
    ("dim1", {"dim": 1}),
    ("dim-1-keepdim", {"dim": -1, "keepdim": True}),
    ("dims0,2", {"dim": [0, 2]}),
    ("dims-1,-3-keepdim", {"dim": (-1, -3), "keepdim": True}),
]
for _dname, _kw in RED_DIMS:
    case(f"sum-{_dname}", lambda x, kw=_kw: torch.sum(x, **kw), normal(X3))
    case(f"mean-{_dname}", lambda x, kw=_kw: torch.mean(x, **kw), normal(X3))
    case(f"amax-{_dname}", lambda x, kw=_kw: torch.amax(x, **kw), distinct(X3))
    case(f"amin-{_dname}", lambda x, kw=_kw: torch.amin(x, **kw), distinct(X3))
    for _p in (1, 2, 3, 1.5, math.inf, -math.inf, 0):
        _gen = distinct_abs(X3) if math.isinf(_p) else nonzero(X3)
        case(f"norm-p{_p}-{_dname}", lambda x, kw=_kw, p=_p: torch.norm(x, p, **kw), _gen)
case("sum-0d", lambda x: x.sum(), normal(()))
case("sum-dim0-0d", lambda x: x.sum(0), normal(()))
case("mean-method-dim", lambda x: x.mean(-2), normal(X3))
case("norm-fro-default", lambda x: torch.norm(x), nonzero((3, 4)))
case("norm-method-dim", lambda x: x.norm(dim=0), nonzero((3, 4)))
case("norm-1d", lambda x: torch.norm(x), nonzero((5,)))
case("norm-0d", lambda x: torch.norm(x, 3), nonzero(()))
case("mean-0d", lambda x: x.mean(), normal(()))

for _dname, _kw in [
    ("all", {}),
    ("dim1", {"dim": 1}),
    ("dim-1-keepdim", {"dim": -1, "keepdim": True}),
    ("dim0", {"dim": 0}),
]:
    case(f"prod-{_dname}", lambda x, kw=_kw: torch.prod(x, **kw), nonzero(X3, 0.5, 1.5))
case("prod-1d", lambda x: x.prod(), nonzero((5,), 0.5, 1.5))

for _fname, _f in (("max", torch.max), ("min", torch.min)):
    case(f"{_fname}-all", lambda x, f=_f: f(x), distinct(X3))
    case(f"{_fname}-all-1d", lambda x, f=_f: f(x), distinct((5,)))
    case(f"{_fname}-dim1", lambda x, f=_f: f(x, 1).values, distinct(X3))
    case(f"{_fname}-dim-1-keepdim", lambda x, f=_f: f(x, -1, keepdim=True)[0], distinct(X3))
    case(f"{_fname}-dim0-2d", lambda x, f=_f: f(x, dim=0).values, distinct((3, 4)))
case("max-method", lambda x: x.max() - x.min(), distinct((3, 4)))
case("max-dim0-1d", lambda x: torch.max(x, 0).values * torch.min(x, 0).values, distinct((5,)))

for _dname, _kw in [
    ("dim1", {"dim": 1}),
    ("dim-1-keepdim", {"dim": -1, "keepdim": True}),
    ("dims0,2", {"dim": [0, 2]}),
    ("dims-1,-3-keepdim", {"dim": (-1, -3), "keepdim": True}),
    ("all-dims", {"dim": (0, 1, 2)}),
]:
    case(f"logsumexp-{_dname}", lambda x, kw=_kw: torch.logsumexp(x, **kw), normal(X3, 2.0))
case("logsumexp-1d", lambda x: torch.logsumexp(x, 0), normal((5,), 2.0))
case("logsumexp-0d", lambda x: torch.logsumexp(x, 0), normal(()))

for _dim in (0, 1, -1):
    case(f"softmax-dim{_dim}", lambda x, d=_dim: torch.softmax(x, d), normal(X3, 2.0))
    case(f"log_softmax-dim{_dim}", lambda x, d=_dim: torch.log_softmax(x, d), normal(X3, 2.0))
case("softmax-1d", lambda x: x.softmax(0), normal((5,), 2.0))
case("log_softmax-1d", lambda x: x.log_softmax(-1), normal((5,), 2.0))
case("softmax-F", lambda x: F.softmax(x, dim=1), normal((3, 4)))
case("softmax-0d", lambda x: torch.softmax(x, 0) + torch.log_softmax(x, -1), normal(()))
case("softmax-large-logits", lambda x: torch.softmax(x, -1), normal((2, 5), 30.0))


# ---------------------------------------------------------------------- matmul
MATMUL_SHAPES = [
    ((3,), (3,)),
    ((2, 3), (3,)),
    ((3,), (3, 4)),
    ((2, 3), (3, 4)),
    ((2, 2, 3), (3, 4)),
    ((2, 3), (2, 3, 4)),
    ((2, 2, 3), (3,)),
    ((3,), (2, 3, 4)),
    ((2, 2, 3), (2, 3, 4)),
    ((2, 1, 2, 3), (3, 3, 2)),
]
for _sa, _sb in MATMUL_SHAPES:
    case(f"matmul-{sname(_sa)}-{sname(_sb)}", lambda a, b: a @ b, normal(_sa), normal(_sb))
case("matmul-mm", torch.mm, normal((2, 3)), normal((3, 2)), covers=("mm",))
case("matmul-dot", torch.dot, normal((4,)), normal((4,)), covers=("dot",))
case(
    "copy-broadcast",
    lambda x: torch.zeros(2, 3, dtype=torch.float64).copy_(x) * 2,
    normal((3,)),
    covers=("copy",),
)
case("hypot-inplace", lambda a, b: a.clone().hypot_(b) * 2, nonzero((2, 3)), nonzero((3,)))
case("fill-inplace", lambda x: x.clone().fill_(2.5) + x * x, normal((2, 3)))
case("zero-inplace", lambda x: x.clone().zero_() + x * x, normal((2, 3)))
case("matmul-same-input", lambda a: a @ a.t(), normal((2, 3)))


# in-place ops on views reach their base (CopySlices); other views of it see the new values
# (AsStridedBackward0)
def _view_mul_(a: Any, b: Any) -> Any:
    x = a * 1
    x[0:2].mul_(b)
    return x * x


def _view_of_view_(a: Any, b: Any) -> Any:
    x = a * 2
    row = x[1]  # taken before: its grad_fn becomes AsStridedBackward0
    x.view(3, 4).t()[1:3].add_(b)  # a transposed slice of a view
    return row * x.sum(0) + x


def _setitem_basic(a: Any, b: Any) -> Any:
    x = a.clone()
    x[1, 0:2] = b
    x[2] = x[0] + b[0]
    return x * a


def _base_under_expand(a: Any, b: Any) -> Any:
    z = a * 1
    e = z.expand(3, 4)  # a view whose elements repeat
    z.mul_(b)
    return e * e


def _view_chain_(a: Any, b: Any) -> Any:
    x = a * 3
    v = x.permute(1, 0).unsqueeze(0)[0, 1:]  # (2, 3) of (3, 3)
    v.squeeze(0).sub_(b * b)
    return (x @ x).sum(0) + (v * v).sum(0)


case("view-mul-inplace", _view_mul_, normal((4, 3)), normal((2, 3)), covers=("copy_slices",))
case("view-of-view-inplace", _view_of_view_, normal((3, 4)), normal((2, 3)))
case("setitem-basic", _setitem_basic, normal((3, 2)), normal((2,)))
case("base-inplace-under-expand", _base_under_expand, normal((3, 1)), normal((3, 1)))
case("view-chain-inplace", _view_chain_, normal((3, 3)), normal((2, 3)))


def _narrow_inplace(a: Any, b: Any) -> Any:
    x = a * 1
    x.narrow(1, 1, 2).mul_(b)
    return x * x.narrow(1, 0, 1)


case("narrow-inplace", _narrow_inplace, normal((3, 4)), normal((3, 2)))


# ------------------------------------------------------------------ shape ops
SHAPE_OPS: list[tuple[str, Any, tuple[int, ...]]] = [
    ("reshape-6x4", lambda x: x.reshape(6, 4), X3),
    ("reshape-flat", lambda x: x.reshape(-1), X3),
    ("reshape-tuple-infer", lambda x: torch.reshape(x, (4, -1, 2)), X3),
    ("reshape-noncontiguous", lambda x: x.transpose(0, 2).reshape(4, 6), X3),
    ("reshape-0d", lambda x: x.reshape(1, 1), ()),
    ("view", lambda x: x.view(4, 6), X3),
    ("view-infer", lambda x: x.view(-1, 2), X3),
    ("flatten", lambda x: x.flatten(), X3),
    ("flatten-start1", lambda x: torch.flatten(x, 1), X3),
    ("flatten-0-1", lambda x: x.flatten(0, 1), X3),
    ("flatten-neg", lambda x: x.flatten(-2, -1), X3),
    ("permute", lambda x: x.permute(2, 0, 1), X3),
    ("permute-neg", lambda x: torch.permute(x, (-1, 0, 1)), X3),
    ("transpose-0-2", lambda x: x.transpose(0, 2), X3),
    ("transpose-neg", lambda x: torch.transpose(x, -1, -2), X3),
    ("mT", lambda x: x.mT, X3),
    ("T", lambda x: x.T, (3, 4)),
    ("t-2d", lambda x: x.t(), (3, 4)),
    ("t-1d", lambda x: torch.t(x), (5,)),
    ("squeeze-all", lambda x: x.squeeze(), (2, 1, 3, 1)),
    ("squeeze-dim1", lambda x: x.squeeze(1), (2, 1, 3, 1)),
    ("squeeze-dim-1", lambda x: torch.squeeze(x, -1), (2, 1, 3, 1)),
    ("squeeze-dims", lambda x: x.squeeze((1, 3)), (2, 1, 3, 1)),
    ("squeeze-non-singleton", lambda x: x.squeeze(0), (2, 1, 3, 1)),
    ("unsqueeze-0", lambda x: x.unsqueeze(0), X3),
    ("unsqueeze-neg", lambda x: x.unsqueeze(-1), X3),
    ("unsqueeze-mid", lambda x: torch.unsqueeze(x, 2), X3),
    ("expand", lambda x: x.expand(2, 3, 4), (3, 1)),
    ("expand-infer", lambda x: x.expand(-1, 4), (3, 1)),
    ("expand-0d", lambda x: x.expand(3), ()),
    ("broadcast_to", lambda x: torch.broadcast_to(x, (2, 3, 4)), (4,)),
    ("expand_as", lambda x: x.expand_as(torch.zeros(2, 3)), (3,)),
    ("sum_to_size-3x1", lambda x: x.sum_to_size(3, 1), X3),
    ("sum_to_size-1x4", lambda x: x.sum_to_size((1, 4)), X3),
    ("sum_to_size-4", lambda x: x.sum_to_size(4), X3),
    ("select", lambda x: x.select(1, -1), X3),
    ("contiguous", lambda x: x.t().contiguous(), (3, 4)),
    ("unsqueeze-0d", lambda x: x.unsqueeze(0), ()),
    ("transpose-0d", lambda x: x.transpose(0, -1), ()),
    ("t-0d", lambda x: x.t(), ()),
    ("permute-0d", lambda x: x.permute(), ()),
    ("flatten-0d", lambda x: x.flatten(), ()),
    ("squeeze-0d", lambda x: x.squeeze(), ()),
]
for _name, _fn, _shape in SHAPE_OPS:
    # flatten is composed of reshape and leaves no node of its own
    # compositions leave no node of their own: the case named after one covers it
    _composed = {"flatten", "t", "broadcast_to", "expand_as", "select"}
    case(_name, _fn, normal(_shape), covers=tuple(_composed & {_name.split("-")[0]}))

for _dim, _shapes in [
    (0, [(2, 3), (1, 3), (3, 3)]),
    (1, [(2, 1), (2, 3)]),
    (-1, [(2, 2, 1), (2, 2, 3)]),
]:
    case(
        f"cat-dim{_dim}", lambda *xs, d=_dim: torch.cat(list(xs), d), *(normal(s) for s in _shapes)
    )
case("cat-same-tensor", lambda x: torch.cat([x, x * 2], 0), normal((2, 3)))
for _dim in (0, 1, -1):
    case(
        f"stack-dim{_dim}",
        lambda a, b, c, d=_dim: torch.stack([a, b, c], d),
        *(normal((2, 3)) for _ in range(3)),
    )
case("stack-0d", lambda a, b: torch.stack((a, b)), normal(()), normal(()))
case("cat-one", lambda x: torch.cat([x], -1), normal((2, 3)))
case("stack-one", lambda x: torch.stack([x], 1), normal((2, 3)))


# -------------------------------------------------------------------- indexing
X_IDX = (4, 5, 3)
_M45, _M4, _M5, _M453 = mask((4, 5)), mask((4,)), mask((5,)), mask(X_IDX)
INDEX_KEYS: list[tuple[str, Any]] = [
    ("int", lambda: 1),
    ("int-neg-pair", lambda: (-1, 2)),
    ("slice", lambda: slice(1, 3)),
    ("slice-step", lambda: slice(None, None, 2)),
    ("slices-steps", lambda: (slice(1, None, 2), slice(None, 4, 3))),
    ("slice-full", lambda: slice(None)),
    ("none", lambda: None),
    ("none-mid", lambda: (slice(None), None, 1)),
    ("ellipsis-int", lambda: (Ellipsis, 1)),
    ("ellipsis-slice", lambda: (0, Ellipsis, slice(0, 2))),
    ("array-repeated", lambda: [0, 2, 2, 0, 2]),
    ("array-negative-repeated", lambda: [-1, 3, -4, 0, -1]),
    ("array-2d-repeated", lambda: np.array([[1, 1], [3, 1]])),
    ("arrays-pair-repeated", lambda: ([0, 0, 1, 0], [1, 1, 4, 1])),
    ("long-tensor", lambda: long([3, 3, 0])),
    ("long-tensor-0d", lambda: long(2)),
    ("slice-array", lambda: (slice(1, None), [0, 2, 2])),
    ("ellipsis-array", lambda: (Ellipsis, [1, 1, 0])),
    ("arrays-split-by-slice", lambda: ([0, 1, 1], slice(None), [2, 2, 0])),
    ("int-array", lambda: (2, [4, 4, 0])),
    ("none-array-slice", lambda: (None, [1, 1], slice(None, None, 2))),
    ("bool-mask-2d", lambda: _M45),
    ("bool-mask-1d", lambda: _M4),
    ("bool-mask-full", lambda: _M453),
    ("ellipsis-only", lambda: Ellipsis),
    ("bool-mask-mid", lambda: (slice(None), _M5)),
    ("bool-mask-and-int", lambda: (_M4, 1)),
    ("bool-mask-ellipsis", lambda: (Ellipsis, torch.tensor(np.array([True, False, True])))),
]
for _name, _key in INDEX_KEYS:
    case(f"index-{_name}", lambda x, k=_key: x[k()], normal(X_IDX))
case("index-twice", lambda x: x[1:][:, [0, 0]][..., ::2], normal(X_IDX))
case(
    "index-wire",
    lambda x: OPS["index"](x, index=[{"slice": [None, None, 2]}, "...", {"array": [0, 0, 1]}]),
    normal(X_IDX),
)
case(
    "index-wire-none-int",
    lambda x: OPS["index"](x, index=[None, 1, {"slice": [1, 4, 2]}]),
    normal(X_IDX),
)
case("iterate-rows", lambda x: torch.stack([r * (i + 1) for i, r in enumerate(x)]), normal((3, 2)))


def _scatter(key: Any) -> Any:
    items = normalize_index(key, np)
    return lambda g: OPS["index_backward"](g, index=items, shape=list(X_IDX))


for _name, _key, _gshape in [
    ("slice", (slice(1, 3), Ellipsis), (2, 5, 3)),
    ("array-repeated", ([0, 2, 2, 0],), (4, 5, 3)),
    ("arrays-pair-repeated", ([1, 1, 3], slice(None), [2, 2, 0]), (3, 5)),
    ("bool-mask", (_M45,), (int(_M45.numpy().sum()), 3)),
]:
    case(f"index_backward-{_name}", _scatter(_key), normal(_gshape))


def _setitem(key: Any) -> Any:
    def fn(x: Any, v: Any) -> Any:
        y = (x * 1.5).clone()
        y[key] = v
        return y * y

    return fn


for _name, _key, _vshape in [
    ("slice", slice(1, 3), (5, 3)),
    ("slice-step", (0, slice(1, 4, 2)), (2, 3)),
    ("array", [0, 2], (2, 5, 3)),
    ("array-broadcast", [3, 1], (3,)),
    ("bool-mask", _M45, (3,)),
    ("ellipsis-int", (Ellipsis, 1), (4, 5)),
    ("0d-value", (1, 2), ()),
]:
    case(f"setitem-{_name}", _setitem(_key), normal(X_IDX), normal(_vshape))


def _set_scalar(x: Any) -> Any:
    y = x.clone()
    y[:, 0] = -2.0
    y[_M45] = 0.5
    return y.exp()


case("setitem-scalar", _set_scalar, normal(X_IDX))
case(
    "index_put-direct",
    lambda x, v: index_put(x, ([1, 3], slice(None), 0), v),
    normal(X_IDX),
    normal((2, 5)),
)


# ---------------------------------------------------------------------- losses
_T4 = long([1, 0, 4, 1])
_T4_IGN = long([1, -100, 4, 1])
_T23 = long(_fixed.integers(0, 4, (2, 3)))
_T23_IGN = long([[0, 3, 3], [3, 1, 2]])
for _red in ("mean", "sum", "none"):
    case(
        f"cross_entropy-{_red}",
        lambda x, r=_red: F.cross_entropy(x, _T4, reduction=r),
        normal((4, 5)),
        covers=("cross_entropy",),
    )
    case(
        f"cross_entropy-3d-{_red}",
        lambda x, r=_red: F.cross_entropy(x, _T23, reduction=r),
        normal((2, 4, 3)),
        covers=("cross_entropy",),
    )
    case(
        f"cross_entropy-ignore-default-{_red}",
        lambda x, r=_red: F.cross_entropy(x, _T4_IGN, reduction=r),
        normal((4, 5)),
        covers=("cross_entropy",),
    )
    case(
        f"cross_entropy-ignore3-3d-{_red}",
        lambda x, r=_red: F.cross_entropy(x, _T23_IGN, reduction=r, ignore_index=3),
        normal((2, 4, 3)),
        covers=("cross_entropy",),
    )
    case(
        f"cross_entropy-1d-{_red}",
        lambda x, r=_red: F.cross_entropy(x, long(3), reduction=r),
        normal((5,)),
        covers=("cross_entropy",),
    )
    case(
        f"cross_entropy-probs-{_red}",
        lambda x, p, r=_red: F.cross_entropy(x, p.softmax(1), reduction=r),
        normal((4, 5)),
        normal((4, 5)),
        covers=("cross_entropy",),
    )
    case(f"nll_loss-{_red}", lambda x, r=_red: F.nll_loss(x, _T4, reduction=r), normal((4, 5)))
    case(
        f"nll_loss-3d-ignore-{_red}",
        lambda x, r=_red: F.nll_loss(x, _T23_IGN, reduction=r, ignore_index=3),
        normal((2, 4, 3)),
    )
    case(
        f"binary_cross_entropy-{_red}",
        lambda x, t, r=_red: F.binary_cross_entropy(x, t, reduction=r),
        uniform(0.05, 0.95, (2, 3)),
        uniform(0.0, 1.0, (2, 3)),
    )
    case(
        f"binary_cross_entropy_with_logits-{_red}",
        lambda x, t, r=_red: F.binary_cross_entropy_with_logits(x, t, reduction=r),
        normal((2, 3)),
        uniform(0.0, 1.0, (2, 3)),
    )
    case(
        f"mse_loss-{_red}",
        lambda a, b, r=_red: F.mse_loss(a, b, reduction=r),
        normal((3, 4)),
        normal((3, 4)),
    )
    case(
        f"mse_loss-broadcast-{_red}",
        lambda a, b, r=_red: F.mse_loss(a, b, reduction=r),
        normal((2, 1, 4)),
        normal((3, 1)),
    )
case(
    "cross_entropy-wire",
    lambda x: OPS["cross_entropy"](x, _T4),
    normal((4, 5)),
    covers=("cross_entropy",),
)
case(
    "binary_cross_entropy-0d",
    F.binary_cross_entropy,
    uniform(0.05, 0.95, ()),
    uniform(0.0, 1.0, ()),
)

# torch.nn's layers and losses (engine/ops/layers.py)
_IDX = long([[1, 0, 3], [3, 2, 0]])
for _shape, _bias in (((4, 3), True), ((4, 3), False), ((2, 4, 3), True), ((3,), True)):
    case(
        f"linear-{sname(_shape)}-{'bias' if _bias else 'nobias'}",
        (lambda x, w, b: F.linear(x, w, b)) if _bias else (lambda x, w, b: F.linear(x, w) + 0 * b),
        normal(_shape),
        normal((5, 3)),
        normal((5,)),
        covers=("linear",),
    )
case("addmm", torch.addmm, normal((5,)), normal((4, 3)), normal((3, 5)))
case(
    "addmm-scaled",
    lambda b, x, w: b.addmm(x, w, beta=0.5, alpha=-2.0),
    normal((4, 5)),
    normal((4, 3)),
    normal((3, 5)),
)
case("silu", F.silu, normal((2, 3), 2.0))
case("elu", F.elu, nonzero((2, 3)))
case("elu-alpha", lambda x: F.elu(x, alpha=0.5), nonzero((2, 3)))
case(
    "layer_norm-affine",
    lambda x, w, b: F.layer_norm(x, (3,), w, b),
    normal((2, 4, 3)),
    normal((3,)),
    normal((3,)),
)
case("layer_norm-2d-plain", lambda x: F.layer_norm(x, (4, 3), eps=1e-3), normal((2, 4, 3)))
case("embedding", lambda w: F.embedding(_IDX, w), normal((5, 2)))
for _red in ("mean", "sum", "none"):
    case(
        f"huber_loss-{_red}",
        lambda x, t, r=_red: F.huber_loss(x, t, reduction=r, delta=0.7),
        grid((2, 3), 0.35),
        const(np.zeros((2, 3))),
    )
    case(
        f"smooth_l1_loss-{_red}",
        lambda x, t, r=_red: F.smooth_l1_loss(x, t, reduction=r, beta=0.7),
        grid((2, 3), 0.35),
        const(np.zeros((2, 3))),
    )
    case(
        f"cross_entropy-smoothing-{_red}",
        lambda x, r=_red: F.cross_entropy(x, _T4, reduction=r, label_smoothing=0.2),
        normal((4, 5)),
        covers=("cross_entropy",),
    )
    case(
        f"cross_entropy-probs-smoothing-{_red}",
        lambda x, p, r=_red: F.cross_entropy(x, p.softmax(1), reduction=r, label_smoothing=0.1),
        normal((4, 5)),
        normal((4, 5)),
        covers=("cross_entropy",),
    )


# pieces, tiling, flips, triangles and products (the squares keep second derivatives nonzero)
def _pieces(parts: Any) -> Any:
    """split/chunk's tuple as one tensor: each piece weighted by its position, squared."""
    return torch.cat([((p * (k + 1)) ** 2).reshape(-1) for k, p in enumerate(parts)])


case("narrow", lambda x: x.narrow(1, 1, 2) ** 2, normal(X3))
case("narrow-neg-start", lambda x: torch.narrow(x, -1, -3, 2) * x.narrow(-1, 0, 2), normal(X3))
case("split-int", lambda x: _pieces(x.split(3, -1)), normal((2, 7)), covers=("split",))
case(
    "split-sizes",
    lambda x: _pieces(torch.split(x, [1, 0, 3], 1)),
    normal((2, 4)),
    covers=("split",),
)
case("chunk", lambda x: _pieces(x.chunk(3, 1)), normal((2, 5)), covers=("chunk",))
case("chunk-dim0", lambda x: _pieces(torch.chunk(x, 2)), normal((3, 2)), covers=("chunk",))
case("repeat", lambda x: x.repeat(2, 1, 3) ** 2, normal((2, 3)))
case("repeat-same-rank", lambda x: x.repeat(1, 2) * x.repeat(1, 2).flip(1), normal((2, 3)))
case("flip", lambda x: x.flip(0, 2) * x, normal(X3))
case("flip-method-list", lambda x: torch.flip(x, [-1]) ** 2, normal((4,)))
case("roll", lambda x: torch.roll(x, (1, -2), (0, 2)) * x, normal(X3))
case("roll-flat", lambda x: x.roll(5) * x, normal((2, 3)))
case("roll-int-dim", lambda x: x.roll(-1, 1) ** 2, normal((2, 3)))
case("tril", lambda x: x.tril() ** 2, normal((3, 4)))
case("tril-batch-diag", lambda x: torch.tril(x, diagonal=-1) * x, normal(X3))
case("triu", lambda x: x.triu(1) ** 2, normal((4, 3)))
case("tril-inplace", lambda x: (x * 2).tril_(1) ** 2, normal((3, 3)))
case("triu-inplace", lambda x: (x * 2).triu_(-1) ** 2, normal((3, 3)))
case("mv", torch.mv, normal((3, 4)), normal((4,)))
case("mv-method-square", lambda a, v: a.mv(v) ** 2, normal((3, 4)), normal((4,)))
case("bmm", torch.bmm, normal((2, 3, 4)), normal((2, 4, 2)))
case("bmm-method-square", lambda a, b: a.bmm(b) ** 2, normal((2, 3, 4)), normal((2, 4, 2)))
EINSUMS = [
    ("ij,jk->ik", ((2, 3), (3, 4))),
    ("bij,bjk", ((2, 2, 3), (2, 3, 2))),
    ("ij,j->i", ((2, 3), (3,))),
    ("i,i->", ((3,), (3,))),
    ("i,j->ij", ((2,), (3,))),
    ("ii->i", ((3, 3),)),
    ("ii", ((3, 3),)),
    ("ij->ji", ((2, 3),)),
    ("ij->j", ((2, 3),)),
    ("...ij,...jk->...ik", ((2, 2, 3), (3, 2))),
    ("ij,jk,kl->il", ((2, 3), (3, 2), (2, 2))),
    ("ij,ij->i", ((2, 3), (2, 3))),
]
for _eq, _shapes in EINSUMS:
    case(
        f"einsum-{_eq.replace('->', '-to-').replace(',', '_').replace('...', 'e')}",
        lambda *xs, eq=_eq: torch.einsum(eq, *xs) ** 2,
        *[normal(s) for s in _shapes],
        covers=("einsum",),
    )
case(
    "einsum-list-form",
    lambda a, b: torch.einsum("ij,jk", [a, b]),
    normal((2, 3)),
    normal((3, 2)),
    covers=("einsum",),
)

# internal ops called through the table, as the engine calls them
case("prod_except-all", lambda x: OPS["prod_except"](x), nonzero((2, 3), 0.5, 1.5))
case("prod_except-dim1", lambda x: OPS["prod_except"](x, dim=1), nonzero((2, 3, 2), 0.5, 1.5))
case("to-table", lambda x: OPS["to"](x, dtype="float32").double(), normal((3,)), eps=1e-3, tol=1e-3)

# a small network: several ops sharing inputs
case(
    "mlp",
    lambda x, w1, w2: F.cross_entropy(F.gelu(x @ w1).tanh() @ w2, _T4),
    normal((4, 3)),
    normal((3, 6)),
    normal((6, 5)),
    covers=("cross_entropy",),
)

# ------------------------------------------- var, std, cumsum, cumprod, sort, topk (issue 9)
for _dname, _kw in RED_DIMS:
    case(f"var-{_dname}", lambda x, kw=_kw: torch.var(x, **kw), normal(X3))
    case(f"std-{_dname}", lambda x, kw=_kw: torch.std(x, **kw), normal(X3))
case("var-correction0", lambda x: x.var(1, correction=0), normal(X3))
case("var-unbiased-false", lambda x: torch.var(x, False), normal((5,)))
case("std-correction2-keepdim", lambda x: x.std(dim=(0, 2), keepdim=True, correction=2), normal(X3))
case("std-unbiased-dim", lambda x: torch.std(x, 0, False), normal((3, 4)))
for _name, _f in (("var_mean", torch.var_mean), ("std_mean", torch.std_mean)):
    case(f"{_name}-all", lambda x, f=_f: f(x)[0] * f(x)[1], normal(X3))
    case(f"{_name}-dim-keepdim", lambda x, f=_f: sum(f(x, 1, keepdim=True)), normal(X3))
    case(f"{_name}-unbiased", lambda x, f=_f: f(x, False)[0] - f(x, False)[1], normal((4,)))
case("vector_norm", lambda x: torch.linalg.vector_norm(x, 3, dim=1), nonzero(X3))
case("norm-dtype", lambda x: x.norm(dim=0, dtype=torch.float64), nonzero((3, 4)))
for _dim in (0, 1, -1):
    case(f"cumsum-dim{_dim}", lambda x, d=_dim: torch.cumsum(x, d), normal(X3))
    case(f"cumprod-dim{_dim}", lambda x, d=_dim: torch.cumprod(x, d), nonzero(X3, 0.5, 1.5))
case("cumsum-0d", lambda x: x.cumsum(0), normal(()))
case("cumsum-method-dtype", lambda x: x.cumsum(-1, dtype=torch.float64) * 2, normal((2, 4)))
case("cumsum-inplace", lambda x: x.clone().cumsum_(1) * x, normal((2, 4)))
case("cumprod-0d", lambda x: x.cumprod(0), nonzero(()))
case("cumprod-size1", lambda x: x.cumprod(1), nonzero((3, 1)))
# zeros: one, two and none per row; the first order runs the O(n) form, the second the O(n^2)
_ZEROS = np.array([[1.3, -0.7, 0.0, 1.1, 0.0, 0.9], [0.0, 1.2, -0.8, 1.4, 0.6, -1.1]])
case("cumprod-zeros-dim1", lambda x: torch.cumprod(x, 1), const(_ZEROS))
case("cumprod-zeros-dim0", lambda x: x.cumprod(0), const(_ZEROS.T))
case("cumprod-zero-last", lambda x: x.cumprod(0), const(np.array([0.7, -1.2, 0.0])))
case("cumprod-inplace", lambda x: x.clone().cumprod_(0) + x, nonzero((4, 2), 0.5, 1.5))
for _name, _fn in [
    ("sort", lambda x: torch.sort(x).values),
    ("sort-dim0-descending", lambda x: x.sort(0, True)[0]),
    ("sort-stable", lambda x: torch.sort(x, dim=1, stable=True).values),
    ("topk", lambda x: torch.topk(x, 2).values),
    ("topk-smallest-dim0", lambda x: x.topk(2, dim=0, largest=False)[0]),
    ("topk-all", lambda x: torch.topk(x, 4, dim=-1).values),
]:
    case(_name, _fn, distinct((3, 4)))
case("sort-0d", lambda x: x.sort().values, normal(()))
case("topk-0d", lambda x: x.topk(1).values, normal(()))
_ALONG = np.array([[2, 0, 1], [1, 2, 0]])
case(
    "reversed_cumsum",
    lambda x: OPS["reversed_cumsum"](x, dim=1),
    normal((2, 3)),
)
case(
    "take_along_indices",
    lambda x: OPS["take_along_indices"](x, dim=1, indices=_ALONG),
    normal((2, 3)),
)
case(
    "put_along_dim",
    lambda g: OPS["put_along_dim"](g, dim=1, indices=_ALONG[:, :2], shape=[2, 3]),
    normal((2, 2)),
)

# issue 9: indexing by index tensors and masks (engine/ops/indexing.py)
_I24 = long([[0, 1, 2, 0], [2, 0, 1, 1]])  # no two entries of a column alike: scatter is exact
_I23 = long([[3, 0, 3], [1, 1, 0]])
_M34, _M4B = mask((3, 4)), mask((4,))
case("gather-dim0", lambda x: torch.gather(x, 0, _I24), normal((3, 4)))
case("gather-dim1-repeats", lambda x: x.gather(1, _I23), normal((3, 4)))
case(
    "gather-dim-1-taller",
    lambda x: torch.gather(x, -1, long([[0], [3], [3], [1]])[:2]),
    normal((2, 4)),
)
case("gather-1d-0d-index", lambda x: x.gather(0, long(2)), normal((4,)))
case("scatter-src", lambda x, s: torch.scatter(x, 0, _I24, s), normal((3, 4)), normal((2, 4)))
case("scatter-value", lambda x: x.scatter(0, _I24, 1.5), normal((3, 4)))
case("scatter-value-kw", lambda x: torch.scatter(x, 1, _I23[:, :1], value=-2), normal((3, 4)))
case(
    "scatter-inplace",
    lambda x, s: x.clone().scatter_(0, _I24, s) * 2,
    normal((3, 4)),
    normal((2, 4)),
)
case("scatter_add", lambda x, s: torch.scatter_add(x, 1, _I23, s), normal((3, 4)), normal((2, 3)))
case(
    "scatter_add-inplace",
    lambda x, s: x.clone().scatter_add_(0, long([[0, 0, 2, 0], [0, 0, 2, 1]]), s) ** 2,
    normal((3, 4)),
    normal((2, 4)),
)
case("index_select-dim0", lambda x: torch.index_select(x, 0, long([2, 0, 2])), normal((3, 4)))
case("index_select-dim1", lambda x: x.index_select(-1, long([3, 3, 1, 0, 3])), normal((3, 4)))
case("index_select-0d-index", lambda x: x.index_select(0, long(1)), normal((3, 4)))
case("index_select-0d-input", lambda x: x.index_select(0, long([0])), normal(()))
case("masked_fill-scalar", lambda x: x.masked_fill(_M34, 2.5), normal((3, 4)))
case("masked_fill-tensor", lambda x, v: torch.masked_fill(x, _M34, v), normal((3, 4)), normal(()))
case("masked_fill-broadcast", lambda x, v: x.masked_fill(_M4B, v), normal((3, 4)), normal(()))
case("masked_fill-mask-larger", lambda x: x.masked_fill(_M34, -1.0), normal((4,)))
case(
    "masked_fill-inplace",
    lambda x, v: (x * 1).masked_fill_(_M34, v) * x,
    normal((3, 4)),
    normal(()),
)
case("masked_select", lambda x: torch.masked_select(x, _M34), normal((3, 4)))
case("masked_select-broadcast", lambda x: x.masked_select(_M34), normal((4,)))
case("masked_select-mask-broadcast", lambda x: x.masked_select(_M4B), normal((3, 4)))

# issue 9: //, %, fmod (their quotient is constant between jumps; inputs stay off them)
for _sa, _sb in BIN_SHAPES:
    case(
        f"remainder-{sname(_sa)}-{sname(_sb)}",
        lambda a, b: a % b,
        normal(_sa, 3.0),
        nonzero(_sb, 0.5, 2.0),
    )
    case(
        f"fmod-{sname(_sa)}-{sname(_sb)}",
        torch.fmod,
        normal(_sa, 3.0),
        nonzero(_sb, 0.5, 2.0),
    )
case("remainder-scalar", lambda x: torch.remainder(x, -1.5), normal((3, 4), 3.0))
case("fmod-scalar", lambda x: x.fmod(1.25), normal((3, 4), 3.0))
case(
    "remainder-inplace",
    lambda a, b: a.clone().remainder_(b) * a,
    normal((2, 3), 3.0),
    nonzero((3,)),
)
case("fmod-inplace", lambda a, b: a.clone().fmod_(b) * a, normal((2, 3), 3.0), nonzero((3,)))
case("imod", lambda a: _imod(a), normal((2, 3), 3.0))


def _imod(a: Any) -> Any:
    y = a * 2
    y %= 1.5
    return y


# issue 9: torch's in-place pointwise variants (Tensor.X_), on a clone of x
INPLACE_UNARY: list[tuple[str, Any, Any]] = [
    ("abs", lambda y: y.abs_(), nonzero),
    ("exp", lambda y: y.exp_(), normal),
    ("log", lambda y: y.log_(), lambda s: uniform(0.3, 2.0, s)),
    ("log1p", lambda y: y.log1p_(), lambda s: uniform(-0.6, 2.0, s)),
    ("sqrt", lambda y: y.sqrt_(), lambda s: uniform(0.3, 2.0, s)),
    ("sin", lambda y: y.sin_(), normal),
    ("cos", lambda y: y.cos_(), normal),
    ("tan", lambda y: y.tan_(), lambda s: uniform(-1.2, 1.2, s)),
    ("tanh", lambda y: y.tanh_(), normal),
    ("sigmoid", lambda y: y.sigmoid_(), normal),
    ("erf", lambda y: y.erf_(), normal),
    ("neg", lambda y: y.neg_(), normal),
    ("negative", lambda y: y.negative_(), normal),
    ("reciprocal", lambda y: y.reciprocal_(), nonzero),
    ("sign", lambda y: y.sign_(), nonzero),
    ("relu", lambda y: y.relu_(), nonzero),
    ("square", lambda y: y.square_(), normal),
    ("pow", lambda y: y.pow_(3), nonzero),
    ("ipow", lambda y: _ipow(y), nonzero),
    ("clamp", lambda y: y.clamp_(-0.5, 0.5), lambda s: grid(s, 0.25)),
    ("clip", lambda y: y.clip_(min=-1.0), lambda s: grid(s, 0.25)),
]


def _ipow(y: Any) -> Any:
    y **= 2
    return y


for _name, _fn, _gen in INPLACE_UNARY:
    # times x: the graph after the in-place op still sees x, and saved outputs are read back
    case(
        f"{_name}-inplace",
        lambda x, f=_fn: f(x * 1.0) * x,
        _gen((2, 3)),
        covers=("square",) if _name == "square" else (),
    )
case("pow-inplace-tensor", lambda x, e: x.clone().pow_(e), uniform(0.4, 2.0, (2, 3)), normal((3,)))

# issue 9: torch.where with Python numbers, clamp with tensor bounds through every surface
case(
    "where-scalar-both-sides",
    lambda a: torch.where(_C34, a, -1) * torch.where(_C34, 2.0, a),
    normal((3, 4)),
)
case(
    "clamp-tensor-inplace", lambda x, lo, hi: x.clone().clamp_(lo, hi), grid((3, 4), 0.25), _LO, _HI
)
case("clip-tensor-method", lambda x, hi: x.clip(max=hi), grid((3, 4), 0.25), _HI)

# issue 9: nn.functional's pad (constant), normalize, cosine_similarity
case("pad-last", lambda x: F.pad(x, (1, 2)), normal((3, 4)))
case("pad-crop-and-value", lambda x: F.pad(x, [1, -1, -1, 2], value=0.5), normal((3, 4)))
case("pad-3d-middle", lambda x: F.pad(x, (0, 0, 2, 1)), normal((2, 3, 2)))
for _p, _dim in ((2.0, 1), (1, 0), (3, -1)):
    case(
        f"normalize-p{_p}-dim{_dim}",
        lambda x, p=_p, d=_dim: F.normalize(x, p=p, dim=d),
        nonzero((3, 4)),
        covers=("normalize",),
    )
case(
    "cosine_similarity",
    lambda a, b: F.cosine_similarity(a, b),
    normal((3, 4)),
    normal((3, 4)),
    covers=("cosine_similarity",),
)
case(
    "cosine_similarity-broadcast-dim0",
    lambda a, b: torch.cosine_similarity(a, b, dim=0, eps=1e-6),
    normal((3, 4)),
    normal((3, 1)),
    covers=("cosine_similarity",),
)

# ops torch gives no derivative (grad_fn NotImplemented): backward raises, see below
NO_DERIVATIVE = {"floor_divide"}

CASE_IDS = [c.id for c in CASES]


# ------------------------------------------------------- the harness can fail
def _cube(vjp: Any) -> Any:
    """x**3 as an unregistered op with the given VJP."""
    op = torch.Op("cube_under_test", lambda xp, a: a**3, (vjp,), "CubeBackward0", saves=(0,))
    return lambda x: apply(op, (x,), {})


BROKEN_VJPS = {
    # wrong derivative: caught at first order
    "wrong-first-order": (lambda g, n: g * 3 * n[0], "first order VJP"),
    # right value, but the saved input is detached: the Hessian is lost
    "detached-input": (lambda g, n: g * 3 * n[0].detach() ** 2, "second order"),
    # right value, but not differentiable in the upstream gradient
    "detached-upstream": (lambda g, n: g.detach() * 3 * n[0] ** 2, "second order"),
}


@pytest.mark.parametrize("name", list(BROKEN_VJPS))
def test_harness_catches_a_broken_vjp(name: str) -> None:
    vjp, where = BROKEN_VJPS[name]
    with pytest.raises(AssertionError, match=where):
        check_grads(_cube(vjp), [np.array([0.5, -1.2, 2.0])])


def test_harness_passes_a_correct_vjp() -> None:
    check_grads(_cube(lambda g, n: g * 3 * n[0] ** 2), [np.array([0.5, -1.2, 2.0])])


def test_case_ids_are_unique() -> None:
    assert len(set(CASE_IDS)) == len(CASE_IDS), sorted(i for i in CASE_IDS if CASE_IDS.count(i) > 1)


@pytest.mark.parametrize("c", CASES, ids=CASE_IDS)
def test_gradcheck(c: Case) -> None:
    c.check()


def test_every_differentiable_op_has_a_case() -> None:
    covered: set[str] = set()
    for c in CASES:
        covered |= c.ops()
    wanted = {name for name, op in OPS.items() if op.differentiable} - NO_DERIVATIVE
    assert wanted <= set(OPS)
    assert {op.name for op in torch.public_ops() if op.differentiable} <= wanted | NO_DERIVATIVE
    missing = sorted(wanted - covered)
    assert not missing, f"differentiable ops without a gradcheck case: {missing}"
    unknown = sorted(n for c in CASES for n in c.covers if n not in OPS)
    assert not unknown, f"cases claim ops that are not in the table: {unknown}"


@pytest.mark.parametrize(
    "fn",
    [lambda x: x // 2, lambda x: 7 // x, lambda x: torch.floor_divide(x, x * 2), lambda x: 2.0 % x],
    ids=["floordiv-scalar", "rfloordiv", "floor_divide-tensors", "rmod-scalar"],
)
def test_no_derivative_ops_raise_in_backward(fn: Any) -> None:
    x = torch.tensor(np.array([1.5, -2.5, 3.0]), requires_grad=True)
    out = fn(x)
    assert out.requires_grad and out.grad_fn.name() == "torch::autograd::NotImplemented"
    with pytest.raises(RuntimeError, match=r"derivative for aten::\w+ is not implemented"):
        out.sum().backward()
