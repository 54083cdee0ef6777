"""Printing for commands: rich tables for people, JSON for scripts (--json)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

import orjson
import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from rich.text import Text

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)  # notes beside output (--json stays clean on stdout)
T = TypeVar("T")

JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON instead of a table.")
#: Every stored time is UTC, but SQLite gives it back without its zone: a naive time is written as UTC
#: (`+00:00`), so a document reads the same on either database.
_JSON = orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS | orjson.OPT_NAIVE_UTC
#: Set once a command starts its JSON document on stdout: pim.cli.main then adds no failure document after it,
#: so a script gets one document (or, when a stream fails half-way, a cut one and the exit code), never two.
json_begun = False


def emit_json(data: Any) -> None:
    global json_begun
    json_begun = True
    typer.echo(orjson.dumps(data, option=_JSON, default=str).decode())


def emit_json_list(items: Iterable[Any]) -> int:
    """A JSON list as emit_json prints it, written item by item so a long one is never held in memory; returns
    how many items it wrote."""
    global json_begun
    count = 0
    for item in items:  # the first page is read before anything is printed: a failure there gets its document
        text = orjson.dumps(item, option=_JSON, default=str).decode().replace("\n", "\n  ")
        json_begun = True
        typer.echo(f"{',' if count else '['}\n  {text}", nl=False)
        count += 1
    json_begun = True
    typer.echo("\n]" if count else "[]")
    return count


def table(title: str, columns: list[str], rows: Iterable[Iterable[Any]]) -> None:
    t = Table(title=title, show_lines=False)
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*[Text("" if v is None else str(v)) for v in r])  # data, never markup: "[sku]" stays
    console.print(t)


def job_table(rows: list[dict[str, Any]], *, priority: bool = False) -> None:
    """Recorded jobs as `pim import jobs` lists them (their non-zero counts, and a search publish's mode: full,
    incremental or mixed); `priority` adds the queue's column
    (`pim jobs list`)."""
    table(f"{len(rows)} job(s)", ["id", "kind", "status", *(["priority"] if priority else []), "source", "counts",
                                  "started"],
          [(r["id"], r["kind"], r["status"], *([r["priority"]] if priority else []),
            str(r["source"]).rsplit("/", 1)[-1][-40:],
            " ".join(f"{k} {v}" for k, v in (r["counts"] or {}).items() if isinstance(v, int) and v or k == "mode"),
            f"{r['started_at']:%Y-%m-%d %H:%M}") for r in rows])


def progress(items: Iterable[T], description: str, total: int | None = None, quiet: bool = False) -> Iterator[T]:
    """Wrap a stream with a rich progress bar (on stderr, so --json output stays clean)."""
    if quiet:
        yield from items
        return
    columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn()]
    with Progress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task(description, total=total)
        for item in items:
            yield item
            bar.advance(task)
