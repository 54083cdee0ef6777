"""Round 35, the mass edit and the content sheet as an editor meets them: an empty value over many products is
applied only once confirmed for the number it reaches, and its summary counts what shows after it (cleared,
another source's value, empty) instead of "kept aside"; refusals are worded for the web form, each reason once
with a count; history shows a yes/no value as the field does; a sheet's emptied cell another source owns is a
problem of its row, not a silent "unchanged"."""

from __future__ import annotations

import html as markup
import re
from datetime import datetime, timezone
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert

from importers.content import import_content
from pim.product import Product
from pim.store import Store
from pim.structure import Family
from pim.web.accounts import add_user
from pim.web.app import create_app
from pim.web.editing import apply_values
from pim.web.tables import HISTORY
from tests.channel_data import ERP, FAMILY_ATTRS, seed_products
from tests.test_content_sheet import edit, export
from tests.test_content_sheet_round30 import DRILL_COLUMNS, drills  # noqa: F401  (fixture: two ERP drills)
from tests.test_web_ui import cheap_argon2, client, login  # noqa: F401  (fixtures: cheap_argon2 autouse; client: seeded)

DESC = "description:en_US@ecommerce"


def _notice(page: str) -> str:
    found = re.search(r'<p class="notice" role="status">([^<]+)</p>', page)
    assert found, page
    return markup.unescape(found.group(1))


def _shown(store: Store, sku: str, key: str) -> object:
    found = store.get_product(sku)
    assert found is not None
    return found.values.get(key)


def _bulk(web: TestClient, token: str, key: str, value: str, skus: list[str], **more: str):  # type: ignore[no-untyped-def]
    return web.post("/products/bulk", data={"csrf_token": token, "key": key, "value": value, "scope": "selected",
                                            "sku": skus, "filter": "family=shoes", **more})


@pytest.fixture
def anna(client: TestClient) -> tuple[TestClient, str]:  # noqa: F811
    """An editor's client, and the content team's description on two products: 'complete' (over the ERP's
    text, which is kept) and 'no-description' (the ERP gives none); 'long-title' shows the ERP's only."""
    token = login(client)
    assert _notice(_bulk(client, token, DESC, "Anna's text", ["complete", "no-description"]).text) \
        == f"{DESC} set on 2 products."
    return client, token


# ---------------------------------------------------------------- 1. an empty value over many products
def test_a_clear_of_many_products_asks_first_and_changes_nothing_until_confirmed(anna: tuple[TestClient, str],
                                                                                   store: Store) -> None:
    web, token = anna
    skus = ["complete", "no-description", "long-title"]
    asked = _bulk(web, token, DESC, "", skus)
    assert asked.status_code == 200 and 'id="bulk-clear"' in asked.text
    assert re.search(r'<input type="checkbox" name="confirm_clear" value="3" required> clear this value on 3 '
                     r'products', asked.text)
    assert [_shown(store, s, DESC) for s in skus] == ["Anna's text", "Anna's text", "A fine shoe."]
    recounted = _bulk(web, token, DESC, "", skus, confirm_clear="2")  # confirmed for another number: asks again
    assert 'id="bulk-clear"' in recounted.text and "now reaches 3" in recounted.text
    assert [_shown(store, s, DESC) for s in skus] == ["Anna's text", "Anna's text", "A fine shoe."]


def test_a_confirmed_clear_is_summed_up_by_what_shows_after_it(anna: tuple[TestClient, str], store: Store) -> None:
    web, token = anna
    done = _bulk(web, token, DESC, "", ["complete", "no-description", "long-title"], confirm_clear="3")
    assert [_shown(store, s, DESC) for s in ("complete", "no-description", "long-title")] \
        == ["A fine shoe.", None, "A fine shoe."]  # the ERP's text shows again; nothing; the ERP's as before
    assert _notice(done.text) == (
        f"{DESC} cleared on 2 products; 1 now show another source's value (1 from erp); 1 now empty; 1 left as "
        "they are: the value they show is another source's, not the content team's (an empty value withdraws "
        "only the content team's).")


def test_a_clear_of_one_ticked_product_is_applied_at_once_and_said_so(anna: tuple[TestClient, str],
                                                                       store: Store) -> None:
    web, token = anna
    done = _bulk(web, token, DESC, "", ["no-description"])
    assert _notice(done.text) == f"{DESC} cleared on 1 product; 1 now empty."
    assert _shown(store, "no-description", DESC) is None


# ---------------------------------------------------------------- 3. refusals in an editor's words
@pytest.fixture
def two_families(store: Store) -> TestClient:
    """The seeded shoes, and four socks whose family has no `mpn`."""
    seed_products(store)
    store.put_structure("family", [
        Family(code="shoes", attributes=FAMILY_ATTRS, attribute_as_label="name"),
        Family(code="socks", attributes=["sku", "name"], attribute_as_label="name")])
    store.upsert_products([Product(identifier=f"sock-{n}", family="socks", source=ERP,
                                   values={"sku": f"sock-{n}", "name:en_US": f"Sock {n}"}) for n in range(4)])
    add_user(store, "ed", "correct horse", "editor")
    return TestClient(create_app(store))


def test_products_refused_for_one_reason_are_counted_under_it_once(two_families: TestClient) -> None:
    token = login(two_families)
    done = two_families.post("/products/bulk", data={"csrf_token": token, "key": "mpn", "value": "RN-9",
                                                     "scope": "filter", "filter": ""})
    said = _notice(done.text)
    assert said.count("is not an attribute of family 'socks'") == 1, said
    assert "4 refused, left as they are: 4 products (sock-0, sock-1, sock-2 and 1 more): 'mpn' is not an " \
           "attribute of family 'socks'" in said
    assert "import" not in said and "ask an administrator to add it to the family" in said


def test_a_wrong_option_gets_advice_an_editor_can_follow(client: TestClient, store: Store) -> None:  # noqa: F811
    token = login(client)
    said = _notice(_bulk(client, token, "brand", "acmee", ["complete", "long-title"]).text)
    assert said.startswith("Not applied: brand: option 'acmee' does not exist"), said
    assert "map:" not in said and "import" not in said
    assert said.endswith("Use one of them, or ask an administrator to add the option to the attribute")
    assert _shown(store, "complete", "brand") == "acme"


# ---------------------------------------------------------------- 4. yes/no in the history
def test_the_history_shows_a_yes_no_value_as_the_field_does(client: TestClient, store: Store) -> None:  # noqa: F811
    with store.engine.begin() as conn:
        conn.execute(insert(HISTORY), [{"product": "complete", "value_key": "eco_friendly", "old": False, "new": True,
                                        "actor": "anna", "source": "content", "at": datetime.now(timezone.utc)}])
    login(client)
    history = client.get("/products/complete").text.split('<table class="history">')[1].split("</table>")[0]
    assert "no → yes" in history and "False" not in history and "True" not in history


# ---------------------------------------------------------------- 2. a sheet's emptied cell another source owns
def test_an_emptied_cell_another_source_owns_is_a_problem_not_a_silent_unchanged(drills: Store,  # noqa: F811
                                                                                 tmp_path: Path) -> None:
    assert not apply_values(drills, "d2", {"name:en_US": "Drill 2 by Anna"}, "anna").errors  # the team's own
    out = tmp_path / "drills.xlsx"
    export(drills, out, columns=DRILL_COLUMNS)
    edit(out, "d1", "name:en_US", "")  # the ERP's name: an empty cell cannot clear it
    edit(out, "d2", "name:en_US", "")  # the content team's name: withdrawn, the ERP's shows again
    counts = import_content(out, drills)
    assert _shown(drills, "d1", "name:en_US") == "Drill 1" and _shown(drills, "d2", "name:en_US") == "Drill 2"
    [problem] = drills.quarantined(counts.job_id, severity="problem")
    assert (problem["record_key"], problem["field"]) == ("d1", "name:en_US")
    assert problem["reason"].startswith("not cleared: the value it shows (\"Drill 1\") comes from source 'erp', "
                                        "not from the content team")
