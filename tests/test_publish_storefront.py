"""`pim publish` on the storefront channel: one JSON file per locale, category tree, inherited variant values."""

from datetime import UTC, datetime
from pathlib import Path

import orjson

from pim.pipeline import publish
from pim.product import Association, Product, ProductModel, Provenance
from pim.store import Store

SRC = Provenance(source="test", at=datetime(2026, 1, 1, tzinfo=UTC))


def _seed(store: Store) -> None:
    store.upsert_models([ProductModel(code="tee", family_variant="shirts_color_size", categories=["tools"],
                                      values={"name:en_US": "Tee", "name:de_DE": "T-Shirt", "price": {"EUR": "10.00", "USD": "12.00"}}, source=SRC)])
    store.upsert_models([ProductModel(code="tee_red", parent="tee", family_variant="shirts_color_size", values={"color": "red"}, source=SRC)])
    store.upsert_products([
        Product(identifier="tee_red_s", family="shirts", parent="tee_red", values={"sku": "tee_red_s", "size": "s"}, source=SRC),
        Product(identifier="drill-1", family="drills", categories=["drills", "print_tree"], source=SRC,
                values={"sku": "drill-1", "name:en_US": "Drill", "name:de_DE": "Bohrer", "color": "blue",
                        "description:en_US@ecommerce": "Strong", "description:de_DE@ecommerce": "Stark",
                        "weight": {"amount": "1.2", "unit": "KILOGRAM"}, "price": {"EUR": "99.00", "USD": "109.00"}},
                associations={"ACCESSORY": Association(products=["tee_red_s"])}),
        Product(identifier="off", family="drills", enabled=False, values={"sku": "off"}, source=SRC),
        Product(identifier="half", family="drills", values={"sku": "half", "name:en_US": "Half"}, source=SRC),
    ])


def _read(path: str) -> dict:
    return orjson.loads(Path(path).read_bytes())


def test_one_file_per_locale_with_tree_and_enabled_products(tiny_store: Store, tmp_path: Path) -> None:
    _seed(tiny_store)
    result = publish(tiny_store, tmp_path, channel="storefront", scope="ecommerce")
    assert sorted(Path(p).name for p in result.locations) == ["catalog.ecommerce.de_DE.json", "catalog.ecommerce.en_US.json"]
    en = _read(next(p for p in result.locations if "en_US" in p))
    assert en["category_tree"]["children"][0]["code"] == "tools"
    assert [p["identifier"] for p in en["products"]] == ["tee_red_s", "drill-1"]
    assert result.blocked["off"] == ["disabled"]
    assert any(r.startswith("completeness:en_US:") for r in result.blocked["half"])  # the gate keeps its reasons
    assert set(result.blocked) == {"off", "half"}


def test_values_are_localized_and_variants_inherit(tiny_store: Store, tmp_path: Path) -> None:
    _seed(tiny_store)
    result = publish(tiny_store, tmp_path, channel="storefront", scope="ecommerce")
    de = {p["identifier"]: p for p in _read(next(p for p in result.locations if "de_DE" in p))["products"]}
    assert de["drill-1"]["label"] == "Bohrer"
    assert de["drill-1"]["attributes"]["color"] == {"code": "blue", "label": "Blau"}
    assert de["drill-1"]["attributes"]["description"] == "Stark"
    assert de["drill-1"]["categories"] == ["drills"]  # print_tree is another channel's tree
    assert de["tee_red_s"]["label"] == "T-Shirt" and de["tee_red_s"]["attributes"]["color"]["code"] == "red"
    assert de["tee_red_s"]["prices"] == {"EUR": "10.00", "USD": "12.00"}
    assert de["drill-1"]["associations"] == {"ACCESSORY": ["tee_red_s"]}


def test_publish_is_recorded_as_a_job_and_leaves_no_staging(tiny_store: Store, tmp_path: Path) -> None:
    _seed(tiny_store)
    result = publish(tiny_store, tmp_path, channel="storefront", scope="print")
    job = tiny_store.job(result.job_id)
    assert job["status"] == "succeeded" and job["counts"]["published"] == 2  # print needs no weight: half lacks price
    assert not any((tmp_path / ".staging").rglob("*.json"))


def test_a_failing_render_keeps_the_previous_catalog(tiny_store: Store, tmp_path: Path, monkeypatch) -> None:
    _seed(tiny_store)
    first = publish(tiny_store, tmp_path, channel="storefront", scope="ecommerce")
    before = Path(first.locations[0]).read_bytes()
    import channels.storefront as sf

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(sf, "product_document", boom)
    try:
        publish(tiny_store, tmp_path, channel="storefront", scope="ecommerce")
    except RuntimeError:
        pass
    assert Path(first.locations[0]).read_bytes() == before
    assert tiny_store.jobs("publish")[0]["status"] == "failed"
