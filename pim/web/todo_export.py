"""The dashboard's to-do as a file to fill in: the products of a family that miss an attribute on a channel ×
locale, one row each, with the value's column empty. Filled in a spreadsheet, it goes back through the import
page (a content CSV: the `sku` column and value-key columns), so "what is missing" and "fill it in" are one
loop. Disabled products are left out, as the dashboard's to-do counts leave them (pim.completeness). A variant
missing an attribute its model level holds is listed as that model, once (a `model` row): a
value given on the variant would not be stored (pim.variant_levels). Prices and metrics are filled as the
mass edit takes them (`EUR 19.99, USD 21.00`, `12.5 KILOGRAM`); the dashboard says so next to the link
(`fill_form`). The family is the one the products are scored as (pim.rescore_jobs.of_family: a variant without
a family of its own takes its model's), as the to-do counts them. Streamed from the grid index a page at a time;
cells are formula-escaped. For an image or file attribute a last `why it does not count` column says why a product's value does
not count (media.channel_rules.why_not_counted, as the product page says it: not uploaded, too small for the
channel…), "not set" when it has none."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from importlib import import_module
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from pim.catalog import Structure
from pim.content_sheet import MODEL_COLUMN, SKU_COLUMN
from pim.grid_index import GRID_MISSING
from pim.grid_query import ensure_index
from pim.product import value_key
from pim.quality import inherited
from pim.rescore_jobs import of_family
from pim.spreadsheet import escape_formula
from pim.store.store import PRODUCT, Store
from pim.structure import AttributeType
from pim.content_sheet import NOTE_COLUMN
from pim.variant_levels import LevelGuard, VariantLevels
from pim.web.accounts import User
from pim.web.deps import session_user, store_of, structure_of
from pim.web.ui import templates

router = APIRouter(include_in_schema=False)
PAGE = 1000
WHY_COLUMN = NOTE_COLUMN  # image/file attributes: why the value does not count (no import reads it)


def fill_form(s: Structure, channel: str, attribute: str) -> str:
    """How the to-do CSV's value cell is filled where plain text does not say it: a price in every currency the
    channel needs (completeness asks for each), a metric as an amount and a unit; "" for other attributes."""
    attr = s.attributes.get(attribute)
    if attr is None or channel not in s.channels:
        return ""
    if attr.type == AttributeType.price_collection:
        return "fill in prices as " + ", ".join(f"{c} 19.99" for c in s.channels[channel].currencies)
    if attr.type == AttributeType.metric:
        return f"fill in an amount and a unit, e.g. 12.5 {attr.default_unit or 'KILOGRAM'}"
    return ""


templates.env.globals["todo_fill_form"] = fill_form  # the dashboard says it next to each to-do's CSV link


@router.get("/dashboard/todo.csv")
def todo_csv(request: Request, channel: str, locale: str, family: str, attribute: str,
             user: User = Depends(session_user)) -> StreamingResponse:
    s = structure_of(request)
    attr = s.attributes.get(attribute)
    if channel not in s.channels or locale not in s.channels[channel].locales or attr is None or family not in s.families:
        raise HTTPException(404, "no such channel × locale, family or attribute")
    key = value_key(attribute, locale if attr.localizable else None, channel if attr.scopable else None)
    name = f"todo-{channel}-{locale}-{family}-{attribute}.csv"
    return StreamingResponse(_rows(store_of(request), s, (channel, locale, family, attribute), key),
                             media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _missing(store: Store, item: tuple[str, str, str, str], after: int) -> list[tuple[int, str]]:
    """One page of (id, SKU) of the enabled products scored as the family that miss the attribute on the
    channel × locale (as the to-do counts them), in id order."""
    channel, locale, family, attribute = item
    on = (GRID_MISSING.c.product_id == PRODUCT.c.id) & (GRID_MISSING.c.channel == channel) \
        & (GRID_MISSING.c.locale == locale) & (GRID_MISSING.c.attribute == attribute)
    q = (select(PRODUCT.c.id, PRODUCT.c.identifier).select_from(PRODUCT.join(GRID_MISSING, on))
         .where(of_family(family), PRODUCT.c.enabled.is_(True), PRODUCT.c.id > after)
         .order_by(PRODUCT.c.id).limit(PAGE))
    with store.engine.connect() as conn:
        return [(int(i), str(sku)) for i, sku in conn.execute(q)]


def _rows(store: Store, s: Structure, item: tuple[str, str, str, str], key: str) -> Iterator[str]:
    out = io.StringIO()
    writer = csv.writer(out)
    guard = LevelGuard(s)
    family, attribute = item[2], item[3]
    models = _on_models(s, guard.levels, family, attribute)
    explain = s.attributes[attribute].type in (AttributeType.image, AttributeType.file)
    writer.writerow(([SKU_COLUMN, MODEL_COLUMN, key] if models else [SKU_COLUMN, key]) + ([WHY_COLUMN] if explain else []))
    cache: dict[str, list[Any]] = {}  # model → its ancestors, across pages
    listed: set[str] = set()  # models given a row already: one per model, whatever number of its variants miss it
    ensure_index(store)
    after = 0
    while True:
        rows = _missing(store, item, after)
        held = guard.holders(store, [sku for _, sku in rows], attribute) if models else {}
        why = _why(store, [sku for _, sku in rows], item[0], key, cache) if explain else {}
        for _, sku in rows:
            model, tail = held.get(sku), [escape_formula(why.get(sku, ""))] if explain else []
            if model is None:
                writer.writerow(([escape_formula(sku), "", ""] if models else [escape_formula(sku), ""]) + tail)
            elif model not in listed:
                listed.add(model)
                writer.writerow(["", escape_formula(model), ""] + tail)  # the model's value, as its variant shows it
        yield out.getvalue()
        out.seek(0)
        out.truncate()
        if len(rows) < PAGE:
            return
        after = rows[-1][0]


def _why(store: Store, skus: list[str], channel: str, key: str, cache: dict[str, list[Any]]) -> dict[str, str]:
    """SKU → why its image/file value (its own or its model's) does not count on the channel: "not set" when it
    has none; "" when media/ is not installed to say."""
    values = inherited(store, list(store.iter_products(identifiers=skus)), cache)
    refs = {sku: ref for sku in skus if isinstance(ref := values.get(sku, {}).get(key), str) and ref}
    try:
        rules = import_module("media.channel_rules")  # found by name: the core does not import media/
    except ImportError:
        rules = None
    reasons = rules.why_not_counted(store, set(refs.values()), channel) if rules and refs else {}
    return {sku: reasons.get(refs[sku], "") if sku in refs else "not set" for sku in skus}


def _on_models(s: Structure, levels: VariantLevels, family: str, attribute: str) -> bool:
    """Whether a family variant of `family` holds `attribute` on a model level: its variants get it from there."""
    return any((depth := levels.holder_depth(code, attribute)) is not None and depth < len(fv.levels)
               for code, fv in s.family_variants.items() if fv.family == family)
