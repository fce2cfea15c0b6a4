"""Touches to the generated OpenAPI document that FastAPI has no switch for.

An optional JSON body (``body: Model | None = None``) comes out as ``anyOf: [Model, null]``
titled "Body", which ReDoc shows as "Any of SessionCreate | Body". OpenAPI says an optional
body with ``requestBody.required: false``; the schema is then the model itself.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI

__all__ = ["install_openapi_fixes"]


def _optional_body(schema: dict[str, Any]) -> dict[str, Any] | None:
    """``{"$ref": ...}`` for ``anyOf: [{"$ref": ...}, {"type": "null"}]``, else ``None``."""
    options = schema.get("anyOf")
    if not isinstance(options, list) or len(options) != 2 or {"type": "null"} not in options:
        return None
    (model,) = [o for o in options if o != {"type": "null"}]
    return model if set(model) == {"$ref"} else None


def fix_optional_bodies(spec: dict[str, Any]) -> dict[str, Any]:
    """Rewrite every optional model body of ``spec`` in place; returns it."""
    for item in spec.get("paths", {}).values():
        for operation in item.values():
            body = operation.get("requestBody") if isinstance(operation, dict) else None
            if not body or body.get("required"):
                continue
            for media in body.get("content", {}).values():
                model = _optional_body(media.get("schema", {}))
                if model is not None:
                    media["schema"] = dict(model)
                    body["required"] = False
    return spec


def install_openapi_fixes(app: FastAPI) -> None:
    """Apply the fixes to the document ``app.openapi()`` builds (once; FastAPI caches it)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = fix_optional_bodies(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
