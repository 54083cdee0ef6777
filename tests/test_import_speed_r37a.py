"""Round 37, import speed (issue 3): a merge batch asks the product table about its SKUs once before merging
(pim.batch_lookup: parents for the level guard, the source's fingerprints, the axis values of the records it
skips), where it asked up to three times; and the lookups of a product's seq by SKU read the covering index
`ix_product_identifier_seq` (identifier, seq, parent; migration 0051) instead of the ~4 KB rows. The statements
are counted on the database connections; no timing is asserted.

tests/data/structure: shirts_color_size splits by color (the sub-model's level), then size (the variant's)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event, inspect

from pim.product import Product
from pim.store import Store
from pim.store.store import PRODUCT
from tests.test_variant_axes import _erp, _record, shirts  # noqa: F401

INDEX = "ix_product_identifier_seq"
_READS_PRODUCT = re.compile(r'^SELECT\b.*\b(FROM|JOIN)\s+"?product"?(\s|$)', re.IGNORECASE | re.DOTALL)


@contextmanager
def product_reads(store: Store) -> Iterator[list[str]]:
    """Every SELECT from the product table run on the store's connections while inside (plain DB-API statements
    too, which SQLAlchemy's events do not see): SQLite's trace callback, psycopg's cursor on PostgreSQL."""
    seen: list[str] = []

    def note(statement: Any) -> None:
        text = " ".join((statement.decode() if isinstance(statement, bytes) else str(statement)).split())
        if _READS_PRODUCT.match(text):
            seen.append(text)

    if store.engine.dialect.name == "sqlite":
        store.engine.dispose()  # pooled connections get the callback when checked out

        def trace(dbapi_conn: Any, _record: Any, _proxy: Any) -> None:
            dbapi_conn.set_trace_callback(note)

        event.listen(store.engine, "checkout", trace)
        try:
            yield seen
        finally:
            event.remove(store.engine, "checkout", trace)
            store.engine.dispose()
        return
    import psycopg

    execute = psycopg.Cursor.execute

    def counted(self: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
        note(query if isinstance(query, (str, bytes)) else query.as_string(self))
        return execute(self, query, *args, **kwargs)

    psycopg.Cursor.execute = counted  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        psycopg.Cursor.execute = execute  # type: ignore[method-assign]


def _catalog(store: Store) -> None:
    """Four variants under SHIRT-BLUE (one without its size) and one product under no model, as stored before the
    ERP merges onto them."""
    store.upsert_products([Product(identifier=f"SHIRT-BLUE-{s.upper()}", family="shirts", parent="SHIRT-BLUE",
                                   values={"sku": f"SHIRT-BLUE-{s.upper()}", "size": s}) for s in ("s", "m", "l")]
                          + [Product(identifier="SHIRT-BLUE-N", family="shirts", parent="SHIRT-BLUE",
                                     values={"sku": "SHIRT-BLUE-N"}),
                             Product(identifier="LOOSE", family="shirts", values={"sku": "LOOSE"})])


def _records() -> list[Product]:
    """The ERP's rows: partial records that name no parent (the guard places them as stored); SHIRT-BLUE-S also
    states the root model's name, which its level does not hold."""
    return ([_record("SHIRT-BLUE-S", values={"ean": "4006381333931", "name:en_US": "Blue S"})]
            + [_record(f"SHIRT-BLUE-{s}", values={"ean": "4006381333931"}) for s in ("M", "L", "N")]
            + [_record("LOOSE", values={"ean": "4006381333931"})])


# ---------------------------------------------------------------------------------------------- the index
def test_the_covering_index_is_declared_and_migrated(store: Store) -> None:
    """A migrated database (`pim init`, an upgrade) and the table's declaration both have it, so a database made
    from the models matches one made by the migrations."""
    declared = {ix.name: [c.name for c in ix.columns] for ix in PRODUCT.indexes}
    assert declared.get(INDEX) == ["identifier", "seq", "parent"]
    migrated = {ix["name"]: ix["column_names"] for ix in inspect(store.engine).get_indexes("product")}
    assert migrated.get(INDEX) == ["identifier", "seq", "parent"]


@pytest.mark.backends("sqlite")  # SQLite's planner: PostgreSQL chooses by its statistics
def test_seq_lookups_by_sku_read_only_the_covering_index(shirts: Store) -> None:  # noqa: F811
    """The fingerprint lookup and the write's check that nobody wrote the batch's products meanwhile read each
    product's seq from the index, not from the row behind its value map (the lookup goes to the row only for
    the axis values of a variant it may skip)."""
    _catalog(shirts)
    _erp(shirts, *_records())
    with product_reads(shirts) as seen:
        counts = _erp(shirts, *[_record(r.identifier, values={"ean": "4012345678901"}) for r in _records()])
    assert counts.updated == 5
    fingerprints = [s for s in seen if "source_fingerprint" in s]
    checks = [s for s in seen if re.match(r"SELECT identifier, seq FROM product\b", s)]
    assert fingerprints and checks
    with shirts.engine.connect() as conn:
        raw = conn.connection.dbapi_connection
        for statement in fingerprints + checks:
            plan = " | ".join(row[-1] for row in raw.execute("EXPLAIN QUERY PLAN " + statement))
            product_steps = [step for step in plan.split(" | ") if re.search(r"\b(product|p)\b", step)
                             and "fingerprint" not in step]
            wanted = f"COVERING INDEX {INDEX}" if statement in checks else f"INDEX {INDEX}"
            assert product_steps and all(wanted in step for step in product_steps), (statement, plan)


# ---------------------------------------------------------------------------------------------- one lookup
def test_a_merge_batch_looks_its_skus_up_once(shirts: Store) -> None:  # noqa: F811
    """First merge: one lookup (parents and fingerprints), the stored rows the merge reads, the write's check.
    Unchanged re-import: the one lookup, and what it skips is still judged as before (the level guard places it
    by the stored parent; the variant's missing size is noted from the stored values)."""
    _catalog(shirts)
    with product_reads(shirts) as first:
        merged = _erp(shirts, *_records())
    assert (merged.updated, merged.rejected) == (5, 0)
    assert shirts.get_product("SHIRT-BLUE-M").values["ean"] == "4006381333931"
    assert "name:en_US" not in shirts.get_product("SHIRT-BLUE-S").values  # held to its level: the model's
    noted = {(e["record_key"], e["field"]) for e in shirts.quarantined(merged.job_id, severity="problem")}
    assert noted == {("SHIRT-BLUE-N", "size")}
    assert merged.extra.get("held_by_model") == 1  # the root model's name, which outranks the ERP's here
    assert len(first) == 3, first  # the lookup, the stored rows merged onto, the write's check

    with product_reads(shirts) as again:
        unchanged = _erp(shirts, *_records())
    assert (unchanged.unchanged, unchanged.updated, unchanged.rejected) == (5, 0, 0)
    noted_again = {(e["record_key"], e["field"]) for e in shirts.quarantined(unchanged.job_id, severity="problem")}
    assert noted_again == noted and unchanged.extra.get("held_by_model") == 1
    assert len(again) == 1, again
    assert "source_fingerprint" in again[0]
