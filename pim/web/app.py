"""The web application: HTML UI (session login, CSRF-protected forms, htmx), the REST API under /api/v1,
and every router named in pim.registry.WEB_ROUTERS (e.g. the customer portal, under its own auth).
`pim serve` runs `create_app` with uvicorn's factory mode."""

from __future__ import annotations

import gc
import html
import logging
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.middleware.sessions import SessionMiddleware

from pim.errors import ConfigError
from pim.registry import WEB_ROUTERS, load
from pim.settings import DEFAULT_SECRET_WARNING, get_settings
from pim.store import Store
from pim.store.database import failure_in
from pim.web import api_errors, error_pages, signin_return
from pim.web.body_cap import BodyCapMiddleware
from pim.web.deps import LoginRequired
from pim.web.sessions import MAX_AGE

HERE = Path(__file__).parent
log = logging.getLogger(__name__)


def create_app(store: Store | None = None, settings: Any = None) -> FastAPI:
    s = settings or get_settings()
    app = FastAPI(title="PIM", version="1", docs_url="/api/v1/docs", openapi_url="/api/v1/openapi.json",
                  redoc_url=None)
    app.state.store = store or Store.from_settings(s)
    app.state.secret_key, app.state.secure_cookies = s.secret_key, s.secure_cookies  # pim.web.drafts' owner cookie
    warn_of_default_secret(s)
    app.add_middleware(SessionMiddleware, secret_key=s.secret_key, session_cookie="pim_session",
                       same_site="lax", https_only=s.secure_cookies, max_age=MAX_AGE)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.add_middleware(BodyCapMiddleware)  # uploads cap a chunked body as it is read (pim.web.body_cap)

    from pim.web import (admin, api, attributes, categories, channels_admin, families, family_variants, imports, options,
                         session_pages, staff_reset, todo_export, ui)

    app.include_router(api.router)
    app.include_router(ui.router)
    app.include_router(load("pim.web.product_fields_page:router"))  # the product page's status and categories
    app.include_router(load("pim.web.model_page:router"))  # /models/<code>: what a model's variants inherit
    app.include_router(admin.router)
    app.include_router(session_pages.router)
    app.include_router(staff_reset.router)  # "Forgot your password?" of the staff sign-in page
    app.include_router(families.router)
    app.include_router(family_variants.router)  # a family's variants, under /admin/families
    app.include_router(categories.router)
    app.include_router(channels_admin.router)
    app.include_router(imports.router)
    app.include_router(todo_export.router)
    app.include_router(load("pim.web.grid_export:router"))  # the grid's "Download as spreadsheet"
    app.include_router(options.router)
    app.include_router(attributes.router)  # after options: both under /admin/attributes
    for ref in WEB_ROUTERS:
        try:
            app.include_router(load(ref))
        except ConfigError as exc:  # an area not installed (yet): the rest of the app still serves
            log.warning("web router not mounted: %s", exc)

    api_errors.install(app)  # refusals under /api/ answer {"errors": [...]}
    error_pages.install(app)  # …and a browser's refusals on the pages answer a page (pim.web.error_pages)

    @app.exception_handler(LoginRequired)
    async def _login(request: Request, exc: LoginRequired) -> Any:
        return await signin_return.login_redirect(request)  # back to this page (or the form's) after signing in

    app.add_exception_handler(SQLAlchemyError, database_unavailable)  # type: ignore[arg-type]

    # The startup objects (routers, templates, the store) live for the whole process: moving them out of the
    # collector's generations keeps gen-2 collections short. Without it the grid page's p95 tail was GC
    # triggered while rendering the 4,000-option category select (p95 120 ms → 31–41 ms in a fresh process).
    gc.freeze()
    return app


def warn_of_default_secret(settings: Any) -> None:
    """Say in the server log, once per process, that cookies are signed with the public default key; refusing to
    start would break `make demo` and the tests."""
    if settings.default_secret:
        _warn_once()


@cache
def _warn_once() -> None:
    log.warning(DEFAULT_SECRET_WARNING)


#: The page a database failure (a lost database, a deadlock, a busy server…) answers a request that does not ask
#: for JSON: it needs nothing of the database, so it shows while the database is away.
_UNAVAILABLE_PAGE = ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{heading} — PIM"
                     "</title></head><body><h1>{heading}</h1><p>{message}.</p>{again}</body></html>")


async def database_unavailable(request: Request, exc: SQLAlchemyError) -> Response:
    """A lost database, a deadlock the server broke, SQLite's write lock held by another process, a server too busy
    to serve the statement now, one that takes no writes or one that met a system error, met by any route: 503
    with Retry-After, saying which and what to do (api_errors.unavailable words each), instead of a bare 500 — in
    JSON to a request that wants it (api_errors.wants_json: the API's `{"errors": [...]}`, elsewhere FastAPI's
    `{"detail": ...}` as the portal's other refusals), else a short page. A server that takes no writes has the
    app's pool dropped, so the next request connects anew (`_reconnect`). Any other database error is a bug:
    raised on, a 500 with its traceback in the log."""
    found = failure_in(exc)
    if found is None:
        raise exc
    answer = api_errors.unavailable(found)
    log.warning("%s %s: %s (%s)", request.method, request.url.path, answer.message, found.said)
    if found.read_only:
        await _reconnect(request)
    if request.url.path.startswith(api_errors.API_PREFIX):
        return api_errors.refused([api_errors.ApiError(message=answer.message)], 503, answer.headers)
    if api_errors.wants_json(request):
        return JSONResponse({"detail": answer.message}, status_code=503, headers=answer.headers)
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    again = f'<p><a href="{html.escape(here)}">Try again</a></p>' if request.method == "GET" else \
        "<p>Go back and send the form again.</p>"
    message = html.escape(answer.message[:1].upper() + answer.message[1:])
    return HTMLResponse(_UNAVAILABLE_PAGE.format(heading=answer.heading, message=message, again=again),
                        status_code=503, headers=answer.headers)


async def _reconnect(request: Request) -> None:
    """Drop the app's pooled connections (off the event loop: closing them is I/O). They pass pool_pre_ping on a
    server demoted to a replica and would refuse every write for ever; anew, they follow a failover that moved the
    server's name to the new primary. Requests under way keep theirs until they end."""
    store = getattr(request.app.state, "store", None)
    if store is not None:
        log.info("the database takes no writes: the web app's pooled connections are dropped, so the next "
                 "request connects anew")
        await run_in_threadpool(store.dispose)
