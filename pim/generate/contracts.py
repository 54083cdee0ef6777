"""Generated customer contracts: one per customer (1,000 for medium and large, scaled down for smaller
profiles), assortments of roughly 1k–10k SKUs made of brand rules plus explicit SKUs and exclusions, and
contract prices with quantity tiers for part of each assortment. Deterministic for a seed."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import orjson
import yaml

from pim.generate.products import identifier

FORMATS = ("csv", "csv", "csv", "xlsx", "jsonl", "bmecat")


def customer_count(products: int) -> int:
    return max(3, min(1000, products // 50))


def write_contracts(spec: Any, seed: int, out: Path, catalog: Any) -> list[Path]:
    rng = random.Random(f"{seed}:contracts")
    folder = Path(out) / "contracts"
    folder.mkdir(parents=True, exist_ok=True)
    per_brand = max(1, spec.products // max(1, spec.brands))
    customers = customer_count(spec.products)
    contracts: list[dict[str, Any]] = []
    prices_path = folder / "contract_prices.jsonl"
    with prices_path.open("wb") as prices:
        for n in range(customers):
            customer = f"cust_{n:04d}"
            target = rng.randint(1_000, 10_000) if spec.products >= 20_000 else rng.randint(max(1, spec.products // 20), max(2, spec.products // 4))
            brands = sorted(rng.sample(range(spec.brands), k=min(spec.brands, max(1, round(target / per_brand)))))
            explicit = sorted({identifier(rng.randrange(spec.products)) for _ in range(20)})
            excluded = sorted({identifier(rng.randrange(spec.products)) for _ in range(5)})
            contracts.append(_contract(customer, rng, brands, explicit, excluded))
            for sku in explicit:
                base = rng.randint(200, 20_000) / 100
                for qty, factor in ((1, 1.0), (10, 0.95), (100, 0.9)):
                    prices.write(orjson.dumps({"customer": customer, "sku": sku, "currency": "EUR", "min_qty": str(qty),
                                               "price": f"{base * factor:.2f}", "valid_from": "2024-01-01"}) + b"\n")
    path = folder / "contracts.yaml"
    path.write_text(yaml.safe_dump({"contracts": contracts}, sort_keys=False, width=200), encoding="utf-8")
    return [path, prices_path]


def _contract(customer: str, rng: random.Random, brands: list[int], explicit: list[str], excluded: list[str]) -> dict[str, Any]:
    fmt = rng.choice(FORMATS)
    return {
        "code": f"{customer}-main", "customer": customer, "name": f"Main catalog of {customer}",
        "locale": "en_US", "currency": "EUR", "channel": "ecommerce",
        "assortment": {"skus": explicit, "rules": [{"brands": [f"brand_{b:03d}" for b in brands]}], "exclude_skus": excluded},
        "pricing": {"fallback": rng.choice(["list_price", "list_price_discount"]), "discount_percent": str(rng.choice([0, 5, 10]))},
        "fields": ["label", "brand", "ean", "weight", "color", "image", "description"],
        "format": fmt, "mode": rng.choice(["full", "delta"]),
        "delivery": {"portal": True},
        "schedule": f"{rng.randrange(60)} {rng.randrange(1, 6)} * * *",
    }
