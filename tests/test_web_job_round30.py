"""A job's page as a content manager reads it (found exploring the web UI, round 30): a file refused as a whole
leads with fixing it and uploading it again (Run again reads the same upload); a job run again counts and lists
its current attempt's rows, the earlier attempts' apart; no worker is said once, to someone who cannot start
one; a broken JSON line is placed by its own character; a picture named .csv is called a picture; a file is
named by its name, never by where the server keeps it."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from importers.content import ContentMapper, ContentProfile, read_json
from pim import job_claims, job_queue
from pim.errors import InputError
from pim.sources import open_text
from pim.store import Store
from pim.store.store import JOB
from pim.catalog import Structure
from tests.test_web_ui import cheap_argon2, client, login  # noqa: F401  (fixtures: cheap_argon2 autouse; client: seeded)

PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01"


@pytest.fixture
def web(client: TestClient) -> TestClient:  # noqa: F811  (the fixture test_web_ui defines)
    """test_web_ui's seeded client (users ed, editor, and vi, viewer)."""
    return client


def _uploaded(web: TestClient, store: Store, token: str, name: str, body: bytes, *, run: bool = True
              ) -> dict:
    web.post("/imports", data={"csrf_token": token}, files={"file": (name, body, "text/csv")})
    if run:
        job_queue.work(store, once=True)
    [job] = store.jobs(kind="import", limit=1)
    return job


def _status(page: str) -> str:
    return page[page.index("<p>Status:"):page.index('<p class="priority">')]


def test_a_file_refused_as_a_whole_leads_with_uploading_it_again(web: TestClient, store: Store) -> None:
    token = login(web)
    job = _uploaded(web, store, token, "notes.csv", b"sku,name:en_US,Notes\ncomplete,Runner,call Bob\n")
    assert job["status"] == "failed" and "Notes" in job["error"]
    page = web.get(f"/jobs/{job['id']}").text
    lead = page.index('<p class="upload-again"')
    assert lead < page.index(">Run again</button>")  # the fix first, the same file's run after
    assert 'fix what the error says and <a href="/imports?importer=content">upload it again</a>' in page
    assert "runs the same uploaded file (notes.csv) again, as it was uploaded: for a failure that was not " \
           "the file's" in page


def test_run_again_of_an_interrupted_upload_says_it_reads_the_same_file(web: TestClient, store: Store) -> None:
    token = login(web)
    job = _uploaded(web, store, token, "c.csv", b"sku,name:en_US\ncomplete,Again\n", run=False)
    job_claims.claim(store)
    with store.begin() as conn:  # the worker that claimed it died: a pid no process has
        conn.execute(update(JOB).where(JOB.c.id == job["id"]).values(pid=2**22 + 17))
    page = web.get(f"/jobs/{job['id']}").text
    assert "interrupted" in page and 'class="upload-again"' not in page  # not the file's fault
    assert 'runs the same uploaded file (c.csv) again, as it was uploaded; a fixed file is <a ' \
           'href="/imports?importer=content">uploaded again</a>' in page


def test_a_job_run_again_counts_its_own_attempts_rows(web: TestClient, store: Store) -> None:
    token = login(web)
    job = _uploaded(web, store, token, "c.csv", b"sku,name:en_US\nnope,Ghost\nnada,Ghost\ncomplete,Runner\n")
    assert job["counts"]["rejected"] == 2
    with store.begin() as conn:  # its worker died after the batches were committed
        conn.execute(update(JOB).where(JOB.c.id == job["id"]).values(status="running", pid=2**22 + 17))
    web.post(f"/jobs/{job['id']}/retry", data={"csrf_token": token})
    job_queue.work(store, once=True)
    assert store.job(job["id"])["counts"]["rejected"] == 2
    page = web.get(f"/jobs/{job['id']}").text
    assert "Quarantined rows (2)" in page  # as the counts say, not 4
    current = page[page.index('<table class="quarantine">'):page.index("</table>", page.index('class="quarantine">'))]
    assert current.count('<td class="record">') == 2 and "<td>yes</td>" not in current
    earlier = page[page.index('<details class="earlier-quarantine">'):]
    assert "Earlier attempts' rows (2): closed when the job was run again" in earlier
    assert earlier.count('<td class="record">') == 2 and earlier.count("<td>yes</td>") == 2


def test_a_job_never_run_again_lists_its_rows_as_before(web: TestClient, store: Store) -> None:
    """A guard: without earlier attempts the page counts every row of the job, nothing folded."""
    token = login(web)
    job = _uploaded(web, store, token, "c.csv", b"sku,name:en_US\nnope,Ghost\n")
    page = web.get(f"/jobs/{job['id']}").text
    assert "Quarantined rows (1)" in page and "earlier-quarantine" not in page


def test_no_worker_is_said_once_and_to_ask_an_administrator(web: TestClient, store: Store) -> None:
    token = login(web)
    job = _uploaded(web, store, token, "c.csv", b"sku,name:en_US\ncomplete,X\n", run=False)
    status = _status(web.get(f"/jobs/{job['id']}").text)
    assert re.sub(r"<[^>]+>", "", status).count("queued") == 1
    assert ('<strong class="no-worker">no worker is running: ask your administrator to start one (`pim worker`)'
            '</strong>') in status
    assert "queued — no worker is running: ask your administrator" in web.get("/imports").text
    assert "Jobs are queued — no worker is running: ask your administrator" in web.get("/jobs").text


def test_an_empty_upload_is_named_by_its_file_name_not_the_servers_path(web: TestClient, store: Store,
                                                                        pim_env: Path) -> None:
    token = login(web)
    job = _uploaded(web, store, token, "empty.csv", b"")
    assert str(pim_env) in job["error"]  # as stored; the page says it otherwise
    kept = Path(job["payload"]["path"]).name
    status = _status(web.get(f"/jobs/{job['id']}").text)
    assert f"— {kept}: the file is empty" in status and str(pim_env) not in status and "/uploads/" not in status


def test_a_picture_named_csv_is_called_a_picture(web: TestClient, store: Store) -> None:
    token = login(web)
    job = _uploaded(web, store, token, "picture.csv", PNG + b"garbage" * 20)
    assert job["status"] == "failed"
    assert "this is a PNG image, not a CSV file" in job["error"] and "encoding" not in job["error"]


@pytest.mark.parametrize(("head", "said"), [
    (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n", "this is a PDF document, not a CSV file"),
    (b"\xff\xd8\xff\xe0\x00\x10JFIF", "this is a JPEG image, not a CSV file"),
    (b"GIF89a\x01\x00\x01\x00", "this is a GIF image, not a CSV file"),
    (b"PK\x03\x04\x14\x00\x00\x00\x08\x00photos/a.jpg", "this is a ZIP archive, not a CSV file"),
])
def test_binary_files_are_named_by_their_signature(tmp_path: Path, head: bytes, said: str) -> None:
    path = tmp_path / "x.csv"
    path.write_bytes(head + bytes(range(256)))
    with pytest.raises(InputError, match=said):
        open_text(path, "utf-8")


def test_an_xlsx_is_left_to_the_workbook_checks(tmp_path: Path) -> None:
    """A guard: a workbook's ZIP is not called a ZIP archive here (importers.content_checks names it)."""
    path = tmp_path / "x.csv"
    path.write_bytes(b"PK\x03\x04\x14\x00\x00\x00\x08\x00[Content_Types].xml" + b"x" * 100)
    with open_text(path, "latin-1") as handle:
        assert handle.read(2) == "PK"


def _rejections(tmp_path: Path, text: str) -> list[tuple[int | None, str]]:
    path = tmp_path / "c.jsonl"
    path.write_text(text, encoding="utf-8")
    mapper = ContentMapper(ContentProfile(), Structure())
    return [(item.line, item.reason) for item in read_json(path, mapper, "content") if hasattr(item, "reason")]


def test_a_broken_json_line_is_placed_by_its_own_character(tmp_path: Path) -> None:
    good = '{"sku": "A1"}\n'
    lines = good * 5 + '{"sku":"P0000010","name":{"en_US":"oops"\n' + good + '{"sku": "A2" "x": 1}\n'
    assert _rejections(tmp_path, lines) == [
        (6, "not valid JSON (the line ends before the JSON object is complete, at character 41)"),
        (8, "not valid JSON (unexpected character, expected ',' or '}', at character 14)")]


def test_the_upload_link_chooses_the_jobs_profile(web: TestClient, store: Store, pim_env: Path) -> None:
    (pim_env / "profiles").mkdir(parents=True)
    (pim_env / "profiles" / "shop.profile.yaml").write_text("delimiter: ';'\n")
    token = login(web)
    web.post("/imports", data={"csrf_token": token, "importer": "content", "profile": "profiles/shop.profile.yaml"},
             files={"file": ("empty.csv", b"", "text/csv")})
    job_queue.work(store, once=True)
    [job] = store.jobs(kind="import", limit=1)
    page = web.get(f"/jobs/{job['id']}").text
    link = "/imports?importer=content&amp;profile=profiles%2Fshop.profile.yaml"
    assert f'<a href="{link}">upload it again</a>' in page
    chosen = web.get(link.replace("&amp;", "&")).text
    assert re.search(r'<option value="content"[^>]* selected>', chosen)
    assert re.search(r'<option value="profiles/shop.profile.yaml"[^>]* selected>', chosen)
