"""Top-level commands: init, publish and demo."""

from __future__ import annotations

from pathlib import Path

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
    as_json: bool = JsonOption,
) -> None:
    """Publish the products that pass the gate to a channel."""
    from pim.pipeline import publish as run
    from pim.settings import get_settings
    from pim.store import Store

    store = Store.from_settings()
    total = store.count_products()
    options = {"catalog": str(catalog)} if catalog is not None else None
    result = run(store, get_settings().output_dir, channel=channel, scope=scope, exporter=exporter, full=full,
                 options=options,
                 progress=None if as_json else (lambda it: progress(it, f"publishing {channel}", total)))
    if as_json:
        emit_json({**result.summary(), "blocked_products": result.blocked})
        return
    table(f"published {channel} ({result.scope})", ["", ""],
          [("products published", result.published), ("products blocked", len(result.blocked))] +
          [("file", loc) for loc in result.locations])


def demo(
    profile: str = typer.Option("small", help="Catalog size: small (5k), medium (50k), large (1M)."),
    seed: int = typer.Option(42),
) -> None:
    """Generate a sample catalog, load it, publish it, and say where everything is."""
    from pim.demo import run_demo

    run_demo(profile, seed)
