"""``torch.nn.Module`` and its containers, written once for any tensor backend.

Nothing here imports the engine's tensors or ops: a module reaches its backend through
``self._B`` (a :class:`Backend`: the torch-like namespace, its ``nn.functional``, its
``Parameter`` class and ``nn.init``). ``engine.nn`` binds these classes to the engine;
the Python client binds the same classes to a session, so a model's code, its
parameter bookkeeping, ``state_dict`` and ``repr`` are one implementation for both.
"""

from __future__ import annotations

import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, ClassVar, NamedTuple

__all__ = ["Backend", "Module", "is_parameter"]


class Backend:
    """What a module needs from a tensor library: ``torch``-like names, bound once."""

    def __init__(self, torch: Any, functional: Any, parameter: type, init: Any = None) -> None:
        self.torch = torch  # factories (zeros, full_like, rand_like, ...), no_grad, is_tensor
        self.F = functional  # torch.nn.functional
        self.Parameter = parameter
        self.init = init  # torch.nn.init, bound to this backend

    def parameter(self, *shape: int, dtype: Any = None) -> Any:
        """A new parameter of zeros (a layer's initialisation then fills it in place)."""
        return self.Parameter(self.torch.zeros(*shape, dtype=dtype))

    def as_tensor(self, value: Any, like: Any) -> Any:
        """``value`` (a tensor or array-like, e.g. from another library's state_dict) as ours."""
        if self.torch.is_tensor(value):
            return value
        import numpy as np

        return self.torch.tensor(np.asarray(value), dtype=like.dtype)


def is_parameter(value: Any) -> bool:
    """A ``Parameter`` of any backend (its class carries the marker)."""
    return getattr(type(value), "_is_parameter", False) is True


def _addindent(s: str, spaces: int) -> str:
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    first = lines.pop(0)
    rest = [(spaces * " ") + line if line.strip() else "" for line in lines]
    return first + "\n" + "\n".join(rest)


class _IncompatibleKeys(NamedTuple):
    missing_keys: list[str]
    unexpected_keys: list[str]

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return (
            f"_IncompatibleKeys(missing_keys={self.missing_keys}, "
            f"unexpected_keys={self.unexpected_keys})"
        )


class Module:
    """Base class for all neural network modules (torch's ``nn.Module``)."""

    _B: ClassVar[Backend]  # set on the classes a backend binds
    training: bool
    _parameters: dict[str, Any]
    _buffers: dict[str, Any]
    _non_persistent_buffers_set: set[str]
    _modules: dict[str, Module | None]

    def __init__(self) -> None:
        if getattr(type(self), "_B", None) is None:
            raise TypeError(
                f"{type(self).__name__} is not bound to a tensor backend: subclass "
                "engine.nn.Module (or the client's torch.nn.Module)"
            )
        sa = object.__setattr__
        sa(self, "training", True)
        sa(self, "_parameters", {})
        sa(self, "_buffers", {})
        sa(self, "_non_persistent_buffers_set", set())
        sa(self, "_modules", {})

    forward: Callable[..., Any]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ------------------------------------------------------------ attributes
    def __setattr__(self, name: str, value: Any) -> None:
        params = self.__dict__.get("_parameters")
        if is_parameter(value):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._discard(name)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as parameter '{name}' "
                    "(torch.nn.Parameter or None expected)"
                )
            params[name] = None
        elif isinstance(value, Module):
            if params is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._discard(name)
            self._modules[name] = value
        elif params is not None and name in self._modules:
            if value is not None:
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as child module '{name}' "
                    "(torch.nn.Module or None expected)"
                )
            self._modules[name] = None
        elif params is not None and name in self._buffers:
            if value is not None and not self._B.torch.is_tensor(value):
                raise TypeError(
                    f"cannot assign '{type(value).__name__}' as buffer '{name}' "
                    "(torch.Tensor or None expected)"
                )
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def _discard(self, name: str) -> None:
        for d in (self.__dict__, self._parameters, self._buffers, self._modules):
            d.pop(name, None)
        self._non_persistent_buffers_set.discard(name)

    def __getattr__(self, name: str) -> Any:
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                return d[store][name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def __delattr__(self, name: str) -> None:
        for store in (self._parameters, self._buffers, self._modules):
            if name in store:
                del store[name]
                self._non_persistent_buffers_set.discard(name)
                return
        object.__delattr__(self, name)

    def _check_name(self, name: Any, kind: str) -> None:
        if not isinstance(name, str):
            raise TypeError(f"{kind} name should be a string. Got {type(name).__name__}")
        if "." in name:
            raise KeyError(f'{kind} name can\'t contain "."')
        if name == "":
            raise KeyError(f'{kind} name can\'t be empty string ""')

    def register_parameter(self, name: str, param: Any) -> None:
        """Add a parameter (or ``None``) under ``name``."""
        self._check_name(name, "parameter")
        if hasattr(self, name) and name not in self._parameters:
            raise KeyError(f"attribute '{name}' already exists")
        if param is not None and not is_parameter(param):
            raise TypeError(
                f"cannot assign '{type(param).__name__}' object to parameter '{name}' "
                "(torch.nn.Parameter or None required)"
            )
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor: Any, persistent: bool = True) -> None:
        """Add a buffer: state that is not a parameter (in ``state_dict`` when persistent)."""
        self._check_name(name, "buffer")
        if hasattr(self, name) and name not in self._buffers:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not self._B.torch.is_tensor(tensor):
            raise TypeError(
                f"cannot assign '{type(tensor).__name__}' object to buffer '{name}' "
                "(torch Tensor or None required)"
            )
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def register_module(self, name: str, module: Module | None) -> None:
        """Add a child module."""
        self.add_module(name, module)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a child module (``None`` keeps the slot)."""
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(module).__name__} is not a Module subclass")
        self._check_name(name, "module")
        if hasattr(self, name) and name not in self._modules:
            raise KeyError(f"attribute '{name}' already exists")
        self._modules[name] = module

    def get_submodule(self, target: str) -> Module:
        """The module at the dotted path ``target``."""
        mod: Module = self
        for item in target.split(".") if target else []:
            nxt = mod._modules.get(item)
            if nxt is None:
                raise AttributeError(f"{mod._get_name()} has no attribute `{item}`")
            mod = nxt
        return mod

    # ---------------------------------------------------------- traversal
    def _named_members(
        self,
        get: Callable[[Module], Iterable[tuple[str, Any]]],
        prefix: str,
        recurse: bool,
        remove_duplicate: bool = True,
    ) -> Iterator[tuple[str, Any]]:
        seen: set[int] = set()
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
        for mod_prefix, mod in mods if recurse else [(prefix, self)]:
            for k, v in get(mod):
                if v is None or (remove_duplicate and id(v) in seen):
                    continue
                seen.add(id(v))
                yield (mod_prefix + ("." if mod_prefix else "") + k, v)

    def named_parameters(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Any]]:
        return self._named_members(
            lambda m: m._parameters.items(), prefix, recurse, remove_duplicate
        )

    def parameters(self, recurse: bool = True) -> Iterator[Any]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(
        self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Any]]:
        return self._named_members(lambda m: m._buffers.items(), prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Any]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def named_children(self) -> Iterator[tuple[str, Module]]:
        seen: set[int] = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self) -> Iterator[Module]:
        for _, m in self.named_children():
            yield m

    def named_modules(
        self, memo: set[int] | None = None, prefix: str = "", remove_duplicate: bool = True
    ) -> Iterator[tuple[str, Module]]:
        if memo is None:
            memo = set()
        if id(self) in memo:
            return
        if remove_duplicate:
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from m.named_modules(memo, sub, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, m in self.named_modules():
            yield m

    def apply(self, fn: Callable[[Module], Any]) -> Module:
        """Call ``fn`` on every submodule (children first), then on self."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    # ------------------------------------------------------------- modes
    def train(self, mode: bool = True) -> Module:
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for m in self.children():
            m.train(mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of every parameter (to ``None`` by default, as torch)."""
        for p in self.parameters():
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                with self._B.torch.no_grad():
                    p.grad = self._B.torch.zeros_like(p.grad)

    def _cast(self, dtype: Any) -> Module:
        for m in self.modules():
            for k, p in m._parameters.items():
                if p is not None and p.is_floating_point() and p.dtype != dtype:
                    with self._B.torch.no_grad():
                        m._parameters[k] = self._B.Parameter(p.detach().to(dtype), p.requires_grad)
            for k, b in m._buffers.items():
                if b is not None and b.is_floating_point():
                    m._buffers[k] = b.to(dtype)
        return self

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """``to(dtype)``: floating parameters and buffers cast (devices are per session)."""
        dtype = kwargs.get("dtype")
        for a in args:
            if not isinstance(a, str) and dtype is None and a is not None:
                dtype = a
        return self if dtype is None else self._cast(dtype)

    def double(self) -> Module:
        return self._cast(self._B.torch.float64)

    def float(self) -> Module:
        return self._cast(self._B.torch.float32)

    def half(self) -> Module:
        return self._cast(self._B.torch.float16)

    # -------------------------------------------------------- state dict
    def _save_to_state_dict(self, dest: dict[str, Any], prefix: str, keep_vars: bool) -> None:
        for name, p in self._parameters.items():
            if p is not None:
                dest[prefix + name] = p if keep_vars else p.detach()
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                dest[prefix + name] = b if keep_vars else b.detach()

    def state_dict(
        self, *, destination: Any = None, prefix: str = "", keep_vars: bool = False
    ) -> dict[str, Any]:
        """Parameters and persistent buffers by torch's dotted names (detached)."""
        if destination is None:
            destination = OrderedDict()
        self._save_to_state_dict(destination, prefix, keep_vars)
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(
                    destination=destination, prefix=prefix + name + ".", keep_vars=keep_vars
                )
        return destination

    def load_state_dict(
        self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False
    ) -> _IncompatibleKeys:
        """Copy ``state_dict``'s values (tensors of any backend, or arrays) into this module."""
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        missing: list[str] = []
        errors: list[str] = []
        expected: set[str] = set()
        with self._B.torch.no_grad():
            for prefix_mod, mod in self.named_modules(remove_duplicate=False):
                prefix = prefix_mod + ("." if prefix_mod else "")
                local = itertools.chain(
                    mod._parameters.items(),
                    (
                        kv
                        for kv in mod._buffers.items()
                        if kv[0] not in mod._non_persistent_buffers_set
                    ),
                )
                for name, cur in local:
                    if cur is None:
                        continue
                    key = prefix + name
                    expected.add(key)
                    if key not in state_dict:
                        missing.append(key)
                        continue
                    src = self._B.as_tensor(state_dict[key], cur)
                    if tuple(src.shape) != tuple(cur.shape):
                        errors.append(
                            f"size mismatch for {key}: copying a param with shape "
                            f"{_size(src.shape)} from checkpoint, the shape in current model is "
                            f"{_size(cur.shape)}."
                        )
                        continue
                    cur.copy_(src)
        unexpected = [k for k in state_dict if k not in expected]
        if strict:
            if unexpected:
                errors.insert(
                    0,
                    "Unexpected key(s) in state_dict: "
                    + ", ".join(f'"{k}"' for k in unexpected)
                    + ". ",
                )
            if missing:
                errors.insert(
                    0,
                    "Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in missing) + ". ",
                )
        if errors:
            raise RuntimeError(
                f"Error(s) in loading state_dict for {self._get_name()}:\n\t" + "\n\t".join(errors)
            )
        return _IncompatibleKeys(missing, unexpected)

    # --------------------------------------------------------------- repr
    def _get_name(self) -> str:
        return type(self).__name__

    def extra_repr(self) -> str:
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({key}): " + _addindent(repr(m), 2) for key, m in self._modules.items()]
        lines = extra_lines + child_lines
        main = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                main += extra_lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"

    def __dir__(self) -> list[str]:
        keys = [*dir(type(self)), *self.__dict__, *self._parameters, *self._buffers]
        keys += list(self._modules)
        return sorted(k for k in set(keys) if not k[0].isdigit())


def _size(shape: Any) -> str:
    return f"torch.Size([{', '.join(str(int(s)) for s in shape)}])"
