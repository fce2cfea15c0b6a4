"""The gradserve HTTP service (FastAPI): ``create_app(settings)``."""

from __future__ import annotations

from .app import create_app
from .settings import Settings, get_settings

__all__ = ["Settings", "create_app", "get_settings"]
