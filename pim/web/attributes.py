"""The catalog admins' attribute pages: every attribute with its type, group, scope and the families using
it; adding an attribute (any type but the identifier, with the settings its type has), relabelling one, and
deleting one nothing uses. New attributes go through the structure files' own checks (pim.web.attribute_form)
and every change through Store.put_structure / delete_structure, so the structure cache, completeness and the
grid index follow exactly as after `pim structure load`. A new attribute belongs to no family: the family
page adds it, and only then is it required anywhere.

Deletion is refused, naming each blocker (pim.attribute_usage), while a family, variant axis, channel gate or
contract names the attribute or a product or product model holds a value of it; the select options of a
deleted attribute go with it. The option pages (pim.web.options) share the `/admin/attributes` prefix."""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse

from pim import attribute_usage
from pim.catalog import Structure
from pim.structure import Attribute, structure_key
from pim.web.accounts import User
from pim.web.admin import admin_user
from pim.web.attribute_form import DEFAULTS, TYPES, attribute_data, groups, new_attribute, setting_fields
from pim.web.deps import check_csrf, store_of, structure_of
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
    """The built-in channel catalogs (channels/catalogs) whose field mapping reads `code`. Said on the page,
    not a blocker: a catalog reads an attribute that is gone as an empty value — what it reads already, since
    only an attribute no product holds can be deleted — and an admin cannot change a built-in mapping."""
    from channels.framework import BUILTIN_DIR, load_catalog

    word = re.compile(rf"\b{re.escape(code)}\b")
    found = []
    for path in sorted(BUILTIN_DIR.glob("*.yaml")):
        catalog = load_catalog(path)
        outputs = [f.output for f in catalog.fields
                   if f.attribute == code or code in f.attributes or (f.template and word.search(f.template))]
        if outputs:
            found.append(f"{catalog.code} ({', '.join(outputs)})")
    return found


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
                  measures={f: s.measures.units(f) for f in sorted(s.measures.families)})
    page.status_code = status
    return page


def _attribute_page(request: Request, user: User, code: str, *, error: str | None = None,
                    notice: str | None = None, status: int = 200) -> HTMLResponse:
    s = structure_of(request)
    attr = s.attributes.get(code)
    if attr is None:
        raise HTTPException(404, f"no attribute '{code}'")
    store = store_of(request)
    page = render(request, "admin_attributes.html", user, attr=attr, settings=settings_of(attr),
                  families=families_using(s).get(code, []), options=len(s.options.get(code, {})), selects=SELECTS,
                  catalogs=catalog_mappings(code), blocked=attribute_usage.blockers(store, s, code, values=False),
                  locales=s.enabled_locales(), error=error, notice=notice)
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
    shown = [loc for loc in s.enabled_locales() if f"label:{loc}" in form]
    given = {loc: v for loc in shown if (v := str(form.get(f"label:{loc}", "")).strip())}
    labels = {**{k: v for k, v in attr.labels.items() if k not in shown}, **given}
    if labels == attr.labels:
        return _attribute_page(request, user, code, notice="Nothing changed.")
    store_of(request).put_structure("attribute", [attr.model_copy(update={"labels": labels})])
    return _attribute_page(request, user, code, notice="Labels saved.")


@router.post("/{code}/delete", dependencies=[Depends(check_csrf)])
def delete_attribute(code: str, request: Request, user: User = Depends(admin_user)) -> Any:
    store, s = store_of(request), structure_of(request)
    attr = s.attributes.get(code)
    if attr is None:
        raise HTTPException(404, f"no attribute '{code}'")
    blocked = attribute_usage.blockers(store, s, code)
    if blocked:
        return _attribute_page(request, user, code, error=f"{code} was not deleted: {'; '.join(blocked)}.", status=409)
    options = list(s.options.get(code, {}).values())
    store.delete_structure("attribute", code)
    with store.engine.connect() as conn:  # an import may have written a value meanwhile: put it back
        raced = sum(attribute_usage.value_holders(conn, table, code)[0] for table in attribute_usage.HOLDERS)
    if raced:
        store.put_structure("attribute", [attr])
        return _attribute_page(request, user, code, status=409,
                               error=f"{code} was not deleted: products got a value of it while it was being deleted.")
    for opt in options:
        store.delete_structure("attribute_option", structure_key("attribute_option", opt))
    gone = f" and its {len(options)} option{'s' if len(options) != 1 else ''}" if options else ""
    return _list_page(request, user, notice=f"Deleted {code}{gone}.")

