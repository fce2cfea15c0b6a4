"""/docs and /redoc in a real headless Chromium, with no network but the service's own.

The browser is Debian's ``chromium`` driven through Playwright's Python package (no browser
download: ``executable_path`` points at the system one). Every request to a host other than
127.0.0.1 is aborted and recorded, and Chromium's own background traffic is switched off, so
what renders here is what renders on a machine without internet.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-default-apps",
    "--disable-extensions",
    # no name resolves but the loopback: an asset fetched from elsewhere could never load
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
]
# Redoc's bundle always renders an "API docs by Redocly" badge whose <img> points at its CDN
# and hides itself when it cannot load; it is decoration, not an asset the page needs.
DECORATION = {("image", "cdn.redoc.ly")}


class _AssetLinks(HTMLParser):
    """The URLs of a page's scripts and stylesheets."""

    def __init__(self) -> None:
        super().__init__()
        self.urls: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "script" and a.get("src"):
            self.urls.append(a["src"] or "")
        if tag == "link" and a.get("href") and "stylesheet" in (a.get("rel") or ""):
            self.urls.append(a["href"] or "")


@pytest.mark.parametrize(
    ("path", "assets"),
    [("/docs", {"swagger-ui-bundle.js", "swagger-ui.css"}), ("/redoc", {"redoc.standalone.js"})],
)
def test_docs_html_references_only_same_origin_assets(
    http: httpx.Client, server: str, path: str, assets: set[str]
) -> None:
    r = http.get(path)
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    parser = _AssetLinks()
    parser.feed(r.text)
    assert {u.rsplit("/", 1)[-1] for u in parser.urls} >= assets, parser.urls
    origin = urlsplit(server)
    for url in parser.urls:
        full = urlsplit(urljoin(server + path, url))
        assert (full.scheme, full.netloc) == (origin.scheme, origin.netloc), url
        asset = http.get(url)
        assert asset.status_code == 200, url
        assert len(asset.content) > 1000, url
    assert "cdn.jsdelivr.net" not in r.text and "unpkg.com" not in r.text


@pytest.fixture(scope="module")
def browser_context(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """A Chromium with a fresh profile; requests off the loopback are aborted."""
    if not Path(CHROMIUM).exists():
        pytest.skip(
            f"no Chromium at {CHROMIUM}: install Debian's package (apt-get install chromium) "
            "to run the browser tests"
        )
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="the Python package playwright drives Chromium here"
    )
    with sync_api.sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=CHROMIUM,
            headless=True,
            args=CHROMIUM_FLAGS,
        )
        context.outside = []  # (resource type, host, url) of every request that was refused

        def only_loopback(route: Any) -> None:
            request = route.request
            host = urlsplit(request.url).hostname
            if request.url.startswith(("data:", "blob:")) or host == "127.0.0.1":
                route.continue_()
            else:
                context.outside.append((request.resource_type, host, request.url))
                route.abort("internetdisconnected")

        context.route("**/*", only_loopback)
        context.set_default_timeout(30_000)
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser_context: Any) -> Iterator[Any]:
    browser_context.outside.clear()
    page = browser_context.new_page()
    page.errors = []
    page.on("pageerror", lambda exc: page.errors.append(str(exc)))
    yield page
    page.close()


def _operation_ids(http: httpx.Client) -> dict[str, tuple[str, str]]:
    """'GET /v1/ops' -> (first tag, operationId), as Swagger UI builds its element ids."""
    spec = http.get("/openapi.json").json()
    return {
        f"{method.upper()} {path}": (op.get("tags", ["default"])[0], op["operationId"])
        for path, item in spec["paths"].items()
        for method, op in item.items()
    }


def test_swagger_ui_lists_operations_and_executes_a_call(
    page: Any, browser_context: Any, server: str, http: httpx.Client
) -> None:
    ids = _operation_ids(http)
    page.goto(server + "/docs")
    page.wait_for_selector(".opblock")
    assert page.title() == "gradserve - Swagger UI"
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert len(paths) == len(ids)
    assert "/v1/sessions" in paths and "/v1/sessions/{session_id}/graph" in paths
    assert "/v1/sessions/{session_id}/backward" in paths

    tag, operation_id = ids["GET /v1/ops"]
    block = page.locator(f"#operations-{tag}-{operation_id}")
    block.locator(".opblock-summary-control").click()
    block.locator("button.try-out__btn").click()
    block.locator("button.execute").click()
    status = block.locator(".live-responses-table tr.response .response-col_status").first
    status.wait_for()
    assert status.inner_text().strip() == "200"
    body = block.locator(".live-responses-table .response-col_description pre").first
    assert '"matmul"' in body.inner_text()

    assert page.errors == []
    assert browser_context.outside == []  # nothing was even asked of another host


def test_swagger_ui_executes_a_call_with_a_body(
    page: Any, browser_context: Any, server: str, http: httpx.Client
) -> None:
    """POST /v1/sessions from its example body: 201 with a session id."""
    tag, operation_id = _operation_ids(http)["POST /v1/sessions"]
    page.goto(server + "/docs")
    block = page.locator(f"#operations-{tag}-{operation_id}")
    block.locator(".opblock-summary-control").click()
    block.locator("button.try-out__btn").click()
    block.locator("button.execute").click()
    status = block.locator(".live-responses-table tr.response .response-col_status").first
    status.wait_for()
    assert status.inner_text().strip() == "201"
    assert "session_id" in block.locator(".live-responses-table pre").first.inner_text()
    assert page.errors == [] and browser_context.outside == []


def test_redoc_renders_offline(page: Any, browser_context: Any, server: str) -> None:
    page.goto(server + "/redoc")
    page.wait_for_selector("h1")
    assert page.locator("h1").first.inner_text().startswith("gradserve")
    page.wait_for_selector("li[data-item-id] label")
    labels = " ".join(page.locator("li[data-item-id] label").all_inner_texts())
    for summary in ("Create Session", "Run Graph Request", "Backward", "Stateless Grad"):
        assert summary in labels, labels
    page.get_by_text("/v1/sessions/{session_id}/backward").first.wait_for(state="attached")
    assert page.errors == []
    refused = {(kind, host) for kind, host, _ in browser_context.outside}
    assert refused <= DECORATION, browser_context.outside
