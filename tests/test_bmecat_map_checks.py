"""A BMEcat map checked against the structure once, before any product is read: a misspelt attribute, a unit
its family lacks, a locale the structure lacks… refuse the import naming the map file and field, where they were
a problem or a refusal on every product (and a T_NEW_CATALOG withdrew what they stopped mapping). What only the
file shows is one warning per file: a mapped ECLASS property the file has in another version, texts in a
language the map does not map. A language's other ISO 639-2 code (ger for deu) is read as the language."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from importers.bmecat import SPEC_UNITS, BmecatMap, CatalogGroups, import_bmecat, load_map
from importers.bmecat_map_checks import refuse_map_mistakes, with_twins
from pim.catalog import Structure
from pim.errors import InputError
from pim.store import Store
from pim.structure import Attribute, AttributeOption, Category
from pim.structure_files import SECTION_KIND, load_structure_files
from tests.test_bmecat import MAP, PRODUCT, REAL, STRUCTURE, _xml, supplier_store  # noqa: F401  (fixture)
from tests.test_bmecat_groups import TREE, document, product

WEIGHT = "0173-1#02-AAF040#004"  # net weight in the example map; WEI_BMECat_1609801044 sends this version
DEPTH = "0173-1#02-BAB577#006"
TERMINAL = REAL[2]  # WEI_BMECat_1609801044.xml: a T_NEW_CATALOG of one product
OURS = {"deu": "de_DE", "eng": "en_US"}  # languages a map lists itself


@pytest.fixture(scope="module")
def structure() -> Structure:
    """The supplier test structure, plus a select attribute with options (no database: the check is pure)."""
    f = load_structure_files(STRUCTURE)
    s = Structure.from_items({kind: getattr(f, section) for section, kind in SECTION_KIND.items()})
    s.attributes["mounting"] = Attribute(code="mounting", type="simple_select")
    s.options["mounting"] = {c: AttributeOption(attribute="mounting", code=c) for c in ("surface", "din_rail")}
    return s


def mapped(**update: Any) -> BmecatMap:
    """The example map with `update` validated as a map file's fields would be (so `model_fields_set` says
    which the map gives)."""
    return BmecatMap.model_validate({**load_map(MAP).model_dump(exclude_unset=True), **update})


def mistake(m: BmecatMap, structure: Structure) -> InputError:
    with pytest.raises(InputError) as caught:
        refuse_map_mistakes(m, structure, SPEC_UNITS, "w.yaml")
    return caught.value


def features(change: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The example map's features, with the targets `change` gives (by IRDI) replaced or added."""
    return {**{code: t.model_dump(exclude_defaults=True) for code, t in load_map(MAP).features.items()}, **change}


def test_the_example_map_fits_its_structure(structure: Structure) -> None:
    """Guard: the shipped map and the test structure raise nothing (passes before and after the check)."""
    refuse_map_mistakes(load_map(MAP), structure, SPEC_UNITS, str(MAP))


@pytest.mark.parametrize(("update", "field", "said"), [
    ({"features": features({WEIGHT: {"attribute": "net_wieght"}})},
     f"features.{WEIGHT}.attribute", "'net_wieght' is no attribute (did you mean 'net_weight'?)"),
    ({"features": features({DEPTH: {"attribute": "depth", "unit": "MILIMETER"}})},
     f"features.{DEPTH}.unit", "'MILIMETER' is not a unit of Length (did you mean MILLIMETER?)"),
    ({"features": features({WEIGHT: {"attribute": "net_weight", "units": {"GR": "GRAMS"}}})},
     f"features.{WEIGHT}.units.GR", "'GRAMS' is not a unit of Weight (did you mean GRAM?)"),
    ({"features": features({WEIGHT: {"attribute": "sku"}})},
     f"features.{WEIGHT}.attribute", "'sku' is the identifier: the SKU comes from `sku_from`"),
    ({"features": features({WEIGHT: {"attribute": "price"}})},
     f"features.{WEIGHT}.attribute", "'price' is a price collection, which only PRODUCT_PRICE fills"),
    ({"features": features({"0173-1#02-AAN489#003": {"attribute": "mounting", "options": {"I1": "surfase"}}})},
     "features.0173-1#02-AAN489#003.options.I1", "'surfase' is no option of 'mounting' (did you mean 'surface'?)"),
    ({"languages": {"deu": "de_DE", "eng": "en_UK"}}, "languages.eng", "'en_UK' is no locale (did you mean 'en_US'?)"),
    ({"fields": {"short": "name", "manufacturer_name": "name"}}, "fields.manufacturer_name",
     "'name' is localizable, and this element has no language"),
    ({"channel": None}, "fields.long", "'description' is scopable: set the map's `channel`"),
    ({"channel": "ecomerce"}, "channel", "'ecomerce' is no channel (did you mean 'ecommerce'?)"),
    ({"family": "electric"}, "family", "'electric' is no family (did you mean 'electrical'?)"),
    ({"class_families": {"27371601": "relays"}}, "class_families.27371601", "'relays' is no family"),
    ({"references": {"accessories": "ACCESORY"}}, "references.accessories", "(did you mean 'ACCESSORY'?)"),
    ({"price_attribute": "prize"}, "price_attribute", "'prize' is no attribute (did you mean 'price'?)"),
    ({"price_attribute": "mpn"}, "price_attribute", "'mpn' is a text attribute; the list price needs a price"),
    ({"logistics": {"length": {"attribute": "height", "unit": "KILOGRAM"}}}, "logistics.length.unit",
     "`unit` 'KILOGRAM' is not a unit of Length"),
    ({"logistics": {"depth": {"attribute": "no_such"}}}, "logistics.depth.attribute", "'no_such' is no attribute"),
    ({"logistics": {"volume": {"attribute": "depth"}}}, "logistics.volume.unit",
     "VOLUME is in CUBIC_METER by the BMEcat specification, which is no unit of Length"),
    ({"logistics": {"country_of_origin": "name"}}, "logistics.country_of_origin", "'name' is localizable"),
])
def test_a_map_mistake_is_named_by_its_field(structure: Structure, update: dict[str, Any], field: str, said: str) -> None:
    error = mistake(mapped(**update), structure)
    assert (error.file, error.field) == ("w.yaml", field) and said in str(error), str(error)
    assert "nothing was imported" in (error.hint or "")


def test_every_mistake_is_named_at_once(structure: Structure) -> None:
    m = mapped(languages={"deu": "de_DE", "eng": "en_UK"}, features=features(
        {WEIGHT: {"attribute": "net_wieght"}, DEPTH: {"attribute": "depth", "unit": "MILIMETER"}}))
    text = str(mistake(m, structure))
    assert all(f in text for f in (f"features.{WEIGHT}.attribute", f"features.{DEPTH}.unit", "languages.eng")), text


def test_the_default_languages_and_list_price_attribute_are_no_mistake(structure: Structure) -> None:
    """The default `languages` table maps locales a catalog does not publish (it_IT…), and the default
    `price_attribute: price` may be absent: both stay as before (read past; a problem where a price comes)."""
    bare = BmecatMap(supplier="acme")
    assert "languages" not in bare.model_fields_set
    refuse_map_mistakes(bare, Structure(), SPEC_UNITS, None)


def test_a_refused_map_writes_nothing_and_names_the_map_file(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    """Found with the real catalog: `net_wieght` withdrew the stored net weight (T_NEW_CATALOG) and noted a
    problem per product."""
    import_bmecat(TERMINAL, supplier_store, load_map(MAP))
    jobs = len(supplier_store.jobs())
    data = yaml.safe_load(MAP.read_text(encoding="utf-8"))
    data["features"][WEIGHT]["attribute"] = "net_wieght"
    typo = tmp_path / "typo.yaml"
    typo.write_text(yaml.safe_dump(data), encoding="utf-8")
    with pytest.raises(InputError) as caught:
        import_bmecat(TERMINAL, supplier_store, load_map(typo))
    assert (caught.value.file, caught.value.field) == (str(typo), f"features.{WEIGHT}.attribute")
    assert supplier_store.get_product("1609801044").values["net_weight"] == {"amount": "0.00013", "unit": "KILOGRAM"}
    assert len(supplier_store.jobs()) == jobs


def test_a_locale_the_structure_lacks_withdraws_nothing(supplier_store: Store) -> None:  # noqa: F811
    """Found with the real catalog: `eng: en_UK` silently withdrew every en_US text of a T_NEW_CATALOG."""
    import_bmecat(TERMINAL, supplier_store, load_map(MAP))
    with pytest.raises(InputError, match="en_UK"):
        import_bmecat(TERMINAL, supplier_store, mapped(languages={"deu": "de_DE", "eng": "en_UK"}))
    assert supplier_store.get_product("1609801044").values["name:en_US"] == "Terminal marking"


def test_a_mapped_property_the_file_has_in_another_version_is_one_warning(supplier_store: Store) -> None:  # noqa: F811
    newer = features({"0173-1#02-AAF040#005": {"attribute": "net_weight", "unit": "KILOGRAM"}})
    del newer[WEIGHT]
    counts = import_bmecat(TERMINAL, supplier_store, mapped(features=newer))
    [warning] = supplier_store.quarantined(counts.job_id, severity="warning")
    assert warning["field"] == "features.0173-1#02-AAF040#005" and counts.extra["unread_map_fields"] == 1
    assert "the file has 0173-1#02-AAF040#004" in warning["reason"] and "T_NEW_CATALOG" in warning["reason"]
    both = import_bmecat(TERMINAL, supplier_store, mapped(features={**newer, WEIGHT: {"attribute": "net_weight"}}))
    assert supplier_store.quarantined(severity="warning") == [] and "unread_map_fields" not in both.extra


def _catalog(tmp_path: Path, deu: str = "deu", name: str = "c.xml") -> Path:
    """A T_NEW_CATALOG of product r1 whose German name is in the language code `deu`."""
    body = PRODUCT.format(pid="r1").replace('lang="deu">Relais', f'lang="{deu}">Relais {deu}')
    return _xml(tmp_path, f"<T_NEW_CATALOG>{body}</T_NEW_CATALOG>", name=name)


def test_texts_in_the_other_iso_639_2_code_are_the_language_the_map_lists(supplier_store: Store,  # noqa: F811
                                                                           tmp_path: Path) -> None:
    """Found with a real Weidmüller export in `ger`: a map listing `deu` dropped its texts, and the T_NEW_CATALOG
    withdrew the German names stored before."""
    import_bmecat(_catalog(tmp_path), supplier_store, mapped(languages=OURS))
    counts = import_bmecat(_catalog(tmp_path, "ger", "ger.xml"), supplier_store, mapped(languages=OURS))
    assert supplier_store.get_product("r1").values["name:de_DE"] == "Relais ger"
    assert supplier_store.quarantined(counts.job_id, severity="warning") == []


def test_a_language_the_map_does_not_list_is_one_warning(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    counts = import_bmecat(_catalog(tmp_path, "fra"), supplier_store, mapped(languages=OURS))
    [warning] = supplier_store.quarantined(counts.job_id, severity="warning")
    assert warning["field"] == "languages" and "'fra' (the map lists deu, eng)" in warning["reason"]
    assert counts.extra["unmapped_languages"] == 1 and "name:de_DE" not in supplier_store.get_product("r1").values
    import_bmecat(_catalog(tmp_path), supplier_store, mapped(languages=OURS))
    assert supplier_store.quarantined(severity="warning") == []  # the next run of the file closes it


def test_group_names_in_the_other_code_are_read_too(supplier_store: Store, tmp_path: Path) -> None:  # noqa: F811
    supplier_store.put_structure("category", [Category(code="suppliers", parent="master")])
    groups = CatalogGroups(create_under="suppliers", code_prefix="wm_")
    body = TREE.replace('lang="deu"', 'lang="ger"') + product("p1")
    import_bmecat(document(tmp_path, body), supplier_store, mapped(languages=OURS, catalog_groups=groups))
    assert supplier_store.structure().categories["wm_10"].labels == {"en_US": "Terminals", "de_DE": "Klemmen"}


def test_the_other_codes_join_the_map_and_never_replace_its_own() -> None:
    assert with_twins({"deu": "de_DE", "FRE": "fr_FR"}) == {"deu": "de_DE", "ger": "de_DE", "fre": "fr_FR",
                                                             "fra": "fr_FR"}
    assert with_twins({"deu": "de_DE", "ger": "de_AT"}) == {"deu": "de_DE", "ger": "de_AT"}
