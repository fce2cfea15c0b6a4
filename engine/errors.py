"""Engine exceptions: each carries the stable wire ``code`` (docs/api.md) and PyTorch's text.

Each class also derives from the builtin PyTorch raises for the same mistake, so
``except RuntimeError`` code written for torch keeps working::

    EngineError
    ├── InvalidArgumentError (RuntimeError)        invalid_argument
    │   ├── IndexOutOfRangeError (IndexError)      invalid_argument
    │   ├── EngineTypeError (TypeError)            invalid_argument
    │   ├── InvalidValueError (ValueError)         invalid_argument
    │   └── NotImplementedArgumentError            invalid_argument
    │       (NotImplementedError: an option torch has and gradserve lacks)
    ├── ShapeMismatchError (RuntimeError)          shape_mismatch
    │   └── ShapeValueError (ValueError)           shape_mismatch
    ├── DtypeMismatchError (RuntimeError)          dtype_mismatch
    ├── UnknownOpError (ValueError)                unknown_op
    ├── NotLeafError (RuntimeError)                not_leaf
    ├── LeafInplaceError (RuntimeError)            leaf_inplace
    ├── GradRequiresScalarError (RuntimeError)     grad_requires_scalar
    ├── DoesNotRequireGradError (RuntimeError)     does_not_require_grad
    ├── BackendUnavailableError (RuntimeError)     backend_unavailable
    ├── GraphFreedError (RuntimeError)             graph_freed
    ├── ModifiedInplaceError (RuntimeError)        modified_inplace
    ├── ValueOverflowError (RuntimeError)          overflow
    │   ├── LiteralOverflowError (ValueError)      overflow
    │   └── ScalarOverflowError (OverflowError)    overflow
    └── TensorTooLargeError (RuntimeError)         tensor_too_large
"""

from __future__ import annotations

__all__ = [
    "BackendUnavailableError",
    "DoesNotRequireGradError",
    "DtypeMismatchError",
    "EngineError",
    "EngineTypeError",
    "GradRequiresScalarError",
    "GraphFreedError",
    "IndexOutOfRangeError",
    "InvalidArgumentError",
    "InvalidValueError",
    "LiteralOverflowError",
    "LeafInplaceError",
    "ModifiedInplaceError",
    "NotImplementedArgumentError",
    "NotLeafError",
    "ScalarOverflowError",
    "ShapeMismatchError",
    "ShapeValueError",
    "TensorTooLargeError",
    "UnknownOpError",
    "ValueOverflowError",
    "GRAPH_FREED_MESSAGE",
]


class EngineError(Exception):
    """Base of every engine error; ``code`` and ``status`` are the wire contract's."""

    code = "invalid_argument"
    status = 400

    @property
    def detail(self) -> str:
        return str(self.args[0]) if self.args else self.code


class InvalidArgumentError(EngineError, RuntimeError):
    code = "invalid_argument"


class IndexOutOfRangeError(InvalidArgumentError, IndexError):
    code = "invalid_argument"


class EngineTypeError(InvalidArgumentError, TypeError):
    code = "invalid_argument"


class InvalidValueError(InvalidArgumentError, ValueError):
    code = "invalid_argument"


class NotImplementedArgumentError(InvalidArgumentError, NotImplementedError):
    """An argument value torch accepts and gradserve does not implement (``pad(mode=...)``),
    or torch's own NotImplementedError for an unknown one."""

    code = "invalid_argument"


class ShapeMismatchError(EngineError, RuntimeError):
    code = "shape_mismatch"


class ShapeValueError(ShapeMismatchError, ValueError):
    code = "shape_mismatch"


class DtypeMismatchError(EngineError, RuntimeError):
    code = "dtype_mismatch"


class UnknownOpError(EngineError, ValueError):
    code = "unknown_op"


class NotLeafError(EngineError, RuntimeError):
    code = "not_leaf"


class LeafInplaceError(EngineError, RuntimeError):
    code = "leaf_inplace"


class GradRequiresScalarError(EngineError, RuntimeError):
    code = "grad_requires_scalar"


class DoesNotRequireGradError(EngineError, RuntimeError):
    code = "does_not_require_grad"


class BackendUnavailableError(EngineError, RuntimeError):
    code = "backend_unavailable"


class GraphFreedError(EngineError, RuntimeError):
    code = "graph_freed"
    status = 409


class ModifiedInplaceError(EngineError, RuntimeError):
    code = "modified_inplace"
    status = 409


class ValueOverflowError(EngineError, RuntimeError):
    """A number that does not fit the dtype it must become (torch refuses, never wraps)."""

    code = "overflow"


class LiteralOverflowError(ValueOverflowError, ValueError):
    """An integer literal in tensor data beyond int64 (torch's ValueError)."""


class ScalarOverflowError(ValueOverflowError, OverflowError):
    """A Python int operand beyond what a c10::Scalar holds (torch's OverflowError)."""


class TensorTooLargeError(EngineError, RuntimeError):
    code = "tensor_too_large"
    status = 413


GRAPH_FREED_MESSAGE = (
    "Trying to backward through the graph a second time (or directly access saved tensors "
    "after they have already been freed). Saved intermediate values of the graph are freed "
    "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
    "backward through the graph a second time or if you need to access saved tensors after "
    "calling backward."
)
