"""POST /v1/sessions/{id}/functional and /v1/functional (docs/api.md): every transform against
``engine.autograd.functional`` and ``torch.autograd.functional``, the errors and the limits."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import numpy as np
import pytest
import torch
from service_testkit import Sess, assert_problem, make_settings, open_session, serve

import engine

pytestmark = pytest.mark.anyio

F64 = "float64"

# f(x, y) = sum(exp(x * y)): two inputs, one scalar output
SCALAR2 = {
    "inputs": ["x", "y"],
    "nodes": [
        {"name": "p", "op": "mul", "args": ["x", "y"]},
        {"name": "e", "op": "exp", "args": ["p"]},
        {"name": "out", "op": "sum", "args": ["e"]},
    ],
    "outputs": ["out"],
}
# f(x) = sum(x ** 3 * tanh(x)): one input, one scalar output
SCALAR1 = {
    "inputs": ["x"],
    "nodes": [
        {"name": "c", "op": "pow", "args": ["x", 3]},
        {"name": "t", "op": "tanh", "args": ["x"]},
        {"name": "m", "op": "mul", "args": ["c", "t"]},
        {"name": "out", "op": "sum", "args": ["m"]},
    ],
    "outputs": ["out"],
}
# f(x, y) = (x * y, sin(x) * 2): two inputs, two vector outputs
VECTOR2 = {
    "inputs": ["x", "y"],
    "nodes": [
        {"name": "a", "op": "mul", "args": ["x", "y"]},
        {"name": "s", "op": "sin", "args": ["x"]},
        {"name": "b", "op": "mul", "args": ["s", 2]},
    ],
    "outputs": ["a", "b"],
}
# f(x) = exp(x) * x: one input, one vector output
VECTOR1 = {
    "inputs": ["x"],
    "nodes": [
        {"name": "e", "op": "exp", "args": ["x"]},
        {"name": "out", "op": "mul", "args": ["e", "x"]},
    ],
    "outputs": ["out"],
}


def as_python(template: dict[str, Any], ns: Any) -> Callable[..., Any]:
    """The same function written by hand in the namespace ``ns`` (torch or engine)."""
    if template is SCALAR2:
        return lambda x, y: ns.exp(x * y).sum()
    if template is SCALAR1:
        return lambda x: (x**3 * ns.tanh(x)).sum()
    if template is VECTOR2:
        return lambda x, y: (x * y, ns.sin(x) * 2)
    if template is VECTOR1:
        return lambda x: ns.exp(x) * x
    raise AssertionError(template)


X = [0.5, -1.25, 2.0]
Y = [1.5, 0.25, -0.75]
VX = [1.0, -2.0, 0.5]
VY = [0.25, 3.0, -1.0]

# (fn, template, inputs, v)
CASES: list[tuple[str, dict[str, Any], list[list[float]], list[list[float]] | None]] = [
    ("jacobian", VECTOR2, [X, Y], None),
    ("jacobian", VECTOR1, [X], None),
    ("jacobian", SCALAR2, [X, Y], None),
    ("hessian", SCALAR2, [X, Y], None),
    ("hessian", SCALAR1, [X], None),
    ("vjp", VECTOR2, [X, Y], [VX, VY]),
    ("vjp", VECTOR1, [X], [VY]),
    ("vjp", SCALAR2, [X, Y], None),
    ("jvp", VECTOR2, [X, Y], [VX, VY]),
    ("jvp", SCALAR1, [X], [VX]),
    ("hvp", SCALAR2, [X, Y], [VX, VY]),
    ("hvp", SCALAR1, [X], [VY]),
    ("vhp", SCALAR2, [X, Y], [VX, VY]),
    ("vhp", SCALAR1, [X], [VX]),
]


def flat(x: Any) -> list[np.ndarray]:
    """Every tensor of a nested tuple result, depth first, as float64 arrays."""
    if isinstance(x, tuple | list):
        return [a for item in x for a in flat(item)]
    if isinstance(x, torch.Tensor):
        return [x.detach().numpy().astype(np.float64)]
    return [np.asarray(x.detach().numpy(), dtype=np.float64)]


def reference(ns: Any, fn: str, template: dict[str, Any], inputs: Any, v: Any) -> list[Any]:
    """``ns.autograd.functional.<fn>`` with torch's calling conventions (one tensor, not a
    tuple of one), flattened."""
    mk = (lambda a: torch.tensor(a, dtype=torch.float64)) if ns is torch else _engine_tensor
    ins = [mk(a) for a in inputs]
    args: list[Any] = [as_python(template, ns), tuple(ins) if len(ins) > 1 else ins[0]]
    if v is not None:
        vs = [mk(a) for a in v]
        args.append(tuple(vs) if len(vs) > 1 else vs[0])
    return flat(getattr(ns.autograd.functional, fn)(*args))


def _engine_tensor(a: Any) -> Any:
    return engine.tensor(a, dtype=engine.float64)


def wire(body: dict[str, Any]) -> list[np.ndarray]:
    """The response's tensors in the same order (outputs first, then the result's rows)."""
    out: list[np.ndarray] = []
    for info in [*(body["outputs"] or []), *body["result"]]:
        for t in info if isinstance(info, list) else [info]:
            out.append(np.asarray(t["data"]["data"], dtype=np.float64))
    return out


def typed(a: Any) -> dict[str, Any]:
    return {"data": a, "dtype": F64}


def close(got: list[np.ndarray], want: list[np.ndarray]) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.shape == w.shape
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize(("fn", "template", "inputs", "v"), CASES)
async def test_stateless_matches_engine_and_torch(
    client: httpx.AsyncClient,
    fn: str,
    template: dict[str, Any],
    inputs: list[Any],
    v: list[Any] | None,
) -> None:
    body: dict[str, Any] = {"fn": fn, "graph": template, "inputs": [typed(a) for a in inputs]}
    if v is not None:
        body["v"] = [typed(a) for a in v]
    r = await client.post("/v1/functional", json=body)
    assert r.status_code == 200, r.text
    got = r.json()
    assert got["fn"] == fn
    assert (got["outputs"] is None) == (fn in ("jacobian", "hessian"))
    close(wire(got), reference(torch, fn, template, inputs, v))
    close(wire(got), reference(engine, fn, template, inputs, v))


@pytest.mark.parametrize(("fn", "template", "inputs", "v"), CASES)
async def test_session_names_match_torch(
    sess: Sess, fn: str, template: dict[str, Any], inputs: list[Any], v: list[Any] | None
) -> None:
    """Inputs and v as session names; the results bound to names and reported by them."""
    for i, a in enumerate(inputs):
        await sess.tensor(f"in{i}", value=typed(a))
    body: dict[str, Any] = {"fn": fn, "graph": template, "inputs": ["in0", "in1"][: len(inputs)]}
    if v is not None:
        for i, a in enumerate(v):
            await sess.tensor(f"v{i}", value=typed(a))
        body["v"] = [f"v{i}" for i in range(len(v))]
    r = await sess.post("/functional", body)
    assert r.status_code == 200, r.text
    got = r.json()
    want = reference(torch, fn, template, inputs, v)
    close(wire(got), want)
    # bind the first result tensor and read it back from the session
    result = got["result"]
    rows = isinstance(result[0], list)
    names: Any
    if rows:
        names = [[None] * len(row) for row in result]
        names[0][0] = "r0"
    else:
        names = [None] * len(result)
        names[0] = "r0"
    r = await sess.post("/functional", {**body, "bind": {"result": names}})
    assert r.status_code == 200, r.text
    again = r.json()["result"]
    first = again[0][0] if rows else again[0]
    assert first["name"] == "r0"
    np.testing.assert_allclose(
        np.asarray(await sess.data("r0"), dtype=np.float64), np.asarray(first["data"]["data"])
    )


async def test_integer_json_inputs_are_the_default_float(client: httpx.AsyncClient) -> None:
    """JSON cannot tell 1 from 1.0: inputs with no dtype named are float32 (torch's default)."""
    r = await client.post(
        "/v1/functional", json={"fn": "jacobian", "graph": VECTOR1, "inputs": [[1, 2]]}
    )
    assert r.status_code == 200, r.text
    block = r.json()["result"][0][0]
    assert block["dtype"] == "float32"
    want = torch.autograd.functional.jacobian(lambda x: x.exp() * x, torch.tensor([1.0, 2.0]))
    np.testing.assert_allclose(block["data"]["data"], want.numpy(), rtol=1e-6)


async def test_create_graph_results_stay_differentiable_in_the_session(sess: Sess) -> None:
    """vjp with create_graph of a session leaf: the bound result has a grad_fn, and a backward
    through it reaches the leaf (torch's second derivative)."""
    await sess.tensor("w", value=typed(X), requires_grad=True)
    r = await sess.post(
        "/functional",
        {
            "fn": "vjp",
            "graph": SCALAR1,
            "inputs": ["w"],
            "create_graph": True,
            "bind": {"outputs": ["f"], "result": ["dw"]},
            "include": [],
        },
    )
    assert r.status_code == 200, r.text
    res = r.json()["result"][0]
    assert res["name"] == "dw" and res["requires_grad"] and res["grad_fn"] is not None
    assert res["data"] is None  # include: [] reports metadata only
    await sess.run([{"name": "s", "op": "sum", "args": ["dw"]}])
    assert (await sess.backward("s")).status_code == 200

    w = torch.tensor(X, dtype=torch.float64, requires_grad=True)
    _, dw = torch.autograd.functional.vjp(
        lambda x: (x**3 * torch.tanh(x)).sum(), w, create_graph=True
    )
    dw.sum().backward()
    assert w.grad is not None
    np.testing.assert_allclose(await sess.grad("w"), w.grad.numpy(), rtol=1e-10)


async def test_without_create_graph_results_are_plain(sess: Sess) -> None:
    await sess.tensor("w", value=typed(X), requires_grad=True)
    r = await sess.post(
        "/functional",
        {"fn": "hessian", "graph": SCALAR1, "inputs": ["w"], "bind": {"result": [["h"]]}},
    )
    assert r.status_code == 200, r.text
    h = await sess.info("h")
    assert h["requires_grad"] is False and h["grad_fn"] is None and h["shape"] == [3, 3]
    assert await sess.grad("w") is None  # .grad is untouched, as torch's functional


async def test_template_closes_over_session_tensors(sess: Sess) -> None:
    """A name the template does not define is the session's: f(x) = sum(w * x)."""
    await sess.tensor("w", value=typed(Y))
    tpl = {
        "inputs": ["x"],
        "nodes": [
            {"name": "p", "op": "mul", "args": ["w", "x"]},
            {"name": "out", "op": "sum", "args": ["p"]},
        ],
        "outputs": ["out"],
    }
    r = await sess.post("/functional", {"fn": "jacobian", "graph": tpl, "inputs": [typed(X)]})
    assert r.status_code == 200, r.text
    np.testing.assert_allclose(r.json()["result"][0][0]["data"]["data"], Y)


async def test_return_false_only_binds(sess: Sess) -> None:
    r = await sess.post(
        "/functional",
        {
            "fn": "jvp",
            "graph": VECTOR1,
            "inputs": [typed(X)],
            "v": [typed(VX)],
            "bind": {"outputs": ["y"], "result": ["ty"]},
            "return": False,
        },
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"fn": "jvp", "outputs": None, "result": None}
    _, want = torch.autograd.functional.jvp(
        lambda x: x.exp() * x,
        torch.tensor(X, dtype=torch.float64),
        torch.tensor(VX, dtype=torch.float64),
    )
    np.testing.assert_allclose(await sess.data("ty"), want.numpy(), rtol=1e-10)
    assert len(await sess.data("y")) == 3


# ------------------------------------------------------------------------------- errors
async def test_unknown_fn(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/functional", json={"fn": "laplacian", "graph": SCALAR1, "inputs": [X]}
    )
    assert "laplacian" in assert_problem(r, 400, "invalid_argument")["detail"]


async def test_template_naming_an_unknown_name(client: httpx.AsyncClient, sess: Sess) -> None:
    tpl = {
        "inputs": ["x"],
        "nodes": [{"name": "out", "op": "mul", "args": ["x", "nowhere"]}],
        "outputs": ["out"],
    }
    body = {"fn": "vjp", "graph": tpl, "inputs": [X]}
    problem = assert_problem(await client.post("/v1/functional", json=body), 400, "unknown_name")
    assert problem["node"] == 0 and "nowhere" in problem["detail"]
    assert_problem(await sess.post("/functional", body), 400, "unknown_name")
    # an unknown output name, and an unknown session input
    bad_out = {**SCALAR1, "outputs": ["missing"]}
    r = await client.post("/v1/functional", json={**body, "graph": bad_out})
    assert_problem(r, 400, "unknown_name")
    r = await sess.post("/functional", {**body, "graph": SCALAR1, "inputs": ["ghost"]})
    assert "ghost" in assert_problem(r, 400, "unknown_name")["detail"]


async def test_unknown_op_in_a_template(client: httpx.AsyncClient) -> None:
    tpl = {"inputs": ["x"], "nodes": [{"name": "o", "op": "nope", "args": ["x"]}], "outputs": ["o"]}
    r = await client.post("/v1/functional", json={"fn": "jacobian", "graph": tpl, "inputs": [X]})
    assert_problem(r, 400, "unknown_op")


def torch_error(call: Callable[[], Any]) -> str:
    with pytest.raises(RuntimeError) as info:
        call()
    return str(info.value)


@pytest.mark.parametrize("fn", ["vjp", "jvp", "vhp", "hvp", "jacobian", "hessian"])
async def test_strict_with_an_independent_input_is_torchs_error(
    client: httpx.AsyncClient, fn: str
) -> None:
    """f(x, y) = sum(x ** 3): y is independent; strict=True refuses with torch's text."""
    tpl = {
        "inputs": ["x", "y"],
        "nodes": [
            {"name": "c", "op": "pow", "args": ["x", 3]},
            {"name": "out", "op": "sum", "args": ["c"]},
        ],
        "outputs": ["out"],
    }
    ins = (torch.tensor(X), torch.tensor(Y))
    body: dict[str, Any] = {"fn": fn, "graph": tpl, "inputs": [X, Y], "strict": True}
    args: list[Any] = [lambda x, y: (x**3).sum(), ins]
    if fn in ("jvp", "vhp", "hvp"):
        body["v"] = [VX, VY]
        args.append((torch.tensor(VX), torch.tensor(VY)))
    want = torch_error(lambda: getattr(torch.autograd.functional, fn)(*args, strict=True))
    r = await client.post("/v1/functional", json=body)
    assert assert_problem(r, 400, "invalid_argument")["detail"] == want
    # the same without strict: zeros for y, as torch
    r = await client.post("/v1/functional", json={**body, "strict": False})
    assert r.status_code == 200, r.text


async def test_hessian_of_a_vector_function_is_torchs_error(client: httpx.AsyncClient) -> None:
    want = torch_error(
        lambda: torch.autograd.functional.hessian(lambda x: x.exp() * x, torch.tensor(X))
    )
    r = await client.post("/v1/functional", json={"fn": "hessian", "graph": VECTOR1, "inputs": [X]})
    assert assert_problem(r, 400, "invalid_argument")["detail"] == want


async def test_v_none_for_a_vector_output_is_torchs_error(client: httpx.AsyncClient) -> None:
    want = torch_error(
        lambda: torch.autograd.functional.vjp(lambda x: x.exp() * x, torch.tensor(X))
    )
    r = await client.post("/v1/functional", json={"fn": "vjp", "graph": VECTOR1, "inputs": [X]})
    assert assert_problem(r, 400, "invalid_argument")["detail"] == want


async def test_v_of_the_wrong_shape(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/functional",
        json={"fn": "jvp", "graph": VECTOR1, "inputs": [X], "v": [[1.0, 2.0]]},
    )
    assert "invalid size" in assert_problem(r, 400, "invalid_argument")["detail"]


async def test_v_with_no_entries_is_torchs_error(client: httpx.AsyncClient) -> None:
    r = await client.post(
        "/v1/functional", json={"fn": "vjp", "graph": SCALAR1, "inputs": [X], "v": []}
    )
    assert "single Tensor per output" in assert_problem(r, 400, "invalid_argument")["detail"]


async def test_input_count_must_match_the_template(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/functional", json={"fn": "vjp", "graph": SCALAR2, "inputs": [X]})
    assert "2 inputs" in assert_problem(r, 400, "invalid_argument")["detail"]


async def test_in_place_on_a_session_tensor_is_refused(sess: Sess) -> None:
    await sess.tensor("w", value=typed(Y))
    tpl = {
        "inputs": ["x"],
        "nodes": [
            {"op": "add_", "args": ["w", 1]},
            {"name": "out", "op": "mul", "args": ["x", "w"]},
        ],
        "outputs": ["out"],
    }
    r = await sess.post("/functional", {"fn": "jacobian", "graph": tpl, "inputs": [typed(X)]})
    assert assert_problem(r, 400, "invalid_argument")["node"] == 0
    assert await sess.data("w") == Y  # untouched


async def test_in_place_on_its_own_tensors_is_allowed(client: httpx.AsyncClient) -> None:
    tpl = {
        "inputs": ["x"],
        "nodes": [
            {"name": "e", "op": "mul", "args": ["x", 3]},
            {"op": "add_", "args": ["e", 2]},
            {"name": "p", "op": "mul", "args": ["e", "x"]},
            {"name": "out", "op": "sum", "args": ["p"]},
        ],
        "outputs": ["out"],
    }
    r = await client.post("/v1/functional", json={"fn": "vjp", "graph": tpl, "inputs": [typed(X)]})
    assert r.status_code == 200, r.text
    # d/dx sum((3x + 2) * x) = 6x + 2
    np.testing.assert_allclose(r.json()["result"][0]["data"]["data"], 6 * np.array(X) + 2)


async def test_bind_of_the_wrong_shape_binds_nothing(sess: Sess) -> None:
    body = {"fn": "vjp", "graph": SCALAR2, "inputs": [typed(X), typed(Y)]}
    r = await sess.post("/functional", {**body, "bind": {"result": ["only_one"]}})
    assert_problem(r, 400, "invalid_argument")
    r = await sess.post("/functional", {**body, "bind": {"result": [["a"], ["b"]]}})
    assert_problem(r, 400, "invalid_argument")
    jac = {"fn": "jacobian", "graph": SCALAR2, "inputs": body["inputs"]}
    r = await sess.post("/functional", {**jac, "bind": {"outputs": ["o"]}})
    assert_problem(r, 400, "invalid_argument")
    names = {t["name"] for t in (await sess.get("/tensors")).json()["tensors"]}
    assert not names & {"only_one", "a", "b", "o"}


async def test_schema_errors(client: httpx.AsyncClient) -> None:
    r = await client.post("/v1/functional", json={"fn": "vjp", "inputs": [X]})
    assert_problem(r, 422, "validation_error")
    r = await client.post(
        "/v1/functional", json={"fn": "vjp", "graph": {**SCALAR1, "inputs": []}, "inputs": [X]}
    )
    assert_problem(r, 422, "validation_error")


# ------------------------------------------------------------------------------- limits
@pytest.fixture(scope="module")
async def small() -> AsyncIterator[httpx.AsyncClient]:
    async with serve(make_settings(max_nodes_per_request=3, max_tensor_elements=10_000)) as c:
        yield c


async def test_template_nodes_count_against_the_node_limit(small: httpx.AsyncClient) -> None:
    r = await small.post(
        "/v1/functional",
        json={"fn": "hessian", "graph": SCALAR1, "inputs": [X]},
    )
    assert_problem(r, 413, "graph_too_large")
    s = await open_session(small)
    assert_problem(
        await s.post("/functional", {"fn": "hessian", "graph": SCALAR1, "inputs": [X]}),
        413,
        "graph_too_large",
    )


async def test_the_stateless_route_needs_the_api_key() -> None:
    body = {"fn": "jacobian", "graph": VECTOR1, "inputs": [X]}
    async with serve(make_settings(api_keys=["k"])) as c:
        assert_problem(await c.post("/v1/functional", json=body), 401, "unauthorized")
        r = await c.post("/v1/functional", json=body, headers={"X-API-Key": "k"})
        assert r.status_code == 200, r.text


async def test_a_jacobian_above_the_element_limit_is_refused(small: httpx.AsyncClient) -> None:
    """200 outputs x 200 inputs is 40,000 elements: refused before the stack allocates."""
    r = await small.post(
        "/v1/functional",
        json={"fn": "jacobian", "graph": VECTOR1, "inputs": [[0.5] * 200]},
    )
    assert_problem(r, 413, "tensor_too_large")


async def test_the_request_budget_covers_the_transform() -> None:
    async with serve(make_settings(max_request_bytes=60_000)) as c:
        r = await c.post(
            "/v1/functional", json={"fn": "jacobian", "graph": VECTOR1, "inputs": [[0.5] * 90]}
        )
        assert_problem(r, 507, "request_budget_exceeded")
        s = await open_session(c)
        r = await s.post(
            "/functional", {"fn": "jacobian", "graph": VECTOR1, "inputs": [[0.5] * 90]}
        )
        assert_problem(r, 507, "request_budget_exceeded")
        r = await s.post("/functional", {"fn": "jacobian", "graph": VECTOR1, "inputs": [X]})
        assert r.status_code == 200, r.text


async def test_the_deadline_covers_the_transform() -> None:
    """A jacobian of 2,000 rows is 2,000 backward passes: past a 20 ms deadline, 504."""
    async with serve(make_settings(max_request_seconds=0.02)) as c:
        s = await open_session(c)
        r = await s.post(
            "/functional",
            {
                "fn": "jacobian",
                "graph": VECTOR1,
                "inputs": [[0.5] * 2000],
                "bind": {"result": [["j"]]},
            },
        )
        assert_problem(r, 504, "deadline_exceeded")
        assert (await s.get("/tensors/j")).status_code == 404
        r = await c.post(
            "/v1/functional", json={"fn": "jacobian", "graph": VECTOR1, "inputs": [[0.5] * 2000]}
        )
        assert_problem(r, 504, "deadline_exceeded")
