"""Found upgrading round 35 → 36: the gate now judges a customer feed in its contract's locale only, so products
it held before pass now; full-feed customers got them at once, delta customers never (nothing about those products
was written). The gate's digest carries the version of its rules, so the first delta after such a change decides
the whole assortment again and sends what now passes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import update

from pim import delivery_log as log
from pim import gate
from pim.feeds import deliver_contract
from pim.store import Store
from tests.feeds_data import out_dir, seed_catalog, store_contract


def _rows(path: object) -> dict[str, dict]:
    return {d["sku"]: d for d in map(json.loads, Path(str(path)).read_text().splitlines())} if path else {}


def test_a_change_of_the_gates_rules_changes_its_digest(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    seed_catalog(store)
    now = gate.gate_digest(store.structure(), "b2b")
    monkeypatch.setattr(gate, "GATE_RULES", gate.GATE_RULES - 1)
    assert gate.gate_digest(store.structure(), "b2b") != now


def test_the_first_delta_under_new_gate_rules_sends_what_now_passes(store: Store, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    seed_catalog(store)
    store_contract(store, mode="delta", format="jsonl")
    with monkeypatch.context() as older:  # delivered by the release before, whose gate held T3 back
        older.setattr(gate, "GATE_RULES", gate.GATE_RULES - 1)
        first = deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path))
        assert first.kind == "full" and "T3" in _rows(first.file)
    held = log.get_watermark(store, "acme-tools")
    assert held is not None
    with store.begin() as conn:  # as if that gate had blocked T3: the customer does not hold it
        conn.execute(update(log.WATERMARK).where(log.WATERMARK.c.contract == "acme-tools")
                     .values(delivered=[s for s in held.delivered if s != "T3"]))
    after = deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path))
    assert after.kind != "full" and set(_rows(after.file)) == {"T3"}  # T3's seq never moved: only the sweep finds it
    again = deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path))
    assert again.status == "nothing"  # once: the watermark now carries this release's digest
