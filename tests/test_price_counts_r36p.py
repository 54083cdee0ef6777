"""Round 36 (P2): a price load counts entries under keys never stored as created and only changed ones as
updated (`pim feeds prices`, ERP price lists, complete or not); an unchanged entry stays unchanged."""

from __future__ import annotations

import json
from pathlib import Path

from importers.erp_csv import ErpCsvMap, import_erp_csv
from pim.commerce import PriceListEntry, put_price_list
from pim.store import Store


def _jsonl(path: Path, *rows: dict[str, str]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _entry(price: str, min_qty: str = "7") -> dict[str, str]:
    return {"customer": "acme", "sku": "P0000017", "currency": "EUR", "min_qty": min_qty, "price": price,
            "valid_from": "2025-01-01"}


def test_feeds_prices_counts_new_keys_as_created(store: Store, pim_env: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pim.cli import _mount, app

    _mount()
    runner = CliRunner()

    def load(*rows: dict[str, str]) -> dict[str, int]:
        result = runner.invoke(app, ["feeds", "prices", str(_jsonl(tmp_path / "p.jsonl", *rows)), "--json"])
        assert result.exit_code == 0, result.output
        body = json.loads(result.stdout)
        return {k: body[k] for k in ("created", "updated", "unchanged")}

    assert load(_entry("5.00")) == {"created": 1, "updated": 0, "unchanged": 0}
    assert load(_entry("4.00"), _entry("3.00", min_qty="20")) == {"created": 1, "updated": 1, "unchanged": 0}
    assert load(_entry("4.00"), _entry("3.00", min_qty="20")) == {"created": 0, "updated": 0, "unchanged": 2}


def test_erp_price_lists_count_created_and_updated(store: Store, tmp_path: Path) -> None:
    m = ErpCsvMap(kind="price_list", delimiter=";", decimal=",", sku_column="Material",
                  columns={"Kunde": "customer", "Menge": "min_qty", "Preis": "price"}, defaults={"currency": "EUR"})
    path = tmp_path / "prices.csv"
    path.write_text("Kunde;Material;Menge;Preis\nC1;A1;1;10,50\nC1;A1;100;9,00\n")
    first = import_erp_csv(path, store, m)
    assert (first.created, first.updated, first.unchanged) == (2, 0, 0)
    path.write_text("Kunde;Material;Menge;Preis\nC1;A1;1;10,00\nC1;A1;100;9,00\nC1;A1;500;8,00\n")
    second = import_erp_csv(path, store, m)
    assert (second.created, second.updated, second.unchanged) == (1, 1, 1)
    complete = import_erp_csv(path, store, m.model_copy(update={"complete": True}))
    assert (complete.created, complete.updated, complete.unchanged) == (0, 0, 3)
    path.write_text("Kunde;Material;Menge;Preis\nC1;A1;1;10,00\nC1;B1;1;7,00\n")
    fresh = import_erp_csv(path, store, m.model_copy(update={"complete": True}))
    assert (fresh.created, fresh.updated, fresh.unchanged) == (1, 0, 1)


def test_put_price_list_still_adds_up_as_a_count(store: Store) -> None:
    from decimal import Decimal

    one = [PriceListEntry(customer="acme", sku="A", currency="EUR", price=Decimal("1"))]
    written = put_price_list(store, one)
    assert written == 1 and written.created == 1 and written + 1 == 2  # type: ignore[attr-defined]
    changed = put_price_list(store, [one[0].model_copy(update={"price": Decimal("2")})])
    assert changed == 1 and changed.created == 0  # type: ignore[attr-defined]
