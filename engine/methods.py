"""Tensor methods named as torch's; each calls the function of the same name in ``functional``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .tensor import Tensor

# Set by engine.tensor once ``functional`` can be imported (it needs Tensor defined first).
F: Any = None


class TensorMethods:
    """The method half of Tensor: thin calls into the op table."""

    __slots__ = ()

    def abs(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.abs(self, *args, **kwargs)

    def add(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.add(self, *args, **kwargs)

    def amax(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.amax(self, *args, **kwargs)

    def amin(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.amin(self, *args, **kwargs)

    def argmax(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.argmax(self, *args, **kwargs)

    def argmin(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.argmin(self, *args, **kwargs)

    def broadcast_to(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.broadcast_to(self, *args, **kwargs)

    def clamp(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.clamp(self, *args, **kwargs)

    def clip(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.clip(self, *args, **kwargs)

    def clone(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.clone(self, *args, **kwargs)

    def cos(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.cos(self, *args, **kwargs)

    def div(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.div(self, *args, **kwargs)

    def dot(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.dot(self, *args, **kwargs)

    def eq(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.eq(self, *args, **kwargs)

    def erf(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.erf(self, *args, **kwargs)

    def exp(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.exp(self, *args, **kwargs)

    def expand_as(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.expand_as(self, *args, **kwargs)

    def flatten(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.flatten(self, *args, **kwargs)

    def ge(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.ge(self, *args, **kwargs)

    def gt(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.gt(self, *args, **kwargs)

    def le(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.le(self, *args, **kwargs)

    def log(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.log(self, *args, **kwargs)

    def log1p(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.log1p(self, *args, **kwargs)

    def log_softmax(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.log_softmax(self, *args, **kwargs)

    def logsumexp(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.logsumexp(self, *args, **kwargs)

    def lt(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.lt(self, *args, **kwargs)

    def matmul(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.matmul(self, *args, **kwargs)

    def max(self, *args: Any, **kwargs: Any) -> Any:
        return F.max(self, *args, **kwargs)

    def maximum(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.maximum(self, *args, **kwargs)

    def mean(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.mean(self, *args, **kwargs)

    def min(self, *args: Any, **kwargs: Any) -> Any:
        return F.min(self, *args, **kwargs)

    def minimum(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.minimum(self, *args, **kwargs)

    def mm(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.mm(self, *args, **kwargs)

    def mul(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.mul(self, *args, **kwargs)

    def ne(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.ne(self, *args, **kwargs)

    def neg(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.neg(self, *args, **kwargs)

    def norm(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.norm(self, *args, **kwargs)

    def pow(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.pow(self, *args, **kwargs)

    def prod(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.prod(self, *args, **kwargs)

    def reciprocal(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.reciprocal(self, *args, **kwargs)

    def relu(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.relu(self, *args, **kwargs)

    def select(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.select(self, *args, **kwargs)

    def sigmoid(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.sigmoid(self, *args, **kwargs)

    def sign(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.sign(self, *args, **kwargs)

    def sin(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.sin(self, *args, **kwargs)

    def softmax(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.softmax(self, *args, **kwargs)

    def sqrt(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.sqrt(self, *args, **kwargs)

    def square(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.square(self, *args, **kwargs)

    def squeeze(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.squeeze(self, *args, **kwargs)

    def sub(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.sub(self, *args, **kwargs)

    def sum(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.sum(self, *args, **kwargs)

    def t(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.t(self, *args, **kwargs)

    def tan(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.tan(self, *args, **kwargs)

    def tanh(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.tanh(self, *args, **kwargs)

    def transpose(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.transpose(self, *args, **kwargs)

    def unsqueeze(self, *args: Any, **kwargs: Any) -> Tensor:
        return F.unsqueeze(self, *args, **kwargs)

    def reshape(self, *shape: Any) -> Tensor:
        return F.reshape(self, *shape)

    def view(self, *shape: Any) -> Tensor:
        return F.view(self, *shape)

    def permute(self, *shape: Any) -> Tensor:
        return F.permute(self, *shape)

    def expand(self, *shape: Any) -> Tensor:
        return F.expand(self, *shape)

    def sum_to_size(self, *shape: Any) -> Tensor:
        return F.sum_to_size(self, *shape)

    def negative(self) -> Tensor:
        return F.neg(self)

    def multiply(self, other: Any = None) -> Tensor:
        return F.mul(self, other)

    def divide(self, other: Any = None) -> Tensor:
        return F.div(self, other)

    def subtract(self, other: Any = None) -> Tensor:
        return F.sub(self, other)

    def where(self, condition: Any, other: Any) -> Tensor:
        return F.where(condition, self, other)

    def zeros_like(self) -> Tensor:
        return F._const_like(self, 0)
