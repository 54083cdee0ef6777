"""What relies on a structure channel, for the admins' channel page (pim.web.channels_admin): the families
requiring attributes on it, the contracts whose customer feeds it scopes, the built-in channel catalogs
declared for it, and the search targets its indexes were pushed to. A locale or currency leaves a channel only
when none of them relies on it, and a channel is deleted only when nothing names it at all, so neither a
contract's next feed nor a live search index is left pointing at something that is gone.

Also what a channel change does beyond its own row: which products leave or join its category tree, and which
families' completeness a locale or currency change rescores (pim.rescore.affected decides that; this says it
in words and counts before the save). The core never imports `channels`: catalogs come through
pim.registry.CHANNEL_CATALOG (pim.attribute_usage), the search targets from the `search_sync` table by SQL."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, inspect, select, text

from pim import attribute_usage, rescore
from pim.attribute_usage import EXAMPLES
from pim.catalog import Structure
from pim.store import Store
from pim.store.store import JOB, PRODUCT
from pim.structure import Channel


def listed(nouns: tuple[str, str], names: list[str], verbs: tuple[str, str], rest: str) -> str:
    """"2 contracts deliver in de_DE (a, b)": a count, what it counts and up to EXAMPLES of them, in the
    phrasing of pim.attribute_usage.rows_said."""
    many = len(names) != 1
    shown = ", ".join(names[:EXAMPLES]) + (", …" if len(names) > EXAMPLES else "")
    return f"{len(names)} {nouns[many]} {verbs[many]} {rest} ({shown})"


# ---------------------------------------------------------------------------------------------- who uses it
def families_requiring(s: Structure, code: str) -> list[str]:
    """The families with requirements on channel `code` (the family page sets them)."""
    return sorted(f for f, fam in s.families.items() if code in fam.requirements)


def contracts_on(store: Store, code: str) -> list[Any]:
    """The contracts (pim.contracts.Contract) whose feeds take their gate, scope and tree from `code`."""
    from pim.contracts import get_contracts

    return [c for c in get_contracts(store) if c.channel == code]


@dataclass(frozen=True)
class SearchTarget:
    """A search server or output folder that channel `scope` was pushed to (a `search_sync` row)."""

    where: str
    prefix: str
    scope: str
    locales: tuple[str, ...] | None = None  # whose index its push state records; None: unknown, any of them

    def index(self, locale: str) -> str:
        return f"{self.prefix}_{self.scope}_{locale}"

    def holds(self, locale: str) -> bool:
        return self.locales is None or locale in self.locales

    def __str__(self) -> str:
        return f"{self.where}, index prefix {self.prefix}"


def search_targets(conn: Connection, code: str) -> list[SearchTarget]:
    """The search targets pushed for channel `code`: their indexes (one per locale) live there until someone
    deletes them, whatever the structure says. Read by SQL: the table belongs to the channels area."""
    if not inspect(conn).has_table("search_sync"):
        return []
    found = []
    for target, locales in conn.execute(text("SELECT target, locales FROM search_sync ORDER BY target")):
        where, _, rest = str(target).partition("|")
        prefix, _, scope = rest.rpartition("|")
        if scope == code:
            found.append(SearchTarget(where, prefix, scope, tuple(json.loads(locales)) if locales else None))
    return found


def catalogs_declared_for(code: str) -> list[str]:
    """"the built-in google_merchant catalog names it as its scope": each built-in channel catalog naming
    channel `code` as its scope or as the channel whose gate applies."""
    found = []
    for catalog in attribute_usage.channel_catalogs():
        roles = [role for role in ("scope", "gate") if getattr(catalog, role, None) == code]
        if roles:
            found.append(f"the built-in {catalog.code} catalog names it as its {' and '.join(roles)}")
    return found


def catalog_needs(s: Structure, code: str, what: str, value: str) -> list[str]:
    """Where a built-in catalog publishing for `code` names locale or currency (`what`) `value`: its subset,
    a field's fixed locale or currency, a Google Merchant target."""
    found = []
    for catalog in attribute_usage.channel_catalogs():
        if code not in attribute_usage.catalog_channels(s, catalog):
            continue
        where = [f"its {what}s"] if value in getattr(catalog, f"{what}s", []) else []
        where += [f"field {f.output}" for f in catalog.fields if getattr(f, what, None) == value]
        targets = (catalog.options or {}).get("targets") or []
        where += [f"target {t.get('country', '?')}-{t.get('locale', '?')}" for t in targets
                  if isinstance(t, dict) and t.get(what) == value]
        if where:
            found.append(f"the built-in {catalog.code} catalog names {value} ({', '.join(where)})")
    return found


def publish_runs(store: Store, code: str) -> dict[str, int]:
    """renderer → how many publish runs scoped `code` (jobs "publish", source "<renderer>/<scope>"): said when
    it is deleted, since what they wrote stays where it went."""
    with store.engine.connect() as conn:
        rows = conn.execute(select(JOB.c.source, func.count()).where(JOB.c.kind == "publish",
                                                                     JOB.c.source.like(f"%/{code}"))
                            .group_by(JOB.c.source)).all()
    return {str(source).rsplit("/", 1)[0]: int(n) for source, n in rows if str(source).rsplit("/", 1)[-1] == code}


def drop_command(code: str, locale: str | None = None) -> str:
    """The command that deletes channel `code`'s indexes (or one locale's) at its search targets and forgets
    them (pim.cli.search `drop`): what a search-target blocker tells the admin to run."""
    return f"pim search drop --channel {code}" + (f" --locale {locale}" if locale else "")


# ---------------------------------------------------------------------------------------------- blockers
def removal_blockers(store: Store, s: Structure, old: Channel, new: Channel) -> list[str]:
    """Why the locales and currencies `new` drops from `old` cannot go (empty: they can): a contract on the
    channel delivering in one, a search target holding its index, a built-in catalog naming one, a Google feed
    published in one from a catalog file naming it (pim.google_feed_usage)."""
    gone_locales = [loc for loc in old.locales if loc not in new.locales]
    gone_currencies = [cur for cur in old.currencies if cur not in new.currencies]
    if not gone_locales and not gone_currencies:
        return []
    contracts = contracts_on(store, old.code)
    found: list[str] = []
    for loc in gone_locales:
        if users := sorted(c.code for c in contracts if c.locale == loc):
            found.append(listed(("contract", "contracts"), users, ("delivers", "deliver"), f"in {loc}"))
        found += catalog_needs(s, old.code, "locale", loc)
    for cur in gone_currencies:
        if users := sorted(c.code for c in contracts if c.currency == cur):
            found.append(listed(("contract", "contracts"), users, ("prices", "price"), f"in {cur}"))
        found += catalog_needs(s, old.code, "currency", cur)
    if gone_locales:
        from pim.google_feed_usage import live_feeds

        found += [f.said(old.code, loc) for loc in gone_locales for f in live_feeds(store, old.code, loc)
                  if f.names_locale]  # its next publish would fail and leave the old feed served
        with store.engine.connect() as conn:
            targets = search_targets(conn, old.code)
        for loc in gone_locales:
            if holding := [t for t in targets if t.holds(loc)]:
                found.append(listed(("search target", "search targets"), [f"{t.index(loc)} at {t.where}" for t in holding],
                                    ("holds", "hold"), f"its {loc} index, which no push would update or remove")
                             + f"; delete it with `{drop_command(old.code, loc)}`")
    return found


def removal_refusal(store: Store, s: Structure, old: Channel, new: Channel) -> str | None:
    """"de_DE cannot leave ecommerce while …": why `new` may not replace `old` (removal_blockers, one
    sentence), or None when nothing relies on what it drops. The channels page's 409 and structure loads'."""
    blocked = removal_blockers(store, s, old, new)
    return f"{' and '.join(dropped(old, new))} cannot leave {old.code} while {'; '.join(blocked)}" if blocked else None


def dropped(old: Channel, new: Channel) -> list[str]:
    """The locales and currencies of `old` that `new` leaves out."""
    return [v for v in [*old.locales, *old.currencies] if v not in [*new.locales, *new.currencies]]


def load_refusals(store: Store, s: Structure, channels: list[Channel]) -> list[tuple[int, str, str]]:
    """A structure load's (file or API body) channels checked against the stored ones, as the channels page
    checks a save: (index, field, reason) for each that drops a locale or currency something relies on, the
    reason saying how to go on."""
    found = []
    for i, new in enumerate(channels):
        old = s.channels.get(new.code)
        refused = removal_refusal(store, s, old, new) if old is not None else None
        if old is not None and refused:
            field = "locales" if set(old.locales) - set(new.locales) else "currencies"
            gone = dropped(old, new)
            found.append((i, field, f"{refused}. Keep {' and '.join(gone)} in the channel, or first change what "
                                    f"relies on {'it' if len(gone) == 1 else 'them'} (a contract: its locale or "
                                    "currency, loaded again with `pim feeds load`; a search index: the `pim search "
                                    "drop` said; a Google catalog: its target, then publish it), then load again"))
    return found


def delete_blockers(store: Store, s: Structure, code: str) -> list[str]:
    """What keeps channel `code` from being deleted, said so an admin knows what to change first."""
    found: list[str] = []
    if families := families_requiring(s, code):
        found.append(listed(("family", "families"), families, ("has", "have"), "requirements on it"))
    if contracts := sorted(c.code for c in contracts_on(store, code)):
        found.append(listed(("contract", "contracts"), contracts, ("builds its feed", "build their feeds"), "on it"))
    found += catalogs_declared_for(code)
    with store.engine.connect() as conn:
        targets = search_targets(conn, code)
    if targets:
        found.append(listed(("search target", "search targets"), [f"{t.prefix}_{code}_* at {t.where}" for t in targets],
                            ("holds", "hold"), "its indexes") + f"; delete them with `{drop_command(code)}`")
    return found


# ---------------------------------------------------------------------------------------------- effects
@dataclass
class TreeChange:
    """Products under the old tree only (they leave the channel's tree) and under the new one only (they join).
    The write gives them a new seq (pim.channel_tree_moves), so the sentence says they are sent again."""

    old: str
    new: str
    leaving: int
    joining: int

    def sentence(self, channel: str) -> str:
        if self.old == self.new:
            return ""
        counted = [f"{n} product{'s' if n != 1 else ''} {verb}" for n, verb in
                   ((self.leaving, f"leave{'s' if self.leaving == 1 else ''} its tree"),
                    (self.joining, f"join{'s' if self.joining == 1 else ''} it")) if n]
        said = " and ".join(counted) or "no product leaves or joins it"
        resent = "; incremental exports and contract deltas send them again" if counted else ""
        return (f"{channel} now shows the {self.new} tree instead of {self.old}: {said} (their categories on "
                f"this channel's catalogs and search documents){resent}.")


def tree_change(store: Store, old: str, new: str) -> TreeChange:
    """How many products (through their own categories or their models', as the grid index files them) are
    under `old` but not `new`, and the other way round."""
    from pim.channel_tree_moves import under_one

    if old == new:
        return TreeChange(old, new, 0, 0)
    sub = under_one(old, new)
    with store.engine.connect() as conn:
        counts = dict(conn.execute(select(sub.c.root, func.count()).group_by(sub.c.root)).all())
    return TreeChange(old, new, int(counts.get(old, 0)), int(counts.get(new, 0)))


def roots(s: Structure) -> list[str]:
    """The categories a channel's tree may be: the roots (no declared parent)."""
    return sorted(c for c, cat in s.categories.items() if cat.parent is None or cat.parent not in s.categories)


def family_sizes(store: Store) -> dict[str, int]:
    """family → its products (one grouped count on the indexed family column)."""
    with store.engine.connect() as conn:
        return {str(f): int(n) for f, n in conn.execute(select(PRODUCT.c.family, func.count())
                                                        .where(PRODUCT.c.family.is_not(None)).group_by(PRODUCT.c.family))}


def price_families(s: Structure, code: str) -> list[str]:
    """The families requiring a price on `code`: what a currency change rescores (pim.rescore.affected)."""
    return sorted(rescore.price_families(s, code))


def rescored_by(s: Structure, old: Channel | None, new: Channel | None) -> list[str]:
    """The families whose completeness on the channel a write from `old` to `new` rescores (None: absent),
    as the completeness listener will decide it (pim.rescore.affected)."""
    code = (new or old).code  # type: ignore[union-attr]
    before = {code: old.model_dump(mode="json")} if old is not None else {}
    found: set[str] = set()
    for families, _channels in rescore.affected("channel", before, {code: new.model_dump(mode="json") if new else None}, s):
        found |= families if families is not None else set(s.families)
    return sorted(found)
