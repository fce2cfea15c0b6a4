"""Benchmark the engine against PyTorch (CPU), HIPS autograd and hand-written NumPy.

Run from the repository root::

    python -m bench.bench_engine            # full run (well under 3 minutes on 2 cores)
    python -m bench.bench_engine --quick    # a smoke run of a few seconds (small sizes)

It prints the machine, the exact command, then ONE table, every number measured
side by side in this same run:

(a) a chain of 1000 elementwise ops on a (2, 2) float64 tensor, cycling through
    ``y + x``, ``y * x``, ``tanh(y)``, ``y * 0.5``, then ``.sum()`` and backward;
    microseconds per chain op (forward + backward) for the engine, torch and HIPS
    autograd (``autograd.grad``). Targets: engine <= 1.0x torch, <= 0.5x autograd.
(b) an MLP step: input 256x512, two 512x512 layers (``tanh(x @ W + b)`` each), MSE
    loss against a fixed target, float32, forward + backward (gradients of both
    weights and both biases); engine, torch and a hand-written NumPy forward +
    backward. Target: engine <= 1.05x NumPy.
(c) ``(x * x * 3).mean()`` forward + backward on 4M (2**22) float32 elements; engine,
    torch, the analytic NumPy (``loss = (x*x*3).mean(); grad = x * (6/n)``) and a
    hand-written NumPy that runs forward, then backward op by op as a tape would
    (``numpy-ops``). Targets: engine <= 1.5x the analytic, <= 1.0x the op-by-op one.
(d) the peak memory of one step of (b), by tracemalloc, for the engine and NumPy
    (NumPy reports its allocations to tracemalloc). torch's CPU allocator does not,
    so torch shows n/a.

Methodology: every case first checks the engine's gradients against the references
(and raises when they disagree), then warms up, then times interleaved rounds with
``time.perf_counter`` (so drift hits all alike): in each round every implementation
runs untimed for 0.25 s (so the previous library's spinning thread pool has gone
quiet), then a block of timed calls; the table shows each one's median. The garbage
collector stays on (it is part of a Python engine's real cost), after a
``gc.collect()`` per case. Threads: NumPy's BLAS thread count is read with
threadpoolctl when installed, else through OpenBLAS's own ``*_get_num_threads`` via
ctypes, and ``torch`` is set to the same count with ``torch.set_num_threads``
(``--threads N`` sets both). NumPy's elementwise ops are single-threaded whatever that
count; torch's may use its pool. The CPU time other processes took during the run is
printed: on a shared machine, ``--threads 1 --clock cpu`` (``time.process_time``, this
process's CPU time) gives steadier numbers than the wall clock.

``main(argv)`` runs it in-process (``tests/bench/test_bench_smoke.py`` calls
``main(["--quick"])``); a reference that cannot be imported is skipped with a note.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import gc
import math
import os
import sys
import tracemalloc
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

import engine

from .common import (
    Blas,
    OtherCpu,
    Timed,
    add_pairing_args,
    blas_name,
    check_close,
    fmt,
    header,
    paced,
    references,
    render_table,
    time_side_by_side,
    usable_cpus,
)

__all__ = ["main"]


# ------------------------------------------------------------------ configuration
@dataclass(frozen=True)
class Config:
    chain_ops: int
    mlp: tuple[int, int, int]  # (batch, in features, hidden = out features)
    big_n: int
    warmup: int
    rounds: int  # interleaved rounds per case
    block: int  # timed calls of each implementation per round
    settle_s: float  # untimed calls for at least this long before each block
    clock: str = "wall"  # "wall": time.perf_counter; "cpu": time.process_time


FULL = Config(
    chain_ops=1000,
    mlp=(256, 512, 512),
    big_n=4 * 1024 * 1024,
    warmup=3,
    rounds=5,
    block=5,
    settle_s=0.25,
)
QUICK = Config(
    chain_ops=100,
    mlp=(32, 64, 64),
    big_n=64 * 1024,
    warmup=1,
    rounds=1,
    block=3,
    settle_s=0.0,
)


def _peak_mb(fn: Callable[[], Any], setup: Callable[[], None] | None = None) -> float:
    """Peak traced memory (MB) above the level at the call, while ``fn`` runs and its
    result (gradients) is still alive."""
    if setup is not None:
        setup()
    gc.collect()
    was_tracing = tracemalloc.is_tracing()
    if not was_tracing:
        tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        base = tracemalloc.get_traced_memory()[0]
        result = fn()
        peak = tracemalloc.get_traced_memory()[1]
        del result
    finally:
        if not was_tracing:
            tracemalloc.stop()
    return (peak - base) / 1e6


def _np(t: Any) -> np.ndarray:
    """A host array from an engine or torch tensor (or an array)."""
    if hasattr(t, "detach"):
        t = t.detach()
    if hasattr(t, "numpy"):
        return np.asarray(t.numpy())
    return np.asarray(t)


# ---------------------------------------------------------------- results
@dataclass
class Case:
    key: str
    label: str
    unit: str
    engine: float
    torch: float | None
    ref_name: str  # "autograd" / "numpy"
    ref: float | None
    checks: list[tuple[str, float | None, float | None]]  # (ratio name, value, target)
    digits: int = 2


# -------------------------------------------------------------- (a) the chain
def _chain_ops(lib: str, mod: Any) -> list[Callable[[Any, Any], Any]]:
    tanh = mod.numpy.tanh if lib == "autograd" else mod.tanh
    return [
        lambda y, x: y + x,
        lambda y, x: y * x,
        lambda y, x: tanh(y),
        lambda y, x: y * 0.5,
    ]


def chain_input() -> np.ndarray:
    """(a)'s leaf values: a (2, 2) float64 array."""
    return np.random.default_rng(0).uniform(-0.9, 0.9, (2, 2))


def run_chain(ops: list[Callable[[Any, Any], Any]], x: Any, n: int) -> Any:
    """``n`` ops of (a)'s cycle on ``x``."""
    y = x
    for i in range(n):
        y = ops[i & 3](y, x)
    return y


def chain_step(ns: Any, n: int, x0: np.ndarray, host: bool = False) -> Callable[[], Any]:
    """One step of (a) on a torch-shaped namespace (the engine, torch, a client session):
    ``x.grad = None``, the chain, ``.sum().backward()``; returns ``x.grad`` (read to the host
    as ``x.grad.numpy()`` with ``host``). The leaf is created once and reused."""
    x = ns.tensor(x0, dtype=ns.float64, requires_grad=True)
    ops = _chain_ops("torch", ns)

    def step() -> Any:
        x.grad = None
        run_chain(ops, x, n).sum().backward()
        return x.grad.numpy() if host else x.grad

    return step


def case_chain(cfg: Config, torch: Any, ag: Any) -> Case:
    n = cfg.chain_ops
    x0 = chain_input()
    eng = chain_step(engine, n, x0)
    impls = [Timed("engine", eng)]
    want: dict[str, np.ndarray] = {}
    if torch is not None:
        tor = chain_step(torch, n, x0)
        impls.append(Timed("torch", tor))
        want["torch"] = _np(tor())
    if ag is not None:
        anp = ag.numpy
        a_ops = _chain_ops("autograd", ag)
        grad_fn = ag.grad(lambda x: anp.sum(run_chain(a_ops, x, n)))

        def hips() -> Any:
            return grad_fn(x0)

        impls.append(Timed("autograd", hips))
        want["autograd"] = np.asarray(hips())

    got = _np(eng())
    for ref, w in want.items():
        check_close(f"(a) engine vs {ref}", got, w, rtol=1e-9)

    time_side_by_side(impls, cfg)
    us = {t.name: t.median / n * 1e6 for t in impls}
    e, t_, a = us["engine"], us.get("torch"), us.get("autograd")
    return Case(
        "a",
        f"(a) {n}-op chain (2,2) f64 fwd+bwd",
        "µs/op",
        e,
        t_,
        "autograd",
        a,
        [
            ("engine/torch", None if t_ is None else e / t_, 1.0),
            ("engine/autograd", None if a is None else e / a, 0.5),
        ],
    )


# ---------------------------------------------------------------- (b) the MLP
def _mlp_data(cfg: Config) -> dict[str, np.ndarray]:
    batch, fin, hidden = cfg.mlp
    rng = np.random.default_rng(1)
    f32 = np.float32
    return {
        "X": rng.standard_normal((batch, fin), dtype=f32),
        "T": (0.5 * rng.standard_normal((batch, hidden))).astype(f32),
        "W1": (rng.standard_normal((fin, hidden)) / math.sqrt(fin)).astype(f32),
        "b1": (0.1 * rng.standard_normal(hidden)).astype(f32),
        "W2": (rng.standard_normal((hidden, hidden)) / math.sqrt(hidden)).astype(f32),
        "b2": (0.1 * rng.standard_normal(hidden)).astype(f32),
    }


_PARAMS = ("W1", "b1", "W2", "b2")


def numpy_mlp_step(
    X: np.ndarray, T: np.ndarray, W1: np.ndarray, b1: np.ndarray, W2: np.ndarray, b2: np.ndarray
) -> tuple[Any, ...]:
    """Hand-written forward + backward: loss, dW1, db1, dW2, db2."""
    h1 = np.tanh(X @ W1 + b1)
    h2 = np.tanh(h1 @ W2 + b2)
    d = h2 - T
    loss = np.mean(d * d)
    dz2 = d * (2.0 / d.size) * (1 - h2 * h2)  # d loss / d (h1 @ W2 + b2)
    dW2 = h1.T @ dz2
    db2 = dz2.sum(axis=0)
    dz1 = (dz2 @ W2.T) * (1 - h1 * h1)
    dW1 = X.T @ dz1
    db1 = dz1.sum(axis=0)
    return loss, dW1, db1, dW2, db2


def mlp_step(
    ns: Any, data: dict[str, np.ndarray], host: bool = False
) -> tuple[Callable[[], Any], dict[str, Any]]:
    """(b)'s step on a torch-shaped namespace (the engine, torch, a client session) and its
    parameters: zero the four grads, forward, MSE loss, backward; returns the loss (with
    ``host``, ``W1.grad`` read to the host instead)."""
    params = {k: ns.tensor(data[k], requires_grad=True) for k in _PARAMS}
    X, T = ns.tensor(data["X"]), ns.tensor(data["T"])
    F = ns.nn.functional

    def step() -> Any:
        for p in params.values():
            p.grad = None
        h1 = ns.tanh(X @ params["W1"] + params["b1"])
        h2 = ns.tanh(h1 @ params["W2"] + params["b2"])
        loss = F.mse_loss(h2, T)
        loss.backward()
        return params["W1"].grad.numpy() if host else loss

    return step, params


def _mlp_setup(cfg: Config, torch: Any) -> dict[str, Any]:
    data = _mlp_data(cfg)
    eng, ep = mlp_step(engine, data)

    def eng_clear() -> None:
        for p in ep.values():
            p.grad = None

    def num() -> Any:
        return numpy_mlp_step(*(data[k] for k in ("X", "T", *_PARAMS)))

    out: dict[str, Any] = {"data": data, "ep": ep, "eng": eng, "eng_clear": eng_clear, "num": num}
    if torch is not None:
        out["tor"], out["tp"] = mlp_step(torch, data)
    return out


def case_mlp(cfg: Config, torch: Any, s: dict[str, Any]) -> Case:
    loss_e = float(_np(s["eng"]()))
    ref = s["num"]()
    check_close("(b) loss engine vs numpy", loss_e, ref[0], rtol=1e-4)
    for k, g in zip(_PARAMS, ref[1:], strict=True):
        check_close(f"(b) d{k} engine vs numpy", _np(s["ep"][k].grad), g, rtol=1e-3)
    impls = [Timed("engine", s["eng"])]
    if torch is not None:
        s["tor"]()
        for k in _PARAMS:
            check_close(
                f"(b) d{k} engine vs torch", _np(s["ep"][k].grad), _np(s["tp"][k].grad), rtol=1e-3
            )
        impls.append(Timed("torch", s["tor"]))
    impls.append(Timed("numpy", s["num"]))

    time_side_by_side(impls, cfg)
    ms = {t.name: t.median * 1e3 for t in impls}
    e, t_, r = ms["engine"], ms.get("torch"), ms["numpy"]
    b, fin, hid = cfg.mlp
    return Case(
        "b",
        f"(b) MLP {b}x{fin}, 2x{hid}x{hid} tanh, MSE, f32 fwd+bwd",
        "ms",
        e,
        t_,
        "numpy",
        r,
        [("engine/numpy", e / r, 1.05), ("engine/torch", None if t_ is None else e / t_, None)],
    )


# ----------------------------------------------------------- (c) a big reduction
def case_big(cfg: Config, torch: Any) -> Case:
    n = cfg.big_n
    x0 = np.random.default_rng(2).standard_normal(n, dtype=np.float32)
    ex = engine.tensor(x0, requires_grad=True)

    def eng() -> Any:
        ex.grad = None
        loss = (ex * ex * 3).mean()
        loss.backward()
        return loss

    def num() -> Any:
        loss = (x0 * x0 * 3).mean()
        grad = x0 * np.float32(6.0 / n)
        return loss, grad

    def num_ops() -> Any:  # forward, then backward op by op as a tape would run it
        a = x0 * x0
        b = a * 3
        loss = b.mean()
        gb = np.full(b.shape, np.float32(1.0 / n))  # MeanBackward
        ga = gb * 3  # MulBackward (by the scalar)
        grad = ga * x0 + ga * x0  # MulBackward (x * x): both inputs, accumulated
        return loss, grad

    loss_e = float(_np(eng()))
    loss_n, grad_n = num()
    check_close("(c) loss engine vs numpy", loss_e, loss_n, rtol=1e-4)
    check_close("(c) grad engine vs numpy", _np(ex.grad), grad_n, rtol=1e-5)
    impls = [Timed("engine", eng)]
    if torch is not None:
        tx = torch.tensor(x0, requires_grad=True)

        def tor() -> Any:
            tx.grad = None
            loss = (tx * tx * 3).mean()
            loss.backward()
            return loss

        tor()
        check_close("(c) grad engine vs torch", _np(ex.grad), _np(tx.grad), rtol=1e-5)
        impls.append(Timed("torch", tor))
    check_close("(c) grad engine vs numpy op by op", _np(ex.grad), num_ops()[1], rtol=1e-5)
    impls.append(Timed("numpy", num))
    impls.append(Timed("numpy-ops", num_ops))

    time_side_by_side(impls, cfg)
    ms = {t.name: t.median * 1e3 for t in impls}
    e, t_, r, r_ops = ms["engine"], ms.get("torch"), ms["numpy"], ms["numpy-ops"]
    size = f"{n // (1024 * 1024)}M" if n >= 1024 * 1024 else f"{n // 1024}K"
    return Case(
        "c",
        f"(c) (x*x*3).mean() {size} f32 fwd+bwd",
        "ms",
        e,
        t_,
        "numpy",
        r,
        [
            ("engine/numpy", e / r, 1.5),
            ("engine/numpy-ops", e / r_ops, 1.0),
            ("engine/torch", None if t_ is None else e / t_, None),
        ],
    )


# ------------------------------------------------------------ (d) MLP memory
def case_memory(cfg: Config, s: dict[str, Any]) -> Case:
    def eng() -> Any:
        loss = s["eng"]()
        return loss, [p.grad for p in s["ep"].values()]

    e = min(_peak_mb(eng, s["eng_clear"]) for _ in range(2))
    r = min(_peak_mb(s["num"]) for _ in range(2))
    return Case(
        "d",
        "(d) peak memory of one (b) step (tracemalloc)",
        "MB",
        e,
        None,
        "numpy",
        r,
        [("engine/numpy", e / r if r else None, None)],
        digits=1,
    )


# ------------------------------------------------------------------ the report
def format_table(cases: Sequence[Case], torch_ok: bool, ag_ok: bool) -> str:
    cols = ["case", "unit", "engine", "torch", "reference", "ratio", "target", "met?"]
    rows: list[list[str]] = []
    for c in cases:
        if c.key == "d":
            tcell = "n/a"
        else:
            tcell = fmt(c.torch, c.digits, "skipped" if not torch_ok else "n/a")
        ref_ok = ag_ok if c.ref_name == "autograd" else True
        ref_cell = f"{c.ref_name} " + fmt(c.ref, c.digits, "skipped" if not ref_ok else "n/a")
        for i, (rname, rv, target) in enumerate(c.checks):
            ratio = f"{rname} " + ("n/a" if rv is None else f"{rv:.2f}x")
            tgt = "-" if target is None else f"<= {target:.2f}x"
            if target is None:
                met = "-"
            elif rv is None:
                met = "n/a"
            else:
                met = "yes" if rv <= target else "NO"
            if i == 0:
                rows.append(
                    [
                        c.label,
                        c.unit,
                        fmt(c.engine, c.digits, "n/a"),
                        tcell,
                        ref_cell,
                        ratio,
                        tgt,
                        met,
                    ]
                )
            else:
                rows.append(["", "", "", "", "", ratio, tgt, met])
    return render_table(cols, rows, right={2, 3})  # numeric columns


# -------------------------------------------------------------------- main
def _parse(argv: Sequence[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m bench.bench_engine", description=(__doc__ or "").split("\n")[0]
    )
    add_pairing_args(p, ("torch", "autograd"), "calls")
    p.add_argument(
        "--clock",
        choices=("wall", "cpu"),
        default="wall",
        help="wall: time.perf_counter (default); cpu: time.process_time, this process's CPU "
        "time, steadier on a busy machine but only meaningful with --threads 1",
    )
    return p.parse_args(list(argv))


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = _parse(argv)
    cfg = dataclasses.replace(paced(QUICK if args.quick else FULL, args), clock=args.clock)
    notes: list[str] = []
    refs = references(args, {"torch": "torch", "autograd": "HIPS autograd"}, notes)
    torch, ag = refs["torch"], refs["autograd"]

    blas = Blas()
    blas_threads = blas.get()
    threads = args.threads if args.threads is not None else blas_threads
    if threads is None:
        threads = os.cpu_count() or 1
        notes.append(
            f"NumPy's BLAS thread count is undetected (no threadpoolctl, no OpenBLAS symbol): "
            f"assumed OpenBLAS's default of one per CPU ({threads}); torch set to match"
        )

    title = "gradserve engine benchmark" + (
        " (--quick: small sizes, smoke run only)" if args.quick else ""
    )
    print("\n".join(header(title, "bench.bench_engine", argv)))
    others = OtherCpu()
    print(f"numpy   : {np.__version__}, BLAS {blas_name()}")
    print(f"torch   : {torch.__version__ if torch is not None else 'not used'}")
    ag_ver = "not used"
    if ag is not None:
        try:
            from importlib.metadata import version

            ag_ver = version("autograd")
        except Exception:
            ag_ver = "installed"
    print(f"autograd: {ag_ver}")

    if cfg.clock == "cpu" and threads != 1:
        notes.append(
            f"--clock cpu with {threads} threads sums the CPU time of all threads (spinning "
            "workers included): use it with --threads 1"
        )
    torch_threads_before = torch.get_num_threads() if torch is not None else None
    cases: list[Case] = []
    try:
        with blas.limit(threads) if args.threads is not None else contextlib.nullcontext(True):
            if torch is not None:
                torch.set_num_threads(threads)
            print(
                f"threads : NumPy BLAS {blas.get() if blas.get() is not None else threads} "
                f"(read by {blas.how}), torch intra-op {torch.get_num_threads() if torch else '-'}"
                " (torch.set_num_threads); NumPy elementwise ops are single-threaded"
            )
            print(
                f"method  : correctness checked first; warm-up {cfg.warmup}; median of "
                f"{cfg.rounds} interleaved rounds x {cfg.block} timed calls, each block after "
                f">= {cfg.settle_s:g} s untimed; "
                f"{'time.process_time (CPU)' if cfg.clock == 'cpu' else 'time.perf_counter'}; "
                "gc enabled"
            )
            print()
            gc.collect()
            cases.append(case_chain(cfg, torch, ag))
            gc.collect()
            mlp = _mlp_setup(cfg, torch)
            cases.append(case_mlp(cfg, torch, mlp))
            gc.collect()
            cases.append(case_big(cfg, torch))
            gc.collect()
            cases.append(case_memory(cfg, mlp))
    finally:
        if torch is not None and torch_threads_before is not None:
            torch.set_num_threads(torch_threads_before)

    print(format_table(cases, torch is not None, ag is not None))
    print()
    print(
        "notes   : (a) is total forward+backward time / chain length; (c) NumPy reference is "
        "loss=(x*x*3).mean(), grad=x*(6/n); numpy-ops: forward, then each op's backward in turn;"
    )
    print(
        "          (d) torch n/a: its CPU allocator does not report to tracemalloc; "
        "MB = peak above the step's start, gradients included."
    )
    busy = others.cpus()
    if busy is not None:
        print(f"          other processes used {busy:.2f} CPUs on average during the run.")
        if busy > 0.2:
            if cfg.clock == "cpu":
                advice = "CPU-time clock in use: steadier, though cache sharing still counts"
            else:
                advice = "rerun on an idle machine, or compare with --threads 1 --clock cpu"
            notes.append(
                f"the machine was busy ({busy:.2f} of {usable_cpus() or os.cpu_count()} CPUs "
                "taken by other processes): wall timings are noisy, multi-threaded torch's the "
                f"most; {advice}"
            )
    for n in notes:
        print(f"note    : {n}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
