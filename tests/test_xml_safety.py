"""Untrusted XML never resolves entities or touches the network: an ERP file with an external entity or an
entity bomb is refused with a clear error before anything is imported."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from importers.erp_xml import import_erp_xml, load_xml_map
from pim.errors import InputError
from pim.store import Store
from tests.source_data import seed_structure

XXE = """<?xml version="1.0"?>
<!DOCTYPE MATMAS05 [<!ENTITY secret SYSTEM "file:///etc/passwd">]>
<MATMAS05><IDOC><E1MARAM><MATNR>1</MATNR><MAKTX>&secret;</MAKTX></E1MARAM></IDOC></MATMAS05>
"""
BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">]>
<MATMAS05><IDOC><E1MARAM><MATNR>&lol2;</MATNR></E1MARAM></IDOC></MATMAS05>
"""
NETWORK_DTD = """<?xml version="1.0"?>
<!DOCTYPE MATMAS05 SYSTEM "http://127.0.0.1:{port}/evil.dtd">
<MATMAS05><IDOC><E1MARAM><MATNR>&ext;</MATNR></E1MARAM></IDOC></MATMAS05>
"""


@pytest.mark.parametrize("document", [XXE, BOMB], ids=["external-entity", "entity-bomb"])
def test_entity_declarations_are_refused(store: Store, tmp_path: Path, document: str):
    seed_structure(store)
    path = tmp_path / "evil.xml"
    path.write_text(document)
    with pytest.raises(InputError, match="declares entities") as err:
        import_erp_xml(path, store, load_xml_map(None))
    assert err.value.field == "DOCTYPE"
    assert store.count_products() == 0


def _padded(document: str) -> str:
    """The document with a comment longer than the prologue scan before its DOCTYPE."""
    head, _, rest = document.partition("\n")
    return f"{head}\n<!--{'x' * 70_000}-->\n{rest}"


@pytest.mark.parametrize("document", [XXE, BOMB, NETWORK_DTD.format(port=9)],
                         ids=["external-entity", "entity-bomb", "external-dtd"])
def test_a_doctype_behind_a_long_prologue_is_refused_too(store: Store, tmp_path: Path, document: str):
    """Found exploring: the scan reads the first 64 KiB; a DOCTYPE after a long comment passed it, and its
    entities were read as nothing (clearing the values they stood in)."""
    seed_structure(store)
    path = tmp_path / "padded.xml"
    path.write_text(_padded(document))
    with pytest.raises(InputError, match="has a DOCTYPE past its first 64 KiB") as err:
        import_erp_xml(path, store, load_xml_map(None))
    assert err.value.field == "DOCTYPE"
    assert store.count_products() == 0


def test_external_dtd_is_never_fetched(store: Store, tmp_path: Path):
    seed_structure(store)
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.setblocking(False)
        path = tmp_path / "evil.xml"
        path.write_text(NETWORK_DTD.format(port=server.getsockname()[1]))
        with pytest.raises(InputError, match="DOCTYPE"):
            import_erp_xml(path, store, load_xml_map(None))
        with pytest.raises(BlockingIOError):
            server.accept()  # nobody connected: the DTD was not loaded
    assert store.count_products() == 0


def test_an_undefined_entity_is_named_with_its_line(store: Store, tmp_path: Path):
    """lxml's exception said "no element found", line 0; its error log has the first error."""
    seed_structure(store)
    path = tmp_path / "nbsp.xml"
    path.write_text('<?xml version="1.0"?>\n<MATMAS05>\n<IDOC><E1MARAM><MATNR>P1</MATNR></E1MARAM></IDOC>\n'
                    "<IDOC><E1MARAM><MATNR>P2</MATNR><MAKTX>Widget&nbsp;X</MAKTX></E1MARAM></IDOC>\n</MATMAS05>\n")
    with pytest.raises(InputError, match="Entity 'nbsp' not defined") as err:
        import_erp_xml(path, store, load_xml_map(None))
    assert err.value.line == 4 and "&#160;" in (err.value.hint or "")


@pytest.mark.parametrize("codec", ["utf-16-le", "utf-16-be"])
def test_a_utf16_document_without_a_byte_order_mark_is_refused_at_its_doctype_line(
        store: Store, tmp_path: Path, codec: str):
    """Found exploring (round 25): the prologue scan read such a file as bytes and missed its DOCTYPE; the parser
    then found it, and the refusal said "past its first 64 KiB" of a DOCTYPE on line 2."""
    seed_structure(store)
    path = tmp_path / "wide.xml"
    path.write_bytes(XXE.replace('<?xml version="1.0"?>', f'<?xml version="1.0" encoding="{codec.upper()}"?>').encode(codec))
    with pytest.raises(InputError, match="declares entities") as err:
        import_erp_xml(path, store, load_xml_map(None))
    assert (err.value.field, err.value.line) == ("DOCTYPE", 2)
    assert store.count_products() == 0
