"""The product page (found exploring as a content manager): a save from a page opened before someone else's
change does not overwrite it unseen; clearing a value the content team never set says so (not "outranked");
values show as people read them everywhere on the page; source choices keep the page's channel and locale."""

from __future__ import annotations

import html
import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from pim.merge import Merger, Precedence, candidates_for
from pim.product import Product, Provenance
from pim.store import Store
from pim.web.accounts import add_user
from pim.web.app import create_app
from pim.web.editing import apply_model_values, apply_values
from tests.channel_data import seed_products
from tests.test_web_ui import cheap_argon2, login  # noqa: F401  (cheap_argon2: autouse fixture)


@pytest.fixture
def web(store: Store) -> TestClient:
    seed_products(store)  # "complete": name:en_US "Runner" from the ERP; runner-red inherits runner_model's
    add_user(store, "ed", "correct horse", "editor")
    return TestClient(create_app(store))


def _shown(page: str, key: str) -> str:
    """The `shown` field of `key`'s edit form, as the browser would post it."""
    form = page.split(f'name="key" value="{key}"', 1)[1].split("</form>", 1)[0]
    return html.unescape(re.search(r"name=\"shown\" value='([^']*)'", form).group(1))  # type: ignore[union-attr]


def _edit(web: TestClient, token: str, sku: str, key: str, value: str, shown: str, **more: str) -> object:
    return web.post(f"/products/{sku}/values", follow_redirects=False, data={
        "csrf_token": token, "key": key, "value": value, "shown": shown, "channel": "ecommerce",
        "locale": "en_US", **more})


def test_a_save_from_a_page_opened_before_someone_elses_change_is_not_written(web: TestClient, store: Store) -> None:
    token = login(web)
    shown = _shown(web.get("/products/complete").text, "name:en_US")
    assert json.loads(shown) == "Runner"
    apply_values(store, "complete", {"name:en_US": "Ben's better name"}, "ben")  # Ben saves meanwhile

    stale = _edit(web, token, "complete", "name:en_US", "Anna's name", shown)
    assert stale.status_code == 409
    assert store.get_product("complete").values["name:en_US"] == "Ben's better name"  # type: ignore[union-attr]
    text = html.unescape(stale.text)
    assert ("name:en_US: changed by <strong>ben</strong> since you opened the page: now 'Ben's better name'; your "
            "value 'Anna's name' was not saved — save again to replace it.") in text
    assert 'id="v-name:en_US" name="value" value="Anna&#39;s name"' in stale.text  # the typed value stays
    again = _edit(web, token, "complete", "name:en_US", "Anna's name", _shown(stale.text, "name:en_US"))
    assert again.status_code == 303  # the page now carries Ben's value: saving again replaces it, knowingly
    assert store.get_product("complete").values["name:en_US"] == "Anna's name"  # type: ignore[union-attr]


def test_a_change_by_an_import_since_the_page_opened_is_named_with_its_source(web: TestClient, store: Store) -> None:
    token = login(web)
    shown = _shown(web.get("/products/complete").text, "weight")
    erp = Provenance(source="erp", ref="erp.csv:7", at=datetime.now(UTC))
    Merger(Precedence()).bind(store.structure()).write(store, [Product(
        identifier="complete", values={"weight": {"amount": "900", "unit": "GRAM"}}, source=erp)])

    stale = web.post("/products/complete/values", data={"csrf_token": token, "key": "weight", "value": "1",
                                                        "unit": "KILOGRAM", "shown": shown, "channel": "ecommerce",
                                                        "locale": "en_US"})
    assert stale.status_code == 409
    assert ("changed by <strong>erp (erp.csv:7)</strong> since you opened the page: now '900 GRAM'; your value "
            "'1 KILOGRAM' was not saved") in html.unescape(stale.text)
    assert store.get_product("complete").values["weight"] == {"amount": "900", "unit": "GRAM"}  # type: ignore[union-attr]


def test_an_inherited_value_changed_on_its_model_since_the_page_opened_is_not_overwritten(
        web: TestClient, store: Store) -> None:
    token = login(web)
    shown = _shown(web.get("/products/runner-red").text, "name:en_US")
    apply_model_values(store, "runner_model", {"name:en_US": "Ben's runner"}, "ben")

    stale = _edit(web, token, "runner-red", "name:en_US", "Anna's runner", shown, target="model:runner_model")
    assert stale.status_code == 409 and "changed by <strong>ben</strong>" in stale.text
    assert store.get_model("runner_model").values["name:en_US"] == "Ben's runner"  # type: ignore[union-attr]


def test_a_field_nobody_changed_since_the_page_opened_saves_as_before(web: TestClient, store: Store) -> None:
    """Guard (passes before the change too): the check keeps an up-to-date page's save working, and a save
    of the value someone else already stored is no conflict."""
    token = login(web)
    page = web.get("/products/complete").text
    assert _edit(web, token, "complete", "name:en_US", "Trail Runner", _shown(page, "name:en_US")).status_code == 303
    apply_values(store, "complete", {"mpn": "RN-2"}, "ben")
    assert _edit(web, token, "complete", "mpn", "RN-2", _shown(page, "mpn")).status_code == 303
    product = store.get_product("complete")
    assert product.values["name:en_US"] == "Trail Runner" and product.values["mpn"] == "RN-2"  # type: ignore[union-attr]


def test_clearing_a_value_the_content_team_never_set_says_there_is_nothing_of_its_own_to_clear(
        web: TestClient, store: Store) -> None:
    token = login(web)
    cleared = _edit(web, token, "complete", "name:de_DE", "", json.dumps("Runner DE"), locale="de_DE")
    assert cleared.status_code == 303
    page = html.unescape(web.get(cleared.headers["location"]).text)
    assert ("name:de_DE: the content team has no value of its own here to clear; the value shown is "
            "<strong>erp</strong>'s (a source's value leaves when that source withdraws it: "
            "<code>pim import withdraw erp complete</code>).") in page
    assert "kept as another value" not in page
    assert store.get_product("complete").values["name:de_DE"] == "Runner DE"  # type: ignore[union-attr]


def test_clearing_the_content_teams_own_value_says_it_is_withdrawn(web: TestClient, store: Store) -> None:
    token = login(web)
    apply_values(store, "complete", {"name:en_US": "Trail Runner"}, "ed")
    cleared = _edit(web, token, "complete", "name:en_US", "", json.dumps("Trail Runner"))
    page = html.unescape(web.get(cleared.headers["location"]).text)
    assert ("name:en_US: the content team's value is withdrawn; the value shown is <strong>erp</strong>'s."
            in page) and "kept as another value" not in page
    assert store.get_product("complete").values["name:en_US"] == "Runner"  # type: ignore[union-attr]


def test_clearing_an_edit_kept_aside_says_it_is_withdrawn(web: TestClient, store: Store, pim_env: Path) -> None:
    pim_env.mkdir(parents=True, exist_ok=True)
    (pim_env / "precedence.yaml").write_text("attributes:\n  name: [erp, content]\ndefault: [content]\n")
    assert apply_values(store, "complete", {"name:en_US": "Trail Runner"}, "ed").outranked == {"name:en_US": "erp"}
    token = login(web)
    cleared = _edit(web, token, "complete", "name:en_US", "", json.dumps("Runner"))
    page = html.unescape(web.get(cleared.headers["location"]).text)
    assert "name:en_US: the content team's value is withdrawn; the value shown is <strong>erp</strong>'s." in page
    assert "content" not in candidates_for(store, "complete").get("name:en_US", {})


def test_conflicts_and_history_show_a_measure_as_amount_and_unit(web: TestClient, store: Store) -> None:
    content = Provenance(source="content", at=datetime.now(UTC))
    Merger(Precedence(attributes={"weight": ["erp", "content"]})).bind(store.structure()).write(
        store, [Product(identifier="complete", values={"weight": {"amount": "900", "unit": "GRAM"}}, source=content)])
    apply_values(store, "no-description", {"weight": {"amount": "1", "unit": "KILOGRAM"}}, "ed")
    login(web)
    conflict = web.get("/products/complete").text.split('class="conflict"', 1)[1].split("</form>", 1)[0]
    assert "content: 900 GRAM</label>" in conflict and "erp: 850 GRAM</label>" in conflict
    history = web.get("/products/no-description").text.split('<table class="history">', 1)[1]
    assert "<td>850 GRAM → 1 KILOGRAM</td>" in history and "amount" not in history


@pytest.mark.parametrize("choice", ["conflicts", "candidates"])
def test_pick_winner_and_use_return_to_the_page_in_its_channel_and_locale(
        web: TestClient, store: Store, choice: str) -> None:
    Merger(Precedence(attributes={"name": ["erp", "content"]})).bind(store.structure()).write(store, [Product(
        identifier="complete", values={"name:de_DE": "Läufer"},
        source=Provenance(source="content", at=datetime.now(UTC)))])
    token = login(web)
    page = web.get("/products/complete?channel=ecommerce&locale=de_DE").text
    form = page.split(f'action="/products/complete/{choice}"', 1)[1].split("</form>", 1)[0]
    assert 'name="channel" value="ecommerce"' in form and 'name="locale" value="de_DE"' in form
    picked = web.post(f"/products/complete/{choice}", follow_redirects=False, data={
        "csrf_token": token, "key": "name:de_DE", "target": "complete", "source": "content",
        "channel": "ecommerce", "locale": "de_DE"})
    assert picked.status_code == 303
    assert picked.headers["location"] == "/products/complete?channel=ecommerce&locale=de_DE"
    assert store.get_product("complete").values["name:de_DE"] == "Läufer"  # type: ignore[union-attr]
