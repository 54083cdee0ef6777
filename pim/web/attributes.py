"""The catalog admins' attribute pages: every attribute with its type, group, scope and the families using
it; adding an attribute (any type but the identifier, with the settings its type has), relabelling one,
changing its group, settings or type in place, and deleting one nothing uses. New and changed attributes go
through the structure files' own checks (pim.web.attribute_form) and every change through
Store.put_structure / delete_structure, so the structure cache, completeness and the grid index follow exactly
as after `pim structure load`. A new attribute belongs to no family: the family page adds it, and only then is
it required anywhere.

A settings change (pim.attribute_changes) never rewrites values: it is refused when it would change how
values are keyed, change the type to an incompatible one, or refuse values products or product models
already hold. A change that rescores a large family (a type change) leaves that to a recorded rescore job,
exactly as the family page does (pim.rescore_jobs.deferred), and its notice names the job.

Deletion is refused, naming each blocker (pim.attribute_usage), while a family, variant axis, channel gate,
built-in channel catalog or contract names the attribute or a product or product model holds a value of it;
the select options of a deleted attribute go with it. The option pages (pim.web.options) share the
`/admin/attributes` prefix."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse

from pim import attribute_changes, attribute_usage, rescore_jobs, structure_deletes
from pim.catalog import Structure
from pim.structure import Attribute, AttributeType
from pim.web.accounts import User
from pim.web.admin import admin_user
from pim.web.attribute_form import (
    DEFAULTS,
    EDITABLE,
    INDEX_FLAGS,
    TYPES,
    attribute_data,
    edited_attribute,
    groups,
    new_attribute,
    setting_fields,
    settings_form,
)
from pim.web.deps import check_csrf, store_of, structure_of
from pim.web.label_form import relabelled
from pim.web.options import SELECTS
from pim.web.ui import render

router = APIRouter(prefix="/admin/attributes", include_in_schema=False)


def families_using(s: Structure) -> dict[str, list[str]]:
    """attribute → the families listing it, sorted."""
    out: dict[str, list[str]] = {}
    for code in sorted(s.families):
        for a in s.families[code].attributes:
            out.setdefault(a, []).append(code)
    return out


def catalog_mappings(code: str) -> list[str]:
    """"google_merchant (color)": each built-in channel catalog mapping `code`, with its fields (said on the
    page; pim.attribute_usage makes them blockers when a structure channel publishes that catalog)."""
    return [f"{catalog.code} ({', '.join(f.output for f in fields)})"
            for catalog, fields in attribute_usage.catalog_mappings(code)]


def _measures(s: Structure) -> dict[str, list[str]]:
    """Measurement family → its unit codes, offered to the metric settings' fields."""
    return {f: s.measures.units(f) for f in sorted(s.measures.families)}


def settings_of(attr: Attribute) -> dict[str, Any]:
    """The attribute's settings that differ from the model's defaults (the page shows the rest apart)."""
    return attr.model_dump(exclude_defaults=True, exclude=_SHOWN_APART)


_SHOWN_APART = {"code", "type", "group", "labels", "localizable", "scopable", "sort_order"}


# ---------------------------------------------------------------------------------------------- pages
def _list_page(request: Request, user: User, *, error: str | None = None, notice: str | None = None,
               status: int = 200, form: dict[str, Any] | None = None) -> HTMLResponse:
    s = structure_of(request)
    page = render(request, "admin_attributes.html", user, attributes=[s.attributes[c] for c in sorted(s.attributes)],
                  families=families_using(s), options={c: len(o) for c, o in s.options.items()}, selects=SELECTS,
                  types=TYPES, groups=groups(s), fields=setting_fields(), locales=s.enabled_locales(),
                  form=form if form is not None else DEFAULTS, error=error, notice=notice,
                  measures=_measures(s))
    page.status_code = status
    return page


def _attribute_page(request: Request, user: User, code: str, *, error: str | None = None,
                    notice: str | None = None, status: int = 200, form: dict[str, Any] | None = None) -> HTMLResponse:
    s = structure_of(request)
    attr = s.attributes.get(code)
    if attr is None:
        raise HTTPException(404, f"no attribute '{code}'")
    store = store_of(request)
    kinds = [attr.type, *sorted(attribute_changes.COMPATIBLE.get(attr.type, ()))]
    page = render(request, "admin_attributes.html", user, attr=attr, settings=settings_of(attr),
                  families=families_using(s).get(code, []), options=len(s.options.get(code, {})), selects=SELECTS,
                  catalogs=catalog_mappings(code), blocked=attribute_usage.blockers(store, s, code, values=False),
                  locales=s.enabled_locales(), error=error, notice=notice,
                  edit=form if form is not None else settings_form(attr), edit_types=[k.value for k in kinds],
                  edit_fields=setting_fields(EDITABLE, kinds), groups=list(dict.fromkeys([*groups(s), attr.group])),
                  measures=_measures(s) if attr.type == AttributeType.metric else {})
    page.status_code = status
    return page


@router.get("")
def attributes_page(request: Request, user: User = Depends(admin_user)) -> HTMLResponse:
    return _list_page(request, user)


@router.post("", dependencies=[Depends(check_csrf)])
async def add_attribute(request: Request, user: User = Depends(admin_user)) -> Any:
    """`code`, `type`, `group`, `label:<locale>`, the flags and the type's settings (attribute_form.SETTINGS)."""
    s = structure_of(request)
    form = await request.form()
    attr, problems = new_attribute(s, attribute_data(form, s.enabled_locales()))
    if attr is None:
        kept = {k: str(v) for k, v in form.items() if k != "csrf_token"}
        return _list_page(request, user, error="; ".join(problems), status=422, form=kept)
    store_of(request).put_structure("attribute", [attr])
    return _list_page(request, user, notice=f"Added {attr.code} ({attr.type.value}, group {attr.group}). "
                      "Add it to a family on the family page to use it.")


@router.get("/{code}")
def attribute_page(code: str, request: Request, user: User = Depends(admin_user)) -> HTMLResponse:
    return _attribute_page(request, user, code)


@router.post("/{code}", dependencies=[Depends(check_csrf)])
async def relabel_attribute(code: str, request: Request, user: User = Depends(admin_user)) -> Any:
    """`label:<locale>` for the enabled locales; an emptied field drops that label, other locales' stay."""
    s = structure_of(request)
    attr = s.attributes.get(code)
    if attr is None:
        raise HTTPException(404, f"no attribute '{code}'")
    form = await request.form()
    labels = relabelled(attr.labels, form, s.enabled_locales())
    if labels == attr.labels:
        return _attribute_page(request, user, code, notice="Nothing changed.")
    store_of(request).put_structure("attribute", [attr.model_copy(update={"labels": labels})])
    return _attribute_page(request, user, code, notice="Labels saved.")


@router.post("/{code}/settings", dependencies=[Depends(check_csrf)])
async def change_settings(code: str, request: Request, user: User = Depends(admin_user)) -> Any:
    """The whole settings form: `group`, `type` (the attribute's or a compatible one) and that type's settings
    (attribute_form.EDITABLE; an unticked checkbox is absent). Refused with 422 for what the page never
    changes, 409 for what the catalog holds that the change would break; nothing is saved then."""
    store, s = store_of(request), structure_of(request)
    attr = s.attributes.get(code)
    if attr is None:
        raise HTTPException(404, f"no attribute '{code}'")
    form = await request.form()
    kept = {k: str(v) for k, v in form.items() if k != "csrf_token"}
    new, problems = edited_attribute(s, attr, form)
    if new is not None:
        problems = attribute_changes.rule_problems(s, attr, new)
    if problems or new is None:
        return _attribute_page(request, user, code, error=f"Nothing was saved: {'; '.join(problems)}.", status=422, form=kept)
    said = attribute_changes.changes(attr, new)
    if not said:
        return _attribute_page(request, user, code, notice="Nothing changed.")
    if conflict := _conflict(store, s, attr, new, said):
        return _attribute_page(request, user, code, error=conflict, status=409, form=kept)
    with rescore_jobs.deferred() as deferral:  # read per request, as the family page
        store.put_structure("attribute", [new])
    later = (f" The products of {', '.join(sorted(deferral.families))} are being rescored "
             f"(job {', '.join(map(str, deferral.jobs))}); the family page shows when that is done.") if deferral.jobs else ""
    if any(getattr(attr, flag) != getattr(new, flag) for flag in INDEX_FLAGS):
        later += (" The channels' search documents take it at their next search push "
                  "(`pim publish --channel search`), which rebuilds their indexes.")
    if attr.internal != new.internal:
        later += (" The storefront, Google and customer feeds take it at their next publish and delivery "
                  "(pim publish, pim feeds deliver).")
    return _attribute_page(request, user, code, notice=f"Saved: {'; '.join(said)}.{later}")


def _conflict(store: Any, s: Structure, attr: Attribute, new: Attribute, said: list[str]) -> str | None:
    """Why saving `new` would break what the catalog holds (None: nothing). Stored values are read only when
    the change narrows what is valid: a loosened setting reads nothing."""
    change = "; ".join(said)
    if units := attribute_changes.catalog_problems(attr, new, s):
        return f"Nothing was saved: {change} would break the channel catalogs: {'; '.join(units)}."
    if attribute_changes.tightened(attr, new) and (held := attribute_changes.stored_problems(store, s, attr, new)):
        return (f"Nothing was saved: {change} would refuse values already stored: {'; '.join(held)}. "
                "Change those values first (mass edit on the product grid), or choose a looser setting.")
    return None


@router.post("/{code}/delete", dependencies=[Depends(check_csrf)])
def delete_attribute(code: str, request: Request, user: User = Depends(admin_user)) -> Any:
    """The rules are pim.structure_deletes' (the API and `pim structure delete` share them)."""
    try:
        done = structure_deletes.delete_attribute(store_of(request), code, structure=structure_of(request))
    except structure_deletes.NotFound:
        raise HTTPException(404, f"no attribute '{code}'") from None
    except structure_deletes.DeleteRefused as exc:
        return _attribute_page(request, user, code, error=str(exc), status=409)
    return _list_page(request, user, notice=done.notice)
