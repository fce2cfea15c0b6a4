"""``gradserve serve [--host --port --workers --log-level]``."""

from __future__ import annotations

import argparse
import os
import signal
import sys

import uvicorn

from .settings import Settings
from .stores import REDIS_SCHEMES

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """The command line: ``gradserve serve``."""
    parser = argparse.ArgumentParser(prog="gradserve", description="PyTorch's autograd over HTTP.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP service")
    env = Settings()
    serve.add_argument("--host", default=env.host)
    serve.add_argument("--port", type=int, default=env.port)
    serve.add_argument("--workers", type=int, default=env.workers)
    serve.add_argument(
        "--store",
        default=env.store,
        help="'memory' (one process) or redis://host:port/db (shared by workers and replicas)",
    )
    serve.add_argument(
        "--log-level",
        default=env.log_level,
        choices=["critical", "error", "warning", "info", "debug"],
    )
    args = parser.parse_args(argv)

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
        uvicorn.run("service.app:create_app", factory=True, workers=args.workers, **common)
        return 0
    from .app import create_app

    uvicorn.run(create_app(settings), **common)
    return 0
