"""One size limit for every field of a staff form (uploads excluded: their files have PIM_MEDIA_UPLOAD_MAX_BYTES
and the import cap), the same a kept draft holds (pim.web.drafts.MAX_CHARS): whatever a form can save, an ended
session's draft of it can keep, and the other way round.

Starlette refuses any urlencoded field over 1 MiB with a bare 400 "Field exceeded maximum size of 1024KB", which
is about 116,000 CJK characters but a million Latin ones, and names no field. Here a field is counted in
characters as typed, whatever its script (FIELD_MAX_CHARS), and read up to FIELD_MAX_BYTES (what any
FIELD_MAX_CHARS characters take urlencoded); a longer one is refused naming the field and the limit, with what
to do. The product page's value form says it under the field, the text still in it (pim.web.product_edits);
other forms answer 413 on an error page whose Back returns to the form as it was typed."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote_plus

from fastapi import HTTPException, Request
from starlette.datastructures import FormData

from pim.web.drafts import MAX_CHARS

FIELD_MAX_CHARS = MAX_CHARS  # characters of one field, counted as typed (a CJK or emoji character is one)
#: bytes of one field as read: FIELD_MAX_CHARS of any script fit (a character takes up to 4 bytes of UTF-8, each
#: up to 3 urlencoded: %XX), plus 64 KB for the short fields beside it.
FIELD_MAX_BYTES = FIELD_MAX_CHARS * 12 + 64 * 1024
#: Fields the page writes itself rather than a person types: the product page's `shown` is the stored value as
#: JSON (pim.web.product_page.SHOWN), which an import may have made longer than any form takes.
NOT_TYPED = frozenset({"shown", "csrf_token"})
URLENCODED = "application/x-www-form-urlencoded"
MAX_FIELDS = 1000  # fields of one form, as Starlette's default
#: bytes of one whole urlencoded form: a few fields at their limit (a product page's value beside its `shown` copy)
#: fit; without it 1,000 fields at FIELD_MAX_BYTES let one request of an anonymous form hold ~2.4 GB
FORM_MAX_BYTES = 16 * 1024 * 1024


class FieldTooLong(HTTPException):
    """A form field over the limit: 413 with a message naming it (`field`) and the limit; `chars` is its length
    when it was read whole (None: over FIELD_MAX_BYTES, read no further)."""

    back_to_form = True  # the error page's Back goes back in history, to the form as typed (pim.web.error_pages)

    def __init__(self, field: str, chars: int | None) -> None:
        self.field, self.chars = field, chars
        super().__init__(413, refusal(field, chars))


def refusal(field: str, chars: int | None) -> str:
    """What a person is told about a field over the limit, and what to do."""
    size = f"is {chars:,} characters long" if chars is not None else \
        f"is over {FIELD_MAX_CHARS:,} characters (over {FIELD_MAX_BYTES:,} bytes as the browser sends it)"
    return (f"Not saved: the field {field} {size}, and a field of this form takes at most {FIELD_MAX_CHARS:,} "
            "characters (the same for every staff form, and the longest text a draft keeps across a sign-in). "
            "Go back to the form (your browser's Back keeps what you typed), shorten the text and save again, or "
            "bring a longer text in from a file (product values: `pim import`; the structure: `pim structure "
            "load`).")


def too_long(form: Any) -> tuple[str, int] | None:
    """The first field a person typed (not NOT_TYPED) over FIELD_MAX_CHARS: its name and length, else None."""
    for name, value in form.multi_items():
        if isinstance(value, str) and name not in NOT_TYPED and len(value) > FIELD_MAX_CHARS:
            return name, len(value)
    return None


def named(field: str, form: Any) -> str:
    """A field as a message names it: the product page's `value` by the value key its form edits."""
    key = form.get("key") if field == "value" else None
    return f"'value' of {key}" if isinstance(key, str) and key else f"'{field}'"


async def parse(request: Request) -> FormData:
    """The request's form, read once: an urlencoded body field by field, each up to FIELD_MAX_BYTES (FieldTooLong
    past it, naming the field, the rest unread); anything else (a multipart upload) as Starlette reads it. Later
    `await request.form()` calls get the same FormData."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    cached = getattr(request, "_form", None)  # Starlette's own cache of the parsed form
    if cached is not None or content_type != URLENCODED:
        return await request.form()
    items = await _fields(request)
    request._form = FormData(items)  # what request.form() returns from now on, as if Starlette had read it
    return request._form


class _Over(Exception):
    def __init__(self, name: bytearray) -> None:
        self.name = name


async def _fields(request: Request) -> list[tuple[str, str]]:
    """The urlencoded body's fields (Starlette's FormParser, with the field's name kept for the refusal)."""
    import python_multipart as multipart

    items: list[tuple[str, str]] = []
    field: dict[str, Any] = {"name": bytearray(), "value": bytearray(), "size": 0}

    def start() -> None:
        field.update(name=bytearray(), value=bytearray(), size=0)

    def grow(part: str) -> Any:
        def on_data(data: bytes, begin: int, end: int) -> None:
            field["size"] += end - begin
            if field["size"] > FIELD_MAX_BYTES:
                raise _Over(field["name"])
            field[part] += data[begin:end]
        return on_data

    def end() -> None:
        if len(items) >= MAX_FIELDS:
            raise HTTPException(400, f"the form has more than {MAX_FIELDS:,} fields: send fewer at a time")
        items.append((unquote_plus(field["name"].decode("latin-1")), unquote_plus(field["value"].decode("latin-1"))))

    parser = multipart.QuerystringParser({"on_field_start": start, "on_field_name": grow("name"),
                                          "on_field_data": grow("value"), "on_field_end": end})
    read = 0
    try:
        async for chunk in request.stream():
            read += len(chunk)
            if read > FORM_MAX_BYTES:
                raise HTTPException(413, f"the form is over {FORM_MAX_BYTES // (1024 * 1024)} MB as sent: nothing was "
                                         "saved; send long texts in fewer fields at a time, or import them from a file")
            parser.write(chunk)
        parser.finalize()
    except _Over as over:
        name = unquote_plus(bytes(over.name[:200]).decode("latin-1")) or "name"
        raise FieldTooLong(named(name, FormData(items)), None) from None
    return items
