"""Garbage-collector settings for bulk jobs.

An import batch allocates hundreds of thousands of small containers (values, provenance, rows) that live
until the batch is written. With CPython's default gen-0 threshold of 700 the cyclic collector runs
thousands of times per batch and keeps promoting and re-walking those live objects: measured at about 40 %
of an ERP import's CPU time. None of that data forms cycles that need collecting mid-batch, so bulk jobs
raise the threshold while they run; reference counting still frees everything as usual."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

BULK_THRESHOLD = 50_000


@contextmanager
def bulk_allocation(threshold: int = BULK_THRESHOLD) -> Iterator[None]:
    """Raise the gen-0 collection threshold for the duration (never lowers it; nests)."""
    before = gc.get_threshold()
    gc.set_threshold(max(threshold, before[0]), *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)


@contextmanager
def paused() -> Iterator[None]:
    """No cyclic collection at all for the duration: for jobs that allocate millions of acyclic objects in a
    tight loop (a completeness rebuild, a feed streaming its rows), where even a raised threshold leaves
    collector passes over the rows in flight. Whoever paused it (the collector was on) turns it back on, so
    nested or concurrent users cannot leave it off. Reference counting still frees everything."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()
