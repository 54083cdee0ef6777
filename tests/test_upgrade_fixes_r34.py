"""Round 34, what an upgrade from the previous release showed: the first publish after it has no baseline, yet one
that would publish none of many products is refused (Google without a public image URL emptied both feeds); the
one search rebuild a new document version causes says so; an upload's job is labelled by the file's own name,
as the command line labels it."""

from __future__ import annotations

from pathlib import Path

import pytest

from channels import search_settings
from pim import job_queue, pipeline
from pim.pipeline import DropRefused, publish, refuse_drop
from pim.sources import job_label
from pim.store import Store
from tests.search_data import load_catalog, publish_search
from tests.test_api import cheap_argon2  # noqa: F401  (autouse fixture)
from tests.test_publish_fixes_r34 import _seed  # the seeded catalog plus EXTRA complete products

pytestmark = pytest.mark.backends("sqlite")  # nothing here is about the database

FEED = Path("google_merchant") / "feed.ecommerce.en_US.xml"


@pytest.fixture
def small_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "DROP_MIN", 3)



def _old_release_publish(store: Store, source: str, published: int) -> int:
    """A publish job as the previous release recorded it: `published` without saying what it counts."""
    job = store.start_job("publish", source)
    store.finish_job(job, {"published": published, "blocked": 0, "files": []})
    return job


# ---------------------------------------------------------------------------------------------- 1: the guard
def test_the_first_publish_after_the_upgrade_is_refused_when_it_would_publish_none_of_many(
        small_guard: None, store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _seed(store)
    _old_release_publish(store, "google_merchant/ecommerce", 4907)  # no baseline for the guard's share rule
    (tmp_path / FEED).parent.mkdir(parents=True)
    (tmp_path / FEED).write_bytes(b"<rss>the feed Google reads now</rss>")
    monkeypatch.setattr("channels.google_merchant.IMAGE_LINKS", "tests.test_channels_fixes_r34:FileLinks")
    with pytest.raises(DropRefused) as refused:
        publish(store, tmp_path, channel="google_merchant", scope="ecommerce")
    said = refused.value.describe()
    assert refused.value.exit_code == 6 and refused.value.last is None
    assert "google_merchant (ecommerce) would publish 0 products: all " in said
    assert "google_merchant:image_link_not_public:file (" in said  # the renderer's own rule, named
    assert "--allow-drop" in said and '"allow_drop": true' in said
    assert (tmp_path / FEED).read_bytes() == b"<rss>the feed Google reads now</rss>"  # nothing replaced
    [job] = [j for j in store.jobs("publish") if j["status"] == "failed"]
    assert job["counts"]["published"] == 0 and job["counts"]["last_published"] is None
    emptied = publish(store, tmp_path, channel="google_merchant", scope="ecommerce", allow_drop=True)
    assert emptied.published == 0  # told to: it goes out, and an empty channel is the new baseline
    assert publish(store, tmp_path, channel="google_merchant", scope="ecommerce").published == 0


def test_none_of_many_is_refused_without_a_baseline_and_an_empty_catalog_passes(small_guard: None,
                                                                               store: Store) -> None:
    source = "storefront/ecommerce"
    refuse_drop(store, source, 0, {}, [])  # an empty catalog's first publish
    refuse_drop(store, source, 0, {"a": ["completeness:fr_FR"], "b": ["completeness:fr_FR"]}, [])  # under DROP_MIN
    refuse_drop(store, source, 0, {s: ["disabled"] for s in "abcdef"}, [])  # disabled ones never reach the gate
    refuse_drop(store, source, 1, {s: ["completeness:fr_FR"] for s in "abcdef"}, [])  # one published: not none
    with pytest.raises(DropRefused, match=r"would publish 0 products: all 3 that reached the gate") as refused:
        refuse_drop(store, source, 0, {s: ["completeness:fr_FR"] for s in "abc"}, [])
    assert "completeness:fr_FR (3 products)" in str(refused.value)


# ---------------------------------------------------------------------------------------------- 2: search
@pytest.fixture
def search_store(store: Store, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.delenv("MEILI_URL", raising=False)
    load_catalog(store)
    return store


def test_the_rebuild_after_a_new_document_version_names_the_version(search_store: Store, tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    now = search_settings.DOCUMENT_VERSION
    with monkeypatch.context() as before:
        before.setattr(search_settings, "DOCUMENT_VERSION", now - 1)  # what the previous release pushed
        publish_search(search_store, tmp_path, exporter="local")
    result = publish_search(search_store, tmp_path, exporter="local")
    said = f"search documents changed shape (document version {now - 1} → {now}): one full rebuild"
    assert result.mode() == {"mode": "full", "reason": said}
    assert search_store.job(result.job_id)["counts"]["reason"] == said  # type: ignore[index]


def test_a_structure_change_keeps_its_own_reason(search_store: Store, tmp_path: Path) -> None:
    """Guard (passes before and after): a shape change the version does not explain is not put on it."""
    publish_search(search_store, tmp_path, exporter="local")
    structure = search_store.structure()
    brand = structure.attributes["brand"]
    search_store.put_structure("attribute", [brand.model_copy(update={"searchable": not brand.searchable})])
    result = publish_search(search_store, tmp_path, exporter="local")
    assert result.mode() == {"mode": "full",
                             "reason": "the structure, the listing rendition or the CDN changed what documents contain"}


# ---------------------------------------------------------------------------------------------- 3: job labels
def test_an_uploads_job_is_labelled_by_the_files_own_name_as_the_command_line_labels_it(role_tokens,
                                                                                       store: Store) -> None:
    client, tokens = role_tokens
    resp = client.post("/api/v1/imports", headers=tokens["editor"], data={"importer": "content"},
                       files={"file": ("spring.csv", b"sku,name:en_US\ncomplete,Trail Runner\n", "text/csv")})
    assert resp.status_code == 202, resp.text
    assert resp.json()["source"] == job_label("content", Path("/anywhere/spring.csv")) == "content:spring.csv"
    [ran] = job_queue.work(store, once=True).jobs
    assert ran["status"] == "succeeded" and ran["source"] == "content:spring.csv"  # the run keeps the label
    assert Path(ran["payload"]["path"]).name != "spring.csv"  # kept under a name of its own
