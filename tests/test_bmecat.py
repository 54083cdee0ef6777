"""BMEcat 2005 import: the real manufacturer catalogs in ../shared/bmecat, dialects, safety and bad files."""

from pathlib import Path

import pytest

from importers.bmecat import BmecatMap, import_bmecat, load_map
from importers.bmecat_reader import BmecatHeader, read_bmecat
from pim.errors import InputError
from pim.product import Product
from pim.store import Store
from pim.structure_files import load_structure_files, save_structure
from tests.conftest import BMECAT_DIR, ROOT

MAP = ROOT / "importers" / "maps" / "bmecat_eclass_example.yaml"
STRUCTURE = Path(__file__).parent / "data" / "bmecat"
REAL = sorted(BMECAT_DIR.glob("WEI_BMECat_*.xml"))


@pytest.fixture
def supplier_store(store: Store) -> Store:
    save_structure(store, load_structure_files(STRUCTURE))
    return store


def _xml(tmp_path: Path, body: str, ns: str = "http://www.bmecat.org/bmecat/2005", name: str = "c.xml") -> Path:
    xmlns = f' xmlns="{ns}"' if ns else ""
    path = tmp_path / name
    path.write_text(f'<?xml version="1.0" encoding="UTF-8"?>\n<BMECAT version="2005"{xmlns}>\n<HEADER><CATALOG>'
                    f"<LANGUAGE>eng</LANGUAGE><LANGUAGE>deu</LANGUAGE><CURRENCY>EUR</CURRENCY></CATALOG></HEADER>\n{body}\n</BMECAT>\n",
                    encoding="utf-8")
    return path


PRODUCT = """<PRODUCT><SUPPLIER_PID>{pid}</SUPPLIER_PID><PRODUCT_DETAILS>
<DESCRIPTION_SHORT lang="eng">Relay {pid}</DESCRIPTION_SHORT><DESCRIPTION_SHORT lang="deu">Relais</DESCRIPTION_SHORT>
<EAN>4032248855865</EAN></PRODUCT_DETAILS>
<PRODUCT_FEATURES><REFERENCE_FEATURE_SYSTEM_NAME>ECLASS-9.0</REFERENCE_FEATURE_SYSTEM_NAME>
<REFERENCE_FEATURE_GROUP_ID>27371601</REFERENCE_FEATURE_GROUP_ID>
<FEATURE><FNAME>0173-1#02-BAA020#007</FNAME><FVALUE>27,5</FVALUE><FUNIT>MMT</FUNIT></FEATURE></PRODUCT_FEATURES>
<PRODUCT_PRICE_DETAILS>
<PRODUCT_PRICE price_type="net_customer"><PRICE_AMOUNT>10.50</PRICE_AMOUNT><PRICE_CURRENCY>EUR</PRICE_CURRENCY><LOWER_BOUND>1</LOWER_BOUND></PRODUCT_PRICE>
<PRODUCT_PRICE price_type="net_customer"><PRICE_AMOUNT>9.00</PRICE_AMOUNT><PRICE_CURRENCY>EUR</PRICE_CURRENCY><LOWER_BOUND>100</LOWER_BOUND></PRODUCT_PRICE>
</PRODUCT_PRICE_DETAILS>
<MIME_INFO><MIME><MIME_TYPE>image/jpeg</MIME_TYPE><MIME_SOURCE>img/{pid}.jpg</MIME_SOURCE><MIME_PURPOSE>normal</MIME_PURPOSE></MIME></MIME_INFO>
<PRODUCT_REFERENCE type="accessories" quantity="2"><PROD_ID_TO>acc-1</PROD_ID_TO></PRODUCT_REFERENCE>
</PRODUCT>"""


def _our_accessory(store: Store) -> None:
    """Product ACC-OURS, known to the supplier as PID acc-1 (the reference target of PRODUCT)."""
    from pim.sources import put_cross_references

    store.upsert_products([Product(identifier="ACC-OURS", family="electrical")])
    put_cross_references(store, "supplier:weidmueller", [("acc-1", "ACC-OURS")])


def test_real_catalogs_read_with_their_feature_counts() -> None:
    counts = {}
    for path in REAL:
        header = BmecatHeader()
        [product] = list(read_bmecat(path, header))
        counts[path.name] = len(product.features)
        assert header.languages == ["deu", "eng"] and header.currency == "EUR"
        assert product.feature_system == "ECLASS-9.0"
    assert counts == {"WEI_BMECat_1010000000.xml": 2561, "WEI_BMECat_1303890000.xml": 672,
                      "WEI_BMECat_1609801044.xml": 52, "WEI_BMECat_7760056069.xml": 171}


def test_real_catalogs_import_with_hand_checked_values(supplier_store: Store) -> None:
    m = load_map(MAP)
    totals = [import_bmecat(path, supplier_store, m).as_dict() for path in REAL]
    assert [t["created"] for t in totals] == [1, 1, 1, 1] and all(t["rejected"] == 0 for t in totals)
    p = supplier_store.get_product("1609801044")
    assert p.values["name:en_US"] == "Terminal marking" and p.values["name:de_DE"] == "Klemmenmarkierung"
    assert p.values["ean"] == "4008190397111" and p.values["eclass_class"] == "27141137"
    assert p.values["net_weight"] == {"amount": "0.00013", "unit": "KILOGRAM"}
    assert p.values["width"] == {"amount": "4.9", "unit": "MILLIMETER"}
    assert p.provenance_of("ean").source == "supplier:weidmueller"
    relay = supplier_store.get_product("1010000000")
    assert "2.5 mm²" in relay.values["description:en_US@ecommerce"]  # the file double-escapes &sup2;
    # its 11 accessories are supplier PIDs no product of ours had when it was imported (it comes first): left out,
    # one problem each, rather than stored as SKUs that do not exist (tests/test_bmecat_references.py)
    assert "ACCESSORY" not in relay.associations
    first = supplier_store.quarantined(severity="problem")
    assert sum(n["field"] == "PROD_ID_TO" and n["record_key"] == "1010000000" for n in first) == 11


def test_price_without_amount_is_a_value_problem_not_a_rejection(supplier_store: Store) -> None:
    counts = import_bmecat(REAL[2], supplier_store, load_map(MAP))
    problems = supplier_store.quarantined(counts.job_id, severity="problem")
    assert [(p["field"], p["record_key"]) for p in problems] == [("PRODUCT_PRICE", "1609801044")]
    assert "no PRICE_AMOUNT" in problems[0]["reason"] and counts.created == 1


def test_reimport_changes_nothing(supplier_store: Store) -> None:
    m = load_map(MAP)
    import_bmecat(REAL[3], supplier_store, m)
    again = import_bmecat(REAL[3], supplier_store, m)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 1)
    # the old notes were closed, the new ones stand: the price without amount, and the 14 accessories that are
    # no products of ours (tests/test_bmecat_references.py)
    notes = supplier_store.quarantined(severity="problem")
    assert sorted({n["field"] for n in notes}) == ["PRODUCT_PRICE", "PROD_ID_TO"] and len(notes) == 15
    assert {n["job_id"] for n in notes} == {again.job_id}


@pytest.mark.parametrize("ns", ["http://www.bmecat.org/bmecat/2005", "http://www.bmecat.org/bmecat/2005.1",
                                "http://www.bmecat.org/bmecat/2005+onto", ""])
def test_every_namespace_variant_reads(tmp_path: Path, ns: str) -> None:
    path = _xml(tmp_path, "<T_NEW_CATALOG>" + PRODUCT.format(pid="r1") + "</T_NEW_CATALOG>", ns)
    [p] = list(read_bmecat(path))
    assert p.supplier_pid == "r1" and p.features[0].code == "0173-1#02-BAA020#007"


def test_classic_features_units_tiers_images_and_references(supplier_store: Store, tmp_path: Path) -> None:
    m = load_map(MAP).model_copy(update={"image_attribute": "picture"})
    m.features["0173-1#02-BAA020#007"].units["MMT"] = "MILLIMETER"
    _our_accessory(supplier_store)
    path = _xml(tmp_path, "<T_NEW_CATALOG>" + PRODUCT.format(pid="r1") + "</T_NEW_CATALOG>")
    counts = import_bmecat(path, supplier_store, m)
    p = supplier_store.get_product("r1")
    assert p.values["height"] == {"amount": "27.5", "unit": "MILLIMETER"}
    assert p.values["price"] == {"EUR": "10.50"}  # the lowest LOWER_BOUND is the list price
    assert p.values["picture"] == "img/r1.jpg"
    assert p.associations["ACCESSORY"].quantities == {"ACC-OURS": 2}  # the target PID acc-1 through the cross-reference
    from pim.commerce import contract_tiers

    tiers = contract_tiers(supplier_store, "purchase_weidmueller", ["r1"], "EUR")["r1"]
    assert [(str(t.min_qty), str(t.price)) for t in tiers] == [("1.0000", "10.5000"), ("100.0000", "9.0000")]
    assert counts.extra["tier_prices"] == 2


def test_a_feature_value_that_is_no_number_is_skipped_not_the_product(supplier_store: Store, tmp_path: Path) -> None:
    """Found exploring: `ca. 12` for a metric feature refused the whole product, names and prices too."""
    m = load_map(MAP)
    m.features["0173-1#02-BAA020#007"].units["MMT"] = "MILLIMETER"
    product = PRODUCT.format(pid="r1").replace("<FVALUE>27,5</FVALUE>", "<FVALUE>ca. 12</FVALUE>")
    assert "ca. 12" in product
    counts = import_bmecat(_xml(tmp_path, "<T_NEW_CATALOG>" + product + "</T_NEW_CATALOG>"), supplier_store, m)
    assert (counts.created, counts.rejected) == (1, 0)
    p = supplier_store.get_product("r1")
    assert "height" not in p.values and p.values["price"] == {"EUR": "10.50"}
    [problem] = [q for q in supplier_store.quarantined(counts.job_id, severity="problem")
                 if q["field"] == "0173-1#02-BAA020#007"]
    assert "'ca. 12' is not a number" in problem["reason"]


def test_product_without_pid_is_quarantined_and_the_rest_imports(supplier_store: Store, tmp_path: Path) -> None:
    body = "<T_NEW_CATALOG><PRODUCT><PRODUCT_DETAILS/></PRODUCT>" + PRODUCT.format(pid="ok") + "</T_NEW_CATALOG>"
    counts = import_bmecat(_xml(tmp_path, body), supplier_store, load_map(MAP))
    assert (counts.created, counts.rejected) == (1, 1)
    [row] = supplier_store.quarantined(counts.job_id, severity="rejected")
    assert row["field"] == "SUPPLIER_PID" and row["line"] == 4


XXE = """<?xml version="1.0"?>
<!DOCTYPE BMECAT [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>
<BMECAT version="2005"><T_NEW_CATALOG><PRODUCT><SUPPLIER_PID>&xxe;</SUPPLIER_PID></PRODUCT></T_NEW_CATALOG></BMECAT>"""
BOMB = """<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<BMECAT version="2005"><T_NEW_CATALOG><PRODUCT><SUPPLIER_PID>&lol3;</SUPPLIER_PID></PRODUCT></T_NEW_CATALOG></BMECAT>"""


@pytest.mark.parametrize("doc", [XXE, BOMB], ids=["external-entity", "entity-bomb"])
def test_entities_are_refused(tmp_path: Path, doc: str) -> None:
    path = tmp_path / "evil.xml"
    path.write_text(doc)
    with pytest.raises(InputError, match="entities") as exc:
        list(read_bmecat(path))
    assert exc.value.line == 2


@pytest.mark.parametrize("content, message", [
    (b"", "empty"),
    (b"<?xml version='1.0'?><BMECAT><T_NEW_CATALOG><PRODUCT><SUPPLIER_PID>1</SUPP", "not well-formed"),
    (b"<?xml version='1.0'?><catalog/>", "not <BMECAT>"),
    ("<?xml version='1.0' encoding='UTF-8'?><BMECAT><HEADER>größe</HEADER></BMECAT>".encode("latin-1"), "not well-formed"),
])
def test_bad_files_get_a_clear_error(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.xml"
    path.write_bytes(content)
    with pytest.raises(InputError, match=message):
        list(read_bmecat(path))


def test_map_errors_name_the_field(tmp_path: Path) -> None:
    bad = tmp_path / "m.yaml"
    bad.write_text("supplier: Not Valid\n")
    with pytest.raises(InputError) as exc:
        load_map(bad)
    assert exc.value.field == "supplier"
    assert isinstance(load_map(MAP), BmecatMap)


def _erp_product(store: Store, sku: str = "SKU-9", ean: str = "4032248855865") -> None:
    from datetime import UTC, datetime

    from pim.product import Product, Provenance

    store.upsert_products([Product(identifier=sku, family="electrical", source=Provenance(source="erp", at=datetime.now(UTC)),
                                   values={"sku": sku, "ean": ean, "mpn": "ERP-MPN", "name:en_US": "ERP name"})])


def test_gtin_match_merges_into_the_erp_product_and_is_remembered(supplier_store: Store, tmp_path: Path) -> None:
    _erp_product(supplier_store)
    path = _xml(tmp_path, "<T_NEW_CATALOG>" + PRODUCT.format(pid="r1") + "</T_NEW_CATALOG>")
    counts = import_bmecat(path, supplier_store, load_map(MAP))
    assert (counts.created, counts.updated) == (0, 1) and supplier_store.get_product("r1") is None
    p = supplier_store.get_product("SKU-9")
    assert p.values["sku"] == "SKU-9" and p.values["height"]["amount"] == "27.5"
    assert p.provenance_of("height").source == "supplier:weidmueller" and p.provenance_of("sku").source == "erp"
    from pim.sources import _xref

    assert _xref(supplier_store, "supplier:weidmueller", ["r1"]) == {"r1": "SKU-9"}


def test_update_prices_touches_only_prices(supplier_store: Store, tmp_path: Path) -> None:
    m = load_map(MAP)
    import_bmecat(_xml(tmp_path, "<T_NEW_CATALOG>" + PRODUCT.format(pid="r1") + "</T_NEW_CATALOG>"), supplier_store, m)
    update = ("<T_UPDATE_PRICES><PRODUCT mode='update'><SUPPLIER_PID>r1</SUPPLIER_PID><PRODUCT_PRICE_DETAILS>"
              "<PRODUCT_PRICE price_type='net_customer'><PRICE_AMOUNT>11.00</PRICE_AMOUNT><PRICE_CURRENCY>EUR</PRICE_CURRENCY>"
              "</PRODUCT_PRICE></PRODUCT_PRICE_DETAILS></PRODUCT></T_UPDATE_PRICES>")
    counts = import_bmecat(_xml(tmp_path, update, name="u.xml"), supplier_store, m)
    p = supplier_store.get_product("r1")
    assert counts.updated == 1 and p.values["price"] == {"EUR": "11.00"}
    assert p.values["name:en_US"] == "Relay r1" and p.values["height"]["amount"] == "27.5" and p.family == "electrical"


def test_unmatched_products_are_quarantined_when_the_map_says_so(supplier_store: Store, tmp_path: Path) -> None:
    m = load_map(MAP).model_copy(update={"unmatched": "quarantine"})
    body = PRODUCT.format(pid="r1").replace("4032248855865", "4006381333931")
    counts = import_bmecat(_xml(tmp_path, "<T_NEW_CATALOG>" + body + "</T_NEW_CATALOG>"), supplier_store, m)
    assert (counts.created, counts.rejected) == (0, 1)
    [row] = supplier_store.quarantined(counts.job_id, severity="rejected")
    assert row["record_key"] == "r1" and "cross-reference" in row["reason"] and (row["line"], row["field"]) == (6, "EAN")
    [warning] = supplier_store.quarantined(counts.job_id, severity="warning")  # a whole catalog, one product out
    assert "no tier price of 'purchase_weidmueller' was removed" in warning["reason"]
    from pim.commerce import contract_tiers  # the quarantined product's tiers are not written (under its PID)

    assert contract_tiers(supplier_store, "purchase_weidmueller", ["r1"], "EUR") == {}


def test_tier_prices_follow_their_products_sku_batch_by_batch(supplier_store: Store, tmp_path: Path) -> None:
    """Tier prices are written per batch (memory flat in the file size) under the SKU the product matched:
    a GTIN match in the middle of the file, across batches of two."""
    from pim.commerce import contract_tiers

    _erp_product(supplier_store)  # SKU-9 carries the GTIN of the PRODUCT template
    gtin = supplier_store.get_product("SKU-9").values["ean"]
    valid = ("4006381333917", "4006381333924", "4006381333931", "4006381333948")  # a bad GTIN would refuse them
    others = "".join(PRODUCT.format(pid=f"p{n}").replace(gtin, valid[n - 1]) for n in range(1, 5))
    supplier_store.batch_size = 2
    path = _xml(tmp_path, "<T_NEW_CATALOG>" + others[: len(others) // 2] + PRODUCT.format(pid="r1")
                + others[len(others) // 2:] + "</T_NEW_CATALOG>")
    counts = import_bmecat(path, supplier_store, load_map(MAP))
    assert counts.extra["tier_prices"] == 10 and counts.rejected == 0
    found = contract_tiers(supplier_store, "purchase_weidmueller", ["SKU-9", "r1", "p1", "p4"], "EUR")
    assert sorted(found) == ["SKU-9", "p1", "p4"]  # r1's tiers went to the product it matched by GTIN
    assert [str(t.min_qty) for t in found["SKU-9"]] == ["1.0000", "100.0000"]


def test_tier_prices_of_a_product_the_merge_refuses_are_not_written(supplier_store: Store, tmp_path: Path) -> None:
    """The merge refuses a matched product whose family does not carry a feature's attribute: its tier prices go
    with it, while those of the next product in the same batch are written."""
    from pim.commerce import contract_tiers

    s = supplier_store.structure()
    supplier_store.put_structures([("family", [s.families["electrical"].model_copy(
        update={"code": "plain", "attributes": ["sku", "name", "ean"], "requirements": {}})])])
    supplier_store.upsert_products([Product(identifier="SKU-9", family="plain", values={"sku": "SKU-9", "ean": "4032248855865"})])
    other = PRODUCT.format(pid="p2").replace("4032248855865", "4006381333931")
    counts = import_bmecat(_xml(tmp_path, "<T_UPDATE_PRODUCTS>" + PRODUCT.format(pid="r1") + other + "</T_UPDATE_PRODUCTS>"),
                           supplier_store, load_map(MAP))
    assert (counts.created, counts.rejected, counts.extra["tier_prices"]) == (1, 1, 2)
    [row] = supplier_store.quarantined(counts.job_id, severity="rejected")
    assert row["record_key"] == "SKU-9" and "not in family 'plain': 'eclass_class', 'height', 'price'" in row["reason"]
    assert sorted(contract_tiers(supplier_store, "purchase_weidmueller", ["SKU-9", "p2"], "EUR")) == ["p2"]


def test_a_wrong_root_is_named_even_when_the_file_breaks_later(tmp_path: Path) -> None:
    """The root is read ahead of the parse (whose events are filtered to BMEcat elements), so a file that is
    not BMEcat is named as such before any later syntax error or missing transaction."""
    for body in (b"<catalog><item></catalog>", b"<catalog><T_NEW_CATALOG><PRODUCT><SUPPLIER_PID>1</SUPPLIER_PID></PRODUCT></T_NEW_CATALOG></catalog>"):
        path = tmp_path / "other.xml"
        path.write_bytes(b"<?xml version='1.0'?>\n<!-- " + b"x" * 70_000 + b" -->\n" + body)
        with pytest.raises(InputError, match="root element is <catalog>") as exc:
            list(read_bmecat(path))
        assert exc.value.line == 3


def _mapped(tmp_path: Path, m: BmecatMap, pid: str = "r1") -> Product:
    from importers.bmecat import BmecatMapper
    from pim.catalog import Structure

    files = load_structure_files(STRUCTURE)
    structure = Structure(attributes={a.code: a for a in files.attributes}, locales={l.code: l for l in files.locales})
    path = _xml(tmp_path, "<T_NEW_CATALOG>" + PRODUCT.format(pid=pid) + "</T_NEW_CATALOG>")
    header = BmecatHeader()
    [product] = list(read_bmecat(path, header))
    return BmecatMapper(m, structure, str(path)).map(product, header).product


def test_mapped_records_equal_validated_ones(tmp_path: Path) -> None:
    """The mapper builds records without per-record validation: they must be what Product(...) would build,
    fields set included (a merge only replaces the structural fields a source gave)."""
    m = load_map(MAP).model_copy(update={"image_attribute": "picture", "class_families": {"27371601": "electrical"}})
    record = _mapped(tmp_path, m)
    validated = Product(identifier=record.identifier, values=record.values, source=record.source)
    validated.family = "electrical"
    validated.associations = record.associations
    assert record.__dict__ == validated.__dict__ and list(record.__dict__) == list(validated.__dict__)
    assert record.model_fields_set == validated.model_fields_set == {"identifier", "values", "source", "family", "associations"}
    assert record.content_hash() == validated.content_hash()
    bare = _mapped(tmp_path, load_map(MAP).model_copy(update={"family": None, "references": {}}))
    assert bare.model_fields_set == {"identifier", "values", "source"} and bare.family is None


def test_a_sku_longer_than_the_model_allows_fails_as_validation_does(tmp_path: Path) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="identifier"):
        _mapped(tmp_path, load_map(MAP), pid="x" * 256)


def test_a_new_catalog_replaces_the_suppliers_tier_prices_and_an_update_does_not(supplier_store: Store, tmp_path: Path) -> None:
    from pim.commerce import contract_tiers

    def tiers() -> dict[str, list[str]]:
        found = contract_tiers(supplier_store, "purchase_weidmueller", ["p1", "p2"], "EUR")
        return {sku: [str(t.min_qty) for t in ts] for sku, ts in found.items()}

    def product(pid: str, ean: str) -> str:
        return PRODUCT.format(pid=pid).replace("4032248855865", ean)

    m = load_map(MAP)
    import_bmecat(_xml(tmp_path, "<T_NEW_CATALOG>" + product("p1", "4006381333931") + product("p2", "4006381333948")
                       + "</T_NEW_CATALOG>"), supplier_store, m)
    assert tiers() == {"p1": ["1.0000", "100.0000"], "p2": ["1.0000", "100.0000"]}
    # an update names p1 only, without its 100-piece tier: nothing else goes
    update = product("p1", "4006381333931").replace('<PRODUCT>', "<PRODUCT mode='update'>").replace(
        '<PRODUCT_PRICE price_type="net_customer"><PRICE_AMOUNT>9.00</PRICE_AMOUNT><PRICE_CURRENCY>EUR</PRICE_CURRENCY>'
        '<LOWER_BOUND>100</LOWER_BOUND></PRODUCT_PRICE>', "")
    import_bmecat(_xml(tmp_path, "<T_UPDATE_PRODUCTS>" + update + "</T_UPDATE_PRODUCTS>", name="u.xml"), supplier_store, m)
    assert tiers() == {"p1": ["1.0000", "100.0000"], "p2": ["1.0000", "100.0000"]}
    # the next whole catalog drops p2 and p1's 100-piece tier: they go
    counts = import_bmecat(_xml(tmp_path, "<T_NEW_CATALOG>" + update.replace(" mode='update'", "") + "</T_NEW_CATALOG>",
                                name="n.xml"), supplier_store, m)
    assert counts.extra["tier_prices_removed"] == 3
    assert tiers() == {"p1": ["1.0000"]}


@pytest.mark.parametrize(("amount", "currency", "bound", "wrong"), [
    ("-1.00", "EUR", "100", "price '-1.00': input should be greater than or equal to 0"),
    ("9.00", "eur", "100", "currency 'eur'"),
    ("9.00", "EUR", "0", "min_qty '0': input should be greater than 0"),
    ("8.99999", "EUR", "100", "price '8.99999': 8.99999 has more than 4 decimal places"),
])
def test_a_tier_the_price_list_cannot_hold_is_a_value_problem(supplier_store: Store, tmp_path: Path, amount: str,
                                                               currency: str, bound: str, wrong: str) -> None:
    """A tier price a price list refuses (found by the import fuzzing: a negative amount failed the whole import
    with a traceback once the tier was written) is listed as a problem of its product, which imports with its
    other tiers."""
    from pim.commerce import contract_tiers

    bad = (f"<PRODUCT_PRICE price_type='net_customer'><PRICE_AMOUNT>{amount}</PRICE_AMOUNT>"
           f"<PRICE_CURRENCY>{currency}</PRICE_CURRENCY><LOWER_BOUND>{bound}</LOWER_BOUND></PRODUCT_PRICE>")
    body = PRODUCT.format(pid="r1").replace("</PRODUCT_PRICE_DETAILS>", bad + "</PRODUCT_PRICE_DETAILS>")
    counts = import_bmecat(_xml(tmp_path, "<T_NEW_CATALOG>" + body + "</T_NEW_CATALOG>"), supplier_store, load_map(MAP))
    assert (counts.created, counts.rejected, counts.extra["tier_prices"]) == (1, 0, 2)
    [problem] = [p for p in supplier_store.quarantined(counts.job_id, severity="problem") if p["field"] != "PROD_ID_TO"]
    assert problem["field"] == "PRODUCT_PRICE" and problem["record_key"] == "r1"
    assert wrong in problem["reason"] and problem["reason"].endswith("; ignored")
    tiers = contract_tiers(supplier_store, "purchase_weidmueller", ["r1"], "EUR")["r1"]
    assert [str(t.price) for t in tiers] == ["10.5000", "9.0000"]
    assert supplier_store.get_product("r1").values["price"] == {"EUR": "10.50"}


def test_prices_with_an_unreadable_validity_date_are_ignored_not_valid_forever(supplier_store: Store, tmp_path: Path) -> None:
    """A DATETIME valid_start_date that is no date was read as no date at all: the tiers became valid forever."""
    dated = "<PRODUCT_PRICE_DETAILS><DATETIME type='valid_start_date'><DATE>2024-13-45</DATE></DATETIME>"
    body = PRODUCT.format(pid="r1").replace("<PRODUCT_PRICE_DETAILS>", dated)
    counts = import_bmecat(_xml(tmp_path, "<T_NEW_CATALOG>" + body + "</T_NEW_CATALOG>"), supplier_store, load_map(MAP))
    assert (counts.created, counts.rejected, counts.extra.get("tier_prices", 0)) == (1, 0, 0)
    problems = [p for p in supplier_store.quarantined(counts.job_id, severity="problem") if p["field"] != "PROD_ID_TO"]
    assert len(problems) == 2 and all("DATETIME valid_start_date '2024-13-45' is not a date" in p["reason"] for p in problems)
    assert "price" not in supplier_store.get_product("r1").values


@pytest.mark.parametrize("quantity", ["NaN", "Infinity", "1e309", "1.5", "0", "-2"])
def test_a_reference_quantity_that_is_no_whole_number_is_a_value_problem(supplier_store: Store, tmp_path: Path,
                                                                         quantity: str) -> None:
    """Found by fuzzing: quantity="NaN" failed the import with a traceback, and "1.5" was cut to 1."""
    _our_accessory(supplier_store)
    body = PRODUCT.format(pid="r1").replace('quantity="2"', f'quantity="{quantity}"')
    counts = import_bmecat(_xml(tmp_path, "<T_NEW_CATALOG>" + body + "</T_NEW_CATALOG>"), supplier_store, load_map(MAP))
    assert (counts.created, counts.rejected) == (1, 0)
    [problem] = supplier_store.quarantined(counts.job_id, severity="problem")
    assert problem["field"] == "PRODUCT_REFERENCE@quantity" and f"'{quantity}' is not a whole quantity" in problem["reason"]
    accessory = supplier_store.get_product("r1").associations["ACCESSORY"]
    assert accessory.products == ["ACC-OURS"] and accessory.quantities == {}


@pytest.mark.parametrize("text, words", [("supplier: [acme\n", "not valid YAML"), ("supplier: acme\nunmatched: maybe\n", "invalid profile")])
def test_a_broken_bmecat_map_is_an_input_error_like_every_source_profile(tmp_path: Path, text: str, words: str):
    """Found exploring: a broken BMEcat map exited 3 (configuration) where a broken supplier profile exits 2."""
    from importers.supplier_table import load_supplier_map

    path = tmp_path / "acme.map.yaml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputError, match=words) as bmecat:
        load_map(path)
    with pytest.raises(InputError) as supplier:
        load_supplier_map(path)
    assert bmecat.value.exit_code == supplier.value.exit_code == 2 and bmecat.value.file == str(path)
