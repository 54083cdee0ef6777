"""Round 28: an integrator whose ERP is not SAP writes maps for a namespaced XML export and a German Excel CSV.
Each test is a trap found there that imported wrong or nothing without a word (or said too little): a default
namespace, two prices in one currency, a thousands separator that is a decimal one, a UTF-8 BOM under cp1252,
a misspelled column or element, local stock times, a unit code with blanks, a value element holding elements."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from importers.erp_csv import ErpCsvMap, commerce_items, import_erp_csv
from importers.erp_values import number_parser
from importers.erp_xml import ErpXmlMap, import_erp_xml
from pim.cli import _mount, app
from pim.errors import InputError
from pim.importing import Rejected
from pim.store import Store
from pim.values import ValueProblem
from tests.source_data import seed_structure

_mount()
runner = CliRunner()

ITEMS = """<?xml version="1.0" encoding="UTF-8"?>
<ItemExport xmlns="urn:acme:erp:items:2" xmlns:pr="urn:acme:pricing:1">
  <Header><Created>2026-03-01T06:00:00+01:00</Created></Header>
  <Body><Section name="A"><Items>
    <Item no="  A1 ">
      <GTIN>  4006381333931  </GTIN>
      <Description lang="en"><![CDATA[  Drill & <b>bit</b> set  ]]></Description>
      <Weight unit="KGM">1,250</Weight>
      <pr:Prices>
        <pr:Price currency="EUR" minQty="1">1.234,50</pr:Price>
        <pr:Price currency="EUR" minQty="10">1.199,00</pr:Price>
        <pr:Price currency="USD" minQty="1">1.399,00</pr:Price>
      </pr:Prices>
    </Item>
  </Items></Section></Body>
</ItemExport>
"""
PREFIXED = {"i": "urn:acme:erp:items:2", "pr": "urn:acme:pricing:1"}


@pytest.fixture
def seeded(store: Store) -> Store:
    seed_structure(store)
    return store


def xml_map(values: list[dict], **more) -> ErpXmlMap:
    return ErpXmlMap(record="Item", sku="@no", decimal=",", thousands=".", family="tool", values=values, **more)


def write(path: Path, text: str, encoding: str = "utf-8") -> Path:
    path.write_bytes(text.encode(encoding))
    return path


def warnings(store: Store, job_id: int | None) -> list[dict]:
    return [e for e in store.quarantined(job_id) if e["severity"] == "warning"]


# ---------------------------------------------------------------------------------------------- XML
def test_a_default_namespace_read_with_unprefixed_paths_is_refused_naming_the_namespace(seeded: Store, tmp_path: Path):
    """`xmlns="…"` puts every element in a namespace; `GTIN` in an XPath matches only elements in none. The
    import read nothing but the SKU (an attribute) and reported every product updated."""
    path = write(tmp_path / "items.xml", ITEMS)
    with pytest.raises(InputError) as err:
        import_erp_xml(path, seeded, xml_map([{"path": "GTIN", "to": "ean"}]))
    assert err.value.field == "values.0.path" and "urn:acme:erp:items:2" in str(err.value)
    assert "x:GTIN" in (err.value.hint or "")
    assert seeded.get_product("A1") is None  # refused before anything was written
    prefixed = xml_map([{"path": "i:GTIN", "to": "ean"}, {"path": "i:Description[@lang='en']", "to": "name:en_US"},
                        {"path": "i:Weight", "to": "weight", "unit_from": "i:Weight/@unit"},
                        {"path": "pr:Prices/pr:Price[@minQty='1']", "amount_path": ".", "currency_path": "@currency",
                         "to": "price"}], namespaces=PREFIXED)
    counts = import_erp_xml(path, seeded, prefixed)
    assert (counts.created, counts.rejected) == (1, 0)
    a1 = seeded.get_product("A1").values
    assert (a1["ean"], a1["name:en_US"]) == ("4006381333931", "Drill & <b>bit</b> set")  # trimmed, CDATA as text
    assert a1["price"] == {"EUR": "1234.50", "USD": "1399.00"}
    assert a1["weight"] == {"amount": "1.25", "unit": "KILOGRAM"}


def test_two_prices_in_one_currency_reject_the_record_instead_of_the_last_one_winning(seeded: Store, tmp_path: Path):
    """The tier price 1.199,00 silently replaced the list price 1.234,50."""
    path = write(tmp_path / "items.xml", ITEMS)
    every = xml_map([{"path": "pr:Prices/pr:Price", "amount_path": ".", "currency_path": "@currency", "to": "price"}],
                    namespaces=PREFIXED)
    counts = import_erp_xml(path, seeded, every)
    assert (counts.created, counts.rejected) == (0, 1)
    [entry] = seeded.quarantined(counts.job_id)
    assert entry["field"] == "pr:Prices/pr:Price" and entry["record_key"] == "A1"
    assert "two EUR prices" in entry["reason"] and "'1.234,50' and '1.199,00'" in entry["reason"]
    assert "predicate" in entry["reason"]


def test_a_misspelled_or_misnamespaced_xml_path_gets_a_warning_and_a_missing_segment_none(seeded: Store,
                                                                                         tmp_path: Path):
    path = write(tmp_path / "items.xml", ITEMS)
    m = xml_map([{"path": "i:GITN", "to": "ean"}, {"path": "j:Weight", "to": "weight", "unit_from": "i:Weight/@unit"},
                 {"path": "i:Colour", "to": "material"}], namespaces={**PREFIXED, "j": "urn:other"})
    counts = import_erp_xml(path, seeded, m)
    assert counts.extra["unread_map_fields"] == 2  # i:Colour: the file has no such element, which is no mistake
    [warning] = warnings(seeded, counts.job_id)
    assert (warning["file"], warning["field"]) == ("items.xml", "values.0.path")
    assert "'i:GITN' (to ean) matched in no record (the records have <GTIN>" in warning["reason"]
    assert "<Weight> is in the namespace 'urn:acme:erp:items:2'" in warning["reason"]
    assert "Colour" not in warning["reason"]
    fixed = xml_map([{"path": "i:GTIN", "to": "ean"}, {"path": "i:Colour", "to": "material"}], namespaces=PREFIXED)
    counts = import_erp_xml(path, seeded, fixed)
    assert "unread_map_fields" not in counts.extra and warnings(seeded, None) == []  # the clean run closed it


def test_an_xml_value_holding_elements_is_read_whole_or_refused_as_a_container(seeded: Store, tmp_path: Path):
    """`Drill <b>bit</b> set` read as "Drill"; a path at a container (`<Weight><Value>…`) cleared the value."""
    path = write(tmp_path / "mixed.xml", '<export><Item no="A1"><Name>Drill <b>bit</b> set</Name><Weight>\n'
                                         '  <Value>1,5</Value>\n  <Unit>KGM</Unit>\n</Weight></Item></export>')
    m = xml_map([{"path": "Name", "to": "name:en_US"}, {"path": "Weight/Value", "to": "weight", "unit_from": "Weight/Unit"}])
    import_erp_xml(path, seeded, m)
    a1 = seeded.get_product("A1").values
    assert a1["name:en_US"] == "Drill bit set" and a1["weight"] == {"amount": "1.5", "unit": "KILOGRAM"}
    counts = import_erp_xml(path, seeded, xml_map([{"path": "Weight", "to": "weight", "unit_from": "Weight/Unit"}]))
    assert counts.rejected == 1
    [entry] = seeded.quarantined(counts.job_id)
    assert entry["field"] == "Weight" and "<Weight> holds elements (<Value>, <Unit>), not a value" in entry["reason"]
    assert seeded.get_product("A1").values["weight"] == {"amount": "1.5", "unit": "KILOGRAM"}  # not cleared


# ---------------------------------------------------------------------------------------------- numbers
@pytest.mark.parametrize(("decimal", "thousands", "text"), [
    (".", ",", "12,50"),  # a German price under an English map: read 1250
    (".", ",", "1.234,56"),  # read 1.23456
    (",", ".", "12.50"),  # an English price under a German map: read 1250
    (",", ".", "0.125"),  # read 125
    (",", ".", "1.23,4"),
    (",", " ", "1 23,4"),
])
def test_a_thousands_separator_that_does_not_group_in_threes_is_refused(decimal: str, thousands: str, text: str):
    with pytest.raises(ValueProblem, match="does not group thousands"):
        number_parser(decimal, thousands)(text)


@pytest.mark.parametrize(("decimal", "thousands", "text", "read"), [
    (",", ".", "1.234,56", "1234.56"), (",", ".", "-1.234.567", "-1234567"), (".", ",", "1,234.5", "1234.5"),
    (",", " ", "1 234,5", "1234.5"), (",", ".", "12,50", "12.50"), (",", ".", "1.000", "1000"),
])
def test_grouped_thousands_still_read(decimal: str, thousands: str, text: str, read: str):
    assert number_parser(decimal, thousands)(text) == read


def test_a_wrong_decimal_separator_in_the_map_rejects_rows_instead_of_importing_wrong_prices(seeded: Store,
                                                                                             tmp_path: Path):
    path = write(tmp_path / "erp.csv", "Material;Preis\r\nA1;12,50\r\nA2;1.234,56\r\n", "cp1252")
    m = ErpCsvMap(delimiter=";", encoding="cp1252", decimal=".", thousands=",", sku_column="Material", family="tool",
                  columns={"Preis": {"to": "price", "currency": "EUR"}})
    counts = import_erp_csv(path, seeded, m)
    assert (counts.created, counts.rejected) == (0, 2)
    reasons = [e["reason"] for e in seeded.quarantined(counts.job_id)]
    assert all("set `decimal: ','`" in r for r in reasons)


# ---------------------------------------------------------------------------------------------- CSV
def german(columns: dict) -> ErpCsvMap:
    """The map for a German Excel export: `;`, cp1252, decimal comma, dots grouping thousands."""
    return ErpCsvMap(delimiter=";", encoding="cp1252", decimal=",", thousands=".", sku_column="Artikel-Nr.",
                     family="tool", columns=columns)


GERMAN = german({"Kurztext": "name:de_DE", "Größe": "material", "Listenpreis EUR": {"to": "price", "currency": "EUR"}})
ROWS = ["Artikel-Nr.;Kurztext;Größe;Listenpreis EUR;;", 'A1;Säge;"XL\r\nbreit";1.234,56;;', "A2;Öse;M;49,90;;"]


def test_a_utf8_bom_under_cp1252_is_read_as_utf8(seeded: Store, tmp_path: Path):
    """Excel's "CSV UTF-8" under a map written for its cp1252 export: `SÃ¤ge`, and the `Größe` column not found."""
    path = write(tmp_path / "erp.csv", "\ufeff" + "\r\n".join(ROWS) + "\r\n", "utf-8")
    counts = import_erp_csv(path, seeded, GERMAN)
    assert (counts.created, counts.rejected) == (2, 0)
    a1 = seeded.get_product("A1").values
    assert (a1["name:de_DE"], a1["material"], a1["price"]) == ("Säge", "XL\nbreit", {"EUR": "1234.56"})
    assert seeded.get_product("A2").values["name:de_DE"] == "Öse"


def test_a_misspelled_column_gets_a_warning_naming_the_header_column(seeded: Store, tmp_path: Path):
    path = write(tmp_path / "erp.csv", "\r\n".join(ROWS) + "\r\n", "cp1252")
    typo = german({"Kurz text": "name:de_DE", "Groesse": "material",
                   "Listenpreis EUR": {"to": "price", "currency": "EUR"}})
    counts = import_erp_csv(path, seeded, typo)
    assert counts.extra["unread_map_fields"] == 2 and counts.created == 2
    [warning] = warnings(seeded, counts.job_id)
    assert (warning["file"], warning["field"]) == ("erp.csv", "Kurz text")
    assert "column 'Kurz text' (the header has 'Kurztext'); column 'Groesse' (the header has 'Größe')" in warning["reason"]
    map_file = tmp_path / "map.yaml"
    map_file.write_text(yaml.safe_dump(typo.model_dump(mode="json", exclude_defaults=True)), encoding="utf-8")
    shown = runner.invoke(app, ["import", "erp", str(path), "--map", str(map_file)])
    assert shown.exit_code == 0 and "--severity warning" in shown.output
    assert len(warnings(seeded, None)) == 1  # the run replaced the warning
    counts = import_erp_csv(path, seeded, GERMAN)
    assert "unread_map_fields" not in counts.extra and warnings(seeded, None) == []  # fixed: closed


def test_a_file_with_fewer_columns_on_purpose_gets_no_warning(seeded: Store, tmp_path: Path):
    """A delta of some fields (every column of it mapped) is what absent-leaves-alone is for."""
    path = write(tmp_path / "delta.csv", "Artikel-Nr.;Listenpreis EUR\r\nA1;9,99\r\n", "cp1252")
    counts = import_erp_csv(path, seeded, GERMAN)
    assert counts.updated + counts.created == 1 and warnings(seeded, counts.job_id) == []


def test_an_unknown_attribute_or_two_columns_for_one_value_refuse_the_csv(seeded: Store, tmp_path: Path):
    """Every row was rejected for the unknown code; of two columns the second silently won, empty or not."""
    path = write(tmp_path / "erp.csv", "\r\n".join(ROWS) + "\r\n", "cp1252")
    with pytest.raises(InputError) as err:
        import_erp_csv(path, seeded, german({"Kurztext": "nmae:de_DE"}))
    assert err.value.field == "Kurztext" and "did you mean 'name'?" in str(err.value)
    with pytest.raises(InputError) as err:
        import_erp_csv(path, seeded, german({"Kurztext": "name:de_DE", "Größe": "name:de_DE"}))
    assert err.value.field == "Größe" and "both fill 'name:de_DE'" in str(err.value)
    assert seeded.get_product("A1") is None


def test_a_unit_code_with_blanks_meets_the_unit_map(seeded: Store, tmp_path: Path):
    """` GR ` missed `unit_map: {GR: GRAM}` and the measurement catalogue read it as grain."""
    path = write(tmp_path / "erp.csv", "Material;Gewicht;Einheit\r\nA1;1,5; GR \r\n")
    m = ErpCsvMap(delimiter=";", decimal=",", sku_column="Material", family="tool",
                  columns={"Gewicht": {"to": "weight", "unit_from": "Einheit", "unit_map": {"GR": "GRAM"}}})
    import_erp_csv(path, seeded, m)
    assert seeded.get_product("A1").values["weight"] == {"amount": "1.5", "unit": "GRAM"}


def test_local_stock_times_are_in_the_maps_time_zone_and_offsets_are_read(tmp_path: Path):
    """`31.12.2025 23:30:00` from a German ERP was stored as 23:30 UTC, an hour late; with an offset the row
    was rejected, naming no column."""
    path = write(tmp_path / "stock.csv", "Artikel-Nr.;Lager;Bestand;Stand\r\nA1;HH01;1.234;31.12.2025 23:30:00\r\n"
                                         "A1;MU01;17;31.12.2025 23:30:00+01:00\r\nA1;K1;2;01.07.2025 12:00:00Z\r\n"
                                         "A1;K2;3;2026-01-01T10:00:00\r\n", "cp1252")
    m = ErpCsvMap(kind="stock", delimiter=";", encoding="cp1252", decimal=",", thousands=".",
                  datetime_format="%d.%m.%Y %H:%M:%S", timezone="Europe/Berlin", sku_column="Artikel-Nr.",
                  columns={"Lager": "warehouse", "Bestand": "quantity", "Stand": "updated_at"})
    items = list(commerce_items(path, m))
    rows = [i.row for i in items if not isinstance(i, Rejected)]
    assert [(r.warehouse, r.quantity, r.updated_at) for r in rows] == [
        ("HH01", Decimal("1234"), datetime(2025, 12, 31, 22, 30, tzinfo=UTC)),
        ("MU01", Decimal("17"), datetime(2025, 12, 31, 22, 30, tzinfo=UTC)),
        ("K1", Decimal("2"), datetime(2025, 7, 1, 12, 0, tzinfo=UTC))]
    [bad] = [i for i in items if isinstance(i, Rejected)]
    assert (bad.line, bad.field) == (5, "Stand") and "is not a timestamp in the format" in bad.reason
    with pytest.raises(ValueError, match="unknown time zone 'Mars/Base'"):
        ErpCsvMap(kind="stock", timezone="Mars/Base")


def test_an_excel_sep_line_before_the_header_is_skipped_or_names_the_delimiter(seeded: Store, tmp_path: Path):
    """`sep=;` (Excel reads it to pick the delimiter) was taken for the header: "no 'Artikel-Nr.' column"."""
    path = write(tmp_path / "erp.csv", "sep=;\r\n" + "\r\n".join(ROWS) + "\r\n", "cp1252")
    counts = import_erp_csv(path, seeded, GERMAN)
    assert (counts.created, counts.rejected) == (2, 0)
    assert seeded.get_product("A2").provenance_of("name:de_DE").ref == "erp.csv:5"  # physical lines still count
    comma = write(tmp_path / "comma.csv", "sep=,\r\nArtikel-Nr.,Kurztext\r\nA3,Hammer\r\n")
    with pytest.raises(InputError) as err:
        import_erp_csv(comma, seeded, GERMAN)
    assert (err.value.line, err.value.field, err.value.hint) == (1, "delimiter", "set `delimiter: ','` in the map")
