"""The catalog admins' channel pages: every structure channel with its locales, currencies, category tree and
the families with requirements on it; adding a channel, changing its labels, locales, currencies, tree and gate
rules, and deleting one nothing uses — what needed `pim structure load` before. A channel is checked as a
structure file's `channels:` entry (StructureFile, check_references), so refusals read as the loader's, plus
what the loader does not check: the locales and currencies must be declared and enabled, the tree a root.

Every change is a structure write (Store.put_structure / delete_structure), so the structure cache,
completeness and the grid index follow as after `pim structure load`. A locale change, a new channel and a
deleted one rescore every family on the channel, a currency change the families requiring a price there
(pim.rescore.affected); those writes run inside pim.rescore_jobs.deferred like the family page, so the request
rescores fewer than pim.rescore_jobs.IN_REQUEST products all together and the largest families beyond that become
queued rescore jobs, whose families the gate scores itself until they succeed. A tree change re-sends the products
leaving or joining the tree (pim.channel_tree_moves).

A locale or currency leaves only when no contract on the channel delivers or prices in it, no search target
holds its index and no built-in catalog names it; a channel is deleted only when no family, contract,
built-in catalog or search target names it (pim.channel_usage says who, with counts)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import HTMLResponse

from pim import channel_usage, rescore_jobs
from pim.catalog import Structure
from pim.category_moves import products_under
from pim.quality import DIMENSIONS
from pim.structure import Channel
from pim.web.accounts import User
from pim.web.admin import admin_user
from pim.web.deps import check_csrf, store_of, structure_of
from pim.web.label_form import relabelled, typed_labels
from pim.web.structure_entry import checked_entry
from pim.web.ui import render

router = APIRouter(prefix="/admin/channels", include_in_schema=False)
#: What a gate may block on: finding kinds, or whole quality dimensions (pim.quality.DIMENSIONS).
BLOCKABLE = sorted(DIMENSIONS) + sorted(set(DIMENSIONS.values()))


# ---------------------------------------------------------------------------------------------- rules
def offered_locales(s: Structure, channel: Channel | None = None) -> list[str]:
    """The locales a channel may have: the declared enabled ones (any used by a channel when none are
    declared, as the loader allows), plus those `channel` already has."""
    declared = [c for c, loc in s.locales.items() if loc.enabled] if s.locales else s.enabled_locales()
    return sorted({*declared, *(channel.locales if channel else [])})


def offered_currencies(s: Structure, channel: Channel | None = None) -> list[str]:
    declared = ([c for c, cur in s.currencies.items() if cur.enabled] if s.currencies
                else [c for ch in s.channels.values() for c in ch.currencies])
    return sorted({*declared, *(channel.currencies if channel else [])})


def checked_channel(s: Structure, data: dict[str, Any], old: Channel | None = None) -> tuple[Channel | None, list[str]]:
    """`data` as a channel, checked like a structure file's `channels:` entry and against what the loader
    leaves unchecked; `old` is the channel it replaces (None: a new one, whose code must be free)."""
    ch, problems = checked_entry(s, "channels", data,
                                 said=lambda e: f"{e['loc'][-1] if len(e['loc']) > 2 else 'channel'}: {e['msg']}")
    if ch is None:
        return None, problems
    kept = set(old.locales if old else ())
    if off := [loc for loc in ch.locales if loc in s.locales and not s.locales[loc].enabled and loc not in kept]:
        problems.append(f"locales: locales not enabled: {off}")
    problems += _currency_problems(s, ch, old)
    cat = s.categories.get(ch.category_tree)
    if cat is not None and ch.category_tree not in channel_usage.roots(s):
        problems.append(f"category_tree: '{ch.category_tree}' is under {cat.parent}; a channel's tree is the root "
                        f"of a tree ({', '.join(channel_usage.roots(s))})")
    if bad := [k for k in ch.gate.block_on if k not in BLOCKABLE]:
        problems.append(f"block_on: not a finding kind or quality dimension: {bad}; use {', '.join(BLOCKABLE)}")
    if unknown := sorted(a for a in ch.gate.text_limits if a not in s.attributes):
        problems.append(f"text_limits: attributes not declared: {unknown}")
    if low := sorted(a for a, n in ch.gate.text_limits.items() if n < 1):
        problems.append(f"text_limits: a limit must be at least 1 character: {low}")
    if old is None and ch.code in s.channels:
        problems.append(f"'{ch.code}' is already a channel")
    return (ch if not problems else None), problems


def _currency_problems(s: Structure, ch: Channel, old: Channel | None) -> list[str]:
    if len(set(ch.currencies)) != len(ch.currencies) or len(set(ch.locales)) != len(ch.locales):
        return ["channel: a locale or currency is listed twice"]
    if not s.currencies:
        return []
    kept = set(old.currencies if old else ())
    if unknown := [c for c in ch.currencies if c not in s.currencies]:
        return [f"currencies: currencies not declared: {unknown}"]
    if off := [c for c in ch.currencies if not s.currencies[c].enabled and c not in kept]:
        return [f"currencies: currencies not enabled: {off}"]
    return []


def changes(old: Channel, new: Channel) -> list[str]:
    """What differs, in words ("locales en_US, de_DE → en_US"), so no change is silent."""
    said = []
    for name in ("locales", "currencies"):
        if getattr(old, name) != getattr(new, name):
            said.append(f"{name} {', '.join(getattr(old, name))} → {', '.join(getattr(new, name))}")
    if old.category_tree != new.category_tree:
        said.append(f"category tree {old.category_tree} → {new.category_tree}")
    for name, value in new.gate.model_dump().items():
        before = getattr(old.gate, name)
        if before != value:
            said.append(f"{name.replace('_', ' ')} {_shown(before)} → {_shown(value)}")
    return said


def _shown(value: Any) -> str:
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in sorted(value.items())) or "none"
    if isinstance(value, list):
        return ", ".join(value) or "none"
    return "none" if value is None else str(value)


def limits_text(limits: dict[str, int]) -> str:
    return "\n".join(f"{a}: {n}" for a, n in sorted(limits.items()))


def parse_limits(raw: str) -> tuple[dict[str, Any], list[str]]:
    """"name: 80" per line (or "name=80") → attribute → max characters; the lines that are neither."""
    limits: dict[str, Any] = {}
    bad = []
    for line in (x.strip() for x in raw.splitlines()):
        if not line:
            continue
        code, sep, number = line.replace("=", ":").partition(":")
        if not sep or not number.strip().isdigit():
            bad.append(f"text_limits: '{line}' is not 'attribute: max characters'")
        else:
            limits[code.strip()] = int(number.strip())
    return limits, bad


def _chosen(form: Any, name: str, keep: list[str], offered: list[str]) -> list[str]:
    """The ticked values, in the channel's order first (its first currency prices Google's feed), then new ones."""
    ticked = [str(v) for v in form.getlist(name) if str(v)]
    extra = [v for v in ticked if v not in offered]  # not offered: still passed on, so the checks name them
    return [v for v in keep if v in ticked] + [v for v in offered if v in ticked and v not in keep] + extra


def _kept(form: Any) -> dict[str, Any]:
    """What was typed, for the form shown again with a refusal (lists for the checkboxes)."""
    out: dict[str, Any] = {k: str(v) for k, v in form.items() if k not in ("csrf_token", "locale", "currency", "block_on")}
    for name in ("locale", "currency", "block_on"):
        out[name] = [str(v) for v in form.getlist(name)]
    return out


# ---------------------------------------------------------------------------------------------- pages
def _list_page(request: Request, user: User, *, error: str | None = None, notice: str | None = None,
               status: int = 200, form: dict[str, Any] | None = None) -> HTMLResponse:
    s = structure_of(request)
    page = render(request, "admin_channels.html", user, channels=[s.channels[c] for c in sorted(s.channels)],
                  requiring={c: channel_usage.families_requiring(s, c) for c in s.channels},
                  locales=s.enabled_locales(), offered_locales=offered_locales(s),
                  offered_currencies=offered_currencies(s), roots=channel_usage.roots(s),
                  threshold=rescore_jobs.IN_REQUEST, form=form or {}, error=error, notice=notice)
    page.status_code = status
    return page


def _channel_page(request: Request, user: User, code: str, *, error: str | None = None,
                  notice: str | None = None, status: int = 200, form: dict[str, Any] | None = None) -> HTMLResponse:
    s = structure_of(request)
    ch = s.channels.get(code)
    if ch is None:
        raise HTTPException(404, f"no channel '{code}'")
    store = store_of(request)
    sizes = channel_usage.family_sizes(store)
    with store.engine.connect() as conn:
        targets = channel_usage.search_targets(conn, code)
        stale = sorted(f for f, chans in rescore_jobs.unsettled(conn).items() if code in chans)
    page = render(request, "admin_channel.html", user, channel=ch, locales=s.enabled_locales(),
                  offered_locales=offered_locales(s, ch), offered_currencies=offered_currencies(s, ch),
                  roots=channel_usage.roots(s), under={r: products_under(store, r) for r in channel_usage.roots(s)},
                  requiring=channel_usage.families_requiring(s, code),
                  contracts=channel_usage.contracts_on(store, code), targets=targets,
                  products=sum(sizes.values()), price_families={f: sizes.get(f, 0) for f in channel_usage.price_families(s, code)},
                  threshold=rescore_jobs.IN_REQUEST, stale=stale, blockable=BLOCKABLE,
                  blocked=channel_usage.delete_blockers(store, s, code), runs=channel_usage.publish_runs(store, code),
                  limits=limits_text(ch.gate.text_limits), form=form, error=error, notice=notice)
    page.status_code = status
    return page


def _rescored(deferral: rescore_jobs.Deferral, families: list[str], code: str) -> str:
    """The notice's part about completeness: the families rescored in the request (fewer than
    pim.rescore_jobs.IN_REQUEST products together), then the queued jobs of the others (the family page shows them)."""
    now = [f for f in families if f not in deferral.families]
    said = f" Products of {', '.join(now)} were rescored on {code}." if now else ""
    if deferral.jobs:
        said += (f" The products of {', '.join(sorted(deferral.families))} are being rescored on {code} "
                 f"(job {', '.join(map(str, deferral.jobs))}); each family's page shows when that is done, and "
                 "until then the gate scores them itself.")
    return said


@router.get("")
def channels_page(request: Request, user: User = Depends(admin_user)) -> HTMLResponse:
    return _list_page(request, user)


@router.post("", dependencies=[Depends(check_csrf)])
async def add_channel(request: Request, user: User = Depends(admin_user)) -> Any:
    """`code`, `label:<locale>`, `locale` and `currency` (ticked, several), `category_tree` (a root)."""
    s = structure_of(request)
    form = await request.form()
    data = {"code": str(form.get("code", "")).strip(), "labels": typed_labels(form, s.enabled_locales()),
            "locales": _chosen(form, "locale", [], offered_locales(s)),
            "currencies": _chosen(form, "currency", [], offered_currencies(s)),
            "category_tree": str(form.get("category_tree", "")).strip()}
    ch, problems = checked_channel(s, data)
    if ch is None:
        return _list_page(request, user, error="; ".join(problems), status=422, form=_kept(form))
    with rescore_jobs.deferred() as deferral:  # its rows: every product, identifier only
        store_of(request).put_structure("channel", [ch])
    return _list_page(request, user, notice=(
        f"Added {ch.code} ({', '.join(ch.locales)}; {', '.join(ch.currencies)}; tree {ch.category_tree}). "
        "No family has requirements on it yet: set them on each family's page (until then only the identifier "
        "is required there).") + _rescored(deferral, [], ch.code))


@router.get("/{code}")
def channel_page(code: str, request: Request, user: User = Depends(admin_user)) -> HTMLResponse:
    return _channel_page(request, user, code)


@router.post("/{code}", dependencies=[Depends(check_csrf)])
async def relabel_channel(code: str, request: Request, user: User = Depends(admin_user)) -> Any:
    """`label:<locale>` for the enabled locales; an emptied field drops that label, other locales' stay."""
    s = structure_of(request)
    ch = s.channels.get(code)
    if ch is None:
        raise HTTPException(404, f"no channel '{code}'")
    form = await request.form()
    labels = relabelled(ch.labels, form, s.enabled_locales())
    if labels == ch.labels:
        return _channel_page(request, user, code, notice="Nothing changed.")
    store_of(request).put_structure("channel", [ch.model_copy(update={"labels": labels})])
    return _channel_page(request, user, code, notice="Labels saved.")


@router.post("/{code}/scope", dependencies=[Depends(check_csrf)])
async def change_scope(code: str, request: Request, user: User = Depends(admin_user)) -> Any:
    """`locale` and `currency` (the whole ticked lists) and `category_tree`. A locale or currency something
    relies on is refused with 409 naming it; the rest with 422; nothing is saved then."""
    store, s = store_of(request), structure_of(request)
    old = s.channels.get(code)
    if old is None:
        raise HTTPException(404, f"no channel '{code}'")
    form = await request.form()
    data = old.model_dump() | {"locales": _chosen(form, "locale", old.locales, offered_locales(s, old)),
                               "currencies": _chosen(form, "currency", old.currencies, offered_currencies(s, old)),
                               "category_tree": str(form.get("category_tree", "")).strip()}
    new, problems = checked_channel(s, data, old)
    if new is None:
        return _channel_page(request, user, code, error=f"Nothing was saved: {'; '.join(problems)}.", status=422,
                             form=_kept(form))
    said = changes(old, new)
    if not said:
        return _channel_page(request, user, code, notice="Nothing changed.")
    if refused := channel_usage.removal_refusal(store, s, old, new):
        return _channel_page(request, user, code, status=409, form=_kept(form), error=f"Nothing was saved: {refused}.")
    tree = channel_usage.tree_change(store, old.category_tree, new.category_tree).sentence(code)
    # read per request (tests lower it): families below it are rescored in the write, larger ones queued with it
    with rescore_jobs.deferred() as deferral:
        store.put_structure("channel", [new])
    notice = f"Saved: {'; '.join(said)}. {tree}".rstrip() + _rescored(deferral, channel_usage.rescored_by(s, old, new), code)
    return _channel_page(request, user, code, notice=notice)


@router.post("/{code}/gate", dependencies=[Depends(check_csrf)])
async def change_gate(code: str, request: Request, user: User = Depends(admin_user)) -> Any:
    """`min_completeness`, `block_on` (ticked kinds and dimensions), `max_price_age_days` and
    `max_stock_age_days` (empty: no limit), `text_limits` ("attribute: max characters" per line). Gate rules
    rescore nothing: the gate applies them at its next run."""
    s = structure_of(request)
    old = s.channels.get(code)
    if old is None:
        raise HTTPException(404, f"no channel '{code}'")
    form = await request.form()
    limits, bad = parse_limits(str(form.get("text_limits", "")))
    gate = {"min_completeness": str(form.get("min_completeness", "")).strip(),
            "block_on": list(dict.fromkeys(str(v) for v in form.getlist("block_on") if str(v))),
            "max_price_age_days": str(form.get("max_price_age_days", "")).strip() or None,
            "max_stock_age_days": str(form.get("max_stock_age_days", "")).strip() or None,
            "text_limits": limits}
    new, problems = checked_channel(s, old.model_dump() | {"gate": gate}, old)
    if bad or new is None:
        return _channel_page(request, user, code, error=f"Nothing was saved: {'; '.join(bad + problems)}.", status=422,
                             form=_kept(form))
    said = changes(old, new)
    if not said:
        return _channel_page(request, user, code, notice="Nothing changed.")
    store_of(request).put_structure("channel", [new])
    return _channel_page(request, user, code, notice=(
        f"Saved: {'; '.join(said)}. Nothing is rescored: the gate applies these rules at its next run "
        f"(`pim publish`, `pim gate check --channel {code}`), and the next search push rebuilds its indexes."))


@router.post("/{code}/delete", dependencies=[Depends(check_csrf)])
async def delete_channel(code: str, request: Request, user: User = Depends(admin_user)) -> Any:
    """`drop_requirements` (ticked): the families' requirements on the channel go with it. The rules, the
    gate decisions going along and the rescore deferral are pim.structure_deletes' (shared with the API
    and `pim structure delete`)."""
    from pim import structure_deletes

    drop = str((await request.form()).get(structure_deletes.DROP_REQUIREMENTS, "")).lower() in ("true", "on", "1")
    try:
        done = structure_deletes.delete_channel(store_of(request), code, drop_requirements=drop,
                                                structure=structure_of(request))
    except structure_deletes.NotFound:
        raise HTTPException(404, f"no channel '{code}'") from None
    except structure_deletes.DeleteRefused as exc:
        return _channel_page(request, user, code, error=str(exc), status=409)
    return _list_page(request, user, notice=done.notice)
