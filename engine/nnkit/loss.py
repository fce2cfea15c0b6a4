"""``torch.nn``'s loss modules, written once for any tensor backend."""

from __future__ import annotations

from typing import Any

from .module import Module

__all__ = [
    "BCELoss",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "HuberLoss",
    "L1Loss",
    "MSELoss",
    "NLLLoss",
]


class _Loss(Module):
    def __init__(
        self, size_average: Any = None, reduce: Any = None, reduction: str = "mean"
    ) -> None:
        super().__init__()
        if size_average is not None or reduce is not None:
            raise ValueError("size_average and reduce are deprecated: use reduction=")
        self.reduction = reduction


class MSELoss(_Loss):
    def forward(self, input: Any, target: Any) -> Any:
        return self._B.F.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    def forward(self, input: Any, target: Any) -> Any:
        return self._B.F.l1_loss(input, target, reduction=self.reduction)


class BCELoss(_Loss):
    def __init__(
        self,
        weight: Any = None,
        size_average: Any = None,
        reduce: Any = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        if weight is not None:
            raise NotImplementedError("BCELoss: weight is not supported")
        self.register_buffer("weight", None)

    def forward(self, input: Any, target: Any) -> Any:
        return self._B.F.binary_cross_entropy(input, target, reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    def __init__(
        self,
        weight: Any = None,
        size_average: Any = None,
        reduce: Any = None,
        reduction: str = "mean",
        pos_weight: Any = None,
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        if weight is not None or pos_weight is not None:
            raise NotImplementedError("BCEWithLogitsLoss: weight and pos_weight are not supported")
        self.register_buffer("weight", None)
        self.register_buffer("pos_weight", None)

    def forward(self, input: Any, target: Any) -> Any:
        return self._B.F.binary_cross_entropy_with_logits(input, target, reduction=self.reduction)


class HuberLoss(_Loss):
    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input: Any, target: Any) -> Any:
        return self._B.F.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class NLLLoss(_Loss):
    def __init__(
        self,
        weight: Any = None,
        size_average: Any = None,
        ignore_index: int = -100,
        reduce: Any = None,
        reduction: str = "mean",
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        if weight is not None:
            raise NotImplementedError("NLLLoss: class weights are not supported")
        self.register_buffer("weight", None)
        self.ignore_index = ignore_index

    def forward(self, input: Any, target: Any) -> Any:
        return self._B.F.nll_loss(
            input, target, reduction=self.reduction, ignore_index=self.ignore_index
        )


class CrossEntropyLoss(_Loss):
    def __init__(
        self,
        weight: Any = None,
        size_average: Any = None,
        ignore_index: int = -100,
        reduce: Any = None,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        super().__init__(size_average, reduce, reduction)
        if weight is not None:
            raise NotImplementedError("CrossEntropyLoss: class weights are not supported")
        self.register_buffer("weight", None)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Any, target: Any) -> Any:
        return self._B.F.cross_entropy(
            input,
            target,
            reduction=self.reduction,
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
        )
