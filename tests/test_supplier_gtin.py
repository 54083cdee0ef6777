"""Supplier imports (BMEcat, CSV/XLSX) check GTINs as the ERP importers do (tests/test_erp_gtin.py): a GTIN
with a wrong check digit or length is left out of the record (a stored GTIN stays) and noted as a `problem`
entry with file, line, field and the expected digit, while the rest of the product is taken in. Also, a bad
GTIN is never the fallback for matching a supplier product to our SKU: without a cross-reference the product is
refused (under `unmatched: create` too, as created it could duplicate one of ours), and the problem (or the
refusal) says so. Products with several GTIN ids: tests/test_supplier_gtin_ids.py."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from importers.bmecat import BmecatMap, FeatureTarget, import_bmecat, load_map
from importers.bmecat_reader import BmecatHeader, read_bmecat
from importers.erp_values import GTIN_HINT, bad_gtins
from importers.gtin_check import REASON_SHOWN, gtin_reason, supplier_hint
from importers.supplier_table import SupplierTableMap, import_supplier_table
from pim.importing import ImportCounts
from pim.product import Product, Provenance
from pim.quality import gtin_problem
from pim.sources import cross_references, put_cross_references
from pim.store import Store
from pim.structure import Attribute, AttributeType
from pim.structure_files import load_structure_files, save_structure
from tests.conftest import BMECAT_DIR, ROOT

GOOD, BAD, OTHER_GOOD = "4006381333931", "4006381333932", "4006381333948"
STRUCTURE = Path(__file__).parent / "data" / "bmecat"
BMECAT_MAP = ROOT / "importers" / "maps" / "bmecat_eclass_example.yaml"
REAL = sorted(BMECAT_DIR.glob("WEI_BMECat_*.xml"))
ACME = "supplier:acme"
WEID = "supplier:weidmueller"


@pytest.fixture
def sstore(store: Store) -> Store:
    return with_pack_gtin(store)


def with_pack_gtin(store: Store) -> Store:
    """The supplier test structure plus `pack_gtin`, a second attribute holding GTINs."""
    files = load_structure_files(STRUCTURE)
    files.attributes.append(Attribute(code="pack_gtin", type=AttributeType.text))
    [electrical] = [f for f in files.families if f.code == "electrical"]
    electrical.attributes.append("pack_gtin")
    save_structure(store, files)
    return store


def ours(store: Store, sku: str, ean: str) -> None:
    """A product of ours from the ERP carrying `ean` (stored before GTINs were checked, when it is bad)."""
    store.upsert_products([Product(identifier=sku, family="electrical", source=Provenance(source="erp", at=datetime.now(UTC)),
                                   values={"sku": sku, "ean": ean, "mpn": "ERP-MPN"})])


def adds_up(counts: ImportCounts) -> bool:
    return counts.read == counts.created + counts.updated + counts.unchanged + counts.rejected


def open_problems(store: Store) -> list[dict]:
    return store.quarantined(severity="problem")


# ---------------------------------------------------------------------------------------------- BMEcat
def product(pid: str, ean: str, *, gtin_element: str = "EAN", height: str = "27,5") -> str:
    ean_xml = f"<EAN>{ean}</EAN>" if gtin_element == "EAN" else f'<INTERNATIONAL_PID type="gtin">{ean}</INTERNATIONAL_PID>'
    return (f"<PRODUCT><SUPPLIER_PID>{pid}</SUPPLIER_PID><PRODUCT_DETAILS>\n"
            f'<DESCRIPTION_SHORT lang="eng">Relay {pid}</DESCRIPTION_SHORT>\n{ean_xml}</PRODUCT_DETAILS>\n'
            "<PRODUCT_FEATURES><REFERENCE_FEATURE_SYSTEM_NAME>ECLASS-9.0</REFERENCE_FEATURE_SYSTEM_NAME>"
            f"<FEATURE><FNAME>0173-1#02-BAA020#007</FNAME><FVALUE>{height}</FVALUE><FUNIT>MMT</FUNIT></FEATURE>"
            "</PRODUCT_FEATURES></PRODUCT>")


def catalog(path: Path, *products: str, transaction: str = "T_NEW_CATALOG") -> Path:
    path.write_text('<?xml version="1.0" encoding="UTF-8"?>\n<BMECAT version="2005" xmlns="http://www.bmecat.org/bmecat/2005">\n'
                    "<HEADER><CATALOG><LANGUAGE>eng</LANGUAGE><CURRENCY>EUR</CURRENCY></CATALOG></HEADER>\n"
                    f"<{transaction}>\n" + "\n".join(products) + f"\n</{transaction}>\n</BMECAT>\n", encoding="utf-8")
    return path


def bmecat_map(**update) -> BmecatMap:
    return load_map(BMECAT_MAP).model_copy(update={"references": {}, **update})


def test_bmecat_bad_ean_is_left_out_and_the_rest_taken_in(sstore: Store, tmp_path: Path) -> None:
    ours(sstore, "SKU-9", GOOD)
    put_cross_references(sstore, WEID, [("r1", "SKU-9")])
    counts = import_bmecat(catalog(tmp_path / "c.xml", product("r1", BAD), product("r2", OTHER_GOOD)), sstore, bmecat_map())
    assert (counts.read, counts.created, counts.updated, counts.rejected, counts.problems) == (2, 1, 1, 0, 1)
    assert adds_up(counts)
    p = sstore.get_product("SKU-9")
    assert p.values["ean"] == GOOD and p.provenance_of("ean").source == "erp"  # the stored GTIN stays
    assert p.values["height"] == {"amount": "27.5", "unit": "MILLIMETER"} and p.values["name:en_US"] == "Relay r1"
    assert sstore.get_product("r2").values["ean"] == OTHER_GOOD
    [entry] = sstore.quarantined(counts.job_id)
    assert (entry["severity"], entry["file"], entry["line"], entry["field"], entry["record_key"]) == (
        "problem", "c.xml", 7, "EAN", "SKU-9")  # the EAN element's line (its PRODUCT starts on line 5)
    assert entry["reason"] == (f"GTIN {BAD} has check digit 2, expected 1; left out (a stored GTIN stays), not used for "
                               "matching (no cross-reference: quarantined); ask the supplier to fix it")
    assert len(entry["reason"]) <= REASON_SHOWN


def test_bmecat_bad_ean_is_not_matched_on_and_the_product_is_not_created_either(sstore: Store, tmp_path: Path) -> None:
    """Before round 27, a supplier EAN equal to a bad one stored on our product merged the supplier's data into
    it and remembered the match in the cross-reference; round 27 created the product apart under its PID. Now,
    with no cross-reference, it is refused under `unmatched: create` too: it may be ours (SKU-9 is)."""
    ours(sstore, "SKU-9", BAD)
    counts = import_bmecat(catalog(tmp_path / "c.xml", product("r1", BAD)), sstore, bmecat_map())
    assert (counts.created, counts.updated, counts.rejected, counts.problems) == (0, 0, 1, 0) and adds_up(counts)
    assert "height" not in sstore.get_product("SKU-9").values and sstore.get_product("r1") is None
    assert cross_references(sstore, WEID) == []
    [row] = sstore.quarantined(counts.job_id, severity="rejected")
    assert (row["field"], row["record_key"], row["line"]) == ("EAN", "r1", 7)  # the EAN's line (round 29)
    assert row["reason"].startswith(f"{gtin_problem(BAD)}; not created: it may be one of ours")


def test_bmecat_bad_ean_under_unmatched_quarantine_refuses_the_product_saying_why(sstore: Store, tmp_path: Path) -> None:
    ours(sstore, "SKU-9", BAD)
    m = bmecat_map(unmatched="quarantine", tier_price_list=None)
    counts = import_bmecat(catalog(tmp_path / "c.xml", product("r1", BAD), product("r2", "12345")), sstore, m)
    assert (counts.created, counts.updated, counts.rejected, counts.problems) == (0, 0, 2, 0) and adds_up(counts)
    assert sstore.get_product("r1") is None and "height" not in sstore.get_product("SKU-9").values
    rows = sorted(sstore.quarantined(counts.job_id), key=lambda e: e["line"])
    assert [(r["severity"], r["field"], r["record_key"], r["line"]) for r in rows] == [
        ("rejected", "EAN", "r1", 7), ("rejected", "EAN", "r2", 11)]  # the EANs' lines (round 29)
    assert rows[0]["reason"] == (f"{gtin_problem(BAD)}; a bad GTIN is not matched on, and {WEID} product 'r1' is not in "
                                 f"the cross-reference: ask the supplier to fix it, or add it with `pim import xref {WEID} r1 SKU`")
    assert rows[1]["reason"].startswith("'12345' is not a GTIN (8, 12, 13 or 14 digits); a bad GTIN is not matched on")


def test_bmecat_xref_matched_product_with_bad_ean_is_taken_in_under_unmatched_quarantine(sstore: Store,
                                                                                         tmp_path: Path) -> None:
    ours(sstore, "SKU-9", GOOD)
    put_cross_references(sstore, WEID, [("r1", "SKU-9")])
    counts = import_bmecat(catalog(tmp_path / "c.xml", product("r1", BAD)), sstore, bmecat_map(unmatched="quarantine"))
    assert (counts.updated, counts.rejected, counts.problems) == (1, 0, 1)
    [entry] = open_problems(sstore)
    assert entry["reason"].endswith("not used for matching (no cross-reference: quarantined); ask the supplier to fix it")


def test_bmecat_international_pid_is_named_and_ean_only_used_for_matching_still_checked(sstore: Store,
                                                                                        tmp_path: Path) -> None:
    """A map that does not store the EAN still matches on it (`sku_from: xref`): a bad one is noted as not
    matched on, under the element it came from."""
    m = bmecat_map(fields={"short": "name"})
    ours(sstore, "SKU-9", GOOD)
    put_cross_references(sstore, WEID, [("r1", "SKU-9")])
    counts = import_bmecat(catalog(tmp_path / "c.xml", product("r1", BAD, gtin_element="INTERNATIONAL_PID")), sstore, m)
    assert (counts.updated, counts.problems) == (1, 1) and sstore.get_product("SKU-9").values["ean"] == GOOD
    [entry] = open_problems(sstore)
    assert (entry["field"], entry["line"]) == ("INTERNATIONAL_PID", 7)
    assert entry["reason"] == (f"{gtin_problem(BAD)}; not used for matching (no cross-reference: quarantined); ask the "
                               "supplier to fix it")


def test_bmecat_new_catalog_keeps_the_suppliers_good_ean_and_a_fixed_file_closes_the_problem(sstore: Store,
                                                                                              tmp_path: Path) -> None:
    """A T_NEW_CATALOG withdraws what the supplier no longer sends; a bad EAN was sent, so the good one it sent
    before is held, not withdrawn (`Mapped.held`). An unchanged re-run notes the problem again, once."""
    m = bmecat_map()
    import_bmecat(catalog(tmp_path / "c.xml", product("r1", GOOD)), sstore, m)
    bad = import_bmecat(catalog(tmp_path / "c.xml", product("r1", BAD, height="30")), sstore, m)
    assert (bad.updated, bad.problems) == (1, 1) and bad.extra.get("withdrawn_unsent") is None
    p = sstore.get_product("r1")
    assert p.values["ean"] == GOOD and p.values["height"]["amount"] == "30"
    again = import_bmecat(catalog(tmp_path / "c.xml", product("r1", BAD, height="30")), sstore, m)
    assert (again.unchanged, again.problems) == (1, 1)
    assert [e["job_id"] for e in open_problems(sstore)] == [again.job_id]
    fixed = import_bmecat(catalog(tmp_path / "c.xml", product("r1", OTHER_GOOD, height="30")), sstore, m)
    assert (fixed.updated, fixed.problems) == (1, 0) and open_problems(sstore) == []
    assert sstore.get_product("r1").values["ean"] == OTHER_GOOD


def test_bmecat_price_update_with_a_bad_ean_is_refused_saying_why(sstore: Store, tmp_path: Path) -> None:
    ours(sstore, "SKU-9", BAD)
    price = ("<PRODUCT mode='update'><SUPPLIER_PID>r1</SUPPLIER_PID><PRODUCT_DETAILS>"
             f"<DESCRIPTION_SHORT lang='eng'>x</DESCRIPTION_SHORT><EAN>{BAD}</EAN></PRODUCT_DETAILS><PRODUCT_PRICE_DETAILS>"
             "<PRODUCT_PRICE price_type='net_customer'><PRICE_AMOUNT>11.00</PRICE_AMOUNT></PRODUCT_PRICE>"
             "</PRODUCT_PRICE_DETAILS></PRODUCT>")
    counts = import_bmecat(catalog(tmp_path / "u.xml", price, transaction="T_UPDATE_PRICES"), sstore, bmecat_map())
    assert (counts.updated, counts.rejected) == (0, 1) and "price" not in sstore.get_product("SKU-9").values
    [row] = sstore.quarantined(counts.job_id, severity="rejected")
    assert row["field"] == "EAN" and row["reason"].startswith("T_UPDATE_PRICES never creates products")
    assert f"{gtin_problem(BAD)}; a bad GTIN is not matched on, and {WEID} product 'r1' is not in the cross-reference" \
        in row["reason"] and row["reason"].endswith("then import the prices again")


def test_bmecat_gtin_feature_is_checked_as_any_value_bound_for_a_gtin_attribute(sstore: Store, tmp_path: Path) -> None:
    gtin_feature = "0173-1#02-AAO663#003"
    m = bmecat_map(features={gtin_feature: FeatureTarget(attribute="pack_gtin")})
    body = product("r1", GOOD).replace("</PRODUCT_FEATURES>", f"<FEATURE><FNAME>{gtin_feature}</FNAME><FVALUE>{BAD}"
                                       "</FVALUE></FEATURE></PRODUCT_FEATURES>")
    counts = import_bmecat(catalog(tmp_path / "c.xml", body), sstore, m)
    assert (counts.created, counts.problems) == (1, 1)
    p = sstore.get_product("r1")
    assert p.values["ean"] == GOOD and "pack_gtin" not in p.values
    [entry] = open_problems(sstore)
    assert entry["field"] == gtin_feature
    assert entry["reason"] == f"{gtin_problem(BAD)}; left out (a stored GTIN stays); ask the supplier to fix it"


def test_real_catalogs_have_valid_gtins_and_import_without_gtin_problems(sstore: Store) -> None:
    """The four Weidmüller files in ../shared/bmecat carry one EAN each, all valid: no GTIN problem, and each
    product's EAN is stored (the counts tests/test_bmecat.py asserts stand)."""
    eans = {}
    for path in REAL:
        [p] = list(read_bmecat(path, BmecatHeader()))
        eans[path.name] = p.ean
    assert len(eans) == 4 and all(gtin_problem(ean) is None for ean in eans.values()), eans
    m = load_map(BMECAT_MAP)
    totals = [import_bmecat(path, sstore, m) for path in REAL]
    assert [(t.created, t.rejected) for t in totals] == [(1, 0)] * 4
    assert not [e for e in open_problems(sstore) if e["field"] in ("EAN", "INTERNATIONAL_PID")]
    assert {sstore.get_product(name[11:-4]).values["ean"] for name in eans} == set(eans.values())


# ---------------------------------------------------------------------------------------------- supplier CSV/XLSX
TABLE = SupplierTableMap(source=ACME, pid_column="Art-Nr", gtin_column="EAN", family="electrical", decimal=",",
                         columns={"EAN": "ean", "Bezeichnung": "name:de_DE", "Hersteller": "manufacturer",
                                  "Pack-GTIN": "pack_gtin"})
HEADER = "Art-Nr;EAN;Bezeichnung;Hersteller;Pack-GTIN"


def table(path: Path, *rows: str, header: str = HEADER) -> Path:
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def test_table_bad_gtin_is_left_out_and_the_rest_of_the_row_taken_in(sstore: Store, tmp_path: Path) -> None:
    ours(sstore, "SKU-7", GOOD)
    put_cross_references(sstore, ACME, [("A1", "SKU-7")])
    counts = import_supplier_table(table(tmp_path / "acme.csv", f"A1;{BAD};Relais;ACME;", f"A2;{OTHER_GOOD};Zwei;ACME;"),
                                   sstore, TABLE)
    assert (counts.read, counts.created, counts.updated, counts.rejected, counts.problems) == (2, 1, 1, 0, 1)
    assert adds_up(counts)
    p = sstore.get_product("SKU-7")
    assert p.values["ean"] == GOOD and p.values["manufacturer"] == "ACME" and p.values["name:de_DE"] == "Relais"
    assert sstore.get_product("A2").values["ean"] == OTHER_GOOD
    [entry] = sstore.quarantined(counts.job_id)
    assert (entry["severity"], entry["file"], entry["line"], entry["field"], entry["record_key"]) == (
        "problem", "acme.csv", 2, "EAN", "SKU-7")
    assert entry["reason"] == (f"GTIN {BAD} has check digit 2, expected 1; left out (a stored GTIN stays), not used for "
                               "matching (no cross-reference: quarantined); ask the supplier to fix it")
    assert entry["raw"]["EAN"] == BAD  # the row as read, as an ERP problem entry has it


def test_table_bad_gtin_is_not_matched_on(sstore: Store, tmp_path: Path) -> None:
    """Nor, without a cross-reference, created apart under `unmatched: create`: refused (SKU-7 may be it)."""
    ours(sstore, "SKU-7", BAD)
    path = table(tmp_path / "acme.csv", f"A1;{BAD};Relais;ACME;")
    refused = import_supplier_table(path, sstore, TABLE)
    assert (refused.created, refused.updated, refused.rejected, refused.problems) == (0, 0, 1, 0)
    assert "manufacturer" not in sstore.get_product("SKU-7").values and sstore.get_product("A1") is None
    assert cross_references(sstore, ACME) == []


def test_table_bad_gtin_under_unmatched_quarantine_is_refused_under_the_gtin_column(sstore: Store, tmp_path: Path) -> None:
    ours(sstore, "SKU-7", BAD)
    m = TABLE.model_copy(update={"unmatched": "quarantine"})
    counts = import_supplier_table(table(tmp_path / "acme.csv", f"A1;{BAD};Relais;ACME;", ";;Leer;;", "A3;;Drei;ACME;"),
                                   sstore, m)
    assert (counts.created, counts.updated, counts.rejected, counts.problems) == (0, 0, 3, 0) and adds_up(counts)
    rows = sorted(sstore.quarantined(counts.job_id), key=lambda e: e["line"])
    assert [(r["line"], r["field"]) for r in rows] == [(2, "EAN"), (3, "Art-Nr"), (4, "pid")]
    assert rows[0]["reason"].startswith(f"{gtin_problem(BAD)}; a bad GTIN is not matched on, and {ACME} product 'A1'")
    assert f"pim import xref {ACME} A1 SKU" in rows[0]["reason"] and rows[0]["raw"]["EAN"] == BAD
    assert "bad GTIN" not in rows[2]["reason"]  # a row without a GTIN is refused as before


def test_table_bad_gtin_of_a_product_whose_code_is_ours_is_refused_and_says_why(sstore: Store, tmp_path: Path) -> None:
    """Before round 27, the bad GTIN (stored on ours too) matched it; then it was refused for having our code.
    Now it is refused for its bad GTIN, under the GTIN column, naming the cross-reference that would link it."""
    ours(sstore, "A1", BAD)
    counts = import_supplier_table(table(tmp_path / "acme.csv", f"A1;{BAD};Relais;ACME;"), sstore, TABLE)
    assert (counts.updated, counts.rejected) == (0, 1) and "manufacturer" not in sstore.get_product("A1").values
    [row] = sstore.quarantined(counts.job_id)
    assert row["field"] == "EAN" and f"`pim import xref {ACME} A1 SKU`" in row["reason"]
    assert row["reason"].startswith(f"{gtin_problem(BAD)}; not created: it may be one of ours")


def test_table_gtin_column_only_matched_on_and_another_gtin_column(sstore: Store, tmp_path: Path) -> None:
    """The GTIN column need not be stored: a bad one is then only not matched on. Any other column bound for an
    attribute holding GTINs is checked too, and only left out."""
    m = TABLE.model_copy(update={"columns": {"Bezeichnung": "name:de_DE", "Pack-GTIN": "pack_gtin"}})
    ours(sstore, "A1", OTHER_GOOD)
    put_cross_references(sstore, ACME, [("A1", "A1")])
    counts = import_supplier_table(table(tmp_path / "acme.csv", f"A1;{BAD};Relais;ACME;{GOOD}", f"A2;{GOOD};Zwei;ACME;{BAD}"),
                                   sstore, m)
    assert (counts.updated, counts.created, counts.problems) == (1, 1, 2)
    assert sstore.get_product("A1").values["pack_gtin"] == GOOD and "pack_gtin" not in sstore.get_product("A2").values
    by_key = {e["record_key"]: e for e in open_problems(sstore)}
    assert (by_key["A1"]["field"], by_key["A2"]["field"]) == ("EAN", "Pack-GTIN")
    assert by_key["A1"]["reason"] == (f"{gtin_problem(BAD)}; not used for matching (no cross-reference: quarantined); "
                                      "ask the supplier to fix it")
    assert by_key["A2"]["reason"] == f"{gtin_problem(BAD)}; left out (a stored GTIN stays); ask the supplier to fix it"


def test_table_rerun_notes_once_and_a_fixed_file_closes_the_problem(sstore: Store, tmp_path: Path) -> None:
    path = tmp_path / "acme.csv"
    import_supplier_table(table(path, f"A1;{GOOD};Relais;ACME;"), sstore, TABLE)
    bad = import_supplier_table(table(path, f"A1;{BAD};Relais;ACME;"), sstore, TABLE)
    assert (bad.unchanged, bad.problems) == (1, 1) and sstore.get_product("A1").values["ean"] == GOOD
    again = import_supplier_table(path, sstore, TABLE)
    assert (again.unchanged, again.problems) == (1, 1)
    assert [e["job_id"] for e in open_problems(sstore)] == [again.job_id]
    fixed = import_supplier_table(table(path, f"A1;{OTHER_GOOD};Relais;ACME;"), sstore, TABLE)
    assert (fixed.updated, fixed.problems) == (1, 0) and open_problems(sstore) == []
    assert sstore.get_product("A1").values["ean"] == OTHER_GOOD


def test_xlsx_bad_gtin_names_its_row(sstore: Store, tmp_path: Path) -> None:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    ws.append(HEADER.split(";"))
    ws.append(["X1", int(GOOD), "Eins", "ACME", None])
    ws.append(["X2", "4006381333932", "Zwei", "ACME", None])
    path = tmp_path / "acme.xlsx"
    wb.save(path)
    put_cross_references(sstore, ACME, [("X2", "X2")])  # known, so taken in with the problem
    counts = import_supplier_table(path, sstore, TABLE)
    assert (counts.created, counts.problems) == (2, 1)
    assert sstore.get_product("X1").values["ean"] == GOOD and "ean" not in sstore.get_product("X2").values
    [entry] = open_problems(sstore)
    assert (entry["file"], entry["line"], entry["field"], entry["record_key"]) == ("acme.xlsx", 3, "EAN", "X2")


# ---------------------------------------------------------------------------------------------- the shared helpers
def test_a_huge_cell_never_pushes_the_hint_out_of_view_and_erp_reasons_are_unchanged() -> None:
    hint = supplier_hint(stored=True, matched=True)
    reason = gtin_reason(gtin_problem("7" * 500) or "", hint)
    assert len(reason) <= REASON_SHOWN and reason.endswith(hint) and "…" in reason
    values = {"ean": BAD}
    assert bad_gtins(values, {"ean": "EAN"}) == [("EAN", f"{gtin_problem(BAD)}; {GTIN_HINT}")] and values == {}
    huge = {"ean": "x" * 500}
    [(_, erp)] = bad_gtins(huge, {"ean": "EAN"})
    assert erp == f"{gtin_problem('x' * 500)[:90]}…; {GTIN_HINT}"  # as before the check was shared


def test_the_fast_gtin_check_agrees_with_pim_quality() -> None:
    """gtin_ok is the hot path of every supplier product and row: it must accept exactly what gtin_problem does."""
    import random

    from importers.gtin_check import gtin_ok

    rng = random.Random(27)
    texts = ["", " ", GOOD, BAD, f" {GOOD} ", "４００６３８１３３３９３１", "400638133393\u00b2", "12345", "4,00638E+12",
             "036000291452", "96385074", "00012345600012", "1" * 13]
    for _ in range(4000):
        length = rng.choice([7, 8, 11, 12, 13, 14, 15])
        body = "".join(rng.choice("0123456789") for _ in range(length - 1))
        texts.append(body + str(rng.randrange(10)))  # about one in ten has the right check digit
    valid = [t for t in texts if gtin_ok(t)]
    assert [t for t in texts if gtin_ok(t) != (gtin_problem(t) is None and t == t.strip())] == []
    assert len(valid) > 200 and {len(t) for t in valid} == {8, 12, 13, 14}
