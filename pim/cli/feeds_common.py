"""What the `pim feeds` commands share: the store they open, the --force option for a customer code no contract
names yet, the left-out counts' table cell and the on-hold lines under a table."""

from __future__ import annotations

import typer
from rich.markup import escape

from pim.cli.output import console


def _store():  # type: ignore[no-untyped-def]
    from pim.store import Store

    return Store.from_settings()


def left_out_cell(left_out: dict[str, int] | None) -> str:
    """Left-out counts in a table cell, e.g. `gate 3, no price 1`."""
    return ", ".join(f"{k.replace('_', ' ')} {n}" for k, n in (left_out or {}).items())


def _print_on_hold(on_hold: dict[str, str | None]) -> None:
    """Under a table: each contract `--due` holds back (its last run was refused for its data), why and what to do."""
    for code, reason in on_hold.items():
        if reason:
            console.print(f"[yellow]on hold[/] {escape(code)}: {escape(reason)}", highlight=False)


ForceOption = typer.Option(False, "--force", help="Allow a customer code no contract names yet (its contracts come later).")
