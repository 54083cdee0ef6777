"""The API's jobs never show where the server keeps files (found exploring as an integrator: an upload's profile
path and error texts named PIM_HOME's absolute path; only the upload's own path was trimmed)."""

from __future__ import annotations

from pathlib import Path

from pim.web.api_models import job_json


def test_an_uploads_profile_and_error_are_named_under_pim_home(pim_env: Path) -> None:
    home = str(pim_env.resolve())
    job = {"id": 1, "kind": "import", "source": "erp_csv:x.csv", "status": "failed", "started_at": None,
           "finished_at": None, "cancel_requested_at": None,
           "error": f"{home}/uploads/ab12-x.csv:3 [EAN]: cannot read {home}/profiles/erp.map.yaml",
           "payload": {"path": f"{home}/uploads/ab12-x.csv", "importer": "erp_csv",
                       "options": {"map": f"{home}/profiles/erp.map.yaml", "limit": 3}}}
    out = job_json(job)
    assert out["payload"]["path"] == "ab12-x.csv"
    assert out["payload"]["options"] == {"map": "profiles/erp.map.yaml", "limit": 3}
    assert out["error"] == "uploads/ab12-x.csv:3 [EAN]: cannot read profiles/erp.map.yaml"
    assert home not in str(out)


def test_a_job_without_payload_or_error_is_as_stored(pim_env: Path) -> None:
    """Guard: nothing to trim."""
    job = {"id": 2, "kind": "rescore", "source": "x", "status": "queued", "error": None, "payload": None,
           "started_at": None, "finished_at": None, "cancel_requested_at": None}
    assert job_json(job) == job
