"""``gradserve serve [--host --port --workers --store --log-level]``, ``gradserve doctor``,
``gradserve --version``."""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import uvicorn
from pydantic import ValidationError

from .settings import Settings
from .stores import REDIS_SCHEMES

__all__ = ["main"]


def version() -> str:
    """The installed distribution's version (the source tree's when it is not installed)."""
    try:
        return importlib.metadata.version("gradserve")
    except importlib.metadata.PackageNotFoundError:  # pragma: no cover - run from a checkout
        import tomllib
        from pathlib import Path

        pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
        return str(tomllib.loads(pyproject.read_text())["project"]["version"])


def _help(text: str, setting: str) -> str:
    """Help text that names the default (``%(default)s``) and the environment variable."""
    return f"{text} (default: %(default)s; env GRADSERVE_{setting.upper()})"


@contextlib.contextmanager
def metrics_dir() -> Iterator[str]:
    """prometheus-client's multiprocess directory for the workers' metrics.

    ``PROMETHEUS_MULTIPROC_DIR`` when set (its stale ``*.db`` files from an earlier run are
    removed, the directory is kept), else a fresh temporary directory removed on exit. The
    workers inherit the variable, so ``/metrics`` adds up every worker's samples.
    """
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        path = Path(given)
        path.mkdir(parents=True, exist_ok=True)
        for stale in path.glob("*.db"):
            stale.unlink(missing_ok=True)
        yield str(path)
        return
    made = tempfile.mkdtemp(prefix="gradserve-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = made
    try:
        yield made
    finally:
        os.environ.pop("PROMETHEUS_MULTIPROC_DIR", None)
        shutil.rmtree(made, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    """The command line: ``gradserve serve``, ``gradserve doctor``."""
    parser = argparse.ArgumentParser(prog="gradserve", description="PyTorch's autograd over HTTP.")
    parser.add_argument("--version", action="version", version=f"gradserve {version()}")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser(
        "serve",
        help="run the HTTP service",
        description="Run the HTTP service. Every other setting is a GRADSERVE_* environment "
        "variable (service/settings.py); `gradserve doctor` prints the ones in force.",
    )
    sub.add_parser(
        "doctor",
        help="check what this machine offers: backends, store, Graphviz, limits",
        description="Print the backends, whether the session store answers, whether Graphviz "
        "renders graphs, and the limits in force; exit 1 on a problem.",
    )
    try:
        env = Settings()
    except ValidationError as exc:
        print(f"gradserve: a GRADSERVE_* variable is invalid:\n{exc}", file=sys.stderr)
        return 2
    serve.add_argument("--host", default=env.host, help=_help("address to listen on", "host"))
    serve.add_argument(
        "--port", type=int, default=env.port, help=_help("TCP port to listen on", "port")
    )
    serve.add_argument(
        "--workers",
        type=int,
        default=env.workers,
        help=_help("uvicorn worker processes; more than 1 needs a redis:// store", "workers"),
    )
    serve.add_argument(
        "--store",
        default=env.store,
        help=_help(
            "'memory' (one process) or redis://host:port/db (shared by workers and replicas)",
            "store",
        ),
    )
    serve.add_argument(
        "--log-level",
        default=env.log_level,
        choices=["critical", "error", "warning", "info", "debug"],
        help=_help("log level of the JSON logs on stderr", "log_level"),
    )
    args = parser.parse_args(argv)
    if args.command == "doctor":
        from .doctor import run_doctor

        return run_doctor(env)

    if args.workers < 1:
        print("gradserve: --workers must be at least 1", file=sys.stderr)
        return 2
    if args.store != "memory" and not args.store.startswith(REDIS_SCHEMES):
        print(
            f"gradserve: --store must be 'memory' or a redis:// URL (redis://host:port/db), "
            f"not {args.store!r}",
            file=sys.stderr,
        )
        return 2
    if args.workers > 1 and args.store == "memory":
        print(
            "gradserve: --workers > 1 needs a shared session store; with the memory store each "
            "worker would hold its own sessions. Run one worker, or share the sessions through "
            "Redis: --store redis://host:port/db.",
            file=sys.stderr,
        )
        return 2
    settings = env.model_copy(
        update={
            "host": args.host,
            "port": args.port,
            "log_level": args.log_level,
            "workers": args.workers,
            "store": args.store,
        }
    )
    # uvicorn re-raises the SIGTERM it handled once its graceful shutdown is done; under the
    # default handler that kills the process (status 143), so a clean stop would read as a crash.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    common = {
        "host": args.host,
        "port": args.port,
        "log_level": args.log_level,
        "timeout_graceful_shutdown": 10,
        "access_log": False,  # the service writes its own JSON access log with request ids
    }
    if args.workers > 1:
        # worker processes build their own app from the environment: hand the options over
        os.environ["GRADSERVE_STORE"] = settings.store
        os.environ["GRADSERVE_LOG_LEVEL"] = settings.log_level
        with metrics_dir():
            uvicorn.run("service.app:create_app", factory=True, workers=args.workers, **common)
        return 0
    from .app import create_app

    uvicorn.run(create_app(settings), **common)
    return 0
