"""A product a person creates (POST /api/v1/products). It is checked by the import path's validator
(pim.validation.RecordValidator), so a created product obeys the rules every source does — a known family
whose attributes its values belong to, known categories, activated locales and channels, each value against
its attribute — and written by the store's product write with its listeners (completeness, grid index), in
one transaction that also refuses an identifier already taken. Its values are the content team's claim
(source `content`, ref `user:<name>`), like edits (pim.web.editing), and each lands in the value history."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError
from sqlalchemy import insert, select, text

from pim.catalog import Structure
from pim.product import Product, Provenance, split_key
from pim.store.store import PRODUCT, Store, now
from pim.validation import RecordValidator
from pim.web.editing import gtin_error, history_row
from pim.web.tables import HISTORY

_PRODUCT_FIELDS = ("family", "categories", "associations")  # the validator's problems not about one value


@dataclass
class Created:
    product: Product | None
    errors: dict[str, str] = field(default_factory=dict)  # where in the request body (`family`, `values.<key>`) → why
    exists: bool = False


def create_product(store: Store, structure: Structure, actor: str, *, identifier: str, family: str,
                   categories: list[str], values: dict[str, Any], enabled: bool = True) -> Created:
    """Validate everything, then write the product or nothing. The identifier attribute's value is the
    identifier (given or not); a null value claims nothing."""
    stamp = now()
    ident_attr = structure.identifier_attribute
    wanted = {k: v for k, v in values.items() if v is not None}
    errors: dict[str, str] = {}
    if wanted.setdefault(ident_attr, identifier) != identifier:
        errors[f"values.{ident_attr}"] = f"must be the identifier '{identifier}' (or left out)"
    try:
        product = Product(identifier=identifier, family=family, categories=categories, enabled=enabled,
                          values=wanted, source=Provenance(source="content", ref=f"user:{actor}", at=stamp))
    except ValidationError as exc:
        return Created(None, {".".join(str(p) for p in e["loc"]): e["msg"] for e in exc.errors()})
    validator = RecordValidator(structure)
    problems = validator.check_product(product)
    if family not in structure.families:  # the validator stops at an unknown family: name the other fields too
        problems += validator.check_product(product.model_copy(update={"family": None}))
    for p in problems:
        errors.setdefault(p.field if p.field in _PRODUCT_FIELDS and p.field not in wanted else f"values.{p.field}",
                          p.reason)
    for key, value in product.values.items():  # as every edit holds a GTIN (pim.web.editing.validate)
        if (wrong := gtin_error(split_key(key)[0], value)) is not None:
            errors.setdefault(f"values.{key}", wrong)
    if errors:
        return Created(None, errors)
    with store.begin() as conn:
        if conn.dialect.name == "postgresql":  # two creates of one identifier: the second waits, then sees it
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:i))"), {"i": identifier})
        if conn.execute(select(PRODUCT.c.id).where(PRODUCT.c.identifier == identifier)).first() is not None:
            return Created(None, exists=True)
        counts, written = store.write_products_in(conn, [product])
        store.notify(conn, counts.changed_keys, written)
        conn.execute(insert(HISTORY), [history_row(identifier, k, None, v, actor, "content", stamp)
                                       for k, v in product.values.items()])
    return Created(store.get_product(identifier))
