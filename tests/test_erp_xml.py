"""ERP XML: the shipped SAP MATMAS map reads material master IDocs (values, prices, stock), merges them,
and refuses broken or dangerous XML with a clear message."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest

from importers.erp_xml import ErpXmlMap, import_erp_xml, load_xml_map
from pim.commerce import stock_for
from pim.errors import InputError
from pim.store import Store
from tests.source_data import seed_structure


def idoc(matnr: str, body: str, credat: str = "20260301", cretim: str = "101500") -> str:
    return (f"<IDOC BEGIN=\"1\"><EDI_DC40 SEGMENT=\"1\"><IDOCTYP>MATMAS05</IDOCTYP><CREDAT>{credat}</CREDAT>"
            f"<CRETIM>{cretim}</CRETIM></EDI_DC40><E1MARAM SEGMENT=\"1\"><MATNR>{matnr}</MATNR>{body}</E1MARAM></IDOC>")


A1 = ("<MEINS>ST</MEINS><BRGEW>1.250</BRGEW><GEWEI>KGM</GEWEI><EAN11>4006381333931</EAN11><MSTAE></MSTAE>"
      "<E1MAKTM SEGMENT=\"1\"><SPRAS>E</SPRAS><MAKTX>Drill X100</MAKTX><SPRAS_ISO>EN</SPRAS_ISO></E1MAKTM>"
      "<E1MAKTM SEGMENT=\"1\"><SPRAS>D</SPRAS><MAKTX>Bohrer X100</MAKTX><SPRAS_ISO>DE</SPRAS_ISO></E1MAKTM>"
      "<E1MARMM SEGMENT=\"1\"><MEINH>KAR</MEINH><UMREZ>12</UMREZ></E1MARMM>"
      "<E1MVKEM SEGMENT=\"1\"><VKORG>1000</VKORG><AUMNG>6</AUMNG></E1MVKEM>"
      "<E1MARDM SEGMENT=\"1\"><LGORT>HH01</LGORT><LABST>40</LABST><Z_ATP>35</Z_ATP></E1MARDM>"
      "<E1MARDM SEGMENT=\"1\"><LGORT>MU01</LGORT><LABST>2</LABST></E1MARDM>"
      "<Z1PRICE><KONWA>EUR</KONWA><KBETR>129.90</KBETR></Z1PRICE><Z1PRICE><KONWA>USD</KONWA><KBETR>139</KBETR></Z1PRICE>")


def write(path: Path, *idocs: str) -> Path:
    path.write_text("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<MATMAS05>\n" + "\n".join(idocs) + "\n</MATMAS05>\n",
                    encoding="utf-8")
    return path


@pytest.fixture
def seeded(store: Store) -> Store:
    seed_structure(store)
    return store


def matmas(**overrides) -> ErpXmlMap:
    return load_xml_map(None).model_copy(update={"family": "tool", **overrides})


def test_matmas_map_reads_material_master(seeded: Store, tmp_path: Path):
    counts = import_erp_xml(write(tmp_path / "matmas.xml", idoc("000000000000012345", A1)), seeded, matmas())
    assert (counts.read, counts.created, counts.rejected) == (1, 1, 0)
    p = seeded.get_product("12345")
    assert p.values["ean"] == "4006381333931"
    assert p.values["name:en_US"] == "Drill X100" and p.values["name:de_DE"] == "Bohrer X100"
    assert p.values["weight"] == {"amount": "1.25", "unit": "KILOGRAM"}
    assert p.values["price"] == {"EUR": "129.90", "USD": "139.00"}
    assert (p.values["pack_size"], p.values["min_order_qty"], p.values["lifecycle_status"]) == (12, 6, "active")
    assert p.provenance_of("ean").source == "erp"


def test_stock_segments_are_timestamped_from_the_control_record(seeded: Store, tmp_path: Path):
    counts = import_erp_xml(write(tmp_path / "matmas.xml", idoc("12345", A1)), seeded, matmas())
    assert counts.extra["stock_levels"] == 2
    level = stock_for(seeded, ["12345"])["12345"]
    assert (level.quantity, level.atp) == (Decimal(42), Decimal(37))
    assert (level.updated_at.day, level.updated_at.hour, level.updated_at.minute) == (1, 10, 15)


def test_a_control_record_without_a_stamp_is_the_files_reading_time_not_the_idoc_befores(seeded: Store, tmp_path: Path):
    """Found exploring: an IDoc whose CREDAT did not parse took the previous IDoc's (older) stamp. One that does
    not parse now refuses the file (tests/test_erp_value_edges.py); an empty one still takes the file's time."""
    from datetime import UTC, datetime

    from pim.store.store import as_utc

    start = datetime.now(UTC)
    stock = "<E1MARDM SEGMENT=\"1\"><LGORT>HH01</LGORT><LABST>5</LABST></E1MARDM>"
    import_erp_xml(write(tmp_path / "m.xml", idoc("1", stock), idoc("2", stock, credat="")), seeded, matmas())
    levels = stock_for(seeded, ["1", "2"])
    assert as_utc(levels["1"].updated_at) == datetime(2026, 3, 1, 10, 15, tzinfo=UTC)
    assert as_utc(levels["2"].updated_at) >= start.replace(microsecond=0)


def test_missing_segment_changes_nothing_and_empty_element_clears(seeded: Store, tmp_path: Path):
    import_erp_xml(write(tmp_path / "a.xml", idoc("12345", A1)), seeded, matmas())
    import_erp_xml(write(tmp_path / "b.xml", idoc("12345", "<MEINS>PCE</MEINS><EAN11/>")), seeded, matmas())
    p = seeded.get_product("12345")
    assert p.values["unit_of_measure"] == "PCE" and "ean" not in p.values
    assert p.values["name:en_US"] == "Drill X100"


def test_bad_record_is_quarantined_with_its_xml_and_line(seeded: Store, tmp_path: Path):
    path = write(tmp_path / "m.xml", idoc("1", A1), idoc("2", "<BRGEW>heavy</BRGEW><GEWEI>KGM</GEWEI>"), idoc("", ""))
    counts = import_erp_xml(path, seeded, matmas())
    assert (counts.read, counts.created, counts.rejected) == (3, 1, 2)
    first, second = seeded.quarantined(counts.job_id)
    assert first["field"] == "BRGEW" and "not a number" in first["reason"] and first["line"] == 4
    assert "<BRGEW>heavy</BRGEW>" in first["raw"]["xml"]
    assert second["reason"] == "no SKU at MATNR"


def test_reimport_is_a_no_op(seeded: Store, tmp_path: Path):
    path = write(tmp_path / "m.xml", idoc("1", A1), idoc("2", A1))
    import_erp_xml(path, seeded, matmas())
    seq = seeded.current_seq()
    again = import_erp_xml(path, seeded, matmas())
    assert (again.unchanged, seeded.current_seq()) == (2, seq)


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty"),
    (b"<?xml version='1.0'?><MATMAS05><IDOC><E1MARAM><MATNR>1</MATNR>", "not well-formed"),
    (b"<?xml version='1.0' encoding='UTF-8'?><MATMAS05><IDOC><E1MARAM><MATNR>\xe41</MATNR></E1MARAM></IDOC></MATMAS05>",
     "not well-formed"),
])
def test_broken_xml_gets_a_clear_message(seeded: Store, tmp_path: Path, content: bytes, message: str):
    path = tmp_path / "m.xml"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        import_erp_xml(path, seeded, matmas())
    assert seeded.jobs()[0]["status"] == "failed"


@pytest.mark.parametrize(("change", "field", "words"), [
    ({"sku": ""}, "sku", "an empty path selects nothing"),  # was 'NoneType' object is not callable mid-import
    ({"values": [{"path": "E1MAKTM[", "to": "name:en_US"}]}, "values.0.path", "is not an XPath"),
    ({"values": [{"path": "x:MAKTX", "to": "name:en_US"}]}, "", "values.0.path 'x:MAKTX' does not evaluate"),
    ({"record": ""}, "record", "should match pattern"),  # was lxml's 'Empty tag name'
    ({"control": "EDI DC40"}, "control", "should match pattern"),
    ({"stock": {"path": "E1MARDM", "warehouse": "LGORT", "quantity": ""}}, "stock.quantity", "empty path"),
])
def test_an_xml_map_whose_paths_cannot_work_is_refused_when_it_loads(tmp_path: Path, change: dict, field: str,
                                                                     words: str) -> None:
    """Found by fuzzing the maps: these loaded, then failed the first file with a traceback."""
    import yaml

    data = yaml.safe_load((Path(__file__).parents[1] / "importers" / "maps" / "sap_matmas.yaml").read_text())
    path = tmp_path / "map.yaml"
    path.write_text(yaml.safe_dump({**data, **change}))
    with pytest.raises(InputError) as err:
        load_xml_map(path)
    assert err.value.field == field and words in str(err.value)


def test_stock_is_written_only_for_idocs_taken_in(seeded: Store, tmp_path: Path):
    """A record's stock levels travel with it: an IDoc that validation refuses after parsing (an unknown
    lifecycle code) adds no stock, in the same batch as one that is taken in."""
    bad = A1.replace("<MSTAE></MSTAE>", "<MSTAE>99</MSTAE>")
    counts = import_erp_xml(write(tmp_path / "m.xml", idoc("111", A1), idoc("222", bad)), seeded, matmas())
    assert (counts.read, counts.created, counts.rejected) == (2, 1, 1)
    assert counts.extra["stock_levels"] == 2
    assert set(stock_for(seeded, ["111", "222"])) == {"111"}
    assert seeded.quarantined(counts.job_id)[0]["record_key"] == "222"


def test_stock_of_an_unchanged_idoc_is_still_written(seeded: Store, tmp_path: Path):
    """Re-sending an IDoc whose material data is already merged skips the merge, not its newer stock."""
    import_erp_xml(write(tmp_path / "a.xml", idoc("111", A1)), seeded, matmas())
    later = A1.replace("<LABST>40</LABST>", "<LABST>7</LABST>")
    counts = import_erp_xml(write(tmp_path / "b.xml", idoc("111", later, cretim="120000")), seeded, matmas())
    assert (counts.read, counts.unchanged) == (1, 1)
    assert counts.extra["stock_levels"] == 2
    assert stock_for(seeded, ["111"])["111"].quantity == Decimal(9)


def test_stock_with_more_places_than_are_kept_rejects_the_idoc(seeded: Store, tmp_path: Path):
    body = A1.replace("<LABST>2</LABST>", "<LABST>2.00005</LABST>")
    counts = import_erp_xml(write(tmp_path / "m.xml", idoc("111", body)), seeded, matmas())
    assert counts.rejected == 1 and stock_for(seeded, ["111"]) == {}
    [row] = seeded.quarantined(counts.job_id)
    assert row["field"] == "E1MARDM" and "2.00005 has more than 4 decimal places" in row["reason"]


def test_a_price_currency_is_trimmed_like_a_csv_cell(seeded: Store, tmp_path: Path):
    body = "<Z1PRICE><KONWA> USD </KONWA><KBETR>12.5</KBETR></Z1PRICE>"
    counts = import_erp_xml(write(tmp_path / "m.xml", idoc("1", body)), seeded, matmas())
    assert counts.rejected == 0 and seeded.get_product("1").values["price"] == {"USD": "12.50"}


def test_a_record_element_the_file_lacks_is_an_error_naming_what_it_holds(seeded: Store, tmp_path: Path):
    """A map whose `record` matches nothing would import 0 products and report success."""
    path = write(tmp_path / "matmas.xml", idoc("12345", A1))
    with pytest.raises(InputError, match=r"no <E1MARAX> element.*<MATMAS05>, <IDOC>, <EDI_DC40>") as err:
        import_erp_xml(path, seeded, matmas(record="E1MARAX"))
    assert err.value.field == "record" and "E1MARAM" in (err.value.hint or "")
    assert seeded.get_product("12345") is None
    empty = tmp_path / "empty.xml"
    empty.write_text("<MATMAS05/>", encoding="utf-8")
    with pytest.raises(InputError, match=r"no <E1MARAM> element.*<MATMAS05>"):
        import_erp_xml(empty, seeded, matmas())


def test_a_processing_instruction_inside_a_value_does_not_cut_its_text(seeded: Store, tmp_path: Path):
    """Found exploring (round 25): `<MATNR>000<?sap x?>12345</MATNR>` read as "000" (the text before the
    instruction), and a description with one lost its end."""
    body = A1.replace("<MAKTX>Drill X100</MAKTX>", "<MAKTX>Drill <?format bold?>X100</MAKTX>")
    counts = import_erp_xml(write(tmp_path / "pi.xml", idoc("000000000000<?sap x?>012345", body)), seeded, matmas())
    assert (counts.created, counts.rejected) == (1, 0)
    assert seeded.get_product("12345").values["name:en_US"] == "Drill X100"
