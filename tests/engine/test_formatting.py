"""format_tensor against torch's own repr."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from engine.formatting import format_tensor

torch = pytest.importorskip("torch")

DTYPE_NAMES = ["float16", "float32", "float64", "int32", "int64", "bool"]


def _dtype_name(t: Any) -> str:
    return str(t.dtype).removeprefix("torch.")


def _ours(t: Any) -> str:
    grad_fn = type(t.grad_fn).__name__ if t.grad_fn is not None else None
    return format_tensor(
        t.detach().numpy(),
        dtype=_dtype_name(t),
        requires_grad=t.requires_grad,
        grad_fn=grad_fn,
    )


def check(t: Any) -> None:
    expected = repr(t)
    assert _ours(t) == expected
    assert str(t) == expected


# --- the tutorial ------------------------------------------------------------------------


def test_tutorial_ones_requires_grad() -> None:
    x = torch.ones(2, 2, requires_grad=True)
    assert _ours(x) == "tensor([[1., 1.],\n        [1., 1.]], requires_grad=True)"
    check(x)


def test_tutorial_grad_fn_chain() -> None:
    x = torch.ones(2, 2, requires_grad=True)
    y = x + 2
    z = y * y * 3
    out = z.mean()
    check(y)
    check(z)
    check(out)
    assert _ours(out) == "tensor(27., grad_fn=<MeanBackward0>)"
    out.backward()
    check(x.grad)
    assert _ours(x.grad) == "tensor([[4.5000, 4.5000],\n        [4.5000, 4.5000]])"


def test_grad_fn_given_with_brackets() -> None:
    got = format_tensor(np.array(1.0, np.float32), dtype="float32", grad_fn="<AddBackward0>")
    assert got == "tensor(1., grad_fn=<AddBackward0>)"


def test_device_suffix() -> None:
    arr = np.array([1.0, 2.0], np.float32)
    assert format_tensor(arr, dtype="float32", device="cuda:0") == (
        "tensor([1., 2.], device='cuda:0')"
    )
    assert format_tensor(arr, dtype="float64", device="cuda", requires_grad=True) == (
        "tensor([1., 2.], device='cuda:0', dtype=torch.float64, requires_grad=True)"
    )


# --- fixed cases ---------------------------------------------------------------------------


FIXED = {
    "scalar_float": lambda: torch.tensor(3.5),
    "scalar_int": lambda: torch.tensor(7),
    "scalar_bool": lambda: torch.tensor(True),
    "scalar_nan": lambda: torch.tensor(float("nan")),
    "scalar_neg_inf": lambda: torch.tensor(float("-inf")),
    "scalar_neg_zero": lambda: torch.tensor(-0.0),
    "scalar_tiny": lambda: torch.tensor(1e-10),
    "scalar_huge": lambda: torch.tensor(1e20, dtype=torch.float64),
    "scalar_f16": lambda: torch.tensor(0.1, dtype=torch.float16),
    "scalar_i32": lambda: torch.tensor(-5, dtype=torch.int32),
    "vec_ints_as_float": lambda: torch.arange(5.0),
    "vec_fraction": lambda: torch.tensor([0.1, 2.5, -3.25]),
    "vec_zeros": lambda: torch.zeros(4),
    "vec_neg_zeros": lambda: torch.tensor([-0.0, 0.0, -0.0]),
    "vec_nan_inf_only": lambda: torch.tensor([float("nan"), float("inf"), -float("inf")]),
    "vec_mixed_nonfinite": lambda: torch.tensor([1.5, float("nan"), -float("inf"), 0.0]),
    "vec_int_nonfinite": lambda: torch.tensor([1.0, float("nan"), float("inf"), -2.0]),
    "vec_sci_ratio": lambda: torch.tensor([1.0, 2000.0]),
    "vec_sci_small": lambda: torch.tensor([1e-5, 2e-5]),
    "vec_sci_large": lambda: torch.tensor([1e9, 3e9]),
    "vec_sci_nonfinite": lambda: torch.tensor([1e-8, float("nan"), float("inf"), 0.0]),
    "vec_sci_e100": lambda: torch.tensor([1e-200, 1e200], dtype=torch.float64),
    "vec_int_sci": lambda: torch.tensor([1.0, 1e10]),
    "vec_f16_extremes": lambda: torch.tensor([65504.0, 6e-8, -1.0], dtype=torch.float16),
    "vec_f64": lambda: torch.tensor([1.0, 2.0], dtype=torch.float64),
    "vec_ints": lambda: torch.tensor([1, -20, 300]),
    "vec_int32": lambda: torch.tensor([1, -20, 300], dtype=torch.int32),
    "vec_int64_extremes": lambda: torch.tensor([2**63 - 1, -(2**63)]),
    "vec_bools": lambda: torch.tensor([True, False, True]),
    "vec_all_true": lambda: torch.tensor([True, True]),
    "vec_long_row": lambda: torch.linspace(-1, 1, 40),
    "vec_long_ints": lambda: torch.arange(100),
    "vec_long_bools": lambda: torch.arange(60) % 3 == 0,
    "mat_2d": lambda: torch.arange(6.0).reshape(2, 3) / 7,
    "mat_wide": lambda: torch.arange(60.0).reshape(3, 20) * 1.5,
    "tensor_3d": lambda: torch.arange(24).reshape(2, 3, 4),
    "tensor_4d": lambda: torch.arange(48.0).reshape(2, 2, 3, 4) - 20,
    "tensor_5d_ones": lambda: torch.ones(1, 2, 1, 2, 1),
    "empty_1d": lambda: torch.tensor([]),
    "empty_2d": lambda: torch.zeros(0, 2),
    "empty_2d_tail": lambda: torch.zeros(3, 0),
    "empty_3d_int": lambda: torch.zeros(2, 0, 3, dtype=torch.int64),
    "empty_bool": lambda: torch.zeros(0, dtype=torch.bool),
    "empty_f64": lambda: torch.zeros(0, dtype=torch.float64),
    "empty_i32": lambda: torch.zeros(0, 4, dtype=torch.int32),
    "big_1d": lambda: torch.arange(2000.0),
    "big_1d_ints": lambda: torch.arange(1001),
    "big_2d": lambda: torch.arange(40000.0).reshape(200, 200) / 3,
    "big_2d_narrow": lambda: torch.arange(3000).reshape(1000, 3),
    "big_2d_short": lambda: torch.arange(3000.0).reshape(3, 1000),
    "big_3d": lambda: torch.linspace(-5, 5, 2400).reshape(10, 20, 12),
    "big_4d": lambda: torch.ones(8, 2, 9, 10),
    "big_summarized_width": lambda: torch.cat([torch.zeros(1500), torch.tensor([123456.0])]),
    "big_bool": lambda: torch.arange(1200) % 2 == 0,
    "big_f16": lambda: torch.linspace(0, 1, 1500, dtype=torch.float16),
    "exactly_threshold": lambda: torch.arange(1000.0) / 10,
}


@pytest.mark.parametrize("name", sorted(FIXED))
def test_fixed(name: str) -> None:
    check(FIXED[name]())


@pytest.mark.parametrize("scale", [1e-12, 1e-5, 1e-3, 1.0, 10.0, 1e3, 1e5, 1e9, 1e30])
@pytest.mark.parametrize("shape", [(), (5,), (3, 4), (2, 3, 5), (40, 40)])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_random_normal_magnitudes(scale: float, shape: tuple[int, ...], dtype: object) -> None:
    gen = torch.Generator().manual_seed(hash((scale, shape)) % 2**31)
    t = (torch.randn(shape, generator=gen, dtype=torch.float64) * scale).to(dtype)
    check(t)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64, torch.float16])
def test_requires_grad_and_grad_fn_suffixes(dtype: object) -> None:
    x = torch.randn(3, 4, dtype=torch.float64).to(dtype).requires_grad_()
    check(x)
    check(x * 2)
    check((x * 2).sum())
    check(x.exp().t())
    check(x[0])


def test_suffix_wrapping_at_line_width() -> None:
    # A last line long enough that a suffix must move to its own line.
    for n in range(1, 12):
        x = torch.full((n,), 1.2345, dtype=torch.float64, requires_grad=True)
        check(x)
        check(x + 1)
        check((x + 1).half())


# --- property test ---------------------------------------------------------------------------


def _elements(name: str) -> st.SearchStrategy[object]:
    if name == "bool":
        return st.booleans()
    if name.startswith("int"):
        bits = int(name[3:])
        return st.integers(-(2 ** (bits - 1)), 2 ** (bits - 1) - 1)
    magnitude = st.sampled_from([1e-9, 1e-4, 1e-2, 1.0, 1e2, 1e4, 1e9])
    finite = st.builds(
        lambda m, x: x * m,
        magnitude,
        st.floats(-1000, 1000, allow_nan=False, allow_infinity=False, width=64),
    )
    integral = st.integers(-1000, 1000).map(float)
    special = st.sampled_from([0.0, -0.0, math.nan, math.inf, -math.inf])
    return st.one_of(finite, integral, special).map(lambda v: _round_to(name, v))


def _round_to(name: str, value: float) -> float:
    with np.errstate(over="ignore"):
        return float(np.dtype(name).type(value))


@st.composite
def arrays(draw: st.DrawFn) -> tuple[np.ndarray, str]:
    name = draw(st.sampled_from(DTYPE_NAMES))
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=4, min_side=0, max_side=7))
    if draw(st.booleans()) and len(shape) > 0:  # sometimes past the summarizing threshold
        shape = (draw(st.integers(170, 400)), *shape[1:]) if len(shape) < 3 else shape
    values = draw(hnp.arrays(np.dtype(name), shape, elements=_elements(name)))
    return values, name


@settings(max_examples=300, deadline=None)
@given(arrays(), st.booleans())
def test_matches_torch_property(case: tuple[np.ndarray, str], grad: bool) -> None:
    values, name = case
    t = torch.from_numpy(values.copy())
    grad = grad and t.is_floating_point()
    t.requires_grad_(grad)
    assert format_tensor(values, dtype=name, requires_grad=grad) == repr(t)
    if grad and t.numel() > 0:
        check(t * 1)
