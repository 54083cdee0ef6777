"""Round 36 (B1): a left-out file a copy wrote before its export (so the export looks newer) is put back when the
catalog holds every one of its values as it says them: a stale one, beside a later export of the same content,
holds values cleared since, and is still refused (pim.jsonl_left_out)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pim.errors import InputError
from pim.jsonl import import_jsonl
from pim.store import Store
from tests.test_mends_r33_b import moved  # noqa: F401  (fixture)


def _cli():  # type: ignore[no-untyped-def]
    from pim.cli import _mount, app

    _mount()
    return app


def _copied_first(tmp_path: Path) -> Path:
    """An export with its left-out file, whose export file then looks newer (a copy wrote the left-out one first)."""
    out = tmp_path / "catalog.jsonl"
    assert CliRunner().invoke(_cli(), ["export", "jsonl", str(out), "--include-left-out"]).exit_code == 0
    later = (tmp_path / "catalog.left-out.jsonl").stat().st_mtime_ns + 10**9
    os.utime(out, ns=(later, later))
    return out


def test_a_copy_that_wrote_the_left_out_file_first_imports_and_keeps_the_values(moved: Store, tmp_path: Path) -> None:  # noqa: F811
    out = _copied_first(tmp_path)
    counts = import_jsonl(out, moved)  # before: refused, "is older than catalog.jsonl"
    assert counts.extra["left_out_restored"] == 1
    assert moved.get_product("complete").values["mpn"] == "RN-1"  # type: ignore[union-attr]


def test_the_copy_is_still_refused_when_the_catalog_no_longer_holds_a_value_as_the_file_says(
        moved: Store, tmp_path: Path) -> None:  # noqa: F811
    """Cleared since (as before a stale export of the same content): nothing tells a copy from a stale file, so
    the guard stands, and the refusal says how to take a copy that is one export's."""
    out = _copied_first(tmp_path)
    p = moved.get_product("complete")
    assert p is not None
    moved.upsert_products([p.model_copy(update={"values": {k: v for k, v in p.values.items() if k != "mpn"},
                                                "provenance": {k: v for k, v in p.provenance.items() if k != "mpn"}})])
    with pytest.raises(InputError) as refused:
        import_jsonl(out, moved)
    said = str(refused.value)
    assert "catalog.left-out.jsonl is older than catalog.jsonl" in said and "touch catalog.left-out.jsonl" in said
    assert "mpn" not in moved.get_product("complete").values  # type: ignore[union-attr]


def test_the_import_page_says_an_upload_does_not_carry_left_out_values(store: Store) -> None:
    """An uploaded JSON Lines file is imported without a left-out file (none is uploaded beside it): the page says
    so where it offers the importer, to admins."""
    from fastapi.testclient import TestClient

    from pim.web.app import create_app
    from pim.web.accounts import add_user
    from tests.channel_data import seed_products
    from tests.test_web_ui import login

    seed_products(store)
    add_user(store, "ad", "correct horse", "admin")
    web = TestClient(create_app(store))
    login(web, "ad")
    page = web.get("/imports").text
    assert "Native JSON Lines" in page and "does not carry the values an export left out" in page
