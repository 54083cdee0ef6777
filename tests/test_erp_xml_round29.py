"""Round 29: the ERP XML map's rough edges left by round 28. A non-SAP file's stock says when it was counted
(per reading, or in a document header) instead of carrying the import's time; records nested in records of
their name refuse the file instead of losing the outer product's elements; two rules for one value refuse the
map instead of the last one present winning."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
import yaml

from importers.erp_xml import ErpXmlMap, import_erp_xml, load_xml_map, read_erp_xml
from pim.catalog import Structure
from pim.commerce import StockLevel, stock_for
from pim.errors import InputError
from pim.importing import Parsed, Rejected
from pim.store import Store
from pim.store.store import as_utc
from tests.source_data import seed_structure
from tests.test_erp_xml import A1, idoc, write

MAPS = Path(__file__).parents[1] / "importers" / "maps"


@pytest.fixture
def seeded(store: Store) -> Store:
    seed_structure(store)
    return store


@pytest.fixture(scope="module")
def structure(tmp_path_factory: pytest.TempPathFactory) -> Structure:
    """The seeded structure, for reading files without importing them (one SQLite store per module)."""
    store = Store(f"sqlite:///{tmp_path_factory.mktemp('structure') / 'pim.db'}")
    store.migrate()
    seed_structure(store)
    try:
        return store.structure()
    finally:
        store.dispose()


def stock_map(**more) -> ErpXmlMap:
    """A non-SAP export: <Item no="…"> with <Stock warehouse="…" asOf="…"><Qty>…</Qty></Stock>."""
    stock = {"path": "Stock", "warehouse": "@warehouse", "quantity": "Qty", **more.pop("stock", {})}
    return ErpXmlMap(record="Item", sku="@no", family="tool", stock=stock, **more)


def levels(path: Path, m: ErpXmlMap, structure: Structure) -> list[StockLevel]:
    items = list(read_erp_xml(path, m, structure))
    assert not [i for i in items if isinstance(i, Rejected)]
    return [level for item in items if isinstance(item, Parsed) for level in item.extras
            if isinstance(level, StockLevel)]  # not the record's WarehouseList (the map's `stock.complete`)


def items(*bodies: str, header: str = "") -> str:
    return ("<?xml version='1.0' encoding='UTF-8'?>\n<Export>" + header + "<Items>\n"
            + "\n".join(f'<Item no="A{n}">{body}</Item>' for n, body in enumerate(bodies, 1)) + "\n</Items></Export>\n")


# ---------------------------------------------------------------------------------------------- stock times
def test_a_stock_reading_takes_its_own_time_read_in_the_maps_time_zone(tmp_path: Path, structure: Structure):
    path = write_text(tmp_path / "stock.xml", items(
        '<Stock warehouse="HH01" asOf="2026-03-01T06:00:00"><Qty>4</Qty></Stock>'
        '<Stock warehouse="MU01" asOf="2026-07-01T06:00:00Z"><Qty>5</Qty></Stock>'))
    m = stock_map(stock={"updated_at": "@asOf"}, timezone="Europe/Berlin")
    assert [(lv.warehouse, lv.updated_at) for lv in levels(path, m, structure)] == [
        ("HH01", datetime(2026, 3, 1, 5, 0, tzinfo=UTC)),  # local winter time, an hour ahead of UTC
        ("MU01", datetime(2026, 7, 1, 6, 0, tzinfo=UTC))]  # an offset is read whatever the zone


def test_a_readings_time_may_be_its_records(tmp_path: Path, structure: Structure):
    path = write_text(tmp_path / "stock.xml", items(
        '<Changed>2026-03-01T06:00:00+01:00</Changed><Stock warehouse="HH01"><Qty>4</Qty></Stock>'))
    [level] = levels(path, stock_map(stock={"updated_at": "../Changed"}), structure)
    assert level.updated_at == datetime(2026, 3, 1, 5, 0, tzinfo=UTC)


def test_a_readings_own_time_wins_over_the_control_records_and_that_over_the_imports(tmp_path: Path,
                                                                                   structure: Structure):
    own = "<E1MARDM><LGORT>HH01</LGORT><LABST>1</LABST><ZDATE>2026-03-02T08:00:00</ZDATE></E1MARDM>"
    none = "<E1MARDM><LGORT>MU01</LGORT><LABST>2</LABST></E1MARDM>"
    path = write(tmp_path / "matmas.xml", idoc("1", own + none))
    m = load_xml_map(None).model_copy(update={"family": "tool"})
    m = m.model_copy(update={"stock": m.stock.model_copy(update={"updated_at": "ZDATE"})})
    assert [lv.updated_at for lv in levels(path, m, structure)] == [
        datetime(2026, 3, 2, 8, 0, tzinfo=UTC), datetime(2026, 3, 1, 10, 15, tzinfo=UTC)]  # CREDAT/CRETIM
    plain = write_text(tmp_path / "stock.xml", items('<Stock warehouse="HH01"><Qty>4</Qty></Stock>'))
    started = datetime.now(UTC)
    [level] = levels(plain, stock_map(stock={"updated_at": "@asOf"}), structure)
    assert level.updated_at >= started


def test_a_stock_time_that_does_not_read_rejects_the_record_naming_the_field(seeded: Store, tmp_path: Path):
    path = write_text(tmp_path / "stock.xml", items(
        '<Stock warehouse="HH01" asOf="01.03.2026 06:00"><Qty>4</Qty></Stock>',
        '<Stock warehouse="HH01" asOf="2026-03-01T06:00:00"><Qty>4</Qty></Stock>'))
    counts = import_erp_xml(path, seeded, stock_map(stock={"updated_at": "@asOf"}))
    assert (counts.created, counts.rejected, counts.extra["stock_levels"]) == (1, 1, 1)
    [entry] = seeded.quarantined(counts.job_id)
    assert (entry["field"], entry["record_key"], entry["line"]) == ("@asOf", "A1", 3)
    assert "'01.03.2026 06:00' is not a timestamp in the format %Y-%m-%dT%H:%M:%S" in entry["reason"]
    assert "set the map's `datetime_format`" in entry["reason"]
    assert seeded.get_product("A1") is None and set(stock_for(seeded, ["A1", "A2"])) == {"A2"}


def test_an_older_files_stock_does_not_replace_a_newer_reading(seeded: Store, tmp_path: Path):
    """Files arrive out of order: pim.commerce keeps the newest reading per SKU and warehouse, which holds only
    when each reading carries the time it was counted, not the time the file was imported."""
    m = stock_map(stock={"updated_at": "@asOf"})
    reading = '<Stock warehouse="HH01" asOf="2026-03-0{}T06:00:00"><Qty>{}</Qty></Stock>'
    newer = write_text(tmp_path / "newer.xml", items(reading.format(2, 5)))
    older = write_text(tmp_path / "older.xml", items(reading.format(1, 9)))
    assert import_erp_xml(newer, seeded, m).extra["stock_levels"] == 1
    assert import_erp_xml(older, seeded, m).extra["stock_levels"] == 0
    level = stock_for(seeded, ["A1"])["A1"]
    assert (level.quantity, as_utc(level.updated_at)) == (Decimal(5), datetime(2026, 3, 2, 6, 0, tzinfo=UTC))


def test_a_document_headers_time_stamps_the_stock_of_every_record_after_it(tmp_path: Path, structure: Structure):
    """A path from the reading up to a document header reads it for the first record only (the header is freed
    with it as the file streams); `control` with `control_time` reads it once for the records after it."""
    header = "<Header><Created>2026-03-01T06:00:00+01:00</Created></Header>"
    stock = '<Stock warehouse="HH01"><Qty>4</Qty></Stock>'
    path = write_text(tmp_path / "stock.xml", items(stock, stock, stock, header=header))
    m = stock_map(control="Header", control_time="Created")
    assert [lv.updated_at for lv in levels(path, m, structure)] == [datetime(2026, 3, 1, 5, 0, tzinfo=UTC)] * 3


def test_a_path_up_to_a_document_header_gets_a_warning_naming_control_time(seeded: Store, tmp_path: Path):
    """It read the header's time for the first record and the import's for every one after it, without a word."""
    header = "<Header><Created>2026-03-01T06:00:00+01:00</Created></Header>"
    stock = '<Stock warehouse="HH01"><Qty>4</Qty></Stock>'
    path = write_text(tmp_path / "stock.xml", items(stock, stock, stock, header=header))
    counts = import_erp_xml(path, seeded, stock_map(stock={"updated_at": "/Export/Header/Created"}))
    assert (counts.created, counts.extra["unread_map_fields"]) == (3, 1)
    [warning] = [e for e in seeded.quarantined(counts.job_id) if e["severity"] == "warning"]
    assert warning["field"] == "stock.updated_at"
    assert "read a time in the first record only, and none in the 2 after it" in warning["reason"]
    assert "use `control` with `control_time`" in warning["reason"]


def test_a_stock_time_path_that_matches_nothing_gets_a_warning(seeded: Store, tmp_path: Path):
    """`@asof` for `asOf`: every reading took the import's time without a word."""
    reading = '<Stock warehouse="HH01" asOf="2026-03-01T06:00:00"><Qty>4</Qty></Stock>'
    counts = import_erp_xml(write_text(tmp_path / "stock.xml", items(reading)), seeded,
                            stock_map(stock={"updated_at": "@asof"}))
    [warning] = [e for e in seeded.quarantined(counts.job_id) if e["severity"] == "warning"]
    assert warning["field"] == "stock.updated_at" and "'@asof' matched in no record" in warning["reason"]


def test_a_control_time_that_does_not_read_refuses_the_file(tmp_path: Path, structure: Structure):
    header = "<Header><Created>01.03.2026 06:00</Created></Header>"
    path = write_text(tmp_path / "stock.xml", items('<Stock warehouse="HH01"><Qty>4</Qty></Stock>', header=header))
    with pytest.raises(InputError) as err:
        list(read_erp_xml(path, stock_map(control="Header", control_time="Created"), structure))
    assert (err.value.field, err.value.line) == ("control_time", 2)
    assert "'01.03.2026 06:00' is not a timestamp" in str(err.value) and "datetime_format" in (err.value.hint or "")


def test_the_maps_time_zone_applies_to_credat_and_cretim(tmp_path: Path, structure: Structure):
    """SAP writes an IDoc's creation time in the sending system's local time."""
    path = write(tmp_path / "matmas.xml", idoc("1", "<E1MARDM><LGORT>HH01</LGORT><LABST>1</LABST></E1MARDM>"))
    m = load_xml_map(None).model_copy(update={"family": "tool", "timezone": "Europe/Berlin"})
    [level] = levels(path, m, structure)
    assert level.updated_at == datetime(2026, 3, 1, 9, 15, tzinfo=UTC)


# ---------------------------------------------------------------------------------------------- nested records
KIT = items('<SKU>KIT1</SKU><Name>Kit</Name><Parts>\n<Item no="P1"><Name>Part one</Name></Item>\n'
            '<Item no="P2"><Name>Part two</Name></Item>\n</Parts>', "<Name>Bee</Name>")


def test_records_nested_in_records_of_their_name_refuse_the_file_naming_the_line(seeded: Store, tmp_path: Path):
    """The inner <Item>, read first and freed, took the outer one's elements before it along: the kit was read
    without its name (the path matched nothing, so it was silently left as it was)."""
    path = write_text(tmp_path / "kit.xml", KIT)
    m = ErpXmlMap(record="Item", sku="@no", family="tool", values=[{"path": "Name", "to": "name:en_US"}])
    with pytest.raises(InputError) as err:
        import_erp_xml(path, seeded, m)
    assert (err.value.field, err.value.line) == ("record", 4)
    assert "<Item> at line 4 is inside the <Item> of line 3" in str(err.value)
    assert "`record: Items/Item` reads the outer ones" in err.value.hint and "Parts/Item/…" in err.value.hint
    assert "`record: Parts/Item` reads the inner ones" in err.value.hint
    assert seeded.get_product("P1") is None and seeded.get_product("A1") is None


@pytest.mark.parametrize(("record", "read"), [
    ("Items/Item", {"A1": "Kit", "A2": "Bee"}),
    ("Parts/Item", {"P1": "Part one", "P2": "Part two"}),
])
def test_a_record_named_with_its_parent_reads_only_those(tmp_path: Path, structure: Structure, record: str,
                                                        read: dict[str, str]):
    path = write_text(tmp_path / "kit.xml", KIT)
    m = ErpXmlMap(record=record, sku="@no", family="tool", values=[{"path": "Name", "to": "name:en_US"}])
    got = [i.record for i in read_erp_xml(path, m, structure)]
    assert {p.identifier: p.values["name:en_US"] for p in got} == read


def test_a_record_parent_the_file_lacks_is_an_error_naming_it(tmp_path: Path, structure: Structure):
    path = write_text(tmp_path / "kit.xml", KIT)
    with pytest.raises(InputError, match=r"no <Item> element inside a <Artikel> in the file"):
        list(read_erp_xml(path, ErpXmlMap(record="Artikel/Item", sku="@no"), structure))


# ---------------------------------------------------------------------------------------------- two rules, one value
def load(tmp_path: Path, values: list[dict]) -> ErpXmlMap:
    data = yaml.safe_load((MAPS / "sap_matmas.yaml").read_text(encoding="utf-8"))
    path = tmp_path / "map.yaml"
    path.write_text(yaml.safe_dump({**data, "values": values}), encoding="utf-8")
    return load_xml_map(path)


@pytest.mark.parametrize("values", [
    [{"path": "MAKTX", "to": "name:en_US"}, {"path": "E1MAKTM/MAKTX", "to": "name:en_US"}],
    [{"path": "KBETR", "to": "price"}, {"path": "LISTPRICE", "to": "price", "currency": "EUR"}],
    [{"path": "Z1PRICE", "amount_path": "KBETR", "currency_path": "KONWA", "to": "price"},
     {"path": "LISTPRICE", "to": "price", "currency": "USD"}],  # the file's currencies may include USD
    [{"path": "MTART", "to": "family"}, {"path": "Z1FAMILY", "to": "family"}],
])
def test_two_rules_for_one_value_refuse_the_map_suggesting_one_rule_with_a_union(tmp_path: Path, values: list[dict]):
    """The later rule present in a record silently replaced the first, an empty element clearing it."""
    with pytest.raises(InputError) as err:
        load(tmp_path, values)
    assert err.value.field == "values"
    first, second = values
    said = f"values[0] (path {first['path']}) and values[1] (path {second['path']}) both fill '{second['to']}'"
    assert said in str(err.value)
    assert f"`path: \"{first['path']} | {second['path']}\"`" in str(err.value)


def test_rules_for_different_locales_or_price_currencies_still_load(tmp_path: Path):
    """Guard (passes before and after): the check refuses one value filled twice, not one attribute."""
    m = load(tmp_path, [{"path": "A", "to": "name:en_US"}, {"path": "B", "to": "name:de_DE"},
                        {"path": "C", "to": "price", "currency": "EUR"},
                        {"path": "D", "to": "price", "currency": "USD"}])
    assert len(m.values) == 4


def test_every_shipped_map_loads(tmp_path: Path):
    """Guard (passes before and after): the shipped maps hold no two rules for one value."""
    for path in MAPS.glob("*.yaml"):
        if "record" in yaml.safe_load(path.read_text(encoding="utf-8")):
            assert load_xml_map(path).values


def test_one_rule_with_a_union_reads_the_first_match_in_the_record(tmp_path: Path, structure: Structure):
    """Guard (passes before and after): the rule the refusal suggests reads what it says."""
    path = write(tmp_path / "m.xml", idoc("1", "<MAKTX>Plain</MAKTX>"), idoc("2", A1))
    m = load_xml_map(None).model_copy(update={"family": "tool", "stock": None, "values": [
        load(tmp_path, [{"path": "E1MAKTM[SPRAS_ISO='EN']/MAKTX | MAKTX", "to": "name:en_US"}]).values[0]]})
    assert [i.record.values["name:en_US"] for i in read_erp_xml(path, m, structure)] == ["Plain", "Drill X100"]


# ---------------------------------------------------------------------------------------------- one path parser
def test_an_unprefixed_hyphenated_name_into_a_default_namespace_is_refused(tmp_path: Path, structure: Structure):
    """`Item-No` read nothing in a file with xmlns="…" and the import reported success: the check for unprefixed
    names took only names without `-` or `.` for path steps."""
    path = write_text(tmp_path / "items.xml", '<Export xmlns="urn:erp"><Item><Item-No>A1</Item-No></Item></Export>')
    with pytest.raises(InputError) as err:
        list(read_erp_xml(path, ErpXmlMap(record="Item", sku="Item-No"), structure))
    assert err.value.field == "sku" and "x:Item-No" in (err.value.hint or "")


def write_text(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path
