"""Round 36 (F2), customer feed fixes from an explorer's report: `pim feeds deliver` always tries SFTP at least
once (`--attempts N`; `--retries N` now means retries after the first attempt), a contract moved to another
customer starts that customer's delivery chain cleanly, and customer codes that differ only by case are refused
at `pim feeds load` (or noted with --force) and suggested by case."""

from __future__ import annotations

import re
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
import yaml
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from pim import delivery_log as log
from pim.errors import DeliveryError
from pim.feeds import deliver_contract
from pim.store import Store
from tests.feeds_data import contract, out_dir, put_prices, seed_catalog, store_contract

UNREACHABLE_SFTP = {"portal": True,
                    "sftp": {"host": "127.0.0.1", "port": 1, "user": "u", "private_key": "/nonexistent",
                             "host_key_fingerprint": "SHA256:" + "A" * 43}}


def _cli(*args: str) -> Any:
    from pim.cli import _mount, app

    _mount()
    return CliRunner().invoke(app, list(args))


def _said(out: Any) -> str:
    """What a command printed and the error it ended with, blanks folded."""
    return " ".join(f"{out.output} {out.exception or ''}".split())


# ---------------------------------------------------------------------------------------------- 2. attempts
def test_the_exporter_tries_once_when_told_zero_and_names_the_real_error(tmp_path: Path) -> None:
    from exporters.sftp import SftpExporter
    from pim.protocols import Artifact

    target = SimpleNamespace(host="127.0.0.1", port=1, user="u", private_key="/nonexistent",
                             host_key_fingerprint="SHA256:x", remote_dir="/in")
    (tmp_path / "f.csv").write_text("x")
    for told in (0, -3):
        ex = SftpExporter(target, retries=told, backoff=0)
        with pytest.raises(DeliveryError) as caught:
            ex.push([Artifact(tmp_path / "f.csv", "f.csv", "text/csv")])
        assert ex.attempts == 1
        assert "after 1 attempt:" in str(caught.value) and "cannot reach" in str(caught.value)
        assert "None" not in str(caught.value)


@pytest.mark.parametrize(("option", "tried"), [(["--retries", "0"], 1), (["--attempts", "1"], 1),
                                               (["--attempts", "2"], 2)])
def test_deliver_tries_sftp_as_often_as_the_option_says(store: Store, option: list[str], tried: int) -> None:
    seed_catalog(store)
    store_contract(store, code="bme", format="jsonl", delivery=UNREACHABLE_SFTP)
    out = _cli("feeds", "deliver", "--contract", "bme", *option, "--json")
    assert out.exit_code == 5, out.output
    [failed] = orjson.loads(out.stdout)["failures"]
    assert f"after {tried} attempt" in failed["error"] and "None" not in failed["error"]
    [row] = [r for r in log.deliveries(store, "bme") if r["target"].startswith("sftp")]
    assert row["status"] == "failed" and row["attempts"] == tried and "cannot reach" in row["error"]


@pytest.mark.parametrize("option", [["--attempts", "0"], ["--attempts", "-1"], ["--retries", "-1"],
                                    ["--attempts", "2", "--retries", "1"]])
def test_deliver_refuses_attempts_that_would_try_nothing_as_bad_input(store: Store, option: list[str]) -> None:
    seed_catalog(store)
    store_contract(store, code="bme", format="jsonl", delivery=UNREACHABLE_SFTP)
    out = _cli("feeds", "deliver", "--contract", "bme", *option)
    assert out.exit_code == 2, out.output
    assert log.deliveries(store, "bme") == [] and log.feed_files(store, contract="bme") == []


def test_deliver_help_names_attempts_and_retries_by_what_they_do() -> None:
    text = re.sub(r"[\s│]", "", _cli("feeds", "deliver", "--help").output)  # rich wraps it in a box
    assert "--attempts" in text and "(1:noretry" in text and "--retriesNis--attemptsN+1" in text


def test_deliver_all_refuses_zero_attempts(store: Store) -> None:
    from pim.errors import InputError
    from pim.feeds import deliver_all

    with pytest.raises(InputError, match="at least 1"):
        deliver_all(store, retries=0)


# ---------------------------------------------------------------------------------------------- 3. moved contract
def _portal_names(client: TestClient, token: str) -> list[str]:
    body = client.get("/portal/feeds", headers={"Authorization": f"Bearer {token}"}).json()
    return [f["name"] for f in (body["feeds"] if isinstance(body, dict) else body)]


def test_a_contract_moved_to_another_customer_starts_their_chain_at_version_1(store: Store, tmp_path: Path) -> None:
    from pim.portal import create_portal_app

    seed_catalog(store)
    put_prices(store, "bolt", [("T1", "1", "8.00")])
    store_contract(store, code="main", customer="bolt", mode="delta")
    first = deliver_contract(store, "main", out_dir=out_dir(tmp_path))
    put_prices(store, "bolt", [("T1", "1", "7.50")])
    second = deliver_contract(store, "main", out_dir=out_dir(tmp_path))
    assert (first.status, second.status, second.kind) == ("delivered", "delivered", "delta_prices")
    assert log.get_watermark(store, "main").version == 2

    store_contract(store, code="main", customer="acme", mode="delta")  # moved (pim feeds load)
    moved = deliver_contract(store, "main", out_dir=out_dir(tmp_path))
    assert moved.status == "delivered" and moved.kind == "full"
    [new] = log.feed_files(store, customer="acme", contract="main")
    assert (new["version"], new["previous_version"]) == (1, 0) and "-v000001-" in new["name"]
    manifest = orjson.loads(Path(new["path"] + ".manifest.json").read_bytes())
    assert (manifest["customer"], manifest["version"], manifest["previous_version"]) == ("acme", 1, 0)

    put_prices(store, "acme", [("T1", "1", "6.00")])  # acme's chain goes on from its own version 1
    after = deliver_contract(store, "main", out_dir=out_dir(tmp_path))
    assert after.kind == "delta_prices"
    assert [(f["version"], f["previous_version"]) for f in log.feed_files(store, customer="acme")] == [(2, 1), (1, 0)]

    client = TestClient(create_portal_app(store))
    bolt_names = [f["name"] for f in log.feed_files(store, customer="bolt")]
    acme_names = [f["name"] for f in log.feed_files(store, customer="acme")]
    assert sorted(_portal_names(client, log.issue_token(store, "acme"))) == sorted(acme_names)
    assert sorted(_portal_names(client, log.issue_token(store, "bolt"))) == sorted(bolt_names)

    store_contract(store, code="main", customer="bolt", mode="delta")  # moved back: bolt's chain goes on
    back = deliver_contract(store, "main", out_dir=out_dir(tmp_path))
    assert back.kind == "full"
    newest = log.feed_files(store, customer="bolt", limit=1)[0]
    assert (newest["version"], newest["previous_version"]) == (3, 2)


def test_feeds_list_shows_the_moved_contracts_version_for_its_new_customer(store: Store, tmp_path: Path) -> None:
    seed_catalog(store)
    store_contract(store, code="main", customer="bolt")
    deliver_contract(store, "main", out_dir=out_dir(tmp_path))
    store_contract(store, code="main", customer="acme")
    [row] = orjson.loads(_cli("feeds", "list", "--json").stdout)
    assert (row["customer"], row["version"], row["held"]) == ("acme", 0, 0)


def test_an_unmoved_contract_goes_on_from_its_watermark(store: Store, tmp_path: Path) -> None:
    """Guard (passes before the change too): same customer, same chain."""
    seed_catalog(store)
    store_contract(store, code="main", customer="bolt", mode="full")
    for _ in range(2):
        deliver_contract(store, "main", out_dir=out_dir(tmp_path))
    assert [(f["version"], f["previous_version"]) for f in log.feed_files(store, contract="main")] == [(2, 1), (1, 0)]


# ---------------------------------------------------------------------------------------------- 5. customer case
def _contracts_file(tmp_path: Path, *contracts: dict[str, Any]) -> Path:
    path = tmp_path / "contracts.yaml"
    path.write_text(yaml.safe_dump({"contracts": list(contracts)}))
    return path


def _body(code: str, customer: str, **over: Any) -> dict[str, Any]:
    return contract(code=code, customer=customer, **over).model_dump(mode="json", exclude_none=True)


def test_load_refuses_a_customer_code_differing_only_in_case(store: Store, tmp_path: Path) -> None:
    from pim.contracts import get_contracts

    seed_catalog(store)
    put_prices(store, "acme", [("T1", "1", "8.00")])
    store_contract(store, code="acme-main", customer="acme")
    path = _contracts_file(tmp_path, _body("acme-check", "ACME"))
    out = _cli("feeds", "load", str(path), "--json")
    assert out.exit_code != 0
    [problem] = orjson.loads(out.stdout)["problems"]
    assert problem["field"] == "contracts.0.customer" and problem["line"] is not None
    assert "'ACME' differs only in case" in problem["reason"] and "'acme'" in problem["reason"]
    assert "--force" in problem["reason"]
    assert [c.code for c in get_contracts(store)] == ["acme-main"]

    forced = _cli("feeds", "load", str(path), "--force", "--json")
    assert forced.exit_code == 0, forced.output
    assert any("'ACME' differs only in case" in n for n in orjson.loads(forced.stdout)["notes"])
    assert [c.code for c in get_contracts(store)] == ["acme-check", "acme-main"]
    again = _cli("feeds", "load", str(path), "--json")  # known as written now: loads, still with a note
    assert again.exit_code == 0, again.output
    assert any("'ACME' differs only in case" in n and "already known" in n for n in orjson.loads(again.stdout)["notes"])


def test_load_refuses_a_price_list_named_in_another_case_but_accepts_a_known_code(store: Store,
                                                                                    tmp_path: Path) -> None:
    seed_catalog(store)
    put_prices(store, "acme", [("T1", "1", "8.00")])  # known from its price list alone
    wrong = _contracts_file(tmp_path, _body("b", "bolt", pricing={"fallback": "exclude", "price_list": "Acme"}))
    out = _cli("feeds", "load", str(wrong), "--json")
    assert out.exit_code != 0
    [problem] = orjson.loads(out.stdout)["problems"]
    assert problem["field"] == "contracts.0.pricing.price_list" and "'Acme'" in problem["reason"]
    right = _contracts_file(tmp_path, _body("b", "bolt", pricing={"fallback": "exclude", "price_list": "acme"}),
                            _body("a", "acme"))
    assert _cli("feeds", "load", str(right)).exit_code == 0


def test_two_new_customers_differing_only_in_case_in_one_load_are_refused(store: Store, tmp_path: Path) -> None:
    seed_catalog(store)
    path = _contracts_file(tmp_path, _body("one", "acme"), _body("two", "ACME"))
    out = _cli("feeds", "load", str(path), "--json")
    assert out.exit_code != 0
    fields = sorted(p["field"] for p in orjson.loads(out.stdout)["problems"])
    assert fields == ["contracts.0.customer", "contracts.1.customer"]


def test_token_suggests_the_contracted_customer_and_every_case_variant(store: Store, tmp_path: Path) -> None:
    from pim.contracts import delete_contract

    seed_catalog(store)
    store_contract(store, code="acme-main", customer="acme")
    store_contract(store, code="acme-slip", customer="ACME")
    deliver_contract(store, "acme-slip", out_dir=out_dir(tmp_path))  # ACME keeps a delivered file
    delete_contract(store, "acme-slip")
    out = _cli("feeds", "token", "--customer", "acmee")
    assert out.exit_code != 0 and "did you mean 'acme'" in _said(out)  # the contracted one first
    case = _cli("feeds", "token", "--customer", "Acme")
    assert case.exit_code != 0 and "'ACME' or 'acme'" in _said(case) and "case-sensitive" in _said(case)
    assert _cli("feeds", "token", "--customer", "acme").exit_code == 0


def test_feeds_prices_warns_of_a_row_for_a_customer_known_in_another_case(store: Store, tmp_path: Path) -> None:
    seed_catalog(store)
    store_contract(store, code="acme-main", customer="acme")
    path = tmp_path / "prices.jsonl"
    path.write_bytes(orjson.dumps({"customer": "Acme", "sku": "T1", "currency": "EUR", "min_qty": "1",
                                   "price": "8.00", "valid_from": "2024-01-01"}) + b"\n")
    out = _cli("feeds", "prices", str(path), "--json")
    assert out.exit_code == 0, out.output
    body = orjson.loads(out.stdout)
    assert body["uncontracted_rows"] == 1
    assert any("Acme" in w and "a contract has 'acme'" in w for w in body["warnings"])
