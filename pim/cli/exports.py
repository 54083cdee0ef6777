"""`pim export`: canonical records out (`jsonl`), and the content team's spreadsheet (`sheet`)."""

import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from pim.cli.output import JsonOption, console, emit_json, err_console, progress

if TYPE_CHECKING:
    from importers.content import ContentProfile
    from pim.catalog import Structure
    from pim.content_sheet import SheetFormat
    from pim.jsonl import LeftOut

app = typer.Typer(no_args_is_help=True)


@app.command("jsonl")
def jsonl(out: Path = typer.Argument(None, help="File to write; standard output when omitted."),
          enabled_only: bool = typer.Option(False, "--enabled-only"),
          include_left_out: bool = typer.Option(False, "--include-left-out", help=(
              "Keep the values left out (outside their record's family) in OUT's left-out file "
              "(catalog.jsonl → catalog.left-out.jsonl), which `pim import jsonl OUT` puts back: a round trip "
              "into the same catalog then loses nothing."))) -> None:
    """Write every product model and product as canonical JSON Lines (values a family change left outside a
    record's family are left out and named on stderr: no import takes them in; docs/importers.md)."""
    from pim.errors import ConfigError
    from pim.io_errors import check_folder
    from pim.jsonl import LeftOut, export_jsonl
    from pim.store import Store

    if include_left_out and out is None:
        raise ConfigError("--include-left-out writes a file beside the export",
                          hint="name the export file: pim export jsonl catalog.jsonl --include-left-out")
    store = Store.from_settings()
    if out is None:
        left_out = LeftOut(store.structure())
        export_jsonl(store, sys.stdout.buffer, enabled_only=enabled_only, left_out=left_out)
    else:
        check_folder(out)
        with _writing(out):
            left_out = _to_file(store, out, enabled_only, include_left_out)
    if (warning := left_out.warning()) is not None:  # on stderr: the records may be on stdout
        err_console.print(f"warning: {warning}", highlight=False, markup=False)


@contextmanager
def _writing(out: Path) -> Iterator[None]:
    """A full disk, a quota or a refused permission met writing OUT, as the one-line error naming OUT's folder
    (pim.io_errors): the write on an open file says no path, and would name PIM_OUTPUT and PIM_HOME instead."""
    from pim.io_errors import local_io_failure

    try:
        yield
    except OSError as exc:
        mapped = local_io_failure(exc, out)
        if mapped is None:
            raise
        raise mapped from exc


def _to_file(store: Any, out: Path, enabled_only: bool, include_left_out: bool) -> "LeftOut":
    """Write OUT (and, asked, its left-out file) through `.part` files, each in place once complete: the left-out
    file first, sealed with OUT's sha256 (pim.jsonl_left_out), so a crash between the two leaves a left-out file
    the import ignores rather than one it pairs with the older OUT. A left-out file an earlier export left there
    is removed when this one keeps nothing in it: it would put back stale values. Any failure removes the `.part`
    files (a full disk gets its room back)."""
    from pim.jsonl_left_out import sidecar_path

    side = sidecar_path(out)
    parts = (out.with_suffix(out.suffix + ".part"), side.with_suffix(side.suffix + ".part"),
             side.with_suffix(side.suffix + ".unsealed.part"))
    try:
        return _through_parts(store, out, side, parts, enabled_only, include_left_out)
    except BaseException:
        for part in parts:
            try:
                part.unlink(missing_ok=True)
            except OSError:
                pass  # the error being raised is the one to report
        raise


def _through_parts(store: Any, out: Path, side: Path, parts: tuple[Path, Path, Path], enabled_only: bool,
                   include_left_out: bool) -> "LeftOut":
    """`_to_file`'s writing: OUT and its left-out file through `parts` (OUT's, the sealed and unsealed left-out)."""
    from pim.jsonl import LeftOut, export_jsonl
    from pim.jsonl_left_out import Hashing, seal

    tmp, side_tmp, unsealed = parts
    with tmp.open("wb") as fh, (unsealed.open("wb") if include_left_out else nullcontext()) as side_fh:
        left_out = LeftOut(store.structure(), side_fh)
        hashing = Hashing(fh) if include_left_out else None  # the seal: only a left-out file needs it
        n = export_jsonl(store, hashing or fh, enabled_only=enabled_only, left_out=left_out)  # type: ignore[arg-type]
    if hashing is not None and left_out.records:
        seal(unsealed, side_tmp, hashing.sha.hexdigest())
        unsealed.unlink()
        side_tmp.replace(side)
        tmp.replace(out)
        console.print(f"wrote {n} records to {out}, and {left_out.records} records' left-out values to {side}",
                      highlight=False)
        return left_out
    unsealed.unlink(missing_ok=True)
    side.unlink(missing_ok=True)
    tmp.replace(out)
    console.print(f"wrote {n} records to {out}", highlight=False)
    return left_out


@app.command("sheet")
def sheet(out: Path = typer.Option(..., "--out", help="products.xlsx or products.csv"),
          family: str | None = typer.Option(None, "--family", help="Only this family's products (and its columns)."),
          category: str | None = typer.Option(None, "--category", help="Only products in this category or below it."),
          channel: str | None = typer.Option(None, "--channel", help="Scope of scopable values (default: the first channel)."),
          locale: list[str] = typer.Option([], "--locale", help="Locale of localizable values; repeat or comma-separate "
                                            "(default: the channel's locales)."),
          columns: str | None = typer.Option(None, "--columns", help="Value keys to write, comma-separated (default: "
                                             "the text and textarea attributes), e.g. name:en_US,description:de_DE@ecommerce."),
          profile: Path | None = typer.Option(None, "--profile", help="Content profile YAML the sheet goes back "
                                              "through: its sku_field, CSV delimiter and encoding."),
          as_json: bool = JsonOption) -> None:
    """Write products as the content team's spreadsheet: edit it and bring it back with `pim import content`
    (or the import page), with the same --profile; only the cells you edit change."""
    from pim import content_sheet
    from pim.grid_query import GridFilter, grid_pages
    from pim.store import Store

    from pim.io_errors import check_folder

    content_sheet.check_out(out)
    check_folder(out)
    prof, fmt = _sheet_format(profile)
    store = Store.from_settings()
    s = store.structure()
    _check_profile(prof, s, profile)
    chosen = content_sheet.scope(s, family=family, category=category, channel=channel, locales=locale,
                                 columns=[columns] if columns else [], fmt=fmt,
                                 catalog_families=None if family else content_sheet.catalog_families(store))
    f = GridFilter(family=family, category=category, channel=chosen.channel)
    rows = content_sheet.sheet_rows(store, s, grid_pages(store, f, s), chosen.keys)
    with _writing(out):
        n = content_sheet.write_sheet(out, chosen.header, progress(rows, "products", quiet=as_json), fmt)
    if as_json:
        emit_json({"out": str(out), "products": n, "columns": chosen.keys, "channel": chosen.channel,
                   "locales": chosen.locales, "profile": str(profile) if profile else None})
        return
    again = f" --profile {profile}" if profile else ""
    console.print(f"wrote {n} products × {len(chosen.keys)} value columns to {out}; edit it, then "
                  f"`pim import content {out}{again}`", highlight=False)


def _sheet_format(profile: Path | None) -> "tuple[ContentProfile | None, SheetFormat]":
    """The content profile (None without one) and the format it reads (the default profile's without one)."""
    from pim import content_sheet

    if profile is None:
        return None, content_sheet.DEFAULT_FORMAT
    from importers.content import ContentProfile
    from pim.errors import InputError
    from pim.sources import load_profile

    try:
        prof = load_profile(ContentProfile, profile)
        return prof, content_sheet.SheetFormat.of(prof)
    except InputError as exc:
        exc.file = exc.file or str(profile)
        raise


def _check_profile(profile: "ContentProfile | None", s: "Structure", path: Path | None) -> None:
    """Refuse, before a sheet is written, a profile naming an attribute or channel the catalog lacks: its import
    would refuse the sheet brought back (importers.content_checks.check_profile, the import's own check)."""
    if profile is None:
        return
    from importers.content_checks import check_profile
    from pim.errors import InputError

    try:
        check_profile(profile, s, then="export the sheet again (nothing was written)")
    except InputError as exc:
        exc.file = exc.file or str(path)
        raise
