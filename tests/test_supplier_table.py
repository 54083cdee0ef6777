"""Supplier CSV and XLSX through a mapping profile: matching, merging, typed cells and bad files."""

from datetime import UTC, date, datetime
from collections.abc import Callable
from pathlib import Path

import pytest

from importers.erp_values import ValueRule
from importers.supplier_table import SupplierTableMap, import_supplier_table, load_supplier_map
from pim.errors import InputError
from pim.product import Product, Provenance
from pim.sources import put_cross_references
from pim.store import Store
from pim.structure_files import load_structure_files, save_structure

STRUCTURE = Path(__file__).parent / "data" / "bmecat"
MAP = SupplierTableMap(
    source="supplier:acme", pid_column="Art-Nr", gtin_column="EAN", family="electrical", decimal=",", date_format="%d.%m.%Y",
    columns={"EAN": "ean", "Bezeichnung": "name:de_DE", "Gewicht": ValueRule(to="net_weight", unit="KILOGRAM"),
             "Hersteller": "manufacturer", "Preis": ValueRule(to="price", currency="EUR")},
)


@pytest.fixture
def sstore(store: Store) -> Store:
    save_structure(store, load_structure_files(STRUCTURE))
    return store


def _csv(tmp_path: Path, rows: list[str], name: str = "acme.csv") -> Path:
    path = tmp_path / name
    path.write_text("\n".join(["Art-Nr;EAN;Bezeichnung;Gewicht;Hersteller;Preis", *rows]) + "\n", encoding="utf-8")
    return path


def test_csv_rows_create_products_with_decimal_comma(sstore: Store, tmp_path: Path) -> None:
    counts = import_supplier_table(_csv(tmp_path, ["A1;4006381333931;Relais;0,25;ACME;12,5"]), sstore, MAP)
    p = sstore.get_product("A1")
    assert counts.created == 1 and p.family == "electrical"
    assert p.values["net_weight"] == {"amount": "0.25", "unit": "KILOGRAM"} and p.values["price"] == {"EUR": "12.50"}
    assert p.provenance_of("name:de_DE").ref == "acme.csv:2"


def test_cross_reference_wins_over_gtin(sstore: Store, tmp_path: Path) -> None:
    put_cross_references(sstore, "supplier:acme", [("A1", "OUR-1")])
    import_supplier_table(_csv(tmp_path, ["A1;4006381333931;Relais;0,25;ACME;12,5"]), sstore, MAP)
    assert sstore.get_product("OUR-1").values["manufacturer"] == "ACME" and sstore.get_product("A1") is None


def test_gtin_match_keeps_the_existing_family_and_erp_values(sstore: Store, tmp_path: Path) -> None:
    sstore.upsert_products([Product(identifier="SKU-7", family="electrical", values={"sku": "SKU-7", "ean": "4006381333931", "mpn": "X"},
                                    source=Provenance(source="erp", at=datetime.now(UTC)))])
    counts = import_supplier_table(_csv(tmp_path, ["A1;4006381333931;Relais;0,25;ACME;12,5"]), sstore, MAP)
    p = sstore.get_product("SKU-7")
    assert counts.updated == 1 and p.values["mpn"] == "X" and p.values["name:de_DE"] == "Relais"


@pytest.mark.parametrize("stored, given", [("4006381333931", "04006381333931"), ("04006381333931", "4006381333931"),
                                            ("036000291452", "0036000291452")])
def test_a_gtin_matches_whatever_zero_padding_either_side_writes(sstore: Store, tmp_path: Path, stored: str,
                                                                 given: str) -> None:
    """Found exploring: a GTIN-13 sent as GTIN-14 (a leading zero) was "no product has that GTIN"."""
    sstore.upsert_products([Product(identifier="SKU-7", family="electrical", values={"sku": "SKU-7", "ean": stored},
                                    source=Provenance(source="erp", at=datetime.now(UTC)))])
    counts = import_supplier_table(_csv(tmp_path, [f"A1;{given};Relais;0,25;ACME;12,5"]), sstore,
                                   MAP.model_copy(update={"unmatched": "quarantine"}))
    assert (counts.updated, counts.rejected) == (1, 0)
    assert sstore.get_product("SKU-7").values["name:de_DE"] == "Relais"


def test_a_gtin_two_products_carry_is_quarantined_not_matched_or_created(sstore: Store, tmp_path: Path) -> None:
    erp = Provenance(source="erp", at=datetime.now(UTC))
    sstore.upsert_products([Product(identifier=sku, family="electrical", values={"sku": sku, "ean": "4006381333931"}, source=erp)
                            for sku in ("SKU-7", "SKU-8")])
    counts = import_supplier_table(_csv(tmp_path, ["A1;4006381333931;Relais;0,25;ACME;12,5"]), sstore, MAP)
    assert (counts.created, counts.updated, counts.rejected) == (0, 0, 1) and sstore.get_product("A1") is None
    [row] = sstore.quarantined(counts.job_id)
    assert row["field"] == MAP.gtin_column and "belongs to 2 products (SKU-7, SKU-8)" in row["reason"]
    assert "manufacturer" not in sstore.get_product("SKU-7").values


def test_gtin_index_follows_later_catalog_edits(sstore: Store, tmp_path: Path) -> None:
    erp = Provenance(source="erp", at=datetime.now(UTC))
    sstore.upsert_products([Product(identifier="SKU-7", family="electrical", values={"sku": "SKU-7", "ean": "4006381333931"}, source=erp)])
    import_supplier_table(_csv(tmp_path, ["A0;4006381333931;Relais;0,25;ACME;12,5"]), sstore, MAP)  # indexes the catalog
    sstore.upsert_products([Product(identifier="SKU-7", family="electrical", values={"sku": "SKU-7", "ean": "4012345000009"}, source=erp),
                            Product(identifier="SKU-9", family="electrical", values={"sku": "SKU-9", "ean": "4006381333931"}, source=erp)])
    import_supplier_table(_csv(tmp_path, ["A1;4006381333931;Relais;0,25;ACME;12,5"]), sstore, MAP)
    assert sstore.get_product("SKU-9").values["manufacturer"] == "ACME"


def test_absent_column_changes_nothing_and_empty_cell_clears(sstore: Store, tmp_path: Path) -> None:
    import_supplier_table(_csv(tmp_path, ["A1;4006381333931;Relais;0,25;ACME;12,5"]), sstore, MAP)
    (tmp_path / "b.csv").write_text("Art-Nr;Bezeichnung;Hersteller\nA1;Relais 12 V;\n", encoding="utf-8")
    import_supplier_table(tmp_path / "b.csv", sstore, MAP)
    p = sstore.get_product("A1")
    assert "manufacturer" not in p.values and p.values["name:de_DE"] == "Relais 12 V"
    assert p.values["price"] == {"EUR": "12.50"}  # no Preis column: the price stays


def test_bad_cell_is_quarantined_with_column_and_raw_row(sstore: Store, tmp_path: Path) -> None:
    counts = import_supplier_table(_csv(tmp_path, ["A1;4006381333931;Relais;viel;ACME;1", "A2;;Zwei;1;ACME;2"]), sstore, MAP)
    assert (counts.created, counts.rejected) == (1, 1)
    [row] = sstore.quarantined(counts.job_id)
    assert (row["line"], row["field"], row["raw"]["Gewicht"]) == (2, "Gewicht", "viel") and "not a number" in row["reason"]


def test_unmatched_rows_are_quarantined_when_the_profile_says_so(sstore: Store, tmp_path: Path) -> None:
    m = MAP.model_copy(update={"unmatched": "quarantine"})
    counts = import_supplier_table(_csv(tmp_path, ["A1;4006381333931;Relais;1;ACME;1"]), sstore, m)
    assert counts.rejected == 1 and sstore.count_products() == 0


def _xlsx(tmp_path: Path, rows: list[list[object]], sheet: str = "Artikel") -> Path:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(["Lieferant ACME Preisliste"])  # a title row above the header, as real files have
    ws.append(["Art-Nr", "EAN", "Bezeichnung", "Gewicht", "Hersteller", "Preis", "Datum"])
    for r in rows:
        ws.append(r)
    path = tmp_path / "acme.xlsx"
    wb.save(path)
    return path


def test_xlsx_typed_cells_import(sstore: Store, tmp_path: Path) -> None:
    m = MAP.model_copy(update={"header_row": 2, "sheet": "Artikel"})
    path = _xlsx(tmp_path, [[1001, "4006381333931", "Relais", 0.25, "ACME", 12.5, date(2024, 3, 1)], [None] * 7,
                            ["1002", None, "Schalter", 2, "ACME", None, None]])
    counts = import_supplier_table(path, sstore, m)
    assert counts.created == 2 and counts.rejected == 0
    p = sstore.get_product("1001")
    assert p.values["net_weight"] == {"amount": "0.25", "unit": "KILOGRAM"} and p.values["price"] == {"EUR": "12.50"}
    assert p.provenance_of("ean").ref == "acme.xlsx:3"


def test_xlsx_missing_sheet_and_broken_file_get_clear_errors(sstore: Store, tmp_path: Path) -> None:
    path = _xlsx(tmp_path, [])
    with pytest.raises(InputError, match="no sheet 'Prices'"):
        import_supplier_table(path, sstore, MAP.model_copy(update={"sheet": "Prices", "header_row": 2}))
    fake = tmp_path / "fake.xlsx"
    fake.write_text("Art-Nr;EAN\n")
    with pytest.raises(InputError, match="not a readable XLSX"):
        import_supplier_table(fake, sstore, MAP)


def test_csv_without_the_pid_column_says_which_columns_it_found(sstore: Store, tmp_path: Path) -> None:
    path = tmp_path / "x.csv"
    path.write_text("sku,ean\n1,2\n")
    with pytest.raises(InputError, match="no 'Art-Nr' column") as exc:
        import_supplier_table(path, sstore, MAP)
    assert "delimiter" in exc.value.hint


def test_profile_is_loaded_from_yaml_with_field_errors(tmp_path: Path) -> None:
    good = tmp_path / "p.yaml"
    good.write_text("source: supplier:acme\npid_column: Art-Nr\ncolumns: {EAN: ean}\n")
    assert load_supplier_map(good).pid_column == "Art-Nr"
    bad = tmp_path / "q.yaml"
    bad.write_text("source: acme\npid_column: Art-Nr\n")
    with pytest.raises(InputError) as exc:
        load_supplier_map(bad)
    assert exc.value.field == "source"


def _repacked(path: Path, part: str, change: Callable[[str], str]) -> Path:
    """The workbook at `path` with one XML part rewritten by `change`."""
    import zipfile

    with zipfile.ZipFile(path) as source:
        parts = {name: source.read(name) for name in source.namelist()}
    parts[part] = change(parts[part].decode() if part in parts else "").encode()
    out = path.with_name("changed.xlsx")
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for name, data in parts.items():
            target.writestr(name, data)
    return out


@pytest.mark.parametrize("doctype", [
    '<!DOCTYPE worksheet [<!ENTITY x SYSTEM "file:///etc/hostname">]>',  # an external entity
    '<!DOCTYPE worksheet [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>',  # a bomb's start
])
def test_a_workbook_whose_xml_declares_entities_is_refused(sstore: Store, tmp_path: Path, doctype: str) -> None:
    """Excel never writes a DOCTYPE; one in any part of an XLSX is refused as in the XML importers (before, an
    entity in a sheet failed the import with the XML parser's traceback)."""
    path = _repacked(_xlsx(tmp_path, [["r1", None, "Relais"]]), "xl/worksheets/sheet1.xml",
                     lambda xml: xml.replace("<worksheet", doctype + "<worksheet", 1).replace("Relais", "&x;" if "x" in doctype else "&b;"))
    with pytest.raises(InputError, match="declares entities") as caught:
        import_supplier_table(path, sstore, MAP.model_copy(update={"header_row": 2}))
    assert caught.value.file == "changed.xlsx:xl/worksheets/sheet1.xml"
    assert sstore.get_product("r1") is None


def test_a_zip_bomb_and_oversized_shared_strings_are_refused(sstore: Store, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    import importers.workbook as workbook

    monkeypatch.setattr(workbook, "_BOMB_BYTES", 1024 * 1024)  # the real limits are 100 MiB at 500:1 and 256 MiB
    padded = _repacked(_xlsx(tmp_path, [["r1", None, "Relais"]]), "docProps/app.xml",
                       lambda xml: xml.replace("</Properties>", "<!--" + " " * 2_000_000 + "--></Properties>"))
    with pytest.raises(InputError, match="zip bomb"):
        import_supplier_table(padded, sstore, MAP.model_copy(update={"header_row": 2}))
    monkeypatch.setattr(workbook, "_MAX_SHARED_STRINGS", 100)
    shared = _repacked(_xlsx(tmp_path, [["r1", None, "Relais"]]), "xl/sharedStrings.xml",
                       lambda _: '<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
                                 + "<si><t>Relais</t></si>" * 10 + "</sst>")
    with pytest.raises(InputError, match="shared strings"):
        import_supplier_table(shared, sstore, MAP)


def test_a_sheet_cut_off_mid_way_says_which_row_it_reached(sstore: Store, tmp_path: Path) -> None:
    rows = [[f"r{n}", None, "Relais"] for n in range(1, 6)]
    path = _repacked(_xlsx(tmp_path, rows), "xl/worksheets/sheet1.xml", lambda xml: xml[: xml.index('<row r="5"') + 12])
    with pytest.raises(InputError, match="broken after row 4") as caught:
        import_supplier_table(path, sstore, MAP.model_copy(update={"header_row": 2}))
    assert caught.value.line == 5


def test_xlsx_header_mistakes_are_refused_like_csv_ones(sstore: Store, tmp_path: Path) -> None:
    """Found exploring: a repeated column in a workbook let the last one win, and a header_row past the sheet's
    end imported nothing and succeeded."""
    from openpyxl import Workbook

    wb = Workbook()
    wb.active.append(["Art-Nr", "Bezeichnung", "Bezeichnung"])
    wb.active.append(["A1", "Right", "Wrong"])
    wb.save(tmp_path / "twice.xlsx")
    with pytest.raises(InputError, match="'Bezeichnung' appears twice"):
        import_supplier_table(tmp_path / "twice.xlsx", sstore, MAP)
    path = _xlsx(tmp_path, [["1001", "4006381333931", "Relais", 0.25, "ACME", 12.5, None]])
    with pytest.raises(InputError, match="no row 10") as err:
        import_supplier_table(path, sstore, MAP.model_copy(update={"header_row": 10}))
    assert err.value.field == "header_row"
    assert sstore.get_product("A1") is None and sstore.get_product("1001") is None


def test_a_csv_without_the_pid_column_names_the_profile_field(sstore: Store, tmp_path: Path) -> None:
    (tmp_path / "c.csv").write_text("Art-Nr,EAN\nA1,1\n", encoding="utf-8")
    with pytest.raises(InputError) as err:
        import_supplier_table(tmp_path / "c.csv", sstore, MAP)
    assert "`pid_column`" in (err.value.hint or "")


def test_creating_never_merges_into_our_product_of_the_same_code(sstore: Store, tmp_path: Path, pim_env: Path) -> None:
    """Found exploring: with `unmatched: create`, a supplier id equal to one of our SKUs (no cross-reference, no
    GTIN match) was merged into that product. Now it is rejected until `pim import xref` says it is the same."""
    import json

    from typer.testing import CliRunner

    from pim.cli import _mount, app

    sstore.upsert_products([Product(identifier="P2", family="electrical", values={"sku": "P2", "mpn": "ours"},
                                    source=Provenance(source="erp", at=datetime.now(UTC)))])
    create = MAP.model_copy(update={"unmatched": "create"})
    path = _csv(tmp_path, ["P2;9999999999994;Fremdes Ding;1;ZZ Corp;1", "NEW1;;Neu;1;ZZ Corp;1"])
    counts = import_supplier_table(path, sstore, create)
    assert (counts.created, counts.updated, counts.rejected) == (1, 0, 1)
    assert "manufacturer" not in sstore.get_product("P2").values and sstore.get_product("NEW1") is not None
    [entry] = sstore.quarantined(counts.job_id)
    assert entry["record_key"] == "P2" and "pim import xref supplier:acme P2 P2" in entry["reason"]
    _mount()
    runner = CliRunner()
    assert runner.invoke(app, ["import", "xref", "supplier:acme", "P2", "NOPE"]).exit_code == 2
    done = runner.invoke(app, ["import", "xref", "supplier:acme", "P2", "P2"])
    assert done.exit_code == 0, done.output
    listed = json.loads(runner.invoke(app, ["import", "xref", "supplier:acme", "--json"]).output)
    assert [(r["source_pid"], r["sku"], r["matched_by"]) for r in listed] == [("NEW1", "NEW1", "created"), ("P2", "P2", "manual")]
    again = import_supplier_table(path, sstore, create)
    assert again.rejected == 0 and sstore.get_product("P2").values["manufacturer"] == "ZZ Corp"
    assert sstore.quarantined() == []  # the fixed row's rejection is closed


def test_several_files_on_the_command_line_give_one_json_document_and_a_failure_stops_none(
        sstore: Store, tmp_path: Path) -> None:
    """Found exploring: --json printed one document per file (no JSON reader takes that), and a file that
    failed ended the command, so the files after it were silently not imported."""
    import json

    import yaml
    from typer.testing import CliRunner

    from pim.cli import _mount, app

    _mount()
    profile = tmp_path / "acme.yaml"
    profile.write_text(yaml.safe_dump(MAP.model_dump(mode="json", exclude_defaults=True)), encoding="utf-8")
    good = _csv(tmp_path, ["A1;4006381333931;Relais;0,25;ACME;12,5"])
    empty = tmp_path / "empty.csv"
    empty.write_text("", encoding="utf-8")
    later = _csv(tmp_path, ["A2;;Schütz;1,5;ACME;30"], name="later.csv")
    args = ["import", "supplier", str(good), str(empty), str(later), "--map", str(profile)]
    result = CliRunner().invoke(app, [*args, "--json"])
    assert result.exit_code == 2, result.output
    first, failed, last = json.loads(result.stdout)
    assert (first["file"], first["created"], last["file"], last["created"]) == (str(good), 1, str(later), 1)
    assert failed["file"] == str(empty) and failed["exit_code"] == 2 and "empty" in failed["error"]
    assert sstore.get_product("A2").values["name:de_DE"] == "Schütz"  # the file after the failure was imported
    table = CliRunner().invoke(app, args)
    assert table.exit_code == 2 and "1 of 3 file(s) not imported: empty.csv" in table.output
    single = CliRunner().invoke(app, ["import", "supplier", str(good), "--map", str(profile), "--json"])
    assert single.exit_code == 0 and json.loads(single.stdout)["unchanged"] == 1  # one file: its counts, as before
