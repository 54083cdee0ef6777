"""Driving the pipeline through the REST API: an uploaded file is kept and queued (202 + Location), a worker
imports it and the job shows its counts; rejected rows are read page by page with file, line and reason;
profiles are named under PIM_HOME, never reached by path; a publication is queued and a worker writes the
channel's files; failed jobs are queued again; products are created (validated like an import) and deleted
(with a tombstone), each by the role it needs; the OpenAPI document describes all of it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from pim import job_enqueue, job_queue
from pim.registry import IMPORTERS
from pim.store import Store
from pim.web.api_pipeline import UPLOADABLE
from tests.channel_data import seed_products
from tests.test_api import cheap_argon2  # noqa: F401  (autouse fixture)
from tests.test_api_errors import by_field
from tests.test_web_ui import login

Headers = dict[str, str]


def _upload(client: TestClient, headers: Headers, name: str, body: bytes, importer: str = "content",
            profile: str | None = None) -> Any:
    data = {"importer": importer, **({"profile": profile} if profile is not None else {})}
    return client.post("/api/v1/imports", headers=headers, data=data, files={"file": (name, body, "text/csv")})


def _kept(home: Path) -> list[Path]:
    folder = home / "uploads"
    return sorted(folder.iterdir()) if folder.exists() else []


# ---------------------------------------------------------------------------------------------- uploads
def test_an_upload_is_queued_then_a_worker_imports_it_and_the_job_shows_its_counts(role_tokens, store: Store,
                                                                                  pim_env: Path) -> None:
    client, tokens = role_tokens
    resp = _upload(client, tokens["editor"], "spring.csv", b"sku,name:en_US\ncomplete,Trail Runner\n")
    assert resp.status_code == 202, resp.text
    job_id = resp.json()["id"]
    assert resp.headers["location"] == f"/api/v1/jobs/{job_id}"
    assert (resp.json()["status"], resp.json()["kind"]) == ("queued", "import")
    assert store.get_product("complete").values["name:en_US"] == "Runner"  # type: ignore[union-attr]  # not yet

    [ran] = job_queue.work(store, once=True).jobs
    assert ran["id"] == job_id
    job = client.get(resp.headers["location"], headers=tokens["viewer"]).json()
    assert job["status"] == "succeeded" and job["error"] is None
    assert (job["counts"]["read"], job["counts"]["updated"], job["counts"]["rejected"]) == (1, 1, 0)
    product = store.get_product("complete")
    assert product is not None and product.values["name:en_US"] == "Trail Runner"
    assert product.provenance_of("name:en_US").source == "content"  # type: ignore[union-attr]
    [kept] = _kept(pim_env)
    assert kept.name.endswith("-ed-spring.csv") and job["payload"]["path"] == kept.name  # not where the server keeps it
    assert resp.json()["payload"]["path"] == kept.name and job["source"] == "content:spring.csv"  # the 202 as well


def test_rejected_rows_are_listed_with_file_line_and_reason_a_page_at_a_time(role_tokens, store: Store,
                                                                             pim_env: Path) -> None:
    client, tokens = role_tokens
    body = b"sku,name:en_US,color\ncomplete,Fine,red\nnope,Ghost,red\nbad-gtin,Odd,purple\n"
    job_id = _upload(client, tokens["editor"], "fix-me.csv", body).json()["id"]
    job_queue.work(store, once=True)
    assert client.get(f"/api/v1/jobs/{job_id}", headers=tokens["viewer"]).json()["status"] == "partial"
    [kept] = _kept(pim_env)

    first = client.get(f"/api/v1/jobs/{job_id}/errors?limit=1", headers=tokens["viewer"]).json()
    second = client.get(f"/api/v1/jobs/{job_id}/errors?limit=1&cursor={first['next_cursor']}",
                        headers=tokens["viewer"]).json()
    assert len(first["items"]) == len(second["items"]) == 1 and second["next_cursor"] is None
    ghost, odd = sorted(first["items"] + second["items"], key=lambda r: r["line"])
    assert (ghost["file"], ghost["line"], ghost["field"], ghost["resolved"]) == (kept.name, 3, "identifier", False)
    assert "nope" in ghost["reason"] and ghost["raw"]["sku"] == "nope"
    assert (odd["file"], odd["line"], odd["field"]) == (kept.name, 4, "color") and "purple" in odd["reason"]
    assert ghost["superseded_by"] is None and ghost["kind"] is None
    assert client.get("/api/v1/jobs/999999/errors", headers=tokens["viewer"]).status_code == 404

    # the same rows uploaded again: the newer rejections replace these (kept, closed, pointing at the new job)
    again = _upload(client, tokens["editor"], "fix-me.csv", body).json()["id"]
    job_queue.work(store, once=True)
    rows = client.get(f"/api/v1/jobs/{job_id}/errors", headers=tokens["viewer"]).json()["items"]
    assert sorted((r["line"], r["resolved"], r["superseded_by"]) for r in rows) == [(3, True, again), (4, True, again)]
    assert client.get(f"/api/v1/jobs/{job_id}/errors?open=true", headers=tokens["viewer"]).json()["items"] == []
    assert len(client.get(f"/api/v1/jobs/{again}/errors?open=true", headers=tokens["viewer"]).json()["items"]) == 2


@pytest.mark.parametrize("name", ["../secret.yaml", "/etc/secret.yaml", "maps/../../secret.yaml", ".hidden.yaml",
                                  "uploads/mine.yaml", "maps\\..\\..\\secret.yaml", "link.yaml"])
def test_a_profile_is_a_name_under_pim_home_never_a_way_out(role_tokens, store: Store, pim_env: Path, tmp_path: Path,
                                                             name: str) -> None:
    client, tokens = role_tokens
    (tmp_path / "secret.yaml").write_text("source: supplier:evil\npid_column: x\n")
    pim_env.mkdir(parents=True, exist_ok=True)
    (pim_env / "link.yaml").symlink_to(tmp_path / "secret.yaml")  # inside by name, outside in fact
    (pim_env / ".hidden.yaml").write_text("source: supplier:evil\npid_column: x\n")
    resp = _upload(client, tokens["editor"], "acme.csv", b"Art-Nr;Name\nS-1;X\n", importer="supplier", profile=name)
    assert resp.status_code == 422
    assert "not a profile name" in by_field(resp)["body.profile"]
    assert store.jobs(kind="import") == [] and _kept(pim_env) == []


def test_a_map_named_under_pim_home_is_the_one_the_import_reads(role_tokens, store: Store, pim_env: Path) -> None:
    client, tokens = role_tokens
    (pim_env / "maps").mkdir(parents=True)
    (pim_env / "maps" / "acme.map.yaml").write_text(
        "source: supplier:acme\npid_column: Art-Nr\nfamily: shoes\ncolumns:\n  Name: name:en_US\n  MPN: mpn\n")
    resp = _upload(client, tokens["editor"], "acme.csv", b"Art-Nr;Name;MPN\nS-1;Supplied Shoe;M-1\n",
                   importer="supplier", profile="maps/acme.map.yaml")
    assert resp.status_code == 202, resp.text
    [job] = job_queue.work(store, once=True).jobs
    assert job["status"] == "succeeded", job["error"]
    product = store.get_product("S-1")
    assert product is not None and product.family == "shoes"
    assert product.values["mpn"] == "M-1" and product.provenance_of("mpn").source == "supplier:acme"  # type: ignore[union-attr]


def test_every_uploadable_importer_is_a_registered_one() -> None:
    assert set(UPLOADABLE) <= set(IMPORTERS) and "akeneo" not in UPLOADABLE


def test_importers_that_cannot_take_an_upload_are_refused_naming_the_allowed_ones(role_tokens, store: Store,
                                                                                  pim_env: Path) -> None:
    client, tokens = role_tokens
    for importer in ("akeneo", "nope"):
        resp = _upload(client, tokens["editor"], "x.csv", b"sku\nx\n", importer=importer)
        assert resp.status_code == 422
        assert "allowed: bmecat, content, erp_csv, erp_xml, jsonl, supplier" in by_field(resp)["body.importer"]
    wrong_type = _upload(client, tokens["editor"], "x.xml", b"<x/>", importer="content")
    assert wrong_type.status_code == 422 and ".csv" in by_field(wrong_type)["body.file"]
    no_map = _upload(client, tokens["editor"], "acme.csv", b"Art-Nr\nS-1\n", importer="supplier")
    assert no_map.status_code == 422 and "needs its map" in by_field(no_map)["body.profile"]
    assert store.jobs(kind="import") == [] and _kept(pim_env) == []


def test_viewers_may_not_upload_and_only_admins_replace_whole_records(role_tokens, store: Store) -> None:
    client, tokens = role_tokens
    line = b'{"kind": "product", "identifier": "j-1", "family": "shoes", "values": {"sku": "j-1"}}\n'
    assert _upload(client, tokens["viewer"], "c.csv", b"sku,name:en_US\ncomplete,X\n").status_code == 403
    assert _upload(client, tokens["editor"], "p.jsonl", line, importer="jsonl").status_code == 403
    assert _upload(client, tokens["admin"], "p.jsonl", line, importer="jsonl").status_code == 202
    [job] = job_queue.work(store, once=True).jobs
    assert job["status"] == "succeeded" and store.get_product("j-1") is not None


def test_an_upload_over_the_cap_is_refused_with_413_and_not_kept(role_tokens, store: Store, pim_env: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    client, tokens = role_tokens
    monkeypatch.setattr("pim.web.imports.MAX_UPLOAD", 16)
    resp = _upload(client, tokens["editor"], "big.csv", b"sku,name:en_US\ncomplete,Much too long\n")
    assert resp.status_code == 413 and "pim import" in by_field(resp)[None]
    assert store.jobs(kind="import") == [] and _kept(pim_env) == []


# ---------------------------------------------------------------------------------------------- publish
def test_a_queued_publication_is_written_to_the_output_by_a_worker(role_tokens, store: Store, pim_env: Path) -> None:
    client, tokens = role_tokens
    resp = client.post("/api/v1/publish", headers=tokens["admin"], json={"channel": "storefront", "scope": "ecommerce"})
    assert resp.status_code == 202, resp.text
    job_id = resp.json()["id"]
    assert resp.headers["location"] == f"/api/v1/jobs/{job_id}" and resp.json()["status"] == "queued"
    out = pim_env / "out"
    assert not list(out.rglob("catalog.*.json"))  # nothing published inside the request

    [ran] = job_queue.work(store, once=True).jobs
    assert ran["id"] == job_id and ran["status"] == "succeeded", ran["error"]
    job = client.get(resp.headers["location"], headers=tokens["viewer"]).json()
    assert job["counts"]["scope"] == "ecommerce" and job["counts"]["published"] >= 1
    assert sorted(job["counts"]["locations"]) == [str(out / "storefront" / f"catalog.ecommerce.{locale}.json")
                                                  for locale in ("de_DE", "en_US")]  # PIM_OUTPUT, as `pim publish`
    en = orjson.loads((out / "storefront" / "catalog.ecommerce.en_US.json").read_bytes())
    assert "complete" in [p["identifier"] for p in en["products"]]
    assert len(en["products"]) == job["counts"]["published"]
    assert [j["id"] for j in store.jobs(kind="publish")] == [job_id]  # the run landed on the queued job


def test_publish_refuses_unknown_channels_scopes_and_exporters_naming_the_known_ones(role_tokens, store: Store) -> None:
    client, tokens = role_tokens
    h = tokens["admin"]
    for channel in ("nope", "feed_csv"):
        resp = client.post("/api/v1/publish", headers=h, json={"channel": channel})
        assert resp.status_code == 422
        assert "known: google_merchant, search, storefront" in by_field(resp)["body.channel"]
    scope = client.post("/api/v1/publish", headers=h, json={"channel": "storefront", "scope": "print"})
    assert scope.status_code == 422 and "known: ecommerce" in by_field(scope)["body.scope"]
    to = client.post("/api/v1/publish", headers=h, json={"channel": "storefront", "to": "ftp"})
    assert to.status_code == 422 and "local" in by_field(to)["body.to"]
    assert store.jobs(kind="publish") == []


def test_only_admins_publish(role_tokens, store: Store) -> None:
    client, tokens = role_tokens
    for role in ("viewer", "editor"):
        assert client.post("/api/v1/publish", headers=tokens[role], json={"channel": "storefront"}).status_code == 403
    assert store.jobs(kind="publish") == []


# ---------------------------------------------------------------------------------------------- retry
def test_a_failed_import_is_queued_again_and_runs_the_fixed_file(role_tokens, store: Store, pim_env: Path) -> None:
    client, tokens = role_tokens
    job_id = _upload(client, tokens["editor"], "empty.csv", b"").json()["id"]
    job_queue.work(store, once=True)
    assert store.job(job_id)["status"] == "failed"  # type: ignore[index]
    assert client.post(f"/api/v1/jobs/{job_id}/retry", headers=tokens["viewer"]).status_code == 403

    resp = client.post(f"/api/v1/jobs/{job_id}/retry", headers=tokens["editor"])
    assert resp.status_code == 202 and resp.headers["location"] == f"/api/v1/jobs/{job_id}"
    assert resp.json()["status"] == "queued" and resp.json()["payload"]["attempts"][0]["status"] == "failed"
    assert client.post(f"/api/v1/jobs/{job_id}/retry", headers=tokens["editor"]).status_code == 409  # queued now
    [kept] = _kept(pim_env)
    kept.write_bytes(b"sku,name:en_US\ncomplete,Fixed\n")
    [ran] = job_queue.work(store, once=True).jobs
    assert ran["status"] == "succeeded" and store.get_product("complete").values["name:en_US"] == "Fixed"  # type: ignore[union-attr]
    again = client.post(f"/api/v1/jobs/{job_id}/retry", headers=tokens["editor"])
    assert again.status_code == 409 and "succeeded" in by_field(again)[None]
    assert client.post("/api/v1/jobs/999999/retry", headers=tokens["editor"]).status_code == 404


def test_a_failed_publication_is_queued_again_by_admins_only(role_tokens, store: Store) -> None:
    client, tokens = role_tokens
    job_id = job_enqueue.enqueue(store, "publish", "storefront/gone", {"channel": "storefront", "scope": "gone"})
    [ran] = job_queue.work(store, once=True).jobs
    assert ran["status"] == "failed" and "unknown channel scope 'gone'" in ran["error"]
    assert client.post(f"/api/v1/jobs/{job_id}/retry", headers=tokens["editor"]).status_code == 403
    assert client.post(f"/api/v1/jobs/{job_id}/retry", headers=tokens["admin"]).status_code == 202
    assert store.job(job_id)["status"] == "queued"  # type: ignore[index]


def test_the_job_page_asks_the_same_role_to_run_a_publication_again(role_tokens, store: Store) -> None:
    client, _ = role_tokens
    job_id = job_enqueue.enqueue(store, "publish", "storefront/gone", {"channel": "storefront", "scope": "gone"})
    job_queue.work(store, once=True)
    token = login(client, "ed")  # the web UI's session, an editor
    assert client.post(f"/jobs/{job_id}/retry", data={"csrf_token": token}).status_code == 403
    assert store.job(job_id)["status"] == "failed"  # type: ignore[index]


# ---------------------------------------------------------------------------------------------- products
def test_an_editor_creates_a_product_validated_and_normalized_like_an_import(role_tokens, store: Store) -> None:
    client, tokens = role_tokens
    resp = client.post("/api/v1/products", headers=tokens["editor"], json={
        "identifier": "new-1", "family": "shoes", "categories": ["shoes"],
        "values": {"name:en_US": "New Shoe", "price": {"EUR": "12,5"}, "weight": {"amount": "0.5", "unit": "KILOGRAM"}}})
    assert resp.status_code == 201, resp.text
    assert resp.headers["location"] == "/api/v1/products/new-1"
    product = store.get_product("new-1")
    assert product is not None and product.family == "shoes" and product.categories == ["shoes"]
    assert product.values["sku"] == "new-1" and product.values["price"] == {"EUR": "12.50"}
    assert product.provenance_of("name:en_US").ref == "user:ed"  # type: ignore[union-attr]
    assert resp.json() == client.get(resp.headers["location"], headers=tokens["viewer"]).json()
    grid = client.get("/api/v1/products?q=new-1", headers=tokens["viewer"]).json()["items"]
    assert [i["identifier"] for i in grid] == ["new-1"]  # the grid index heard of it
    history = client.get("/api/v1/products/new-1/history", headers=tokens["viewer"]).json()
    assert {h["value_key"] for h in history} == {"sku", "name:en_US", "price", "weight"}


def test_creating_names_each_wrong_field_and_writes_nothing(role_tokens, store: Store) -> None:
    client, tokens = role_tokens
    resp = client.post("/api/v1/products", headers=tokens["editor"], json={
        "identifier": "new-2", "family": "boots", "categories": ["nowhere"],
        "values": {"sku": "other", "color": "purple", "name": "no locale", "fabric": "wool"}})
    assert resp.status_code == 422
    errors = by_field(resp)
    assert set(errors) == {"body.family", "body.categories"} | {f"body.values.{k}" for k in ("sku", "color", "name",
                                                                                              "fabric")}
    assert "boots" in errors["body.family"] and "nowhere" in errors["body.categories"]
    assert "purple" in errors["body.values.color"] and "localizable" in errors["body.values.name"]
    assert "fabric" in errors["body.values.fabric"] and "identifier 'new-2'" in errors["body.values.sku"]
    assert store.get_product("new-2") is None


def test_viewers_may_not_create_and_an_existing_identifier_is_a_conflict(role_tokens, store: Store) -> None:
    client, tokens = role_tokens
    body = {"identifier": "complete", "family": "shoes", "values": {"name:en_US": "Replaced"}}
    assert client.post("/api/v1/products", headers=tokens["viewer"], json={**body, "identifier": "v-1"}).status_code == 403
    before = store.get_product("complete")
    resp = client.post("/api/v1/products", headers=tokens["editor"], json=body)
    assert resp.status_code == 409 and "exists" in by_field(resp)[None]
    assert store.get_product("complete") == before


def test_only_admins_delete_and_a_deletion_leaves_a_tombstone(role_tokens, store: Store) -> None:
    client, tokens = role_tokens
    for role in ("viewer", "editor"):
        assert client.delete("/api/v1/products/long-title", headers=tokens[role]).status_code == 403
    assert store.get_product("long-title") is not None
    resp = client.delete("/api/v1/products/long-title", headers=tokens["admin"])
    assert resp.status_code == 204
    assert store.get_product("long-title") is None and "long-title" in store.deleted_since(0)
    assert client.get("/api/v1/products/long-title", headers=tokens["viewer"]).status_code == 404
    assert client.delete("/api/v1/products/long-title", headers=tokens["admin"]).status_code == 404


# ---------------------------------------------------------------------------------------------- OpenAPI
def test_openapi_documents_the_pipeline_routes_and_their_models(role_tokens) -> None:
    client, _ = role_tokens
    doc = client.get("/api/v1/openapi.json").json()
    paths = doc["paths"]
    assert "post" in paths["/api/v1/imports"] and "post" in paths["/api/v1/publish"]
    assert "get" in paths["/api/v1/jobs/{job_id}/errors"] and "post" in paths["/api/v1/jobs/{job_id}/retry"]
    assert "post" in paths["/api/v1/products"] and "delete" in paths["/api/v1/products/{identifier}"]
    assert "multipart/form-data" in paths["/api/v1/imports"]["post"]["requestBody"]["content"]
    assert {"202", "413", "422"} <= set(paths["/api/v1/imports"]["post"]["responses"])
    schemas = doc["components"]["schemas"]
    assert {"PublishRequest", "ProductCreate", "QuarantinePage", "JobOut", "ApiErrors"} <= set(schemas)
    upload = schemas[paths["/api/v1/imports"]["post"]["requestBody"]["content"]["multipart/form-data"]["schema"]
                     ["$ref"].rsplit("/", 1)[1]]
    assert {"file", "importer", "profile"} <= set(upload["properties"])


@pytest.mark.backends("postgresql")
def test_two_simultaneous_creates_of_one_identifier_leave_the_first(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The first create holds its transaction open between its check and its write; the second, started then,
    must answer 'exists' once the first commits, not overwrite it (PostgreSQL's READ COMMITTED lets both
    checks see nothing without the lock)."""
    import threading

    from pim.web import product_create

    seed_products(store)
    structure = store.structure()
    entered, release = threading.Event(), threading.Event()
    real = type(store).write_products_in

    def paused(self: Store, conn: Any, products: list[Any]) -> Any:
        if products[0].values.get("name:en_US") == "First":
            entered.set()
            release.wait(10)
        return real(self, conn, products)

    monkeypatch.setattr(type(store), "write_products_in", paused)
    results: dict[str, Any] = {}

    def create(name: str) -> None:
        results[name] = product_create.create_product(store, structure, "ed", identifier="race-1", family="shoes",
                                                      categories=["shoes"], values={"name:en_US": name})

    first = threading.Thread(target=create, args=("First",))
    first.start()
    assert entered.wait(10)
    second = threading.Thread(target=create, args=("Second",))
    second.start()
    second.join(0.5)  # it waits on the first's lock
    release.set()
    first.join(10)
    second.join(10)
    assert results["First"].product is not None and results["Second"].exists
    assert store.get_product("race-1").values["name:en_US"] == "First"  # type: ignore[union-attr]


def test_a_rows_kind_is_listed(role_tokens, store: Store, pim_env: Path) -> None:
    """A missing-axis note says its kind over the API as `pim import errors --json` does (round 29)."""
    from pim.store.store import QuarantineEntry
    from pim.store.supersede import MISSING_AXIS

    client, tokens = role_tokens
    job_id = store.start_job("import", "jsonl:catalog.jsonl")
    store.quarantine(job_id, [QuarantineEntry("variant of product model 'TEE' has no value for its axis 'size'",
                                              "catalog.jsonl", 7, "size", {"sku": "TEE-1"}, "TEE-1", "jsonl",
                                              severity="problem", kind=MISSING_AXIS)])
    [row] = client.get(f"/api/v1/jobs/{job_id}/errors", headers=tokens["viewer"]).json()["items"]
    assert (row["kind"], row["field"], row["severity"]) == (MISSING_AXIS, "size", "problem")
