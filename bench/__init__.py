"""Benchmarks that print tables of ratios measured side by side in one run.

Run from the repository root as modules, never as files (a file's folder would go first on
``sys.path``)::

    python -m bench.bench_engine     # the engine vs PyTorch, HIPS autograd, NumPy
    python -m bench.bench_service    # the service vs a bare FastAPI echo
    python -m bench.bench_client     # the client vs the in-process engine and PyTorch
    python -m bench.bench_scale      # the Redis store vs the memory store

Each takes ``--quick`` for a smoke run of a few seconds; ``bench.common`` holds what they
share. Benchmarks print; tests never assert on timings.
"""
