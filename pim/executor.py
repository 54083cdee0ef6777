"""Batch fan-out goes through a concurrent.futures.Executor, so that a Dask Client can take over when one
machine is not enough (PIM_EXECUTOR=dask:tcp://scheduler:8786).

A dask Client is not itself a concurrent.futures Executor: its `map` returns futures instead of results, its
futures do not work with `concurrent.futures.as_completed`, and its `shutdown` stops the scheduler and its
workers. So the fan-out gets the Client's own Executor view (`Client.get_executor`), and at the end only this
process's connection closes: the cluster is someone else's and stays up."""

from __future__ import annotations

from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, Iterator

from pim.errors import ConfigError


@contextmanager
def make_executor(kind: str = "process", workers: int = 2) -> Iterator[Executor]:
    if kind == "thread":
        pool: Executor = ThreadPoolExecutor(max_workers=workers)
    elif kind == "process":
        pool = ProcessPoolExecutor(max_workers=workers)
    elif kind.startswith("dask:"):
        with _dask_executor(kind[len("dask:"):]) as pool:
            yield pool
        return
    else:
        raise ConfigError(f"unknown executor '{kind}'", hint="use process, thread or dask:<address>")
    try:
        yield pool
    finally:
        pool.shutdown()


@contextmanager
def _dask_executor(address: str) -> Iterator[Executor]:
    try:
        from distributed import Client
    except ImportError as exc:
        raise ConfigError("PIM_EXECUTOR asks for dask, which is not installed",
                          hint="pip install 'pim[dask]' (or 'dask[distributed]')") from exc
    try:
        client: Any = Client(address, timeout="10s", set_as_default=False)
    except OSError as exc:
        raise ConfigError(f"cannot reach the dask scheduler at {address}: {exc}",
                          hint="start it (dask scheduler) or fix PIM_EXECUTOR=dask:tcp://host:8786") from exc
    try:
        pool = client.get_executor(pure=False)  # pure=False: equal arguments are still separate tasks
        try:
            yield pool
        finally:
            pool.shutdown()
    finally:
        client.close()
