"""The quarantine of rejected images as a web page, for the content team (editors and admins): what ingest
refused and why, which products show each refused ref, and the kept bytes as a download. The CLI's
`pim media rejected [--get SHA --out FILE]` in the browser.

The table can be large (a supplier feed full of broken URLs), so the page reads one page of rows at a time,
newest first, with a cursor (last seen, ref) on the indexed `last_seen`, never an offset or a full count.
The kept bytes are untrusted (a decompression bomb, a file that claims to be an image): they are only ever
answered as an opaque attachment, never inline, so no browser decodes or sniffs them.

Mounted through pim.registry.WEB_ROUTERS: the core never imports media."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy import func, or_, select
from sqlalchemy.engine import Connection

from media import rejected as quarantine
from media.errors import StoreUnavailable
from pim.errors import InputError
from pim.store.store import variants_of
from pim.web.accounts import User
from pim.web.deps import session_user, store_of
from pim.web.ui import render, templates

router = APIRouter(include_in_schema=False)
PATH = "/media/rejected"
#: Rows per page of the table.
PAGE = 50
#: Products named per ref; the rest are counted ("and 12 more").
SHOWN = 5
_SHA = re.compile(r"^[0-9a-f]{64}$")

templates.env.globals["rejected_images_page"] = PATH  # the header links to the page only where it is mounted


def _staff(user: User = Depends(session_user)) -> User:
    """Editors and admins: the people who fix images. Viewers only read the catalog."""
    if not user.can("editor"):
        raise HTTPException(403, f"role '{user.role}' may not see rejected images; an editor or admin can")
    return user


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _cursor(after: str, after_ref: str) -> tuple[datetime, str] | None:
    if not after:
        return None
    try:
        seen = datetime.fromisoformat(after)
    except ValueError:
        raise HTTPException(422, f"'{after}' is not a page cursor; open {PATH} for the first page") from None
    return (seen if seen.tzinfo else seen.replace(tzinfo=UTC)).astimezone(UTC), after_ref


def page(store: Any, *, text: str = "", after: tuple[datetime, str] | None = None,
         limit: int | None = None) -> tuple[list[dict[str, Any]], tuple[datetime, str] | None]:
    """One page of the quarantine (media.rejected.listing: most recently seen first, `text` filtering) with
    the products showing each ref, and the cursor of the next page (None on the last)."""
    limit = limit or PAGE
    rows = quarantine.listing(store, limit=limit + 1, text=text, after=after)
    with store.begin() as conn:  # begin: the image index is brought up to date before it is read
        shown = shown_by(store, conn, rows[:limit])
    out = [{**r, "size": quarantine.size_text(r["bytes"]), **shown[r["ref"]]} for r in rows[:limit]]
    more = (out[-1]["last_seen"], out[-1]["ref"]) if len(rows) > limit else None
    return out, more


def shown_by(store: Any, conn: Connection, rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per quarantined ref: up to SHOWN products showing it (by the ref itself or as `sha256:<sha>`, their own
    or inherited from a model), how many more products, and how many more models (their variants not read).
    One windowed query on the image index for the page, so a placeholder shown by 50,000 products costs no
    more than one shown by two."""
    from media.image_index import PRODUCTS, USE, refresh_image_index

    refresh_image_index(store, conn)
    names: dict[str, set[str]] = {}  # a ref as the index holds it → the quarantined refs it stands for
    for r in rows:
        names.setdefault(r["ref"], set()).add(r["ref"])
        names.setdefault(f"sha256:{r['sha256']}", set()).add(r["ref"])
    found: dict[str, dict[str, Any]] = {r["ref"]: {"own": set(), "models": set(), "hidden": 0, "unread": 0}
                                        for r in rows}
    if names:
        owners = select(USE.c.ref, USE.c.kind, USE.c.owner).distinct().where(USE.c.ref.in_(list(names))).subquery()
        ranked = select(owners.c.ref, owners.c.kind, owners.c.owner,
                        func.row_number().over(partition_by=owners.c.ref,
                                               order_by=(owners.c.kind.desc(), owners.c.owner)).label("n"),
                        func.row_number().over(partition_by=(owners.c.ref, owners.c.kind),
                                               order_by=owners.c.owner).label("first"),
                        func.count().over(partition_by=(owners.c.ref, owners.c.kind)).label("total")).subquery()
        fetched: dict[tuple[str, str], int] = {}
        totals: dict[tuple[str, str], int] = {}
        # the first SHOWN owners of each ref, and the first of each kind for its count
        for use_ref, kind, owner, n, _, total in conn.execute(
                select(ranked).where(or_(ranked.c.n <= SHOWN, ranked.c.first == 1))):
            totals[use_ref, kind] = total
            fetched.setdefault((use_ref, kind), 0)
            if n > SHOWN:
                continue
            fetched[use_ref, kind] += 1
            for ref in names[use_ref]:
                found[ref]["own" if kind == PRODUCTS else "models"].add(owner)
        for (use_ref, kind), total in totals.items():
            for ref in names[use_ref]:  # products counted one by one; a model stands for its unread variants
                found[ref]["hidden" if kind == PRODUCTS else "unread"] += total - fetched[use_ref, kind]
    out: dict[str, dict[str, Any]] = {}
    for ref, f in found.items():
        products = sorted(f["own"] | set(variants_of(conn, f["models"]))) if f["models"] else sorted(f["own"])
        out[ref] = {"products": products[:SHOWN], "more": len(products[SHOWN:]) + f["hidden"],
                    "more_models": f["unread"]}
    return out


@router.get(PATH)
def rejected_page(request: Request, user: User = Depends(_staff), q: str = "", after: str = "",
                  after_ref: str = "") -> HTMLResponse:
    text = q.strip()[:200]
    rows, more = page(store_of(request), text=text, after=_cursor(after, after_ref))
    def link(**params: str) -> str:
        return f"{PATH}?{urlencode({k: v for k, v in {'q': text, **params}.items() if v})}"
    return render(request, "media_rejected.html", user, rows=rows, q=text, paged=bool(after),
                  first_url=link(), next_url=link(after=_stamp(more[0]), after_ref=more[1]) if more else None)


@router.get(PATH + "/{sha}")
def download(sha: str, request: Request, user: User = Depends(_staff)) -> Response:
    """The kept bytes of a rejected image by its full sha256, as an opaque attachment: never rendered inline,
    never sniffed, never cached, named `.bin` so a double click does not hand them to an image viewer."""
    from media.storage import open_asset_store

    sha = sha.strip().lower().removeprefix("sha256:")
    if not _SHA.match(sha):
        raise HTTPException(404, f"no rejected image has sha256 '{sha}': the link names the full sha256 (64 hex "
                                 f"digits); {PATH} lists them")
    assets = open_asset_store()
    try:
        row, data = quarantine.read_back(store_of(request), assets, sha)
    except InputError as exc:
        raise HTTPException(404, exc.in_one_line()) from None
    except StoreUnavailable as exc:
        if _missing(assets, sha):
            raise HTTPException(404, f"the kept bytes of {sha} are gone from the asset store; read them at their "
                                     "ref, or ingest it again (pim media ingest --refresh) to keep them anew") from None
        raise HTTPException(503, f"the asset store did not answer: {exc}; try again later") from None
    return Response(data, media_type=quarantine.CONTENT_TYPE, headers={
        "Content-Disposition": f'attachment; filename="rejected-{row["sha256"][:12]}.bin"',
        "X-Content-Type-Options": "nosniff", "Cache-Control": "private, no-store",
        "Content-Security-Policy": "default-src 'none'; sandbox"})


def _missing(assets: Any, sha: str) -> bool:
    try:
        return not assets.exists(quarantine.quarantine_key(sha))
    except StoreUnavailable:
        return False
