"""`pim import`: bring products in. Importers for other sources register onto this app from their own module."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from pim.cli.output import JsonOption, console, emit_json, emit_json_list, err_console, job_table, table
from pim.severity import Severity

app = typer.Typer(no_args_is_help=True)

#: The exit code of an import run with --strict that rejected a row (its job ended `partial`): distinct from
#: 1-6 (pim.errors), which say that the command failed, where this says what it imported was not all.
PARTIAL_EXIT = 7

StrictOption = typer.Option(False, "--strict", help=(
    f"Exit {PARTIAL_EXIT} when any row was rejected (the job ends partial; the accepted rows are still imported), "
    "so a script or scheduler notices; rows imported with a problem, and file warnings, do not count. Default: "
    "exit 0 however many rows were rejected."))


NoWaitOption = typer.Option(False, "--no-wait", help=(
    "Exit 1 at once, importing nothing, instead of waiting while another import of the same source runs (a "
    "worker's queued upload, another command) or one queued earlier for a worker still waits."))


def exclusive(store: Any, importer: str, path: Path, run: Callable[[], Any], *, args: list[str],
              options: dict[str, Path | None] | None = None, source: str | None = None, no_wait: bool = False) -> Any:
    """Run one file's import under the queue's exclusion of imports of its source (pim.import_command): while
    another import of that source runs or waits before it, say on stderr which one and wait (or, with
    `no_wait`, exit 1 saying so). `args`: the command's own arguments after `pim import`, to run it again."""
    import shlex

    from pim.import_command import run_exclusive, waiting_note

    def on_wait(holder: dict[str, Any] | None) -> None:
        if (note := waiting_note(holder)) is not None:
            err_console.print(note, markup=False, highlight=False)

    return run_exclusive(store, importer, path, run, options=options, source=source, wait=not no_wait,
                         on_wait=on_wait, command=shlex.join(["pim", "import", *args]))


def report(counts: dict, as_json: bool, title: str, *, strict: bool = False) -> None:
    """Print an import's counts (one JSON document with --json); with `strict`, exit PARTIAL_EXIT afterwards
    when a row was rejected (`partial_exit`)."""
    if as_json:
        emit_json(counts)
    else:
        table(title, ["", "count"], [(k, v) for k, v in counts.items() if k != "job_id"])
        if counts.get("rejected"):
            console.print(f"[yellow]{counts['rejected']} rejected row(s) are in the quarantine:[/] pim import errors {counts.get('job_id', '')}")
    if strict:
        partial_exit([counts])


def partial_exit(results: list[dict[str, Any]]) -> None:
    """--strict: exit PARTIAL_EXIT, saying so on stderr, when any of the imports' `results` rejected a row."""
    partial = [r for r in results if r.get("rejected")]
    if not partial:
        return
    rows = sum(r["rejected"] for r in partial)
    jobs = " ".join(str(r["job_id"]) for r in partial if r.get("job_id") is not None)
    err_console.print(f"--strict: {rows} row(s) were rejected, so the import is partial (exit {PARTIAL_EXIT}); the "
                      f"other rows were imported. List them with `pim import errors {jobs}`, fix them in the file and "
                      "import it again", markup=False, highlight=False)
    raise typer.Exit(PARTIAL_EXIT)


def failure(exc: Any, file: Path | str | None = None) -> dict[str, Any]:
    """A failed command as --json prints it (exc: a PimError): the file it was importing when there is one, the
    error in one line, the file the error is about when that is another one (`error_file`: a map, a profile),
    the exit code. The failed items of a multi-file import's list look the same."""
    named = getattr(exc, "file", None)  # an InputError's; the data file itself by its path or its name
    other = named and (file is None or named not in (str(file), Path(file).name))
    return {**({"file": str(file)} if file is not None else {}), "error": exc.in_one_line(),
            **({"error_file": named} if other else {}), "exit_code": exc.exit_code}


@contextmanager
def json_failure(as_json: bool, file: Path | str | None = None) -> Iterator[None]:
    """Around a command with --json: a PimError still prints one JSON document on stdout (`failure`), the
    message on stderr as without --json, and exits with the error's code. Without --json the error goes on to
    pim.cli.main, which prints it and exits the same way."""
    from pim.errors import PimError

    try:
        yield
    except PimError as exc:
        if not as_json:
            raise
        from pim.cli import print_error

        emit_json(failure(exc, file))
        print_error(exc)
        raise typer.Exit(exc.exit_code) from None


def import_each(files: list[Path], run_one: Callable[[Path], Any], as_json: bool, strict: bool = False) -> None:
    """Import several files in turn. A file that fails (a PimError: unreadable, refused) is reported and the
    next one still runs; the command then exits with the failure's code, else with `strict` PARTIAL_EXIT when a
    file had a row rejected. With --json: one document, the file's counts for one file (as before; or its {file,
    error, exit_code}), else a list of {file, counts…} or {file, error, exit_code}."""
    from pim.cli import err
    from pim.errors import PimError

    if len(files) == 1:  # a failure exits through pim.cli.main, as every single import does
        with json_failure(as_json, files[0]):
            counts = run_one(files[0])
        report({**counts.as_dict(), "job_id": counts.job_id}, as_json, f"imported {files[0].name}", strict=strict)
        return
    results: list[dict[str, Any]] = []
    code = 0
    for path in files:
        try:
            counts = run_one(path)
        except PimError as exc:
            code = max(code, exc.exit_code)
            results.append(failure(exc, path))
            if not as_json:
                err.print(f"[bold red]error:[/] {escape(path.name)}: {escape(exc.describe())}", highlight=False)
            continue
        row = {**counts.as_dict(), "job_id": counts.job_id}
        results.append({"file": str(path), **row})
        if not as_json:
            report(row, False, f"imported {path.name}")
    if as_json:
        emit_json(results)
    elif code:
        failed = [Path(r["file"]).name for r in results if "error" in r]
        err.print(f"{len(failed)} of {len(files)} file(s) not imported: {', '.join(failed)}", markup=False)
    if code:  # a file not imported says more than rows rejected
        raise typer.Exit(code)
    if strict:
        partial_exit(results)


@app.command("jsonl")
def jsonl(path: Path, as_json: bool = JsonOption, strict: bool = StrictOption, no_wait: bool = NoWaitOption) -> None:
    """Import canonical records (one JSON object per line). It waits while another import of source jsonl runs."""
    from pim.jsonl import import_jsonl
    from pim.store import Store

    with json_failure(as_json, path):
        store = Store.from_settings()
        counts = exclusive(store, "jsonl", path, lambda: import_jsonl(path, store), args=["jsonl", str(path)],
                           no_wait=no_wait)
    report({**counts.as_dict(), "job_id": counts.job_id}, as_json, f"imported {path.name}", strict=strict)


@app.command("akeneo")
def akeneo(folder: Path = typer.Argument(..., help="A folder of Akeneo CSV exports (attributes.csv, products.csv...)."),
           merge: bool = typer.Option(False, "--merge", help=(
               "Merge each row as one more source by precedence, keeping other sources' values, candidates, "
               "conflicts and pins (default: each product and model is replaced by its row).")),
           source: str = typer.Option("akeneo", "--source", help="With --merge: the source name its values are "
                                      "claimed under (as precedence files rank it)."),
           precedence: Path | None = typer.Option(None, "--precedence", help=(
               "With --merge: precedence YAML (default: PIM_HOME/precedence.yaml, else content first).")),
           as_json: bool = JsonOption, strict: bool = StrictOption, no_wait: bool = NoWaitOption) -> None:
    """Import an Akeneo CSV export: structure first, then product models and products. It waits while another
    import of its source (akeneo, or --source with --merge) runs."""
    from importers.akeneo import import_akeneo
    from pim.store import Store

    args = ["akeneo", str(folder), *(["--merge", "--source", source] if merge else []),
            *(["--precedence", str(precedence)] if precedence else [])]
    with json_failure(as_json, folder):
        store = Store.from_settings()
        counts = exclusive(store, "akeneo", folder, lambda: import_akeneo(folder, store, merge=merge, source=source,
                                                                          precedence=precedence),
                           args=args, source=source if merge else None, no_wait=no_wait)
    report(counts, as_json, f"imported {folder}", strict=strict)


@app.command("jobs")
def jobs(limit: int = typer.Option(20, help="At most this many runs, newest first."),
         kind: str | None = typer.Option(None, help="Only this kind of job (import, publish, ...)."),
         as_json: bool = JsonOption) -> None:
    """List recorded runs with their counts. A run whose process died shows as interrupted: run it again."""
    from pim.store import Store

    with json_failure(as_json):
        store = Store.from_settings()
        rows = store.jobs(kind, limit)
        if kind and not rows:
            _known_kind(store, kind)
    if as_json:
        emit_json(rows)
        return
    job_table(rows)
    for r in rows:
        if r["status"] in ("failed", "interrupted") and r.get("error"):
            console.print(f"[yellow]job {r['id']} {r['status']}:[/] {escape(str(r['error']))}")


def _known_kind(store: Any, kind: str) -> None:
    """Refuse a `--kind` no job has and no runner takes (`--kind erp`: the kinds are import, publish, …), rather
    than answer "0 job(s)" as if none had run."""
    from sqlalchemy import distinct, select

    from pim.errors import InputError
    from pim.job_runners import RUNNERS
    from pim.store.store import JOB
    from pim.validation import typo_of

    with store.engine.connect() as conn:
        kinds = sorted({*RUNNERS, "feed", *conn.execute(select(distinct(JOB.c.kind))).scalars()})
    if kind not in kinds:
        raise InputError(f"no job kind '{kind}'{typo_of(kind, (), kinds)}", field="kind",
                         hint=f"the kinds: {', '.join(kinds)} (an import's source is in the list's source column)")


@app.command("errors")
def errors(job: int | None = typer.Argument(None, help="Job id (default: every open entry)."),
           limit: int | None = typer.Option(None, show_default=False,
                                            help="At most this many rows (0: all of them). Default: 200 in the "
                                                 "table; with --json every entry."),
           closed: bool = typer.Option(False, "--all", help="Closed entries too: fixed (resolved), or superseded "
                                                            "by a newer run of the file or rejection of the record."),
           severity: Severity | None = typer.Option(None, help="Only this severity."),
           source: str | None = typer.Option(None, help="Only this source (erp, content, supplier:acme…)."),
           file: str | None = typer.Option(None, help="Only entries of this file (its name, or its path as "
                                                      "imported)."),
           summary: bool = typer.Option(False, "--summary", help="Count the entries by source, severity, file and "
                                                                 "field instead of listing them, with an example."),
           as_json: bool = JsonOption) -> None:
    """List quarantined rows: file, line, the record (SKU, or model:<code>), field, reason. Severity
    `rejected`: the row was not imported; `problem`: imported, one value has an issue; `warning`: about the
    whole file. Fix the file and import it again: each problem is listed once, from the latest run. With
    --json: a list of every matching entry, written as it is read (a script never gets a cut list it did not
    ask for); an explicit --limit cuts it, and a note on stderr then says how many were left out."""
    from pim.errors import InputError
    from pim.store import Store

    chosen = {"open_only": not closed, "severity": severity.value if severity else None, "source": source,
              "file": file}
    shown = limit if limit is not None else 0 if as_json else 200
    stream = as_json and not shown  # every entry, written as it is read
    with json_failure(as_json):
        store = Store.from_settings()
        if job is not None and store.job(job) is None:  # else it would look like a job with nothing to fix
            raise InputError(f"no job {job}", hint="`pim import jobs` lists the recorded runs")
        if summary:
            groups = store.quarantine_summary(job, **chosen)  # type: ignore[arg-type]
        elif not stream:
            rows = store.quarantined(job, limit=shown, **chosen)  # type: ignore[arg-type]
            total = (sum(g["entries"] for g in store.quarantine_summary(job, **chosen))  # type: ignore[arg-type]
                     if shown and len(rows) == shown else len(rows))
    if summary:
        _summary(groups, as_json)
        return
    if stream:  # a failure reading the first page still prints its document (pim.cli.main)
        emit_json_list(store.iter_quarantined(job, **chosen))  # type: ignore[arg-type]
        return
    more = f"{len(rows)} of {total} entries shown: `--limit 0` lists them all, `--summary` counts them" \
        if total > len(rows) else None
    if as_json:
        emit_json(rows)
        if more:
            err_console.print(more, highlight=False, markup=False)
        return
    if not rows:
        console.print(f"Nothing {'' if closed else 'open '}in the quarantine{f' for job {job}' if job is not None else ''}"
                      + (" matching the filters" if severity or source or file else "") + ".")
        return
    columns = ["job", "severity", "file", "line", "record", "field", "reason", *(["closed"] if closed else [])]
    table(f"{len(rows)} of {total} quarantined row(s)" if more else f"{len(rows)} quarantined row(s)", columns,
          [(r["job_id"], r["severity"], r["file"], r["line"], r["record_key"], r["field"], _cut(r["reason"], REASON_SHOWN),
            *([_closed(r)] if closed else [])) for r in rows])
    if more:
        err_console.print(more, highlight=False, markup=False)


def _summary(groups: list[dict], as_json: bool) -> None:
    """`pim import errors --summary`: the groups, most entries first."""
    if as_json:
        emit_json(groups)
        return
    table(f"{sum(g['entries'] for g in groups)} entries in {len(groups)} group(s)",
          ["entries", "source", "severity", "file", "field", "example"],
          [(g["entries"], g["source"], g["severity"], g["file"], g["field"], _cut(g["example"] or "", 160))
           for g in groups])


#: How much of a reason the table shows, wrapped: every reason the importers write fits, its advice (at its end)
#: included; a longer one (a warning naming many products) is cut with a pointer to the whole text.
REASON_SHOWN = 1500


def _cut(text: str, length: int) -> str:
    """`text` whole when it fits in `length`, else cut with an ellipsis and where to read the rest."""
    if len(text) <= length:
        return text
    return text[:length].rstrip() + " … (cut: `--json` has the whole text)"


def _closed(entry: dict) -> str:
    if entry["superseded_by"] is not None:
        return f"superseded by job {entry['superseded_by']}"
    return "resolved" if entry["resolved_at"] is not None else ""


@app.command("prune")
def prune(days: int | None = typer.Option(None, "--closed-older-than", min=1, metavar="DAYS", show_default=False,
                                          help="Delete the entries closed (fixed or superseded) more than DAYS "
                                               "days ago; default PIM_QUARANTINE_RETENTION_DAYS."),
          dry_run: bool = typer.Option(False, "--dry-run", help="Count what would go; delete nothing."),
          as_json: bool = JsonOption) -> None:
    """Delete old closed quarantine entries, in batches, so daily runs of a file with lasting errors do not grow
    the quarantine for ever (`pim maintain` and idle workers run it when PIM_QUARANTINE_RETENTION_DAYS is set).
    Open entries stay whatever their age; job counts stay."""
    from datetime import timedelta

    from pim.maintenance import command_days
    from pim.store import Store
    from pim.store.store import now

    with json_failure(as_json):
        days = command_days("quarantine_retention_days", days, "--closed-older-than",
                            "pim import prune --closed-older-than 90 --dry-run")
        before = now() - timedelta(days=days)
        gone = Store.from_settings().prune_quarantine(before, dry_run=dry_run)
    total = sum(gone.values())
    if as_json:
        emit_json({"entries": total, "by_source": gone, "before": before.isoformat(), "closed_older_than_days": days,
                   "dry_run": dry_run})
        return
    console.print(f"{'would delete' if dry_run else 'deleted'} {total} quarantine entr{'y' if total == 1 else 'ies'} "
                  f"closed more than {days} day{'s' if days != 1 else ''} ago (before {before:%Y-%m-%d %H:%M} UTC)",
                  highlight=False)
    if gone:
        table("by source", ["source", "entries"], list(gone.items()))
