"""Review mends, round 35 (a): a chunked upload that also declares a small Content-Length is capped as read
(pim.web.body_cap); a `pim demo` step that fails keeps the warnings logged before it (demo-warnings.log); the S3
clean-up works with credentials lacking s3:ListBucket (a missing key answers 403) and says what failed; the JSONL
export's left-out file is sealed to its export, so a stale or mismatched one stops the import (round 35 g: it
was ignored with a warning, and the whole-record import deleted its values)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from fastapi import Depends, FastAPI, Request
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from pim.cli import app as cli
from pim.errors import InputError
from pim.jsonl import import_jsonl
from pim.settings import reset_settings
from pim.store import Store
from pim.web.body_cap import BodyCapMiddleware
from pim.web.imports import FORM_ROOM, refuse_declared_over
from tests.s3_double import FEEDS, MANIFEST, S3Bucket, publish_to
from tests.test_exposure_r33 import CountingBody, _post
from tests.test_mends_r33_b import moved  # noqa: F401  (fixture)
from tests.test_publish_r35 import _demo_console
from tests.test_web_ui import cheap_argon2, client, login  # noqa: F401  (fixtures; cheap_argon2: autouse)

#: A chunked body that declares a small length: h11 frames it by Transfer-Encoding, which beats Content-Length.
SMUGGLED = {"Transfer-Encoding": "chunked", "Content-Length": "10"}


# ---------------------------------------------------------------------------------------------- 1. the upload cap
def _upload_app(limit: int) -> FastAPI:
    app = FastAPI()
    app.add_middleware(BodyCapMiddleware)

    def size(request: Request) -> None:
        refuse_declared_over(request, limit, "over the test cap")

    @app.post("/up", dependencies=[Depends(size)])
    async def up(request: Request) -> dict[str, Any]:
        return {"read": len(await request.body())}

    return app


def test_a_chunked_body_with_a_small_content_length_is_capped_as_read() -> None:
    body = CountingBody(1024 * 1024, {})
    resp = _post(_upload_app(1000), "/up", body, SMUGGLED, declared=False)
    assert resp.status_code == 413 and resp.json() == {"detail": "over the test cap"}
    assert body.sent <= 1000 + FORM_ROOM + 2 * 65536  # refused mid-body, not read whole


@pytest.fixture
def editor(client: TestClient) -> tuple[TestClient, str]:  # noqa: F811  (the fixture test_web_ui defines)
    return client, login(client)


def test_an_import_page_upload_with_a_small_content_length_and_chunked_is_refused_and_not_kept(
        editor: tuple[TestClient, str], store: Store, pim_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    web, token = editor
    monkeypatch.setattr("pim.web.imports.MAX_UPLOAD", 1000)
    body = CountingBody(1024 * 1024, {"csrf_token": token})
    resp = _post(web.app, "/imports", body, SMUGGLED, web.cookies, declared=False)
    assert resp.status_code == 413 and "pim import" in resp.text
    assert body.sent < body.length
    assert store.jobs(kind="import") == [] and not (pim_env / "uploads").exists()


def test_an_image_upload_with_a_small_content_length_and_chunked_is_refused(
        editor: tuple[TestClient, str], monkeypatch: pytest.MonkeyPatch) -> None:
    web, token = editor
    monkeypatch.setenv("PIM_MEDIA_UPLOAD_MAX_BYTES", "1000")
    reset_settings()
    body = CountingBody(1024 * 1024, {"key": "picture", "csrf_token": token})
    resp = _post(web.app, "/products/complete/media", body, SMUGGLED, web.cookies, declared=False)
    reset_settings()
    assert resp.status_code == 413 and "PIM_MEDIA_UPLOAD_MAX_BYTES" in resp.text
    assert body.sent < body.length


# ---------------------------------------------------------------------------------------------- 2. demo warnings
def _warn_then_fail(run: Any) -> dict[str, Any]:
    logging.getLogger("channels.feed_row").warning("contract %s cannot reach its media host %s", "cust_1", "cdn.x")
    raise RuntimeError("step failed")


def test_the_warnings_of_a_demo_step_that_fails_are_kept_and_said(store: Store, pim_env: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from pim import demo

    monkeypatch.setattr(demo, "DEMO_STEPS", [("fail", f"{__name__}:_warn_then_fail")])
    console = _demo_console()
    with pytest.raises(RuntimeError, match="step failed"):
        demo.run_demo("tiny", 1, console=console)
    file = pim_env / demo.WARNINGS_FILE
    assert file.read_text(encoding="utf-8") == "contract cust_1 cannot reach its media host cdn.x\n"
    printed = console.file.getvalue()
    assert "1 warning before a step failed" in printed and "cdn.x" in printed and str(file) in printed
    assert not any(isinstance(h, logging.Handler) and type(h).__name__ == "Collector"
                   for h in logging.getLogger().handlers)  # the collector is gone: later warnings print again


# ---------------------------------------------------------------------------------------------- 3. S3 clean-up
def test_s3_clean_up_works_without_list_bucket(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    bucket = S3Bucket(may_list=False)  # credentials without s3:ListBucket
    with caplog.at_level(logging.WARNING, logger="exporters.s3"):
        publish_to(bucket, tmp_path, 1, FEEDS)
        publish_to(bucket, tmp_path, 2, ["google_merchant/feed.ecommerce.DE-de_DE.xml"])
    assert sorted(bucket.objects) == [".published/google_merchant.ecommerce.json",
                                      "google_merchant/feed.ecommerce.DE-de_DE.xml"]
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_s3_keeps_a_listed_object_it_may_not_look_at(tmp_path: Path) -> None:
    bucket = S3Bucket(may_list=False)  # credentials without s3:ListBucket
    publish_to(bucket, tmp_path, 1, FEEDS)
    denied = bucket.head_object

    def head(Bucket: str, Key: str) -> dict[str, Any]:  # noqa: N803
        if Key == FEEDS[0]:
            raise ClientError({"Error": {"Code": "403", "Message": "Forbidden"}}, "HeadObject")
        return denied(Bucket, Key)

    bucket.head_object = head  # type: ignore[method-assign]
    publish_to(bucket, tmp_path, 2, ["google_merchant/feed.ecommerce.DE-de_DE.xml"])
    assert FEEDS[0] in bucket.objects and FEEDS[1] not in bucket.objects  # not known to be ours: it stays
    manifest = json.loads(bucket.objects[".published/google_merchant.ecommerce.json"][0])
    assert "google_merchant/feed.ecommerce.DE-de_DE.xml" in json.dumps(manifest)


def test_s3_says_which_step_of_the_clean_up_failed(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    bucket = S3Bucket(refuse_put=MANIFEST)
    with caplog.at_level(logging.WARNING, logger="exporters.s3"):
        publish_to(bucket, tmp_path, 1, FEEDS)
    [said] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert "manifest s3://b/.published/google_merchant.ecommerce.json could not be written" in said
    assert "could not be removed" not in said
    assert sorted(bucket.objects) == sorted(FEEDS)  # the files are up


# ---------------------------------------------------------------------------------------------- 4. left-out file
def _clear_mpn(store: Store) -> None:
    p = store.get_product("complete")
    assert p is not None
    store.upsert_products([p.model_copy(update={"values": {k: v for k, v in p.values.items() if k != "mpn"},
                                                "provenance": {k: v for k, v in p.provenance.items() if k != "mpn"}})])


@pytest.mark.backends("sqlite")
def test_a_stale_left_out_file_beside_a_stdout_export_is_never_put_back(
        moved: Store, tmp_path: Path) -> None:  # noqa: F811
    out = tmp_path / "catalog.jsonl"
    assert CliRunner().invoke(cli, ["export", "jsonl", str(out), "--include-left-out"]).exit_code == 0
    _clear_mpn(moved)  # as the export's warning advises
    done = CliRunner().invoke(cli, ["export", "jsonl"])  # pim export jsonl > catalog.jsonl
    assert done.exit_code == 0
    out.write_bytes(done.stdout_bytes)
    with pytest.raises(InputError) as refused:
        import_jsonl(out, moved)
    assert "mpn" not in moved.get_product("complete").values  # type: ignore[union-attr]  # before: put back
    said = str(refused.value)
    assert "catalog.left-out.jsonl is older than catalog.jsonl" in said and "--include-left-out" in said


@pytest.mark.backends("sqlite")
def test_a_crash_between_the_two_files_of_an_export_never_pairs_one_with_the_others_left_out_values(
        moved: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    out = tmp_path / "catalog.jsonl"
    assert CliRunner().invoke(cli, ["export", "jsonl", str(out), "--include-left-out"]).exit_code == 0
    p = moved.get_product("complete")
    moved.upsert_products([p.model_copy(update={  # type: ignore[union-attr]
        "values": {**p.values, "mpn": "RN-9", "name:en_US": "Runner 2"}})])  # the export's own content changes too
    replaced = []
    real = Path.replace

    def crash_on_the_second(self: Path, target: Any) -> Path:
        replaced.append(self)
        if len(replaced) == 2:
            raise OSError("killed")
        return real(self, target)

    monkeypatch.setattr(Path, "replace", crash_on_the_second)
    assert CliRunner().invoke(cli, ["export", "jsonl", str(out), "--include-left-out"]).exit_code != 0
    monkeypatch.undo()
    with pytest.raises(InputError, match="belongs to another export"):  # before: the old left-out file, RN-1 back
        import_jsonl(out, moved)
    assert moved.get_product("complete").values.get("mpn") == "RN-9"  # type: ignore[union-attr]  # nothing imported


@pytest.mark.backends("sqlite")
def test_a_left_out_file_and_its_export_still_round_trip(moved: Store, tmp_path: Path) -> None:  # noqa: F811
    """Guard: the seal (export_sha256 on each line) is the export's own, so its values are put back."""
    out = tmp_path / "catalog.jsonl"
    assert CliRunner().invoke(cli, ["export", "jsonl", str(out), "--include-left-out"]).exit_code == 0
    import hashlib

    [line] = map(json.loads, (tmp_path / "catalog.left-out.jsonl").read_bytes().splitlines())
    assert line["export_sha256"] == hashlib.sha256(out.read_bytes()).hexdigest()
    assert not list(tmp_path.glob("*.part"))
    counts = import_jsonl(out, moved)
    assert counts.extra["left_out_restored"] == 1, counts.as_dict()
    assert moved.get_product("complete").values["mpn"] == "RN-1"  # type: ignore[union-attr]
