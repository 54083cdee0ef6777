"""The import page takes every source the REST API takes, by the same rules (pim.upload_imports): the source is
chosen (content by default, JSON Lines for admins only), a map or profile is chosen from the .yaml files under
PIM_HOME (never uploads, dot folders or files leading out), the file's ending follows the source, and refusals
show on the page with what was chosen. The job list names each import's source and links its rejected rows."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient

from pim import job_queue
from pim.generate.sources import ERP_MAP, PRECEDENCE
from pim.store import Store
from pim.web.accounts import add_user
from pim.web.app import create_app
from tests.channel_data import seed_products
from tests.test_web_ui import cheap_argon2, login  # noqa: F401  (cheap_argon2: autouse fixture)

# The generator's ERP export (pim.generate.sources): semicolons, cp1252, decimal commas, German headers.
ERP_HEADER = "Artikelnummer;EAN;Kurztext;Gewicht;Gewichtseinheit;Listenpreis EUR;Listenpreis USD"
SUPPLIER_MAP = "source: supplier:acme\npid_column: Art-Nr\nfamily: shoes\ncolumns:\n  Name: name:en_US\n  MPN: mpn\n"


@pytest.fixture
def web(store: Store) -> TestClient:
    seed_products(store)
    add_user(store, "ed", "correct horse", "editor")
    add_user(store, "ad", "correct horse", "admin")
    return TestClient(create_app(store))


def _upload(web: TestClient, token: str, name: str, body: bytes, importer: str | None = None,
            profile: str | None = None):
    data = {"csrf_token": token, **({"importer": importer} if importer else {}),
            **({"profile": profile} if profile is not None else {})}
    return web.post("/imports", data=data, files={"file": (name, body, "application/octet-stream")})


def _offered(html: str, select: str) -> list[str]:
    block = re.search(rf'<select name="{select}".*?</select>', html, re.DOTALL).group(0)  # type: ignore[union-attr]
    return [v for v in re.findall(r'<option value="([^"]*)"', block) if v]


def _selected(html: str, select: str) -> str | None:
    block = re.search(rf'<select name="{select}".*?</select>', html, re.DOTALL).group(0)  # type: ignore[union-attr]
    found = re.search(r'<option value="([^"]*)"[^>]*\sselected', block)
    return found.group(1) if found else None


def _accept(html: str) -> str:
    return re.search(r'<input type="file"[^>]*accept="([^"]*)"', html).group(1)  # type: ignore[union-attr]


def _kept(home: Path) -> list[Path]:
    return sorted((home / "uploads").iterdir()) if (home / "uploads").exists() else []


def _write_yaml(path: Path, data: dict | str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def test_an_erp_csv_with_a_map_under_pim_home_imports_and_the_job_links_its_rejected_rows(
        web: TestClient, store: Store, pim_env: Path) -> None:
    _write_yaml(pim_env / "maps" / "erp_products.map.yaml", ERP_MAP)  # the generator's map, as shipped
    # it names its precedence beside it; this catalog has no `erp` or `technical` attribute group, so their rules go
    precedence = {**PRECEDENCE, "groups": {"marketing": PRECEDENCE["groups"]["marketing"]}}
    _write_yaml(pim_env / "maps" / "precedence.yaml", precedence)
    token = login(web)
    page = web.get("/imports").text
    assert "erp_csv" in _offered(page, "importer") and "maps/erp_products.map.yaml" in _offered(page, "profile")

    body = "\r\n".join([ERP_HEADER, "complete;4006381333931;;0,9;KGM;59,90;64,00",
                        "long-title;4006381333931;;1,25;KGM;19,90;",
                        "runner-red;96385074;;;;abc;", ""]).encode("cp1252")
    done = _upload(web, token, "erp_products.csv", body, importer="erp_csv", profile="maps/erp_products.map.yaml")
    assert done.status_code == 200 and "Import queued as job" in done.text
    [job] = job_queue.work(store, once=True).jobs
    assert job["status"] == "partial", job["error"]
    assert (job["counts"]["read"], job["counts"]["updated"], job["counts"]["rejected"]) == (3, 2, 1)
    complete = store.get_product("complete")
    assert complete is not None and complete.values["price"] == {"EUR": "59.90", "USD": "64.00"}
    assert complete.values["weight"] == {"amount": "0.9", "unit": "KILOGRAM"}
    assert complete.provenance_of("price").source == "erp"  # type: ignore[union-attr]
    [rejected] = store.quarantined(job["id"])
    [kept] = _kept(pim_env)
    assert (rejected["file"], rejected["line"]) == (kept.name, 4)

    row = re.search(rf'<tr data-job="{job["id"]}">.*?</tr>', web.get("/imports").text, re.DOTALL).group(0)  # type: ignore[union-attr]
    assert "ERP CSV" in row and kept.name in row and "maps/erp_products.map.yaml" in row
    assert str(pim_env) not in row  # names, not where the server keeps files
    assert f'<a class="rejected" href="/jobs/{job["id"]}#rejected">1 rejected</a>' in row
    page = web.get(f"/jobs/{job['id']}").text
    assert "abc" in page[page.index('id="rejected"'):]  # the anchor the link jumps to, above the rejected row


def test_a_supplier_upload_needs_its_map_and_imports_once_one_is_chosen(web: TestClient, store: Store,
                                                                       pim_env: Path) -> None:
    _write_yaml(pim_env / "maps" / "acme.map.yaml", SUPPLIER_MAP)
    token = login(web)
    body = b"Art-Nr;Name;MPN\nS-1;Supplied Shoe;M-1\n"
    refused = _upload(web, token, "acme.csv", body, importer="supplier")
    assert refused.status_code == 422 and "&#39;supplier&#39; needs its map" in refused.text
    assert _selected(refused.text, "importer") == "supplier" and ".xlsx" in _accept(refused.text)  # kept
    assert store.jobs(kind="import") == [] and _kept(pim_env) == []

    assert _upload(web, token, "acme.csv", body, importer="supplier", profile="maps/acme.map.yaml").status_code == 200
    [job] = job_queue.work(store, once=True).jobs
    assert job["status"] == "succeeded", job["error"]
    product = store.get_product("S-1")
    assert product is not None and product.values["mpn"] == "M-1"
    assert product.provenance_of("mpn").source == "supplier:acme"  # type: ignore[union-attr]


UNREACHABLE = ["link.yaml", "uploads/mine.yaml", ".hidden/acme.map.yaml", "maps/.draft.yaml", "../secret.yaml",
               "{outside}", "maps/../../secret.yaml"]


@pytest.fixture
def outside(pim_env: Path, tmp_path: Path) -> Path:
    """Profiles a request must not reach (UNREACHABLE; returned: the one outside PIM_HOME), beside one it may."""
    _write_yaml(pim_env / "maps" / "acme.map.yaml", SUPPLIER_MAP)
    secret = _write_yaml(tmp_path / "secret.yaml", "source: supplier:evil\npid_column: x\n")
    (pim_env / "link.yaml").symlink_to(secret)  # inside by name, outside in fact
    _write_yaml(pim_env / "uploads" / "mine.yaml", SUPPLIER_MAP)  # someone's upload
    _write_yaml(pim_env / ".hidden" / "acme.map.yaml", SUPPLIER_MAP)
    _write_yaml(pim_env / "maps" / ".draft.yaml", SUPPLIER_MAP)
    return secret


def test_only_profiles_under_pim_home_outside_uploads_and_dot_folders_are_offered(web: TestClient,
                                                                                 outside: Path) -> None:
    login(web)
    assert _offered(web.get("/imports").text, "profile") == ["maps/acme.map.yaml"]


@pytest.mark.parametrize("name", UNREACHABLE)
def test_a_profile_not_offered_is_refused_when_posted_anyway(web: TestClient, store: Store, pim_env: Path,
                                                            outside: Path, name: str) -> None:
    token = login(web)
    resp = _upload(web, token, "acme.csv", b"Art-Nr;Name\nS-1;X\n", importer="supplier",
                   profile=name.format(outside=outside))
    assert resp.status_code == 422 and "not a profile name" in resp.text
    assert store.jobs(kind="import") == [] and [p.name for p in _kept(pim_env)] == ["mine.yaml"]  # nothing new


def test_the_page_says_how_to_add_a_map_when_pim_home_has_none(web: TestClient, pim_env: Path) -> None:
    login(web)
    page = web.get("/imports").text
    assert _offered(page, "profile") == [] and "put your map under <code>PIM_HOME/maps/</code>" in page
    _write_yaml(pim_env / "maps" / "acme.map.yaml", SUPPLIER_MAP)
    assert "put your map under" not in web.get("/imports").text


def test_an_editor_is_not_offered_json_lines_and_is_refused_posting_it(web: TestClient, store: Store,
                                                                       pim_env: Path) -> None:
    line = b'{"kind": "product", "identifier": "j-1", "family": "shoes", "values": {"sku": "j-1"}}\n'
    token = login(web)
    assert "jsonl" not in _offered(web.get("/imports").text, "importer")
    refused = _upload(web, token, "p.jsonl", line, importer="jsonl")
    assert refused.status_code == 403 and "may not import with &#39;jsonl&#39;" in refused.text
    assert store.jobs(kind="import") == [] and _kept(pim_env) == []
    web.cookies.clear()
    token = login(web, "ad")
    assert "jsonl" in _offered(web.get("/imports").text, "importer")
    assert _upload(web, token, "p.jsonl", line, importer="jsonl").status_code == 200
    [job] = job_queue.work(store, once=True).jobs
    assert job["status"] == "succeeded" and store.get_product("j-1") is not None


def test_a_file_ending_the_chosen_source_does_not_read_is_refused_keeping_the_choice(web: TestClient,
                                                                                    store: Store) -> None:
    token = login(web)
    assert _accept(web.get("/imports?importer=erp_xml").text) == ".xml"  # the chosen source's endings
    refused = _upload(web, token, "matmas.csv", b"MATNR\n1\n", importer="erp_xml")
    assert refused.status_code == 422 and "is not an ERP XML file: use .xml" in refused.text
    assert _selected(refused.text, "importer") == "erp_xml" and _accept(refused.text) == ".xml"
    unknown = _upload(web, token, "x.csv", b"sku\nx\n", importer="akeneo")
    assert unknown.status_code == 422 and "reads a folder of exports" in unknown.text
    assert store.jobs(kind="import") == []


def test_an_upload_over_the_cap_names_the_command_for_its_source(web: TestClient, store: Store, pim_env: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    _write_yaml(pim_env / "maps" / "erp.map.yaml", ERP_MAP)
    monkeypatch.setattr("pim.web.imports.MAX_UPLOAD", 16)
    token = login(web)
    resp = _upload(web, token, "erp.csv", (ERP_HEADER + "\r\n").encode(), importer="erp_csv",
                   profile="maps/erp.map.yaml")
    assert resp.status_code == 413 and "`pim import erp FILE`" in resp.text
    assert _selected(resp.text, "profile") == "maps/erp.map.yaml"
    assert store.jobs(kind="import") == [] and _kept(pim_env) == []


def test_a_plain_upload_is_content_read_with_the_workspace_profile(web: TestClient, store: Store,
                                                                   pim_env: Path) -> None:
    profile = _write_yaml(pim_env / "content.profile.yaml", "delimiter: ';'\n")
    token = login(web)
    assert "<code>content.profile.yaml</code>" in web.get("/imports").text
    assert _upload(web, token, "names.csv", b"sku;name:en_US\ncomplete;Semicolon Runner\n").status_code == 200
    [job] = job_queue.work(store, once=True).jobs
    assert job["payload"]["importer"] == "content"
    assert job["payload"]["options"] == {"profile": str(profile.resolve())}
    assert store.get_product("complete").values["name:en_US"] == "Semicolon Runner"  # type: ignore[union-attr]


@pytest.mark.chromium
def test_choosing_a_source_in_the_browser_narrows_the_file_picker_to_its_endings(store: Store, live_app,
                                                                                browser_page) -> None:
    from tests.test_web_browser import sign_in

    seed_products(store)
    add_user(store, "editor", "correct horse", "editor")
    base = live_app(create_app(store))
    sign_in(browser_page, base, "editor", "correct horse")
    browser_page.goto(f"{base}/imports")
    picker = browser_page.locator('input[name="file"]')
    assert picker.get_attribute("accept") == ".csv,.tsv,.txt,.json,.jsonl,.xlsx,.xlsm"
    browser_page.select_option('select[name="importer"]', "erp_xml")
    assert picker.get_attribute("accept") == ".xml"
