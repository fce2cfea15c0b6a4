"""Optimizers that live in a session: their state is session tensors, their config JSON.

An optimizer keeps, under names no client can write (``#opt/<name>/...``), an alias of
each parameter it updates and each of its state tensors (momentum buffers, Adam's
moments), so they survive the client dropping a name, count against the session's
byte quota and travel with the session through any store (the store persists
``session.names``). Its kind, groups and step counts are plain JSON in
``session.optimizers``. A step rebuilds ``engine.optim``'s optimizer over those tensors
and runs the engine's own update, so an optimizer behaves exactly as in process.
"""

from __future__ import annotations

import inspect
import math
from typing import Any

import engine
from engine.optim import BY_KIND
from engine.state import checkpoint, nbytes
from engine.tensor import Tensor

from .errors import ApiError
from .sessions import Session, commit, lookup
from .settings import Settings
from .views import tensor_data

__all__ = [
    "create",
    "info",
    "is_reserved",
    "load_state",
    "read_state",
    "remove",
    "step",
    "zero_grad",
]

PREFIX = "#opt/"
MAX_OPTIMIZERS = 16


def is_reserved(name: str) -> bool:
    """A name an optimizer keeps its tensors under (never a client's: not a valid Name)."""
    return name.startswith(PREFIX)


def _not_found(name: str) -> ApiError:
    return ApiError(404, "optimizer_not_found", f"no optimizer named {name!r} in this session")


def _config(session: Session, name: str) -> dict[str, Any]:
    cfg = session.optimizers.get(name)
    if cfg is None:
        raise _not_found(name)
    return cfg


def _param_key(name: str, slot: int) -> str:
    return f"{PREFIX}{name}/p{slot}"


def _state_key(name: str, slot: int, key: str) -> str:
    return f"{PREFIX}{name}/p{slot}/{key}"


def _ctor_options(kind: str, options: dict[str, Any]) -> dict[str, Any]:
    """The options the torch constructor takes (others are group bookkeeping)."""
    sig = inspect.signature(BY_KIND[kind].__init__)
    return {k: v for k, v in options.items() if k in sig.parameters and k != "params"}


def _normalized(options: dict[str, Any]) -> dict[str, Any]:
    out = dict(options)
    if isinstance(out.get("betas"), list):
        out["betas"] = tuple(out["betas"])
    return out


def _validate(kind: str, options: dict[str, Any], defaults: dict[str, Any]) -> None:
    """torch's constructor checks (unknown options, ValueError) as 400 invalid_argument."""
    unknown = sorted(set(options) - set(defaults) - {"initial_lr"})
    if unknown:
        raise ApiError(400, "invalid_argument", f"{kind}: unknown option(s) {unknown}")
    for key, value in options.items():
        _check_type(kind, key, value, defaults.get(key))
    probe = engine.zeros(1, requires_grad=True)
    try:
        BY_KIND[kind]([probe], **_ctor_options(kind, options))
    except (ValueError, TypeError) as exc:
        raise ApiError(400, "invalid_argument", f"{kind}: {exc}") from None


def _is_number(v: Any) -> bool:
    """A finite int or float that fits a double (JSON's ints are unbounded)."""
    if not isinstance(v, int | float) or isinstance(v, bool):
        return False
    try:
        return math.isfinite(float(v))
    except OverflowError:
        return False


def _check_type(kind: str, key: str, value: Any, default: Any) -> None:
    """Options take the kind of value torch's defaults have (no strings where numbers go)."""
    if key == "initial_lr":  # what a scheduler records in each group
        ok = _is_number(value)
    elif key == "betas":
        ok = isinstance(value, list | tuple) and len(value) == 2 and all(map(_is_number, value))
    elif isinstance(default, bool):
        ok = isinstance(value, bool)
    elif default is None:
        ok = value is None or isinstance(value, bool)
    else:
        ok = _is_number(value)
    if not ok:
        raise ApiError(400, "invalid_argument", f"{kind}: option {key!r} can't be {value!r}")


def _build(session: Session, name: str, cfg: dict[str, Any]) -> tuple[Any, list[list[int]]]:
    """The engine optimizer over the session's tensors, its state restored."""
    kind = cfg["kind"]
    slots = [g["slots"] for g in cfg["groups"]]
    groups = [
        {**_normalized(g["options"]), "params": [session.names[_param_key(name, s)] for s in gs]}
        for g, gs in zip(cfg["groups"], slots, strict=True)
    ]
    opt = BY_KIND[kind](groups, **_ctor_options(kind, _normalized(cfg["groups"][0]["options"])))
    # the saved state, through torch's own load_state_dict (slots are state_dict's indices)
    state: dict[int, dict[str, Any]] = {}
    for slot, meta in cfg["state"].items():
        s = int(slot)
        entry: dict[str, Any] = {k: session.names[_state_key(name, s, k)] for k in meta["keys"]}
        if "step" in meta:
            entry["step"] = meta["step"]
        state[s] = entry
    saved = opt.state_dict()
    opt.load_state_dict({"state": state, "param_groups": saved["param_groups"]})
    return opt, slots


def _state_tensors(session: Session, name: str) -> dict[str, Tensor]:
    head = f"{PREFIX}{name}/"
    return {k: t for k, t in session.names.items() if k.startswith(head) and k.count("/") == 3}


def create(session: Session, settings: Settings, body: Any) -> dict[str, Any]:
    """Validate like torch's constructor, alias the parameters, record the config."""
    kind: str = body.kind
    if len(session.optimizers) >= MAX_OPTIMIZERS and body.name not in session.optimizers:
        raise ApiError(
            400, "invalid_argument", f"a session holds at most {MAX_OPTIMIZERS} optimizers"
        )
    name = body.name or _new_name(session)
    if name in session.optimizers:
        remove(session, name)
    probe = engine.zeros(1, requires_grad=True)
    try:
        defaults = BY_KIND[kind](
            [probe], **_ctor_options(kind, _normalized(body.defaults))
        ).defaults
    except (ValueError, TypeError) as exc:
        raise ApiError(400, "invalid_argument", f"{kind}: {exc}") from None
    unknown = sorted(set(body.defaults) - set(defaults))
    if unknown:
        raise ApiError(400, "invalid_argument", f"{kind}: unknown option(s) {unknown}")
    groups: list[dict[str, Any]] = []
    bind: dict[str, Tensor] = {}
    seen: set[int] = set()
    slot = 0
    for g in body.param_groups:
        extra = dict(g.model_extra or {})
        options = {**defaults, **_normalized(extra)}
        _validate(kind, options, defaults)
        slots = []
        for pname in g.params:
            t = lookup(session, pname)
            if not t.is_leaf:
                raise ApiError(
                    400, "invalid_argument", f"can't optimize a non-leaf Tensor ({pname!r})"
                )
            if not t.dtype.is_floating_point:
                raise ApiError(
                    400,
                    "invalid_argument",
                    f"can't optimize {pname!r}: {t.dtype.name} is not floating",
                )
            if id(t) in seen:
                raise ApiError(
                    400,
                    "invalid_argument",
                    "some parameters appear in more than one parameter group",
                )
            seen.add(id(t))
            bind[_param_key(name, slot)] = t
            slots.append(slot)
            slot += 1
        groups.append({"options": _jsonable(options), "slots": slots, "names": list(g.params)})
    state: dict[str, Any] = {}
    cfg: dict[str, Any] = {"kind": kind, "groups": groups, "state": state, "steps": 0}
    opt, _ = _build_from(session, name, cfg, bind)
    for s_meta, tensors in _export_state(opt, name, cfg):
        bind.update(tensors)
        state.update(s_meta)
    commit(session, settings, bind)
    session.optimizers[name] = cfg
    return info(session, name)


def _build_from(
    session: Session, name: str, cfg: dict[str, Any], bind: dict[str, Tensor]
) -> tuple[Any, list[list[int]]]:
    saved = {k: session.names.get(k) for k in bind}
    session.names.update(bind)
    try:
        return _build(session, name, cfg)
    finally:
        for k, v in saved.items():
            if v is None:
                session.names.pop(k, None)
            else:
                session.names[k] = v


def _export_state(
    opt: Any, name: str, cfg: dict[str, Any]
) -> list[tuple[dict[str, Any], dict[str, Tensor]]]:
    """Each parameter's state as (JSON meta by slot, tensors by reserved name)."""
    out = []
    for index, st in opt.state_dict()["state"].items():
        meta: dict[str, Any] = {"keys": sorted(k for k in st if k != "step")}
        if "step" in st:
            meta["step"] = float(st["step"].item())
        tensors = {_state_key(name, index, k): st[k] for k in meta["keys"]}
        out.append(({str(index): meta}, tensors))
    return out


def _jsonable(options: dict[str, Any]) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in options.items()}


def _new_name(session: Session) -> str:
    i = len(session.optimizers)
    while f"opt{i}" in session.optimizers:
        i += 1
    return f"opt{i}"


def step(session: Session, settings: Settings, name: str, updates: list[dict[str, Any]] | None):
    """``opt.step()``: new options first (a scheduler's lr), then the engine's update."""
    cfg = _config(session, name)
    kind = cfg["kind"]
    if updates is not None:
        if len(updates) != len(cfg["groups"]):
            raise ApiError(
                400,
                "invalid_argument",
                f"param_groups: {len(updates)} given, the optimizer has {len(cfg['groups'])}",
            )
        merged = []
        for grp, upd in zip(cfg["groups"], updates, strict=True):
            options = {**grp["options"], **_normalized(upd)}
            _validate(kind, _normalized(options), {**grp["options"]})
            merged.append(_jsonable(options))
    opt, _slots = _build(session, name, cfg)
    if updates is not None:
        for g, options in zip(opt.param_groups, merged, strict=True):
            g.update(_normalized(options))
    params = [p for g in opt.param_groups for p in g["params"]]
    before = [checkpoint(p) for p in params]
    updated = sum(1 for p in params if p.grad is not None)
    for p in params:
        if p.grad is not None and p.grad.shape != p.shape:
            raise ApiError(400, "invalid_argument", "a parameter's grad has another shape")
    opt.step()
    bind: dict[str, Tensor] = {}
    new_state: dict[str, Any] = {}
    for s_meta, tensors in _export_state(opt, name, cfg):
        bind.update(tensors)
        new_state.update(s_meta)
    try:
        commit(session, settings, bind)
    except ApiError:
        for ckpt in before:
            ckpt.restore()
        raise
    if updates is not None:
        for grp, options in zip(cfg["groups"], merged, strict=True):
            grp["options"] = options
    cfg["state"] = new_state
    cfg["steps"] += 1
    return {"steps": cfg["steps"], "updated": updated, "bytes": session.bytes}


def zero_grad(session: Session, name: str, set_to_none: bool) -> None:
    """``opt.zero_grad()``: every parameter's ``.grad`` to None (or zeros)."""
    cfg = _config(session, name)
    for grp in cfg["groups"]:
        for s in grp["slots"]:
            p = session.names[_param_key(name, s)]
            if p.grad is None:
                continue
            if set_to_none:
                p.grad = None
            else:
                p.grad = engine.zeros_like(p.grad)


def info(session: Session, name: str) -> dict[str, Any]:
    cfg = _config(session, name)
    size = sum(nbytes(t) for t in _state_tensors(session, name).values())
    return {
        "name": name,
        "kind": cfg["kind"],
        "param_groups": [{**g["options"], "params": g["names"]} for g in cfg["groups"]],
        "steps": cfg["steps"],
        "state_bytes": size,
    }


def read_state(session: Session, name: str, encoding: str) -> dict[str, Any]:
    """``opt.state_dict()`` in torch's layout (``step`` a number, buffers TensorData)."""
    cfg = _config(session, name)
    state: dict[str, dict[str, Any]] = {}
    for grp in cfg["groups"]:
        for s in grp["slots"]:
            meta = cfg["state"].get(str(s))
            if meta is None:
                continue
            entry: dict[str, Any] = {}
            if "step" in meta:
                entry["step"] = meta["step"]
            for k in meta["keys"]:
                entry[k] = tensor_data(session.names[_state_key(name, s, k)], encoding)
            state[str(s)] = entry
    groups = [{**g["options"], "params": g["slots"]} for g in cfg["groups"]]
    return {"state": state, "param_groups": groups, "encoding": encoding}


def load_state(session: Session, settings: Settings, name: str, body: Any) -> dict[str, Any]:
    """``opt.load_state_dict(...)``: torch's layout, buffers as TensorData (any dtype)."""
    from .codecs import decode_tensor_data

    cfg = _config(session, name)
    kind = cfg["kind"]
    if len(body.param_groups) != len(cfg["groups"]):
        raise ApiError(
            400,
            "invalid_argument",
            f"param_groups: {len(body.param_groups)} given, the optimizer has {len(cfg['groups'])}",
        )
    merged = []
    for grp, new in zip(cfg["groups"], body.param_groups, strict=True):
        options = _normalized({k: v for k, v in new.items() if k != "params"})
        _validate(kind, options, grp["options"])
        merged.append(options)
    try:
        state = {
            int(k): {
                key: v if key == "step" else decode_tensor_data(v, settings.max_tensor_elements)
                for key, v in entry.items()
            }
            for k, entry in body.state.items()
        }
    except (TypeError, ValueError, KeyError) as exc:
        raise ApiError(400, "invalid_argument", f"state: {exc}") from None
    opt, _ = _build(session, name, cfg)
    groups = [
        {**options, "params": new.get("params", [])}
        for options, new in zip(merged, body.param_groups, strict=True)
    ]
    try:
        opt.load_state_dict({"state": state, "param_groups": groups})
    except (TypeError, ValueError, KeyError) as exc:
        raise ApiError(400, "invalid_argument", f"load_state_dict: {exc}") from None
    bind: dict[str, Tensor] = {}
    new_state: dict[str, Any] = {}
    for s_meta, tensors in _export_state(opt, name, cfg):
        bind.update(tensors)
        new_state.update(s_meta)
    stale = [k for k in _state_tensors(session, name) if k not in bind]
    commit(session, settings, bind, stale)
    for grp, options in zip(cfg["groups"], merged, strict=True):
        grp["options"] = _jsonable(options)
    cfg["state"] = new_state
    return info(session, name)


def remove(session: Session, name: str) -> None:
    """Delete the optimizer: its aliases and state tensors go with it."""
    _config(session, name)
    head = f"{PREFIX}{name}/"
    for k in [k for k in session.names if k.startswith(head)]:
        del session.names[k]
    del session.optimizers[name]
