"""Supplier GTINs, after round 27 (tests/test_supplier_gtin.py): every GTIN id of a BMEcat product is read
(each EAN, each INTERNATIONAL_PID of a GTIN type), the first valid one is stored (since round 29 every valid
one is matched on: tests/test_supplier_gtin_round29.py), and each bad one is a `problem` at its own element's
line. A product with no cross-reference whose only GTIN is bad is refused under `unmatched: create` too,
never created apart from ours: it may be one of them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from importers.bmecat import import_bmecat
from importers.bmecat_reader import BmecatHeader, read_bmecat
from importers.supplier_table import import_supplier_table
from pim.cli import _mount, app
from pim.merge import candidates_for
from pim.quality import gtin_problem
from pim.sources import cross_references, put_cross_references
from pim.store import Store
from tests.test_supplier_gtin import (
    ACME,
    BAD,
    BMECAT_MAP,
    GOOD,
    OTHER_GOOD,
    TABLE,
    WEID,
    adds_up,
    bmecat_map,
    catalog,
    open_problems,
    ours,
    table,
    with_pack_gtin,
)

UPC = "036000291452"  # a UPC-A, the GTIN-12 0036000291452


@pytest.fixture
def sstore(store: Store) -> Store:
    """The supplier test structure, with the `pack_gtin` column TABLE maps (as tests/test_supplier_gtin.py's)."""
    return with_pack_gtin(store)


def product(pid: str, *ids: str) -> str:
    """A PRODUCT whose details carry the GTIN elements `ids`, one a line: as the first product of `catalog`,
    it starts on line 5 and its ids on line 7, 8…"""
    return (f"<PRODUCT><SUPPLIER_PID>{pid}</SUPPLIER_PID><PRODUCT_DETAILS>\n"
            f'<DESCRIPTION_SHORT lang="eng">Relay {pid}</DESCRIPTION_SHORT>' + "".join(f"\n{i}" for i in ids)
            + "</PRODUCT_DETAILS></PRODUCT>")


def ean(text: str) -> str:
    return f"<EAN>{text}</EAN>"


def intl(text: str, kind: str = "gtin") -> str:
    return f'<INTERNATIONAL_PID type="{kind}">{text}</INTERNATIONAL_PID>'


def rejections(store: Store) -> list[dict]:
    return store.quarantined(severity="rejected")


# ---------------------------------------------------------------------------------------------- every GTIN id
def test_a_bad_ean_no_longer_hides_a_good_international_pid_after_it(sstore: Store, tmp_path: Path) -> None:
    ours(sstore, "SKU-9", GOOD)
    counts = import_bmecat(catalog(tmp_path / "c.xml", product("r1", ean(BAD), intl(GOOD))), sstore, bmecat_map())
    assert (counts.created, counts.updated, counts.rejected, counts.problems) == (0, 1, 0, 1) and adds_up(counts)
    assert sstore.get_product("SKU-9").values["name:en_US"] == "Relay r1"
    assert [(x["source_pid"], x["sku"], x["matched_by"]) for x in cross_references(sstore, WEID)] == [("r1", "SKU-9", "gtin")]
    [entry] = open_problems(sstore)
    assert (entry["field"], entry["line"], entry["record_key"]) == ("EAN", 7, "SKU-9")  # the EAN's line, not the PRODUCT's
    assert entry["reason"] == (f"{gtin_problem(BAD)}; the valid GTIN {GOOD} (INTERNATIONAL_PID, line 8) is used instead; "
                               "ask the supplier to fix it")


def test_a_bad_gtin_after_the_good_one_is_noted_too_and_the_good_one_stored(sstore: Store, tmp_path: Path) -> None:
    counts = import_bmecat(catalog(tmp_path / "c.xml", product("r1", intl(OTHER_GOOD), intl(BAD, "ean"))), sstore,
                           bmecat_map())
    assert (counts.created, counts.problems) == (1, 1)
    assert sstore.get_product("r1").values["ean"] == OTHER_GOOD
    [entry] = open_problems(sstore)
    assert (entry["field"], entry["line"]) == ("INTERNATIONAL_PID", 8)
    assert f"the valid GTIN {OTHER_GOOD} (INTERNATIONAL_PID, line 7) is used instead" in entry["reason"]


def test_a_second_valid_gtin_is_no_problem_and_is_matched_on_too(sstore: Store, tmp_path: Path) -> None:
    """INTERNATIONAL_PID repeats in BMEcat 2005 (a GTIN-13 and the GTIN-14 of its pack): a second valid one is
    no error of the file. Before round 29 only the first valid one was matched on, and r1 was created apart
    from SKU-9, which carries its second; now every valid one is tried, and the first is still the one stored."""
    ours(sstore, "SKU-9", OTHER_GOOD)
    counts = import_bmecat(catalog(tmp_path / "c.xml", product("r1", intl(BAD), intl(GOOD), intl(OTHER_GOOD))), sstore,
                           bmecat_map())
    assert (counts.created, counts.updated, counts.problems) == (0, 1, 1)
    assert sstore.get_product("r1") is None and sstore.get_product("SKU-9").values["name:en_US"] == "Relay r1"
    assert sstore.get_product("SKU-9").values["ean"] == OTHER_GOOD  # ours stays shown; the supplier claims its first
    assert candidates_for(sstore, "SKU-9")["ean"][WEID].value == GOOD
    [entry] = open_problems(sstore)
    assert (entry["field"], entry["line"]) == ("INTERNATIONAL_PID", 7)


def test_upc_is_a_gtin_and_other_international_pid_types_are_not_checked(sstore: Store, tmp_path: Path) -> None:
    """The XSD names ean, gtin and upc (a UPC-A is a GTIN-12) and allows any other word: a supplier's own
    number is no GTIN, so no problem, and the UPC after it matches ours stored as GTIN-13."""
    ours(sstore, "SKU-U", "0" + UPC)
    counts = import_bmecat(catalog(tmp_path / "c.xml", product("r1", intl("ABC-123", "supplier_specific"), intl(UPC, "upc"))),
                           sstore, bmecat_map())
    assert (counts.created, counts.updated, counts.problems) == (0, 1, 0)
    assert sstore.get_product("SKU-U").values["name:en_US"] == "Relay r1"


def test_every_bad_gtin_is_noted_at_its_own_line(sstore: Store, tmp_path: Path) -> None:
    ours(sstore, "SKU-9", GOOD)
    put_cross_references(sstore, WEID, [("r1", "SKU-9")])
    counts = import_bmecat(catalog(tmp_path / "c.xml", product("r1", ean(BAD), intl("12345"))), sstore, bmecat_map())
    assert (counts.updated, counts.problems) == (1, 2)
    assert sstore.get_product("SKU-9").values["ean"] == GOOD  # none valid: the stored GTIN stays
    entries = sorted(open_problems(sstore), key=lambda e: e["line"])
    assert [(e["field"], e["line"]) for e in entries] == [("EAN", 7), ("INTERNATIONAL_PID", 8)]
    assert all(e["reason"].endswith("not used for matching (no cross-reference: quarantined); ask the supplier to fix it")
               for e in entries)


def test_an_article_international_aid_is_read_as_its_international_pid(tmp_path: Path) -> None:
    body = ("<ARTICLE><SUPPLIER_AID>r1</SUPPLIER_AID><ARTICLE_DETAILS>\n<DESCRIPTION_SHORT>Relay</DESCRIPTION_SHORT>\n"
            f'<INTERNATIONAL_AID type="ean">{GOOD}</INTERNATIONAL_AID></ARTICLE_DETAILS></ARTICLE>')
    [p] = list(read_bmecat(catalog(tmp_path / "c.xml", body), BmecatHeader()))
    assert p.ean == GOOD  # before, read past
    assert p.gtins == [(GOOD, "INTERNATIONAL_PID", 7)]


# ---------------------------------------------------------------------------------------------- unmatched: create
def test_create_refuses_a_product_whose_only_link_is_a_bad_gtin_until_the_file_is_fixed(sstore: Store,
                                                                                         tmp_path: Path) -> None:
    ours(sstore, "SKU-9", GOOD)
    path = tmp_path / "c.xml"
    counts = import_bmecat(catalog(path, product("r1", ean(BAD)), product("r2")), sstore, bmecat_map())
    assert (counts.created, counts.updated, counts.rejected, counts.problems) == (1, 0, 1, 0) and adds_up(counts)
    assert sstore.get_product("r1") is None and sstore.get_product("r2") is not None  # no GTIN at all: created
    assert [x["source_pid"] for x in cross_references(sstore, WEID)] == ["r2"]
    [row] = rejections(sstore)
    assert (row["field"], row["line"], row["record_key"], row["raw"]["supplier_pid"]) == ("EAN", 7, "r1", "r1")
    assert row["reason"] == (f"GTIN {BAD} has check digit 2, expected 1; not created: it may be one of ours. Correct the "
                             f"GTIN in the file or run `pim import xref {WEID} r1 SKU`, then import again")
    fixed = import_bmecat(catalog(path, product("r1", ean(GOOD)), product("r2")), sstore, bmecat_map())
    assert (fixed.created, fixed.updated, fixed.rejected) == (0, 1, 0)
    assert sstore.get_product("SKU-9").values["name:en_US"] == "Relay r1" and rejections(sstore) == []


def test_a_refused_product_linked_with_pim_import_xref_is_taken_in(sstore: Store, tmp_path: Path) -> None:
    _mount()
    runner = CliRunner()
    ours(sstore, "SKU-9", GOOD)
    path = catalog(tmp_path / "c.xml", product("r1", ean(BAD)))
    args = ["import", "bmecat", str(path), "--map", str(BMECAT_MAP), "--json"]
    first = runner.invoke(app, args)
    assert json.loads(first.stdout)["rejected"] == 1 and sstore.get_product("r1") is None, first.output
    listed = json.loads(runner.invoke(app, ["import", "errors", "--severity", "rejected", "--json"]).stdout)
    assert [(e["field"], e["record_key"]) for e in listed] == [("EAN", "r1")]
    assert runner.invoke(app, ["import", "xref", WEID, "r1", "SKU-9"]).exit_code == 0
    again = json.loads(runner.invoke(app, args).stdout)
    assert (again["updated"], again["rejected"], again["problems"]) == (1, 0, 1)
    listed = json.loads(runner.invoke(app, ["import", "errors", "--json"]).stdout)  # the rejection closed
    assert [(e["severity"], e["field"], e["line"], e["record_key"]) for e in listed] == [("problem", "EAN", 7, "SKU-9")]
    assert sstore.get_product("SKU-9").values["ean"] == GOOD


def test_refusals_keep_file_order_across_batches_and_known_products_keep_their_link(sstore: Store,
                                                                                     tmp_path: Path) -> None:
    ours(sstore, "SKU-9", GOOD)
    put_cross_references(sstore, WEID, [("a", "SKU-9")])
    sstore.batch_size = 2
    path = catalog(tmp_path / "c.xml", product("a", ean(BAD)), product("b", ean(BAD)), product("c", ean(OTHER_GOOD)),
                   product("d"), product("e", intl("12345")))
    counts = import_bmecat(path, sstore, bmecat_map())
    assert (counts.updated, counts.created, counts.rejected, counts.problems) == (1, 2, 2, 1) and adds_up(counts)
    assert [(r["record_key"], r["field"]) for r in rejections(sstore)] == [("b", "EAN"), ("e", "INTERNATIONAL_PID")]
    assert sstore.get_product("b") is None and sstore.get_product("e") is None
    assert sstore.get_product("c").values["ean"] == OTHER_GOOD and sstore.get_product("d") is not None


def test_table_create_refuses_a_row_whose_only_link_is_a_bad_gtin_keeping_the_row(sstore: Store, tmp_path: Path) -> None:
    ours(sstore, "SKU-7", GOOD)
    path = tmp_path / "acme.csv"
    counts = import_supplier_table(table(path, f"A1;{BAD};Relais;ACME;", "A2;;Zwei;ACME;"), sstore, TABLE)
    assert (counts.created, counts.updated, counts.rejected, counts.problems) == (1, 0, 1, 0) and adds_up(counts)
    assert sstore.get_product("A1") is None and sstore.get_product("A2") is not None  # no GTIN at all: created
    [row] = rejections(sstore)
    assert (row["file"], row["line"], row["field"], row["record_key"]) == ("acme.csv", 2, "EAN", "A1")
    assert row["raw"] == {"Art-Nr": "A1", "EAN": BAD, "Bezeichnung": "Relais", "Hersteller": "ACME", "Pack-GTIN": ""}
    assert row["reason"] == (f"{gtin_problem(BAD)}; not created: it may be one of ours. Correct the GTIN in the file or "
                             f"run `pim import xref {ACME} A1 SKU`, then import again")
    fixed = import_supplier_table(table(path, f"A1;{GOOD};Relais;ACME;", "A2;;Zwei;ACME;"), sstore, TABLE)
    assert (fixed.updated, fixed.rejected) == (1, 0) and sstore.get_product("SKU-7").values["manufacturer"] == "ACME"
    assert rejections(sstore) == []
    assert sorted((x["source_pid"], x["sku"], x["matched_by"]) for x in cross_references(sstore, ACME)) == [
        ("A1", "SKU-7", "gtin"), ("A2", "A2", "created")]
