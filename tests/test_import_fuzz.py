"""Hypothesis-generated broken rows and files: the importers never crash with anything but a clear
InputError, every rejected row is in the quarantine with a reason, and the counts add up.

A longer campaign: `PIM_FUZZ_EXAMPLES=2000 pytest tests/test_import_fuzz.py` (40 examples per property by
default, so the suite stays quick)."""

from __future__ import annotations

import os
import shutil
import string
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from importers.content import import_content
from importers.erp_csv import ErpCsvMap, import_erp_csv
from pim.errors import InputError
from pim.importing import ImportCounts
from pim.store import Store
from tests.source_data import seed_structure


CELL = st.one_of(st.text(alphabet=string.printable + "äöü€;\"", max_size=12), st.sampled_from(["", "1,5", "x", "A1"]))
ROW = st.lists(CELL, min_size=0, max_size=7)
MAP = ErpCsvMap(delimiter=";", decimal=",", sku_column="sku", family="tool",
                columns={"ean": "ean", "w": {"to": "weight", "unit": "KILOGRAM"}, "p": {"to": "price", "currency": "EUR"},
                         "moq": "min_order_qty", "name": "name:en_US"})
FUZZ = settings(max_examples=int(os.environ.get("PIM_FUZZ_EXAMPLES", "40")), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


@pytest.fixture
def seeded(sqlite_template: Path, tmp_path: Path):
    """SQLite only: this fuzzes the parsers and the bookkeeping, not the database."""
    path = tmp_path / "fuzz.db"
    shutil.copyfile(sqlite_template, path)
    store = Store(f"sqlite:///{path}")
    seed_structure(store)
    yield store
    store.dispose()


def imports_or_refuses(store: Store, run: Callable[[], ImportCounts]) -> None:
    """Run an import: it refuses the whole input with a clear InputError, or its counts add up (`_check`)."""
    try:
        counts = run()
    except InputError as exc:
        assert exc.describe()
        return
    _check(store, counts)


def _check(store: Store, counts) -> None:
    assert counts.read == counts.created + counts.updated + counts.unchanged + counts.rejected
    entries = store.quarantined(counts.job_id, open_only=False)
    assert sum(e["severity"] == "rejected" for e in entries) == counts.rejected
    assert sum(e["severity"] == "problem" for e in entries) == counts.problems
    assert all(e["reason"] for e in entries)


@FUZZ
@given(rows=st.lists(ROW, max_size=12))
def test_broken_erp_rows_never_crash_and_counts_add_up(seeded: Store, tmp_path_factory, rows):
    path = tmp_path_factory.mktemp("fuzz") / "erp.csv"
    lines = ["sku;ean;w;p;moq;name"] + [";".join(r) for r in rows]
    path.write_text("\n".join(lines), encoding="utf-8")
    imports_or_refuses(seeded, lambda: import_erp_csv(path, seeded, MAP))


@FUZZ
@given(data=st.binary(max_size=300))
def test_random_bytes_as_erp_csv_give_input_errors_only(seeded: Store, tmp_path_factory, data: bytes):
    path = tmp_path_factory.mktemp("fuzz") / "erp.csv"
    path.write_bytes(b"sku;ean;w\n" + data)
    imports_or_refuses(seeded, lambda: import_erp_csv(path, seeded, MAP))


JSONISH = st.recursive(st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.text(max_size=8)),
                       lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(
                           ["sku", "name", "en_US", "bullets", "images", "associations", "values", "x"]), inner, max_size=4)),
                       max_leaves=12)


@FUZZ
@given(records=st.lists(JSONISH, max_size=8))
def test_broken_content_records_never_crash(seeded: Store, tmp_path_factory, records):
    import orjson

    path = tmp_path_factory.mktemp("fuzz") / "content.jsonl"
    path.write_bytes(b"\n".join(orjson.dumps(r) for r in records) + b"\n{broken\n")
    imports_or_refuses(seeded, lambda: import_content(path, seeded))


# ---------------------------------------------------------------------------------------------- XML files
#: Structural mutations of a valid document: an element dropped, doubled, moved under another, renamed to
#: another element the readers know, or its text or an attribute replaced by an awkward value.
NASTY = st.one_of(st.sampled_from(["", " ", "-1", "0", "1e309", "1e-400", "NaN", "inf", "9" * 40, "1,5", "1.5.5",
                                   "2024-13-45", "x" * 300, "eng", "deu", "EUR", "eur", "KGM", "C62", "10", "&<>"]),
                  st.text(max_size=12))
TAGS = ["PRODUCT", "ARTICLE", "FEATURE", "FVALUE", "EAN", "SUPPLIER_PID", "PRODUCT_PRICE", "LOWER_BOUND",
        "T_UPDATE_PRODUCTS", "T_UPDATE_PRICES", "PRODUCT_REFERENCE", "MATNR", "E1MARAM", "E1MARDM", "Z1PRICE", "IDOC"]
EDITS = st.lists(st.tuples(st.sampled_from(["drop", "double", "move", "rename", "text", "attribute"]),
                           st.integers(0, 10**6), st.integers(0, 10**6), NASTY), max_size=6)


def mutated(document: bytes, edits: list[tuple[str, int, int, str]], cut: int | None) -> bytes:
    from lxml import etree

    root = etree.fromstring(document)
    for kind, i, j, text in edits:
        elements = list(root.iter())[1:]  # never the root: a wrong root is one clear error, tested elsewhere
        if not elements:
            break
        e = elements[i % len(elements)]
        parent = e.getparent()
        if kind == "drop":
            parent.remove(e)
        elif kind == "double":
            parent.insert(parent.index(e), etree.fromstring(etree.tostring(e)))
        elif kind == "move":
            other = elements[j % len(elements)]
            if other is not e and e not in other.iterancestors():
                other.append(e)
        elif kind == "rename":
            namespace = e.tag.rpartition("}")[0] + "}" if "}" in e.tag else ""
            e.tag = namespace + TAGS[j % len(TAGS)]
        elif kind == "text" and all(c.isprintable() or c in "\t\n" for c in text):
            e.text = text
        elif kind == "attribute" and all(c.isprintable() for c in text):
            e.set(["lang", "price_type", "type", "quantity", "mode", "prev_version"][j % 6], text)
    out = etree.tostring(root, xml_declaration=True, encoding="utf-8")
    return out if cut is None else out[: cut % (len(out) + 1)]  # a truncated file, anywhere


@pytest.fixture
def bmecat_store(sqlite_template: Path, tmp_path: Path):
    from pim.structure_files import load_structure_files, save_structure
    from tests.test_bmecat import STRUCTURE

    path = tmp_path / "fuzz.db"
    shutil.copyfile(sqlite_template, path)
    store = Store(f"sqlite:///{path}")
    save_structure(store, load_structure_files(STRUCTURE))
    yield store
    store.dispose()


@FUZZ
@given(edits=EDITS, cut=st.one_of(st.none(), st.integers(0, 10**6)),
       transaction=st.sampled_from(["T_NEW_CATALOG", "T_UPDATE_PRODUCTS", "T_UPDATE_PRICES"]),
       unmatched=st.sampled_from(["create", "quarantine"]))
def test_mutated_bmecat_files_never_crash_and_counts_add_up(bmecat_store: Store, tmp_path_factory, edits, cut,
                                                             transaction: str, unmatched: str):
    from importers.bmecat import import_bmecat, load_map
    from tests.test_bmecat import MAP, PRODUCT

    products = "".join(PRODUCT.format(pid=f"r{n}").replace("4032248855865", f"400638133393{n}") for n in range(1, 4))
    mode = ' mode="update"' if transaction != "T_NEW_CATALOG" else ""
    body = (f'<T_NEW_CATALOG>{products}</T_NEW_CATALOG>'.replace("T_NEW_CATALOG", transaction)
            .replace("<PRODUCT>", f"<PRODUCT{mode}>"))
    document = ('<?xml version="1.0" encoding="UTF-8"?><BMECAT version="2005" xmlns="http://www.bmecat.org/bmecat/2005">'
                "<HEADER><CATALOG><LANGUAGE>eng</LANGUAGE><CURRENCY>EUR</CURRENCY></CATALOG></HEADER>"
                f"{body}</BMECAT>").encode()
    path = tmp_path_factory.mktemp("fuzz") / "catalog.xml"
    path.write_bytes(mutated(document, edits, cut))
    m = load_map(MAP).model_copy(update={"unmatched": unmatched})
    imports_or_refuses(bmecat_store, lambda: import_bmecat(path, bmecat_store, m))


@FUZZ
@given(edits=EDITS, cut=st.one_of(st.none(), st.integers(0, 10**5)))
def test_mutated_matmas_files_never_crash_and_counts_add_up(seeded: Store, tmp_path_factory, edits, cut):
    from importers.erp_xml import import_erp_xml, load_xml_map
    from tests.test_erp_xml import A1, idoc

    document = ('<?xml version="1.0" encoding="UTF-8"?><MATMAS05>' + idoc("000000000000012345", A1)
                + idoc("4711", A1.replace("4006381333931", "4006381333948")) + "</MATMAS05>").encode()
    path = tmp_path_factory.mktemp("fuzz") / "matmas.xml"
    path.write_bytes(mutated(document, edits, cut))
    m = load_xml_map(None).model_copy(update={"family": "tool"})
    imports_or_refuses(seeded, lambda: import_erp_xml(path, seeded, m))


# ------------------------------------------------------------------------------------- supplier tables
SUPPLIER_CELL = st.one_of(NASTY, st.sampled_from(["r1", "4006381333931", "0,25", "12,50", "ACME"]))
TYPED_CELL = st.one_of(SUPPLIER_CELL, st.none(), st.booleans(), st.integers(-10**16, 10**16),
                       st.floats(allow_nan=True, allow_infinity=True),
                       st.dates(min_value=date(1900, 3, 1)), st.sampled_from(["=1+1", "#N/A"]))


@FUZZ
@given(rows=st.lists(st.lists(SUPPLIER_CELL, max_size=7), max_size=8),
       header=st.permutations(["Art-Nr", "EAN", "Bezeichnung", "Gewicht", "Hersteller", "Preis"]), drop=st.integers(0, 9))
def test_broken_supplier_csv_rows_never_crash_and_counts_add_up(bmecat_store: Store, tmp_path_factory, rows, header, drop):
    from importers.supplier_table import import_supplier_table
    from tests.test_supplier_table import MAP

    columns = [c for n, c in enumerate(header) if n != drop or c == "Art-Nr"]  # a column missing, at times
    lines = [";".join(columns)] + [";".join(c.replace(";", "").replace("\n", " ").replace("\r", " ") for c in r) for r in rows]
    path = tmp_path_factory.mktemp("fuzz") / "acme.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    imports_or_refuses(bmecat_store, lambda: import_supplier_table(path, bmecat_store, MAP))


@FUZZ
@given(rows=st.lists(st.lists(TYPED_CELL, max_size=7), max_size=6))
def test_broken_supplier_xlsx_cells_never_crash_and_counts_add_up(bmecat_store: Store, tmp_path_factory, rows):
    from openpyxl import Workbook

    from importers.supplier_table import import_supplier_table
    from tests.test_supplier_table import MAP

    wb = Workbook()
    ws = wb.active
    ws.append(["Art-Nr", "EAN", "Bezeichnung", "Gewicht", "Hersteller", "Preis"])
    for r in rows:
        ws.append([c if not isinstance(c, str) else "".join(ch for ch in c if ch.isprintable()) for c in r])
    path = tmp_path_factory.mktemp("fuzz") / "acme.xlsx"
    wb.save(path)
    m = MAP.model_copy(update={"header_row": 1})
    imports_or_refuses(bmecat_store, lambda: import_supplier_table(path, bmecat_store, m))
