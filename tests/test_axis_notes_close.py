"""A missing-axis note (pim.variant_levels, severity `problem`) is about a value missing now: any write that
stores a value of that axis on that record closes it at once (resolved, naming no job: it was fixed, not
replaced), whoever writes it — another source's merged or whole-record import, a product-page edit, PATCH or a
mass edit over REST, a model write for a sub-model. Cheap on the import path: a batch storing no axis value runs
no extra statement, one storing some runs one. And a sub-model without its own axis value is a quality finding
of each variant below it. tests/data/structure: shirts_color_size splits by color, then size."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event
from typer.testing import CliRunner

from pim import merge, variant_levels
from pim.cli import _mount, app
from pim.gate import evaluate
from pim.product import ProductModel, Provenance, partial_model
from pim.quality import assess
from pim.store import Store
from pim.structure import FamilyVariant, VariantLevel
from pim.web.accounts import add_user, create_token
from pim.web.app import create_app
from pim.web.editing import apply_model_values, apply_values
from tests.test_api import cheap_argon2  # noqa: F401  (autouse fixture)
from tests.test_variant_axes import AT, FV, _erp, _jsonl, _record, _whole, shirts  # noqa: F401  (shirts: fixture)
from tests.test_variant_axis_round27 import _gaps, _tee_red
from tests.test_web_ui import admin_client

_mount()
runner = CliRunner()


def _bare(store: Store, *skus: str) -> Any:
    """The ERP creates variants without a size (of SHIRT-RED or SHIRT-BLUE, as their SKU says), in one run of
    its file: one open note each."""
    counts = _erp(store, *(_record(sku, family="shirts", parent=sku[:sku.rindex("-")], values={"sku": sku})
                           for sku in skus))
    assert (counts.created, counts.problems) == (len(skus), len(skus))
    assert set(_gaps(store)) == {(sku, "size") for sku in skus}
    return counts


def _entry(store: Store, job_id: int | None, key: str) -> dict[str, Any]:
    [entry] = [e for e in store.quarantined(job_id, open_only=False) if e["record_key"] == key]
    return entry


def _resolved(entry: dict[str, Any]) -> bool:
    """Closed as fixed: not superseded by a job (that would say the problem was judged again, not fixed)."""
    return entry["resolved_at"] is not None and entry["superseded_by"] is None


def _cli_errors() -> list[dict[str, Any]]:
    done = runner.invoke(app, ["import", "errors", "--json", "--limit", "0"])
    assert done.exit_code == 0, done.output
    return json.loads(done.stdout)


def _editor(store: Store) -> tuple[TestClient, dict[str, str]]:
    token = create_token(store, add_user(store, "ed", "correct horse", "editor"))
    return TestClient(create_app(store)), {"Authorization": f"Bearer {token}"}


def _ean(n: int) -> str:
    """A valid EAN-13 (its check digit computed)."""
    body = f"400638133{n:03d}"
    return body + str(-sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body)) % 10)


# ---------------------------------------------------------------------------------------------- imports
def test_another_sources_file_filling_the_axis_closes_the_note(shirts: Store) -> None:  # noqa: F811
    noted = _bare(shirts, "SHIRT-BLUE-N")
    assert [e["record_key"] for e in _cli_errors()] == ["SHIRT-BLUE-N"]
    web, auth = _editor(shirts)
    errors = f"/api/v1/jobs/{noted.job_id}/errors"
    assert [r["record_key"] for r in web.get(errors + "?open=true", headers=auth).json()["items"]] == ["SHIRT-BLUE-N"]

    filled = _erp(shirts, _record("SHIRT-BLUE-N", "content", values={"size": "m"}), source="content")
    assert (filled.updated, filled.problems) == (1, 0)
    assert shirts.get_product("SHIRT-BLUE-N").values["size"] == "m"
    assert _gaps(shirts) == {}
    assert _resolved(_entry(shirts, noted.job_id, "SHIRT-BLUE-N"))
    assert _cli_errors() == []  # `pim import errors` lists what is open
    assert web.get(errors + "?open=true", headers=auth).json()["items"] == []
    [row] = web.get(errors, headers=auth).json()["items"]  # the job's list keeps it, closed as fixed
    assert (row["record_key"], row["resolved"], row["superseded_by"]) == ("SHIRT-BLUE-N", True, None)
    admin, _ = admin_client(shirts)
    page = admin.get(f"/jobs/{noted.job_id}").text
    assert "SHIRT-BLUE-N" in page and "superseded by" not in page


def test_a_whole_record_file_filling_the_axis_closes_the_note(shirts: Store, tmp_path: Path) -> None:  # noqa: F811
    noted = _bare(shirts, "SHIRT-BLUE-N")
    counts = _jsonl(shirts, tmp_path / "catalog.jsonl", [
        {"kind": "product", "identifier": "SHIRT-BLUE-N", "family": "shirts", "parent": "SHIRT-BLUE",
         "values": {"sku": "SHIRT-BLUE-N", "size": "m"}}])
    assert (counts.updated, counts.problems) == (1, 0)
    assert _gaps(shirts) == {} and _resolved(_entry(shirts, noted.job_id, "SHIRT-BLUE-N"))


def test_a_whole_record_file_detaching_the_variant_closes_the_note(shirts: Store, tmp_path: Path) -> None:  # noqa: F811
    """The note's other fix, from a catalog file: its line of the product names no parent model any more."""
    noted = _bare(shirts, "SHIRT-BLUE-N")
    counts = _jsonl(shirts, tmp_path / "catalog.jsonl", [
        {"kind": "product", "identifier": "SHIRT-BLUE-N", "family": "shirts", "values": {"sku": "SHIRT-BLUE-N"}}])
    assert (counts.updated, counts.problems) == (1, 0)
    assert shirts.get_product("SHIRT-BLUE-N").parent is None
    assert _gaps(shirts) == {} and _resolved(_entry(shirts, noted.job_id, "SHIRT-BLUE-N"))


def test_a_value_that_leaves_the_axis_empty_closes_nothing(shirts: Store) -> None:  # noqa: F811
    _bare(shirts, "SHIRT-BLUE-N", "SHIRT-BLUE-P")
    other = _erp(shirts, _record("SHIRT-BLUE-N", "content", values={"ean": _ean(1), "size": ""}),
                 _record("SHIRT-BLUE-P", "content", values={"size": "m"}), source="content")
    assert other.problems == 1  # the content team's record leaves N without a size: noted for it too
    assert set(_gaps(shirts)) == {("SHIRT-BLUE-N", "size")}
    assert {e["source"] for e in shirts.quarantined(severity="problem")} == {"erp", "content"}


def test_the_note_closes_though_another_writer_fills_the_axis_right_after_the_batch(
        shirts: Store, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    """A batch's notes are written with its records: a person filling the axis the moment the ERP's batch is in
    finds the note there to close (were it written after, it would stay open over a filled value)."""
    write = merge.apply_plan
    done: list[bool] = []

    def then_edit(store: Store, plan: Any, **kwargs: Any) -> Any:
        out = write(store, plan, **kwargs)
        if not done and plan.created:  # the ERP's batch, committed: now the person edits
            done.append(True)
            assert apply_values(shirts, "SHIRT-BLUE-N", {"size": "m"}, "ana").errors == {}
        return out

    monkeypatch.setattr(merge, "apply_plan", then_edit)
    counts = _erp(shirts, _record("SHIRT-BLUE-N", family="shirts", parent="SHIRT-BLUE", values={"sku": "SHIRT-BLUE-N"}))
    assert done and (counts.created, counts.problems) == (1, 1)
    assert shirts.get_product("SHIRT-BLUE-N").values["size"] == "m"
    assert _gaps(shirts) == {}


# ---------------------------------------------------------------------------------------------- people's edits
def test_a_product_page_edit_closes_the_note(shirts: Store) -> None:  # noqa: F811
    from tests.test_web_ui import csrf

    noted = _bare(shirts, "SHIRT-BLUE-N")
    web, token = admin_client(shirts)
    token = csrf(web.get("/products/SHIRT-BLUE-N").text)
    saved = web.post("/products/SHIRT-BLUE-N/values", data={"csrf_token": token, "key": "size", "value": "m"},
                     follow_redirects=False)
    assert saved.status_code == 303, saved.text
    assert shirts.get_product("SHIRT-BLUE-N").values["size"] == "m"
    assert _gaps(shirts) == {} and _resolved(_entry(shirts, noted.job_id, "SHIRT-BLUE-N"))


def test_a_patch_over_rest_closes_the_note(shirts: Store) -> None:  # noqa: F811
    noted = _bare(shirts, "SHIRT-BLUE-N")
    web, auth = _editor(shirts)
    answer = web.patch("/api/v1/products/SHIRT-BLUE-N", json={"values": {"size": "m"}}, headers=auth)
    assert answer.status_code == 200, answer.text
    assert _gaps(shirts) == {} and _resolved(_entry(shirts, noted.job_id, "SHIRT-BLUE-N"))
    assert web.get(f"/api/v1/jobs/{noted.job_id}/errors?open=true", headers=auth).json()["items"] == []


def test_a_mass_edit_over_rest_closes_every_note_it_fills(shirts: Store) -> None:  # noqa: F811
    _bare(shirts, "SHIRT-BLUE-N", "SHIRT-RED-N")
    web, auth = _editor(shirts)
    answer = web.post("/api/v1/products/mass-edit", json={"identifiers": ["SHIRT-BLUE-N", "SHIRT-RED-N"],
                                                          "values": {"size": "m"}}, headers=auth)
    assert answer.status_code == 200 and answer.json()["changed"] == 2, answer.text
    assert _gaps(shirts) == {}


def test_detaching_a_variant_from_its_model_closes_the_note(shirts: Store) -> None:  # noqa: F811
    """The note's other fix: the product leaves the model (a merged record naming no parent)."""
    noted = _bare(shirts, "SHIRT-BLUE-N")
    moved = _erp(shirts, _record("SHIRT-BLUE-N", "content", parent=None), source="content")
    assert (moved.updated, moved.problems) == (1, 0)
    assert shirts.get_product("SHIRT-BLUE-N").parent is None
    assert _gaps(shirts) == {} and _resolved(_entry(shirts, noted.job_id, "SHIRT-BLUE-N"))


# ---------------------------------------------------------------------------------------------- sub-models
def _bare_tee_red(store: Store) -> Any:
    """Root TEE and its sub-model TEE-RED, whose color the content team withdraws: one note, the content's."""
    _tee_red(store)
    prov = Provenance(source="content", ref="m", at=AT)
    counts = _erp(store, partial_model("TEE-RED", {"color": None}, prov, {}), source="content")
    assert set(_gaps(store)) == {("model:TEE-RED", "color")}
    return counts


def test_another_source_filling_a_sub_models_axis_closes_its_note(shirts: Store) -> None:  # noqa: F811
    noted = _bare_tee_red(shirts)
    prov = Provenance(source="erp", ref="erp.csv", at=AT)
    filled = _erp(shirts, partial_model("TEE-RED", {"color": "blue"}, prov, {}))
    assert (filled.updated, filled.problems) == (1, 0)
    assert shirts.get_model("TEE-RED").values["color"] == "blue"
    assert _gaps(shirts) == {} and _resolved(_entry(shirts, noted.job_id, "model:TEE-RED"))


def test_a_model_edit_filling_a_sub_models_axis_closes_its_note(shirts: Store) -> None:  # noqa: F811
    _bare_tee_red(shirts)
    assert apply_model_values(shirts, "TEE-RED", {"color": "blue"}, "ana").errors == {}
    assert _gaps(shirts) == {}


# ---------------------------------------------------------------------------------------------- cost
@contextmanager
def _statements(store: Store) -> Iterator[list[str]]:
    seen: list[str] = []

    def note(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    event.listen(store.engine, "before_cursor_execute", note)
    try:
        yield seen
    finally:
        event.remove(store.engine, "before_cursor_execute", note)


def _closing(statements: list[str]) -> list[str]:
    return [s for s in statements if s.lstrip().upper().startswith("UPDATE QUARANTINE") and "KIND" in s.upper()]


def test_a_batch_storing_no_axis_value_runs_no_extra_statement(
        shirts: Store, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    skus = ["SHIRT-BLUE-A", "SHIRT-BLUE-B", "SHIRT-BLUE-C"]
    _bare(shirts, *skus)

    def eans(n: int) -> Any:
        return _erp(shirts, *(_record(sku, "content", values={"ean": _ean(n + i)}) for i, sku in enumerate(skus)),
                    source="content")

    eans(10)  # warm: caches and placements
    with _statements(shirts) as on:
        assert eans(20).updated == 3
    monkeypatch.setattr(variant_levels, "close_filled_gaps", lambda conn, **written: 0)
    with _statements(shirts) as off:
        assert eans(30).updated == 3
    assert len(on) == len(off) and _closing(on) == []
    assert len(_gaps(shirts)) == 3  # nothing filled them


def test_a_batch_filling_axes_closes_their_notes_in_one_statement(shirts: Store) -> None:  # noqa: F811
    skus = ["SHIRT-BLUE-A", "SHIRT-BLUE-B", "SHIRT-RED-C"]
    noted = _bare(shirts, *skus)
    with _statements(shirts) as seen:
        filled = _erp(shirts, *(_record(sku, "content", values={"size": size}) for sku, size in zip(skus, "smm")),
                      source="content")
    assert (filled.updated, filled.problems) == (3, 0)
    assert len(_closing(seen)) == 1
    assert _gaps(shirts) == {} and all(_resolved(_entry(shirts, noted.job_id, sku)) for sku in skus)


def _line(sku: str, size: str, ean: str) -> dict[str, Any]:
    return {"kind": "product", "identifier": sku, "family": "shirts", "parent": sku[:sku.rindex("-")],
            "values": {"sku": sku, "size": size, "ean": ean}}


def test_a_whole_record_file_keeping_the_stored_axis_values_runs_no_closing_statement(
        shirts: Store, tmp_path: Path) -> None:  # noqa: F811
    """Only a variant stored without a value of the axis can have a note of it open (the write storing one closed
    it): variants rewritten whole with the value they had (their EAN changed) run no closing statement; a batch
    filling one runs one, with the unchanged ones."""
    noted = _bare(shirts, "SHIRT-BLUE-N")
    shirts.upsert_products([_whole("SHIRT-BLUE-S", "SHIRT-BLUE", "s"), _whole("SHIRT-RED-M", "SHIRT-RED", "m")])
    path = tmp_path / "catalog.jsonl"
    with _statements(shirts) as kept:
        counts = _jsonl(shirts, path, [_line("SHIRT-BLUE-S", "s", _ean(1)), _line("SHIRT-RED-M", "m", _ean(2))])
    assert (counts.updated, counts.problems) == (2, 0)
    assert _closing(kept) == []
    assert set(_gaps(shirts)) == {("SHIRT-BLUE-N", "size")}
    with _statements(shirts) as filling:
        counts = _jsonl(shirts, path, [_line("SHIRT-BLUE-S", "s", _ean(3)), _line("SHIRT-BLUE-N", "m", _ean(4))])
    assert (counts.updated, counts.problems) == (2, 0)
    assert len(_closing(filling)) == 1
    assert _gaps(shirts) == {} and _resolved(_entry(shirts, noted.job_id, "SHIRT-BLUE-N"))


def _model_line(code: str, parent: str | None, color: str | None, categories: list[str]) -> dict[str, Any]:
    return {"kind": "product_model", "code": code, "family_variant": FV, "categories": categories,
            **({"parent": parent} if parent else {}), "values": {"color": color} if color else {}}


def test_a_whole_record_file_making_a_sub_model_a_root_closes_its_note(
        shirts: Store, tmp_path: Path) -> None:  # noqa: F811
    """The sub-model's other fix, from a catalog file: its line names no parent any more. Its variants' finding
    naming it (pim.quality, computed when asked) goes with it."""
    noted = _bare_tee_red(shirts)
    shirts.upsert_products([_whole("TEE-RED-S", "TEE-RED", "s")])
    named = "sub-model 'TEE-RED' of product model 'TEE'"
    found = assess(shirts, shirts.structure(), "ecommerce", shirts.iter_products(), kinds=["missing_axis"])
    assert any(named in f.reason for f in found["TEE-RED-S"])
    counts = _jsonl(shirts, tmp_path / "catalog.jsonl", [_model_line("TEE-RED", None, None, [])])
    assert (counts.updated, counts.problems) == (1, 0)
    assert shirts.get_model("TEE-RED").parent is None
    assert _gaps(shirts) == {} and _resolved(_entry(shirts, noted.job_id, "model:TEE-RED"))
    found = assess(shirts, shirts.structure(), "ecommerce", shirts.iter_products(), kinds=["missing_axis"])
    assert not any(named in f.reason for f in found["TEE-RED-S"])


def test_a_whole_record_file_keeping_a_sub_models_axis_value_runs_no_closing_statement(
        shirts: Store, tmp_path: Path) -> None:  # noqa: F811
    """As for variants: a sub-model rewritten whole with the axis value it had (its categories changed) runs no
    closing statement; a batch filling one's runs one, with the unchanged ones."""
    noted = _bare_tee_red(shirts)
    path = tmp_path / "catalog.jsonl"
    with _statements(shirts) as kept:
        counts = _jsonl(shirts, path, [_model_line("SHIRT-BLUE", "SHIRT", "blue", ["tools"]),
                                       _model_line("SHIRT-RED", "SHIRT", "red", ["tools"])])
    assert (counts.updated, counts.problems) == (2, 0)
    assert _closing(kept) == []
    assert set(_gaps(shirts)) == {("model:TEE-RED", "color")}
    with _statements(shirts) as filling:
        counts = _jsonl(shirts, path, [_model_line("SHIRT-BLUE", "SHIRT", "blue", ["drills"]),
                                       _model_line("TEE-RED", "TEE", "blue", [])])
    assert (counts.updated, counts.problems) == (2, 0)
    assert len(_closing(filling)) == 1
    assert _gaps(shirts) == {} and _resolved(_entry(shirts, noted.job_id, "model:TEE-RED"))


# ---------------------------------------------------------------------------------------------- quality
def _tee(store: Store, color: str | None) -> None:
    """Root TEE, sub-model TEE-RED (with `color`, or without), its variants TEE-RED-S (size s) and TEE-RED-X
    (no size)."""
    store.upsert_models([ProductModel(code="TEE", family_variant=FV, values={})])
    store.upsert_models([ProductModel(code="TEE-RED", family_variant=FV, parent="TEE",
                                      values={"color": color} if color else {})])
    store.upsert_products([_whole("TEE-RED-S", "TEE-RED", "s"), _whole("TEE-RED-X", "TEE-RED", None)])


NO_COLOR = ("sub-model 'TEE-RED' of product model 'TEE' has no value for its axis 'color': set color, or make it a "
            "root model (no parent)")


def test_a_sub_model_without_its_axis_value_is_a_finding_of_each_of_its_variants(shirts: Store) -> None:  # noqa: F811
    _tee(shirts, None)
    s = shirts.structure()
    found = assess(shirts, s, "ecommerce", shirts.iter_products(), kinds=["missing_axis"])
    assert [(f.code, f.reason) for f in found["TEE-RED-S"]] == [("missing_axis:color", NO_COLOR)]
    assert [f.code for f in found["TEE-RED-X"]] == ["missing_axis:size", "missing_axis:color"]
    assert found["SHIRT-RED-S"] == []  # its sub-model has its color
    assert "missing_axis:color" in {f.code for f in assess(shirts, s, "ecommerce", shirts.iter_products())["TEE-RED-S"]}

    assert apply_model_values(shirts, "TEE-RED", {"color": "blue"}, "ana").errors == {}
    found = assess(shirts, s, "ecommerce", shirts.iter_products(), kinds=["missing_axis"])
    assert found["TEE-RED-S"] == [] and [f.code for f in found["TEE-RED-X"]] == ["missing_axis:size"]


def test_a_channel_blocking_on_missing_axes_holds_back_a_sub_models_variants(shirts: Store) -> None:  # noqa: F811
    _tee(shirts, None)
    s = shirts.structure()
    channel = s.channels["ecommerce"]
    shirts.put_structure("channel", [channel.model_copy(update={"gate": channel.gate.model_copy(
        update={"min_completeness": 0, "block_on": ["missing_axis"]})})])
    held = {p.identifier: r for p, r in evaluate(shirts, shirts.structure(), "ecommerce", shirts.iter_products())}
    assert held == {"SHIRT-RED-S": [], "TEE-RED-S": ["missing_axis:color"],
                    "TEE-RED-X": ["missing_axis:size", "missing_axis:color"]}


def test_a_variant_of_a_root_model_gets_no_sub_model_finding(shirts: Store) -> None:  # noqa: F811
    """A one-level family variant's model is a root: it has no axis, nothing is reported above the variant."""
    shirts.put_structure("family_variant", [FamilyVariant(code="shirts_size", family="shirts",
                                                          levels=[VariantLevel(axes=["size"], attributes=["sku"])])])
    shirts.upsert_models([ProductModel(code="POLO", family_variant="shirts_size", values={})])
    shirts.upsert_products([_whole("POLO-S", "POLO", "s"), _whole("POLO-X", "POLO", None)])
    found = assess(shirts, shirts.structure(), "ecommerce", shirts.iter_products(), kinds=["missing_axis"])
    assert found["POLO-S"] == [] and [f.code for f in found["POLO-X"]] == ["missing_axis:size"]
