"""The product grid's query: filters on indexed columns and tables, keyset paging on product.id (a cursor,
never OFFSET), so page 10 000 costs what page 1 costs.

Indexed: family, enabled (ix_product_family_enabled), identifier prefix, completeness by channel × locale
(the completeness table's primary key and ix_completeness_scope), gate decisions by product × channel.
Not indexed, documented: label search (scans value_map text), category and source (JSON text match); they
narrow a page scan that still stops after `limit` rows."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from sqlalchemy import String, and_, cast, or_, select

from pim.catalog import Structure
from pim.store.store import PRODUCT, Store
from pim.web import panels


@dataclass
class GridFilter:
    q: str | None = None
    family: str | None = None
    category: str | None = None
    enabled: bool | None = None
    channel: str | None = None
    locale: str | None = None
    completeness: str | None = None  # complete | incomplete | below:N
    missing: str | None = None  # attribute code missing on channel × locale
    quality: str | None = None  # a gate reason prefix, e.g. duplicate_gtin, invalid
    source: str | None = None

    def query_string(self, **override: Any) -> str:
        from urllib.parse import urlencode

        data = {k: v for k, v in {**asdict(self), **override}.items() if v not in (None, "")}
        return urlencode({k: ("1" if v is True else "0" if v is False else v) for k, v in data.items()})


@dataclass
class GridRow:
    id: int
    identifier: str
    family: str | None
    enabled: bool
    label: str
    ratio: int | None
    source: str | None


def _like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _ratio_condition(c: Any, state: str) -> Any:
    if state == "complete":
        return c.ratio >= 100
    if state == "incomplete":
        return c.ratio < 100
    if state.startswith("below:"):
        return c.ratio < int(state.split(":", 1)[1])
    raise ValueError(f"completeness filter '{state}': use complete, incomplete or below:N")


def build_query(f: GridFilter, s: Structure, *, after: int = 0, limit: int = 50) -> Any:
    P = PRODUCT
    tables = panels.tables()
    cols = [P.c.id, P.c.identifier, P.c.family, P.c.enabled, P.c.value_map, P.c.source]
    channel = f.channel or (next(iter(sorted(s.channels)), None))
    locale = f.locale or (s.channels[channel].locales[0] if channel in s.channels else None)
    q = select(*cols).where(P.c.id > after)
    if tables is not None and channel and locale:
        C = tables.COMPLETENESS
        on = and_(C.c.product == P.c.identifier, C.c.channel == channel, C.c.locale == locale)
        if f.completeness or f.missing:
            q = q.join(C, on)
            if f.completeness:
                q = q.where(_ratio_condition(C.c, f.completeness))
            if f.missing:
                q = q.where(cast(C.c.missing, String).like(f'%"{_like(f.missing)}"%', escape="\\"))
        else:
            q = q.outerjoin(C, on)
        q = q.add_columns(C.c.ratio)
    if f.q:
        term = _like(f.q.strip())
        q = q.where(or_(P.c.identifier.like(term + "%", escape="\\"),
                        cast(P.c.value_map, String).ilike(f"%{term}%", escape="\\")))
    if f.family:
        q = q.where(P.c.family == f.family)
    if f.enabled is not None:
        q = q.where(P.c.enabled.is_(f.enabled))
    if f.category:
        q = q.where(cast(P.c.categories, String).like(f'%"{_like(f.category)}"%', escape="\\"))
    if f.source:
        q = q.where(cast(P.c.source, String).like(f'%"source": "{_like(f.source)}"%', escape="\\")
                    | cast(P.c.source, String).like(f'%"source":"{_like(f.source)}"%', escape="\\"))
    if f.quality and tables is not None and channel:
        D = tables.GATE_DECISION
        q = q.join(D, and_(D.c.product == P.c.identifier, D.c.channel == channel)).where(
            D.c.passed.is_(False), cast(D.c.reasons, String).like(f'%"{_like(f.quality)}%', escape="\\"))
    return q.order_by(P.c.id).limit(limit + 1)


def page(store: Store, f: GridFilter, s: Structure, *, after: int = 0, limit: int = 50) -> tuple[list[GridRow], int | None]:
    """One page and the cursor of the next one (None at the end)."""
    with store.engine.connect() as conn:
        rows = conn.execute(build_query(f, s, after=after, limit=limit)).all()
    more = len(rows) > limit
    rows = rows[:limit]
    locale = f.locale or next((ch.locales[0] for ch in s.channels.values()), None)
    out = [GridRow(id=r.id, identifier=r.identifier, family=r.family, enabled=r.enabled,
                   label=label_of(r.value_map, r.family, s, locale) or r.identifier,
                   ratio=getattr(r, "ratio", None), source=(r.source or {}).get("source")) for r in rows]
    return out, (out[-1].id if more and out else None)


def label_of(values: dict[str, Any], family: str | None, s: Structure, locale: str | None) -> str | None:
    fam = s.families.get(family or "")
    code = fam.attribute_as_label if fam else None
    if not code or code not in s.attributes:
        return None
    attr = s.attributes[code]
    if attr.localizable:
        return values.get(f"{code}:{locale}") or next((v for k, v in values.items() if k.startswith(code + ":")), None)
    return values.get(code)
