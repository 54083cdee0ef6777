"""What a catalog stored before a newer rule still holds that the rule now refuses, with what to do about it
(`pim doctor`): product identifiers and model codes with '/' (refused for new ones since round 34; the REST API
reaches them only URL-encoded, `%2F`) and attributes coded with a reserved code (pim.structure)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select

#: How many offending identifiers a finding names; `count` says how many there are in all.
SHOWN = 50


@dataclass
class Finding:
    """One kind of leftover: how many, the first `SHOWN` of them, and the advice."""

    kind: str
    count: int
    shown: list[str] = field(default_factory=list)
    advice: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "count": self.count, "shown": self.shown, "advice": self.advice}


def _slashed(conn: Any, column: Any) -> tuple[int, list[str]]:
    hit = column.contains("/", autoescape=True)
    count = int(conn.execute(select(func.count()).where(hit)).scalar_one())
    shown = [r[0] for r in conn.execute(select(column).where(hit).order_by(column).limit(SHOWN))] if count else []
    return count, shown


def slashed_identifiers(store: Any) -> list[Finding]:
    """Products and product models whose key holds '/' (one scan of the keys: a check run by hand, not a page)."""
    from pim.store.store import MODEL, PRODUCT

    out = []
    with store.engine.connect() as conn:
        for kind, column, advice in (("product identifier with '/'", PRODUCT.c.identifier, _RENAME_PRODUCT),
                                     ("product model code with '/'", MODEL.c.code, _RENAME_MODEL)):
            count, shown = _slashed(conn, column)
            if count:
                out.append(Finding(kind, count, shown, advice))
    return out


_RENAME_PRODUCT = ("new ones are refused; the REST API reaches these only with '/' sent as %2F "
                   "(/api/v1/products/a%2Fb). Rename each: export it (pim export jsonl), import it under an "
                   "identifier without '/', then delete the old one (DELETE /api/v1/products/a%2Fb)")
_RENAME_MODEL = ("new ones are refused; the REST API reaches these only with '/' sent as %2F (/api/v1/models/a%2Fb). "
                 "Rename each: create the model under a code without '/', give its variants that parent, then "
                 "delete the old one")


def reserved_attributes(store: Any) -> list[Finding]:
    """Attributes stored before their code was reserved (they still read, so the catalog opens)."""
    from pim.structure import RESERVED_ATTRIBUTE_CODES

    held = sorted(RESERVED_ATTRIBUTE_CODES & set(store.structure().attributes))
    if not held:
        return []
    return [Finding("attribute with a reserved code", len(held), held, (
        "a product's associations are keyed associations:<TYPE>; add an attribute under another code (e.g. "
        f"{held[0]}_text), move the values to it, then delete this one (pim structure delete attributes "
        f"{held[0]})"))]


def diagnose(store: Any) -> list[Finding]:
    return slashed_identifiers(store) + reserved_attributes(store)
