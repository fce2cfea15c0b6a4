"""The op table builds every surface: functions, methods, in-place methods, operators and
nn.functional, with torch's signatures (keyword calls bind as in torch)."""

from __future__ import annotations

import inspect
import json
from typing import Any

import numpy as np
import pytest

import engine
from engine.nnkit.composite import INPLACE_AFTER
from engine.ops import OPS, table_version, wire_ops
from engine.ops.table import Op

F = engine.nn.functional


def test_every_op_has_a_doc_and_a_spec() -> None:
    for op in OPS.values():
        assert op.doc.strip() and "\n" not in op.doc, op.name
        json.dumps(op.spec())  # plain data


def test_every_variant_exists_on_its_surface() -> None:
    for op in OPS.values():
        for name in (op.name, *op.aliases):
            if "function" in op.variants or "nn" in op.variants:
                assert getattr(engine, name) is op.fn or getattr(engine, name).__name__ == op.name
            if "method" in op.variants:
                assert callable(getattr(engine.Tensor, name)), name
        if "inplace" in op.variants:
            assert callable(getattr(engine.Tensor, op.name + "_")), op.name
        if "nn" in op.variants:
            f = getattr(F, op.name)  # relu & co. take torch's inplace too
            assert f is op.fn or (
                op.name in INPLACE_AFTER and "inplace" in inspect.signature(f).parameters
            )
        for dunder in (v for v in op.variants if v.startswith("__")):
            assert dunder in vars(engine.Tensor), (op.name, dunder)


def test_functions_and_methods_show_torchs_signatures() -> None:
    assert str(inspect.signature(engine.add)) == "(input, other, *, alpha=1)"
    assert (
        str(inspect.signature(engine.Tensor.sum))
        == "(self, dim=None, keepdim=False, *, dtype=None)"
    )
    assert str(inspect.signature(engine.Tensor.reshape)) == "(self, *shape)"
    assert str(inspect.signature(engine.Tensor.add_)) == "(self, other, *, alpha=1)"
    assert engine.exp.__doc__ == OPS["exp"].doc


@pytest.fixture
def torch() -> Any:
    return pytest.importorskip("torch")


KEYWORD_CALLS = [
    ("matmul", lambda m, a, b: m.matmul(input=a, other=b.T)),
    ("add", lambda m, a, b: m.add(input=a, other=b, alpha=2)),
    ("sum", lambda m, a, b: a.sum(dim=1, keepdim=True)),
    ("sum-tuple", lambda m, a, b: m.sum(a, (0, 1))),
    ("mean", lambda m, a, b: m.mean(input=a, dim=0)),
    ("softmax", lambda m, a, b: m.softmax(a, dim=-1)),
    ("clamp", lambda m, a, b: a.clamp(max=0.5)),
    ("clip", lambda m, a, b: m.clip(a, min=-0.5)),
    ("transpose", lambda m, a, b: a.transpose(dim0=0, dim1=1)),
    ("reshape", lambda m, a, b: m.reshape(a, shape=(3, 2))),
    ("reshape-method", lambda m, a, b: a.reshape(3, 2)),
    ("where", lambda m, a, b: m.where(condition=a > 0, input=a, other=b)),
    ("pow", lambda m, a, b: m.pow(a, exponent=2)),
    ("mse_loss", lambda m, a, b: m.nn.functional.mse_loss(input=a, target=b, reduction="sum")),
    ("cat", lambda m, a, b: m.cat(tensors=[a, b], dim=1)),
    ("multiply", lambda m, a, b: a.multiply(b)),
    ("max-dim", lambda m, a, b: m.max(a, dim=1, keepdim=True).values),
]


@pytest.mark.parametrize("call", KEYWORD_CALLS, ids=[c[0] for c in KEYWORD_CALLS])
def test_keyword_calls_bind_as_torch(torch: Any, call: Any) -> None:
    a = np.linspace(-1, 1, 6).reshape(2, 3)
    b = np.linspace(2, -1, 6).reshape(2, 3)
    got = call[1](engine, engine.tensor(a), engine.tensor(b))
    want = call[1](torch, torch.tensor(a), torch.tensor(b))
    np.testing.assert_allclose(got.numpy(), want.numpy(), atol=1e-12)


def test_a_bad_call_is_pythons_type_error() -> None:
    x = engine.ones(2)
    with pytest.raises(TypeError, match="missing 1 required positional argument: 'other'"):
        engine.add(x)
    with pytest.raises(TypeError, match="unexpected keyword argument 'dims'"):
        x.sum(dims=0)
    with pytest.raises(TypeError, match=r"exp\(\): argument 'input' \(position 1\) must be Tensor"):
        engine.exp(2.0)


def test_wire_names_come_from_the_table() -> None:
    wire = wire_ops()
    assert wire["add_"] == (OPS["add"], True) and wire["add"] == (OPS["add"], False)
    assert wire["grad_of"] == (OPS["grad_of"], False)
    assert "reciprocal" not in wire  # not public
    assert wire["index_put_"] == (OPS["index_put"], True)  # x[...] = v: in place only
    assert {name for name, (op, inplace) in wire.items() if not inplace} == {
        op.name for op in engine.public_ops() if op.name in (op.wire or ())
    }


def test_the_table_version_is_a_hash_of_the_declarations(monkeypatch: pytest.MonkeyPatch) -> None:
    v = table_version()
    assert v == table_version() and len(v) == 16
    monkeypatch.setattr(OPS["exp"], "doc", "changed")
    assert table_version() != v


def test_an_op_declared_twice_or_without_a_doc_is_refused() -> None:
    with pytest.raises(ValueError, match="declared twice"):
        engine.ops.defop("exp", None, None, "", doc="again")
    with pytest.raises(ValueError, match="one-line doc"):
        engine.ops.defop("no_doc_op", None, None, "")
    assert "no_doc_op" not in OPS and isinstance(OPS["exp"], Op)
