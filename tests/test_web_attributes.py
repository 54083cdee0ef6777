"""The admins' attribute pages: every attribute listed; a new attribute of any type but the identifier, checked
as `pim structure load` checks it and refused with the same words; deleting an attribute or removing a select
option only when nothing uses it, saying what does; only admins reach the pages, every form needs the CSRF
token. The usage queries (pim.attribute_usage) run on both store backends."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from playwright.sync_api import expect

from channels.framework import ChannelCatalog, FieldMap
from pim.attribute_usage import (
    blockers,
    catalog_channels,
    catalog_references,
    channel_catalogs,
    contract_roles,
    option_blockers,
    option_holders,
    reading_fields,
    value_holders,
)
from pim.catalog import Structure
from pim.completeness import stored_completeness
from pim.contracts import put_contracts
from pim.errors import InputError
from pim.product import Product, ProductModel
from pim.store import Store
from pim.structure import Attribute, AttributeOption, Channel, GateRules
from pim.structure_files import load_structure_files
from pim.web.accounts import add_user
from pim.web.app import create_app
from pim.web.attribute_form import LABELS, SETTINGS
from tests.channel_data import ERP, seed_products
from tests.feeds_data import contract
from tests.test_web_browser import admin_on
from tests.test_web_ui import cheap_argon2, login  # noqa: F401  (cheap_argon2: autouse fixture)

ROOT = Path(__file__).resolve().parents[1]


def _message(html: str) -> str:
    found = re.search(r'<p class="(?:error|notice)"[^>]*>([^<]*)</p>', html)
    return found.group(1).replace("&#39;", "'").replace("&amp;", "&") if found else ""


def _add(web: TestClient, token: str, **fields: str):  # noqa: ANN202
    return web.post("/admin/attributes", data={"csrf_token": token, "group": "general", **fields})


def _holders(store: Store, table: str, attribute: str, option: str | None = None) -> tuple[int, list[str]]:
    with store.engine.connect() as conn:
        return value_holders(conn, table, attribute) if option is None else option_holders(conn, table, attribute, option)


# ---------------------------------------------------------------------------------------------- usage queries
def test_value_holders_match_every_locale_and_channel_key_but_no_longer_code_or_null(store: Store) -> None:
    seed_products(store)
    store.upsert_products([
        Product(identifier="nulls", family="shoes", source=ERP, values={"sku": "nulls", "mpn": None}),
        Product(identifier="longer", family="shoes", source=ERP, values={"sku": "longer", "mpn_old": "x", "name_x:en_US": "y"}),
    ])
    assert _holders(store, "product", "description") == (3, ["bad-gtin", "complete", "long-title"])  # description:en_US@ecommerce
    assert _holders(store, "product_model", "description") == (1, ["runner_model"])
    assert _holders(store, "product", "name") == (4, ["bad-gtin", "complete", "long-title", "no-description"])
    assert _holders(store, "product", "mpn") == (4, ["bad-gtin", "complete", "long-title", "no-description"])
    assert _holders(store, "product", "sku")[0] == 7 and _holders(store, "product_model", "sku") == (0, [])
    assert _holders(store, "product", "voltage") == (0, [])


def test_option_holders_match_a_simple_select_value_or_a_multi_select_list(store: Store) -> None:
    seed_products(store)
    store.put_structure("attribute", [Attribute(code="tags", type="multi_select", group="general")])
    store.upsert_products([
        Product(identifier="tagged", family="shoes", source=ERP, values={"sku": "tagged", "tags": ["red", "summer"]}),
        Product(identifier="reddish", family="shoes", source=ERP,
                values={"sku": "reddish", "color": "reddish", "mpn": "red", "name:en_US": "red"}),
    ])
    store.upsert_models([ProductModel(code="red_model", family_variant="shoes_color", family="shoes", source=ERP,
                                      values={"tags": ["red"]})])
    assert _holders(store, "product", "color", "red") == (1, ["runner-red"])  # not "reddish", not other attributes
    assert _holders(store, "product", "tags", "red") == (1, ["tagged"])
    assert _holders(store, "product_model", "tags", "red") == (1, ["red_model"])
    assert _holders(store, "product", "tags", "summer") == (1, ["tagged"]) and _holders(store, "product", "tags", "sum") == (0, [])
    assert option_blockers(store, "tags", "red") == ["1 product holds it (tagged)", "1 product model holds it (red_model)"]
    assert option_blockers(store, "color", "blue") == []


def test_blockers_name_the_structure_the_contracts_and_the_values(store: Store) -> None:
    seed_products(store)
    s = store.structure()
    assert blockers(store, s, "sku")[0] == "it is the identifier: every product has one"
    color = blockers(store, s, "color")
    assert color == ["family shoes lists it (remove it on the family page first)", "it is a variant axis of shoes_color",
                     "1 product holds a value of it (runner-red)"]  # google_merchant's color field is optional
    assert "it is a variant-level attribute of shoes_color" in blockers(store, s, "ean")
    assert "4 products hold a value of it (bad-gtin, complete, long-title, no-description)" in blockers(store, s, "brand")
    store.put_structure("attribute", [Attribute(code="voltage", type="text", group="general")])
    store.put_structure("channel", [Channel(code="ecommerce", locales=["en_US", "de_DE"], currencies=["EUR", "USD"],
                                            category_tree="master", gate=GateRules(text_limits={"voltage": 20}))])
    put_contracts(store, [contract(channel="ecommerce", fields=["voltage"],
                                   assortment={"rules": [{"attributes": {"voltage": ["230"]}}]})])
    assert blockers(store, store.structure(), "voltage") == [
        "the gate of channel ecommerce limits its text length",
        "contract acme-tools names it (fields, assortment rules)"]


def test_a_contract_names_an_attribute_only_in_the_roles_it_uses() -> None:
    plain = contract(fields=[], assortment={"rules": [{"categories": ["tools"]}]})
    assert contract_roles(plain, "brand") == [] and contract_roles(plain, "price") == ["list price"]
    assert contract_roles(contract(pricing={"fallback": "exclude"}), "price") == []
    by_brand = contract(fields=[], assortment={"rules": [{"brands": ["acme"]}], "exclude": [{"attributes": {"color": ["red"]}}]})
    assert contract_roles(by_brand, "brand") == ["brand attribute"] and contract_roles(by_brand, "color") == ["assortment rules"]
    assert contract_roles(plain, "ean") == []
    assert contract_roles(contract(fields=[], format="bmecat"), "ean") == ["bmecat.gtin_attribute"]


def test_every_setting_the_form_offers_is_a_field_of_the_attribute_model() -> None:
    offered = {name for names in SETTINGS.values() for name in names}
    assert offered <= set(Attribute.model_fields) and offered == set(LABELS)


# ---------------------------------------------------------------------------------------------- the list
def test_the_list_shows_every_attribute_with_its_type_group_scope_and_families(admin) -> None:
    web, _ = admin
    html = web.get("/admin/attributes").text
    rows = dict(re.findall(r'<tr data-attribute="(\w+)">(.*?)</tr>', html, re.S))
    assert set(rows) == {"sku", "name", "description", "price", "sale_price", "ean", "mpn", "brand", "color", "size",
                         "weight", "image", "picture"}
    assert "textarea" in rows["description"] and "marketing" in rows["description"]
    assert "per locale, per channel" in rows["description"] and "en_US: Name" in rows["name"]
    assert 'data-families="1">shoes' in rows["weight"]
    assert 'href="/admin/attributes/color/options" class="options">2 options' in rows["color"]
    assert "/options" not in rows["name"]
    # the metric settings offer the measurement catalogue's families and their unit codes
    assert 'list="measure-families"' in html and '<option value="Weight">' in html
    assert '<option value="KILOGRAM" label="Weight">' in html and '<option value="CELSIUS" label="Temperature">' in html


# ---------------------------------------------------------------------------------------------- adding
def test_new_attributes_of_each_type_are_stored_with_their_settings(admin, store: Store) -> None:
    web, token = admin
    text = _add(web, token, code="voltage", type="text", localizable="on", max_characters="20",
                validation_regexp=r"\d+ ?V", **{"label:en_US": "Voltage", "label:de_DE": " Spannung "})
    assert text.status_code == 200 and _message(text.text).startswith("Added voltage (text, group general).")
    assert 'data-attribute="voltage"' in text.text
    _add(web, token, code="watts", type="number", number_min="0", number_max="5000", negative_allowed="on",
         max_characters="9")  # a text setting on a number is left out
    _add(web, token, code="depth", type="metric", group="logistics", metric_family="Length", default_unit="CENTIMETER",
         negative_allowed="on", decimals_allowed="on")
    _add(web, token, code="material", type="multi_select", scopable="on", filterable="on")
    _add(web, token, code="manual", type="file", allowed_extensions=".PDF, txt")
    _add(web, token, code="eco", type="boolean")
    s = store.structure()
    assert s.attributes["voltage"] == Attribute(code="voltage", type="text", group="general", localizable=True,
                                                labels={"en_US": "Voltage", "de_DE": "Spannung"}, max_characters=20,
                                                validation_regexp=r"\d+ ?V", sort_order=1)
    assert s.attributes["watts"] == Attribute(code="watts", type="number", group="general", number_min=0, number_max=5000,
                                              decimals_allowed=False, sort_order=2)
    assert (s.attributes["depth"].metric_family, s.attributes["depth"].default_unit) == ("Length", "CENTIMETER")
    assert s.attributes["material"].scopable and s.attributes["material"].filterable
    assert s.attributes["manual"].allowed_extensions == ["pdf", "txt"] and s.attributes["eco"].type == "boolean"
    assert not any(new in fam.attributes for fam in s.families.values() for new in ("voltage", "watts", "material"))
    assert web.get("/admin/attributes/material/options").status_code == 200  # a new select takes options at once
    page = web.get("/admin/attributes/watts").text
    assert 'data-field="number_max">5000' in page and "none yet" in page


@pytest.mark.parametrize("fields, said", [
    ({"code": "dark color", "type": "text"}, "code: String should match pattern '^[A-Za-z0-9_]+$'"),
    ({"code": "color", "type": "text"}, "'color' is already an attribute (simple_select)"),
    ({"code": "voltage", "type": "text", "group": "nope"}, "group: attribute group 'nope' is not declared"),
    ({"code": "ref", "type": "identifier"}, "type: there is exactly one identifier attribute (sku); choose another type"),
    ({"code": "depth", "type": "metric"}, "a metric attribute needs metric_family"),
    ({"code": "watts", "type": "number", "number_min": "lots"}, "number_min: Input should be a valid number"),
    ({"code": "watts", "type": "number", "number_min": "9", "number_max": "1"}, "number_min: the minimum is above the maximum"),
    ({"code": "voltage", "type": "text", "validation_regexp": "(\\d"}, "validation_regexp: not a regular expression"),
])
def test_a_refused_attribute_says_why_and_keeps_the_input(admin, store: Store, fields: dict[str, str], said: str) -> None:
    web, token = admin
    before = store.structure().attributes
    refused = _add(web, token, **{"label:en_US": "Kept label", **fields})
    assert refused.status_code == 422 and said in _message(refused.text)
    assert f'value="{fields["code"]}"' in refused.text and 'value="Kept label"' in refused.text
    assert f'<option selected>{fields["type"]}</option>' in refused.text or fields["type"] == "identifier"
    assert store.structure().attributes == before


def test_the_form_refuses_in_the_words_of_pim_structure_load(admin, tmp_path: Path) -> None:
    web, token = admin
    for entry, fields in [('{code: "dark color", type: text}', {"code": "dark color", "type": "text"}),
                          ("{code: depth, type: metric}", {"code": "depth", "type": "metric"}),
                          ("{code: depth, type: metric, metric_family: Lenght, default_unit: METER}",
                           {"code": "depth", "type": "metric", "metric_family": "Lenght", "default_unit": "METER"}),
                          ("{code: depth, type: metric, metric_family: Length, default_unit: KILOGRAM}",
                           {"code": "depth", "type": "metric", "metric_family": "Length", "default_unit": "KILOGRAM"})]:
        path = tmp_path / "structure.yaml"
        path.write_text(f"attributes:\n  - {entry}\n", encoding="utf-8")
        with pytest.raises(InputError) as loaded:
            load_structure_files(path)
        reason = loaded.value.problems[0].reason  # type: ignore[attr-defined]
        refused = _add(web, token, **fields)
        assert refused.status_code == 422 and reason in _message(refused.text), reason


# ---------------------------------------------------------------------------------------------- in a family
def test_a_new_attribute_added_on_the_family_page_counts_in_completeness(admin, store: Store) -> None:
    web, token = admin
    _add(web, token, code="voltage", type="text")
    required = ["sku", "name", "description", "price", "image", "voltage"]
    saved = web.post("/admin/families/shoes", data={"csrf_token": token, "add": ["voltage"],
                                                     **{f"req:ecommerce:{a}": "on" for a in required}})
    assert saved.status_code == 200 and "Added: voltage" in saved.text
    missing = {m for r in stored_completeness(store, "complete") if r["channel"] == "ecommerce" for m in r["missing"]}
    assert "voltage" in missing  # the structure listeners rescored the family at once
    refused = web.post("/admin/attributes/voltage/delete", data={"csrf_token": token})
    assert refused.status_code == 409 and "family shoes lists it" in _message(refused.text)


# ---------------------------------------------------------------------------------------------- deleting
def test_an_attribute_in_use_is_kept_and_the_refusal_names_each_blocker(admin, store: Store) -> None:
    web, token = admin
    color = web.post("/admin/attributes/color/delete", data={"csrf_token": token})
    assert color.status_code == 409
    assert _message(color.text) == ("color was not deleted: family shoes lists it (remove it on the family page first); "
                                    "it is a variant axis of shoes_color; 1 product holds a value of it (runner-red).")
    assert "cannot be deleted while" in web.get("/admin/attributes/brand").text  # said before anyone tries
    store.put_structure("attribute", [Attribute(code="voltage", type="text", group="general")])
    store.upsert_models([ProductModel(code="volt_model", family_variant="shoes_color", family="shoes", source=ERP,
                                      values={"voltage": "230 V"})])
    volt = _message(web.post("/admin/attributes/voltage/delete", data={"csrf_token": token}).text)
    assert volt == "voltage was not deleted: 1 product model holds a value of it (volt_model)."
    assert "while 1 product model holds a value of it (volt_model)" in web.get("/admin/attributes/voltage").text
    assert {"color", "brand", "voltage"} <= set(store.structure().attributes)


def test_an_unused_attribute_is_deleted_with_its_options(admin, store: Store) -> None:
    web, token = admin
    _add(web, token, code="material", type="simple_select")
    web.post("/admin/attributes/material/options", data={"csrf_token": token, "new_code": "leather"})
    web.post("/admin/attributes/material/options", data={"csrf_token": token, "new_code": "canvas"})
    page = web.get("/admin/attributes/material").text
    assert 'action="/admin/attributes/material/delete"' in page and "its options go with it" in page
    gone = web.post("/admin/attributes/material/delete", data={"csrf_token": token})
    assert gone.status_code == 200 and _message(gone.text) == "Deleted material and its 2 options."
    s = store.structure()
    assert "material" not in s.attributes and "material" not in s.options
    assert web.get("/admin/attributes/material").status_code == 404
    assert web.post("/admin/attributes/material/delete", data={"csrf_token": token}).status_code == 404


def test_the_page_says_which_built_in_catalogs_map_an_attribute(admin) -> None:
    web, _ = admin
    assert re.search(r'data-field="catalogs">[^<]*google_merchant \(color\)', web.get("/admin/attributes/color").text)
    assert 'data-field="catalogs"' not in web.get("/admin/attributes/sku").text


def test_a_built_in_catalog_requiring_an_attribute_keeps_it(admin, store: Store) -> None:
    """google_merchant requires description on every item: deleting it would block the whole feed. An optional
    field (additional_image_link) publishes without its attribute, so it is said on the page but does not block."""
    web, token = admin
    said = "the built-in google_merchant catalog reads it for channel ecommerce (field description)"
    assert said in " ".join(attribute_blockers(store, "description"))
    refused = web.post("/admin/attributes/description/delete", data={"csrf_token": token})
    assert refused.status_code == 409 and said in _message(refused.text)
    store.put_structure("attribute", [Attribute(code="variation_image", type="image", group="media")])  # nothing else uses it
    page = web.get("/admin/attributes/variation_image").text
    assert re.search(r'data-field="catalogs">[^<]*google_merchant \(additional_image_link\)', page)
    assert "cannot be deleted" not in page
    assert web.post("/admin/attributes/variation_image/delete", data={"csrf_token": token}).status_code == 200
    assert "variation_image" not in store.structure().attributes


def attribute_blockers(store: Store, code: str) -> list[str]:
    from pim.attribute_usage import blockers

    return blockers(store, store.structure(), code, values=False)


def test_a_catalog_field_reads_an_attribute_by_name_list_or_template() -> None:
    catalog = ChannelCatalog(code="shop", renderer="storefront", fields=[
        FieldMap(output="title", template="{{ values.brand ~ ' ' if values.brand }}{{ values['name'] or identifier }}"),
        FieldMap(output="extra", attributes=["picture", "variation_image"]), FieldMap(output="gtin", attribute="ean"),
        FieldMap(output="note", template="{{ values.get('mpn') }} {{ values.brandname }} {{ identifier }}")])
    def outputs(code: str) -> list[str]:
        return [f.output for f in reading_fields(catalog, code)]
    assert outputs("brand") == ["title"] and outputs("name") == ["title"] and outputs("picture") == ["extra"]
    assert outputs("ean") == ["gtin"] and outputs("mpn") == ["note"] and outputs("brandname") == ["note"]
    assert outputs("identifier") == [] and outputs("values") == [] and outputs("bran") == []


def test_a_catalog_blocks_only_where_a_structure_channel_publishes_it(store: Store) -> None:
    seed_products(store)
    s = store.structure()
    assert catalog_channels(s, ChannelCatalog(code="x", renderer="storefront")) == ["ecommerce"]  # no scope: any channel
    assert catalog_channels(s, ChannelCatalog(code="x", renderer="storefront", scope="mobile")) == []
    assert catalog_references(Structure(), "color") == []  # no channel publishes anything


def test_without_the_channels_area_no_catalog_maps_anything(admin, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    web, token = admin
    monkeypatch.setattr("pim.registry.CHANNEL_CATALOG", "channels.not_installed:catalog_for")
    assert channel_catalogs() == []
    store.put_structure("attribute", [Attribute(code="variation_image", type="image", group="media")])
    assert web.post("/admin/attributes/variation_image/delete", data={"csrf_token": token}).status_code == 200


def test_the_attribute_pages_reach_channel_catalogs_only_through_the_registry() -> None:
    adapters = {"channels", "importers", "exporters", "media"}
    for module in ("pim/attribute_usage.py", "pim/attribute_changes.py", "pim/web/attributes.py", "pim/web/attribute_form.py"):
        tree = ast.parse((ROOT / module).read_text(encoding="utf-8"))
        imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module} | \
            {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not {m for m in imported if m.split(".")[0] in adapters}, module


# ---------------------------------------------------------------------------------------------- options
def test_an_option_is_removed_only_when_no_product_holds_it(admin, store: Store) -> None:
    web, token = admin
    held = web.post("/admin/attributes/color/options/red/delete", data={"csrf_token": token})
    assert held.status_code == 409
    assert _message(held.text) == ("red was not removed: 1 product holds it (runner-red). "
                                   "Change their color first, e.g. with mass edit on the product grid.")
    store.upsert_products([Product(identifier="runner-red", family="shoes", parent="runner_model", source=ERP,
                                   values={"sku": "runner-red", "color": "blue", "ean": "96385074"})])
    freed = web.post("/admin/attributes/color/options/red/delete", data={"csrf_token": token})
    assert freed.status_code == 200 and _message(freed.text) == "Removed red."
    assert set(store.structure().options["color"]) == {"blue"} and 'data-option="red"' not in freed.text
    assert web.post("/admin/attributes/color/options/red/delete", data={"csrf_token": token}).status_code == 404
    assert web.post("/admin/attributes/name/options/x/delete", data={"csrf_token": token}).status_code == 404


def test_a_multi_select_option_held_in_a_list_is_kept(admin, store: Store) -> None:
    web, token = admin
    store.put_structure("attribute", [Attribute(code="tags", type="multi_select", group="general")])
    store.put_structure("attribute_option", [AttributeOption(attribute="tags", code=c) for c in ("new", "sale")])
    store.upsert_products([Product(identifier=f"t{i}", family="shoes", source=ERP, values={"sku": f"t{i}", "tags": ["new", "sale"]})
                           for i in range(7)])
    kept = _message(web.post("/admin/attributes/tags/options/sale/delete", data={"csrf_token": token}).text)
    assert kept.startswith("sale was not removed: 7 products hold it (t0, t1, t2, t3, t4, …).")


# ---------------------------------------------------------------------------------------------- access
def test_only_admins_reach_the_attribute_pages(admin, store: Store) -> None:
    add_user(store, "ed", "correct horse", "editor")
    editor = TestClient(create_app(store))
    token = login(editor)
    assert editor.get("/admin/attributes").status_code == 403
    assert editor.get("/admin/attributes/mpn").status_code == 403
    assert _add(editor, token, code="voltage", type="text").status_code == 403
    assert editor.post("/admin/attributes/mpn", data={"csrf_token": token, "label:en_US": "X"}).status_code == 403
    assert editor.post("/admin/attributes/mpn/delete", data={"csrf_token": token}).status_code == 403
    assert editor.post("/admin/attributes/color/options/blue/delete", data={"csrf_token": token}).status_code == 403
    assert 'href="/admin/attributes"' not in editor.get("/products").text
    s = store.structure()
    assert "voltage" not in s.attributes and "blue" in s.options["color"] and not s.attributes["mpn"].labels
    web, _ = admin
    assert 'href="/admin/attributes">Attributes</a>' in web.get("/products").text


def test_attribute_forms_need_the_csrf_token(admin, store: Store) -> None:
    web, _ = admin
    before = store.structure()
    assert web.post("/admin/attributes", data={"code": "voltage", "type": "text", "group": "general"}).status_code == 403
    assert web.post("/admin/attributes/mpn", data={"label:en_US": "X"}).status_code == 403
    assert web.post("/admin/attributes/picture/delete", data={"csrf_token": "forged"}).status_code == 403
    assert web.post("/admin/attributes/color/options/blue/delete", data={}).status_code == 403
    after = store.structure()
    assert after.attributes == before.attributes and after.options == before.options


def test_relabelling_changes_only_the_locales_on_the_page(admin, store: Store) -> None:
    web, token = admin
    store.put_structure("attribute", [Attribute(code="mpn", type="text", group="general",
                                                labels={"en_US": "MPN", "fr_FR": "Référence"})])
    saved = web.post("/admin/attributes/mpn", data={"csrf_token": token, "label:en_US": "Part number", "label:de_DE": " Teilenummer "})
    assert saved.status_code == 200 and _message(saved.text) == "Labels saved."
    assert store.structure().attributes["mpn"].labels == {"en_US": "Part number", "de_DE": "Teilenummer", "fr_FR": "Référence"}
    assert _message(web.post("/admin/attributes/mpn", data={"csrf_token": token, "label:en_US": "Part number"}).text) == "Nothing changed."


@pytest.mark.chromium
def test_an_admin_adds_an_attribute_and_opens_its_page(store: Store, live_app, browser_page, artifacts_dir: Path,
                                                       backend: str) -> None:
    seed_products(store)
    page = browser_page
    admin_on(page, store, live_app, "Attributes", "/admin/attributes")
    form = page.locator("form.add-attribute")
    form.locator('input[name="code"]').fill("depth")
    form.locator('select[name="type"]').select_option("metric")
    form.locator('select[name="group"]').select_option("logistics")
    form.locator('input[name="label:en_US"]').fill("Depth")
    form.locator("button").click()
    expect(page.locator("p.error")).to_contain_text("a metric attribute needs metric_family")
    expect(form.locator('input[name="label:en_US"]')).to_have_value("Depth")  # kept for correcting
    form.locator('input[name="metric_family"]').fill("Length")
    form.locator('input[name="default_unit"]').fill("CENTIMETER")
    form.locator("button").click()
    expect(page.locator("p.notice")).to_contain_text("Added depth (metric, group logistics).")
    page.click('tr[data-attribute="depth"] a')
    expect(page.locator('dd[data-field="metric_family"]')).to_have_text("Length")
    expect(page.locator("form.delete-attribute button")).to_have_text("Delete depth")
    page.screenshot(path=str(artifacts_dir / f"web-attributes-{backend}.png"), full_page=True)
    assert store.structure().attributes["depth"].default_unit == "CENTIMETER"
