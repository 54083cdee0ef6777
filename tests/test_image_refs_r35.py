"""Round 35 (H1): an image or file value starting `sha256:` must be a well-formed asset reference (`sha256:` + the 64
lowercase hex digits of an uploaded image). Channels link only those through media; a malformed one
(`sha256:abc123`) went out as text, bare on the storefront and as `…/gmc_main/abc123.jpg` on Google. It is refused
wherever a value comes in (pim.values, the import validator's fast path, the REST API), and `pim doctor` lists
the ones stored before."""

from __future__ import annotations

import hashlib
import json

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from pim.catalog_doctor import diagnose
from pim.importing import Parsed, run_import
from pim.product import Product, ProductModel
from pim.store import Store
from pim.structure import Attribute, Family
from pim.validation import RecordValidator
from pim.values import ValueProblem, normalize
from pim.web.accounts import add_user, create_token
from pim.web.app import create_app
from tests.channel_data import ERP, seed_products
from tests.web_fixtures import cheap_argon2  # noqa: F401  (autouse fixture)

IMAGE = Attribute(code="image", type="image")
MANUAL = Attribute(code="manual", type="file")
GOOD = "sha256:" + hashlib.sha256(b"an uploaded image").hexdigest()
MALFORMED = ["sha256:abc123", "sha256:", GOOD[:-1], GOOD + "0", GOOD.upper().replace("SHA256:", "sha256:"),
             "SHA256:abc", " sha256:def456 "]
ADVICE = "`sha256:` must be followed by the 64 hex digits of an uploaded image: upload the file instead"


@pytest.mark.parametrize("attribute", [IMAGE, MANUAL], ids=["image", "file"])
@pytest.mark.parametrize("value", MALFORMED)
def test_a_malformed_sha256_value_is_refused_saying_to_upload(attribute: Attribute, value: str) -> None:
    with pytest.raises(ValueProblem) as refused:
        normalize(attribute, value)
    assert ADVICE in str(refused.value)


def _structure() -> object:
    from pim.catalog import Structure

    return Structure(attributes={"sku": Attribute(code="sku", type="identifier"), "image": IMAGE},
                     families={"tools": Family(code="tools", attributes=["sku", "image"])})


def test_the_validators_fast_path_refuses_it_after_a_good_value() -> None:
    """A file's rows are checked by a cheap predicate once a key was seen valid: it must refuse it too."""
    for value in (GOOD, "images/runner.jpg", "https://cdn.example/sha256:abc.jpg", "sha256abc.jpg"):  # still taken
        assert normalize(IMAGE, value) == value and normalize(MANUAL, value) == value
    validator = RecordValidator(_structure())  # type: ignore[arg-type]
    assert validator.check_values({"image": GOOD}, None, scope="tools", family="tools") == []
    assert validator.check_values({"image": "images/a.jpg"}, None, scope="tools", family="tools") == []
    [problem] = validator.check_values({"image": "sha256:abc123"}, None, scope="tools", family="tools")
    assert problem.field == "image" and ADVICE in problem.reason


def test_an_import_quarantines_the_record(store: Store) -> None:
    store.put_structure("locale", [])
    store.put_structure("attribute", [Attribute(code="sku", type="identifier"), IMAGE])
    store.put_structure("family", [Family(code="tools", attributes=["sku", "image"])])
    good = Product(identifier="T-1", family="tools", values={"sku": "T-1", "image": GOOD})
    bad = Product(identifier="T-2", family="tools", values={"sku": "T-2", "image": "sha256:abc123"})
    counts = run_import(store, "content", [Parsed(good, "c.jsonl", 1), Parsed(bad, "c.jsonl", 2)])
    assert (counts.created, counts.rejected) == (1, 1)
    [entry] = store.quarantined(counts.job_id)
    assert entry["field"] == "image" and ADVICE in entry["reason"]
    assert store.get_product("T-2") is None


def test_the_api_refuses_it_and_keeps_the_image(store: Store) -> None:
    seed_products(store)
    user = add_user(store, "ed", "correct horse", "editor")
    client = TestClient(create_app(store))
    before = store.get_product("complete").values["image"]
    resp = client.patch("/api/v1/products/complete", headers={"Authorization": f"Bearer {create_token(store, user)}"},
                        json={"values": {"image": "sha256:abc123"}})
    assert resp.status_code == 422 and ADVICE in resp.text
    assert store.get_product("complete").values["image"] == before


def _stored_malformed(store: Store) -> None:
    """Values written before the rule (the store itself does not validate: importers and the API do)."""
    seed_products(store)
    store.upsert_products([
        Product(identifier="old-1", family="shoes", source=ERP, values={"sku": "old-1", "image": "sha256:abc123"}),
        Product(identifier="old-2", family="shoes", source=ERP, values={"sku": "old-2", "picture": "sha256:def456",
                                                                          "image": GOOD, "mpn": "sha256:text"}),
        Product(identifier="fine", family="shoes", source=ERP, values={"sku": "fine", "image": GOOD}),
    ])
    store.upsert_models([ProductModel(code="old_model", family_variant="shoes_color", family="shoes", source=ERP,
                                      values={"picture": "sha256:0123"})])


def test_doctor_lists_stored_malformed_refs_with_advice(store: Store) -> None:
    _stored_malformed(store)
    found = {f.kind: f for f in diagnose(store)}
    products = found["product image/file value that is no sha256 asset ref"]
    assert products.count == 2
    assert products.shown == ["old-1 image=sha256:abc123", "old-2 picture=sha256:def456"]  # not the text attribute
    assert "upload the image" in products.advice.lower()
    models = found["product model image/file value that is no sha256 asset ref"]
    assert (models.count, models.shown) == (1, ["old_model picture=sha256:0123"])


def test_pim_doctor_reports_them_and_exits_1(store: Store) -> None:
    from pim.cli import _mount, app

    _mount()
    _stored_malformed(store)
    result = CliRunner().invoke(app, ["doctor", "--json"])
    assert result.exit_code == 1, result.output
    kinds = {f["kind"]: f["count"] for f in json.loads(result.stdout)}
    assert kinds["product image/file value that is no sha256 asset ref"] == 2
