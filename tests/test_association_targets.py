"""Association targets against the catalog: the storefront links only to products the same publish writes,
the publish counts the links it left out, and quality names targets no product has (a typo), without the
import refusing them (the target may come with a later import)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from pim.gate import decisions
from pim.pipeline import PublishedTargets, publish
from pim.product import Association, Product, ProductModel, Provenance
from pim.protocols import PublishContext
from pim.quality import assess
from pim.store import Store
from pim.structure import GateRules

SRC = Provenance(source="test", at=datetime(2026, 1, 1, tzinfo=UTC))


def drill(identifier: str, **extra: Any) -> Product:
    """A drill that passes the ecommerce gate of tests/data/structure (min_completeness 100)."""
    values = {"sku": identifier, "name:en_US": f"Drill {identifier}", "name:de_DE": f"Bohrer {identifier}",
              "description:en_US@ecommerce": "Strong", "description:de_DE@ecommerce": "Stark",
              "weight": {"amount": "1.2", "unit": "KILOGRAM"}, "price": {"EUR": "99.00", "USD": "109.00"}}
    return Product(identifier=identifier, family="drills", categories=["drills"], values=values, source=SRC, **extra)


def seed(store: Store, links: list[str], *, later: list[Product] | None = None) -> None:
    """`ok` (published), `off` (disabled), `half` (fails the gate: no description, weight or price), then
    `main` linking to `links` as X_SELL and ACCESSORY, then `later` (stored after `main`)."""
    half = Product(identifier="half", family="drills", values={"sku": "half", "name:en_US": "Half"}, source=SRC)
    store.upsert_products([drill("ok"), drill("off", enabled=False), half])
    store.upsert_products([drill("main", associations={"X_SELL": Association(products=links),
                                                        "ACCESSORY": Association(products=links[:1])})])
    if later:
        store.upsert_products(later)


def products_of(result: Any, locale: str = "en_US") -> dict[str, dict[str, Any]]:
    path = next(p for p in result.locations if p.endswith(f"{locale}.json"))
    return {p["identifier"]: p for p in orjson.loads(Path(path).read_bytes())["products"]}


def test_storefront_links_only_to_products_the_same_publish_writes(tiny_store: Store, tmp_path: Path) -> None:
    seed(tiny_store, ["ok", "NOPE-1", "off", "half"])
    result = publish(tiny_store, tmp_path, channel="storefront", scope="ecommerce")
    for locale in ("en_US", "de_DE"):
        main = products_of(result, locale)["main"]
        assert main["associations"] == {"X_SELL": ["ok"], "ACCESSORY": ["ok"]}
        assert main["related"] == {"cross_sell": ["ok"], "accessory": ["ok"]}
    assert set(products_of(result)) == {"ok", "main"}


def test_targets_stored_after_the_linking_product_are_judged_like_it(tiny_store: Store, tmp_path: Path) -> None:
    """Targets the stream has not reached yet are read and put through the stages (enabled, gate) then."""
    late_half = Product(identifier="late-half", family="drills", values={"sku": "late-half"}, source=SRC)
    seed(tiny_store, ["late-ok", "late-off", "late-half"],
         later=[drill("late-ok"), drill("late-off", enabled=False), late_half])
    ctx = PublishContext(structure=tiny_store.structure(), output_dir=tmp_path, channel="ecommerce",
                         options={"store": tiny_store})
    targets = PublishedTargets(tiny_store, ctx)
    [main] = targets.trimmed([tiny_store.get_product("main")])
    assert main.associations["X_SELL"].products == ["late-ok"]
    assert (targets.dropped, ctx.blocked) == (2, {})  # the targets' own verdicts are not this run's report


def test_a_forgotten_verdict_is_decided_again(tiny_store: Store, tmp_path: Path) -> None:
    seed(tiny_store, ["ok", "half"])
    ctx = PublishContext(structure=tiny_store.structure(), output_dir=tmp_path, channel="ecommerce",
                         options={"store": tiny_store})
    targets = PublishedTargets(tiny_store, ctx, keep=0)  # remembers nothing across chunks
    main = tiny_store.get_product("main")
    first, second = targets.trimmed([main]), targets.trimmed([main])
    assert first[0].associations["X_SELL"].products == second[0].associations["X_SELL"].products == ["ok"]


def test_publish_counts_the_links_it_left_out(tiny_store: Store, tmp_path: Path) -> None:
    seed(tiny_store, ["ok", "NOPE-1", "off", "half"])
    result = publish(tiny_store, tmp_path, channel="storefront", scope="ecommerce")
    assert result.dropped_links == 3  # counted once per product, not per locale file
    assert result.dropped_link_examples == ["main → NOPE-1 (X_SELL)", "main → off (X_SELL)", "main → half (X_SELL)"]
    assert result.summary()["dropped_links"] == 3
    assert tiny_store.job(result.job_id)["counts"]["dropped_links"] == 3


def test_a_pack_keeps_quantities_only_for_published_targets(tiny_store: Store, tmp_path: Path) -> None:
    seed(tiny_store, ["ok"])
    tiny_store.upsert_products([drill("kit", associations={"PACK": Association(
        products=["ok", "NOPE-2"], quantities={"ok": 2, "NOPE-2": 5})})])
    ctx = PublishContext(structure=tiny_store.structure(), output_dir=tmp_path, channel="ecommerce",
                         options={"store": tiny_store})
    [kit] = PublishedTargets(tiny_store, ctx).trimmed([tiny_store.get_product("kit")])
    assert (kit.associations["PACK"].products, kit.associations["PACK"].quantities) == (["ok"], {"ok": 2})


def test_quality_names_the_association_type_and_the_unknown_targets(tiny_store: Store) -> None:
    seed(tiny_store, ["ok", "NOPE-1", "off", "half"])
    found = assess(tiny_store, tiny_store.structure(), "ecommerce", [tiny_store.get_product("main")])["main"]
    unknown = [f for f in found if f.kind == "unknown_association"]
    assert [(f.code, f.dimension) for f in unknown] == [("unknown_association:X_SELL:NOPE-1", "valid")]
    assert unknown[0].reason == "X_SELL links to NOPE-1, which is not in the catalog"


def test_quality_checks_product_model_targets(tiny_store: Store) -> None:
    tiny_store.upsert_models([ProductModel(code="tee", family_variant="shirts_color_size", source=SRC)])
    tiny_store.upsert_products([drill("main", associations={"UPSELL": Association(product_models=["tee", "tea"])})])
    found = assess(tiny_store, tiny_store.structure(), "ecommerce", [tiny_store.get_product("main")],
                   kinds=["unknown_association"])
    assert [f.code for f in found["main"]] == ["unknown_association:UPSELL:model:tea"]


def test_quality_names_ten_unknown_targets_and_counts_the_rest(tiny_store: Store) -> None:
    links = [f"NOPE-{i:02}" for i in range(12)]
    tiny_store.upsert_products([drill("main", associations={"X_SELL": Association(products=links)})])
    found = assess(tiny_store, tiny_store.structure(), "ecommerce", [tiny_store.get_product("main")],
                   kinds=["unknown_association"])["main"]
    assert [f.detail for f in found] == links[:10] + ["+2 more"]


def test_a_channel_blocking_on_unknown_links_stores_the_reason(tiny_store: Store, tmp_path: Path) -> None:
    """The gate decision is what the product page, the grid's quality filter and the dashboard show."""
    channel = tiny_store.structure().channels["ecommerce"]
    tiny_store.put_structure("channel", [channel.model_copy(update={
        "gate": GateRules(min_completeness=100, block_on=["unknown_association"])})])
    seed(tiny_store, ["ok", "NOPE-1", "off"])
    result = publish(tiny_store, tmp_path, channel="storefront", scope="ecommerce")
    assert result.blocked["main"] == ["unknown_association:X_SELL:NOPE-1"]
    assert decisions(tiny_store, ["main"], "ecommerce")[("main", "ecommerce")]["reasons"] == [
        "unknown_association:X_SELL:NOPE-1"]


def test_a_target_imported_later_is_linked_then(tiny_store: Store, tmp_path: Path) -> None:
    seed(tiny_store, ["ok", "NEW-1"])
    assert tiny_store.get_product("main").associations["X_SELL"].products == ["ok", "NEW-1"]  # kept as given
    first = publish(tiny_store, tmp_path, channel="storefront", scope="ecommerce")
    assert products_of(first)["main"]["associations"]["X_SELL"] == ["ok"]
    tiny_store.upsert_products([drill("NEW-1")])
    second = publish(tiny_store, tmp_path, channel="storefront", scope="ecommerce")
    assert products_of(second)["main"]["associations"]["X_SELL"] == ["ok", "NEW-1"]
    assert assess(tiny_store, tiny_store.structure(), "ecommerce", [tiny_store.get_product("main")],
                  kinds=["unknown_association"]) == {"main": []}


def test_the_storefront_judges_targets_the_stream_has_not_reached(tiny_store: Store, tmp_path: Path,
                                                                  monkeypatch: Any) -> None:
    """As in a large catalog, where `main` is written before the gate has seen the products it links to."""
    monkeypatch.setattr("pim.gate.BATCH", 1)
    monkeypatch.setattr("channels.storefront.CHUNK", 1)
    late_half = Product(identifier="late-half", family="drills", values={"sku": "late-half"}, source=SRC)
    seed(tiny_store, ["late-ok", "late-off", "late-half", "NOPE-1"],
         later=[drill("late-ok"), drill("late-off", enabled=False), late_half])
    result = publish(tiny_store, tmp_path, channel="storefront", scope="ecommerce")
    assert products_of(result)["main"]["related"] == {"cross_sell": ["late-ok"], "accessory": ["late-ok"]}
    assert (result.dropped_links, sorted(result.blocked)) == (3, ["half", "late-half", "late-off", "off"])


def test_pim_publish_prints_the_links_it_left_out(tiny_store: Store, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pim.cli import _mount, app

    _mount()
    seed(tiny_store, ["ok", "NOPE-1"])
    result = CliRunner().invoke(app, ["publish", "--channel", "storefront", "--scope", "ecommerce"])
    assert result.exit_code == 0, result.output
    assert "association links left out" in result.output and "main → NOPE-1 (X_SELL)" in result.output
