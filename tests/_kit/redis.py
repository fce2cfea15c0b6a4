"""A ``redis-server`` of a test run's own: a free loopback port, a temporary directory, no
persistence (Debian's ``redis-server``; tests that need it skip where it is missing)."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile

import redis

from bench.common import Process

__all__ = ["RedisServer", "redis_binary"]


def redis_binary() -> str | None:
    return shutil.which("redis-server") or (
        "/usr/bin/redis-server" if os.path.exists("/usr/bin/redis-server") else None
    )


class RedisServer:
    """``redis-server`` on a free port in a temporary directory, with no persistence."""

    def __init__(self, binary: str) -> None:
        self.dir = tempfile.TemporaryDirectory(prefix="gradserve-redis-")

        def argv(port: int) -> list[str]:
            return [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", ""] + [
                "--appendonly",
                "no",
                "--dir",
                self.dir.name,
            ]

        self.process = Process(argv, name="redis-server", env=dict(os.environ)).launch()
        self.port = self.process.port
        self.url = f"redis://127.0.0.1:{self.port}"
        self._dbs = itertools.cycle(range(1, 16))
        try:
            self.process.wait_until(self._ping, 10)
        except RuntimeError:
            self.stop()
            raise

    def _ping(self) -> bool:
        try:
            with self.client() as r:
                return bool(r.ping())
        except redis.ConnectionError:
            return False

    def client(self, db: int = 0) -> redis.Redis:
        return redis.Redis.from_url(f"{self.url}/{db}")

    def fresh_db(self) -> str:
        """The URL of an emptied database (1..15; 0 is shared by the process tests)."""
        db = next(self._dbs)
        with self.client(db) as r:
            r.flushdb()
        return f"{self.url}/{db}"

    def stop(self) -> None:
        self.process.close()
        self.dir.cleanup()
