"""A `pim import …` command's run under the queue's exclusion of imports of one source (pim.job_claims): two
imports of one source merging at once would each merge over what the other read, so a command's import is kept
apart from a worker's queued import of the same source (an upload of the same ERP, the same supplier) the way
`pim publish` is kept apart from queued publications (pim.job_command).

The command records its import as a held job (no worker takes it) keyed by the provenance name its map or profile
gives (pim.job_import_source.merge_source, the key an upload of the same map gets), claims that very job — waiting
while an import of that source runs, or one queued earlier for a worker still waits (saying which) — and runs the
importer, whose `start_job` adopts the claimed job (pim.store.store.adopting): `pim import jobs` shows it as
before. Told not to wait (`--no-wait`), it exits 1 at once (job_command.Busy), having imported nothing.

Its payload names no file a worker could read again: COMMAND_ONLY marks it, so `pim jobs retry` refuses it and
says to run the command again (as a command's import without a payload always was). An import refused before it
started (a file that cannot be opened) leaves no job, as before."""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import delete

from pim import job_command, job_enqueue
from pim.job_import_source import COMMAND_ONLY, MERGE_SOURCE, exclusion_key, merge_source
from pim.sources import job_label
from pim.store.store import JOB

T = TypeVar("T")


def run_exclusive(store: Any, importer: str, path: Path | str, run: Callable[[], T], *,
                  options: dict[str, Path | str | None] | None = None, source: str | None = None,
                  wait: bool = True, on_wait: Callable[[dict[str, Any] | None], None] | None = None,
                  command: str | None = None) -> T:
    """Run `run` (the import: it calls the importer, which records its job) as `importer`'s import of `path`
    under the exclusion of imports of its source: `source` when given (a command that names it, `--source`),
    else the one its map or profile in `options` gives. `run`'s result, or its exception; job_command.Busy
    with `wait=False` while another import of that source runs or waits before it."""
    given = {k: str(Path(v).resolve()) for k, v in (options or {}).items() if v is not None}
    key = source or merge_source({"importer": importer, "options": given})
    payload = {"importer": importer, MERGE_SOURCE: key, COMMAND_ONLY: True,
               "command": command or shlex.join(["pim", "import", importer, str(path)])}
    job_id = job_enqueue.enqueue(store, "import", job_label(importer, path), payload, held=True)
    done: list[T] = []

    def runner(store: Any, job: dict[str, Any]) -> None:
        try:
            done.append(run())
        except Exception:
            _forget_unstarted(store, job_id)
            raise

    job_command.run_here(store, job_id, wait=wait, on_wait=on_wait, runner=runner)
    return done[0]


def _forget_unstarted(store: Any, job_id: int) -> None:
    """Remove the claimed job when the import failed before its loop adopted it (an unreadable file, a map that
    does not load): nothing was imported and a command's refused import never left a job. Once adopted, the loop
    ends the job itself (failed or cancelled) on any exception, so a job still running by us was never started."""
    with store.begin() as conn:
        conn.execute(delete(JOB).where(JOB.c.id == job_id, JOB.c.status == "running", JOB.c.pid == os.getpid(),
                                       JOB.c.finished_at.is_(None)))


def waiting_note(holder: dict[str, Any] | None) -> str | None:
    """What a waiting command says (on stderr) about the job it waits for: a running import of the same source,
    or one queued earlier for a worker (which needs a running `pim worker`)."""
    if holder is None:
        return None
    what = f"job {holder['id']} (import {holder['source']})"
    if holder.get("status") == job_enqueue.QUEUED:
        why = ("queued before this one for a `pim worker` (is one running? `pim jobs cancel "
               f"{holder['id']}` drops it)")
    else:
        why = f"running, pid {holder.get('pid')} on {holder.get('host')}"
    return (f"waiting for {what}, {why}: imports of source '{exclusion_key(holder)}' run one at a time, in order. Nothing is imported meanwhile; "
            "Ctrl-C gives up, `--no-wait` would exit 1 instead of waiting")
