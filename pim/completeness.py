"""Completeness with Akeneo's semantics, per product × channel × locale, and the content team's report.

The rules (Akeneo's): the required attributes are the family's requirements for the channel plus the
identifier; a localizable attribute is required on each of the channel's locales, a locale-specific one only on
its locales; a scopable value is read for the channel only; a value is filled unless null, "" or []
(false and 0 are filled); a metric needs amount and unit; a price collection needs every channel currency;
an image counts only when its asset is valid and meets the channel's image rules (the asset-validity hook
reports a ref, or a (ref, channel) pair); variants count what they inherit from their product models.
ratio = 100 when nothing is required, else floor(100 × (required − missing) / required).

Scoring here is pure (records in, scores out); pim.rescore keeps the stored scores current and
`report` reads the counters it maintains.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import BaseModel, Field
from sqlalchemy import and_, func, select

from pim.catalog import Structure
from pim.product import value_key
from pim.structure import AttributeType

_ASSET_TYPES = (AttributeType.image, AttributeType.file)


def ratio(required: int, missing: int) -> int:
    return 100 if required == 0 else (100 * (required - missing)) // required


@dataclass(frozen=True)
class Slot:
    """One required value: attribute `attribute`, read at `key`, checked as `type`."""

    attribute: str
    key: str
    type: AttributeType


@dataclass(frozen=True)
class Score:
    channel: str
    locale: str
    family: str
    required: int
    missing: tuple[str, ...]

    @property
    def ratio(self) -> int:
        return ratio(self.required, len(self.missing))


# Check kinds of a compiled plan: how one value key is tested for "filled".
PLAIN, METRIC, PRICE, ASSET, IDENT = range(5)
_KINDS = {AttributeType.metric: METRIC, AttributeType.price_collection: PRICE,
          AttributeType.image: ASSET, AttributeType.file: ASSET}


class Result:
    """A scope's outcome for one pattern of unfilled checks. Cached and shared (products share few patterns),
    so it hashes by identity; `tail` is the stored row after the product column."""

    __slots__ = ("channel", "locale", "family", "required", "missing", "missing_json", "ratio", "tail")

    def __init__(self, channel: str, locale: str, family: str, required: int, missing: tuple[str, ...]) -> None:
        self.channel, self.locale, self.family, self.required, self.missing = channel, locale, family, required, missing
        self.missing_json = orjson.dumps(list(missing)).decode()
        self.ratio = ratio(required, len(missing))
        self.tail = (channel, locale, family, self.ratio, required, len(missing), self.missing_json)


class Scope:
    """One channel × locale of a family plan: its required slots as (attribute, check bit)."""

    __slots__ = ("channel", "locale", "family", "slots", "mask", "cache")

    def __init__(self, channel: str, locale: str, family: str, slots: list[tuple[str, int]]) -> None:
        self.channel, self.locale, self.family, self.slots = channel, locale, family, slots
        self.mask = 0
        for _, bit in slots:
            self.mask |= bit
        self.cache: dict[int, Result] = {}

    def result(self, unfilled: int) -> Result:
        m = unfilled & self.mask
        hit = self.cache.get(m)
        if hit is None:
            missing = tuple(a for a, bit in self.slots if m & bit)
            hit = Result(self.channel, self.locale, self.family, len(self.slots), missing)
            self.cache[m] = hit
        return hit


class FamilyPlan:
    """A family's requirements on every channel × locale, compiled once: the distinct value checks (value
    key, kind, currencies) each get a bit, so scoring a product is one pass over its checks plus a cached
    lookup per scope. `assets` lists the value keys whose refs the asset-validity hook must see."""

    def __init__(self, family: str, checks: list[tuple[str, int, tuple[str, ...]]], scopes: list[Scope]) -> None:
        self.family, self.checks, self.scopes = family, checks, scopes
        self.assets = list(dict.fromkeys(key for key, kind, _ in checks if kind == ASSET))  # one check per channel
        self.keys = frozenset(key for key, _, _ in checks)
        self._by_mask: dict[int, tuple[Result, ...]] = {}
        bits = [(key, 1 << n, kind, currencies) for n, (key, kind, currencies) in enumerate(checks)]
        self._plain = [(key, bit) for key, bit, kind, _ in bits if kind == PLAIN]  # most checks: filled or not
        self._other = [check for check in bits if check[2] != PLAIN]
        self._at: dict[str, tuple[list[Any], list[Any]]] = {}
        for check in bits:
            plain, other = self._at.setdefault(check[0], ([], []))
            if check[2] == PLAIN:
                plain.append(check[:2])
            else:
                other.append(check)

    def checks_at(self, keys: Iterable[str]) -> tuple[list[Any], list[Any]]:
        """This plan's checks of just `keys`, for `unfilled(checks=…)`: a write that changed a few keys moves
        only their bits (pim.rescore.inputs_changed compares those instead of every check, twice)."""
        plain: list[Any] = []
        other: list[Any] = []
        for key in keys:
            hit = self._at.get(key)
            if hit is not None:
                plain += hit[0]
                other += hit[1]
        return plain, other

    def unfilled(self, values: Mapping[str, Any], identifier: str | None, invalid_assets: Any = (),
                 checks: tuple[list[Any], list[Any]] | None = None) -> int:
        """The bitmask of this plan's checks (or of `checks`, from `checks_at`) that `values` leaves unfilled.
        Empty means None, "", [] or {} (`not v and v != 0`: false and 0 are filled)."""
        mask = 0
        get = values.get
        plain, other = (self._plain, self._other) if checks is None else checks
        for key, bit in plain:
            v = get(key)
            if not v and v != 0:
                mask |= bit
        for key, bit, kind, currencies in other:
            v = get(key)
            if not v and v != 0:
                if not (kind == IDENT and identifier and (v is None or v == "")):
                    mask |= bit
            elif kind == METRIC:
                if not (isinstance(v, dict) and v.get("amount") not in (None, "") and v.get("unit")):
                    mask |= bit
            elif kind == PRICE:
                if not isinstance(v, dict):
                    mask |= bit
                else:
                    for c in currencies:
                        amount = v.get(c)
                        if amount is None or amount == "":
                            mask |= bit
                            break
            elif kind == ASSET and invalid_assets and isinstance(v, str) and (
                    v in invalid_assets or (v, currencies[0]) in invalid_assets):
                mask |= bit  # `currencies` of an asset check holds its channel
        return mask

    def results(self, values: Mapping[str, Any], identifier: str | None, invalid_assets: Any = (),
                channels: Any = None) -> list[Result]:
        unfilled = self.unfilled(values, identifier, invalid_assets)
        if channels is None:
            return list(self.for_mask(unfilled))
        return [s.result(unfilled) for s in self.scopes if s.channel in channels]

    def for_mask(self, unfilled: int) -> tuple[Result, ...]:
        """Every scope's result for a bitmask of unfilled checks (cached: products share few masks)."""
        hit = self._by_mask.get(unfilled)
        if hit is None:
            hit = self._by_mask[unfilled] = tuple(s.result(unfilled) for s in self.scopes)
        return hit


class Requirements:
    """The structure compiled into required slots per family × channel × locale (cached: the structure is
    small, products are many)."""

    def __init__(self, structure: Structure) -> None:
        self.structure = structure
        self.identifier = structure.identifier_attribute
        self._slots: dict[tuple[str, str, str], list[Slot]] = {}
        self._plans: dict[str, FamilyPlan | None] = {}
        self._unique: frozenset[str] | None = None

    @property
    def unique_tracked(self) -> frozenset[str]:
        """Attribute codes whose values the unique_value table keeps (identifier, GTINs, unique=True)."""
        if self._unique is None:
            from pim.quality import unique_attributes

            self._unique = frozenset([*unique_attributes(self.structure), self.identifier])
        return self._unique

    def required_codes(self, family: str, channel: str) -> list[str]:
        fam = self.structure.families[family]
        codes = [self.identifier] + [c for c in fam.requirements.get(channel, []) if c != self.identifier]
        return [c for c in codes if c in self.structure.attributes or c == self.identifier]

    def slots(self, family: str, channel: str, locale: str) -> list[Slot]:
        cache_key = (family, channel, locale)
        if cache_key not in self._slots:
            out: list[Slot] = []
            for code in self.required_codes(family, channel):
                attr = self.structure.attributes.get(code)
                if attr is None:  # an identifier attribute the structure does not declare
                    out.append(Slot(code, code, AttributeType.identifier))
                    continue
                if attr.available_locales and locale not in attr.available_locales:
                    continue  # locale-specific: required only on its locales
                key = value_key(code, locale if attr.localizable else None, channel if attr.scopable else None)
                out.append(Slot(code, key, attr.type))
            self._slots[cache_key] = out
        return self._slots[cache_key]

    def plan(self, family: str | None) -> FamilyPlan | None:
        """The compiled plan of `family`; None without a family or for an unknown one (no completeness)."""
        if not family:
            return None
        if family not in self._plans:
            self._plans[family] = self._compile(family) if family in self.structure.families else None
        return self._plans[family]

    def _compile(self, family: str) -> FamilyPlan:
        checks: list[tuple[str, int, tuple[str, ...]]] = []
        index: dict[tuple[str, int, tuple[str, ...]], int] = {}
        scopes = []
        for ch_code, channel in self.structure.channels.items():
            for locale in channel.locales:
                slots = []
                for slot in self.slots(family, ch_code, locale):
                    kind = IDENT if slot.attribute == self.identifier else _KINDS.get(slot.type, PLAIN)
                    # an image's check is per channel: the channels' image rules differ (media.yaml)
                    extra = tuple(channel.currencies) if kind == PRICE else (ch_code,) if kind == ASSET else ()
                    check = (slot.key, kind, extra)
                    if check not in index:
                        index[check] = len(checks)
                        checks.append(check)
                    slots.append((slot.attribute, 1 << index[check]))
                scopes.append(Scope(ch_code, locale, family, slots))
        return FamilyPlan(family, checks, scopes)

    def score(
        self,
        family: str | None,
        values: Mapping[str, Any],
        identifier: str | None = None,
        *,
        channels: Iterable[str] | None = None,
        invalid_assets: frozenset[Any] | set[Any] = frozenset(),
    ) -> list[Score]:
        """Scores on every locale of every channel (or of `channels`). No family → no completeness."""
        plan = self.plan(family)
        if plan is None:
            return []
        wanted = None if channels is None else set(channels)
        return [Score(r.channel, r.locale, r.family, r.required, r.missing)
                for r in plan.results(values, identifier, invalid_assets, wanted)]


def settle_asset_rules(store: Any, *, everything: bool = False) -> None:
    """Let each asset-validity hook queue the rescores its own rules need before stored scores are read (the
    media area's: a change of a channel's image rules in media.yaml; `settle` on the hook, when it has one).
    `everything`: a full rebuild follows, so the hooks only take note of their rules."""
    from pim.registry import ASSET_VALIDITY, load

    for ref in ASSET_VALIDITY:
        settle = getattr(load(ref), "settle", None)
        if settle is not None:
            settle(store, everything=everything)


def asset_refs(values: Mapping[str, Any], structure: Structure) -> set[str]:
    """Image and file references among a record's values (what the asset-validity hook is asked about)."""
    refs = set()
    for key, data in values.items():
        attr = structure.attributes.get(key.split(":", 1)[0].split("@", 1)[0])
        if attr is not None and attr.type in _ASSET_TYPES and isinstance(data, str) and data:
            refs.add(data)
    return refs


# ---------------------------------------------------------------------------------------------- report
class LocaleCounts(BaseModel):
    """Enabled products scored on a locale (`products` = `complete` + `incomplete`); `disabled` more are scored
    there but never published, so left out of the counts and named apart, as the to-do does."""

    locale: str
    products: int
    complete: int
    incomplete: int
    disabled: int = 0


class TodoItem(BaseModel):
    """`products` enabled products in `family` miss `attribute` on `locale` for `channel`; `disabled` more that
    miss it are disabled (never published, so left out of the count, named apart). `locales`: every locale the
    item blocks, when a report merges a non-localizable attribute's lines (`merge_locales`; `locale` is the
    first of them)."""

    channel: str
    locale: str
    family: str
    attribute: str
    products: int
    disabled: int = 0
    locales: list[str] = Field(default_factory=list, exclude=True)  # only the dashboard merges: JSON and CSV keep their columns

    def sentence(self) -> str:
        aside = f" ({self.disabled} disabled left out)" if self.disabled else ""
        where = ", ".join(self.locales) if len(self.locales) > 1 else self.locale
        return (f"{self.products} products in family {self.family} miss {self.attribute} ({where}) "
                f"for {self.channel}{aside}")


class GateReport(BaseModel):
    channel: str
    locales: list[LocaleCounts]
    blocked: int
    blocked_by_reason: dict[str, int]
    todo: list[TodoItem]
    todo_total: int = 0  # to-do items in all, when `todo` is cut to a limit


def report(store: Any, channel: str, locale: str | None = None, *, todo_limit: int | None = None,
           merge_locales: bool = False) -> GateReport:
    """Counts per locale, blocked products by reason (from the last gate decisions) and the to-do list,
    read from counters kept current on every write: no catalog scan. The to-do leaves disabled products out
    (`_todo`); `todo_limit` cuts it in SQL, `todo_total` counts it all. `merge_locales`: a non-localizable
    attribute (image, price, brand) missing on every locale alike is one item naming its `locales`, not one
    per locale (the dashboard). A `locale` the channel does not publish is a ConfigError naming the channel's
    locales (its report would be empty, as if nothing were missing)."""
    if locale:
        check_locale(store, channel, locale)
    settle_asset_rules(store)  # changed image rules queue their rescores first: the page then says so
    from pim.completeness_disabled import disabled_by_locale
    from pim.grid_query import ensure_index
    from pim.scoring_tables import COMPLETENESS_COUNT as CC
    from pim.scoring_tables import GATE_COUNT as GC

    ensure_index(store)  # the to-do's disabled counts read the grid index (built once for an older database)
    with store.engine.connect() as conn:
        q = (select(CC.c.locale, func.sum(CC.c.products), func.sum(CC.c.complete))
             .where(CC.c.channel == channel).group_by(CC.c.locale).order_by(CC.c.locale))
        if locale:
            q = q.where(CC.c.locale == locale)
        elif (published := _channel_locales(store, channel)) is not None:
            q = q.where(CC.c.locale.in_(published))  # counters of a locale the channel no longer has stay behind
        off = disabled_by_locale(conn, channel, locale)
        locales = [_enabled_counts(loc, int(n or 0), int(c or 0), *off.get(loc, (0, 0))) for loc, n, c in conn.execute(q)]
        reasons = {k: int(n) for k, n in conn.execute(select(GC.c.kind, GC.c.products)
                                                      .where(GC.c.channel == channel, GC.c.products > 0))}
        shared = _not_localizable(conn) if merge_locales and not locale else None
        todo, total = _todo(conn, channel, locale, todo_limit, shared)
    blocked = reasons.pop("*", 0)
    if locale:
        reasons = {k: n for k, n in reasons.items() if not k.startswith("completeness:") or k == f"completeness:{locale}"}
    return GateReport(channel=channel, locales=locales, blocked=blocked, blocked_by_reason=reasons, todo=todo,
                      todo_total=total)


def _enabled_counts(locale: str, products: int, complete: int, disabled: int, disabled_complete: int) -> LocaleCounts:
    """A locale's stored counters less its disabled products (`pim.completeness_disabled`)."""
    products, complete = products - disabled, complete - disabled_complete
    return LocaleCounts(locale=locale, products=products, complete=complete, incomplete=products - complete,
                        disabled=disabled)


def _not_localizable(conn: Any) -> list[str]:
    from pim.structure_cache import cached_structure

    return sorted(code for code, a in cached_structure(conn).attributes.items() if not a.localizable)


def _todo(conn: Any, channel: str, locale: str | None, limit: int | None,
          shared: list[str] | None = None) -> tuple[list[TodoItem], int]:
    """The to-do's page, largest first, and its length: the missing counters less their disabled products.
    Those are counted from the grid index's missing rows of the disabled products alone (the product table's
    family × enabled index), so the cost follows the disabled products, not the catalog. Each counts under the
    family its completeness row was scored as: a variant without a family of its own takes its model's."""
    from pim.grid_index import GRID_MISSING as GM
    from pim.scoring_tables import COMPLETENESS as C
    from pim.scoring_tables import MISSING_COUNT as MC
    from pim.store.store import PRODUCT as P

    scope = [GM.c.channel == channel] + ([GM.c.locale == locale] if locale else [])
    families = select(MC.c.family).where(MC.c.channel == channel).distinct()
    scored = and_(C.c.product == P.c.identifier, C.c.channel == GM.c.channel, C.c.locale == GM.c.locale)
    own_or_model = P.c.family.in_(families) | (P.c.family.is_(None) & P.c.parent.is_not(None))
    off = (select(GM.c.locale, C.c.family, GM.c.attribute, func.count().label("n"))
           .select_from(P.join(GM, GM.c.product_id == P.c.id).join(C, scored))
           .where(own_or_model, P.c.enabled.is_(False), *scope)
           .group_by(GM.c.locale, C.c.family, GM.c.attribute).subquery())
    disabled = func.coalesce(off.c.n, 0)
    enabled = MC.c.products - disabled
    where = [MC.c.channel == channel, enabled > 0] + ([MC.c.locale == locale] if locale else [])
    joined = MC.outerjoin(off, and_(off.c.locale == MC.c.locale, off.c.family == MC.c.family,
                                    off.c.attribute == MC.c.attribute))
    if shared is not None:
        return _merged_todo(conn, channel, select(MC.c.locale, MC.c.family, MC.c.attribute, enabled.label("n"),
                                                  disabled.label("d")).select_from(joined).where(*where), limit, shared)
    tq = (select(MC.c.locale, MC.c.family, MC.c.attribute, enabled, disabled).select_from(joined).where(*where)
          .order_by(enabled.desc(), MC.c.family, MC.c.attribute, MC.c.locale))
    if limit:
        tq = tq.limit(limit)
    todo = [TodoItem(channel=channel, locale=loc, family=fam, attribute=attr, products=int(n), disabled=int(d))
            for loc, fam, attr, n, d in conn.execute(tq)]
    if not limit or len(todo) < limit:
        return todo, len(todo)
    return todo, int(conn.execute(select(func.count()).select_from(joined).where(*where)).scalar_one())


def _merged_todo(conn: Any, channel: str, lines: Any, limit: int | None, shared: list[str]) -> tuple[list[TodoItem], int]:
    """The to-do with each non-localizable attribute's lines of equal counts as one item (its value has no
    locale: the same products miss it on every locale), in SQL, so the page and its total count items."""
    from sqlalchemy import case, literal

    t = lines.subquery()
    key = case((t.c.attribute.in_(shared), literal("")), else_=t.c.locale)
    agg = func.string_agg(t.c.locale, ",") if conn.dialect.name == "postgresql" else func.group_concat(t.c.locale, ",")
    grouped = select(func.min(t.c.locale), agg, t.c.family, t.c.attribute, t.c.n, t.c.d).group_by(
        key, t.c.family, t.c.attribute, t.c.n, t.c.d)
    q = grouped.order_by(t.c.n.desc(), t.c.family, t.c.attribute, func.min(t.c.locale))
    if limit:
        q = q.limit(limit)
    todo = [TodoItem(channel=channel, locale=first, family=fam, attribute=attr, products=int(n), disabled=int(d),
                     locales=sorted(locs.split(",")))
            for first, locs, fam, attr, n, d in conn.execute(q)]
    if not limit or len(todo) < limit:
        return todo, len(todo)
    return todo, int(conn.execute(select(func.count()).select_from(grouped.subquery())).scalar_one())


def _channel_locales(store: Any, channel: str) -> list[str] | None:
    """The locales the channel publishes now, or None for a channel the structure lacks."""
    found = next((c for c in store.get_structure("channel") if c.code == channel), None)
    return None if found is None else list(found.locales)


def check_locale(store: Any, channel: str, locale: str) -> None:
    """Refuse a locale the channel does not publish (`fr_FR`, `de_de`), with its locales; an unknown channel is
    the caller's to refuse (the CLI and the API name the channels)."""
    from pim.errors import ConfigError
    from pim.validation import typo_of

    locales = _channel_locales(store, channel)
    if locales is not None and locale not in locales:
        raise ConfigError(f"channel '{channel}' has no locale '{locale}'{typo_of(locale, (), locales)}",
                          hint=f"its locales: {', '.join(locales)}")


def stored_completeness(store: Any, identifier: str) -> list[dict[str, Any]]:
    """The stored rows of one product (channel, locale, ratio, required, missing), for the UI and tests."""
    from pim.scoring_tables import COMPLETENESS as C

    with store.engine.connect() as conn:
        rows = conn.execute(select(C).where(C.c.product == identifier).order_by(C.c.channel, C.c.locale))
        return [dict(r._mapping) for r in rows]
