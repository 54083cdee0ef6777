"""The product grid's query: every filter reads an index, and paging is keyset on product.id (a cursor,
never OFFSET), so page 10 000 costs what page 1 costs. Core, not web: the grid page (pim.web.grid reads its
filter from the query string), its download and `pim export sheet` walk the same pages.

Indexed: family, enabled (ix_product_family_enabled); category (with sub-categories), source, search words
and missing attribute through pim.grid_index's tables, each keyed (value, product_id); completeness by
channel × locale (grid_completeness: complete / incomplete flag, ratio); gate decisions by product × channel.
The most selective indexed filter *drives* the page: its rows are read in product_id order from after the
cursor, and the other filters probe their primary keys per candidate. `plan` picks it from capped counts.
Not indexed: the quality filter's reason match (a probe of gate_decision per candidate product)."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from importlib import import_module
from typing import Any

from sqlalchemy import Connection, String, and_, cast, exists, false, func, select, true

from pim import grid_index as gi
from pim.catalog import Structure
from pim.store.store import PRODUCT, Store

#: A filter matching fewer index rows than this may drive a page even when its rows are not id-ordered.
COUNT_CAP = 10_000
PAGE = 1000  # rows per query of a walk over every product a filter finds (grid_pages)


def scoring_tables() -> Any:
    """pim.scoring_tables (completeness, gate decisions), or None when that area is not installed: the
    completeness, missing and quality filters are then no filter (as pim.web.panels hides their panels)."""
    try:
        return import_module("pim.scoring_tables")
    except ImportError:
        return None


@dataclass
class GridFilter:
    """What the grid filters by; None is no filter."""

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


def _ratio_condition(c: Any, state: str) -> list[Any]:
    """Conditions on grid_completeness: the `complete` flag is the indexed part, below N % checks the ratio."""
    if state == "complete":
        return [c.complete == true()]
    if state == "incomplete":
        return [c.complete == false()]
    if state.startswith("below:"):
        n = int(state.split(":", 1)[1])
        return [c.complete == false(), c.ratio < n] if n <= 100 else [c.ratio < n]
    raise ValueError(f"completeness filter '{state}': use complete, incomplete or below:N")


@dataclass
class Plan:
    """Which filter drives the page: ("eq", table, conditions), ("text", word) or None (scan product.id);
    `empty` when some indexed filter matches nothing."""

    driver: tuple[Any, ...] | None = None
    empty: bool = False
    counts: dict[str, int] = field(default_factory=dict)


def _words(q: str | None) -> list[str]:
    return gi.query_words(q)


def _scope(f: GridFilter, s: Structure) -> tuple[str | None, str | None]:
    channel = f.channel or (next(iter(sorted(s.channels)), None))
    locale = f.locale or (s.channels[channel].locales[0] if channel in s.channels else None)
    return channel, locale


def scope_problem(f: GridFilter, s: Structure) -> tuple[str, str] | None:
    """(`channel` or `locale`, why) when the filter names a channel the structure lacks, or a locale its channel
    does not publish: no stored score has that scope, so the completeness, missing and quality filters would
    quietly filter nothing. Worded as GET /completeness/{channel} words it. None when the scope is known."""
    from pim.validation import typo_of

    if f.channel and f.channel not in s.channels:
        return "channel", (f"no channel '{f.channel}'{typo_of(f.channel, (), s.channels)}; the channels: "
                           f"{', '.join(sorted(s.channels)) or 'none'}")
    channel, _ = _scope(f, s)
    locales = s.channels[channel].locales if channel in s.channels else []
    if f.locale and f.locale not in locales:
        default = "" if f.channel else " (the default channel: name another with ?channel=)"
        return "locale", (f"channel '{channel}'{default} has no locale '{f.locale}'{typo_of(f.locale, (), locales)}; "
                          f"its locales: {', '.join(locales) or 'none'}")
    return None


def quality_problem(f: GridFilter, s: Structure) -> str | None:
    """Why the quality filter can find nothing on the filter's (known) channel: its reason's kind (the part before
    the first `:`) is none that channel's gate gives (pim.gate.blocking_kinds, plus the completeness reasons
    when it asks for completeness), so the page would be empty as if no product had the problem. None when it
    can match, or without a quality filter or scoring."""
    from pim.gate import blocking_kinds
    from pim.validation import typo_of

    channel, _ = _scope(f, s)
    if not f.quality or channel not in s.channels or scoring_tables() is None:
        return None
    completeness = ["completeness", "missing", "no_family"] if s.channels[channel].gate.min_completeness > 0 else []
    kinds = sorted([*completeness, *blocking_kinds(s, channel)])
    kind = f.quality.split(":")[0]
    if kind in kinds:
        return None
    default = "" if f.channel else " (the default channel: name another with ?channel=)"
    offered = (f"its gate blocks on: {', '.join(kinds)}; filter by one of these, alone or with the detail the "
               "gate report shows (e.g. invalid:ean)" if kinds
               else "its gate blocks nothing, so no product is held back for a reason")
    return (f"no quality reason '{kind}' on channel '{channel}'{default}{typo_of(kind, (), kinds)}: {offered}. "
            "A kind the gate does not block on is never stored as a reason; add it to the channel's block_on to "
            "filter by it")


def _equalities(f: GridFilter, s: Structure) -> list[tuple[str, Any, list[Any]]]:
    """(name, table, conditions) of the equality-keyed filters present."""
    channel, locale = _scope(f, s)
    out: list[tuple[str, Any, list[Any]]] = []
    if f.category:
        out.append(("category", gi.GRID_CATEGORY, [gi.GRID_CATEGORY.c.category == f.category]))
    if f.source:
        out.append(("source", gi.GRID_SOURCE, [gi.GRID_SOURCE.c.source == f.source]))
    if f.missing and channel and locale and scoring_tables() is not None:
        M = gi.GRID_MISSING
        out.append(("missing", M, [M.c.channel == channel, M.c.locale == locale, M.c.attribute == f.missing]))
    if f.completeness and channel and locale and scoring_tables() is not None:
        G = gi.GRID_COMPLETENESS
        out.append(("completeness", G, [G.c.channel == channel, G.c.locale == locale, *_ratio_condition(G.c, f.completeness)]))
    return out


def _word_condition(word: str) -> Any:
    low, high = gi.prefix_range(word)
    return and_(gi.GRID_TEXT.c.token >= low, gi.GRID_TEXT.c.token < high)


def plan(conn: Connection, f: GridFilter, s: Structure) -> Plan:
    """Count each indexed filter's matches up to COUNT_CAP (an index range read, bounded) and let the
    rarest drive; an id-ordered equality filter is preferred when every filter is dense."""
    out = Plan()
    candidates: list[tuple[int, int, tuple[Any, ...]]] = []
    for name, table, conds in _equalities(f, s):
        n = conn.execute(select(func.count()).select_from(select(table.c.product_id).where(*conds).limit(COUNT_CAP).subquery())).scalar_one()
        out.counts[name] = n
        candidates.append((n, 0, ("eq", table, conds)))
    for word in _words(f.q):
        n = conn.execute(select(func.count()).select_from(
            select(gi.GRID_TEXT.c.product_id).where(_word_condition(word)).limit(COUNT_CAP).subquery())).scalar_one()
        out.counts[f"q:{word}"] = n
        candidates.append((n, 1, ("text", word)))
    if any(c[0] == 0 for c in candidates):
        out.empty = True
    elif candidates:
        n, kind, driver = min(candidates, key=lambda c: c[:2])
        if kind == 0 or n < COUNT_CAP:
            out.driver = driver
    return out


def build_query(f: GridFilter, s: Structure, *, after: int = 0, limit: int = 50, plan: Plan | None = None) -> Any:
    P = PRODUCT
    tables = scoring_tables()
    channel, locale = _scope(f, s)
    driver = plan.driver if plan else next((("eq", t, c) for _, t, c in _equalities(f, s)), None)
    q = select(P.c.id, P.c.identifier, P.c.family, P.c.enabled, P.c.value_map, P.c.source, P.c.parent)
    order: Any = P.c.id
    if driver and driver[0] == "eq":
        D = driver[1]
        q = q.select_from(D.join(P, P.c.id == D.c.product_id)).where(*driver[2], D.c.product_id > after)
        order = D.c.product_id  # the driver's index order: no sort, the page reads `limit` index rows
    else:
        q = q.where(P.c.id > after)
        if driver:  # a rare word: its few products, sorted
            q = q.where(P.c.id.in_(select(gi.GRID_TEXT.c.product_id).where(_word_condition(driver[1]))))
    for _, table, conds in _equalities(f, s):
        if not driver or table is not driver[1]:
            q = q.where(exists(select(1).select_from(table).where(table.c.product_id == P.c.id, *conds)))
    for word in _words(f.q):
        if driver != ("text", word):
            q = q.where(exists(select(1).select_from(gi.GRID_TEXT).where(gi.GRID_TEXT.c.product_id == P.c.id, _word_condition(word))))
    if tables is not None and channel and locale:
        C = tables.COMPLETENESS
        on = and_(C.c.product == P.c.identifier, C.c.channel == channel, C.c.locale == locale)
        q = q.outerjoin(C, on).add_columns(C.c.ratio)  # the ratio shown; the filter is grid_completeness
    if f.family:
        q = q.where(P.c.family == f.family)
    if f.enabled is not None:
        q = q.where(P.c.enabled.is_(f.enabled))
    if f.quality and tables is not None and channel:
        D = tables.GATE_DECISION
        q = q.join(D, and_(D.c.product == P.c.identifier, D.c.channel == channel)).where(
            D.c.passed.is_(False), cast(D.c.reasons, String).like(f'%"{_like(f.quality)}%', escape="\\"))
    return q.order_by(order).limit(limit + 1)


_INDEXED: "weakref.WeakSet[Any]" = weakref.WeakSet()


def ensure_index(store: Store) -> None:
    """A database written before the grid index existed gets it built once, on its first grid page."""
    if store.engine in _INDEXED:
        return
    with store.engine.connect() as conn:
        empty = gi.is_empty(conn)
    if empty:
        gi.rebuild(store)
    _INDEXED.add(store.engine)


def page(store: Store, f: GridFilter, s: Structure, *, after: int = 0, limit: int = 50) -> tuple[list[GridRow], int | None]:
    """One page and the cursor of the next one (None at the end)."""
    ensure_index(store)
    with store.engine.connect() as conn:
        chosen = plan(conn, f, s)
        rows = [] if chosen.empty else conn.execute(build_query(f, s, after=after, limit=limit, plan=chosen)).all()
        more = len(rows) > limit
        rows = rows[:limit]
        shown = _inherited_values(conn, rows)
    locale = f.locale or next((ch.locales[0] for ch in s.channels.values()), None)
    channel = f.channel or next(iter(sorted(s.channels)), None)
    out = [GridRow(id=r.id, identifier=r.identifier, family=r.family, enabled=r.enabled,
                   label=label_of(shown.get(r.id, r.value_map), r.family, s, locale, channel) or r.identifier,
                   ratio=getattr(r, "ratio", None), source=(r.source or {}).get("source")) for r in rows]
    return out, (out[-1].id if more and out else None)


def _inherited_values(conn: Any, rows: list[Any]) -> dict[int, dict[str, Any]]:
    """product id → a variant's values over its models' (root first), as the channels resolve them, so a variant's
    label is the one it inherits (the storefront's); one query per model level for the page's variants."""
    from pim.grid_rows import _chain, _models
    from pim.store.database import json_loads

    parents = {r.parent for r in rows if getattr(r, "parent", None)}
    if not parents:
        return {}
    models = _models(conn, parents)
    out: dict[int, dict[str, Any]] = {}
    for r in rows:
        if r.parent:
            merged: dict[str, Any] = {}
            for model in reversed(_chain(models, r.parent)):
                merged.update(model["values"])
            out[r.id] = {**merged, **(json_loads(r.value_map) or {})}
    return out


def label_of(values: dict[str, Any], family: str | None, s: Structure, locale: str | None,
             channel: str | None = None) -> str | None:
    """The family's label attribute's value in `locale` (else any locale's) and `channel` (else any channel's)."""
    fam = s.families.get(family or "")
    code = fam.attribute_as_label if fam else None
    if not code or code not in s.attributes:
        return None
    attr = s.attributes[code]
    if attr.localizable:
        wanted = f"{code}:{locale}" + (f"@{channel}" if attr.scopable and channel else "")
        return values.get(wanted) or next((v for k, v in values.items() if k.startswith(code + ":") and v), None)
    if attr.scopable:
        return values.get(f"{code}@{channel}") or next((v for k, v in values.items() if k.startswith(code + "@") and v), None)
    return values.get(code)


def pages(store: Store, f: GridFilter, s: Structure, *, limit: int = 1000) -> Iterator[list[GridRow]]:
    """Every product the filter finds, a keyset page at a time (a download or a filter-wide mass edit)."""
    after: int | None = 0
    while after is not None:
        rows, after = page(store, f, s, after=after, limit=limit)
        if rows:
            yield rows


def grid_pages(store: Store, f: GridFilter, s: Structure, *, limit: int | None = None) -> Iterator[list[int]]:
    """The product ids the filter finds, a keyset page (of PAGE) at a time: what a download or `pim export
    sheet` writes."""
    return ([r.id for r in rows] for rows in pages(store, f, s, limit=limit or PAGE))
