"""Round 34, a data steward's rough edges: an export after a family change imports back (the values the new
family lacks are left out and named, and stay in the store), disabled products stay out of the to-do and
are counted as disabled by a publish, the to-do and the media problems read only their page, and a content
sheet's untouched or equal price and metric cells claim nothing."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from typer.testing import CliRunner

from importers.content import import_content
from media.assets import problem_count, problems
from media.ingest import ingest
from media.settings import load_media_file
from media.store_local import LocalAssetStore
from pim.cli import _mount, app
from pim.completeness import report
from pim.jsonl import LeftOut, export_jsonl, import_jsonl
from pim.merge import candidates_for
from pim.pipeline import PublishResult
from pim.product import Product
from pim.store import Store
from pim.web.accounts import add_user, create_token
from pim.web.app import create_app
from tests import images
from tests.channel_data import ERP, complete_values, seed_products
from tests.test_mends_r33_b import moved  # noqa: F401  (fixture: 'complete' moved to a family without mpn)
from tests.test_web_ui import cheap_argon2, login  # noqa: F401  (cheap_argon2: autouse fixture)

_mount()


# ---------------------------------------------------------------------------------------------- 1. export → import
@pytest.mark.backends("sqlite")
def test_an_export_after_a_family_change_leaves_the_stray_value_out_names_it_and_imports_back(
        moved: Store, tmp_path: Path) -> None:  # noqa: F811
    left_out = LeftOut(moved.structure())
    path = tmp_path / "catalog.jsonl"
    with path.open("wb") as fh:
        export_jsonl(moved, fh, left_out=left_out)
    lines = {r.get("identifier") or r["code"]: r for r in map(orjson.loads, path.read_bytes().splitlines())}
    assert "mpn" not in lines["complete"]["values"] and "mpn" not in lines["complete"].get("provenance", {})
    assert lines["bad-gtin"]["values"]["mpn"] == "RN-1"  # its family (shoes) holds mpn
    assert (left_out.values, left_out.records, left_out.shown) == (1, 1, [("complete", ["mpn"])])
    assert "complete (mpn)" in (left_out.warning() or "") and "stay in the store" in (left_out.warning() or "")

    counts = import_jsonl(path, moved)
    assert counts.rejected == 0, counts.as_dict()  # before: "'mpn' is not an attribute of family 'socks'"


@pytest.mark.backends("sqlite")
def test_the_export_command_warns_on_stderr_and_the_stray_value_stays_in_the_store(moved: Store) -> None:  # noqa: F811
    result = CliRunner().invoke(app, ["export", "jsonl"])
    assert result.exit_code == 0, result.output
    assert b'"mpn"' not in next(line for line in result.stdout_bytes.splitlines() if b'"identifier":"complete"' in line)
    assert "left out 1 value(s) of 1 record(s)" in result.stderr and "complete (mpn)" in result.stderr
    assert moved.get_product("complete").values["mpn"] == "RN-1"  # type: ignore[union-attr]


@pytest.mark.backends("sqlite")
def test_an_export_with_no_stray_value_warns_nothing(store: Store) -> None:  # guard: passes before and after
    seed_products(store)
    left_out = LeftOut(store.structure())
    assert export_jsonl(store, io.BytesIO(), left_out=left_out) == 6 and left_out.warning() is None


# ---------------------------------------------------------------------------------------------- 2. disabled products
@pytest.fixture
def one_disabled(store: Store) -> Store:
    """The seeded catalog with a second product missing its descriptions, disabled."""
    seed_products(store)
    no_text = {k: v for k, v in complete_values(sku="off").items() if not k.startswith("description")}
    store.upsert_products([Product(identifier="off", family="shoes", categories=["shoes"], source=ERP, values=no_text,
                                   enabled=False)])
    return store


def test_a_disabled_product_is_left_out_of_the_todo_and_named_apart(one_disabled: Store) -> None:
    """On both backends, as the two below: the to-do's and the problems' counting SQL."""
    todo = {t.attribute: t for t in report(one_disabled, "ecommerce", "en_US").todo}
    assert (todo["description"].products, todo["description"].disabled) == (1, 1)  # before: 2 products, none apart
    assert todo["description"].sentence() == ("1 products in family shoes miss description (en_US) for ecommerce "
                                              "(1 disabled left out)")


@pytest.mark.backends("sqlite")
def test_a_todo_only_disabled_products_miss_is_no_todo(one_disabled: Store) -> None:
    one_disabled.upsert_products([one_disabled.get_product("no-description").model_copy(update={"enabled": False})])  # type: ignore[union-attr]
    assert "description" not in {t.attribute for t in report(one_disabled, "ecommerce", "en_US").todo}


@pytest.mark.backends("sqlite")
def test_the_todo_csv_leaves_disabled_products_out(one_disabled: Store) -> None:
    add_user(one_disabled, "ed", "correct horse", "editor")
    client = TestClient(create_app(one_disabled))
    login(client)
    got = client.get("/dashboard/todo.csv?channel=ecommerce&locale=en_US&family=shoes&attribute=description")
    assert got.status_code == 200, got.text
    assert [row[0] for row in csv.reader(io.StringIO(got.text))] == ["sku", "no-description"]  # before: "off" too


def test_a_publish_summary_counts_disabled_products_apart_from_blocked_ones() -> None:
    result = PublishResult("storefront", "ecommerce", 3, {"off": ["disabled"], "half": ["completeness:en_US:80<100"]},
                           [])
    summary = result.summary()
    assert (summary["blocked"], summary["disabled"]) == (1, 1)  # before: blocked 2, no disabled count


@pytest.mark.backends("sqlite")
def test_gate_check_counts_a_disabled_product_apart_and_does_not_exit_6_for_it(one_disabled: Store) -> None:
    one_disabled.upsert_products([p.model_copy(update={"enabled": False}) for p in  # every blocked one but 'off'
                                  map(one_disabled.get_product, ["bad-gtin", "long-title", "no-description",
                                                                 "runner-red"])])
    done = CliRunner().invoke(app, ["gate", "check", "--channel", "ecommerce", "--json"])
    assert done.exit_code == 0, done.output  # before: exit 6, 'off' and the others blocked
    assert orjson.loads(done.stdout) == {"channel": "ecommerce", "passed": 1, "blocked": {}, "disabled": 5}


# ---------------------------------------------------------------------------------------------- 3. read only the page
def test_the_todo_is_cut_in_sql_and_counted_whole(one_disabled: Store) -> None:
    whole = report(one_disabled, "ecommerce")
    cut = report(one_disabled, "ecommerce", todo_limit=1)
    assert len(whole.todo) == whole.todo_total > 1
    assert (cut.todo, cut.todo_total) == (whole.todo[:1], whole.todo_total)  # before: no todo_total

    user = add_user(one_disabled, "ed", "correct horse", "editor")
    client = TestClient(create_app(one_disabled))
    got = client.get("/api/v1/completeness/ecommerce?limit=1",
                     headers={"Authorization": f"Bearer {create_token(one_disabled, user)}"}).json()
    assert (len(got["todo"]), got["todo_total"], got["todo_truncated"]) == (1, whole.todo_total, True)


def test_media_problems_read_only_their_page_and_count_every_problem(store: Store, tmp_path: Path) -> None:
    (tmp_path / "media.yaml").write_text("channels:\n  ecommerce:\n    min_width: 50\n")
    media = load_media_file(tmp_path / "media.yaml")
    for name in ("small1.png", "small2.png"):  # valid, below the channel's width: one distinct size
        (tmp_path / name).write_bytes(images.png(30, 30))
    ingest(store, [(f"gone{n}.jpg", "erp") for n in range(3)] + [("small1.png", "erp"), ("small2.png", "erp")],
           asset_store=LocalAssetStore(tmp_path / "m"), base_dir=tmp_path)
    statements: list[str] = []

    def seen(*args: Any) -> None:
        statements.append(args[2])

    event.listen(store.engine, "before_cursor_execute", seen)
    rows = problems(store, channel="ecommerce", media=media, limit=2)
    event.remove(store.engine, "before_cursor_execute", seen)
    assert [r["ref"] for r in rows] == ["gone0.jpg", "gone1.jpg"]
    read = [s for s in statements if "FROM asset_origin" in s]
    assert read and all("LIMIT" in s for s in read)  # before: every row read, then cut
    assert problem_count(store, channel="ecommerce", media=media) == 5
    assert len(problems(store, channel="ecommerce", media=media)) == 5


# ---------------------------------------------------------------------------------------------- 4. equal price cells
def _sheet(tmp_path: Path, rows: list[list[str]]) -> Path:
    path = tmp_path / "sheet.csv"
    with path.open("w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)
    return path


@pytest.mark.backends("sqlite")
def test_price_and_metric_cells_equal_to_the_stored_values_claim_nothing(store: Store, tmp_path: Path) -> None:
    seed_products(store)  # 'complete': price EUR 49.90, USD 54.00 and weight 850 GRAM, from the ERP
    counts = import_content(_sheet(tmp_path, [["sku", "price", "weight"],
                                              ["complete", "54 USD, 49,9 EUR", "850 g"]]), store)
    assert counts.rejected == 0
    claims = candidates_for(store, "complete")
    assert "content" not in claims.get("price", {}) and "content" not in claims.get("weight", {})  # before: both kept
    assert store.get_product("complete").provenance_of("price").source == "erp"  # type: ignore[union-attr]


@pytest.mark.backends("sqlite")
def test_an_exported_price_and_metric_sheet_claims_only_its_edited_cells(store: Store, tmp_path: Path) -> None:
    seed_products(store)
    out = tmp_path / "prices.csv"
    done = CliRunner().invoke(app, ["export", "sheet", "--out", str(out), "--columns", "price,weight"])
    assert done.exit_code == 0, done.output  # before: "a price_collection value does not fit in one cell"
    rows = list(csv.reader(out.open(encoding="utf-8")))
    header, row = rows[0], next(r for r in rows if r[0] == "complete")
    assert (row[header.index("price")], row[header.index("weight")]) == ("EUR 49.90, USD 54.00", "850 GRAM")
    newer = complete_values(sku="complete", price={"EUR": "45.00", "USD": "50.00"})
    store.upsert_products([store.get_product("complete").model_copy(update={"values": newer})])  # type: ignore[union-attr]
    row[header.index("weight")] = "0.9 KILOGRAM"  # the one edit; the price cell is left as exported
    import_content(_sheet(tmp_path, [header, row]), store)
    after = store.get_product("complete")
    assert after.values["price"] == {"EUR": "45.00", "USD": "50.00"}  # type: ignore[union-attr]
    assert after.values["weight"] == {"amount": "0.9", "unit": "KILOGRAM"}  # type: ignore[union-attr]


@pytest.mark.backends("sqlite")
def test_the_report_leaves_out_the_counters_of_a_locale_the_channel_no_longer_has(one_disabled: Store) -> None:
    """A locale that left the channel keeps zero counters behind: `pim gate report` listed it while refusing
    `--locale` for it (found following the docs, round 34)."""
    from pim.scoring_tables import COMPLETENESS_COUNT as CC

    with one_disabled.engine.begin() as conn:
        conn.execute(CC.insert().values(channel="ecommerce", locale="fr_FR", family="shoes", products=0, complete=0))
    assert "fr_FR" not in {c.locale for c in report(one_disabled, "ecommerce").locales}
    assert "en_US" in {c.locale for c in report(one_disabled, "ecommerce").locales}
