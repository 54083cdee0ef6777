"""The admins' channel pages: every channel with its locales, currencies, tree and the families requiring
something on it; adding a channel (checked like a structure file's entry); changing its labels, locales,
currencies, tree and gate rules, with a large rescore left to queued jobs; keeping a locale or currency a
contract, search target or built-in catalog relies on; deleting only an unused channel; admins only, CSRF."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from channels.framework import ChannelCatalog
from channels.search import save_state
from pim import attribute_usage, job_queue, rescore_jobs
from pim.completeness import stored_completeness
from pim.contracts import put_contracts
from pim.gate import evaluate
from pim.product import Product
from pim.store import Store
from pim.structure import Category, Channel, GateRules, Locale
from pim.web.accounts import add_user
from pim.web.app import create_app
from tests.channel_data import ERP, complete_values
from tests.feeds_data import contract
from tests.test_web_ui import cheap_argon2, login  # noqa: F401  (cheap_argon2: autouse fixture)

SCOPE = {"locale": ["en_US", "de_DE"], "currency": ["EUR", "USD"], "category_tree": "master"}


def _message(html: str) -> str:
    found = re.search(r'<p class="(?:error|notice)"[^>]*>([^<]*)</p>', html)
    return found.group(1).replace("&#39;", "'").replace("&amp;", "&") if found else ""


def _scope(web: TestClient, token: str, code: str = "ecommerce", **over: object):
    return web.post(f"/admin/channels/{code}/scope", data={"csrf_token": token, **SCOPE, **over})


def _add(web: TestClient, token: str, **over: object):
    body = {"csrf_token": token, "code": "retail", "locale": ["en_US"], "currency": ["EUR"], "category_tree": "master"}
    return web.post("/admin/channels", data={**body, **over})


def _blocked(store: Store, channel: str = "ecommerce") -> dict[str, list[str]]:
    products = list(store.iter_products())
    return {p.identifier: r for p, r in evaluate(store, store.structure(), channel, products) if r}


def _locales(store: Store, identifier: str, channel: str = "ecommerce") -> dict[str, int]:
    return {r["locale"]: r["ratio"] for r in stored_completeness(store, identifier) if r["channel"] == channel}


def test_the_list_shows_each_channel_with_its_scope_and_the_families_requiring_on_it(admin, store: Store) -> None:
    web, _ = admin
    store.put_structure("channel", [Channel(code="b2b", locales=["de_DE"], currencies=["EUR"], category_tree="master",
                                            labels={"en_US": "Trade"})])
    html = web.get("/admin/channels").text
    rows = dict(re.findall(r'<tr data-channel="(\w+)">(.*?)</tr>', html, re.S))
    assert list(rows) == ["b2b", "ecommerce"]
    assert 'data-field="locales">en_US, de_DE<' in rows["ecommerce"] and 'data-field="currencies">EUR, USD<' in rows["ecommerce"]
    assert 'data-families="1">1 (shoes)' in rows["ecommerce"] and 'data-families="0">0' in rows["b2b"]
    assert 'href="/admin/categories/master">master' in rows["b2b"] and "en_US: Trade" in rows["b2b"]
    assert 'href="/admin/channels"' in html  # the admin nav links it


def test_an_added_channel_is_stored_and_requires_only_the_identifier_until_a_family_says_more(admin, store: Store) -> None:
    web, token = admin
    added = _add(web, token, **{"label:en_US": " Retail ", "currency": ["USD", "EUR"]})
    assert added.status_code == 200
    assert _message(added.text) == ("Added retail (en_US; EUR, USD; tree master). No family has requirements on it "
                                    "yet: set them on each family's page (until then only the identifier is required there).")
    s = store.structure()
    assert s.channels["retail"] == Channel(code="retail", labels={"en_US": "Retail"}, locales=["en_US"],
                                           currencies=["EUR", "USD"], category_tree="master")
    assert "retail" not in s.families["shoes"].requirements and store.jobs(kind="rescore") == []
    assert _locales(store, "no-description", "retail") == {"en_US": 100}  # ecommerce still misses its description
    assert "no-description" not in _blocked(store, "retail") and "no-description" in _blocked(store)
    assert '<tr data-channel="retail">' in added.text


def test_a_new_channel_is_refused_as_the_structure_loader_would_and_for_what_it_leaves_unchecked(admin, store: Store) -> None:
    web, token = admin
    store.put_structure("locale", [Locale(code="fr_FR", enabled=False)])
    store.put_structure("category", [Category(code="outlet")])
    before = store.structure().channels
    refusals = {
        "'ecommerce' is already a channel": {"code": "ecommerce"},
        "locales: locales not declared: ['it_IT']": {"locale": ["it_IT"]},
        "locales: locales not enabled: ['fr_FR']": {"locale": ["fr_FR"]},
        "locales: List should have at least 1 item after validation, not 0": {"locale": []},
        "currencies: currencies not declared: ['GBP']": {"currency": ["GBP"]},
        "category_tree: category tree 'nope' is not declared": {"category_tree": "nope"},
        "category_tree: 'shoes' is under master; a channel's tree is the root of a tree (master, outlet)": {"category_tree": "shoes"},
        "code: String should match pattern '^[A-Za-z0-9_]+$'": {"code": "dark channel"},
    }
    for said, over in refusals.items():
        refused = _add(web, token, **over)
        assert refused.status_code == 422 and _message(refused.text) == said, over
    kept = _add(web, token, code="dark channel", **{"label:en_US": "Dark"})
    assert 'value="dark channel"' in kept.text and 'value="Dark"' in kept.text  # what was typed stays
    assert re.search(r'name="locale" value="en_US" checked', kept.text)
    assert store.structure().channels == before


def test_labels_change_only_the_locales_on_the_page(admin, store: Store) -> None:
    web, token = admin
    store.put_structure("channel", [store.structure().channels["ecommerce"].model_copy(
        update={"labels": {"en_US": "Shop", "fr_FR": "Boutique"}})])
    saved = web.post("/admin/channels/ecommerce", data={"csrf_token": token, "label:en_US": "Web shop", "label:de_DE": "Webshop"})
    assert saved.status_code == 200 and _message(saved.text) == "Labels saved."
    assert store.structure().channels["ecommerce"].labels == {"en_US": "Web shop", "de_DE": "Webshop", "fr_FR": "Boutique"}
    same = web.post("/admin/channels/ecommerce", data={"csrf_token": token, "label:en_US": "Web shop", "label:de_DE": "Webshop"})
    assert _message(same.text) == "Nothing changed."
    assert web.post("/admin/channels/nope", data={"csrf_token": token, "label:en_US": "x"}).status_code == 404


def test_locales_and_currencies_change_and_completeness_follows_in_the_request(admin, store: Store) -> None:
    web, token = admin
    store.put_structure("locale", [Locale(code="fr_FR")])
    assert _locales(store, "complete") == {"en_US": 100, "de_DE": 100}
    saved = _scope(web, token, locale=["de_DE", "fr_FR", "en_US"], currency=["EUR"])
    assert saved.status_code == 200
    assert _message(saved.text) == ("Saved: locales en_US, de_DE → en_US, de_DE, fr_FR; currencies EUR, USD → EUR. "
                                    "Products of shoes were rescored on ecommerce.")
    ch = store.structure().channels["ecommerce"]
    assert ch.locales == ["en_US", "de_DE", "fr_FR"] and ch.currencies == ["EUR"]  # kept in order, new ones after
    assert _locales(store, "complete") == {"en_US": 100, "de_DE": 100, "fr_FR": 60}  # no French name or description
    assert store.jobs(kind="rescore") == []
    assert _message(_scope(web, token, locale=["en_US", "de_DE", "fr_FR"], currency=["EUR"]).text) == "Nothing changed."


def test_a_locale_change_rescores_a_variant_that_takes_its_family_from_its_model(admin, store: Store) -> None:
    web, token = admin
    store.put_structure("locale", [Locale(code="fr_FR")])
    store.upsert_products([Product(identifier="runner-blue", parent="runner_model", source=ERP,
                                   values={"sku": "runner-blue", "color": "blue"})])
    assert _locales(store, "runner-blue") == {"en_US": 100, "de_DE": 100}  # scored as a shoe, through its model
    _scope(web, token, locale=["en_US", "de_DE", "fr_FR"])
    assert _locales(store, "runner-blue") == {"en_US": 100, "de_DE": 100, "fr_FR": 60}


def test_a_new_category_tree_says_which_products_leave_and_join_it(admin, store: Store) -> None:
    web, token = admin
    store.put_structure("category", [Category(code="outlet")])
    store.upsert_products([Product(identifier="outlet-1", family="shoes", categories=["outlet"], source=ERP,
                                   values=complete_values(sku="outlet-1"))])
    page = web.get("/admin/channels/ecommerce").text
    assert ">master (5 products)<" in page and ">outlet (1 product)<" in page
    moved = _scope(web, token, category_tree="outlet")
    assert moved.status_code == 200
    assert _message(moved.text) == ("Saved: category tree master → outlet. ecommerce now shows the outlet tree instead "
                                    "of master: 5 products leave its tree and 1 product joins it (their categories on "
                                    "this channel's catalogs and search documents); incremental exports and "
                                    "contract deltas send them again.")
    assert store.structure().channels["ecommerce"].category_tree == "outlet"
    refused = _scope(web, token, category_tree="sneakers")
    assert refused.status_code == 422 and "'sneakers' is under shoes; a channel's tree is the root of a tree" in _message(refused.text)


def test_gate_rules_are_saved_and_the_gate_applies_them(admin, store: Store) -> None:
    web, token = admin
    assert not any(r.startswith("invalid:name") for r in _blocked(store).get("long-title", []))
    saved = web.post("/admin/channels/ecommerce/gate", data={
        "csrf_token": token, "min_completeness": "80", "block_on": ["duplicate_gtin", "valid"],
        "max_price_age_days": "30", "max_stock_age_days": "", "text_limits": "name: 60\n\ndescription=500"})
    assert saved.status_code == 200
    assert _message(saved.text).startswith("Saved: min completeness 100 → 80; block on none → duplicate_gtin, valid; "
                                           "max price age days none → 30; text limits none → description 500, name 60. "
                                           "Nothing is rescored")
    assert store.structure().channels["ecommerce"].gate == GateRules(
        min_completeness=80, block_on=["duplicate_gtin", "valid"], max_price_age_days=30,
        text_limits={"name": 60, "description": 500})
    assert any(r.startswith("invalid:name") for r in _blocked(store)["long-title"])  # 200 characters > 60
    assert "name: 60" in web.get("/admin/channels/ecommerce").text


def test_gate_rules_that_make_no_sense_are_refused(admin, store: Store) -> None:
    web, token = admin
    before = store.structure().channels["ecommerce"]
    gate = {"csrf_token": token, "min_completeness": "100"}
    refusals = {
        "min_completeness: Input should be less than or equal to 100": {"min_completeness": "150"},
        "text_limits: attributes not declared: ['nope']": {"text_limits": "nope: 10"},
        "text_limits: 'name sixty' is not 'attribute: max characters'": {"text_limits": "name sixty"},
        "text_limits: a limit must be at least 1 character: ['name']": {"text_limits": "name: 0"},
        "block_on: not a finding kind or quality dimension: ['typo']": {"block_on": ["typo"]},
    }
    for said, over in refusals.items():
        refused = web.post("/admin/channels/ecommerce/gate", data={**gate, **over})
        assert refused.status_code == 422 and said in _message(refused.text), over
        assert _message(refused.text).startswith("Nothing was saved: ")
    typo = web.post("/admin/channels/ecommerce/gate", data={**gate, "text_limits": "name sixty", "block_on": ["valid"]}).text
    assert ">name sixty</textarea>" in typo and 'value="valid" checked' in typo  # what was typed stays ...
    assert 'name="locale" value="de_DE" checked' in typo  # ... and the other forms show the channel as it is
    assert store.structure().channels["ecommerce"] == before


def test_a_locale_change_on_a_large_family_is_queued_and_the_gate_scores_it_meanwhile(
        admin, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    web, token = admin
    monkeypatch.setattr(rescore_jobs, "IN_REQUEST", 1)  # any rescore is "large"
    store.put_structure("locale", [Locale(code="fr_FR")])
    page = web.get("/admin/channels/ecommerce").text
    assert "Changing the locales rescores the completeness of every product (5) on ecommerce" in page
    saved = _scope(web, token, locale=["en_US", "de_DE", "fr_FR"])
    [job] = store.jobs(kind="rescore")
    assert job["source"] == "shoes" and job["status"] == "queued" and job["counts"]["channels"] == ["ecommerce"]
    assert (f"The products of shoes are being rescored on ecommerce (job {job['id']}); each family's page shows "
            "when that is done") in _message(saved.text)
    assert store.structure().channels["ecommerce"].locales == ["en_US", "de_DE", "fr_FR"]
    with store.engine.connect() as conn:
        assert rescore_jobs.unsettled(conn) == {"shoes": {"ecommerce"}}
    assert "fr_FR" not in _locales(store, "complete")  # the stored rows wait for the job ...
    assert "completeness:fr_FR:60<100" in _blocked(store)["complete"]  # ... so the gate scores the family itself
    assert "Stored completeness of shoes on ecommerce waits for a rescore job" in web.get("/admin/channels/ecommerce").text
    job_queue.work(store, once=True)
    assert store.job(job["id"])["status"] == "succeeded" and _locales(store, "complete")["fr_FR"] == 60
    with store.engine.connect() as conn:
        assert rescore_jobs.unsettled(conn) == {}


def test_a_locale_or_currency_a_contract_delivers_in_stays(admin, store: Store) -> None:
    web, token = admin
    before = store.structure().channels["ecommerce"]
    put_contracts(store, [contract(channel="ecommerce", locale="de_DE", currency="USD",
                                   assortment={"rules": [{"categories": ["shoes"]}]}),
                          contract(code="other-shop", channel="b2b", locale="en_US", currency="EUR")])
    locale = _scope(web, token, locale=["en_US"])
    assert locale.status_code == 409
    assert _message(locale.text) == ("Nothing was saved: de_DE cannot leave ecommerce while 1 contract delivers in "
                                     "de_DE (acme-tools).")
    currency = _scope(web, token, currency=["EUR"])
    assert currency.status_code == 409 and "USD cannot leave ecommerce while 1 contract prices in USD (acme-tools)" in _message(currency.text)
    assert store.structure().channels["ecommerce"] == before
    allowed = _scope(web, token, locale=["de_DE"], currency=["USD"])  # a contract on another channel does not count
    assert allowed.status_code == 200 and store.structure().channels["ecommerce"].locales == ["de_DE"]


def test_a_locale_a_search_index_or_a_catalog_relies_on_stays(admin, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    web, token = admin
    save_state(store, "files:/srv/out|products|ecommerce", 7, "s", "t", decided_at=datetime(2026, 1, 2, tzinfo=UTC))
    save_state(store, "files:/srv/out|products|b2b", 7, "s", "t")
    refused = _scope(web, token, locale=["en_US"])
    assert refused.status_code == 409
    assert _message(refused.text) == ("Nothing was saved: de_DE cannot leave ecommerce while 1 search target holds its "
                                      "de_DE index, which no push would update or remove (products_ecommerce_de_DE at "
                                      "files:/srv/out); delete it with `pim search drop --channel ecommerce "
                                      "--locale de_DE`.")
    gm = ChannelCatalog(code="gm", renderer="google_merchant",
                        options={"targets": [{"country": "DE", "locale": "de_DE", "currency": "USD"}]})
    monkeypatch.setattr(attribute_usage, "channel_catalogs", lambda: [gm])
    currency = _scope(web, token, currency=["EUR"])
    assert currency.status_code == 409
    assert "USD cannot leave ecommerce while the built-in gm catalog names USD (target DE-de_DE)" in _message(currency.text)
    assert store.structure().channels["ecommerce"].currencies == ["EUR", "USD"]


def test_a_channel_in_use_is_kept_and_the_refusal_names_every_user(admin, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    web, token = admin
    shop = web.post("/admin/channels/ecommerce/delete", data={"csrf_token": token})
    assert shop.status_code == 409 and _message(shop.text) == "ecommerce was not deleted: 1 family has requirements on it (shoes)."
    _add(web, token, code="b2b")
    put_contracts(store, [contract(channel="b2b"), contract(code="beta", channel="b2b")])
    save_state(store, "meili:http://search:7700|products|b2b", 3, "s", "t")
    monkeypatch.setattr(attribute_usage, "channel_catalogs",
                        lambda: [ChannelCatalog(code="gm", renderer="google_merchant", scope="b2b")])
    b2b = web.post("/admin/channels/b2b/delete", data={"csrf_token": token})
    assert b2b.status_code == 409
    assert _message(b2b.text) == ("b2b was not deleted: 2 contracts build their feeds on it (acme-tools, beta); the "
                                  "built-in gm catalog names it as its scope; 1 search target holds its indexes "
                                  "(products_b2b_* at meili:http://search:7700); delete them with "
                                  "`pim search drop --channel b2b`.")
    assert {"ecommerce", "b2b"} <= set(store.structure().channels)
    assert "b2b cannot be deleted while 2 contracts" in web.get("/admin/channels/b2b").text  # said before anyone tries


def test_an_unused_channel_is_deleted_with_its_scores(admin, store: Store) -> None:
    web, token = admin
    _add(web, token)
    assert _locales(store, "complete", "retail") == {"en_US": 100}
    store.start_job("publish", "storefront/retail")
    page = web.get("/admin/channels/retail").text
    assert 'action="/admin/channels/retail/delete"' in page
    assert "It was published before (storefront 1×): what those runs wrote stays where it went." in page
    gone = web.post("/admin/channels/retail/delete", data={"csrf_token": token})
    assert gone.status_code == 200 and _message(gone.text) == "Deleted retail."
    assert "retail" not in store.structure().channels and _locales(store, "complete", "retail") == {}
    assert web.get("/admin/channels/retail").status_code == 404
    assert web.post("/admin/channels/retail/delete", data={"csrf_token": token}).status_code == 404


def test_only_admins_reach_the_channel_pages(admin, store: Store) -> None:
    add_user(store, "ed", "correct horse", "editor")
    editor = TestClient(create_app(store))
    token = login(editor)
    assert editor.get("/admin/channels").status_code == 403
    assert editor.get("/admin/channels/ecommerce").status_code == 403
    assert _add(editor, token).status_code == 403
    assert editor.post("/admin/channels/ecommerce", data={"csrf_token": token, "label:en_US": "X"}).status_code == 403
    assert _scope(editor, token, locale=["en_US"]).status_code == 403
    assert editor.post("/admin/channels/ecommerce/gate", data={"csrf_token": token, "min_completeness": "0"}).status_code == 403
    assert editor.post("/admin/channels/ecommerce/delete", data={"csrf_token": token}).status_code == 403
    assert 'href="/admin/channels"' not in editor.get("/products").text
    ch = store.structure().channels
    assert set(ch) == {"ecommerce"} and ch["ecommerce"].locales == ["en_US", "de_DE"] and ch["ecommerce"].labels == {}


def test_channel_forms_need_the_csrf_token(admin, store: Store) -> None:
    web, token = admin
    _add(web, token)
    before = store.structure().channels
    assert web.post("/admin/channels", data={"code": "outlet", "locale": ["en_US"], "currency": ["EUR"],
                                             "category_tree": "master"}).status_code == 403
    assert web.post("/admin/channels/ecommerce", data={"label:en_US": "X"}).status_code == 403
    assert web.post("/admin/channels/ecommerce/scope", data={"locale": ["en_US"], "csrf_token": "forged"}).status_code == 403
    assert web.post("/admin/channels/ecommerce/gate", data={"min_completeness": "0"}).status_code == 403
    assert web.post("/admin/channels/retail/delete", data={}).status_code == 403
    assert store.structure().channels == before
