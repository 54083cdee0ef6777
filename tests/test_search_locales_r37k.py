"""Round 37 (k): the search channel gates per locale, as the storefront and Google do. A product missing its
German name has a document in the English index and none in the German one (it was in neither: half a new
translation took half the catalog out of every index). An incremental push deletes it from the German index
alone, and sends it there again once its German copy is back; the job counts it published, partly blocked."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from pim.store import Store
from tests.meili_double import ServedDouble
from tests.search_data import CABLE, cable, load_catalog, publish_search

EN, DE = "products_ecommerce_en_US", "products_ecommerce_de_DE"
GERMANLESS = {"name:de_DE": None}


def _skus(meili: ServedDouble, uid: str) -> set[str]:
    return {d["sku"] for d in meili.double.indexes[uid].documents.values()}


def _file_skus(out: Path, uid: str) -> set[str]:
    lines = (out / "search" / uid / "documents.ndjson").read_bytes().splitlines()
    return {orjson.loads(line)["sku"] for line in lines if line.strip()}


@pytest.fixture
def catalog(store: Store) -> Store:
    load_catalog(store)
    return store


def test_a_product_missing_its_german_copy_is_in_the_english_index_only(catalog: Store, tmp_path: Path) -> None:
    catalog.upsert_products([cable(**GERMANLESS)])
    result = publish_search(catalog, tmp_path, exporter="local")
    assert CABLE in _file_skus(tmp_path, EN)
    assert CABLE not in _file_skus(tmp_path, DE)
    assert _file_skus(tmp_path, DE) == {"HP-100-RED", "HP-100-BLK"}
    assert result.published == 3 and result.partly == {CABLE}
    assert any(r.startswith("completeness:de_DE:") for r in result.blocked[CABLE])
    assert not any(":en_US" in r for r in result.blocked[CABLE])
    counts = catalog.job(result.job_id)["counts"]
    assert (counts["published"], counts["partly_blocked"]) == (3, 1)
    assert {a.meta["index"]: a.rows for a in result.artifacts if a.meta["kind"] == "documents"} == {EN: 3, DE: 2}


def test_a_product_failing_in_every_locale_has_no_document(catalog: Store, tmp_path: Path) -> None:
    catalog.upsert_products([cable(**GERMANLESS, **{"name:en_US": None})])
    result = publish_search(catalog, tmp_path, exporter="local")
    assert CABLE in result.blocked and not result.partly
    assert CABLE not in _file_skus(tmp_path, EN) | _file_skus(tmp_path, DE)


def test_incremental_deletes_from_the_failing_locale_only_and_adds_back(catalog: Store, meili_env: ServedDouble,
                                                                        tmp_path: Path) -> None:
    publish_search(catalog, tmp_path)
    assert CABLE in _skus(meili_env, EN) & _skus(meili_env, DE)
    catalog.upsert_products([cable(**GERMANLESS)])
    result = publish_search(catalog, tmp_path)
    assert {a.meta["mode"] for a in result.artifacts} == {"incremental"}
    assert CABLE in _skus(meili_env, EN)
    assert CABLE not in _skus(meili_env, DE)
    deletes = {a.meta["index"]: a.rows for a in result.artifacts if a.meta["kind"] == "deletes"}
    assert deletes == {EN: 0, DE: 1}
    assert result.published == 1 and result.partly == {CABLE}
    catalog.upsert_products([cable()])  # the German name is back
    again = publish_search(catalog, tmp_path)
    assert CABLE in _skus(meili_env, EN) & _skus(meili_env, DE)
    assert not again.partly and not again.blocked


def test_a_rebuilt_locale_and_an_incremental_one_each_get_their_own_deletes(catalog: Store, meili_env: ServedDouble,
                                                                             tmp_path: Path) -> None:
    """German rebuilt after `pim search drop --locale de_DE`, English incremental: the cable missing its German
    name is left out of the rebuilt German index and kept, unchanged, in the English one."""
    from channels.search import forget  # what `pim search drop --locale` does to the push state

    publish_search(catalog, tmp_path)
    target = next(iter(_targets(catalog)))
    forget(catalog, target, "de_DE")
    catalog.upsert_products([cable(**GERMANLESS)])
    result = publish_search(catalog, tmp_path)
    modes = {a.meta["index"]: a.meta["mode"] for a in result.artifacts if a.meta["kind"] == "documents"}
    assert modes == {EN: "incremental", DE: "full"}
    assert CABLE in _skus(meili_env, EN) and CABLE not in _skus(meili_env, DE)
    assert _skus(meili_env, DE) == {"HP-100-RED", "HP-100-BLK"}


def test_a_full_reindex_swaps_in_each_locales_own_documents(catalog: Store, meili_env: ServedDouble,
                                                            tmp_path: Path) -> None:
    catalog.upsert_products([cable(**GERMANLESS)])
    publish_search(catalog, tmp_path)
    publish_search(catalog, tmp_path, full=True)
    assert _skus(meili_env, EN) == {"HP-100-RED", "HP-100-BLK", CABLE}
    assert _skus(meili_env, DE) == {"HP-100-RED", "HP-100-BLK"}


def _targets(store: Store) -> list[str]:
    from sqlalchemy import select

    from channels.search import SYNC

    with store.engine.connect() as conn:
        return list(conn.execute(select(SYNC.c.target)).scalars())
