"""Round 34: two sources that both own an association type and link different targets are in the conflict log
(`associations:<TYPE>`), with the statuses and pins of a value's conflict; the association pick resolves it.
Ownership is judged by the precedence people's picks use (PIM_HOME/precedence.yaml): the imports here merge by
the same file."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from pim import association_claims
from pim.conflicts import (OPEN, PINNED, RESOLVED, SETTLED, Conflict, conflicts_for, listed_conflicts, resolve_conflict,
                           unpin)
from pim.errors import InputError
from pim.importing import Parsed, run_import
from pim.merge import Merger, home_precedence, home_precedence_path
from pim.product import Association, Product, Provenance
from pim.quality import assess
from pim.store import Store
from pim.web import panels
from pim.web.editing import ChoiceLog
from pim.web.tables import HISTORY

SUPPLIER = "supplier:acme"
KEY = "associations:ACCESSORY"


def both_own(kind: str = "ACCESSORY") -> None:
    path = home_precedence_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"associations:\n  {kind}: [content, 'supplier:*']\n")


def links(store: Store, source: str, targets: list[str], *, sku: str = "a", value: str | None = None) -> None:
    """`source` claims `sku`'s ACCESSORY association (an empty list withdraws it), and a name when `value`."""
    record = Product(identifier=sku, source=Provenance(source=source, at=datetime.now(UTC)),
                     values={"name:en_US": value} if value else {},
                     associations={"ACCESSORY": Association(products=targets)})
    run_import(store, source, [Parsed(record, "f", 1)], merge=Merger(home_precedence()))


def logged(store: Store, sku: str = "a") -> Conflict | None:
    """The product's association conflict row, whatever its status."""
    return next((c for c in conflicts_for(store, sku) if c.value_key == KEY), None)


@pytest.fixture
def catalog(tiny_store: Store) -> Store:
    at = datetime.now(UTC)
    tiny_store.upsert_products([Product(identifier=s, source=Provenance(source="erp", at=at)) for s in "abcd"])
    return tiny_store


def test_two_owners_linking_different_targets_open_a_conflict(catalog: Store) -> None:
    both_own()
    links(catalog, SUPPLIER, ["b"])
    assert logged(catalog) is None  # one claim: nothing to disagree with
    links(catalog, "content", ["c"])
    row = logged(catalog)
    assert row is not None and (row.status, row.winner, row.attribute, row.pinned) == (OPEN, "content", "associations", None)
    assert row.claims == {"content": {"products": ["c"]}, SUPPLIER: {"products": ["b"]}}
    assert [c.value_key for c in listed_conflicts(catalog, ["a"])] == [KEY]
    found = assess(catalog, catalog.structure(), "ecommerce", [catalog.get_product("a")],  # type: ignore[list-item]
                   kinds={"conflict"})["a"]
    assert [f.code for f in found] == ["conflict:associations"]
    assert found[0].reason == f"sources disagree on {KEY}: content, {SUPPLIER}"


def test_a_non_owner_or_the_same_targets_log_nothing(catalog: Store) -> None:
    """A guard (passes before round 34 too): without a precedence only the content team owns associations, so a
    supplier's other links wait unlogged; owners linking the same targets agree."""
    links(catalog, SUPPLIER, ["b"])
    links(catalog, "content", ["c"])
    assert logged(catalog) is None
    both_own()
    links(catalog, SUPPLIER, ["c"], sku="b")
    links(catalog, "content", ["c"], sku="b")
    assert logged(catalog, "b") is None


def test_a_withdrawal_settles_the_conflict_and_a_changed_claim_opens_it_again(catalog: Store) -> None:
    both_own()
    links(catalog, SUPPLIER, ["b"])
    links(catalog, "content", ["c"])
    links(catalog, SUPPLIER, [])  # the supplier withdraws: nobody disagrees any more
    assert logged(catalog).status == SETTLED  # type: ignore[union-attr]
    links(catalog, SUPPLIER, ["d"])
    row = logged(catalog)
    assert row is not None and row.status == OPEN and row.claims[SUPPLIER] == {"products": ["d"]}


def test_the_association_pick_resolves_and_pins_the_conflict_until_its_source_withdraws(catalog: Store) -> None:
    both_own()
    links(catalog, SUPPLIER, ["b"])
    links(catalog, "content", ["c"])
    association_claims.pick(catalog, "a", "ACCESSORY", SUPPLIER, by="ed")
    row = logged(catalog)
    assert row is not None and (row.status, row.winner, row.pinned, row.resolved_by) == (RESOLVED, SUPPLIER, SUPPLIER, "ed")
    assert listed_conflicts(catalog, ["a"]) == [] and [c.value_key for c in listed_conflicts(catalog, status=PINNED)] == [KEY]
    links(catalog, "content", ["c", "d"])  # the claims change under the pick: a person looks again, the pick holds
    row = logged(catalog)
    assert row is not None and (row.status, row.winner, row.pinned) == (OPEN, SUPPLIER, SUPPLIER)
    links(catalog, SUPPLIER, [])  # the picked source withdraws: the pin ends, precedence decides
    row = logged(catalog)
    assert row is not None and (row.status, row.pinned) == (SETTLED, None)
    assert catalog.get_product("a").associations["ACCESSORY"].products == ["c", "d"]  # type: ignore[union-attr]


def test_resolving_the_logged_conflict_picks_the_association_and_writes_history(catalog: Store) -> None:
    both_own()
    links(catalog, SUPPLIER, ["b"])
    links(catalog, "content", ["c"])
    with pytest.raises(InputError, match="'erp' is not one of the claims") as exc:
        resolve_conflict(catalog, "a", KEY, "erp", by="ed")
    assert exc.value.hint == f"pick one of: content, {SUPPLIER}"
    row = resolve_conflict(catalog, "a", KEY, SUPPLIER, by="ed", log=ChoiceLog("a", KEY, "ed", SUPPLIER))
    assert (row.status, row.pinned) == (RESOLVED, SUPPLIER)
    assert catalog.get_product("a").associations["ACCESSORY"].products == ["b"]  # type: ignore[union-attr]
    with catalog.engine.connect() as conn:
        history = conn.execute(select(HISTORY.c.value_key, HISTORY.c.new).where(HISTORY.c.product == "a")).all()
    assert ("association ACCESSORY", "b") in [tuple(r) for r in history]
    row, shows = unpin(catalog, "a", KEY, by="ed")
    assert shows == "content" and (row.status, row.pinned) == (OPEN, None)
    assert catalog.get_product("a").associations["ACCESSORY"].products == ["c"]  # type: ignore[union-attr]


def test_the_product_page_shows_each_claim_as_its_targets(catalog: Store) -> None:
    both_own()
    links(catalog, SUPPLIER, ["b", "d"], value="Supplier name")
    links(catalog, "content", ["c"])
    [row] = [c for c in panels.conflicts(catalog, "a") or [] if c.value_key == KEY]
    assert row.claims == {"content": "c", SUPPLIER: "b, d"}


def test_a_records_unchanged_claims_leave_the_logged_row_alone(catalog: Store) -> None:
    """Only types whose claims a write changes are looked at: a record restating its claim rewrites nothing."""
    both_own()
    links(catalog, SUPPLIER, ["b"])
    links(catalog, "content", ["c"])
    before = logged(catalog)
    assert before is not None and before.status == OPEN
    links(catalog, SUPPLIER, ["b"], value="Other name")  # the product changes, the association claim does not
    assert logged(catalog) == before


def test_an_import_judges_association_owners_by_its_own_precedence(catalog: Store) -> None:
    """An import merging by a precedence other than the home file logs the disagreement its precedence sees: both
    sources own ACCESSORY in the import's precedence, while the home file (absent) gives it to the content team."""
    from pim.merge import Precedence

    both = Precedence.model_validate({"associations": {"ACCESSORY": ["content", "supplier:*"]}})
    for source, targets in ((SUPPLIER, ["b"]), ("content", ["c"])):
        record = Product(identifier="a", source=Provenance(source=source, at=datetime.now(UTC)),
                         associations={"ACCESSORY": Association(products=targets)})
        run_import(catalog, source, [Parsed(record, "f", 1)], merge=Merger(both))
    row = logged(catalog)
    assert row is not None and row.status == OPEN and set(row.claims) == {"content", SUPPLIER}
