"""The grid's "Download as spreadsheet": the products the grid's current filter finds, as the content team's
CSV or XLSX (pim.content_sheet), to edit offline and upload again on the import page. Any signed-in role may
download. Capped like the grid's mass edit (ui.BULK_MAX): above it the grid says so and names the
`pim export sheet` command that writes any number of products on the server. The filter's products are counted
first (one SQL count, `found`), so a download over the cap is refused before any id is read.

Written in the format PIM_HOME/content.profile.yaml reads when there is one (the profile a plain upload on the
import page is read with, pim.upload_imports.default_content_profile): its identifier column, CSV delimiter
and encoding. A CSV that may refuse a cell (an encoding short of UTF) is written whole before it is sent, so
a refusal is said on the grid rather than cutting the download short."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import FileResponse, RedirectResponse, StreamingResponse
from sqlalchemy import func, select
from starlette.background import BackgroundTask

from pim import content_sheet, upload_imports
from pim.catalog import Structure
from pim.errors import InputError
from pim.grid_query import PAGE, GridFilter, build_query, ensure_index, grid_pages, plan
from pim.store.store import PRODUCT, Store
from pim.web.accounts import User
from pim.web.deps import session_user, store_of, structure_of
from pim.web.grid import filter_from

router = APIRouter(include_in_schema=False)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("/products.{kind}")
def download(kind: str, request: Request, columns: str = "", user: User = Depends(session_user)) -> object:
    """`/products.xlsx?<the grid's filter>` (or `.csv`); `columns=k1,k2` chooses the value keys."""
    if kind not in ("csv", "xlsx"):
        raise HTTPException(404, "download the grid as products.xlsx or products.csv")
    from pim.web import ui  # here: importing this module stays free of the HTML pages

    store, s = store_of(request), structure_of(request)
    f = filter_from(request.query_params)  # the grid's own reading of its query string
    try:
        profile = upload_imports.default_content_profile()
        fmt = sheet_format(profile, s)
        sheet = content_sheet.scope(s, family=f.family, category=f.category, channel=f.channel,
                                    locales=[f.locale] if f.locale else [], columns=[columns] if columns else [],
                                    catalog_families=None if f.family else content_sheet.catalog_families(store),
                                    fmt=fmt)
        cap = ui.BULK_MAX
        too_many = found(store, f, s, cap) > cap
        ids = [] if too_many else [i for chunk in grid_pages(store, f, s) for i in chunk]
    except InputError as exc:
        raise HTTPException(422, exc.in_one_line()) from None
    except ValueError as exc:  # a filter the grid refuses (completeness)
        raise HTTPException(422, str(exc)) from None
    if too_many:
        request.session[ui.BULK_NOTICE] = (
            f"Not downloaded: this filter finds more than {cap} products, the most a download from the grid holds. "
            f"Narrow the filter, or export them on the server: {_command(f, kind, columns, profile)}")
        return RedirectResponse("/products?" + f.query_string(), status_code=303)
    pages = [ids[i:i + PAGE] for i in range(0, len(ids), PAGE)]
    rows = content_sheet.sheet_rows(store, s, pages, sheet.keys)
    name = "-".join(["products", f.family or f.category or "all", *([sheet.channel] if sheet.channel else []),
                     *([f.locale] if f.locale else [])]) + "." + kind
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    media = f"text/csv; charset={fmt.charset}"
    if kind == "csv" and not content_sheet.can_fail(fmt):
        chunks = content_sheet.encoded(content_sheet.csv_chunks(sheet.header, rows, fmt=fmt), fmt)
        return StreamingResponse(chunks, media_type=media, headers=headers)
    handle, path = tempfile.mkstemp(suffix="." + kind, prefix="pim-sheet-")
    os.close(handle)
    try:
        if kind == "csv":
            with open(path, "wb") as fh:
                fh.writelines(content_sheet.encoded(content_sheet.csv_chunks(sheet.header, rows, fmt=fmt), fmt))
        else:
            content_sheet.write_xlsx(Path(path), sheet.header, rows, fmt)
    except InputError as exc:  # a cell longer than Excel holds, or one the encoding cannot carry: the grid says which
        os.unlink(path)
        request.session[ui.BULK_NOTICE] = f"Not downloaded: {exc.in_one_line()}"
        return RedirectResponse("/products?" + f.query_string(), status_code=303)
    except BaseException:
        os.unlink(path)
        raise
    return FileResponse(path, media_type=XLSX if kind == "xlsx" else media, headers=headers,
                        background=BackgroundTask(os.unlink, path))


def found(store: Store, f: GridFilter, s: Structure, cap: int) -> int:
    """How many products the filter finds, counted in one SQL statement up to `cap` + 1 (enough to refuse a
    download over `cap` before a single id is read; the grid's plan picks the index that drives it)."""
    ensure_index(store)
    with store.engine.connect() as conn:
        chosen = plan(conn, f, s)
        if chosen.empty:
            return 0
        ids = build_query(f, s, limit=cap, plan=chosen).with_only_columns(PRODUCT.c.id)
        return int(conn.execute(select(func.count()).select_from(ids.subquery())).scalar_one())


def sheet_format(profile: Path | None, s: Structure) -> content_sheet.SheetFormat:
    """The format the content profile at `profile` reads (the default profile's without one); InputError names
    the file when it is no content profile, or one naming an attribute or channel `s` lacks (its import would
    refuse the sheet brought back: importers.content_checks.check_profile, the import's own check)."""
    if profile is None:
        return content_sheet.DEFAULT_FORMAT
    from importers.content import ContentProfile
    from importers.content_checks import check_profile
    from pim.sources import load_profile

    try:
        prof = load_profile(ContentProfile, profile)
        check_profile(prof, s, then="download again (it is $PIM_HOME/content.profile.yaml, which content uploads "
                                    "are read with too)")
        return content_sheet.SheetFormat.of(prof)
    except InputError as exc:
        raise InputError(f"{upload_imports.profile_name(profile)}: {exc}", field=exc.field, hint=exc.hint) from None


def _command(f: GridFilter, kind: str, columns: str, profile: Path | None = None) -> str:
    """The `pim export sheet` line for this filter's family, category, channel and locale (the CLI's filters),
    and the content profile the download is written for."""
    parts = ["pim export sheet", f"--out products.{kind}"]
    for option, value in (("--family", f.family), ("--category", f.category), ("--channel", f.channel),
                          ("--locale", f.locale), ("--columns", columns),
                          ("--profile", f"$PIM_HOME/{upload_imports.profile_name(profile)}" if profile else None)):
        if value:
            parts.append(f"{option} {value}")
    others = [name for name in ("q", "enabled", "completeness", "missing", "quality", "source") if getattr(f, name) not in (None, "")]
    return " ".join(parts) + (f" (it does not filter by {', '.join(others)})" if others else "")
