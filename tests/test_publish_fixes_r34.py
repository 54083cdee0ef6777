"""Round 34, publishing and structure loading: a publish that would drop most of the products the channel's last
publish published is refused before anything goes out (command, queued job, API override); `published` is what
the outputs hold; structure files and the API keep a locale a search target or a contract relies on; a content
file's `enabled` is answered with where the status can be set."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from channels.search import save_state
from pim import job_queue, pipeline
from pim.contracts import put_contracts
from pim.errors import GateBlocked
from pim.pipeline import DropRefused, publish, refuse_drop
from pim.product import Product
from pim.protocols import Artifact
from pim.store import Store
from pim.structure import Locale
from pim.structure_files import StructureErrors, load_structure_files
from tests.channel_data import ERP, complete_values, seed_products, seed_structure
from tests.feeds_data import contract
from tests.test_api import cheap_argon2  # noqa: F401  (autouse fixture)

pytestmark = pytest.mark.backends("sqlite")  # nothing here is about the database

EXTRA = 6  # complete products beside the seeded ones, so that a blocked catalog drops more than DROP_MIN


@pytest.fixture(autouse=True)
def small_guard(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "DROP_MIN", 3)


def _seed(store: Store) -> None:
    seed_products(store)
    store.upsert_products([Product(identifier=f"p{i}", family="shoes", categories=["shoes"], source=ERP,
                                   values=complete_values(sku=f"p{i}")) for i in range(EXTRA)])


def _add_french(store: Store) -> None:
    """The explorer's change: fr_FR on ecommerce, with no French copy anywhere, so the gate blocks everything. In
    place of the channel's locales: since round 37 the storefront keeps a product in the files of the locales it is
    complete in, so only a channel whose every locale lacks its copy is emptied."""
    store.put_structure("locale", [Locale(code="fr_FR")])
    ecommerce = store.structure().channels["ecommerce"]
    store.put_structure("channel", [ecommerce.model_copy(update={"locales": ["fr_FR"]})])


def _products(out: Path, locale: str = "en_US") -> list[str]:
    return [p["identifier"] for p in
            orjson.loads((out / "storefront" / f"catalog.ecommerce.{locale}.json").read_bytes())["products"]]


# ---------------------------------------------------------------------------------------------- the guard
def test_a_publish_that_would_drop_most_products_is_refused_and_the_old_files_stay(store: Store, tmp_path: Path):
    _seed(store)
    first = publish(store, tmp_path, channel="storefront", scope="ecommerce")
    assert first.published >= EXTRA
    before = (tmp_path / "storefront" / "catalog.ecommerce.en_US.json").read_bytes()
    _add_french(store)
    with pytest.raises(DropRefused) as refused:
        publish(store, tmp_path, channel="storefront", scope="ecommerce")
    exc = refused.value
    assert isinstance(exc, GateBlocked) and exc.exit_code == 6
    said = exc.describe()
    assert f"would publish 0 products where its last publish (job {first.job_id}) published {first.published}" in said
    assert "completeness:fr_FR (" in said  # the reason blocking the most products, named
    assert "pim gate report --channel ecommerce" in said and "--allow-drop" in said and '"allow_drop"' in said
    assert (tmp_path / "storefront" / "catalog.ecommerce.en_US.json").read_bytes() == before  # nothing replaced
    assert not (tmp_path / "storefront" / "catalog.ecommerce.fr_FR.json").exists()
    [job] = [j for j in store.jobs("publish") if j["status"] == "failed"]
    assert not (tmp_path / ".staging" / f"job-{job['id']}").exists()  # the rendered files went
    assert job["counts"]["published"] == 0 and job["counts"]["last_published"] == first.published
    assert "--allow-drop" in job["error"]


def test_allow_drop_publishes_anyway_and_becomes_the_last_publish(store: Store, tmp_path: Path):
    _seed(store)
    publish(store, tmp_path, channel="storefront", scope="ecommerce")
    _add_french(store)
    emptied = publish(store, tmp_path, channel="storefront", scope="ecommerce", allow_drop=True)
    assert emptied.published == 0 and _products(tmp_path, "fr_FR") == []
    assert publish(store, tmp_path, channel="storefront", scope="ecommerce").published == 0  # judged against 0


def test_the_guard_weighs_share_and_count_and_skips_runs_sending_only_changes(store: Store, tmp_path: Path):
    job = store.start_job("publish", "search/ecommerce")
    store.finish_job(job, {"published": 10, "published_counts": "outputs"})
    whole = [Artifact(tmp_path / "d", "search/x/documents.ndjson", "application/x-ndjson", 0, {"mode": "full"})]
    with pytest.raises(DropRefused):
        refuse_drop(store, "search/ecommerce", 4, {}, whole)  # under half, 6 fewer
    refuse_drop(store, "search/ecommerce", 5, {}, whole)  # half stays
    refuse_drop(store, "storefront/ecommerce", 0, {}, [])  # another channel: its first publish
    changes = [Artifact(tmp_path / "d", "search/x/documents.ndjson", "application/x-ndjson", 0, {"mode": "incremental"})]
    refuse_drop(store, "search/ecommerce", 0, {}, changes)
    later = store.start_job("publish", "search/ecommerce")  # a run of changes is no measure of the channel
    store.finish_job(later, {"published": 1, "mode": "incremental"})
    with pytest.raises(DropRefused, match=f"job {job}"):
        refuse_drop(store, "search/ecommerce", 0, {"a": ["disabled"]}, whole)
    pipeline.DROP_MIN = 7  # monkeypatched: restored after the test
    refuse_drop(store, "search/ecommerce", 4, {}, whole)  # 6 fewer: under the minimum count


def test_a_queued_publish_is_refused_unless_the_api_allows_the_drop(role_tokens, store: Store, pim_env: Path):
    client, tokens = role_tokens
    store.upsert_products([Product(identifier=f"p{i}", family="shoes", categories=["shoes"], source=ERP,
                                   values=complete_values(sku=f"p{i}")) for i in range(EXTRA)])
    assert client.post("/api/v1/publish", headers=tokens["admin"], json={"channel": "storefront"}).status_code == 202
    assert job_queue.work(store, once=True).jobs[0]["status"] == "succeeded"
    before = _products(pim_env / "out")
    _add_french(store)
    client.post("/api/v1/publish", headers=tokens["admin"], json={"channel": "storefront"})
    [refused] = job_queue.work(store, once=True).jobs
    assert refused["status"] == "failed" and '"allow_drop": true' in refused["error"]
    assert _products(pim_env / "out") == before
    resp = client.post("/api/v1/publish", headers=tokens["admin"], json={"channel": "storefront", "allow_drop": True})
    assert resp.status_code == 202 and resp.json()["payload"]["allow_drop"] is True
    [ran] = job_queue.work(store, once=True).jobs
    assert ran["status"] == "succeeded" and ran["counts"]["published"] == 0
    assert _products(pim_env / "out", "fr_FR") == []


def test_the_command_refuses_with_exit_6_and_allow_drop_publishes(store: Store, pim_env: Path):
    from typer.testing import CliRunner

    from pim.cli import _mount, app

    _mount()
    _seed(store)
    runner = CliRunner()
    assert runner.invoke(app, ["publish", "--channel", "storefront", "--json"]).exit_code == 0
    _add_french(store)
    refused = runner.invoke(app, ["publish", "--channel", "storefront"]).exception  # pim.cli.main exits with its code
    assert isinstance(refused, DropRefused) and refused.exit_code == 6 and "completeness:fr_FR" in str(refused)
    assert runner.invoke(app, ["publish", "--channel", "storefront", "--allow-drop", "--json"]).exit_code == 0


# ---------------------------------------------------------------------------------------------- published
def test_published_counts_only_the_products_the_files_hold(store: Store, tmp_path: Path):
    _seed(store)
    store.upsert_products([Product(identifier="free", family="shoes", categories=["shoes"], source=ERP,
                                   values=complete_values(sku="free", price={"EUR": "0.00", "USD": "0.00"}))])
    result = publish(store, tmp_path, channel="storefront", scope="ecommerce")
    assert any(r.startswith("storefront:") for r in result.blocked["free"])  # the renderer's own rule
    assert result.published == len(_products(tmp_path)) == len(_products(tmp_path, "de_DE"))
    assert store.job(result.job_id)["counts"]["published"] == result.published


# ---------------------------------------------------------------------------------------------- structure
CHANNEL_WITHOUT_DE = """\
channels:
  - code: ecommerce
    locales: [en_US]
    currencies: [EUR, USD]
    category_tree: master
"""


def _relied_on(store: Store) -> None:
    seed_structure(store)
    save_state(store, "files:/srv/out|products|ecommerce", 7, "s", "t", locales=["en_US", "de_DE"])
    put_contracts(store, [contract(channel="ecommerce", locale="de_DE", currency="USD",
                                   assortment={"rules": [{"categories": ["shoes"]}]})])


def test_a_structure_file_keeps_a_locale_a_search_target_or_a_contract_relies_on(store: Store, tmp_path: Path):
    _relied_on(store)
    path = tmp_path / "settings.yaml"
    path.write_text(CHANNEL_WITHOUT_DE)
    with pytest.raises(StructureErrors) as refused:
        load_structure_files(path, store.structure(), store)
    [problem] = refused.value.problems
    assert (problem.line, problem.field) == (3, "channels.0.locales")
    assert "de_DE cannot leave ecommerce while 1 contract delivers in de_DE (acme-tools)" in problem.reason
    assert "products_ecommerce_de_DE at files:/srv/out" in problem.reason
    assert "pim search drop --channel ecommerce --locale de_DE" in problem.reason and "pim feeds load" in problem.reason
    assert load_structure_files(path, store.structure()).channels  # without the store (a new workspace): no check


def test_the_api_answers_409_for_a_locale_something_relies_on_and_writes_nothing(role_tokens, store: Store):
    client, tokens = role_tokens
    _relied_on(store)
    body = {"channels": [{"code": "ecommerce", "locales": ["en_US"], "currencies": ["EUR", "USD"],
                          "category_tree": "master"}]}
    for query in ("?dry_run=true", ""):
        resp = client.post(f"/api/v1/structure{query}", headers=tokens["admin"], json=body)
        assert resp.status_code == 409, resp.text
        [error] = resp.json()["errors"]
        assert (error["section"], error["code"], error["field"]) == ("channels", "ecommerce", "locales")
        assert "1 search target holds its de_DE index" in error["message"]
    assert store.structure().channels["ecommerce"].locales == ["en_US", "de_DE"]


# ---------------------------------------------------------------------------------------------- content
def test_a_content_files_enabled_is_answered_with_the_sources_that_set_it(store: Store, tmp_path: Path):
    from importers.content import import_content
    from tests.source_data import seed_structure as seed_sources

    seed_sources(store)
    path = tmp_path / "c.jsonl"
    path.write_bytes(b'{"sku": "A1", "enabled": false}\n')
    counts = import_content(path, store)
    [entry] = store.quarantined(counts.job_id)
    assert "a content file cannot enable or disable products" in entry["reason"]
    assert "ERP CSV" in entry["reason"] and "pim import jsonl" in entry["reason"] and '"values"' not in entry["reason"]
    assert entry["field"] == "enabled"  # named as the field, as every refusal names its field
