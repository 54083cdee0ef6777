"""Search: building and serialising Meilisearch documents (budget ≥ 50k documents/s), and an incremental push of
one changed product end to end against the Meilisearch contract double (budget < 1 s).

Documents are built from an in-memory structure (two locales, facets, prices, categories) so the row measures
the builder, not the database. Baseline: orjson-serialising each product's raw value dict once per locale."""

from __future__ import annotations

import os
import random
from pathlib import Path
from typing import Any

import orjson

from benchmarks.harness import measure

SIZES = {"small": 20_000, "medium": 100_000, "large": 500_000}


def _count(profile: str) -> int:
    name, _, n = profile.partition(":")
    return int(n) if n else SIZES.get(name, 20_000)


def _structure() -> Any:
    from pim.catalog import Structure
    from pim.structure import Attribute, AttributeOption, Category, Channel, Family

    attrs = [Attribute(code="sku", type="identifier"), Attribute(code="name", type="text", localizable=True),
             Attribute(code="description", type="textarea", localizable=True, scopable=True),
             Attribute(code="brand", type="simple_select"), Attribute(code="price", type="price_collection"),
             Attribute(code="image", type="image"), Attribute(code="material", type="text", searchable=True)]
    attrs += [Attribute(code=f"facet{i}", type="simple_select", filterable=True) for i in range(6)]
    attrs += [Attribute(code="weight", type="metric", metric_family="Weight", default_unit="GRAM", filterable=True)]
    options = [AttributeOption(attribute=f"facet{i}", code=f"o{j}", labels={"en_US": f"Option {j}", "de_DE": f"Wert {j}"})
               for i in range(6) for j in range(20)]
    options += [AttributeOption(attribute="brand", code=f"b{j}", labels={"en_US": f"Brand {j}"}) for j in range(50)]
    cats = [Category(code="master")] + [Category(code=f"c{i}", parent="master", labels={"en_US": f"Cat {i}"}) for i in range(20)]
    cats += [Category(code=f"c{i}_{j}", parent=f"c{i}", labels={"en_US": f"Sub {j}", "de_DE": f"Unter {j}"})
             for i in range(20) for j in range(10)]
    fam = Family(code="f", attributes=[a.code for a in attrs], attribute_as_label="name", attribute_as_image="image")
    ch = Channel(code="ecommerce", locales=["en_US", "de_DE"], currencies=["EUR", "USD"], category_tree="master")
    return Structure.from_items({"attribute": attrs, "attribute_option": options, "category": cats,
                                 "family": [fam], "channel": [ch]})


def _products(n: int) -> list[tuple[str, list[str], dict[str, Any]]]:
    rnd = random.Random(7)
    out = []
    for i in range(n):
        values = {"name:en_US": f"Product {i}", "name:de_DE": f"Produkt {i}", "brand": f"b{i % 50}",
                  "description:en_US@ecommerce": "A sturdy thing " * 5, "description:de_DE@ecommerce": "Ein Ding " * 5,
                  "price": {"EUR": f"{rnd.uniform(1, 500):.2f}", "USD": f"{rnd.uniform(1, 500):.2f}"},
                  "image": f"img/{i}.jpg", "material": "steel", "weight": {"amount": str(i % 900), "unit": "GRAM"}}
        values.update({f"facet{k}": f"o{rnd.randrange(20)}" for k in range(6)})
        out.append((f"SKU-{i}" if i % 10 else f"SKU/{i} x", [f"c{i % 20}_{i % 10}"], values))
    return out


def _build_rows(profile: str) -> dict[str, Any]:
    from channels.search_documents import DocumentBuilder

    builder = DocumentBuilder(_structure(), "ecommerce")
    products = _products(_count(profile))
    locales = len(builder.plans)

    def build() -> int:
        size = 0
        for sku, cats, values in products:
            for doc in builder.build(sku, "f", cats, values, model=None, customers=["c1"]):
                size += len(orjson.dumps(doc))
        return len(products) * locales

    def baseline() -> None:
        for _, _, values in products:
            for _ in range(locales):
                orjson.dumps(values)

    return measure("documents build+serialise", lambda n: n, build, baseline=baseline,
                   note=f"{locales} locales; budget ≥ 50k docs/s")


def _incremental_row(workdir: Path) -> dict[str, Any]:
    from pim.settings import Settings
    from pim.store import Store
    from tests.meili_double import ServedDouble
    from tests.search_data import load_catalog, publish_search, variant

    served = ServedDouble()
    os.environ.update(MEILI_URL=served.url, MEILI_MASTER_KEY=served.master_key, MEILI_BACKOFF="0")
    try:
        settings = Settings(home=workdir / "home", database_url=f"sqlite:///{workdir / 'search.db'}")
        settings.home.mkdir(parents=True, exist_ok=True)
        store = Store.from_settings(settings)
        load_catalog(store)
        publish_search(store, workdir / "out")
        store.upsert_products([variant("HP-100-RED", "red", material="canvas")])
        row = measure("incremental push, 1 changed product (double)", 1,
                      lambda: publish_search(store, workdir / "out"), note="budget < 1 s end to end")
        store.dispose()
        return row
    finally:
        served.close()
        for k in ("MEILI_URL", "MEILI_MASTER_KEY", "MEILI_BACKOFF"):
            os.environ.pop(k, None)


def run(profile: str, workdir: Path) -> list[dict[str, Any]]:
    return [_build_rows(profile), _incremental_row(workdir)]
