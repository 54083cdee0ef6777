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


def emit_json(data: Any) -> None:
    typer.echo(orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_NON_STR_KEYS, default=str).decode())


def table(title: str, columns: list[str], rows: Iterable[Iterable[Any]]) -> None:
    t = Table(title=title, show_lines=False)
    for c in columns:
        t.add_column(c)
    for r in rows:
        t.add_row(*[Text("" if v is None else str(v)) for v in r])  # data, never markup: "[sku]" stays
    console.print(t)


def job_table(rows: list[dict[str, Any]], *, priority: bool = False) -> None:
    """Recorded jobs as `pim import jobs` lists them (their non-zero counts); `priority` adds the queue's column
    (`pim jobs list`)."""
    table(f"{len(rows)} job(s)", ["id", "kind", "status", *(["priority"] if priority else []), "source", "counts",
                                  "started"],
          [(r["id"], r["kind"], r["status"], *([r["priority"]] if priority else []),
            str(r["source"]).rsplit("/", 1)[-1][-40:],
            " ".join(f"{k} {v}" for k, v in (r["counts"] or {}).items() if isinstance(v, int) and v),
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
