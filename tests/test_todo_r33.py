"""Round 33, a data steward's findings: the dashboard's to-do CSV filled in for prices and metrics (as the mass
edit takes them) and for variants (their model's row), a locale the channel lacks refused by the gate report
and the API, the API's to-do saying it is cut, and a value a family change left behind cleared by a PATCH."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from importers.content import import_content
from pim.cli import _mount, app
from pim.errors import ConfigError
from pim.product import Product, ProductModel
from pim.store import Store
from pim.structure import Family, FamilyVariant, VariantLevel
from pim.web.accounts import add_user, create_token
from pim.web.app import create_app
from tests.channel_data import ERP, FAMILY_ATTRS, VALID_GTIN, complete_values, seed_products
from tests.test_api_errors import by_field
from tests.test_web_ui import cheap_argon2, login  # noqa: F401  (cheap_argon2: autouse fixture)

_mount()


@pytest.fixture
def web(store: Store) -> tuple[TestClient, dict[str, str]]:
    """The seeded catalog (tests.channel_data), a client signed in as the editor 'ed', and ed's API token header."""
    seed_products(store)
    user = add_user(store, "ed", "correct horse", "editor")
    client = TestClient(create_app(store))
    login(client)
    return client, {"Authorization": f"Bearer {create_token(store, user)}"}


def todo(client: TestClient, attribute: str, locale: str = "en_US") -> list[list[str]]:
    got = client.get(f"/dashboard/todo.csv?channel=ecommerce&locale={locale}&family=shoes&attribute={attribute}")
    assert got.status_code == 200, got.text
    return list(csv.reader(io.StringIO(got.text)))


def filled(tmp_path: Path, rows: list[list[str]]) -> Path:
    path = tmp_path / "todo.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


def test_a_todo_for_a_price_and_a_metric_filled_as_the_mass_edit_takes_them_completes_the_products(
        web: tuple[TestClient, dict[str, str]], store: Store, tmp_path: Path) -> None:
    client, _ = web
    shoes = store.structure().families["shoes"]
    store.put_structure("family", [shoes.model_copy(update={"requirements": {
        "ecommerce": [*shoes.requirements["ecommerce"], "weight"]}})])
    store.upsert_products([Product(identifier=sku, family="shoes", categories=["shoes"], source=ERP,
                                   values={k: v for k, v in complete_values(sku=sku).items() if k != missing})
                           for sku, missing in (("no-price", "price"), ("no-weight", "weight"))])
    page = client.get("/dashboard?channel=ecommerce&locale=en_US").text
    assert "fill in prices as EUR 19.99, USD 19.99" in page and "fill in an amount and a unit, e.g. 12.5 GRAM" in page

    prices, weights = todo(client, "price"), todo(client, "weight")
    assert prices == [["sku", "model", "price"], ["no-price", "", ""]]  # (runner_model holds prices: a model column)
    assert weights == [["sku", "model", "weight"], ["no-weight", "", ""]]
    counts = import_content(filled(tmp_path, [prices[0], ["no-price", "", "EUR 19.99, 21,50 USD"]]), store)
    assert (counts.updated, counts.rejected) == (1, 0)
    import_content(filled(tmp_path, [weights[0], ["no-weight", "", "1.5 KILOGRAM"]]), store)
    assert store.get_product("no-price").values["price"] == {"EUR": "19.99", "USD": "21.50"}  # type: ignore[union-attr]
    assert store.get_product("no-weight").values["weight"] == {"amount": "1.5", "unit": "KILOGRAM"}  # type: ignore[union-attr]
    assert todo(client, "price")[1:] == [] and todo(client, "weight")[1:] == []  # complete for both now


def test_a_price_cell_in_no_form_the_mass_edit_reads_is_rejected_with_the_form(store: Store, tmp_path: Path) -> None:
    seed_products(store)
    counts = import_content(filled(tmp_path, [["sku", "price", "weight"], ["no-description", "19.99", ""],
                                              ["complete", "", "12 stone"]]), store)
    assert counts.rejected == 2
    reasons = {e["record_key"]: (e["field"], e["reason"]) for e in store.quarantined(counts.job_id)}
    assert reasons["no-description"] == ("price", "price: '19.99' is not a list of prices, e.g. EUR 19.99, USD 21.00")
    assert reasons["complete"][0] == "weight" and "stone" in reasons["complete"][1]
    assert store.get_product("no-description").values["price"] == {"EUR": "49.90", "USD": "54.00"}  # type: ignore[union-attr]


def test_a_variant_missing_its_models_attribute_is_listed_as_the_model_once_and_filled_there(
        web: tuple[TestClient, dict[str, str]], store: Store, tmp_path: Path) -> None:
    client, _ = web
    model = store.get_model("runner_model")
    store.upsert_models([model.model_copy(update={"values": {  # type: ignore[union-attr]
        k: v for k, v in model.values.items() if k != "description:en_US@ecommerce"}})])  # type: ignore[union-attr]
    store.upsert_products([Product(identifier="runner-blue", family="shoes", parent="runner_model", source=ERP,
                                   values={"sku": "runner-blue", "color": "blue", "ean": VALID_GTIN})])
    rows = todo(client, "description")
    assert rows[0] == ["sku", "model", "description:en_US@ecommerce"]
    assert sorted(rows[1:]) == [["", "runner_model", ""], ["no-description", "", ""]]  # not runner-red, runner-blue

    rows[1:] = [[sku, code, "Runs far." if code else ""] for sku, code, _ in rows[1:]]
    counts = import_content(filled(tmp_path, rows), store)
    assert counts.rejected == 0 and not store.quarantined(counts.job_id)
    assert todo(client, "description")[1:] == [["no-description", "", ""]]  # both variants show the model's now


def seed_tee_under_a_sub_model(store: Store) -> None:
    """The seeded catalog plus a variant `tee-red-m` under the sub-model `tee_red` of the root model `tee`, whose
    level holds `name`."""
    seed_products(store)
    store.put_structure("family_variant", [FamilyVariant(code="shoes_color_size", family="shoes", levels=[
        VariantLevel(axes=["color"], attributes=["color"]), VariantLevel(axes=["size"], attributes=["size", "ean"])])])
    store.upsert_models([ProductModel(code="tee", family_variant="shoes_color_size", family="shoes", source=ERP,
                                      values={"name:en_US": "Tee"}),
                         ProductModel(code="tee_red", parent="tee", family_variant="shoes_color_size", family="shoes",
                                      source=ERP, values={"color": "red"})])
    store.upsert_products([Product(identifier="tee-red-m", family="shoes", parent="tee_red", source=ERP,
                                   values={"sku": "tee-red-m", "size": "m"})])


def test_a_value_a_variant_gives_for_its_root_models_attribute_names_the_root_model(store: Store, tmp_path: Path) -> None:
    seed_tee_under_a_sub_model(store)
    counts = import_content(filled(tmp_path, [["sku", "name:en_US"], ["tee-red-m", "Shirt"]]), store)
    [problem] = store.quarantined(counts.job_id, severity="problem")
    assert problem["reason"].startswith("'name' is held by the root product model in family variant "
                                        "'shoes_color_size' ('tee', the parent of this product's model 'tee_red'): ")


def test_the_gate_report_refuses_a_locale_the_channel_does_not_publish(store: Store) -> None:
    seed_products(store)
    for wrong, near in (("fr_FR", ""), ("de_de", " (did you mean 'de_DE'?)")):
        result = CliRunner().invoke(app, ["gate", "report", "--channel", "ecommerce", "--locale", wrong])
        assert isinstance(result.exception, ConfigError) and result.exception.exit_code == 3  # `pim` exits 3
        assert str(result.exception) == f"channel 'ecommerce' has no locale '{wrong}'{near}"
        assert result.exception.hint == "its locales: en_US, de_DE"


def test_the_gate_check_refuses_a_locale_the_channel_does_not_publish_before_deciding(store: Store) -> None:
    seed_products(store)
    result = CliRunner().invoke(app, ["gate", "check", "--channel", "ecommerce", "--locale", "de_de"])
    assert isinstance(result.exception, ConfigError) and result.exception.exit_code == 3
    assert str(result.exception) == "channel 'ecommerce' has no locale 'de_de' (did you mean 'de_DE'?)"
    with store.engine.connect() as conn:  # nothing decided for a locale nobody publishes
        from sqlalchemy import text
        assert conn.execute(text("SELECT count(*) FROM gate_decision")).scalar() == 0


def test_the_completeness_api_refuses_a_locale_the_channel_does_not_publish(
        web: tuple[TestClient, dict[str, str]]) -> None:
    client, token = web
    got = client.get("/api/v1/completeness/ecommerce?locale=de_de", headers=token)
    assert got.status_code == 422
    assert by_field(got) == {"query.locale": "channel 'ecommerce' has no locale 'de_de' (did you mean 'de_DE'?); "
                                             "its locales: en_US, de_DE"}
    assert client.get("/dashboard?locale=fr_FR").status_code == 200  # the dashboard shows no channel, not an error


def test_the_completeness_api_says_its_todo_list_is_cut(web: tuple[TestClient, dict[str, str]]) -> None:
    client, token = web
    whole = client.get("/api/v1/completeness/ecommerce", headers=token).json()
    assert (len(whole["todo"]), whole["todo_total"], whole["todo_truncated"]) == (2, 2, False)  # en_US, de_DE
    cut = client.get("/api/v1/completeness/ecommerce?limit=1", headers=token).json()
    assert (cut["todo"], cut["todo_total"], cut["todo_truncated"]) == (whole["todo"][:1], 2, True)


def test_a_patch_clears_a_value_its_family_lacks_whoever_stored_it(
        web: tuple[TestClient, dict[str, str]], store: Store) -> None:
    client, token = web
    store.put_structure("family", [*store.structure().families.values(), Family(
        code="socks", attributes=[a for a in FAMILY_ATTRS if a != "mpn"], attribute_as_label="name")])
    moved = store.get_product("complete").model_copy(update={"family": "socks"})  # type: ignore[union-attr]
    store.upsert_products([moved])  # a family change (an ERP map's family column) keeps the ERP's mpn
    refused = client.patch("/api/v1/products/complete", headers=token, json={"values": {"mpn": "RN-2"}})
    assert refused.status_code == 422  # a value outside the family is still refused
    got = client.patch("/api/v1/products/complete", headers=token, json={"values": {"mpn": None, "name:en_US": "Sock"}})
    assert got.status_code == 200, got.text
    product = store.get_product("complete")
    assert "mpn" not in product.values and "mpn" not in product.provenance  # type: ignore[union-attr]
    assert product.values["name:en_US"] == "Sock"  # type: ignore[union-attr]
    history = client.get("/api/v1/products/complete/history", headers=token).json()
    assert {(h["value_key"], h["old"], h["new"]) for h in history} == {("mpn", "RN-1", None),
                                                                      ("name:en_US", "Runner", "Sock")}


def test_the_grid_says_an_unknown_channel_or_locale_filters_nothing(web: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = web
    page = client.get("/products?channel=ecomerce&completeness=complete")
    assert page.status_code == 200
    assert "no channel &#39;ecomerce&#39; (did you mean &#39;ecommerce&#39;?)" in page.text
    assert "the completeness, missing and quality filters have no scores there" in page.text
    assert "have no scores there" in client.get("/products?channel=ecommerce&locale=fr_FR").text
    assert "have no scores there" not in client.get("/products?channel=ecommerce&locale=de_DE").text


def test_the_grid_says_a_quality_reason_the_gate_never_stores_finds_nothing(
        web: tuple[TestClient, dict[str, str]]) -> None:
    client, _ = web
    page = client.get("/products?channel=ecommerce&quality=incomplete_typo")
    assert page.status_code == 200 and "no quality reason &#39;incomplete_typo&#39; on channel" in page.text
    assert "no quality reason" not in client.get("/products?channel=ecommerce&quality=missing").text
