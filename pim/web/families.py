"""The catalog admins' family pages: which attributes a family has and what each channel requires of it — the
part of the structure that changes most, edited here instead of through `pim structure load`. Saving a
family rescores its products on the channels whose requirements changed (the completeness listener). A
family of fewer than pim.rescore_jobs.IN_REQUEST products is rescored in the same transaction, so the grid and the
dashboard agree with the new rules at once; a larger one would hold the request for seconds to minutes, so
its save records a queued rescore job in the same transaction, which a `pim worker` runs (pim.rescore_jobs,
pim.job_queue). The page shows that job — queued, running with its progress, done, failed or interrupted —
and until it succeeds the gate scores the family's products itself instead of trusting their stored rows. A
failed or interrupted rescore is run again by "Rescore now" (or by saving again, or `pim gate rescore`).

Attributes are added and removed here. A removal drops the attribute's requirements with it (the page says
so) and is refused for what would break the structure: the identifier, the family's label or image
attribute, a variant axis or variant-level attribute of one of its family variants. Products keep the values
they hold; an import row of this family that still sends the attribute is quarantined (pim.validation).

New families are added on the list page, and a family's labels and label and image attributes change on its
page (pim.web.family_form checks both as `pim structure load` would). A new label or image attribute re-files
the family's products in the grid (their search words) and gives them a new seq (incremental exports send them
again): in the save for a family of fewer than REINDEX_IN_REQUEST products, else as a queued grid_reindex job
recorded with the save (pim.grid_jobs), which this page and the grid show until it succeeds. Its page lists its family variants and
adds new ones; each variant has its own page (pim.web.family_variants)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse
from pydantic import ValidationError

from pim import grid_jobs, rescore_jobs, structure_deletes
from pim.catalog import Structure
from pim.structure import AttributeType, Family
from pim.web.accounts import User
from pim.web.admin import admin_user
from pim.web import family_form
from pim.web.deps import check_csrf, store_of, structure_of
from pim.web.ui import render

router = APIRouter(prefix="/admin/families", include_in_schema=False)

#: A family of at least this many products has a new label or image attribute's re-filing and re-sequencing of its
#: products done by a queued job, as a category move's (pim.web.categories.REINDEX_IN_REQUEST); read at each save.
REINDEX_IN_REQUEST = 2000


def _list_page(request: Request, user: User, *, error: str | None = None, notice: str | None = None,
               form: dict[str, str] | None = None, status: int = 200) -> HTMLResponse:
    s = structure_of(request)
    page = render(request, "admin_families.html", user, families=[s.families[c] for c in sorted(s.families)],
                  channels=sorted(s.channels), locales=s.enabled_locales(), error=error, notice=notice, form=form or {},
                  label_choices=family_form.candidates(s, "attribute_as_label"),
                  image_choices=family_form.candidates(s, "attribute_as_image"))
    page.status_code = status
    return page


@router.get("")
def families_page(request: Request, user: User = Depends(admin_user)) -> HTMLResponse:
    return _list_page(request, user)


@router.post("", dependencies=[Depends(check_csrf)])
async def add_family(request: Request, user: User = Depends(admin_user)) -> Any:
    """`code`, `label:<locale>`, `attribute_as_label`, `attribute_as_image`: a family of the identifier and
    those two, with no requirements yet (its page sets them). Refused with 422 and the input kept."""
    s = structure_of(request)
    form = await request.form()
    family, problems = family_form.new_family(s, form)
    if family is None:
        kept = {k: str(v) for k, v in form.items() if k != "csrf_token"}
        return _list_page(request, user, error=f"Nothing was added: {'; '.join(problems)}.", form=kept, status=422)
    store_of(request).put_structure("family", [family])
    return _page(request, user, family.code, notice=(
        f"Added family {family.code} with {', '.join(family.attributes)}. Add its other attributes and tick what "
        "each channel requires below; products join it through imports or their page."))


def _page(request: Request, user: User, code: str, *, error: str | None = None, notice: str | None = None,
          status: int = 200, variant_typed: dict[str, Any] | None = None) -> HTMLResponse:
    s = structure_of(request)
    family = s.families.get(code)
    if family is None:
        raise HTTPException(404, f"no family '{code}'")
    addable = sorted(c for c in s.attributes if c not in family.attributes)
    kept = {a: p[0] for a in family.attributes if (p := removal_problems(s, family, [a]))}  # why it cannot go
    blocked = structure_deletes.family_blockers(store_of(request), s, code)
    variants = sorted((fv for fv in s.family_variants.values() if fv.family == code), key=lambda fv: fv.code)
    with store_of(request).engine.connect() as conn:
        variant_models = structure_deletes.models_per_variant(conn, [fv.code for fv in variants])
    page = render(request, "admin_family.html", user, family=family, s=s, channels=sorted(s.channels),
                  addable=addable, kept=kept, error=error, notice=notice, locales=s.enabled_locales(), blocked=blocked,
                  label_choices=family_form.candidates(s, "attribute_as_label", family.attributes),
                  image_choices=family_form.candidates(s, "attribute_as_image", family.attributes),
                  variants=variants, variant_models=variant_models, variant_typed=variant_typed or {},
                  grid_reindex=[j for j in grid_jobs.unsettled(store_of(request))
                                if code in ((j.get("payload") or {}).get("families") or [])],
                  **_rescoring(request, code))
    page.status_code = status
    return page


def family_page_with(request: Request, user: User, code: str, *, error: str | None = None,
                     notice: str | None = None, status: int = 200,
                     variant_typed: dict[str, Any] | None = None) -> HTMLResponse:
    """The family page with a message (the variant pages answer an add or a delete with it); `variant_typed`
    refills a refused add-variant form."""
    return _page(request, user, code, error=error, notice=notice, status=status, variant_typed=variant_typed)


@router.post("/{code}/delete", dependencies=[Depends(check_csrf)])
def delete_family(code: str, request: Request, user: User = Depends(admin_user)) -> Any:
    """Delete a family no product, product model, family variant or contract uses (pim.structure_deletes,
    shared with the API and `pim structure delete`)."""
    try:
        done = structure_deletes.delete_family(store_of(request), code, structure=structure_of(request))
    except structure_deletes.NotFound:
        raise HTTPException(404, f"no family '{code}'") from None
    except structure_deletes.DeleteRefused as exc:
        return _page(request, user, code, error=str(exc), status=409)
    return _list_page(request, user, notice=done.notice)


@router.post("/{code}/settings", dependencies=[Depends(check_csrf)])
async def change_settings(code: str, request: Request, user: User = Depends(admin_user)) -> Any:
    """`label:<locale>` (an emptied field drops that label), `attribute_as_label` and `attribute_as_image` (one
    of the family's attributes of the right type, or empty: none). A new label attribute re-files the family's
    products in the grid (their names) and a new label or image attribute re-sequences them: in this save, or by
    a queued job for a family of at least REINDEX_IN_REQUEST products; search documents take it at their next push."""
    store, s = store_of(request), structure_of(request)
    family = s.families.get(code)
    if family is None:
        raise HTTPException(404, f"no family '{code}'")
    form = await request.form()
    updated, problems = family_form.edited_family(s, family, form)
    if updated is None:
        return _page(request, user, code, error=f"Nothing was saved: {'; '.join(problems)}.", status=422)
    said = family_form.changes(family, updated)
    if not said:
        return _page(request, user, code, notice="Nothing changed.")
    with grid_jobs.deferred(REINDEX_IN_REQUEST) as deferral:  # read per save: tests lower it
        store.put_structure("family", [updated])
    roles = [r for r in family_form.ROLES if getattr(family, r) != getattr(updated, r)]
    if deferral.jobs:
        jobs, relabel = ", ".join(map(str, deferral.jobs)), "attribute_as_label" in roles
        later = (" Its products are being re-filed in the grid under their new names and marked for incremental "
                 f"exports and contract deltas to send again (job {jobs}); until that is done the grid's search may "
                 "still find them by their old names." if relabel else " Its products are being marked for "
                 f"incremental exports and contract deltas to send again (job {jobs}).")
    else:
        later = (" Its products' names in the grid follow at once;" if "attribute_as_label" in roles else "") + (
            " incremental exports and contract deltas send its products again." if roles else "")
    return _page(request, user, code, notice=f"Saved: {'; '.join(said)}.{later}")


def _rescoring(request: Request, code: str) -> dict[str, Any]:
    """The family's latest rescore job and the channels whose stored scores wait for one (template data)."""
    store = store_of(request)
    with store.engine.connect() as conn:
        pending = sorted(rescore_jobs.unsettled(conn).get(code, ()))
    jobs = rescore_jobs.family_jobs(store, code, 1)
    return {"rescore": jobs[0] if jobs else None, "stale": pending}


@router.get("/{code}")
def family_page(code: str, request: Request, user: User = Depends(admin_user)) -> HTMLResponse:
    return _page(request, user, code)


@router.get("/{code}/rescoring")
def rescoring(code: str, request: Request, user: User = Depends(admin_user)) -> HTMLResponse:
    """The rescore status alone: the family page polls it (htmx) while its job runs."""
    if code not in structure_of(request).families:
        raise HTTPException(404, f"no family '{code}'")
    return render(request, "_family_rescore.html", user, code=code, **_rescoring(request, code))


@router.post("/{code}/rescore", dependencies=[Depends(check_csrf)])
def rescore_again(code: str, request: Request, user: User = Depends(admin_user)) -> Any:
    """Run the family's rescore again after it failed or was interrupted (all channels when none waits)."""
    s = structure_of(request)
    if code not in s.families:
        raise HTTPException(404, f"no family '{code}'")
    channels = _rescoring(request, code)["stale"] or sorted(s.channels)
    return _page(request, user, code, notice=_start(request, code, channels, "Rescoring again"))


def _start(request: Request, code: str, channels: list[str], what: str) -> str:
    job = rescore_jobs.start(store_of(request), code, channels)  # queued: a worker runs it
    return f"{what}: the products of {code} on {', '.join(channels)} (job {job})."


def removal_problems(s: Structure, family: Family, removed: list[str]) -> list[str]:
    """Why each of `removed` cannot leave `family` (empty: all can)."""
    problems: list[str] = []
    variants = [fv for fv in s.family_variants.values() if fv.family == family.code]
    for a in removed:
        if a not in family.attributes:
            problems.append(f"{a} is not an attribute of {family.code}")
        elif (attr := s.attributes.get(a)) is not None and attr.type == AttributeType.identifier:
            problems.append(f"{a} is the identifier: every product has one")
        elif a in (family.attribute_as_label, family.attribute_as_image):
            role = "label" if a == family.attribute_as_label else "image"
            problems.append(f"{a} is the family's {role} attribute (choose another {role} attribute above first)")
        elif holders := sorted(fv.code for fv in variants for level in fv.levels if a in level.axes + level.attributes):
            problems.append(f"{a} is a variant axis or variant-level attribute of {', '.join(holders)}")
    return problems


def _changes(before: dict[str, list[str]], after: dict[str, list[str]], removed: list[str]) -> str:
    """The requirement changes in words, so dropping one (directly or with its attribute) is never silent."""
    dropped = [f"{a} on {ch}" for ch in sorted(before) for a in before[ch] if a not in after.get(ch, [])]
    added = [f"{a} on {ch}" for ch in sorted(after) for a in after[ch] if a not in before.get(ch, [])]
    return "".join([f" Removed: {', '.join(removed)}." if removed else "",
                    f" Dropped requirements: {', '.join(dropped)}." if dropped else "",
                    f" New requirements: {', '.join(added)}." if added else ""])


@router.post("/{code}", dependencies=[Depends(check_csrf)])
async def save_family(code: str, request: Request, user: User = Depends(admin_user)) -> Any:
    """The whole requirement matrix (checkboxes named `req:<channel>:<attribute>`), attributes to add (`add`)
    and to remove (`remove`: their requirements go with them). Saving without a change runs a rescore again
    that failed or was interrupted."""
    store, s = store_of(request), structure_of(request)
    family = s.families.get(code)
    if family is None:
        raise HTTPException(404, f"no family '{code}'")
    form = await request.form()
    added = [str(a) for a in form.getlist("add") if str(a)]
    removed = list(dict.fromkeys(str(a) for a in form.getlist("remove") if str(a)))
    unknown = [a for a in added if a not in s.attributes]
    if unknown:
        return _page(request, user, code, error=f"unknown attribute: {', '.join(unknown)}", status=422)
    refused = removal_problems(s, family, [a for a in removed if a not in added])
    if refused or set(added) & set(removed):
        both = [f"{a} is both added and removed" for a in added if a in removed]
        return _page(request, user, code, error="Nothing was saved: " + "; ".join(both + refused) + ".", status=422)
    members = [a for a in family.attributes if a not in removed] + \
        [a for a in dict.fromkeys(added) if a not in family.attributes]
    identifiers = [a for a in members if s.attributes[a].type == AttributeType.identifier]
    requirements: dict[str, list[str]] = {}
    for ch in sorted(s.channels):
        checked = [a for a in members if f"req:{ch}:{a}" in form]
        if not checked and ch not in family.requirements:
            continue  # a channel the family had no requirements on keeps none
        required = list(dict.fromkeys(identifiers + checked))  # the identifier is always required: a product has one
        before = family.requirements.get(ch, [])
        requirements[ch] = before if set(before) == set(required) else required  # unchanged: the order stays too
    changed = [ch for ch in sorted(s.channels)
               if set(requirements.get(ch, [])) != set(family.requirements.get(ch, []))]
    if not changed and members == family.attributes:
        stale = _rescoring(request, code)
        if stale["stale"] and (stale["rescore"] or {}).get("status") not in ("queued", "running"):
            return _page(request, user, code, notice="Nothing changed. " + _start(
                request, code, stale["stale"], "Rescoring again what a failed rescore left"))
        return _page(request, user, code, notice="Nothing changed.")
    try:
        updated = Family.model_validate(family.model_dump() | {"attributes": members, "requirements": requirements})
    except ValidationError as exc:
        return _page(request, user, code, error="; ".join(e["msg"] for e in exc.errors()), status=422)
    with rescore_jobs.deferred() as deferral:  # large: jobs queued with the write
        store.put_structure("family", [updated])
    if deferral.jobs:
        notice = (f"Saved. The products of {code} are being rescored on {', '.join(changed)} "
                  f"(job {', '.join(map(str, deferral.jobs))}); this page shows when that is done.")
    else:
        notice = f"Saved. Products of {code} were rescored on {', '.join(changed)}." if changed else "Saved."
    return _page(request, user, code, notice=notice + (f" Added: {', '.join(added)}." if added else "")
                 + _changes(family.requirements, requirements, removed))
