"""Round 33, what the docs promise: an image fixed in place unblocks its products at the next plain ingest,
bad PIM_* settings are refused at start (exit 3, naming the variable), `pim gate check` exits 6 when products
are blocked, a cut `pim media problems` list says how many there are, `pim search token` refuses an unknown
customer as `pim feeds token` does, a structure delete of an unknown code lists the codes there are, and a
publish result's `files` name files that exist after the swap."""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from media.ingest import ingest, rescore_products_using
from media.store_local import LocalAssetStore
from pim.cli import _mount, main
from pim.cli import app as cli
from pim.errors import ConfigError, InputError
from pim.product import Product, Provenance
from pim.settings import get_settings, reset_settings
from pim.store import Store
from tests import images

pytestmark = pytest.mark.backends("sqlite")  # CLI contracts and settings: the database only holds the catalog
_mount()
SRC = Provenance(source="test", at=datetime(2026, 1, 1, tzinfo=UTC))


def run_main(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """The installed entry point (pim.cli.main, which maps errors to exit codes), in this process."""
    monkeypatch.setattr(sys, "argv", ["pim", *args])
    with pytest.raises(SystemExit) as ended:
        main()
    out = capsys.readouterr()
    return int(ended.value.code or 0), out.out, out.err


def _with_picture(store: Store, ref: str) -> None:
    """A shirt complete on ecommerce when its required picture `ref` is a usable image."""
    store.put_structure("family", [store.structure().families["shirts"].model_copy(
        update={"requirements": {"ecommerce": ["sku", "name", "price", "color", "size", "picture"]}})])
    store.upsert_products([Product(identifier="t1", family="shirts", source=SRC, values={
        "sku": "t1", "name:en_US": "T", "name:de_DE": "T", "price": {"EUR": "1.00", "USD": "1.00"}, "color": "red", "size": "s",
        "picture": ref})])


def _ratio(store: Store) -> int:
    from pim.completeness import stored_completeness

    return next(r["ratio"] for r in stored_completeness(store, "t1") if (r["channel"], r["locale"]) == ("ecommerce", "en_US"))


def _seq(store: Store) -> int:
    from pim.store.store import PRODUCT

    with store.engine.connect() as conn:
        return conn.execute(select(PRODUCT.c.seq).where(PRODUCT.c.identifier == "t1")).scalar_one()


# ------------------------------------------------------------------------------ 1. an image fixed in place
def test_an_image_written_after_a_failed_ingest_completes_its_product_at_the_next_plain_run(
        tiny_store: Store, tmp_path: Path) -> None:
    _with_picture(tiny_store, "late.jpg")
    assets, folder = LocalAssetStore(tmp_path / "media"), tmp_path / "photos"
    folder.mkdir()
    failed = ingest(tiny_store, [("late.jpg", "test")], asset_store=assets, base_dir=folder)
    rescore_products_using(tiny_store, failed)
    assert (failed.unreadable, _ratio(tiny_store)) == (1, 83)  # the picture does not count while unreadable
    before = _seq(tiny_store)
    (folder / "late.jpg").write_bytes(images.jpeg(64, 48))
    fixed = ingest(tiny_store, [("late.jpg", "test")], asset_store=assets, base_dir=folder)
    assert (fixed.valid, fixed.problems, fixed.fixed) == (1, [], ["late.jpg"])
    assert rescore_products_using(tiny_store, fixed) == 1
    assert _ratio(tiny_store) == 100 and _seq(tiny_store) > before  # complete again, and sent by deltas


def test_the_cli_rescores_the_products_of_refs_a_run_fixed(tiny_store: Store, tmp_path: Path) -> None:
    _with_picture(tiny_store, "late.jpg")
    folder = tmp_path / "photos"
    folder.mkdir()
    runner = CliRunner()
    first = json.loads(runner.invoke(cli, ["media", "ingest", "--base", str(folder), "--json"]).stdout)
    assert (first["unreadable"], first["products_rescored"], _ratio(tiny_store)) == (1, 1, 83)
    (folder / "late.jpg").write_bytes(images.jpeg(64, 48))
    again = json.loads(runner.invoke(cli, ["media", "ingest", "--base", str(folder), "--json"]).stdout)
    assert (again["valid"], again["products_rescored"], _ratio(tiny_store)) == (1, 1, 100)
    assert again["problems fixed"] == 1


def test_a_valid_image_read_again_is_not_counted_as_fixed(tiny_store: Store, tmp_path: Path) -> None:
    """Guard (passes before and after the change): only refs that were problems count as fixed."""
    _with_picture(tiny_store, "ok.jpg")
    assets, folder = LocalAssetStore(tmp_path / "media"), tmp_path / "photos"
    folder.mkdir()
    (folder / "ok.jpg").write_bytes(images.jpeg(64, 48))
    ingest(tiny_store, [("ok.jpg", "test")], asset_store=assets, base_dir=folder)
    again = ingest(tiny_store, [("ok.jpg", "test")], asset_store=assets, base_dir=folder, refresh=True)
    assert getattr(again, "fixed", []) == [] and rescore_products_using(tiny_store, again) == 0


# ------------------------------------------------------------------------------ 2, 3. settings refused at start
@pytest.mark.parametrize(("name", "value", "said"), [
    ("PIM_BATCH_SIZE", "0", "PIM_BATCH_SIZE='0' should be greater than or equal to 1"),
    ("PIM_BATCH_SIZE", "-5", "PIM_BATCH_SIZE='-5' should be greater than or equal to 1"),
    ("PIM_WORKERS", "0", "PIM_WORKERS='0' should be greater than or equal to 1"),
    ("PIM_BATCH_SIZE", "abc", "PIM_BATCH_SIZE='abc' should be a valid integer"),
    ("PIM_SMTP_PORT", "abc", "PIM_SMTP_PORT='abc' should be a valid integer"),
    ("PIM_QUARANTINE_RETENTION_DAYS", "abc", "PIM_QUARANTINE_RETENTION_DAYS='abc' should be a valid integer"),
])
def test_a_bad_setting_is_a_config_error_naming_the_variable(pim_env: Path, monkeypatch: pytest.MonkeyPatch,
                                                             name: str, value: str, said: str) -> None:
    monkeypatch.setenv(name, value)
    reset_settings()
    with pytest.raises(ConfigError) as refused:
        get_settings()
    assert said in str(refused.value) and refused.value.exit_code == 3
    assert "fix or unset the variable" in refused.value.hint


def test_the_cli_exits_3_on_a_bad_setting_before_importing_anything(store: Store, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    rows = tmp_path / "p.jsonl"
    rows.write_text(json.dumps({"identifier": "x1", "values": {"sku": "x1"}}) + "\n", encoding="utf-8")
    monkeypatch.setenv("PIM_BATCH_SIZE", "0")
    reset_settings()
    code, _, err = run_main(monkeypatch, capsys, "import", "jsonl", str(rows))
    assert code == 3 and "PIM_BATCH_SIZE='0'" in err and "Traceback" not in err
    assert list(store.iter_products()) == []


# ------------------------------------------------------------------------------ 4. pim gate check exits 6
def test_gate_check_exits_6_when_a_product_is_blocked_and_0_when_none_is(
        tiny_store: Store, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    _with_picture(tiny_store, "late.jpg")  # complete: an image never ingested is not held against it
    code, out, _ = run_main(monkeypatch, capsys, "gate", "check", "--channel", "ecommerce", "--json")
    assert code == 0, out
    tiny_store.upsert_products([Product(identifier="t2", family="shirts", source=SRC, values={"sku": "t2"})])
    code, out, err = run_main(monkeypatch, capsys, "gate", "check", "--channel", "ecommerce", "--json")
    assert code == 6 and list(json.loads(out)["blocked"]) == ["t2"]  # the result is printed all the same
    assert "1 product(s) blocked by the gate on ecommerce" in err and "pim gate report --channel ecommerce" in err


# ------------------------------------------------------------------------------ 5. structure delete hint
def test_deleting_an_unknown_family_lists_the_families_there_are(tiny_store: Store) -> None:
    result = CliRunner().invoke(cli, ["structure", "delete", "families", "shirt", "--dry-run"])
    assert isinstance(result.exception, InputError)
    hint = result.exception.hint or ""
    assert "did you mean 'shirts'?" in hint and "'drills'" in hint and "pim structure show" not in hint


# ------------------------------------------------------------------------------ 6. a cut problems list
def test_a_cut_media_problems_list_says_how_many_there_are(store: Store, tmp_path: Path) -> None:
    ingest(store, [(f"gone{n}.jpg", "erp") for n in range(3)], asset_store=LocalAssetStore(tmp_path / "m"),
           base_dir=tmp_path)
    cut = CliRunner().invoke(cli, ["media", "problems", "--limit", "2", "--json"])
    assert len(json.loads(cut.stdout)) == 2
    assert "2 of 3 image problem(s) shown: `--limit 0` lists them all" in cut.stderr
    whole = CliRunner().invoke(cli, ["media", "problems", "--limit", "0"])
    assert "3 image problem(s)" in whole.stdout and "shown" not in whole.stderr


# ------------------------------------------------------------------------------ 7. search token customers
def test_search_token_refuses_an_unknown_customer_unless_forced(tiny_store: Store,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.feeds_data import store_contract

    store_contract(tiny_store, code="c0-feed", customer="cust_0000")
    monkeypatch.setenv("MEILI_SEARCH_API_KEY", "k" * 32)
    monkeypatch.setenv("MEILI_SEARCH_API_KEY_UID", "0b1e5c4e-0000-4000-8000-000000000000")
    runner = CliRunner()
    refused = runner.invoke(cli, ["search", "token", "--customer", "CUST_0000", "--json"])
    assert isinstance(refused.exception, InputError) and "did you mean 'cust_0000'" in str(refused.exception)
    for args in (["--customer", "cust_0000"], ["--customer", "later", "--force"]):
        done = runner.invoke(cli, ["search", "token", *args, "--json"])
        assert done.exit_code == 0, done.output
        assert json.loads(done.stdout)["customer"] == args[1]


def test_without_contracts_search_token_knows_the_price_list_customers(tiny_store: Store,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The index names price-list customers while there is no contract (pim.contracts.contract_customers)."""
    from decimal import Decimal

    from pim.commerce import PriceListEntry, put_price_list

    put_price_list(tiny_store, [PriceListEntry(customer="globex", sku="t1", currency="EUR", price=Decimal("5"))])
    monkeypatch.setenv("MEILI_SEARCH_API_KEY", "k" * 32)
    monkeypatch.setenv("MEILI_SEARCH_API_KEY_UID", "0b1e5c4e-0000-4000-8000-000000000000")
    runner = CliRunner()
    assert runner.invoke(cli, ["search", "token", "--customer", "globex", "--json"]).exit_code == 0
    refused = runner.invoke(cli, ["search", "token", "--customer", "initech", "--json"])
    assert isinstance(refused.exception, InputError) and "--force" in (refused.exception.hint or "")


# ------------------------------------------------------------------------------ 8. publish result files
def test_a_publish_results_files_exist_after_the_swap(tiny_store: Store, tmp_path: Path) -> None:
    from pim.pipeline import publish

    tiny_store.upsert_products([Product(identifier="t2", family="shirts", source=SRC, values={"sku": "t2"})])
    result = publish(tiny_store, tmp_path, channel="storefront", scope="ecommerce")
    files = result.summary()["files"]
    assert files and all((tmp_path / f).is_file() and ".staging" not in f for f in files)
    assert tiny_store.job(result.job_id)["counts"]["files"] == files


def test_jobs_refuses_a_kind_no_job_has_and_no_runner_takes(store: Store) -> None:
    """`pim import jobs --kind erp` answered "0 job(s)"; a known kind with no job yet still lists nothing."""
    from typer.testing import CliRunner

    from pim.cli import _mount, app
    from pim.errors import InputError

    _mount()
    wrong = CliRunner().invoke(app, ["import", "jobs", "--kind", "imprt"])
    assert isinstance(wrong.exception, InputError) and wrong.exception.exit_code == 2
    assert str(wrong.exception) == "no job kind 'imprt' (did you mean 'import'?)"
    assert "publish" in (wrong.exception.hint or "")
    fine = CliRunner().invoke(app, ["import", "jobs", "--kind", "publish", "--json"])
    assert fine.exit_code == 0 and fine.stdout.strip() == "[]"
