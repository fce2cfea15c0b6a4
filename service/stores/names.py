"""A session's names, read from the store on first use (``LazyNames``).

A store that keeps each tensor under its own key (Redis) need not read a whole session to
serve a request that touches two of its names: ``LazyNames`` is the session's ``names``
dict, holding what was read so far and asking its ``Fetcher`` for the rest on first use
(a name looked up, probed, or every name when the dict is iterated). It also records what
the request did with it, so the store writes back only that: the tensors it handed out
(``accessed``: in-place ops, backward and ``.grad`` change only tensors reached through
them) and the names bound or unbound (``dirty``).

It is a ``dict`` so that routes and the executor use it as they use the memory store's
plain dict; every reading and writing method is overridden (a name not read yet is never
mistaken for an absent one).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol

from engine.tensor import Tensor

__all__ = ["Fetcher", "LazyNames"]

_MISSING: Any = object()


class Fetcher(Protocol):
    """Reads a session's names from its store (synchronously: it runs inside a request)."""

    def probe(self, name: str) -> bool:
        """Whether the store binds ``name`` (without reading its tensor)."""
        ...

    def probe_many(self, names: list[str]) -> list[bool]:
        """``probe`` for each name, at once."""
        ...

    def fetch(self, name: str) -> Tensor | None:
        """The tensor the store binds to ``name`` (with its graph), or None."""
        ...

    def fetch_all(self) -> dict[str, Tensor]:
        """Every name the store binds, with its tensor."""
        ...


class LazyNames(dict[str, Tensor]):
    """Names to tensors, read on first use; see the module docstring."""

    def __init__(self, fetcher: Fetcher | None = None, count: int = 0) -> None:
        super().__init__()
        # None: every name the store binds is in the dict already
        self.fetcher = fetcher if count > 0 else None
        self._count = count  # names bound, while not every one is read
        self._absent: set[str] = set()  # names known unbound (read, or unbound here)
        self._present: set[str] = set()  # names known bound but not read yet
        self.accessed: dict[str, Tensor] = {}  # the tensor each handed-out name had
        self.dirty: set[str] = set()  # names bound or unbound since the last reset

    @property
    def complete(self) -> bool:
        """Whether every bound name is in the dict (nothing more to read)."""
        return self.fetcher is None

    def reset(self) -> None:
        """The store wrote what changed: start recording afresh."""
        self.accessed.clear()
        self.dirty.clear()

    # ---------------------------------------------------------------- reading
    def _has(self, name: str) -> bool:
        if dict.__contains__(self, name):
            return True
        if self.fetcher is None or name in self._absent:
            return False
        if name in self._present:
            return True
        if self.fetcher.probe(name):
            self._present.add(name)
            return True
        self._absent.add(name)
        return False

    def _read(self, name: str) -> Any:
        t = dict.get(self, name, _MISSING)
        if t is _MISSING and self.fetcher is not None and name not in self._absent:
            got = self.fetcher.fetch(name)
            self._present.discard(name)
            if got is None:
                self._absent.add(name)
            else:
                dict.__setitem__(self, name, got)
                t = got
        if t is not _MISSING:
            self.accessed.setdefault(name, t)
        return t

    def probe(self, names: Iterable[str]) -> None:
        """Learn at once which of these names are bound (one read for all, not one each)."""
        if self.fetcher is None:
            return
        unknown = [
            n
            for n in dict.fromkeys(names)
            if not dict.__contains__(self, n) and n not in self._absent and n not in self._present
        ]
        if unknown:
            for n, bound in zip(unknown, self.fetcher.probe_many(unknown), strict=True):
                (self._present if bound else self._absent).add(n)

    def load_all(self) -> None:
        """Read every name the store binds (those bound or unbound here stay as they are)."""
        if self.fetcher is None:
            return
        for name, t in self.fetcher.fetch_all().items():
            if name not in self.dirty and not dict.__contains__(self, name):
                dict.__setitem__(self, name, t)
        self.fetcher = None
        self._present.clear()
        self._absent.clear()

    def _all(self) -> None:
        self.load_all()
        for name, t in dict.items(self):
            self.accessed.setdefault(name, t)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self._has(name)

    def __getitem__(self, name: str) -> Tensor:
        t = self._read(name)
        if t is _MISSING:
            raise KeyError(name)
        return t

    def get(self, name: str, default: Any = None) -> Any:
        t = self._read(name)
        return default if t is _MISSING else t

    def __len__(self) -> int:
        return dict.__len__(self) if self.fetcher is None else self._count

    def __iter__(self) -> Iterator[str]:
        self.load_all()
        return iter(list(dict.keys(self)))

    def keys(self) -> Any:
        self.load_all()
        return dict.keys(self)

    def values(self) -> Any:
        self._all()
        return dict.values(self)

    def items(self) -> Any:
        self._all()
        return dict.items(self)

    def copy(self) -> dict[str, Tensor]:
        return dict(self.items())

    def __eq__(self, other: object) -> bool:
        self.load_all()
        return dict.__eq__(self, other)

    def __ne__(self, other: object) -> bool:
        return not self == other

    __hash__ = None

    def __repr__(self) -> str:
        more = "" if self.fetcher is None else f", {self._count - dict.__len__(self)} not read"
        return f"LazyNames({dict.__repr__(self)}{more})"

    # ---------------------------------------------------------------- writing
    def __setitem__(self, name: str, t: Tensor) -> None:
        if not self._has(name):
            self._count += 1
        elif not dict.__contains__(self, name):
            self._present.discard(name)
        dict.__setitem__(self, name, t)
        self._absent.discard(name)
        self.dirty.add(name)

    def __delitem__(self, name: str) -> None:
        if not self._has(name):
            raise KeyError(name)
        dict.pop(self, name, None)
        self._present.discard(name)
        self._count -= 1
        if self.fetcher is not None:
            self._absent.add(name)
        self.dirty.add(name)

    def pop(self, name: str, default: Any = _MISSING) -> Any:
        t = self._read(name)
        if t is _MISSING:
            if default is _MISSING:
                raise KeyError(name)
            return default
        del self[name]
        return t

    def popitem(self) -> tuple[str, Tensor]:
        self._all()
        name = next(reversed(list(dict.keys(self))))
        return name, self.pop(name)

    def setdefault(self, name: str, default: Any = None) -> Any:
        t = self._read(name)
        if t is _MISSING:
            self[name] = default
            return default
        return t

    def update(self, other: Any = (), /, **kw: Tensor) -> None:
        pairs: Iterable[tuple[str, Tensor]] = other.items() if isinstance(other, Mapping) else other
        for name, t in pairs:
            self[name] = t
        for name, t in kw.items():
            self[name] = t

    def clear(self) -> None:
        self.load_all()
        for name in list(dict.keys(self)):
            self.dirty.add(name)
        dict.clear(self)
        self._count = 0
