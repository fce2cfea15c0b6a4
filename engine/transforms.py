"""``torch.autograd.functional`` written once against a torch-like namespace.

``Functional(ns)`` needs only ``ns.autograd.grad``, ``ns.zeros_like``, ``ns.ones_like``,
``ns.zeros``, ``ns.stack`` and ``ns.enable_grad``, and imports nothing of the engine's
autograd, tensors or ops: ``engine.autograd_functional`` binds it to the engine, the client to
its session (the user's function runs in the user's process; only tensor ops reach the server).

``vectorize=True`` (torch's vmap) gives the same values as the row-by-row loop used here.
``jvp`` uses the double-vjp trick (torch's own); ``hvp`` of a scalar function equals its
``vhp`` (the Hessian is symmetric), which is what both compute.
"""

from __future__ import annotations

from typing import Any

__all__ = ["Functional"]


# torch's strict-mode texts (torch/autograd/functional.py), ``{i}`` the input or entry index
_INDEPENDENT = (
    "The output of the user-provided function is independent of input {i}. This is not "
    "allowed in strict mode."
)
_BACK_TRICK = (
    "The gradient with respect to the input is independent of entry {i} in the grad_outputs "
    "when using the double backward trick to compute forward mode gradients. This is not "
    "allowed in strict mode."
)
_DOUBLE_BACK = (
    "The jacobian of the user-provided function is independent of input {i}. This is not "
    "allowed in strict mode."
)
_DOUBLE_BACK_GRAPH = (
    "The jacobian of the user-provided function is independent of input {i}. This is not "
    "allowed in strict mode when create_graph=True."
)
_DOUBLE_BACK_TRICK = (
    "The hessian of the user-provided function is independent of entry {i} in the "
    "grad_jacobian. This is not allowed in strict mode as it prevents from using the double "
    "backward trick to replace forward mode AD."
)
_DOUBLE_BACK_TRICK_GRAPH = (
    "The hessian of the user-provided function is independent of input {i}. This is not "
    "allowed in strict mode when create_graph=True."
)
_JACOBIAN = (
    "Output {k} of the user-provided function is independent of input {{i}}. This is not "
    "allowed in strict mode."
)
_HESSIAN = (
    "While computing the hessian, found that the jacobian of the user-provided function with "
    "respect to input {i} is independent of the input. This is not allowed in strict mode. You "
    "should ensure that your function is twice differentiable and that the jacobian depends on "
    "the inputs (this would be violated by a linear function for example)."
)


def _as_tuple(x: Any) -> tuple[bool, tuple[Any, ...]]:
    if isinstance(x, tuple | list):
        return True, tuple(x)
    return False, (x,)


def _single(out_tuple: bool, outs: tuple[Any, ...], name: str) -> None:
    """torch's errors for a function that must return one one-element tensor."""
    if out_tuple:
        raise RuntimeError(f"The function given to {name} should return a single Tensor")
    if outs[0].numel() != 1:
        raise RuntimeError(
            f"The Tensor returned by the function given to {name} should contain a single element"
        )


class Functional:
    """``torch.autograd.functional`` over the namespace ``ns``."""

    def __init__(self, ns: Any) -> None:
        self._ns = ns

    # ---------------------------------------------------------------- helpers
    def _prep(
        self, inputs: tuple[Any, ...], create_graph: bool, need_graph: bool
    ) -> tuple[Any, ...]:
        out = []
        for x in inputs:
            if create_graph and x.requires_grad:
                out.append(x * 1)  # keeps x's graph, as torch's view_as does
            else:
                out.append(x.detach().requires_grad_(need_graph))
        return tuple(out)

    def _grad(
        self,
        outputs: tuple[Any, ...],
        inputs: tuple[Any, ...],
        grad_outputs: tuple[Any, ...] | None,
        create_graph: bool,
        retain_graph: bool | None = None,
    ) -> tuple[Any, ...]:
        outs = [o for o in outputs if o is not None and o.requires_grad]
        gos = None
        if grad_outputs is not None:
            gos = [
                g
                for o, g in zip(outputs, grad_outputs, strict=True)
                if o is not None and o.requires_grad
            ]
        if not outs:
            return tuple(None for _ in inputs)
        got = self._ns.autograd.grad(
            outs,
            list(inputs),
            gos,
            retain_graph=retain_graph,
            create_graph=create_graph,
            allow_unused=True,
        )
        return tuple(got)

    def _fill(
        self, grads: tuple[Any, ...], refs: tuple[Any, ...], strict: bool, what: str
    ) -> tuple[Any, ...]:
        """Zeros for the ``None`` gradients; in strict mode torch's error for the first."""
        out = []
        for i, (g, r) in enumerate(zip(grads, refs, strict=True)):
            if g is None:
                if strict:
                    raise RuntimeError(what.format(i=i))
                g = self._ns.zeros_like(r)
            out.append(g)
        return tuple(out)

    @staticmethod
    def _strict_none(grads: tuple[Any, ...], strict: bool) -> None:
        """torch's ``_check_requires_grad`` of a ``None`` gradient."""
        for i, g in enumerate(grads):
            if strict and g is None:
                raise RuntimeError(_INDEPENDENT.format(i=i))

    def _post(self, xs: tuple[Any, ...], create_graph: bool) -> tuple[Any, ...]:
        return tuple(x if create_graph or x is None else x.detach() for x in xs)

    @staticmethod
    def _check_v(v: tuple[Any, ...], refs: tuple[Any, ...], what: str) -> None:
        if len(v) != len(refs):
            raise RuntimeError(
                f"The given v should contain a single Tensor per {what}, got {len(v)} for "
                f"{len(refs)}."
            )
        for i, (a, b) in enumerate(zip(v, refs, strict=True)):
            if tuple(a.shape) != tuple(b.shape):
                raise RuntimeError(
                    f"Entry {i} in v has invalid size: should be {b.shape} but got {a.shape}."
                )

    # -------------------------------------------------------------------- API
    def vjp(
        self,
        func: Any,
        inputs: Any,
        v: Any = None,
        create_graph: bool = False,
        strict: bool = False,
    ) -> Any:
        with self._ns.enable_grad():
            in_tuple, ins = _as_tuple(inputs)
            ins = self._prep(ins, create_graph, True)
            out_tuple, outs = _as_tuple(func(*ins))
            if v is None:
                if len(outs) != 1 or outs[0].numel() != 1:
                    raise RuntimeError(
                        "The vector v can only be None if the user-provided function returns a "
                        "single Tensor with a single element."
                    )
                vs = (self._ns.ones_like(outs[0]),)
            else:
                vs = _as_tuple(v)[1]
                self._check_v(vs, outs, "output")
            grads = self._fill(self._grad(outs, ins, vs, create_graph), ins, strict, _INDEPENDENT)
        outs = self._post(outs, create_graph)
        grads = self._post(grads, create_graph)
        return (outs if out_tuple else outs[0]), (grads if in_tuple else grads[0])

    def jvp(
        self,
        func: Any,
        inputs: Any,
        v: Any = None,
        create_graph: bool = False,
        strict: bool = False,
    ) -> Any:
        with self._ns.enable_grad():
            _, ins = _as_tuple(inputs)
            ins = self._prep(ins, create_graph, True)
            if v is None:
                if len(ins) != 1 or ins[0].numel() != 1:
                    raise RuntimeError(
                        "The vector v can only be None if the input to the user-provided function "
                        "is a single Tensor with a single element."
                    )
                vs = (self._ns.ones_like(ins[0]),)
            else:
                vs = _as_tuple(v)[1]
                self._check_v(vs, ins, "input")
            out_tuple, outs = _as_tuple(func(*ins))
            dummies = tuple(self._ns.zeros_like(o).requires_grad_(True) for o in outs)
            g_ins = self._grad(outs, ins, dummies, create_graph=True)
            self._strict_none(g_ins, strict)
            pairs = [(g, w) for g, w in zip(g_ins, vs, strict=True) if g is not None]
            if pairs:
                got = self._ns.autograd.grad(
                    [g for g, _ in pairs],
                    list(dummies),
                    [w for _, w in pairs],
                    create_graph=create_graph,
                    allow_unused=True,
                )
            else:
                got = [None] * len(outs)
            res = self._fill(tuple(got), outs, strict, _BACK_TRICK)
        outs = self._post(outs, create_graph)
        res = self._post(res, create_graph)
        return (outs if out_tuple else outs[0]), (res if out_tuple else res[0])

    def jacobian(
        self,
        func: Any,
        inputs: Any,
        create_graph: bool = False,
        strict: bool = False,
        vectorize: bool = False,
        strategy: str = "reverse-mode",
    ) -> Any:
        if strategy not in ("reverse-mode", "forward-mode"):
            raise ValueError(
                'Expected strategy to be either "forward-mode" or "reverse-mode". Hint: If your '
                'function has more outputs than inputs, "forward-mode" tends to be more '
                'performant. Otherwise, prefer to use "reverse-mode".'
            )
        with self._ns.enable_grad():
            in_tuple, ins = _as_tuple(inputs)
            ins = self._prep(ins, create_graph, True)
            out_tuple, outs = _as_tuple(func(*ins))
            result = []
            for k, out in enumerate(outs):
                flat = out.reshape(-1)
                rows: list[list[Any]] = [[] for _ in ins]
                for k in range(flat.numel()):
                    got = self._grad((flat[k],), ins, None, create_graph, retain_graph=True)
                    got = self._fill(got, ins, strict, _JACOBIAN.format(k=k))
                    for i, g in enumerate(got):
                        rows[i].append(g)
                per_in = []
                for i, x in enumerate(ins):
                    if rows[i]:
                        j = self._ns.stack(rows[i]).reshape(tuple(out.shape) + tuple(x.shape))
                    else:
                        j = self._ns.zeros(tuple(out.shape) + tuple(x.shape), dtype=x.dtype)
                    per_in.append(j if create_graph else j.detach())
                result.append(tuple(per_in) if in_tuple else per_in[0])
        return tuple(result) if out_tuple else result[0]

    def hessian(
        self,
        func: Any,
        inputs: Any,
        create_graph: bool = False,
        strict: bool = False,
        vectorize: bool = False,
        outer_jacobian_strategy: str = "reverse-mode",
    ) -> Any:
        in_tuple, ins = _as_tuple(inputs)

        def grads(*xs: Any) -> Any:
            out = func(*xs)
            out_tuple, outs = _as_tuple(out)
            _single(out_tuple, outs, "hessian")
            g = self._grad(outs, xs, None, create_graph=True)
            for i, gi in enumerate(g):
                if strict and (gi is None or not gi.requires_grad):
                    raise RuntimeError(_HESSIAN.format(i=i))
            return self._fill(g, xs, False, "")

        h = self.jacobian(grads, ins, create_graph=create_graph, strict=strict)
        # jacobian of a tuple-valued function: one row of blocks per gradient
        if in_tuple:
            return tuple(tuple(row) for row in h)
        return h[0][0]

    def vhp(
        self,
        func: Any,
        inputs: Any,
        v: Any = None,
        create_graph: bool = False,
        strict: bool = False,
    ) -> Any:
        return self._hv("vhp", func, inputs, v, create_graph, strict)

    def hvp(
        self,
        func: Any,
        inputs: Any,
        v: Any = None,
        create_graph: bool = False,
        strict: bool = False,
    ) -> Any:
        """Equal to vhp for a scalar function (its Hessian is symmetric)."""
        return self._hv("hvp", func, inputs, v, create_graph, strict)

    def _hv(
        self, name: str, func: Any, inputs: Any, v: Any, create_graph: bool, strict: bool
    ) -> Any:
        with self._ns.enable_grad():
            in_tuple, ins = _as_tuple(inputs)
            ins = self._prep(ins, create_graph, True)
            if v is None:
                if len(ins) != 1 or ins[0].numel() != 1:
                    raise RuntimeError(
                        "The vector v can only be None if the input to the user-provided function "
                        "is a single Tensor with a single element."
                    )
                vs = (self._ns.ones_like(ins[0]),)
            else:
                vs = _as_tuple(v)[1]
                self._check_v(vs, ins, "input")
            out = func(*ins)
            out_tuple, outs = _as_tuple(out)
            _single(out_tuple, outs, name)
            jac = self._grad(outs, ins, None, create_graph=True)
            self._strict_none(jac, strict)
            for i, j in enumerate(jac):
                if strict and not j.requires_grad:
                    raise RuntimeError(_HESSIAN.format(i=i))
            pairs = [
                (j, w) for j, w in zip(jac, vs, strict=True) if j is not None and j.requires_grad
            ]
            if pairs:
                got = self._grad(
                    tuple(j for j, _ in pairs), ins, tuple(w for _, w in pairs), create_graph
                )
            else:
                got = tuple(None for _ in ins)
            if name == "vhp":
                text = _DOUBLE_BACK_GRAPH if create_graph else _DOUBLE_BACK
            else:
                text = _DOUBLE_BACK_TRICK_GRAPH if create_graph else _DOUBLE_BACK_TRICK
            res = self._fill(got, ins, strict, text)
        o = outs[0] if create_graph else outs[0].detach()
        res = self._post(res, create_graph)
        return o, (res if in_tuple else res[0])
