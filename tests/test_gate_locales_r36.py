"""Round 36: the gate judges only the locales a publication writes (a catalog's `locales:`, a Google catalog's
targets), not every locale of its channel; a run judging some locales leaves the channel's stored verdict."""

from __future__ import annotations

from pathlib import Path

import pytest

from channels.declaration import ChannelCatalog
from pim.gate import decisions
from pim.pipeline import DropRefused, publish
from pim.store import Store
from tests.completeness_catalog import gate_channel, save, shoe

EN_ONLY = ChannelCatalog(code="sf_en", renderer="storefront", locales=["en_US"])


def _seeded(store: Store) -> None:
    save(store)
    store.put_structure("channel", [gate_channel(min_completeness=100)])
    store.upsert_products([shoe("en-only", **{"name:de_DE": None}), shoe("de-only", **{"name:en_US": None}),
                           shoe("both")])


def test_an_en_us_catalog_publishes_products_complete_in_en_us_only(store: Store, tmp_path: Path) -> None:
    _seeded(store)
    result = publish(store, tmp_path, channel="storefront", scope="ecommerce", options={"catalog": EN_ONLY})
    assert [Path(p).name for p in result.locations] == ["catalog.ecommerce.en_US.json"]
    assert "en-only" not in result.blocked  # its missing German name is not published anywhere
    assert result.published == 2
    # the blocked reasons still name the locale that blocks
    reasons = result.blocked["de-only"]
    assert reasons[0].startswith("completeness:en_US:") and "missing:name:en_US" in reasons
    assert all(":de_DE" not in r for r in reasons)


def test_the_whole_channel_still_judges_every_locale(store: Store, tmp_path: Path) -> None:
    _seeded(store)
    result = publish(store, tmp_path, channel="storefront", scope="ecommerce")
    assert {"en-only", "de-only"} <= set(result.blocked)
    assert any(r.startswith("completeness:de_DE:") for r in result.blocked["en-only"])


def test_a_narrowed_run_leaves_the_channels_stored_verdict(store: Store, tmp_path: Path) -> None:
    _seeded(store)
    publish(store, tmp_path, channel="storefront", scope="ecommerce")
    publish(store, tmp_path / "en", channel="storefront", scope="ecommerce", options={"catalog": EN_ONLY})
    stored = decisions(store, ["en-only"], "ecommerce")[("en-only", "ecommerce")]
    assert stored["passed"] is False and "missing:name:de_DE" in stored["reasons"]


def test_a_catalog_file_with_a_locale_subset_narrows_the_gate(store: Store, tmp_path: Path) -> None:
    _seeded(store)
    path = tmp_path / "sf_de.yaml"
    path.write_text("code: sf_de\nrenderer: storefront\nlocales: [de_DE]\n", encoding="utf-8")
    result = publish(store, tmp_path / "out", channel="storefront", scope="ecommerce", options={"catalog": str(path)})
    assert "de-only" not in result.blocked and "en-only" in result.blocked
    assert all(":en_US" not in r for r in result.blocked["en-only"])


def test_a_locale_back_in_the_catalog_is_judged_and_its_stale_file_goes(store: Store, tmp_path: Path) -> None:
    _seeded(store)
    both = ChannelCatalog(code="sf", renderer="storefront", locales=["en_US", "de_DE"])
    publish(store, tmp_path, channel="storefront", scope="ecommerce", options={"catalog": EN_ONLY})
    publish(store, tmp_path, channel="storefront", scope="ecommerce", options={"catalog": both})
    files = sorted(p.name for p in (tmp_path / "storefront").glob("catalog.*.json"))
    assert files == ["catalog.ecommerce.de_DE.json", "catalog.ecommerce.en_US.json"]
    again = publish(store, tmp_path, channel="storefront", scope="ecommerce", options={"catalog": EN_ONLY})
    assert sorted(p.name for p in (tmp_path / "storefront").glob("catalog.*.json")) == ["catalog.ecommerce.en_US.json"]
    assert "en-only" not in again.blocked


def test_google_targets_narrow_the_gate_to_their_locales(store: Store) -> None:
    from channels.framework import written_locales

    s = save(store)
    target = {"country": "US", "locale": "en_US", "currency": "USD"}
    google = ChannelCatalog(code="g", renderer="google_merchant", options={"targets": [target]})
    assert written_locales("google_merchant", {"catalog": google}, "ecommerce", s) == ["en_US"]
    assert written_locales("storefront", {"catalog": EN_ONLY}, "ecommerce", s) == ["en_US"]
    # every locale written, another scope's catalog, a renderer without catalogs: the gate judges them all
    whole = ChannelCatalog(code="w", renderer="storefront", locales=["en_US", "de_DE", "fr_FR"])
    assert written_locales("storefront", {"catalog": whole}, "ecommerce", s) is None
    other = ChannelCatalog(code="p", renderer="storefront", scope="print", locales=["en_US"])
    assert written_locales("storefront", {"catalog": other}, "ecommerce", s) is None
    assert written_locales("search", {"catalog": EN_ONLY}, "ecommerce", s) is None


def test_the_guard_still_refuses_a_catalog_emptied_by_its_own_locale(store: Store, tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    _seeded(store)
    monkeypatch.setenv("PIM_PUBLISH_DROP_MIN", "1")
    from pim.settings import reset_settings

    reset_settings()
    store.upsert_products([shoe(i, **{"name:en_US": None}) for i in ("en-only", "both")])
    with pytest.raises(DropRefused) as refused:
        publish(store, tmp_path, channel="storefront", scope="ecommerce", options={"catalog": EN_ONLY})
    assert "completeness:en_US" in str(refused.value)


# ---------------------------------------------------------------------------------------------- customer feeds
def _feed_catalog(store: Store) -> None:
    from pim.structure import Channel, Family, GateRules
    from tests.feeds_data import FAMILY_ATTRS, seed_catalog

    seed_catalog(store)  # T1…: a name in en_US only
    store.put_structure("family", [Family(code="tool", attributes=FAMILY_ATTRS, attribute_as_label="name",
                                          attribute_as_image="image", requirements={"b2b": ["name"]})])
    store.put_structure("channel", [Channel(code="b2b", locales=["en_US", "de_DE"], currencies=["EUR", "USD"],
                                            category_tree="master", gate=GateRules(min_completeness=100))])


def test_a_customer_feed_is_judged_in_its_contracts_locale(store: Store, tmp_path: Path) -> None:
    from pim.feeds import FeedRun, build_feed
    from tests.feeds_data import contract

    _feed_catalog(store)
    english = contract(code="en", assortment={"skus": ["T1"]})
    german = contract(code="de", customer="cust_b", locale="de_DE", assortment={"skus": ["T1"]})
    run = FeedRun(store)  # one run, two languages: the verdicts are not shared across locales
    feeds = {c.code: build_feed(store, c, tmp_path / c.code, run=run).path.read_text() for c in (english, german, english)}
    assert "T1" in feeds["en"]
    assert "T1" not in feeds["de"]


# ---------------------------------------------------------------------------------------------- Google, per feed
def test_google_feeds_carry_a_product_where_its_locale_is_complete(store: Store, tmp_path: Path) -> None:
    from pim.product import Product
    from tests.channel_data import ERP, complete_values, seed_products

    seed_products(store)
    values = {k: v for k, v in complete_values(sku="en-only").items() if not k.endswith(":de_DE")}
    store.upsert_products([Product(identifier="en-only", family="shoes", categories=["sneakers"], source=ERP,
                                   values=values)])
    result = publish(store, tmp_path, channel="google_merchant", scope="ecommerce")
    ids = {Path(p).name: (Path(p).read_text()) for p in result.locations}
    assert "<g:id>en-only</g:id>" in ids["feed.ecommerce.en_US.xml"]
    assert "<g:id>en-only</g:id>" not in ids["feed.ecommerce.de_DE.xml"]
    assert "en-only" in result.partly  # published, its German feed's reasons kept, naming the locale
    assert any(r.startswith("google_merchant:de_DE:completeness:de_DE:") for r in result.blocked["en-only"])
    assert not any(":en_US" in r for r in result.blocked["en-only"])
