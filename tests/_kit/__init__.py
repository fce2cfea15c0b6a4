"""The test harness every test folder shares (``import _kit``: ``tests/`` is on the path).

server   ``gradserve serve`` subprocesses (:class:`~_kit.server.ServerProcess`), the
         ``server``/``spawn_server`` fixture bodies and ``running_server``; built on
         ``bench.common.Process``, the one process helper of the repository
redis    a ``redis-server`` of a test run's own
http     problem+json assertions and a session over real HTTP (one server or several)
app      an in-process app with its lifespan, over httpx's ASGI transport
bench    what the benchmark smoke tests check in a benchmark's output

The fixtures themselves live in ``tests/conftest.py`` (``spawn_server``, for every folder)
and in each folder's ``conftest.py`` (``server``, ``sess``, ``torch``, ``redis_server``, ...).
"""
