"""HTML pages for the content team: product grid, product page (inline edit, provenance, conflicts,
completeness, media, history), the "what blocks publishing" dashboard, and jobs."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from pim import association_claims, portal_sessions
from pim.product import value_key
from pim.structure import AttributeType
from pim.web import panels, sessions
from pim.web.accounts import ROLE_LABELS, User, authenticate
from pim.web.deps import check_csrf, csrf_token, read_form, session_user, store_of, structure_of
from pim.web.throttle import sign_in_attempt
from pim.web import editing
from pim.web.editing import BULK_MAX, apply_model_values, apply_values, history
from pim.web.grid import filter_from, page
from pim.web.segment_route import SegmentRoute, segment

router = APIRouter(include_in_schema=False, route_class=SegmentRoute)  # /products/a%2Fb is product 'a/b'
templates = Jinja2Templates(directory=str(Path(__file__).parent / "templates"))
templates.env.globals["role_label"] = ROLE_LABELS
templates.env.filters["segment"] = segment  # a product link's identifier, '/' encoded too


def render(request: Request, name: str, user: User | None, **ctx: Any) -> HTMLResponse:
    return templates.TemplateResponse(request, name, {"user": user, "csrf": csrf_token(request), **ctx})


@router.get("/login")
def login_form(request: Request, next: str = "/products") -> HTMLResponse:
    from pim.web.signin_return import DRAFT

    draft = request.session.get(DRAFT)  # a value edit the ended session did not save (pim.web.signin_return)
    notice = f"Your session ended, so your change to {draft.get('key')} on {draft.get('product')} was not saved. " \
        "Sign in again to go back to it." if isinstance(draft, dict) else None
    return render(request, "login.html", None, next=next, error=None, notice=notice)


@router.post("/login", dependencies=[Depends(check_csrf)])
async def login(request: Request) -> Any:
    from pim.web import drafts
    from pim.web.signin_return import DRAFT, safe_next

    form = await request.form()
    nxt, username = str(form.get("next") or "/products"), str(form.get("username", ""))
    attempt = sign_in_attempt(request, "staff", account=username)  # user names are matched as typed
    if attempt.wait:
        return attempt.refused_page(render(request, "login.html", None, next=nxt, error=attempt.message))
    user = authenticate(store_of(request), username, str(form.get("password", "")))
    if user is None:
        attempt.failed()
        return render(request, "login.html", None, next=nxt, error="Wrong user name or password.")
    attempt.succeeded()
    store = store_of(request)
    sessions.end_held(store, request.session.get("sid"))  # a new sign-in in this browser replaces its session
    portal_sessions.end_named_in(store, request.session)  # the combined app's portal sign-in goes with the cookie
    draft = request.session.get(DRAFT)  # the same person's unsaved edit, for the page `next` opens
    request.session.clear()
    if isinstance(draft, dict) and draft.get("uid") in (None, user.id):
        request.session[DRAFT] = draft
    elif isinstance(draft, dict):  # another person's: its text goes (pim.web.drafts)
        drafts.drop(store, draft.get("id"))
    request.session["uid"] = user.id
    request.session["stamp"] = user.stamp
    request.session["sid"] = sessions.start(store, user.id, request.headers.get("user-agent", ""),
                                            request.client.host if request.client else "")
    answer = RedirectResponse(safe_next(request, nxt), status_code=303)  # a POST-only `next` opens its page
    drafts.set_owner(request, answer, user.id)  # whose a save is once this browser's cookie has expired
    return answer


@router.post("/logout", dependencies=[Depends(check_csrf)])
def logout(request: Request) -> Any:
    sessions.end_held(store_of(request), request.session.get("sid"))
    portal_sessions.end_named_in(store_of(request), request.session)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


@router.get("/")
def home() -> Any:
    return RedirectResponse("/products", status_code=303)


@router.get("/products")
def grid(request: Request, after: int = 0, user: User = Depends(session_user)) -> HTMLResponse:
    s = structure_of(request)
    f = filter_from(request.query_params)
    try:
        rows, nxt = page(store_of(request), f, s, after=after, limit=50)
    except ValueError as exc:
        raise HTTPException(422, str(exc)) from None
    # htmx's "Next page" swaps in rows; the URL it pushes (Back, htmx restoring its history) opens a whole page
    swapped = bool(request.headers.get("hx-request") and after
                   and not request.headers.get("hx-history-restore-request"))
    name = "_grid_rows.html" if swapped else "grid.html"
    full = name == "grid.html"
    from pim.grid_query import quality_problem, scope_problem

    wrong = scope_problem(f, s) if full else None  # a hand-made URL: say the scope filters filter nothing
    warning = f"{wrong[1]}: the completeness, missing and quality filters have no scores there" if wrong else \
        quality_problem(f, s) if full else None  # a reason the gate never stores: the page is empty for that
    answer = render(request, name, user, rows=rows, next_cursor=nxt, f=f, s=s, scope_warning=warning,
                    has_completeness=panels.tables() is not None, bulk_max=BULK_MAX, after=after, swapped=swapped,
                    bulk_notice=request.session.pop(BULK_NOTICE, None) if full else None,
                    stale_scores=_stale_scores(request) if full else {},
                    grid_reindex=_grid_reindex(request) if full else [])
    answer.headers["Vary"] = "HX-Request"  # Back must not get the rows' fragment the browser cached for htmx
    return answer


def _stale_scores(request: Request) -> dict[str, list[str]]:
    """family → channels whose stored scores wait for a rescore job (pim.rescore_jobs.unsettled): the grid's
    and dashboard's completeness figures are the earlier ones there until it succeeds, so the pages say so."""
    from pim.rescore_jobs import unsettled

    with store_of(request).engine.connect() as conn:
        return {family: sorted(channels) for family, channels in sorted(unsettled(conn).items())}


def _grid_reindex(request: Request) -> list[dict[str, Any]]:
    """Category moves whose grid re-index is a queued job not yet succeeded (pim.grid_jobs.unsettled): the
    category filter may file those products under their old parents until it does, so the grid says so."""
    from pim.grid_jobs import unsettled

    return unsettled(store_of(request))


BULK_NOTICE = "bulk"  # session flash: the last mass edit's outcome, for the grid


@router.post("/products/bulk", dependencies=[Depends(check_csrf)])
async def bulk_edit(request: Request, user: User = Depends(session_user)) -> Any:
    """One value on the ticked products, or on every product the grid's filter finds (up to BULK_MAX); a clear
    of many asks first (pim.web.mass_edit)."""
    if not user.can("editor"):
        raise HTTPException(403, f"role '{user.role}' may not edit values")
    from pim.web import mass_edit

    return await mass_edit.bulk_edit(request, user, render, BULK_NOTICE)


# ---------------------------------------------------------------- product page
def _scope(request: Request, s: Any) -> tuple[str | None, str | None]:
    channel = request.query_params.get("channel") or next(iter(sorted(s.channels)), None)
    locale = request.query_params.get("locale") or (s.channels[channel].locales[0] if channel in s.channels else None)
    return channel, locale


def value_rows(product: Any, store: Any, s: Any, channel: str | None, locale: str | None,
               ancestors: list[Any] | None = None) -> list[dict[str, Any]]:
    """Attribute groups, each with its attributes' value, key, provenance, whether it is inherited, and the model
    an edit of it is saved on (`edit_on`: the model holding its level, also while empty; pim.web.model_edits).
    `ancestors`: the product's models, when the caller read them already."""
    family = s.families.get(product.family or "")
    codes = family.attributes if family else sorted({k.split(":")[0].split("@")[0] for k in product.values})
    inherited: dict[str, Any] = {}
    if ancestors is None:
        ancestors = store.ancestors(product) if product.parent else []
    for model in reversed(ancestors):
        inherited.update({k: (v, model.provenance_of(k), model.code) for k, v in model.values.items()})
    from pim.web.model_edits import holders

    held = holders(s, list(codes), ancestors)  # a model level's attribute is edited there, even while empty
    groups: dict[str, list[dict[str, Any]]] = {}
    for code in codes:
        attr = s.attributes.get(code)
        if attr is None:
            continue
        key = value_key(code, locale if attr.localizable else None, channel if attr.scopable else None)
        own = key in product.values
        value, prov, origin = (product.values.get(key), product.provenance_of(key), None) if own else inherited.get(key, (None, None, None))
        groups.setdefault(attr.group, []).append({
            "attr": attr, "key": key, "value": value, "prov": prov, "inherited_from": origin,
            "edit_on": origin or (None if own else held.get(code)),  # the model a save writes to (None: the product)
            "options": sorted(s.options.get(code, {})), "label": attr.labels.get(locale or "", code)})
    order = {g: s.attribute_groups[g].sort_order if g in s.attribute_groups else 999 for g in groups}
    return [{"group": g, "rows": groups[g]} for g in sorted(groups, key=lambda g: (order[g], g))]


MODEL_TARGET = "model:"  # an edit form's `target` for a value inherited from that model
OUTRANKED = "outranked"  # session flash: edits the precedence kept from showing, for the next product page
SHOWN = "shown"  # an edit form's field: the value (JSON) the page showed, so a save can tell it changed since
SAVED = "saved"  # session flash: the key just saved, whose field the next product page focuses


def _page_url(identifier: str, channel: str | None, locale: str | None) -> str:
    """The product page in the channel and locale it was viewed in (the default ones when not given)."""
    from urllib.parse import quote, urlencode

    scope = {k: v for k, v in (("channel", channel), ("locale", locale)) if v}
    return f"/products/{quote(identifier, safe='')}" + (f"?{urlencode(scope)}" if scope else "")


def _notices(result: Any, target: str) -> list[list[str]]:
    """The flash of an edit's outranked keys on `target` (the product, or `model:<code>`): [key, the source
    that shows, why (editing.KEPT, …), and for an UNCLAIMED clear the command that withdraws that source]."""
    import shlex

    out = []
    for key, src in result.outranked.items():
        why = result.why.get(key, editing.KEPT)
        withdraw = f"pim import withdraw {shlex.quote(src)} {shlex.quote(target)}" if why == editing.UNCLAIMED else ""
        out.append([key, src, why, withdraw])
    return out


@router.get("/products/{identifier}")
def product_page(identifier: str, request: Request, user: User = Depends(session_user)) -> HTMLResponse:
    store, s = store_of(request), structure_of(request)
    product = store.get_product(identifier)
    if product is None:
        raise HTTPException(404, f"no product '{identifier}'")
    from pim.web.signin_return import draft_for

    channel, locale = _scope(request, s)
    draft = draft_for(request, product.identifier, user.id)  # an edit the ended session did not save: back in its field
    kept = _kept(s, draft["key"], FormData(draft["form"])) if draft and "form" in draft else {}
    from pim.web.model_edits import ON_MODEL

    return _product_page(request, user, product, s, channel, locale, kept=kept, draft=draft,
                         outranked=request.session.pop(OUTRANKED, None) or [], focus=request.session.pop(SAVED, None),
                         on_model=request.session.pop(ON_MODEL, None))


def _kept(s: Any, key: str, form: Any) -> dict[str, dict[str, Any]]:
    """An edit not saved (refused, or its session ended), for its field to show again: {key: {"yours", "shown"}},
    `shown` being what the page showed when it was typed, so saving it again still notices a change since."""
    attr = s.attributes.get(key.split(":")[0].split("@")[0])
    if attr is None:
        return {}
    channel = str(form.get("channel") or "")
    currencies = s.channels[channel].currencies if channel in s.channels else sorted(s.currencies)
    return {key: {"yours": form_value(attr, form, currencies), "shown": form.get(SHOWN)}}


def _product_page(request: Request, user: User, product: Any, s: Any, channel: str | None, locale: str | None, *,
                  errors: dict[str, str] | None = None, outranked: list[Any] | None = None,
                  stale: dict[str, Any] | None = None, kept: dict[str, Any] | None = None,
                  draft: dict[str, Any] | None = None, focus: str | None = None,
                  on_model: dict[str, Any] | None = None) -> HTMLResponse:
    """The product page: its values (with what it inherits), the area panels and its and its models' history.
    `stale`: edits not saved as their value changed since (editing.Stale): their fields keep the edit; `kept`:
    edits refused, or left by an ended session (`draft`), shown in their fields unsaved (_kept); `focus`: the
    key whose field takes the keyboard focus (the one just saved), else the first refused one."""
    store, identifier = store_of(request), product.identifier
    ancestors = store.ancestors(product) if product.parent else []
    focus = next(iter([*(errors or {}), *(stale or {}), *(kept or {})]), focus)
    return render(request, "product.html", user, p=product, s=s, channel=channel, locale=locale,
                  groups=value_rows(product, store, s, channel, locale, ancestors),
                  completeness=panels.completeness(store, identifier),
                  decisions=panels.gate_decision(store, identifier),
                  conflicts=panels.conflicts(store, identifier, product.parent), media=panels.media_available(),
                  others=panels.other_values(store, identifier, product.parent),
                  associations=association_claims.overview(store, product, ancestors),
                  history=history(store, identifier, 50, [m.code for m in ancestors]),
                  errors=errors or {}, saved=None if errors or stale or kept else focus, outranked=outranked or [],
                  stale=stale or {}, kept=kept or {}, draft=draft, focus=focus, on_model=on_model,
                  inherited_categories=list(dict.fromkeys(  # a variant's models' categories, not its own
                      c for m in ancestors for c in m.categories if c not in product.categories)))


def form_value(attr: Any, form: Any, currencies: list[str]) -> Any:
    """The edit form's fields → the value pim.values.normalize expects for this attribute type."""
    if attr.type == AttributeType.metric:
        amount = form.get("value", "")
        return None if amount == "" else {"amount": amount, "unit": form.get("unit") or attr.default_unit}
    if attr.type == AttributeType.price_collection:
        return {c: form.get(f"price_{c}", "") for c in currencies if form.get(f"price_{c}", "") != ""} or None
    if attr.type == AttributeType.multi_select:
        return form.getlist("value")
    return form.get("value", "")


@router.post("/products/{identifier}/values", dependencies=[Depends(check_csrf)])
async def edit_value(identifier: str, request: Request, user: User = Depends(session_user)) -> Any:
    if not user.can("editor"):
        raise HTTPException(403, f"role '{user.role}' may not edit values")
    store, s = store_of(request), structure_of(request)
    form = await read_form(request)  # a long value: up to signin_return.READ_AT_MOST (pim.web.deps)
    key = str(form.get("key", ""))
    attr = s.attributes.get(key.split(":")[0].split("@")[0])
    if attr is None:
        raise HTTPException(422, f"unknown value key '{key}'")
    channel, locale = str(form.get("channel") or ""), str(form.get("locale") or "")
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
    from pim.web.imports import refuse_declared_over  # not at the top: pim.web.imports imports this module

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


# ---------------------------------------------------------------- dashboard and jobs
@router.get("/dashboard")
def dashboard(request: Request, user: User = Depends(session_user)) -> HTMLResponse:
    s = structure_of(request)
    channel, locale = request.query_params.get("channel"), request.query_params.get("locale") or None
    channels = [channel] if channel else sorted(s.channels)
    # a channel that does not publish the locale has no report in it (pim.completeness.report refuses one)
    channels = [c for c in channels if not locale or c not in s.channels or locale in s.channels[c].locales]
    shown = request.query_params.get("todo")  # the to-do's length: a number or "all" (panels.dashboard_report)
    reports = [r for c in channels if (r := panels.dashboard_report(store_of(request), c, locale, shown)) is not None]
    return render(request, "dashboard.html", user, reports=reports, s=s, available=panels.tables() is not None,
                  channel=channel, locale=locale, stale_scores=_stale_scores(request))


@router.get("/jobs")
def jobs(request: Request, user: User = Depends(session_user)) -> HTMLResponse:
    from pim.web import job_waits

    store = store_of(request)
    rows = store.jobs(limit=100)
    return render(request, "jobs.html", user, jobs=rows, deliveries=panels.deliveries(store),
                  waits=job_waits.reasons(store, rows))  # why a queued job waits, as `pim jobs list` says


@router.get("/jobs/{job_id}")
def job(job_id: int, request: Request, user: User = Depends(session_user)) -> HTMLResponse:
    store = store_of(request)
    found = store.job(job_id)
    if found is None:
        raise HTTPException(404, f"no job {job_id}")
    return _job_page(request, user, found)


def _job_page(request: Request, user: User, found: dict[str, Any], error: str | None = None) -> HTMLResponse:
    """The job page; a Cancel button while the job can be cancelled by this user (pim.job_cancel), and a
    priority form while it waits in the queue for a worker (not held by the command that runs it)."""
    from pim.job_cancel import cancellable
    from pim.job_enqueue import PRIORITY_MAX, PRIORITY_MIN, QUEUED
    from pim.web import job_waits
    from pim.web.job_roles import role_for

    allowed = user.can(role_for(found))
    store = store_of(request)
    attempts = (found.get("payload") or {}).get("attempts") or []
    return render(request, "job.html", user, job=found, error=error,
                  cancellable=cancellable(found) and allowed,
                  prioritisable=allowed and found["status"] == QUEUED and not found.get("pid"),
                  priority_range=(PRIORITY_MIN, PRIORITY_MAX), job_error=_job_error(found.get("error"), found),
                  attempts=[{**a, "error": _job_error(a.get("error"), found)} for a in attempts],
                  upload=_upload_again(found, allowed), file_refused=_file_refused(found),
                  waits=job_waits.reasons(store, [found]).get(found["id"]), ahead=job_waits.ahead(store, found),
                  **_job_quarantine(store, found))


def _job_error(text: str | None, job: dict[str, Any]) -> str | None:
    """A job's error as its page shows it: its upload by its file name, as the quarantine and the importers'
    other errors name it, and other paths under PIM_HOME by their place there (not the server's folders)."""
    from pim.web.api_models import homeless

    path = (job.get("payload") or {}).get("path")
    if text and isinstance(path, str):
        text = text.replace(path, Path(path).name)
    return homeless(text) if text else text


def _upload_again(job: dict[str, Any], may_import: bool) -> dict[str, str] | None:
    """An uploaded file's import job: the name it was uploaded under, and (for who may import) the import page
    with its source and profile chosen, where a fixed file goes: "Run again" reads the kept upload as it was."""
    from urllib.parse import urlencode

    from pim.web.imports import job_row

    payload = job.get("payload") or {}
    if job["kind"] != "import" or not payload.get("path"):
        return None
    row = job_row(job)
    chosen = {"importer": payload.get("importer") or "", "profile": row["profile_name"]}
    url = "/imports?" + urlencode({k: v for k, v in chosen.items() if v}) if may_import else ""
    return {"name": payload.get("name") or row["file"], "url": url}


def _file_refused(job: dict[str, Any]) -> bool:
    """Whether a job failed without taking in a row: the file (or the profile) was refused as a whole, so running
    the same upload again fails the same way; the fix is a new file."""
    counts = job.get("counts") or {}
    return job["status"] == "failed" and not any(counts.get(k) for k in ("created", "updated", "unchanged"))


#: Quarantine rows a job page lists; the groups above the list count them all.
JOB_ROWS = 1000
#: Rows of a retried job's earlier attempts its page lists (folded): they were closed when it was run again.
EARLIER_ROWS = 100


def _job_quarantine(store: Any, job: dict[str, Any]) -> dict[str, Any]:
    """A job's quarantine for its page: the first JOB_ROWS entries, and (when there are more kinds or rows than
    one glance takes) the entries counted by severity, file and field with an example, and their total. A job
    run again (pim.job_enqueue.retry) counts and lists its current attempt's entries, so they agree with its
    counts; its earlier attempts' (closed by the retry, recorded before this attempt started, so first by id)
    are counted apart, the first EARLIER_ROWS listed."""
    job_id = job["id"]
    since = job.get("started_at") if (job.get("payload") or {}).get("attempts") else None
    rows = store.quarantined(job_id, open_only=False, limit=JOB_ROWS, since=since)
    groups = store.quarantine_summary(job_id, open_only=False, since=since) if rows else []
    total = sum(g["entries"] for g in groups)
    earlier_total = sum(g["entries"] for g in store.quarantine_summary(job_id, open_only=False)) - total \
        if since is not None else 0
    earlier = store.quarantined(job_id, open_only=False, limit=min(earlier_total, EARLIER_ROWS)) \
        if earlier_total else []
    return {"quarantined": rows, "quarantine_groups": groups if len(groups) > 1 or len(rows) >= JOB_ROWS else [],
            "quarantine_total": total, "earlier_quarantined": earlier, "earlier_total": earlier_total}


@router.post("/jobs/{job_id}/retry", dependencies=[Depends(check_csrf)])
def retry_job(job_id: int, request: Request, user: User = Depends(session_user)) -> Any:
    """Queue a failed, interrupted or cancelled job again (an import: editors; a rescore or a publication:
    admins; pim.web.job_roles). An import whose upload is no longer kept is refused on the page, with what to do."""
    from pim.errors import InputError
    from pim.job_enqueue import retry
    from pim.job_uploads import UploadGone

    def again(store: Any, i: int) -> Any:
        try:
            return retry(store, i)
        except UploadGone as exc:  # the page shows a refusal's message alone: this one needs its hint too
            raise InputError(exc.in_one_line()) from None

    return _on_job(request, user, job_id, "run {kind} jobs again", again)


@router.post("/jobs/{job_id}/cancel", dependencies=[Depends(check_csrf)])
def cancel_job(job_id: int, request: Request, user: User = Depends(session_user)) -> Any:
    """Cancel a queued job, or ask a running one to stop (the role that may run it again; pim.web.job_roles)."""
    from pim.job_cancel import cancel

    return _on_job(request, user, job_id, "cancel {kind} jobs", cancel)


@router.post("/jobs/{job_id}/priority", dependencies=[Depends(check_csrf)])
async def prioritise_job(job_id: int, request: Request, user: User = Depends(session_user)) -> Any:
    """Give a queued job another priority (`priority`, a whole number in pim.job_queue's range), with the roles
    of retry and cancel, as `POST /api/v1/jobs/{id}/priority`: a bad number is said on the page with 422, a job
    a worker took meanwhile (or that ended) with 409."""
    from pim.job_enqueue import set_priority

    raw = str((await request.form()).get("priority", "")).strip()
    return _on_job(request, user, job_id, "reorder {kind} jobs", lambda store, i: set_priority(store, i, _whole(raw)))


def _whole(raw: str) -> int:
    """The priority typed, as a number (InputError with field "priority" when it is none)."""
    from pim.errors import InputError
    from pim.job_enqueue import PRIORITY_MAX, PRIORITY_MIN

    try:
        return int(raw)
    except ValueError:
        raise InputError(f"priority '{raw}' is not a whole number", field="priority",
                         hint=f"give one from {PRIORITY_MIN} to {PRIORITY_MAX} (higher runs first)") from None


def _on_job(request: Request, user: User, job_id: int, verb: str, act: Callable[[Any, int], Any]) -> Any:
    """`act(store, job_id)` for a user whose role may run the job's kind (`verb` says what was refused); back
    to the job page, which says why with 409 when the job is not (or no longer) in a state for it, or with 422
    and the hint when a value given was wrong (an InputError naming a field)."""
    from pim.errors import InputError
    from pim.web.job_roles import role_for

    store = store_of(request)
    found = store.job(job_id)
    if found is None:
        raise HTTPException(404, f"no job {job_id}")
    if not user.can(role_for(found)):
        raise HTTPException(403, f"role '{user.role}' may not {verb.format(kind=found['kind'])}")
    try:
        act(store, job_id)
    except InputError as exc:  # ended, claimed or queued meanwhile, or a bad value: the page says so
        page = _job_page(request, user, store.job(job_id) or found, exc.in_one_line() if exc.field else str(exc))
        page.status_code = 422 if exc.field else 409
        return page
    return RedirectResponse(f"/jobs/{job_id}", status_code=303)
