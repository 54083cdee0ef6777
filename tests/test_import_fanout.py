"""A merged import fanned out to worker processes (PIM_IMPORT_WORKERS > 1) stores exactly what the same
import does in-process, including a SKU that two batches name and a product written by someone else while
its batch was being merged elsewhere."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from pim.conflicts import CONFLICT
from pim.importing import Parsed, _apply, _prepare, run_import
from pim.merge import CANDIDATE, FINGERPRINT, Merger
from pim.store import Store
from pim.validation import RecordValidator
from tests.source_data import PRECEDENCE, record, seed_structure

KG = lambda x: {"amount": x, "unit": "KILOGRAM"}  # noqa: E731


def catalog(store: Store) -> None:
    seed_structure(store)
    store.upsert_products([
        record("content", f"T-{n}", {"sku": f"T-{n}", "name:en_US": f"Tool {n}", "weight": KG(str(n)), "ean": f"40{n:05d}"},
               family="tool") for n in range(12)])
    run_import(store, "supplier:acme", [Parsed(record("supplier:acme", f"T-{n}", {"weight": KG(f"{n}.5")}), "acme.csv", n)
                                        for n in range(0, 12, 2)], merge=Merger(PRECEDENCE))


def erp_rows() -> list[Parsed]:
    rows = [record("erp", f"T-{n}", {"weight": KG(f"{n}.25"), "ean": f"41{n:05d}",
                                     "price": {"EUR": f"{n}.99"}, "name:en_US": None}) for n in range(12)]
    rows.insert(7, record("erp", "T-2", {"weight": KG("2.75"), "price": {"EUR": "9.00"}}))  # T-2 again, a later batch
    rows.append(record("erp", "T-NEW", {"sku": "T-NEW", "ean": "4200001"}, family="narrow"))
    return [Parsed(r, "erp.csv", n) for n, r in enumerate(rows, start=2)]


def state(store: Store) -> dict[str, Any]:
    """What an import leaves: values with each value's source, candidates, conflicts, fingerprints, scores."""
    from pim.scoring_tables import COMPLETENESS

    out: dict[str, Any] = {"products": {p.identifier: (p.values, {k: p.provenance_of(k).source for k in p.values})  # type: ignore[union-attr]
                                        for p in store.iter_products()}}
    with store.engine.connect() as conn:
        out["candidates"] = sorted(conn.execute(select(CANDIDATE.c.identifier, CANDIDATE.c.value_key,
                                                       CANDIDATE.c.source, CANDIDATE.c.value)).all(), key=repr)
        out["conflicts"] = sorted(conn.execute(select(CONFLICT.c.identifier, CONFLICT.c.value_key, CONFLICT.c.winner,
                                                      CONFLICT.c.status)).all())
        out["fingerprints"] = sorted(conn.execute(select(FINGERPRINT.c.identifier, FINGERPRINT.c.digest)).all())
        out["scores"] = sorted(conn.execute(select(COMPLETENESS.c.product, COMPLETENESS.c.channel,
                                                   COMPLETENESS.c.locale, COMPLETENESS.c.ratio)).all())
    return {k: [tuple(r) for r in v] if isinstance(v, list) else v for k, v in out.items()}


@pytest.mark.parametrize("executor", ["process", "thread"])
def test_fanned_out_import_stores_what_an_in_process_one_does(store: Store, tmp_path: Path, executor: str) -> None:
    from pim.registry import product_listeners

    reference = Store(f"sqlite:///{tmp_path / 'ref.db'}", batch_size=3)
    reference.migrate()
    reference.listeners.extend(product_listeners(reference))
    catalog(reference)
    in_process, fanned = Merger(PRECEDENCE), Merger(PRECEDENCE)
    expected = run_import(reference, "erp", erp_rows(), merge=in_process, workers=1)
    store.batch_size = 3  # five batches; T-2 is in the first and the third
    catalog(store)
    counts = run_import(store, "erp", erp_rows(), merge=fanned, workers=2, executor=executor)
    assert counts.as_dict() == expected.as_dict()
    assert (fanned.merged_records, fanned.skipped_records) == (in_process.merged_records, in_process.skipped_records)
    assert counts.created == 1 and counts.updated == 13  # T-2 is written by both its batches
    assert state(store) == state(reference)
    again = run_import(store, "erp", erp_rows(), merge=Merger(PRECEDENCE), workers=2, executor=executor)
    assert again.as_dict() == run_import(reference, "erp", erp_rows(), merge=Merger(PRECEDENCE), workers=1).as_dict()
    assert again.unchanged == 12 and again.updated == 2  # skipped by fingerprint, but T-2's two records take turns
    assert state(store) == state(reference)
    reference.dispose()


def test_a_batch_whose_product_was_written_meanwhile_is_not_written(store: Store) -> None:
    catalog(store)
    validator = RecordValidator(store.structure())
    merger = Merger(PRECEDENCE).bind(store.structure())
    prepared = _prepare(store, "erp", validator, erp_rows()[:3], merger)
    store.upsert_products([record("content", "T-1", {"sku": "T-1", "name:en_US": "Edited meanwhile"}, family="tool")])
    from pim.importing import ImportCounts

    counts = ImportCounts()
    assert _apply(store, "erp", prepared, counts, check=True) is False  # the writer merges it again instead
    assert counts.read == 0 and store.get_product("T-0").values["ean"] == "4000000"  # type: ignore[union-attr]
    assert _apply(store, "erp", _prepare(store, "erp", validator, erp_rows()[:3], merger), counts, check=True)
    assert store.get_product("T-1").values["name:en_US"] == "Edited meanwhile"  # type: ignore[union-attr]
    assert store.get_product("T-0").values["ean"] == "4100000"  # type: ignore[union-attr]


@pytest.mark.parametrize("workers,executor", [(1, "process"), (2, "process"), (2, "thread")])
def test_extras_are_written_for_the_records_taken_in_only(store: Store, workers: int, executor: str) -> None:
    """`Parsed.extras` (stock, tier prices) reach the import's writer, inside the batch's transaction, for the
    records merged or skipped as already merged; never for a record validation or the merge refuses."""
    store.batch_size = 3
    catalog(store)

    def rows() -> list[Parsed]:
        items = erp_rows()
        items.insert(4, Parsed(record("erp", "T-3", {"weight": "heavy"}), "erp.csv", 99))  # refused by validation
        items.append(Parsed(record("erp", "T-NONE", {"sku": "T-NONE", "mpn": "x"}), "erp.csv", 100))  # refused by the merge
        for item in items:
            item.extras = [(item.record.identifier, item.line)]
        return items

    written: list[tuple[str, int]] = []

    def writer(conn: Any, extras: list[Any]) -> None:
        assert conn.in_transaction()
        written.extend(extras)

    taken = sorted((i.record.identifier, i.line) for i in rows() if i.line not in (99, 100))
    counts = run_import(store, "erp", rows(), merge=Merger(PRECEDENCE, create_missing=False), workers=workers,
                        executor=executor, extras=writer)
    assert counts.rejected == 3 and sorted(written) == [t for t in taken if t[0] != "T-NEW"]
    written.clear()
    again = run_import(store, "erp", rows(), merge=Merger(PRECEDENCE, create_missing=False), workers=workers,
                       executor=executor, extras=writer)
    assert again.unchanged == 11 and sorted(written) == [t for t in taken if t[0] != "T-NEW"]


def test_a_model_sharing_a_sku_is_refused_on_its_own(store: Store) -> None:
    """The merge refuses a partial record of a model that is not stored; a product whose SKU is that model's
    code, in the same batch, is still taken in with its extras, and the quarantine entry names the model
    record's line."""
    from pim.product import partial_model

    store.batch_size = 10
    catalog(store)
    product = Parsed(record("erp", "T-1", {"ean": "4299999"}), "erp.csv", 2)
    product.extras = [("T-1", 2)]
    model = Parsed(partial_model("T-1", {"name:en_US": "A model"}, product.record.provenance_of("ean"), {}),  # type: ignore[arg-type]
                   "erp.csv", 3)
    written: list[Any] = []
    counts = run_import(store, "erp", [product, model], merge=Merger(PRECEDENCE),
                        extras=lambda conn, rows: written.extend(rows))
    assert (counts.updated, counts.rejected) == (1, 1)
    assert written == [("T-1", 2)]
    assert store.get_product("T-1").values["ean"] == "4299999"  # type: ignore[union-attr]
    [entry] = store.quarantined(counts.job_id)
    assert (entry["line"], entry["field"], entry["record_key"]) == (3, "model", "model:T-1")
    assert "no product model 'T-1'" in entry["reason"]
    # another file (a run of erp.csv without the model's row would supersede its entry: pim.store.supersede)
    again = run_import(store, "erp", [Parsed(record("erp", "T-1", {"ean": "4299998"}), "erp-today.csv", 2)],
                       merge=Merger(PRECEDENCE))
    assert again.updated == 1 and store.quarantined(counts.job_id) == [entry]  # the product closes none of the model's
