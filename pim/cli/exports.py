"""`pim export`: canonical records out."""

import sys
from pathlib import Path

import typer

from pim.cli.output import console

app = typer.Typer(no_args_is_help=True)


@app.command("jsonl")
def jsonl(out: Path = typer.Argument(None, help="File to write; standard output when omitted."),
          enabled_only: bool = typer.Option(False, "--enabled-only")) -> None:
    """Write every product model and product as canonical JSON Lines."""
    from pim.jsonl import export_jsonl
    from pim.store import Store

    store = Store.from_settings()
    if out is None:
        export_jsonl(store, sys.stdout.buffer, enabled_only=enabled_only)
        return
    tmp = out.with_suffix(out.suffix + ".part")
    with tmp.open("wb") as fh:
        n = export_jsonl(store, fh, enabled_only=enabled_only)
    tmp.replace(out)
    console.print(f"wrote {n} records to {out}", highlight=False)
