from datetime import UTC, datetime

from pim.product import Product, ProductModel, Provenance
from pim.store import Store
from pim.structure import Attribute

SRC = Provenance(source="test", ref="t:1", at=datetime(2026, 1, 1, tzinfo=UTC))


def _product(i: int, **extra) -> Product:
    return Product(identifier=f"sku-{i}", family="f", values={"name:en_US": f"N{i}", **extra}, source=SRC)


def test_upsert_creates_then_skips_unchanged(store: Store) -> None:
    first = store.upsert_products(_product(i) for i in range(50))
    again = store.upsert_products(_product(i) for i in range(50))
    assert (first.created, first.updated, first.unchanged) == (50, 0, 0)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 50)
    assert store.count_products() == 50


def test_changed_value_updates_and_advances_seq(store: Store) -> None:
    store.upsert_products([_product(1), _product(2)])
    before = store.current_seq()
    counts = store.upsert_products([_product(1, weight={"amount": "2", "unit": "KILOGRAM"}), _product(2)])
    assert (counts.updated, counts.unchanged) == (1, 1)
    changed = [p.identifier for p in store.iter_products(since_seq=before)]
    assert changed == ["sku-1"]
    assert store.get_product("sku-1").values["weight"] == {"amount": "2", "unit": "KILOGRAM"}


def test_provenance_round_trips(store: Store) -> None:
    other = Provenance(source="erp", ref="erp.csv:3", at=datetime(2026, 2, 1, tzinfo=UTC))
    p = _product(1, price={"EUR": "9.99"})
    p.provenance["price"] = other
    store.upsert_products([p])
    back = store.get_product("sku-1")
    assert back.provenance_of("price") == other
    assert back.provenance_of("name:en_US") == SRC


def test_delete_leaves_a_tombstone_for_incremental_exports(store: Store) -> None:
    store.upsert_products([_product(1), _product(2)])
    mark = store.current_seq()
    assert store.delete_products(["sku-1", "nope"]) == 1
    assert store.deleted_since(mark) == ["sku-1"]
    assert store.get_product("sku-1") is None


def test_model_change_marks_its_variants_changed(store: Store) -> None:
    store.upsert_models([ProductModel(code="m1", family_variant="fv", values={"name": "M"}, source=SRC)])
    store.upsert_products([Product(identifier="v1", parent="m1", values={"size": "s"}, source=SRC)])
    mark = store.current_seq()
    store.upsert_models([ProductModel(code="m1", family_variant="fv", values={"name": "M2"}, source=SRC)])
    assert [p.identifier for p in store.iter_products(since_seq=mark)] == ["v1"]
    assert [m.code for m in store.ancestors(store.get_product("v1"))] == ["m1"]


def test_structure_round_trips(store: Store) -> None:
    store.put_structure("attribute", [Attribute(code="sku", type="identifier"), Attribute(code="name", type="text", localizable=True)])
    s = store.structure()
    assert set(s.attributes) == {"sku", "name"} and s.identifier_attribute == "sku"


def test_every_structure_write_moves_the_version_the_caches_key_on(store: Store) -> None:
    from pim.store.store import structure_version
    from pim.structure_cache import cached_structure

    def version() -> int:
        with store.engine.connect() as conn:
            return structure_version(conn)

    def cached():  # type: ignore[no-untyped-def]
        with store.engine.connect() as conn:
            return cached_structure(conn)

    start = version()
    store.put_structure("attribute", [Attribute(code="sku", type="identifier")])
    after_put = version()
    assert after_put > start and set(cached().attributes) == {"sku"}
    # the same count of rows, rewritten: a count + newest-time key could miss it, the version cannot
    store.put_structure("attribute", [Attribute(code="sku", type="identifier", group="erp")])
    assert version() > after_put and cached().attributes["sku"].group == "erp"
    assert store.delete_structure("attribute", "sku")
    assert cached().attributes == {}


def test_quarantine_keeps_location_and_raw_row(store: Store) -> None:
    from pim.store.store import QuarantineEntry

    job = store.start_job("import", "x.csv")
    store.quarantine(job, [QuarantineEntry(reason="bad", file="x.csv", line=3, field="price", raw={"a": "1"}, record_key="k", source="csv")])
    rows = store.quarantined(job)
    assert [(r["file"], r["line"], r["field"], r["reason"], r["raw"]) for r in rows] == [("x.csv", 3, "price", "bad", {"a": "1"})]
    assert store.resolve_quarantine("csv", ["k"]) == 1
    assert store.quarantined(job) == []


def test_a_value_changing_source_is_written_but_a_new_timestamp_is_not(store: Store) -> None:
    store.upsert_products([_product(1)])
    later = Provenance(source="test", ref="t:99", at=datetime(2026, 3, 1, tzinfo=UTC))
    same = _product(1)
    same.source = later
    assert store.upsert_products([same]).unchanged == 1  # same data, same source: skipped
    moved = _product(1)
    moved.provenance["name:en_US"] = Provenance(source="content", at=datetime(2026, 3, 1, tzinfo=UTC))
    assert store.upsert_products([moved]).updated == 1  # the value now comes from another source
    assert store.get_product("sku-1").provenance_of("name:en_US").source == "content"


def test_a_stock_change_marks_the_product_changed_for_incremental_exports(store: Store) -> None:
    from decimal import Decimal

    from pim.commerce import StockLevel, put_stock

    store.upsert_products([_product(1), _product(2)])
    at = datetime(2026, 5, 1, tzinfo=UTC)
    put_stock(store, [StockLevel(sku="sku-1", quantity=Decimal(5), updated_at=at)])
    mark = store.current_seq()
    put_stock(store, [StockLevel(sku="sku-1", quantity=Decimal(5), updated_at=at)])  # same reading: nothing
    assert [p.identifier for p in store.iter_products(since_seq=mark)] == []
    put_stock(store, [StockLevel(sku="sku-1", quantity=Decimal(0), updated_at=at),
                      StockLevel(sku="sku-2", warehouse="north", quantity=Decimal(3), updated_at=at)])
    assert [p.identifier for p in store.iter_products(since_seq=mark)] == ["sku-1", "sku-2"]


def test_a_rolled_back_structure_write_leaves_no_version_the_next_write_reuses(store: Store) -> None:
    """A cache that saw the version inside a write that then failed must not take a later write's version for
    the same one."""
    import pytest

    from pim.store.store import structure_version

    store.put_structure("attribute", [Attribute(code="sku", type="identifier")])
    seen_inside: list[int] = []

    def fails(conn, kind, before, after):  # a listener that reads the version, then the write fails
        seen_inside.append(structure_version(conn))
        raise RuntimeError("listener failed")

    store.structure_listeners.append(fails)
    with pytest.raises(RuntimeError):
        store.put_structure("attribute", [Attribute(code="sku", type="identifier", group="a")])
    store.structure_listeners.remove(fails)
    store.put_structure("attribute", [Attribute(code="sku", type="identifier", group="b")])
    with store.engine.connect() as conn:
        assert structure_version(conn) != seen_inside[0]
