"""What a product page's forms change: a value (its text form, on the product or the model that holds it), a
choice between sources (a conflict's winner, another kept value, an association claim) and an image upload.
Each answers with the product page again (pim.web.product_page) when it is refused or stale."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from pim import association_claims
from pim.web import editing, form_limits, panels
from pim.web.accounts import User
from pim.web.deps import check_csrf, read_form, session_user, store_of, structure_of
from pim.web.editing import apply_model_values, apply_values
from pim.web.product_page import (MODEL_TARGET, OUTRANKED, SAVED, SHOWN, _kept, _notices, _page_url,
                                   _product_page, form_value)
from pim.web.segment_route import SegmentRoute

router = APIRouter(include_in_schema=False, route_class=SegmentRoute)  # /products/a%2Fb is product 'a/b'


@router.post("/products/{identifier}/values", dependencies=[Depends(check_csrf)])
async def edit_value(identifier: str, request: Request, user: User = Depends(session_user)) -> Any:
    if not user.can("editor"):
        raise HTTPException(403, f"role '{user.role}' may not edit values")
    store, s = store_of(request), structure_of(request)
    form = await read_form(request)  # each field up to form_limits.FIELD_MAX_CHARS characters (pim.web.deps)
    key = str(form.get("key", ""))
    attr = s.attributes.get(key.split(":")[0].split("@")[0])
    if attr is None:
        raise HTTPException(422, f"unknown value key '{key}'")
    channel, locale = str(form.get("channel") or ""), str(form.get("locale") or "")
    if (over := form_limits.too_long(form)) is not None:  # said under the field, the text kept in it
        return _too_long(request, user, identifier, s, channel, locale, key, form, over[1])
    currencies = s.channels[channel].currencies if channel in s.channels else sorted(s.currencies)
    change = {key: form_value(attr, form, currencies)}
    expected = _expected(key, form)
    target = str(form.get("target") or "")
    if target.startswith(MODEL_TARGET):  # a value the variant inherits: edited on its model, for every variant
        product = store.get_product(identifier)
        if product is None:
            raise HTTPException(404, f"no product '{identifier}'")
        code = target[len(MODEL_TARGET):]
        if code not in {m.code for m in store.ancestors(product)}:
            raise HTTPException(422, f"'{code}' is not a model {identifier} inherits from")
        result = apply_model_values(store, code, change, user.username, structure=s, expected=expected)
        result.product = store.get_product(identifier)
    else:
        result = apply_values(store, identifier, change, user.username, structure=s, expected=expected)
    if result.product is None:
        raise HTTPException(404, f"no product '{identifier}'")
    url = _page_url(identifier, channel, locale)
    notices = _notices(result, target if target.startswith(MODEL_TARGET) else identifier)
    if result.stale:  # changed since the page showed it: the page says by whom, the field keeps the edit
        page = _product_page(request, user, result.product, s, channel, locale, stale=result.stale, outranked=notices)
        page.status_code = 409
        return page
    if notices:  # kept as a candidate, or a clear: the next page says why it still shows another value
        request.session[OUTRANKED] = notices
    if target.startswith(MODEL_TARGET) and result.changed and not result.errors:  # where it went, for how many
        from pim.web.model_edits import ON_MODEL, saved_notice

        request.session[ON_MODEL] = saved_notice(store, key, target[len(MODEL_TARGET):])
    if not result.errors:  # back to the saved field (its row's fragment; the page focuses its input)
        request.session[SAVED] = key
    if request.headers.get("hx-request") and not result.errors:
        saved = url + ("&" if "?" in url else "?") + f"saved={key}#attr-{attr.code}"
        return HTMLResponse("", headers={"HX-Redirect": saved})
    if not result.errors:
        return RedirectResponse(f"{url}#attr-{attr.code}", status_code=303)
    page = _product_page(request, user, result.product, s, channel, locale, errors=result.errors,
                         kept=_kept(s, key, form))  # the field keeps what was typed, with why it was refused
    page.status_code = 422
    return page


def _too_long(request: Request, user: User, identifier: str, s: Any, channel: str, locale: str, key: str,
              form: Any, chars: int) -> HTMLResponse:
    """The product page again (422), the over-long value still in its field (unsaved, as a refused one) and why
    under it: the one limit of every staff form's field (pim.web.form_limits), which a draft keeps too."""
    product = store_of(request).get_product(identifier)
    if product is None:
        raise HTTPException(404, f"no product '{identifier}'")
    why = (f"{chars:,} characters: a value saved from a form takes at most {form_limits.FIELD_MAX_CHARS:,} "
           "characters (the longest a draft keeps across a sign-in). Your text is still in the field, not saved: "
           "shorten it and save again, or import the longer text from a file (`pim import`).")
    page = _product_page(request, user, product, s, channel, locale, errors={key: why}, kept=_kept(s, key, form))
    page.status_code = 422
    return page


def _expected(key: str, form: Any) -> dict[str, Any] | None:
    """What the edit form's page showed for `key` (its SHOWN field, JSON), or None for a form without one."""
    import json

    raw = form.get(SHOWN)
    if raw is None:
        return None
    try:
        return {key: json.loads(str(raw))}
    except ValueError:
        raise HTTPException(422, f"the form's '{SHOWN}' field is not the JSON the page writes: reload the "
                                 "product page and save again") from None


async def _source_choice(request: Request, user: User, identifier: str, refused: str,
                         choose: Callable[[Any, Any], None]) -> Any:
    """A person's choice between sources on a product's page (a conflict's winner, a kept value, an
    association claim): editors only; `choose(store, form)` makes it, a choice it refuses (InputError) is a
    422 saying why; then back to the product's page, in the channel and locale the form names."""
    from pim.errors import InputError

    if not user.can("editor"):
        raise HTTPException(403, f"role '{user.role}' may not {refused}")
    form = await request.form()
    try:
        choose(store_of(request), form)
    except InputError as exc:
        raise HTTPException(422, exc.describe()) from None
    return RedirectResponse(_page_url(identifier, str(form.get("channel") or ""), str(form.get("locale") or "")),
                            status_code=303)


@router.post("/products/{identifier}/conflicts", dependencies=[Depends(check_csrf)])
async def pick_winner(identifier: str, request: Request, user: User = Depends(session_user)) -> Any:
    def choose(store: Any, form: Any) -> None:
        target = str(form.get("target") or identifier)
        if target != identifier:  # a conflict of a model this product inherits from, decided from its page
            product = store.get_product(identifier)
            allowed = {c.identifier for c in panels.conflicts(store, identifier, product.parent if product else None) or []}
            if target not in allowed:
                raise HTTPException(422, f"'{target}' is not a model {identifier} inherits from")
        key, source = str(form["key"]), str(form["source"])
        panels.resolve_conflict(store, target, key, source, user.username,
                                log=editing.ChoiceLog(target, key, user.username, source))

    return await _source_choice(request, user, identifier, "resolve conflicts", choose)


@router.post("/products/{identifier}/candidates", dependencies=[Depends(check_csrf)])
async def use_candidate(identifier: str, request: Request, user: User = Depends(session_user)) -> Any:
    """Show another source's kept value instead of the winner (pinned, like a conflict pick)."""
    def choose(store: Any, form: Any) -> None:
        product = store.get_product(identifier)
        if product is None:
            raise HTTPException(404, f"no product '{identifier}'")
        target, key, source = str(form.get("target") or identifier), str(form.get("key", "")), str(form.get("source", ""))
        panels.use_other_value(store, identifier, product.parent, target, key, source, user.username,
                               log=editing.ChoiceLog(target, key, user.username, source))

    return await _source_choice(request, user, identifier, "choose between sources", choose)


@router.post("/products/{identifier}/associations", dependencies=[Depends(check_csrf)])
async def pick_association(identifier: str, request: Request, user: User = Depends(session_user)) -> Any:
    """Show a waiting association claim instead of the one precedence shows (pinned, like a conflict pick), on
    the product or (`target`) a model it inherits from."""
    from pim.conflicts import check_target

    def choose(store: Any, form: Any) -> None:
        product = store.get_product(identifier)
        if product is None:
            raise HTTPException(404, f"no product '{identifier}'")
        target, kind, source = str(form.get("target") or identifier), str(form.get("type", "")), str(form.get("source", ""))
        check_target(store, identifier, product.parent, target)
        association_claims.pick(store, target, kind, source, by=user.username,
                                log=editing.ChoiceLog(target, editing.ASSOCIATION_KEY + kind, user.username, source))

    return await _source_choice(request, user, identifier, "choose between sources", choose)


def _image_cap() -> tuple[int, str]:
    """PIM_MEDIA_UPLOAD_MAX_BYTES, and what an image over it is told."""
    from pim.settings import get_settings

    limit = get_settings().media_upload_max_bytes
    return limit, (f"the image is over {limit / (1024 * 1024):.3g} MB ({limit} bytes, PIM_MEDIA_UPLOAD_MAX_BYTES): "
                   "upload a smaller one, or ask an admin to raise PIM_MEDIA_UPLOAD_MAX_BYTES")


def _image_size(request: Request) -> None:
    """Refuses an image over the cap by its Content-Length, before check_csrf reads (spools) the form, and arms
    the cap on the body as read whatever its headers declare (a chunked body may carry a small Content-Length)."""
    from pim.web.imports import (
        refuse_declared_over,  # not at the top: pim.web.imports imports this module
    )

    refuse_declared_over(request, *_image_cap())


@router.post("/products/{identifier}/media", dependencies=[Depends(_image_size), Depends(check_csrf)])
async def upload(identifier: str, request: Request, user: User = Depends(session_user)) -> Any:
    """An image for the product, written where the value's text form writes (a variant's model when the model
    holds the attribute) with the same stale check (409) and refusals said on the page (422); its renditions are
    built before it is set, so the next publish links it (pim.web.image_upload). One over
    PIM_MEDIA_UPLOAD_MAX_BYTES is refused (413), read no further."""
    from starlette.concurrency import run_in_threadpool

    from pim.web import image_upload

    if not user.can("editor") or not panels.media_available():
        raise HTTPException(403, "media upload is not available")
    store, s = store_of(request), structure_of(request)
    form = await request.form()
    file = form["file"]
    limit, too_large = _image_cap()
    data = await file.read(limit + 1)  # type: ignore[union-attr]
    if len(data) > limit:
        raise HTTPException(413, too_large)
    product = store.get_product(identifier)
    if product is None:
        raise HTTPException(404, f"no product '{identifier}'")
    key, expected = str(form.get("key", "")), image_upload.expected(form)
    channel, locale = str(form.get("channel") or ""), str(form.get("locale") or "")
    if wrong := image_upload.key_problem(key, s):  # before anything is stored
        page = _product_page(request, user, product, s, channel, locale, errors={key or "key": wrong})
        page.status_code = 422
        return page
    name = file.filename or "upload"  # type: ignore[union-attr]
    result = await run_in_threadpool(image_upload.ingest, store, data, name)  # decodes the image: off the event loop
    if result.get("problem"):
        raise HTTPException(422, f"image rejected: {result['problem']}")
    model, change = image_upload.holder(store, s, product, key), {key: f"sha256:{result['sha256']}"}
    if model is not None:
        edit = apply_model_values(store, model, change, user.username, structure=s, expected=expected)
        edit.product = store.get_product(identifier)
    else:
        edit = apply_values(store, identifier, change, user.username, structure=s, expected=expected)
    if edit.product is None:
        raise HTTPException(404, f"no product '{identifier}'")
    notices = _notices(edit, MODEL_TARGET + model if model is not None else identifier)
    if edit.stale or edit.errors:  # changed since the page showed it (409), or refused (422): the page says why
        page = _product_page(request, user, edit.product, s, channel, locale, errors=edit.errors, stale=edit.stale,
                             outranked=notices)
        page.status_code = 409 if edit.stale else 422
        return page
    if notices:
        request.session[OUTRANKED] = notices
    return RedirectResponse(_page_url(identifier, channel, locale), status_code=303)
