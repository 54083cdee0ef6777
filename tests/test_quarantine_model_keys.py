"""Quarantine entries for product models are keyed `model:<code>` (migration 0035 re-keys the open entries
written before), so a product whose SKU is a model's code neither closes nor is closed by them."""

from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from pim.product import ProductModel
from pim.store import Store
from pim.store.database import alembic_config
from pim.store.store import now
from tests.source_data import record, seed_structure

#: The quarantine's columns an importer wrote before 0036 (later migrations add more).
THEN = sa.table("quarantine", *(sa.column(c) for c in ("source", "file", "line", "field", "reason", "record_key",
                                                       "severity")),
                sa.column("created_at", sa.DateTime(timezone=True)))


def keys(store: Store) -> dict[str, str | None]:
    with store.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT reason, record_key FROM quarantine WHERE resolved_at IS NULL")).all()
    return {str(r): k for r, k in rows}


def test_open_model_entries_written_before_are_re_keyed(store: Store) -> None:
    seed_structure(store)
    store.upsert_models([ProductModel(code="M-1", family_variant="tool_by_color", family="tool")])
    store.upsert_models([ProductModel(code="BOTH", family_variant="tool_by_color", family="tool")])
    store.upsert_products([record("erp", "BOTH", {"sku": "BOTH"}, family="tool")])
    cfg = alembic_config()
    with store.engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0034_association_pin")  # before 0035 (and 0036)

    def write(*entries: tuple[str, str | None]) -> None:
        """Entries as an importer wrote them before 0036, in the columns of then (no job: no superseding)."""
        with store.begin() as conn:
            conn.execute(sa.insert(THEN), [{"source": "content", "file": "c.jsonl", "line": 1, "field": "x",
                                            "reason": reason, "record_key": key, "severity": "rejected",
                                            "created_at": now()} for reason, key in entries])

    write(("closed", "M-1"))
    assert store.resolve_quarantine("content", ["M-1"]) == 1
    write(("model", "M-1"), ("ambiguous", "BOTH"), ("product", "P-9"), ("unknown", None))
    store.migrate()
    assert keys(store) == {"model": "model:M-1", "ambiguous": "BOTH", "product": "P-9", "unknown": None}
    with store.engine.connect() as conn:  # a closed entry is history: left as written
        assert conn.execute(sa.text("SELECT record_key FROM quarantine WHERE reason = 'closed'")).scalar() == "M-1"
    assert store.resolve_quarantine("content", ["M-1"]) == 0  # a product named M-1 no longer closes it
    assert store.resolve_quarantine("content", ["model:M-1"]) == 1
