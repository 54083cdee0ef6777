"""`pim media`: ingest images, build channel renditions, list asset problems and the rejected files kept."""

from __future__ import annotations

from pathlib import Path

import typer

from pim.cli.output import JsonOption, console, emit_json, table

app = typer.Typer(no_args_is_help=True)

ConfigOption = typer.Option(None, "--config", help="media.yaml (default: PIM_HOME/media.yaml, if present).")


def _progress(description: str, total: int | None, quiet: bool):  # type: ignore[no-untyped-def]
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    bar = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=Console(stderr=True), transient=True, disable=quiet)
    return bar, bar.add_task(description, total=total)


@app.command("ingest")
def ingest(refs: list[str] = typer.Argument(None, help="Paths or URLs to ingest (uploads). "
                                                       "Without any: every image value in the catalog."),
           base: Path | None = typer.Option(None, help="Folder relative paths are read from (the folder the "
                                                      "import came from). Without it the catalog's relative refs "
                                                      "are skipped; refs given here are read from the current "
                                                      "folder."),
           source: str = typer.Option("upload", help="Origin recorded for refs given on the command line."),
           refresh: bool = typer.Option(False, help="Read refs again even when already ingested."),
           config: Path | None = ConfigOption, as_json: bool = JsonOption) -> None:
    """Read, validate and store images; the same bytes from several places are stored once."""
    from media.image_index import count_catalog_images
    from media.ingest import catalog_refs, ingest as run, rescore_products_using
    from media.settings import load_media_file
    from media.storage import open_asset_store
    from pim.executor import make_executor
    from pim.settings import get_settings
    from pim.store import Store

    settings, media, store = get_settings(), load_media_file(config), Store.from_settings()
    if refs:  # typed by the person running the command: their current folder is theirs to read
        items, total, base = [(r, source) for r in refs], len(refs), base if base is not None else Path.cwd()
    else:  # streamed from the image index: a large catalog's refs are never held in a list
        items, total = catalog_refs(store), count_catalog_images(store)
    bar, task = _progress("ingesting images", total, as_json)
    with bar, make_executor("thread", max(4, settings.workers * 4)) as pool:  # fetching is I/O-bound
        counts = run(store, items, asset_store=open_asset_store(media=media), media=media, base_dir=base,
                     executor=pool, refresh=refresh, on_progress=lambda n: bar.advance(task, n))
    rescored = rescore_products_using(store, counts) if counts.problems or counts.fixed else 0
    if as_json:
        emit_json(counts.as_dict() | {"problems": counts.problems, "products_rescored": rescored})
        return
    table("media ingest", ["", "count"], [*counts.as_dict().items(), ("products rescored", rescored)])
    if counts.skipped:
        console.print(f"[yellow]{counts.skipped} relative image ref(s) skipped, unread and unrecorded:[/] no --base "
                      "folder to read them from (never the current folder); pass --base DIR, the folder the "
                      "import came from")
    if counts.problems:
        console.print(f"[yellow]{len(counts.problems)} image problem(s):[/] pim media problems")
    if counts.rejected:
        console.print("rejected files are kept for inspection: pim media rejected")


@app.command("renditions")
def renditions(channel: str = typer.Option(..., "--channel", "-c", help="Channel whose renditions to build."),
               force: bool = typer.Option(False, help="Rebuild renditions that already exist."),
               config: Path | None = ConfigOption, as_json: bool = JsonOption) -> None:
    """Build the channel's missing renditions (only new assets or changed specs), in parallel."""
    from media.renditions import build_renditions, pending
    from media.settings import load_media_file
    from media.storage import open_asset_store
    from pim.executor import make_executor
    from pim.settings import get_settings
    from pim.store import Store

    settings, media, store = get_settings(), load_media_file(config), Store.from_settings()
    rules = media.channel(channel)
    total = None if force else pending(store, rules.renditions, rules=rules)
    bar, task = _progress(f"renditions for {channel}", total, as_json)
    with bar, make_executor(settings.executor, settings.workers) as pool:
        counts = build_renditions(store, rules.renditions, asset_store=open_asset_store(media=media), rules=rules,
                                  executor=pool, force=force, on_progress=lambda n: bar.advance(task, n))
    if as_json:
        emit_json(counts)
        return
    table(f"renditions for {channel}", ["", "count"], counts.items())


@app.command("problems")
def problems(channel: str | None = typer.Option(None, "--channel", "-c",
                                                help="Also list images below this channel's size/aspect rules."),
             limit: int = typer.Option(500, min=0, help="At most this many rows; 0: all of them."),
             config: Path | None = ConfigOption, as_json: bool = JsonOption) -> None:
    """Images that cannot be used: unreadable refs, rejected files, channel rule violations. When the list is
    cut at --limit, stderr says how many there are in all."""
    from media.assets import problem_count
    from media.assets import problems as list_problems
    from media.settings import load_media_file
    from pim.cli.output import err_console
    from pim.store import Store

    store, media = Store.from_settings(), load_media_file(config)
    rows = list_problems(store, channel=channel, media=media, limit=limit or None)  # the page alone
    total = problem_count(store, channel=channel, media=media) if limit and len(rows) == limit else len(rows)
    more = f"{len(rows)} of {total} image problem(s) shown: `--limit 0` lists them all" if total > len(rows) else None
    if as_json:
        emit_json(rows)
    else:
        table(f"{len(rows)}{f' of {total}' if more else ''} image problem(s)", ["ref", "source", "sha256", "reason"],
              [(r["ref"], r["source"], (r["sha256"] or "")[:12], r["reason"]) for r in rows])
    if more:
        err_console.print(more, highlight=False, markup=False)


@app.command("rejected")
def rejected(get: str | None = typer.Option(None, "--get", metavar="SHA",
                                            help="Write the kept bytes of this rejected image (sha256, or its "
                                                 "first 6+ characters) to --out."),
             out: Path | None = typer.Option(None, "--out", help="File --get writes the bytes to."),
             limit: int = typer.Option(500, help="At most this many rows."),
             as_json: bool = JsonOption) -> None:
    """Images ingest rejected, with the bytes it kept (the source may have changed or vanished since); --get
    writes one back for inspection. A row goes when its ref is ingested again and passes, or by `pim media gc`."""
    from media import rejected as quarantine
    from pim.errors import InputError
    from pim.store import Store

    store = Store.from_settings()
    if get is None:
        rows = quarantine.listing(store, limit=limit)
        if as_json:
            emit_json(rows)
            return
        table(f"{len(rows)} rejected image(s)", ["ref", "source", "reason", "size", "last seen", "sha256"],
              [(r["ref"], r["source"], "; ".join(filter(None, (r["reason"], r["note"]))),
                quarantine.size_text(r["bytes"]), f"{r['last_seen']:%Y-%m-%d %H:%M}", r["sha256"][:12]) for r in rows])
        return
    if out is None:
        raise InputError("--get needs --out", field="--out",
                         hint="e.g. --out rejected.bin (the bytes are written as they came)")
    from media.storage import open_asset_store

    row, data = quarantine.read_back(store, open_asset_store(), get)
    out.write_bytes(data)
    if as_json:
        emit_json(row | {"out": str(out)})
        return
    console.print(f"wrote {len(data)} bytes of {row['ref']} ({row['sha256'][:12]}) to {out}: {row['reason']}", markup=False)


@app.command("gc")
def gc(grace_days: float = typer.Option(7.0, "--grace-days", min=0,
                                        help="Keep assets and objects younger than this (uploads not yet assigned "
                                             "to a product, writes whose row is not recorded yet)."),
       orphans: bool = typer.Option(True, "--orphans/--no-orphans",
                                    help="Also sweep stored objects no asset, rendition or rejected-file row names "
                                         "(lists the store)."),
       dry_run: bool = typer.Option(False, "--dry-run", help="Count what would go; delete nothing."),
       rejected_older_than: float | None = typer.Option(
           None, "--rejected-older-than", min=0, metavar="DAYS",
           help="Drop kept rejected files last seen by an ingest longer ago than this (default: 30)."),
       config: Path | None = ConfigOption, as_json: bool = JsonOption) -> None:
    """Delete images no product or product model shows any more (original, renditions and records), kept
    rejected files no product shows or older than the retention, then objects in the asset store that no
    record names."""
    from datetime import timedelta

    from media import rejected as quarantine
    from media.gc import collect_garbage
    from media.settings import load_media_file
    from media.storage import open_asset_store
    from pim.store import Store

    media, store = load_media_file(config), Store.from_settings()
    result = collect_garbage(store, open_asset_store(media=media), grace=timedelta(days=grace_days), dry_run=dry_run,
                             orphans=orphans, rejected_retention=quarantine.retention(rejected_older_than))
    if as_json:
        emit_json(result.as_dict() | {"dry_run": dry_run, "orphans_swept": orphans})
        return
    verb = "would delete" if dry_run else "deleted"
    console.print(f"{verb} {result.assets} unused image{'s' if result.assets != 1 else ''} "
                  f"({result.objects} objects, {result.bytes / 1e6:.1f} MB)")
    console.print(f"{verb} {result.rejected} kept rejected file record{'s' if result.rejected != 1 else ''} "
                  f"({result.rejected_objects} objects, {result.rejected_bytes / 1e6:.1f} MB)")
    if orphans:
        console.print(f"{verb} {result.orphans} orphan object{'s' if result.orphans != 1 else ''} "
                      f"({result.orphan_bytes / 1e6:.1f} MB)")
