"""Batch fan-out goes through a concurrent.futures.Executor, so that a Dask Client can take over when one
machine is not enough (PIM_EXECUTOR=dask:tcp://scheduler:8786).

A dask Client is not itself a concurrent.futures Executor: its `map` returns futures instead of results, its
futures do not work with `concurrent.futures.as_completed`, and its `shutdown` stops the scheduler and its
workers. So the fan-out gets the Client's own Executor view (`Client.get_executor`), and at the end only this
process's connection closes: the cluster is someone else's and stays up.

Dask workers are long-lived processes started elsewhere, usually without this process's configuration. So
every task sent to them carries the submitting process's `PIM_*` environment (with `PIM_HOME` made absolute)
and runs under it: the workers open the same database and write under the same paths, which must therefore
be reachable from the workers (a shared file system, or S3 for media). One pim deployment per cluster: two
deployments with different settings on the same workers would take turns at one process environment."""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, Future, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, Iterator

from pim import pool_child
from pim.errors import ConfigError


@contextmanager
def make_executor(kind: str = "process", workers: int = 2) -> Iterator[Executor]:
    """The pool for `kind` (process, thread or dask:<address>), shut down on leaving: after the tasks under way
    when the block failed or was interrupted (the ones not started are cancelled), after all of them otherwise.
    A process pool's processes die with this one and never use its database connections (pim.pool_child)."""
    if kind == "thread":
        pool: Executor = ThreadPoolExecutor(max_workers=workers)
    elif kind == "process":
        # a forkserver's children are the server's, not this process's: they only get the parent-death signal
        parent = os.getpid() if multiprocessing.get_start_method() != "forkserver" else None
        pool = ProcessPoolExecutor(max_workers=workers, initializer=pool_child.start, initargs=(parent,))
    elif kind.startswith("dask:"):
        with _dask_executor(kind[len("dask:"):]) as pool:
            yield pool
        return
    else:
        raise ConfigError(f"unknown executor '{kind}'", hint="use process, thread or dask:<address>")
    try:
        yield pool
    except BaseException:
        pool.shutdown(cancel_futures=True)
        raise
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
        # pure=False: equal arguments are still separate tasks
        pool = ShippedSettings(client.get_executor(pure=False), shipped_environment())
        try:
            yield pool
        finally:
            pool.shutdown()
    finally:
        client.close()


def shipped_environment() -> dict[str, str]:
    """This process's PIM_* variables, with PIM_HOME absolute (a worker's working directory is its own)."""
    from pim.settings import get_settings

    env = {k: v for k, v in os.environ.items() if k.startswith("PIM_")}
    env["PIM_HOME"] = str(Path(get_settings().home).resolve())
    return env


def run_with_environment(env: dict[str, str], fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Run `fn` under `env` as the process's PIM_* configuration (a worker's own PIM_* are replaced)."""
    current = {k: v for k, v in os.environ.items() if k.startswith("PIM_")}
    if current != env:
        from pim.settings import reset_settings

        for key in current.keys() - env.keys():
            del os.environ[key]
        os.environ.update(env)
        reset_settings()
    return fn(*args, **kwargs)


class ShippedSettings(Executor):
    """An Executor whose tasks run under the submitting process's PIM_* configuration."""

    def __init__(self, pool: Executor, env: dict[str, str]) -> None:
        self.pool, self.env = pool, env

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        return self.pool.submit(partial(run_with_environment, self.env, fn), *args, **kwargs)

    def map(self, fn: Callable[..., Any], *iterables: Iterable[Any], timeout: float | None = None,
            chunksize: int = 1) -> Iterator[Any]:
        return self.pool.map(partial(run_with_environment, self.env, fn), *iterables, timeout=timeout)

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self.pool.shutdown(wait=wait)
