"""Round 35, publishing: the publish guard compares which products leave a channel, not only how many (a swap of
most products for as many others is refused), with its thresholds as settings; S3 and SFTP outputs lose the files
a publication no longer writes, as local outputs do, and never a file the project did not write; a product Google
Merchant publishes to one target counts as published; `pim demo` groups its warnings."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from exporters.s3 import S3Exporter
from exporters.sftp import SftpExporter
from pim import publish_baseline as baseline
from pim.catalog import Structure
from pim.contracts import SftpTarget
from pim.errors import ConfigError
from pim.pipeline import DropRefused, publish
from pim.product import Product
from pim.protocols import Artifact, PublishContext
from pim.settings import get_settings, reset_settings
from pim.store import Store
from tests.channel_data import ERP, complete_values, seed_products, seed_structure


def _products(store: Store, prefix: str, n: int) -> None:
    store.upsert_products([Product(identifier=f"{prefix}{i}", family="shoes", categories=["shoes"], source=ERP,
                                   values=complete_values(sku=f"{prefix}{i}")) for i in range(n)])


def _guard(monkeypatch: pytest.MonkeyPatch, **env: str) -> None:
    for name, value in env.items():
        monkeypatch.setenv(f"PIM_PUBLISH_{name.upper()}", value)
    reset_settings()


def _storefront(store: Store, out: Path, **kw: Any) -> Any:
    return publish(store, out, channel="storefront", scope="ecommerce", **kw)


# ---------------------------------------------------------------------------------------------- 1. the guard
def test_a_publish_swapping_most_products_for_as_many_others_is_refused(store: Store, tmp_path: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    _guard(monkeypatch, drop_min="3")
    seed_structure(store)
    _products(store, "a", 10)
    first = _storefront(store, tmp_path)
    assert first.published == 10
    before = (tmp_path / "storefront" / "catalog.ecommerce.en_US.json").read_bytes()
    store.delete_products([f"a{i}" for i in range(8)])
    _products(store, "b", 8)  # as many products as before: the counts alone see no drop
    with pytest.raises(DropRefused) as refused:
        _storefront(store, tmp_path)
    said = refused.value.describe()
    assert f"would publish 10 products where its last publish (job {first.job_id}) published 10, 8 of which " \
           "would leave it (e.g. a0, a1, a2, a3, a4)" in said
    assert (tmp_path / "storefront" / "catalog.ecommerce.en_US.json").read_bytes() == before  # nothing replaced
    [job] = [j for j in store.jobs("publish") if j["status"] == "failed"]
    assert job["counts"]["leaving"] == 8 and job["counts"]["last_published"] == 10


def test_a_swap_published_with_allow_drop_is_the_next_publish_baseline(store: Store, tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _guard(monkeypatch, drop_min="3")
    seed_structure(store)
    _products(store, "a", 10)
    _storefront(store, tmp_path)
    store.delete_products([f"a{i}" for i in range(8)])
    _products(store, "b", 8)
    with pytest.raises(DropRefused):
        _storefront(store, tmp_path)
    swapped = _storefront(store, tmp_path, allow_drop=True)
    assert _storefront(store, tmp_path).published == swapped.published == 10  # the swap is what it compares with
    with store.engine.connect() as conn:
        blob, job = conn.execute(select(baseline.BASELINE.c.identifiers, baseline.BASELINE.c.job_id)).one()
    assert sorted(baseline.identifiers(blob)) == ["a8", "a9", *(f"b{i}" for i in range(8))]
    assert job == max(j["id"] for j in store.jobs("publish"))


def test_products_held_back_count_as_leaving(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Half the catalog blocked by the gate while as many new products arrive: the same count, other products."""
    _guard(monkeypatch, drop_min="3")
    seed_structure(store)
    _products(store, "a", 10)
    _storefront(store, tmp_path)
    store.upsert_products([Product(identifier=f"a{i}", family="shoes", categories=["shoes"], source=ERP,
                                   values={**complete_values(sku=f"a{i}"), "name:de_DE": None, "name:en_US": None})
                           for i in range(6)])  # in no locale file (round 37: one locale missing keeps the other)
    _products(store, "c", 6)
    with pytest.raises(DropRefused) as refused:
        _storefront(store, tmp_path)
    assert refused.value.left == 6 and refused.value.now == 10


def test_the_guard_thresholds_are_settings(store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _guard(monkeypatch, drop_share="0.2", drop_min="1")
    seed_structure(store)
    _products(store, "a", 10)
    _storefront(store, tmp_path)
    store.delete_products(["a0", "a1", "a2"])  # 3 of 10 leave: more than 0.2
    with pytest.raises(DropRefused):
        _storefront(store, tmp_path)
    _guard(monkeypatch, drop_share="0.9")  # 3 of 10 are fine now
    assert _storefront(store, tmp_path).published == 7


def test_a_guard_setting_out_of_range_is_refused_naming_it(pim_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PIM_PUBLISH_DROP_SHARE", "1.5")
    reset_settings()
    with pytest.raises(ConfigError, match="PIM_PUBLISH_DROP_SHARE"):
        get_settings()


def test_departures_are_counted_from_the_kept_identifiers() -> None:
    import hashlib

    skus = [hashlib.sha1(str(i).encode()).hexdigest()[:16] for i in range(30_000)]  # compressed well past one block
    before, now = baseline.of(skus[:20_000]), baseline.of(skus[5_000:])
    assert len(before.blob) > 1 << 17
    assert list(baseline.identifiers(before.blob)) == skus[:20_000]
    assert baseline.departures(before.blob, now, examples=3) == (5_000, skus[:3])
    assert baseline.of(f"sku-{i}" for i in range(5000)).count == 5000
    assert len(baseline.of(f"sku-{i}" for i in range(5000)).blob) < 5000 * 4  # sorted-ish ids: a few bytes each


# ---------------------------------------------------------------------------------------------- 2. S3 and SFTP
def _artifacts(tmp_path: Path, names: list[str]) -> list[Artifact]:
    out = []
    for name in names:
        path = tmp_path / "staged" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(name)
        out.append(Artifact(path=path, name=name, content_type="application/rss+xml"))
    return out


def _ctx(tmp_path: Path, renderer: str | None = "google_merchant", job: int = 1) -> PublishContext:
    return PublishContext(Structure(), tmp_path / "out", "ecommerce", job_id=job,
                          options={"renderer": renderer} if renderer else {})


PER_LOCALE = ["google_merchant/feed.ecommerce.en_US.xml", "google_merchant/feed.ecommerce.de_DE.xml"]
PER_TARGET = ["google_merchant/feed.ecommerce.DE-de_DE.xml"]


def _keys(s3: Any, bucket: str) -> set[str]:
    return {o["Key"] for o in s3.client().list_objects_v2(Bucket=bucket).get("Contents", [])}


def test_s3_removes_the_objects_its_last_publication_wrote_and_this_one_does_not(tmp_path: Path, s3: Any) -> None:
    s3.client().create_bucket(Bucket="pim-clean")
    exporter = S3Exporter(bucket="pim-clean", prefix="catalogs", endpoint_url=s3.url)
    exporter.push(_artifacts(tmp_path, PER_LOCALE), _ctx(tmp_path, job=1))
    foreign = ["catalogs/google_merchant/feed.ecommerce.fr_FR.xml", "catalogs/google_merchant/notes.txt", "other.xml"]
    for key in foreign:
        s3.client().put_object(Bucket="pim-clean", Key=key, Body=b"not ours")
    exporter.push(_artifacts(tmp_path, PER_TARGET), _ctx(tmp_path, job=2))
    assert _keys(s3, "pim-clean") == {*foreign, "catalogs/google_merchant/feed.ecommerce.DE-de_DE.xml",
                                      "catalogs/.published/google_merchant.ecommerce.json"}
    manifest = s3.client().get_object(Bucket="pim-clean", Key="catalogs/.published/google_merchant.ecommerce.json")
    assert orjson.loads(manifest["Body"].read())["files"] == PER_TARGET
    for job, name in ((3, "f/one.csv"), (4, "f/two.csv")):  # a renderer that keeps every file: no manifest either
        exporter.push(_artifacts(tmp_path, [name]), _ctx(tmp_path, renderer="feed_csv", job=job))
    assert {"catalogs/f/one.csv", "catalogs/f/two.csv"} < _keys(s3, "pim-clean")
    assert not any(k.startswith("catalogs/.published/feed_csv") for k in _keys(s3, "pim-clean"))


def test_s3_keeps_an_object_someone_else_put_under_a_key_it_wrote(tmp_path: Path, s3: Any) -> None:
    s3.client().create_bucket(Bucket="pim-keep")
    exporter = S3Exporter(bucket="pim-keep", prefix="", endpoint_url=s3.url)
    exporter.push(_artifacts(tmp_path, PER_LOCALE), _ctx(tmp_path, job=1))
    s3.client().put_object(Bucket="pim-keep", Key=PER_LOCALE[1], Body=b"replaced by hand")  # no metadata of ours
    exporter.push(_artifacts(tmp_path, PER_TARGET), _ctx(tmp_path, job=2))
    assert _keys(s3, "pim-keep") == {PER_LOCALE[1], *PER_TARGET, ".published/google_merchant.ecommerce.json"}


@pytest.mark.sshd
def test_sftp_removes_the_files_its_last_publication_wrote_and_never_a_foreign_one(tmp_path: Path,
                                                                                   sftp_server: Any) -> None:
    target = SftpTarget(host="127.0.0.1", port=sftp_server.port, user="pimfeed_b",
                        private_key=sftp_server.client_key, host_key_fingerprint=sftp_server.host_key_fingerprint,
                        remote_dir="/upload")
    upload = sftp_server.upload_dir("pimfeed_b")
    exporter = SftpExporter(target, retries=1)
    exporter.push(_artifacts(tmp_path, PER_LOCALE), _ctx(tmp_path, job=1))
    assert all((upload / n).is_file() for n in PER_LOCALE)  # folders made as needed
    (upload / "google_merchant" / "notes.txt").write_text("the customer's")
    (upload / "google_merchant" / "notes.txt").chmod(0o644)
    exporter.push(_artifacts(tmp_path, PER_TARGET), _ctx(tmp_path, job=2))
    assert sorted(p.name for p in (upload / "google_merchant").iterdir()) == ["feed.ecommerce.DE-de_DE.xml",
                                                                             "notes.txt"]
    assert orjson.loads((upload / ".published" / "google_merchant.ecommerce.json").read_bytes())["files"] == PER_TARGET
    exporter.push(_artifacts(tmp_path, ["feed-2.csv"]), None)  # a customer feed delivery: nothing removed
    exporter.push(_artifacts(tmp_path, ["feed-3.csv"]), None)
    assert (upload / "feed-2.csv").is_file() and (upload / "google_merchant" / "notes.txt").is_file()


def test_a_publication_to_sftp_without_a_target_says_where_sftp_is_set(store: Store, tmp_path: Path) -> None:
    seed_products(store)
    with pytest.raises(ConfigError) as refused:
        _storefront(store, tmp_path, exporter="sftp")
    assert "pim feeds deliver" in refused.value.describe() and "--to s3" in refused.value.describe()
    assert not (tmp_path / "storefront").exists()  # nothing went anywhere


# ---------------------------------------------------------------------------------------------- 3. Google targets
def test_a_product_google_publishes_to_one_target_counts_as_published(store: Store, tmp_path: Path) -> None:
    from tests.test_google_merchant_shipping import DE, PARCEL_KG, US, _add, _publish

    seed_products(store)
    _add(store, "weightless", weight=None)
    result, feeds = _publish(store, tmp_path, [{**DE, "shipping": [{"service": "Parcel", "by_weight": PARCEL_KG}]},
                                               {**US, "shipping": [{"service": "Ground", "price": "7"}]}])
    assert "weightless" not in feeds["DE-de_DE"] and "weightless" in feeds["US-en_US"]
    assert "google_merchant:DE-de_DE:missing:shipping_weight" in result.blocked["weightless"]  # the reason stays
    written = set(feeds["DE-de_DE"]) | set(feeds["US-en_US"])
    assert result.published == len(written)
    partly = {p for p in written if p in result.blocked}
    assert "weightless" in partly and result.partly == partly
    summary = result.summary()
    assert summary["partly_blocked"] == len(partly)
    assert summary["blocked"] == len(result.blocked) - len(partly) - summary["disabled"]


# ---------------------------------------------------------------------------------------------- 4. demo warnings
_FEED = "contract %s links images and files as paths of this catalog (e.g. %s), which its customer cannot fetch"
_MEDIA = "channel %s links its images as file:// URLs of this machine's media folder (e.g. %s): %s"


def _warning_step(run: Any) -> dict[str, Any]:
    import logging

    for n in range(5):
        logging.getLogger("channels.feed_row").warning(_FEED, f"cust_{n:04d}-main", f"images/P{n}/image.jpg")
        logging.getLogger("media.links").warning(_MEDIA, "ecommerce", f"file:///m/{n}.webp", f"hint {n}")
    return {}


def _demo_console() -> Any:
    import io

    from rich.console import Console

    return Console(file=io.StringIO(), width=400, soft_wrap=True)


def test_demo_groups_its_warnings_one_line_per_kind(store: Store, pim_env: Path, monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from pim import demo

    monkeypatch.setattr(demo, "DEMO_STEPS", [("warn", "tests.test_publish_r35:_warning_step")])
    console = _demo_console()
    demo.run_demo("tiny", 1, console=console)
    printed = console.file.getvalue()
    assert "10 warnings, 2 kinds" in printed
    assert ("5 times (cust_0000-main, cust_0001-main, cust_0002-main and 2 more): contract cust_0000-main links "
            "images and files as paths of this catalog (e.g. images/P0/image.jpg)") in printed
    assert "5 times (ecommerce): channel ecommerce links its images as file:// URLs" in printed
    assert "cust_0004-main links" not in printed and "cust_0004-main links" not in capsys.readouterr().err
    kept = (pim_env / demo.WARNINGS_FILE).read_text().splitlines()
    assert len(kept) == 10 and kept[-2].startswith("contract cust_0004-main links")
    assert "demo-warnings.log" in printed


def test_demo_verbose_prints_every_warning(store: Store, pim_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from pim import demo

    monkeypatch.setattr(demo, "DEMO_STEPS", [("warn", "tests.test_publish_r35:_warning_step")])
    console = _demo_console()
    demo.run_demo("tiny", 1, console=console, verbose=True)
    printed = console.file.getvalue()
    assert all(f"contract cust_{n:04d}-main links" in printed and f"file:///m/{n}.webp" in printed for n in range(5))
