"""Deleting an attribute, a category, a channel, a family or a family variant: the rules the admin pages, the
REST API (`DELETE /api/v1/structure/{section}/{code}`) and `pim structure delete` share, so a code is refused
for the same reasons whichever way it is asked.

Each delete checks its blockers first and raises DeleteRefused naming every one (what to change first);
`dry_run` answers the same question and what would go, writing nothing. Then it deletes through
Store.delete_structure, so the structure cache, completeness and the grid index follow as after any
structure write, and the answer (Deleted) says what went, the jobs it queued and a notice in words.

- An attribute is kept while pim.attribute_usage.blockers names anything (families, variant axes, gates,
  built-in catalogs, contracts, values). An import may write a value of it between the check and the delete:
  it is looked for again afterwards and, if found, the attribute is put back and the delete refused. Its
  select options go only once it is gone for good.
- A category is kept while it has sub-categories, products or product models classified in it, is a
  channel's tree or is named by a contract's assortment; the same look-again-and-put-back covers an import
  classifying something in it meanwhile.
- A family is kept while products or product models are of it, a family variant splits it or a contract's
  assortment names it; an import may create a product of it meanwhile: the same look-again-and-put-back.
  Its completeness rows, grid copies and rescore jobs have nothing to hold (it has no products).
- A family variant is kept while product models use it (their variants hang from them); an import may create
  a model of it meanwhile: the same look-again-and-put-back. No product is of it, so nothing is rescored.
- A channel is kept while pim.channel_usage.delete_blockers names anything. Families' requirements on it are
  the one blocker the delete can lift itself: with `drop_requirements` those requirements are removed first
  (a family write each, rescoring the family on the channel), then the channel. Its stored gate decisions and
  blocked counts (pim.gate) go in the channel's own delete transaction. A family, contract or search push
  naming it, or a publication deciding for it, while it is deleted puts it back and refuses (`channel_raced`:
  the same look-again as for imports above). A deleted channel rescores every
  family on it (its completeness rows go): inside pim.rescore_jobs.deferred with the threshold
  pim.rescore_jobs.IN_REQUEST (read at each call, tests lower it), a large catalog becomes queued rescore jobs."""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import Connection, func, select, text
from sqlalchemy import delete as delete_rows

from pim import attribute_usage, category_moves, channel_usage, rescore_jobs
from pim.attribute_usage import EXAMPLES, HOLDERS, rows_said
from pim.catalog import Structure
from pim.errors import InputError
from pim.store import Store
from pim.structure import Family, structure_key

#: The sections a delete names (as `pim structure load` files and POST /api/v1/structure do) → structure kind.
SECTIONS = {"attributes": "attribute", "categories": "category", "channels": "channel", "families": "family",
            "family_variants": "family_variant"}
DROP_REQUIREMENTS = "drop_requirements"  # the option lifting a channel's family blocker


class NotFound(InputError):
    """The code names no item of its section."""


class DeleteRefused(InputError):
    """Something still needs the item: `blockers` says each (nothing was deleted)."""

    def __init__(self, section: str, code: str, blockers: list[Blocker]) -> None:
        super().__init__(f"{code} was not deleted: {'; '.join(map(str, blockers))}.",
                         hint=f"change what still uses {code} first, then delete it again")
        self.section, self.code, self.blockers = section, code, blockers

    def lines(self, option_words: dict[str, str]) -> list[str]:
        """Each blocker, with the words an interface gives the option lifting it (`option_words`: option →
        e.g. "add ?drop_requirements=true to remove them with the channel")."""
        return [f"{b}; {option_words[b.option]}" if b.option in option_words else str(b) for b in self.blockers]


@dataclass(frozen=True)
class Blocker:
    """One reason an item stays, in the admin pages' words; `option` names the delete option that would lift
    it (None: only a change elsewhere does)."""

    message: str
    option: str | None = None

    def __str__(self) -> str:
        return self.message


@dataclass
class Deleted:
    """What a delete removed (or, on a dry run, would remove)."""

    section: str
    code: str
    dry_run: bool = False
    options: list[str] = field(default_factory=list)  # an attribute's select options
    requirements_dropped: list[str] = field(default_factory=list)  # families whose requirements on the channel went
    gate_decisions: int = 0  # a channel's stored gate decisions
    jobs: list[int] = field(default_factory=list)  # queued rescore jobs
    notice: str = ""

    def items(self) -> dict[str, list[str]]:
        """section → the codes deleted, as the structure files name them (`attribute.option` for options)."""
        out = {self.section: [self.code]}
        if self.options:
            out["attribute_options"] = [f"{self.code}.{o}" for o in self.options]
        return out


# ---------------------------------------------------------------------------------------------- one entry
def delete(store: Store, section: str, code: str, *, dry_run: bool = False, drop_requirements: bool = False,
           defer_rescores: bool = True, structure: Structure | None = None) -> Deleted:
    """Delete `code` of `section` (a SECTIONS key) by that section's rules; see the module docstring."""
    if section not in SECTIONS:
        raise InputError(f"cannot delete from section '{section}'", field="section", hint=f"use {', '.join(SECTIONS)}")
    if drop_requirements and section != "channels":
        raise InputError(f"{DROP_REQUIREMENTS} applies to channels only, not {section}", field=DROP_REQUIREMENTS,
                         hint="leave it out")
    if section == "attributes":
        return delete_attribute(store, code, dry_run=dry_run, structure=structure)
    if section == "categories":
        return delete_category(store, code, dry_run=dry_run, structure=structure)
    if section == "families":
        return delete_family(store, code, dry_run=dry_run, structure=structure)
    if section == "family_variants":
        return delete_family_variant(store, code, dry_run=dry_run, structure=structure)
    return delete_channel(store, code, dry_run=dry_run, drop_requirements=drop_requirements,
                          defer_rescores=defer_rescores, structure=structure)


def _structure(store: Store, given: Structure | None) -> Structure:
    if given is not None:
        return given
    from pim.structure_cache import cached_structure

    with store.engine.connect() as conn:
        return cached_structure(conn)


def _item(s: Structure, section: str, code: str) -> Any:
    """The item `code` of `section` (the Structure field of that name), or NotFound."""
    item = getattr(s, section).get(code)
    if item is None:
        from pim.spelling import nearest
        from pim.values import listed

        codes = sorted(getattr(s, section))
        near = nearest(code, codes)
        raise NotFound(f"no {SECTIONS[section].replace('_', ' ')} '{code}'",
                       hint=(f"did you mean '{near}'? " if near else "")
                       + f"the {section.replace('_', ' ')}: {listed(codes) if codes else 'none loaded'} "
                       f"(all of them: `GET /api/v1/structure/{SECTIONS[section]}`, or the files `pim structure load` read)")
    return item


def _refused(section: str, code: str, blockers: list[str]) -> DeleteRefused:
    return DeleteRefused(section, code, [Blocker(b) for b in blockers])


def _assortments_naming(store: Store, field: str, code: str) -> list[str]:
    """"the assortment of contract a, b names it" when a contract's assortment rule or exclusion lists `code`
    in its `field` (categories, families): the rule would quietly match nothing once it is gone."""
    from pim.contracts import get_contracts

    contracts = sorted(c.code for c in get_contracts(store)
                       if any(code in getattr(r, field) for r in [*c.assortment.rules, *c.assortment.exclude]))
    return [f"the assortment of contract {', '.join(contracts)} names it"] if contracts else []


def _delete_unused(store: Store, section: str, item: Any, blocked: list[str], dry_run: bool,
                   used: Callable[[Connection], bool], why: str) -> Deleted:
    """Refuse with `blocked` if anything is; otherwise answer a dry run, or delete `item` unless an import
    used it meanwhile (`_delete_unless_raced`)."""
    if blocked:
        raise _refused(section, item.code, blocked)
    if dry_run:
        return Deleted(section, item.code, True, notice=f"Would delete {item.code}.")
    _delete_unless_raced(store, section, item, used, why)
    return Deleted(section, item.code, notice=f"Deleted {item.code}.")


def _delete_unless_raced(store: Store, section: str, item: Any, used: Callable[[Connection], bool], why: str) -> None:
    """Delete `item`, then look again: an import may have used it between the check and the delete (it names
    the code in a row, which no transaction here can hold back). If so, put it back and refuse with `why`."""
    kind = SECTIONS[section]
    store.delete_structure(kind, item.code)
    with store.engine.connect() as conn:
        raced = used(conn)
    if raced:
        store.put_structure(kind, [item])
        raise _refused(section, item.code, [why])


# ---------------------------------------------------------------------------------------------- attributes
def delete_attribute(store: Store, code: str, *, dry_run: bool = False, structure: Structure | None = None) -> Deleted:
    """Delete an attribute nothing uses, and its select options."""
    s = _structure(store, structure)
    attr = _item(s, "attributes", code)
    if blocked := attribute_usage.blockers(store, s, code):
        raise _refused("attributes", code, blocked)
    options = list(s.options.get(code, {}).values())
    gone = f" and its {len(options)} option{'s' if len(options) != 1 else ''}" if options else ""
    done = Deleted("attributes", code, dry_run, options=[o.code for o in options])
    if dry_run:
        done.notice = f"Would delete {code}{gone}."
        return done
    _delete_unless_raced(store, "attributes", attr, lambda conn: any(
        attribute_usage.value_holders(conn, table, code)[0] for table in HOLDERS),
        "products got a value of it while it was being deleted")
    for opt in options:
        store.delete_structure("attribute_option", structure_key("attribute_option", opt))
    done.notice = f"Deleted {code}{gone}."
    return done


# ---------------------------------------------------------------------------------------------- categories
def classified_in(conn: Connection, table: str, code: str) -> tuple[int, list[str]]:
    """How many rows of `table` (a HOLDERS key) list category `code` directly, and the keys of the first few."""
    key = HOLDERS[table]
    if conn.dialect.name == "postgresql":
        where = "t.categories @> jsonb_build_array(CAST(:code AS text))"
    else:
        where = "EXISTS (SELECT 1 FROM json_each(t.categories) c WHERE c.value = :code)"
    count = conn.execute(text(f"SELECT count(*) FROM {table} t WHERE {where}"), {"code": code}).scalar_one()
    examples = conn.execute(text(f"SELECT t.{key} FROM {table} t WHERE {where} ORDER BY t.{key} LIMIT {EXAMPLES}"),
                            {"code": code}).scalars().all()
    return int(count), [str(e) for e in examples]


def category_blockers(store: Store, s: Structure, code: str) -> list[str]:
    """What keeps category `code` from being deleted, said so an admin knows what to move first (empty:
    nothing). A product's category must exist (pim.validation), and a contract rule naming a gone category
    would quietly match nothing."""
    found: list[str] = []
    kids = sorted(s.children().get(code, []))
    if kids:
        found.append(f"it has {len(kids)} sub-categor{'ies' if len(kids) != 1 else 'y'}: {', '.join(kids)}")
    with store.engine.connect() as conn:
        for table in HOLDERS:
            count, examples = classified_in(conn, table, code)
            if count:
                found.append(rows_said(table, count, examples, ("is in", "are in")))
    channels = category_moves.tree_channels(s, code)
    if channels:
        found.append(f"it is the category tree of channel {', '.join(channels)}")
    return found + _assortments_naming(store, "categories", code)


def delete_category(store: Store, code: str, *, dry_run: bool = False, structure: Structure | None = None) -> Deleted:
    """Delete a category nothing needs (a leaf nothing is classified in)."""
    s = _structure(store, structure)
    cat = _item(s, "categories", code)
    return _delete_unused(store, "categories", cat, category_blockers(store, s, code), dry_run, lambda conn: any(
        classified_in(conn, table, code)[0] for table in HOLDERS),
        "products were classified in it while it was being deleted")


# ---------------------------------------------------------------------------------------------- families
def family_members(conn: Connection, code: str) -> list[tuple[str, int, list[str]]]:
    """(HOLDERS table, how many rows are of family `code`, the keys of the first few) for each table holding any."""
    from pim.store.store import MODEL, PRODUCT

    found = []
    for name, table in (("product", PRODUCT), ("product_model", MODEL)):
        key = table.c[HOLDERS[name]]
        count = int(conn.execute(select(func.count()).select_from(table).where(table.c.family == code)).scalar_one())
        if count:
            examples = conn.execute(select(key).where(table.c.family == code).order_by(key).limit(EXAMPLES)).scalars()
            found.append((name, count, [str(e) for e in examples]))
    return found


def family_blockers(store: Store, s: Structure, code: str) -> list[str]:
    """What keeps family `code` from being deleted: its products and product models (a product's family must
    exist, pim.validation), the family variants splitting it, and contracts whose assortment names it (the
    rule would quietly match nothing)."""
    with store.engine.connect() as conn:
        found = [rows_said(table, n, examples, ("is of", "are of")) for table, n, examples in family_members(conn, code)]
    if variants := sorted(fv.code for fv in s.family_variants.values() if fv.family == code):
        found.append(f"the family variant{'s' if len(variants) != 1 else ''} {', '.join(variants)} split{'s' if len(variants) == 1 else ''} it")
    return found + _assortments_naming(store, "families", code)


def delete_family(store: Store, code: str, *, dry_run: bool = False, structure: Structure | None = None) -> Deleted:
    """Delete a family no product, product model, family variant or contract uses."""
    s = _structure(store, structure)
    family = _item(s, "families", code)
    return _delete_unused(store, "families", family, family_blockers(store, s, code), dry_run,
                          lambda conn: bool(family_members(conn, code)),
                          "products were created in it while it was being deleted")


# ---------------------------------------------------------------------------------------------- family variants
def variant_models(conn: Connection, code: str) -> tuple[int, list[str]]:
    """How many product models are of family variant `code`, and the codes of the first few."""
    from pim.store.store import MODEL

    of_it = MODEL.c.family_variant == code
    count = int(conn.execute(select(func.count()).select_from(MODEL).where(of_it)).scalar_one())
    examples = conn.execute(select(MODEL.c.code).where(of_it).order_by(MODEL.c.code).limit(EXAMPLES)).scalars() \
        if count else []
    return count, [str(e) for e in examples]


def models_per_variant(conn: Connection, codes: list[str]) -> dict[str, int]:
    """family variant → how many product models use it, for each of `codes` used by any (one grouped query)."""
    from pim.store.store import MODEL

    if not codes:
        return {}
    q = select(MODEL.c.family_variant, func.count()).where(MODEL.c.family_variant.in_(codes)) \
        .group_by(MODEL.c.family_variant)
    return {str(code): int(n) for code, n in conn.execute(q)}


def family_variant_blockers(store: Store, code: str) -> list[str]:
    """What keeps family variant `code` from being deleted: the product models of it (a model's variant must
    exist, pim.validation; its product variants hang from it)."""
    with store.engine.connect() as conn:
        count, examples = variant_models(conn, code)
    return [rows_said("product_model", count, examples, ("uses", "use"))] if count else []


def delete_family_variant(store: Store, code: str, *, dry_run: bool = False,
                          structure: Structure | None = None) -> Deleted:
    """Delete a family variant no product model uses. Nothing is rescored: no product can be of it."""
    s = _structure(store, structure)
    variant = _item(s, "family_variants", code)
    return _delete_unused(store, "family_variants", variant, family_variant_blockers(store, code), dry_run,
                          lambda conn: variant_models(conn, code)[0] > 0,
                          "a product model of it was imported while it was being deleted")


# ---------------------------------------------------------------------------------------------- channels
def channel_blockers(store: Store, s: Structure, code: str, *, drop_requirements: bool = False) -> list[Blocker]:
    """pim.channel_usage.delete_blockers, with what the families' requirements add marked as lifted by
    `drop_requirements` (and left out when it is given): told apart by asking again of the structure without
    those requirements, so the wording stays channel_usage's own."""
    found = channel_usage.delete_blockers(store, s, code)
    if not channel_usage.families_requiring(s, code):
        return [Blocker(b) for b in found]
    others = channel_usage.delete_blockers(store, without_requirements(s, code), code)
    return [Blocker(b) if b in others else Blocker(b, DROP_REQUIREMENTS)
            for b in found if b in others or not drop_requirements]


def without_requirements(s: Structure, code: str) -> Structure:
    """`s` with no family requiring anything on channel `code` (the rest shared, read-only)."""
    return replace(s, families={f: _without(fam, code) if code in fam.requirements else fam
                                for f, fam in s.families.items()})


def _without(family: Family, code: str) -> Family:
    return family.model_copy(update={"requirements": {ch: r for ch, r in family.requirements.items() if ch != code}})


def gate_decisions(conn: Connection, code: str) -> int:
    """How many stored gate decisions channel `code` has (pim.gate)."""
    from pim.scoring_tables import GATE_DECISION

    return int(conn.execute(select(func.count()).select_from(GATE_DECISION)
                            .where(GATE_DECISION.c.channel == code)).scalar_one())


def forget_channel_decisions(code: str, removed: list[int]) -> Callable[[Connection], None]:
    """Removes channel `code`'s stored gate decisions and blocked counts inside the caller's transaction (the
    channel's delete), adding how many decisions went to `removed`."""
    from pim.scoring_tables import GATE_COUNT, GATE_DECISION

    def forget(conn: Connection) -> None:
        removed.append(conn.execute(delete_rows(GATE_DECISION).where(GATE_DECISION.c.channel == code)).rowcount or 0)
        conn.execute(delete_rows(GATE_COUNT).where(GATE_COUNT.c.channel == code))

    return forget


def delete_channel(store: Store, code: str, *, dry_run: bool = False, drop_requirements: bool = False,
                   defer_rescores: bool = True, structure: Structure | None = None) -> Deleted:
    """Delete a channel nothing names; with `drop_requirements`, the families' requirements on it first.
    `defer_rescores`: large rescores become queued jobs (web and API); off, they run here (the CLI)."""
    s = _structure(store, structure)
    _item(s, "channels", code)
    if blocked := channel_blockers(store, s, code, drop_requirements=drop_requirements):
        raise DeleteRefused("channels", code, blocked)
    done = Deleted("channels", code, dry_run,
                   requirements_dropped=channel_usage.families_requiring(s, code) if drop_requirements else [])
    if dry_run:
        with store.engine.connect() as conn:
            done.gate_decisions = gate_decisions(conn, code)
        done.notice = _channel_notice(done)
        return done
    removed: list[int] = []
    deferring = rescore_jobs.deferred() if defer_rescores else nullcontext(rescore_jobs.Deferral(0))
    with deferring as deferral:
        if drop_requirements:  # read again: a family saved since the check keeps its other changes
            fresh = [f for f in store.get_structure("family") if code in f.requirements]
            done.requirements_dropped = sorted(f.code for f in fresh)
            if fresh:
                store.put_structure("family", [_without(f, code) for f in fresh])
        store.delete_structure("channel", code, also=forget_channel_decisions(code, removed))  # its completeness rows go
        if raced := channel_raced(store, code):
            store.put_structure("channel", [s.channels[code]])
            raise _refused("channels", code, raced + _dropped_anyway(done.requirements_dropped, code))
    done.gate_decisions, done.jobs = sum(removed), list(deferral.jobs)
    done.notice = _channel_notice(done)
    return done


def channel_raced(store: Store, code: str) -> list[str]:
    """What named channel `code` while it was being deleted: a family saved with requirements on it, a contract
    or a search push made for it (pim.channel_usage.delete_blockers, read again), or a publication recording
    gate decisions for it. None of those writers can be held back by the delete's transaction, so the delete
    looks again afterwards, as the other sections do for imports (`_delete_unless_raced`)."""
    from pim.structure_cache import cached_structure

    with store.engine.connect() as conn:
        fresh = cached_structure(conn)
        decided = gate_decisions(conn, code)
    found = [f"{b} (saved while it was being deleted)" for b in channel_usage.delete_blockers(store, fresh, code)]
    if decided:
        found.append(f"a publication recorded {decided} gate decision{'s' if decided != 1 else ''} for it while it "
                     "was being deleted; delete it again once that publication has finished")
    return found


def _dropped_anyway(families: list[str], code: str) -> list[str]:
    """The requirements a raced delete had already removed stay removed: say so, so nobody looks for them."""
    if not families:
        return []
    return [f"the requirements of {', '.join(families)} on {code} were removed before that and stay removed"]


def _channel_notice(done: Deleted) -> str:
    """"Deleted b2b. The requirements of shoes on b2b were removed. …": what went, in words."""
    n, code = done.gate_decisions, done.code
    said = [f"{'Would delete' if done.dry_run else 'Deleted'} {code}."]
    if done.requirements_dropped:
        said.append(f"The requirements of {', '.join(done.requirements_dropped)} on {code} "
                    f"{'would be' if done.dry_run else 'were'} removed.")
    if n:
        said.append(f"Its {n} stored gate decision{'s' if n != 1 else ''} {'would go' if done.dry_run else 'went'} with it.")
    if done.jobs:
        said.append(f"Its completeness rows are being removed (job {', '.join(map(str, done.jobs))}).")
    return " ".join(said)
