"""The `pim` command: help, exit codes, --json, and clear errors instead of tracebacks."""

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pim.cli import _mount, app
from tests.conftest import TEST_STRUCTURE

_mount()
runner = CliRunner()


def test_help_lists_the_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0 and "publish" in result.output and "structure" in result.output


def test_mounting_again_adds_no_second_copy_of_the_commands() -> None:
    """Tests mount per test: every call added each command again, and each invocation walked every copy (a
    long pytest worker's CLI calls grew seconds slower each)."""
    before = (len(app.registered_commands), len(app.registered_groups))
    _mount()
    assert (len(app.registered_commands), len(app.registered_groups)) == before


def test_structure_load_json_output(pim_env: Path) -> None:
    result = runner.invoke(app, ["structure", "load", str(TEST_STRUCTURE), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["loaded"]["attributes"] == 14


def test_bad_structure_exits_2_with_location(pim_env: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("attributes:\n  - {code: sku, type: nope}\n")
    from pim.cli import main

    import subprocess, sys
    proc = subprocess.run([sys.executable, "-c", "from pim.cli import main; main()", "structure", "load", str(bad)],
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert "bad.yaml:2" in proc.stderr and "Traceback" not in proc.stderr
    assert main  # imported for the subprocess path above


def test_an_error_keeps_the_field_it_names_in_brackets(pim_env: Path, tmp_path: Path) -> None:
    """Rich read `[columnz]` as markup and dropped it: the message no longer said which key was wrong."""
    import subprocess, sys

    (tmp_path / "erp.csv").write_text("sku;ean\nA1;1\n")
    (tmp_path / "map.yaml").write_text("delimiter: ';'\ncolumnz: {ean: ean}\n")
    proc = subprocess.run([sys.executable, "-c", "from pim.cli import main; main()", "import", "erp",
                           str(tmp_path / "erp.csv"), "--map", str(tmp_path / "map.yaml")], capture_output=True, text=True)
    assert proc.returncode == 2 and "[columnz]" in proc.stderr, proc.stderr


def test_tables_show_brackets_in_their_data(pim_env: Path, tmp_path: Path) -> None:
    from pim.cli.output import console, table

    with console.capture() as seen:
        table("t", ["reason"], [["[sku] is empty"], ["[bold]not bold[/]"]])
    assert "[sku] is empty" in seen.get() and "[bold]not bold[/]" in seen.get()


def test_publish_without_structure_says_what_to_do(pim_env: Path) -> None:
    import subprocess, sys

    proc = subprocess.run([sys.executable, "-c", "from pim.cli import main; main()", "publish"], capture_output=True, text=True)
    assert proc.returncode == 3 and "pim structure load" in proc.stderr and "Traceback" not in proc.stderr


def test_export_then_import_jsonl_via_cli(pim_env: Path, tmp_path: Path) -> None:
    assert runner.invoke(app, ["structure", "load", str(TEST_STRUCTURE)]).exit_code == 0
    src = tmp_path / "in.jsonl"
    src.write_text('{"identifier":"a","family":"drills","values":{"sku":"a","name:en_US":"A"}}\n{"identifier":"zz9","family":"nope"}\n')
    result = runner.invoke(app, ["import", "jsonl", str(src), "--json"])
    counts = json.loads(result.output)
    assert (counts["created"], counts["rejected"]) == (1, 1)
    errors = json.loads(runner.invoke(app, ["import", "errors", "--json"]).output)
    assert [(e["line"], e["field"]) for e in errors] == [(2, "family")]
    [job] = json.loads(runner.invoke(app, ["import", "jobs", "--json"]).output)
    assert (job["id"], job["status"], job["counts"]["created"], job["counts"]["rejected"]) == (counts["job_id"], "partial", 1, 1)
    shown = runner.invoke(app, ["import", "errors"])
    assert shown.exit_code == 0 and "rejected" in shown.output and "family" in shown.output
    assert "zz9" in shown.output  # the record the row was for
    again = json.loads(runner.invoke(app, ["import", "jsonl", str(src), "--json"]).output)["job_id"]
    assert runner.invoke(app, ["import", "errors", str(counts["job_id"])]).output.startswith(
        f"Nothing open in the quarantine for job {counts['job_id']}.")  # the newer run's entry replaced it
    closed = json.loads(runner.invoke(app, ["import", "errors", str(counts["job_id"]), "--all", "--json"]).output)
    assert [(e["line"], e["superseded_by"]) for e in closed] == [(2, again)]
    assert "superseded" in runner.invoke(app, ["import", "errors", "--all"]).output
    listed = runner.invoke(app, ["import", "jobs"])
    assert listed.exit_code == 0 and "partial" in listed.output and "in.jsonl" in listed.output
    out = tmp_path / "out.jsonl"
    assert runner.invoke(app, ["export", "jsonl", str(out)]).exit_code == 0
    assert json.loads(out.read_text().splitlines()[0])["identifier"] == "a"


def test_publish_with_a_catalog_file(pim_env: Path, tmp_path: Path) -> None:
    """--catalog replaces the channel's built-in declaration: here a storefront whose title template differs."""
    from pim.settings import get_settings

    assert runner.invoke(app, ["structure", "load", str(TEST_STRUCTURE)]).exit_code == 0
    src = tmp_path / "in.jsonl"
    values = {"sku": "a", "name:en_US": "Drill", "name:de_DE": "Bohrer", "description:en_US@ecommerce": "D",
              "description:de_DE@ecommerce": "B", "price": {"EUR": "10.00", "USD": "11.00"},
              "weight": {"amount": "1", "unit": "KILOGRAM"}}
    src.write_text(json.dumps({"identifier": "a", "family": "drills", "values": values}) + "\n")
    assert runner.invoke(app, ["import", "jsonl", str(src)]).exit_code == 0
    catalog = tmp_path / "shop.yaml"
    catalog.write_text("code: shop\nrenderer: storefront\nfields:\n"
                       "  - {output: title, template: \"Buy {{ values.name or identifier }}\"}\n", encoding="utf-8")
    result = runner.invoke(app, ["publish", "--channel", "storefront", "--catalog", str(catalog), "--json"])
    assert result.exit_code == 0, result.output
    titles = [p["fields"].get("title") for f in sorted(get_settings().output_dir.rglob("catalog.*.en_US.json"))
              for p in json.loads(f.read_text())["products"]]
    assert titles == ["Buy Drill"], result.output
    broken = tmp_path / "broken.yaml"
    broken.write_text("code: shop\nfields: [{output: 3}]\n", encoding="utf-8")
    refused = runner.invoke(app, ["publish", "--channel", "storefront", "--catalog", str(broken)])
    from pim.errors import InputError

    assert isinstance(refused.exception, InputError) and refused.exception.file == str(broken)  # main() prints it


@pytest.mark.parametrize("cmd", [["import", "--help"], ["gate", "--help"], ["feeds", "--help"]])
def test_subcommand_help(cmd: list[str]) -> None:
    assert runner.invoke(app, cmd).exit_code == 0


def test_a_conflict_is_listed_and_resolved_from_the_command_line_into_the_history(store) -> None:  # noqa: ANN001
    """`pim import conflicts` lists it, `pim import resolve` pins the pick, which lands in the product's history
    under --by (as a pick on the product page does)."""
    from tests.channel_data import seed_products
    from tests.test_web_ui import _conflict_on_name
    from pim.web.editing import history

    seed_products(store)
    _conflict_on_name(store)
    listed = runner.invoke(app, ["import", "conflicts", "--json"])
    assert listed.exit_code == 0, listed.output
    assert [(c["identifier"], c["value_key"], c["winner"]) for c in json.loads(listed.output)] == [
        ("complete", "name:en_US", "erp")]
    result = runner.invoke(app, ["import", "resolve", "complete", "name:en_US", "content", "--by", "ana"])
    assert result.exit_code == 0, result.output
    assert "content wins (Trail Runner), pinned" in result.output
    assert store.get_product("complete").values["name:en_US"] == "Trail Runner"
    assert [(h["value_key"], h["old"], h["new"], h["actor"], h["source"]) for h in history(store, "complete")] == [
        ("name:en_US", "Runner", "Trail Runner", "ana", "content")]
    assert json.loads(runner.invoke(app, ["import", "conflicts", "--json"]).output) == []
