"""The catalog admins' family-variant pages: a variant is added on its family's page and changed or deleted on
its own (/admin/families/{family}/variants/{code}), instead of only through `pim structure load`. What is
typed is checked as a structure file's entry would be (pim.web.variant_form).

A variant's levels (its axes and level attributes) change here only while no product model uses it: the
models were imported split by those axes, and their product variants hold the level attributes, so a new split
would leave them wrong without saying so. Its labels may always change. A variant is deleted when no product
model uses it (pim.structure_deletes, shared with the API and `pim structure delete`).

Every write goes through Store.put_structure or delete_structure, so the structure cache follows as after a
load. Nothing here rescores: scoring reads only a variant's family (pim.rescore.affected), which these pages
never change."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse

from pim import structure_deletes
from pim.attribute_usage import rows_said
from pim.catalog import Structure
from pim.structure import Family, FamilyVariant
from pim.web import families, variant_form
from pim.web.accounts import User
from pim.web.admin import admin_user
from pim.web.deps import check_csrf, store_of, structure_of
from pim.web.ui import render

router = APIRouter(prefix="/admin/families", include_in_schema=False)


def _family(s: Structure, code: str) -> Family:
    family = s.families.get(code)
    if family is None:
        raise HTTPException(404, f"no family '{code}'")
    return family


def _variant(s: Structure, family: str, code: str) -> FamilyVariant:
    variant = s.family_variants.get(code)
    if variant is None or variant.family != family:
        raise HTTPException(404, f"no family variant '{code}' of family '{family}'")
    return variant


def _models(request: Request, code: str) -> tuple[int, list[str]]:
    with store_of(request).engine.connect() as conn:
        return structure_deletes.variant_models(conn, code)


def levels_kept(code: str, models: tuple[int, list[str]]) -> str:
    """Why a used variant's levels stay, and the ways to another split (the page and the refusal say it)."""
    return (f"the levels of {code} stay while {rows_said('product_model', *models, ('uses', 'use'))}; only its labels "
            "may change. For another split, add a variant with the levels wanted on the family page and re-import "
            f"the models into it, or change {code} in a structure file with `pim structure load` and re-import its "
            "models to match")


def _sentence(text: str) -> str:
    return f"{text[:1].upper()}{text[1:]}."


def _page(request: Request, user: User, variant: FamilyVariant, *, error: str | None = None,
          notice: str | None = None, status: int = 200) -> HTMLResponse:
    s = structure_of(request)
    family = _family(s, variant.family)
    models = _models(request, variant.code)
    stored = [a for level in variant.levels for a in level.axes + level.attributes]
    page = render(request, "admin_family_variant.html", user, family=family, variant=variant, s=s,
                  locales=s.enabled_locales(), models=models, error=error, notice=notice,
                  kept=_sentence(levels_kept(variant.code, models)) if models[0] else None,
                  choices=list(dict.fromkeys([*family.attributes, *stored])),
                  blocked=structure_deletes.family_variant_blockers(store_of(request), variant.code))
    page.status_code = status
    return page


@router.post("/{family}/variants", dependencies=[Depends(check_csrf)])
async def add_variant(family: str, request: Request, user: User = Depends(admin_user)) -> Any:
    """`code`, `label:<locale>`, `axes:1`, `attributes:1` and optionally `axes:2`, `attributes:2` (attribute
    codes, one field each). Refused with 422 and the input kept on the family page."""
    s = structure_of(request)
    fam = _family(s, family)
    form = await request.form()
    variant, problems = variant_form.new_variant(s, fam, form)
    if variant is None:
        typed = {k: form.getlist(k) if k.startswith(("axes:", "attributes:")) else str(form.get(k))
                 for k in form if k != "csrf_token"}
        return families.family_page_with(request, user, family, error=f"No variant was added: {'; '.join(problems)}.",
                                         variant_typed=typed, status=422)
    store_of(request).put_structure("family_variant", [variant])
    return _page(request, user, variant, notice=(
        f"Added family variant {variant.code} of {family}: {variant_form.levels_said(variant)}. Product models "
        f"join it through imports (their family_variant)."))


@router.get("/{family}/variants/{code}")
def variant_page(family: str, code: str, request: Request, user: User = Depends(admin_user)) -> HTMLResponse:
    return _page(request, user, _variant(structure_of(request), family, code))


@router.post("/{family}/variants/{code}", dependencies=[Depends(check_csrf)])
async def save_variant(family: str, code: str, request: Request, user: User = Depends(admin_user)) -> Any:
    """`label:<locale>` (an emptied field drops that label) and, with `levels` set, the levels' fields as on the
    add form. New levels are refused (409, nothing saved) while a product model uses the variant; an import
    creating one during the save puts the old levels back."""
    store, s = store_of(request), structure_of(request)
    fam, variant = _family(s, family), _variant(s, family, code)
    updated, problems = variant_form.edited_variant(s, fam, variant, await request.form())
    if updated is None:
        return _page(request, user, variant, error=f"Nothing was saved: {'; '.join(problems)}.", status=422)
    said = variant_form.changes(variant, updated)
    if not said:
        return _page(request, user, variant, notice="Nothing changed.")
    resplit = updated.levels != variant.levels
    if resplit and (models := _models(request, code))[0]:
        return _page(request, user, variant, error=f"Nothing was saved: {levels_kept(code, models)}.", status=409)
    store.put_structure("family_variant", [updated])
    if resplit and (models := _models(request, code))[0]:  # an import used the old levels meanwhile
        store.put_structure("family_variant", [variant])
        return _page(request, user, variant, status=409, error=(
            f"Nothing was saved: a product model of {code} was imported while it was being saved, so its "
            f"old levels were put back; {levels_kept(code, models)}."))
    return _page(request, user, updated, notice=f"Saved: {'; '.join(said)}.")


@router.post("/{family}/variants/{code}/delete", dependencies=[Depends(check_csrf)])
def delete_variant(family: str, code: str, request: Request, user: User = Depends(admin_user)) -> Any:
    """Delete a variant no product model uses (pim.structure_deletes); the family page answers."""
    s = structure_of(request)
    variant = _variant(s, family, code)
    try:
        done = structure_deletes.delete_family_variant(store_of(request), code, structure=s)
    except structure_deletes.DeleteRefused as exc:
        return _page(request, user, variant, error=str(exc), status=409)
    return families.family_page_with(request, user, family, notice=done.notice)
