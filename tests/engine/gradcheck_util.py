"""HIPS-autograd-style ``check_grads(f, x, order=2)`` for the engine, in float64.

First order: the engine's VJP ``<v, df/dx>`` against central differences of
``<v, f(x)>``. Second order: the VJP of ``<u, VJP(x, v)>`` (with
``create_graph=True``) with respect to ``x`` *and* ``v`` against central
differences of the first-order VJP, i.e. Hessian-vector products and the
derivative of a backward pass with respect to its upstream gradient.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import engine
from engine import autograd
from engine.autograd import Node

__all__ = [
    "Case",
    "check_grads",
    "const",
    "distinct",
    "distinct_abs",
    "graph_ops",
    "grid",
    "nonzero",
    "normal",
    "uniform",
]

EPS = 1e-6
TOL = 1e-5

Array = np.ndarray[Any, Any]
Gen = Callable[[np.random.Generator], Array]
Shape = tuple[int, ...]


# ------------------------------------------------------------------ inputs
def normal(shape: Shape, scale: float = 1.0) -> Gen:
    """Standard normal values."""
    return lambda rng: scale * rng.standard_normal(shape)


def uniform(lo: float, hi: float, shape: Shape) -> Gen:
    """Uniform values in ``[lo, hi)``."""
    return lambda rng: rng.uniform(lo, hi, shape)


def nonzero(shape: Shape, lo: float = 0.3, hi: float = 1.5) -> Gen:
    """Random signs, magnitudes in ``[lo, hi)``: away from the kinks at 0."""
    return lambda rng: rng.choice([-1.0, 1.0], shape) * rng.uniform(lo, hi, shape)


def distinct(shape: Shape) -> Gen:
    """Pairwise at least 0.1 apart: no ties for max/min/amax/amin."""

    def gen(rng: np.random.Generator) -> Array:
        n = int(np.prod(shape))
        vals = (rng.permutation(n) - n / 2) * 0.3 + rng.uniform(-0.1, 0.1, n)
        return vals.reshape(shape)

    return gen


def distinct_abs(shape: Shape) -> Gen:
    """Distinct magnitudes (at least 0.1 apart, at least 0.2 from 0), random signs."""

    def gen(rng: np.random.Generator) -> Array:
        n = int(np.prod(shape))
        mags = (rng.permutation(n) + 1) * 0.3 + rng.uniform(-0.1, 0.1, n)
        return (rng.choice([-1.0, 1.0], n) * mags).reshape(shape)

    return gen


def grid(shape: Shape, offset: float = 0.0, lo: int = -4, hi: int = 4) -> Gen:
    """Multiples of 0.5 plus ``offset``, jittered by < 0.05: two grids with offsets 0 and 0.25
    never tie, and a grid with offset 0.25 stays 0.2 away from every multiple of 0.5."""
    return lambda rng: (
        rng.integers(lo, hi + 1, shape) * 0.5 + offset + rng.uniform(-0.05, 0.05, shape)
    )


def const(value: Any) -> Gen:
    """A fixed array."""
    arr = np.asarray(value, dtype=np.float64)
    return lambda rng: arr.copy()


# ------------------------------------------------------------------- cases
@dataclass(frozen=True)
class Case:
    """One differentiable call: ``fn`` of float64 tensors made from ``inputs``.

    ``covers`` names ops that leave no node of their own (compositions such as
    ``flatten`` or ``cross_entropy``); every other op is found in the recorded graph.
    """

    id: str
    fn: Callable[..., Any]
    inputs: tuple[Gen, ...]
    covers: tuple[str, ...] = ()
    order: int = 2
    eps: float = EPS
    tol: float = TOL

    def rng(self) -> np.random.Generator:
        return np.random.default_rng(zlib.crc32(self.id.encode()))

    def arrays(self, rng: np.random.Generator) -> list[Array]:
        return [np.array(gen(rng), dtype=np.float64) for gen in self.inputs]

    def check(self) -> None:
        """Run ``check_grads`` on this case."""
        rng = self.rng()
        check_grads(
            self.fn, self.arrays(rng), order=self.order, eps=self.eps, tol=self.tol, rng=rng
        )

    def ops(self) -> set[str]:
        """The ops this case exercises: its forward graph's nodes plus ``covers``."""
        xs = [_leaf(a) for a in self.arrays(self.rng())]
        return graph_ops(self.fn(*xs)) | set(self.covers)


def graph_ops(out: engine.Tensor) -> set[str]:
    """Names of the ops recorded in ``out``'s graph."""
    names: set[str] = set()
    stack = [out.grad_fn] if out.grad_fn is not None else []
    seen: set[int] = set()
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        names.add(node.op.name)
        stack.extend(n for n in node.next if isinstance(n, Node))
    return names


# ------------------------------------------------------------------ checks
def _leaf(a: Array, requires_grad: bool = True) -> engine.Tensor:
    return engine.tensor(a, dtype=engine.float64, requires_grad=requires_grad)


def _value(fn: Callable[..., Any], arrays: Sequence[Array]) -> Array:
    with engine.no_grad():
        out = fn(*(_leaf(a, False) for a in arrays))
    return np.asarray(out.numpy())


def _dense(gs: Sequence[engine.Tensor | None], like: Sequence[Array]) -> list[Array]:
    """Gradients as arrays, zeros for an input the output does not depend on."""
    out = []
    for g, a in zip(gs, like, strict=True):
        if g is None:
            out.append(np.zeros_like(a))
        else:
            assert tuple(g.shape) == a.shape, f"gradient shape {tuple(g.shape)} != {a.shape}"
            assert g.dtype is engine.float64, f"gradient dtype {g.dtype}"
            out.append(g.detach().numpy())
    return out


def _vjp(fn: Callable[..., Any], arrays: Sequence[Array], v: Array) -> list[Array]:
    """The engine's ``<v, df/dx_i>`` for each input (first order, no graph kept)."""
    xs = [_leaf(a) for a in arrays]
    out = fn(*xs)
    gs = autograd.grad(out, xs, grad_outputs=_leaf(v, False), allow_unused=True)
    return _dense(gs, arrays)


def _vjp_of_vjp(
    fn: Callable[..., Any], arrays: Sequence[Array], v: Array, us: Sequence[Array]
) -> tuple[list[Array], list[Array]]:
    """The first-order VJPs (built with ``create_graph``) and the gradient of
    ``sum_i <u_i, vjp_i>`` with respect to every input and to ``v``."""
    xs = [_leaf(a) for a in arrays]
    vt = _leaf(v)
    out = fn(*xs)
    gs = autograd.grad(out, xs, grad_outputs=vt, create_graph=True, allow_unused=True)
    first = _dense(gs, arrays)
    s: Any = 0.0
    for g, u in zip(gs, us, strict=True):
        if g is not None:
            s = s + (g * _leaf(u, False)).sum()
    wrt = [*xs, vt]
    if not isinstance(s, engine.Tensor) or not s.requires_grad:
        return first, [np.zeros_like(a) for a in [*arrays, v]]
    hs = autograd.grad(s, wrt, allow_unused=True)
    return first, _dense(hs, [*arrays, v])


def numeric_grad(
    scalar: Callable[[list[Array]], float], arrays: Sequence[Array], eps: float
) -> list[Array]:
    """Central differences of ``scalar`` in every element of every array."""
    work = [a.copy() for a in arrays]
    grads = []
    for a in work:
        g = np.zeros_like(a)
        for j in np.ndindex(a.shape):
            orig = a[j]
            a[j] = orig + eps
            fp = scalar(work)
            a[j] = orig - eps
            fm = scalar(work)
            a[j] = orig
            g[j] = (fp - fm) / (2 * eps)
        grads.append(g)
    return grads


def _compare(what: str, analytic: Sequence[Array], numeric: Sequence[Array], tol: float) -> None:
    for i, (a, n) in enumerate(zip(analytic, numeric, strict=True)):
        np.testing.assert_allclose(a, n, rtol=tol, atol=tol, err_msg=f"{what}, input {i}")


def check_grads(
    fn: Callable[..., Any],
    arrays: Sequence[Array],
    *,
    order: int = 2,
    eps: float = EPS,
    tol: float = TOL,
    rng: np.random.Generator | None = None,
) -> None:
    """Check ``fn``'s first (and second) order VJPs against finite differences."""
    rng = rng if rng is not None else np.random.default_rng(0)
    arrays = [np.asarray(a, dtype=np.float64) for a in arrays]
    out = _value(fn, arrays)
    assert out.dtype == np.float64, f"float64 inputs gave a {out.dtype} output"
    v = rng.standard_normal(out.shape)

    analytic = _vjp(fn, arrays, v)
    numeric = numeric_grad(lambda xs: float(np.sum(v * _value(fn, xs))), arrays, eps)
    _compare("first order VJP", analytic, numeric, tol)
    if order < 2:
        return

    us = [rng.standard_normal(a.shape) for a in arrays]
    n = len(arrays)

    def first_order(xs_and_v: list[Array]) -> float:
        gs = _vjp(fn, xs_and_v[:n], xs_and_v[n])
        return float(sum(np.sum(u * g) for u, g in zip(us, gs, strict=True)))

    first, hvp = _vjp_of_vjp(fn, arrays, v, us)
    _compare("first order VJP with create_graph", first, analytic, 1e-12)
    numeric2 = numeric_grad(first_order, [*arrays, v], eps)
    _compare("second order (VJP of the VJP; last input is v)", hvp, numeric2, tol)
