"""Top-level commands: init, publish and demo."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import typer

from pim.cli.output import JsonOption, console, emit_json, progress, table


def register(app: typer.Typer) -> None:
    app.command()(init)
    app.command()(publish)
    app.command()(demo)


def init() -> None:
    """Create the workspace (PIM_HOME) and migrate the database."""
    from pim.settings import get_settings
    from pim.store import Store

    s = get_settings()
    s.home.mkdir(parents=True, exist_ok=True)
    Store.from_settings()
    console.print(f"workspace ready: {s.home.resolve()}  database: {Store.from_settings(migrate_now=False).engine.url.render_as_string(hide_password=True)}")


def publish(
    channel: str = typer.Option("storefront", "--channel", "-c", help="What to publish: storefront, search, google_merchant…"),
    scope: str = typer.Option(None, "--scope", help="Structure channel whose locales, currencies and gate apply."),
    exporter: str = typer.Option(None, "--to", help="Where to push: local, s3, meilisearch… (default: the channel's own)."),
    full: bool = typer.Option(False, "--full", help="Rebuild everything instead of sending changes."),
    catalog: Path | None = typer.Option(None, "--catalog", exists=True, dir_okay=False,
                                        help="A channel catalog YAML (fields, renditions, mapping; docs/channels.md) "
                                             "instead of the channel's built-in one."),
    no_wait: bool = typer.Option(False, "--no-wait", help="Exit 1 instead of waiting while a publication of the "
                                                           "same channel and scope runs."),
    allow_drop: bool = typer.Option(False, "--allow-drop", help="Publish even when most of the products the "
                                    "channel's last publish put out would leave it (refused otherwise, exit 6)."),
    as_json: bool = JsonOption,
) -> None:
    """Publish the products that pass the gate to a channel.

    It runs here, recorded as a publish job (`pim jobs list`): it waits while a publication of the same channel
    and scope runs (a queued one, or another command's), and `pim jobs cancel ID` stops it before its files
    replace the old ones. One that more than half of the products the channel's last publish put out would leave
    (blocked, or swapped for others; at least 50 of them: PIM_PUBLISH_DROP_SHARE, PIM_PUBLISH_DROP_MIN) is refused
    with exit 6, nothing replaced, unless --allow-drop."""
    from rich.console import Console

    from pim.pipeline import held_back
    from pim.publish_jobs import publish_here
    from pim.store import Store

    store = Store.from_settings()
    total = store.count_products()
    err = Console(stderr=True, soft_wrap=True)

    def waiting(holder: dict[str, Any] | None) -> None:
        if holder is not None:
            err.print(f"waiting for job {holder['id']} ({holder['kind']} {holder['source']}, pid {holder['pid']} "
                      f"on {holder['host']}) to end …", highlight=False, markup=False)

    job, result = publish_here(store, channel, scope=scope, exporter=exporter, full=full, catalog=catalog,
                               by=_who(), wait=not no_wait, on_wait=waiting, allow_drop=allow_drop,
                               progress=None if as_json else (lambda it: progress(it, f"publishing {channel}", total)))
    if as_json:
        emit_json({**result.summary(), "blocked_products": result.blocked})
        return
    mode = result.mode()  # a channel that can send changes alone (search): what this run sent, and why
    table(f"published {channel} ({result.scope})", ["", ""],
          [("job", job["id"]), ("products published", result.published)]
          + [(f"products {what.replace('_', ' ')}", n) for what, n in held_back(result.blocked, result.partly).items()]
          + ([("mode", mode["mode"])] if mode else [])
          + [(f"  {index}", f"{m['mode']}: {m['reason']}") for index, m in mode.get("modes", {}).items()]
          + ([("why", mode["reason"])] if mode and "modes" not in mode else [])
          + ([("association links left out", result.dropped_links)] if result.dropped_links else [])
          + [("file", loc) for loc in result.locations])
    if result.dropped_links:
        console.print("links to products this publish does not write (unknown, disabled or blocked), e.g. "
                      + "; ".join(result.dropped_link_examples[:3]), highlight=False, markup=False)


def _who() -> str:
    """Who ran the command, as a publish job's `by` says it (the API says the user's name)."""
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name in this environment (a container's uid)
        user = str(os.getuid())
    return f"{user}@{socket.gethostname()}"


def demo(
    profile: str = typer.Option("small", help="Catalog size: small (5k), medium (50k), large (1M)."),
    seed: int = typer.Option(42),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="Print every warning the steps logged, not one "
                                 "line per kind (all of them are in PIM_HOME/demo-warnings.log either way)."),
) -> None:
    """Generate a sample catalog, load it, publish it, and say where everything is."""
    from pim.demo import run_demo

    run_demo(profile, seed, verbose=verbose)
