"""Round 36 (W1): the web pages say why a queued job waits, as `pim jobs list` does since round 35 (an import of the
same source runs, or was queued before it; a publication of the same channel and scope runs), and how many
queued jobs a worker takes before it (priority, then age)."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from pim import job_claims, job_enqueue
from pim.store import Store
from pim.store.store import JOB
from tests.test_web_ui import cheap_argon2, client, login  # noqa: F401  (fixtures: cheap_argon2 autouse; client: seeded)


@pytest.fixture
def web(client: TestClient) -> TestClient:  # noqa: F811  (the fixture test_web_ui defines)
    return client


def _import(store: Store, source: str, name: str) -> int:
    return job_enqueue.enqueue(store, "import", f"erp_csv:{name}",
                               {"importer": "erp_csv", "name": name, "merge_source": source})


def _row(page: str, job_id: int) -> str:
    return re.search(rf'<tr[^>]*><td><a href="/jobs/{job_id}">{job_id}</a>.*?</tr>', page, re.DOTALL).group(0)


def test_the_jobs_list_says_which_job_a_queued_import_waits_for_and_why(web: TestClient, store: Store) -> None:
    a, b, c = (_import(store, "erp", f"erp_{x}.csv") for x in "abc")
    other = _import(store, "supplier:acme", "acme.csv")
    assert job_claims.claim(store)["id"] == a  # a worker runs A
    login(web)
    page = web.get("/jobs").text
    row_b = " ".join(_row(page, b).split())
    assert f'waits for <a href="/jobs/{a}">job {a}</a> (import erp_csv:erp_a.csv), which is running: imports of ' \
           "source erp run one at a time" in row_b
    assert f'<a href="/jobs/{a}">job {a}</a>' in _row(page, c)  # the running one is what ends first
    assert "waits for" not in _row(page, other)  # another source's import waits for nobody
    assert "waits for" not in _row(page, a)


def test_the_job_page_says_why_it_waits_and_the_reason_follows_the_queue(web: TestClient, store: Store) -> None:
    a, b, c = (_import(store, "erp", f"erp_{x}.csv") for x in "abc")
    job_claims.claim(store)
    login(web)
    page = " ".join(web.get(f"/jobs/{b}").text.split())
    assert f'This job waits for <a href="/jobs/{a}">job {a}</a>' in page and "which is running" in page
    assert 'id="job-status"' in page and page.index("This job waits") > page.index('id="job-status"')  # polled
    with store.begin() as conn:  # A ends: C now waits for B, queued before it
        conn.execute(update(JOB).where(JOB.c.id == a).values(status="succeeded"))
    page = " ".join(web.get(f"/jobs/{c}").text.split())
    assert f'This job waits for <a href="/jobs/{b}">job {b}</a> (import erp_csv:erp_b.csv), queued before it' in page
    assert "This job waits" not in web.get(f"/jobs/{b}").text  # B waits for nobody now: it is next


def test_the_import_page_lists_the_reason_beside_the_status(web: TestClient, store: Store) -> None:
    a, b = (_import(store, "erp", f"erp_{x}.csv") for x in "ab")
    job_claims.claim(store)
    login(web)
    row = " ".join(re.search(rf'<tr data-job="{b}">.*?</tr>', web.get("/imports").text, re.DOTALL).group(0).split())
    assert f'waits for <a href="/jobs/{a}">job {a}</a>' in row and "run one at a time" in row


def test_the_job_page_counts_the_queued_jobs_a_worker_takes_first(web: TestClient, store: Store) -> None:
    first = _import(store, "erp", "erp_a.csv")
    urgent = job_enqueue.enqueue(store, "import", "content", {"importer": "content", "merge_source": "content"},
                                 priority=50)
    late = job_enqueue.enqueue(store, "import", "supplier", {"importer": "supplier", "merge_source": "supplier:x"},
                               priority=-5)
    login(web)
    assert "2 queued jobs go before it" in web.get(f"/jobs/{late}").text  # higher priority, and older
    assert "1 queued job goes before it" in web.get(f"/jobs/{first}").text  # the urgent one, though newer
    assert "before it (a higher priority" not in web.get(f"/jobs/{urgent}").text


def test_a_source_name_is_escaped_in_the_reason(web: TestClient, store: Store) -> None:
    a = _import(store, "<b>erp</b>", "a.csv")
    b = _import(store, "<b>erp</b>", "b.csv")
    job_claims.claim(store)
    login(web)
    page = web.get(f"/jobs/{b}").text
    assert "imports of source &lt;b&gt;erp&lt;/b&gt; run one at a time" in page and f'href="/jobs/{a}"' in page
