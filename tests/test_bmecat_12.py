"""BMEcat 1.2: ARTICLE elements read as their 2005 twins, and the DTD a 1.2 file names is never loaded."""

from __future__ import annotations

import socket
from dataclasses import asdict
from pathlib import Path

import pytest

from importers.bmecat import import_bmecat, load_map
from importers.bmecat_reader import BmecatHeader, read_bmecat
from pim.errors import InputError
from pim.store import Store
from tests.test_bmecat import MAP, PRODUCT, _our_accessory, _xml, supplier_store  # noqa: F401  (fixture)

NS_12 = "http://www.bmecat.org/XMLSchema/1.2/bmecat_new_catalog"
#: tests.test_bmecat.PRODUCT written in BMEcat 1.2 (no lang attributes: a 1.2 catalog has one language).
ARTICLE = """<ARTICLE><SUPPLIER_AID>{pid}</SUPPLIER_AID><ARTICLE_DETAILS>
<DESCRIPTION_SHORT>Relay {pid}</DESCRIPTION_SHORT><EAN>4032248855865</EAN>
<MANUFACTURER_AID>M-{pid}</MANUFACTURER_AID><MANUFACTURER_NAME>Weidmüller</MANUFACTURER_NAME></ARTICLE_DETAILS>
<ARTICLE_FEATURES><REFERENCE_FEATURE_SYSTEM_NAME>ECLASS-9.0</REFERENCE_FEATURE_SYSTEM_NAME>
<REFERENCE_FEATURE_GROUP_ID>27371601</REFERENCE_FEATURE_GROUP_ID>
<FEATURE><FNAME>0173-1#02-BAA020#007</FNAME><FVALUE>27,5</FVALUE><FUNIT>MMT</FUNIT></FEATURE></ARTICLE_FEATURES>
<ARTICLE_ORDER_DETAILS><ORDER_UNIT>C62</ORDER_UNIT><CONTENT_UNIT>C62</CONTENT_UNIT><NO_CU_PER_OU>10</NO_CU_PER_OU>
<QUANTITY_MIN>2</QUANTITY_MIN></ARTICLE_ORDER_DETAILS>
<ARTICLE_PRICE_DETAILS>
<ARTICLE_PRICE price_type="net_customer"><PRICE_AMOUNT>10.50</PRICE_AMOUNT><PRICE_CURRENCY>EUR</PRICE_CURRENCY><LOWER_BOUND>1</LOWER_BOUND></ARTICLE_PRICE>
<ARTICLE_PRICE price_type="net_customer"><PRICE_AMOUNT>9.00</PRICE_AMOUNT><PRICE_CURRENCY>EUR</PRICE_CURRENCY><LOWER_BOUND>100</LOWER_BOUND></ARTICLE_PRICE>
</ARTICLE_PRICE_DETAILS>
<MIME_INFO><MIME><MIME_TYPE>image/jpeg</MIME_TYPE><MIME_SOURCE>img/{pid}.jpg</MIME_SOURCE><MIME_PURPOSE>normal</MIME_PURPOSE></MIME></MIME_INFO>
<ARTICLE_REFERENCE type="accessories" quantity="2"><ART_ID_TO>acc-1</ART_ID_TO></ARTICLE_REFERENCE>
</ARTICLE>"""
#: The same content in BMEcat 2005 names.
TWIN = (ARTICLE.replace("ARTICLE_PRICE", "PRODUCT_PRICE").replace("ARTICLE_", "PRODUCT_").replace("ARTICLE", "PRODUCT")
        .replace("SUPPLIER_AID", "SUPPLIER_PID").replace("MANUFACTURER_AID", "MANUFACTURER_PID")
        .replace("ART_ID_TO", "PROD_ID_TO"))


def _catalog_12(tmp_path: Path, body: str, doctype: str = '<!DOCTYPE BMECAT SYSTEM "bmecat_new_catalog_1_2.dtd">',
                name: str = "c12.xml") -> Path:
    path = tmp_path / name
    path.write_text(f'<?xml version="1.0" encoding="UTF-8"?>\n{doctype}\n<BMECAT version="1.2" xmlns="{NS_12}">\n'
                    "<HEADER><CATALOG><LANGUAGE>eng</LANGUAGE><CATALOG_ID>C1</CATALOG_ID><CURRENCY>EUR</CURRENCY>"
                    f"</CATALOG><SUPPLIER><SUPPLIER_NAME>Weidmüller</SUPPLIER_NAME></SUPPLIER></HEADER>\n{body}\n</BMECAT>\n",
                    encoding="utf-8")
    return path


def test_an_article_reads_exactly_as_its_2005_twin(tmp_path: Path) -> None:
    header = BmecatHeader()
    [old] = list(read_bmecat(_catalog_12(tmp_path, "<T_NEW_CATALOG>" + ARTICLE.format(pid="r1") + "</T_NEW_CATALOG>"),
                             header))
    [new] = list(read_bmecat(_xml(tmp_path, "<T_NEW_CATALOG>" + TWIN.format(pid="r1") + "</T_NEW_CATALOG>")))
    assert "ARTICLE" not in TWIN and "_AID" not in TWIN  # the twin really is 2005
    # the DOCTYPE is one line more: the PRODUCT's and its EAN's
    assert [(g.text, g.element) for g in old.gtins] == [(g.text, g.element) for g in new.gtins] == [("4032248855865", "EAN")]
    assert (old.line, old.gtins[0].line) == (5, new.gtins[0].line + 1)
    assert [f.line for f in old.features] == [f.line + 1 for f in new.features]  # so are its features'
    assert [p.line for p in old.prices] == [p.line + 1 for p in new.prices]  # its prices' and its references'
    assert [r[3] for r in old.references] == [r[3] + 1 for r in new.references]
    for f in [*old.features, *old.prices]:
        f.line -= 1
    old.references = [(*r[:3], r[3] - 1) for r in old.references]
    assert {**asdict(old), "line": 0, "gtins": []} == {**asdict(new), "line": 0, "gtins": []}
    assert (old.supplier_pid, old.ean, old.features[0].code) == ("r1", "4032248855865", "0173-1#02-BAA020#007")
    assert [(p.amount, p.lower_bound) for p in old.prices] == [("10.50", "1"), ("9.00", "100")]
    assert (header.version, header.catalog_id, header.supplier) == ("1.2", "C1", "Weidmüller")


def test_a_12_catalog_imports_its_values_tiers_and_references(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    m = load_map(MAP).model_copy(update={"image_attribute": "picture"})
    m.features["0173-1#02-BAA020#007"].units["MMT"] = "MILLIMETER"
    body = "<T_NEW_CATALOG>" + ARTICLE.format(pid="r1") + ARTICLE.format(pid="r2") + "</T_NEW_CATALOG>"
    _our_accessory(supplier_store)
    counts = import_bmecat(_catalog_12(tmp_path, body), supplier_store, m)
    assert (counts.created, counts.rejected) == (2, 0)
    p = supplier_store.get_product("r1")
    assert p.values["height"] == {"amount": "27.5", "unit": "MILLIMETER"} and p.values["price"] == {"EUR": "10.50"}
    assert p.values["picture"] == "img/r1.jpg" and p.associations["ACCESSORY"].quantities == {"ACC-OURS": 2}
    assert p.provenance_of("height").source == "supplier:weidmueller"
    again = import_bmecat(_catalog_12(tmp_path, body), supplier_store, m)
    # r1 and r2 share an EAN: found again by their PIDs (remembered when created), not by the ambiguous GTIN
    assert (again.created, again.updated, again.unchanged, again.rejected) == (0, 0, 2, 0)


def test_an_update_transaction_of_articles_reads(tmp_path: Path) -> None:
    body = ('<T_UPDATE_PRODUCTS prev_version="1">' + ARTICLE.format(pid="r1").replace("<ARTICLE>", '<ARTICLE mode="update">')
            + "</T_UPDATE_PRODUCTS>")
    [p] = list(read_bmecat(_catalog_12(tmp_path, body)))
    assert p.supplier_pid == "r1" and p.mode == "update"


def test_the_named_dtd_is_never_fetched(tmp_path: Path) -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        server.setblocking(False)
        doctype = f'<!DOCTYPE BMECAT SYSTEM "http://127.0.0.1:{server.getsockname()[1]}/bmecat.dtd">'
        [p] = list(read_bmecat(_catalog_12(tmp_path, "<T_NEW_CATALOG>" + ARTICLE.format(pid="r1") + "</T_NEW_CATALOG>",
                                           doctype)))
        with pytest.raises(BlockingIOError):
            server.accept()  # nobody connected
    assert p.supplier_pid == "r1"


def test_an_entity_of_the_dtd_is_refused_rather_than_read_as_nothing(tmp_path: Path) -> None:
    body = "<T_NEW_CATALOG>" + ARTICLE.format(pid="r1").replace("Relay r1", "Relais f&uuml;r Hutschiene") + "</T_NEW_CATALOG>"
    with pytest.raises(InputError, match="&uuml;") as err:
        list(read_bmecat(_catalog_12(tmp_path, body)))
    assert err.value.field == "DOCTYPE" and err.value.line == 6 and "UTF-8" in err.value.hint


def test_entity_look_alikes_in_cdata_and_comments_are_text(tmp_path: Path) -> None:
    """Found exploring: HTML in a CDATA description (`&nbsp;`) refused the whole 1.2 catalog."""
    body = ("<T_NEW_CATALOG><!-- Preis &euro; -->" + ARTICLE.format(pid="r1").replace(
        "Relay r1", "<![CDATA[Relais&nbsp;<b>gut</b>]]>") + "</T_NEW_CATALOG>")
    [p] = list(read_bmecat(_catalog_12(tmp_path, body)))
    assert p.short == {"eng": "Relais&nbsp;<b>gut</b>"}
    after = body.replace("</T_NEW_CATALOG>", "<!-- ok --></T_NEW_CATALOG>").replace("Weidmüller", "Weidm&uuml;ller")
    with pytest.raises(InputError, match="&uuml;"):  # outside them a DTD entity is still refused
        list(read_bmecat(_catalog_12(tmp_path, after)))


def test_xml_s_own_entities_and_character_references_are_fine(tmp_path: Path) -> None:
    body = "<T_NEW_CATALOG>" + ARTICLE.format(pid="r1").replace("Relay r1", "Relay &amp; socket &#8211; &lt;r1&gt;") + "</T_NEW_CATALOG>"
    [p] = list(read_bmecat(_catalog_12(tmp_path, body)))
    assert p.short == {"eng": "Relay & socket – <r1>"}


@pytest.mark.parametrize("doctype", [
    '<!DOCTYPE BMECAT SYSTEM "x.dtd" [<!ELEMENT BMECAT ANY>]>',
    '<!DOCTYPE BMECAT [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>',
])
def test_a_doctype_with_an_internal_subset_is_still_refused(tmp_path: Path, doctype: str) -> None:
    with pytest.raises(InputError, match="refused for safety") as err:
        list(read_bmecat(_catalog_12(tmp_path, "<T_NEW_CATALOG/>", doctype)))
    assert err.value.line == 2



def test_the_language_marked_default_reads_texts_without_lang(tmp_path: Path) -> None:
    """Found exploring: the first LANGUAGE was taken whatever `default="true"` said."""
    path = _catalog_12(tmp_path, "<T_NEW_CATALOG>" + ARTICLE.format(pid="r1") + "</T_NEW_CATALOG>")
    path.write_text(path.read_text(encoding="utf-8").replace(
        "<LANGUAGE>eng</LANGUAGE>", '<LANGUAGE>deu</LANGUAGE><LANGUAGE default="true">eng</LANGUAGE>'), encoding="utf-8")
    header = BmecatHeader()
    [p] = list(read_bmecat(path, header))
    assert p.short == {"eng": "Relay r1"} and header.languages == ["eng", "deu"]
