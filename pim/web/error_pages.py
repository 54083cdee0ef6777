"""A browser's refusals on the HTML pages as a page: what went wrong, a link back and the right status, instead
of FastAPI's bare `{"detail": ...}`. Only for requests that ask for HTML (a browser's navigation or form post
names text/html in Accept) outside the API and the JSON routes (pim.web.api_errors.wants_json): scripts, htmx
and the API keep the JSON they read."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler, request_validation_exception_handler
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from pim.web import api_errors
from pim.web.signin_return import HOME, page_of, same_host

Handler = Callable[[Request, Any], Awaitable[Response]]

#: Headings for the statuses a page refuses with; others use the HTTP phrase.
HEADINGS = {400: "The request could not be read", 403: "Not allowed", 404: "Not found",
            405: "This address is not a page", 409: "Not done: something changed", 413: "Too large",
            422: "Not done", 429: "Too many attempts"}
#: What the router's own refusals (no route, a method the route does not take) say on a page.
ROUTER_SAYS = {404: "There is no page at this address; it may have been renamed or deleted.",
               405: "This address takes a form's post only, so a browser cannot open it; open its page instead."}
NOT_A_FORM = "This address takes no form posts; open it as a page instead."  # a 405 to a POST


def install(app: FastAPI) -> None:
    """Put the page in front of the handlers already installed (pim.web.api_errors'), which answer the rest."""
    app.add_exception_handler(StarletteHTTPException,
                              _page_or(app.exception_handlers.get(StarletteHTTPException, http_exception_handler),
                                       _http_message))  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError,
                              _page_or(app.exception_handlers.get(RequestValidationError,
                                                                  request_validation_exception_handler),
                                       _validation_message))


def wants_page(request: Request) -> bool:
    """A browser asking for a page: not the API or a JSON route, and HTML named in Accept (not htmx's requests,
    which swap what they get into the page)."""
    if request.headers.get("hx-request") or api_errors.wants_json(request):
        return False
    return any(part.split(";")[0].strip().lower() in ("text/html", "application/xhtml+xml")
               for part in request.headers.get("accept", "").split(","))


def _page_or(previous: Handler, message: Callable[[Request, Any], str]) -> Handler:
    async def handle(request: Request, exc: Any) -> Response:
        if not wants_page(request):
            return await previous(request, exc)
        status = getattr(exc, "status_code", 422)
        return page(request, status, message(request, exc), getattr(exc, "headers", None),
                    to_form=getattr(exc, "back_to_form", False))

    return handle


def _http_message(request: Request, exc: StarletteHTTPException) -> str:
    detail = exc.detail
    if exc.status_code in ROUTER_SAYS and detail == HTTPStatus(exc.status_code).phrase:
        return NOT_A_FORM if exc.status_code == 405 and request.method == "POST" else ROUTER_SAYS[exc.status_code]
    text = detail if isinstance(detail, str) else str(detail)
    return text[:1].upper() + text[1:]


def _validation_message(request: Request, exc: RequestValidationError) -> str:
    """FastAPI's refusal of a parameter (e.g. `?after=abc`), one line per parameter: `after: expected a whole
    number`."""
    problems = api_errors.request_problems(exc)
    return "; ".join(f"{'.'.join(str(p) for p in problem.loc) or problem.part}: {problem.message}"
                     for problem in problems) or "the request's parameters were refused"


def page(request: Request, status: int, message: str, headers: dict[str, str] | None = None, *,
         to_form: bool = False) -> Response:
    """The error page: heading, message, a link back (to the page the browser came from, else the nearest page
    above this address) and, for a signed-in person, the header's navigation. `to_form` (a form refused for
    what was typed in it, pim.web.form_limits): the link goes back in the browser's history, to the form as
    typed, rather than loading its page anew."""
    from pim.web.pages import render  # not at the top: the pages import what imports this module

    answer = render(request, "error.html", getattr(request.state, "session_user", None), status=status,
                    heading=HEADINGS.get(status) or _phrase(status), message=message, back=back_link(request),
                    to_form=to_form)
    answer.status_code = status
    if headers:
        answer.headers.update({k: v for k, v in headers.items() if k.lower() != "content-type"})
    return answer


def back_link(request: Request) -> str:
    """The page the browser came from, when it is ours and not this address; else the nearest page above it."""
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    came_from = request.headers.get("referer", "")
    if same_host(request, came_from):
        from urllib.parse import urlsplit

        parts = urlsplit(came_from)
        local = parts.path + (f"?{parts.query}" if parts.query else "")
        if (local != here or request.method != "GET") and _local(local):
            return local
    parent = request.url.path.rstrip("/").rsplit("/", 1)[0]
    link = page_of(request, parent) if parent else HOME
    return link if _local(link) else HOME


def _local(link: str) -> bool:
    """Whether `link` is a path on this server: one starting `//` or `/\\` (a browser reads both as `//`, as it
    drops tabs and newlines) names another host, protocol-relative, so a Referer `http://ours//evil.example/`
    must not become a link to evil.example."""
    probe = link.replace("\t", "").replace("\n", "").replace("\r", "")
    return probe.startswith("/") and not probe.startswith(("//", "/\\"))


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
