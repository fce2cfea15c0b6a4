"""Hostile input over real HTTP: what torch refuses is refused (400 with a code), deep nesting is
422, and none of it is a 5xx or floods the log."""

from __future__ import annotations

import json

import httpx
import pytest
from e2e_http import Session, assert_problem


@pytest.mark.parametrize(
    ("body", "code", "detail"),
    [
        # torch.tensor([2**63]): ValueError, never INT64_MIN
        ({"value": [2**63]}, "overflow", "Overflow when unpacking long long"),
        ({"value": {"data": [2**63], "dtype": "int64"}}, "overflow", "Overflow when unpacking"),
        # beyond u64: orjson would read a float; torch still refuses the integer literal
        ({"value": [2**64]}, "overflow", "Overflow when unpacking long long"),
        ({"value": [[1, 2], [3, -(2**70)]]}, "overflow", "Overflow when unpacking long long"),
        (
            {"fill": "full", "shape": [2], "fill_value": 1e300, "dtype": "int64"},
            "overflow",
            "value cannot be converted to type int64_t without overflow",
        ),
        (
            {"fill": "full", "shape": [2], "fill_value": 2**40, "dtype": "int32"},
            "overflow",
            "value cannot be converted to type int without overflow",
        ),
        (
            {"fill": "full", "shape": [2], "fill_value": 1e300, "dtype": "float32"},
            "overflow",
            "value cannot be converted to type float without overflow",
        ),
        (
            {"fill": "arange", "end": 5, "dtype": "bool"},
            "invalid_argument",
            "\"arange_cpu\" not implemented for 'Bool'",
        ),
    ],
)
def test_values_torch_refuses_are_400(
    sess: Session, body: dict[str, object], code: str, detail: str
) -> None:
    problem = assert_problem(sess.request("POST", "/tensors", json=body), 400, code)
    assert detail in problem["detail"]


def test_big_literals_a_float_dtype_takes_are_kept(sess: Session) -> None:
    # torch.tensor([2**64], dtype=torch.float64) is 1.8447e+19: only integer dtypes overflow
    sess.create(name="f", value={"data": [2**64], "dtype": "float64"})
    assert sess.value("f") == [float(2**64)]


def test_scalar_operand_beyond_int64_is_overflow(sess: Session) -> None:
    sess.create(name="x", value=[1.0, 2.0])
    problem = assert_problem(sess.graph([{"op": "add", "args": ["x", 2**64]}]), 400, "overflow")
    assert problem["detail"] == "int too big to convert"
    assert problem["node"] == 0


def test_backward_inputs_must_require_grad(sess: Session) -> None:
    sess.create(name="x", value=[1.0, 2.0], requires_grad=True)
    sess.create(name="i", value=[1, 2])
    sess.run([{"name": "o", "op": "sum", "args": ["x"]}])
    problem = assert_problem(sess.backward("o", inputs=["i"]), 400, "invalid_argument")
    assert problem["detail"] == "can't retain_grad on Tensor that has requires_grad=False"


def test_deeply_nested_args_are_422_and_the_server_stays_up(
    http: httpx.Client, sess: Session
) -> None:
    sess.create(name="x", value=[1.0])
    deep: object = 1
    for _ in range(600):
        deep = [deep]
    r = sess.graph([{"op": "add", "args": ["x", deep]}])
    problem = assert_problem(r, 422, "validation_error")
    assert "nested deeper than 100 levels" in json.dumps(problem)
    # kwargs and tensor values are bounded the same way
    r = sess.request("POST", "/tensors", json={"value": deep})
    assert_problem(r, 422, "validation_error")
    r = sess.graph([{"op": "sum", "args": ["x"], "kwargs": {"dim": deep}}])
    assert_problem(r, 422, "validation_error")
    # a 64-d inline value (NumPy's most) is still accepted
    ok: object = [1.0]
    for _ in range(63):
        ok = [ok]
    assert sess.graph([{"name": "y", "op": "add", "args": ["x", {"value": ok}]}]).status_code == 200
    assert http.get("/healthz").status_code == 200
