"""One urlencoded form is read up to FORM_MAX_BYTES in all (round 37 review): each field has its own limit, but
1,000 fields at that limit let one request of an anonymous form (portal sign-in) hold gigabytes."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from fastapi import HTTPException
from starlette.requests import Request

from pim.web import form_limits


def _parse(request: Request) -> Any:
    """form_limits.parse on a thread of its own: a test before this one in the worker (Playwright's sync API) may
    have left an event loop running in this thread, where asyncio.run refuses to start."""
    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, form_limits.parse(request)).result()


def _request(body: bytes, chunk: int = 1 << 20) -> Request:
    parts = [body[i:i + chunk] for i in range(0, len(body), chunk)] or [b""]
    sent = iter(parts)

    async def receive() -> dict:
        try:
            part = next(sent)
        except StopIteration:
            return {"type": "http.request", "body": b"", "more_body": False}
        return {"type": "http.request", "body": part, "more_body": True}

    scope = {"type": "http", "method": "POST", "path": "/", "headers": [
        (b"content-type", b"application/x-www-form-urlencoded"), (b"content-length", str(len(body)).encode())]}
    return Request(scope, receive)


def test_a_form_of_many_fields_each_within_its_limit_is_refused_past_the_total() -> None:
    field = b"x" * (form_limits.FIELD_MAX_BYTES - 16)
    count = form_limits.FORM_MAX_BYTES // len(field) + 2
    body = b"&".join(b"f%d=" % i + field for i in range(count))
    with pytest.raises(HTTPException) as refused:
        _parse(_request(body))
    assert refused.value.status_code == 413
    assert "MB" in refused.value.detail and "nothing was saved" in refused.value.detail


def test_two_fields_at_their_limit_still_read() -> None:
    field = b"y" * (form_limits.FIELD_MAX_BYTES - 16)
    form = _parse(_request(b"value=" + field + b"&shown=" + field))
    assert len(form["value"]) == len(field) and len(form["shown"]) == len(field)
