"""Round 37 review (n) of the publish guard's one baseline per channel and scope (977198e): two runs of a channel
replace each other's files only where they write to the same place (exporters.published keeps its manifest per
target), so the guard compares a run with the last whole publish of its channel and scope *at the same output*
(pim.publish_output). Before, a catalog published on purpose to another folder (an outlet subset beside the full
shop) was refused as dropping the shop's products, though it replaced none of them, and every later alternate
run was refused again."""

from __future__ import annotations

import hashlib
from pathlib import Path

import orjson
import pytest
from sqlalchemy import insert, select

from pim import publish_baseline as baseline
from pim.pipeline import DropRefused, publish
from pim.settings import reset_settings
from pim.store import Store
from pim.store.store import now
from tests.test_publish_guard_r37b import FREE, OK, SALE, SCOPE, _catalog, _file

SOURCE = f"storefront/{SCOPE}"


@pytest.fixture(autouse=True)
def small_guard(pim_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIM_PUBLISH_DROP_MIN", "3")
    reset_settings()


def _ids(folder: Path) -> list[str]:
    data = (folder / "storefront" / f"catalog.{SCOPE}.en_US.json").read_bytes()
    return sorted(p["identifier"] for p in orjson.loads(data)["products"])


def _rows(store: Store) -> list[int]:
    with store.engine.connect() as conn:
        return sorted(conn.execute(select(baseline.BASELINE.c.job_id)).scalars())


def test_a_catalog_published_to_another_folder_is_not_judged_by_the_shops_run(store: Store, tmp_path: Path) -> None:
    _catalog(store)
    sale = _file(tmp_path / "catalogs", "sale.yaml", SALE)
    shop, outlet = tmp_path / "shop", tmp_path / "outlet"
    for _ in range(2):  # the two alternate, as a cron publishing both would
        full = publish(store, shop, channel="storefront", scope=SCOPE)
        subset = publish(store, outlet, channel="storefront", scope=SCOPE, options={"catalog": str(sale)})
        assert (full.published, subset.published) == (OK, FREE)
    assert _ids(shop) == sorted(f"ok{i}" for i in range(OK)) and _ids(outlet) == sorted(f"free{i}" for i in range(FREE))
    assert _rows(store) == sorted([full.job_id, subset.job_id])  # one baseline per output


def test_a_catalog_swapping_the_products_of_the_same_folder_is_still_refused(store: Store, tmp_path: Path) -> None:
    _catalog(store)
    sale = _file(tmp_path / "catalogs", "sale.yaml", SALE)
    first = publish(store, tmp_path / "shop", channel="storefront", scope=SCOPE)
    with pytest.raises(DropRefused) as refused:
        publish(store, tmp_path / "shop", channel="storefront", scope=SCOPE, options={"catalog": str(sale)})
    assert refused.value.last == OK and refused.value.left == OK
    assert f"job {first.job_id}, the built-in catalog" in str(refused.value)
    assert _ids(tmp_path / "shop") == sorted(f"ok{i}" for i in range(OK))  # nothing replaced


def test_a_publish_kept_before_outputs_were_told_apart_is_every_outputs_baseline(store: Store, tmp_path: Path) -> None:
    """An upgrade: the last run's job names no output and its row is keyed as round 36 kept it (source and
    catalog); the next run, to whichever folder, is judged against it, and replaces that row."""
    _catalog(store)
    catalog = str(_file(tmp_path / "catalogs", "shop.yaml", "code: shop\nrenderer: storefront\n").resolve())
    job = store.start_job("publish", SOURCE)
    store.finish_job(job, {"published": OK, "published_counts": "outputs", "catalog": catalog})
    with store.begin() as conn:
        conn.execute(insert(baseline.BASELINE).values(
            key=hashlib.sha256(f"{SOURCE}\0{catalog}".encode()).hexdigest(), source=SOURCE, catalog=catalog,
            job_id=job, published=OK, identifiers=baseline.of(f"ok{i}" for i in range(OK)).blob, written_at=now()))
    sale = _file(tmp_path / "catalogs", "sale.yaml", SALE)
    with pytest.raises(DropRefused) as refused:
        publish(store, tmp_path / "anywhere", channel="storefront", scope=SCOPE, options={"catalog": str(sale)})
    assert refused.value.left == OK
    ran = publish(store, tmp_path / "anywhere", channel="storefront", scope=SCOPE)
    assert _rows(store) == [ran.job_id]


def test_s3_prefixes_are_outputs_of_their_own(store: Store, tmp_path: Path, s3,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """The same staging folder, two S3 prefixes: the shop's run at one does not judge the outlet's at the other;
    a swap at the same prefix is still refused."""
    s3.client().create_bucket(Bucket="pim-feeds")
    monkeypatch.setenv("PIM_S3_BUCKET", "pim-feeds")
    monkeypatch.setenv("PIM_S3_ENDPOINT_URL", s3.url)
    _catalog(store)
    sale = _file(tmp_path / "catalogs", "sale.yaml", SALE)

    def run(prefix: str, **options: str) -> object:
        monkeypatch.setenv("PIM_S3_PREFIX", prefix)
        reset_settings()
        return publish(store, tmp_path / "out", channel="storefront", scope=SCOPE, exporter="s3", options=options)

    assert run("shop/").published == OK
    assert run("outlet/", catalog=str(sale)).published == FREE
    assert run("shop/").published == OK
    with pytest.raises(DropRefused):
        run("shop/", catalog=str(sale))
