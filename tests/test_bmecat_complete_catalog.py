"""A BMEcat T_NEW_CATALOG is the supplier's whole catalog: a product it sends says everything the supplier has to
say about it, so the supplier's claims on that product it no longer states are withdrawn (the next-best source's
candidate shows, or the value goes), as a delete withdraws every claim (since round 34 an update's PRODUCT does
too). Products the file does not send, values skipped with a problem, late reference types and values the variant-level guard drops keep theirs."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select

from importers.bmecat import BmecatMap, Logistics, import_bmecat, load_map
from importers.content import import_content
from pim.importing import Parsed, run_import
from pim.merge import Merger, Precedence, candidates_for
from pim.product import Association, Product, ProductModel, Provenance
from pim.store import Store
from pim.store.store import PRODUCT
from pim.structure import Attribute, AttributeOption, FamilyVariant, VariantLevel
from pim.withdraw import product_claims
from tests.test_bmecat import MAP, _erp_product, _our_accessory, _xml, supplier_store  # noqa: F401  (fixture)
from tests.test_bmecat_references import catalog, item

SUPPLIER = "supplier:weidmueller"
#: The supplier owns names (its name shows, the ERP's waits); the ERP owns the manufacturer PID (the supplier's waits).
PRECEDENCE = Precedence(attributes={"name": ["supplier:*", "erp"], "mpn": ["erp", "supplier:*"]})
HEIGHT = "0173-1#02-BAA020#007"


def relay(pid: str = "r1", *, names: tuple[str, ...] = ("eng", "deu"), height: str | None = "27,5", funit: str = "MMT",
          system: str = "ECLASS-9.0", mpn: str | None = "M-1", image: bool = True, accessory: bool = True,
          price: str | None = "10.50", ean: str = "4032248855865", extra: str = "") -> str:
    """A PRODUCT with what each test drops or breaks: names per language, the height feature, the manufacturer PID,
    a MIME image, an accessory reference (PID acc-1) and a list price."""
    texts = {"eng": f"Relay {pid}", "deu": "Relais"}
    details = "".join(f'<DESCRIPTION_SHORT lang="{lang}">{texts[lang]}</DESCRIPTION_SHORT>' for lang in names)
    details += f"<EAN>{ean}</EAN>" + (f"<MANUFACTURER_PID>{mpn}</MANUFACTURER_PID>" if mpn else "")
    feature = (f"<FEATURE><FNAME>{HEIGHT}</FNAME><FVALUE>{height}</FVALUE><FUNIT>{funit}</FUNIT></FEATURE>"
               if height is not None else "")
    amount = f"<PRICE_AMOUNT>{price}</PRICE_AMOUNT>" if price else ""
    return (f"<PRODUCT><SUPPLIER_PID>{pid}</SUPPLIER_PID><PRODUCT_DETAILS>{details}</PRODUCT_DETAILS>"
            f"<PRODUCT_FEATURES><REFERENCE_FEATURE_SYSTEM_NAME>{system}</REFERENCE_FEATURE_SYSTEM_NAME>"
            f"<REFERENCE_FEATURE_GROUP_ID>27371601</REFERENCE_FEATURE_GROUP_ID>{feature}</PRODUCT_FEATURES>"
            '<PRODUCT_PRICE_DETAILS><PRODUCT_PRICE price_type="net_customer">'
            f"{amount}<PRICE_CURRENCY>EUR</PRICE_CURRENCY><LOWER_BOUND>1</LOWER_BOUND></PRODUCT_PRICE>"
            "</PRODUCT_PRICE_DETAILS>"
            + (f"<MIME_INFO><MIME><MIME_TYPE>image/jpeg</MIME_TYPE><MIME_SOURCE>img/{pid}.jpg</MIME_SOURCE>"
               "<MIME_PURPOSE>normal</MIME_PURPOSE></MIME></MIME_INFO>" if image else "")
            + ('<PRODUCT_REFERENCE type="accessories"><PROD_ID_TO>acc-1</PROD_ID_TO></PRODUCT_REFERENCE>'
               if accessory else "")
            + f"{extra}</PRODUCT>")


def new_catalog(tmp_path: Path, *products: str, name: str, transaction: str = "T_NEW_CATALOG") -> Path:
    return _xml(tmp_path, f"<{transaction}>" + "".join(products) + f"</{transaction}>", name=name)


def relay_map() -> BmecatMap:
    m = load_map(MAP).model_copy(update={"image_attribute": "picture"})
    m.features[HEIGHT].units["MMT"] = "MILLIMETER"
    return m


def run(store: Store, path: Path, m: BmecatMap | None = None) -> Any:
    return import_bmecat(path, store, m or relay_map(), precedence=PRECEDENCE)


def supplier_keys(store: Store, sku: str) -> set[str]:
    """The value keys the supplier claims on the product, shown or waiting."""
    p = store.get_product(sku)
    shown = {k for k in p.values if p.provenance_of(k).source == SUPPLIER}  # type: ignore[union-attr]
    return shown | {k for k, claims in candidates_for(store, sku).items() if SUPPLIER in claims}


def test_what_a_product_no_longer_sends_is_withdrawn_and_the_next_claim_shows(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    """Point 1 and 2: a dropped language, feature, image, reference type and manufacturer PID are withdrawn; the
    ERP's name and the content team's picture show, the rest goes; the supplier's waiting mpn claim goes too."""
    _erp_product(supplier_store)  # SKU-9, matched by GTIN; ERP name "ERP name", mpn "ERP-MPN"
    _our_accessory(supplier_store)  # acc-1 → ACC-OURS
    first = run(supplier_store, new_catalog(tmp_path, relay(), name="v1.xml"))
    assert first.updated == 1
    p = supplier_store.get_product("SKU-9")
    assert (p.values["name:en_US"], p.values["name:de_DE"], p.values["picture"]) == ("Relay r1", "Relais", "img/r1.jpg")
    assert p.values["height"]["amount"] == "27.5" and p.associations["ACCESSORY"].products == ["ACC-OURS"]
    assert p.values["mpn"] == "ERP-MPN" and SUPPLIER in candidates_for(supplier_store, "SKU-9")["mpn"]
    # the content team also has a picture; it waits (the supplier's shows)
    (tmp_path / "content.json").write_text('[{"sku": "SKU-9", "values": {"picture": "content/relay.jpg"}}]')
    import_content(tmp_path / "content.json", supplier_store,
                   precedence=_precedence_file(tmp_path, {**PRECEDENCE.attributes, "picture": [SUPPLIER, "content"]}))
    assert supplier_store.get_product("SKU-9").values["picture"] == "img/r1.jpg"

    lost = relay(names=("deu",), height=None, mpn=None, image=False, accessory=False)
    counts = run(supplier_store, new_catalog(tmp_path, lost, name="v2.xml"))
    assert (counts.read, counts.updated, counts.rejected, counts.extra["withdrawn_unsent"]) == (1, 1, 0, 1)
    p = supplier_store.get_product("SKU-9")
    assert p.values["name:en_US"] == "ERP name" and p.provenance_of("name:en_US").source == "erp"  # the ERP's shows
    assert p.values["picture"] == "content/relay.jpg" and p.provenance_of("picture").source == "content"
    assert p.values["name:de_DE"] == "Relais"  # still sent
    assert "height" not in p.values and "ACCESSORY" not in p.associations  # no other claim: they go
    assert p.values["mpn"] == "ERP-MPN" and SUPPLIER not in candidates_for(supplier_store, "SKU-9").get("mpn", {})
    assert supplier_keys(supplier_store, "SKU-9") == {"name:de_DE", "ean", "eclass_class", "price"}
    assert product_claims(supplier_store, SUPPLIER, ["SKU-9"])["SKU-9"] == (supplier_keys(supplier_store, "SKU-9"), set())


def _precedence_file(tmp_path: Path, attributes: dict[str, list[str]]) -> Path:
    path = tmp_path / "precedence.yaml"
    path.write_text(yaml.safe_dump({"attributes": attributes}))
    return path


def test_the_same_file_again_changes_nothing(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    """Point 5: the first import of a file whose product lost a value counts it updated; the same file again is
    unchanged, every time."""
    run(supplier_store, new_catalog(tmp_path, relay(), name="v1.xml"))
    path = new_catalog(tmp_path, relay(height=None), name="v2.xml")
    counts = run(supplier_store, path)
    assert (counts.updated, counts.extra.get("withdrawn_unsent")) == (1, 1)
    assert "height" not in supplier_store.get_product("r1").values  # the supplier created it: no other claim
    seq = _seq(supplier_store, "r1")
    for _ in range(2):
        again = run(supplier_store, path)
        assert (again.read, again.created, again.updated, again.unchanged, again.rejected) == (1, 0, 0, 1, 0)
        assert "withdrawn_unsent" not in again.extra and _seq(supplier_store, "r1") == seq


def _seq(store: Store, sku: str) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(PRODUCT.c.seq).where(PRODUCT.c.identifier == sku)).scalar_one()


def test_products_absent_from_the_file_and_updates_keep_their_claims(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    """Catalogs are split across files: a product the file does not send is not touched. An update restates the
    products it sends (round 34), and leaves the others alone."""
    run(supplier_store, new_catalog(tmp_path, relay("r1"), relay("r2", ean="4006381333931"), name="v1.xml"))
    run(supplier_store, new_catalog(tmp_path, relay("r1", height=None), name="v2.xml"))
    assert "height" not in supplier_store.get_product("r1").values
    assert supplier_store.get_product("r2").values["height"]["amount"] == "27.5"  # not in the file: untouched
    update = run(supplier_store, new_catalog(tmp_path, relay("r2", ean="4006381333931", height=None, names=("eng",)),
                                             name="u.xml", transaction="T_UPDATE_PRODUCTS"))
    assert update.extra["withdrawn_unsent"] == 1
    r2 = supplier_store.get_product("r2").values
    assert "height" not in r2 and "name:de_DE" not in r2  # the update restates r2: what it no longer says goes
    assert "height" not in supplier_store.get_product("r1").values  # not in the update: as the catalog left it


def test_a_catalog_withdraws_what_an_update_left_standing_though_the_record_is_the_same(supplier_store: Store,  # noqa: F811
                                                                                         tmp_path: Path) -> None:
    """A height skipped with a problem leaves the old one standing; the next catalog sends the very record that
    one did (height left out), fingerprinted and on a product nobody wrote since, and still withdraws height: a
    matching fingerprint does not skip the check. (Before round 34 an update left it standing.)"""
    run(supplier_store, new_catalog(tmp_path, relay(), name="v1.xml"))
    run(supplier_store, new_catalog(tmp_path, relay(height="ca. 12"), name="u.xml"))
    assert supplier_store.get_product("r1").values["height"]["amount"] == "27.5"
    counts = run(supplier_store, new_catalog(tmp_path, relay(height=None), name="v2.xml"))
    assert (counts.updated, counts.extra.get("withdrawn_unsent")) == (1, 1)
    assert "height" not in supplier_store.get_product("r1").values


def test_a_value_skipped_with_a_problem_keeps_the_old_one(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    """Point 3: the supplier said something for that key; its old value stands until it sends a good one. A value
    it no longer sends in the same product still goes."""
    run(supplier_store, new_catalog(tmp_path, relay(), name="v1.xml"))
    for n, broken in enumerate([relay(height="ca. 12", image=False),  # no number
                                relay(funit="XXX", image=False),  # a FUNIT that is no length unit
                                relay(system="ETIM-7.0", image=False),  # a feature system the map does not take
                                relay(price=None, image=False)]):  # a price without amount: the list price
        counts = run(supplier_store, new_catalog(tmp_path, broken, name=f"b{n}.xml"))
        assert counts.problems >= 1
        p = supplier_store.get_product("r1")
        assert p.values["height"]["amount"] == "27.5" and p.values["price"] == {"EUR": "10.50"}, n
        assert "picture" not in p.values  # unsent (the first round withdrew it)
    fixed = run(supplier_store, new_catalog(tmp_path, relay(height="30", image=False), name="fixed.xml"))
    assert fixed.updated == 1 and supplier_store.get_product("r1").values["height"]["amount"] == "30"


def test_a_logistic_value_skipped_with_a_problem_keeps_the_old_one(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    s = supplier_store.structure()
    supplier_store.put_structures([
        ("attribute", [Attribute(code="origin", type="simple_select")]),
        ("attribute_option", [AttributeOption(attribute="origin", code=c) for c in ("DE", "CN")]),
        ("family", [s.families["electrical"].model_copy(update={"attributes": [*s.families["electrical"].attributes, "origin"]})]),
    ])
    m = relay_map().model_copy(update={"logistics": Logistics(country_of_origin="origin", weight={"attribute": "net_weight"})})

    def details(origin: str, weight: str) -> str:
        return (f"<PRODUCT_LOGISTIC_DETAILS><COUNTRY_OF_ORIGIN>{origin}</COUNTRY_OF_ORIGIN><PRODUCT_DIMENSIONS>"
                f"<WEIGHT>{weight}</WEIGHT></PRODUCT_DIMENSIONS></PRODUCT_LOGISTIC_DETAILS>")

    run(supplier_store, new_catalog(tmp_path, relay(extra=details("DE", "0.045")), name="v1.xml"), m)
    run(supplier_store, new_catalog(tmp_path, relay(extra=details("XX", "NaN")), name="v2.xml"), m)
    v = supplier_store.get_product("r1").values
    assert v["origin"] == "DE" and v["net_weight"] == {"amount": "0.045", "unit": "KILOGRAM"}
    run(supplier_store, new_catalog(tmp_path, relay(), name="v3.xml"), m)  # no logistic details at all
    v = supplier_store.get_product("r1").values
    assert "origin" not in v and "net_weight" not in v


def test_a_late_reference_type_counts_as_sent(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    """Point 2: 'a' references 'b', later in the file and new the first time: the type is written after the file.
    Imported again, the type stays late (the record hashes as fingerprinted): it is sent, so it is neither
    withdrawn in the pass nor re-added after the file. Dropped from the file, it is withdrawn."""
    path = catalog(tmp_path, item("a", "4006381333900", "b"), item("b", "4006381333931"), name="c.xml")
    first = import_bmecat(path, supplier_store, load_map(MAP))
    assert first.extra["updated_after_file"] == 1
    assert supplier_store.get_product("a").associations["ACCESSORY"].products == ["b"]
    seq = _seq(supplier_store, "a")
    again = import_bmecat(path, supplier_store, load_map(MAP))
    assert (again.updated, again.unchanged) == (0, 2)
    assert "updated_after_file" not in again.extra and "withdrawn_unsent" not in again.extra
    assert _seq(supplier_store, "a") == seq
    gone = import_bmecat(catalog(tmp_path, item("a", "4006381333900"), item("b", "4006381333931"), name="c2.xml"),
                         supplier_store, load_map(MAP))
    assert gone.extra["withdrawn_unsent"] == 1 and "ACCESSORY" not in supplier_store.get_product("a").associations


def test_a_pid_sent_twice_ends_with_what_the_last_product_says(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    """The file's last word wins: a value only an earlier PRODUCT of the PID sends is withdrawn by the later one."""
    run(supplier_store, new_catalog(tmp_path, relay(height=None), name="v1.xml"))
    run(supplier_store, new_catalog(tmp_path, relay(), relay(height=None), name="v2.xml"))
    assert "height" not in supplier_store.get_product("r1").values


def test_a_value_the_variant_level_guard_drops_counts_as_sent(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    """Point 4: the product became a variant whose family variant holds height on its model. The catalog still
    sends height: the guard does not store it, and the supplier's height the variant had is not withdrawn."""
    run(supplier_store, new_catalog(tmp_path, relay(), name="v1.xml"))
    supplier_store.put_structures([
        ("attribute", [Attribute(code="colour", type="simple_select")]),
        ("attribute_option", [AttributeOption(attribute="colour", code="grey")]),
    ])
    s = supplier_store.structure()
    supplier_store.put_structures([
        ("family", [s.families["electrical"].model_copy(update={"attributes": [*s.families["electrical"].attributes, "colour"]})]),
        ("family_variant", [FamilyVariant(code="relay_by_colour", family="electrical", levels=[VariantLevel(
            axes=["colour"], attributes=["sku", "ean", "name", "price", "picture", "eclass_class", "mpn"])])]),
    ])
    supplier_store.upsert_models([ProductModel(code="RELAY", family_variant="relay_by_colour", family="electrical",
                                               values={"height": {"amount": "20", "unit": "MILLIMETER"}})])
    r1 = supplier_store.get_product("r1")
    supplier_store.upsert_products([r1.model_copy(update={"parent": "RELAY", "values": {**r1.values, "colour": "grey"}})])
    counts = run(supplier_store, new_catalog(tmp_path, relay(height="31"), name="v2.xml"))
    # the model's height (stored without a source) ranks level with the supplier's: it would not show on the model
    # either, so it is held back without a problem (pim.variant_levels, round 30), and counted
    assert counts.rejected == 0 and counts.extra.get("held_by_model") == 1
    assert not any(n["field"] == "height" for n in supplier_store.quarantined(counts.job_id, severity="problem"))
    r1 = supplier_store.get_product("r1")
    assert r1.values["height"]["amount"] == "27.5" and r1.provenance_of("height").source == SUPPLIER


def test_product_claims_reads_what_the_whole_product_says(supplier_store: Store) -> None:  # noqa: F811
    """The light read (no value decoded) against the claims read from whole products: a product the supplier
    created (its values have no provenance entry) with an ERP value over it, one the ERP created with supplier
    values, a waiting supplier candidate, an association claimed by the product's default source, none stored."""
    at = datetime.now(UTC)
    supplier_store.upsert_products([
        Product(identifier="S1", family="electrical", source=Provenance(source=SUPPLIER, at=at),
                values={"sku": "S1", "height": {"amount": "1", "unit": "MILLIMETER"}, "mpn": "E"},
                provenance={"mpn": Provenance(source="erp", at=at)},
                associations={"ACCESSORY": Association(products=["E1"])}),
        Product(identifier="E1", family="electrical", source=Provenance(source="erp", at=at), values={"sku": "E1", "mpn": "X"}),
    ])
    record = Product(identifier="E1", source=Provenance(source=SUPPLIER, at=at), values={"mpn": "Y", "ean": "1"})
    run_import(supplier_store, SUPPLIER, [Parsed(record, "f.xml", 1)], merge=Merger(PRECEDENCE, create_missing=False))
    expected = {}
    for p in supplier_store.iter_products(identifiers=["S1", "E1"]):
        keys = {k for k in p.values if p.provenance_of(k).source == SUPPLIER}
        keys |= {k for k, claims in candidates_for(supplier_store, p.identifier).items() if SUPPLIER in claims}
        expected[p.identifier] = keys
    claims = product_claims(supplier_store, SUPPLIER, ["S1", "E1", "NONE"])
    assert claims["S1"] == ({"sku", "height"}, {"ACCESSORY"}) and claims["S1"][0] == expected["S1"]
    assert claims["E1"] == ({"mpn", "ean"}, set()) and claims["E1"][0] == expected["E1"]
    assert claims["NONE"] == (set(), set())
