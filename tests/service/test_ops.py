"""Every op of docs/api.md over HTTP: values, grad_fn names and gradients against PyTorch."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np
import pytest
from service_testkit import Sess, assert_problem, open_session

pytestmark = pytest.mark.anyio
torch = pytest.importorskip("torch")
F = torch.nn.functional

rng = np.random.default_rng(0)
X = rng.standard_normal((2, 3))
Y = rng.standard_normal((2, 3))
P = rng.uniform(0.5, 2.0, (2, 3))  # positive, for log/sqrt/pow
V = rng.standard_normal(3)
M = rng.standard_normal((3, 2))
ROW = rng.standard_normal((1, 3))
PROB = rng.uniform(0.1, 0.9, (2, 3))
LOGITS = rng.standard_normal((4, 3))


@dataclass
class Case:
    """One op call: float64 inputs that require grad, the wire node, and torch's own call."""

    id: str
    args: list[Any]
    ref: Callable[[dict[str, Any]], Any]
    op: str = ""
    kwargs: dict[str, Any] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=lambda: {"x": X})
    consts: dict[str, Any] = field(default_factory=dict)  # inputs that do not require grad

    def __post_init__(self) -> None:
        self.op = self.op or self.id.split("-")[0]


CASES = [
    Case("add", ["x", "y"], lambda t: t["x"] + t["y"], inputs={"x": X, "y": Y}),
    Case("add-scalar", ["x", 2], lambda t: t["x"] + 2),
    Case(
        "add-alpha",
        ["x", "y"],
        lambda t: torch.add(t["x"], t["y"], alpha=3),
        kwargs={"alpha": 3},
        inputs={"x": X, "y": Y},
    ),
    Case("add-broadcast", ["x", "row"], lambda t: t["x"] + t["row"], inputs={"x": X, "row": ROW}),
    Case("sub", ["x", "y"], lambda t: t["x"] - t["y"], inputs={"x": X, "y": Y}),
    Case("sub-rsub", [1.5, "x"], lambda t: 1.5 - t["x"]),
    Case(
        "sub-alpha",
        ["x", "v"],
        lambda t: torch.sub(t["x"], t["v"], alpha=2),
        kwargs={"alpha": 2},
        inputs={"x": X, "v": V},
    ),
    Case("mul", ["x", "y"], lambda t: t["x"] * t["y"], inputs={"x": X, "y": Y}),
    Case("mul-broadcast", ["x", "v"], lambda t: t["x"] * t["v"], inputs={"x": X, "v": V}),
    Case("div", ["x", "p"], lambda t: t["x"] / t["p"], inputs={"x": X, "p": P}),
    Case("div-scalar", [2, "p"], lambda t: 2 / t["p"], inputs={"p": P}),
    Case("neg", ["x"], lambda t: -t["x"]),
    Case("pow-scalar", ["x", 2], lambda t: t["x"] ** 2),
    Case("pow-tensor", ["p", "y"], lambda t: t["p"] ** t["y"], inputs={"p": P, "y": Y}),
    Case("pow-base", [2.0, "x"], lambda t: 2.0 ** t["x"]),
    Case("exp", ["x"], lambda t: t["x"].exp()),
    Case("log", ["p"], lambda t: t["p"].log(), inputs={"p": P}),
    Case("sqrt", ["p"], lambda t: t["p"].sqrt(), inputs={"p": P}),
    Case("abs", ["x"], lambda t: t["x"].abs()),
    Case("sin", ["x"], lambda t: t["x"].sin()),
    Case("cos", ["x"], lambda t: t["x"].cos()),
    Case("tan", ["x"], lambda t: t["x"].tan()),
    Case("tanh", ["x"], lambda t: t["x"].tanh()),
    Case("sigmoid", ["x"], lambda t: t["x"].sigmoid()),
    Case("relu", ["x"], lambda t: F.relu(t["x"])),
    Case("leaky_relu", ["x"], lambda t: F.leaky_relu(t["x"], 0.2), kwargs={"negative_slope": 0.2}),
    Case("gelu", ["x"], lambda t: F.gelu(t["x"])),
    Case(
        "gelu-tanh",
        ["x"],
        lambda t: F.gelu(t["x"], approximate="tanh"),
        kwargs={"approximate": "tanh"},
    ),
    Case("softplus", ["x"], lambda t: F.softplus(t["x"], beta=2.0), kwargs={"beta": 2.0}),
    Case(
        "clamp", ["x"], lambda t: t["x"].clamp(min=-0.5, max=0.5), kwargs={"min": -0.5, "max": 0.5}
    ),
    Case("clamp-min", ["x"], lambda t: t["x"].clamp(min=0), kwargs={"min": 0}),
    Case("maximum", ["x", "y"], lambda t: torch.maximum(t["x"], t["y"]), inputs={"x": X, "y": Y}),
    Case("minimum", ["x", "y"], lambda t: torch.minimum(t["x"], t["y"]), inputs={"x": X, "y": Y}),
    Case(
        "max-binary",
        ["x", "y"],
        lambda t: torch.max(t["x"], t["y"]),
        op="max",
        inputs={"x": X, "y": Y},
    ),
    Case(
        "min-binary",
        ["x", "y"],
        lambda t: torch.min(t["x"], t["y"]),
        op="min",
        inputs={"x": X, "y": Y},
    ),
    Case(
        "where",
        ["c", "x", "y"],
        lambda t: torch.where(t["c"], t["x"], t["y"]),
        inputs={"x": X, "y": Y},
        consts={"c": X > 0},
    ),
    Case("matmul-mm", ["x", "m"], lambda t: t["x"] @ t["m"], inputs={"x": X, "m": M}),
    Case("matmul-mv", ["x", "v"], lambda t: t["x"] @ t["v"], inputs={"x": X, "v": V}),
    Case("matmul-dot", ["v", "w"], lambda t: t["v"] @ t["w"], inputs={"v": V, "w": V * 2}),
    Case("sum", ["x"], lambda t: t["x"].sum()),
    Case("sum-dim", ["x"], lambda t: t["x"].sum(dim=1), kwargs={"dim": 1}),
    Case(
        "sum-dims-keepdim",
        ["x"],
        lambda t: t["x"].sum(dim=[0, 1], keepdim=True),
        kwargs={"dim": [0, 1], "keepdim": True},
    ),
    Case("mean", ["x"], lambda t: t["x"].mean()),
    Case(
        "mean-dim",
        ["x"],
        lambda t: t["x"].mean(dim=0, keepdim=True),
        kwargs={"dim": 0, "keepdim": True},
    ),
    Case("prod", ["x"], lambda t: t["x"].prod()),
    Case("prod-dim", ["x"], lambda t: t["x"].prod(dim=1), kwargs={"dim": 1}),
    Case("max", ["x"], lambda t: t["x"].max()),
    Case("max-dim", ["x"], lambda t: t["x"].max(dim=1).values, kwargs={"dim": 1}),
    Case("min", ["x"], lambda t: t["x"].min()),
    Case(
        "min-dim",
        ["x"],
        lambda t: t["x"].min(dim=0, keepdim=True).values,
        kwargs={"dim": 0, "keepdim": True},
    ),
    Case("amax", ["x"], lambda t: t["x"].amax(dim=1), kwargs={"dim": 1}),
    Case("amin", ["x"], lambda t: t["x"].amin(dim=0), kwargs={"dim": 0}),
    Case("logsumexp", ["x"], lambda t: t["x"].logsumexp(dim=1), kwargs={"dim": 1}),
    Case("softmax", ["x"], lambda t: t["x"].softmax(dim=1), kwargs={"dim": 1}),
    Case("log_softmax", ["x"], lambda t: t["x"].log_softmax(dim=0), kwargs={"dim": 0}),
    Case("norm", ["x"], lambda t: t["x"].norm()),
    Case("norm-p1-dim", ["x"], lambda t: t["x"].norm(p=1, dim=1), kwargs={"p": 1, "dim": 1}),
    Case("reshape", ["x"], lambda t: t["x"].reshape(3, 2), kwargs={"shape": [3, 2]}),
    Case("reshape-infer", ["x"], lambda t: t["x"].reshape(-1), kwargs={"shape": [-1]}),
    Case("transpose", ["x"], lambda t: t["x"].transpose(0, 1), kwargs={"dim0": 0, "dim1": 1}),
    Case("permute", ["x"], lambda t: t["x"].permute(1, 0), kwargs={"dims": [1, 0]}),
    Case("squeeze", ["row"], lambda t: t["row"].squeeze(), inputs={"row": ROW}),
    Case(
        "squeeze-dim",
        ["row"],
        lambda t: t["row"].squeeze(0),
        kwargs={"dim": 0},
        inputs={"row": ROW},
    ),
    Case("unsqueeze", ["x"], lambda t: t["x"].unsqueeze(1), kwargs={"dim": 1}),
    Case(
        "expand",
        ["row"],
        lambda t: t["row"].expand(4, 3),
        kwargs={"size": [4, 3]},
        inputs={"row": ROW},
    ),
    Case("flatten", ["x"], lambda t: t["x"].flatten()),
    Case("clone", ["x"], lambda t: t["x"].clone()),
    Case("mse_loss", ["x", "y"], lambda t: F.mse_loss(t["x"], t["y"]), inputs={"x": X, "y": Y}),
    Case(
        "mse_loss-none",
        ["x", "y"],
        lambda t: F.mse_loss(t["x"], t["y"], reduction="none"),
        kwargs={"reduction": "none"},
        inputs={"x": X, "y": Y},
    ),
    Case(
        "binary_cross_entropy",
        ["q", "t"],
        lambda t: F.binary_cross_entropy(t["q"], t["t"]),
        inputs={"q": PROB},
        consts={"t": (X > 0).astype(np.float64)},
    ),
    Case(
        "binary_cross_entropy_with_logits",
        ["x", "t"],
        lambda t: F.binary_cross_entropy_with_logits(t["x"], t["t"], reduction="sum"),
        kwargs={"reduction": "sum"},
        consts={"t": PROB},
    ),
    Case(
        "cross_entropy",
        ["l", "k"],
        lambda t: F.cross_entropy(t["l"], t["k"]),
        inputs={"l": LOGITS},
        consts={"k": np.array([0, 2, 1, 1])},
    ),
    Case(
        "cross_entropy-sum",
        ["l", "k"],
        lambda t: F.cross_entropy(t["l"], t["k"], reduction="sum"),
        kwargs={"reduction": "sum"},
        inputs={"l": LOGITS},
        consts={"k": np.array([0, 2, 1, 1])},
    ),
    Case(
        "cross_entropy-none",
        ["l", "k"],
        lambda t: F.cross_entropy(t["l"], t["k"], reduction="none"),
        kwargs={"reduction": "none"},
        inputs={"l": LOGITS},
        consts={"k": np.array([0, 2, 1, 1])},
    ),
    Case(
        "index", ["x"], lambda t: t["x"][1, 1:], kwargs={"index": [1, {"slice": [1, None, None]}]}
    ),
]

NON_DIFFERENTIABLE = [
    Case("eq", ["x", "y"], lambda t: t["x"] == t["y"], inputs={"x": X, "y": X * (X > 0)}),
    Case("ne", ["x", 0.0], lambda t: t["x"] != 0.0),
    Case("lt", ["x", "y"], lambda t: t["x"] < t["y"], inputs={"x": X, "y": Y}),
    Case("le", ["x", "y"], lambda t: t["x"] <= t["y"], inputs={"x": X, "y": Y}),
    Case("gt", ["x", 0], lambda t: t["x"] > 0),
    Case("ge", ["x", "y"], lambda t: t["x"] >= t["y"], inputs={"x": X, "y": Y}),
    Case("argmax", ["x"], lambda t: t["x"].argmax()),
    Case("argmax-dim", ["x"], lambda t: t["x"].argmax(dim=1), kwargs={"dim": 1}),
    Case(
        "argmin",
        ["x"],
        lambda t: t["x"].argmin(dim=0, keepdim=True),
        kwargs={"dim": 0, "keepdim": True},
    ),
    Case("detach", ["x"], lambda t: t["x"].detach()),
]
CASES += [
    Case(
        "cat",
        [["x", "y"]],
        lambda t: torch.cat([t["x"], t["y"]], 1),
        kwargs={"dim": 1},
        inputs={"x": X, "y": Y},
    ),
    Case("hypot", ["x", "y"], lambda t: torch.hypot(t["x"], t["y"]), inputs={"x": X, "y": Y}),
    Case("stack", [["x", "y"]], lambda t: torch.stack([t["x"], t["y"]]), inputs={"x": X, "y": Y}),
    Case("t", ["x"], lambda t: t["x"].t()),  # TBackward0, not transpose's name
    Case("t-1d", ["x"], lambda t: t["x"].t(), inputs={"x": ROW[0]}),
]

# pieces, tiling, flips, triangles and products; split and chunk give one piece a node (part)
_sh = np.random.default_rng(11)
X46, V6 = _sh.standard_normal((4, 6)), _sh.standard_normal(6)
B234, B245 = _sh.standard_normal((2, 3, 4)), _sh.standard_normal((2, 4, 5))
CASES += [
    Case(
        "narrow",
        ["x"],
        lambda t: t["x"].narrow(1, -4, 3),
        kwargs={"dim": 1, "start": -4, "length": 3},
        inputs={"x": X46},
    ),
    Case(
        "split-int",
        ["x"],
        lambda t: torch.split(t["x"], 4, 1)[1],
        kwargs={"split_size_or_sections": 4, "dim": 1, "part": 1},
        inputs={"x": X46},
    ),
    Case(
        "split-sizes",
        ["x"],
        lambda t: t["x"].split([1, 2, 3], 1)[2],
        kwargs={"split_size_or_sections": [1, 2, 3], "dim": 1, "part": 2},
        inputs={"x": X46},
    ),
    Case(
        "chunk",
        ["x"],
        lambda t: t["x"].chunk(3)[0],
        kwargs={"chunks": 3, "part": 0},
        inputs={"x": X46},
    ),
    Case(
        "repeat",
        ["x"],
        lambda t: t["x"].repeat(2, 1, 3),
        kwargs={"repeats": [2, 1, 3]},
    ),
    Case("flip", ["x"], lambda t: t["x"].flip(0, 1), kwargs={"dims": [0, 1]}),
    Case(
        "roll",
        ["x"],
        lambda t: torch.roll(t["x"], (1, -2), (0, 1)),
        kwargs={"shifts": [1, -2], "dims": [0, 1]},
    ),
    Case("roll-flat", ["x"], lambda t: t["x"].roll(4), kwargs={"shifts": 4}),
    Case("tril", ["x"], lambda t: torch.tril(t["x"])),
    Case("triu", ["x"], lambda t: t["x"].triu(-1), kwargs={"diagonal": -1}),
    Case("mv", ["x", "v"], lambda t: torch.mv(t["x"], t["v"]), inputs={"x": X46, "v": V6}),
    Case("bmm", ["a", "b"], lambda t: t["a"].bmm(t["b"]), inputs={"a": B234, "b": B245}),
    Case(
        "einsum",
        ["a", "b"],
        lambda t: torch.einsum("bij,bjk->bik", t["a"], t["b"]),
        kwargs={"equation": "bij,bjk->bik"},
        inputs={"a": B234, "b": B245},
    ),
    Case(
        "einsum-trace",
        ["x"],
        lambda t: torch.einsum("ii", t["x"][:, :4]),
        kwargs={"equation": "ii"},
        inputs={"x": X46[:, :4].copy()},
    ),
]

# torch.nn's layers and losses (engine/ops/layers.py, nll_loss)
_nn = np.random.default_rng(10)
W43, B4 = _nn.standard_normal((4, 3)), _nn.standard_normal(4)
EMB = _nn.standard_normal((5, 3))
CASES += [
    Case(
        "addmm",
        ["b", "x", "m"],
        lambda t: torch.addmm(t["b"], t["x"], t["m"], beta=0.5, alpha=2.0),
        kwargs={"beta": 0.5, "alpha": 2.0},
        inputs={"b": B4[:2], "x": X, "m": M},
    ),
    Case(
        "linear",
        ["x", "w", "b"],
        lambda t: F.linear(t["x"], t["w"], t["b"]),
        inputs={"x": X, "w": W43, "b": B4},
    ),
    Case(
        "linear-nobias",
        ["x", "w"],
        lambda t: F.linear(t["x"], t["w"]),
        inputs={"x": X, "w": W43},
    ),
    Case("silu", ["x"], lambda t: F.silu(t["x"])),
    Case("elu", ["x"], lambda t: F.elu(t["x"], alpha=0.5), kwargs={"alpha": 0.5}),
    Case(
        "layer_norm",
        ["x", [3], "w", "b"],
        lambda t: F.layer_norm(t["x"], [3], t["w"], t["b"], eps=1e-3),
        kwargs={"eps": 1e-3},
        inputs={"x": X, "w": V, "b": B4[:3]},
    ),
    Case("layer_norm-plain", ["x", [2, 3]], lambda t: F.layer_norm(t["x"], [2, 3])),
    Case(
        "embedding",
        ["k", "e"],
        lambda t: F.embedding(t["k"], t["e"], padding_idx=-1),
        kwargs={"padding_idx": -1},
        inputs={"e": EMB},
        consts={"k": np.array([[0, 4, 2], [4, 1, 1]])},
    ),
    Case(
        "huber_loss",
        ["x", "y"],
        lambda t: F.huber_loss(t["x"], t["y"], reduction="sum", delta=0.7),
        kwargs={"reduction": "sum", "delta": 0.7},
        inputs={"x": X, "y": Y},
    ),
    Case(
        "smooth_l1_loss",
        ["x", "y"],
        lambda t: F.smooth_l1_loss(t["x"], t["y"], beta=0.6),
        kwargs={"beta": 0.6},
        inputs={"x": X, "y": Y},
    ),
    Case(
        "nll_loss",
        ["l", "k"],
        lambda t: F.nll_loss(t["l"], t["k"], ignore_index=1),
        kwargs={"ignore_index": 1},
        inputs={"l": LOGITS},
        consts={"k": np.array([0, 2, 1, 1])},
    ),
    Case(
        "cross_entropy-label_smoothing",
        ["l", "k"],
        lambda t: F.cross_entropy(t["l"], t["k"], label_smoothing=0.2),
        kwargs={"label_smoothing": 0.2},
        inputs={"l": LOGITS},
        consts={"k": np.array([0, 2, 1, 1])},
    ),
]
NON_DIFFERENTIABLE += [
    Case(
        "one_hot",
        ["k"],
        lambda t: F.one_hot(t["k"], num_classes=4),
        kwargs={"num_classes": 4},
        inputs={},
        consts={"k": np.array([0, 3, 1])},
    ),
    Case("one_hot-inferred", ["k"], lambda t: F.one_hot(t["k"]), inputs={}, consts={"k": [2, 0]}),
]

# issue 9: index tensors and masks, //, %, fmod, clamp with tensor bounds, where with numbers,
# and nn.functional's pad, normalize, cosine_similarity
I23 = np.array([[0, 1, 0], [1, 0, 1]])
K23 = X > 0
CASES += [
    Case(
        "gather",
        ["x", 1, "i"],
        lambda t: torch.gather(t["x"], 1, t["i"]),
        consts={"i": np.array([[2, 2, 0], [1, 0, 1]])},
    ),
    Case(
        "scatter",
        ["x", 0, "i", "y"],
        lambda t: torch.scatter(t["x"], 0, t["i"], t["y"]),
        inputs={"x": X, "y": Y},
        consts={"i": I23},
    ),
    Case(
        "scatter-value",
        ["x", 0, "i"],
        lambda t: torch.scatter(t["x"], 0, t["i"], value=2.5),
        kwargs={"value": 2.5},
        consts={"i": I23},
    ),
    Case(
        "scatter_add",
        ["x", 1, "i", "y"],
        lambda t: torch.scatter_add(t["x"], 1, t["i"], t["y"]),
        inputs={"x": X, "y": Y},
        consts={"i": np.array([[2, 2, 0], [1, 1, 1]])},
    ),
    Case(
        "index_select",
        ["x", 1, "i"],
        lambda t: torch.index_select(t["x"], 1, t["i"]),
        consts={"i": np.array([2, 0, 2, 2])},
    ),
    Case(
        "masked_fill",
        ["x", "k", -1.5],
        lambda t: t["x"].masked_fill(t["k"], -1.5),
        consts={"k": K23},
    ),
    Case(
        "masked_fill-tensor",
        ["x", "k", "v"],
        lambda t: t["x"].masked_fill(t["k"], t["v"]),
        inputs={"x": X, "v": np.array(0.25)},
        consts={"k": K23[0]},
    ),
    Case(
        "masked_select",
        ["x", "k"],
        lambda t: torch.masked_select(t["x"], t["k"]),
        consts={"k": K23},
    ),
    Case(
        "remainder",
        ["x", "p"],
        lambda t: t["x"] % t["p"],
        inputs={"x": X * 3, "p": -P},
    ),
    Case("remainder-scalar", ["x", 0.75], lambda t: t["x"] % 0.75),
    Case("fmod", ["x", "p"], lambda t: torch.fmod(t["x"], t["p"]), inputs={"x": X * 3, "p": P}),
    Case("fmod-scalar", ["x", -0.75], lambda t: torch.fmod(t["x"], -0.75)),
    Case("pow-rpow", [1.5, "x"], lambda t: 1.5 ** t["x"], op="pow"),
    Case(
        "clamp-tensors",
        ["x", "lo", "hi"],
        lambda t: torch.clamp(t["x"], min=t["lo"], max=t["hi"]),
        op="clamp",
        inputs={"x": X, "lo": -P / 2, "hi": P[0] / 2},
    ),
    Case(
        "where-scalars",
        ["c", 2.0, "x"],
        lambda t: torch.where(t["c"], 2.0, t["x"]),
        op="where",
        consts={"c": X > 0},
    ),
    Case(
        "where-scalar-other",
        ["c", "x", -1],
        lambda t: torch.where(t["c"], t["x"], -1),
        op="where",
        consts={"c": X > 0},
    ),
    Case("pad", ["x", [1, -1, 0, 2]], lambda t: F.pad(t["x"], [1, -1, 0, 2])),
    Case(
        "pad-value",
        ["x"],
        lambda t: F.pad(t["x"], (2, 1), value=0.5),
        kwargs={"pad": [2, 1], "value": 0.5},
    ),
    Case("normalize", ["x"], lambda t: F.normalize(t["x"])),
    Case(
        "normalize-p1",
        ["x"],
        lambda t: F.normalize(t["x"], p=1.0, dim=0),
        kwargs={"p": 1.0, "dim": 0},
    ),
    Case(
        "cosine_similarity",
        ["x", "y"],
        lambda t: F.cosine_similarity(t["x"], t["y"]),
        inputs={"x": X, "y": Y},
    ),
    Case(
        "cosine_similarity-broadcast",
        ["x", "v"],
        lambda t: F.cosine_similarity(t["x"], t["v"], dim=-1, eps=1e-6),
        kwargs={"dim": -1, "eps": 1e-6},
        inputs={"x": X, "v": V},
    ),
]
NON_DIFFERENTIABLE += [
    Case(
        "floor_divide",
        ["a", "b"],
        lambda t: t["a"] // t["b"],
        inputs={},
        consts={"a": np.array([-7, 7, -7, 8]), "b": np.array([2, -2, -3, 3])},
    ),
    Case(
        "floor_divide-float",
        ["a", -2.5],
        lambda t: torch.floor_divide(t["a"], -2.5),
        inputs={},
        consts={"a": X * 4},
    ),
    Case(
        "remainder-int",
        [7, "b"],
        lambda t: 7 % t["b"],
        inputs={},
        consts={"b": np.array([2, -2, -3, 3])},
    ),
    Case(
        "gather-int",
        ["a", 0, "i"],
        lambda t: torch.gather(t["a"], 0, t["i"]),
        inputs={},
        consts={"a": np.array([[1, 2, 3], [4, 5, 6]]), "i": I23},
    ),
]


# issue 9: var, std, cumsum, cumprod, sort, topk (the wire answers sort's and topk's values)
Z = np.array([[1.3, 0.0, -0.7], [0.0, 1.2, 0.0]])
CASES += [
    Case("var", ["x"], lambda t: t["x"].var()),
    Case(
        "var-dim-correction",
        ["x"],
        lambda t: t["x"].var(1, correction=0, keepdim=True),
        kwargs={"dim": 1, "correction": 0, "keepdim": True},
    ),
    Case(
        "var-unbiased", ["x"], lambda t: t["x"].var(0, False), kwargs={"dim": 0, "unbiased": False}
    ),
    Case("std", ["x"], lambda t: t["x"].std(dim=[0, 1]), kwargs={"dim": [0, 1]}),
    Case("var_mean", ["x"], lambda t: torch.var_mean(t["x"], 1)[0], kwargs={"dim": 1}),
    Case("std_mean", ["x"], lambda t: torch.std_mean(t["x"])[0]),
    Case(
        "moment_mean",
        ["x"],
        lambda t: torch.std_mean(t["x"], 0, keepdim=True)[1],
        kwargs={"dim": 0, "keepdim": True, "of": "std"},
    ),
    Case("cumsum", ["x"], lambda t: t["x"].cumsum(1), kwargs={"dim": 1}),
    Case("cumprod", ["x"], lambda t: t["x"].cumprod(0), kwargs={"dim": 0}),
    Case("cumprod-zeros", ["z"], lambda t: t["z"].cumprod(1), kwargs={"dim": 1}, inputs={"z": Z}),
    Case(
        "sort",
        ["x"],
        lambda t: t["x"].sort(1, descending=True).values,
        kwargs={"dim": 1, "descending": True},
    ),
    Case(
        "sort-stable",
        ["x"],
        lambda t: torch.sort(t["x"], stable=True).values,
        kwargs={"stable": True},
    ),
    Case("topk", ["x"], lambda t: t["x"].topk(2).values, kwargs={"k": 2}),
    Case(
        "topk-smallest",
        ["x"],
        lambda t: t["x"].topk(1, dim=0, largest=False).values,
        kwargs={"k": 1, "dim": 0, "largest": False},
    ),
    Case(
        "norm-dtype",
        ["x"],
        lambda t: t["x"].norm(dim=1, dtype=torch.float64),
        op="norm",
        kwargs={"dim": 1, "dtype": "float64"},
    ),
]
NON_DIFFERENTIABLE += [
    Case(
        "argsort",
        ["x"],
        lambda t: t["x"].argsort(1, descending=True),
        kwargs={"dim": 1, "descending": True},
    ),
    Case("argsort-dim0", ["x"], lambda t: t["x"].argsort(0), kwargs={"dim": 0}),
    Case(
        "isclose",
        ["x", "y"],
        lambda t: torch.isclose(t["x"], t["y"], atol=0.5),
        kwargs={"atol": 0.5},
        inputs={"x": X, "y": Y},
    ),
    Case(
        "allclose",
        ["x", "y"],
        lambda t: torch.tensor(torch.allclose(t["x"], t["y"])),
        inputs={"x": X, "y": Y},
    ),
    Case(
        "allclose-same",
        ["x", "x"],
        lambda t: torch.tensor(torch.allclose(t["x"], t["x"])),
        op="allclose",
    ),
    Case(
        "equal",
        ["x", "y"],
        lambda t: torch.tensor(torch.equal(t["x"], t["y"])),
        inputs={"x": X, "y": Y},
    ),
    Case("equal-same", ["x", "x"], lambda t: torch.tensor(torch.equal(t["x"], t["x"])), op="equal"),
]


@dataclass
class InplaceCase:
    """An in-place wire op on a clone of x (x requires grad), or grad_of after a backward."""

    op: str
    args: list[Any]
    ref: Callable[[Any, Any], Any]  # ref(clone of x, y)
    kwargs: dict[str, Any] = field(default_factory=dict)
    consts: dict[str, Any] = field(default_factory=dict)  # more names, not requiring grad
    id: str = ""
    x: Any = None  # x's values (default X)

    def __post_init__(self) -> None:
        self.id = self.id or self.op


_I, _K = {"i": I23}, {"k": K23}


INPLACE = [
    InplaceCase("add_", ["y"], lambda c, y: c.add_(y, alpha=2), {"alpha": 2}),
    InplaceCase("sub_", [1.5], lambda c, y: c.sub_(1.5)),
    InplaceCase("mul_", ["y"], lambda c, y: c.mul_(y)),
    InplaceCase("div_", [4], lambda c, y: c.div_(4)),
    InplaceCase("zero_", [], lambda c, y: c.zero_()),
    InplaceCase("hypot_", ["y"], lambda c, y: c.hypot_(y)),
    InplaceCase("cumsum_", [], lambda c, y: c.cumsum_(1), {"dim": 1}),
    InplaceCase("cumprod_", [], lambda c, y: c.cumprod_(0), {"dim": 0}),
    InplaceCase("copy_", ["y"], lambda c, y: c.copy_(y)),
    InplaceCase("clamp_", [], lambda c, y: c.clamp_(min=-0.5, max=0.5), {"min": -0.5, "max": 0.5}),
    InplaceCase("tril_", [], lambda c, y: c.tril_(1), {"diagonal": 1}),
    InplaceCase("triu_", [], lambda c, y: c.triu_()),
    # issue 9
    InplaceCase("clamp_", ["y"], lambda c, y: c.clamp_(y), id="clamp_-tensor-min"),
    InplaceCase("fill_", [2.5], lambda c, y: c.fill_(2.5)),
    InplaceCase(
        "scatter_", [0, "i", "y"], lambda c, y: c.scatter_(0, torch.tensor(I23), y), consts=_I
    ),
    InplaceCase(
        "scatter_add_",
        [1, "i", "y"],
        lambda c, y: c.scatter_add_(1, torch.tensor(I23), y),
        consts=_I,
    ),
    InplaceCase(
        "masked_fill_", ["k", 0.5], lambda c, y: c.masked_fill_(torch.tensor(K23), 0.5), consts=_K
    ),
    InplaceCase("remainder_", ["y"], lambda c, y: c.remainder_(y)),
    InplaceCase("fmod_", [0.5], lambda c, y: c.fmod_(0.5)),
    InplaceCase("pow_", [3], lambda c, y: c.pow_(3)),
    *(
        InplaceCase(f"{name}_", [], lambda c, y, n=name: getattr(c, n + "_")())
        for name in ("abs", "exp", "sin", "cos", "tan", "tanh", "sigmoid", "neg", "relu")
    ),
    InplaceCase("log_", [], lambda c, y: c.log_(), x=P),
    InplaceCase("sqrt_", [], lambda c, y: c.sqrt_(), x=P),
]


def wire(a: np.ndarray[Any, Any]) -> dict[str, Any]:
    dtype = {"f": "float64", "i": "int64", "b": "bool"}[a.dtype.kind]
    return {"data": a.tolist(), "dtype": dtype}


async def _setup(client: httpx.AsyncClient, case: Case) -> tuple[Sess, dict[str, Any]]:
    s = await open_session(client)
    ref: dict[str, Any] = {}
    for name, a in case.inputs.items():
        await s.tensor(name, value=wire(a), requires_grad=True)
        ref[name] = torch.tensor(a, requires_grad=True)
    for name, a in case.consts.items():
        await s.tensor(name, value=wire(np.asarray(a)))
        ref[name] = torch.tensor(a)
    return s, ref


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
async def test_op_matches_torch(client: httpx.AsyncClient, case: Case) -> None:
    s, ref = await _setup(client, case)
    expected = case.ref(ref)
    t = await s.run(
        [{"name": "r", "op": case.op, "args": case.args, "kwargs": case.kwargs}], include=["data"]
    )
    info = t["r"]
    assert info["shape"] == list(expected.shape)
    assert info["dtype"] == str(expected.dtype).removeprefix("torch.")
    assert info["requires_grad"] is True and info["is_leaf"] is False
    assert info["grad_fn"] == type(expected.grad_fn).__name__
    got = np.array(info["data"]["data"])
    np.testing.assert_allclose(got, expected.detach().numpy(), rtol=1e-9, atol=1e-12)
    # backward with an explicit gradient, as TensorData
    gout = rng.standard_normal(tuple(expected.shape))
    expected.backward(torch.tensor(gout))
    r = await s.backward("r", gradient=wire(np.asarray(gout)))
    assert r.status_code == 200, r.text
    grads = r.json()["grads"]
    assert set(grads) == set(case.inputs)
    for name in case.inputs:
        np.testing.assert_allclose(
            np.array(grads[name]["data"]), ref[name].grad.numpy(), rtol=1e-7, atol=1e-10
        )
        assert grads[name]["dtype"] == "float64"


@pytest.mark.parametrize("case", NON_DIFFERENTIABLE, ids=[c.id for c in NON_DIFFERENTIABLE])
async def test_non_differentiable_op_matches_torch(client: httpx.AsyncClient, case: Case) -> None:
    s, ref = await _setup(client, case)
    expected = case.ref(ref)
    t = await s.run(
        [{"name": "r", "op": case.op, "args": case.args, "kwargs": case.kwargs}], include=["data"]
    )
    info = t["r"]
    assert info["shape"] == list(expected.shape)
    assert info["dtype"] == str(expected.dtype).removeprefix("torch.")
    assert info["requires_grad"] is False and info["grad_fn"] is None
    assert info["data"]["data"] == expected.numpy().tolist()
    assert_problem(await s.backward("r"), 400, "does_not_require_grad")


@pytest.mark.parametrize("dtype", ["float32", "float16"])
async def test_ops_keep_lower_float_precision(client: httpx.AsyncClient, dtype: str) -> None:
    s = await open_session(client)
    await s.tensor("x", value={"data": X.tolist(), "dtype": dtype}, requires_grad=True)
    t = await s.run(
        [
            {"name": "e", "op": "exp", "args": ["x"]},
            {"name": "m", "op": "mean", "args": ["e"]},
        ],
        include=["data"],
    )
    assert t["e"]["dtype"] == dtype and t["m"]["dtype"] == dtype
    xt = torch.tensor(X, dtype=getattr(torch, dtype))
    np.testing.assert_allclose(
        np.array(t["e"]["data"]["data"], dtype=np.float64),
        xt.exp().double().numpy(),
        rtol=1e-6 if dtype == "float32" else 2e-3,
    )
    g = (await s.backward("m")).json()["grads"]["x"]
    assert g["dtype"] == dtype


async def test_wrong_kwargs_and_arity_are_400(client: httpx.AsyncClient) -> None:
    s = await open_session(client)
    await s.tensor("x", value=X.tolist(), requires_grad=True)
    await s.tensor("v", value=V.tolist())
    bad = [
        {"op": "exp", "args": ["x", "x"]},
        {"op": "add", "args": ["x"]},
        {"op": "add", "args": []},
        {"op": "sum", "args": ["x"], "kwargs": {"dim": "one"}},
        {"op": "reshape", "args": ["x"], "kwargs": {"shape": [4, 4]}},
        {"op": "softmax", "args": ["x"], "kwargs": {"dim": 7}},
        {"op": "transpose", "args": ["x"], "kwargs": {"dim0": 0, "dim1": 9}},
        {"op": "cat", "args": ["x"]},
        {"op": "where", "args": ["x", "x", "x"]},
        {"op": "matmul", "args": [2, 3]},
        {"op": "clamp", "args": ["x"], "kwargs": {"min": "low"}},
        {"op": "index", "args": ["x"]},
        {"op": "permute", "args": ["x"], "kwargs": {"dims": [0, 0]}},
        {"op": "expand", "args": ["x"], "kwargs": {"size": [5, 5]}},
        {"op": "einsum", "args": ["x", "x"]},
        {"op": "einsum", "args": ["x"], "kwargs": {"equation": "ij,jk->ik"}},
        {"op": "narrow", "args": ["x"], "kwargs": {"dim": 1, "start": 2, "length": 5}},
        {"op": "split", "args": ["x"], "kwargs": {"split_size_or_sections": 1}},
        {"op": "tril", "args": ["v"]},
        {"op": "mv", "args": ["x", "x"]},
    ]
    for node in bad:
        r = await s.graph([node])
        assert r.status_code == 400, (node, r.text)
        body = r.json()
        assert r.headers["content-type"].startswith("application/problem+json")
        assert body["node"] == 0, node
        assert body["code"] in ("invalid_argument", "shape_mismatch", "dtype_mismatch"), body


@pytest.mark.parametrize("case", INPLACE, ids=[c.id for c in INPLACE])
async def test_inplace_op_matches_torch(client: httpx.AsyncClient, case: InplaceCase) -> None:
    s = await open_session(client)
    xv = X if case.x is None else case.x
    await s.tensor("x", value=wire(xv), requires_grad=True)
    await s.tensor("y", value=wire(Y), requires_grad=True)
    for name, a in case.consts.items():
        await s.tensor(name, value=wire(np.asarray(a)))
    x, y = torch.tensor(xv, requires_grad=True), torch.tensor(Y, requires_grad=True)
    expected = case.ref(x.clone(), y)
    nodes = [
        {"name": "c", "op": "clone", "args": ["x"]},
        {"name": None, "op": case.op, "args": ["c", *case.args], "kwargs": case.kwargs},
    ]
    info = (await s.run(nodes, include=["data"]))["c"]
    np.testing.assert_allclose(np.array(info["data"]["data"]), expected.detach().numpy())
    assert info["grad_fn"] == type(expected.grad_fn).__name__
    expected.sum().backward()
    r = await s.backward("c", gradient=wire(np.ones(X.shape)))
    assert r.status_code == 200, r.text
    for name, t in (("x", x), ("y", y)):
        got = r.json()["grads"].get(name)
        got_values = np.zeros(X.shape) if got is None else np.array(got["data"])
        want = np.zeros(X.shape) if t.grad is None else t.grad.numpy()
        np.testing.assert_allclose(got_values, want)


async def test_grad_of_matches_torch(client: httpx.AsyncClient) -> None:
    s = await open_session(client)
    await s.tensor("x", value=wire(X), requires_grad=True)
    await s.run(
        [{"name": "q", "op": "mul", "args": ["x", "x"]}, {"name": "l", "op": "sum", "args": ["q"]}]
    )
    assert (await s.backward("l")).status_code == 200
    t = await s.run([{"name": "g", "op": "grad_of", "args": ["x"]}], include=["data"])
    x = torch.tensor(X, requires_grad=True)
    (x * x).sum().backward()
    np.testing.assert_allclose(np.array(t["g"]["data"]["data"]), x.grad.numpy())


async def test_to_matches_torch(client: httpx.AsyncClient) -> None:
    s = await open_session(client)
    await s.tensor("x", value=wire(X), requires_grad=True)
    node = {"name": "r", "op": "to", "args": ["x"], "kwargs": {"dtype": "float32"}}
    info = (await s.run([node], include=["data"]))["r"]
    expected = torch.tensor(X, requires_grad=True).to(torch.float32)
    assert (info["dtype"], info["grad_fn"]) == ("float32", type(expected.grad_fn).__name__)
    np.testing.assert_allclose(np.array(info["data"]["data"]), expected.detach(), rtol=1e-6)
    grads = (await s.backward("r", gradient=wire(np.ones(X.shape)))).json()["grads"]
    assert grads["x"]["dtype"] == "float64" and np.array(grads["x"]["data"]).tolist() == (
        np.ones(X.shape).tolist()
    )


async def test_floor_divide_has_no_derivative_as_in_torch(client: httpx.AsyncClient) -> None:
    """torch's // records grad_fn NotImplemented; backward through it is a 400 with torch's
    text (function and in-place forms)."""
    s = await open_session(client)
    await s.tensor("x", value=wire(X), requires_grad=True)
    nodes = [
        {"name": "q", "op": "floor_divide", "args": ["x", 0.5]},
        {"name": "c", "op": "mul", "args": ["x", 1]},
        {"op": "floor_divide_", "args": ["c", "x"]},
    ]
    info = await s.run(nodes, include=["data"])
    x = torch.tensor(X, requires_grad=True)
    for name, want in (("q", x // 0.5), ("c", (x * 1).floor_divide_(x))):
        assert info[name]["grad_fn"] == "NotImplemented" == type(want.grad_fn).__name__
        np.testing.assert_array_equal(np.array(info[name]["data"]["data"]), want.detach().numpy())
        r = await s.backward(name, gradient=wire(np.ones(X.shape)))
        assert_problem(r, 400, "invalid_argument")
        assert "derivative for aten::floor_divide is not implemented" in r.json()["detail"]


# wire ops with a test of their own above (not a Case)
OWN_TESTS = {"grad_of", "to", "floor_divide_", "index_put_"}


def test_every_wire_op_has_a_wire_case() -> None:
    """Coverage: an op on the wire (the op table's wire names) without a case here fails."""
    from engine.ops import wire_ops

    covered = {c.op for c in CASES + NON_DIFFERENTIABLE} | {c.op for c in INPLACE} | OWN_TESTS
    missing = sorted(set(wire_ops()) - covered)
    assert not missing, f"wire ops without a wire case in tests/service/test_ops.py: {missing}"


async def test_hypot_is_listed_with_its_doc(client: httpx.AsyncClient) -> None:
    ops = {o["name"]: o for o in (await client.get("/v1/ops")).json()["ops"]}
    assert ops["hypot"]["doc"].startswith("sqrt(input ** 2 + other ** 2)")
    assert ops["hypot"]["grad_fns"] == ["HypotBackward0"] and ops["hypot_"]["in_place"]
    assert {"function", "method", "inplace"} <= set(ops["hypot"]["variants"])


async def test_issue9_ops_are_listed_and_refuse_bad_calls(client: httpx.AsyncClient) -> None:
    ops = {o["name"]: o for o in (await client.get("/v1/ops")).json()["ops"]}
    assert ops["sort"]["grad_fns"] == ["SortBackward0", "SortBackward1"]
    assert ops["topk"]["grad_fns"] == ["TopkBackward0"] and ops["var"]["grad_fns"] == [
        "VarBackward0"
    ]
    assert ops["cumprod_"]["in_place"] and ops["cumsum_"]["in_place"]
    assert not ops["argsort"]["differentiable"] and not ops["allclose"]["differentiable"]
    assert ops["allclose"]["doc"].startswith("whether isclose holds for every element")
    s = await open_session(client)
    await s.tensor("x", value=wire(X), requires_grad=True)
    await s.tensor("k", value=wire(np.array([1, 2, 3])))
    bad = [
        ({"op": "topk", "args": ["x"], "kwargs": {"k": 4}}, "selected index k out of range"),
        ({"op": "sort", "args": ["x"], "kwargs": {"dim": 2}}, "Dimension out of range"),
        ({"op": "var", "args": ["k"]}, "std and var only support floating point"),
        ({"op": "cumsum", "args": ["x"]}, "dim"),
        ({"op": "isclose", "args": ["x", "k"]}, "Double did not match Long"),
        ({"op": "equal", "args": ["x", 1.0]}, "must be Tensor"),
    ]
    for node, text in bad:
        body = assert_problem(await s.graph([node]), 400, "invalid_argument")
        assert text in body["detail"], (node, body)


async def test_split_pieces_on_the_wire(client: httpx.AsyncClient) -> None:
    """split and chunk: one node a piece (kwarg part); every piece's gradient reaches x, as
    torch's; no part, or one out of range, is 400 invalid_argument naming the count."""
    ops = {o["name"]: o for o in (await client.get("/v1/ops")).json()["ops"]}
    assert ops["split"]["parts"] and ops["chunk"]["parts"] and not ops["narrow"]["parts"]
    assert ops["split"]["grad_fns"] == ["SplitBackward0", "SplitWithSizesBackward0"]
    s = await open_session(client)
    await s.tensor("x", value=wire(X46), requires_grad=True)
    kw = {"split_size_or_sections": [1, 5], "dim": 1}
    nodes = [
        {"name": f"p{i}", "op": "split", "args": ["x"], "kwargs": {**kw, "part": i}}
        for i in range(2)
    ]
    nodes += [
        {"name": "q", "op": "mul", "args": ["p1", 3.0]},
        {"name": "l", "op": "sum", "args": ["p0"]},
        {"name": "m", "op": "sum", "args": ["q"]},
        {"name": "r", "op": "add", "args": ["l", "m"]},
    ]
    t = await s.run(nodes)
    assert t["p0"]["grad_fn"] == t["p1"]["grad_fn"] == "SplitWithSizesBackward0"
    assert t["p1"]["shape"] == [4, 5]
    g = (await s.backward("r")).json()["grads"]["x"]
    x = torch.tensor(X46, requires_grad=True)
    a, b = x.split([1, 5], 1)
    (a.sum() + (b * 3.0).sum()).backward()
    np.testing.assert_allclose(np.array(g["data"]), x.grad.numpy())
    for part in (None, 2, -1, "0"):
        extra = {} if part is None else {"part": part}
        node = {"name": "z", "op": "chunk", "args": ["x"], "kwargs": {"chunks": 2, **extra}}
        r = await s.graph([node])
        assert_problem(r, 400, "invalid_argument")
        assert "chunk gives 2 tensors here" in r.json()["detail"], r.text


async def test_index_put_in_place_with_masks_and_index_tensors(client: httpx.AsyncClient) -> None:
    """x[mask] = v and x[idx] = t on the wire (index_put_: index's items, names of int64 or
    bool tensors too): torch's values and IndexPutBackward0 gradients; bad ones are 4xx."""
    ops = {o["name"]: o for o in (await client.get("/v1/ops")).json()["ops"]}
    assert ops["index_put_"]["in_place"]
    s = await open_session(client)
    await s.tensor("w", value=[1.0, 2.0, 3.0], requires_grad=True)
    await s.tensor("i", value=wire(np.array([0])))
    nodes = [
        {"name": "y", "op": "mul", "args": ["w", 2.0]},
        {"name": "m", "op": "gt", "args": ["y", 3.0]},
        {"name": None, "op": "index_put_", "args": ["y", 0.0], "kwargs": {"index": ["m"]}},
        {"name": "v", "op": "index", "args": ["w"], "kwargs": {"index": [{"slice": [1, 2]}]}},
        {"name": "v10", "op": "mul", "args": ["v", 10.0]},
        {"name": None, "op": "index_put_", "args": ["y", "v10"], "kwargs": {"index": ["i"]}},
        {"name": "r", "op": "sum", "args": ["y"]},
    ]
    assert (await s.graph(nodes)).status_code == 200
    g = (await s.backward("r")).json()["grads"]["w"]
    w = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = w * 2
    y[y > 3] = 0.0
    y[torch.tensor([0])] = w[1:2] * 10
    y.sum().backward()
    np.testing.assert_allclose(np.asarray(g["data"]), w.grad.numpy())
    await s.tensor("x", value=[1.0, 2.0, 3.0])
    await s.tensor("big", value=wire(np.array([5])))
    bad = [
        ({"op": "index_put_", "args": ["x", 1.0], "kwargs": {"index": ["big"]}}, 400),
        ({"op": "index_put_", "args": ["x", "w"], "kwargs": {"index": ["i"]}}, 400),
        ({"op": "index_put_", "args": ["x", 1.0], "kwargs": {"index": ["nope"]}}, 400),
    ]
    for node, status in bad:
        r = await s.graph([node])
        assert r.status_code == status, (node, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
