"""docs/tutorial.md steps 1-8 and the follow-ups as raw HTTP, one step at a time.

Each step is a method that makes its requests and checks exact results; the replica tests
run the steps on one session through several servers (alternating, or with one of them
killed between two steps), so every step also checks that what earlier steps left in the
session survived the trip through the store.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from scale_kit import Session, assert_problem, f32

import engine

SEED = 1234
TUTORIAL_NODES: list[dict[str, Any]] = [
    {"name": "y", "op": "add", "args": ["x", 2]},
    {"name": "z", "op": "mul", "args": ["y", "y"]},
    {"name": "z", "op": "mul", "args": ["z", 3]},
    {"name": "out", "op": "mean", "args": ["z"]},
]


def seeded_randn(*shapes: tuple[int, ...]) -> list[np.ndarray[Any, Any]]:
    """What successive randn fills give in a session opened with ``seed=SEED``."""
    gen = np.random.default_rng(SEED)
    return [engine.randn(*shape, generator=gen).numpy() for shape in shapes]


class Tutorial:
    """The walkthrough on one session; ``steps()`` in order, each checking its results."""

    def __init__(self, sess: Session) -> None:
        self.s = sess
        self.a0, self.x6 = seeded_randn((2, 2), (3,))
        self.k = 0

    def steps(self) -> list[Callable[[], None]]:
        return [
            self.step1,
            self.step2,
            self.step3,
            self.step4,
            self.step5,
            self.step6,
            self.step7,
            self.step8,
            self.backward_twice,
            self.non_scalar_and_not_leaf,
            self.sgd_step,
            self.hessian_vector_product,
        ]

    def run(self, start: int = 0, stop: int | None = None) -> None:
        for step in self.steps()[start:stop]:
            step()

    # ---------------------------------------------------------------- 1-5
    def step1(self) -> None:
        x = self.s.create(name="x", fill="ones", shape=[2, 2], requires_grad=True)
        assert (x["requires_grad"], x["is_leaf"], x["grad_fn"]) == (True, True, None)
        assert self.s.info("x")["data"] == {"data": [[1.0, 1.0], [1.0, 1.0]], "dtype": "float32"}

    def step2(self) -> None:
        y = self.s.run(TUTORIAL_NODES[:1], include=["data"])["y"]
        assert y["data"]["data"] == [[3.0, 3.0], [3.0, 3.0]]
        assert (y["grad_fn"], y["is_leaf"], y["requires_grad"]) == ("AddBackward0", False, True)

    def step3(self) -> None:
        got = self.s.run(TUTORIAL_NODES[1:], include=["data"])
        assert got["z"]["data"]["data"] == [[27.0, 27.0], [27.0, 27.0]]
        assert got["z"]["grad_fn"] == "MulBackward0"
        assert got["out"]["shape"] == [] and got["out"]["data"]["data"] == 27.0
        assert got["out"]["grad_fn"] == "MeanBackward0"

    def step4(self) -> None:
        a = self.s.create(name="a", fill="randn", shape=[2, 2])
        assert a["requires_grad"] is False
        np.testing.assert_array_equal(f32(self.s.value("a")), self.a0)
        a = self.s.run(
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
        np.testing.assert_array_equal(f32(a["data"]["data"]), (self.a0 * 3) / (self.a0 - 1))
        a = self.s.ok("PATCH", "/tensors/a", json={"requires_grad": True})
        assert (a["requires_grad"], a["is_leaf"], a["grad_fn"]) == (True, True, None)
        b = self.s.run(
            [
                {"name": "b", "op": "mul", "args": ["a", "a"]},
                {"name": "b", "op": "sum", "args": ["b"]},
            ]
        )["b"]
        assert (b["grad_fn"], b["requires_grad"], b["shape"]) == ("SumBackward0", True, [])

    def step5(self) -> None:
        r = self.s.backward("out")
        assert r.status_code == 200, r.text
        assert r.json()["grads"] == {"x": {"data": [[4.5, 4.5], [4.5, 4.5]], "dtype": "float32"}}
        assert self.s.grad("x") == [[4.5, 4.5], [4.5, 4.5]]

    # ---------------------------------------------------------------- 6-8
    def step6(self) -> None:
        """Define-by-run: the client's loop asks the server for y.data.norm() each pass."""
        self.s.create(name="x6", fill="randn", shape=[3], requires_grad=True)
        np.testing.assert_array_equal(f32(self.s.value("x6")), self.x6)
        self.s.run([{"name": "y6", "op": "mul", "args": ["x6", 2]}])
        k = 1
        while True:
            n = self.s.run(
                [{"name": "n", "op": "norm", "args": ["y6"]}],
                no_grad=True,
                include=["data"],
                free=["n"],
            )["n"]
            if n["data"]["data"] >= 1000:
                break
            y6 = self.s.run([{"name": "y6", "op": "mul", "args": ["y6", 2]}])["y6"]
            assert y6["grad_fn"] == "MulBackward0"
            k += 1
            assert k < 200
        self.k = k
        np.testing.assert_array_equal(f32(self.s.value("y6")), self.x6 * np.float32(2**k))
        v = [0.1, 1.0, 0.0001]
        r = self.s.backward("y6", gradient=v)
        assert r.status_code == 200, r.text
        expected = f32(v) * np.float32(2**k)
        np.testing.assert_array_equal(f32(r.json()["grads"]["x6"]["data"]), expected)
        np.testing.assert_array_equal(f32(self.s.grad("x6")), expected)

    def step7(self) -> None:
        assert self.s.info("x6", "")["requires_grad"] is True
        sq = self.s.run([{"name": "sq", "op": "pow", "args": ["x6", 2]}], free=["sq"])
        assert sq["sq"]["requires_grad"] is True
        sq = self.s.run([{"name": "sq", "op": "pow", "args": ["x6", 2]}], no_grad=True)
        assert sq["sq"]["requires_grad"] is False and sq["sq"]["grad_fn"] is None

    def step8(self) -> None:
        d = self.s.run([{"name": "xd", "op": "detach", "args": ["x6"]}], include=["data"])["xd"]
        assert (d["requires_grad"], d["grad_fn"]) == (False, None)
        np.testing.assert_array_equal(f32(d["data"]["data"]), self.x6)
        assert self.s.info("x6", "")["requires_grad"] is True  # detach left x6 as it was

    # ---------------------------------------------------------------- follow-ups
    def backward_twice(self) -> None:
        assert_problem(self.s.backward("out"), 409, "graph_freed")
        assert self.s.grad("x") == [[4.5, 4.5], [4.5, 4.5]]  # the failed call changed nothing
        self.s.run(TUTORIAL_NODES)
        self.s.ok("POST", "/zero_grad", 204, json={"names": ["x"]})
        assert self.s.grad("x") is None
        for expected in (4.5, 9.0, 13.5):
            r = self.s.backward("out", retain_graph=True)
            assert r.status_code == 200, r.text
            assert self.s.grad("x") == [[expected, expected], [expected, expected]]

    def non_scalar_and_not_leaf(self) -> None:
        assert_problem(self.s.backward("y"), 400, "grad_requires_scalar")
        r = self.s.request("PATCH", "/tensors/y", json={"requires_grad": False})
        assert_problem(r, 400, "not_leaf")
        y = self.s.ok("PATCH", "/tensors/y", json={"requires_grad": True})
        assert (y["requires_grad"], y["grad_fn"]) == (True, "AddBackward0")

    def sgd_step(self) -> None:
        self.s.create(name="w", value=[1.0, 2.0, 3.0], requires_grad=True)
        loss = [
            {"name": "sq", "op": "mul", "args": ["w", "w"]},
            {"name": "loss", "op": "sum", "args": ["sq"]},
        ]
        self.s.run(loss)
        assert self.s.backward("loss").status_code == 200
        assert self.s.grad("w") == [2.0, 4.0, 6.0]
        w = self.s.run(
            [
                {"name": "dw", "op": "grad_of", "args": ["w"]},
                {"name": "step", "op": "mul", "args": ["dw", 0.25]},
                {"op": "sub_", "args": ["w", "step"]},
            ],
            no_grad=True,
            free=["dw", "step"],
            include=["data"],
            **{"return": ["w"]},
        )["w"]
        assert w["data"]["data"] == [0.5, 1.0, 1.5] and w["version"] == 1
        self.s.ok("POST", "/zero_grad", 204, json={"names": ["w"]})
        assert self.s.grad("w") is None
        self.s.run(loss)
        assert self.s.backward("loss").status_code == 200
        assert self.s.grad("w") == [1.0, 2.0, 3.0]

    def hessian_vector_product(self) -> None:
        self.s.create(name="xh", value=[1.0, 2.0, 3.0], requires_grad=True)
        self.s.run(
            [
                {"name": "c", "op": "pow", "args": ["xh", 3]},
                {"name": "f", "op": "sum", "args": ["c"]},
            ]
        )
        r = self.s.request(
            "POST",
            "/grad",
            json={"outputs": ["f"], "inputs": ["xh"], "create_graph": True, "bind": ["dx"]},
        )
        assert r.status_code == 200, r.text
        assert r.json()["grads"]["xh"]["data"] == [3.0, 12.0, 27.0]
        assert self.s.info("dx", "")["grad_fn"] is not None
        self.s.run(
            [
                {"name": "g", "op": "mul", "args": ["dx", {"value": [1.0, 0.5, 2.0]}]},
                {"name": "g", "op": "sum", "args": ["g"]},
            ]
        )
        r = self.s.request("POST", "/grad", json={"outputs": ["g"], "inputs": ["xh"]})
        assert r.status_code == 200, r.text
        # H v = 6 x v
        assert r.json()["grads"]["xh"]["data"] == [6.0, 6.0, 36.0]
        assert self.s.grad("xh") is None  # autograd.grad leaves .grad alone
