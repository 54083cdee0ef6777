"""Supplier tables, round 31: what onboarding real-shaped supplier files found. Two supplier ids sharing a
GTIN were merged into one product; Excel error values (#N/A) were stored as data; section-heading rows and a
text merged across columns became products and values; trailing delimiters rejected every row; a header
wrapped over two lines was not found; and an unplaced product's refusal said nothing of what to do."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from importers.erp_csv import ErpCsvMap
from importers.erp_values import ValueRule
from importers.supplier_table import SupplierTableMap, import_supplier_table
from pim import sources
from pim.errors import InputError
from pim.product import Product, Provenance
from pim.sources import cross_references, put_cross_references
from pim.store import Store
from pim.structure_files import load_structure_files, save_structure
from tests.source_data import seed_structure
from tests.test_erp_csv import run, write
from tests.test_supplier_table import MAP, STRUCTURE, _csv
from tests.test_workbook_cells import NAMES, _rejections, _values, _with_cell, _workbook

SOURCE = MAP.source
GTIN = "4006381333931"
QUARANTINE = MAP.model_copy(update={"unmatched": "quarantine"})


@pytest.fixture
def sstore(store: Store) -> Store:
    save_structure(store, load_structure_files(STRUCTURE))
    return store


@pytest.fixture
def seeded(store: Store) -> Store:
    seed_structure(store)
    return store


def _ours(store: Store, sku: str, gtin: str | None = None) -> None:
    values = {"sku": sku, **({"ean": gtin} if gtin else {})}
    store.upsert_products([Product(identifier=sku, family="electrical", values=values,
                                   source=Provenance(source="erp", at=datetime.now(UTC)))])


def _links(store: Store) -> dict[str, str]:
    return {x["source_pid"]: x["sku"] for x in cross_references(store, SOURCE)}


# ---------------------------------------------------------------- 1. two supplier ids, one GTIN


def test_two_supplier_ids_with_one_gtin_are_not_merged_into_one_product(sstore: Store, tmp_path: Path) -> None:
    """The unit and its 10-pack, the GTIN once as 13 and once as 14 digits: both were matched to SKU-7, its
    values mixed from both rows, and both ids went into the cross-reference, so every import did it again."""
    _ours(sstore, "SKU-7", GTIN)
    path = _csv(tmp_path, [f"EM-300;{GTIN};Sicherung;0,01;ACME;1,2", f"EM-301;0{GTIN};Sicherung 10er;0,1;ACME;11"])
    for run_no in (1, 2):
        counts = import_supplier_table(path, sstore, MAP)
        assert (counts.created, counts.rejected) == (0, 1) and counts.updated + counts.unchanged == 1
        [entry] = sstore.quarantined(counts.job_id)
        assert (entry["line"], entry["field"], entry["record_key"]) == (3, "EAN", "EM-301")
        assert entry["reason"] == (f"GTIN 0{GTIN} names SKU-7, which {SOURCE} product 'EM-300' (line 2) already stands "
                                   f"for: not matched; run `pim import xref {SOURCE} EM-301 SKU` with the right SKU, "
                                   "then import again"), run_no  # the second run: EM-300 by its cross-reference
        values = _values(sstore, "SKU-7")
        assert (values["name:de_DE"], values["price"]) == ("Sicherung", {"EUR": "1.20"})
        assert _links(sstore) == {"EM-300": "SKU-7"}


def test_a_gtin_naming_a_product_another_id_is_cross_referenced_to_is_refused_until_paired(sstore: Store,
                                                                                           tmp_path: Path) -> None:
    _ours(sstore, "SKU-7", GTIN)
    _ours(sstore, "SKU-8")
    put_cross_references(sstore, SOURCE, [("A1", "SKU-7")])
    path = _csv(tmp_path, [f"A9;{GTIN};Relais 10er;1;ACME;9"])
    counts = import_supplier_table(path, sstore, MAP)
    [entry] = sstore.quarantined(counts.job_id)
    assert counts.rejected == 1 and f"names SKU-7, which {SOURCE} product 'A1' (cross-referenced)" in entry["reason"]
    assert "name:de_DE" not in _values(sstore, "SKU-7")
    put_cross_references(sstore, SOURCE, [("A9", "SKU-8")])  # the fix the refusal names
    counts = import_supplier_table(path, sstore, MAP)
    assert (counts.updated, counts.rejected) == (1, 0) and _values(sstore, "SKU-8")["name:de_DE"] == "Relais 10er"


def test_a_product_matched_in_an_earlier_batch_is_named_with_its_line(sstore: Store, tmp_path: Path) -> None:
    _ours(sstore, "SKU-7", GTIN)
    sstore.batch_size = 1  # each row its own batch: the first match is in the cross-reference by the third row
    path = _csv(tmp_path, [f"EM-300;{GTIN};Sicherung;;;", "EM-400;;Schalter;;;", f"EM-301;{GTIN};Sicherung 10er;;;"])
    counts = import_supplier_table(path, sstore, MAP)
    assert (counts.updated, counts.created, counts.rejected) == (1, 1, 1)
    [entry] = sstore.quarantined(counts.job_id)
    assert entry["line"] == 4 and f"{SOURCE} product 'EM-300' (line 2) already stands for" in entry["reason"]


def test_the_ids_standing_for_gtin_matched_products_are_looked_up_once_per_batch(sstore: Store, tmp_path: Path,
                                                                                   monkeypatch: pytest.MonkeyPatch
                                                                                   ) -> None:
    for n, gtin in enumerate((GTIN, "4006381333948", "4006381333955")):
        _ours(sstore, f"SKU-{n}", gtin)
    looked_up: list[set[str]] = []
    real = sources._claimants

    def counted(store: Store, source: str, skus: set[str]) -> dict[str, list[str]]:
        looked_up.append(set(skus))
        return real(store, source, skus)

    monkeypatch.setattr(sources, "_claimants", counted)
    path = _csv(tmp_path, [f"B{n};{gtin};Teil;;;" for n, gtin in enumerate((GTIN, "4006381333948", "4006381333955"))])
    counts = import_supplier_table(path, sstore, MAP)
    assert (counts.updated, counts.rejected) == (3, 0)
    assert looked_up == [{"SKU-0", "SKU-1", "SKU-2"}]


# ---------------------------------------------------------------- 2. Excel error values


def _error_book(tmp_path: Path, name: str, rows: list[list[object]]) -> Path:
    return _workbook(tmp_path / name, [["Art-Nr", "EAN", "Bezeichnung", "Gewicht", "Hersteller", "Preis", "Datum"],
                                       *rows])


def test_an_excel_error_value_rejects_its_row_naming_the_cell_and_the_error(sstore: Store, tmp_path: Path) -> None:
    """A VLOOKUP that found nothing: its cached value #N/A was stored as the product's name."""
    import_supplier_table(_error_book(tmp_path, "first.xlsx", [["1001", None, "Relais", 0.25, "ACME", 12.5]]),
                          sstore, MAP)
    path = _error_book(tmp_path, "acme.xlsx", [["1001", None, "=VLOOKUP(A2,X!A:B,2,0)", 0.25, "ACME", 13.5],
                                               ["1002", None, "Schalter", 1, "ACME", 2, "=1/0"]])
    _with_cell(path, "C2", '<c r="C2" t="e"><f>VLOOKUP(A2,X!A:B,2,0)</f><v>#N/A</v></c>')
    _with_cell(path, "G3", '<c r="G3" t="e"><f>1/0</f><v>#DIV/0!</v></c>')  # a column the profile does not read
    counts = import_supplier_table(path, sstore, MAP)
    assert (counts.created, counts.rejected) == (1, 1)
    entry = _rejections(sstore, counts.job_id)[2]
    assert (entry["field"], entry["record_key"]) == ("Bezeichnung", "1001")
    assert entry["reason"].startswith("cell C2 holds the error #N/A: correct the formula")
    assert _values(sstore, "1001")["name:de_DE"] == "Relais" and _values(sstore, "1001")["price"] == {"EUR": "12.50"}
    assert _values(sstore, "1002")["name:de_DE"] == "Schalter"


def test_an_error_typed_into_a_sheet_with_no_formula_is_found_too(sstore: Store, tmp_path: Path) -> None:
    """No formula and no merged range: the sheet's XML is not parsed, only searched, for these."""
    path = _error_book(tmp_path, "acme.xlsx", [["1001", None, "Relais", 0.25, "ACME", 12.5],
                                               ["1002", None, "Schalter", 1, "ACME", 2]])
    _with_cell(path, "F3", '<c r="F3" t="e"><v>#REF!</v></c>')
    counts = import_supplier_table(path, sstore, MAP)
    assert (counts.created, counts.rejected) == (1, 1) and sstore.get_product("1002") is None
    entry = _rejections(sstore, counts.job_id)[3]
    assert entry["field"] == "Preis" and entry["reason"].startswith("cell F3 holds the error #REF!")


def test_an_error_in_the_header_refuses_the_file(sstore: Store, tmp_path: Path) -> None:
    path = _error_book(tmp_path, "acme.xlsx", [["1001", None, "Relais", 0.25, "ACME", 12.5]])
    _with_cell(path, "C1", '<c r="C1" t="e"><f>X!A1</f><v>#REF!</v></c>')
    with pytest.raises(InputError, match="header cell C1 holds the error #REF!"):
        import_supplier_table(path, sstore, MAP)
    assert sstore.get_product("1001") is None


# ---------------------------------------------------------------- 3. section headings, 4. merged across


def test_section_heading_rows_are_skipped_with_one_warning_not_created(sstore: Store, tmp_path: Path) -> None:
    path = _csv(tmp_path, ["Kabelbinder;;;;;", "A1;;Relais;0,25;ACME;12,5", "Relais und Schütze;;;;;;"])
    counts = import_supplier_table(path, sstore, MAP)
    assert (counts.read, counts.created, counts.rejected) == (1, 1, 0) and counts.extra["heading_rows"] == 2
    assert sstore.get_product("Kabelbinder") is None and _links(sstore) == {"A1": "A1"}
    [warning] = sstore.quarantined(counts.job_id)
    assert (warning["severity"], warning["field"]) == ("warning", "Art-Nr")
    assert "2 row(s) have only 'Art-Nr' filled" in warning["reason"]
    assert "lines 2 (Kabelbinder), 4 (Relais und Schütze)" in warning["reason"]
    counts = import_supplier_table(_csv(tmp_path, ["A1;;Relais;0,25;ACME;12,5"], "b.csv"), sstore, MAP)
    assert counts.unchanged == 1 and len(sstore.quarantined(severity="warning")) == 1  # the other file's stays
    import_supplier_table(_csv(tmp_path, ["A1;;Relais;0,25;ACME;12,5"]), sstore, MAP)
    assert not sstore.quarantined(severity="warning")  # the file's next run without headings closes it


def test_a_text_merged_across_columns_is_not_copied_into_the_next_column(sstore: Store, tmp_path: Path) -> None:
    """A long German name merged over Name DE and Name EN was stored as the English name too; a heading merged
    across the whole row became a product whose every value was the heading."""
    path = _workbook(tmp_path / "names.xlsx", [["Art-Nr", "Name DE", "Name EN", "Hersteller"],
                                               ["1001", "Sehr langer Name über zwei Spalten", None, "ACME"],
                                               ["Relais und Schütze"],
                                               ["1002", "Schalter", "Switch", "ACME"]], ("B2:C2", "A3:D3"))
    counts = import_supplier_table(path, sstore, NAMES)
    assert (counts.created, counts.rejected, counts.extra["heading_rows"]) == (2, 0, 1)
    values = _values(sstore, "1001")
    assert values["name:de_DE"] == "Sehr langer Name über zwei Spalten" and "name:en_US" not in values
    assert sstore.get_product("Relais und Schütze") is None


# ---------------------------------------------------------------- 5. trailing delimiters


def test_trailing_empty_cells_are_dropped_and_extra_filled_ones_say_so(sstore: Store, tmp_path: Path) -> None:
    path = _csv(tmp_path, ["A1;;Relais;0,25;ACME;12,5;;", "A2;;Zwei;1;ACME;2;;x", "A3;;Drei"])
    counts = import_supplier_table(path, sstore, MAP)
    assert (counts.created, counts.rejected) == (1, 2) and _values(sstore, "A1")["price"] == {"EUR": "12.50"}
    rejected = _rejections(sstore, counts.job_id)
    assert rejected[3]["reason"].startswith("the row has 8 cells, more cells than the header (6)")
    assert "truncated" not in rejected[3]["reason"]
    assert rejected[4]["reason"] == "the row has 3 cells, the header has 6 (truncated row or wrong delimiter)"


def test_an_erp_row_with_trailing_delimiters_is_read(seeded: Store, tmp_path: Path) -> None:
    counts = run(seeded, write(tmp_path / "erp.csv", ["Material;Bezeichnung;ME", "A1;Bohrer;ST;;;"]))
    assert (counts.created, counts.rejected) == (1, 0) and seeded.get_product("A1").values["name:de_DE"] == "Bohrer"


# ---------------------------------------------------------------- 6. header names and their spaces


def test_a_header_wrapped_over_two_lines_finds_its_profile_column(sstore: Store, tmp_path: Path) -> None:
    m = MAP.model_copy(update={"columns": {"Bezeichnung": "name:de_DE",
                                           "Listenpreis EUR": ValueRule(to="price", currency="EUR")}})
    book = _workbook(tmp_path / "acme.xlsx", [["Art-Nr", "Bezeichnung", "Listenpreis\nEUR"], ["1001", "Relais", 12.5]])
    counts = import_supplier_table(book, sstore, m)
    assert counts.created == 1 and "unread_map_fields" not in counts.extra
    assert _values(sstore, "1001")["price"] == {"EUR": "12.50"}
    (tmp_path / "acme.csv").write_text('Art-Nr;Bezeichnung;"Listenpreis\nEUR "\n1002;Lampe;3,5\n', encoding="utf-8")
    import_supplier_table(tmp_path / "acme.csv", sstore, m)
    assert _values(sstore, "1002")["price"] == {"EUR": "3.50"}


def test_an_erp_header_with_a_no_break_space_finds_its_map_column(seeded: Store, tmp_path: Path) -> None:
    counts = run(seeded, write(tmp_path / "erp.csv", ["Material;Preis\u00a0EUR", "A1;1.299,00"], encoding="utf-8"),
                 encoding="utf-8")
    assert counts.created == 1 and seeded.get_product("A1").values["price"] == {"EUR": "1299.00"}


def test_a_profile_column_with_doubled_spaces_matches_and_two_names_that_become_one_are_refused(
        sstore: Store, tmp_path: Path) -> None:
    m = SupplierTableMap(source=SOURCE, pid_column=" Art-Nr", family="electrical",
                         columns={"Bezeichnung  DE": "name:de_DE"})
    assert (m.pid_column, list(m.columns)) == ("Art-Nr", ["Bezeichnung DE"])
    (tmp_path / "a.csv").write_text("Art-Nr;Bezeichnung DE\n1001;Relais\n", encoding="utf-8")
    import_supplier_table(tmp_path / "a.csv", sstore, m)
    assert _values(sstore, "1001")["name:de_DE"] == "Relais"
    with pytest.raises(ValidationError, match="columns 'Preis EUR' and 'Preis\\\\nEUR' name one column"):
        ErpCsvMap(columns={"Preis EUR": "price", "Preis\nEUR": "price"})


def test_two_header_cells_that_differ_only_in_spaces_are_one_column_twice(sstore: Store, tmp_path: Path) -> None:
    m = MAP.model_copy(update={"columns": {"Preis EUR": ValueRule(to="price", currency="EUR")}})
    (tmp_path / "a.csv").write_text('Art-Nr;Preis EUR;"Preis\nEUR"\n1001;1,5;2,5\n', encoding="utf-8")
    with pytest.raises(InputError, match="column 'Preis EUR' appears twice in the header"):
        import_supplier_table(tmp_path / "a.csv", sstore, m)
    assert sstore.get_product("1001") is None


# ---------------------------------------------------------------- 7. what to do with an unplaced product


def test_an_unplaced_product_s_refusal_says_how_to_place_it(sstore: Store, tmp_path: Path) -> None:
    _ours(sstore, "A6")
    path = _csv(tmp_path, ["A5;4006381333955;Relais;;;", "A6;;Schalter;;;"])
    counts = import_supplier_table(path, sstore, QUARANTINE)
    assert counts.rejected == 2
    rejected = _rejections(sstore, counts.job_id)
    assert rejected[2]["reason"] == (f"no SKU for {SOURCE} product 'A5' (GTIN 4006381333955): not in the "
                                     f"cross-reference and no product has that GTIN; run `pim import xref {SOURCE} A5 "
                                     "SKU` to place it, or set `unmatched: create`")
    assert rejected[3]["reason"].endswith(f"; our product 'A6' has its code: if it is that one, run `pim import xref "
                                          f"{SOURCE} A6 A6`")


def test_guard_a_price_update_s_refusal_keeps_its_own_next_step(store: Store, tmp_path: Path) -> None:
    """Guard (passes before round 31 too): the quarantine hint is not added to a T_UPDATE_PRICES refusal, which
    never creates, so `unmatched: create` would be wrong advice there."""
    from importers.bmecat import import_bmecat
    from tests.test_supplier_gtin import bmecat_map, catalog, with_pack_gtin
    from tests.test_supplier_gtin_ids import intl, product, rejections

    gstore = with_pack_gtin(store)
    import_bmecat(catalog(tmp_path / "u.xml", product("r1", intl("4006381333955")), transaction="T_UPDATE_PRICES"),
                  gstore, bmecat_map())
    [row] = rejections(gstore)
    assert row["reason"].startswith("T_UPDATE_PRICES never creates products")
    assert "unmatched: create" not in row["reason"] and row["reason"].count("pim import xref") == 1
