"""While a family's rescore job has not succeeded, the dashboard and the grid say that family's figures are
the earlier ones (pim.rescore_jobs.unsettled); once it succeeds the notice goes."""

from __future__ import annotations

from fastapi.testclient import TestClient

from pim import rescore_jobs
from pim.store import Store
from tests.channel_data import seed_products
from tests.test_web_ui import admin_client, cheap_argon2  # noqa: F401  (cheap_argon2: autouse fixture)


def _notice(web: TestClient, path: str) -> str:
    html = web.get(path).text
    if 'class="stale-scores"' not in html:
        return ""
    block = html[html.index('class="stale-scores"'):]
    return " ".join(block[:block.index("</div>")].split())


def test_pages_say_which_family_waits_for_its_rescore(store: Store) -> None:
    seed_products(store)
    web, _token = admin_client(store)
    assert _notice(web, "/dashboard") == "" and _notice(web, "/products") == ""
    with store.begin() as conn:
        job = rescore_jobs.record(conn, "shoes", ["ecommerce", "print"], 3)
    for path in ("/dashboard", "/products"):
        said = _notice(web, path)
        assert '<a href="/admin/families/shoes">shoes</a> on ecommerce, print is being recalculated' in said, path
        assert "the figures here are the earlier ones" in said
    store.finish_job(job, {"family": "shoes", "channels": ["ecommerce", "print"], "products": 3, "rescored": 3,
                           "changed": 0})
    assert _notice(web, "/dashboard") == "" and _notice(web, "/products") == ""
