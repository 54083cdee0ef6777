"""The Akeneo CSV importer, on Akeneo's own demo catalog (icecat_demo_dev) and on small hand-made exports."""

from __future__ import annotations

import itertools
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from importers.akeneo import AkeneoImporter, import_akeneo
from pim.errors import InputError
from pim.product import merged_values
from pim.registry import IMPORTERS, lookup
from pim.store import Store
from pim.structure_files import StructureErrors
from tests.conftest import ICECAT, SHARED, copy_database, drop_database

MINIMAL = SHARED / "akeneo_fixtures" / "minimal"
_dbs = itertools.count()


# ---------------------------------------------------------------- icecat, imported once per backend
@pytest.fixture(scope="module")
def icecat(backend: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A fresh database per backend with icecat imported twice: {'store', 'first', 'second', 'structure'}."""
    url, cleanup = _fresh_database(backend, request, tmp_path_factory)
    store = Store(url)
    first = import_akeneo(ICECAT, store)
    structure = store.structure()
    second = import_akeneo(ICECAT, store)
    yield {"store": store, "first": first, "second": second, "structure": structure}
    store.dispose()
    cleanup()


def _fresh_database(backend: str, request: pytest.FixtureRequest, factory: pytest.TempPathFactory,
                    template: str | None = None) -> tuple[str, Any]:
    """A new database and its cleanup: a copy of `template` (a SQLite file path, a PostgreSQL database name),
    else of the migrated empty template."""
    if backend == "sqlite":
        path = factory.mktemp("akeneo") / "pim.db"
        shutil.copyfile(template or request.getfixturevalue("sqlite_template"), path)
        return f"sqlite:///{path}", lambda: None
    template = template or request.getfixturevalue("postgres_template")
    server = request.getfixturevalue("postgres_server")
    name = f"pim_akeneo{os.getpid()}_{next(_dbs)}"
    copy_database(server.url(), template, name)
    return server.url(name), lambda: drop_database(server.url(), name)


def test_icecat_imports_every_product_and_model(icecat: dict[str, Any]) -> None:
    first, store = icecat["first"], icecat["store"]
    assert (first["products"], first["product_models"]) == (1239, 81)
    assert (first["created"], first["rejected"]) == (1239 + 81, 0)
    assert store.count_products() == 1239 and store.count_models() == 81
    assert store.quarantined(first["job_id"], severity="rejected") == []


def test_icecat_structure_keeps_only_activated_locales_and_currencies(icecat: dict[str, Any]) -> None:
    s = icecat["structure"]
    assert sorted(s.locales) == ["de_DE", "en_US", "fr_FR"]
    assert sorted(s.currencies) == ["EUR", "USD"]
    assert (len(s.attributes), len(s.families), len(s.family_variants), len(s.categories)) == (77, 17, 9, 168)
    weight = s.attributes["weight"]
    assert (weight.type, weight.metric_family, weight.default_unit, weight.negative_allowed) == ("metric", "Weight", "KILOGRAM", False)
    assert s.attributes["description"].localizable and s.attributes["description"].scopable
    assert s.attributes["picture"].allowed_extensions == ["jpg", "jpeg", "gif", "png"]
    assert s.attributes["name"].labels["fr_FR"] == "Nom" and s.attributes["name"].filterable
    assert s.channels["ecommerce"].category_tree == "master"
    assert [lvl.axes for lvl in s.family_variants["clothing_color_size"].levels] == [["color"], ["size"]]
    assert "sku" in s.families["webcams"].requirements["mobile"]
    assert {c: t.kind for c, t in s.association_types.items()} == {
        "X_SELL": "cross_sell", "UPSELL": "up_sell", "SUBSTITUTION": "substitution", "PACK": "pack"}


def test_icecat_values_read_as_akeneo_means_them(icecat: dict[str, Any]) -> None:
    store = icecat["store"]
    tshirt = store.get_product("Tshirt-divided-blue-s")
    # Akeneo's export repeats the models' values on each variant row: the variant keeps its level's own
    # (clothing_color_size: sku, weight, size, ean) and shows its models' (pim.variant_levels); its ean
    # 1234567890332 has a wrong check digit (expected 3), so it is left out with a problem (tests/test_catalog_gtin.py)
    assert set(tshirt.values) == {"sku", "weight", "size"}
    assert store.get_product("Tshirt-divided-blue-m").values["ean"] == "1234567890333"  # a valid one is kept
    assert tshirt.values["weight"] == {"amount": "700", "unit": "GRAM"}
    shown = merged_values(tshirt, store.ancestors(tshirt))
    assert shown["price"] == {"EUR": "19.00", "USD": "19.00"}
    assert shown["variation_name:fr_FR"] == "T-shirt en coton avec un col rond Divided bleu"
    sub = store.get_model("model-tshirt-divided-blue")  # level 1: variation_name, variation_image, composition, color, material
    assert "variation_name:fr_FR" in sub.values and "price" not in sub.values and "name" not in sub.values
    assert store.get_model("model-tshirt-divided").values["price"] == {"EUR": "19.00", "USD": "19.00"}
    # the file says 'Model-tshirt-divided-blue'; Akeneo codes ignore case, the model is 'model-tshirt-divided-blue'
    assert tshirt.parent == "model-tshirt-divided-blue"
    assert tshirt.source.ref == "products.csv:1523" and tshirt.source.source == "akeneo"
    printer = store.get_product("11704310")
    assert printer.values["multifunctional_functions"] == ["copy", "print", "scan"]
    assert printer.values["release_date@ecommerce"] == "2011-11-10"
    assert printer.values["color_scanning"] is True
    assert printer.values["description:en_US@print"].startswith("- Up to 30 pages per minute")
    assert printer.categories == ["kyocera", "multifunctionals", "print_scan_sales"]
    dress = store.get_product("1111111149")  # a quoted value over several physical lines (its model's, shown)
    shown = merged_values(dress, store.ancestors(dress))
    assert shown["description:en_US@ecommerce"].startswith("Length: Short\nLining: 100% polyester")
    assert "description:en_US@ecommerce" not in dress.values  # the export's repetition of athena's
    assert dress.parent == "athena" and dress.family == "clothing"


def test_icecat_sub_models_hang_under_root_models(icecat: dict[str, Any]) -> None:
    store = icecat["store"]
    sub = store.get_model("model-tshirt-divided-blue")
    assert sub.parent == "model-tshirt-divided" and sub.family == "clothing"
    assert [m.code for m in store.ancestors(store.get_product("Tshirt-divided-blue-s"))] == [
        "model-tshirt-divided-blue", "model-tshirt-divided"]


def test_icecat_missing_media_files_are_problems_not_rejections(icecat: dict[str, Any]) -> None:
    first, store = icecat["first"], icecat["store"]
    problems = store.quarantined(first["job_id"], severity="problem", open_only=False)
    media = [p for p in problems if p["reason"].startswith("media file not found")]
    # 270 media files not found, 128 values of a model's level (below), 105 EANs with a wrong check digit
    # (tests/test_catalog_gtin.py)
    assert first["problems"] == len(problems) == 270 + 128 + 105 and len(media) == 270
    printer = next(p for p in media if p["record_key"] == "10817854")
    assert (printer["field"], printer["reason"]) == ("picture", "media file not found: files/10817854/picture/10817854-5160.jpg")
    assert store.get_product("10817854").values["picture"] == "files/10817854/picture/10817854-5160.jpg"


def test_icecat_values_of_a_models_level_stay_the_models(icecat: dict[str, Any]) -> None:
    """The demo export repeats each model's values on its variants' rows, and a few variants give an image of
    their own where the family variant keeps `image` on the root model: Akeneo ignores those, and so do we,
    naming each one that differs from what the model shows (128 of them)."""
    first, store = icecat["first"], icecat["store"]
    problems = store.quarantined(first["job_id"], severity="problem", open_only=False)
    levels = [p for p in problems if "the value was not stored" in p["reason"]]
    assert len(levels) == 128
    assert {p["field"] for p in levels} == {"image", "variation_image"}
    tshirt = next(p for p in levels if p["record_key"] == "Tshirt-divided-blue-s")
    assert tshirt["reason"] == ("'image' is held by the root product model in family variant 'clothing_color_size' "
                                "('model-tshirt-divided', the parent of this product's model 'model-tshirt-divided-blue'"
                                "): set it on the model, or move the attribute to this level in the family variant; the "
                                "value was not stored")
    assert (tshirt["file"], tshirt["line"]) == ("products.csv", 1523)
    variant = store.get_product("Tshirt-divided-blue-s")
    assert "image" not in variant.values
    shown = merged_values(variant, store.ancestors(variant))
    assert shown["image"] == store.get_model("model-tshirt-divided").values["image"]


def test_icecat_reimport_changes_nothing(icecat: dict[str, Any]) -> None:
    second, store = icecat["second"], icecat["store"]
    assert (second["created"], second["updated"], second["unchanged"]) == (0, 0, 1239 + 81)
    assert second["structure_changed"] == 0
    assert store.structure() == icecat["structure"]
    # the first run's media problems are closed; only the latest run's stay open
    open_problems = store.quarantined(severity="problem")
    assert len(open_problems) == 270 + 128 + 105 and {p["job_id"] for p in open_problems} == {second["job_id"]}


# ---------------------------------------------------------------- small hand-made exports
STRUCTURE = {
    "locales.csv": "code\nen_US\nfr_FR\nde_DE\n",
    "currencies.csv": "code;activated\nEUR;1\nUSD;0\n",
    "channels.csv": "code;label-en_US;locales;currencies;tree\necommerce;E-commerce;en_US,fr_FR;EUR;master\n",
    "categories.csv": "code;parent;label-en_US\nmaster;;Master\nshirts;master;Shirts\n",
    "attribute_groups.csv": "code;sort_order;label-en_US\nother;1;Other\n",
    "attributes.csv": (
        "code;type;group;localizable;scopable;metric_family;default_metric_unit;label-en_US;useable_as_grid_filter\n"
        "sku;pim_catalog_identifier;other;0;0;;;SKU;1\n"
        "name;pim_catalog_text;other;1;0;;;Name;0\n"
        "color;pim_catalog_simpleselect;other;0;0;;;Color;1\n"
        "weight;pim_catalog_metric;other;0;0;Weight;KILOGRAM;Weight;0\n"
        "photo;pim_catalog_image;other;0;0;;;Photo;0\n"
        "size;pim_catalog_simpleselect;other;0;0;;;Size;1\n"
    ),
    "attribute_options.csv": "code;attribute;sort_order;label-en_US\nred;color;1;Red\nblue;color;2;Blue\ns;size;1;S\nm;size;2;M\n",
    "families.csv": "code;attributes;attribute_as_label;requirements-ecommerce\nshirts;sku,name,color,weight,photo,size;name;sku,name\n",
    "family_variants.csv": "code;family;variant-axes_1;variant-attributes_1\nshirt_size;shirts;size;sku,size\n",
    "association_types.csv": "code;label-en_US\nX_SELL;Cross sell\nCOMPAT;Compatible\n",
    "product_models.csv": "code;family_variant;parent;categories;color;name-en_US\nshirt;shirt_size;;shirts;red;Shirt\n",
}
PRODUCTS_HEADER = "sku;categories;enabled;family;parent;groups;name-en_US;color;weight;weight-unit;photo;size;X_SELL-products\n"


def _export(tmp_path: Path, products: str, **overrides: str | bytes) -> Path:
    folder = tmp_path / "export"
    folder.mkdir(exist_ok=True)
    for name, body in {**STRUCTURE, "products.csv": PRODUCTS_HEADER + products, **overrides}.items():
        (folder / name).write_bytes(body if isinstance(body, bytes) else body.encode())
    return folder


def _rejects(store: Store, job_id: int) -> list[tuple[str, int, str, str]]:
    return [(r["file"], r["line"], r["field"], r["reason"]) for r in store.quarantined(job_id, severity="rejected")]


def test_small_export_reads_every_column_kind(store: Store, tmp_path: Path) -> None:
    (tmp_path / "export" / "files").mkdir(parents=True)
    (tmp_path / "export" / "files" / "a.jpg").write_bytes(b"jpg")
    folder = _export(tmp_path, 'A1;shirts;0;shirts;SHIRT;;"Shirt ""A""";;1,5;GRAM;files/a.jpg;m;A2\n'
                               "A2;;1;shirts;;;Plain;blue;2;;;;\n",
                     **{"family_variants.csv": "code;family;variant-axes_1;variant-attributes_1\n"
                                               "shirt_size;shirts;size;sku,size,name,weight,photo\n",
                        "product_models.csv": "code;family_variant;parent;categories;color\nshirt;shirt_size;;shirts;red\n"})
    counts = import_akeneo(folder, store)
    assert (counts["created"], counts["rejected"], counts["problems"]) == (3, 0, 0)
    a1, a2 = store.get_product("A1"), store.get_product("A2")
    assert (a1.enabled, a1.parent, a1.values["name:en_US"], a1.values["size"]) == (False, "shirt", 'Shirt "A"', "m")
    assert a1.values["weight"] == {"amount": "1.5", "unit": "GRAM"} and a1.values["photo"] == "files/a.jpg"
    assert a1.associations["X_SELL"].products == ["A2"]
    assert a2.values["weight"] == {"amount": "2", "unit": "KILOGRAM"}  # no unit cell: the attribute's default unit
    assert "photo" not in a2.values  # an empty cell is no value


def test_unknown_attribute_column_quarantines_only_rows_that_fill_it(store: Store, tmp_path: Path) -> None:
    body = PRODUCTS_HEADER.rstrip("\n") + ";flavour\nA1;;1;shirts;;;One;;;;;;;x\nA2;;1;shirts;;;Two;;;;;;;\n"
    folder = _export(tmp_path, "", **{"products.csv": body})
    counts = import_akeneo(folder, store)
    assert (counts["products"], counts["rejected"]) == (1, 1)
    assert _rejects(store, counts["job_id"]) == [
        ("products.csv", 2, "flavour", "unknown attribute 'flavour'; declare it in attributes.csv")]
    assert store.get_product("A2") is not None


def test_option_that_does_not_exist_is_quarantined_with_its_column(store: Store, tmp_path: Path) -> None:
    counts = import_akeneo(_export(tmp_path, "A1;;1;shirts;;;One;green;;;;;\n"), store)
    [(file, line, column, reason)] = _rejects(store, counts["job_id"])
    assert (file, line, column) == ("products.csv", 2, "color")
    assert "option 'green' does not exist" in reason
    raw = store.quarantined(counts["job_id"])[0]["raw"]
    assert raw["sku"] == "A1" and raw["color"] == "green"


def test_missing_parent_and_unknown_family_are_quarantined(store: Store, tmp_path: Path) -> None:
    counts = import_akeneo(_export(tmp_path, "A1;;1;shirts;nope;;One;;;;;;\nA2;;1;pants;;;Two;;;;;;\nA3;;1;;;;Three;;;;;;\n"), store)
    assert counts["created"] == 2  # the model and A3
    assert _rejects(store, counts["job_id"]) == [
        ("products.csv", 2, "parent", "parent product model 'nope' does not exist"),
        ("products.csv", 3, "family", "family: unknown family 'pants'"),
    ]


def test_sub_model_with_unknown_parent_is_quarantined(store: Store, tmp_path: Path) -> None:
    models = STRUCTURE["product_models.csv"] + "shirt-red;shirt_size;ghost;;;\n"
    counts = import_akeneo(_export(tmp_path, "", **{"product_models.csv": models}), store)
    assert _rejects(store, counts["job_id"]) == [
        ("product_models.csv", 3, "parent", "parent product model 'ghost' does not exist")]
    assert store.quarantined(counts["job_id"])[0]["record_key"] == "model:shirt-red"  # never a product's SKU


def test_missing_media_file_keeps_the_value_and_records_a_problem(store: Store, tmp_path: Path) -> None:
    counts = import_akeneo(_export(tmp_path, "A1;;1;shirts;;;One;;;;files/x/a.jpg;;\n"), store)
    assert (counts["created"], counts["rejected"], counts["problems"]) == (2, 0, 1)
    [problem] = store.quarantined(counts["job_id"], severity="problem")
    assert (problem["record_key"], problem["field"], problem["line"]) == ("A1", "photo", 2)
    assert problem["reason"] == "media file not found: files/x/a.jpg"
    assert store.get_product("A1").values["photo"] == "files/x/a.jpg"


def test_missing_products_csv_is_an_input_error(store: Store, tmp_path: Path) -> None:
    folder = _export(tmp_path, "")
    (folder / "products.csv").unlink()
    with pytest.raises(InputError, match="products.csv is missing"):
        import_akeneo(folder, store)


def test_latin1_file_fails_before_anything_is_written(store: Store, tmp_path: Path) -> None:
    folder = _export(tmp_path, "", **{"products.csv": (PRODUCTS_HEADER + "A1;;1;shirts;;;Caf\u00e9;;;;;;\n").encode("latin-1")})
    with pytest.raises(InputError) as err:
        import_akeneo(folder, store)
    assert (err.value.file, err.value.line) == ("products.csv", 2)
    assert "not UTF-8" in str(err.value) and "iconv" in err.value.hint
    assert store.structure().attributes == {} and store.count_products() == 0


def test_byte_order_mark_is_ignored(store: Store, tmp_path: Path) -> None:
    folder = _export(tmp_path, "", **{"products.csv": b"\xef\xbb\xbf" + (PRODUCTS_HEADER + "A1;;1;shirts;;;One;;;;;;\n").encode()})
    counts = import_akeneo(folder, store)
    assert (counts["products"], counts["rejected"]) == (1, 0)


def test_empty_files_are_empty_exports(store: Store, tmp_path: Path) -> None:
    folder = _export(tmp_path, "", **{"products.csv": "", "product_models.csv": "", "families.csv": ""})
    counts = import_akeneo(folder, store)
    assert (counts["read"], counts["products"], counts["families"], counts["attributes"]) == (0, 0, 0, 6)


def test_truncated_quoted_field_refuses_the_file_before_anything_is_written(store: Store, tmp_path: Path) -> None:
    # a quote never closed: the rows after it are unreadable (they were lost before, after one quarantine entry)
    with pytest.raises(InputError, match="quote opened on line 3 is never closed") as err:
        import_akeneo(_export(tmp_path, 'A1;;1;shirts;;;One;;;;;;\nA2;;1;shirts;;;"Two\nstill two;;;;;;\n'), store)
    assert (err.value.file, err.value.line, err.value.field) == ("products.csv", 3, "name-en_US")
    assert store.get_product("A1") is None and store.get_product("A2") is None


def test_row_with_too_many_cells_is_quarantined(store: Store, tmp_path: Path) -> None:
    counts = import_akeneo(_export(tmp_path, "A1;;1;shirts;;;One;;;;;;;extra\n"), store)
    [(_, line, _, reason)] = _rejects(store, counts["job_id"])
    assert line == 2 and "14 cells but the header has 13" in reason


def test_localizable_column_without_locale_is_quarantined(store: Store, tmp_path: Path) -> None:
    body = "sku;family;name\nA1;shirts;One\n"
    counts = import_akeneo(_export(tmp_path, "", **{"products.csv": body}), store)
    [(_, _, column, reason)] = _rejects(store, counts["job_id"])
    assert column == "name" and "localizable: the column needs a locale" in reason


def test_structure_row_that_does_not_fit_is_quarantined(store: Store, tmp_path: Path) -> None:
    attributes = STRUCTURE["attributes.csv"] + "ref;pim_reference_data_simpleselect;other;0;0;;;Ref;0\n"
    counts = import_akeneo(_export(tmp_path, "", **{"attributes.csv": attributes}), store)
    [(file, line, _, reason)] = _rejects(store, counts["job_id"])
    assert (file, line) == ("attributes.csv", 8) and "'pim_reference_data_simpleselect' is not supported" in reason
    assert counts["attributes"] == 6


def test_minimal_catalog_imports_its_structure(store: Store) -> None:
    counts = import_akeneo(MINIMAL, store)
    assert (counts["read"], counts["channels"], counts["locales"], counts["currencies"]) == (0, 1, 1, 2)
    assert store.structure().identifier_attribute == "sku"


def test_registry_names_the_importer(store: Store, tmp_path: Path) -> None:
    importer = lookup(IMPORTERS, "akeneo", "importer")()
    assert isinstance(importer, AkeneoImporter) and importer.name == "akeneo"
    counts = importer.run(_export(tmp_path, "A1;;1;shirts;;;One;;;;;;\n"), store)
    assert counts["created"] == 2 and "job_id" in counts


def test_repeated_identifier_is_quarantined_naming_the_first_line(store: Store, tmp_path: Path) -> None:
    counts = import_akeneo(_export(tmp_path, "A1;;1;shirts;;;One;;;;;;\na1;;1;shirts;;;Again;;;;;;\n"), store)
    assert _rejects(store, counts["job_id"]) == [("products.csv", 3, "sku", "identifier 'a1' already appears on line 2")]
    assert store.get_product("A1").values["name:en_US"] == "One"


def test_quantified_association_keeps_quantities(store: Store, tmp_path: Path) -> None:
    types = "code;label-en_US;is_quantified\nPACK;Pack;1\n"
    body = "sku;family;PACK-products;PACK-products-quantity\nA1;shirts;;\nKIT;shirts;A1;3\n"
    import_akeneo(_export(tmp_path, "", **{"association_types.csv": types, "products.csv": body}), store)
    assert store.structure().association_types["PACK"].quantified
    pack = store.get_product("KIT").associations["PACK"]
    assert (pack.products, pack.quantities) == (["A1"], {"A1": 3})


def test_header_mistakes_stop_before_anything_is_written(store: Store, tmp_path: Path) -> None:
    folder = _export(tmp_path, "", **{"products.csv": "sku;family;family\nA1;shirts;shirts\n"})
    with pytest.raises(InputError, match="column 'family' appears twice") as err:
        import_akeneo(folder, store)
    assert (err.value.file, err.value.line, err.value.field) == ("products.csv", 1, "family")
    (folder / "products.csv").write_text("code;family\nA1;shirts\n")
    with pytest.raises(InputError, match="products.csv has no 'sku' column"):
        import_akeneo(folder, store)
    assert store.structure().attributes == {} and store.count_models() == 0


def test_fixed_structure_row_closes_its_quarantine_entry(store: Store, tmp_path: Path) -> None:
    bad = STRUCTURE["attributes.csv"] + "ref;pim_reference_data_simpleselect;other;0;0;;;Ref;0\n"
    first = import_akeneo(_export(tmp_path, "", **{"attributes.csv": bad}), store)
    assert [r["record_key"] for r in store.quarantined(first["job_id"])] == ["attributes.csv:ref"]
    fixed = STRUCTURE["attributes.csv"] + "ref;pim_catalog_text;other;0;0;;;Ref;0\n"
    import_akeneo(_export(tmp_path, "", **{"attributes.csv": fixed}), store)
    assert store.quarantined(severity="rejected") == []


# ---------------------------------------------------------------- structure changes against stored values
def test_keying_change_with_stored_values_stops_the_import_naming_the_row(store: Store, tmp_path: Path) -> None:
    folder = _export(tmp_path, "A1;;1;shirts;;;One;red;2;;;;\n")
    import_akeneo(folder, store)
    attributes = STRUCTURE["attributes.csv"].replace("color;pim_catalog_simpleselect;other;0;0", "color;pim_catalog_simpleselect;other;1;0")
    changed = _export(tmp_path, "A2;;1;shirts;;;Two;;;;;;\n", **{"attributes.csv": attributes})
    with pytest.raises(StructureErrors) as caught:
        import_akeneo(changed, store)
    product, model = caught.value.problems  # the product and the product model both hold a color
    assert (Path(product.file).name, product.line, product.field) == ("attributes.csv", 4, "attributes.2.localizable")
    assert "color changes" in product.reason and "A1: color" in product.reason and "shirt: color" in model.reason
    assert "pim import akeneo" in (caught.value.hint or "")
    assert store.structure().attributes["color"].localizable is False  # nothing was saved
    assert store.get_product("A2") is None and store.get_product("A1").values["color"] == "red"


def test_keying_change_of_an_attribute_without_values_imports(store: Store, tmp_path: Path) -> None:
    models = "code;family_variant;parent;categories;color;name-en_US\nshirt;shirt_size;;shirts;;Shirt\n"
    import_akeneo(_export(tmp_path, "A1;;1;shirts;;;One;;2;;;;\n", **{"product_models.csv": models}), store)  # no color stored
    attributes = STRUCTURE["attributes.csv"].replace("color;pim_catalog_simpleselect;other;0;0", "color;pim_catalog_simpleselect;other;1;0")
    counts = import_akeneo(_export(tmp_path, "A2;;1;shirts;;;Two;;;;;;\n", **{"attributes.csv": attributes,
                                                                             "product_models.csv": models}), store)
    assert counts["structure_changed"] >= 1 and store.structure().attributes["color"].localizable is True
    assert store.get_product("A2") is not None


def test_family_variant_resplit_while_models_use_it_stops_the_import(store: Store, tmp_path: Path) -> None:
    import_akeneo(_export(tmp_path, "A1;;1;shirts;shirt;;One;;;;;m;\n"), store)
    variants = "code;family;variant-axes_1;variant-attributes_1\nshirt_size;shirts;color;sku,color\n"
    with pytest.raises(StructureErrors) as caught:
        import_akeneo(_export(tmp_path, "", **{"family_variants.csv": variants}), store)
    print(caught.value.problems)
    [problem] = caught.value.problems
    assert (Path(problem.file).name, problem.line, problem.field) == ("family_variants.csv", 2, "family_variants.0.levels")
    assert store.structure().family_variants["shirt_size"].levels[0].axes == ["size"]


def test_a_family_that_is_no_code_and_a_media_name_too_long_for_a_file_are_handled(store: Store, tmp_path: Path) -> None:
    """Found by fuzzing the Akeneo import: a family cell of ' ' failed the whole import with pydantic's
    traceback, and an image path longer than the file system's names (is_file's OSError) too."""
    long_name = "files/" + "x" * 300 + ".jpg"
    counts = import_akeneo(_export(tmp_path, f"A1;;1;b ad;;;One;;;;;;\nA2;;1;shirts;;;Two;;;;{long_name};;\n"), store)
    [(file, line, column, reason)] = _rejects(store, counts["job_id"])
    assert (file, line, column) == ("products.csv", 2, "family") and "should match pattern" in reason
    [problem] = store.quarantined(counts["job_id"], severity="problem")
    assert problem["record_key"] == "A2" and problem["reason"] == f"media file not found: {long_name}"
