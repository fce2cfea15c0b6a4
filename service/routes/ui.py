"""``GET /ui``: the session page (static files shipped in the package, no build step).

The page is plain HTML, CSS and one ES module; it calls the session API with the token from
the tab's sessionStorage. Served with a Content-Security-Policy that allows this origin only.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter
from starlette.responses import Response

from ..errors import ApiError

__all__ = ["router"]

router = APIRouter(include_in_schema=False)
_ASSETS = {
    "index.html": "text/html; charset=utf-8",
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
}
_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-cache",
}


def _asset(name: str) -> Response:
    media_type = _ASSETS.get(name)
    if media_type is None:
        raise ApiError(404, "not_found", f"no /ui/{name}: the page has {sorted(_ASSETS)}")
    body = files("service").joinpath("ui", name).read_bytes()
    return Response(body, media_type=media_type, headers=_HEADERS)


@router.get("/ui")
async def ui_page() -> Response:
    """The session page."""
    return _asset("index.html")


@router.get("/ui/{name}")
async def ui_asset(name: str) -> Response:
    """The page's script and stylesheet."""
    return _asset(name)
