"""`pim feeds prune`, `log` and `downloads`: the delivered files, the delivery log and the portal's download log,
and their retention (pim.cli.feeds mounts them)."""

from __future__ import annotations

import typer

from pim.cli.feeds_common import _store, left_out_cell
from pim.cli.output import JsonOption, console, emit_json, table


def prune(keep: int | None = typer.Option(None, "--keep", min=1, show_default=False,
                                          help="Newest files kept per contract (10 when --older-than is not "
                                               "given either)."),
          older_than: int | None = typer.Option(None, "--older-than", min=1, metavar="DAYS",
                                                help="Only files built more than DAYS days ago go; with --keep, a "
                                                     "file goes only when both rules let it go."),
          contract: str | None = typer.Option(None, "--contract", help="One contract; all of them by default."),
          dry_run: bool = typer.Option(False, "--dry-run", help="List what would go; delete nothing."),
          as_json: bool = JsonOption) -> None:
    """Delete old feed files, by count (--keep) and/or age (--older-than); every delivered file from the newest
    delivered full feed on always stays. Rows stay in the log, marked pruned; the portal stops listing them."""
    from datetime import timedelta

    from pim.feed_retention import prune_feeds

    age = timedelta(days=older_than) if older_than is not None else None
    result = prune_feeds(_store(), keep=keep, older_than=age, contract=contract, dry_run=dry_run)
    if as_json:
        emit_json(result.as_dict() | {"dry_run": dry_run})
        return
    verb = "would delete" if dry_run else "deleted"
    console.print(f"{verb} {result.files} feed file{'s' if result.files != 1 else ''} "
                  f"({result.bytes / 1e6:.1f} MB)")


def delivery_log(contract: str | None = typer.Option(None, "--contract"), as_json: bool = JsonOption) -> None:
    """The delivery log: contract, file, target, status (delivered, failed, held), attempts, rows, the products
    the build left out and why, started, error."""
    from pim.delivery_log import deliveries

    rows = deliveries(_store(), contract)
    if as_json:
        emit_json(rows)
    else:
        table("deliveries", ["contract", "file", "target", "status", "attempts", "rows", "left out", "started", "error"],
              [(r["contract"], r["file"], r["target"], r["status"], r["attempts"], r["rows"], left_out_cell(r["left_out"]),
                r["started"], r["error"]) for r in rows])


def downloads_list(customer: str | None = typer.Option(None, "--customer", help="Only this customer's downloads."),
                   limit: int = typer.Option(50, "--limit", min=1, help="How many, newest first."),
                   prune_older_than: int | None = typer.Option(None, "--prune-older-than", metavar="DAYS",
                                                               show_default=False,
                                                               help="Instead of listing, delete the log rows older "
                                                                    "than DAYS days (with --customer, only theirs)."),
                   prune: bool = typer.Option(False, "--prune", help="Instead of listing, delete the log rows "
                                                                     "older than PIM_DOWNLOAD_LOG_RETENTION_DAYS "
                                                                     "days (--prune-older-than overrides it)."),
                   dry_run: bool = typer.Option(False, "--dry-run", help="With --prune or --prune-older-than: count "
                                                                         "what would go; delete nothing."),
                   as_json: bool = JsonOption) -> None:
    """Who fetched which feed file from the portal: a person (e-mail) or the customer's token, newest first.
    With --prune or --prune-older-than, old rows of this log go instead (the maintenance pass, `pim maintain`,
    does the same with PIM_DOWNLOAD_LOG_RETENTION_DAYS). Listing never deletes: the setting alone prunes nothing
    here."""
    if prune or prune_older_than is not None:
        _prune_downloads(prune_older_than, customer, dry_run, as_json)
        return
    if dry_run:
        console.print("[red]--dry-run goes with --prune-older-than DAYS or --prune[/]; listing never deletes "
                      "anything")
        raise typer.Exit(2)
    from pim.portal_downloads import downloads

    rows = downloads(_store(), customer=customer, limit=limit)
    if as_json:
        emit_json(rows)
        return
    table("portal downloads", ["at (UTC)", "customer", "by", "contract", "file"],
          [(f"{r['at']:%Y-%m-%d %H:%M}", r["customer"], r["person"], r["contract"], r["name"]) for r in rows])


def _prune_downloads(given: int | None, customer: str | None, dry_run: bool, as_json: bool) -> None:
    """--prune-older-than, else PIM_DOWNLOAD_LOG_RETENTION_DAYS, as `pim import prune` takes its age."""
    from datetime import timedelta

    from pim.cli.imports import json_failure
    from pim.maintenance import command_days
    from pim.portal_downloads import prune_downloads

    with json_failure(as_json):
        days = command_days("download_log_retention_days", given, "--prune-older-than",
                            "pim feeds downloads --prune-older-than 365 --dry-run")
    if days < 1:
        console.print(f"[red]--prune-older-than must be at least 1 day, not {days}[/]: "
                      "e.g. `pim feeds downloads --prune-older-than 365 --dry-run` shows what a year's cut removes")
        raise typer.Exit(2)
    result = prune_downloads(_store(), timedelta(days=days), customer=customer, dry_run=dry_run)
    if as_json:
        emit_json(result.as_dict() | {"older_than_days": days, "customer": customer, "dry_run": dry_run})
        return
    verb = "would delete" if dry_run else "deleted"
    whose = f" of '{customer}'" if customer else ""
    console.print(f"{verb} {result.rows} portal download{'s' if result.rows != 1 else ''}{whose} older than {days} "
                  f"day{'s' if days != 1 else ''} (before {result.before:%Y-%m-%d %H:%M} UTC)", highlight=False)
