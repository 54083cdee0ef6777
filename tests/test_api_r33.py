"""Round 33, the REST API as an integrator's explorer found it: a misspelt body key, channel or cursor is refused
(never ignored or a 500), the identifier stays each product's key, conflicts page by keyset, and the answers
keep the documented shapes (times with `+00:00`, bad bodies and 404s in the envelope, the throttle's message).
One seeded SQLite catalog for the module: the tests write only what they read back themselves."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import insert, update

from pim.conflicts import CONFLICT
from pim.store import Store
from tests.conftest import module_home
from tests.channel_data import seed_products
from tests.test_api_errors import by_field

Api = tuple[TestClient, dict[str, dict[str, str]], Store]


@pytest.fixture(scope="module")
def api(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Api]:
    """The seeded catalog (tests.channel_data) with an admin, an editor and a viewer token."""
    from pim.web.accounts import add_user, create_token
    from pim.web.app import create_app

    with module_home(sqlite_template, tmp_path_factory.mktemp("api_r33")) as (store, mp):
        mp.setattr("pim.web.accounts.HASH_PARAMS", {"time_cost": 1, "memory_cost": 1024, "parallelism": 1})
        seed_products(store)
        tokens = {}
        for name, role in (("ad", "admin"), ("ed", "editor"), ("vi", "viewer")):
            user = add_user(store, name, "correct horse", role)
            tokens[role] = {"Authorization": f"Bearer {create_token(store, user)}"}
        yield TestClient(create_app(store)), tokens, store


# ---------------------------------------------------------------- 1. a misspelt body key is refused


def test_a_misspelt_publish_option_is_refused_and_nothing_is_queued(api: Api) -> None:
    client, tokens, store = api
    before = len(store.jobs(None, 500))
    resp = client.post("/api/v1/publish", json={"channel": "storefront", "scop": "mobile"}, headers=tokens["admin"])
    assert resp.status_code == 422
    assert "did you mean 'scope'" in by_field(resp)["body.scop"]
    assert len(store.jobs(None, 500)) == before


def test_a_misspelt_expected_is_refused_instead_of_skipping_the_stale_check(api: Api) -> None:
    client, tokens, store = api
    resp = client.patch("/api/v1/products/long-title", headers=tokens["editor"],
                        json={"values": {"mpn": "RN-2"}, "expect": {"mpn": "not what is stored"}})
    assert resp.status_code == 422 and "did you mean 'expected'" in by_field(resp)["body.expect"]
    assert store.get_product("long-title").values["mpn"] == "RN-1"  # type: ignore[union-attr]


def test_a_misspelt_create_field_is_refused_and_nothing_is_created(api: Api) -> None:
    client, tokens, store = api
    resp = client.post("/api/v1/products", headers=tokens["editor"],
                       json={"identifier": "typo-1", "family": "shoes", "categorys": ["shoes"]})
    assert resp.status_code == 422 and "did you mean 'categories'" in by_field(resp)["body.categorys"]
    assert store.get_product("typo-1") is None


# ---------------------------------------------------------------- 2. an unknown scope is no filter


def test_an_unknown_channel_or_locale_in_the_product_list_is_refused(api: Api) -> None:
    client, tokens, _ = api
    channel = client.get("/api/v1/products?completeness=complete&channel=ecomerce", headers=tokens["viewer"])
    assert channel.status_code == 422
    assert "no channel 'ecomerce' (did you mean 'ecommerce'?)" in by_field(channel)["query.channel"]
    locale = client.get("/api/v1/products?missing=description&channel=ecommerce&locale=en_us",
                        headers=tokens["viewer"])
    assert locale.status_code == 422
    assert "channel 'ecommerce' has no locale 'en_us'" in by_field(locale)["query.locale"]


# ---------------------------------------------------------------- 3. numbers no database holds


@pytest.mark.parametrize("path", ["/api/v1/products", "/api/v1/conflicts", "/api/v1/jobs/1/errors"])
@pytest.mark.parametrize("cursor", ["99999999999999999999999", "%C2%B2"])  # over 2**63-1; a digit int() refuses
def test_a_cursor_no_page_gave_is_a_422_not_a_500(api: Api, path: str, cursor: str) -> None:
    client, tokens, _ = api
    resp = client.get(f"{path}?cursor={cursor}", headers=tokens["viewer"])
    where = "`Link` header" if path.endswith("/conflicts") else "next_cursor"  # /conflicts' body has no next_cursor
    assert resp.status_code == 422 and where in by_field(resp)["query.cursor"]


@pytest.mark.parametrize("method,tail", [("GET", ""), ("GET", "/errors"), ("GET", "/errors/summary"),
                                         ("POST", "/retry"), ("POST", "/cancel"), ("POST", "/priority")])
def test_a_job_id_no_job_can_have_is_a_422_on_the_path(api: Api, method: str, tail: str) -> None:
    client, tokens, _ = api
    for job_id in ("99999999999999999999", "-1", "0"):
        resp = client.request(method, f"/api/v1/jobs/{job_id}{tail}", headers=tokens["admin"],
                              json={"priority": 1} if tail == "/priority" else None)
        assert resp.status_code == 422 and "path.job_id" in by_field(resp), (job_id, resp.text)


# ---------------------------------------------------------------- 4. the identifier stays the key


def test_a_mass_edit_cannot_copy_one_identifier_onto_many_products(api: Api) -> None:
    client, tokens, store = api
    resp = client.post("/api/v1/products/mass-edit", headers=tokens["editor"],
                       json={"identifiers": ["bad-gtin", "long-title"], "values": {"sku": "DUP"}})
    assert resp.status_code == 422 and "product's key" in by_field(resp)["body.values.sku"]
    assert [store.get_product(i).values["sku"] for i in ("bad-gtin", "long-title")] == [  # type: ignore[union-attr]
        "bad-gtin", "long-title"]


def test_patch_cannot_rewrite_or_clear_the_identifier_but_may_repeat_it(api: Api) -> None:
    client, tokens, store = api
    for value in ("complete-2", None):
        resp = client.patch("/api/v1/products/complete", headers=tokens["editor"], json={"values": {"sku": value}})
        assert resp.status_code == 422 and "renaming a product is not supported" in by_field(resp)["body.values.sku"]
    same = client.patch("/api/v1/products/complete", headers=tokens["editor"], json={"values": {"sku": "complete"}})
    assert same.status_code == 200 and same.json()["changed"] == []
    assert store.get_product("complete").values["sku"] == "complete"  # type: ignore[union-attr]


# ---------------------------------------------------------------- 5. identifiers the API cannot address


@pytest.mark.parametrize("identifier,said", [("R/1", "'/'"), (" R2 ", "blanks"), ("R2\t", "control character"),
                                             ("R\u0010\u0007", "control character"), ("Re\u0301", "NFC")])
def test_an_identifier_no_route_or_import_could_address_is_refused(api: Api, identifier: str, said: str) -> None:
    client, tokens, store = api
    resp = client.post("/api/v1/products", headers=tokens["editor"], json={"identifier": identifier, "family": "shoes"})
    assert resp.status_code == 422 and said in by_field(resp)["body.identifier"]
    assert store.get_product(identifier) is None


def test_a_composed_non_ascii_identifier_is_created(api: Api) -> None:
    """The guard's other side: NFC text with an accent is an ordinary identifier."""
    client, tokens, _ = api
    resp = client.post("/api/v1/products", headers=tokens["editor"], json={"identifier": "R\u00e9", "family": "shoes"})
    assert resp.status_code == 201 and resp.headers["location"] == "/api/v1/products/R%C3%A9"


# ---------------------------------------------------------------- 6. conflicts page by keyset


def _conflicts(store: Store, *targets: tuple[str, str]) -> None:
    at = datetime(2026, 11, 25, tzinfo=UTC)
    with store.begin() as conn:
        conn.execute(insert(CONFLICT), [
            {"identifier": ident, "value_key": key, "attribute": key.split(":")[0], "winner": "erp",
             "claims": {"erp": "a", "content": "b"}, "status": "open", "detected_at": at, "updated_at": at}
            for ident, key in targets])


def _pick(store: Store, identifier: str, key: str) -> None:
    """What a person's pick does to the row (its status leaves `open`), without the merge behind it."""
    with store.begin() as conn:
        conn.execute(update(CONFLICT).where(CONFLICT.c.identifier == identifier, CONFLICT.c.value_key == key)
                     .values(status="resolved", pinned="content"))


def _next(resp: Any) -> str:
    link = resp.headers["link"]
    return link[1:link.index(">")]


def test_resolving_while_paging_the_conflicts_skips_none(api: Api) -> None:
    client, tokens, store = api
    _conflicts(store, ("bad-gtin", "brand"), ("bad-gtin", "mpn"), ("long-title", "brand"), ("no-description", "mpn"))
    h = tokens["viewer"]
    first = client.get("/api/v1/conflicts?limit=2", headers=h)
    assert [(c["identifier"], c["value_key"]) for c in first.json()] == [("bad-gtin", "brand"), ("bad-gtin", "mpn")]
    assert first.headers["x-total-count"] == "4"
    for c in first.json():
        _pick(store, c["identifier"], c["value_key"])
    second = client.get(_next(first), headers=h)
    assert [(c["identifier"], c["value_key"]) for c in second.json()] == [
        ("long-title", "brand"), ("no-description", "mpn")]
    assert "link" not in second.headers


def test_a_products_conflicts_page_by_keyset_product_first_while_each_is_picked(api: Api) -> None:
    client, tokens, store = api
    _conflicts(store, ("model:runner_model", "brand"), ("runner-red", "mpn"), ("model:runner_model", "mpn"))
    h, seen, url = tokens["viewer"], [], "/api/v1/conflicts?identifier=runner-red&limit=1"
    while url:
        resp = client.get(url, headers=h)
        seen += [(c["identifier"], c["value_key"]) for c in resp.json()]
        _pick(store, *seen[-1])
        url = _next(resp) if "link" in resp.headers else ""
    assert seen == [("runner-red", "mpn"), ("model:runner_model", "brand"), ("model:runner_model", "mpn")]


# ---------------------------------------------------------------- 7. the documented shapes


def test_a_products_times_carry_their_offset_as_documented(api: Api) -> None:
    client, tokens, _ = api
    patched = client.patch("/api/v1/products/no-description", headers=tokens["editor"],
                           json={"values": {"description:en_US@ecommerce": "Written by a person."}}).json()["product"]
    read = client.get("/api/v1/products/no-description", headers=tokens["viewer"]).json()
    for product in (patched, read):
        stamps = [product["source"]["at"], *(p["at"] for p in product["provenance"].values())]
        assert len(stamps) > 1 and all(s.endswith("+00:00") for s in stamps), stamps


def test_a_body_that_is_not_utf8_is_a_422_on_the_body(api: Api) -> None:
    client, tokens, _ = api
    resp = client.post("/api/v1/products", headers={**tokens["editor"], "Content-Type": "application/json"},
                       content=b'{"identifier": "R\xa5"}')
    assert resp.status_code == 422 and "not UTF-8" in by_field(resp)["body"]


def test_the_history_of_no_product_is_a_404(api: Api) -> None:
    client, tokens, _ = api
    resp = client.get("/api/v1/products/NOPE/history", headers=tokens["viewer"])
    assert resp.status_code == 404 and "no product 'NOPE'" in by_field(resp)[None]


def test_a_throttled_address_hears_it_is_throttled_for_failed_token_checks(api: Api) -> None:
    from pim.web.app import create_app
    from pim.web.throttle import ATTEMPTS, FailureThrottle

    _, tokens, store = api
    client = TestClient(create_app(store))
    client.app.state.signin_throttle = FailureThrottle()  # its own count: the module's client stays unthrottled
    for _ in range(ATTEMPTS):
        assert client.get("/api/v1/products", headers={"Authorization": "Bearer pim_guess"}).status_code == 401
    refused = client.get("/api/v1/products", headers=tokens["viewer"])  # a good token waits too
    assert refused.status_code == 429
    message = by_field(refused)[None]
    assert "failed token checks" in message and f"{refused.headers['retry-after']} more seconds" in message
