"""/docs can call the session API: Swagger UI's Authorize button carries the session token.

The OpenAPI document declares an HTTP bearer scheme on every session endpoint; in Debian's
Chromium (no network but the loopback, see test_docs_browser) the test opens a session with
"Try it out", pastes its token into Authorize, and runs POST .../tensors and GET .../tensors/x
from the page, reading their responses off the page.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import httpx
from e2e_http import REPO_ROOT
from test_docs_browser import _operation_ids, browser_context, page  # noqa: F401 - fixtures

ARTIFACTS = Path(os.environ.get("GRADSERVE_TEST_ARTIFACTS", REPO_ROOT / "tests" / "artifacts"))


def _open(docs: Any, tag: str, operation_id: str) -> Any:
    block = docs.locator(f"#operations-{tag}-{operation_id}")
    block.locator(".opblock-summary-control").click()
    block.locator("button.try-out__btn").click()
    return block


def _execute(block: Any) -> tuple[str, str]:
    """Click Execute; the status and the body the page shows."""
    block.locator("button.execute").click()
    status = block.locator(".live-responses-table tr.response .response-col_status").first
    status.wait_for()
    body = block.locator(".live-responses-table .response-col_description pre").first
    return status.inner_text().strip(), body.inner_text()


def test_openapi_declares_bearer_on_every_session_endpoint(http: httpx.Client) -> None:
    spec = http.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes == {
        "SessionToken": {
            "type": "http",
            "scheme": "bearer",
            "description": schemes["SessionToken"]["description"],
        }
    }
    session_ops = [
        (path, method, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if path.startswith("/v1/sessions/{session_id}")
    ]
    assert len(session_ops) >= 10
    for path, method, op in session_ops:
        assert op.get("security") == [{"SessionToken": []}], (method, path)
        # the token is no longer a header parameter Swagger UI would ignore
        names = {p["name"].lower() for p in op.get("parameters", [])}
        assert "authorization" not in names, (method, path)
    create = spec["paths"]["/v1/sessions"]["post"]
    assert "security" not in create
    # an optional body, shown as the object it is (not "Any of SessionCreate | Body")
    assert create["requestBody"]["required"] is False
    schema = create["requestBody"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/SessionCreate"}


def test_unauthorized_problems_are_unchanged(http: httpx.Client) -> None:
    r = http.post("/v1/sessions")
    sid, token = r.json()["session_id"], r.json()["token"]
    try:
        for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer"}):
            r = http.get(f"/v1/sessions/{sid}", headers=headers)
            assert r.status_code == 401, r.text
            assert r.headers["content-type"].startswith("application/problem+json")
            assert r.json()["code"] == "unauthorized"
            assert r.headers["www-authenticate"] == "Bearer"
        r = http.get(f"/v1/sessions/{sid}", headers={"Authorization": "Bearer wrong"})
        assert r.status_code == 404 and r.json()["code"] == "session_not_found"
    finally:
        http.delete(f"/v1/sessions/{sid}", headers={"Authorization": f"Bearer {token}"})


def test_swagger_ui_authorize_runs_session_calls(
    page: Any,  # noqa: F811
    browser_context: Any,  # noqa: F811
    server: str,
    http: httpx.Client,
) -> None:
    ids = _operation_ids(http)
    sent: list[tuple[str, str, str | None]] = []
    page.on(
        "request",
        lambda req: sent.append((req.method, req.url, req.headers.get("authorization"))),
    )
    page.goto(server + "/docs")
    page.wait_for_selector(".opblock")

    # 1. a session, from the page
    block = _open(page, *ids["POST /v1/sessions"])
    status, text = _execute(block)
    assert status == "201", text
    created = json.loads(text)
    sid, token = created["session_id"], created["token"]

    # 2. its token into Authorize
    page.locator(".auth-wrapper button.authorize").click()
    dialog = page.locator(".dialog-ux .modal-ux")
    dialog.locator("input").first.fill(token)
    dialog.locator("button.authorize").click()
    dialog.locator("button.btn-done").click()

    # 3. x = torch.ones(2, 2, requires_grad=True), from the page
    block = _open(page, *ids["POST /v1/sessions/{session_id}/tensors"])
    block.locator('tr[data-param-name="session_id"] input').fill(sid)
    body = {"name": "x", "fill": "ones", "shape": [2, 2], "requires_grad": True}
    block.locator(".body-param textarea").fill(json.dumps(body))
    status, text = _execute(block)
    assert status == "201", text
    info = json.loads(text)
    assert info["name"] == "x" and info["shape"] == [2, 2] and info["requires_grad"] is True

    # 4. GET .../tensors/x, from the page
    block = _open(page, *ids["GET /v1/sessions/{session_id}/tensors/{name}"])
    block.locator('tr[data-param-name="session_id"] input').fill(sid)
    block.locator('tr[data-param-name="name"] input').fill("x")
    status, text = _execute(block)
    assert status == "200", text
    assert json.loads(text)["name"] == "x"
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "docs_authorize.png"
    page.screenshot(path=str(shot), full_page=True)
    print(f"screenshot: {shot}")

    calls = [(m, u, a) for m, u, a in sent if "/v1/sessions/" in u]
    assert len(calls) == 2
    for _method, url, auth in calls:
        assert auth == f"Bearer {token}"
        assert token not in url
    assert page.errors == [] and browser_context.outside == []
    http.delete(f"/v1/sessions/{sid}", headers={"Authorization": f"Bearer {token}"})


def test_redoc_shows_the_optional_session_body_as_its_object(
    page: Any,  # noqa: F811
    server: str,
    http: httpx.Client,
) -> None:
    tag, operation_id = _operation_ids(http)["POST /v1/sessions"]
    page.goto(server + "/redoc")
    section = page.locator(f'[id="tag/{tag}/operation/{operation_id}"]')
    section.wait_for()
    section.get_by_text("Request Body schema").first.wait_for()
    text = section.inner_text()
    assert "Any of" not in text, text
    for field in ("backend", "ttl_seconds", "seed"):
        assert field in text, text
    assert page.errors == []
