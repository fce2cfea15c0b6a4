"""Hostile input never produces a 5xx (docs/api.md, Errors): random graphs and JSON bodies."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from anyio.from_thread import BlockingPortal, start_blocking_portal
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from service_testkit import Sess, make_settings, open_session, serve

from engine import public_ops

OPS = sorted({op.name for op in public_ops()}) + [
    "add_",
    "sub_",
    "mul_",
    "div_",
    "zero_",
    "copy_",
    "grad_of",
    "frobnicate",
    "",
    "__init__",
]
NAMES = ["x", "y", "i", "b", "s", "w", "m", "ghost", "...", "", "x.grad", "__class__"]
KWARG_NAMES = [
    "dim",
    "keepdim",
    "shape",
    "size",
    "dims",
    "index",
    "reduction",
    "min",
    "max",
    "p",
    "alpha",
    "dim0",
    "dim1",
    "start_dim",
    "end_dim",
    "negative_slope",
    "beta",
    "threshold",
    "approximate",
    "dtype",
    "ignore_index",
    "bogus",
]

json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["nan", "inf", "-inf", "...", "x", "mean", "sum", "none", "tanh", "float64"])
    | st.text(max_size=6)
)
json_value = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=6), inner, max_size=3)
    ),
    max_leaves=12,
)
small_ints = st.integers(min_value=-4, max_value=4)
tensor_data = (
    st.lists(st.floats(-10, 10, allow_nan=False), min_size=0, max_size=4)
    | st.lists(st.lists(small_ints, min_size=2, max_size=2), min_size=1, max_size=3)
    | st.floats(-3, 3, allow_nan=False)
    | st.fixed_dictionaries(
        {"data": st.lists(small_ints, max_size=3)},
        optional={
            "dtype": st.sampled_from(
                ["float16", "float32", "float64", "int32", "int64", "bool", "x"]
            )
        },
    )
    | st.fixed_dictionaries(
        {
            "b64": st.sampled_from(["", "AAAAAA==", "AACAPwAAAEA=", "!!", "AAAA"]),
            "dtype": st.sampled_from(["float32", "int64", "bool"]),
            "shape": st.lists(st.integers(-1, 3), max_size=3),
        }
    )
)
index_item = (
    small_ints
    | st.sampled_from(["...", None, "i", "b", "x", "ghost"])
    | st.fixed_dictionaries({"slice": st.lists(st.none() | small_ints, min_size=0, max_size=4)})
    | st.fixed_dictionaries({"array": st.lists(small_ints | st.booleans(), max_size=4)})
    | json_value
)
arg = (
    st.sampled_from(NAMES)
    | small_ints
    | st.floats(-5, 5, allow_nan=False)
    | st.booleans()
    | st.fixed_dictionaries({"value": tensor_data})
    | st.lists(st.sampled_from(NAMES), max_size=3)
    | json_value
)
kwarg_value = (
    small_ints
    | st.booleans()
    | st.lists(st.integers(-3, 3), max_size=4)
    | st.sampled_from(["mean", "sum", "none", "tanh", "x", "i"])
    | st.lists(index_item, max_size=4)
    | json_value
)
node = st.fixed_dictionaries(
    {"op": st.sampled_from(OPS)},
    optional={
        "name": st.sampled_from(["x", "y", "r", "t1", "w", "m"]),
        "args": st.lists(arg, max_size=3),
        "kwargs": st.dictionaries(st.sampled_from(KWARG_NAMES), kwarg_value, max_size=3),
    },
)
graph_request = st.fixed_dictionaries(
    {"nodes": st.lists(node, min_size=1, max_size=4)},
    optional={
        "no_grad": st.booleans(),
        "return": st.lists(st.sampled_from(NAMES + ["r", "t1"]), max_size=2),
        "include": st.lists(st.sampled_from(["data", "grad"]), max_size=2),
        "encoding": st.sampled_from(["json", "b64"]),
        "free": st.lists(st.sampled_from(["r", "t1", "ghost"]), max_size=2),
    },
)


class Live:
    """A running app, driven from synchronous hypothesis tests through a blocking portal."""

    def __init__(self, portal: BlockingPortal, client: httpx.AsyncClient, sess: Sess) -> None:
        self.portal = portal
        self.client = client
        self.sess = sess

    def request(self, method: str, url: str, **kw: Any) -> httpx.Response:
        response: httpx.Response = self.portal.call(lambda: self.client.request(method, url, **kw))
        return response

    def reset(self) -> None:
        """Fresh values for the fixed names (hostile requests rebind and modify them)."""
        s = self.sess
        for body in (
            {"name": "x", "value": [[1.0, -2.0, 3.0], [0.5, 0.0, -1.0]], "requires_grad": True},
            {"name": "y", "value": [0.1, 0.2, 0.3]},
            {"name": "i", "value": [1, 0]},
            {"name": "b", "value": [[True, False, True], [False, True, False]]},
            {"name": "s", "value": 2.0, "requires_grad": True},
            {"name": "w", "value": [1.0, 2.0, 3.0], "requires_grad": True},
            {"name": "m", "value": [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]]},
        ):
            r = self.request("POST", s.url("/tensors"), json=body, headers=s.headers)
            assert r.status_code == 201, r.text


@pytest.fixture(scope="module")
def live() -> Iterator[Live]:
    limits = make_settings(
        max_tensor_elements=10_000,
        max_session_bytes=10_000_000,
        max_nodes_per_request=50,
        max_body_bytes=200_000,
    )
    with (
        start_blocking_portal(backend="asyncio") as portal,
        portal.wrap_async_context_manager(serve(limits)) as client,
    ):
        sess = portal.call(open_session, client)
        lv = Live(portal, client, sess)
        lv.reset()
        yield lv


def check(r: httpx.Response) -> None:
    assert r.status_code < 500, (r.status_code, r.request.method, r.request.url, r.text)
    if r.status_code >= 400:
        assert r.headers["content-type"].startswith("application/problem+json"), r.text
        body = r.json()
        assert body["status"] == r.status_code and isinstance(body["code"], str)


FUZZ = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(body=graph_request, follow=st.sampled_from(["none", "backward", "grad", "read"]))
def test_random_graph_requests(live: Live, body: dict[str, Any], follow: str) -> None:
    s = live.sess
    r = live.request("POST", s.url("/graph"), json=body, headers=s.headers)
    check(r)
    if r.status_code == 200 and follow != "none":
        names = list(r.json()["tensors"]) or ["x"]
        if follow == "backward":
            r = live.request(
                "POST",
                s.url("/backward"),
                json={"tensor": names[-1], "retain_graph": True},
                headers=s.headers,
            )
        elif follow == "grad":
            r = live.request(
                "POST",
                s.url("/grad"),
                json={"outputs": [names[-1]], "inputs": ["x", "w"], "allow_unused": True},
                headers=s.headers,
            )
        else:
            r = live.request(
                "GET",
                s.url(f"/tensors/{names[-1]}"),
                params={"include": "data,grad"},
                headers=s.headers,
            )
        check(r)
    if r.status_code < 300:  # a failed request changed nothing (atomicity): no reset needed
        live.reset()


@FUZZ
@given(
    target=st.sampled_from(
        [
            ("POST", "/tensors"),
            ("POST", "/graph"),
            ("POST", "/backward"),
            ("POST", "/grad"),
            ("POST", "/zero_grad"),
            ("PATCH", "/tensors/x"),
            ("PATCH", "/tensors/y"),
            ("POST", "/v1/grad"),
            ("POST", "/v1/sessions"),
        ]
    ),
    body=json_value
    | st.fixed_dictionaries(
        {},
        optional={
            "name": st.sampled_from(NAMES),
            "value": tensor_data | json_value,
            "fill": st.sampled_from(
                ["zeros", "ones", "full", "randn", "rand", "arange", "eye", "x"]
            ),
            "shape": st.lists(st.integers(-2, 5) | json_value, max_size=3) | json_value,
            "fill_value": json_value,
            "start": json_value,
            "end": st.floats(-1e308, 1e308) | json_value,
            "step": json_value,
            "dtype": st.sampled_from(["float32", "int64", "bool", "float16", "x"]),
            "requires_grad": st.booleans() | json_value,
        },
    )
    | st.fixed_dictionaries(
        {},
        optional={
            "tensor": st.sampled_from(NAMES),
            "outputs": st.lists(st.sampled_from(NAMES), max_size=2),
            "inputs": st.lists(st.sampled_from(NAMES), max_size=2)
            | st.dictionaries(st.sampled_from(["x", "y"]), tensor_data | json_value, max_size=2),
            "gradient": tensor_data | st.sampled_from(NAMES) | json_value,
            "grad_outputs": st.lists(tensor_data | st.sampled_from(NAMES) | st.none(), max_size=2),
            "retain_graph": st.booleans(),
            "create_graph": st.booleans(),
            "allow_unused": st.booleans(),
            "bind": st.lists(st.sampled_from(["d1", "d2", "..."]), max_size=2),
            "nodes": st.lists(node, max_size=3),
            "output": st.sampled_from(NAMES),
            "wrt": st.lists(st.sampled_from(NAMES), max_size=2),
            "names": st.lists(st.sampled_from(NAMES), max_size=2) | json_value,
            "encoding": st.sampled_from(["json", "b64", "x"]),
        },
    ),
)
def test_random_bodies(live: Live, target: tuple[str, str], body: Any) -> None:
    method, path = target
    s = live.sess
    url = path if path.startswith("/v1/") else s.url(path)
    r = live.request(method, url, json=body, headers=s.headers)
    check(r)
    if r.status_code == 201 and path == "/v1/sessions":
        sid = r.json()["session_id"]
        token = r.json()["token"]
        live.request("DELETE", f"/v1/sessions/{sid}", headers={"Authorization": f"Bearer {token}"})
    elif r.status_code < 300:
        live.reset()


@settings(max_examples=60, deadline=None)
@given(
    raw=st.binary(max_size=64) | json_value.map(lambda v: json.dumps(v).encode()),
    ctype=st.sampled_from(["application/json", "application/x-npy", "text/plain", ""]),
)
def test_random_raw_bytes(live: Live, raw: bytes, ctype: str) -> None:
    s = live.sess
    headers = {**s.headers, "Content-Type": ctype}
    for method, path in (("POST", "/graph"), ("PUT", "/tensors/z"), ("POST", "/tensors")):
        check(live.request(method, s.url(path), content=raw, headers=headers))
    check(live.request("POST", "/v1/grad", content=raw, headers={"Content-Type": ctype}))


@settings(max_examples=40, deadline=None)
@given(
    path=st.text(
        alphabet=st.characters(min_codepoint=33, max_codepoint=126, exclude_characters="?#%"),
        max_size=20,
    ),
    token=st.text(max_size=10),
)
def test_random_paths_and_tokens(live: Live, path: str, token: str) -> None:
    headers = {"Authorization": token.encode("ascii", "ignore").decode() or "Bearer"}
    s = live.sess
    # a leading "//" would make the URL's first part an authority (a host), not a path
    for url in (f"/v1/sessions/{path}", s.url(f"/tensors/{path}"), "/" + path.lstrip("/")):
        check(live.request("GET", url, headers=headers))
        check(live.request("DELETE", url, headers=headers))
