"""What every benchmark shares: server processes, machine info, the table, same-run pairing.

The benchmarks are modules of the ``bench`` package, run from the repository root as
``python -m bench.bench_engine`` (``bench_service``, ``bench_client``, ``bench_scale``), so
``import engine`` is always the repository's package. The test kit (``tests/_kit``) starts its
``gradserve serve`` processes with :class:`Process` too.

* processes: :func:`free_port`, :func:`gradserve_argv`, :func:`clean_env`, :class:`Process`
  (a subprocess on a free loopback port, in its own process group, its output in a temporary
  file, stopped with SIGTERM then SIGKILL and waited for), :func:`sigterm_exits`;
* the machine: :func:`header`, :func:`cpu_model`, :func:`version`, :func:`tree`,
  :class:`OtherCpu`, :func:`machine_busy_seconds`, :class:`Blas`, :func:`blas_name`;
* the table: :func:`render_table`, :func:`met`, :func:`fmt`;
* same-run pairing: :class:`Timed` and :func:`time_side_by_side` (interleaved rounds, each
  block after the previous library's thread pool has gone quiet), :func:`check_close`.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import dataclasses
import gc
import importlib
import os
import platform
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Protocol, TypeVar

import httpx
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
HOST = "127.0.0.1"  # loopback only
_C = TypeVar("_C")

# The tutorial's graph request (docs/tutorial.md, steps 2-3), on a session holding
# x = ones(2, 2) with requires_grad: what the service and scale benchmarks load the server with.
TUTORIAL_GRAPH: dict[str, Any] = {
    "nodes": [
        {"name": "y", "op": "add", "args": ["x", 2]},
        {"name": "z", "op": "mul", "args": ["y", "y"]},
        {"name": "z", "op": "mul", "args": ["z", 3]},
        {"name": "out", "op": "mean", "args": ["z"]},
    ],
    "return": ["out"],
    "include": ["data"],
}

__all__ = [
    "HOST",
    "ROOT",
    "TUTORIAL_GRAPH",
    "Blas",
    "OtherCpu",
    "Process",
    "Timed",
    "add_pairing_args",
    "blas_name",
    "check_close",
    "clean_env",
    "command",
    "cpu_model",
    "fmt",
    "free_port",
    "gradserve_argv",
    "gradserve_head",
    "header",
    "machine_busy_seconds",
    "met",
    "paced",
    "references",
    "render_table",
    "sigterm_exits",
    "time_side_by_side",
    "tree",
    "try_import",
    "usable_cpus",
    "version",
    "versions",
]


# ------------------------------------------------------------------ processes
def free_port() -> int:
    """A loopback TCP port nothing listens on now (the OS picks it for 127.0.0.1:0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return int(s.getsockname()[1])


def _child_setup() -> None:  # pragma: no cover - runs in the child
    os.setpgrp()  # its own process group: uvicorn's worker processes join it
    # Linux: the child gets SIGTERM if the process that started it dies without cleaning up.
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def gradserve_head() -> list[str]:
    """The ``gradserve`` console script next to this interpreter, else on PATH, else
    ``python -m service``."""
    beside = shutil.which("gradserve", path=str(Path(sys.executable).parent))
    found = beside or shutil.which("gradserve")
    return [found] if found else [sys.executable, "-m", "service"]


def gradserve_argv(
    port: int, *args: str, command: Sequence[str] | None = None, log_level: str = "warning"
) -> list[str]:
    """``gradserve serve --host 127.0.0.1 --port PORT --log-level L ARGS...``."""
    head = list(command) if command is not None else gradserve_head()
    return [*head, "serve", "--host", HOST, "--port", str(port), "--log-level", log_level, *args]


def clean_env(extra: Mapping[str, str] | None = None, threads: int | None = None) -> dict[str, str]:
    """This environment without any ``GRADSERVE_*`` variable (the defaults apply, whatever the
    caller's shell has), the repository first on PYTHONPATH, then ``extra``. ``threads`` sets
    the child's BLAS pool size."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("GRADSERVE_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])])
    if threads is not None:
        for var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(threads)
    env.update(extra or {})
    return env


class Process:
    """A subprocess on a free loopback port, in its own process group; output to a temp file.

    ``build(port)`` gives its command line. Nothing runs until :meth:`launch` (or
    :meth:`start`, which also waits until ``ready_path`` answers 200, moving to another port
    when the chosen one was taken meanwhile). :meth:`stop` sends SIGTERM, then SIGKILL after
    ``timeout``, waits, and kills what is left of the group (the workers of ``--workers N``).
    """

    def __init__(
        self,
        build: Callable[[int], list[str]],
        *,
        name: str = "gradserve",
        env: Mapping[str, str] | None = None,
        cwd: Path = ROOT,
        ready_path: str = "/healthz",
    ) -> None:
        self.build = build
        self.name = name
        self.env = dict(env) if env is not None else clean_env()
        self.cwd = cwd
        self.ready_path = ready_path
        self.port = free_port()
        self.argv = build(self.port)
        self.proc: subprocess.Popen[bytes] | None = None
        self.pid = 0
        self.returncode: int | None = None
        self._log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def launch(self) -> Process:
        """Start the process; do not wait for it."""
        self.proc = subprocess.Popen(
            self.argv,
            cwd=str(self.cwd),
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=_child_setup if sys.platform.startswith("linux") else None,
        )
        self.pid = self.proc.pid
        return self

    def check_alive(self) -> None:
        """Raise RuntimeError, with the process's output, when it has exited."""
        assert self.proc is not None, f"{self.name} was never launched"
        if self.proc.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with {self.proc.returncode} before it was ready "
                f"({shlex.join(self.argv)}):\n{self.log()}"
            )

    def wait_until(self, probe: Callable[[], bool], timeout: float) -> Process:
        """Poll ``probe`` until it is true; RuntimeError when the process exits or time is up."""
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            self.check_alive()
            try:
                if probe():
                    return self
            except (OSError, httpx.HTTPError) as exc:
                last = str(exc)
            time.sleep(0.05)
        raise RuntimeError(
            f"{self.name} did not answer in {timeout:g}s ({shlex.join(self.argv)}; {last}):\n"
            f"{self.log()}"
        )

    def wait_http(self, path: str | None = None, timeout: float = 60.0) -> Process:
        """Wait until ``GET path`` (default: ``ready_path``) answers 200."""
        url = self.url + (path or self.ready_path)
        return self.wait_until(lambda: httpx.get(url, timeout=2.0).status_code == 200, timeout)

    def start(self, timeout: float = 60.0, attempts: int = 3) -> Process:
        """Launch and wait until ready; another port when the chosen one was taken first."""
        for attempt in range(attempts):
            self.launch()
            try:
                return self.wait_http(timeout=timeout)
            except RuntimeError:
                taken = "address already in use" in self.log().lower()
                self.stop()
                if attempt == attempts - 1 or not taken:
                    raise
                self.port = free_port()
                self.argv = self.build(self.port)
                self._log.seek(0)
                self._log.truncate()
        raise AssertionError("unreachable")

    def signal(self, signum: int = signal.SIGTERM) -> None:
        assert self.proc is not None
        self.proc.send_signal(signum)

    def wait(self, timeout: float) -> int:
        assert self.proc is not None
        self.returncode = self.proc.wait(timeout)
        return self.returncode

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs (a crashed server)."""
        assert self.proc is not None
        self.proc.kill()
        self.returncode = self.proc.wait(10)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM, then SIGKILL if it has not exited within ``timeout``; its exit status."""
        proc = self.proc
        if proc is None:
            return self.returncode
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout)
        # processes left in the group it leads (the workers of `--workers N`)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        self.returncode = proc.returncode
        return self.returncode

    def log(self, limit: int = 20_000) -> str:
        """The last ``limit`` characters the process wrote (stdout and stderr)."""
        with contextlib.suppress(ValueError, OSError):  # closed
            self._log.flush()
            self._log.seek(0, os.SEEK_END)
            size = self._log.tell()
            self._log.seek(max(0, size - 4 * limit))
            return self._log.read().decode("utf-8", "replace")[-limit:]
        return ""

    stderr = log

    def close(self) -> None:
        """Stop it and drop its output."""
        self.stop()
        self._log.close()

    def cpu_seconds(self) -> float:
        """User + system CPU of the process and every live descendant (uvicorn's workers)."""
        return sum(_cpu_of(p) for p in _tree_pids(self.pid))

    def rss_bytes(self) -> int:
        """Resident memory of the process (psutil when installed, else /proc)."""
        psutil, _ = try_import("psutil")
        if psutil is not None:
            return int(psutil.Process(self.pid).memory_info().rss)
        with open(f"/proc/{self.pid}/status") as f:
            for ln in f:
                if ln.startswith("VmRSS:"):
                    return int(ln.split()[1]) * 1024
        raise RuntimeError("no VmRSS in /proc/<pid>/status")


def _cpu_of(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as f:
            rest = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(rest[11]) + int(rest[12])) / os.sysconf("SC_CLK_TCK")


def _tree_pids(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with (
                contextlib.suppress(OSError, IndexError, ValueError),
                open(f"/proc/{entry}/stat") as f,
            ):
                parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
    out, frontier = [root], [root]
    while frontier:
        frontier = [p for p, pp in parents.items() if pp in frontier]
        out += frontier
    return out


@contextlib.contextmanager
def sigterm_exits() -> Iterator[None]:
    """SIGTERM unwinds like Ctrl-C, so the servers are stopped by the finally blocks."""

    def _exit(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    try:
        previous = signal.signal(signal.SIGTERM, _exit)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


# ------------------------------------------------------------------ the machine
def try_import(name: str) -> tuple[Any, str | None]:
    """The module, or None and why (an optional reference is skipped with a note)."""
    try:
        return importlib.import_module(name), None
    except Exception as exc:  # ImportError, or a broken install
        return None, f"{name} is not importable ({type(exc).__name__}: {exc}); skipped"


def cpu_model() -> str:
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as f:
        for ln in f:
            if ln.startswith("model name"):
                return ln.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def command(module: str, argv: Sequence[str]) -> str:
    """The command line that reproduces this run: ``python -m bench.<name> ARGS``."""
    return shlex.join(["python", "-m", module, *argv])


def version(name: str) -> str:
    """An installed distribution's version, or ``not installed``."""
    try:
        from importlib.metadata import version as _version

        return _version(name)
    except Exception:
        return "not installed"


def versions(*names: str) -> str:
    """``name version`` of each installed distribution, comma-separated."""
    return ", ".join(f"{name} {version(name)}" for name in names)


def tree() -> str:
    """The checkout measured: HEAD and whether it has uncommitted changes (read-only git)."""

    def git(*args: str) -> str:
        return subprocess.run(
            ["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=10, check=True
        ).stdout.strip()

    try:
        head = git("rev-parse", "--short", "HEAD")
        dirty = git(
            "--no-optional-locks",
            "status",
            "--porcelain",
            "--untracked-files=no",
            "--",
            "service",
            "engine",
            "client",
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"
    return head + (" + uncommitted changes in client/, service/ or engine/" if dirty else "")


def usable_cpus() -> int | None:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return None


def header(title: str, module: str, argv: Sequence[str]) -> list[str]:
    """The lines every benchmark prints first: what ran, with what, where, how loaded."""
    lines = [
        title,
        f"command : {command(module, argv)}",
        f"python  : {platform.python_version()} ({sys.executable})",
        f"machine : {platform.system()} {platform.release()} {platform.machine()}, "
        f"{cpu_model()}, os.cpu_count()={os.cpu_count()}, usable={usable_cpus()}",
    ]
    with contextlib.suppress(OSError):
        la = os.getloadavg()
        lines.append(f"load    : {la[0]:.2f} {la[1]:.2f} {la[2]:.2f} (1/5/15 min, before the run)")
    return lines


def machine_busy_seconds() -> float | None:
    """CPU seconds every process on the machine has used (the first line of /proc/stat)."""
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    idle = v[3] + (v[4] if len(v) > 4 else 0)  # idle + iowait
    return (sum(v[:8]) - idle) / os.sysconf("SC_CLK_TCK")


class OtherCpu:
    """CPU time the rest of the machine used since construction (Linux /proc/stat)."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()
        self.busy0 = machine_busy_seconds()
        self.own0 = self._own()

    @staticmethod
    def _own() -> float:
        t = os.times()
        return t.user + t.system

    def cpus(self) -> float | None:
        """Average number of CPUs other processes kept busy (None where unknown)."""
        busy1 = machine_busy_seconds()
        if self.busy0 is None or busy1 is None:
            return None
        wall = time.perf_counter() - self.t0
        other = (busy1 - self.busy0) - (self._own() - self.own0)
        return max(other, 0.0) / wall if wall > 0 else None


class Blas:
    """NumPy's BLAS thread count: threadpoolctl when installed, else OpenBLAS via ctypes."""

    _GET = (
        "scipy_openblas_get_num_threads64_",
        "scipy_openblas_get_num_threads",
        "openblas_get_num_threads64_",
        "openblas_get_num_threads",
    )

    def __init__(self) -> None:
        self.how = "undetected"
        self._tpc: Any = None
        self._lib: Any = None
        self._get: str | None = None
        tpc, _ = try_import("threadpoolctl")
        if tpc is not None:
            self._tpc = tpc
            self.how = "threadpoolctl"
            return
        for path in self._loaded_openblas():
            try:
                lib = ctypes.CDLL(path)
            except OSError:
                continue
            for sym in self._GET:
                if hasattr(lib, sym):
                    self._lib, self._get = lib, sym
                    self.how = f"ctypes {sym}() (threadpoolctl not installed)"
                    return

    @staticmethod
    def _loaded_openblas() -> list[str]:
        try:
            with open("/proc/self/maps") as f:
                libs = {line.split()[-1] for line in f if "openblas" in line.lower()}
        except OSError:
            return []
        np_dir = str(Path(np.__file__).resolve().parent.parent)
        return sorted(libs, key=lambda p: not p.startswith(np_dir))  # NumPy's own first

    def _numpy_entries(self) -> list[dict[str, Any]]:
        info = self._tpc.threadpool_info()
        blas = [i for i in info if i.get("user_api") == "blas"]
        mine = [i for i in blas if "numpy" in str(i.get("filepath", ""))]
        return mine or blas

    def get(self) -> int | None:
        if self._tpc is not None:
            entries = self._numpy_entries()
            return int(entries[0]["num_threads"]) if entries else None
        if self._lib is not None and self._get is not None:
            return int(getattr(self._lib, self._get)())
        return None

    @contextlib.contextmanager
    def limit(self, n: int) -> Iterator[bool]:
        """Set the count for the block; yields whether it could be set."""
        if self._tpc is not None:
            with self._tpc.threadpool_limits(limits=n, user_api="blas"):
                yield True
            return
        setter = self._get.replace("get_", "set_") if self._get else None
        if self._lib is not None and setter and hasattr(self._lib, setter):
            old = self.get()
            getattr(self._lib, setter)(ctypes.c_int(n))
            try:
                yield True
            finally:
                getattr(self._lib, setter)(ctypes.c_int(old or n))
            return
        yield False


def blas_name() -> str:
    try:
        cfg: Any = np.show_config(mode="dicts")  # type: ignore[func-returns-value]
        blas = cfg["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:
        return "unknown"


# ------------------------------------------------------------------ the table
def render_table(header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int]) -> str:
    """Columns padded to their widest cell (``right``: right-aligned), a dashed rule under
    the header, two spaces between columns, no trailing blanks."""
    widths = [max(len(r[j]) for r in [header, *rows]) for j in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            c.rjust(widths[j]) if j in right else c.ljust(widths[j]) for j, c in enumerate(cells)
        ).rstrip()

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *map(line, rows)])


def met(ok: bool | None) -> str:
    """A target's cell: ``yes``, ``NO``, or ``-`` where there is no target."""
    return "-" if ok is None else ("yes" if ok else "NO")


def fmt(v: float | None, digits: int, missing: str) -> str:
    return missing if v is None else f"{v:.{digits}f}"


# ------------------------------------------------------------------ same-run pairing
class Pacing(Protocol):
    warmup: int  # untimed calls of each implementation first
    rounds: int  # interleaved rounds
    block: int  # timed calls of each implementation per round
    settle_s: float  # untimed calls for at least this long before each block
    clock: str  # "wall": time.perf_counter; "cpu": time.process_time


@dataclass
class Timed:
    name: str
    fn: Callable[[], Any]
    times: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.times)


def time_side_by_side(impls: Sequence[Timed], cfg: Pacing) -> None:
    """Warm each up, then ``cfg.rounds`` interleaved rounds of ``cfg.block`` timed calls each,
    so that drift in the machine's load hits every implementation alike.

    Before its block, each implementation runs untimed for at least ``cfg.settle_s``:
    NumPy's OpenBLAS workers keep spinning for up to ~0.1 s (2**28 cycles) after their
    last job, torch's OpenMP workers for a while too, and on a 2-core machine the
    spinning pool of one library would otherwise be charged to the next one's timings.
    """
    for t in impls:
        for _ in range(cfg.warmup):
            t.fn()
    gc.collect()
    wall = time.perf_counter
    clock = time.process_time if cfg.clock == "cpu" else wall
    for _ in range(cfg.rounds):
        for t in impls:
            t0 = wall()
            t.fn()
            while wall() - t0 < cfg.settle_s:
                t.fn()
            for _ in range(cfg.block):
                t0 = clock()
                t.fn()
                t.times.append(clock() - t0)


def check_close(name: str, got: Any, want: Any, rtol: float) -> None:
    """Raise unless ``got`` is close to ``want`` (atol scaled to ``want``'s magnitude): every
    benchmark checks its numbers before it times anything."""
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if got.shape != want.shape:
        raise AssertionError(f"{name}: shape {got.shape} != {want.shape}")
    atol = rtol * max(float(np.max(np.abs(want))) if want.size else 0.0, 1e-30)
    if not np.allclose(got, want, rtol=rtol, atol=atol):
        err = float(np.max(np.abs(got - want)))
        raise AssertionError(f"{name}: gradients differ (max abs err {err:.3g}, atol {atol:.3g})")


def add_pairing_args(p: argparse.ArgumentParser, references: Sequence[str], unit: str) -> None:
    """The options of a same-run comparison: ``--quick``, ``--threads``, ``--skip`` (some of
    ``references``), ``--rounds`` and ``--block`` (timed ``unit`` per round and library)."""
    p.add_argument("--quick", action="store_true", help="small sizes, few repeats (seconds)")
    p.add_argument(
        "--threads",
        type=int,
        default=None,
        help="BLAS threads for NumPy (here and in any server) and torch "
        "(default: NumPy's current count)",
    )
    p.add_argument(
        "--skip", default="", help="comma-separated references to skip: " + ",".join(references)
    )
    p.add_argument("--rounds", type=int, default=None, help="interleaved rounds per case")
    p.add_argument("--block", type=int, default=None, help=f"timed {unit} per round and library")


def paced(cfg: _C, args: argparse.Namespace) -> _C:
    """``cfg`` with the ``--rounds`` and ``--block`` of the command line."""
    if args.rounds is not None:
        cfg = dataclasses.replace(cfg, rounds=max(1, args.rounds))  # type: ignore[type-var]
    if args.block is not None:
        cfg = dataclasses.replace(cfg, block=max(1, args.block))  # type: ignore[type-var]
    return cfg


def references(
    args: argparse.Namespace, names: Mapping[str, str], notes: list[str]
) -> dict[str, Any]:
    """The reference libraries (module name -> how notes call it) as modules, or None where
    ``--skip`` names one or it does not import (said in ``notes``)."""
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    found: dict[str, Any] = {}
    for name, label in names.items():
        found[name] = None
        if name in skip:
            notes.append(f"{label} skipped (--skip)")
            continue
        found[name], why = try_import(name)
        if why:
            notes.append(why)
    return found
