"""Edits from people: every value is checked with pim.values.normalize against its attribute; if any value
is wrong nothing is written and each wrong key gets its message. Accepted values carry the editor as their
provenance, and every change lands in the value history."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import insert, select

from pim.catalog import Structure
from pim.product import Product, Provenance, split_key, value_key
from pim.store.store import Store, now
from pim.values import ValueProblem, normalize
from pim.web.tables import HISTORY


@dataclass
class EditResult:
    product: Product | None
    errors: dict[str, str] = field(default_factory=dict)
    changed: list[str] = field(default_factory=list)


def check_key(key: str, s: Structure) -> str | None:
    """Why a value key cannot exist in this structure, or None."""
    attribute, locale, channel = split_key(key)
    attr = s.attributes.get(attribute)
    if attr is None:
        return f"unknown attribute '{attribute}'"
    if attr.localizable != bool(locale):
        return f"'{attribute}' is {'' if attr.localizable else 'not '}localizable: use {_example(attr, s)}"
    if attr.scopable != bool(channel):
        return f"'{attribute}' is {'' if attr.scopable else 'not '}scopable: use {_example(attr, s)}"
    if locale and locale not in s.locales:
        return f"unknown locale '{locale}'"
    if channel and channel not in s.channels:
        return f"unknown channel '{channel}'"
    return None


def _example(attr: Any, s: Structure) -> str:
    channel = next(iter(s.channels), "ecommerce")
    locale = next(iter(s.locales), "en_US")
    return value_key(attr.code, locale if attr.localizable else None, channel if attr.scopable else None)


def validate(changes: dict[str, Any], s: Structure) -> tuple[dict[str, Any], dict[str, str]]:
    clean: dict[str, Any] = {}
    errors: dict[str, str] = {}
    for key, data in changes.items():
        problem = check_key(key, s)
        if problem:
            errors[key] = problem
            continue
        attr = s.attributes[split_key(key)[0]]
        try:
            clean[key] = normalize(attr, data, s.option_codes(attr.code) if attr.code in s.options else None)
        except ValueProblem as exc:
            errors[key] = str(exc)
    return clean, errors


def apply_values(store: Store, identifier: str, changes: dict[str, Any], actor: str, *,
                 structure: Structure | None = None) -> EditResult:
    """Validate all, then write all (or nothing). `actor` is the user name; the source is `content`."""
    s = structure or store.structure()
    product = store.get_product(identifier)
    if product is None:
        return EditResult(None, {"identifier": f"no product '{identifier}'"})
    clean, errors = validate(changes, s)
    if errors:
        return EditResult(product, errors)
    stamp = now()
    prov = Provenance(source="content", ref=f"user:{actor}", at=stamp)
    values, provenance = dict(product.values), dict(product.provenance)
    history = []
    for key, new in clean.items():
        old = values.get(key)
        if old == new:
            continue
        if new is None:
            values.pop(key, None)
            provenance.pop(key, None)
        else:
            values[key] = new
            provenance[key] = prov
        history.append({"product": identifier, "value_key": key, "old": old, "new": new, "actor": actor,
                        "source": "content", "at": stamp})
    if not history:
        return EditResult(product)
    updated = product.model_copy(update={"values": values, "provenance": provenance})
    store.upsert_products([updated])
    with store.begin() as conn:
        conn.execute(insert(HISTORY), history)
    return EditResult(updated, changed=[h["value_key"] for h in history])


def history(store: Store, identifier: str, limit: int = 200) -> list[dict[str, Any]]:
    q = select(HISTORY).where(HISTORY.c.product == identifier).order_by(HISTORY.c.id.desc()).limit(limit)
    with store.engine.connect() as conn:
        return [dict(r._mapping) for r in conn.execute(q)]
