"""Round 36: a price with more decimals than its currency's minor units (USD 13.999) is kept as typed (B2B unit
prices go below the cent), and a quality finding says what consumer channels show instead; it blocks only a
channel that names `rounded_price`, never one blocking the whole `accurate` dimension (a B2B channel)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

from pim.currencies import minor_units, shelf_price
from pim.gate import gate_stage
from pim.protocols import PublishContext
from pim.quality import assess
from pim.store import Store
from tests.completeness_catalog import gate_channel, save, shoe


def test_the_note_names_the_minor_units_and_what_a_shop_shows() -> None:
    from pim.currencies import shelf_note

    note = shelf_note("13.999", "USD")
    assert note is not None
    assert f"has {minor_units('USD')}" in note and str(shelf_price(Decimal("13.999"), "USD")) in note
    assert "13.999" in note
    assert shelf_note("13.99", "USD") is None and shelf_note("19.990", "EUR") is None  # trailing zeros: none
    assert shelf_note("1234", "JPY") is None and shelf_note("1234.5", "JPY") is not None
    assert shelf_note("11.975", "KWD") is None  # three minor units


def _stored(store: Store, block_on: list[str]) -> None:
    save(store)
    store.put_structure("channel", [gate_channel(min_completeness=0, block_on=block_on)])
    store.upsert_products([shoe("screw", price={"EUR": "0.0125", "USD": "13.999"}), shoe("plain")])


def _gate(store: Store, tmp_path: Path) -> tuple[list[str], dict[str, list[str]]]:
    ctx = PublishContext(structure=store.structure(), output_dir=tmp_path, channel="ecommerce", options={"store": store})
    return [p.identifier for p in gate_stage(store.iter_products(), ctx)], ctx.blocked


def test_a_sub_minor_price_is_kept_and_reported(store: Store) -> None:
    _stored(store, [])
    assert store.get_product("screw").values["price"] == {"EUR": "0.0125", "USD": "13.999"}  # kept as typed
    found = assess(store, store.structure(), "ecommerce", store.iter_products())
    rounded = {f.code: f.reason for f in found["screw"] if f.kind == "rounded_price"}
    assert set(rounded) == {"rounded_price:price:EUR", "rounded_price:price:USD"}
    assert "USD has 2" in rounded["rounded_price:price:USD"]
    assert not [f for f in found["plain"] if f.kind == "rounded_price"]


def test_it_blocks_only_a_channel_that_names_it(store: Store, tmp_path: Path) -> None:
    _stored(store, ["accurate", "conflict"])  # a B2B channel: its sub-cent contract prices go out
    assert _gate(store, tmp_path) == (["screw", "plain"], {})
    store.put_structure("channel", [gate_channel(min_completeness=0, block_on=["rounded_price"])])
    passed, blocked = _gate(store, tmp_path)
    assert passed == ["plain"]
    assert blocked == {"screw": ["rounded_price:price:EUR", "rounded_price:price:USD"]}
