"""Where a variant's page saves each value, and what it tells after a save on a model.

A variant holds only its own level's values (pim.variant_levels); a value of a model level is edited on the model
that holds it, for every variant below. The page used to send an edit to the model only when the value was
already inherited, so an *empty* model-level value (the usual gap after an import: a missing translation) was
sent to the variant and refused. The family variant's levels say where each attribute lives, filled or not."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select

from pim.store.store import MODEL, PRODUCT

#: session flash: a value just saved on a model from a variant's page ({key, model, shared}), said on the next page
ON_MODEL = "on_model"


def holders(s: Any, codes: list[str], ancestors: list[Any]) -> dict[str, str]:
    """attribute code → the code of the model (of `ancestors`, nearest first) whose level holds it for the variant
    below them; attributes of the variant's own level are left out."""
    from pim.variant_levels import VariantLevels, below, model_placement

    if not ancestors:
        return {}
    levels = VariantLevels(s)
    at = below(model_placement(ancestors[0].family_variant, ancestors[0].parent))
    lineage = [m.code for m in ancestors]
    return {code: held for code in codes if (held := levels.holder(at, code, lineage)) is not None}


def shared_by(store: Any, code: str) -> int:
    """How many products show a value of model `code`: its variants and those of its sub-models."""
    subs = select(MODEL.c.code).where(MODEL.c.parent == code)
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(PRODUCT).where(
            or_(PRODUCT.c.parent == code, PRODUCT.c.parent.in_(subs)))).scalar_one())


def saved_notice(store: Any, key: str, code: str) -> dict[str, Any]:
    """The flash of a value saved on model `code` from a variant's page (ON_MODEL)."""
    return {"key": key, "model": code, "shared": shared_by(store, code)}
