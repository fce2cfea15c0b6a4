"""Products beyond ``matmul``: ``mv``, ``bmm`` and ``einsum``.

``mv`` and ``bmm`` are ops of their own (torch's MvBackward0 and BmmBackward0, raw VJPs).
``einsum`` is composed as torch composes it, so its result shows torch's grad_fn: each
operand is permuted to one order of labels (output labels first, then the summed ones);
one operand is summed (SumBackward1) or only permuted (PermuteBackward0); several are
multiplied pairwise (MulBackward0), contracting through ``bmm``, and a result with summed
labels is a view dropping them (ViewBackward0).
"""

from __future__ import annotations

import math
from typing import Any

from ..autograd import apply
from ..errors import DtypeMismatchError, InvalidArgumentError, ShapeMismatchError
from ..tensor import Tensor
from .indexing import INDEX
from .shape import VIEW
from .table import defop

__all__ = ["BMM", "EINSUM", "MV"]


# -------------------------------------------------------------------------- mv
def _mv_check(inputs: Any, attrs: dict[str, Any]) -> None:
    a, v = inputs
    if not isinstance(a, Tensor) or not isinstance(v, Tensor):
        raise InvalidArgumentError("mv(): both arguments must be tensors")
    if a.ndim != 2 or v.ndim != 1:
        raise InvalidArgumentError(f"vector + matrix @ vector expected, got 1, {a.ndim}, {v.ndim}")
    if a.dtype is not v.dtype:
        raise DtypeMismatchError(
            "addmv input tensors must have the same dtype, but got "
            f"{v.dtype.scalar_name}, {a.dtype.scalar_name}, and {v.dtype.scalar_name}"
        )
    (n, m), (k,) = a._st.array.shape, v._st.array.shape
    if m != k:
        raise ShapeMismatchError(f"size mismatch, got input ({n}), mat ({n}x{m}), vec ({k})")


MV = defop(
    "mv",
    lambda xp, a, v: xp.matmul(a, v),
    (
        lambda g, n: n.F.unsqueeze(g, -1) * n[1],
        lambda g, n: n.F.matmul(n.F.mT(n[0]), g),
    ),
    "MvBackward0",
    saves=(0, 1),
    shape=lambda shapes, at: (shapes[0][0],),
    check=_mv_check,
    arity=2,
    tensors=2,
    sig="input, vec",
    dtypes="any",
    raw=True,
    doc="the product of a matrix and a vector",
)


# ------------------------------------------------------------------------- bmm
def _bmm_check(inputs: Any, attrs: dict[str, Any]) -> None:
    a, b = inputs
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise InvalidArgumentError("bmm(): both arguments must be tensors")
    for name, t in (("batch1", a), ("batch2", b)):
        if t.ndim != 3:
            raise InvalidArgumentError(f"{name} must be a 3D tensor")
    if a.dtype is not b.dtype:
        raise DtypeMismatchError(
            f"expected scalar type {a.dtype.scalar_name} but found {b.dtype.scalar_name}"
        )
    (bs, _, k), (bs2, k2, _) = a._st.array.shape, b._st.array.shape
    if (bs, k) != (bs2, k2):
        raise ShapeMismatchError(
            "Expected size for first two dimensions of batch2 tensor to be: "
            f"[{bs}, {k}] but got: [{bs2}, {k2}]."
        )


BMM = defop(
    "bmm",
    lambda xp, a, b: xp.matmul(a, b),
    (
        lambda g, n: n.F.matmul(g, n.F.mT(n[1])),
        lambda g, n: n.F.matmul(n.F.mT(n[0]), g),
    ),
    "BmmBackward0",
    saves=(0, 1),
    shape=lambda shapes, at: (shapes[0][0], shapes[0][1], shapes[1][2]),
    check=_bmm_check,
    arity=2,
    tensors=2,
    sig="input, mat2",
    dtypes="any",
    raw=True,
    doc="batched matrix products: (b, n, m) @ (b, m, p)",
)


# ---------------------------------------------------------------------- einsum
_ELLIPSIS = "."  # the label of ellipsis dims (each gets its own: ".0", ".1", ...)


def _labels(term: str, ndim: int, k: int) -> list[str]:
    """A term's labels, one per dim; ellipsis dims as ``.-n`` .. ``.-1`` (aligned right)."""
    has_ellipsis = "..." in term
    plain = term.replace("...", "")
    for c in plain:
        if c != "." and not ("a" <= c <= "z" or "A" <= c <= "Z"):
            raise InvalidArgumentError(
                f"einsum(): invalid subscript given at index {term.find(c)} in the equation "
                "string, subscripts must be in [a-zA-Z]"
            )
    if "." in plain:
        raise InvalidArgumentError(
            f"einsum(): found '.' for operand {k} that is not part of any ellipsis"
        )
    if has_ellipsis:
        if term.count("...") > 1:
            raise InvalidArgumentError(
                f"einsum(): found '.' for operand {k} for which an ellipsis was already found"
            )
        if len(plain) > ndim:
            raise InvalidArgumentError(
                f"einsum(): the number of subscripts in the equation ({len(plain)}) is more than "
                f"the number of dimensions ({ndim}) for operand {k}"
            )
        n_ell = ndim - len(plain)
        before, after = term.split("...")
        return [*before, *[f"{_ELLIPSIS}{-(n_ell - i)}" for i in range(n_ell)], *after]
    if len(plain) != ndim:
        raise InvalidArgumentError(
            f"einsum(): the number of subscripts in the equation ({len(plain)}) does not match "
            f"the number of dimensions ({ndim}) for operand {k} and no ellipsis was given"
        )
    return list(plain)


def _diagonal(x: Tensor, labels: list[str]) -> tuple[Tensor, list[str]]:
    """Repeated labels of one operand taken along their diagonal (the label kept once)."""
    while len(set(labels)) != len(labels):
        lab = next(c for c in labels if labels.count(c) > 1)
        where = [i for i, c in enumerate(labels) if c == lab]
        rest = [i for i in range(len(labels)) if i not in where]
        x = x.permute(*rest, *where)
        size = x.shape[-1]
        for d in where:
            if x.shape[len(rest) + where.index(d)] != size:
                raise InvalidArgumentError(
                    f"einsum(): subscript {lab} is repeated for operand but the sizes don't match"
                )
        ar = {"array": x._xp.arange(size)}
        x = INDEX.fn(x, (Ellipsis, *[ar] * len(where)))
        labels = [labels[i] for i in rest] + [lab]
    return x, labels


def _sumproduct(a: Tensor, b: Tensor, summed: list[int]) -> Tensor:
    """``(a * b).sum(summed, keepdim=True)`` of two aligned operands, through ``bmm``."""
    sa, sb = a.shape, b.shape
    keep = []
    for d in list(summed):
        if sa[d] == 1 or sb[d] == 1:  # summed in one operand only: before the product
            if sa[d] != 1:
                a = a.sum([d], keepdim=True)
            if sb[d] != 1:
                b = b.sum([d], keepdim=True)
        else:
            keep.append(d)
    sa, sb = a.shape, b.shape
    nd = len(sa)
    batch = [d for d in range(nd) if d not in keep and sa[d] != 1 and sb[d] != 1]
    left = [d for d in range(nd) if d not in keep and d not in batch and sb[d] == 1]
    right = [d for d in range(nd) if d not in keep and d not in batch and d not in left]
    size = lambda s, ds: math.prod(s[d] for d in ds)  # noqa: E731
    nb, nl, nr, nk = size(sa, batch), size(sa, left), size(sb, right), size(sa, keep)
    lhs = a.permute(*batch, *left, *keep, *right).reshape(nb, nl, nk)
    rhs = b.permute(*batch, *keep, *right, *left).reshape(nb, nk, nr)
    out = BMM.fn(lhs, rhs)
    order = batch + left + right
    out = out.reshape(*[sa[d] for d in batch + left], *[sb[d] for d in right])
    out = out.permute(*sorted(range(len(order)), key=lambda i: order[i]))
    return out.reshape(*[1 if d in keep else max(sa[d], sb[d]) for d in range(nd)])


def _einsum(equation: Any, operands: Any) -> Tensor:
    if not isinstance(equation, str):
        raise InvalidArgumentError(
            f"einsum(): argument 'equation' must be str, not {type(equation).__name__}"
        )
    ops = list(operands)
    if len(ops) == 1 and isinstance(ops[0], list | tuple):  # torch.einsum(eq, [a, b])
        ops = list(ops[0])
    if not ops:
        raise InvalidArgumentError("einsum(): must provide at least one operand")
    for t in ops:
        if not isinstance(t, Tensor):
            raise InvalidArgumentError(
                f"einsum(): argument 'operands' must be tuple of Tensors, not {type(t).__name__}"
            )
    eq = equation.replace(" ", "")
    lhs, arrow, rhs = eq.partition("->")
    terms = lhs.split(",")
    if len(terms) > len(ops):
        raise InvalidArgumentError(
            "einsum(): fewer operands were provided than specified in the equation"
        )
    if len(terms) < len(ops):
        raise InvalidArgumentError(
            "einsum(): more operands were provided than specified in the equation"
        )
    labelled: list[tuple[Tensor, list[str]]] = []
    for k, (term, t) in enumerate(zip(terms, ops, strict=True)):
        labelled.append(_diagonal(t, _labels(term, t.ndim, k)))
    sizes: dict[str, int] = {}
    for k, (t, labels) in enumerate(labelled):
        for lab, s in zip(labels, t.shape, strict=True):
            seen = sizes.get(lab)
            if seen is None or seen == 1:
                sizes[lab] = s
            elif s not in (1, seen):
                shown = "..." if lab.startswith(_ELLIPSIS) else lab
                raise ShapeMismatchError(
                    f"einsum(): subscript {shown} has size {s} for operand {k} which does not "
                    f"broadcast with previously seen size {seen}"
                )
    ell = sorted({lab for lab in sizes if lab.startswith(_ELLIPSIS)}, key=lambda s: int(s[1:]))
    if arrow:
        for c in rhs.replace("...", ""):
            if not ("a" <= c <= "z" or "A" <= c <= "Z"):
                raise InvalidArgumentError(
                    "einsum(): invalid subscript given at index "
                    f"{eq.find(c, len(lhs) + 2)} in the equation string, subscripts must be in "
                    "[a-zA-Z]"
                )
            if c not in sizes:
                raise InvalidArgumentError(
                    f"einsum(): output subscript {c} does not appear in the equation for any "
                    "input operand"
                )
            if rhs.count(c) > 1:
                raise InvalidArgumentError(
                    f"einsum(): output subscript {c} appears more than once in the output"
                )
        before, _, after = rhs.partition("...")
        out_labels = [*before, *(ell if "..." in rhs else []), *after]
    else:
        letters = lhs.replace("...", "").replace(",", "")
        once = sorted(c for c in set(letters) if letters.count(c) == 1)
        out_labels = [*ell, *once]
    summed = [lab for lab in sizes if lab not in out_labels]
    order = out_labels + summed
    nd, n_out = len(order), len(out_labels)
    # each operand permuted to ``order``, with size-1 dims for the labels it lacks
    aligned: list[Tensor] = []
    for t, labels in labelled:
        present = [lab for lab in order if lab in labels]
        x = t.permute(*[labels.index(lab) for lab in present])
        shape = [x.shape[present.index(lab)] if lab in labels else 1 for lab in order]
        aligned.append(x if len(present) == nd else x.reshape(*shape))
    last = {lab: max(k for k, (_, ls) in enumerate(labelled) if lab in ls) for lab in summed}
    if len(aligned) == 1:
        x = aligned[0]
        return x.sum(list(range(n_out, nd))) if summed else x
    result = aligned[0]
    only_first = [order.index(lab) for lab in summed if last[lab] == 0]
    if only_first:
        result = result.sum(only_first, keepdim=True)
    for k in range(1, len(aligned)):
        dims = [order.index(lab) for lab in summed if last[lab] == k]
        result = _sumproduct(result, aligned[k], dims) if dims else result * aligned[k]
    if not summed:
        return result
    # torch's closing view, whatever the strides of the product (a reshape in the forward)
    out: Tensor = apply(VIEW, (result,), {"shape": list(result.shape[:n_out])})
    return out


EINSUM = defop(
    "einsum",
    None,
    None,
    "ViewBackward0",
    grad_fns=("ViewBackward0", "MulBackward0", "PermuteBackward0", "SumBackward1"),
    arity=0,
    tensors=0,
    sig="equation, *operands",
    variants=("function",),
    prepare=_einsum,
    call=lambda *operands, equation: _einsum(equation, operands),
    dtypes="any",
    doc="sums of products of the operands' elements as the equation labels them "
    "('ij,jk->ik'); on the wire: the operands as args, the equation as a keyword",
)
