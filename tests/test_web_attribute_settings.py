"""Changing an existing attribute's group, settings and type on its admin page: each setting saves and the next
value entered is checked against it; a narrower setting is refused while a product or product model holds a
value it would refuse (count and examples); only compatible type changes whose stored values stay as stored;
how values are keyed (localizable, scopable) and the identifier never change here; a change that rescores a
large family leaves it to a recorded job; admins only, with the CSRF token. Runs on both store backends."""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient

from pim import attribute_changes, rescore_jobs
from pim.attribute_usage import held_values
from pim.product import Product, ProductModel
from pim.store import Store
from pim.structure import Attribute
from pim.web.accounts import add_user
from pim.web.app import create_app
from pim.web.attribute_form import settings_form
from tests.channel_data import ERP
from tests.test_web_ui import cheap_argon2, login  # noqa: F401  (cheap_argon2: autouse fixture)


def _message(html: str) -> str:
    found = re.search(r'<p class="(?:error|notice)"[^>]*>([^<]*)</p>', html)
    return found.group(1).replace("&#39;", "'").replace("&amp;", "&").replace("&#34;", '"').replace("&quot;", '"') \
        if found else ""


def _save(web: TestClient, token: str, store: Store, code: str, **changes: str | None):  # noqa: ANN202
    """Post the attribute's whole settings form as the page fills it, with `changes` (None: left empty/unticked)."""
    form = settings_form(store.structure().attributes[code]) | changes
    return web.post(f"/admin/attributes/{code}/settings",
                    data={"csrf_token": token, **{k: v for k, v in form.items() if v is not None}})


def _edit(web: TestClient, token: str, key: str, value: str, **extra: str):  # noqa: ANN202
    """An inline edit of product `complete` on the product page: 303 when saved, the page with the message if not."""
    return web.post("/products/complete/values", follow_redirects=False,
                    data={"csrf_token": token, "key": key, "value": value, "channel": "ecommerce", "locale": "en_US",
                          **extra})


def _join_shoes(store: Store, *attributes: Attribute) -> None:
    store.put_structure("attribute", list(attributes))
    shoes = store.structure().families["shoes"]
    store.put_structure("family", [shoes.model_copy(update={"attributes": [*shoes.attributes, *(a.code for a in attributes)]})])


# ---------------------------------------------------------------------------------------------- each setting
@pytest.mark.parametrize("code, changes, refused, accepted, said", [
    ("mpn", {"max_characters": "6"}, "RN-12345", "RN-123", "8 characters, at most 6 allowed"),
    ("mpn", {"validation_regexp": r"RN-\d+"}, "XX-1", "RN-77", r"does not match RN-\d+"),
    ("watts", {"number_min": "10"}, "5", "10", "5 is below the minimum 10"),
    ("watts", {"number_max": "100"}, "500", "100", "500 is above the maximum 100"),
    ("watts", {"decimals_allowed": None}, "1.5", "2", "1.5 has decimals"),
    ("watts", {"negative_allowed": None}, "-1", "0", "-1 is negative"),
    ("weight", {"negative_allowed": None}, "-1", "900", "-1 is negative"),
    ("depth", {"metric_family": "Weight", "default_unit": "GRAM"}, "3 METER", "3 KILOGRAM", "METER"),
])
def test_each_setting_saves_and_checks_the_next_value(admin, store: Store, code: str, changes: dict[str, Any],
                                                     refused: str, accepted: str, said: str) -> None:
    web, token = admin
    _join_shoes(store, Attribute(code="watts", type="number", group="general"),
                Attribute(code="depth", type="metric", group="logistics", metric_family="Length", default_unit="METER"))
    saved = _save(web, token, store, code, **changes)
    assert saved.status_code == 200 and _message(saved.text).startswith("Saved: "), _message(saved.text)
    def value(text: str) -> dict[str, str]:
        amount, _, unit = text.partition(" ")
        return {"value": amount, "unit": unit} if code in ("weight", "depth") else {"value": text}
    no = _edit(web, token, code, **value(refused))
    assert no.status_code == 422 and said in no.text.replace("&#39;", "'")  # refused: 422 (round 35), was 200
    assert _edit(web, token, code, **value(accepted)).status_code == 303


def test_filterable_and_searchable_change_what_the_next_search_push_indexes(admin, store: Store) -> None:
    from channels.search_documents import DocumentBuilder
    from channels.search_settings import shape_fingerprint

    web, token = admin
    def indexed() -> tuple[list[str], list[str], str]:
        b = DocumentBuilder(store.structure(), "ecommerce")
        return [a.code for a in b.facet_attrs], [a.code for a in b.text_attrs], shape_fingerprint(b)

    facets, texts, shape = indexed()
    assert "mpn" not in facets and "mpn" not in texts
    page = web.get("/admin/attributes/mpn").text
    assert 'name="index_flags"' in page and 'name="filterable"' in page and 'name="searchable"' in page
    saved = _save(web, token, store, "mpn", index_flags="shown", filterable="on", searchable="on")
    assert _message(saved.text).startswith("Saved: filterable False → True; searchable False → True."), _message(saved.text)
    assert "next search push" in _message(saved.text)
    mpn = store.structure().attributes["mpn"]
    assert (mpn.filterable, mpn.searchable) == (True, True)
    facets2, texts2, shape2 = indexed()
    assert "mpn" in facets2 and "mpn" in texts2 and shape2 != shape
    # the page shows them ticked; a post of the form as shown, both unticked, turns them off again
    assert re.search(r'<input type="checkbox" name="filterable" checked>', web.get("/admin/attributes/mpn").text)
    off = _save(web, token, store, "mpn", index_flags="shown", filterable=None, searchable=None)
    assert _message(off.text).startswith("Saved: filterable True → False; searchable True → False."), _message(off.text)
    assert indexed() == (facets, texts, shape)


def test_a_settings_post_without_the_index_flags_leaves_them(admin, store: Store) -> None:
    web, token = admin
    _save(web, token, store, "mpn", index_flags="shown", filterable="on")
    kept = _save(web, token, store, "mpn", max_characters="40", filterable=None)  # an older form: no index_flags
    assert _message(kept.text) == "Saved: max_characters none → 40.", _message(kept.text)
    assert store.structure().attributes["mpn"].filterable is True


def test_a_new_default_unit_is_what_an_amount_without_unit_gets(admin, store: Store) -> None:
    web, token = admin
    assert _message(_save(web, token, store, "weight", default_unit="KILOGRAM").text) == \
        "Saved: default_unit GRAM → KILOGRAM."
    assert _edit(web, token, "weight", "2", unit="").status_code == 303
    assert store.get_product("complete").values["weight"] == {"amount": "2", "unit": "KILOGRAM"}


def test_group_and_extensions_save_and_the_page_shows_them(admin, store: Store) -> None:
    web, token = admin
    saved = _save(web, token, store, "picture", group="marketing", allowed_extensions="JPG, .png")
    assert _message(saved.text) == "Saved: group media → marketing; allowed_extensions none → jpg, png."
    picture = store.structure().attributes["picture"]
    assert (picture.group, picture.allowed_extensions) == ("marketing", ["jpg", "png"])
    assert 'data-field="group">marketing' in saved.text and 'value="jpg, png"' in saved.text
    assert picture.sort_order > store.structure().attributes["description"].sort_order  # last of its new group
    assert _message(_save(web, token, store, "picture").text) == "Nothing changed."


def test_settings_the_type_lacks_stay_and_a_type_change_clears_the_old_types_own(admin, store: Store) -> None:
    web, token = admin
    mpn = store.structure().attributes["mpn"]
    store.put_structure("attribute", [mpn.model_copy(update={"validation_regexp": r"RN-\d+", "decimals_allowed": False})])
    assert _message(_save(web, token, store, "mpn", group="marketing").text) == "Saved: group general → marketing."
    assert _message(_save(web, token, store, "mpn", type="textarea").text) == \
        "Saved: type text → textarea; validation_regexp RN-\\d+ → none."  # the pattern is not a textarea setting
    assert store.structure().attributes["mpn"].decimals_allowed is False  # not a setting of either type: untouched


def test_an_undeclared_group_is_refused_and_the_input_kept(admin, store: Store) -> None:
    web, token = admin
    refused = _save(web, token, store, "mpn", group="nope", max_characters="12")
    assert refused.status_code == 422 and "group: attribute group 'nope' is not declared" in _message(refused.text)
    assert 'name="max_characters" value="12"' in refused.text
    assert store.structure().attributes["mpn"].max_characters is None


# ---------------------------------------------------------------------------------------------- stored values
def test_a_lower_max_length_is_refused_while_products_hold_longer_values(admin, store: Store) -> None:
    web, token = admin
    refused = _save(web, token, store, "name", max_characters="50")
    assert refused.status_code == 409
    said = _message(refused.text)
    assert said.startswith("Nothing was saved: max_characters none → 50 would refuse values already stored: "
                           '1 product holds a value it would refuse (long-title: name:de_DE = "word word word')
    assert "203 characters, at most 50 allowed" in said and "product model" not in said
    assert 'name="max_characters" value="50"' in refused.text  # kept for correcting
    assert store.structure().attributes["name"].max_characters is None
    assert _save(web, token, store, "name", max_characters="203").status_code == 200  # every stored value fits


def test_a_new_pattern_is_refused_with_products_and_product_models_counted(admin, store: Store) -> None:
    web, token = admin
    said = _message(_save(web, token, store, "mpn", validation_regexp=r"\d+").text)
    assert ('4 products hold a value it would refuse (bad-gtin: mpn = "RN-1", does not match \\d+; '
            'complete: mpn = "RN-1", does not match \\d+;') in said
    assert '1 product model holds a value it would refuse (runner_model: mpn = "RN-1", does not match \\d+)' in said
    assert store.structure().attributes["mpn"].validation_regexp is None


def test_the_refusal_shows_a_few_examples_of_many(admin, store: Store) -> None:
    web, token = admin
    _join_shoes(store, Attribute(code="watts", type="number", group="general"))
    store.upsert_products([Product(identifier=f"w{i}", family="shoes", source=ERP, values={"sku": f"w{i}", "watts": 1.5 + i})
                           for i in range(7)])
    store.upsert_models([ProductModel(code="w_model", family_variant="shoes_color", family="shoes", source=ERP,
                                      values={"watts": -2})])
    said = _message(_save(web, token, store, "watts", decimals_allowed=None, negative_allowed=None).text)
    assert "7 products hold a value it would refuse (w0: watts = 1.5, 1.5 has decimals" in said
    assert "w4: watts = 5.5, 5.5 has decimals, which this attribute does not allow; …)" in said and "w5" not in said
    assert "1 product model holds a value it would refuse (w_model: watts = -2, -2 is negative" in said


def test_only_values_the_change_makes_invalid_count(admin, store: Store) -> None:
    web, token = admin
    store.put_structure("attribute", [store.structure().attributes["mpn"].model_copy(update={"max_characters": 20})])
    store.upsert_products([Product(identifier="legacy", family="shoes", source=ERP, values={"sku": "legacy", "mpn": "x" * 30})])
    saved = _save(web, token, store, "mpn", max_characters="10")  # "legacy" broke the old limit already
    assert saved.status_code == 200 and _message(saved.text) == "Saved: max_characters 20 → 10."


def test_a_loosened_setting_saves_without_reading_values(admin, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    web, token = admin
    _save(web, token, store, "mpn", max_characters="8")
    monkeypatch.setattr(attribute_changes, "stored_problems", lambda *a: pytest.fail("values were read"))
    assert _message(_save(web, token, store, "mpn", max_characters="30").text) == "Saved: max_characters 8 → 30."
    assert _message(_save(web, token, store, "mpn", max_characters=None).text) == "Saved: max_characters 30 → none."
    assert store.structure().attributes["mpn"].max_characters is None


def test_fewer_extensions_are_refused_for_stored_paths_not_for_asset_references(admin, store: Store) -> None:
    web, token = admin
    store.upsert_products([Product(identifier="gif", family="shoes", source=ERP,
                                   values={"sku": "gif", "picture": "media/p.GIF?v=2"})])
    said = _message(_save(web, token, store, "picture", allowed_extensions="jpg, png").text)
    assert said.endswith('1 product holds a value it would refuse (gif: picture = "media/p.GIF?v=2", '
                         "extension .gif is not one of jpg, png). Change those values first (mass edit on the "
                         "product grid), or choose a looser setting.")
    assert _save(web, token, store, "image", allowed_extensions="jpg").status_code == 200  # sha256:… refs say nothing


def test_a_measurement_family_change_is_refused_for_stored_units_and_catalog_conversions(admin, store: Store) -> None:
    web, token = admin
    _join_shoes(store, Attribute(code="depth", type="metric", group="logistics", metric_family="Length", default_unit="METER"))
    store.upsert_models([ProductModel(code="deep_model", family_variant="shoes_color", family="shoes", source=ERP,
                                      values={"depth": {"amount": "2", "unit": "CENTIMETER"}})])
    depth = _message(_save(web, token, store, "depth", metric_family="Weight", default_unit="GRAM").text)
    assert "1 product model holds a value it would refuse (deep_model: depth = " in depth and "CENTIMETER" in depth
    weight = _save(web, token, store, "weight", metric_family="Length", default_unit="METER")
    assert weight.status_code == 409
    assert "the built-in storefront catalog converts it to KILOGRAM (field weight_kg), not a unit of Length" in \
        _message(weight.text)
    assert store.structure().attributes["weight"].metric_family == "Weight"


# ---------------------------------------------------------------------------------------------- types
def test_text_and_textarea_change_into_each_other(admin, store: Store) -> None:
    web, token = admin
    assert '<option>textarea</option>' in web.get("/admin/attributes/mpn").text
    saved = _save(web, token, store, "mpn", type="textarea")
    assert _message(saved.text) == "Saved: type text → textarea."
    assert store.structure().attributes["mpn"].type == "textarea"
    back = _save(web, token, store, "description", type="text", validation_regexp=r"[A-Z][^\n]*")
    assert back.status_code == 200 and store.structure().attributes["description"].type == "text"


def test_textarea_to_text_is_refused_when_a_stored_value_breaks_the_new_settings(admin, store: Store) -> None:
    web, token = admin
    refused = _save(web, token, store, "description", type="text", max_characters="12")
    said = _message(refused.text)
    assert refused.status_code == 409 and said.startswith("Nothing was saved: type textarea → text; max_characters none → 12")
    assert "(bad-gtin: description:de_DE@ecommerce = " in said and "17 characters, at most 12 allowed" in said
    assert '1 product model holds a value it would refuse (runner_model: ' in said
    assert store.structure().attributes["description"].type == "textarea"


def test_a_simple_select_becomes_multi_only_while_no_value_needs_rewriting(admin, store: Store) -> None:
    web, token = admin
    assert _save(web, token, store, "size", type="multi_select").status_code == 200  # nobody holds a size
    assert store.structure().attributes["size"].type == "multi_select"
    said = _message(_save(web, token, store, "brand", type="multi_select").text)
    assert ('4 products hold a value it would refuse (bad-gtin: brand = "acme", a multi_select value would be '
            'stored as ["acme"]: it would need rewriting;') in said and "1 product model holds" in said
    assert store.structure().attributes["brand"].type == "simple_select"


@pytest.mark.parametrize("code, kind, said", [
    ("mpn", "number", ("type text cannot become number here: stored values would need rewriting (text can become "
                       "textarea); use `pim structure load`")),
    ("weight", "number", ("type metric cannot become number here: stored values would need rewriting (metric can "
                          "become no other type)")),
    ("size", "boolean", "type simple_select cannot become boolean here"),
    ("color", "multi_select", "type stays simple_select: color is a variant axis of shoes_color"),
])
def test_an_incompatible_type_change_is_refused(admin, store: Store, code: str, kind: str, said: str) -> None:
    web, token = admin
    before = store.structure().attributes[code]
    refused = _save(web, token, store, code, type=kind)
    assert refused.status_code == 422 and said in _message(refused.text)
    assert store.structure().attributes[code] == before


def test_a_type_change_of_a_large_family_rescores_in_a_recorded_job(admin, store: Store,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    web, token = admin
    monkeypatch.setattr("pim.rescore_jobs.IN_REQUEST", 1)  # the threshold every structure page reads
    saved = _message(_save(web, token, store, "description", type="text").text)
    [job] = rescore_jobs.family_jobs(store, "shoes", 5)
    assert saved == (f"Saved: type textarea → text. The products of shoes are being rescored (job {job['id']}); "
                     "the family page shows when that is done.")
    assert job["kind"] == "rescore" and job["counts"]["channels"] == ["ecommerce"]  # description is required there
    with store.engine.connect() as conn:
        assert rescore_jobs.unsettled(conn) == {"shoes": {"ecommerce"}}  # the gate scores shoes itself meanwhile
    assert rescore_jobs.run(store, job["id"])["rescored"] == 5
    with store.engine.connect() as conn:
        assert rescore_jobs.unsettled(conn) == {}


def test_a_small_family_is_rescored_in_the_request(admin, store: Store) -> None:
    web, token = admin
    assert _message(_save(web, token, store, "description", type="text").text) == "Saved: type textarea → text."
    assert rescore_jobs.family_jobs(store, "shoes", 5) == []


# ---------------------------------------------------------------------------------------------- fixed
@pytest.mark.parametrize("flag", ["localizable", "scopable"])
def test_how_values_are_keyed_cannot_change(admin, store: Store, flag: str) -> None:
    web, token = admin
    refused = _save(web, token, store, "mpn", **{flag: "on"})
    assert refused.status_code == 422
    assert _message(refused.text) == (f"Nothing was saved: {flag} stays False: it decides how values are keyed "
                                      f"({'name:en_US' if flag == 'localizable' else 'description@ecommerce'}): every "
                                      "stored value's key would change; use `pim structure load`.")
    assert not getattr(store.structure().attributes["mpn"], flag)
    assert _save(web, token, store, "description", localizable="on", scopable="on").status_code == 200  # unchanged


def test_the_page_says_what_stays_and_why(admin) -> None:
    web, _ = admin
    page = web.get("/admin/attributes/description").text
    assert 'action="/admin/attributes/description/settings"' in page
    assert 'name="localizable"' not in page.split('class="attribute-settings"')[1].split("</form>")[0]
    assert "Values are kept per locale, per channel" in page and "every stored value's key would change" in page
    sku = web.get("/admin/attributes/sku").text
    assert "sku is the identifier: its value is every product's key" in sku and "/sku/settings" not in sku


def test_the_identifier_and_uniqueness_stay(admin, store: Store) -> None:
    web, token = admin
    refused = web.post("/admin/attributes/sku/settings", data={"csrf_token": token, "group": "general", "type": "identifier",
                                                               "max_characters": "5"})
    assert refused.status_code == 422 and "sku is the identifier" in _message(refused.text)
    unique = web.post("/admin/attributes/mpn/settings", data={"csrf_token": token, "group": "general", "type": "text",
                                                              "unique": "on"})
    assert unique.status_code == 422 and _message(unique.text).startswith(
        "Nothing was saved: unique stays False: the duplicate check keeps its own copy of unique values")
    assert store.structure().attributes["sku"].max_characters is None and not store.structure().attributes["mpn"].unique


# ---------------------------------------------------------------------------------------------- access
def test_only_admins_change_settings(admin, store: Store) -> None:
    add_user(store, "ed", "correct horse", "editor")
    editor = TestClient(create_app(store))
    token = login(editor)
    assert editor.post("/admin/attributes/mpn/settings",
                       data={"csrf_token": token, "group": "general", "type": "textarea"}).status_code == 403
    assert store.structure().attributes["mpn"].type == "text"


def test_the_settings_form_needs_the_csrf_token(admin, store: Store) -> None:
    web, _ = admin
    assert web.post("/admin/attributes/mpn/settings", data={"group": "general", "type": "textarea"}).status_code == 403
    assert web.post("/admin/attributes/mpn/settings",
                    data={"csrf_token": "forged", "group": "general", "type": "textarea"}).status_code == 403
    assert store.structure().attributes["mpn"].type == "text"
    assert web.post("/admin/attributes/nope/settings", data={"csrf_token": admin[1]}).status_code == 404


# ---------------------------------------------------------------------------------------------- the pieces
def test_held_values_come_back_as_stored_on_both_backends(store: Store) -> None:
    store.put_structure("attribute", [Attribute(code="sku", type="identifier")])
    stored = {"x": "text", "x:en_US": 1.5, "x@web": 7, "x:de_DE@web": True, "x:fr_FR": ["a", "b"],
              "x:it_IT": {"amount": "2", "unit": "METER"}, "x:es_ES": False, "xy": "other", "z": None}
    store.upsert_products([Product(identifier="p", source=ERP, values={"sku": "p", **stored})])
    with store.engine.connect() as conn:
        held = {key: value for _, key, value in held_values(conn, "product", "x")}
    assert held == {k: v for k, v in stored.items() if k not in ("xy", "z")}
    assert all(type(held[k]) is type(stored[k]) for k in held)


@pytest.mark.parametrize("before, after, narrower", [
    ({"max_characters": 10}, {"max_characters": 5}, ["max_characters"]),
    ({"max_characters": 10}, {"max_characters": 20}, []),
    ({}, {"max_characters": 20}, ["max_characters"]),
    ({"max_characters": 10}, {}, []),
    ({"number_min": 1}, {"number_min": 2}, ["number_min"]),
    ({"number_min": 1}, {"number_min": 0}, []),
    ({"number_max": 5}, {"number_max": 4}, ["number_max"]),
    ({}, {"decimals_allowed": False, "negative_allowed": False}, ["decimals_allowed", "negative_allowed"]),
    ({"decimals_allowed": False}, {}, []),
    ({"validation_regexp": "a"}, {"validation_regexp": "b"}, ["validation_regexp"]),
    ({"validation_regexp": "a"}, {}, []),
    ({"allowed_extensions": ["jpg"]}, {"allowed_extensions": ["jpg", "png"]}, []),
    ({"allowed_extensions": ["jpg", "png"]}, {"allowed_extensions": ["jpg"]}, ["allowed_extensions"]),
    ({}, {"allowed_extensions": ["jpg"]}, ["allowed_extensions"]),
    ({}, {"group": "marketing"}, []),
])
def test_which_changes_narrow_what_is_valid(before: dict[str, Any], after: dict[str, Any], narrower: list[str]) -> None:
    old = Attribute(code="a", type="text", **before)
    assert attribute_changes.tightened(old, Attribute(code="a", type="text", **after)) == narrower
