"""The product page (GET /products/{identifier}): its values with what it inherits, provenance, the area panels and
history, and what an edit left to show again (refused, stale, or kept as a draft by an ended session).
The routes that change a product from this page are in pim.web.product_edits."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from starlette.datastructures import FormData

from pim import association_claims
from pim.product import value_key
from pim.structure import AttributeType
from pim.web import editing, panels
from pim.web.accounts import User
from pim.web.deps import session_user, store_of, structure_of
from pim.web.editing import history
from pim.web.pages import render
from pim.web.segment_route import SegmentRoute

router = APIRouter(include_in_schema=False, route_class=SegmentRoute)  # /products/a%2Fb is product 'a/b'


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
