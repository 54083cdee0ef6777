"""Hostile supplier files found by the round-31 security review: a DOCTYPE with entity declarations is refused
wherever it stands (behind a DOCTYPE quoted in a comment, past the first 64 KiB of a workbook part), the
entity scan of a BMEcat 1.2 file is not fooled by processing instructions or the DTD's quoted name, a UTF-16
BMEcat 1.2 file reads as its UTF-8 twin, and workbook parts that would not fit in memory are refused before
openpyxl reads them."""

from __future__ import annotations

import random
import re
import zipfile
from collections.abc import Callable
from io import BytesIO
from pathlib import Path

import pytest

import importers.workbook as workbook
from importers.bmecat_reader import read_bmecat
from importers.supplier_table import xlsx_rows
from importers.workbook import guard_workbook
from importers.xml_safety import check_well_formed
from pim.errors import InputError
from tests.test_bmecat_12 import ARTICLE, _catalog_12
from tests.test_supplier_table import MAP, _repacked, _xlsx

BARE = '<!DOCTYPE BMECAT SYSTEM "bmecat_new_catalog_1_2.dtd">'
#: A comment longer than the prologue scan's 64 KiB.
PAD = f"<!--{'p' * 70_000}-->"


def _catalog(tmp_path: Path, text: str = "Relay r1", doctype: str = BARE) -> Path:
    """A BMEcat 1.2 catalog of one article whose short description is `text` (on line 6 under a one-line
    `doctype`)."""
    body = "<T_NEW_CATALOG>" + ARTICLE.format(pid="r1").replace("Relay r1", text) + "</T_NEW_CATALOG>"
    return _catalog_12(tmp_path, body, doctype)


def test_a_bare_doctype_quoted_in_a_comment_lets_no_later_internal_subset_through(tmp_path: Path) -> None:
    """The scan took the bare DOCTYPE in the comment for the document's and the parser's check of the real
    one, past 64 KiB, was skipped: the file imported with its entities' text lost."""
    prologue = (f"<!-- {BARE} -->\n{PAD}\n"
                '<!DOCTYPE BMECAT [<!ENTITY x "INJECTED"><!ENTITY y SYSTEM "file:///etc/hostname">]>')
    with pytest.raises(InputError, match="DOCTYPE past its first 64 KiB") as err:
        list(read_bmecat(_catalog(tmp_path, "Relay <?p <!-- ?>&x;&y;<!-- --> r1", prologue)))
    assert err.value.field == "DOCTYPE"


@pytest.mark.parametrize("doctype", ['<!DOCTYPE R [<!ENTITY x "INJECTED">]>',
                                     '<!DOCTYPE R SYSTEM "r.dtd" [<!ELEMENT R ANY>]>'])
def test_the_full_check_refuses_declarations_whatever_the_prologue_scan_answered(doctype: str) -> None:
    """check_well_formed takes guard_prologue's answer; told a bare DOCTYPE was let through, it still refuses a
    DOCTYPE the parser found declaring anything."""
    document = f'<?xml version="1.0"?>\n{doctype}\n<R><P>1</P></R>\n'.encode()
    with pytest.raises(InputError, match="declares entities or elements in its DOCTYPE") as err:
        check_well_formed(BytesIO(document), "r.xml", True, ["P"])
    assert err.value.field == "DOCTYPE"


def test_a_processing_instruction_hides_no_dtd_entity_from_the_scan(tmp_path: Path) -> None:
    """`<!--` inside a processing instruction was taken for a comment running to the next `-->`, so the
    entity between them was never seen, and read as nothing."""
    with pytest.raises(InputError, match="&nbsp;") as err:
        list(read_bmecat(_catalog(tmp_path, "Relay <?p <!-- ?>&nbsp;<!-- --> r1")))
    assert err.value.line == 6


def test_the_dtd_s_quoted_name_hides_no_dtd_entity_from_the_scan(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="&nbsp;") as err:
        list(read_bmecat(_catalog(tmp_path, "Relay&nbsp;r1 <!-- -->", '<!DOCTYPE BMECAT SYSTEM "c<!--.dtd">')))
    assert err.value.line == 6


def test_a_doctype_quoted_in_a_comment_is_not_the_document_s(tmp_path: Path) -> None:
    doctype = f'<!-- was: <!DOCTYPE BMECAT [<!ENTITY x "y">]> --> {BARE}'
    [p] = list(read_bmecat(_catalog(tmp_path, doctype=doctype)))
    assert p.short == {"eng": "Relay r1"}


def _wide(path: Path, codec: str) -> Path:
    """The catalog at `path` written in the UTF-16 `codec`, declaring it."""
    declared = {"utf-16": "UTF-16", "utf-16-le": "UTF-16LE", "utf-16-be": "UTF-16BE"}[codec]
    path.write_bytes(path.read_text(encoding="utf-8").replace('encoding="UTF-8"', f'encoding="{declared}"').encode(codec))
    return path


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le", "utf-16-be"])
def test_a_utf16_12_catalog_with_its_bare_dtd_reference_reads_as_its_utf8_twin(tmp_path: Path, codec: str) -> None:
    """It was refused as "an external DTD"; the same file in UTF-8 imported."""
    [p] = list(read_bmecat(_wide(_catalog(tmp_path, "Relais für Hutschiene"), codec)))
    assert (p.supplier_pid, p.short) == ("r1", {"eng": "Relais für Hutschiene"})


@pytest.mark.parametrize("codec", ["utf-16", "utf-16-le"])
def test_a_utf16_12_catalog_using_a_dtd_entity_is_refused_naming_it(tmp_path: Path, codec: str) -> None:
    with pytest.raises(InputError, match="uses the entity &uuml;") as err:
        list(read_bmecat(_wide(_catalog(tmp_path, "Relais f&uuml;r Hutschiene"), codec)))
    assert (err.value.field, err.value.line) == ("DOCTYPE", 6)


def _shared(tmp_path: Path, part: str = "xl/sharedStrings.xml", more: int = 0) -> Path:
    """A supplier workbook of one row whose texts are shared strings, in `part`, as Excel writes them (openpyxl
    writes inline strings), with `more` strings no cell uses."""
    source = _xlsx(tmp_path, [["r1", None, "Relais"]])
    with zipfile.ZipFile(source) as archive:
        parts = {info.filename: archive.read(info).decode() for info in archive.infolist()}
    strings: list[str] = []

    def shared(cell: re.Match[str]) -> str:
        strings.append(cell.group(2))
        return f'<c r="{cell.group(1)}" t="s"><v>{len(strings) - 1}</v></c>'

    sheet = "xl/worksheets/sheet1.xml"
    parts[sheet] = re.sub(r'<c r="(\w+)" t="inlineStr"><is><t>([^<]*)</t></is></c>', shared, parts[sheet])
    items = [*strings, *(str(n) for n in range(more))]
    parts[part] = (f'<sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="{len(items)}" '
                   f'uniqueCount="{len(items)}">' + "".join(f"<si><t>{t}</t></si>" for t in items) + "</sst>")
    parts["[Content_Types].xml"] = parts["[Content_Types].xml"].replace("</Types>", (
        f'<Override PartName="/{part}" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.'
        'sharedStrings+xml"/></Types>'))
    parts["xl/_rels/workbook.xml.rels"] = parts["xl/_rels/workbook.xml.rels"].replace("</Relationships>", (
        '<Relationship Id="rId99" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/'
        f'sharedStrings" Target="/{part}"/></Relationships>'))
    path = tmp_path / "shared.xlsx"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in parts.items():
            archive.writestr(name, text)
    return path


def _late(doctype: str, value: str) -> Callable[[str], str]:
    """A change to a workbook part: `doctype` after a comment longer than the prologue scan, and "Relais"
    written as `value`."""
    def change(xml: str) -> str:
        declaration, _, rest = xml.partition("?>") if xml.startswith("<?xml") else ("", "", xml)
        head = f"{declaration}?>" if declaration else ""
        return f"{head}{PAD}{doctype}{rest}".replace("Relais", value)
    return change


LAUGHS = "".join(f'<!ENTITY l{n} "{f"&l{n - 1};" * 10 if n else "lol"}">' for n in range(10))


@pytest.mark.parametrize("doctype, value", [
    ('<!DOCTYPE sst [<!ENTITY x "INJECTED">]>', "Relais &x;"),
    ('<!DOCTYPE sst [<!ENTITY x SYSTEM "file:///etc/hostname">]>', "Relais &x;"),
    (f"<!DOCTYPE sst [{LAUGHS}]>", "&l9;"),
], ids=["internal-entity", "external-entity", "billion-laughs"])
def test_a_doctype_past_64_kib_of_the_shared_strings_is_refused(tmp_path: Path, doctype: str, value: str) -> None:
    """openpyxl parsed the shared strings with expat: the internal entity was expanded into the cell, and the
    billion laughs, stopped by expat's own limit, was said to need saving "as .xlsx"."""
    path = _repacked(_shared(tmp_path), "xl/sharedStrings.xml", _late(doctype, value))
    with pytest.raises(InputError, match="declares entities") as err:
        list(xlsx_rows(path, MAP.model_copy(update={"header_row": 2})))
    assert (err.value.field, err.value.file) == ("DOCTYPE", "changed.xlsx:xl/sharedStrings.xml")
    assert "Excel never writes a DOCTYPE" in err.value.hint and ".xlsx (Excel" not in err.value.hint


def test_a_doctype_past_64_kib_of_a_sheet_is_refused(tmp_path: Path) -> None:
    path = _repacked(_xlsx(tmp_path, [["r1", None, "Relais"]]), "xl/worksheets/sheet1.xml",
                     _late('<!DOCTYPE worksheet [<!ENTITY x "INJECTED">]>', "Relais"))
    with pytest.raises(InputError, match="declares entities") as err:
        list(xlsx_rows(path, MAP.model_copy(update={"header_row": 2})))
    assert (err.value.field, err.value.file) == ("DOCTYPE", "changed.xlsx:xl/worksheets/sheet1.xml")


def test_an_early_doctype_in_a_workbook_says_to_save_it_again_from_excel(tmp_path: Path) -> None:
    """The hint was the XML importers': remove the declarations, which a workbook's user cannot."""
    path = _repacked(_shared(tmp_path), "xl/sharedStrings.xml",
                     lambda xml: xml.replace("<sst", '<!DOCTYPE sst [<!ENTITY x "y">]><sst', 1))
    with pytest.raises(InputError, match="declares entities") as err:
        list(xlsx_rows(path, MAP.model_copy(update={"header_row": 2})))
    assert err.value.field == "DOCTYPE" and "save it again" in err.value.hint


XF = '<xf numFmtId="0" fontId="0" fillId="0" borderId="0" xfId="0"/>'


@pytest.mark.parametrize("part, item", [("xl/styles.xml", XF), ("xl/sharedStrings.xml", "<si><t>a</t></si>")])
def test_a_part_of_100_mb_packed_300_times_smaller_is_refused_before_openpyxl_reads_it(
        tmp_path: Path, part: str, item: bytes) -> None:
    """styles95.xlsx, 290 KB: 1.6 million cell formats took openpyxl 2.9 GB and 44 s; the ratio check only
    looked at parts over 100 MiB."""
    root = "styleSheet" if part.endswith("styles.xml") else "sst"
    data = (f'<{root} xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
            + item * (99_000_000 // len(item)) + f"</{root}>")
    path = _repacked(_shared(tmp_path), part, lambda _: data)
    assert path.stat().st_size < 1_000_000
    with pytest.raises(InputError, match=r"\(a zip bomb\); refused") as err:
        guard_workbook(path)
    assert err.value.file == f"changed.xlsx:{part}"


def test_a_styles_part_past_16_mib_is_refused_however_it_packs(tmp_path: Path) -> None:
    """Packed only ~30 times smaller, 17 MiB of cell formats still cost openpyxl ~800 MB."""
    rnd = random.Random(1)
    xfs = "".join(XF.replace('"0"', f'"{rnd.randrange(200)}"', 1) for _ in range(17 * 1024 * 1024 // len(XF)))
    path = _repacked(_xlsx(tmp_path, [["r1", None, "Relais"]]), "xl/styles.xml",
                     lambda _: f"<styleSheet><cellXfs>{xfs}</cellXfs></styleSheet>")
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("xl/styles.xml")
        assert info.file_size < 100 * info.compress_size  # no zip bomb by its ratio
    with pytest.raises(InputError, match="read whole into memory") as err:
        guard_workbook(path)
    assert err.value.file == "changed.xlsx:xl/styles.xml" and "CSV" in err.value.hint


def test_the_shared_strings_limits_hold_under_any_part_name(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _shared(tmp_path, "xl/strings.xml", more=2_000)
    assert [cells[2] for _, _, _, cells in xlsx_rows(path, MAP.model_copy(update={"header_row": 2}))] == ["Relais"]
    monkeypatch.setattr(workbook, "_MAX_SHARED_STRINGS", 10_000)  # the real limit is 256 MiB
    with pytest.raises(InputError, match="shared strings unpack to") as err:
        guard_workbook(path)
    assert err.value.file == "shared.xlsx:xl/strings.xml"


def test_more_shared_strings_than_fit_in_memory_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Tiny strings cost openpyxl ~150 bytes each beyond their text: 256 MiB of them, under the size limit,
    would take ~2 GB."""
    path = _shared(tmp_path, "xl/strings.xml", more=2_000)
    monkeypatch.setattr(workbook, "_MAX_STRINGS", 1_000, raising=False)  # the real limit is 4 million
    with pytest.raises(InputError, match=r"holds about 2,0\d\d shared strings") as err:
        guard_workbook(path)
    assert err.value.file == "shared.xlsx:xl/strings.xml"


def test_guard_a_sheet_of_formatted_empty_rows_is_no_zip_bomb(tmp_path: Path) -> None:
    """Guard (passes on the old code too): the most repetitive sheet Excel writes packs ~30 times smaller;
    the sheet streams, so no size limit applies to it."""
    rows = "".join(f'<row r="{n}" spans="1:12" s="3" customFormat="1"/>' for n in range(4, 200_000))
    path = _repacked(_xlsx(tmp_path, [["r1", None, "Relais"]]), "xl/worksheets/sheet1.xml",
                     lambda xml: xml.replace("</sheetData>", rows + "</sheetData>"))
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo("xl/worksheets/sheet1.xml")
        assert info.file_size > 8 * 1024 * 1024 and info.file_size > 20 * info.compress_size
    guard_workbook(path)
