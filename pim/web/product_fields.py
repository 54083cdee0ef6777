"""A product's status and categories, set by a person (the product page's form, PATCH /api/v1/products/{id}).

They are record fields, not values: a source that states them sets them (pim.merge writes a structural field
the record gives, whoever gave it before), so a person's change is a content-team record stating just them,
merged like an edit; the next import that states them sets them again. Each change is a history row under the
key `enabled` or `categories`, written in the merge's transaction. A variant's own categories are its own; the
ones it inherits from its models stay (the page shows them)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert

from pim.product import Product, Provenance
from pim.store.store import Store, now
from pim.web.editing import Stale, history_row
from pim.web.tables import HISTORY

ENABLED, CATEGORIES = "enabled", "categories"  # their history keys (Akeneo reserves both as attribute codes)


@dataclass
class FieldsResult:
    product: Product | None
    errors: dict[str, str] = field(default_factory=dict)  # `enabled` / `categories` → why; nothing written
    changed: list[str] = field(default_factory=list)
    #: field → what it is now, when it changed since the page showed it (not written)
    stale: dict[str, Stale] = field(default_factory=dict)


def category_errors(s: Any, categories: list[str]) -> dict[str, str]:
    """Unknown category codes, named, with where to find the known ones."""
    unknown = [c for c in categories if c not in s.categories]
    if not unknown:
        return {}
    return {CATEGORIES: f"unknown categor{'ies' if len(unknown) > 1 else 'y'} {', '.join(map(repr, unknown))}: use "
                        "the codes of the Categories page (/admin/categories) or GET /api/v1/structure/categories"}


def apply_fields(store: Store, identifier: str, actor: str, *, s: Any, enabled: bool | None = None,
                 categories: list[str] | None = None, expected: dict[str, Any] | None = None) -> FieldsResult:
    """Set the product's `enabled` and/or its own `categories` (None: leave it). `expected`: field → what the
    page showed; a field stored otherwise now is `stale` and left as it is."""
    product = store.get_product(identifier)
    if product is None:
        return FieldsResult(None, {"identifier": f"no product '{identifier}'"})
    wanted: dict[str, Any] = {}
    if enabled is not None:
        wanted[ENABLED] = enabled
    if categories is not None:
        wanted[CATEGORIES] = list(dict.fromkeys(categories))
    errors = category_errors(s, wanted.get(CATEGORIES, []))
    if errors:
        return FieldsResult(product, errors)
    stale = {k: Stale(now=getattr(product, k), by="", yours=v) for k, v in wanted.items()
             if expected is not None and k in expected and _differs(k, expected[k], getattr(product, k))}
    edits = {k: v for k, v in wanted.items() if k not in stale and _differs(k, v, getattr(product, k))}
    if not edits:
        return FieldsResult(product, stale=stale)
    return _write(store, s, product, edits, actor, stale)


def _differs(name: str, a: Any, b: Any) -> bool:
    return sorted(a or []) != sorted(b or []) if name == CATEGORIES else bool(a) != bool(b)


def _write(store: Store, s: Any, product: Product, edits: dict[str, Any], actor: str,
           stale: dict[str, Stale]) -> FieldsResult:
    """One content-team record stating the fields, merged and written with its history rows."""
    from pim.merge import Merger, home_precedence

    stamp = now()
    record = Product(identifier=product.identifier, values={}, **edits,
                     source=Provenance(source="content", ref=f"user:{actor}", at=stamp))

    def log(conn: Any, plan: Any) -> None:
        if not plan.rejects:
            conn.execute(insert(HISTORY), [history_row(product.identifier, k, getattr(product, k), v, actor,
                                                       "content", stamp) for k, v in edits.items()])

    _, rejects = Merger(home_precedence(), create_missing=False, keep_axes=True).bind(s).write(store, [record],
                                                                                               also=log)
    if rejects:
        return FieldsResult(product, {r.field or CATEGORIES: r.reason for r in rejects})
    return FieldsResult(store.get_product(product.identifier) or product, changed=list(edits), stale=stale)
