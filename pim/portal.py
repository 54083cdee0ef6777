"""The customer portal: a customer, authenticated by their API token (`Authorization: Bearer pft_...`,
stored hashed), lists and downloads their own delivered feeds with checksums. Anything that is not theirs
answers 404, exactly like something that does not exist, so ids leak nothing.

Mounted by the web app through pim.registry.WEB_ROUTERS; `create_portal_app()` runs it on its own."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import Response
from sqlalchemy import func, select

from pim import delivery_log as log
from pim.contracts import get_contracts
from pim.feed_retention import PRUNED
from pim.portal_downloads import record_download
from pim.portal_serve import LoggedFileResponse, not_modified
from pim.web.throttle import sign_in_attempt
from pim.store import Store
from pim.store.store import as_utc

PRIVATE = {"Cache-Control": "private, no-store"}  # a customer's files and lists: no shared cache, nothing kept on disk


def _private(response: Response) -> None:
    response.headers.update(PRIVATE)


router = APIRouter(prefix="/portal", tags=["portal"], dependencies=[Depends(_private)])
_default_store: Store | None = None


def _store(request: Request) -> Store:
    global _default_store
    store = getattr(request.app.state, "store", None)
    if store is not None:
        return store
    if _default_store is None:
        _default_store = Store.from_settings(migrate_now=False)
    # The app's own from here on: a read-only failure then drops this pool too (pim.web.app.database_unavailable),
    # as it drops the staff app's, so a failover that moved the server's name is followed without a restart.
    request.app.state.store = _default_store
    return _default_store


def _signer(request: Request, store: Annotated[Store, Depends(_store)]) -> tuple[str, str | None]:
    """(customer, the person's e-mail or None for a token) of the request's token (Bearer or X-API-Key header)
    or, without one, of the browser's portal sign-in (pim.portal_pages)."""
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else request.headers.get("x-api-key", "")
    if token:
        attempt = sign_in_attempt(request, "portal", store)
        if attempt.wait:
            raise attempt.refused()
        customer = log.customer_for_token(store, token)
        if customer is None:
            attempt.failed()
        who = (customer, None) if customer else None
    else:
        from pim.portal_pages import session_signer

        who = session_signer(request, store)
    if who is None:
        raise HTTPException(401, "a valid customer API token is required", headers={"WWW-Authenticate": "Bearer"})
    return who


Signer = Annotated[tuple[str, str | None], Depends(_signer)]


def _customer(who: Signer) -> str:
    return who[0]


Customer = Annotated[str, Depends(_customer)]
StoreDep = Annotated[Store, Depends(_store)]


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "contract": row["contract"], "name": row["name"], "format": row["format"],
            "kind": row["kind"], "sha256": row["sha256"], "bytes": row["bytes"], "rows": row["rows"],
            "generated_at": as_utc(row["generated_at"]).isoformat(), "version": row["version"],
            "previous_version": row["previous_version"], "download": f"/portal/feeds/{row['id']}/download"}


def served_page(store: Store, customer: str, *, contract: str | None = None, before: int | None = None,
                limit: int) -> tuple[list[dict[str, Any]], int | None]:
    """One page of the files the portal serves `customer` (one contract's, when given), newest first, and the
    `before` cursor of the next older page, or None on the last one."""
    rows = log.feed_files(store, customer=customer, portal_only=True, contract=contract, before=before, limit=limit + 1)
    return rows[:limit], (rows[limit - 1]["id"] if len(rows) > limit else None)


def _own_file(store: Store, customer: str, file_id: int) -> dict[str, Any]:
    """The customer's delivered file; 410 for one of theirs that retention pruned (with the full feed to start
    again from), 404 for anything else, exactly alike whether it is another customer's or none at all."""
    row = log.feed_file(store, file_id)
    if row is None or row["customer"] != customer or not row["portal"]:
        raise HTTPException(404, "no such feed")
    if row["status"] == PRUNED:
        raise HTTPException(410, _pruned(store, row))
    if row["status"] != "delivered":
        raise HTTPException(404, "no such feed")
    return row


def delivers_to(store: Store, customer: str, contract: str) -> bool:
    """Whether `contract` still delivers to `customer`: not deleted, nor moved to another customer (its files
    delivered before stay the customer's until retention prunes them)."""
    return any(c.customer == customer for c in get_contracts(store, code=contract))


def moved_since(store: Store, customer: str, contract: str) -> datetime | None:
    """When `contract`, which no longer delivers to `customer`, first delivered a file to someone else after the
    customer's last one (None when it has not, e.g. deleted): a time only, nothing of that file."""
    f = log.FEED_FILE
    last = select(func.max(f.c.id)).where(f.c.customer == customer, f.c.contract == contract).scalar_subquery()
    q = select(func.min(f.c.generated_at)).where(f.c.contract == contract, f.c.customer != customer, f.c.id > last,
                                                 f.c.status == "delivered")
    with store.engine.connect() as conn:
        first = conn.execute(q).scalar()
    return as_utc(first) if first is not None else None


def _pruned(store: Store, row: dict[str, Any]) -> str:
    """What to do about a file of the customer's that retention removed: start again from the newest full feed,
    unless the contract no longer delivers to the customer (no file of it comes again)."""
    if not delivers_to(store, row["customer"], row["contract"]):
        return (f"feed {row['id']} ({row['name']}) was removed by retention; contract {row['contract']} no longer "
                f"delivers to you, so no newer file of it will come: ask your supplier if you still need its data")
    full = log.newest_full(store, row["customer"], row["contract"])
    start = (f"start again from full feed {full['id']} ({full['name']}, /portal/feeds/{full['id']}/download) and "
             f"the deltas after it" if full is not None else
             f"start again from contract {row['contract']}'s next full feed")
    return f"feed {row['id']} ({row['name']}) was removed by retention; {start}"


@router.get("/feeds")
def list_feeds(customer: Customer, store: StoreDep, contract: str | None = None, before: int | None = None,
               limit: Annotated[int, Query(ge=1, le=1000)] = 200) -> dict[str, Any]:
    """The customer's delivered files, newest first, `limit` a page; `next` is the URL of the older page (null on
    the last), so a script follows it until null. `contract` keeps to one contract's files."""
    rows, older = served_page(store, customer, contract=contract, before=before, limit=limit)
    query = {"before": older, "limit": limit} | ({"contract": contract} if contract is not None else {})
    return {"customer": customer, "feeds": [_public(r) for r in rows],
            "next": f"/portal/feeds?{urlencode(query)}" if older is not None else None}


@router.get("/feeds/{file_id}")
def feed_meta(file_id: int, customer: Customer, store: StoreDep) -> dict[str, Any]:
    return _public(_own_file(store, customer, file_id))


@router.get("/feeds/{file_id}/download")
def download(file_id: int, who: Signer, store: StoreDep, request: Request) -> Response:
    """The file (ranges allowed); the download log gains a row only when the response carries its last byte
    (pim.portal_serve); a current copy (If-None-Match with its ETag, If-Modified-Since) answers 304."""
    customer, person = who
    row = _own_file(store, customer, file_id)
    path = Path(row["path"])
    if not path.is_file():
        raise HTTPException(410, "the feed file is no longer kept; a new one comes with the next delivery")
    headers = {"X-Checksum-SHA256": row["sha256"], **PRIVATE}
    response = LoggedFileResponse(path, on_download=lambda: record_download(store, file_id, customer, person),
                                  filename=row["name"], headers=headers, media_type=_media_type(store, row))
    return not_modified(request, response, headers) or response


@router.head("/feeds/{file_id}/download", include_in_schema=False)
def download_head(file_id: int, who: Signer, store: StoreDep, request: Request) -> Response:
    """The download's headers (size, ETag, checksum) without its body; never logged as a download."""
    return download(file_id, who, store, request)


# Python's codec name → the charset name HTTP and browsers know
_CHARSETS = {"utf-8": "utf-8", "utf-8-sig": "utf-8", "cp1252": "windows-1252"}


def _media_type(store: Store, row: dict[str, Any]) -> str | None:
    """A CSV's type with the charset it was written in (a cp1252 file read as UTF-8 garbles every umlaut); None
    lets the file's name decide for the other formats. A file recorded before its encoding was (migration 0042)
    takes its contract's."""
    if row["format"] != "csv":
        return None
    encoding = row["encoding"]
    if encoding is None:
        found = get_contracts(store, code=row["contract"])
        encoding = found[0].csv.encoding if found else "utf-8"
    return f"text/csv; charset={_CHARSETS.get(encoding, encoding)}"


@router.get("/feeds/{file_id}/manifest")
def manifest(file_id: int, customer: Customer, store: StoreDep) -> dict[str, Any]:
    row = _own_file(store, customer, file_id)
    return {"name": row["name"], "sha256": row["sha256"], "bytes": row["bytes"], "rows": row["rows"],
            "contract": row["contract"], "generated_at": as_utc(row["generated_at"]).isoformat(), "format": row["format"],
            "kind": row["kind"], "version": row["version"], "previous_version": row["previous_version"]}


@router.get("/contracts")
def contracts(customer: Customer, store: StoreDep) -> dict[str, Any]:
    """The customer's own contracts: what they get, never where it is delivered or with which key."""
    return {"contracts": [{"code": c.code, "name": c.name, "format": c.format, "mode": c.mode, "locale": c.locale,
                           "currency": c.currency, "schedule": c.schedule} for c in get_contracts(store, customer=customer)]}


def create_portal_app(store: Store | None = None) -> FastAPI:
    """The portal on its own: the JSON API and the sign-in pages (pim.portal_pages)."""
    from fastapi.staticfiles import StaticFiles
    from starlette.middleware.sessions import SessionMiddleware

    from sqlalchemy.exc import SQLAlchemyError

    from pim.portal_pages import router as pages
    from pim.settings import get_settings
    from pim.web.app import database_unavailable, warn_of_default_secret
    from pim.web.sessions import MAX_AGE

    app = FastAPI(title="Customer feed portal")
    app.add_exception_handler(SQLAlchemyError, database_unavailable)  # type: ignore[arg-type]  # 503, not a 500
    if store is not None:
        app.state.store = store
    settings = get_settings()
    warn_of_default_secret(settings)
    app.add_middleware(SessionMiddleware, secret_key=settings.secret_key, session_cookie="pim_portal",
                       same_site="lax", https_only=settings.secure_cookies, max_age=MAX_AGE)
    app.mount("/static", StaticFiles(directory=Path(__file__).parent / "web" / "static"), name="static")
    app.include_router(router)
    app.include_router(pages)
    return app
