"""Generated supplier sources: valid BMEcat, deterministic, and they import onto the generated catalog."""

from pathlib import Path

import pytest
from lxml import etree

from importers.bmecat import import_bmecat, load_map
from importers.supplier_table import import_supplier_table, load_supplier_map
from pim.generate import generate_catalog
from pim.jsonl import import_jsonl
from pim.store import Store
from pim.structure_files import load_structure_files, save_structure
from tests.conftest import BMECAT_DIR


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("gen")
    generate_catalog("tiny", 7, out)
    return out


def test_generated_bmecat_is_valid_against_the_bmecat_2005_xsd(generated: Path) -> None:
    schema = etree.XMLSchema(etree.parse(str(BMECAT_DIR / "bmecat_2005_1.xsd")))
    assert schema.validate(etree.parse(str(generated / "sources" / "supplier_acme.bmecat.xml"))), schema.error_log.last_error


def test_generated_bmecat_puts_each_product_on_lines_of_its_own(generated: Path) -> None:
    """Quarantine entries name the line a PRODUCT starts on: a one-line file would name line 2 for every one."""
    tree = etree.parse(str(generated / "sources" / "supplier_acme.bmecat.xml"))
    lines = [p.sourceline for p in tree.iter("{*}PRODUCT")]
    assert len(lines) > 1 and len(set(lines)) == len(lines)
    assert all(b - a > 5 for a, b in zip(lines, lines[1:]))


def test_same_seed_gives_the_same_supplier_files(generated: Path, tmp_path: Path) -> None:
    generate_catalog("tiny", 7, tmp_path)
    for name in ("supplier_acme.bmecat.xml", "supplier_bolt.csv", "supplier_bolt.xlsx", "supplier_acme.map.yaml"):
        assert (tmp_path / "sources" / name).read_bytes() == (generated / "sources" / name).read_bytes()


def test_supplier_sources_merge_onto_the_generated_catalog(store: Store, generated: Path) -> None:
    save_structure(store, load_structure_files(generated / "structure"))
    import_jsonl(generated / "products.jsonl", store)
    before = store.count_products()
    src = generated / "sources"
    acme = import_bmecat(src / "supplier_acme.bmecat.xml", store, load_map(src / "supplier_acme.map.yaml"), map_dir=src)
    bolt = import_supplier_table(src / "supplier_bolt.csv", store, load_supplier_map(src / "supplier_bolt.profile.yaml"), map_dir=src)
    assert store.count_products() == before  # everything matched by GTIN or was quarantined: nothing created
    assert acme.updated + acme.unchanged + acme.rejected == acme.read and acme.updated > 0
    assert all("cross-reference" in r["reason"] for r in store.quarantined(acme.job_id, severity="rejected"))
    assert bolt.updated > 0 and bolt.updated + bolt.unchanged + bolt.rejected == bolt.read
    # the generator plants duplicate GTINs: a supplier row carrying one is quarantined, never matched to either
    assert all("belongs to 2 products" in r["reason"] for r in store.quarantined(bolt.job_id, severity="rejected"))
    xlsx = import_supplier_table(src / "supplier_bolt.xlsx", store, load_supplier_map(src / "supplier_bolt.profile.yaml"), map_dir=src)
    assert (xlsx.updated, xlsx.unchanged) == (0, bolt.read - bolt.rejected)  # same rows as the CSV: nothing new
