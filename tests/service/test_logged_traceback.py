"""A 500's traceback is logged bounded in size, keeping where it entered and where it broke."""

from __future__ import annotations

from service.errors import MAX_LOGGED_TRACEBACK, capped_traceback


def _ping(n: int) -> int:  # two alternating frames: the traceback cannot fold them
    return _pong(n + 1) + 1


def _pong(n: int) -> int:
    return _ping(n + 1) + 1


def test_a_recursion_traceback_is_capped() -> None:
    try:
        _ping(0)
    except RecursionError as exc:
        text = capped_traceback(exc)
    assert len(text) <= MAX_LOGGED_TRACEBACK + 100
    assert text.startswith("Traceback (most recent call last):")
    assert text.rstrip().endswith("RecursionError: maximum recursion depth exceeded")
    assert "characters cut" in text


def test_a_short_traceback_is_whole() -> None:
    try:
        raise ValueError("boom")
    except ValueError as exc:
        text = capped_traceback(exc)
    assert "characters cut" not in text and text.rstrip().endswith("ValueError: boom")
