"""Round 37 (D), feeds and Google rough edges left by round 36: `pim feeds load` refuses a customer code differing
only by case as bad input (exit 2, saying to rename or --force) rather than as configuration (3); Google Merchant
writes g:color / g:size for a simple product too (item_group_id still for variants only); the `rounded_price`
finding shows on the product page and the API wherever it does not block, the gate unchanged."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from lxml import etree
from typer.testing import CliRunner

from channels.google_merchant import G
from pim.gate import evaluate
from pim.pipeline import publish
from pim.product import Product
from pim.store import Store
from pim.structure import Channel, GateRules
from tests.channel_data import ERP, complete_values, seed_products
from tests.feeds_data import contract, put_prices, seed_catalog, store_contract

NS = {"g": G}


def _cli(*args: str) -> Any:
    from pim.cli import _mount, app

    _mount()
    return CliRunner().invoke(app, list(args))


def _contracts_file(tmp_path: Path, *bodies: dict[str, Any]) -> Path:
    path = tmp_path / "contracts.yaml"
    path.write_text(yaml.safe_dump({"contracts": list(bodies)}))
    return path


def _body(code: str, customer: str, **over: Any) -> dict[str, Any]:
    return contract(code=code, customer=customer, **over).model_dump(mode="json", exclude_none=True)


def _said(out: Any) -> str:
    return " ".join(f"{out.output} {getattr(out, 'stderr', '')} {out.exception or ''}".split())


# ---------------------------------------------------------------------------------------------- 1. load exit code
def test_a_customer_code_differing_by_case_is_refused_as_bad_input(store: Store, tmp_path: Path) -> None:
    from pim.contracts import get_contracts
    from pim.errors import InputError

    seed_catalog(store)
    put_prices(store, "acme", [("T1", "1", "8.00")])
    store_contract(store, code="acme-main", customer="acme")
    path = _contracts_file(tmp_path, _body("acme-check", "ACME"))
    out = _cli("feeds", "load", str(path), "--json")
    assert out.exit_code == InputError.exit_code, out.output
    body = orjson.loads(out.stdout)
    assert body["exit_code"] == InputError.exit_code
    [problem] = body["problems"]
    assert problem["field"] == "contracts.0.customer" and "'acme'" in problem["reason"]
    plain = _cli("feeds", "load", str(path))  # without --json: the message says what to do (pim's main exits
    assert isinstance(plain.exception, InputError) and plain.exception.exit_code == InputError.exit_code  # with it)
    said = plain.exception.describe()
    assert "--force" in said and "rename" in said and "contracts.0.customer" in said
    assert [c.code for c in get_contracts(store)] == ["acme-main"]  # nothing loaded
    assert _cli("feeds", "load", str(path), "--force").exit_code == 0


def test_a_price_list_named_in_another_case_is_bad_input_too(store: Store, tmp_path: Path) -> None:
    from pim.errors import InputError

    seed_catalog(store)
    put_prices(store, "acme", [("T1", "1", "8.00")])
    path = _contracts_file(tmp_path, _body("b", "bolt", pricing={"fallback": "exclude", "price_list": "Acme"}))
    out = _cli("feeds", "load", str(path), "--json")
    assert out.exit_code == InputError.exit_code, out.output
    assert [p["field"] for p in orjson.loads(out.stdout)["problems"]] == ["contracts.0.pricing.price_list"]


def test_a_case_clash_beside_a_catalog_misfit_is_listed_with_it(store: Store, tmp_path: Path) -> None:
    """Guard (passes before the change too): a contract that does not fit the catalog is still configuration
    (exit 3); the clash is named with it, so one run shows every problem."""
    from pim.errors import ConfigError

    seed_catalog(store)
    store_contract(store, code="acme-main", customer="acme")
    path = _contracts_file(tmp_path, _body("acme-check", "ACME"), _body("other", "bolt", channel="nope"))
    out = _cli("feeds", "load", str(path), "--json")
    assert out.exit_code == ConfigError.exit_code, out.output
    fields = sorted(p["field"] for p in orjson.loads(out.stdout)["problems"])
    assert fields == ["contracts.0.customer", "contracts.1.channel"]


# ---------------------------------------------------------------------------------------------- 2. Google color/size
@pytest.fixture
def google_items(store: Store, tmp_path: Path) -> dict[str, etree._Element]:
    seed_products(store)
    store.upsert_products([
        Product(identifier="tee", family="shoes", categories=["sneakers"], source=ERP,
                values=complete_values(sku="tee", color="blue", size="m")),
        Product(identifier="cap", family="shoes", categories=["sneakers"], source=ERP,
                values=complete_values(sku="cap", size="m")),
    ])
    result = publish(store, tmp_path / "out", channel="google_merchant", scope="ecommerce")
    [feed] = [loc for loc in result.locations if loc.endswith(".en_US.xml")]
    root = etree.parse(feed).getroot()
    return {i.findtext("g:id", namespaces=NS): i for i in root.iterfind("channel/item")}


def _tags(item: etree._Element) -> list[str]:
    return [etree.QName(e).localname for e in item if etree.QName(e).namespace == G]


def test_a_simple_product_carries_its_color_and_size(google_items: dict[str, etree._Element]) -> None:
    tee, cap = google_items["tee"], google_items["cap"]
    assert tee.findtext("g:color", namespaces=NS) == "Blue" and tee.findtext("g:size", namespaces=NS) == "M"
    assert cap.findtext("g:size", namespaces=NS) == "M" and "color" not in _tags(cap)
    assert "item_group_id" not in _tags(tee) and "item_group_id" not in _tags(cap)


def test_a_simple_product_without_color_or_size_still_goes_out_without_them(
        google_items: dict[str, etree._Element]) -> None:
    """Guard (passes before the change too): color and size are not required of a simple product."""
    complete = google_items["complete"]
    assert not {"color", "size", "item_group_id"} & set(_tags(complete))


def test_a_variant_keeps_its_group_color_and_their_order(google_items: dict[str, etree._Element]) -> None:
    """Guard (passes before the change too): a variant's item is as it was."""
    tags = _tags(google_items["runner-red"])
    assert "item_group_id" in tags and "color" in tags and "size" not in tags
    assert tags.index("item_group_id") + 1 == tags.index("color")  # as before: group, then color


# ---------------------------------------------------------------------------------------------- 3. rounded_price shown
SCREW = Product(identifier="screw", family="shoes", categories=["sneakers"], source=ERP,
                values=complete_values(sku="screw", price={"EUR": "0.0125", "USD": "54.00"}))


def _block_on(store: Store, kinds: list[str]) -> None:
    [ch] = [c for c in store.structure().channels.values() if c.code == "ecommerce"]
    store.put_structure("channel", [Channel(**{**ch.model_dump(), "gate": GateRules(min_completeness=100,
                                                                                     block_on=kinds)})])


def test_the_api_lists_a_sub_cent_price_on_a_channel_that_does_not_block_on_it(role_tokens, store: Store) -> None:
    client, tokens = role_tokens
    store.upsert_products([SCREW])
    resp = client.get("/api/v1/products/screw/quality", headers=tokens["viewer"])
    assert resp.status_code == 200, resp.text
    [note] = resp.json()
    assert (note["channel"], note["code"], note["blocking"]) == ("ecommerce", "rounded_price:price:EUR", False)
    assert "0.0125" in note["reason"] and note["dimension"] == "accurate"
    assert client.get("/api/v1/products/complete/quality", headers=tokens["viewer"]).json() == []
    assert client.get("/api/v1/products/nope/quality", headers=tokens["viewer"]).status_code == 404
    assert client.get("/api/v1/products/screw/quality").status_code == 401
    _block_on(store, ["rounded_price"])
    assert [n["blocking"] for n in client.get("/api/v1/products/screw/quality", headers=tokens["viewer"]).json()] == [True]


def test_the_product_page_shows_the_note_where_the_gate_does_not(admin, store: Store) -> None:
    web, _ = admin
    store.upsert_products([SCREW])
    _block_on(store, ["accurate"])  # a B2B channel: its sub-cent prices go out, and the team is told
    page = web.get("/products/screw?channel=ecommerce&locale=en_US").text
    assert 'data-code="rounded_price:price:EUR"' in page and 'data-blocking="no"' in page
    assert "0.0125" in page.split("Quality notes", 1)[1]
    assert "Quality notes" not in web.get("/products/complete?channel=ecommerce&locale=en_US").text


def test_the_gate_still_blocks_only_a_channel_that_names_it(store: Store) -> None:
    """Guard (passes before the change too): the notes decide nothing."""
    seed_products(store)
    store.upsert_products([SCREW])

    def reasons() -> list[str]:
        s = store.structure()
        return [r for p, r in evaluate(store, s, "ecommerce", [store.get_product("screw")])][0]

    for kinds in ([], ["accurate"]):
        _block_on(store, kinds)
        assert not [r for r in reasons() if r.startswith("rounded_price")]
    _block_on(store, ["rounded_price"])
    assert reasons() == ["rounded_price:price:EUR"]
