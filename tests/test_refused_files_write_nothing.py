"""A source file refused for its own structure part-way through — a quote that never closes, a byte that does not
decode, UTF-8 text under a single-byte encoding, XML truncated after some records — imports nothing: the refusal
comes before the first batch is written (importers.csv_records.check_records, importers.xml_safety.
check_well_formed), with the message, line and field it had when the batches before the line stayed imported.
Fixed, the same file imports whole. Rows rejected one by one (ragged rows) stay row rejections."""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path

import pytest

from importers.bmecat import import_bmecat, load_map
from importers.content import ContentProfile, import_content
from importers.erp_csv import ErpCsvMap, import_erp_csv
from importers.erp_xml import import_erp_xml
from importers.supplier_table import import_supplier_table
from importers.xml_safety import check_well_formed, guard_prologue, safe_iterparse
from pim.commerce import stock_for
from pim.errors import InputError
from pim.importing import ImportCounts
from pim.store import Store
from tests.source_data import seed_structure
from tests.test_bmecat import MAP as BMECAT_MAP
from tests.test_bmecat import _xml, supplier_store  # noqa: F401  (fixture)
from tests.test_erp_xml import A1, idoc, matmas
from tests.test_supplier_table import MAP as SUPPLIER_MAP
from tests.test_supplier_table import sstore  # noqa: F401  (fixture)

BATCH = 2
QUOTE_HINT = ('a cell that starts with a quote must end with one, and a quote inside a quoted cell is doubled (""): '
              "remove or double the stray quote, then run the import again")
XML_HINT = "the file may be truncated, not XML, or in another encoding than it declares"
CREATE = ContentProfile(unmatched="create")


@pytest.fixture
def seeded(store: Store) -> Store:
    seed_structure(store)
    store.batch_size = BATCH
    return store


def refused_whole(store: Store, run: Callable[[], ImportCounts], skus: list[str], described: str) -> None:
    """`run` raises the InputError `described` (InputError.describe: file, line, field, message and hint), the
    store holds none of `skus`, and the import's job failed with that error."""
    with pytest.raises(InputError) as err:
        run()
    assert err.value.describe() == described
    assert store.existing_identifiers(skus) == set()
    job = store.jobs()[0]
    assert (job["status"], job["error"]) == ("failed", described)


# ---------------------------------------------------------------- CSV
ERP_MAP = dict(delimiter=";", encoding="utf-8", decimal=",", sku_column="Material", family="tool",
               columns={"Bezeichnung": "name:de_DE"})


def _erp(path: Path, rows: int, broken: dict[int, bytes], header: bytes = b"Material;Bezeichnung") -> Path:
    """An ERP CSV of `rows` data rows P2… (named by their line), with the lines in `broken` written as given."""
    lines = [header] + [broken.get(n, b"P%d;Name %d" % (n, n)) for n in range(2, rows + 2)]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _skus(rows: int) -> list[str]:
    return [f"P{n}" for n in range(2, rows + 2)]


def test_an_erp_csv_whose_quote_never_closes_after_its_first_batches_imports_nothing(seeded: Store, tmp_path: Path):
    path = _erp(tmp_path / "erp.csv", 12, {10: b'P10;"Bohrer'})
    refused_whole(seeded, lambda: import_erp_csv(path, seeded, ErpCsvMap(**ERP_MAP)), _skus(12),
                  "erp.csv:10 [Bezeichnung]: a quote opened on line 10 is never closed: the rest of the file would be "
                  f"one cell (line 10: 'P10;\"Bohrer')\n  → {QUOTE_HINT}")
    _erp(path, 12, {10: b'P10;"Bohrer"'})
    assert import_erp_csv(path, seeded, ErpCsvMap(**ERP_MAP)).created == 12
    assert seeded.get_product("P10").values["name:de_DE"] == "Bohrer"


def test_an_erp_csv_byte_that_does_not_decode_after_its_first_batches_imports_nothing(seeded: Store, tmp_path: Path):
    """The file is decoded in blocks of 8 KiB: 1,000 rows (10 batches) come before the one that does not decode."""
    seeded.batch_size = 100
    path = _erp(tmp_path / "erp.csv", 1200, {1001: b"P1001;S\xe4ge"})
    offset = path.read_bytes().index(b"\xe4")
    refused_whole(seeded, lambda: import_erp_csv(path, seeded, ErpCsvMap(**ERP_MAP)), _skus(1200),
                  f"{path}:1001: the file is not utf-8: byte b'\\xe4' on line 1001 (byte offset {offset}) cannot be "
                  "decoded\n  → set `encoding:` in the profile (e.g. cp1252, latin-1, utf-8)")
    _erp(path, 1200, {1001: "P1001;Säge".encode()})
    assert import_erp_csv(path, seeded, ErpCsvMap(**ERP_MAP)).created == 1200


def test_an_erp_csv_in_utf8_under_cp1252_with_its_first_umlaut_past_the_first_batches_imports_nothing(
        seeded: Store, tmp_path: Path):
    """Utf8Watch refuses at the block holding the first umlaut: 1,000 ASCII rows (several 8 KiB blocks, 10 batches)
    before it."""
    seeded.batch_size = 100
    path = _erp(tmp_path / "erp.csv", 1200, {1001: "P1001;Säge".encode()})
    cp1252 = {**ERP_MAP, "encoding": "cp1252"}
    refused_whole(seeded, lambda: import_erp_csv(path, seeded, ErpCsvMap(**cp1252)), _skus(1200),
                  f"{path}:1001 [encoding]: the file reads as UTF-8 (e.g. line 1001: 'Säge'), not cp1252 as its "
                  "map or profile says: its text would be stored garbled ('SÃ¤ge')\n  → set `encoding: utf-8` in "
                  "the map or profile, or re-save the file as cp1252, and import it again")
    assert import_erp_csv(path, seeded, ErpCsvMap(**ERP_MAP)).created == 1200


def test_an_erp_stock_csv_whose_quote_never_closes_writes_no_stock(seeded: Store, tmp_path: Path):
    import_erp_csv(_erp(tmp_path / "erp.csv", 12, {}), seeded, ErpCsvMap(**ERP_MAP))
    stock = ErpCsvMap(kind="stock", delimiter=";", sku_column="Material",
                      columns={"Lager": "warehouse", "Menge": "quantity"})
    lines = [b"Material;Lager;Menge"] + [b"P%d;HH;%d" % (n, n) for n in range(2, 14)]
    lines[9] = b'P10;"HH;10'
    path = tmp_path / "stock.csv"
    path.write_bytes(b"\n".join(lines) + b"\n")
    with pytest.raises(InputError) as err:
        import_erp_csv(path, seeded, stock)
    assert (err.value.line, err.value.field) == (10, "Lager")
    assert str(err.value) == "a quote opened on line 10 is never closed: the rest of the file would be one cell " \
                             "(line 10: 'P10;\"HH;10')"
    assert stock_for(seeded, _skus(12)) == {} and seeded.jobs()[0]["status"] == "failed"
    path.write_bytes(path.read_bytes().replace(b'"HH;10', b"HH;10"))
    assert import_erp_csv(path, seeded, stock).updated == 12


def test_a_supplier_csv_whose_quote_never_closes_after_its_first_batches_imports_nothing(sstore: Store,  # noqa: F811
                                                                                            tmp_path: Path):
    sstore.batch_size = BATCH
    rows = ["Art-Nr;EAN;Bezeichnung;Gewicht;Hersteller;Preis"] + [f"S{n};;Relais {n};0,1;ACME;1" for n in range(2, 14)]
    rows[9] = 'S10;;"Relais 10;0,1;ACME;1'
    path = tmp_path / "acme.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    skus = [f"S{n}" for n in range(2, 14)]
    refused_whole(sstore, lambda: import_supplier_table(path, sstore, SUPPLIER_MAP), skus,
                  "acme.csv:10 [Bezeichnung]: a quote opened on line 10 is never closed: the rest of the file would be "
                  f"one cell (line 10: 'S10;;\"Relais 10;0,1;ACME;1')\n  → {QUOTE_HINT}")
    path.write_text(path.read_text(encoding="utf-8").replace('"Relais 10', "Relais 10"), encoding="utf-8")
    assert import_supplier_table(path, sstore, SUPPLIER_MAP).created == 12


def _content(path: Path, rows: int, broken: dict[int, bytes]) -> Path:
    lines = [b"sku,name:en_US"] + [broken.get(n, b"C%d,Name %d" % (n, n)) for n in range(2, rows + 2)]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


# the content reader looks 500 records ahead (keep_edits, models_named): the break comes after that
def test_a_content_csv_byte_that_does_not_decode_after_its_first_batches_imports_nothing(seeded: Store, tmp_path: Path):
    seeded.batch_size = 100
    path = _content(tmp_path / "content.csv", 700, {650: b"C650,S\xe4ge"})
    skus = [f"C{n}" for n in range(2, 702)]
    offset = path.read_bytes().index(b"\xe4")
    refused_whole(seeded, lambda: import_content(path, seeded, CREATE), skus,
                  f"{path}:650: the file is not utf-8: byte b'\\xe4' on line 650 (byte offset {offset}) cannot be "
                  "decoded\n  → set `encoding:` in the profile (e.g. cp1252, latin-1, utf-8)")
    _content(path, 700, {650: "C650,Säge".encode()})
    assert import_content(path, seeded, CREATE).created == 700


def test_a_content_csv_whose_quote_never_closes_after_its_first_batches_imports_nothing(seeded: Store, tmp_path: Path):
    seeded.batch_size = 100
    path = _content(tmp_path / "content.csv", 700, {650: b'C650,"Name'})
    refused_whole(seeded, lambda: import_content(path, seeded, CREATE), [f"C{n}" for n in range(2, 702)],
                  "content.csv:650 [name:en_US]: a quote opened on line 650 is never closed: the rest of the file "
                  f"would be one cell (line 650: 'C650,\"Name')\n  → {QUOTE_HINT}")


def test_a_content_json_lines_byte_that_does_not_decode_after_its_first_batches_imports_nothing(seeded: Store,
                                                                                                 tmp_path: Path):
    """A broken JSON line is a rejected row; a byte that is no UTF-8 refuses the file, now before any batch."""
    seeded.batch_size = 100
    lines = [b'{"sku": "J%d", "values": {"name:en_US": "Name %d"}}' % (n, n) for n in range(1, 701)]
    lines[649] = b'{"sku": "J650", "values": {"name:en_US": "S\xe4ge"}}'
    path = tmp_path / "content.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    offset = path.read_bytes().index(b"\xe4")
    refused_whole(seeded, lambda: import_content(path, seeded, CREATE), [f"J{n}" for n in range(1, 701)],
                  f"content.jsonl:650: the file is not UTF-8: byte b'\\xe4' on line 650 (byte offset {offset}) cannot "
                  "be decoded\n  → save the file as UTF-8 and re-run")
    path.write_bytes(path.read_bytes().replace(b"S\xe4ge", "Säge".encode()))
    assert import_content(path, seeded, CREATE).created == 700


def test_guard_a_content_json_array_broken_at_its_end_was_and_is_refused_before_any_batch(seeded: Store,
                                                                                          tmp_path: Path):
    """Guard (passes on the old code too): an array is loaded whole before its first record is taken."""
    seeded.batch_size = 100
    path = tmp_path / "content.json"
    path.write_bytes(b"[" + b",".join(b'{"sku": "J%d"}' % n for n in range(1, 701)) + b',{"sku": "J701"')
    with pytest.raises(InputError, match="not valid JSON"):
        import_content(path, seeded, CREATE)
    assert seeded.get_product("J1") is None


def test_guard_a_ragged_row_after_the_first_batches_stays_a_row_rejection(seeded: Store, tmp_path: Path):
    """Guard (passes on the old code too): the look through the whole file refuses only what refused it before."""
    path = _erp(tmp_path / "erp.csv", 12, {10: b"P10;Bohrer;extra"})
    counts = import_erp_csv(path, seeded, ErpCsvMap(**ERP_MAP))
    assert (counts.created, counts.rejected) == (11, 1)
    [entry] = seeded.quarantined(counts.job_id)
    assert entry["line"] == 10 and "the row has 3 cells" in entry["reason"]


# ---------------------------------------------------------------- XML
def test_erp_xml_truncated_after_its_first_batches_imports_nothing(seeded: Store, tmp_path: Path):
    idocs = [idoc(f"M{n}", A1.replace("4006381333931", "")) for n in range(1, 11)]
    path = tmp_path / "matmas.xml"
    whole = '<?xml version="1.0" encoding="UTF-8"?>\n<MATMAS05>\n' + "\n".join(idocs) + "\n</MATMAS05>\n"
    path.write_text(whole[:whole.index("<IDOC", whole.index("<MATNR>M8<")) - 1], encoding="utf-8")  # cut after M7
    refused_whole(seeded, lambda: import_erp_xml(path, seeded, matmas()), [f"M{n}" for n in range(1, 11)],
                  f"{path}:10: not well-formed XML: Premature end of data in tag MATMAS05 line 2\n  → {XML_HINT}")
    path.write_text(whole, encoding="utf-8")
    assert import_erp_xml(path, seeded, matmas()).created == 10


BME_PRODUCT = ('<PRODUCT><SUPPLIER_PID>B{n}</SUPPLIER_PID><PRODUCT_DETAILS><DESCRIPTION_SHORT lang="eng">Relay {n}'
               "</DESCRIPTION_SHORT></PRODUCT_DETAILS></PRODUCT>")


def test_a_bmecat_file_malformed_after_its_first_batches_imports_nothing(supplier_store: Store,  # noqa: F811
                                                                         tmp_path: Path):
    supplier_store.batch_size = BATCH
    products = [BME_PRODUCT.format(n=n) for n in range(1, 11)]
    products[7] = products[7].replace("</DESCRIPTION_SHORT>", "</DESCRIPTION>")
    path = _xml(tmp_path, "<T_NEW_CATALOG>\n" + "\n".join(products) + "\n</T_NEW_CATALOG>")
    skus = [f"B{n}" for n in range(1, 11)]
    refused_whole(supplier_store, lambda: import_bmecat(path, supplier_store, load_map(BMECAT_MAP)), skus,
                  f"{path}:12: not well-formed XML: Opening and ending tag mismatch: DESCRIPTION_SHORT line 12 and "
                  f"DESCRIPTION\n  → {XML_HINT}")
    path.write_text(path.read_text(encoding="utf-8").replace("</DESCRIPTION>", "</DESCRIPTION_SHORT>"),
                    encoding="utf-8")
    assert import_bmecat(path, supplier_store, load_map(BMECAT_MAP)).created == 10


@pytest.mark.parametrize("document", [
    b"<R><P>1</P>\n<P>2</P>\n<P>3",  # truncated
    b"<R xmlns:a='u'><P>1</P>\n<b:P>2</b:P>\n<P>3</R>",  # an undefined prefix before a truncation: the prefix
    b"<R><P>1</P>\n<P>&nbsp;</P></R>",  # the entity, named with its own hint
    b"<R><P>1</P>\n" + b"<a>" * 300 + b"</a>" * 300 + b"</R>",  # deeper than the parser takes
    b"<?xml version='1.0'?>" + b" " * 70000 + b"<!DOCTYPE R SYSTEM 'r.dtd'><R><P>1</P>\n<P></R>",  # past the scan
])
def test_the_well_formedness_pass_refuses_as_the_read_does(document: bytes):
    def read() -> None:
        for _ in safe_iterparse(io.BytesIO(document), "f.xml", events=("end",), tag=["P"]):
            pass

    with pytest.raises(InputError) as by_read:
        read()
    handle = io.BytesIO(document)
    with pytest.raises(InputError) as by_check:
        check_well_formed(handle, "f.xml", guard_prologue(handle, "f.xml"), ["P"])
    assert (by_check.value.describe(), by_check.value.field) == (by_read.value.describe(), by_read.value.field)
    assert handle.tell() == 0
