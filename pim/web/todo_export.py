"""The dashboard's to-do as a file to fill in: the products of a family that miss an attribute on a channel ×
locale, one row each, with the value's column empty. Filled in a spreadsheet, it goes back through the import
page (a content CSV: the `sku` column and value-key columns), so "what is missing" and "fill it in" are one
loop. Streamed from the grid index a page at a time; cells are formula-escaped."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import StreamingResponse

from pim.product import value_key
from pim.spreadsheet import escape_formula
from pim.web.accounts import User
from pim.web.deps import session_user, store_of, structure_of
from pim.web.grid import GridFilter, page

router = APIRouter(include_in_schema=False)
PAGE = 1000


@router.get("/dashboard/todo.csv")
def todo_csv(request: Request, channel: str, locale: str, family: str, attribute: str,
             user: User = Depends(session_user)) -> StreamingResponse:
    s = structure_of(request)
    attr = s.attributes.get(attribute)
    if channel not in s.channels or locale not in s.channels[channel].locales or attr is None or family not in s.families:
        raise HTTPException(404, "no such channel × locale, family or attribute")
    key = value_key(attribute, locale if attr.localizable else None, channel if attr.scopable else None)
    f = GridFilter(channel=channel, locale=locale, family=family, missing=attribute)
    name = f"todo-{channel}-{locale}-{family}-{attribute}.csv"
    return StreamingResponse(_rows(store_of(request), f, s, key), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _rows(store: object, f: GridFilter, s: object, key: str) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["sku", key])
    after: int | None = 0
    while after is not None:
        rows, after = page(store, f, s, after=after, limit=PAGE)  # type: ignore[arg-type]
        for r in rows:
            writer.writerow([escape_formula(r.identifier), ""])
        yield out.getvalue()
        out.seek(0)
        out.truncate()
