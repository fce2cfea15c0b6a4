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
from starlette.exceptions import HTTPException

__all__ = ["MAX_JSON_DEPTH", "parse_json"]

# NumPy arrays have at most 64 dimensions; an inline value inside a list argument adds two levels.
MAX_JSON_DEPTH = 100

# an integer token of 20+ digits (u64's largest has 20): beyond what orjson keeps exact. The
# regex is slow (~25 ms a MB); a translate to digit/non-digit and a substring search (~1 ms a MB)
# tells first whether any 20-digit run exists at all.
_LONG_INT = re.compile(rb"(?<![\w.])-?\d{20,}(?![\d.eE])")
_DIGITS = bytes(49 if 48 <= i <= 57 else 48 for i in range(256))  # b"1" for a digit, else b"0"
_RUN = b"1" * 20


def _depth(body: bytes, chunk: int = 1 << 22) -> int:
    """The deepest bracket nesting of a JSON text (brackets inside strings count too: names
    cannot hold them, and an op name full of brackets is refused either way). In slices, so the
    temporaries stay small and NumPy lets go of the GIL between them."""
    b = np.frombuffer(body, dtype=np.uint8)
    depth = deepest = 0
    for i in range(0, len(b), chunk):
        part = b[i : i + chunk]
        opens = (part == ord("[")) | (part == ord("{"))
        brackets = opens | (part == ord("]")) | (part == ord("}"))
        steps = np.where(opens[brackets], 1, -1)
        if steps.size:
            levels = np.cumsum(steps) + depth
            deepest = max(deepest, int(levels.max()))
            depth = int(levels[-1])
    return deepest


def _count(body: bytes, byte: int, chunk: int = 1 << 22) -> int:
    """``body.count(byte)`` in slices through NumPy, which lets go of the GIL while it counts
    (bytes.count holds it: ~0.1 s for 200 MiB, during which the event loop cannot answer)."""
    b = np.frombuffer(body, dtype=np.uint8)
    return sum(int(np.count_nonzero(b[i : i + chunk] == byte)) for i in range(0, len(b), chunk))


def parse_json(body: bytes, max_values: int | None = None) -> Any:
    """The JSON document in ``body``; ``json.JSONDecodeError`` (a 422) when it is not JSON or is
    nested deeper than ``MAX_JSON_DEPTH``; 413 ``payload_too_large`` when its arrays hold more
    than ``max_values`` items (a parsed number costs ~32 bytes of Python objects; counted on the
    raw bytes first, so a body never expands past a small multiple of its size)."""
    if max_values is not None and len(body) > max_values:
        values = _count(body, ord(",")) + 1  # an upper bound of the items of every array
        if values > max_values:
            # an HTTPException: FastAPI's body parsing lets only those through as they are
            raise HTTPException(
                413,
                f"the JSON body holds about {values} array items, above the limit of "
                f"{max_values} (GRADSERVE_MAX_JSON_VALUES): send large tensors as .npy (PUT "
                "/v1/sessions/{id}/tensors/{name} with Content-Type: application/x-npy) or as "
                'b64 TensorData ({"b64": ..., "dtype": ..., "shape": ...})',
            )
    opens = _count(body, ord("[")) + _count(body, ord("{"))
    if opens > MAX_JSON_DEPTH and _depth(body) > MAX_JSON_DEPTH:
        raise json.JSONDecodeError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels", "", 0)
    if _RUN not in body.translate(_DIGITS) or _LONG_INT.search(body) is None:
        return orjson.loads(body)
    try:
        return json.loads(body)
    except ValueError as exc:  # int literals past Python's 4300-digit conversion limit
        if isinstance(exc, json.JSONDecodeError):
            raise
        raise json.JSONDecodeError(str(exc), "", 0) from None
