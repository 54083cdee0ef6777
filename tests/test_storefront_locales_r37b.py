"""Round 37: the storefront writes a product into each locale file where the gate passes it and leaves it out,
with its reason, only from those where it fails (as Google's feeds do since round 36): complete in en_US but
missing its German copy, a product is in the en_US file, counts as published (partly blocked) for the job and
the publish guard, and links to it are written in the en_US file only. Products passing everywhere are written
byte for byte as before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from channels import storefront
from pim import gate
from pim import publish_baseline as baseline
from pim.pipeline import publish
from pim.product import Association, Product
from pim.settings import reset_settings
from pim.store import Store
from tests.channel_data import ERP, complete_values, seed_structure

SCOPE = "ecommerce"
EN, DE = f"catalog.{SCOPE}.en_US.json", f"catalog.{SCOPE}.de_DE.json"


def _shoe(identifier: str, german: bool = True, english: bool = True, links: list[str] | None = None,
          **extra: Any) -> Product:
    left_out = ([] if german else [":de_DE"]) + ([] if english else [":en_US"])
    values = {k: v for k, v in complete_values(sku=identifier, **extra).items()
              if not any(k.split("@")[0].endswith(locale) for locale in left_out)}
    return Product(identifier=identifier, family="shoes", categories=["shoes"], source=ERP, values=values,
                   associations={"X_SELL": Association(products=links)} if links else {})


def _docs(out: Path, name: str) -> dict[str, dict[str, Any]]:
    return {p["identifier"]: p for p in orjson.loads((out / "storefront" / name).read_bytes())["products"]}


def _publish(store: Store, out: Path, **kw: Any) -> Any:
    return publish(store, out, channel="storefront", scope=SCOPE, **kw)


def test_a_product_missing_its_german_copy_is_in_the_english_file_only(store: Store, tmp_path: Path) -> None:
    seed_structure(store)
    store.upsert_products([_shoe("both"), _shoe("en-only", german=False), _shoe("de-only", english=False)])
    result = _publish(store, tmp_path)
    assert set(_docs(tmp_path, EN)) == {"both", "en-only"}
    assert set(_docs(tmp_path, DE)) == {"both", "de-only"}
    assert result.published == 3 and result.partly == {"en-only", "de-only"}
    # the reasons name only the locale each is left out of
    assert any(r.startswith("completeness:de_DE:") for r in result.blocked["en-only"])
    assert not any(":en_US" in r for r in result.blocked["en-only"])
    assert any(r.startswith("completeness:en_US:") for r in result.blocked["de-only"])
    counts = store.job(result.job_id)["counts"]
    assert (counts["published"], counts["blocked"], counts["partly_blocked"]) == (3, 0, 2)
    assert {Path(a.name).name: a.rows for a in result.artifacts} == {EN: 2, DE: 2}


def test_a_product_failing_in_every_locale_is_blocked_not_partly(store: Store, tmp_path: Path) -> None:
    seed_structure(store)
    store.upsert_products([_shoe("both"), _shoe("neither", german=False, english=False)])
    result = _publish(store, tmp_path)
    assert result.published == 1 and not result.partly and "neither" in result.blocked
    assert store.job(result.job_id)["counts"]["blocked"] == 1
    assert "neither" not in _docs(tmp_path, EN) and "neither" not in _docs(tmp_path, DE)


def test_products_passing_everywhere_are_written_byte_for_byte_as_before(store: Store, tmp_path: Path) -> None:
    """The files with a product in one locale only are the files of a catalog where it is complete, less that
    product's document in the other locale: nothing else in them moves."""
    seed_structure(store)
    store.upsert_products([_shoe("a", links=["en-only"]), _shoe("en-only", german=False), _shoe("z")])
    _publish(store, tmp_path / "partly")
    store.upsert_products([_shoe("en-only")])  # complete in both now
    _publish(store, tmp_path / "complete")
    assert (tmp_path / "partly" / "storefront" / EN).read_bytes() == \
        (tmp_path / "complete" / "storefront" / EN).read_bytes()
    store.delete_products(["en-only"])
    store.upsert_products([_shoe("a")])  # what the German file holds without en-only: no product, no link to it
    _publish(store, tmp_path / "without")
    assert (tmp_path / "partly" / "storefront" / DE).read_bytes() == \
        (tmp_path / "without" / "storefront" / DE).read_bytes()


@pytest.mark.parametrize("one_by_one", [False, True], ids=["chunked", "one-by-one"])
def test_links_to_a_product_name_it_only_in_the_files_that_hold_it(store: Store, tmp_path: Path, one_by_one: bool,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    if one_by_one:  # a link's target is judged before the stream reaches it (pim.pipeline.PublishedTargets)
        monkeypatch.setattr(gate, "BATCH", 1)
        monkeypatch.setattr(storefront, "CHUNK", 1)
    seed_structure(store)
    store.upsert_products([_shoe("a", links=["en-only", "b"]), _shoe("en-only", german=False),
                           _shoe("b", links=["en-only"])])
    result = _publish(store, tmp_path)
    en, de = _docs(tmp_path, EN), _docs(tmp_path, DE)
    assert en["a"]["associations"] == {"X_SELL": ["en-only", "b"]}
    assert en["a"]["related"] == {"cross_sell": ["en-only", "b"]}
    assert de["a"]["associations"] == {"X_SELL": ["b"]} and de["a"]["related"] == {"cross_sell": ["b"]}
    assert en["b"]["associations"] == {"X_SELL": ["en-only"]} and de["b"]["associations"] == {}
    assert result.dropped_links == 0  # every link is in some file


def test_a_product_the_storefront_blocks_itself_keeps_the_gates_reasons_too(store: Store, tmp_path: Path) -> None:
    seed_structure(store)
    store.upsert_products([_shoe("both"), _shoe("free", german=False, price={"EUR": "0.00", "USD": "0.00"})])
    result = _publish(store, tmp_path)
    assert result.published == 1 and not result.partly
    reasons = result.blocked["free"]
    assert "storefront:EUR:invalid:price:0" in reasons and any(r.startswith("completeness:de_DE:") for r in reasons)
    assert "free" not in _docs(tmp_path, EN)


def test_products_in_some_locale_files_are_published_for_the_guard(store: Store, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIM_PUBLISH_DROP_MIN", "3")
    reset_settings()
    seed_structure(store)
    store.upsert_products([_shoe(f"p{i}") for i in range(10)])
    _publish(store, tmp_path)
    store.upsert_products([_shoe(f"p{i}", german=False) for i in range(8)])  # a German copy gone for most
    again = _publish(store, tmp_path)  # still in the English file: nothing leaves the channel
    assert again.published == 10 and len(again.partly) == 8
    assert set(_docs(tmp_path, EN)) == {f"p{i}" for i in range(10)} and set(_docs(tmp_path, DE)) == {"p8", "p9"}
    from sqlalchemy import select

    with store.engine.connect() as conn:
        blob = conn.execute(select(baseline.BASELINE.c.identifiers)).scalar()
    assert sorted(baseline.identifiers(blob)) == [f"p{i}" for i in range(10)]
