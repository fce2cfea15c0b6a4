"""Shape arithmetic in Python ints, with PyTorch's error messages.

These run before an op allocates anything, so a limit can refuse a result by its
shape alone (a product of Python ints never overflows).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from .errors import IndexOutOfRangeError, InvalidArgumentError, ShapeMismatchError

__all__ = [
    "Size",
    "broadcast_shapes",
    "normalize_dim",
    "normalize_dims",
    "numel",
    "reduced_shape",
    "reshape_shape",
]


class Size(tuple[int, ...]):
    """``torch.Size``: a tuple of ints that prints as torch's."""

    __slots__ = ()

    def __repr__(self) -> str:
        return f"torch.Size({list(self)})"

    def numel(self) -> int:
        return numel(self)


def numel(shape: Iterable[int]) -> int:
    n = 1
    for s in shape:
        n *= int(s)
    return n


def broadcast_shapes(*shapes: Sequence[int]) -> tuple[int, ...]:
    """The broadcast of ``shapes``; torch's shape_mismatch message when they do not fit."""
    if len(shapes) == 2 and isinstance(shapes[0], tuple) and isinstance(shapes[1], tuple):
        first, second = shapes  # the usual call: two operands, equal or one a scalar's
        if not second or first == second:
            return tuple([int(d) for d in first])
        if not first:
            return tuple([int(d) for d in second])
    out: list[int] = []
    for s in shapes:  # pairwise, from the last dim, as torch's infer_size reports it
        ndim = max(len(out), len(s))
        a = [1] * (ndim - len(out)) + out
        b = [1] * (ndim - len(s)) + [int(d) for d in s]
        for j in range(ndim - 1, -1, -1):
            if a[j] != b[j] and a[j] != 1 and b[j] != 1:
                raise ShapeMismatchError(
                    f"The size of tensor a ({a[j]}) must match the size of tensor b ({b[j]}) "
                    f"at non-singleton dimension {j}"
                )
        out = [y if x == 1 else x for x, y in zip(a, b, strict=True)]
    return tuple(out)


def normalize_dim(dim: Any, ndim: int) -> int:
    """A dim in ``[-ndim, ndim)`` as a non-negative int (0-d tensors accept -1 and 0)."""
    if isinstance(dim, bool) or not isinstance(dim, int):
        raise InvalidArgumentError(f"dim must be an integer, got {dim!r}")
    n = max(ndim, 1)
    if not -n <= dim < n:
        raise IndexOutOfRangeError(
            f"Dimension out of range (expected to be in range of [{-n}, {n - 1}], but got {dim})"
        )
    return dim % n


def normalize_dims(dim: Any, ndim: int) -> tuple[int, ...]:
    """``None`` -> every dim; an int or a list -> sorted non-negative dims, no repeats."""
    if dim is None:
        return tuple(range(ndim))
    dims = [dim] if isinstance(dim, int) else list(dim)
    out = [normalize_dim(d, ndim) for d in dims]
    if len(set(out)) != len(out):
        raise InvalidArgumentError(f"dim {out} appears multiple times in the list of dims")
    if ndim == 0:
        return ()
    return tuple(sorted(out))


def reduced_shape(shape: Sequence[int], dims: Sequence[int], keepdim: bool) -> tuple[int, ...]:
    """The shape after reducing ``dims`` (already normalized)."""
    if keepdim:
        return tuple(1 if i in dims else s for i, s in enumerate(shape))
    return tuple(s for i, s in enumerate(shape) if i not in dims)


def reshape_shape(shape: Sequence[int], size: Sequence[int]) -> tuple[int, ...]:
    """Resolve a reshape target (one ``-1`` allowed) against ``shape``'s element count."""
    total = numel(shape)
    target = [int(s) for s in size]
    unknown = [i for i, s in enumerate(target) if s == -1]
    if len(unknown) > 1:
        raise InvalidArgumentError("only one dimension can be inferred")
    if any(s < -1 for s in target):
        raise InvalidArgumentError(f"invalid shape dimension {min(target)}")
    known = numel(s for s in target if s != -1)
    if unknown:
        if known == 0 or total % known:
            raise InvalidArgumentError(f"shape '{target}' is invalid for input of size {total}")
        target[unknown[0]] = total // known
    elif known != total:
        raise InvalidArgumentError(f"shape '{target}' is invalid for input of size {total}")
    return tuple(target)


def as_size(args: tuple[Any, ...]) -> tuple[int, ...]:
    """torch's ``f(2, 3)`` or ``f((2, 3))`` size arguments as a tuple of ints."""
    if len(args) == 1 and isinstance(args[0], list | tuple):
        args = tuple(args[0])
    out = []
    for a in args:
        if isinstance(a, bool) or not hasattr(a, "__index__"):
            raise InvalidArgumentError(f"size must be a sequence of integers, got {a!r}")
        out.append(int(a.__index__()))
    return tuple(out)
