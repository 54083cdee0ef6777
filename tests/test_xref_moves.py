"""`pim import xref` re-pointing a supplier product id to another SKU (found exploring as a data steward: the
SKU of the old match kept every value the supplier gave it, and nothing said so; the next import sent the
values to the new SKU while the old one still showed the supplier's weight and name)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from importers.erp_values import ValueRule
from importers.supplier_table import SupplierTableMap, import_supplier_table
from pim.product import Product, Provenance
from pim.sources import cross_references, put_cross_references
from pim.store import Store
from pim.structure_files import load_structure_files, save_structure

STRUCTURE = Path(__file__).parent / "data" / "bmecat"
ACME = "supplier:acme"
MAP = SupplierTableMap(source=ACME, pid_column="Art-Nr", gtin_column="EAN", family="electrical", decimal=",",
                       unmatched="quarantine",
                       columns={"EAN": "ean", "Bezeichnung": "name:de_DE",
                                "Gewicht": ValueRule(to="net_weight", unit="KILOGRAM")})
GTIN_S3 = "4006381333931"


@pytest.fixture
def sstore(store: Store) -> Store:
    save_structure(store, load_structure_files(STRUCTURE))
    erp = Provenance(source="erp", at=datetime.now(UTC))
    store.upsert_products([Product(identifier=sku, family="electrical", values={"sku": sku, **values}, source=erp)
                           for sku, values in (("S2", {}), ("S3", {"ean": GTIN_S3}))])
    return store


def _import(store: Store, tmp_path: Path, rows: list[str]) -> None:
    path = tmp_path / "acme.csv"
    path.write_text("\n".join(["Art-Nr;EAN;Bezeichnung;Gewicht", *rows]) + "\n", encoding="utf-8")
    counts = import_supplier_table(path, store, MAP)
    assert counts.rejected == 0, store.quarantined(counts.job_id)


def _xref(*args: str) -> tuple[int, str]:
    from pim.cli import _mount, app

    _mount()
    result = CliRunner().invoke(app, ["import", "xref", ACME, *args], catch_exceptions=False)
    return result.exit_code, result.output


def test_put_cross_references_returns_the_pids_that_moved_to_another_sku(sstore: Store) -> None:
    assert put_cross_references(sstore, ACME, [("A1", "S2"), ("A2", "S3")]) == []
    assert put_cross_references(sstore, ACME, [("A1", "S2")]) == []  # the same mapping again: no move
    assert put_cross_references(sstore, ACME, [("A1", "S3"), ("A3", "S2")]) == [("A1", "S2", "S3")]
    assert put_cross_references(sstore, "supplier:bolt", [("A1", "S2")]) == []  # another source's A1 is new
    assert [(r["source_pid"], r["sku"]) for r in cross_references(sstore, ACME)] == [("A1", "S3"), ("A2", "S3"),
                                                                                    ("A3", "S2")]


def test_repointing_a_gtin_match_names_the_old_sku_that_keeps_the_supplier_values(sstore: Store, tmp_path: Path) -> None:
    _import(sstore, tmp_path, [f"B3;{GTIN_S3};Bolzen drei;3,3"])  # matched to S3 by its GTIN
    assert sstore.get_product("S3").values["name:de_DE"] == "Bolzen drei"
    code, out = _xref("B3", "S2", "--json")
    assert code == 0, out
    [moved] = json.loads(out)["moved"]
    assert moved == {"pid": "B3", "from": "S3", "to": "S2", "still_claimed": True, "also_mapped": [],
                     "keys": ["ean", "name:de_DE", "net_weight"], "withdraw": "pim import withdraw supplier:acme S3"}
    s3 = sstore.get_product("S3")  # nothing is withdrawn by the command: a person decides
    assert s3.values["name:de_DE"] == "Bolzen drei" and s3.provenance_of("net_weight").source == ACME


def test_the_text_output_says_what_stays_and_the_command_that_removes_it(sstore: Store, tmp_path: Path) -> None:
    _import(sstore, tmp_path, [f"B3;{GTIN_S3};Bolzen drei;3,3"])
    code, out = _xref("B3", "S2")
    text = " ".join(out.split())
    assert code == 0 and "is our S2 (it was S3)" in text
    assert "S3 still holds what supplier:acme gave it through the old match (ean, name:de_DE, net_weight)" in text
    assert "not withdrawn here" in text and "pim import withdraw supplier:acme S3" in text


def test_an_old_sku_without_claims_of_the_source_is_a_move_with_nothing_to_withdraw(sstore: Store) -> None:
    put_cross_references(sstore, ACME, [("B3", "S3")])  # mapped by hand, never imported
    code, out = _xref("B3", "S2", "--json")
    assert code == 0 and json.loads(out)["moved"] == [
        {"pid": "B3", "from": "S3", "to": "S2", "still_claimed": False, "keys": [], "also_mapped": [],
         "withdraw": None}]
    code, out = _xref("B3", "S3")
    assert code == 0 and "(it was S2)" in out and "withdraw" not in out


def test_an_old_sku_another_pid_still_maps_to_says_its_values_come_back(sstore: Store, tmp_path: Path) -> None:
    """Two supplier product ids on one SKU (a pack and its unit) may be meant: withdrawing would take the
    other id's values too, until the next import of the source brings them back."""
    _import(sstore, tmp_path, [f"B3;{GTIN_S3};Bolzen drei;3,3"])
    put_cross_references(sstore, ACME, [("B3-PACK", "S3")])
    code, out = _xref("B3", "S2", "--json")
    assert code == 0 and json.loads(out)["moved"][0]["also_mapped"] == ["B3-PACK"]
    assert _xref("B3", "S3")[0] == 0  # back, to move it again with the text output
    code, out = _xref("B3", "S2")
    text = " ".join(out.split())
    assert "is still its product 'B3-PACK'" in text and "then import supplier:acme again" in text
