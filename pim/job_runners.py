"""The job kinds the queue runs, each named with its runner ('module:attr', loaded on first use, like
pim.registry): the one place that says which jobs exist. The claim takes only these kinds by default, a retry
only a job of one of them, and the worker runs each with its kind's runner (pim.job_queue)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from pim.errors import InputError
from pim.registry import load

Runner = Callable[[Any, dict[str, Any]], "dict[str, Any] | None"]
#: kind → the runner of that kind's queued jobs: called with the store and the claimed job (its payload in
#: job["payload"]); returns the job's counts, or finishes the job itself.
RUNNERS: dict[str, str | Runner] = {
    "import": "pim.job_uploads:run_import",
    "rescore": "pim.rescore_jobs:run_queued",
    "publish": "pim.publish_jobs:run_queued",
    "grid_reindex": "pim.grid_jobs:run_queued",
}


def runner_for(kind: str) -> Runner:
    ref = RUNNERS.get(kind)
    if ref is None:
        raise InputError(f"no runner for '{kind}' jobs", hint=f"known: {', '.join(sorted(RUNNERS))}")
    return load(ref) if isinstance(ref, str) else ref
