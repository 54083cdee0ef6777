"""Round 35, a data steward's and the REST API's rough edges: the per-locale completeness counts leave disabled
products out and count them apart (as the to-do does), a stored SKU holding '/' is addressable by the API and
listed by `pim doctor`, the structure schema refuses reserved attribute codes, and a JSONL export can keep the
values it would leave out so a round trip into the same catalog loses nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import event
from typer.testing import CliRunner

from media.assets import problem_count, problems
from media.ingest import ingest
from media.settings import load_media_file
from media.store_local import LocalAssetStore
from pim.cli import _mount, app
from pim.completeness import report
from pim.errors import ConfigError, InputError
from pim.jsonl import import_jsonl
from pim.product import Product, Provenance
from pim.schemas import load_schema
from pim.store import Store
from pim.web.accounts import add_user, create_token
from pim.web.app import create_app
from tests import images
from tests.channel_data import ERP, complete_values, seed_products
from tests.test_mends_r33_b import moved  # noqa: F401  (fixture: 'complete' moved to a family without mpn)
from tests.test_steward_mends_r34 import variants  # noqa: F401  (fixture: v-off, a disabled variant of m2's family)
from tests.test_steward_r34 import one_disabled  # noqa: F401  (fixture: a disabled, incomplete 'off' beside the seed)
from tests.test_web_ui import cheap_argon2, login  # noqa: F401  (cheap_argon2: autouse fixture)

_mount()


# ---------------------------------------------------------------------------------------------- 1. per-locale counts
def test_the_per_locale_counts_leave_a_disabled_product_out_and_count_it_apart(one_disabled: Store) -> None:  # noqa: F811
    """On both backends: the disabled counts' SQL."""
    (en,) = report(one_disabled, "ecommerce", "en_US").locales
    assert en.model_dump() == {"locale": "en_US", "products": 5, "complete": 4, "incomplete": 1, "disabled": 1}
    # before: 6 products, 2 incomplete ('off' counted), while the to-do left it out


@pytest.mark.backends("sqlite")
def test_a_complete_disabled_product_leaves_the_complete_count_too(one_disabled: Store) -> None:  # noqa: F811
    one_disabled.upsert_products([one_disabled.get_product("complete").model_copy(update={"enabled": False})])  # type: ignore[union-attr]
    (en,) = report(one_disabled, "ecommerce", "en_US").locales
    assert (en.products, en.complete, en.incomplete, en.disabled) == (4, 3, 1, 2)


@pytest.mark.backends("sqlite")
def test_a_disabled_variant_taking_its_family_from_its_model_is_counted_disabled_per_locale(variants: Store) -> None:  # noqa: F811
    (en,) = report(variants, "ecommerce", "en_US").locales
    assert (en.products, en.incomplete, en.disabled) == (6, 2, 1)  # before: 7 products, 3 incomplete


@pytest.mark.backends("sqlite")
def test_the_api_and_the_cli_report_the_same_counts(one_disabled: Store) -> None:  # noqa: F811
    user = add_user(one_disabled, "ed", "correct horse", "editor")
    got = TestClient(create_app(one_disabled)).get(
        "/api/v1/completeness/ecommerce?locale=en_US", headers={"Authorization": f"Bearer {create_token(one_disabled, user)}"})
    assert got.json()["locales"] == [{"locale": "en_US", "products": 5, "complete": 4, "incomplete": 1, "disabled": 1}]
    done = CliRunner().invoke(app, ["gate", "report", "--channel", "ecommerce", "--locale", "en_US"])
    assert done.exit_code == 0, done.output
    row = next(line for line in done.output.splitlines() if "en_US" in line and "│" in line)
    assert [c.strip() for c in row.strip("│ ").split("│")] == ["en_US", "5", "4", "1", "1"]


@pytest.mark.backends("sqlite")
def test_the_dashboard_shows_disabled_products_apart_and_links_only_enabled_incomplete_ones(one_disabled: Store) -> None:  # noqa: F811
    add_user(one_disabled, "ed", "correct horse", "editor")
    client = TestClient(create_app(one_disabled))
    login(client)
    page = client.get("/dashboard?channel=ecommerce&locale=en_US").text
    row = page.split('<tr data-locale="en_US">', 1)[1].split("</tr>", 1)[0]
    assert "<td>5</td>" in row and "enabled=1&completeness=incomplete\">1</a>" in row
    assert '<td class="disabled"><a href="/products?channel=ecommerce&locale=en_US&enabled=0">1</a>' in row


# ---------------------------------------------------------------------------------------------- 2. a SKU with '/'
@pytest.fixture
def slashed(store: Store) -> tuple[TestClient, dict[str, str]]:
    """The seeded catalog plus products stored before round 34's rule: 'AB/12' and 'x/history' (whose tail is a
    sub-route's name), and an admin's token (deletes are theirs)."""
    seed_products(store)
    store.upsert_products([Product(identifier=sku, family="shoes", categories=["shoes"], source=ERP,
                                   values=complete_values(sku=sku)) for sku in ("AB/12", "x/history")])
    user = add_user(store, "ada", "correct horse", "admin")
    return TestClient(create_app(store)), {"Authorization": f"Bearer {create_token(store, user)}"}


def test_a_stored_sku_with_a_slash_is_read_url_encoded(slashed) -> None:
    client, h = slashed
    got = client.get("/api/v1/products/AB%2F12", headers=h)
    assert got.status_code == 200, got.text  # before: 404, the path read as /products/AB/12
    assert got.json()["identifier"] == "AB/12"
    assert client.get("/api/v1/products/AB%2f12", headers=h).json()["identifier"] == "AB/12"  # either case of %2F


@pytest.mark.backends("sqlite")
def test_sub_routes_of_a_slashed_sku_are_its_own_and_not_another_products(slashed) -> None:
    client, h = slashed
    assert client.get("/api/v1/products/x%2Fhistory", headers=h).json()["identifier"] == "x/history"
    assert client.patch("/api/v1/products/AB%2F12", headers=h, json={"values": {"color": "blue"}}).status_code == 200
    history = client.get("/api/v1/products/AB%2F12/history", headers=h)
    assert history.status_code == 200 and len(history.json()) == 1, history.text
    rows = client.get("/api/v1/products/AB%2F12/completeness", headers=h).json()
    assert rows and {(r["channel"], r["ratio"]) for r in rows} >= {("ecommerce", 100)}, rows


@pytest.mark.backends("sqlite")
def test_a_slashed_sku_is_patched_and_deleted_url_encoded(slashed, store: Store) -> None:
    client, h = slashed
    done = client.patch("/api/v1/products/AB%2F12", headers=h, json={"values": {"color": "blue"}})
    assert done.status_code == 200, done.text
    assert store.get_product("AB/12").values["color"] == "blue"  # type: ignore[union-attr]
    assert client.delete("/api/v1/products/AB%2F12", headers=h).status_code == 204
    assert store.get_product("AB/12") is None


@pytest.mark.backends("sqlite")
def test_doctor_lists_slashed_skus_with_advice_to_rename(slashed) -> None:
    done = CliRunner().invoke(app, ["doctor", "--json"])
    assert done.exit_code == 1, done.output
    (found,) = [f for f in json.loads(done.stdout) if not f["note"]]  # round 36: notes (images unchecked) aside
    assert (found["count"], found["shown"]) == (2, ["AB/12", "x/history"])
    assert "Rename each" in found["advice"] and "%2F" in found["advice"]


@pytest.mark.backends("sqlite")
def test_doctor_on_a_clean_catalog_says_so_and_exits_0(store: Store) -> None:
    seed_products(store)
    done = CliRunner().invoke(app, ["doctor"])
    assert done.exit_code == 0 and "nothing to rename" in done.output  # round 36: beside a note (images unchecked)


# ---------------------------------------------------------------------------------------------- 3. reserved codes
def _structure(code: str) -> dict[str, object]:
    return yaml.safe_load(f"attributes:\n  - {{code: sku, type: identifier}}\n  - {{code: {code}, type: text}}\n")


@pytest.mark.backends("sqlite")
def test_the_structure_schema_refuses_a_reserved_attribute_code() -> None:
    schema = load_schema("structure")
    with pytest.raises(jsonschema.ValidationError) as refused:
        jsonschema.validate(_structure("associations"), schema)  # before: valid by the schema, refused on load
    assert list(refused.value.absolute_path) == ["attributes", 1, "code"]
    jsonschema.validate(_structure("associations_text"), schema)


# ---------------------------------------------------------------------------------------------- 4. round trip
@pytest.mark.backends("sqlite")
def test_an_export_with_its_left_out_file_imports_back_into_the_same_catalog_losing_nothing(
        moved: Store, tmp_path: Path) -> None:  # noqa: F811
    moved.upsert_products([moved.get_product("complete").model_copy(update={  # type: ignore[union-attr]
        "provenance": {"mpn": Provenance(source="supplier", ref="s.csv:7", at=ERP.at)}})])
    out = tmp_path / "catalog.jsonl"
    done = CliRunner().invoke(app, ["export", "jsonl", str(out), "--include-left-out"])
    assert done.exit_code == 0, done.output
    assert "kept in the left-out file" in done.stderr and "catalog.left-out.jsonl" in done.stdout
    (line,) = map(json.loads, (tmp_path / "catalog.left-out.jsonl").read_bytes().splitlines())
    assert (line["kind"], line["key"], line["values"]) == ("left_out", "complete", {"mpn": "RN-1"})

    counts = import_jsonl(out, moved)
    assert (counts.rejected, counts.extra["left_out_restored"]) == (0, 1), counts.as_dict()
    restored = moved.get_product("complete")
    assert restored.values["mpn"] == "RN-1"  # type: ignore[union-attr]  # before: gone after the import
    assert restored.provenance["mpn"].ref == "s.csv:7"  # type: ignore[union-attr]  # and who sent it


@pytest.mark.backends("sqlite")
def test_an_export_without_the_option_removes_a_stale_left_out_file(moved: Store, tmp_path: Path) -> None:  # noqa: F811
    """Else the next import would put back values of an older export; the file alone is then the record, as the
    export's warning says."""
    out = tmp_path / "catalog.jsonl"
    assert CliRunner().invoke(app, ["export", "jsonl", str(out), "--include-left-out"]).exit_code == 0
    assert CliRunner().invoke(app, ["export", "jsonl", str(out)]).exit_code == 0
    assert not (tmp_path / "catalog.left-out.jsonl").exists()
    import_jsonl(out, moved)
    assert "mpn" not in moved.get_product("complete").values  # type: ignore[union-attr]


@pytest.mark.backends("sqlite")
def test_a_value_set_since_the_export_is_not_overwritten_by_the_left_out_file(moved: Store, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "catalog.jsonl"
    assert CliRunner().invoke(app, ["export", "jsonl", str(out), "--include-left-out"]).exit_code == 0
    lines = [json.loads(x) for x in out.read_bytes().splitlines()]
    for rec in lines:
        if rec.get("identifier") == "complete":
            rec["family"] = "shoes"
            rec["values"]["mpn"] = "RN-2"  # the file itself now holds mpn (its family has it again)
    out.write_bytes(b"".join(json.dumps(r).encode() + b"\n" for r in lines))
    # round 35 (found exploring): an edited export no longer matches its left-out file, which the import refuses
    # before any batch rather than delete the left-out values; without the left-out file the file's own value wins
    with pytest.raises(InputError, match="belongs to another export"):
        import_jsonl(out, moved)
    assert moved.get_product("complete").values["mpn"] == "RN-1"  # type: ignore[union-attr]
    (tmp_path / "catalog.left-out.jsonl").unlink()
    counts = import_jsonl(out, moved)
    assert counts.extra.get("left_out_restored", 0) == 0, counts.as_dict()
    assert moved.get_product("complete").values["mpn"] == "RN-2"  # type: ignore[union-attr]


@pytest.mark.backends("sqlite")
def test_a_broken_left_out_file_stops_the_import_before_it_writes(moved: Store, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "catalog.jsonl"
    assert CliRunner().invoke(app, ["export", "jsonl", str(out), "--include-left-out"]).exit_code == 0
    (tmp_path / "catalog.left-out.jsonl").write_text('{"kind": "product", "identifier": "complete"}\n')
    with pytest.raises(InputError, match="line 1 is no left-out line"):
        import_jsonl(out, moved)
    assert moved.get_product("complete").values["mpn"] == "RN-1"  # type: ignore[union-attr]


@pytest.mark.backends("sqlite")
def test_include_left_out_needs_a_file(moved: Store) -> None:  # noqa: F811
    done = CliRunner().invoke(app, ["export", "jsonl", "--include-left-out"])
    assert isinstance(done.exception, ConfigError) and "name the export file" in (done.exception.hint or "")


# ---------------------------------------------------------------------------------------------- 5. paged in SQL
def test_channel_rule_problems_are_read_a_page_at_a_time_in_sql(store: Store, tmp_path: Path) -> None:
    """On both backends (the size filter's SQL). Valid images only: the page is all the channel's rules'."""
    (tmp_path / "media.yaml").write_text("channels:\n  ecommerce:\n    min_width: 50\n")
    media = load_media_file(tmp_path / "media.yaml")
    sizes = {"big.png": 80, "small1.png": 30, "small2.png": 30, "narrow.png": 40}
    for name, width in sizes.items():
        (tmp_path / name).write_bytes(images.png(width, 60 + width))  # small1 and small2: one image, two refs
    ingest(store, [(name, "erp") for name in sizes], asset_store=LocalAssetStore(tmp_path / "m"), base_dir=tmp_path)
    statements: list[str] = []

    def seen(*args: Any) -> None:
        statements.append(args[2])

    event.listen(store.engine, "before_cursor_execute", seen)
    rows = problems(store, channel="ecommerce", media=media, limit=2)
    event.remove(store.engine, "before_cursor_execute", seen)
    assert [r["ref"] for r in rows] == ["narrow.png", "small1.png"]
    assert rows[0]["reason"] == "ecommerce: width 40px < 50px"
    read = [s for s in statements if "FROM asset_origin" in s]
    assert read and all("LIMIT" in s for s in read)  # before: every valid image read and checked in Python
    assert [r["ref"] for r in problems(store, channel="ecommerce", media=media)] == ["narrow.png", "small1.png",
                                                                                      "small2.png"]
    assert problem_count(store, channel="ecommerce", media=media) == 3
