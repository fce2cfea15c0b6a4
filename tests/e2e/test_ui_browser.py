"""GET /ui in Debian's Chromium: the session page after the Python client ran the tutorial.

A real ``gradserve serve`` (access log on), the Python client running PyTorch's tutorial,
and the page with the session id and token pasted in: it lists ``out`` with MeanBackward0,
shows x's grad as torch prints it (4.5000), draws the graph, follows the client's further
work by itself, and keeps the token out of every URL and server log line. No request leaves
127.0.0.1 (see test_docs_browser), and the console shows no error. The screenshot goes to
``$GRADSERVE_TEST_ARTIFACTS`` (default ``tests/artifacts/``, ignored by git).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from e2e_http import REPO_ROOT, ServerProcess
from test_docs_browser import browser_context, page  # noqa: F401 - fixtures

from client import RemoteTorch, connect

ARTIFACTS = Path(os.environ.get("GRADSERVE_TEST_ARTIFACTS", REPO_ROOT / "tests" / "artifacts"))


@pytest.fixture(scope="module")
def logged_server() -> Iterator[ServerProcess]:
    """A server of this module's own, writing its JSON access log (info level)."""
    server = ServerProcess(log_level="info")
    try:
        yield server.start()
    finally:
        server.close()


@pytest.fixture
def remote(logged_server: ServerProcess) -> Iterator[RemoteTorch]:
    with connect(logged_server.url) as torch:
        yield torch


def _token(torch: RemoteTorch) -> str:
    return str(torch.connection.http.headers["Authorization"]).removeprefix("Bearer ")


def test_session_page_shows_the_tutorial(
    page: Any,  # noqa: F811
    browser_context: Any,  # noqa: F811
    logged_server: ServerProcess,
    remote: RemoteTorch,
) -> None:
    torch = remote
    x = torch.ones(2, 2, requires_grad=True)
    y = x + 2
    z = y * y * 3
    out = z.mean()
    out.backward()
    torch.viz.name(x=x, y=y, z=z, out=out)
    sid, token = torch.connection.session_id, _token(torch)

    console_errors: list[str] = []
    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
    urls: list[str] = []
    page.on("request", lambda r: urls.append(r.url))

    page.goto(logged_server.url + "/ui")
    page.fill("#session-id", sid)
    page.fill("#token", token)
    page.click("#connect")

    out_row = page.locator('#tensors tr[data-name="out"]')
    out_row.wait_for()
    cells = out_row.locator("td").all_inner_texts()
    assert cells == ["out", "[]", "float32", "true", "false", "MeanBackward0", "", "4"]
    x_cells = page.locator('#tensors tr[data-name="x"] td').all_inner_texts()
    assert x_cells == ["x", "[2, 2]", "float32", "true", "true", "", "yes", "16"]

    page.click('#tensors tr[data-name="x"]')
    page.wait_for_function("document.getElementById('grad-preview').textContent.includes('4.5000')")
    assert page.inner_text("#grad-preview") == (
        "tensor([[4.5000, 4.5000],\n        [4.5000, 4.5000]])"
    )
    assert page.inner_text("#data-preview") == (
        "tensor([[1., 1.],\n        [1., 1.]], requires_grad=True)"
    )

    # the graph: one node per DOT node, with PyTorch's names, freed after the backward
    page.locator("#graph-canvas svg g.node").first.wait_for()
    nodes = page.locator("#graph-canvas svg g.node")
    assert nodes.count() == 7
    labels = " ".join(page.locator("#graph-canvas svg g.node text").all_text_contents())
    for label in ("MeanBackward0", "AddBackward0", "AccumulateGrad", "(freed)", "out", "x"):
        assert label in labels, labels

    # pan and zoom: the wheel scales around the cursor, a drag moves, "fit" resets
    before = page.eval_on_selector("#graph-canvas", "e => e.style.transform")
    page.hover("#graph-view")
    page.mouse.wheel(0, -400)
    page.wait_for_function("document.getElementById('graph-canvas').style.transform !== ''")
    zoomed = page.eval_on_selector("#graph-canvas", "e => e.style.transform")
    assert zoomed != before and "scale(1)" not in zoomed
    page.click("#fit")
    assert "scale(1)" in page.eval_on_selector("#graph-canvas", "e => e.style.transform")

    # the page follows the client's work by itself
    w = (x * 2).sum()
    torch.viz.name(w=w)
    page.locator('#tensors tr[data-name="w"]').wait_for(timeout=15_000)
    assert "SumBackward0" in page.locator('#tensors tr[data-name="w"]').inner_text()

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "ui_session_page.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    print(f"screenshot: {shot}")

    # a reload keeps the session (sessionStorage), and only there
    page.reload()
    page.locator('#tensors tr[data-name="out"]').wait_for()
    stored = page.evaluate("JSON.stringify(Object.assign({}, sessionStorage))")
    assert token in stored
    assert page.evaluate("localStorage.length") == 0
    assert page.input_value("#token") == ""  # not even left in the field

    assert any("/graph.svg" in u for u in urls) and any("/overview" in u for u in urls)
    assert not [u for u in urls if token in u]
    assert token not in page.url
    assert console_errors == []
    assert page.errors == []
    assert browser_context.outside == []

    log = logged_server.stderr(limit=10_000_000)
    lines = log.splitlines()
    assert any(re.search(r'"path": "/v1/sessions/[^"]+/overview"', line) for line in lines)
    assert not [line for line in lines if token in line]


def test_ui_assets(logged_server: ServerProcess) -> None:
    import httpx

    with httpx.Client(base_url=logged_server.url) as http:
        page_ = http.get("/ui")
        assert page_.status_code == 200 and page_.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in page_.headers["content-security-policy"]
        for asset, kind in (("app.js", "text/javascript"), ("style.css", "text/css")):
            r = http.get(f"/ui/{asset}")
            assert r.status_code == 200 and r.headers["content-type"].startswith(kind)
        assert http.get("/ui/secret.py").status_code == 404
        assert "http://" not in page_.text and "https://" not in page_.text  # no CDN
