"""A SKU or supplier id longer than the catalog keeps (255 characters), or a row holding U+0000, rejects its
row with the reason, on both backends. Found by fuzzing the importers: four of them failed the whole import
with pydantic's traceback, and on PostgreSQL the quarantine could not hold the rejected row's key, nor a
lookup a NUL character."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from importers.bmecat import import_bmecat, load_map
from importers.content import import_content
from importers.erp_csv import ErpCsvMap, import_erp_csv
from importers.erp_xml import import_erp_xml
from importers.supplier_table import import_supplier_table
from pim.importing import ImportCounts
from pim.store import Store
from pim.structure_files import load_structure_files, save_structure
from tests.source_data import seed_structure, without_unknown_skus

LONG = "X" * 300


def _erp_csv(store: Store, tmp_path: Path) -> ImportCounts:
    from tests.test_erp_csv import HEADER, MAP, ROWS, write

    seed_structure(store)
    return import_erp_csv(write(tmp_path / "erp.csv", [HEADER, ROWS[0], ROWS[1].replace("A2", LONG)]), store, ErpCsvMap(**MAP))


def _matmas(store: Store, tmp_path: Path) -> ImportCounts:
    from tests.test_erp_xml import A1, idoc, matmas, write

    seed_structure(store)
    return import_erp_xml(write(tmp_path / "m.xml", idoc("12345", A1), idoc(LONG, A1)), store, matmas())


def _content(store: Store, tmp_path: Path) -> ImportCounts:
    from tests.test_content_import import DRILL, seeded, write_json

    seeded.__wrapped__(store)  # type: ignore[attr-defined]  # the fixture's body: A1 and A2 from the ERP
    return import_content(write_json(tmp_path / "c.json", [DRILL, {**DRILL, "sku": LONG}]), store, precedence=None)


def _supplier_csv(store: Store, tmp_path: Path) -> ImportCounts:
    from tests.test_supplier_table import MAP, STRUCTURE, _csv

    save_structure(store, load_structure_files(STRUCTURE))
    return import_supplier_table(_csv(tmp_path, ["r1;4006381333931;Relais;0,5;WM;1,50", f"{LONG};;Relais;;;"]), store, MAP)


def _bmecat(store: Store, tmp_path: Path) -> ImportCounts:
    from tests.test_bmecat import MAP, PRODUCT, STRUCTURE, _xml

    save_structure(store, load_structure_files(STRUCTURE))
    body = PRODUCT.format(pid="r1") + PRODUCT.format(pid=LONG).replace("4032248855865", "4006381333931")
    return import_bmecat(_xml(tmp_path, "<T_NEW_CATALOG>" + body + "</T_NEW_CATALOG>"), store, load_map(MAP))


@pytest.mark.parametrize("run", [_erp_csv, _matmas, _content, _supplier_csv, _bmecat])
def test_a_key_over_255_characters_rejects_its_row_and_the_rest_imports(
        store: Store, tmp_path: Path, run: Callable[[Store, Path], ImportCounts]) -> None:
    counts = run(store, tmp_path)
    assert (counts.read, counts.rejected) == (2, 1) and counts.created + counts.updated + counts.unchanged == 1
    [entry] = store.quarantined(counts.job_id, severity="rejected")
    assert "300" in entry["reason"] and "255" in entry["reason"]
    assert len(entry["record_key"]) == 255 and entry["record_key"].endswith("…")  # clipped to its column
    assert LONG in str(entry["raw"])  # the raw row keeps it whole, to fix and re-import


def test_price_and_stock_rows_beyond_their_columns_are_rejected_with_the_reason(store: Store, tmp_path: Path) -> None:
    """A customer code over 100 characters, a warehouse over 100, a price of 10^14: PostgreSQL refused them with
    an error that failed the whole import; each now rejects its own row."""
    from tests.test_erp_csv import write

    seed_structure(store)
    prices = write(tmp_path / "prices.csv", ["Kunde;Material;Preis", "C1;A1;10,50", f"{'C' * 150};A1;9,00",
                                             "C1;A2;100000000000000,00"])
    m = ErpCsvMap(kind="price_list", delimiter=";", decimal=",", sku_column="Material",
                  columns={"Kunde": "customer", "Preis": "price"}, defaults={"currency": "EUR"})
    counts = import_erp_csv(prices, store, m)
    assert (counts.read, counts.rejected) == (3, 2)
    assert [e["field"] for e in without_unknown_skus(store.quarantined(counts.job_id))] == ["customer", "price"]
    stock = write(tmp_path / "stock.csv", ["sku,lager,menge,stand", "A1,HH,10,2026-03-01T10:00:00",
                                           f"A1,{'W' * 150},5,2026-03-01T10:00:00", f"{LONG},HH,5,2026-03-01T10:00:00"])
    m = ErpCsvMap(kind="stock", columns={"lager": "warehouse", "menge": "quantity", "stand": "updated_at"})
    counts = import_erp_csv(stock, store, m)
    assert (counts.read, counts.rejected) == (3, 2)
    assert [e["field"] for e in without_unknown_skus(store.quarantined(counts.job_id))] == ["warehouse", "sku"]


def test_a_matmas_stock_segment_beyond_its_columns_rejects_its_idoc(store: Store, tmp_path: Path) -> None:
    from importers.erp_xml import import_erp_xml
    from pim.commerce import stock_for
    from tests.test_erp_xml import A1, idoc, matmas, write

    seed_structure(store)
    wide = A1.replace("<LGORT>MU01</LGORT>", f"<LGORT>{'W' * 150}</LGORT>")
    much = A1.replace("<LABST>40</LABST>", "<LABST>100000000000000</LABST>")
    counts = import_erp_xml(write(tmp_path / "m.xml", idoc("1", A1), idoc("2", wide), idoc("3", much), idoc(LONG, A1)),
                            store, matmas())
    assert (counts.read, counts.created, counts.rejected) == (4, 1, 3)
    reasons = [e["reason"] for e in store.quarantined(counts.job_id)]
    assert reasons[0].startswith("stock warehouse 'WWW") and "at most 100 characters" in reasons[0]
    assert reasons[1] == "stock quantity '100000000000000': input should be less than 100000000000000" and "255" in reasons[2]
    assert sorted(stock_for(store, ["1", "2", "3"])) == ["1"]  # a rejected IDoc adds no stock


def _nul_rows(store: Store, tmp_path: Path) -> list[ImportCounts]:
    from pim.jsonl import import_jsonl
    from tests.test_content_import import DRILL, seeded, write_json
    from tests.test_erp_csv import HEADER, MAP, ROWS, write

    seeded.__wrapped__(store)  # type: ignore[attr-defined]  # the content tests' catalog: A1 and A2 from the ERP
    erp = import_erp_csv(write(tmp_path / "erp.csv", [HEADER, ROWS[0], ROWS[1].replace("A2", "A\x002")]), store,
                         ErpCsvMap(**MAP))
    stock = import_erp_csv(write(tmp_path / "stock.csv", ["sku;lager;menge;stand", "A1;HH;1;2026-03-01T06:00:00",
                                                          "A1;H\x00H;2;2026-03-01T06:00:00"]), store,
                           ErpCsvMap(kind="stock", delimiter=";",
                                     columns={"lager": "warehouse", "menge": "quantity", "stand": "updated_at"}))
    content = import_content(write_json(tmp_path / "c.json", [DRILL, {**DRILL, "sku": "A\x002"}]), store, precedence=None)
    native = tmp_path / "p.jsonl"
    native.write_bytes(b'{"identifier": "B1", "values": {"sku": "B1"}}\n{"identifier": "B\\u00002", "values": {"sku": "B2"}}\n')
    return [erp, stock, content, import_jsonl(native, store)]


def test_a_row_holding_a_nul_character_is_rejected_as_read(store: Store, tmp_path: Path) -> None:
    """Found by fuzzing on PostgreSQL: a SKU, supplier id or warehouse holding U+0000 failed the whole import there
    (PostgreSQL refuses the character even in a lookup, before validation could reject the row)."""
    for counts in _nul_rows(store, tmp_path):
        assert (counts.read, counts.rejected) == (2, 1), counts
        [entry] = store.quarantined(counts.job_id, severity="rejected")
        assert "NUL character (U+0000)" in entry["reason"] and "\\u0000" in str(entry["raw"])  # kept, escaped
