"""`pim import …` found exploring (round 25): --json prints one document when an import fails, `import errors`
of a job that does not exist is an error, `import withdraw` takes product models (model:<code>), and `import
conflicts SKU` lists the conflicts of the models a variant inherits from, as the API does."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from pim.cli import _mount, app
from pim.conflicts import open_conflicts
from pim.errors import PimError
from pim.importing import Parsed, run_import
from pim.merge import MODEL_KEY, Merger, Precedence, candidates_for
from pim.product import partial_model
from pim.store import Store
from pim.withdraw import withdraw_claims
from tests.channel_data import seed_products
from tests.source_data import prov, record

_mount()
runner = CliRunner()
#: The content team and the ERP both own every attribute: their disagreement is an open conflict.
BOTH = Precedence(default=["content", "erp"])


def _pim(*args: str) -> subprocess.CompletedProcess[str]:
    """The installed entry point (pim.cli.main), which maps an error escaping a command to its exit code."""
    return subprocess.run([sys.executable, "-c", "from pim.cli import main; main()", *args], capture_output=True,
                          text=True, check=False)


def _enriched(store: Store, precedence: Precedence | None = None) -> Store:
    """seed_products' runner_model (the ERP's, variant runner-red) with the content team's English name."""
    seed_products(store)
    model = partial_model("runner_model", {"name:en_US": "Trail Runner"}, prov("content", "c.jsonl:1"), {})
    counts = run_import(store, "content", [Parsed(model, "c.jsonl", 1)], merge=Merger(precedence))
    assert (counts.updated, counts.rejected) == (1, 0)
    return store


# ------------------------------------------------------------------------------------ --json on a failure
def test_a_single_failing_file_prints_its_json_failure(store: Store, tmp_path: Path) -> None:
    """It printed nothing on stdout (the message on stderr only); two files gave a list of such items."""
    empty = tmp_path / "empty.jsonl"
    empty.write_text("", encoding="utf-8")
    for args in (["content", str(empty)], ["jsonl", str(tmp_path / "missing.jsonl")]):
        result = runner.invoke(app, ["import", *args, "--json"])
        assert result.exit_code == 2, result.output
        doc = json.loads(result.stdout)
        assert doc["file"] == args[1] and doc["exit_code"] == 2 and doc["error"], doc
        assert "error:" in result.stderr  # the message for people, as without --json
    plain = runner.invoke(app, ["import", "content", str(empty)])
    assert plain.exit_code != 0 and plain.stdout == ""  # without --json the error goes on to pim.cli.main


def test_a_single_failing_bmecat_file_prints_the_multi_file_item(store: Store, tmp_path: Path) -> None:
    empty = tmp_path / "empty.xml"
    empty.write_text("", encoding="utf-8")
    bmecat_map = tmp_path / "acme.yaml"
    bmecat_map.write_text("supplier: acme\n", encoding="utf-8")
    one = runner.invoke(app, ["import", "bmecat", str(empty), "--map", str(bmecat_map), "--json"])
    two = runner.invoke(app, ["import", "bmecat", str(empty), str(empty), "--map", str(bmecat_map), "--json"])
    assert one.exit_code == two.exit_code == 2, (one.output, two.output)
    assert json.loads(one.stdout) == json.loads(two.stdout)[0] == {
        "file": str(empty), "error": json.loads(two.stdout)[0]["error"], "exit_code": 2}


def test_a_failure_before_any_file_is_read_prints_json_too(pim_env: Path, tmp_path: Path) -> None:
    """A map that does not load fails in the command itself: pim.cli.main prints the document then."""
    (tmp_path / "a.xml").write_text("<x/>", encoding="utf-8")
    proc = _pim("import", "bmecat", str(tmp_path / "a.xml"), "--map", str(tmp_path / "nosuch.yaml"), "--json")
    assert proc.returncode == 2, proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["exit_code"] == 2 and "cannot read" in doc["error"] and "file" not in doc
    assert "error:" in proc.stderr and "Traceback" not in proc.stderr
    plain = _pim("import", "bmecat", str(tmp_path / "a.xml"), "--map", str(tmp_path / "nosuch.yaml"))
    assert plain.returncode == 2 and plain.stdout == "" and "cannot read" in plain.stderr


# ------------------------------------------------------------------------------- errors of an unknown job
def test_errors_of_a_job_that_does_not_exist_exit_2(store: Store) -> None:
    """`pim import errors 999999` said "Nothing open…" and exited 0, as for a clean job."""
    result = runner.invoke(app, ["import", "errors", "999999"])
    exc = result.exception  # pim.cli.main prints it and exits with its code
    assert isinstance(exc, PimError) and exc.exit_code == 2, result.output
    assert "no job 999999" in exc.describe() and "pim import jobs" in exc.describe()
    as_json = runner.invoke(app, ["import", "errors", "999999", "--json"])
    assert as_json.exit_code == 2 and json.loads(as_json.stdout)["exit_code"] == 2
    job = store.start_job("import", "a.jsonl")
    store.finish_job(job, {})
    clean = runner.invoke(app, ["import", "errors", str(job), "--json"])
    assert clean.exit_code == 0 and json.loads(clean.stdout) == []  # a job with nothing to fix: as before


# --------------------------------------------------------------------------------- withdrawing from models
def test_withdraw_takes_a_model_and_the_next_claim_takes_over(store: Store) -> None:
    """`withdraw content model:M1` quarantined "no product 'model:M1'", yet said it withdrew from 1 of 1."""
    _enriched(store)
    assert store.get_model("runner_model").values["name:en_US"] == "Trail Runner"  # type: ignore[union-attr]
    result = runner.invoke(app, ["import", "withdraw", "content", f"{MODEL_KEY}runner_model", "--json"])
    assert result.exit_code == 0, result.output
    counts = json.loads(result.stdout)
    assert (counts["updated"], counts["rejected"], counts["nothing_to_withdraw"]) == (1, 0, [])
    model = store.get_model("runner_model")
    assert model is not None and model.values["name:en_US"] == "Runner"
    assert model.provenance_of("name:en_US").source == "erp"  # type: ignore[union-attr]
    assert "content" not in candidates_for(store, MODEL_KEY + "runner_model").get("name:en_US", {})
    assert store.quarantined(counts["job_id"]) == []
    again = runner.invoke(app, ["import", "withdraw", "content", f"{MODEL_KEY}runner_model", f"{MODEL_KEY}nope"])
    assert again.exit_code == 1 and "hold nothing from content" in " ".join(again.output.split())


def test_withdraw_mixes_products_and_models(store: Store) -> None:
    _enriched(store)
    run_import(store, "content", [Parsed(record("content", "complete", {"name:en_US": "Complete"}), "c.jsonl", 2)],
               merge=Merger())
    assert store.get_product("complete").values["name:en_US"] == "Complete"  # type: ignore[union-attr]
    counts = withdraw_claims(store, "content", ["complete", MODEL_KEY + "runner_model"])
    assert (counts.read, counts.updated, counts.rejected) == (2, 2, 0)
    assert store.get_product("complete").values["name:en_US"] != "Complete"  # type: ignore[union-attr]
    assert store.get_model("runner_model").values["name:en_US"] == "Runner"  # type: ignore[union-attr]


# ------------------------------------------------------------------------------ conflicts of a variant
def test_conflicts_of_a_variant_list_its_models_ones(store: Store) -> None:
    """`pim import conflicts runner-red` gave [] while GET /conflicts?identifier=runner-red listed the model's."""
    _enriched(store, BOTH)
    [conflict] = open_conflicts(store)
    assert (conflict.identifier, conflict.value_key) == (MODEL_KEY + "runner_model", "name:en_US")
    for named in (["runner-red"], [MODEL_KEY + "runner_model"], ["complete", "runner-red"]):
        result = runner.invoke(app, ["import", "conflicts", *named, "--json"])
        assert result.exit_code == 0, result.output
        assert [(c["identifier"], c["value_key"]) for c in json.loads(result.stdout)] == [
            (MODEL_KEY + "runner_model", "name:en_US")], named
    assert json.loads(runner.invoke(app, ["import", "conflicts", "complete", "--json"]).stdout) == []
    table = runner.invoke(app, ["import", "conflicts", "runner-red"])
    assert table.exit_code == 0 and "1 open conflict(s)" in table.output
