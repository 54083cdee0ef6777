"""Round 32, found by a B2B customer's integration engineer: a cp1252 feed never replaces characters it lacks (the
feed is refused, naming SKUs and columns); a CSV dialect nobody can parse back is refused at load; contracts can
be deleted (`pim feeds delete`); feed images link their built rendition as the channels do; `price` is what one
piece costs when contract tiers start above 1; `pim feeds load --json` lists every problem."""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path
from typing import Any

import orjson
import pytest
from lxml import etree
from typer.testing import CliRunner

from pim import delivery_log as log
from pim.cli import _mount, app
from pim.contracts import STORED, Contract, get_contracts, load_contracts, put_contracts
from pim.errors import ConfigError, InputError
from pim.feeds import build_feed, deliver_contract
from pim.settings import reset_settings
from pim.store import Store
from tests.renditions import rendered_photo
from tests.feeds_data import contract, out_dir, product, put_prices, seed_catalog, store_contract

NS = {"b": "http://www.bmecat.org/bmecat/2005.1"}
_mount()


def rows_of(path: Path, encoding: str = "utf-8", delimiter: str = ",") -> dict[str, dict[str, str]]:
    with path.open(encoding=encoding, newline="") as fh:
        return {r["sku"]: r for r in csv.DictReader(fh, delimiter=delimiter)}


def lines(path: Path) -> dict[str, dict[str, Any]]:
    return {d["sku"]: d for d in map(json.loads, path.read_text(encoding="utf-8").splitlines())}


CONTRACT_YAML = """contracts:
  - code: acme-tools
    customer: cust_a
    locale: en_US
    currency: EUR
    channel: b2b
    assortment: {skus: [T1, T2]}
    fields: [label, image]
    format: jsonl
    delivery: {portal: true}
"""


def _cli(*args: str, input: str | None = None) -> Any:
    return CliRunner().invoke(app, list(args), input=input)


# ---------------------------------------------------------------------------------------------- 1. encoding
def test_a_cp1252_feed_with_text_it_lacks_is_refused_naming_skus_and_columns(store: Store, tmp_path: Path) -> None:
    seed_catalog(store)
    store.upsert_products([product("T1", note="Łódź ☃ 日本"), product("T2-Ł", categories=["tools"])])
    c = store_contract(store, csv={"delimiter": ";", "encoding": "cp1252"})
    with pytest.raises(ConfigError) as refused:
        build_feed(store, c, out_dir(tmp_path))
    said = refused.value.describe()
    assert "2 product(s)" in said and "cp1252" in said
    assert "T1 (note 'Ł'); T2-Ł (sku 'Ł', label 'Ł', image 'Ł')" in said  # an identifier is named, never altered
    assert "encoding: utf-8" in said and "pim feeds deliver --contract acme-tools" in said
    assert not list((tmp_path / "feeds").rglob("*.csv"))  # no half-written file is left to be sent


def test_a_refused_feed_is_not_delivered_and_the_watermark_stays(store: Store, tmp_path: Path) -> None:
    seed_catalog(store)
    store.upsert_products([product("T1", note="☃")])
    store_contract(store, csv={"encoding": "cp1252"})
    with pytest.raises(ConfigError, match="cp1252 cannot carry"):
        deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path))
    assert log.get_watermark(store, "acme-tools") is None and log.feed_files(store) == []


def test_guard_a_cp1252_feed_writes_the_characters_cp1252_has(store: Store, tmp_path: Path) -> None:
    """Guard (passes before the change too): what cp1252 carries goes out unchanged."""
    seed_catalog(store)
    store.upsert_products([product("T1", note="Zürich Straße € 5\" «pro»")])
    b = build_feed(store, store_contract(store, csv={"delimiter": ";", "encoding": "cp1252"}), out_dir(tmp_path))
    assert rows_of(b.path, "cp1252", ";")["T1"]["note"] == "Zürich Straße € 5\" «pro»"


# ---------------------------------------------------------------------------------------------- 2. dialect
def _contract_file(tmp_path: Path, csv_line: str) -> Path:
    f = tmp_path / "c.yaml"
    f.write_text("contracts:\n  - code: x\n    customer: c\n    locale: en_US\n    currency: EUR\n    channel: b2b\n"
                 f"    assortment: {{skus: [T1]}}\n    delivery: {{portal: true}}\n    csv: {csv_line}\n",
                 encoding="utf-8")
    return f


def test_a_delimiter_equal_to_the_quote_character_is_refused_naming_file_line_and_field(store: Store,
                                                                                       tmp_path: Path) -> None:
    seed_catalog(store)
    f = _contract_file(tmp_path, "{delimiter: '\"'}")
    with pytest.raises(InputError) as refused:
        load_contracts(store, [f])
    [p] = refused.value.problems  # type: ignore[attr-defined]
    assert (p.file, p.line, p.field) == (str(f), 9, "contracts.0.csv.quotechar")
    assert "both '\"'" in p.reason and "different characters" in p.reason
    assert get_contracts(store) == []


@pytest.mark.parametrize("dialect,field", [("{delimiter: \"\\n\"}", "delimiter"), ("{quotechar: \"\\r\"}", "quotechar")])
def test_a_line_break_cannot_delimit_or_quote(store: Store, tmp_path: Path, dialect: str, field: str) -> None:
    seed_catalog(store)
    with pytest.raises(InputError) as refused:
        load_contracts(store, [_contract_file(tmp_path, dialect)])
    [p] = refused.value.problems  # type: ignore[attr-defined]
    assert p.field == f"contracts.0.csv.{field}" and "line break" in p.reason


@pytest.mark.parametrize("dialect,field", [("{delimiter: ''}", "delimiter"), ("{delimiter: ';;'}", "delimiter"),
                                           ("{encoding: latin-9}", "encoding")])
def test_guard_empty_long_delimiters_and_unknown_encodings_are_refused(store: Store, tmp_path: Path, dialect: str,
                                                                       field: str) -> None:
    """Guard (passes before the change too): the model already refused these, naming the field."""
    seed_catalog(store)
    with pytest.raises(InputError) as refused:
        load_contracts(store, [_contract_file(tmp_path, dialect)])
    assert refused.value.field == f"contracts.0.csv.{field}" and refused.value.line == 9


def test_a_stored_contract_with_such_a_dialect_stays_listable_and_its_feed_is_refused(store: Store,
                                                                                      tmp_path: Path) -> None:
    seed_catalog(store)
    body = contract().model_dump(mode="json")
    body["csv"]["delimiter"] = '"'
    put_contracts(store, [Contract.model_validate(body, context=STORED)])  # loaded before the check existed
    [c] = get_contracts(store)
    with pytest.raises(ConfigError, match="cannot be read back") as refused:
        build_feed(store, c, out_dir(tmp_path))
    assert "pim feeds load" in refused.value.describe()


# ---------------------------------------------------------------------------------------------- 3. delete
@pytest.fixture
def delivered(store: Store, tmp_path: Path) -> Store:
    """acme-tools delivered once to the portal."""
    seed_catalog(store)
    store_contract(store, format="jsonl")
    deliver_contract(store, "acme-tools", out_dir=out_dir(tmp_path))
    return store


def test_feeds_delete_removes_the_contract_and_keeps_its_log_files_and_watermark(delivered: Store) -> None:
    out = _cli("feeds", "delete", "acme-tools", "--yes", "--json")
    assert out.exit_code == 0, out.output
    assert orjson.loads(out.stdout) == {"deleted": True, "contract": "acme-tools", "customer": "cust_a",
                                        "kept": {"portal_files": 1, "watermark_version": 1}}
    assert get_contracts(delivered) == []
    assert [r["status"] for r in log.deliveries(delivered, "acme-tools")] == ["delivered"]
    assert len(log.feed_files(delivered, customer="cust_a", portal_only=True)) == 1
    assert log.get_watermark(delivered, "acme-tools") is not None


def test_feeds_delete_asks_first_and_says_what_stays(delivered: Store) -> None:
    kept = _cli("feeds", "delete", "acme-tools", input="n\n")
    assert kept.exit_code == 1 and len(get_contracts(delivered)) == 1
    assert "its 1 delivered file" in kept.output and "portal still lists" in kept.output
    assert "pim feeds log --contract acme-tools" in kept.output
    gone = _cli("feeds", "delete", "acme-tools", input="y\n")
    assert gone.exit_code == 0 and "deleted contract acme-tools" in gone.output and get_contracts(delivered) == []


def test_feeds_delete_refuses_an_unknown_code_and_json_without_yes(delivered: Store) -> None:
    unknown = _cli("feeds", "delete", "nope", "--yes")
    assert unknown.exit_code != 0 and isinstance(unknown.exception, ConfigError)
    assert "no contract 'nope'" in str(unknown.exception) and "pim feeds list" in unknown.exception.hint
    asked = _cli("feeds", "delete", "acme-tools", "--json")
    assert isinstance(asked.exception, InputError) and "--yes" in asked.exception.hint
    assert len(get_contracts(delivered)) == 1


# ---------------------------------------------------------------------------------------------- 4. image links
@pytest.fixture
def rendered(store: Store, pim_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    """Channel b2b declares a PNG rendition; T1's photo (img/T1.jpg) is ingested and rendered, T2's is not."""
    seed_catalog(store)
    rendered_photo(store, pim_env, tmp_path, monkeypatch, channel="b2b", ref="img/T1.jpg",
                   rendition={"name": "listing", "max_width": 400, "max_height": 400, "format": "PNG"})
    return store


def test_feed_images_link_their_built_rendition_else_the_value(rendered: Store, tmp_path: Path) -> None:
    b = build_feed(rendered, store_contract(rendered, format="jsonl"), out_dir(tmp_path))
    got = {sku: d["attributes"]["image"] for sku, d in lines(b.path).items() if sku in ("T1", "T2")}
    assert got["T1"].startswith("https://cdn.example.com/r/renditions/") and got["T1"].endswith(".png")
    assert got["T2"] == "https://cdn.example.com/r/img/T2.jpg"  # media has not seen it: linked as before


def test_bmecat_mime_type_is_the_renditions_not_the_sources(rendered: Store, tmp_path: Path) -> None:
    b = build_feed(rendered, store_contract(rendered, format="bmecat"), out_dir(tmp_path))
    doc = etree.parse(str(b.path))
    mime = {p.findtext("b:SUPPLIER_PID", namespaces=NS): p.find(".//b:MIME", NS)
            for p in doc.iterfind(".//b:PRODUCT", NS)}
    assert mime["T1"].findtext("b:MIME_SOURCE", namespaces=NS).endswith(".png")
    assert mime["T1"].find("b:MIME_TYPE", NS) is None  # BMEcat 2005 names no image/png: the element is left out
    assert mime["T2"].findtext("b:MIME_TYPE", namespaces=NS) == "image/jpeg"


def test_without_a_base_url_a_feed_warns_once_that_its_image_paths_cannot_be_fetched(
        store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.delenv("PIM_CDN_BASE_URL", raising=False)
    reset_settings()
    seed_catalog(store)
    with caplog.at_level(logging.WARNING, logger="pim.feeds"):
        b = build_feed(store, store_contract(store, format="jsonl", media_base_url=None), out_dir(tmp_path))
    assert lines(b.path)["T1"]["attributes"]["image"] == "img/T1.jpg"
    [warning] = [r.getMessage() for r in caplog.records if r.name == "pim.feeds"]
    assert "acme-tools" in warning and "media_base_url" in warning and "PIM_CDN_BASE_URL" in warning


def test_loading_a_contract_without_a_base_url_notes_its_image_paths(store: Store, tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PIM_CDN_BASE_URL", raising=False)
    reset_settings()
    seed_catalog(store)
    (tmp_path / "c.yaml").write_text(CONTRACT_YAML, encoding="utf-8")
    out = _cli("feeds", "load", str(tmp_path / "c.yaml"), "--json")
    assert out.exit_code == 0, out.output
    body = orjson.loads(out.stdout)
    assert (body["loaded"], body["contracts"]) == (1, ["acme-tools"])
    [note] = body["notes"]
    assert "acme-tools" in note and "media_base_url" in note


# ---------------------------------------------------------------------------------------------- 5. price for one
@pytest.mark.parametrize("pricing,price", [({"fallback": "list_price"}, "10.00"),
                                           ({"fallback": "list_price_discount", "discount_percent": 10}, "9.00"),
                                           ({"fallback": "exclude"}, "6.00")])
def test_price_is_for_one_piece_when_contract_tiers_start_above_one(store: Store, tmp_path: Path,
                                                                    pricing: dict[str, Any], price: str) -> None:
    """T1 lists at 10.00; its contract prices only 100 pieces and more. Without a fallback price the first tier
    stands (the customer buys at least 100)."""
    seed_catalog(store)
    put_prices(store, "cust_a", [("T1", "100", "6.00")])
    b = build_feed(store, store_contract(store, pricing=pricing), out_dir(tmp_path))
    row = rows_of(b.path)["T1"]
    source = {"list_price": "list", "list_price_discount": "list_discount"}.get(pricing["fallback"], "contract")
    assert (row["price"], row["price_source"], row["tiers"]) == (price, source, "100:6.00")  # round 34: a fallback's source
    j = build_feed(store, store_contract(store, code="acme-jsonl", pricing=pricing, format="jsonl"), out_dir(tmp_path))
    assert lines(j.path)["T1"]["price"]["amount"] == price


def test_guard_tiers_from_one_price_the_row_as_before(store: Store, tmp_path: Path) -> None:
    """Guard (passes before the change too): the first tier from 1 is the price."""
    seed_catalog(store)
    put_prices(store, "cust_a", [("T1", "1", "8.00"), ("T1", "100", "6.00")])
    row = rows_of(build_feed(store, store_contract(store), out_dir(tmp_path)).path)["T1"]
    assert (row["price"], row["tiers"]) == ("8.00", "1:8.00|100:6.00")


# ---------------------------------------------------------------------------------------------- 6. load --json
def test_feeds_load_json_lists_every_problem_with_file_line_and_field(store: Store, tmp_path: Path) -> None:
    seed_catalog(store)
    (tmp_path / "a.yaml").write_text("contracts:\n  - code: bad one\n    customer: c\n    locale: en_US\n"
                                     "    currency: EURO\n    channel: b2b\n    assortment: {skus: [T1]}\n"
                                     "    delivery: {portal: true}\n", encoding="utf-8")
    (tmp_path / "b.yaml").write_text("code: y\ncustomer: c\nlocale: en_US\ncurrency: EUR\nchannel: b2b\n"
                                     "assortment: {skus: [T1]}\ndelivery: {portal: true}\nformat: pdf\n",
                                     encoding="utf-8")
    out = _cli("feeds", "load", str(tmp_path), "--json")
    assert out.exit_code == 2, out.output
    body = orjson.loads(out.stdout)
    assert [(Path(p["file"]).name, p["line"], p["field"]) for p in body["problems"]] == [
        ("a.yaml", 2, "contracts.0.code"), ("a.yaml", 5, "contracts.0.currency"), ("b.yaml", 8, "format")]
    assert all(p["reason"] for p in body["problems"]) and body["exit_code"] == 2
    text = _cli("feeds", "load", str(tmp_path))  # pim.cli.main prints the error: every problem, one per line
    assert str(text.exception).startswith("3 problem(s) in the contract files; nothing was loaded:\n")
    assert get_contracts(store) == []


def test_contracts_that_do_not_fit_the_catalog_are_all_named(store: Store, tmp_path: Path) -> None:
    seed_catalog(store)
    f = tmp_path / "c.yaml"
    f.write_text(CONTRACT_YAML + "  - code: x\n    customer: c\n    locale: en_US\n    currency: EUR\n"
                 "    channel: nope\n    assortment: {skus: [T1]}\n    delivery: {portal: true}\n"
                 "  - code: acme-tools\n    customer: c\n    locale: en_US\n    currency: EUR\n    channel: b2b\n"
                 "    fields: [colour]\n    assortment: {skus: [T1]}\n    delivery: {portal: true}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="unknown channel 'nope'") as refused:
        load_contracts(store, [f])
    got = [(p.line, p.field) for p in refused.value.problems]  # type: ignore[attr-defined]
    assert got == [(15, "contracts.1.channel"), (18, "contracts.2.code"), (23, "contracts.2.fields")]
    out = _cli("feeds", "load", str(f), "--json")
    assert out.exit_code == 3 and len(orjson.loads(out.stdout)["problems"]) == 3
    assert get_contracts(store) == []


def test_guard_a_bad_file_is_still_an_input_error_naming_its_first_problem(store: Store, tmp_path: Path) -> None:
    """Guard (passes before the change too): callers catching InputError with file, line and field still do."""
    seed_catalog(store)
    f = _contract_file(tmp_path, "{}")
    f.write_text(f.read_text().replace("currency: EUR", "currency: EURO"), encoding="utf-8")
    with pytest.raises(InputError) as refused:
        load_contracts(store, [f])
    assert (refused.value.file, refused.value.line, refused.value.field) == (str(f), 5, "contracts.0.currency")


def test_many_contracts_without_a_base_url_get_one_note_naming_them(store: Store, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """Round 33: a folder of 100 such contracts printed 100 identical notes; one note names them all."""
    monkeypatch.delenv("PIM_CDN_BASE_URL", raising=False)
    reset_settings()
    seed_catalog(store)
    for n in range(12):
        (tmp_path / f"c{n:02}.yaml").write_text(CONTRACT_YAML.replace("acme-tools", f"acme-{n:02}"), encoding="utf-8")
    out = _cli("feeds", "load", str(tmp_path), "--json")
    assert out.exit_code == 0, out.output
    [note] = orjson.loads(out.stdout)["notes"]
    assert note.startswith("12 contracts 'acme-00', 'acme-01',") and "and 2 more link images or files" in note
