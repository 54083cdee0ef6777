"""The grid's mass edit (POST /products/bulk) in an editor's words. An empty value withdraws the content team's
value on every product it reaches (the next source's value shows, or nothing), so a clear of more than one
product is only applied once the editor ticks "clear this value on N products" for the very N it reaches; the
summary counts a clear by what the products show after it, never as "kept aside". Refusals are worded for the
web form (not an import's map), each reason once with how many products it stopped."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse

from pim.product import EMPTY
from pim.web.accounts import User
from pim.web.editing import BULK_MAX, BulkResult, apply_bulk, text_value
from pim.web.grid import filter_from, pages

#: The form field that confirms a clear: the number of products the editor was told it reaches.
CONFIRM_FIELD = "confirm_clear"
#: A clear reaching more products than this asks first (one ticked product is one field emptied).
CLEAR_ASKS_OVER = 1
NAMED = 3  # products a refusal names; the others are counted

#: An import's advice in a value's or a merge's refusal (pim.values, pim.validation) → what an editor can do.
_EDITOR_ADVICE = (
    (". Map the source's value to one of them (`map:` on its column in the import's map or profile), or add the "
     "option to the structure (attribute_options:)",
     ". Use one of them, or ask an administrator to add the option to the attribute"),
    (": add it to the family's attributes in the structure, or take it out of the import (its map or file)",
     ": leave these products out of the edit (filter by a family that has it), or ask an administrator to add "
     "it to the family"),
    ("; add them to the family's attributes in the structure, or take them out of the import (its map or file)",
     "; leave these products out of the edit, or ask an administrator to add them to the family"),
)


def editor_reason(reason: str) -> str:
    """A refusal written for an import, with the advice an editor of the web form can follow instead."""
    for imported, edited in _EDITOR_ADVICE:
        reason = reason.replace(imported, edited)
    return reason


async def bulk_edit(request: Request, user: User, render: Callable[..., HTMLResponse], notice_key: str) -> Any:
    """Apply the form's value to the ticked products or to every product the filter finds (up to BULK_MAX);
    the outcome goes to the grid as the session flash `notice_key`. A clear not yet confirmed for the number
    of products it reaches renders the confirmation page instead, and changes nothing."""
    from pim.values import ValueProblem
    from pim.web.deps import store_of, structure_of

    store, s = store_of(request), structure_of(request)
    form = await request.form()
    key, raw = str(form.get("key", "")).strip(), str(form.get("value", ""))
    attr = s.attributes.get(key.split(":")[0].split("@")[0])
    back = "/products?" + str(form.get("filter", ""))

    def done(notice: str) -> RedirectResponse:
        request.session[notice_key] = notice
        return RedirectResponse(back, status_code=303)

    if attr is None:
        return done(f"Not applied: '{key}' is not an attribute.")
    try:
        value = text_value(attr, raw, s.measures)
    except ValueProblem as exc:
        return done(f"Not applied: {key}: {editor_reason(str(exc))}")
    identifiers = _reached(store, s, form)
    if not identifiers:
        return done("Not applied: tick some products first (or choose every product the filter finds).")
    if value in EMPTY and len(identifiers) > CLEAR_ASKS_OVER and form.get(CONFIRM_FIELD) != str(len(identifiers)):
        return render(request, "bulk_clear.html", user, key=key, count=len(identifiers), back=back,
                      scope=str(form.get("scope", "")), filter=str(form.get("filter", "")),
                      skus=[str(i) for i in form.getlist("sku")], confirm_field=CONFIRM_FIELD,
                      recounted=form.get(CONFIRM_FIELD) is not None)
    return done(notice(key, apply_bulk(store, identifiers, {key: value}, user.username, structure=s), value))


def _reached(store: Any, s: Any, form: Any) -> list[str]:
    """The identifiers the form's scope names: the ticked ones, or the filter's (up to BULK_MAX)."""
    if form.get("scope") != "filter":
        return [str(i) for i in form.getlist("sku")]
    f = filter_from(dict(parse_qsl(str(form.get("filter", "")))))
    identifiers: list[str] = []
    for rows in pages(store, f, s):
        identifiers += [r.identifier for r in rows]
        if len(identifiers) >= BULK_MAX:
            break
    return identifiers[:BULK_MAX]


def notice(key: str, result: BulkResult, value: Any) -> str:
    """The grid's one-line summary of a mass edit of `key` to `value`: a clear (an empty value) by what shows
    after it, a set by where it shows. The request decides which, not the counts: a clear whose products were
    all empty already, or all refused, is still said as a clear."""
    if result.errors:
        return "Not applied: " + "; ".join(f"{k}: {editor_reason(m)}" for k, m in result.errors.items())
    cleared = result.emptied + sum(result.fell_back.values())
    if value in EMPTY:
        parts = [f"{key} cleared on {_products(cleared)}"]
        if result.fell_back:
            sources = ", ".join(f"{n} from {src or 'another source'}" for src, n in sorted(result.fell_back.items()))
            parts.append(f"{sum(result.fell_back.values())} now show another source's value ({sources})")
        if result.emptied:
            parts.append(f"{result.emptied} now empty")
        if result.not_theirs:
            parts.append(f"{result.not_theirs} left as they are: the value they show is another source's, not the "
                         "content team's (an empty value withdraws only the content team's)")
        if result.unchanged:
            parts.append(f"{result.unchanged} already empty")
    else:
        parts = [f"{key} set on {_products(result.changed)}"]
        if result.unchanged:
            parts.append(f"{result.unchanged} already showed it")
        if result.outranked:
            parts.append(f"{result.outranked} kept aside (another source ranks first)")
    if result.on_models:
        parts.append(f"{result.on_models} variant{'s' if result.on_models != 1 else ''} left as they are: their "
                     f"models hold it, for all their variants — {_models_advice(result.models)}")
    if result.refused:
        parts.append(refused_notice(result.refused))
    return "; ".join(parts) + "."


def refused_notice(refused: dict[str, str]) -> str:
    """The refused products (nothing of their edit written) by reason: each reason once, with how many
    products it stopped and the first few of them."""
    by_reason: dict[str, list[str]] = {}
    for ident, why in refused.items():
        by_reason.setdefault(editor_reason(why), []).append(ident)
    said = []
    for why, idents in by_reason.items():
        if len(idents) == 1:
            said.append(f"{idents[0]} ({why})")
            continue
        more = f" and {len(idents) - NAMED} more" if len(idents) > NAMED else ""
        said.append(f"{_products(len(idents))} ({', '.join(idents[:NAMED])}{more}): {why}")
    return f"{len(refused)} refused, left as they are: " + "; ".join(said)


def _models_advice(models: list[str]) -> str:
    """What to do about variants a mass edit left for their models: set the value on those models (named, the
    first few), from any of their variants' pages or with PATCH /api/v1/models/{code}."""
    named = ", ".join(models[:NAMED]) + (f" and {len(models) - NAMED} more" if len(models) > NAMED else "")
    return (f"set it on model{'s' if len(models) != 1 else ''} {named} (on a variant's page the field saves to its "
            "model; or PATCH /api/v1/models/CODE)") if models else "set it on their models"


def _products(n: int) -> str:
    return f"{n} product{'s' if n != 1 else ''}"
