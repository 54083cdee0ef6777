"""Round 33 (FX9): a stock reading that does not state ATP keeps the ATP stored for the same reading time, the
generated ERP sources agree with each other so a rerun of all four settles, and an unknown quality reason in
the product list is refused instead of answering an empty page."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select

from pim.commerce import STOCK, StockLevel, put_stock
from pim.store import Store

pytestmark = pytest.mark.backends("sqlite")
AT = datetime(2026, 3, 1, 6, tzinfo=UTC)


@pytest.fixture(scope="module")
def store(sqlite_template: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    path = tmp_path_factory.mktemp("stock_r33") / "pim.db"
    shutil.copyfile(sqlite_template, path)
    s = Store(f"sqlite:///{path}")
    yield s
    s.dispose()


def _stored(store: Store, sku: str) -> tuple[Decimal, Decimal | None]:
    with store.engine.connect() as conn:
        q, atp = conn.execute(select(STOCK.c.quantity, STOCK.c.atp).where(STOCK.c.sku == sku)).one()
    return Decimal(q), None if atp is None else Decimal(atp)


def _level(sku: str, quantity: int, atp: int | None, at: datetime = AT) -> StockLevel:
    return StockLevel(sku=sku, warehouse="HH01", quantity=quantity, atp=atp, updated_at=at)


def test_a_reading_without_atp_at_the_same_time_keeps_the_stored_atp(store: Store) -> None:
    """The CSV's 54/54 then MATMAS's 54/— of the same time: the same reading restated, nothing written."""
    assert put_stock(store, [_level("R1", 54, 54)]) == 1
    assert put_stock(store, [_level("R1", 54, None)]) == 0
    assert _stored(store, "R1") == (Decimal(54), Decimal(54))


def test_a_reading_without_atp_at_the_same_time_updates_the_quantity_only(store: Store) -> None:
    put_stock(store, [_level("R2", 54, 50)])
    assert put_stock(store, [_level("R2", 481, None)]) == 1
    assert _stored(store, "R2") == (Decimal(481), Decimal(50))


def test_readings_of_one_time_in_one_call_merge_the_same_way(store: Store) -> None:
    assert put_stock(store, [_level("R3", 54, 54), _level("R3", 60, None)]) == 1
    assert _stored(store, "R3") == (Decimal(60), Decimal(54))


def test_a_newer_reading_without_atp_replaces_the_whole_reading(store: Store) -> None:
    """Guard (passes before the change too): an older reading's ATP says nothing of a newer quantity."""
    put_stock(store, [_level("R4", 54, 54)])
    assert put_stock(store, [_level("R4", 10, None, datetime(2026, 3, 1, 7, tzinfo=UTC))]) == 1
    assert _stored(store, "R4") == (Decimal(10), None)


def test_the_generated_erp_sources_settle_on_a_second_run(pim_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Products, prices, stock, then MATMAS, twice: the second run writes nothing (the IDocs' prices and stock
    are the CSVs', their stock without ATP at the CSV readings' times)."""
    import pim.demo as demo
    from pim.demo_sources import step_sources

    monkeypatch.setattr(demo, "DEMO_STEPS", demo.DEMO_STEPS[:4])
    run = demo.run_demo("tiny:40", 5)
    try:
        first = _step(run, "import ERP, content and supplier sources")
        assert first["erp stock"].startswith("80 updated") and first["erp xml"] == "0 updated, 4 unchanged, 0 rejected"
        again = step_sources(run)
        for name in ("erp products", "erp prices", "erp stock", "erp xml"):
            assert again[name].startswith("0 updated"), (name, again[name])
        with run.store.engine.connect() as conn:
            assert conn.execute(select(STOCK.c.sku).where(STOCK.c.atp.is_(None))).first() is None
    finally:
        run.store.dispose()


def _step(run: object, title: str) -> dict:
    return next(summary for t, _, _, summary in run.results if t == title)  # type: ignore[attr-defined]


def test_an_unknown_quality_reason_in_the_product_list_is_refused(sqlite_template: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    from pim.settings import reset_settings
    from pim.web.accounts import add_user, create_token
    from pim.web.app import create_app
    from tests.channel_data import seed_structure
    from tests.test_api_errors import by_field

    shutil.copyfile(sqlite_template, tmp_path / "pim.db")
    monkeypatch.setenv("PIM_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("PIM_DATABASE_URL", f"sqlite:///{tmp_path / 'pim.db'}")
    monkeypatch.setattr("pim.web.accounts.HASH_PARAMS", {"time_cost": 1, "memory_cost": 1024, "parallelism": 1})
    reset_settings()
    s = Store.from_settings(migrate_now=False)
    try:
        seed_structure(s)  # ecommerce: min_completeness 100, block_on none
        headers = {"Authorization": f"Bearer {create_token(s, add_user(s, 'vi', 'correct horse', 'viewer'))}"}
        client = TestClient(create_app(s))
        wrong = client.get("/api/v1/products?quality=incomplete", headers=headers)
        assert wrong.status_code == 422
        said = by_field(wrong)["query.quality"]
        assert "no quality reason 'incomplete' on channel 'ecommerce'" in said
        assert "completeness, missing, no_family" in said and "block_on" in said
        for known in ("completeness", "completeness:en_US", "missing:description"):
            assert client.get(f"/api/v1/products?quality={known}", headers=headers).status_code == 200, known
    finally:
        s.dispose()
        reset_settings()
