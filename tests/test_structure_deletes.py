"""Deleting an attribute, a category, a channel, a family or a family variant through one set of rules (pim.structure_deletes), shared by
the admin pages, `DELETE /api/v1/structure/{section}/{code}` and `pim structure delete`: every blocker named,
a dry run that writes nothing, an import racing the delete undone, a channel's families' requirements dropped
only when asked, its gate decisions gone in the delete's own transaction, large rescores left to jobs."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from pim import job_queue, rescore_jobs, structure_deletes
from pim.cli.structure import app as structure_cli
from pim.completeness import stored_completeness
from pim.contracts import put_contracts
from pim.errors import InputError
from pim.gate import record_decisions
from pim.product import Product, ProductModel
from pim.scoring_tables import GATE_COUNT, GATE_DECISION
from pim.store import Store
from pim.structure import Attribute, AttributeOption, Category, Channel, Family, FamilyVariant, VariantLevel
from pim.structure_deletes import DeleteRefused, NotFound
from tests.channel_data import ERP, seed_products
from tests.feeds_data import contract
from tests.test_web_ui import cheap_argon2  # noqa: F401  (autouse fixture)

Headers = dict[str, str]


@pytest.fixture
def seeded(store: Store) -> Store:
    seed_products(store)
    return store


def _material(store: Store) -> None:
    """An unused select attribute with two options."""
    store.put_structure("attribute", [Attribute(code="material", type="simple_select", group="general")])
    store.put_structure("attribute_option", [AttributeOption(attribute="material", code=c) for c in ("leather", "canvas")])


def _b2b(store: Store) -> None:
    """A second channel no family requires anything on (every product is still scored there: the identifier)."""
    store.put_structure("channel", [Channel(code="b2b", locales=["en_US"], currencies=["EUR"], category_tree="master")])


def _locales(store: Store, identifier: str, channel: str) -> dict[str, int]:
    return {r["locale"]: r["ratio"] for r in stored_completeness(store, identifier) if r["channel"] == channel}


def _gate_rows(store: Store, channel: str) -> tuple[int, int]:
    """Stored gate decisions and blocked counters of `channel`."""
    with store.engine.connect() as conn:
        return tuple(int(conn.execute(select(func.count()).select_from(t).where(t.c.channel == channel)).scalar_one())
                     for t in (GATE_DECISION, GATE_COUNT))  # type: ignore[return-value]


def _racing(store: Store, monkeypatch: pytest.MonkeyPatch, kind: str, product: Product) -> None:
    """An import writing `product` right after the structure delete of `kind` commits."""
    real = store.delete_structure

    def delete_then_import(k: str, code: str, **kw: Any) -> bool:
        gone = real(k, code, **kw)
        if k == kind:
            store.upsert_products([product])
        return gone

    monkeypatch.setattr(store, "delete_structure", delete_then_import)


# ---------------------------------------------------------------------------------------------- attributes
def test_an_attribute_in_use_is_refused_with_every_blocker_and_a_dry_run_writes_nothing(seeded: Store) -> None:
    with pytest.raises(DeleteRefused) as refused:
        structure_deletes.delete(seeded, "attributes", "color")
    assert [str(b) for b in refused.value.blockers] == [
        "family shoes lists it (remove it on the family page first)", "it is a variant axis of shoes_color",
        "1 product holds a value of it (runner-red)"]
    assert all(b.option is None for b in refused.value.blockers)
    _material(seeded)
    dry = structure_deletes.delete(seeded, "attributes", "material", dry_run=True)
    assert (dry.dry_run, dry.notice, dry.items()) == (True, "Would delete material and its 2 options.", {
        "attributes": ["material"], "attribute_options": ["material.canvas", "material.leather"]})
    assert set(seeded.structure().options["material"]) == {"leather", "canvas"}
    done = structure_deletes.delete(seeded, "attributes", "material")
    assert (done.dry_run, done.notice) == (False, "Deleted material and its 2 options.")
    s = seeded.structure()
    assert "material" not in s.attributes and "material" not in s.options and "color" in s.attributes


def test_an_attribute_an_import_gave_a_value_meanwhile_is_put_back_with_its_options(
        seeded: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    _material(seeded)
    _racing(seeded, monkeypatch, "attribute", Product(identifier="late", family="shoes", source=ERP,
                                                      values={"sku": "late", "material": "leather"}))
    with pytest.raises(DeleteRefused) as refused:
        structure_deletes.delete_attribute(seeded, "material")
    assert str(refused.value) == "material was not deleted: products got a value of it while it was being deleted."
    s = seeded.structure()
    assert s.attributes["material"].type == "simple_select" and set(s.options["material"]) == {"leather", "canvas"}


# ---------------------------------------------------------------------------------------------- categories
def test_a_category_is_refused_while_used_and_put_back_when_an_import_classified_into_it(
        seeded: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(DeleteRefused) as refused:
        structure_deletes.delete(seeded, "categories", "shoes")
    assert str(refused.value) == ("shoes was not deleted: it has 1 sub-category: sneakers; "
                                  "3 products are in it (bad-gtin, long-title, no-description).")
    seeded.put_structure("category", [Category(code="boots", parent="shoes"), Category(code="clogs", parent="shoes")])
    assert structure_deletes.delete(seeded, "categories", "clogs", dry_run=True).notice == "Would delete clogs."
    assert structure_deletes.delete(seeded, "categories", "clogs").notice == "Deleted clogs."
    _racing(seeded, monkeypatch, "category", Product(identifier="late", family="shoes", categories=["boots"],
                                                     source=ERP, values={"sku": "late"}))
    with pytest.raises(DeleteRefused, match="products were classified in it while it was being deleted"):
        structure_deletes.delete_category(seeded, "boots")
    assert {"boots", "shoes"} <= set(seeded.structure().categories) and "clogs" not in seeded.structure().categories


def test_unknown_codes_sections_and_misplaced_options_are_input_errors(seeded: Store) -> None:
    with pytest.raises(NotFound, match="no channel 'nope'"):
        structure_deletes.delete(seeded, "channels", "nope")
    with pytest.raises(InputError, match="cannot delete from section 'locales'") as section:
        structure_deletes.delete(seeded, "locales", "en_US")
    assert "use attributes, categories, channels, families" in (section.value.hint or "")
    with pytest.raises(InputError, match="drop_requirements applies to channels only"):
        structure_deletes.delete(seeded, "attributes", "mpn", drop_requirements=True)
    assert "mpn" in seeded.structure().attributes and "shoes" in seeded.structure().families


# ---------------------------------------------------------------------------------------------- families
def _boots(store: Store) -> None:
    store.put_structure("family", [Family(code="boots", attributes=["sku", "name"], attribute_as_label="name")])


def test_a_family_in_use_is_refused_with_every_blocker(seeded: Store) -> None:
    put_contracts(seeded, [contract(code="acme", channel="ecommerce", assortment={"rules": [{"families": ["shoes"]}]})])
    with pytest.raises(DeleteRefused) as refused:
        structure_deletes.delete(seeded, "families", "shoes", dry_run=True)
    said = [str(b) for b in refused.value.blockers]
    assert any(re.fullmatch(r"\d+ products are of it \(.*\)", b) for b in said), said
    assert "the family variant shoes_color splits it" in said
    assert "the assortment of contract acme names it" in said
    assert "shoes" in seeded.structure().families


def test_an_unused_family_is_deleted_and_a_dry_run_writes_nothing(seeded: Store) -> None:
    _boots(seeded)
    assert structure_deletes.delete(seeded, "families", "boots", dry_run=True).notice == "Would delete boots."
    assert "boots" in seeded.structure().families
    assert structure_deletes.delete(seeded, "families", "boots").notice == "Deleted boots."
    assert "boots" not in seeded.structure().families
    with pytest.raises(NotFound, match="no family 'boots'"):
        structure_deletes.delete(seeded, "families", "boots")


def test_a_family_an_import_created_a_product_of_meanwhile_is_put_back(seeded: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    _boots(seeded)
    _racing(seeded, monkeypatch, "family", Product(identifier="late-boot", family="boots", source=ERP,
                                                   values={"sku": "late-boot"}))
    with pytest.raises(DeleteRefused, match="products were created in it while it was being deleted"):
        structure_deletes.delete_family(seeded, "boots")
    assert seeded.structure().families["boots"].attribute_as_label == "name"


def test_the_api_and_the_family_page_delete_an_unused_family(role_tokens, store: Store) -> None:
    client, tokens = role_tokens
    _boots(store)
    refused = _delete(client, tokens["admin"], "families/shoes")
    assert refused.status_code == 409 and any("products are of it" in e["message"] for e in refused.json()["errors"])
    done = _delete(client, tokens["admin"], "families/boots")
    assert done.status_code == 200 and done.json()["deleted"] == {"families": ["boots"]}
    assert "boots" not in store.structure().families


def test_the_family_page_offers_delete_only_when_nothing_uses_it(admin, store: Store) -> None:
    web, token = admin
    _boots(store)
    shoes = web.get("/admin/families/shoes").text
    assert 'action="/admin/families/shoes/delete"' not in shoes and "cannot be deleted while" in shoes
    assert 'action="/admin/families/boots/delete"' in web.get("/admin/families/boots").text
    kept = web.post("/admin/families/shoes/delete", data={"csrf_token": token})
    assert kept.status_code == 409 and "shoes was not deleted" in _message(kept.text)
    gone = web.post("/admin/families/boots/delete", data={"csrf_token": token})
    assert gone.status_code == 200 and _message(gone.text) == "Deleted boots."
    assert "boots" not in store.structure().families
    assert web.post("/admin/families/nope/delete", data={"csrf_token": token}).status_code == 404


# ---------------------------------------------------------------------------------------------- channels
def test_families_requirements_block_a_channel_unless_dropped_with_it(seeded: Store) -> None:
    with pytest.raises(DeleteRefused) as refused:
        structure_deletes.delete(seeded, "channels", "ecommerce")
    [blocker] = refused.value.blockers
    assert (str(blocker), blocker.option) == ("1 family has requirements on it (shoes)", "drop_requirements")
    assert refused.value.lines({"drop_requirements": "use the option"}) == [
        "1 family has requirements on it (shoes); use the option"]
    dry = structure_deletes.delete(seeded, "channels", "ecommerce", drop_requirements=True, dry_run=True)
    assert dry.notice == "Would delete ecommerce. The requirements of shoes on ecommerce would be removed."
    assert "ecommerce" in seeded.structure().families["shoes"].requirements
    done = structure_deletes.delete(seeded, "channels", "ecommerce", drop_requirements=True, defer_rescores=False)
    assert (done.requirements_dropped, done.jobs) == (["shoes"], [])
    assert done.notice == "Deleted ecommerce. The requirements of shoes on ecommerce were removed."
    s = seeded.structure()
    assert "ecommerce" not in s.channels and s.families["shoes"].requirements == {}
    assert s.families["shoes"].attributes[:2] == ["sku", "name"]  # the family keeps its attributes
    assert _locales(seeded, "complete", "ecommerce") == {}


def test_dropping_requirements_lifts_only_that_blocker(seeded: Store) -> None:
    put_contracts(seeded, [contract(channel="ecommerce", assortment={"rules": [{"categories": ["shoes"]}]})])
    with pytest.raises(DeleteRefused) as plain:
        structure_deletes.delete_channel(seeded, "ecommerce")
    assert [b.option for b in plain.value.blockers] == ["drop_requirements", None]
    with pytest.raises(DeleteRefused) as dropping:
        structure_deletes.delete_channel(seeded, "ecommerce", drop_requirements=True)
    assert str(dropping.value) == "ecommerce was not deleted: 1 contract builds its feed on it (acme-tools)."
    s = seeded.structure()
    assert "ecommerce" in s.channels and "ecommerce" in s.families["shoes"].requirements  # nothing dropped


def test_a_channel_takes_its_gate_decisions_and_counts_with_it(seeded: Store) -> None:
    _b2b(seeded)
    record_decisions(seeded, "b2b", [("complete", []), ("bad-gtin", ["invalid:ean"])])
    record_decisions(seeded, "ecommerce", [("bad-gtin", ["invalid:ean"])])
    assert _gate_rows(seeded, "b2b") == (2, 2)  # 'invalid' and '*' blocked counters
    dry = structure_deletes.delete(seeded, "channels", "b2b", dry_run=True)
    assert dry.gate_decisions == 2 and dry.notice == "Would delete b2b. Its 2 stored gate decisions would go with it."
    done = structure_deletes.delete(seeded, "channels", "b2b")
    assert done.notice == "Deleted b2b. Its 2 stored gate decisions went with it."
    assert _gate_rows(seeded, "b2b") == (0, 0) and _gate_rows(seeded, "ecommerce") == (1, 2)
    assert _locales(seeded, "complete", "b2b") == {}


def test_the_gate_decisions_go_in_the_channels_own_transaction(seeded: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    _b2b(seeded)
    record_decisions(seeded, "b2b", [("bad-gtin", ["invalid:ean"])])
    real = structure_deletes.forget_channel_decisions

    def forget_then_fail(code: str, removed: list[int]) -> Any:
        def forget(conn: Any) -> None:
            real(code, removed)(conn)
            raise RuntimeError("the delete's transaction fails after the decisions went")
        return forget

    monkeypatch.setattr(structure_deletes, "forget_channel_decisions", forget_then_fail)
    with pytest.raises(RuntimeError):
        structure_deletes.delete_channel(seeded, "b2b")
    assert "b2b" in seeded.structure().channels and _gate_rows(seeded, "b2b") == (1, 2)  # both rolled back


def test_a_large_channel_delete_leaves_its_rescore_to_a_job_unless_asked_to_run_it(
        seeded: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pim.rescore_jobs.IN_REQUEST", 1)  # read at the call: any rescore is "large"
    _b2b(seeded)
    done = structure_deletes.delete_channel(seeded, "b2b")
    [job] = done.jobs
    assert done.notice == f"Deleted b2b. Its completeness rows are being removed (job {job})."
    assert seeded.job(job)["kind"] == rescore_jobs.KIND and _locales(seeded, "complete", "b2b") == {"en_US": 100}
    [ran] = job_queue.work(seeded, once=True).jobs
    assert ran["id"] == job and seeded.job(job)["status"] == "succeeded"
    assert _locales(seeded, "complete", "b2b") == {}
    _b2b(seeded)
    at_once = structure_deletes.delete_channel(seeded, "b2b", defer_rescores=False)  # the CLI's way
    assert at_once.jobs == [] and _locales(seeded, "complete", "b2b") == {}


# ---------------------------------------------------------------------------------------------- web page
def _message(html: str) -> str:
    found = re.search(r'<p class="(?:error|notice)"[^>]*>([^<]*)</p>', html)
    return found.group(1).replace("&#39;", "'").replace("&amp;", "&") if found else ""


def test_the_channel_page_offers_to_drop_the_requirements_and_the_delete_does(admin, store: Store) -> None:
    web, token = admin
    page = web.get("/admin/channels/ecommerce").text
    assert "ecommerce cannot be deleted while 1 family has requirements on it (shoes)." in page
    assert 'name="drop_requirements" value="true" required> Remove the requirements of 1 family (shoes) on ecommerce' in page
    plain = web.post("/admin/channels/ecommerce/delete", data={"csrf_token": token})
    assert plain.status_code == 409 and "ecommerce" in store.structure().channels
    gone = web.post("/admin/channels/ecommerce/delete", data={"csrf_token": token, "drop_requirements": "true"})
    assert gone.status_code == 200
    assert _message(gone.text) == "Deleted ecommerce. The requirements of shoes on ecommerce were removed."
    assert "ecommerce" not in store.structure().channels and store.structure().families["shoes"].requirements == {}


def test_the_channel_page_offers_no_delete_while_something_else_names_it(admin, store: Store) -> None:
    web, _ = admin
    put_contracts(store, [contract(channel="ecommerce", assortment={"rules": [{"categories": ["shoes"]}]})])
    page = web.get("/admin/channels/ecommerce").text
    assert "1 contract builds its feed on it (acme-tools)" in page
    assert 'action="/admin/channels/ecommerce/delete"' not in page and 'name="drop_requirements"' not in page


# ---------------------------------------------------------------------------------------------- REST API
def _delete(client: Any, headers: Headers, path: str, **params: str) -> Any:
    return client.delete(f"/api/v1/structure/{path}", headers=headers, params=params)


def test_the_api_deletes_an_unused_attribute_with_its_options(role_tokens, store: Store) -> None:
    client, tokens = role_tokens
    _material(store)
    dry = _delete(client, tokens["admin"], "attributes/material", dry_run="true")
    assert dry.status_code == 200 and dry.json()["dry_run"] is True and "material" in store.structure().attributes
    resp = _delete(client, tokens["admin"], "attributes/material")
    assert resp.status_code == 200, resp.text
    assert resp.json() == {"dry_run": False, "requirements_dropped": [], "gate_decisions": 0, "jobs": [],
                           "deleted": {"attributes": ["material"],
                                       "attribute_options": ["material.canvas", "material.leather"]},
                           "notice": "Deleted material and its 2 options."}
    assert "material" not in store.structure().attributes
    assert _delete(client, tokens["admin"], "attributes/material").status_code == 404


def test_the_api_answers_409_with_every_blocker_in_the_structure_error_shape(role_tokens, store: Store) -> None:
    client, tokens = role_tokens
    put_contracts(store, [contract(channel="ecommerce", assortment={"rules": [{"categories": ["shoes"]}]})])
    resp = _delete(client, tokens["admin"], "channels/ecommerce")
    assert resp.status_code == 409, resp.text
    assert resp.json() == {"errors": [
        {"section": "channels", "code": "ecommerce", "field": "requirements",
         "message": "1 family has requirements on it (shoes); add ?drop_requirements=true to remove those "
                    "requirements with the channel"},
        {"section": "channels", "code": "ecommerce", "message": "1 contract builds its feed on it (acme-tools)"}]}
    category = _delete(client, tokens["admin"], "categories/master")
    assert category.status_code == 409
    assert "it is the category tree of channel ecommerce" in [e["message"] for e in category.json()["errors"]]
    assert {"ecommerce"} == set(store.structure().channels) and "master" in store.structure().categories


def test_the_api_drops_the_requirements_when_asked_and_queues_large_rescores(
        role_tokens, store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    client, tokens = role_tokens
    monkeypatch.setattr("pim.rescore_jobs.IN_REQUEST", 1)
    resp = _delete(client, tokens["admin"], "channels/ecommerce", drop_requirements="true")
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["deleted"] == {"channels": ["ecommerce"]} and body["requirements_dropped"] == ["shoes"]
    assert body["jobs"] and all(j["location"] == f"/api/v1/jobs/{j['id']}" for j in body["jobs"])
    assert "ecommerce" not in store.structure().channels
    job_queue.work(store, once=True)
    assert all(store.job(j["id"])["status"] == "succeeded" for j in body["jobs"])
    assert _locales(store, "complete", "ecommerce") == {}


def test_the_api_refuses_bad_requests_and_non_admins(role_tokens, store: Store) -> None:
    client, tokens = role_tokens
    locales = _delete(client, tokens["admin"], "locales/en_US")
    assert locales.status_code == 422 and locales.json()["errors"][0]["section"] == "path"
    misplaced = _delete(client, tokens["admin"], "attributes/mpn", drop_requirements="true")
    assert misplaced.status_code == 422
    assert misplaced.json()["errors"] == [{"section": "query", "field": "drop_requirements",
                                           "message": "drop_requirements applies to channels only, not attributes; "
                                                      "leave it out"}]
    assert _delete(client, tokens["editor"], "attributes/mpn").status_code == 403
    assert _delete(client, tokens["viewer"], "attributes/mpn").status_code == 403
    assert _delete(client, {}, "attributes/mpn").status_code == 401
    assert "mpn" in store.structure().attributes


def test_openapi_documents_the_delete_with_the_structure_routes(role_tokens) -> None:
    client, _ = role_tokens
    doc = client.get("/api/v1/openapi.json").json()
    route = doc["paths"]["/api/v1/structure/{section}/{code}"]["delete"]
    assert route["tags"] == doc["paths"]["/api/v1/structure"]["post"]["tags"]
    assert {"200", "401", "403", "404", "409", "422"} <= set(route["responses"])
    assert route["responses"]["409"]["content"]["application/json"]["schema"]["$ref"].endswith("/StructureRefused")
    assert {"dry_run", "drop_requirements"} <= {p["name"] for p in route["parameters"]}


# ---------------------------------------------------------------------------------------------- CLI
def test_the_cli_refuses_with_exit_2_and_deletes_when_asked(pim_env, seeded: Store) -> None:
    runner = CliRunner()
    refused = runner.invoke(structure_cli, ["delete", "channels", "ecommerce", "--json"])
    assert refused.exit_code == 2, refused.output
    answer = json.loads(refused.stdout)
    assert answer["deleted"] is False and answer["blockers"] == [
        "1 family has requirements on it (shoes); pass --drop-requirements to remove those requirements with the channel"]
    said = runner.invoke(structure_cli, ["delete", "channels", "ecommerce"])
    assert said.exit_code == 2 and "--drop-requirements" in said.stderr and "--dry-run" in said.stderr
    dry = runner.invoke(structure_cli, ["delete", "channels", "ecommerce", "--drop-requirements", "--dry-run", "--json"])
    assert dry.exit_code == 0 and json.loads(dry.stdout)["deleted"] is False
    assert "ecommerce" in seeded.structure().channels
    done = runner.invoke(structure_cli, ["delete", "channels", "ecommerce", "--drop-requirements"])
    assert done.exit_code == 0, done.output
    assert "Deleted ecommerce. The requirements of shoes on ecommerce were removed." in done.stdout
    assert "ecommerce" not in seeded.structure().channels and seeded.jobs(kind=rescore_jobs.KIND) == []
    _material(seeded)
    gone = runner.invoke(structure_cli, ["delete", "attributes", "material", "--json"])
    assert gone.exit_code == 0 and json.loads(gone.stdout)["items"]["attribute_options"] == [
        "material.canvas", "material.leather"]


# ---------------------------------------------------------------------------------------------- family variants
def _by_size(store: Store) -> None:
    """An unused family variant of shoes."""
    store.put_structure("family_variant", [FamilyVariant(code="shoes_size", family="shoes",
                                                         levels=[VariantLevel(axes=["size"], attributes=["size"])])])


def test_a_family_variant_a_model_uses_is_refused_and_an_unused_one_deleted(seeded: Store) -> None:
    with pytest.raises(DeleteRefused) as refused:
        structure_deletes.delete(seeded, "family_variants", "shoes_color", dry_run=True)
    assert [str(b) for b in refused.value.blockers] == ["1 product model uses it (runner_model)"]
    _by_size(seeded)
    dry = structure_deletes.delete(seeded, "family_variants", "shoes_size", dry_run=True)
    assert (dry.dry_run, dry.notice, dry.items()) == (True, "Would delete shoes_size.", {"family_variants": ["shoes_size"]})
    assert "shoes_size" in seeded.structure().family_variants
    done = structure_deletes.delete(seeded, "family_variants", "shoes_size")
    assert (done.dry_run, done.notice, done.jobs) == (False, "Deleted shoes_size.", [])
    assert set(seeded.structure().family_variants) == {"shoes_color"}
    with pytest.raises(NotFound, match="no family variant 'shoes_size'"):
        structure_deletes.delete(seeded, "family_variants", "shoes_size")


def test_a_family_variant_an_import_created_a_model_of_meanwhile_is_put_back(
        seeded: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    _by_size(seeded)
    real = seeded.delete_structure

    def delete_then_import(kind: str, code: str, **kw: Any) -> bool:
        gone = real(kind, code, **kw)
        if kind == "family_variant":
            seeded.upsert_models([ProductModel(code="late_model", family_variant="shoes_size", family="shoes",
                                               source=ERP, values={"name:en_US": "Late"})])
        return gone

    monkeypatch.setattr(seeded, "delete_structure", delete_then_import)
    with pytest.raises(DeleteRefused, match="a product model of it was imported while it was being deleted"):
        structure_deletes.delete_family_variant(seeded, "shoes_size")
    assert seeded.structure().family_variants["shoes_size"].levels[0].axes == ["size"]


def test_a_variant_delete_rescores_nothing(seeded: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pim.rescore_jobs.IN_REQUEST", 1)
    _by_size(seeded)
    done = structure_deletes.delete_family_variant(seeded, "shoes_size")
    assert done.jobs == [] and done.notice == "Deleted shoes_size."
    assert seeded.jobs(kind=rescore_jobs.KIND) == []


def test_the_api_deletes_an_unused_family_variant_and_lists_what_keeps_a_used_one(role_tokens, store: Store) -> None:
    client, tokens = role_tokens
    _by_size(store)
    refused = _delete(client, tokens["admin"], "family_variants/shoes_color")
    assert refused.status_code == 409, refused.text
    assert refused.json() == {"errors": [{"section": "family_variants", "code": "shoes_color",
                                          "message": "1 product model uses it (runner_model)"}]}
    dry = _delete(client, tokens["admin"], "family_variants/shoes_size", dry_run="true")
    assert dry.status_code == 200 and dry.json()["dry_run"] is True
    assert "shoes_size" in store.structure().family_variants
    assert _delete(client, tokens["editor"], "family_variants/shoes_size").status_code == 403
    done = _delete(client, tokens["admin"], "family_variants/shoes_size")
    assert done.status_code == 200, done.text
    assert done.json()["deleted"] == {"family_variants": ["shoes_size"]} and done.json()["notice"] == "Deleted shoes_size."
    assert set(store.structure().family_variants) == {"shoes_color"}
    assert _delete(client, tokens["admin"], "family_variants/shoes_size").status_code == 404


def test_the_cli_refuses_a_used_family_variant_with_exit_2_and_deletes_an_unused_one(pim_env, seeded: Store) -> None:
    runner = CliRunner()
    refused = runner.invoke(structure_cli, ["delete", "family_variants", "shoes_color", "--json"])
    assert refused.exit_code == 2, refused.output
    assert json.loads(refused.stdout)["blockers"] == ["1 product model uses it (runner_model)"]
    said = runner.invoke(structure_cli, ["delete", "family_variants", "shoes_color"])
    assert said.exit_code == 2 and "1 product model uses it (runner_model)" in said.stderr
    _by_size(seeded)
    dry = runner.invoke(structure_cli, ["delete", "family_variants", "shoes_size", "--dry-run"])
    assert dry.exit_code == 0 and "Would delete shoes_size." in dry.stdout
    assert "shoes_size" in seeded.structure().family_variants
    done = runner.invoke(structure_cli, ["delete", "family_variants", "shoes_size", "--json"])
    assert done.exit_code == 0, done.output
    assert json.loads(done.stdout)["items"] == {"family_variants": ["shoes_size"]}
    assert set(seeded.structure().family_variants) == {"shoes_color"}


def _racing_delete(store: Store, monkeypatch: pytest.MonkeyPatch, meanwhile: Any) -> None:
    """The channel delete's own write runs, then `meanwhile(store)` writes what a concurrent admin or publication
    would have written between the check and the delete."""
    real = store.delete_structure

    def delete_then_race(kind: str, code: str, **kw: Any) -> Any:
        out = real(kind, code, **kw)
        if kind == "channel":
            meanwhile(store)
        return out

    monkeypatch.setattr(store, "delete_structure", delete_then_race)


@pytest.mark.parametrize("race, said", [
    (lambda st: record_decisions(st, "b2b", [("complete", [])]), "a publication recorded 1 gate decision for it"),
    (lambda st: st.put_structure("family", [st.structure().families["shoes"].model_copy(
        update={"requirements": {**st.structure().families["shoes"].requirements, "b2b": ["sku"]}})]),
     "1 family has requirements on it (shoes) (saved while it was being deleted)"),
    (lambda st: put_contracts(st, [contract(code="late", channel="b2b", assortment={"rules": [{"families": ["shoes"]}]})]),
     "1 contract builds its feed on it (late) (saved while it was being deleted)"),
])
def test_a_channel_named_while_it_is_deleted_is_put_back(seeded: Store, monkeypatch: pytest.MonkeyPatch,
                                                          race: Any, said: str) -> None:
    _b2b(seeded)
    before = _locales(seeded, "complete", "b2b")
    assert before  # scored on b2b (the identifier)
    _racing_delete(seeded, monkeypatch, race)
    with pytest.raises(DeleteRefused) as refused:
        structure_deletes.delete(seeded, "channels", "b2b", defer_rescores=False)
    assert said in str(refused.value)
    assert "b2b" in seeded.structure().channels
    assert _locales(seeded, "complete", "b2b") == before  # put back: scored there again


def test_a_raced_delete_with_dropped_requirements_says_they_stay_dropped(seeded: Store,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _racing_delete(seeded, monkeypatch, lambda st: record_decisions(st, "ecommerce", [("complete", [])]))
    with pytest.raises(DeleteRefused) as refused:
        structure_deletes.delete(seeded, "channels", "ecommerce", drop_requirements=True, defer_rescores=False)
    assert "the requirements of shoes on ecommerce were removed before that and stay removed" in str(refused.value)
    s = seeded.structure()
    assert "ecommerce" in s.channels and "ecommerce" not in s.families["shoes"].requirements


def test_an_unraced_channel_delete_still_deletes(seeded: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    _b2b(seeded)
    _racing_delete(seeded, monkeypatch, lambda st: record_decisions(st, "ecommerce", [("complete", [])]))  # another channel
    done = structure_deletes.delete(seeded, "channels", "b2b", defer_rescores=False)
    assert done.notice == "Deleted b2b." and "b2b" not in seeded.structure().channels
