"""Request JSON: orjson, bounded in nesting depth, exact for integers beyond 64 bits.

orjson reads an integer literal above 2**64 as a float, so ``[18446744073709551616]`` would
become a float32 tensor where torch raises "Overflow when unpacking long long"; a body that has
such a literal is parsed by the standard library instead, which keeps Python ints exact. Both
parsers recurse per nesting level, and the executor walks node arguments the same way, so depth
is bounded from the raw bytes before either runs.
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
import orjson

__all__ = ["MAX_JSON_DEPTH", "parse_json"]

# NumPy arrays have at most 64 dimensions; an inline value inside a list argument adds two levels.
MAX_JSON_DEPTH = 100

# an integer token of 20+ digits (u64's largest has 20): beyond what orjson keeps exact
_LONG_INT = re.compile(rb"(?<![\w.])-?\d{20,}(?![\d.eE])")


def _depth(body: bytes) -> int:
    """The deepest bracket nesting of a JSON text (brackets inside strings count too: names
    cannot hold them, and an op name full of brackets is refused either way)."""
    b = np.frombuffer(body, dtype=np.uint8)
    step = (b == ord("[")).astype(np.int32)
    step += b == ord("{")
    step -= b == ord("]")
    step -= b == ord("}")
    return int(np.cumsum(step).max(initial=0))


def parse_json(body: bytes) -> Any:
    """The JSON document in ``body``; ``json.JSONDecodeError`` (a 422) when it is not JSON or is
    nested deeper than ``MAX_JSON_DEPTH``."""
    if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and _depth(body) > MAX_JSON_DEPTH:
        raise json.JSONDecodeError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", "", 0)
    if _LONG_INT.search(body) is None:
        return orjson.loads(body)
    try:
        return json.loads(body)
    except ValueError as exc:  # int literals past Python's 4300-digit conversion limit
        if isinstance(exc, json.JSONDecodeError):
            raise
        raise json.JSONDecodeError(str(exc), "", 0) from None
