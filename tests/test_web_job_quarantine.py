"""A job's page counts every quarantined row, not only those it lists: it says how many there are in all, groups
them by severity, file and field with an example when there is more than one kind (or more rows than it lists),
and says where the rest are."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from importers.erp_csv import ErpCsvMap, import_erp_csv
from pim.store import Store
from pim.web.accounts import add_user
from pim.web.app import create_app
from tests.test_erp_gtin import BAD, GOOD, MAP, csv_file, seeded  # noqa: F401  (seeded: fixture)
from tests.test_web_ui import cheap_argon2, login  # noqa: F401  (cheap_argon2: autouse fixture)


def _job(store: Store, path: Path, *rows: str) -> int:
    return import_erp_csv(csv_file(path, *rows), store, ErpCsvMap(**MAP)).job_id  # type: ignore[return-value]


@pytest.fixture
def web(seeded: Store) -> TestClient:  # noqa: F811
    add_user(seeded, "vi", "correct horse", "viewer")
    client = TestClient(create_app(seeded))
    login(client, "vi")
    return client


def test_the_page_counts_every_row_and_groups_them(web: TestClient, seeded: Store, tmp_path: Path,  # noqa: F811
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("pim.web.job_pages.JOB_ROWS", 3)  # read there since round 37
    job = _job(seeded, tmp_path / "erp.csv", *(f"A{i};{BAD};1;A" for i in range(4)), "B1;;x;A", f"C1;{GOOD};2;A")
    page = web.get(f"/jobs/{job}").text
    assert "Quarantined rows (5)" in page  # 4 problems and a rejection, though 3 are listed
    assert page.count('<td class="record">') == 3
    assert "The first 3 of 5 rows are listed below" in page and f"pim import errors {job} --all --limit 0" in page
    groups = page[page.index('class="quarantine-groups"'):page.index('class="quarantine">')]
    assert "<td>4</td><td>problem</td><td>erp.csv</td><td>EAN</td>" in groups
    assert "<td>1</td><td>rejected</td><td>erp.csv</td><td>Preis EUR</td>" in groups
    assert "check digit" in groups


def test_a_short_list_of_one_kind_is_just_listed(web: TestClient, seeded: Store, tmp_path: Path) -> None:  # noqa: F811
    job = _job(seeded, tmp_path / "erp.csv", f"A1;{BAD};1;A", f"A2;{BAD};1;A")
    page = web.get(f"/jobs/{job}").text
    assert "Quarantined rows (2)" in page and page.count('<td class="record">') == 2
    assert "quarantine-groups" not in page and "rows are listed below" not in page
    clean = _job(seeded, tmp_path / "clean.csv", f"C1;{GOOD};2;A")
    assert "Quarantined rows (0)" in web.get(f"/jobs/{clean}").text
