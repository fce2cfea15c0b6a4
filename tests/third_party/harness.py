"""Run the same user program three ways: real PyTorch (the reference), ``import engine as
torch`` and ``torch = client.connect(url)``.

A program is Python source whose only link to PyTorch is its ``import torch`` line; the runner
drops that line and binds ``torch`` itself. Random tensors come from one NumPy generator in all
three ways (``Seeded``), so the three runs see the same numbers and their printed output and
gradients can be compared number by number.
"""

from __future__ import annotations

import contextlib
import io
import math
import re
import types
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = [
    "Asserts",
    "Seeded",
    "compare_output",
    "load_program",
    "program_ways",
    "run_program",
    "to_numpy",
]

_IMPORT = re.compile(r"^import torch\s*$", re.MULTILINE)


class Seeded:
    """``torch`` with ``manual_seed``/``randn``/``rand``/``randint`` drawn from NumPy.

    Everything else is the wrapped namespace's own attribute (``torch.Tensor`` stays the real
    class, so ``isinstance`` works).
    """

    def __init__(self, ns: Any, seed: int = 0) -> None:
        self._ns = ns
        self._rng = np.random.default_rng(seed)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._ns, name)

    def manual_seed(self, seed: int) -> None:
        self._rng = np.random.default_rng(seed)

    def _dtype(self, dtype: Any) -> Any:
        return dtype if dtype is not None else self._ns.get_default_dtype()

    @staticmethod
    def _size(size: tuple[Any, ...], kw: dict[str, Any]) -> tuple[int, ...]:
        if "size" in kw:
            size = (kw.pop("size"),)
        if len(size) == 1 and isinstance(size[0], tuple | list):
            return tuple(size[0])
        return tuple(int(s) for s in size)

    def _make(self, values: Any, dtype: Any, requires_grad: bool) -> Any:
        values = np.asarray(values)
        if values.size == 0:  # a nested empty list loses the shape
            return self._ns.zeros(
                *values.shape, dtype=self._dtype(dtype), requires_grad=requires_grad
            )
        return self._ns.tensor(
            np.asarray(values).tolist(), dtype=self._dtype(dtype), requires_grad=requires_grad
        )

    def randn(self, *size: Any, dtype: Any = None, requires_grad: bool = False, **kw: Any) -> Any:
        kw.pop("device", None)
        return self._make(self._rng.standard_normal(self._size(size, kw)), dtype, requires_grad)

    def rand(self, *size: Any, dtype: Any = None, requires_grad: bool = False, **kw: Any) -> Any:
        kw.pop("device", None)
        return self._make(self._rng.random(self._size(size, kw)), dtype, requires_grad)

    def randn_like(self, t: Any, dtype: Any = None, requires_grad: bool = False) -> Any:
        return self.randn(*t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad)

    def rand_like(self, t: Any, dtype: Any = None, requires_grad: bool = False) -> Any:
        return self.rand(*t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad)


_WAYS = re.compile(r"^ways: (.+)$", re.MULTILINE)


def program_ways(source: str) -> tuple[str, ...]:
    """The ways a program runs in: its docstring's ``ways:`` line, or all three."""
    m = _WAYS.search(source)
    return tuple(m.group(1).split()) if m else ("torch", "engine", "client")


def load_program(source: str, torch: Any, name: str = "program") -> dict[str, Any]:
    """Execute ``source`` with ``torch`` bound (its ``import torch`` line removed)."""
    code = compile(_IMPORT.sub("", source), name, "exec")
    scope: dict[str, Any] = {"__name__": name, "torch": torch}
    exec(code, scope)
    return scope


def run_program(source: str, torch: Any, name: str = "program") -> str:
    """What ``source`` prints."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        load_program(source, torch, name)
    return out.getvalue()


_NUMBER = re.compile(r"[-+]?(?:\d+\.\d*|\.\d+|\d+)(?:[eE][-+]?\d+)?|nan|inf")


_ADDRESS = re.compile(r" object at 0x[0-9a-f]+>")


def compare_output(want: str, got: str, rtol: float = 1e-3, atol: float = 1e-4) -> None:
    """The same text but for the last digits of numbers: every number within tolerance."""
    want, got = _ADDRESS.sub(" object>", want), _ADDRESS.sub(" object>", got)
    # a number's sign may differ where the value is 0 up to rounding, and torch pads numbers
    # to one width: compare the text between numbers with its spaces collapsed
    split_w = [" ".join(t.split()) for t in _NUMBER.split(want)]
    split_g = [" ".join(t.split()) for t in _NUMBER.split(got)]
    assert split_w == split_g, f"different text:\n--- torch\n{want}\n--- got\n{got}"
    for a, b in zip(_NUMBER.findall(want), _NUMBER.findall(got), strict=True):
        fa, fb = float(a), float(b)
        assert math.isclose(fa, fb, rel_tol=rtol, abs_tol=atol) or (
            math.isnan(fa) and math.isnan(fb)
        ), f"{a} != {b}\n--- torch\n{want}\n--- got\n{got}"


def to_numpy(x: Any) -> Any:
    """A tensor of any of the three kinds (or a number, list, Size) as a NumPy array."""
    if hasattr(x, "detach") and hasattr(x, "numpy"):
        return np.asarray(x.detach().numpy())
    if isinstance(x, list | tuple) and any(hasattr(v, "detach") for v in x):
        return np.stack([to_numpy(v) for v in x])
    return np.asarray(x)


class Asserts:
    """The ``unittest.TestCase`` assertions PyTorch's tests use, tensor-aware for any kind."""

    def assertEqual(self, a: Any, b: Any, msg: Any = None, **tol: Any) -> None:
        tensors = any(hasattr(v, "detach") for v in (a, b)) or isinstance(a, np.ndarray)
        if not tensors:
            if isinstance(a, float) or isinstance(b, float):
                assert math.isclose(a, b, rel_tol=1e-5, abs_tol=1e-6), msg or f"{a} != {b}"
            else:
                assert a == b, msg or f"{a!r} != {b!r}"
            return
        x, y = to_numpy(a), to_numpy(b)
        assert x.size == y.size, msg or f"sizes differ: {x.shape} vs {y.shape}"
        if x.size:
            x, y = x.reshape(y.shape) if x.ndim == 0 or y.ndim == 0 else x, y
        assert x.shape == y.shape, msg or f"shapes differ: {x.shape} vs {y.shape}"
        rtol = tol.get("rtol", 1.3e-6 if x.dtype == np.float32 else 1e-7)
        atol = tol.get("atol", 1e-5 if x.dtype == np.float32 else 1e-7)
        ok = np.allclose(
            x.astype(np.float64),
            y.astype(np.float64),
            rtol=max(rtol, 1e-5),
            atol=atol,
            equal_nan=True,
        )
        assert ok, msg or f"values differ:\n{x}\nvs\n{y}"

    def assertNotEqual(self, a: Any, b: Any, msg: Any = None) -> None:
        try:
            self.assertEqual(a, b)
        except AssertionError:
            return
        raise AssertionError(msg or f"{a!r} == {b!r}")

    def assertTrue(self, v: Any, msg: Any = None) -> None:
        assert v, msg

    def assertFalse(self, v: Any, msg: Any = None) -> None:
        assert not v, msg

    def assertIs(self, a: Any, b: Any, msg: Any = None) -> None:
        assert a is b, msg or f"{a!r} is not {b!r}"

    def assertIsNot(self, a: Any, b: Any, msg: Any = None) -> None:
        assert a is not b, msg

    def assertIsNone(self, v: Any, msg: Any = None) -> None:
        assert v is None, msg or f"{v!r} is not None"

    def assertIsNotNone(self, v: Any, msg: Any = None) -> None:
        assert v is not None, msg

    def assertIsInstance(self, v: Any, cls: Any, msg: Any = None) -> None:
        assert isinstance(v, cls), msg or f"{v!r} is not a {cls}"

    def assertIn(self, a: Any, b: Any, msg: Any = None) -> None:
        assert a in b, msg or f"{a!r} not in {b!r}"

    def assertGreater(self, a: Any, b: Any, msg: Any = None) -> None:
        assert a > b, msg

    def assertLess(self, a: Any, b: Any, msg: Any = None) -> None:
        assert a < b, msg

    @contextlib.contextmanager
    def assertRaisesRegex(self, exc: Any, pattern: str) -> Iterator[None]:
        try:
            yield
        except exc as e:
            assert re.search(pattern, str(e)), f"{pattern!r} not in {e!s}"
        else:
            raise AssertionError(f"{exc} not raised")

    def assertRaises(self, exc: Any, fn: Any = None, *args: Any) -> Any:
        if fn is None:
            return self.assertRaisesRegex(exc, "")
        with self.assertRaisesRegex(exc, ""):
            fn(*args)
        return None

    @contextlib.contextmanager
    def assertWarnsRegex(self, cat: Any, pattern: str) -> Iterator[None]:
        import warnings

        with warnings.catch_warnings(record=True) as got:
            warnings.simplefilter("always")
            yield
        assert any(re.search(pattern, str(w.message)) for w in got), [str(w.message) for w in got]


def test_methods(scope: dict[str, Any], cls: str = "TestAutograd") -> list[str]:
    return sorted(n for n in vars(scope[cls]) if n.startswith("test_"))


def module(name: str, scope: dict[str, Any]) -> types.SimpleNamespace:
    return types.SimpleNamespace(name=name, **scope)
