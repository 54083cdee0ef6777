"""BMEcat follow-ups (reference targets resolved once the file is in, the catalog group assignments): a re-import
of an unchanged file leaves the store exactly as it is — every record on the fingerprint fast path, no seq
bump, no listener, no fingerprint rewritten — while a changed target SKU or group assignment is still written;
the supplier's category claim is read and written under the rows' lock, so another writer's category stays;
and the import's job is finished once, after the follow-ups, with every count."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.exc import OperationalError

from importers import bmecat_links
from importers.bmecat import import_bmecat
from importers.bmecat_groups import CategoryClaim
from importers.bmecat_links import Followups
from pim.errors import InputError
from pim.merge import CANDIDATE, FINGERPRINT, Merger
from pim.product import Product
from pim.sources import put_cross_references
from pim.store import Store
from pim.store.database import make_engine
from pim.store.store import PRODUCT
from tests.test_bmecat import supplier_store  # noqa: F401  (fixture)
from tests.test_bmecat_groups import (  # noqa: F401  (fixture)
    TREE,
    assign,
    document,
    grouped,
    groups_map,
    product,
)

SOURCE = "supplier:weidmueller"


def ref(pid: str, *targets: str) -> str:
    return product(pid, extra="".join(f'<PRODUCT_REFERENCE type="accessories"><PROD_ID_TO>{t}</PROD_ID_TO>'
                                      "</PRODUCT_REFERENCE>" for t in targets))


#: p1 names p3, later in the file (resolved after the file); p2 names p1, earlier (resolved in its record);
#: p4 has neither a reference nor a group.
BODY = (TREE + ref("p1", "p3") + ref("p2", "p1") + product("p3") + product("p4")
        + assign("p1", "100") + assign("p2", "101") + assign("p3", "20"))


def snapshot(store: Store) -> dict[str, Any]:
    with store.engine.connect() as conn:
        return {
            "products": sorted(map(tuple, conn.execute(select(
                PRODUCT.c.identifier, PRODUCT.c.seq, PRODUCT.c.content_hash, PRODUCT.c.updated_at, PRODUCT.c.categories,
                PRODUCT.c.associations, PRODUCT.c.value_map)).all())),
            "fingerprints": sorted(map(tuple, conn.execute(select(FINGERPRINT)).all())),
            "candidates": sorted(map(tuple, conn.execute(select(CANDIDATE.c.identifier, CANDIDATE.c.value_key,
                                                                CANDIDATE.c.source)).all())),
            "seq": store.current_seq(),
        }


@pytest.fixture
def merged(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The identifiers of the records that reach the merge (not skipped by their fingerprint)."""
    seen: list[str] = []
    prepare = Merger.prepare

    def spy(self: Merger, store: Store, products: list[Product], models: Any = None) -> Any:
        seen.extend(p.identifier for p in products)
        return prepare(self, store, products, models)

    monkeypatch.setattr(Merger, "prepare", spy)
    return seen


def test_a_reimport_of_an_unchanged_file_changes_nothing(grouped: Store, tmp_path: Path, merged: list[str]) -> None:  # noqa: F811
    path = document(tmp_path, BODY)
    first = import_bmecat(path, grouped, groups_map())
    assert first.created == 4 and first.extra["categories_created"] == 4
    assert first.extra["updated_after_file"] == 3  # p1 (its late accessory, its group), p2 and p3 (their groups)
    p1 = grouped.get_product("p1")
    assert p1.associations["ACCESSORY"].products == ["p3"] and p1.categories == ["wm_100"]
    assert grouped.get_product("p2").associations["ACCESSORY"].products == ["p1"]
    before, heard = snapshot(grouped), []
    grouped.listeners.append(lambda conn, identifiers: heard.extend(identifiers))
    merged.clear()

    again = import_bmecat(path, grouped, groups_map())
    assert (again.read, again.created, again.updated, again.unchanged, again.rejected) == (4, 0, 0, 4, 0)
    assert "updated_after_file" not in again.extra and "categories_created" not in again.extra
    assert merged == []  # every record skipped by its fingerprint, the one with a late target too
    assert heard == [] and snapshot(grouped) == before


def test_a_changed_target_sku_or_group_assignment_is_still_written(grouped: Store, tmp_path: Path,  # noqa: F811
                                                                   merged: list[str]) -> None:
    import_bmecat(document(tmp_path, BODY), grouped, groups_map())
    # the supplier's p3 is our ERP-3 from now on, and p1 moves from group 100 to 101; p1's record is the same
    grouped.upsert_products([Product(identifier="ERP-3", family="electrical")])
    put_cross_references(grouped, SOURCE, [("p3", "ERP-3")])
    moved = BODY.replace(assign("p1", "100"), assign("p1", "101"))
    merged.clear()
    counts = import_bmecat(document(tmp_path, moved, name="moved.xml"), grouped, groups_map())
    assert "p1" not in merged  # its record took the fast path; the follow-up still writes what changed
    p1 = grouped.get_product("p1")
    assert p1.associations["ACCESSORY"].products == ["ERP-3"] and p1.categories == ["wm_101"]
    assert grouped.get_product("ERP-3").categories == ["markers"] and counts.extra["updated_after_file"] == 2
    before = snapshot(grouped)
    merged.clear()
    settled = import_bmecat(document(tmp_path, moved, name="moved.xml"), grouped, groups_map())
    assert (settled.updated, settled.unchanged) == (0, 4) and "updated_after_file" not in settled.extra
    assert merged == [] and snapshot(grouped) == before


def _other_writer(store: Store) -> Any:
    """A connection of another process: it waits for no lock (SQLite: no busy timeout; PostgreSQL: 100 ms)."""
    conn = make_engine(store.url).connect()
    conn.exec_driver_sql("PRAGMA busy_timeout=0" if store.dialect == "sqlite" else "SET lock_timeout = '100ms'")
    conn.commit()
    return conn


def _file_erp_cat(conn: Any, store: Store) -> None:
    """Another writer's category on p1, read and written in its own transaction (not committed here), as every
    product writer does: under the catalog's write lock, with the next seq."""
    store.lock_writes(conn)
    cats = conn.execute(select(PRODUCT.c.categories).where(PRODUCT.c.identifier == "p1")).scalar_one()
    conn.execute(update(PRODUCT).where(PRODUCT.c.identifier == "p1").values(categories=[*cats, "erp_cat"],
                                                                            seq=store.next_seq(conn)))


def test_the_category_claim_is_applied_while_the_rows_are_locked(grouped: Store, tmp_path: Path,  # noqa: F811
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    import_bmecat(document(tmp_path, TREE + product("p1") + assign("p1", "100")), grouped, groups_map())
    other = _other_writer(grouped)
    refused: list[bool] = []
    apply = CategoryClaim.apply

    def between_read_and_write(self: CategoryClaim, current: list[str]) -> list[str]:
        try:  # another writer tries to file p1 in erp_cat after the follow-up read its categories
            _file_erp_cat(other, grouped)
            other.commit()
            refused.append(False)
        except OperationalError:
            other.rollback()
            refused.append(True)
        return apply(self, current)

    monkeypatch.setattr(CategoryClaim, "apply", between_read_and_write)
    body = product("p1", "update") + assign("p1", "101", "new")
    counts = import_bmecat(document(tmp_path, body, transaction="T_UPDATE_PRODUCTS", name="u.xml"), grouped, groups_map())
    other.close()
    # a look without a lock first (its write got in), then the read the write is made from, under the lock
    assert refused == [False, True]
    assert grouped.get_product("p1").categories == ["wm_100", "erp_cat", "wm_101"]  # the other writer's stays
    assert counts.extra["updated_after_file"] == 1


def test_a_follow_up_waits_for_another_writer_and_keeps_its_category(grouped: Store, tmp_path: Path,  # noqa: F811
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    import_bmecat(document(tmp_path, TREE + product("p1") + assign("p1", "100")), grouped, groups_map())
    applied_to: list[list[str]] = []
    apply = CategoryClaim.apply

    def noted(self: CategoryClaim, current: list[str]) -> list[str]:
        applied_to.append(list(current))
        return apply(self, current)

    monkeypatch.setattr(CategoryClaim, "apply", noted)
    other = make_engine(grouped.url).connect()
    _file_erp_cat(other, grouped)  # holds p1's row (SQLite: the write lock) until it commits
    claim = CategoryClaim(frozenset({"wm_100", "wm_101"}), add=("wm_101",))
    follow = Followups(grouped, SOURCE, "u.xml", datetime.now(UTC), categories={"p1": claim})
    result: list[Any] = []
    worker = threading.Thread(target=lambda: result.append(follow.write(None)))
    worker.start()
    try:
        time.sleep(0.5)
        waited = worker.is_alive()
    finally:
        other.commit()
        other.close()
        worker.join(20)
    assert waited and result == [(1, [])]
    assert applied_to[-1] == ["wm_100", "erp_cat"]  # the claim written was applied to the other writer's categories
    assert grouped.get_product("p1").categories == ["wm_100", "erp_cat", "wm_101"]  # the other writer's stays


def test_the_job_is_finished_once_with_the_follow_up_counts(grouped: Store, tmp_path: Path,  # noqa: F811
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    finished: list[tuple[int, dict[str, Any], str]] = []
    finish = grouped.finish_job

    def spy(job_id: int, counts: dict[str, Any], status: str = "succeeded", error: str | None = None) -> None:
        finished.append((job_id, dict(counts), status))
        finish(job_id, counts, status, error)

    monkeypatch.setattr(grouped, "finish_job", spy)
    m = groups_map().model_copy(update={"price_type": "net_list"})  # the test products' price: a tier each
    counts = import_bmecat(document(tmp_path, BODY), grouped, m)
    assert finished == [(counts.job_id, counts.as_dict(), "succeeded")]
    recorded = grouped.job(counts.job_id)["counts"]
    assert recorded == counts.as_dict()
    assert (recorded["updated_after_file"], recorded["categories_created"], recorded["tier_prices"]) == (3, 4, 4)


def test_a_failing_follow_up_fails_the_job(grouped: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    def broken(self: Followups, precedence: Any) -> Any:
        raise RuntimeError("disk full")

    monkeypatch.setattr(bmecat_links.Followups, "write", broken)
    with pytest.raises(RuntimeError):
        import_bmecat(document(tmp_path, BODY), grouped, groups_map())
    [job] = grouped.jobs("import")
    assert job["status"] == "failed" and "disk full" in job["error"]


def test_groups_after_the_products_are_created_after_the_pass(grouped: Store, tmp_path: Path) -> None:  # noqa: F811
    """The group system normally precedes the products and is created before them; a file that sends it after
    them (not as the XSD orders it) still gets its groups, once the products are in."""
    body = product("p1") + product("p2") + TREE + assign("p1", "100") + assign("p2", "20")
    counts = import_bmecat(document(tmp_path, body, valid=False), grouped, groups_map())
    assert counts.extra["categories_created"] == 4
    assert grouped.get_product("p1").categories == ["wm_100"] and grouped.get_product("p2").categories == ["markers"]


def test_a_broken_file_fails_under_its_job_though_its_groups_are_read_ahead(grouped: Store, tmp_path: Path) -> None:  # noqa: F811
    path = document(tmp_path, TREE + product("p1"), valid=True)
    path.write_text(path.read_text(encoding="utf-8")[:-40], encoding="utf-8")  # cut off inside the product
    with pytest.raises(InputError):
        import_bmecat(path, grouped, groups_map())
    [job] = grouped.jobs("import")
    assert job["status"] == "failed" and grouped.get_product("p1") is None
