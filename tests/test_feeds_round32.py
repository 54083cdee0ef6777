"""A delta feed follows the gate's duplicate decisions about *other* products: when the channel blocks on
duplicate_gtin, a write or delete of one holder of a GTIN frees or blocks the others with no write of their own.
Whatever happens, the delta is the difference between the full feed before and the full feed after."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, update

from pim import delivery_log as log
from pim.contracts import get_contract
from pim.feeds import FeedRun, build_feed, deliver_contract
from pim.gate import sharing_moved
from pim.store import Store
from pim.structure import Channel, GateRules
from tests.feeds_data import out_dir, product, seed_catalog, store_contract

SHARED = "4006381333931"
#: Tools of the contract's assortment (T5 is disabled), each with its own GTIN but T1 and T2, which share one.
GTINS = {"T1": SHARED, "T2": SHARED, "T3": "4000000000013", "T4": "4000000000020", "T6": "4000000000037",
         "V-red": "4000000000044", "V-blue": "4000000000051", "T5": "4000000000068", "G1": "4000000000075",
         "G2": "4000000000082"}
FREE = ["4000000000099", "4000000000105", "4000000000112", "4000000000129"]


def lines(path: Any) -> dict[str, dict]:
    return {d["sku"]: d for d in map(json.loads, Path(path).read_text().splitlines())} if path else {}


def _block_on(store: Store, *kinds: str) -> None:
    store.put_structure("channel", [Channel(code="b2b", locales=["en_US", "de_DE"], currencies=["EUR", "USD"],
                                            category_tree="master", gate=GateRules(block_on=list(kinds)))])


def _tool(sku: str, ean: str) -> Any:
    """The seeded product `sku` again, with another GTIN."""
    brands = {"T2": "bosch", "T3": "makita", "T4": "bosch", "T6": "bosch"}
    if sku.startswith("V-"):
        return product(sku, parent="M1", color=sku[2:], ean=ean)
    if sku.startswith("G"):
        return product(sku, family="plant", categories=["garden"], ean=ean)
    return product(sku, brand=brands.get(sku, "acme"), categories=["tools"] if sku == "T6" else None,
                   enabled=sku != "T5", ean=ean)


def _full(store: Store, tmp_path: Path) -> dict[str, dict]:
    """The rows a full feed would send now (nothing delivered, no watermark moved)."""
    return lines(build_feed(store, get_contract(store, "acme-tools"), out_dir(tmp_path), force_full=True).path)


def _difference(before: dict[str, dict], after: dict[str, dict]) -> dict[str, dict]:
    """What a delta must send to turn the customer's `before` into `after`."""
    out = {sku: row for sku, row in after.items() if before.get(sku) != row}
    out.update({sku: {"sku": sku, "action": "delete"} for sku in before.keys() - after.keys()})
    return out


def _delta(store: Store, tmp_path: Path) -> dict[str, dict]:
    r = deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path))
    assert r.status in ("delivered", "nothing") and r.kind != "full"
    return lines(r.file)


@pytest.fixture
def shared(store: Store, tmp_path: Path) -> Store:
    """A delta contract delivered on a channel blocking on duplicate_gtin: T1 and T2 share a GTIN, so only
    T3, T4, T6 and the variants went out."""
    seed_catalog(store)
    store.upsert_products([_tool(sku, ean) for sku, ean in GTINS.items()])
    _block_on(store, "duplicate_gtin")
    store_contract(store, mode="delta", format="jsonl")
    first = deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path))
    assert first.kind == "full" and set(lines(first.file)) == {"T3", "T4", "T6", "V-red", "V-blue"}
    return store


def test_fixing_one_holders_gtin_sends_the_other_holder_too(shared: Store, tmp_path: Path) -> None:
    before = _full(shared, tmp_path)
    shared.upsert_products([_tool("T2", FREE[0])])  # an import fixes T2's GTIN: T1's seq does not move
    after = _full(shared, tmp_path)
    got = _delta(shared, tmp_path)
    assert set(got) == {"T1", "T2"} and {d["action"] for d in got.values()} == {"upsert"}
    assert got == _difference(before, after)


def test_a_product_outside_the_assortment_taking_a_gtin_deletes_its_holder(shared: Store, tmp_path: Path) -> None:
    before = _full(shared, tmp_path)
    shared.upsert_products([_tool("G1", GTINS["T3"])])  # a garden plant, not for this customer
    after = _full(shared, tmp_path)
    got = _delta(shared, tmp_path)
    assert got == {"T3": {"sku": "T3", "action": "delete"}} == _difference(before, after)


def test_a_new_product_taking_a_gtin_deletes_its_holder_and_is_not_sent(shared: Store, tmp_path: Path) -> None:
    before = _full(shared, tmp_path)
    shared.upsert_products([product("T7", ean=GTINS["T4"])])  # in the assortment, blocked with T4
    after = _full(shared, tmp_path)
    got = _delta(shared, tmp_path)
    assert got == {"T4": {"sku": "T4", "action": "delete"}} == _difference(before, after)


def test_deleting_one_holder_of_a_shared_gtin_sends_the_other(shared: Store, tmp_path: Path) -> None:
    before = _full(shared, tmp_path)
    shared.delete_products(["T2"])  # never delivered: no delete of its own goes out
    after = _full(shared, tmp_path)
    got = _delta(shared, tmp_path)
    assert set(got) == {"T1"} and got == _difference(before, after)


def test_a_holder_blocked_by_one_delta_is_freed_by_a_later_one(shared: Store, tmp_path: Path) -> None:
    """The watermark carries who is held back for a shared value across deltas that do not touch them."""
    shared.upsert_products([_tool("G1", GTINS["T3"])])
    assert _delta(shared, tmp_path) == {"T3": {"sku": "T3", "action": "delete"}}
    shared.upsert_products([product("T4", brand="bosch", ean=GTINS["T4"], note="new note")])
    assert set(_delta(shared, tmp_path)) == {"T4"}
    before = _full(shared, tmp_path)
    shared.upsert_products([_tool("G1", GTINS["G1"])])  # the plant gets its own GTIN back
    after = _full(shared, tmp_path)
    got = _delta(shared, tmp_path)
    assert set(got) == {"T3"} and got == _difference(before, after)
    assert log.get_watermark(shared, "acme-tools").gate_held == ["T1", "T2"]


def test_a_delta_after_the_gate_starts_blocking_duplicates_keeps_their_holders(store: Store, tmp_path: Path) -> None:
    """The structure change decides the whole assortment again (gate_digest), and that sweep notes who is held
    back for a shared value, so a later fix still frees them."""
    seed_catalog(store)
    store.upsert_products([_tool(sku, ean) for sku, ean in GTINS.items()])
    store_contract(store, mode="delta", format="jsonl")
    assert {"T1", "T2"} <= set(lines(deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path)).file))
    _block_on(store, "duplicate_gtin")
    assert _delta(store, tmp_path) == {s: {"sku": s, "action": "delete"} for s in ("T1", "T2")}
    before = _full(store, tmp_path)
    store.upsert_products([_tool("T1", FREE[0])])
    after = _full(store, tmp_path)
    got = _delta(store, tmp_path)
    assert set(got) == {"T1", "T2"} and got == _difference(before, after)


def test_the_first_delta_after_the_upgrade_decides_the_assortment_once(shared: Store, tmp_path: Path) -> None:
    """A watermark from before migration 0041 does not know who was held back: its next delta decides the
    whole assortment again (so T1 is sent although nothing recorded it), and notes them for the next."""
    with shared.begin() as conn:
        conn.execute(update(log.WATERMARK).values(gate_held=None))
    before = _full(shared, tmp_path)
    shared.upsert_products([_tool("T2", FREE[0])])
    after = _full(shared, tmp_path)
    got = _delta(shared, tmp_path)
    assert set(got) == {"T1", "T2"} and got == _difference(before, after)
    assert log.get_watermark(shared, "acme-tools").gate_held == []


def test_a_full_build_in_a_run_notes_who_is_held_back_for_a_shared_value(shared: Store, tmp_path: Path) -> None:
    build = build_feed(shared, get_contract(shared, "acme-tools"), out_dir(tmp_path), force_full=True,
                       run=FeedRun(shared))  # the run's snapshot and its cached verdicts
    assert build.pending is not None and build.pending.gate_held == ["T1", "T2"]


def test_holders_still_sharing_a_value_are_not_decided_again(shared: Store) -> None:
    """A placeholder GTIN shared by many stays blocked whoever else changes: only a held product sharing
    nothing any more is re-checked, and only the lone earlier holder of a value written since."""
    seq = shared.current_seq()
    shared.upsert_products([_tool("T3", SHARED)])  # T1, T2 and now T3 hold it
    structure = shared.structure()
    assert sharing_moved(shared, structure, "b2b", seq, {"T1", "T2"}) == set()
    shared.upsert_products([_tool("G2", GTINS["T4"])])
    assert sharing_moved(shared, structure, "b2b", seq, {"T1", "T2"}) == {"T4"}
    _block_on(shared, "invalid")  # the channel no longer blocks on duplicates: nothing to follow
    assert sharing_moved(shared, shared.structure(), "b2b", seq, {"T1", "T2"}) == set()


def test_shared_values_cost_the_same_statements_whatever_their_number(store: Store, tmp_path: Path) -> None:
    """Following shared values adds no statement per product: freeing two pairs reads as much as freeing one.
    (The count alone held before the fix too, which read nothing for them; the rows sent did not.)"""
    seed_catalog(store)
    pairs = {"T1": "T2", "T3": "T4", "T6": "G1"}  # no variants: their models are read once per build
    store.upsert_products([_tool(sku, ean) for sku, ean in GTINS.items()])
    store.upsert_products([_tool(b, GTINS[a]) for a, b in pairs.items()])  # three pairs share a GTIN
    _block_on(store, "duplicate_gtin")
    store_contract(store, mode="delta", format="jsonl")
    deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path))
    counts, free = [], iter(FREE)
    for fixed, sent in ((["T2"], {"T1", "T2"}), (["T4", "G1"], {"T3", "T4", "T6"})):  # G1 is not for this customer
        seen: list[str] = []

        def count(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
            seen.append(statement)

        store.upsert_products([_tool(b, next(free)) for b in fixed])
        event.listen(store.engine, "before_cursor_execute", count)
        try:
            build = build_feed(store, get_contract(store, "acme-tools"), out_dir(tmp_path))
        finally:
            event.remove(store.engine, "before_cursor_execute", count)
        assert build.pending is not None and set(lines(build.path)) == sent
        log.advance_watermark(store, build.pending)
        counts.append(len(seen))
    assert counts[0] == counts[1]
