"""The REST API's refusal of a variant's value its product model holds names the model's own endpoint: a client
told "set it on the model" needs the call that does (PATCH /api/v1/models/{code})."""

from __future__ import annotations

from typing import Any

from pim.catalog import Structure
from pim.product import Product, split_key
from pim.store import Store
from pim.variant_levels import VariantLevels, below, model_placement


def with_model_endpoints(store: Store, structure: Structure, product: Product | None,
                         errors: dict[str, str]) -> dict[str, str]:
    """`errors` (value key → message) with each value a model holds pointed at that model's PATCH route."""
    if product is None or not product.parent or not errors:
        return errors
    chain = store.ancestors(product)
    if not chain:
        return errors
    levels = VariantLevels(structure)
    at = below(model_placement(chain[0].family_variant, chain[0].parent))
    codes = [m.code for m in chain]
    out: dict[str, Any] = dict(errors)
    for key, message in errors.items():
        holder = levels.holder(at, split_key(key)[0], codes)
        if holder is not None and isinstance(message, str) and " is held by " in message:
            out[key] = f"{message} — PATCH /api/v1/models/{holder} with {{\"values\": {{\"{key}\": …}}}} sets it there"
    return out
