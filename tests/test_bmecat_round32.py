"""BMEcat round 32 (speed work: what an import stores does not change). A file with deletes is read twice, not
three times: its first pass, read to the end, stands for the structure check, and a broken one is still refused
whole. A T_NEW_CATALOG's complete tier price list holds its keys in memory (no `price_list_seen` row per tier)
and removes what keys noted in that table removed. Each tier is checked as a PriceListEntry checks it, building
one entry per distinct currency, bound and dates rather than per tier."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import func, select

import importers.bmecat as bmecat
import importers.bmecat_reader as reader
from importers.bmecat import import_bmecat, load_map
from importers.bmecat_reader import BmecatHeader, read_bmecat
from importers.erp_values import value_refusal
from pim.commerce import PRICE, SEEN, CompletePriceLists, CompleteRun, PriceListEntry, contract_tiers, put_price_list
from pim.errors import InputError
from pim.store import Store
from tests.test_bmecat import MAP, PRODUCT, STRUCTURE, _xml, supplier_store  # noqa: F401  (fixture)
from tests.test_bmecat_complete_catalog import relay, run
from tests.test_bmecat_round25 import LIST, PRECEDENCE, _delete, _update, _updates



@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str]]:
    """The reader's whole-file reads: `parse` (safe_iterparse: product_modes' pass and the import's read) and
    `check` (the structure check, xml_safety.check_well_formed), by file name."""
    seen: dict[str, list[str]] = {"parse": [], "check": []}
    parse, check = reader.safe_iterparse, reader.check_well_formed

    def counted_parse(handle: Any, name: str, *args: Any, **kwargs: Any) -> Iterator[tuple[str, Any]]:
        seen["parse"].append(Path(name).name)
        return parse(handle, name, *args, **kwargs)

    def counted_check(handle: Any, name: str, *args: Any) -> None:
        seen["check"].append(Path(name).name)
        check(handle, name, *args)

    monkeypatch.setattr(reader, "safe_iterparse", counted_parse)
    monkeypatch.setattr(reader, "check_well_formed", counted_check)
    return seen


# ------------------------------------------------------------------------------------------- reads
def test_a_file_with_a_delete_is_read_twice_not_three_times(supplier_store: Store, tmp_path: Path,  # noqa: F811
                                                            parses: dict[str, list[str]]) -> None:
    """The first pass (product_modes) read the whole file: it is well-formed, so the import's read skips the
    structure check."""
    path = _updates(tmp_path, _update("r1", en="Relay"), _update("r2", en="Other"), _delete("r2"))
    counts = import_bmecat(path, supplier_store, load_map(MAP), precedence=PRECEDENCE)
    assert (counts.created, counts.rejected, counts.extra["superseded_in_file"]) == (1, 0, 1)
    assert parses == {"parse": ["u.xml", "u.xml"], "check": []}


def test_a_file_without_deletes_is_still_checked_before_it_is_read(supplier_store: Store, tmp_path: Path,  # noqa: F811
                                                                   parses: dict[str, list[str]]) -> None:
    """Guard (as before): no first pass, so the structure check reads the file ahead of the import's read."""
    path = _updates(tmp_path, _update("r1", en="Relay"))
    import_bmecat(path, supplier_store, load_map(MAP), precedence=PRECEDENCE)
    assert parses == {"parse": ["u.xml"], "check": ["u.xml"]}


BROKEN = {
    "truncated": lambda body: body[:body.rindex("<PRODUCT")],
    "tag mismatch": lambda body: body.replace("<DESCRIPTION_SHORT lang=\"eng\">Relay b7</DESCRIPTION_SHORT>",
                                              "<DESCRIPTION_SHORT lang=\"eng\">Relay b7</DESCRIPTION>"),
    "undefined entity": lambda body: body.replace("Relay b7", "Relay&nbsp;b7"),
}


@pytest.mark.parametrize("broken", sorted(BROKEN))
def test_a_broken_file_with_a_delete_is_refused_whole(supplier_store: Store, tmp_path: Path,  # noqa: F811
                                                      parses: dict[str, list[str]], broken: str) -> None:
    """Guard (as before): the first pass breaks, so the import's read checks the file and refuses it before its
    first batch (of two products) is written, with the message and line its own read gives there."""
    supplier_store.batch_size = 2
    body = "\n".join([*(_update(f"b{n}", en=f"Relay b{n}") for n in range(1, 9)), _delete("b1")])
    path = _xml(tmp_path, BROKEN[broken]('<T_UPDATE_PRODUCTS prev_version="1">' + body + "</T_UPDATE_PRODUCTS>"),
                name="u.xml")
    with pytest.raises(InputError) as by_read:
        list(read_bmecat(path, BmecatHeader()))
    parses["parse"].clear()
    parses["check"].clear()
    with pytest.raises(InputError) as err:
        import_bmecat(path, supplier_store, load_map(MAP), precedence=PRECEDENCE)
    assert err.value.describe() == by_read.value.describe() and "not well-formed XML" in str(err.value)
    assert [n for n in range(1, 9) if supplier_store.get_product(f"b{n}") is not None] == []
    job = supplier_store.jobs()[0]
    assert (job["status"], job["error"]) == ("failed", err.value.describe())
    assert parses["check"] == ["u.xml"]


# ------------------------------------------------------------------------------------------- complete tier lists
def _tiers(store: Store, *skus: str) -> dict[str, list[tuple[str, str]]]:
    found = contract_tiers(store, LIST, list(skus), "EUR")
    return {sku: [(str(t.min_qty), str(t.price)) for t in ts] for sku, ts in found.items()}


def _product(pid: str, ean: str) -> str:
    return PRODUCT.format(pid=pid).replace("4032248855865", ean)


def test_a_new_catalog_imported_again_notes_no_tier_in_price_list_seen(supplier_store: Store, tmp_path: Path,  # noqa: F811
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The run holds the keys of its tiers in memory: no table row is written for a tier that is unchanged (the
    table took every key of every re-import and deleted it again), and the list stays complete."""
    path = _xml(tmp_path, "<T_NEW_CATALOG>" + _product("p1", "4006381333931") + _product("p2", "4006381333948")
                + "</T_NEW_CATALOG>")
    import_bmecat(path, supplier_store, load_map(MAP))
    noted: list[int] = []
    finish = CompleteRun.finish

    def counted(self: CompleteRun, *, remove: bool) -> int:
        with supplier_store.engine.connect() as conn:
            noted.append(conn.execute(select(func.count()).select_from(SEEN)).scalar_one())
        return finish(self, remove=remove)

    monkeypatch.setattr(CompleteRun, "finish", counted)
    again = import_bmecat(path, supplier_store, load_map(MAP))
    assert (again.unchanged, again.rejected) == (2, 0) and "tier_prices" not in again.extra
    assert noted == [0]
    assert _tiers(supplier_store, "p1", "p2") == {"p1": [("1.0000", "10.5000"), ("100.0000", "9.0000")],
                                                  "p2": [("1.0000", "10.5000"), ("100.0000", "9.0000")]}


#: A quantity past a float's precision: SQLite keeps NUMERIC as a float, so the held key must compare as the
#: database compares it (by the stored float), not by the decimal read back from it (…234.5684).
HUGE = Decimal("12345678901234.5678")


def _entry(customer: str, sku: str, qty: str | Decimal, price: str = "1.50", since: date | None = None) -> PriceListEntry:
    return PriceListEntry(customer=customer, sku=sku, currency="EUR", price=Decimal(price), min_qty=Decimal(qty),
                          valid_from=since)


def _keys(store: Store) -> set[tuple[Any, ...]]:
    with store.engine.connect() as conn:
        rows = conn.execute(select(PRICE.c.customer, PRICE.c.sku, PRICE.c.min_qty, PRICE.c.valid_from, PRICE.c.price))
        return {(c, sku, f"{Decimal(q):.4f}" if q < 10**9 else "huge", since, f"{Decimal(p):.2f}")
                for c, sku, q, since, p in rows}


@pytest.mark.parametrize("in_memory", [100_000, 3])
def test_a_complete_list_removes_what_it_no_longer_holds_held_in_memory_or_noted(
        store: Store, monkeypatch: pytest.MonkeyPatch, in_memory: int) -> None:
    """Guard: keys held in memory and keys noted in price_list_seen (past IN_MEMORY: the second batch here
    moves the first one's keys there) remove the same entries: the named customer's entries not held, whatever
    their source; another customer's stay."""
    monkeypatch.setattr(CompletePriceLists, "IN_MEMORY", in_memory)
    spring = date(2024, 3, 1)
    put_price_list(store, [_entry("a", "S1", "1"), _entry("a", "S1", "10"), _entry("a", "S2", "1", since=spring),
                           _entry("a", "S3", HUGE), _entry("a", "S5", "0.0001"), _entry("b", "S1", "10")])
    with CompletePriceLists(store) as lists:
        lists.put(store, [_entry("a", "S1", "1", "2.00"), _entry("a", "S2", "1", since=spring), _entry("a", "S3", HUGE)])
        assert lists.put(store, [_entry("a", "S4", "5"), _entry("a", "S5", "0.0001")]) == 1
        assert lists.finish(remove=True) == 1
    assert _keys(store) == {("a", "S1", "1.0000", date(1900, 1, 1), "2.00"), ("a", "S2", "1.0000", spring, "1.50"),
                            ("a", "S3", "huge", date(1900, 1, 1), "1.50"), ("a", "S4", "5.0000", date(1900, 1, 1), "1.50"),
                            ("a", "S5", "0.0001", date(1900, 1, 1), "1.50"), ("b", "S1", "10.0000", date(1900, 1, 1), "1.50")}
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(SEEN)).scalar_one() == 0


def test_a_product_sent_twice_in_a_new_catalog_withdraws_what_its_first_record_added(
        supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    """Guard (as before): records of one SKU are taken in order, each against the claims the ones before it leave,
    so the second record's silence on the German name withdraws the name the first one added."""
    run(supplier_store, _xml(tmp_path, "<T_NEW_CATALOG>" + relay(names=("eng",)) + "</T_NEW_CATALOG>", name="a.xml"))
    assert "name:de_DE" not in supplier_store.get_product("r1").values  # type: ignore[union-attr]
    counts = run(supplier_store, _xml(tmp_path, "<T_NEW_CATALOG>" + relay(names=("eng", "deu")) + relay(names=("eng",))
                                      + "</T_NEW_CATALOG>", name="b.xml"))
    assert counts.rejected == 0
    values = supplier_store.get_product("r1").values  # type: ignore[union-attr]
    assert values["name:en_US"] == "Relay r1" and "name:de_DE" not in values


# ------------------------------------------------------------------------------------------- tier checks
AMOUNTS = ["10.50", "0", "-1.00", "8.99999", "9.50000", "NaN", "sNaN", "-Infinity", "1e14", "99999999999999.9999",
           "1,25", "1E+2", "12"]


def test_each_tier_is_refused_as_a_price_list_entry_refuses_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A PriceListEntry is built once per distinct currency, bound and dates (the rest of each tier is its
    amount, checked by the entry's own price field), and every tier gets the problem the entry gives it."""
    from pim.catalog import Structure
    from pim.structure_files import load_structure_files

    files = load_structure_files(STRUCTURE)
    structure = Structure(attributes={a.code: a for a in files.attributes}, locales={l.code: l for l in files.locales})
    built: list[dict[str, Any]] = []
    whole = bmecat.tier_problem

    def counted(tier: dict[str, Any], *dates: Any) -> str | None:
        built.append(tier)
        return whole(tier, *dates)

    monkeypatch.setattr("importers.bmecat_mapper.tier_problem", counted)
    prices = "".join(f"<PRODUCT_PRICE price_type='net_customer'><PRICE_AMOUNT>{amount}</PRICE_AMOUNT><PRICE_CURRENCY>"
                     f"EUR</PRICE_CURRENCY><LOWER_BOUND>{bound}</LOWER_BOUND></PRODUCT_PRICE>"
                     for amount in AMOUNTS for bound in ("1", "50"))
    body = "".join(PRODUCT.format(pid=f"r{n}").replace("<PRODUCT_PRICE_DETAILS>", "<PRODUCT_PRICE_DETAILS>" + prices)
                   for n in range(1, 4))
    path = _xml(tmp_path, "<T_NEW_CATALOG>" + body + "</T_NEW_CATALOG>")
    header = BmecatHeader()
    products = list(read_bmecat(path, header))
    mapper = bmecat.BmecatMapper(load_map(MAP), structure, str(path))
    problems = [p for product in products for p in mapper.map(product, header).problems if p[0] == "PRODUCT_PRICE"]
    expected = []
    for product in products:
        for price in product.prices:
            try:
                PriceListEntry(customer="-", sku=product.supplier_pid, currency="EUR",
                               price=Decimal(price.amount.replace(",", ".")),  # type: ignore[union-attr]
                               min_qty=Decimal(price.lower_bound))  # type: ignore[arg-type]
            except ValidationError as exc:
                expected.append(("PRODUCT_PRICE", f"net_customer price {price.amount} EUR from {price.lower_bound}: "
                                                  f"{value_refusal(exc)}; ignored", price.line))
    assert problems == expected and len(expected) == 3 * 2 * 6  # six amounts refused, at two bounds, in 3 products
    # one entry per distinct rest (bounds 1 and 50, and the PRODUCT's own 100), and one per refused tier, whose
    # problem is the entry's own; the PID's length is part of the rest (all are 2 here)
    assert len(built) == 3 + len(expected)


def test_a_tier_price_list_name_the_price_list_cannot_hold_fails_the_batch_as_before(
        supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    """Guard (as before): the tiers are checked as they are read without the map's price list name (the
    entry's customer); it is checked on the first tier written, so a name over 100 characters still fails
    the import with the entry's own error and writes nothing of the batch."""
    m = load_map(MAP).model_copy(update={"tier_price_list": "x" * 101})
    with pytest.raises(ValidationError, match="customer"):
        import_bmecat(_xml(tmp_path, "<T_NEW_CATALOG>" + PRODUCT.format(pid="r1") + "</T_NEW_CATALOG>"),
                      supplier_store, m)
    assert supplier_store.get_product("r1") is None and supplier_store.jobs()[0]["status"] == "failed"
