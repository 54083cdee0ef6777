"""Two writers placing twins at the same moment: each reads a model's children before it takes the write lock, so
neither sees the other's new child. Under the lock a batch whose axis check read a model's children asks, in one
query, whether a child was placed there or given other axis values since its read (pim.variant_levels
.SiblingsRead.overtaken, against the catalog seq the read saw); if one was, the batch is checked again (merged
again, or a whole batch prepared again) and the later record is refused, naming its sibling. The races are
deterministic: writer A reads, writer B writes whole, then A writes. tests/data/structure: shirts_color_size
splits by color, then size."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from pim import variant_levels
from pim.importing import Parsed, run_import
from pim.jsonl import import_jsonl
from pim.merge import Merger
from pim.product import Product, ProductModel, Provenance
from pim.store import Store
from pim.store.store import PRODUCT
from pim.variant_levels import LevelGuard
from pim.web.editing import apply_model_values, apply_values
from tests.test_variant_axes import seed_shirts

AT = "2026-01-01T00:00:00Z"
FV = "shirts_color_size"


@pytest.fixture
def shirts(tiny_store: Store) -> Store:
    return seed_shirts(tiny_store)


def _variant(sku: str, size: str, source: str, parent: str = "SHIRT-RED") -> Product:
    return Product(identifier=sku, family="shirts", parent=parent, values={"sku": sku, "size": size},
                   source=Provenance(source=source, ref=f"{source}.csv", at=AT))


def _merged(store: Store, source: str, *records: Product | ProductModel, workers: int = 1) -> Any:
    items = [Parsed(r, f"{source}.csv", n + 2, raw={"row": n}) for n, r in enumerate(records)]
    return run_import(store, source, items, merge=Merger(), workers=workers, executor="thread")


def _jsonl(store: Store, path: Path, lines: list[dict[str, Any]]) -> Any:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return import_jsonl(path, store)


def _rejected(store: Store, job_id: int | None) -> dict[str, dict[str, Any]]:
    return {e["record_key"]: e for e in store.quarantined(job_id, severity="rejected")}


def _seq(store: Store, sku: str) -> int:
    with store.engine.connect() as conn:
        return conn.execute(select(PRODUCT.c.seq).where(PRODUCT.c.identifier == sku)).scalar_one()


def _children(store: Store, parent: str) -> dict[str, Any]:
    return {p.identifier: p.values.get("size") for p in store.iter_products() if p.parent == parent}


def _after_read(monkeypatch: pytest.MonkeyPatch, owner: type, method: str, between: Callable[[], Any],
                raced: Callable[[Any], bool] = lambda _: True) -> list[int]:
    """Run `between` (writer B, whole) right after writer A's first read of its batch's siblings (`owner.method`
    on the `raced` instance), before A writes. Returns A's reads, one entry each (two: A checked again)."""
    read = getattr(owner, method)
    reads: list[int] = []

    def racing(self: Any, *args: Any, **kwargs: Any) -> Any:
        out = read(self, *args, **kwargs)
        if raced(self):
            reads.append(1)
            if len(reads) == 1:
                between()
        return out

    monkeypatch.setattr(owner, method, racing)
    return reads


def _after_merge_read(monkeypatch: pytest.MonkeyPatch, raced: Callable[[Merger], bool],
                      between: Callable[[], Any]) -> list[int]:
    """`_after_read` of a merge: after the `raced` Merger's first `prepare`."""
    return _after_read(monkeypatch, Merger, "prepare", between, raced)


def _after_whole_read(monkeypatch: pytest.MonkeyPatch, between: Callable[[], Any]) -> list[int]:
    """`_after_read` of a whole-record import: after its first batch's axis check read the siblings."""
    return _after_read(monkeypatch, LevelGuard, "shared_axes", between)


# ---------------------------------------------------------------------------------------------- merged vs merged
@pytest.mark.parametrize("workers", [1, 2], ids=["in-process", "fanned-out"])
def test_two_merged_imports_placing_twins_at_once_take_in_only_the_first_to_write(
        shirts: Store, monkeypatch: pytest.MonkeyPatch, workers: int) -> None:
    """A (erp) reads SHIRT-RED's children, B (supplier) writes SHIRT-RED-M2 size m, A writes: A's SHIRT-RED-M size
    m is refused naming B's record, and nothing of it is stored. Fanned out, A's batch is merged in a worker and
    written (or merged again) by the import's own process."""
    b: dict[str, Any] = {}
    twin = _variant("SHIRT-RED-M2", "m", "supplier")
    reads = _after_merge_read(monkeypatch, lambda m: m.source == "erp",
                              lambda: b.update(counts=_merged(shirts, "supplier", twin)))
    batch = (_variant("SHIRT-RED-M", "m", "erp"), _variant("SHIRT-BLUE-S", "s", "erp", "SHIRT-BLUE"))
    a = _merged(shirts, "erp", *batch, workers=workers)
    assert (b["counts"].created, b["counts"].rejected) == (1, 0)
    assert (a.read, a.created, a.rejected) == (2, 1, 1)
    rejected = _rejected(shirts, a.job_id)
    assert set(rejected) == {"SHIRT-RED-M"}
    assert rejected["SHIRT-RED-M"]["field"] == "size"
    assert "already has a variant with size=m: 'SHIRT-RED-M2'" in rejected["SHIRT-RED-M"]["reason"]
    assert shirts.get_product("SHIRT-RED-M") is None
    assert _children(shirts, "SHIRT-RED") == {"SHIRT-RED-S": "s", "SHIRT-RED-M2": "m"}
    assert _children(shirts, "SHIRT-BLUE") == {"SHIRT-BLUE-S": "s"}  # the rest of A's batch is taken in
    assert len(reads) == 2  # A was merged again once, on what B left
    again = _merged(shirts, "erp", *batch)
    assert (again.unchanged, again.rejected) == (1, 1)  # no fingerprint or claim of the refused record was kept


def test_a_persons_edit_overtaken_by_an_import_placing_the_same_value_is_refused(
        shirts: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """A stored sibling changing its axis value counts too: a person sets SHIRT-RED-S to size m while an import
    creates SHIRT-RED-M size m between the edit's read and its write. The import wins (it wrote first)."""
    reads = _after_merge_read(monkeypatch, lambda m: m.keep_axes,
                              lambda: _merged(shirts, "erp", _variant("SHIRT-RED-M", "m", "erp")))
    result = apply_values(shirts, "SHIRT-RED-S", {"size": "m"}, "ana")
    assert set(result.errors) == {"size"} and "'SHIRT-RED-M'" in result.errors["size"]
    assert _children(shirts, "SHIRT-RED") == {"SHIRT-RED-S": "s", "SHIRT-RED-M": "m"}
    assert len(reads) == 2


# ---------------------------------------------------------------------------------------------- whole vs merged
def test_a_catalog_file_overtaken_by_a_merged_twin_refuses_its_record(
        shirts: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A whole-record batch (JSONL) reads the siblings, a merged import writes the twin, the batch writes: it is
    checked again, its twin refused, the rest of it taken in."""
    reads = _after_whole_read(monkeypatch, lambda: _merged(shirts, "erp", _variant("SHIRT-RED-M2", "m", "erp")))
    counts = _jsonl(shirts, tmp_path / "catalog.jsonl", [
        {"kind": "product", "identifier": "SHIRT-RED-M", "family": "shirts", "parent": "SHIRT-RED",
         "values": {"sku": "SHIRT-RED-M", "size": "m"}},
        {"kind": "product", "identifier": "SHIRT-BLUE-M", "family": "shirts", "parent": "SHIRT-BLUE",
         "values": {"sku": "SHIRT-BLUE-M", "size": "m"}}])
    assert (counts.read, counts.created, counts.rejected) == (2, 1, 1)
    rejected = _rejected(shirts, counts.job_id)
    assert set(rejected) == {"SHIRT-RED-M"} and rejected["SHIRT-RED-M"]["line"] == 1
    assert "size=m: 'SHIRT-RED-M2'" in rejected["SHIRT-RED-M"]["reason"]
    assert _children(shirts, "SHIRT-RED") == {"SHIRT-RED-S": "s", "SHIRT-RED-M2": "m"}
    assert _children(shirts, "SHIRT-BLUE") == {"SHIRT-BLUE-M": "m"}
    assert len(reads) == 2


def test_sub_models_twins_from_a_catalog_file_and_a_merged_import(
        shirts: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The same for sub-models (product_model rows): the catalog file's TEE-RED (color red) is refused once a
    merged source has created TEE-CRIMSON (color red) under the root model TEE between its read and its write."""
    shirts.upsert_models([ProductModel(code="TEE", family_variant=FV, values={})])
    crimson = ProductModel(code="TEE-CRIMSON", family_variant=FV, parent="TEE", values={"color": "red"},
                           source=Provenance(source="content", ref="m", at=AT))
    reads = _after_whole_read(monkeypatch, lambda: _merged(shirts, "content", crimson))
    counts = _jsonl(shirts, tmp_path / "catalog.jsonl", [
        {"kind": "product_model", "code": "TEE-RED", "family_variant": FV, "parent": "TEE",
         "values": {"color": "red"}}])
    assert (counts.created, counts.rejected) == (0, 1)
    assert "sub-model with color=red: 'TEE-CRIMSON'" in _rejected(shirts, counts.job_id)["model:TEE-RED"]["reason"]
    assert shirts.get_model("TEE-RED") is None and shirts.get_model("TEE-CRIMSON") is not None
    assert len(reads) == 2


def test_a_merged_import_overtaken_by_a_catalog_files_twin_refuses_its_record(
        shirts: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """The other way round: the merged batch read first, the catalog file wrote its twin in between."""
    reads = _after_merge_read(monkeypatch, lambda m: m.source == "erp", lambda: _jsonl(
        shirts, tmp_path / "catalog.jsonl", [{"kind": "product", "identifier": "SHIRT-RED-M2", "family": "shirts",
                                              "parent": "SHIRT-RED", "values": {"sku": "SHIRT-RED-M2", "size": "m"}}]))
    counts = _merged(shirts, "erp", _variant("SHIRT-RED-M", "m", "erp"))
    assert (counts.created, counts.rejected) == (0, 1)
    assert "'SHIRT-RED-M2'" in _rejected(shirts, counts.job_id)["SHIRT-RED-M"]["reason"]
    assert _children(shirts, "SHIRT-RED") == {"SHIRT-RED-S": "s", "SHIRT-RED-M2": "m"}
    assert len(reads) == 2


# ---------------------------------------------------------------------------------------------- real threads
def test_a_merged_and_a_whole_import_racing_over_the_same_models_leave_no_twins(tiny_store: Store) -> None:
    """Real threads, small batches: an ERP (merged) and a catalog load (whole records) place variants of the same
    sizes under the same 20 sub-models at once. Each (model, size) ends with exactly one variant, and every record
    is either taken in or refused."""
    tiny_store.batch_size = 4
    models = range(20)
    tiny_store.upsert_models([ProductModel(code=f"R{i}", family_variant=FV, values={}) for i in models])
    tiny_store.upsert_models([ProductModel(code=f"R{i}-RED", family_variant=FV, parent=f"R{i}", values={"color": "red"})
                              for i in models])
    results: dict[str, Any] = {}

    def run(source: str, merged: bool) -> None:
        items = [Parsed(_variant(f"{source}-{i}-{size}", size, source, f"R{i}-RED"), f"{source}.csv", n)
                 for n, (i, size) in enumerate((i, size) for i in models for size in ("s", "m"))]
        try:
            results[source] = run_import(tiny_store, source, items, merge=Merger() if merged else None, workers=1)
        except Exception as exc:  # noqa: BLE001 — reported below
            results[source] = exc

    threads = [threading.Thread(target=run, args=("erp", True)), threading.Thread(target=run, args=("catalog", False))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not any(isinstance(r, Exception) for r in results.values()), results
    held: dict[tuple[str | None, Any], list[str]] = {}
    for p in tiny_store.iter_products():
        held.setdefault((p.parent, p.values.get("size")), []).append(p.identifier)
    assert {k: v for k, v in held.items() if len(v) > 1} == {}
    assert len(held) == 2 * len(models)
    assert sum(r.created for r in results.values()) == 2 * len(models)
    assert sum(r.rejected for r in results.values()) == 2 * len(models)


# ---------------------------------------------------------------------------------------------- cost
def _asked(monkeypatch: pytest.MonkeyPatch) -> list[tuple[set[str], bool]]:
    """Each check under the lock (SiblingsRead.overtaken): the models asked about, and the answer."""
    check = variant_levels.SiblingsRead.overtaken
    asked: list[tuple[set[str], bool]] = []

    def counted(self: Any, conn: Any) -> bool:
        answer = check(self, conn)
        asked.append((set().union(*self.parents.values()), answer))
        return answer

    monkeypatch.setattr(variant_levels.SiblingsRead, "overtaken", counted)
    return asked


def test_the_check_runs_only_for_batches_placing_records_under_models(
        shirts: Store, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A batch placing nothing under a model (merged or whole) takes no extra query and no extra merge; one placing
    a variant asks once, under the lock, and is written on the first try when nobody raced it."""
    asked = _asked(monkeypatch)
    prepares = _after_merge_read(monkeypatch, lambda m: True, lambda: None)

    plain = Product(identifier="MUG", family="shirts", values={"sku": "MUG"},
                    source=Provenance(source="erp", ref="erp.csv", at=AT))
    assert _merged(shirts, "erp", plain).created == 1
    assert _merged(shirts, "erp", plain.model_copy(update={"values": {"sku": "MUG", "size": "m"}})).updated == 1
    assert _jsonl(shirts, tmp_path / "plain.jsonl", [
        {"kind": "product", "identifier": "CAP", "family": "shirts", "values": {"sku": "CAP"}}]).created == 1
    assert asked == [] and len(prepares) == 2  # one merge per merged batch, no check

    assert _merged(shirts, "erp", _variant("SHIRT-RED-M", "m", "erp")).created == 1
    assert asked == [({"SHIRT-RED"}, False)] and len(prepares) == 3
    assert _jsonl(shirts, tmp_path / "variant.jsonl", [
        {"kind": "product", "identifier": "SHIRT-BLUE-M", "family": "shirts", "parent": "SHIRT-BLUE",
         "values": {"sku": "SHIRT-BLUE-M", "size": "m"}}]).created == 1
    assert asked == [({"SHIRT-RED"}, False), ({"SHIRT-BLUE"}, False)]


def test_a_sibling_rewritten_otherwise_meanwhile_does_not_make_a_batch_merge_again(
        shirts: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Between A's read and its write, a supplier sets the sibling SHIRT-RED-S's EAN and a person edits the root
    model (which gives every variant below it a new seq): the sibling keeps its place and size, so A is written
    on its first try."""
    asked = _asked(monkeypatch)

    def meanwhile() -> None:
        enrich = Product(identifier="SHIRT-RED-S", values={"ean": "4006381333931"},
                         source=Provenance(source="supplier", ref="s.csv", at=AT))
        assert _merged(shirts, "supplier", enrich).updated == 1
        assert apply_model_values(shirts, "SHIRT", {"name:en_US": "Tee"}, "ana").errors == {}

    before = _seq(shirts, "SHIRT-RED-S")
    reads = _after_merge_read(monkeypatch, lambda m: m.source == "erp", meanwhile)
    assert _merged(shirts, "erp", _variant("SHIRT-RED-M", "m", "erp")).created == 1
    assert shirts.get_product("SHIRT-RED-S").values["ean"] == "4006381333931"
    assert shirts.get_model("SHIRT").values["name:en_US"] == "Tee"
    assert _children(shirts, "SHIRT-RED") == {"SHIRT-RED-S": "s", "SHIRT-RED-M": "m"}
    assert _seq(shirts, "SHIRT-RED-S") > before  # written meanwhile (twice), so a bare seq test would merge again
    assert asked[-1] == ({"SHIRT-RED"}, False) and len(reads) == 1
