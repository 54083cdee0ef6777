"""The admins' option lists: the choices of a simple or multi select attribute (a new colour, a new brand) and
their labels per locale — the structure change people ask for most, made here instead of through
`pim structure load`. Options are added, relabelled and removed; a removal is refused while a product or
product model holds the code (pim.attribute_usage), since its value would then name an option that is gone.
The attribute list itself is pim.web.attributes."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from pim import attribute_usage
from pim.structure import AttributeOption, AttributeType, structure_key
from pim.web.accounts import User
from pim.web.admin import admin_user
from pim.web.deps import check_csrf, store_of, structure_of
from pim.web.ui import render

router = APIRouter(prefix="/admin/attributes", include_in_schema=False)
SELECTS = (AttributeType.simple_select, AttributeType.multi_select)


def _attribute(request: Request, code: str) -> Any:
    attr = structure_of(request).attributes.get(code)
    if attr is None or attr.type not in SELECTS:
        raise HTTPException(404, f"no select attribute '{code}'")
    return attr


def _page(request: Request, user: User, code: str, *, error: str | None = None, notice: str | None = None,
          status: int = 200) -> HTMLResponse:
    s = structure_of(request)
    attr = _attribute(request, code)
    options = sorted(s.options.get(code, {}).values(), key=lambda o: (o.sort_order, o.code))
    page = render(request, "admin_options.html", user, attr=attr, options=options, locales=s.enabled_locales(),
                  error=error, notice=notice)
    page.status_code = status
    return page


@router.get("/{code}/options")
def options_page(code: str, request: Request, user: User = Depends(admin_user)) -> HTMLResponse:
    return _page(request, user, code)


@router.post("/{code}/options", dependencies=[Depends(check_csrf)])
async def save_options(code: str, request: Request, user: User = Depends(admin_user)) -> Any:
    """Labels of the existing options (`label:<option>:<locale>`) and, with `new_code`, one new option
    (`new_label:<locale>`)."""
    s = structure_of(request)
    _attribute(request, code)
    form = await request.form()
    locales = s.enabled_locales()
    stored = s.options.get(code, {})
    changed: list[AttributeOption] = []
    for opt in stored.values():
        labels = {**opt.labels, **{loc: str(form.get(f"label:{opt.code}:{loc}", "")).strip() for loc in locales
                                   if f"label:{opt.code}:{loc}" in form}}
        labels = {k: v for k, v in labels.items() if v}
        if labels != opt.labels:
            changed.append(opt.model_copy(update={"labels": labels}))
    new_code = str(form.get("new_code", "")).strip()
    if new_code:
        if new_code in stored:
            return _page(request, user, code, error=f"'{new_code}' is already an option of {code}", status=422)
        try:
            changed.append(AttributeOption(attribute=code, code=new_code, sort_order=len(stored),
                                           labels={loc: v for loc in locales
                                                   if (v := str(form.get(f"new_label:{loc}", "")).strip())}))
        except ValidationError as exc:
            return _page(request, user, code, error="; ".join(f"{e['loc'][-1]}: {e['msg']}" for e in exc.errors()),
                         status=422)
    if not changed:
        return _page(request, user, code, notice="Nothing changed.")
    store_of(request).put_structure("attribute_option", changed)
    return _page(request, user, code, notice=f"Saved {len(changed)} option{'s' if len(changed) != 1 else ''}."
                 + (f" Added: {new_code}." if new_code else ""))


@router.post("/{code}/options/{option}/delete", dependencies=[Depends(check_csrf)])
def remove_option(code: str, option: str, request: Request, user: User = Depends(admin_user)) -> Any:
    """Remove one option nothing holds; otherwise 409 saying who holds it."""
    store, s = store_of(request), structure_of(request)
    _attribute(request, code)
    opt = s.options.get(code, {}).get(option)
    if opt is None:
        raise HTTPException(404, f"no option '{option}' of {code}")
    blocked = attribute_usage.option_blockers(store, code, option)
    if blocked:
        return _page(request, user, code, status=409, error=f"{option} was not removed: {'; '.join(blocked)}. "
                     f"Change their {code} first, e.g. with mass edit on the product grid.")
    store.delete_structure("attribute_option", structure_key("attribute_option", opt))
    if attribute_usage.option_blockers(store, code, option):  # an import wrote it meanwhile: put it back
        store.put_structure("attribute_option", [opt])
        return _page(request, user, code, status=409,
                     error=f"{option} was not removed: products got it while it was being removed.")
    return _page(request, user, code, notice=f"Removed {option}.")
