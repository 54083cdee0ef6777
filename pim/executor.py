"""Batch fan-out goes through a concurrent.futures.Executor, so that a Dask Client can take over when one
machine is not enough (PIM_EXECUTOR=dask:tcp://scheduler:8786; dask.distributed's Client is an Executor)."""

from __future__ import annotations

from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Iterator

from pim.errors import ConfigError


@contextmanager
def make_executor(kind: str = "process", workers: int = 2) -> Iterator[Executor]:
    if kind == "thread":
        pool: Executor = ThreadPoolExecutor(max_workers=workers)
    elif kind == "process":
        pool = ProcessPoolExecutor(max_workers=workers)
    elif kind.startswith("dask:"):
        try:
            from dask.distributed import Client  # type: ignore[import-not-found]
        except ImportError as exc:
            raise ConfigError("PIM_EXECUTOR asks for dask, which is not installed", hint="pip install 'dask[distributed]'") from exc
        pool = Client(kind[len("dask:"):])  # type: ignore[assignment]
    else:
        raise ConfigError(f"unknown executor '{kind}'", hint="use process, thread or dask:<address>")
    try:
        yield pool
    finally:
        if hasattr(pool, "shutdown"):
            pool.shutdown()
        else:  # pragma: no cover - dask Client
            pool.close()  # type: ignore[attr-defined]
