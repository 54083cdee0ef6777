"""The REST API reads a job's quarantine as the command line does: `?severity=` narrows the rows, and
`/errors/summary` counts them by source, severity, file and field before anyone pages through thousands."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from importers.erp_csv import ErpCsvMap, import_erp_csv
from pim.store import Store
from pim.web.accounts import add_user, create_token
from pim.web.app import create_app
from tests.test_api import cheap_argon2  # noqa: F401  (autouse fixture)
from tests.test_erp_gtin import BAD, GOOD, MAP, csv_file, seeded  # noqa: F401  (seeded: fixture)


@pytest.fixture
def client(seeded: Store) -> tuple[TestClient, dict[str, str]]:  # noqa: F811
    user = add_user(seeded, "vi", "correct horse", "viewer")
    return TestClient(create_app(seeded)), {"Authorization": f"Bearer {create_token(seeded, user)}"}


def test_rows_by_severity_and_the_summary(client: tuple[TestClient, dict[str, str]], seeded: Store,  # noqa: F811
                                          tmp_path: Path) -> None:
    web, auth = client
    job = import_erp_csv(csv_file(tmp_path / "erp.csv", f"A1;{BAD};1;A", f"A2;{BAD};2;A", "A3;;x;A",
                                  f"A4;{GOOD};4;A"), seeded, ErpCsvMap(**MAP)).job_id
    rows = web.get(f"/api/v1/jobs/{job}/errors?severity=problem", headers=auth).json()["items"]
    assert sorted(r["record_key"] for r in rows) == ["A1", "A2"] and {r["severity"] for r in rows} == {"problem"}
    assert [r["record_key"] for r in web.get(f"/api/v1/jobs/{job}/errors?severity=rejected",
                                             headers=auth).json()["items"]] == ["A3"]
    assert web.get(f"/api/v1/jobs/{job}/errors?severity=nope", headers=auth).status_code == 422
    summary = web.get(f"/api/v1/jobs/{job}/errors/summary", headers=auth).json()
    assert [(g["entries"], g["severity"], g["file"], g["field"]) for g in summary] == [
        (2, "problem", "erp.csv", "EAN"), (1, "rejected", "erp.csv", "Preis EUR")]
    assert all(g["source"] == "erp" and g["example"] for g in summary)
    assert [g["entries"] for g in web.get(f"/api/v1/jobs/{job}/errors/summary?severity=rejected",
                                          headers=auth).json()] == [1]
    assert web.get("/api/v1/jobs/999999/errors/summary", headers=auth).status_code == 404
    assert web.get(f"/api/v1/jobs/{job}/errors/summary").status_code == 401
