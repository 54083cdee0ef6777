"""ERP CSV: a declarative column map (delimiter, encoding, decimals, dates), merged by precedence; price
lists and stock; clear messages for broken files; quarantine and re-runs."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path

import pytest
from pydantic import ValidationError

from importers.erp_csv import ErpCsvMap, commerce_items, import_erp_csv, product_items
from importers.erp_values import number_parser, partial_product
from pim.commerce import contract_tiers, stock_for
from pim.conflicts import open_conflicts
from pim.errors import InputError
from pim.importing import Parsed, Rejected, run_import
from pim.merge import Merger
from pim.product import Product, trusted_provenance
from pim.sources import load_profile
from pim.store import Store
from pim.values import ValueProblem
from tests.source_data import PRECEDENCE, record, seed_structure, without_unknown_skus

HEADER = "Material;EAN;Bezeichnung;Gewicht;GewEinheit;Preis EUR;Preis USD;ME;VPE;MOQ;Status"
ROWS = [
    "A1;4006381333931;Bohrer X100;1,250;KGM;1.299,00;1399,5;ST;1;10;A",
    "A2;4006381333948;Säge Ö;0,8;KGM;49,90;;ST;5;1;P",
]
MAP = {
    "delimiter": ";", "encoding": "cp1252", "decimal": ",", "thousands": ".", "sku_column": "Material",
    "family": "tool",
    "columns": {
        "EAN": "ean", "Bezeichnung": "name:de_DE", "ME": "unit_of_measure", "VPE": "pack_size", "MOQ": "min_order_qty",
        "Gewicht": {"to": "weight", "unit_from": "GewEinheit", "unit_map": {"KGM": "KILOGRAM", "GRM": "GRAM"}},
        "Preis EUR": {"to": "price", "currency": "EUR"}, "Preis USD": {"to": "price", "currency": "USD"},
        "Status": {"to": "lifecycle_status", "map": {"A": "active", "P": "phase_out", "B": "blocked"}},
    },
}


def write(path: Path, lines: list[str], encoding: str = "cp1252") -> Path:
    path.write_bytes(("\r\n".join(lines) + "\r\n").encode(encoding))
    return path


@pytest.fixture
def seeded(store: Store) -> Store:
    seed_structure(store)
    return store


def run(store: Store, path: Path, **overrides):
    m = ErpCsvMap(**{**MAP, **overrides})
    structure = store.structure()
    return run_import(store, "erp", product_items(path, m, structure), structure=structure,
                      merge=Merger(PRECEDENCE, create_missing=True))


def test_column_map_reads_cp1252_semicolons_and_decimal_commas(seeded: Store, tmp_path: Path):
    counts = run(seeded, write(tmp_path / "erp.csv", [HEADER, *ROWS]))
    assert (counts.read, counts.created, counts.rejected) == (2, 2, 0)
    a1 = seeded.get_product("A1")
    assert a1.family == "tool"
    assert a1.values["price"] == {"EUR": "1299.00", "USD": "1399.50"}
    assert a1.values["weight"] == {"amount": "1.25", "unit": "KILOGRAM"}
    assert (a1.values["pack_size"], a1.values["min_order_qty"], a1.values["lifecycle_status"]) == (1, 10, "active")
    assert seeded.get_product("A2").values["name:de_DE"] == "Säge Ö"
    assert a1.provenance_of("ean").ref == "erp.csv:2"


def test_absent_column_keeps_the_value_and_empty_cell_clears_it(seeded: Store, tmp_path: Path):
    run(seeded, write(tmp_path / "erp.csv", [HEADER, *ROWS]))
    run(seeded, write(tmp_path / "delta.csv", ["Material;ME;MOQ", "A1;PCE;"]))
    a1 = seeded.get_product("A1")
    assert a1.values["unit_of_measure"] == "PCE"  # changed
    assert "min_order_qty" not in a1.values  # explicitly empty: cleared
    assert a1.values["ean"] == "4006381333931"  # column absent: untouched


def test_erp_and_supplier_disagreeing_on_weight_is_logged(seeded: Store, tmp_path: Path):
    run(seeded, write(tmp_path / "erp.csv", [HEADER, *ROWS]))
    run_import(seeded, "supplier:acme", [Parsed(
        record("supplier:acme", "A1", {"weight": {"amount": "1.3", "unit": "KILOGRAM"}}), "acme.csv", 2)],
        merge=Merger(PRECEDENCE))
    assert seeded.get_product("A1").values["weight"]["amount"] == "1.25"
    assert [(c.identifier, c.value_key) for c in open_conflicts(seeded)] == [("A1", "weight")]


def test_bad_rows_are_quarantined_and_a_fixed_file_takes_them_in(seeded: Store, tmp_path: Path):
    bad = write(tmp_path / "erp.csv", [HEADER, ROWS[0], "A3;1;x;zwei;KGM;1;1;ST;1;1;A", "A4;1;x"])
    counts = run(seeded, bad)
    assert (counts.read, counts.created, counts.rejected) == (3, 1, 2)
    entries = {e["line"]: e for e in seeded.quarantined(counts.job_id)}
    assert entries[3]["field"] == "Gewicht" and "not a number" in entries[3]["reason"]
    assert "the header has 11" in entries[4]["reason"] and entries[4]["record_key"] == "A4"
    fixed = write(tmp_path / "erp.csv", [HEADER, ROWS[0], "A3;4006381333948;x;2;KGM;1;1;ST;1;1;A",
                                         "A4;4006381333955;x;2;KGM;1;1;ST;1;1;A"])
    again = run(seeded, fixed)
    assert (again.created, again.unchanged, again.rejected) == (2, 1, 0)
    assert seeded.quarantined() == []


def test_interrupted_import_can_be_rerun(seeded: Store, tmp_path: Path):
    seeded.batch_size = 2
    path = write(tmp_path / "erp.csv", [HEADER] + [f"S{i};;Name {i};1;KGM;1;;ST;1;1;A" for i in range(7)])
    m = ErpCsvMap(**MAP)

    def dies_after_five():
        for n, item in enumerate(product_items(path, m, seeded.structure())):
            if n == 5:
                raise RuntimeError("power cut")
            yield item

    with pytest.raises(RuntimeError):
        run_import(seeded, "erp", dies_after_five(), merge=Merger(PRECEDENCE))
    assert seeded.count_products() == 4  # two whole batches committed, the third never started
    assert seeded.jobs()[0]["status"] == "failed"
    counts = run(seeded, path)
    assert (counts.created, counts.unchanged, counts.rejected) == (3, 4, 0)
    assert seeded.count_products() == 7


def test_price_list_rows_become_contract_tiers(seeded: Store, tmp_path: Path):
    path = write(tmp_path / "prices.csv", ["Kunde;Material;Menge;Preis;Ab;Bis",
                                           "C1;A1;1;10,50;01.01.2026;31.12.2026", "C1;A1;100;9,00;01.01.2026;",
                                           "C1;A1;x;9,00;01.01.2026;"])
    m = ErpCsvMap(kind="price_list", delimiter=";", decimal=",", date_format="%d.%m.%Y", sku_column="Material",
                  columns={"Kunde": "customer", "Menge": "min_qty", "Preis": "price", "Ab": "valid_from",
                           "Bis": "valid_to"}, defaults={"currency": "EUR"})
    counts = import_erp_csv(path, seeded, m)
    assert (counts.read, counts.created, counts.rejected) == (3, 2, 1)
    tiers = contract_tiers(seeded, "C1", ["A1"], "EUR", on=date(2026, 6, 1))["A1"]
    assert [(t.min_qty, t.price) for t in tiers] == [(Decimal(1), Decimal("10.5")), (Decimal(100), Decimal(9))]


def test_stock_rows_carry_warehouse_and_timestamp(seeded: Store, tmp_path: Path):
    path = write(tmp_path / "stock.csv", ["sku,lager,menge,atp,stand", "A1,HH,10,8,2026-03-01T10:00:00",
                                          "A1,M,5,,2026-03-01T09:00:00"])
    m = ErpCsvMap(kind="stock", columns={"lager": "warehouse", "menge": "quantity", "atp": "atp", "stand": "updated_at"})
    assert import_erp_csv(path, seeded, m).updated == 2
    a1 = stock_for(seeded, ["A1"])["A1"]
    assert (a1.quantity, a1.atp, a1.updated_at.hour) == (Decimal(15), Decimal(13), 9)


def test_an_older_stock_reading_never_overwrites_a_newer_one(seeded: Store, tmp_path: Path):
    """Stock files arrive out of order: per SKU and warehouse the newest reading wins, across files and
    within one; the skipped rows count as unchanged."""
    m = ErpCsvMap(kind="stock", columns={"lager": "warehouse", "menge": "quantity", "stand": "updated_at"})
    newer = write(tmp_path / "newer.csv", ["sku,lager,menge,stand", "A1,HH,10,2026-03-02T10:00:00",
                                           "A1,M,5,2026-03-02T10:00:00"])
    assert import_erp_csv(newer, seeded, m).updated == 2
    older = write(tmp_path / "older.csv", ["sku,lager,menge,stand", "A1,HH,99,2026-03-01T10:00:00",
                                           "A1,M,7,2026-03-03T08:00:00", "A1,M,6,2026-03-02T12:00:00"])
    counts = import_erp_csv(older, seeded, m)
    assert (counts.read, counts.updated, counts.unchanged) == (3, 1, 2)
    a1 = stock_for(seeded, ["A1"])["A1"]
    assert a1.quantity == Decimal(17)  # HH kept 10 (the 99 was older), M took the newest of its two rows: 7


@pytest.mark.parametrize("content, message", [
    (b"", "the file is empty"),
    (b"\xff\xfeM\x00a\x00", "UTF-16 byte order mark"),
    ("Material;EAN\nA1;\u00e9\n".encode("cp1252"), "the file is not utf-8"),
    (b"sku,ean\nA1,1\n", "no 'Material' column"),
])
def test_broken_files_get_a_clear_message(seeded: Store, tmp_path: Path, content: bytes, message: str):
    path = tmp_path / "erp.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        run(seeded, path, encoding="utf-8")


def test_a_utf16_map_on_a_file_without_a_byte_order_mark_is_refused_clearly(seeded: Store, tmp_path: Path):
    """UTF-16's codec refuses such a stream with a bare UnicodeError (not a decode error): it was a traceback."""
    path = tmp_path / "erp.csv"
    path.write_bytes("\n".join([HEADER, ROWS[0]]).encode("utf-8"))
    with pytest.raises(InputError, match="the file is not utf-16") as err:
        run(seeded, path, encoding="utf-16")
    assert "encoding:" in (err.value.hint or "")


def test_utf8_bom_is_skipped(seeded: Store, tmp_path: Path):
    path = tmp_path / "erp.csv"
    path.write_bytes(b"\xef\xbb\xbf" + "\n".join([HEADER, ROWS[0]]).encode())
    assert run(seeded, path, encoding="utf-8").created == 1


def test_map_file_errors_name_the_field(tmp_path: Path):
    path = tmp_path / "map.yaml"
    path.write_text("kind: prices\n")
    with pytest.raises(InputError) as err:
        load_profile(ErpCsvMap, path)
    assert err.value.field == "kind"


@pytest.mark.parametrize(("model", "yaml_text", "field", "words"), [
    (ErpCsvMap, "encoding: utf-99\n", "encoding", "unknown encoding 'utf-99'"),  # was a LookupError on the first file
    (ErpCsvMap, "encoding: ''\n", "encoding", "unknown encoding"),
    (ErpCsvMap, "decimal: ','\nthousands: ','\n", "", "thousands separator ','"),  # read 1.299,00 as 129900
    (ErpCsvMap, "columns: {Farbe: {to: colour, split: ''}}\n", "columns.Farbe.ValueRule.split", "at least 1 character"),
    ("content", "list_separator: ''\n", "list_separator", "at least 1 character"),  # was str.split('')'s ValueError
    ("supplier", "source: supplier:x\npid_column: id\nencoding: nope\n", "encoding", "unknown encoding"),
])
def test_a_profile_a_file_could_not_be_read_with_is_refused_when_it_loads(tmp_path: Path, model, yaml_text: str,
                                                                          field: str, words: str):
    """Found by fuzzing the profiles: these passed validation and failed (or misread) the first file."""
    from importers.content import ContentProfile
    from importers.supplier_table import SupplierTableMap

    model = {"content": ContentProfile, "supplier": SupplierTableMap}.get(model, model)
    path = tmp_path / "profile.yaml"
    path.write_text(yaml_text)
    with pytest.raises(InputError) as err:
        load_profile(model, path)
    assert err.value.field == field and words in str(err.value)


@pytest.mark.parametrize("text", ["0", "-0", "12", "-0.00", "1.250", "007", "1.", ".5", "+3", "1e3", "1E-2", " 4 ",
                                  "٣", "1_000", "0.0000000000000000000000000000001", "12345678901234567890123456789.5"])
def test_number_shortcut_reads_like_decimal(text: str):
    try:
        expected: str | None = format(Decimal(text.strip()), "f")
    except InvalidOperation:
        expected = None
    if expected is None:
        with pytest.raises(ValueProblem):
            number_parser(".", None)(text)
    else:
        assert number_parser(".", None)(text) == expected


@pytest.mark.parametrize("text", ["1.234", "2.500", "1.234,50", "12.345.678"])
def test_a_dot_under_a_decimal_comma_is_refused_unless_the_map_groups_thousands_with_it(text: str):
    """German exports group thousands with a dot: read as a decimal point, 1.234 would silently become 1.234."""
    with pytest.raises(ValueProblem, match="thousands: '.'"):
        number_parser(",", None)(text)
    assert number_parser(",", ".")(text) == format(Decimal(text.replace(".", "").replace(",", ".")), "f")
    assert number_parser(",", None)("1234,5") == "1234.5"


@pytest.mark.parametrize("fields", [{}, {"family": "tool"}, {"family": None, "categories": ["a"], "enabled": False},
                                    {"associations": {}}])
def test_partial_product_is_the_validated_product(fields: dict):
    prov = trusted_provenance("erp", "erp.csv:2", datetime.now(UTC))
    fast = partial_product("A1", {"sku": "A1", "ean": None}, prov, dict(fields))
    slow = Product(identifier="A1", values={"sku": "A1", "ean": None}, source=prov, **fields)
    assert fast == slow
    assert fast.model_fields_set == slow.model_fields_set
    assert fast.model_dump() == slow.model_dump() and fast.content_hash() == slow.content_hash()


@pytest.mark.parametrize(("identifier", "family"), [("", None), ("x" * 256, None), ("A1", "bad code!"), ("A1", "f" * 101),
                                                    ("Ä\ud800", None)])
def test_partial_product_refuses_what_validation_refuses(identifier: str, family: str | None):
    prov = trusted_provenance("erp", "erp.csv:2", datetime.now(UTC))
    with pytest.raises(ValidationError):
        partial_product(identifier, {}, prov, {"family": family} if family else {})


def test_a_repeated_bad_timestamp_rejects_every_row(tmp_path: Path):
    path = write(tmp_path / "stock.csv", ["sku;warehouse;quantity;updated_at", "A1;HH;1;2026-13-01T06:00:00",
                                          "A2;HH;2;2026-13-01T06:00:00", "A3;HH;3;2026-03-01T06:00:00",
                                          "A4;HH;4;2026-03-01T06:00:00"])
    m = ErpCsvMap(kind="stock", delimiter=";", columns={"warehouse": "warehouse", "quantity": "quantity",
                                                        "updated_at": "updated_at"})
    items = list(commerce_items(path, m))
    assert [(i.line, i.reason) for i in items if isinstance(i, Rejected)] == [
        (2, "'2026-13-01T06:00:00' is not a timestamp in the format %Y-%m-%dT%H:%M:%S"),
        (3, "'2026-13-01T06:00:00' is not a timestamp in the format %Y-%m-%dT%H:%M:%S")]
    assert [i.row.updated_at for i in items if not isinstance(i, Rejected)] == [datetime(2026, 3, 1, 6, tzinfo=UTC)] * 2


PRICE_MAP = dict(kind="price_list", delimiter=";", decimal=",", date_format="%d.%m.%Y", sku_column="Material",
                 columns={"Kunde": "customer", "Menge": "min_qty", "Preis": "price", "Ab": "valid_from", "Bis": "valid_to"},
                 defaults={"currency": "EUR"})


def _tiers(store: Store, customer: str, skus: list[str]) -> dict[str, list[tuple[Decimal, Decimal]]]:
    found = contract_tiers(store, customer, skus, "EUR", on=date(2026, 6, 1))
    return {sku: [(t.min_qty, t.price) for t in tiers] for sku, tiers in found.items()}


def test_a_complete_price_list_removes_what_the_file_no_longer_holds_for_the_customers_it_names(seeded: Store, tmp_path: Path):
    head = "Kunde;Material;Menge;Preis;Ab;Bis"
    first = write(tmp_path / "prices.csv", [head, "C1;A1;1;10,00;01.01.2026;", "C1;A1;100;9,00;01.01.2026;",
                                            "C1;A2;1;5,00;01.01.2026;", "C2;A1;1;11,00;01.01.2026;"])
    m = ErpCsvMap(**PRICE_MAP, complete=True)
    assert import_erp_csv(first, seeded, m).as_dict()["removed"] == 0
    # C1 drops the 100-piece tier of A1 and all of A2; C2 is not in the file at all
    second = write(tmp_path / "prices2.csv", [head, "C1;A1;1;10,00;01.01.2026;"])
    counts = import_erp_csv(second, seeded, m)
    assert counts.as_dict()["removed"] == 2 and seeded.job(counts.job_id)["counts"]["removed"] == 2
    assert _tiers(seeded, "C1", ["A1", "A2"]) == {"A1": [(Decimal(1), Decimal(10))]}
    assert _tiers(seeded, "C2", ["A1"]) == {"A1": [(Decimal(1), Decimal(11))]}
    # without `complete`, the same file removes nothing
    import_erp_csv(first, seeded, ErpCsvMap(**PRICE_MAP))
    import_erp_csv(second, seeded, ErpCsvMap(**PRICE_MAP))
    assert _tiers(seeded, "C1", ["A2"]) == {"A2": [(Decimal(1), Decimal(5))]}
    with seeded.engine.connect() as conn:  # the run's notes are gone
        assert conn.exec_driver_sql("SELECT count(*) FROM price_list_seen").scalar_one() == 0


def test_a_complete_price_list_with_a_rejected_row_removes_nothing_until_it_is_fixed(seeded: Store, tmp_path: Path):
    head = "Kunde;Material;Menge;Preis;Ab;Bis"
    m = ErpCsvMap(**PRICE_MAP, complete=True)
    import_erp_csv(write(tmp_path / "p.csv", [head, "C1;A1;1;10,00;01.01.2026;", "C1;A2;1;5,00;01.01.2026;"]), seeded, m)
    broken = write(tmp_path / "p.csv", [head, "C1;A1;1;10,00;01.01.2026;", "C1;A2;x;5,00;01.01.2026;"])
    counts = import_erp_csv(broken, seeded, m)
    assert (counts.rejected, counts.as_dict()["removed"]) == (1, 0)
    assert set(_tiers(seeded, "C1", ["A1", "A2"])) == {"A1", "A2"}  # A2's stored price is kept
    warning = [q for q in without_unknown_skus(seeded.quarantined()) if q["severity"] == "warning"]
    assert len(warning) == 1 and "nothing was removed" in warning[0]["reason"]
    fixed = write(tmp_path / "p.csv", [head, "C1;A1;1;10,00;01.01.2026;"])
    assert import_erp_csv(fixed, seeded, m).as_dict()["removed"] == 1
    assert [q for q in without_unknown_skus(seeded.quarantined()) if q["severity"] == "warning"] == []


def test_rows_of_bare_delimiters_are_skipped_like_blank_lines(seeded: Store, tmp_path: Path):
    """ERP and Excel exports often end with `;;;;;` rows: rejected, they made every complete price list
    remove nothing, night after night."""
    head = "Kunde;Material;Menge;Preis;Ab;Bis"
    m = ErpCsvMap(**PRICE_MAP, complete=True)
    import_erp_csv(write(tmp_path / "p.csv", [head, "C1;A1;1;10,00;01.01.2026;", "C1;A2;1;5,00;01.01.2026;"]), seeded, m)
    counts = import_erp_csv(write(tmp_path / "p.csv", [head, "C1;A1;1;10,00;01.01.2026;", ";;;;;", " ; ;;;;"]), seeded, m)
    assert (counts.read, counts.rejected, counts.as_dict()["removed"]) == (1, 0, 1)
    assert without_unknown_skus(seeded.quarantined()) == []
    products = run(seeded, write(tmp_path / "erp.csv", [HEADER, ROWS[0], ";" * HEADER.count(";")]))
    assert (products.read, products.rejected) == (1, 0)


def test_an_unchanged_price_list_or_stock_file_counts_its_rows_unchanged(seeded: Store, tmp_path: Path):
    """Found exploring: every row of a re-imported price list or stock file counted as updated."""
    prices = write(tmp_path / "p.csv", ["Kunde;Material;Menge;Preis;Ab;Bis", "C1;A1;1;10,00;01.01.2026;",
                                        "C1;A2;1;5,00;01.01.2026;"])
    assert (import_erp_csv(prices, seeded, ErpCsvMap(**PRICE_MAP)).created) == 2
    again = import_erp_csv(prices, seeded, ErpCsvMap(**PRICE_MAP))
    assert (again.updated, again.unchanged) == (0, 2)
    stock_map = ErpCsvMap(kind="stock", delimiter=";", columns={"warehouse": "warehouse", "quantity": "quantity",
                                                                "updated_at": "updated_at"})
    stock = write(tmp_path / "s.csv", ["sku;warehouse;quantity;updated_at", "A1;HH;1;2026-03-01T06:00:00",
                                       "A2;HH;2;2026-03-01T06:00:00"])
    assert import_erp_csv(stock, seeded, stock_map).updated == 2
    again = import_erp_csv(stock, seeded, stock_map)
    assert (again.updated, again.unchanged) == (0, 2)
    restated = write(tmp_path / "s.csv", ["sku;warehouse;quantity;updated_at", "A1;HH;1;2026-03-01T06:00:00",
                                          "A2;HH;3;2026-03-01T06:00:00"])  # of equal times the later reading wins
    again = import_erp_csv(restated, seeded, stock_map)
    assert (again.updated, again.unchanged) == (1, 1)


def test_enabled_reads_yes_and_no_words_and_refuses_the_rest(seeded: Store, tmp_path: Path):
    """Found exploring: `nein` left the product enabled (anything but 0/false/no/n was yes)."""
    head = "Material;Aktiv"
    path = write(tmp_path / "erp.csv", [head, "A1;nein", "A2;ja", "A3;vielleicht", "A4;"])
    counts = run(seeded, path, columns={"Aktiv": "enabled"})
    assert (counts.created, counts.rejected) == (3, 1)
    assert [seeded.get_product(s).enabled for s in ("A1", "A2", "A4")] == [False, True, True]  # empty: the default
    [entry] = seeded.quarantined()
    assert (entry["line"], entry["record_key"]) == (4, "A3") and "neither yes nor no" in entry["reason"]


def test_a_price_valid_to_before_it_is_valid_from_is_rejected(seeded: Store, tmp_path: Path):
    head = "Kunde;Material;Menge;Preis;Ab;Bis"
    path = write(tmp_path / "p.csv", [head, "C1;A1;1;10,00;01.01.2027;01.01.2026", "C1;A2;1;5,00;01.01.2026;01.01.2026"])
    counts = import_erp_csv(path, seeded, ErpCsvMap(**PRICE_MAP))
    assert (counts.read, counts.rejected) == (2, 1)
    [entry] = without_unknown_skus(seeded.quarantined())
    assert (entry["line"], entry["field"]) == (2, "valid_to") and "never apply" in entry["reason"]


@pytest.mark.parametrize("batch_size", [2, 1000])
def test_a_sku_named_twice_counts_both_rows_whatever_the_batch(seeded: Store, tmp_path: Path, batch_size: int):
    """Found by the import fuzzing: a file naming a SKU twice in one batch counted one of its rows, so read was
    more than created + updated + unchanged + rejected. Each row is counted on its own, the same whether the rows
    share a batch or not (round 33: the later rows of a SKU are rejected, the first one stands)."""
    seeded.batch_size = batch_size
    again = ROWS[0].replace("1.299,00", "1.199,00")
    path = write(tmp_path / "e.csv", [HEADER, ROWS[0], ROWS[1], again, ROWS[0], ROWS[0]])
    first = run(seeded, path)  # A1 and A2 created, A1's three later rows rejected
    assert (first.read, first.created, first.updated, first.unchanged, first.rejected) == (5, 2, 0, 0, 3)
    assert seeded.get_product("A1").values["price"]["EUR"] == "1299.00"  # the first row stands
    second = run(seeded, path)
    assert (second.read, second.created, second.updated, second.unchanged, second.rejected) == (5, 0, 0, 2, 3)
    assert seeded.get_product("A1").values["price"]["EUR"] == "1299.00"


def test_amounts_with_more_places_than_are_kept_are_refused_not_rounded(seeded: Store, tmp_path: Path):
    """NUMERIC(18, 4) would round 1,00001 and 1,00002 to one tier: PostgreSQL then failed the whole upsert and
    SQLite kept two rows for one tier. Such a row is refused, naming the field; trailing zeros are no places."""
    path = write(tmp_path / "prices.csv", ["Kunde;Material;Menge;Preis;Ab;Bis", "C1;A1;1,00001;10;01.01.2026;",
                                           "C1;A1;1,00002;9;01.01.2026;", "C1;A1;10;8,123400;01.01.2026;",
                                           "C1;A1;20;7,12345;01.01.2026;"])
    counts = import_erp_csv(path, seeded, ErpCsvMap(**PRICE_MAP))
    assert (counts.read, counts.created, counts.rejected) == (4, 1, 3)
    rows = sorted(without_unknown_skus(seeded.quarantined(counts.job_id)), key=lambda r: r["line"])
    assert [(r["line"], r["field"]) for r in rows] == [(2, "min_qty"), (3, "min_qty"), (5, "price")]
    assert rows[2]["reason"] == "price: 7.12345 has more than 4 decimal places, which is more than is kept; round it in the source"
    assert _tiers(seeded, "C1", ["A1"]) == {"A1": [(Decimal(10), Decimal("8.1234"))]}
    stock = write(tmp_path / "stock.csv", ["sku,qty", "A1,0.33333", "A1,0.3333"])
    m = ErpCsvMap(kind="stock", sku_column="sku", columns={"qty": "quantity"})
    assert import_erp_csv(stock, seeded, m).rejected == 1
    assert stock_for(seeded, ["A1"])["A1"].quantity == Decimal("0.3333")


def test_stock_and_price_rows_for_skus_no_product_has_are_kept_and_reported(seeded: Store, tmp_path: Path):
    """Found exploring: rows naming unknown SKUs (a typo, an article the PIM does not manage) were taken in
    silently. They are still kept (a product imported later finds them) but counted, with a warning per file
    that names them and that a clean run closes."""
    run(seeded, write(tmp_path / "erp.csv", ["Material;Bezeichnung", "A1;Bohrer"]))
    stock_map = ErpCsvMap(kind="stock", delimiter=";", columns={"warehouse": "warehouse", "quantity": "quantity"})
    stock = write(tmp_path / "s.csv", ["sku;warehouse;quantity", "A1;HH;1", "A9;HH;2", "A9;MU;3", "B7;HH;4"])
    counts = import_erp_csv(stock, seeded, stock_map)
    assert (counts.updated, counts.extra["unknown_skus"]) == (4, 3)
    assert stock_for(seeded, ["A9"])["A9"].quantity == Decimal(5)  # kept
    [warning] = [e for e in seeded.quarantined() if e["file"] == "s.csv"]
    assert warning["severity"] == "warning" and "3 row(s) name SKUs no product has (first: A9, B7)" in warning["reason"]
    prices = write(tmp_path / "p.csv", ["Kunde;Material;Menge;Preis;Ab;Bis", "C1;A1;1;10,00;01.01.2026;"])
    assert "unknown_skus" not in import_erp_csv(prices, seeded, ErpCsvMap(**PRICE_MAP)).extra
    fixed = write(tmp_path / "s.csv", ["sku;warehouse;quantity", "A1;HH;1"])
    assert "unknown_skus" not in import_erp_csv(fixed, seeded, stock_map).extra
    assert not [e for e in seeded.quarantined() if e["file"] == "s.csv"]  # the clean run closed the warning
