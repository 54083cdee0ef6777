"""BMEcat: only a file with a real `PRODUCT mode="delete"` (1.2: ARTICLE) is read twice (the first pass notes each
supplier PID's modes, so the file's last word on a product wins). The word `delete` in a description, escaped
markup or a deleted group assignment no longer costs that pass, and a file with deletes ends in the same store."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import importers.bmecat as bmecat
import importers.bmecat_reader as reader
from importers.bmecat import import_bmecat, load_map
from importers.bmecat_reader import deletes_products
from pim.commerce import contract_tiers
from pim.merge import candidates_for
from pim.store import Store
from pim.structure_files import load_structure_files, save_structure
from tests.test_bmecat import MAP, PRODUCT, STRUCTURE, _erp_product, _xml, supplier_store  # noqa: F401  (fixture)
from tests.test_bmecat_groups import TREE, assign, cats, document, grouped, groups_map, product  # noqa: F401  (fixture)
from tests.test_bmecat_round25 import LIST, PRECEDENCE, _delete, _update, _updates

OPEN = '<?xml version="1.0" encoding="UTF-8"?>\n<BMECAT version="2005" xmlns="http://www.bmecat.org/bmecat/2005">'


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the files the reader starts a parse of (`safe_iterparse`), one entry per parse."""
    seen: list[str] = []
    real = reader.safe_iterparse

    def counted(handle: Any, name: str, *args: Any, **kwargs: Any) -> Iterator[tuple[str, Any]]:
        seen.append(Path(name).name)
        return real(handle, name, *args, **kwargs)

    monkeypatch.setattr(reader, "safe_iterparse", counted)
    return seen


@pytest.fixture
def first_passes(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """The files `product_modes` (the first pass) is run on."""
    runs: list[Path] = []
    real = bmecat.product_modes

    def counted(path: Path) -> Iterator[tuple[str, str]]:
        runs.append(path)
        return real(path)

    monkeypatch.setattr(bmecat, "product_modes", counted)
    return runs


def _scanned(tmp_path: Path, body: str) -> bool:
    path = tmp_path / "s.xml"
    path.write_text(f"{OPEN}<T_UPDATE_PRODUCTS>{body}</T_UPDATE_PRODUCTS></BMECAT>", encoding="utf-8")
    return deletes_products(path)


# ------------------------------------------------------------------------------------------- the trigger
@pytest.mark.parametrize("tag", [
    '<PRODUCT mode="delete">',
    "<bme:PRODUCT\n   mode = 'delete' >",  # a prefix, blanks, single quotes
    '<PRODUCT note="a > b" mode="delete">',  # `>` in an attribute before it
    '<ARTICLE mode="delete">',  # BMEcat 1.2
])
def test_a_product_start_tag_with_mode_delete_needs_the_first_pass(tmp_path: Path, tag: str) -> None:
    assert _scanned(tmp_path, tag + "<SUPPLIER_PID>r1</SUPPLIER_PID></PRODUCT>")


@pytest.mark.parametrize("body", [
    '<PRODUCT mode="update"><DESCRIPTION_LONG>delete the old relay first</DESCRIPTION_LONG></PRODUCT>',
    '<PRODUCT><DESCRIPTION_LONG>&lt;PRODUCT mode="delete"&gt;</DESCRIPTION_LONG></PRODUCT>',  # escaped markup
    '<PRODUCT_TO_CATALOGGROUP_MAP mode="delete"><PROD_ID>r1</PROD_ID></PRODUCT_TO_CATALOGGROUP_MAP>',
    '<PRODUCT mode="update" note="mode=\'delete\'"/><PRODUCT x:mode="delete"/><PRODUCT mode="deleted"/>',
])
def test_the_word_delete_elsewhere_needs_no_first_pass(tmp_path: Path, body: str) -> None:
    assert not _scanned(tmp_path, body)


def test_a_wide_or_empty_file_may_hold_deletes(tmp_path: Path) -> None:
    """Guard (as before): UTF-16 bytes cannot be scanned for ASCII; an empty file is left to the import's read."""
    wide = tmp_path / "w.xml"
    wide.write_bytes(f'{OPEN}<T_UPDATE_PRODUCTS><PRODUCT mode="update"/></T_UPDATE_PRODUCTS></BMECAT>'.encode("utf-16"))
    empty = tmp_path / "e.xml"
    empty.write_bytes(b"")
    assert deletes_products(wide) and deletes_products(empty)


# ------------------------------------------------------------------------------------------- imports
def test_a_description_saying_delete_is_read_once(supplier_store: Store, tmp_path: Path, parses: list[str],  # noqa: F811
                                                  first_passes: list[Path]) -> None:
    _erp_product(supplier_store)
    path = _xml(tmp_path, "<T_NEW_CATALOG>" + PRODUCT.format(pid="r1").replace(
        "Relay r1", "Relay r1: delete the old one first") + "</T_NEW_CATALOG>")
    counts = import_bmecat(path, supplier_store, load_map(MAP), precedence=PRECEDENCE)
    assert (counts.read, counts.updated, counts.rejected) == (1, 1, 0)
    assert supplier_store.get_product("SKU-9").values["name:en_US"] == "Relay r1: delete the old one first"
    assert parses == ["c.xml"] and first_passes == []


def test_a_deleted_group_assignment_is_read_once(grouped: Store, tmp_path: Path, parses: list[str],  # noqa: F811
                                                 first_passes: list[Path]) -> None:
    import_bmecat(document(tmp_path, TREE + product("p1") + assign("p1", "100") + assign("p1", "20")), grouped,
                  groups_map())
    parses.clear()
    path = document(tmp_path, product("p1", "update") + assign("p1", "20", "delete"), transaction="T_UPDATE_PRODUCTS",
                    name="u.xml")
    import_bmecat(path, grouped, groups_map())
    assert cats(grouped, "p1") == ["wm_100"]
    assert first_passes == [] and parses == ["u.xml", "u.xml"]  # the group tree read ahead, then the products


def test_a_file_with_a_delete_is_read_twice(supplier_store: Store, tmp_path: Path, parses: list[str],  # noqa: F811
                                            first_passes: list[Path]) -> None:
    """Guard (as before): the first pass runs when a PRODUCT really says delete."""
    path = _updates(tmp_path, _update("r1", en="x"), '<PRODUCT note="a > b" mode=\'delete\'><SUPPLIER_PID>r1'
                    "</SUPPLIER_PID></PRODUCT>")
    counts = import_bmecat(path, supplier_store, load_map(MAP), precedence=PRECEDENCE)
    assert counts.extra["superseded_in_file"] == 1 and counts.extra["deletes_unknown"] == 1 and counts.created == 0
    assert first_passes == [path] and parses == ["u.xml", "u.xml"]


# ------------------------------------------------------------------------------------------- the same store
def _fresh(template: Path, tmp_path: Path, name: str) -> Store:
    shutil.copyfile(template, tmp_path / name)
    store = Store(f"sqlite:///{tmp_path / name}")
    save_structure(store, load_structure_files(STRUCTURE))
    return store


def _snapshot(store: Store) -> dict[str, Any]:
    """What an import leaves: every product's values, family, categories, sources, waiting claims and tiers."""
    found: dict[str, Any] = {}
    for p in store.iter_products():
        sku = p.identifier
        found[sku] = (p.values, p.family, p.categories, {k: p.provenance_of(k).source for k in p.values},
                      {k: sorted(c) for k, c in candidates_for(store, sku).items()},
                      [(t.min_qty, t.price) for t in contract_tiers(store, LIST, [sku], "EUR").get(sku, [])])
    return found


def _outcome(store: Store, path: Path) -> list[Any]:
    """Both runs' counts and rejections, and the store after each."""
    seen: list[Any] = []
    for _ in range(2):
        counts = import_bmecat(path, store, load_map(MAP), precedence=PRECEDENCE)
        entries = [(e["severity"], e["field"], e["line"], e["reason"]) for e in store.quarantined(counts.job_id)]
        seen += [counts.as_dict(), sorted(entries), _snapshot(store)]
    return seen


@pytest.mark.backends("sqlite")
def test_a_file_with_deletes_leaves_the_store_the_first_pass_always_left(supplier_store: Store, tmp_path: Path,  # noqa: F811
                                                                        sqlite_template: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Guard: the store and counts equal those of the first pass forced, as the old trigger (any `delete` in
    the bytes) ran it — an update then a delete, a delete then updates, an unknown PID updated then deleted."""
    path = _updates(tmp_path, _update("r1", de="delete me", width="1"),
                    '<PRODUCT note="a > b" mode=\'delete\'><SUPPLIER_PID>r1</SUPPLIER_PID></PRODUCT>',
                    _update("r1", en="after"), _update("r1", width="30", tiers=(("7.00", "1"),)),
                    _update("r2", en="never"), _delete("r2"), _update("r3", en="delete nothing"))
    stores = [supplier_store, _fresh(sqlite_template, tmp_path, "forced.db")]
    outcomes = []
    for store in stores:
        _erp_product(store)
        import_bmecat(_xml(tmp_path, "<T_NEW_CATALOG>" + PRODUCT.format(pid="r1") + "</T_NEW_CATALOG>", name="n.xml"),
                      store, load_map(MAP), precedence=PRECEDENCE)
    outcomes.append(_outcome(stores[0], path))
    monkeypatch.setattr(bmecat, "deletes_products", lambda p: True)
    outcomes.append(_outcome(stores[1], path))
    stores[1].dispose()
    new, forced = outcomes
    assert new[0]["superseded_in_file"] == 2 and "r2" not in new[2] and new[3]["updated"] == 0
    assert new == forced
