"""Real ops with odd arguments over HTTP: graph, backward and grad never answer 5xx.

Schemathesis fuzzes the schema, where ``op`` is any string and ``kwargs`` any object; this
drives every op in GET /v1/ops with the kwargs it declares, values near their edges, mixed
dtypes and shapes, and then differentiates what came out (first and second order). Cases are
derandomized and bounded; failures are collected (no shrinking) and reported together.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

import httpx
from e2e_http import Session
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

MAX_EXAMPLES = 150

TENSORS: list[dict[str, Any]] = [
    {"name": "x", "value": [[0.5, -1.0, 2.0], [1.5, 0.0, -3.0]], "requires_grad": True},
    {"name": "v", "value": [0.25, 4.0, -0.5], "dtype": "float64", "requires_grad": True},
    {"name": "s", "value": 2.0, "requires_grad": True},
    {
        "name": "h",
        "value": [[1.0, 2.0, 3.0], [0.5, 0.25, -1.0]],
        "dtype": "float16",
        "requires_grad": True,
    },
    {"name": "e", "fill": "zeros", "shape": [0, 3], "requires_grad": True},
    {"name": "k", "value": [[1, 2, 3], [4, 5, 6]], "dtype": "int32"},
    {"name": "idx", "value": [1, 0]},
    {"name": "mask", "value": [[True, False, True], [False, True, False]]},
    {"name": "c", "value": [[0.0, 1.0, 0.5], [1.0, 0.0, 0.25]]},
]
NAMES = [t["name"] for t in TENSORS]
FLOAT_NAMES = ["x", "v", "s", "h", "e", "c"]
# the argument an op needs in a slot, when it is not a float tensor
SLOT_NAMES = {("where", 0): "mask", ("cross_entropy", 1): "idx"}
# kwargs without a usable default (None in GET /v1/ops) that the op cannot run without
REQUIRED_KWARGS = ("dims", "shape", "size", "index", "dtype", "dim")


def mostly(usual: st.SearchStrategy[Any], odd: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """Mostly ``usual``, sometimes ``odd``: most requests stay valid enough to run.

    Hypothesis favours small integers, so the rare branch is the top of the range."""
    return st.integers(0, 5).flatmap(lambda i: odd if i == 5 else usual)


small_int = st.integers(-3, 3)
scalar = st.one_of(
    small_int,
    st.floats(-1e3, 1e3, allow_nan=False, allow_infinity=False, width=32),
    st.sampled_from([0, 1, -1, 0.5, 1e30, -1e30, 2**40, True, False]),
)
anything = st.one_of(
    st.none(), scalar, st.text(max_size=4), st.lists(small_int, max_size=3), st.just({"a": 1})
)
shape = st.lists(st.integers(-1, 3), max_size=4)
dim = mostly(st.integers(-2, 1), st.one_of(st.none(), small_int, st.lists(small_int, max_size=3)))
index_item = st.one_of(
    st.integers(-2, 1),
    st.none(),
    st.just("..."),
    st.sampled_from(["idx", "mask", "ghost"]),
    st.fixed_dictionaries({"slice": st.lists(st.one_of(st.none(), small_int), max_size=4)}),
    st.fixed_dictionaries({"array": st.lists(st.one_of(small_int, st.booleans()), max_size=4)}),
)
KWARG_VALUES: dict[str, st.SearchStrategy[Any]] = {
    "dim": dim,
    "keepdim": mostly(st.booleans(), anything),
    "start_dim": dim,
    "end_dim": dim,
    "dim0": dim,
    "dim1": dim,
    "dims": mostly(st.permutations([0, 1]).map(list), st.one_of(shape, st.none(), small_int)),
    "shape": mostly(st.sampled_from([[-1], [3, 2], [1, -1], [6, 1, 1]]), shape),
    "size": mostly(st.sampled_from([[2, 3], [4, 2, 3], [-1, 3]]), shape),
    "index": st.lists(index_item, max_size=3),
    "reduction": mostly(st.sampled_from(["mean", "sum", "none"]), anything),
    "ignore_index": mostly(st.just(-100), small_int),
    "approximate": st.sampled_from(["none", "tanh", "erf"]),
    "dtype": st.sampled_from(["float16", "float32", "float64", "int32", "int64", "bool", "x"]),
    "p": mostly(st.sampled_from([1, 2, 3.5, "inf"]), st.one_of(scalar, st.just("fro"))),
    "min": st.one_of(st.none(), scalar, st.just("x")),
    "max": st.one_of(st.none(), scalar, st.just("x")),
}


@st.composite
def graph_requests(draw: st.DrawFn, ops: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """1-3 nodes, each an op with (mostly) its arity of tensors and some of its kwargs."""
    floats = list(FLOAT_NAMES)
    odd_arg = st.one_of(
        st.sampled_from(NAMES),
        scalar,
        st.fixed_dictionaries(
            {"value": st.one_of(scalar, st.lists(scalar, min_size=1, max_size=3))}
        ),
    )
    nodes = []
    for i in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(sorted(ops)))
        spec = ops[op]
        if spec["arity"] is None:  # cat, stack: a list of tensors
            args: list[Any] = [draw(st.lists(st.sampled_from(floats), min_size=1, max_size=3))]
        else:
            count = draw(mostly(st.just(spec["arity"]), st.integers(0, spec["arity"] + 1)))
            args = [
                draw(mostly(st.just(SLOT_NAMES.get((op, j))) | st.sampled_from(floats), odd_arg))
                if (op, j) in SLOT_NAMES
                else draw(mostly(st.sampled_from(floats), odd_arg))
                for j in range(count)
            ]
        keys = [
            k
            for k, default in sorted(spec["kwargs"].items())
            if (default is None and k in REQUIRED_KWARGS) or draw(st.integers(0, 2)) == 2
        ]
        kwargs = {k: draw(KWARG_VALUES.get(k, anything)) for k in keys}
        if draw(st.integers(0, 19)) == 19:
            kwargs["bogus"] = draw(anything)
        name = f"n{i}"
        nodes.append({"name": name, "op": op, "args": args, "kwargs": kwargs})
        floats.append(name)
    return {
        "nodes": nodes,
        "no_grad": draw(st.booleans()) and draw(st.booleans()),
        "include": draw(st.sampled_from([[], ["data"], ["data", "grad"]])),
        "encoding": draw(st.sampled_from(["json", "b64"])),
    }


def test_real_ops_never_answer_5xx(http: httpx.Client) -> None:
    ops = {op["name"]: op for op in http.get("/v1/ops").json()["ops"]}
    failures: list[str] = []

    def call(sess: Session, step: str, path: str, body: dict[str, Any]) -> dict[str, Any] | None:
        """POST and check; the JSON of a 200, else None (a failure is recorded)."""
        try:
            r = sess.request("POST", path, json=body)
        except httpx.TransportError as exc:  # a crashed handler may drop the connection
            failures.append(f"{step}: {exc!r}\n  sent {json.dumps(body)}")
            return None
        ctype = r.headers.get("content-type", "")
        if r.status_code >= 500 or (
            r.status_code >= 400 and not ctype.startswith("application/problem+json")
        ):
            failures.append(f"{step}: {r.status_code} {r.text[:300]}\n  sent {json.dumps(body)}")
        if r.status_code != 200:
            return None
        result: dict[str, Any] = r.json()
        return result

    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],  # failures are collected, never shrunk
        suppress_health_check=list(HealthCheck),
    )
    @given(body=graph_requests(ops), mode=st.sampled_from(["backward", "grad", "grad2"]))
    def run(body: dict[str, Any], mode: str) -> None:
        sess = Session.open(http)
        try:
            for t in TENSORS:
                sess.create(**t)
            done = call(sess, "graph", "/graph", body)
            if done is None:
                return
            out = body["nodes"][-1]["name"]
            info = done["tensors"][out]
            if not info["requires_grad"]:
                return
            scalar_out = info["shape"] == []
            if mode == "backward":
                req: dict[str, Any] = {"tensor": out, "retain_graph": True}
                if not scalar_out:
                    sess.run([{"name": "gzero", "op": "mul", "args": [out, 0]}], no_grad=True)
                    req["gradient"] = "gzero"
                call(sess, "backward", "/backward", req)
                call(sess, "backward again", "/backward", req)
                return
            leaves = ["x", "v", "s", "h", "e"]
            req = {
                "outputs": [out],
                "inputs": leaves,
                "grad_outputs": None if scalar_out else [out],
                "allow_unused": True,
                "create_graph": mode == "grad2",
                "bind": [f"g{leaf}" for leaf in leaves],
            }
            grads = call(sess, "grad", "/grad", req)
            if grads is None or mode != "grad2":
                return
            for leaf in leaves:
                if grads["grads"][leaf] is None:
                    continue
                summed = call(
                    sess,
                    "sum of grad",
                    "/graph",
                    {"nodes": [{"name": "g2", "op": "sum", "args": [f"g{leaf}"]}]},
                )
                if summed is None or not summed["tensors"]["g2"]["requires_grad"]:
                    continue
                req2 = {"outputs": ["g2"], "inputs": [leaf], "allow_unused": True}
                call(sess, "grad of grad", "/grad", req2)
        finally:
            with contextlib.suppress(httpx.TransportError):
                sess.delete()

    run()
    assert not failures, f"{len(failures)} failing cases:\n\n" + "\n\n".join(failures[:25])
