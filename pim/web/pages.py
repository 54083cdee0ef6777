"""The staff pages' Jinja2 templates and `render`, shared by every HTML route module (pim.web.ui and the admin,
import and session pages): one environment, so the template globals and filters are set once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from pim.web.accounts import ROLE_LABELS, User
from pim.web.deps import csrf_token
from pim.web.segment_route import segment

templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.globals["role_label"] = ROLE_LABELS
templates.env.filters["segment"] = segment  # a product link's identifier, '/' encoded too


def render(request: Request, name: str, user: User | None, **ctx: Any) -> HTMLResponse:
    """The template `name` with the signed-in `user` (None on the sign-in pages) and this session's CSRF token."""
    return templates.TemplateResponse(request, name, {"user": user, "csrf": csrf_token(request), **ctx})
