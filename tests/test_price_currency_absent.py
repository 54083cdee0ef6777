"""A price currency whose column (CSV) or element (ERP XML fixed-currency rule) a file lacks is left alone, like
any absent column: the record states only the currencies its file has, the others keep the source's amounts.
An empty cell or element still clears its currency, and a re-import of the same file is still skipped."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from importers.erp_csv import ErpCsvMap, import_erp_csv, product_items
from importers.erp_values import ValueRule
from importers.erp_xml import ErpXmlMap, XPathRule, import_erp_xml
from importers.supplier_table import SupplierTableMap, import_supplier_table
from pim.importing import run_import
from pim.merge import Merger, candidates_for
from pim.sources import put_cross_references
from pim.store import Store
from tests.source_data import PRECEDENCE, seed_structure

ERP_MAP = ErpCsvMap(delimiter=";", decimal=",", sku_column="Artikelnummer", family="tool", columns={
    "Kurztext": "name:en_US",
    "Listenpreis EUR": ValueRule(to="price", currency="EUR"), "Listenpreis USD": ValueRule(to="price", currency="USD")})
SUPPLIER_MAP = SupplierTableMap(source="supplier:bolt", pid_column="Art", delimiter=";", decimal=",", family="tool",
                                columns={"EUR": ValueRule(to="price", currency="EUR"),
                                         "USD": ValueRule(to="price", currency="USD")})


@pytest.fixture
def seeded(store: Store) -> Store:
    seed_structure(store)
    return store


@pytest.fixture
def precedence(tmp_path: Path) -> Path:
    path = tmp_path / "precedence.yaml"
    path.write_text(yaml.safe_dump(PRECEDENCE.model_dump()), encoding="utf-8")
    return path


def _file(tmp_path: Path, name: str, *lines: str) -> Path:
    path = tmp_path / name
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _price(store: Store, sku: str) -> dict | None:
    return store.get_product(sku).values.get("price")  # type: ignore[union-attr]


def _erp(store: Store, path: Path, precedence: Path):
    return import_erp_csv(path, store, ERP_MAP, precedence=precedence)


FULL = ("Artikelnummer;Kurztext;Listenpreis EUR;Listenpreis USD", "S3;Three;30,00;33,00")


# ---------------------------------------------------------------- ERP CSV
def test_erp_csv_without_a_currency_column_keeps_that_currency(seeded: Store, tmp_path: Path, precedence: Path):
    """Found exploring: `Artikelnummer;Listenpreis EUR` under a map reading EUR and USD deleted USD 33."""
    _erp(seeded, _file(tmp_path, "full.csv", *FULL), precedence)
    counts = _erp(seeded, _file(tmp_path, "eur.csv", "Artikelnummer;Listenpreis EUR", "S3;31,00"), precedence)
    assert (counts.updated, counts.rejected) == (1, 0)
    assert _price(seeded, "S3") == {"EUR": "31.00", "USD": "33.00"}
    assert seeded.get_product("S3").provenance_of("price").ref == "eur.csv:2"  # type: ignore[union-attr]


def test_erp_csv_an_empty_cell_clears_only_its_own_currency(seeded: Store, tmp_path: Path, precedence: Path):
    _erp(seeded, _file(tmp_path, "full.csv", *FULL), precedence)
    _erp(seeded, _file(tmp_path, "eur.csv", "Artikelnummer;Listenpreis EUR", "S3;"), precedence)
    assert _price(seeded, "S3") == {"USD": "33.00"}


def test_erp_csv_every_currency_stated_empty_clears_the_price(seeded: Store, tmp_path: Path, precedence: Path):
    """Guard (passes before the change too): a header with every price column states the whole claim."""
    _erp(seeded, _file(tmp_path, "full.csv", *FULL), precedence)
    _erp(seeded, _file(tmp_path, "none.csv", "Artikelnummer;Listenpreis EUR;Listenpreis USD", "S3;;"), precedence)
    assert _price(seeded, "S3") is None


def test_erp_csv_re_import_of_the_same_file_is_skipped_and_an_empty_cell_is_not(seeded: Store, tmp_path: Path):
    """The fingerprint hashes the currencies stated: {EUR: 31} without a USD column keeps USD, {EUR: 31} with
    an empty USD cell clears it, so the second must not be skipped as the first one again."""
    structure = seeded.structure()

    def run(path: Path) -> Merger:
        merger = Merger(PRECEDENCE)
        run_import(seeded, "erp", product_items(path, ERP_MAP, structure), structure=structure, merge=merger)
        return merger

    run(_file(tmp_path, "full.csv", *FULL))
    eur_only = _file(tmp_path, "eur.csv", "Artikelnummer;Listenpreis EUR", "S3;31,00")
    run(eur_only)
    again = run(eur_only)
    assert (again.skipped_records, again.merged_records) == (1, 0)
    assert _price(seeded, "S3") == {"EUR": "31.00", "USD": "33.00"}
    cleared = run(_file(tmp_path, "usd_empty.csv", "Artikelnummer;Listenpreis EUR;Listenpreis USD", "S3;31,00;"))
    assert (cleared.skipped_records, cleared.merged_records) == (0, 1)
    assert _price(seeded, "S3") == {"EUR": "31.00"}


@pytest.mark.parametrize("executor", ["process", "thread"])
def test_erp_csv_fanned_out_keeps_the_absent_currency(seeded: Store, tmp_path: Path, executor: str):
    """The records' stated currencies reach the workers (Parsed is pickled to them)."""
    rows = [f"S{n};T{n};{n},00;{n},50" for n in range(6)]
    structure = seeded.structure()
    seeded.batch_size = 2
    full = _file(tmp_path, "full.csv", FULL[0], *rows)
    run_import(seeded, "erp", product_items(full, ERP_MAP, structure), structure=structure, merge=Merger(PRECEDENCE))
    eur = _file(tmp_path, "eur.csv", "Artikelnummer;Listenpreis EUR", *[f"S{n};{n + 10},00" for n in range(6)])
    counts = run_import(seeded, "erp", product_items(eur, ERP_MAP, structure), structure=structure,
                        merge=Merger(PRECEDENCE), workers=2, executor=executor)
    assert (counts.updated, counts.rejected) == (6, 0)
    assert [_price(seeded, f"S{n}") for n in range(6)] == [{"EUR": f"{n + 10}.00", "USD": f"{n}.50"} for n in range(6)]


# ---------------------------------------------------------------- supplier CSV
def test_supplier_csv_without_a_currency_column_keeps_its_shown_price_and_its_candidate(
        seeded: Store, tmp_path: Path, precedence: Path):
    """B1's price shows the supplier's claim (no ERP price); S3's shows the ERP's, the supplier's a candidate:
    both keep the supplier's USD."""
    _erp(seeded, _file(tmp_path, "full.csv", *FULL), precedence)
    put_cross_references(seeded, "supplier:bolt", [("X3", "S3")])
    import_supplier_table(_file(tmp_path, "bolt1.csv", "Art;EUR;USD", "B1;12,00;13,00", "X3;29,00;32,00"), seeded,
                          SUPPLIER_MAP, precedence=precedence)
    import_supplier_table(_file(tmp_path, "bolt2.csv", "Art;EUR", "B1;14,00", "X3;28,00"), seeded, SUPPLIER_MAP,
                          precedence=precedence)
    assert _price(seeded, "B1") == {"EUR": "14.00", "USD": "13.00"}
    assert _price(seeded, "S3") == {"EUR": "30.00", "USD": "33.00"}
    assert candidates_for(seeded, "S3")["price"]["supplier:bolt"].value == {"EUR": "28.00", "USD": "32.00"}


def test_supplier_csv_re_import_is_unchanged(seeded: Store, tmp_path: Path, precedence: Path):
    import_supplier_table(_file(tmp_path, "bolt1.csv", "Art;EUR;USD", "B1;12,00;13,00"), seeded, SUPPLIER_MAP,
                          precedence=precedence)
    eur = _file(tmp_path, "bolt2.csv", "Art;EUR", "B1;14,00")
    import_supplier_table(eur, seeded, SUPPLIER_MAP, precedence=precedence)
    again = import_supplier_table(eur, seeded, SUPPLIER_MAP, precedence=precedence)
    assert (again.unchanged, again.updated) == (1, 0)
    assert _price(seeded, "B1") == {"EUR": "14.00", "USD": "13.00"}


# ---------------------------------------------------------------- ERP XML
XML_MAP = ErpXmlMap(record="Item", sku="Sku", family="tool", values=[
    XPathRule(to="price", currency="EUR", path="PriceEUR"),
    XPathRule(to="price", currency="USD", path="Prices/Price[@tier='1']", amount_path="Amount")])


def _xml(tmp_path: Path, name: str, *items: str) -> Path:
    return _file(tmp_path, name, "<Items>", *(f"<Item><Sku>{sku}</Sku>{body}</Item>" for sku, body in items),
                 "</Items>")


def _usd(amount: str) -> str:
    return f"<Prices><Price tier='1'><Amount>{amount}</Amount></Price></Prices>"


def test_erp_xml_a_record_without_a_currencys_element_keeps_that_currency(seeded: Store, tmp_path: Path,
                                                                         precedence: Path):
    """Both kinds of fixed-currency rule: a path of its own (EUR), and price elements with an amount (USD)."""
    import_erp_xml(_xml(tmp_path, "full.xml", ("A", "<PriceEUR>30</PriceEUR>" + _usd("33")),
                        ("B", "<PriceEUR>40</PriceEUR>" + _usd("44"))), seeded, XML_MAP, precedence=precedence)
    counts = import_erp_xml(_xml(tmp_path, "part.xml", ("A", "<PriceEUR>31</PriceEUR>"), ("B", _usd("45"))), seeded,
                            XML_MAP, precedence=precedence)
    assert (counts.updated, counts.rejected) == (2, 0)
    assert (_price(seeded, "A"), _price(seeded, "B")) == ({"EUR": "31.00", "USD": "33.00"},
                                                          {"EUR": "40.00", "USD": "45.00"})


def test_erp_xml_an_empty_element_clears_only_its_own_currency(seeded: Store, tmp_path: Path, precedence: Path):
    import_erp_xml(_xml(tmp_path, "full.xml", ("A", "<PriceEUR>30</PriceEUR>" + _usd("33")),
                        ("B", "<PriceEUR>40</PriceEUR>" + _usd("44"))), seeded, XML_MAP, precedence=precedence)
    import_erp_xml(_xml(tmp_path, "part.xml", ("A", "<PriceEUR/>"), ("B", "<PriceEUR>41</PriceEUR>" + _usd(""))),
                   seeded, XML_MAP, precedence=precedence)
    assert (_price(seeded, "A"), _price(seeded, "B")) == ({"USD": "33.00"}, {"EUR": "41.00"})


def test_erp_xml_re_import_of_the_same_file_is_unchanged(seeded: Store, tmp_path: Path, precedence: Path):
    import_erp_xml(_xml(tmp_path, "full.xml", ("A", "<PriceEUR>30</PriceEUR>" + _usd("33"))), seeded, XML_MAP,
                   precedence=precedence)
    part = _xml(tmp_path, "part.xml", ("A", "<PriceEUR>31</PriceEUR>"))
    import_erp_xml(part, seeded, XML_MAP, precedence=precedence)
    again = import_erp_xml(part, seeded, XML_MAP, precedence=precedence)
    assert (again.unchanged, again.updated) == (1, 0)
    assert _price(seeded, "A") == {"EUR": "31.00", "USD": "33.00"}


def test_erp_xml_a_currency_path_rule_states_the_records_whole_price_list(seeded: Store, tmp_path: Path,
                                                                          precedence: Path):
    """Guard (passes before the change too): with `currency_path` the record lists its prices; one it leaves out
    is gone, as before."""
    m = ErpXmlMap(record="Item", sku="Sku", family="tool", values=[
        XPathRule(to="price", path="Price", amount_path="Amount", currency_path="Currency")])
    price = "<Price><Currency>{}</Currency><Amount>{}</Amount></Price>".format
    import_erp_xml(_xml(tmp_path, "full.xml", ("A", price("EUR", "30") + price("USD", "33"))), seeded, m,
                   precedence=precedence)
    import_erp_xml(_xml(tmp_path, "part.xml", ("A", price("EUR", "31"))), seeded, m, precedence=precedence)
    assert _price(seeded, "A") == {"EUR": "31.00"}
