"""docs/tutorial.md over raw HTTP against a live ``gradserve serve``: steps 1-8 and follow-ups."""

from __future__ import annotations

from typing import Any

import httpx
import numpy as np
from e2e_http import Session, assert_problem


def f32(data: Any) -> np.ndarray[Any, Any]:
    return np.asarray(data, dtype=np.float32)


def tutorial_start(sess: Session) -> None:
    """Steps 1-3: ``x = ones(2, 2, requires_grad=True); y = x + 2; out = (y * y * 3).mean()``."""
    sess.create(name="x", fill="ones", shape=[2, 2], requires_grad=True)
    sess.run(
        [
            {"name": "y", "op": "add", "args": ["x", 2]},
            {"name": "z", "op": "mul", "args": ["y", "y"]},
            {"name": "z", "op": "mul", "args": ["z", 3]},
            {"name": "out", "op": "mean", "args": ["z"]},
        ]
    )


def test_tutorial_steps_1_to_5(sess: Session) -> None:
    # 1. x = torch.ones(2, 2, requires_grad=True)
    x = sess.create(name="x", fill="ones", shape=[2, 2], requires_grad=True)
    assert x["shape"] == [2, 2] and x["dtype"] == "float32"
    assert (x["requires_grad"], x["is_leaf"], x["grad_fn"]) == (True, True, None)
    assert sess.info("x")["data"] == {"data": [[1.0, 1.0], [1.0, 1.0]], "dtype": "float32"}

    # 2. y = x + 2
    y = sess.run([{"name": "y", "op": "add", "args": ["x", 2]}], include=["data"])["y"]
    assert y["data"]["data"] == [[3.0, 3.0], [3.0, 3.0]]
    assert (y["grad_fn"], y["is_leaf"], y["requires_grad"]) == ("AddBackward0", False, True)

    # 3. z = y * y * 3; out = z.mean()
    got = sess.run(
        [
            {"name": "z", "op": "mul", "args": ["y", "y"]},
            {"name": "z", "op": "mul", "args": ["z", 3]},
            {"name": "out", "op": "mean", "args": ["z"]},
        ],
        include=["data"],
    )
    z, out = got["z"], got["out"]
    assert z["data"]["data"] == [[27.0, 27.0], [27.0, 27.0]]
    assert z["grad_fn"] == "MulBackward0"
    assert out["shape"] == [] and out["data"]["data"] == 27.0
    assert out["grad_fn"] == "MeanBackward0"

    # 4. a = torch.randn(2, 2); a = ((a * 3) / (a - 1)); a.requires_grad_(True)
    sess.create(name="a", fill="randn", shape=[2, 2])
    a0 = f32(sess.value("a"))
    a = sess.run(
        [
            {"name": "a3", "op": "mul", "args": ["a", 3]},
            {"name": "am1", "op": "sub", "args": ["a", 1]},
            {"name": "a", "op": "div", "args": ["a3", "am1"]},
        ],
        free=["a3", "am1"],
        include=["data"],
        **{"return": ["a"]},
    )["a"]
    assert a["requires_grad"] is False
    np.testing.assert_array_equal(f32(a["data"]["data"]), (a0 * 3) / (a0 - 1))
    names = {t["name"] for t in sess.ok("GET", "/tensors")["tensors"]}
    assert "a3" not in names and "am1" not in names
    a = sess.ok("PATCH", "/tensors/a", json={"requires_grad": True})
    assert (a["requires_grad"], a["is_leaf"], a["grad_fn"]) == (True, True, None)
    b = sess.run(
        [{"name": "b", "op": "mul", "args": ["a", "a"]}, {"name": "b", "op": "sum", "args": ["b"]}]
    )["b"]
    assert (b["grad_fn"], b["requires_grad"], b["shape"]) == ("SumBackward0", True, [])

    # 5. out.backward(); x.grad == 4.5
    r = sess.backward("out")
    assert r.status_code == 200, r.text
    assert r.json()["grads"] == {"x": {"data": [[4.5, 4.5], [4.5, 4.5]], "dtype": "float32"}}
    assert sess.grad("x") == [[4.5, 4.5], [4.5, 4.5]]
    assert sess.info("x")["grad"]["data"] == [[4.5, 4.5], [4.5, 4.5]]


def test_tutorial_step_6_define_by_run_loop(sess: Session) -> None:
    """The client's own ``while`` loop decides the graph: one norm request per pass."""
    sess.create(name="x", fill="randn", shape=[3], requires_grad=True)
    x = f32(sess.value("x"))
    sess.run([{"name": "y", "op": "mul", "args": ["x", 2]}])
    k = 1
    while True:
        # y.data.norm(): read without recording anything
        norm = sess.run(
            [{"name": "n", "op": "norm", "args": ["y"]}],
            no_grad=True,
            include=["data"],
            free=["n"],
        )["n"]
        assert norm["requires_grad"] is False and norm["shape"] == []
        if norm["data"]["data"] >= 1000:
            break
        y = sess.run([{"name": "y", "op": "mul", "args": ["y", 2]}])["y"]
        assert y["grad_fn"] == "MulBackward0"
        k += 1
        assert k < 200, "the loop does not terminate"
    np.testing.assert_array_equal(f32(sess.value("y")), x * np.float32(2**k))
    assert float(np.linalg.norm(x.astype(np.float64) * 2**k)) >= 999

    v = [0.1, 1.0, 0.0001]
    r = sess.backward("y", gradient=v)
    assert r.status_code == 200, r.text
    expected = f32(v) * np.float32(2**k)
    np.testing.assert_array_equal(f32(r.json()["grads"]["x"]["data"]), expected)
    np.testing.assert_array_equal(f32(sess.grad("x")), expected)
    assert "y" not in r.json()["grads"]  # only leaves report .grad


def test_tutorial_steps_7_and_8(sess: Session) -> None:
    sess.create(name="x", value=[1.5, -2.0, 3.25], requires_grad=True)
    assert sess.info("x")["requires_grad"] is True
    # 7. (x ** 2).requires_grad, then inside no_grad
    p = sess.run([{"name": "p", "op": "pow", "args": ["x", 2]}])["p"]
    assert (p["requires_grad"], p["grad_fn"]) == (True, "PowBackward0")
    q = sess.run([{"name": "q", "op": "pow", "args": ["x", 2]}], no_grad=True)["q"]
    assert (q["requires_grad"], q["grad_fn"]) == (False, None)
    # 8. x.detach()
    d = sess.run([{"name": "d", "op": "detach", "args": ["x"]}], include=["data"])["d"]
    assert d["data"] == {"data": [1.5, -2.0, 3.25], "dtype": "float32"}
    assert (d["requires_grad"], d["grad_fn"], d["is_leaf"]) == (False, None, True)


def test_second_backward_needs_retain_graph(sess: Session) -> None:
    tutorial_start(sess)
    assert sess.backward("out").status_code == 200
    problem = assert_problem(sess.backward("out"), 409, "graph_freed")
    assert "backward through the graph a second time" in problem["detail"]
    assert sess.grad("x") == [[4.5, 4.5], [4.5, 4.5]]  # the failed call changed nothing


def test_retain_graph_accumulates_to_nine(sess: Session) -> None:
    tutorial_start(sess)
    r = sess.backward("out", retain_graph=True)
    assert r.json()["grads"]["x"]["data"] == [[4.5, 4.5], [4.5, 4.5]]
    r = sess.backward("out")
    assert r.status_code == 200, r.text
    assert r.json()["grads"]["x"]["data"] == [[9.0, 9.0], [9.0, 9.0]]
    assert sess.grad("x") == [[9.0, 9.0], [9.0, 9.0]]


def test_nonscalar_backward_needs_gradient(sess: Session) -> None:
    tutorial_start(sess)
    problem = assert_problem(sess.backward("y"), 400, "grad_requires_scalar")
    assert problem["detail"] == "grad can be implicitly created only for scalar outputs"
    assert sess.grad("x") is None


def test_requires_grad_on_non_leaf(sess: Session) -> None:
    tutorial_start(sess)
    assert_problem(
        sess.request("PATCH", "/tensors/y", json={"requires_grad": False}), 400, "not_leaf"
    )
    y = sess.ok("PATCH", "/tensors/y", json={"requires_grad": True})  # changes nothing
    assert (y["requires_grad"], y["is_leaf"], y["grad_fn"]) == (True, False, "AddBackward0")


def test_backward_of_tensor_without_grad(sess: Session) -> None:
    sess.create(name="c", value=[1.0, 2.0])
    sess.run([{"name": "s", "op": "sum", "args": ["c"]}])
    assert_problem(sess.backward("s"), 400, "does_not_require_grad")


def test_sgd_step_zero_grad_and_new_step(sess: Session) -> None:
    """``w -= lr * w.grad`` under no_grad in one request, ``w.grad = None``, forward again."""
    w0 = f32([[0.5, -1.0], [2.0, 0.25]])
    xs = f32([[1.0, 2.0], [-1.0, 0.5]])
    sess.create(name="w", value=w0.tolist(), requires_grad=True)
    sess.create(name="inp", value=xs.tolist())

    def forward_backward() -> np.ndarray[Any, Any]:
        # loss = ((inp @ w) ** 2).sum()  ->  dloss/dw = 2 inp^T (inp @ w)
        sess.run(
            [
                {"name": "h", "op": "matmul", "args": ["inp", "w"]},
                {"name": "loss", "op": "pow", "args": ["h", 2]},
                {"name": "loss", "op": "sum", "args": ["loss"]},
            ]
        )
        r = sess.backward("loss")
        assert r.status_code == 200, r.text
        return f32(r.json()["grads"]["w"]["data"])

    g = forward_backward()
    np.testing.assert_allclose(g, 2 * xs.T @ (xs @ w0), rtol=1e-6)
    lr = 0.01
    step = sess.run(
        [
            {"name": "g", "op": "grad_of", "args": ["w"]},
            {"name": "step", "op": "mul", "args": ["g", lr]},
            {"op": "sub_", "args": ["w", "step"]},
        ],
        no_grad=True,
        free=["g", "step"],
        **{"return": []},
    )
    assert step == {}
    w = sess.info("w")
    assert (w["requires_grad"], w["is_leaf"], w["grad_fn"]) == (True, True, None)
    assert w["version"] == 1
    w1 = f32(w["data"]["data"])
    np.testing.assert_array_equal(w1, w0 - g * np.float32(lr))
    np.testing.assert_array_equal(f32(w["grad"]["data"]), g)  # the step left .grad alone

    assert sess.ok("POST", "/zero_grad", 204, json={"names": ["w"]}) is None
    assert sess.grad("w") is None
    assert_problem(
        sess.request("GET", "/tensors/w/grad", headers={"Accept": "application/x-npy"}),
        404,
        "grad_not_found",
    )
    g2 = forward_backward()  # a fresh .grad, not accumulated onto the old one
    np.testing.assert_allclose(g2, 2 * xs.T @ (xs @ w1), rtol=1e-6)
    np.testing.assert_array_equal(f32(sess.grad("w")), g2)


def test_sub_inplace_on_leaf_needs_no_grad(sess: Session) -> None:
    sess.create(name="w", value=[1.0, 2.0], requires_grad=True)
    r = sess.graph([{"op": "sub_", "args": ["w", 1.0]}])
    assert_problem(r, 400, "leaf_inplace")
    assert sess.value("w") == [1.0, 2.0]


def test_hessian_vector_product(sess: Session) -> None:
    """f = sum(x^3): g = df/dx = 3x^2 (create_graph), then d(g . v)/dx = 6 x v."""
    x = f32([1.0, -2.0, 0.5])
    v = f32([1.0, 0.5, -3.0])
    sess.create(name="x", value=x.tolist(), requires_grad=True)
    sess.create(name="v", value=v.tolist())
    sess.run(
        [{"name": "f", "op": "pow", "args": ["x", 3]}, {"name": "f", "op": "sum", "args": ["f"]}]
    )
    body = {"outputs": ["f"], "inputs": ["x"], "create_graph": True, "bind": ["g"]}
    r = sess.request("POST", "/grad", json=body)
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(f32(r.json()["grads"]["x"]["data"]), 3 * x**2, rtol=1e-6)
    g = sess.info("g", include="")
    assert g["requires_grad"] is True and g["grad_fn"] is not None and g["is_leaf"] is False
    assert sess.grad("x") is None  # autograd.grad leaves .grad alone

    sess.run(
        [
            {"name": "gv", "op": "mul", "args": ["g", "v"]},
            {"name": "gv", "op": "sum", "args": ["gv"]},
        ]
    )
    r = sess.request("POST", "/grad", json={"outputs": ["gv"], "inputs": ["x"]})
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(f32(r.json()["grads"]["x"]["data"]), 6 * x * v, rtol=1e-6)
    assert sess.grad("x") is None


def test_stateless_grad(http: httpx.Client) -> None:
    body = {
        "inputs": {"x": {"value": [[1.0, 1.0], [1.0, 1.0]], "requires_grad": True}},
        "nodes": [
            {"name": "y", "op": "add", "args": ["x", 2]},
            {"name": "z", "op": "mul", "args": ["y", "y"]},
            {"name": "z", "op": "mul", "args": ["z", 3]},
            {"name": "out", "op": "mean", "args": ["z"]},
        ],
        "output": "out",
        "wrt": ["x"],
    }
    r = http.post("/v1/grad", json=body)
    assert r.status_code == 200, r.text
    assert r.json() == {
        "output": {"data": 27.0, "dtype": "float32"},
        "grads": {"x": {"data": [[4.5, 4.5], [4.5, 4.5]], "dtype": "float32"}},
    }
