"""A context variable set for the length of a `with` block and reset after, however the block ends: the
structure pages' deferrals (pim.rescore_jobs, pim.grid_jobs) and a queue worker's job adoption
(pim.store.store.adopting) are each one."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TypeVar

T = TypeVar("T")


@contextmanager
def scoped(var: ContextVar[T | None], value: T) -> Iterator[T]:
    token = var.set(value)
    try:
        yield value
    finally:
        var.reset(token)
