"""Round 33, rough edges of round 32's customer feeds: a contract names the rendition its image links use; a feed
refused for its data is held by `deliver --due` until the contract or the catalog changes; `pim feeds delete`
refuses a contract a run is sending (unless --force); BMEcat prices one piece below contract tiers that start
above 1 as CSV's `price` does; `pim feeds person add` checks the customer before asking for a password."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from lxml import etree
from typer.testing import CliRunner

from media.renditions import build_renditions
from media.settings import load_media_file
from media.storage import open_asset_store
from pim.cli import _mount, app
from pim.contracts import Contract, delete_contract, get_contracts, load_contracts, put_contracts
from pim.errors import ConfigError, DeliveryError, InputError
from pim.feed_schedule import ContractBusy, claim, due_contracts, schedules
from pim.feeds import build_feed, deliver_all
from pim.portal_people import people
from pim.store import Store
from pim.structure import AttributeOption
from tests.conftest import BMECAT_DIR
from tests.feeds_data import contract, out_dir, product, put_prices, seed_catalog, store_contract
from tests.renditions import rendered_photo

NS = {"b": "http://www.bmecat.org/bmecat/2005.1"}
NIGHTLY = "0 3 * * *"
LISTING = {"name": "listing", "max_width": 400, "max_height": 400, "format": "PNG"}
ZOOM = {"name": "zoom", "max_width": 500, "max_height": 500, "format": "JPEG"}
_mount()


def _cli(*args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(app, list(args), input=input)


def _declare(pim_env: Path, *renditions: dict[str, Any]) -> None:
    pim_env.mkdir(parents=True, exist_ok=True)
    (pim_env / "media.yaml").write_text(yaml.safe_dump({"channels": {"b2b": {"renditions": list(renditions)}}}),
                                        encoding="utf-8")


# ---------------------------------------------------------------------------------------------- 1. rendition
@pytest.fixture
def two_renditions(store: Store, pim_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    """Channel b2b declares `listing` (PNG, its listing rendition) and `zoom` (JPEG); T1's photo has both built."""
    seed_catalog(store)
    rendered_photo(store, pim_env, tmp_path, monkeypatch, channel="b2b", ref="img/T1.jpg", rendition=LISTING)
    _declare(pim_env, LISTING, ZOOM)
    media = load_media_file()
    build_renditions(store, [media.channel("b2b").rendition("zoom")], asset_store=open_asset_store(media=media))
    return store


def test_a_contract_links_the_rendition_it_names_and_the_listing_one_by_default(two_renditions: Store,
                                                                               tmp_path: Path) -> None:
    def image_of(c: Contract) -> tuple[str, str | None]:
        doc = etree.parse(str(build_feed(two_renditions, c, out_dir(tmp_path)).path))
        [mime] = [p.find(".//b:MIME", NS) for p in doc.iterfind(".//b:PRODUCT", NS)
                  if p.findtext("b:SUPPLIER_PID", namespaces=NS) == "T1"]
        return mime.findtext("b:MIME_SOURCE", namespaces=NS), mime.findtext("b:MIME_TYPE", namespaces=NS)

    zoom, zoom_type = image_of(store_contract(two_renditions, format="bmecat", rendition="zoom"))
    listing, listing_type = image_of(store_contract(two_renditions, code="plain", format="bmecat"))
    assert zoom.startswith("https://cdn.example.com/r/renditions/") and zoom.endswith(".jpg")
    assert zoom_type == "image/jpeg"  # the customer's BMEcat tooling gets the JPEG it asked for
    assert listing.endswith(".png") and listing_type is None  # as before: BMEcat 2005 names no image/png


def test_the_rendition_is_part_of_what_the_customer_gets_and_an_unset_one_keeps_old_digests() -> None:
    plain = contract()
    assert contract(rendition="zoom").digest() != plain.digest()  # a new rendition sends a full feed
    # The digest of a contract without a rendition, as round 32 computed it: stored watermarks stay valid.
    assert plain.digest() == "a6ec7e0c5475596c0a2c759690ed56c2"


CONTRACT_YAML = """contracts:
  - code: acme-tools
    customer: cust_a
    locale: en_US
    currency: EUR
    channel: b2b
    assortment: {skus: [T1, T2]}
    fields: [label, image]
    format: bmecat
    rendition: %s
    delivery: {portal: true}
"""


def test_load_refuses_a_rendition_the_channel_does_not_declare_listing_those_it_does(
        store: Store, pim_env: Path, tmp_path: Path) -> None:
    seed_catalog(store)
    _declare(pim_env, LISTING, ZOOM)
    f = tmp_path / "c.yaml"
    f.write_text(CONTRACT_YAML % "Zoom", encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        load_contracts(store, [f])
    [problem] = refused.value.problems  # type: ignore[attr-defined]
    assert (problem.line, problem.field) == (10, "contracts.0.rendition")
    assert "rendition 'Zoom' (did you mean 'zoom'?)" in problem.reason and "(listing, zoom)" in problem.reason
    assert get_contracts(store) == []
    f.write_text(CONTRACT_YAML % "zoom", encoding="utf-8")
    assert [c.rendition for c in load_contracts(store, [f])] == ["zoom"]


def test_load_refuses_a_rendition_when_media_yaml_declares_none_for_the_channel(store: Store, pim_env: Path,
                                                                               tmp_path: Path) -> None:
    seed_catalog(store)
    f = tmp_path / "c.yaml"
    f.write_text(CONTRACT_YAML % "zoom", encoding="utf-8")
    out = _cli("feeds", "load", str(f), "--json")
    assert out.exit_code == 3, out.output
    [problem] = orjson.loads(out.stdout)["problems"]
    assert "declares no renditions for channel b2b" in problem["reason"] and "channels.b2b.renditions" in problem["reason"]


def test_a_rendition_media_yaml_dropped_after_the_load_refuses_the_build(store: Store, pim_env: Path,
                                                                         tmp_path: Path) -> None:
    """Never another rendition than the one the contract names: the build stops, saying what is declared."""
    seed_catalog(store)
    _declare(pim_env, LISTING)
    c = store_contract(store, format="jsonl", rendition="zoom")  # stored as a load of yesterday's media.yaml would
    with pytest.raises(ConfigError, match=r"rendition 'zoom' is not one of channel b2b's renditions .*\(listing\)"):
        build_feed(store, c, out_dir(tmp_path))


# ---------------------------------------------------------------------------------------------- 2. refused → held
@pytest.fixture
def refused(store: Store, pim_env: Path) -> Store:
    """Nightly cp1252 CSV contract whose T1 holds a snowman: its first --due run is refused for its data."""
    seed_catalog(store)
    store.upsert_products([product("T1", note="☃")])
    put_contracts(store, [contract(code="nightly", schedule=NIGHTLY, csv={"encoding": "cp1252"})])
    [result] = deliver_all(store, contracts=due_contracts(store)).results
    assert result["status"] == "failed" and "cp1252 cannot carry" in result["error"]
    return store


def test_a_refused_feed_is_not_retried_until_the_contract_changes(refused: Store) -> None:
    assert due_contracts(refused) == []
    [view] = schedules(refused)
    assert "refused for its data" in view.on_hold and "cp1252 cannot carry" in view.on_hold
    assert "encoding: utf-8" in view.on_hold and "pim feeds deliver --contract nightly" in view.on_hold
    put_contracts(refused, [contract(code="nightly", schedule=NIGHTLY, csv={"encoding": "utf-8"})])
    assert due_contracts(refused) == ["nightly"]
    assert [r["status"] for r in deliver_all(refused, contracts=["nightly"]).results] == ["delivered"]


def test_a_refused_feed_is_tried_again_once_the_catalog_or_structure_changes(refused: Store) -> None:
    refused.upsert_products([product("T1", note="snowman")])
    assert due_contracts(refused) == ["nightly"]
    assert deliver_all(refused, contracts=["nightly"]).results[0]["status"] == "delivered"
    refused.upsert_products([product("T2", brand="bosch", note="☃")])  # refused again; now a structure change
    assert deliver_all(refused, contracts=["nightly"]).results[0]["status"] == "failed"
    assert schedules(refused)[0].on_hold is not None
    refused.put_structure("attribute_option", [AttributeOption(attribute="color", code="green")])
    assert schedules(refused)[0].on_hold is None


def test_the_cli_shows_a_held_contract_with_its_reason_and_due_skips_it(refused: Store) -> None:
    tick = _cli("feeds", "deliver", "--due", "--json")
    assert tick.exit_code == 0, tick.output
    body = orjson.loads(tick.stdout)
    assert body["results"] == [] and body["skipped"][0]["contract"] == "nightly"
    assert body["skipped"][0]["reason"].startswith("on hold: its run of ")
    due = orjson.loads(_cli("feeds", "due", "--json").stdout)
    assert (due[0]["due"], "cp1252" in due[0]["on_hold"]) == (False, True)
    listed = orjson.loads(_cli("feeds", "list", "--json").stdout)
    assert "refused for its data" in listed[0]["on_hold"]
    text = _cli("feeds", "list")
    assert "on hold nightly: its run of" in " ".join(text.output.split())


def test_guard_a_failed_delivery_is_tried_again_at_the_next_tick(store: Store, pim_env: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """Guard (passes before the change too): SFTP down is no refusal; the next tick retries."""
    import pim.feeds as feeds

    seed_catalog(store)
    put_contracts(store, [contract(code="nightly", schedule=NIGHTLY, csv={"encoding": "cp1252"})])

    def down(*args: Any, **kwargs: Any) -> Any:
        raise DeliveryError("sftp://feeds.example.com: connection refused", retryable=True)

    monkeypatch.setattr(feeds, "deliver_contract", down)
    assert deliver_all(store, contracts=due_contracts(store)).results[0]["status"] == "failed"
    assert due_contracts(store) == ["nightly"] and schedules(store)[0].on_hold is None


# ---------------------------------------------------------------------------------------------- 3. delete
def test_feeds_delete_refuses_a_contract_a_run_is_sending_naming_it_and_force_deletes(store: Store,
                                                                                      pim_env: Path) -> None:
    seed_catalog(store)
    store_contract(store)
    assert claim(store, "acme-tools", "timer-host:4242:ab12")
    job = store.start_job("feed", "acme-tools")
    busy = _cli("feeds", "delete", "acme-tools", "--yes")
    assert busy.exit_code == 1 and isinstance(busy.exception, ContractBusy)
    said = busy.exception.describe()
    assert f"run timer-host:4242:ab12 (job {job}, since " in said and "it was not deleted" in said
    assert "pim feeds delete acme-tools --force" in said
    assert delete_contract(store, "acme-tools") is False  # the delete itself checks the claim, too
    assert len(get_contracts(store)) == 1
    forced = _cli("feeds", "delete", "acme-tools", "--yes", "--force", "--json")
    assert forced.exit_code == 0 and orjson.loads(forced.stdout)["deleted"] is True
    assert get_contracts(store) == []


# ---------------------------------------------------------------------------------------------- 4. BMEcat price for one
@pytest.mark.parametrize("pricing,lowest", [({"fallback": "list_price"}, [("1", "10.00"), ("100", "6.00")]),
                                            ({"fallback": "list_price_discount", "discount_percent": 10},
                                             [("1", "9.00"), ("100", "6.00")]),
                                            ({"fallback": "exclude"}, [("100", "6.00")])])
def test_bmecat_prices_one_piece_below_contract_tiers_as_csv_does(store: Store, tmp_path: Path,
                                                                  pricing: dict[str, Any], lowest: list[Any]) -> None:
    """T1 lists at 10.00; its contract prices 100 pieces and more. A smaller order pays the fallback (as CSV's
    `price`); without one the first tier stays the lowest bound (the customer buys at least 100)."""
    seed_catalog(store)
    put_prices(store, "cust_a", [("T1", "100", "6.00")])
    path = build_feed(store, store_contract(store, format="bmecat", pricing=pricing), out_dir(tmp_path)).path
    doc = etree.parse(str(path))
    assert etree.XMLSchema(etree.parse(str(BMECAT_DIR / "bmecat_2005_1.xsd"))).validate(doc)
    [t1] = [p for p in doc.iterfind(".//b:PRODUCT", NS) if p.findtext("b:SUPPLIER_PID", namespaces=NS) == "T1"]
    got = [(p.findtext("b:LOWER_BOUND", namespaces=NS), p.findtext("b:PRICE_AMOUNT", namespaces=NS), p.get("price_type"))
           for p in t1.iterfind(".//b:PRODUCT_PRICE", NS)]
    assert got == [(q, a, "net_list" if q == "1" else "net_customer") for q, a in lowest]  # round 34: a fallback is net_list


# ---------------------------------------------------------------------------------------------- 5. person add
def test_person_add_refuses_an_unknown_customer_before_asking_for_a_password(store: Store, pim_env: Path) -> None:
    store_contract(store, code="c0-feed", customer="cust_0000")
    added = _cli("feeds", "person", "add", "CUST_0000", "ana@cust.example", input="")
    assert isinstance(added.exception, InputError) and added.exception.exit_code == 2  # pim's main exits with it
    assert "did you mean 'cust_0000'" in str(added.exception) and "Password" not in added.output
    assert people(store) == []
    asked = _cli("feeds", "person", "add", "cust_0000", "ana@cust.example", input="a long passphrase\n" * 2)
    assert asked.exit_code == 0 and "Password" in asked.output and [p["customer"] for p in people(store)] == ["cust_0000"]
