"""Round 36 (G1), channel output fixes from the Akeneo icecat migration: search facets are plain text and never
textareas; Google mappings never print a Python repr nor crash on `attributes:` (first value wins, metric as
`32 in`), refuse a price read from a text attribute with the file and field; the built-in Google catalog follows
the family's attribute_as_image / attribute_as_label like the storefront; a product with a GTIN needs a brand on
Google (read from `brand`, else `manufacturer`); the storefront blocks a product whose required image is an upload
it cannot link, as Google does."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from lxml import etree

from channels.google_merchant import G
from pim.errors import ConfigError
from pim.pipeline import PublishResult, publish
from pim.product import Product
from pim.store import Store
from pim.structure import Attribute, Family
from tests.channel_data import ATTRIBUTES, ERP, FAMILY_ATTRS, complete_values, seed_products

NS = {"g": G}
BUILTIN = Path(__file__).parent.parent / "channels" / "catalogs" / "google_merchant.yaml"
EXTRA = [
    Attribute(code="composition", type="textarea", group="marketing", localizable=True, filterable=True),
    Attribute(code="material", type="text", group="general", filterable=True),
    Attribute(code="diagonal", type="metric", group="general", metric_family="Length", default_unit="INCH"),
    Attribute(code="variation_name", type="text", group="general", localizable=True),
    Attribute(code="manufacturer", type="text", group="general"),
]
SCRIPT = '<script>alert(1)</script><p onclick="x">Cotton</p>'


def _seed(store: Store, **family: Any) -> None:
    """The channel test catalog plus the attributes an Akeneo import brings (a filterable textarea and text, a
    metric variant axis, a label attribute, a manufacturer text)."""
    seed_products(store)
    store.put_structure("attribute", [*ATTRIBUTES, *EXTRA])
    store.put_structure("family", [Family(
        code="shoes", attributes=[*FAMILY_ATTRS, *(a.code for a in EXTRA)], attribute_as_label="name",
        attribute_as_image="image", requirements={"ecommerce": ["sku", "name", "description", "price", "image"]},
        **family)])


def _set(store: Store, sku: str, **values: Any) -> None:
    product = store.get_product(sku)
    assert product is not None
    store.upsert_products([product.model_copy(update={"values": {**product.values, **values}})])


def _catalog(tmp_path: Path, change: dict[str, dict[str, Any] | None], drop_options: tuple[str, ...] = (),
             **options: Any) -> Path:
    """The built-in Google catalog with some fields replaced (None: removed), written to a file."""
    data = yaml.safe_load(BUILTIN.read_text(encoding="utf-8"))
    fields = []
    for f in data["fields"]:
        if f["output"] in change:
            if change[f["output"]] is not None:
                fields.append({"output": f["output"], **change[f["output"]]})
        else:
            fields.append(f)
    data["fields"] = fields
    for key in drop_options:
        data["options"].pop(key, None)
    data["options"].update(options)
    path = tmp_path / "gm.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def _google(store: Store, out: Path, **options: Any) -> tuple[PublishResult, dict[str, etree._Element]]:
    result = publish(store, out, channel="google_merchant", scope="ecommerce", options=options)
    root = etree.parse(next(p for p in result.locations if p.endswith(".en_US.xml"))).getroot()
    return result, {i.findtext("g:id", namespaces=NS): i for i in root.iterfind("channel/item")}


def g(item: etree._Element, tag: str) -> str | None:
    return item.findtext(f"g:{tag}", namespaces=NS)


# ---------------------------------------------------------------------------------------------- #1 search facets
def test_search_facets_are_plain_text_and_a_textarea_is_never_a_facet(store: Store, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MEILI_URL", raising=False)
    _seed(store)
    _set(store, "complete", **{"composition:en_US": SCRIPT, "composition:de_DE": SCRIPT,
                               "material": 'Leather <b onmouseover="x">soft</b> &amp; <img src=x onerror=y>'})
    out = tmp_path / "out"
    publish(store, out, channel="search", scope="ecommerce", exporter="local")
    folder = out / "search" / "products_ecommerce_en_US"
    docs = {d["sku"]: d for d in map(orjson.loads, (folder / "documents.ndjson").read_bytes().splitlines())}
    facets = docs["complete"]["facets"]
    assert "composition" not in facets  # copy, not a value to filter on
    assert facets["material"] == "Leather soft &"
    assert "<" not in orjson.dumps(facets).decode()
    settings = orjson.loads((folder / "settings.json").read_bytes())
    assert "facets.material" in settings["filterableAttributes"]
    assert "facets.composition" not in settings["filterableAttributes"]


# ---------------------------------------------------------------------------------------------- #2 Google mappings
def test_google_mappings_give_readable_single_values_never_a_repr_or_a_traceback(store: Store, tmp_path: Path) -> None:
    """A metric mapped to size reads `32 in`; `attributes:` on title and image_link give the first with a value."""
    _seed(store)
    _set(store, "runner-red", diagonal={"amount": "32", "unit": "INCH"})
    _set(store, "complete", **{"variation_name:en_US": "Runner Blue"})
    catalog = _catalog(tmp_path, {
        "title": {"attributes": ["variation_name", "name"], "max_length": 150, "required": True},
        "image_link": {"attributes": ["variation_image", "picture", "image"], "required": True},
        "size": {"attribute": "diagonal"},
    })
    result, items = _google(store, tmp_path / "out", catalog=str(catalog))
    assert g(items["runner-red"], "size") == "32 in"
    assert g(items["runner-red"], "title") == "Runner"  # no variation_name: the next attribute
    assert g(items["complete"], "title") == "Runner Blue"
    assert g(items["complete"], "image_link") == "https://shop.example.com/media/gmc_main/runner-side.jpg"
    feed = Path(next(p for p in result.locations if p.endswith(".en_US.xml"))).read_text(encoding="utf-8")
    assert "{'" not in feed and "['" not in feed


def test_google_refuses_a_price_read_from_a_text_attribute_naming_the_file_and_field(store: Store,
                                                                                      tmp_path: Path) -> None:
    _seed(store)
    catalog = _catalog(tmp_path, {"price": {"attribute": "mpn", "required": True}})
    with pytest.raises(ConfigError) as err:
        publish(store, tmp_path / "out", channel="google_merchant", scope="ecommerce", options={"catalog": str(catalog)})
    assert str(catalog) in str(err.value) and "(price)" in str(err.value) and "'mpn'" in str(err.value)


# ---------------------------------------------------------------------------------------------- #5 family image/label
def test_builtin_google_catalog_follows_the_familys_image_and_label_like_the_storefront(store: Store,
                                                                                         tmp_path: Path) -> None:
    _seed(store)
    store.put_structure("family", [Family(
        code="shoes", attributes=[*FAMILY_ATTRS, *(a.code for a in EXTRA)], attribute_as_label="variation_name",
        attribute_as_image="picture", requirements={"ecommerce": ["sku", "name", "description", "price", "image"]})])
    _set(store, "complete", **{"variation_name:en_US": "Runner Blue", "variation_name:de_DE": "Läufer Blau"})
    _, items = _google(store, tmp_path / "out")
    front = publish(store, tmp_path / "sf", channel="storefront", scope="ecommerce")
    docs = {d["identifier"]: d for d in orjson.loads(
        Path(next(p for p in front.locations if "en_US" in p)).read_bytes())["products"]}
    assert docs["complete"]["label"] == "Runner Blue" and docs["complete"]["image"] == "runner-side.jpg"
    assert g(items["complete"], "title") == "ACME Runner Blue"
    assert g(items["complete"], "image_link") == "https://shop.example.com/media/gmc_main/runner-side.jpg"
    assert g(items["runner-red"], "title") == "ACME Runner"  # no label value: the name, as before
    # a catalog mapping image_link explicitly (no family_image option) keeps its mapping
    explicit = _catalog(tmp_path, {}, drop_options=("family_image",))
    _, kept = _google(store, tmp_path / "out2", catalog=str(explicit))
    assert g(kept["complete"], "image_link") == "https://shop.example.com/media/gmc_main/runner.jpg"


# ---------------------------------------------------------------------------------------------- #7 brand
def test_google_blocks_an_item_with_a_gtin_and_no_brand_and_reads_the_manufacturer(store: Store,
                                                                                    tmp_path: Path) -> None:
    _seed(store)
    no_brand = {k: v for k, v in complete_values(sku="x").items() if k != "brand"}
    store.upsert_products([
        Product(identifier="nobrand", family="shoes", categories=["shoes"], source=ERP,
                values={**no_brand, "sku": "nobrand"}),
        Product(identifier="maker", family="shoes", categories=["shoes"], source=ERP,
                values={**no_brand, "sku": "maker", "manufacturer": "Weidmüller"}),
        Product(identifier="custom", family="shoes", categories=["shoes"], source=ERP,
                values={k: v for k, v in no_brand.items() if k not in ("ean", "mpn")} | {"sku": "custom"}),
    ])
    result, items = _google(store, tmp_path / "out")
    assert "google_merchant:en_US:missing:brand:identifier_exists" in result.blocked["nobrand"]
    assert "nobrand" not in items
    assert g(items["maker"], "brand") == "Weidmüller" and g(items["maker"], "identifier_exists") == "yes"
    assert g(items["custom"], "identifier_exists") == "no" and g(items["custom"], "brand") is None
    # a media catalog (books, films, music) is exempt: it says so
    _, media = _google(store, tmp_path / "out2", catalog=str(_catalog(tmp_path, {}, require_brand=False)))
    assert g(media["nobrand"], "identifier_exists") == "yes" and g(media["nobrand"], "brand") is None


# ---------------------------------------------------------------------------------------------- #6 storefront image
def test_storefront_blocks_a_product_whose_required_image_is_an_upload_it_cannot_link(
        store: Store, pim_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As Google does: no page without the image its family requires; nothing links to the blocked product."""
    from tests.test_channel_images_r35 import _cdn, _media_yaml, _uploaded

    _media_yaml(pim_env, {"ecommerce": {"min_width": 300, "min_height": 300}})
    _cdn(monkeypatch, None)
    seed_products(store)
    # once media is in use a file-name image no longer counts (round 35), and since round 36 the first check rescores
    # what was scored before: `complete` keeps an image that counts, a URL
    from pim.web.editing import apply_values
    assert not apply_values(store, "complete", {"image": "https://img.example.com/runner.jpg"}, "ed").errors
    _uploaded(store, "bad-gtin", 21)
    result = publish(store, tmp_path / "out", channel="storefront", scope="ecommerce")
    assert ("storefront:image_link_not_public:image:set PIM_CDN_BASE_URL or the catalog's media_base_url"
            in result.blocked["bad-gtin"])
    docs = {d["identifier"]: d for d in orjson.loads(
        Path(next(p for p in result.locations if "en_US" in p)).read_bytes())["products"]}
    assert "bad-gtin" not in docs and docs["complete"]["image"] == "https://img.example.com/runner.jpg"
    assert "bad-gtin" not in orjson.dumps(docs["complete"]).decode()  # its cross-sell link is trimmed
