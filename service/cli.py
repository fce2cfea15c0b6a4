"""``gradserve serve [--host --port --workers --log-level]``."""

from __future__ import annotations

import argparse
import signal
import sys

import uvicorn

from .settings import Settings

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
        "--log-level",
        default=env.log_level,
        choices=["critical", "error", "warning", "info", "debug"],
    )
    args = parser.parse_args(argv)

    if args.workers > 1 and env.store == "memory":
        print(
            "gradserve: --workers > 1 needs a shared session store; with the memory store each "
            "worker would hold its own sessions. Run one worker.",
            file=sys.stderr,
        )
        return 2
    settings = env.model_copy(
        update={
            "host": args.host,
            "port": args.port,
            "log_level": args.log_level,
            "workers": args.workers,
        }
    )
    from .app import create_app

    app = create_app(settings)
    # uvicorn re-raises the SIGTERM it handled once its graceful shutdown is done; under the
    # default handler that kills the process (status 143), so a clean stop would read as a crash.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(0))
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        log_level=args.log_level,
        timeout_graceful_shutdown=10,
        access_log=False,  # the service writes its own JSON access log with request ids
    )
    return 0
